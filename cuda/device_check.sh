#!/usr/bin/env bash
# cuda/device_check.sh - everything the CUDA side has to show, in one run on a
# machine with an NVIDIA GPU: build the engine with nvcc, run the CUDA tests,
# every CUDA benchmark and its PyTorch baseline, compute-sanitizer, and print
# a summary table last. See cuda/NOTES.md for what the numbers are compared
# with.
#
#   bash cuda/device_check.sh                # from anywhere in the repository
#   OUT=DIR BUDGET=900 bash cuda/device_check.sh
#   bash cuda/device_check.sh --table LOG    # the table again, from a saved log
#   bash cuda/device_check.sh --prep         # see "zlib" below
#
# Needs: nvcc (on the PATH or in /usr/local/cuda/bin), nvidia-smi, zlib; for
# the baselines python3 with torch (and transformers for the GPT-2 one); for
# the sanitizer steps compute-sanitizer. A missing piece fails or skips its
# own steps only.
#
# Everything runs inside BUDGET seconds (default 540): each step has its own
# time limit, and steps that no longer fit are reported as SKIPPED. The whole
# log goes to $OUT/device_check.log (default OUT: /tmp/gpt2sae_device), the
# table to $OUT/summary.txt. What it prints:
#   - first, the GPU (nvidia-smi), nvcc's version, torch's, and the commit;
#   - one line per step, "STEP name rc=N Ss" (rc 0 = passed; 124/137 = timed out);
#   - the table: each test's "N passed, N failed, N skipped" and its first
#     failures; the matmul's speed as a fraction of cuBLAS SGEMM; GPT-2
#     small's forward in ms next to PyTorch eager and SDPA; the SAE's ms per
#     epoch and tokens/s next to the PyTorch SparseAE; the best GB/s of each
#     memory-bound kernel; the steps' exit codes.
# Steps, most important first:
#   build            the engine, tests and benchmarks with nvcc (sm_90 + PTX),
#                    then ptxas's register/spill report and the SASS
#                    instruction mix of the matmul into the log
#   test_cuda        every forward kernel vs the CPU, whole GPT-2 small forward
#   test_cuda_sae    SAE loss/grad, Adam, 1 and 100 epochs at the notebook's shapes
#   test_cuda_*      every other tests/test_cuda*.c (architectures, hooks, generation...),
#                    then every tests/test_*cuda*.sh (the --device cuda command lines)
#   bench_*          matmul vs cuBLAS; gpt2 forward; sae; attention, layernorm,
#                    gelu, residual, encoder; then every other bench/bench_cuda_*.c
#   torch_*          PyTorch eager GPT-2 forward and the notebook's SAE loop
#   sanitizers       compute-sanitizer memcheck and racecheck on the tests'
#                    small shapes (GPT2SAE_CUDA_QUICK=2), memcheck on test_cuda (=1)
#
# zlib: the build links zlib. On a GPU machine without zlib's development
# files, run `bash cuda/device_check.sh --prep` on a machine that has them
# (it copies zlib.h, zconf.h and libz.a into .devdeps/, which git ignores),
# copy the tree with .devdeps/ to the GPU machine, and run the script there:
# it uses .devdeps/ when the system has no zlib.h. --prep also copies GPT-2's
# tokenizer files from the engine's cache into .devdeps/tokenizer, for the
# command-line tests on a machine with no network.
set -u
cd "$(dirname "$0")/.."
root=$(pwd)

if [ "${1:-}" = "--prep" ]; then
    mkdir -p .devdeps/include .devdeps/lib
    cp /usr/include/zlib.h /usr/include/zconf.h .devdeps/include/
    cp "$(cc -print-file-name=libz.a)" .devdeps/lib/
    # GPT-2's tokenizer files, for the command-line CUDA tests (a GPU machine
    # may have no network): from the engine's cache, when they are there
    tok=${GPT2SAE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gpt2sae}/tokenizer
    if [ -f "$tok/encoder.json" ] || [ -f "$tok/vocab.json" ]; then
        mkdir -p .devdeps/tokenizer && cp "$tok"/* .devdeps/tokenizer/
    fi
    excl=$(git rev-parse --git-path info/exclude 2>/dev/null || true) # works in a worktree too
    if [ -n "$excl" ]; then
        mkdir -p "$(dirname "$excl")"
        grep -qx '/.devdeps/' "$excl" 2>/dev/null || echo '/.devdeps/' >> "$excl"
    fi
    ls -la .devdeps/include .devdeps/lib
    exit 0
fi

OUT=${OUT:-/tmp/gpt2sae_device}
mkdir -p "$OUT"
LOG=$OUT/device_check.log
SUM=$OUT/summary.txt
BUDGET=${BUDGET:-540}
START=$(date +%s)
TABLE_ONLY=0
if [ "${1:-}" = "--table" ]; then # rebuild the table from a fetched log: --table LOG
    LOG=$2 SUM=/tmp/device_check_summary.$$ TABLE_ONLY=1
    grep '^STEP' "$LOG" > "$SUM"
else
    : > "$LOG"
    : > "$SUM"
fi
JOBS=$(nproc 2>/dev/null || echo 8)

left() { echo $((BUDGET - ($(date +%s) - START))); }

# step NAME LIMIT CMD...: run CMD with a time limit, output into the log
step() {
    local name=$1 lim=$2 l
    shift 2
    l=$(left)
    if [ "$l" -lt 15 ]; then
        echo "STEP $name SKIPPED (out of time)" | tee -a "$SUM"
        return 99
    fi
    [ "$lim" -gt "$l" ] && lim=$l
    echo "=== $name (limit ${lim}s) $(date -u +%H:%M:%S)" | tee -a "$LOG"
    local s=$(date +%s) rc
    # -k 10: a process that ignores SIGTERM (e.g. stuck in the driver) is
    # SIGKILLed 10 s later, so one step cannot eat the rest of the budget
    timeout -k 10 "$lim" "$@" >> "$LOG" 2>&1
    rc=$?
    local msg="STEP $name rc=$rc $(($(date +%s) - s))s"
    { [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; } && msg="$msg (TIMED OUT)"
    echo "$msg" | tee -a "$LOG" >> "$SUM"
    return $rc
}

if [ "$TABLE_ONLY" = 0 ]; then
# nvcc, cuobjdump and compute-sanitizer: on the PATH, else the toolkit's usual home
NVCC_BIN=$(command -v nvcc || ls /usr/local/cuda/bin/nvcc 2>/dev/null || true)
[ -n "$NVCC_BIN" ] && export PATH="$PATH:$(dirname "$NVCC_BIN")"
{
    echo "device_check $(date -u)"
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv 2>&1
    echo "nvcc: ${NVCC_BIN:-not found}"
    "${NVCC_BIN:-nvcc}" --version 2>&1 | tail -n 2
    python3 -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)' 2>&1
    git log --oneline -1 2>/dev/null
} >> "$LOG" 2>&1
head -n 8 "$LOG"

# zlib: the system's, else the copy in .devdeps/ (from --prep)
EXTRA=""
if ! echo '#include <zlib.h>' | cc -E - >/dev/null 2>&1 || ! cc -print-file-name=libz.so | grep -q /; then
    if [ -f .devdeps/include/zlib.h ]; then
        EXTRA="-I$root/.devdeps/include -L$root/.devdeps/lib"
        echo "using the zlib copy in .devdeps/" | tee -a "$LOG"
    else
        echo "no zlib.h on this system and no .devdeps/: the build will fail (run --prep where zlib is installed and copy .devdeps/ here)" | tee -a "$LOG"
    fi
fi
# -lineinfo: compute-sanitizer and ncu can name source lines (no effect on the code)
MK=(make -j"$JOBS" CUDA=1 "NVCC=${NVCC_BIN:-nvcc}"
    'NVFLAGS=-O3 -std=c++17 $(CUDA_ARCH) -I. -Xcompiler -Wall,-Wextra -lineinfo')
[ -n "$EXTRA" ] && MK+=("ARCH=-march=native $EXTRA") # ARCH goes into CFLAGS (compile and link)

# every CUDA test (tests/test_cuda*.c) and benchmark (bench/bench_cuda_*.c)
TESTS=$(ls tests/test_cuda*.c | sed -E 's#^tests/(.*)\.c$#build/tests/\1#' | tr '\n' ' ')
BENCHES=$(ls bench/bench_cuda_*.c | sed -E 's#^bench/(.*)\.c$#build/bench/\1#' | tr '\n' ' ')
# shellcheck disable=SC2086
if step build 240 "${MK[@]}" build/gpt2sae $TESTS $BENCHES; then
    # the compiler's resource report for the kernels (registers, spills) into the log
    for f in cuda/cuda_matmul.cu cuda/cuda_ops.cu cuda/cuda_sae.cu; do
        "$NVCC_BIN" -O3 -std=c++17 -gencode arch=compute_90,code=sm_90 -I. -Xptxas -v -c -o "$OUT/ptxas_probe.o" "$f" \
            2>&1 | grep -E 'Compiling|registers|spill' | paste - - - >> "$LOG" || true
    done
    rm -f "$OUT/ptxas_probe.o"
    # the matrix instructions really used: HMMA (TF32 kernel), FFMA (SIMT), no local memory
    if command -v cuobjdump >/dev/null 2>&1; then
        cuobjdump -sass build/cuda/cuda_matmul.o 2>/dev/null | grep -oE '\b(HMMA|FFMA|LDL|STL|LDG\.E[.0-9A-Z]*|LDS[.0-9A-Z]*)\b' |
            sort | uniq -c | sed 's/^/  sass cuda_matmul.o: /' >> "$LOG"
    fi
    step test_cuda 150 build/tests/test_cuda
    step test_cuda_sae 210 build/tests/test_cuda_sae
    for t in $TESTS; do # the other CUDA tests (architectures, hooks, generation, ...)
        case $t in build/tests/test_cuda | build/tests/test_cuda_sae) continue ;; esac
        step "$(basename "$t")" 120 "$t"
    done
    # the command-line tests of the CUDA paths (--device cuda); tokenizer files
    # from .devdeps/tokenizer (--prep) when the machine has no cache or network
    [ -d .devdeps/tokenizer ] && export GPT2SAE_TOKENIZER_DIR=$root/.devdeps/tokenizer
    for t in tests/test_*cuda*.sh; do
        [ -e "$t" ] || continue
        case $t in *emu*) continue ;; esac
        step "$(basename "$t" .sh)" 120 env BUILD=build bash "$t"
    done
    step bench_matmul 90 build/bench/bench_cuda_matmul
    step bench_gpt2 90 build/bench/bench_cuda_gpt2
    step torch_gpt2 90 env PYTHONUNBUFFERED=1 python3 bench/bench_cuda_gpt2_torch.py
    step bench_sae 120 build/bench/bench_cuda_sae
    step torch_sae 120 env PYTHONUNBUFFERED=1 python3 bench/bench_cuda_sae_torch.py
    for b in attention layernorm gelu residual encoder; do
        step bench_$b 40 build/bench/bench_cuda_$b
    done
    for b in $BENCHES; do # the other CUDA benchmarks
        case $b in */bench_cuda_matmul | */bench_cuda_gpt2 | */bench_cuda_sae | */bench_cuda_attention | \
            */bench_cuda_layernorm | */bench_cuda_gelu | */bench_cuda_residual | */bench_cuda_encoder) continue ;; esac
        step "$(basename "$b" | sed 's/^bench_cuda_/bench_/')" 60 "$b"
    done
    if command -v compute-sanitizer >/dev/null 2>&1; then
        CS=(compute-sanitizer --error-exitcode 3)
        step memcheck_sae 60 env GPT2SAE_CUDA_QUICK=2 "${CS[@]}" --tool memcheck build/tests/test_cuda_sae
        step racecheck 60 env GPT2SAE_CUDA_QUICK=2 "${CS[@]}" --tool racecheck build/tests/test_cuda
        step racecheck_sae 60 env GPT2SAE_CUDA_QUICK=2 "${CS[@]}" --tool racecheck build/tests/test_cuda_sae
        step memcheck 100 env GPT2SAE_CUDA_QUICK=1 "${CS[@]}" --tool memcheck build/tests/test_cuda
    fi
fi

fi # TABLE_ONLY

# ------------------------------------------------------------- the table
ms() { # ms of the first "RESULT $1 ..." line containing $2
    grep -E "^RESULT $1 " "$LOG" | grep -F -- "$2" | head -n 1 | sed -E 's/.* ([0-9.]+) ms.*/\1/'
}
ratio() { # "a / b" to two decimals, or "-"
    awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.2f", a / b; else printf "-" }'
}
toks() { grep -E "^RESULT $1 " "$LOG" | grep -F -- "$2" | head -n 1 | sed -nE 's/.*: ([0-9]+) tok\/s.*/\1/p'; }
{
    echo
    echo "== tests"
    awk '/^=== /{ n = $2 } /^[0-9]+ passed, [0-9]+ failed/{ print "  " n ": " $0 }' "$LOG"
    grep -E '^  FAIL|^FAIL' "$LOG" | head -n 15 | sed 's/^/  /'
    echo "== matmul: ours FP32 / cuBLAS SGEMM, speed ratio (goal >= 0.50)"
    grep '^RATIO' "$LOG" | sed -E 's/^RATIO matmul +/  /'
    echo "== GPT-2 small forward (ms; speedup = torch / ours, goal > 1)"
    for T in 1024 220; do
        o=$(ms gpt2 "forward T=$T logits fp32"); ot=$(ms gpt2 "forward T=$T logits tf32")
        e=$(ms gpt2-torch "forward T=$T logits fp32 torch eager"); s=$(ms gpt2-torch "forward T=$T logits fp32 torch sdpa")
        echo "  T=$T ours fp32 ${o:--} tf32 ${ot:--} | torch eager ${e:--} sdpa ${s:--} | eager/ours fp32 $(ratio "$e" "$o") tf32 $(ratio "$e" "$ot") sdpa/ours fp32 $(ratio "$s" "$o")"
    done
    echo "== SAE, the notebook's configuration T=220 d=3072 L=6144 k=1024 (ms per epoch; speedup = torch / ours, goal >= 5)"
    t=$(ms sae-torch "seed epoch T=220 torch")
    for v in "sparse decoder fp32" "dense decoder fp32" "sparse decoder tf32" "dense decoder tf32"; do
        o=$(ms sae "seed epoch T=220 $v")
        echo "  $v: ours ${o:--} torch ${t:--} speedup $(ratio "$t" "$o")"
    done
    grep '^RESULT' "$LOG" | grep -F "seed 100 epochs" | sed -E 's/^RESULT +/  /'
    echo "== SAE minibatch training (tokens/s; speedup = ours / torch)"
    tt=$(toks sae-torch "torch: ")
    for v in fp32 tf32; do
        o=$(toks sae "sparse $v:")
        echo "  ours $v ${o:--} tok/s, torch ${tt:--} tok/s, speedup $(ratio "$o" "$tt")"
    done
    echo "== memory-bound kernels (best GB/s over block sizes)"
    for k in encoder layernorm gelu residual attention; do
        grep "^RESULT $k " "$LOG" | sed -nE 's/.* ([0-9.]+) GB\/s.*/\1/p' | sort -g | tail -n 1 |
            awk -v k="$k" '{ printf "  %-10s %s GB/s\n", k, $1 }'
    done
    echo "== steps (rc 0 = ok)"
    grep '^STEP' "$SUM" | sed 's/^/  /'
    echo "elapsed $(($(date +%s) - START)) s of $BUDGET; full log: $LOG"
} > "$SUM.tmp"
mv "$SUM.tmp" "$SUM"
cat "$SUM"
