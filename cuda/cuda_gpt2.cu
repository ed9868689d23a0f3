/*
 * cuda/cuda_gpt2.cu - GPT-2's forward pass on the GPU, B windows a pass,
 * built from the ops in cuda_ops.cu and cuda_matmul.cu in llm.c's order,
 * with hooks at any (layer, site) (cuda_hooks.cu) and a resume after a site.
 * Mirrors gpt2/'s CPU forward step for step.
 */
#include "cuda/cuda_common.cuh"
#include "cuda/cuda_hooks.cuh"

#include <stdlib.h>
#include <string.h>

typedef struct {
    float *ln1w, *ln1b;         /* (C), (C) */
    float *qkvw, *qkvb;         /* (C, 3C), (3C) */
    float *attprojw, *attprojb; /* (C, C), (C) */
    float *ln2w, *ln2b;         /* (C), (C) */
    float *fcw, *fcb;           /* (C, 4C), (4C) */
    float *fcprojw, *fcprojb;   /* (4C, C), (C) */
} DevLayer;

struct CUDAGPT2 {
    GPT2Config cfg;
    int max_T;
    int rows;               /* rows the activations below hold (>= max_T; B * T for a batch) */
    int logits_rows;        /* rows logits holds */
    CUDAMatmulKind kind;
    float *d_params;        /* every weight, one allocation */
    float *wte, *wpe;       /* (V, C), (n_ctx, C) */
    float *lnfw, *lnfb;     /* (C), (C) */
    float *lm_head;         /* (V, C); == wte when tied */
    DevLayer *h;            /* (n_layer), host array of device pointers */
    int *d_tokens;          /* (rows) */
    float *d_acts;          /* the activations below, one allocation */
    float *x;               /* (rows, C) residual stream: resid_pre, then resid_post; every (T, .) below is (rows, .) */
    float *resid_mid;       /* (T, C) */
    float *ln;              /* (T, C) ln1 / ln2 / ln_f output */
    float *qkv;             /* (T, 3C) */
    float *atty;            /* (T, C) attention output before c_proj */
    float *attn_out;        /* (T, C) */
    float *fch;             /* (T, 4C) mlp_pre */
    float *fch_gelu;        /* (T, 4C) mlp_post */
    float *mlp_out;         /* (T, C) */
    float *logits;          /* (logits_rows, V), allocated on first use */
};

static int site_width(GPT2Site site, int C) {
    return site == GPT2_MLP_PRE || site == GPT2_MLP_POST ? 4 * C : C;
}

/* (Re)allocate the activations for `rows` rows (the old ones are dropped). */
static int alloc_acts(CUDAGPT2 *g, int rows) {
    const size_t T = rows, C = g->cfg.n_embd;
    cuda_free(g->d_acts), cuda_free(g->d_tokens);
    g->d_acts = NULL, g->d_tokens = NULL, g->rows = 0;
    /* x, resid_mid, ln, atty, attn_out, mlp_out: 6 x (T, C); qkv (T, 3C); fch, fch_gelu (T, 4C) */
    size_t acts = T * C * 6 + T * 3 * C + T * 4 * C * 2;
    if (cuda_malloc((void **)&g->d_acts, acts * sizeof(float)) != 0) return -1;
    if (cuda_malloc((void **)&g->d_tokens, T * sizeof(int)) != 0) return -1;
    float *p = g->d_acts;
    g->x = p, p += T * C;
    g->resid_mid = p, p += T * C;
    g->ln = p, p += T * C;
    g->atty = p, p += T * C;
    g->attn_out = p, p += T * C;
    g->mlp_out = p, p += T * C;
    g->qkv = p, p += T * 3 * C;
    g->fch = p, p += T * 4 * C;
    g->fch_gelu = p, p += T * 4 * C;
    g->rows = rows;
    return 0;
}

void cuda_gpt2_free(CUDAGPT2 *g) {
    if (!g) return;
    cuda_free(g->d_params);
    cuda_free(g->d_tokens);
    cuda_free(g->d_acts);
    cuda_free(g->logits);
    free(g->h);
    free(g);
}

void cuda_gpt2_set_matmul(CUDAGPT2 *g, CUDAMatmulKind kind) { g->kind = kind; }

/* Copy n floats from src to the next slot of the parameter buffer. */
static int put(float **slot, float **cursor, const float *src, size_t n) {
    *slot = *cursor;
    *cursor += n;
    if (!src) return err_set("a weight tensor is missing (NULL)");
    return cuda_upload(*slot, src, n * sizeof(float));
}

int cuda_gpt2_init(CUDAGPT2 **out, const GPT2Model *m, int max_T) {
    *out = NULL;
    const GPT2Config *c = &m->cfg;
    const size_t C = c->n_embd, V = c->vocab_size, NL = c->n_layer, NC = c->n_ctx;
    CU_REQUIRE(c->n_layer > 0 && c->n_embd > 0 && c->n_head > 0 && c->vocab_size > 0 && c->n_ctx > 0,
               "the model's configuration is empty (load it first)");
    CU_REQUIRE(max_T >= 1 && max_T <= c->n_ctx, "max_T=%d: must be in [1, n_ctx=%d]", max_T, c->n_ctx);
    CU_REQUIRE(c->n_embd % c->n_head == 0 && c->n_embd / c->n_head == 64,
               "head size %d: the CUDA attention supports 64 (every GPT-2 size)",
               c->n_embd / c->n_head);
    if (!cuda_available()) return err_set("cuda_gpt2_init: no CUDA device (use --device cpu)");

    CUDAGPT2 *g = (CUDAGPT2 *)xcalloc(1, sizeof *g);
    g->cfg = *c;
    g->max_T = max_T;
    g->kind = CUDA_MATMUL_FP32;
    g->h = (DevLayer *)xcalloc(NL, sizeof *g->h);
    const int tied = m->w.lm_head == m->w.wte || m->w.lm_head == NULL;
    size_t per_layer = 2 * C + 3 * C * C + 3 * C + C * C + C + 2 * C + 4 * C * C + 4 * C + 4 * C * C + C;
    size_t total = V * C + NC * C + 2 * C + NL * per_layer + (tied ? 0 : V * C);
    if (cuda_malloc((void **)&g->d_params, total * sizeof(float)) != 0) goto fail;
    {
        float *cur = g->d_params;
        const GPT2Weights *w = &m->w;
        if (put(&g->wte, &cur, w->wte, V * C) || put(&g->wpe, &cur, w->wpe, NC * C) ||
            put(&g->lnfw, &cur, w->lnfw, C) || put(&g->lnfb, &cur, w->lnfb, C))
            goto fail;
        if (tied) g->lm_head = g->wte;
        else if (put(&g->lm_head, &cur, w->lm_head, V * C)) goto fail;
        for (size_t l = 0; l < NL; l++) {
            const GPT2Layer *s = &w->h[l];
            DevLayer *d = &g->h[l];
            if (put(&d->ln1w, &cur, s->ln1w, C) || put(&d->ln1b, &cur, s->ln1b, C) ||
                put(&d->qkvw, &cur, s->qkvw, C * 3 * C) || put(&d->qkvb, &cur, s->qkvb, 3 * C) ||
                put(&d->attprojw, &cur, s->attprojw, C * C) || put(&d->attprojb, &cur, s->attprojb, C) ||
                put(&d->ln2w, &cur, s->ln2w, C) || put(&d->ln2b, &cur, s->ln2b, C) ||
                put(&d->fcw, &cur, s->fcw, C * 4 * C) || put(&d->fcb, &cur, s->fcb, 4 * C) ||
                put(&d->fcprojw, &cur, s->fcprojw, 4 * C * C) || put(&d->fcprojb, &cur, s->fcprojb, C))
                goto fail;
        }
        if ((size_t)(cur - g->d_params) != total) {
            err_set("parameter count mismatch (%zu vs %zu)", (size_t)(cur - g->d_params), total);
            goto fail;
        }
    }
    if (alloc_acts(g, max_T) != 0) goto fail;
    *out = g;
    return 0;
fail:
    err_prefix("cuda_gpt2_init");
    cuda_gpt2_free(g);
    return -1;
}

/* Load the buffers as they stood right after (layer, site)'s hooks: act
 * (T, width) there and resid (T, C) the residual stream (a resume). */
static int load_resume(CUDAGPT2 *g, GPT2Site site, const float *resid, const float *act, int T) {
    const size_t TC = (size_t)T * g->cfg.n_embd * sizeof(float);
    const size_t n = (size_t)T * site_width(site, g->cfg.n_embd) * sizeof(float);
    switch (site) {
    case GPT2_RESID_PRE:
    case GPT2_RESID_POST: return cuda_upload(g->x, act, n);
    case GPT2_ATTN_OUT: return cuda_upload(g->x, resid, TC) || cuda_upload(g->attn_out, act, n) ? -1 : 0;
    case GPT2_RESID_MID: return cuda_upload(g->resid_mid, act, n);
    case GPT2_MLP_PRE: return cuda_upload(g->resid_mid, resid, TC) || cuda_upload(g->fch, act, n) ? -1 : 0;
    case GPT2_MLP_POST: return cuda_upload(g->resid_mid, resid, TC) || cuda_upload(g->fch_gelu, act, n) ? -1 : 0;
    default: return cuda_upload(g->resid_mid, resid, TC) || cuda_upload(g->mlp_out, act, n) ? -1 : 0;
    }
}

int cu_gpt2_pass(CUDAGPT2 *g, const int32_t *tokens, int B, int T, const CUDAHook *hooks, int n_hooks, int from,
                 const float *resid, const float *act, int want_logits, float *logits) {
    const int C = g->cfg.n_embd, NH = g->cfg.n_head, V = g->cfg.vocab_size, NL = g->cfg.n_layer;
    const float eps = g->cfg.ln_eps > 0 ? g->cfg.ln_eps : 1e-5f;
    const CUDAMatmulKind K = g->kind;
#define REQUIRE(cond, ...)                                                                          \
    do {                                                                                            \
        if (!(cond)) {                                                                              \
            err_set(__VA_ARGS__);                                                                   \
            return err_prefix("cuda_gpt2_forward");                                                 \
        }                                                                                           \
    } while (0)
    REQUIRE(B >= 1 && T >= 1 && T <= g->cfg.n_ctx && (long)B * T <= (1L << 30),
            "%d windows of %d tokens: need B >= 1 and 1 <= T <= %d (n_ctx)", B, T, g->cfg.n_ctx);
    REQUIRE(from < NL * GPT2_NSITES && (from < 0 || B == 1), "resume after layer %d: the model has layers 0..%d",
            from / GPT2_NSITES, NL - 1);
    const int rows = B * T;
    if (from < 0)
        for (long i = 0; i < rows; i++)
            REQUIRE(tokens[i] >= 0 && tokens[i] < V, "token %d at position %ld%s is outside the vocabulary (%d)",
                    tokens[i], i % T, B > 1 ? " of a window" : "", V);
    if (cu_hooks_check(hooks, n_hooks, NL) != 0) return err_prefix("cuda_gpt2_forward");
    /* the last step to run: all of them for logits, else the deepest hook */
    const int last = want_logits ? NL * GPT2_NSITES : cu_hooks_deepest(hooks, n_hooks);
    if (last < 0) return 0; /* no hook, no logits: nothing to compute */

#define TRY(x)                                                                                      \
    do {                                                                                            \
        if ((x) != 0) return err_prefix("cuda_gpt2_forward");                                       \
    } while (0)
    if (rows > g->rows) TRY(alloc_acts(g, rows));
    if (from >= 0) TRY(load_resume(g, (GPT2Site)(from % GPT2_NSITES), resid, act, T));
    else {
        TRY(cuda_upload(g->d_tokens, tokens, (size_t)rows * sizeof(int)));
        /* token + position embeddings, positions 0..T-1 in each window */
        for (int b = 0; b < B; b++)
            TRY(cuda_encoder_forward(g->x + (size_t)b * T * C, g->d_tokens + (size_t)b * T, g->wte, g->wpe, T, C, V));
    }
    /* each step runs when its site lies after `from` and not past `last` */
    int k;
#define STEP(S) if ((k = l * GPT2_NSITES + (S)) > from && k <= last)
#define HOOKS(S, ACT, RESID) TRY(cu_hooks_at(hooks, n_hooks, l, S, ACT, RESID, rows, site_width(S, C), C))
    for (int l = from < 0 ? 0 : from / GPT2_NSITES; l < NL && l * GPT2_NSITES <= last; l++) {
        const DevLayer *w = &g->h[l];
        STEP(GPT2_RESID_PRE) HOOKS(GPT2_RESID_PRE, g->x, g->x);
        STEP(GPT2_ATTN_OUT) {
            /* attention: ln1, qkv projection, causal attention within each window, output projection */
            TRY(cuda_layernorm_forward(g->ln, NULL, NULL, g->x, w->ln1w, w->ln1b, rows, C, eps));
            TRY(cuda_matmul_forward(g->qkv, g->ln, w->qkvw, w->qkvb, rows, C, 3 * C, K));
            for (int b = 0; b < B; b++)
                TRY(cuda_attention_forward(g->atty + (size_t)b * T * C, g->qkv + (size_t)b * T * 3 * C, T, C, NH));
            TRY(cuda_matmul_forward(g->attn_out, g->atty, w->attprojw, w->attprojb, rows, C, C, K));
            HOOKS(GPT2_ATTN_OUT, g->attn_out, g->x);
        }
        STEP(GPT2_RESID_MID) {
            TRY(cuda_residual_forward(g->resid_mid, g->x, g->attn_out, (long)rows * C));
            HOOKS(GPT2_RESID_MID, g->resid_mid, g->resid_mid);
        }
        STEP(GPT2_MLP_PRE) {
            /* mlp: ln2, c_fc, GELU, c_proj */
            TRY(cuda_layernorm_forward(g->ln, NULL, NULL, g->resid_mid, w->ln2w, w->ln2b, rows, C, eps));
            TRY(cuda_matmul_forward(g->fch, g->ln, w->fcw, w->fcb, rows, C, 4 * C, K));
            HOOKS(GPT2_MLP_PRE, g->fch, g->resid_mid);
        }
        STEP(GPT2_MLP_POST) {
            TRY(cuda_gelu_forward(g->fch_gelu, g->fch, (long)rows * 4 * C));
            HOOKS(GPT2_MLP_POST, g->fch_gelu, g->resid_mid);
        }
        STEP(GPT2_MLP_OUT) {
            TRY(cuda_matmul_forward(g->mlp_out, g->fch_gelu, w->fcprojw, w->fcprojb, rows, 4 * C, C, K));
            HOOKS(GPT2_MLP_OUT, g->mlp_out, g->resid_mid);
        }
        STEP(GPT2_RESID_POST) {
            /* x becomes resid_post (the next block's resid_pre) */
            TRY(cuda_residual_forward(g->x, g->resid_mid, g->mlp_out, (long)rows * C));
            HOOKS(GPT2_RESID_POST, g->x, g->x);
        }
    }
#undef STEP
#undef HOOKS
    if (want_logits) {
        if (rows > g->logits_rows) {
            cuda_free(g->logits);
            g->logits = NULL, g->logits_rows = 0;
            TRY(cuda_malloc((void **)&g->logits, (size_t)rows * V * sizeof(float)));
            g->logits_rows = rows;
        }
        /* final LayerNorm, then logits (rows, V) = ln (rows, C) @ lm_head (V, C)^T */
        TRY(cuda_layernorm_forward(g->ln, NULL, NULL, g->x, g->lnfw, g->lnfb, rows, C, eps));
        TRY(cuda_gemm(0, 1, rows, V, C, 1.0f, g->ln, C, g->lm_head, C, 0.0f, g->logits, V, NULL, K));
        if (logits) TRY(cuda_download(logits, g->logits, (size_t)rows * V * sizeof(float)));
    }
    TRY(cuda_sync());
#undef TRY
#undef REQUIRE
    return 0;
}

/* One window of T <= max_T tokens with the capture cap (may be NULL). */
static int forward_impl(CUDAGPT2 *g, const int32_t *tokens, int T, const CUDACapture *cap, int want_logits,
                        float *logits) {
    if (T < 1 || T > g->max_T)
        return err_set("cuda_gpt2_forward: T=%d tokens: must be in [1, %d] (max_T given to cuda_gpt2_init)", T,
                       g->max_T);
    CUDAHook h = {cap ? cap->layer : 0, cap ? cap->site : GPT2_RESID_PRE, cap ? cap->out : NULL,
                  cap ? cap->d_out : NULL, NULL, NULL, NULL};
    return cu_gpt2_pass(g, tokens, 1, T, cap ? &h : NULL, cap ? 1 : 0, -1, NULL, NULL, want_logits, logits);
}

int cuda_gpt2_forward(CUDAGPT2 *g, const int32_t *ids, int T, const CUDACapture *cap, float *logits) {
    return forward_impl(g, ids, T, cap, logits != NULL, logits);
}

const float *cuda_gpt2_forward_device(CUDAGPT2 *g, const int32_t *ids, int T) {
    return forward_impl(g, ids, T, NULL, 1, NULL) == 0 ? g->logits : NULL;
}

int cuda_gpt2_capture(CUDAGPT2 *g, const int32_t *ids, long T, int layer, GPT2Site site, float *out,
                      float *d_out) {
    const int n_ctx = g->cfg.n_ctx;
    CU_REQUIRE(T >= 1, "no tokens to run (T=%ld)", T);
    CU_REQUIRE(T <= g->max_T || g->max_T == n_ctx,
               "%ld tokens need windows of n_ctx=%d: call cuda_gpt2_init with max_T = n_ctx", T, n_ctx);
    const size_t width = site_width(site, g->cfg.n_embd);
    for (long t0 = 0; t0 < T; t0 += n_ctx) {
        int Tw = (int)(T - t0 < n_ctx ? T - t0 : n_ctx);
        CUDACapture cap = {layer, site, out ? out + (size_t)t0 * width : NULL,
                           d_out ? d_out + (size_t)t0 * width : NULL};
        if (cuda_gpt2_forward(g, ids + t0, Tw, &cap, NULL) != 0)
            return err_prefix("cuda_gpt2_capture: window at token %ld", t0);
    }
    return 0;
}

int cuda_gpt2_stream(CUDAGPT2 *g, const int32_t *ids, long T, long t_base, int layer, GPT2Site site,
                     GPT2RowSink fn, void *user, float *d_out) {
    const int n_ctx = g->cfg.n_ctx;
    CU_REQUIRE(T >= 1, "no tokens to run (T=%ld)", T);
    CU_REQUIRE(T <= g->max_T || g->max_T == n_ctx,
               "%ld tokens need windows of n_ctx=%d: call cuda_gpt2_init with max_T = n_ctx", T, n_ctx);
    const int width = site_width(site, g->cfg.n_embd);
    float *rows = (float *)xmalloc((size_t)(T < n_ctx ? T : n_ctx) * width * sizeof(float)); /* (n_ctx, width) */
    int rc = 0;
    for (long t0 = 0; t0 < T && rc == 0; t0 += n_ctx) {
        int Tw = (int)(T - t0 < n_ctx ? T - t0 : n_ctx);
        CUDACapture cap = {layer, site, rows, d_out ? d_out + (size_t)t0 * width : NULL};
        if (cuda_gpt2_forward(g, ids + t0, Tw, &cap, NULL) != 0) {
            rc = err_prefix("cuda_gpt2_stream: window at token %ld", t0);
            break;
        }
        GPT2Rows r = {layer, site, t_base + t0, Tw, width};
        err_clear();
        if (fn(user, &r, rows) != 0) rc = err_get()[0] ? -1 : err_set("cuda_gpt2_stream: the sink stopped the pass");
    }
    free(rows);
    return rc;
}

/* ---------------------------------------------- views (cuda_gpt2_view.cuh) */
#include "cuda/cuda_gpt2_view.cuh"

void cuda_gpt2_view(const CUDAGPT2 *g, CUDAGPT2View *v) {
    v->cfg = g->cfg, v->kind = g->kind;
    v->wte = g->wte, v->wpe = g->wpe, v->lnfw = g->lnfw, v->lnfb = g->lnfb, v->lm_head = g->lm_head;
}

void cuda_gpt2_layer_view(const CUDAGPT2 *g, int l, CUDALayerView *v) {
    const DevLayer *d = &g->h[l];
    *v = (CUDALayerView){d->ln1w, d->ln1b, d->qkvw,    d->qkvb,  d->attprojw, d->attprojb,
                         d->ln2w, d->ln2b, d->fcw,     d->fcb,   d->fcprojw,  d->fcprojb};
}
