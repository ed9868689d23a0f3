/*
 * sae/sae_fast.c - the fast training step: same loss and gradient as
 * sae/sae_ref.c (read that first for the derivation), computed without any
 * L x L matrix and without touching the zeros of the top-k latents.
 *
 * 1. The covariance penalty through the T x T Gram matrix (exact).
 *    With Ẑc (T, L) the centred latents and C = Ẑcᵀ Ẑc / (T-1),
 *      Σ_{i≠j} C_ij² = ‖C‖_F² - Σ_i C_ii²,
 *      ‖Ẑcᵀ Ẑc‖_F² = tr(Ẑcᵀ Ẑc Ẑcᵀ Ẑc) = tr(Ẑc Ẑcᵀ Ẑc Ẑcᵀ) = ‖K‖_F²,
 *    K = Ẑc Ẑcᵀ (T, T). K is built from the sparse Ẑ: with m the column
 *    means, u = Ẑ m (T) and S = Ẑ Ẑᵀ (pairs of tokens sharing a latent),
 *      K_ts = S_ts - u_t - u_s + mᵀm.
 *    C_ii = (Σ_t Ẑ_ti² - T m_i²) / (T-1).
 *    The gradient, 4 dw/(T-1) · Ẑc Off(C), is
 *      Ẑc C - Ẑc diag(C) = K Ẑc / (T-1) - Ẑc diag(C),
 *    and only its entries where Ẑ > 0 are needed (the mask and relu zero the
 *    rest). Since K's rows sum to zero (Ẑc's columns do),
 *      (K Ẑc)_tl = Σ_s K_ts (Ẑ_sl - m_l) = Σ_{s: Ẑ_sl > 0} K_ts Ẑ_sl,
 *    a sum over the tokens where latent l fires. The centering backward is
 *    the identity here (the term's columns sum to zero), see sae_ref.c.
 * 2. Top-k sparsity. Ẑ is kept as CSR (by token) and CSC (by latent):
 *      Y = Ẑ W                 adds each row of W into the tokens where it fires,
 *      g_Ẑ_tl = g_Y[t]·W[l]    only where Ẑ_tl > 0,
 *      g_W[l] = Σ_{t: Ẑ_tl>0} Ẑ_tl g_Y[t] + g_A_tl X[t]
 *    (the dense reference does L/k times more work in each).
 * 3. Adam is applied to each piece of a row of W as soon as its gradient is
 *    ready: the gradient is never stored whole.
 * The encoder X Wᵀ stays a dense matrix multiply (core/gemm.h): the top-k
 * needs every pre-activation.
 */
/* let a*b + c become one fused multiply-add in the vector loops below (the
 * build is ISO C, where GCC leaves contraction off by default) */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=fast")
#endif
#include "sae/sae_internal.h"
#include "core/gemm.h"
#include "core/pool.h"
#include "core/util.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

/* 16 floats, unaligned, may alias float: the compiler maps it to one AVX-512
 * register (or two AVX2, four SSE) */
typedef float v16 __attribute__((vector_size(64), aligned(4), may_alias));

/* CPU seconds of the whole process (all threads), for SAEWork.prof: on a
 * shared machine, wall time mostly measures the other tenants */
static double prof_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* ---- workspace ---------------------------------------------------------- */

void sae_work_init(SAEWork *w, int Tmax, int d, int L) {
    memset(w, 0, sizeof *w);
    w->Tmax = Tmax; w->d = d; w->L = L;
    w->A = xmalloc((size_t)Tmax * L * sizeof(float));
    w->thr = xmalloc((size_t)Tmax * sizeof(float));
    w->row_ptr = xmalloc((size_t)(Tmax + 1) * sizeof(int));
    w->col_ptr = xmalloc((size_t)(L + 1) * sizeof(int));
    /* rows padded by 16 floats: a stride of d = 3072 floats (3 x 4 KiB) would put
     * every row's piece of a column block into the same few cache sets */
    w->ld = d + 16;
    w->Y = xmalloc((size_t)Tmax * w->ld * sizeof(float));
    w->g_Y = xmalloc((size_t)Tmax * w->ld * sizeof(float));
    w->Xp = xmalloc((size_t)Tmax * w->ld * sizeof(float));
    w->K = xmalloc((size_t)Tmax * Tmax * sizeof(double));
    w->u = xmalloc((size_t)Tmax * sizeof(double));
    w->rowacc = xmalloc((size_t)Tmax * sizeof(double));
    w->m = xmalloc((size_t)L * sizeof(double));
    w->diagC = xmalloc((size_t)L * sizeof(double));
}

void sae_work_free(SAEWork *w) {
    if (!w) return;
    free(w->A); free(w->thr); free(w->row_ptr); free(w->col); free(w->val);
    free(w->col_ptr); free(w->crow); free(w->cval); free(w->gA); free(w->Y); free(w->g_Y); free(w->Xp);
    free(w->K); free(w->u); free(w->rowacc); free(w->m); free(w->diagC);
    memset(w, 0, sizeof *w);
}

static void work_reserve(SAEWork *w, long nnz) {
    if (nnz <= w->cap) return;
    long cap = nnz + nnz / 8 + 16;
    w->col = xrealloc(w->col, (size_t)cap * sizeof(int));
    w->val = xrealloc(w->val, (size_t)cap * sizeof(float));
    w->crow = xrealloc(w->crow, (size_t)cap * sizeof(int));
    w->cval = xrealloc(w->cval, (size_t)cap * sizeof(float));
    w->gA = xrealloc(w->gA, (size_t)cap * sizeof(float));
    w->cap = cap;
}

/* ---- top-k -------------------------------------------------------------- */

/* The value at index k (0-based) of a sorted descending, by Hoare-style
 * quickselect (Wirth). Reorders a (n). */
static float select_desc(float *a, int n, int k) {
    int lo = 0, hi = n - 1;
    while (lo < hi) {
        float x = a[lo], y = a[(lo + hi) / 2], z = a[hi];
        float pivot = x > y ? (y > z ? y : (x > z ? z : x)) : (x > z ? x : (y > z ? z : y));
        int i = lo, j = hi;
        while (i <= j) {
            while (a[i] > pivot) i++;
            while (a[j] < pivot) j--;
            if (i <= j) {
                float tmp = a[i]; a[i] = a[j]; a[j] = tmp;
                i++; j--;
            }
        }
        if (k <= j) hi = j;
        else if (k >= i) lo = i;
        else return a[k];
    }
    return a[k];
}

float sae_kth_threshold(const float *z, int n, int k, float *scratch) {
    int P = 0;
    for (int i = 0; i < n; i++)
        if (z[i] > 0.0f) scratch[P++] = z[i];
    if (P <= k) return P == k ? select_desc(scratch, P, k - 1) : 0.0f;
    return select_desc(scratch, P, k - 1);
}

typedef struct {
    float *Z; const float *A; float *thr; int *cnt; int L, k;
} TopkCtx;

static void topk_rows(void *vctx, int t0, int t1) {
    TopkCtx *c = vctx;
    float *scratch = xmalloc((size_t)c->L * sizeof(float));
    for (int t = t0; t < t1; t++) {
        const float *a = c->A + (size_t)t * c->L;
        float thr = sae_kth_threshold(a, c->L, c->k, scratch);
        if (c->Z) {   /* dense output */
            float *z = c->Z + (size_t)t * c->L;
            for (int l = 0; l < c->L; l++) z[l] = (a[l] > 0.0f && a[l] >= thr) ? a[l] : 0.0f;
        }
        if (c->thr) {
            int n = 0;
            for (int l = 0; l < c->L; l++) n += (a[l] > 0.0f && a[l] >= thr);
            c->thr[t] = thr;
            c->cnt[t] = n;
        }
    }
    free(scratch);
}

void sae_topk_dense(float *Z, const float *A, int T, int L, int k) {
    TopkCtx c = {Z, A, NULL, NULL, L, k};
    pool_for(T, 1, topk_rows, &c);
}

typedef struct { SAEWork *w; int T; } FillCtx;

static void fill_csr(void *vctx, int t0, int t1) {
    FillCtx *c = vctx;
    SAEWork *w = c->w;
    for (int t = t0; t < t1; t++) {
        const float *a = w->A + (size_t)t * w->L;
        float thr = w->thr[t];
        int p = w->row_ptr[t];
        for (int l = 0; l < w->L; l++)
            if (a[l] > 0.0f && a[l] >= thr) { w->col[p] = l; w->val[p] = a[l]; p++; }
    }
}

/* ---- decoder: Y = Ẑ W, latent by latent, in column blocks --------------
 * Each row of W is read once, in contiguous pieces of `jb` floats, and added
 * into the rows of Y where the latent fires; a (T, jb) block of Y stays in
 * the L2 cache. Gathering k random rows of W per token instead thrashes the
 * cache and the TLB (W is 75 MB at the seed's size). */

typedef struct { SAEWork *w; const float *W; int T, jb; } DecCtx;

/* y (n) += s * x (n) */
static inline void axpy(float *y, float s, const float *x, int n) {
    int j = 0;
    for (; j + 32 <= n; j += 32) {
        *(v16 *)(y + j) += s * *(const v16 *)(x + j);
        *(v16 *)(y + j + 16) += s * *(const v16 *)(x + j + 16);
    }
    for (; j < n; j++) y[j] += s * x[j];
}

static void decode_blocks(void *vctx, int b0, int b1) {
    DecCtx *c = vctx;
    SAEWork *w = c->w;
    const int d = w->d;
    for (int b = b0; b < b1; b++) {
        int j0 = b * c->jb, nj = d - j0 < c->jb ? d - j0 : c->jb;
        for (int t = 0; t < c->T; t++) memset(w->Y + (size_t)t * w->ld + j0, 0, (size_t)nj * sizeof(float));
        for (int l = 0; l < w->L; l++) {
            const float *wr = c->W + (size_t)l * d + j0;
            for (int q = w->col_ptr[l]; q < w->col_ptr[l + 1]; q++)
                axpy(w->Y + (size_t)w->crow[q] * w->ld + j0, w->cval[q], wr, nj);
        }
    }
}

/* Columns per block so that a few (T, jb) blocks fit in L2: a multiple of 32. */
static int block_cols(int T, int d, int nbuf) {
    long jb = (768L * 1024) / ((long)nbuf * T * (long)sizeof(float));
    jb = jb / 32 * 32;
    if (jb < 32) jb = 32;
    if (jb > d) jb = d;
    return (int)jb;
}

/* ---- reconstruction error: g_Y = 2 (Y - X) / (T d), per-row sums -------- */

typedef struct { SAEWork *w; const float *X; int T; } ErrCtx;

static void err_rows(void *vctx, int t0, int t1) {
    ErrCtx *c = vctx;
    SAEWork *w = c->w;
    const int d = w->d;
    const float scale = (float)(2.0 / ((double)c->T * d));
    for (int t = t0; t < t1; t++) {
        const float *y = w->Y + (size_t)t * w->ld, *x = c->X + (size_t)t * d;
        float *g = w->g_Y + (size_t)t * w->ld;
        memcpy(w->Xp + (size_t)t * w->ld, x, (size_t)d * sizeof(float));   /* X with the padded stride */
        double s = 0.0;
        for (int j = 0; j < d; j++) {
            float e = y[j] - x[j];
            s += (double)e * e;
            g[j] = scale * e;
        }
        w->rowacc[t] = s;
    }
}

/* ---- Gram matrix K = Ẑc Ẑcᵀ (T, T) from the sparse Ẑ, by rows ----------- */

typedef struct { SAEWork *w; int T; double mm; } GramCtx;

static void gram_rows(void *vctx, int t0, int t1) {
    GramCtx *c = vctx;
    SAEWork *w = c->w;
    const int T = c->T;
    for (int t = t0; t < t1; t++) {
        double *K = w->K + (size_t)t * T;   /* (T) row t: S first */
        for (int s = 0; s < T; s++) K[s] = 0.0;
        for (int p = w->row_ptr[t]; p < w->row_ptr[t + 1]; p++) {
            int l = w->col[p];
            double v = w->val[p];
            for (int q = w->col_ptr[l]; q < w->col_ptr[l + 1]; q++) K[w->crow[q]] += v * w->cval[q];
        }
        double ss = 0.0;
        for (int s = 0; s < T; s++) {
            K[s] += c->mm - w->u[t] - w->u[s];
            ss += K[s] * K[s];
        }
        w->rowacc[t] = ss;
    }
}

/* ---- per latent: g_A where Ẑ > 0, g_W[l], then Adam on row l -------------
 * A thread takes a range of latents and works through d in column blocks of
 * jb, so the (T, jb) blocks of g_Y and X it reads stay in L2:
 *   pass 1: G_q = g_Y[t_q]·W[l] for the nonzeros q of its latents, block by block;
 *   then    g_A_q = G_q + sw/(T L) + 4 dw/(T-1) ((K Ẑc)_{t_q l}/(T-1) - Ẑc_{t_q l} C_ll);
 *   pass 2: g_W[l, block] = Σ_q Ẑ_q g_Y[t_q, block] + g_A_q X[t_q, block], and
 *           Adam on that block of row l. */

typedef struct {
    SAEWork *w; const float *X; const float *W; int T, jb;
    float *gA;         /* (nnz) in CSC order: G, then g_A */
    float gs;          /* sw / (T L): the sparsity term's gradient on an active entry */
    double cd;         /* 4 dw / (T-1) */
    float *g_W;        /* (L, d) or NULL with adam */
    SAEAdam *adam; float *W_next;
    float lr_t, b1, b2, c1, c2, bc2_sqrt, eps;   /* Adam's constants for this step */
    const int *cut;    /* latent ranges [cut[p], cut[p+1]) of equal work */
    int *bad;          /* per range: 1 if Adam made a weight non-finite */
} RowCtx;

static float dot(const float *a, const float *b, int n) {
    v16 acc0 = {0}, acc1 = {0}, acc2 = {0}, acc3 = {0};
    int j = 0;
    for (; j + 64 <= n; j += 64) {
        acc0 += *(const v16 *)(a + j) * *(const v16 *)(b + j);
        acc1 += *(const v16 *)(a + j + 16) * *(const v16 *)(b + j + 16);
        acc2 += *(const v16 *)(a + j + 32) * *(const v16 *)(b + j + 32);
        acc3 += *(const v16 *)(a + j + 48) * *(const v16 *)(b + j + 48);
    }
    for (; j + 16 <= n; j += 16) acc0 += *(const v16 *)(a + j) * *(const v16 *)(b + j);
    acc0 += acc1 + (acc2 + acc3);
    float s = 0.0f;
    for (int i = 0; i < 16; i++) s += acc0[i];
    for (; j < n; j++) s += a[j] * b[j];
    return s;
}

/* g (n) = Σ_i zv[i] gy_i + ga[i] x_i over the tokens tok[0..m) of one latent */
static void grad_piece(float *g, int n, int m, const int *tok, const float *zv, const float *ga,
                       const float *g_Y, const float *X, int ld, int j0) {
    int j = 0;
    for (; j + 64 <= n; j += 64) {
        /* eight independent sums, so the multiply-adds do not wait on each other */
        v16 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, b0 = {0}, b1 = {0}, b2 = {0}, b3 = {0};
        for (int i = 0; i < m; i++) {
            const float *gy = g_Y + (size_t)tok[i] * ld + j0 + j, *x = X + (size_t)tok[i] * ld + j0 + j;
            float z = zv[i], a = ga[i];
            a0 += z * *(const v16 *)(gy);
            a1 += z * *(const v16 *)(gy + 16);
            a2 += z * *(const v16 *)(gy + 32);
            a3 += z * *(const v16 *)(gy + 48);
            b0 += a * *(const v16 *)(x);
            b1 += a * *(const v16 *)(x + 16);
            b2 += a * *(const v16 *)(x + 32);
            b3 += a * *(const v16 *)(x + 48);
        }
        *(v16 *)(g + j) = a0 + b0; *(v16 *)(g + j + 16) = a1 + b1;
        *(v16 *)(g + j + 32) = a2 + b2; *(v16 *)(g + j + 48) = a3 + b3;
    }
    for (; j < n; j++) {
        float s = 0.0f;
        for (int i = 0; i < m; i++)
            s += zv[i] * g_Y[(size_t)tok[i] * ld + j0 + j] + ga[i] * X[(size_t)tok[i] * ld + j0 + j];
        g[j] = s;
    }
}

/* PyTorch's Adam on n elements (see sae_adam_step), 16 at a time.
 * Returns 1 if a new weight is not finite (an overflowing gradient: the loss
 * can stay finite, as the top-k never picks a NaN latent). */
static int adam_piece(float *Wn, float *m, float *v, const float *W, const float *g, int n, const RowCtx *c) {
    v16 chk = {0};   /* Σ 0 * w: NaN as soon as one w is Inf or NaN */
    int j = 0;
    for (; j + 16 <= n; j += 16) {
        v16 gj = *(const v16 *)(g + j);
        v16 mj = *(v16 *)(m + j) * c->b1 + gj * c->c1;
        v16 vj = *(v16 *)(v + j) * c->b2 + gj * gj * c->c2;
        *(v16 *)(m + j) = mj;
        *(v16 *)(v + j) = vj;
#if defined(__AVX512F__)
        v16 denom = (v16)_mm512_sqrt_ps((__m512)vj) / c->bc2_sqrt + c->eps;
#else
        v16 denom;   /* (no v16 is passed to a function: that ABI needs AVX-512) */
        for (int i = 0; i < 16; i++) denom[i] = sqrtf(vj[i]) / c->bc2_sqrt + c->eps;
#endif
        v16 wn = *(const v16 *)(W + j) - c->lr_t * (mj / denom);
        *(v16 *)(Wn + j) = wn;
        chk += wn * 0.0f;
    }
    for (; j < n; j++) {
        m[j] = m[j] * c->b1 + g[j] * c->c1;
        v[j] = v[j] * c->b2 + g[j] * g[j] * c->c2;
        float denom = sqrtf(v[j]) / c->bc2_sqrt + c->eps;
        Wn[j] = W[j] - c->lr_t * (m[j] / denom);
        chk[0] += Wn[j] * 0.0f;
    }
    float s = 0.0f;
    for (int i = 0; i < 16; i++) s += chk[i];
    return !isfinite(s);
}

/* Returns 1 if Adam made a weight non-finite. */
static int latent_rows(void *vctx, int l0, int l1) {
    RowCtx *c = vctx;
    SAEWork *w = c->w;
    const int d = w->d, T = c->T, jb = c->jb;
    const double inv_t1 = 1.0 / (T - 1);
    float *grow = xmalloc((size_t)jb * sizeof(float));   /* (jb) a piece of a gradient row */
    int nonfinite = 0;
    int qa = w->col_ptr[l0], qb = w->col_ptr[l1];
    for (int q = qa; q < qb; q++) c->gA[q] = 0.0f;
    /* pass 1: G = g_Y[t]·W[l] at the nonzeros */
    for (int j0 = 0; j0 < d; j0 += jb) {
        int nj = d - j0 < jb ? d - j0 : jb;
        for (int l = l0; l < l1; l++) {
            const float *Wl = c->W + (size_t)l * d + j0;
            for (int q = w->col_ptr[l]; q < w->col_ptr[l + 1]; q++)
                c->gA[q] += dot(w->g_Y + (size_t)w->crow[q] * w->ld + j0, Wl, nj);
        }
    }
    /* g_A = G + sparsity + decorrelation terms */
    for (int l = l0; l < l1; l++) {
        int q0 = w->col_ptr[l], n = w->col_ptr[l + 1] - q0;
        const int *tok = w->crow + q0;
        const float *v = w->cval + q0;
        for (int i = 0; i < n; i++) {
            const double *Kt = w->K + (size_t)tok[i] * T;
            double kz = 0.0;                                /* (K Ẑc)_tl */
            for (int j = 0; j < n; j++) kz += Kt[tok[j]] * v[j];
            double decor = c->cd * (kz * inv_t1 - (v[i] - w->m[l]) * w->diagC[l]);
            c->gA[q0 + i] += c->gs + (float)decor;
        }
    }
    /* pass 2: g_W[l] block by block, then Adam on it (or store it) */
    for (int j0 = 0; j0 < d; j0 += jb) {
        int nj = d - j0 < jb ? d - j0 : jb;
        for (int l = l0; l < l1; l++) {
            int q0 = w->col_ptr[l], n = w->col_ptr[l + 1] - q0;
            size_t off = (size_t)l * d + j0;
            float *g = c->adam ? grow : c->g_W + off;
            grad_piece(g, nj, n, w->crow + q0, w->cval + q0, c->gA + q0, w->g_Y, w->Xp, w->ld, j0);
            if (c->adam) {   /* PyTorch's Adam on this piece (see sae_adam_step) */
                float *m = c->adam->m + off, *vv = c->adam->v + off;
                const float *Wl = c->W + off;
                float *Wn = c->W_next + off;
                nonfinite |= adam_piece(Wn, m, vv, Wl, grow, nj, c);
            }
        }
    }
    free(grow);
    return nonfinite;
}

static void latent_pieces(void *vctx, int p0, int p1) {
    RowCtx *c = vctx;
    for (int p = p0; p < p1; p++)
        c->bad[p] = c->cut[p + 1] > c->cut[p] ? latent_rows(c, c->cut[p], c->cut[p + 1]) : 0;
}

/* ---- the step ----------------------------------------------------------- */

int sae_step_fast(SAEWork *w, const SAE *sae, const float *X, int T, float sw, float dw,
                  float *g_W, SAEAdam *adam, const SAEParams *p, float *W_next, float *Z,
                  SAELosses *out) {
    const int d = sae->d, L = sae->L, k = sae->k;
    const float *W = sae->W;
    assert(T >= 2 && T <= w->Tmax && d == w->d && L == w->L);

    w->prof[0] -= prof_now();
    /* encoder: A = X Wᵀ, dense */
    gemm(0, 1, T, L, d, 1.0f, X, d, W, d, 0.0f, w->A, L);

    w->prof[1] -= prof_now();
    w->prof[0] += prof_now();
    /* top-k: thresholds and counts, then the CSR of the nonzeros */
    int *cnt = xmalloc((size_t)T * sizeof(int));
    TopkCtx tc = {Z, w->A, w->thr, cnt, L, k};
    pool_for(T, 1, topk_rows, &tc);
    long nnz = 0;
    for (int t = 0; t < T; t++) { w->row_ptr[t] = (int)nnz; nnz += cnt[t]; }
    w->row_ptr[T] = (int)nnz;
    free(cnt);
    work_reserve(w, nnz);
    FillCtx fc = {w, T};
    pool_for(T, 1, fill_csr, &fc);

    w->prof[2] -= prof_now();
    w->prof[1] += prof_now();
    /* CSC by latent (counting sort; tokens stay in increasing order) */
    memset(w->col_ptr, 0, (size_t)(L + 1) * sizeof(int));
    for (long p2 = 0; p2 < nnz; p2++) w->col_ptr[w->col[p2] + 1]++;
    for (int l = 0; l < L; l++) w->col_ptr[l + 1] += w->col_ptr[l];
    {
        int *next = xmalloc((size_t)L * sizeof(int));
        memcpy(next, w->col_ptr, (size_t)L * sizeof(int));
        for (int t = 0; t < T; t++)
            for (int p2 = w->row_ptr[t]; p2 < w->row_ptr[t + 1]; p2++) {
                int q = next[w->col[p2]]++;
                w->crow[q] = t;
                w->cval[q] = w->val[p2];
            }
        free(next);
    }

    w->prof[3] -= prof_now();
    w->prof[2] += prof_now();
    /* decoder Y = Ẑ W, then the reconstruction error */
    DecCtx dc = {w, W, T, block_cols(T, d, 1)};
    {   /* a whole number of blocks per thread */
        int nth = pool_threads(), nb = (d + dc.jb - 1) / dc.jb;
        nb = (nb + nth - 1) / nth * nth;
        dc.jb = ((d + nb - 1) / nb + 31) / 32 * 32;
    }
    pool_for((d + dc.jb - 1) / dc.jb, 1, decode_blocks, &dc);
    ErrCtx ec = {w, X, T};
    pool_for(T, 1, err_rows, &ec);
    double sse = 0.0;
    for (int t = 0; t < T; t++) sse += w->rowacc[t];
    double mse = sse / ((double)T * d);

    w->prof[4] -= prof_now();
    w->prof[3] += prof_now();
    /* sparsity: Ẑ >= 0, so mean|Ẑ| is the sum of the nonzeros / (T L) */
    double l1 = 0.0;
    for (long p2 = 0; p2 < nnz; p2++) l1 += w->val[p2];
    double spars = sw * l1 / ((double)T * L);

    /* column means m, variances diag(C), u = Ẑ m, mᵀm */
    double mm = 0.0;
    for (int l = 0; l < L; l++) {
        double s = 0.0, s2 = 0.0;
        for (int q = w->col_ptr[l]; q < w->col_ptr[l + 1]; q++) {
            s += w->cval[q];
            s2 += (double)w->cval[q] * w->cval[q];
        }
        w->m[l] = s / T;
        w->diagC[l] = (s2 - T * w->m[l] * w->m[l]) / (T - 1);
        mm += w->m[l] * w->m[l];
    }
    for (int t = 0; t < T; t++) {
        double s = 0.0;
        for (int p2 = w->row_ptr[t]; p2 < w->row_ptr[t + 1]; p2++) s += w->val[p2] * w->m[w->col[p2]];
        w->u[t] = s;
    }
    w->prof[5] -= prof_now();
    w->prof[4] += prof_now();
    /* K and ‖K‖_F²; decor = dw (‖K‖_F² / (T-1)² - Σ_l C_ll²) */
    GramCtx gc = {w, T, mm};
    pool_for(T, 1, gram_rows, &gc);
    double kk = 0.0, dd = 0.0;
    for (int t = 0; t < T; t++) kk += w->rowacc[t];
    for (int l = 0; l < L; l++) dd += w->diagC[l] * w->diagC[l];
    double decor = dw * (kk / ((double)(T - 1) * (T - 1)) - dd);

    out->mse = mse;
    out->sparsity = spars;
    out->decor = decor;
    out->total = mse + spars + decor;
    if (!isfinite(out->total)) {
        w->prof[5] += prof_now();
        return -1;
    }

    w->prof[6] -= prof_now();
    w->prof[5] += prof_now();
    /* backward, one latent row at a time (and Adam on it) */
    RowCtx rc = {0};
    int nonfinite = 0;
    rc.w = w; rc.X = X; rc.W = W; rc.T = T;
    rc.jb = block_cols(T, d, 2);
    rc.gA = w->gA;
    rc.gs = (float)(sw / ((double)T * L));
    rc.cd = 4.0 * dw / (T - 1);
    rc.g_W = g_W;
    if (adam) {
        adam->step++;
        double bc1 = 1.0 - pow(p->beta1, (double)adam->step);
        double bc2 = 1.0 - pow(p->beta2, (double)adam->step);
        rc.adam = adam; rc.W_next = W_next;
        rc.lr_t = (float)(p->lr / bc1);
        rc.b1 = (float)p->beta1; rc.b2 = (float)p->beta2; rc.eps = (float)p->eps;
        rc.c1 = (float)(1.0 - p->beta1); rc.c2 = (float)(1.0 - p->beta2);
        rc.bc2_sqrt = (float)sqrt(bc2);
    }
    /* split the latents into pieces of equal work (nonzeros plus a share for
     * each row's Adam update), not equal counts: some latents fire on every token */
    {
        int np = 4 * pool_threads();
        int *cut = xmalloc((size_t)(np + 1) * sizeof(int));
        double per_row = (double)T / 8, total = (double)nnz + per_row * L, acc = 0;
        cut[0] = 0;
        int piece = 1;
        for (int l = 0; l < L && piece < np; l++) {
            acc += (w->col_ptr[l + 1] - w->col_ptr[l]) + per_row;
            if (acc >= total * piece / np) cut[piece++] = l + 1;
        }
        while (piece <= np) cut[piece++] = L;
        rc.cut = cut;
        rc.bad = xcalloc((size_t)np, sizeof(int));
        pool_for(np, 1, latent_pieces, &rc);
        for (int i = 0; i < np; i++) nonfinite |= rc.bad[i];
        free(rc.bad);
        free(cut);
    }
    w->prof[6] += prof_now();
    return nonfinite ? -2 : 0;
}

void sae_loss_grad(const SAE *sae, const float *X, int T, float sw, float dw, float *g_W,
                   float *Z, SAELosses *out) {
    SAEWork w;
    sae_work_init(&w, T, sae->d, sae->L);
    sae_step_fast(&w, sae, X, T, sw, dw, g_W, NULL, NULL, NULL, Z, out);
    sae_work_free(&w);
}
