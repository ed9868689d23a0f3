/*
 * sae/stats.c - per-latent statistics as the notebook computes them from the
 * latents ẑ (T, L), and its word-category ("geography") score. Sums are in
 * double (numpy works in float64 here: its density mask is float64).
 */
#include "sae/sae.h"
#include "core/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct { double v; int i; } Keyed;

/* descending by value, ties by descending index: np.argsort(x, kind='stable')[::-1] */
static int cmp_keyed(const void *a, const void *b) {
    const Keyed *x = a, *y = b;
    if (x->v != y->v) return x->v < y->v ? 1 : -1;
    return (x->i < y->i) - (x->i > y->i);
}

static void order_desc(int *out, const double *v, int L) {
    Keyed *k = xmalloc((size_t)L * sizeof(Keyed));
    for (int l = 0; l < L; l++) { k[l].v = v[l]; k[l].i = l; }
    qsort(k, (size_t)L, sizeof(Keyed), cmp_keyed);
    for (int l = 0; l < L; l++) out[l] = k[l].i;
    free(k);
}

void sae_stats(SAEStats *st, const float *Z, long T, int L) {
    memset(st, 0, sizeof *st);
    st->L = L;
    st->T = T;
    st->density = xmalloc((size_t)L * sizeof(float));
    st->mean_act = xmalloc((size_t)L * sizeof(float));
    st->density_act = xmalloc((size_t)L * sizeof(float));
    st->by_activation = xmalloc((size_t)L * sizeof(int));
    st->by_density = xmalloc((size_t)L * sizeof(int));
    long *count = xcalloc((size_t)L, sizeof(long));        /* (L) nonzero tokens */
    double *sum = xcalloc((size_t)L, sizeof(double));      /* (L) Σ |ẑ| over them */
    double *dens = xmalloc((size_t)L * sizeof(double));    /* (L) */
    double *act = xmalloc((size_t)L * sizeof(double));     /* (L) */
    long nnz = 0;
    for (long t = 0; t < T; t++) {
        const float *z = Z + (size_t)t * L;
        for (int l = 0; l < L; l++)
            if (z[l] != 0.0f) { count[l]++; sum[l] += fabs((double)z[l]); nnz++; }
    }
    for (int l = 0; l < L; l++) {
        /* latentDensity = 100 * nansum(mask) / T; nonzeroAct = nanmean(|z * mask|), NaN -> 0 */
        dens[l] = T > 0 ? 100.0 * (double)count[l] / (double)T : 0.0;
        act[l] = count[l] ? sum[l] / (double)count[l] : 0.0;
        st->density[l] = (float)dens[l];
        st->mean_act[l] = (float)act[l];
        st->density_act[l] = (float)(dens[l] * act[l]);
        st->dead += count[l] == 0;
    }
    order_desc(st->by_activation, act, L);
    order_desc(st->by_density, dens, L);
    st->mean_l0 = T > 0 ? (double)nnz / (double)T : 0.0;
    free(count); free(sum); free(dens); free(act);
}

void sae_stats_free(SAEStats *st) {
    if (!st) return;
    free(st->density); free(st->mean_act); free(st->density_act);
    free(st->by_activation); free(st->by_density);
    memset(st, 0, sizeof *st);
}

void sae_word_score(float *score, const float *Z, long T, int L, const unsigned char *target) {
    /* per latent and side (target / other): Σ ẑ, Σ of nonzero ẑ, count of nonzero ẑ */
    double *s = xcalloc((size_t)L * 2, sizeof(double));
    double *nzsum = xcalloc((size_t)L * 2, sizeof(double));
    long *nzcnt = xcalloc((size_t)L * 2, sizeof(long));
    for (long t = 0; t < T; t++) {
        int side = target[t] ? 0 : 1;
        const float *z = Z + (size_t)t * L;
        for (int l = 0; l < L; l++) {
            s[2 * l + side] += z[l];
            if (z[l] != 0.0f) { nzsum[2 * l + side] += z[l]; nzcnt[2 * l + side]++; }
        }
    }
    for (int l = 0; l < L; l++) {
        /* the seed: if (nontarg.sum()>0) & (targ.sum()>0): mean(targ[nonzero]) / mean(nontarg[nonzero]) */
        if (s[2 * l] > 0 && s[2 * l + 1] > 0)
            score[l] = (float)((nzsum[2 * l] / nzcnt[2 * l]) / (nzsum[2 * l + 1] / nzcnt[2 * l + 1]));
        else
            score[l] = 0.0f;
    }
    free(s); free(nzsum); free(nzcnt);
}
