/*
 * features/features.c - the per-latent streaming statistics (top windows with
 * their exact tie rule, density, mean, max, histogram, quantile samples) and
 * the logit effects of each decoder direction. The rules are in features.h.
 */
#include "features/features.h"

#include "core/gemm.h"
#include "core/pool.h"
#include "core/util.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

FeatParams feat_default_params(void) {
    return (FeatParams){.top_k = 20, .radius = 8, .n_intervals = 10, .per_interval = 5, .n_bins = 50,
                        .n_logits = 10, .seed = 0};
}

uint64_t feat_key(uint64_t seed, int latent, int64_t pos) {
    /* splitmix64's finaliser over a mix of the three */
    uint64_t z = seed + 0x9E3779B97F4A7C15ull * ((uint64_t)latent + 1) + 0xBF58476D1CE4E5B9ull * (uint64_t)pos;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

int feat_bin(float a, float max, int nb) {
    int b = (int)floor((double)a * nb / (double)max);
    return b < 0 ? 0 : b >= nb ? nb - 1 : b;
}

static size_t feat_ex_count(const FeatParams *p) {
    return (size_t)p->top_k + (size_t)p->n_intervals * p->per_interval;
}

static size_t feat_bytes_of(int n, const FeatParams *p) {
    size_t W = 2 * (size_t)p->radius + 1, ex = feat_ex_count(p);
    return (size_t)n * (ex * (sizeof(FeatEx) + W * (sizeof(uint16_t) + sizeof(float))) +
                        (size_t)p->n_bins * sizeof(uint32_t) + (size_t)p->n_intervals * (sizeof(int) + 8) +
                        sizeof(int64_t) + sizeof(double) + 2 * sizeof(float) + 2 * sizeof(int));
}

size_t feat_bytes(const FeatStats *fs) { return feat_bytes_of(fs->n, &fs->p); }

int feat_init(FeatStats *fs, int n, const FeatParams *p) {
    memset(fs, 0, sizeof *fs);
    if (n < 1) return err_set("features: the SAE has %d latents; it needs at least one", n);
    if (p->top_k < 1 || p->radius < 0 || p->radius > 512 || p->n_intervals < 1 || p->per_interval < 1 ||
        p->n_bins < 1 || p->n_logits < 1)
        return err_set("features: bad parameters (top %d, radius %d, %d intervals x %d, %d bins, %d logits)",
                       p->top_k, p->radius, p->n_intervals, p->per_interval, p->n_bins, p->n_logits);
    if (mem_check(feat_bytes_of(n, p), "the per-latent feature statistics") != 0) return -1;
    fs->p = *p;
    fs->n = n;
    fs->W = 2 * p->radius + 1;
    size_t K = (size_t)p->top_k, S = (size_t)p->n_intervals * p->per_interval, W = (size_t)fs->W;
    fs->fires = xcalloc((size_t)n, sizeof(int64_t));
    fs->sum = xcalloc((size_t)n, sizeof(double));
    fs->max = xcalloc((size_t)n, sizeof(float));
    fs->top_n = xcalloc((size_t)n, sizeof(int));
    fs->top = xcalloc((size_t)n * K, sizeof(FeatEx));
    fs->top_tok = xcalloc((size_t)n * K * W, sizeof(uint16_t));
    fs->top_ctx = xcalloc((size_t)n * K * W, sizeof(float));
    fs->top_min = xcalloc((size_t)n, sizeof(float));
    fs->smp_n = xcalloc((size_t)n * p->n_intervals, sizeof(int));
    fs->smp_seen = xcalloc((size_t)n * p->n_intervals, sizeof(int64_t));
    fs->smp = xcalloc((size_t)n * S, sizeof(FeatEx));
    fs->smp_tok = xcalloc((size_t)n * S * W, sizeof(uint16_t));
    fs->smp_ctx = xcalloc((size_t)n * S * W, sizeof(float));
    fs->hist = xcalloc((size_t)n * p->n_bins, sizeof(uint32_t));
    fs->id = xmalloc(sizeof(int) * (size_t)n);
    for (int i = 0; i < n; i++) fs->id[i] = i;
    fs->pass = 1;
    return 0;
}

void feat_free(FeatStats *fs) {
    if (!fs) return;
    free(fs->fires), free(fs->sum), free(fs->max), free(fs->top_n), free(fs->top), free(fs->top_tok);
    free(fs->top_ctx), free(fs->top_min), free(fs->smp_n), free(fs->smp_seen), free(fs->smp);
    free(fs->smp_tok), free(fs->smp_ctx), free(fs->hist), free(fs->id);
    memset(fs, 0, sizeof *fs);
}

void feat_begin_pass(FeatStats *fs, int pass) { fs->pass = pass; }

/* Top windows: "a is worse than b" = lower activation, or equal and later. */
static int ex_worse(const FeatEx *a, const FeatEx *b) {
    return a->act < b->act || (a->act == b->act && a->pos > b->pos);
}
/* Samples: "a ranks after b" = larger key (then later position). */
static int key_after(const FeatEx *a, const FeatEx *b) {
    return a->key > b->key || (a->key == b->key && a->pos > b->pos);
}

/* A block of examples (the top windows of a latent, or the samples of one
 * interval) and their contexts (W tokens and activations each). */
typedef struct {
    FeatEx *e;
    uint16_t *tok;
    float *ctx;
    int W;
} ExBlock;

static ExBlock ex_block(FeatEx *e, uint16_t *tok, float *ctx, size_t first, int W) {
    return (ExBlock){e + first, tok + first * W, ctx + first * W, W};
}

/* Swap entries i and j of a block. */
static void ex_swap(ExBlock b, int i, int j) {
    FeatEx t = b.e[i];
    b.e[i] = b.e[j], b.e[j] = t;
    for (int k = 0; k < b.W; k++) {
        uint16_t a = b.tok[(size_t)i * b.W + k];
        b.tok[(size_t)i * b.W + k] = b.tok[(size_t)j * b.W + k], b.tok[(size_t)j * b.W + k] = a;
        float c = b.ctx[(size_t)i * b.W + k];
        b.ctx[(size_t)i * b.W + k] = b.ctx[(size_t)j * b.W + k], b.ctx[(size_t)j * b.W + k] = c;
    }
}

/* Sift entry i down the min-heap of n (root = the worst entry). */
static void heap_down(ExBlock b, int n, int i) {
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && ex_worse(&b.e[l], &b.e[m])) m = l;
        if (r < n && ex_worse(&b.e[r], &b.e[m])) m = r;
        if (m == i) return;
        ex_swap(b, i, m);
        i = m;
    }
}
static void heap_up(ExBlock b, int i) {
    while (i > 0) {
        int p = (i - 1) / 2;
        if (!ex_worse(&b.e[i], &b.e[p])) return;
        ex_swap(b, i, p);
        i = p;
    }
}

/* Selection sort of the n entries of a block: after(x, y) = x goes after y (n is small). */
static void ex_sort(ExBlock b, int n, int (*after)(const FeatEx *, const FeatEx *)) {
    for (int a = 0; a < n; a++) {
        int m = a;
        for (int c = a + 1; c < n; c++)
            if (after(&b.e[m], &b.e[c])) m = c;
        if (m != a) ex_swap(b, a, m);
    }
}

typedef struct {
    FeatStats *fs;
    const float *F;
    const int32_t *tok;
    const uint8_t *mask;
    int T;
    int64_t pos0;
} AddJob;

/* Put example ex (position t of the window, latent i) into slot of block b,
 * with its context: the tokens ±radius (within the window) and latent i's
 * activation on each. */
static void ex_put(ExBlock b, int slot, FeatEx ex, const AddJob *j, int t, int i) {
    int r = j->fs->p.radius, n = j->fs->n;
    uint16_t *tok = b.tok + (size_t)slot * b.W;
    float *ctx = b.ctx + (size_t)slot * b.W;
    b.e[slot] = ex;
    for (int k = -r; k <= r; k++) {
        int u = t + k;
        int in = u >= 0 && u < j->T;
        tok[k + r] = in ? (uint16_t)j->tok[u] : FEAT_NO_TOKEN;
        ctx[k + r] = in ? j->F[(size_t)u * n + i] : 0.0f;
    }
}

/* Each firing entry a = F[t, i] > 0 of the unmasked tokens, latents
 * [i0, i1), to visit(j, t, i, a, pos), token by token: both passes rely on
 * that order (an equal activation that comes later loses). */
typedef void (*AddVisit)(const AddJob *j, int t, int i, float a, int64_t pos);

static void add_each(const AddJob *j, int i0, int i1, AddVisit visit) {
    const int n = j->fs->n;
    for (int t = 0; t < j->T; t++) {
        if (j->mask && !j->mask[t]) continue;
        const float *row = j->F + (size_t)t * n;
        for (int i = i0; i < i1; i++)
            if (row[i] > 0) visit(j, t, i, row[i], j->pos0 + t);
    }
}

/* Pass 1, one entry: fires, sum, max, top windows. */
static void pass1_one(const AddJob *j, int t, int i, float a, int64_t pos) {
    FeatStats *fs = j->fs;
    const int K = fs->p.top_k;
    fs->fires[i]++;
    fs->sum[i] += a;
    if (a > fs->max[i]) fs->max[i] = a;
    if (a <= fs->top_min[i] && fs->top_n[i] == K) return;  /* equal loses: it is later */
    ExBlock b = ex_block(fs->top, fs->top_tok, fs->top_ctx, (size_t)i * K, fs->W);
    FeatEx nw = {a, pos, 0};
    if (fs->top_n[i] < K) {
        int slot = fs->top_n[i]++;
        ex_put(b, slot, nw, j, t, i);
        heap_up(b, slot);
    } else {
        ex_put(b, 0, nw, j, t, i);
        heap_down(b, K, 0);
    }
    if (fs->top_n[i] == K) fs->top_min[i] = b.e[0].act;
}

/* Pass 2, one entry: histogram and samples against the final max. */
static void pass2_one(const AddJob *j, int t, int i, float a, int64_t pos) {
    FeatStats *fs = j->fs;
    const int NQ = fs->p.n_intervals, P = fs->p.per_interval, NB = fs->p.n_bins;
    float mx = fs->max[i];
    if (!(mx > 0)) return;  /* did not fire in pass 1: not the same windows */
    fs->hist[(size_t)i * NB + feat_bin(a, mx, NB)]++;
    int q = feat_bin(a, mx, NQ);
    size_t c = (size_t)i * NQ + q;
    fs->smp_seen[c]++;
    FeatEx nw = {a, pos, feat_key(fs->p.seed, fs->id[i], pos)};
    ExBlock b = ex_block(fs->smp, fs->smp_tok, fs->smp_ctx, c * P, fs->W);
    int slot;
    if (fs->smp_n[c] < P) slot = fs->smp_n[c]++;
    else {
        slot = 0;   /* the entry with the largest key goes if the newcomer's is smaller */
        for (int k = 1; k < P; k++)
            if (key_after(&b.e[k], &b.e[slot])) slot = k;
        if (!key_after(&b.e[slot], &nw)) return;
    }
    ex_put(b, slot, nw, j, t, i);
}

/* the pool's chunks: latents [i0, i1) of pass 1, of pass 2 */
static void add_pass1(void *vj, int i0, int i1) { add_each(vj, i0, i1, pass1_one); }
static void add_pass2(void *vj, int i0, int i1) { add_each(vj, i0, i1, pass2_one); }

void feat_add(FeatStats *fs, const float *F, const int32_t *tok, const uint8_t *mask, int T, int64_t pos0) {
    AddJob j = {fs, F, tok, mask, T, pos0};
    if (fs->pass == 1) {
        for (int t = 0; t < T; t++) fs->positions += !mask || mask[t];
        pool_for(fs->n, 64, add_pass1, &j);
    } else
        pool_for(fs->n, 64, add_pass2, &j);
}

void feat_finish(FeatStats *fs) {
    int K = fs->p.top_k, NQ = fs->p.n_intervals, P = fs->p.per_interval;
    for (int i = 0; i < fs->n; i++) {
        ex_sort(ex_block(fs->top, fs->top_tok, fs->top_ctx, (size_t)i * K, fs->W), fs->top_n[i], ex_worse);
        for (int q = 0; q < NQ; q++) {
            size_t c = (size_t)i * NQ + q;
            ex_sort(ex_block(fs->smp, fs->smp_tok, fs->smp_ctx, c * P, fs->W), fs->smp_n[c], key_after);
        }
    }
}

/* ---- logit effects ----------------------------------------------------------- */

void feat_resid_dir(float *r, const float *dec, const GPT2Model *m, int layer, GPT2Site site) {
    int C = m->cfg.n_embd;
    if (gpt2_site_width(&m->cfg, site) == C) {
        memcpy(r, dec, sizeof(float) * C);
        return;
    }
    /* r (C) = dec (4C) @ W_out (4C, C) */
    gemm_ref(0, 0, 1, C, 4 * C, 1.0f, dec, 4 * C, m->w.h[layer].fcprojw, C, 0.0f, r, C);
}

typedef struct {
    FeatLogits *lg;
    const float *L;   /* (B, V) */
    int V, b0;
} LogitJob;

/* Tables and histogram of rows [r0, r1) of a batch. */
static void logit_rows(void *vj, int r0, int r1) {
    LogitJob *j = vj;
    FeatLogits *lg = j->lg;
    int K = lg->K, V = j->V, NB = lg->nb;
    for (int r = r0; r < r1; r++) {
        const float *x = j->L + (size_t)r * V;
        size_t i = (size_t)(j->b0 + r);
        int32_t *ti = lg->top_id + i * K, *bi = lg->bot_id + i * K;
        float *tv = lg->top_val + i * K, *bv = lg->bot_val + i * K;
        int nt = 0, nbt = 0;
        float lo = FLT_MAX, hi = -FLT_MAX;
        for (int v = 0; v < V; v++) {
            float a = x[v];
            lo = fminf(lo, a), hi = fmaxf(hi, a);
            /* insertion into the sorted top list (ties: the smaller id, seen first, stays ahead) */
            if (nt < K || a > tv[nt - 1]) {
                int k = nt < K ? nt++ : K - 1;
                while (k > 0 && a > tv[k - 1]) tv[k] = tv[k - 1], ti[k] = ti[k - 1], k--;
                tv[k] = a, ti[k] = v;
            }
            if (nbt < K || a < bv[nbt - 1]) {
                int k = nbt < K ? nbt++ : K - 1;
                while (k > 0 && a < bv[k - 1]) bv[k] = bv[k - 1], bi[k] = bi[k - 1], k--;
                bv[k] = a, bi[k] = v;
            }
        }
        lg->lo[i] = lo, lg->hi[i] = hi;
        uint32_t *h = lg->hist + i * NB;
        double w = (double)hi - lo;
        for (int v = 0; v < V; v++) {
            int b = w > 0 ? (int)floor(((double)x[v] - lo) * NB / w) : 0;
            h[b < 0 ? 0 : b >= NB ? NB - 1 : b]++;
        }
    }
}

int feat_logits(FeatLogits *lg, const EvalSAE *sae, const GPT2Model *m, int layer, GPT2Site site,
                const FeatParams *p) {
    return feat_logits_of(lg, sae, m, layer, site, p, NULL, sae->d_sae);
}

int feat_logits_of(FeatLogits *lg, const EvalSAE *sae, const GPT2Model *m, int layer, GPT2Site site,
                   const FeatParams *p, const int *sel, int n) {
    memset(lg, 0, sizeof *lg);
    int C = m->cfg.n_embd, V = m->cfg.vocab_size, d = sae->d_in;
    if (layer < 0 || layer >= m->cfg.n_layer)
        return err_set("features: layer %d is not in this model (%d layers)", layer, m->cfg.n_layer);
    if (gpt2_site_width(&m->cfg, site) != d)
        return err_set("features: the SAE's d_in %d does not match the site %s (width %d) of this model", d,
                       gpt2_site_name(site), gpt2_site_width(&m->cfg, site));
    if (p->n_logits > V) return err_set("features: %d logits asked of a vocabulary of %d", p->n_logits, V);
    if (n < 1 || (!sel && n != sae->d_sae))
        return err_set("features: logit effects of %d latents asked (the SAE has %d)", n, sae->d_sae);
    for (int r = 0; sel && r < n; r++)
        if (sel[r] < 0 || sel[r] >= sae->d_sae)
            return err_set("features: latent %d is not in the SAE (%d latents)", sel[r], sae->d_sae);
    lg->n = n, lg->K = p->n_logits, lg->nb = p->n_bins;
    lg->top_id = xmalloc(sizeof(int32_t) * n * lg->K);
    lg->bot_id = xmalloc(sizeof(int32_t) * n * lg->K);
    lg->top_val = xmalloc(sizeof(float) * n * lg->K);
    lg->bot_val = xmalloc(sizeof(float) * n * lg->K);
    lg->hist = xcalloc((size_t)n * lg->nb, sizeof(uint32_t));
    lg->lo = xmalloc(sizeof(float) * n), lg->hi = xmalloc(sizeof(float) * n);
    int B = 256;
    float *D = xmalloc(sizeof(float) * B * d);                                /* (B, d) decoder rows */
    float *R = xmalloc(sizeof(float) * B * C), *L = xmalloc(sizeof(float) * B * V);  /* (B, C), (B, V) */
    for (int b0 = 0; b0 < n; b0 += B) {
        int nb = n - b0 < B ? n - b0 : B;
        for (int r = 0; r < nb; r++) {
            int i = sel ? sel[b0 + r] : b0 + r;
            memcpy(D + (size_t)r * d, sae->W_dec + (size_t)i * d, sizeof(float) * d);
        }
        /* R (nb, C): the residual directions, then times ln_f's gain */
        if (d == C) memcpy(R, D, sizeof(float) * nb * C);
        else gemm(0, 0, nb, C, d, 1.0f, D, d, m->w.h[layer].fcprojw, C, 0.0f, R, C);
        for (int r = 0; r < nb; r++)
            for (int c = 0; c < C; c++) R[(size_t)r * C + c] *= m->w.lnfw[c];
        /* L (nb, V) = R @ lm_head^T */
        gemm(0, 1, nb, V, C, 1.0f, R, C, m->w.lm_head, C, 0.0f, L, V);
        LogitJob j = {lg, L, V, b0};
        pool_for(nb, 1, logit_rows, &j);
    }
    free(D), free(R), free(L);
    return 0;
}

void feat_logits_free(FeatLogits *lg) {
    if (!lg) return;
    free(lg->top_id), free(lg->bot_id), free(lg->top_val), free(lg->bot_val), free(lg->hist), free(lg->lo),
        free(lg->hi);
    memset(lg, 0, sizeof *lg);
}
