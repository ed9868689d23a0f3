#!/usr/bin/env bash
# bench/bench_run.sh - `./run --random-weights palinka.txt`, the whole process,
# RUNS times (default 5): the median wall time and CPU time of the process,
# and the median of each stage the run records in summary.json (tokenize,
# weights, capture, train, scores, eval, browser, outputs), in wall seconds
# ("seconds") and CPU seconds ("cpu_seconds"), so that a change shows where
# it landed. The start-up costs are measured on their own, in the same run:
#   - the `./run` script before it starts the engine (its build-stamp check),
#     as `./run --help` against the engine's own `--help`;
#   - the GPT-2 vocabulary: `tokenize` of a one-word file, through the
#     binary cache beside vocab.json (the common path) and with the cache
#     disabled (GPT2SAE_VOCAB_CACHE=0: the JSON parsed every time).
# The weights are synthesised (and the tokenizer fetched) by a warm-up run
# first, so every timed run finds them cached.
#
#   bash bench/bench_run.sh                  (BUILD=build, RUNS=5, EPOCHS=100)
#   RUNS=3 EPOCHS=20 bash bench/bench_run.sh (a quicker look)
#
# On a shared machine the wall clock mostly measures the other tenants: the
# CPU seconds (user + system, all threads), of the process and of each stage,
# are printed beside it.
set -u
BUILD=${BUILD:-build}
RUNS=${RUNS:-5}
EPOCHS=${EPOCHS:-100}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bin="$BUILD/gpt2sae"
[ -x "$bin" ] || { echo "bench_run: $bin missing (make)"; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
export GPT2SAE_HF_URL=${GPT2SAE_HF_URL:-http://127.0.0.1:9}   # offline: the tokenizer from its local fallback

# median of the numbers on stdin
median() { sort -g | awk '{v[NR] = $1} END {if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
# "wall user sys" of one command (its output discarded), from bash's time
timed() { local TIMEFORMAT='%R %U %S'; { time "$@" >/dev/null 2>&1; } 2>&1; }

"$bin" --random-weights --epochs 1 --quiet --out "$tmp/warm" palinka.txt >/dev/null 2>&1 ||
    { echo "bench_run: the warm-up run failed ($bin --random-weights --epochs 1 palinka.txt)"; exit 1; }
echo "./run --random-weights --epochs $EPOCHS palinka.txt: $RUNS runs, $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"

stages="tokenize weights capture train scores eval browser outputs"
ns=$(wc -w <<<"$stages")
# each stage's seconds in summary.json's object $1: "seconds" (wall) or
# "cpu_seconds" (CPU), e.g. "seconds": {"tokenize": 0.091, "weights": 0.393, ...}
stage_secs() {
    local s st out=""
    s=$(grep -o "\"$1\": {[^}]*}" "$tmp/run/summary.json")
    for st in $stages; do out="$out $(printf '%s\n' "$s" | sed -n "s/.*\"$st\": \([0-9.]*\).*/\1/p")"; done
    echo "${out# }"
}
: >"$tmp/runs"
for i in $(seq "$RUNS"); do
    rm -rf "$tmp/run"
    t=$(timed ./run --random-weights --epochs "$EPOCHS" --quiet --out "$tmp/run" palinka.txt)
    [ -f "$tmp/run/summary.json" ] || { echo "bench_run: run $i failed"; exit 1; }
    wall=$(stage_secs seconds) cpus=$(stage_secs cpu_seconds)
    [ "$(wc -w <<<"$wall $cpus")" -eq $((2 * ns)) ] ||
        { echo "bench_run: run $i: summary.json lacks a stage of: $stages (seconds and cpu_seconds)"; exit 1; }
    echo "$t $wall $cpus" >>"$tmp/runs"
    read -r w u y <<<"$t"
    printf '  run %d: %.2f s wall, %.2f CPU-s; stages wall (s): %s; CPU (s): %s\n' "$i" "$w" \
        "$(awk -v u="$u" -v y="$y" 'BEGIN{print u + y}')" "$wall" "$cpus"
done
col() { awk -v c="$1" '{print $c}' "$tmp/runs" | median; }
cpu=$(awk '{print $2 + $3}' "$tmp/runs" | median)
echo "whole process (median of $RUNS): $(col 1) s wall, $cpu CPU-s (goal: <= 5 s wall)"
# the stages' medians: wall from column 4 on, CPU after them
for kind in wall CPU; do
    c=$([ "$kind" = wall ] && echo 4 || echo $((4 + ns)))
    printf 'stages (median, %s s):' "$kind"
    for st in $stages; do printf ' %s %s' "$st" "$(col $c)"; c=$((c + 1)); done
    printf '\n'
done

# start-up: the script's own cost, and the vocabulary cache
printf 'hello\n' >"$tmp/one.txt"
rep() { local n=$1; shift; for _ in $(seq "$n"); do timed "$@" | awk '{print $1}'; done | median; }
s_run=$(rep 9 ./run --help)
s_bin=$(rep 9 "$bin" --help)
echo "start-up: ./run --help $s_run s, the engine's --help alone $s_bin s (median of 9; the script's check is the difference)"
s_cache=$(rep 9 "$bin" tokenize "$tmp/one.txt")
s_json=$(GPT2SAE_VOCAB_CACHE=0 rep 9 "$bin" tokenize "$tmp/one.txt")
echo "vocabulary: tokenize of one word $s_cache s through the binary cache, $s_json s parsing the JSON (GPT2SAE_VOCAB_CACHE=0)" \
     "($(awk -v a="$s_json" -v b="$s_cache" 'BEGIN{printf "%.1fx", (b > 0 ? a / b : 0)}'))"
