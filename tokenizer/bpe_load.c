/*
 * tokenizer/bpe_load.c - read and check GPT-2's vocabulary and merges files
 * (bpe_load, bpe_free). See bpe.h for the format and the byte-to-unicode table.
 * bpe_load keeps a binary copy of the tables in the engine's cache folder
 * (tokenizer/vocab_cache.c) and reads that instead while both files are
 * unchanged.
 */
#include "core/json.h"
#include "core/utf8.h"
#include "core/util.h"
#include "tokenizer/bpe_internal.h"
#include "tokenizer/vocab_cache.h"

#include <stdlib.h>
#include <string.h>

/* GPT-2's byte-to-unicode table (OpenAI's bytes_to_unicode()), inverted:
 * printable bytes ! .. ~, ¡ .. ¬, ® .. ÿ stand for themselves; the other 68
 * bytes, in increasing order, are written U+0100, U+0101, ... Fills
 * table[cp] = the byte code point cp stands for, or -1. */
#define ALPHABET_END (256 + 68)
static void byte_alphabet(int16_t table[ALPHABET_END]) {
    int n = 0;
    for (int c = 0; c < ALPHABET_END; c++) table[c] = -1;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
        if (printable) table[b] = (int16_t)b;
        else table[256 + n++] = (int16_t)b;
    }
}

/* Turn a vocabulary string (byte-level characters) into raw bytes in out
 * (room for n bytes: never longer than the input). Returns the byte count,
 * or -1 if a character is not in the 256-character alphabet (*bad = it). */
static long token_to_bytes(const int16_t *alphabet, const char *s, size_t n, uint8_t *out,
                           uint32_t *bad) {
    size_t i = 0;
    long k = 0;
    while (i < n) {
        uint32_t cp = 0xFFFD;
        size_t len = utf8_decode((const uint8_t *)s, n, i, &cp);
        int b = len && cp < ALPHABET_END ? alphabet[cp] : -1;
        if (b < 0) {
            *bad = cp;
            return -1;
        }
        out[k++] = (uint8_t)b;
        i += len;
    }
    return k;
}

int32_t bpe_token_id(const BPE *b, const char *s, size_t n) {
    if (!b->tok_tab) return -1;
    uint32_t mask = b->tok_cap - 1;
    for (uint32_t i = (uint32_t)bpe_hash((const uint8_t *)s, n) & mask;; i = (i + 1) & mask) {
        int32_t id = b->tok_tab[i];
        if (id < 0) return -1;
        size_t len = b->tok_off[id + 1] - b->tok_off[id];
        if (len == n && memcmp(b->tok_bytes + b->tok_off[id], s, n) == 0) return id;
    }
}

/* Read the JSON vocabulary {"token": id, ...} into b's token tables. */
static int load_vocab(BPE *b, const char *path, const char *text, size_t len) {
    JSON root = {0};
    int rc = json_parse(&root, text, len);
    if (rc != 0) return err_prefix("%s: not a valid vocabulary JSON file (truncated?)", path);
    if (root.type != JSON_OBJECT || root.n == 0) {
        json_free(&root);
        return err_set("%s: expected a JSON object {\"token\": id, ...}", path);
    }
    if (root.n > BPE_MAX_VOCAB) {
        json_free(&root);
        return err_set("%s: %zu tokens; at most %d are supported", path, root.n, BPE_MAX_VOCAB);
    }
    int32_t V = (int32_t)root.n;
    size_t total = 0;
    int32_t *key_of = xmalloc(sizeof(int32_t) * V); /* (V) id -> index of its key */
    for (int32_t i = 0; i < V; i++) key_of[i] = -1;
    for (size_t k = 0; k < root.n; k++) {
        long long id;
        if (json_as_int(&root.items[k], &id) != 0 || id < 0 || id >= V || key_of[id] >= 0) {
            int dup = json_as_int(&root.items[k], &id) == 0 && id >= 0 && id < V;
            err_set("%s: token \"%s\" has %s id; the ids must be exactly 0..%d, each once "
                    "(is this GPT-2's vocab.json / encoder.json?)",
                    path, root.keys[k], dup ? "a repeated" : "an invalid", V - 1);
            json_free(&root);
            free(key_of);
            return -1;
        }
        key_of[id] = (int32_t)k;
        total += root.key_lens[k];
    }
    int16_t alphabet[ALPHABET_END];
    byte_alphabet(alphabet);
    b->V = V;
    b->tok_bytes = xmalloc(total + 1);
    b->tok_off = xmalloc(sizeof(uint32_t) * (V + 1));
    for (int i = 0; i < 256; i++) b->byte_id[i] = -1;
    size_t off = 0;
    for (int32_t id = 0; id < V; id++) {
        size_t k = (size_t)key_of[id];
        uint32_t bad;
        b->tok_off[id] = (uint32_t)off;
        long n = token_to_bytes(alphabet, root.keys[k], root.key_lens[k], (uint8_t *)b->tok_bytes + off, &bad);
        if (n <= 0) {
            if (n == 0) err_set("%s: the empty string is a token (id %d)", path, id);
            else err_set("%s: token \"%s\" (id %d) has character U+%04X, which is not in GPT-2's "
                         "byte-level alphabet", path, root.keys[k], id, bad);
            json_free(&root);
            free(key_of);
            return -1;
        }
        if (n == 1) b->byte_id[(uint8_t)b->tok_bytes[off]] = id;
        off += (size_t)n;
    }
    b->tok_off[V] = (uint32_t)off;
    json_free(&root);
    free(key_of);
    for (int i = 0; i < 256; i++)
        if (b->byte_id[i] < 0) return err_set("%s: no token for the byte 0x%02X; a byte-level "
                                              "vocabulary has all 256", path, i);
    /* bytes -> id hash table, load <= 1/2 (token strings are distinct: the
     * JSON keys are, and the byte-level alphabet is one-to-one) */
    b->tok_cap = 1;
    while (b->tok_cap < 2u * (uint32_t)V) b->tok_cap <<= 1;
    b->tok_tab = xmalloc(sizeof(int32_t) * b->tok_cap);
    memset(b->tok_tab, 0xFF, sizeof(int32_t) * b->tok_cap);
    for (int32_t id = 0; id < V; id++) {
        const uint8_t *s = (const uint8_t *)b->tok_bytes + b->tok_off[id];
        size_t n = b->tok_off[id + 1] - b->tok_off[id];
        uint32_t i = (uint32_t)bpe_hash(s, n) & (b->tok_cap - 1);
        while (b->tok_tab[i] >= 0) i = (i + 1) & (b->tok_cap - 1);
        b->tok_tab[i] = id;
    }
    return 0;
}

/* Look up one side of a merge line. Returns the id or -1 with err_set. */
static int32_t merge_part(const BPE *b, const int16_t *alphabet, const char *path, long line,
                          const char *s, size_t n, uint8_t *tmp) {
    uint32_t bad;
    long k = token_to_bytes(alphabet, s, n, tmp, &bad);
    if (k < 0) {
        err_set("%s line %ld: character U+%04X is not in GPT-2's byte-level alphabet", path, line,
                bad);
        return -1;
    }
    int32_t id = bpe_token_id(b, (const char *)tmp, (size_t)k);
    if (id < 0) err_set("%s line %ld: \"%.*s\" is not in the vocabulary (do the merges belong to "
                        "this vocabulary file?)", path, line, (int)n, s);
    return id;
}

/* Read merges.txt ("#version: 0.2" then one "A B" pair per line, rank =
 * line order) into b->merge_tab and check it against the vocabulary. */
static int load_merges(BPE *b, const char *path, const char *text, size_t len,
                       const char *vocab_path) {
    int16_t alphabet[ALPHABET_END];
    byte_alphabet(alphabet);
    b->merge_cap = 1;
    while (b->merge_cap < 2u * (uint32_t)b->V) b->merge_cap <<= 1;
    b->merge_tab = xmalloc(sizeof(uint64_t) * b->merge_cap);
    memset(b->merge_tab, 0xFF, sizeof(uint64_t) * b->merge_cap);
    uint8_t *made = xcalloc((size_t)b->V, 1); /* (V) 1 if a merge produces the token */
    uint8_t *tmp = xmalloc(len + 1);           /* room for a token's bytes */
    int rc = -1;
    long line = 0;
    int32_t rank = 0;
    size_t i = 0;
    while (i < len) {
        size_t e = i;
        while (e < len && text[e] != '\n') e++;
        size_t next = e + 1;
        line++;
        if (e > i && text[e - 1] == '\r') e--;
        if (e == i || (line == 1 && text[i] == '#')) { /* blank line or "#version: 0.2" */
            i = next;
            continue;
        }
        const char *sp = memchr(text + i, ' ', e - i);
        if (!sp || sp == text + i || sp + 1 == text + e || memchr(sp + 1, ' ', text + e - sp - 1)) {
            err_set("%s line %ld: expected two tokens separated by one space, got \"%.*s\" "
                    "(is the file truncated?)", path, line, (int)(e - i > 60 ? 60 : e - i), text + i);
            goto done;
        }
        int32_t l = merge_part(b, alphabet, path, line, text + i, (size_t)(sp - text - i), tmp);
        if (l < 0) goto done;
        int32_t r = merge_part(b, alphabet, path, line, sp + 1, (size_t)(text + e - sp - 1), tmp);
        if (r < 0) goto done;
        size_t nl = b->tok_off[l + 1] - b->tok_off[l], nr = b->tok_off[r + 1] - b->tok_off[r];
        memcpy(tmp, b->tok_bytes + b->tok_off[l], nl);
        memcpy(tmp + nl, b->tok_bytes + b->tok_off[r], nr);
        int32_t id = bpe_token_id(b, (const char *)tmp, nl + nr);
        if (id < 0) {
            err_set("%s line %ld: merging \"%.*s\" makes a token that is not in %s", path, line,
                    (int)(e - i), text + i, vocab_path);
            goto done;
        }
        if (rank >= BPE_MAX_VOCAB) {
            err_set("%s: more than %d merges", path, BPE_MAX_VOCAB);
            goto done;
        }
        uint32_t key = (uint32_t)l << 16 | (uint32_t)r, s = bpe_merge_slot(key, b->merge_cap);
        while (b->merge_tab[s] != BPE_MERGE_EMPTY) {
            if ((uint32_t)(b->merge_tab[s] >> 32) == key) {
                err_set("%s line %ld: the merge \"%.*s\" appears twice", path, line, (int)(e - i),
                        text + i);
                goto done;
            }
            s = (s + 1) & (b->merge_cap - 1);
        }
        b->merge_tab[s] = (uint64_t)key << 32 | (uint64_t)rank << 16 | (uint64_t)id;
        made[id] = 1;
        rank++;
        i = next;
    }
    b->n_merges = rank;
    /* every token longer than a byte must come from a merge, except special
     * tokens such as <|endoftext|> */
    for (int32_t id = 0; id < b->V; id++) {
        const char *s = b->tok_bytes + b->tok_off[id];
        size_t n = b->tok_off[id + 1] - b->tok_off[id];
        int special = n >= 4 && s[0] == '<' && s[1] == '|' && s[n - 2] == '|' && s[n - 1] == '>';
        if (n > 1 && !made[id] && !special) {
            err_set("%s: token %d (\"%.*s\" in %s) is made by no merge: the merges file is "
                    "truncated or belongs to another vocabulary (%d merges read)", path, id,
                    (int)(n > 40 ? 40 : n), s, vocab_path, rank);
            goto done;
        }
    }
    rc = 0;
done:
    free(made);
    free(tmp);
    return rc;
}

int bpe_load_buffers(BPE *b, const char *vocab_name, const char *vocab, size_t vocab_len,
                     const char *merges_name, const char *merges, size_t merges_len) {
    memset(b, 0, sizeof *b);
    if (load_vocab(b, vocab_name, vocab, vocab_len) != 0 ||
        load_merges(b, merges_name, merges, merges_len, vocab_name) != 0) {
        bpe_free(b);
        return -1;
    }
    b->eot = bpe_token_id(b, "<|endoftext|>", 13);
    return 0;
}

int bpe_load(BPE *b, const char *vocab_path, const char *merges_path) {
    char *v = NULL, *m = NULL;
    size_t nv, nm;
    memset(b, 0, sizeof *b);
    if (file_read_all(vocab_path, &v, &nv) != 0 || file_read_all(merges_path, &m, &nm) != 0) {
        free(v);
        return err_prefix("GPT-2 tokenizer file");
    }
    /* the binary cache (in the engine's cache folder, named by the files'
     * hashes) when it matches both files; else parse them and (re)write it */
    VocabKey key;
    vocab_key(&key, vocab_path, v, nv, merges_path, m, nm);
    char *cache = vocab_cache_path(&key);
    int rc = 0;
    if (!cache || vocab_cache_read(b, cache, &key) != 0) {
        rc = bpe_load_buffers(b, vocab_path, v, nv, merges_path, m, nm);
        /* the cache is optional: failing to write it (a read-only folder) is no error */
        if (rc == 0 && cache && vocab_cache_write(b, cache, &key) != 0) err_clear();
    }
    free(v);
    free(m);
    free(cache);
    return rc;
}

void bpe_free(BPE *b) {
    if (b->shared) {
        bpe_cache_free(b->cache);
        memset(b, 0, sizeof *b);
        return;
    }
    free(b->tok_bytes);
    free(b->tok_off);
    free(b->merge_tab);
    free(b->tok_tab);
    bpe_cache_free(b->cache);
    memset(b, 0, sizeof *b);
}

void bpe_clone(BPE *dst, const BPE *src) {
    *dst = *src;
    dst->cache = NULL;
    dst->shared = 1;
}
