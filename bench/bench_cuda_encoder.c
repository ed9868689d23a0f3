/* bench/bench_cuda_encoder.c - cuda_encoder_forward vs encoder_forward (CPU,
 * exact), then GB/s over block sizes, GPT-2 small's wte (50257, 768). Bytes:
 * the T rows of wte and wpe read, out written, the ids. */
#include "bench/bench_cuda_pointwise.h"
#include "gpt2/ops.h"

typedef struct { float *out; const int32_t *ids; const float *wte, *wpe; int T, C, V; } Ctx;
static int run(void *p) { Ctx *c = p; return cuda_encoder_forward(c->out, c->ids, c->wte, c->wpe, c->T, c->C, c->V); }

int main(void) {
    if (!bench_gpu_ready("bench_cuda_encoder")) return 0;
    int fails = 0;
    const int V = 50257, C = 768, Ts[2] = {220, 1024};
    float *wte = pw_rand((long)V * C, 1, 0.1f), *wpe = pw_rand(1024L * C, 2, 0.1f);
    float *d_wte = pw_dev(wte, (size_t)V * C * 4), *d_wpe = pw_dev(wpe, 1024L * C * 4);
    for (int i = 0; i < 2 && d_wte && d_wpe; i++) {
        int T = Ts[i];
        int32_t *ids = xmalloc((size_t)T * 4);
        Rng r;
        rng_seed(&r, 5 + i);
        for (int t = 0; t < T; t++) ids[t] = (int32_t)(rng_u64(&r) % V);
        float *ref = xmalloc((size_t)T * C * 4), *d_out = NULL;
        encoder_forward(ref, ids, wte, wpe, T, C);
        int32_t *d_ids = pw_dev(ids, (size_t)T * 4);
        if (!d_ids || cuda_malloc((void **)&d_out, (size_t)T * C * 4)) { fails++; continue; }
        Ctx ctx = {d_out, d_ids, d_wte, d_wpe, T, C, V};
        PwCase c = {"encoder", "", (long)T * C, 12.0 * T * C + 4.0 * T, 0.0f, 0.0f, 1, run, &ctx, d_out, ref};
        snprintf(c.config, sizeof c.config, "T=%d C=%d", T, C);
        fails += pw_bench(&c) != 0;
        cuda_free(d_ids), cuda_free(d_out), free(ids), free(ref);
    }
    cuda_free(d_wte), cuda_free(d_wpe), free(wte), free(wpe);
    return fails ? 1 : 0;
}
