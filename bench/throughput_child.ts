/**
 * Bulk transfer over loopback through a sockalive connection or the runtime's own socket, in
 * Deno or Bun.
 *
 * Argument: JSON { kind: "live" | "read" | "byob" | "raw" | "stream", dir: "recv" | "send",
 * hostname, port, bytes }. "live" reads a LiveConnection with `for await` (a new chunk each
 * time), "read" with `conn.read` into one reused 64 KiB buffer, "byob" with a BYOB reader reusing
 * one 64 KiB buffer (receive only); "stream" is Deno's own `conn.readable`; "idle" reads as the
 * target does (Deno `conn.read`, Bun `for await`) on a connection with `idleTimeout` set;
 * "iter" (Bun, receive) is `for await` over the least async iterator Bun's `data` handler can
 * feed (a queue and one waiting promise), no library: the floor of any `for await` in Bun.
 * "rawlib" is the raw anchor in a process that first moved the bytes once through sockalive (read
 * as `before` says), a LiveConnection opened and closed: the raw transfers of the alternating runs
 * are in such a process.
 * "recv": the peer (source) sends `bytes` then FIN; timed from open to end of stream.
 * "send": we write `bytes` in 64 KiB chunks, then FIN; timed until the peer (sink) replies with
 * the count it received.
 *
 * The transfer runs twice, each on a new connection: the first in a fresh process (`coldMs`:
 * the JIT has yet to compile the path the bytes take) and the second right after it (`ms`: the
 * steady state a long-lived connection runs in). Prints {"type":"result","ms","coldMs","bytes"}.
 *
 * With `pairs: N` (and a `kind` other than "raw"), the raw anchor and `kind` alternate in this
 * one process: one transfer of each first (compiling both paths), then N pairs, the order
 * swapped from one pair to the next. Prints {"type":"result","pairs":[{"raw","live"}],"bytes"}
 * (ms of each transfer).
 *
 * @module
 */

import { connect, type LiveConnection } from "../mod.ts";
import { args, bunConnect, type BunRawSocket, emit, isBun } from "./common.ts";

type Kind = "live" | "read" | "byob" | "raw" | "stream" | "idle" | "iter" | "rawlib";
const config = JSON.parse(args()[0]) as {
  kind: Kind;
  dir: "recv" | "send";
  hostname: string;
  port: number;
  bytes: number;
  pairs?: number;
  /** For "rawlib": the way of reading sockalive moves the bytes with first. */
  before?: Kind;
};
const CHUNK = 64 * 1024;
const chunk = new Uint8Array(CHUNK).fill(98);
const { hostname, port, bytes } = config;

/**
 * Opens a LiveConnection, times `transfer` (which returns the bytes moved) from open to its end,
 * then closes it.
 */
async function timedLive(
  idleTimeout: boolean,
  transfer: (conn: LiveConnection) => Promise<number>,
): Promise<{ ms: number; moved: number }> {
  const conn = connect({
    hostname,
    port,
    keepAlive: { idle: 10_000, interval: 2000, count: 5 },
    ...(idleTimeout ? { idleTimeout: 60_000 } : {}),
  });
  await conn.opened;
  const start = performance.now();
  const moved = await transfer(conn);
  const ms = performance.now() - start;
  await conn.close();
  return { ms, moved };
}

/** `for await` over `readable` to receive; `write` then FIN to send. */
function live(idleTimeout = false): Promise<{ ms: number; moved: number }> {
  return timedLive(idleTimeout, async (conn) => {
    let moved = 0;
    if (config.dir === "recv") {
      for await (const c of conn.readable) moved += c.byteLength;
      return moved;
    }
    for (let left = bytes; left > 0; left -= CHUNK) {
      await conn.write(left >= CHUNK ? chunk : chunk.subarray(0, left));
    }
    await conn.closeWrite();
    let reply = "";
    for await (const c of conn.readable) reply += new TextDecoder().decode(c);
    return Number(reply.trim());
  });
}

/** A LiveConnection read as the raw Deno loop reads: `read` into one buffer, reused. */
function liveRead(idleTimeout = false): Promise<{ ms: number; moved: number }> {
  return timedLive(idleTimeout, async (conn) => {
    let moved = 0;
    const buffer = new Uint8Array(CHUNK);
    for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) moved += n;
    return moved;
  });
}

/** A LiveConnection read with a BYOB reader, one buffer reused. */
function liveByob(): Promise<{ ms: number; moved: number }> {
  return timedLive(false, async (conn) => {
    let moved = 0;
    const reader = conn.readable.getReader({ mode: "byob" });
    let buffer = new ArrayBuffer(CHUNK);
    for (;;) {
      const { value, done } = await reader.read(new Uint8Array(buffer));
      if (done) return moved;
      moved += value.byteLength;
      buffer = value.buffer;
    }
  });
}

async function rawDeno(): Promise<{ ms: number; moved: number }> {
  const conn = await Deno.connect({ hostname, port });
  const start = performance.now();
  let moved = 0;
  const buffer = new Uint8Array(CHUNK);
  if (config.dir === "recv") {
    for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) moved += n;
  } else {
    for (let left = bytes; left > 0; left -= CHUNK) {
      const part = left >= CHUNK ? chunk : chunk.subarray(0, left);
      for (let off = 0; off < part.byteLength;) off += await conn.write(part.subarray(off));
    }
    await conn.closeWrite();
    let reply = "";
    for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) {
      reply += new TextDecoder().decode(buffer.subarray(0, n));
    }
    moved = Number(reply.trim());
  }
  const ms = performance.now() - start;
  conn.close();
  return { ms, moved };
}

function rawBun(): Promise<{ ms: number; moved: number }> {
  return new Promise((resolve, reject) => {
    let start = 0;
    let moved = 0;
    let reply = "";
    let left = bytes;
    let offset = 0;
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      if (config.dir === "send") moved = Number(reply.trim());
      resolve({ ms: performance.now() - start, moved });
    };
    const pump = (s: BunRawSocket) => {
      while (left > 0) {
        const want = Math.min(CHUNK - offset, left);
        const n = s.write(chunk, offset, want);
        if (n <= 0) return;
        left -= n;
        offset = (offset + n) % CHUNK;
        if (n < want) return; // kernel full: wait for drain
      }
      s.shutdown();
    };
    bunConnect(hostname, port, {
      open(s) {
        start = performance.now();
        if (config.dir === "send") pump(s);
      },
      data(_s, c) {
        if (config.dir === "recv") moved += c.byteLength;
        else reply += new TextDecoder().decode(c);
      },
      drain(s) {
        if (config.dir === "send" && left > 0) pump(s);
      },
      // Bun may report the peer's FIN after our own shutdown() as `close` without `end`.
      end(s) {
        finish();
        s.end();
      },
      close: () => finish(),
      error: (_s, e) => reject(e),
    }).catch(reject);
  });
}

/** `for await` over a bare async iterator fed by Bun's `data` handler (receive only). */
async function bareIterator(): Promise<{ ms: number; moved: number }> {
  type Result = IteratorResult<Uint8Array>;
  const queue: Result[] = [];
  // The one `next()` waiting, settled by the handler itself: one promise per chunk, no more.
  let waiting: { resolve(r: Result): void; reject(e: unknown): void } | undefined;
  let failure: unknown;
  const give = (r: Result) => {
    const w = waiting;
    waiting = undefined;
    if (w) w.resolve(r);
    else queue.push(r);
  };
  const done: Result = { value: undefined, done: true };
  await bunConnect(hostname, port, {
    data: (_s, chunk) => give({ value: chunk, done: false }),
    end: () => give(done),
    close: () => give(done),
    error(_s, error) {
      failure = error;
      waiting?.reject(error);
    },
  });
  const chunks: AsyncIterable<Uint8Array> = {
    [Symbol.asyncIterator]: () => ({
      next(): Promise<Result> {
        if (failure !== undefined) return Promise.reject(failure);
        if (queue.length > 0) return Promise.resolve(queue.shift()!);
        return new Promise((resolve, reject) => (waiting = { resolve, reject }));
      },
    }),
  };
  const start = performance.now();
  let moved = 0;
  for await (const c of chunks) moved += c.byteLength;
  return { ms: performance.now() - start, moved };
}

/** Deno's own `conn.readable`: what a Deno program that keeps each chunk would use. */
async function streamDeno(): Promise<{ ms: number; moved: number }> {
  const conn = await Deno.connect({ hostname, port });
  const start = performance.now();
  let moved = 0;
  for await (const c of conn.readable) moved += c.byteLength;
  return { ms: performance.now() - start, moved };
}

/** How `kind` moves the bytes; "idle" reads as the target does (Deno `read()`, Bun `for await`). */
function transferOf(kind: Kind): () => Promise<{ ms: number; moved: number }> {
  switch (kind) {
    case "live":
      return () => live();
    case "idle":
      return isBun ? () => live(true) : () => liveRead(true);
    case "read":
      return () => liveRead();
    case "byob":
      return liveByob;
    case "stream":
      return streamDeno;
    case "iter":
      return bareIterator;
    case "raw":
      return isBun ? rawBun : rawDeno;
    case "rawlib": {
      // The raw anchor in a process sockalive has worked in: the alternating runs' raw.
      let primed = false;
      return async () => {
        if (!primed) await checked(transferOf(config.before ?? "live"));
        primed = true;
        return await transferOf("raw")();
      };
    }
  }
}

async function checked(
  transfer: () => Promise<{ ms: number; moved: number }>,
): Promise<number> {
  const { ms, moved } = await transfer();
  if (moved !== bytes) throw new Error(`moved ${moved} bytes, expected ${bytes}`);
  return ms;
}

if (config.pairs !== undefined) {
  const raw = transferOf("raw"), live = transferOf(config.kind);
  await checked(raw);
  await checked(live);
  const pairs: Array<{ raw: number; live: number }> = [];
  for (let i = 0; i < config.pairs; i++) {
    if (i % 2 === 0) {
      const r = await checked(raw);
      pairs.push({ raw: r, live: await checked(live) });
    } else {
      const l = await checked(live);
      pairs.push({ raw: await checked(raw), live: l });
    }
  }
  emit({ type: "result", pairs, bytes });
} else {
  const transfer = transferOf(config.kind);
  const coldMs = await checked(transfer);
  const ms = await checked(transfer);
  emit({ type: "result", ms, coldMs, bytes });
}
