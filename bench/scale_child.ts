/**
 * Many idle connections in one process, run inside the client namespace in Deno or Bun: sockalive
 * connections (watched, keepalive applied) or the runtime's own sockets (the raw anchor).
 *
 * Argument: JSON { kind: "live" | "raw", hostname, ports, n, warm, keepAlive }. Opens `warm`
 * connections, collects garbage and reads memory, prints {"type":"ready"}, waits for a "go" line
 * on stdin, opens the rest up to `n` (100 at a time, round-robin over `ports`) and prints
 * {"type":"opened","at","n","openMs","descriptors"}; 1 s later, after the collections that give
 * back V8's young generation, {"type":"memory", bytes per connection over the warm baseline}.
 * A live run then prints batches of {"type":"broken","items":[[at, code], ...]} as they end.
 *
 * @module
 */

import { readdirSync } from "node:fs";
import process from "node:process";
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
  kind: "live" | "raw";
  hostname: string;
  ports: number[];
  n: number;
  warm: number;
  keepAlive: Record<string, number>;
};

const held: Array<LiveConnection | Deno.TcpConn | BunRawSocket> = [];
let pending: Array<[number, string]> = [];
let ended = 0;

function flush(): void {
  emit({ type: "broken", items: pending, ended });
  pending = [];
}

async function openOne(port: number): Promise<void> {
  const { hostname } = config;
  if (config.kind === "live") {
    const conn = connect({ hostname, port, keepAlive: config.keepAlive });
    conn.addEventListener("statechange", (e) => {
      if (e.to === "broken" || e.to === "closed-gracefully") {
        ended++;
        // Batched, and no timer at all while nothing ends: the idle CPU reading is the library's.
        if (pending.length === 0) setTimeout(flush, 100);
        pending.push([e.at, e.info?.code ?? e.to]);
      }
    });
    await conn.opened;
    held.push(conn);
  } else if (isBun) {
    held.push(await bunConnect(hostname, port, { data() {}, error() {} }));
  } else {
    held.push(await Deno.connect({ hostname, port }));
  }
}

async function openUpTo(target: number): Promise<void> {
  while (held.length < target) {
    const base = held.length;
    const batch = Math.min(100, target - base);
    await Promise.all(
      Array.from(
        { length: batch },
        (_, i) => openOne(config.ports[(base + i) % config.ports.length]),
      ),
    );
  }
}

function go(): Promise<void> {
  return new Promise((resolve) => {
    let text = "";
    const onData = (chunk: Uint8Array | string) => {
      text += typeof chunk === "string" ? chunk : new TextDecoder().decode(chunk);
      if (text.includes("go\n")) {
        process.stdin.off("data", onData);
        process.stdin.pause();
        resolve();
      }
    };
    process.stdin.on("data", onData);
  });
}

await openUpTo(config.warm);
await sleep(500);
await collectGarbage(true);
const before = memory();
const started = go();
emit({ type: "ready" });
await started;
const t0 = performance.now();
await openUpTo(config.n);
const openMs = performance.now() - t0;
const descriptors = readdirSync("/proc/self/fd").length;
emit({ type: "opened", at: Date.now(), n: held.length, openMs, descriptors });
await sleep(1000);
await collectGarbage(true);
const settled = memory();
const count = config.n - config.warm;
emit({
  type: "memory",
  count,
  before,
  settled,
  rssPerConn: (settled.rss - before.rss) / count,
  heapPerConn: (settled.heapUsed - before.heapUsed) / count,
  externalPerConn: (settled.external - before.external) / count,
});
// Keeps the process (and every connection) alive until the orchestrator kills it.
setInterval(() => {}, 1 << 30);
