/*
 * eval/intervene.c - the SAE interface of the evaluation (the seed's tied
 * top-k SAE or any architecture of sae/arch.h behind it) and the interventions as one forward-pass hook.
 * See intervene.h for the kinds and their formulas.
 */
#include "eval/intervene.h"
#include "core/json.h"
#include "core/util.h"
#include "sae/arch_io.h"
#include "weights/safetensors.h"

#include <stdlib.h>
#include <string.h>

/* ---- the seed's SAE behind EvalSAE ---- */

static void seed_encode(const EvalSAE *s, const float *X, long T, float *F) { sae_encode(s->impl, X, T, F); }
static void seed_decode(const EvalSAE *s, const float *F, long T, float *X) { sae_decode(s->impl, F, T, X); }

void eval_sae_wrap(EvalSAE *s, const SAE *sae, const char *model, const char *hook) {
    memset(s, 0, sizeof *s);
    s->d_in = sae->d;
    s->d_sae = sae->L;
    snprintf(s->model, sizeof s->model, "%s", model ? model : "gpt2");
    snprintf(s->hook, sizeof s->hook, "%s", hook ? hook : "blocks.6.mlp.hook_pre");
    s->W_dec = sae->W; /* the tied decoder: W (L, d) */
    s->impl = (void *)sae;
    s->encode = seed_encode;
    s->decode = seed_decode;
}

/* a string field of cfg.json into buf (left as is when absent); -1 if not a string */
static int cfg_string(const JSON *root, const char *key, char *buf, size_t cap, const char *path) {
    const JSON *j = json_get(root, key);
    if (!j || j->type == JSON_NULL) return 0;
    if (j->type != JSON_STRING || j->str_len >= cap)
        return err_set("%s: \"%s\" is not a string of under %zu bytes; fix the SAE's cfg.json", path, key, cap);
    memcpy(buf, j->str, j->str_len + 1);
    return 0;
}

/* ---- any architecture (sae/arch.h) behind EvalSAE ---- */

#define ARCH_CHUNK 256 /* tokens encoded/decoded per call */

static void arch_encode(const EvalSAE *s, const float *X, long T, float *F) {
    SAEArch *m = s->impl;
    for (long t = 0; t < T; t += ARCH_CHUNK) {
        int b = (int)(T - t < ARCH_CHUNK ? T - t : ARCH_CHUNK);
        sae_arch_encode(m, X + (size_t)t * s->d_in, b, F + (size_t)t * s->d_sae);
    }
}

static void arch_decode(const EvalSAE *s, const float *F, long T, float *X) {
    const SAEArch *m = s->impl;
    for (long t = 0; t < T; t += ARCH_CHUNK) {
        int b = (int)(T - t < ARCH_CHUNK ? T - t : ARCH_CHUNK);
        sae_arch_decode(m, F + (size_t)t * s->d_sae, b, X + (size_t)t * s->d_in);
    }
}

void eval_sae_wrap_arch(EvalSAE *s, SAEArch *m, const char *model, const char *hook) {
    memset(s, 0, sizeof *s);
    s->d_in = m->p.d;
    s->d_sae = m->p.n;
    snprintf(s->model, sizeof s->model, "%s", model ? model : "gpt2");
    snprintf(s->hook, sizeof s->hook, "%s", hook ? hook : "blocks.6.mlp.hook_pre");
    s->W_dec = m->W_dec; /* (n, d) rows, in the raw input's units once loaded (sae/arch_io.c folds scales) */
    s->b_dec = m->b_dec;
    s->impl = m;
    s->encode = arch_encode;
    s->decode = arch_decode;
}

/* model_name and hook_name from cfg.json: SAELens 6 keeps them in "metadata",
 * older SAELens and the engine's older layout at the top level */
static int cfg_names(const char *cfg, char *model, size_t mcap, char *hook, size_t hcap) {
    JSON root;
    if (json_parse_file(&root, cfg) != 0) return -1;
    const JSON *meta = json_get(&root, "metadata");
    int bad = cfg_string(&root, "model_name", model, mcap, cfg) != 0 ||
              cfg_string(&root, "hook_name", hook, hcap, cfg) != 0 ||
              (meta && (cfg_string(meta, "model_name", model, mcap, cfg) != 0 ||
                        cfg_string(meta, "hook_name", hook, hcap, cfg) != 0));
    json_free(&root);
    return bad ? -1 : 0;
}

/* The layouts a folder may hold:
 *   DIR/sae_weights.safetensors + cfg.json   SAELens 6, any of its architectures
 *                                            (what the engine writes now; its tied SAE as "topk")
 *   DIR/sae.safetensors with encoder.weight  sparsify's TopK
 *   DIR/sae.safetensors with W_dec           the engine's older layout: the seed's tied SAE */
int eval_sae_load(EvalSAE *s, const char *dir) {
    memset(s, 0, sizeof *s);
    char *cur = path_join(dir, "sae_weights.safetensors"), *old = path_join(dir, "sae.safetensors");
    char *cfg = path_join(dir, "cfg.json");
    char model[64] = "gpt2", hook[128] = "blocks.6.mlp.hook_pre";
    int rc = -1, is_old = 0;
    if (!path_is_file(cur) && !path_is_file(old)) {
        err_set("%s: no sae_weights.safetensors here; give --sae the folder of a trained SAE (SAELens: "
                "sae_weights.safetensors + cfg.json; sparsify: sae.safetensors + cfg.json)", dir);
        goto done;
    }
    if (!path_is_file(cur)) { /* sae.safetensors: sparsify's, or the engine's older layout? */
        SafeTensors st;
        memset(&st, 0, sizeof st);
        if (safetensors_open(&st, old) != 0) goto done;
        is_old = safetensors_find(&st, "encoder.weight") == NULL;
        safetensors_close(&st);
    }
    if (path_is_file(cfg) && cfg_names(cfg, model, sizeof model, hook, sizeof hook) != 0) goto done;
    if (is_old) {
        SAE *sae = xmalloc(sizeof *sae);
        if (sae_load(sae, old) != 0) {
            free(sae);
            goto done;
        }
        eval_sae_wrap(s, sae, model, hook);
        s->owns_impl = 1;
    } else {
        SAEArch *m = xmalloc(sizeof *m);
        if (sae_arch_load(m, dir, &(SAEArchRequest){.any_arch = 1}) != 0) {
            free(m);
            goto done;
        }
        eval_sae_wrap_arch(s, m, model, hook);
        s->owns_impl = 2;
    }
    rc = 0;
done:
    free(cur);
    free(old);
    free(cfg);
    return rc;
}

void eval_sae_free(EvalSAE *s) {
    if (!s) return;
    if (s->owns_impl == 1 && s->impl) {
        sae_free(s->impl);
        free(s->impl);
    } else if (s->owns_impl == 2 && s->impl) {
        sae_arch_free(s->impl);
        free(s->impl);
    }
    memset(s, 0, sizeof *s);
}

/* The model name an SAE's cfg.json gives, as the engine names sizes:
 * TransformerLens' "gpt2-small" and Hugging Face's "openai-community/gpt2" are "gpt2". */
static const char *model_alias(const char *name) {
    if (!strncmp(name, "openai-community/", 17)) name += 17;
    return !strcmp(name, "gpt2-small") ? "gpt2" : name;
}

int eval_sae_check(const EvalSAE *s, const GPT2Model *m, int *layer, GPT2Site *site) {
    const GPT2Config *c = &m->cfg;
    int l = -1;
    GPT2Site st;
    if (gpt2_site_parse(s->hook, &l, &st) != 0) return err_prefix("the SAE's hook_name");
    if (l < 0) return err_set("the SAE's hook_name '%s' names no layer; use a TransformerLens name such as "
                              "blocks.6.mlp.hook_pre in its cfg.json", s->hook);
    if (l >= c->n_layer)
        return err_set("the SAE reads %s, but this model (%s) has layers 0..%d: it was trained on another model",
                       s->hook, c->name, c->n_layer - 1);
    if (s->model[0] && strcmp(c->name, "custom") != 0 && strcmp(model_alias(s->model), c->name) != 0)
        return err_set("the SAE was trained on %s, but the model is %s; give the matching --weights", s->model,
                       c->name);
    int w = gpt2_site_width(c, st);
    if (s->d_in != w)
        return err_set("the SAE's d_in is %d, but %s of this model (%s) is %d wide: it was trained on another model "
                       "or site", s->d_in, s->hook, c->name, w);
    *layer = l;
    *site = st;
    return 0;
}

/* ---- interventions ---- */

const char *eval_kind_name(EvalKind k) {
    static const char *const names[] = {"splice", "splice_err", "zero", "mean", "steer", "clamp"};
    return (unsigned)k < sizeof names / sizeof names[0] ? names[k] : "?";
}

EvalIntervention eval_intervention(EvalKind kind, const EvalSAE *sae) {
    EvalIntervention iv;
    memset(&iv, 0, sizeof iv);
    iv.kind = kind;
    iv.layer = -1;
    iv.site = GPT2_MLP_PRE;
    iv.sae = sae;
    return iv;
}

static int needs_sae(EvalKind k) { return k != EVAL_ZERO && k != EVAL_MEAN; }

int eval_intervention_add(GPT2Forward *f, EvalIntervention *iv) {
    const GPT2Model *m = f->m;
    if ((unsigned)iv->kind > EVAL_CLAMP) return err_set("intervention kind %d does not exist", (int)iv->kind);
    if (needs_sae(iv->kind) || (iv->sae && iv->layer < 0)) {
        if (!iv->sae) return err_set("the %s intervention needs an SAE", eval_kind_name(iv->kind));
        int l;
        GPT2Site s;
        if (eval_sae_check(iv->sae, m, &l, &s) != 0) return -1;
        if (iv->layer < 0) iv->layer = l, iv->site = s;
        else if (iv->layer != l || iv->site != s) {
            char want[64];
            gpt2_site_tl_name(want, sizeof want, iv->layer, iv->site);
            return err_set("the SAE reads %s, not %s: intervene where it was trained", iv->sae->hook, want);
        }
    }
    if (iv->layer < 0) return err_set("the %s intervention has no layer: set one", eval_kind_name(iv->kind));
    if (iv->kind == EVAL_MEAN && !iv->mean) return err_set("mean-ablation needs the mean activation");
    if (iv->kind == EVAL_STEER || iv->kind == EVAL_CLAMP) {
        if (iv->n_latents < 1 || !iv->latents)
            return err_set("the %s intervention names no latent", eval_kind_name(iv->kind));
        for (int j = 0; j < iv->n_latents; j++)
            if (iv->latents[j].latent < 0 || iv->latents[j].latent >= iv->sae->d_sae)
                return err_set("latent %d does not exist: the SAE has latents 0..%d", iv->latents[j].latent,
                               iv->sae->d_sae - 1);
    }
    return gpt2_forward_add_hook(f, iv->layer, iv->site, eval_intervene_hook, iv);
}

/* grow the scratch to T rows */
static void scratch(EvalIntervention *iv, long T) {
    if (T <= iv->rows) return;
    free(iv->f);
    free(iv->xhat);
    iv->f = xmalloc((size_t)T * iv->sae->d_sae * sizeof(float));
    iv->xhat = xmalloc((size_t)T * iv->sae->d_in * sizeof(float));
    iv->rows = T;
}

int eval_intervene(EvalIntervention *iv, float *act, long T, int width) {
    const EvalSAE *s = iv->sae;
    if (needs_sae(iv->kind) && (!s || s->d_in != width))
        return err_set("intervention at a site %d wide: the SAE's d_in is %d", width, s ? s->d_in : 0);
    size_t n = (size_t)T * width;
    switch (iv->kind) {
    case EVAL_ZERO:
        memset(act, 0, n * sizeof(float));
        return 0;
    case EVAL_MEAN:
        for (long t = 0; t < T; t++) memcpy(act + (size_t)t * width, iv->mean, (size_t)width * sizeof(float));
        return 0;
    case EVAL_STEER:
        /* x += Σ_j coef_j W_dec[i_j], every row */
        for (int j = 0; j < iv->n_latents; j++) {
            const float *wd = s->W_dec + (size_t)iv->latents[j].latent * width;
            float coef = iv->latents[j].value;
            for (long t = 0; t < T; t++)
                for (int i = 0; i < width; i++) act[(size_t)t * width + i] += coef * wd[i];
        }
        return 0;
    default:
        break;
    }
    scratch(iv, T);
    s->encode(s, act, T, iv->f); /* f (T, d_sae) */
    if (iv->kind == EVAL_CLAMP) {
        /* decode(f') + (x - decode(f)) = x + Σ_j (value_j - f_ij) W_dec[i_j]: the decoder is affine */
        for (long t = 0; t < T; t++)
            for (int j = 0; j < iv->n_latents; j++) {
                int i = iv->latents[j].latent;
                float delta = iv->latents[j].value - iv->f[(size_t)t * s->d_sae + i];
                const float *wd = s->W_dec + (size_t)i * width;
                float *x = act + (size_t)t * width;
                for (int c = 0; c < width; c++) x[c] += delta * wd[c];
            }
        return 0;
    }
    s->decode(s, iv->f, T, iv->xhat); /* x̂ (T, d_in) */
    if (iv->kind == EVAL_SPLICE)
        memcpy(act, iv->xhat, n * sizeof(float));
    else /* EVAL_SPLICE_ERR: x̂ + (x - x̂), the error term computed and added back */
        for (size_t i = 0; i < n; i++) {
            float err = act[i] - iv->xhat[i];
            act[i] = iv->xhat[i] + err;
        }
    return 0;
}

int eval_intervene_hook(void *user, const GPT2HookCtx *ctx, float *act) {
    return eval_intervene(user, act, ctx->T, ctx->width);
}

void eval_intervention_free(EvalIntervention *iv) {
    if (!iv) return;
    free(iv->f);
    free(iv->xhat);
    iv->f = iv->xhat = NULL;
    iv->rows = 0;
}
