#!/usr/bin/env bash
# tests/test_synth.sh - ./run synth from the command line: a tiny random
# checkpoint, determinism, options and their errors, and that a failed write
# (the disk "fills up" via ulimit -f) leaves the previous checkpoint intact.
set -u
. "$(dirname "$0")/lib.sh"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
tiny=(--n-layer 2 --n-head 2 --n-embd 16 --vocab 50 --n-ctx 8)

out=$("$bin" synth -o "$dir/a" "${tiny[@]}" --seed 5 2>&1); rc=$?
check "synth a tiny checkpoint (rc $rc)" test "$rc" -eq 0
check "it says the weights are random" grep -q "RANDOM WEIGHTS" <<<"$out"
check "model.safetensors and config.json written" test -s "$dir/a/model.safetensors" -a -s "$dir/a/config.json"
check "config.json has n_layer 2, n_embd 16 and the random marker" \
    grep -q '"gpt2sae_random_weights": true' "$dir/a/config.json"
check "  ... n_embd" grep -q '"n_embd": 16' "$dir/a/config.json"
check "the safetensors metadata marks it too" grep -aq '"gpt2sae":"random weights - not GPT-2"' "$dir/a/model.safetensors"
# size: header + 4 bytes per parameter: V*C + n_ctx*C + L*(12C^2 + 13C) + 2C
params=$((50 * 16 + 8 * 16 + 2 * (12 * 16 * 16 + 13 * 16) + 2 * 16))
hlen=$(od -An -t u8 -N 8 "$dir/a/model.safetensors" | tr -d ' ')
size=$(stat -c %s "$dir/a/model.safetensors")
check "file size = 8 + header $hlen + 4 x $params parameters ($size)" test "$size" -eq $((8 + hlen + 4 * params))
"$bin" synth -o "$dir/b" "${tiny[@]}" --seed 5 >/dev/null 2>&1
check "same seed: identical model.safetensors" cmp -s "$dir/a/model.safetensors" "$dir/b/model.safetensors"
"$bin" synth -o "$dir/b" "${tiny[@]}" --seed 6 >/dev/null 2>&1
differ() { ! cmp -s "$1" "$2"; }
check "another seed: different model.safetensors" differ "$dir/a/model.safetensors" "$dir/b/model.safetensors"
"$bin" synth -o "$dir/d" --model distilgpt2 --n-embd 24 --n-head 3 --vocab 10 --n-ctx 4 >/dev/null 2>&1
check "--model distilgpt2 gives its 6 layers" grep -q '"n_layer": 6' "$dir/d/config.json"
check "  ... with the explicit --n-embd 24 / --n-head 3 on top" grep -q '"n_head": 3' "$dir/d/config.json"
rm -rf "$dir/d"

# errors: exit 2 with a message naming the problem
err() { # err "description" "expected message part" args...
    local d=$1 want=$2; shift 2
    local msg rc
    msg=$("$bin" synth "$@" 2>&1 >/dev/null); rc=$?
    check "$d: exit 2, says '$want' (rc $rc)" eval '[ "$rc" -eq 2 ] && grep -q -- "$want" <<<"$msg"'
}
err "no -o" "-o DIR is required"
err "unknown model" "unknown --model 'gpt5'" -o "$dir/x" --model gpt5
err "n_head does not divide n_embd" "not divisible" -o "$dir/x" --n-embd 10 --n-head 3
err "bad number" "--n-layer" -o "$dir/x" --n-layer zero
err "zero layers" "--n-layer" -o "$dir/x" --n-layer 0
err "unknown option" "unknown option '--bogus'" -o "$dir/x" --bogus
err "missing value" "needs a value" -o "$dir/x" --seed
check "no output folder made on a usage error" test ! -e "$dir/x"
"$bin" synth --help >/dev/null 2>&1; rc=$?
check "--help exits 0" test "$rc" -eq 0

# a write that fails half-way (file size limit) keeps the old checkpoint, leaves no temporary file
cp "$dir/a/model.safetensors" "$dir/good.safetensors"
msg=$( (trap '' XFSZ; ulimit -f 4; "$bin" synth -o "$dir/a" --n-layer 2 --n-head 2 --n-embd 64 --vocab 500 --n-ctx 8) 2>&1); rc=$?
check "a write that fails half-way exits non-zero with a message (rc $rc)" eval '[ "$rc" -ne 0 ] && grep -q "model.safetensors" <<<"$msg"'
check "the previous model.safetensors is untouched" cmp -s "$dir/a/model.safetensors" "$dir/good.safetensors"
check "no temporary file left behind" test -z "$(ls "$dir/a" | grep tmp)"
finish
