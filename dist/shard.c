/*
 * dist/shard.c - the latent-sharded TopK forward of dist/shard.h.
 *
 * Per token b, rank r computes z_r = W_enc[lo_r..] xc + b_enc[lo_r..] (n_r)
 * and its local top-k (value, global index). The global top-k is among the
 * union of the local ones: a latent in the global top-k is larger than all
 * but at most k-1 others, so also in its own rank's top-k. After the
 * all-gather (N k values + N k indices per token) every rank merges the same
 * candidates in the same order (value descending, then index ascending: the
 * tie rule of sae_topk_row), keeps k, and reconstructs from those of its own
 * latents; the all-reduce of the (B, d) partial sums gives x̂ - b_dec.
 * Per step: 8 N k B bytes gathered, 4 B d bytes all-reduced.
 */
#include "dist/shard.h"
#include "dist/dist.h"
#include "dist/dp.h"
#include "core/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int dist_shard_init(DistShard *s, const SAEArch *full, int rank, int size) {
    memset(s, 0, sizeof *s);
    const int d = full->p.d, n = full->p.n;
    if (full->p.arch != SAE_ARCH_TOPK) return err_set("latent sharding: only --arch topk is sharded");
    long lo, cnt;
    dist_share(n, rank, size, &lo, &cnt);
    if (cnt <= full->p.k)
        return err_set("latent sharding: %ld latents per rank (n %d over %d ranks) must exceed k = %d", cnt, n, size,
                       full->p.k);
    SAEArchParams p = full->p;
    p.n = (int)cnt, p.k_aux = 0, p.multi_topk = 0, p.scale_inputs = 0;
    if (sae_arch_init(&s->m, &p, NULL, 0) != 0) return -1;
    memcpy(s->m.W_enc, full->W_enc + (size_t)lo * d, (size_t)cnt * d * sizeof(float));
    memcpy(s->m.W_dec, full->W_dec + (size_t)lo * d, (size_t)cnt * d * sizeof(float));
    memcpy(s->m.b_enc, full->b_enc + lo, (size_t)cnt * sizeof(float));
    memcpy(s->m.b_dec, full->b_dec, (size_t)d * sizeof(float));
    s->m.input_scale = full->input_scale;
    s->rank = rank, s->size = size, s->lo = (int)lo, s->n_local = (int)cnt, s->n = n, s->k = full->p.k;
    return 0;
}

void dist_shard_free(DistShard *s) {
    sae_arch_free(&s->m);
    memset(s, 0, sizeof *s);
}

int dist_shard_forward(DistShard *s, const float *X, int B, int *idx, float *val, float *Xh, double *nmse) {
    SAEArch *m = &s->m;
    const int d = m->p.d, nl = s->n_local, k = s->k, R = s->size;
    float *Xc = xmalloc((size_t)B * d * sizeof(float)), *Z = xmalloc((size_t)B * nl * sizeof(float));
    sae_arch_preact(m, X, B, Xc, Z);
    /* local candidates (B, k): value (before the ReLU) and global index */
    float *cv = xmalloc((size_t)B * k * sizeof(float)), *av = xmalloc((size_t)R * B * k * sizeof(float));
    int32_t *ci = xmalloc((size_t)B * k * sizeof(int32_t)), *ai = xmalloc((size_t)R * B * k * sizeof(int32_t));
    int *loc = xmalloc((size_t)k * sizeof(int));
    for (int b = 0; b < B; b++) {
        sae_topk_row(Z + (size_t)b * nl, nl, k, NULL, loc);
        for (int e = 0; e < k; e++) {
            cv[(size_t)b * k + e] = Z[(size_t)b * nl + loc[e]];
            ci[(size_t)b * k + e] = s->lo + loc[e];
        }
    }
    int rc = dist_gather_f32(cv, (long)B * k, av);
    if (rc == 0) rc = dist_gather_i32(ci, (long)B * k, ai);
    /* merge: for each token pick k of the R k candidates, value desc, index asc */
    memset(Xh, 0, (size_t)B * d * sizeof(float));
    for (int b = 0; rc == 0 && b < B; b++) {
        int *head = xcalloc((size_t)R, sizeof(int));   /* next candidate of each rank (sorted lists) */
        for (int e = 0; e < k; e++) {
            int best = -1;
            for (int r = 0; r < R; r++) {
                if (head[r] >= k) continue;
                size_t o = ((size_t)r * B + b) * k + head[r];
                if (best < 0) { best = r; continue; }
                size_t ob = ((size_t)best * B + b) * k + head[best];
                if (av[o] > av[ob] || (av[o] == av[ob] && ai[o] < ai[ob])) best = r;
            }
            size_t o = ((size_t)best * B + b) * k + head[best]++;
            float f = av[o] > 0 ? av[o] : 0.0f;
            idx[(size_t)b * k + e] = ai[o];
            val[(size_t)b * k + e] = f;
            int i = ai[o] - s->lo;
            if (i >= 0 && i < nl && f != 0)
                for (int j = 0; j < d; j++) Xh[(size_t)b * d + j] += f * m->W_dec[(size_t)i * d + j];
        }
        free(head);
    }
    if (rc == 0) rc = dist_sum_f32(Xh, (long)B * d);
    double loss = 0;
    for (int b = 0; rc == 0 && b < B; b++) {
        double se = 0, nx = 0;
        for (int j = 0; j < d; j++) {
            size_t o = (size_t)b * d + j;
            double x = Xc[o] + m->b_dec[j];
            Xh[o] += m->b_dec[j];
            se += (Xh[o] - x) * (Xh[o] - x);
            nx += x * x;
        }
        loss += se / (nx > 0 ? nx : 1.0);
    }
    *nmse = loss / B;
    free(Xc), free(Z), free(cv), free(av), free(ci), free(ai), free(loc);
    return rc;
}
