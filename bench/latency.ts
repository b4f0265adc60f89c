/**
 * Request/response latency over loopback (informational, no target): what reading costs per
 * message through a LiveConnection, and in particular what the shared readiness wait of Deno on
 * Linux costs against a read always pending. Runs in its own namespace; the echo peer is a
 * separate Bun process.
 *
 * @module
 */

import { TestNet } from "../tools/netns.ts";
import { fmt, type Plan, ratio, type Section, table } from "./plan.ts";
import { Child, progress, runtimeArgv, type RuntimeId, startPeer, track, untrack } from "./proc.ts";

type Kind = "raw" | "live" | "live-stream" | "live-pending";

interface Run {
  runtime: RuntimeId;
  kind: Kind;
  p50: number[];
  p90: number[];
  p99: number[];
}

const REPS = 3;
const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];

/** Runs the latency benchmark. */
export async function benchLatency(plan: Plan): Promise<Section> {
  const net = track(TestNet.create());
  const prefix = net.exec("client");
  const runs: Run[] = [];
  try {
    const { peer, port } = await startPeer("bun", "echo", "127.0.0.1", 0, prefix);
    try {
      for (const runtime of ["deno", "bun"] as const) {
        const kinds: Kind[] = runtime === "deno"
          ? ["raw", "live", "live-stream", "live-pending"]
          : ["raw", "live", "live-stream"];
        const byKind = new Map<Kind, Run>(
          kinds.map((kind) => [kind, { runtime, kind, p50: [], p90: [], p99: [] }]),
        );
        for (let rep = 0; rep < (plan.smoke ? 1 : REPS); rep++) {
          for (const kind of kinds) {
            const child = new Child(`latency ${runtime} ${kind}`, [
              ...prefix,
              ...runtimeArgv(runtime, "latency_child.ts", [JSON.stringify({
                kind,
                hostname: "127.0.0.1",
                port,
                rounds: plan.latencyRounds,
              })]),
            ]);
            try {
              const r = await child.waitFor("result", 300_000);
              const run = byKind.get(kind)!;
              run.p50.push(r.p50 as number);
              run.p90.push(r.p90 as number);
              run.p99.push(r.p99 as number);
              progress(`latency ${runtime} ${kind} #${rep + 1}: p50 ${fmt(r.p50 as number)} µs`);
            } finally {
              await child.kill();
            }
          }
        }
        runs.push(...byKind.values());
      }
    } finally {
      await peer.kill();
    }
  } finally {
    untrack(net);
  }
  const readAs = (runtime: RuntimeId, kind: Kind) =>
    kind === "raw"
      ? `raw socket (${runtime === "deno" ? "`conn.read`" : "`data` handler"})`
      : kind === "live-stream"
      ? `LiveConnection, \`readable\` (as \`for await\`)${
        runtime === "deno" ? "; Linux: each reply through the shared wait" : ""
      }`
      : kind === "live-pending"
      ? "LiveConnection, `conn.read`, a read always pending (as on macOS, Windows)"
      : runtime === "deno"
      ? "LiveConnection, `conn.read` (Linux: shared epoll wait when idle)"
      : "LiveConnection, `conn.read`";
  const rows = runs.map((run) => {
    const raw = runs.find((r) => r.runtime === run.runtime && r.kind === "raw")!;
    return [
      run.runtime === "deno" ? "Deno" : "Bun",
      readAs(run.runtime, run.kind),
      fmt(median(run.p50)),
      fmt(median(run.p90)),
      fmt(median(run.p99)),
      run.kind === "raw" ? "(anchor)" : ratio(median(run.p50), median(raw.p50)),
    ];
  });
  return {
    id: "latency",
    title: "7. Request/response latency over loopback, 64-byte messages (µs; informational)",
    tables: [table(["runtime", "read as", "p50", "p90", "p99", "p50 vs raw"], rows)],
    notes: [
      `Each run: ${plan.latencyRounds} round trips (write 64 bytes, read until the echo peer ` +
      `has sent them back), after a warm-up; median of ${plan.smoke ? 1 : REPS} runs of each ` +
      "percentile, kinds interleaved, a fresh process per run. No target: this shows what " +
      "reading through a LiveConnection costs per message, and what the shared readiness wait " +
      "of Deno on Linux (what lets an idle connection hold no read) costs: nothing with " +
      "`read()` (while it waits, the socket is read straight into its buffer, as with a read " +
      "always pending, the way on macOS and Windows), a trip through the monitor's thread per " +
      "reply with `readable`.",
    ],
    data: { rounds: plan.latencyRounds, runs },
    targets: [],
  };
}
