/**
 * Benchmark 10: the cost of one `health()` call (informational), in both runtimes, against the
 * cost of `getKeepAlive()` on the same connection in the same process. Runs in its own namespace;
 * the peer is a separate Bun process that holds the connections.
 *
 * @module
 */

import { TestNet } from "../tools/netns.ts";
import { fmt, type Plan, ratio, type Section, table } from "./plan.ts";
import { Child, progress, runtimeArgv, startPeer, track, untrack } from "./proc.ts";

const REPS = 3;
const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];

/** Runs benchmark 10. */
export async function benchHealth(plan: Plan): Promise<Section> {
  const net = track(TestNet.create());
  const prefix = net.exec("client");
  const rows: Array<Array<string | number>> = [];
  const data: Record<string, { healthUs: number[]; keepAliveUs: number[]; getHealthUs: number[] }> =
    {};
  try {
    const { peer, port } = await startPeer("bun", "hold", "127.0.0.1", 0, prefix);
    try {
      for (const runtime of ["deno", "bun"] as const) {
        const d = data[runtime] = {
          healthUs: [] as number[],
          keepAliveUs: [] as number[],
          getHealthUs: [] as number[],
        };
        for (let rep = 0; rep < (plan.smoke ? 1 : REPS); rep++) {
          const child = new Child(`health ${runtime}`, [
            ...prefix,
            ...runtimeArgv(runtime, "health_child.ts", [JSON.stringify({
              hostname: "127.0.0.1",
              port,
              calls: plan.smoke ? 1000 : 20_000,
            })]),
          ]);
          try {
            const r = await child.waitFor("result", 120_000);
            d.healthUs.push(r.healthUs as number);
            d.keepAliveUs.push(r.keepAliveUs as number);
            d.getHealthUs.push(r.getHealthUs as number);
            progress(`health ${runtime} #${rep + 1}: ${fmt(r.healthUs as number)} µs`);
          } finally {
            await child.kill();
          }
        }
        const health = median(d.healthUs), keepAlive = median(d.keepAliveUs);
        rows.push([
          runtime === "deno" ? "Deno" : "Bun",
          fmt(health),
          fmt(median(d.getHealthUs)),
          fmt(keepAlive),
          ratio(health, keepAlive),
        ]);
      }
    } finally {
      await peer.kill();
    }
  } finally {
    untrack(net);
  }
  return {
    id: "health",
    title: "10. Reading a connection's health (µs per call; informational)",
    tables: [table([
      "runtime",
      "`conn.health()`",
      "`getHealth(runtime socket)`",
      "`conn.getKeepAlive()` (anchor)",
      "health() vs anchor",
    ], rows)],
    notes: [
      "`conn.health()`: verify the descriptor (getsockname, getpeername, TCP_USER_TIMEOUT), one " +
      "getsockopt(TCP_INFO) of 248 bytes, decode. `getHealth()` on the runtime's own socket finds " +
      "it first (Deno: by its addresses; Bun: its fd, verified). The anchor reads keepalive " +
      "back on the same connection (the same verification, which reads the user timeout, and " +
      "four getsockopt). p50 of batches of 100 calls, median of " +
      `${plan.smoke ? 1 : REPS} fresh processes per runtime.`,
    ],
    data,
    targets: [],
  };
}
