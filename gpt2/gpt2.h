/*
 * gpt2/gpt2.h - the GPT-2 forward pass on the CPU, with hooks that observe or
 * modify the activation at any layer and site.
 *
 *   GPT2Model m;                                   // gpt2/model.h
 *   if (gpt2_model_load(&m, "weights/gpt2") != 0) return cli_fail();
 *   GPT2Forward f;
 *   gpt2_forward_init(&f, &m);                     // borrows m: keep it alive
 *   int layer = m.cfg.n_layer / 2;                 // the default capture
 *   float *acts = xmalloc((size_t)T * gpt2_site_width(&m.cfg, GPT2_MLP_PRE) * sizeof(float));
 *   if (gpt2_capture(&f, ids, T, layer, GPT2_MLP_PRE, acts) != 0)   // acts (T, 4C)
 *       return cli_fail();                         // bad ids, layer, ...
 *   gpt2_forward_free(&f);
 *
 * HOOKS. A hook is (layer, site, callback, user). During gpt2_forward the
 * callback gets the activation act (T, width) of that site, in the pass's own
 * buffer: it may read it (capture) or change it in place (splice an SAE
 * reconstruction, steer a latent), and the rest of the pass then uses the
 * changed values. Sites, per block l (x is the residual stream):
 *
 *   resid_pre   x                      (T, C)   input of block l
 *   attn_out    c_proj(attn(ln_1(x)))  (T, C)
 *   resid_mid   x + attn_out           (T, C)
 *   mlp_pre     c_fc(ln_2(resid_mid))  (T, 4C)  before GELU (the default capture)
 *   mlp_post    gelu(mlp_pre)          (T, 4C)
 *   mlp_out     c_proj(mlp_post)       (T, C)
 *   resid_post  resid_mid + mlp_out    (T, C)   = resid_pre of block l+1
 *
 * TransformerLens names are understood too: blocks.6.hook_resid_pre,
 * blocks.6.hook_attn_out, blocks.6.hook_resid_mid, blocks.6.mlp.hook_pre,
 * blocks.6.mlp.hook_post, blocks.6.hook_mlp_out, blocks.6.hook_resid_post.
 *
 * EARLY STOP. Without logits (logits == NULL) the pass stops right after the
 * deepest hooked site: a capture at layer 6 mlp_pre runs 6.5 blocks of GPT-2
 * small, no later layers, no ln_f, no logits.
 *
 * LONG TEXTS. GPT-2 sees at most n_ctx (1024) tokens. Longer inputs are
 * processed in consecutive NON-OVERLAPPING windows of n_ctx tokens (the last
 * one shorter); each window is an independent pass starting fresh at position
 * 0, so token n_ctx sees none of the tokens before it. Nothing is truncated:
 * hooks see every window (GPT2HookCtx.t0 says where it starts in the input)
 * and logits/captures cover all T rows.
 *
 * GENERATION. gpt2_forward_cached runs tokens at the positions after those
 * already in a KV cache (see below), through the same block code: the
 * prompt is one call, each new token another, and the hooks fire on each.
 *
 * Memory: weights are used in place (from the mmap); activations are
 * allocated by gpt2_forward the first time a window of that size is seen and
 * reused by later calls on the same GPT2Forward (buffers grow, never shrink).
 * A GPT2Forward is not thread-safe; use one per thread.
 */
#ifndef GPT2_GPT2_H
#define GPT2_GPT2_H

#include <stddef.h>
#include <stdint.h>

#include "gpt2/model.h"

typedef enum {
    GPT2_RESID_PRE,
    GPT2_ATTN_OUT,
    GPT2_RESID_MID,
    GPT2_MLP_PRE,
    GPT2_MLP_POST,
    GPT2_MLP_OUT,
    GPT2_RESID_POST,
    GPT2_NSITES
} GPT2Site;

/* "mlp_pre", ... (NULL for an invalid site). */
const char *gpt2_site_name(GPT2Site site);
/* Width of a site's activation: 4C for mlp_pre/mlp_post, else C. */
int gpt2_site_width(const GPT2Config *cfg, GPT2Site site);
/* Parse a site name: a short name ("mlp_pre"; *layer is left unchanged) or a
 * TransformerLens name ("blocks.6.mlp.hook_pre"; sets *layer = 6). Does not
 * check the layer against a model (gpt2_forward does). Returns 0, or -1 with
 * err_set() listing the valid names. */
int gpt2_site_parse(const char *name, int *layer, GPT2Site *site);
/* Write the TransformerLens name of (layer, site) into buf ("blocks.6.mlp.hook_pre"). */
void gpt2_site_tl_name(char *buf, size_t cap, int layer, GPT2Site site);

/* What a hook callback is told about the activation it gets. */
typedef struct {
    int layer;
    GPT2Site site;
    int t0;     /* index in the whole input of act's first row (window start) */
    int T;      /* rows in this window (<= n_ctx) */
    int width;  /* C or 4C */
} GPT2HookCtx;

/* act (T, width), row-major, may be modified in place. Return 0 to go on;
 * non-zero aborts the pass and gpt2_forward returns -1 (set err_set() first
 * to say why). */
typedef int (*GPT2HookFn)(void *user, const GPT2HookCtx *ctx, float *act);

typedef struct {
    int layer;
    GPT2Site site;
    GPT2HookFn fn;
    void *user;
} GPT2Hook;

/* The pass's state: the model (borrowed), the hooks, and the activation
 * buffers, reused from call to call. Fields are for reading (and for tests). */
typedef struct {
    const GPT2Model *m;  /* borrowed */
    GPT2Hook *hooks;     /* (n_hooks), run in registration order at each site */
    int n_hooks, cap_hooks;
    int use_ref;         /* 1: the plain reference ops (slow; tests compare the two) */
    int T_alloc;         /* rows the buffers below hold */
    /* activations of the current window; x is the residual stream */
    float *x;       /* (T, C)  */
    float *ln;      /* (T, C)  ln_1 / ln_2 / ln_f output */
    float *qkv;     /* (T, 3C) */
    float *atty;    /* (T, C)  attention output before c_proj */
    float *att;     /* (NH, Tq, P) attention probabilities of one window (scratch; P = Tq without a KV cache) */
    size_t att_alloc; /* floats att holds */
    float *tmp;     /* (T, C)  attn_out / mlp_out */
    float *h;       /* (T, 4C) mlp_pre, then mlp_post */
} GPT2Forward;

/* Bind to a model (borrowed: it must outlive f). Allocates nothing yet. */
void gpt2_forward_init(GPT2Forward *f, const GPT2Model *m);
/* Free the buffers and hooks. On a zeroed struct, a no-op. */
void gpt2_forward_free(GPT2Forward *f);
/* Register a hook at (layer, site). Returns 0, or -1 with err_set() if the
 * layer or site does not exist in this model. */
int gpt2_forward_add_hook(GPT2Forward *f, int layer, GPT2Site site, GPT2HookFn fn, void *user);
/* Remove every hook. */
void gpt2_forward_clear_hooks(GPT2Forward *f);

/* Run the model on ids (T) (any T >= 1: windows of n_ctx, see above), calling
 * the hooks. logits (T, V) is written if non-NULL; if NULL, the pass stops
 * after the deepest hooked site. Returns 0, or -1 with err_set(): empty
 * input, an id outside [0, V), or a hook that failed. */
int gpt2_forward(GPT2Forward *f, const int32_t *ids, int T, float *logits);

/* A hook that stacks each window's rows into user, a float array (T, width)
 * of the whole input: row t0 + i of the window goes to row t0 + i. (What
 * gpt2_capture registers.) */
int gpt2_hook_copy(void *user, const GPT2HookCtx *c, float *act);
/* B independent windows ids (B, T), 1 <= T <= n_ctx, each from position 0,
 * as one batch: the row-wise steps (LayerNorm, matmuls, GELU) see B * T rows,
 * attention stays within each window. Capture only: the pass stops after
 * the deepest hooked site, and the hooks get act (B * T, width) with
 * GPT2HookCtx.T = B * T, t0 = 0. Returns 0, or -1 with err_set() (an id
 * outside the vocabulary, T > n_ctx, a hook that failed). */
int gpt2_forward_batch(GPT2Forward *f, const int32_t *ids, int B, int T);

/* Resume one window after (layer, site): run the rest of the model as if the
 * site's hooks had just left act (T, width) there, and write logits (T, V).
 * The layers below are not recomputed, so a clean pass can be followed by
 * spliced passes that cost only the layers above the site (eval/). resid
 * (T, C) is the residual stream as the site's hooks saw it (GPT2Forward.x
 * then: resid_pre for attn_out, resid_mid for the mlp_* sites); it is not
 * read (may be NULL) for the resid_* sites, where act is the stream. Hooks
 * at later sites run (with t0 = 0); those at (layer, site) do not. T <= n_ctx
 * (one window). Returns 0, or -1 with err_set(). */
int gpt2_forward_resume(GPT2Forward *f, int layer, GPT2Site site, const float *resid, const float *act, int T,
                        float *logits);

/* Capture (layer, site) for ids (T), any T, into out (T, width): the hooks
 * already registered on f run too; the capture hook is removed on return.
 * Stops after the site. Returns 0, or -1 with err_set(). */
int gpt2_capture(GPT2Forward *f, const int32_t *ids, int T, int layer, GPT2Site site, float *out);

/* ---- KV CACHE ---------------------------------------------------------------
 * The keys and values of every block for the positions run so far, so that
 * generation runs each new token alone instead of the whole text again:
 *
 *   GPT2KVCache kv;
 *   if (gpt2_kv_init(&kv, &m.cfg) != 0) return -1;          // empty (len 0)
 *   gpt2_forward_cached(&f, &kv, prompt, T, logits, 1);     // positions 0..T-1; logits (V) of the last
 *   gpt2_forward_cached(&f, &kv, &next, 1, logits, 1);      // position T, attending to 0..T
 *   gpt2_kv_free(&kv);
 *
 * A cached call runs ids (T) at positions kv->len .. kv->len+T-1 through the
 * same blocks as gpt2_forward; in each block the new keys and values are
 * appended to the cache and the new tokens attend to every cached position
 * and to their own (causally). Its logits equal the rows of a full pass over
 * the whole text (tests/test_generate.c holds them within 1e-5). Hooks fire
 * on the new rows only: act is (T, width), ctx.t0 = kv->len (the position of
 * the first row). There are no windows: kv->len + T may not pass n_ctx. */
typedef struct {
    int L, C, n_ctx;  /* the model's shape (set by gpt2_kv_init) */
    int len;          /* positions held: 0 .. len-1 */
    float *k;         /* (L, n_ctx, C) keys, the NH heads side by side as in qkv */
    float *v;         /* (L, n_ctx, C) values */
} GPT2KVCache;

/* An empty cache for the model cfg: 2 L n_ctx C floats (75 MB for GPT-2
 * small), owned. Returns 0, or -1 with err_set() if memory is short. */
int gpt2_kv_init(GPT2KVCache *kv, const GPT2Config *cfg);
/* Free the cache. On a zeroed one, a no-op. */
void gpt2_kv_free(GPT2KVCache *kv);
/* dst (made by gpt2_kv_init for the same model) = src: its first src->len positions. */
void gpt2_kv_copy(GPT2KVCache *dst, const GPT2KVCache *src);
/* Run ids (T) at positions kv->len .. (see above), calling the hooks, and
 * advance kv->len by T. logits, if non-NULL: (T, V), or (V) for the last row
 * only when last_only (what generation needs: the rest are skipped). Returns
 * 0, or -1 with err_set() (kv->len unchanged): empty input, an id outside
 * [0, V), kv->len + T > n_ctx, a cache made for another shape, a failed hook. */
int gpt2_forward_cached(GPT2Forward *f, GPT2KVCache *kv, const int32_t *ids, int T, float *logits, int last_only);

/* ---- STREAMING CAPTURE ------------------------------------------------------
 * A stream runs token sequences of any length through the model in windows of
 * n_ctx and hands the rows of each window, at each requested site, to the
 * caller's sink as soon as the window is done: memory is one window, not the
 * corpus. Several sites may be captured in one pass (one sink each), and the
 * logits too. Successive gpt2_stream_run calls (e.g. one per text of a
 * corpus) continue the stream's row count: GPT2Rows.t0 is the first row's
 * index in everything the stream has run, so the rows of all calls stack.
 *
 *   GPT2Stream s;
 *   gpt2_stream_init(&s, &f);                               // f: a GPT2Forward (borrowed)
 *   if (gpt2_stream_add(&s, 6, GPT2_MLP_PRE, write_rows, &npy) != 0) return -1;
 *   for (int i = 0; i < n_texts; i++)
 *       if (gpt2_stream_run(&s, text_ids[i], text_T[i]) != 0) return -1;
 *   gpt2_stream_free(&s);                                   // removes its hooks from f
 *
 * Without a logits sink the pass stops after the deepest captured site. */

#define GPT2_LOGITS GPT2_NSITES   /* GPT2Rows.site of the logits (width V) */

/* Where a batch of rows comes from. */
typedef struct {
    int layer;      /* block (-1 for the logits) */
    GPT2Site site;  /* or GPT2_LOGITS */
    long t0;        /* the first row's index in the stream (all tokens run so far) */
    int T;          /* rows (one window: <= n_ctx) */
    int width;      /* floats per row: C, 4C, or V for the logits */
} GPT2Rows;

/* rows (T, width), borrowed for the call. Return 0 to go on; non-zero stops
 * the stream (set err_set() first to say why). */
typedef int (*GPT2RowSink)(void *user, const GPT2Rows *r, const float *rows);

/* The usual sink: append the rows to the NpyWriter (weights/npy.h, begun
 * with the stream's total shape) passed as user. */
int gpt2_rows_to_npy(void *user, const GPT2Rows *r, const float *rows);

typedef struct GPT2StreamSite GPT2StreamSite;   /* one site and its sink (stream.c) */

typedef struct {
    GPT2Forward *f;          /* borrowed */
    GPT2StreamSite **sites;  /* (n_sites) each registered as a hook on f */
    int n_sites;
    GPT2RowSink logits_fn;   /* NULL: no logits (early stop) */
    void *logits_user;
    float *logits;           /* (n_ctx, V) one window's logits, when logits_fn */
    long t_done;             /* rows handed out so far */
    long t_window;           /* the current window's first row in the stream */
} GPT2Stream;

/* Bind to f (borrowed: it must outlive the stream). Allocates nothing yet. */
void gpt2_stream_init(GPT2Stream *s, GPT2Forward *f);
/* Capture (layer, site) into fn. Returns 0, or -1 with err_set() if the layer
 * or site does not exist in this model. */
int gpt2_stream_add(GPT2Stream *s, int layer, GPT2Site site, GPT2RowSink fn, void *user);
/* Also run to the end and hand each window's logits (T, V) to fn. */
void gpt2_stream_add_logits(GPT2Stream *s, GPT2RowSink fn, void *user);
/* Run ids (T), T >= 1, window by window (n_ctx tokens each, from position 0),
 * calling the sinks. Returns 0, or -1 with err_set() (bad ids, a sink that
 * stopped). */
int gpt2_stream_run(GPT2Stream *s, const int32_t *ids, long T);
/* Remove the stream's hooks from f and free its buffers. On a zeroed stream, a no-op. */
void gpt2_stream_free(GPT2Stream *s);

#endif
