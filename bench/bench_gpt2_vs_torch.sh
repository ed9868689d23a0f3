#!/usr/bin/env bash
# bench/bench_gpt2_vs_torch.sh - the CPU forward pass against PyTorch, same
# weights (synthetic GPT-2 small, ./run synth --seed 1337), same 220 ids, same
# run: the capture-only pass (to layer 6 mlp_pre) and the full pass with
# logits, best of reps, 2 threads each, alternating C / torch ROUNDS (default 3) times. Then the
# peak RSS of `./run capture` on that checkpoint (/usr/bin/time -v).
#
# PyTorch (Debian's python3-torch, BLAS = OpenBLAS through libblas.so.3) runs
# with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset, so OpenBLAS picks its
# kernels itself. OpenBLAS 0.3.21 does not know every new Xeon and may fall
# back to an SSE3 core ("Prescott"): then it is also run with
# OPENBLAS_CORETYPE=SkylakeX (its AVX-512 kernels), the fair baseline.
#   BUILD=build bash bench/bench_gpt2_vs_torch.sh [reps]
set -u
build=${BUILD:-build}
reps=${1:-5}
T=220
dir=${GPT2SAE_BENCH_MODEL:-/tmp/gpt2sae_bench_gpt2_1337}
if [ ! -f "$dir/model.safetensors" ]; then
    "$build/gpt2sae" synth -o "$dir" --seed 1337 >/dev/null || exit 1
fi
if ! /usr/bin/python3 -c "import torch" 2>/dev/null; then
    echo "SKIP: no python3-torch (apt-get install python3-torch)"; exit 0
fi
core=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 -c "
import ctypes
try:
    l = ctypes.CDLL('libopenblas.so.0'); l.openblas_get_corename.restype = ctypes.c_char_p; print(l.openblas_get_corename().decode())
except Exception: print('?')")
echo "OpenBLAS core chosen by itself: $core"
out=$(mktemp)
for round in $(seq 1 "${ROUNDS:-3}"); do
    GPT2SAE_THREADS=2 "$build/bench/bench_gpt2" "$dir" $T "$reps" | tee -a "$out"
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 bench/bench_gpt2_torch.py "$dir/model.safetensors" $T "$reps" 2 \
        | sed 's/^torch /torch[auto] /' | tee -a "$out"
    case "$core" in SkylakeX|Cooperlake|SapphireRapids) ;; *)
        OPENBLAS_CORETYPE=SkylakeX /usr/bin/python3 bench/bench_gpt2_torch.py "$dir/model.safetensors" $T "$reps" 2 \
            | sed 's/^torch /torch[SkylakeX] /' | tee -a "$out" ;;
    esac
done
echo "--- best over all rounds (ms) and speed-up of C:"
awk '/best/ { who = $1; what = ($0 ~ /capture/) ? "capture" : "full";
              for (i = 1; i <= NF; i++) if ($i == "best") v = $(i + 1) + 0;
              k = who " " what; if (!(k in b) || v < b[k]) b[k] = v }
     END { n = split("C torch[auto] torch[SkylakeX]", ws, " ");
           for (i = 1; i <= n; i++) for (j = 1; j <= 2; j++) { p = (j == 1) ? "capture" : "full";
               if ((ws[i] " " p) in b) printf "  %-16s %-8s %9.2f ms\n", ws[i], p, b[ws[i] " " p] }
           for (i = 2; i <= n; i++) for (j = 1; j <= 2; j++) { p = (j == 1) ? "capture" : "full";
               if ((ws[i] " " p) in b) printf "  C is %.2fx faster than %s (%s)\n", b[ws[i] " " p] / b["C " p], ws[i], p } }' "$out"
rm -f "$out"
# peak memory of a GPT-2 small capture (layer 6 mlp_pre, 220 tokens)
ids=$(mktemp); awk -v T=$T 'BEGIN { for (t=0;t<T;t++) printf "%d ", (7919*t+13)%50257; print "" }' >"$ids"
/usr/bin/time -v "$build/gpt2sae" capture --weights "$dir" --ids "$ids" -o "$ids.npy" 2>&1 \
    | grep -E "Maximum resident|Elapsed" | sed 's/^\s*/  capture: /'
rm -f "$ids" "$ids.npy"
