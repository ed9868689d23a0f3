#!/usr/bin/env bash
# tests/run_tests.sh BUILD_DIR - run every test binary (BUILD_DIR/tests/test_*)
# and every test script (tests/test_*.sh), add up their closing lines
# "N passed, N failed, N skipped", print the total and exit non-zero on any
# failure. A test that dies before its closing line counts as one failure.
set -u
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
P=0; F=0; S=0
log=$(mktemp); trap 'rm -f "$log"' EXIT
for t in "$build"/tests/test_* tests/test_*.sh; do
    [ -e "$t" ] || continue
    case "$t" in *.d|*.o) continue ;; esac
    [ -x "$t" ] || [ "${t%.sh}" != "$t" ] || continue
    name=$(basename "$t")
    echo "== $name"
    start=$(date +%s.%N)
    if [ "${t%.sh}" != "$t" ]; then
        BUILD="$build" bash "$t" >"$log" 2>&1; rc=$?
    else
        "$t" >"$log" 2>&1; rc=$?
    fi
    cat "$log"
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
    if [ -z "$line" ]; then
        echo "  FAIL  $name exited $rc without a closing line"
        F=$((F + 1)); continue
    fi
    p=$(echo "$line" | sed -E 's/^([0-9]+) passed.*/\1/')
    f=$(echo "$line" | sed -E 's/^[0-9]+ passed, ([0-9]+) failed.*/\1/')
    s=$(echo "$line" | sed -nE 's/.*, ([0-9]+) skipped.*/\1/p'); s=${s:-0}
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "  FAIL  $name exited $rc"; f=1
    fi
    P=$((P + p)); F=$((F + f)); S=$((S + s))
    awk -v a="$start" -v b="$(date +%s.%N)" -v n="$name" 'BEGIN{printf "   (%s: %.1fs)\n", n, b-a}'
done
echo
echo "$P passed, $F failed, $S skipped"
[ "$F" -eq 0 ]
