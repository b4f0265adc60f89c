/**
 * The reconnecting client: the backoff arithmetic with an injected random source, the loop driven
 * by scripted fake connections (deterministic), and real sockets against a python peer that goes
 * away and comes back, in whichever runtime runs the tests.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { command, Proc, runtimeCommand, sleep, startPeer, test } from "./harness.ts";
import {
  type CloseInfo,
  type ConnectionState,
  type ConnectOptions,
  type LiveConnection,
  reconnecting,
} from "../mod.ts";
import { backoffDelay, resolveBackoff } from "../src/backoff.ts";
import type { ReconnectingClient } from "../src/reconnect.ts";
import type { ReconnectAttemptEvent, ReconnectStateChangeEvent } from "../src/reconnect_events.ts";

// Child processes (the python peer) are spawned in these tests.
const peerOpts = { sanitize: false, timeout: 10_000 };

/** Returns the numbers given, in turn, as a random source. */
function sequence(...values: number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length];
}

test("backoff: without jitter the caps double from initialDelay up to maxDelay", () => {
  const b = resolveBackoff({ initialDelay: 100, maxDelay: 1000, jitter: "none" });
  assert.deepEqual(
    [0, 1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, b)),
    [100, 200, 400, 800, 1000, 1000, 1000],
  );
  const triple = resolveBackoff({ initialDelay: 10, maxDelay: 100_000, factor: 3, jitter: "none" });
  assert.deepEqual([0, 1, 2, 3].map((n) => backoffDelay(n, triple)), [10, 30, 90, 270]);
  // factor ** retry overflows to Infinity long before retry reaches this; the cap still holds.
  assert.equal(backoffDelay(5000, b), 1000);
  const flat = resolveBackoff({ initialDelay: 250, maxDelay: 250, factor: 1, jitter: "none" });
  assert.deepEqual([0, 1, 9].map((n) => backoffDelay(n, flat)), [250, 250, 250]);
});

test("backoff: full jitter draws uniformly from [0, cap) with the injected random source", () => {
  const b = resolveBackoff({
    initialDelay: 100,
    maxDelay: 1000,
    random: sequence(0, 0.5, 0.999, 0.25, 0.5, 0.999999),
  });
  // caps: 100, 200, 400, 800, 1000, 1000
  assert.deepEqual([0, 1, 2, 3, 4, 5].map((n) => backoffDelay(n, b)), [0, 100, 399, 200, 500, 999]);
  // Math.random by default: always within [0, cap).
  const real = resolveBackoff({ initialDelay: 100, maxDelay: 1000 });
  for (let n = 0; n < 200; n++) {
    const d = backoffDelay(n % 8, real);
    assert.ok(d >= 0 && d < Math.min(1000, 100 * 2 ** (n % 8)), `delay ${d} for retry ${n % 8}`);
    assert.ok(Number.isInteger(d));
  }
  const broken = resolveBackoff({ random: () => 1 });
  assert.throws(() => backoffDelay(0, broken), /"random" must return a number in \[0, 1\)/);
  assert.throws(() => backoffDelay(-1, real), RangeError);
});

test("backoff: defaults, and bad options are refused with TypeError or RangeError", () => {
  const d = resolveBackoff();
  assert.equal(d.initialDelay, 1000);
  assert.equal(d.maxDelay, 30_000);
  assert.equal(d.factor, 2);
  assert.equal(d.jitter, "full");
  assert.equal(d.maxAttempts, Infinity);
  assert.equal(d.random, Math.random);
  const cases: Array<[unknown, ErrorConstructor, RegExp]> = [
    [{ initialDelay: 0 }, RangeError, /^Cannot reconnect: "initialDelay" must be more than 0/],
    [{ initialDelay: "1s" }, TypeError, /"initialDelay" must be a number of milliseconds/],
    [{ maxDelay: 2 ** 31 }, RangeError, /"maxDelay" must be more than 0 and at most 2147483647/],
    [
      { initialDelay: 500, maxDelay: 100 },
      RangeError,
      /"maxDelay" must be at least "initialDelay"/,
    ],
    [{ factor: 0.5 }, RangeError, /"factor" must be a finite number of at least 1, got 0.5/],
    [{ factor: NaN }, TypeError, /"factor" must be a number/],
    [{ jitter: "equal" }, TypeError, /"jitter" must be "full" or "none", got "equal"/],
    [{ maxAttempts: 0 }, RangeError, /"maxAttempts" must be an integer of at least 1/],
    [{ maxAttempts: 1.5 }, RangeError, /"maxAttempts"/],
    [{ random: 4 }, TypeError, /"random" must be a function/],
    [{ delay: 4 }, TypeError, /unknown option "delay"/],
    [[], TypeError, /"reconnect" must be an object/],
  ];
  for (const [options, type, message] of cases) {
    assert.throws(() => resolveBackoff(options as never), (e: unknown) => {
      assert.ok(e instanceof type, `${JSON.stringify(options)}: ${e}`);
      assert.match((e as Error).message, message);
      return true;
    });
  }
  assert.equal(
    resolveBackoff({ maxAttempts: Infinity, initialDelay: undefined }).initialDelay,
    1000,
  );
});

/** A scripted stand-in for LiveConnection: the test decides when it opens and how it ends. */
class FakeConnection {
  state: ConnectionState = "connecting";
  readonly opened: Promise<void>;
  readonly closed: Promise<CloseInfo>;
  #resolveOpened!: () => void;
  #rejectOpened!: (e: unknown) => void;
  #resolveClosed!: (info: CloseInfo) => void;
  #listeners: Array<(e: unknown) => void> = [];
  #timers = new Set<ReturnType<typeof setTimeout>>();

  constructor(readonly options: ConnectOptions) {
    this.opened = new Promise((res, rej) => {
      this.#resolveOpened = res;
      this.#rejectOpened = rej;
    });
    this.opened.catch(() => {});
    this.closed = new Promise((res) => (this.#resolveClosed = res));
  }

  /** Runs `fn` after `ms` unless the connection has ended by then (no timer outlives it). */
  later(fn: () => void, ms: number): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      fn();
    }, ms);
    this.#timers.add(timer);
  }

  addEventListener(_type: "statechange", listener: (e: unknown) => void): void {
    this.#listeners.push(listener);
  }

  open(): void {
    if (this.state !== "connecting") return;
    this.#go("open");
    this.#resolveOpened();
  }

  end(info: Omit<CloseInfo, "at">): void {
    if (this.state === "closed-gracefully" || this.state === "broken") return;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    const full = { ...info, at: Date.now() };
    this.#go(info.state, full);
    this.#rejectOpened(new Error(info.code ?? "closed"));
    this.#resolveClosed(full);
  }

  close(): Promise<CloseInfo> {
    this.end({ state: "closed-gracefully", by: "local" });
    return this.closed;
  }

  #go(to: ConnectionState, info?: CloseInfo): void {
    const event = { from: this.state, to, at: Date.now(), info };
    this.state = to;
    for (const l of this.#listeners) l(event);
  }
}

type Step = (c: FakeConnection) => void;
const refuse: Step = (c) => c.later(() => c.end({ state: "broken", code: "ECONNREFUSED" }), 1);
const openThenBreak = (ms: number): Step => (c) => {
  c.later(() => c.open(), 1);
  c.later(() => c.end({ state: "broken", code: "ECONNRESET" }), ms);
};
const openAndStay: Step = (c) => c.later(() => c.open(), 1);

/** A connect function that plays `steps` in order, then refuses. */
function scripted(steps: Step[]) {
  const made: FakeConnection[] = [];
  const connectFn = (options: ConnectOptions) => {
    const c = new FakeConnection(options);
    made.push(c);
    (steps[made.length - 1] ?? refuse)(c);
    return c as unknown as LiveConnection;
  };
  return { connectFn, made };
}

function recordEvents(client: ReconnectingClient) {
  const log: string[] = [];
  client.addEventListener("attempt", (e) => log.push(`attempt ${e.attempt} after ${e.delay}`));
  client.addEventListener("connection", (e) => log.push(`connection at attempt ${e.attempt}`));
  client.addEventListener("statechange", (e) => {
    log.push(`${e.from}->${e.to}${e.info?.code ? ` ${e.info.code}` : ""}`);
  });
  client.addEventListener("giveup", (e) => log.push(`giveup after ${e.attempts} ${e.last.code}`));
  return log;
}

test("reconnecting: the backoff sequence, reset after a connection opened", async () => {
  const { connectFn, made } = scripted([refuse, refuse, refuse, openThenBreak(20), refuse]);
  const client = reconnecting({
    port: 7000,
    keepAlive: { idle: 1000 },
    connectTimeout: 500,
    reconnect: { initialDelay: 10, maxDelay: 30, random: () => 0.5 },
  }, connectFn);
  const log = recordEvents(client);
  const yielded: LiveConnection[] = [];
  for await (const conn of client) {
    yielded.push(conn);
    break; // leaving the loop closes the client
  }
  assert.deepEqual((await client.stopped).reason, "close");
  assert.equal(yielded.length, 1);
  assert.equal(yielded[0], made[3] as unknown);
  // Options reach connect as given, without the client's own.
  assert.deepEqual(made[0].options, { port: 7000, keepAlive: { idle: 1000 }, connectTimeout: 500 });
  assert.deepEqual(log.slice(0, 9), [
    "attempt 1 after 0",
    "connecting->broken ECONNREFUSED",
    "attempt 2 after 5", // cap 10
    "connecting->broken ECONNREFUSED",
    "attempt 3 after 10", // cap 20
    "connecting->broken ECONNREFUSED",
    "attempt 4 after 15", // cap 30 (maxDelay)
    "connecting->open",
    "connection at attempt 4",
  ]);
  // Leaving the loop closed the open connection locally, so nothing broke and nothing followed.
  assert.deepEqual(log.slice(9), ["open->closed-gracefully"]);
  assert.equal(made.length, 4);
});

test("reconnecting: after a break the count and the cap start again; peer FIN also redials", async () => {
  const { connectFn, made } = scripted([
    openThenBreak(5),
    refuse,
    (c) => {
      c.later(() => c.open(), 1);
      c.later(() => c.end({ state: "closed-gracefully", by: "peer" }), 5);
    },
    openAndStay,
  ]);
  const client = reconnecting({
    port: 7000,
    reconnect: { initialDelay: 8, maxDelay: 1000, factor: 4, random: () => 0.5 },
  }, connectFn);
  const log = recordEvents(client);
  const got: LiveConnection[] = [];
  for await (const conn of client) {
    got.push(conn);
    if (got.length === 3) break;
  }
  assert.deepEqual(got, [made[0], made[2], made[3]] as unknown[]);
  assert.deepEqual(log.filter((l) => l.startsWith("attempt") || l.startsWith("connection")), [
    "attempt 1 after 0",
    "connection at attempt 1",
    "attempt 1 after 4", // after the break: cap 8
    "attempt 2 after 16", // cap 32
    "connection at attempt 2",
    "attempt 1 after 4", // after the peer's FIN: cap 8 again
    "connection at attempt 1",
  ]);
});

test("reconnecting: maxAttempts failures in a row give up with an event; the loop ends", async () => {
  const { connectFn, made } = scripted([]);
  const client = reconnecting({
    port: 7000,
    reconnect: { initialDelay: 2, maxAttempts: 3, jitter: "none" },
  }, connectFn);
  const log = recordEvents(client);
  const got: LiveConnection[] = [];
  for await (const conn of client) got.push(conn);
  assert.equal(got.length, 0);
  const stopped = await client.stopped;
  assert.equal(stopped.reason, "giveup");
  assert.equal(stopped.attempts, 3);
  assert.equal(stopped.last?.code, "ECONNREFUSED");
  assert.equal(made.length, 3);
  assert.deepEqual(log.filter((l) => !l.includes("->")), [
    "attempt 1 after 0",
    "attempt 2 after 2",
    "attempt 3 after 4",
    "giveup after 3 ECONNREFUSED",
  ]);
});

test("reconnecting: close() during a long wait stops at once; no attempt follows", async () => {
  const { connectFn, made } = scripted([]);
  const client = reconnecting(
    { port: 7000, reconnect: { initialDelay: 60_000, maxDelay: 60_000 } },
    connectFn,
  );
  await made[0].closed;
  await new Promise((r) => setTimeout(r, 5));
  const started = Date.now();
  const stopped = await client.close();
  assert.ok(Date.now() - started < 100);
  assert.equal(stopped.reason, "close");
  assert.equal(made.length, 1);
  assert.deepEqual(await client.close(), stopped, "closing again returns the same outcome");
});

test("reconnecting: closing a connection you were given stops the client", async () => {
  const { connectFn, made } = scripted([openAndStay]);
  await using client = reconnecting({ port: 7000, reconnect: { initialDelay: 1 } }, connectFn);
  for await (const conn of client) {
    await conn.close();
  }
  const stopped = await client.stopped;
  assert.equal(stopped.reason, "local");
  assert.equal(stopped.last?.by, "local");
  assert.equal(made.length, 1);
});

test("reconnecting: options are checked up front, before any connect", () => {
  let calls = 0;
  const connectFn = () => {
    calls++;
    throw new Error("not reached");
  };
  assert.throws(
    () => reconnecting({ port: 7000, reconnect: { maxDelay: -1 } }, connectFn),
    /^RangeError: Cannot reconnect: "maxDelay" must be more than 0/,
  );
  assert.throws(() => reconnecting({ port: 7000, reconnect: { jitter: "x" as never } }), TypeError);
  assert.throws(() => reconnecting({ port: 7000 }, 5 as never), /connect function/);
  assert.throws(() => reconnecting(null as never), TypeError);
  assert.equal(calls, 0);
  assert.throws(() => reconnecting({ port: 70000 }), /"port" must be an integer from 1 to 65535/);
  // Keepalive's ranges are the platform's, checked by connect on the first attempt, made
  // synchronously, so they throw here too.
  assert.throws(() => reconnecting({ port: 7000, keepAlive: { count: 0 } }), RangeError);
});

test("reconnecting: an already-aborted signal stops it before any attempt", async () => {
  const { connectFn, made } = scripted([]);
  const client = reconnecting({ port: 7000, signal: AbortSignal.abort() }, connectFn);
  assert.equal((await client.stopped).reason, "abort");
  assert.equal(made.length, 0);
  for await (const _ of client) assert.fail("nothing to yield");
});

// Real sockets from here on.

async function freePort(): Promise<number> {
  const { peer, port } = await startPeer();
  await peer.kill();
  return port;
}

function attemptsOf(client: ReconnectingClient): ReconnectAttemptEvent[] {
  const seen: ReconnectAttemptEvent[] = [];
  client.addEventListener("attempt", (e) => seen.push(e));
  return seen;
}

function transitionsOf(client: ReconnectingClient): ReconnectStateChangeEvent[] {
  const seen: ReconnectStateChangeEvent[] = [];
  client.addEventListener("statechange", (e) => seen.push(e));
  return seen;
}

test("reconnecting: a peer that goes away and comes back on the same port", async () => {
  let { peer, port } = await startPeer();
  const peers: Proc[] = [peer];
  const controller = new AbortController();
  try {
    const client = reconnecting({
      port,
      keepAlive: { idle: 1000, interval: 1000, count: 3 },
      reconnect: { initialDelay: 50, maxDelay: 200 },
      signal: controller.signal,
    });
    const attempts = attemptsOf(client);
    const transitions = transitionsOf(client);
    const iterator = client[Symbol.asyncIterator]();
    const first = (await iterator.next()).value as LiveConnection;
    assert.equal(first.state, "open");
    assert.equal(first.keepAlive?.idle, 1000);
    await peer.waitFor(/^ACCEPTED/);

    // The peer resets and dies: the connection breaks, and attempts are refused with backoff.
    // Its listener goes first: an attempt made while it is dying would otherwise complete in
    // the listener's backlog, open, and start the attempts over. It is held alive a while after
    // the reset, so that attempts always come while it is dying (they did only now and then).
    await command(peer, "unlisten");
    await command(peer, "reset");
    await sleep(150);
    await peer.kill();
    assert.equal((await first.closed).code, "ECONNRESET");
    while (attempts.length < 4) await new Promise((r) => setTimeout(r, 20));
    const refused = transitions.filter((t) => t.info?.code === "ECONNREFUSED");
    assert.ok(refused.length >= 2, `refused attempts: ${refused.length}`);
    // attempt 1 after the break waits up to 50 ms, attempt 2 up to 100, then up to 200.
    for (const [i, a] of attempts.slice(1).entries()) {
      const cap = Math.min(200, 50 * 2 ** Math.min(i, 10));
      assert.ok(a.delay >= 0 && a.delay < cap, `attempt ${a.attempt}: ${a.delay} ms, cap ${cap}`);
      assert.equal(a.attempt, i + 1);
    }

    // The peer comes back on the same port: the next attempt opens a new connection.
    ({ peer } = await startPeer("127.0.0.1", port));
    peers.push(peer);
    const second = (await iterator.next()).value as LiveConnection;
    assert.notEqual(second, first);
    assert.equal(second.state, "open");
    assert.equal(second.remoteAddr?.port, port);
    await peer.waitFor(/^ACCEPTED/);
    assert.deepEqual(
      transitions.filter((t) => t.connection === first).map((t) => `${t.from}->${t.to}`),
      ["connecting->open", "open->broken"],
    );

    controller.abort();
    const stopped = await client.stopped;
    assert.equal(stopped.reason, "abort");
    assert.equal((await second.closed).by, "local");
    assert.equal((await iterator.next()).done, true);
  } finally {
    for (const p of peers) await p.kill();
  }
}, peerOpts);

test("reconnecting: abort stops the attempts against a port nobody listens on", async () => {
  const port = await freePort();
  const controller = new AbortController();
  const client = reconnecting({
    port,
    reconnect: { initialDelay: 20, maxDelay: 40 },
    signal: controller.signal,
  });
  const attempts = attemptsOf(client);
  while (attempts.length < 3) await new Promise((r) => setTimeout(r, 10));
  controller.abort();
  const stopped = await client.stopped;
  assert.equal(stopped.reason, "abort");
  const count = attempts.length;
  await new Promise((r) => setTimeout(r, 150));
  assert.equal(attempts.length, count, "no attempt after the abort");
  assert.ok(client.connection === undefined || client.connection.state !== "open");
}, peerOpts);

test("reconnecting: abort while open closes the connection; the peer sees FIN", async () => {
  const { peer, port } = await startPeer();
  try {
    const controller = new AbortController();
    const client = reconnecting({ port, signal: controller.signal });
    const iterator = client[Symbol.asyncIterator]();
    const conn = (await iterator.next()).value as LiveConnection;
    await peer.waitFor(/^ACCEPTED/);
    await command(peer, "read");
    controller.abort();
    assert.equal((await client.stopped).reason, "abort");
    const info = await conn.closed;
    assert.equal(info.state, "closed-gracefully");
    assert.equal(info.by, "local");
    await peer.waitFor(/^EOF 0$/);
  } finally {
    await peer.kill();
  }
}, peerOpts);

test(
  "reconnecting: maxAttempts against a real refused port gives up with ECONNREFUSED",
  async () => {
    const port = await freePort();
    const client = reconnecting({ port, reconnect: { initialDelay: 10, maxAttempts: 3 } });
    const attempts = attemptsOf(client);
    const giveup = new Promise<{ attempts: number; code?: string }>((resolve) =>
      client.addEventListener("giveup", (e) => resolve({ attempts: e.attempts, code: e.last.code }))
    );
    const yielded: LiveConnection[] = [];
    for await (const conn of client) yielded.push(conn);
    assert.equal(yielded.length, 0);
    assert.deepEqual(await giveup, { attempts: 3, code: "ECONNREFUSED" });
    assert.deepEqual(attempts.map((a) => a.attempt), [1, 2, 3]);
    assert.equal((await client.stopped).reason, "giveup");
  },
  peerOpts,
);

/** The code of the `@example` in the JSDoc right before `declaration` in `file`. */
function exampleBefore(file: URL, declaration: string): string {
  const source = readFileSync(file, "utf8");
  const doc = source.slice(0, source.indexOf(declaration));
  const start = doc.lastIndexOf("```ts");
  const body = doc.slice(doc.indexOf("\n", start) + 1, doc.lastIndexOf(" * ```"));
  return body.split("\n").map((line) => line.replace(/^ \* ?/, "")).join("\n");
}

test(
  "reconnect: the ReconnectingClient example (what JSR shows) survives the resets it invites",
  async () => {
    // Every connection gets a line, then a reset.
    let served = 0;
    const server = net.createServer((socket) => {
      served++;
      socket.on("error", () => {});
      socket.write("hello\n", () => setTimeout(() => socket.resetAndDestroy(), 20));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as net.AddressInfo).port;
    const code = exampleBefore(
      new URL("../src/reconnect.ts", import.meta.url),
      "export class ReconnectingClient",
    );
    assert.match(code, /port: 7000/);
    const dir = mkdtempSync(join(tmpdir(), "sockalive-example-"));
    const script = join(dir, "example.ts");
    const entry = fileURLToPath(new URL("../mod.ts", import.meta.url));
    writeFileSync(
      script,
      code.replaceAll('"@sockalive/sockalive"', JSON.stringify(entry)).replace(
        "port: 7000",
        `port: ${port}`,
      ),
    );
    const child = new Proc(runtimeCommand(script));
    try {
      // The client dials again after each reset (backoff: up to 1 s, then 2 s, ...).
      // With the backoff's jitter two dials can fall inside one 50 ms poll, so the served count
      // is at least 3 by the time it is seen, not exactly 3.
      const ended = () => child.lines.filter((line) => /^ended: broken ECONNRESET/.test(line));
      const deadline = Date.now() + 8_000;
      while (
        (served < 3 || ended().length < 2) && child.child.exitCode === null &&
        Date.now() < deadline
      ) await sleep(50);
      assert.equal(child.child.exitCode, null, `the example exited:\n${child.stderr}`);
      assert.ok(served >= 3, `connections served: ${served}`);
      assert.ok(ended().length >= 2, `the example's own lines:\n${child.lines.join("")}`);
      assert.doesNotMatch(child.stderr, /Uncaught|error/i);
      assert.ok(child.lines.filter((line) => line === "hello\n" || line === "hello").length >= 2);
    } finally {
      await child.kill();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    }
  },
  { sanitize: false, timeout: 15_000 },
);
