#!/usr/bin/env bash
# Runs every test in Deno, then in Bun, and prints one closing line for both:
# "N passed, N failed, N skipped". Exits non-zero if either runtime failed.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"
log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT

echo "== deno test =="
deno test -A --doc tests/ mod.ts deno.ts bun.ts cli.ts src/ 2>&1 | tee "$log/deno"
deno_rc=${PIPESTATUS[0]}
echo "== bun test =="
bun test ./tests/ 2>&1 | tee "$log/bun"
bun_rc=${PIPESTATUS[0]}

strip() { sed 's/\x1b\[[0-9;]*m//g' "$1"; }
dp=$(strip "$log/deno" | grep -oE '\| [0-9]+ passed' | grep -oE '[0-9]+' | tail -1)
df=$(strip "$log/deno" | grep -oE '\| [0-9]+ failed' | grep -oE '[0-9]+' | tail -1)
di=$(strip "$log/deno" | grep -oE '\| [0-9]+ ignored' | grep -oE '[0-9]+' | tail -1)
bp=$(strip "$log/bun" | grep -oE '^ *[0-9]+ pass$' | grep -oE '[0-9]+' | tail -1)
bf=$(strip "$log/bun" | grep -oE '^ *[0-9]+ fail$' | grep -oE '[0-9]+' | tail -1)
bs=$(strip "$log/bun" | grep -oE '^ *[0-9]+ skip$' | grep -oE '[0-9]+' | tail -1)
passed=$(( ${dp:-0} + ${bp:-0} ))
failed=$(( ${df:-0} + ${bf:-0} ))
skipped=$(( ${di:-0} + ${bs:-0} ))
# A runtime that failed without reporting counts (a crash, a syntax error) still fails the run.
if [ "$deno_rc" -ne 0 ] && [ "${df:-0}" -eq 0 ]; then failed=$((failed + 1)); fi
if [ "$bun_rc" -ne 0 ] && [ "${bf:-0}" -eq 0 ]; then failed=$((failed + 1)); fi
echo "deno: ${dp:-0} passed, ${df:-0} failed, ${di:-0} skipped (exit $deno_rc); bun: ${bp:-0} passed, ${bf:-0} failed, ${bs:-0} skipped (exit $bun_rc)"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$deno_rc" -eq 0 ] && [ "$bun_rc" -eq 0 ]
