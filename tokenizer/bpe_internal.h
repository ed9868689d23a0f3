/*
 * tokenizer/bpe_internal.h - what bpe_load.c and bpe.c share (the hash
 * function, the two hash tables' layouts, the cache's destructor) and what
 * the tests and fuzz targets call directly (the two merge loops). Not part of
 * the API.
 *
 *   size_t n = word_len;
 *   int32_t sym[n], rank[n]; uint32_t next[n]; uint64_t heap[BPE_MERGE_HEAP_CAP(n)];
 *   size_t m1 = bpe_merge_ref(&bpe, word, n, sym, rank);          // O(n^2)
 *   size_t m2 = bpe_merge_heap(&bpe, word, n, sym, next, heap);   // O(n log n), same ids
 */
#ifndef TOKENIZER_BPE_INTERNAL_H
#define TOKENIZER_BPE_INTERNAL_H

#include "tokenizer/bpe.h"

#include <string.h>

/* Token ids and merge ranks are packed into 16 bits each in merge_tab. */
#define BPE_MAX_VOCAB 65535
#define BPE_MERGE_EMPTY UINT64_MAX

/* A fast 64-bit hash of a short byte string (8 bytes per step). */
static inline uint64_t bpe_hash(const uint8_t *s, size_t n) {
    const uint64_t M = 0x9E3779B97F4A7C15ull;
    uint64_t h = (uint64_t)n * M, v;
    while (n >= 8) {
        memcpy(&v, s, 8);
        h = (h ^ v) * M;
        h ^= h >> 32;
        s += 8, n -= 8;
    }
    if (n) {
        v = 0;
        memcpy(&v, s, n);
        h = (h ^ v) * M;
    }
    h ^= h >> 29;
    h *= 0xBF58476D1CE4E5B9ull;
    h ^= h >> 32;
    return h;
}

/* merge_tab entry: key (left << 16 | right) in the high 32 bits, then the
 * merge's rank (its line in merges.txt) and the merged token's id. */
static inline uint32_t bpe_merge_slot(uint32_t key, uint32_t cap) {
    return (uint32_t)(((uint64_t)key * 0x9E3779B97F4A7C15ull) >> 40) & (cap - 1);
}

/* The rank of merging tokens left and right (and the result's id in *id),
 * or -1 if merges.txt has no such pair. */
static inline int32_t bpe_merge_rank(const BPE *b, int32_t left, int32_t right, int32_t *id) {
    uint32_t key = (uint32_t)left << 16 | (uint32_t)right;
    for (uint32_t s = bpe_merge_slot(key, b->merge_cap);; s = (s + 1) & (b->merge_cap - 1)) {
        uint64_t e = b->merge_tab[s];
        if (e == BPE_MERGE_EMPTY) return -1;
        if ((uint32_t)(e >> 32) == key) {
            *id = (int32_t)(e & 0xFFFF);
            return (int32_t)((e >> 16) & 0xFFFF);
        }
    }
}

/* Merge one pre-tokenised word w[0..n) (n >= 1) into token ids, written to
 * sym[0..m); returns m. The two loops give the same ids for every input; the
 * tests and fuzz targets check it.
 *
 * bpe_merge_ref: the plain reference, O(n^2): scan for the lowest-rank pair,
 * merge it, repeat. sym, rank: (n) scratch. */
size_t bpe_merge_ref(const BPE *b, const uint8_t *w, size_t n, int32_t *sym, int32_t *rank);

/* bpe_merge_heap: the same merges in O(n log n) with a heap of candidate
 * pairs, for long words. sym, next: (n) scratch; heap: (BPE_MERGE_HEAP_CAP(n))
 * scratch. Capacity bound (bpe.c proves it): at most n - 1 pairs are queued
 * at the start and each of the at most n - 1 merges pops one entry and pushes
 * at most two, so the heap never holds more than 2(n - 1) entries. */
size_t bpe_merge_heap(const BPE *b, const uint8_t *w, size_t n, int32_t *sym, uint32_t *next,
                      uint64_t *heap);
#define BPE_MERGE_HEAP_CAP(n) (2 * (size_t)(n))

/* Free the word cache (bpe.c); bpe_free calls it. NULL is a no-op. */
void bpe_cache_free(BPECache *c);

#endif
