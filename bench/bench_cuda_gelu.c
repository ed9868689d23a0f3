/* bench/bench_cuda_gelu.c - cuda_gelu_forward vs gelu_forward (CPU), then
 * GB/s over block sizes, at GPT-2 small's (T, 4C) for T = 220 and 1024. */
#include "bench/bench_cuda_pointwise.h"
#include "gpt2/ops.h"

typedef struct { float *out; const float *inp; long N; } Ctx;
static int run(void *p) { Ctx *c = p; return cuda_gelu_forward(c->out, c->inp, c->N); }

int main(void) {
    if (!bench_gpu_ready("bench_cuda_gelu")) return 0;
    int fails = 0;
    const long Ns[2] = {220L * 3072, 1024L * 3072};
    for (int i = 0; i < 2; i++) {
        long N = Ns[i];
        float *x = pw_rand(N, 1 + i, 4.0f), *ref = xmalloc((size_t)N * 4);
        gelu_forward(ref, x, N);
        float *d_x = pw_dev(x, (size_t)N * 4), *d_out = NULL;
        if (!d_x || cuda_malloc((void **)&d_out, (size_t)N * 4)) { fails++; continue; }
        Ctx ctx = {d_out, d_x, N};
        PwCase c = {"gelu", "", N, 8.0 * N, 1e-6f, 1e-5f, 1, run, &ctx, d_out, ref};
        snprintf(c.config, sizeof c.config, "N=%ld (T=%ld, 4C)", N, N / 3072);
        fails += pw_bench(&c) != 0;
        cuda_free(d_x), cuda_free(d_out), free(x), free(ref);
    }
    return fails ? 1 : 0;
}
