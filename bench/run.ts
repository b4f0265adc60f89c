/**
 * The sockalive benchmarks (issue 4). Run as root (network namespaces) with Deno:
 *
 *   deno run -A bench/run.ts            full run; writes bench/results.json and BENCHMARKS.md
 *   deno run -A bench/run.ts --smoke    every benchmark at tiny size (also SOCKALIVE_BENCH=smoke);
 *                                       writes bench/out/results.smoke.json
 *   --only=detect,scale,lookup,cost,throughput,memory,latency,health   a subset (results go to
 *                                       bench/out/)
 *
 * Every benchmark runs its contenders as child processes (Deno and Bun), prints a table, stops
 * by itself and deletes its namespaces, also on failure or Ctrl-C.
 *
 * @module
 */

import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import process from "node:process";
import { netnsUnavailable } from "../tools/netns.ts";
import { benchDetect } from "./detect.ts";
import { benchLookup } from "./lookup.ts";
import { benchLatency } from "./latency.ts";
import { benchMemory } from "./memory.ts";
import { FULL, type Section, SMOKE } from "./plan.ts";
import { cleanupAll, installSignalCleanup, runtimeVersion, settle } from "./proc.ts";
import { benchScale } from "./scale.ts";
import { benchThroughput } from "./throughput.ts";
import { benchHealth } from "./health.ts";
import { benchCost } from "./cost.ts";
import { costCurve } from "./curve.ts";

const argv = process.argv.slice(2);
const smoke = argv.includes("--smoke") || process.env.SOCKALIVE_BENCH === "smoke";
const onlyArg = argv.find((a) => a.startsWith("--only="))?.slice("--only=".length);
const ALL = [
  "detect",
  "scale",
  "lookup",
  "cost",
  "throughput",
  "memory",
  "latency",
  "health",
] as const;
const only = onlyArg ? onlyArg.split(",") : [...ALL];
for (const name of only) {
  if (!(ALL as readonly string[]).includes(name)) {
    console.error(`unknown benchmark "${name}"; choose from ${ALL.join(", ")}`);
    process.exit(2);
  }
}
const plan = smoke ? SMOKE : FULL;
const ROOT = new URL("../", import.meta.url).pathname;

const reason = netnsUnavailable();
if (reason) {
  console.error(`The benchmarks need network namespaces: ${reason}`);
  process.exit(1);
}

installSignalCleanup();
const startedAt = new Date();
const t0 = performance.now();
const versions = { deno: await runtimeVersion("deno"), bun: await runtimeVersion("bun") };
const load = { start: os.loadavg() };
const git = gitState();
const header = [
  `sockalive benchmarks (${smoke ? "smoke" : "full"}), ${startedAt.toISOString()}`,
  `Deno ${versions.deno}, Bun ${versions.bun}, ${os.type()} ${os.release()} ${os.arch()}, ` +
  `${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? "?"}), load ${
    load.start.map((l) => l.toFixed(2)).join(" ")
  }`,
];
console.log(header.join("\n"));

const sections: Section[] = [];
const failures: Array<{ bench: string; error: string }> = [];
const runners: Record<(typeof ALL)[number], () => Promise<Section | Section[]>> = {
  detect: () => benchDetect(plan),
  scale: () => benchScale(plan),
  lookup: () => benchLookup(plan),
  cost: () => benchCost(plan),
  throughput: () => benchThroughput(plan),
  memory: () => benchMemory(plan),
  latency: () => benchLatency(plan),
  health: () => benchHealth(plan),
};
const settleWaits: Record<string, number> = {};
for (const name of ALL) {
  if (!only.includes(name)) continue;
  // Each section starts on a quiet machine (see settle): waited for, and the wait recorded.
  const settledMs = await settle();
  settleWaits[name] = Math.round(settledMs);
  const start = performance.now();
  console.error(`\n== ${name} == (after ${(settledMs / 1000).toFixed(1)} s for a quiet machine)`);
  try {
    const result = await runners[name]();
    for (const section of Array.isArray(result) ? result : [result]) {
      sections.push(section);
      console.log(`\n${section.title}\n\n${section.tables.join("\n\n")}`);
      for (const t of section.targets) {
        console.log(`  ${t.met ? "MET   " : "MISSED"} ${t.name}: ${t.detail}`);
      }
    }
    console.error(`   (${name}: ${((performance.now() - start) / 1000).toFixed(1)} s)`);
  } catch (error) {
    failures.push({ bench: name, error: String((error as Error)?.stack ?? error) });
    console.error(`!! ${name} failed: ${(error as Error)?.stack ?? error}`);
    await cleanupAll();
  }
}
await cleanupAll();
const complete = !smoke && !onlyArg;
{
  // Drawn from the sections above; a full run writes it beside BENCHMARKS.md's links.
  const svgName = complete
    ? "cost-curve.svg"
    : `cost-curve.${smoke ? "smoke" : only.join("-")}.svg`;
  mkdirSync(`${ROOT}bench/out`, { recursive: true });
  const curve = costCurve(
    sections,
    `${ROOT}bench/${complete ? "" : "out/"}${svgName}`,
    complete ? `bench/${svgName}` : svgName,
    `sockalive ${smoke ? "smoke " : ""}run of ${startedAt.toISOString()}, HEAD ${git.head}; ` +
      `Deno ${versions.deno.split(" ")[0]}, Bun ${versions.bun}`,
  );
  if (curve) {
    sections.push(curve);
    console.log(`\n${curve.title}\n\n${curve.tables.join("\n\n")}`);
  }
}
const totalS = (performance.now() - t0) / 1000;
const loadEnd = os.loadavg();
console.log(
  `\nTotal ${totalS.toFixed(1)} s; load average at the end ${
    loadEnd.map((l) => l.toFixed(2)).join(" ")
  }`,
);

const results = {
  mode: smoke ? "smoke" : "full",
  date: startedAt.toISOString(),
  command: smoke ? "deno task bench:smoke" : "deno task bench",
  versions,
  git,
  machine: {
    os: `${os.type()} ${os.release()}`,
    arch: os.arch(),
    cpus: os.cpus().length,
    cpu: os.cpus()[0]?.model,
    memoryBytes: os.totalmem(),
    loadAverage: { start: load.start, end: loadEnd },
    /** ms waited before each section for the machine to be quiet (under 10% busy for 1 s). */
    settleMs: settleWaits,
  },
  totalSeconds: totalS,
  plan,
  sections: sections.map((s) => ({
    id: s.id,
    title: s.title,
    targets: s.targets,
    data: s.data,
  })),
  failures,
};
const jsonPath = complete
  ? `${ROOT}bench/results.json`
  : `${ROOT}bench/out/results.${smoke ? "smoke" : only.join("-")}.json`;
writeFileSync(jsonPath, JSON.stringify(results, null, 2) + "\n");
const mdPath = complete
  ? `${ROOT}BENCHMARKS.md`
  : `${ROOT}bench/out/BENCHMARKS.${smoke ? "smoke" : "partial"}.md`;
// A hand-written part (analysis) after the marker survives a re-run.
const MARKER = "<!-- hand-written below: kept when bench/run.ts rewrites this file -->";
let kept = "";
try {
  const old = readFileSync(mdPath, "utf8");
  if (old.includes(MARKER)) kept = old.slice(old.indexOf(MARKER));
} catch {
  // First run.
}
writeFileSync(mdPath, renderMarkdown() + (kept ? `\n${kept}` : ""));
console.log(`Wrote ${jsonPath}${complete ? " and BENCHMARKS.md" : ""}`);
process.exit(failures.length ? 1 : 0);

/** HEAD and the library files with uncommitted changes (the benchmark measures the tree). */
function gitState(): { head: string; dirty: string[] } {
  const run = (...a: string[]) => {
    try {
      return new TextDecoder().decode(
        new Deno.Command("git", { args: ["-C", ROOT, ...a] }).outputSync().stdout,
      );
    } catch {
      return "";
    }
  };
  return {
    head: run("rev-parse", "--short", "HEAD").trim() || "unknown",
    dirty: run("status", "--porcelain", "--", "mod.ts", "deno.ts", "bun.ts", "src", "ffi")
      .split("\n").filter(Boolean).map((l) => l.slice(3)),
  };
}

function renderMarkdown(): string {
  const targets = sections.flatMap((s) => s.targets);
  return [
    "# sockalive benchmarks",
    "",
    "Generated by `bench/run.ts`; raw data in `bench/results.json`.",
    "",
    `- Date: ${startedAt.toISOString()}`,
    `- Command: \`${results.command}\` (as root: the detection and scale benchmarks pull a ` +
    "cable between two network namespaces; the others run in a namespace of their own, on its " +
    "loopback)",
    `- Runtimes: Deno ${versions.deno}, Bun ${versions.bun}`,
    `- Code measured: the working tree at the time of the run, HEAD ${git.head}` +
    (git.dirty.length
      ? ` plus uncommitted changes in ${git.dirty.length} library files (${
        git.dirty.slice(0, 8).join(", ")
      }${git.dirty.length > 8 ? ", ..." : ""})`
      : " (clean)"),
    `- Machine: ${results.machine.os} ${results.machine.arch}, ${results.machine.cpus} CPUs ` +
    `(${results.machine.cpu}), ${(results.machine.memoryBytes / 2 ** 30).toFixed(0)} GiB`,
    `- Load average (1/5/15 min) at the start: ${load.start.map((l) => l.toFixed(2)).join(" ")}, ` +
    `at the end: ${loadEnd.map((l) => l.toFixed(2)).join(" ")}; total ${totalS.toFixed(0)} s`,
    `- Each section waits for a quiet machine first (under 10% of the CPUs busy for 1 s, at most ` +
    `60 s): ${
      Object.entries(settleWaits).map(([k, ms]) => `${k} ${(ms / 1000).toFixed(1)} s`).join(", ")
    }`,
    "",
    "**Noise.** The machine has 2 cores and other work (test runs by other engineers) may run " +
    "at the same time; the benchmark's own children also share those 2 cores (the detection " +
    "run has 8 contender processes and a peer at once). Latency percentiles (p99 especially) " +
    "and throughput are the figures most affected; detection times are dominated by kernel " +
    "timers and are not.",
    "",
    "## Targets",
    "",
    "| target | result | measured |",
    "| --- | --- | --- |",
    ...targets.map((t) => `| ${t.name} | ${t.met ? "met" : "**missed**"} | ${t.detail} |`),
    "",
    ...sections.flatMap((s) => [
      `## ${s.title}`,
      "",
      ...s.tables.flatMap((t) => [t, ""]),
      ...s.notes.flatMap((n) => [n, ""]),
    ]),
    ...(failures.length
      ? ["## Failures", "", ...failures.map((f) => `- ${f.bench}: ${f.error.split("\n")[0]}`), ""]
      : []),
  ].join("\n");
}
