/*
 * tokenizer/pretok.h - GPT-2's pre-tokeniser (internal to tokenizer/; bpe.h
 * explains what it is for). It cuts text into the pieces the regular
 * expression
 *     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * would match, one piece per call, without a regex engine:
 *
 *   size_t i = 0, bad;
 *   while (i < n) {
 *       size_t j = pretok_next(s, n, i, 0, &bad);
 *       if (j == 0) return err_set("invalid UTF-8 at byte offset %zu", bad);
 *       use_piece(s + i, j - i);
 *       i = j;
 *   }
 */
#ifndef TOKENIZER_PRETOK_H
#define TOKENIZER_PRETOK_H

#include <stddef.h>
#include <stdint.h>

/* The end (exclusive, > i) of the piece that starts at s[i], i < n. If a
 * malformed UTF-8 sequence is met and bytewise is 0, returns 0 and sets *bad
 * to its offset. With bytewise != 0 each byte of a malformed sequence is one
 * character of the "other" class ([^\s\p{L}\p{N}]). */
size_t pretok_next(const uint8_t *s, size_t n, size_t i, int bytewise, size_t *bad);

#endif
