/*
 * gpt2/ops_row.c - the matmul and the logits for a single row (T == 1), the
 * shape of every step of generation with a KV cache.
 *
 * One row does two flops per weight it reads, so the time is the time to
 * stream the weights from memory: the gemm's packing (which pays off when
 * many rows reuse each packed panel) would only read and write them once
 * more. Here the weights are read once, in place:
 *
 *   matvec  out (OC) = bias + sum_i inp[i] * w[i, :]    w (C, OC), Conv1D layout
 *           threads split the output columns; each streams the rows of w
 *           over its columns, accumulating in L1.
 *   logits  out[v] = wte[v, :] . inp                     wte (V, C)
 *           threads split the vocabulary; each row of wte is one dot product.
 *
 * Every output element is summed in the same order (i = 0, 1, ..., C-1)
 * whatever the number of threads, so results do not depend on it.
 * tests/test_gpt2_ops.c holds both to the references of ops.c (T = 1).
 */
#include "gpt2/ops.h"
#include "core/pool.h"

#include <math.h>
#include <string.h>

#if defined(__AVX512F__)
#include <immintrin.h>
#define ROW_AVX512 1
#else
#define ROW_AVX512 0
#endif

/* ---- matvec: columns split across threads ---- */

typedef struct {
    float *out;
    const float *inp, *w, *bias;
    int C, OC;
} MvArgs;

/* Rows of w per block, as core/gemm.c's KC: each output is summed in blocks of
 * ROW_KC rows, each block's sum started at zero and then added to the output
 * (which starts as the bias), exactly the order of operations of a row of the
 * gemm. So a token run alone (a cached step) gets the same bits from its
 * matmuls as it does inside a longer pass. */
#define ROW_KC 256

/* columns [16 c0, 16 c1) of out (the last vector may be partial). The
 * thread streams whole rows of w over its columns (one contiguous run per
 * row, what the hardware prefetchers follow best), accumulating in acc (its
 * columns, in L1) per block of ROW_KC rows. */
static void mv_cols(void *ctx, int c0, int c1) {
    const MvArgs *a = ctx;
    int C = a->C, OC = a->OC;
    int o0 = c0 * 16, o1 = c1 * 16 < OC ? c1 * 16 : OC, n = o1 - o0;
    float acc[4096] __attribute__((aligned(64))); /* (n) this block's sums; n <= 4096 (else in pieces) */
    if (n > 4096) {
        int mid = c0 + 256;
        mv_cols(ctx, c0, mid);
        mv_cols(ctx, mid, c1);
        return;
    }
    float *out = a->out + o0;
    for (int k0 = 0; k0 < C; k0 += ROW_KC) {
        int k1 = k0 + ROW_KC < C ? k0 + ROW_KC : C;
        memset(acc, 0, (size_t)n * sizeof(float));
        for (int i = k0; i < k1; i++) {
            const float *wr = a->w + (long)i * OC + o0;
            float xi = a->inp[i];
            int j = 0;
#if ROW_AVX512
            __m512 x = _mm512_set1_ps(xi);
            for (; j + 64 <= n; j += 64) {
                _mm512_store_ps(acc + j, _mm512_fmadd_ps(x, _mm512_loadu_ps(wr + j), _mm512_load_ps(acc + j)));
                _mm512_store_ps(acc + j + 16,
                                _mm512_fmadd_ps(x, _mm512_loadu_ps(wr + j + 16), _mm512_load_ps(acc + j + 16)));
                _mm512_store_ps(acc + j + 32,
                                _mm512_fmadd_ps(x, _mm512_loadu_ps(wr + j + 32), _mm512_load_ps(acc + j + 32)));
                _mm512_store_ps(acc + j + 48,
                                _mm512_fmadd_ps(x, _mm512_loadu_ps(wr + j + 48), _mm512_load_ps(acc + j + 48)));
            }
            for (; j + 16 <= n; j += 16)
                _mm512_store_ps(acc + j, _mm512_fmadd_ps(x, _mm512_loadu_ps(wr + j), _mm512_load_ps(acc + j)));
            if (j < n) {
                __mmask16 m = (__mmask16)((1u << (n - j)) - 1);
                _mm512_mask_storeu_ps(acc + j, m,
                                      _mm512_fmadd_ps(x, _mm512_maskz_loadu_ps(m, wr + j), _mm512_maskz_loadu_ps(m, acc + j)));
            }
#else
            for (; j < n; j++) acc[j] = fmaf(xi, wr[j], acc[j]);
#endif
        }
        /* the gemm's store: the first block onto the bias (or alone), later ones added */
        for (int j = 0; j < n; j++)
            out[j] = k0 == 0 ? (a->bias ? acc[j] + a->bias[o0 + j] : acc[j]) : acc[j] + out[j];
    }
}

void matvec_forward_fast(float *out, const float *inp, const float *w, const float *bias, int C, int OC) {
    MvArgs a = {out, inp, w, bias, C, OC};
    pool_for((OC + 15) / 16, 1, mv_cols, &a);
}

/* ---- logits: rows of wte split across threads ---- */

typedef struct {
    float *out;
    const float *inp, *wte;
    int C;
} LgArgs;

static void lg_rows(void *ctx, int v0, int v1) {
    const LgArgs *a = ctx;
    int C = a->C;
    for (int v = v0; v < v1; v++) {
        const float *e = a->wte + (long)v * C; /* (C) row v of the embedding */
#if ROW_AVX512
        __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps(), s2 = _mm512_setzero_ps(),
               s3 = _mm512_setzero_ps();
        int i = 0;
        for (; i + 64 <= C; i += 64) {
            s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a->inp + i), _mm512_loadu_ps(e + i), s0);
            s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a->inp + i + 16), _mm512_loadu_ps(e + i + 16), s1);
            s2 = _mm512_fmadd_ps(_mm512_loadu_ps(a->inp + i + 32), _mm512_loadu_ps(e + i + 32), s2);
            s3 = _mm512_fmadd_ps(_mm512_loadu_ps(a->inp + i + 48), _mm512_loadu_ps(e + i + 48), s3);
        }
        for (; i + 16 <= C; i += 16) s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a->inp + i), _mm512_loadu_ps(e + i), s0);
        if (i < C) {
            __mmask16 m = (__mmask16)((1u << (C - i)) - 1);
            s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a->inp + i), _mm512_maskz_loadu_ps(m, e + i), s1);
        }
        a->out[v] = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
#else
        float acc = 0.0f;
        for (int i = 0; i < C; i++) acc += a->inp[i] * e[i];
        a->out[v] = acc;
#endif
    }
}

void logits_row_fast(float *out, const float *inp, const float *wte, int C, int V) {
    LgArgs a = {out, inp, wte, C};
    pool_for(V, 64, lg_rows, &a);
}
