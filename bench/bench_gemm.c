/*
 * bench/bench_gemm.c - GFLOP/s of the fast gemm on GPT-2 small's shapes
 * (T = 220 tokens), against the machine's measured FMA peak.
 *
 *   build/bench/bench_gemm [T] [reps]
 *
 * Checks first: sampled entries of each product against a double-precision
 * dot product. Then times each shape (best of reps) and prints GFLOP/s and
 * the fraction of the peak. The peak is measured here with a loop of
 * independent AVX-512 FMAs on one core, times the number of threads: what
 * the core's FMA units do at the clock it runs at (e.g. 117 GFLOP/s on a
 * Zen 4 core: two 256-bit FMA pipes, 32 flops a cycle at ~3.7 GHz).
 * bench/bench_gemm_openblas.py times OpenBLAS sgemm on the same shapes.
 */
#include "bench/bench_fma.h"
#include "core/gemm.h"
#include "core/pool.h"
#include "core/util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    int T = argc > 1 ? atoi(argv[1]) : 220, reps = argc > 2 ? atoi(argv[2]) : 5;
    int nt = pool_threads();
    /* The peak: one core's FMA rate measured alone, times the threads. (The
     * rate of all threads at once is printed too, but on a shared machine the
     * threads often do not get a core each, so it is not the denominator.) */
    double peak1 = bench_fma_gflops(1), peakn = bench_fma_gflops(nt), peak = peak1 * nt;
    printf("threads %d; FMA peak: one core %.1f GFLOP/s, x %d = %.1f (all threads at once measured %.1f)\n", nt, peak1,
           nt, peak, peakn);
    static const struct {
        const char *name;
        int transB, N, K;
    } S[] = {
        {"c_attn   (T,768)x(768,2304)", 0, 2304, 768}, {"attn.c_proj (T,768)x(768,768)", 0, 768, 768},
        {"c_fc     (T,768)x(768,3072)", 0, 3072, 768}, {"mlp.c_proj (T,3072)x(3072,768)", 0, 768, 3072},
        {"logits   (T,768)x(50257,768)^T", 1, 50257, 768},
    };
    Rng r;
    rng_seed(&r, 1);
    int fail = 0;
    for (size_t s = 0; s < sizeof S / sizeof S[0]; s++) {
        int M = T, N = S[s].N, K = S[s].K, tB = S[s].transB;
        int ldb = tB ? K : N;
        float *A = xmalloc_aligned((size_t)M * K * 4), *B = xmalloc_aligned((size_t)K * N * 4);
        float *C = xmalloc_aligned((size_t)M * N * 4);
        for (long i = 0; i < (long)M * K; i++) A[i] = rng_uniform(&r) - 0.5f;
        for (long i = 0; i < (long)K * N; i++) B[i] = rng_uniform(&r) - 0.5f;
        gemm(0, tB, M, N, K, 1.0f, A, K, B, ldb, 0.0f, C, N);
        /* check 200 sampled entries */
        double worst = 0;
        for (int q = 0; q < 200; q++) {
            int i = (int)(rng_u64(&r) % M), j = (int)(rng_u64(&r) % N);
            double acc = 0;
            for (int k = 0; k < K; k++) acc += (double)A[(long)i * K + k] * (tB ? B[(long)j * K + k] : B[(long)k * N + j]);
            double e = fabs(acc - C[(long)i * N + j]);
            if (e > worst) worst = e;
        }
        if (worst > 1e-4) {
            printf("FAIL %s: max error %.3g on sampled entries\n", S[s].name, worst);
            fail = 1;
        }
        double best = 1e9;
        for (int k = 0; k < reps; k++) {
            double t = time_now();
            gemm(0, tB, M, N, K, 1.0f, A, K, B, ldb, 0.0f, C, N);
            t = time_now() - t;
            if (t < best) best = t;
        }
        double gf = 2.0 * M * N * K / best / 1e9;
        printf("%-34s M=%d: %8.3f ms  %7.1f GFLOP/s  %5.1f%% of peak  (check: max err %.1e)\n", S[s].name, M,
               best * 1e3, gf, peak > 0 ? 100 * gf / peak : 0, worst);
        free(A), free(B), free(C);
    }
    return fail;
}
