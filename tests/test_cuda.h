/*
 * tests/test_cuda.h - what the CUDA tests (tests/test_cuda*.c) share: the
 * GPU flag, the random stream, EMULATED, 1 when the test is built against
 * the emulator in cuda/emu (tests/test_*_emu, -DGS_CUDA_EMU=1), which runs
 * every kernel on the CPU, so that a test runs only the shapes the emulator
 * can finish; random inputs, and the copies to and from the device.
 *
 *   int main(void) {
 *       test_cuda_start(4242);      // seeds rng, sets gpu, prints the device line
 *       float *x = rand_vec(n, 1.0f), *d_x = dev_from(x, n * sizeof(float));
 *       float *d_y = dev_poisoned(n * sizeof(float));   // NaN until written
 *       ... kernel(d_y, d_x) ...
 *       float *y = host_from(d_y, n);                   // after a sync
 */
#ifndef TESTS_TEST_CUDA_H
#define TESTS_TEST_CUDA_H

#include "core/util.h"
#include "cuda/cuda.h"
#include "tests/test.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#ifdef GS_CUDA_EMU
#define EMULATED 1
#else
#define EMULATED 0
#endif

static int gpu;
static Rng rng;

/* Seed rng, set gpu (a device, or the emulator, is there) and print which. */
static inline void test_cuda_start(uint64_t seed) {
    rng_seed(&rng, seed);
    gpu = cuda_available();
    char desc[256];
    if (gpu && cuda_describe(desc, sizeof desc) == 0) printf("%s: %s\n", EMULATED ? "emulated" : "device", desc);
    else printf("no CUDA device (or a build without CUDA): the GPU checks are skipped\n");
}

/* n floats uniform in [-scale, scale) from rng; malloc'd (the caller frees) */
static inline float *rand_vec(long n, float scale) {
    float *x = xmalloc((size_t)n * sizeof(float));
    for (long i = 0; i < n; i++) x[i] = (2.0f * rng_uniform(&rng) - 1.0f) * scale;
    return x;
}

/* Activation-like rows X (T, d), malloc'd: each token a sum of S of A random
 * directions with positive weights, plus a shared offset and noise. */
static inline float *rand_acts(long T, int d, int A, int S) {
    float *D = xmalloc((size_t)(A + 1) * d * sizeof(float)), *X = xmalloc((size_t)T * d * sizeof(float));
    for (long i = 0; i < (long)(A + 1) * d; i++) D[i] = rng_normal(&rng) / sqrtf((float)d) * 3.0f;
    for (long t = 0; t < T; t++) {
        float *x = X + t * d;
        for (int j = 0; j < d; j++) x[j] = D[(size_t)A * d + j] + 0.1f * rng_normal(&rng);
        for (int s = 0; s < S; s++) {
            const int i = (int)(rng_uniform(&rng) * A) % A;
            const float w = fabsf(rng_normal(&rng)) + 0.5f;
            for (int j = 0; j < d; j++) x[j] += w * D[(size_t)i * d + j];
        }
    }
    free(D);
    return X;
}

/* A fresh device buffer holding the host array h (bytes long); NULL after a
 * failed check when it cannot be made. The caller cuda_free()s it. */
static inline void *dev_from(const void *h, size_t bytes) {
    void *d = NULL;
    if (cuda_malloc(&d, bytes) != 0 || cuda_upload(d, h, bytes) != 0) {
        CHECK(0, "upload of %zu bytes: %s", bytes, err_get());
        cuda_free(d);
        return NULL;
    }
    return d;
}

/* A fresh device buffer of bytes filled with 0xff: every float a NaN, so an
 * element a kernel does not write fails the comparison. NULL after a failed
 * check when it cannot be made. */
static inline void *dev_poisoned(size_t bytes) {
    void *d = NULL;
    if (cuda_malloc(&d, bytes) != 0 || cuda_memset(d, 0xff, bytes) != 0) {
        CHECK(0, "alloc of %zu bytes: %s", bytes, err_get());
        cuda_free(d);
        return NULL;
    }
    return d;
}

/* n floats downloaded from d after a sync that reports kernel faults;
 * malloc'd. On failure a failed check, and all NaN. */
static inline float *host_from(const float *d, long n) {
    float *h = xmalloc((size_t)n * sizeof(float));
    if (cuda_sync() != 0 || cuda_download(h, d, (size_t)n * sizeof(float)) != 0) {
        CHECK(0, "download: %s", err_get());
        for (long i = 0; i < n; i++) h[i] = NAN;
    }
    return h;
}

#endif
