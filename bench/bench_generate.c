/*
 * bench/bench_generate.c - generation on the CPU with the KV cache: a
 * 128-token prompt, then 256 new tokens one at a time (greedy, batch 1), on
 * a GPT-2 small checkpoint. bench/bench_generate_vs_torch.sh runs it next to
 * PyTorch with its own cache (bench/bench_generate_torch.py) in the same run.
 *
 *   build/bench/bench_generate [MODEL_DIR [PROMPT [NEW [reps]]]]
 *
 * Without MODEL_DIR: $GPT2SAE_BENCH_MODEL, else the cache's random GPT-2
 * small (as ./run --random-weights makes it), else a synthetic one written
 * to /tmp/gpt2sae_bench_gpt2_1337. Prompt ids: (7919 t + 13) mod V.
 *
 * Checks first: the cached logits of the first steps against a full pass over
 * the whole text (max |diff|, relative to the logits' scale), and that the
 * greedy tokens agree. Then times reps generations (best and median): the
 * prompt pass, the per-token time of the steps, tokens/s, and the bytes a
 * step reads (every weight once, plus the KV cache so far) per second,
 * against the machine's read bandwidth measured here in the same run (a
 * threaded sum over a 1 GiB buffer, best of 5).
 */
#include "bench/bench_model.h"
#include "core/pool.h"
#include "core/util.h"
#include "gpt2/gpt2.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* ---- the machine's read bandwidth: a sum over a buffer larger than the caches ---- */

typedef struct {
    const float *x;
    long n;
    double sums[256];
} ReadArgs;

static void read_chunk(void *ctx, int c0, int c1) {
    ReadArgs *a = ctx;
    long chunk = a->n / 1024;
    const float *p = a->x + (long)c0 * chunk, *end = a->x + (long)c1 * chunk;
#if defined(__AVX512F__)
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    for (; p + 64 <= end; p += 64) {
        s0 = _mm512_add_ps(s0, _mm512_load_ps(p));
        s1 = _mm512_add_ps(s1, _mm512_load_ps(p + 16));
        s2 = _mm512_add_ps(s2, _mm512_load_ps(p + 32));
        s3 = _mm512_add_ps(s3, _mm512_load_ps(p + 48));
    }
    a->sums[c0 % 256] = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
#else
    double s = 0;
    for (; p < end; p++) s += *p;
    a->sums[c0 % 256] = s;
#endif
}

static double read_bandwidth(void) {
    long n = (1L << 30) / sizeof(float);
    float *x = xmalloc_aligned((size_t)n * sizeof(float));
    for (long i = 0; i < n; i++) x[i] = (float)(i & 7);
    ReadArgs a = {x, n, {0}};
    double best = 1e30;
    for (int r = 0; r < 5; r++) {
        double t = time_now();
        pool_for(1024, 1, read_chunk, &a);
        t = time_now() - t;
        if (t < best) best = t;
    }
    free(x);
    return (double)n * sizeof(float) / best / 1e9;
}

/* ---- generation ---- */

static char *default_model(void) {
    const char *env = getenv("GPT2SAE_BENCH_MODEL");
    if (env && *env) return xstrdup(env);
    const char *home = getenv("GPT2SAE_CACHE");
    char *c = home && *home ? xstrdup(home) : path_join(getenv("HOME") ? getenv("HOME") : "/tmp", ".cache/gpt2sae");
    char *dir = path_join(c, "random-gpt2-seed0"), *st = path_join(dir, "model.safetensors");
    free(c);
    int have = path_is_file(st);
    free(st);
    if (have) return dir;
    free(dir);
    return xstrdup("/tmp/gpt2sae_bench_gpt2_1337");
}

int main(int argc, char **argv) {
    char *dir = argc > 1 ? xstrdup(argv[1]) : default_model();
    int P = argc > 2 ? atoi(argv[2]) : 128, N = argc > 3 ? atoi(argv[3]) : 256, reps = argc > 4 ? atoi(argv[4]) : 3;
    GPT2Model m;
    if (bench_model_load(&m, dir, 1, "bench_generate") != 0) return 1;
    const GPT2Config *c = &m.cfg;
    int V = c->vocab_size, C = c->n_embd, L = c->n_layer;
    if (P < 1 || N < 1 || reps < 1 || P + N > c->n_ctx) {
        fprintf(stderr, "usage: bench_generate [MODEL_DIR [PROMPT [NEW [reps]]]] with PROMPT + NEW <= n_ctx %d\n",
                c->n_ctx);
        return 2;
    }
    int32_t *ids = xmalloc((size_t)(P + N) * sizeof(int32_t));
    for (int t = 0; t < P; t++) ids[t] = (int32_t)((7919L * t + 13) % V);
    GPT2Forward f;
    gpt2_forward_init(&f, &m);

    /* check: 4 greedy steps, the cached logits against full passes over the whole text */
    {
        GPT2KVCache kv;
        if (gpt2_kv_init(&kv, c) != 0) return 1;
        float *lc = xmalloc((size_t)V * 4), *lf = xmalloc((size_t)(P + 4) * V * 4);
        double worst = 0, scale = 0;
        int n = P, agree = 1, rc = gpt2_forward_cached(&f, &kv, ids, P, lc, 1);
        for (int s = 0; s < 4 && rc == 0; s++) {
            rc = gpt2_forward(&f, ids, n, lf);
            const float *full = lf + (long)(n - 1) * V;
            int bc = 0, bf = 0;
            for (int j = 0; j < V; j++) {
                double d = fabs((double)lc[j] - full[j]);
                if (!(d <= worst)) worst = d;
                if (fabs(full[j]) > scale) scale = fabs(full[j]);
                if (lc[j] > lc[bc]) bc = j;
                if (full[j] > full[bf]) bf = j;
            }
            agree &= bc == bf;
            ids[n++] = bc;
            if (rc == 0) rc = gpt2_forward_cached(&f, &kv, &ids[n - 1], 1, lc, 1);
        }
        gpt2_kv_free(&kv);
        free(lc), free(lf);
        printf("check: cached vs full-pass logits over 4 steps: max |diff| %.3g (%.2g of max |logit| %.3g), greedy "
               "tokens %s\n", worst, worst / scale, scale, agree ? "agree" : "DIFFER");
        if (rc != 0 || !(worst <= 1e-5 * (scale > 1 ? scale : 1)) || !agree) {
            printf("FAIL: %s\n", rc ? err_get() : "the cached logits differ from the full pass");
            return 1;
        }
    }

    /* what one step reads: every weight once (the tied embedding twice: a row for the
     * token, all of it for the logits; the row is negligible), and the cache so far */
    double wbytes = 4.0 * ((double)L * (12.0 * C * C + 13.0 * C) + (double)V * C + 2.0 * C);
    double kvbytes = 4.0 * 2.0 * L * C * (P + N / 2.0); /* mean over the steps */
    double bw = read_bandwidth();
    printf("model %s (L=%d C=%d V=%d), prompt %d, %d new tokens, batch 1, greedy, threads %d, simd %s\n", c->name, L,
           C, V, P, N, pool_threads(), cpu_simd_level());
    printf("machine read bandwidth (threaded sum over 1 GiB, best of 5): %.1f GB/s\n", bw);

    double *tp = xmalloc((size_t)reps * sizeof(double)), *ts = xmalloc((size_t)reps * sizeof(double));
    int32_t first[16]; /* the first greedy tokens, printed for the driver to compare with PyTorch's */
    for (int r = -1; r < reps; r++) { /* r = -1: a warm-up that faults the mmap'ed weights in */
        GPT2KVCache kv;
        gpt2_kv_init(&kv, c);
        float *lg = xmalloc((size_t)V * 4);
        double t0 = time_now();
        gpt2_forward_cached(&f, &kv, ids, P, lg, 1);
        double t1 = time_now();
        for (int s = 0; s < N - 1; s++) { /* N tokens: the first from the prompt's logits */
            int32_t best = 0;
            for (int j = 1; j < V; j++)
                if (lg[j] > lg[best]) best = j;
            if (s < 16) first[s] = best;
            gpt2_forward_cached(&f, &kv, &best, 1, lg, 1);
        }
        double t2 = time_now();
        if (r >= 0) tp[r] = t1 - t0, ts[r] = (t2 - t1) / (N - 1);
        gpt2_kv_free(&kv);
        free(lg);
    }
    printf("C greedy tokens:");
    for (int s = 0; s < 16 && s < N - 1; s++) printf(" %d", (int)first[s]);
    printf("\n");
    qsort(tp, reps, sizeof(double), cmp_double);
    qsort(ts, reps, sizeof(double), cmp_double);
    double best_total = tp[0] + ts[0] * (N - 1);
    printf("C prompt pass (%d tokens): best %8.2f ms  median %8.2f ms\n", P, tp[0] * 1e3, tp[reps / 2] * 1e3);
    printf("C per new token:          best %8.2f ms  median %8.2f ms\n", ts[0] * 1e3, ts[reps / 2] * 1e3);
    printf("C tokens/s (new tokens / decode time): best %.1f  median %.1f; with the prompt pass: %.1f\n", 1 / ts[0],
           1 / ts[reps / 2], N / best_total);
    printf("C bytes per step: weights %.0f MB + KV cache %.0f MB (mean): %.1f GB/s achieved (weights alone %.1f GB/s), "
           "%.0f%% of the measured %.1f GB/s\n", wbytes / 1e6, kvbytes / 1e6, (wbytes + kvbytes) / ts[0] / 1e9,
           wbytes / ts[0] / 1e9, 100.0 * (wbytes + kvbytes) / ts[0] / 1e9 / bw, bw);
    gpt2_forward_free(&f);
    gpt2_model_free(&m);
    free(ids), free(tp), free(ts), free(dir);
    return 0;
}
