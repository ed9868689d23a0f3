/*
 * gpt2/ops.c - the reference operations of GPT-2's forward pass: plain loops,
 * written to be read next to the math (see ops.h for each formula). The fast
 * paths in ops_fast.c are tested against these.
 */
#include "gpt2/ops.h"

#include <math.h>

void encoder_forward(float *out, const int32_t *ids, const float *wte, const float *wpe, int T, int C) {
    for (int t = 0; t < T; t++) {
        const float *te = wte + (long)ids[t] * C; /* (C) token embedding */
        const float *pe = wpe + (long)t * C;      /* (C) position embedding */
        for (int i = 0; i < C; i++) out[(long)t * C + i] = te[i] + pe[i];
    }
}

void layernorm_forward(float *out, const float *inp, const float *w, const float *b, int T, int C, float eps) {
    for (int t = 0; t < T; t++) {
        const float *x = inp + (long)t * C;
        /* mean, then the variance around it, in two passes. The second pass
         * also sums the deviations, which corrects the mean for the rounding
         * of the first sum (the "corrected two-pass" algorithm): a row of
         * values near 100 keeps its digits, unlike E[x^2] - E[x]^2. */
        float mean = 0.0f;
        for (int i = 0; i < C; i++) mean += x[i];
        mean /= C;
        float s1 = 0.0f, s2 = 0.0f;
        for (int i = 0; i < C; i++) {
            float d = x[i] - mean;
            s1 += d;
            s2 += d * d;
        }
        float var = s2 / C - (s1 / C) * (s1 / C); /* biased variance, as torch.nn.LayerNorm */
        mean += s1 / C;
        if (var < 0.0f) var = 0.0f; /* rounding, for a constant row */
        float rstd = 1.0f / sqrtf(var + eps);
        float *o = out + (long)t * C;
        for (int i = 0; i < C; i++) o[i] = (x[i] - mean) * rstd * w[i] + b[i];
    }
}

void matmul_forward(float *out, const float *inp, const float *w, const float *bias, int T, int C, int OC) {
    for (int t = 0; t < T; t++) {
        const float *x = inp + (long)t * C;
        for (int o = 0; o < OC; o++) {
            float acc = bias ? bias[o] : 0.0f;
            for (int i = 0; i < C; i++) acc += x[i] * w[(long)i * OC + o];
            out[(long)t * OC + o] = acc;
        }
    }
}

void logits_forward(float *out, const float *inp, const float *wte, int T, int C, int V) {
    for (int t = 0; t < T; t++) {
        const float *x = inp + (long)t * C;
        for (int v = 0; v < V; v++) {
            const float *e = wte + (long)v * C;
            float acc = 0.0f;
            for (int i = 0; i < C; i++) acc += x[i] * e[i];
            out[(long)t * V + v] = acc;
        }
    }
}

/* One query q (HS) against keys and values 0..last (token s's key at
 * k + s stride, its value at v + s stride): the attention row a (n) and the
 * output o (HS).
 *   a_s = softmax_s(q·k_s / √HS) for s <= last, 0 after (the causal mask)
 *   o   = Σ_s a_s v_s */
static void attend_row(float *o, float *a, int n, const float *q, const float *k, const float *v, long stride,
                       int last, int HS, float scale) {
    /* scores against keys 0..last, and their max */
    float maxv = -INFINITY;
    for (int s = 0; s <= last; s++) {
        const float *ks = k + s * stride;
        float dot = 0.0f;
        for (int i = 0; i < HS; i++) dot += q[i] * ks[i];
        a[s] = dot * scale;
        if (a[s] > maxv) maxv = a[s];
    }
    /* softmax: exp(score - max) keeps every exponent <= 0, so nothing overflows */
    float sum = 0.0f;
    for (int s = 0; s <= last; s++) {
        a[s] = expf(a[s] - maxv);
        sum += a[s];
    }
    for (int s = 0; s <= last; s++) a[s] /= sum;
    for (int s = last + 1; s < n; s++) a[s] = 0.0f;
    /* weighted sum of the values */
    for (int i = 0; i < HS; i++) o[i] = 0.0f;
    for (int s = 0; s <= last; s++) {
        const float *vs = v + s * stride;
        for (int i = 0; i < HS; i++) o[i] += a[s] * vs[i];
    }
}

void attention_forward(float *out, float *att, const float *qkv, int T, int C, int NH) {
    int HS = C / NH; /* head size */
    float scale = 1.0f / sqrtf((float)HS);
    for (int h = 0; h < NH; h++)
        for (int t = 0; t < T; t++) /* token t sees keys 0..t; q, k, v of a token are one row of qkv (3C) */
            attend_row(out + (long)t * C + h * HS, att + ((long)h * T + t) * T, T, qkv + (long)t * 3 * C + h * HS,
                       qkv + C + h * HS, qkv + 2 * C + h * HS, 3L * C, t, HS, scale);
}

void attention_forward_kv(float *out, float *att, const float *qkv, const float *k, const float *v, int T, int P,
                          int C, int NH) {
    int HS = C / NH; /* head size */
    float scale = 1.0f / sqrtf((float)HS);
    for (int h = 0; h < NH; h++)
        for (int t = 0; t < T; t++) /* new token t is at position P - T + t: it sees keys 0..P-T+t of the cache */
            attend_row(out + (long)t * C + h * HS, att + ((long)h * T + t) * P, P, qkv + (long)t * 3 * C + h * HS,
                       k + h * HS, v + h * HS, C, P - T + t, HS, scale);
}

void gelu_forward(float *out, const float *inp, long N) {
    const float s = 0.7978845608028654f; /* sqrt(2/pi) */
    for (long i = 0; i < N; i++) {
        float x = inp[i];
        out[i] = 0.5f * x * (1.0f + tanhf(s * (x + 0.044715f * x * x * x)));
    }
}

void residual_forward(float *out, const float *a, const float *b, long N) {
    for (long i = 0; i < N; i++) out[i] = a[i] + b[i];
}
