#!/usr/bin/env bash
# tests/test_generate_cuda.sh - ./run generate --device cuda against --device
# cpu on a small random checkpoint (./run synth: 2 layers, 2 heads of 64 -
# the GPU attention's head size -, GPT-2's vocabulary, n_ctx 48) and a small
# SAE trained on it: the same greedy text, the same seeded samples, the same
# steered text, the n_ctx stop, and the option errors. The GPU runs are
# skipped, saying why, without a CUDA build and a GPU; the option checks and
# --device auto run everywhere. Tokens/s are printed as RESULT lines only.
#
# Needs GPT-2's tokenizer files (as tests/test_generate.sh); without them
# every check here is skipped.
set -u
. "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
export GPT2SAE_HF_URL=${GPT2SAE_HF_URL:-http://127.0.0.1:9}

"$bin" synth -o "$tmp/m" --n-layer 2 --n-head 2 --n-embd 128 --vocab 50257 --n-ctx 48 >/dev/null 2>&1
check "a small random checkpoint (2 heads of 64)" test -s "$tmp/m/model.safetensors"
gen() { "$bin" generate --weights "$tmp/m" --quiet "$@"; }
gen --prompt "Hello" --max-new 1 >/dev/null 2>"$tmp/probe.err" || ! grep -qi "tokenizer" "$tmp/probe.err" ||
    { skip "GPT-2's tokenizer files cannot be had here ($(head -c 200 "$tmp/probe.err"))"; finish; }
PR="The capital of Hungary is"

# ---- the options (no GPU needed) ----
err() { # err "description" "expected message part" args...
    local d=$1 want=$2; shift 2
    local msg rc
    msg=$(gen "$@" 2>&1 >/dev/null); rc=$?
    check "$d: exit $rc, '$(head -c 150 <<<"$msg" | tr '\n' ' ')'" eval '[ "$rc" -ne 0 ] && grep -qF -- "$want" <<<"$msg"'
}
err "--device gpu" "'gpu' is not cpu, cuda or auto" --prompt "$PR" --device gpu
err "--device cuda with --clamp" "--device cuda steers (--steer) but runs no --clamp" \
    --prompt "$PR" --device cuda --sae "$tmp/none" --clamp 1=0
err "--device cuda with --splice" "use --device cpu for those" --prompt "$PR" --device cuda --sae "$tmp/none" --splice
err "--device cuda with --compare" "use --device cpu for those" \
    --prompt "$PR" --device cuda --sae "$tmp/none" --compare --steer 1:1
gen --prompt "$PR" --max-new 10 --seed 3 --device cpu >"$tmp/cpu" 2>/dev/null
gen --prompt "$PR" --max-new 10 --seed 3 --device auto >"$tmp/auto" 2>/dev/null; rc=$?
check "--device auto (the GPU if there is one, else the CPU): exit 0 and the CPU's text" \
    eval '[ "$rc" -eq 0 ] && cmp -s "$tmp/cpu" "$tmp/auto"'
gen --prompt "$PR" --max-new 10 --seed 3 >"$tmp/b" 2>/dev/null
check "no --device: the CPU's text" cmp -s "$tmp/cpu" "$tmp/b"

# ---- on the GPU ----
emu=0
gen --prompt "$PR" --max-new 1 --device cuda >/dev/null 2>"$tmp/probe.err"; rc=$?
if [ "$rc" -ne 0 ]; then
    check "--device cuda without a GPU fails with a message: '$(head -c 160 "$tmp/probe.err" | tr '\n' ' ')'" \
        grep -qE "no usable GPU|no CUDA" "$tmp/probe.err"
    if [ ! -x "$BUILD/gpt2sae_emu" ]; then
        skip "generate --device cuda: no CUDA build or no GPU here, and no $BUILD/gpt2sae_emu"
        finish
    fi
    # the GPU runs below on the engine linked against cuda/emu
    bin=$BUILD/gpt2sae_emu emu=1
    echo "  (the --device cuda runs below are emulated: $bin; shorter texts, no speed lines)"
fi
same() { # same "description" args... : the text of --device cpu and --device cuda
    local d=$1; shift
    gen "$@" --device cpu >"$tmp/c" 2>"$tmp/c.err"
    gen "$@" --device cuda >"$tmp/g" 2>"$tmp/g.err"; local rc=$?
    check "$d: the GPU's text = the CPU's (rc $rc, $(head -c 120 "$tmp/g.err" | tr '\n' ' '))" \
        eval '[ "$rc" -eq 0 ] && [ -s "$tmp/g" ] && cmp -s "$tmp/c" "$tmp/g"'
}
NL=40 NS=20 # tokens per text (fewer on the emulator, about 0.4 s a token)
[ "$emu" -eq 1 ] && NL=12 NS=6
same "greedy, $NL tokens" --prompt "$PR" --max-new $NL --greedy
same "temperature 0, 3 samples" --prompt "$PR" --max-new $NS --temperature 0 -n 3
same "seed 7, temperature 1, 3 samples" --prompt "$PR" --max-new $NS --seed 7 -n 3
same "seed 9, top-k 20, top-p 0.9, frequency penalty 0.5" --prompt "$PR" --max-new $NS --seed 9 --top-k 20 \
    --top-p 0.9 --freq-penalty 0.5
gen --prompt "$PR" --max-new 100 --device cuda >"$tmp/g" 2>"$tmp/g.err"; rc=$?
check "a full context on the GPU: exit 0, stops at n_ctx and says so" \
    eval '[ "$rc" -eq 0 ] && grep -q "stopped at n_ctx = 48 tokens" "$tmp/g.err"'
"$bin" synth -o "$tmp/m8" --n-layer 1 --n-head 2 --n-embd 16 --vocab 50257 --n-ctx 16 >/dev/null 2>&1
"$bin" generate --weights "$tmp/m8" --quiet --prompt "$PR" --max-new 5 --seed 1 --device auto >"$tmp/g" 2>"$tmp/g.err"; rc=$?
"$bin" generate --weights "$tmp/m8" --quiet --prompt "$PR" --max-new 5 --seed 1 --device cpu >"$tmp/c" 2>/dev/null
check "--device auto, heads of 8 (the GPU runs 64): on the CPU, said on stderr, the CPU's text (rc $rc)" \
    eval '[ "$rc" -eq 0 ] && grep -q "device auto: on the CPU (.*head size 8" "$tmp/g.err" && cmp -s "$tmp/c" "$tmp/g"'

# steering an SAE's latents
for i in 1 2 3; do cat palinka.txt; done >"$tmp/corpus.txt" 2>/dev/null || printf 'some text to train on %.0s' {1..200} >"$tmp/corpus.txt"
"$bin" capture --weights "$tmp/m" --site blocks.1.mlp.hook_pre -o "$tmp/acts.npy" "$tmp/corpus.txt" >/dev/null 2>&1
"$bin" train --acts "$tmp/acts.npy" -o "$tmp/sae" --latents 256 --k 16 --epochs 2 --model custom \
    --hook blocks.1.mlp.hook_pre --quiet --no-latents --device cpu >/dev/null 2>&1
check "a small SAE on blocks.1.mlp.hook_pre (d_in 512, 256 latents)" test -s "$tmp/sae/sae_weights.safetensors"
gen --prompt "$PR" --max-new $NS --seed 7 --device cpu >"$tmp/plain" 2>/dev/null
same "--steer 5:40" --prompt "$PR" --max-new $NS --seed 7 --sae "$tmp/sae" --steer 5:40
check "  ... the steered text differs from the plain one (same seed)" eval '! cmp -s "$tmp/g" "$tmp/plain"'
same "--steer 5:40 --steer 9:-3, greedy" --prompt "$PR" --max-new $NS --greedy --sae "$tmp/sae" --steer 5:40 --steer 9:-3
err "--device cuda --steer past d_sae" "latent 256 does not exist" --prompt "$PR" --device cuda --sae "$tmp/sae" \
    --steer 256:1

# speed (reported, not asserted, and not on the emulator): the timing line of a 40-token greedy run
[ "$emu" -eq 1 ] && finish
"$bin" generate --weights "$tmp/m" --prompt "$PR" --max-new 40 --greedy --device cuda 2>&1 >/dev/null |
    sed -n 's/^generate: \([0-9]* tokens* in [0-9.]* s\) (\([0-9.]* tokens\/s\).*/RESULT generate --device cuda, 2 x 128 random model: \2 (\1)/p'
"$bin" generate --weights "$tmp/m" --prompt "$PR" --max-new 40 --greedy --device cpu 2>&1 >/dev/null |
    sed -n 's/^generate: \([0-9]* tokens* in [0-9.]* s\) (\([0-9.]* tokens\/s\).*/RESULT generate --device cpu, 2 x 128 random model: \2 (\1)/p'
finish
