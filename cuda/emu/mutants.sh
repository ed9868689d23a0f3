#!/usr/bin/env bash
# cuda/emu/mutants.sh - proof that the emulated CUDA tests catch the classic
# CUDA mistakes. Each mutant below is applied alone to a scratch copy of the
# sources (the working tree's tracked files), the emulated tests are rebuilt
# (make EMU=1 CUDA=0; g++ only), and the test named for it must fail: a FAIL
# line, or the emulator stopping the run ("cuda-emu: ..."). The unmutated
# tests must pass first. Prints one line per mutant and how it was caught;
# exits non-zero if any mutant survives.
#
#   bash cuda/emu/mutants.sh            # ~2-4 minutes on 2 cores (most of it g++)
#
# Not part of `make test` (it rebuilds the CUDA sources once per mutant).
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$root" && git ls-files -z | xargs -0 tar cf -) | (cd "$work" && tar xf -)
[ -d "$root/build/emu" ] && cp -a "$root/build" "$work/" # reuse the objects (make checks the times)

build() { nice make -C "$work" -j2 EMU=1 CUDA=0 build/tests/test_cuda_emu build/tests/test_cuda_sae_emu >"$work/make.log" 2>&1; }
# run TEST: the quick sets, as on a device under compute-sanitizer
# (threads in the order ORDER: forward unless a mutant says otherwise)
run() { (cd "$work" && CUDA_EMU_ORDER=${ORDER:-forward} GPT2SAE_CUDA_QUICK=2 timeout 300 "build/tests/$1") >"$work/run.log" 2>&1; }

echo "== unmutated"
if ! build; then tail -20 "$work/make.log"; echo "the unmutated build fails"; exit 1; fi
for t in test_cuda_emu test_cuda_sae_emu; do
    if ! run $t; then tail -20 "$work/run.log"; echo "the unmutated $t fails"; exit 1; fi
done
echo "  ok    both emulated tests pass"

caught=0 survived=0
# mutant NAME FILE TEST PERL-SUBSTITUTION (perl -0pe: the whole file is one string)
mutant() {
    local name=$1 file=$2 test=$3 expr=$4 start=$SECONDS
    cp "$root/$file" "$work/$file.orig"
    perl -0pi -e "$expr" "$work/$file"
    if cmp -s "$work/$file" "$work/$file.orig"; then
        echo "  FAIL  $name: the substitution did not apply to $file (update this script)"
        survived=$((survived + 1))
    elif ! build; then
        echo "  FAIL  $name: the mutant does not compile"; tail -5 "$work/make.log"
        survived=$((survived + 1))
    elif run "$test"; then
        echo "  FAIL  $name: SURVIVED ($test passes)"
        survived=$((survived + 1))
    else
        local how
        how=$(grep -m1 -E 'cuda-emu:|FAIL|ERROR: AddressSanitizer' "$work/run.log" | cut -c1-230)
        echo "  ok    $name: caught by $test in $((SECONDS - start)) s: ${how:-exit status non-zero}"
        caught=$((caught + 1))
    fi
    mv "$work/$file.orig" "$work/$file"
    touch "$work/$file"
}

mutant "missing barrier (attention: the K/V tile is read before every thread stored its part)" \
    cuda/cuda_ops.cu test_cuda_emu \
    's/(Vs\[r\]\[c\] = ok [^\n]*\n\s*\}\n)\s*__syncthreads\(\);\n/$1/'
mutant "divergent shuffle (attention: the running sum's warp_sum only in lanes with a valid key)" \
    cuda/cuda_ops.cu test_cuda_emu \
    's/l\[rr\] = l\[rr\] \* corr \+ warp_sum\(p\);/if (valid) l[rr] = l[rr] * corr + warp_sum(p);/'
mutant "off-by-one tile bound (attention: a K/V tile loads row T)" \
    cuda/cuda_ops.cu test_cuda_emu \
    's/bool ok = t < T;/bool ok = t <= T;/'
mutant "wrong shared-memory size (top-k: 4 bytes short of a row)" \
    cuda/cuda_sae.cu test_cuda_emu \
    's/size_t smem = \(size_t\)L \* sizeof\(unsigned\);/size_t smem = (size_t)(L - 1) * sizeof(unsigned);/'
mutant "swapped memcpy direction (cuda_upload copies device to host)" \
    cuda/cuda_core.cu test_cuda_emu \
    's/(CU_TRY\(cudaMemcpy\(d_dst, src, bytes, )cudaMemcpyHostToDevice/$1cudaMemcpyDeviceToHost/'
mutant "off-by-one in the radix walk (top-k: a bin that reaches k exactly is skipped)" \
    cuda/cuda_common.cuh test_cuda_emu \
    's/if \(a \+ hist\[bin\] >= \(unsigned\)need\) break;/if (a + hist[bin] > (unsigned)need) break;/'
mutant "wrong fragment offset (TF32 gemm: each A fragment 8 rows below the last, not 16)" \
    cuda/cuda_matmul.cu test_cuda_emu \
    's/const int m = m0w \+ i \* 16;/const int m = m0w + i * 8;/'
mutant "overlapping shared buffers (BF16 gemm: the bfloat16 B tile starts 8 elements inside the A tile)" \
    cuda/cuda_matmul.cu test_cuda_emu \
    's/\*Bh = Ah \+ L::A_H;/*Bh = Ah + L::A_H - 8;/'
mutant "cp.async waited for one batch too few (TF32 gemm: a k-tile read before its copies land)" \
    cuda/cuda_matmul.cu test_cuda_emu \
    's/__pipeline_wait_prior\(1\);/__pipeline_wait_prior(2);/'
mutant "no zero fill past the edges (TF32 gemm: shared memory outside the matrix keeps the fill or an old tile)" \
    cuda/cuda_matmul.cu test_cuda_emu \
    's/else d\[e\] = 0\.0f;/else (void)0;/'
mutant "K range one short (split_k: every product, split or not, drops its last k)" \
    cuda/cuda_matmul.cu test_cuda_emu \
    's/K = min\(K - kb, kchunk\);/K = min(K - kb, kchunk - 1);/'
mutant "missing barrier before shared memory is reused (column statistics: sh overwritten while read)" \
    cuda/cuda_sae.cu test_cuda_sae_emu \
    's/\s*__syncthreads\(\); \/\* everyone has read sh before it is reused \*\///'
# a barrier whose absence the forward order hides: thread 0 reads the whole
# histogram before the others clear it; in reverse order they clear it first
ORDER=reverse mutant "missing barrier that only another thread order exposes (top-k: hist cleared while thread 0 walks it; CUDA_EMU_ORDER=reverse)" \
    cuda/cuda_common.cuh test_cuda_emu \
    's/\s*__syncthreads\(\); \/\* the new prefix visible; hist free to clear \*\///'

echo
echo "$caught caught, $survived survived"
[ "$survived" -eq 0 ]
