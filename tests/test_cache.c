/*
 * tests/test_cache.c - the activation cache (data/cache.h): float16/bfloat16
 * rounding, shards and manifest (and cache_manifest_write on its own),
 * resume after an interrupted write, the shuffled reader (every row exactly
 * once an epoch, the same order for any number of threads, an exact resume
 * from the cursor), and bad caches (a truncated shard, a manifest for
 * another model or hook).
 */
#include "core/dir.h"
#include "core/pool.h"
#include "core/util.h"
#include "data/cache.h"

#include "tests/test.h"
#include "tests/test_util.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[64] = "/tmp/test_cache.XXXXXX";

static uint16_t f16(float x) { uint16_t h; cache_pack(&h, &x, 1, CACHE_F16); return h; }
static uint16_t bf16(float x) { uint16_t h; cache_pack(&h, &x, 1, CACHE_BF16); return h; }

static void test_dtypes(void) {
    /* IEEE binary16, round to nearest even: values from the format's definition */
    CHECK(f16(1.0f) == 0x3c00 && f16(-2.0f) == 0xc000 && f16(65504.0f) == 0x7bff, "f16: 1, -2, 65504 exact");
    CHECK(f16(65520.0f) == 0x7c00 && f16(65519.0f) == 0x7bff, "f16: 65520 rounds to inf, 65519 to 65504");
    CHECK(f16(1.0f + 1.0f / 2048) == 0x3c00 && f16(1.0f + 3.0f / 2048) == 0x3c02, "f16: ties to even (1+2^-11, 1+3*2^-11)");
    CHECK(f16(0x1p-24f) == 0x0001 && f16(0x1p-25f) == 0x0000 && f16(0x1.8p-24f) == 0x0002, "f16: subnormals 2^-24, ties");
    CHECK(f16(0.1f) == 0x2e66 && f16(INFINITY) == 0x7c00 && (f16(NAN) & 0x7c00) == 0x7c00 && (f16(NAN) & 0x3ff),
          "f16: 0.1, inf, NaN stays NaN");
    CHECK(bf16(1.0f) == 0x3f80 && bf16(1.0f + 1.0f / 256) == 0x3f80 && bf16(1.0f + 3.0f / 256) == 0x3f82,
          "bf16: 1, ties to even");
    /* every half value survives unpack -> pack (NaNs stay NaN) */
    long bad = 0, badb = 0;
    for (uint32_t u = 0; u < 65536; u++) {
        uint16_t h = (uint16_t)u, back, backb;
        float x;
        cache_unpack(&x, &h, 1, CACHE_F16);
        cache_pack(&back, &x, 1, CACHE_F16);
        int nan = (h & 0x7c00) == 0x7c00 && (h & 0x3ff);
        if (nan ? !((back & 0x7c00) == 0x7c00 && (back & 0x3ff)) : back != h) bad++;
        cache_unpack(&x, &h, 1, CACHE_BF16);
        cache_pack(&backb, &x, 1, CACHE_BF16);
        int nanb = (h & 0x7f80) == 0x7f80 && (h & 0x7f);
        if (nanb ? !((backb & 0x7f80) == 0x7f80 && (backb & 0x7f)) : backb != h) badb++;
    }
    CHECK(bad == 0, "f16: all 65536 values round-trip (%ld differ)", bad);
    CHECK(badb == 0, "bf16: all 65536 values round-trip (%ld differ)", badb);
}

enum { W = 3, CTX = 4 };

static CacheMeta meta(long windows, long wps, int exclude) {
    CacheMeta m;
    memset(&m, 0, sizeof m);
    strcpy(m.model, "gpt2");
    strcpy(m.weights, "model.safetensors");
    m.weights_size = 1234;
    strcpy(m.dataset, "d.bin");
    m.dataset_tokens = 999;
    m.n_hooks = 2;
    strcpy(m.hooks[0], "blocks.1.mlp.hook_pre");
    strcpy(m.hooks[1], "blocks.2.hook_resid_pre");
    m.widths[0] = W, m.widths[1] = 1;
    m.ctx = CTX, m.prepend_bos = 1, m.exclude_special = exclude;
    m.windows_total = windows, m.windows_per_shard = wps;
    return m;
}

/* Window w's rows: row (w*CTX + t) holds (id, id/2, -id) at hook 0 and id at hook 1;
 * position t == w % CTX is "special" (mask 0). */
static int write_windows(CacheWriter *cw, long w0, long w1) {
    for (long w = w0; w < w1; w++) {
        float a[CTX * W], b[CTX];
        uint8_t mask[CTX];
        for (int t = 0; t < CTX; t++) {
            float id = (float)(w * CTX + t);
            a[t * W] = id, a[t * W + 1] = id / 2, a[t * W + 2] = -id, b[t] = id;
            mask[t] = t != w % CTX;
        }
        const float *rows[2] = {a, b};
        if (cache_writer_window(cw, rows, mask, CTX) != 0) return -1;
    }
    return 0;
}

/* A cache of windows windows in shards of wps, stored as t. */
static int make_cache(const char *dir, long windows, long wps, int exclude, CacheDtype t) {
    CacheMeta m = meta(windows, wps, exclude);
    m.dtype = t;
    CacheWriter cw;
    if (cache_writer_open(&cw, dir, &m) != 0) return -1;
    if (write_windows(&cw, cw.windows_done, windows) != 0) { cache_writer_abort(&cw); return -1; }
    return cache_writer_close(&cw);
}

/* One epoch's row ids at hook 0, read n rows at a time; also checks each row's
 * other columns. Returns the ids (caller frees) or NULL. */
static long *read_epoch(CacheReader *r, long n) {
    long R = cache_reader_rows(r), *ids = malloc(R * sizeof(long));
    float *X = malloc((size_t)n * W * sizeof(float));
    for (long i = 0; i < R; i += n) {
        long k = R - i < n ? R - i : n;
        if (cache_reader_next(r, X, k) != 0) { free(ids); free(X); return NULL; }
        for (long j = 0; j < k; j++) {
            ids[i + j] = (long)X[j * W];
            if (X[j * W + 1] != X[j * W] / 2 || X[j * W + 2] != -X[j * W]) ids[i + j] = -1;
        }
    }
    free(X);
    return ids;
}

/* every id of the expected set exactly once */
static int once_each(const long *ids, long R, long windows, int exclude) {
    long max = windows * CTX;
    char *seen = calloc((size_t)max, 1);
    int ok = 1;
    long count = 0;
    for (long i = 0; i < R; i++) {
        if (ids[i] < 0 || ids[i] >= max || seen[ids[i]]) { ok = 0; break; }
        seen[ids[i]] = 1;
    }
    for (long id = 0; id < max; id++) {
        int special = id % CTX == (id / CTX) % CTX;
        if (seen[id]) count++;
        if (!seen[id] && !(exclude && special)) ok = 0;
        if (seen[id] && exclude && special) ok = 0;
    }
    free(seen);
    return ok && count == R;
}

static void test_write_read(void) {
    char *dir = path_join(tmpdir, "c1");
    CHECK(make_cache(dir, 37, 5, 0, CACHE_F32) == 0, "write 37 windows in shards of 5: %s", err_get());
    CacheManifest m;
    CHECK(cache_manifest_read(&m, dir) == 0 && m.n_shards == 8 && m.rows == 37 * CTX && m.complete &&
              m.shard_rows[7] == 2 * CTX,
          "manifest: 8 shards (the last of 2 windows), 148 rows, complete");
    cache_manifest_free(&m);
    char *s0 = cache_shard_path(dir, 0, 0);
    struct stat st;
    CHECK(stat(s0, &st) == 0 && st.st_size == 5 * CTX * W * 4, "shard 0 of hook 0: 20 rows x 3 floats");
    free(s0);

    CacheReader r;
    CHECK(cache_reader_open(&r, dir, "blocks.1.mlp.hook_pre", 2, 7) == 0 && r.width == W, "reader opens hook 0");
    long R = cache_reader_rows(&r);
    long *e0 = read_epoch(&r, 7), *e1 = read_epoch(&r, 64);
    CHECK(e0 && once_each(e0, R, 37, 0), "epoch 0: every row exactly once (batches of 7)");
    CHECK(e1 && once_each(e1, R, 37, 0), "epoch 1: every row exactly once (batches of 64, across epochs)");
    CHECK(e0 && e1 && memcmp(e0, e1, R * sizeof(long)) != 0, "epochs 0 and 1 come in different orders");
    long inorder = 0;
    for (long i = 0; e0 && i < R; i++) inorder += e0[i] == i;
    CHECK(inorder < R / 4, "the order is shuffled (%ld of %ld rows in place)", inorder, R);
    cache_reader_close(&r);

    /* the same seed on 1 and on 3 threads: the same order, batch sizes aside */
    pool_set_threads(1);
    CacheReader r1;
    cache_reader_open(&r1, dir, NULL, 2, 7);
    long *t1 = read_epoch(&r1, 13);
    cache_reader_close(&r1);
    pool_set_threads(3);
    CHECK(t1 && memcmp(t1, e0, R * sizeof(long)) == 0, "same seed, 1 thread vs 3 threads and batch 13 vs 7: same order");
    /* another seed: another order */
    CacheReader r2;
    cache_reader_open(&r2, dir, NULL, 2, 8);
    long *o2 = read_epoch(&r2, 7);
    cache_reader_close(&r2);
    CHECK(o2 && once_each(o2, R, 37, 0) && memcmp(o2, e0, R * sizeof(long)) != 0, "seed 8: every row once, another order");

    /* the cursor: stop after 50 rows, reopen, seek, the rest is the same */
    CacheReader a, b;
    cache_reader_open(&a, dir, NULL, 2, 7);
    float X[60 * W];
    cache_reader_next(&a, X, 50);
    RowSource sa = cache_reader_source(&a);
    int64_t cur[4];
    sa.cursor(sa.self, cur);
    cache_reader_open(&b, dir, NULL, 2, 7);
    RowSource sb = cache_reader_source(&b);
    sb.seek(sb.self, cur);
    float Y[60 * W];
    sa.next(sa.self, X, 60);
    sb.next(sb.self, Y, 60);
    CHECK(memcmp(X, Y, sizeof X) == 0, "cursor after 50 rows: a reopened reader continues with the same 60 rows");
    cache_reader_close(&a);
    cache_reader_close(&b);

    /* group size 1 and a group of all shards: still every row once */
    for (int g = 1; g <= 8; g += 7) {
        CacheReader rg;
        cache_reader_open(&rg, dir, NULL, g, 3);
        long *eg = read_epoch(&rg, 5);
        CHECK(eg && once_each(eg, R, 37, 0), "group of %d shard(s): every row exactly once", g);
        free(eg);
        cache_reader_close(&rg);
    }
    free(e0), free(e1), free(t1), free(o2);

    /* hook 1 reads its own shards; an unknown hook is refused */
    CacheReader h1;
    CHECK(cache_reader_open(&h1, dir, "blocks.2.hook_resid_pre", 1, 7) == 0 && h1.width == 1, "reader opens hook 1 (width 1)");
    cache_reader_close(&h1);
    CHECK(cache_reader_open(&h1, dir, "blocks.9.hook_resid_pre", 1, 7) != 0 && strstr(err_get(), "no hook") &&
              strstr(err_get(), "blocks.1.mlp.hook_pre"),
          "unknown hook: refused, the message lists the cache's hooks");
    free(dir);
}

static void test_exclude(void) {
    char *dir = path_join(tmpdir, "c2");
    CHECK(make_cache(dir, 11, 4, 1, CACHE_F32) == 0, "exclude_special: write 11 windows");
    CacheReader r;
    CHECK(cache_reader_open(&r, dir, NULL, 1, 1) == 0 && cache_reader_rows(&r) == 11 * (CTX - 1),
          "exclude_special: one row a window left out (33 rows)");
    long *e = read_epoch(&r, 4);
    CHECK(e && once_each(e, cache_reader_rows(&r), 11, 1), "exclude_special: every kept row once, no special one");
    free(e);
    cache_reader_close(&r);
    free(dir);
}

/* cache_manifest_write: what it writes reads back, a writer's manifest is
 * rewritten byte for byte, no temporary is left, a missing folder is an error */
static void test_manifest_write(void) {
    char *src = path_join(tmpdir, "c1"), *dir = path_join(tmpdir, "man"), *none = path_join(tmpdir, "none");
    CacheManifest m;
    CHECK(cache_manifest_read(&m, src) == 0 && path_mkdirs(dir) == 0 && cache_manifest_write(&m, dir) == 0,
          "a writer's manifest written again into another folder");
    char *ma = path_join(src, CACHE_MANIFEST), *mb = path_join(dir, CACHE_MANIFEST);
    CHECK(test_files_same(ma, mb), "the rewrite is byte-identical to the writer's manifest");
    m.shard_rows[7] = 5, m.rows = 35 * CTX + 5, m.complete = 0;
    CHECK(cache_manifest_write(&m, dir) == 0, "a changed manifest written over it");
    CacheManifest b;
    CHECK(cache_manifest_read(&b, dir) == 0 && b.n_shards == 8 && b.shard_rows[7] == 5 && b.rows == 35 * CTX + 5 &&
              !b.complete && !strcmp(b.meta.hooks[1], "blocks.2.hook_resid_pre") && b.meta.windows_per_shard == 5,
          "it reads back: 8 shards, the last of 5 rows, 145 rows, not complete, the same hooks");
    cache_manifest_free(&b);
    int entries = test_count_named(dir, "") - 2;   /* less . and .. */
    CHECK(entries == 1, "the folder holds the manifest alone (%d entries): no temporary left", entries);
    CHECK(cache_manifest_write(&m, none) != 0 && strstr(err_get(), "none"), "a missing folder: an error naming it (%s)",
          err_get());
    cache_manifest_free(&m);
    free(ma), free(mb), free(src), free(dir), free(none);
}

static void test_resume(void) {
    char *full = path_join(tmpdir, "full"), *part = path_join(tmpdir, "part");
    make_cache(full, 23, 4, 0, CACHE_F32);
    /* a run stopped after 14 windows (3 shards committed, 2 windows lost) */
    CacheMeta m = meta(23, 4, 0);
    CacheWriter cw;
    cache_writer_open(&cw, part, &m);
    write_windows(&cw, 0, 14);
    cache_writer_abort(&cw);
    CacheManifest man;
    CHECK(cache_manifest_read(&man, part) == 0 && man.n_shards == 3 && !man.complete,
          "interrupted after 14 windows: 3 complete shards listed, not complete");
    cache_manifest_free(&man);
    CHECK(cache_writer_open(&cw, part, &m) == 0 && cw.windows_done == 12, "reopened: continues at window 12");
    CHECK(write_windows(&cw, cw.windows_done, 23) == 0 && cache_writer_close(&cw) == 0, "the rest written");
    int same = 1;
    for (long s = 0; s < 6; s++)
        for (int h = 0; h < 2; h++) {
            char *a = cache_shard_path(full, s, h), *b = cache_shard_path(part, s, h);
            same &= test_files_same(a, b);
            free(a), free(b);
        }
    char *ma = path_join(full, CACHE_MANIFEST), *mb = path_join(part, CACHE_MANIFEST);
    CHECK(same && test_files_same(ma, mb), "resumed cache == uninterrupted cache, byte for byte (shards and manifest)");
    free(ma), free(mb);
    CHECK(cache_writer_open(&cw, part, &m) == 0 && cw.windows_done == 23 && cw.man.complete,
          "a complete cache reopens as complete (nothing to do)");
    cache_writer_close(&cw);

    /* another model / hook / ctx / dtype / weights: refused, naming the field */
    static const struct { const char *what, *want; } other[] = {
        {"another model", "model 'gpt2'"}, {"another hook", "blocks.2.hook_resid_pre"}, {"another ctx", "--ctx"},
        {"another dtype", "float32"},      {"other weights", "weights"},
    };
    for (int i = 0; i < 5; i++) {
        CacheMeta x = meta(23, 4, 0);
        switch (i) {   /* the one field changed, in the table's order */
        case 0: strcpy(x.model, "gpt2-medium"); break;
        case 1: strcpy(x.hooks[1], "blocks.3.hook_resid_pre"); break;
        case 2: x.ctx = 8; break;
        case 3: x.dtype = CACHE_F16; break;
        default: x.weights_size = 99; break;
        }
        int opened = cache_writer_open(&cw, part, &x) == 0;
        CHECK(!opened && strstr(err_get(), other[i].want), "%s: refused (%s)", other[i].what, err_get());
        if (opened) cache_writer_abort(&cw);
    }

    /* a truncated shard: the reader names it */
    char *s2 = cache_shard_path(part, 2, 0);
    CHECK(truncate(s2, 10) == 0, "truncate shard 2");
    CacheReader r;
    CHECK(cache_reader_open(&r, part, NULL, 1, 0) != 0 && strstr(err_get(), "shard-000002-h0.bin") &&
              strstr(err_get(), "truncated"),
          "truncated shard: refused, naming it (%s)", err_get());
    unlink(s2);
    CHECK(cache_reader_open(&r, part, NULL, 1, 0) != 0 && strstr(err_get(), "missing"), "missing shard: refused");
    free(s2);
    /* a damaged manifest */
    char *mp = path_join(part, CACHE_MANIFEST);
    file_write_atomic(mp, "{\"format\": \"x\"}", 15);
    CHECK(cache_reader_open(&r, part, NULL, 1, 0) != 0 && strstr(err_get(), "not an activation cache"), "a foreign manifest: refused");
    CHECK(cache_reader_open(&r, tmpdir, NULL, 1, 0) != 0 && strstr(err_get(), "harvest"), "a folder without a manifest: refused");
    free(mp);
    free(full), free(part);
}

/* a 16-bit cache reads back as the rounded rows */
static void test_half_cache(void) {
    char *dir = path_join(tmpdir, "half");
    CHECK(make_cache(dir, 6, 4, 0, CACHE_BF16) == 0, "bfloat16 cache written");
    CacheReader r;
    cache_reader_open(&r, dir, NULL, 2, 5);
    float X[24 * W];
    cache_reader_next(&r, X, 24);
    int ok = 1;
    for (int i = 0; i < 24; i++) {   /* ids < 24 are exact in bfloat16; id/2 too */
        float id = X[i * W];
        if (X[i * W + 1] != id / 2 || X[i * W + 2] != -id) ok = 0;
    }
    CHECK(ok && r.bytes_read == 24 * W * 2.0, "bfloat16 rows read back (2 bytes a value)");
    cache_reader_close(&r);
    free(dir);
}

/* a float16 cache: shards of 320 rows, converted on the threads; the order
 * is the same on 1 and on 3 threads, and every row comes back exact */
static void test_threads_f16(void) {
    char *dir = path_join(tmpdir, "f16");
    CHECK(make_cache(dir, 200, 80, 0, CACHE_F16) == 0, "float16 cache of 800 rows in shards of 320 written");
    long *ids[2] = {NULL, NULL};
    for (int i = 0; i < 2; i++) {
        pool_set_threads(i ? 3 : 1);
        CacheReader r;
        cache_reader_open(&r, dir, NULL, 1, 21);
        ids[i] = read_epoch(&r, i ? 100 : 33);
        cache_reader_close(&r);
    }
    CHECK(ids[0] && once_each(ids[0], 800, 200, 0), "float16, 1 thread: every row exactly once, values exact");
    CHECK(ids[0] && ids[1] && memcmp(ids[0], ids[1], 800 * sizeof(long)) == 0,
          "float16: the same order on 1 thread (batches of 33) and 3 threads (batches of 100)");
    free(ids[0]), free(ids[1]);
    free(dir);
}

int main(void) {
    if (!mkdtemp(tmpdir)) { perror("mkdtemp"); return 1; }
    test_dtypes();
    test_write_read();
    test_exclude();
    test_resume();
    test_manifest_write();
    test_half_cache();
    test_threads_f16();
    dir_remove_tree(tmpdir);
    return test_finish();
}
