/**
 * Benchmark 3: the cost of applying keepalive to one new connection while N other sockets are
 * open. Runs in its own namespace (its own loopback), so other processes' sockets and TIME_WAIT
 * entries stay out of /proc/net/tcp and of the port space.
 *
 * @module
 */

import { TestNet } from "../tools/netns.ts";
import type { summarize } from "./common.ts";
import { fmt, type Plan, ratio, type Section, table } from "./plan.ts";
import { Child, progress, runtimeArgv, type RuntimeId, startPeer, track, untrack } from "./proc.ts";

type Stats = ReturnType<typeof summarize>;
interface Row {
  n: number;
  descriptors: number;
  sockalive: Stats;
  scan: Stats;
  scanInodePart: Stats;
}

async function one(plan: Plan, runtime: RuntimeId, net: TestNet): Promise<Row[]> {
  const prefix = net.exec("client");
  const { peer, port } = await startPeer("bun", "hold", "127.0.0.1", 0, prefix);
  const child = new Child(`lookup ${runtime}`, [
    ...prefix,
    ...runtimeArgv(runtime, "lookup_child.ts", [JSON.stringify({
      hostname: "127.0.0.1",
      port,
      ns: plan.lookupNs,
      minSamples: plan.lookupMinSamples,
      maxSamples: plan.lookupMaxSamples,
      budgetMs: plan.lookupBudgetMs,
      scanSamples: plan.scanSamples,
    })]),
  ], (m) => {
    if (m.type === "progress") progress(`lookup ${runtime}: ${m.opened}/${m.n} sockets open`);
    if (m.type === "result") {
      progress(`lookup ${runtime}: N=${m.n} p50 ${fmt((m.sockalive as Stats).p50, 1)} µs`);
    }
  });
  try {
    await child.waitFor("done", 600_000);
    return child.messages.filter((m) => m.type === "result") as unknown as Row[];
  } finally {
    await child.kill();
    await peer.kill();
  }
}

/** Runs benchmark 3 in Deno and in Bun. */
export async function benchLookup(plan: Plan): Promise<Section> {
  const net = track(TestNet.create());
  let deno: Row[];
  let bun: Row[];
  try {
    deno = await one(plan, "deno", net);
    bun = await one(plan, "bun", net);
  } finally {
    untrack(net);
  }
  const us = (v: number) => fmt(v, v < 100 ? 1 : 0);
  const rows = deno.map((d, i) => {
    const b = bun[i];
    return [
      d.n,
      `${us(d.sockalive.p50)} / ${us(d.sockalive.p99)}`,
      `${us(b.sockalive.p50)} / ${us(b.sockalive.p99)}`,
      `${us(d.scan.p50)} / ${us(d.scan.p99)}`,
      `${us(d.scan.p50 - d.scanInodePart.p50)}`,
      ratio(d.sockalive.p50, b.sockalive.p50, 1),
      ratio(d.sockalive.p50, d.scan.p50, 3),
    ];
  });
  const deno50 = deno.map((d) => d.sockalive.p50);
  return {
    id: "lookup",
    title: "3. Applying keepalive to one new connection while N other sockets are open (µs)",
    tables: [table(
      [
        "N",
        "Deno sockalive p50 / p99",
        "Bun sockalive p50 / p99",
        "naive procfs scan (Deno) p50 / p99",
        "≈ fd-scan part (p50)",
        "Deno / Bun (p50)",
        "Deno / scan (p50)",
      ],
      rows,
    )],
    notes: [
      "sockalive: `setKeepAlive(conn, { idle: 1000, interval: 1000, count: 3 })` on a new " +
      "`Deno.TcpConn` / Bun `Socket` (find + verify the descriptor, 4 setsockopt, read back with " +
      "getsockopt). Naive scan: the socket's inode from /proc/self/net/tcp, then readlink on " +
      "every /proc/self/fd entry until `socket:[inode]` (no setsockopt). Each sample opens a new " +
      "connection (not timed), times the call, closes it; 3000 calls warm each process up first.",
      `Scan in Bun, p50 µs by N: ${bun.map((b) => `${b.n}: ${us(b.scan.p50)}`).join(", ")}. ` +
      `Samples per N: sockalive up to ${plan.lookupMaxSamples} (at least ${plan.lookupMinSamples}, ` +
      `${plan.lookupBudgetMs} ms budget), scan up to ${plan.scanSamples}.`,
    ],
    data: { deno, bun },
    targets: [
      {
        name: "3. Deno p50 <= 50 µs at every N",
        met: deno50.every((v) => v <= 50),
        detail: deno.map((d) => `N=${d.n}: ${us(d.sockalive.p50)} µs`).join(", "),
      },
      {
        name: "3. Deno p50 <= 3x Bun at every N",
        met: deno.every((d, i) => d.sockalive.p50 <= 3 * bun[i].sockalive.p50),
        detail: deno.map((d, i) => `N=${d.n}: ${ratio(d.sockalive.p50, bun[i].sockalive.p50, 1)}`)
          .join(", "),
      },
      {
        name: "3. Deno flat as N grows (p50 at largest N <= 2x smallest)",
        met: deno50[deno50.length - 1] <= 2 * deno50[0],
        detail: `${us(deno50[0])} -> ${us(deno50[deno50.length - 1])} µs`,
      },
    ],
  };
}
