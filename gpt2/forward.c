/*
 * gpt2/forward.c - GPT-2's forward pass with hooks, windows for long inputs,
 * the KV cache of generation, and the capture helper. See gpt2.h for the API
 * and ops.h for each step. The plain pass and the cached pass (a prompt, then
 * one token at a time) run the same block code, forward_window.
 */
#include "gpt2/gpt2.h"
#include "gpt2/ops.h"
#include "core/util.h"

#include <stdlib.h>
#include <string.h>

/* ---- site names ---- */

static const struct {
    const char *name; /* short name */
    const char *tl;   /* TransformerLens suffix after "blocks.N." */
} SITES[GPT2_NSITES] = {
    [GPT2_RESID_PRE] = {"resid_pre", "hook_resid_pre"},
    [GPT2_ATTN_OUT] = {"attn_out", "hook_attn_out"},
    [GPT2_RESID_MID] = {"resid_mid", "hook_resid_mid"},
    [GPT2_MLP_PRE] = {"mlp_pre", "mlp.hook_pre"},
    [GPT2_MLP_POST] = {"mlp_post", "mlp.hook_post"},
    [GPT2_MLP_OUT] = {"mlp_out", "hook_mlp_out"},
    [GPT2_RESID_POST] = {"resid_post", "hook_resid_post"},
};

const char *gpt2_site_name(GPT2Site site) {
    return (unsigned)site < GPT2_NSITES ? SITES[site].name : NULL;
}

int gpt2_site_width(const GPT2Config *cfg, GPT2Site site) {
    return site == GPT2_MLP_PRE || site == GPT2_MLP_POST ? 4 * cfg->n_embd : cfg->n_embd;
}

void gpt2_site_tl_name(char *buf, size_t cap, int layer, GPT2Site site) {
    snprintf(buf, cap, "blocks.%d.%s", layer, (unsigned)site < GPT2_NSITES ? SITES[site].tl : "?");
}

int gpt2_site_parse(const char *name, int *layer, GPT2Site *site) {
    for (int s = 0; s < GPT2_NSITES; s++)
        if (strcmp(name, SITES[s].name) == 0) {
            *site = (GPT2Site)s;
            return 0;
        }
    if (strncmp(name, "blocks.", 7) == 0) {
        const char *p = name + 7;
        long l = 0;
        int nd = 0;
        while (*p >= '0' && *p <= '9' && nd < 6) l = l * 10 + (*p++ - '0'), nd++;
        if (nd > 0 && nd < 6 && *p == '.')
            for (int s = 0; s < GPT2_NSITES; s++)
                if (strcmp(p + 1, SITES[s].tl) == 0) {
                    *site = (GPT2Site)s;
                    *layer = (int)l;
                    return 0;
                }
    }
    return err_set("unknown site '%s': use resid_pre, attn_out, resid_mid, mlp_pre, mlp_post, mlp_out or "
                   "resid_post (with --layer), or a TransformerLens name such as blocks.6.mlp.hook_pre",
                   name);
}

/* ---- init / free / hooks ---- */

void gpt2_forward_init(GPT2Forward *f, const GPT2Model *m) {
    memset(f, 0, sizeof *f);
    f->m = m;
}

static void free_buffers(GPT2Forward *f) {
    free(f->x);
    free(f->ln);
    free(f->qkv);
    free(f->atty);
    free(f->att);
    free(f->tmp);
    free(f->h);
    f->x = f->ln = f->qkv = f->atty = f->att = f->tmp = f->h = NULL;
    f->T_alloc = 0;
    f->att_alloc = 0;
}

void gpt2_forward_free(GPT2Forward *f) {
    if (!f) return;
    free_buffers(f);
    free(f->hooks);
    memset(f, 0, sizeof *f);
}

int gpt2_forward_add_hook(GPT2Forward *f, int layer, GPT2Site site, GPT2HookFn fn, void *user) {
    const GPT2Config *c = &f->m->cfg;
    if (layer < 0 || layer >= c->n_layer)
        return err_set("layer %d does not exist: this model (%s) has layers 0..%d", layer, c->name,
                       c->n_layer - 1);
    if ((unsigned)site >= GPT2_NSITES) return err_set("site %d does not exist", (int)site);
    if (f->n_hooks == f->cap_hooks) {
        f->cap_hooks = f->cap_hooks ? 2 * f->cap_hooks : 4;
        f->hooks = xrealloc(f->hooks, (size_t)f->cap_hooks * sizeof *f->hooks);
    }
    f->hooks[f->n_hooks++] = (GPT2Hook){layer, site, fn, user};
    return 0;
}

void gpt2_forward_clear_hooks(GPT2Forward *f) { f->n_hooks = 0; }

/* ---- the pass ---- */

/* The ops in use: the references, or the fast paths. */
typedef struct {
    void (*layernorm)(float *, const float *, const float *, const float *, int, int, float);
    void (*matmul)(float *, const float *, const float *, const float *, int, int, int);
    void (*logits)(float *, const float *, const float *, int, int, int);
    void (*attention)(float *, float *, const float *, int, int, int);
    void (*attention_kv)(float *, float *, const float *, const float *, const float *, int, int, int, int);
    void (*gelu)(float *, const float *, long);
    void (*residual)(float *, const float *, const float *, long);
} Ops;

static const Ops OPS_REF = {layernorm_forward,    matmul_forward, logits_forward,  attention_forward,
                            attention_forward_kv, gelu_forward,   residual_forward};
static const Ops OPS_FAST = {layernorm_forward_fast,    matmul_forward_fast, logits_forward_fast,  attention_forward_fast,
                             attention_forward_kv_fast, gelu_forward_fast,   residual_forward_fast};

/* Grow the activation buffers to hold T rows, and the attention scratch for
 * one window of Tq query rows attending to P positions (P == Tq without a
 * cache; T == B * Tq for a batch of B windows); allocated once per size. */
static void ensure_buffers(GPT2Forward *f, int T, int Tq, int P) {
    const GPT2Config *c = &f->m->cfg;
    size_t C = (size_t)c->n_embd, NH = (size_t)c->n_head, t = (size_t)T;
    if (T > f->T_alloc) {
        free_buffers(f);
        f->x = xmalloc_aligned(t * C * sizeof(float));
        f->ln = xmalloc_aligned(t * C * sizeof(float));
        f->qkv = xmalloc_aligned(t * 3 * C * sizeof(float));
        f->atty = xmalloc_aligned(t * C * sizeof(float));
        f->tmp = xmalloc_aligned(t * C * sizeof(float));
        f->h = xmalloc_aligned(t * 4 * C * sizeof(float));
        f->T_alloc = T;
    }
    size_t na = NH * (size_t)Tq * (size_t)P;
    if (na > f->att_alloc) {
        free(f->att);
        f->att = xmalloc_aligned(na * sizeof(float));
        f->att_alloc = na;
    }
}

/* Run the hooks registered at (l, s) on act (T, width). Returns 0 or -1. */
static int run_hooks(GPT2Forward *f, int l, GPT2Site s, float *act, int t0, int T) {
    for (int i = 0; i < f->n_hooks; i++) {
        GPT2Hook *h = &f->hooks[i];
        if (h->layer != l || h->site != s) continue;
        GPT2HookCtx ctx = {l, s, t0, T, gpt2_site_width(&f->m->cfg, s)};
        err_clear();
        if (h->fn(h->user, &ctx, act) != 0) {
            if (!err_get()[0]) err_set("a hook at layer %d %s stopped the pass", l, SITES[s].name);
            return -1;
        }
    }
    return 0;
}

/* B windows: ids (B, T), each at positions p0..p0+T-1 (<= n_ctx); the
 * row-wise steps see all B * T rows at once, attention stays within each
 * window. t0 is the first row's index in the input (the hooks' ctx.t0). `last` = layer * GPT2_NSITES +
 * site of the deepest hook, or -1 to run everything and write logits (T, V),
 * or only the last row's (V) when last_only. `from` = layer * GPT2_NSITES +
 * site to resume right after that site (its activation and the residual
 * stream already in the buffers: gpt2_forward_resume), or -1 to start at the
 * embeddings. Without a cache (kv NULL) p0 is 0 and the tokens attend to each
 * other; with one, p0 = kv->len, each block appends the window's keys and
 * values to the cache and the tokens attend to every cached position too (the
 * caller advances kv->len; a cache takes one window, B = 1). */
static int forward_window(GPT2Forward *f, const int32_t *ids, int B, int T, int t0, int last, int from,
                          float *logits, GPT2KVCache *kv, int last_only) {
    const GPT2Model *m = f->m;
    const GPT2Config *c = &m->cfg;
    const Ops *op = f->use_ref ? &OPS_REF : &OPS_FAST;
    int C = c->n_embd, NH = c->n_head, L = c->n_layer, Tw = T;
    T = B * Tw; /* rows */
    long TC = (long)T * C;
    float *x = f->x, *ln = f->ln, *tmp = f->tmp, *h = f->h;
    int p0 = kv ? kv->len : 0;

/* call the hooks at site S of layer l on ACT; stop if it was the last one wanted */
#define SITE(S, ACT)                                                                   \
    do {                                                                               \
        if (run_hooks(f, l, S, ACT, t0, T) != 0) return -1;                            \
        if (l * GPT2_NSITES + (S) == last) return 0;                                   \
    } while (0);                                                                       \
    after_##S:

    /* token + position embeddings (positions p0.. in each window): x (T, C) */
    if (from < 0)
        for (int b = 0; b < B; b++)
            encoder_forward(x + (long)b * Tw * C, ids + (long)b * Tw, m->w.wte, m->w.wpe + (long)p0 * C, Tw, C);
    for (int l = from < 0 ? 0 : from / GPT2_NSITES; l < L; l++) {
        const GPT2Layer *w = &m->w.h[l];
        /* resuming: jump to the step right after the site (once) */
        if (from >= 0) {
            GPT2Site s = (GPT2Site)(from % GPT2_NSITES);
            from = -1;
            switch (s) {
            case GPT2_RESID_PRE: goto after_GPT2_RESID_PRE;
            case GPT2_ATTN_OUT: goto after_GPT2_ATTN_OUT;
            case GPT2_RESID_MID: goto after_GPT2_RESID_MID;
            case GPT2_MLP_PRE: goto after_GPT2_MLP_PRE;
            case GPT2_MLP_POST: goto after_GPT2_MLP_POST;
            case GPT2_MLP_OUT: goto after_GPT2_MLP_OUT;
            default: goto after_GPT2_RESID_POST;
            }
        }
        SITE(GPT2_RESID_PRE, x);
        /* attention: ln_1, q k v for every token, causal attention, c_proj */
        op->layernorm(ln, x, w->ln1w, w->ln1b, T, C, c->ln_eps);
        op->matmul(f->qkv, ln, w->qkvw, w->qkvb, T, C, 3 * C);
        if (kv) {
            /* append this window's keys and values (T, C) at p0, attend to positions 0..p0+T-1 */
            float *kl = kv->k + (long)l * kv->n_ctx * C, *vl = kv->v + (long)l * kv->n_ctx * C;
            for (int t = 0; t < T; t++) {
                memcpy(kl + (long)(p0 + t) * C, f->qkv + (long)t * 3 * C + C, (size_t)C * sizeof(float));
                memcpy(vl + (long)(p0 + t) * C, f->qkv + (long)t * 3 * C + 2 * C, (size_t)C * sizeof(float));
            }
            op->attention_kv(f->atty, f->att, f->qkv, kl, vl, T, p0 + T, C, NH);
        } else
            for (int b = 0; b < B; b++)   /* each window attends to itself only; f->att: one window's scratch */
                op->attention(f->atty + (long)b * Tw * C, f->att, f->qkv + (long)b * Tw * 3 * C, Tw, C, NH);
        op->matmul(tmp, f->atty, w->attprojw, w->attprojb, T, C, C);
        SITE(GPT2_ATTN_OUT, tmp);
        op->residual(x, x, tmp, TC);
        SITE(GPT2_RESID_MID, x);
        /* MLP: ln_2, c_fc to 4C, GELU, c_proj back to C */
        op->layernorm(ln, x, w->ln2w, w->ln2b, T, C, c->ln_eps);
        op->matmul(h, ln, w->fcw, w->fcb, T, C, 4 * C);
        SITE(GPT2_MLP_PRE, h);
        op->gelu(h, h, 4 * TC);
        SITE(GPT2_MLP_POST, h);
        op->matmul(tmp, h, w->fcprojw, w->fcprojb, T, 4 * C, C);
        SITE(GPT2_MLP_OUT, tmp);
        op->residual(x, x, tmp, TC);
        SITE(GPT2_RESID_POST, x);
    }
#undef SITE
    /* final LayerNorm, then logits against the (tied) embedding: (R, V) for
     * the last R rows (all T, or the last one) */
    int R = last_only ? 1 : T;
    op->layernorm(ln, x + (long)(T - R) * C, m->w.lnfw, m->w.lnfb, R, C, c->ln_eps);
    if (logits) op->logits(logits, ln, m->w.lm_head ? m->w.lm_head : m->w.wte, R, C, c->vocab_size);
    return 0;
}

/* The model's configuration and the ids (T), checked. Returns 0 or -1. */
static int check_input(const GPT2Forward *f, const int32_t *ids, int T) {
    const GPT2Config *c = &f->m->cfg;
    if (c->n_layer < 1 || c->n_head < 1 || c->n_embd < 1 || c->n_embd % c->n_head != 0 || c->n_ctx < 1 ||
        c->vocab_size < 1)
        return err_set("model %s: invalid configuration (n_layer %d, n_head %d, n_embd %d, n_ctx %d, vocab %d)",
                       c->name, c->n_layer, c->n_head, c->n_embd, c->n_ctx, c->vocab_size);
    if (T < 1 || !ids) return err_set("empty input: there are no tokens to run the model on");
    for (int t = 0; t < T; t++)
        if (ids[t] < 0 || ids[t] >= c->vocab_size)
            return err_set("token id %d at position %d is outside the vocabulary [0, %d) of %s", (int)ids[t], t,
                           c->vocab_size, c->name);
    return 0;
}

int gpt2_forward(GPT2Forward *f, const int32_t *ids, int T, float *logits) {
    const GPT2Config *c = &f->m->cfg;
    if (check_input(f, ids, T) != 0) return -1;
    /* without logits, stop after the deepest hooked site (nothing to do without hooks) */
    int last = -1;
    if (!logits) {
        for (int i = 0; i < f->n_hooks; i++) {
            int k = f->hooks[i].layer * GPT2_NSITES + f->hooks[i].site;
            if (k > last) last = k;
        }
        if (last < 0) return 0;
    }
    /* non-overlapping windows of n_ctx tokens, each from position 0 */
    for (int t0 = 0; t0 < T; t0 += c->n_ctx) {
        int Tw = T - t0 < c->n_ctx ? T - t0 : c->n_ctx;
        ensure_buffers(f, Tw, Tw, Tw);
        if (forward_window(f, ids + t0, 1, Tw, t0, last, -1, logits ? logits + (long)t0 * c->vocab_size : NULL, NULL,
                           0) != 0)
            return -1;
    }
    return 0;
}

/* ---- resume after a site ---- */

int gpt2_forward_batch(GPT2Forward *f, const int32_t *ids, int B, int T) {
    const GPT2Config *c = &f->m->cfg;
    if (B < 1 || T < 1 || T > c->n_ctx || !ids)
        return err_set("batch of %d windows of %d tokens: need B >= 1 and 1 <= T <= %d (n_ctx of %s)", B, T, c->n_ctx,
                       c->name);
    for (long i = 0; i < (long)B * T; i++)
        if (ids[i] < 0 || ids[i] >= c->vocab_size)
            return err_set("token id %d in window %ld, position %ld is outside the vocabulary [0, %d) of %s",
                           (int)ids[i], i / T, i % T, c->vocab_size, c->name);
    int last = -1;
    for (int i = 0; i < f->n_hooks; i++) {
        int k = f->hooks[i].layer * GPT2_NSITES + f->hooks[i].site;
        if (k > last) last = k;
    }
    if (last < 0) return 0;
    ensure_buffers(f, B * T, T, T);
    return forward_window(f, ids, B, T, 0, last, -1, NULL, NULL, 0);
}

int gpt2_forward_resume(GPT2Forward *f, int layer, GPT2Site site, const float *resid, const float *act, int T,
                        float *logits) {
    const GPT2Config *c = &f->m->cfg;
    if (layer < 0 || layer >= c->n_layer || (unsigned)site >= GPT2_NSITES)
        return err_set("resume: layer %d site %d does not exist in %s (layers 0..%d)", layer, (int)site, c->name,
                       c->n_layer - 1);
    if (T < 1 || T > c->n_ctx || !act || !logits)
        return err_set("resume: %d rows; one window of 1..%d rows (n_ctx) and a logits buffer are needed", T,
                       c->n_ctx);
    int is_resid = site == GPT2_RESID_PRE || site == GPT2_RESID_MID || site == GPT2_RESID_POST;
    if (!is_resid && !resid) return err_set("resume after %s: the residual stream is needed", SITES[site].name);
    ensure_buffers(f, T, T, T);
    size_t TC = (size_t)T * c->n_embd, n = (size_t)T * gpt2_site_width(c, site);
    /* the buffers as they stood right after the site's hooks */
    memcpy(f->x, is_resid ? act : resid, TC * sizeof(float));
    if (site == GPT2_ATTN_OUT || site == GPT2_MLP_OUT) memcpy(f->tmp, act, n * sizeof(float));
    if (site == GPT2_MLP_PRE || site == GPT2_MLP_POST) memcpy(f->h, act, n * sizeof(float));
    return forward_window(f, NULL, 1, T, 0, -1, layer * GPT2_NSITES + site, logits, NULL, 0);
}

/* ---- a cached window (the cache itself: gpt2/kvcache.c) ---- */

int gpt2_forward_cached(GPT2Forward *f, GPT2KVCache *kv, const int32_t *ids, int T, float *logits, int last_only) {
    const GPT2Config *c = &f->m->cfg;
    if (check_input(f, ids, T) != 0) return -1;
    if (kv->L != c->n_layer || kv->C != c->n_embd || kv->n_ctx != c->n_ctx)
        return err_set("the KV cache (L %d, C %d, n_ctx %d) was made for another model than %s (L %d, C %d, n_ctx %d)",
                       kv->L, kv->C, kv->n_ctx, c->name, c->n_layer, c->n_embd, c->n_ctx);
    if (kv->len + T > c->n_ctx)
        return err_set("the context is full: %d tokens already seen + %d new > n_ctx = %d, the most %s can see "
                       "(shorten the prompt or make fewer tokens)",
                       kv->len, T, c->n_ctx, c->name);
    ensure_buffers(f, T, T, kv->len + T);
    if (forward_window(f, ids, 1, T, kv->len, -1, -1, logits, kv, last_only) != 0) return -1;
    kv->len += T;
    return 0;
}

/* ---- capture ---- */

int gpt2_hook_copy(void *user, const GPT2HookCtx *ctx, float *act) {
    float *out = user;
    memcpy(out + (long)ctx->t0 * ctx->width, act, (size_t)ctx->T * ctx->width * sizeof(float));
    return 0;
}

int gpt2_capture(GPT2Forward *f, const int32_t *ids, int T, int layer, GPT2Site site, float *out) {
    if (gpt2_forward_add_hook(f, layer, site, gpt2_hook_copy, out) != 0) return -1;
    int rc = gpt2_forward(f, ids, T, NULL);
    f->n_hooks--; /* remove the capture hook (the last one added) */
    return rc;
}
