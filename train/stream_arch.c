/*
 * train/stream_arch.c - every architecture of sae/arch.h (topk + AuxK,
 * batchtopk, jumprelu, relu, gated) as a StreamModel: one sae_arch_step a
 * batch (its loss, L0, FVU and dead latents come from the step's log), the
 * SAELens folder at each checkpoint (sae/arch_io.h), and its part of state.bin:
 *
 *   ArchHead               the parameters (the architecture and every option),
 *                          the step, batchtopk's theta and last kept minimum,
 *                          the input scale, the number of tensors
 *   per tensor, in m.t[]   int64 len; float w (len); float m (len); float v (len)
 *   int64 since_fired (n)
 *
 * The weights are kept here exactly (the SAELens files may fold the input
 * scale or a decoder norm into them), so a resume continues bit for bit.
 * The parameters are the checkpoint's on resume, but total_steps (the end
 * of the LR decay), which is the new budget's.
 */
#include "core/util.h"
#include "sae/arch_io.h"
#include "train/stream.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int64_t arch, d, n, k, k_aux, multi_topk, lambda_warmup, scale_inputs, dead_tokens, b_dec_init, warmup_steps,
        decay_steps, total_steps, seed, step, n_t;
    float aux_alpha, threshold_lr, lambda, jump_eps, theta0, lr, beta1, beta2, adam_eps, grad_clip, threshold,
        min_kept, input_scale, unused;
} ArchHead;
_Static_assert(sizeof(ArchHead) == 16 * 8 + 14 * 4, "ArchHead has no padding (state.bin is compared byte for byte)");

enum { SAMPLE_ROWS = 4096 };   /* rows for b_dec's geometric median (and relu's input scale) */

int stream_arch_init(StreamArch *a, const SAEArchParams *p, RowSource *src, const StreamTrain *t) {
    memset(a, 0, sizeof *a);
    a->want_arch = -1;
    a->d = src->width;
    a->total_steps = stream_total_steps(t, src);
    SAEArchParams q = *p;
    q.d = src->width;
    q.total_steps = a->total_steps;
    if (sae_arch_check_params(&q) != 0) return -1;
    double budget = t->tokens > 0 ? t->tokens : (double)src->epoch_rows(src->self);
    long S = budget > 0 && budget < SAMPLE_ROWS ? (long)budget : SAMPLE_ROWS;
    long er = src->epoch_rows(src->self);
    if (er > 0 && er < S) S = er;
    float *X = xmalloc((size_t)S * q.d * sizeof(float));
    int64_t cur[4];
    src->cursor(src->self, cur);
    int rc = src->next(src->self, X, S);
    src->seek(src->self, cur);   /* training starts at the first row again */
    if (rc == 0) rc = sae_arch_init(&a->m, &q, X, (int)S);
    free(X);
    return rc;
}

void stream_arch_init_resume(StreamArch *a, RowSource *src, const StreamTrain *t, int want_arch) {
    memset(a, 0, sizeof *a);
    a->want_arch = want_arch;
    a->d = src->width;
    a->total_steps = stream_total_steps(t, src);
}

void stream_arch_free(StreamArch *a) {
    sae_arch_free(&a->m);
    memset(a, 0, sizeof *a);
}

static int arch_step(void *self, const float *X, int n, StreamStep *out) {
    StreamArch *a = self;
    SAEArchLog g;
    if (sae_arch_step(&a->m, X, n, &g) != 0) return -1;
    out->loss = g.loss, out->l0 = g.l0, out->fvu = g.fvu, out->dead_frac = g.dead_frac;
    snprintf(out->csv, sizeof out->csv, "%.9g,%.9g,%.9g,%.9g,%.3f,%.6f,%.3f,%.6g,%.6g", g.loss, g.recon, g.sparsity,
             g.aux, g.l0, g.fvu, 100 * g.dead_frac, g.grad_norm, g.lr);
    return 0;
}

static int arch_save(void *self, const char *dir, const StreamTrain *t) {
    StreamArch *a = self;
    SAEArchMeta meta = {t->model, t->hook, t->ctx, t->dataset};
    return sae_arch_save_saelens(&a->m, dir, &meta, NULL);
}

static int arch_state_write(void *self, FILE *f) {
    StreamArch *a = self;
    const SAEArch *m = &a->m;
    const SAEArchParams *p = &m->p;
    ArchHead h;
    memset(&h, 0, sizeof h);
    h.arch = p->arch, h.d = p->d, h.n = p->n, h.k = p->k, h.k_aux = p->k_aux, h.multi_topk = p->multi_topk;
    h.lambda_warmup = p->lambda_warmup, h.scale_inputs = p->scale_inputs, h.dead_tokens = p->dead_tokens;
    h.b_dec_init = p->b_dec_init, h.warmup_steps = p->warmup_steps, h.decay_steps = p->decay_steps;
    h.total_steps = p->total_steps, h.seed = (int64_t)p->seed, h.step = m->step, h.n_t = m->n_t;
    h.aux_alpha = p->aux_alpha, h.threshold_lr = p->threshold_lr, h.lambda = p->lambda, h.jump_eps = p->jump_eps;
    h.theta0 = p->theta0, h.lr = p->lr, h.beta1 = p->beta1, h.beta2 = p->beta2, h.adam_eps = p->adam_eps;
    h.grad_clip = p->grad_clip, h.threshold = m->threshold, h.min_kept = m->min_kept, h.input_scale = m->input_scale;
    if (fwrite(&h, sizeof h, 1, f) != 1) return -1;
    for (int i = 0; i < m->n_t; i++) {
        const SAEArchTensor *T = &m->t[i];
        int64_t len = T->len;
        size_t n = (size_t)T->len;
        if (fwrite(&len, sizeof len, 1, f) != 1 || fwrite(T->w, sizeof(float), n, f) != n ||
            fwrite(T->m, sizeof(float), n, f) != n || fwrite(T->v, sizeof(float), n, f) != n)
            return -1;
    }
    for (int i = 0; i < p->n; i++) {
        int64_t s = m->since_fired[i];
        if (fwrite(&s, sizeof s, 1, f) != 1) return -1;
    }
    return 0;
}

static int arch_state_read(void *self, const char *p, size_t len, const char *path) {
    StreamArch *a = self;
    ArchHead h;
    if (len < sizeof h) return err_set("%s: the training state is truncated; the checkpoint is damaged", path);
    memcpy(&h, p, sizeof h);
    if (h.arch < 0 || h.arch >= SAE_ARCH_COUNT || h.d != a->d)
        return err_set("%s: the state is for an SAE of input width %lld, the rows here are %d wide; give the cache "
                       "(or --hook) it was trained on", path, (long long)h.d, a->d);
    if (a->want_arch >= 0 && h.arch != a->want_arch)
        return err_set("%s: the checkpoint holds a %s SAE, not %s; give --arch %s (or leave --arch out)", path,
                       sae_arch_name((SAEArchKind)h.arch), sae_arch_name((SAEArchKind)a->want_arch),
                       sae_arch_name((SAEArchKind)h.arch));
    SAEArchParams q = sae_arch_default_params((SAEArchKind)h.arch, (int)h.d, (int)h.n);
    q.k = (int)h.k, q.k_aux = (int)h.k_aux, q.multi_topk = (int)h.multi_topk, q.lambda_warmup = h.lambda_warmup;
    q.scale_inputs = (int)h.scale_inputs, q.dead_tokens = h.dead_tokens, q.b_dec_init = (SAEBdecInit)h.b_dec_init;
    q.warmup_steps = h.warmup_steps, q.decay_steps = h.decay_steps, q.seed = (uint64_t)h.seed;
    q.aux_alpha = h.aux_alpha, q.threshold_lr = h.threshold_lr, q.lambda = h.lambda, q.jump_eps = h.jump_eps;
    q.theta0 = h.theta0, q.lr = h.lr, q.beta1 = h.beta1, q.beta2 = h.beta2, q.adam_eps = h.adam_eps;
    q.grad_clip = h.grad_clip;
    q.total_steps = a->total_steps;
    sae_arch_free(&a->m);
    if (sae_arch_init(&a->m, &q, NULL, 0) != 0) return err_prefix("%s", path);
    SAEArch *m = &a->m;
    size_t want = sizeof h + (size_t)m->p.n * sizeof(int64_t);
    for (int i = 0; i < m->n_t; i++) want += sizeof(int64_t) + 3 * (size_t)m->t[i].len * sizeof(float);
    if (h.n_t != m->n_t || len != want)
        return err_set("%s: the state is %zu bytes, a %s SAE of d = %lld, n = %lld needs %zu; the checkpoint is damaged",
                       path, len, sae_arch_name(m->p.arch), (long long)h.d, (long long)h.n, want);
    p += sizeof h;
    for (int i = 0; i < m->n_t; i++) {
        SAEArchTensor *T = &m->t[i];
        int64_t tl;
        memcpy(&tl, p, sizeof tl);
        if (tl != T->len) return err_set("%s: tensor %s has %lld values, not %ld; the checkpoint is damaged", path, T->name, (long long)tl, T->len);
        size_t n = (size_t)T->len * sizeof(float);
        p += sizeof tl;
        memcpy(T->w, p, n), memcpy(T->m, p + n, n), memcpy(T->v, p + 2 * n, n);
        p += 3 * n;
    }
    for (int i = 0; i < m->p.n; i++) {
        int64_t s;
        memcpy(&s, p + (size_t)i * sizeof s, sizeof s);
        m->since_fired[i] = (long)s;
    }
    m->step = (long)h.step;
    m->threshold = h.threshold, m->min_kept = h.min_kept, m->input_scale = h.input_scale;
    return 0;
}

StreamModel stream_arch_model(StreamArch *a) {
    return (StreamModel){a, a->d, a->m.W_enc ? sae_arch_name(a->m.p.arch) : "sae/arch.h", STREAM_ARCH_MAGIC,
                         "loss,recon,sparsity,aux,l0,fvu,dead_pct,grad_norm,lr",
                         arch_step, arch_save, arch_state_write, arch_state_read};
}
