/*
 * cli/generate_compare.c - ./run generate --compare: the same samples (same
 * seed, same sampler) made without and then with the interventions, each
 * streamed as it is made; then, per sample, each new token's activation of
 * one latent (o->latent_show) in both texts, on stdout and as two text
 * heatmaps (viz/plot.h, the pipeline's figures) on one page, o->html.
 *
 * The activation of a token is the SAE's latent at the intervention's site
 * when that token is run: in the steered text it is read after the
 * interventions (a steered latent shows its push), in the other without any.
 */
#include "cli/cli.h"
#include "cli/generate.h"
#include "cli/pipeline.h"
#include "core/util.h"
#include "viz/plot.h"
#include "viz/report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* a hook after the interventions: the latent of every row into acts (at ctx.t0 + row) */
typedef struct {
    const EvalSAE *sae;
    int latent;
    float *acts; /* (T) */
} LatentProbe;

static int latent_probe(void *user, const GPT2HookCtx *c, float *act) {
    LatentProbe *p = user;
    float *F = xmalloc((size_t)c->T * p->sae->d_sae * sizeof(float)); /* (T, d_sae) */
    p->sae->encode(p->sae, act, c->T, F);
    for (int t = 0; t < c->T; t++) p->acts[c->t0 + t] = F[(long)t * p->sae->d_sae + p->latent];
    free(F);
    return 0;
}

/* acts (T) = the latent at every token of ids (T), with the interventions when steered. */
static int latent_acts(GenRun *R, const int32_t *ids, int T, int steered, float *acts) {
    GPT2Forward f;
    gpt2_forward_init(&f, &R->m);
    int layer;
    GPT2Site site;
    int rc = eval_sae_check(&R->sae, &R->m, &layer, &site);
    if (rc == 0 && steered) rc = generate_add_interventions(R, &f);
    if (rc == 0 && steered && R->n_iv) layer = R->iv[0].layer, site = R->iv[0].site;
    LatentProbe p = {&R->sae, R->o->latent_show, acts};
    if (rc == 0) rc = gpt2_forward_add_hook(&f, layer, site, latent_probe, &p);
    if (rc == 0) rc = gpt2_forward(&f, ids, T, NULL); /* stops after the probe */
    gpt2_forward_free(&f);
    return rc;
}

/* "--steer 12:8 --ablate 5 --splice" */
static void describe(const GenOpts *o, char *buf, size_t cap) {
    size_t n = 0;
    buf[0] = 0;
    for (int i = 0; i < o->n_clamp && n < cap; i++)
        n += (size_t)(o->clamp[i].value == 0.0f
                          ? snprintf(buf + n, cap - n, "%s--ablate %d", n ? " " : "", o->clamp[i].latent)
                          : snprintf(buf + n, cap - n, "%s--clamp %d=%g", n ? " " : "", o->clamp[i].latent,
                                     (double)o->clamp[i].value));
    if (o->splice && n < cap) n += (size_t)snprintf(buf + n, cap - n, "%s--splice", n ? " " : "");
    for (int i = 0; i < o->n_steer && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s--steer %d:%g", n ? " " : "", o->steer[i].latent,
                              (double)o->steer[i].value);
}

int generate_compare(GenRun *R) {
    const GenOpts *o = R->o;
    char what[512], label[600];
    describe(o, what, sizeof what);
    GPT2Generation g[2];
    memset(g, 0, sizeof g);
    int rc = 0;
    /* the two generations, from the same seed */
    for (int v = 0; v < 2 && rc == 0; v++) {
        GPT2Forward f;
        gpt2_forward_init(&f, &R->m);
        snprintf(label, sizeof label, v ? "with %s" : "without interventions", what);
        rc = v ? generate_add_interventions(R, &f) : 0;
        if (rc == 0) rc = generate_run(R, &f, label, &g[v]);
        gpt2_forward_free(&f);
    }
    Report rep;
    report_init(&rep, "generate --compare", R->m.cfg.random ? RANDOM_LABEL : NULL);
    report_section(&rep, "Settings");
    report_kv(&rep, "weights", R->wpath);
    report_kvf(&rep, "SAE", "%s (%s, %d latents)", o->sae_dir, R->sae.hook, R->sae.d_sae);
    report_kv(&rep, "interventions", what);
    report_kvf(&rep, "latent shown", "%d", o->latent_show);
    report_kvf(&rep, "sampling", "seed %llu, temperature %g, top-k %d, top-p %g, frequency penalty %g%s",
               (unsigned long long)o->gp.seed, (double)o->gp.sampler.temperature, o->gp.sampler.top_k,
               (double)o->gp.sampler.top_p, (double)o->gp.sampler.freq_penalty, o->gp.sampler.greedy ? ", greedy" : "");
    report_kv(&rep, "prompt", R->text);
    int P = (int)R->ids.n, nsvg = 0;
    for (int s = 0; s < o->gp.n_samples && rc == 0; s++) {
        char sec[64];
        snprintf(sec, sizeof sec, "Sample %d of %d", s + 1, o->gp.n_samples);
        report_section(&rep, sec);
        for (int v = 0; v < 2 && rc == 0; v++) {
            /* the text (prompt + new tokens) and the latent at each of its tokens */
            int T = P + g[v].n[s];
            int32_t *ids = xmalloc((size_t)T * sizeof *ids);
            memcpy(ids, R->ids.ids, (size_t)P * sizeof *ids);
            memcpy(ids + P, g[v].tokens[s], (size_t)g[v].n[s] * sizeof *ids);
            float *acts = xcalloc((size_t)T, sizeof *acts);
            rc = latent_acts(R, ids, T, v, acts);
            if (rc == 0) {
                /* on stdout: the new tokens with the latent's value */
                printf("--- sample %d, %s: latent %d at each new token ---\n", s + 1,
                       v ? what : "without interventions", o->latent_show);
                for (int t = P; t < T; t++) {
                    char vis[64];
                    bpe_token_visible(&R->bpe, ids[t], vis, sizeof vis);
                    printf("%s%s=%.3g", t > P ? " " : "", vis, (double)acts[t]);
                }
                printf("\n");
                /* on the page: the whole text as a heatmap */
                const char **toks = xmalloc((size_t)T * sizeof *toks);
                int *lens = xmalloc((size_t)T * sizeof *lens);
                for (int t = 0; t < T; t++) {
                    size_t n = 0;
                    toks[t] = bpe_token_bytes(&R->bpe, ids[t], &n);
                    lens[t] = (int)n;
                }
                char title[640], idp[16];
                snprintf(title, sizeof title, "Latent %d, %s (the prompt's %d tokens, then %d new)", o->latent_show,
                         v ? what : "without interventions", P, g[v].n[s]);
                snprintf(idp, sizeof idp, "g%d_", nsvg++);
                SVG svg;
                textheat_render(&svg, toks, lens, acts, T, 0, T, title, R->m.cfg.random ? RANDOM_LABEL : NULL, idp);
                report_figure(&rep, v ? "with the interventions" : "without", svg.buf);
                svg_free(&svg);
                free(toks);
                free(lens);
            }
            free(ids);
            free(acts);
        }
    }
    fflush(stdout);
    if (rc == 0) {
        rc = report_save(&rep, o->html);
        if (rc == 0) fprintf(stderr, "generate: wrote %s\n", o->html);
    }
    report_free(&rep);
    gpt2_generation_free(&g[0]);
    gpt2_generation_free(&g[1]);
    return rc;
}
