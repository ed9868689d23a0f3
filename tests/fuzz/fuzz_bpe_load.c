/*
 * tests/fuzz/fuzz_bpe_load.c - libFuzzer target: the vocabulary loader on
 * arbitrary files. The input is "VOCAB\0MERGES" (no NUL: all vocabulary, no
 * merges). bpe_load_buffers must return 0 or -1 with a message, never crash
 * or leak; a vocabulary it accepts must be usable: every token decodes to
 * its bytes and is found again by bpe_token_id, and encoding the merges text
 * (byte-wise) round-trips.
 *
 *   make fuzzers && build-fuzz/fuzz_bpe_load -max_total_time=60 tests/fuzz/corpus/bpe_load
 */
#include "core/util.h"
#include "tokenizer/bpe.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *text = (const char *)data;
    const char *nul = memchr(text, 0, size);
    size_t nv = nul ? (size_t)(nul - text) : size;
    const char *merges = nul ? nul + 1 : "";
    size_t nm = nul ? size - nv - 1 : 0;
    BPE b;
    if (bpe_load_buffers(&b, "vocab", text, nv, "merges", merges, nm) != 0) {
        if (err_get()[0] == 0) __builtin_trap(); /* a failure always says why */
        bpe_free(&b);
        return 0;
    }
    if (b.V < 256 || b.n_merges < 0) __builtin_trap();
    for (int32_t id = 0; id < b.V; id++) {
        size_t n;
        const char *s = bpe_token_bytes(&b, id, &n);
        if (!s || n == 0 || bpe_token_id(&b, s, n) != id) __builtin_trap();
        char vis[64];
        size_t k = bpe_token_visible(&b, id, vis, sizeof vis);
        if (k >= sizeof vis || vis[k] != 0) __builtin_trap();
    }
    BPEIds ids = {0};
    char *out = NULL;
    size_t n = 0;
    if (bpe_encode(&b, merges, nm, BPE_BYTEWISE | BPE_ALLOW_SPECIAL, &ids) != 0 ||
        bpe_decode(&b, ids.ids, ids.n, &out, &n) != 0 || n != nm || memcmp(out, merges, nm) != 0)
        __builtin_trap();
    free(out);
    bpe_ids_free(&ids);
    bpe_free(&b);
    return 0;
}
