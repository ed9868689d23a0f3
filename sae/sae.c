/*
 * sae/sae.c - the SAE's life cycle: parameters, initialisation, Adam, the
 * training loop (full batch like the seed, or shuffled minibatches), encode
 * and decode. The loss and gradient live in sae_ref.c (reference) and
 * sae_fast.c (fast path).
 */
#include "sae/sae_internal.h"
#include "cuda/cuda.h"
#include "core/gemm.h"
#include "core/util.h"

#include <math.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

SAEParams sae_default_params(void) {
    SAEParams p;
    memset(&p, 0, sizeof p);
    p.latents = 0;
    p.k = 0;
    p.epochs = 100;
    p.batch = 0;
    p.lr = 1e-4;
    p.beta1 = 0.9;
    p.beta2 = 0.999;
    p.eps = 1e-8;
    p.sparsity_weight = 1.0f;
    p.decor_weight = 0.0005f;
    p.seed = 0;
    p.impl = SAE_FAST;
    p.want_latents = 1;
    return p;
}

static int check_shape(int d, int L, int k) {
    if (d < 1) return err_set("SAE: input width d = %d; the activations need at least one column", d);
    if (L < 1) return err_set("SAE: %d latents; use --latents >= 1", L);
    if (k < 1) return err_set("SAE: k = %d; k must be at least 1 (use --k)", k);
    if (k > L) return err_set("SAE: k = %d is larger than the number of latents L = %d; use --k <= %d", k, L, L);
    if ((uint64_t)L * (uint64_t)d > (1ull << 32))
        return err_set("SAE: %d latents x %d inputs is more than 2^32 weights; use fewer --latents", L, d);
    return 0;
}

/* Bytes of memory available now: MemAvailable from /proc/meminfo, else the
 * free physical pages; -1 if unknown. (A small local helper: core/ has none.) */
static double meminfo_available(void) {
    FILE *f = fopen("/proc/meminfo", "r");
    if (f) {
        char line[256];
        double kb = -1;
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "MemAvailable: %lf kB", &kb) == 1) break;
        fclose(f);
        if (kb >= 0) return kb * 1024.0;
    }
    long pages = sysconf(_SC_AVPHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    return pages > 0 && size > 0 ? (double)pages * (double)size : -1;
}

/* Training keeps W, a second copy of it and Adam's two moments: 16 L d
 * bytes. Refuse, before allocating, a size that cannot fit. */
static int check_memory(int d, int L) {
    double need = 16.0 * (double)L * (double)d, have = meminfo_available();
    if (have > 0 && need > have)
        return err_set("SAE: %d latents x %d inputs need %.0f bytes (%.1f GB: the weights, a second copy and "
                       "Adam's two moments, 16 x L x d bytes) but %.0f bytes (%.1f GB) of memory are available; "
                       "use fewer --latents", L, d, need, need / 1e9, have, have / 1e9);
    return 0;
}

int sae_init(SAE *sae, int d, const SAEParams *p) {
    memset(sae, 0, sizeof *sae);
    int L = p->latents > 0 ? p->latents : 2 * d;
    int k = p->k != 0 ? p->k : (d / 3 > 0 ? d / 3 : 1);   /* a negative k is reported below */
    if (d >= 1 && L >= 1 && check_memory(d, L) != 0) return -1;
    if (check_shape(d, L, k) != 0) return -1;
    sae->d = d; sae->L = L; sae->k = k;
    sae->W = xmalloc((size_t)L * d * sizeof(float));
    /* nn.Linear's default: kaiming_uniform_(a=sqrt(5)), i.e. U(-1/sqrt(d), 1/sqrt(d)) */
    Rng r;
    rng_seed(&r, p->seed);
    float bound = 1.0f / sqrtf((float)d);
    for (size_t i = 0; i < (size_t)L * d; i++) sae->W[i] = (2.0f * rng_uniform(&r) - 1.0f) * bound;
    return 0;
}

int sae_init_weights(SAE *sae, int d, int L, int k, const float *W) {
    memset(sae, 0, sizeof *sae);
    if (check_shape(d, L, k) != 0) return -1;
    sae->d = d; sae->L = L; sae->k = k;
    sae->W = xmalloc((size_t)L * d * sizeof(float));
    memcpy(sae->W, W, (size_t)L * d * sizeof(float));
    return 0;
}

void sae_free(SAE *sae) {
    if (!sae) return;
    free(sae->W);
    memset(sae, 0, sizeof *sae);
}

void sae_encode(const SAE *sae, const float *X, long T, float *Z) {
    /* blocks of tokens keep each gemm's sizes in int range */
    for (long t0 = 0; t0 < T; t0 += 4096) {
        int nb = (int)(T - t0 < 4096 ? T - t0 : 4096);
        float *Zb = Z + (size_t)t0 * sae->L;   /* (nb, L): A first, then ẑ in place */
        gemm(0, 1, nb, sae->L, sae->d, 1.0f, X + (size_t)t0 * sae->d, sae->d, sae->W, sae->d, 0.0f,
             Zb, sae->L);
        sae_topk_dense(Zb, Zb, nb, sae->L, sae->k);
    }
}

void sae_decode(const SAE *sae, const float *Z, long T, float *Y) {
    for (long t0 = 0; t0 < T; t0 += 4096) {
        int nb = (int)(T - t0 < 4096 ? T - t0 : 4096);
        gemm(0, 0, nb, sae->d, sae->L, 1.0f, Z + (size_t)t0 * sae->L, sae->L, sae->W, sae->d, 0.0f,
             Y + (size_t)t0 * sae->d, sae->d);
    }
}

/* ---- Adam ---------------------------------------------------------------- */

void sae_adam_init(SAEAdam *a, long n) {
    a->m = xcalloc((size_t)n, sizeof(float));
    a->v = xcalloc((size_t)n, sizeof(float));
    a->n = n;
    a->step = 0;
}

void sae_adam_free(SAEAdam *a) {
    if (!a) return;
    free(a->m);
    free(a->v);
    memset(a, 0, sizeof *a);
}

void sae_adam_step(SAEAdam *a, float *W, const float *g, const SAEParams *p) {
    a->step++;
    /* the scalars as PyTorch forms them: in double, then used in float ops */
    double bc1 = 1.0 - pow(p->beta1, (double)a->step);
    double bc2 = 1.0 - pow(p->beta2, (double)a->step);
    float lr_t = (float)(p->lr / bc1), bc2_sqrt = (float)sqrt(bc2);
    float b1 = (float)p->beta1, b2 = (float)p->beta2, eps = (float)p->eps;
    float c1 = (float)(1.0 - p->beta1), c2 = (float)(1.0 - p->beta2);
    for (long i = 0; i < a->n; i++) {
        a->m[i] = a->m[i] * b1 + g[i] * c1;
        a->v[i] = a->v[i] * b2 + g[i] * g[i] * c2;
        float denom = sqrtf(a->v[i]) / bc2_sqrt + eps;
        W[i] = W[i] - lr_t * (a->m[i] / denom);
    }
}

/* ---- training ------------------------------------------------------------ */

void sae_result_free(SAEResult *res) {
    if (!res) return;
    free(res->losses);
    free(res->latents);
    memset(res, 0, sizeof *res);
}

static int train_cpu(SAE *sae, const float *X, long T, const SAEParams *p, SAEResult *res);

/* ---- the batching policy every trainer follows (CPU and GPU) -------------- */

int sae_check_input(const float *X, long T, int d) {
    if (T < 2) return err_set("activations: %ld token(s); training needs at least 2 (the covariance is over tokens)", T);
    for (size_t i = 0; i < (size_t)T * d; i++)
        if (!isfinite(X[i]))
            return err_set("activations: the input is bad: token %zu (row %zu), column %zu is %s; every value must be "
                           "finite (re-capture the activations)", i / d, i / d, i % d, isnan(X[i]) ? "NaN" : "Inf");
    return 0;
}

int sae_batches_init(SAEBatches *b, long T, const SAEParams *p) {
    memset(b, 0, sizeof *b);
    b->T = T;
    b->B = (p->batch <= 0 || p->batch >= T) ? T : p->batch;
    if (b->B < 2) return err_set("SAE: batch of %ld token(s); use --batch >= 2 (the covariance needs two tokens)", b->B);
    /* a last batch of one token is skipped: it does not count in an epoch's mean */
    b->seen = (b->B < T && T % b->B == 1) ? T - 1 : T;
    if (b->B < T) {
        b->perm = xmalloc((size_t)T * sizeof(long));
        for (long t = 0; t < T; t++) b->perm[t] = t;
    }
    rng_seed(&b->rng, p->seed ^ 0x5bd1e995u);
    return 0;
}

void sae_batches_shuffle(SAEBatches *b) {
    if (!b->perm) return;
    for (long t = b->T - 1; t > 0; t--) {   /* Fisher-Yates, continuing the last epoch's order */
        long j = (long)(rng_u64(&b->rng) % (uint64_t)(t + 1));
        long tmp = b->perm[t]; b->perm[t] = b->perm[j]; b->perm[j] = tmp;
    }
}

void sae_batches_free(SAEBatches *b) {
    if (!b) return;
    free(b->perm);
    memset(b, 0, sizeof *b);
}

int sae_train(SAE *sae, const float *X, long T, const SAEParams *p, SAEResult *res) {
    memset(res, 0, sizeof *res);
    if (check_shape(sae->d, sae->L, sae->k) != 0) return -1;
    if (p->epochs < 1) return err_set("SAE: %d epochs; use --epochs >= 1", p->epochs);
    if (p->device == SAE_CUDA) return cuda_sae_train(sae, X, p->d_X, T, p, res);
    return train_cpu(sae, X, T, p, res);
}

/* sae_train on the CPU. */
static int train_cpu(SAE *sae, const float *X, long T, const SAEParams *p, SAEResult *res) {
    const int d = sae->d, L = sae->L;
    if (sae_check_input(X, T, d) != 0) return -1;
    SAEBatches bt;
    if (sae_batches_init(&bt, T, p) != 0) return -1;
    long B = bt.B;
    /* the fast path keeps a (B, B) Gram matrix of doubles, and its nonzero
     * lists use int offsets (B * L < 2^31) */
    long Bmax = ((1L << 31) - 1) / L < SAE_MAX_BATCH ? ((1L << 31) - 1) / L : SAE_MAX_BATCH;
    if (B > Bmax) {
        sae_batches_free(&bt);
        if (B == T)
            return err_set("SAE: %ld tokens are too many for one full batch; use --batch <= %ld (shuffled minibatches)", T, Bmax);
        return err_set("SAE: a batch of %ld tokens is too large; use --batch <= %ld", B, Bmax);
    }

    res->epochs = p->epochs;
    res->T = T;
    res->losses = xcalloc((size_t)p->epochs, sizeof(SAELosses));

    size_t nW = (size_t)L * d;
    float *W0 = sae->W;                               /* the caller's buffer */
    float *Wprev = xmalloc(nW * sizeof(float));       /* (L, d) weights before the last update */
    float *g_W = p->impl == SAE_REF ? xmalloc(nW * sizeof(float)) : NULL;   /* (L, d) */
    float *Xb = B < T ? xmalloc((size_t)B * d * sizeof(float)) : NULL;        /* (B, d) */
    const long *perm = bt.perm;                                               /* (T) or NULL: full batch */
    SAEWork w;
    memset(&w, 0, sizeof w);
    if (p->impl != SAE_REF) sae_work_init(&w, (int)B, d, L);
    SAEAdam adam;
    sae_adam_init(&adam, (long)nW);

    int rc = 0;
    long adam_ok = 0;   /* updates applied */
    for (int e = 1; e <= p->epochs && rc == 0; e++) {
        sae_batches_shuffle(&bt);
        SAELosses acc = {0, 0, 0, 0};
        long seen = 0;
        for (long b0 = 0; b0 < T; b0 += B) {
            int nb = (int)(T - b0 < B ? T - b0 : B);
            if (nb < 2) continue;
            const float *Xs = X;
            if (perm) {
                for (int i = 0; i < nb; i++)
                    memcpy(Xb + (size_t)i * d, X + (size_t)perm[b0 + i] * d, (size_t)d * sizeof(float));
                Xs = Xb;
            }
            SAELosses l;
            int bad;   /* 1: the loss is not finite; 2: the update made a weight non-finite */
            if (p->impl == SAE_REF) {
                sae_loss_grad_ref(sae, Xs, nb, p->sparsity_weight, p->decor_weight, g_W, NULL, &l);
                bad = !isfinite(l.total);
                if (!bad) {
                    memcpy(Wprev, sae->W, nW * sizeof(float));
                    sae_adam_step(&adam, sae->W, g_W, p);
                    for (size_t i = 0; i < nW && !bad; i++) bad = isfinite(sae->W[i]) ? 0 : 2;
                    if (bad) memcpy(sae->W, Wprev, nW * sizeof(float));   /* keep the weights of this finite loss */
                    else adam_ok++;
                }
            } else {
                /* the update goes into the other buffer; then swap */
                int s = sae_step_fast(&w, sae, Xs, nb, p->sparsity_weight, p->decor_weight, NULL, &adam, p, Wprev,
                                      NULL, &l);
                bad = s == -1 ? 1 : s == -2 ? 2 : 0;
                if (!bad) {
                    float *tmp = sae->W; sae->W = Wprev; Wprev = tmp;
                    adam_ok++;
                }
            }
            if (bad == 1 && adam_ok > 0) {   /* back to the last weights whose loss was finite */
                if (p->impl == SAE_REF) memcpy(sae->W, Wprev, nW * sizeof(float));
                else { float *tmp = sae->W; sae->W = Wprev; Wprev = tmp; }
            }
            if (bad == 1) {
                rc = err_set("epoch %d: the loss became %s (mse %g, sparsity %g, decor %g); training stopped "
                             "with the last weights whose loss was finite; try a smaller --lr",
                             e, isnan(l.total) ? "NaN" : "infinite", l.mse, l.sparsity, l.decor);
                break;
            }
            if (bad == 2) {
                rc = err_set("epoch %d: an update made the weights infinite or NaN (the loss was still %g); training "
                             "stopped with the last finite weights; try a smaller --lr", e, l.total);
                break;
            }
            acc.total += l.total * nb; acc.mse += l.mse * nb;
            acc.sparsity += l.sparsity * nb; acc.decor += l.decor * nb;
            seen += nb;
        }
        if (rc) break;
        SAELosses *out = &res->losses[e - 1];
        out->total = acc.total / seen; out->mse = acc.mse / seen;
        out->sparsity = acc.sparsity / seen; out->decor = acc.decor / seen;
        res->epochs_done = e;
        if (p->on_epoch && p->on_epoch(p->ctx, e, p->epochs, out, sae) != 0) rc = -1;
    }

    memcpy(res->prof, w.prof, sizeof res->prof);   /* where the CPU time went (0 for the reference) */
    /* keep the caller's buffer as sae->W */
    if (sae->W != W0) {
        memcpy(W0, sae->W, nW * sizeof(float));
        Wprev = sae->W;
        sae->W = W0;
    }
    if (rc == 0 && p->want_latents) {
        res->latents = xmalloc((size_t)T * L * sizeof(float));
        sae_encode(sae, X, T, res->latents);
    }
    free(Wprev); free(g_W); free(Xb);
    sae_batches_free(&bt);
    sae_work_free(&w);
    sae_adam_free(&adam);
    return rc;
}
