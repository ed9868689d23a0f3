/*
 * gpt2/generate.c - the generation loop: the prompt once into a KV cache,
 * then for each sample: a copy of that cache, and per step the distribution
 * (sample.c), a draw, and the new token run at the next position. The
 * model runs on the CPU (gpt2_forward_cached) or on a GPT2Decoder (the GPU),
 * the sampling here in both cases. See generate.h.
 */
#include "gpt2/generate.h"

#include <stdlib.h>
#include <string.h>

GPT2GenParams gpt2_gen_default_params(void) {
    GPT2GenParams p;
    memset(&p, 0, sizeof p);
    p.sampler = gpt2_sampler_default();
    p.max_new = 64;
    p.n_samples = 1;
    p.eos_id = 50256;
    return p;
}

void gpt2_generation_free(GPT2Generation *g) {
    if (!g) return;
    for (int s = 0; s < g->n_samples && g->tokens; s++) free(g->tokens[s]);
    free(g->tokens);
    free(g->n);
    free(g->stop);
    memset(g, 0, sizeof *g);
}

/* Run ids (T) at positions pos.. : on the decoder when there is one, else
 * on the CPU into kv (whose len is pos). logits (V) of the last row. */
static int run_tokens(GPT2Forward *f, GPT2KVCache *kv, const GPT2Decoder *dec, const int32_t *ids, int T, int pos,
                      float *logits) {
    if (dec) return dec->run(dec->state, ids, T, pos, logits);
    return gpt2_forward_cached(f, kv, ids, T, logits, 1);
}

int gpt2_generate(GPT2Forward *f, const int32_t *prompt, int T, const GPT2GenParams *p, GPT2Generation *g) {
    const GPT2Config *c = &f->m->cfg;
    int V = c->vocab_size;
    memset(g, 0, sizeof *g);
    if (T < 1 || !prompt) return err_set("the prompt is empty: give at least one token to continue");
    if (T >= c->n_ctx)
        return err_set("the prompt has %d tokens, but %s sees at most n_ctx = %d, prompt and new tokens together: "
                       "shorten it to under %d tokens", T, c->name, c->n_ctx, c->n_ctx);
    if (gpt2_sampler_check(&p->sampler) != 0) return -1;
    if (p->max_new < 1) return err_set("--max-new %d: make at least 1 token", p->max_new);
    if (p->n_samples < 1) return err_set("-n %d: ask for at least 1 sample", p->n_samples);
    const GPT2Decoder *dec = p->decoder;
    if (dec && f->n_hooks)
        return err_set("gpt2_generate: %d hook%s on the CPU's forward pass, but the model runs on a decoder: give the "
                       "decoder its interventions instead", f->n_hooks, f->n_hooks == 1 ? "" : "s");

    g->n_samples = p->n_samples;
    g->tokens = xcalloc((size_t)p->n_samples, sizeof *g->tokens);
    g->n = xcalloc((size_t)p->n_samples, sizeof *g->n);
    g->stop = xcalloc((size_t)p->n_samples, sizeof *g->stop);
    GPT2KVCache prompt_kv = {0}, kv = {0};
    float *prompt_logits = xmalloc((size_t)V * sizeof(float)); /* (V) after the prompt */
    float *logits = xmalloc((size_t)V * sizeof(float));        /* (V) after the last token */
    double *probs = xmalloc((size_t)V * sizeof(double));       /* (V) */
    double *scratch = xmalloc((size_t)V * 2 * sizeof(double)); /* (2V) */
    int *counts = xmalloc((size_t)V * sizeof(int));            /* (V) times each token was made */
    int rc = -1;

    /* the prompt, once: its keys and values, and the logits of its last position
     * (a decoder keeps its own cache: a sample rewinds it to the prompt's end) */
    if (!dec && gpt2_kv_init(&prompt_kv, c) != 0) goto done;
    if (run_tokens(f, &prompt_kv, dec, prompt, T, 0, prompt_logits) != 0) goto done;
    if (!dec && p->n_samples > 1 && gpt2_kv_init(&kv, c) != 0) goto done;

    for (int s = 0; s < p->n_samples; s++) {
        /* the sample's own cache: the prompt's (the last sample takes it over) */
        GPT2KVCache *cur = &prompt_kv;
        int len = T; /* positions the sample's cache holds */
        if (!dec && s < p->n_samples - 1) {
            gpt2_kv_copy(&kv, &prompt_kv);
            cur = &kv;
        }
        Rng rng;
        gpt2_sample_rng(&rng, p->seed, s);
        memcpy(logits, prompt_logits, (size_t)V * sizeof(float));
        memset(counts, 0, (size_t)V * sizeof(int));
        g->tokens[s] = xmalloc((size_t)p->max_new * sizeof(int32_t));
        for (;;) {
            /* the next token from the distribution after the filters */
            gpt2_sample_probs(&p->sampler, logits, counts, V, probs, scratch);
            int32_t tok = gpt2_sample_draw(probs, V, &rng);
            g->tokens[s][g->n[s]++] = tok;
            counts[tok]++;
            err_clear();
            if (p->on_token && p->on_token(p->user, s, tok) != 0) {
                if (!err_get()[0]) err_set("generation stopped by the token callback");
                goto done;
            }
            if (p->stop_at_eos && tok == p->eos_id) {
                g->stop[s] = GPT2_STOP_EOS;
                break;
            }
            if (g->n[s] == p->max_new) {
                g->stop[s] = GPT2_STOP_MAX_NEW;
                break;
            }
            if (len + 1 == c->n_ctx) { /* the text (the cache + tok) fills every position */
                g->stop[s] = GPT2_STOP_CTX;
                break;
            }
            /* run it at the next position: the logits for the one after */
            if (run_tokens(f, cur, dec, &tok, 1, len, logits) != 0) goto done;
            len++;
        }
    }
    rc = 0;
done:
    gpt2_kv_free(&prompt_kv);
    gpt2_kv_free(&kv);
    free(prompt_logits);
    free(logits);
    free(probs);
    free(scratch);
    free(counts);
    return rc;
}
