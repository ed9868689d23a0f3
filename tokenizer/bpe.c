/*
 * tokenizer/bpe.c - encoding and decoding with a loaded vocabulary: the merge
 * loop, the word cache, bpe_encode/bpe_decode. bpe.h explains the method;
 * bpe_load.c reads the files.
 *
 * The hot path, per piece of text: pretok_next() finds the piece, the word
 * cache maps its bytes to ids (a hash and a compare), the ids are copied out.
 * Only a piece not seen before runs the merge loop. Nothing is allocated per
 * token: the cache has a fixed size and is emptied when full, the output and
 * the merge scratch arrays grow geometrically and are reused.
 */
#include "core/utf8.h"
#include "core/util.h"
#include "tokenizer/bpe_internal.h"
#include "tokenizer/pretok.h"
#include "tokenizer/unicode_tables.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/* ---- the merge loop ------------------------------------------------------ */

/* Reference merge (declared in bpe_internal.h): start from one token per
 * byte; while some adjacent pair is in merges.txt, merge the pair with the
 * lowest rank (the leftmost on a tie). O(n^2) for a word of n bytes, which is
 * what short words need. w: (n) bytes; sym: (n) scratch, receives the ids;
 * rank: (n) scratch. Returns the number of ids. */
size_t bpe_merge_ref(const BPE *b, const uint8_t *w, size_t n, int32_t *sym, int32_t *rank) {
    int32_t id = 0;
    for (size_t i = 0; i < n; i++) sym[i] = b->byte_id[w[i]];
    /* rank[i]: rank of the pair (sym[i], sym[i+1]), or INT32_MAX if none */
    for (size_t i = 0; i + 1 < n; i++) {
        int32_t r = bpe_merge_rank(b, sym[i], sym[i + 1], &id);
        rank[i] = r < 0 ? INT32_MAX : r;
    }
    while (n > 1) {
        size_t best = 0;
        for (size_t i = 1; i + 1 < n; i++)
            if (rank[i] < rank[best]) best = i;
        if (rank[best] == INT32_MAX) break;
        bpe_merge_rank(b, sym[best], sym[best + 1], &id);
        sym[best] = id; /* glue best and best+1, close the gap */
        memmove(sym + best + 1, sym + best + 2, (n - best - 2) * sizeof *sym);
        memmove(rank + best + 1, rank + best + 2, (n - best - 2) * sizeof *rank);
        n--;
        if (best > 0) { /* the pairs with the new token's neighbours */
            int32_t r = bpe_merge_rank(b, sym[best - 1], sym[best], &id);
            rank[best - 1] = r < 0 ? INT32_MAX : r;
        }
        if (best + 1 < n) {
            int32_t r = bpe_merge_rank(b, sym[best], sym[best + 1], &id);
            rank[best] = r < 0 ? INT32_MAX : r;
        }
    }
    return n;
}

/* A binary min-heap of candidate merges, each (rank << 40 | position of the
 * left token): the lowest rank pops first, the leftmost among equal ranks.
 * cap is the heap's capacity; bpe_merge_heap never exceeds it (see there). */
static void heap_push(uint64_t *h, size_t *n, size_t cap, uint64_t v) {
    assert(*n < cap); /* a broken bound is a bug, never a user error */
    (void)cap;
    size_t i = (*n)++;
    while (i > 0 && h[(i - 1) / 2] > v) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = v;
}

static uint64_t heap_pop(uint64_t *h, size_t *n) {
    uint64_t top = h[0], v = h[--*n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && h[c + 1] < h[c]) c++;
        if (h[c] >= v) break;
        h[i] = h[c];
        i = c;
    }
    h[i] = v;
    return top;
}

/* The same merges as bpe_merge_ref in O(n log n), for long words: the tokens
 * form a linked list, candidate pairs wait in a heap, and a popped pair is
 * skipped if it went stale (its left token was merged away, or its right
 * neighbour changed so that the pair's rank is no longer the one queued).
 * Merging never creates a pair of lower rank than the one just merged (a
 * token's rank is above its parts'), so popping in heap order is the
 * reference's order. sym, next: (n) scratch; heap: (BPE_MERGE_HEAP_CAP(n)).
 *
 * The heap's capacity. Stale entries are not removed, so the heap can hold
 * more entries than there are pairs. Count them: at most n - 1 are pushed
 * before the loop. Each pass of the loop pops one entry; a stale one is
 * dropped (the size falls by one), a live one is merged and pushes at most
 * two new pairs (its new right and left pairs: the size grows by at most one,
 * and the push comes after the pop). A merge joins two tokens into one, so
 * there are at most n - 1 of them. Hence the size never exceeds
 * (n - 1) + (n - 1) = 2(n - 1) < BPE_MERGE_HEAP_CAP(n) = 2n. (A heap of n
 * entries, the old size, overflowed on words whose merges leave many stale
 * pairs, e.g. 256 random digits.) */
size_t bpe_merge_heap(const BPE *b, const uint8_t *w, size_t n, int32_t *sym, uint32_t *next,
                      uint64_t *heap) {
    const uint64_t POS = (1ull << 40) - 1;
    const size_t cap = BPE_MERGE_HEAP_CAP(n);
    size_t nh = 0;
    int32_t id;
    for (size_t i = 0; i < n; i++) {
        sym[i] = b->byte_id[w[i]];
        next[i] = (uint32_t)(i + 1);
    }
    for (size_t i = 0; i + 1 < n; i++) {
        int32_t r = bpe_merge_rank(b, sym[i], sym[i + 1], &id);
        if (r >= 0) heap_push(heap, &nh, cap, (uint64_t)r << 40 | i);
    }
    /* prev is not stored: after a merge at i, i's left neighbour is found by
     * walking back over the dead slots its token absorbed, at most the
     * longest token's length */
    while (nh > 0) {
        uint64_t e = heap_pop(heap, &nh);
        size_t i = (size_t)(e & POS);
        int32_t r = (int32_t)(e >> 40);
        if (sym[i] < 0 || next[i] >= n) continue;
        size_t j = next[i];
        if (bpe_merge_rank(b, sym[i], sym[j], &id) != r) continue; /* stale */
        sym[i] = id;
        sym[j] = -1;
        next[i] = next[j];
        if (next[i] < n) {
            int32_t r2 = bpe_merge_rank(b, sym[i], sym[next[i]], &id);
            if (r2 >= 0) heap_push(heap, &nh, cap, (uint64_t)r2 << 40 | i);
        }
        if (i > 0) {
            size_t p = i - 1;
            while (sym[p] < 0) p--; /* slot 0 is never dead */
            int32_t r2 = bpe_merge_rank(b, sym[p], sym[i], &id);
            if (r2 >= 0) heap_push(heap, &nh, cap, (uint64_t)r2 << 40 | p);
        }
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i = next[i]) sym[m++] = sym[i];
    return m;
}

/* ---- the word cache -------------------------------------------------------- */

/* Open addressing over (1 << 16) slots. A slot holds a word of up to 8 bytes
 * itself and a single id itself (most English words: " the", " because"), so
 * a lookup usually touches one cache line; longer words and multi-token
 * results live in two arenas. When half the slots are used the whole cache
 * is emptied (simple, and real text's common words come straight back). */
#define CACHE_SLOTS (1u << 16)
#define CACHE_MAX_WORD 128   /* longer pieces are not cached */
#define MERGE_REF_MAX 48     /* longer pieces use the heap merge */

typedef struct {
    uint64_t tag;      /* key_len <= 8: the word's bytes, zero-padded; else its hash */
    uint32_t key_off;  /* key_len > 8: the word's bytes are keys[key_off ..] */
    uint32_t val;      /* n_ids == 1: the id; else the ids are ids[val ..] */
    uint16_t key_len;  /* 0 = empty slot */
    uint16_t n_ids;
} CacheSlot;

struct BPECache {
    CacheSlot *slots;     /* (CACHE_SLOTS) */
    uint32_t used;
    uint8_t *keys;        /* (keys_cap) */
    uint32_t keys_len, keys_cap;
    int32_t *ids;         /* (ids_cap) */
    uint32_t ids_len, ids_cap;
    /* scratch for the merge loops, grown to the longest word seen */
    size_t scratch_n;
    int32_t *sym;         /* (scratch_n) */
    int32_t rank[MERGE_REF_MAX]; /* the reference merge's, for short words only */
    uint32_t *next;       /* (scratch_n) */
    uint64_t *heap;       /* (BPE_MERGE_HEAP_CAP(scratch_n)) */
};

/* (declared in bpe_internal.h) */
void bpe_cache_free(BPECache *c) {
    if (!c) return;
    free(c->slots);
    free(c->keys);
    free(c->ids);
    free(c->sym);
    free(c->next);
    free(c->heap);
    free(c);
}

static BPECache *cache_new(void) {
    BPECache *c = xcalloc(1, sizeof *c);
    c->slots = xcalloc(CACHE_SLOTS, sizeof *c->slots);
    c->keys_cap = 1 << 20;
    c->keys = xmalloc(c->keys_cap);
    c->ids_cap = 1 << 18;
    c->ids = xmalloc(sizeof(int32_t) * c->ids_cap);
    return c;
}

static void cache_scratch(BPECache *c, size_t n) {
    if (n <= c->scratch_n) return;
    size_t m = c->scratch_n ? c->scratch_n : 256;
    while (m < n) m *= 2;
    c->sym = xrealloc(c->sym, sizeof(int32_t) * m);
    c->next = xrealloc(c->next, sizeof(uint32_t) * m);
    c->heap = xrealloc(c->heap, sizeof(uint64_t) * BPE_MERGE_HEAP_CAP(m));
    c->scratch_n = m;
}

static inline void ids_reserve(BPEIds *a, size_t extra) {
    if (a->n + extra <= a->cap) return;
    size_t cap = a->cap ? a->cap : 1024;
    while (cap < a->n + extra) cap *= 2;
    a->ids = xrealloc(a->ids, sizeof(int32_t) * cap);
    a->cap = cap;
}

void bpe_ids_push(BPEIds *a, int32_t id) {
    ids_reserve(a, 1);
    a->ids[a->n++] = id;
}

void bpe_ids_free(BPEIds *a) {
    free(a->ids);
    memset(a, 0, sizeof *a);
}

int bpe_ids_read(const char *path, BPEIds *ids) {
    char *buf;
    size_t len;
    if (file_read_all(path, &buf, &len) != 0) return -1;
    char *p = buf;
    long count = 0;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
        if (!*p) break;
        char *end = p;
        while (*end && *end != ' ' && *end != '\t' && *end != '\n' && *end != '\r') end++;
        char save = *end;
        *end = 0;
        long v;
        if (parse_int(p, &v) != 0 || v < 0 || v > 2147483647L) {
            err_set("%s: token %ld ('%.20s') is not a non-negative integer id", path, count, p);
            free(buf);
            return -1;
        }
        bpe_ids_push(ids, (int32_t)v);
        count++;
        *end = save;
        p = end;
    }
    free(buf);
    if (count == 0) return err_set("%s: no token ids in the file (expected whitespace-separated integers)", path);
    return 0;
}

/* a[0..n) == b[0..n) for short strings without a call: overlapping 8- or
 * 4-byte loads (both strings have n readable bytes). */
static inline int same_bytes(const uint8_t *a, const uint8_t *b, size_t n) {
    uint64_t x, y, u, v;
    if (n >= 8 && n <= 16) {
        memcpy(&x, a, 8), memcpy(&y, b, 8), memcpy(&u, a + n - 8, 8), memcpy(&v, b + n - 8, 8);
        return ((x ^ y) | (u ^ v)) == 0;
    }
    if (n >= 4 && n < 8) {
        uint32_t p, q, r, t;
        memcpy(&p, a, 4), memcpy(&q, b, 4), memcpy(&r, a + n - 4, 4), memcpy(&t, b + n - 4, 4);
        return ((p ^ q) | (r ^ t)) == 0;
    }
    return memcmp(a, b, n) == 0;
}

/* Append the ids of one piece w[0..n) to out. */
static void encode_piece(BPE *b, const uint8_t *w, size_t n, BPEIds *out) {
    if (n == 1) { /* a single byte is always its own token */
        ids_reserve(out, 1);
        out->ids[out->n++] = b->byte_id[w[0]];
        return;
    }
    BPECache *c = b->cache;
    ids_reserve(out, n); /* a piece never has more ids than bytes */
    uint64_t tag = 0;
    uint32_t slot = 0;
    if (n <= CACHE_MAX_WORD) {
        if (n <= 8) {
            memcpy(&tag, w, n);
            slot = (uint32_t)(((tag ^ n) * 0x9E3779B97F4A7C15ull) >> 48);
        } else {
            tag = bpe_hash(w, n);
            slot = (uint32_t)(tag >> 48);
        }
        for (;; slot = (slot + 1) & (CACHE_SLOTS - 1)) {
            const CacheSlot *s = &c->slots[slot];
            if (s->key_len == 0) break;
            if (s->tag == tag && s->key_len == n &&
                (n <= 8 || same_bytes(c->keys + s->key_off, w, n))) {
                if (s->n_ids == 1) out->ids[out->n++] = (int32_t)s->val;
                else {
                    memcpy(out->ids + out->n, c->ids + s->val, sizeof(int32_t) * s->n_ids);
                    out->n += s->n_ids;
                }
                return;
            }
        }
    }
    /* not cached: run the merge loop */
    cache_scratch(c, n);
    size_t m = n <= MERGE_REF_MAX ? bpe_merge_ref(b, w, n, c->sym, c->rank)
                                  : bpe_merge_heap(b, w, n, c->sym, c->next, c->heap);
    memcpy(out->ids + out->n, c->sym, sizeof(int32_t) * m);
    out->n += m;
    if (n > CACHE_MAX_WORD) return;
    if (c->used >= CACHE_SLOTS / 2 || c->keys_len + n > c->keys_cap ||
        c->ids_len + m > c->ids_cap) { /* full: start again (the slot stays free) */
        memset(c->slots, 0, sizeof(CacheSlot) * CACHE_SLOTS);
        c->used = c->keys_len = c->ids_len = 0;
    }
    CacheSlot *s = &c->slots[slot];
    s->tag = tag;
    s->key_len = (uint16_t)n;
    s->n_ids = (uint16_t)m;
    if (n > 8) {
        s->key_off = c->keys_len;
        memcpy(c->keys + c->keys_len, w, n);
        c->keys_len += (uint32_t)n;
    }
    if (m == 1) s->val = (uint32_t)c->sym[0];
    else {
        s->val = c->ids_len;
        memcpy(c->ids + c->ids_len, c->sym, sizeof(int32_t) * m);
        c->ids_len += (uint32_t)m;
    }
    c->used++;
}

/* Encode text with no special tokens; offsets in errors are base + index. */
static int encode_ordinary(BPE *b, const uint8_t *s, size_t n, size_t base, int bytewise,
                           BPEIds *out) {
    size_t i = 0, bad = 0;
    while (i < n) {
        size_t j = pretok_next(s, n, i, bytewise, &bad);
        if (j == 0) {
            return err_set("invalid UTF-8 at byte offset %zu (byte 0x%02X): convert the text to "
                           "UTF-8 (e.g. iconv -t UTF-8), or encode it byte-wise "
                           "(./run tokenize --bytewise, BPE_BYTEWISE)",
                           base + bad, s[bad]);
        }
        if (j - i > BPE_MAX_PIECE) /* before its scratch is allocated: see bpe.h */
            return err_set("a single word of %zu bytes at byte offset %zu (one run of letters, "
                           "digits, symbols or white space, e.g. one character repeated): the "
                           "tokenizer takes words of up to %u bytes; break it with spaces or "
                           "newlines",
                           j - i, base + i, BPE_MAX_PIECE);
        encode_piece(b, s + i, j - i, out);
        i = j;
    }
    return 0;
}

int bpe_encode(BPE *b, const char *text, size_t len, int flags, BPEIds *out) {
    if (len == 0) return 0; /* (text may then be NULL) */
    if (!b->cache) b->cache = cache_new();
    const uint8_t *s = (const uint8_t *)text;
    int bytewise = (flags & BPE_BYTEWISE) != 0;
    if (len >= UINT32_MAX) /* piece offsets in the merge loop are 32-bit */
        return err_set("the text is %zu bytes; split texts over 4 GiB", len);
    if (!(flags & BPE_ALLOW_SPECIAL) || b->eot < 0)
        return encode_ordinary(b, s, len, 0, bytewise, out);
    /* split at each "<|endoftext|>"; the pieces are pre-tokenised separately */
    const char *eot = b->tok_bytes + b->tok_off[b->eot];
    size_t eot_len = b->tok_off[b->eot + 1] - b->tok_off[b->eot], i = 0;
    for (;;) {
        const char *hit = memmem(text + i, len - i, eot, eot_len);
        size_t end = hit ? (size_t)(hit - text) : len;
        if (encode_ordinary(b, s + i, end - i, i, bytewise, out) != 0) return -1;
        if (!hit) return 0;
        bpe_ids_push(out, b->eot);
        i = end + eot_len;
    }
}

int32_t bpe_first_token(BPE *b, const char *word) {
    size_t n = strlen(word);
    if (n == 0) return -1;
    char *s = xmalloc(n + 2);
    s[0] = ' ';
    memcpy(s + 1, word, n + 1);
    BPEIds ids = {0};
    int rc = bpe_encode(b, s, n + 1, 0, &ids);
    int32_t first = rc == 0 && ids.n > 0 ? ids.ids[0] : -1;
    bpe_ids_free(&ids);
    free(s);
    return first;
}

/* ---- decoding ------------------------------------------------------------ */

const char *bpe_token_bytes(const BPE *b, int32_t id, size_t *len) {
    if (id < 0 || id >= b->V) return NULL;
    *len = b->tok_off[id + 1] - b->tok_off[id];
    return b->tok_bytes + b->tok_off[id];
}

int bpe_decode(const BPE *b, const int32_t *ids, size_t n, char **out, size_t *out_len) {
    size_t total = 0;
    for (size_t t = 0; t < n; t++) {
        if (ids[t] < 0 || ids[t] >= b->V)
            return err_set("token %zu: id %d is outside the vocabulary (0..%d)", t, ids[t], b->V - 1);
        total += b->tok_off[ids[t] + 1] - b->tok_off[ids[t]];
    }
    char *buf = xmalloc(total + 1), *p = buf;
    for (size_t t = 0; t < n; t++) {
        size_t k = b->tok_off[ids[t] + 1] - b->tok_off[ids[t]];
        memcpy(p, b->tok_bytes + b->tok_off[ids[t]], k);
        p += k;
    }
    *p = 0;
    *out = buf;
    *out_len = total;
    return 0;
}

int bpe_utf8_check(const char *s, size_t n, size_t *bad_offset) {
    return utf8_check(s, n, bad_offset);
}

/* Invisible code points shown as <U+XXXX>: white space other than the ASCII
 * ones with their own spelling, C1 controls, and the common format and
 * default-ignorable characters (soft hyphen, zero-width space/joiners,
 * direction marks, word joiner, variation selectors, BOM, tags). */
static int invisible(uint32_t cp) {
    if (unicode_class(cp) == UC_SPACE) return 1;
    return (cp >= 0x80 && cp <= 0x9F) || cp == 0xAD || cp == 0x34F || cp == 0x61C ||
           cp == 0x180E || (cp >= 0x200B && cp <= 0x200F) || (cp >= 0x202A && cp <= 0x202E) ||
           (cp >= 0x2060 && cp <= 0x206F) || (cp >= 0xFE00 && cp <= 0xFE0F) || cp == 0xFEFF ||
           (cp >= 0xFFF9 && cp <= 0xFFFB) || (cp >= 0xE0000 && cp <= 0xE0FFF);
}

size_t bpe_token_visible(const BPE *b, int32_t id, char *buf, size_t cap) {
    size_t n, k = 0;
    const uint8_t *s = (const uint8_t *)bpe_token_bytes(b, id, &n);
    if (cap == 0) return 0;
    if (!s) {
        snprintf(buf, cap, "<bad id %d>", id);
        return strlen(buf);
    }
    for (size_t i = 0; i < n;) {
        char piece[16];
        size_t plen, adv = 1;
        uint32_t cp;
        size_t len = utf8_decode(s, n, i, &cp);
        if (len == 0) plen = (size_t)snprintf(piece, sizeof piece, "\\x%02X", s[i]);
        else if (cp == ' ') plen = (size_t)snprintf(piece, sizeof piece, "\xE2\x90\xA3"); /* ␣ */
        else if (cp == '\n') plen = (size_t)snprintf(piece, sizeof piece, "\\n");
        else if (cp == '\t') plen = (size_t)snprintf(piece, sizeof piece, "\\t");
        else if (cp == '\r') plen = (size_t)snprintf(piece, sizeof piece, "\\r");
        else if (cp == '\\') plen = (size_t)snprintf(piece, sizeof piece, "\\\\");
        else if (cp < 0x20 || cp == 0x7F) plen = (size_t)snprintf(piece, sizeof piece, "\\x%02X", cp);
        else if (invisible(cp)) plen = (size_t)snprintf(piece, sizeof piece, "<U+%04X>", cp);
        else {
            memcpy(piece, s + i, len);
            plen = len;
        }
        if (len) adv = len;
        if (k + plen + 1 > cap) { /* does not fit: end with "..." if there is room */
            while (k > 0 && k + 4 > cap) { /* back up to a character boundary */
                k--;
                while (k > 0 && ((uint8_t)buf[k] & 0xC0) == 0x80) k--;
            }
            if (k + 4 <= cap) memcpy(buf + k, "...", 3), k += 3;
            break;
        }
        memcpy(buf + k, piece, plen);
        k += plen;
        i += adv;
    }
    buf[k] = 0;
    return k;
}
