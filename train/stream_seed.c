/*
 * train/stream_seed.c - the seed's tied top-k SAE (sae/sae.h) as a
 * StreamModel: one sae_loss_grad + Adam step a batch, the batch's L0, FVU
 * and dead latents, and its part of state.bin:
 *   int64 d, L, k, adam_step; float m (L, d); float v (L, d); int64 quiet_for (L)
 * The weights themselves are the folder's sae_weights.safetensors (sae_save
 * writes W unchanged, so sae_load gives them back bit for bit).
 */
#include "core/util.h"
#include "train/stream.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void stream_seed_init(StreamSeed *s, SAE *sae, const StreamTrain *t) {
    memset(s, 0, sizeof *s);
    s->sae = sae;
    s->p = t->p;
    s->p.latents = sae->L, s->p.k = sae->k;
    s->dead_after = t->dead_after;
    sae_adam_init(&s->adam, (long)sae->L * sae->d);
    s->quiet_for = xcalloc((size_t)sae->L, sizeof(int64_t));
    s->fired = xmalloc((size_t)sae->L * sizeof(int64_t));
    s->g = xmalloc_aligned((size_t)sae->L * sae->d * sizeof(float));
    s->Z = xmalloc_aligned((size_t)t->p.batch * sae->L * sizeof(float));
}

void stream_seed_free(StreamSeed *s) {
    if (s->sae) sae_adam_free(&s->adam);
    free(s->quiet_for), free(s->fired), free(s->g), free(s->Z);
    memset(s, 0, sizeof *s);
}

static int seed_step(void *self, const float *X, int n, StreamStep *out) {
    StreamSeed *s = self;
    SAE *sae = s->sae;
    const int d = sae->d, L = sae->L;
    SAELosses l;
    sae_loss_grad(sae, X, n, s->p.sparsity_weight, s->p.decor_weight, s->g, s->Z, &l);
    if (!isfinite(l.total)) return err_set("step %ld: the loss is %g; lower --lr", s->adam.step + 1, l.total);
    sae_adam_step(&s->adam, sae->W, s->g, &s->p);
    /* statistics of this batch: L0, FVU = sum (Y - X)^2 / sum (X - mean X)^2, dead latents */
    double nnz = 0, var = 0;
    memset(s->fired, 0, (size_t)L * sizeof(int64_t));
    for (long i = 0; i < n; i++)
        for (int j = 0; j < L; j++)
            if (s->Z[(size_t)i * L + j] != 0) nnz++, s->fired[j] = 1;
    for (int c = 0; c < d; c++) {
        double mu = 0, q = 0;
        for (long i = 0; i < n; i++) mu += X[(size_t)i * d + c];
        mu /= (double)n;
        for (long i = 0; i < n; i++) {
            double e = X[(size_t)i * d + c] - mu;
            q += e * e;
        }
        var += q;
    }
    long dead = 0;
    for (int j = 0; j < L; j++) {
        s->quiet_for[j] = s->fired[j] ? 0 : s->quiet_for[j] + n;
        dead += (double)s->quiet_for[j] >= s->dead_after;
    }
    out->loss = l.total, out->l0 = nnz / (double)n, out->fvu = var > 0 ? l.mse * (double)n * d / var : 0;
    out->dead_frac = (double)dead / L;
    snprintf(out->csv, sizeof out->csv, "%.9g,%.9g,%.9g,%.9g,%.3f,%.6f,%.3f", l.total, l.mse, l.sparsity, l.decor,
             out->l0, out->fvu, 100 * out->dead_frac);
    return 0;
}

static int seed_save(void *self, const char *dir, const StreamTrain *t) {
    StreamSeed *s = self;
    return sae_save(s->sae, dir, &s->p, t->model, t->hook);
}

static int seed_state_write(void *self, FILE *f) {
    StreamSeed *s = self;
    const SAE *sae = s->sae;
    int64_t h[4] = {sae->d, sae->L, sae->k, s->adam.step};
    size_t n = (size_t)sae->L * sae->d;
    return fwrite(h, sizeof h, 1, f) == 1 && fwrite(s->adam.m, sizeof(float), n, f) == n &&
                   fwrite(s->adam.v, sizeof(float), n, f) == n &&
                   fwrite(s->quiet_for, sizeof(int64_t), (size_t)sae->L, f) == (size_t)sae->L
               ? 0
               : -1;
}

static int seed_state_read(void *self, const char *p, size_t len, const char *path) {
    StreamSeed *s = self;
    const SAE *sae = s->sae;
    int64_t h[4] = {-1, -1, -1, -1};
    size_t n = (size_t)sae->L * sae->d, want = sizeof h + 2 * n * sizeof(float) + (size_t)sae->L * sizeof(int64_t);
    if (len >= sizeof h) memcpy(h, p, sizeof h);
    if (len != want || h[0] != sae->d || h[1] != sae->L)
        return err_set("%s: the state is for an SAE of d = %lld, L = %lld (%zu bytes), not the one in the folder (d = %d, "
                       "L = %d); the checkpoint is damaged", path, (long long)h[0], (long long)h[1], len, sae->d,
                       sae->L);
    p += sizeof h;
    memcpy(s->adam.m, p, n * sizeof(float));
    memcpy(s->adam.v, p + n * sizeof(float), n * sizeof(float));
    memcpy(s->quiet_for, p + 2 * n * sizeof(float), (size_t)sae->L * sizeof(int64_t));
    s->adam.step = (long)h[3];
    return 0;
}

StreamModel stream_seed_model(StreamSeed *s) {
    return (StreamModel){s, s->sae->d, "seed", STREAM_SEED_MAGIC, "loss,mse,sparsity,decor,l0,fvu,dead_pct",
                         seed_step, seed_save, seed_state_write, seed_state_read};
}
