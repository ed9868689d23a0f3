#!/usr/bin/env bash
# tests/test_cuda_cli.sh - ./run harvest and ./run eval with --device cuda
# against --device cpu on a small synthetic GPT-2 (2 layers, C 128, two heads
# of 64, n_ctx 64): the same cache manifest byte for byte and the same rows
# (|gpu - cpu| <= 1e-4 max|cpu| + 1e-3 |cpu| per hook), the same eval.json
# (CE losses rtol 2e-5, KL rtol 2e-3, reconstruction rtol 1e-4; the scores,
# ratios of CE differences, within what the CEs' tolerance allows).
# Without a GPU, or in a build without CUDA, what is checked is that
# --device cuda is refused with a message, --device auto runs on the CPU, and
# --device with a bad value is refused; the GPU comparisons then run on
# $BUILD/gpt2sae_emu (the engine linked against cuda/emu), labelled
# "emulated", or are skipped, saying so, when it is not built.
set -u
. "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d /tmp/gpt2sae_test_cuda_cli_XXXXXX)
trap 'rm -rf "$tmp"' EXIT
export GPT2SAE_HF_URL=${GPT2SAE_HF_URL:-http://127.0.0.1:9}

"$bin" synth -o "$tmp/m" --n-layer 2 --n-head 2 --n-embd 128 --vocab 50257 --n-ctx 64 --seed 3 >/dev/null 2>&1
check "synth a checkpoint with heads of 64 (the CUDA attention's)" test -f "$tmp/m/model.safetensors"
# a token file in llm.c's format: 2000 tokens, an <|endoftext|> every 97
python3 - "$tmp/d.bin" <<'PY'
import struct, sys
n = 2000
toks = [50256 if i % 97 == 0 else (i * 7919 + 13) % 50257 for i in range(n)]
open(sys.argv[1], "wb").write(struct.pack("<256i", 20240520, 1, n, *([0] * 253)) + struct.pack("<%dH" % n, *toks))
PY

H="--dataset $tmp/d.bin --weights $tmp/m --hook blocks.1.mlp.hook_pre --hook blocks.0.hook_resid_post --ctx 32 --batch-windows 8 --shard-windows 16 --quiet"
"$bin" harvest $H --device bogus -o "$tmp/cx" >/dev/null 2>"$tmp/e"; rc=$?
check "harvest --device bogus: exit 2 with the choices ($(head -c 120 "$tmp/e"))" \
    bash -c '[ "$1" -eq 2 ] && grep -q "not cpu, cuda or auto" "$2"' _ "$rc" "$tmp/e"
"$bin" harvest $H --device cpu -o "$tmp/ccpu" >/dev/null 2>"$tmp/e"; rc=$?
check "harvest --device cpu at 2 hooks (rc $rc)" test "$rc" -eq 0 -a -f "$tmp/ccpu/manifest.json"
"$bin" harvest $H --device cuda -o "$tmp/cgpu" >/dev/null 2>"$tmp/e"; rc=$?
gpu=1 gbin=$bin where=device
if [ "$rc" -ne 0 ] && grep -q "no usable GPU" "$tmp/e"; then
    gpu=0
    check "harvest --device cuda without a GPU: exit 1 and says so ($(head -c 160 "$tmp/e"))" test "$rc" -eq 1
    check "and writes no cache" test ! -e "$tmp/cgpu"
    "$bin" harvest $H --device auto -o "$tmp/cauto" >/dev/null 2>&1
    same=1; for f in "$tmp"/ccpu/*; do cmp -s "$f" "$tmp/cauto/$(basename "$f")" || same=0; done
    check "harvest --device auto without a GPU runs on the CPU: the same cache, byte for byte" test "$same" -eq 1
    # the GPU runs below on the emulator instead, when the engine is built against it
    if [ -x "$BUILD/gpt2sae_emu" ]; then
        gbin=$BUILD/gpt2sae_emu where=emulated gpu=1
        "$gbin" harvest $H --device cuda -o "$tmp/cgpu" >/dev/null 2>"$tmp/e"; rc=$?
    fi
fi

# an SAE at blocks.1.mlp.hook_pre, trained on the CPU, for eval
python3 -c "print(' '.join(str((i * 7919 + 13) % 50257) for i in range(256)))" >"$tmp/ids.txt"
"$bin" capture --weights "$tmp/m" --site blocks.1.mlp.hook_pre --ids "$tmp/ids.txt" -o "$tmp/a.npy" >/dev/null 2>&1
"$bin" train --acts "$tmp/a.npy" -o "$tmp/sae" --latents 64 --k 8 --epochs 3 --model custom \
    --hook blocks.1.mlp.hook_pre --device cpu --quiet >/dev/null 2>&1
check "an SAE trained for the eval" test -f "$tmp/sae/sae_weights.safetensors"
E="--sae $tmp/sae --weights $tmp/m --ctx 32 --tokens 256"
"$bin" eval $E --device bogus -o "$tmp/ex" "$tmp/d.bin" >/dev/null 2>"$tmp/e"; rc=$?
check "eval --device bogus: exit 2 with the choices" bash -c '[ "$1" -eq 2 ] && grep -q "not cpu, cuda or auto" "$2"' _ "$rc" "$tmp/e"
"$bin" eval $E --device cpu -o "$tmp/ecpu" "$tmp/d.bin" >/dev/null 2>"$tmp/e"; rc=$?
if [ "$rc" -ne 0 ] && grep -q "tokenizer" "$tmp/e"; then
    skip "eval --device cpu/cuda: GPT-2's tokenizer files are not in the cache ($(head -c 160 "$tmp/e"))"
    ecpu=0
else
    check "eval --device cpu (rc $rc: $(tail -c 200 "$tmp/e" | tr '\n' ' '))" test "$rc" -eq 0 -a -s "$tmp/ecpu/eval.json"
    ecpu=1
fi

if [ "$gpu" -eq 0 ]; then
    "$bin" eval $E --device cuda -o "$tmp/egpu" "$tmp/d.bin" >/dev/null 2>"$tmp/e"; rc=$?
    check "eval --device cuda without a GPU: exit 1 and says so ($(head -c 160 "$tmp/e"))" \
        bash -c '[ "$1" -eq 1 ] && grep -q "no usable GPU" "$2"' _ "$rc" "$tmp/e"
    skip "harvest and eval --device cuda vs --device cpu: no GPU, or a build without CUDA"
    finish
fi

check "harvest --device cuda, $where (rc $rc: $(tail -c 200 "$tmp/e" | tr '\n' ' '))" test "$rc" -eq 0
check "the manifests are the same, byte for byte" cmp -s "$tmp/ccpu/manifest.json" "$tmp/cgpu/manifest.json"
check "every shard of both hooks: GPU rows == CPU rows within 1e-4 max|cpu| + 1e-3|cpu|" python3 - "$tmp/ccpu" "$tmp/cgpu" <<'PY'
import array, glob, os, sys
a, b = sys.argv[1], sys.argv[2]
names = sorted(os.path.basename(p) for p in glob.glob(a + "/shard-*.bin"))
assert names and names == sorted(os.path.basename(p) for p in glob.glob(b + "/shard-*.bin")), "shard files differ"
for n in names:
    x, y = array.array("f"), array.array("f")
    x.frombytes(open(a + "/" + n, "rb").read()); y.frombytes(open(b + "/" + n, "rb").read())
    assert len(x) == len(y) > 0, (n, len(x), len(y))
    mx = max(abs(v) for v in x)
    worst = max(abs(p - q) - (1e-4 * mx + 1e-3 * abs(p)) for p, q in zip(x, y))
    print("    %s: %d floats, max|cpu| %.3g, worst excess %.3g" % (n, len(x), mx, worst))
    assert worst <= 0, n
PY

if [ "$ecpu" -eq 1 ]; then
    "$gbin" eval $E --device cuda -o "$tmp/egpu" "$tmp/d.bin" >/dev/null 2>"$tmp/e"; rc=$?
    check "eval --device cuda, $where (rc $rc: $(tail -c 200 "$tmp/e" | tr '\n' ' '))" test "$rc" -eq 0 -a -s "$tmp/egpu/eval.json"
    check "eval.json on the GPU == on the CPU (CE, KL, scores, reconstruction, sparsity)" python3 - "$tmp/ecpu/eval.json" "$tmp/egpu/eval.json" <<'PY'
import json, sys
c, g = (json.load(open(p)) for p in sys.argv[1:3])
def near(what, a, b, rtol, atol=0.0):
    ok = abs(a - b) <= atol + rtol * abs(b)
    print("    %s %s: GPU %.9g vs CPU %.9g" % ("ok  " if ok else "FAIL", what, a, b))
    return ok
ok = c["tokens"] == g["tokens"]
cc, cg = c["ce_loss"], g["ce_loss"]
for k in ("clean", "sae", "zero", "mean"): ok &= near("CE " + k, cg[k], cc[k], 2e-5)
for k in ("sae", "zero", "mean"): ok &= near("KL " + k, g["kl"][k], c["kl"][k], 2e-3, 1e-7)
# a score is a ratio of CE differences: its tolerance follows from the CEs'
for key, other in (("score", "zero"), ("score_mean_ablation", "mean")):
    tol = 2e-5 * (abs(cc[other]) + abs(cc["sae"])) * (1 + abs(cc[key])) / abs(cc[other] - cc["clean"]) * 2
    ok &= near("CE " + key, cg[key], cc[key], 0, tol)
for k, v in c["reconstruction"].items(): ok &= near(k, g["reconstruction"][k], v, 1e-4, 1e-9)
ok &= near("L0", g["sparsity"]["l0"], c["sparsity"]["l0"], 1e-3)
ok &= near("L1", g["sparsity"]["l1"], c["sparsity"]["l1"], 1e-3)
sys.exit(0 if ok else 1)
PY
else skip "eval --device cuda vs --device cpu: the CPU's eval did not run (no tokenizer files)"; fi
finish
