/*
 * data/cache.h - the on-disk activation cache: rows of activations (one per
 * token position) at one or more hooks, in shards of a fixed number of
 * windows, with a manifest; and the shuffled reader that training pulls
 * batches from.
 *
 *   CacheMeta m = {...};                 // model, weights, hooks, ctx, dtype, ...
 *   CacheWriter w;
 *   if (cache_writer_open(&w, "acts/", &m) != 0) return -1;   // new, or resumes
 *   for (long win = w.windows_done; win < m.windows_total; win++)
 *       if (cache_writer_window(&w, rows, mask, ctx) != 0) ...  // rows[h] (ctx, width_h)
 *   cache_writer_close(&w);              // the last, shorter shard
 *
 *   CacheReader r;
 *   if (cache_reader_open(&r, "acts/", "blocks.6.mlp.hook_pre", 4, seed) != 0) return -1;
 *   float X[B * r.width];
 *   while (...) if (cache_reader_next(&r, X, B) != 0) return -1;   // B rows, epochs wrap
 *   cache_reader_close(&r);
 *
 * LAYOUT. DIR/manifest.json and, per shard s and hook h, DIR/shard-SSSSSS-hH.bin:
 * the shard's rows (rows_s, width_h) little-endian float32, float16 or
 * bfloat16, nothing else (the manifest says the row count, so a truncated
 * shard is detected by its size). Shard s holds windows
 * [s * windows_per_shard, ...) of the token file, in order; every shard but
 * the last holds exactly windows_per_shard windows. Rows of positions
 * holding <|endoftext|> are left out when exclude_special is set (then a
 * shard's row count is at most windows x ctx), so the manifest keeps each
 * shard's rows.
 *
 * ATOMICITY AND RESUME. A shard's files are written under temporary names
 * and renamed into place; then the manifest, rewritten atomically, lists it.
 * A shard is part of the cache only once the manifest lists it: a run
 * stopped (Ctrl-C, a full disk, SIGKILL) leaves the cache as of its last
 * complete shard, and cache_writer_open with the same CacheMeta continues
 * after it (a different model, hook, ctx, dtype or dataset is refused,
 * naming the field).
 *
 * SHUFFLE. An epoch e visits the shards in a permutation drawn from (seed,
 * e); the shards are taken in groups of `group` consecutive ones of that
 * order, and each group's rows are visited in a permutation drawn from
 * (seed, e, group index). Every row is seen exactly once per epoch; memory
 * is one group of shards of one hook. The order is a function of the seed
 * only: threads (used to read and convert) never change it. The cursor
 * (epoch, group, position) is three integers, so a checkpoint resumes the
 * stream exactly (cache_reader_seek).
 */
#ifndef DATA_CACHE_H
#define DATA_CACHE_H

#include <stddef.h>
#include <stdint.h>

#define CACHE_MAX_HOOKS 16
#define CACHE_MANIFEST "manifest.json"

typedef enum { CACHE_F32 = 0, CACHE_F16 = 1, CACHE_BF16 = 2 } CacheDtype;
/* "float32"/"float16"/"bfloat16" (also f32, f16, bf16) -> *out; 0 or -1 (no err_set). */
int cache_dtype_parse(const char *s, CacheDtype *out);
const char *cache_dtype_name(CacheDtype t);
size_t cache_dtype_size(CacheDtype t);
/* Convert n values (rounding to nearest even for the 16-bit types). */
void cache_pack(void *dst, const float *src, size_t n, CacheDtype t);
void cache_unpack(float *dst, const void *src, size_t n, CacheDtype t);

/* What a cache holds; the manifest. Strings are copied by the writer. */
typedef struct {
    char model[64];          /* the model's name ("gpt2", "custom", ...) */
    int random_weights;      /* 1: a synthetic checkpoint, not GPT-2 */
    char weights[256];       /* the weights file's name (no folder) */
    uint64_t weights_size;   /* its size in bytes */
    char dataset[256];       /* the token file's name (no folder) */
    uint64_t dataset_tokens; /* its token count */
    int n_hooks;
    char hooks[CACHE_MAX_HOOKS][64];   /* TransformerLens names */
    int widths[CACHE_MAX_HOOKS];       /* floats a row at each hook */
    int ctx, prepend_bos, exclude_special;
    CacheDtype dtype;
    long token_start;        /* the first window starts at this file token */
    long windows_total;      /* windows the finished cache holds */
    long windows_per_shard;
} CacheMeta;

/* The manifest's shard list. */
typedef struct {
    CacheMeta meta;
    long n_shards;
    long *shard_rows;        /* (n_shards) rows in each shard */
    long rows;               /* their sum */
    int complete;            /* 1 once windows_total windows are in */
} CacheManifest;

/* Read DIR/manifest.json. Returns 0, or -1 with err_set() naming the file. */
int cache_manifest_read(CacheManifest *m, const char *dir);
void cache_manifest_free(CacheManifest *m);
/* Write m as DIR/manifest.json (DIR must exist), atomically: a temporary
 * renamed into place, so a reader sees the old manifest or the new one.
 * m->rows and m->complete are written as given. Returns 0, or -1 with
 * err_set() naming the file (the old manifest, if any, stays). */
int cache_manifest_write(const CacheManifest *m, const char *dir);
/* 0 if the two describe the same cache (all but windows_total and
 * windows_per_shard... see cache.c), else -1 with err_set() naming the field. */
int cache_meta_check(const CacheMeta *have, const CacheMeta *want, const char *dir);
/* The path of shard s at hook h (caller frees). */
char *cache_shard_path(const char *dir, long s, int h);

/* ---- writing ------------------------------------------------------------- */

typedef struct {
    char *dir;
    CacheManifest man;       /* what is committed so far */
    long windows_done;       /* windows in committed shards + the current one */
    long win_in_shard;       /* windows in the shard being filled */
    long rows_in_shard;      /* its rows so far (each hook the same) */
    void *buf[CACHE_MAX_HOOKS];   /* (rows, width) packed rows of the shard being filled */
    long cap_rows;
    double bytes_written;
} CacheWriter;

/* Open DIR (created) for meta: a new cache, or, when DIR/manifest.json
 * exists and matches meta, the continuation of it (windows_done = the
 * windows of its shards). A complete cache is opened with windows_done =
 * windows_total. Returns 0, or -1 with err_set(). */
int cache_writer_open(CacheWriter *w, const char *dir, const CacheMeta *meta);
/* Add one window: rows[h] (T, width_h) for every hook h, T = ctx; mask
 * (T) 0 at positions holding <|endoftext|> (left out when exclude_special;
 * NULL keeps all). Commits the shard when it has windows_per_shard windows.
 * Returns 0, or -1 with err_set() (a full disk: the committed cache stays as
 * it was). */
int cache_writer_window(CacheWriter *w, const float *const *rows, const uint8_t *mask, int T);
/* Commit the last shard (if it holds windows) and mark the cache complete
 * when windows_total windows are in, then free. On failure -1 with err_set()
 * (the cache stays as of its last shard). */
int cache_writer_close(CacheWriter *w);
/* Free without committing the shard being filled (an error path). */
void cache_writer_abort(CacheWriter *w);

/* ---- reading ------------------------------------------------------------- */

typedef struct {
    char *dir;
    CacheManifest man;
    int hook;                /* index in the manifest */
    int width;               /* floats a row */
    int group;               /* shards a group */
    uint64_t seed;
    long *shard_first;       /* (n_shards + 1) first row of each shard */
    /* the cursor */
    long epoch, grp, pos;    /* grp: group index in the epoch; pos: rows of it done */
    /* the loaded group */
    long *order;             /* (n_shards) this epoch's shard permutation */
    float *rows;             /* (grp_rows, width) the group's rows, shards in order */
    long *perm;              /* (grp_rows) visiting order */
    long grp_rows, cap_rows;
    long loaded_epoch, loaded_grp;
    double bytes_read;
} CacheReader;

/* Open DIR for reading hook (a TransformerLens name; NULL: the first). Checks
 * every shard file's size against the manifest (a truncated shard is an
 * error naming it). group: shards a shuffle group (>= 1). Returns 0, or -1
 * with err_set(). */
int cache_reader_open(CacheReader *r, const char *dir, const char *hook, int group, uint64_t seed);
/* The next n rows (n, width) into X, continuing into the next epoch at the
 * end of one. Returns 0 or -1 with err_set() (an unreadable shard). */
int cache_reader_next(CacheReader *r, float *X, long n);
/* Move the cursor (from a checkpoint). */
void cache_reader_seek(CacheReader *r, long epoch, long grp, long pos);
/* Rows an epoch. */
long cache_reader_rows(const CacheReader *r);
void cache_reader_close(CacheReader *r);


/* ---- a source of training rows ---------------------------------------------
 * What a trainer pulls batches from, whatever makes them (the cache reader
 * here, a live harvest in harvest/): next fills X (n, width); the cursor is
 * four integers a checkpoint keeps, and seek puts the source back there, so
 * a resumed run sees exactly the rows it would have seen. */
typedef struct {
    int width;                                           /* floats a row */
    void *self;                                          /* borrowed */
    int (*next)(void *self, float *X, long n);           /* 0, or -1 with err_set() */
    void (*cursor)(void *self, int64_t cur[4]);
    void (*seek)(void *self, const int64_t cur[4]);
    long (*epoch_rows)(void *self);                      /* rows an epoch (0: unbounded) */
} RowSource;

/* r as a RowSource (borrows r). */
RowSource cache_reader_source(CacheReader *r);

#endif
