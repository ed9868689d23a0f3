/*
 * gpt2/stream.c - the streaming capture (gpt2.h): a corpus of any length run
 * through the model in windows of n_ctx, each window's rows at each requested
 * site (and, optionally, its logits) handed to the caller's sink as soon as
 * the window is done. Built on the hooks: each site is a hook on the forward
 * pass that forwards the window's rows, numbered in the whole stream.
 */
#include "gpt2/gpt2.h"
#include "core/util.h"
#include "weights/npy.h"

#include <stdlib.h>
#include <string.h>

struct GPT2StreamSite {
    GPT2Stream *s;
    int layer;
    GPT2Site site;
    GPT2RowSink fn;
    void *user;
};

/* The hook: the window's rows go to the sink, numbered from the stream's start. */
static int site_hook(void *user, const GPT2HookCtx *c, float *act) {
    GPT2StreamSite *ss = user;
    GPT2Rows r = {c->layer, c->site, ss->s->t_window + c->t0, c->T, c->width};
    return ss->fn(ss->user, &r, act);
}

void gpt2_stream_init(GPT2Stream *s, GPT2Forward *f) {
    memset(s, 0, sizeof *s);
    s->f = f;
}

int gpt2_stream_add(GPT2Stream *s, int layer, GPT2Site site, GPT2RowSink fn, void *user) {
    GPT2StreamSite *ss = xmalloc(sizeof *ss);
    *ss = (GPT2StreamSite){s, layer, site, fn, user};
    if (gpt2_forward_add_hook(s->f, layer, site, site_hook, ss) != 0) {
        free(ss);
        return -1;
    }
    s->sites = xrealloc(s->sites, sizeof *s->sites * (size_t)(s->n_sites + 1));
    s->sites[s->n_sites++] = ss;
    return 0;
}

void gpt2_stream_add_logits(GPT2Stream *s, GPT2RowSink fn, void *user) {
    s->logits_fn = fn;
    s->logits_user = user;
}

int gpt2_stream_run(GPT2Stream *s, const int32_t *ids, long T) {
    const GPT2Config *c = &s->f->m->cfg;
    const int nctx = c->n_ctx, V = c->vocab_size;
    if (T < 1 || !ids) return err_set("empty input: there are no tokens to run the model on");
    if (s->logits_fn && !s->logits) s->logits = xmalloc(sizeof(float) * (size_t)nctx * V);   /* (n_ctx, V) */
    /* one window per gpt2_forward call: the logits buffer holds one window */
    for (long t0 = 0; t0 < T; t0 += nctx) {
        int Tw = (int)(T - t0 < nctx ? T - t0 : nctx);
        s->t_window = s->t_done + t0;
        if (gpt2_forward(s->f, ids + t0, Tw, s->logits_fn ? s->logits : NULL) != 0) {
            if (t0 > 0) err_prefix("the window at token %ld", t0);
            return -1;
        }
        if (s->logits_fn) {
            GPT2Rows r = {-1, GPT2_LOGITS, s->t_window, Tw, V};
            err_clear();
            if (s->logits_fn(s->logits_user, &r, s->logits) != 0) {
                if (!err_get()[0]) err_set("the logits sink stopped the pass");
                return -1;
            }
        }
    }
    s->t_done += T;
    return 0;
}

void gpt2_stream_free(GPT2Stream *s) {
    if (!s || !s->f) return;
    /* remove this stream's hooks, keeping the others in their order */
    GPT2Forward *f = s->f;
    int n = 0;
    for (int i = 0; i < f->n_hooks; i++) {
        int mine = 0;
        for (int j = 0; j < s->n_sites && !mine; j++) mine = f->hooks[i].user == s->sites[j];
        if (!mine) f->hooks[n++] = f->hooks[i];
    }
    f->n_hooks = n;
    for (int j = 0; j < s->n_sites; j++) free(s->sites[j]);
    free(s->sites);
    free(s->logits);
    memset(s, 0, sizeof *s);
}

int gpt2_rows_to_npy(void *user, const GPT2Rows *r, const float *rows) {
    return npy_writer_put(user, rows, (int64_t)r->T * r->width);
}
