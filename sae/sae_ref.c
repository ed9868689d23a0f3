/*
 * sae/sae_ref.c - the reference training step: the notebook's SparseAE,
 * forward and backward, written to be read beside the math. Dense matrices
 * everywhere, the L x L covariance built explicitly. The fast path
 * (sae/sae_fast.c) is tested against this file.
 *
 * Forward (X (T, d), W (L, d)):
 *   A  = X Wᵀ                       (T, L)  pre-activations
 *   z  = relu(A)                    (T, L)
 *   M  = [z >= thr_t]               (T, L)  thr_t = k-th largest of row t (ties kept)
 *   Ẑ  = z ⊙ M                      (T, L)
 *   Y  = Ẑ W                        (T, d)  tied decoder
 *   m  = mean_t Ẑ                   (L)
 *   Ẑc = Ẑ - 1 mᵀ                   (T, L)
 *   C  = Ẑcᵀ Ẑc / (T-1)             (L, L)  torch.cov(Ẑᵀ): latents are variables
 *   mse   = Σ (Y - X)² / (T d)
 *   spars = sw Σ |Ẑ| / (T L)
 *   decor = dw Σ_{i≠j} C_ij²
 *
 * Backward (g_x = d loss / d x):
 *   g_Y  = 2 (Y - X) / (T d)                                   (T, d)
 *   Y = Ẑ W gives   g_Ẑ += g_Y Wᵀ     and   g_W += Ẑᵀ g_Y
 *   spars gives     g_Ẑ += sw / (T L) · sign(Ẑ)       (torch: sign(0) = 0)
 *   decor: with Off(C) = C - diag(C) (zero diagonal),
 *     d decor / d C_ij = 2 dw Off(C)_ij.
 *     C = Ẑcᵀ Ẑc / (T-1), so for a symmetric G = d decor / d C,
 *     d decor / d Ẑc = Ẑc (G + Gᵀ) / (T-1) = 2 Ẑc G / (T-1)
 *                    = 4 dw / (T-1) · Ẑc Off(C)                 (T, L)
 *     Centering Ẑc = Ẑ - 1 mᵀ, m = 1ᵀẐ/T, passes a gradient G_c back as
 *     g_Ẑ = G_c - 1 (1ᵀ G_c) / T  (subtract each column's mean). Here
 *     1ᵀ Ẑc Off(C) = 0 because Ẑc's columns sum to zero, so the subtraction
 *     removes only rounding; the reference still does it, as autograd does.
 *   The top-k mask M is a constant (torch.topk's indices carry no gradient),
 *   and relu passes the gradient where its output is > 0:
 *     g_A = g_Ẑ ⊙ M ⊙ [A > 0]                                    (T, L)
 *   A = X Wᵀ gives  g_W += g_Aᵀ X                                (L, d)
 *   So the tied W collects two terms: g_W = Ẑᵀ g_Y + g_Aᵀ X.
 */
#include "sae/sae.h"
#include "core/gemm.h"
#include "core/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int cmp_desc(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x < y) - (x > y);
}

/* The k-th largest value of row (n), by sorting a copy: torch.topk(...)[0][-1]. */
static float kth_largest_ref(const float *row, int n, int k, float *scratch) {
    memcpy(scratch, row, (size_t)n * sizeof(float));
    qsort(scratch, (size_t)n, sizeof(float), cmp_desc);
    return scratch[k - 1];
}

/* Ẑ (T, L) from A (T, L): relu, then keep values >= the row's k-th largest. */
static void topk_relu_ref(float *Zh, const float *A, int T, int L, int k) {
    float *scratch = xmalloc((size_t)L * sizeof(float));
    for (int t = 0; t < T; t++) {
        const float *a = A + (size_t)t * L;
        float *z = Zh + (size_t)t * L;
        for (int l = 0; l < L; l++) z[l] = a[l] > 0.0f ? a[l] : 0.0f;
        float thr = kth_largest_ref(z, L, k, scratch);
        for (int l = 0; l < L; l++) z[l] = z[l] >= thr ? z[l] : 0.0f;
    }
    free(scratch);
}

void sae_loss_grad_ref(const SAE *sae, const float *X, int T, float sw, float dw,
                       float *g_W, float *Z, SAELosses *out) {
    const int d = sae->d, L = sae->L, k = sae->k;
    const float *W = sae->W;                                     /* (L, d) */
    float *A = xmalloc((size_t)T * L * sizeof(float));           /* (T, L) */
    float *Zh = xmalloc((size_t)T * L * sizeof(float));          /* (T, L) */
    float *Zc = xmalloc((size_t)T * L * sizeof(float));          /* (T, L) */
    float *Y = xmalloc((size_t)T * d * sizeof(float));           /* (T, d) */
    float *g_Y = xmalloc((size_t)T * d * sizeof(float));         /* (T, d) */
    float *g_Z = xmalloc((size_t)T * L * sizeof(float));         /* (T, L) */
    float *g_D = xmalloc((size_t)T * L * sizeof(float));         /* (T, L) decor part */
    float *C = xmalloc((size_t)L * L * sizeof(float));           /* (L, L) */
    double *m = xmalloc((size_t)L * sizeof(double));             /* (L) */

    /* encoder, relu, top-k */
    gemm(0, 1, T, L, d, 1.0f, X, d, W, d, 0.0f, A, L);
    topk_relu_ref(Zh, A, T, L, k);

    /* tied decoder */
    gemm(0, 0, T, d, L, 1.0f, Zh, L, W, d, 0.0f, Y, d);

    /* reconstruction loss and its gradient */
    double mse = 0.0;
    for (size_t i = 0; i < (size_t)T * d; i++) {
        double e = (double)Y[i] - X[i];
        mse += e * e;
        g_Y[i] = (float)(2.0 * e / ((double)T * d));
    }
    mse /= (double)T * d;

    /* sparsity loss: mean |Ẑ| over all T*L entries */
    double l1 = 0.0;
    for (size_t i = 0; i < (size_t)T * L; i++) l1 += fabs(Zh[i]);
    double spars = sw * l1 / ((double)T * L);

    /* covariance over tokens, unbiased */
    for (int l = 0; l < L; l++) m[l] = 0.0;
    for (int t = 0; t < T; t++)
        for (int l = 0; l < L; l++) m[l] += Zh[(size_t)t * L + l];
    for (int l = 0; l < L; l++) m[l] /= T;
    for (int t = 0; t < T; t++)
        for (int l = 0; l < L; l++) Zc[(size_t)t * L + l] = (float)(Zh[(size_t)t * L + l] - m[l]);
    gemm(1, 0, L, L, T, 1.0f / (float)(T - 1), Zc, L, Zc, L, 0.0f, C, L);

    /* decorrelation loss: sum of squared off-diagonal entries; then C := Off(C) */
    double off2 = 0.0;
    for (int i = 0; i < L; i++) {
        for (int j = 0; j < L; j++)
            if (i != j) off2 += (double)C[(size_t)i * L + j] * C[(size_t)i * L + j];
        C[(size_t)i * L + i] = 0.0f;
    }
    double decor = dw * off2;

    /* g_Ẑ = g_Y Wᵀ + sw/(T L) sign(Ẑ) + centred(4 dw/(T-1) Ẑc Off(C)) */
    gemm(0, 1, T, L, d, 1.0f, g_Y, d, W, d, 0.0f, g_Z, L);
    float gs = (float)(sw / ((double)T * L));
    for (size_t i = 0; i < (size_t)T * L; i++) g_Z[i] += Zh[i] > 0.0f ? gs : 0.0f;
    gemm(0, 0, T, L, L, (float)(4.0 * dw / (T - 1)), Zc, L, C, L, 0.0f, g_D, L);
    for (int l = 0; l < L; l++) m[l] = 0.0;   /* reuse m: column means of g_D */
    for (int t = 0; t < T; t++)
        for (int l = 0; l < L; l++) m[l] += g_D[(size_t)t * L + l];
    for (int t = 0; t < T; t++)
        for (int l = 0; l < L; l++) g_Z[(size_t)t * L + l] += (float)(g_D[(size_t)t * L + l] - m[l] / T);

    /* through the constant mask and relu: g_A = g_Ẑ where Ẑ > 0 (reuse A) */
    for (size_t i = 0; i < (size_t)T * L; i++) A[i] = Zh[i] > 0.0f ? g_Z[i] : 0.0f;

    /* the tied weight collects both paths: g_W = Ẑᵀ g_Y + g_Aᵀ X */
    gemm(1, 0, L, d, T, 1.0f, Zh, L, g_Y, d, 0.0f, g_W, d);
    gemm(1, 0, L, d, T, 1.0f, A, L, X, d, 1.0f, g_W, d);

    out->mse = mse;
    out->sparsity = spars;
    out->decor = decor;
    out->total = mse + spars + decor;
    if (Z) memcpy(Z, Zh, (size_t)T * L * sizeof(float));
    free(A); free(Zh); free(Zc); free(Y); free(g_Y); free(g_Z); free(g_D); free(C); free(m);
}
