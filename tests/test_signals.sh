#!/usr/bin/env bash
# tests/test_signals.sh - interrupts leave nothing behind, and the old output
# survives. SIGINT, SIGTERM and SIGHUP are sent at several moments to
# `synth -o`, `capture -o`, `train -o` and the pipeline (`--weights` a tiny
# synthetic checkpoint; `--random-weights` once, for the checkpoint it writes
# into the cache); after each: the process either finished or died of that
# signal, no temporary (*.tmp.*, .*.tmp-*, *.part.*) is left anywhere under
# the test folder, and the output equals the one from before (each rerun has
# the same inputs and seed, so old and new are byte-identical: whichever is
# there must be whole). Then SIGKILL (nothing can run): the temporaries stay,
# and the next run of the same command removes them. Also: an input that
# `train` has mapped, truncated while in use, stops the run with a message
# naming it (exit 1), not a bus error.
#
# Needs GPT-2's tokenizer files in the cache ($GPT2SAE_CACHE, else
# ~/.cache/gpt2sae; ./run fetch --tokenizer-only) for capture and the pipeline;
# without them those parts are skipped.
set -u
. "$(dirname "$0")/lib.sh"
set -m   # background jobs keep the default SIGINT, as at a terminal
T=$(mktemp -d /tmp/test_signals.XXXXXX)
trap 'rm -rf "$T"' EXIT
src_cache=${GPT2SAE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gpt2sae}
mkdir -p "$T/cache"
export GPT2SAE_CACHE=$T/cache GPT2SAE_HF_URL=http://127.0.0.1:9 GPT2SAE_NPM_URL=http://127.0.0.1:9
have_tok=0
if [ -s "$src_cache/tokenizer/encoder.json" ] || [ -s "$src_cache/tokenizer/vocab.json" ]; then
    cp -r "$src_cache/tokenizer" "$T/cache/" && have_tok=1
fi
for i in $(seq 48); do cat palinka.txt; done >"$T/text.txt"

leftovers() { find "$T" \( -name '*.tmp.*' -o -name '.*.tmp-*' -o -name '*.part.*' \) 2>/dev/null; }
# same_tree A B: the same files with the same bytes
same_tree() { diff -r "$1" "$2" >/dev/null 2>&1; }

# interrupt NAME SIG DELAY OUTPUT_TO_COMPARE REFERENCE -- command...
#   start the command (default signal dispositions, as from a terminal), send SIG
#   after DELAY seconds, then check the exit, the leftovers and the output.
interrupt() {
    local name=$1 sig=$2 delay=$3 out=$4 ref=$5; shift 6
    env --default-signal=INT,TERM,HUP "$@" >/dev/null 2>"$T/err" &
    local pid=$!
    sleep "$delay"
    kill -s "$sig" "$pid" 2>/dev/null
    wait "$pid"; local rc=$?
    local num; num=$(kill -l "$sig"); num=$((128 + num))
    local how="finished first"; [ "$rc" -eq "$num" ] && how="killed"
    check "$name: SIG$sig at ${delay}s: $how (rc $rc)$([ "$rc" -ne 0 ] && [ "$rc" -ne "$num" ] && head -c 300 "$T/err")" \
        eval "[ $rc -eq 0 ] || [ $rc -eq $num ]"
    local left; left=$(leftovers)
    check "$name: SIG$sig at ${delay}s: nothing left behind${left:+ (left: $left)}" test -z "$left"
    check "$name: SIG$sig at ${delay}s: the old output is whole" same_tree "$out" "$ref"
}

# every signal at two moments each
signals() { # signals NAME OUT REF SCALE -- command...
    local name=$1 out=$2 ref=$3 scale=$4; shift 5
    local s d
    for s in INT:0.05 INT:0.6 TERM:0.25 TERM:1.2 HUP:0.15 HUP:0.9; do
        d=$(awk -v a="${s#*:}" -v k="$scale" 'BEGIN{printf "%.2f", a * k}')
        interrupt "$name" "${s%%:*}" "$d" "$out" "$ref" -- "$@"
    done
}

# ---- synth -o (about 100 MB) ----
syn=(--n-layer 4 --n-head 6 --n-embd 384 --vocab 50257 --n-ctx 256 --seed 9)
"$bin" synth -o "$T/syn" "${syn[@]}" >/dev/null 2>&1
check "synth: the first run writes the reference" test -s "$T/syn/model.safetensors"
cp -r "$T/syn" "$T/syn.ref"
signals "synth" "$T/syn" "$T/syn.ref" 1 -- "$bin" synth -o "$T/syn" "${syn[@]}"

# replacing a checkpoint of another size: the weights and config.json must still agree
# (capture --ids loads them, checking every shape against config.json; no tokenizer needed)
echo "1 2 3 4" >"$T/ids.txt"
syn2=(--n-layer 4 --n-head 8 --n-embd 512 --vocab 50257 --n-ctx 256 --seed 9)
for d in 0.1 0.4 0.8 1.2; do
    rm -rf "$T/syn"; cp -r "$T/syn.ref" "$T/syn"
    env --default-signal=INT "$bin" synth -o "$T/syn" "${syn2[@]}" >/dev/null 2>&1 &
    pid=$!; sleep "$d"; kill -INT "$pid" 2>/dev/null; wait "$pid"; rc=$?
    "$bin" capture --weights "$T/syn" --ids "$T/ids.txt" -o "$T/ids.npy" >/dev/null 2>"$T/err"; crc=$?
    check "synth of another size, SIGINT at ${d}s (rc $rc): weights and config.json agree$([ $crc -ne 0 ] && head -c 200 "$T/err")" \
        test "$crc" -eq 0
done
rm -rf "$T/syn" "$T/ids.npy"; cp -r "$T/syn.ref" "$T/syn"

# ---- a tiny checkpoint for the rest ----
"$bin" synth -o "$T/tiny" --n-layer 2 --n-head 4 --n-embd 128 --vocab 50257 --n-ctx 128 >/dev/null 2>&1
if [ "$have_tok" -eq 1 ]; then
    # ---- capture -o ----
    cap=(capture --weights "$T/tiny" -o "$T/cap/acts.npy" "$T/text.txt")
    mkdir -p "$T/cap"
    "$bin" "${cap[@]}" >/dev/null 2>&1
    check "capture: the first run writes the reference" test -s "$T/cap/acts.npy"
    cp -r "$T/cap" "$T/cap.ref"
    signals "capture" "$T/cap" "$T/cap.ref" 0.5 -- "$bin" "${cap[@]}"

    # ---- train -o ----
    tr=(train --acts "$T/cap.ref/acts.npy" -o "$T/tr" --epochs 8 --latents 256 --k 16 --batch 2048 --quiet)
    "$bin" "${tr[@]}" >/dev/null 2>&1
    check "train: the first run writes the reference" test -s "$T/tr/sae_weights.safetensors"
    cp -r "$T/tr" "$T/tr.ref"
    signals "train" "$T/tr" "$T/tr.ref" 1 -- "$bin" "${tr[@]}"

    # ---- an input truncated while train reads it (mapped): a message naming it, not a bus error ----
    cp "$T/cap.ref/acts.npy" "$T/shrink.npy"
    # (a sanitizer build would take SIGBUS for itself: the engine's handler is what is tested)
    ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}handle_sigbus=0 \
        "$bin" train --acts "$T/shrink.npy" -o "$T/trs" --epochs 50 --latents 256 --k 16 --batch 2048 --quiet \
        >/dev/null 2>"$T/err" &
    pid=$!; sleep 0.3; truncate -s 4096 "$T/shrink.npy"; wait "$pid"; rc=$?
    check "train --acts truncated while in use: exit 1 naming the file (rc $rc: $(head -c 160 "$T/err"))" \
        eval '[ "$rc" -eq 1 ] && grep -q "shrink.npy: the file shrank" "$T/err"'
    check "... nothing left behind" test -z "$(leftovers)"
    rm -rf "$T/trs" "$T/shrink.npy"

    # ---- the pipeline ----
    pl=(--weights "$T/tiny" --epochs 8 --latents-n 256 --latents-k 16 --out "$T/pl" "$T/text.txt")
    "$bin" "${pl[@]}" >/dev/null 2>&1
    check "pipeline: the first run writes the reference" test -s "$T/pl/report.html"
    cp -r "$T/pl" "$T/pl.ref"
    # report.html and summary.json carry the run's timing; the rest must be identical
    same_run() { diff -r -x report.html -x summary.json "$1" "$2" >/dev/null 2>&1 && [ -s "$1/report.html" ]; }
    same_tree() { same_run "$@"; }
    signals "pipeline" "$T/pl" "$T/pl.ref" 1 -- "$bin" "${pl[@]}"

    # ---- the pipeline with --random-weights: GPT-2 small is written into the cache first ----
    interrupt "pipeline --random-weights (writing the cache's checkpoint)" INT 0.5 "$T/pl" "$T/pl.ref" -- \
        "$bin" --random-weights --epochs 1 --out "$T/pl" "$T/text.txt"
    check "... and no checkpoint folder half-written in the cache" \
        eval '! [ -e "$T/cache/random-gpt2-seed0/model.safetensors" ] || [ -s "$T/cache/random-gpt2-seed0/config.json" ]'
    same_tree() { diff -r "$1" "$2" >/dev/null 2>&1; }
else
    skip "capture, train and the pipeline: no tokenizer files in $src_cache (./run fetch --tokenizer-only)"
fi

# ---- SIGKILL: the temporaries stay; the next run removes them ----
killed() { # killed NAME PATTERN DELAY -- command...   (PATTERN: a find -name for its temporary)
    local name=$1 pat=$2 delay=$3; shift 4
    "$@" >/dev/null 2>&1 &
    local pid=$!
    local t0=$SECONDS seen=
    while [ -z "$seen" ] && kill -0 "$pid" 2>/dev/null && [ $((SECONDS - t0)) -lt 20 ]; do
        seen=$(find "$T" -name "$pat" 2>/dev/null | head -1)
        [ -z "$seen" ] && sleep 0.02
    done
    sleep "$delay"
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    check "$name: SIGKILL while its temporary exists ($(basename "${seen:-none}"))" test -n "$seen" -a -e "$seen"
    "$@" >/dev/null 2>&1; local rc=$?
    check "$name: the next run succeeds (rc $rc) and removes the dead run's temporary" \
        eval "[ $rc -eq 0 ] && [ ! -e '$seen' ] && [ -z \"\$(leftovers)\" ]"
}
killed "synth" 'model.safetensors.tmp.*' 0.05 -- "$bin" synth -o "$T/syn" "${syn[@]}"
if [ "$have_tok" -eq 1 ]; then
    killed "capture" 'acts.npy.tmp.*' 0 -- "$bin" "${cap[@]}"
    killed "pipeline" '.pl.tmp-*' 0.2 -- "$bin" "${pl[@]}"
    check "the pipeline's output is whole after it" diff -r -x report.html -x summary.json "$T/pl" "$T/pl.ref"
else
    skip "SIGKILL of capture and the pipeline: no tokenizer files"
fi
finish
