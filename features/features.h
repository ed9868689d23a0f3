/*
 * features/features.h - what each latent of an SAE responds to, measured over
 * a corpus in a streaming pass, and written as an offline feature browser.
 *
 *   FeatParams p = feat_default_params();           // top 20, ±8 tokens, 10 x 5 samples, 50 bins
 *   FeatStats fs;
 *   if (feat_init(&fs, sae.d_sae, &p) != 0) return cli_fail();
 *   // both passes over the windows of a token file (data/data.h): for each window
 *   // gpt2_capture -> x (ctx, d_in), sae.encode -> F (ctx, d_sae), feat_add(&fs, F, ...)
 *   if (feat_collect_windows(&fs, &f, &sae, layer, site, &win, n_windows, NULL) != 0) return cli_fail();
 *   FeatLogits lg;
 *   if (feat_logits(&lg, &sae, &m, layer, site, &p) != 0) return cli_fail();
 *   if (feat_write_browser("out/features", &fs, &lg, &bpe, &info) != 0) return cli_fail();
 *   feat_logits_free(&lg);
 *   feat_free(&fs);
 *   // latents already computed (the pipeline's latents.npy), some of them only:
 *   FeatLatents z = {ids, Z, T, L, bounds, n_texts, n_ctx, sel, n_sel};
 *   if (feat_build("out/run/features", &m, &sae, &bpe, &z, &p, &info, NULL) != 0) return cli_fail();
 *
 * WHAT IS MEASURED, per latent i, over the positions counted (mask 1: the
 * <|endoftext|> positions are left out, their activations being unlike any
 * other token's; they still show as context). A latent "fires" at a position
 * when its activation a > 0 (every SAE the engine reads is non-negative).
 *   density      fires / positions counted
 *   mean, max    sum of a / fires (SAE-Vis's mean over firing positions), max a
 *   top windows  the top_k positions by activation, each with the tokens
 *                ±radius around it (within its window) and this latent's
 *                activation on each. Exact, with this TIE RULE: positions are
 *                ranked by activation descending, then by position ascending
 *                (an earlier position wins a tie). The state is a min-heap of
 *                top_k entries per latent whose root is the worst kept entry;
 *                positions arrive in increasing order, so a newcomer equal to
 *                the root loses, which is the rule.
 *   histogram    n_bins equal-width bins over (0, max]: a firing value a goes
 *                to bin min(floor(a * n_bins / max), n_bins - 1) (in double).
 *   samples      n_intervals equal-width intervals over (0, max], the same
 *                binning rule; per interval, per_interval positions drawn
 *                uniformly without replacement: the ones with the smallest
 *                key = feat_key(seed, i, position), a 64-bit hash ("reservoir
 *                sampling by random keys": the sample of a stream is the
 *                bottom-k of its keys, which any order of the stream gives
 *                alike, so the same seed gives the same samples, and a plain
 *                computation over the whole latent matrix can check it).
 * TWO PASSES. The histogram's bins and the intervals are fractions of the
 * max, which is known only at the end. Bins of the running max would need
 * values already dropped once the max grows (re-binning samples is not
 * uniform), so pass 1 computes density, mean, max and the top windows, and
 * pass 2 (the same windows again) the histogram and the samples against the
 * final max: exact, at the price of a second forward + encode.
 *
 * MEMORY. Every array is allocated by feat_init and sized by the number of
 * latents alone: per latent (top_k + n_intervals * per_interval) examples of
 * 2 radius + 1 tokens and activations, plus n_bins counts; nothing grows with
 * the corpus (feat_bytes says how much; 24,576 latents with the defaults:
 * about 225 MB).
 *
 * LOGIT EFFECTS (feat_logits). The decoder row W_dec[i] (d_in) is mapped to
 * the residual stream: for an MLP site (mlp_pre, mlp_post; width 4C) through
 * the MLP's output projection W_out = c_proj (4C, C), skipping the GELU for
 * mlp_pre as SAE-Vis does (the direct path of a pre-activation direction is
 * not linear); for a residual-width site (resid_*, attn_out, mlp_out) it is
 * already a residual direction. Then through the unembedding with ln_f's gain
 * folded in: logits (V) = (r * ln_f.w) @ W_U, W_U = lm_head^T (C, V); ln_f's
 * centring and scale are left out (a direction, not an activation). Kept: the
 * n_logits largest and smallest tokens, and a histogram of all V values over
 * [min, max] in n_bins bins.
 */
#ifndef FEATURES_FEATURES_H
#define FEATURES_FEATURES_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "data/data.h"
#include "eval/intervene.h"
#include "gpt2/gpt2.h"
#include "tokenizer/bpe.h"

#define FEAT_NO_TOKEN 0xFFFFu  /* a context slot outside the window (ids are kept as uint16:
                                  vocabularies up to 65,535 tokens, GPT-2's 50,257) */

typedef struct {
    int top_k;          /* top windows kept per latent (20) */
    int radius;         /* context tokens each side of a window's token (8) */
    int n_intervals;    /* quantile intervals (10) */
    int per_interval;   /* samples per interval (5) */
    int n_bins;         /* histogram bins, activations and logits (50) */
    int n_logits;       /* top and bottom tokens of the logit effects (10) */
    uint64_t seed;      /* the samples' keys (0) */
} FeatParams;

FeatParams feat_default_params(void);

/* One example: a position and this latent's activation there. Its context
 * (2 radius + 1 tokens and activations) sits in the FeatStats arrays at the
 * same index. */
typedef struct {
    float act;
    int64_t pos;     /* the position's index in the stream (window * ctx + t) */
    uint64_t key;    /* samples: the random key; top windows: 0 */
} FeatEx;

typedef struct {
    FeatParams p;
    int n;                 /* latents (d_sae) */
    int W;                 /* context width 2 radius + 1 */
    int pass;              /* 1 or 2 (feat_begin_pass) */
    int64_t positions;     /* positions counted in pass 1 */
    int64_t *fires;        /* (n) */
    double *sum;           /* (n) sum of the firing activations */
    float *max;            /* (n) */
    /* top windows: latent i's entries are top[i * top_k ..], top_n[i] in use,
       a min-heap while streaming, sorted best first by feat_finish */
    int *top_n;            /* (n) */
    FeatEx *top;           /* (n, top_k) */
    uint16_t *top_tok;     /* (n, top_k, W) token ids, FEAT_NO_TOKEN outside the window */
    float *top_ctx;        /* (n, top_k, W) the latent's activation on each */
    float *top_min;        /* (n) the heap root's act when full, else 0: the bar to clear */
    /* samples: latent i, interval q at (i * n_intervals + q) * per_interval */
    int *smp_n;            /* (n, n_intervals) */
    int64_t *smp_seen;     /* (n, n_intervals) firing positions that fell in the interval */
    FeatEx *smp;           /* (n, n_intervals, per_interval) sorted by key by feat_finish */
    uint16_t *smp_tok;     /* (n, n_intervals, per_interval, W) */
    float *smp_ctx;        /* (n, n_intervals, per_interval, W) */
    uint32_t *hist;        /* (n, n_bins) */
    int *id;               /* (n) the SAE latent row i stands for: i (feat_init), or the caller's
                              selection (feat_build); the sample keys and the browser use it */
} FeatStats;

/* Allocate the state for n latents (checked against the memory available).
 * Returns 0, or -1 with err_set() (bad parameters, too little memory). */
int feat_init(FeatStats *fs, int n, const FeatParams *p);
/* Bytes held by the state: a function of n and p only. */
size_t feat_bytes(const FeatStats *fs);
void feat_free(FeatStats *fs);
/* Start pass 1 or 2 (pass 2 after pass 1 over the same windows). */
void feat_begin_pass(FeatStats *fs, int pass);
/* Add one window: F (T, n) the latents of its T positions, tok (T) its token
 * ids, mask (T) 1 where the position counts (NULL: all), pos0 the stream
 * index of its first position (increasing from window to window). Threads
 * over latents (core/pool.h). */
void feat_add(FeatStats *fs, const float *F, const int32_t *tok, const uint8_t *mask, int T, int64_t pos0);
/* Sort the top windows (best first) and the samples (by key). Call once after pass 2. */
void feat_finish(FeatStats *fs);
/* The sample key of (latent, position): splitmix64 of seed, latent, position. */
uint64_t feat_key(uint64_t seed, int latent, int64_t pos);
/* The bin of a firing value a over (0, max] in nb bins (the rule above). */
int feat_bin(float a, float max, int nb);

/* ---- the passes (features/collect.c) ------------------------------------------ */

/* Where the time went (seconds, both passes). */
typedef struct {
    double forward, encode, upkeep, total;
    double logits, write;   /* feat_build: the logit effects, the browser's files */
    int64_t tokens;     /* tokens a pass */
} FeatTimes;

/* Both passes over the first nw windows of w (all if nw is larger): each
 * window through f (stopping after layer/site) and sae's encoder, then
 * feat_add, then feat_finish. fs from feat_init(sae->d_sae). tm may be NULL.
 * Returns 0, or -1 with err_set() (no windows, a bad token, widths that do
 * not match). */
int feat_collect_windows(FeatStats *fs, GPT2Forward *f, const EvalSAE *sae, int layer, GPT2Site site,
                         const DataWindows *w, size_t nw, FeatTimes *tm);
/* The same over ids (T) in memory, cut into windows of ctx from position 0
 * (the last T mod ctx tokens are not used; positions holding <|endoftext|>
 * are not counted): for a text the caller has already tokenised. */
int feat_collect_ids(FeatStats *fs, GPT2Forward *f, const EvalSAE *sae, int layer, GPT2Site site,
                     const int32_t *ids, long T, int ctx, FeatTimes *tm);

/* ---- logit effects ---------------------------------------------------------- */

typedef struct {
    int n, K, nb;          /* latents, tokens kept each side, histogram bins */
    int32_t *top_id;       /* (n, K) largest logits first */
    float *top_val;        /* (n, K) */
    int32_t *bot_id;       /* (n, K) smallest first */
    float *bot_val;        /* (n, K) */
    uint32_t *hist;        /* (n, nb) all V logits over [lo, hi] */
    float *lo, *hi;        /* (n) */
} FeatLogits;

/* The logit effects of every latent of sae, at site of m (see above). Ties in
 * the tables go to the smaller token id. Returns 0, or -1 with err_set() when
 * the SAE's width does not match the site. */
int feat_logits(FeatLogits *lg, const EvalSAE *sae, const GPT2Model *m, int layer, GPT2Site site,
                const FeatParams *p);
/* The same for the n latents sel (n) only: row r of lg is latent sel[r]
 * (sel NULL: all, n = d_sae). The cost is n (d_in C + C V) multiply-adds,
 * about 80 M a latent for GPT-2 small's MLP (the reason a small browser
 * computes them only for the latents it shows). */
int feat_logits_of(FeatLogits *lg, const EvalSAE *sae, const GPT2Model *m, int layer, GPT2Site site,
                   const FeatParams *p, const int *sel, int n);
/* The residual direction r (C) of a decoder row dec (d_in) at (layer, site):
 * dec @ W_out (the layer's c_proj) for the 4C sites, dec itself otherwise. */
void feat_resid_dir(float *r, const float *dec, const GPT2Model *m, int layer, GPT2Site site);
void feat_logits_free(FeatLogits *lg);

/* ---- the browser (features/browser.c) --------------------------------------- */

typedef struct {
    const char *model;     /* what the model is ("gpt2", "random GPT-2 small") */
    const char *hook;      /* the SAE's hook */
    const char *sae_dir;   /* where the SAE came from */
    const char *label;     /* NULL, or a banner (random weights) */
    const char *corpus;    /* what was read */
    int ctx;               /* tokens a window */
    int vocab;             /* V: the model's vocabulary (token ids < V) */
    double seconds;        /* the passes' time */
    int neuronpedia;       /* > 0: also write neuronpedia/batch-K.json, this many features a file */
    int sae_latents;       /* the SAE's d_sae when the browser shows only some (0: all) */
    const char *selection; /* NULL, or how the latents shown were chosen (shown on the page) */
} FeatInfo;

#define FEAT_SHARD 64      /* latents a data file */

/* Write the offline browser into the folder dir (and, when
 * info->neuronpedia > 0, its Neuronpedia export in dir/neuronpedia/) (replaced as a unit, see
 * core/dir.h): index.html, data/meta.js, data/vocab.js, data/index.js, and
 * data/s_NNNNN.js, one per FEAT_SHARD latents (FEAT_SHARDS[k] = {...}), loaded
 * on demand. Every file is plain JS assigning JSON to a variable, so the page
 * opens from file:// (no fetch, no server, no network). bpe gives the token
 * strings. Returns 0, or -1 with err_set(). */
int feat_write_browser(const char *dir, const FeatStats *fs, const FeatLogits *lg, const BPE *bpe,
                       const FeatInfo *info);

/* A small browser over latents already computed (what the pipeline does
 * for its own latents: no second forward or encode). */
typedef struct {
    const int32_t *ids;    /* (T) the tokens (borrowed) */
    const float *Z;        /* (T, L) the SAE's latents on them (borrowed) */
    long T;
    int L;
    const long *bounds;    /* (n_texts + 1): text k is tokens [bounds[k], bounds[k+1]) */
    int n_texts;
    int ctx;               /* each text is cut into windows of ctx from its first token (the last one
                              shorter), as the model saw it; a context never crosses a window */
    const int *sel;        /* (n_sel) the latents shown, row r = latent sel[r]; NULL: all L */
    int n_sel;
} FeatLatents;

/* Both passes over z's windows for the latents shown (fs from
 * feat_init(n_sel, or L); fs->id becomes sel), then feat_finish. Returns 0,
 * or -1 with err_set() (sizes that do not match, bad bounds or latents). */
int feat_collect_latents(FeatStats *fs, const FeatLatents *z);
/* Both passes over z's windows for the latents shown (positions holding
 * <|endoftext|> are not counted), their logit effects (feat_logits_of), and
 * the browser written into dir. info: model, hook, sae_dir, label, corpus,
 * selection (and seconds, 0 to keep the files the same from run to run)
 * from the caller; ctx, vocab and sae_latents are filled here. tm (may be
 * NULL) gets upkeep (both passes), logits and write.
 * Returns 0, or -1 with err_set(). */
int feat_build(const char *dir, const GPT2Model *m, const EvalSAE *sae, const BPE *bpe, const FeatLatents *z,
               const FeatParams *p, FeatInfo *info, FeatTimes *tm);

/* The pipeline's choice of latents to show, the rule the browser states:
 * first the latents in first (n_first: those its report draws), then the
 * rankings taken in turn (the 1st of each ranking, then the 2nd of each, ...),
 * skipping latents with density[i] <= 0 (never fired) and repeats, until cap
 * are chosen or the rankings run out. rankings: n_rank arrays of L latents.
 * Writes out (cap) and returns how many were chosen. */
int feat_pick(int *out, int cap, const int *first, int n_first, const int *const *rankings, int n_rank, int L,
              const float *density);

/* s[0..n) as a JSON string literal on f: escapes (also '<', U+2028, U+2029,
 * so it is safe in a script), and U+FFFD for each byte that does not start a
 * well-formed UTF-8 character (a GPT-2 token may hold half a character). */
void feat_json_string(FILE *f, const char *s, size_t n);

/* ---- Neuronpedia export (features/neuronpedia.c) ------------------------------
 * dir/batch-K.json for features [K*batch, (K+1)*batch), the layout of the
 * batch files SAELens' Neuronpedia runner writes (SAE-Vis's field names):
 *   model_id, hook_name, dataset   what was measured, on what
 *   n_tokens_in_prompt             tokens a window (ctx)
 *   n_prompts_total                windows read
 *   features: one object per latent:
 *     feature_index                the latent
 *     frac_nonzero                 density: firing positions / positions counted
 *     max_activation               its max
 *     pos_str, pos_values          the n_logits top logit effects: token strings, logits
 *     neg_str, neg_values          the n_logits bottom ones (most negative first)
 *     freq_hist_data_bar_heights   counts of the n_bins activation bins over (0, max]
 *     freq_hist_data_bar_values    their centres (parallel: as many as the heights)
 *     logits_hist_data_bar_heights counts of all V logits in n_bins bins over [lo, hi]
 *     logits_hist_data_bar_values  their centres
 *     activations                  the top examples (bin_min = bin_max = bin_contains = -1),
 *                                  then the quantile samples, interval by interval:
 *       bin_min, bin_max           the interval (0 .. max in n_intervals steps)
 *       bin_contains               the share of the firing positions that fall in it
 *       tokens, values             the context's token strings and this latent's activations
 *       qualifying_token_index     the example's token in tokens
 *       max_value                  its activation; position: its index in the stream
 * Token strings are the tokens' bytes as UTF-8 (a byte that is not UTF-8 on
 * its own becomes U+FFFD). Returns 0, or -1 with err_set(). */
int feat_write_neuronpedia(const char *dir, const FeatStats *fs, const FeatLogits *lg, const BPE *bpe,
                           const FeatInfo *info, int batch);

#endif
