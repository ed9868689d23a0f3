/*
 * bench/bench_harvest.c - harvesting: the batched capture-only forward of
 * GPT-2 small (synthetic weights, ./run synth --seed 1337) to
 * blocks.6.mlp.hook_pre at B = 32 windows x 128 tokens, in tokens/s (checked
 * first against one window at a time); then the activation cache's writer
 * and reader (float32 and bfloat16) in GB/s of shard bytes, fsync included.
 *   build/bench/bench_harvest [MODEL_DIR] [reps] [cache MiB]
 * bench/bench_harvest_vs_torch.sh runs it beside PyTorch on the same weights.
 */
#include "bench/bench_cache.h"
#include "bench/bench_model.h"
#include "core/dir.h"
#include "core/util.h"
#include "data/cache.h"
#include "gpt2/gpt2.h"
#include "gpt2/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { B = 32, T = 128, LAYER = 6 };

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "/tmp/gpt2sae_bench_gpt2_1337";
    int reps = argc > 2 ? atoi(argv[2]) : 3;
    long mib = argc > 3 ? atol(argv[3]) : 256;
    GPT2Model m;
    if (bench_model_load(&m, dir, 1, "bench_harvest") != 0) return 1;
    int W4 = 4 * m.cfg.n_embd, V = m.cfg.vocab_size;
    int32_t *ids = malloc(sizeof(int32_t) * B * T);
    for (int i = 0; i < B * T; i++) ids[i] = (int32_t)((7919L * i + 13) % V);
    float *acts = malloc((size_t)B * T * W4 * sizeof(float)), *one = malloc((size_t)T * W4 * sizeof(float));
    GPT2Forward f;
    gpt2_forward_init(&f, &m);
    gpt2_forward_add_hook(&f, LAYER, GPT2_MLP_PRE, gpt2_hook_copy, acts);
    if (gpt2_forward_batch(&f, ids, B, T) != 0) { fprintf(stderr, "%s\n", err_get()); return 1; }
    /* check: window 17 alone */
    GPT2Forward g;
    gpt2_forward_init(&g, &m);
    gpt2_capture(&g, ids + 17 * T, T, LAYER, GPT2_MLP_PRE, one);
    double worst = 0;
    for (long i = 0; i < (long)T * W4; i++) {
        double d = fabs(one[i] - acts[(size_t)17 * T * W4 + i]) / (1e-4 + fabs(one[i]));
        if (d > worst) worst = d;
    }
    printf("check: batch window 17 vs alone, worst relative difference %.2e %s\n", worst, worst < 1e-3 ? "ok" : "FAIL");
    if (worst >= 1e-3) return 1;
    gpt2_forward_free(&g);
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = time_now();
        gpt2_forward_batch(&f, ids, B, T);
        double dt = time_now() - t0;
        if (dt < best) best = dt;
    }
    printf("C harvest %dx%d to blocks.%d.mlp.hook_pre: best %.1f ms = %.0f tokens/s\n", B, T, LAYER, best * 1e3,
           B * T / best);

    /* the cache: mib MiB of rows of width 4C, written then read (one epoch, shuffled) */
    for (int dt = 0; dt < 2; dt++) {
        CacheDtype type = dt ? CACHE_BF16 : CACHE_F32;
        char tmpl[] = "/tmp/bench_cache_XXXXXX";
        if (!mkdtemp(tmpl)) return 1;
        long wbytes = (long)T * W4 * (long)cache_dtype_size(type);
        CacheMeta meta = bench_cache_meta("blocks.6.mlp.hook_pre", W4, T, type, (mib << 20) / wbytes, (64L << 20) / wbytes);
        CacheWriter w;
        if (cache_writer_open(&w, tmpl, &meta) != 0) { fprintf(stderr, "%s\n", err_get()); return 1; }
        double t0 = time_now();
        for (long i = 0; i < meta.windows_total; i++) {
            const float *rows[1] = {acts + (size_t)(i % B) * T * W4};
            if (cache_writer_window(&w, rows, NULL, T) != 0) { fprintf(stderr, "%s\n", err_get()); return 1; }
        }
        double bytes = w.bytes_written;
        cache_writer_close(&w);
        double tw = time_now() - t0;
        CacheReader r;
        if (cache_reader_open(&r, tmpl, NULL, 2, 1) != 0) { fprintf(stderr, "%s\n", err_get()); return 1; }
        long R = cache_reader_rows(&r), n = 4096;
        float *X = malloc((size_t)n * W4 * sizeof(float));
        t0 = time_now();
        for (long i = 0; i < R; i += n) cache_reader_next(&r, X, R - i < n ? R - i : n);
        double tr = time_now() - t0;
        printf("cache %s: %.0f MiB written in %.2fs = %.2f GB/s (fsync'd shards of 64 MiB); read shuffled in %.2fs = "
               "%.2f GB/s of shard bytes (%.2f GB/s of float32 rows)\n",
               cache_dtype_name(type), bytes / 1048576, tw, bytes / tw / 1e9, tr, r.bytes_read / tr / 1e9,
               (double)R * W4 * 4 / tr / 1e9);
        free(X);
        cache_reader_close(&r);
        dir_remove_tree(tmpl);
    }
    gpt2_forward_free(&f);
    gpt2_model_free(&m);
    free(ids), free(acts), free(one);
    return 0;
}
