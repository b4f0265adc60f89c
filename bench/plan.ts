/**
 * Sizes for a full run and for the smoke run (`--smoke` or SOCKALIVE_BENCH=smoke), and the
 * markdown table every benchmark prints.
 *
 * @module
 */

/** How big each benchmark runs. */
export interface Plan {
  smoke: boolean;
  /** Stop waiting for a contender this long after the pull. */
  detectCapMs: number;
  /**
   * Sizes of the cost curve (apply cost, memory, detection spread), below the per-process
   * limit, which the curve adds as its last point.
   */
  curveNs: number[];
  /** The per-process size; `undefined`: the descriptor limit (`ulimit -Hn`) minus the reserve. */
  scaleLimitN?: number;
  /** Descriptors left free at the per-process size (the runtime's own, the peer's listener). */
  limitReserve: number;
  /** Connections across worker processes, per runtime, and how many workers. */
  scaleMultiN: number;
  scaleWorkers: number;
  /** Connections opened before the memory baseline (code compiled, pools grown). */
  scaleWarm: number;
  /** How long the CPU of the idle process is read. */
  idleCpuMs: number;
  /** Applies counted under strace (and as many baseline connections). */
  straceApplies: number;
  lookupNs: number[];
  lookupMinSamples: number;
  lookupMaxSamples: number;
  lookupBudgetMs: number;
  scanSamples: number;
  throughputBytes: number;
  throughputReps: number;
  /**
   * Processes in which the raw anchor and the way a target is checked on alternate (after one
   * transfer of each), and how many pairs each runs: the targets are judged on these.
   */
  throughputPairedProcesses: number;
  throughputPairs: number;
  memoryN: number;
  memoryWarm: number;
  /** Request/response rounds per latency run. */
  latencyRounds: number;
}

/** The full benchmark, as the issue specifies it. */
export const FULL: Plan = {
  smoke: false,
  detectCapMs: 60_000,
  curveNs: [1000, 10_000],
  limitReserve: 100,
  scaleMultiN: 100_000,
  scaleWorkers: 6,
  scaleWarm: 200,
  idleCpuMs: 10_000,
  straceApplies: 1000,
  lookupNs: [100, 1000, 10_000],
  lookupMinSamples: 30,
  lookupMaxSamples: 1000,
  lookupBudgetMs: 3000,
  scanSamples: 20,
  throughputBytes: 1 << 30,
  throughputReps: 11,
  throughputPairedProcesses: 7,
  throughputPairs: 6,
  memoryN: 10_000,
  memoryWarm: 200,
  latencyRounds: 20_000,
};

/** Every benchmark at a tiny size: well under a minute in total. */
export const SMOKE: Plan = {
  smoke: true,
  detectCapMs: 6000,
  curveNs: [100],
  scaleLimitN: 300,
  limitReserve: 100,
  scaleMultiN: 600,
  scaleWorkers: 3,
  scaleWarm: 20,
  idleCpuMs: 1000,
  straceApplies: 50,
  lookupNs: [10, 100],
  lookupMinSamples: 10,
  lookupMaxSamples: 50,
  lookupBudgetMs: 300,
  scanSamples: 5,
  throughputBytes: 16 << 20,
  throughputReps: 1,
  throughputPairedProcesses: 1,
  throughputPairs: 2,
  memoryN: 200,
  memoryWarm: 20,
  latencyRounds: 500,
};

/** A markdown table. */
export function table(headers: string[], rows: Array<Array<string | number>>): string {
  const cells = [headers, ...rows.map((r) => r.map(String))];
  const widths = headers.map((_, i) => Math.max(3, ...cells.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
  return [line(cells[0]), `| ${widths.map((w) => "-".repeat(w)).join(" | ")} |`]
    .concat(cells.slice(1).map(line)).join("\n");
}

/** Formats a number with `digits` decimals; "-" for NaN/undefined. */
export function fmt(value: number | undefined, digits = 2): string {
  return value === undefined || Number.isNaN(value) ? "-" : value.toFixed(digits);
}

/** "0.93x" style ratio. */
export function ratio(value: number | undefined, anchor: number | undefined, digits = 2): string {
  if (value === undefined || anchor === undefined || !anchor || Number.isNaN(value)) return "-";
  return `${(value / anchor).toFixed(digits)}x`;
}

/** One benchmark's outcome: its tables (markdown), raw data and targets. */
export interface Section {
  id: string;
  title: string;
  tables: string[];
  notes: string[];
  data: unknown;
  targets: Array<{ name: string; met: boolean; detail: string }>;
}
