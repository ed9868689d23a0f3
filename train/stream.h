/*
 * train/stream.h - training the seed's SAE on a stream of rows (the
 * activation cache, or a live harvest: any RowSource, data/cache.h) for a
 * budget of tokens, with a progress line, a train_log.csv, checkpoints every
 * N tokens and on SIGINT/SIGTERM, and an exact resume.
 *
 *   StreamTrain t = stream_train_default();
 *   t.out = "out/sae"; t.tokens = 10e6; t.p.batch = 4096; ...
 *   SAE sae; sae_init(&sae, src.width, &t.p);
 *   StreamTrainReport rep;
 *   int rc = stream_train(&sae, &src, &t, NULL, &rep);   // or resume_dir: continue a checkpoint
 *   // rc 0: done; 1: stopped by a signal after writing a checkpoint; -1: err_get()
 *
 * OUTPUT. t.out is written as one unit (core/dir.h) at every checkpoint and at
 * the end: sae.safetensors + cfg.json (sae_save), train_log.csv, and
 * state.bin, the rest of the training state: Adam's moments and step, the
 * dead-latent counters, tokens and steps done, and the source's cursor (the
 * data order is a function of the seed and the cursor: no other random state
 * is drawn during training). Resuming from it gives, on the CPU, the same
 * weights bit for bit as a run that never stopped (tests/test_stream.c).
 *
 * Memory: the batch X (B, d), its latents (B, L), the gradient and Adam's
 * moments (L, d) each, plus what the source holds (a shuffle group of
 * shards; a batch of windows for a live harvest): nothing grows with the
 * corpus or the budget.
 */
#ifndef TRAIN_STREAM_H
#define TRAIN_STREAM_H

#include <signal.h>

#include "data/cache.h"
#include "sae/sae.h"

typedef struct {
    SAEParams p;            /* latents, k, batch (tokens a step), lr, weights of the penalties, seed */
    double tokens;          /* budget in rows (tokens); 0: epochs x the source's rows */
    int epochs;             /* used when tokens is 0 */
    long log_every;         /* steps between train_log.csv lines (default 10) */
    double ckpt_every;      /* tokens between checkpoints (0: only at the end and on a signal) */
    double dead_after;      /* a latent is dead after this many tokens without firing (default 1e6) */
    const char *out;        /* the output folder */
    const char *model, *hook;   /* for cfg.json */
    int quiet;              /* no progress */
    int progress_tty;       /* 1: one line rewritten with \r; 0: plain lines */
    double progress_secs;   /* plain lines: at most one per this many seconds (default 10) */
    int stop_after_steps;   /* tests: behave as if a signal came after this many steps (0: never) */
} StreamTrain;

StreamTrain stream_train_default(void);

/* Train sae on src. resume_dir: NULL, or a folder written by stream_train
 * (state.bin + sae.safetensors) to continue from; sae must then have been
 * loaded from it (sae_load). Returns 0 when the budget is done, 1 when a
 * SIGINT/SIGTERM stopped it (a checkpoint was written first), -1 with
 * err_set(). rep (may be NULL) receives the totals. */
typedef struct {
    double tokens, secs, loss, l0, fvu, dead_pct;   /* at the end (the last batch's loss, L0, FVU) */
    long steps;
    long max_rss_kb;        /* the process's peak resident memory */
    int signal;             /* the signal that stopped it (SIGINT, SIGTERM), or 0 */
} StreamTrainReport;
int stream_train(SAE *sae, RowSource *src, const StreamTrain *t, const char *resume_dir, StreamTrainReport *rep);

#endif
