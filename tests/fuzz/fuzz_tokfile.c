/*
 * tests/fuzz/fuzz_tokfile.c - libFuzzer target: data/tokfile.c's reader
 * (tokfile_open: the llm.c header, its count against the size; raw files)
 * and the windows over what it accepts, on arbitrary bytes written to a
 * file. What it accepts must hold exactly n tokens inside the file, and every
 * window must read or fail with a message, never crash.
 *
 *   make fuzzers && build-fuzz/fuzz_tokfile -max_total_time=60 tests/fuzz/corpus/tokfile
 */
#include "core/util.h"
#include "data/data.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static volatile uint32_t sink; /* keeps the reads from being optimised away */
static char path[64];          /* the file each input is written to, removed at exit */

static void remove_file(void) { unlink(path); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!path[0]) {
        snprintf(path, sizeof path, "/tmp/fuzz_tokfile.%ld", (long)getpid());
        atexit(remove_file);
    }
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    if (size) fwrite(data, 1, size, f);
    fclose(f);
    static const DataFormat formats[3] = {DATA_LLMC, DATA_RAW, DATA_AUTO};
    for (int k = 0; k < 3; k++) {
        TokFile tf;
        if (tokfile_open(&tf, path, formats[k]) != 0) continue;
        size_t header = tf.format == DATA_LLMC ? DATA_HEADER_BYTES : 0;
        if (header + 2 * tf.n != size) __builtin_trap();
        tf.vocab = size ? 1 + data[0] * 256 : DATA_VOCAB; /* some files pass the check, some not */
        (void)tokfile_check(&tf);
        int32_t tok[16];
        uint8_t mask[16];
        for (int ctx = 1; ctx <= 16; ctx += 5) {
            DataWindows w;
            if (data_windows_init(&w, &tf, ctx, ctx > 1) != 0) continue;
            uint32_t acc = 0;
            for (size_t i = 0; i < data_windows_count(&w); i++)
                if (data_windows_get(&w, i, tok, mask) == 0)
                    for (int t = 0; t < ctx; t++) acc += (uint32_t)tok[t] + mask[t];
            sink = acc;
        }
        tokfile_close(&tf);
    }
    return 0;
}
