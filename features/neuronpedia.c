/*
 * features/neuronpedia.c - the feature statistics as Neuronpedia-style JSON
 * (the batch files SAELens' Neuronpedia runner uploads), one file per batch
 * of features; the fields are documented in features.h.
 */
#include "features/features.h"

#include "core/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void np_num(FILE *f, double v) {
    if (v == 0) fputc('0', f);
    else fprintf(f, "%.6g", v);
}

static void np_tok(FILE *f, const BPE *bpe, int id) {
    size_t n = 0;
    const char *s = bpe ? bpe_token_bytes(bpe, id, &n) : NULL;
    if (s) feat_json_string(f, s, n);
    else fprintf(f, "\"<%d>\"", id);
}

/* One activation record: the example's context as tokens and values. */
static void np_activation(FILE *f, const BPE *bpe, const FeatEx *e, const uint16_t *tok, const float *ctx, int W,
                          double bmin, double bmax, double contains) {
    int a = 0, b = W;
    while (a < b && tok[a] == FEAT_NO_TOKEN) a++;
    while (b > a && tok[b - 1] == FEAT_NO_TOKEN) b--;
    fputs("{\"bin_min\":", f), np_num(f, bmin), fputs(",\"bin_max\":", f), np_num(f, bmax);
    fputs(",\"bin_contains\":", f), np_num(f, contains);
    fprintf(f, ",\"position\":%lld,\"qualifying_token_index\":%d,\"max_value\":", (long long)e->pos, W / 2 - a);
    np_num(f, e->act);
    fputs(",\"tokens\":[", f);
    for (int k = a; k < b; k++) fputs(k > a ? "," : "", f), np_tok(f, bpe, tok[k]);
    fputs("],\"values\":[", f);
    for (int k = a; k < b; k++) fputs(k > a ? "," : "", f), np_num(f, ctx[k]);
    fputs("]}", f);
}

static int np_batch(const char *path, int i0, int i1, const FeatStats *fs, const FeatLogits *lg, const BPE *bpe,
                    const FeatInfo *in) {
    FILE *f = fopen(path, "w");
    if (!f) return err_set("%s: cannot write", path);
    int K = fs->p.top_k, W = fs->W, NQ = fs->p.n_intervals, P = fs->p.per_interval, NB = fs->p.n_bins;
    fputs("{\"model_id\":", f), feat_json_string(f, in->model, strlen(in->model));
    fputs(",\"hook_name\":", f), feat_json_string(f, in->hook, strlen(in->hook));
    fputs(",\"dataset\":", f), feat_json_string(f, in->corpus, strlen(in->corpus));
    fprintf(f, ",\"n_tokens_in_prompt\":%d,\"n_prompts_total\":%lld,\"features\":[", in->ctx,
            (long long)(fs->positions ? (fs->positions + in->ctx - 2) / (in->ctx - 1) : 0));
    for (int i = i0; i < i1; i++) {
        double mx = fs->max[i];
        fprintf(f, "%s\n{\"feature_index\":%d,\"frac_nonzero\":", i > i0 ? "," : "", fs->id[i]);
        np_num(f, fs->positions ? (double)fs->fires[i] / fs->positions : 0);
        fputs(",\"max_activation\":", f), np_num(f, mx);
        fputs(",\"pos_str\":[", f);
        for (int e = 0; e < lg->K; e++) fputs(e ? "," : "", f), np_tok(f, bpe, lg->top_id[(size_t)i * lg->K + e]);
        fputs("],\"pos_values\":[", f);
        for (int e = 0; e < lg->K; e++) fputs(e ? "," : "", f), np_num(f, lg->top_val[(size_t)i * lg->K + e]);
        fputs("],\"neg_str\":[", f);
        for (int e = 0; e < lg->K; e++) fputs(e ? "," : "", f), np_tok(f, bpe, lg->bot_id[(size_t)i * lg->K + e]);
        fputs("],\"neg_values\":[", f);
        for (int e = 0; e < lg->K; e++) fputs(e ? "," : "", f), np_num(f, lg->bot_val[(size_t)i * lg->K + e]);
        fputs("],\"freq_hist_data_bar_heights\":[", f);
        for (int b = 0; b < NB; b++) fprintf(f, "%s%u", b ? "," : "", fs->hist[(size_t)i * NB + b]);
        fputs("],\"freq_hist_data_bar_values\":[", f);
        for (int b = 0; b < NB; b++) fputs(b ? "," : "", f), np_num(f, mx * (b + 0.5) / NB);
        fputs("],\"logits_hist_data_bar_heights\":[", f);
        for (int b = 0; b < lg->nb; b++) fprintf(f, "%s%u", b ? "," : "", lg->hist[(size_t)i * lg->nb + b]);
        fputs("],\"logits_hist_data_bar_values\":[", f);
        double lo = lg->lo[i], hi = lg->hi[i];
        for (int b = 0; b < lg->nb; b++) fputs(b ? "," : "", f), np_num(f, lo + (hi - lo) * (b + 0.5) / lg->nb);
        fputs("],\"activations\":[", f);
        int first = 1;
        for (int e = 0; e < fs->top_n[i]; e++, first = 0) {
            size_t x = (size_t)i * K + e;
            if (!first) fputc(',', f);
            np_activation(f, bpe, &fs->top[x], fs->top_tok + x * W, fs->top_ctx + x * W, W, -1, -1, -1);
        }
        int64_t fires = fs->fires[i] ? fs->fires[i] : 1;
        for (int q = 0; q < NQ; q++) {
            size_t c = (size_t)i * NQ + q;
            for (int e = 0; e < fs->smp_n[c]; e++, first = 0) {
                size_t x = c * P + e;
                if (!first) fputc(',', f);
                np_activation(f, bpe, &fs->smp[x], fs->smp_tok + x * W, fs->smp_ctx + x * W, W, mx * q / NQ,
                              mx * (q + 1) / NQ, (double)fs->smp_seen[c] / fires);
            }
        }
        fputs("]}", f);
    }
    fputs("]}\n", f);
    return fclose(f) == 0 ? 0 : err_set("%s: write failed", path);
}

int feat_write_neuronpedia(const char *dir, const FeatStats *fs, const FeatLogits *lg, const BPE *bpe,
                           const FeatInfo *info, int batch) {
    if (batch < 1) return err_set("features: a Neuronpedia batch needs at least one feature (got %d)", batch);
    if (path_mkdirs(dir) != 0) return -1;
    for (int i0 = 0, k = 0; i0 < fs->n; i0 += batch, k++) {
        char name[48];
        snprintf(name, sizeof name, "batch-%d.json", k);
        char *p = path_join(dir, name);
        int rc = np_batch(p, i0, i0 + batch < fs->n ? i0 + batch : fs->n, fs, lg, bpe, info);
        free(p);
        if (rc != 0) return -1;
    }
    return 0;
}
