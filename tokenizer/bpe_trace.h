/*
 * tokenizer/bpe_trace.h - watch the tokenizer work, for teaching: the text cut
 * into pre-tokens, then each pre-token's bytes glued together merge by merge.
 * The ids it ends with are bpe_encode's (./run inspect bpe checks, and
 * tests/test_inspect.sh compares them with ./run tokenize).
 *
 *   static void show(void *u, const BpeTraceStep *s) {
 *       if (s->rank < 0) printf("piece of %zu bytes\n", s->piece_len);   // the bytes
 *       else printf("merge rank %d -> %zu tokens\n", s->rank, s->n);       // one merge
 *   }
 *   if (bpe_trace(&bpe, text, len, show, NULL) != 0) return cli_fail();
 *
 * (Implementation: tokenizer/bpe_trace.c, the reference merge loop of
 * bpe_merge_ref in tokenizer/bpe.c with a callback after every merge.)
 */
#ifndef TOKENIZER_BPE_TRACE_H
#define TOKENIZER_BPE_TRACE_H

#include <stddef.h>
#include <stdint.h>

#include "tokenizer/bpe.h"

/* One state of one pre-token's merge loop. Everything is borrowed for the call. */
typedef struct {
    const uint8_t *piece;  /* (piece_len) the pre-token's bytes */
    size_t piece_len;
    size_t offset;         /* its byte offset in the text */
    const int32_t *sym;    /* (n) the tokens so far: one per byte at first */
    size_t n;
    int32_t rank;          /* the merge just made (its line in merges.txt); -1: the start */
    size_t at;             /* the merge's position: sym[at] is the new token (rank >= 0) */
} BpeTraceStep;

typedef void (*BpeTraceFn)(void *user, const BpeTraceStep *step);

/* Cut text[0..len) into pre-tokens (GPT-2's regular expression, pretok.c) and
 * run the reference merge loop on each, calling fn once with the piece's
 * bytes (rank -1) and once after every merge. No special tokens. Returns 0,
 * or -1 with err_set() for invalid UTF-8 (naming the byte offset) or a piece
 * longer than 4096 bytes (this is for reading, not for corpora). */
int bpe_trace(const BPE *bpe, const char *text, size_t len, BpeTraceFn fn, void *user);

#endif
