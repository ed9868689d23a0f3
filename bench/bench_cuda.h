/*
 * bench/bench_cuda.h - what the CUDA benchmarks share (llm.c dev/cuda style):
 * check the result first, then time with CUDA events after a warm-up, with
 * the L2 cache flushed before every timed run, and report the median.
 *
 *   double ms = bench_time_ms(run_fn, &ctx, 3, 20);   // median of 20, L2 cold
 *   bench_result("matmul", "T=1024 C=768 OC=3072 fp32", ms, flops, bytes);
 *
 * bench_result prints one "RESULT" line (cuda/device_check.sh gathers them
 * into its closing table) with ms, TFLOP/s and GB/s against the H100 SXM's
 * datasheet peaks (FP32 SIMT 67 TFLOP/s, TF32 dense 495, HBM3 3.35 TB/s).
 * Without a GPU the benchmarks print "skip" and exit 0.
 */
#ifndef BENCH_BENCH_CUDA_H
#define BENCH_BENCH_CUDA_H

#include "core/util.h"
#include "cuda/cuda.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if GS_CUDA
#include <cuda_runtime.h>
#endif

#define H100_FP32_TFLOPS 67.0
#define H100_TF32_TFLOPS 495.0
#define H100_HBM_GBS 3350.0

/* 1 if there is a GPU to time on; else prints why not and returns 0. */
static inline int bench_gpu_ready(const char *name) {
    char desc[256];
    if (!cuda_available() || cuda_describe(desc, sizeof desc) != 0) {
        printf("%s: skip: no CUDA device (or a build without CUDA)\n", name);
        return 0;
    }
    printf("%s on %s\n", name, desc);
    return 1;
}

typedef int (*BenchFn)(void *ctx);

static inline int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median milliseconds of `reps` runs of fn (after `warm` runs), each timed
 * alone with CUDA events, the L2 flushed before it. Negative on error. */
static inline double bench_time_ms(BenchFn fn, void *ctx, int warm, int reps) {
#if GS_CUDA
    for (int i = 0; i < warm; i++)
        if (fn(ctx) != 0) {
            fprintf(stderr, "bench_time_ms: warm-up: %s\n", err_get());
            return -1;
        }
    double *t = (double *)xmalloc((size_t)reps * sizeof(double));
    cudaEvent_t a, b;
    if (cudaEventCreate(&a) != cudaSuccess || cudaEventCreate(&b) != cudaSuccess) return -1;
    for (int i = 0; i < reps; i++) {
        float ms = 0;
        if (cuda_flush_l2() != 0 || cudaEventRecord(a, 0) != cudaSuccess || fn(ctx) != 0 ||
            cudaEventRecord(b, 0) != cudaSuccess || cudaEventSynchronize(b) != cudaSuccess ||
            cudaEventElapsedTime(&ms, a, b) != cudaSuccess) {
            fprintf(stderr, "bench_time_ms: %s / %s\n", err_get(), cudaGetErrorString(cudaGetLastError()));
            free(t);
            return -1;
        }
        t[i] = ms;
    }
    if (cudaEventDestroy(a) != cudaSuccess || cudaEventDestroy(b) != cudaSuccess) return -1;
    qsort(t, (size_t)reps, sizeof(double), cmp_double);
    double med = t[reps / 2];
    free(t);
    if (cuda_sync() != 0) return -1;
    return med;
#else
    (void)fn, (void)ctx, (void)warm, (void)reps;
    return -1;
#endif
}

/* One RESULT line: name, configuration, ms, and the rates (0 = not counted). */
static inline void bench_result(const char *name, const char *config, double ms, double flops, double bytes,
                                double peak_tflops) {
    printf("RESULT %-12s %-44s %9.4f ms", name, config, ms);
    if (flops > 0) printf("  %7.2f TFLOP/s (%4.1f%% of %.0f)", flops / ms / 1e9, 100.0 * flops / ms / 1e9 / peak_tflops,
                          peak_tflops);
    if (bytes > 0) printf("  %7.1f GB/s (%4.1f%% of HBM)", bytes / ms / 1e6, 100.0 * bytes / ms / 1e6 / H100_HBM_GBS);
    printf("\n");
    fflush(stdout);
}

/* Relative Frobenius error of a against the reference b. */
static inline double bench_rel_err(const float *a, const float *b, long n) {
    double num = 0, den = 0;
    for (long i = 0; i < n; i++) {
        double d = (double)a[i] - b[i];
        num += d * d, den += (double)b[i] * b[i];
    }
    return isfinite(num) && den > 0 ? sqrt(num / den) : INFINITY;
}

/* A device buffer of n uniform(-scale, scale) floats (NULL on failure, printed). */
static inline float *bench_dev_rand(long n, unsigned long long seed, float scale) {
    float *d = NULL;
    if (cuda_malloc((void **)&d, (size_t)n * sizeof(float)) != 0 || cuda_fill_uniform(d, (size_t)n, seed, scale) != 0) {
        fprintf(stderr, "bench: %s\n", err_get());
        cuda_free(d);
        return NULL;
    }
    return d;
}

/* Copy n floats back (NaN-filled on failure). */
static inline float *bench_host(const float *d, long n) {
    float *h = (float *)xmalloc((size_t)n * sizeof(float));
    if (cuda_download(h, d, (size_t)n * sizeof(float)) != 0) {
        fprintf(stderr, "bench: %s\n", err_get());
        for (long i = 0; i < n; i++) h[i] = NAN;
    }
    return h;
}

#endif
