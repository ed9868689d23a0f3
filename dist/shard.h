/*
 * dist/shard.h - latent sharding of a TopK SAE, for an SAE too large for one
 * device: rank r of N holds latents [lo, lo + n_r) (rows of W_enc and W_dec,
 * entries of b_enc; b_dec whole). The encoder runs locally; each token's
 * global top-k is merged from every rank's local top-k candidates (an
 * all-gather of k values and k indices per token, not of all n); the
 * decoder's partial reconstructions are summed with an all-reduce of (B, d).
 *
 *   DistShard s;
 *   if (dist_shard_init(&s, &m, dist_rank(), dist_size()) != 0) return -1;  // copies this rank's rows
 *   int *idx = ...;  float *val = ...;  float *Xh = ...;   // (B, k), (B, k), (B, d)
 *   double nmse;
 *   if (dist_shard_forward(&s, X, B, idx, val, Xh, &nmse) != 0) dist_abort(1);
 *   dist_shard_free(&s);
 *
 *   SAEArchLog log;
 *   if (dist_shard_step(&s, X, B, &log) != 0) dist_abort(1);      // train: the same step as one process
 *
 * TopK with AuxK (the dead latents' top-k_aux merged the same way, from
 * each rank's own dead latents); not Multi-TopK.
 */
#ifndef DIST_SHARD_H
#define DIST_SHARD_H

#include "sae/arch.h"

typedef struct {
    int rank, size;
    int lo, n_local;     /* this rank's latents [lo, lo + n_local) of n */
    int n, k;
    SAEArch m;           /* the shard: a topk SAE of n_local latents (its k_aux: the global one) */
} DistShard;

/* This rank's shard of the topk SAE full (every rank passes the same full
 * model: in a real run each rank would initialise only its rows). */
int dist_shard_init(DistShard *s, const SAEArch *full, int rank, int size);
void dist_shard_free(DistShard *s);
/* The forward of X (B, d) (raw): idx/val (B, k) each token's global top-k
 * (global latent indices, in descending order of value, ties to the lower
 * index, as sae_topk_row on the whole row), val after the ReLU; Xh (B, d)
 * the reconstruction; *nmse = (1/B) Σ_b ||x_b - x̂_b||² / ||x_b||² (topk's
 * loss). Identical on every rank. Every rank must call it. */
int dist_shard_forward(DistShard *s, const float *X, int B, int *idx, float *val, float *Xh, double *nmse);
/* One training step on X (B, d) (the same batch on every rank): forward,
 * backward into this rank's rows, g_b_dec and the clipping norm
 * all-reduced, then sae_arch_apply on the shard (Adam, decoder norm, dead
 * counters of its latents). *log: loss = recon = nmse, l0, grad_norm, lr,
 * dead_frac over all n latents. Every rank must call it. */
int dist_shard_step(DistShard *s, const float *X, int B, SAEArchLog *log);
/* Every rank's rows into full (the same n and d), on every rank (all-gathers),
 * for a checkpoint: the weights and Adam moments of W_enc, W_dec, b_enc and
 * b_dec, the dead counters and the step. */
int dist_shard_collect(const DistShard *s, SAEArch *full);

#endif
