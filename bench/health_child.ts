/**
 * The cost of reading a connection's health, in Deno or Bun: `conn.health()` on an open
 * LiveConnection (verify the descriptor, one getsockopt(TCP_INFO), decode), `getHealth()` on the
 * runtime's own socket (find it first), and, as the anchor measured in the same process,
 * `conn.getKeepAlive()` (verify, five getsockopt).
 *
 * Argument: JSON { hostname, port, calls }. Prints {"type":"result","healthUs","getHealthUs",
 * "keepAliveUs"}: p50 of batches of 100 calls, µs per call.
 *
 * @module
 */

import { connect, getHealth, type NativeConnection } from "../mod.ts";
import { args, bunConnect, emit, isBun, percentile } from "./common.ts";

const config = JSON.parse(args()[0]) as { hostname: string; port: number; calls: number };
const BATCH = 100;

/** p50 over batches of `BATCH` calls of `fn`, in µs per call, after a warm-up. */
function perCall(fn: () => unknown): number {
  for (let i = 0; i < 2000; i++) fn();
  const batches: number[] = [];
  for (let b = 0; b < Math.max(1, config.calls / BATCH); b++) {
    const t = performance.now();
    for (let i = 0; i < BATCH; i++) fn();
    batches.push((performance.now() - t) * 1000 / BATCH);
  }
  return percentile(batches, 50);
}

const conn = connect({
  hostname: config.hostname,
  port: config.port,
  keepAlive: { idle: 10_000, interval: 2000, count: 5 },
});
await conn.opened;
const native: NativeConnection = isBun
  ? await bunConnect(config.hostname, config.port, { data() {} }) as unknown as NativeConnection
  : await Deno.connect({ hostname: config.hostname, port: config.port });
if (conn.health()?.state !== "ESTABLISHED") throw new Error("health() read no record");
const healthUs = perCall(() => conn.health());
const keepAliveUs = perCall(() => conn.getKeepAlive());
const getHealthUs = perCall(() => getHealth(native));
emit({ type: "result", healthUs, keepAliveUs, getHealthUs });
await conn.close();
(native as { end?(): void; close?(): void }).close?.();
(native as { end?(): void }).end?.();
