/**
 * The apply cost, in Deno or Bun: sockalive's `setKeepAlive` (find and verify the descriptor,
 * set, read back) on a fresh connection while N other connections are open, the same work the
 * native anchor (bench/apply_anchor.c) times.
 *
 * Argument: JSON { mode: "time", hostname, ports, ns, minSamples, maxSamples, budgetMs } prints
 * {"type":"result","n","descriptors","samples","floorSamples"} per N (µs), then {"type":"done"}:
 * `floorSamples` are the same apply's system calls made bare (bench/floor.ts), timed on fresh
 * connections alternating with sockalive's;
 * JSON { mode: "strace", hostname, ports, applies } opens and closes `applies` connections, then
 * opens, applies and closes as many, between marker system calls (a stat of
 * /sockalive-bench-marker-1..3) that strace's output shows, then prints {"type":"done"}.
 *
 * @module
 */

import { existsSync, readdirSync } from "node:fs";
import { setKeepAlive } from "../mod.ts";
import { args, bunConnect, type BunRawSocket, emit, isBun } from "./common.ts";
import type { CostConfig } from "./cost.ts";
import { addressed, bareCalls } from "./floor.ts";

const config = JSON.parse(args()[0]) as CostConfig;
const KEEPALIVE = { idle: 1000, interval: 1000, count: 3 };
// The JITs keep making the path faster for thousands of applies: Bun's still after 300 (the first
// N measured read 1.5-2x the next); in Deno, V8 compiles the FFI's callers with TurboFan, which
// makes each FFI call a fast call, only after ~18,000 (by hand, p50 per 3,000 applies in one
// process: 5.9, 4.9, 4.5, 4.6, 4.2, 3.9, then 3.5-3.8 µs; the bare floor 3.6-3.8, then 2.3-2.4
// µs from the same point on). What is measured is the steady cost a service that applies often
// pays; 25,000 applies are a few seconds.
const WARM_UP = 25_000;
/** Untimed applies again once N others are open (see where it is used). */
const WARM_UP_AT_N = 3000;

interface Opened {
  native: Deno.TcpConn | BunRawSocket;
  /** Its descriptor: Bun's own; in Deno the lowest free one just before the connect. */
  fd: number;
  close(): void;
}

const bare = config.mode === "time" ? bareCalls(!isBun) : undefined;

async function open(port = config.ports[0]): Promise<Opened> {
  if (isBun) {
    const s = await bunConnect(config.hostname, port, { data() {}, error() {} });
    return { native: s, fd: s.fd, close: () => s.terminate() };
  }
  const fd = bare?.lowestFree() ?? -1;
  const c = await Deno.connect({ hostname: config.hostname, port });
  return { native: c, fd, close: () => c.close() };
}

/** The floor of {@linkcode apply}: its system calls, bare (Deno: and the two addresses it reads). */
function applyBare(o: Opened): void {
  if (!isBun) {
    const conn = o.native as Deno.TcpConn;
    if (!addressed(conn)) throw new Error("a connection with no address");
  }
  bare!.applied(o.fd);
}

function apply(o: Opened): void {
  const got = setKeepAlive(o.native as Deno.TcpConn, KEEPALIVE);
  if (got.idle !== 1000 || !got.enabled || got.count !== 3) {
    throw new Error(`keepalive not applied: ${JSON.stringify(got)}`);
  }
}

function marker(i: number): void {
  existsSync(`/sockalive-bench-marker-${i}`);
}

/** `count` untimed applies on fresh connections, each followed by the floor's where it is timed. */
async function warmUp(count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const o = await open();
    apply(o);
    o.close();
    if (!bare) continue;
    const other = await open();
    applyBare(other);
    other.close();
  }
}

await warmUp(config.mode === "strace" ? 50 : WARM_UP);

if (config.mode === "strace") {
  const k = config.applies!;
  marker(1);
  for (let i = 0; i < k; i++) (await open()).close();
  marker(2);
  for (let i = 0; i < k; i++) {
    const o = await open();
    apply(o);
    o.close();
  }
  marker(3);
} else {
  const others: Opened[] = [];
  for (const n of config.ns!) {
    while (others.length < n) {
      const batch = Math.min(200, n - others.length);
      const base = others.length;
      others.push(
        ...await Promise.all(
          Array.from(
            { length: batch },
            (_, i) => open(config.ports[(base + i) % config.ports.length]),
          ),
        ),
      );
    }
    // The first lookup among the new connections misses its hints and scans once, which
    // deoptimizes the lookup in Deno (V8's --trace-deopt: resolveTarget, DescriptorHints.found);
    // untimed applies first, so each N is measured as a service holding N sees it.
    await warmUp(WARM_UP_AT_N);
    const samples: number[] = [];
    const floorSamples: number[] = [];
    const timed = async (run: (o: Opened) => void, into: number[]) => {
      const o = await open();
      try {
        const t = performance.now();
        run(o);
        into.push((performance.now() - t) * 1000);
      } finally {
        o.close();
      }
    };
    const start = performance.now();
    while (
      samples.length < config.maxSamples! &&
      (samples.length < config.minSamples! || performance.now() - start < config.budgetMs!)
    ) {
      await timed(apply, samples);
      await timed(applyBare, floorSamples);
    }
    const descriptors = readdirSync("/proc/self/fd").length;
    emit({ type: "result", n, descriptors, samples, floorSamples });
  }
  for (const o of others) o.close();
}
emit({ type: "done" });
