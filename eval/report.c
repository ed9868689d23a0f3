/*
 * eval/report.c - eval.json and the evaluation's report section (report.h):
 * the metrics as a table, the density histogram, the CE bars and the
 * per-token CE difference heatmap, drawn with viz/.
 */
#include "eval/report.h"
#include "core/json.h"
#include "core/util.h"
#include "viz/plot.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void eval_density_hist(const EvalResult *r, long counts[EVAL_HIST_BINS]) {
    memset(counts, 0, sizeof(long) * EVAL_HIST_BINS);
    for (int i = 0; i < r->d_sae; i++) {
        if (r->density[i] <= 0) continue;
        int b = (int)floor((log10(r->density[i]) - EVAL_HIST_LO) / EVAL_HIST_WIDTH);
        counts[b < 0 ? 0 : b >= EVAL_HIST_BINS ? EVAL_HIST_BINS - 1 : b]++;
    }
}

/* a JSON number, null when not finite */
static void jnum(FILE *f, double v) {
    if (isfinite(v)) fprintf(f, "%.17g", v); /* round-trips: the scores can be recomputed */
    else fprintf(f, "null");
}

static void jstr(FILE *f, const char *s) { json_write_string(f, s ? s : "", strlen(s ? s : "")); }

int eval_write_json(const EvalResult *r, const char *path, const GPT2Model *m, const EvalSAE *s, const char *sae_dir,
                    const char *label) {
    char tmp[4096];
    FILE *f = file_begin(path, tmp, sizeof tmp);
    if (!f) return -1;
    char site[64];
    gpt2_site_tl_name(site, sizeof site, r->layer, r->site);
    fprintf(f, "{\n  \"model\": {\"name\": ");
    jstr(f, m->cfg.name);
    fprintf(f, ", \"path\": ");
    jstr(f, m->path);
    fprintf(f, ", \"random_weights\": %s", m->cfg.random || label ? "true" : "false");
    if (label) fprintf(f, ", \"label\": "), jstr(f, label);
    fprintf(f, "},\n  \"sae\": {\"path\": ");
    jstr(f, sae_dir);
    fprintf(f, ", \"model_name\": ");
    jstr(f, s->model);
    fprintf(f, ", \"hook_name\": ");
    jstr(f, site);
    fprintf(f, ", \"d_in\": %d, \"d_sae\": %d},\n", r->d_in, r->d_sae);
    fprintf(f, "  \"tokens\": {\"ctx\": %d, \"windows\": %ld, \"run\": %ld, \"kept\": %ld, \"ce_positions\": %ld, "
               "\"kl_positions\": %ld},\n", r->ctx, r->n_windows, r->n_tokens, r->n_kept, r->n_ce, r->n_kl);
    fprintf(f, "  \"ce_loss\": {");
    for (int k = 0; k < EVAL_NRUNS; k++) fprintf(f, "\"%s\": ", eval_run_names[k]), jnum(f, r->ce[k]), fprintf(f, ", ");
    fprintf(f, "\"score\": "), jnum(f, r->ce_score);
    fprintf(f, ", \"score_mean_ablation\": "), jnum(f, r->ce_score_mean);
    fprintf(f, "},\n  \"kl\": {");
    for (int k = 1; k < EVAL_NRUNS; k++) fprintf(f, "\"%s\": ", eval_run_names[k]), jnum(f, r->kl[k]), fprintf(f, ", ");
    fprintf(f, "\"score\": "), jnum(f, r->kl_score);
    fprintf(f, ", \"score_mean_ablation\": "), jnum(f, r->kl_score_mean);
    fprintf(f, "},\n  \"reconstruction\": {\"fvu\": "), jnum(f, r->fvu);
    fprintf(f, ", \"variance_explained\": "), jnum(f, r->fve);
    fprintf(f, ", \"mse_per_token\": "), jnum(f, r->mse);
    fprintf(f, ", \"cosine\": "), jnum(f, r->cos);
    fprintf(f, ", \"norm_ratio\": "), jnum(f, r->norm_ratio);
    fprintf(f, ", \"relative_bias\": "), jnum(f, r->rel_bias);
    fprintf(f, "},\n  \"sparsity\": {\"l0\": "), jnum(f, r->l0);
    fprintf(f, ", \"l1\": "), jnum(f, r->l1);
    fprintf(f, ", \"dead\": %d, \"dense_over_1pct\": %d, \"dense_over_10pct\": %d", r->dead, r->dense_1pct,
            r->dense_10pct);
    long h[EVAL_HIST_BINS];
    eval_density_hist(r, h);
    fprintf(f, ",\n    \"log10_density_histogram\": {\"lo\": %g, \"width\": %g, \"counts\": [", EVAL_HIST_LO,
            EVAL_HIST_WIDTH);
    for (int b = 0; b < EVAL_HIST_BINS; b++) fprintf(f, "%s%ld", b ? ", " : "", h[b]);
    fprintf(f, "]}}\n}\n");
    if (ferror(f)) {
        file_abort(f, tmp);
        return err_set("%s: write failed", path);
    }
    return file_commit(f, tmp, path);
}

/* the CE of the four runs as bars, each labelled with its value */
static void ce_bars(Svg *s, const EvalResult *r, const char *banner, const char *idp) {
    const double W = 460, H = 240, x0 = 60, y0 = 40, pw = 380, ph = 160;
    svg_init(s, W, H);
    svg_set_id_prefix(s, idp);
    if (banner) svg_text(s, W / 2, 14, banner, 11, SVG_MIDDLE, 0, "fill=\"#c00\"");
    svg_text(s, W / 2, 30, "CE loss: clean, SAE spliced in, zero- and mean-ablated", 12, SVG_MIDDLE, 0, NULL);
    double mx = 0;
    for (int k = 0; k < EVAL_NRUNS; k++) mx = fmax(mx, isfinite(r->ce[k]) ? r->ce[k] : 0);
    if (mx <= 0) mx = 1;
    const Rgba col[EVAL_NRUNS] = {rgba(.3, .3, .3, 1), rgba(.8, .2, .2, 1), rgba(.5, .5, .8, 1), rgba(.5, .7, .5, 1)};
    svg_line(s, x0, y0 + ph, x0 + pw, y0 + ph, rgba(0, 0, 0, 1), 1);
    for (int k = 0; k < EVAL_NRUNS; k++) {
        double v = isfinite(r->ce[k]) ? r->ce[k] : 0, h = ph * v / mx, bx = x0 + 20 + k * (pw / EVAL_NRUNS);
        svg_rect(s, bx, y0 + ph - h, pw / EVAL_NRUNS - 40, h, 0, col[k], RGBA_NONE, 0);
        char lab[32];
        snprintf(lab, sizeof lab, "%.4f", r->ce[k]);
        svg_text(s, bx + (pw / EVAL_NRUNS - 40) / 2, y0 + ph - h - 4, lab, 10, SVG_MIDDLE, 0, NULL);
        svg_text(s, bx + (pw / EVAL_NRUNS - 40) / 2, y0 + ph + 16, eval_run_names[k], 10, SVG_MIDDLE, 0, NULL);
    }
    svg_text(s, 16, y0 + ph / 2, "CE loss (nats)", 10, SVG_MIDDLE, -90, NULL);
    svg_finish(s);
}

/* the log10 density histogram as a step line */
static void density_fig(Svg *s, const EvalResult *r, const char *banner, const char *idp) {
    long h[EVAL_HIST_BINS];
    eval_density_hist(r, h);
    double x[2 * EVAL_HIST_BINS], y[2 * EVAL_HIST_BINS];
    for (int b = 0; b < EVAL_HIST_BINS; b++) {
        x[2 * b] = EVAL_HIST_LO + b * EVAL_HIST_WIDTH, x[2 * b + 1] = x[2 * b] + EVAL_HIST_WIDTH;
        y[2 * b] = y[2 * b + 1] = (double)h[b];
    }
    Figure f;
    fig_init(&f, 6, 3, 1, 1);
    fig_set_id_prefix(&f, idp);
    if (banner) fig_set_banner(&f, banner);
    PlotAxes *ax = fig_axes(&f, 0);
    axes_plot(ax, x, y, 2 * EVAL_HIST_BINS, "k-", rgba(0, 0, 0, 0), 1, 1);
    axes_set(ax, "log10 feature density", "latents", "Feature density (live latents)");
    char note[96];
    snprintf(note, sizeof note, "%d dead latents (never active) not drawn", r->dead);
    axes_note(ax, note);
    fig_render(&f, s);
    fig_free(&f);
}

void eval_report_section(Report *rep, const EvalResult *r, const EvalTexts *tx, const char *banner,
                         const char *id_prefix) {
    char site[64], idp[24];
    gpt2_site_tl_name(site, sizeof site, r->layer, r->site);
    report_section(rep, "SAE spliced into the model");
    report_kvf(rep, "site", "%s (d_in %d, d_sae %d)", site, r->d_in, r->d_sae);
    report_kvf(rep, "tokens", "%ld windows of %d (%ld tokens; %ld in the metrics)", r->n_windows, r->ctx, r->n_tokens,
               r->n_kept);
    report_kvf(rep, "CE loss", "clean %.5f, SAE %.5f, zero %.5f, mean %.5f", r->ce[0], r->ce[1], r->ce[2], r->ce[3]);
    report_kvf(rep, "CE loss score", "%.4f (zero-ablation), %.4f (mean-ablation)", r->ce_score, r->ce_score_mean);
    report_kvf(rep, "KL(clean || run)", "SAE %.5f, zero %.5f, mean %.5f", r->kl[1], r->kl[2], r->kl[3]);
    report_kvf(rep, "KL score", "%.4f (zero), %.4f (mean)", r->kl_score, r->kl_score_mean);
    report_kvf(rep, "variance explained", "%.4f (FVU %.4f)", r->fve, r->fvu);
    report_kvf(rep, "MSE per token", "%.6g", r->mse);
    report_kvf(rep, "cosine, |x\xCC\x82|/|x|, relative bias", "%.4f, %.4f, %.4f", r->cos, r->norm_ratio, r->rel_bias);
    report_kvf(rep, "L0, L1", "%.2f, %.4g", r->l0, r->l1);
    report_kvf(rep, "dead, dense > 1%, > 10%", "%d, %d, %d of %d", r->dead, r->dense_1pct, r->dense_10pct, r->d_sae);
    Svg s;
    snprintf(idp, sizeof idp, "%sce_", id_prefix ? id_prefix : "");
    ce_bars(&s, r, banner, idp);
    report_figure(rep, "CE loss of each run", s.buf);
    svg_free(&s);
    snprintf(idp, sizeof idp, "%sdn_", id_prefix ? id_prefix : "");
    density_fig(&s, r, banner, idp);
    report_figure(rep, "log10 feature density histogram", s.buf);
    svg_free(&s);
    if (tx && tx->toks) {
        /* CE with the SAE minus clean CE, per token (0 where not scored) */
        float *diff = xmalloc(sizeof(float) * r->n_tokens);
        for (long t = 0; t < r->n_tokens; t++) {
            float dv = r->tok_ce[EVAL_RUN_SAE][t] - r->tok_ce[EVAL_RUN_CLEAN][t];
            diff[t] = isfinite(dv) ? dv : 0;
        }
        int first, count;
        textheat_window(diff, (int)r->n_tokens, 400, &first, &count);
        char title[160];
        snprintf(title, sizeof title, "CE(SAE) - CE(clean) predicting the next token (tokens %d-%d)", first,
                 first + count - 1);
        snprintf(idp, sizeof idp, "%sht_", id_prefix ? id_prefix : "");
        textheat_render(&s, tx->toks, tx->tok_lens, diff, (int)r->n_tokens, first, count, title, banner, idp);
        report_figure(rep, "Per-token CE difference on the text", s.buf);
        svg_free(&s);
        free(diff);
    }
}

int eval_write_html(const EvalResult *r, const char *path, const char *title, const EvalTexts *tx, const char *banner) {
    Report rep;
    report_init(&rep, title, banner);
    eval_report_section(&rep, r, tx, banner, "e_");
    int rc = report_save(&rep, path);
    report_free(&rep);
    return rc;
}
