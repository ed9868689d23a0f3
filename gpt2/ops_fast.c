/*
 * gpt2/ops_fast.c - the fast paths of the ops in ops.h: the matmuls go to
 * the blocked gemm (core/gemm.c), attention runs one head per task with gemm
 * for q.k and att.v, and the element-wise ops are AVX-512 loops split across
 * the threads (a single row goes to ops_row.c). tests/test_gpt2_ops.c
 * compares each with its reference.
 */
#include "gpt2/ops.h"
#include "core/gemm.h"
#include "core/pool.h"

#include <math.h>
#include <string.h>

#if defined(__AVX512F__)
#include <immintrin.h>
#define OPS_AVX512 1

/* e^x for a vector: x = n ln2 + r with |r| <= ln2/2, e^r by its Taylor
 * polynomial to degree 7 (error < 1e-8 relative), times 2^n (scalef). */
static inline __m512 exp512(__m512 x) {
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-88.0f)), _mm512_set1_ps(88.0f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.4426950408889634f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x); /* ln2 split in two: exact n*hi */
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.0f / 5040);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}
#else
#define OPS_AVX512 0
#endif

/* ---- LayerNorm: rows split across threads ---- */

typedef struct {
    float *out;
    const float *inp, *w, *b;
    int C;
    float eps;
} LnArgs;

static void ln_rows(void *ctx, int t0, int t1) {
    const LnArgs *a = ctx;
    int C = a->C;
    for (int t = t0; t < t1; t++) {
        const float *x = a->inp + (long)t * C;
        float *o = a->out + (long)t * C;
        float mean = 0.0f, var = 0.0f;
        int i = 0;
#if OPS_AVX512
        /* the same two passes as the reference, 16 lanes at a time */
        __m512 s = _mm512_setzero_ps();
        for (; i + 16 <= C; i += 16) s = _mm512_add_ps(s, _mm512_loadu_ps(x + i));
        mean = _mm512_reduce_add_ps(s);
        for (; i < C; i++) mean += x[i];
        mean /= C;
        __m512 vm = _mm512_set1_ps(mean), s1 = _mm512_setzero_ps(), s2 = _mm512_setzero_ps();
        for (i = 0; i + 16 <= C; i += 16) {
            __m512 d = _mm512_sub_ps(_mm512_loadu_ps(x + i), vm);
            s1 = _mm512_add_ps(s1, d);
            s2 = _mm512_fmadd_ps(d, d, s2);
        }
        float d1 = _mm512_reduce_add_ps(s1);
        var = _mm512_reduce_add_ps(s2);
        for (; i < C; i++) d1 += x[i] - mean, var += (x[i] - mean) * (x[i] - mean);
        var = var / C - (d1 / C) * (d1 / C); /* corrected two-pass, as the reference */
        mean += d1 / C;
        if (var < 0.0f) var = 0.0f;
        float rstd = 1.0f / sqrtf(var + a->eps);
        vm = _mm512_set1_ps(mean);
        __m512 vr = _mm512_set1_ps(rstd);
        for (i = 0; i + 16 <= C; i += 16) {
            __m512 n = _mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(x + i), vm), vr);
            _mm512_storeu_ps(o + i, _mm512_fmadd_ps(n, _mm512_loadu_ps(a->w + i), _mm512_loadu_ps(a->b + i)));
        }
        for (; i < C; i++) o[i] = (x[i] - mean) * rstd * a->w[i] + a->b[i];
#else
        for (i = 0; i < C; i++) mean += x[i];
        mean /= C;
        float d1 = 0.0f;
        for (i = 0; i < C; i++) d1 += x[i] - mean, var += (x[i] - mean) * (x[i] - mean);
        var = var / C - (d1 / C) * (d1 / C);
        mean += d1 / C;
        if (var < 0.0f) var = 0.0f;
        float rstd = 1.0f / sqrtf(var + a->eps);
        for (i = 0; i < C; i++) o[i] = (x[i] - mean) * rstd * a->w[i] + a->b[i];
#endif
    }
}

void layernorm_forward_fast(float *out, const float *inp, const float *w, const float *b, int T, int C, float eps) {
    LnArgs a = {out, inp, w, b, C, eps};
    pool_for(T, 1, ln_rows, &a);
}

/* ---- matmuls ---- */

void matmul_forward_fast(float *out, const float *inp, const float *w, const float *bias, int T, int C, int OC) {
    if (T == 1) { /* one row: bound by reading w, no packing (ops_row.c) */
        matvec_forward_fast(out, inp, w, bias, C, OC);
        return;
    }
    /* out = bias (broadcast over rows), then out += inp @ w */
    if (bias)
        for (int t = 0; t < T; t++) memcpy(out + (long)t * OC, bias, (size_t)OC * sizeof(float));
    gemm(0, 0, T, OC, C, 1.0f, inp, C, w, OC, bias ? 1.0f : 0.0f, out, OC);
}

void logits_forward_fast(float *out, const float *inp, const float *wte, int T, int C, int V) {
    if (T == 1) {
        logits_row_fast(out, inp, wte, C, V);
        return;
    }
    gemm(0, 1, T, V, C, 1.0f, inp, C, wte, C, 0.0f, out, V);
}

/* ---- attention: one head per task ---- */

/* T queries (rows of qkv, stride 3C) at positions P-T .. P-1 against P keys
 * and values (rows of k and v, stride ldkv): the plain pass has P == T and k,
 * v inside qkv (ldkv 3C); a cached step has k, v in the cache (ldkv C). */
typedef struct {
    float *out, *att;
    const float *qkv, *k, *v;
    int T, P, C, NH, ldkv;
} AttArgs;

static void att_heads(void *ctx, int h0, int h1) {
    const AttArgs *a = ctx;
    int T = a->T, P = a->P, C = a->C, HS = C / a->NH;
    float scale = 1.0f / sqrtf((float)HS);
    for (int h = h0; h < h1; h++) {
        float *att = a->att + (long)h * T * P; /* (T, P) */
        const float *q = a->qkv + h * HS;      /* (T, HS), row stride 3C */
        const float *k = a->k + h * HS, *v = a->v + h * HS; /* (P, HS), row stride ldkv */
        /* scores (T, P) = q k^T / sqrt(HS); query t uses keys s <= P-T+t */
        gemm(0, 1, T, P, HS, scale, q, 3 * C, k, a->ldkv, 0.0f, att, P);
        for (int t = 0; t < T; t++) {
            float *row = att + (long)t * P;
            int n = P - T + t + 1, s = 0;
            float maxv = -INFINITY, sum = 0.0f;
            for (s = 0; s < n; s++) maxv = row[s] > maxv ? row[s] : maxv;
#if OPS_AVX512
            __m512 vm = _mm512_set1_ps(maxv), vs = _mm512_setzero_ps();
            for (s = 0; s + 16 <= n; s += 16) {
                __m512 e = exp512(_mm512_sub_ps(_mm512_loadu_ps(row + s), vm));
                _mm512_storeu_ps(row + s, e);
                vs = _mm512_add_ps(vs, e);
            }
            if (s < n) {
                __mmask16 m = (__mmask16)((1u << (n - s)) - 1);
                __m512 e = exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, row + s), vm));
                e = _mm512_maskz_mov_ps(m, e);
                _mm512_mask_storeu_ps(row + s, m, e);
                vs = _mm512_add_ps(vs, e);
            }
            sum = _mm512_reduce_add_ps(vs);
#else
            for (s = 0; s < n; s++) {
                row[s] = expf(row[s] - maxv);
                sum += row[s];
            }
#endif
            float inv = 1.0f / sum;
            for (s = 0; s < n; s++) row[s] *= inv;
            for (s = n; s < P; s++) row[s] = 0.0f;
        }
        /* out[:, h*HS : (h+1)*HS] (T, HS) = att (T, P) @ v (P, HS) */
        gemm(0, 0, T, HS, P, 1.0f, att, P, v, a->ldkv, 0.0f, a->out + h * HS, C);
    }
}

void attention_forward_fast(float *out, float *att, const float *qkv, int T, int C, int NH) {
    AttArgs a = {out, att, qkv, qkv + C, qkv + 2 * C, T, T, C, NH, 3 * C};
    pool_for(NH, 1, att_heads, &a);
}

void attention_forward_kv_fast(float *out, float *att, const float *qkv, const float *k, const float *v, int T, int P,
                               int C, int NH) {
    AttArgs a = {out, att, qkv, k, v, T, P, C, NH, C};
    pool_for(NH, 1, att_heads, &a);
}

/* ---- GELU and residual: chunks across threads ---- */

typedef struct {
    float *out;
    const float *a;
    long n;
} EwArgs;

static void gelu_chunk(void *ctx, int c0, int c1) {
    const EwArgs *e = ctx;
    long i = (long)c0 * 1024, end = (long)c1 * 1024;
    const float *x = e->a;
    float *o = e->out;
    if (end > e->n) end = e->n;
    const float s = 0.7978845608028654f;
#if OPS_AVX512
    /* tanh(u) = 1 - 2 / (e^(2u) + 1) */
    for (; i + 16 <= end; i += 16) {
        __m512 v = _mm512_loadu_ps(x + i);
        __m512 u = _mm512_mul_ps(_mm512_set1_ps(s),
                                 _mm512_fmadd_ps(_mm512_mul_ps(_mm512_set1_ps(0.044715f), v), _mm512_mul_ps(v, v), v));
        __m512 e2 = exp512(_mm512_add_ps(u, u));
        __m512 th = _mm512_sub_ps(_mm512_set1_ps(1.0f),
                                  _mm512_div_ps(_mm512_set1_ps(2.0f), _mm512_add_ps(e2, _mm512_set1_ps(1.0f))));
        _mm512_storeu_ps(o + i, _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), v),
                                              _mm512_add_ps(_mm512_set1_ps(1.0f), th)));
    }
#endif
    for (; i < end; i++) o[i] = 0.5f * x[i] * (1.0f + tanhf(s * (x[i] + 0.044715f * x[i] * x[i] * x[i])));
}

void gelu_forward_fast(float *out, const float *inp, long N) {
    EwArgs e = {out, inp, N};
    pool_for((int)((N + 1023) / 1024), 1, gelu_chunk, &e);
}

void residual_forward_fast(float *out, const float *a, const float *b, long N) {
    for (long i = 0; i < N; i++) out[i] = a[i] + b[i];
}
