/*
 * bench/bench_cuda_gpt2.c - the whole GPT-2 small forward pass on the GPU
 * (cuda_gpt2_forward_device: logits stay on the device), T = 1024 and 220,
 * FP32 and TF32, plus the seed's capture (layer 6 mlp_pre, early stop).
 * Weights: a synthetic GPT-2-small checkpoint written to a temporary folder
 * (or $GPT2SAE_BENCH_MODEL). Checked first: logits at T = 220 against the CPU
 * forward (gpt2_forward, atol/rtol 1e-3). Timed with CUDA events after a
 * warm-up, median of 10. bench/bench_cuda_gpt2_torch.py times PyTorch eager
 * FP32 on the same shapes; cuda/device_check.sh runs both in one call.
 * FLOPs counted: 2 x (parameters in the blocks + lm_head) x T + attention.
 */
#include "bench/bench_cuda.h"
#include "gpt2/gpt2.h"
#include "gpt2/model.h"

#include <unistd.h>

typedef struct { CUDAGPT2 *g; const int32_t *ids; int T; int capture; } Ctx;

static int run(void *p) {
    Ctx *c = p;
    if (c->capture) {
        CUDACapture cap = {6, GPT2_MLP_PRE, NULL, NULL};
        return cuda_gpt2_forward(c->g, c->ids, c->T, &cap, NULL);
    }
    return cuda_gpt2_forward_device(c->g, c->ids, c->T) ? 0 : -1;
}

int main(void) {
    if (!bench_gpu_ready("bench_cuda_gpt2")) return 0;
    const char *path = getenv("GPT2SAE_BENCH_MODEL");
    char dir[] = "/tmp/bench_cuda_gpt2_XXXXXX";
    int made = 0;
    if (!path) {
        GPT2Config cfg;
        if (!mkdtemp(dir) || gpt2_config_named(&cfg, "gpt2") != 0 || gpt2_model_synth(dir, &cfg, 7) != 0) {
            fprintf(stderr, "bench_cuda_gpt2: synthetic checkpoint: %s\n", err_get());
            return 1;
        }
        path = dir, made = 1;
    }
    GPT2Model m;
    memset(&m, 0, sizeof m);
    if (gpt2_model_load(&m, path) != 0) {
        fprintf(stderr, "bench_cuda_gpt2: %s\n", err_get());
        return 1;
    }
    const int V = m.cfg.vocab_size, C = m.cfg.n_embd, NL = m.cfg.n_layer;
    int32_t *ids = xmalloc(1024 * sizeof *ids);
    Rng r;
    rng_seed(&r, 99);
    for (int t = 0; t < 1024; t++) ids[t] = (int32_t)(rng_u64(&r) % (uint64_t)V);
    CUDAGPT2 *g = NULL;
    int fails = 0;
    if (cuda_gpt2_init(&g, &m, 1024) != 0) {
        fprintf(stderr, "bench_cuda_gpt2: %s\n", err_get());
        return 1;
    }
    /* check: logits at T = 220 against the CPU */
    {
        const int T = 220;
        float *ref = xmalloc((size_t)T * V * 4), *out = xmalloc((size_t)T * V * 4);
        GPT2Forward f;
        gpt2_forward_init(&f, &m);
        double t0 = time_now();
        int a = gpt2_forward(&f, ids, T, ref);
        double t1 = time_now();
        int b = cuda_gpt2_forward(g, ids, T, NULL, out);
        long bad = 0;
        for (long i = 0; i < (long)T * V; i++)
            if (!(fabs((double)out[i] - ref[i]) <= 1e-3 + 1e-3 * fabs((double)ref[i]))) bad++;
        if (a || b || bad) {
            printf("FAIL gpt2 logits T=%d: %ld of %ld outside 1e-3 (%s)\n", T, bad, (long)T * V, err_get());
            fails++;
        } else {
            printf("check gpt2 logits T=%d vs CPU: ok (rel err %.2e; CPU forward %.3f s)\n", T,
                   bench_rel_err(out, ref, (long)T * V), t1 - t0);
        }
        gpt2_forward_free(&f);
        free(ref), free(out);
    }
    if (!fails) {
        const int Ts[2] = {1024, 220};
        for (int i = 0; i < 2; i++) {
            int T = Ts[i];
            double params = (double)NL * 12.0 * C * C + (double)V * C;
            double flops = 2.0 * params * T + (double)NL * 4.0 * C * (double)T * (T + 1) / 2;
            for (int k = 0; k < 2; k++) {
                cuda_gpt2_set_matmul(g, k ? CUDA_MATMUL_TF32 : CUDA_MATMUL_FP32);
                Ctx c = {g, ids, T, 0};
                double ms = bench_time_ms(run, &c, 3, 10);
                char cfg[96];
                snprintf(cfg, sizeof cfg, "forward T=%d logits %s", T, k ? "tf32" : "fp32");
                bench_result("gpt2", cfg, ms, flops, 0, k ? H100_TF32_TFLOPS : H100_FP32_TFLOPS);
            }
        }
        cuda_gpt2_set_matmul(g, CUDA_MATMUL_FP32);
        Ctx c = {g, ids, 220, 1};
        double ms = bench_time_ms(run, &c, 3, 10);
        bench_result("gpt2", "capture T=220 layer 6 mlp_pre fp32 (early stop)", ms, 0, 0, 0);
    }
    cuda_gpt2_free(g);
    gpt2_model_free(&m);
    free(ids);
    if (made) {
        char *a = path_join(dir, "model.safetensors"), *b = path_join(dir, "config.json");
        unlink(a), unlink(b), rmdir(dir);
        free(a), free(b);
    }
    return fails ? 1 : 0;
}
