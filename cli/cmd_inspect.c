/*
 * cli/cmd_inspect.c - ./run inspect: print one mechanism at work on a short
 * text, small enough to read (docs/TOUR.md runs each of these).
 *
 *   ./run inspect bpe TEXT                        pre-tokens and their merges, step by step
 *   ./run inspect resid --weights M TEXT          the residual stream's norm per token and block
 *   ./run inspect ln --weights M --layer L TEXT   ln_1 of a block: each token's row before and after
 *   ./run inspect attention --weights M --layer L --head H TEXT   one head's attention weights
 *   ./run inspect mlp --weights M --layer L TEXT  one token's first neurons before and after GELU
 *   ./run inspect logits --weights M TEXT         the top next-token predictions at each position
 *   ./run inspect sae --acts X.npy                a few SAE steps, each loss term and |gradient|
 *
 * Everything the model shows comes through the forward pass's hooks (gpt2.h);
 * the attention weights are the pass's own buffer GPT2Forward.att, read at the
 * attn_out site of the layer, right after attention filled it.
 */
#include "cli/cli.h"
#include "cli/pipeline.h"
#include "core/util.h"
#include "gpt2/gpt2.h"
#include "gpt2/ops.h"
#include "sae/sae.h"
#include "tokenizer/bpe.h"
#include "tokenizer/bpe_trace.h"
#include "weights/fetch.h"
#include "weights/npy.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
            "usage: ./run inspect WHAT [OPTIONS] [--] TEXT...\n"
            "\n"
            "Print one mechanism of the engine at work on a short text (the words of TEXT,\n"
            "joined by spaces; at most one window of n_ctx tokens). For reading along with\n"
            "docs/TOUR.md; a random checkpoint from ./run synth is enough.\n"
            "\n"
            "WHAT:\n"
            "  bpe        the text's pre-tokens, and each one's bytes merged pair by pair\n"
            "             (the lowest merge rank first) into its token ids\n"
            "  resid      the norm |x| of the residual stream at every token: the embeddings,\n"
            "             then after each block\n"
            "  ln         ln_1 of a block (--layer): each token's mean and standard deviation\n"
            "             before LayerNorm, after normalising, and after the gain and bias\n"
            "  attention  the attention weights of one head (--layer, --head): row t is the\n"
            "             softmax over the tokens s <= t; '.' marks the causal mask (s > t)\n"
            "  mlp        one token's first MLP neurons (--layer, --token, --neurons): c_fc's\n"
            "             output, GELU of it, and GELU's formula evaluated here\n"
            "  logits     the --top most likely next tokens after each position (softmax of\n"
            "             the logits)\n"
            "  sae        --steps training steps of the seed's SAE on --acts X.npy: every loss\n"
            "             term, the mean number of active latents, |gradient|, the Adam update\n"
            "\n"
            "  --weights PATH|NAME  checkpoint (folder, .safetensors, or a model name as in\n"
            "                       ./run capture). Default: gpt2\n"
            "  --ids FILE           whitespace-separated token ids instead of TEXT (no tokenizer)\n"
            "  --layer N            block (default n_layer/2)\n"
            "  --head H             attention head (default 0)\n"
            "  --token T            the token for mlp (default: the last)\n"
            "  --neurons N          neurons shown by mlp (default 8)\n"
            "  --top K              predictions shown by logits (default 5)\n"
            "  --reference          the plain reference ops (gpt2/ops.c, sae/sae_ref.c) instead\n"
            "                       of the fast paths\n"
            "  --acts X.npy         sae: float32 activations (T, d), e.g. from ./run capture\n"
            "  --steps N            sae: training steps on the whole batch (default 3)\n"
            "  --latents L, --k K   sae: latents (default 2d) and latents kept per token (d/3)\n"
            "  --lr LR              sae: Adam's learning rate (default 1e-4)\n"
            "  --compare            sae: also run the other implementation (fast or reference)\n"
            "                       on each step and print the largest gradient difference\n");
}

typedef struct {
    const char *what, *weights, *ids_path, *acts;
    long layer, head, token, neurons, top, steps, latents, k;
    double lr;
    int reference, compare;
    char *text; /* the operands joined by spaces (owned) */
} InspectOpts;

/* ---- the tokens and their labels ---- */

typedef struct {
    BPEIds ids;
    BPE bpe;
    int have_bpe;
} Tokens;

static int tokens_get(Tokens *tk, const InspectOpts *o, const char *weights) {
    memset(tk, 0, sizeof *tk);
    if (o->ids_path) {
        /* ids only: labelled "#id", and no tokenizer looked for (nor downloaded) */
        return bpe_ids_read(o->ids_path, &tk->ids);
    }
    if (!o->text || !o->text[0]) return err_set("no text: give the TEXT to run on (or --ids FILE)");
    if (cli_tokenizer_load(&tk->bpe, weights) != 0) return -1;
    tk->have_bpe = 1;
    if (bpe_encode(&tk->bpe, o->text, strlen(o->text), 0, &tk->ids) != 0) return err_prefix("the text");
    return 0;
}

static void tokens_free(Tokens *tk) {
    bpe_ids_free(&tk->ids);
    if (tk->have_bpe) bpe_free(&tk->bpe);
}

/* token t's label: its visible text, cut to fit, or "#id" */
static const char *label(const Tokens *tk, long t, char *buf, size_t cap) {
    if (tk->have_bpe) bpe_token_visible(&tk->bpe, tk->ids.ids[t], buf, cap);
    else snprintf(buf, cap, "#%d", (int)tk->ids.ids[t]);
    return buf;
}

/* Print s padded with spaces to `width` characters (UTF-8: a character is
 * one column here, which holds for the labels' letters and the ␣ mark). */
static void print_col(const char *s, int width) {
    int n = 0;
    for (const char *p = s; *p; p++) n += ((unsigned char)*p & 0xC0) != 0x80;
    printf("%s%*s", s, width > n ? width - n : 0, "");
}

/* ---- bpe ---- */

typedef struct {
    const BPE *bpe;
    BPEIds ids;      /* the final tokens of the pieces done */
    int32_t *last;   /* (piece length) the current piece's latest state */
    size_t n_last;
} TraceCtx;

static void show_step(void *user, const BpeTraceStep *s) {
    TraceCtx *c = user;
    char vis[64];
    if (s->rank < 0) { /* a new piece: the previous one is final */
        for (size_t i = 0; i < c->n_last; i++) bpe_ids_push(&c->ids, c->last[i]);
        printf("piece at byte %zu (%zu bytes):\n  start      ", s->offset, s->piece_len);
        c->last = xrealloc(c->last, (s->n ? s->n : 1) * sizeof *c->last);
    } else {
        printf("  rank %5d ", (int)s->rank);
    }
    memcpy(c->last, s->sym, s->n * sizeof *s->sym);
    c->n_last = s->n;
    for (size_t i = 0; i < s->n; i++) {
        bpe_token_visible(c->bpe, s->sym[i], vis, sizeof vis);
        printf("%s%s", i ? " | " : "", vis);
    }
    printf("\n");
}

/* The trace, then the ids it ended with, checked against bpe_encode's. */
static int cmd_bpe(const InspectOpts *o) {
    if (!o->text || !o->text[0]) return cli_error(2, "inspect bpe: give a TEXT to tokenize");
    BPE bpe;
    if (cli_tokenizer_load(&bpe, o->weights) != 0) return cli_fail();
    TraceCtx c = {&bpe, {0}, NULL, 0};
    BPEIds enc = {0};
    int rc = bpe_trace(&bpe, o->text, strlen(o->text), show_step, &c);
    for (size_t i = 0; i < c.n_last; i++) bpe_ids_push(&c.ids, c.last[i]);
    if (rc == 0) rc = bpe_encode(&bpe, o->text, strlen(o->text), 0, &enc);
    if (rc == 0) {
        printf("ids:");
        for (size_t t = 0; t < c.ids.n; t++) printf(" %d", (int)c.ids.ids[t]);
        printf("\n");
        if (enc.n != c.ids.n || memcmp(enc.ids, c.ids.ids, enc.n * sizeof *enc.ids) != 0)
            rc = err_set("inspect bpe: the trace's ids differ from bpe_encode's (a bug: please report it)");
    }
    bpe_ids_free(&enc);
    bpe_ids_free(&c.ids);
    free(c.last);
    bpe_free(&bpe);
    return rc == 0 ? 0 : cli_fail();
}

/* ---- the model ---- */

typedef struct {
    GPT2Model m;
    GPT2Forward f;
    Tokens tk;
    int T;
} Run;

static int run_open(Run *r, const InspectOpts *o) {
    memset(r, 0, sizeof *r);
    char *path = NULL;
    const char *w = o->weights;
    char *st = path_join(w, "model.safetensors");
    int local = path_is_file(w) || path_is_file(st) || path_is_dir(w);
    free(st);
    if (!local) {
        int named = 0;
        for (const char *const *n = fetch_model_names(); *n; n++) named |= strcmp(*n, w) == 0;
        if (!named)
            return err_set("--weights %s: no such file or folder, and not a model name (make a small random "
                           "checkpoint with ./run synth -o DIR)", w);
        if (fetch_model(w, &path) != 0) return -1;
    } else {
        path = xstrdup(w);
    }
    int rc = gpt2_model_load(&r->m, path);
    free(path);
    if (rc != 0) return -1;
    gpt2_forward_init(&r->f, &r->m);
    r->f.use_ref = o->reference;
    if (tokens_get(&r->tk, o, o->weights) != 0) return -1;
    if ((long)r->tk.ids.n > r->m.cfg.n_ctx)
        return err_set("the text is %zu tokens; inspect shows one window of at most n_ctx = %d tokens: shorten it",
                       r->tk.ids.n, r->m.cfg.n_ctx);
    r->T = (int)r->tk.ids.n;
    if (r->m.cfg.random) printf("(random weights - not GPT-2)\n");
    return 0;
}

static void run_close(Run *r) {
    gpt2_forward_free(&r->f);
    tokens_free(&r->tk);
    gpt2_model_free(&r->m);
}

static int pick_layer(const Run *r, long want, long *layer) {
    *layer = want >= 0 ? want : r->m.cfg.n_layer / 2;
    if (*layer >= r->m.cfg.n_layer)
        return err_set("--layer %ld does not exist: this model has layers 0..%d", *layer, r->m.cfg.n_layer - 1);
    return 0;
}

/* resid: norms (L+1, T): row 0 the embeddings (resid_pre of block 0), row l+1 block l's resid_post */
typedef struct {
    float *norms;
    int L;
} ResidCtx;

static int resid_hook(void *user, const GPT2HookCtx *c, float *act) {
    ResidCtx *rc = user;
    int row = c->site == GPT2_RESID_PRE ? 0 : c->layer + 1;
    for (int t = 0; t < c->T; t++) {
        double s = 0.0;
        for (int i = 0; i < c->width; i++) s += (double)act[(long)t * c->width + i] * act[(long)t * c->width + i];
        rc->norms[(long)row * c->T + t] = (float)sqrt(s);
    }
    return 0;
}

static int cmd_resid(Run *r) {
    int L = r->m.cfg.n_layer, T = r->T;
    ResidCtx rc = {xmalloc((size_t)(L + 1) * T * sizeof(float)), L};
    int bad = gpt2_forward_add_hook(&r->f, 0, GPT2_RESID_PRE, resid_hook, &rc);
    for (int l = 0; l < L && !bad; l++) bad = gpt2_forward_add_hook(&r->f, l, GPT2_RESID_POST, resid_hook, &rc);
    if (bad || gpt2_forward(&r->f, r->tk.ids.ids, T, NULL) != 0) {
        free(rc.norms);
        return -1;
    }
    printf("|x| of the residual stream (C = %d): column 'embed' is wte[id] + wpe[t], column 'block l' is x after "
           "block l\n%-4s %-14s %9s", r->m.cfg.n_embd, "t", "token", "embed");
    for (int l = 0; l < L; l++) printf("  block %-2d", l);
    printf("\n");
    char lab[48];
    for (int t = 0; t < T; t++) {
        printf("%-4d ", t);
        print_col(label(&r->tk, t, lab, 15), 14);
        for (int row = 0; row <= L; row++) printf(" %9.3f", rc.norms[(long)row * T + t]);
        printf("\n");
    }
    free(rc.norms);
    return 0;
}

/* ln: block layer's input x (T, C), through layernorm_forward (gpt2/ops.c) with ln_1's weights */
static int copy_hook(void *user, const GPT2HookCtx *c, float *act) {
    memcpy(user, act, (size_t)c->T * c->width * sizeof(float));
    return 0;
}

static void row_moments(const float *x, int C, double *mean, double *sd) {
    double m = 0.0, v = 0.0;
    for (int i = 0; i < C; i++) m += x[i];
    m /= C;
    for (int i = 0; i < C; i++) v += (x[i] - m) * (x[i] - m);
    *mean = m;
    *sd = sqrt(v / C);
}

static int cmd_ln(Run *r, const InspectOpts *o) {
    long layer;
    if (pick_layer(r, o->layer, &layer) != 0) return -1;
    int T = r->T, C = r->m.cfg.n_embd;
    const GPT2Layer *w = &r->m.w.h[layer];
    float *x = xmalloc((size_t)T * C * sizeof(float)), *nrm = xmalloc((size_t)T * C * sizeof(float));
    float *out = xmalloc((size_t)T * C * sizeof(float)), *ones = xmalloc((size_t)C * sizeof(float));
    float *zeros = xcalloc((size_t)C, sizeof(float));
    for (int i = 0; i < C; i++) ones[i] = 1.0f;
    int rc = gpt2_forward_add_hook(&r->f, (int)layer, GPT2_RESID_PRE, copy_hook, x);
    if (rc == 0) rc = gpt2_forward(&r->f, r->tk.ids.ids, T, NULL);
    if (rc == 0) {
        layernorm_forward(nrm, x, ones, zeros, T, C, r->m.cfg.ln_eps);     /* (x - mean) / sqrt(var + eps) */
        layernorm_forward(out, x, w->ln1w, w->ln1b, T, C, r->m.cfg.ln_eps); /* ... * w + b: what attention reads */
        printf("ln_1 of block %ld (C = %d, eps %g): ln(x) = (x - mean(x)) / sqrt(var(x) + eps) * w + b, per token\n"
               "%-4s %-14s %10s %10s   %10s %10s   %10s %10s\n", layer, C, r->m.cfg.ln_eps, "t", "token",
               "mean x", "sd x", "mean norm", "sd norm", "mean ln", "sd ln");
        char lab[48];
        for (int t = 0; t < T; t++) {
            double m0, s0, m1, s1, m2, s2;
            row_moments(x + (long)t * C, C, &m0, &s0);
            row_moments(nrm + (long)t * C, C, &m1, &s1);
            row_moments(out + (long)t * C, C, &m2, &s2);
            printf("%-4d ", t);
            print_col(label(&r->tk, t, lab, 15), 14);
            printf(" %10.4f %10.4f   %10.4f %10.4f   %10.4f %10.4f\n", m0, s0, m1, s1, m2, s2);
        }
    }
    free(x); free(nrm); free(out); free(ones); free(zeros);
    return rc;
}

/* attention: head h of the layer's probabilities (T, T), read from the pass's att buffer */
typedef struct {
    const GPT2Forward *f;
    int head;
    float *out; /* (T, T) */
} AttnCtx;

static int attn_hook(void *user, const GPT2HookCtx *c, float *act) {
    (void)act; /* attn_out itself; the weights that made it are in f->att (NH, T, T) */
    AttnCtx *a = user;
    memcpy(a->out, a->f->att + (long)a->head * c->T * c->T, (size_t)c->T * c->T * sizeof(float));
    return 0;
}

static int cmd_attention(Run *r, const InspectOpts *o) {
    long layer;
    if (pick_layer(r, o->layer, &layer) != 0) return -1;
    if (o->head >= r->m.cfg.n_head)
        return err_set("--head %ld does not exist: this model has heads 0..%d", o->head, r->m.cfg.n_head - 1);
    int T = r->T;
    AttnCtx a = {&r->f, (int)o->head, xmalloc((size_t)T * T * sizeof(float))};
    if (gpt2_forward_add_hook(&r->f, (int)layer, GPT2_ATTN_OUT, attn_hook, &a) != 0 ||
        gpt2_forward(&r->f, r->tk.ids.ids, T, NULL) != 0) {
        free(a.out);
        return -1;
    }
    printf("attention weights, layer %ld head %ld (HS = %d): row = query token t, column = key token s;\n"
           "att[t][s] = softmax_s(q_t . k_s / sqrt(HS)), '.' = masked (s > t); each row sums to 1\n",
           layer, o->head, r->m.cfg.n_embd / r->m.cfg.n_head);
    char lab[48];
    printf("%-4s %-12s", "t", "query");
    for (int s = 0; s < T; s++) printf(" %5d", s);
    printf("\n");
    for (int t = 0; t < T; t++) {
        printf("%-4d ", t);
        print_col(label(&r->tk, t, lab, 13), 12);
        for (int s = 0; s < T; s++) {
            float v = a.out[(long)t * T + s];
            if (s > t) printf(" %5s", v == 0.0f ? "." : "?!");
            else printf(" %5.2f", v);
        }
        printf("\n");
    }
    free(a.out);
    return 0;
}

/* mlp: one token's row of mlp_pre and mlp_post */
typedef struct {
    long token;
    float *pre, *post; /* (4C) */
} MlpCtx;

static int mlp_hook(void *user, const GPT2HookCtx *c, float *act) {
    MlpCtx *m = user;
    float *dst = c->site == GPT2_MLP_PRE ? m->pre : m->post;
    memcpy(dst, act + m->token * c->width, (size_t)c->width * sizeof(float));
    return 0;
}

static int cmd_mlp(Run *r, const InspectOpts *o) {
    long layer;
    if (pick_layer(r, o->layer, &layer) != 0) return -1;
    int T = r->T, W = 4 * r->m.cfg.n_embd;
    long t = o->token >= 0 ? o->token : T - 1;
    if (t >= T) return err_set("--token %ld does not exist: the text has tokens 0..%d", t, T - 1);
    MlpCtx m = {t, xmalloc((size_t)W * sizeof(float)), xmalloc((size_t)W * sizeof(float))};
    int rc = gpt2_forward_add_hook(&r->f, (int)layer, GPT2_MLP_PRE, mlp_hook, &m);
    if (rc == 0) rc = gpt2_forward_add_hook(&r->f, (int)layer, GPT2_MLP_POST, mlp_hook, &m);
    if (rc == 0) rc = gpt2_forward(&r->f, r->tk.ids.ids, T, NULL);
    if (rc == 0) {
        char lab[48];
        int n = o->neurons < W ? (int)o->neurons : W;
        printf("layer %ld MLP at token %ld '%s': mlp_pre = c_fc(ln_2(x)) (%d neurons), mlp_post = gelu(mlp_pre)\n"
               "gelu(x) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))\n%-7s %10s %10s %12s\n",
               layer, t, label(&r->tk, t, lab, 24), W, "neuron", "mlp_pre", "mlp_post", "formula");
        for (int i = 0; i < n; i++) {
            double x = m.pre[i], g = 0.5 * x * (1.0 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
            printf("%-7d %10.4f %10.4f %12.4f\n", i, m.pre[i], m.post[i], g);
        }
        int neg = 0;
        for (int i = 0; i < W; i++) neg += m.pre[i] < 0.0f;
        printf("%d of %d neurons are negative before GELU (GELU sends them near 0)\n", neg, W);
    }
    free(m.pre);
    free(m.post);
    return rc;
}

/* logits: the top K of softmax(logits[t]) at each position */
static int cmd_logits(Run *r, const InspectOpts *o) {
    int T = r->T, V = r->m.cfg.vocab_size, K = o->top < V ? (int)o->top : V;
    float *logits = xmalloc((size_t)T * V * sizeof(float));
    if (gpt2_forward(&r->f, r->tk.ids.ids, T, logits) != 0) {
        free(logits);
        return -1;
    }
    printf("next-token predictions: p = softmax(ln_f(x_t) . wte^T) over the %d tokens of the vocabulary\n", V);
    int *best = xmalloc((size_t)K * sizeof(int));
    char lab[48], nxt[48];
    for (int t = 0; t < T; t++) {
        const float *z = logits + (long)t * V;
        float mx = z[0];
        for (int v = 1; v < V; v++) mx = z[v] > mx ? z[v] : mx;
        double sum = 0.0;
        for (int v = 0; v < V; v++) sum += exp((double)z[v] - mx);
        /* top K by insertion: K is small */
        int nb = 0;
        for (int v = 0; v < V; v++) {
            if (nb == K && z[v] <= z[best[K - 1]]) continue;
            int q = nb < K ? nb++ : K - 1;
            while (q > 0 && z[best[q - 1]] < z[v]) best[q] = best[q - 1], q--;
            best[q] = v;
        }
        printf("%-4d ", t);
        print_col(label(&r->tk, t, lab, 15), 14);
        printf(" ->");
        for (int q = 0; q < nb; q++) {
            if (r->tk.have_bpe) bpe_token_visible(&r->tk.bpe, best[q], nxt, 16);
            else snprintf(nxt, sizeof nxt, "#%d", best[q]);
            printf("  %s %.2g", nxt, exp((double)z[best[q]] - mx) / sum);
        }
        printf("\n");
    }
    free(best);
    free(logits);
    return 0;
}

/* ---- sae ---- */

static void loss_line(const char *tag, const SAELosses *l, const float *Z, int T, int L, const float *g, long n) {
    long nnz = 0;
    for (long i = 0; i < (long)T * L; i++) nnz += Z[i] != 0.0f;
    double g2 = 0.0;
    for (long i = 0; i < n; i++) g2 += (double)g[i] * g[i];
    printf("%-10s mse %.6g  sparsity %.6g  decor %.6g  total %.6g  L0 %.1f  |g_W| %.4g\n", tag, l->mse,
           l->sparsity, l->decor, l->total, (double)nnz / T, sqrt(g2));
}

static int cmd_sae(const InspectOpts *o) {
    if (!o->acts) return cli_error(2, "inspect sae: give --acts X.npy (activations, e.g. from ./run capture)");
    Npy a;
    if (npy_map(&a, o->acts) != 0) return cli_fail();
    if (a.dtype != NPY_F32 || a.ndim < 2) {
        npy_free(&a);
        return cli_error(1, "%s: expected float32 activations of shape (T, d)", o->acts);
    }
    long d = (long)a.shape[a.ndim - 1], T = d > 0 ? (long)(a.numel / d) : 0;
    if (T > SAE_MAX_BATCH || d > (1 << 16)) {
        npy_free(&a);
        return cli_error(1, "%s: %ld tokens x %ld is more than inspect shows (%d tokens, width 65536); capture "
                            "a shorter text", o->acts, T, d, SAE_MAX_BATCH);
    }
    if (sae_check_input(a.f32, T, (int)d) != 0) {
        npy_free(&a);
        err_prefix("%s", o->acts);
        return cli_fail();
    }
    SAEParams p = sae_default_params();
    p.latents = (int)o->latents;
    p.k = (int)o->k;
    if (o->lr > 0) p.lr = o->lr;
    SAE sae;
    if (sae_init(&sae, (int)d, &p) != 0) {
        npy_free(&a);
        return cli_fail();
    }
    int L = sae.L;
    long n = (long)L * d;
    float *g = xmalloc((size_t)n * sizeof(float)), *g2 = xmalloc((size_t)n * sizeof(float));
    float *Z = xmalloc((size_t)T * L * sizeof(float)), *W0 = xmalloc((size_t)n * sizeof(float));
    SAEAdam adam;
    sae_adam_init(&adam, n);
    printf("SAE on %s: T = %ld tokens, d = %ld, L = %d latents, k = %d, sparsity weight %g, decor weight %g, "
           "lr %g\nloss = mse + sparsity + decor; L0 = latents nonzero per token (<= k); %s path\n",
           o->acts, T, d, L, sae.k, p.sparsity_weight, p.decor_weight, p.lr,
           o->reference ? "reference (sae/sae_ref.c)" : "fast (sae/sae_fast.c)");
    for (long s = 1; s <= o->steps; s++) {
        SAELosses l, l2;
        char tag[32];
        snprintf(tag, sizeof tag, "step %ld", s);
        if (o->reference) sae_loss_grad_ref(&sae, a.f32, (int)T, p.sparsity_weight, p.decor_weight, g, Z, &l);
        else sae_loss_grad(&sae, a.f32, (int)T, p.sparsity_weight, p.decor_weight, g, Z, &l);
        loss_line(tag, &l, Z, (int)T, L, g, n);
        if (o->compare) {
            if (o->reference) sae_loss_grad(&sae, a.f32, (int)T, p.sparsity_weight, p.decor_weight, g2, Z, &l2);
            else sae_loss_grad_ref(&sae, a.f32, (int)T, p.sparsity_weight, p.decor_weight, g2, Z, &l2);
            loss_line(o->reference ? "  fast" : "  ref", &l2, Z, (int)T, L, g2, n);
            double worst = 0.0, gmax = 0.0;
            for (long i = 0; i < n; i++) {
                double e = fabs((double)g[i] - g2[i]);
                worst = e > worst ? e : worst;
                gmax = fabs(g[i]) > gmax ? fabs(g[i]) : gmax;
            }
            printf("  max |g_ref - g_fast| = %.3g (largest |g| %.3g)\n", worst, gmax);
        }
        memcpy(W0, sae.W, (size_t)n * sizeof(float));
        sae_adam_step(&adam, sae.W, g, &p);
        double dmax = 0.0;
        for (long i = 0; i < n; i++) dmax = fmax(dmax, fabs((double)sae.W[i] - W0[i]));
        printf("  Adam step %ld: max |dW| = %.3g (about lr at first: m / sqrt(v) is about +-1)\n", s, dmax);
    }
    sae_adam_free(&adam);
    free(g); free(g2); free(Z); free(W0);
    sae_free(&sae);
    npy_free(&a);
    return 0;
}

/* ---- options ---- */

/* The first operand is WHAT; the others are joined by spaces into text. */
static int add_operand(void *ctx, const char *arg) {
    InspectOpts *o = ctx;
    if (!o->what) {
        o->what = arg;
        return 0;
    }
    size_t tlen = o->text ? strlen(o->text) : 0, n = strlen(arg);
    o->text = xrealloc(o->text, tlen + n + 2);
    if (tlen) o->text[tlen++] = ' ';
    memcpy(o->text + tlen, arg, n + 1);
    return 0;
}

/* Returns 0 to go on, or 1 to stop with *status (0 after --help). */
static int parse(int argc, char **argv, InspectOpts *o, int *status) {
    const CLIOpt opts[] = {
        {"--weights", CLI_STR, .dst = &o->weights},
        {"--ids", CLI_STR, .dst = &o->ids_path},
        {"--layer", CLI_LONG, .dst = &o->layer, .lo = 0, .hi = 4096},
        {"--head", CLI_LONG, .dst = &o->head, .lo = 0, .hi = 4096},
        {"--token", CLI_LONG, .dst = &o->token, .lo = 0, .hi = 1 << 24},
        {"--neurons", CLI_LONG, .dst = &o->neurons, .lo = 1, .hi = 1 << 20},
        {"--top", CLI_LONG, .dst = &o->top, .lo = 1, .hi = 1000},
        {"--reference", CLI_SET, .dst = &o->reference, .value = 1},
        {"--acts", CLI_STR, .dst = &o->acts},
        {"--steps", CLI_LONG, .dst = &o->steps, .lo = 1, .hi = 1000},
        {"--latents", CLI_LONG, .dst = &o->latents, .lo = 1, .hi = 1 << 20},
        {"--k", CLI_LONG, .dst = &o->k, .lo = 1, .hi = 1 << 20},
        {"--lr", CLI_DOUBLE, .dst = &o->lr, .min = 1e-12, .max = 10.0},
        {"--compare", CLI_SET, .dst = &o->compare, .value = 1},
        {0}};
    const CLISpec spec = {"inspect", {opts}, .usage = usage, .operand = add_operand, .ctx = o};
    return cli_parse(&spec, argc, argv, status);
}

int cmd_inspect(int argc, char **argv) {
    InspectOpts o = {.weights = "gpt2", .layer = -1, .head = 0, .token = -1, .neurons = 8, .top = 5, .steps = 3};
    int st;
    if (parse(argc, argv, &o, &st)) {
        free(o.text);
        return st;
    }
    if (!o.what) {
        usage(stderr);
        return cli_error(2, "inspect: say WHAT to show: bpe, resid, ln, attention, mlp, logits or sae");
    }
    static const char *const whats[] = {"bpe", "resid", "ln", "attention", "mlp", "logits", "sae", NULL};
    int rc;
    if (!strcmp(o.what, "bpe")) rc = cmd_bpe(&o);
    else if (!strcmp(o.what, "sae")) rc = cmd_sae(&o);
    else if (!strcmp(o.what, "resid") || !strcmp(o.what, "ln") || !strcmp(o.what, "attention") || !strcmp(o.what, "mlp") ||
             !strcmp(o.what, "logits")) {
        Run r;
        rc = run_open(&r, &o);
        if (rc == 0) {
            if (!strcmp(o.what, "resid")) rc = cmd_resid(&r);
            else if (!strcmp(o.what, "attention")) rc = cmd_attention(&r, &o);
            else if (!strcmp(o.what, "ln")) rc = cmd_ln(&r, &o);
            else if (!strcmp(o.what, "mlp")) rc = cmd_mlp(&r, &o);
            else rc = cmd_logits(&r, &o);
        }
        run_close(&r);
        if (rc != 0) rc = cli_fail();
    } else {
        const char *near = cli_nearest(o.what, whats);
        rc = cli_error(2, "inspect: unknown WHAT '%s'%s%s%s (bpe, resid, ln, attention, mlp, logits, sae)", o.what,
                       near ? "; did you mean " : "", near ? near : "", near ? "?" : "");
    }
    free(o.text);
    return rc;
}
