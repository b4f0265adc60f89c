/**
 * The kernel's record of a connection (`Platform.health`), per OS.
 *
 * Exact bytes: each OS's struct is built by hand at the offsets of its header (ffi/*.ts quotes
 * the declarations), with a distinct value in every field read and a noise byte everywhere else,
 * and read through a fake of the FFI layer that records the exact call; every field of the result
 * is compared. The short-read rule is checked at every length from 0 to the struct's size: a
 * field is present exactly when the kernel filled all the bytes it is decoded from.
 *
 * Real sockets: on Linux, in this runtime, over loopback against the python peer (with `ss` as an
 * outside witness), and across two network namespaces with the cable pulled.
 */
import assert from "node:assert/strict";
import process from "node:process";
import {
  command,
  fixture,
  isBun,
  nativeConnect,
  netnsTestOptions,
  preloadFfi,
  Proc,
  runtimeCommand,
  sleep,
  ssLine,
  startPeer,
  test,
  withPeer,
} from "./harness.ts";
import type { SocketCalls, StructField, StructLayout } from "../ffi/types.ts";
import { type BoundWinsock, winsockCalls } from "../ffi/calls.ts";
import { TCP_INFO_LAYOUT as LINUX_TCP_INFO } from "../ffi/linux.ts";
import { TCP_CONNECTION_INFO_LAYOUT } from "../ffi/macos.ts";
import { TCP_INFO_LAYOUT as FREEBSD_TCP_INFO } from "../ffi/freebsd.ts";
import { TCP_INFO_V0_LAYOUT } from "../ffi/windows.ts";
import { linux } from "../src/os/linux.ts";
import { freebsd, macos } from "../src/os/bsd.ts";
import { windows } from "../src/os/windows.ts";
import type { Platform } from "../src/os/platform.ts";
import type { TcpHealth } from "../src/health.ts";
import { SocketOptionError } from "../src/errors.ts";
import { SERVER_IP, TestNet } from "../tools/netns.ts";
import { getHealth, type NativeConnection } from "../mod.ts";

preloadFfi();

const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
/** Every byte no field read is given: reading it by mistake shows in the values. */
const NOISE = 0xa5;

/** A struct of `layout.size` bytes, NOISE everywhere but the given fields (little-endian). */
function struct<K extends string>(
  layout: StructLayout<K>,
  values: { [F in K]: number | bigint },
): Uint8Array {
  const bytes = new Uint8Array(layout.size).fill(NOISE);
  const view = new DataView(bytes.buffer);
  for (const name of Object.keys(values) as K[]) {
    const { offset, width } = layout.fields[name];
    const value = values[name];
    if (width === 1) view.setUint8(offset, Number(value));
    else if (width === 2) view.setUint16(offset, Number(value), true);
    else if (width === 4) view.setUint32(offset, Number(value), true);
    else view.setBigUint64(offset, BigInt(value), true);
  }
  return bytes;
}

/** Copy of `bytes` with one field changed. */
function withField(bytes: Uint8Array, field: StructField, value: number): Uint8Array {
  const copy = bytes.slice();
  const view = new DataView(copy.buffer);
  if (field.width === 1) view.setUint8(field.offset, value);
  else view.setUint32(field.offset, value, true);
  return copy;
}

/**
 * A fake of the FFI layer that records each call with the size of the buffer it was given, and
 * answers getsockopt / ioctl with `answer`, cut to `filled` bytes (the rest of the caller's
 * buffer is left as it was); a negative `filled` is the failure returned.
 */
function kernel(answer: Uint8Array, filled = answer.byteLength) {
  const log: string[] = [];
  const give = (out: Uint8Array) => {
    if (filled < 0) return filled;
    out.set(answer.subarray(0, Math.min(filled, out.byteLength)));
    return Math.min(filled, out.byteLength);
  };
  const calls: SocketCalls = {
    setsockopt() {
      throw new Error("health must not set anything");
    },
    getsockopt(fd, level, name, value) {
      log.push(`getsockopt(${fd}, ${level}, 0x${name.toString(16)}, ${value.byteLength} bytes)`);
      return give(value);
    },
    ioctl(fd, code, input, output) {
      log.push(
        `ioctl(${fd}, 0x${code.toString(16)}, ${hex(input)}, ${output?.byteLength} bytes out)`,
      );
      return output ? give(output) : 0;
    },
    getsockname: () => -9,
    getpeername: () => -9,
    poll: () => 0,
    listDescriptors: () => [],
    lowestFreeDescriptor: () => undefined,
  };
  return { calls, log };
}

/** Which struct fields each key of the result is decoded from (all must be filled). */
type Sources<K extends string> = Partial<Record<keyof TcpHealth, K[]>>;

/**
 * The short-read rule at every length: decoding the first `length` bytes of `bytes` (the rest of
 * the buffer still NOISE, as a kernel that wrote less leaves it) gives exactly the keys whose
 * fields all lie within `length`, each with its full-length value.
 */
function checkEveryLength<K extends string>(
  platform: Platform,
  layout: StructLayout<K>,
  bytes: Uint8Array,
  sources: Sources<K>,
): void {
  const full = platform.health!(kernel(bytes).calls, 7);
  assert.deepEqual(
    Object.keys(full).sort(),
    Object.keys(sources).sort(),
    "every key is accounted for",
  );
  for (let length = 0; length <= layout.size; length++) {
    const got = platform.health!(kernel(bytes, length).calls, 7);
    const expected: Record<string, unknown> = {};
    for (const [key, fields] of Object.entries(sources) as Array<[keyof TcpHealth, K[]]>) {
      const filled = fields.every((f) =>
        layout.fields[f].offset + layout.fields[f].width <= length
      );
      if (filled) expected[key] = full[key];
    }
    assert.deepEqual(got, expected, `kernel filled ${length} bytes`);
  }
}

// --- Linux ------------------------------------------------------------------------------------

const LINUX_VALUES = {
  tcpi_state: 1, // TCP_ESTABLISHED
  tcpi_retransmits: 2,
  tcpi_probes: 3,
  tcpi_rto: 201_000, // µs
  tcpi_snd_mss: 1448,
  tcpi_unacked: 5,
  tcpi_lost: 6,
  tcpi_last_data_sent: 7007, // ms
  tcpi_last_data_recv: 8008,
  tcpi_last_ack_recv: 909,
  tcpi_rtt: 12_345, // µs
  tcpi_rttvar: 2_500,
  tcpi_snd_cwnd: 10, // segments
  tcpi_total_retrans: 11,
  tcpi_bytes_acked: 2n ** 40n + 1n,
  tcpi_bytes_received: 2n ** 33n + 5n,
  tcpi_min_rtt: 9_876,
  tcpi_bytes_sent: 2n ** 41n + 7n,
  tcpi_bytes_retrans: 131_313n,
  tcpi_snd_wnd: 262_140,
  tcpi_total_rto: 0x0102,
};

const LINUX_SOURCES: Sources<keyof typeof LINUX_TCP_INFO.fields> = {
  state: ["tcpi_state"],
  rtt: ["tcpi_rtt"],
  rttVariance: ["tcpi_rtt", "tcpi_rttvar"],
  minRtt: ["tcpi_min_rtt"],
  rto: ["tcpi_rto"],
  unacked: ["tcpi_unacked"],
  retransmits: ["tcpi_retransmits"],
  totalRetransmits: ["tcpi_total_retrans"],
  timeouts: ["tcpi_total_rto"],
  probes: ["tcpi_probes"],
  lost: ["tcpi_lost"],
  lastReceived: ["tcpi_last_data_recv"],
  lastSent: ["tcpi_last_data_sent"],
  lastAckReceived: ["tcpi_last_ack_recv"],
  mss: ["tcpi_snd_mss"],
  congestionWindow: ["tcpi_snd_cwnd", "tcpi_snd_mss"],
  sendWindow: ["tcpi_snd_wnd"],
  bytesSent: ["tcpi_bytes_sent"],
  bytesAcked: ["tcpi_bytes_acked"],
  bytesReceived: ["tcpi_bytes_received"],
  bytesRetransmitted: ["tcpi_bytes_retrans"],
};

test("health/linux: one getsockopt(IPPROTO_TCP, TCP_INFO) of 248 bytes, every field decoded", () => {
  const bytes = struct(LINUX_TCP_INFO, LINUX_VALUES);
  const { calls, log } = kernel(bytes);
  const health = linux.health!(calls, 7);
  assert.deepEqual(log, ["getsockopt(7, 6, 0xb, 248 bytes)"]);
  assert.deepEqual(
    health,
    {
      state: "ESTABLISHED",
      rtt: 12.345, // µs to ms
      rttVariance: 2.5,
      minRtt: 9.876,
      rto: 201,
      unacked: 5,
      retransmits: 2,
      totalRetransmits: 11,
      timeouts: 258,
      probes: 3,
      lost: 6,
      lastReceived: 8008, // already ms
      lastSent: 7007,
      lastAckReceived: 909,
      mss: 1448,
      congestionWindow: 14_480, // 10 segments of 1448 bytes
      sendWindow: 262_140,
      bytesSent: 2 ** 41 + 7,
      bytesAcked: 2 ** 40 + 1,
      bytesReceived: 2 ** 33 + 5,
      bytesRetransmitted: 131_313,
    } satisfies TcpHealth,
  );
});

test("health/linux: a shorter struct (an older kernel) leaves out exactly the fields past its end", () => {
  const bytes = struct(LINUX_TCP_INFO, LINUX_VALUES);
  checkEveryLength(linux, LINUX_TCP_INFO, bytes, LINUX_SOURCES);
  // The sizes real kernels have had: 2.6's 104 bytes, 4.1's 136, 6.1's 232.
  const keys = (length: number) => Object.keys(linux.health!(kernel(bytes, length).calls, 7));
  assert.ok(!keys(104).includes("bytesAcked") && keys(104).includes("totalRetransmits"));
  assert.ok(keys(136).includes("bytesReceived") && !keys(136).includes("minRtt"));
  assert.ok(keys(232).includes("sendWindow") && !keys(232).includes("timeouts"));
});

test("health/linux: no RTT sample yet (0), min_rtt ~0U: absent, not 0; other states by name", () => {
  const bytes = struct(LINUX_TCP_INFO, LINUX_VALUES);
  const f = LINUX_TCP_INFO.fields;
  const fresh = linux.health!(
    kernel(withField(withField(bytes, f.tcpi_rtt, 0), f.tcpi_min_rtt, 0xffffffff)).calls,
    7,
  );
  assert.equal("rtt" in fresh, false);
  assert.equal("rttVariance" in fresh, false, "rttvar is only an initial guess before a sample");
  assert.equal("minRtt" in fresh, false);
  assert.equal(fresh.probes, 3);
  // Zero is a value where the kernel means it: nothing unacknowledged, no probe out.
  const idle = linux.health!(
    kernel(withField(withField(bytes, f.tcpi_unacked, 0), f.tcpi_probes, 0)).calls,
    7,
  );
  assert.equal(idle.unacked, 0);
  assert.equal(idle.probes, 0);
  const names: Array<[number, string | undefined]> = [
    [1, "ESTABLISHED"],
    [2, "SYN_SENT"],
    [3, "SYN_RECEIVED"],
    [4, "FIN_WAIT_1"],
    [5, "FIN_WAIT_2"],
    [6, "TIME_WAIT"],
    [7, "CLOSED"],
    [8, "CLOSE_WAIT"],
    [9, "LAST_ACK"],
    [11, "CLOSING"],
    [12, undefined], // TCP_NEW_SYN_RECV, the kernel's own
    [0, undefined],
  ];
  for (const [number, name] of names) {
    const health = linux.health!(kernel(withField(bytes, f.tcpi_state, number)).calls, 7);
    assert.equal(health.state, name, `tcpi_state ${number}`);
  }
  // A listener: tcpi_unacked is its accept queue, and the kernel fills little else.
  const listener = linux.health!(kernel(withField(bytes, f.tcpi_state, 10)).calls, 7);
  assert.deepEqual(listener, { state: "LISTEN" });
});

test("health/linux: a failing getsockopt is a SocketOptionError for option health", () => {
  assert.throws(
    () => linux.health!(kernel(new Uint8Array(0), -92).calls, 7),
    (e: unknown) =>
      e instanceof SocketOptionError && e.code === "ENOPROTOOPT" && e.errno === 92 &&
      e.syscall === "getsockopt" && e.option === "health" && /TCP_INFO/.test(e.message),
  );
});

// --- macOS ------------------------------------------------------------------------------------

const MACOS_VALUES = {
  tcpi_state: 4, // TCPS_ESTABLISHED
  tcpi_rto: 230, // ms
  tcpi_maxseg: 1460,
  tcpi_snd_cwnd: 43_800, // bytes
  tcpi_snd_wnd: 131_072,
  tcpi_snd_sbbytes: 4_321,
  tcpi_srtt: 17, // ms
  tcpi_rttvar: 4,
  tcpi_txbytes: 2n ** 35n + 3n,
  tcpi_txretransmitbytes: 9_999n,
  tcpi_rxbytes: 2n ** 34n + 9n,
  tcpi_txretransmitpackets: 7n,
};

test("health/macos: one getsockopt(IPPROTO_TCP, TCP_CONNECTION_INFO 0x106) of 112 bytes, every field decoded", () => {
  const bytes = struct(TCP_CONNECTION_INFO_LAYOUT, MACOS_VALUES);
  const { calls, log } = kernel(bytes);
  const health = macos.health!(calls, 7);
  assert.deepEqual(log, ["getsockopt(7, 6, 0x106, 112 bytes)"]);
  assert.deepEqual(
    health,
    {
      state: "ESTABLISHED",
      rtt: 17, // xnu counts in ms
      rttVariance: 4,
      rto: 230,
      sendQueue: 4_321,
      totalRetransmits: 7,
      congestionWindow: 43_800, // already bytes
      mss: 1460,
      sendWindow: 131_072,
      bytesSent: 2 ** 35 + 3,
      bytesReceived: 2 ** 34 + 9,
      bytesRetransmitted: 9_999,
    } satisfies TcpHealth,
  );
  // What macOS does not report is absent, not 0.
  for (const key of ["unacked", "probes", "retransmits", "lastReceived", "lastAckReceived"]) {
    assert.equal(key in health, false, key);
  }
  checkEveryLength(macos, TCP_CONNECTION_INFO_LAYOUT, bytes, {
    state: ["tcpi_state"],
    rtt: ["tcpi_srtt"],
    rttVariance: ["tcpi_srtt", "tcpi_rttvar"],
    rto: ["tcpi_rto"],
    sendQueue: ["tcpi_snd_sbbytes"],
    totalRetransmits: ["tcpi_txretransmitpackets"],
    congestionWindow: ["tcpi_snd_cwnd"],
    mss: ["tcpi_maxseg"],
    sendWindow: ["tcpi_snd_wnd"],
    bytesSent: ["tcpi_txbytes"],
    bytesReceived: ["tcpi_rxbytes"],
    bytesRetransmitted: ["tcpi_txretransmitbytes"],
  });
});

test("health/macos: RTO 0 (no retransmission timer) absent; closed or listening: the state only", () => {
  const bytes = struct(TCP_CONNECTION_INFO_LAYOUT, MACOS_VALUES);
  const f = TCP_CONNECTION_INFO_LAYOUT.fields;
  assert.equal("rto" in macos.health!(kernel(withField(bytes, f.tcpi_rto, 0)).calls, 7), false);
  // An older macOS without tcpi_txretransmitpackets fills 104 bytes.
  assert.equal("totalRetransmits" in macos.health!(kernel(bytes, 104).calls, 7), false);
  for (const [number, state] of [[0, "CLOSED"], [1, "LISTEN"]] as const) {
    const health = macos.health!(kernel(withField(bytes, f.tcpi_state, number)).calls, 7);
    assert.deepEqual(health, { state });
  }
  const states = [
    [2, "SYN_SENT"],
    [3, "SYN_RECEIVED"],
    [5, "CLOSE_WAIT"],
    [6, "FIN_WAIT_1"],
    [
      7,
      "CLOSING",
    ],
    [8, "LAST_ACK"],
    [9, "FIN_WAIT_2"],
    [10, "TIME_WAIT"],
  ] as const;
  for (const [number, state] of states) {
    assert.equal(
      macos.health!(kernel(withField(bytes, f.tcpi_state, number)).calls, 7).state,
      state,
    );
  }
  assert.throws(
    () => macos.health!(kernel(new Uint8Array(0), -42).calls, 7),
    (e: unknown) =>
      e instanceof SocketOptionError && e.code === "ENOPROTOOPT" && e.option === "health" &&
      /TCP_CONNECTION_INFO/.test(e.message),
  );
});

// --- FreeBSD ----------------------------------------------------------------------------------

const FREEBSD_VALUES = {
  tcpi_state: 4, // TCPS_ESTABLISHED
  tcpi_rto: 233_000, // µs
  tcpi_snd_mss: 1448,
  tcpi_last_data_recv: 1_234_000, // µs
  tcpi_rtt: 15_500, // µs
  tcpi_rttvar: 3_250,
  tcpi_snd_cwnd: 28_960, // bytes
  tcpi_snd_wnd: 65_536,
  tcpi_snd_rexmitpack: 12,
};

test("health/freebsd: one getsockopt(IPPROTO_TCP, TCP_INFO 0x20) of 240 bytes, every field decoded", () => {
  const bytes = struct(FREEBSD_TCP_INFO, FREEBSD_VALUES);
  const { calls, log } = kernel(bytes);
  const health = freebsd.health!(calls, 7);
  assert.deepEqual(log, ["getsockopt(7, 6, 0x20, 240 bytes)"]);
  assert.deepEqual(
    health,
    {
      state: "ESTABLISHED",
      rtt: 15.5, // µs to ms
      rttVariance: 3.25,
      rto: 233,
      totalRetransmits: 12,
      // FreeBSD's "last_data_recv" is the time since any segment arrived.
      lastAckReceived: 1234,
      congestionWindow: 28_960,
      mss: 1448,
      sendWindow: 65_536,
    } satisfies TcpHealth,
  );
  checkEveryLength(freebsd, FREEBSD_TCP_INFO, bytes, {
    state: ["tcpi_state"],
    rtt: ["tcpi_rtt"],
    rttVariance: ["tcpi_rtt", "tcpi_rttvar"],
    rto: ["tcpi_rto"],
    totalRetransmits: ["tcpi_snd_rexmitpack"],
    lastAckReceived: ["tcpi_last_data_recv"],
    congestionWindow: ["tcpi_snd_cwnd"],
    mss: ["tcpi_snd_mss"],
    sendWindow: ["tcpi_snd_wnd"],
  });
  // FreeBSD 13 and older fill 236 bytes: everything read is within them.
  assert.deepEqual(freebsd.health!(kernel(bytes, 236).calls, 7), health);
  const f = FREEBSD_TCP_INFO.fields;
  assert.equal("rtt" in freebsd.health!(kernel(withField(bytes, f.tcpi_rtt, 0)).calls, 7), false);
  assert.deepEqual(freebsd.health!(kernel(withField(bytes, f.tcpi_state, 1)).calls, 7), {
    state: "LISTEN",
  });
});

// --- Windows ----------------------------------------------------------------------------------

const WINDOWS_VALUES = {
  State: 4, // TCPSTATE_ESTABLISHED
  Mss: 1460,
  RttUs: 21_500,
  MinRttUs: 18_250,
  BytesInFlight: 2_920,
  Cwnd: 64_240,
  SndWnd: 262_144,
  BytesOut: 2n ** 36n + 11n,
  BytesIn: 2n ** 37n + 13n,
  BytesRetrans: 4_380,
  TimeoutEpisodes: 3,
};

test("health/windows: one WSAIoctl(SIO_TCP_INFO) with version 0 in and 88 bytes out, every field decoded", () => {
  const bytes = struct(TCP_INFO_V0_LAYOUT, WINDOWS_VALUES);
  const { calls, log } = kernel(bytes);
  const health = windows.health!(calls, 7);
  assert.deepEqual(log, ["ioctl(7, 0xd8000027, 00000000, 88 bytes out)"]);
  assert.deepEqual(
    health,
    {
      state: "ESTABLISHED",
      rtt: 21.5, // µs to ms
      minRtt: 18.25,
      bytesInFlight: 2_920,
      timeouts: 3,
      congestionWindow: 64_240,
      mss: 1460,
      sendWindow: 262_144,
      bytesSent: 2 ** 36 + 11,
      bytesReceived: 2 ** 37 + 13,
      bytesRetransmitted: 4_380,
    } satisfies TcpHealth,
  );
  checkEveryLength(windows, TCP_INFO_V0_LAYOUT, bytes, {
    state: ["State"],
    rtt: ["RttUs"],
    minRtt: ["MinRttUs"],
    bytesInFlight: ["BytesInFlight"],
    timeouts: ["TimeoutEpisodes"],
    congestionWindow: ["Cwnd"],
    mss: ["Mss"],
    sendWindow: ["SndWnd"],
    bytesSent: ["BytesOut"],
    bytesReceived: ["BytesIn"],
    bytesRetransmitted: ["BytesRetrans"],
  });
  const f = TCP_INFO_V0_LAYOUT.fields;
  const states = ["CLOSED", "LISTEN", "SYN_SENT", "SYN_RECEIVED", "ESTABLISHED", "FIN_WAIT_1"]
    .concat(["FIN_WAIT_2", "CLOSE_WAIT", "CLOSING", "LAST_ACK", "TIME_WAIT"]);
  states.forEach((state, number) => {
    const got = windows.health!(kernel(withField(bytes, f.State, number)).calls, 7);
    assert.equal(got.state, state, `TCPSTATE ${number}`);
  });
  assert.equal(windows.health!(kernel(withField(bytes, f.State, 11)).calls, 7).state, undefined);
});

test("health/windows: a failing WSAIoctl names SIO_TCP_INFO and the WSA error", () => {
  assert.throws(
    () => windows.health!(kernel(new Uint8Array(0), -10045).calls, 7),
    (e: unknown) =>
      e instanceof SocketOptionError && e.code === "WSAEOPNOTSUPP" && e.errno === 10045 &&
      e.syscall === "WSAIoctl" && e.option === "health" && /SIO_TCP_INFO/.test(e.message),
  );
});

test("health/windows: the Winsock binding passes the output buffer to WSAIoctl and returns the bytes written", () => {
  const seen: unknown[][] = [];
  let fail = 0;
  const bound = {
    WSAIoctl(...args: unknown[]) {
      seen.push(args);
      const output = args[4] as Uint8Array | null;
      output?.set([1, 2, 3]);
      (args[6] as Uint32Array)[0] = output ? 3 : 0;
      return fail ? -1 : 0;
    },
    WSAGetLastError: () => fail,
  } as unknown as BoundWinsock;
  const calls = winsockCalls(bound);
  const input = new Uint8Array(4), out = new Uint8Array(88);
  assert.equal(calls.ioctl!(0x1234, 0xd8000027, input, out), 3, "the bytes written");
  assert.deepEqual(seen[0].slice(0, 6), [0x1234n, 0xd8000027, input, 4, out, 88]);
  assert.deepEqual([...out.subarray(0, 4)], [1, 2, 3, 0]);
  assert.equal(seen[0][7], null); // no overlapped I/O
  // Without an output buffer (SIO_KEEPALIVE_VALS): NULL, 0, and 0 for success, as before.
  assert.equal(calls.ioctl!(0x1234, 0x98000004, input), 0);
  assert.deepEqual(seen[1].slice(4, 6), [null, 0]);
  fail = 10022;
  assert.equal(calls.ioctl!(0x1234, 0xd8000027, input, out), -10022, "negated, as getsockopt");
  assert.equal(calls.ioctl!(0x1234, 0x98000004, input), 10022, "positive without output");
});

// --- Real sockets on Linux ----------------------------------------------------------------------

const onLinux = process.platform === "linux";
const realOptions = {
  sanitize: false, // the python peer is a child process
  timeout: 15_000,
  ...(onLinux ? {} : { skip: "TCP_INFO is read from a real socket on Linux only" }),
};

/** Writes `bytes` on a native socket (Deno.TcpConn or Bun Socket). */
async function write(socket: unknown, bytes: Uint8Array): Promise<void> {
  if (isBun) {
    const written = (socket as { write(b: Uint8Array): number }).write(bytes);
    assert.equal(written, bytes.byteLength);
  } else {
    let done = 0;
    while (done < bytes.byteLength) {
      done += await (socket as Deno.TcpConn).write(bytes.subarray(done));
    }
  }
}

/** Polls `read` until `ok` holds for its result (at most `ms`), returning that result. */
async function until(
  read: () => TcpHealth,
  ok: (h: TcpHealth) => boolean,
  what: string,
  ms = 3000,
): Promise<TcpHealth> {
  const deadline = Date.now() + ms;
  for (;;) {
    const health = read();
    if (ok(health)) return health;
    if (Date.now() > deadline) {
      assert.fail(`${what} within ${ms} ms; last: ${JSON.stringify(health)}`);
    }
    await sleep(20);
  }
}

/** Numbers from `ss -tnoi`'s line for the socket: the kernel's record through netlink. */
function ssNumbers(line: string) {
  const num = (re: RegExp) => {
    const m = re.exec(line);
    assert.ok(m, `${re} in: ${line}`);
    return Number(m[1]);
  };
  return {
    rtt: num(/ rtt:([\d.]+)\//),
    rttVariance: num(/ rtt:[\d.]+\/([\d.]+)/),
    mss: num(/ mss:(\d+)/),
    cwnd: num(/ cwnd:(\d+)/),
    bytesAcked: num(/ bytes_acked:(\d+)/),
    bytesReceived: num(/ bytes_received:(\d+)/),
  };
}

test(
  "health (real, loopback): ESTABLISHED, an RTT after traffic, bytes counted, idle times grow, ss agrees",
  async () => {
    await withPeer(async (peer, port) => {
      const native = await nativeConnect(port);
      await peer.waitFor(/^ACCEPTED/);
      try {
        const health = () => getHealth(native.socket as NativeConnection);
        const fresh = health();
        assert.equal(fresh.state, "ESTABLISHED");
        assert.equal(fresh.unacked, 0);
        assert.equal(fresh.probes, 0);
        assert.equal(fresh.retransmits, 0);
        assert.equal(fresh.bytesReceived, 0);
        assert.equal(fresh.bytesAcked, 1, "the SYN is the one byte acknowledged");

        // Traffic both ways: 1000 bytes out (the peer reads them), 5000 in (nobody reads them:
        // the kernel counts what arrived, not what was read).
        await command(peer, "read");
        await write(native.socket, new Uint8Array(1000).fill(7));
        await command(peer, "send 5000");
        const after = await until(
          health,
          (h) => h.bytesReceived === 5000 && h.bytesAcked === 1001 && h.unacked === 0,
          "5000 bytes in and 1000 acknowledged",
        );
        assert.equal(after.state, "ESTABLISHED");
        assert.ok(after.rtt! > 0 && after.rtt! < 100, `rtt ${after.rtt} ms on loopback`);
        assert.ok(after.rttVariance! >= 0);
        assert.ok(after.minRtt! > 0 && after.minRtt! <= after.rtt! + after.rttVariance!);
        assert.ok(
          after.rto! >= 200 && after.rto! < 1000,
          `rto ${after.rto} ms (Linux's minimum: 200)`,
        );
        assert.equal(after.bytesSent, 1000);
        assert.equal(after.retransmits, 0);
        assert.equal(after.totalRetransmits, 0);
        assert.equal(after.probes, 0);
        assert.ok(after.mss! > 0 && after.congestionWindow! >= after.mss!);

        // Idle: the times since the last data grow with the clock; nothing is in flight.
        const t0 = Date.now();
        const before = health();
        await sleep(400);
        const idle = health();
        const elapsed = Date.now() - t0;
        for (const key of ["lastReceived", "lastSent", "lastAckReceived"] as const) {
          // The kernel counts in jiffies (1 to 10 ms): allow one either way.
          const grew = idle[key]! - before[key]!;
          assert.ok(grew >= 390 && grew <= elapsed + 10, `${key} grew ${grew} ms in ${elapsed} ms`);
        }
        assert.equal(idle.unacked, 0);

        // An outside witness: ss reads the same record through netlink and prints it itself.
        const ours = health();
        const ss = ssNumbers(await ssLine(native.localPort));
        const again = health();
        assert.equal(ours.rtt, again.rtt, "no new RTT sample while idle");
        assert.equal(ours.rtt, ss.rtt);
        assert.equal(ours.rttVariance, ss.rttVariance);
        assert.equal(ours.mss, ss.mss);
        assert.equal(ours.congestionWindow, ss.cwnd * ss.mss);
        assert.equal(ours.bytesAcked, ss.bytesAcked);
        assert.equal(ours.bytesReceived, ss.bytesReceived);
      } finally {
        native.close();
      }
    });
  },
  realOptions,
);

// --- A pulled cable, across two network namespaces ---------------------------------------------

interface Sample extends TcpHealth {
  type: "health";
  at: number;
}

/**
 * Runs tests/fixtures/health_client.ts in the client's namespace against the python peer in the
 * server's, with `config`; `act` pulls the cable. Returns every health sample and the client's
 * end (its error and when). Always deletes the namespaces.
 */
async function pulled(
  config: { keepAlive: object; write?: boolean; live?: boolean },
  act: (ctx: { net: TestNet; client: Proc; peer: Proc }) => Promise<number>,
): Promise<
  {
    samples: Sample[];
    pulledAt: number;
    end: { code?: string; at: number; lastReceivedAt?: number };
    gone: string[];
  }
> {
  const net = TestNet.create();
  let peer: Proc | undefined;
  let client: Proc | undefined;
  try {
    peer = (await startPeer(SERVER_IP, 7000, net.exec("server"))).peer;
    client = new Proc([
      ...net.exec("client"),
      ...runtimeCommand(fixture("health_client.ts"), [
        JSON.stringify({ hostname: SERVER_IP, port: 7000, everyMs: 50, ...config }),
      ]),
    ]);
    await client.waitFor(/"type":"opened"/, 10_000);
    await peer.waitFor(/^ACCEPTED/);
    const pulledAt = await act({ net, client, peer });
    const end = JSON.parse(await client.waitFor(/"type":"ended"/, 20_000));
    const samples = client.lines.filter((l) => l.includes('"type":"health"')).map((l) =>
      JSON.parse(l) as Sample
    );
    // Reads after the connection failed: the socket no longer verifies (it has no peer).
    const gone = client.lines.filter((l) => l.includes('"type":"unreadable"')).map((l) =>
      JSON.parse(l).code as string
    );
    return { samples, pulledAt, end, gone };
  } finally {
    await client?.kill();
    await peer?.kill();
    net.destroy();
  }
}

/** The distinct values `key` takes in `samples`, in order of first appearance. */
const sequence = (samples: Sample[], key: "probes" | "retransmits" | "unacked") =>
  samples.map((s) => s[key]!).filter((v, i, all) => i === 0 || v !== all[i - 1]);

for (const live of [false, true]) {
  const via = live ? "conn.health()" : "getHealth(runtime socket)";
  test(
    `health (netns): pulled cable while idle, keepalive 1 s/1 s/3: probes go 1, 2, 3, then ETIMEDOUT (${via})`,
    async () => {
      const { samples, pulledAt, end, gone } = await pulled(
        { keepAlive: { idle: 1000, interval: 1000, count: 3 }, live },
        async ({ net }) => {
          await sleep(2500); // idle past the first keepalive probes, which the peer answers
          return net.pull();
        },
      );
      assert.equal(end.code, "ETIMEDOUT");
      const before = samples.filter((s) => s.at < pulledAt);
      const after = samples.filter((s) => s.at > pulledAt);
      assert.ok(
        before.length > 10 && after.length > 10,
        `${before.length}, ${after.length} samples`,
      );
      assert.ok(after.every((s) => s.state === "ESTABLISHED"), "established until the drop");
      // After the break: a LiveConnection is no longer open (health() is undefined); the runtime's
      // socket no longer verifies (the kernel forgot its peer).
      const goneCode = live ? "NOT_OPEN" : "ERR_SOCKET_NOT_FOUND";
      assert.ok(gone.length > 0 && gone.every((code) => code === goneCode), `${gone}`);
      if (live) {
        // Nothing arrived since the open: the peer had been silent for the whole connection.
        const silent = end.at - end.lastReceivedAt!;
        assert.ok(silent >= end.at - pulledAt + 2000, `silent ${silent} ms at the break`);
      }
      // While the peer answers: no probe is left unanswered for long, and its answers keep the
      // time since the last acknowledgement short while the time since the last data grows.
      assert.ok(before.every((s) => s.state === "ESTABLISHED" && s.unacked === 0));
      assert.ok(before.every((s) => s.probes! <= 1), JSON.stringify(sequence(before, "probes")));
      const last = before[before.length - 1];
      assert.ok(last.lastReceived! >= 2000, `lastReceived ${last.lastReceived} ms`);
      assert.ok(last.lastAckReceived! <= 1300, `lastAckReceived ${last.lastAckReceived} ms`);
      // After the pull: each probe goes unanswered, counted one by one until the count of 3.
      const probes = sequence(after, "probes");
      console.log(`probes after the pull: ${probes.join(", ")}; ETIMEDOUT ${end.at - pulledAt} ms`);
      // (A probe out at the moment of the pull may still have been answered: 1, 0, then 1, 2, 3.)
      assert.deepEqual(probes.slice(probes.lastIndexOf(0) + 1), [1, 2, 3], `probes ${probes}`);
      assert.ok(after.every((s) => s.unacked === 0 && s.retransmits === 0));
      assert.ok(after[after.length - 1].lastAckReceived! >= 3000);
    },
    netnsTestOptions(40_000),
  );
}

test(
  "health (netns): pulled cable while writing: unacked and retransmits rise, probes stay 0",
  async () => {
    const { samples, pulledAt, end, gone } = await pulled(
      { keepAlive: { idle: 1000, interval: 1000, count: 3, userTimeout: 4000 }, write: true },
      async ({ net, peer }) => {
        await command(peer, "read");
        await sleep(500); // data is flowing
        return net.pull();
      },
    );
    assert.equal(end.code, "ETIMEDOUT");
    const before = samples.filter((s) => s.at < pulledAt);
    const after = samples.filter((s) => s.at > pulledAt + 100);
    assert.ok(after.length > 10, `${after.length} samples`);
    assert.ok(after.every((s) => s.state === "ESTABLISHED"), "established until the drop");
    assert.ok(gone.length > 0 && gone.every((code) => code === "ERR_SOCKET_NOT_FOUND"), `${gone}`);
    // The client's 50 ms beat holds while it writes (a writer that starves its timers fails here).
    assert.ok(before.length >= 5, `${before.length} samples before the pull`);
    assert.ok(before.some((s) => s.bytesAcked! > 100_000), "data flowed before the pull");
    assert.ok(before.every((s) => s.retransmits === 0));
    const retransmits = sequence(after, "retransmits");
    console.log(
      `retransmits after the pull: ${retransmits.join(", ")}; ETIMEDOUT ${end.at - pulledAt} ms`,
    );
    // A writer starved of CPU at the pull (a busy machine) may have had everything acknowledged
    // and written nothing new for a moment; from its next write on, nothing is acknowledged.
    const inFlight = after.findIndex((s) => s.unacked! > 0);
    assert.ok(inFlight >= 0 && after[inFlight]!.at - pulledAt < 1000, `in flight from ${inFlight}`);
    assert.ok(
      after.slice(inFlight).every((s) => s.unacked! > 0),
      `data stays unacknowledged: ${after.map((s) => s.unacked).join(",")}`,
    );
    assert.ok(retransmits.includes(1) && retransmits.includes(2), `retransmits ${retransmits}`);
    assert.deepEqual(retransmits, [...retransmits].sort((a, b) => a - b), "never back down");
    assert.ok(after.every((s) => s.probes === 0), "keepalive does not probe with data in flight");
    const acked = after.map((s) => s.bytesAcked);
    assert.ok(acked.every((b) => b === acked[0]), "nothing more is acknowledged");
  },
  netnsTestOptions(40_000),
);
