/*
 * eval/metrics.h - does the SAE explain the model? The evaluation the field
 * uses (SAELens' evals, SAEBench's core metrics) over a token set, with the
 * SAE spliced into the forward pass (eval/intervene.h).
 *
 *   EvalParams p = eval_default_params();      // ctx = n_ctx, every token
 *   p.ctx = 128; p.max_tokens = 4096;
 *   EvalResult r;
 *   if (eval_run(&r, &f, &sae, ids, n, &p) != 0) return cli_fail();  // f: a GPT2Forward
 *   printf("CE score %.3f, FVU %.3f\n", r.ce_score, r.fvu);
 *   eval_write_json(&r, "out/eval.json", &m, &sae, "out/run1", NULL);   // eval/report.h
 *   eval_result_free(&r);
 *
 * THE TOKEN SET is one flat array of ids (texts tokenised and concatenated,
 * or a token file mapped in memory), cut into non-overlapping windows of ctx
 * tokens, each run from position 0; a last partial window is left out (a
 * set shorter than one window is refused). With p.exclude_id >= 0 (GPT-2's
 * <|endoftext|>, 50256, which is also its BOS) the positions holding that
 * id are left out of every metric (they are still run and spliced).
 *
 * THE PASSES. A first pass, stopping at the SAE's site, gives the mean
 * activation x̄ (d_in) over the kept tokens. Then, per window, ONE clean pass
 * to the logits captures the site's activation x and the residual stream
 * there; the SAE-spliced, zero-ablated and mean-ablated logits come from
 * gpt2_forward_resume with x̂, 0 and x̄: only the layers above the site run
 * again. The passes run where EvalParams.passes says (the CPU by default, or
 * the GPU: cuda/cuda.h); the interventions and every metric stay on the CPU.
 *
 * THE METRICS (sums in double; x_t, x̂_t (d_in) at kept positions t, N of them;
 * f_t (d_sae) the latents; p_run(t) the next-token distribution of a run):
 *   CE_run   = mean over positions t < ctx-1 of -log p_run(t)[id_{t+1}]
 *   CE score = (CE_zero - CE_sae) / (CE_zero - CE_clean); the same with CE_mean
 *   KL_run   = mean over positions of KL(p_clean(t) || p_run(t))
 *   KL score = (KL_zero - KL_sae) / KL_zero; the same with KL_mean
 *   FVU      = Σ_t ||x_t - x̂_t||² / Σ_t ||x_t - x̄||²,  FVE = 1 - FVU
 *   MSE      = Σ_t ||x_t - x̂_t||² / N                  (per token: divided once)
 *   cos      = mean_t <x_t, x̂_t> / (||x_t|| ||x̂_t||)   (0 where a norm is 0)
 *   ratio    = mean_t ||x̂_t|| / ||x_t||                (0 where ||x_t|| = 0)
 *   rel_bias = Σ_t ||x̂_t||² / Σ_t <x_t, x̂_t>
 *   L0 = mean_t #{i: f_ti != 0},  L1 = mean_t Σ_i |f_ti|
 *   density_i = #{t: f_ti != 0} / N; dead: density 0; dense: density > 1%, > 10%
 */
#ifndef EVAL_METRICS_H
#define EVAL_METRICS_H

#include "eval/intervene.h"

/* Where the passes run. eval_run's own (EvalParams.passes NULL) are the
 * CPU's, through the GPT2Forward it is given; another device hands its own
 * (cuda/cuda.h: cuda_eval_grab, cuda_eval_resume, user = its CUDAGPT2). */
typedef struct EvalPasses {
    /* One window ids (T) from position 0: act (T, width) at (layer, site),
     * resid (T, C) the residual stream there (gpt2_forward_resume's; NULL:
     * not wanted), logits (T, V), or NULL to stop after the site. */
    int (*grab)(void *user, int layer, GPT2Site site, const int32_t *ids, int T, float *act, float *resid,
                float *logits);
    /* gpt2_forward_resume's contract: logits (T, V) of the window resumed
     * after (layer, site) with act and resid there. */
    int (*resume)(void *user, int layer, GPT2Site site, const float *resid, const float *act, int T, float *logits);
    void *user;
} EvalPasses;

typedef struct {
    int ctx;          /* tokens per window; 0 = the model's n_ctx */
    long max_tokens;  /* use at most this many tokens (whole windows); 0 = all */
    int exclude_id;   /* -1: keep every position; else leave out positions holding this id */
    const EvalPasses *passes; /* NULL: the CPU's (the GPT2Forward); borrowed */
} EvalParams;

EvalParams eval_default_params(void);

/* The runs, in the order of EvalResult's arrays. */
enum { EVAL_RUN_CLEAN, EVAL_RUN_SAE, EVAL_RUN_ZERO, EVAL_RUN_MEAN, EVAL_NRUNS };
extern const char *const eval_run_names[EVAL_NRUNS];   /* "clean", "sae", "zero", "mean" */

typedef struct {
    int ctx;
    long n_windows, n_tokens;   /* n_tokens = n_windows * ctx, the tokens run */
    long n_kept;                /* positions the reconstruction metrics are over (N) */
    long n_ce;                  /* positions the CE is over */
    long n_kl;                  /* positions the KL is over */
    int layer;
    GPT2Site site;
    int d_in, d_sae;
    double ce[EVAL_NRUNS];      /* CE loss of each run */
    double kl[EVAL_NRUNS];      /* KL(p_clean || p_run); kl[CLEAN] = 0 */
    double ce_score, ce_score_mean, kl_score, kl_score_mean;
    double fvu, fve, mse, cos, norm_ratio, rel_bias;
    double l0, l1;
    int dead, dense_1pct, dense_10pct;
    float *density;             /* (d_sae) fraction of kept tokens where the latent is active */
    float *mean;                /* (d_in) x̄ */
    /* per position of the tokens run (n_tokens), NaN where not counted: */
    float *tok_ce[EVAL_NRUNS];  /* -log p_run(t)[id_{t+1}] */
    float *tok_kl[EVAL_NRUNS];  /* KL(p_clean(t) || p_run(t)); tok_kl[CLEAN] is NULL */
} EvalResult;

/* Evaluate sae on ids (n) through f's model (f borrowed; its hooks must be
 * free of other interventions). Checks everything before any work: the SAE
 * against the model (eval_sae_check), ctx within 2..n_ctx, at least one
 * window of tokens, ids inside the vocabulary. Fills r (free with
 * eval_result_free). Returns 0, or -1 with err_set(). */
int eval_run(EvalResult *r, GPT2Forward *f, const EvalSAE *sae, const int32_t *ids, long n, const EvalParams *p);
void eval_result_free(EvalResult *r);

/* The reconstruction part alone, on rows already in memory: x, x̂ (N, d),
 * mean x̄ (d) (NULL: computed from x). Fills fvu, fve, mse, cos, norm_ratio,
 * rel_bias and n_kept of r (other fields untouched). */
void eval_recon_metrics(EvalResult *r, const float *x, const float *xhat, const float *mean, long N, int d);

#endif
