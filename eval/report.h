/*
 * eval/report.h - the evaluation's outputs: eval.json (every metric, the
 * token count, the model and SAE identity) and the report section (density
 * histogram, CE bars clean / SAE / zero / mean, the per-token CE difference
 * on the text as a heatmap), alone as an HTML page or inside another report
 * (the pipeline's).
 *
 *   EvalResult r;                                   // eval/metrics.h
 *   ...
 *   EvalTexts tx = {toks, tok_lens};                // (n_tokens) decoded tokens, or {NULL, NULL}
 *   eval_write_json(&r, "out/eval.json", &m, &sae, "out/run1", NULL);
 *   eval_write_html(&r, "out/eval.html", "palinka", &tx, NULL);
 *   // or, in a report being built:  eval_report_section(&rep, &r, &tx, banner, "ev_");
 */
#ifndef EVAL_REPORT_H
#define EVAL_REPORT_H

#include "eval/metrics.h"
#include "viz/report.h"

/* The tokens run, as bytes (borrowed): toks[t] / tok_lens[t] for t < n_tokens. */
typedef struct {
    const char *const *toks;
    const int *tok_lens;
} EvalTexts;

/* eval.json, written atomically. sae_dir may be NULL; label: "random weights
 * ..." or NULL. Returns 0, or -1 with err_set(). */
int eval_write_json(const EvalResult *r, const char *path, const GPT2Model *m, const EvalSAE *s, const char *sae_dir,
                    const char *label);
/* The section "SAE spliced into the model": a table of the metrics and the
 * three figures. tx may be NULL (no heatmap). id_prefix keeps the SVG ids
 * unique in the page. */
void eval_report_section(Report *rep, const EvalResult *r, const EvalTexts *tx, const char *banner,
                         const char *id_prefix);
/* A page holding only that section. Returns 0, or -1 with err_set(). */
int eval_write_html(const EvalResult *r, const char *path, const char *title, const EvalTexts *tx, const char *banner);

/* The log10 feature-density histogram: counts (EVAL_HIST_BINS) of log10
 * density of the live latents in bins of EVAL_HIST_WIDTH from EVAL_HIST_LO
 * (lower values in the first bin); the dead latents are not in it. */
#define EVAL_HIST_BINS 40
#define EVAL_HIST_LO (-8.0)
#define EVAL_HIST_WIDTH 0.2
void eval_density_hist(const EvalResult *r, long counts[EVAL_HIST_BINS]);

#endif
