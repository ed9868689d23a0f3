/*
 * tests/test_cuda.h - what the CUDA tests (tests/test_cuda.c,
 * tests/test_cuda_sae.c) share: the GPU flag, the random stream, and
 * EMULATED, 1 when the test is built against the emulator in cuda/emu
 * (tests/test_*_emu, -DGS_CUDA_EMU=1), which runs every kernel on the CPU,
 * so that a test runs only the shapes the emulator can finish.
 *
 *   int main(void) {
 *       test_cuda_start(4242);      // seeds rng, sets gpu, prints the device line
 *       if (gpu) ...
 */
#ifndef TESTS_TEST_CUDA_H
#define TESTS_TEST_CUDA_H

#include "core/util.h"
#include "cuda/cuda.h"

#include <stdint.h>
#include <stdio.h>

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

#endif
