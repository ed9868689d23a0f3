/*
 * train/stream.h - training an SAE on a stream of rows (the activation
 * cache, or a live harvest: any RowSource, data/cache.h) for a budget of
 * tokens, with a progress line, a train_log.csv, checkpoints every N tokens
 * and on SIGINT/SIGTERM, and an exact resume. The SAE is the seed's
 * (train/stream_seed.c) or any architecture of sae/arch.h
 * (train/stream_arch.c), behind one StreamModel interface.
 *
 *   StreamTrain t = stream_train_default();
 *   t.out = "out/sae"; t.tokens = 10e6; t.p.batch = 4096; ...
 *   StreamArch a;                                  // or StreamSeed + stream_seed_init
 *   SAEArchParams p = sae_arch_default_params(SAE_ARCH_TOPK, src.width, 16 * src.width);
 *   if (stream_arch_init(&a, &p, &src, &t) != 0) return -1;   // b_dec from a sample of src
 *   StreamModel model = stream_arch_model(&a);
 *   StreamTrainReport rep;
 *   int rc = stream_train(&model, &src, &t, NULL, &rep);   // or resume_dir: continue a checkpoint
 *   // rc 0: done; 1: stopped by a signal after writing a checkpoint; -1: err_get()
 *   stream_arch_free(&a);
 *
 * OUTPUT. t.out is written as one unit (core/dir.h) at every checkpoint and at
 * the end: the model's files (the seed: sae_weights.safetensors + cfg.json by
 * sae_save; an architecture: the SAELens folder of sae/arch_io.h),
 * train_log.csv, and state.bin, the rest of the training state: tokens and
 * steps done, the source's cursor (the data order is a function of the seed
 * and the cursor: no other random state is drawn during training) and the
 * model's optimiser state, dead-latent counters and (an architecture) its
 * parameters and exact weights. Resuming from it gives, on the CPU, the same
 * weights bit for bit as a run that never stopped (tests/test_stream.sh).
 *
 * state.bin: 8 bytes of magic (the model's), StreamStateHeader, then the
 * model's part (see stream_seed.c, stream_arch.c).
 *
 * Memory: the batch X (B, d), the model's scratch for one batch (its latents
 * (B, n)), the weights with their gradients and Adam's moments, plus what the
 * source holds (a shuffle group of shards; a batch of windows for a live
 * harvest): nothing grows with the corpus or the budget.
 */
#ifndef TRAIN_STREAM_H
#define TRAIN_STREAM_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>

#include "data/cache.h"
#include "sae/arch.h"
#include "sae/sae.h"

typedef struct {
    SAEParams p;            /* p.batch: tokens a step (every model); the rest: the seed's SAE */
    double tokens;          /* budget in rows (tokens), rounded down to whole batches; 0: epochs x the source's rows */
    int epochs;             /* used when tokens is 0 */
    long log_every;         /* steps between train_log.csv lines (default 10) */
    double ckpt_every;      /* tokens between checkpoints (0: only at the end and on a signal) */
    double dead_after;      /* a latent is dead after this many tokens without firing (default 1e6) */
    const char *out;        /* the output folder */
    const char *model, *hook;   /* for cfg.json */
    const char *dataset;    /* for cfg.json (architectures): the token file the rows came from */
    int ctx;                /* for cfg.json (architectures): tokens a window */
    int quiet;              /* no progress */
    int progress_tty;       /* 1: one line rewritten with \r; 0: plain lines */
    double progress_secs;   /* plain lines: at most one per this many seconds (default 10) */
    int stop_after_steps;   /* tests: behave as if a signal came after this many steps (0: never) */
} StreamTrain;

StreamTrain stream_train_default(void);

/* The numbers of one step, for the progress line and train_log.csv. */
typedef struct {
    double loss, l0, fvu, dead_frac;
    char csv[320];          /* the model's columns of this step (log_columns), no newline */
} StreamStep;

/* What stream_train trains. */
typedef struct {
    void *self;                 /* borrowed */
    int d;                      /* input width */
    const char *name;           /* "seed", "topk", ... */
    const char *magic;          /* state.bin's first 8 bytes */
    const char *log_columns;    /* train_log.csv's columns between "step,tokens," and ",tokens_per_s" */
    /* one training step on X (n, d); -1 with err_set() (a NaN loss: no weight changed) */
    int (*step)(void *self, const float *X, int n, StreamStep *out);
    /* the weights and cfg.json into the folder dir (being staged) */
    int (*save)(void *self, const char *dir, const StreamTrain *t);
    /* the model's part of state.bin */
    int (*state_write)(void *self, FILE *f);
    int (*state_read)(void *self, const char *p, size_t len, const char *path);
} StreamModel;

/* state.bin's header after the magic. */
typedef struct {
    int64_t step;           /* steps done */
    int64_t cursor[4];      /* the source's cursor (cursor[3]: its seed) */
    double tokens;          /* tokens done */
    int64_t batch;          /* tokens a step (a resume must keep it) */
} StreamStateHeader;

/* The magic of DIR/state.bin into magic (9 bytes, NUL-terminated): 0, or -1
 * with err_set() (no state there). */
int stream_state_magic(const char *dir, char magic[9]);

/* Train model on src. resume_dir: NULL, or a folder written by stream_train
 * to continue from (the model must be the kind that wrote it: for the seed,
 * loaded from it with sae_load). Returns 0 when the budget is done, 1 when a
 * SIGINT/SIGTERM stopped it (a checkpoint was written first), -1 with
 * err_set(). rep (may be NULL) receives the totals. */
typedef struct {
    double tokens, secs, loss, l0, fvu, dead_pct;   /* at the end (the last batch's loss, L0, FVU) */
    double tokens_run;      /* tokens trained by this run (tokens less those of the checkpoint resumed) */
    long steps;
    long max_rss_kb;        /* the process's peak resident memory */
    int signal;             /* the signal that stopped it (SIGINT, SIGTERM), or 0 */
} StreamTrainReport;
int stream_train(StreamModel *model, RowSource *src, const StreamTrain *t, const char *resume_dir, StreamTrainReport *rep);

/* ---- the seed's SAE (train/stream_seed.c) ---- */

#define STREAM_SEED_MAGIC "GS2STRM2"

typedef struct {
    SAE *sae;               /* borrowed */
    SAEParams p;
    double dead_after;
    SAEAdam adam;
    int64_t *quiet_for;     /* (L) tokens since each latent last fired */
    int64_t *fired;         /* (L) scratch */
    float *g;               /* (L, d) gradient */
    float *Z;               /* (B, L) latents of a batch */
} StreamSeed;

/* sae (initialised, or loaded from the folder being resumed) trained with t->p. */
void stream_seed_init(StreamSeed *s, SAE *sae, const StreamTrain *t);
void stream_seed_free(StreamSeed *s);
StreamModel stream_seed_model(StreamSeed *s);

/* ---- an architecture of sae/arch.h (train/stream_arch.c) ---- */

#define STREAM_ARCH_MAGIC "GS2STRA1"

typedef struct {
    SAEArch m;
    int d;                  /* the source's width */
    long total_steps;       /* the budget's steps (the LR decay's end), set again on resume */
    int want_arch;          /* resume: the architecture asked for (-1: the checkpoint's, whatever it is) */
} StreamArch;

/* Initialise a fresh model with p (checked; d = src's width): b_dec (and
 * relu's input scale) from a sample of the first min(4096, budget) rows of
 * src, after which src is put back at its start. Returns 0, or -1 with
 * err_set() naming the field. */
int stream_arch_init(StreamArch *a, const SAEArchParams *p, RowSource *src, const StreamTrain *t);
/* Prepare to resume: the model is made from the checkpoint's state.bin when
 * stream_train reads it (its architecture, options and exact weights);
 * want_arch: the SAEArchKind it must be, or -1 for any. */
void stream_arch_init_resume(StreamArch *a, RowSource *src, const StreamTrain *t, int want_arch);
void stream_arch_free(StreamArch *a);
StreamModel stream_arch_model(StreamArch *a);
/* The budget's steps: floor(budget / batch), the budget being t->tokens or
 * the epochs' rows (stream_train rounds it down to whole batches). */
long stream_total_steps(const StreamTrain *t, RowSource *src);

#endif
