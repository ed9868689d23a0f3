/*
 * sae/sae_fast.c - the fast training step: same loss and gradient as
 * sae/sae_ref.c (read that first for the derivation), computed without any
 * L x L matrix and without the latents that never fire in the batch.
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
 * 2. Top-k sparsity. Ẑ is kept as CSR (by token) and CSC (by latent). A
 *    latent that fires on no token of the batch ("dead" here) contributes
 *    nothing to Y and gets a zero gradient; the n live ones fire on few
 *    tokens each (Ẑl, the live columns, is ~85% zeros on average over the
 *    100 epochs of bench/bench_sae).
 *    So the three products of the step run over the nonzeros only, each
 *    nonzero a d-long multiply-add:
 *      Y    (T, d) = Ẑ W                  by tokens (CSR), from Wl, the live
 *                                         rows of W packed in column panels
 *      G_tl        = g_Y[t] · W[l]        d loss / d Ẑ, only where Ẑ > 0
 *      g_W[l]      = Σ_t Ẑ_tl g_Y[t] + g_A_tl X[t]   by latents (CSC)
 *    in column slices that keep the operands being reused in L2. (Dense
 *    gemms over the live latents ran at a higher FLOP rate but on 2-7x the
 *    FLOPs; see git history.)
 * 3. Adam is applied to each block of rows as soon as its gradient is ready:
 *    the full (L, d) gradient is never stored. A dead row's gradient is zero
 *    (its moments still decay and it still moves, as in PyTorch).
 * The encoder X Wᵀ stays a dense matrix multiply: the top-k needs every
 * pre-activation.
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
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

/* 16 floats, unaligned, may alias float: the compiler maps it to one AVX-512
 * register (or two AVX2, four SSE) */
typedef float v16 __attribute__((vector_size(64), aligned(4), may_alias));

const char *const sae_prof_names[SAE_PROF_PARTS] = {"encoder", "top-k", "CSC", "decoder", "stats", "Gram", "backward+Adam"};

/* ---- workspace ---------------------------------------------------------- */

void sae_work_init(SAEWork *w, int Tmax, int d, int L) {
    memset(w, 0, sizeof *w);
    w->Tmax = Tmax; w->d = d; w->L = L;
    w->A = xmalloc((size_t)Tmax * L * sizeof(float));
    w->thr = xmalloc((size_t)Tmax * sizeof(float));
    w->row_ptr = xmalloc((size_t)(Tmax + 1) * sizeof(int));
    w->col_ptr = xmalloc((size_t)(L + 1) * sizeof(int));
    w->live = xmalloc((size_t)L * sizeof(int));
    w->pos = xmalloc((size_t)L * sizeof(int));
    w->GA = xmalloc((size_t)Tmax * L * sizeof(float));
    /* rows padded by 16 floats: a stride of d = 3072 floats (3 x 4 KiB) puts
     * the same column of every row into the same few cache sets */
    w->ld = d + 16;
    w->Y = xmalloc((size_t)Tmax * w->ld * sizeof(float));
    w->g_Y = xmalloc((size_t)Tmax * w->ld * sizeof(float));
    w->K = xmalloc((size_t)Tmax * Tmax * sizeof(float));
    w->u = xmalloc((size_t)Tmax * sizeof(double));
    w->rowacc = xmalloc((size_t)Tmax * sizeof(double));
    w->m = xmalloc((size_t)L * sizeof(double));
    w->diagC = xmalloc((size_t)L * sizeof(double));
}

void sae_work_free(SAEWork *w) {
    if (!w) return;
    free(w->A); free(w->thr); free(w->row_ptr); free(w->col); free(w->val);
    free(w->col_ptr); free(w->crow); free(w->cval); free(w->Y); free(w->g_Y);
    free(w->live); free(w->pos); free(w->GA); free(w->Wl); free(w->cga); free(w->gWc); free(w->lpos);
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
    w->cga = xrealloc(w->cga, (size_t)cap * sizeof(float));
    w->lpos = xrealloc(w->lpos, (size_t)cap * sizeof(int));

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
/* ---- reconstruction error: g_Y = 2 (Y - X) / (T d), per-row sums -------- */

typedef struct { SAEWork *w; const float *X; int T; } ErrCtx;

static void err_rows(void *vctx, int t0, int t1) {
    ErrCtx *c = vctx;
    SAEWork *w = c->w;
    const int d = w->d;
    const float scale = (float)(2.0 / ((double)c->T * d));
    for (int t = t0; t < t1; t++) {
        float *y = w->Y + (size_t)t * w->ld;
        const float *x = c->X + (size_t)t * d;
        float *g = w->g_Y + (size_t)t * w->ld;
        double s = 0.0;
        for (int j = 0; j < d; j++) {
            float e = y[j] - x[j];
            s += (double)e * e;
            g[j] = scale * e;
            y[j] = x[j];   /* Y becomes X with the padded stride, for the backward pass */
        }
        w->rowacc[t] = s;
    }
}

/* ---- Gram matrix K = Ẑc Ẑcᵀ (T, T) from the sparse Ẑ, by rows -----------
 * in double for ‖K‖_F² (the loss), kept in float for the gradient */

typedef struct { SAEWork *w; int T; double mm; } GramCtx;

static void gram_rows(void *vctx, int t0, int t1) {
    GramCtx *c = vctx;
    SAEWork *w = c->w;
    const int T = c->T;
    double *K = xmalloc((size_t)T * sizeof(double));   /* (T) row t, S first, in double */
    for (int t = t0; t < t1; t++) {
        for (int s = 0; s < T; s++) K[s] = 0.0;
        for (int p = w->row_ptr[t]; p < w->row_ptr[t + 1]; p++) {
            int l = w->col[p];
            double v = w->val[p];
            for (int q = w->col_ptr[l]; q < w->col_ptr[l + 1]; q++) K[w->crow[q]] += v * w->cval[q];
        }
        double ss = 0.0;
        float *Kf = w->K + (size_t)t * T;
        for (int s = 0; s < T; s++) {
            K[s] += c->mm - w->u[t] - w->u[s];
            ss += K[s] * K[s];
            Kf[s] = (float)K[s];
        }
        w->rowacc[t] = ss;
    }
    free(K);
}

#ifndef DEC_V
#define DEC_V 4
#endif
#define DEC_AHEAD 8   /* nonzeros ahead whose row is prefetched */
#define DEC_W (16 * DEC_V)   /* columns of a panel of Wl */

/* ---- live latents: Ẑl (T, n) and Wl (d/64, n, 64) ------------------------------ */

typedef struct { SAEWork *w; const float *W; } LiveCtx;

/* rows [t0, t1) of Ẑl (in w->A, row stride nlive) from the CSR, and lpos */
static void live_rows(void *vctx, int t0, int t1) {
    LiveCtx *c = vctx;
    SAEWork *w = c->w;
    const int n = w->nlive;
    for (int t = t0; t < t1; t++) {
        float *z = w->A + (size_t)t * n;
        memset(z, 0, (size_t)n * sizeof(float));
        for (int p = w->row_ptr[t]; p < w->row_ptr[t + 1]; p++) {
            w->lpos[p] = w->pos[w->col[p]];
            z[w->lpos[p]] = w->val[p];
        }
    }
}

/* rows [i0, i1) of Wl: the live rows of W, in panels of DEC_W columns */
static void gather_rows(void *vctx, int i0, int i1) {
    LiveCtx *c = vctx;
    SAEWork *w = c->w;
    const int n = w->nlive;
    for (int i = i0; i < i1; i++) {
        const float *src = c->W + (size_t)w->live[i] * w->d;
        for (int j0 = 0; j0 + DEC_W <= w->d; j0 += DEC_W)
            memcpy(w->Wl + ((size_t)j0 * n + (size_t)i * DEC_W), src + j0, DEC_W * sizeof(float));
    }
}

/* ---- decoder: Y = Ẑ W over the nonzeros (CSR) ----------------------------
 * Row t of Y is Σ_p val[p] W[col[p]], in the order of the nonzeros (latents
 * increasing), read from Wl, the live rows in panels of DEC_W columns: all
 * tokens pass over one panel (n x 64 floats, contiguous, read forwards) before
 * the next; two tokens at once, for independent accumulators. The last
 * d % DEC_W columns come from W. */


static void decode_rows(void *vctx, int t0, int t1) {
    LiveCtx *c = vctx;
    SAEWork *w = c->w;
    const int d = w->d, n = w->nlive, *rp = w->row_ptr, *lpos = w->lpos;
    const float *val = w->val;
    int j0 = 0;
    for (; j0 + 16 * DEC_V <= d; j0 += 16 * DEC_V) {
        const float *Wj = w->Wl + (size_t)j0 * n;   /* (n, DEC_W) */
        int t = t0;
        for (; t + 2 <= t1; t += 2) {
            v16 a[DEC_V] = {{0}}, b[DEC_V] = {{0}};
            int pa = rp[t], pb = rp[t + 1], ea = rp[t + 1], eb = rp[t + 2];
            for (; pa < ea && pb < eb; pa++, pb++) {
                const float *ra = Wj + (size_t)lpos[pa] * DEC_W, *rb = Wj + (size_t)lpos[pb] * DEC_W;
                if (pa + DEC_AHEAD < ea && pb + DEC_AHEAD < eb) {
                    const float *fa = Wj + (size_t)lpos[pa + DEC_AHEAD] * DEC_W, *fb = Wj + (size_t)lpos[pb + DEC_AHEAD] * DEC_W;
                    for (int i = 0; i < DEC_V; i++) {
                        __builtin_prefetch(fa + 16 * i);
                        __builtin_prefetch(fb + 16 * i);
                    }
                }
                float za = val[pa], zb = val[pb];
#pragma GCC unroll 4
                for (int i = 0; i < DEC_V; i++) {
                    a[i] += za * *(const v16 *)(ra + 16 * i);
                    b[i] += zb * *(const v16 *)(rb + 16 * i);
                }
            }
            for (; pa < ea; pa++) {
                const float *ra = Wj + (size_t)lpos[pa] * DEC_W;
#pragma GCC unroll 4
                for (int i = 0; i < DEC_V; i++) a[i] += val[pa] * *(const v16 *)(ra + 16 * i);
            }
            for (; pb < eb; pb++) {
                const float *rb = Wj + (size_t)lpos[pb] * DEC_W;
#pragma GCC unroll 4
                for (int i = 0; i < DEC_V; i++) b[i] += val[pb] * *(const v16 *)(rb + 16 * i);
            }
            float *ya = w->Y + (size_t)t * w->ld + j0, *yb = ya + w->ld;
            for (int i = 0; i < DEC_V; i++) {
                *(v16 *)(ya + 16 * i) = a[i];
                *(v16 *)(yb + 16 * i) = b[i];
            }
        }
        for (; t < t1; t++) {
            v16 a[DEC_V] = {{0}};
            for (int p = rp[t]; p < rp[t + 1]; p++) {
                const float *ra = Wj + (size_t)lpos[p] * DEC_W;
#pragma GCC unroll 4
                for (int i = 0; i < DEC_V; i++) a[i] += val[p] * *(const v16 *)(ra + 16 * i);
            }
            float *ya = w->Y + (size_t)t * w->ld + j0;
            for (int i = 0; i < DEC_V; i++) *(v16 *)(ya + 16 * i) = a[i];
        }
    }
    /* the last d % DEC_W columns, from W */
    for (int t = t0; t < t1 && j0 < d; t++) {
        float *y = w->Y + (size_t)t * w->ld;
        for (int j = j0; j < d; j++) y[j] = 0.0f;
        for (int p = rp[t]; p < rp[t + 1]; p++) {
            const float *r = c->W + (size_t)w->col[p] * d;
            for (int j = j0; j < d; j++) y[j] += val[p] * r[j];
        }
    }
}

/* ---- backward and Adam -----------------------------------------------------
 * d loss / d A, needed only at the nonzeros (the mask and relu zero the rest):
 *   g_A_tl = G_tl + 4 dw/(T-1)² (K Ẑl)_tl + sw/(T L) - 4 dw/(T-1) Ẑc_tl C_ll
 * with G_tl = g_Y[t] · W[l] (d loss / d Ẑ through the decoder) and K Ẑc =
 * K Ẑl (see the top; one small gemm, T x T x n, into GA).
 * Everything else runs row by row of W over the CSC, BW_ROWS live rows at a
 * time, in column slices of BW_V x 16, so that the slices of g_Y and X
 * (T x 128 each) stay in L2 while the block's rows pass over them:
 *   1. G at the block's nonzeros, a dot product per nonzero, slice by slice;
 *      then g_A there.
 *   2. g_W[l] = Σ_t Ẑ_tl g_Y[t] + Σ_t g_A_tl X[t] over the tokens where l
 *      fires, in increasing order, one fused multiply-add each, the two terms
 *      added last (the operations of the dense Ẑlᵀ g_Y + g_Alᵀ X, without
 *      the products by zero).
 *   3. Adam on every row up to the block's last, row by row, with the
 *      block's gradient (a dead row's gradient is zero). The full (L, d)
 *      gradient is never stored. */

#ifndef BW_V
#define BW_V 8
#endif
#ifndef BW_ROWS
#define BW_ROWS 128
#endif

typedef struct {
    SAEWork *w; const float *W, *X; int T;
    float gs;          /* sw / (T L): the sparsity term's gradient on an active entry */
    double cd;         /* 4 dw / (T-1) */
    /* Adam (or, with adam NULL, the gradient into g_W) */
    float *g_W;        /* (L, d) or NULL with adam */
    SAEAdam *adam; float *W_next;
    float lr_t, b1, b2, c1, c2, bc2_sqrt, eps;   /* Adam's constants for this step */
    int split[65];     /* rows [split[i], split[i+1]) go to the pool's chunk i */
    int *bad;          /* 1 if Adam made a weight non-finite */
} RowCtx;

/* PyTorch's Adam on n elements (see sae_adam_step), 16 at a time; g NULL
 * means a zero gradient. Returns 1 if a new weight is not finite (an
 * overflowing gradient: the loss can stay finite, as the top-k never picks a
 * NaN latent). */
static int adam_row(float *Wn, float *m, float *v, const float *W, const float *g, int n, const RowCtx *c) {
    v16 chk = {0};   /* Σ 0 * w: NaN as soon as one w is Inf or NaN */
    int j = 0;
    for (; j + 16 <= n; j += 16) {
        v16 gj = {0};
        if (g) gj = *(const v16 *)(g + j);
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
        float gj = g ? g[j] : 0.0f;
        m[j] = m[j] * c->b1 + gj * c->c1;
        v[j] = v[j] * c->b2 + gj * gj * c->c2;
        float denom = sqrtf(v[j]) / c->bc2_sqrt + c->eps;
        Wn[j] = W[j] - c->lr_t * (m[j] / denom);
        chk[0] += Wn[j] * 0.0f;
    }
    float s = 0.0f;
    for (int i = 0; i < 16; i++) s += chk[i];
    return !isfinite(s);
}

/* cga[q] += columns [j0, j0+cw) of g_Y[t] · W[l] for the nonzeros q of latent l */
static void dot_slice(SAEWork *w, const float *Wl, int l, int j0, int cw) {
    const int q0 = w->col_ptr[l], q1 = w->col_ptr[l + 1], ld = w->ld;
    const float *gY = w->g_Y + j0;
    Wl += j0;
    if (cw == 16 * BW_V) {
        v16 wv[BW_V];
        for (int i = 0; i < BW_V; i++) wv[i] = *(const v16 *)(Wl + 16 * i);
        for (int q = q0; q < q1; q++) {
            const float *gy = gY + (size_t)w->crow[q] * ld;
            v16 a = wv[0] * *(const v16 *)gy, b = wv[1] * *(const v16 *)(gy + 16);
#pragma GCC unroll 8
            for (int i = 2; i < BW_V; i += 2) {
                a += wv[i] * *(const v16 *)(gy + 16 * i);
                b += wv[i + 1] * *(const v16 *)(gy + 16 * i + 16);
            }
            a += b;
#if defined(__AVX512F__)
            w->cga[q] += _mm512_reduce_add_ps((__m512)a);
#else
            float s = 0.0f;
            for (int i = 0; i < 16; i++) s += a[i];
            w->cga[q] += s;
#endif
        }
        return;
    }
    for (int q = q0; q < q1; q++) {
        const float *gy = gY + (size_t)w->crow[q] * ld;
        float s = 0.0f;
        for (int j = 0; j < cw; j++) s += Wl[j] * gy[j];
        w->cga[q] += s;
    }
}

/* g (cw) = columns [j0, j0+cw) of row l's gradient, from the CSC column of l
 * (cga: g_A at the same nonzeros; X read from w->Y, its copy with stride ld) */
static void grad_W_slice(float *g, const SAEWork *w, int l, int j0, int cw) {
    const int q0 = w->col_ptr[l], q1 = w->col_ptr[l + 1], ld = w->ld;
    const float *gY = w->g_Y + j0, *X = w->Y + j0;
    if (cw == 16 * BW_V) {
        v16 a[BW_V] = {{0}}, b[BW_V] = {{0}};
        for (int q = q0; q < q1; q++) {
            size_t off = (size_t)w->crow[q] * ld;
            float z = w->cval[q], ga = w->cga[q];
#pragma GCC unroll 8
            for (int i = 0; i < BW_V; i++) {
                a[i] += z * *(const v16 *)(gY + off + 16 * i);
                b[i] += ga * *(const v16 *)(X + off + 16 * i);
            }
        }
        for (int i = 0; i < BW_V; i++) *(v16 *)(g + 16 * i) = a[i] + b[i];
        return;
    }
    for (int j = 0; j < cw; j++) {
        float a = 0.0f, b = 0.0f;
        for (int q = q0; q < q1; q++) {
            a += w->cval[q] * gY[(size_t)w->crow[q] * ld + j];
            b += w->cga[q] * X[(size_t)w->crow[q] * ld + j];
        }
        g[j] = a + b;
    }
}

/* the pool's chunks [i0, i1): their rows of W, BW_ROWS live rows at a time:
 * their gradient (into gWc, column slice by column slice), then Adam (or the
 * gradient into g_W) on every row up to the last of them, row by row */
static void backward_rows(void *vctx, int i0, int i1) {
    RowCtx *c = vctx;
    SAEWork *w = c->w;
    const int d = w->d, n = w->nlive, l1 = c->split[i1];
    float *gb = w->gWc + (size_t)i0 * BW_ROWS * d;   /* (BW_ROWS, d) */
    int bad = 0;
    for (int l = c->split[i0]; l < l1;) {
        int rows[BW_ROWS], nr = 0, le = l;
        for (; le < l1 && nr < BW_ROWS; le++)
            if (w->pos[le] >= 0) rows[nr++] = le;
        /* 1. G, then g_A, at the block's nonzeros */
        for (int r = 0; r < nr; r++)
            for (int q = w->col_ptr[rows[r]]; q < w->col_ptr[rows[r] + 1]; q++) w->cga[q] = 0.0f;
        for (int j0 = 0; j0 < d; j0 += 16 * BW_V)
            for (int r = 0; r < nr; r++) dot_slice(w, c->W + (size_t)rows[r] * d, rows[r], j0, d - j0 < 16 * BW_V ? d - j0 : 16 * BW_V);
        for (int r = 0; r < nr; r++) {
            int lr = rows[r];
            for (int q = w->col_ptr[lr]; q < w->col_ptr[lr + 1]; q++) {
                double diag = c->cd * (w->cval[q] - w->m[lr]) * w->diagC[lr];
                w->cga[q] = w->cga[q] + w->GA[(size_t)w->crow[q] * n + w->pos[lr]] + c->gs - (float)diag;
            }
        }
        /* 2. g_W */
        for (int j0 = 0; j0 < d; j0 += 16 * BW_V)
            for (int r = 0; r < nr; r++) grad_W_slice(gb + (size_t)r * d + j0, w, rows[r], j0, d - j0 < 16 * BW_V ? d - j0 : 16 * BW_V);
        for (int r = 0; l < le; l++) {
            size_t off = (size_t)l * d;
            const float *g = w->pos[l] >= 0 ? gb + (size_t)(r++) * d : NULL;   /* 3. Adam */
            if (c->adam) bad |= adam_row(c->W_next + off, c->adam->m + off, c->adam->v + off, c->W + off, g, d, c);
            else if (g) memcpy(c->g_W + off, g, (size_t)d * sizeof(float));
            else memset(c->g_W + off, 0, (size_t)d * sizeof(float));
        }
    }
    if (bad) __atomic_store_n(c->bad, 1, __ATOMIC_RELAXED);
}

/* ---- the step ----------------------------------------------------------- */

int sae_step_fast(SAEWork *w, const SAE *sae, const float *X, int T, float sw, float dw,
                  float *g_W, SAEAdam *adam, const SAEParams *p, float *W_next, float *Z,
                  SAELosses *out) {
    const int d = sae->d, L = sae->L, k = sae->k;
    const float *W = sae->W;
    assert(T >= 2 && T <= w->Tmax && d == w->d && L == w->L);

    w->prof[0] -= cpu_now();
    /* encoder: A = X Wᵀ, dense */
    gemm(0, 1, T, L, d, 1.0f, X, d, W, d, 0.0f, w->A, L);

    w->prof[1] -= cpu_now();
    w->prof[0] += cpu_now();
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

    w->prof[2] -= cpu_now();
    w->prof[1] += cpu_now();
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

    w->prof[3] -= cpu_now();
    w->prof[2] += cpu_now();
    /* the live latents; Ẑl (T, n) over A; Wl, their rows of W in panels */
    int n = 0;
    for (int l = 0; l < L; l++) {
        w->pos[l] = w->col_ptr[l + 1] > w->col_ptr[l] ? n : -1;
        if (w->pos[l] >= 0) w->live[n++] = l;
    }
    w->nlive = n;
    LiveCtx lc = {w, W};
    pool_for(T, 1, live_rows, &lc);
    if ((long)n * d > w->Wl_cap) {
        free(w->Wl);
        w->Wl_cap = (long)(n + 64 < L ? n + 64 : L) * d;
        w->Wl = xmalloc((size_t)w->Wl_cap * sizeof(float));
    }
    pool_for(n, 16, gather_rows, &lc);
    /* decoder Y (T, d) = Ẑ W over the nonzeros, then the reconstruction error */
    pool_for(T, 2, decode_rows, &lc);
    ErrCtx ec = {w, X, T};
    pool_for(T, 1, err_rows, &ec);
    double sse = 0.0;
    for (int t = 0; t < T; t++) sse += w->rowacc[t];
    double mse = sse / ((double)T * d);

    w->prof[4] -= cpu_now();
    w->prof[3] += cpu_now();
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
    w->prof[5] -= cpu_now();
    w->prof[4] += cpu_now();
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
        w->prof[5] += cpu_now();
        return -1;
    }

    w->prof[6] -= cpu_now();
    w->prof[5] += cpu_now();
    /* backward: the K Ẑl term of g_A (T, n), then, by rows of W, g_A at the nonzeros, g_W and Adam */
    RowCtx rc = {0};
    int nonfinite = 0;
    rc.w = w; rc.W = W; rc.X = X; rc.T = T;
    rc.gs = (float)(sw / ((double)T * L));
    rc.cd = 4.0 * dw / (T - 1);
    rc.g_W = g_W;
    rc.bad = &nonfinite;
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
    gemm(0, 0, T, n, T, (float)(rc.cd / (T - 1)), w->K, T, w->A, n, 0.0f, w->GA, n);
    /* g_W and Adam, the rows split so that each thread gets the same work:
     * a row costs its Adam update (about as much as ADAM_COST nonzeros) plus
     * its nonzeros */
    enum { ADAM_COST = 32 };
    int nt = pool_threads() < 64 ? pool_threads() : 64;
    double per = ((double)L * ADAM_COST + (double)nnz) / nt, acc = 0.0;
    rc.split[0] = 0;
    for (int i = 1, l = 0; i < nt; i++) {
        while (l < L && acc < per * i) { acc += ADAM_COST + w->col_ptr[l + 1] - w->col_ptr[l]; l++; }
        rc.split[i] = l;
    }
    rc.split[nt] = L;
    if ((long)nt * BW_ROWS * d > w->gWc_cap) {
        free(w->gWc);
        w->gWc_cap = (long)nt * BW_ROWS * d;
        w->gWc = xmalloc((size_t)w->gWc_cap * sizeof(float));
    }
    pool_for(nt, 1, backward_rows, &rc);
    w->prof[6] += cpu_now();
    return __atomic_load_n(&nonfinite, __ATOMIC_RELAXED) ? -2 : 0;
}

void sae_loss_grad(const SAE *sae, const float *X, int T, float sw, float dw, float *g_W,
                   float *Z, SAELosses *out) {
    SAEWork w;
    sae_work_init(&w, T, sae->d, sae->L);
    sae_step_fast(&w, sae, X, T, sw, dw, g_W, NULL, NULL, NULL, Z, out);
    sae_work_free(&w);
}
