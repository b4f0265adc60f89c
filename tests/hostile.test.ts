/**
 * Hostile input (issue 5, part 2): property-based tests (fast-check) over option objects and
 * connect options. Each input is either refused with TypeError/RangeError before any FFI call
 * (counted with a fake of the SocketCalls interface, ffi/types.ts) or applied and read back
 * exactly as documented (Linux rounds idle and interval up to whole seconds; limits from
 * LINUX_LIMITS). Then wrong targets: a closed connection, a UDP socket, a Unix socket, a
 * non-socket object or descriptor: a clear error, nothing touched.
 */
import assert from "node:assert/strict";
import dgram from "node:dgram";
import { rmSync } from "node:fs";
import process from "node:process";
import fc from "fast-check";
import { isBun, nativeConnect, preloadFfi, realCalls, test, withServer } from "./harness.ts";
import { FakeKernel, FakeRuntime, LINUX_DEFAULTS, targetOver } from "./fixtures/fake_kernel.ts";
import {
  connect,
  ConnectionClosedError,
  DEFAULT_KEEPALIVE,
  getKeepAlive,
  type KeepAliveInfo,
  type KeepAliveOptions,
  type NativeConnection,
  setKeepAlive,
  SocketOptionError,
} from "../mod.ts";
import { LiveConnection } from "../src/connection.ts";
import { applyKeepAlive, setKeepAliveOn } from "../src/sockopt.ts";
import { linux } from "../src/os/linux.ts";
import { NOTHING_READ } from "../src/os/platform.ts";
import type { SocketCalls } from "../ffi/types.ts";
import { SO_KEEPALIVE, SOL_SOCKET } from "../ffi/linux.ts";

preloadFfi();

const RUNS = 400;
const KEYS = ["enabled", "idle", "interval", "count", "userTimeout"] as const;
type Key = typeof KEYS[number];

// ---------------------------------------------------------------------------------------------
// Generators.

const specialNumbers = fc.constantFrom(
  NaN,
  Infinity,
  -Infinity,
  -0,
  0,
  -1,
  0.5,
  1,
  999.999,
  1000,
  1000.0001,
  1500,
  32_767_000,
  32_767_000.5,
  32_767_001,
  126.5,
  127,
  128,
  2 ** 31 - 1,
  2 ** 31 - 1.5,
  2 ** 31,
  2 ** 53,
  1e21,
  Number.MAX_VALUE,
  Number.MIN_VALUE,
  -Number.MIN_VALUE,
  Number.EPSILON,
);
const numbers = fc.oneof(
  specialNumbers,
  fc.integer({ min: -5, max: 200 }),
  fc.integer({ min: 1, max: 40_000_000 }),
  fc.double({ min: -10, max: 4e7 }),
  fc.double(),
);
const nonNumbers = fc.oneof(
  fc.string({ maxLength: 6 }),
  fc.constantFrom<unknown>(
    null,
    true,
    false,
    [],
    [1000],
    {},
    { valueOf: () => 1000 },
    new Number(1000),
    1000n,
    Symbol("idle"),
    () => 1000,
    new Date(0),
    "1000",
    "",
  ),
);
const anyValue = fc.oneof(
  { weight: 3, arbitrary: numbers },
  { weight: 1, arbitrary: nonNumbers },
  { weight: 1, arbitrary: fc.constant(undefined) },
);
const enabledValue = fc.oneof(
  { weight: 4, arbitrary: fc.boolean() },
  { weight: 1, arbitrary: anyValue },
);
const extraKeys = fc.dictionary(
  fc.constantFrom("foo", "idleMs", "Idle", "keepAlive", "timeout", "constructor", "toString", ""),
  anyValue,
  { maxKeys: 2 },
);
/** Option objects: any subset of the known keys with hostile or valid values, sometimes extras. */
const optionObjects = fc.tuple(
  fc.record(
    {
      enabled: enabledValue,
      idle: anyValue,
      interval: anyValue,
      count: anyValue,
      userTimeout: anyValue,
    },
    { requiredKeys: [] },
  ),
  fc.oneof({ weight: 4, arbitrary: fc.constant({}) }, { weight: 1, arbitrary: extraKeys }),
).map(([known, extra]) => ({ ...known, ...extra }) as Record<string, unknown>);
/** Option objects whose every value is in range: exercise the "applied" path often. */
const validOptionObjects = fc.record({
  enabled: fc.boolean(),
  idle: fc.oneof(
    fc.integer({ min: 1, max: 32_767_000 }),
    fc.double({ min: 0.001, max: 32_767_000, noNaN: true }),
  ),
  interval: fc.oneof(
    fc.integer({ min: 1, max: 32_767_000 }),
    fc.double({ min: 0.001, max: 32_767_000, noNaN: true }),
  ),
  count: fc.integer({ min: 1, max: 127 }),
  userTimeout: fc.oneof(
    fc.integer({ min: 0, max: 2 ** 31 - 1 }),
    fc.double({ min: 0, max: 2 ** 31 - 2, noNaN: true }),
  ),
}, { requiredKeys: [] }) as fc.Arbitrary<Record<string, unknown>>;
const anyOptions = fc.oneof(
  { weight: 1, arbitrary: fc.boolean() },
  { weight: 3, arbitrary: optionObjects },
  { weight: 2, arbitrary: validOptionObjects },
  { weight: 1, arbitrary: nonNumbers },
  { weight: 1, arbitrary: numbers },
);

// ---------------------------------------------------------------------------------------------
// The documented rules, written out independently of src/options.ts.

type Verdict =
  | { refused: Set<"TypeError" | "RangeError">; keys: Set<string> }
  | { applied: KeepAliveOptions & { enabled: boolean } };

function verdict(o: unknown): Verdict {
  if (typeof o !== "object" || o === null || Array.isArray(o)) {
    return { refused: new Set(["TypeError"]), keys: new Set(["options"]) };
  }
  const refused = new Set<"TypeError" | "RangeError">();
  const keys = new Set<string>();
  const bad = (kind: "TypeError" | "RangeError", key: string) => {
    refused.add(kind);
    keys.add(key);
  };
  const rec = o as Record<string, unknown>;
  for (const key of Object.keys(rec)) {
    if (!(KEYS as readonly string[]).includes(key)) bad("TypeError", key);
  }
  const applied: KeepAliveOptions & { enabled: boolean } = { enabled: true };
  if (rec.enabled !== undefined) {
    if (typeof rec.enabled !== "boolean") bad("TypeError", "enabled");
    else applied.enabled = rec.enabled;
  }
  for (const key of ["idle", "interval"] as const) {
    const v = rec[key];
    if (v === undefined) continue;
    if (typeof v !== "number") bad("TypeError", key);
    // Anything above 0 asks for at least the minimum, 1 s (however small: 5e-324 too).
    else if (!(v > 0) || Math.ceil(v / 1000) > 32767) bad("RangeError", key);
    else applied[key] = Math.max(1, Math.ceil(v / 1000)) * 1000;
  }
  const count = rec.count;
  if (count !== undefined) {
    if (typeof count !== "number") bad("TypeError", "count");
    else if (!Number.isInteger(count) || count < 1 || count > 127) bad("RangeError", "count");
    else applied.count = count;
  }
  const ut = rec.userTimeout;
  if (ut !== undefined) {
    if (typeof ut !== "number") bad("TypeError", "userTimeout");
    else if (!(ut >= 0) || Math.ceil(ut) > 2 ** 31 - 1) bad("RangeError", "userTimeout");
    else applied.userTimeout = Math.ceil(ut) + 0; // + 0 turns -0 into 0
  }
  return refused.size > 0 ? { refused, keys } : { applied };
}

function assertRefusal(error: unknown, v: { refused: Set<string>; keys: Set<string> }): true {
  assert.ok(
    (error instanceof TypeError && v.refused.has("TypeError")) ||
      (error instanceof RangeError && v.refused.has("RangeError")),
    `expected ${[...v.refused].join(" or ")}, got ${String(error)}`,
  );
  const message = (error as Error).message;
  assert.ok(
    [...v.keys].some((k) => k === "options" || message.includes(`"${k}"`)),
    `the message names the option (${[...v.keys].join(", ")}): ${message}`,
  );
  return true;
}

/** What the kernel reports after `applied` lands on a socket that had `before`. */
function expectedAfter(before: KeepAliveInfo, applied: KeepAliveOptions): KeepAliveInfo {
  return { ...before, ...applied } as KeepAliveInfo;
}

function show(o: unknown): string {
  try {
    return JSON.stringify(
      o,
      (_k, v) =>
        typeof v === "number" && !Number.isFinite(v)
          ? String(v)
          : typeof v === "bigint" || typeof v === "symbol" || typeof v === "function"
          ? String(v)
          : v,
    );
  } catch {
    return String(o);
  }
}

// ---------------------------------------------------------------------------------------------
// Against the fake kernel: no FFI at all.

const LOCAL = { hostname: "127.0.0.1", port: 40001 };
const REMOTE = { hostname: "127.0.0.1", port: 7000 };

test("hostile: setKeepAliveOn refuses bad options before any call, applies good ones exactly", () => {
  fc.assert(
    fc.property(anyOptions, (o) => {
      const kernel = new FakeKernel();
      kernel.open(5, LOCAL, REMOTE);
      let callsOpened = 0;
      let targets = 0;
      const target = () => {
        targets++;
        return targetOver(LOCAL, REMOTE, () => kernel.listDescriptors());
      };
      const v = verdict(o);
      const run = () =>
        setKeepAliveOn(
          linux,
          () => {
            callsOpened++;
            return kernel;
          },
          target,
          undefined,
          o as KeepAliveOptions,
        );
      if ("refused" in v) {
        assert.throws(run, (e: unknown) => assertRefusal(e, v), show(o));
        assert.equal(callsOpened, 0, "the FFI was not even opened");
        assert.equal(targets, 0, "the target was not even looked at");
        assert.equal(kernel.total, 0, "no call reached the kernel");
        return;
      }
      const got = run();
      const want = expectedAfter(LINUX_DEFAULTS, v.applied);
      assert.deepEqual(got, want, show(o));
      // The kernel holds whole seconds for idle and interval, exactly what was asked rounded up.
      const raw = kernel.peekOptions(5);
      assert.equal(raw["6/4"] * 1000, want.idle);
      assert.equal(raw["6/5"] * 1000, want.interval);
      assert.equal(raw["6/6"], want.count);
      assert.equal(raw["6/18"], want.userTimeout);
      assert.equal(raw["1/9"], want.enabled ? 1 : 0);
      // Only the keys given were set (plus SO_KEEPALIVE, always).
      const given = KEYS.filter((k) =>
        k !== "enabled" && (o as Record<string, unknown>)[k] !== undefined
      );
      assert.equal(kernel.counts.setsockopt, given.length + 1, show(o));
    }),
    { numRuns: RUNS },
  );
});

test("hostile: applyKeepAlive never resolves the descriptor for options it refuses", () => {
  fc.assert(
    fc.property(anyOptions, (o) => {
      const kernel = new FakeKernel();
      kernel.open(5, LOCAL, REMOTE);
      let resolved = 0;
      const v = verdict(o);
      const run = () =>
        applyKeepAlive(linux, kernel, () => {
          resolved++;
          return { fd: 5, read: NOTHING_READ };
        }, o as KeepAliveOptions);
      if ("refused" in v) {
        assert.throws(run, (e: unknown) => assertRefusal(e, v));
        assert.equal(resolved, 0);
        assert.equal(kernel.total, 0);
      } else {
        assert.deepEqual(run(), expectedAfter(LINUX_DEFAULTS, v.applied));
        assert.equal(resolved, 1);
      }
    }),
    { numRuns: RUNS },
  );
});

/** What `connect` applies for `keepAlive: o` (README: keys left out take the defaults). */
function connectExpectation(o: unknown): KeepAliveInfo {
  const v = verdict(o);
  assert.ok("applied" in v);
  const a = v.applied;
  const idle = a.idle ?? 10_000, interval = a.interval ?? 2_000, count = a.count ?? 5;
  const userTimeout = a.userTimeout ??
    (a.enabled ? Math.min(2 ** 31 - 1, idle + interval * count) : 20_000);
  return { enabled: a.enabled, idle, interval, count, userTimeout };
}

test("hostile: new LiveConnection(runtime, { keepAlive }) refuses before dialing, or applies exactly", async () => {
  await fc.assert(
    fc.asyncProperty(anyOptions, async (o) => {
      const runtime = new FakeRuntime();
      if (typeof o === "boolean") {
        // true: every default; false: probing off, the rest as the kernel has it.
        const conn = new LiveConnection(runtime, { port: 7000, keepAlive: o });
        await conn.opened;
        assert.deepEqual(
          conn.keepAlive,
          o ? { enabled: true, ...DEFAULT_KEEPALIVE } : { ...LINUX_DEFAULTS, enabled: false },
        );
        await conn.close();
        return;
      }
      const v = verdict(o);
      if ("refused" in v) {
        assert.throws(
          () => new LiveConnection(runtime, { port: 7000, keepAlive: o as KeepAliveOptions }),
          (e: unknown) =>
            // Booleans are allowed for keepAlive itself; anything else that is not an object is
            // a TypeError naming "keepAlive".
            (typeof o !== "object" || o === null || Array.isArray(o))
              ? e instanceof TypeError && /"keepAlive"/.test((e as Error).message)
              : assertRefusal(e, v),
          show(o),
        );
        assert.equal(runtime.dials, 0, "nothing was dialed");
        assert.equal(runtime.callsOpened, 0, "the FFI was not opened");
        assert.equal(runtime.kernel.total, 0);
        return;
      }
      const conn = new LiveConnection(runtime, { port: 7000, keepAlive: o as KeepAliveOptions });
      await conn.opened;
      assert.deepEqual(conn.keepAlive, connectExpectation(o), show(o));
      assert.deepEqual(conn.getKeepAlive(), conn.keepAlive);
      await conn.close();
    }),
    { numRuns: RUNS },
  );
});

test("hostile: connect options (port, hostname, connectTimeout, maxBufferedBytes, signal, onListenerError)", async () => {
  const portValue = fc.oneof(fc.integer({ min: 0, max: 65535 }), anyValue);
  const optional = fc.oneof({ weight: 2, arbitrary: fc.constant(undefined) }, {
    weight: 3,
    arbitrary: anyValue,
  });
  await fc.assert(
    fc.asyncProperty(
      fc.record({
        port: portValue,
        hostname: fc.oneof(fc.constant(undefined), fc.constant("127.0.0.1"), nonNumbers, numbers),
        connectTimeout: optional,
        maxBufferedBytes: optional,
        signal: fc.oneof(
          { weight: 3, arbitrary: fc.constant(undefined) },
          { weight: 1, arbitrary: nonNumbers },
          { weight: 1, arbitrary: fc.constant(new AbortController().signal) },
        ),
        onListenerError: fc.oneof(
          { weight: 3, arbitrary: fc.constant(undefined) },
          { weight: 1, arbitrary: nonNumbers },
          { weight: 1, arbitrary: fc.constant(() => {}) },
        ),
      }, { requiredKeys: [] }),
      async (o) => {
        const {
          port,
          hostname,
          connectTimeout: ct,
          maxBufferedBytes: mb,
          signal,
          onListenerError,
        } = o;
        const problems = new Set<string>();
        if (typeof port !== "number") problems.add("TypeError");
        else if (!Number.isInteger(port) || port < 1 || port > 65535) problems.add("RangeError");
        if (hostname !== undefined && typeof hostname !== "string") problems.add("TypeError");
        for (const value of [ct, mb]) {
          if (value === undefined) continue; // only undefined means the default; null is a TypeError
          if (typeof value !== "number") problems.add("TypeError");
          else if (
            !Number.isFinite(value) || !(value > 0) || (value === mb && !(value >= 1)) ||
            (value === ct && value > 2 ** 31 - 1) // setTimeout's limit
          ) {
            problems.add("RangeError");
          }
        }
        if (signal !== undefined && !(signal instanceof AbortSignal)) problems.add("TypeError");
        if (onListenerError !== undefined && typeof onListenerError !== "function") {
          problems.add("TypeError");
        }
        const runtime = new FakeRuntime();
        const make = () => new LiveConnection(runtime, o as never);
        if (problems.size > 0) {
          assert.throws(
            make,
            (e: unknown) =>
              (e instanceof TypeError && problems.has("TypeError")) ||
              (e instanceof RangeError && problems.has("RangeError")),
            show(o),
          );
          assert.equal(runtime.dials, 0);
          assert.equal(runtime.kernel.total, 0);
          return;
        }
        const conn = make();
        await conn.close();
      },
    ),
    { numRuns: RUNS },
  );
});

test("hostile: connectTimeout bounds the connect only; an open connection outlives it", async () => {
  const runtime = new FakeRuntime();
  const conn = new LiveConnection(runtime, { port: 7000, connectTimeout: 100 });
  await conn.opened;
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal(conn.state, "open", "the connect timer does not break an open connection");
  await conn.close();
  assert.equal((await conn.closed).by, "local");
  assert.throws(
    () => new LiveConnection(runtime, { port: 7000, connectTimeout: 2 ** 31 }),
    RangeError,
  );
  assert.equal(runtime.dials, 1);
});

test("hostile: a keepAlive key set to undefined takes its default, as a key left out", async () => {
  for (const key of ["idle", "interval", "count", "userTimeout", "enabled"]) {
    const conn = new LiveConnection(new FakeRuntime(), {
      port: 7000,
      keepAlive: { [key]: undefined },
    });
    await conn.opened;
    assert.deepEqual(conn.keepAlive, { enabled: true, ...DEFAULT_KEEPALIVE }, key);
    await conn.close();
  }
});

test("hostile: a closed connection refuses setKeepAlive and getKeepAlive without touching a socket", async () => {
  const runtime = new FakeRuntime();
  const conn = new LiveConnection(runtime, { port: 7000 });
  await conn.opened;
  await conn.close();
  const before = runtime.kernel.total;
  assert.throws(() => conn.setKeepAlive({ idle: 1000 }), ConnectionClosedError);
  assert.throws(() => conn.getKeepAlive(), ConnectionClosedError);
  assert.equal(runtime.kernel.total, before, "no call after close");
  // Validation still comes first, even on a closed connection? The connection refuses first:
  // either error is clear, and nothing is touched.
  assert.throws(() => conn.setKeepAlive({ idle: -1 }), (e: unknown) => e instanceof Error);
  assert.equal(runtime.kernel.total, before);
});

// ---------------------------------------------------------------------------------------------
// Against real sockets, through the public API.

/** Real calls, with every call counted. */
function counting(calls: SocketCalls): SocketCalls & { counts: Record<string, number> } {
  const counts: Record<string, number> = {};
  const wrapped = { counts } as SocketCalls & { counts: Record<string, number> };
  const names = [
    "setsockopt",
    "getsockopt",
    "getsockname",
    "getpeername",
    "poll",
    "listDescriptors",
    "lowestFreeDescriptor",
  ];
  for (const name of names) {
    // deno-lint-ignore no-explicit-any
    if (typeof (calls as any)[name] !== "function") continue;
    counts[name] = 0;
    // deno-lint-ignore no-explicit-any
    (wrapped as any)[name] = (...args: unknown[]) => {
      counts[name]++;
      // deno-lint-ignore no-explicit-any
      return (calls as any)[name](...args);
    };
  }
  return wrapped;
}

test("hostile: on a real socket every option object is refused untouched or read back as documented", async () => {
  await withServer(async (port) => {
    const native = await nativeConnect(port);
    try {
      const socket = native.socket as NativeConnection;
      fc.assert(
        fc.property(anyOptions, (o) => {
          const before = getKeepAlive(socket);
          const v = verdict(o);
          if ("refused" in v) {
            assert.throws(
              () => setKeepAlive(socket, o as KeepAliveOptions),
              (e: unknown) => assertRefusal(e, v),
            );
            assert.deepEqual(getKeepAlive(socket), before, "nothing was set");
            return;
          }
          const got = setKeepAlive(socket, o as KeepAliveOptions);
          assert.deepEqual(got, expectedAfter(before, v.applied), show(o));
          assert.deepEqual(getKeepAlive(socket), got);
        }),
        { numRuns: 150 },
      );
    } finally {
      native.close();
    }
  });
});

test("hostile: non-socket objects as the target -> TypeError", () => {
  fc.assert(
    fc.property(
      fc.oneof(fc.anything(), nonNumbers, fc.constantFrom<unknown>(undefined, 0, 3, -1, NaN)),
      (target) => {
        assert.throws(() => setKeepAlive(target as never, { idle: 1000 }), TypeError);
        assert.throws(() => getKeepAlive(target as never), TypeError);
      },
    ),
    { numRuns: 200 },
  );
});

test("hostile: a connected UDP socket with the addresses asked for is never touched", async () => {
  const a = dgram.createSocket("udp4");
  const b = dgram.createSocket("udp4");
  try {
    await new Promise<void>((resolve) => a.bind(0, "127.0.0.1", () => resolve()));
    await new Promise<void>((resolve) => b.bind(0, "127.0.0.1", () => resolve()));
    await new Promise<void>((resolve) => b.connect(a.address().port, "127.0.0.1", () => resolve()));
    const local = { hostname: "127.0.0.1", port: b.address().port };
    const remote = { hostname: "127.0.0.1", port: a.address().port };
    const calls = counting(realCalls());
    // Every open descriptor is a candidate, as in Deno; one of them is b, with exactly these
    // addresses, but it is not a stream socket.
    const target = () => targetOver(local, remote, () => calls.listDescriptors());
    const udpFd = realCalls().listDescriptors().find((fd) => {
      const buf = new Uint8Array(128);
      return realCalls().getsockname(fd, buf) > 0 && ((buf[2] << 8) | buf[3]) === local.port;
    });
    assert.ok(udpFd !== undefined, "the UDP socket's descriptor is open");
    const keepaliveOf = (fd: number) => {
      const buf = new Uint8Array(4);
      assert.equal(realCalls().getsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, buf), 4);
      return buf[0];
    };
    const before = keepaliveOf(udpFd);
    assert.throws(
      () => setKeepAliveOn(linux, () => calls, target, undefined, { idle: 1000, enabled: true }),
      (e: unknown) => e instanceof SocketOptionError && e.code === "ERR_SOCKET_NOT_FOUND",
    );
    assert.equal(calls.counts.setsockopt, 0, "setsockopt was never called");
    assert.equal(keepaliveOf(udpFd), before);
    // Through the public API: a Deno UDP address is refused by its transport; a Bun socket-like
    // object naming the UDP descriptor is refused after verification.
    const forged = isBun
      ? {
        fd: udpFd,
        localAddress: "127.0.0.1",
        localPort: local.port,
        remoteAddress: "127.0.0.1",
        remotePort: remote.port,
      }
      : { localAddr: { transport: "udp", ...local }, remoteAddr: { transport: "udp", ...remote } };
    assert.throws(
      () => setKeepAlive(forged as never, { idle: 1000 }),
      (e: unknown) =>
        isBun
          ? e instanceof SocketOptionError && e.code === "ERR_SOCKET_NOT_FOUND"
          : e instanceof TypeError,
    );
    assert.equal(keepaliveOf(udpFd), before);
  } finally {
    await new Promise<void>((resolve) => a.close(() => resolve()));
    await new Promise<void>((resolve) => b.close(() => resolve()));
  }
});

test("hostile: a Unix socket -> TypeError, nothing touched", async () => {
  const path = `/tmp/sockalive-hostile-${process.pid}.sock`;
  rmSync(path, { force: true });
  if (isBun) {
    // deno-lint-ignore no-explicit-any
    const Bun = (globalThis as any).Bun;
    const server = Bun.listen({ unix: path, socket: { data() {} } });
    const client = await Bun.connect({ unix: path, socket: { data() {} } });
    try {
      assert.throws(() => setKeepAlive(client, { idle: 1000 }), TypeError);
      assert.throws(() => getKeepAlive(client), TypeError);
    } finally {
      client.end();
      server.stop(true);
    }
    return;
  }
  const listener = Deno.listen({ transport: "unix", path });
  const accepted = listener.accept();
  const client = await Deno.connect({ transport: "unix", path });
  const server = await accepted;
  try {
    assert.throws(() => setKeepAlive(client as never, { idle: 1000 }), TypeError);
    assert.throws(() => getKeepAlive(client as never), TypeError);
  } finally {
    client.close();
    server.close();
    listener.close();
    rmSync(path, { force: true });
  }
});

test("hostile: descriptors that are not sockets (stdin, stdout, stderr) are never touched", () => {
  const calls = counting(realCalls());
  const target = () => targetOver(LOCAL, REMOTE, () => [0, 1, 2]);
  assert.throws(
    () => setKeepAliveOn(linux, () => calls, target, undefined, { idle: 1000 }),
    (e: unknown) => e instanceof SocketOptionError && e.code === "ERR_SOCKET_NOT_FOUND",
  );
  assert.equal(calls.counts.setsockopt, 0);
  assert.ok(calls.counts.getsockname >= 3, "each candidate was checked, and none matched");
});

// `connect` itself with a hostile keepAlive, through the public entry point: refused synchronously.
test("hostile: connect() refuses hostile keepAlive synchronously", () => {
  assert.throws(() => connect({ port: 1, keepAlive: { idle: NaN } }), RangeError);
  assert.throws(() => connect({ port: 1, keepAlive: { idle: "1000" as never } }), TypeError);
  assert.throws(() => connect({ port: 1, keepAlive: { idel: 1000 } as never }), TypeError);
  assert.throws(() => connect({ port: 1, keepAlive: null as never }), TypeError);
  assert.throws(() => connect({ port: 1, keepAlive: 5 as never }), TypeError);
});
