/*
 * cli/pipeline_out.c - the last stage of `./run FILE...`: every output file,
 * written into the temporary folder that cmd_pipeline.c swaps into place.
 *   figures (SVG, each also inlined in the report), report.html, the tables
 *   of top latents with their text heatmaps, sae.safetensors + cfg.json,
 *   latents.npy, losses.csv, summary.json.
 */
#include "cli/pipeline.h"
#include "core/json.h"
#include "core/pool.h"
#include "core/util.h"
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

typedef struct {
    const PipelineOpts *o;
    const char *label;      /* RANDOM_LABEL or NULL */
    const char *tmp;        /* the folder being written */
    const BPE *bpe;
    const int32_t *ids;     /* (T) */
    const char **toks;      /* (T) token bytes, borrowed from bpe */
    int *tok_lens;          /* (T) */
    long T;
    int L, d, layer, n_inputs;
    const float *Z;         /* (T, L) */
    const Scores *sc;
    Report *rep;
    int n_svg;              /* ids for inlined SVGs */
    int n_files;            /* files written */
} Out;

static int save_svg(Out *w, const Svg *s, const char *name) {
    char *p = path_join(w->tmp, name);
    int rc = svg_save(s, p);
    free(p);
    if (rc == 0) w->n_files++;
    return rc;
}

/* Render the text heatmap of latent j (a window of at most 400 tokens around
 * its largest activation), into s. */
static void heat_svg(Out *w, Svg *s, int j) {
    float *col = xmalloc(sizeof(float) * w->T);
    for (long t = 0; t < w->T; t++) col[t] = w->Z[t * w->L + j];
    int first, count;
    textheat_window(col, (int)w->T, 400, &first, &count);
    char title[160], idp[16];
    if (count < w->T)
        snprintf(title, sizeof title, "Latent component %d (tokens %d-%d of %ld)", j, first, first + count - 1, w->T);
    else
        snprintf(title, sizeof title, "Latent component %d", j);
    snprintf(idp, sizeof idp, "s%d_", w->n_svg++);
    textheat_render(s, w->toks, w->tok_lens, col, (int)w->T, first, count, title, w->label, idp);
    free(col);
}

static int write_figure(Out *w, Svg *s, const char *file, const char *caption) {
    int rc = save_svg(w, s, file);
    if (rc == 0) report_figure(w->rep, caption, s->buf);
    svg_free(s);
    return rc;
}

/* A table of the top latents by one ranking, each row followed by its heatmap. */
static void latent_table(Out *w, const char *caption, const int *order) {
    const Scores *sc = w->sc;
    const char *head[] = {"rank", "latent", "density %", "mean nonzero act.", "word score", "top tokens"};
    const int num[] = {1, 1, 1, 1, 1, 0};
    report_table_begin(w->rep, caption, 6, head);
    for (int r = 0; r < w->o->top && r < w->L; r++) {
        int j = order[r];
        char c0[16], c1[16], c2[32], c3[32], c4[32], c5[512];
        snprintf(c0, sizeof c0, "%d", r + 1);
        snprintf(c1, sizeof c1, "%d", j);
        snprintf(c2, sizeof c2, "%.2f", (double)sc->st.density[j]);
        snprintf(c3, sizeof c3, "%.4g", (double)sc->st.mean_act[j]);
        snprintf(c4, sizeof c4, "%.4g", (double)sc->score[j]);
        top_tokens(c5, sizeof c5, w->bpe, w->ids, w->Z, w->T, w->L, j);
        const char *cells[] = {c0, c1, c2, c3, c4, c5};
        report_table_row(w->rep, cells, num);
        Svg s;
        heat_svg(w, &s, j);
        report_table_wide_row(w->rep, s.buf, 6);
        svg_free(&s);
    }
    report_table_end(w->rep);
}

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

/* Close the memory stream f (over *buf, *len), write its text to dir/name
 * atomically and free it. */
static int close_and_save(FILE *f, char **buf, size_t *len, const char *dir, const char *name) {
    fclose(f);
    char *path = path_join(dir, name);
    int rc = file_write_atomic(path, *buf, *len);
    free(path);
    free(*buf);
    *buf = NULL;
    return rc;
}

int pipeline_write_outputs(PipelineRun *r) {
    const PipelineOpts *o = r->o;
    const char *label = r->label, *tmp = r->tmp, *wpath = r->wpath;
    const InputText *in = r->in;
    const int n_paths = r->n_in;
    const size_t total_bytes = r->total_bytes;
    const BPE *bpe = r->bpe;
    const int32_t *ids = r->ids;
    const long T = r->T;
    const GPT2Model *m = r->m;
    const int layer = r->layer, d = r->d, use_cuda = r->use_cuda;
    const GPT2Site site = r->site;
    const SAE *sae = r->sae;
    const SAEParams *p = r->p;
    const SAEResult *res = r->res;
    const Scores *sc = r->sc;
    const int L = sae->L, E = res->epochs_done;
    const float *Z = r->Z;
    double *t_stage = r->t_stage;
    int rc = -1;
    Report rep;
    memset(&rep, 0, sizeof rep);
    const char **toks = NULL;   /* (T) token bytes, borrowed from bpe */
    int *tok_lens = NULL;       /* (T) */
    float *losses = xmalloc(sizeof(float) * 3 * (E ? E : 1));   /* (E, 3) total, sparsity, decorrelation */
    for (int e = 0; e < E; e++) {
        losses[3 * e + 0] = (float)res->losses[e].total;
        losses[3 * e + 1] = (float)res->losses[e].sparsity;
        losses[3 * e + 2] = (float)res->losses[e].decor;
    }
    toks = xmalloc(sizeof(char *) * T);
    tok_lens = xmalloc(sizeof(int) * T);
    for (long t = 0; t < T; t++) {
        size_t n;
        toks[t] = bpe_token_bytes(bpe, ids[t], &n);
        tok_lens[t] = (int)n;
    }
    char hook[96];
    gpt2_site_tl_name(hook, sizeof hook, layer, site);
    Out w = {o, label, tmp, bpe, ids, toks, tok_lens, T, L, d, layer, n_paths, Z, sc, &rep, 0, 0};
    {
        char *a = xstrdup(r->title); /* the page's title: the input's name */
        size_t n = strlen(a);
        while (n > 1 && a[n - 1] == '/') a[--n] = 0;
        char *stem = path_stem(a), title[300];
        if (n_paths > 1) snprintf(title, sizeof title, "%s (%d texts)", stem, n_paths);
        else snprintf(title, sizeof title, "%s", stem);
        report_init(&rep, title, label);
        free(stem);
        free(a);
    }

    report_section(&rep, "Inputs");
    for (int i = 0; i < n_paths && i < 50; i++)
        report_kvf(&rep, i ? "" : (n_paths > 1 ? "files" : "file"), "%s (%zu bytes, %d tokens)", in[i].path,
                   in[i].len, in[i].T);
    if (n_paths > 50) report_kvf(&rep, "", "... and %d more files", n_paths - 50);
    report_kvf(&rep, "corpus", "%d text%s, %zu bytes, %ld tokens", n_paths, n_paths > 1 ? "s" : "", total_bytes, T);
    report_kvf(&rep, "weights", "%s%s", wpath, label ? "  (" RANDOM_LABEL ")" : "");
    report_kvf(&rep, "model", "%s: %d layers, %d heads, width %d, context %d", m->cfg.name, m->cfg.n_layer,
               m->cfg.n_head, m->cfg.n_embd, m->cfg.n_ctx);
    report_kvf(&rep, "captured", "layer %d, %s (%s): %ld x %d", layer, gpt2_site_name(site), hook, T, d);

    report_section(&rep, "Parameters");
    report_kvf(&rep, "autoencoder", "tied weights W (%d x %d), ReLU, top-k with k = %d, no biases", L, d, sae->k);
    report_kvf(&rep, "loss", "MSE + %g * mean|z| + %g * sum of squared off-diagonal covariances of z",
               (double)p->sparsity_weight, (double)p->decor_weight);
    report_kvf(&rep, "optimiser", "Adam, lr %g, betas (%g, %g), %d epochs, %s", (double)p->lr, (double)p->beta1,
               (double)p->beta2, p->epochs, p->batch ? "shuffled minibatches" : "full batch (the seed)");
    if (p->batch) report_kvf(&rep, "minibatch", "%d tokens", p->batch);
    report_kvf(&rep, "seed", "%llu", (unsigned long long)o->seed);
    if (use_cuda) report_kv(&rep, "device", "cuda");
    else report_kvf(&rep, "device", "cpu, %d threads (%s)", pool_threads(), cpu_simd_level());
    {
        char words[1024];
        size_t q = 0;
        words[0] = 0;
        for (int i = 0; i < o->n_words && q + 40 < sizeof words; i++)
            q += (size_t)snprintf(words + q, sizeof words - q, "%s%s", i ? ", " : "", o->words[i]);
        report_kvf(&rep, "word category", "%s: %s (%d matching tokens)", o->category, words, sc->n_target);
    }

    report_section(&rep, "Summary");
    const SAELosses *fl = E ? &res->losses[E - 1] : NULL;
    report_kvf(&rep, "tokens", "%ld", T);
    if (fl) {
        report_kvf(&rep, "final loss", "%.6g (reconstruction %.6g, sparsity %.6g, decorrelation %.6g)", fl->total,
                   fl->mse, fl->sparsity, fl->decor);
    }
    report_kvf(&rep, "density", "%.2f%% of latents are ever active (%d dead of %d)",
               100.0 * (L - sc->st.dead) / L, sc->st.dead, L);
    report_kvf(&rep, "variance explained", "%.2f%%", 100 * sc->fve);
    report_kvf(&rep, "L0", "%.1f latents active per token on average (k = %d)", sc->st.mean_l0, sae->k);

    report_section(&rep, "Figures");
    Svg s;
    char idp[16];
    snprintf(idp, sizeof idp, "s%d_", w.n_svg++);
    figure_losses(&s, losses, E, label, idp);
    if (write_figure(&w, &s, "losses.svg", "Loss per epoch: total, sparsity, decorrelation") != 0) goto done;
    snprintf(idp, sizeof idp, "s%d_", w.n_svg++);
    figure_latents(&s, Z, (int)T, L, label, idp);
    if (write_figure(&w, &s, "latents.svg", "Latent activations (tokens x latents), vmin 0, vmax 0.1") != 0) goto done;
    snprintf(idp, sizeof idp, "s%d_", w.n_svg++);
    figure_density(&s, sc->st.density, sc->st.mean_act, L, label, idp);
    if (write_figure(&w, &s, "density.svg", "Density per latent (zero-density latents: red x), nonzero "
                                            "activation per latent, and one against the other") != 0)
        goto done;
    char stitle[160];
    snprintf(stitle, sizeof stitle, "%s token activation score", o->category);
    snprintf(idp, sizeof idp, "s%d_", w.n_svg++);
    figure_score(&s, sc->score, L, stitle, label, idp);
    if (write_figure(&w, &s, "score.svg", "Word-category score: mean nonzero activation on the category's "
                                          "tokens over that on the others") != 0)
        goto done;

    /* the text heatmaps the seed draws: sortByActivity[30], sortByGeoscore[9] (or --latents) */
    int seed_pick[2] = {sc->st.by_activation[L > 30 ? 30 : L - 1], sc->by_score[L > 9 ? 9 : L - 1]};
    const int *draw = o->n_draw ? o->draw : seed_pick;
    int n_draw = o->n_draw ? o->n_draw : 2;
    for (int i = 0; i < n_draw; i++) {
        int j = draw[i]; /* checked against L before the capture */
        char file[48], cap[160];
        snprintf(file, sizeof file, "heat_%d.svg", j);
        if (o->n_draw) snprintf(cap, sizeof cap, "Text heatmap of latent %d", j);
        else if (i == 0) snprintf(cap, sizeof cap, "Text heatmap of latent %d, sortByActivity[30] as in the seed", j);
        else snprintf(cap, sizeof cap, "Text heatmap of latent %d, the word-category ranking's 10th (sortByGeoscore[9])", j);
        heat_svg(&w, &s, j);
        if (write_figure(&w, &s, file, cap) != 0) goto done;
    }

    report_section(&rep, "Top latents");
    latent_table(&w, "By mean nonzero activation", sc->st.by_activation);
    latent_table(&w, "By density", sc->st.by_density);
    char cap[160];
    snprintf(cap, sizeof cap, "By %s word-category score", o->category);
    latent_table(&w, cap, sc->by_score);

    /* checkpoint, latents, losses */
    if (sae_save(sae, tmp, p, m->cfg.name, hook) != 0) goto done;
    if (!r->latents_written) {
        char *pth = path_join(tmp, "latents.npy");
        int wr = npy_write_f32(pth, Z, (int64_t[]){T, L}, 2);
        free(pth);
        if (wr != 0) goto done;
    }
    {
        char *csv = NULL;
        size_t csv_len = 0;
        FILE *f = open_memstream(&csv, &csv_len);
        fprintf(f, "epoch,total,sparsity,decorrelation,mse\n");
        for (int e = 0; e < E; e++)
            fprintf(f, "%d,%.9g,%.9g,%.9g,%.9g\n", e + 1, res->losses[e].total, res->losses[e].sparsity,
                    res->losses[e].decor, res->losses[e].mse);
        if (close_and_save(f, &csv, &csv_len, tmp, "losses.csv") != 0) goto done;
    }
    t_stage[5] = time_now() - r->t0;

    /* summary.json */
    {
        char *js = NULL;
        size_t js_len = 0;
        FILE *f = open_memstream(&js, &js_len);
        fprintf(f, "{\n  \"label\": ");
        json_write_string(f, label ? label : "GPT-2", strlen(label ? label : "GPT-2"));
        fprintf(f, ",\n  \"random_weights\": %s,\n  \"inputs\": [", label ? "true" : "false");
        for (int i = 0; i < n_paths; i++) {
            fprintf(f, "%s\n    {\"path\": ", i ? "," : "");
            json_write_string(f, in[i].path, strlen(in[i].path));
            fprintf(f, ", \"bytes\": %zu, \"tokens\": %d}", in[i].len, in[i].T);
        }
        fprintf(f, "\n  ],\n  \"model\": ");
        json_write_string(f, m->cfg.name, strlen(m->cfg.name));
        fprintf(f, ",\n  \"weights\": ");
        json_write_string(f, wpath, strlen(wpath));
        fprintf(f, ",\n  \"layer\": %d,\n  \"site\": \"%s\",\n  \"hook\": \"%s\",\n", layer, gpt2_site_name(site), hook);
        fprintf(f, "  \"tokens\": %ld,\n  \"d\": %d,\n  \"latents\": %d,\n  \"k\": %d,\n  \"epochs\": %d,\n", T, d, L,
                sae->k, E);
        fprintf(f, "  \"lr\": %g,\n  \"batch\": %d,\n  \"seed\": %llu,\n  \"device\": \"%s\",\n", (double)p->lr,
                p->batch, (unsigned long long)o->seed, use_cuda ? "cuda" : "cpu");
        fprintf(f, "  \"final_losses\": {\"total\": ");
        json_num(f, fl ? fl->total : NAN);
        fprintf(f, ", \"mse\": ");
        json_num(f, fl ? fl->mse : NAN);
        fprintf(f, ", \"sparsity\": ");
        json_num(f, fl ? fl->sparsity : NAN);
        fprintf(f, ", \"decorrelation\": ");
        json_num(f, fl ? fl->decor : NAN);
        fprintf(f, "},\n  \"density_percent\": ");
        json_num(f, 100.0 * (L - sc->st.dead) / L);
        fprintf(f, ",\n  \"dead_latents\": %d,\n  \"l0\": ", sc->st.dead);
        json_num(f, sc->st.mean_l0);
        fprintf(f, ",\n  \"variance_explained\": ");
        json_num(f, sc->fve);
        fprintf(f, ",\n  \"word_category\": {\"name\": ");
        json_write_string(f, o->category, strlen(o->category));
        fprintf(f, ", \"target_tokens\": %d},\n", sc->n_target);
        int nt = L < 10 ? L : 10;
        fprintf(f, "  \"top_latents\": {\n    \"by_activation\": ");
        json_int_array(f, sc->st.by_activation, nt);
        fprintf(f, ",\n    \"by_density\": ");
        json_int_array(f, sc->st.by_density, nt);
        fprintf(f, ",\n    \"by_word_score\": ");
        json_int_array(f, sc->by_score, nt);
        fprintf(f, "\n  },\n  \"drawn_latents\": ");
        json_int_array(f, draw, n_draw);
        fprintf(f, ",\n  \"seconds\": {\"tokenize\": %.3f, \"weights\": %.3f, \"capture\": %.3f, \"train\": %.3f, "
                   "\"scores\": %.3f, \"outputs\": %.3f}\n}\n",
                t_stage[0], t_stage[1] - t_stage[0], t_stage[2] - t_stage[1], t_stage[3] - t_stage[2],
                t_stage[4] - t_stage[3], t_stage[5] - t_stage[4]);
        if (close_and_save(f, &js, &js_len, tmp, "summary.json") != 0) goto done;
    }
    report_section(&rep, "Files");
    report_text(&rep, "This folder also holds: the figures as SVG files, summary.json, sae.safetensors and "
                      "cfg.json (the trained autoencoder, SAELens layout), latents.npy (the final latents, "
                      "tokens x latents, float32), activations.npy (the captured activations the autoencoder "
                      "was trained on, tokens x width, float32; ./run train --acts takes it) and losses.csv.");
    char *pth = path_join(tmp, "report.html");
    int wr = report_save(&rep, pth);
    free(pth);
    if (wr != 0) goto done;

    rc = 0;
done:
    report_free(&rep);
    free(toks);
    free(tok_lens);
    free(losses);
    return rc;
}
