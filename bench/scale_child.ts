/**
 * Many idle connections in one process, run inside the client namespace in Deno or Bun: sockalive
 * connections (watched, keepalive applied), the runtime's own sockets (the raw anchor), or the
 * runtime's own sockets with the system calls sockalive makes to open one, made bare (the
 * floor: bench/floor.ts).
 *
 * Argument: JSON { kind: "live" | "raw" | "floor", hostname, ports, n, warm, openKeepAlive, keepAlive,
 * batch }. Opens `warm`
 * connections, collects garbage and reads memory, prints {"type":"ready"}, waits for a "go" line
 * on stdin, opens the rest up to `n` (`batch` at a time, round-robin over `ports`; a failed connect is
 * counted and tried again) and prints {"type":"opened","at","n","openMs","descriptors","failed"}; 1 s later, after the collections that give
 * back V8's young generation, {"type":"memory", bytes per connection over the warm baseline}.
 * A live run then applies `keepAlive` to every connection and prints {"type":"watching","applyMs"}
 * (a raw run prints it at once), then batches of {"type":"broken","items":[[at, code], ...]} as they end.
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
import { addressed, bareCalls } from "./floor.ts";

const config = JSON.parse(args()[0]) as {
  kind: "live" | "raw" | "floor";
  hostname: string;
  ports: number[];
  n: number;
  warm: number;
  /** Keepalive while opening (probes far off: see below), then `keepAlive`, watched. */
  openKeepAlive: Record<string, number>;
  keepAlive: Record<string, number>;
  /** Connects in flight at once. */
  batch: number;
};

const bare = config.kind === "floor" ? bareCalls(!isBun) : undefined;
const held: Array<LiveConnection | Deno.TcpConn | BunRawSocket> = [];
let pending: Array<[number, string]> = [];
let ended = 0;
/** Connects that failed (and were tried again): a run that drops SYNs shows it here. */
let failed = 0;
const failures: Record<string, number> = {};

function flush(): void {
  emit({ type: "broken", items: pending, ended });
  pending = [];
}

async function openOne(port: number): Promise<void> {
  const { hostname } = config;
  if (config.kind === "live") {
    const conn = connect({ hostname, port, keepAlive: config.openKeepAlive });
    await conn.opened;
    // Only connections that opened: a connect that fails (and is tried again) ends too.
    conn.addEventListener("statechange", (e) => {
      if (e.to === "broken" || e.to === "closed-gracefully") {
        ended++;
        // Batched, and no timer at all while nothing ends: the idle CPU reading is the library's.
        if (pending.length === 0) setTimeout(flush, 100);
        pending.push([e.at, e.info?.code ?? e.to]);
      }
    });
    held.push(conn);
  } else if (bare) {
    // As sockalive's dial does: the descriptor the runtime will take, the connecting socket
    // noted right after the call, then the verification, the options and (Deno) the watch.
    const free = bare.lowestFree();
    if (isBun) {
      const connecting = bunConnect(hostname, port, { data() {}, error() {} });
      bare.note(free);
      const socket = await connecting;
      bare.opened(socket.fd);
      held.push(socket);
    } else {
      const connecting = Deno.connect({ hostname, port });
      bare.note(free);
      const conn = await connecting;
      // sockalive reads both to verify the descriptor it found (Deno does not name it).
      if (!addressed(conn)) throw new Error("a connection with no address");
      bare.opened(free);
      held.push(conn);
    }
  } else if (isBun) {
    held.push(await bunConnect(hostname, port, { data() {}, error() {} }));
  } else {
    held.push(await Deno.connect({ hostname, port }));
  }
}

async function openUpTo(target: number): Promise<void> {
  while (held.length < target) {
    const base = held.length;
    const batch = Math.min(config.batch, target - base);
    await Promise.all(
      Array.from(
        { length: batch },
        (_, i) =>
          openOne(config.ports[(base + i) % config.ports.length]).catch((error: Error) => {
            failed++;
            const key = (error as { code?: string }).code ?? error.name;
            failures[key] = (failures[key] ?? 0) + 1;
          }),
      ),
    );
  }
}

let input = "";
function line(want: string): Promise<void> {
  return new Promise((resolve) => {
    const onData = (chunk: Uint8Array | string) => {
      input += typeof chunk === "string" ? chunk : new TextDecoder().decode(chunk);
      if (input.includes(`${want}\n`)) {
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
const started = line("go");
emit({ type: "ready" });
await started;
const t0 = performance.now();
await openUpTo(config.n);
const openMs = performance.now() - t0;
const descriptors = readdirSync("/proc/self/fd").length;
emit({ type: "opened", at: Date.now(), n: held.length, openMs, descriptors, failed, failures });
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
if (config.kind === "live") {
  // The connections open with probes far off, so the time to open them is the library's and
  // the kernel's connect work, not 1 s keepalive probes of the connections already open (at
  // 100,000 that is 200,000 packets a second, which this machine's kernel drops by the million);
  // now each gets the watched options, and the orchestrator pulls the cable once they probe.
  const t1 = performance.now();
  for (const conn of held as LiveConnection[]) conn.setKeepAlive(config.keepAlive);
  emit({
    type: "watching",
    applyMs: performance.now() - t1,
    keepAlive: (held[0] as LiveConnection).keepAlive,
  });
} else emit({ type: "watching", applyMs: 0 });
// Keeps the process (and every connection) alive until the orchestrator kills it.
setInterval(() => {}, 1 << 30);
