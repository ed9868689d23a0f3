#!/usr/bin/env bash
# bench/bench_train_stream.sh - streaming training tokens/s of the topk SAE
# at the field's shape (d 768, n 24576 = 32 d, k 32, AuxK; batch 4096) fed
# from the activation cache (build/bench/bench_train_stream), against the
# PyTorch port of the same step (bench/bench_sae_arch_torch.py: the forward,
# AuxK, autograd backward, decoder constraint and Adam of tests/sae_arch_torch.py)
# in the same run, both on GPT2SAE_BENCH_THREADS threads (default 2).
# PyTorch is timed at batch 256 (one warm-up step, then TORCH_STEPS, default
# 1): its step costs the same per token at any batch here and takes minutes
# at 4096 with Debian's torch, whose BLAS is the reference (netlib) one.
# The ratio is per token: ours at 4096 and at 256 / PyTorch at 256.
#   BUILD=build bash bench/bench_train_stream.sh [steps]
set -u
build=${BUILD:-build}
steps=${1:-3}
th=${GPT2SAE_BENCH_THREADS:-2}
tsteps=${TORCH_STEPS:-1}
uptime
out=$(mktemp /tmp/bench_train_stream.XXXXXX)
trap 'rm -f "$out"' EXIT
GPT2SAE_THREADS=$th "$build/bench/bench_train_stream" 768 24576 32 4096 "$steps" 256 | tee "$out" || exit 1
if /usr/bin/python3 -c "import torch" 2>/dev/null; then
    echo "PyTorch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)'), BLAS: $(readlink -f /etc/alternatives/libblas.so.3-x86_64-linux-gnu 2>/dev/null || echo '?')"
    /usr/bin/time -f "torch CPU seconds %U user %S system" /usr/bin/python3 bench/bench_sae_arch_torch.py topk 768 24576 32 256 "$tsteps" "$th" 2>&1 | tee -a "$out"
    t=$(grep -o 'torch topk tokens/s [0-9.]*' "$out" | awk '{print $4}')
    # CPU seconds a step: the whole process (import, set-up, the warm-up step and the timed ones) / (steps + 1)
    tc=$(awk -v n=$((tsteps + 1)) '/^torch CPU seconds/ {printf "%.2f", ($4 + $6) / n}' "$out")
    echo "torch topk batch 256: about $tc CPU s/step (the process's CPU time / $((tsteps + 1)) steps)"
    for b in 4096 256; do
        c=$(grep -o "ours  topk batch $b: [0-9.]* tokens/s" "$out" | awk '{print $5}')
        cc=$(grep "ours  topk batch $b:" "$out" | grep -o '[0-9.]* CPU s/step' | awk '{print $1}')
        [ -n "$c" ] && [ -n "$t" ] && echo "RATIO topk from the cache, ours at batch $b / PyTorch at 256: $(awk "BEGIN{printf \"%.1f\", $c/$t}")x per token (wall)"
        [ -n "$cc" ] && [ -n "$tc" ] && echo "RATIO topk from the cache, ours at batch $b / PyTorch at 256: $(awk "BEGIN{printf \"%.1f\", ($b / $cc) / (256 / $tc)}")x per CPU second"
    done
else
    echo "SKIP torch: no python3-torch (apt install python3-torch)"
fi
uptime
