/**
 * Measures the README's table of detection times for the drivers (not run by CI; needs root and
 * the servers' packages): for pg, postgres.js, ioredis and mqtt, in Deno and in Bun, with
 * sockalive's options (the README's snippets) and with the drivers' own defaults, the time from
 * a pulled cable to the driver's report, for an idle connection and for a request sent right
 * after the pull. Waits at most `--cap` seconds (default 150) for each report.
 *
 *   deno run -A tools/drivers_matrix.ts [--cap 150]
 *
 * Prints one JSON line per run and then the table in Markdown.
 */
import { dirname, join } from "node:path";
import process from "node:process";
import {
  DRIVERS,
  type DriversRun,
  key,
  type Role,
  runDrivers,
  type Via,
} from "../tests/drivers_scenario.ts";
import type { KeepAliveOptions } from "../mod.ts";

const root = join(dirname(new URL(import.meta.url).pathname), "..");
const capArg = process.argv.indexOf("--cap");
const capMs = 1000 * (capArg > 0 ? Number(process.argv[capArg + 1]) : 150);

/** The same options as tests/drivers.test.ts. */
const KEEPALIVE: Record<Role, KeepAliveOptions> = {
  idle: { idle: 1000, interval: 1000, count: 3 },
  inflight: { idle: 1000, interval: 1000, count: 3, userTimeout: 3000 },
};

const RUNTIMES = {
  Deno: (script: string, args: string[]) => [Deno.execPath(), "run", "-A", script, ...args],
  Bun: (script: string, args: string[]) => [join(root, "node_modules/.bin/bun"), script, ...args],
};
type Runtime = keyof typeof RUNTIMES;

/** Seconds from the pull (idle) or from the request (in flight) to the report, as a cell. */
function cell(run: DriversRun, driver: typeof DRIVERS[number], role: Role): string {
  const line = run.detected.get(key(driver, role));
  if (!line || line.type !== "detected") return `> ${capMs / 1000} s`;
  const from = role === "inflight" ? line.sentAt as number : run.pulledAt;
  return `${(((line.at as number) - from) / 1000).toFixed(2)} s`;
}

const results = new Map<string, DriversRun>();
for (const runtime of Object.keys(RUNTIMES) as Runtime[]) {
  for (const via of ["setKeepAlive", "none"] as Via[]) {
    const run = await runDrivers({
      via,
      keepAlive: KEEPALIVE,
      capMs: via === "none" ? capMs : 20_000,
      reconnect: false,
      command: RUNTIMES[runtime],
    });
    results.set(`${runtime} ${via}`, run);
    console.log(JSON.stringify({ runtime, via, pulledAt: run.pulledAt, lines: run.lines }));
  }
}

console.log(`\nMeasured ${new Date().toISOString()}, capped at ${capMs / 1000} s:\n`);
console.log(
  "| driver | runtime | idle, sockalive | idle, driver's defaults | " +
    "in flight, sockalive | in flight, driver's defaults |",
);
console.log("| --- | --- | --- | --- | --- | --- |");
for (const driver of DRIVERS) {
  for (const runtime of Object.keys(RUNTIMES) as Runtime[]) {
    const withIt = results.get(`${runtime} setKeepAlive`)!;
    const without = results.get(`${runtime} none`)!;
    console.log(
      `| ${driver} | ${runtime} | ${cell(withIt, driver, "idle")} | ${
        cell(without, driver, "idle")
      } | ${cell(withIt, driver, "inflight")} | ${cell(without, driver, "inflight")} |`,
    );
  }
}
