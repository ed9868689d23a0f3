/*
 * tests/test_utf8.c - core/utf8: the one UTF-8 decoder. Known cases (each
 * kind of malformed sequence), every code point encoded and decoded back,
 * every 1-, 2- and 3-byte sequence and a sample of 4-byte ones against an
 * independent decoder written from the definition (decode the bits, then
 * reject overlong forms, surrogates and values above U+10FFFF), utf8_check's
 * offsets, and the engine's readers of UTF-8 (JSON strings, the SVG/XML
 * escaper, the tokenizer's check) accepting exactly the same sequences.
 */
#include "core/json.h"
#include "core/utf8.h"
#include "core/util.h"
#include "tests/test.h"
#include "tests/utf8_cases.h"
#include "tokenizer/bpe.h"
#include "viz/svg.h"

#include <stdlib.h>
#include <string.h>

/* The reference: read the length from the lead byte's high bits, gather the
 * payload bits, then apply the rules on the value. Returns the length or 0. */
static size_t ref_decode(const uint8_t *s, size_t n, uint32_t *cp) {
    uint32_t c = s[0], min;
    size_t len;
    if (c < 0x80) len = 1, min = 0;
    else if ((c & 0xE0) == 0xC0) len = 2, min = 0x80, c &= 0x1F;
    else if ((c & 0xF0) == 0xE0) len = 3, min = 0x800, c &= 0x0F;
    else if ((c & 0xF8) == 0xF0) len = 4, min = 0x10000, c &= 0x07;
    else return 0;
    if (n < len) return 0;
    for (size_t k = 1; k < len; k++) {
        if ((s[k] & 0xC0) != 0x80) return 0;
        c = (c << 6) | (s[k] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return 0;
    *cp = c;
    return len;
}

/* utf8_decode and ref_decode agree on s[0..n) (length and code point). */
static int agree(const uint8_t *s, size_t n) {
    uint32_t a = 0xDEAD, b = 0xDEAD;
    size_t la = utf8_decode(s, n, 0, &a), lb = ref_decode(s, n, &b);
    return la == lb && (la == 0 || a == b);
}

static void test_cases(void) {
    static const struct {
        const char *s;
        size_t n, len; /* len 0 = malformed */
        uint32_t cp;
    } c[] = {
        {"A", 1, 1, 0x41},
        {"\0", 1, 1, 0},
        {"\xC3\xA9", 2, 2, 0xE9},
        {"\xE2\x82\xAC", 3, 3, 0x20AC},
        {"\xF0\x9F\x98\x80", 4, 4, 0x1F600},
        {"\xEF\xBF\xBF", 3, 3, 0xFFFF},         /* a noncharacter, but well-formed */
        {"\xF4\x8F\xBF\xBF", 4, 4, 0x10FFFF},   /* the last code point */
        {"\xC0\xAF", 2, 0, 0},                  /* overlong '/' */
        {"\xC1\xBF", 2, 0, 0},                  /* overlong U+007F */
        {"\xE0\x80\xAF", 3, 0, 0},              /* overlong, 3 bytes */
        {"\xE0\x9F\xBF", 3, 0, 0},              /* overlong U+07FF */
        {"\xF0\x8F\xBF\xBF", 4, 0, 0},          /* overlong U+FFFF */
        {"\xED\xA0\x80", 3, 0, 0},              /* U+D800, a lone high surrogate */
        {"\xED\xBF\xBF", 3, 0, 0},              /* U+DFFF */
        {"\xED\x9F\xBF", 3, 3, 0xD7FF},         /* just below the surrogates */
        {"\xF4\x90\x80\x80", 4, 0, 0},          /* U+110000 */
        {"\xF5\x80\x80\x80", 4, 0, 0},          /* lead byte F5 */
        {"\xF8\x88\x80\x80\x80", 5, 0, 0},      /* the old 5-byte form */
        {"\xFF", 1, 0, 0},
        {"\x80", 1, 0, 0},                      /* a stray continuation byte */
        {"\xC3", 1, 0, 0},                      /* cut short */
        {"\xE2\x82", 2, 0, 0},
        {"\xF0\x9F\x98", 3, 0, 0},
        {"\xE2\x28\xA1", 3, 0, 0},              /* second byte not a continuation */
        {"\xF0\x9F\x28\x80", 4, 0, 0},          /* third byte not a continuation */
    };
    int ok = 0, n = (int)(sizeof c / sizeof c[0]);
    for (int k = 0; k < n; k++) {
        uint32_t cp = 0xDEAD;
        size_t len = utf8_decode((const uint8_t *)c[k].s, c[k].n, 0, &cp);
        if (len == c[k].len && (len == 0 ? cp == 0xDEAD : cp == c[k].cp)) ok++;
        else printf("    case %d: length %zu, U+%04X\n", k, len, cp);
    }
    CHECK(ok == n, "utf8_decode: %d of %d known cases (overlong, surrogates, above U+10FFFF, cut short, stray bytes)", ok, n);
    /* reads no byte past n: the cut-short cases come from a longer valid character */
    const uint8_t euro[3] = {0xE2, 0x82, 0xAC};
    uint32_t cp;
    CHECK(utf8_decode(euro, 2, 0, &cp) == 0 && utf8_decode(euro, 3, 0, &cp) == 3 && utf8_decode(euro, 3, 1, &cp) == 0,
          "a character cut by n is malformed; decoding from its middle is malformed");
}

static void test_roundtrip(void) {
    long bad = 0, none = 0;
    for (uint32_t cp = 0; cp <= 0x10FFFF + 0x100; cp++) {
        char buf[4];
        size_t len = utf8_encode(cp, buf);
        if (len == 0) {
            none++;
            if (!(cp >= 0xD800 && cp <= 0xDFFF) && cp <= 0x10FFFF) bad++;
            continue;
        }
        uint32_t back = 0;
        size_t want = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
        if (len != want || utf8_decode((const uint8_t *)buf, len, 0, &back) != len || back != cp) bad++;
    }
    CHECK(bad == 0 && none == 0x800 + 0x100,
          "utf8_encode then utf8_decode: every code point U+0000..U+10FFFF back, shortest form; "
          "surrogates and above U+10FFFF have none (%ld bad)", bad);
}

static void test_exhaustive(void) {
    uint8_t s[4];
    long bad = 0, tried = 0;
    for (int a = 0; a < 256; a++) {
        s[0] = (uint8_t)a;
        bad += !agree(s, 1), tried++;
        for (int b = 0; b < 256; b++) {
            s[1] = (uint8_t)b;
            bad += !agree(s, 2), tried++;
            for (int c = 0; c < 256; c++) {
                s[2] = (uint8_t)c;
                bad += !agree(s, 3), tried++;
            }
        }
    }
    CHECK(bad == 0, "every 1-, 2- and 3-byte sequence (%ld): utf8_decode == the reference decoder (%ld differ)", tried, bad);
    /* 4 bytes: every lead byte F0..FF with every second byte, the third and
     * fourth from the edges of each range and a few random ones */
    static const uint8_t edge[] = {0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xFF};
    Rng r;
    rng_seed(&r, 8);
    bad = tried = 0;
    for (int a = 0xF0; a < 256; a++)
        for (int b = 0; b < 256; b++)
            for (size_t c = 0; c < sizeof edge + 4; c++)
                for (size_t d = 0; d < sizeof edge + 4; d++) {
                    s[0] = (uint8_t)a, s[1] = (uint8_t)b;
                    s[2] = c < sizeof edge ? edge[c] : (uint8_t)rng_u64(&r);
                    s[3] = d < sizeof edge ? edge[d] : (uint8_t)rng_u64(&r);
                    bad += !agree(s, 4), tried++;
                }
    CHECK(bad == 0, "4-byte sequences, leads F0..FF (%ld): utf8_decode == the reference decoder (%ld differ)", tried, bad);
}

static void test_check(void) {
    utf8_cases_check("utf8_check", utf8_check);
    /* random texts: utf8_check agrees with walking the reference decoder */
    Rng r;
    rng_seed(&r, 9);
    int same = 0, runs = 2000;
    for (int t = 0; t < runs; t++) {
        uint8_t buf[64];
        size_t len = rng_u64(&r) % sizeof buf;
        for (size_t i = 0; i < len; i++) buf[i] = (uint8_t)(rng_u64(&r) % 3 ? 0x80 + rng_u64(&r) % 128 : rng_u64(&r) % 128);
        long want = -1;
        uint32_t cp;
        for (size_t i = 0; i < len;) {
            size_t l = ref_decode(buf + i, len - i, &cp);
            if (!l) { want = (long)i; break; }
            i += l;
        }
        size_t off = 0;
        long got = utf8_check((const char *)buf, len, &off) == 0 ? -1 : (long)off;
        same += got == want;
    }
    CHECK(same == runs, "utf8_check == the reference on %d random byte strings (%d agree)", runs, same);
}

/* The readers of UTF-8 agree with utf8_decode on every 2-byte sequence that
 * starts with a non-ASCII byte: a JSON string holding it parses iff it is
 * valid; the XML escaper keeps it as it is iff it is valid (else U+FFFD);
 * the tokenizer's check accepts it iff it is valid. */
static void test_users_agree(void) {
    long bad_json = 0, bad_xml = 0, bad_bpe = 0, n = 0;
    for (int a = 0x80; a < 256; a++)
        for (int b = 0; b < 256; b++, n++) {
            uint8_t s[2] = {(uint8_t)a, (uint8_t)b};
            uint32_t cp;
            int valid = utf8_decode(s, 2, 0, &cp) == 2;
            char q[4] = {'"', (char)a, (char)b, '"'};
            JSON j;
            int parsed = json_parse(&j, q, 4) == 0;
            if (parsed) json_free(&j);
            bad_json += parsed != valid;
            char *e = xml_escape((const char *)s, 2);
            bad_xml += (strlen(e) == 2 && memcmp(e, s, 2) == 0) != valid;
            free(e);
            size_t off;
            bad_bpe += (bpe_utf8_check((const char *)s, 2, &off) == 0) != valid;
        }
    CHECK(bad_json == 0 && bad_xml == 0 && bad_bpe == 0,
          "JSON strings, the XML escaper and bpe_utf8_check accept exactly the valid 2-byte sequences "
          "(%ld tried; %ld, %ld, %ld differ)", n, bad_json, bad_xml, bad_bpe);
    /* and the same on the known malformed 3- and 4-byte forms */
    static const char *malformed[] = {"\xE0\x80\xAF", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\xF0\x8F\xBF\xBF", "\xE2\x82"};
    int agree_all = 1;
    for (size_t k = 0; k < sizeof malformed / sizeof malformed[0]; k++) {
        size_t len = strlen(malformed[k]);
        char q[8];
        q[0] = '"';
        memcpy(q + 1, malformed[k], len);
        q[len + 1] = '"';
        JSON j;
        if (json_parse(&j, q, len + 2) == 0) json_free(&j), agree_all = 0;
        char *e = xml_escape(malformed[k], (long)len);
        if (!strstr(e, "\xEF\xBF\xBD")) agree_all = 0;
        free(e);
    }
    CHECK(agree_all, "overlong, surrogate, above-U+10FFFF and cut-short forms: JSON refuses them, the XML escaper replaces them");
}

/* utf8_count against the escaper's repair: as many characters as the
 * repaired text has code points. */
static void test_count(void) {
    static const struct { const char *s; size_t n, want; } c[] = {
        {"", 0, 0},
        {"palinka", 7, 7},
        {"p\xC3\xA1linka", 8, 7},
        {"\xE2\x82\xAC\xF0\x9F\x8D\x90", 7, 2},   /* a 3-byte and a 4-byte character */
        {"\x80\x80x", 3, 3},                       /* stray continuation bytes: one each */
        {"\xC0\xAF", 2, 2},                        /* an overlong '/': two malformed bytes */
        {"\xE2\x82", 2, 2},                        /* cut short */
        {"a\x00b", 3, 3},
    };
    int ok = 1;
    for (size_t k = 0; k < sizeof c / sizeof c[0]; k++) {
        size_t got = utf8_count(c[k].s, c[k].n);
        char *e = xml_escape(c[k].s, (long)c[k].n);   /* U+FFFD per malformed byte */
        size_t repaired = 0;
        for (const unsigned char *p = (const unsigned char *)e; *p; p++) repaired += (*p & 0xC0) != 0x80;
        free(e);
        if (got != c[k].want || repaired != got) {
            printf("    utf8_count(case %zu) = %zu, want %zu (the escaper shows %zu)\n", k, got, c[k].want, repaired);
            ok = 0;
        }
    }
    CHECK(ok, "utf8_count: characters, a malformed byte counting as one (as the XML escaper repairs it)");
}

int main(void) {
    test_count();
    test_cases();
    test_roundtrip();
    test_exhaustive();
    test_check();
    test_users_agree();
    return test_finish();
}
