/* core/utf8.c - checking a whole buffer and encoding one code point. The
 * decoder itself is inline in utf8.h. */
#include "core/utf8.h"

int utf8_check(const char *s, size_t n, size_t *bad_offset) {
    const uint8_t *u = (const uint8_t *)s;
    uint32_t cp;
    for (size_t i = 0; i < n;) {
        if (u[i] < 0x80) { /* ASCII: the common case, no call */
            i++;
            continue;
        }
        size_t len = utf8_decode(u, n, i, &cp);
        if (len == 0) {
            *bad_offset = i;
            return -1;
        }
        i += len;
    }
    return 0;
}

size_t utf8_count(const char *s, size_t n) {
    const uint8_t *u = (const uint8_t *)s;
    uint32_t cp;
    size_t count = 0;
    for (size_t i = 0; i < n; count++) {
        size_t len = u[i] < 0x80 ? 1 : utf8_decode(u, n, i, &cp);
        i += len ? len : 1;   /* a malformed byte is one character (U+FFFD) */
    }
    return count;
}

size_t utf8_encode(uint32_t cp, char out[4]) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp >= 0xD800 && cp <= 0xDFFF) return 0;
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    if (cp > 0x10FFFF) return 0;
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}
