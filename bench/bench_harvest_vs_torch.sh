#!/usr/bin/env bash
# bench/bench_harvest_vs_torch.sh - harvest tokens/s, GPT-2 small (synthetic,
# seed 1337) to blocks.6.mlp.hook_pre at 32 windows x 128 tokens, the engine
# (build/bench/bench_harvest, also the cache's writer and reader GB/s) against
# PyTorch (bench/bench_harvest_torch.py: the same weights, batch and stop, no
# grad) in the same run, both on GPT2SAE_BENCH_THREADS threads (default 2).
#   BUILD=build bash bench/bench_harvest_vs_torch.sh [reps] [cache MiB]
set -u
build=${BUILD:-build}
reps=${1:-3}
mib=${2:-256}
th=${GPT2SAE_BENCH_THREADS:-2}
dir=${GPT2SAE_BENCH_MODEL:-/tmp/gpt2sae_bench_gpt2_1337}
[ -f "$dir/model.safetensors" ] || "$build/gpt2sae" synth -o "$dir" --seed 1337 >/dev/null || exit 1
uptime
GPT2SAE_THREADS=$th "$build/bench/bench_harvest" "$dir" "$reps" "$mib" | tee /tmp/bench_harvest_c.$$
if /usr/bin/python3 -c "import torch" 2>/dev/null; then
    /usr/bin/python3 bench/bench_harvest_torch.py "$dir/model.safetensors" 32 128 "$reps" "$th" | tee /tmp/bench_harvest_t.$$
    c=$(grep -o '[0-9]* tokens/s' /tmp/bench_harvest_c.$$ | head -1 | cut -d' ' -f1)
    t=$(grep -o '[0-9]* tokens/s' /tmp/bench_harvest_t.$$ | head -1 | cut -d' ' -f1)
    [ -n "$c" ] && [ -n "$t" ] && echo "harvest: engine / torch = $(awk "BEGIN{printf \"%.2f\", $c/$t}")x"
else
    echo "SKIP torch: no python3-torch"
fi
rm -f /tmp/bench_harvest_c.$$ /tmp/bench_harvest_t.$$
uptime
