/*
 * gpt2/kvcache.c - the KV cache of generation: per block, the keys and values
 * of the positions run so far (see gpt2.h). gpt2_forward_cached (forward.c)
 * fills it; this file makes, copies and frees it.
 */
#include "gpt2/gpt2.h"
#include "core/util.h"

#include <stdlib.h>
#include <string.h>

int gpt2_kv_init(GPT2KVCache *kv, const GPT2Config *cfg) {
    memset(kv, 0, sizeof *kv);
    uint64_t n = (uint64_t)cfg->n_layer * (uint64_t)cfg->n_ctx * (uint64_t)cfg->n_embd;
    if (mem_check(2 * n * sizeof(float), "the KV cache") != 0) return -1;
    kv->L = cfg->n_layer, kv->C = cfg->n_embd, kv->n_ctx = cfg->n_ctx;
    kv->k = xmalloc_aligned(n * sizeof(float));
    kv->v = xmalloc_aligned(n * sizeof(float));
    return 0;
}

void gpt2_kv_free(GPT2KVCache *kv) {
    if (!kv) return;
    free(kv->k);
    free(kv->v);
    memset(kv, 0, sizeof *kv);
}

void gpt2_kv_copy(GPT2KVCache *dst, const GPT2KVCache *src) {
    size_t row = (size_t)src->len * src->C * sizeof(float);
    for (int l = 0; l < src->L; l++) {
        long off = (long)l * src->n_ctx * src->C;
        memcpy(dst->k + off, src->k + off, row);
        memcpy(dst->v + off, src->v + off, row);
    }
    dst->len = src->len;
}
