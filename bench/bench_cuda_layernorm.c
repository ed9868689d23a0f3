/* bench/bench_cuda_layernorm.c - cuda_layernorm_forward vs layernorm_forward
 * (CPU), then GB/s (one warp per row, 8 rows per block: not tunable), at
 * (T, 768) for T = 220, 1024 and 16384, and (1024, 1600) (GPT-2 XL). */
#include "bench/bench_cuda_pointwise.h"
#include "gpt2/ops.h"

typedef struct { float *out; const float *x, *w, *b; int T, C; } Ctx;
static int run(void *p) {
    Ctx *c = p;
    return cuda_layernorm_forward(c->out, NULL, NULL, c->x, c->w, c->b, c->T, c->C, 1e-5f);
}

int main(void) {
    if (!bench_gpu_ready("bench_cuda_layernorm")) return 0;
    int fails = 0;
    const int Ts[4] = {220, 1024, 16384, 1024}, Cs[4] = {768, 768, 768, 1600};
    for (int i = 0; i < 4; i++) {
        int T = Ts[i], C = Cs[i];
        long n = (long)T * C;
        float *x = pw_rand(n, 30 + i, 2.0f), *w = pw_rand(C, 40 + i, 1.0f), *b = pw_rand(C, 50 + i, 0.5f);
        float *ref = xmalloc((size_t)n * 4), *d_out = NULL;
        layernorm_forward(ref, x, w, b, T, C, 1e-5f);
        float *d_x = pw_dev(x, (size_t)n * 4), *d_w = pw_dev(w, (size_t)C * 4), *d_b = pw_dev(b, (size_t)C * 4);
        if (!d_x || !d_w || !d_b || cuda_malloc((void **)&d_out, (size_t)n * 4)) { fails++; continue; }
        Ctx ctx = {d_out, d_x, d_w, d_b, T, C};
        PwCase c = {"layernorm", "", n, 8.0 * n + 8.0 * C, 1e-5f, 1e-4f, 0, run, &ctx, d_out, ref};
        snprintf(c.config, sizeof c.config, "T=%d C=%d", T, C);
        fails += pw_bench(&c) != 0;
        cuda_free(d_x), cuda_free(d_w), cuda_free(d_b), cuda_free(d_out);
        free(x), free(w), free(b), free(ref);
    }
    return fails ? 1 : 0;
}
