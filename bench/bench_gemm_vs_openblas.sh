#!/usr/bin/env bash
# bench/bench_gemm_vs_openblas.sh - the fast gemm (build/bench/bench_gemm)
# against OpenBLAS sgemm (bench/bench_gemm_openblas.py, through ctypes) on
# GPT-2 small's shapes, T = 220, 2 threads, alternating ROUNDS (default 3) times in one run: this machine is shared, so the best of each side is what it does when it gets both cores.
# OpenBLAS runs with OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE unset (its own choice
# of kernels) and, when it falls back to a non-AVX-512 core on this CPU, with
# OPENBLAS_CORETYPE=SkylakeX too.
#   BUILD=build bash bench/bench_gemm_vs_openblas.sh [reps]
set -u
build=${BUILD:-build}
reps=${1:-5}
if ! /usr/bin/python3 -c "import numpy" 2>/dev/null; then echo "SKIP: no python3-numpy"; exit 0; fi
out=$(mktemp)
for round in $(seq 1 "${ROUNDS:-3}"); do
    GPT2SAE_THREADS=2 "$build/bench/bench_gemm" 220 "$reps" | sed 's/^/C        /' | tee -a "$out"
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 bench/bench_gemm_openblas.py 220 "$reps" 2 \
        | sed 's/^/oblas    /' | tee -a "$out"
    if grep -q "core Prescott\|core Haswell\|core Sandy" "$out"; then
        OPENBLAS_CORETYPE=SkylakeX /usr/bin/python3 bench/bench_gemm_openblas.py 220 "$reps" 2 \
            | sed 's/^/oblasSKX /' | tee -a "$out"
    fi
done
echo "--- best GFLOP/s over all rounds; C as a fraction of OpenBLAS (sgemm, same shapes, same run):"
awk '/GFLOP\/s/ && /M=/ { who = $1; name = $2; for (i = 1; i <= NF; i++) if ($i == "GFLOP/s" && $(i-1) ~ /^[0-9.]+$/) g = $(i-1) + 0;
                          k = who " " name; if (g > b[k]) b[k] = g; names[name] = 1 }
     END { for (nm in names) printf "  %-12s C %7.1f  OpenBLAS(auto) %7.1f (%3.0f%%)  OpenBLAS(SkylakeX) %7.1f (%3.0f%%)\n", nm,
               b["C " nm], b["oblas " nm], b["oblas " nm] ? 100 * b["C " nm] / b["oblas " nm] : 0,
               b["oblasSKX " nm], b["oblasSKX " nm] ? 100 * b["C " nm] / b["oblasSKX " nm] : 0 }' "$out"
rm -f "$out"
