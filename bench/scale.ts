/**
 * Benchmark 6: many monitored connections across one pulled cable, per runtime: every one must
 * reach `broken` within budget + 1 s.
 *
 * @module
 */

import { detectionTime } from "../mod.ts";
import { SERVER_IP, TestNet } from "../tools/netns.ts";
import { summarize } from "./common.ts";
import { fmt, type Plan, ratio, type Section, table } from "./plan.ts";
import { Child, progress, runtimeArgv, type RuntimeId, startPeer, track, untrack } from "./proc.ts";

const KEEPALIVE = { idle: 1000, interval: 1000, count: 3 };
const PORT = 7100;

interface ScaleResult {
  runtime: RuntimeId;
  n: number;
  ended: number;
  openMs: number;
  detectedMs: ReturnType<typeof summarize>;
  codes: Record<string, number>;
}

async function one(plan: Plan, runtime: RuntimeId): Promise<ScaleResult> {
  const net = track(TestNet.create());
  let peer: Child | undefined;
  let client: Child | undefined;
  try {
    peer = (await startPeer("bun", "hold", SERVER_IP, PORT, net.exec("server"))).peer;
    const started = Date.now();
    client = new Child(`scale ${runtime}`, [
      ...net.exec("client"),
      ...runtimeArgv(runtime, "scale_child.ts", [
        JSON.stringify({ hostname: SERVER_IP, port: PORT, n: plan.scaleN, keepAlive: KEEPALIVE }),
      ]),
    ], (m) => {
      if (m.type === "progress") progress(`scale ${runtime}: ${m.opened}/${plan.scaleN} open`);
    });
    await client.waitFor("opened", 120_000);
    const openMs = Date.now() - started;
    const pulledAt = net.pull();
    const cap = detectionTime(KEEPALIVE) + (plan.smoke ? 3000 : 10_000);
    const count = () =>
      client!.messages.filter((m) => m.type === "broken")
        .reduce((n, m) => n + (m.items as unknown[]).length, 0);
    while (count() < plan.scaleN && Date.now() - pulledAt < cap) {
      await new Promise((r) => setTimeout(r, 250));
      if ((Date.now() - pulledAt) % 2000 < 250) {
        progress(`scale ${runtime}: ${count()}/${plan.scaleN} broken after the pull`);
      }
    }
    const items = client.messages.filter((m) => m.type === "broken")
      .flatMap((m) => m.items as Array<[number, string]>);
    const codes: Record<string, number> = {};
    for (const [, code] of items) codes[code] = (codes[code] ?? 0) + 1;
    return {
      runtime,
      n: plan.scaleN,
      ended: items.length,
      openMs,
      detectedMs: summarize(items.map(([at]) => at - pulledAt)),
      codes,
    };
  } finally {
    await client?.kill();
    await peer?.kill();
    untrack(net);
  }
}

/** Runs benchmark 6 in Deno, then in Bun, each across its own cable. */
export async function benchScale(plan: Plan): Promise<Section> {
  const results: ScaleResult[] = [];
  for (const runtime of ["deno", "bun"] as const) results.push(await one(plan, runtime));
  const budget = detectionTime(KEEPALIVE);
  const limit = budget + 1000;
  const s = (ms: number) => `${fmt(ms / 1000)} s`;
  return {
    id: "scale",
    title:
      `6. Scale: ${plan.scaleN} monitored connections across one pulled cable (budget ${budget} ms)`,
    tables: [table(
      ["runtime", "broken", "codes", "p50", "p99", "max", "max vs budget", "opening took"],
      results.map((r) => [
        r.runtime === "deno" ? "sockalive (Deno)" : "sockalive (Bun)",
        `${r.ended}/${r.n}`,
        Object.entries(r.codes).map(([k, v]) => `${k} ${v}`).join(", "),
        s(r.detectedMs.p50),
        s(r.detectedMs.p99),
        s(r.detectedMs.max),
        ratio(r.detectedMs.max, budget),
        s(r.openMs),
      ]),
    )],
    notes: [
      `Options ${
        JSON.stringify(KEEPALIVE)
      }; one client process per runtime opens every connection ` +
      `(100 at a time), then the cable is pulled once; times are from the pull.`,
    ],
    data: { budgetMs: budget, targetMs: limit, results },
    targets: results.map((r) => ({
      name: `6. all ${r.n} broken within ${limit / 1000} s (${
        r.runtime === "deno" ? "Deno" : "Bun"
      })`,
      met: r.ended === r.n && r.detectedMs.max <= limit,
      detail: `${r.ended}/${r.n} broken, max ${s(r.detectedMs.max)}`,
    })),
  };
}
