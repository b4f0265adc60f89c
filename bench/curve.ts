/**
 * The cost curve: apply cost (benchmark 8), memory per connection and detection spread
 * (benchmark 6) at each size up to the per-process limit, as a table and an SVG plot drawn here
 * from the run's own numbers (plain strings, no dependencies).
 *
 * @module
 */

import { writeFileSync } from "node:fs";
import type { ApplyRow, CostContender } from "./cost.ts";
import { fmt, type Section, table } from "./plan.ts";
import type { GroupResult } from "./scale.ts";

interface Series {
  name: string;
  color: string;
  /** Per x position: a value, or a range with a middle (min, mid, max). */
  points: Array<number | [number, number, number] | undefined>;
}

interface Panel {
  title: string;
  unit: string;
  series: Series[];
  /** Horizontal reference lines. */
  lines?: Array<{ value: number; label: string }>;
}

const COLORS: Record<CostContender, string> = {
  native: "#555555",
  deno: "#1f77b4",
  bun: "#d62728",
};
const W = 380;
const H = 280;
const M = { left: 62, right: 14, top: 46, bottom: 46 };

function esc(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** A round step for about `count` ticks up to `max`. */
function tickStep(max: number, count = 5): number {
  const raw = max / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 2.5, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? raw;
}

function panel(p: Panel, xs: string[], offsetX: number): string {
  const values = p.series.flatMap((s) =>
    s.points.flatMap((v) => (v === undefined ? [] : Array.isArray(v) ? v : [v]))
  ).concat((p.lines ?? []).map((l) => l.value)).filter(Number.isFinite);
  const minV = Math.min(0, ...values);
  const step = tickStep((Math.max(1e-9, ...values) - minV) * 1.1);
  const lo = Math.floor(minV / step) * step;
  const hi = Math.ceil((Math.max(...values, lo + step) * 1.08) / step) * step;
  const plotW = W - M.left - M.right;
  const plotH = H - M.top - M.bottom;
  const x = (i: number) => offsetX + M.left + ((i + 0.5) / xs.length) * plotW;
  const y = (v: number) => M.top + plotH - ((v - lo) / (hi - lo)) * plotH;
  const out: string[] = [
    `<text x="${offsetX + W / 2}" y="18" text-anchor="middle" font-weight="bold">${
      esc(p.title)
    }</text>`,
    `<rect x="${offsetX + M.left}" y="${M.top}" width="${plotW}" height="${plotH}" ` +
    `fill="none" stroke="#999"/>`,
  ];
  for (let v = lo; v <= hi + step / 2; v += step) {
    out.push(
      `<line x1="${offsetX + M.left}" x2="${offsetX + M.left + plotW}" y1="${y(v)}" y2="${
        y(v)
      }" stroke="#eee"/>`,
      `<text x="${offsetX + M.left - 6}" y="${y(v) + 4}" text-anchor="end">${
        Number(v.toPrecision(6))
      }</text>`,
    );
  }
  out.push(
    `<text transform="translate(${offsetX + 14},${M.top + plotH / 2}) rotate(-90)" ` +
      `text-anchor="middle">${esc(p.unit)}</text>`,
  );
  xs.forEach((label, i) =>
    out.push(
      `<text x="${x(i)}" y="${M.top + plotH + 16}" text-anchor="middle">${esc(label)}</text>`,
    )
  );
  out.push(
    `<text x="${offsetX + M.left + plotW / 2}" y="${H - 8}" text-anchor="middle">` +
      "connections open in the process</text>",
  );
  for (const l of p.lines ?? []) {
    out.push(
      `<line x1="${offsetX + M.left}" x2="${offsetX + M.left + plotW}" y1="${y(l.value)}" y2="${
        y(l.value)
      }" stroke="#888" stroke-dasharray="4 3"/>`,
      `<text x="${offsetX + M.left + plotW - 4}" y="${
        y(l.value) - 4
      }" text-anchor="end" fill="#666">${esc(l.label)}</text>`,
    );
  }
  p.series.forEach((s, k) => {
    const shift = (k - (p.series.length - 1) / 2) * 8;
    const mids: string[] = [];
    s.points.forEach((v, i) => {
      if (v === undefined) return;
      const cx = x(i) + shift;
      if (Array.isArray(v)) {
        out.push(
          `<line x1="${cx}" x2="${cx}" y1="${y(v[0])}" y2="${
            y(v[2])
          }" stroke="${s.color}" stroke-width="2"/>`,
        );
        mids.push(`${cx},${y(v[1])}`);
      } else mids.push(`${cx},${y(v)}`);
    });
    if (mids.length > 1) {
      out.push(
        `<polyline points="${mids.join(" ")}" fill="none" stroke="${s.color}" stroke-width="1.5"/>`,
      );
    }
    for (const m of mids) {
      const [cx, cy] = m.split(",");
      out.push(`<circle cx="${cx}" cy="${cy}" r="3" fill="${s.color}"/>`);
    }
    // The legend, one line between the title and the plot, clear of the data.
    const lx = offsetX + M.left + (k * (W - M.left - M.right)) / p.series.length;
    out.push(
      `<rect x="${lx}" y="${M.top - 17}" width="10" height="10" fill="${s.color}"/>`,
      `<text x="${lx + 14}" y="${M.top - 8}">${esc(s.name)}</text>`,
    );
  });
  return out.join("\n");
}

/** The SVG document: the panels side by side. */
export function renderSvg(panels: Panel[], xs: string[], caption: string): string {
  const width = W * panels.length;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${H + 22}" ` +
    `viewBox="0 0 ${width} ${H + 22}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    ...panels.map((p, i) => panel(p, xs, i * W)),
    `<text x="8" y="${H + 14}" fill="#666">${esc(caption)}</text>`,
    "</svg>",
    "",
  ].join("\n");
}

/**
 * The cost curve from the sections of this run ("cost" and "scale"), or `undefined` when neither
 * ran. Writes the SVG to `svgPath`; the section's note links it as `svgLink`.
 */
export function costCurve(
  sections: Section[],
  svgPath: string,
  svgLink: string,
  caption: string,
): Section | undefined {
  const cost = sections.find((s) => s.id === "cost")?.data as
    | { ns: number[]; rows: ApplyRow[] }
    | undefined;
  const scale = sections.find((s) => s.id === "scale")?.data as
    | { sizes: number[]; budgetMs: number; targetMs: number; results: GroupResult[] }
    | undefined;
  if (!cost && !scale) return undefined;
  const sizes = [...new Set([...(cost?.ns ?? []), ...(scale?.sizes ?? [])])].sort((a, b) => a - b);
  const apply = (c: CostContender, n: number) =>
    cost?.rows.find((r) => r.contender === c && r.n === n)?.stats.p50;
  const single = (rt: "deno" | "bun", kind: "live" | "raw", n: number) =>
    scale?.results.find((r) => r.runtime === rt && r.kind === kind && r.n === n && r.workers === 1);
  const extra = (rt: "deno" | "bun", n: number) => {
    const [l, r] = [single(rt, "live", n), single(rt, "raw", n)];
    return l && r ? l.rssPerConn - r.rssPerConn : undefined;
  };
  const detection = (rt: "deno" | "bun", n: number): [number, number, number] | undefined => {
    const d = single(rt, "live", n)?.detection?.ms;
    return d ? [d.min / 1000, d.p50 / 1000, d.max / 1000] : undefined;
  };
  const runtimes = [["deno", "Deno"], ["bun", "Bun"]] as const;
  const panels: Panel[] = [
    {
      title: "Apply cost, p50",
      unit: "µs per setKeepAlive",
      series: [
        {
          name: "C anchor",
          color: COLORS.native,
          points: sizes.map((n) => apply("native", n)),
        },
        ...runtimes.map(([rt, name]) => ({
          name: `sockalive ${name}`,
          color: COLORS[rt],
          points: sizes.map((n) => apply(rt, n)),
        })),
      ],
    },
    {
      title: "Extra RSS per connection over raw",
      unit: "bytes, settled",
      series: runtimes.map(([rt, name]) => ({
        name,
        color: COLORS[rt],
        points: sizes.map((n) => extra(rt, n)),
      })),
      lines: [{ value: 1024, label: "1 KiB target" }],
    },
    {
      title: "Detection after one pull: min, p50, max",
      unit: "seconds after the pull",
      series: runtimes.map(([rt, name]) => ({
        name,
        color: COLORS[rt],
        points: sizes.map((n) => detection(rt, n)),
      })),
      lines: scale
        ? [
          { value: scale.budgetMs / 1000, label: "budget" },
          { value: scale.targetMs / 1000, label: "budget + 1 s" },
        ]
        : [],
    },
  ];
  writeFileSync(svgPath, renderSvg(panels, sizes.map(String), caption));
  const spread = (rt: "deno" | "bun", n: number) => {
    const d = detection(rt, n);
    return d ? `${fmt(d[1])} / ${fmt(d[2])} (${fmt(d[2] - d[0])})` : "-";
  };
  const us = (v: number | undefined) => fmt(v, v !== undefined && v < 100 ? 1 : 0);
  return {
    id: "curve",
    title: "9. The cost curve: apply cost, memory and detection spread by connections open",
    tables: [table(
      [
        "connections",
        "apply p50 µs: native / Deno / Bun",
        "extra RSS / conn, Deno / Bun (B)",
        "detection p50 / max (spread) s, Deno",
        "detection p50 / max (spread) s, Bun",
      ],
      sizes.map((n) => [
        n,
        `${us(apply("native", n))} / ${us(apply("deno", n))} / ${us(apply("bun", n))}`,
        `${fmt(extra("deno", n), 0)} / ${fmt(extra("bun", n), 0)}`,
        spread("deno", n),
        spread("bun", n),
      ]),
    )],
    notes: [
      `![The cost curve](${svgLink})`,
      "Drawn by bench/curve.ts from this run's numbers (sections 6 and 8): apply cost is the " +
      "p50 with that many other connections open; memory and detection are one process holding " +
      "that many idle connections, one pulled cable. The last size is the descriptor limit " +
      "minus the reserve.",
    ],
    data: { sizes },
    targets: [],
  };
}
