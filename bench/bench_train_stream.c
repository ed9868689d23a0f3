/*
 * bench/bench_train_stream.c - streaming training from the activation
 * cache: a topk SAE (sae/arch.h, AuxK on) at the field's shape - d = 768
 * (GPT-2 small's residual stream), n = 24576 (32 d), k = 32, batch 4096 - fed
 * by the shuffled cache reader exactly as ./run train --cache feeds it
 * (train/stream.h: RowSource next, then the model's step), in tokens/s, with
 * the time split into reading and the step, wall and CPU seconds (the
 * machine may be shared). Then the same at a small batch (default 256), the
 * batch the PyTorch port is timed at by bench/bench_train_stream.sh (its
 * step at 4096 takes minutes here).
 *   build/bench/bench_train_stream [d n k B steps B_small]   default 768 24576 32 4096 3 256
 * Checked first: one epoch through the reader gives back every written row
 * once (row sums in any order); the steps' loss is finite and L0 = k.
 * Threads: pool_threads() ($GPT2SAE_THREADS).
 */
#include "bench/bench_cache.h"
#include "core/dir.h"
#include "core/pool.h"
#include "core/util.h"
#include "data/cache.h"
#include "train/stream.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { CTX = 128 };

static int arg(int argc, char **argv, int i, int def) { return argc > i ? atoi(argv[i]) : def; }

/* A cache of `windows` windows of CTX rows (d) in dir: activations with a
 * per-column offset and scale, as a residual stream has. Returns the sum of its rows. */
static double make_cache(const char *dir, int d, long windows) {
    CacheMeta meta = bench_cache_meta("blocks.6.hook_resid_pre", d, CTX, CACHE_F32, windows, 8);
    CacheWriter w;
    if (cache_writer_open(&w, dir, &meta) != 0) return NAN;
    float *rows = malloc((size_t)CTX * d * sizeof(float));
    Rng r;
    rng_seed(&r, 11);
    double sum = 0;
    for (long i = 0; i < windows; i++) {
        for (int t = 0; t < CTX; t++)
            for (int c = 0; c < d; c++) {
                float v = (1 + (c % 5)) * rng_normal(&r) + 0.5f * (float)(c % 7);
                rows[(size_t)t * d + c] = v;
                sum += v;
            }
        const float *h[1] = {rows};
        if (cache_writer_window(&w, h, NULL, CTX) != 0) { cache_writer_abort(&w); free(rows); return NAN; }
    }
    free(rows);
    return cache_writer_close(&w) == 0 ? sum : NAN;
}

typedef struct {
    double wall, cpu, read, loss0, loss, l0;
} Timing;

/* steps timed steps (after one warm-up step) of batch B from the cache */
static int run(const char *dir, int d, int n, int k, int B, int steps, Timing *out) {
    CacheReader cr;
    if (cache_reader_open(&cr, dir, NULL, 4, 1) != 0) return -1;
    RowSource src = cache_reader_source(&cr);
    StreamTrain t = stream_train_default();
    t.p.batch = B;
    t.tokens = (double)(steps + 1) * B;
    SAEArchParams p = sae_arch_default_params(SAE_ARCH_TOPK, d, n);
    p.k = k;
    StreamArch a;
    if (stream_arch_init(&a, &p, &src, &t) != 0) { cache_reader_close(&cr); return -1; }
    StreamModel m = stream_arch_model(&a);
    float *X = xmalloc_aligned((size_t)B * d * sizeof(float));
    StreamStep st;
    int rc = src.next(src.self, X, B) || m.step(m.self, X, B, &st);   /* warm-up */
    out->loss0 = st.loss;
    double w0 = time_now(), c0 = cpu_now();
    out->read = 0;
    for (int s = 0; s < steps && rc == 0; s++) {
        double r0 = time_now();
        rc = src.next(src.self, X, B);
        out->read += time_now() - r0;
        if (rc == 0) rc = m.step(m.self, X, B, &st);
    }
    out->wall = (time_now() - w0) / steps, out->cpu = (cpu_now() - c0) / steps, out->read /= steps;
    out->loss = st.loss, out->l0 = st.l0;
    free(X);
    stream_arch_free(&a);
    cache_reader_close(&cr);
    return rc ? -1 : 0;
}

int main(int argc, char **argv) {
    const int d = arg(argc, argv, 1, 768), n = arg(argc, argv, 2, 24576), k = arg(argc, argv, 3, 32);
    const int B = arg(argc, argv, 4, 4096), steps = arg(argc, argv, 5, 3), Bs = arg(argc, argv, 6, 256);
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("streaming training from the cache: topk d=%d n=%d k=%d (AuxK k_aux=%d), %d threads (%s)\n", d, n, k, d / 2,
           pool_threads(), cpu_simd_level());
    char dir[] = "/tmp/bench_train_stream_XXXXXX";
    if (!mkdtemp(dir)) return 1;
    long windows = ((long)(steps + 1) * B + CTX - 1) / CTX;
    double sum = make_cache(dir, d, windows);
    if (isnan(sum)) { fprintf(stderr, "bench_train_stream: %s\n", err_get()); return 1; }
    /* check: one epoch through the reader */
    CacheReader cr;
    if (cache_reader_open(&cr, dir, NULL, 4, 1) != 0) { fprintf(stderr, "%s\n", err_get()); return 1; }
    long R = cache_reader_rows(&cr);
    float *X = malloc((size_t)R * d * sizeof(float));
    double rsum = 0, asum = 0;
    if (cache_reader_next(&cr, X, R) != 0) { fprintf(stderr, "%s\n", err_get()); return 1; }
    for (size_t e = 0; e < (size_t)R * d; e++) rsum += X[e], asum += fabs(X[e]);
    cache_reader_close(&cr);
    free(X);
    int ok = fabs(rsum - sum) <= 1e-9 * asum;
    printf("check: %ld rows written, one epoch read back: sum %.9g (written %.9g): %s\n", R, rsum, sum, ok ? "ok" : "FAIL");
    Timing big, small;
    if (!ok || run(dir, d, n, k, B, steps, &big) != 0) { fprintf(stderr, "bench_train_stream: %s\n", err_get()); return 1; }
    ok = isfinite(big.loss0) && isfinite(big.loss) && big.l0 == k;
    printf("check: loss %.5g after the warm-up step, %.5g after %d more, L0 %.2f (k = %d): %s\n", big.loss0, big.loss,
           steps, big.l0, k, ok ? "ok" : "FAIL");
    if (!ok) return 1;
    printf("ours  topk batch %d: %.1f tokens/s (%.3f s/step wall, of it %.1f ms reading the cache; %.2f CPU s/step)\n", B,
           B / big.wall, big.wall, 1e3 * big.read, big.cpu);
    if (Bs > 0) {
        if (run(dir, d, n, k, Bs, steps + 1, &small) != 0) { fprintf(stderr, "bench_train_stream: %s\n", err_get()); return 1; }
        printf("ours  topk batch %d: %.1f tokens/s (%.3f s/step wall, of it %.1f ms reading the cache; %.2f CPU s/step)\n",
               Bs, Bs / small.wall, small.wall, 1e3 * small.read, small.cpu);
    }
    dir_remove_tree(dir);
    return 0;
}
