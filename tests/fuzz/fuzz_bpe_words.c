/*
 * tests/fuzz/fuzz_bpe_words.c - libFuzzer target: long single words, the
 * input that overflowed the merge heap (one pre-token of 256 * 2^k bytes).
 * A short input describes a long word, so the fuzzer reaches lengths far
 * beyond its -max_len:
 *   byte 0       length mode: even = 256 * 2^k + d (k = byte 1 % 6, d = byte 2
 *                as a signed value % 5, i.e. -4..4), odd = any length
 *                1 + (byte 1 << 8 | byte 2) % 9000
 *   bytes 3..6   the seed of the random draw
 *   bytes 7..    the alphabet: its UTF-8 characters (a lead byte and its
 *                continuation bytes; at most 64), drawn at random until the
 *                word has its length (the last one may be cut); none: digits
 * Checked on every input: the heap merge (its heap allocated with exactly
 * BPE_MERGE_HEAP_CAP(n) entries, so ASan sees any write past it) equals the
 * reference merge (up to REF_MAX bytes; the reference is O(n^2), and longer
 * words are checked to spell the word with no mergeable neighbours left);
 * bpe_encode of the word (byte-wise: any bytes) equals its pre-tokenised
 * pieces through the merge and decodes back to the word.
 * Vocabulary: GPT-2's if the tests find it, else a small built-in one
 * (fuzz_vocab.h).
 *
 *   make fuzzers && build-fuzz/fuzz_bpe_words -max_total_time=60 tests/fuzz/corpus/bpe_words
 */
#include "core/util.h"
#include "tests/fuzz/fuzz_vocab.h"
#include "tokenizer/bpe.h"
#include "tokenizer/bpe_internal.h"
#include "tokenizer/pretok.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CHARS 64
#define REF_MAX 4100 /* up to 256 * 2^4 + 4 */

static BPE bpe;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    fuzz_vocab_load(&bpe, "fuzz_bpe_words");
    return 0;
}

/* The word's length from bytes 0..2. */
static size_t word_length(const uint8_t *d) {
    if (d[0] & 1) return 1 + (((size_t)d[1] << 8) | d[2]) % 9000;
    int delta = (int)(int8_t)d[2] % 5;
    return (size_t)((256 << (d[1] % 6)) + delta);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 7) return 0;
    size_t n = word_length(data);
    Rng r;
    rng_seed(&r, (uint64_t)data[3] | (uint64_t)data[4] << 8 | (uint64_t)data[5] << 16 |
                     (uint64_t)data[6] << 24);
    /* the alphabet: characters of bytes 7.. */
    const uint8_t *chr[MAX_CHARS];
    size_t chr_len[MAX_CHARS], k = 0;
    for (size_t i = 7; i < size && k < MAX_CHARS;) {
        size_t j = i + 1;
        while (j < size && j - i < 4 && (data[j] & 0xC0) == 0x80) j++;
        chr[k] = data + i, chr_len[k++] = j - i;
        i = j;
    }
    static const uint8_t digits[] = "0123456789";
    if (k == 0)
        for (; k < 10; k++) chr[k] = digits + k, chr_len[k] = 1;
    uint8_t *w = xmalloc(n);
    for (size_t i = 0; i < n;) {
        size_t c = rng_u64(&r) % k;
        for (size_t j = 0; j < chr_len[c] && i < n; j++) w[i++] = chr[c][j];
    }

    /* the heap merge, in a heap of exactly its proven capacity, == the reference */
    int32_t *s1 = xmalloc(sizeof(int32_t) * n), *s2 = xmalloc(sizeof(int32_t) * n);
    int32_t *rank = xmalloc(sizeof(int32_t) * n);
    uint32_t *next = xmalloc(sizeof(uint32_t) * n);
    uint64_t *heap = xmalloc(sizeof(uint64_t) * BPE_MERGE_HEAP_CAP(n));
    size_t m2 = bpe_merge_heap(&bpe, w, n, s2, next, heap);
    if (n <= REF_MAX) {
        size_t m1 = bpe_merge_ref(&bpe, w, n, s1, rank);
        if (m1 != m2 || memcmp(s1, s2, m1 * sizeof *s1) != 0) __builtin_trap();
    } else { /* the tokens spell the word and no neighbours can be merged */
        size_t off = 0, len;
        int32_t id;
        for (size_t t = 0; t < m2; t++) {
            const char *tok = bpe_token_bytes(&bpe, s2[t], &len);
            if (!tok || off + len > n || memcmp(tok, w + off, len) != 0) __builtin_trap();
            if (t + 1 < m2 && bpe_merge_rank(&bpe, s2[t], s2[t + 1], &id) >= 0) __builtin_trap();
            off += len;
        }
        if (off != n) __builtin_trap();
    }

    /* the engine's path (pre-tokeniser, cache, its own scratch) == piece by piece */
    BPEIds ids = {0};
    if (bpe_encode(&bpe, (const char *)w, n, BPE_BYTEWISE, &ids) != 0) __builtin_trap();
    size_t i = 0, t = 0, bad;
    while (i < n) {
        size_t j = pretok_next(w, n, i, 1, &bad);
        if (j <= i || j > n) __builtin_trap();
        size_t m = bpe_merge_heap(&bpe, w + i, j - i, s2, next, heap);
        if (t + m > ids.n || memcmp(ids.ids + t, s2, m * sizeof *s2) != 0) __builtin_trap();
        t += m;
        i = j;
    }
    if (t != ids.n) __builtin_trap();
    char *out = NULL;
    size_t len = 0;
    if (bpe_decode(&bpe, ids.ids, ids.n, &out, &len) != 0 || len != n || memcmp(out, w, n) != 0)
        __builtin_trap();
    free(out);
    bpe_ids_free(&ids);
    free(s1), free(s2), free(rank), free(next), free(heap), free(w);
    return 0;
}
