/*
 * bench/bench_sae.c - the seed's SAE configuration (T=220, d=3072, L=6144,
 * k=1024) trained for 100 epochs: our fast path against the seed's PyTorch
 * code (bench/bench_sae_torch.py, Debian's python3-torch, 2 threads) in the
 * same run, on the same inputs.
 *
 *   build/bench/bench_sae                   # 100 epochs each, 2 threads each
 *   SAE_BENCH_EPOCHS=20 SAE_BENCH_TORCH_EPOCHS=5 build/bench/bench_sae
 *
 * First it checks: one fast step against the reference step (gradient and
 * losses), and every epoch's losses against PyTorch's. Then it reports
 * seconds per epoch, the speed-up, and the achieved GFLOP/s.
 *
 * Both wall-clock and CPU time are reported: on a shared machine the wall
 * clock mostly measures the other tenants, while CPU seconds (both sides
 * use 2 threads) measure the work.
 *
 * The breakdown trains the same epochs step by step and reports each part of
 * the step in CPU seconds per epoch, with its rate against this machine's
 * measured FMA peak (one core's loop of independent AVX-512 FMAs, per CPU
 * second, times the threads) and its memory bandwidth (one core streaming
 * like Adam: three arrays read, three written). SAE_BENCH_PROF_EPOCHS=0
 * skips it.
 */
#include "core/pool.h"
#include "core/util.h"
#include "sae/sae.h"
#include "sae/sae_internal.h"
#include "tests/test_sae_golden.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

/* CPU seconds (user + system) used by this process, or by its finished children */
static double cpu_seconds(int who) {
    struct rusage u;
    getrusage(who, &u);
    return u.ru_utime.tv_sec + 1e-6 * u.ru_utime.tv_usec + u.ru_stime.tv_sec + 1e-6 * u.ru_stime.tv_usec;
}

/* CPU seconds of the calling thread */
static double thread_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* One core's fp32 FMA rate, GFLOP per CPU second: 10 independent chains of
 * 16-lane FMAs (best of 3); 0 without AVX-512. */
static double fma_gflops(void) {
#if defined(__AVX512F__)
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        __m512 a[10], b = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
        for (int j = 0; j < 10; j++) a[j] = _mm512_set1_ps((float)j);
        const long n = 5000000;
        double t = thread_seconds();
        for (long i = 0; i < n; i++)
#pragma GCC unroll 10
            for (int j = 0; j < 10; j++) a[j] = _mm512_fmadd_ps(a[j], b, c);
        t = thread_seconds() - t;
        float s = 0;
        for (int j = 0; j < 10; j++) s += _mm512_reduce_add_ps(a[j]);
        volatile float sink = s;
        (void)sink;
        if (t > 0 && n * 320.0 / t * 1e-9 > best) best = n * 320.0 / t * 1e-9;
    }
    return best;
#else
    return 0;
#endif
}

/* (restrict: six unrelated arrays, so that the loop is vectorized) */
static void stream_pass(float *restrict x, float *restrict y, float *restrict z, const float *restrict a,
                        const float *restrict b, const float *restrict c, size_t n) {
    for (size_t i = 0; i < n; i++) {
        x[i] = a[i] + b[i];
        y[i] = b[i] * c[i];
        z[i] = a[i] - c[i];
    }
}

/* One core's memory bandwidth in Adam's pattern, GB per CPU second: three
 * arrays of n floats read, three written (best of 5). */
static double stream_gbs(void) {
    const size_t n = 8u << 20;   /* 32 MB per array: well past the caches */
    float *a = xmalloc(n * sizeof(float)), *b = xmalloc(n * sizeof(float)), *c = xmalloc(n * sizeof(float));
    float *x = xmalloc(n * sizeof(float)), *y = xmalloc(n * sizeof(float)), *z = xmalloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) a[i] = b[i] = c[i] = x[i] = y[i] = z[i] = 1.0f;   /* every page touched */
    double best = 0;
    for (int rep = 0; rep < 5; rep++) {
        double t = thread_seconds();
        stream_pass(x, y, z, a, b, c, n);
        t = thread_seconds() - t;
        if (t > 0 && 6.0 * n * sizeof(float) / t * 1e-9 > best) best = 6.0 * n * sizeof(float) / t * 1e-9;
    }
    free(a); free(b); free(c); free(x); free(y); free(z);
    return best;
}

static int env_int(const char *name, int def) {
    const char *v = getenv(name);
    long x;
    return v && parse_int(v, &x) == 0 && x > 0 ? (int)x : def;
}

int main(void) {
    const int T = 220, d = 3072, L = 6144, k = 1024, seed = 11;
    int epochs = env_int("SAE_BENCH_EPOCHS", 100);
    int tepochs = env_int("SAE_BENCH_TORCH_EPOCHS", epochs);
    if (!getenv("GPT2SAE_THREADS")) pool_set_threads(2);   /* as many threads as PyTorch gets */
    printf("SAE, seed configuration: T=%d d=%d L=%d k=%d; %d threads (%s)\n", T, d, L, k, pool_threads(), cpu_simd_level());
    float *X = malloc(sizeof(float) * T * d), *W = malloc(sizeof(float) * (size_t)L * d);
    sae_test_inputs(T, d, L, seed, X, W);
    SAE sae;
    sae_init_weights(&sae, d, L, k, W);
    SAEParams p = sae_default_params();

    /* 1. correctness: one step, fast against the reference */
    float *g1 = malloc(sizeof(float) * (size_t)L * d), *g2 = malloc(sizeof(float) * (size_t)L * d);
    SAELosses a, b;
    double t0 = time_now();
    sae_loss_grad_ref(&sae, X, T, p.sparsity_weight, p.decor_weight, g1, NULL, &a);
    double t_ref = time_now() - t0;
    t0 = time_now();
    sae_loss_grad(&sae, X, T, p.sparsity_weight, p.decor_weight, g2, NULL, &b);
    double t_fast1 = time_now() - t0;
    double num = 0, den = 0;
    for (size_t i = 0; i < (size_t)L * d; i++) {
        num += ((double)g2[i] - g1[i]) * ((double)g2[i] - g1[i]);
        den += (double)g1[i] * g1[i];
    }
    double gerr = sqrt(num / den);
    int ok = gerr < 1e-4 && fabs(a.total - b.total) < 1e-5 * a.total && fabs(a.decor - b.decor) < 1e-3 * a.decor;
    printf("check: one step, fast vs reference: gradient rel. error %.2e, loss %.8g vs %.8g, decor %.6g vs %.6g: %s\n", gerr,
           b.total, a.total, b.decor, a.decor, ok ? "ok" : "FAIL");
    printf("one step (loss + gradient, no Adam): reference %.3fs, fast %.3fs (%.1fx)\n", t_ref, t_fast1, t_ref / t_fast1);
    free(g1); free(g2);

    /* where a fast step's time goes: the same epochs step by step (as
     * sae_train does with a full batch), on a copy of W */
    double fma1 = fma_gflops(), gbs1 = stream_gbs();
    double peak = fma1 * pool_threads();
    printf("machine: FMA peak %.1f GFLOP/s per core-second (x %d threads = %.0f), memory %.1f GB/s per core-second "
           "(three arrays read, three written)\n", fma1, pool_threads(), peak, gbs1);
    double mean_nnz = (double)T * k;   /* nonzeros of ẑ per epoch: measured below, at most T*k */
    const char *pe = getenv("SAE_BENCH_PROF_EPOCHS");
    int pepochs = pe && strcmp(pe, "0") == 0 ? 0 : env_int("SAE_BENCH_PROF_EPOCHS", epochs);
    if (pepochs > 0) {
        SAEWork w;
        sae_work_init(&w, T, d, L);
        SAEAdam adam;
        sae_adam_init(&adam, (long)L * d);
        SAE s2;
        sae_init_weights(&s2, d, L, k, W);
        float *W2 = malloc(sizeof(float) * (size_t)L * d);
        SAELosses l;
        double nnz = 0, live = 0;
        for (int i = 0; i < pepochs; i++) {
            if (sae_step_fast(&w, &s2, X, T, p.sparsity_weight, p.decor_weight, NULL, &adam, &p, W2, NULL, &l) != 0) break;
            float *tmp = s2.W; s2.W = W2; W2 = tmp;
            nnz += w.row_ptr[T];
            live += w.nlive;
        }
        double tot = 0;
        for (int i = 0; i < 7; i++) tot += w.prof[i];
        mean_nnz = nnz / pepochs;
        printf("fast step breakdown over %d epochs (mean %.0f nonzeros of %d x %d, %.0f live latents), CPU-s per epoch: total %.4f\n",
               pepochs, nnz / pepochs, T, L, live / pepochs, tot / pepochs);
        /* useful work of each part, per epoch: the dense encoder; the decoder
         * and the three sparse products of the backward pass, 2 d FLOP per
         * nonzero each; Adam's 6 arrays of L d floats */
        double fl[7] = {2.0 * T * L * d, 0, 0, 2.0 * d * nnz / pepochs, 0, 0, 6.0 * d * nnz / pepochs};
        double adam_gb = 6.0 * L * d * sizeof(float) * 1e-9;
        for (int i = 0; i < 7; i++) {
            double cpe = w.prof[i] / pepochs;
            printf("  %-14s %.4f CPU-s", sae_prof_names[i], cpe);
            if (fl[i] > 0 && cpe > 0)
                printf("  %6.1f GFLOP per CPU-s = %3.0f%% of one core's FMA peak", fl[i] / cpe * 1e-9, fma1 > 0 ? 100 * fl[i] / cpe * 1e-9 / fma1 : 0);
            if (i == 6) printf(" (with Adam's %.2f GB: alone at the streaming rate %.4f CPU-s)", adam_gb, adam_gb / gbs1);
            printf("\n");
        }
        free(W2);
        sae_free(&s2);
        sae_adam_free(&adam);
        sae_work_free(&w);
    }

    /* 2. ours: `epochs` full-batch epochs, timed */
    p.epochs = epochs;
    p.want_latents = 0;
    SAEResult r;
    t0 = time_now();
    double c0 = cpu_seconds(RUSAGE_SELF);
    sae_train(&sae, X, T, &p, &r);
    double t_ours = time_now() - t0, cpu_ours = cpu_seconds(RUSAGE_SELF) - c0;
    double per_ours = t_ours / epochs, cper_ours = cpu_ours / epochs;
    /* useful work per epoch: the dense encoder, and per nonzero of ẑ (the
     * breakdown's mean, else at most T*k) the decoder, g_Ẑ and the two halves
     * of g_W, each a d-long multiply-add */
    double flops = 2.0 * T * L * d + 4 * 2.0 * mean_nnz * d;
    printf("ours:    %d epochs in %.2fs wall, %.4fs/epoch; %.2f CPU-s, %.4f CPU-s/epoch; %.1f GFLOP/s wall, %.1f per CPU-s "
           "(encoder + sparse products)\n", epochs, t_ours, per_ours, cpu_ours, cper_ours, flops / per_ours * 1e-9,
           flops / cper_ours * 1e-9);

    if (peak > 0) printf("         = %.0f%% wall, %.0f%% CPU time, of the measured fp32 peak (%d threads: %.0f GFLOP/s)\n",
                         100 * flops / per_ours * 1e-9 / peak, 100 * flops / cper_ours * 1e-9 / fma1, pool_threads(), peak);

    /* 3. the seed's PyTorch code, same inputs, same run */
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE TORCH_THREADS=2 OMP_NUM_THREADS=2 "
             "/usr/bin/python3 bench/bench_sae_torch.py %d 2>&1", tepochs);
    double cc0 = cpu_seconds(RUSAGE_CHILDREN), tw0 = time_now();
    FILE *f = popen(cmd, "r");
    double t_torch = -1;
    double worst[3] = {0, 0, 0};
    int nloss = 0;
    char line[512];
    while (f && fgets(line, sizeof line, f)) {
        int e;
        double v[3];
        if (sscanf(line, "loss %d %lf %lf %lf", &e, &v[0], &v[1], &v[2]) == 4 && e >= 1 && e <= r.epochs_done) {
            double ours[3] = {r.losses[e - 1].total, r.losses[e - 1].sparsity, r.losses[e - 1].decor};
            for (int c = 0; c < 3; c++) worst[c] = fmax(worst[c], fabs(ours[c] - v[c]) / fabs(v[c]));
            nloss++;
        } else if (sscanf(line, "seconds %lf", &t_torch) == 1) {
        } else {
            printf("  torch: %s", line);
        }
    }
    if (f) pclose(f);
    double cpu_torch = cpu_seconds(RUSAGE_CHILDREN) - cc0, tw_torch = time_now() - tw0;
    /* the child's CPU time includes starting Python and making the inputs: take
     * that share out in proportion to the wall time outside the training loop */
    if (t_torch > 0 && tw_torch > t_torch) cpu_torch *= t_torch / tw_torch;
    if (t_torch < 0) {
        printf("baseline: PyTorch did not run (needs /usr/bin/python3 with python3-torch); no ratio\n");
    } else {
        double per_torch = t_torch / tepochs;
        int lok = worst[0] <= 1e-3 && worst[1] <= 1e-3 && worst[2] <= 3e-2;
        printf("check: %d epochs' losses vs PyTorch: worst rel. error total %.1e, sparsity %.1e, decor %.1e: %s\n", nloss,
               worst[0], worst[1], worst[2], lok ? "ok" : "FAIL");
        double cper_torch = cpu_torch / tepochs;
        printf("PyTorch: %d epochs in %.2fs wall, %.4fs/epoch; ~%.2f CPU-s, %.4f CPU-s/epoch\n", tepochs, t_torch, per_torch,
               cpu_torch, cper_torch);
        printf("speed-up: %.1fx wall, %.1fx CPU time, per epoch (goal >= 10x)%s\n", per_torch / per_ours, cper_torch / cper_ours,
               tepochs == epochs ? "" : " (epoch counts differ: per-epoch times compared)");
    }
    sae_result_free(&r);
    sae_free(&sae);
    free(X); free(W);
    return 0;
}
