/*
 * sae/sae_internal.h - what the files of sae/ share and nobody else needs:
 * the fast step's workspace (sized by the batch, reused every step) and the
 * top-k selection.
 *
 *   SAEWork w;
 *   sae_work_init(&w, B, d, L);
 *   sae_step_fast(&w, &sae, Xb, T, sw, dw, NULL, &adam, &p, W_next, NULL, &loss);
 *   sae_work_free(&w);
 */
#ifndef SAE_SAE_INTERNAL_H
#define SAE_SAE_INTERNAL_H

#include "sae/sae.h"

typedef struct {
    int Tmax, d, L;
    float *A;          /* (Tmax, L) pre-activations X Wᵀ; then Ẑl (T, nlive), the live columns of Ẑ */
    float *thr;        /* (Tmax) per-row threshold */
    int *row_ptr;      /* (Tmax+1) CSR of Ẑ's nonzeros, by token */
    int *col;          /* (cap) latent of each nonzero */
    float *val;        /* (cap) its value */
    int *lpos;         /* (cap) its latent's position among the live ones, pos[col] */
    int *col_ptr;      /* (L+1) CSC of the same nonzeros, by latent */
    int *crow;         /* (cap) token of each nonzero */
    float *cval;       /* (cap) its value */
    float *cga;        /* (cap) d loss / d A at the same nonzeros */
    long cap;          /* capacity of the nonzero arrays */
    int nlive;         /* latents that fire on at least one token of the batch */
    int *live;         /* (L) their indices, increasing */
    int *pos;          /* (L) position of each latent in live[], or -1 */
    float *GA;         /* (Tmax, nlive) G = g_Y Wlᵀ, then d loss / d A on the live columns (0 where Ẑ = 0) */
    float *Wl;         /* (d / 64, nlive, 64) the live rows of W, in panels of 64 columns */
    long Wl_cap;       /* its capacity, floats */
    float *gWc;        /* (threads, 128, d) the gradient of a block of live rows, per thread */
    long gWc_cap;      /* its capacity, floats */
    int ld;            /* row stride of Y and g_Y: d + 16 */
    float *Y;          /* (Tmax, ld) reconstruction */
    float *g_Y;        /* (Tmax, ld) d loss / d Y */
    float *K;          /* (Tmax, Tmax) Gram matrix of the centred latents, Ẑc Ẑcᵀ */
    double *u;         /* (Tmax) Ẑ m */
    double *rowacc;    /* (Tmax) per-row partial sums */
    double *m;         /* (L) mean of each latent over the batch */
    double *diagC;     /* (L) variance of each latent (diagonal of C) */
    double prof[SAE_PROF_PARTS];   /* CPU seconds (all threads) spent in: encoder, top-k, CSC, decoder + error, stats, Gram, backward + Adam */
} SAEWork;


void sae_work_init(SAEWork *w, int Tmax, int d, int L);
void sae_work_free(SAEWork *w);

/* One fast step on X (T, d), T <= w->Tmax. Computes the losses into *out.
 * If adam is NULL, writes the gradient into g_W (L, d). Otherwise, if the
 * losses are finite, applies Adam (p's lr and betas) and writes the updated
 * weights into W_next (L, d) (which may be sae->W itself); g_W is unused.
 * Z (T, L), if not NULL, receives ẑ. Returns 0; -1 (no update made) if a
 * loss is not finite; -2 if Adam wrote a non-finite weight into W_next (the
 * weights read, sae->W, are intact unless W_next is sae->W). */
int sae_step_fast(SAEWork *w, const SAE *sae, const float *X, int T, float sw, float dw,
                  float *g_W, SAEAdam *adam, const SAEParams *p, float *W_next, float *Z,
                  SAELosses *out);

/* Ẑ rows from pre-activations: relu, then keep values >= the row's k-th
 * largest (torch.topk semantics, ties kept). A (T, L) in, Z (T, L) out (may
 * alias A). Threaded. */
void sae_topk_dense(float *Z, const float *A, int T, int L, int k);

/* The k-th largest value of the positive entries of z (n), or 0 when fewer
 * than k are positive (then the seed's mask keeps every entry >= 0).
 * scratch (n) is clobbered. */
float sae_kth_threshold(const float *z, int n, int k, float *scratch);

#endif
