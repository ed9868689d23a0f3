/*
 * cli/pipeline.h - the state the stages of `./run FILE...` (cli/cmd_pipeline.c)
 * build one after the other, and the last stage, the outputs (cli/pipeline_out.c).
 */
#ifndef CLI_PIPELINE_H
#define CLI_PIPELINE_H

#include "cli/cli.h"
#include "core/dir.h"
#include "eval/metrics.h"
#include "gpt2/gpt2.h"
#include "gpt2/model.h"
#include "sae/arch.h"
#include "sae/sae.h"
#include "tokenizer/bpe.h"
#include "weights/npy.h"

#include <stddef.h>
#include <stdint.h>

/* The options of ./run train --arch as given ({name, value}, in order;
 * train_arch_options below), applied once d is known. */
#define TRAIN_ARCH_MAX_SET 64
typedef struct {
    const char *set[TRAIN_ARCH_MAX_SET][2];
    int n;
} TrainArchSet;

#define RANDOM_LABEL "random weights \xE2\x80\x94 not GPT-2"

typedef struct {
    const char *out_dir, *model, *weights, *site, *category, *cache;
    CLIDevice device;   /* --device: every stage that has a GPU path (capture, train, eval) */
    int random_weights, quiet;
    int layer;          /* -1: n_layer / 2 */
    int epochs, k, L, batch, top, threads;
    int browser;        /* --browser N: latents in features/ (0: no browser) */
    float lr;
    uint64_t seed;
    char **words;       /* (n_words) the word category */
    int n_words, words_owned;
    int *draw;          /* (n_draw) latents to draw, or NULL for the seed's picks */
    int n_draw;
    const char *arch;   /* --arch: "seed" (default) or one of sae/arch.h's */
    const char *sae_dir;/* --sae DIR: score this SAE instead of training one */
    int lr_given;       /* --lr was given (else each architecture's default) */
    TrainArchSet arch_set;       /* --k-aux, --lambda, ... as given (train_arch_options), for --arch */
} PipelineOpts;

/* The timed stages, in the order they run: summary.json's "seconds" and
 * "cpu_seconds" name them so (pipeline_stage_names). */
enum {
    STAGE_TOKENIZE, STAGE_WEIGHTS, STAGE_CAPTURE, STAGE_TRAIN, STAGE_SCORES, STAGE_EVAL, STAGE_BROWSER,
    STAGE_OUTPUTS, PIPELINE_NSTAGES
};
extern const char *const pipeline_stage_names[PIPELINE_NSTAGES];   /* "tokenize", ..., "outputs" */

/* one input text of the corpus */

typedef struct {
    char *path;
    char *text;     /* NUL-terminated (owned) */
    size_t len;
    int t0, T;      /* its tokens are corpus tokens [t0, t0 + T) */
} InputText;

/* The run's state: what each stage makes, in the order of the stages
 * (cli/cmd_pipeline.c). Owned by the run; pipeline_free frees it all. */
typedef struct {
    const PipelineOpts *o;
    int tty;                 /* stderr is a terminal: progress bars */
    double t0, stage_t0;     /* when the run and the current stage began (time_now()) */
    double c0;               /* the process's CPU seconds (user + system, every thread) at t0 */
    double t_stage[PIPELINE_NSTAGES];  /* wall seconds since t0 at the end of each stage */
    double c_stage[PIPELINE_NSTAGES];  /* CPU seconds since t0 at the end of each stage */
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
    BPEIds ids;              /* (T) every text's tokens, one after the other */
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
    /* 6. the autoencoder: the seed's (sae), or with --arch / --sae another
     * one behind ext (then sae holds only its sizes: d, L, k; W is NULL) */
    SAE sae;
    int use_ext;
    EvalSAE ext;             /* owns its model (eval_sae_free) */
    SAEParams p;
    SAEResult res;           /* losses per epoch */
    /* 7. scores */
    unsigned char *target;   /* (T) the token is in the word category */
    SAEStats st;             /* the post-training pass's statistics */
    Npy za;                  /* latents.npy, mapped: Z (T, L) */
    /* 8. the SAE spliced into the model on the same text (eval/metrics.h) */
    EvalResult ev;
} Pipeline;

/* Mark the end of stage s (STAGE_*): its wall and CPU seconds since the run
 * began; a stage's own time is the difference from the stage before it. */
void pipeline_stage_end(Pipeline *P, int s);

/* The latents the report draws: --latents, else the seed's sortByActivity[30]
 * and sortByGeoscore[9] (places clamped to L - 1): rank[] gets those places,
 * pick[] those latents, *draw the list (--latents, or pick). Returns its length. */
int pipeline_draw(const Pipeline *P, int rank[2], int pick[2], const int **draw);

/* Stage 8: write the figures, report.html, summary.json, the SAE checkpoint
 * and losses.csv into P->txn.tmp (cli/pipeline_out.c). Returns 0, or -1 (err_get()). */
int pipeline_write_outputs(Pipeline *P);

/* The options of ./run train --arch that the pipeline passes on as given
 * (--k-aux, --lambda, ...: NULL-terminated) and the most it keeps. */
extern const char *const train_arch_options[];
/* A cli_parse table of train_arch_options and --multi-topk (value "1"),
 * each added to s as given; with seed_too 0, without --k, --lr and --seed
 * (options the caller parses itself). */
#define TRAIN_ARCH_OPTS 18
void train_arch_table(TrainArchSet *s, CLIOpt t[TRAIN_ARCH_OPTS], int seed_too);
/* Add {name, val} (val NULL: "1") to s; 2 after "too many options". */
int train_arch_add(TrainArchSet *s, const char *name, const char *val);
/* --b-dec-init median|mean|zero (a CLI_CALL option) into the int at dst (an SAEBdecInit) */
int train_opt_bdec(const char *name, const char *val, void *dst);
/* Apply options set[i] = {name, value} to *p; -1 after a message naming a bad value. */
int train_arch_apply(SAEArchParams *p, const char *const (*set)[2], int n_set);

/* 1 when the GPU trains this architecture (cuda_arch_train: topk, batchtopk, jumprelu). */
int train_arch_has_gpu(SAEArchKind kind);
/* --device cuda with an architecture the GPU does not train: 2 after a message
 * saying so (the usage error status); else 0. */
int train_arch_check_device(SAEArchKind kind, CLIDevice dev);

/* What ./run --arch trains (cli/train_arch.c): 0 fields take the architecture's defaults. */
typedef struct {
    const char *arch;
    int n, k, batch, epochs;
    float lr;
    uint64_t seed;
    const char *const (*set)[2];   /* (n_set) more options, applied last */
    int n_set;
    int gpu;                       /* 1: cuda_arch_train where train_arch_has_gpu, else sae_arch_train */
} TrainArchOpts;
/* Initialise and train m on X (T, d): epochs passes in batches of min(batch, T)
 * tokens; res gets each pass's mean losses (total, sparsity, mse = the
 * reconstruction part). progress (may be NULL) is called after each step.
 * Returns 0, or -1 with err_set() naming the option (a NaN loss: the weights
 * are the last finite ones). */
int train_arch_fit(SAEArch *m, const TrainArchOpts *o, const float *X, long T, int d, SAEResult *res,
                   void (*progress)(void *ctx, long step, long steps, double loss), void *pctx);

#endif
