#!/usr/bin/env bash
# The package as its users get it, checked in throwaway projects under /tmp (CI runs this):
# - `npm publish --dry-run` is clean (nothing auto-corrected) and ships only what users need;
# - a project from `bun init` (its own tsconfig: strict, noUncheckedIndexedAccess, ...) with the
#   `npm pack` tarball installed imports the package and `tsc --noEmit` reports no error, the
#   import runs, and `bunx sockalive --help` starts the CLI;
# - a Deno project importing the same sources through an import map passes `deno check`.
# Needs node_modules/.bin (deno, bun, tsc) on PATH, and the npm registry for the Bun project's
# pinned typescript and @types/bun (the versions this repository's package.json pins).
set -euo pipefail
shopt -s inherit_errexit

root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d /tmp/sockalive-users.XXXXXX)"
trap 'rm -rf "$work"' EXIT
fail() {
  echo "check_user_projects: $*" >&2
  exit 1
}
cd "$root"
# The versions this repository pins, for the Bun project's dev dependencies.
typescript_version="$(node -p 'require("./package.json").devDependencies.typescript')"
bun_types_version="$(node -p 'require("./package.json").devDependencies["bun-types"]')"

# What npm would publish: no warning but the dry run's own "requires you to be logged in", and
# exactly the files users need.
npm publish --dry-run --json >"$work/publish.json" 2>"$work/publish.err" ||
  fail "npm publish --dry-run failed: $(cat "$work/publish.err")"
if grep -v 'requires you to be logged in' "$work/publish.err" | grep -q 'npm warn'; then
  fail "npm publish --dry-run warns: $(grep 'npm warn' "$work/publish.err")"
fi
node -e '
  const published = Object.values(require(process.argv[1]))[0].files.map((f) => f.path);
  const wanted = ["mod.ts", "deno.ts", "bun.ts", "cli.ts", "README.md", "LICENSE", "package.json"];
  const stray = published.filter((p) => !wanted.includes(p) && !/^(src|ffi)\//.test(p));
  const missing = wanted.filter((p) => !published.includes(p));
  if (stray.length || missing.length || !published.some((p) => p.startsWith("src/adapters/"))) {
    console.error(`npm would publish a wrong file list: stray ${stray}; missing ${missing}`);
    process.exit(1);
  }
  console.log(`npm publish --dry-run: ${published.length} files, none stray`);
' "$work/publish.json"

tarball="$work/$(npm pack --silent --pack-destination "$work")"

# A Bun user's project: bun init's files, the dev dependencies pinned (bun init keeps a
# package.json that is already there), the tarball added as `bun add` adds it.
bun_project="$work/bun-project"
mkdir "$bun_project"
cd "$bun_project"
cat >package.json <<EOF
{
  "name": "bun-user-project",
  "devDependencies": {
    "@types/bun": "$bun_types_version",
    "typescript": "$typescript_version"
  }
}
EOF
bun init -y >"$work/bun-init.log" 2>&1 || fail "bun init failed: $(cat "$work/bun-init.log")"
grep -q '"noUncheckedIndexedAccess": true' tsconfig.json ||
  fail "bun init's tsconfig.json no longer sets noUncheckedIndexedAccess: $(cat tsconfig.json)"
bun add "$tarball" >"$work/bun-add.log" 2>&1 || fail "bun add failed: $(cat "$work/bun-add.log")"
cat >index.ts <<'EOF'
import { detectionTime, type KeepAliveOptions } from "@sockalive/sockalive";
import { connect, getKeepAlive } from "@sockalive/sockalive/bun";
import { helpText } from "@sockalive/sockalive/cli";

const options: KeepAliveOptions = { idle: 1000, interval: 1000, count: 3 };
console.log(detectionTime(options), typeof connect, typeof getKeepAlive, helpText().length > 0);
EOF
./node_modules/.bin/tsc --noEmit >"$work/tsc.log" 2>&1 ||
  fail "tsc --noEmit in a bun init project: $(grep -c 'error TS' "$work/tsc.log") errors
$(head -40 "$work/tsc.log")"
echo "bun project: tsc $(./node_modules/.bin/tsc --version) --noEmit: 0 errors"
[ "$(bun index.ts)" = "4000 function function true" ] || fail "bun index.ts: $(bun index.ts 2>&1)"
help="$(bunx sockalive --help 2>&1)" || fail "bunx sockalive --help failed: $help"
grep -q '^Usage: sockalive watch HOST:PORT' <<<"$help" || fail "bunx sockalive --help: $help"
grep -q 'bunx sockalive watch' <<<"$help" || fail "bunx sockalive --help gives no installed command: $help"
echo "bun project: bunx sockalive --help starts the CLI"

# A Deno user's project: the same sources (the tarball's), imported by the package's names.
deno_project="$work/deno-project"
mkdir -p "$deno_project/vendor"
tar -xzf "$tarball" -C "$deno_project/vendor"
cd "$deno_project"
cat >deno.json <<'EOF'
{
  "imports": {
    "@sockalive/sockalive": "./vendor/package/mod.ts",
    "@sockalive/sockalive/deno": "./vendor/package/deno.ts",
    "@sockalive/sockalive/bun": "./vendor/package/bun.ts",
    "@sockalive/sockalive/cli": "./vendor/package/cli.ts"
  },
  "compilerOptions": { "strict": true, "noUncheckedIndexedAccess": true }
}
EOF
cat >main.ts <<'EOF'
import { detectionTime } from "@sockalive/sockalive";
import { connect } from "@sockalive/sockalive/deno";
import { getKeepAlive } from "@sockalive/sockalive/bun";
import { helpText } from "@sockalive/sockalive/cli";

console.log(detectionTime({ idle: 1000, interval: 1000, count: 3 }), typeof connect);
console.log(typeof getKeepAlive, helpText().length > 0);
EOF
deno check main.ts >"$work/deno-check.log" 2>&1 ||
  fail "deno check in a Deno project: $(cat "$work/deno-check.log")"
echo "deno project: deno check: 0 errors"
[ "$(deno run --allow-read main.ts | head -1)" = "4000 function" ] || fail "deno run main.ts failed"
# What `deno run jsr:@sockalive/sockalive/cli` runs, from the same sources.
help="$(deno run --allow-net --allow-ffi ./vendor/package/cli.ts --help 2>&1)" ||
  fail "deno run cli.ts --help failed: $help"
grep -q '^Usage: sockalive watch HOST:PORT' <<<"$help" || fail "deno run cli.ts --help: $help"
echo "deno project: the CLI starts"
