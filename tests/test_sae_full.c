/*
 * tests/test_sae_full.c - parity with the seed's PyTorch code at the seed's
 * own shape: T=220 tokens, d=3072, L=6144 latents, k=1024, 100 epochs.
 * The inputs are regenerated here bit for bit (tests/test_sae_golden.h);
 * tests/golden/sae_full.txt holds PyTorch's 100 epochs of losses and digests
 * of its final latents (three rows in full, every column's sum, the norm),
 * from `/usr/bin/python3 tests/gen_sae_golden.py full`.
 *
 * Under the sanitizers (slow) only the first 3 epochs' losses are checked;
 * SAE_FULL_EPOCHS=N does the same for N epochs in any build.
 */
#include "sae/sae.h"
#include "core/util.h"
#include "tests/test.h"
#include "tests/test_sae_golden.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

int main(void) {
    Golden g;
    if (golden_load(&g, "tests/golden/sae_full.txt") != 0) {
        CHECK(0, "tests/golden/sae_full.txt: %s", err_get());
        return test_finish();
    }
    double *shape = golden_get(&g, "shape", 6);
    int T = (int)shape[0], d = (int)shape[1], L = (int)shape[2], k = (int)shape[3], E = (int)shape[5];
    uint64_t seed = (uint64_t)shape[4];
    int epochs = SANITIZED ? 3 : E;
    const char *env = getenv("SAE_FULL_EPOCHS");
    long n;
    if (env && parse_int(env, &n) == 0 && n >= 1 && n < E) epochs = (int)n;
    printf("seed shape T=%d d=%d L=%d k=%d: %d of %d epochs\n", T, d, L, k, epochs, E);

    float *X = malloc(sizeof(float) * T * d), *W = malloc(sizeof(float) * (size_t)L * d);
    sae_test_inputs(T, d, L, seed, X, W);
    double *xs = golden_get(&g, "x_sum", 1), *ws = golden_get(&g, "w_sum", 1);
    double sx = 0, sw = 0;
    for (long i = 0; i < (long)T * d; i++) sx += X[i];
    for (long i = 0; i < (long)L * d; i++) sw += W[i];
    /* numpy sums pairwise, so the sums agree to rounding; the first values agree exactly */
    double *xh = golden_get(&g, "x_head", 8), *wh = golden_get(&g, "w_head", 8);
    int heads = 1;
    for (int i = 0; i < 8; i++) heads &= X[i] == (float)xh[i] && W[i] == (float)wh[i];
    CHECK(heads && fabs(sx - xs[0]) <= 1e-12 * fabs(xs[0]) && fabs(sw - ws[0]) <= 1e-12 * fabs(ws[0]) + 1e-12,
          "inputs regenerated: first values exact, sum X %.17g vs %.17g, sum W %.17g vs %.17g", sx, xs[0], sw, ws[0]);
    free(xh); free(wh);

    SAE sae;
    sae_init_weights(&sae, d, L, k, W);
    SAEParams p = sae_default_params();
    p.epochs = epochs;
    SAEResult r;
    double t0 = time_now();
    int rc = sae_train(&sae, X, T, &p, &r);
    CHECK(rc == 0 && r.epochs_done == epochs, "trained %d epochs in %.1fs", r.epochs_done, time_now() - t0);

    double *gl = golden_get(&g, "losses", (long)E * 3);
    const char *names[3] = {"total", "sparsity", "decor"};
    double tol[3] = {1e-3, 1e-3, 3e-2};
    for (int c = 0; c < 3; c++) {
        double worst = 0;
        int we = 0;
        for (int e = 0; e < r.epochs_done; e++) {
            double ours = c == 0 ? r.losses[e].total : c == 1 ? r.losses[e].sparsity : r.losses[e].decor;
            double rel = fabs(ours - gl[e * 3 + c]) / fabs(gl[e * 3 + c]);
            if (rel > worst) { worst = rel; we = e; }
        }
        double ours = c == 0 ? r.losses[we].total : c == 1 ? r.losses[we].sparsity : r.losses[we].decor;
        CHECK(worst <= tol[c], "every epoch's %s loss within %.0e of PyTorch; worst epoch %d: %.8g vs %.8g (rel %.2e)", names[c], tol[c],
              we + 1, ours, gl[we * 3 + c], worst);
    }

    if (epochs < E) {
        SKIP("final latents vs PyTorch: only %d of %d epochs run%s", epochs, E, SANITIZED ? " (sanitizer build)" : "");
    } else {
        /* three rows in full */
        int rows[3] = {0, 109, 219};
        double *ref = calloc((size_t)L, sizeof(double));
        for (int i = 0; i < 3; i++) {
            char ni[64], nv[64];
            snprintf(ni, sizeof ni, "latent_row_%d_idx", rows[i]);
            snprintf(nv, sizeof nv, "latent_row_%d_val", rows[i]);
            long cnt = golden_count(&g, ni);
            double *idx = golden_get(&g, ni, cnt), *val = golden_get(&g, nv, cnt);
            memset(ref, 0, sizeof(double) * L);
            for (long j = 0; j < cnt; j++) ref[(int)idx[j]] = val[j];
            double fe = rel_fro(r.latents + (size_t)rows[i] * L, ref, L);
            CHECK(fe <= 2e-2, "final latents of token %d within 2e-2 relative Frobenius of PyTorch's (%.2e; %ld nonzero)", rows[i], fe, cnt);
            free(idx); free(val);
        }
        free(ref);
        /* every latent's sum over tokens, and the norm of the whole matrix */
        double *cs = golden_get(&g, "latent_colsum", L), *fro = golden_get(&g, "latent_fro", 1);
        float *ours = calloc((size_t)L, sizeof(float));
        double f2 = 0;
        for (long t = 0; t < T; t++)
            for (int l = 0; l < L; l++) {
                float v = r.latents[(size_t)t * L + l];
                ours[l] += v;
                f2 += (double)v * v;
            }
        double ce = rel_fro(ours, cs, L);
        CHECK(ce <= 2e-2, "per-latent sums over all tokens within 2e-2 relative of PyTorch's (%.2e)", ce);
        CHECK(fabs(sqrt(f2) - fro[0]) <= 2e-2 * fro[0], "norm of all latents %.6g vs PyTorch %.6g", sqrt(f2), fro[0]);
        free(cs); free(fro); free(ours);
    }
    free(shape); free(xs); free(ws); free(gl);
    sae_result_free(&r);
    sae_free(&sae);
    free(X); free(W);
    golden_free(&g);
    return test_finish();
}
