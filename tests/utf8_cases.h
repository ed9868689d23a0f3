/*
 * tests/utf8_cases.h - the known texts for a UTF-8 validity check, each with
 * the offset of its first malformed byte (-1: valid), and one loop that runs
 * a check of utf8_check's contract over them. tests/test_utf8.c runs it on
 * core/utf8's utf8_check, tests/test_bpe.c on the tokenizer's bpe_utf8_check.
 *
 *   utf8_cases_check("utf8_check", utf8_check);   // one check per text
 */
#ifndef TESTS_UTF8_CASES_H
#define TESTS_UTF8_CASES_H

#include "tests/test.h"

#include <stddef.h>

static const struct {
    const char *s;
    size_t len;
    long bad; /* the first malformed byte; -1 = valid */
} utf8_cases[] = {
    {"", 0, -1},
    {"plain ascii", 11, -1},
    {"h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80", 15, -1},
    {"abc\xFF" "def", 7, 3},          /* never a UTF-8 byte */
    {"ab\xC3", 3, 2},                  /* truncated at the end */
    {"\xC0\xAF", 2, 0},                /* overlong '/' */
    {"x\xE0\x80\xAF", 4, 1},           /* overlong, 3 bytes */
    {"\xED\xA0\x80", 3, 0},            /* a surrogate, U+D800 */
    {"ok\xED\xA0\x80", 5, 2},          /* the same after ASCII */
    {"\xF4\x90\x80\x80", 4, 0},        /* U+110000 */
    {"ok\x80", 3, 2},                  /* a lone continuation byte */
    {"\xE2\x82" "x", 3, 0},            /* continuation missing */
    {"\xF0\x9F\x98\x80\xF0\x9F\x98", 7, 4},
    {"\xEF\xBF\xBF\xF4\x8F\xBF\xBF", 7, -1}, /* U+FFFF, U+10FFFF are valid */
    {"nul \0 inside", 12, -1},         /* NUL is a valid character */
};

/* check(s, len, &off): 0 when s[0..len) is valid UTF-8, else non-zero with
 * off the offset of the first malformed byte. One check per case. */
static inline void utf8_cases_check(const char *name, int (*check)(const char *, size_t, size_t *)) {
    for (size_t i = 0; i < sizeof utf8_cases / sizeof utf8_cases[0]; i++) {
        size_t off = 12345;
        long got = check(utf8_cases[i].s, utf8_cases[i].len, &off) == 0 ? -1 : (long)off;
        CHECK(got == utf8_cases[i].bad, "%s case %zu: first bad byte %ld (want %ld)", name, i, got, utf8_cases[i].bad);
    }
}

#endif
