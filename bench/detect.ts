/**
 * Benchmarks 1 and 2: detection of a pulled cable, idle and with data in flight. All eight
 * contenders (sockalive in Deno and in Bun, Bun's and Deno's built-in keepalive; idle and
 * writing) run at once, each in its own process in the client namespace, across one cable that
 * is pulled once.
 *
 * @module
 */

import { detectionTime } from "../mod.ts";
import { SERVER_IP, TestNet } from "../tools/netns.ts";
import { fmt, type Plan, ratio, type Section, table } from "./plan.ts";
import { Child, progress, runtimeArgv, type RuntimeId, startPeer, track, untrack } from "./proc.ts";

const IDLE_KEEPALIVE = { idle: 1000, interval: 1000, count: 3 };
const WRITE_KEEPALIVE = { idle: 30_000, interval: 10_000, count: 3, userTimeout: 3000 };
const PORT = 7000;

interface Contender {
  label: string;
  runtime: RuntimeId;
  contender: "sockalive" | "builtin";
  mode: "idle" | "write";
}

interface Outcome extends Contender {
  openedAt: number;
  /** How long the connection was open before the pull. */
  beforePullMs: number;
  detectedMs: number | null;
  code?: string;
}

const CONTENDERS: Contender[] = (["idle", "write"] as const).flatMap((mode) => [
  { label: "sockalive (Deno)", runtime: "deno" as const, contender: "sockalive" as const, mode },
  { label: "sockalive (Bun)", runtime: "bun" as const, contender: "sockalive" as const, mode },
  {
    label: "Bun setKeepAlive(true, 1000)",
    runtime: "bun" as const,
    contender: "builtin" as const,
    mode,
  },
  {
    label: "Deno setKeepAlive(true)",
    runtime: "deno" as const,
    contender: "builtin" as const,
    mode,
  },
]);

/** Runs benchmarks 1 and 2 in one namespace pair with one pull. */
export async function benchDetect(plan: Plan): Promise<Section[]> {
  const net = track(TestNet.create());
  const children: Child[] = [];
  let peer: Child | undefined;
  const outcomes: Outcome[] = [];
  try {
    peer = (await startPeer("bun", "hold", SERVER_IP, PORT, net.exec("server"))).peer;
    for (const c of CONTENDERS) {
      const config = {
        contender: c.contender,
        mode: c.mode,
        hostname: SERVER_IP,
        port: PORT,
        keepAlive: c.contender === "sockalive"
          ? (c.mode === "idle" ? IDLE_KEEPALIVE : WRITE_KEEPALIVE)
          : undefined,
      };
      children.push(
        new Child(`${c.label} ${c.mode}`, [
          ...net.exec("client"),
          ...runtimeArgv(c.runtime, "detect_child.ts", [JSON.stringify(config)]),
        ]),
      );
    }
    const opened = await Promise.all(children.map((ch) => ch.waitFor("opened", 30_000)));
    progress(`detect: ${children.length} contenders open; pulling the cable in 300 ms`);
    await new Promise((r) => setTimeout(r, 300));
    const pulledAt = net.pull();
    const deadline = pulledAt + plan.detectCapMs;
    const timer = setInterval(() => {
      const done = children.filter((ch) => ch.messages.some((m) => m.type === "broken")).length;
      progress(
        `detect: ${done}/${children.length} detected, ${
          ((Date.now() - pulledAt) / 1000).toFixed(0)
        } s after the pull (cap ${plan.detectCapMs / 1000} s)`,
      );
    }, 5000);
    try {
      await Promise.all(
        children.map((ch) =>
          ch.waitFor("broken", Math.max(1, deadline - Date.now())).catch(() => undefined)
        ),
      );
    } finally {
      clearInterval(timer);
    }
    CONTENDERS.forEach((c, i) => {
      const broken = children[i].messages.find((m) => m.type === "broken");
      outcomes.push({
        ...c,
        openedAt: opened[i].at as number,
        beforePullMs: pulledAt - (opened[i].at as number),
        detectedMs: broken ? (broken.at as number) - pulledAt : null,
        code: broken?.code as string | undefined,
      });
    });
  } finally {
    await Promise.all(children.map((ch) => ch.kill()));
    await peer?.kill();
    untrack(net);
  }
  return [section(plan, "idle", outcomes), section(plan, "write", outcomes)];
}

function section(plan: Plan, mode: "idle" | "write", all: Outcome[]): Section {
  const outcomes = all.filter((o) => o.mode === mode);
  const budget = mode === "idle" ? detectionTime(IDLE_KEEPALIVE) : WRITE_KEEPALIVE.userTimeout;
  const limit = mode === "idle" ? budget + 300 : 3500;
  const cap = `> ${plan.detectCapMs / 1000} s`;
  const show = (o: Outcome) => o.detectedMs === null ? cap : `${fmt(o.detectedMs / 1000)} s`;
  const byRuntime = (rt: RuntimeId) =>
    outcomes.find((o) => o.contender === "sockalive" && o.runtime === rt)?.detectedMs ?? undefined;
  const rows = outcomes.map((o) => {
    const anchor = byRuntime(o.runtime);
    return [
      o.label,
      show(o),
      o.code ?? "(still open)",
      o.detectedMs === null
        ? `> ${ratio(plan.detectCapMs, budget, 1)}`
        : ratio(o.detectedMs, budget),
      o.contender === "sockalive"
        ? "1.00x"
        : o.detectedMs === null
        ? `> ${ratio(plan.detectCapMs, anchor, 1)}`
        : ratio(o.detectedMs, anchor),
    ];
  });
  const targets = (["deno", "bun"] as const).map((rt) => {
    const ms = byRuntime(rt);
    return {
      name: `${mode === "idle" ? "1" : "2"}. sockalive (${rt === "deno" ? "Deno" : "Bun"}) <= ${
        (limit / 1000).toFixed(1)
      } s`,
      met: ms !== undefined && ms <= limit,
      detail: ms === undefined ? "not detected" : `${fmt(ms / 1000)} s`,
    };
  });
  return {
    id: mode === "idle" ? "detect-idle" : "detect-write",
    title: mode === "idle"
      ? "1. Detection, pulled cable while idle (idle 1 s, interval 1 s, count 3; budget 4 s)"
      : "2. Detection, pulled cable while writing (userTimeout 3000 ms)",
    tables: [
      table(
        ["contender", "detected after pull", "how", "vs budget", "vs sockalive (same runtime)"],
        rows,
      ),
    ],
    notes: [
      mode === "idle"
        ? `Budget ${budget} ms = idle + interval x count. sockalive options: ${
          JSON.stringify(IDLE_KEEPALIVE)
        } (userTimeout defaults to the budget).`
        : `sockalive options: ${
          JSON.stringify(WRITE_KEEPALIVE)
        } (keepalive far off, so only userTimeout can fire). Every contender writes 1 KiB every 20 ms.`,
      `Time is from the pull to the contender's own report; each connection was open and ${
        mode === "idle" ? "idle" : "writing"
      } for ${fmt(Math.min(...outcomes.map((o) => o.beforePullMs)) / 1000)}-${
        fmt(Math.max(...outcomes.map((o) => o.beforePullMs)) / 1000)
      } s before the pull. Contenders still open at the cap are reported as "${cap}".`,
    ],
    data: { budgetMs: budget, targetMs: limit, capMs: plan.detectCapMs, outcomes },
    targets,
  };
}
