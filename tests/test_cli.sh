#!/usr/bin/env bash
# tests/test_cli.sh - the ./run entry point: --version, --help, bad options,
# "did you mean" suggestions that name only the command's own options, and
# `--` ending the options.
set -u
. "$(dirname "$0")/lib.sh"
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

# suggestions: the nearest option of this command, never another command's
e=$("$bin" synth --seeed 3 -o /nonexistent 2>&1); rc=$?
check "synth --seeed: exit 2 (got $rc)" test "$rc" -eq 2
check "synth --seeed: 'did you mean --seed?'" grep -qF "did you mean --seed?" <<<"$e"
e=$("$bin" fetch --modle gpt2 2>&1)
check "fetch --modle: 'did you mean --model?'" grep -qF "did you mean --model?" <<<"$e"
e=$("$bin" synth --cach /tmp 2>&1)
check "synth --cach: no suggestion (--cache is fetch's option, not synth's)" \
    bash -c '! grep -q -- "--cache\|did you mean" <<<"$1" && grep -q "unknown option" <<<"$1"' _ "$e"
e=$("$bin" fetch --n-layr 3 2>&1)
check "fetch --n-layr: no suggestion (--n-layer is synth's option)" \
    bash -c '! grep -q -- "--n-layer\|did you mean" <<<"$1" && grep -q "unknown option" <<<"$1"' _ "$e"
e=$("$bin" tokenzie palinka.txt 2>&1); rc=$?
check "./run tokenzie: exit 2 and 'did you mean ./run tokenize?' (got $rc)" \
    bash -c '[ "$1" -eq 2 ] && grep -qF "did you mean ./run tokenize?" <<<"$2"' _ "$rc" "$e"

# `--` ends the options: what follows is an operand, even --help
out=$("$bin" synth -- --help 2>/dev/null); rc=$?
e=$("$bin" synth -- --help 2>&1 >/dev/null)
check "synth -- --help: '--help' is an argument, not the help (exit $rc)" \
    bash -c '[ "$1" -eq 2 ] && [ -z "$2" ] && grep -qF "unexpected argument '"'"'--help'"'"'" <<<"$3"' _ "$rc" "$out" "$e"
out=$("$bin" fetch -- --help 2>/dev/null); rc=$?
check "fetch -- --help: '--help' is an argument, not the help (exit $rc)" \
    bash -c '[ "$1" -eq 2 ] && [ -z "$2" ]' _ "$rc" "$out"
d=$(mktemp -d); trap 'rm -rf "$d"' EXIT
"$bin" synth --n-layer 1 --n-embd 8 --n-head 2 --vocab 10 --n-ctx 4 -o "$d/m" -- >/dev/null 2>&1; rc=$?
check "synth ... -o DIR --: a trailing '--' is accepted (exit $rc)" test "$rc" -eq 0 -a -f "$d/m/model.safetensors"
# the pipeline: a file whose name starts with '-' after `--`
e=$("$bin" --random-weights -- "$d/-missing.txt" 2>&1); rc=$?
check "./run -- -missing.txt: read as a file, not an option (exit $rc)" \
    bash -c '[ "$1" -ne 0 ] && grep -qF -- "-missing.txt" <<<"$2" && ! grep -q "unknown option" <<<"$2"' _ "$rc" "$e"
e=$("$bin" tokenize --count -- --count 2>&1); rc=$?
check "tokenize --count -- --count: the second '--count' is the FILE (exit $rc)" \
    bash -c '[ "$1" -eq 1 ] && grep -qF -- "--count: cannot open" <<<"$2"' _ "$rc" "$e"
out=$("$bin" capture -- --help 2>/dev/null); rc=$?
e=$("$bin" capture -- --help 2>&1 >/dev/null)
check "capture -- --help: '--help' is a text file, not the help (exit $rc)" \
    bash -c '[ "$1" -eq 2 ] && [ -z "$2" ] && grep -qF "give the output file" <<<"$3"' _ "$rc" "$out" "$e"
e=$("$bin" train -- --acts x.npy 2>&1); rc=$?
check "train -- --acts: an argument, refused as such (train takes only options) (exit $rc)" \
    bash -c '[ "$1" -eq 2 ] && grep -qF "unexpected argument '"'"'--acts'"'"'" <<<"$2"' _ "$rc" "$e"

# every command suggests its own options, and none of another command's
suggest() {   # suggest LABEL WANT ARGS...: WANT is the option suggested, or - for none
    local label=$1 want=$2; shift 2
    local e rc
    e=$("$bin" "$@" 2>&1); rc=$?
    if [ "$want" = - ]; then
        check "$label: exit 2, unknown option, no suggestion (got $rc)" \
            bash -c '[ "$1" -eq 2 ] && grep -q "unknown option" <<<"$2" && ! grep -q "did you mean" <<<"$2"' _ "$rc" "$e"
    else
        check "$label: exit 2, 'did you mean $want?' (got $rc)" \
            bash -c '[ "$1" -eq 2 ] && grep -qF -- "did you mean $3?" <<<"$2"' _ "$rc" "$e" "$want"
    fi
}
suggest "./run --epochz" --epochs --epochz 3 x.txt
suggest "./run --cach" --cache --cach /tmp x.txt
suggest "./run --verison" --version --verison
suggest "./run --acts (train's option)" - --acts x.npy x.txt
suggest "./run --logit (capture's option)" - --logit x.npy x.txt
suggest "capture --logit" --logits capture --logit x.npy
suggest "capture --epochs (the pipeline's option)" - capture --epochs 3
suggest "capture --n-layr (synth's option)" - capture --n-layr 3
suggest "train --devic" --device train --devic cpu
suggest "train --latents-n (the pipeline's spelling)" --latents train --latents-n 3
suggest "train --cach (the pipeline's and fetch's option)" - train --cach x
suggest "train --logits (capture's option)" - train --logits x
suggest "tokenize --coutn" --count tokenize --coutn
suggest "tokenize --weigths (capture's option)" - tokenize --weigths x

# the option table (cli_parse): values in both spellings, a missing value,
# a flag given a value, a repeated option
e=$("$bin" synth --n-layer=x -o "$d/t" 2>&1); rc=$?
check "synth --n-layer=x: exit 2, the option and its range named (got $rc)" \
    bash -c '[ "$1" -eq 2 ] && grep -qF "option --n-layer: '"'"'x'"'"' is not an integer in [1, 1024]" <<<"$2"' _ "$rc" "$e"
e=$("$bin" synth -o 2>&1); rc=$?
check "synth -o (no value): exit 2, 'option -o needs a value' (got $rc)" \
    bash -c '[ "$1" -eq 2 ] && grep -qF "option -o needs a value" <<<"$2"' _ "$rc" "$e"
e=$("$bin" fetch --tokenizer-only=1 2>&1); rc=$?
check "fetch --tokenizer-only=1: a flag takes no value: exit 2, unknown option (got $rc)" \
    bash -c '[ "$1" -eq 2 ] && grep -q "unknown option" <<<"$2"' _ "$rc" "$e"
e=$("$bin" --latents 1,2 --latents 3,4,5 "$d/no-such-file.txt" 2>&1); rc=$?
check "./run --latents twice: the second list replaces the first (the run goes on to the missing file: exit $rc)" \
    bash -c '[ "$1" -eq 1 ] && grep -qF "no-such-file.txt" <<<"$2"' _ "$rc" "$e"
e=$("$bin" --latents 1,x "$d/no-such-file.txt" 2>&1); rc=$?
check "./run --latents 1,x: exit 2, the bad number named (got $rc)" \
    bash -c '[ "$1" -eq 2 ] && grep -qF "option --latents: '"'"'x'"'"'" <<<"$2"' _ "$rc" "$e"

# ./run builds what it needs and runs the binary
out=$(./run --version 2>/dev/null | head -n 1)
check "./run --version works from the repo root" grep -q '^gpt2sae' <<<"$out"
finish
