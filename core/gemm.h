/*
 * core/gemm.h - single-precision matrix multiply, the hot loop of the engine.
 *
 *   // out (T, OC) = inp (T, C) @ w (C, OC)        (GPT-2's Conv1D layout)
 *   gemm(0, 0, T, OC, C, 1.0f, inp, C, w, OC, 0.0f, out, OC);
 *
 * All matrices are row-major. op(A) is A (M, K) or, with transA, the
 * transpose of A stored (K, M); likewise op(B) is (K, N). Then
 *     C (M, N) = alpha * op(A) @ op(B) + beta * C
 * with leading dimensions lda, ldb, ldc (elements between rows as stored).
 * beta == 0 means C is written without being read (it may hold NaNs).
 *
 * gemm_ref is the plain triple loop, the reference the tests hold the fast
 * path to; gemm is the fast, threaded path (same contract).
 */
#ifndef CORE_GEMM_H
#define CORE_GEMM_H

void gemm_ref(int transA, int transB, int M, int N, int K, float alpha,
              const float *A, int lda, const float *B, int ldb,
              float beta, float *C, int ldc);

void gemm(int transA, int transB, int M, int N, int K, float alpha,
          const float *A, int lda, const float *B, int ldb,
          float beta, float *C, int ldc);

#endif
