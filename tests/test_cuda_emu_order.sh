#!/usr/bin/env bash
# tests/test_cuda_emu_order.sh - the emulated CUDA tests' small shapes again,
# with the threads of each block run in reverse and in a random order between
# barriers (CUDA_EMU_ORDER, cuda/emu/cuda_runtime.h): code that is correct only
# in the order threads happen to run in fails here (a missing barrier that
# the default forward order hides). Skipped when the emulated tests were not
# built (make EMU=0).
. "$(dirname "$0")/lib.sh"
for t in test_cuda_emu test_cuda_sae_emu; do
    if [ ! -x "$BUILD/tests/$t" ]; then
        skip "$t in reverse and random thread order: not built (EMU=0)"
        continue
    fi
    for order in reverse random; do
        out=$(CUDA_EMU_ORDER=$order CUDA_EMU_SEED=7 GPT2SAE_CUDA_QUICK=2 "$BUILD/tests/$t" 2>&1); rc=$?
        line=$(grep -E '^[0-9]+ passed, 0 failed' <<<"$out" | tail -n 1)
        check "$t, threads in $order order (emulated): ${line:-$(tail -n 2 <<<"$out" | tr '\n' ' ')}" \
            test "$rc" -eq 0 -a -n "$line"
    done
done
finish
