/*
 * tests/test_cuda_sae.c - SAE training on the GPU (cuda/cuda_sae.cu) against
 * the CPU trainer (sae/sae.h).
 *
 *  1. one loss-and-gradient evaluation vs sae_loss_grad_ref at small odd
 *     shapes, both decoders (sparse / dense), the Gram path (T < L) and the
 *     covariance path (T >= L): losses rel 1e-4, g_W and z elementwise;
 *  2. three Adam steps on one batch vs sae_loss_grad_ref + sae_adam_step;
 *  3. the seed's shapes (T=220, d=3072, L=6144, k=1024): 1 epoch and 100
 *     epochs of cuda_sae_train vs sae_train: every epoch's total and sparsity
 *     losses within 1e-3 relative, decorrelation within 3e-2, final latents
 *     within 2e-2 (absolute) except at mask flips (top-k is discontinuous:
 *     a rounding difference can swap a row's k-th and (k+1)-th latent; such
 *     flips are counted and must stay under 0.1% of the entries);
 *  4. minibatches (the same shuffle as the CPU) for 2 epochs, same tolerances;
 *  5. a non-finite input is refused with a message.
 * Without a GPU every one of these is reported as skipped. GPT2SAE_CUDA_QUICK=2
 * runs only the small shapes (for compute-sanitizer).
 *
 * X is synthetic: a rank-16 signal plus noise, scaled like GPT-2's mlp_pre
 * (|x| ~ 1), from a fixed seed.
 */
#include "core/util.h"
#include "cuda/cuda.h"
#include "sae/sae.h"
#include "tests/test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int gpu;
static Rng rng;

static float *make_X(long T, int d) {
    const int R = 16;
    float *U = xmalloc((size_t)T * R * sizeof(float)), *V = xmalloc((size_t)R * d * sizeof(float));
    for (long i = 0; i < T * R; i++) U[i] = rng_normal(&rng);
    for (long i = 0; i < (long)R * d; i++) V[i] = rng_normal(&rng) * 0.25f;
    float *X = xmalloc((size_t)T * d * sizeof(float));
    for (long t = 0; t < T; t++)
        for (int j = 0; j < d; j++) {
            float s = 0.3f * rng_normal(&rng);
            for (int r = 0; r < R; r++) s += U[t * R + r] * V[(long)r * d + j];
            X[t * d + j] = s;
        }
    free(U), free(V);
    return X;
}

static float *dev_copy(const float *h, size_t n) {
    float *d = NULL;
    if (cuda_malloc((void **)&d, n * sizeof(float)) != 0 || cuda_upload(d, h, n * sizeof(float)) != 0) {
        CHECK(0, "upload: %s", err_get());
        cuda_free(d);
        return NULL;
    }
    return d;
}

/* Latents: top-k is discontinuous, so a rounding difference in X W^T can swap
 * the k-th and (k+1)-th value of a row ("a flip": zero on one side only).
 * Flips are counted and bounded by max_flips; every other entry must satisfy
 * |gpu - cpu| <= atol + rtol |cpu|. Returns the number of flips (-1 on failure). */
static long check_latents(const char *name, const float *a, const float *b, long n, float atol, float rtol,
                          long max_flips) {
    long flips = 0, bad = 0, worst = -1;
    double wd = 0;
    for (long i = 0; i < n; i++) {
        if ((a[i] == 0.0f) != (b[i] == 0.0f)) { flips++; continue; }
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= atol + rtol * fabs((double)b[i]))) bad++;
        if (!(d <= wd)) wd = d, worst = i;
    }
    int ok = bad == 0 && flips <= max_flips;
    CHECK(ok, "%s: %ld values, %ld outside atol %.0e rtol %.0e, %ld mask flips (<= %ld allowed); worst [%ld] %.6g vs %.6g",
          name, n, bad, atol, rtol, flips, max_flips, worst, worst >= 0 ? a[worst] : 0.0f, worst >= 0 ? b[worst] : 0.0f);
    return ok ? flips : -1;
}

static int rel_close(double a, double b, double tol) { return isfinite(a) && fabs(a - b) <= tol * fabs(b) + 1e-12; }

static void test_loss_grad(int T, int d, int L, int k, int sparse) {
    const char *mode = sparse ? "sparse" : "dense";
    if (!gpu) {
        SKIP("loss+grad T=%d d=%d L=%d k=%d %s decoder vs sae_loss_grad_ref: no GPU", T, d, L, k, mode);
        return;
    }
    SAEParams p = sae_default_params();
    p.latents = L, p.k = k, p.seed = 77;
    SAE sae;
    if (sae_init(&sae, d, &p) != 0) { CHECK(0, "sae_init: %s", err_get()); return; }
    float *X = make_X(T, d);
    float *g_ref = xmalloc((size_t)L * d * sizeof(float)), *z_ref = xmalloc((size_t)T * L * sizeof(float));
    float *g = xmalloc((size_t)L * d * sizeof(float)), *z = xmalloc((size_t)T * L * sizeof(float));
    SAELosses lr, lg;
    sae_loss_grad_ref(&sae, X, T, p.sparsity_weight, p.decor_weight, g_ref, z_ref, &lr);
    CUDASAE *s = NULL;
    float *d_X = dev_copy(X, (size_t)T * d);
    int rc = d_X ? cuda_sae_init(&s, &sae, &p, T) : -1;
    CHECK(rc == 0, "cuda_sae_init (%s)", rc ? err_get() : "");
    if (rc == 0) {
        cuda_sae_set_options(s, sparse, CUDA_MATMUL_FP32);
        rc = cuda_sae_loss_grad(s, d_X, T, g, z, &lg);
        CHECK(rc == 0, "cuda_sae_loss_grad (%s)", rc ? err_get() : "");
        char name[128];
        snprintf(name, sizeof name, "T=%d d=%d L=%d k=%d %s (%s path)", T, d, L, k, mode, T < L ? "Gram" : "cov");
        CHECK(rel_close(lg.total, lr.total, 1e-4) && rel_close(lg.mse, lr.mse, 1e-4) &&
                  rel_close(lg.sparsity, lr.sparsity, 1e-4) && rel_close(lg.decor, lr.decor, 1e-3),
              "losses %s: gpu %.7g %.7g %.7g %.7g cpu %.7g %.7g %.7g %.7g", name, lg.total, lg.mse, lg.sparsity,
              lg.decor, lr.total, lr.mse, lr.sparsity, lr.decor);
        float gmax = 0;
        for (long i = 0; i < (long)L * d; i++) gmax = fmaxf(gmax, fabsf(g_ref[i]));
        char n2[160];
        snprintf(n2, sizeof n2, "z %s", name);
        long flips = check_latents(n2, z, z_ref, (long)T * L, 1e-5f, 1e-4f, 2 + (long)T * L / 10000);
        if (flips == 0) {
            snprintf(n2, sizeof n2, "g_W %s (atol 1e-4 max|g|)", name);
            check_close(n2, g, g_ref, (long)L * d, 1e-4f * gmax, 1e-3f);
        } else { /* a flipped latent changes its rows of g_W: compare as a whole */
            double num = 0, den = 0;
            for (long i = 0; i < (long)L * d; i++) num += ((double)g[i] - g_ref[i]) * ((double)g[i] - g_ref[i]),
                                                   den += (double)g_ref[i] * g_ref[i];
            double e = sqrt(num / den);
            CHECK(e < 1e-2, "g_W %s: relative error %.2e (< 1e-2 with %ld mask flips)", name, e, flips);
        }
    }
    cuda_sae_free(s);
    cuda_free(d_X);
    sae_free(&sae);
    free(X), free(g_ref), free(z_ref), free(g), free(z);
}

static void test_adam_steps(void) {
    const int T = 40, d = 48, L = 96, k = 16, steps = 3;
    if (!gpu) { SKIP("3 Adam steps vs sae_loss_grad_ref + sae_adam_step: no GPU"); return; }
    SAEParams p = sae_default_params();
    p.latents = L, p.k = k, p.lr = 1e-2; /* a large step, so that the update is visible */
    SAE sae;
    if (sae_init(&sae, d, &p) != 0) { CHECK(0, "sae_init: %s", err_get()); return; }
    float *X = make_X(T, d), *g = xmalloc((size_t)L * d * sizeof(float)), *W = xmalloc((size_t)L * d * sizeof(float));
    float *W0 = xmalloc((size_t)L * d * sizeof(float));
    memcpy(W0, sae.W, (size_t)L * d * sizeof(float));
    CUDASAE *s = NULL;
    float *d_X = dev_copy(X, (size_t)T * d);
    int rc = d_X ? cuda_sae_init(&s, &sae, &p, T) : -1;
    CHECK(rc == 0, "cuda_sae_init (%s)", rc ? err_get() : "");
    if (rc == 0) {
        SAEAdam adam;
        sae_adam_init(&adam, (long)L * d);
        for (int i = 0; i < steps; i++) {
            SAELosses l;
            sae_loss_grad_ref(&sae, X, T, p.sparsity_weight, p.decor_weight, g, NULL, &l);
            sae_adam_step(&adam, sae.W, g, &p);
            if (cuda_sae_step(s, d_X, T, NULL) != 0) CHECK(0, "cuda_sae_step: %s", err_get());
        }
        SAE tmp = sae;
        tmp.W = W;
        rc = cuda_sae_download(s, &tmp);
        CHECK(rc == 0 && !cuda_sae_failed(s), "weights back from the GPU (%s)", rc ? err_get() : "");
        /* the updates W - W0 as a whole (an element whose gradient is ~0 may
         * take Adam's step of +-lr on either side: a sign, not an error) */
        double num = 0, den = 0;
        for (long i = 0; i < (long)L * d; i++) {
            double u = (double)W[i] - W0[i], r = (double)sae.W[i] - W0[i];
            num += (u - r) * (u - r), den += r * r;
        }
        double e = den > 0 ? sqrt(num / den) : INFINITY;
        CHECK(e < 1e-3, "W after 3 Adam steps (lr 1e-2): update relative error %.2e (< 1e-3)", e);
        sae_adam_free(&adam);
    }
    cuda_sae_free(s);
    cuda_free(d_X);
    sae_free(&sae);
    free(X), free(g), free(W), free(W0);
}

/* cuda_sae_train vs sae_train for `epochs` epochs (batch 0: full). */
static void test_train(int T, int d, int epochs, int batch) {
    if (!gpu) {
        SKIP("train T=%d d=%d epochs=%d batch=%d: losses per epoch vs sae_train: no GPU", T, d, epochs, batch);
        SKIP("train T=%d d=%d epochs=%d batch=%d: final latents: no GPU", T, d, epochs, batch);
        return;
    }
    SAEParams p = sae_default_params();
    p.epochs = epochs, p.batch = batch, p.want_latents = 1;
    SAE cpu, dev;
    if (sae_init(&cpu, d, &p) != 0 || sae_init_weights(&dev, d, cpu.L, cpu.k, cpu.W) != 0) {
        CHECK(0, "sae_init: %s", err_get());
        return;
    }
    float *X = make_X(T, d);
    SAEResult rc_cpu, rc_gpu;
    double t0 = time_now();
    int a = sae_train(&cpu, X, T, &p, &rc_cpu);
    double t1 = time_now();
    float *d_X = dev_copy(X, (size_t)T * d);
    int b = d_X ? cuda_sae_train(&dev, NULL, d_X, T, &p, &rc_gpu) : -1;
    double t2 = time_now();
    CHECK(a == 0 && b == 0, "both trainers ran %d epochs (cpu %.2f s, gpu %.2f s incl. upload) %s", epochs, t1 - t0,
          t2 - t1, b ? err_get() : "");
    if (a == 0 && b == 0) {
        int bad = 0, worst = 0;
        double wr = 0;
        for (int e = 0; e < epochs; e++) {
            const SAELosses *c = &rc_cpu.losses[e], *g = &rc_gpu.losses[e];
            int ok = rel_close(g->total, c->total, 1e-3) && rel_close(g->sparsity, c->sparsity, 1e-3) &&
                     rel_close(g->decor, c->decor, 3e-2);
            double r = fabs(g->total - c->total) / fabs(c->total);
            if (r > wr) wr = r, worst = e;
            bad += !ok;
            if (!ok && bad <= 3)
                printf("    epoch %d: gpu %.7g %.7g %.7g  cpu %.7g %.7g %.7g\n", e + 1, g->total, g->sparsity, g->decor,
                       c->total, c->sparsity, c->decor);
        }
        CHECK(bad == 0 && rc_gpu.epochs_done == epochs,
              "train T=%d d=%d L=%d k=%d epochs=%d batch=%d: %d epochs outside (total/sparsity 1e-3, decor 3e-2); "
              "worst total at epoch %d, rel %.2e",
              T, d, cpu.L, cpu.k, epochs, batch, bad, worst + 1, wr);
        char name[128];
        snprintf(name, sizeof name, "final latents T=%d epochs=%d batch=%d (atol 2e-2)", T, epochs, batch);
        check_latents(name, rc_gpu.latents, rc_cpu.latents, (long)T * cpu.L, 2e-2f, 0.0f, (long)T * cpu.L / 1000);
    } else {
        CHECK(0, "train T=%d d=%d epochs=%d batch=%d: final latents (training failed)", T, d, epochs, batch);
    }
    if (a == 0) sae_result_free(&rc_cpu);
    if (b == 0) sae_result_free(&rc_gpu);
    cuda_free(d_X);
    sae_free(&cpu), sae_free(&dev);
    free(X);
}

static void test_nonfinite(void) {
    if (!gpu) { SKIP("a NaN in X is refused with a message: no GPU"); return; }
    const int T = 8, d = 12;
    SAEParams p = sae_default_params();
    p.epochs = 2;
    SAE sae;
    if (sae_init(&sae, d, &p) != 0) return;
    float *X = make_X(T, d);
    X[5 * d + 3] = NAN;
    SAEResult r;
    int rc = cuda_sae_train(&sae, X, NULL, T, &p, &r);
    CHECK(rc == -1 && strstr(err_get(), "token 5"), "a NaN in X (host) is refused: %s", err_get());
    sae_result_free(&r);
    /* on the device nothing checks X first: the first loss is NaN, no update is made */
    float *W0 = xmalloc((size_t)sae.L * d * sizeof(float));
    memcpy(W0, sae.W, (size_t)sae.L * d * sizeof(float));
    float *d_X = dev_copy(X, (size_t)T * d);
    rc = d_X ? cuda_sae_train(&sae, NULL, d_X, T, &p, &r) : 0;
    CHECK(rc == -1 && r.epochs_done == 0 && memcmp(W0, sae.W, (size_t)sae.L * d * sizeof(float)) == 0,
          "a NaN in X (device) stops training at epoch 1, W unchanged: %s", err_get());
    sae_result_free(&r);
    cuda_free(d_X);
    sae_free(&sae);
    free(X), free(W0);
}

int main(void) {
    rng_seed(&rng, 4242);
    gpu = cuda_available();
    char desc[256];
    if (gpu && cuda_describe(desc, sizeof desc) == 0) printf("device: %s\n", desc);
    else printf("no CUDA device (or a build without CUDA): the GPU checks are skipped\n");
    if (!gpu) {
        SAE sae;
        SAEParams p = sae_default_params();
        CUDASAE *s = (CUDASAE *)1;
        int rc = sae_init(&sae, 16, &p);
        CHECK(rc == 0, "sae_init");
        if (rc == 0) {
            rc = cuda_sae_init(&s, &sae, &p, 8);
            CHECK(rc == -1 && s == NULL && err_get()[0], "cuda_sae_init without a GPU fails with a message: %s",
                  err_get());
            sae_free(&sae);
        }
        cuda_sae_free(NULL);
    }

    /* GPT2SAE_CUDA_QUICK=2: small shapes only (for compute-sanitizer) */
    const char *quick = getenv("GPT2SAE_CUDA_QUICK");
    if (quick && *quick == '2') {
        test_loss_grad(37, 50, 120, 17, 1);
        test_loss_grad(150, 40, 64, 10, 0);
        test_adam_steps();
        test_train(301, 96, 2, 64);
        return test_finish();
    }

    test_loss_grad(37, 50, 120, 17, 1);
    test_loss_grad(37, 50, 120, 17, 0);
    test_loss_grad(150, 40, 64, 10, 1); /* T >= L: the L x L covariance */
    test_loss_grad(150, 40, 64, 10, 0);
    test_loss_grad(220, 3072, 6144, 1024, 1); /* the seed's shapes */
    test_adam_steps();
    test_train(220, 3072, 1, 0);
    test_train(220, 3072, 100, 0);
    test_train(301, 96, 2, 64); /* minibatches, a last batch of 45 */
    test_nonfinite();
    return test_finish();
}
