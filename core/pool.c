/* core/pool.c - persistent worker threads with a generation counter. See pool.h. */
#include "core/pool.h"
#include "core/util.h"

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#define POOL_MAX 64

static struct {
    pthread_mutex_t mu;
    pthread_cond_t work_cv, done_cv;
    pthread_t tid[POOL_MAX];
    int nthreads;   /* including the caller */
    int started;    /* workers running */
    unsigned long generation;
    int pending;    /* chunks not yet finished */
    PoolFn fn;
    void *ctx;
    int n, chunk;
    int busy;       /* a pool_for is in progress */
    int quit;
} P = {.mu = PTHREAD_MUTEX_INITIALIZER, .work_cv = PTHREAD_COND_INITIALIZER, .done_cv = PTHREAD_COND_INITIALIZER};

static void run_chunk(int c) {
    int i0 = c * P.chunk, i1 = i0 + P.chunk;
    if (i1 > P.n) i1 = P.n;
    if (i0 < i1) P.fn(P.ctx, i0, i1);
}

static void *worker(void *arg) {
    int id = (int)(long)arg;
    unsigned long seen = 0;
    pthread_mutex_lock(&P.mu);
    for (;;) {
        while (P.generation == seen && !P.quit) pthread_cond_wait(&P.work_cv, &P.mu);
        if (P.quit) break;
        seen = P.generation;
        pthread_mutex_unlock(&P.mu);
        run_chunk(id);
        pthread_mutex_lock(&P.mu);
        if (--P.pending == 0) pthread_cond_signal(&P.done_cv);
    }
    pthread_mutex_unlock(&P.mu);
    return NULL;
}

static void pool_stop(void) {
    pthread_mutex_lock(&P.mu);
    P.quit = 1;
    pthread_cond_broadcast(&P.work_cv);
    pthread_mutex_unlock(&P.mu);
    for (int i = 1; i < P.started; i++) pthread_join(P.tid[i], NULL);
    P.started = 0;
    P.quit = 0;
}

static void pool_start(void) {
    if (P.nthreads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        const char *env = getenv("GPT2SAE_THREADS");
        long e;
        if (env && parse_int(env, &e) == 0 && e >= 1) n = e;
        P.nthreads = n < 1 ? 1 : n > POOL_MAX ? POOL_MAX : (int)n;
    }
    if (P.started) return;
    P.started = 1;
    for (int i = 1; i < P.nthreads; i++) {
        if (pthread_create(&P.tid[i], NULL, worker, (void *)(long)i) != 0) break;
        P.started = i + 1;
    }
    P.nthreads = P.started;
    static int registered;
    if (!registered) { registered = 1; atexit(pool_stop); }
}

int pool_threads(void) {
    pthread_mutex_lock(&P.mu);
    pool_start();
    int n = P.nthreads;
    pthread_mutex_unlock(&P.mu);
    return n;
}

void pool_set_threads(int n) {
    if (n < 1) n = 1;
    if (n > POOL_MAX) n = POOL_MAX;
    if (P.started) pool_stop();
    P.nthreads = n;
}

void pool_for(int n, int grain, PoolFn fn, void *ctx) {
    if (n <= 0) return;
    if (grain < 1) grain = 1;
    pthread_mutex_lock(&P.mu);
    pool_start();
    int nt = P.nthreads;
    if (P.busy || nt == 1 || n <= grain) {
        /* serial: a nested call, a single thread, or too little work */
        pthread_mutex_unlock(&P.mu);
        fn(ctx, 0, n);
        return;
    }
    P.busy = 1;
    int chunk = (n + nt - 1) / nt;
    chunk = (chunk + grain - 1) / grain * grain;
    P.fn = fn;
    P.ctx = ctx;
    P.n = n;
    P.chunk = chunk;
    P.pending = nt - 1;
    P.generation++;
    pthread_cond_broadcast(&P.work_cv);
    pthread_mutex_unlock(&P.mu);
    run_chunk(0);
    pthread_mutex_lock(&P.mu);
    while (P.pending > 0) pthread_cond_wait(&P.done_cv, &P.mu);
    P.busy = 0;
    pthread_mutex_unlock(&P.mu);
}
