/*
 * eval/metrics.c - the evaluation of an SAE spliced into GPT-2 (metrics.h):
 * a first pass for the mean activation, then per window one clean pass and
 * three resumed passes (SAE, zero, mean) from the SAE's site, with every sum
 * in double.
 */
#include "eval/metrics.h"
#include "core/pool.h"
#include "core/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *const eval_run_names[EVAL_NRUNS] = {"clean", "sae", "zero", "mean"};

EvalParams eval_default_params(void) {
    EvalParams p = {0, 0, -1, NULL};
    return p;
}

void eval_result_free(EvalResult *r) {
    if (!r) return;
    free(r->density);
    free(r->mean);
    for (int k = 0; k < EVAL_NRUNS; k++) free(r->tok_ce[k]), free(r->tok_kl[k]);
    memset(r, 0, sizeof *r);
}

/* ---- reconstruction sums ---- */

typedef struct {
    long n;
    double err2;   /* Σ ||x - x̂||² */
    double dev2;   /* Σ ||x - x̄||² */
    double xhat2;  /* Σ ||x̂||² */
    double dot;    /* Σ <x, x̂> */
    double cos;    /* Σ cos(x, x̂) */
    double ratio;  /* Σ ||x̂|| / ||x|| */
} Recon;

static void recon_row(Recon *a, const float *x, const float *xh, const float *mean, int d) {
    double e2 = 0, v2 = 0, x2 = 0, h2 = 0, dot = 0;
    for (int i = 0; i < d; i++) {
        double xi = x[i], hi = xh[i], e = xi - hi, v = xi - mean[i];
        e2 += e * e, v2 += v * v, x2 += xi * xi, h2 += hi * hi, dot += xi * hi;
    }
    a->n++;
    a->err2 += e2, a->dev2 += v2, a->xhat2 += h2, a->dot += dot;
    double nx = sqrt(x2), nh = sqrt(h2);
    a->cos += nx * nh > 0 ? dot / (nx * nh) : 0;
    a->ratio += nx > 0 ? nh / nx : 0;
}

static void recon_finish(EvalResult *r, const Recon *a) {
    r->n_kept = a->n;
    r->fvu = a->err2 / a->dev2;
    r->fve = 1.0 - r->fvu;
    r->mse = a->err2 / (double)a->n;
    r->cos = a->cos / (double)a->n;
    r->norm_ratio = a->ratio / (double)a->n;
    r->rel_bias = a->xhat2 / a->dot;
}

void eval_recon_metrics(EvalResult *r, const float *x, const float *xhat, const float *mean, long N, int d) {
    double *mu = xcalloc((size_t)d, sizeof(double));
    float *m = xmalloc((size_t)d * sizeof(float));
    if (mean)
        memcpy(m, mean, (size_t)d * sizeof(float));
    else {
        for (long t = 0; t < N; t++)
            for (int i = 0; i < d; i++) mu[i] += x[(size_t)t * d + i];
        for (int i = 0; i < d; i++) m[i] = (float)(mu[i] / (double)N);
    }
    Recon a = {0};
    for (long t = 0; t < N; t++) recon_row(&a, x + (size_t)t * d, xhat + (size_t)t * d, m, d);
    recon_finish(r, &a);
    free(mu);
    free(m);
}

/* ---- the per-position CE and KL, rows in parallel ---- */

typedef struct {
    const float *clean, *run;  /* (T, V) logits */
    const int32_t *ids;        /* (T) the window */
    int T, V;
    double *lse_clean;         /* (T) in: clean's log-sum-exp (computed when run == NULL) */
    double *ce, *kl;           /* (T) out */
} ScoreArgs;

static double logsumexp(const float *v, int V) {
    float mx = v[0];
    for (int i = 1; i < V; i++) mx = v[i] > mx ? v[i] : mx;
    double s = 0;
    for (int i = 0; i < V; i++) s += expf(v[i] - mx);
    return mx + log(s);
}

static void score_rows(void *ctx, int t0, int t1) {
    ScoreArgs *a = ctx;
    for (int t = t0; t < t1; t++) {
        const float *lc = a->clean + (size_t)t * a->V;
        if (!a->run) { /* the clean run: its log-sum-exp and CE */
            a->lse_clean[t] = logsumexp(lc, a->V);
            a->ce[t] = t + 1 < a->T ? a->lse_clean[t] - lc[a->ids[t + 1]] : NAN;
            continue;
        }
        const float *lr = a->run + (size_t)t * a->V;
        double lse_c = a->lse_clean[t], lse_r = logsumexp(lr, a->V);
        a->ce[t] = t + 1 < a->T ? lse_r - lr[a->ids[t + 1]] : NAN;
        /* KL(p_c || p_r) = Σ_v p_c,v (log p_c,v - log p_r,v) */
        double kl = 0;
        for (int v = 0; v < a->V; v++) {
            double lpc = lc[v] - lse_c, lpr = lr[v] - lse_r;
            kl += expf((float)lpc) * (lpc - lpr);
        }
        a->kl[t] = kl;
    }
}

/* ---- the passes ---- */

typedef struct {
    float *act;      /* (ctx, width) the site's activation */
    float *resid;    /* (ctx, C) the residual stream there, or NULL */
    GPT2Forward *f;
} Grab;

static int grab_hook(void *user, const GPT2HookCtx *c, float *act) {
    Grab *g = user;
    memcpy(g->act, act, (size_t)c->T * c->width * sizeof(float));
    if (g->resid) memcpy(g->resid, g->f->x, (size_t)c->T * g->f->m->cfg.n_embd * sizeof(float));
    return 0;
}

/* run one window with the grab hook at (layer, site); logits NULL: stop there */
static int run_grab(GPT2Forward *f, int layer, GPT2Site site, Grab *g, const int32_t *ids, int T, float *logits) {
    if (gpt2_forward_add_hook(f, layer, site, grab_hook, g) != 0) return -1;
    int rc = gpt2_forward(f, ids, T, logits);
    f->n_hooks--; /* the grab hook, the last added */
    return rc;
}

/* the CPU's passes (EvalPasses, user = the GPT2Forward) */
static int cpu_grab(void *user, int layer, GPT2Site site, const int32_t *ids, int T, float *act, float *resid,
                    float *logits) {
    Grab g = {act, resid, user};
    return run_grab(user, layer, site, &g, ids, T, logits);
}

static int cpu_resume(void *user, int layer, GPT2Site site, const float *resid, const float *act, int T,
                      float *logits) {
    return gpt2_forward_resume(user, layer, site, resid, act, T, logits);
}

static int kept(const EvalParams *p, int32_t id) { return p->exclude_id < 0 || id != p->exclude_id; }

int eval_run(EvalResult *r, GPT2Forward *f, const EvalSAE *sae, const int32_t *ids, long n, const EvalParams *p) {
    memset(r, 0, sizeof *r);
    const GPT2Config *c = &f->m->cfg;
    int layer;
    GPT2Site site;
    /* everything checked before any work */
    if (eval_sae_check(sae, f->m, &layer, &site) != 0) return -1;
    if (f->n_hooks != 0) return err_set("evaluation: the forward pass already has %d hooks; remove them", f->n_hooks);
    int ctx = p->ctx > 0 ? p->ctx : c->n_ctx;
    if (ctx < 2 || ctx > c->n_ctx)
        return err_set("context of %d tokens: use --ctx 2..%d (this model's n_ctx)", ctx, c->n_ctx);
    long use = p->max_tokens > 0 && p->max_tokens < n ? p->max_tokens : n;
    long nw = use / ctx;
    if (nw < 1)
        return err_set("the token set has %ld tokens%s, fewer than one window of %d: give more text or a smaller "
                       "--ctx", use, use < n ? " (--tokens)" : "", ctx);
    for (long t = 0; t < nw * ctx; t++)
        if (ids[t] < 0 || ids[t] >= c->vocab_size)
            return err_set("token id %d at position %ld is outside the vocabulary [0, %d) of %s", (int)ids[t], t,
                           c->vocab_size, c->name);
    const int d = sae->d_in, L = sae->d_sae, C = c->n_embd, V = c->vocab_size;
    r->ctx = ctx, r->n_windows = nw, r->n_tokens = nw * ctx;
    r->layer = layer, r->site = site, r->d_in = d, r->d_sae = L;

    float *x = xmalloc(sizeof(float) * ctx * d), *buf = xmalloc(sizeof(float) * ctx * d);
    float *resid = xmalloc(sizeof(float) * ctx * C);
    const EvalPasses cpu = {cpu_grab, cpu_resume, f}, *ps = p->passes ? p->passes : &cpu;

    /* pass 1: the mean activation x̄ over the kept tokens (stops at the site) */
    double *mu = xcalloc((size_t)d, sizeof(double));
    long nk = 0;
    int rc = -1;
    for (long w = 0; w < nw; w++) {
        const int32_t *wid = ids + w * ctx;
        if (ps->grab(ps->user, layer, site, wid, ctx, x, NULL, NULL) != 0) goto done_mean;
        for (int t = 0; t < ctx; t++) {
            if (!kept(p, wid[t])) continue;
            nk++;
            for (int i = 0; i < d; i++) mu[i] += x[(size_t)t * d + i];
        }
    }
    if (nk == 0) {
        err_set("every position holds the excluded id %d: nothing to evaluate", p->exclude_id);
        goto done_mean;
    }
    r->mean = xmalloc(sizeof(float) * d);
    for (int i = 0; i < d; i++) r->mean[i] = (float)(mu[i] / (double)nk);
    rc = 0;
done_mean:
    free(mu);
    if (rc != 0) {
        free(x), free(buf), free(resid);
        eval_result_free(r);
        return -1;
    }

    /* pass 2: per window, one clean pass and three resumed ones */
    EvalIntervention iv[EVAL_NRUNS];
    memset(iv, 0, sizeof iv);
    iv[EVAL_RUN_SAE] = eval_intervention(EVAL_SPLICE, sae);
    iv[EVAL_RUN_ZERO] = eval_intervention(EVAL_ZERO, NULL);
    iv[EVAL_RUN_MEAN] = eval_intervention(EVAL_MEAN, NULL);
    iv[EVAL_RUN_MEAN].mean = r->mean;
    float *lclean = xmalloc(sizeof(float) * (size_t)ctx * V), *lrun = xmalloc(sizeof(float) * (size_t)ctx * V);
    double *lse = xmalloc(sizeof(double) * ctx), *rce = xmalloc(sizeof(double) * ctx);
    double *rkl = xmalloc(sizeof(double) * ctx);
    long *active = xcalloc((size_t)L, sizeof(long));
    for (int k = 0; k < EVAL_NRUNS; k++) {
        r->tok_ce[k] = xmalloc(sizeof(float) * r->n_tokens);
        if (k != EVAL_RUN_CLEAN) r->tok_kl[k] = xmalloc(sizeof(float) * r->n_tokens);
    }
    double ce_sum[EVAL_NRUNS] = {0}, kl_sum[EVAL_NRUNS] = {0}, l0 = 0, l1 = 0;
    Recon acc = {0};
    rc = -1;
    for (long w = 0; w < nw; w++) {
        const int32_t *wid = ids + w * ctx;
        long base = w * ctx;
        if (ps->grab(ps->user, layer, site, wid, ctx, x, resid, lclean) != 0) goto done;
        for (int k = 0; k < EVAL_NRUNS; k++) {
            if (k != EVAL_RUN_CLEAN) {
                memcpy(buf, x, sizeof(float) * ctx * d);
                if (eval_intervene(&iv[k], buf, ctx, d) != 0) goto done;
                if (k == EVAL_RUN_SAE) /* buf = x̂, iv.f = the latents: the reconstruction metrics */
                    for (int t = 0; t < ctx; t++) {
                        if (!kept(p, wid[t])) continue;
                        recon_row(&acc, x + (size_t)t * d, buf + (size_t)t * d, r->mean, d);
                        const float *ft = iv[k].f + (size_t)t * L;
                        for (int i = 0; i < L; i++)
                            if (ft[i] != 0) l0 += 1, l1 += fabsf(ft[i]), active[i]++;
                    }
                if (ps->resume(ps->user, layer, site, resid, buf, ctx, lrun) != 0) goto done;
            }
            ScoreArgs sa = {lclean, k == EVAL_RUN_CLEAN ? NULL : lrun, wid, ctx, V, lse, rce, rkl};
            pool_for(ctx, 1, score_rows, &sa);
            for (int t = 0; t < ctx; t++) {
                int keep = kept(p, wid[t]);
                float ce = keep && t + 1 < ctx ? (float)rce[t] : NAN;
                r->tok_ce[k][base + t] = ce;
                if (keep && t + 1 < ctx) ce_sum[k] += rce[t];
                if (k == EVAL_RUN_CLEAN) continue;
                r->tok_kl[k][base + t] = keep ? (float)rkl[t] : NAN;
                if (keep) kl_sum[k] += rkl[t];
            }
        }
        for (int t = 0; t < ctx; t++)
            if (kept(p, wid[t])) r->n_kl++, r->n_ce += t + 1 < ctx;
    }
    if (r->n_ce == 0) {
        err_set("no position left to score the next token at: use a longer --ctx");
        goto done;
    }
    for (int k = 0; k < EVAL_NRUNS; k++) r->ce[k] = ce_sum[k] / (double)r->n_ce, r->kl[k] = kl_sum[k] / (double)r->n_kl;
    r->ce_score = (r->ce[EVAL_RUN_ZERO] - r->ce[EVAL_RUN_SAE]) / (r->ce[EVAL_RUN_ZERO] - r->ce[EVAL_RUN_CLEAN]);
    r->ce_score_mean = (r->ce[EVAL_RUN_MEAN] - r->ce[EVAL_RUN_SAE]) / (r->ce[EVAL_RUN_MEAN] - r->ce[EVAL_RUN_CLEAN]);
    r->kl_score = (r->kl[EVAL_RUN_ZERO] - r->kl[EVAL_RUN_SAE]) / r->kl[EVAL_RUN_ZERO];
    r->kl_score_mean = (r->kl[EVAL_RUN_MEAN] - r->kl[EVAL_RUN_SAE]) / r->kl[EVAL_RUN_MEAN];
    recon_finish(r, &acc);
    r->l0 = l0 / (double)acc.n;
    r->l1 = l1 / (double)acc.n;
    r->density = xmalloc(sizeof(float) * L);
    for (int i = 0; i < L; i++) {
        double dens = (double)active[i] / (double)acc.n;
        r->density[i] = (float)dens;
        r->dead += active[i] == 0;
        r->dense_1pct += dens > 0.01;
        r->dense_10pct += dens > 0.1;
    }
    rc = 0;
done:
    for (int k = 1; k < EVAL_NRUNS; k++) eval_intervention_free(&iv[k]);
    free(x), free(buf), free(resid), free(lclean), free(lrun), free(lse), free(rce), free(rkl), free(active);
    if (rc != 0) eval_result_free(r);
    return rc;
}
