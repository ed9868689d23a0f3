/*
 * tests/test_harvest.c - harvesting (harvest/harvest.h) on a small synthetic
 * GPT-2: the batched forward against one window at a time, the cache's rows
 * against gpt2_capture of each window at two hooks, a disk that fills during
 * the harvest (RLIMIT_FSIZE: the cache is kept up to its last complete shard
 * and the next run finishes it, equal byte for byte to an uninterrupted one),
 * the live source, and bad input.
 */
#include "core/dir.h"
#include "core/util.h"
#include "data/cache.h"
#include "data/data.h"
#include "gpt2/gpt2.h"
#include "gpt2/model.h"
#include "harvest/harvest.h"

#include "tests/test.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static char tmpdir[64] = "/tmp/test_harvest.XXXXXX";
static GPT2Model model;
static TokFile tf;
enum { CTX = 8, NTOK = 700 };

static int setup(void) {
    GPT2Config c;
    memset(&c, 0, sizeof c);
    c.n_layer = 3, c.n_head = 2, c.n_embd = 16, c.n_ctx = 16, c.vocab_size = DATA_VOCAB, c.ln_eps = 1e-5f;
    strcpy(c.name, "custom");
    char *mdir = path_join(tmpdir, "m"), *bin = path_join(tmpdir, "d.bin");
    int rc = gpt2_model_synth(mdir, &c, 3);
    if (rc == 0) rc = gpt2_model_load(&model, mdir);
    Rng g;
    rng_seed(&g, 11);
    int32_t ids[NTOK];
    for (int i = 0; i < NTOK; i++) ids[i] = i % 50 == 0 ? DATA_EOT : (int32_t)(rng_u64(&g) % DATA_VOCAB);
    TokWriter w;
    if (rc == 0) rc = tokwriter_begin(&w, bin, DATA_LLMC);
    if (rc == 0) rc = tokwriter_append(&w, ids, NTOK);
    if (rc == 0) rc = tokwriter_commit(&w);
    if (rc == 0) rc = tokfile_open(&tf, bin, DATA_LLMC);
    free(mdir), free(bin);
    return rc;
}

static HarvestParams params(void) {
    HarvestParams p = harvest_default_params();
    p.n_hooks = 2;
    p.layer[0] = 1, p.site[0] = GPT2_MLP_PRE;
    p.layer[1] = 2, p.site[1] = GPT2_RESID_PRE;
    p.ctx = CTX;
    p.batch = 5;
    p.windows_per_shard = 7;
    return p;
}

static CacheMeta base_meta(void) {
    CacheMeta m;
    memset(&m, 0, sizeof m);
    strcpy(m.model, "custom");
    strcpy(m.weights, "model.safetensors");
    strcpy(m.dataset, "d.bin");
    m.random_weights = 1;
    return m;
}

static void test_batch_forward(void) {
    GPT2Forward f;
    gpt2_forward_init(&f, &model);
    int B = 4, C = model.cfg.n_embd;
    int32_t ids[4 * CTX];
    for (int i = 0; i < B * CTX; i++) ids[i] = tf.tokens[i];
    float *got = malloc((size_t)B * CTX * 4 * C * sizeof(float)), *want = malloc((size_t)B * CTX * 4 * C * sizeof(float));
    gpt2_forward_add_hook(&f, 2, GPT2_MLP_PRE, gpt2_hook_copy, got);
    int rc = gpt2_forward_batch(&f, ids, B, CTX);
    gpt2_forward_clear_hooks(&f);
    GPT2Forward g;
    gpt2_forward_init(&g, &model);
    for (int b = 0; b < B; b++) gpt2_capture(&g, ids + b * CTX, CTX, 2, GPT2_MLP_PRE, want + (size_t)b * CTX * 4 * C);
    CHECK(rc == 0 && check_close("batch vs windows", got, want, (long)B * CTX * 4 * C, 1e-5f, 1e-5f),
          "gpt2_forward_batch (4 x %d) == gpt2_capture of each window at blocks.2.mlp.hook_pre", CTX);
    ids[5] = DATA_VOCAB;
    CHECK(gpt2_forward_batch(&f, ids, B, CTX) != 0 && strstr(err_get(), "window 0, position 5"),
          "a token outside the vocabulary: refused, naming window and position");
    CHECK(gpt2_forward_batch(&f, ids, B, 17) != 0 && strstr(err_get(), "n_ctx"), "windows longer than n_ctx: refused");
    gpt2_forward_free(&f);
    gpt2_forward_free(&g);
    free(got), free(want);
}

/* the cache's rows (in file order, unshuffled: read the shards directly) == capture of each window */
static void test_cache_rows(void) {
    char *dir = path_join(tmpdir, "c");
    HarvestParams p = params();
    Harvest h;
    CacheMeta m = base_meta();
    CHECK(harvest_init(&h, &model, &tf, &p) == 0 && harvest_to_cache(&h, dir, &m, NULL, NULL) == 0,
          "harvest %ld windows x %d at 2 hooks: %s", h.windows, CTX, err_get());
    long nwin = h.windows;
    CacheManifest man;
    cache_manifest_read(&man, dir);
    CHECK(man.complete && man.rows == nwin * CTX && man.n_shards == (nwin + 6) / 7,
          "manifest: complete, %ld rows, %ld shards of 7 windows", man.rows, man.n_shards);
    DataWindows win;
    data_windows_init(&win, &tf, CTX, 1);
    GPT2Forward f;
    gpt2_forward_init(&f, &model);
    int widths[2] = {4 * model.cfg.n_embd, model.cfg.n_embd};
    int layers[2] = {1, 2};
    GPT2Site sites[2] = {GPT2_MLP_PRE, GPT2_RESID_PRE};
    int ok = 1;
    for (int k = 0; k < 2; k++) {
        float *want = malloc((size_t)CTX * widths[k] * sizeof(float));
        for (long s = 0; s < man.n_shards; s++) {
            char *path = cache_shard_path(dir, s, k), *buf;
            size_t len;
            if (file_read_all(path, &buf, &len) != 0) { ok = 0; free(path); break; }
            for (long w = s * 7; w < (s + 1) * 7 && w < nwin; w++) {
                int32_t ids[CTX];
                data_windows_get(&win, (size_t)w, ids, NULL);
                gpt2_capture(&f, ids, CTX, layers[k], sites[k], want);
                const float *got = (const float *)buf + (size_t)(w - s * 7) * CTX * widths[k];
                for (long i = 0; i < (long)CTX * widths[k]; i++)
                    if (fabsf(got[i] - want[i]) > 1e-5f + 1e-5f * fabsf(want[i])) ok = 0;
            }
            free(buf);
            free(path);
        }
        free(want);
    }
    CHECK(ok, "every cached row at both hooks == gpt2_capture of its window (BOS first)");
    cache_manifest_free(&man);
    gpt2_forward_free(&f);
    harvest_free(&h);
    free(dir);
}

/* In a child: harvest into dir; after `after` windows, limit files to `limit` bytes. */
static long limit_after, limit_bytes;
static int limit_progress(void *ctx, long done, long total, const Harvest *h) {
    (void)ctx, (void)total, (void)h;
    if (done >= limit_after) {
        struct rlimit rl = {(rlim_t)limit_bytes, (rlim_t)limit_bytes};
        setrlimit(RLIMIT_FSIZE, &rl);
    }
    return 0;
}

static int harvest_child(const char *dir, long after, long limit) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        limit_after = after, limit_bytes = limit;
        HarvestParams p = params();
        Harvest h;
        CacheMeta m = base_meta();
        if (harvest_init(&h, &model, &tf, &p) != 0) _exit(3);
        int rc = harvest_to_cache(&h, dir, &m, limit_progress, NULL);
        if (rc != 0) fprintf(stderr, "child: %s\n", err_get());
        _exit(rc == 0 ? 0 : 1);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 100;
}

static int same_file(const char *a, const char *b) {
    char *x, *y;
    size_t nx, ny;
    if (file_read_all(a, &x, &nx) != 0) return 0;
    if (file_read_all(b, &y, &ny) != 0) { free(x); return 0; }
    int eq = nx == ny && !memcmp(x, y, nx);
    free(x), free(y);
    return eq;
}

static void test_disk_full(void) {
    /* (first in main: a forked child must not inherit a started thread pool) */
    char *full = path_join(tmpdir, "ref"), *dir = path_join(tmpdir, "full");
    CHECK(harvest_child(full, 1L << 40, 0) == 0, "an uninterrupted harvest (the reference)");
    /* a shard at hook 0 is 7 windows x 8 x 64 floats = 14336 bytes; the
     * manifest is under 2000: after 15 windows (2 shards) nothing larger fits */
    CHECK(harvest_child(dir, 15, 4096) == 1, "disk full after 15 windows: the harvest stops with an error");
    CacheManifest man;
    CHECK(cache_manifest_read(&man, dir) == 0 && man.n_shards == 2 && !man.complete,
          "the cache holds its 2 complete shards, listed, not complete");
    cache_manifest_free(&man);
    CacheReader r;
    CHECK(cache_reader_open(&r, dir, NULL, 1, 0) == 0 && cache_reader_rows(&r) == 14 * CTX,
          "the kept cache reads (14 windows of rows)");
    cache_reader_close(&r);
    CHECK(harvest_child(dir, 1L << 40, 0) == 0, "the same harvest again: continues and completes");
    int same = 1;
    cache_manifest_read(&man, full);
    for (long s = 0; s < man.n_shards; s++)
        for (int k = 0; k < 2; k++) {
            char *a = cache_shard_path(full, s, k), *b = cache_shard_path(dir, s, k);
            same &= same_file(a, b);
            free(a), free(b);
        }
    cache_manifest_free(&man);
    char *ma = path_join(full, CACHE_MANIFEST), *mb = path_join(dir, CACHE_MANIFEST);
    CHECK(same && same_file(ma, mb), "resumed cache == uninterrupted cache, byte for byte");
    free(ma), free(mb), free(full), free(dir);
}

static void test_source(void) {
    HarvestParams p = params();
    Harvest h;
    harvest_init(&h, &model, &tf, &p);
    HarvestSource s, t;
    harvest_source_init(&s, &h, 1, 9);
    RowSource rs = harvest_source(&s);
    long R = rs.epoch_rows(rs.self);
    int C = rs.width;
    float *X = malloc((size_t)R * C * sizeof(float)), *Y = malloc((size_t)R * C * sizeof(float));
    CHECK(R == h.windows * CTX && rs.next(rs.self, X, R) == 0, "live source: one epoch of %ld rows", R);
    /* the epoch's rows are the cache's rows, reordered: compare sorted first columns */
    char *dir = path_join(tmpdir, "c");
    CacheReader r;
    cache_reader_open(&r, dir, "blocks.2.hook_resid_pre", 1, 4);
    cache_reader_next(&r, Y, R);
    cache_reader_close(&r);
    double sx = 0, sy = 0, qx = 0, qy = 0;
    for (long i = 0; i < R * C; i++) sx += X[i], sy += Y[i], qx += (double)X[i] * X[i], qy += (double)Y[i] * Y[i];
    CHECK(fabs(sx - sy) < 1e-3 * (1 + fabs(sy)) && fabs(qx - qy) < 1e-3 * qy, "live epoch == cached epoch as a multiset (sums %.4f %.4f)", sx, sy);
    /* cursor: 37 rows in, a second source seeks there and continues identically */
    rs.seek(rs.self, (int64_t[4]){0, 0, 0, 9});
    rs.next(rs.self, X, 37);
    int64_t cur[4];
    rs.cursor(rs.self, cur);
    harvest_source_init(&t, &h, 1, 9);
    RowSource rt = harvest_source(&t);
    rt.seek(rt.self, cur);
    rs.next(rs.self, X, 100);
    rt.next(rt.self, Y, 100);
    CHECK(memcmp(X, Y, 100 * C * sizeof(float)) == 0, "live source cursor: a second source continues with the same rows");
    harvest_source_free(&s);
    harvest_source_free(&t);
    harvest_free(&h);
    free(X), free(Y), free(dir);
}

static void test_bad(void) {
    HarvestParams p = params();
    Harvest h;
    p.layer[1] = 3;
    CHECK(harvest_init(&h, &model, &tf, &p) != 0 && strstr(err_get(), "layers 0..2"), "a hook below the model: refused (%s)", err_get());
    p = params();
    p.ctx = 17;
    CHECK(harvest_init(&h, &model, &tf, &p) != 0 && strstr(err_get(), "--ctx 17"), "--ctx above n_ctx: refused");
    p = params();
    p.layer[1] = 1, p.site[1] = GPT2_MLP_PRE;
    CHECK(harvest_init(&h, &model, &tf, &p) != 0 && strstr(err_get(), "twice"), "a hook given twice: refused");
    /* the cache made above, asked for with another hook set */
    p = params();
    p.site[1] = GPT2_RESID_POST;
    char *dir = path_join(tmpdir, "c");
    CacheMeta m = base_meta();
    CHECK(harvest_init(&h, &model, &tf, &p) == 0 && harvest_to_cache(&h, dir, &m, NULL, NULL) != 0 &&
              strstr(err_get(), "blocks.2.hook_resid_pre"),
          "harvest into a cache of other hooks: refused (%s)", err_get());
    harvest_free(&h);
    m = base_meta();
    strcpy(m.model, "gpt2");
    p = params();
    CHECK(harvest_init(&h, &model, &tf, &p) == 0 && harvest_to_cache(&h, dir, &m, NULL, NULL) != 0 &&
              strstr(err_get(), "model 'custom'"),
          "harvest into a cache of another model: refused");
    harvest_free(&h);
    free(dir);
}

int main(void) {
    if (!mkdtemp(tmpdir)) { perror("mkdtemp"); return 1; }
    if (setup() != 0) {
        printf("setup failed: %s\n", err_get());
        return 1;
    }
    test_disk_full();
    test_batch_forward();
    test_cache_rows();
    test_source();
    test_bad();
    tokfile_close(&tf);
    gpt2_model_free(&model);
    dir_remove_tree(tmpdir);
    return test_finish();
}
