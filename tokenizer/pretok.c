/*
 * tokenizer/pretok.c - GPT-2's pre-tokeniser as a hand-written scanner, and
 * the Unicode class lookup it uses. See pretok.h and bpe.h.
 *
 * The pattern's alternatives are tried in order at each position, the first
 * that matches wins, and each is greedy:
 *   1. 's 't 're 've 'm 'll 'd   (lower case ASCII only, exactly these)
 *   2. ' '? letters+    3. ' '? numbers+    4. ' '? others+
 *      (the optional prefix is the ASCII space U+0020 only, never a tab or
 *      U+00A0; "others" are neither letter, number nor white space, so an
 *      apostrophe that does not start a contraction is an "other")
 *   5. \s+(?!\S)  a run of white space not followed by a non-space: the
 *      whole run if it reaches the end of the text, else the run minus its
 *      last character (backtracking gives that one up so the lookahead sees
 *      white space), which then starts the next piece, e.g. " x" via 2.
 *   6. \s+        a single white-space character before a non-space.
 * Every character belongs to exactly one class, so 2-6 reduce to: look at the
 * class of the first character (of the second, after a space) and take the
 * longest run of that class.
 */
#include "tokenizer/pretok.h"
#include "core/utf8.h"
#include "tokenizer/unicode_tables.h"


int unicode_class(uint32_t cp) {
    if (cp < 128) return unicode_ascii_class[cp];
    size_t lo = 0, hi = unicode_n_ranges; /* find the range with lo <= cp <= hi */
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (unicode_ranges[mid].hi < cp) lo = mid + 1;
        else hi = mid;
    }
    if (lo < unicode_n_ranges && unicode_ranges[lo].lo <= cp) return unicode_ranges[lo].cls;
    return UC_OTHER;
}

/* The character at s[i]: its length (0 = malformed and not bytewise) and class. */
static inline size_t char_at(const uint8_t *s, size_t n, size_t i, int bytewise, int *cls) {
    if (s[i] < 0x80) {
        *cls = unicode_ascii_class[s[i]];
        return 1;
    }
    uint32_t cp;
    size_t len = utf8_decode(s, n, i, &cp);
    if (len) {
        *cls = unicode_class(cp);
        return len;
    }
    if (!bytewise) return 0;
    *cls = UC_OTHER; /* one malformed byte = one "other" character */
    return 1;
}

/* Length of a contraction suffix after an apostrophe (s t m d re ve ll), or 0. */
static inline size_t contraction_len(const uint8_t *s, size_t n) {
    if (n >= 1 && (s[0] == 's' || s[0] == 't' || s[0] == 'm' || s[0] == 'd')) return 1;
    if (n >= 2 && ((s[0] == 'r' && s[1] == 'e') || (s[0] == 'v' && s[1] == 'e') ||
                   (s[0] == 'l' && s[1] == 'l')))
        return 2;
    return 0;
}

size_t pretok_next(const uint8_t *s, size_t n, size_t i, int bytewise, size_t *bad) {
    int cls, c2;
    size_t len = char_at(s, n, i, bytewise, &cls);
    if (len == 0) goto malformed_i;
    /* 1. contractions */
    if (s[i] == '\'') {
        size_t k = contraction_len(s + i + 1, n - i - 1);
        if (k) return i + 1 + k;
    }
    size_t j = i + len;
    /* 2-4. an ASCII space may lead a run of letters, numbers or others */
    if (s[i] == ' ' && j < n) {
        size_t l2 = char_at(s, n, j, bytewise, &c2);
        if (l2 == 0) goto malformed_j;
        if (c2 != UC_SPACE) {
            cls = c2;
            j += l2;
        }
    }
    if (cls != UC_SPACE) {
        while (j < n) {
            if (s[j] < 0x80) { /* the common case, inline */
                if (unicode_ascii_class[s[j]] != cls) break;
                j++;
                continue;
            }
            size_t l2 = char_at(s, n, j, bytewise, &c2);
            if (l2 == 0) goto malformed_j;
            if (c2 != cls) break;
            j += l2;
        }
        return j;
    }
    /* 5-6. white space: s[i..j) is its first character */
    size_t last = i; /* start of the run's last character */
    while (j < n) {
        size_t l2 = char_at(s, n, j, bytewise, &c2);
        if (l2 == 0) goto malformed_j;
        if (c2 != UC_SPACE) break;
        last = j;
        j += l2;
    }
    if (j == n) return n;       /* 5: the run reaches the end of the text */
    if (last > i) return last;  /* 5: give the last one to the next piece */
    return j;                   /* 6: one white-space character before a non-space */
malformed_i:
    *bad = i;
    return 0;
malformed_j:
    *bad = j;
    return 0;
}
