/*
 * gpt2/ops.h - the operations of the GPT-2 forward pass, each twice: a plain
 * reference that reads like the math (gpt2/ops.c) and a fast path
 * (gpt2/ops_fast.c: AVX-512 where the CPU has it, threaded with core/pool.h)
 * that tests/test_gpt2_ops.c holds to the reference.
 *
 *   layernorm_forward(ln, x, w, b, T, C, eps);          // ln (T, C)
 *   matmul_forward(qkv, ln, qkvw, qkvb, T, C, 3 * C);    // qkv (T, 3C)
 *   attention_forward(atty, att, qkv, T, C, NH);        // atty (T, C)
 *
 * Layer functions take outputs first, then inputs, then sizes in capitals
 * (llm.c's convention). Weights are in Hugging Face's Conv1D layout: a
 * linear layer is out (T, OC) = inp (T, C) @ w (C, OC) + bias (OC).
 */
#ifndef GPT2_OPS_H
#define GPT2_OPS_H

#include <stdint.h>

/* ---- references (gpt2/ops.c) ---- */

/* out[t] = wte[ids[t]] + wpe[t].  out (T, C), wte (V, C), wpe (n_ctx, C). */
void encoder_forward(float *out, const int32_t *ids, const float *wte, const float *wpe, int T, int C);
/* out[t] = (x[t] - mean) / sqrt(var + eps) * w + b, per row; mean and variance
 * in two passes (no E[x^2] - E[x]^2 cancellation).  out, inp (T, C); w, b (C). */
void layernorm_forward(float *out, const float *inp, const float *w, const float *b, int T, int C, float eps);
/* out (T, OC) = inp (T, C) @ w (C, OC) + bias (OC) (bias may be NULL). */
void matmul_forward(float *out, const float *inp, const float *w, const float *bias, int T, int C, int OC);
/* out (T, V) = inp (T, C) @ wte (V, C)^T: the logits against the (tied) embedding. */
void logits_forward(float *out, const float *inp, const float *wte, int T, int C, int V);
/* Causal self-attention. qkv (T, 3C) holds q | k | v, each split into NH heads
 * of HS = C/NH. For head h and query t:
 *   att[h][t][s] = softmax_s( q_t . k_s / sqrt(HS) ) for s <= t, 0 for s > t
 *   out[t][h*HS + i] = sum_s att[h][t][s] * v_s[i]
 * out (T, C), att (NH, T, T) scratch. */
void attention_forward(float *out, float *att, const float *qkv, int T, int C, int NH);
/* The same attention for T new tokens at positions P-T .. P-1 against cached
 * keys and values of positions 0 .. P-1 (the new tokens' own included): the
 * queries are qkv's q part (T, 3C); k, v (P, C). Query t sits at position
 * P-T+t and sees the keys s <= P-T+t:
 *   att[h][t][s] = softmax_s( q_t . k_s / sqrt(HS) ) for s <= P-T+t, 0 beyond
 *   out[t][h*HS + i] = sum_s att[h][t][s] * v_s[i]
 * out (T, C), att (NH, T, P) scratch. With P == T and k, v the k and v parts
 * of qkv this is attention_forward. */
void attention_forward_kv(float *out, float *att, const float *qkv, const float *k, const float *v, int T, int P,
                          int C, int NH);
/* GPT-2's gelu_new (the tanh approximation):
 *   gelu(x) = 0.5 x (1 + tanh( sqrt(2/pi) (x + 0.044715 x^3) ))     out, inp (N) */
void gelu_forward(float *out, const float *inp, long N);
/* out = a + b.  (N) */
void residual_forward(float *out, const float *a, const float *b, long N);

/* ---- fast paths (gpt2/ops_fast.c): same contracts ----
 * A single row (T == 1, each step of generation) reads every weight once and
 * does two flops per weight, so it is bound by memory, not by arithmetic: the
 * matmul and the logits then skip the gemm's packing and stream the weights
 * straight through (gpt2/ops_row.c), threads splitting the output columns. */

void layernorm_forward_fast(float *out, const float *inp, const float *w, const float *b, int T, int C, float eps);
void matmul_forward_fast(float *out, const float *inp, const float *w, const float *bias, int T, int C, int OC);
void logits_forward_fast(float *out, const float *inp, const float *wte, int T, int C, int V);
void attention_forward_fast(float *out, float *att, const float *qkv, int T, int C, int NH);
void attention_forward_kv_fast(float *out, float *att, const float *qkv, const float *k, const float *v, int T, int P,
                               int C, int NH);
void gelu_forward_fast(float *out, const float *inp, long N);
void residual_forward_fast(float *out, const float *a, const float *b, long N);

/* The single-row paths the fast matmul and logits take when T == 1
 * (gpt2/ops_row.c). out (OC) = inp (C) @ w (C, OC) + bias; out (V) = wte (V, C) @ inp (C). */
void matvec_forward_fast(float *out, const float *inp, const float *w, const float *bias, int C, int OC);
void logits_row_fast(float *out, const float *inp, const float *wte, int C, int V);

#endif
