/*
 * bench/bench_features.c - ./run features at corpus scale: where the time of
 * the two streaming passes goes (forward, SAE encode, per-latent upkeep:
 * features/features.h's feat_add) and how much memory they hold.
 *
 *   build/bench/bench_features [tokens] [n] [d] [k] [forward_tokens]
 *   defaults: 1048576 tokens, n 24576 latents, d 768 (GPT-2 small's width,
 *   blocks.6.hook_resid_pre), a TopK SAE with k 32, 16384 forward tokens.
 *   The seed's SAE on GPT-2 small's MLP: bench_features 1048576 6144 3072 1024
 *
 * 1. SAE + upkeep at the full token count, both passes, on synthetic
 *    activations (a hash of the position, uniform in [-1, 1), made again
 *    alike in pass 2): encode (the TopK encoder: gemm + the top k) and
 *    upkeep are timed per window; the encoder's gemm alone is timed on the
 *    first windows and scaled to all. Checked first: pass 1 counts every
 *    position, and k firings a position (the SAE fires exactly k latents).
 * 2. The forward of GPT-2 small (the shape, with weights hashed in memory,
 *    tests/hash_model.h) to the SAE's site on forward_tokens tokens through
 *    feat_collect_ids (the command's own path: forward, encode, upkeep),
 *    then EXTRAPOLATED linearly to the full count (labelled so).
 * Prints tokens/s, peak RSS (getrusage) beside feat_bytes, and the ratio
 * upkeep / encoder gemm (the goal: below 1).
 */
#include "core/gemm.h"
#include "core/pool.h"
#include "core/util.h"
#include "eval/intervene.h"
#include "features/features.h"
#include "sae/arch.h"
#include "tests/hash_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

enum { CTX = DATA_DEFAULT_CTX, LAYER = 6 };

typedef struct { float *X; int d; int64_t pos0; } SynthJob;

/* X (CTX, d): row t is a hash of (pos0 + t, column), uniform in [-1, 1). */
static void synth_rows(void *vj, int t0, int t1) {
    SynthJob *j = vj;
    for (int t = t0; t < t1; t++)
        for (int c = 0; c < j->d; c++) {
            uint32_t h = hash_fmix32((uint32_t)((j->pos0 + t) * 2654435761u) ^ (uint32_t)(c * 40503u + 1));
            j->X[(size_t)t * j->d + c] = (float)((h >> 8) * (1.0 / 8388608.0) - 1.0);
        }
}

static double peak_rss_mb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024.0;
}

int main(int argc, char **argv) {
    long tokens = argc > 1 ? atol(argv[1]) : 1048576;
    int n = argc > 2 ? atoi(argv[2]) : 24576, d = argc > 3 ? atoi(argv[3]) : 768, k = argc > 4 ? atoi(argv[4]) : 32;
    long fwd_tokens = argc > 5 ? atol(argv[5]) : 16384;
    if (tokens < CTX || n < 2 || k < 1 || k >= n || (d != 768 && d != 3072) || fwd_tokens < CTX) {
        fprintf(stderr, "usage: bench_features [tokens >= %d] [n] [d: 768 or 3072] [k < n] [forward_tokens]\n", CTX);
        return 2;
    }
    long nw = tokens / CTX;
    tokens = nw * CTX;
    printf("bench_features: %ld tokens (%ld windows of %d), TopK SAE n %d, d %d, k %d; %d threads\n", tokens, nw, CTX, n,
           d, k, pool_threads());

    /* the SAE: TopK, seeded; b_dec from a synthetic sample */
    float *X = xmalloc(sizeof(float) * CTX * d), *F = xmalloc(sizeof(float) * CTX * n);  /* (CTX, d), (CTX, n) */
    SynthJob sj = {X, d, 0};
    pool_for(CTX, 1, synth_rows, &sj);
    SAEArchParams ap = sae_arch_default_params(SAE_ARCH_TOPK, d, n);
    ap.k = k, ap.k_aux = 0;
    SAEArch arch;
    if (sae_arch_init(&arch, &ap, X, CTX) != 0) { fprintf(stderr, "sae: %s\n", err_get()); return 1; }
    const char *hook = d == 768 ? "blocks.6.hook_resid_pre" : "blocks.6.mlp.hook_pre";
    GPT2Site site = d == 768 ? GPT2_RESID_PRE : GPT2_MLP_PRE;
    EvalSAE es;
    eval_sae_wrap_arch(&es, &arch, "gpt2", hook);

    FeatParams p = feat_default_params();
    FeatStats fs;
    if (feat_init(&fs, n, &p) != 0) { fprintf(stderr, "%s\n", err_get()); return 1; }
    printf("per-latent state: %.1f MB (feat_bytes; it does not grow with the tokens)\n", feat_bytes(&fs) / 1e6);

    /* 1. SAE + upkeep at the full count, both passes */
    double t_syn = 0, t_enc = 0, t_up = 0, t_gemm = 0;
    long gemm_windows = nw < 16 ? nw : 16;
    int32_t *ids = xmalloc(sizeof(int32_t) * CTX);
    int64_t fired = 0;
    for (int pass = 1; pass <= 2; pass++) {
        feat_begin_pass(&fs, pass);
        for (long w = 0; w < nw; w++) {
            double t0 = time_now();
            sj.pos0 = (int64_t)w * CTX;
            pool_for(CTX, 1, synth_rows, &sj);
            for (int t = 0; t < CTX; t++) ids[t] = (int32_t)((w * CTX + t) * 7919 % 50257);
            double t1 = time_now();
            es.encode(&es, X, CTX, F);
            double t2 = time_now();
            feat_add(&fs, F, ids, NULL, CTX, (int64_t)w * CTX);
            double t3 = time_now();
            t_syn += t1 - t0, t_enc += t2 - t1, t_up += t3 - t2;
            if (pass == 1 && w < gemm_windows) {   /* the encoder's gemm alone: F = X W_encᵀ */
                double g0 = time_now();
                gemm(0, 1, CTX, n, d, 1.0f, X, d, arch.W_enc, d, 0.0f, F, n);
                t_gemm += time_now() - g0;
            }
        }
        if (pass == 1)
            for (int i = 0; i < n; i++) fired += fs.fires[i];
    }
    feat_finish(&fs);
    t_gemm *= 2.0 * nw / gemm_windows;   /* both passes, every window */
    int ok = fs.positions == tokens && fired == (int64_t)tokens * k;
    printf("check: pass 1 counted %lld positions and %lld firings (tokens x k = %lld): %s\n", (long long)fs.positions,
           (long long)fired, (long long)tokens * k, ok ? "ok" : "FAILED");
    if (!ok) return 1;
    double gflop = 2.0 * 2.0 * tokens * (double)n * d / 1e9;
    printf("measured at %ld tokens, both passes: encode %.2f s (its gemm %.2f s, %.0f GFLOP/s, from %ld windows), "
           "per-latent upkeep %.2f s, synthetic activations %.2f s\n",
           tokens, t_enc, t_gemm, gflop / t_gemm, gemm_windows, t_up, t_syn);
    printf("upkeep / encoder gemm = %.3f (goal < 1); upkeep / encode = %.3f; SAE + upkeep %.0f corpus tokens/s\n",
           t_up / t_gemm, t_up / t_enc, tokens / (t_enc + t_up));
    printf("peak RSS after the SAE passes: %.0f MB\n", peak_rss_mb());

    /* 2. the forward, at fwd_tokens, through the command's own path */
    GPT2Model m;
    float *store = hash_model(&m, 12, 12, 768, 50257, 1024, 0.02f);
    int32_t *fids = xmalloc(sizeof(int32_t) * fwd_tokens);
    for (long t = 0; t < fwd_tokens; t++) fids[t] = (int32_t)((t * 7919 + 13) % 50257);
    GPT2Forward f;
    gpt2_forward_init(&f, &m);
    FeatStats fs2;
    feat_init(&fs2, n, &p);
    FeatTimes tm;
    if (feat_collect_ids(&fs2, &f, &es, LAYER, site, fids, fwd_tokens, CTX, &tm) != 0) {
        fprintf(stderr, "%s\n", err_get());
        return 1;
    }
    double scale = (double)tokens / tm.tokens;
    printf("measured at %lld tokens (GPT-2 small's shape, hashed weights, to %s), both passes: forward %.2f s, "
           "encode %.2f s, upkeep %.2f s\n", (long long)tm.tokens, hook, tm.forward, tm.encode, tm.upkeep);
    double fwd = tm.forward * scale, total = fwd + t_enc + t_up;
    printf("EXTRAPOLATED to %ld tokens: forward %.0f s (x%.0f) + encode %.0f s + upkeep %.0f s (measured) = %.0f s: "
           "%.0f corpus tokens/s; shares: forward %.0f%%, encode %.0f%%, upkeep %.1f%%\n",
           tokens, fwd, scale, t_enc, t_up, total, tokens / total, 100 * fwd / total, 100 * t_enc / total,
           100 * t_up / total);
    printf("peak RSS: %.0f MB (GPT-2 small's weights, the SAE with its optimiser state, the per-latent state "
           "%.0f MB twice)\n", peak_rss_mb(), feat_bytes(&fs) / 1e6);
    feat_free(&fs2), feat_free(&fs);
    gpt2_forward_free(&f);
    free(m.w.h), free(store), free(fids), free(ids), free(X), free(F);
    eval_sae_free(&es);
    sae_arch_free(&arch);
    return 0;
}
