/*
 * core/utf8.h - the engine's one UTF-8 decoder (and encoder): the tokenizer's
 * pre-tokeniser, the JSON parser and the SVG/XML escaper all read UTF-8
 * through it, so they agree on what is valid.
 *
 *   uint32_t cp;
 *   for (size_t i = 0; i < n;) {
 *       size_t len = utf8_decode(s, n, i, &cp);   // 1..4, or 0: malformed
 *       if (len == 0) return err_set("invalid UTF-8 at byte offset %zu", i);
 *       use(cp);
 *       i += len;
 *   }
 *   size_t bad;
 *   if (utf8_check(text, len, &bad) != 0) ...      // the first malformed byte
 *   char buf[4]; size_t k = utf8_encode(0x20AC, buf);   // "\xE2\x82\xAC", 3
 *   size_t w = utf8_count("p\xC3\xA1linka", 8);          // 7 characters
 *
 * Valid means well-formed as Unicode defines it (Unicode 15, table 3-7):
 *   00..7F | C2..DF 80..BF | E0 A0..BF 80..BF | E1..EC,EE..EF 80..BF 80..BF
 *   | ED 80..9F 80..BF | F0 90..BF 80..BF 80..BF | F1..F3 (80..BF)x3
 *   | F4 80..8F 80..BF 80..BF
 * so overlong forms (C0 AF for '/'), UTF-16 surrogates encoded on their own
 * (ED A0 80 for U+D800), code points above U+10FFFF, stray continuation
 * bytes, F5..FF and sequences cut short are all malformed. U+0000, U+FFFE
 * and U+FFFF are valid characters (callers that do not want them say so).
 */
#ifndef CORE_UTF8_H
#define CORE_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Decode the character at s[i] (i < n): returns its length 1..4 and stores
 * its code point in *cp, or returns 0 (and leaves *cp alone) if the bytes
 * from s[i] are not a well-formed character. Reads only s[i .. n). Inline:
 * the tokenizer calls it for every non-ASCII character. */
static inline size_t utf8_decode(const uint8_t *s, size_t n, size_t i, uint32_t *cp) {
    uint8_t b = s[i];
    if (b < 0x80) {
        *cp = b;
        return 1;
    }
    size_t len;
    uint8_t lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    uint32_t c;
    if (b >= 0xC2 && b <= 0xDF) len = 2, c = b & 0x1F;
    else if (b >= 0xE0 && b <= 0xEF) {
        len = 3, c = b & 0x0F;
        if (b == 0xE0) lo = 0xA0;      /* no overlongs */
        else if (b == 0xED) hi = 0x9F; /* no surrogates */
    } else if (b >= 0xF0 && b <= 0xF4) {
        len = 4, c = b & 0x07;
        if (b == 0xF0) lo = 0x90;      /* no overlongs */
        else if (b == 0xF4) hi = 0x8F; /* nothing above U+10FFFF */
    } else
        return 0;
    if (n - i < len) return 0;
    if (s[i + 1] < lo || s[i + 1] > hi) return 0;
    c = (c << 6) | (s[i + 1] & 0x3F);
    for (size_t k = 2; k < len; k++) {
        if ((s[i + k] & 0xC0) != 0x80) return 0;
        c = (c << 6) | (s[i + k] & 0x3F);
    }
    *cp = c;
    return len;
}

/* 0 if s[0..n) is valid UTF-8; else -1 and *bad_offset = the offset of the
 * first byte that does not start a well-formed character. Sets no error
 * message (the caller knows what the text is). */
int utf8_check(const char *s, size_t n, size_t *bad_offset);

/* The characters in s[0..n) as a repairing reader shows them (viz/svg.c's
 * escaper, which writes U+FFFD for each malformed byte): one for each
 * well-formed character and one for each byte that does not start one. For
 * laying out text (a label's width). */
size_t utf8_count(const char *s, size_t n);

/* Write code point cp (at most U+10FFFF, not a surrogate) as UTF-8 to
 * out[0..4); returns the byte count 1..4, or 0 for a code point that has no
 * encoding (a surrogate or above U+10FFFF), writing nothing. */
size_t utf8_encode(uint32_t cp, char out[4]);

#endif
