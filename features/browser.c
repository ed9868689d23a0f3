/*
 * features/browser.c - the offline feature browser: index.html (the page and
 * its script, features/browser_page.h) and the data as small JS files, each
 * assigning JSON to a variable, loaded by <script src> (file:// forbids
 * fetch). The per-latent data is sharded, FEAT_SHARD latents a file, and the
 * page loads a shard only when one of its latents is opened, so 24,576
 * latents open as fast as 16.
 *
 * The files (every field is documented in meta.js's "fields"):
 *   data/meta.js    FEAT_META = {model, hook, sae, corpus, label, n_latents,
 *                   positions, ctx, params, shard, n_shards, fields}
 *   data/vocab.js   FEAT_VOCAB = ["!", "\"", ...]   the token strings, by id
 *                   (bytes that are not UTF-8 alone show as U+FFFD)
 *   data/index.js   FEAT_INDEX = [[i, density, mean, max, fires, [top act
 *                   token ids], [top logit ids]], ...]   one row a latent
 *   data/s_NNNNN.js FEAT_SHARDS[k] = [latent, ...]   index rows k*64 .. k*64+63:
 *     {i, top: [ex...], q: [[lo, hi, seen, [ex...]] ...], h: [counts], hsvg,
 *      lg: {top: [[id, val]...], bot: [[id, val]...], h: [counts], lo, hi, hsvg}}
 *     hsvg: the histogram drawn by viz/hist.h, an SVG document as a string.
 * A browser of some of an SAE's latents (feat_build with a selection) lists
 * them in the order chosen: row r is latent i = index[r][0]; meta.js then
 * gives sae_latents (the SAE's width) and selection (the rule).
 *     ex = [pos, act, centre, [token ids], [activations]]: the context
 *     within its window, the example's token at index centre.
 */
#include "features/features.h"

#include "core/dir.h"
#include "core/utf8.h"
#include "core/util.h"
#include "features/browser_page.h"
#include "viz/hist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void feat_json_string(FILE *f, const char *s, size_t n) {
    fputc('"', f);
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        uint32_t cp;
        size_t len = utf8_decode((const uint8_t *)s, n, i, &cp);
        if (len == 0) { fputs("\\ufffd", f); i++; continue; }
        if (c == '"') fputs("\\\"", f);
        else if (c == '\\') fputs("\\\\", f);
        else if (c == '<') fputs("\\u003c", f);
        else if (c < 0x20 || c == 0x7f) fprintf(f, "\\u%04x", c);
        else if (cp == 0x2028 || cp == 0x2029) fprintf(f, "\\u%04x", cp);
        else fwrite(s + i, 1, len, f);
        i += len;
    }
    fputc('"', f);
}

static void js_num(FILE *f, double v) {
    if (v == 0) fputc('0', f);
    else fprintf(f, "%.4g", v);
}

/* One example: [pos, act, centre, [tokens], [acts]] (the slots inside the window). */
static void js_example(FILE *f, const FeatEx *e, const uint16_t *tok, const float *ctx, int W) {
    int a = 0, b = W;
    while (a < b && tok[a] == FEAT_NO_TOKEN) a++;
    while (b > a && tok[b - 1] == FEAT_NO_TOKEN) b--;
    fprintf(f, "[%lld,", (long long)e->pos);
    js_num(f, e->act);
    fprintf(f, ",%d,[", W / 2 - a);
    for (int k = a; k < b; k++) fprintf(f, "%s%u", k > a ? "," : "", tok[k]);
    fputs("],[", f);
    for (int k = a; k < b; k++) fputs(k > a ? "," : "", f), js_num(f, ctx[k]);
    fputs("]]", f);
}

/* A histogram drawn by viz/hist.h, as a JSON string. */
static void js_hist(FILE *f, const uint32_t *counts, int nb, double lo, double hi, RGBA fill, const char *label) {
    SVG s;
    svg_histogram(&s, counts, nb, lo, hi, 420, 140, fill, label);
    feat_json_string(f, s.buf, s.len);
    svg_free(&s);
}

static int write_meta(const char *path, const FeatStats *fs, const FeatInfo *in) {
    FILE *f = fopen(path, "w");
    if (!f) return err_set("%s: cannot write", path);
    const char *s[] = {in->model, in->hook, in->sae_dir, in->corpus, in->label, in->selection};
    const char *k[] = {"model", "hook", "sae", "corpus", "label", "selection"};
    fputs("FEAT_META = {", f);
    for (int i = 0; i < 6; i++) {
        fprintf(f, "\"%s\":", k[i]);
        if (s[i]) feat_json_string(f, s[i], strlen(s[i]));
        else fputs("null", f);
        fputc(',', f);
    }
    fprintf(f,
            "\"n_latents\":%d,\"sae_latents\":%d,\"positions\":%lld,\"ctx\":%d,\"seconds\":%.3f,\"shard\":%d,\"n_shards\":%d,"
            "\"params\":{\"top_k\":%d,\"radius\":%d,\"n_intervals\":%d,\"per_interval\":%d,\"n_bins\":%d,"
            "\"n_logits\":%d,\"seed\":%llu},\n",
            fs->n, in->sae_latents ? in->sae_latents : fs->n, (long long)fs->positions, in->ctx, in->seconds, FEAT_SHARD, (fs->n + FEAT_SHARD - 1) / FEAT_SHARD,
            fs->p.top_k, fs->p.radius, fs->p.n_intervals, fs->p.per_interval, fs->p.n_bins, fs->p.n_logits,
            (unsigned long long)fs->p.seed);
    fputs("\"fields\":{"
          "\"index\":\"[latent, density (fires / positions), mean (over firing positions), max, fires, "
          "top activating token ids (distinct, best first), top logit token ids]\","
          "\"ex\":\"[position (window * ctx + t), activation, centre (index of the token in the context), "
          "context token ids, this latent's activation on each]\","
          "\"top\":\"the top_k examples, activation descending, ties to the earlier position\","
          "\"q\":\"per interval: [lo, hi, firing positions in it, examples (a uniform sample, by seeded key)]\","
          "\"h\":\"counts of firing activations in n_bins equal bins over (0, max]\","
          "\"hsvg\":\"the histogram h (lg: lg.h) as an SVG document (viz/hist.h)\","
          "\"sae_latents\":\"the SAE's latents; n_latents of them are shown, chosen by selection (null: all)\","
          "\"lg\":\"logit effects of the decoder direction (through W_out for MLP sites, GELU skipped; ln_f "
          "gain folded in): top/bot [token id, logit], h: counts of all logits in n_bins bins over [lo, hi]\"}};\n",
          f);
    return fclose(f) == 0 ? 0 : err_set("%s: write failed", path);
}

static int write_vocab(const char *path, const BPE *bpe, int V) {
    FILE *f = fopen(path, "w");
    if (!f) return err_set("%s: cannot write", path);
    fputs("FEAT_VOCAB = [", f);
    for (int v = 0; v < V; v++) {
        size_t n = 0;
        const char *s = bpe ? bpe_token_bytes(bpe, v, &n) : NULL;
        if (v) fputc(',', f);
        if (v % 64 == 0) fputc('\n', f);
        if (s) feat_json_string(f, s, n);
        else fprintf(f, "\"<%d>\"", v);
    }
    fputs("];\n", f);
    return fclose(f) == 0 ? 0 : err_set("%s: write failed", path);
}

static int write_index(const char *path, const FeatStats *fs, const FeatLogits *lg) {
    FILE *f = fopen(path, "w");
    if (!f) return err_set("%s: cannot write", path);
    fputs("FEAT_INDEX = [", f);
    int K = fs->p.top_k, W = fs->W;
    for (int i = 0; i < fs->n; i++) {
        double dens = fs->positions ? (double)fs->fires[i] / fs->positions : 0;
        double mean = fs->fires[i] ? fs->sum[i] / fs->fires[i] : 0;
        fprintf(f, "%s\n[%d,", i ? "," : "", fs->id[i]);
        js_num(f, dens), fputc(',', f), js_num(f, mean), fputc(',', f), js_num(f, fs->max[i]);
        fprintf(f, ",%lld,[", (long long)fs->fires[i]);
        /* up to 3 distinct tokens of the top examples, best first */
        int seen[3], ns = 0;
        for (int k = 0; k < fs->top_n[i] && ns < 3; k++) {
            int t = fs->top_tok[((size_t)i * K + k) * W + W / 2], dup = 0;
            for (int s = 0; s < ns; s++) dup |= seen[s] == t;
            if (!dup) fprintf(f, "%s%d", ns ? "," : "", t), seen[ns++] = t;
        }
        fputs("],[", f);
        for (int k = 0; k < 3 && k < lg->K; k++) fprintf(f, "%s%d", k ? "," : "", lg->top_id[(size_t)i * lg->K + k]);
        fputs("]]", f);
    }
    fputs("];\n", f);
    return fclose(f) == 0 ? 0 : err_set("%s: write failed", path);
}

static int write_shard(const char *path, int k, const FeatStats *fs, const FeatLogits *lg) {
    FILE *f = fopen(path, "w");
    if (!f) return err_set("%s: cannot write", path);
    int K = fs->p.top_k, W = fs->W, NQ = fs->p.n_intervals, P = fs->p.per_interval, NB = fs->p.n_bins;
    int i0 = k * FEAT_SHARD, i1 = i0 + FEAT_SHARD < fs->n ? i0 + FEAT_SHARD : fs->n;
    fprintf(f, "FEAT_SHARDS[%d] = [", k);
    for (int i = i0; i < i1; i++) {
        fprintf(f, "%s\n{\"i\":%d,\"top\":[", i > i0 ? "," : "", fs->id[i]);
        for (int e = 0; e < fs->top_n[i]; e++) {
            size_t x = (size_t)i * K + e;
            if (e) fputc(',', f);
            js_example(f, &fs->top[x], fs->top_tok + x * W, fs->top_ctx + x * W, W);
        }
        fputs("],\"q\":[", f);
        for (int q = 0; q < NQ; q++) {
            size_t c = (size_t)i * NQ + q;
            fputs(q ? ",[" : "[", f);
            js_num(f, (double)fs->max[i] * q / NQ), fputc(',', f), js_num(f, (double)fs->max[i] * (q + 1) / NQ);
            fprintf(f, ",%lld,[", (long long)fs->smp_seen[c]);
            for (int e = 0; e < fs->smp_n[c]; e++) {
                size_t x = c * P + e;
                if (e) fputc(',', f);
                js_example(f, &fs->smp[x], fs->smp_tok + x * W, fs->smp_ctx + x * W, W);
            }
            fputs("]]", f);
        }
        fputs("],\"h\":[", f);
        for (int b = 0; b < NB; b++) fprintf(f, "%s%u", b ? "," : "", fs->hist[(size_t)i * NB + b]);
        fputs("],\"hsvg\":", f);
        js_hist(f, fs->hist + (size_t)i * NB, NB, 0, fs->max[i], rgba(0.88f, 0.44f, 0, 1), "activation");
        fputs(",\"lg\":{\"top\":[", f);
        for (int e = 0; e < lg->K; e++) {
            fprintf(f, "%s[%d,", e ? "," : "", lg->top_id[(size_t)i * lg->K + e]);
            js_num(f, lg->top_val[(size_t)i * lg->K + e]), fputc(']', f);
        }
        fputs("],\"bot\":[", f);
        for (int e = 0; e < lg->K; e++) {
            fprintf(f, "%s[%d,", e ? "," : "", lg->bot_id[(size_t)i * lg->K + e]);
            js_num(f, lg->bot_val[(size_t)i * lg->K + e]), fputc(']', f);
        }
        fputs("],\"h\":[", f);
        for (int b = 0; b < lg->nb; b++) fprintf(f, "%s%u", b ? "," : "", lg->hist[(size_t)i * lg->nb + b]);
        fputs("],\"lo\":", f);
        js_num(f, lg->lo[i]), fputs(",\"hi\":", f), js_num(f, lg->hi[i]);
        fputs(",\"hsvg\":", f);
        js_hist(f, lg->hist + (size_t)i * lg->nb, lg->nb, lg->lo[i], lg->hi[i], rgba(0.27f, 0.47f, 0.67f, 1), "logit");
        fputs("}}", f);
    }
    fputs("];\n", f);
    return fclose(f) == 0 ? 0 : err_set("%s: write failed", path);
}

int feat_write_browser(const char *dir, const FeatStats *fs, const FeatLogits *lg, const BPE *bpe,
                       const FeatInfo *info) {
    if (lg->n != fs->n) return err_set("features: %d latents measured but %d logit tables", fs->n, lg->n);
    DirTxn t = {0};
    if (dir_begin(&t, dir) != 0) return -1;
    char *data = path_join(t.tmp, "data"), *p = NULL;
    int rc = path_mkdirs(data);
    int V = info->vocab;
    if (rc == 0) p = path_join(t.tmp, "index.html"), rc = file_write_atomic(p, FEAT_PAGE, strlen(FEAT_PAGE)), free(p);
    if (rc == 0) p = path_join(data, "meta.js"), rc = write_meta(p, fs, info), free(p);
    if (rc == 0) p = path_join(data, "vocab.js"), rc = write_vocab(p, bpe, V), free(p);
    if (rc == 0) p = path_join(data, "index.js"), rc = write_index(p, fs, lg), free(p);
    if (rc == 0 && info->neuronpedia > 0)
        p = path_join(t.tmp, "neuronpedia"), rc = feat_write_neuronpedia(p, fs, lg, bpe, info, info->neuronpedia), free(p);
    for (int k = 0; rc == 0 && k * FEAT_SHARD < fs->n; k++) {
        char name[32];
        snprintf(name, sizeof name, "s_%05d.js", k);
        p = path_join(data, name), rc = write_shard(p, k, fs, lg), free(p);
    }
    free(data);
    if (rc == 0) rc = dir_commit(&t);
    dir_abort(&t);
    return rc;
}
