/*
 * tests/hash_model.h - a random GPT-2 built in memory whose weights are a
 * hash of their index, so that C and the PyTorch golden scripts
 * (tests/gen_gpt2_tiny.py, tests/gen_gpt2_sizes.py) build the same model
 * without a weights file. All tensors, in the order below, are laid end to
 * end; element g gets
 *     u = (fmix32(g) >> 8) * 2^-23 - 1          (exact in float32, in [-1, 1))
 * and a per-kind affine map: 'l' LayerNorm weight 1 + u/8, 's' bias u/16,
 * 'm' matrix u * mat_scale, 'e' wte u/2, 'p' wpe u/4.
 *
 *   GPT2Model m;
 *   float *store = hash_model(&m, 2, 3, 24, 50, 16, 0.125f);   // L, NH, C, V, n_ctx
 *   ...
 *   free(m.w.h); free(store);
 */
#ifndef TESTS_HASH_MODEL_H
#define TESTS_HASH_MODEL_H

#include "core/util.h"
#include "gpt2/model.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* murmur3's finalizer */
static inline uint32_t hash_fmix32(uint32_t h) {
    h ^= h >> 16;
    h *= 0x85EBCA6Bu;
    h ^= h >> 13;
    h *= 0xC2B2AE35u;
    h ^= h >> 16;
    return h;
}

typedef struct { float *store; uint32_t offset; float mat_scale; } HashStream;

/* The next tensor of n values from the stream, mapped by kind. */
static inline const float *hash_tensor(HashStream *s, long n, char kind) {
    float *x = s->store + s->offset;
    for (long i = 0; i < n; i++) {
        float u = (float)(hash_fmix32(s->offset + (uint32_t)i) >> 8) * (1.0f / 8388608.0f) - 1.0f;
        x[i] = kind == 'l' ? 1.0f + u * 0.125f : kind == 's' ? u * 0.0625f : kind == 'm' ? u * s->mat_scale
             : kind == 'e' ? u * 0.5f : u * 0.25f;
    }
    s->offset += (uint32_t)n;
    return x;
}

/* Fills m (tied lm_head, eps 1e-5, marked random); returns the storage to free. */
static inline float *hash_model(GPT2Model *m, int L, int NH, int C, int V, int NCTX, float mat_scale) {
    memset(m, 0, sizeof *m);
    m->cfg.n_layer = L; m->cfg.n_head = NH; m->cfg.n_embd = C; m->cfg.n_ctx = NCTX; m->cfg.vocab_size = V;
    m->cfg.ln_eps = 1e-5f; m->cfg.random = 1;
    snprintf(m->cfg.name, sizeof m->cfg.name, "hash-%d-%d", NH, C);
    long n = (long)V * C + (long)NCTX * C + 2L * C + (long)L * (12L * C * C + 13L * C);
    HashStream s = {xmalloc((size_t)n * sizeof(float)), 0, mat_scale};
    m->w.wte = hash_tensor(&s, (long)V * C, 'e');
    m->w.wpe = hash_tensor(&s, (long)NCTX * C, 'p');
    m->w.h = xcalloc(L, sizeof(GPT2Layer));
    for (int l = 0; l < L; l++) {
        GPT2Layer *w = &m->w.h[l];
        w->ln1w = hash_tensor(&s, C, 'l'), w->ln1b = hash_tensor(&s, C, 's');
        w->qkvw = hash_tensor(&s, 3L * C * C, 'm'), w->qkvb = hash_tensor(&s, 3 * C, 's');
        w->attprojw = hash_tensor(&s, (long)C * C, 'm'), w->attprojb = hash_tensor(&s, C, 's');
        w->ln2w = hash_tensor(&s, C, 'l'), w->ln2b = hash_tensor(&s, C, 's');
        w->fcw = hash_tensor(&s, 4L * C * C, 'm'), w->fcb = hash_tensor(&s, 4 * C, 's');
        w->fcprojw = hash_tensor(&s, 4L * C * C, 'm'), w->fcprojb = hash_tensor(&s, C, 's');
    }
    m->w.lnfw = hash_tensor(&s, C, 'l'), m->w.lnfb = hash_tensor(&s, C, 's');
    m->w.lm_head = m->w.wte;
    return s.store;
}

#endif
