#!/usr/bin/env bash
# tests/test_cli.sh - the ./run entry point: --version, --help, bad subcommand options.
set -u
BUILD=${BUILD:-build}
bin="$BUILD/gpt2sae"
P=0; F=0
check() { # check "description" command...
    local d=$1; shift
    if "$@"; then P=$((P + 1)); echo "  ok    $d"; else F=$((F + 1)); echo "  FAIL  $d"; fi
}
v=$("$bin" --version)
check "--version names the version" grep -qE '^gpt2sae [0-9]+\.[0-9]+' <<<"$v"
check "--version says cuda: yes|no" grep -qE '^cuda: (yes|no)$' <<<"$v"
check "--version gives the SIMD level" grep -qE '^simd: (avx512|avx2|sse2|scalar)$' <<<"$v"
h=$("$bin" --help 2>&1)
for c in tokenize capture train synth fetch; do
    check "--help lists '$c'" grep -qE "^  $c " <<<"$h"
done
"$bin" >/dev/null 2>&1; rc=$?
check "no arguments: usage and exit 2 (got $rc)" test "$rc" -eq 2
"$bin" train --epochs banana >/dev/null 2>&1; rc=$?
check "a bad option value exits non-zero (got $rc)" test "$rc" -ne 0
# ./run builds what it needs and runs the binary
out=$(./run --version 2>/dev/null | head -n 1)
check "./run --version works from the repo root" grep -q '^gpt2sae' <<<"$out"
echo "$P passed, $F failed, 0 skipped"
[ "$F" -eq 0 ]
