/*
 * cli/pipeline.h - what the stages of `./run FILE...` (cli/cmd_pipeline.c)
 * hand to the last one, the outputs (cli/pipeline_out.c).
 */
#ifndef CLI_PIPELINE_H
#define CLI_PIPELINE_H

#include "gpt2/gpt2.h"
#include "gpt2/model.h"
#include "sae/sae.h"
#include "tokenizer/bpe.h"

#include <stddef.h>
#include <stdint.h>

#define RANDOM_LABEL "random weights \xE2\x80\x94 not GPT-2"

typedef struct {
    const char *out_dir, *model, *weights, *site, *category, *device;
    int random_weights, quiet;
    int layer;          /* -1: n_layer / 2 */
    int epochs, k, L, batch, top, threads;
    float lr;
    uint64_t seed;
    char **words;       /* (n_words) the word category */
    int n_words, words_owned;
    int *draw;          /* (n_draw) latents to draw, or NULL for the seed's picks */
    int n_draw;
} PipelineOpts;

/* one input text of the corpus */

typedef struct {
    char *path;
    char *text;     /* NUL-terminated (owned) */
    size_t len;
    int t0, T;      /* its tokens are corpus tokens [t0, t0 + T) */
} InputText;

/* stage 7: the latents' scores */

typedef struct {
    SAEStats st;
    float *score;            /* (L) word-category score */
    int *by_score;           /* (L) latents by score, largest first */
    unsigned char *target;   /* (T) token is in the word category */
    int n_target;
    double fve;
} Scores;

/* Everything the outputs are made of (all borrowed). */
typedef struct {
    const PipelineOpts *o;
    const char *label;          /* RANDOM_LABEL or NULL */
    const char *tmp;            /* the folder being written */
    const char *title;          /* the report's title: the first input's name */
    const InputText *in;        /* (n_in) */
    int n_in;
    size_t total_bytes;
    const BPE *bpe;
    const int32_t *ids;         /* (T) */
    long T;
    const GPT2Model *m;
    const char *wpath;          /* the checkpoint used */
    int layer, d;
    GPT2Site site;
    const SAE *sae;
    const SAEParams *p;
    const SAEResult *res;       /* losses per epoch */
    const float *Z;             /* (T, L) the final latents */
    int latents_written;        /* 1: latents.npy is already in tmp */
    const Scores *sc;
    int use_cuda;
    double t0;                  /* when the run started (time_now()) */
    double t_stage[6];          /* seconds since the start at the end of: tokenize, weights, capture, train, scores, outputs */
} PipelineRun;

/* Write the figures, report.html, summary.json, the SAE checkpoint,
 * latents.npy and losses.csv into r->tmp. Returns 0, or -1 (err_get()). */
int pipeline_write_outputs(PipelineRun *r);

#endif
