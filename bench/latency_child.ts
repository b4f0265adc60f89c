/**
 * Request/response round trips over loopback, in Deno or Bun: write 64 bytes, wait until the
 * echo peer has sent them back, repeat. Measures what reading costs per message, in particular
 * the shared readiness wait of Deno on Linux (an idle connection holds no read; each reply is
 * noticed by epoll on a worker thread, then read).
 *
 * Argument: JSON { kind: "raw" | "live" | "live-pending" | "live-stream", hostname, port, rounds }.
 * "raw": the runtime's own socket (Deno: `conn.read` into one buffer; Bun: the `data` handler).
 * "live": a LiveConnection read with `conn.read`. "live-pending" (Deno): the same in the way
 * macOS and Windows read (a read always pending; `useReadinessMonitor(false)`). "live-stream":
 * a LiveConnection read through `readable` (a default reader, as `for await` uses).
 * Prints {"type":"result","p50","p90","p99"} in microseconds.
 *
 * @module
 */

import { connect } from "../mod.ts";
import { useReadinessMonitor } from "../src/adapters/deno.ts";
import { args, bunConnect, emit, isBun } from "./common.ts";

const config = JSON.parse(args()[0]) as {
  kind: "raw" | "live" | "live-pending" | "live-stream";
  hostname: string;
  port: number;
  rounds: number;
};
const { hostname, port, rounds } = config;
const MESSAGE = new Uint8Array(64).fill(7);
const WARMUP = Math.min(1000, rounds / 10);

/** Runs `rounds` round trips through `roundTrip`, timing each after a warm-up. */
async function measure(roundTrip: () => Promise<void>): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < WARMUP + rounds; i++) {
    const start = performance.now();
    await roundTrip();
    if (i >= WARMUP) times.push((performance.now() - start) * 1000);
  }
  return times.sort((a, b) => a - b);
}

/** One round trip: write the message, read until it has come back. */
async function echo(
  conn: {
    write(bytes: Uint8Array): Promise<unknown>;
    read(buffer: Uint8Array): Promise<number | null>;
  },
  buffer: Uint8Array,
): Promise<void> {
  await conn.write(MESSAGE);
  for (let got = 0; got < MESSAGE.byteLength;) {
    const n = await conn.read(buffer);
    if (n === null) throw new Error("the peer closed");
    got += n;
  }
}

async function live(): Promise<number[]> {
  if (config.kind === "live-pending") useReadinessMonitor(false);
  const conn = connect({ hostname, port, keepAlive: { idle: 10_000, interval: 2000, count: 5 } });
  await conn.opened;
  const buffer = new Uint8Array(4096);
  const reader = config.kind === "live-stream" ? conn.readable.getReader() : undefined;
  // Through `readable`: each read is a new chunk, as `for await` gets them.
  const viaStream = {
    write: (bytes: Uint8Array) => conn.write(bytes),
    read: async (into: Uint8Array) => {
      const { value, done } = await reader!.read();
      if (done) return null;
      into.set(value.subarray(0, into.byteLength));
      return value.byteLength;
    },
  };
  const times = await measure(() => echo(reader ? viaStream : conn, buffer));
  await conn.close();
  return times;
}

async function rawDeno(): Promise<number[]> {
  const conn = await Deno.connect({ hostname, port });
  const buffer = new Uint8Array(4096);
  const times = await measure(() => echo(conn, buffer));
  conn.close();
  return times;
}

async function rawBun(): Promise<number[]> {
  let waiting: { need: number; resolve: () => void } | undefined;
  const socket = await bunConnect(hostname, port, {
    data(_s, chunk) {
      if (!waiting) return;
      waiting.need -= chunk.byteLength;
      if (waiting.need <= 0) {
        const { resolve } = waiting;
        waiting = undefined;
        resolve();
      }
    },
    error() {},
  });
  const times = await measure(() =>
    new Promise<void>((resolve) => {
      waiting = { need: MESSAGE.byteLength, resolve };
      socket.write(MESSAGE);
    })
  );
  socket.end();
  return times;
}

const times = config.kind !== "raw" ? await live() : isBun ? await rawBun() : await rawDeno();
const at = (q: number) => times[Math.min(times.length - 1, Math.floor(times.length * q))];
emit({ type: "result", p50: at(0.5), p90: at(0.9), p99: at(0.99) });
