/*
 * cli/generate.h - the state `./run generate` (cli/cmd_generate.c) builds, and
 * its --compare view (cli/generate_compare.c).
 */
#ifndef CLI_GENERATE_H
#define CLI_GENERATE_H

#include "eval/intervene.h"
#include "gpt2/generate.h"
#include "gpt2/model.h"
#include "tokenizer/bpe.h"

#include <stddef.h>

/* The options, as parsed. */
typedef struct {
    const char *prompt, *prompt_file, *weights, *model, *sae_dir, *hook, *html;
    int random_weights, compare, splice, threads, quiet;
    int latent_show;            /* the latent --compare shows (-1: none yet) */
    GPT2GenParams gp;           /* sampler, max_new, n_samples, seed, eos */
    EvalLatent *steer, *clamp;  /* (n_steer), (n_clamp): --steer L:COEF; --clamp L=V and --ablate L (V = 0) */
    int n_steer, n_clamp;
} GenOpts;

/* The run: what each step loads. Owned by cmd_generate. */
typedef struct {
    const GenOpts *o;
    char *text;               /* the prompt's text (text_len bytes) */
    size_t text_len;
    char *wpath;              /* the checkpoint used */
    GPT2Model m;
    BPE bpe;
    BPEIds ids;               /* the prompt's tokens */
    EvalSAE sae;              /* when --sae */
    EvalIntervention iv[3];   /* clamp/ablate, splice, steer: those asked for, in that order */
    int n_iv;
} GenRun;

/* Register the interventions the options ask for on f (their scratch, in
 * R->iv, is reset first). Returns 0, or -1 with err_set() (a latent the SAE
 * does not have, a --hook other than the SAE's, ...). */
int generate_add_interventions(GenRun *R, GPT2Forward *f);
/* Make the samples with f's hooks, streaming them to stdout under a header
 * naming label ("" for none; one per sample when there are several); say on
 * stderr which stopped at n_ctx and how fast it went. Returns 0 or -1. */
int generate_run(GenRun *R, GPT2Forward *f, const char *label, GPT2Generation *g);
/* --compare: the samples without and with the interventions from the same
 * seed, each new token's activation of o->latent_show, and the page o->html.
 * Returns 0 or -1. */
int generate_compare(GenRun *R);

#endif
