/**
 * Checks the public API as JSR shows it, as CI runs it:
 * `deno run --allow-read --allow-run tools/check_api.ts`.
 *
 * - The exports of `mod.ts`, `deno.ts` and `bun.ts` are exactly the names in the README's
 *   "The API" table: a symbol exported by mistake (an internal helper re-exported with `*`), or
 *   one the README does not explain, fails here.
 * - Every code example in the documentation of an entry point's exports (`@example`s and fenced
 *   code in descriptions, members included) imports only the package (`@sockalive/sockalive`,
 *   `/deno`, `/bun`, `/cli`) or `node:` modules: users never see `../mod.ts` or a `src/` path.
 *
 * - Examples of internal symbols (in `src/` and `ffi/`, not exported) import their own module by
 *   its path, never an entry point: JSR does not show them, and an entry point would hide which
 *   module they document.
 *
 * Uses `deno doc --json`, the source JSR renders. Exits 1, listing every violation.
 *
 * @module
 */

import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, normalize } from "node:path";
import process from "node:process";

const root = normalize(join(dirname(new URL(import.meta.url).pathname), ".."));
const TABLED = ["mod.ts", "deno.ts", "bun.ts"];
const ENTRY_POINTS = [...TABLED, "cli.ts"];
const ALLOWED_IMPORT = /^(@sockalive\/sockalive(\/(deno|bun|cli))?|node:.+)$/;

interface DocSymbol {
  name: string;
  declarations: Array<{ jsDoc?: unknown; def?: unknown }>;
}

/** The exported symbols of `entry`, as `deno doc --json` lists them. */
function exportsOf(entry: string): DocSymbol[] {
  const out = new Deno.Command(Deno.execPath(), {
    args: ["doc", "--json", entry],
    cwd: root,
    stdout: "piped",
    stderr: "inherit",
  }).outputSync();
  if (!out.success) throw new Error(`deno doc --json ${entry} failed`);
  const doc = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    nodes: Record<string, { symbols: DocSymbol[] }>;
  };
  return Object.values(doc.nodes).flatMap((node) => node.symbols);
}

/** Every documentation text (descriptions and tag texts) anywhere inside `value`. */
function* docTexts(value: unknown): Generator<string> {
  if (Array.isArray(value)) {
    for (const item of value) yield* docTexts(item);
    return;
  }
  if (typeof value !== "object" || value === null) return;
  for (const [key, inner] of Object.entries(value)) {
    if (key === "jsDoc" && typeof inner === "object" && inner !== null) {
      const js = inner as { doc?: string; tags?: Array<{ doc?: string }> };
      if (js.doc) yield js.doc;
      for (const tag of js.tags ?? []) if (tag.doc) yield tag.doc;
    } else {
      yield* docTexts(inner);
    }
  }
}

/** The module specifiers imported by the code fences of `text`. */
function importedBy(text: string): string[] {
  const specifiers: string[] = [];
  for (const fence of text.matchAll(/```[^\n]*\n([\s\S]*?)```/g)) {
    for (const m of fence[1].matchAll(/\bfrom\s+["']([^"']+)["']|\bimport\s+["']([^"']+)["']/g)) {
      specifiers.push(m[1] ?? m[2]);
    }
  }
  return specifiers;
}

/** The names in the first column of the README's "The API" table. */
function tabled(): Set<string> {
  const readme = readFileSync(join(root, "README.md"), "utf8");
  const start = readme.indexOf("\n### The API\n");
  if (start < 0) return new Set();
  const section = readme.slice(start + 1).split(/\n#{2,3} /)[0];
  const names = new Set<string>();
  for (const line of section.split("\n")) {
    const m = line.match(/^\|\s*`([A-Za-z_][\w]*)`\s*\|/);
    if (m) names.add(m[1]);
  }
  return names;
}

const problems: string[] = [];
const table = tabled();
if (table.size === 0) problems.push('README.md: no "### The API" table');
const exported = new Set<string>();
for (const entry of ENTRY_POINTS) {
  for (const symbol of exportsOf(entry)) {
    if (TABLED.includes(entry)) {
      exported.add(symbol.name);
      if (!table.has(symbol.name)) {
        problems.push(`${entry} exports ${symbol.name}, which README's "The API" does not list`);
      }
    }
    for (const text of docTexts(symbol.declarations)) {
      for (const specifier of importedBy(text)) {
        if (!ALLOWED_IMPORT.test(specifier)) {
          problems.push(`${entry}: an example of ${symbol.name} imports "${specifier}"`);
        }
      }
    }
  }
}
for (const name of table) {
  if (!exported.has(name)) {
    problems.push(`README's "The API" lists ${name}, which no entry exports`);
  }
}

/** The `.ts` files under `dir`, relative to the root. */
function sources(dir: string): string[] {
  return readdirSync(join(root, dir)).flatMap((name) => {
    const path = `${dir}/${name}`;
    if (statSync(join(root, path)).isDirectory()) return sources(path);
    return name.endsWith(".ts") ? [path] : [];
  });
}
for (const file of [...sources("src"), ...sources("ffi")]) {
  const lines = readFileSync(join(root, file), "utf8").split("\n");
  lines.forEach((line, i) => {
    const m = line.match(/^\s*\*\s*import\b.*\bfrom\s+"((?:\.\.\/)+(?:mod|deno|bun|cli)\.ts)"/);
    if (m) problems.push(`${file}:${i + 1}: an example imports the entry point "${m[1]}"`);
  });
}

if (problems.length > 0) {
  for (const p of [...new Set(problems)]) console.error(p);
  process.exit(1);
}
console.log(
  `api: ${exported.size} exports, each in README's table; every example imports the package`,
);
