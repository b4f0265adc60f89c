/**
 * Benchmark 5: memory of idle connections, LiveConnection vs the runtime's own socket. Each kind
 * runs in its own client process; the server side is a separate Bun process (the descriptor
 * limit is per process). Runs in its own namespace.
 *
 * @module
 */

import { TestNet } from "../tools/netns.ts";
import { fmt, type Plan, ratio, type Section, table } from "./plan.ts";
import { Child, progress, runtimeArgv, type RuntimeId, startPeer, track, untrack } from "./proc.ts";

interface Result {
  runtime: RuntimeId;
  kind: "live" | "raw" | "raw-read" | "raw-read-small";
  rssPerConn: number;
  heapPerConn: number;
  externalPerConn: number;
  gc: boolean;
  newSpace?: number;
}

/** Runs benchmark 5. */
export async function benchMemory(plan: Plan): Promise<Section> {
  const net = track(TestNet.create());
  const prefix = net.exec("client");
  const results: Result[] = [];
  try {
    const kinds: Array<[RuntimeId, Result["kind"]]> = [
      ["deno", "raw"],
      ["deno", "raw-read"],
      ["deno", "raw-read-small"],
      ["deno", "live"],
      ["bun", "raw"],
      ["bun", "live"],
    ];
    for (const [runtime, kind] of kinds) {
      // A fresh peer per run, so the previous run's sockets are gone from its side.
      const { peer, port } = await startPeer("bun", "hold", "127.0.0.1", 0, prefix);
      const child = new Child(`memory ${runtime} ${kind}`, [
        ...prefix,
        ...runtimeArgv(runtime, "memory_child.ts", [JSON.stringify({
          kind,
          hostname: "127.0.0.1",
          port,
          n: plan.memoryN,
          warm: plan.memoryWarm,
        })]),
      ], (m) => {
        if (m.type === "progress") progress(`memory ${runtime} ${kind}: ${m.opened} open`);
      });
      try {
        const r = await child.waitFor("result", 300_000);
        results.push({ runtime, ...(r as unknown as Omit<Result, "runtime">) });
        progress(
          `memory ${runtime} ${kind}: ${fmt(r.rssPerConn as number, 0)} B RSS per connection`,
        );
      } finally {
        await child.kill();
        await peer.kill();
      }
    }
  } finally {
    untrack(net);
  }
  const get = (rt: RuntimeId, kind: Result["kind"]) =>
    results.find((r) => r.runtime === rt && r.kind === kind)!;
  const rows = results.map((r) => {
    const raw = get(r.runtime, "raw");
    return [
      r.runtime === "deno" ? "Deno" : "Bun",
      r.kind === "live"
        ? "LiveConnection"
        : r.kind === "raw"
        ? "raw socket"
        : r.kind === "raw-read"
        ? "raw socket + 1 pending 64 KiB read"
        : "raw socket + 1 pending 512 B read",
      fmt(r.rssPerConn, 0),
      fmt(r.heapPerConn, 0),
      fmt(r.externalPerConn, 0),
      r.kind === "raw" ? "(anchor)" : fmt(r.rssPerConn - raw.rssPerConn, 0),
      r.kind === "raw" ? "1.00x" : ratio(r.rssPerConn, raw.rssPerConn),
      r.newSpace === undefined ? "-" : fmt(r.newSpace / 2 ** 20, 1),
    ];
  });
  return {
    id: "memory",
    title: `5. Memory: ${plan.memoryN} idle connections (bytes per connection)`,
    tables: [table(
      [
        "runtime",
        "kind",
        "RSS / conn",
        "JS heap / conn",
        "external / conn",
        "extra RSS vs raw",
        "RSS vs raw",
        "V8 new space (MiB)",
      ],
      rows,
    )],
    notes: [
      `Each kind in a fresh process: ${plan.memoryWarm} connections opened first (warm-up), then ` +
      "GC (Deno `--expose-gc` + `gc()`, Bun `Bun.gc(true)`) and a reading; then " +
      `${plan.memoryN} more, 1 s of quiet, GC, and a second reading; per connection = delta / N. ` +
      "The server side is a separate Bun process, so only the client's sockets count. A raw " +
      "Deno socket notices a break only through a pending read: the 'raw socket + pending read' " +
      "rows are that, with a 64 KiB and a 512-byte buffer. A LiveConnection in Deno on Linux " +
      "holds no read while idle (one shared epoll wait watches them all); in Bun, Bun's event " +
      "loop watches every socket. 'V8 new space' is the size of V8's young generation at the " +
      "second reading (Deno): it grows with the bytes that survive scavenges while the " +
      "connections are opened and is not given back when the program goes quiet, so it counts " +
      "in the RSS per connection.",
    ],
    data: { n: plan.memoryN, results },
    targets: (["deno", "bun"] as const).map((rt) => {
      const extra = get(rt, "live").rssPerConn - get(rt, "raw").rssPerConn;
      return {
        name: `5. ${rt === "deno" ? "Deno" : "Bun"}: extra RSS per LiveConnection <= 2 KiB`,
        met: extra <= 2048,
        detail: `${fmt(extra, 0)} B`,
      };
    }),
  };
}
