#!/usr/bin/env bash
# bench/bench_generate_vs_torch.sh - generation with the KV cache, C against
# PyTorch with its own cache (bench/bench_generate_torch.py), same weights
# (a random GPT-2 small: $GPT2SAE_BENCH_MODEL, else the cache's
# random-gpt2-seed0, else ./run synth --seed 1337 into /tmp), same prompt
# (128 tokens), 256 new tokens, greedy, batch 1, 2 threads each, alternating
# C / torch ROUNDS (default 2) times. Prints uptime before and after (the load
# of the machine while it ran), the best per-token times, tokens/s, the
# speed-up of C, and C's achieved GB/s against the read bandwidth it measured.
#
# PyTorch (Debian's python3-torch) calls the BLAS behind libblas.so.3 (the
# script prints which). With OpenBLAS it runs with OPENBLAS_CORETYPE unset
# (OpenBLAS picks its kernels); if it picks a pre-AVX-512 core, it is also run
# with OPENBLAS_CORETYPE=SkylakeX (see bench/bench_gpt2_vs_torch.sh).
#   BUILD=build bash bench/bench_generate_vs_torch.sh [PROMPT [NEW [reps]]]
set -u
build=${BUILD:-build}
P=${1:-128}; N=${2:-256}; reps=${3:-3}
cache=${GPT2SAE_CACHE:-$HOME/.cache/gpt2sae}
dir=${GPT2SAE_BENCH_MODEL:-}
[ -z "$dir" ] && [ -f "$cache/random-gpt2-seed0/model.safetensors" ] && dir=$cache/random-gpt2-seed0
[ -z "$dir" ] && dir=/tmp/gpt2sae_bench_gpt2_1337
if [ ! -f "$dir/model.safetensors" ]; then
    "$build/gpt2sae" synth -o "$dir" --seed 1337 >/dev/null || exit 1
fi
if ! /usr/bin/python3 -c "import torch" 2>/dev/null; then
    echo "SKIP: no python3-torch (apt-get install python3-torch)"; exit 0
fi
core=$(env -u OPENBLAS_CORETYPE /usr/bin/python3 -c "
import ctypes
try:
    l = ctypes.CDLL('libopenblas.so.0'); l.openblas_get_corename.restype = ctypes.c_char_p; print(l.openblas_get_corename().decode())
except Exception: print('?')")
blas=$(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3 2>/dev/null || echo '?')
echo "model $dir; torch's BLAS: libblas.so.3 -> $blas; OpenBLAS core chosen by itself: $core"
echo "uptime before: $(uptime)"
out=$(mktemp)
for round in $(seq 1 "${ROUNDS:-2}"); do
    GPT2SAE_THREADS=2 "$build/bench/bench_generate" "$dir" "$P" "$N" "$reps" | tee -a "$out"
    env -u OPENBLAS_CORETYPE /usr/bin/python3 bench/bench_generate_torch.py "$dir/model.safetensors" "$P" "$N" "$reps" 2 \
        | sed 's/^torch /torch[auto] /' | tee -a "$out"
    case "$core" in SkylakeX|Cooperlake|SapphireRapids|'?') ;; *)
        OPENBLAS_CORETYPE=SkylakeX /usr/bin/python3 bench/bench_generate_torch.py "$dir/model.safetensors" "$P" "$N" \
            "$reps" 2 | sed 's/^torch /torch[SkylakeX] /' | tee -a "$out" ;;
    esac
done
echo "uptime after:  $(uptime)"
echo "--- best over all rounds:"
c_tok=$(grep -m1 '^C greedy tokens' "$out" | cut -d: -f2)
t_tok=$(grep -m1 '^torch\[auto\] greedy tokens' "$out" | cut -d: -f2)
[ "$c_tok" = "$t_tok" ] && echo "  greedy tokens: C and torch agree ($c_tok)" || echo "  greedy tokens DIFFER: C$c_tok / torch$t_tok"
awk '/per new token/ { who = $1; for (i = 1; i <= NF; i++) if ($i == "best") v = $(i + 1) + 0;
                       if (!(who in b) || v < b[who]) b[who] = v }
     END { for (w in b) printf "  %-16s %8.2f ms per token, %6.1f tokens/s\n", w, b[w], 1000 / b[w];
           for (w in b) if (w != "C") printf "  C is %.2fx faster than %s\n", b[w] / b["C"], w }' "$out"
grep "GB/s achieved" "$out" | sort -t'(' -k1 | tail -n 1 | sed 's/^/  /'
rm -f "$out"
