/*
 * cuda/cuda_common.cuh - what every .cu file of cuda/ shares: the C headers
 * with C linkage, and the error-checking idiom.
 *
 *   CU_TRY(cudaMalloc(&p, n));           // on failure: err_set naming this function, return -1
 *   kernel<<<grid, block>>>(...);
 *   CU_LAUNCHED();                       // launch-configuration errors, same way
 *
 * Asynchronous faults inside a kernel surface at the next synchronizing call
 * (cuda_sync, cuda_download), which reports them the same way.
 */
#ifndef CUDA_CUDA_COMMON_CUH
#define CUDA_CUDA_COMMON_CUH

#include <cuda_runtime.h>

extern "C" {
#include "core/util.h"
#include "gpt2/gpt2.h"
#include "gpt2/model.h"
#include "sae/sae.h"
}
#include "cuda/cuda.h"

#define CU_TRY(call)                                                                        \
    do {                                                                                    \
        cudaError_t e_ = (call);                                                            \
        if (e_ != cudaSuccess)                                                              \
            return err_set("%s: %s: %s (%s)", __func__, #call, cudaGetErrorString(e_),      \
                           cudaGetErrorName(e_));                                           \
    } while (0)

#define CU_LAUNCHED()                                                                       \
    do {                                                                                    \
        cudaError_t e_ = cudaGetLastError();                                                \
        if (e_ != cudaSuccess)                                                              \
            return err_set("%s: kernel launch failed: %s (%s)", __func__,                   \
                           cudaGetErrorString(e_), cudaGetErrorName(e_));                   \
    } while (0)

/* Host-side argument check: a caller's bug or a bad size, reported, not asserted,
 * because sizes come from checkpoints and options. */
#define CU_REQUIRE(cond, ...)                                                               \
    do {                                                                                    \
        if (!(cond)) {                                                                      \
            err_set(__VA_ARGS__);                                                           \
            return err_prefix("%s", __func__);                                              \
        }                                                                                   \
    } while (0)

/* Device buffer allocation in a constructor: on failure, goto the caller's
 * `fail:` label, which frees what was made (cuda_free(NULL) is a no-op). */
#define CU_ALLOC(ptr, bytes)                                                                \
    do {                                                                                    \
        if (cuda_malloc((void **)&(ptr), (bytes)) != 0) goto fail;                          \
    } while (0)

/* cuda_tune's settings (cuda_core.cu) */
extern int cu_block_size;  /* element-wise kernels: threads per block */
extern int cu_matmul_tile; /* 0 auto, 64, 128 */

static inline unsigned cu_blocks(long n, int per_block) {
    return (unsigned)((n + per_block - 1) / per_block);
}

/* Blocks of 256 threads for a grid-stride loop over n elements: enough for
 * one element a thread, at least 1, at most 8192. */
static inline unsigned cu_grid(long n) {
    long b = (n + 255) / 256;
    return (unsigned)(b > 8192 ? 8192 : (b < 1 ? 1 : b));
}

#define FULL_MASK 0xffffffffu

/* v summed over the 32 lanes of a warp, to every lane (butterfly). */
__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(FULL_MASK, v, o);
    return v;
}

/* ---- radix select (cuda_sae.cu's top-k mask, cuda_arch.cu's TopK rows) ----
 * The need-th largest of a set of unsigned keys, 8 bits per pass from the
 * top: count the keys that share the prefix found so far, per next byte
 * (hist: 256 bins); walk the bins from the top until need is reached; that
 * bin extends the prefix. After 4 passes the prefix is the need-th largest
 * key itself, duplicates counted. */

/* One walk: the bin where the running count from the top reaches need;
 * *above = the count in the bins above it. (Bin 0 at the latest: the caller
 * keeps need <= the total.) */
__host__ __device__ static inline unsigned radix_bin(const unsigned *hist, int need, unsigned *above) {
    unsigned bin = 255u, a = 0u;
    for (; bin > 0u; bin--) {
        if (a + hist[bin] >= (unsigned)need) break;
        a += hist[bin];
    }
    *above = a;
    return bin;
}

/* The whole select, block-wide with 256 threads (one bin each) over entries
 * j < n, where key(j, &k) says whether entry j takes part and sets its key.
 * *s_prefix = 0 and *s_need (1 <= need <= the number taking part) are set by
 * one thread before the call; the first barrier inside publishes them.
 * Returns the need-th largest key, to every thread; *s_need then says how
 * many of the keys equal to it are among the need largest. */
template <class Key>
__device__ unsigned block_radix_select(unsigned *hist, unsigned *s_prefix, int *s_need, int n, Key key) {
    const int tid = threadIdx.x;
    unsigned mask = 0u;
    for (int shift = 24; shift >= 0; shift -= 8) {
        hist[tid] = 0u;
        __syncthreads();
        const unsigned prefix = *s_prefix;
        for (int j = tid; j < n; j += 256) {
            unsigned k;
            if (key(j, &k) && (k & mask) == prefix) atomicAdd(&hist[(k >> shift) & 255u], 1u);
        }
        __syncthreads(); /* hist complete; every thread has read the prefix */
        if (tid == 0) {
            unsigned above;
            *s_prefix = prefix | (radix_bin(hist, *s_need, &above) << shift);
            *s_need -= (int)above;
        }
        mask |= 255u << shift;
        __syncthreads(); /* the new prefix visible; hist free to clear */
    }
    return *s_prefix;
}

#endif
