/*
 * sae/topk.h - top-k selection of one row of latents: the k largest values,
 * ties to the lower index (a stable descending sort's first k), in
 * descending order. TopK and AuxK select per token, BatchTopK once over the
 * whole batch (B*n values).
 *
 *   int idx[32];
 *   int c = sae_topk_row(z, n, 32, NULL, idx);       // sae/arch.h: the fast path
 *   int r = sae_topk_row_ref(z, n, 32, NULL, idx);   // the reference (a heap)
 *
 * Both give the same indices in the same order for every input, NaN
 * included: a row with a NaN among its selectable values is handed to the
 * reference, whose result then depends on where the NaN sits (NaN compares
 * false with everything).
 */
#ifndef SAE_TOPK_H
#define SAE_TOPK_H

/* Top-k of row z (n) into idx (k): the k largest values, ties to the lower
 * index (-0 and +0 are equal); only indices with mask[i] != 0 when mask is
 * given. Returns how many were found (< k when the mask has fewer; 0 when
 * k < 1). idx is in descending order of value. sae/arch.h includes this header. */
int sae_topk_row(const float *z, int n, int k, const unsigned char *mask, int *idx);

/* The same selection by a min-heap of size k: the readable reference the
 * tests hold the fast path to. O(n log k). */
int sae_topk_row_ref(const float *z, int n, int k, const unsigned char *mask, int *idx);

/* The fast path with its vector filter on (simd 1, where the build has
 * AVX-512) or off (simd 0: the portable loop), so the tests run both. */
int sae_topk_row_fast(const float *z, int n, int k, const unsigned char *mask, int *idx, int simd);

#endif
