/*
 * bench/bench_cache.h - the manifest of a one-hook activation cache the
 * benchmarks write (bench_cache.c, bench_train_stream.c).
 *
 *   CacheMeta m = bench_cache_meta("blocks.6.mlp.hook_pre", 3072, 128, CACHE_F32, windows, per_shard);
 *   cache_writer_open(&w, dir, &m);
 */
#ifndef BENCH_CACHE_H
#define BENCH_CACHE_H

#include <stdio.h>
#include <string.h>

#include "data/cache.h"

/* model "bench", one hook of width floats a row, ctx tokens a window */
static inline CacheMeta bench_cache_meta(const char *hook, int width, int ctx, CacheDtype type, long windows,
                                         long windows_per_shard) {
    CacheMeta m;
    memset(&m, 0, sizeof m);
    snprintf(m.model, sizeof m.model, "bench");
    snprintf(m.hooks[0], sizeof m.hooks[0], "%s", hook);
    m.n_hooks = 1, m.widths[0] = width, m.ctx = ctx, m.dtype = type;
    m.windows_total = windows, m.windows_per_shard = windows_per_shard;
    return m;
}

#endif
