/*
 * bench/bench_sae_arch.c - training steps of the TopK and JumpReLU SAEs
 * (sae/arch.h) at the field's shapes, against their PyTorch ports
 * (bench/bench_sae_arch_torch.py) in the same run.
 *
 *   build/bench/bench_sae_arch [d n k B steps torch_steps]   # default 768 24576 32 4096 3 2; torch_steps 0: ours alone
 *
 * First checks: sampled pre-activations of the encoder gemm against double
 * dot products. Then reports
 *   - the machine's FMA peak (one core's independent AVX-512 FMA chains,
 *     times the threads) and the encoder gemm (B x d) (d x n) alone: GFLOP/s
 *     and % of that peak;
 *   - tokens/s of a full step (forward, loss, backward, Adam, decoder
 *     constraint, dead latents) for topk and jumprelu, ours and PyTorch's,
 *     and the ratio. JumpReLU's thresholds are set so that about k latents
 *     fire per token (a trained SAE's operating point; at θ = 0.001 on random
 *     weights half of them would).
 * Both sides use pool_threads() threads ($GPT2SAE_THREADS).
 */
#include "bench/bench_fma.h"
#include "core/gemm.h"
#include "core/pool.h"
#include "core/util.h"
#include "sae/arch.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static int arg(int argc, char **argv, int i, int def) { return argc > i ? atoi(argv[i]) : def; }

static double time_steps(SAEArch *m, const float *X, int B, int steps, SAEArchLog *log) {
    if (sae_arch_step(m, X, B, log) != 0) { /* warm-up step */
        fprintf(stderr, "bench_sae_arch: %s\n", err_get());
        exit(1);
    }
    double t = time_now();
    for (int s = 0; s < steps; s++)
        if (sae_arch_step(m, X, B, log) != 0) {
            fprintf(stderr, "bench_sae_arch: %s\n", err_get());
            exit(1);
        }
    return (time_now() - t) / steps;
}

static double torch_run(const char *arch, int d, int n, int k, int B, int steps) {
    if (steps < 1) return -1;   /* torch_steps 0: ours alone (its step takes minutes at these shapes) */
    char cmd[512];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 bench/bench_sae_arch_torch.py %s %d %d %d %d %d %d 2>&1", arch, d, n, k,
             B, steps, pool_threads());
    FILE *p = popen(cmd, "r");
    if (!p) return 0;
    char line[512];
    double tps = 0;
    while (fgets(line, sizeof line, p)) {
        printf("  %s", line);
        char a[32];
        double v;
        if (sscanf(line, "torch %31s tokens/s %lf", a, &v) == 2) tps = v;
    }
    pclose(p);
    return tps;
}

int main(int argc, char **argv) {
    const int d = arg(argc, argv, 1, 768), n = arg(argc, argv, 2, 24576), k = arg(argc, argv, 3, 32);
    const int B = arg(argc, argv, 4, 4096), steps = arg(argc, argv, 5, 3), tsteps = arg(argc, argv, 6, 2);
    const int nt = pool_threads();
    setvbuf(stdout, NULL, _IOLBF, 0); /* each line as it comes, also through a pipe */
    printf("SAE architectures: d=%d n=%d k=%d batch=%d; %d threads (%s)\n", d, n, k, B, nt, cpu_simd_level());
    float *X = malloc((size_t)B * d * sizeof(float));
    Rng r;
    rng_seed(&r, 5);
    for (long i = 0; i < (long)B * d; i++) X[i] = rng_normal(&r) + 0.3f * (float)(i % 7);

    /* the encoder gemm alone, checked, then timed */
    SAEArchParams p = sae_arch_default_params(SAE_ARCH_TOPK, d, n);
    p.k = k;
    p.b_dec_init = SAE_BDEC_MEAN;
    SAEArch m;
    if (sae_arch_init(&m, &p, X, B) != 0) return fprintf(stderr, "%s\n", err_get()), 1;
    float *Xc = malloc((size_t)B * d * sizeof(float)), *Z = malloc((size_t)B * n * sizeof(float));
    sae_arch_preact(&m, X, B, Xc, Z);
    double worst = 0;
    for (int s = 0; s < 1000; s++) {
        int b = (int)(rng_u64(&r) % B), i = (int)(rng_u64(&r) % n);
        double acc = m.b_enc[i];
        for (int j = 0; j < d; j++) acc += (double)Xc[(size_t)b * d + j] * m.W_enc[(size_t)i * d + j];
        worst = fmax(worst, fabs(acc - Z[(size_t)b * n + i]) / (1 + fabs(acc)));
    }
    printf("check: 1000 sampled pre-activations vs double dot products: worst rel. error %.1e: %s\n", worst,
           worst < 1e-4 ? "ok" : "FAIL");
    const double peak1 = bench_fma_gflops(1), peak = peak1 * nt;
    double best = 1e30;
    for (int rep = 0; rep < 3; rep++) {
        double t = time_now();
        gemm(0, 1, B, n, d, 1.0f, Xc, d, m.W_enc, d, 0.0f, Z, n);
        t = time_now() - t;
        if (t < best) best = t;
    }
    const double gf = 2.0 * B * d * n / best / 1e9;
    printf("FMA peak: one core %.1f GFLOP/s x %d threads = %.1f\n", peak1, nt, peak);
    printf("encoder gemm (%d x %d) (%d x %d): %.3f s, %.1f GFLOP/s, %.1f%% of peak\n", B, d, d, n, best, gf,
           peak > 0 ? 100 * gf / peak : 0);
    free(Xc);

    /* topk */
    SAEArchLog log;
    double s_topk = time_steps(&m, X, B, steps, &log);
    printf("ours  topk     tokens/s %.1f s/step %.3f loss %.5g l0 %.1f (encoder gemm %.0f%% of the step)\n", B / s_topk,
           s_topk, log.loss, log.l0, 100 * best / s_topk);
    sae_arch_free(&m);
    double t_topk = torch_run("topk", d, n, k, B, tsteps);

    /* jumprelu, thresholds at the k-per-token quantile of the first batch's pre-activations */
    p = sae_arch_default_params(SAE_ARCH_JUMPRELU, d, n);
    p.b_dec_init = SAE_BDEC_MEAN;
    if (sae_arch_init(&m, &p, X, B) != 0) return fprintf(stderr, "%s\n", err_get()), 1;
    Xc = malloc((size_t)B * d * sizeof(float));
    sae_arch_preact(&m, X, B, Xc, Z);
    {
        long cnt = (long)B * n < 1000000 ? (long)B * n : 1000000;
        float *sample = malloc((size_t)cnt * sizeof(float));
        memcpy(sample, Z, (size_t)cnt * sizeof(float));
        long kth = (long)((double)cnt * k / n);
        /* the kth largest of the sample (sorted descending) */
        for (long i = 0; i < cnt; i++) sample[i] = -sample[i];
        qsort(sample, (size_t)cnt, sizeof(float), cmp_float);
        float theta = -sample[kth];
        for (int i = 0; i < n; i++) m.log_threshold[i] = logf(theta > 1e-6f ? theta : 1e-6f);
        free(sample);
    }
    free(Xc);
    free(Z);
    double s_jr = time_steps(&m, X, B, steps, &log);
    printf("ours  jumprelu tokens/s %.1f s/step %.3f loss %.5g l0 %.1f (encoder gemm %.0f%% of the step)\n", B / s_jr,
           s_jr, log.loss, log.l0, 100 * best / s_jr);
    sae_arch_free(&m);
    double t_jr = torch_run("jumprelu", d, n, k, B, tsteps);
    if (t_topk > 0) printf("RATIO topk:     ours / PyTorch = %.2fx\n", (B / s_topk) / t_topk);
    else printf("skip: PyTorch topk did not run (torch_steps 0, or /usr/bin/python3 without python3-torch)\n");
    if (t_jr > 0) printf("RATIO jumprelu: ours / PyTorch = %.2fx\n", (B / s_jr) / t_jr);
    else printf("skip: PyTorch jumprelu did not run\n");
    free(X);
    return 0;
}

