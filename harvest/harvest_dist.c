/*
 * harvest/harvest_dist.c - the activation cache harvested by several
 * processes (`mpirun -np N ./run harvest ...`): harvest_to_cache_dist of
 * harvest.h.
 *
 * The cache's S shards (windows_per_shard windows each, the last shorter)
 * are dealt in contiguous blocks: rank r takes shards [S r / N, S (r+1) / N),
 * i.e. windows [lo, hi) of the token file. It harvests them into a cache of
 * its own, DIR/.part-LO-HI (the same CacheWriter, so the same packing and
 * the same resume after a stop), then renames that cache's shard i to DIR's
 * shard S r / N + i: the shard files are a one-process harvest's, byte for
 * byte (same windows, same forward, same packing). The ranks' shard row
 * counts are summed (an all-reduce, which is also the barrier), and rank 0
 * writes DIR/manifest.json once, complete, with every shard listed
 * (cache_manifest_write: a temporary renamed into place). Until then DIR
 * has no manifest, so no reader sees a half-made cache.
 */
#include "harvest/harvest.h"
#include "dist/dist.h"
#include "core/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Does any rank say bad? (every rank gets the answer; -1 on a failed collective) */
static int any_rank(int bad) {
    unsigned char b = (unsigned char)(bad != 0);
    if (dist_max_u8(&b, 1) != 0) return -1;
    return b;
}

/* This rank's block of the cache, harvested into part and moved into dir;
 * rows (S) gets its shards' row counts. */
static int harvest_block(Harvest *h, const char *dir, const CacheMeta *m, long s_lo, long s_hi, long *rows,
                         HarvestProgress fn, void *ctx) {
    const long wps = m->windows_per_shard;
    const long w_lo = s_lo * wps, w_hi = s_hi * wps < m->windows_total ? s_hi * wps : m->windows_total;
    if (w_hi <= w_lo) return 0;   /* more ranks than shards: nothing here */
    char name[64];
    snprintf(name, sizeof name, ".part-%ld-%ld", w_lo, w_hi);
    char *part = path_join(dir, name);
    CacheMeta mr = *m;
    mr.windows_total = w_hi - w_lo;
    int rc = harvest_range_to_cache(h, part, &mr, w_lo, fn, ctx);
    CacheManifest pm;
    if (rc == 0) rc = cache_manifest_read(&pm, part);
    if (rc == 0) {
        for (long i = 0; rc == 0 && i < pm.n_shards; i++) {
            rows[s_lo + i] = pm.shard_rows[i];
            for (int k = 0; rc == 0 && k < m->n_hooks; k++) {
                char *from = cache_shard_path(part, i, k), *to = cache_shard_path(dir, s_lo + i, k);
                if (rename(from, to) != 0) rc = err_set("%s: cannot move it to %s", from, to);
                free(from), free(to);
            }
        }
        if (rc == 0 && pm.n_shards != s_hi - s_lo)
            rc = err_set("%s: %ld shards, expected %ld", part, pm.n_shards, s_hi - s_lo);
        cache_manifest_free(&pm);
    }
    if (rc == 0) {   /* the part is empty now: its manifest, then the folder */
        char *mp = path_join(part, CACHE_MANIFEST);
        if (unlink(mp) != 0 || rmdir(part) != 0) rc = err_set("%s: cannot remove it after moving its shards", part);
        free(mp);
    }
    free(part);
    return rc;
}

int harvest_to_cache_dist(Harvest *h, const char *dir, const CacheMeta *meta, HarvestProgress fn, void *ctx) {
    const int r = dist_rank(), R = dist_size();
    if (R == 1) return harvest_to_cache(h, dir, meta, fn, ctx);
    CacheMeta m;
    harvest_cache_meta(h, meta, &m);
    /* what DIR holds already (every rank reads it: the same answer) */
    CacheManifest old;
    char *mp = path_join(dir, CACHE_MANIFEST);
    int exists = path_is_file(mp);
    free(mp);
    if (exists) {
        if (cache_manifest_read(&old, dir) != 0) return -1;
        int rc = cache_meta_check(&old.meta, &m, dir);
        if (rc == 0 && !(old.complete && old.meta.windows_total == m.windows_total))
            rc = err_set("%s: holds a partial cache (%ld shards); continue it with one process (the same ./run "
                         "harvest without mpirun), or give another -o folder", dir, old.n_shards);
        cache_manifest_free(&old);
        return rc;   /* complete: nothing to do */
    }
    if (path_mkdirs(dir) != 0) return -1;
    const long S = (m.windows_total + m.windows_per_shard - 1) / m.windows_per_shard;
    const long s_lo = S * r / R, s_hi = S * (r + 1) / R;
    long *rows = xcalloc((size_t)S + 1, sizeof(long));
    int rc = harvest_block(h, dir, &m, s_lo, s_hi, rows, r == 0 ? fn : NULL, ctx);
    if (rc != 0) fprintf(stderr, "gpt2sae: rank %d of %d: %s\n", r, R, err_get());
    int bad = any_rank(rc);
    if (bad == 0) bad = dist_sum_long(rows, S) != 0 ? -1 : 0;   /* every shard's rows; the barrier */
    if (bad != 0) {
        free(rows);
        return err_set("harvest into %s: %s (the shards made so far stay; the same command continues)", dir,
                       bad < 0 ? err_get() : "a rank failed (its message is above)");
    }
    if (r == 0) {   /* every shard, complete, in one atomic write */
        CacheManifest man = {.meta = m, .n_shards = S, .shard_rows = rows, .complete = 1};
        for (long s = 0; s < S; s++) man.rows += rows[s];
        rc = cache_manifest_write(&man, dir);
    }
    free(rows);
    if (any_rank(rc) != 0 && rc == 0) rc = err_set("harvest into %s: writing the manifest failed on rank 0", dir);
    return rc;
}
