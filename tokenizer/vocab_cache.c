/*
 * tokenizer/vocab_cache.c - the binary vocabulary cache (see vocab_cache.h).
 *
 * File layout (native byte order; the header says which):
 *   CacheHeader (19 x 8 bytes: magic, version, byte-order mark, the key,
 *                the sizes below, the payload's hash)
 *   merge_tab   (merge_cap) uint64   the merges hash table, as in BPE
 *   tok_off     (V + 1)     uint32
 *   byte_id     (256)       int32
 *   tok_tab     (tok_cap)   int32
 *   tok_bytes   (nbytes)    bytes
 * Every table is checked on read as bpe_load_buffers would have built it
 * (sizes, offsets increasing, ids in range, each token once in the hash
 * table, an empty slot left so that lookups end).
 */
#include "tokenizer/vocab_cache.h"

#include "core/util.h"
#include "tokenizer/bpe_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CACHE_MAGIC "GPT2BPEc"
#define CACHE_VERSION 1
#define CACHE_ENDIAN 0x0102030405060708ull
#define CACHE_MAX_BYTES (64u << 20)   /* tok_bytes: GPT-2's are ~320 KB */

typedef struct {
    char magic[8];
    uint64_t version, endian;
    VocabKey key;
    uint64_t V, n_merges, tok_cap, merge_cap, nbytes;
    int64_t eot;
    uint64_t payload_hash;
} CacheHeader;

void vocab_key(VocabKey *key, const char *vocab_path, const char *vocab, size_t vocab_len,
               const char *merges_path, const char *merges, size_t merges_len) {
    memset(key, 0, sizeof *key);
    const char *paths[2] = {vocab_path, merges_path};
    const char *data[2] = {vocab, merges};
    size_t lens[2] = {vocab_len, merges_len};
    for (int i = 0; i < 2; i++) {
        struct stat s;
        if (stat(paths[i], &s) == 0) key->mtime_ns[i] = (uint64_t)s.st_mtim.tv_sec * 1000000000ull + (uint64_t)s.st_mtim.tv_nsec;
        key->size[i] = lens[i];
        key->hash[i] = bpe_hash((const uint8_t *)data[i], lens[i]);
    }
}

char *vocab_cache_path(const VocabKey *key) {
    const char *e = getenv("GPT2SAE_VOCAB_CACHE");
    if (e && strcmp(e, "0") == 0) return NULL;
    char *root = path_cache_root();
    if (!root) {
        err_clear();
        return NULL;
    }
    char name[64];
    snprintf(name, sizeof name, "vocab-%016llx%016llx.bin", (unsigned long long)key->hash[0],
             (unsigned long long)key->hash[1]);
    char *dir = path_join(root, "tokenizer"), *p = path_join(dir, name);
    free(root), free(dir);
    return p;
}

/* the table sizes bpe_load_buffers picks for V tokens: the smallest power of two >= 2V */
static uint64_t table_cap(uint64_t V) {
    uint64_t c = 1;
    while (c < 2 * V) c <<= 1;
    return c;
}

static size_t payload_size(const CacheHeader *h) {
    return h->merge_cap * 8 + (h->V + 1) * 4 + 256 * 4 + h->tok_cap * 4 + h->nbytes;
}

/* 0 if the tables in p (laid out as above) are what a loaded BPE holds */
static int tables_ok(const CacheHeader *h, const uint8_t *p) {
    const uint32_t V = (uint32_t)h->V;
    const uint64_t *merge_tab = (const uint64_t *)p;
    const uint32_t *tok_off = (const uint32_t *)(p + h->merge_cap * 8);
    const int32_t *byte_id = (const int32_t *)(tok_off + V + 1);
    const int32_t *tok_tab = byte_id + 256;
    const uint8_t *bytes = (const uint8_t *)(tok_tab + h->tok_cap);
    if (tok_off[0] != 0 || tok_off[V] != h->nbytes) return -1;
    for (uint32_t i = 0; i < V; i++)
        if (tok_off[i + 1] <= tok_off[i]) return -1;   /* every token is at least one byte */
    for (int i = 0; i < 256; i++) {
        int32_t id = byte_id[i];
        if (id < 0 || (uint32_t)id >= V || tok_off[id + 1] - tok_off[id] != 1 || bytes[tok_off[id]] != i) return -1;
    }
    uint8_t *seen = xcalloc(V, 1);
    uint64_t filled = 0;
    int rc = 0;
    for (uint64_t s = 0; s < h->tok_cap && rc == 0; s++) {
        int32_t id = tok_tab[s];
        if (id == -1) continue;
        if (id < 0 || (uint32_t)id >= V || seen[id]) rc = -1;
        else seen[id] = 1, filled++;
    }
    free(seen);
    if (rc || filled != V) return -1;
    filled = 0;
    for (uint64_t s = 0; s < h->merge_cap; s++) {
        uint64_t e = merge_tab[s];
        if (e == BPE_MERGE_EMPTY) continue;
        uint32_t key = (uint32_t)(e >> 32), rank = (uint32_t)(e >> 16) & 0xFFFF, id = (uint32_t)e & 0xFFFF;
        if ((key >> 16) >= V || (key & 0xFFFF) >= V || id >= V || rank >= h->n_merges) return -1;
        filled++;
    }
    return filled == h->n_merges ? 0 : -1;
}

int vocab_cache_read(BPE *b, const char *path, const VocabKey *key) {
    memset(b, 0, sizeof *b);
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    CacheHeader h;
    uint8_t *p = NULL;
    int rc = -1;
    struct stat st;
    if (fread(&h, sizeof h, 1, f) != 1 || fstat(fileno(f), &st) != 0) goto out;
    if (memcmp(h.magic, CACHE_MAGIC, 8) != 0 || h.version != CACHE_VERSION || h.endian != CACHE_ENDIAN ||
        memcmp(&h.key, key, sizeof *key) != 0)
        goto out;
    /* sizes first (bounded, so that payload_size cannot overflow), then the file's length */
    if (h.V < 256 || h.V > BPE_MAX_VOCAB || h.tok_cap != table_cap(h.V) || h.merge_cap != table_cap(h.V) ||
        h.n_merges >= h.merge_cap || h.n_merges > BPE_MAX_VOCAB || h.nbytes > CACHE_MAX_BYTES ||
        h.eot < -1 || h.eot >= (int64_t)h.V)
        goto out;
    size_t n = payload_size(&h);
    if ((uint64_t)st.st_size != sizeof h + n) goto out;
    p = xmalloc(n);
    if (fread(p, 1, n, f) != n || bpe_hash(p, n) != h.payload_hash || tables_ok(&h, p) != 0) goto out;
    b->V = (int32_t)h.V;
    b->eot = (int32_t)h.eot;
    b->n_merges = (int32_t)h.n_merges;
    b->merge_cap = (uint32_t)h.merge_cap;
    b->tok_cap = (uint32_t)h.tok_cap;
    const uint8_t *q = p;
    b->merge_tab = xmalloc(h.merge_cap * 8);
    memcpy(b->merge_tab, q, h.merge_cap * 8), q += h.merge_cap * 8;
    b->tok_off = xmalloc((h.V + 1) * 4);
    memcpy(b->tok_off, q, (h.V + 1) * 4), q += (h.V + 1) * 4;
    memcpy(b->byte_id, q, 256 * 4), q += 256 * 4;
    b->tok_tab = xmalloc(h.tok_cap * 4);
    memcpy(b->tok_tab, q, h.tok_cap * 4), q += h.tok_cap * 4;
    b->tok_bytes = xmalloc(h.nbytes + 1);
    memcpy(b->tok_bytes, q, h.nbytes);
    rc = 0;
out:
    free(p);
    fclose(f);
    return rc;
}

int vocab_cache_write(const BPE *b, const char *path, const VocabKey *key) {
    CacheHeader h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, CACHE_MAGIC, 8);
    h.version = CACHE_VERSION;
    h.endian = CACHE_ENDIAN;
    h.key = *key;
    h.V = (uint64_t)b->V;
    h.n_merges = (uint64_t)b->n_merges;
    h.tok_cap = b->tok_cap;
    h.merge_cap = b->merge_cap;
    h.nbytes = b->tok_off[b->V];
    h.eot = b->eot;
    size_t n = payload_size(&h);
    uint8_t *buf = xmalloc(sizeof h + n), *q = buf + sizeof h;
    memcpy(q, b->merge_tab, h.merge_cap * 8), q += h.merge_cap * 8;
    memcpy(q, b->tok_off, (h.V + 1) * 4), q += (h.V + 1) * 4;
    memcpy(q, b->byte_id, 256 * 4), q += 256 * 4;
    memcpy(q, b->tok_tab, h.tok_cap * 4), q += h.tok_cap * 4;
    memcpy(q, b->tok_bytes, h.nbytes);
    h.payload_hash = bpe_hash(buf + sizeof h, n);
    memcpy(buf, &h, sizeof h);
    char *dir = path_dir(path);
    int rc = path_mkdirs(dir) == 0 ? file_write_atomic(path, buf, sizeof h + n) : -1;
    free(dir);
    free(buf);
    return rc;
}
