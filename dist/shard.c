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
 * Per step: 8 N k B bytes gathered, 4 B d bytes all-reduced (and, in the
 * step, 4 d + 16 bytes more; with AuxK's dead latents another 8 N k_aux B
 * gathered and 4 B d all-reduced).
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
    if (full->p.arch != SAE_ARCH_TOPK || full->p.multi_topk)
        return err_set("latent sharding: only --arch topk (without Multi-TopK) is sharded");
    long lo, cnt;
    dist_share(n, rank, size, &lo, &cnt);
    if (cnt <= full->p.k)
        return err_set("latent sharding: %ld latents per rank (n %d over %d ranks) must exceed k = %d", cnt, n, size,
                       full->p.k);
    SAEArchParams p = full->p;
    p.n = (int)cnt, p.multi_topk = 0, p.scale_inputs = 0;
    if (sae_arch_init(&s->m, &p, NULL, 0) != 0) return -1;
    memcpy(s->m.W_enc, full->W_enc + (size_t)lo * d, (size_t)cnt * d * sizeof(float));
    memcpy(s->m.W_dec, full->W_dec + (size_t)lo * d, (size_t)cnt * d * sizeof(float));
    memcpy(s->m.b_enc, full->b_enc + lo, (size_t)cnt * sizeof(float));
    memcpy(s->m.b_dec, full->b_dec, (size_t)d * sizeof(float));
    s->m.input_scale = full->input_scale;
    /* the training state too, so that a trained model shards mid-run */
    for (int t = 0; t < s->m.n_t; t++) {
        SAEArchTensor *dst = &s->m.t[t], *src = sae_arch_tensor((SAEArch *)full, dst->name);
        if (!src) continue;
        long off = src->len == (long)n * d ? lo * d : src->len == n ? lo : 0;
        memcpy(dst->m, src->m + off, (size_t)dst->len * sizeof(float));
        memcpy(dst->v, src->v + off, (size_t)dst->len * sizeof(float));
    }
    memcpy(s->m.since_fired, full->since_fired + lo, (size_t)cnt * sizeof(long));
    s->m.step = full->step;
    if (!s->m.ws_fired) s->m.ws_fired = xcalloc((size_t)cnt, 1);   /* (n_local) for sae_arch_apply; freed with m */
    s->rank = rank, s->size = size, s->lo = (int)lo, s->n_local = (int)cnt, s->n = n, s->k = full->p.k;
    return 0;
}

void dist_shard_free(DistShard *s) {
    sae_arch_free(&s->m);
    memset(s, 0, sizeof *s);
}

/* Row b's local candidates (B, kk): the top-kk of this rank's Z (B, nl)
 * among mask (NULL: every latent), as (value before the ReLU, global index),
 * in the order of sae_topk_row; a rank with fewer than kk pads with
 * (-inf, INT32_MAX), which every real candidate beats. */
static void local_candidates(const DistShard *s, const float *Z, int B, int kk, const unsigned char *mask,
                             float *cv, int32_t *ci) {
    const int nl = s->n_local;
    int *loc = xmalloc((size_t)kk * sizeof(int));
    for (int b = 0; b < B; b++) {
        const float *z = Z + (size_t)b * nl;
        int c = sae_topk_row(z, nl, kk, mask, loc);
        for (int e = 0; e < kk; e++) {
            cv[(size_t)b * kk + e] = e < c ? z[loc[e]] : -INFINITY;
            ci[(size_t)b * kk + e] = e < c ? s->lo + loc[e] : INT32_MAX;
        }
    }
    free(loc);
}

/* Each token's global top-kk, gi/gv (B, kk), from every rank's candidates
 * cv/ci (B, kk): all-gather (R kk values and indices per token), then every
 * rank merges the same sorted lists the same way (value descending, index
 * ascending: sae_topk_row's tie rule). Returns -1 on a failed collective. */
static int merge_candidates(const DistShard *s, int B, int kk, const float *cv, const int32_t *ci, int32_t *gi,
                            float *gv) {
    const int R = s->size;
    float *av = xmalloc((size_t)R * B * kk * sizeof(float));
    int32_t *ai = xmalloc((size_t)R * B * kk * sizeof(int32_t));
    int rc = dist_gather_f32(cv, (long)B * kk, av);
    if (rc == 0) rc = dist_gather_i32(ci, (long)B * kk, ai);
    int *head = xcalloc((size_t)R, sizeof(int));   /* next candidate of each rank's list */
    for (int b = 0; rc == 0 && b < B; b++) {
        memset(head, 0, (size_t)R * sizeof(int));
        for (int e = 0; e < kk; e++) {
            int best = -1;
            for (int r = 0; r < R; r++) {
                if (head[r] >= kk) continue;
                size_t o = ((size_t)r * B + b) * kk + head[r];
                if (best < 0) { best = r; continue; }
                size_t ob = ((size_t)best * B + b) * kk + head[best];
                if (av[o] > av[ob] || (av[o] == av[ob] && ai[o] < ai[ob])) best = r;
            }
            size_t o = ((size_t)best * B + b) * kk + head[best]++;
            gi[(size_t)b * kk + e] = ai[o], gv[(size_t)b * kk + e] = av[o];
        }
    }
    free(head), free(av), free(ai);
    return rc;
}

/* This rank's own latents among the global picks gi/gv (B, kk), values after
 * the ReLU, as local indices in a new CSR F. */
static void own_picks(const DistShard *s, int B, int kk, const int32_t *gi, const float *gv, SAECsr *F) {
    sae_csr_init(F, B, B * kk / s->size + 16);
    for (int b = 0; b < B; b++) {
        sae_csr_row(F);
        for (int e = 0; e < kk; e++) {
            int i = gi[(size_t)b * kk + e] - s->lo;
            float v = gv[(size_t)b * kk + e];
            if (i >= 0 && i < s->n_local) sae_csr_push(F, i, v > 0 ? v : 0.0f);
        }
    }
}

/* The forward, keeping what the backward needs: Z (B, n_local) this rank's
 * pre-activations, Xc (B, d), the token norms nx (B) and F, this rank's kept
 * latents (local indices, values after the ReLU). idx/val as
 * dist_shard_forward; returns -1 on a failed collective. */
static int forward(DistShard *s, const float *X, int B, int *idx, float *val, float *Xh, double *nmse, float *Z,
                   float *Xc, float *nx, SAECsr *F) {
    SAEArch *m = &s->m;
    const int d = m->p.d, k = s->k;
    sae_arch_preact(m, X, B, Xc, Z);
    float *cv = xmalloc((size_t)B * k * sizeof(float)), *gv = xmalloc((size_t)B * k * sizeof(float));
    int32_t *ci = xmalloc((size_t)B * k * sizeof(int32_t)), *gi = xmalloc((size_t)B * k * sizeof(int32_t));
    local_candidates(s, Z, B, k, NULL, cv, ci);
    int rc = merge_candidates(s, B, k, cv, ci, gi, gv);
    for (long e = 0; e < (long)B * k; e++) idx[e] = gi[e], val[e] = gv[e] > 0 ? gv[e] : 0.0f;
    own_picks(s, B, k, gi, gv, F);
    free(cv), free(gv), free(ci), free(gi);
    if (rc == 0) {
        sae_arch_decode_csr(m, F, 0, Xh);   /* this rank's part of x̂ - b_dec */
        rc = dist_sum_f32(Xh, (long)B * d);
    }
    double loss = 0;
    for (int b = 0; rc == 0 && b < B; b++) {
        double se = 0, nn = 0;
        for (int j = 0; j < d; j++) {
            size_t o = (size_t)b * d + j;
            double x = Xc[o] + m->b_dec[j];
            Xh[o] += m->b_dec[j];
            se += (Xh[o] - x) * (Xh[o] - x);
            nn += x * x;
        }
        nx[b] = nn > 0 ? (float)nn : 1.0f;
        loss += se / nx[b];
    }
    *nmse = loss / B;
    return rc;
}

/*
 * AuxK (sae/arch_topk.c's sae_auxk) over the ranks: with e = x - x̂ (B, d)
 * known everywhere, each rank's dead latents are its own rows' counters;
 * their global count gives kk = min(k_aux, dead); each token's top-kk of
 * the dead pre-activations is merged from every rank's local top-kk like the
 * main top-k; each rank decodes its own picks and the partial ê are summed
 * (all-reduce of (B, d)). Then sae_auxk_picks: with G = 2α (ê - e) /
 * (B ||x||²) (the same on every rank) the gradients of a rank's picks are
 * local; the b_dec part goes into g_b_dec before its all-reduce. Adds α aux
 * to log->aux.
 */
static int auxk(DistShard *s, int B, const float *Z, const float *Xc, const float *Xh, const float *nx,
                SAEArchLog *log) {
    SAEArch *m = &s->m;
    const int d = m->p.d, nl = s->n_local;
    const float alpha = m->p.aux_alpha;
    if (m->p.k_aux == 0 || alpha == 0) return 0;
    unsigned char *dead = xmalloc((size_t)nl);
    long n_dead = 0;
    for (int i = 0; i < nl; i++) n_dead += dead[i] = (unsigned char)sae_arch_dead(m, i);
    int rc = dist_sum_long(&n_dead, 1);
    if (rc != 0 || n_dead == 0) {
        free(dead);
        return rc;
    }
    const int kk = m->p.k_aux < n_dead ? m->p.k_aux : (int)n_dead;
    float *cv = xmalloc((size_t)B * kk * sizeof(float)), *gv = xmalloc((size_t)B * kk * sizeof(float));
    int32_t *ci = xmalloc((size_t)B * kk * sizeof(int32_t)), *gi = xmalloc((size_t)B * kk * sizeof(int32_t));
    local_candidates(s, Z, B, kk, dead, cv, ci);
    rc = merge_candidates(s, B, kk, cv, ci, gi, gv);
    SAECsr A;
    own_picks(s, B, kk, gi, gv, &A);
    free(cv), free(gv), free(ci), free(gi), free(dead);
    float *Eh = xmalloc((size_t)B * d * sizeof(float)), *E = xmalloc((size_t)B * d * sizeof(float));
    if (rc == 0) {
        sae_arch_decode_csr(m, &A, 0, Eh);   /* this rank's part of ê */
        rc = dist_sum_f32(Eh, (long)B * d);
    }
    if (rc == 0) {
        sae_residual(m, Xc, Xh, B, E);
        sae_auxk_picks(m, &A, Eh, E, nx, Xc, log);
    }
    sae_csr_free(&A);
    free(Eh), free(E);
    return rc;
}

int dist_shard_forward(DistShard *s, const float *X, int B, int *idx, float *val, float *Xh, double *nmse) {
    const int d = s->m.p.d;
    float *Xc = xmalloc((size_t)B * d * sizeof(float)), *nx = xmalloc((size_t)B * sizeof(float));
    float *Z = xmalloc((size_t)B * s->n_local * sizeof(float));
    SAECsr F;
    int rc = forward(s, X, B, idx, val, Xh, nmse, Z, Xc, nx, &F);
    sae_csr_free(&F);
    free(Xc), free(nx), free(Z);
    return rc;
}

/*
 * The step. With G = d nmse / d x̂ = 2 (x̂ - x) / (B ||x||²) (B, d), the same
 * on every rank:
 *   g_W_dec[i] = Σ_b f_bi G_b, g_f = W_dec[i] · G_b, g_z = g_f [f > 0],
 *   g_W_enc[i] = Σ_b g_z xc_b, g_b_enc[i] = Σ_b g_z     (own rows: local)
 *   g_b_dec = Σ_b G_b - Σ_i g_z W_enc[i]                 (the second sum over
 *                                                         every rank: all-reduce d)
 * Clipping needs the global norm: Σ g² over the local rows, all-reduced (one
 * double), plus b_dec's once. Adam, the decoder constraint and the dead
 * counters are row-local (sae_arch_apply on the shard, its clipping off).
 */
int dist_shard_step(DistShard *s, const float *X, int B, SAEArchLog *log) {
    SAEArch *m = &s->m;
    const int d = m->p.d, nl = s->n_local, k = s->k;
    memset(log, 0, sizeof *log);
    if (B < 1) return err_set("batch = %d: must be at least 1", B);
    for (int t = 0; t < m->n_t; t++) memset(m->t[t].g, 0, (size_t)m->t[t].len * sizeof(float));
    memset(m->ws_fired, 0, (size_t)nl);
    int *idx = xmalloc((size_t)B * k * sizeof(int));
    float *val = xmalloc((size_t)B * k * sizeof(float)), *Xh = xmalloc((size_t)B * d * sizeof(float));
    float *Xc = xmalloc((size_t)B * d * sizeof(float)), *nx = xmalloc((size_t)B * sizeof(float));
    float *G = xmalloc((size_t)B * d * sizeof(float)), *Z = xmalloc((size_t)B * nl * sizeof(float));
    SAECsr F;
    double nmse = 0;
    int rc = forward(s, X, B, idx, val, Xh, &nmse, Z, Xc, nx, &F);
    float *g_b_dec = sae_arch_tensor(m, "b_dec")->g;
    if (rc == 0) {
        for (int b = 0; b < B; b++)
            for (int j = 0; j < d; j++) {
                size_t o = (size_t)b * d + j;
                G[o] = (float)(2.0 / ((double)B * nx[b])) * (Xh[o] - (Xc[o] + m->b_dec[j]));
            }
        float *gF = xmalloc((size_t)(F.ptr[B] + 1) * sizeof(float));
        sae_arch_decode_back(m, &F, G, sae_arch_tensor(m, "W_dec")->g, gF);
        for (int e = 0; e < F.ptr[B]; e++) {
            if (F.val[e] > 0) m->ws_fired[F.idx[e]] = 1;
            else gF[e] = 0;
        }
        sae_arch_encode_back(m, &F, gF, Xc, sae_arch_tensor(m, "W_enc")->g, sae_arch_tensor(m, "b_enc")->g, g_b_dec);
        free(gF);
        rc = auxk(s, B, Z, Xc, Xh, nx, log);
        if (rc == 0) rc = dist_sum_f32(g_b_dec, d);   /* the encoder's part, from every rank's latents */
    }
    long nnz = 0;
    for (int e = 0; e < B * k; e++) nnz += val[e] > 0;
    for (int b = 0; rc == 0 && b < B; b++)
        for (int j = 0; j < d; j++) g_b_dec[j] += G[(size_t)b * d + j];
    if (rc == 0) {
        log->recon = nmse;
        log->loss = nmse + log->aux;
        log->l0 = (double)nnz / B;
        log->fvu = sae_fvu(m, Xc, Xh, B);
        /* decoder constraint (gradient side), then the global norm and clipping */
        SAEArchTensor *dec = sae_arch_tensor(m, "W_dec");
        sae_arch_dec_project(m->W_dec, dec->g, nl, d);
        double ss = 0, sb = 0;
        for (int t = 0; t < m->n_t; t++) {
            double *acc = m->t[t].g == g_b_dec ? &sb : &ss;
            for (long e = 0; e < m->t[t].len; e++) *acc += (double)m->t[t].g[e] * m->t[t].g[e];
        }
        rc = dist_sum_f64(&ss, 1);
        double norm = sqrt(ss + sb);
        const float clip = m->p.grad_clip;
        if (rc == 0 && clip > 0) {
            double coef = clip / (norm + 1e-6);
            if (coef < 1)
                for (int t = 0; t < m->n_t; t++)
                    for (long e = 0; e < m->t[t].len; e++) m->t[t].g[e] *= (float)coef;
        }
        if (rc == 0) {
            m->p.grad_clip = 0;
            rc = sae_arch_apply(m, B, log);
            m->p.grad_clip = clip;
            log->grad_norm = norm;
            long dead = 0;
            for (int i = 0; i < nl; i++) dead += sae_arch_dead(m, i);
            if (rc == 0) rc = dist_sum_long(&dead, 1);
            log->dead_frac = (double)dead / s->n;
        }
    }
    sae_csr_free(&F);
    free(idx), free(val), free(Xh), free(Xc), free(nx), free(G), free(Z);
    return rc;
}

/* all[r's share] of every rank's rows, rows of w floats: each rank sends
 * cap rows (the largest share), the receivers keep each rank's own count */
static int gather_rows(const DistShard *s, const float *mine, long w, float *full) {
    const int R = s->size;
    const long cap = (s->n + R - 1) / R;
    float *send = xcalloc((size_t)(cap * w), sizeof(float)), *all = xmalloc((size_t)(R * cap * w) * sizeof(float));
    memcpy(send, mine, (size_t)(s->n_local * w) * sizeof(float));
    int rc = dist_gather_f32(send, cap * w, all);
    for (int r = 0; rc == 0 && r < R; r++) {
        long lo, cnt;
        dist_share(s->n, r, R, &lo, &cnt);
        memcpy(full + lo * w, all + r * cap * w, (size_t)(cnt * w) * sizeof(float));
    }
    free(send), free(all);
    return rc;
}

int dist_shard_collect(const DistShard *s, SAEArch *full) {
    const int R = s->size;
    int rc = 0;
    /* the row tensors (W_enc, W_dec, b_enc: n_local rows) with their Adam
     * moments; b_dec (the same on every rank) is copied */
    for (int t = 0; rc == 0 && t < s->m.n_t; t++) {
        const SAEArchTensor *x = &s->m.t[t];
        SAEArchTensor *y = sae_arch_tensor(full, x->name);
        if (!y) continue;
        if (x->len == y->len) {
            memcpy(y->w, x->w, (size_t)x->len * sizeof(float));
            memcpy(y->m, x->m, (size_t)x->len * sizeof(float));
            memcpy(y->v, x->v, (size_t)x->len * sizeof(float));
            continue;
        }
        const long w = x->len / s->n_local;   /* floats per latent */
        rc = gather_rows(s, x->w, w, y->w);
        if (rc == 0) rc = gather_rows(s, x->m, w, y->m);
        if (rc == 0) rc = gather_rows(s, x->v, w, y->v);
    }
    /* the dead counters */
    const long cap = (s->n + R - 1) / R;
    int64_t *send = xcalloc((size_t)cap, sizeof(int64_t)), *all = xmalloc((size_t)(R * cap) * sizeof(int64_t));
    for (int i = 0; i < s->n_local; i++) send[i] = s->m.since_fired[i];
    if (rc == 0) rc = dist_gather_i64(send, cap, all);
    for (int r = 0; rc == 0 && r < R; r++) {
        long lo, cnt;
        dist_share(s->n, r, R, &lo, &cnt);
        for (long i = 0; i < cnt; i++) full->since_fired[lo + i] = (long)all[r * cap + i];
    }
    free(send), free(all);
    full->step = s->m.step;
    return rc;
}
