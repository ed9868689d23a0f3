/*
 * bench/bench_fma.h - the machine's FMA peak, the denominator of the CPU
 * benches' "% of peak" (bench/bench_gemm.c, bench/bench_sae_arch.c).
 *
 *   double peak1 = bench_fma_gflops(1);        // one core, alone
 *   double peakn = bench_fma_gflops(nt);       // nt threads at once
 *
 * A loop of 10 independent 16-lane AVX-512 FMA chains (enough to keep both
 * FMA units of these Xeons busy: 2 x 16 lanes x 2 flops per cycle), best of
 * 3. 0 where the build has no AVX-512.
 */
#ifndef BENCH_BENCH_FMA_H
#define BENCH_BENCH_FMA_H

#include "core/pool.h"
#include "core/util.h"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#define BENCH_FMA_ITERS 2000000L

static volatile float bench_fma_sink;

/* 10 independent FMA chains of 16 lanes, BENCH_FMA_ITERS iterations: 320 flops per iteration. */
static inline void bench_fma_loop(void *ctx, int i0, int i1) {
    (void)ctx;
#if defined(__AVX512F__)
    for (int it = i0; it < i1; it++) {
        __m512 a[10], b = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
        for (int j = 0; j < 10; j++) a[j] = _mm512_set1_ps((float)j);
        for (long n = 0; n < BENCH_FMA_ITERS; n++)
#pragma GCC unroll 10
            for (int j = 0; j < 10; j++) a[j] = _mm512_fmadd_ps(a[j], b, c);
        float s = 0;
        for (int j = 0; j < 10; j++) s += _mm512_reduce_add_ps(a[j]);
        bench_fma_sink = s;
    }
#else
    (void)i0, (void)i1;
#endif
}

/* FMA GFLOP/s of nt threads at once (nt = 1: the calling thread alone). */
static inline double bench_fma_gflops(int nt) {
#if defined(__AVX512F__)
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        double t = time_now();
        if (nt == 1) bench_fma_loop(NULL, 0, 1);
        else pool_for(nt, 1, bench_fma_loop, NULL);
        t = time_now() - t;
        double g = nt * (double)BENCH_FMA_ITERS * 10 * 16 * 2 / t / 1e9;
        if (g > best) best = g;
    }
    return best;
#else
    (void)nt;
    return 0;
#endif
}

#endif
