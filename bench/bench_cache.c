/*
 * bench/bench_cache.c - the activation cache's writer and reader (data/cache.h)
 * in GB/s of shard bytes, and where the writer's time goes: packing rows
 * into the shard buffer (cache_writer_window), and committing shards (the
 * write into the page cache, fsync to the disk, rename, manifest), against
 * the same bytes written with write() alone, with write() + fsync (the disk
 * as the writer sees it) and with the commit's pattern of fsyncs and
 * renames, from this process. bench/bench_cache_vs_disk.sh
 * runs it beside dd in the same run.
 *   build/bench/bench_cache [MiB] [width]    default 256 MiB, width 3072 (GPT-2 small's mlp.hook_pre)
 * Checked first: the reader gives back every written row once (sums of the
 * rows and of their squares, in any order).
 */
#include "core/dir.h"
#include "core/util.h"
#include "bench/bench_cache.h"
#include "data/cache.h"

#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { T = 128 };   /* tokens a window */

static void sync_dir(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) fsync(fd), close(fd);
}

/* bytes in files of 64 MiB in dir, each with write() only (sync 0), + fsync
 * (1), or as the writer commits a shard (2): + fsync, rename into place,
 * fsync of the folder, then a 1 KiB manifest the same way. GB/s. */
static double raw_write(const char *dir, const char *buf, size_t bytes, int sync) {
    char *p = path_join(dir, "raw.tmp"), *q = path_join(dir, "raw.bin"), *mp = path_join(dir, "m.tmp"),
         *mq = path_join(dir, "m.json");
    const size_t chunk = (size_t)64 << 20;
    double t = time_now();
    for (size_t at = 0; at < bytes; at += chunk) {
        size_t n = bytes - at < chunk ? bytes - at : chunk;
        int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 || write(fd, buf, n) != (ssize_t)n) break;
        if (sync) fsync(fd);
        close(fd);
        if (sync == 2) {
            rename(p, q);
            sync_dir(dir);
            fd = open(mp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (fd < 0 || write(fd, buf, 1024) != 1024) break;
            fsync(fd), close(fd);
            rename(mp, mq);
            sync_dir(dir);
        }
    }
    t = time_now() - t;
    unlink(p), unlink(q), unlink(mq);
    free(p), free(q), free(mp), free(mq);
    return (double)bytes / t / 1e9;
}

/* Drop the shards' pages from the page cache (they are clean after fsync), so the reader reads the disk. */
static void evict(const char *cdir, const CacheMeta *meta) {
    long shards = (meta->windows_total + meta->windows_per_shard - 1) / meta->windows_per_shard;
    for (long s = 0; s < shards; s++) {
        char *p = cache_shard_path(cdir, s, 0);
        int fd = open(p, O_RDONLY);
        if (fd >= 0) posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), close(fd);
        free(p);
    }
}

/* One shuffled epoch through the reader, 4096 rows a call: the rows' sums, the time in the reader, shard bytes read. */
static int read_epoch(const char *cdir, int W, double *sum, double *sq, double *secs, double *bytes, long *rows) {
    CacheReader rd;
    if (cache_reader_open(&rd, cdir, NULL, 2, 1) != 0) return -1;
    long R = cache_reader_rows(&rd), n = 4096;
    float *X = malloc((size_t)n * W * sizeof(float));
    int rc = 0;
    for (long i = 0; i < R && rc == 0; i += n) {
        long m = R - i < n ? R - i : n;
        double t = time_now();
        rc = cache_reader_next(&rd, X, m);
        *secs += time_now() - t;
        for (size_t e = 0; rc == 0 && e < (size_t)m * W; e++) *sum += X[e], *sq += (double)X[e] * X[e];
    }
    *bytes = rd.bytes_read, *rows = R;
    free(X);
    cache_reader_close(&rd);
    return rc;
}

int main(int argc, char **argv) {
    long mib = argc > 1 ? atol(argv[1]) : 256;
    int W = argc > 2 ? atoi(argv[2]) : 3072;
    setvbuf(stdout, NULL, _IOLBF, 0);
    float *acts = malloc((size_t)T * W * 8 * sizeof(float));   /* 8 windows of rows, reused */
    Rng r;
    rng_seed(&r, 3);
    for (size_t i = 0; i < (size_t)T * W * 8; i++) acts[i] = rng_normal(&r);
    char dir[] = "/tmp/bench_cache_XXXXXX";
    if (!mkdtemp(dir)) return 1;
    size_t raw_bytes = (size_t)mib << 20;
    char *raw = malloc(raw_bytes < ((size_t)64 << 20) ? raw_bytes : ((size_t)64 << 20));
    memset(raw, 1, raw_bytes < ((size_t)64 << 20) ? raw_bytes : ((size_t)64 << 20));
    double page = raw_write(dir, raw, raw_bytes, 0), disk = raw_write(dir, raw, raw_bytes, 1),
           commit = raw_write(dir, raw, raw_bytes, 2);
    free(raw);
    printf("this process, %ld MiB in files of 64 MiB by write(): %.2f GB/s into the page cache, %.2f GB/s with fsync (the "
           "disk), %.2f GB/s with the writer's commit (fsync, rename, fsync of the folder, a manifest the same way)\n",
           mib, page, disk, commit);
    int failed = 0;
    for (int dt = 0; dt < 2; dt++) {
        CacheDtype type = dt ? CACHE_BF16 : CACHE_F32;
        char *cdir = path_join(dir, cache_dtype_name(type));
        long wbytes = (long)T * W * (long)cache_dtype_size(type);
        CacheMeta meta = bench_cache_meta("blocks.6.mlp.hook_pre", W, T, type, (mib << 20) / wbytes, (64L << 20) / wbytes);
        CacheWriter w;
        if (cache_writer_open(&w, cdir, &meta) != 0) { fprintf(stderr, "%s\n", err_get()); return 1; }
        double bytes = (double)meta.windows_total * wbytes, sum = 0, sq = 0, t_pack = 0, t_commit = 0, t0 = time_now();
        for (long i = 0; i < meta.windows_total; i++) {
            const float *rows[1] = {acts + (size_t)(i % 8) * T * W};
            double t = time_now();
            if (cache_writer_window(&w, rows, NULL, T) != 0) { fprintf(stderr, "%s\n", err_get()); return 1; }
            t = time_now() - t;
            if (w.win_in_shard == 0) t_commit += t; else t_pack += t;   /* this window filled a shard: it committed it */
        }
        double t = time_now();
        if (cache_writer_close(&w) != 0) { fprintf(stderr, "%s\n", err_get()); return 1; }
        t_commit += time_now() - t;
        double tw = time_now() - t0;
        printf("cache %s writer: %.0f MiB in %.2fs = %.2f GB/s (packing rows %.2fs = %.1f GB/s; committing shards of 64 MiB, "
               "write + fsync + rename + manifest, %.2fs = %.2f GB/s)\n",
               cache_dtype_name(type), bytes / 1048576, tw, bytes / tw / 1e9, t_pack, bytes / t_pack / 1e9, t_commit,
               bytes / t_commit / 1e9);
        /* what the reader must give back: every row once, rounded as stored */
        float *one = malloc((size_t)W * sizeof(float));
        void *packed = malloc((size_t)W * 4);
        for (long i = 0; i < meta.windows_total; i++)
            for (int p = 0; p < T; p++) {
                cache_pack(packed, acts + ((size_t)(i % 8) * T + p) * W, (size_t)W, type);
                cache_unpack(one, packed, (size_t)W, type);
                for (int c = 0; c < W; c++) sum += one[c], sq += (double)one[c] * one[c];
            }
        for (int warm = 0; warm < 2; warm++) {
            double rsum = 0, rsq = 0, t_read = 0, rbytes = 0;
            long R = 0;
            if (!warm) evict(cdir, &meta);
            if (read_epoch(cdir, W, &rsum, &rsq, &t_read, &rbytes, &R) != 0) { fprintf(stderr, "%s\n", err_get()); return 1; }
            int ok = fabs(rsum - sum) <= 1e-6 * sq && fabs(rsq - sq) <= 1e-9 * sq && R == meta.windows_total * T;
            failed |= !ok;
            if (!warm)
                printf("check %s: the reader gave back %ld rows, sum %.6g (written %.6g), sum of squares %.9g (%.9g): %s\n",
                       cache_dtype_name(type), R, rsum, sum, rsq, sq, ok ? "ok" : "FAIL");
            printf("cache %s reader (shuffled, groups of 2 shards, %s): %.2fs = %.2f GB/s of shard bytes, %.2f GB/s of "
                   "float32 rows\n", cache_dtype_name(type), warm ? "again, from the page cache" : "shards evicted from the page cache first",
                   t_read, rbytes / t_read / 1e9, (double)R * W * 4 / t_read / 1e9);
        }
        free(one), free(packed), free(cdir);
    }
    dir_remove_tree(dir);
    free(acts);
    return failed;
}
