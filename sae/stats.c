/*
 * sae/stats.c - what the report says about a trained SAE, from one pass over
 * the activations after training (sae_score): X is encoded once, a chunk of
 * tokens at a time; each chunk of latents ẑ is written to latents.npy and
 * added into the per-latent statistics as the notebook computes them
 * (density, mean nonzero activation, L0, dead latents), the word-category
 * ("geography") score and the fraction of variance explained. sae_stats does
 * the same sums from latents already in memory. Sums are in double (numpy
 * works in float64 here: its density mask is float64), token by token in
 * order, so a chunked pass and a whole-array pass give the same numbers.
 */
#include "sae/sae.h"
#include "core/util.h"
#include "weights/npy.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- the ranking: a stable index sort ------------------------------------- */

/* key[a] < key[b] in numpy's order (NaN after every number) */
static int before(const double *key, int a, int b) {
    return isnan(key[b]) ? !isnan(key[a]) : key[a] < key[b];
}

void sae_order_desc(int *order, const double *key, int n) {
    /* a stable ascending merge sort of the indices, then reversed: exactly
     * np.argsort(key, kind='stable')[::-1] (largest first, ties: higher index first) */
    int *a = xmalloc(sizeof(int) * (size_t)(n > 0 ? n : 1)), *b = xmalloc(sizeof(int) * (size_t)(n > 0 ? n : 1));
    for (int i = 0; i < n; i++) a[i] = i;
    for (int w = 1; w < n; w *= 2) {
        for (int lo = 0; lo < n; lo += 2 * w) {
            int mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            int i = lo, j = mid, o = lo;
            while (i < mid && j < hi) b[o++] = before(key, a[j], a[i]) ? a[j++] : a[i++];   /* ties: the left one */
            while (i < mid) b[o++] = a[i++];
            while (j < hi) b[o++] = a[j++];
        }
        int *t = a; a = b; b = t;
    }
    for (int i = 0; i < n; i++) order[i] = a[n - 1 - i];
    free(a);
    free(b);
}

/* ---- the sums, a chunk of latents at a time --------------------------------- */

typedef struct {
    int L;
    long T;              /* tokens added so far */
    long *count;         /* (L) tokens where the latent is nonzero */
    double *sum;         /* (L) Σ |ẑ| over them */
    long nnz;            /* nonzero latents over all tokens */
    /* the word-category score, per latent and side (0: target, 1: other) */
    double *s;           /* (L, 2) Σ ẑ */
    double *nzsum;       /* (L, 2) Σ of nonzero ẑ */
    long *nzcnt;         /* (L, 2) count of nonzero ẑ */
    int n_target;
} Sums;

static void sums_init(Sums *a, int L, int with_score) {
    memset(a, 0, sizeof *a);
    a->L = L;
    a->count = xcalloc((size_t)L, sizeof(long));
    a->sum = xcalloc((size_t)L, sizeof(double));
    if (with_score) {
        a->s = xcalloc((size_t)L * 2, sizeof(double));
        a->nzsum = xcalloc((size_t)L * 2, sizeof(double));
        a->nzcnt = xcalloc((size_t)L * 2, sizeof(long));
    }
}

/* Add Z (nb, L), the latents of the next nb tokens; target (nb) or NULL. */
static void sums_add(Sums *a, const float *Z, long nb, const unsigned char *target) {
    const int L = a->L;
    for (long t = 0; t < nb; t++) {
        const float *z = Z + (size_t)t * L;
        for (int l = 0; l < L; l++)
            if (z[l] != 0.0f) { a->count[l]++; a->sum[l] += fabs((double)z[l]); a->nnz++; }
        if (!a->s) continue;
        int side = target[t] ? 0 : 1;
        a->n_target += side == 0;
        for (int l = 0; l < L; l++) {
            a->s[2 * l + side] += z[l];
            if (z[l] != 0.0f) { a->nzsum[2 * l + side] += z[l]; a->nzcnt[2 * l + side]++; }
        }
    }
    a->T += nb;
}

/* The statistics from the sums; frees them. */
static void sums_finish(Sums *a, SAEStats *st) {
    const int L = a->L;
    const long T = a->T;
    memset(st, 0, sizeof *st);
    st->L = L;
    st->T = T;
    st->density = xmalloc((size_t)L * sizeof(float));
    st->mean_act = xmalloc((size_t)L * sizeof(float));
    st->density_act = xmalloc((size_t)L * sizeof(float));
    st->by_activation = xmalloc((size_t)L * sizeof(int));
    st->by_density = xmalloc((size_t)L * sizeof(int));
    double *dens = xmalloc((size_t)L * sizeof(double));   /* (L) */
    double *act = xmalloc((size_t)L * sizeof(double));    /* (L) */
    for (int l = 0; l < L; l++) {
        /* latentDensity = 100 * nansum(mask) / T; nonzeroAct = nanmean(|z * mask|), NaN -> 0 */
        dens[l] = T > 0 ? 100.0 * (double)a->count[l] / (double)T : 0.0;
        act[l] = a->count[l] ? a->sum[l] / (double)a->count[l] : 0.0;
        st->density[l] = (float)dens[l];
        st->mean_act[l] = (float)act[l];
        st->density_act[l] = (float)(dens[l] * act[l]);
        st->dead += a->count[l] == 0;
    }
    sae_order_desc(st->by_activation, act, L);
    sae_order_desc(st->by_density, dens, L);
    st->mean_l0 = T > 0 ? (double)a->nnz / (double)T : 0.0;
    st->fve = NAN;
    if (a->s) {
        st->score = xmalloc((size_t)L * sizeof(float));
        st->by_score = xmalloc((size_t)L * sizeof(int));
        for (int l = 0; l < L; l++) {
            /* the seed: if (nontarg.sum()>0) & (targ.sum()>0): mean(targ[nonzero]) / mean(nontarg[nonzero]) */
            if (a->s[2 * l] > 0 && a->s[2 * l + 1] > 0)
                st->score[l] = (float)((a->nzsum[2 * l] / a->nzcnt[2 * l]) / (a->nzsum[2 * l + 1] / a->nzcnt[2 * l + 1]));
            else
                st->score[l] = 0.0f;
            act[l] = st->score[l];
        }
        sae_order_desc(st->by_score, act, L);
        st->n_target = a->n_target;
    }
    free(dens); free(act);
    free(a->count); free(a->sum); free(a->s); free(a->nzsum); free(a->nzcnt);
    memset(a, 0, sizeof *a);
}

/* ---- the public passes ------------------------------------------------------ */

void sae_stats(SAEStats *st, const float *Z, long T, int L, const unsigned char *target) {
    Sums a;
    sums_init(&a, L, target != NULL);
    sums_add(&a, Z, T, target);
    sums_finish(&a, st);
}

void sae_word_mask(unsigned char *target, const int32_t *ids, long T, const int32_t *words, int n_words) {
    memset(target, 0, (size_t)T);
    for (int w = 0; w < n_words; w++)
        for (long t = 0; t < T && words[w] >= 0; t++)
            if (ids[t] == words[w]) target[t] = 1;
}

static void seed_enc(void *ctx, const float *X, long T, float *Z) { sae_encode(ctx, X, T, Z); }
static void seed_dec(void *ctx, const float *Z, long T, float *Y) { sae_decode(ctx, Z, T, Y); }

int sae_score(SAEStats *st, const SAE *sae, const float *X, long T, const unsigned char *target,
              const char *latents_path) {
    return sae_score_with(st, sae->L, sae->d, seed_enc, seed_dec, (void *)sae, X, T, target, latents_path);
}

int sae_score_with(SAEStats *st, int L, int d, SAECodeFn encode, SAECodeFn decode, void *ctx, const float *X, long T,
                   const unsigned char *target, const char *latents_path) {
    const long chunk = 1024;
    float *Z = xmalloc(sizeof(float) * (size_t)chunk * L);   /* (chunk, L) */
    float *Y = xmalloc(sizeof(float) * (size_t)chunk * d);   /* (chunk, d) the reconstruction */
    double *sx = xcalloc((size_t)d, sizeof(double)), sxx = 0.0, sse = 0.0;
    Sums a;
    sums_init(&a, L, target != NULL);
    NpyWriter w;
    int rc = latents_path ? npy_writer_begin(&w, latents_path, (int64_t[]){T, L}, 2) : 0;
    for (long t0 = 0; t0 < T && rc == 0; t0 += chunk) {
        long nb = T - t0 < chunk ? T - t0 : chunk;
        const float *Xb = X + (size_t)t0 * d;   /* (nb, d) */
        encode(ctx, Xb, nb, Z);
        sums_add(&a, Z, nb, target ? target + t0 : NULL);
        /* variance explained: Σ ||Y - X||², Σ X², Σ X per column */
        decode(ctx, Z, nb, Y);
        for (size_t i = 0; i < (size_t)nb * d; i++) {
            double e = (double)Y[i] - Xb[i];
            sse += e * e;
            sxx += (double)Xb[i] * Xb[i];
            sx[i % d] += Xb[i];
        }
        if (latents_path) rc = npy_writer_put(&w, Z, nb * L);
    }
    if (latents_path) {
        if (rc == 0) rc = npy_writer_end(&w);
        else npy_writer_abort(&w);
    }
    sums_finish(&a, st);
    double var = sxx;   /* Σ (X - mean)² = Σ X² - T Σ_j mean_j² */
    for (int j = 0; j < d; j++) var -= sx[j] * sx[j] / (double)T;
    st->fve = var > 0.0 ? 1.0 - sse / var : 0.0;
    free(Z); free(Y); free(sx);
    if (rc != 0) sae_stats_free(st);
    return rc;
}

double sae_fve(const SAE *sae, const float *X, long T) {
    SAEStats st;
    if (sae_score(&st, sae, X, T, NULL, NULL) != 0) return NAN;
    double fve = st.fve;
    sae_stats_free(&st);
    return fve;
}

void sae_stats_free(SAEStats *st) {
    if (!st) return;
    free(st->density); free(st->mean_act); free(st->density_act);
    free(st->by_activation); free(st->by_density);
    free(st->score); free(st->by_score);
    memset(st, 0, sizeof *st);
}
