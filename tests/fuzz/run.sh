#!/usr/bin/env bash
# tests/fuzz/run.sh [BUILD_DIR [SECONDS]] - run every libFuzzer target in
# BUILD_DIR (default build-fuzz; build them with `make fuzzers`) for SECONDS
# each (default 60), starting from its seed corpus tests/fuzz/corpus/NAME
# (and tests/fuzz/NAME.dict when there is one). New inputs go to a temporary
# folder, so the committed seeds stay small; a crash leaves its input in
# BUILD_DIR/artifacts/ and counts as a failure. Ends with "N passed, N failed, N skipped".
set -u
build=${1:-build-fuzz}
secs=${2:-60}
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
P=0; F=0; S=0
mkdir -p "$build/artifacts"
for bin in "$build"/fuzz_*; do
    [ -x "$bin" ] || continue
    case "$bin" in *.o|*.d) continue ;; esac
    name=${bin##*/fuzz_}
    seeds=tests/fuzz/corpus/$name
    work=$(mktemp -d)
    dict=()
    [ -f "tests/fuzz/$name.dict" ] && dict=(-dict="tests/fuzz/$name.dict")
    log=$(mktemp)
    # UBSan findings must stop the run (the fuzz build lets them recover otherwise)
    export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
    # -rss_limit_mb: a parser must not need much memory for a small input
    dirs=("$work")
    [ -d "$seeds" ] && dirs+=("$seeds")
    "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=4096 -print_final_stats=1 \
        -artifact_prefix="$build/artifacts/${name}-" "${dict[@]}" "${dirs[@]}" >"$log" 2>&1
    rc=$?
    runs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$log" | tail -n 1)
    if [ "$rc" -eq 0 ]; then
        echo "  ok    fuzz_$name: ${secs}s, ${runs:-?} inputs, no crash"
        P=$((P + 1))
    else
        echo "  FAIL  fuzz_$name exited $rc; the log ends:"
        tail -n 30 "$log" | sed 's/^/        /'
        echo "        reproduce: $bin $build/artifacts/${name}-*"
        F=$((F + 1))
    fi
    rm -rf "$work" "$log"
done
if [ $((P + F)) -eq 0 ]; then
    echo "  skip  no fuzz targets in $build (run: make fuzzers)"
    S=1
fi
echo "$P passed, $F failed, $S skipped"
[ "$F" -eq 0 ]
