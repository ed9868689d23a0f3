/*
 * cli/pipeline.h - the state the stages of `./run FILE...` (cli/cmd_pipeline.c)
 * build one after the other, and the last stage, the outputs (cli/pipeline_out.c).
 */
#ifndef CLI_PIPELINE_H
#define CLI_PIPELINE_H

#include "core/dir.h"
#include "eval/metrics.h"
#include "gpt2/gpt2.h"
#include "gpt2/model.h"
#include "sae/sae.h"
#include "tokenizer/bpe.h"
#include "weights/npy.h"

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

/* The tokenizer rule of every command that takes --weights (cli/cmd_capture.c):
 * the checkpoint folder's own vocab.json + merges.txt (or encoder.json +
 * vocab.bpe) when it has them (for a .safetensors file: the folder it is in),
 * else the cache (fetched on first use): weights/fetch.h's
 * fetch_tokenizer_near. weights may be NULL (the cache only). Returns 0 or -1. */
int cli_tokenizer_load(BPE *bpe, const char *weights);
/* The folder of a --weights path: itself for a folder, else the folder the
 * file is in; NULL for NULL. Caller frees. */
char *cli_weights_folder(const char *weights);

/* The run's state: what each stage makes, in the order of the stages
 * (cli/cmd_pipeline.c). Owned by the run; pipeline_free frees it all. */
typedef struct {
    const PipelineOpts *o;
    int tty;                 /* stderr is a terminal: progress bars */
    double t0, stage_t0;     /* when the run and the current stage began (time_now()) */
    double t_stage[6];       /* seconds since t0 at the end of: tokenize, weights, capture, train, scores, outputs */
    /* 1. inputs */
    const char *title;       /* the first argument (the report's title) */
    InputText *in;           /* (n_in) */
    int n_in;
    size_t total_bytes;
    /* 2. the output folder, staged */
    char *out_dir;
    DirTxn txn;              /* everything is written into txn.tmp */
    /* 3. tokens */
    BPE bpe;
    BpeIds ids;              /* (T) every text's tokens, one after the other */
    long T;
    /* 4. the model */
    char *wpath;             /* the checkpoint used */
    GPT2Model m;
    const char *label;       /* RANDOM_LABEL or NULL */
    int layer, d;            /* the captured block, and the site's width */
    GPT2Site site;
    int use_cuda;
    /* 5. activations */
    Npy xa;                  /* activations.npy, mapped: X (T, d) */
    float *d_X;              /* (T, d) the same on the GPU, until the training is done */
    /* 6. the autoencoder */
    SAE sae;
    SAEParams p;
    SAEResult res;           /* losses per epoch */
    /* 7. scores */
    unsigned char *target;   /* (T) the token is in the word category */
    SAEStats st;             /* the post-training pass's statistics */
    Npy za;                  /* latents.npy, mapped: Z (T, L) */
    /* 8. the SAE spliced into the model on the same text (eval/metrics.h) */
    EvalResult ev;
} Pipeline;

/* Stage 8: write the figures, report.html, summary.json, the SAE checkpoint
 * and losses.csv into P->txn.tmp (cli/pipeline_out.c). Returns 0, or -1 (err_get()). */
int pipeline_write_outputs(Pipeline *P);

#endif
