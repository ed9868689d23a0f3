/*
 * tests/fuzz/fuzz_tar.c - libFuzzer target: weights/untar.c's tar parser
 * (tar_find) on arbitrary bytes, the part of the npm fallback that reads a
 * downloaded archive. A member it returns must lie inside the input; every
 * byte of it is read, so an escaped bound shows up as an ASan report.
 *
 *   make fuzzers && build-fuzz/fuzz_tar -max_total_time=60 tests/fuzz/corpus/tar
 */
#include "weights/untar.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const char *names[3] = {"package/vocab.bpe", "package/encoder.json", "a"};
    volatile uint8_t acc = 0;
    for (int i = 0; i < 3; i++) {
        const uint8_t *d;
        size_t n;
        if (tar_find("fuzz.tar", data, size, names[i], &d, &n) != 0) continue;
        if (d < data || n > size || d + n > data + size) __builtin_trap();
        for (size_t k = 0; k < n; k++) acc ^= d[k];
    }
    return 0;
}
