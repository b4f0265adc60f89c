/**
 * Per-OS option calls against a recording fake of the FFI layer: the exact calls, levels, option
 * numbers, units and bytes (little-endian) for Linux, macOS, FreeBSD and Windows, and errors.
 */
import assert from "node:assert/strict";
import { test } from "./harness.ts";
import type { SocketCalls } from "../ffi/types.ts";
import { linux } from "../src/os/linux.ts";
import { freebsd, macos } from "../src/os/bsd.ts";
import { tcpKeepaliveStruct, windows } from "../src/os/windows.ts";
import { applyKeepAlive } from "../src/sockopt.ts";
import { SocketOptionError } from "../src/errors.ts";
import { NOTHING_READ, type Platform } from "../src/os/platform.ts";

const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
const int = (v: number) => hex(new Uint8Array(new Int32Array([v]).buffer));

/** Records every call; `fail` maps "level:name" to an errno for setsockopt. */
function recorder(fail: Record<string, number> = {}, read: Record<string, Uint8Array> = {}) {
  const log: string[] = [];
  const calls: SocketCalls = {
    setsockopt(fd, level, name, value) {
      log.push(`setsockopt(${fd}, 0x${level.toString(16)}, 0x${name.toString(16)}, ${hex(value)})`);
      return fail[`${level}:${name}`] ?? 0;
    },
    getsockopt(fd, level, name, value) {
      log.push(`getsockopt(${fd}, 0x${level.toString(16)}, 0x${name.toString(16)})`);
      const answer = read[`${level}:${name}`];
      if (!answer) return -(fail[`get ${level}:${name}`] ?? 92);
      value.set(answer);
      return answer.byteLength;
    },
    ioctl(fd, code, input) {
      log.push(`ioctl(${fd}, 0x${code.toString(16)}, ${hex(input)})`);
      return fail[`ioctl:${code}`] ?? 0;
    },
    getsockname: () => -9,
    getpeername: () => -9,
    poll: () => 0,
    listDescriptors: () => [],
    lowestFreeDescriptor: () => undefined,
  };
  return { calls, log };
}

const intBytes = (v: number) => new Uint8Array(new Int32Array([v]).buffer);

function apply(
  platform: Platform,
  calls: SocketCalls,
  options: object,
  bestEffort: string[] = [],
  fd = 7,
) {
  return applyKeepAlive(
    platform,
    calls,
    () => ({ fd, read: NOTHING_READ }),
    options,
    new Set(bestEffort) as never,
  );
}

test("os/linux: exact setsockopt calls, seconds rounded up, ms for the user timeout", () => {
  const read = {
    "1:9": intBytes(1),
    "6:4": intBytes(2),
    "6:5": intBytes(1),
    "6:6": intBytes(3),
    "6:18": intBytes(5000),
  };
  const { calls, log } = recorder({}, read);
  const info = apply(linux, calls, { idle: 1500, interval: 1000, count: 3, userTimeout: 5000 });
  assert.deepEqual(log.slice(0, 5), [
    `setsockopt(7, 0x6, 0x4, ${int(2)})`, // TCP_KEEPIDLE, 1500 ms -> 2 s
    `setsockopt(7, 0x6, 0x5, ${int(1)})`, // TCP_KEEPINTVL
    `setsockopt(7, 0x6, 0x6, ${int(3)})`, // TCP_KEEPCNT
    `setsockopt(7, 0x6, 0x12, ${int(5000)})`, // TCP_USER_TIMEOUT, ms
    `setsockopt(7, 0x1, 0x9, ${int(1)})`, // SO_KEEPALIVE last
  ]);
  // Linux stores each value exactly as set: nothing just set is read back (tests/loopback
  // proves the kernel side), so these five calls are all.
  assert.equal(log.length, 5, log.join("\n"));
  assert.deepEqual(info, {
    enabled: true,
    idle: 2000,
    interval: 1000,
    count: 3,
    userTimeout: 5000,
  });
  // What was not set is read from the kernel.
  const partial = recorder({}, read);
  assert.deepEqual(apply(linux, partial.calls, { idle: 4000 }), {
    enabled: true,
    idle: 4000,
    interval: 1000,
    count: 3,
    userTimeout: 5000,
  });
  assert.deepEqual(partial.log.slice(2), [
    "getsockopt(7, 0x6, 0x5)", // TCP_KEEPINTVL
    "getsockopt(7, 0x6, 0x6)", // TCP_KEEPCNT
    "getsockopt(7, 0x6, 0x12)", // TCP_USER_TIMEOUT
  ]);
});

test("os/macos: TCP_KEEPALIVE (0x10), KEEPINTVL 0x101, KEEPCNT 0x102, RXT_CONNDROPTIME 0x80 in seconds", () => {
  const read = {
    "65535:8": intBytes(1),
    "6:16": intBytes(3),
    "6:257": intBytes(2),
    "6:258": intBytes(4),
    "6:128": intBytes(6),
  };
  const { calls, log } = recorder({}, read);
  const info = apply(macos, calls, { idle: 3000, interval: 1001, count: 4, userTimeout: 5500 });
  assert.deepEqual(log.slice(0, 5), [
    `setsockopt(7, 0x6, 0x10, ${int(3)})`,
    `setsockopt(7, 0x6, 0x101, ${int(2)})`,
    `setsockopt(7, 0x6, 0x102, ${int(4)})`,
    `setsockopt(7, 0x6, 0x80, ${int(6)})`,
    `setsockopt(7, 0xffff, 0x8, ${int(1)})`,
  ]);
  assert.deepEqual(info, {
    enabled: true,
    idle: 3000,
    interval: 2000,
    count: 4,
    userTimeout: 6000,
  });
  assert.equal(macos.families.lengthByte, true);
  assert.equal(macos.families.inet6, 30);
});

test("os/freebsd: TCP_KEEPIDLE 256, KEEPINTVL 512, KEEPCNT 1024; no user timeout", () => {
  const { calls, log } = recorder({}, {
    "65535:8": intBytes(1),
    "6:256": intBytes(5),
    "6:512": intBytes(1),
    "6:1024": intBytes(2),
  });
  apply(freebsd, calls, { idle: 5000, interval: 1000, count: 2 });
  assert.deepEqual(log.slice(0, 4), [
    `setsockopt(7, 0x6, 0x100, ${int(5)})`,
    `setsockopt(7, 0x6, 0x200, ${int(1)})`,
    `setsockopt(7, 0x6, 0x400, ${int(2)})`,
    `setsockopt(7, 0xffff, 0x8, ${int(1)})`,
  ]);
  assert.throws(() => apply(freebsd, calls, { userTimeout: 1000 }), RangeError);
});

test("os/windows: SO_KEEPALIVE, then WSAIoctl(SIO_KEEPALIVE_VALS) with both times in ms", () => {
  assert.equal(hex(tcpKeepaliveStruct(true, 1500, 250)), "01000000dc050000fa000000");
  const { calls, log } = recorder({}, { "65535:8": new Uint8Array([1]), "6:16": intBytes(4) });
  const info = apply(windows, calls, { idle: 1500, interval: 250, count: 4 });
  assert.deepEqual(log.slice(0, 3), [
    `setsockopt(7, 0xffff, 0x8, ${int(1)})`,
    "ioctl(7, 0x98000004, 01000000dc050000fa000000)",
    `setsockopt(7, 0x6, 0x10, ${int(4)})`, // TCP_KEEPCNT
  ]);
  // A one-byte SO_KEEPALIVE answer (Wine) is accepted; times are as set, not read back.
  assert.equal(info.enabled, true);
  assert.equal(info.idle, 1500);
  assert.equal(info.interval, 250);
  assert.equal(info.count, 4);
  assert.deepEqual(info.unverified, ["idle", "interval", "userTimeout"]);
});

test("os/windows: a time left out is filled (Windows' default), never sent as 0", () => {
  const { calls, log } = recorder({}, { "65535:8": intBytes(1) });
  // A socket nothing was set on before (sockalive remembers what it set, per socket).
  apply(windows, calls, { interval: 2000 }, [], 11);
  assert.equal(log[1], `ioctl(11, 0x98000004, ${hex(tcpKeepaliveStruct(true, 7_200_000, 2000))})`);
});

test("os/windows: userTimeout goes to TCP_MAXRT in whole seconds", () => {
  const { calls, log } = recorder({}, { "65535:8": intBytes(1), "6:5": intBytes(3) });
  const info = apply(windows, calls, { userTimeout: 2500 });
  assert.ok(log.includes(`setsockopt(7, 0x6, 0x5, ${int(3)})`));
  assert.equal(info.userTimeout, 3000);
});

test("os/windows: TCP_KEEPCNT refused (10042): fixed 10 is fine, another count is a clear error", () => {
  const refused = { "6:16": 10042 };
  const read = { "65535:8": intBytes(1) };
  const ok = apply(windows, recorder(refused, read).calls, {
    idle: 1000,
    interval: 1000,
    count: 10,
  });
  assert.equal(ok.count, 10);
  assert.ok(ok.unverified!.includes("count"));
  assert.throws(
    () => apply(windows, recorder(refused, read).calls, { idle: 1000, interval: 1000, count: 5 }),
    (e: unknown) =>
      e instanceof SocketOptionError && e.code === "WSAENOPROTOOPT" && e.errno === 10042 &&
      e.option === "count" && /fixed at 10/.test(e.message),
  );
  // A default the caller did not ask for is best effort.
  const soft = apply(windows, recorder(refused, read).calls, { count: 5 }, ["count"]);
  assert.equal(soft.count, 10);
});

test("os/windows: a failing WSAIoctl names the call and the WSA error", () => {
  const { calls } = recorder({ [`ioctl:${0x98000004}`]: 10022 }, { "65535:8": intBytes(1) });
  assert.throws(
    () => apply(windows, calls, { idle: 1000 }),
    (e: unknown) =>
      e instanceof SocketOptionError && e.code === "WSAEINVAL" && e.syscall === "WSAIoctl" &&
      /WSAIoctl\(SIO_KEEPALIVE_VALS\)/.test(e.message),
  );
});

test("os: errno names per OS in SocketOptionError", () => {
  const cases: Array<[Platform, number, string]> = [
    [linux, 92, "ENOPROTOOPT"],
    [macos, 42, "ENOPROTOOPT"],
    [windows, 10038, "WSAENOTSOCK"],
  ];
  for (const [platform, errno, code] of cases) {
    const { calls } = recorder({
      [
        `${platform === windows ? 65535 : platform === linux ? 1 : 65535}:${
          platform === linux ? 9 : 8
        }`
      ]: errno,
    });
    assert.throws(
      () => apply(platform, calls, { enabled: false }),
      (e: unknown) =>
        e instanceof SocketOptionError && e.code === code && e.errno === errno &&
        e.syscall === "setsockopt",
    );
  }
});
