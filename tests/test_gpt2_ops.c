/*
 * tests/test_gpt2_ops.c - each fast op of gpt2/ops_fast.c against its
 * reference in gpt2/ops.c, at odd sizes (C not a multiple of 16, T = 1),
 * with large inputs for the softmax and GELU, on 1 and 2 threads.
 */
#include "core/pool.h"
#include "core/util.h"
#include "gpt2/ops.h"
#include "tests/test.h"

#include <stdlib.h>
#include <string.h>

static float *rnd(long n, float scale, Rng *r) {
    float *x = xmalloc((size_t)(n + 1) * sizeof(float));
    for (long i = 0; i < n; i++) x[i] = scale * rng_normal(r);
    return x;
}

int main(void) {
    Rng r;
    rng_seed(&r, 42);
    static const int Ts[] = {1, 7, 64, 130};
    static const int Cs[] = {24, 40, 768};
    static const int NHs[] = {3, 5, 12};
    for (int threads = 1; threads <= 2; threads++) {
        pool_set_threads(threads);
        for (int ti = 0; ti < 4; ti++)
            for (int ci = 0; ci < 3; ci++) {
                int T = Ts[ti], C = Cs[ci], NH = NHs[ci];
                if (C == 768 && T > 64) continue; /* the references are slow: keep the test fast */
                char name[128];
                /* LayerNorm, with a large common offset (mean-subtraction matters) */
                float *x = rnd((long)T * C, 2.0f, &r), *w = rnd(C, 1.0f, &r), *b = rnd(C, 1.0f, &r);
                for (long i = 0; i < (long)T * C; i++) x[i] += 100.0f;
                float *o1 = xmalloc((size_t)T * 4 * C * sizeof(float)), *o2 = xmalloc((size_t)T * 4 * C * sizeof(float));
                layernorm_forward(o1, x, w, b, T, C, 1e-5f);
                layernorm_forward_fast(o2, x, w, b, T, C, 1e-5f);
                snprintf(name, sizeof name, "layernorm T=%d C=%d (%d thr)", T, C, threads);
                check_close(name, o2, o1, (long)T * C, 1e-5f, 1e-4f);
                /* matmul with bias, and without */
                float *W = rnd((long)C * 3 * C, 0.05f, &r), *bias = rnd(3 * C, 0.1f, &r);
                matmul_forward(o1, x, W, bias, T, C, 3 * C);
                matmul_forward_fast(o2, x, W, bias, T, C, 3 * C);
                snprintf(name, sizeof name, "matmul T=%d C=%d OC=%d (%d thr)", T, C, 3 * C, threads);
                check_close(name, o2, o1, (long)T * 3 * C, 1e-3f, 1e-4f);
                matmul_forward(o1, x, W, NULL, T, C, C);
                matmul_forward_fast(o2, x, W, NULL, T, C, C);
                snprintf(name, sizeof name, "matmul no bias T=%d C=%d (%d thr)", T, C, threads);
                check_close(name, o2, o1, (long)T * C, 1e-3f, 1e-4f);
                /* logits against an embedding of V = 77 rows */
                float *wte = rnd(77L * C, 0.1f, &r), *lg1 = xmalloc(77L * T * 4), *lg2 = xmalloc(77L * T * 4);
                logits_forward(lg1, x, wte, T, C, 77);
                logits_forward_fast(lg2, x, wte, T, C, 77);
                snprintf(name, sizeof name, "logits T=%d C=%d V=77 (%d thr)", T, C, threads);
                check_close(name, lg2, lg1, 77L * T, 1e-3f, 1e-4f);
                /* attention: qkv with a large scale so that some scores are big */
                float *qkv = rnd((long)T * 3 * C, 3.0f, &r);
                float *a1 = xmalloc((size_t)NH * T * T * 4), *a2 = xmalloc((size_t)NH * T * T * 4);
                attention_forward(o1, a1, qkv, T, C, NH);
                attention_forward_fast(o2, a2, qkv, T, C, NH);
                snprintf(name, sizeof name, "attention out T=%d C=%d NH=%d (%d thr)", T, C, NH, threads);
                check_close(name, o2, o1, (long)T * C, 1e-4f, 1e-4f);
                snprintf(name, sizeof name, "attention probabilities T=%d NH=%d (%d thr)", T, NH, threads);
                check_close(name, a2, a1, (long)NH * T * T, 1e-6f, 1e-4f);
                /* GELU over a wide range (tanh saturates on both sides) */
                long N = (long)T * 4 * C + 3;
                float *g = rnd(N, 4.0f, &r);
                g[0] = 40.0f, g[1] = -40.0f, g[2] = 0.0f;
                float *g1 = xmalloc(N * 4), *g2 = xmalloc(N * 4);
                gelu_forward(g1, g, N);
                gelu_forward_fast(g2, g, N);
                snprintf(name, sizeof name, "gelu N=%ld (%d thr)", N, threads);
                check_close(name, g2, g1, N, 1e-6f, 1e-5f);
                /* residual */
                residual_forward(o1, x, b, C);
                residual_forward_fast(o2, x, b, C);
                snprintf(name, sizeof name, "residual N=%d", C);
                check_close(name, o2, o1, C, 0, 0);
                free(x), free(w), free(b), free(o1), free(o2), free(W), free(bias), free(wte), free(lg1), free(lg2);
                free(qkv), free(a1), free(a2), free(g), free(g1), free(g2);
            }
    }
    return test_finish();
}
