#!/usr/bin/env bash
# bench/run.sh BUILD_DIR - run every benchmark in turn (make bench calls this).
# Each benchmark checks its result first, then times it against a baseline
# measured in the same run, and prints ratios and GFLOP/s or MB/s.
# Run one by name: bench/run.sh build gemm
set -u
build=${1:-build}
only=${2:-}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
for b in bench/bench_*.sh "$build"/bench/bench_*; do
    [ -e "$b" ] || continue
    case "$b" in *.d|*.o) continue ;; esac
    name=$(basename "$b"); name=${name#bench_}; name=${name%.sh}
    [ -n "$only" ] && [ "$name" != "$only" ] && continue
    echo "=== $name"
    if [ "${b%.sh}" != "$b" ]; then BUILD="$build" bash "$b"; else "$b"; fi
    echo
done
