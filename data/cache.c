/*
 * data/cache.c - the activation cache: dtype conversion, the manifest, the
 * shard writer (atomic, resumable) and the shuffled reader. See cache.h.
 */
#include "data/cache.h"
#include "core/json.h"
#include "core/pool.h"
#include "core/util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- dtypes ---- */

int cache_dtype_parse(const char *s, CacheDtype *out) {
    if (!strcmp(s, "float32") || !strcmp(s, "f32")) return *out = CACHE_F32, 0;
    if (!strcmp(s, "float16") || !strcmp(s, "f16")) return *out = CACHE_F16, 0;
    if (!strcmp(s, "bfloat16") || !strcmp(s, "bf16")) return *out = CACHE_BF16, 0;
    return -1;
}

const char *cache_dtype_name(CacheDtype t) {
    return t == CACHE_F16 ? "float16" : t == CACHE_BF16 ? "bfloat16" : "float32";
}

size_t cache_dtype_size(CacheDtype t) { return t == CACHE_F32 ? 4 : 2; }

static uint32_t f2u(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float u2f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

/* float -> IEEE half, round to nearest even; overflow -> inf, NaN kept. */
static uint16_t to_f16(float f) {
    uint32_t u = f2u(f), sign = (u >> 16) & 0x8000u, a = u & 0x7fffffffu;
    if (a >= 0x7f800000u) return (uint16_t)(sign | 0x7c00u | (a > 0x7f800000u ? 0x200u : 0));
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u);           /* >= 65520: inf */
    if (a < 0x38800000u) {                                               /* subnormal half */
        /* value / 2^-24, rounded to nearest even */
        float v = u2f(a) * 16777216.0f;
        uint32_t q = (uint32_t)v;
        float rem = v - (float)q;
        if (rem > 0.5f || (rem == 0.5f && (q & 1))) q++;
        return (uint16_t)(sign | q);
    }
    uint32_t m = a + 0xc8000fffu + ((a >> 13) & 1);   /* rebias exponent (-112 << 23), round */
    return (uint16_t)(sign | (m >> 13));
}

static float from_f16(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ff;
    if (e == 0) return u2f(sign) + (sign ? -1.0f : 1.0f) * (float)m * (1.0f / 16777216.0f);
    if (e == 31) return u2f(sign | 0x7f800000u | (m << 13));
    return u2f(sign | ((e + 112) << 23) | (m << 13));
}

static uint16_t to_bf16(float f) {
    uint32_t u = f2u(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);   /* quiet NaN */
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1)) >> 16);
}

void cache_pack(void *dst, const float *src, size_t n, CacheDtype t) {
    if (t == CACHE_F32) { memcpy(dst, src, n * 4); return; }
    uint16_t *d = dst;
    if (t == CACHE_F16) for (size_t i = 0; i < n; i++) d[i] = to_f16(src[i]);
    else for (size_t i = 0; i < n; i++) d[i] = to_bf16(src[i]);
}

void cache_unpack(float *dst, const void *src, size_t n, CacheDtype t) {
    if (t == CACHE_F32) { memcpy(dst, src, n * 4); return; }
    const uint16_t *s = src;
    if (t == CACHE_F16) for (size_t i = 0; i < n; i++) dst[i] = from_f16(s[i]);
    else for (size_t i = 0; i < n; i++) dst[i] = u2f((uint32_t)s[i] << 16);
}

/* ---- manifest ---- */

char *cache_shard_path(const char *dir, long s, int h) {
    char name[64];
    snprintf(name, sizeof name, "shard-%06ld-h%d.bin", s, h);
    return path_join(dir, name);
}

int cache_manifest_write(const CacheManifest *m, const char *dir) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    const CacheMeta *c = &m->meta;
    fprintf(f, "{\n  \"format\": \"gpt2sae-activation-cache\",\n  \"version\": 1,\n  \"model\": ");
    json_write_string(f, c->model, strlen(c->model));
    fprintf(f, ",\n  \"random_weights\": %s,\n  \"weights\": ", c->random_weights ? "true" : "false");
    json_write_string(f, c->weights, strlen(c->weights));
    fprintf(f, ",\n  \"weights_size\": %llu,\n  \"dataset\": ", (unsigned long long)c->weights_size);
    json_write_string(f, c->dataset, strlen(c->dataset));
    fprintf(f, ",\n  \"dataset_tokens\": %llu,\n  \"hooks\": [", (unsigned long long)c->dataset_tokens);
    for (int h = 0; h < c->n_hooks; h++) {
        fprintf(f, "%s{\"name\": ", h ? ", " : "");
        json_write_string(f, c->hooks[h], strlen(c->hooks[h]));
        fprintf(f, ", \"width\": %d}", c->widths[h]);
    }
    fprintf(f,
            "],\n  \"ctx\": %d,\n  \"prepend_bos\": %s,\n  \"exclude_special\": %s,\n  \"dtype\": \"%s\",\n"
            "  \"token_start\": %ld,\n  \"windows_total\": %ld,\n  \"windows_per_shard\": %ld,\n"
            "  \"rows\": %ld,\n  \"complete\": %s,\n  \"shard_rows\": [",
            c->ctx, c->prepend_bos ? "true" : "false", c->exclude_special ? "true" : "false",
            cache_dtype_name(c->dtype), c->token_start, c->windows_total, c->windows_per_shard, m->rows,
            m->complete ? "true" : "false");
    for (long s = 0; s < m->n_shards; s++) fprintf(f, "%s%ld", s ? ", " : "", m->shard_rows[s]);
    fprintf(f, "]\n}\n");
    fclose(f);
    char *path = path_join(dir, CACHE_MANIFEST);
    int rc = file_write_atomic(path, text, len);
    free(path);
    free(text);
    return rc;
}

static int get_int(const JSON *root, const char *key, long *out, const char *path) {
    const JSON *v = json_get(root, key);
    long long x;
    if (v && v->type == JSON_BOOL) return *out = v->boolean, 0;
    if (!v || json_as_int(v, &x) != 0)
        return err_set("%s: field \"%s\" is missing or not an integer; the cache is damaged: harvest it again", path, key);
    *out = (long)x;
    return 0;
}

static int get_str(const JSON *root, const char *key, char *out, size_t cap, const char *path) {
    const JSON *v = json_get(root, key);
    if (!v || v->type != JSON_STRING || v->str_len >= cap)
        return err_set("%s: field \"%s\" is missing or not a string; the cache is damaged: harvest it again", path, key);
    memcpy(out, v->str, v->str_len + 1);
    return 0;
}

int cache_manifest_read(CacheManifest *m, const char *dir) {
    memset(m, 0, sizeof *m);
    char *path = path_join(dir, CACHE_MANIFEST);
    JSON root = {0};
    int rc = -1;
    long x;
    char dt[32];
    CacheMeta *c = &m->meta;
    if (json_parse_file(&root, path) != 0) {
        if (!path_is_file(path)) err_set("%s: not an activation cache (no %s); make one with ./run harvest", dir, CACHE_MANIFEST);
        goto out;
    }
    const JSON *fmt = json_get(&root, "format");
    if (!fmt || fmt->type != JSON_STRING || strcmp(fmt->str, "gpt2sae-activation-cache") != 0) {
        err_set("%s: not an activation cache manifest (no \"format\": \"gpt2sae-activation-cache\")", path);
        goto out;
    }
    if (get_int(&root, "version", &x, path) || (x != 1 && err_set("%s: cache version %ld; this build reads version 1", path, x)))
        goto out;
    if (get_str(&root, "model", c->model, sizeof c->model, path) || get_str(&root, "weights", c->weights, sizeof c->weights, path) ||
        get_str(&root, "dataset", c->dataset, sizeof c->dataset, path) || get_str(&root, "dtype", dt, sizeof dt, path))
        goto out;
    if (cache_dtype_parse(dt, &c->dtype) != 0) { err_set("%s: unknown dtype \"%s\"", path, dt); goto out; }
    if (get_int(&root, "random_weights", &x, path)) goto out;
    c->random_weights = (int)x;
    if (get_int(&root, "weights_size", &x, path)) goto out;
    c->weights_size = (uint64_t)x;
    if (get_int(&root, "dataset_tokens", &x, path)) goto out;
    c->dataset_tokens = (uint64_t)x;
#define INT(key, dst) if (get_int(&root, key, &x, path)) goto out; dst = x
    INT("ctx", c->ctx);
    INT("prepend_bos", c->prepend_bos);
    INT("exclude_special", c->exclude_special);
    INT("token_start", c->token_start);
    INT("windows_total", c->windows_total);
    INT("windows_per_shard", c->windows_per_shard);
    INT("complete", m->complete);
#undef INT
    const JSON *hooks = json_get(&root, "hooks"), *sr = json_get(&root, "shard_rows");
    if (!hooks || hooks->type != JSON_ARRAY || hooks->n < 1 || hooks->n > CACHE_MAX_HOOKS || !sr || sr->type != JSON_ARRAY) {
        err_set("%s: \"hooks\" or \"shard_rows\" is missing or malformed; the cache is damaged: harvest it again", path);
        goto out;
    }
    c->n_hooks = (int)hooks->n;
    for (int h = 0; h < c->n_hooks; h++) {
        if (get_str(&hooks->items[h], "name", c->hooks[h], sizeof c->hooks[h], path) || get_int(&hooks->items[h], "width", &x, path))
            goto out;
        c->widths[h] = (int)x;
        if (x < 1) { err_set("%s: hook %s has width %ld", path, c->hooks[h], x); goto out; }
    }
    if (c->ctx < 1 || c->windows_per_shard < 1) { err_set("%s: ctx or windows_per_shard is not positive", path); goto out; }
    m->n_shards = (long)sr->n;
    m->shard_rows = xcalloc(sr->n + 1, sizeof(long));
    for (long s = 0; s < m->n_shards; s++) {
        long long v;
        if (json_as_int(&sr->items[s], &v) != 0 || v < 0 || v > c->windows_per_shard * c->ctx) {
            err_set("%s: shard %ld's row count is not valid", path, s);
            goto out;
        }
        m->shard_rows[s] = (long)v;
        m->rows += (long)v;
    }
    rc = 0;
out:
    json_free(&root);
    free(path);
    if (rc != 0) cache_manifest_free(m);
    return rc;
}

void cache_manifest_free(CacheManifest *m) {
    free(m->shard_rows);
    m->shard_rows = NULL;
    m->n_shards = 0;
}

int cache_meta_check(const CacheMeta *a, const CacheMeta *b, const char *dir) {
#define DIFF(field, fmt, what)                                                                                    \
    if (a->field != b->field)                                                                                     \
        return err_set("%s: the cache was made with %s " fmt ", but " fmt " was asked for; give another -o folder " \
                       "(or the cache's settings)", dir, what, a->field, b->field)
#define DIFS(field, what)                                                                                          \
    if (strcmp(a->field, b->field) != 0)                                                                           \
        return err_set("%s: the cache was made with %s '%s', but '%s' was asked for; give another -o folder (or " \
                       "the cache's settings)", dir, what, a->field, b->field)
    DIFS(model, "model");
    DIFF(random_weights, "%d", "random_weights");
    DIFS(weights, "weights");
    DIFF(weights_size, "%" PRIu64, "weights of size");
    DIFS(dataset, "dataset");
    DIFF(dataset_tokens, "%" PRIu64, "a dataset of tokens");
    DIFF(n_hooks, "%d", "number of hooks");
    for (int h = 0; h < a->n_hooks; h++) {
        DIFS(hooks[h], "hook");
        DIFF(widths[h], "%d", "width");
    }
    DIFF(ctx, "%d", "--ctx");
    DIFF(prepend_bos, "%d", "prepend_bos");
    DIFF(exclude_special, "%d", "exclude_special");
    DIFF(token_start, "%ld", "token_start");
    DIFF(windows_per_shard, "%ld", "windows per shard");
    if (a->dtype != b->dtype)
        return err_set("%s: the cache holds %s, but %s was asked for; give another -o folder", dir,
                       cache_dtype_name(a->dtype), cache_dtype_name(b->dtype));
#undef DIFF
#undef DIFS
    return 0;
}

/* ---- writer ---- */

int cache_writer_open(CacheWriter *w, const char *dir, const CacheMeta *meta) {
    memset(w, 0, sizeof *w);
    if (meta->n_hooks < 1 || meta->n_hooks > CACHE_MAX_HOOKS || meta->ctx < 1 || meta->windows_per_shard < 1)
        return err_set("%s: a cache needs 1..%d hooks, ctx >= 1 and windows_per_shard >= 1", dir, CACHE_MAX_HOOKS);
    if (path_mkdirs(dir) != 0) return -1;
    char *mp = path_join(dir, CACHE_MANIFEST);
    int exists = path_is_file(mp);
    free(mp);
    if (exists) {
        if (cache_manifest_read(&w->man, dir) != 0) return -1;
        if (cache_meta_check(&w->man.meta, meta, dir) != 0) { cache_manifest_free(&w->man); return -1; }
        long old = w->man.meta.windows_total, done = w->man.n_shards * meta->windows_per_shard;
        if (done > old) done = old;   /* a last, shorter shard */
        if (w->man.complete && old % meta->windows_per_shard != 0 && meta->windows_total > old) {
            cache_manifest_free(&w->man);
            return err_set("%s: the cache is complete at %ld windows and ends with a short shard; harvest more "
                           "tokens into another folder", dir, old);
        }
        w->man.meta.windows_total = meta->windows_total;   /* a larger --tokens extends the cache */
        w->man.complete = done >= meta->windows_total;
        w->windows_done = done;
    } else {
        w->man.meta = *meta;
        w->man.shard_rows = xcalloc(1, sizeof(long));
        if (cache_manifest_write(&w->man, dir) != 0) { cache_manifest_free(&w->man); return -1; }
    }
    w->dir = xstrdup(dir);
    w->cap_rows = meta->windows_per_shard * meta->ctx;
    for (int h = 0; h < meta->n_hooks; h++)
        w->buf[h] = xmalloc((size_t)w->cap_rows * meta->widths[h] * cache_dtype_size(meta->dtype));
    return 0;
}

static int commit_shard(CacheWriter *w) {
    const CacheMeta *c = &w->man.meta;
    long s = w->man.n_shards;
    size_t es = cache_dtype_size(c->dtype);
    for (int h = 0; h < c->n_hooks; h++) {
        char *path = cache_shard_path(w->dir, s, h), tmp[4096];
        FILE *f = file_begin(path, tmp, sizeof tmp);
        size_t bytes = (size_t)w->rows_in_shard * c->widths[h] * es;
        if (!f) { free(path); return -1; }
        if (fwrite(w->buf[h], 1, bytes, f) != bytes) {
            int e = errno;
            file_abort(f, tmp);
            err_set("%s: writing a shard failed (%s); the cache is kept as of its last complete shard: free some "
                    "space and run the same command again to continue", path, strerror(e));
            free(path);
            return -1;
        }
        if (file_commit(f, tmp, path) != 0) {
            err_prefix("the cache is kept as of its last complete shard; free some space and run again to continue");
            free(path);
            return -1;
        }
        w->bytes_written += (double)bytes;
        free(path);
    }
    w->man.shard_rows = xrealloc(w->man.shard_rows, (size_t)(s + 2) * sizeof(long));
    w->man.shard_rows[s] = w->rows_in_shard;
    w->man.n_shards = s + 1;
    w->man.rows += w->rows_in_shard;
    w->man.complete = w->windows_done >= c->windows_total;
    if (cache_manifest_write(&w->man, w->dir) != 0) {
        w->man.n_shards = s;   /* the shard files are there but not listed: the next run rewrites them */
        w->man.rows -= w->rows_in_shard;
        return err_prefix("the cache is kept as of its last complete shard; free some space and run again");
    }
    w->win_in_shard = 0;
    w->rows_in_shard = 0;
    return 0;
}

int cache_writer_window(CacheWriter *w, const float *const *rows, const uint8_t *mask, int T) {
    const CacheMeta *c = &w->man.meta;
    size_t es = cache_dtype_size(c->dtype);
    long n = 0;
    for (int t = 0; t < T; t++) {
        if (c->exclude_special && mask && !mask[t]) continue;   /* a position holding <|endoftext|> */
        for (int h = 0; h < c->n_hooks; h++) {
            size_t W = (size_t)c->widths[h];
            cache_pack((char *)w->buf[h] + (size_t)(w->rows_in_shard + n) * W * es, rows[h] + (size_t)t * W, W, c->dtype);
        }
        n++;
    }
    w->rows_in_shard += n;
    w->windows_done++;
    w->win_in_shard++;
    if (w->win_in_shard == c->windows_per_shard) return commit_shard(w);
    return 0;
}

static void writer_free(CacheWriter *w) {
    for (int h = 0; h < CACHE_MAX_HOOKS; h++) free(w->buf[h]);
    cache_manifest_free(&w->man);
    free(w->dir);
    memset(w, 0, sizeof *w);
}

int cache_writer_close(CacheWriter *w) {
    int rc = 0;
    if (w->win_in_shard > 0) rc = commit_shard(w);
    else if (!w->man.complete && w->windows_done >= w->man.meta.windows_total) {
        w->man.complete = 1;
        rc = cache_manifest_write(&w->man, w->dir);
    }
    writer_free(w);
    return rc;
}

void cache_writer_abort(CacheWriter *w) { writer_free(w); }

/* ---- reader ---- */

int cache_reader_open(CacheReader *r, const char *dir, const char *hook, int group, uint64_t seed) {
    memset(r, 0, sizeof *r);
    if (cache_manifest_read(&r->man, dir) != 0) return -1;
    const CacheMeta *c = &r->man.meta;
    r->hook = -1;
    for (int h = 0; h < c->n_hooks; h++)
        if (!hook || !strcmp(hook, c->hooks[h])) { r->hook = h; break; }
    if (r->hook < 0) {
        char list[1024] = "";
        for (int h = 0; h < c->n_hooks; h++) snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", h ? ", " : "", c->hooks[h]);
        err_set("%s: the cache holds no hook '%s' (it holds %s); harvest that hook, or give --hook as the cache has it", dir, hook, list);
        cache_manifest_free(&r->man);
        return -1;
    }
    if (r->man.rows < 1) {
        err_set("%s: the cache holds no rows yet; run ./run harvest to fill it", dir);
        cache_manifest_free(&r->man);
        return -1;
    }
    r->width = c->widths[r->hook];
    r->group = group < 1 ? 1 : group;
    r->seed = seed;
    r->dir = xstrdup(dir);
    r->shard_first = xmalloc((size_t)(r->man.n_shards + 1) * sizeof(long));
    r->shard_first[0] = 0;
    size_t es = cache_dtype_size(c->dtype);
    for (long s = 0; s < r->man.n_shards; s++) {
        r->shard_first[s + 1] = r->shard_first[s] + r->man.shard_rows[s];
        char *p = cache_shard_path(dir, s, r->hook);
        struct stat st;
        uint64_t want = (uint64_t)r->man.shard_rows[s] * r->width * es;
        int bad = stat(p, &st) != 0 ? err_set("%s: shard missing (%s); the cache is damaged: harvest it again", p, strerror(errno))
                  : (uint64_t)st.st_size != want
                      ? err_set("%s: shard is %lld bytes, the manifest says %llu (%ld rows x %d x %zu): truncated or "
                                "damaged; delete the cache and harvest it again", p, (long long)st.st_size,
                                (unsigned long long)want, r->man.shard_rows[s], r->width, es)
                      : 0;
        free(p);
        if (bad) { cache_reader_close(r); return -1; }
    }
    r->order = xmalloc((size_t)r->man.n_shards * sizeof(long));
    r->loaded_epoch = r->loaded_grp = -1;
    return 0;
}

long cache_reader_rows(const CacheReader *r) { return r->man.rows; }

void cache_reader_seek(CacheReader *r, long epoch, long grp, long pos) {
    r->epoch = epoch, r->grp = grp, r->pos = pos;
}

/* Fisher-Yates over (n) with Rng seeded from (seed, a, b). */
static void permute(long *p, long n, uint64_t seed, uint64_t a, uint64_t b) {
    Rng g;
    rng_seed(&g, seed * 0x9e3779b97f4a7c15ull ^ (a + 1) * 0xbf58476d1ce4e5b9ull ^ (b + 1) * 0x94d049bb133111ebull);
    for (long i = 0; i < n; i++) p[i] = i;
    for (long i = n - 1; i > 0; i--) {
        long j = (long)(rng_u64(&g) % (uint64_t)(i + 1)), t = p[i];
        p[i] = p[j], p[j] = t;
    }
}

typedef struct {
    CacheReader *r;
    const void *src;
    float *dst;
} Unpack;

static void unpack_rows(void *ctx, int i0, int i1) {
    Unpack *u = ctx;
    size_t W = (size_t)u->r->width, es = cache_dtype_size(u->r->man.meta.dtype);
    cache_unpack(u->dst + (size_t)i0 * W, (const char *)u->src + (size_t)i0 * W * es, (size_t)(i1 - i0) * W,
                 u->r->man.meta.dtype);
}

/* Load group r->grp of epoch r->epoch: its shards' rows and their order. */
static int load_group(CacheReader *r) {
    long S = r->man.n_shards;
    if (r->loaded_epoch != r->epoch) permute(r->order, S, r->seed, (uint64_t)r->epoch, 0x5eed);
    long g0 = r->grp * r->group, g1 = g0 + r->group < S ? g0 + r->group : S, n = 0;
    for (long i = g0; i < g1; i++) n += r->man.shard_rows[r->order[i]];
    if (n > r->cap_rows) {
        free(r->rows);
        free(r->perm);
        r->rows = xmalloc_aligned((size_t)n * r->width * sizeof(float));
        r->perm = xmalloc((size_t)n * sizeof(long));
        r->cap_rows = n;
    }
    size_t es = cache_dtype_size(r->man.meta.dtype);
    long at = 0;
    void *raw = NULL;
    for (long i = g0; i < g1; i++) {
        long s = r->order[i], rows = r->man.shard_rows[s];
        size_t bytes = (size_t)rows * r->width * es;
        char *p = cache_shard_path(r->dir, s, r->hook);
        FILE *f = fopen(p, "rb");
        void *dst = es == 4 ? (void *)(r->rows + (size_t)at * r->width) : (raw = xrealloc(raw, bytes ? bytes : 1));
        int bad = !f ? err_set("%s: cannot open the shard (%s)", p, strerror(errno))
                     : fread(dst, 1, bytes, f) != bytes
                         ? err_set("%s: the shard is shorter than the manifest says (truncated while in use?); "
                                   "harvest the cache again", p)
                         : 0;
        if (f) fclose(f);
        free(p);
        if (bad) { free(raw); return -1; }
        if (es != 4) {   /* convert on every thread; the rows' order does not depend on it */
            Unpack u = {r, raw, r->rows + (size_t)at * r->width};
            pool_for((int)rows, 256, unpack_rows, &u);
        }
        r->bytes_read += (double)bytes;
        at += rows;
    }
    free(raw);
    r->grp_rows = n;
    permute(r->perm, n, r->seed, (uint64_t)r->epoch, (uint64_t)r->grp + 1);
    r->loaded_epoch = r->epoch, r->loaded_grp = r->grp;
    return 0;
}

int cache_reader_next(CacheReader *r, float *X, long n) {
    long ngroups = (r->man.n_shards + r->group - 1) / r->group;
    for (long i = 0; i < n;) {
        if (r->loaded_epoch != r->epoch || r->loaded_grp != r->grp)
            if (load_group(r) != 0) return -1;
        long take = r->grp_rows - r->pos < n - i ? r->grp_rows - r->pos : n - i;
        for (long j = 0; j < take; j++)
            memcpy(X + (size_t)(i + j) * r->width, r->rows + (size_t)r->perm[r->pos + j] * r->width,
                   (size_t)r->width * sizeof(float));
        i += take;
        r->pos += take;
        if (r->pos >= r->grp_rows) {   /* next group, or next epoch */
            r->pos = 0;
            if (++r->grp >= ngroups) r->grp = 0, r->epoch++;
        }
    }
    return 0;
}

void cache_reader_close(CacheReader *r) {
    cache_manifest_free(&r->man);
    free(r->dir);
    free(r->shard_first);
    free(r->order);
    free(r->rows);
    free(r->perm);
    memset(r, 0, sizeof *r);
}

/* ---- as a RowSource ---- */

static int src_next(void *s, float *X, long n) { return cache_reader_next(s, X, n); }
static void src_cursor(void *s, int64_t cur[4]) {
    CacheReader *r = s;
    cur[0] = r->epoch, cur[1] = r->grp, cur[2] = r->pos, cur[3] = (int64_t)r->seed;
}
static void src_seek(void *s, const int64_t cur[4]) { cache_reader_seek(s, (long)cur[0], (long)cur[1], (long)cur[2]); }
static long src_rows(void *s) { return cache_reader_rows(s); }

RowSource cache_reader_source(CacheReader *r) {
    return (RowSource){r->width, r, src_next, src_cursor, src_seek, src_rows};
}
