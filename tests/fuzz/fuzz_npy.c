/*
 * tests/fuzz/fuzz_npy.c - libFuzzer target: weights/npy.c's parser (npy_parse:
 * preamble, the Python-literal header dict, sizes) on arbitrary bytes. What
 * it accepts must hold exactly numel values, all readable.
 *
 *   make fuzzers && build-fuzz/fuzz_npy -max_total_time=60 tests/fuzz/corpus/npy
 */
#include "weights/npy.h"

#include <stdint.h>

static volatile uint32_t sink; /* keeps the reads from being optimised away */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    Npy a;
    if (npy_parse(&a, "fuzz.npy", data, size) != 0) return 0;
    int64_t numel = 1;
    for (int d = 0; d < a.ndim; d++) numel *= a.shape[d];
    if (numel != a.numel || (size_t)numel * 4 > size) __builtin_trap();
    uint32_t acc = 0;
    for (int64_t k = 0; k < a.numel; k++) acc += (uint32_t)a.i32[k];
    sink = acc;
    npy_free(&a);
    return 0;
}
