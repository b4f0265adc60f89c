#!/usr/bin/env bash
# Sets up what tests/wine.test.ts runs: the Windows builds of Deno and Bun under Wine, on Debian 12
# (x86_64), so the Windows code path (ws2_32.dll through FFI) is tested on a Linux machine.
#
#   eval "$(bash tools/wine/setup.sh)"      # prints, last, the export lines to eval
#   deno test -A tests/wine.test.ts
#
# Idempotent: whatever is already in the cache is kept. The first run takes a minute or two on a
# fresh machine (installing Wine, fetching about 100 MB a binary, creating the Wine prefix), a later
# one a few seconds (it still runs a line of JavaScript in each binary, to know they work).
# Cache: $SOCKALIVE_WINE_DIR, default /tmp/sockalive-wine; delete it to start over. Each run logs to
# setup.log there; on failure the reason, and the log's last lines, go to stderr.
#
# What it does, and why:
# - Installs Debian's wine, wine64 and gcc-mingw-w64-x86-64-win32 if any is missing (needs root).
# - Fetches @deno/win32-x64 and @oven/bun-windows-x64 with npm, at the versions package.json pins
#   for the Linux runtimes (devDependencies deno and bun), so both sides test the same release.
# - Builds a stand-in bcryptprimitives.dll (bcryptprimitives.c): Wine 8 has none, and both
#   binaries import its ProcessPrng.
# - Patches a copy of deno.exe: V8 looks kernelbase's VirtualAlloc2 up by name and, when found,
#   reserves memory with placeholders, which Wine 8 rejects, so Deno aborts at startup. The
#   looked-up string is renamed (same length), the lookup fails, and V8 takes its VirtualAlloc path.
#
# Known Wine 8 differences from real Windows, which the tests assert as observed:
# getsockopt(SO_KEEPALIVE) returns a 1-byte value; TCP_KEEPIDLE, TCP_KEEPINTVL and TCP_KEEPCNT at
# IPPROTO_TCP fail with WSAENOPROTOOPT (10042); a peer's reset arrives as end-of-stream.
set -euo pipefail
shopt -s inherit_errexit # a failing command inside $(...) fails the step too

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
dir="${SOCKALIVE_WINE_DIR:-/tmp/sockalive-wine}"
packages=(wine wine64 gcc-mingw-w64-x86-64-win32)
# What the steps below run: Debian's 64-bit loader and server (the binaries are 64-bit, so the
# loader is used directly rather than through the wine wrapper), and the mingw compiler that
# gcc-mingw-w64-x86-64-win32 installs under its own name (the bare name may point elsewhere).
wine=/usr/lib/wine/wine64
wineserver=/usr/lib/wine/wineserver
cc=x86_64-w64-mingw32-gcc-win32

# The steps' own output goes to the log; the reason a run failed goes to the caller's stderr (4).
exec 4>&2
log="" failed=""
fail() {
  failed=1
  echo "tools/wine/setup.sh: $*" >&2 # into the log, when the steps are running
  echo "tools/wine/setup.sh: $*" >&4
  exit 1
}
trap 'rc=$?; if [ "$rc" -ne 0 ] && [ -z "$failed" ]; then
  echo "tools/wine/setup.sh: failed while $step (exit $rc)${log:+; the end of $log:}"
  [ -z "$log" ] || tail -25 "$log"
fi >&4' EXIT

step="creating the cache directory $dir"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
# One setup at a time per cache: two runs at once would write the same files. (Wine gets neither
# this descriptor nor the caller's stderr, 9>&- 4>&-: a wineserver that stays on for a few seconds
# after its last client would otherwise hold the lock, or a pipe the caller reads, open.)
step="waiting for another setup using $dir"
exec 9>"$dir/.lock"
flock 9

# npm pack SPEC into $dir/npm/NAME, unpacked; prints the package's directory.
unpack() {
  local out="$dir/npm/$2"
  rm -rf "$out"
  mkdir -p "$out"
  (cd "$out" && npm pack --loglevel=error "$1" >/dev/null && tar xzf ./*.tgz) >&2
  echo "$out/package"
}

# Runs the Wine loader, bounded in time (a hung Wine must not hang CI).
run_wine() {
  local seconds="$1"
  shift
  timeout "$seconds" "$wine" "$@" 4>&- 9>&-
}

# Fails unless the Windows runtime runs a line of JavaScript under Wine and prints VERSION: this
# is where a missing import or the VirtualAlloc2 abort shows (`--version` alone does not start V8,
# so it succeeds even unpatched), here rather than as a test timing out.
check_runs() {
  local name="$1" version="$2" out err="$dir/$1.err"
  shift 2
  step="running $name.exe under Wine"
  # From the cache directory, so that no project's config file (package.json, deno.json) is read;
  # stdout is the answer, stderr goes to the log.
  out="$(cd "$dir" && run_wine 120 "$@" 2>"$err")" || {
    cat "$err"
    fail "$name.exe $version does not run under Wine: $(grep -m1 -v -E '^[#[:space:]]*$' "$err")" \
      "(all it printed is in $log; deleting $dir starts over)"
  }
  cat "$err"
  echo "$name.exe: $out"
  [ "$out" = "$version" ] || fail "$name.exe printed '$out' for its version, not $version"
}

setup() {
  step="checking node and npm"
  command -v node >/dev/null && command -v npm >/dev/null ||
    fail "needs node and npm (the project's own requirement): npm fetches the Windows builds"

  step="reading the versions from package.json"
  deno_version="$(version_of deno)"
  bun_version="$(version_of bun)"
  local v
  for v in "deno=$deno_version" "bun=$bun_version"; do
    # An exact version, so that the Windows build is the release the Linux tests run; a range
    # would let npm pick another one.
    [[ "${v#*=}" =~ ^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]] ||
      fail "package.json's devDependencies.${v%%=*} is '${v#*=}', not an exact version"
  done
  echo "deno $deno_version, bun $bun_version"

  step="installing Wine and mingw-w64"
  # Installed means dpkg's status "installed": a package removed with its configuration kept is
  # still known to dpkg (dpkg -l lists it as rc, dpkg-query -W succeeds) but has no files.
  local missing=() p f
  if command -v dpkg-query >/dev/null; then
    for p in "${packages[@]}"; do
      [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" = installed ] ||
        missing+=("$p")
    done
  fi
  if [ ${#missing[@]} -gt 0 ]; then
    [ "$(id -u)" -eq 0 ] ||
      fail "needs ${missing[*]}; run as root, or first: sudo apt-get install ${missing[*]}"
    echo "installing ${missing[*]}"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
  fi
  # Checked by path as well: without dpkg, or with a package that did not bring what is used.
  for f in "$wine" "$wineserver" "$(command -v "$cc" || echo "$cc")"; do
    [ -x "$f" ] || fail "$f is missing; it comes with Debian's ${packages[*]}"
  done

  deno_exe="$dir/bin/deno-$deno_version.exe"
  if [ ! -f "$deno_exe" ]; then
    step="fetching and patching @deno/win32-x64@$deno_version"
    local pkg
    pkg="$(unpack "@deno/win32-x64@$deno_version" deno)"
    mkdir -p "$dir/bin"
    # Exactly one NUL-terminated "VirtualAlloc2" is expected (the name V8 looks up); anything
    # else means this build is not the one the patch was written for, and it says so.
    node -e '
      const fs = require("node:fs");
      const [from, to] = process.argv.slice(1);
      const bin = fs.readFileSync(from);
      const name = Buffer.from("VirtualAlloc2\0");
      const at = [];
      for (let i = bin.indexOf(name); i >= 0; i = bin.indexOf(name, i + 1)) at.push(i);
      if (at.length !== 1) {
        console.error(`expected one "VirtualAlloc2" in ${from}, found ${at.length}`);
        process.exit(1);
      }
      bin.write("VirtualAllocX", at[0], "latin1");
      fs.writeFileSync(to, bin);
    ' "$pkg/deno.exe" "$deno_exe.tmp" ||
      fail "could not patch deno.exe $deno_version (see $log): V8 may no longer look VirtualAlloc2 up"
    mv "$deno_exe.tmp" "$deno_exe" # only a complete binary ever has the final name
    rm -rf "$dir/npm/deno"
  fi

  bun_exe="$dir/bin/bun-$bun_version.exe"
  if [ ! -f "$bun_exe" ]; then
    step="fetching @oven/bun-windows-x64@$bun_version"
    local pkg
    pkg="$(unpack "@oven/bun-windows-x64@$bun_version" bun)"
    mkdir -p "$dir/bin"
    cp "$pkg/bin/bun.exe" "$bun_exe.tmp"
    mv "$bun_exe.tmp" "$bun_exe"
    rm -rf "$dir/npm/bun"
  fi

  # Named after its sources, so that a change to them builds a new one.
  step="building the stand-in bcryptprimitives.dll"
  local sources=("$here/bcryptprimitives.c" "$here/bcryptprimitives.def") hash dll
  hash="$(cat "${sources[@]}" | sha256sum | cut -c1-12)"
  dll="$dir/stub/bcryptprimitives-$hash.dll"
  if [ ! -f "$dll" ]; then
    mkdir -p "$dir/stub"
    "$cc" -O2 -Wall -Wextra -shared -s -o "$dll.tmp" "${sources[@]}" -lbcrypt
    mv "$dll.tmp" "$dll"
  fi

  export "${env_vars[@]}"
  if [ ! -f "$WINEPREFIX/.sockalive-ready" ]; then
    step="creating the Wine prefix (the slow step, once)"
    rm -rf "$WINEPREFIX" # what an interrupted run left, if anything
    run_wine 300 wineboot --init
    timeout 60 "$wineserver" -w 4>&- 9>&- # wineboot returns before the prefix is written out
    touch "$WINEPREFIX/.sockalive-ready"
  fi
  step="installing the stand-in DLL into the prefix"
  local system32="$WINEPREFIX/drive_c/windows/system32"
  cmp -s "$dll" "$system32/bcryptprimitives.dll" || cp "$dll" "$system32/bcryptprimitives.dll"

  check_runs deno "$deno_version" "$deno_exe" eval 'console.log(Deno.version.deno)'
  check_runs bun "$bun_version" "$bun_exe" -e 'console.log(Bun.version)'
}

version_of() {
  node -p 'require(process.argv[1]).devDependencies?.[process.argv[2]] ?? ""' \
    "$root/package.json" "$1"
}

# mscoree and mshtml disabled: Wine would otherwise offer to install Mono and Gecko, which nothing
# here needs. NO_COLOR: the tests read the runtimes' output line by line.
env_vars=(
  "WINEPREFIX=$dir/prefix" WINEDEBUG=-all WINEARCH=win64 "WINEDLLOVERRIDES=mscoree,mshtml="
  NO_COLOR=1
)

# NAME=VALUE with the value single-quoted, for eval (readable, and safe with any path).
assign() {
  local value="${1#*=}"
  printf "%s='%s'" "${1%%=*}" "${value//\'/\'\\\'\'}"
}

log="$dir/setup.log"
setup >"$log" 2>&1
exports="$(
  printf 'export'
  for v in "${env_vars[@]}"; do printf ' %s' "$(assign "$v")"; done
  printf '\nexport %s\n' "$(assign "WINE=$wine")"
  printf 'export %s\n' "$(assign "DENO_EXE=$deno_exe")"
  printf 'export %s\n' "$(assign "BUN_EXE=$bun_exe")"
)"
echo "$exports" >>"$log"
echo "$exports"
