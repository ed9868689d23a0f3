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

/* cuda_tune's settings (cuda_core.cu) */
extern int cu_block_size;  /* element-wise kernels: threads per block */
extern int cu_matmul_tile; /* 0 auto, 64, 128 */

static inline unsigned cu_blocks(long n, int per_block) {
    return (unsigned)((n + per_block - 1) / per_block);
}

#endif
