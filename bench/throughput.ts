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
  kind: "live" | "read" | "byob" | "raw" | "stream" | "idle" | "iter" | "rawlib";
  /** Second transfer of each process (warm: the steady state). */
  ms: number[];
  best: number;
  median: number;
  /** First transfer of each process (cold: a fresh process). */
  coldMs: number[];
  coldMedian: number;
}

/** Transfers of the raw anchor and of `kind` alternating in the same processes (ms each). */
interface Paired {
  runtime: RuntimeId;
  dir: "recv" | "send";
  kind: Run["kind"];
  raw: number[];
  live: number[];
  processes: number;
}

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];

/**
 * The way of reading a target compares with the raw anchor: the LiveConnection read the way the
 * raw loop reads. Raw Deno calls conn.read into one reused buffer (so: read()); raw Bun's data
 * handler gets a new chunk each time (so: for await). Sending has one way.
 */
function targetKind(runtime: RuntimeId, dir: Run["dir"]): Run["kind"] {
  return dir === "send" ? "live" : runtime === "deno" ? "read" : "live";
}

/** Runs benchmark 4. */
export async function benchThroughput(plan: Plan): Promise<Section> {
  const net = track(TestNet.create());
  const prefix = net.exec("client");
  const runs: Run[] = [];
  const paired: Paired[] = [];
  const peers: Child[] = [];
  try {
    const source = await startPeer("bun", "source", "127.0.0.1", 0, prefix, plan.throughputBytes);
    const sink = await startPeer("bun", "sink", "127.0.0.1", 0, prefix);
    peers.push(source.peer, sink.peer);
    const runChild = async (
      runtime: RuntimeId,
      dir: Run["dir"],
      what: { kind: Run["kind"]; pairs?: number; before?: Run["kind"] },
    ) => {
      const child = new Child(
        `throughput ${runtime} ${dir} ${what.kind}${what.pairs ? " alternating" : ""}`,
        [
          ...prefix,
          ...runtimeArgv(runtime, "throughput_child.ts", [JSON.stringify({
            ...what,
            dir,
            hostname: "127.0.0.1",
            port: dir === "recv" ? source.port : sink.port,
            bytes: plan.throughputBytes,
          })]),
        ],
      );
      try {
        return await child.waitFor("result", 300_000);
      } finally {
        await child.kill();
      }
    };
    for (const runtime of ["deno", "bun"] as const) {
      for (const dir of ["recv", "send"] as const) {
        const results: Record<Run["kind"], { warm: number[]; cold: number[] }> = {
          live: { warm: [], cold: [] },
          read: { warm: [], cold: [] },
          byob: { warm: [], cold: [] },
          raw: { warm: [], cold: [] },
          stream: { warm: [], cold: [] },
          idle: { warm: [], cold: [] },
          iter: { warm: [], cold: [] },
          rawlib: { warm: [], cold: [] },
        };
        // Receive is measured with every way of reading a LiveConnection: `for await` (a new
        // chunk each time), `read()` and a BYOB reader (one buffer, reused). Deno receive also
        // measures Deno's own conn.readable (informational).
        // "rawlib": the raw anchor where the alternating runs have it, in a process sockalive
        // has moved bytes in: whether that alone changes what raw reaches.
        const kinds = dir === "send"
          ? ["raw", "live", "rawlib"] as const
          : runtime === "deno"
          ? ["raw", "stream", "live", "read", "byob", "idle", "rawlib"] as const
          : ["raw", "iter", "live", "read", "byob", "idle", "rawlib"] as const;
        // Interleave the kinds so drifting background load hits all alike.
        for (let rep = 0; rep < plan.throughputReps; rep++) {
          for (const kind of kinds) {
            const r = await runChild(
              runtime,
              dir,
              kind === "rawlib" ? { kind, before: targetKind(runtime, dir) } : { kind },
            );
            results[kind].warm.push(r.ms as number);
            results[kind].cold.push(r.coldMs as number);
            progress(
              `throughput ${runtime} ${dir} ${kind} #${rep + 1}: ${
                fmt(plan.throughputBytes / (r.ms as number) / 1e6, 2)
              } GB/s (first transfer ${fmt(plan.throughputBytes / (r.coldMs as number) / 1e6, 2)})`,
            );
          }
        }
        // The targets: the raw anchor and the way a target reads, alternating in one process
        // (what differs from one process to the next is then the same for both), several
        // processes, the kinds compared taking turns.
        const compared = dir === "recv"
          ? [targetKind(runtime, dir), "idle"] as const
          : [targetKind(runtime, dir)] as const;
        for (let rep = 0; rep < plan.throughputPairedProcesses; rep++) {
          for (const kind of compared) {
            const r = await runChild(runtime, dir, { kind, pairs: plan.throughputPairs });
            const pairs = r.pairs as Array<{ raw: number; live: number }>;
            let into = paired.find((p) =>
              p.runtime === runtime && p.dir === dir && p.kind === kind
            );
            if (!into) paired.push(into = { runtime, dir, kind, raw: [], live: [], processes: 0 });
            into.processes++;
            for (const pair of pairs) {
              into.raw.push(pair.raw);
              into.live.push(pair.live);
            }
            progress(
              `throughput ${runtime} ${dir} raw/${kind} alternating #${rep + 1}: ${
                pairs.map((pair) => fmt(pair.raw / pair.live, 2)).join(" ")
              } (this / raw, each pair)`,
            );
          }
        }
        for (const kind of kinds) {
          const { warm: ms, cold: coldMs } = results[kind];
          runs.push({
            runtime,
            dir,
            kind,
            ms,
            best: Math.min(...ms),
            median: median(ms),
            coldMs,
            coldMedian: median(coldMs),
          });
        }
      }
    }
  } finally {
    for (const p of peers) await p.kill();
    untrack(net);
  }
  const gbps = (ms: number) => plan.throughputBytes / ms / 1e6;
  const rows: Array<Array<string | number>> = [];
  const pairedRows: Array<Array<string | number>> = [];
  const targets: Section["targets"] = [];
  const READ_AS: Record<Run["kind"], string> = {
    live: "LiveConnection, `for await` (new chunk each read)",
    read: "LiveConnection, `conn.read` (one buffer, reused)",
    byob: "LiveConnection, BYOB reader (one buffer, reused)",
    stream: "Deno's own `conn.readable` (new chunk each read)",
    iter: "no library: `for await` over a bare iterator fed by Bun's `data` handler (floor)",
    idle: "", // set per runtime below: as the target reads, with idleTimeout
    raw: "",
    rawlib: "no library in the transfer: the raw anchor, after one transfer through sockalive " +
      "in the same process",
  };
  for (const runtime of ["deno", "bun"] as const) {
    for (const dir of ["recv", "send"] as const) {
      const find = (kind: Run["kind"]) =>
        runs.find((r) => r.runtime === runtime && r.dir === dir && r.kind === kind);
      const raw = find("raw")!;
      const name = runtime === "deno" ? "Deno" : "Bun";
      const direction = dir === "recv" ? "receive" : "send";
      /** What a row reads (or writes) through, in both tables. */
      const readAs = (kind: Run["kind"]) =>
        kind === "rawlib"
          ? READ_AS.rawlib
          : dir === "send"
          ? "LiveConnection, `await conn.write`"
          : kind === "idle"
          ? `LiveConnection with \`idleTimeout: 60_000\`, ${
            runtime === "deno" ? "`conn.read`" : "`for await`"
          }`
          : READ_AS[kind];
      for (
        const kind of ["iter", "live", "read", "byob", "stream", "idle", "rawlib"] as const
      ) {
        const run = find(kind);
        if (!run) continue;
        rows.push([
          name,
          direction,
          readAs(kind),
          fmt(gbps(raw.median)),
          fmt(gbps(run.median)),
          ratio(gbps(run.median), gbps(raw.median)),
          `${fmt(gbps(raw.best))} / ${fmt(gbps(run.best))}`,
          `${fmt(gbps(raw.coldMedian))} / ${fmt(gbps(run.coldMedian))}`,
          ratio(gbps(run.coldMedian), gbps(raw.coldMedian)),
        ]);
      }
      // Every way of reading is in the table; the target is checked on one (targetKind), on
      // the transfers alternating with the raw anchor's in the same processes.
      const kind = targetKind(runtime, dir);
      const live = find(kind)!;
      const fresh = (run: Run) =>
        `in fresh processes ${ratio(gbps(run.median), gbps(raw.median), 3)}, first transfer ` +
        ratio(gbps(run.coldMedian), gbps(raw.coldMedian), 3);
      const alternating = (k: Run["kind"]) => {
        const p = paired.find((p) => p.runtime === runtime && p.dir === dir && p.kind === k)!;
        const value = gbps(median(p.live)) / gbps(median(p.raw));
        return {
          met: value >= 0.95,
          // 0.947 must not print as 0.95.
          text: `${ratio(gbps(median(p.live)), gbps(median(p.raw)), 3)} (${p.live.length} ` +
            `transfers of each, alternating in ${p.processes} processes)`,
        };
      };
      const checked = alternating(kind);
      targets.push({
        name: `4. ${name} ${direction} >= 0.95x raw` +
          (dir === "recv" ? ` (${kind === "read" ? "conn.read" : "for await"}, as raw reads)` : ""),
        met: checked.met,
        detail: `${checked.text}; ${fresh(live)}; the raw anchor after sockalive in the same ` +
          `process ${ratio(gbps(find("rawlib")!.median), gbps(raw.median), 3)} of raw` +
          (dir === "recv" && find("iter")
            ? `; floor (a bare iterator over Bun's data handler, no library) ${
              ratio(gbps(find("iter")!.median), gbps(raw.median), 3)
            } in fresh processes`
            : ""),
      });
      const idle = find("idle");
      if (idle) {
        // idleTimeout: one timer per connection, a clock read per chunk; nothing per byte.
        const withDeadline = alternating("idle");
        targets.push({
          name: `16. ${name} receive with idleTimeout >= 0.95x raw`,
          met: withDeadline.met,
          detail: `${withDeadline.text}; without idleTimeout ${checked.text}; ${fresh(idle)}`,
        });
      }
      for (const p of paired.filter((p) => p.runtime === runtime && p.dir === dir)) {
        const faster = p.live.filter((ms, i) => ms <= p.raw[i]!).length;
        pairedRows.push([
          name,
          direction,
          readAs(p.kind),
          `${p.live.length} in ${p.processes}`,
          fmt(gbps(median(p.raw))),
          fmt(gbps(median(p.live))),
          ratio(gbps(median(p.live)), gbps(median(p.raw))),
          `${faster} / ${p.live.length}`,
        ]);
      }
    }
  }
  const size = plan.throughputBytes >= 1 << 30
    ? `${plan.throughputBytes / (1 << 30)} GiB`
    : `${plan.throughputBytes / (1 << 20)} MiB`;
  return {
    id: "throughput",
    title: `4. Throughput: ${size} over loopback, LiveConnection vs the raw runtime socket (GB/s)`,
    tables: [
      table(
        [
          "runtime",
          "direction",
          "read / written as (alternating with raw: the targets)",
          "transfers of each, in processes",
          "raw (median)",
          "this (median)",
          "ratio",
          "pairs this was as fast",
        ],
        pairedRows,
      ),
      table(
        [
          "runtime",
          "direction",
          "read / written as (a fresh process per run)",
          "raw (median)",
          "this (median)",
          "ratio",
          "best raw / this",
          "first transfer: raw / this (median)",
          "first transfer: ratio",
        ],
        rows,
      ),
    ],
    notes: [
      `The targets (first table): in each of ${plan.throughputPairedProcesses} processes per ` +
      `way of reading, one transfer of the raw anchor and one of the way compared (each path ` +
      `compiled), then ${plan.throughputPairs} pairs of the two, alternating, the order swapped ` +
      "from one pair to the next; ratio of the medians of all those transfers. Alternating in " +
      "one process, what differs from one process to the next (where the scheduler puts its " +
      "threads on 2 cores, the heap's layout, the JIT's choices) falls on both alike, and " +
      "background load drifting over seconds does too; each transfer is still on a new " +
      "connection, whose receive buffer the kernel sizes anew (its autotuning), which is most " +
      "of what is left of the spread. 'pairs this was as fast': in how many pairs the " +
      "transfer through sockalive took no longer than the raw one next to it. " +
      `The second table: median of ${plan.throughputReps} runs each, kinds interleaved, a ` +
      "fresh process per run, each moving the bytes twice, each time on a new connection: " +
      "the first transfer runs while the JIT is still compiling the path the bytes take (a " +
      "one-off cost per process, larger for a LiveConnection, whose path is longer than the " +
      "raw loop's); the second is the steady state of a long-lived connection, which is what " +
      "sockalive is for. Its median/ratio/best columns are the second transfer; the first is " +
      "shown beside it. Receive: the peer sends, the client counts bytes (raw Deno: " +
      "`conn.read` into one reused 64 KiB buffer; raw Bun: the `data` handler, which gets a " +
      "new chunk each time; LiveConnection: `for await` over `readable`; `conn.read` or a " +
      "BYOB reader, each reusing one 64 KiB buffer). " +
      "Send: the client writes 64 KiB chunks, then FIN; timed until the peer reports the count " +
      "(raw Deno: `conn.write`; raw Bun: `socket.write` + `drain`; live: `await conn.write`). " +
      "The peer is a Bun node:net server in another process. The receive target compares like " +
      "with like: in Deno `conn.read` (the raw loop's own call, one reused buffer), in Bun `for " +
      "await` (a new chunk each time, as Bun's handler); every row is shown. Deno's own " +
      "`conn.readable` is measured too (informational). The `idleTimeout` row reads as the target " +
      "does, on a connection whose `idleTimeout` (60 s) never fires: what the deadline costs. " +
      "Bun's floor row is no library at all: `for await` over the least async iterator Bun's " +
      "`data` handler can feed (a queue and one waiting promise), what any `for await` over " +
      "Bun's chunks costs against the handler alone.",
    ],
    data: { bytes: plan.throughputBytes, runs, paired },
    targets,
  };
}
