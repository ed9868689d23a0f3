/*
 * dist/dp.c - the data-parallel step of dist/dp.h, one code path for a rank
 * on the CPU and a rank on a GPU.
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
 * topk), plus 7 + d doubles and n bytes.
 *
 * On a GPU rank the loss, the gradients, the FVU's pieces and the update run
 * on the device (cuda_arch_loss_grad, cuda_arch_fvu_sums, cuda_arch_apply);
 * between them the gradients and fired flags make a round trip through host
 * memory for the all-reduce (dist_grad_reduce_host), where they are scaled
 * and summed by the same lines as a CPU rank's.
 */
#include "dist/dp.h"
#include "dist/dist.h"
#include "core/util.h"
#include "cuda/cuda.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void dist_share(long B, int r, int N, long *lo, long *cnt) {
    long q = B / N, rem = B % N;
    *cnt = q + (r < rem);
    *lo = r * q + (r < rem ? r : rem);
}

int dist_device_init(DistDevice *dv, SAEArch *m, int on_gpu, int max_B) {
    memset(dv, 0, sizeof *dv);
    dv->m = m, dv->gpu_id = -1, dv->reduce = dist_grad_reduce_host;
    if (!on_gpu) return 0;
    const int r = dist_rank();
    if (cuda_arch_pick_device(r, &dv->gpu_id) != 0) return -1;
    dv->max_B = max_B;
    if (cuda_arch_init(&dv->gpu, m, max_B) != 0 ||
        cuda_malloc((void **)&dv->d_X, (size_t)max_B * m->p.d * sizeof(float)) != 0) {
        err_prefix("rank %d, GPU %d", r, dv->gpu_id);
        dist_device_free(dv);
        return -1;
    }
    dv->fired = xcalloc((size_t)m->p.n, 1);
    return 0;
}

int dist_device_download(DistDevice *dv) {
    if (dv->gpu && cuda_arch_download(dv->gpu) != 0) return err_prefix("rank %d, GPU %d", dist_rank(), dv->gpu_id);
    return 0;
}

void dist_device_free(DistDevice *dv) {
    cuda_arch_free(dv->gpu);
    cuda_free(dv->d_X);
    free(dv->fired);
    dv->gpu = NULL, dv->d_X = NULL, dv->fired = NULL;
}

/* The share's loss and gradients on dv's device, and FVU's pieces s (2 + d,
 * zeroed): Σ_b ||x - x̂||², Σ_b ||xc||², Σ_b xc (cuda_arch_fvu_sums' layout). */
static int loss_grad(DistDevice *dv, const float *X, int B, SAEArchLog *log, double *s) {
    SAEArch *m = dv->m;
    const int d = m->p.d;
    if (dv->gpu) {
        if (B > dv->max_B) return err_set("rank %d: a share of %d tokens; the GPU has room for %d", dist_rank(), B,
                                          dv->max_B);
        if (cuda_upload(dv->d_X, X, (size_t)B * d * sizeof(float)) != 0 ||
            cuda_arch_loss_grad(dv->gpu, dv->d_X, B, log) != 0 || cuda_arch_fvu_sums(dv->gpu, s) != 0)
            return err_prefix("rank %d, GPU %d", dist_rank(), dv->gpu_id);
        return 0;
    }
    if (sae_arch_loss_grad(m, X, B, log) != 0) return -1;
    const float *Xc = m->ws_xc, *Xh = m->ws_xh;
    for (int b = 0; b < B; b++)
        for (int j = 0; j < d; j++) {
            double x = Xc[(size_t)b * d + j], e = Xh[(size_t)b * d + j] - (x + m->b_dec[j]);
            s[0] += e * e;            /* Σ ||x - x̂||² */
            s[1] += x * x;            /* Σ ||xc||² */
            s[2 + j] += x;            /* Σ xc */
        }
    return 0;
}

int dist_grad_reduce_host(DistDevice *dv, float w) {
    SAEArch *m = dv->m;
    unsigned char *fired = dv->gpu ? dv->fired : m->ws_fired;
    if (dv->gpu && cuda_arch_grads_get(dv->gpu, fired) != 0) return -1;
    int rc = 0;
    for (int t = 0; rc == 0 && t < m->n_t; t++) {
        float *g = m->t[t].g;
        for (long e = 0; e < m->t[t].len; e++) g[e] *= w;
        rc = dist_sum_f32(g, m->t[t].len);
    }
    if (rc == 0) rc = dist_max_u8(fired, m->p.n);
    if (rc == 0 && dv->gpu) rc = cuda_arch_grads_put(dv->gpu, fired);
    return rc;
}

int dist_step(DistDevice *dv, const float *X, int B_local, long B_global, SAEArchLog *log) {
    SAEArch *m = dv->m;
    const int d = m->p.d;
    if (m->p.arch == SAE_ARCH_BATCHTOPK && dist_size() > 1)
        return err_set("--arch batchtopk: its top k*B is over the whole batch, which data parallelism splits; "
                       "train it with one process (or --shard-latents)");
    if (B_local < 1) return err_set("rank %d: an empty share of the batch (batch %ld < ranks %d)", dist_rank(),
                                    B_global, dist_size());
    if (dv->gpu && B_global > 0x7fffffffL)
        return err_set("a batch of %ld tokens: the GPU step takes at most 2^31 - 1", B_global);
    memset(log, 0, sizeof *log);
    /* r: the loss parts and l0 (5), then FVU's pieces (2 + d) */
    double *r = xcalloc((size_t)(7 + d), sizeof(double));
    if (loss_grad(dv, X, B_local, log, r + 5) != 0) {
        free(r);
        return -1;
    }
    /* the share's weight: in double for the log (l0 must come out exact with
     * any split, e.g. thirds), rounded to float for the gradients */
    const double wd = (double)B_local / (double)B_global;
    r[0] = log->loss * wd, r[1] = log->recon * wd, r[2] = log->sparsity * wd, r[3] = log->aux * wd;
    r[4] = log->l0 * wd;
    int rc = dist_sum_f64(r, 7 + d);
    if (rc == 0) rc = dv->reduce(dv, (float)wd);
    if (rc == 0 && m->p.arch == SAE_ARCH_BATCHTOPK) rc = dist_min_f32(&m->min_kept, 1);
    if (rc != 0) {
        free(r);
        return -1;
    }
    log->loss = r[0], log->recon = r[1], log->sparsity = r[2], log->aux = r[3], log->l0 = r[4];
    double mean2 = 0;
    for (int j = 0; j < d; j++) mean2 += (r[7 + j] / B_global) * (r[7 + j] / B_global);
    double sst = r[6] - (double)B_global * mean2;
    log->fvu = sst > 1e-12 * r[6] && B_global > 1 ? r[5] / sst : NAN;
    free(r);
    if (!dv->gpu) return sae_arch_apply(m, B_global, log);
    return cuda_arch_apply(dv->gpu, (int)B_global, log) != 0 ? err_prefix("rank %d, GPU %d", dist_rank(), dv->gpu_id)
                                                             : 0;
}

int dist_sae_step(SAEArch *m, const float *X, int B_local, long B_global, SAEArchLog *log) {
    DistDevice dv;
    dist_device_init(&dv, m, 0, 0);
    return dist_step(&dv, X, B_local, B_global, log);
}
