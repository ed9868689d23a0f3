/* tests/test_gemm.c - the fast gemm against gemm_ref (double accumulation) at
 * many shapes, odd sizes, all four transpose combinations, padded leading
 * dimensions, alpha/beta, on 1 thread and on all threads. */
#include "core/gemm.h"
#include "core/pool.h"
#include "core/util.h"
#include "tests/test.h"

#include <stdlib.h>
#include <string.h>

/* Fill n floats uniformly in [-1, 1). */
static void fill(float *x, long n, Rng *r) {
    for (long i = 0; i < n; i++) x[i] = 2.0f * rng_uniform(r) - 1.0f;
}

/* One case: compare gemm with gemm_ref; the bound scales with sqrt(K) (the
 * float rounding of a sum of K products of values in [-1, 1)). */
static void one(int tA, int tB, int M, int N, int K, float alpha, float beta, int pad, Rng *r) {
    int lda = (tA ? M : K) + pad, ldb = (tB ? K : N) + pad, ldc = N + pad;
    long na = (long)(tA ? K : M) * lda, nb = (long)(tB ? N : K) * ldb, nc = (long)M * ldc;
    float *A = xmalloc((na + 1) * sizeof(float)), *B = xmalloc((nb + 1) * sizeof(float));
    float *C = xmalloc((nc + 1) * sizeof(float)), *Cr = xmalloc((nc + 1) * sizeof(float));
    fill(A, na, r);
    fill(B, nb, r);
    fill(C, nc, r);
    if (beta == 0.0f) /* beta == 0: C must not be read, so NaNs there must not leak */
        for (long i = 0; i < nc; i++) C[i] = NAN;
    memcpy(Cr, C, nc * sizeof(float));
    gemm(tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    gemm_ref(tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, Cr, ldc);
    /* the padding columns of C must be untouched */
    int pad_ok = 1;
    for (int i = 0; i < M; i++)
        for (int j = N; j < ldc; j++) {
            float a = C[(long)i * ldc + j], b = Cr[(long)i * ldc + j];
            if (!(a == b || (isnan(a) && isnan(b)))) pad_ok = 0;
        }
    /* compare the M x N part */
    float *c = xmalloc(((long)M * N + 1) * sizeof(float)), *cr = xmalloc(((long)M * N + 1) * sizeof(float));
    for (int i = 0; i < M; i++) {
        memcpy(c + (long)i * N, C + (long)i * ldc, N * sizeof(float));
        memcpy(cr + (long)i * N, Cr + (long)i * ldc, N * sizeof(float));
    }
    char name[160];
    snprintf(name, sizeof name, "gemm %c%c M=%d N=%d K=%d alpha=%g beta=%g pad=%d (%d thr)", tA ? 'T' : 'N',
             tB ? 'T' : 'N', M, N, K, alpha, beta, pad, pool_threads());
    float atol = 1e-6f * (float)(K + 1) * (fabsf(alpha) + 1.0f);
    check_close(name, c, cr, (long)M * N, atol, 1e-5f);
    if (!pad_ok) CHECK(0, "%s: wrote outside the M x N block", name);
    free(A), free(B), free(C), free(Cr), free(c), free(cr);
}

int main(void) {
    Rng r;
    rng_seed(&r, 1234);
    /* the shapes GPT-2 uses (T = 37), edges around the 14 x 32 tile and the
     * 256-deep K blocks, vectors and degenerate sizes */
    static const int shapes[][3] = {
        {1, 1, 1},     {1, 33, 7},    {13, 1, 5},     {14, 32, 256},  {15, 33, 257},  {28, 64, 512},
        {37, 96, 32},  {37, 32, 96},  {3, 200, 600},  {300, 17, 300}, {29, 31, 1},    {2, 513, 300},
        {37, 2304, 64}, {37, 64, 37}, {37, 37, 64},   {300, 300, 33}, {100, 1100, 40}, {57, 45, 780},
    };
    int nshapes = sizeof shapes / sizeof shapes[0];
    for (int threads = 1; threads <= 2; threads++) {
        pool_set_threads(threads == 1 ? 1 : 2);
        for (int s = 0; s < nshapes; s++)
            for (int t = 0; t < 4; t++) {
                float alpha = (s % 3 == 0) ? 1.0f : (s % 3 == 1) ? 0.5f : -2.0f;
                float beta = (s + t) % 3 == 0 ? 0.0f : (s + t) % 3 == 1 ? 1.0f : 0.25f;
                one(t >> 1, t & 1, shapes[s][0], shapes[s][1], shapes[s][2], alpha, beta, (s + t) % 2 * 3, &r);
            }
    }
    /* K = 0 and alpha = 0: C = beta * C */
    float C[4] = {1, 2, 3, 4}, A[1] = {0}, B[1] = {0};
    gemm(0, 0, 2, 2, 0, 1.0f, A, 1, B, 2, 0.5f, C, 2);
    CHECK(C[0] == 0.5f && C[3] == 2.0f, "K = 0 scales C by beta (%g %g)", C[0], C[3]);
    return test_finish();
}
