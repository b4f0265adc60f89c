/**
 * Properties an adversarial review found to hold, kept as tests so they stay true through a
 * redesign. Each runs in Deno and in Bun against in-process node:net peers on loopback, and
 * prints one "HELD | ..." line with its size, seed and time.
 *
 * Sizes: the defaults keep each test under ~20 s in CI; SOCKALIVE_HELD=full runs the review's
 * full sizes (given in brackets). SOCKALIVE_HELD_SEED=n repeats a run's random choices (the seed
 * is printed; timing still varies).
 *
 * 1. Large transfers, 32 MiB [256 MiB], arrive intact, read through `readable`, through `read()`
 *    with one reused buffer and through a BYOB reader with one reused buffer; each with the
 *    peer's FIN right after the data (every byte, sha256 equal, `closed-gracefully` by peer) and
 *    with its RST right after the data: what arrives is an exact prefix of what was sent (sha256
 *    of the prefix equal), then the reader fails and `closed` is `broken`, both ECONNRESET. No
 *    byte count is promised with RST: what is still queued at the peer when it resets is
 *    discarded by its kernel. Then a slow reader with maxBufferedBytes 64 KiB over 8 MiB: intact,
 *    and never more than the limit plus one read held unread.
 * 2. 1,500 [15,000] random interleavings (seeded) of local close(), signal abort, peer FIN and
 *    peer RST at small delays around open: each connection has exactly one terminal
 *    `statechange`, `closed` settles once with that event's info, nothing changes after it (more
 *    close() and abort change nothing), `opened` settles (resolved exactly when it opened), and
 *    the outcome has a cause that happened.
 *    Two bugs these races found are held by tests of their own, last in the file, which fail
 *    in Deno today (Bun passes both):
 *    - a peer that resets just after accept (the next turn, or 0-2 ms later; 64 connects at a
 *      time, 2,000 [10,000] in all) must be reported `broken` ECONNRESET (README, fault matrix);
 *      Deno reports some as `broken` ERR_SOCKET_NOT_FOUND;
 *    - 1,200 [6,000] connections closed or aborted while connecting (at once, a microtask or
 *      0-3 ms later) must leave no descriptor open; in Deno some leave their socket open for
 *      good (ESTABLISHED with the peer, or CLOSE_WAIT once it closes).
 * 3. Descriptor churn: 2,000 [20,000] connections, each with options unique to it, open and
 *    close (locally or by peer reset) while the process keeps creating and closing UDP sockets
 *    (bound to a connection's own local port where one is open, and connected to the server, so
 *    they have the very addresses of a TCP connection: Bun; Deno's node:dgram does not connect
 *    in the kernel), Unix sockets, and plain TCP clients of the same server with their accepted
 *    sockets. Every socket of the process is read with getsockopt through the project's FFI
 *    every 3 ms and before each foreign socket closes: only a connection's own socket carries its
 *    options, each connection carries exactly its own, everything else the kernel's defaults.
 * 4. Reconnect cycles: `reconnecting()` (backoff capped at 1 ms, so every wait is 0 ms) against
 *    a peer that accepts and at once closes (FIN) or resets (RST), half each, until 3,000
 *    [34,000] connections have opened (about twice as many attempts: many resets land before
 *    open). Every attempt ends exactly once, and the process's open descriptors come back to
 *    where they started.
 */
import assert from "node:assert/strict";
import { createHash, type Hash } from "node:crypto";
import dgram from "node:dgram";
import { readFileSync, rmSync } from "node:fs";
import net from "node:net";
import process from "node:process";
import { isBun, openDescriptors, preloadFfi, realCalls, sleep, test } from "./harness.ts";
import { connect, ConnectionClosedError, type LiveConnection, reconnecting } from "../mod.ts";
import type { SocketCalls } from "../ffi/types.ts";
import {
  AF_INET,
  AF_INET6,
  IPPROTO_TCP,
  SO_COOKIE,
  SO_KEEPALIVE,
  SO_TYPE,
  SOCK_STREAM,
  SOL_SOCKET,
  TCP_KEEPCNT,
  TCP_KEEPIDLE,
  TCP_KEEPINTVL,
  TCP_USER_TIMEOUT,
} from "../ffi/linux.ts";

preloadFfi();

const FULL = process.env.SOCKALIVE_HELD === "full";
const RUNTIME = isBun ? "Bun" : "Deno";
const MiB = 1 << 20;
const s = (since: number) => ((performance.now() - since) / 1000).toFixed(2);

/** Waits until `done()` holds, at most `ms`. */
async function until(done: () => boolean, ms = 2000): Promise<void> {
  for (const end = Date.now() + ms; !done() && Date.now() < end;) await sleep(10);
}

// ---------------------------------------------------------------------------------------------
// 1. Large transfers.

const TRANSFER_BYTES = (FULL ? 256 : 32) * MiB;
const SLOW_BYTES = 8 * MiB;
const SLOW_MAX_BUFFERED = 64 * 1024;
const BLOCK = 64 * 1024;

/**
 * Block `k` of a deterministic, non-repeating byte stream (xorshift32 seeded per block), so that
 * any prefix can be generated again to be hashed, and a lost, doubled or reordered block changes
 * the hash.
 */
function block(k: number): Uint8Array {
  const words = new Uint32Array(BLOCK / 4);
  let x = (0x9e3779b9 ^ Math.imul(k + 1, 0x85ebca6b)) >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x >>> 0;
  }
  return new Uint8Array(words.buffer);
}

/** sha256 of the stream's first `n` bytes, generated again block by block. */
function prefixDigest(n: number): string {
  const hash = createHash("sha256");
  for (let k = 0, left = n; left > 0; k++, left -= BLOCK) {
    const b = block(k);
    hash.update(left >= BLOCK ? b : b.subarray(0, left));
  }
  return hash.digest("hex");
}

type Ending = "fin" | "rst";

/**
 * A peer that, on each connection, writes `size` bytes of the stream (waiting for drain), then
 * FIN (end) or RST (resetAndDestroy) as soon as the last write has been handed to its kernel.
 * Resolves `sent` with how many bytes it wrote and their sha256.
 */
async function startSender(size: number, ending: Ending): Promise<{
  port: number;
  sent: Promise<{ bytes: number; sha256: string }>;
  close(): Promise<void>;
}> {
  const sockets = new Set<net.Socket>();
  let resolveSent!: (v: { bytes: number; sha256: string }) => void;
  const sent = new Promise<{ bytes: number; sha256: string }>((r) => (resolveSent = r));
  const server = net.createServer(async (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    const hash = createHash("sha256");
    let bytes = 0;
    for (let k = 0; bytes < size; k++) {
      const b = block(k);
      const chunk = size - bytes >= BLOCK ? b : b.subarray(0, size - bytes);
      hash.update(chunk);
      bytes += chunk.byteLength;
      if (bytes === size) {
        // The last write: its callback runs once node has handed it to the kernel.
        await new Promise<void>((resolve) => socket.write(chunk, () => resolve()));
      } else if (!socket.write(chunk)) {
        await new Promise<void>((resolve) => socket.once("drain", () => resolve()));
      }
    }
    if (ending === "fin") socket.end();
    else socket.resetAndDestroy();
    resolveSent({ bytes, sha256: hash.digest("hex") });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    sent,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

type Way = "readable" | "read()" | "byob";

/** Reads the connection to its end the way asked, hashing as it goes. */
async function receive(
  conn: LiveConnection,
  way: Way,
  hash: Hash,
): Promise<{ bytes: number; error?: unknown }> {
  let bytes = 0;
  try {
    if (way === "readable") {
      for await (const chunk of conn.readable) {
        hash.update(chunk);
        bytes += chunk.byteLength;
      }
    } else if (way === "read()") {
      const buffer = new Uint8Array(64 * 1024);
      for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) {
        hash.update(buffer.subarray(0, n));
        bytes += n;
      }
    } else {
      const reader = conn.readable.getReader({ mode: "byob" });
      let buffer = new ArrayBuffer(64 * 1024);
      for (;;) {
        const { value, done } = await reader.read(new Uint8Array(buffer));
        if (done) break;
        assert.equal(value.buffer.byteLength, 64 * 1024, "the reader's own buffer comes back");
        hash.update(value);
        bytes += value.byteLength;
        buffer = value.buffer;
      }
    }
  } catch (error) {
    return { bytes, error };
  }
  return { bytes };
}

for (const ending of ["fin", "rst"] as const) {
  for (const way of ["readable", "read()", "byob"] as const) {
    const mib = TRANSFER_BYTES / MiB;
    const name = ending === "fin"
      ? `held: ${mib} MiB then FIN through ${way}: every byte, sha256 equal, closed-gracefully`
      : `held: ${mib} MiB then RST through ${way}: an exact prefix (sha256), broken ECONNRESET`;
    test(name, async () => {
      const sender = await startSender(TRANSFER_BYTES, ending);
      try {
        const started = performance.now();
        const conn = connect({ port: sender.port });
        await conn.opened;
        const hash = createHash("sha256");
        const got = await receive(conn, way, hash);
        const info = await conn.closed;
        const sent = await sender.sent;
        const sha256 = hash.digest("hex");
        console.log(
          `HELD transfer | ${RUNTIME} | ${way} | ${ending} | sent ${sent.bytes} | got ${got.bytes}` +
            ` | ${s(started)} s`,
        );
        assert.equal(sent.bytes, TRANSFER_BYTES);
        assert.equal(conn.bytesRead, got.bytes, "every byte taken from the kernel was delivered");
        if (ending === "fin") {
          assert.equal(got.error, undefined);
          assert.equal(got.bytes, TRANSFER_BYTES);
          assert.equal(sha256, sent.sha256, "sha256 of what arrived equals what was sent");
          assert.deepEqual([info.state, info.by], ["closed-gracefully", "peer"]);
        } else {
          assert.ok(got.bytes <= sent.bytes);
          assert.equal(
            sha256,
            prefixDigest(got.bytes),
            "what arrived is a prefix of what was sent",
          );
          assert.ok(
            got.error instanceof ConnectionClosedError && got.error.code === "ECONNRESET",
            `the reader ends with ECONNRESET, got ${got.error}`,
          );
          assert.deepEqual([info.state, info.code], ["broken", "ECONNRESET"]);
        }
      } finally {
        await sender.close();
      }
    }, { timeout: FULL ? 300_000 : 20_000 });
  }
}

test(
  `held: a slow reader with maxBufferedBytes ${SLOW_MAX_BUFFERED} gets ${
    SLOW_BYTES / MiB
  } MiB intact`,
  async () => {
    const sender = await startSender(SLOW_BYTES, "fin");
    try {
      const started = performance.now();
      const conn = connect({ port: sender.port, maxBufferedBytes: SLOW_MAX_BUFFERED });
      await conn.opened;
      const hash = createHash("sha256");
      let bytes = 0;
      let held = 0;
      let chunks = 0;
      let largest = 0;
      for await (const chunk of conn.readable) {
        hash.update(chunk);
        bytes += chunk.byteLength;
        chunks++;
        largest = Math.max(largest, chunk.byteLength);
        // Slower than the sender throughout: 1 ms per 16 KiB taken (about 0.5 s for 8 MiB).
        await sleep(Math.ceil(chunk.byteLength / (16 * 1024)));
        held = Math.max(held, conn.bytesRead - bytes);
      }
      const info = await conn.closed;
      const sent = await sender.sent;
      console.log(
        `HELD slow reader | ${RUNTIME} | ${bytes} bytes in ${chunks} chunks (largest ${largest}) | held at most ${held}` +
          ` | ${s(started)} s`,
      );
      assert.equal(bytes, SLOW_BYTES);
      assert.equal(hash.digest("hex"), sent.sha256);
      // Past the limit sockalive stops taking bytes from the kernel: it holds at most the limit
      // plus the read that crossed it (a read's size is the runtime's: up to 512 KiB here).
      assert.ok(
        held <= SLOW_MAX_BUFFERED + largest,
        `held ${held} bytes unread, limit ${SLOW_MAX_BUFFERED}, largest read ${largest}`,
      );
      assert.deepEqual([info.state, info.by], ["closed-gracefully", "peer"]);
    } finally {
      await sender.close();
    }
  },
  { timeout: 20_000 },
);

// ---------------------------------------------------------------------------------------------
// 2. Races between local close, abort, peer FIN and peer RST, around open.

const RACES = FULL ? 15_000 : 1_500;
const RACE_CONCURRENCY = 16;

/** mulberry32: a small seeded PRNG, so a failing run can be told by its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

const SEED = Number(process.env.SOCKALIVE_HELD_SEED ?? (Date.now() % 2 ** 31));

/** When something is done: at once, a microtask later, or after a timer of 0 to 3 ms. */
type When = "sync" | "microtask" | 0 | 1 | 2 | 3;
const WHENS: readonly When[] = ["sync", "microtask", 0, 1, 2, 3];

function at(when: When, fn: () => void): void {
  if (when === "sync") fn();
  else if (when === "microtask") queueMicrotask(fn);
  else setTimeout(fn, when);
}

/** What the peer does with the connection it accepts, and when. */
interface PeerPlan {
  action: "none" | "fin" | "rst";
  when: When;
}

/**
 * The peer's plan for a connection, a function of the seed and the client's port only, so the
 * client can tell afterwards what its peer did without any bookkeeping that a reused port
 * could confuse.
 */
function peerPlan(seed: number, clientPort: number): PeerPlan {
  const r = prng((seed ^ Math.imul(clientPort, 0x9e3779b1)) >>> 0);
  r();
  const x = r();
  return {
    action: x < 0.25 ? "none" : x < 0.6 ? "fin" : "rst",
    when: WHENS[Math.floor(r() * WHENS.length)],
  };
}

/** What this side does, and when: measured from connect() or from the open event. */
interface LocalPlan {
  close?: { from: "connect" | "open"; when: When };
  abort?: { from: "connect" | "open"; when: When };
}

function localPlan(r: () => number): LocalPlan {
  const pick = () => ({
    from: r() < 0.5 ? "connect" as const : "open" as const,
    when: WHENS[Math.floor(r() * WHENS.length)],
  });
  const x = r();
  // Always at least one local action: a peer that does nothing must not leave it open forever.
  if (x < 0.4) return { close: pick() };
  if (x < 0.8) return { abort: pick() };
  return { close: pick(), abort: pick() };
}

test(
  `held: ${RACES} random close/abort/FIN/RST races each end exactly once (seed printed)`,
  async () => {
    const sockets = new Set<net.Socket>();
    const server = net.createServer((socket) => {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
      socket.on("error", () => {});
      const plan = peerPlan(SEED, socket.remotePort!);
      if (plan.action === "fin") at(plan.when, () => socket.end());
      else if (plan.action === "rst") at(plan.when, () => socket.resetAndDestroy());
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", 511, resolve));
    const port = (server.address() as net.AddressInfo).port;
    const random = prng(SEED);
    const outcomes = new Map<string, number>();
    const failures: string[] = [];
    const started = performance.now();
    console.log(`HELD races | ${RUNTIME} | seed ${SEED} (SOCKALIVE_HELD_SEED=${SEED} repeats it)`);

    const race = async (i: number, plan: LocalPlan) => {
      const controller = new AbortController();
      const conn = connect({
        port,
        keepAlive: { idle: 5000, interval: 1000, count: 3 },
        signal: controller.signal,
      });
      const events: Array<{ from: string; to: string; info?: unknown }> = [];
      let closeCalled = false;
      let abortedWhile: string | undefined;
      let terminalSaw: { closeCalled: boolean; abortedWhile?: string } | undefined;
      const doClose = () => {
        closeCalled = true;
        void conn.close();
      };
      const doAbort = () => {
        abortedWhile ??= conn.state;
        controller.abort();
      };
      conn.addEventListener("statechange", (e) => {
        events.push({ from: e.from, to: e.to, info: e.info });
        if (e.to === "closed-gracefully" || e.to === "broken") {
          terminalSaw = { closeCalled, abortedWhile };
        }
        if (e.to === "open") {
          if (plan.close?.from === "open") at(plan.close.when, doClose);
          if (plan.abort?.from === "open") at(plan.abort.when, doAbort);
        }
      });
      if (plan.close?.from === "connect") at(plan.close.when, doClose);
      if (plan.abort?.from === "connect") at(plan.abort.when, doAbort);
      let openedSettled: "resolved" | "rejected" | undefined;
      conn.opened.then(() => (openedSettled = "resolved"), () => (openedSettled = "rejected"));

      const fail = (why: string) =>
        failures.push(
          `#${i} ${JSON.stringify(plan)} events ${
            JSON.stringify(events.map((e) => `${e.from}->${e.to}`))
          }: ${why}`,
        );
      const bound = setTimeout(() => fail("did not end within 5 s"), 5000);
      const info = await conn.closed;
      clearTimeout(bound);
      const again = await conn.closed;
      // After the end: more of everything, which must change nothing.
      void conn.close();
      controller.abort();
      await sleep(2);
      for (let k = 0; k < 50 && openedSettled === undefined; k++) await sleep(2);

      const path = events.map((e) => `${e.from}->${e.to}`).join(",");
      const terminal = events.filter((e) => e.to === "closed-gracefully" || e.to === "broken");
      if (terminal.length !== 1) return fail(`${terminal.length} terminal events`);
      if (
        path !== `connecting->${info.state}` && path !== `connecting->open,open->${info.state}`
      ) return fail(`path ${path}, closed says ${info.state}`);
      try {
        assert.deepEqual(terminal[0].info, info, "the event's info is closed's");
        assert.deepEqual(again, info, "closed settles once");
      } catch (e) {
        return fail(String(e));
      }
      if (conn.state !== info.state) return fail(`state ${conn.state} after ${info.state}`);
      const wasOpen = events[0].to === "open";
      if (openedSettled !== (wasOpen ? "resolved" : "rejected")) {
        return fail(`opened ${openedSettled ?? "never settled"}, open seen ${wasOpen}`);
      }
      // The outcome has a cause that happened.
      const peer = conn.localAddr ? peerPlan(SEED, conn.localAddr.port) : undefined;
      const key = `${info.state}/${info.by ?? info.code}`;
      const saw = terminalSaw!;
      const ok = key === "closed-gracefully/local"
        ? saw.closeCalled || saw.abortedWhile === "open"
        : key === "broken/ABORTED"
        ? saw.abortedWhile === "connecting"
        : key === "closed-gracefully/peer"
        ? peer === undefined || peer.action === "fin"
        : key === "broken/ECONNRESET" || key === "broken/EPIPE"
        ? peer === undefined || peer.action === "rst"
        // A reset that lands while Deno's socket is being looked up is misreported with this
        // code: a bug, held by its own test below; here only that it has its cause.
        : key === "broken/ERR_SOCKET_NOT_FOUND"
        ? peer?.action === "rst" && events.length === 1
        : false;
      if (!ok) {
        return fail(
          `${key} without its cause (local ${JSON.stringify(saw)}, peer ${peer?.action})`,
        );
      }
      outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
    };

    try {
      let next = 0;
      const worker = async () => {
        while (next < RACES) {
          const i = next++;
          await race(i, localPlan(random));
        }
      };
      await Promise.all(Array.from({ length: RACE_CONCURRENCY }, worker));
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    console.log(
      `HELD races | ${RUNTIME} | ${RACES} connections | ${
        JSON.stringify(Object.fromEntries([...outcomes].sort()))
      } | ${s(started)} s`,
    );
    assert.deepEqual(failures.slice(0, 20), [], `seed ${SEED}: ${failures.length} failures`);
    assert.equal([...outcomes.values()].reduce((a, b) => a + b, 0), RACES);
  },
  // Deno's resource sanitizer is off here only: in Deno a connection closed or aborted while
  // connecting leaves its socket open (a bug, held by its own test below), which the sanitizer
  // would report instead of what this test holds.
  { timeout: FULL ? 600_000 : 30_000, sanitize: false },
);

// ---------------------------------------------------------------------------------------------
// 3. Descriptor churn: UDP, Unix and accepted sockets never get a connection's options.

const CHURN_CONNECTIONS = FULL ? 20_000 : 2_000;
const CHURN_CONCURRENCY = 4;
/** Each connection's userTimeout is USER_TIMEOUT_BASE + its number: its options say whose. */
const USER_TIMEOUT_BASE = 1_000_000;

/** Options unique to connection `j`, in whole seconds so the kernel reports them unchanged. */
function optionsOf(j: number) {
  return {
    enabled: true,
    idle: (10 + (j % 500)) * 1000,
    interval: (1 + (j % 60)) * 1000,
    count: 1 + (j % 127),
    userTimeout: USER_TIMEOUT_BASE + j,
  };
}

/** The kernel's defaults for a socket nobody set anything on (Linux sysctls). */
function kernelDefaults() {
  const read = (name: string) =>
    Number(readFileSync(`/proc/sys/net/ipv4/tcp_keepalive_${name}`, "utf8").trim());
  return {
    enabled: false,
    idle: read("time") * 1000,
    interval: read("intvl") * 1000,
    count: read("probes"),
    userTimeout: 0,
  };
}

/** One socket as the kernel describes it, read through the project's FFI. */
interface SocketView {
  fd: number;
  cookie: bigint;
  family: number;
  type: number | undefined;
  localPort: number;
  /** -1 when not connected. */
  peerPort: number;
  options: {
    enabled: boolean;
    idle?: number;
    interval?: number;
    count?: number;
    userTimeout?: number;
  };
}

const INT = new Uint8Array(4);
const COOKIE = new Uint8Array(8);
const ADDRESS = new Uint8Array(128);

function intOption(calls: SocketCalls, fd: number, level: number, name: number) {
  INT.fill(0);
  return calls.getsockopt(fd, level, name, INT) === 4
    ? new DataView(INT.buffer).getInt32(0, true)
    : undefined;
}

function cookieOf(calls: SocketCalls, fd: number): bigint | undefined {
  return calls.getsockopt(fd, SOL_SOCKET, SO_COOKIE, COOKIE) === 8
    ? new DataView(COOKIE.buffer).getBigUint64(0, true)
    : undefined;
}

/**
 * Every socket of this process with its keepalive options, read with getsockopt; a descriptor
 * whose socket changed while it was read (another cookie after than before) is left out.
 */
function socketsNow(calls: SocketCalls): SocketView[] {
  const views: SocketView[] = [];
  for (const fd of calls.listDescriptors()) {
    const cookie = cookieOf(calls, fd);
    if (cookie === undefined) continue; // not a socket
    const named = calls.getsockname(fd, ADDRESS.fill(0)) > 0;
    const family = named ? ADDRESS[0] | (ADDRESS[1] << 8) : 0;
    const inet = family === AF_INET || family === AF_INET6;
    const localPort = inet ? (ADDRESS[2] << 8) | ADDRESS[3] : 0;
    const peerPort = inet && calls.getpeername(fd, ADDRESS.fill(0)) > 0
      ? (ADDRESS[2] << 8) | ADDRESS[3]
      : -1;
    const type = intOption(calls, fd, SOL_SOCKET, SO_TYPE);
    const enabled = intOption(calls, fd, SOL_SOCKET, SO_KEEPALIVE) === 1;
    const tcp = inet && type === SOCK_STREAM;
    const options = tcp
      ? {
        enabled,
        idle: intOption(calls, fd, IPPROTO_TCP, TCP_KEEPIDLE)! * 1000,
        interval: intOption(calls, fd, IPPROTO_TCP, TCP_KEEPINTVL)! * 1000,
        count: intOption(calls, fd, IPPROTO_TCP, TCP_KEEPCNT),
        userTimeout: intOption(calls, fd, IPPROTO_TCP, TCP_USER_TIMEOUT),
      }
      : { enabled };
    if (cookieOf(calls, fd) !== cookie) continue;
    views.push({ fd, cookie, family, type, localPort, peerPort, options });
  }
  return views;
}

test(
  `held: ${CHURN_CONNECTIONS} connections amid UDP, Unix and accepted socket churn: only they get their options`,
  async () => {
    const calls = realCalls();
    const defaults = kernelDefaults();
    const started = performance.now();
    const unixPath = `/tmp/sockalive-held-${process.pid}.sock`;
    rmSync(unixPath, { force: true });

    // The peer of every TCP socket here: sockalive's connections and plain node:net clients.
    const accepted = new Map<number, net.Socket>(); // by the client's port
    const server = net.createServer((socket) => {
      const port = socket.remotePort!;
      accepted.set(port, socket);
      socket.on("close", () => accepted.get(port) === socket && accepted.delete(port));
      socket.on("error", () => {});
      socket.on("end", () => socket.end());
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", 511, resolve));
    const serverPort = (server.address() as net.AddressInfo).port;
    const unixSockets = new Set<net.Socket>();
    const unixServer = net.createServer((socket) => {
      unixSockets.add(socket);
      socket.on("close", () => unixSockets.delete(socket));
      socket.on("error", () => {});
      socket.on("end", () => socket.end());
    });
    await new Promise<void>((resolve) => unixServer.listen(unixPath, resolve));

    /** Open sockalive connections, by number, and the local port each has. */
    const open = new Map<number, number>();
    /** Connections that ended: their socket may linger a moment (Bun closes it later). */
    const ended = new Map<number, number>();
    const foreignClients = new Set<number>(); // local ports of plain node:net clients
    const checked = new Map<string, Set<bigint>>();
    const problems: string[] = [];
    let scans = 0;

    const scan = (when: string) => {
      scans++;
      const openPorts = new Set(open.values());
      for (const v of socketsNow(calls)) {
        const tcp = (v.family === AF_INET || v.family === AF_INET6) && v.type === SOCK_STREAM;
        const ut = v.options.userTimeout ?? 0;
        const kind = v.family !== AF_INET && v.family !== AF_INET6
          ? "unix"
          : !tcp
          ? (openPorts.has(v.localPort) ? "udp, a connection's own local port" : "udp")
          : v.peerPort === -1
          ? (v.localPort === serverPort ? "tcp listener" : "tcp, unconnected")
          : v.localPort === serverPort
          ? "tcp accepted"
          : foreignClients.has(v.localPort)
          ? "tcp node:net client"
          : ut >= USER_TIMEOUT_BASE
          ? "sockalive"
          : "tcp not yet open";
        (checked.get(kind) ?? checked.set(kind, new Set()).get(kind)!).add(v.cookie);
        const what = `${when}: fd ${v.fd} (${kind}, local port ${v.localPort}, peer ${v.peerPort})`;
        if (tcp && ut >= USER_TIMEOUT_BASE && ut < USER_TIMEOUT_BASE + CHURN_CONNECTIONS) {
          // Options of connection j: it must be connection j's own socket, with all of them.
          const j = ut - USER_TIMEOUT_BASE;
          const port = open.get(j) ?? ended.get(j);
          // No peer: reset by the server, or closing (Bun closes the descriptor a moment later).
          const own = port === v.localPort && (v.peerPort === serverPort || v.peerPort === -1);
          if (!own) {
            problems.push(`${what} has connection ${j}'s options (it has port ${port})`);
          } else {
            try {
              assert.deepEqual(v.options, optionsOf(j));
            } catch {
              problems.push(`${what}: ${JSON.stringify(v.options)} for connection ${j}`);
            }
          }
          continue;
        }
        if (tcp && v.peerPort === serverPort && openPorts.has(v.localPort)) {
          problems.push(`${what} is an open connection's without its options`);
          continue;
        }
        const expected = tcp ? defaults : { enabled: false };
        try {
          assert.deepEqual(v.options, expected);
        } catch {
          problems.push(`${what} is not the kernel's default: ${JSON.stringify(v.options)}`);
        }
      }
    };
    scan("before");
    const scanner = setInterval(() => scan("periodic"), 3);
    let running = true;
    const random = prng(SEED);
    const pause = () => sleep(Math.floor(random() * 3));

    /** UDP sockets, bound to a connection's own local port where one is open (a TCP port is
     * free for UDP), connected to the server's address: the same addresses as a connection. */
    const udpChurn = async () => {
      let n = 0;
      while (running) {
        const ports = [...open.values()];
        const port = ports.length > 0 && random() < 0.7
          ? ports[Math.floor(random() * ports.length)]
          : 0;
        const socket = dgram.createSocket("udp4");
        socket.on("error", () => {});
        try {
          await new Promise<void>((resolve, reject) => {
            socket.once("error", reject);
            socket.bind(port, "127.0.0.1", () => resolve());
          });
          await new Promise<void>((resolve) =>
            socket.connect(serverPort, "127.0.0.1", () => resolve())
          );
          n++;
          await pause();
          scan("before a UDP socket closes");
        } catch { /* the port was taken meanwhile: try another */ }
        await new Promise<void>((resolve) => socket.close(() => resolve()));
      }
      return n;
    };

    const unixChurn = async () => {
      let n = 0;
      while (running) {
        const socket = net.connect(unixPath);
        socket.on("error", () => {});
        await new Promise((resolve) => socket.once("connect", resolve));
        n++;
        await pause();
        scan("before a Unix socket closes");
        socket.destroy();
        await pause();
      }
      return n;
    };

    /** Plain node:net clients of the same server: accepted sockets come and go with them. */
    const tcpChurn = async () => {
      let n = 0;
      while (running) {
        const socket = net.connect(serverPort, "127.0.0.1");
        socket.on("error", () => {});
        await new Promise((resolve) => socket.once("connect", resolve));
        const port = socket.localPort!;
        foreignClients.add(port);
        n++;
        await pause();
        scan("before a node:net client closes");
        if (random() < 0.5) socket.destroy();
        else accepted.get(port)?.resetAndDestroy();
        await new Promise((resolve) => socket.once("close", resolve));
        await sleep(5);
        foreignClients.delete(port);
      }
      return n;
    };

    let nextConnection = 0;
    const connections = async () => {
      while (nextConnection < CHURN_CONNECTIONS) {
        const j = nextConnection++;
        const conn = connect({ port: serverPort, keepAlive: optionsOf(j) });
        // Registered in the same turn as the options are applied: no scan runs in between.
        conn.addEventListener("statechange", (e) => {
          if (e.to === "open") open.set(j, conn.localAddr!.port);
        });
        await conn.opened;
        const port = conn.localAddr!.port;
        assert.deepEqual(conn.keepAlive, optionsOf(j), `connection ${j} read back its options`);
        const own = socketsNow(calls).filter((v) =>
          v.type === SOCK_STREAM && v.localPort === port && v.peerPort === serverPort
        );
        assert.equal(own.length, 1, `connection ${j}: one socket with its addresses`);
        assert.deepEqual(own[0].options, optionsOf(j), `connection ${j}: its options, exactly`);
        await pause();
        if (random() < 0.5) await conn.close();
        else {
          await until(() => accepted.has(port));
          accepted.get(port)?.resetAndDestroy();
          await conn.closed;
        }
        open.delete(j);
        ended.set(j, port);
      }
    };

    let counts: number[] = [];
    try {
      const churn = Promise.all([udpChurn(), unixChurn(), tcpChurn()]);
      try {
        await Promise.all(Array.from({ length: CHURN_CONCURRENCY }, connections));
      } finally {
        running = false;
        counts = await churn;
      }
      await sleep(50);
      scan("after");
    } finally {
      clearInterval(scanner);
      for (const s of accepted.values()) s.destroy();
      for (const s of unixSockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await new Promise<void>((resolve) => unixServer.close(() => resolve()));
      rmSync(unixPath, { force: true });
    }
    const seen = Object.fromEntries([...checked].map(([k, v]) => [k, v.size]).sort());
    console.log(
      `HELD churn | ${RUNTIME} | seed ${SEED} | ${CHURN_CONNECTIONS} connections | UDP ${
        counts[0]
      }, Unix ${counts[1]}, node:net clients ${
        counts[2]
      } | ${scans} scans | distinct sockets checked ${JSON.stringify(seen)} | ${s(started)} s`,
    );
    assert.deepEqual(problems.slice(0, 20), [], `${problems.length} problems`);
    for (const kind of ["udp", "unix", "tcp accepted", "tcp node:net client", "sockalive"]) {
      assert.ok(
        (checked.get(kind)?.size ?? 0) >= 20,
        `${kind}: checked ${checked.get(kind)?.size}`,
      );
    }
    assert.ok(
      (checked.get("udp, a connection's own local port")?.size ?? 0) >= 20,
      "UDP sockets on a connection's own port were checked",
    );
  },
  { timeout: FULL ? 600_000 : 30_000 },
);

// ---------------------------------------------------------------------------------------------
// 4. Reconnect cycles leave the descriptor count flat.

const RECONNECT_CYCLES = FULL ? 34_000 : 3_000;
const RECONNECT_CLIENTS = 2;

test(
  `held: ${RECONNECT_CYCLES} reconnect cycles against a peer that closes or resets at once leave descriptors flat`,
  async () => {
    let accepted = 0;
    const sockets = new Set<net.Socket>();
    const server = net.createServer((socket) => {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
      socket.on("error", () => {});
      // Accept and end at once: FIN on even connections, RST on odd ones.
      if (accepted++ % 2 === 0) socket.end();
      else socket.resetAndDestroy();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", 511, resolve));
    const port = (server.address() as net.AddressInfo).port;
    const outcomes = new Map<string, number>();
    let attempts = 0;
    let connections = 0;
    let fdBefore = 0;
    let fdAfter = 0;

    /** One client making `cycles` connections (each opened once), then stopping. */
    const run = async (cycles: number, record: boolean) => {
      let opened = 0;
      const client = reconnecting({
        port,
        keepAlive: { idle: 5000, interval: 1000, count: 3 },
        // The smallest backoff there is: a cap of 1 ms, so each wait is 0 ms (full jitter).
        reconnect: { initialDelay: 1, maxDelay: 1 },
      });
      client.addEventListener("attempt", () => record && attempts++);
      client.addEventListener("statechange", (e) => {
        if (!record || (e.to !== "closed-gracefully" && e.to !== "broken")) return;
        const key = `${e.from}->${e.to}/${e.info?.by ?? e.info?.code}`;
        outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
      });
      client.addEventListener("connection", () => {
        if (record) connections++;
        if (++opened === cycles) void client.close();
      });
      const stopped = await client.stopped;
      assert.equal(stopped.reason, "close");
    };

    const started = performance.now();
    let seconds = "";
    try {
      // Warm-up (the FFI library, Deno's shared wait), then the count to come back to.
      await run(50, false);
      await until(() => sockets.size === 0);
      await sleep(50);
      fdBefore = openDescriptors();
      const cyclesStarted = performance.now();
      const each = Math.ceil(RECONNECT_CYCLES / RECONNECT_CLIENTS);
      await Promise.all(Array.from({ length: RECONNECT_CLIENTS }, () => run(each, true)));
      seconds = s(cyclesStarted);
      await until(() => sockets.size === 0 && openDescriptors() <= fdBefore);
      fdAfter = openDescriptors();
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    console.log(
      `HELD reconnect | ${RUNTIME} | ${attempts} attempts, ${connections} opened, in ${seconds} s | ${
        JSON.stringify(Object.fromEntries([...outcomes].sort()))
      } | fd ${fdBefore} -> ${fdAfter} | ${s(started)} s in all`,
    );
    const each = Math.ceil(RECONNECT_CYCLES / RECONNECT_CLIENTS);
    assert.equal(connections, each * RECONNECT_CLIENTS);
    assert.ok(attempts >= connections, "an attempt for every connection");
    assert.equal(
      [...outcomes.values()].reduce((a, b) => a + b, 0),
      attempts,
      "every attempt ended exactly once",
    );
    assert.equal(fdAfter, fdBefore, "every descriptor opened was closed");
  },
  { timeout: FULL ? 600_000 : 30_000 },
);

// ---------------------------------------------------------------------------------------------
// Bugs the races found (see the header): each held by a test of its own, which fails in Deno.
// Last in the file: the descriptors Deno leaks here would only slow the scans of test 3.

const EARLY_RESETS = FULL ? 10_000 : 2_000;
/** Many connects at once, so that many complete in one turn of the event loop. */
const EARLY_CONCURRENCY = 64;

test(
  `held: ${EARLY_RESETS} peers that reset just after accept are each reported broken ECONNRESET`,
  async () => {
    // The peer resets in the turn after it accepts, or 0, 1 or 2 ms later: in Deno, some of
    // these land after the connect has completed and before sockalive has looked the socket up
    // by its addresses (getpeername fails once the socket is reset).
    let accepted = 0;
    const server = net.createServer((socket) => {
      socket.on("error", () => {});
      const reset = () => socket.resetAndDestroy();
      const k = accepted++ % 4;
      if (k === 0) setImmediate(reset);
      else setTimeout(reset, k - 1);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", 511, resolve));
    const port = (server.address() as net.AddressInfo).port;
    const outcomes = new Map<string, number>();
    const started = performance.now();
    try {
      let next = 0;
      const worker = async () => {
        while (next++ < EARLY_RESETS) {
          const conn = connect({ port });
          const info = await conn.closed;
          const key = `${info.state}/${info.code ?? info.by}${conn.keepAlive ? " (was open)" : ""}`;
          outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
        }
      };
      await Promise.all(Array.from({ length: EARLY_CONCURRENCY }, worker));
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    const seen = Object.fromEntries([...outcomes].sort());
    console.log(
      `HELD early resets | ${RUNTIME} | ${EARLY_RESETS} connections | ${JSON.stringify(seen)}` +
        ` | ${s(started)} s`,
    );
    const resets = [...outcomes].filter(([k]) => k.startsWith("broken/ECONNRESET"));
    assert.deepEqual(
      [...outcomes].filter(([k]) => !k.startsWith("broken/ECONNRESET")),
      [],
      "every reset is reported as ECONNRESET (README: peer resets right after accept)",
    );
    assert.equal(resets.reduce((n, [, v]) => n + v, 0), EARLY_RESETS);
  },
  { timeout: 20_000 },
);

const ABANDONED = FULL ? 6_000 : 1_200;

test(
  `held: ${ABANDONED} connections closed or aborted while connecting leave no descriptor open`,
  async () => {
    const sockets = new Set<net.Socket>();
    const server = net.createServer((socket) => {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
      socket.on("error", () => {});
      socket.on("end", () => socket.end());
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", 511, resolve));
    const port = (server.address() as net.AddressInfo).port;
    const outcomes = new Map<string, number>();
    let fdBefore = 0;
    let fdAfter = 0;
    let peerHolds = 0;
    const started = performance.now();
    try {
      // Warm-up (the FFI library, Deno's shared wait): connections that open, then close.
      for (let i = 0; i < 20; i++) {
        const conn = connect({ port });
        await conn.opened;
        await conn.close();
      }
      await until(() => sockets.size === 0);
      await sleep(20);
      fdBefore = openDescriptors();
      let next = 0;
      const worker = async () => {
        while (next++ < ABANDONED) {
          const controller = new AbortController();
          const conn = connect({ port, signal: controller.signal });
          // Every way, every delay, in turn: 1 in 12 connections each.
          const k = next;
          const how = k % 2 === 0 ? "close" : "abort";
          at(WHENS[Math.floor(k / 2) % WHENS.length], () => {
            if (how === "close") void conn.close();
            else controller.abort();
          });
          const info = await conn.closed;
          const key = `${how}: ${info.state}/${info.by ?? info.code}`;
          outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
        }
      };
      await Promise.all(Array.from({ length: RACE_CONCURRENCY }, worker));
      // Every socket the peer accepted is closed once ours are (it answers FIN with FIN).
      await until(() => sockets.size === 0 && openDescriptors() <= fdBefore);
      fdAfter = openDescriptors();
      peerHolds = sockets.size;
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    console.log(
      `HELD abandoned connects | ${RUNTIME} | ${ABANDONED} connections | ${
        JSON.stringify(Object.fromEntries([...outcomes].sort()))
      } | fd ${fdBefore} -> ${fdAfter} | peer still holds ${peerHolds} | ${s(started)} s`,
    );
    assert.equal(fdAfter, fdBefore, "every socket dialed was closed");
  },
  // The descriptor count is the check here (the sanitizer would only say "a TCP connection").
  { timeout: 20_000, sanitize: false },
);
