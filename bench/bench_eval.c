/*
 * bench/bench_eval.c - the SAE evaluation (eval/metrics.h) against the
 * PyTorch implementation of the same metrics (tests/eval_torch.py --bench,
 * float32, one full forward pass per run, as many threads as ours), in the
 * same run on the same CPU: tokens per second.
 *
 *   build/bench/bench_eval [TOKENS [CTX]]
 *
 * The model: a random GPT-2 (tests/hash_model.h) of L=4 blocks, 4 heads,
 * C=256, V=8192, n_ctx=128; the SAE: the seed's tied top-k, d_sae 2048, k 64,
 * weights hashed from their index as tests/eval_torch.py makes them, at
 * blocks.2.mlp.hook_pre (d_in 1024). Checks first (our CE with the SAE equals
 * PyTorch's to 1e-4 relative), then times one evaluation each.
 */
#include "core/pool.h"
#include "core/util.h"
#include "eval/metrics.h"
#include "tests/hash_model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    const int L = 4, NH = 4, C = 256, V = 8192, NCTX = 128, layer = 2, dsae = 2048, k = 64;
    long ntok = argc > 1 ? atol(argv[1]) : 1024;
    int ctx = argc > 2 ? atoi(argv[2]) : 128;
    if (ntok < ctx || ctx < 2 || ctx > NCTX) {
        fprintf(stderr, "usage: bench_eval [TOKENS [CTX <= %d]]\n", NCTX);
        return 2;
    }
    GPT2Model m;
    float *store = hash_model(&m, L, NH, C, V, NCTX, 0.125f);
    const int d = 4 * C;
    float *W = xmalloc(sizeof(float) * dsae * d);
    for (long i = 0; i < (long)dsae * d; i++)
        W[i] = ((float)(hash_fmix32((1u << 28) + (uint32_t)i) >> 8) * (1.0f / 8388608.0f) - 1.0f) * 0.125f;
    SAE sae;
    if (sae_init_weights(&sae, d, dsae, k, W) != 0) return fprintf(stderr, "%s\n", err_get()), 1;
    char hook[64];
    gpt2_site_tl_name(hook, sizeof hook, layer, GPT2_MLP_PRE);
    EvalSAE es;
    eval_sae_wrap(&es, &sae, m.cfg.name, hook);
    int32_t *ids = xmalloc(sizeof(int32_t) * ntok);
    for (long i = 0; i < ntok; i++) ids[i] = (int32_t)((7 * i + 3 + (i * i) % 5) % V);
    GPT2Forward f;
    gpt2_forward_init(&f, &m);
    EvalParams p = eval_default_params();
    p.ctx = ctx;
    EvalResult r;
    double t = time_now();
    if (eval_run(&r, &f, &es, ids, ntok, &p) != 0) return fprintf(stderr, "eval: %s\n", err_get()), 1;
    t = time_now() - t;
    double ours = (double)r.n_tokens / t;
    printf("eval (C): %ld tokens (%ld windows of %d) in %.3f s: %.1f tokens/s, %d threads; ce_sae %.6f\n", r.n_tokens,
           r.n_windows, ctx, t, ours, pool_threads(), r.ce[EVAL_RUN_SAE]);

    char cmd[512];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 tests/eval_torch.py --bench %d %d %d %d %d %d mlp_pre %d %d %d %ld %d",
             L, NH, C, V, NCTX, layer, dsae, k, ctx, ntok, pool_threads());
    FILE *pp = popen(cmd, "r");
    char line[512] = "";
    double tps = 0, ce = NAN;
    while (pp && fgets(line, sizeof line, pp)) {
        char *a = strstr(line, "s: "), *b = strstr(line, "ce_sae ");
        if (a && b) tps = atof(a + 3), ce = atof(b + 7), fputs(line, stdout);
    }
    if (!pp || pclose(pp) != 0 || tps <= 0) {
        printf("SKIP the PyTorch baseline: %s did not run (python3-torch missing?)\n", cmd);
    } else {
        int ok = fabs(ce - r.ce[EVAL_RUN_SAE]) <= 1e-4 * fabs(ce);
        printf("check: CE with the SAE, ours %.6f vs torch %.6f: %s\n", r.ce[EVAL_RUN_SAE], ce, ok ? "ok" : "MISMATCH");
        printf("speed: %.2fx PyTorch's tokens/s\n", ours / tps);
        if (!ok) return 1;
    }
    eval_result_free(&r);
    gpt2_forward_free(&f);
    sae_free(&sae);
    free(W), free(ids), free(m.w.h), free(store);
    return 0;
}
