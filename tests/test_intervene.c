/*
 * tests/test_intervene.c - eval/intervene.h's interventions as forward-pass
 * hooks, and gpt2_forward_resume, on a random GPT-2 (tests/hash_model.h)
 * with a random SAE:
 *   - the reconstruction plus the error term gives the clean logits back;
 *   - clamping a latent to 0 through the SAE (error kept) moves the
 *     activation by exactly -f_i W_dec[i] (and equals the literal
 *     decode(f') + (x - decode(f)));
 *   - steering adds coef * W_dec[i]; zero- and mean-ablation write 0 / the mean;
 *   - resuming after each of the 7 sites equals a full pass with the same
 *     intervention as a hook;
 *   - SAEs that do not fit the model are refused.
 */
#include "eval/intervene.h"
#include "tests/hash_model.h"
#include "tests/test.h"

#include <stdlib.h>
#include <string.h>

typedef struct { float *out; float *resid; GPT2Forward *f; int C; } Grab;

/* a hook that copies the activation (and the residual stream) it sees */
static int grab_hook(void *user, const GPT2HookCtx *c, float *act) {
    Grab *g = user;
    memcpy(g->out + (size_t)c->t0 * c->width, act, (size_t)c->T * c->width * sizeof(float));
    if (g->resid) memcpy(g->resid + (size_t)c->t0 * g->C, g->f->x, (size_t)c->T * g->C * sizeof(float));
    return 0;
}

int main(void) {
    const int L = 2, NH = 3, C = 24, V = 50, NCTX = 16, T = 21;
    GPT2Model m;
    float *store = hash_model(&m, L, NH, C, V, NCTX, 0.125f);
    int32_t ids[21];
    for (int t = 0; t < T; t++) ids[t] = (7 * t + 3) % V;
    const int d = 4 * C, layer = 1;
    char hook[64];
    gpt2_site_tl_name(hook, sizeof hook, layer, GPT2_MLP_PRE);
    SAEParams p = sae_default_params();
    p.latents = 2 * d;
    p.k = 12;
    p.seed = 5;
    SAE sae;
    if (sae_init(&sae, d, &p) != 0) {
        CHECK(0, "sae_init: %s", err_get());
        return test_finish();
    }
    EvalSAE es;
    eval_sae_wrap(&es, &sae, m.cfg.name, hook);

    GPT2Forward f;
    gpt2_forward_init(&f, &m);
    float *clean = xmalloc(sizeof(float) * T * V), *lg = xmalloc(sizeof(float) * T * V);
    float *x = xmalloc(sizeof(float) * T * d), *y = xmalloc(sizeof(float) * T * d);
    Grab g = {x, NULL, &f, C};
    gpt2_forward_add_hook(&f, layer, GPT2_MLP_PRE, grab_hook, &g);
    CHECK(gpt2_forward(&f, ids, T, clean) == 0, "clean pass (T = %d, two windows of n_ctx %d)", T, NCTX);
    gpt2_forward_clear_hooks(&f);

    /* the error-term splice returns the clean logits */
    EvalIntervention iv = eval_intervention(EVAL_SPLICE_ERR, &es);
    CHECK(eval_intervention_add(&f, &iv) == 0, "splice_err registers at %s", es.hook);
    gpt2_forward(&f, ids, T, lg);
    check_close("splice + error term vs clean logits", lg, clean, (long)T * V, 1e-5f, 1e-5f);
    gpt2_forward_clear_hooks(&f);

    /* the plain splice changes them (the random SAE reconstructs badly) */
    EvalIntervention sp = eval_intervention(EVAL_SPLICE, &es);
    eval_intervention_add(&f, &sp);
    gpt2_forward(&f, ids, T, lg);
    double maxd = 0;
    for (long i = 0; i < (long)T * V; i++) maxd = fmax(maxd, fabs(lg[i] - clean[i]));
    CHECK(maxd > 1e-3, "splice without the error term changes the logits (max |diff| %.3g)", maxd);
    gpt2_forward_clear_hooks(&f);

    /* clamp (ablate) latent i through the SAE with the error term kept */
    float *F = xmalloc(sizeof(float) * T * sae.L);
    sae_encode(&sae, x, T, F);
    int lat = -1, best = 0;
    for (int i = 0; i < sae.L; i++) {
        int n = 0;
        for (int t = 0; t < T; t++) n += F[(size_t)t * sae.L + i] != 0;
        if (n > best) best = n, lat = i;
    }
    EvalLatent ab[] = {{lat, 0.0f}};
    EvalIntervention cl = eval_intervention(EVAL_CLAMP, &es);
    cl.latents = ab;
    cl.n_latents = 1;
    eval_intervention_add(&f, &cl);
    Grab g2 = {y, NULL, &f, C};
    gpt2_forward_add_hook(&f, layer, GPT2_MLP_PRE, grab_hook, &g2); /* runs after the clamp */
    gpt2_forward(&f, ids, T, lg);
    gpt2_forward_clear_hooks(&f);
    float *want = xmalloc(sizeof(float) * T * d), *got = xmalloc(sizeof(float) * T * d);
    for (int t = 0; t < T; t++)
        for (int c = 0; c < d; c++) {
            got[(size_t)t * d + c] = y[(size_t)t * d + c] - x[(size_t)t * d + c];
            want[(size_t)t * d + c] = -F[(size_t)t * sae.L + lat] * sae.W[(size_t)lat * d + c];
        }
    check_close("ablating latent: act - clean == -f_i W_dec[i]", got, want, (long)T * d, 1e-5f, 1e-5f);
    /* the literal route: decode(f with f_i = 0) + (x - decode(f)) */
    float *xh = xmalloc(sizeof(float) * T * d), *xh2 = xmalloc(sizeof(float) * T * d);
    sae_decode(&sae, F, T, xh);
    for (int t = 0; t < T; t++) F[(size_t)t * sae.L + lat] = 0;
    sae_decode(&sae, F, T, xh2);
    for (long i = 0; i < (long)T * d; i++) want[i] = xh2[i] + (x[i] - xh[i]);
    check_close("ablating latent == decode(f') + (x - decode(f))", y, want, (long)T * d, 1e-5f, 1e-5f);
    CHECK(best > 0, "latent %d is active on %d of %d tokens", lat, best, T);

    /* steering adds coef * W_dec[i] (two latents) */
    EvalLatent add[] = {{3, 2.5f}, {7, -1.0f}};
    EvalIntervention stv = eval_intervention(EVAL_STEER, &es);
    stv.latents = add;
    stv.n_latents = 2;
    eval_intervention_add(&f, &stv);
    gpt2_forward_add_hook(&f, layer, GPT2_MLP_PRE, grab_hook, &g2);
    gpt2_forward(&f, ids, T, lg);
    gpt2_forward_clear_hooks(&f);
    for (int t = 0; t < T; t++)
        for (int c = 0; c < d; c++) {
            got[(size_t)t * d + c] = y[(size_t)t * d + c] - x[(size_t)t * d + c];
            want[(size_t)t * d + c] = 2.5f * sae.W[(size_t)3 * d + c] - sae.W[(size_t)7 * d + c];
        }
    check_close("steering: act - clean == 2.5 W_dec[3] - W_dec[7]", got, want, (long)T * d, 1e-6f, 1e-5f);

    /* zero and mean ablation */
    float *mean = xmalloc(sizeof(float) * d);
    for (int c = 0; c < d; c++) mean[c] = 0.01f * (float)c - 0.3f;
    EvalIntervention z = eval_intervention(EVAL_ZERO, NULL), mn = eval_intervention(EVAL_MEAN, NULL);
    z.layer = mn.layer = layer;
    z.site = mn.site = GPT2_MLP_PRE;
    mn.mean = mean;
    eval_intervention_add(&f, &z);
    gpt2_forward_add_hook(&f, layer, GPT2_MLP_PRE, grab_hook, &g2);
    gpt2_forward(&f, ids, T, lg);
    gpt2_forward_clear_hooks(&f);
    int zero_ok = 1;
    for (long i = 0; i < (long)T * d; i++) zero_ok &= y[i] == 0.0f;
    CHECK(zero_ok, "zero-ablation writes zeros");
    eval_intervention_add(&f, &mn);
    gpt2_forward_add_hook(&f, layer, GPT2_MLP_PRE, grab_hook, &g2);
    gpt2_forward(&f, ids, T, lg);
    gpt2_forward_clear_hooks(&f);
    int mean_ok = 1;
    for (long i = 0; i < (long)T * d; i++) mean_ok &= y[i] == mean[i % d];
    CHECK(mean_ok, "mean-ablation writes the mean in every row");

    /* resume after each site == a full pass with the intervention as a hook (one window) */
    const int Tw = 13;
    for (int s = 0; s < GPT2_NSITES; s++) {
        for (int l = 0; l < L; l++) {
            int w = gpt2_site_width(&m.cfg, (GPT2Site)s);
            float *a = xmalloc(sizeof(float) * Tw * w), *r = xmalloc(sizeof(float) * Tw * C);
            float *full = xmalloc(sizeof(float) * Tw * V), *res = xmalloc(sizeof(float) * Tw * V);
            float *mu = xmalloc(sizeof(float) * w);
            for (int c = 0; c < w; c++) mu[c] = 0.02f * (float)(c % 7) - 0.05f;
            EvalIntervention mi = eval_intervention(EVAL_MEAN, NULL);
            mi.layer = l, mi.site = (GPT2Site)s, mi.mean = mu;
            eval_intervention_add(&f, &mi);
            gpt2_forward(&f, ids, Tw, full);
            gpt2_forward_clear_hooks(&f);
            Grab gr = {a, r, &f, C};
            gpt2_forward_add_hook(&f, l, (GPT2Site)s, grab_hook, &gr);
            gpt2_forward(&f, ids, Tw, lg);
            gpt2_forward_clear_hooks(&f);
            eval_intervene(&mi, a, Tw, w);
            int rc = gpt2_forward_resume(&f, l, (GPT2Site)s, r, a, Tw, res);
            char name[96];
            snprintf(name, sizeof name, "resume after layer %d %s == full pass with mean-ablation there", l,
                     gpt2_site_name((GPT2Site)s));
            CHECK(rc == 0, "%s: resume returns 0", name);
            check_close(name, res, full, (long)Tw * V, 1e-6f, 1e-5f);
            free(a), free(r), free(full), free(res), free(mu);
        }
    }

    /* refusals */
    EvalSAE bad = es;
    int bl;
    GPT2Site bs;
    snprintf(bad.hook, sizeof bad.hook, "blocks.1.hook_resid_pre");
    CHECK(eval_sae_check(&bad, &m, &bl, &bs) != 0 && strstr(err_get(), "d_in"), "d_in 96 at resid_pre (24): %s",
          err_get());
    snprintf(bad.hook, sizeof bad.hook, "blocks.5.mlp.hook_pre");
    CHECK(eval_sae_check(&bad, &m, &bl, &bs) != 0 && strstr(err_get(), "layers 0..1"), "layer 5 of 2: %s",
          err_get());
    snprintf(bad.hook, sizeof bad.hook, "blocks.1.mlp.hook_middle");
    CHECK(eval_sae_check(&bad, &m, &bl, &bs) != 0 && strstr(err_get(), "unknown site"), "unknown site: %s",
          err_get());
    bad = es;
    snprintf(bad.model, sizeof bad.model, "gpt2-medium");
    CHECK(eval_sae_check(&bad, &m, &bl, &bs) != 0 && strstr(err_get(), "gpt2-medium"), "another model: %s",
          err_get());
    /* TransformerLens' and Hugging Face's names of GPT-2 small are GPT-2 small */
    char saved[32];
    memcpy(saved, m.cfg.name, sizeof saved);
    snprintf(m.cfg.name, sizeof m.cfg.name, "gpt2");
    snprintf(bad.model, sizeof bad.model, "gpt2-small");
    int a1 = eval_sae_check(&bad, &m, &bl, &bs);
    snprintf(bad.model, sizeof bad.model, "openai-community/gpt2");
    int a2 = eval_sae_check(&bad, &m, &bl, &bs);
    snprintf(bad.model, sizeof bad.model, "gpt2-large");
    int a3 = eval_sae_check(&bad, &m, &bl, &bs);
    memcpy(m.cfg.name, saved, sizeof saved);
    CHECK(a1 == 0 && a2 == 0 && a3 != 0, "an SAE of gpt2-small / openai-community/gpt2 fits gpt2; one of gpt2-large does not");
    EvalIntervention cl2 = eval_intervention(EVAL_CLAMP, &es);
    EvalLatent far[] = {{sae.L, 1.0f}};
    cl2.latents = far, cl2.n_latents = 1;
    CHECK(eval_intervention_add(&f, &cl2) != 0 && f.n_hooks == 0, "latent out of range: %s", err_get());

    eval_intervention_free(&iv), eval_intervention_free(&sp), eval_intervention_free(&cl);
    eval_intervention_free(&stv);
    gpt2_forward_free(&f);
    sae_free(&sae);
    free(clean), free(lg), free(x), free(y), free(F), free(want), free(got), free(xh), free(xh2), free(mean);
    free(m.w.h), free(store);
    return test_finish();
}
