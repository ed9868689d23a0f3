/* bench/bench_cuda_attention.c - cuda_attention_forward (flash-style, fused
 * softmax) vs attention_forward (CPU) at GPT-2 small's shapes (C 768, NH 12)
 * for T = 220 and 1024, then time. FLOPs counted: the causal half of
 * Q K^T and P V, 2 * 2 * NH * HS * T (T + 1) / 2. Bytes: qkv read once, out
 * written once. (One launch configuration: 32 query rows x 8 warps.) */
#include "bench/bench_cuda_pointwise.h"
#include "gpt2/ops.h"

typedef struct { float *out; const float *qkv; int T, C, NH; } Ctx;
static int run(void *p) { Ctx *c = p; return cuda_attention_forward(c->out, c->qkv, c->T, c->C, c->NH); }

int main(void) {
    if (!bench_gpu_ready("bench_cuda_attention")) return 0;
    int fails = 0;
    const int C = 768, NH = 12, Ts[2] = {220, 1024};
    for (int i = 0; i < 2; i++) {
        int T = Ts[i];
        float *qkv = pw_rand((long)T * 3 * C, 60 + i, 1.0f), *ref = xmalloc((size_t)T * C * 4);
        float *att = xmalloc((size_t)NH * T * T * 4), *d_out = NULL;
        attention_forward_fast(ref, att, qkv, T, C, NH);
        float *d_qkv = pw_dev(qkv, (size_t)T * 3 * C * 4);
        if (!d_qkv || cuda_malloc((void **)&d_out, (size_t)T * C * 4)) { fails++; continue; }
        Ctx ctx = {d_out, d_qkv, T, C, NH};
        PwCase c = {"attention", "", (long)T * C, 16.0 * T * C, 2e-5f, 1e-4f, 0, run, &ctx, d_out, ref};
        snprintf(c.config, sizeof c.config, "T=%d C=%d NH=%d", T, C, NH);
        if (pw_bench(&c) != 0) fails++;
        else {
            double flops = 4.0 * NH * 64 * (double)T * (T + 1) / 2;
            double ms = bench_time_ms(run, &ctx, 3, 20);
            bench_result("attention", "  (as TFLOP/s)", ms, flops, 0, H100_FP32_TFLOPS);
        }
        cuda_free(d_qkv), cuda_free(d_out), free(qkv), free(ref), free(att);
    }
    return fails ? 1 : 0;
}
