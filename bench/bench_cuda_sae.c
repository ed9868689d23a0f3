/*
 * bench/bench_cuda_sae.c - SAE training on the GPU.
 *  1. the seed's configuration (T=220, d=3072, L=6144, k=1024): ms per epoch
 *     (one cuda_sae_step) for the sparse and dense decoders, FP32 and TF32,
 *     and the whole 100-epoch cuda_sae_train (wall clock, host data);
 *  2. minibatch training on a synthetic corpus of $GPT2SAE_BENCH_TOKENS
 *     tokens (default 1M; X generated on the device), batch 1024: tokens/s.
 * Checked first: one loss evaluation at the seed's shapes against the CPU
 * trainer (sae_loss_grad): losses within 1e-3 relative (decor 3e-2).
 * bench/bench_cuda_sae_torch.py runs the seed's PyTorch code on the same
 * shapes; cuda/device_check.sh runs both and prints the ratio.
 * FLOPs counted (dense equivalent, as PyTorch does them): 5 products of
 * 2 T d L (encoder, decoder, g_z, two for g_W) + the Gram 4 T^2 L.
 */
#include "bench/bench_cuda.h"
#include "sae/sae.h"

typedef struct { CUDASAE *s; const float *d_X; int T; long rows; } Ctx;

static int run_step(void *p) {
    Ctx *c = p;
    return cuda_sae_step(c->s, c->d_X, c->T, NULL);
}
/* one pass over c->rows rows in batches of c->T (the last partial batch too) */
static int run_epoch(void *p) {
    Ctx *c = p;
    for (long r0 = 0; r0 < c->rows; r0 += c->T) {
        int Tb = (int)(c->rows - r0 < c->T ? c->rows - r0 : c->T);
        if (Tb >= 2 && cuda_sae_step(c->s, c->d_X + (size_t)r0 * 3072, Tb, NULL) != 0) return -1;
    }
    return 0;
}

int main(void) {
    if (!bench_gpu_ready("bench_cuda_sae")) return 0;
    const int T = 220, d = 3072;
    SAEParams p = sae_default_params();
    SAE sae;
    if (sae_init(&sae, d, &p) != 0) return 1;
    const int L = sae.L;
    float *d_X = bench_dev_rand((long)T * d, 11, 1.0f);
    if (!d_X) return 1;
    float *X = bench_host(d_X, (long)T * d);
    int fails = 0;
    /* check against the CPU trainer */
    {
        CUDASAE *s = NULL;
        float *g = xmalloc((size_t)L * d * 4);
        SAELosses lc, lg;
        sae_loss_grad(&sae, X, T, p.sparsity_weight, p.decor_weight, g, NULL, &lc);
        if (cuda_sae_init(&s, &sae, &p, T) || cuda_sae_loss_grad(s, d_X, T, NULL, NULL, &lg)) {
            printf("FAIL sae: %s\n", err_get());
            fails++;
        } else {
            int ok = fabs(lg.total - lc.total) <= 1e-3 * fabs(lc.total) &&
                     fabs(lg.sparsity - lc.sparsity) <= 1e-3 * fabs(lc.sparsity) &&
                     fabs(lg.decor - lc.decor) <= 3e-2 * fabs(lc.decor);
            printf("%s sae losses at the seed's shapes: gpu %.6g %.6g %.6g cpu %.6g %.6g %.6g\n", ok ? "check" : "FAIL",
                   lg.total, lg.sparsity, lg.decor, lc.total, lc.sparsity, lc.decor);
            fails += !ok;
        }
        cuda_sae_free(s);
        free(g);
    }
    const double flops = 5.0 * 2 * T * (double)d * L + 4.0 * T * (double)T * L;
    if (!fails) {
        for (int v = 0; v < 4; v++) {
            int sparse = v % 2 == 0;
            CUDAMatmulKind kind = v < 2 ? CUDA_MATMUL_FP32 : CUDA_MATMUL_TF32;
            CUDASAE *s = NULL;
            if (cuda_sae_init(&s, &sae, &p, T)) { fails++; break; }
            cuda_sae_set_options(s, sparse, kind);
            Ctx c = {s, d_X, T, T};
            double ms = bench_time_ms(run_step, &c, 3, 20);
            char cfg[96];
            snprintf(cfg, sizeof cfg, "seed epoch T=220 %s decoder %s", sparse ? "sparse" : "dense",
                     kind ? "tf32" : "fp32");
            bench_result("sae", cfg, ms, flops, 0, kind ? H100_TF32_TFLOPS : H100_FP32_TFLOPS);
            cuda_sae_free(s);
        }
        /* the seed's whole run: 100 epochs from host data, as ./run train --device cuda does */
        SAE copy;
        SAEResult res;
        if (sae_init_weights(&copy, d, L, sae.k, sae.W) == 0) {
            p.want_latents = 1;
            double t0 = time_now();
            int rc = cuda_sae_train(&copy, X, NULL, T, &p, &res);
            double t1 = time_now();
            if (rc) printf("FAIL cuda_sae_train: %s\n", err_get()), fails++;
            else
                printf("RESULT sae          seed 100 epochs, wall clock incl. upload+latents %9.4f ms  (%.4f ms/epoch)\n",
                       (t1 - t0) * 1e3, (t1 - t0) * 1e3 / p.epochs);
            sae_result_free(&res);
            sae_free(&copy);
        }
    }
    /* minibatches over a large synthetic corpus */
    long N = 1L << 20;
    const char *env = getenv("GPT2SAE_BENCH_TOKENS");
    if (env) N = atol(env);
    const int B = 1024;
    float *d_big = fails ? NULL : bench_dev_rand(N * d, 12, 1.0f);
    if (d_big) {
        CUDASAE *s = NULL;
        if (cuda_sae_init(&s, &sae, &p, B) == 0) {
            for (int v = 0; v < 2; v++) {
                cuda_sae_set_options(s, 1, v ? CUDA_MATMUL_TF32 : CUDA_MATMUL_FP32);
                Ctx c = {s, d_big, B, N};
                double ms = bench_time_ms(run_epoch, &c, 0, 1);
                double mflops = (double)N / B * (5.0 * 2 * B * (double)d * L + 4.0 * B * (double)B * L);
                char cfg[96];
                snprintf(cfg, sizeof cfg, "minibatch %ld tokens B=%d sparse %s: %.0f tok/s", N, B, v ? "tf32" : "fp32",
                         N / (ms / 1e3));
                bench_result("sae", cfg, ms, mflops, 0, v ? H100_TF32_TFLOPS : H100_FP32_TFLOPS);
            }
        } else {
            printf("FAIL sae minibatch: %s\n", err_get());
            fails++;
        }
        cuda_sae_free(s);
        cuda_free(d_big);
    } else if (!fails) {
        printf("FAIL sae minibatch: %s\n", err_get());
        fails++;
    }
    cuda_free(d_X);
    free(X);
    sae_free(&sae);
    return fails ? 1 : 0;
}
