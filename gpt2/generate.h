/*
 * gpt2/generate.h - text generation on the CPU: a prompt pass into a KV
 * cache, then one token at a time (gpt2_forward_cached, gpt2.h), each drawn
 * from the model's distribution after the usual filters (gpt2/sample.c).
 * Hooks registered on the GPT2Forward (an SAE intervention, a capture) fire
 * on the prompt and on every step.
 *
 *   GPT2GenParams p = gpt2_gen_default_params();  // T 1, no filters, 64 tokens, seed 0
 *   p.sampler.top_p = 0.9f;
 *   p.max_new = 100;
 *   p.on_token = print_token; p.user = &bpe;       // streams each token as it is made
 *   GPT2Generation g;
 *   if (gpt2_generate(&f, prompt, T, &p, &g) != 0) return cli_fail();   // bad sampler, prompt, ...
 *   // g.tokens[s] (g.n[s]) the new tokens of sample s; g.stop[s] why it ended
 *   gpt2_generation_free(&g);
 *
 * THE FILTERS, in the order applied to the logits z (V) of the last position
 * (Hugging Face's logits processors, then its warpers, as generate() runs them):
 *   frequency penalty  z_j -= count_j * freq_penalty      OpenAI's definition; count_j
 *                      is how many times token j was GENERATED so far in this sample (the
 *                      prompt's tokens are not counted); 0 turns it off
 *   greedy             (--greedy or temperature 0) the argmax of z, first index on ties; the
 *                      filters below are then skipped
 *   temperature        z_j /= temperature
 *   top-k              z_j = -inf where z_j < the k-th largest z (ties with it are kept:
 *                      HF's TopKLogitsWarper); 0 turns it off
 *   top-p              with p = softmax(z) sorted ascending and c its cumulative sum, drop
 *                      the tokens whose c <= 1 - top_p, always keeping the largest
 *                      (HF's TopPLogitsWarper); 1 turns it off
 *   probabilities      softmax of what is left (double precision)
 * A sample is then drawn by inverse CDF from a 53-bit uniform of core/util.h's
 * Rng, seeded from (seed, sample index): sample s is the same text for a given
 * seed whatever the thread count, the run, or the other samples.
 *
 * THE CONTEXT. GPT-2 has n_ctx positions (1024) for the prompt and the new
 * tokens together. A prompt of n_ctx tokens or more is refused; a sample
 * whose text reaches n_ctx tokens stops there (GPT2_STOP_CTX: the caller
 * says so). There is no sliding window: sliding would drop the start of the
 * text and re-run the rest at every token, changing what the model sees
 * without saying so.
 */
#ifndef GPT2_GENERATE_H
#define GPT2_GENERATE_H

#include <stdint.h>

#include "core/util.h"
#include "gpt2/gpt2.h"

/* ---- sampling (gpt2/sample.c) ---- */

typedef struct {
    float temperature;  /* >= 0; 0 = greedy. Default 1 */
    int top_k;          /* >= 0; 0 = off */
    float top_p;        /* (0, 1]; 1 = off */
    float freq_penalty; /* [-2, 2] (OpenAI's range); 0 = off */
    int greedy;         /* 1: the argmax of the penalised logits */
} GPT2Sampler;

/* temperature 1, no filters, not greedy */
GPT2Sampler gpt2_sampler_default(void);
/* 0 if the settings are valid, else -1 with err_set() naming the option
 * (--temperature, --top-k, --top-p, --freq-penalty) and its range. */
int gpt2_sampler_check(const GPT2Sampler *s);
/* probs (V) = the distribution the next token is drawn from: the filters
 * above applied to logits (V), with counts (V) the times each token was
 * generated so far (NULL: none). Greedy gives a one-hot distribution.
 * scratch: (2 V) doubles, or NULL to allocate one for the call. */
void gpt2_sample_probs(const GPT2Sampler *s, const float *logits, const int *counts, int V, double *probs,
                       double *scratch);
/* Draw a token from probs (V) with rng: the first j whose cumulative
 * probability exceeds a uniform u in [0, 1) (53 bits). */
int32_t gpt2_sample_draw(const double *probs, int V, Rng *rng);
/* The Rng of sample `sample` for a seed. */
void gpt2_sample_rng(Rng *rng, uint64_t seed, int sample);

/* ---- generation (gpt2/generate.c) ---- */

typedef enum {
    GPT2_STOP_MAX_NEW, /* made max_new tokens */
    GPT2_STOP_EOS,     /* made eos_id (with stop_at_eos) */
    GPT2_STOP_CTX      /* the text (prompt + new) reached n_ctx tokens */
} GPT2StopReason;

/* Called as each token is made (sample 0..n_samples-1, in order). Return 0
 * to go on; non-zero stops the generation (gpt2_generate returns -1; set
 * err_set() first). */
typedef int (*GPT2TokenFn)(void *user, int sample, int32_t token);

/* Another place to run the model than the CPU (the GPU's: cuda/cuda.h,
 * cuda_decoder_view): run(state, ids, T, pos, logits) runs ids (T) at
 * positions pos .. pos+T-1 against its own KV cache, whose positions
 * 0 .. pos-1 hold those of earlier calls, and writes logits (V) of the last
 * row; 0, or -1 with err_set(). Generation calls it with pos 0 for the
 * prompt, then one token at a time; each sample restarts at pos = the
 * prompt's length (the prompt's keys and values are never overwritten). Its
 * interventions are its own: hooks on the GPT2Forward run on the CPU only. */
typedef struct {
    int (*run)(void *state, const int32_t *ids, int T, int pos, float *logits);
    void *state;
} GPT2Decoder;

typedef struct {
    GPT2Sampler sampler;
    int max_new;         /* new tokens per sample, >= 1 (default 64) */
    int n_samples;       /* >= 1 (default 1) */
    uint64_t seed;       /* default 0 */
    int stop_at_eos;     /* stop a sample once it makes eos_id */
    int32_t eos_id;      /* <|endoftext|> = 50256 (default) */
    GPT2TokenFn on_token;/* or NULL */
    void *user;
    const GPT2Decoder *decoder; /* NULL: the CPU (f's KV cache and hooks); else the model runs there,
                                   with f only for its configuration (f may have no hooks then) */
} GPT2GenParams;

GPT2GenParams gpt2_gen_default_params(void);

/* What gpt2_generate made. Owned; free with gpt2_generation_free. */
typedef struct {
    int n_samples;
    int32_t **tokens;     /* (n_samples) each (n[s]) the new tokens (the prompt is not repeated) */
    int *n;               /* (n_samples) */
    GPT2StopReason *stop; /* (n_samples) */
} GPT2Generation;

/* Generate p->n_samples continuations of prompt (T) with f's model and
 * hooks. The prompt is run once (its cache copied for each sample). Returns
 * 0, or -1 with err_set(): an empty prompt, a prompt of n_ctx tokens or more, an
 * id outside the vocabulary, bad sampler settings, a hook or on_token that
 * failed. g is filled in either case (what was made before a failure). */
int gpt2_generate(GPT2Forward *f, const int32_t *prompt, int T, const GPT2GenParams *p, GPT2Generation *g);
void gpt2_generation_free(GPT2Generation *g);

#endif
