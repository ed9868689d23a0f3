/*
 * tokenizer/bpe_trace.c - bpe_trace (bpe_trace.h): pre-tokens, then the
 * merges of each, reported one by one. The merge loop is bpe_merge_ref's
 * (bpe.c): start from one token per byte; while an adjacent pair is in
 * merges.txt, glue the pair of lowest rank (the leftmost on a tie).
 */
#include "tokenizer/bpe_trace.h"
#include "core/util.h"
#include "tokenizer/bpe_internal.h"
#include "tokenizer/pretok.h"

#include <stdlib.h>
#include <string.h>

#define TRACE_MAX_PIECE 4096

/* The lowest-rank adjacent pair of sym (n): its position, or -1 if none merges. */
static long best_pair(const BPE *b, const int32_t *sym, size_t n, int32_t *rank, int32_t *id) {
    long best = -1;
    int32_t best_rank = INT32_MAX, tmp;
    for (size_t i = 0; i + 1 < n; i++) {
        int32_t r = bpe_merge_rank(b, sym[i], sym[i + 1], &tmp);
        if (r >= 0 && r < best_rank) best = (long)i, best_rank = r, *id = tmp;
    }
    *rank = best_rank;
    return best;
}

int bpe_trace(const BPE *b, const char *text, size_t len, BpeTraceFn fn, void *user) {
    const uint8_t *s = (const uint8_t *)text;
    int32_t sym[TRACE_MAX_PIECE];
    for (size_t i = 0, j; i < len; i = j) {
        size_t bad = 0;
        j = pretok_next(s, len, i, 0, &bad);
        if (j == 0) return err_set("invalid UTF-8 at byte offset %zu", bad);
        size_t n = j - i;
        if (n > TRACE_MAX_PIECE)
            return err_set("the piece at byte offset %zu is %zu bytes long; the trace shows pieces of at most %d "
                           "bytes (use ./run tokenize for long texts)", i, n, TRACE_MAX_PIECE);
        for (size_t q = 0; q < n; q++) sym[q] = b->byte_id[s[i + q]];
        BpeTraceStep st = {s + i, n, i, sym, n, -1, 0};
        fn(user, &st);
        for (;;) {
            int32_t rank, id = 0;
            long at = best_pair(b, sym, n, &rank, &id);
            if (at < 0) break;
            sym[at] = id; /* glue at and at+1, close the gap */
            memmove(sym + at + 1, sym + at + 2, (n - (size_t)at - 2) * sizeof *sym);
            n--;
            st.n = n;
            st.rank = rank;
            st.at = (size_t)at;
            fn(user, &st);
        }
    }
    return 0;
}
