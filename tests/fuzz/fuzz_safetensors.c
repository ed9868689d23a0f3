/*
 * tests/fuzz/fuzz_safetensors.c - libFuzzer target: weights/safetensors.c's
 * header validation (safetensors_parse) on arbitrary bytes. Whatever it
 * accepts is then used: every tensor's data is read as F32 (F16/BF16
 * converted), so a range that escaped validation shows up as an ASan read
 * past the fuzzer's buffer.
 *
 *   make fuzzers && build-fuzz/fuzz_safetensors -max_total_time=60 tests/fuzz/corpus/safetensors
 */
#include "weights/safetensors.h"

#include <stdint.h>
#include <string.h>

static volatile float sink; /* keeps the reads from being optimised away */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    SafeTensors st;
    if (safetensors_parse(&st, "fuzz.safetensors", data, size) != 0) return 0;
    float acc = 0;
    for (int i = 0; i < st.n; i++) {
        const STTensor *t = &st.tensors[i];
        if (safetensors_find(&st, t->name) == NULL) __builtin_trap();
        if (t->end > st.data_len || t->begin > t->end) __builtin_trap();
        const float *f = safetensors_f32(&st, t);
        if (f)
            for (int64_t k = 0; k < t->numel; k++) acc += f[k];
        /* the raw bytes, whatever the dtype */
        for (size_t b = t->begin; b < t->end; b++) acc += st.data[b];
    }
    for (int m = 0; m < st.n_meta; m++) (void)safetensors_meta(&st, st.meta_keys[m]);
    sink = acc;
    safetensors_close(&st);
    return 0;
}
