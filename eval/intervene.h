/*
 * eval/intervene.h - interventions on GPT-2's activations through an SAE:
 * each one is a hook the forward pass calls (gpt2/gpt2.h), never a copy of
 * the forward pass. One struct describes the intervention; one hook function
 * applies it.
 *
 *   EvalSAE sae;                                   // the SAE behind a small interface
 *   if (eval_sae_load(&sae, "out/run1") != 0) return cli_fail();   // sae_weights.safetensors + cfg.json (SAELens 6)
 *   EvalIntervention iv = eval_intervention(EVAL_SPLICE, &sae);     // layer/site from sae.hook
 *   GPT2Forward f;
 *   gpt2_forward_init(&f, &m);
 *   if (eval_intervention_add(&f, &iv) != 0) return cli_fail();    // checks d_in, model, site
 *   gpt2_forward(&f, ids, T, logits);              // logits (T, V) with x̂ spliced in
 *   gpt2_forward_free(&f);
 *   eval_intervention_free(&iv);
 *   eval_sae_free(&sae);
 *
 *   // steering: add 8 * W_dec[123] at every position of blocks.6.hook_resid_post
 *   EvalLatent add[] = {{123, 8.0f}};
 *   EvalIntervention st = eval_intervention(EVAL_STEER, &sae);
 *   st.latents = add; st.n_latents = 1;
 *
 * The kinds, on the activation x (T, d_in) of one site, with f = encode(x)
 * (T, d_sae) and x̂ = decode(f) = f W_dec + b_dec:
 *   EVAL_SPLICE      x <- x̂                         the SAE replaces the activation
 *   EVAL_SPLICE_ERR  x <- x̂ + (x - x̂)               the error term kept: the clean
 *                                                   activation back, to float rounding
 *   EVAL_ZERO        x <- 0                          zero-ablation
 *   EVAL_MEAN        x <- mean (d_in), every row     mean-ablation (the mean is given)
 *   EVAL_STEER       x <- x + Σ_j coef_j W_dec[i_j]  add decoder directions
 *   EVAL_CLAMP       f_i <- value_i, then x <- decode(f') + (x - decode(f));
 *                    the decoder is affine, so this is x + Σ_j (value_j - f_ij) W_dec[i_j]:
 *                    value 0 ablates latent i and moves x by exactly -f_i W_dec[i].
 *
 * Every SAE the engine reads has an affine decoder (SAELens' standard, top-k,
 * gated and JumpReLU architectures all decode as f W_dec + b_dec); EVAL_CLAMP
 * and EVAL_STEER rely on that.
 */
#ifndef EVAL_INTERVENE_H
#define EVAL_INTERVENE_H

#include "gpt2/gpt2.h"
#include "sae/sae.h"
#include "sae/arch.h"

/* An SAE as the evaluation sees it: its sizes, where it was trained, and
 * encode/decode. New architectures plug in by filling the function pointers. */
typedef struct EvalSAE {
    int d_in, d_sae;
    char model[64];       /* model_name it was trained on ("gpt2"); "" if unknown */
    char hook[128];       /* TransformerLens hook name ("blocks.6.mlp.hook_pre") */
    const float *W_dec;   /* (d_sae, d_in) decoder rows (owned by impl) */
    const float *b_dec;   /* (d_in) or NULL (zero) */
    void *impl;           /* the architecture's own state */
    int owns_impl;        /* eval_sae_free frees impl: 1 an SAE (sae/sae.h), 2 an SAEArch */
    /* F (T, d_sae) = the latents of X (T, d_in) */
    void (*encode)(const struct EvalSAE *s, const float *X, long T, float *F);
    /* X (T, d_in) = F (T, d_sae) W_dec + b_dec */
    void (*decode)(const struct EvalSAE *s, const float *F, long T, float *X);
} EvalSAE;

/* Load an SAE from a folder: SAELens 6 (DIR/sae_weights.safetensors +
 * cfg.json, any architecture: what the engine writes), sparsify
 * (DIR/sae.safetensors with encoder.weight), or the engine's older layout
 * (DIR/sae.safetensors with W_dec: the seed's tied SAE). d_in, d_sae,
 * model_name and hook_name from cfg.json (its "metadata" or top level;
 * defaults "gpt2" and "blocks.6.mlp.hook_pre" when absent).
 * Returns 0, or -1 with err_set() naming the file. */
int eval_sae_load(EvalSAE *s, const char *dir);
/* View an SAE already in memory (borrowed: sae must outlive s). model and hook
 * may be NULL (the defaults above). */
void eval_sae_wrap(EvalSAE *s, const SAE *sae, const char *model, const char *hook);
/* View a model of sae/arch.h (borrowed; encode uses its scratch). */
void eval_sae_wrap_arch(EvalSAE *s, SAEArch *m, const char *model, const char *hook);
/* Free what eval_sae_load allocated; a zeroed EvalSAE is a no-op. */
void eval_sae_free(EvalSAE *s);

/* Check that s fits model m: the hook names a site of m (layer in range),
 * its width is s->d_in, and s->model names m's size ("gpt2-small" and
 * "openai-community/gpt2" are "gpt2"; a random checkpoint of a size counts as
 * that size; "custom" models skip the name check). Fills *layer and *site. Returns 0, or -1 with err_set(). */
int eval_sae_check(const EvalSAE *s, const GPT2Model *m, int *layer, GPT2Site *site);

typedef enum {
    EVAL_SPLICE,
    EVAL_SPLICE_ERR,
    EVAL_ZERO,
    EVAL_MEAN,
    EVAL_STEER,
    EVAL_CLAMP
} EvalKind;

/* "splice", "splice_err", "zero", "mean", "steer", "clamp" */
const char *eval_kind_name(EvalKind k);

/* One latent edit: EVAL_STEER adds value * W_dec[latent]; EVAL_CLAMP sets
 * the latent to value (0: ablate it). */
typedef struct {
    int latent;
    float value;
} EvalLatent;

/* The intervention. Fields are set by the caller (eval_intervention fills
 * the defaults); the scratch is owned and grows as windows need it. */
typedef struct {
    EvalKind kind;
    int layer;                 /* where: -1 = the SAE's hook (set by eval_intervention_add) */
    GPT2Site site;
    const EvalSAE *sae;        /* borrowed; needed by every kind but ZERO and MEAN */
    const float *mean;         /* borrowed (width): EVAL_MEAN */
    const EvalLatent *latents; /* borrowed (n_latents): EVAL_STEER, EVAL_CLAMP */
    int n_latents;
    /* scratch */
    float *f;                  /* (rows, d_sae) */
    float *xhat;               /* (rows, d_in)  */
    long rows;
} EvalIntervention;

/* An intervention of this kind at the SAE's hook (sae may be NULL for ZERO
 * and MEAN; then set layer and site). */
EvalIntervention eval_intervention(EvalKind kind, const EvalSAE *sae);
/* Check iv against f's model (site, widths, SAE, latents in range, a mean
 * for EVAL_MEAN) and register eval_intervene_hook at its site. Returns 0, or
 * -1 with err_set(). iv is borrowed by f until the hook is removed. */
int eval_intervention_add(GPT2Forward *f, EvalIntervention *iv);
/* Apply iv to act (T, width) in place. Returns 0, or -1 with err_set(). */
int eval_intervene(EvalIntervention *iv, float *act, long T, int width);
/* The hook (user = EvalIntervention *): eval_intervene on the window. */
int eval_intervene_hook(void *user, const GPT2HookCtx *ctx, float *act);
/* Free the scratch (the borrowed pointers are left alone). */
void eval_intervention_free(EvalIntervention *iv);

#endif
