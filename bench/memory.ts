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
  settledRssPerConn: number;
  heapPerConn: number;
  externalPerConn: number;
  gc: boolean;
  newSpace?: number;
  settledNewSpace?: number;
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
  const mib = (bytes: number | undefined) => bytes === undefined ? "-" : fmt(bytes / 2 ** 20, 1);
  const rows = results.map((r) => {
    const raw = get(r.runtime, "raw");
    const anchor = r.kind === "raw";
    return [
      r.runtime === "deno" ? "Deno" : "Bun",
      r.kind === "live"
        ? "LiveConnection"
        : r.kind === "raw"
        ? "raw socket"
        : r.kind === "raw-read"
        ? "raw socket + 1 pending 64 KiB read"
        : "raw socket + 1 pending 512 B read",
      fmt(r.settledRssPerConn, 0),
      anchor ? "(anchor)" : fmt(r.settledRssPerConn - raw.settledRssPerConn, 0),
      anchor ? "1.00x" : ratio(r.settledRssPerConn, raw.settledRssPerConn),
      fmt(r.rssPerConn, 0),
      anchor ? "(anchor)" : fmt(r.rssPerConn - raw.rssPerConn, 0),
      fmt(r.heapPerConn, 0),
      fmt(r.externalPerConn, 0),
      r.newSpace === undefined ? "-" : `${mib(r.newSpace)} -> ${mib(r.settledNewSpace)}`,
    ];
  });
  return {
    id: "memory",
    title: `5. Memory: ${plan.memoryN} idle connections (bytes per connection)`,
    tables: [table(
      [
        "runtime",
        "kind",
        "RSS / conn, settled",
        "extra vs raw, settled",
        "RSS vs raw, settled",
        "RSS / conn, 1 s after opening",
        "extra vs raw, 1 s",
        "JS heap / conn, settled",
        "external / conn, settled",
        "V8 new space, 1 s -> settled (MiB)",
      ],
      rows,
    )],
    notes: [
      `Each kind in a fresh process: ${plan.memoryWarm} connections opened first (warm-up), ` +
      "then GC and a reading; then " +
      `${plan.memoryN} more, 1 s of quiet, GC, a reading ('1 s after opening'), GC again and a ` +
      "last reading ('settled'); per connection = delta / N. GC is Bun `Bun.gc(true)`, for " +
      "the warm-up and settled readings after `Bun.shrink()` (JavaScriptCore gives back the " +
      "free part of its heap, which it otherwise does over tens of seconds); Deno " +
      "`--expose-gc` with `gc()`, and for the warm-up and settled readings V8's memory-reducing " +
      "collection (`flavor: 'last-resort'`). The server side is a separate Bun process, so only " +
      "the client's sockets count.",
      "Settled is the program that holds idle connections: V8 sizes its young generation (new " +
      "space) to the bytes that survive its scavenges while the connections are opened, up to " +
      "16 MiB, and its memory reducer gives that back after about 30 s of quiet; the settled " +
      "reading gets there without the wait. The target is checked on it; the " +
      "'1 s after opening' columns show the same runs before that, young generation included " +
      "(a one-off 16 MiB, whatever N is). Left to itself for 40 s, a LiveConnection run settled " +
      "at 2432 B/conn and a raw one at 1665: 767 B extra.",
      "A raw Deno socket notices a break only through a pending read: the 'raw socket + pending " +
      "read' rows are that, with a 64 KiB and a 512-byte buffer. A LiveConnection in Deno on " +
      "Linux holds no read while idle (one shared epoll wait watches them all); in Bun, Bun's " +
      "event loop watches every socket.",
    ],
    data: { n: plan.memoryN, results },
    targets: (["deno", "bun"] as const).map((rt) => {
      const extra = get(rt, "live").settledRssPerConn - get(rt, "raw").settledRssPerConn;
      const early = get(rt, "live").rssPerConn - get(rt, "raw").rssPerConn;
      return {
        name: `5. ${rt === "deno" ? "Deno" : "Bun"}: extra RSS per idle LiveConnection <= 2 KiB`,
        met: extra <= 2048,
        detail: `${fmt(extra, 0)} B settled (1 s after opening: ${fmt(early, 0)} B)`,
      };
    }),
  };
}
