/*
 * tests/test_gpt2.c - the forward pass on a tiny random GPT-2 (L=2, NH=3,
 * C=24, V=50, n_ctx=16), built in memory:
 *   - every hook site and the logits against PyTorch (tests/golden/gpt2_tiny.f32,
 *     made by tests/gen_gpt2_tiny.py), for the reference ops and the fast ones,
 *     including an input longer than n_ctx (two windows);
 *   - the fast pass against the reference pass;
 *   - hooks that modify the activation, early stop, site names both ways;
 *   - bad input: ids out of range, empty input, a missing layer or site.
 * Tolerance (the bound): max |ours - torch| <= 1e-4 * max |torch| per tensor.
 */
#include "core/util.h"
#include "gpt2/gpt2.h"
#include "gpt2/ops.h"
#include "tests/hash_model.h"
#include "tests/test.h"

#include <stdlib.h>
#include <string.h>

enum { L = 2, NH = 3, C = 24, V = 50, NCTX = 16 };

static float *g_store;

/* the model tests/gen_gpt2_tiny.py builds */
static void tiny_model(GPT2Model *m) {
    g_store = hash_model(m, L, NH, C, V, NCTX, 0.125f);
    snprintf(m->cfg.name, sizeof m->cfg.name, "tiny");
}

/* collects every site of every window into acts[l][s] (T, width) */
typedef struct {
    float *acts[L][GPT2_NSITES];
    int calls;
} Collect;

static int collect_hook(void *user, const GPT2HookCtx *c, float *act) {
    Collect *k = user;
    memcpy(k->acts[c->layer][c->site] + (long)c->t0 * c->width, act, (size_t)c->T * c->width * sizeof(float));
    k->calls++;
    return 0;
}

/* a stream sink: rows stacked at r->t0 into out (rows, width); checks they come in order */
typedef struct {
    float *out;
    long next;   /* the row expected next */
    int calls, in_order;
} Rows;

static int rows_sink(void *user, const GPT2Rows *r, const float *rows) {
    Rows *o = user;
    o->in_order &= r->t0 == o->next && r->T <= NCTX;
    memcpy(o->out + r->t0 * r->width, rows, (size_t)r->T * r->width * sizeof(float));
    o->next = r->t0 + r->T;
    o->calls++;
    return 0;
}

static int zero_hook(void *user, const GPT2HookCtx *c, float *act) {
    (void)user;
    memset(act, 0, (size_t)c->T * c->width * sizeof(float));
    return 0;
}

static int fail_hook(void *user, const GPT2HookCtx *c, float *act) {
    (void)user, (void)act;
    return err_set("test hook refuses layer %d", c->layer);
}

/* Run the whole model on ids with every site hooked; acts and logits out. */
static int run_all(GPT2Forward *f, const int32_t *ids, int T, Collect *k, float *logits) {
    gpt2_forward_clear_hooks(f);
    for (int l = 0; l < L; l++)
        for (int s = 0; s < GPT2_NSITES; s++) {
            free(k->acts[l][s]);
            k->acts[l][s] = xcalloc((size_t)T * 4 * C, sizeof(float));
            gpt2_forward_add_hook(f, l, (GPT2Site)s, collect_hook, k);
        }
    k->calls = 0;
    int rc = gpt2_forward(f, ids, T, logits);
    gpt2_forward_clear_hooks(f);
    return rc;
}

int main(void) {
    GPT2Model m;
    tiny_model(&m);
    GPT2Forward f;
    gpt2_forward_init(&f, &m);

    /* ---- against PyTorch ---- */
    char *gold;
    size_t glen;
    if (file_read_all("tests/golden/gpt2_tiny.f32", &gold, &glen) != 0) {
        CHECK(0, "golden file: %s (run from the repository root)", err_get());
        return test_finish();
    }
    const float *gp = (const float *)gold;
    const float *gend = gp + glen / sizeof(float);
    Collect k = {0}, kr = {0};
    static const int Ts[2] = {13, 21};
    for (int in = 0; in < 2; in++) {
        int T = Ts[in];
        int32_t ids[32];
        for (int t = 0; t < T; t++) ids[t] = (7 * t + 3) % V;
        float *logits = xmalloc((size_t)T * V * sizeof(float)), *logits_ref = xmalloc((size_t)T * V * sizeof(float));
        f.use_ref = 1;
        CHECK(run_all(&f, ids, T, &kr, logits_ref) == 0, "reference pass, T=%d", T);
        f.use_ref = 0;
        CHECK(run_all(&f, ids, T, &k, logits) == 0, "fast pass, T=%d (%d hook calls: %d windows x 14 sites)", T,
              k.calls, (T + NCTX - 1) / NCTX);
        for (int l = 0; l < L; l++)
            for (int s = 0; s < GPT2_NSITES; s++) {
                long n = (long)T * gpt2_site_width(&m.cfg, (GPT2Site)s);
                if (gp + n > gend) break;
                char name[96];
                snprintf(name, sizeof name, "T=%d layer %d %-10s ref ", T, l, gpt2_site_name((GPT2Site)s));
                check_bound(name, kr.acts[l][s], gp, n);
                snprintf(name, sizeof name, "T=%d layer %d %-10s fast", T, l, gpt2_site_name((GPT2Site)s));
                check_bound(name, k.acts[l][s], gp, n);
                gp += n;
            }
        if (gp + (long)T * V <= gend) {
            char name[64];
            snprintf(name, sizeof name, "T=%d logits ref ", T);
            check_bound(name, logits_ref, gp, (long)T * V);
            snprintf(name, sizeof name, "T=%d logits fast", T);
            check_bound(name, logits, gp, (long)T * V);
            gp += (long)T * V;
        }
        /* the fast ops against the reference ops, tighter */
        check_close("fast vs reference logits", logits, logits_ref, (long)T * V, 1e-5f, 1e-4f);
        free(logits), free(logits_ref);
    }
    CHECK(gp == gend, "golden file fully consumed (%ld of %ld floats)", (long)(gp - (const float *)gold),
          (long)(gend - (const float *)gold));

    /* ---- gpt2_capture: same as the hook, early stop, windows ---- */
    {
        int T = 21;
        int32_t ids[21];
        for (int t = 0; t < T; t++) ids[t] = (7 * t + 3) % V;
        float *cap = xmalloc((size_t)T * 4 * C * sizeof(float));
        CHECK(gpt2_capture(&f, ids, T, 0, GPT2_MLP_PRE, cap) == 0 && f.n_hooks == 0,
              "gpt2_capture layer 0 mlp_pre, T=21 (the capture hook is removed after)");
        check_close("capture == hooked full pass", cap, k.acts[0][GPT2_MLP_PRE], (long)T * 4 * C, 0, 0);
        /* early stop: after mlp_pre of layer 0, f.ln still holds ln_2 of layer 0
         * (for the last window), not ln_f's output */
        int Tw = T - NCTX;
        float *ln2 = xmalloc((size_t)Tw * C * sizeof(float));
        layernorm_forward(ln2, k.acts[0][GPT2_RESID_MID] + (long)NCTX * C, m.w.h[0].ln2w, m.w.h[0].ln2b, Tw, C, 1e-5f);
        check_close("capture stopped right after layer 0 mlp_pre (ln buffer = ln_2 of layer 0)", f.ln, ln2,
                    (long)Tw * C, 1e-6f, 1e-5f);
        free(ln2);
        /* a window of n_ctx tokens is computed alone: its capture equals the
         * capture of those tokens as a separate input */
        float *cap2 = xmalloc((size_t)Tw * 4 * C * sizeof(float));
        CHECK(gpt2_capture(&f, ids + NCTX, Tw, 1, GPT2_RESID_POST, cap2) == 0, "capture of the second window alone");
        check_close("second window == separate input (non-overlapping windows from position 0)", cap2,
                    k.acts[1][GPT2_RESID_POST] + (long)NCTX * C, (long)Tw * C, 0, 0);
        free(cap2);
        free(cap);
    }

    /* ---- gpt2_stream: two sites and the logits in one pass, two runs stacked ---- */
    {
        int T = 21, T2 = 5;
        int32_t ids[21];
        for (int t = 0; t < T; t++) ids[t] = (7 * t + 3) % V;
        float *want_logits = xmalloc((size_t)T * V * sizeof(float));
        CHECK(gpt2_forward(&f, ids, T, want_logits) == 0, "plain pass with logits, T=21");
        float *want2 = xmalloc((size_t)T2 * 4 * C * sizeof(float));
        CHECK(gpt2_capture(&f, ids + 3, T2, 0, GPT2_MLP_PRE, want2) == 0, "capture of 5 tokens alone");
        Rows pre = {xmalloc((size_t)(T + T2) * 4 * C * sizeof(float)), 0, 0, 1};
        Rows post = {xmalloc((size_t)(T + T2) * C * sizeof(float)), 0, 0, 1};
        Rows lg = {xmalloc((size_t)(T + T2) * V * sizeof(float)), 0, 0, 1};
        GPT2Stream gs;
        gpt2_stream_init(&gs, &f);
        CHECK(gpt2_stream_add(&gs, 0, GPT2_MLP_PRE, rows_sink, &pre) == 0 &&
                  gpt2_stream_add(&gs, 1, GPT2_RESID_POST, rows_sink, &post) == 0,
              "a stream with two sites (layer 0 mlp_pre, layer 1 resid_post)");
        CHECK(gpt2_stream_add(&gs, L, GPT2_MLP_PRE, rows_sink, &pre) == -1 && strstr(err_get(), "layer 2"),
              "a stream refuses a layer the model lacks: %s", err_get());
        gpt2_stream_add_logits(&gs, rows_sink, &lg);
        CHECK(gpt2_stream_run(&gs, ids, T) == 0 && gpt2_stream_run(&gs, ids + 3, T2) == 0,
              "two runs (21 tokens: 2 windows, then 5 tokens)");
        CHECK(pre.calls == 3 && post.calls == 3 && lg.calls == 3 && pre.in_order && post.in_order && lg.in_order,
              "each sink got 3 windows, rows in order (%d, %d, %d calls)", pre.calls, post.calls, lg.calls);
        check_close("stream layer 0 mlp_pre == hooked full pass", pre.out, k.acts[0][GPT2_MLP_PRE], (long)T * 4 * C, 0, 0);
        check_close("stream layer 1 resid_post == hooked full pass", post.out, k.acts[1][GPT2_RESID_POST], (long)T * C, 0,
                    0);
        check_close("stream logits == gpt2_forward's", lg.out, want_logits, (long)T * V, 0, 0);
        check_close("second run's rows stack after the first (== captured alone)", pre.out + (long)T * 4 * C, want2,
                    (long)T2 * 4 * C, 0, 0);
        int before = gpt2_forward_add_hook(&f, 0, GPT2_ATTN_OUT, zero_hook, NULL);
        gpt2_stream_free(&gs);
        CHECK(before == 0 && f.n_hooks == 1 && f.hooks[0].fn == zero_hook,
              "gpt2_stream_free removes only the stream's hooks (%d left)", f.n_hooks);
        gpt2_forward_clear_hooks(&f);
        free(pre.out), free(post.out), free(lg.out), free(want_logits), free(want2);
    }

    /* ---- a modifying hook: zero mlp_post at layer 0 => resid_post = resid_mid + c_proj bias ---- */
    {
        int T = 9;
        int32_t ids[9] = {1, 2, 3, 4, 5, 6, 7, 8, 49};
        Collect z = {0};
        for (int l = 0; l < L; l++)
            for (int s = 0; s < GPT2_NSITES; s++) z.acts[l][s] = xcalloc((size_t)T * 4 * C, sizeof(float));
        gpt2_forward_add_hook(&f, 0, GPT2_MLP_POST, zero_hook, NULL);
        gpt2_forward_add_hook(&f, 0, GPT2_RESID_MID, collect_hook, &z);
        gpt2_forward_add_hook(&f, 0, GPT2_RESID_POST, collect_hook, &z);
        CHECK(gpt2_forward(&f, ids, T, NULL) == 0, "pass with a hook that zeroes layer 0 mlp_post");
        float *expect = xmalloc((size_t)T * C * sizeof(float));
        for (int t = 0; t < T; t++)
            for (int i = 0; i < C; i++)
                expect[t * C + i] = z.acts[0][GPT2_RESID_MID][t * C + i] + m.w.h[0].fcprojb[i];
        check_close("the modification reaches the rest of the pass", z.acts[0][GPT2_RESID_POST], expect, (long)T * C,
                    1e-6f, 1e-6f);
        gpt2_forward_clear_hooks(&f);
        /* a failing hook stops the pass with its message */
        gpt2_forward_add_hook(&f, 1, GPT2_ATTN_OUT, fail_hook, NULL);
        CHECK(gpt2_forward(&f, ids, T, NULL) == -1 && strstr(err_get(), "refuses layer 1"),
              "a failing hook aborts the pass: %s", err_get());
        gpt2_forward_clear_hooks(&f);
        free(expect);
        for (int l = 0; l < L; l++)
            for (int s = 0; s < GPT2_NSITES; s++) free(z.acts[l][s]);
    }

    /* ---- site names ---- */
    {
        int layer = 3;
        GPT2Site s;
        CHECK(gpt2_site_parse("mlp_pre", &layer, &s) == 0 && s == GPT2_MLP_PRE && layer == 3,
              "'mlp_pre' keeps --layer");
        static const char *tl[GPT2_NSITES] = {"blocks.6.hook_resid_pre",  "blocks.6.hook_attn_out",
                                              "blocks.6.hook_resid_mid",  "blocks.6.mlp.hook_pre",
                                              "blocks.6.mlp.hook_post",   "blocks.6.hook_mlp_out",
                                              "blocks.6.hook_resid_post"};
        int ok = 1;
        for (int i = 0; i < GPT2_NSITES; i++) {
            char buf[64];
            layer = 0;
            if (gpt2_site_parse(tl[i], &layer, &s) != 0 || s != (GPT2Site)i || layer != 6) ok = 0;
            gpt2_site_tl_name(buf, sizeof buf, 6, (GPT2Site)i);
            if (strcmp(buf, tl[i]) != 0) ok = 0;
            if (gpt2_site_parse(gpt2_site_name((GPT2Site)i), &layer, &s) != 0 || s != (GPT2Site)i) ok = 0;
        }
        CHECK(ok, "TransformerLens names parse to (6, site) and back, short names too");
        CHECK(gpt2_site_parse("blocks.11.mlp.hook_pre", &layer, &s) == 0 && layer == 11, "blocks.11 parses");
        CHECK(gpt2_site_parse("mlp_in", &layer, &s) == -1 && strstr(err_get(), "mlp_in"),
              "unknown site: %s", err_get());
        CHECK(gpt2_site_parse("blocks.x.mlp.hook_pre", &layer, &s) == -1 &&
              gpt2_site_parse("blocks.6.mlp.hook_pree", &layer, &s) == -1 && gpt2_site_parse("", &layer, &s) == -1,
              "malformed TransformerLens names are rejected");
        CHECK(gpt2_site_width(&m.cfg, GPT2_MLP_PRE) == 4 * C && gpt2_site_width(&m.cfg, GPT2_RESID_POST) == C,
              "site widths");
    }

    /* ---- bad input ---- */
    {
        int32_t ids[3] = {1, V, 2};
        float out[3 * 4 * C];
        CHECK(gpt2_capture(&f, ids, 3, 0, GPT2_MLP_PRE, out) == -1 && strstr(err_get(), "50") &&
                  strstr(err_get(), "position 1"),
              "id out of range: %s", err_get());
        ids[1] = -1;
        CHECK(gpt2_capture(&f, ids, 3, 0, GPT2_MLP_PRE, out) == -1, "negative id: %s", err_get());
        CHECK(gpt2_capture(&f, ids, 0, 0, GPT2_MLP_PRE, out) == -1 && strstr(err_get(), "empty"),
              "empty input: %s", err_get());
        ids[1] = 5;
        CHECK(gpt2_capture(&f, ids, 3, L, GPT2_MLP_PRE, out) == -1 && strstr(err_get(), "layer 2"),
              "missing layer: %s", err_get());
        CHECK(gpt2_capture(&f, ids, 3, -1, GPT2_MLP_PRE, out) == -1, "negative layer: %s", err_get());
        CHECK(gpt2_capture(&f, ids, 3, 0, GPT2_NSITES, out) == -1, "missing site: %s", err_get());
        CHECK(f.n_hooks == 0, "failed captures leave no hook behind");
        GPT2Model bad = m;
        bad.cfg.n_head = 5; /* 24 % 5 != 0 */
        GPT2Forward fb;
        gpt2_forward_init(&fb, &bad);
        CHECK(gpt2_capture(&fb, ids, 3, 0, GPT2_MLP_PRE, out) == -1 && strstr(err_get(), "n_head 5"),
              "inconsistent config: %s", err_get());
        gpt2_forward_free(&fb);
    }

    for (int l = 0; l < L; l++)
        for (int s = 0; s < GPT2_NSITES; s++) free(k.acts[l][s]), free(kr.acts[l][s]);
    free(gold);
    gpt2_forward_free(&f);
    gpt2_forward_free(&f); /* twice: a no-op on a freed struct */
    free(m.w.h);
    free(g_store);
    return test_finish();
}
