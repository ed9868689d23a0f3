/*
 * features/collect.c - the two streaming passes: each window through the
 * model (stopping after the SAE's site) and the SAE's encoder, its latents
 * handed to feat_add. Windows come from a token file (data/data.h) or from
 * token ids in memory (the pipeline's text).
 */
#include "features/features.h"

#include "core/util.h"

#include <stdlib.h>
#include <string.h>

/* Window w of the source: ids (ctx) and mask (ctx). */
typedef int (*WindowFn)(const void *src, size_t w, int32_t *ids, uint8_t *mask);

typedef struct { const int32_t *ids; int ctx; } IdsSrc;

static int ids_window(const void *vs, size_t w, int32_t *ids, uint8_t *mask) {
    const IdsSrc *s = vs;
    memcpy(ids, s->ids + w * s->ctx, sizeof(int32_t) * s->ctx);
    for (int t = 0; t < s->ctx; t++) mask[t] = ids[t] != DATA_EOT;
    return 0;
}

static int file_window(const void *vs, size_t w, int32_t *ids, uint8_t *mask) {
    return data_windows_get(vs, w, ids, mask);
}

static int collect(FeatStats *fs, GPT2Forward *f, const EvalSAE *sae, int layer, GPT2Site site, WindowFn get,
                   const void *src, size_t nw, int ctx, FeatTimes *tm) {
    if (nw == 0) return err_set("features: no windows to read (the token set is empty or shorter than one window)");
    if (sae->d_sae != fs->n) return err_set("features: the SAE has %d latents, the statistics %d", sae->d_sae, fs->n);
    if (gpt2_site_width(&f->m->cfg, site) != sae->d_in)
        return err_set("features: the SAE's d_in %d is not the width %d of %s", sae->d_in,
                       gpt2_site_width(&f->m->cfg, site), gpt2_site_name(site));
    if ((unsigned)f->m->cfg.vocab_size > FEAT_NO_TOKEN)
        return err_set("features: a vocabulary of %d tokens; contexts keep ids below %u", f->m->cfg.vocab_size,
                       FEAT_NO_TOKEN);
    FeatTimes t = {0};
    int32_t *ids = xmalloc(sizeof(int32_t) * ctx);
    uint8_t *mask = xmalloc((size_t)ctx);
    float *x = xmalloc(sizeof(float) * ctx * sae->d_in);          /* (ctx, d_in) */
    float *F = xmalloc(sizeof(float) * ctx * sae->d_sae);         /* (ctx, d_sae) */
    int rc = 0;
    double t_all = time_now();
    for (int pass = 1; pass <= 2 && rc == 0; pass++) {
        feat_begin_pass(fs, pass);
        for (size_t w = 0; w < nw; w++) {
            double t0 = time_now();
            if (get(src, w, ids, mask) != 0 || gpt2_capture(f, ids, ctx, layer, site, x) != 0) { rc = -1; break; }
            double t1 = time_now();
            sae->encode(sae, x, ctx, F);
            double t2 = time_now();
            feat_add(fs, F, ids, mask, ctx, (int64_t)w * ctx);
            double t3 = time_now();
            t.forward += t1 - t0, t.encode += t2 - t1, t.upkeep += t3 - t2;
        }
    }
    if (rc == 0) feat_finish(fs);
    t.total = time_now() - t_all;
    t.tokens = (int64_t)nw * ctx;
    if (tm) *tm = t;
    free(ids), free(mask), free(x), free(F);
    return rc;
}

int feat_collect_windows(FeatStats *fs, GPT2Forward *f, const EvalSAE *sae, int layer, GPT2Site site,
                         const DataWindows *w, size_t nw, FeatTimes *tm) {
    if (nw > data_windows_count(w)) nw = data_windows_count(w);
    return collect(fs, f, sae, layer, site, file_window, w, nw, w->ctx, tm);
}

int feat_collect_ids(FeatStats *fs, GPT2Forward *f, const EvalSAE *sae, int layer, GPT2Site site,
                     const int32_t *ids, long T, int ctx, FeatTimes *tm) {
    if (ctx < 1 || ctx > f->m->cfg.n_ctx)
        return err_set("features: windows of %d tokens; this model takes 1 to %d", ctx, f->m->cfg.n_ctx);
    IdsSrc s = {ids, ctx};
    return collect(fs, f, sae, layer, site, ids_window, &s, T > 0 ? (size_t)(T / ctx) : 0, ctx, tm);
}

int feat_collect_latents(FeatStats *fs, const FeatLatents *z) {
    int n = fs->n;
    if (n != (z->sel ? z->n_sel : z->L))
        return err_set("features: the statistics hold %d latents, %d are asked", n, z->sel ? z->n_sel : z->L);
    if (z->ctx < 1 || z->n_texts < 1 || z->bounds[0] != 0 || z->bounds[z->n_texts] != z->T)
        return err_set("features: bad windows (ctx %d, %d texts over %ld tokens)", z->ctx, z->n_texts, z->T);
    for (int r = 0; z->sel && r < n; r++) {
        if (z->sel[r] < 0 || z->sel[r] >= z->L) return err_set("features: latent %d is not in the SAE", z->sel[r]);
        fs->id[r] = z->sel[r];
    }
    float *F = xmalloc(sizeof(float) * (size_t)z->ctx * n);   /* (ctx, n_sel) */
    uint8_t *mask = xmalloc((size_t)z->ctx);
    for (int pass = 1; pass <= 2; pass++) {
        feat_begin_pass(fs, pass);
        for (int k = 0; k < z->n_texts; k++)
            for (long t0 = z->bounds[k]; t0 < z->bounds[k + 1]; t0 += z->ctx) {
                int Tw = (int)(z->bounds[k + 1] - t0 < z->ctx ? z->bounds[k + 1] - t0 : z->ctx);
                for (int t = 0; t < Tw; t++) {
                    const float *row = z->Z + (size_t)(t0 + t) * z->L;
                    for (int r = 0; r < n; r++) F[(size_t)t * n + r] = row[fs->id[r]];
                    mask[t] = z->ids[t0 + t] != DATA_EOT;
                }
                feat_add(fs, F, z->ids + t0, mask, Tw, t0);
            }
    }
    feat_finish(fs);
    free(F), free(mask);
    return 0;
}

int feat_build(const char *dir, const GPT2Model *m, const EvalSAE *sae, const BPE *bpe, const FeatLatents *z,
               const FeatParams *p, FeatInfo *info, FeatTimes *tm) {
    int layer, rc;
    GPT2Site site;
    if (eval_sae_check(sae, m, &layer, &site) != 0) return -1;
    if (z->L != sae->d_sae) return err_set("features: %d latents given for an SAE of %d", z->L, sae->d_sae);
    int n = z->sel ? z->n_sel : z->L;
    FeatTimes t = {0};
    double t0 = time_now();
    FeatStats fs;
    FeatLogits lg = {0};
    if (feat_init(&fs, n, p) != 0) return -1;
    rc = feat_collect_latents(&fs, z);
    t.upkeep = time_now() - t0;
    double t1 = time_now();
    if (rc == 0) rc = feat_logits_of(&lg, sae, m, layer, site, p, fs.id, n);
    t.logits = time_now() - t1;
    if (rc == 0) {
        info->ctx = z->ctx, info->vocab = m->cfg.vocab_size;   /* not seconds: the same run writes the same files */
        info->sae_latents = n < z->L ? z->L : 0;
        double t2 = time_now();
        rc = feat_write_browser(dir, &fs, &lg, bpe, info);
        t.write = time_now() - t2;
    }
    t.total = time_now() - t0;
    t.tokens = z->T;
    if (tm) *tm = t;
    feat_logits_free(&lg);
    feat_free(&fs);
    return rc;
}

int feat_pick(int *out, int cap, const int *first, int n_first, const int *const *rankings, int n_rank, int L,
              const float *density) {
    int n = 0;
    uint8_t *taken = xcalloc((size_t)L, 1);   /* (L) */
    for (int k = 0; k < n_first && n < cap; k++) {
        int i = first[k];
        if (i >= 0 && i < L && !taken[i] && density[i] > 0) taken[i] = 1, out[n++] = i;
    }
    for (int place = 0; place < L && n < cap; place++)
        for (int r = 0; r < n_rank && n < cap; r++) {
            int i = rankings[r][place];
            if (i >= 0 && i < L && !taken[i] && density[i] > 0) taken[i] = 1, out[n++] = i;
        }
    free(taken);
    return n;
}
