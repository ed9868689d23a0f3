/*
 * cli/pipeline_out.c - the last stage of `./run FILE...`: every output file,
 * written into the staging folder that cmd_pipeline.c swaps into place
 * (latents.npy and activations.npy are already there), one function each:
 *   the report's text sections, the figures (SVG, each also inlined in the
 *   report), the tables of top latents with their text heatmaps,
 *   sae_weights.safetensors + cfg.json + sparsity.safetensors and losses.csv, summary.json, report.html
 *   (with a link to the feature browser features/index.html when the run made one).
 */
#include "cli/pipeline.h"
#include "sae/arch_io.h"
#include "core/json.h"
#include "core/pool.h"
#include "core/util.h"
#include "eval/report.h"
#include "viz/figures.h"
#include "viz/plot.h"
#include "viz/report.h"
#include "weights/npy.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A latent's top tokens: up to 5 distinct token ids where it is largest,
 * "␣Hungary 0.31, ␣Austria 0.29" (visible spaces). */
static void top_tokens(char *out, size_t cap, const BPE *bpe, const int32_t *ids, const float *Z, long T, int L,
                       int j) {
    int best[5];
    int nb = 0;
    out[0] = 0;
    for (int round = 0; round < 5; round++) {
        long arg = -1;
        for (long t = 0; t < T; t++) {
            float v = Z[t * L + j];
            if (v <= 0) continue;
            int dup = 0;
            for (int q = 0; q < nb; q++) dup |= ids[best[q]] == ids[t];
            if (dup) continue;
            if (arg < 0 || v > Z[arg * L + j]) arg = t;
        }
        if (arg < 0) break;
        best[nb++] = (int)arg;
    }
    size_t o = 0;
    for (int q = 0; q < nb && o + 64 < cap; q++) {
        char vis[48];
        bpe_token_visible(bpe, ids[best[q]], vis, sizeof vis);
        o += (size_t)snprintf(out + o, cap - o, "%s%s %.3g", q ? ", " : "", vis, (double)Z[(long)best[q] * L + j]);
    }
    if (nb == 0) snprintf(out, cap, "(never active)");
}

/* What the writers share. */
typedef struct {
    const Pipeline *P;
    const char **toks;      /* (T) token bytes, borrowed from the BPE */
    int *tok_lens;          /* (T) */
    const float *Z;         /* (T, L) the latents, mapped from latents.npy */
    int L;
    char hook[96];          /* the TransformerLens name of the captured site */
    char weights[4096];     /* the weights' path as shown (shown_weights) */
    const int *draw;        /* (n_draw) the latents whose heatmaps are drawn */
    int n_draw;
    int seed_pick[2];       /* the seed's picks, when no --latents */
    int seed_rank[2];       /* their places in the rankings (0-based: 30 and 9, fewer for a small L) */
    Report rep;
    int n_svg;              /* ids for inlined SVGs */
} Out;

static int save_svg(Out *w, const SVG *s, const char *name) {
    char *p = path_join(w->P->txn.tmp, name);
    int rc = svg_save(s, p);
    free(p);
    return rc;
}

/* Render the text heatmap of latent j (a window of at most 400 tokens around
 * its largest activation), into s. */
static void heat_svg(Out *w, SVG *s, int j) {
    const long T = w->P->T;
    float *col = xmalloc(sizeof(float) * T);   /* (T) latent j */
    for (long t = 0; t < T; t++) col[t] = w->Z[t * w->L + j];
    int first, count;
    textheat_window(col, (int)T, 400, &first, &count);
    char title[160], idp[16];
    if (count < T)
        snprintf(title, sizeof title, "Latent component %d (tokens %d-%d of %ld)", j, first, first + count - 1, T);
    else
        snprintf(title, sizeof title, "Latent component %d", j);
    snprintf(idp, sizeof idp, "s%d_", w->n_svg++);
    textheat_render(s, w->toks, w->tok_lens, col, (int)T, first, count, title, w->P->label, idp);
    free(col);
}

/* "1st", "2nd", "3rd", "11th", "31st" ... into buf[24]. */
static const char *ordinal(int n, char *buf) {
    int t = n % 100, u = n % 10;
    const char *suf = (t >= 11 && t <= 13) ? "th" : u == 1 ? "st" : u == 2 ? "nd" : u == 3 ? "rd" : "th";
    snprintf(buf, 24, "%d%s", n, suf);
    return buf;
}

static int write_figure(Out *w, SVG *s, const char *file, const char *caption) {
    int rc = save_svg(w, s, file);
    if (rc == 0) report_figure(&w->rep, caption, s->buf);
    svg_free(s);
    return rc;
}

/* If path is under the folder named by environment variable var (its value
 * v), write "<shown>/<rest>" into buf and return 1. */
static int under(char *buf, size_t cap, const char *path, const char *var, const char *shown) {
    const char *v = getenv(var);
    size_t n = v ? strlen(v) : 0;
    while (n > 1 && v[n - 1] == '/') n--;
    if (n == 0 || strncmp(path, v, n) != 0 || path[n] != '/') return 0;
    snprintf(buf, cap, "%s%s", shown, path + n);
    return 1;
}

/* The weights' path as shown in the report and summary.json: relative to the
 * cache ($GPT2SAE_CACHE/..., $XDG_CACHE_HOME/...) or the home folder (~/...),
 * so that it carries no user name. */
static void shown_weights_init(Out *w) {
    const char *p = w->P->wpath;
    if (!under(w->weights, sizeof w->weights, p, "GPT2SAE_CACHE", "$GPT2SAE_CACHE") &&
        !under(w->weights, sizeof w->weights, p, "XDG_CACHE_HOME", "$XDG_CACHE_HOME") &&
        !under(w->weights, sizeof w->weights, p, "HOME", "~"))
        snprintf(w->weights, sizeof w->weights, "%s", p);
}

static const char *shown_weights(const Out *w) { return w->weights; }

/* ---- the report's text: inputs, parameters, summary ---------------------------- */

static void out_sections(Out *w) {
    const Pipeline *P = w->P;
    const PipelineOpts *o = P->o;
    const GPT2Config *c = &P->m.cfg;
    const SAEParams *p = &P->p;
    const SAEStats *st = &P->st;
    Report *rep = &w->rep;
    const int n = P->n_in, L = w->L, E = P->res.epochs_done;

    report_section(rep, "Inputs");
    for (int i = 0; i < n && i < 50; i++)
        report_kvf(rep, i ? "" : (n > 1 ? "files" : "file"), "%s (%zu bytes, %d tokens)", P->in[i].path,
                   P->in[i].len, P->in[i].T);
    if (n > 50) report_kvf(rep, "", "... and %d more files", n - 50);
    report_kvf(rep, "corpus", "%d text%s, %zu bytes, %ld tokens", n, n > 1 ? "s" : "", P->total_bytes, P->T);
    report_kvf(rep, "weights", "%s%s", shown_weights(w), P->label ? "  (" RANDOM_LABEL ")" : "");
    report_kvf(rep, "model", "%s: %d layers, %d heads, width %d, context %d", c->name, c->n_layer, c->n_head,
               c->n_embd, c->n_ctx);
    report_kvf(rep, "captured", "layer %d, %s (%s): %ld x %d", P->layer, gpt2_site_name(P->site), w->hook, P->T,
               P->d);

    report_section(rep, "Parameters");
    if (P->use_ext) {   /* --arch or --sae: sae/arch.h's model (or an older folder of the seed's) */
        const SAEArch *m = P->ext.owns_impl == 2 ? P->ext.impl : NULL;
        report_kvf(rep, "autoencoder", "%s, %d latents on width %d%s%s", m ? sae_arch_name(m->p.arch) : "seed's tied top-k",
                   L, P->d, o->sae_dir ? ", trained elsewhere: " : ", trained here (untied)",
                   o->sae_dir ? o->sae_dir : "");
    } else {
    report_kvf(rep, "autoencoder", "tied weights W (%d x %d), ReLU, top-k with k = %d, no biases", L, P->d,
               P->sae.k);
    report_kvf(rep, "loss", "MSE + %g * mean|z| + %g * sum of squared off-diagonal covariances of z",
               (double)p->sparsity_weight, (double)p->decor_weight);
    }
    report_kvf(rep, "optimiser", "Adam, lr %g, betas (%g, %g), %d epochs, %s", (double)p->lr, (double)p->beta1,
               (double)p->beta2, p->epochs, p->batch ? "shuffled minibatches" : "full batch, as the notebook");
    if (p->batch) report_kvf(rep, "minibatch", "%d tokens", p->batch);
    report_kvf(rep, "seed", "%llu", (unsigned long long)o->seed);
    if (P->use_cuda) report_kv(rep, "device", "cuda");
    else report_kvf(rep, "device", "cpu, %d threads (%s)", pool_threads(), cpu_simd_level());
    char words[1024];
    size_t q = 0;
    words[0] = 0;
    for (int i = 0; i < o->n_words && q + 40 < sizeof words; i++)
        q += (size_t)snprintf(words + q, sizeof words - q, "%s%s", i ? ", " : "", o->words[i]);
    report_kvf(rep, "word category", "%s: %s (%d matching tokens)", o->category, words, st->n_target);

    report_section(rep, "Summary");
    const SAELosses *fl = E ? &P->res.losses[E - 1] : NULL;
    report_kvf(rep, "tokens", "%ld", P->T);
    if (fl)
        report_kvf(rep, "final loss", "%.6g (reconstruction %.6g, sparsity %.6g, decorrelation %.6g)", fl->total,
                   fl->mse, fl->sparsity, fl->decor);
    report_kvf(rep, "density", "%.2f%% of latents are ever active (%d dead of %d)", 100.0 * (L - st->dead) / L,
               st->dead, L);
    report_kvf(rep, "variance explained", "%.2f%%", 100 * st->fve);
    report_kvf(rep, "L0", "%.1f latents active per token on average (k = %d)", st->mean_l0, P->sae.k);
}

/* ---- the figures ---------------------------------------------------------------- */

static int out_figures(Out *w) {
    const Pipeline *P = w->P;
    const PipelineOpts *o = P->o;
    const SAEStats *st = &P->st;
    const int L = w->L, E = P->res.epochs_done;
    report_section(&w->rep, "Figures");
    float *losses = xmalloc(sizeof(float) * 3 * (E ? E : 1));   /* (E, 3) total, sparsity, decorrelation */
    for (int e = 0; e < E; e++) {
        losses[3 * e + 0] = (float)P->res.losses[e].total;
        losses[3 * e + 1] = (float)P->res.losses[e].sparsity;
        losses[3 * e + 2] = (float)P->res.losses[e].decor;
    }
    SVG s;
    char idp[16];
    snprintf(idp, sizeof idp, "s%d_", w->n_svg++);
    figure_losses(&s, losses, E, P->label, idp);
    free(losses);
    if (write_figure(w, &s, "losses.svg", "Loss per epoch: total, sparsity, decorrelation") != 0) return -1;
    snprintf(idp, sizeof idp, "s%d_", w->n_svg++);
    figure_latents(&s, w->Z, (int)P->T, L, P->label, idp);
    if (write_figure(w, &s, "latents.svg", "Latent activations (tokens x latents), vmin 0, vmax 0.1") != 0) return -1;
    snprintf(idp, sizeof idp, "s%d_", w->n_svg++);
    figure_density(&s, st->density, st->mean_act, L, P->label, idp);
    if (write_figure(w, &s, "density.svg", "Density per latent, nonzero activation per latent, and one against "
                                           "the other (dead latents are counted under the panels)") != 0)
        return -1;
    char stitle[160];
    snprintf(stitle, sizeof stitle, "%s token activation score", o->category);
    snprintf(idp, sizeof idp, "s%d_", w->n_svg++);
    figure_score(&s, st->score, L, stitle, P->label, idp);
    if (write_figure(w, &s, "score.svg", "Word-category score: mean nonzero activation on the category's "
                                         "tokens over that on the others") != 0)
        return -1;

    /* the text heatmaps the seed draws: sortByActivity[30], sortByGeoscore[9] (or --latents) */
    for (int i = 0; i < w->n_draw; i++) {
        int j = w->draw[i]; /* checked against L before the capture */
        char file[48], cap[300], nth[24];
        snprintf(file, sizeof file, "heat_%d.svg", j);
        if (o->n_draw) snprintf(cap, sizeof cap, "Text heatmap of latent %d", j);
        else if (i == 0)   /* the notebook's sortByActivity[30] */
            snprintf(cap, sizeof cap, "Text heatmap of latent %d: the latent with the %s-highest mean nonzero "
                     "activation", j, ordinal(w->seed_rank[0] + 1, nth));
        else               /* the notebook's sortByGeoscore[9] */
            snprintf(cap, sizeof cap, "Text heatmap of latent %d: the latent with the %s-highest %s word score", j,
                     ordinal(w->seed_rank[1] + 1, nth), o->category);
        heat_svg(w, &s, j);
        if (write_figure(w, &s, file, cap) != 0) return -1;
    }
    return 0;
}

/* ---- the tables of top latents ---------------------------------------------------- */

/* A table of the top latents by one ranking, each row followed by its heatmap. */
static void latent_table(Out *w, const char *caption, const int *order) {
    const Pipeline *P = w->P;
    const SAEStats *st = &P->st;
    const char *head[] = {"rank", "latent", "density %", "mean nonzero act.", "word score", "top tokens"};
    const int num[] = {1, 1, 1, 1, 1, 0};
    report_table_begin(&w->rep, caption, 6, head);
    for (int r = 0; r < P->o->top && r < w->L; r++) {
        int j = order[r];
        char c0[16], c1[16], c2[32], c3[32], c4[32], c5[512];
        snprintf(c0, sizeof c0, "%d", r + 1);
        snprintf(c1, sizeof c1, "%d", j);
        snprintf(c2, sizeof c2, "%.2f", (double)st->density[j]);
        snprintf(c3, sizeof c3, "%.4g", (double)st->mean_act[j]);
        snprintf(c4, sizeof c4, "%.4g", (double)st->score[j]);
        top_tokens(c5, sizeof c5, &P->bpe, P->ids.ids, w->Z, P->T, w->L, j);
        const char *cells[] = {c0, c1, c2, c3, c4, c5};
        report_table_row(&w->rep, cells, num);
        SVG s;
        heat_svg(w, &s, j);
        report_table_wide_row(&w->rep, s.buf, 6);
        svg_free(&s);
    }
    report_table_end(&w->rep);
}

static void out_tables(Out *w) {
    const SAEStats *st = &w->P->st;
    report_section(&w->rep, "Top latents");
    latent_table(w, "By mean nonzero activation", st->by_activation);
    latent_table(w, "By density", st->by_density);
    char cap[160];
    snprintf(cap, sizeof cap, "By %s word-category score", w->P->o->category);
    latent_table(w, cap, st->by_score);
}

/* ---- the checkpoint and the losses ------------------------------------------------- */

static int out_checkpoint(Out *w) {
    const Pipeline *P = w->P;
    /* SAELens 6's folder: the tied SAE as a "topk" (sae_weights.safetensors, cfg.json) and sparsity.safetensors */
    SAEArchMeta meta = {P->m.cfg.name, w->hook, P->T < P->m.cfg.n_ctx ? (int)P->T : P->m.cfg.n_ctx,
                        P->n_in > 0 ? P->in[0].path : ""};
    int rc;
    if (!P->use_ext) rc = sae_tied_save_saelens(P->sae.W, P->sae.L, P->sae.d, P->sae.k, P->txn.tmp, &meta);
    else if (P->ext.owns_impl == 2) rc = sae_arch_save_saelens(P->ext.impl, P->txn.tmp, &meta, NULL); /* --arch, --sae */
    else {   /* --sae with the engine's older layout: the seed's tied SAE */
        const SAE *s = P->ext.impl;
        rc = sae_tied_save_saelens(s->W, s->L, s->d, s->k, P->txn.tmp, &meta);
    }
    if (rc != 0 || sae_save_sparsity(P->txn.tmp, P->st.density, P->sae.L) != 0) return -1;
    char *path = path_join(P->txn.tmp, "losses.csv");
    rc = sae_save_losses(&P->res, path);
    free(path);
    return rc;
}

/* The run wrote a feature browser (cmd_pipeline.c's stage 7c). */
static int has_browser(const Out *w) {
    char *p = path_join(w->P->txn.tmp, "features/index.html");
    int ok = path_is_file(p);
    free(p);
    return ok;
}

/* ---- summary.json ------------------------------------------------------------------- */

static void json_int_array(FILE *f, const int *a, int n) {
    fprintf(f, "[");
    for (int i = 0; i < n; i++) fprintf(f, "%s%d", i ? ", " : "", a[i]);
    fprintf(f, "]");
}

/* JSON has no NaN/Inf: write null for them. */
static void json_num(FILE *f, double v) {
    if (isfinite(v)) fprintf(f, "%.9g", v);
    else fprintf(f, "null");
}

const char *const pipeline_stage_names[PIPELINE_NSTAGES] = {"tokenize", "weights", "capture", "train",
                                                             "scores",   "eval",    "browser", "outputs"};

/* ',\n  "NAME": {"tokenize": S, ...}': each stage's own seconds, from the marks
 * at[] (seconds since the run began at the end of each stage) */
static void json_stage_times(FILE *f, const char *name, const double *at) {
    fprintf(f, ",\n  \"%s\": {", name);
    for (int s = 0; s < PIPELINE_NSTAGES; s++)
        fprintf(f, "%s\"%s\": %.3f", s ? ", " : "", pipeline_stage_names[s], at[s] - (s ? at[s - 1] : 0));
    fprintf(f, "}");
}

static int out_summary(Out *w) {
    const Pipeline *P = w->P;
    const PipelineOpts *o = P->o;
    const SAEStats *st = &P->st;
    const int L = w->L, E = P->res.epochs_done;
    const SAELosses *fl = E ? &P->res.losses[E - 1] : NULL;
    const char *label = P->label ? P->label : "GPT-2";
    char *js = NULL;
    size_t js_len = 0;
    FILE *f = open_memstream(&js, &js_len);
    fprintf(f, "{\n  \"label\": ");
    json_write_string(f, label, strlen(label));
    fprintf(f, ",\n  \"random_weights\": %s,\n  \"inputs\": [", P->label ? "true" : "false");
    for (int i = 0; i < P->n_in; i++) {
        fprintf(f, "%s\n    {\"path\": ", i ? "," : "");
        json_write_string(f, P->in[i].path, strlen(P->in[i].path));
        fprintf(f, ", \"bytes\": %zu, \"tokens\": %d}", P->in[i].len, P->in[i].T);
    }
    fprintf(f, "\n  ],\n  \"model\": ");
    json_write_string(f, P->m.cfg.name, strlen(P->m.cfg.name));
    fprintf(f, ",\n  \"weights\": ");
    json_write_string(f, shown_weights(w), strlen(shown_weights(w)));
    fprintf(f, ",\n  \"layer\": %d,\n  \"site\": \"%s\",\n  \"hook\": \"%s\",\n", P->layer, gpt2_site_name(P->site),
            w->hook);
    fprintf(f, "  \"tokens\": %ld,\n  \"d\": %d,\n  \"latents\": %d,\n  \"k\": %d,\n  \"epochs\": %d,\n", P->T, P->d, L,
            P->sae.k, E);
    fprintf(f, "  \"lr\": %g,\n  \"batch\": %d,\n  \"seed\": %llu,\n  \"device\": \"%s\",\n", (double)P->p.lr,
            P->p.batch, (unsigned long long)o->seed, P->use_cuda ? "cuda" : "cpu");
    fprintf(f, "  \"final_losses\": {\"total\": ");
    json_num(f, fl ? fl->total : NAN);
    fprintf(f, ", \"mse\": ");
    json_num(f, fl ? fl->mse : NAN);
    fprintf(f, ", \"sparsity\": ");
    json_num(f, fl ? fl->sparsity : NAN);
    fprintf(f, ", \"decorrelation\": ");
    json_num(f, fl ? fl->decor : NAN);
    fprintf(f, "},\n  \"density_percent\": ");
    json_num(f, 100.0 * (L - st->dead) / L);
    fprintf(f, ",\n  \"dead_latents\": %d,\n  \"l0\": ", st->dead);
    json_num(f, st->mean_l0);
    fprintf(f, ",\n  \"variance_explained\": ");
    json_num(f, st->fve);
    fprintf(f, ",\n  \"word_category\": {\"name\": ");
    json_write_string(f, o->category, strlen(o->category));
    fprintf(f, ", \"target_tokens\": %d},\n", st->n_target);
    int nt = L < 10 ? L : 10;
    fprintf(f, "  \"top_latents\": {\n    \"by_activation\": ");
    json_int_array(f, st->by_activation, nt);
    fprintf(f, ",\n    \"by_density\": ");
    json_int_array(f, st->by_density, nt);
    fprintf(f, ",\n    \"by_word_score\": ");
    json_int_array(f, st->by_score, nt);
    fprintf(f, "\n  },\n  \"drawn_latents\": ");
    json_int_array(f, w->draw, w->n_draw);
    fprintf(f, ",\n  \"feature_browser\": %s", has_browser(w) ? "\"features/index.html\"" : "null");
    json_stage_times(f, "seconds", P->t_stage);       /* wall: what a user waits */
    json_stage_times(f, "cpu_seconds", P->c_stage);   /* CPU: what a stage costs, however busy the machine */
    fprintf(f, "\n}\n");
    fclose(f);
    char *path = path_join(P->txn.tmp, "summary.json");
    int rc = file_write_atomic(path, js, js_len);
    free(path);
    free(js);
    return rc;
}

/* ---- report.html ---------------------------------------------------------------------- */

static int out_report(Out *w) {
    /* the SAE spliced into the model on this text: eval/report.h's section and eval.json */
    EvalTexts tx = {w->toks, w->tok_lens};
    eval_report_section(&w->rep, &w->P->ev, &tx, w->P->label, "ev_");
    char *ej = path_join(w->P->txn.tmp, "eval.json");
    EvalSAE es;
    if (w->P->use_ext) es = w->P->ext, es.owns_impl = 0;   /* a view */
    else eval_sae_wrap(&es, &w->P->sae, w->P->m.cfg.name, w->hook);
    int erc = eval_write_json(&w->P->ev, ej, &w->P->m, &es, NULL, w->P->label);
    free(ej);
    if (erc != 0) return -1;
    if (has_browser(w)) {
        report_section(&w->rep, "Feature browser");
        report_link(&w->rep, "features/index.html", "features/index.html",
                    ": each latent shown on its top-activating contexts in this text, its quantile samples, "
                    "its histograms and its logit effects (opens offline; the latents drawn above, then the top "
                    "ones of each ranking).");
    }
    report_section(&w->rep, "Files");
    report_text(&w->rep, "This folder also holds: the figures as SVG files, summary.json, sae_weights.safetensors, "
                         "cfg.json and sparsity.safetensors (the trained autoencoder, SAELens 6 layout), latents.npy (the final latents, "
                         "tokens x latents, float32), activations.npy (the captured activations the autoencoder "
                         "was trained on, tokens x width, float32; ./run train --acts takes it) and losses.csv.");
    char *path = path_join(w->P->txn.tmp, "report.html");
    int rc = report_save(&w->rep, path);
    free(path);
    return rc;
}

/* The report's title: the first input's name, and how many texts. */
static void out_begin(Out *w, Pipeline *P) {
    memset(w, 0, sizeof *w);
    w->P = P;
    w->Z = P->za.f32;
    w->L = P->sae.L;
    w->toks = xmalloc(sizeof(char *) * P->T);
    w->tok_lens = xmalloc(sizeof(int) * P->T);
    for (long t = 0; t < P->T; t++) {
        size_t n;
        w->toks[t] = bpe_token_bytes(&P->bpe, P->ids.ids[t], &n);
        w->tok_lens[t] = (int)n;
    }
    gpt2_site_tl_name(w->hook, sizeof w->hook, P->layer, P->site);
    shown_weights_init(w);
    /* the latents to draw: --latents, or the seed's sortByActivity[30], sortByGeoscore[9] */
    w->n_draw = pipeline_draw(P, w->seed_rank, w->seed_pick, &w->draw);
    char *stem = path_stem(P->title), title[300];   /* "texts/" -> "texts" */
    if (P->n_in > 1) snprintf(title, sizeof title, "%s (%d texts)", stem, P->n_in);
    else snprintf(title, sizeof title, "%s", stem);
    report_init(&w->rep, title, P->label);
    free(stem);
}

int pipeline_draw(const Pipeline *P, int rank[2], int pick[2], const int **draw) {
    const int L = P->sae.L;
    rank[0] = L > 30 ? 30 : L - 1;
    rank[1] = L > 9 ? 9 : L - 1;
    pick[0] = P->st.by_activation[rank[0]];
    pick[1] = P->st.by_score[rank[1]];
    *draw = P->o->n_draw ? P->o->draw : pick;
    return P->o->n_draw ? P->o->n_draw : 2;
}

static void out_end(Out *w) {
    report_free(&w->rep);
    free(w->toks);
    free(w->tok_lens);
}

int pipeline_write_outputs(Pipeline *P) {
    Out w;
    out_begin(&w, P);
    out_sections(&w);
    int rc = out_figures(&w);
    if (rc == 0) out_tables(&w);
    if (rc == 0) rc = out_checkpoint(&w);
    pipeline_stage_end(P, STAGE_OUTPUTS);
    if (rc == 0) rc = out_summary(&w);
    if (rc == 0) rc = out_report(&w);
    out_end(&w);
    return rc;
}
