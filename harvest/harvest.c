/*
 * harvest/harvest.c - GPT-2's activations over a token file, B windows a
 * pass, into the activation cache or to a trainer. See harvest.h.
 */
#include "harvest/harvest.h"
#include "core/util.h"

#include <stdlib.h>
#include <string.h>

HarvestParams harvest_default_params(void) {
    HarvestParams p;
    memset(&p, 0, sizeof p);
    p.ctx = DATA_DEFAULT_CTX;
    p.prepend_bos = 1;
    p.batch = 32;
    p.dtype = CACHE_F32;
    return p;
}

int harvest_init(Harvest *h, const GPT2Model *m, const TokFile *tf, const HarvestParams *p) {
    memset(h, 0, sizeof *h);
    const GPT2Config *c = &m->cfg;
    if (p->n_hooks < 1 || p->n_hooks > CACHE_MAX_HOOKS)
        return err_set("harvest: give 1..%d hooks (--hook blocks.6.mlp.hook_pre)", CACHE_MAX_HOOKS);
    if (p->ctx < 1 + (p->prepend_bos != 0) || p->ctx > c->n_ctx)
        return err_set("--ctx %d: a window holds 1..%d tokens (n_ctx of %s)%s", p->ctx, c->n_ctx, c->name,
                       p->prepend_bos ? ", at least 2 with a BOS" : "");
    if (p->batch < 1 || p->batch > 4096) return err_set("--batch %d: give 1..4096 windows a pass", p->batch);
    for (int k = 0; k < p->n_hooks; k++) {
        if (p->layer[k] < 0 || p->layer[k] >= c->n_layer) {
            char name[64];
            gpt2_site_tl_name(name, sizeof name, p->layer[k], p->site[k]);
            return err_set("--hook %s: %s has layers 0..%d", name, c->name, c->n_layer - 1);
        }
        for (int j = 0; j < k; j++)
            if (p->layer[j] == p->layer[k] && p->site[j] == p->site[k]) {
                char name[64];
                gpt2_site_tl_name(name, sizeof name, p->layer[k], p->site[k]);
                return err_set("--hook %s is given twice", name);
            }
    }
    if (c->vocab_size < DATA_VOCAB && tf) ((TokFile *)tf)->vocab = c->vocab_size;   /* ids must fit the model */
    if (data_windows_init(&h->win, tf, p->ctx, p->prepend_bos) != 0) return -1;
    h->m = m, h->tf = tf, h->p = *p;
    h->windows = data_windows_count(&h->win);
    if (p->windows > 0 && p->windows < h->windows) h->windows = p->windows;
    gpt2_forward_init(&h->f, m);
    size_t rows = (size_t)p->batch * p->ctx;
    h->ids = xmalloc(rows * sizeof(int32_t));
    h->mask = xmalloc(rows);
    for (int k = 0; k < p->n_hooks; k++) {
        h->width[k] = gpt2_site_width(c, p->site[k]);
        h->acts[k] = xmalloc_aligned(rows * h->width[k] * sizeof(float));
        if (gpt2_forward_add_hook(&h->f, p->layer[k], p->site[k], gpt2_hook_copy, h->acts[k]) != 0) {
            harvest_free(h);
            return -1;
        }
    }
    return 0;
}

void harvest_free(Harvest *h) {
    gpt2_forward_free(&h->f);
    free(h->ids);
    free(h->mask);
    for (int k = 0; k < CACHE_MAX_HOOKS; k++) free(h->acts[k]);
    memset(h, 0, sizeof *h);
}

/* The pass over ids (n, ctx): the device's, or the CPU's (f's hooks fill acts). */
static int forward(Harvest *h, const int32_t *ids, int n) {
    if (h->forward)
        return h->forward(h->forward_user, ids, n, h->p.ctx, h->p.n_hooks, h->p.layer, h->p.site, h->acts);
    return gpt2_forward_batch(&h->f, ids, n, h->p.ctx);
}

int harvest_batch(Harvest *h, long w0, int n) {
    int T = h->p.ctx;
    for (int b = 0; b < n; b++)
        if (data_windows_get(&h->win, (size_t)(w0 + b), h->ids + (size_t)b * T, h->mask + (size_t)b * T) != 0) return -1;
    double t = time_now();
    int rc = forward(h, h->ids, n);
    h->t_forward += time_now() - t;
    return rc;
}

void harvest_cache_meta(const Harvest *h, const CacheMeta *meta, CacheMeta *out) {
    const HarvestParams *p = &h->p;
    CacheMeta m = *meta;
    m.dataset_tokens = h->tf->n;
    m.n_hooks = p->n_hooks;
    int widest = 1;
    for (int k = 0; k < p->n_hooks; k++) {
        gpt2_site_tl_name(m.hooks[k], sizeof m.hooks[k], p->layer[k], p->site[k]);
        m.widths[k] = h->width[k];
        if (h->width[k] > widest) widest = h->width[k];
    }
    m.ctx = p->ctx, m.prepend_bos = p->prepend_bos, m.exclude_special = p->exclude_special;
    m.dtype = p->dtype;
    m.token_start = 0;
    m.windows_total = h->windows;
    m.windows_per_shard = p->windows_per_shard;
    if (m.windows_per_shard < 1) {   /* about 64 MiB a shard at the widest hook */
        m.windows_per_shard = (long)(((size_t)64 << 20) / ((size_t)widest * cache_dtype_size(p->dtype) * p->ctx));
        if (m.windows_per_shard < 1) m.windows_per_shard = 1;
    }
    *out = m;
}

int harvest_to_cache(Harvest *h, const char *dir, const CacheMeta *meta, HarvestProgress fn, void *ctx) {
    CacheMeta m;
    harvest_cache_meta(h, meta, &m);
    return harvest_range_to_cache(h, dir, &m, 0, fn, ctx);
}

int harvest_range_to_cache(Harvest *h, const char *dir, const CacheMeta *m, long first, HarvestProgress fn, void *ctx) {
    const HarvestParams *p = &h->p;
    const long W = m->windows_total;
    CacheWriter w;
    if (cache_writer_open(&w, dir, m) != 0) return -1;
    int T = p->ctx;
    for (long w0 = w.windows_done; w0 < W;) {
        int n = W - w0 < p->batch ? (int)(W - w0) : p->batch;
        if (harvest_batch(h, first + w0, n) != 0) { cache_writer_abort(&w); return -1; }
        double t = time_now();
        for (int b = 0; b < n; b++) {
            const float *rows[CACHE_MAX_HOOKS];
            for (int k = 0; k < p->n_hooks; k++) rows[k] = h->acts[k] + (size_t)b * T * h->width[k];
            if (cache_writer_window(&w, rows, h->mask + (size_t)b * T, T) != 0) {
                cache_writer_abort(&w);
                return -1;
            }
        }
        h->t_write += time_now() - t;
        w0 += n;
        if (fn && fn(ctx, w0, W, h) != 0) {
            cache_writer_abort(&w);   /* the shard being filled is dropped; committed ones stay */
            return -1;
        }
    }
    double t = time_now();
    int rc = cache_writer_close(&w);
    h->t_write += time_now() - t;
    return rc;
}

/* ---- the live source ---- */

int harvest_source_init(HarvestSource *s, Harvest *h, int hook, uint64_t seed) {
    memset(s, 0, sizeof *s);
    if (hook < 0 || hook >= h->p.n_hooks) return err_set("harvest source: hook %d of %d", hook, h->p.n_hooks);
    s->h = h, s->hook = hook, s->seed = seed;
    s->order = xmalloc((size_t)h->windows * sizeof(long));
    s->order_epoch = -1;
    s->rows = xmalloc_aligned((size_t)h->p.batch * h->p.ctx * h->width[hook] * sizeof(float));
    s->perm = xmalloc((size_t)h->p.batch * h->p.ctx * sizeof(long));
    s->buf_win = -1;
    return 0;
}

void harvest_source_free(HarvestSource *s) {
    free(s->order);
    free(s->rows);
    free(s->perm);
    memset(s, 0, sizeof *s);
}

static void shuffle(long *p, long n, Rng *g) {
    for (long i = 0; i < n; i++) p[i] = i;
    for (long i = n - 1; i > 0; i--) {
        long j = (long)(rng_u64(g) % (uint64_t)(i + 1)), t = p[i];
        p[i] = p[j], p[j] = t;
    }
}

/* Fill the buffer with the batch of windows starting at order[next_win]. */
static int fill(HarvestSource *s) {
    Harvest *h = s->h;
    long W = h->windows;
    if (s->order_epoch != s->epoch) {
        Rng g;
        rng_seed(&g, s->seed * 0x9e3779b97f4a7c15ull ^ (uint64_t)(s->epoch + 1) * 0xbf58476d1ce4e5b9ull);
        shuffle(s->order, W, &g);
        s->order_epoch = s->epoch;
    }
    int n = W - s->next_win < h->p.batch ? (int)(W - s->next_win) : h->p.batch, T = h->p.ctx;
    int32_t *ids = h->ids;
    for (int b = 0; b < n; b++)
        if (data_windows_get(&h->win, (size_t)s->order[s->next_win + b], ids + (size_t)b * T, h->mask + (size_t)b * T) != 0)
            return -1;
    double t = time_now();
    if (forward(h, ids, n) != 0) return -1;
    h->t_forward += time_now() - t;
    /* keep the rows to train on; their order is a permutation from (seed, epoch, batch) */
    int wd = h->width[s->hook];
    long kept = 0;
    for (long i = 0; i < (long)n * T; i++) {
        if (h->p.exclude_special && !h->mask[i]) continue;
        memcpy(s->rows + (size_t)kept * wd, h->acts[s->hook] + (size_t)i * wd, (size_t)wd * sizeof(float));
        kept++;
    }
    Rng g;
    rng_seed(&g, s->seed ^ (uint64_t)(s->epoch + 1) * 0x94d049bb133111ebull ^ (uint64_t)(s->next_win + 1) * 0x2545f4914f6cdd1dull);
    shuffle(s->perm, kept, &g);
    s->n_rows = kept;
    s->buf_win = s->next_win;
    return 0;
}

static int src_next(void *vs, float *X, long n) {
    HarvestSource *s = vs;
    int wd = s->h->width[s->hook];
    for (long i = 0; i < n;) {
        if (s->buf_win != s->next_win || s->order_epoch != s->epoch)
            if (fill(s) != 0) return -1;
        long take = s->n_rows - s->pos < n - i ? s->n_rows - s->pos : n - i;
        for (long j = 0; j < take; j++)
            memcpy(X + (size_t)(i + j) * wd, s->rows + (size_t)s->perm[s->pos + j] * wd, (size_t)wd * sizeof(float));
        i += take;
        s->pos += take;
        if (s->pos >= s->n_rows) {   /* the next batch of windows, or the next epoch */
            s->pos = 0;
            s->next_win += s->h->p.batch;
            if (s->next_win >= s->h->windows) s->next_win = 0, s->epoch++;
        }
    }
    return 0;
}

static void src_cursor(void *vs, int64_t cur[4]) {
    HarvestSource *s = vs;
    cur[0] = s->epoch, cur[1] = s->next_win, cur[2] = s->pos, cur[3] = (int64_t)s->seed;
}

static void src_seek(void *vs, const int64_t cur[4]) {
    HarvestSource *s = vs;
    s->epoch = (long)cur[0], s->next_win = (long)cur[1], s->pos = (long)cur[2];
    s->buf_win = -1;
}

static long src_rows(void *vs) {
    HarvestSource *s = vs;
    return s->h->p.exclude_special ? 0 : s->h->windows * s->h->p.ctx;
}

RowSource harvest_source(HarvestSource *s) {
    return (RowSource){s->h->width[s->hook], s, src_next, src_cursor, src_seek, src_rows};
}
