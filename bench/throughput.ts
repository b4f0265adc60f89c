/**
 * Benchmark 4: bulk transfer over loopback through a LiveConnection vs the runtime's own socket,
 * both directions, both runtimes. The peer is a separate Bun process; everything runs in its own
 * namespace (its own loopback).
 *
 * @module
 */

import { TestNet } from "../tools/netns.ts";
import { fmt, type Plan, ratio, type Section, table } from "./plan.ts";
import { Child, progress, runtimeArgv, type RuntimeId, startPeer, track, untrack } from "./proc.ts";

interface Run {
  runtime: RuntimeId;
  dir: "recv" | "send";
  kind: "live" | "raw" | "stream";
  ms: number[];
  best: number;
  median: number;
}

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];

/** Runs benchmark 4. */
export async function benchThroughput(plan: Plan): Promise<Section> {
  const net = track(TestNet.create());
  const prefix = net.exec("client");
  const runs: Run[] = [];
  const peers: Child[] = [];
  try {
    const source = await startPeer("bun", "source", "127.0.0.1", 0, prefix, plan.throughputBytes);
    const sink = await startPeer("bun", "sink", "127.0.0.1", 0, prefix);
    peers.push(source.peer, sink.peer);
    for (const runtime of ["deno", "bun"] as const) {
      for (const dir of ["recv", "send"] as const) {
        const results: Record<string, number[]> = { live: [], raw: [], stream: [] };
        // Deno receive also measures Deno's own conn.readable, which, like a LiveConnection,
        // hands each chunk out in memory of its own (a second, informational anchor).
        const kinds = runtime === "deno" && dir === "recv"
          ? ["raw", "stream", "live"] as const
          : ["raw", "live"] as const;
        // Interleave the kinds so drifting background load hits all alike.
        for (let rep = 0; rep < plan.throughputReps; rep++) {
          for (const kind of kinds) {
            const child = new Child(`throughput ${runtime} ${dir} ${kind}`, [
              ...prefix,
              ...runtimeArgv(runtime, "throughput_child.ts", [JSON.stringify({
                kind,
                dir,
                hostname: "127.0.0.1",
                port: dir === "recv" ? source.port : sink.port,
                bytes: plan.throughputBytes,
              })]),
            ]);
            try {
              const r = await child.waitFor("result", 300_000);
              results[kind].push(r.ms as number);
              progress(
                `throughput ${runtime} ${dir} ${kind} #${rep + 1}: ${
                  fmt(plan.throughputBytes / (r.ms as number) / 1e6, 2)
                } GB/s`,
              );
            } finally {
              await child.kill();
            }
          }
        }
        for (const kind of kinds) {
          const ms = results[kind];
          runs.push({ runtime, dir, kind, ms, best: Math.min(...ms), median: median(ms) });
        }
      }
    }
  } finally {
    for (const p of peers) await p.kill();
    untrack(net);
  }
  const gbps = (ms: number) => plan.throughputBytes / ms / 1e6;
  const rows: Array<Array<string | number>> = [];
  const targets: Section["targets"] = [];
  for (const runtime of ["deno", "bun"] as const) {
    for (const dir of ["recv", "send"] as const) {
      const raw = runs.find((r) => r.runtime === runtime && r.dir === dir && r.kind === "raw")!;
      const live = runs.find((r) => r.runtime === runtime && r.dir === dir && r.kind === "live")!;
      const stream = runs.find((r) =>
        r.runtime === runtime && r.dir === dir && r.kind === "stream"
      );
      const name = runtime === "deno" ? "Deno" : "Bun";
      rows.push([
        name,
        dir === "recv" ? "receive" : "send",
        fmt(gbps(raw.median)),
        fmt(gbps(live.median)),
        ratio(gbps(live.median), gbps(raw.median)),
        stream
          ? `${fmt(gbps(stream.median))} (${ratio(gbps(live.median), gbps(stream.median))})`
          : "-",
        `${fmt(gbps(raw.best))} / ${fmt(gbps(live.best))}`,
      ]);
      targets.push({
        name: `4. ${name} ${dir === "recv" ? "receive" : "send"} >= 0.95x raw`,
        met: gbps(live.median) >= 0.95 * gbps(raw.median),
        detail: ratio(gbps(live.median), gbps(raw.median)),
      });
    }
  }
  const size = plan.throughputBytes >= 1 << 30
    ? `${plan.throughputBytes / (1 << 30)} GiB`
    : `${plan.throughputBytes / (1 << 20)} MiB`;
  return {
    id: "throughput",
    title: `4. Throughput: ${size} over loopback, LiveConnection vs the raw runtime socket (GB/s)`,
    tables: [table(
      [
        "runtime",
        "direction",
        "raw (median)",
        "LiveConnection (median)",
        "ratio",
        "runtime's stream (live / stream)",
        "best raw / live",
      ],
      rows,
    )],
    notes: [
      `Median of ${plan.throughputReps} runs each, raw and live interleaved, a fresh process per ` +
      "run. Receive: the peer sends, the client counts bytes (raw Deno: `conn.read` into one " +
      "reused 64 KiB buffer; raw Bun: the `data` handler; live: `for await` over `readable`). " +
      "Send: the client writes 64 KiB chunks, then FIN; timed until the peer reports the count " +
      "(raw Deno: `conn.write`; raw Bun: `socket.write` + `drain`; live: `await conn.write`). " +
      "The peer is a Bun node:net server in another process. For Deno receive, the runtime's own " +
      "`conn.readable` is measured too (informational, not the target's anchor): like a " +
      "LiveConnection it hands every chunk out in fresh memory, which the raw loop, reusing one " +
      "buffer, never pays for.",
    ],
    data: { bytes: plan.throughputBytes, runs },
    targets,
  };
}
