/**
 * Memory of idle connections, in Deno or Bun: opens `warm` connections, collects garbage and
 * reads RSS and heap; opens `n` more, waits, collects and reads again. One kind per process so
 * kinds do not share a heap.
 *
 * Argument: JSON { kind: "live" | "raw" | "raw-read" | "raw-read-small", hostname, port, n, warm }.
 * "live": sockalive `connect` (keepalive applied, a read always pending).
 * "raw": the runtime's own socket (Deno.connect; Bun.connect with handlers). "raw-read" (Deno):
 * Deno.connect plus one pending 64 KiB read, the usual way for a raw socket to notice a break;
 * "raw-read-small" (Deno): the same with a 512-byte buffer, the floor of that way.
 * Prints {"type":"result", ...} with bytes per connection 1 s after opening them and once
 * settled (after the collections that give back V8's young generation).
 *
 * @module
 */

import v8 from "node:v8";
import { connect, type LiveConnection } from "../mod.ts";
import {
  args,
  bunConnect,
  type BunRawSocket,
  collectGarbage,
  emit,
  isBun,
  memory,
  sleep,
} from "./common.ts";

const config = JSON.parse(args()[0]) as {
  kind: "live" | "raw" | "raw-read" | "raw-read-small";
  hostname: string;
  port: number;
  n: number;
  warm: number;
};
const held: Array<LiveConnection | Deno.TcpConn | BunRawSocket> = [];

async function openOne(): Promise<void> {
  const { hostname, port } = config;
  if (config.kind === "live") {
    const conn = connect({ hostname, port, keepAlive: { idle: 10_000, interval: 2000, count: 5 } });
    await conn.opened;
    held.push(conn);
  } else if (isBun) {
    held.push(await bunConnect(hostname, port, { data() {}, error() {} }));
  } else {
    const conn = await Deno.connect({ hostname, port });
    if (config.kind === "raw-read") conn.read(new Uint8Array(64 * 1024)).catch(() => {});
    if (config.kind === "raw-read-small") conn.read(new Uint8Array(512)).catch(() => {});
    held.push(conn);
  }
}

async function openMany(count: number): Promise<void> {
  const target = held.length + count;
  while (held.length < target) {
    const batch = Math.min(200, target - held.length);
    await Promise.all(Array.from({ length: batch }, openOne));
    if (held.length % 2000 === 0) emit({ type: "progress", opened: held.length });
  }
}

await openMany(config.warm);
await sleep(500);
const gc = await collectGarbage(true);
const before = memory();
await openMany(config.n);
await sleep(1000);
await collectGarbage();
const after = memory();
// V8's young generation grows with the bytes that survive its scavenges while the connections
// are opened; V8's memory reducer gives it back after about 30 s of quiet (seen with
// --trace-gc: "Mark-Compact (reduce)" at 30 s, young generation 16 MiB -> 256 KiB). The settled
// reading is the program that holds idle connections from then on, without the 30 s wait.
const newSpace = isBun ? undefined : newSpaceSize();
await collectGarbage(true);
const settled = memory();
emit({
  newSpace,
  settledNewSpace: isBun ? undefined : newSpaceSize(),
  type: "result",
  kind: config.kind,
  n: config.n,
  gc,
  before,
  after,
  rssPerConn: (after.rss - before.rss) / config.n,
  settledRssPerConn: (settled.rss - before.rss) / config.n,
  heapPerConn: (settled.heapUsed - before.heapUsed) / config.n,
  externalPerConn: (settled.external - before.external) / config.n,
});

/** The size of V8's new space (young generation) now, in bytes. */
function newSpaceSize(): number | undefined {
  return v8.getHeapSpaceStatistics().find((space) => space.space_name === "new_space")?.space_size;
}
