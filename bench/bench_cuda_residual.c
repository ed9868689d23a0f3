/* bench/bench_cuda_residual.c - cuda_residual_forward vs residual_forward
 * (CPU, exact), then GB/s over block sizes, at (T, C) for T = 220, 1024 and
 * a large 64 MB case. */
#include "bench/bench_cuda_pointwise.h"
#include "gpt2/ops.h"

typedef struct { float *out; const float *a, *b; long N; } Ctx;
static int run(void *p) { Ctx *c = p; return cuda_residual_forward(c->out, c->a, c->b, c->N); }

int main(void) {
    if (!bench_gpu_ready("bench_cuda_residual")) return 0;
    int fails = 0;
    const long Ns[3] = {220L * 768, 1024L * 768, 16L << 20};
    for (int i = 0; i < 3; i++) {
        long N = Ns[i];
        float *a = pw_rand(N, 10 + i, 1.0f), *b = pw_rand(N, 20 + i, 1.0f), *ref = xmalloc((size_t)N * 4);
        residual_forward(ref, a, b, N);
        float *d_a = pw_dev(a, (size_t)N * 4), *d_b = pw_dev(b, (size_t)N * 4), *d_out = NULL;
        if (!d_a || !d_b || cuda_malloc((void **)&d_out, (size_t)N * 4)) { fails++; continue; }
        Ctx ctx = {d_out, d_a, d_b, N};
        PwCase c = {"residual", "", N, 12.0 * N, 0.0f, 0.0f, 1, run, &ctx, d_out, ref};
        snprintf(c.config, sizeof c.config, "N=%ld", N);
        fails += pw_bench(&c) != 0;
        cuda_free(d_a), cuda_free(d_b), cuda_free(d_out), free(a), free(b), free(ref);
    }
    return fails ? 1 : 0;
}
