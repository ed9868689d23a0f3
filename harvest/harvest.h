/*
 * harvest/harvest.h - activations of GPT-2 over a token file, a batch of
 * context windows at a time, at any number of hooks in one pass: into the
 * on-disk activation cache (data/cache.h), or straight to a trainer as a
 * RowSource (harvesting as it trains, no cache).
 *
 *   Harvest h;
 *   HarvestParams p = harvest_default_params();
 *   p.n_hooks = 2; p.layer[0] = 6, p.site[0] = GPT2_MLP_PRE; p.layer[1] = 8, p.site[1] = GPT2_RESID_PRE;
 *   if (harvest_init(&h, &model, &tokfile, &p) != 0) return -1;
 *   if (harvest_to_cache(&h, "acts/", &meta_extra, on_progress, ctx) != 0) return -1;  // resumable
 *   harvest_free(&h);
 *
 * The forward pass (gpt2_forward_batch) runs B windows of ctx tokens as one
 * batch: the matmuls see B x ctx rows, attention stays within each window,
 * and the pass stops after the deepest requested hook (a capture at
 * blocks.6.mlp.hook_pre runs 6.5 blocks of GPT-2 small, nothing above).
 */
#ifndef HARVEST_HARVEST_H
#define HARVEST_HARVEST_H

#include "data/cache.h"
#include "data/data.h"
#include "gpt2/gpt2.h"

typedef struct {
    int n_hooks;
    int layer[CACHE_MAX_HOOKS];
    GPT2Site site[CACHE_MAX_HOOKS];
    int ctx;               /* tokens a window (default DATA_DEFAULT_CTX) */
    int prepend_bos;       /* 1: each window starts with <|endoftext|> */
    int exclude_special;   /* 1: rows of positions holding <|endoftext|> are left out */
    int batch;             /* windows a forward pass (default 32) */
    long windows;          /* windows to harvest (from the file's start); 0 = all */
    long windows_per_shard;/* 0: shards of about 64 MiB at the widest hook */
    CacheDtype dtype;
} HarvestParams;

HarvestParams harvest_default_params(void);

typedef struct {
    const GPT2Model *m;     /* borrowed */
    const TokFile *tf;      /* borrowed */
    HarvestParams p;
    DataWindows win;
    GPT2Forward f;
    /* the pass on another device, or NULL: gpt2_forward_batch on f. Set after
     * harvest_init (cuda/cuda.h: cuda_harvest_pass, user its CUDAGPT2): it
     * fills acts[k] for ids (B, ctx) at (p.layer[k], p.site[k]). */
    int (*forward)(void *user, const int32_t *ids, int B, int T, int n_hooks, const int *layer, const GPT2Site *site,
                   float *const *acts);
    void *forward_user;
    int32_t *ids;           /* (B, ctx) */
    uint8_t *mask;          /* (B, ctx) */
    float *acts[CACHE_MAX_HOOKS];   /* (B * ctx, width_h) */
    int width[CACHE_MAX_HOOKS];
    long windows;           /* windows to harvest */
    double t_forward;       /* seconds in the forward pass */
    double t_write;         /* seconds packing and writing shards */
} Harvest;

/* Check p against the model and the file (layers, ctx <= n_ctx, enough
 * tokens) and allocate the batch. Returns 0, or -1 with err_set(). */
int harvest_init(Harvest *h, const GPT2Model *m, const TokFile *tf, const HarvestParams *p);
void harvest_free(Harvest *h);

/* Run windows [w0, w0 + n) (n <= batch): h->acts[k] (n * ctx, width_k) and
 * h->mask (n * ctx). Returns 0, or -1 with err_set() (a bad token). */
int harvest_batch(Harvest *h, long w0, int n);

/* Progress: windows done of total. Return non-zero to stop (the cache is
 * kept as of its last complete shard). */
typedef int (*HarvestProgress)(void *ctx, long done, long total, const Harvest *h);

/* Fill (or continue) the cache in dir. meta supplies the model's and the
 * files' names (model, random_weights, weights, weights_size, dataset); the
 * rest is filled from h. Returns 0, or -1 with err_set(); an interrupted run
 * leaves the cache as of its last complete shard, and the same call
 * continues after it. */
int harvest_to_cache(Harvest *h, const char *dir, const CacheMeta *meta, HarvestProgress fn, void *ctx);
/* The two halves of harvest_to_cache. harvest_cache_meta: the manifest's
 * CacheMeta of h's cache (meta's names, h's hooks, ctx, dtype, windows and
 * shard size). harvest_range_to_cache: windows [first, first +
 * m->windows_total) of the token file into the cache dir made for m (shards
 * of m->windows_per_shard windows; continued when dir holds part of it).
 * The split harvest across ranks (harvest_to_cache_dist) uses both. */
void harvest_cache_meta(const Harvest *h, const CacheMeta *meta, CacheMeta *out);
int harvest_range_to_cache(Harvest *h, const char *dir, const CacheMeta *m, long first, HarvestProgress fn, void *ctx);

/* harvest_to_cache with the windows split across the ranks of a distributed
 * run (dist/dist.h; harvest/harvest_dist.c): the cache's shards are dealt in
 * contiguous blocks, rank r harvests its block into DIR/.part-A-B (a cache of
 * its own, continued if a run with the same ranks stopped), moves its shard
 * files into DIR under their global numbers, and after every rank is done
 * rank 0 writes DIR's manifest (atomically). The files equal a one-process
 * harvest's. Every rank must call it; fn is called on rank 0 only, with its
 * block's counts. A partial one-process cache in DIR is refused (continue it
 * with one process); a complete one with the same settings is left as it is.
 * With one rank: harvest_to_cache. */
int harvest_to_cache_dist(Harvest *h, const char *dir, const CacheMeta *meta, HarvestProgress fn, void *ctx);

/* A live source of rows at hook k: windows in a permutation drawn from seed
 * (every window once an epoch), a batch of windows at a time, their rows
 * shuffled. h must outlive it. */
typedef struct {
    Harvest *h;
    int hook;
    uint64_t seed;
    long epoch, next_win;   /* the cursor: the next window of the epoch's order */
    long *order;            /* (windows) */
    long order_epoch;
    float *rows;            /* (batch * ctx, width) rows not yet handed out */
    long *perm;
    long n_rows, pos;       /* rows in the buffer, rows handed out */
    long buf_win;           /* the buffer holds windows order[buf_win ..) */
} HarvestSource;

int harvest_source_init(HarvestSource *s, Harvest *h, int hook, uint64_t seed);
void harvest_source_free(HarvestSource *s);
RowSource harvest_source(HarvestSource *s);

#endif
