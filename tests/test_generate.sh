#!/usr/bin/env bash
# tests/test_generate.sh - ./run generate from the command line, on a tiny
# random checkpoint (./run synth: 2 layers, C 16, GPT-2's vocabulary, n_ctx
# 32) and a small SAE trained on it (./run capture + ./run train): the text
# and its seeds, samples, the n_ctx stop, interventions, --compare, and the
# errors of bad input.
#
# Needs GPT-2's tokenizer files (from the cache, else the npm registry, as
# tests/test_pipeline.sh); without them every check here is skipped.
set -u
. "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
export GPT2SAE_HF_URL=${GPT2SAE_HF_URL:-http://127.0.0.1:9}

tiny_model "$tmp/m"
gen() { "$bin" generate --weights "$tmp/m" --quiet "$@"; }
if ! gen --prompt "Hello" --max-new 1 >"$tmp/probe" 2>"$tmp/probe.err"; then
    if grep -qi "tokenizer" "$tmp/probe.err"; then
        skip "generate: GPT-2's tokenizer files cannot be had here ($(head -c 200 "$tmp/probe.err"))"
        finish
    fi
fi

# ---- the text ----
PR="The capital of Hungary is"
gen --prompt "$PR" --max-new 12 --seed 7 >"$tmp/a" 2>"$tmp/a.err"; rc=$?
check "generate 12 tokens: exit 0 (rc $rc, $(head -c 200 "$tmp/a.err" | tr '\n' ' '))" test "$rc" -eq 0
check "stdout starts with the prompt" grep -q "^$PR" "$tmp/a"
check "and goes on past it" test "$(wc -c <"$tmp/a")" -gt $((${#PR} + 5))
check "random weights are said so on stderr" grep -q "RANDOM weights" "$tmp/a.err"
gen --prompt "$PR" --max-new 12 --seed 7 >"$tmp/b" 2>/dev/null
check "the same seed: the same text on a second run" cmp -s "$tmp/a" "$tmp/b"
gen --prompt "$PR" --max-new 12 --seed 7 --threads 1 >"$tmp/b" 2>/dev/null
check "  ... and on 1 thread" cmp -s "$tmp/a" "$tmp/b"
gen --prompt "$PR" --max-new 12 --seed 7 --threads 2 >"$tmp/b" 2>/dev/null
check "  ... and on 2 threads" cmp -s "$tmp/a" "$tmp/b"
gen --prompt "$PR" --max-new 12 --seed 8 >"$tmp/b" 2>/dev/null
differ() { ! cmp -s "$1" "$2"; }
check "another seed: another text" differ "$tmp/a" "$tmp/b"
# streaming: each token is written to stdout as it is made (one write per token, after the prompt's)
if command -v strace >/dev/null 2>&1; then
    strace -f -e trace=write -o "$tmp/trace" "$bin" generate --weights "$tmp/m" --quiet --prompt "$PR" --max-new 12 \
        --seed 7 >/dev/null 2>&1
    w=$(grep -c '^[0-9]* *write(1,' "$tmp/trace")
    check "streaming: stdout written token by token ($w writes for the prompt and 12 tokens)" test "$w" -ge 13
else
    skip "streaming: no strace to count the writes"
fi
gen --prompt "$PR" --max-new 12 --seed 7 -n 3 >"$tmp/n3" 2>/dev/null
check "-n 3: three samples, each with a header" test "$(grep -c '^=== sample [123] of 3 ===$' "$tmp/n3")" -eq 3
check "  ... the first is the -n 1 text" eval 'sed -n 2p "$tmp/n3" | cmp -s - <(head -n 1 "$tmp/a")'
gen --prompt "$PR" --max-new 12 --greedy >"$tmp/g1" 2>/dev/null
gen --prompt "$PR" --max-new 12 --temperature 0 --seed 99 >"$tmp/g2" 2>/dev/null
check "--temperature 0 is --greedy (whatever the seed)" cmp -s "$tmp/g1" "$tmp/g2"
gen --prompt "$PR" --max-new 12 --top-k 5 --top-p 0.9 --freq-penalty 0.5 --temperature 0.8 >/dev/null 2>&1; rc=$?
check "all the filters together: exit 0" test "$rc" -eq 0
printf '%s' "$PR" >"$tmp/p.txt"
gen --prompt-file "$tmp/p.txt" --max-new 12 --seed 7 >"$tmp/b" 2>/dev/null
check "--prompt-file gives the --prompt text" cmp -s "$tmp/a" "$tmp/b"
gen --prompt-file - --max-new 12 --seed 7 <"$tmp/p.txt" >"$tmp/b" 2>/dev/null
check "--prompt-file - reads standard input" cmp -s "$tmp/a" "$tmp/b"
# n_ctx = 32: a 27-token prompt leaves room for 5 new tokens
long="one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty twenty one two three four five six"
gen --prompt "$long" --max-new 50 >"$tmp/c" 2>"$tmp/c.err"; rc=$?
check "a prompt near n_ctx: exit 0 (rc $rc)" test "$rc" -eq 0
check "  ... stops at n_ctx and says so: '$(head -c 160 "$tmp/c.err" | tr '\n' ' ')'" grep -q "stopped at n_ctx = 32 tokens" "$tmp/c.err"

# ---- an SAE on the tiny model, and interventions ----
for i in 1 2 3; do cat palinka.txt; done >"$tmp/corpus.txt" 2>/dev/null || printf 'some text to train on %.0s' {1..200} >"$tmp/corpus.txt"
"$bin" capture --weights "$tmp/m" --site blocks.1.mlp.hook_pre -o "$tmp/acts.npy" "$tmp/corpus.txt" >/dev/null 2>&1
"$bin" train --acts "$tmp/acts.npy" -o "$tmp/sae" --latents 128 --k 8 --epochs 2 --model custom \
    --hook blocks.1.mlp.hook_pre --quiet --no-latents >/dev/null 2>&1
check "a small SAE on blocks.1.mlp.hook_pre (d_in 64, 128 latents)" test -s "$tmp/sae/sae_weights.safetensors"
gen --prompt "$PR" --max-new 12 --seed 7 --sae "$tmp/sae" >"$tmp/b" 2>/dev/null
check "--sae without an intervention: the same text" cmp -s "$tmp/a" "$tmp/b"
gen --prompt "$PR" --max-new 12 --seed 7 --sae "$tmp/sae" --steer 5:40 >"$tmp/s" 2>"$tmp/s.err"; rc=$?
check "--steer 5:40: exit 0 ($(head -c 200 "$tmp/s.err" | tr '\n' ' '))" test "$rc" -eq 0
check "  ... changes the text made from the same seed" differ "$tmp/a" "$tmp/s"
gen --prompt "$PR" --max-new 12 --seed 7 --sae "$tmp/sae" --steer 5:40 --hook blocks.1.mlp.hook_pre >"$tmp/b" 2>/dev/null
check "  ... --hook naming the SAE's own site: the same" cmp -s "$tmp/s" "$tmp/b"
gen --prompt "$PR" --max-new 12 --seed 7 --sae "$tmp/sae" --steer 5:40 --steer 9:-3 --ablate 2 --clamp 3=1.5 --splice \
    >/dev/null 2>&1; rc=$?
check "several edits at once (steer x2, ablate, clamp, splice): exit 0" test "$rc" -eq 0
gen --prompt "$PR" --max-new 12 --seed 7 --sae "$tmp/sae" --compare --steer 5:40 --html "$tmp/cmp.html" \
    >"$tmp/cmp" 2>"$tmp/cmp.err"; rc=$?
check "--compare: exit 0 ($(head -c 200 "$tmp/cmp.err" | tr '\n' ' '))" test "$rc" -eq 0
check "  ... prints the text without the interventions" grep -q "^=== without interventions, sample 1 of 1 ===" "$tmp/cmp"
check "  ... and with them" grep -q "^=== with --steer 5:40, sample 1 of 1 ===" "$tmp/cmp"
check "  ... the unsteered text is the plain run's (same seed)" eval 'sed -n 2p "$tmp/cmp" | cmp -s - "$tmp/a"'
check "  ... the steered text is the --steer run's" eval 'sed -n 4p "$tmp/cmp" | cmp -s - "$tmp/s"'
check "  ... the latent at each new token, both texts" test "$(grep -c 'latent 5 at each new token' "$tmp/cmp")" -eq 2
check "  ... writes the page with two text heatmaps" test "$(grep -o '<svg' "$tmp/cmp.html" | wc -l)" -eq 2
check "  ... labelled random weights" grep -q "random weights" "$tmp/cmp.html"

# ---- bad input: a clear message and a non-zero exit ----
err() { # err "description" "expected message part" args...
    local d=$1 want=$2; shift 2
    local msg rc
    msg=$(gen "$@" 2>&1 >/dev/null); rc=$?
    check "$d: exit $rc, '$(head -c 150 <<<"$msg" | tr '\n' ' ')'" eval '[ "$rc" -ne 0 ] && grep -qF -- "$want" <<<"$msg"'
}
: >"$tmp/empty.txt"
err "an empty prompt" "the prompt is empty" --prompt ""
err "an empty prompt file" "is empty" --prompt-file "$tmp/empty.txt"
err "no prompt" "give the text to continue" --max-new 3
err "a prompt longer than n_ctx" "sees at most n_ctx = 32 tokens" --prompt "$long $long"
err "--top-p 0" "--top-p 0: must be in (0, 1]" --prompt "$PR" --top-p 0
err "--top-p 1.5" "--top-p 1.5: must be in (0, 1]" --prompt "$PR" --top-p 1.5
err "--temperature -1" "--temperature -1: must be >= 0" --prompt "$PR" --temperature -1
err "--top-k -2" "--top-k -2: must be >= 0" --prompt "$PR" --top-k -2
err "--freq-penalty 3" "--freq-penalty 3: must be in [-2, 2]" --prompt "$PR" --freq-penalty 3
err "a latent >= d_sae" "latent 128 does not exist: the SAE has latents 0..127" --prompt "$PR" --sae "$tmp/sae" --steer 128:1
err "--ablate past d_sae" "latent 500 does not exist" --prompt "$PR" --sae "$tmp/sae" --ablate 500
err "--latent past d_sae" "--latent 128 does not exist" --prompt "$PR" --sae "$tmp/sae" --compare --steer 1:1 --latent 128
err "a bad --steer" "expected LATENT:VALUE" --prompt "$PR" --sae "$tmp/sae" --steer 5
err "a bad --clamp value" "is not a number" --prompt "$PR" --sae "$tmp/sae" --clamp 5=abc
err "--steer without --sae" "give the SAE with --sae DIR" --prompt "$PR" --steer 5:1
err "--compare without an edit" "--compare needs something to compare" --prompt "$PR" --sae "$tmp/sae" --compare
err "--hook other than the SAE's" "the SAE reads blocks.1.mlp.hook_pre, not blocks.0.mlp.hook_pre" \
    --prompt "$PR" --sae "$tmp/sae" --steer 5:1 --hook blocks.0.mlp.hook_pre
err "--sae folder without an SAE" "no sae_weights.safetensors here" --prompt "$PR" --sae "$tmp/m" --steer 5:1
# an SAE whose hook or width does not fit the model
mkdir -p "$tmp/sae_wide" "$tmp/sae_deep"
cp "$tmp/sae/sae_weights.safetensors" "$tmp/sae_wide/"; cp "$tmp/sae/sae_weights.safetensors" "$tmp/sae_deep/"
sed 's/blocks.1.mlp.hook_pre/blocks.1.hook_resid_post/' "$tmp/sae/cfg.json" >"$tmp/sae_wide/cfg.json"
sed 's/blocks.1.mlp.hook_pre/blocks.6.mlp.hook_pre/' "$tmp/sae/cfg.json" >"$tmp/sae_deep/cfg.json"
err "an SAE 64 wide at a site 16 wide" "the SAE's d_in is 64, but blocks.1.hook_resid_post of this model" \
    --prompt "$PR" --sae "$tmp/sae_wide" --steer 5:1
err "an SAE at a layer the model lacks" "has layers 0..1" --prompt "$PR" --sae "$tmp/sae_deep" --steer 5:1
err "an unknown option" "unknown option '--tempreature'" --prompt "$PR" --tempreature 1
err "--weights and --random-weights" "exclude each other" --prompt "$PR" --random-weights
"$bin" generate --help >/dev/null 2>&1; rc=$?
check "--help exits 0" test "$rc" -eq 0
finish
