/*
 * dist/dp.h - data-parallel training of the SAE architectures (sae/arch.h):
 * every rank holds the whole SAE; a global batch of B tokens is split into
 * the ranks' shards (dist_share), each rank computes the loss and gradients
 * of its shard, the gradients are summed in place across ranks with the
 * weights B_r / B (so that the sum is the gradient of the global batch's
 * mean loss, as one process computes it), and every rank applies the same
 * step (sae_arch_apply: clipping, Adam, decoder norm, dead counters from the
 * union of the fired latents). Only the order of the additions differs from
 * one process, so the weights stay identical across ranks and within float
 * rounding of a single process.
 *
 *   long lo, cnt;
 *   dist_share(B, dist_rank(), dist_size(), &lo, &cnt);
 *   SAEArchLog log;
 *   if (dist_sae_step(&m, X + lo * d, (int)cnt, B, &log) != 0) dist_abort(1);
 *
 * BatchTopK is refused: its top k*B runs over the whole batch, which no
 * rank holds (use latent sharding, dist/shard.h, or one process).
 */
#ifndef DIST_DP_H
#define DIST_DP_H

#include "sae/arch.h"

/* The contiguous share [*lo, *lo + *cnt) of rank r of N in 0..B-1 (the first
 * B % N ranks take one more). */
void dist_share(long B, int r, int N, long *lo, long *cnt);

/* One data-parallel step: X (B_local, d) is this rank's shard of a global
 * batch of B_global tokens (B_local >= 1 on every rank). *log gets the
 * global batch's numbers (loss parts, l0 and fvu reduced as one process
 * would compute them). Every rank must call it. */
int dist_sae_step(SAEArch *m, const float *X, int B_local, long B_global, SAEArchLog *log);

#endif
