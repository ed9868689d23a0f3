/*
 * core/pool.h - a persistent pthread pool for data-parallel loops.
 *
 *   static void scale_rows(void *ctx, int i0, int i1) { ... rows [i0, i1) ... }
 *   pool_for(T, 1, scale_rows, &args);   // splits [0, T) across the threads
 *
 * The pool starts on first use with one thread per online CPU (or
 * $GPT2SAE_THREADS). pool_for() runs fn on contiguous chunks of [0, n) and
 * returns when all chunks are done; the calling thread takes a chunk too.
 * Calls must not nest (a fn must not call pool_for); nested calls run serially.
 */
#ifndef CORE_POOL_H
#define CORE_POOL_H

typedef void (*PoolFn)(void *ctx, int i0, int i1);

/* Run fn over [0, n) in at most pool_threads() chunks whose sizes (except
 * the last) are multiples of `grain` (>= 1). */
void pool_for(int n, int grain, PoolFn fn, void *ctx);
/* Number of threads pool_for uses (>= 1). */
int pool_threads(void);
/* Set the number of threads (1 = serial). Call before first use, or between calls. */
void pool_set_threads(int n);

#endif
