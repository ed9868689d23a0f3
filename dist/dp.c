/*
 * dist/dp.c - the data-parallel step of dist/dp.h.
 *
 * Rank r's loss over its B_r tokens is L_r = (1/B_r) Σ_{b in r} l_b; the
 * global loss is L = (1/B) Σ_b l_b = Σ_r (B_r/B) L_r, so the gradient is
 * Σ_r (B_r/B) ∇L_r: each rank scales its gradients by B_r/B and they are
 * summed with one all-reduce per tensor (in place). The loss parts and l0
 * are reduced the same way (in double); fvu from the reduced sums
 * Σ||x - x̂||², Σ x (d) and Σ||x||² (one pass, not the two-pass form of a
 * single process, so it agrees to rounding). The fired flags are OR-ed
 * (max) so that the dead counters advance by B on every rank alike.
 * Communication per step: every gradient (|θ| floats: 2nd + n + d for
 * topk), plus 2d + 8 doubles and n bytes.
 */
#include "dist/dp.h"
#include "dist/dist.h"
#include "core/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void dist_share(long B, int r, int N, long *lo, long *cnt) {
    long q = B / N, rem = B % N;
    *cnt = q + (r < rem);
    *lo = r * q + (r < rem ? r : rem);
}

int dist_sae_step(SAEArch *m, const float *X, int B_local, long B_global, SAEArchLog *log) {
    const int d = m->p.d, n = m->p.n;
    if (m->p.arch == SAE_ARCH_BATCHTOPK && dist_size() > 1)
        return err_set("--arch batchtopk: its top k*B is over the whole batch, which data parallelism splits; "
                       "train it with one process (or --shard-latents)");
    if (B_local < 1) return err_set("rank %d: an empty share of the batch (batch %ld < ranks %d)", dist_rank(),
                                    B_global, dist_size());
    memset(log, 0, sizeof *log);
    if (sae_arch_loss_grad(m, X, B_local, log) != 0) return -1;
    /* the share's weight: in double for the log (l0 must come out exact with
     * any split, e.g. thirds), rounded to float for the gradients */
    const double wd = (double)B_local / (double)B_global;
    const float w = (float)wd;
    /* loss parts and the fvu pieces, in one buffer: 6 + 2 + d + 1 doubles */
    double *r = xcalloc((size_t)(9 + d), sizeof(double));
    r[0] = log->loss * wd, r[1] = log->recon * wd, r[2] = log->sparsity * wd, r[3] = log->aux * wd;
    r[4] = log->l0 * wd;
    const float *Xc = m->ws_xc, *Xh = m->ws_xh;
    for (int b = 0; b < B_local; b++)
        for (int j = 0; j < d; j++) {
            double x = Xc[(size_t)b * d + j], e = Xh[(size_t)b * d + j] - (x + m->b_dec[j]);
            r[5] += e * e;            /* Σ ||x - x̂||² */
            r[6] += x * x;            /* Σ ||xc||² */
            r[9 + j] += x;            /* Σ xc */
        }
    int rc = dist_sum_f64(r, 9 + d);
    for (int t = 0; rc == 0 && t < m->n_t; t++) {
        float *g = m->t[t].g;
        for (long e = 0; e < m->t[t].len; e++) g[e] *= w;
        rc = dist_sum_f32(g, m->t[t].len);
    }
    if (rc == 0) rc = dist_max_u8(m->ws_fired, n);
    if (rc == 0 && m->p.arch == SAE_ARCH_BATCHTOPK) rc = dist_min_f32(&m->min_kept, 1);
    if (rc != 0) {
        free(r);
        return -1;
    }
    log->loss = r[0], log->recon = r[1], log->sparsity = r[2], log->aux = r[3], log->l0 = r[4];
    double mean2 = 0;
    for (int j = 0; j < d; j++) mean2 += (r[9 + j] / B_global) * (r[9 + j] / B_global);
    double sst = r[6] - (double)B_global * mean2;
    log->fvu = sst > 1e-12 * r[6] && B_global > 1 ? r[5] / sst : NAN;
    free(r);
    return sae_arch_apply(m, B_global, log);
}
