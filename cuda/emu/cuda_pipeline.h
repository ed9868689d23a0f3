/*
 * cuda/emu/cuda_pipeline.h - the asynchronous copy primitives (cp.async,
 * <cuda_pipeline.h>) for the CUDA emulator (cuda/emu/cuda_runtime.h).
 *
 *   __pipeline_memcpy_async(&s[i], &g[j], 16);   // queued: s[i..] is NOT written yet
 *   __pipeline_commit();                         // closes this thread's batch of copies
 *   __pipeline_wait_prior(1);                    // every batch but the newest one lands
 *   __syncthreads();                             // then the other threads' copies are visible
 *
 * Each copy is queued on its thread and performed only when a wait covers its
 * batch (__pipeline_wait_prior(n): all batches but the newest n), so a kernel
 * that reads shared memory before waiting reads the 0xff (NaN) fill or the
 * previous tile, and a test fails. Checked at the call, as the device
 * requires: size 4, 8 or 16 bytes, zfill <= size, both pointers aligned to
 * the size, the destination in shared memory, the source's bytes inside one
 * device allocation. Copies never waited for are dropped when the thread exits.
 */
#ifndef CUDA_EMU_CUDA_PIPELINE_H
#define CUDA_EMU_CUDA_PIPELINE_H

#include "cuda_runtime.h"

namespace emu {
void cp_async(const char *file, int line, void *dst, const void *src, size_t size, size_t zfill = 0);
void cp_commit(void);
void cp_wait_prior(size_t n);
} // namespace emu

#define __pipeline_memcpy_async(dst, src, ...) emu::cp_async(__FILE__, __LINE__, dst, src, __VA_ARGS__)
#define __pipeline_commit() emu::cp_commit()
#define __pipeline_wait_prior(n) emu::cp_wait_prior(n)

#endif
