/*
 * tests/test_vocab_cache.c - the binary vocabulary cache beside vocab.json
 * (tokenizer/vocab_cache.c): written on the first load, the same tables read
 * back on the next, refused when either source file changes, and never
 * trusted when damaged: a fuzz loop damages the cache (flipped bytes,
 * truncation, appended bytes, header fields set to random values) and each
 * time the cache must be refused and bpe_load must still return the tables
 * parsed from the JSON (reference: bpe_load_buffers on the same files).
 *
 * Needs GPT-2's tokenizer files (tests/test_util.h); without them it skips.
 */
#include "core/util.h"
#include "tests/test.h"
#include "tests/test_util.h"
#include "tokenizer/bpe.h"
#include "tokenizer/vocab_cache.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* 1 if a and b hold the same tables */
static int same_tables(const BPE *a, const BPE *b) {
    if (a->V != b->V || a->eot != b->eot || a->n_merges != b->n_merges || a->tok_cap != b->tok_cap ||
        a->merge_cap != b->merge_cap)
        return 0;
    return memcmp(a->tok_off, b->tok_off, sizeof(uint32_t) * (a->V + 1)) == 0 &&
           memcmp(a->tok_bytes, b->tok_bytes, a->tok_off[a->V]) == 0 &&
           memcmp(a->byte_id, b->byte_id, sizeof a->byte_id) == 0 &&
           memcmp(a->tok_tab, b->tok_tab, sizeof(int32_t) * a->tok_cap) == 0 &&
           memcmp(a->merge_tab, b->merge_tab, sizeof(uint64_t) * a->merge_cap) == 0;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t next_rand(void) {   /* xorshift64* */
    rng_state ^= rng_state >> 12, rng_state ^= rng_state << 25, rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Dull;
}

int main(void) {
    char *src_v, *src_m;
    if (test_find_tokenizer(&src_v, &src_m) != 0) {
        SKIP("GPT-2 vocabulary not found (set GPT2SAE_TOKENIZER_DIR, or run `npm ci` in tests/tokenizer): the cache");
        return test_finish();
    }
    unsetenv("GPT2SAE_VOCAB_CACHE");
    char dir[64] = "/tmp/test_vocab_cache.XXXXXX";
    if (!mkdtemp(dir)) {
        CHECK(0, "a temporary folder");
        return test_finish();
    }
    /* the engine's cache folder: a folder of its own, apart from the tokenizer files' */
    char root[64] = "/tmp/test_vocab_cache_root.XXXXXX";
    if (!mkdtemp(root)) {
        CHECK(0, "a temporary cache folder");
        return test_finish();
    }
    setenv("GPT2SAE_CACHE", root, 1);
    char *v = path_join(dir, "vocab.json"), *m = path_join(dir, "merges.txt"), *cache = NULL;
    CHECK(test_copy_file(src_v, v) == 0 && test_copy_file(src_m, m) == 0, "the tokenizer files copied to %s", dir);

    /* the reference: the JSON parsed, no cache involved */
    char *vt, *mt;
    size_t nv, nm;
    BPE ref;
    memset(&ref, 0, sizeof ref);
    int ok = file_read_all(v, &vt, &nv) == 0 && file_read_all(m, &mt, &nm) == 0 &&
             bpe_load_buffers(&ref, v, vt, nv, m, mt, nm) == 0;
    CHECK(ok, "reference tables parsed from the JSON (%d tokens, %d merges)", ref.V, ref.n_merges);
    if (!ok) return test_finish();
    VocabKey key;
    vocab_key(&key, v, vt, nv, m, mt, nm);
    cache = vocab_cache_path(&key);
    char *cache_dir = path_join(root, "tokenizer");
    CHECK(cache && strncmp(cache, cache_dir, strlen(cache_dir)) == 0, "the cache's name is in the cache folder: %s",
          cache ? cache : "(none)");
    if (!cache) return test_finish();

    /* 1. the first load writes the cache; the second reads it */
    BPE b;
    CHECK(!path_is_file(cache) && bpe_load(&b, v, m) == 0 && same_tables(&b, &ref), "first load: the JSON's tables");
    bpe_free(&b);
    CHECK(path_is_file(cache), "first load wrote %s", cache);
    CHECK(test_count_named(cache_dir, "tmp") == 0 && test_count_named(cache_dir, "vocab-") == 1,
          "no temporary left beside it");
    CHECK(test_count_named(dir, "") == 4, "nothing written beside the tokenizer files (., .., vocab.json, merges.txt in %s)",
          dir);
    CHECK(vocab_cache_read(&b, cache, &key) == 0 && same_tables(&b, &ref), "the cache read back: the same tables");
    bpe_free(&b);
    BPE c;
    CHECK(bpe_load(&c, v, m) == 0 && same_tables(&c, &ref), "second load (from the cache): the same tables");
    BPEIds ids = {0};
    const char *text = "The cache holds the same tokenizer.";
    int enc = bpe_encode(&c, text, strlen(text), 0, &ids);
    BPEIds ids2 = {0};
    int enc2 = bpe_encode(&ref, text, strlen(text), 0, &ids2);
    CHECK(enc == 0 && enc2 == 0 && ids.n == ids2.n && ids.n > 0 && memcmp(ids.ids, ids2.ids, ids.n * sizeof(int32_t)) == 0,
          "encoding through the cached tables: the same %zu ids", ids.n);
    bpe_ids_free(&ids);
    bpe_ids_free(&ids2);
    bpe_free(&c);

    char *good;
    size_t ngood;
    CHECK(file_read_all(cache, &good, &ngood) == 0 && ngood > 200, "the cache is %zu bytes", ngood);

    /* 2. a changed source is noticed: a new modification time, then other contents */
    VocabKey k2 = key;
    k2.mtime_ns[1] += 1;
    CHECK(vocab_cache_read(&b, cache, &k2) != 0, "merges.txt with another modification time: cache refused");
    k2 = key;
    k2.hash[0] ^= 1;
    CHECK(vocab_cache_read(&b, cache, &k2) != 0, "vocab.json with other contents (hash): cache refused");
    k2 = key;
    k2.size[0] += 1;
    CHECK(vocab_cache_read(&b, cache, &k2) != 0, "vocab.json of another size: cache refused");
    struct timespec ts[2] = {{0, UTIME_OMIT}, {1000000000, 0}};
    utimensat(AT_FDCWD, m, ts, 0);
    CHECK(bpe_load(&b, v, m) == 0 && same_tables(&b, &ref), "merges.txt touched: loaded from the JSON");
    bpe_free(&b);
    char *after = NULL; /* file_read_all leaves it unset on failure */
    size_t nafter;
    CHECK(file_read_all(cache, &after, &nafter) == 0 && (nafter != ngood || memcmp(after, good, ngood) != 0),
          "and the cache rewritten for the new key");
    free(after);
    free(good);
    free(vt);
    free(mt);
    CHECK(file_read_all(v, &vt, &nv) == 0 && file_read_all(m, &mt, &nm) == 0, "sources read again");
    vocab_key(&key, v, vt, nv, m, mt, nm);
    CHECK(file_read_all(cache, &good, &ngood) == 0 && vocab_cache_read(&b, cache, &key) == 0, "the new cache reads");
    bpe_free(&b);

    /* 3. fuzz: every damaged cache is refused, and bpe_load still gives the JSON's tables */
    enum { ROUNDS = 120 };
    int refused = 0, loaded = 0, restored = 0;
    for (int r = 0; r < ROUNDS; r++) {
        size_t n = ngood;
        char *bad = xmalloc(ngood + 64);
        memcpy(bad, good, ngood);
        switch (r % 4) {
        case 0:   /* flip 1 to 8 bytes anywhere (a nonzero mask: each flip changes the byte) */
            for (int i = 0, nf = 1 + (int)(next_rand() % 8); i < nf; i++)
                bad[next_rand() % ngood] ^= (char)(1 + next_rand() % 255);
            break;
        case 1:   /* truncated */
            n = next_rand() % ngood;
            break;
        case 2:   /* bytes appended */
            n = ngood + 1 + next_rand() % 63;
            for (size_t i = ngood; i < n; i++) bad[i] = (char)next_rand();
            break;
        default: { /* a header field (the first 152 bytes: 19 x 8) set to a random value */
            uint64_t x = next_rand() % 4 ? next_rand() % 0x20000 : next_rand();
            size_t at = 8 * (next_rand() % 19);
            uint64_t old;
            memcpy(&old, bad + at, 8);
            if (x == old) x ^= 1;
            memcpy(bad + at, &x, 8);
        }
        }
        if (file_write_atomic(cache, bad, n) != 0) { free(bad); continue; }
        free(bad);
        refused += vocab_cache_read(&b, cache, &key) != 0;
        if (b.V) bpe_free(&b);
        BPE f;
        loaded += bpe_load(&f, v, m) == 0 && same_tables(&f, &ref);
        bpe_free(&f);
        /* that load rewrote the cache: it is intact again */
        char *now = NULL;
        size_t nnow;
        restored += file_read_all(cache, &now, &nnow) == 0 && nnow == ngood && memcmp(now, good, ngood) == 0;
        free(now);
    }
    CHECK(refused == ROUNDS, "fuzz: %d of %d damaged caches refused", refused, ROUNDS);
    CHECK(loaded == ROUNDS, "fuzz: %d of %d loads gave the JSON's tables", loaded, ROUNDS);
    CHECK(restored == ROUNDS, "fuzz: %d of %d loads rewrote an intact cache", restored, ROUNDS);
    free(good);

    /* 4. a cache written for another vocabulary (a valid file, another key) is refused */
    CHECK(vocab_cache_write(&ref, cache, &k2) == 0 && vocab_cache_read(&b, cache, &key) != 0,
          "a cache written for other files: refused");

    /* 5. GPT2SAE_VOCAB_CACHE=0: no cache read or written */
    unlink(cache);
    setenv("GPT2SAE_VOCAB_CACHE", "0", 1);
    char *off = vocab_cache_path(&key);
    CHECK(off == NULL && bpe_load(&b, v, m) == 0 && same_tables(&b, &ref) && !path_is_file(cache),
          "GPT2SAE_VOCAB_CACHE=0: loaded from the JSON, no cache written");
    bpe_free(&b);
    unsetenv("GPT2SAE_VOCAB_CACHE");

    /* 6. a cache folder that cannot be made (below a regular file: refused to
     * root too): the load still succeeds, from the JSON, with no error left */
    char *bad_root = path_join(v, "sub");
    setenv("GPT2SAE_CACHE", bad_root, 1);
    err_clear();
    CHECK(bpe_load(&b, v, m) == 0 && same_tables(&b, &ref) && err_get()[0] == 0,
          "a cache folder that cannot be made (%s): loaded from the JSON, no error left", bad_root);
    bpe_free(&b);
    setenv("GPT2SAE_CACHE", root, 1);
    free(bad_root);

    bpe_free(&ref);
    free(vt);
    free(mt);
    unlink(cache);
    rmdir(cache_dir);
    rmdir(root);
    free(cache_dir);
    unsetenv("GPT2SAE_CACHE");
    unlink(v);
    unlink(m);
    rmdir(dir);
    free(v); free(m); free(cache); free(src_v); free(src_m);
    return test_finish();
}
