#!/usr/bin/env bash
# Every static check CI makes: formatting, lint, types, docs, the import layers, the public API,
# and JSR readiness. `npm run check` and `deno task check` run this; .ci/run does too.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"

deno fmt --check
deno lint
deno check mod.ts deno.ts bun.ts cli.ts demo.ts tests/ tools/ bench/
deno doc --lint mod.ts deno.ts bun.ts cli.ts
# Imports flow one way (entry points → adapters → src → ffi), ffi/ is a leaf, and no cycle.
deno run --allow-read tools/check_imports.ts
# The public API: exactly the README's "The API" table, and every example imports the package.
deno run --allow-read --allow-run tools/check_api.ts
# JSR readiness: no slow types, the package builds (nothing is uploaded).
deno publish --dry-run --allow-dirty
