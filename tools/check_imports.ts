/**
 * Checks the direction of imports, as CI runs it: `deno run --allow-read tools/check_imports.ts`.
 *
 * Layers, each importing only from itself and the layers after it:
 *   entry points (mod.ts, deno.ts, bun.ts, cli.ts) → src/adapters/ → src/ → ffi/
 * `ffi/` is a leaf: it imports nothing outside itself. Nothing in `src/` or `ffi/` imports an
 * entry point. And there is no import cycle among the project's own files (type-only imports
 * included: a cycle of types is a cycle of ideas). Comments (JSDoc examples) are not imports.
 * Exits 1, listing every violation, if any rule is broken.
 *
 * @module
 */

import { dirname, join, normalize } from "node:path";
import { readdirSync, readFileSync, statSync } from "node:fs";
import process from "node:process";

const root = normalize(join(dirname(new URL(import.meta.url).pathname), ".."));
const ENTRY_POINTS = ["mod.ts", "deno.ts", "bun.ts", "cli.ts"];

/** The layer of a file: a lower number may import only equal or higher numbers. */
function layer(file: string): number | undefined {
  if (ENTRY_POINTS.includes(file)) return 0;
  if (file.startsWith("src/adapters/")) return 1;
  if (file.startsWith("src/")) return 2;
  if (file.startsWith("ffi/")) return 3;
  return undefined; // tests, tools, bench: free to import anything
}

function files(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(root, dir))) {
    const path = dir ? `${dir}/${name}` : name;
    if (name === "node_modules" || name.startsWith(".")) continue;
    if (statSync(join(root, path)).isDirectory()) out.push(...files(path));
    else if (name.endsWith(".ts")) out.push(path);
  }
  return out;
}

/** The project files `file` imports (relative specifiers only), comments stripped first. */
export function importsOf(file: string, source: string): string[] {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:])\/\/.*$/gm, "$1");
  const out = new Set<string>();
  const pattern = /(?:\bfrom\s*|\bimport\s*\(?\s*)["'](\.{1,2}\/[^"']+)["']/g;
  for (const m of code.matchAll(pattern)) {
    out.add(normalize(join(dirname(file), m[1])));
  }
  return [...out];
}

/** Every rule broken in the graph of `graph` (file → imported files). */
export function violations(graph: Map<string, string[]>): string[] {
  const problems: string[] = [];
  for (const [file, imports] of graph) {
    const from = layer(file);
    for (const target of imports) {
      const to = layer(target);
      if (from === undefined) continue;
      if (to === undefined) {
        problems.push(`${file} imports ${target}, which is not part of the module`);
      } else if (to < from) {
        problems.push(`${file} imports ${target}: imports flow entry → adapters → src → ffi`);
      } else if (from === 3 && to !== 3) problems.push(`${file} imports ${target}: ffi/ is a leaf`);
    }
  }
  // Cycles, by depth-first search; each reported once, from its first file in sorted order.
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (file: string) => {
    state.set(file, "open");
    stack.push(file);
    for (const next of graph.get(file) ?? []) {
      if (!graph.has(next)) continue;
      if (state.get(next) === "open") {
        problems.push(`import cycle: ${[...stack.slice(stack.indexOf(next)), next].join(" → ")}`);
      } else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(file, "done");
  };
  for (const file of [...graph.keys()].sort()) if (!state.has(file)) visit(file);
  return problems;
}

if (import.meta.main) {
  const graph = new Map<string, string[]>();
  for (const file of files("")) {
    if (layer(file) === undefined) continue;
    graph.set(file, importsOf(file, readFileSync(join(root, file), "utf8")));
  }
  const problems = violations(graph);
  for (const p of problems) console.error(p);
  console.log(
    problems.length === 0
      ? `imports: ${graph.size} files, every import flows one way, no cycle`
      : `imports: ${problems.length} problems in ${graph.size} files`,
  );
  process.exit(problems.length === 0 ? 0 : 1);
}
