/**
 * Benchmark 6: scale. Per runtime, idle watched connections at each size of the cost curve up to
 * the per-process descriptor limit (minus a reserve), and many more across worker processes;
 * each against the runtime's own sockets (the raw anchor) for the time to open them all and the
 * memory they take; then the CPU of the idle process, and one pulled cable that must break them
 * all within budget + 1 s. Both ends on this machine: the peers (Bun, several processes and
 * ports) in the server namespace, the clients in the client namespace.
 *
 * @module
 */

import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { detectionTime } from "../mod.ts";
import { SERVER_IP, TestNet } from "../tools/netns.ts";
import { sleep, summarize } from "./common.ts";
import { curveSizes } from "./cost.ts";
import { fmt, type Plan, ratio, type Section, table } from "./plan.ts";
import {
  Child,
  cpuMs,
  progress,
  runtimeArgv,
  type RuntimeId,
  settle,
  startPeers,
  track,
  trackSetting,
  untrack,
} from "./proc.ts";

const KEEPALIVE = { idle: 1000, interval: 1000, count: 3 };
/** While opening: no probe before the watch starts (see scale_child.ts). */
const OPEN_KEEPALIVE = { idle: 600_000, interval: 1000, count: 3 };
const PORT = 7100;
/** Connections per peer process: well under a process's descriptor limit. */
const PER_PEER = 10_000;

const BACKLOG = "/proc/sys/net/core/netdev_max_backlog";
/**
 * The kernel's queue of received packets per CPU, while this benchmark runs: a veth pair
 * delivers every packet through it, and at 100,000 connections probing each second (their
 * timers fire together, having been set together) the default 1000 overflowed by the million
 * (/proc/net/softnet_stat), so probes or their answers were lost on an intact path and
 * connections ended before the cable was pulled. A host holding 100,000 connections raises it.
 */
const SCALE_BACKLOG = 100_000;

/** Packets the kernel dropped for a full backlog so far, all CPUs (/proc/net/softnet_stat). */
function backlogDrops(): number {
  return readFileSync("/proc/net/softnet_stat", "utf8").trim().split("\n")
    .reduce((sum, line) => sum + parseInt(line.trim().split(/\s+/)[1]!, 16), 0);
}

/**
 * SYNs the client namespace's kernel sent again (TcpExt TCPSynRetrans): a connect whose first
 * SYN went unanswered waits 1 s for its second, which shows in a time to open as a whole second.
 */
function synRetransmits(net: TestNet): number | undefined {
  try {
    const [command, ...args] = [...net.exec("client"), "cat", "/proc/net/netstat"];
    const rows = execFileSync(command!, args, { encoding: "utf8" }).split("\n")
      .filter((line) => line.startsWith("TcpExt:")).map((line) => line.trim().split(/\s+/));
    const at = rows[0]?.indexOf("TCPSynRetrans") ?? -1;
    return at > 0 ? Number(rows[1]?.[at]) : undefined;
  } catch {
    return undefined;
  }
}

/** Sets netdev_max_backlog to at least `want`; returns how to put it back (a no-op if unchanged). */
function raiseBacklog(want: number): { before: number; during: number; restore(): void } {
  const before = Number(readFileSync(BACKLOG, "utf8").trim());
  if (before >= want) return { before, during: before, restore() {} };
  try {
    writeFileSync(BACKLOG, `${want}\n`);
  } catch {
    return { before, during: before, restore() {} }; // not root: measured as the machine is
  }
  return {
    before,
    during: want,
    restore: trackSetting(() => writeFileSync(BACKLOG, `${before}\n`)),
  };
}

/** One run: `workers` client processes of one kind holding `n` connections in all. */
export interface GroupResult {
  runtime: RuntimeId;
  kind: "live" | "raw" | "floor";
  n: number;
  workers: number;
  /** From "go" to the last worker's last connection open. */
  openMs: number;
  /** Waited before "go" for a quiet machine (see `settle`). */
  quietMs: number;
  /** Settled RSS, JS heap and external memory per connection over the warm baseline. */
  rssPerConn: number;
  heapPerConn: number;
  externalPerConn: number;
  /** Open descriptors of the fullest worker. */
  descriptors: number;
  /** `conn.setKeepAlive(KEEPALIVE)` on every open connection, µs per connection. */
  watchApplyUs?: number;
  /** Connects that failed and were tried again, in all workers, by code. */
  connectFailures: Record<string, number>;
  /** Packets the kernel dropped for a full backlog during the run (see SCALE_BACKLOG). */
  backlogDrops?: number;
  /** SYNs sent again while the connections opened (see `synRetransmits`). */
  synRetransmits?: number;
  /** CPU of the busiest idle worker, % of one core, over the plan's idleCpuMs. */
  idleCpuPct?: number;
  detection?: {
    ended: number;
    /** Ended before the cable was pulled: probes or their answers lost on an intact path. */
    beforePull: number;
    codes: Record<string, number>;
    ms: ReturnType<typeof summarize>;
  };
}

async function group(
  plan: Plan,
  runtime: RuntimeId,
  kind: GroupResult["kind"],
  n: number,
  workers: number,
  measureCpu: boolean,
): Promise<GroupResult> {
  const label = `scale ${runtime} ${kind} ${n}${workers > 1 ? ` (${workers} processes)` : ""}`;
  const net = track(TestNet.create());
  const children: Child[] = [];
  let peers: Child[] = [];
  try {
    const started = await startPeers(
      Math.max(workers, Math.ceil((n + 1) / PER_PEER)),
      "hold",
      SERVER_IP,
      PORT,
      net.exec("server"),
    );
    peers = started.peers;
    const sizes = Array.from(
      { length: workers },
      (_, i) => Math.floor(n / workers) + (i < n % workers ? 1 : 0),
    );
    for (let i = 0; i < workers; i++) {
      const ports = workers > 1 ? [started.ports[i]] : started.ports;
      children.push(
        new Child(`${label} #${i}`, [
          ...net.exec("client"),
          ...runtimeArgv(runtime, "scale_child.ts", [JSON.stringify({
            kind,
            hostname: SERVER_IP,
            ports,
            n: sizes[i],
            warm: Math.min(plan.scaleWarm, Math.floor(sizes[i] / 2)),
            openKeepAlive: OPEN_KEEPALIVE,
            // userTimeout as connect() would default it (the budget): setKeepAlive without one
            // keeps the socket's, here the opening options' 603 s, and the kernel then ignores
            // the probe count (a user timeout ends a connection whose probes go unanswered).
            keepAlive: { ...KEEPALIVE, userTimeout: detectionTime(KEEPALIVE) },
            // 100 connects in flight on the machine, however many processes: more overflowed
            // the kernel's backlog of packets to process (net.core.netdev_max_backlog, 1000, one
            // for the whole machine: /proc/net/softnet_stat counted the drops) and SYNs were
            // lost. A raw connect then waits 1 s to try again; a sockalive one, whose user
            // timeout applies from the connect on, fails after the budget.
            batch: Math.max(10, Math.floor(100 / workers)),
          })]),
        ]),
      );
    }
    await Promise.all(children.map((c) => c.waitFor("ready", 120_000)));
    // The row before tore down as many sockets and a pair of namespaces: the kernel cleans up
    // for seconds after, and a time to open measured meanwhile would measure that too.
    const quietMs = await settle(30_000);
    const dropsBefore = backlogDrops();
    const synsBefore = synRetransmits(net);
    const go = performance.now();
    for (const c of children) c.send("go");
    const opened = await Promise.all(children.map((c) => c.waitFor("opened", 300_000)));
    const openMs = performance.now() - go;
    const synsAfter = synRetransmits(net);
    progress(`${label}: open in ${fmt(openMs / 1000)} s`);
    const mem = await Promise.all(children.map((c) => c.waitFor("memory", 120_000)));
    const sum = (key: string) =>
      mem.reduce((s, m) => s + (m[key] as number) * (m.count as number), 0) /
      mem.reduce((s, m) => s + (m.count as number), 0);
    const result: GroupResult = {
      runtime,
      kind,
      n,
      workers,
      openMs,
      quietMs,
      rssPerConn: sum("rssPerConn"),
      heapPerConn: sum("heapPerConn"),
      externalPerConn: sum("externalPerConn"),
      descriptors: Math.max(...opened.map((m) => m.descriptors as number)),
      connectFailures: {},
      synRetransmits: synsBefore === undefined || synsAfter === undefined
        ? undefined
        : synsAfter - synsBefore,
    };
    for (const m of opened) {
      for (const [k, v] of Object.entries(m.failures as Record<string, number>)) {
        result.connectFailures[k] = (result.connectFailures[k] ?? 0) + v;
      }
    }
    const watching = await Promise.all(children.map((c) => c.waitFor("watching", 120_000)));
    result.watchApplyUs = watching.reduce((a, m) => a + (m.applyMs as number), 0) * 1000 / n;
    // Every connection idle past its new `idle`: probing, as a watched idle connection is.
    if (kind === "live") await sleep(KEEPALIVE.idle + 500);
    if (measureCpu) {
      // The pid of `ip netns exec` is the runtime's: ip execs the command in place.
      const pids = children.map((c) => c.proc.pid!);
      const cpu0 = pids.map(cpuMs);
      const t0 = performance.now();
      await sleep(plan.idleCpuMs);
      const wall = performance.now() - t0;
      result.idleCpuPct = Math.max(...pids.map((p, i) => (cpuMs(p) - cpu0[i]) / wall * 100));
      progress(`${label}: idle CPU ${fmt(result.idleCpuPct)}% of a core`);
    }
    if (kind === "live") {
      const pulledAt = net.pull();
      const cap = detectionTime(KEEPALIVE) + (plan.smoke ? 3000 : 10_000);
      const items = () =>
        children.flatMap((c) =>
          c.messages.filter((m) => m.type === "broken").flatMap((m) =>
            m.items as Array<[number, string]>
          )
        );
      while (items().length < n && Date.now() - pulledAt < cap) await sleep(250);
      const all = items();
      const codes: Record<string, number> = {};
      for (const [, code] of all) codes[code] = (codes[code] ?? 0) + 1;
      result.detection = {
        ended: all.length,
        beforePull: all.filter(([at]) => at < pulledAt).length,
        codes,
        ms: summarize(all.map(([at]) => at - pulledAt)),
      };
      progress(`${label}: ${all.length}/${n} broken, max ${fmt(result.detection.ms.max, 0)} ms`);
    }
    result.backlogDrops = backlogDrops() - dropsBefore;
    return result;
  } finally {
    await Promise.all(children.map((c) => c.kill()));
    await Promise.all(peers.map((p) => p.kill()));
    untrack(net);
  }
}

/** Runs benchmark 6 in Deno and in Bun. */
export async function benchScale(plan: Plan): Promise<Section> {
  const sizes = curveSizes(plan);
  const limitN = sizes[sizes.length - 1];
  const results: GroupResult[] = [];
  const backlog = raiseBacklog(SCALE_BACKLOG);
  try {
    for (const runtime of ["deno", "bun"] as const) {
      for (const n of sizes) {
        results.push(await group(plan, runtime, "raw", n, 1, false));
        // Beside raw, before the live row's pulled cable leaves 19,900 sockets to tear down.
        if (n === limitN) results.push(await group(plan, runtime, "floor", n, 1, false));
        results.push(await group(plan, runtime, "live", n, 1, n === limitN));
      }
      results.push(await group(plan, runtime, "raw", plan.scaleMultiN, plan.scaleWorkers, false));
      results.push(await group(plan, runtime, "live", plan.scaleMultiN, plan.scaleWorkers, true));
    }
  } finally {
    backlog.restore();
  }
  const budget = detectionTime(KEEPALIVE);
  const limit = budget + 1000;
  const s = (ms: number) => `${fmt(ms / 1000)} s`;
  const anchor = (kind: "raw" | "floor") => (r: GroupResult) =>
    results.find((x) =>
      x.kind === kind && x.runtime === r.runtime && x.n === r.n && x.workers === r.workers
    );
  const raw = (r: GroupResult) => anchor("raw")(r)!;
  const floor = anchor("floor");
  /** The floor's time to open against raw's, where the floor was measured. */
  const floorText = (r: GroupResult) => {
    const f = floor(r);
    return f ? `${s(f.openMs)} (${ratio(f.openMs, raw(r).openMs)})` : "-";
  };
  const live = results.filter((r) => r.kind === "live");
  const retried = (r: GroupResult) => {
    const total = Object.values(r.connectFailures).reduce((a, b) => a + b, 0);
    return total
      ? `${total} (${Object.entries(r.connectFailures).map(([k, v]) => `${k} ${v}`).join(", ")})`
      : "0";
  };
  const name = (rt: RuntimeId) => rt === "deno" ? "Deno" : "Bun";
  const where = (r: GroupResult) =>
    r.workers > 1 ? `${r.n} in ${r.workers} processes` : `${r.n} in one process`;
  const targets: Section["targets"] = [];
  for (const r of live) {
    if (r.workers === 1 && r.n !== limitN) continue;
    const d = r.detection!;
    const rt = name(r.runtime);
    targets.push(
      {
        name: `6. ${rt}, ${where(r)}: all broken within ${limit / 1000} s`,
        met: d.ended === r.n && d.ms.max <= limit && d.beforePull === 0,
        detail: `${d.ended}/${r.n} broken, max ${s(d.ms.max)}${
          d.beforePull ? `, ${d.beforePull} ended before the pull` : ""
        }`,
      },
      {
        name: `6. ${rt}, ${where(r)}: time to open <= 1.3x raw`,
        met: r.openMs <= 1.3 * raw(r).openMs,
        detail: `${s(r.openMs)} vs ${s(raw(r).openMs)} (${ratio(r.openMs, raw(r).openMs)})` +
          (floor(r) ? `; floor (raw + sockalive's system calls, bare) ${floorText(r)}` : ""),
      },
      {
        name: `6. ${rt}, ${where(r)}: idle CPU <= 1% of a core over ${plan.idleCpuMs / 1000} s`,
        met: (r.idleCpuPct ?? Infinity) <= 1,
        detail: `${fmt(r.idleCpuPct)}%${r.workers > 1 ? " (busiest process)" : ""}`,
      },
    );
    if (r.workers === 1) {
      const extra = r.rssPerConn - raw(r).rssPerConn;
      targets.push({
        name: `6. ${rt}, ${where(r)}: extra RSS per connection over raw <= 1 KiB, settled`,
        met: extra <= 1024,
        detail: `${fmt(extra, 0)} B (${fmt(r.rssPerConn, 0)} vs ${fmt(raw(r).rssPerConn, 0)})`,
      });
    }
  }
  return {
    id: "scale",
    title: `6. Scale: idle watched connections up to the descriptor limit (${limitN} in one ` +
      `process) and ${plan.scaleMultiN} in ${plan.scaleWorkers} processes, one pulled cable ` +
      `(budget ${budget} ms)`,
    tables: [table(
      [
        "runtime",
        "connections",
        "broken",
        "codes",
        "ended before the pull",
        "p50",
        "max",
        "spread (max - min)",
        "max vs budget",
        "open (live / raw)",
        "open: floor (vs raw)",
        "connects retried (live / raw)",
        "SYNs resent while opening (live / raw)",
        "RSS / conn (live / raw)",
        "extra RSS / conn",
        "extra heap / conn",
        "idle CPU",
        "packets dropped (live / raw)",
      ],
      live.map((r) => {
        const d = r.detection!;
        const a = raw(r);
        return [
          name(r.runtime),
          where(r),
          `${d.ended}/${r.n}`,
          Object.entries(d.codes).map(([k, v]) => `${k} ${v}`).join(", "),
          d.beforePull,
          s(d.ms.p50),
          s(d.ms.max),
          s(d.ms.max - d.ms.min),
          ratio(d.ms.max, budget),
          `${s(r.openMs)} / ${s(a.openMs)} (${ratio(r.openMs, a.openMs)})`,
          floorText(r),
          `${retried(r)} / ${retried(a)}`,
          `${r.synRetransmits ?? "-"} / ${a.synRetransmits ?? "-"}`,
          `${fmt(r.rssPerConn, 0)} / ${fmt(a.rssPerConn, 0)}`,
          fmt(r.rssPerConn - a.rssPerConn, 0),
          fmt(r.heapPerConn - a.heapPerConn, 0),
          r.idleCpuPct === undefined ? "-" : `${fmt(r.idleCpuPct)}%`,
          `${r.backlogDrops ?? "-"} / ${a.backlogDrops ?? "-"}`,
        ];
      }),
    )],
    notes: [
      `Options ${JSON.stringify(KEEPALIVE)}. Each row is a fresh pair of namespaces: Bun peers ` +
      `(at most ${PER_PEER} connections each, one port each) in the server namespace, the ` +
      "clients in the client namespace. A client process opens " +
      `${plan.scaleWarm} connections, collects garbage and reads its memory, then on "go" opens ` +
      "the rest, 100 at a time (all processes together); a failed connect is counted and tried " +
      "again ('connects retried'); 'open' is from go to the last connection open (for several " +
      "processes, all at once, each to its own peer port); before go each row waits for a " +
      "quiet machine (under 10% busy for 1 s, at most 30 s: the row before tore down as many " +
      `sockets; waited ${fmt(Math.max(...results.map((r) => r.quietMs)) / 1000)} s at most). ` +
      "Memory is settled (V8's memory-" +
      "reducing collection in Deno, `Bun.shrink()` and `Bun.gc(true)` in Bun, 1 s after " +
      "opening: each engine gives back the memory it holds free, as it does by itself after " +
      "a quiet while) over the warm " +
      "baseline, per connection. The raw anchor is the same process with the runtime's own " +
      "sockets (`Deno.connect`, `Bun.connect`), no keepalive, no watch. sockalive connections " +
      `open with ${JSON.stringify(OPEN_KEEPALIVE)} (no probe yet), and after the memory reading ` +
      `each gets \`conn.setKeepAlive(${
        JSON.stringify({ ...KEEPALIVE, userTimeout: detectionTime(KEEPALIVE) })
      })\` (${
        live.map((r) => `${name(r.runtime)} ${r.n}: ${fmt(r.watchApplyUs, 1)} µs`).join(", ")
      } per connection): opened with 1 s probes, the connections already open probe while the ` +
      "rest open (at 100,000, 200,000 packets a second through the veth pair), and the time " +
      "to open would be the kernel's probe work, not the library's. Idle CPU: utime + stime " +
      `from /proc/<pid>/stat over ${plan.idleCpuMs / 1000} s, ${KEEPALIVE.idle / 1000 + 0.5} s ` +
      "after that (every connection probing), at the limit and across processes. Then the " +
      "cable is pulled once; times are from the pull.",
      `net.core.netdev_max_backlog is ${backlog.during} while this runs (${backlog.before} ` +
      "before, and after): with the default 1000 the veth pair's backlog overflowed at 100,000 " +
      "connections, and lost probes ended connections before the pull. 'packets dropped' is " +
      "/proc/net/softnet_stat's count of such drops from go to the end of each run. 'SYNs " +
      "resent' is the client namespace's TcpExt TCPSynRetrans from go to the last connection " +
      "open: each connect whose first SYN went unanswered waited 1 s for its second, and a row " +
      "with any has that second in its time to open.",
      "The floor (at the limit, one process): the raw anchor's process again, each " +
      "connection also making the system calls sockalive makes to open one (bench/floor.ts: " +
      "the descriptor the runtime will take, the connecting socket noted, the verification, " +
      "five options; Deno also the socket's cookie and the epoll watch), bare through the " +
      "runtime's FFI with no library code. It is what a time to open costs under the rule " +
      "that a descriptor is verified before any option is set on it; sockalive's own code is " +
      "the rest, live minus floor.",
      `The per-process size is \`ulimit -Hn\` minus ${plan.limitReserve} (the runtime's own ` +
      `descriptors); the fullest process had ${
        Math.max(...results.map((r) => r.descriptors))
      } descriptors open.`,
    ],
    data: { budgetMs: budget, targetMs: limit, sizes, backlog, results },
    targets,
  };
}
