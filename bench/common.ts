/**
 * Helpers shared by the benchmark children (run in Deno or Bun) and the orchestrator: runtime
 * detection, JSON-line output, statistics, garbage collection and memory readings.
 *
 * @module
 */

import process from "node:process";

/** Whether this process is Bun. */
export const isBun = typeof (globalThis as { Bun?: unknown }).Bun !== "undefined";

interface BunLike {
  version: string;
  gc(force: boolean): void;
  /** JavaScriptCore gives back the free heap it keeps (once idle; deprecated, still there). */
  shrink?(): void;
  connect(options: unknown): Promise<BunRawSocket>;
}

/** The part of a Bun `Socket` the benchmarks use. */
export interface BunRawSocket {
  readonly fd: number;
  readonly localPort: number;
  readonly localAddress?: string;
  readonly remotePort: number;
  readonly remoteAddress: string;
  write(data: Uint8Array, byteOffset?: number, byteLength?: number): number;
  end(): void;
  shutdown(halfClose?: boolean): void;
  terminate(): void;
  setKeepAlive(enable: boolean, initialDelay?: number): boolean;
}

/** Bun handlers for `Bun.connect`. */
export interface BunHandlers {
  open?(socket: BunRawSocket): void;
  data?(socket: BunRawSocket, chunk: Uint8Array): void;
  drain?(socket: BunRawSocket): void;
  end?(socket: BunRawSocket): void;
  close?(socket: BunRawSocket, error?: Error): void;
  error?(socket: BunRawSocket, error: Error): void;
}

/** `Bun`, typed for what the benchmarks call. Only call in Bun. */
export function bunGlobal(): BunLike {
  return (globalThis as unknown as { Bun: BunLike }).Bun;
}

/** `Bun.connect` with binary chunks. */
export function bunConnect(
  hostname: string,
  port: number,
  socket: BunHandlers,
): Promise<BunRawSocket> {
  return bunGlobal().connect({ hostname, port, binaryType: "uint8array", socket });
}

/** "Deno 2.x" or "Bun 1.x". */
export function runtimeName(): string {
  return isBun ? `Bun ${bunGlobal().version}` : `Deno ${Deno.version.deno}`;
}

/** Command-line arguments after the script. */
export function args(): string[] {
  return process.argv.slice(2);
}

/** Prints one JSON line on stdout: the protocol between children and the orchestrator. */
export function emit(message: Record<string, unknown>): void {
  console.log(JSON.stringify(message));
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The `p`-th percentile (0..100) of `values`, nearest-rank. `NaN` when empty. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

/** p50, p99, max, min and count. */
export function summarize(
  values: number[],
): { p50: number; p99: number; max: number; min: number; n: number } {
  return {
    p50: percentile(values, 50),
    p99: percentile(values, 99),
    max: values.length ? Math.max(...values) : NaN,
    min: values.length ? Math.min(...values) : NaN,
    n: values.length,
  };
}

/**
 * Runs a full garbage collection a few times (Deno needs `--v8-flags=--expose-gc`). With
 * `settle`, each engine also gives back the memory it holds free, as it does by itself after a
 * quiet while: Deno's collections are V8's memory-reducing ones ("last resort"), which give
 * back the young generation (V8's memory reducer does so after about 30 s); Bun's are preceded
 * by `Bun.shrink()`, and JavaScriptCore gives back the free part of its heap (left to itself, a
 * run of 10,000 LiveConnections went from 2,639 to 2,113 B per connection over 20 s).
 */
export async function collectGarbage(settle = false): Promise<boolean> {
  const v8gc = (globalThis as { gc?: (options?: Record<string, string>) => void }).gc;
  const bunGc = () => {
    const bun = bunGlobal();
    if (settle) bun.shrink?.();
    bun.gc(true);
  };
  const gc = isBun ? bunGc : v8gc &&
    (() => v8gc(settle ? { type: "major", execution: "sync", flavor: "last-resort" } : undefined));
  if (!gc) return false;
  for (let i = 0; i < 4; i++) {
    gc();
    await sleep(50);
  }
  return true;
}

/** Resident set size and JS heap in use, in bytes. */
export function memory(): { rss: number; heapUsed: number; external: number } {
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, external: m.external };
}

/** `/proc/net/tcp`'s spelling of an IPv4 address and port (x86: address bytes reversed). */
export function procNetTcpAddress(hostname: string, port: number): string {
  const bytes = hostname.split(".").map(Number).reverse();
  const hex = (n: number, width: number) => n.toString(16).toUpperCase().padStart(width, "0");
  return `${bytes.map((b) => hex(b, 2)).join("")}:${hex(port, 4)}`;
}
