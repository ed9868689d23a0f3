/*
 * bench/bench_cuda_pointwise.h - the shared body of the benchmarks of the
 * memory-bound kernels (encoder, gelu, residual, layernorm): upload inputs,
 * check the GPU result against the CPU reference (gpt2/ops.h), then time it
 * over the launch configurations of cuda_tune (threads per block) and report
 * GB/s. A kernel is described by a PwCase.
 */
#ifndef BENCH_BENCH_CUDA_POINTWISE_H
#define BENCH_BENCH_CUDA_POINTWISE_H

#include "bench/bench_cuda.h"

typedef struct {
    const char *name;      /* "gelu" */
    char config[64];       /* "N=3145728" */
    long n_out;            /* floats written */
    double bytes;          /* bytes the kernel must move (each input read once, output written once) */
    float atol, rtol;      /* the check against the CPU */
    int tunable;           /* 1: time each block size of cuda_tune */
    int (*run)(void *ctx); /* the GPU kernel on ctx's buffers, writing d_out */
    void *ctx;
    float *d_out;          /* (n_out) device */
    const float *ref;      /* (n_out) host, the CPU reference result */
} PwCase;

/* Returns 0 if the check passed (then the case was timed). */
static inline int pw_bench(PwCase *c) {
    cuda_tune(0, 0);
    cuda_memset(c->d_out, 0xff, (size_t)c->n_out * 4);
    if (c->run(c->ctx) != 0 || cuda_sync() != 0) {
        printf("FAIL %s %s: %s\n", c->name, c->config, err_get());
        return -1;
    }
    float *out = bench_host(c->d_out, c->n_out);
    long bad = 0, worst = 0;
    double wd = -1;
    for (long i = 0; i < c->n_out; i++) {
        double d = fabs((double)out[i] - c->ref[i]);
        if (!(d <= c->atol + c->rtol * fabs((double)c->ref[i]))) bad++;
        if (!(d <= wd)) wd = d, worst = i;
    }
    free(out);
    if (bad) {
        printf("FAIL %s %s: %ld of %ld outside atol %.0e rtol %.0e (worst [%ld] |d| %.3g)\n", c->name, c->config, bad,
               c->n_out, c->atol, c->rtol, worst, wd);
        return -1;
    }
    printf("check %s %s: ok (max |gpu - cpu| %.3g)\n", c->name, c->config, wd);
    const int sizes[] = {64, 128, 256, 512, 1024};
    for (int i = 0; i < (c->tunable ? 5 : 1); i++) {
        int bs = c->tunable ? sizes[i] : 256;
        cuda_tune(bs, 0);
        double ms = bench_time_ms(c->run, c->ctx, 3, 20);
        char cfg[96];
        snprintf(cfg, sizeof cfg, "%s block %d", c->config, bs);
        bench_result(c->name, cfg, ms, 0, c->bytes, 0);
    }
    cuda_tune(0, 0);
    return 0;
}

/* Host array of n uniform(-scale, scale) floats, deterministic from seed. */
static inline float *pw_rand(long n, uint64_t seed, float scale) {
    Rng r;
    rng_seed(&r, seed);
    float *x = (float *)xmalloc((size_t)n * sizeof(float));
    for (long i = 0; i < n; i++) x[i] = (2.0f * rng_uniform(&r) - 1.0f) * scale;
    return x;
}
static inline void *pw_dev(const void *h, size_t bytes) {
    void *d = NULL;
    if (cuda_malloc(&d, bytes) != 0 || cuda_upload(d, h, bytes) != 0) {
        fprintf(stderr, "upload: %s\n", err_get());
        cuda_free(d);
        return NULL;
    }
    return d;
}

#endif
