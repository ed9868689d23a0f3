/*
 * tests/fuzz/fuzz_bpe_encode.c - libFuzzer target: bpe_encode on arbitrary
 * bytes. The first byte picks the flags (BPE_ALLOW_SPECIAL, BPE_BYTEWISE),
 * the rest is the text. Checked on every input:
 *   - encode returns 0, or -1 only for invalid UTF-8 without BPE_BYTEWISE,
 *     at the offset bpe_utf8_check reports;
 *   - decode(encode(x)) == x;
 *   - without the special flag, the ids equal the reference path: every
 *     pre-tokenised piece through bpe_merge_ref, no cache; and the heap merge
 *     agrees with the reference merge on every piece;
 *   - on valid UTF-8, BPE_BYTEWISE changes nothing.
 * Vocabulary: GPT-2's if the tests find it, else a small built-in one
 * (fuzz_vocab.h).
 *
 *   make fuzzers && build-fuzz/fuzz_bpe_encode -max_total_time=60 tests/fuzz/corpus/bpe_encode
 */
#include "core/util.h"
#include "tests/fuzz/fuzz_vocab.h"
#include "tokenizer/bpe.h"
#include "tokenizer/bpe_internal.h"
#include "tokenizer/pretok.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static BPE bpe;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    fuzz_vocab_load(&bpe, "fuzz_bpe_encode");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    int flags = data[0] & (BPE_ALLOW_SPECIAL | BPE_BYTEWISE);
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    size_t bad = 0;
    int valid = bpe_utf8_check(text, len, &bad) == 0;

    BPEIds ids = {0};
    int rc = bpe_encode(&bpe, text, len, flags, &ids);
    if (rc != 0) {
        /* only invalid UTF-8 without BPE_BYTEWISE may fail, and at the first bad byte */
        char want[64];
        snprintf(want, sizeof want, "byte offset %zu ", bad);
        if (valid || (flags & BPE_BYTEWISE) || !strstr(err_get(), want)) __builtin_trap();
        bpe_ids_free(&ids);
        return 0;
    }
    char *out = NULL;
    size_t n = 0;
    if (bpe_decode(&bpe, ids.ids, ids.n, &out, &n) != 0 || n != len || memcmp(out, text, len) != 0)
        __builtin_trap();
    free(out);

    if (!(flags & BPE_ALLOW_SPECIAL)) {
        /* the reference path: pieces -> bpe_merge_ref, no cache */
        int32_t *s1 = xmalloc(sizeof(int32_t) * (len + 1)), *s2 = xmalloc(sizeof(int32_t) * (len + 1));
        int32_t *rank = xmalloc(sizeof(int32_t) * (len + 1));
        uint32_t *next = xmalloc(sizeof(uint32_t) * (len + 1));
        uint64_t *heap = xmalloc(sizeof(uint64_t) * BPE_MERGE_HEAP_CAP(len + 1));
        size_t i = 0, t = 0;
        while (i < len) {
            size_t j = pretok_next((const uint8_t *)text, len, i, (flags & BPE_BYTEWISE) != 0, &bad);
            if (j <= i || j > len) __builtin_trap();
            size_t m1 = bpe_merge_ref(&bpe, (const uint8_t *)text + i, j - i, s1, rank);
            size_t m2 = bpe_merge_heap(&bpe, (const uint8_t *)text + i, j - i, s2, next, heap);
            if (m1 != m2 || memcmp(s1, s2, m1 * sizeof *s1) != 0) __builtin_trap();
            if (t + m1 > ids.n || (m1 && memcmp(ids.ids + t, s1, m1 * sizeof *s1) != 0)) __builtin_trap();
            t += m1;
            i = j;
        }
        if (t != ids.n) __builtin_trap();
        free(s1), free(s2), free(rank), free(next), free(heap);
    }
    if (valid) { /* BPE_BYTEWISE changes nothing on valid text */
        BPEIds again = {0};
        if (bpe_encode(&bpe, text, len, flags ^ BPE_BYTEWISE, &again) != 0 || again.n != ids.n ||
            (ids.n && memcmp(again.ids, ids.ids, ids.n * sizeof *ids.ids) != 0))
            __builtin_trap();
        bpe_ids_free(&again);
    }
    bpe_ids_free(&ids);
    return 0;
}
