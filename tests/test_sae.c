/*
 * tests/test_sae.c - the SAE on small shapes:
 *   - the hand-written backward against finite differences of a double
 *     precision loss written here independently (L x L covariance, sort-based top-k);
 *   - the fast step against the reference (gradients, losses, ẑ), including
 *     ties at the threshold and rows with fewer than k positive values;
 *   - parity with the seed's PyTorch code (tests/golden/sae_small.txt, made by
 *     tests/gen_sae_golden.py): every epoch's losses and the final latents;
 *   - statistics against the seed's numpy code on the PyTorch latents;
 *   - minibatches, bad input, and a loss that becomes NaN.
 */
#include "sae/sae.h"
#include "core/util.h"
#include "tests/test.h"
#include "tests/test_sae_golden.h"
#include "weights/npy.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- an independent double-precision loss for finite differences -------- */

static int cmp_desc_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x < y) - (x > y);
}

/* The seed's loss, in double: X (T, d), W (L, d). */
static double loss_double(const double *X, const double *W, int T, int d, int L, int k, double sw,
                          double dw) {
    double *Z = calloc((size_t)T * L, sizeof(double)), *s = malloc((size_t)L * sizeof(double));
    for (int t = 0; t < T; t++) {
        for (int l = 0; l < L; l++) {
            double a = 0;
            for (int j = 0; j < d; j++) a += X[t * d + j] * W[l * d + j];
            Z[t * L + l] = a > 0 ? a : 0;
        }
        memcpy(s, Z + t * L, (size_t)L * sizeof(double));
        qsort(s, (size_t)L, sizeof(double), cmp_desc_d);
        for (int l = 0; l < L; l++)
            if (Z[t * L + l] < s[k - 1]) Z[t * L + l] = 0;
    }
    double mse = 0, l1 = 0, dec = 0;
    for (int t = 0; t < T; t++)
        for (int j = 0; j < d; j++) {
            double y = 0;
            for (int l = 0; l < L; l++) y += Z[t * L + l] * W[l * d + j];
            mse += (y - X[t * d + j]) * (y - X[t * d + j]);
        }
    for (int i = 0; i < T * L; i++) l1 += fabs(Z[i]);
    double *m = calloc((size_t)L, sizeof(double));
    for (int t = 0; t < T; t++)
        for (int l = 0; l < L; l++) m[l] += Z[t * L + l] / T;
    for (int a = 0; a < L; a++)
        for (int b = 0; b < L; b++) {
            if (a == b) continue;
            double c = 0;
            for (int t = 0; t < T; t++) c += (Z[t * L + a] - m[a]) * (Z[t * L + b] - m[b]);
            c /= (T - 1);
            dec += c * c;
        }
    free(Z); free(s); free(m);
    return mse / ((double)T * d) + sw * l1 / ((double)T * L) + dw * dec;
}

static void test_finite_differences(double sw, double dw, const char *what) {
    const int T = 10, d = 8, L = 20, k = 6;
    float *X = malloc(sizeof(float) * T * d), *W = malloc(sizeof(float) * L * d);
    float *g = malloc(sizeof(float) * L * d);
    double *Xd = malloc(sizeof(double) * T * d), *Wd = malloc(sizeof(double) * L * d);
    sae_test_inputs(T, d, L, 99, X, W);
    for (int i = 0; i < L * d; i++) W[i] *= 3.0f;   /* larger weights: a mix of active and inactive latents */
    for (int i = 0; i < T * d; i++) Xd[i] = X[i];
    for (int i = 0; i < L * d; i++) Wd[i] = W[i];
    SAE sae;
    sae_init_weights(&sae, d, L, k, W);
    SAELosses lo;
    sae_loss_grad_ref(&sae, X, T, (float)sw, (float)dw, g, NULL, &lo);
    double l0 = loss_double(Xd, Wd, T, d, L, k, sw, dw);
    CHECK(fabs(lo.total - l0) <= 1e-5 * fabs(l0), "%s: reference loss %.9g vs double %.9g", what, lo.total, l0);
    double h = 1e-6, gmax = 0, worst = 0;
    int worst_i = 0;
    for (int i = 0; i < L * d; i++) gmax = fmax(gmax, fabs(g[i]));
    for (int i = 0; i < L * d; i++) {
        double w0 = Wd[i];
        Wd[i] = w0 + h;
        double lp = loss_double(Xd, Wd, T, d, L, k, sw, dw);
        Wd[i] = w0 - h;
        double lm = loss_double(Xd, Wd, T, d, L, k, sw, dw);
        Wd[i] = w0;
        double fd = (lp - lm) / (2 * h);
        double err = fabs(fd - g[i]) / (1e-3 * gmax + 1e-3 * fabs(fd));
        if (err > worst) { worst = err; worst_i = i; }
    }
    {
        double w0 = Wd[worst_i], fd;
        Wd[worst_i] = w0 + h;
        double lp = loss_double(Xd, Wd, T, d, L, k, sw, dw);
        Wd[worst_i] = w0 - h;
        fd = (lp - loss_double(Xd, Wd, T, d, L, k, sw, dw)) / (2 * h);
        Wd[worst_i] = w0;
        CHECK(worst <= 1.0, "%s: dloss/dW (%d entries) matches central differences in double; worst [%d] %.6g vs fd %.6g (max |g| %.3g)",
              what, L * d, worst_i, g[worst_i], fd, gmax);
    }
    /* the decorrelation term actually contributes here */
    if (dw > 0) {
        double nodecor = loss_double(Xd, Wd, T, d, L, k, sw, 0.0);
        CHECK(l0 - nodecor > 1e-3 * l0, "%s: the covariance term is a visible part of the loss (%.3g of %.3g)",
              what, l0 - nodecor, l0);
    }
    sae_free(&sae);
    free(X); free(W); free(g); free(Xd); free(Wd);
}

/* ---- fast path against the reference ------------------------------------ */

static void compare_fast_ref(int T, int d, int L, int k, float wscale, int dup_rows, const char *what) {
    float *X = malloc(sizeof(float) * T * d), *W = malloc(sizeof(float) * L * d);
    float *g1 = malloc(sizeof(float) * L * d), *g2 = malloc(sizeof(float) * L * d);
    float *Z1 = malloc(sizeof(float) * T * L), *Z2 = malloc(sizeof(float) * T * L);
    sae_test_inputs(T, d, L, 5, X, W);
    for (int i = 0; i < L * d; i++) W[i] *= wscale;
    /* duplicate rows of W: equal pre-activations, so ties at the threshold */
    for (int r = 0; r < dup_rows; r++) memcpy(W + (size_t)(2 * r + 1) * d, W + (size_t)(2 * r) * d, sizeof(float) * d);
    SAE sae;
    sae_init_weights(&sae, d, L, k, W);
    SAELosses a, b;
    sae_loss_grad_ref(&sae, X, T, 1.0f, 0.05f, g1, Z1, &a);
    sae_loss_grad(&sae, X, T, 1.0f, 0.05f, g2, Z2, &b);
    long below = 0;   /* rows with fewer than k positive latents */
    long nnz = 0;
    for (int t = 0; t < T; t++) {
        int pos = 0;
        for (int l = 0; l < L; l++) pos += Z1[(size_t)t * L + l] > 0;
        below += pos < k;
        nnz += pos;
    }
    printf("  (%s: T=%d d=%d L=%d k=%d, %ld rows with < k positive, mean L0 %.1f)\n", what, T, d, L, k, below,
           (double)nnz / T);
    check_close("latents fast vs ref", Z2, Z1, (long)T * L, 1e-6f, 1e-5f);
    double gmax = 0;
    for (int i = 0; i < L * d; i++) gmax = fmax(gmax, fabs(g1[i]));
    char name[128];
    snprintf(name, sizeof name, "%s: dloss/dW fast vs ref", what);
    check_close(name, g2, g1, (long)L * d, (float)(1e-4 * gmax), 1e-3f);
    CHECK(fabs(a.mse - b.mse) <= 1e-5 * a.mse && fabs(a.sparsity - b.sparsity) <= 1e-5 * a.sparsity &&
              fabs(a.decor - b.decor) <= 1e-4 * fabs(a.decor) + 1e-12,
          "%s: losses fast vs ref: mse %.8g/%.8g sparsity %.8g/%.8g decor %.8g/%.8g", what, b.mse, a.mse,
          b.sparsity, a.sparsity, b.decor, a.decor);
    sae_free(&sae);
    free(X); free(W); free(g1); free(g2); free(Z1); free(Z2);
}

/* ---- parity with the seed's PyTorch code -------------------------------- */

static void test_parity(const Golden *g, SAEImpl impl) {
    const char *iname = impl == SAE_REF ? "reference" : "fast";
    double *shape = golden_get(g, "shape", 6);
    if (!shape) { CHECK(0, "golden: no shape"); return; }
    int T = (int)shape[0], d = (int)shape[1], L = (int)shape[2], k = (int)shape[3], E = (int)shape[5];
    uint64_t seed = (uint64_t)shape[4];
    float *X = malloc(sizeof(float) * T * d), *W = malloc(sizeof(float) * L * d);
    sae_test_inputs(T, d, L, seed, X, W);
    double *xs = golden_get(g, "x_sum", 1), *ws = golden_get(g, "w_sum", 1);
    double sx = 0, sw = 0;
    for (int i = 0; i < T * d; i++) sx += X[i];
    for (int i = 0; i < L * d; i++) sw += W[i];
    if (impl == SAE_FAST)
    {   /* numpy sums pairwise, so the sums agree to rounding; the first values agree exactly */
        double *xh = golden_get(g, "x_head", 8), *wh = golden_get(g, "w_head", 8);
        int heads = xh && wh;
        for (int i = 0; heads && i < 8; i++) heads &= X[i] == (float)xh[i] && W[i] == (float)wh[i];
        CHECK(heads && xs && ws && fabs(sx - xs[0]) <= 1e-12 * fabs(xs[0]) && fabs(sw - ws[0]) <= 1e-12 * fabs(ws[0]) + 1e-12,
              "inputs regenerated: first values exact, sum X %.17g vs %.17g, sum W %.17g vs %.17g", sx, xs ? xs[0] : NAN, sw,
              ws ? ws[0] : NAN);
        free(xh); free(wh);
    }
    SAEParams p = sae_default_params();
    p.epochs = E;
    p.impl = impl;
    SAE sae;
    sae_init_weights(&sae, d, L, k, W);
    SAEResult r;
    int rc = sae_train(&sae, X, T, &p, &r);
    CHECK(rc == 0 && r.epochs_done == E, "%s: trained %d epochs", iname, r.epochs_done);
    double *gl = golden_get(g, "losses", (long)E * 3);
    double worst[3] = {0, 0, 0};
    int worst_e[3] = {0, 0, 0};
    for (int e = 0; e < r.epochs_done && gl; e++) {
        double ours[3] = {r.losses[e].total, r.losses[e].sparsity, r.losses[e].decor};
        for (int c = 0; c < 3; c++) {
            double rel = fabs(ours[c] - gl[e * 3 + c]) / fabs(gl[e * 3 + c]);
            if (rel > worst[c]) { worst[c] = rel; worst_e[c] = e; }
        }
    }
    const char *names[3] = {"total", "sparsity", "decor"};
    double tol[3] = {1e-3, 1e-3, 3e-2};
    for (int c = 0; c < 3; c++)
        CHECK(gl && worst[c] <= tol[c], "%s: every epoch's %s loss within %.0e of PyTorch; worst epoch %d: %.8g vs %.8g (rel %.2e)",
              iname, names[c], tol[c], worst_e[c] + 1, gl ? (c == 0 ? r.losses[worst_e[c]].total : c == 1 ? r.losses[worst_e[c]].sparsity : r.losses[worst_e[c]].decor) : 0,
              gl ? gl[worst_e[c] * 3 + c] : 0, worst[c]);
    double *glat = golden_get(g, "latent", (long)T * L);
    double fe = glat && r.latents ? rel_fro(r.latents, glat, (long)T * L) : INFINITY;
    CHECK(fe <= 2e-2, "%s: final latents within 2e-2 relative Frobenius of PyTorch's (%.2e)", iname, fe);
    free(shape); free(xs); free(ws); free(gl); free(glat);
    sae_result_free(&r);
    sae_free(&sae);
    free(X); free(W);
}

/* ---- statistics against the seed's numpy code ---------------------------- */

static void test_stats(const Golden *g) {
    double *shape = golden_get(g, "shape", 6);
    int T = (int)shape[0], L = (int)shape[2];
    double *lat = golden_get(g, "latent", (long)T * L), *tg = golden_get(g, "target", T);
    float *Z = malloc(sizeof(float) * T * L), *ref = malloc(sizeof(float) * L), *score = malloc(sizeof(float) * L);
    unsigned char *target = malloc((size_t)T);
    for (long i = 0; i < (long)T * L; i++) Z[i] = (float)lat[i];
    for (int t = 0; t < T; t++) target[t] = tg[t] != 0;
    SAEStats st;
    sae_stats(&st, Z, T, L, target);
    const char *names[3] = {"density", "mean_act", "density_act"};
    float *ours[3] = {st.density, st.mean_act, st.density_act};
    for (int c = 0; c < 3; c++) {
        double *v = golden_get(g, names[c], L);
        for (int l = 0; l < L; l++) ref[l] = (float)v[l];
        check_close(names[c], ours[c], ref, L, 1e-6f, 1e-5f);
        free(v);
    }
    double *ba = golden_get(g, "by_activation", L), *bd = golden_get(g, "by_density", L);
    int same_a = 1, same_d = 1, dead = 0;
    for (int l = 0; l < L; l++) {
        same_a &= st.by_activation[l] == (int)ba[l];
        same_d &= st.by_density[l] == (int)bd[l];
    }
    CHECK(same_a, "order by activation = numpy argsort(stable)[::-1]");
    CHECK(same_d, "order by density = numpy argsort(stable)[::-1]");
    long nnz = 0;
    for (long i = 0; i < (long)T * L; i++) nnz += Z[i] != 0;
    double *dens = golden_get(g, "density", L);
    for (int l = 0; l < L; l++) dead += dens[l] == 0;
    CHECK(fabs(st.mean_l0 - (double)nnz / T) < 1e-9 && st.dead == dead, "mean L0 %.3f (numpy %.3f), dead latents %d (numpy %d)",
          st.mean_l0, (double)nnz / T, st.dead, dead);
    memcpy(score, st.score, sizeof(float) * L);
    double *geo = golden_get(g, "geoscore", L);
    for (int l = 0; l < L; l++) ref[l] = (float)geo[l];
    check_close("word-category score (seed's geoscore)", score, ref, L, 1e-6f, 1e-5f);
    int nz = 0;
    for (int l = 0; l < L; l++) nz += ref[l] != 0;
    CHECK(nz > 0 && nz < L, "the score golden has both zero and nonzero entries (%d nonzero)", nz);
    sae_stats_free(&st);
    free(shape); free(lat); free(tg); free(Z); free(ref); free(score); free(target); free(ba); free(bd);
    free(dens); free(geo);
}

/* ---- fraction of variance explained ---------------------------------------- */

static void test_fve(void) {
    const int T = 300, d = 24, L = 48, k = 8;   /* T > 256: sae_fve works in blocks of 256 */
    float *X = malloc(sizeof(float) * T * d), *W = malloc(sizeof(float) * L * d), *g = malloc(sizeof(float) * L * d);
    sae_test_inputs(T, d, L, 17, X, W);
    SAE sae;
    sae_init_weights(&sae, d, L, k, W);
    SAELosses lo;   /* the reference step's mse is Σ (Y - X)² / (T d) */
    sae_loss_grad_ref(&sae, X, T, 1.0f, 0.0f, g, NULL, &lo);
    double var = 0;
    for (int j = 0; j < d; j++) {
        double mu = 0;
        for (int t = 0; t < T; t++) mu += X[t * d + j];
        mu /= T;
        for (int t = 0; t < T; t++) var += (X[t * d + j] - mu) * (X[t * d + j] - mu);
    }
    double want = 1.0 - lo.mse * T * d / var, got = sae_fve(&sae, X, T);
    CHECK(fabs(got - want) <= 1e-5, "fraction of variance explained %.7f (from the reference step's mse: %.7f)", got, want);
    sae_free(&sae);
    free(X); free(W); free(g);
}

/* ---- the ranking and the one post-training pass ------------------------------- */

static void test_order_and_score(void) {
    /* np.argsort([1, 3, 3, 0, 3, nan], kind='stable')[::-1] = [5, 4, 2, 1, 0, 3] */
    double key[6] = {1, 3, 3, 0, 3, NAN};
    int order[6], want[6] = {5, 4, 2, 1, 0, 3}, same = 1;
    sae_order_desc(order, key, 6);
    for (int i = 0; i < 6; i++) same &= order[i] == want[i];
    CHECK(same, "sae_order_desc = numpy's argsort(stable)[::-1]: ties higher index first, NaN largest "
                "(%d %d %d %d %d %d)", order[0], order[1], order[2], order[3], order[4], order[5]);

    /* sae_score (chunks of 1024 tokens, latents streamed to a file) against
     * sae_stats on the latents encoded at once */
    const int T = 2500, d = 12, L = 32, k = 5;
    float *X = malloc(sizeof(float) * T * d), *W = malloc(sizeof(float) * L * d), *Z = malloc(sizeof(float) * T * L);
    unsigned char *target = malloc(T);
    sae_test_inputs(T, d, L, 23, X, W);
    int32_t ids[7] = {3, 1, 4, 1, 5, 9, 2}, words[2] = {1, 9};
    int32_t *tok = malloc(sizeof(int32_t) * T);
    for (int t = 0; t < T; t++) tok[t] = ids[t % 7];
    sae_word_mask(target, tok, T, words, 2);
    int nt = 0;
    for (int t = 0; t < T; t++) nt += target[t];
    CHECK(nt == 3 * (T / 7) + (T % 7 > 1) + (T % 7 > 3) + (T % 7 > 5), "sae_word_mask marks the tokens 1 and 9 (%d)", nt);
    SAE sae;
    sae_init_weights(&sae, d, L, k, W);
    sae_encode(&sae, X, T, Z);
    SAEStats a, b;
    char path[64];
    snprintf(path, sizeof path, "/tmp/test_sae_score.%d.npy", (int)getpid());
    CHECK(sae_score(&a, &sae, X, T, target, path) == 0, "sae_score over 2500 tokens (3 chunks), latents to a file");
    sae_stats(&b, Z, T, L, target);
    int eq = a.dead == b.dead && a.mean_l0 == b.mean_l0 && a.n_target == nt && b.n_target == nt;
    for (int l = 0; l < L; l++)
        eq &= a.density[l] == b.density[l] && a.mean_act[l] == b.mean_act[l] && a.score[l] == b.score[l] &&
              a.by_activation[l] == b.by_activation[l] && a.by_density[l] == b.by_density[l] &&
              a.by_score[l] == b.by_score[l];
    CHECK(eq, "... its statistics, score and rankings equal those of the latents encoded at once (L0 %.3f, %d dead)",
          a.mean_l0, a.dead);
    Npy z = {0};
    int same_z = npy_map(&z, path) == 0 && z.numel == (int64_t)T * L && memcmp(z.f32, Z, sizeof(float) * T * L) == 0;
    CHECK(same_z, "... and the latents file holds exactly those latents");
    npy_free(&z);
    CHECK(fabs(a.fve - sae_fve(&sae, X, T)) == 0 && isnan(b.fve), "... its variance explained is sae_fve's (%.6f)", a.fve);
    remove(path);
    sae_stats_free(&a);
    sae_stats_free(&b);
    sae_free(&sae);
    free(X); free(W); free(Z); free(target); free(tok);
}

/* ---- minibatches, bad input, NaN ------------------------------------------ */

static int count_epochs;
static int on_epoch_count(void *ctx, int epoch, int epochs, const SAELosses *l, const SAE *sae) {
    (void)ctx; (void)epochs; (void)l; (void)sae;
    count_epochs = epoch;
    return 0;
}

static void test_minibatch(void) {
    const int T = 64, d = 24, L = 48, k = 8;
    float *X = malloc(sizeof(float) * T * d), *W = malloc(sizeof(float) * L * d);
    sae_test_inputs(T, d, L, 3, X, W);
    SAEParams p = sae_default_params();
    p.epochs = 6; p.batch = 16; p.lr = 1e-3; p.seed = 42;
    p.on_epoch = on_epoch_count;
    SAE a, b, c;
    sae_init_weights(&a, d, L, k, W);
    sae_init_weights(&b, d, L, k, W);
    sae_init_weights(&c, d, L, k, W);
    SAEResult ra, rb, rc;
    int e1 = sae_train(&a, X, T, &p, &ra);
    p.impl = SAE_REF;
    int e2 = sae_train(&b, X, T, &p, &rb);
    CHECK(e1 == 0 && e2 == 0 && count_epochs == 6, "minibatch training (batch 16 of 64 tokens, 6 epochs) runs; callback saw %d epochs", count_epochs);
    check_close("minibatch: fast and reference reach the same weights", a.W, b.W, (long)L * d, 1e-5f, 1e-3f);
    CHECK(ra.losses[5].total < ra.losses[0].total, "minibatch: loss goes down (%.5f -> %.5f)", ra.losses[0].total,
          ra.losses[5].total);
    p.impl = SAE_FAST;
    p.seed = 43;
    sae_train(&c, X, T, &p, &rc);
    double diff = 0;
    for (int i = 0; i < L * d; i++) diff = fmax(diff, fabs(c.W[i] - a.W[i]));
    CHECK(diff > 0, "minibatch: another shuffle seed gives other weights (max diff %.2g)", diff);
    /* batch >= T is the full batch */
    sae_result_free(&ra); sae_result_free(&rb); sae_result_free(&rc);
    sae_free(&a); sae_free(&b); sae_free(&c);
    free(X); free(W);
}

static void test_bad_input(void) {
    const int T = 8, d = 6, L = 12;
    float *X = malloc(sizeof(float) * T * d), *W = malloc(sizeof(float) * L * d);
    sae_test_inputs(T, d, L, 1, X, W);
    SAE s;
    CHECK(sae_init_weights(&s, d, L, L + 1, W) != 0 && strstr(err_get(), "larger than"), "k > L refused: %s", err_get());
    CHECK(sae_init_weights(&s, d, L, 0, W) != 0 && strstr(err_get(), "at least 1"), "k < 1 refused: %s", err_get());
    SAEParams p = sae_default_params();
    p.k = -3;
    CHECK(sae_init(&s, d, &p) != 0, "negative --k refused: %s", err_get());
    p.k = 0;
    p.latents = 536870912;   /* 16 x L x 1024 bytes = 8.8 TB */
    CHECK(sae_init(&s, 1024, &p) != 0 && s.W == NULL && strstr(err_get(), "8796093022208 bytes") &&
              strstr(err_get(), "available"),
          "an SAE too large for memory (--latents 536870912, d 1024) refused before allocating: %s", err_get());
    p.latents = 0;
    sae_init_weights(&s, d, L, 2, W);
    SAEResult r;
    X[13] = NAN;
    CHECK(sae_train(&s, X, T, &p, &r) != 0 && strstr(err_get(), "NaN") && strstr(err_get(), "token 2"),
          "X with NaN refused: %s", err_get());
    sae_result_free(&r);
    X[13] = INFINITY;
    CHECK(sae_train(&s, X, T, &p, &r) != 0 && strstr(err_get(), "Inf"), "X with Inf refused: %s", err_get());
    sae_result_free(&r);
    X[13] = 0;
    CHECK(sae_train(&s, X, 0, &p, &r) != 0 && strstr(err_get(), "0 token"), "empty X refused: %s", err_get());
    sae_result_free(&r);
    CHECK(sae_train(&s, X, 1, &p, &r) != 0, "one token refused: %s", err_get());
    sae_result_free(&r);
    {   /* more tokens than one full batch may hold */
        long Tb = SAE_MAX_BATCH + 10;
        float *Xb = calloc((size_t)Tb * d, sizeof(float));
        SAEParams pb = sae_default_params();
        CHECK(sae_train(&s, Xb, Tb, &pb, &r) != 0 && strstr(err_get(), "--batch"), "%ld tokens in one full batch refused: %s", Tb,
              err_get());
        sae_result_free(&r);
        pb.batch = SAE_MAX_BATCH + 1;
        CHECK(sae_train(&s, Xb, Tb, &pb, &r) != 0 && strstr(err_get(), "--batch"), "a batch of %d refused: %s", pb.batch, err_get());
        sae_result_free(&r);
        free(Xb);
        SAE big;
        CHECK(sae_init_weights(&big, 1 << 20, 1 << 13, 4, W) != 0 && strstr(err_get(), "2^32"), "2^33 weights refused: %s", err_get());
    }
    /* a loss that becomes NaN: a huge learning rate overflows the weights */
    p.lr = 1e37;
    p.epochs = 50;
    float *Wgood = malloc(sizeof(float) * L * d);
    int rc = sae_train(&s, X, T, &p, &r);
    CHECK(rc != 0 && strstr(err_get(), "epoch ") && r.epochs_done >= 1 && r.epochs_done < 50,
          "a loss that becomes NaN/Inf stops training: %s (%d good epochs)", err_get(), r.epochs_done);
    int finite = 1;
    for (int i = 0; i < L * d; i++) finite &= isfinite(s.W[i]);
    CHECK(finite, "after the stop, the weights are the last ones with a finite loss (all finite)");
    char ep[32];
    snprintf(ep, sizeof ep, "epoch %d", r.epochs_done + 1);
    CHECK(strstr(err_get(), ep) != NULL, "the message names the failed epoch (%s)", ep);
    sae_result_free(&r);
    /* an update that overflows while the loss is still finite (lr beyond float range) */
    for (int impl = 0; impl < 2; impl++) {
        p.lr = 1e39;
        p.epochs = 5;
        p.impl = impl ? SAE_REF : SAE_FAST;
        memcpy(Wgood, s.W, sizeof(float) * L * d);
        rc = sae_train(&s, X, T, &p, &r);
        CHECK(rc != 0 && strstr(err_get(), "epoch 1: an update made the weights") && r.epochs_done == 0 &&
                  memcmp(Wgood, s.W, sizeof(float) * L * d) == 0,
              "%s: an update to Inf/NaN weights stops training and keeps the weights: %s", impl ? "reference" : "fast", err_get());
        sae_result_free(&r);
    }
    free(Wgood);
    sae_free(&s);
    free(X); free(W);
}

int main(void) {
    printf("finite differences (double) vs the hand-written backward\n");
    test_finite_differences(1.0, 0.0005, "seed weights");
    test_finite_differences(0.0, 2.0, "decor only");
    test_finite_differences(1.0, 0.0, "mse + sparsity");

    printf("fast path vs reference\n");
    compare_fast_ref(16, 32, 64, 10, 1.0f, 0, "plain");
    compare_fast_ref(16, 32, 64, 60, 1.0f, 0, "k near L");
    compare_fast_ref(12, 20, 40, 7, 1.0f, 12, "ties");
    compare_fast_ref(33, 70, 130, 20, 2.0f, 0, "odd sizes");
    /* d = 2 x 128 + 16: the vector column slices of the fast path and their tails */
    compare_fast_ref(40, 272, 300, 60, 1.0f, 0, "vector slices");

    Golden g;
    if (golden_load(&g, "tests/golden/sae_small.txt") != 0) {
        CHECK(0, "tests/golden/sae_small.txt: %s", err_get());
    } else {
        printf("parity with the seed's PyTorch code (T=40, d=96, L=192, k=32, 100 epochs)\n");
        test_parity(&g, SAE_FAST);
        test_parity(&g, SAE_REF);
        printf("statistics vs the seed's numpy code\n");
        test_stats(&g);
        golden_free(&g);
    }
    test_fve();
    test_order_and_score();
    printf("minibatches\n");
    test_minibatch();
    printf("bad input\n");
    test_bad_input();
    return test_finish();
}
