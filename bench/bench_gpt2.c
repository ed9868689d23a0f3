/*
 * bench/bench_gpt2.c - the CPU forward pass on a GPT-2 small checkpoint,
 * T = 220 tokens: the capture-only pass (stops after layer 6 mlp_pre) and the
 * full pass with logits. bench/bench_gpt2.sh runs it next to PyTorch
 * (bench/bench_gpt2_torch.py) on the same weights and ids.
 *
 *   build/bench/bench_gpt2 [MODEL_DIR [T [reps]]]
 *
 * Without MODEL_DIR, the synthetic GPT-2 small of `./run synth --seed 1337`
 * is written once to /tmp/gpt2sae_bench_gpt2_1337 and used.
 * Checks first (the capture equals the full pass's hook at that site, the
 * logits are finite), then times: best and median of reps, after a warm-up
 * pass that faults the mmap'ed weights in. Token ids: (7919 t + 13) mod V.
 */
#include "bench/bench_model.h"
#include "core/pool.h"
#include "core/util.h"
#include "gpt2/gpt2.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "/tmp/gpt2sae_bench_gpt2_1337";
    int T = argc > 2 ? atoi(argv[2]) : 220, reps = argc > 3 ? atoi(argv[3]) : 10;
    if (T < 1 || reps < 1) {
        fprintf(stderr, "usage: bench_gpt2 [MODEL_DIR [T [reps]]]\n");
        return 2;
    }
    GPT2Model m;
    if (bench_model_load(&m, dir, argc < 2, "bench_gpt2") != 0) return 1;
    int V = m.cfg.vocab_size, layer = m.cfg.n_layer / 2, W = gpt2_site_width(&m.cfg, GPT2_MLP_PRE);
    int32_t *ids = xmalloc((size_t)T * sizeof(int32_t));
    for (int t = 0; t < T; t++) ids[t] = (int32_t)((7919L * t + 13) % V);
    float *acts = xmalloc((size_t)T * W * sizeof(float)), *acts2 = xmalloc((size_t)T * W * sizeof(float));
    float *logits = xmalloc((size_t)T * V * sizeof(float));
    GPT2Forward f;
    gpt2_forward_init(&f, &m);
    /* check */
    if (gpt2_capture(&f, ids, T, layer, GPT2_MLP_PRE, acts) != 0) {
        fprintf(stderr, "bench_gpt2: %s\n", err_get());
        return 1;
    }
    gpt2_forward_add_hook(&f, layer, GPT2_MLP_PRE, gpt2_hook_copy, acts2);
    gpt2_forward(&f, ids, T, logits);
    gpt2_forward_clear_hooks(&f);
    int finite = 1;
    for (long i = 0; i < (long)T * V; i++)
        if (!isfinite(logits[i])) finite = 0;
    if (memcmp(acts, acts2, (size_t)T * W * sizeof(float)) != 0 || !finite) {
        printf("FAIL: capture differs from the full pass's hook, or logits not finite\n");
        return 1;
    }
    printf("model %s (L=%d C=%d V=%d), T=%d, threads %d, simd %s\n", m.cfg.name, m.cfg.n_layer, m.cfg.n_embd, V, T,
           pool_threads(), cpu_simd_level());
    double *tc = xmalloc(reps * sizeof(double)), *tf = xmalloc(reps * sizeof(double));
    for (int r = 0; r < reps; r++) { /* interleaved, so both see the same noise */
        double t = time_now();
        gpt2_capture(&f, ids, T, layer, GPT2_MLP_PRE, acts);
        tc[r] = time_now() - t;
        t = time_now();
        gpt2_forward(&f, ids, T, logits);
        tf[r] = time_now() - t;
    }
    qsort(tc, reps, sizeof(double), cmp_double);
    qsort(tf, reps, sizeof(double), cmp_double);
    printf("C capture to layer %d mlp_pre: best %8.2f ms  median %8.2f ms\n", layer, tc[0] * 1e3, tc[reps / 2] * 1e3);
    printf("C full pass with logits:      best %8.2f ms  median %8.2f ms\n", tf[0] * 1e3, tf[reps / 2] * 1e3);
    gpt2_forward_free(&f);
    gpt2_model_free(&m);
    free(ids), free(acts), free(acts2), free(logits), free(tc), free(tf);
    return 0;
}
