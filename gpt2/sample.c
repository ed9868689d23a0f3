/*
 * gpt2/sample.c - the next-token distribution after the frequency penalty,
 * temperature, top-k and top-p, and the draw from it. The filters and their
 * order are those of generate.h (Hugging Face's logits processors and
 * warpers, OpenAI's frequency penalty); tests/gen_sample_golden.py writes them
 * again in PyTorch, from the same definitions, and tests/test_generate.c
 * compares the two distributions.
 */
#include "gpt2/generate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

GPT2Sampler gpt2_sampler_default(void) {
    GPT2Sampler s = {1.0f, 0, 1.0f, 0.0f, 0};
    return s;
}

int gpt2_sampler_check(const GPT2Sampler *s) {
    if (!(s->temperature >= 0.0f) || !isfinite(s->temperature))
        return err_set("--temperature %g: must be >= 0 (0 = greedy; 1 = the model's own distribution)",
                       (double)s->temperature);
    if (s->top_k < 0) return err_set("--top-k %d: must be >= 0 (0 = off)", s->top_k);
    if (!(s->top_p > 0.0f && s->top_p <= 1.0f))
        return err_set("--top-p %g: must be in (0, 1] (the probability mass kept; 1 = off)", (double)s->top_p);
    if (!(s->freq_penalty >= -2.0f && s->freq_penalty <= 2.0f))
        return err_set("--freq-penalty %g: must be in [-2, 2] (OpenAI's range; 0 = off)", (double)s->freq_penalty);
    return 0;
}

/* qsort: ascending by value (index order for equal values, so ties are deterministic) */
typedef struct {
    double v;
    int j;
} Item;

static int item_asc(const void *a, const void *b) {
    const Item *x = a, *y = b;
    if (x->v != y->v) return x->v < y->v ? -1 : 1;
    return x->j - y->j;
}

/* The k-th largest of z (n), by selection on a copy (work, n). */
static double kth_largest(const double *z, int n, int k, double *work) {
    memcpy(work, z, (size_t)n * sizeof(double));
    /* quickselect for index n - k in ascending order */
    int lo = 0, hi = n - 1, want = n - k;
    while (lo < hi) {
        double pivot = work[lo + (hi - lo) / 2];
        int i = lo, j = hi;
        while (i <= j) {
            while (work[i] < pivot) i++;
            while (work[j] > pivot) j--;
            if (i <= j) {
                double t = work[i];
                work[i] = work[j], work[j] = t;
                i++, j--;
            }
        }
        if (want <= j) hi = j;
        else if (want >= i) lo = i;
        else break;
    }
    return work[want];
}

void gpt2_sample_probs(const GPT2Sampler *s, const float *logits, const int *counts, int V, double *probs,
                       double *scratch) {
    double *own = scratch ? NULL : xmalloc((size_t)V * 2 * sizeof(double));
    double *z = probs, *work = scratch ? scratch : own; /* z is computed in place in probs */
    /* frequency penalty (OpenAI): z_j = logit_j - count_j * penalty */
    for (int j = 0; j < V; j++) z[j] = (double)logits[j] - (counts ? (double)counts[j] * s->freq_penalty : 0.0);
    if (s->greedy || s->temperature == 0.0f) {
        int best = 0;
        for (int j = 1; j < V; j++)
            if (z[j] > z[best]) best = j; /* first index on ties, as torch.argmax */
        for (int j = 0; j < V; j++) probs[j] = j == best ? 1.0 : 0.0;
        free(own);
        return;
    }
    /* temperature */
    if (s->temperature != 1.0f)
        for (int j = 0; j < V; j++) z[j] /= (double)s->temperature;
    /* top-k: drop z_j < the k-th largest (ties with it stay) */
    if (s->top_k > 0 && s->top_k < V) {
        double kth = kth_largest(z, V, s->top_k, work);
        for (int j = 0; j < V; j++)
            if (z[j] < kth) z[j] = -INFINITY;
    }
    /* softmax of what is left: p_j = exp(z_j - max) / sum */
    double maxv = -INFINITY, sum = 0.0;
    for (int j = 0; j < V; j++)
        if (z[j] > maxv) maxv = z[j];
    for (int j = 0; j < V; j++) {
        probs[j] = z[j] == -INFINITY ? 0.0 : exp(z[j] - maxv);
        sum += probs[j];
    }
    for (int j = 0; j < V; j++) probs[j] /= sum;
    /* top-p on the survivors: ascending by probability, cumulative sum c;
     * drop c <= 1 - top_p, keep the largest always; renormalise */
    if (s->top_p < 1.0f) {
        int n = 0;
        Item *it = (Item *)work; /* 2V doubles hold V items */
        for (int j = 0; j < V; j++)
            if (probs[j] > 0.0) it[n++] = (Item){probs[j], j};
        qsort(it, (size_t)n, sizeof *it, item_asc);
        /* the tokens with zero probability (dropped by top-k) come first in HF's ascending order and
         * add nothing to c, so the cumulative sum over the survivors is the same */
        double c = 0.0, kept = 0.0, cut = 1.0 - (double)s->top_p;
        for (int i = 0; i < n; i++) {
            c += it[i].v;
            if (c <= cut && i < n - 1) probs[it[i].j] = 0.0;
            else kept += probs[it[i].j];
        }
        for (int j = 0; j < V; j++) probs[j] /= kept;
    }
    free(own);
}

int32_t gpt2_sample_draw(const double *probs, int V, Rng *rng) {
    double u = (double)(rng_u64(rng) >> 11) * (1.0 / 9007199254740992.0); /* [0, 1), 53 bits */
    double c = 0.0;
    int last = 0;
    for (int j = 0; j < V; j++) {
        if (probs[j] <= 0.0) continue;
        c += probs[j];
        last = j;
        if (u < c) return j;
    }
    return last; /* u above a sum that rounded below 1: the last possible token */
}

void gpt2_sample_rng(Rng *rng, uint64_t seed, int sample) {
    /* a different stream per sample, fixed by (seed, sample) alone */
    rng_seed(rng, seed * 0x9E3779B97F4A7C15ull + (uint64_t)sample * 0xD1B54A32D192ED03ull + 1);
}
