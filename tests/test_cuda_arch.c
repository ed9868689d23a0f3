/*
 * tests/test_cuda_arch.c - the SAE architectures on the GPU (cuda/cuda_arch.cu)
 * against the CPU (sae/arch.h: sae_arch_loss_grad, sae_arch_step,
 * sae_arch_train), for topk (+AuxK, and Multi-TopK), batchtopk and jumprelu:
 *
 *  1. one loss-and-gradient evaluation: every loss part, l0 and FVU within
 *     1e-4 relative; the gradient of every tensor within 1e-3 relative (plus
 *     1e-4 of the tensor's largest entry, for entries that are sums of terms
 *     cancelling to nearly 0); AuxK active (half the latents made dead);
 *  2. topk: the selected sets of every token equal the CPU's, except where
 *     the two pre-activations are within rounding of the k-th value (a near
 *     tie can go either way); with exact ties (duplicated encoder rows) the
 *     lower index wins, as sae_topk_row; batchtopk with a group of equal
 *     values split at the k B-th: the lower flat index wins (token, then
 *     latent), seen in the gradients;
 *  3. several steps on both sides from the same start: per-step losses,
 *     gradient norms, lr, the dead fraction, and the final weights, Adam
 *     moments, dead counters and batchtopk's threshold; cuda_arch_train against
 *     sae_arch_train, its log and the dead-latent counters;
 *  4. a non-finite loss, and an update that would make a weight infinite,
 *     stop with an error before any weight changes; relu and gated are
 *     refused with a message.
 * Tolerances: the GPU sums in another order (gemm tiles, trees of doubles
 * for the losses, FMA contraction), hence relative 1e-4 on losses and 1e-3
 * on gradients; after s Adam steps a weight can differ by a few lr where an
 * entry of the gradient is ~0 and its sign is rounding; none such was seen,
 * and weights are held to 1e-3 relative + 0.01 lr s absolute, Adam's moments
 * to 1e-3 relative + 1e-4 of the tensor's largest.
 * The emulated twin (tests/test_cuda_arch_emu) runs d=64, n=256, k=8, B=64;
 * on a device the field's shape (d=768, n=24576, k=32, B=4096) also runs
 * once against the CPU and is timed ("RESULT" lines; nothing asserted on
 * speed).
 */
#include "core/util.h"
#include "cuda/cuda.h"
#include "sae/arch.h"
#include "tests/test.h"
#include "tests/test_cuda.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* X (T, d) as an SAE expects it: each token a sum of 4 of 48 random
 * directions with positive weights, plus a shared offset and noise. */
static float *make_X(long T, int d) { return rand_acts(T, d, 48, 4); }

static int rel_close(double a, double b, double tol) {
    return (isnan(a) && isnan(b)) || (isfinite(a) && fabs(a - b) <= tol * fabs(b) + 1e-12);
}

/* which = 'g' gradients, 'w' weights, 'm' / 'v' Adam's moments; each tensor:
 * |gpu - cpu| <= atol_frac max|cpu| + atol_abs + rtol |cpu| */
static void check_tensors(const char *what, SAEArch *g, SAEArch *c, char which, float rtol, float atol_frac,
                          float atol_abs) {
    for (int t = 0; t < c->n_t; t++) {
        const float *a = which == 'g' ? g->t[t].g : which == 'w' ? g->t[t].w : which == 'm' ? g->t[t].m : g->t[t].v;
        const float *b = which == 'g' ? c->t[t].g : which == 'w' ? c->t[t].w : which == 'm' ? c->t[t].m : c->t[t].v;
        float mx = 0;
        for (long e = 0; e < c->t[t].len; e++) mx = fabsf(b[e]) > mx ? fabsf(b[e]) : mx;
        char name[160];
        snprintf(name, sizeof name, "%s %c %s (max |cpu| %.3g)", what, which, c->t[t].name, mx);
        check_close(name, a, b, c->t[t].len, atol_frac * mx + atol_abs, rtol);
    }
}

static SAEArchParams params(SAEArchKind k, int d, int n, int kk, int multi) {
    SAEArchParams p = sae_arch_default_params(k, d, n);
    p.k = kk;
    p.k_aux = d / 2;
    p.multi_topk = multi;
    p.lr = 1e-3f;
    p.seed = 11;
    p.dead_tokens = 1000000;
    if (k == SAE_ARCH_JUMPRELU) p.jump_eps = 0.05f, p.theta0 = 0.05f, p.lambda = 0.01f;
    return p;
}

/* Two identical models from p and the sample X; half the latents dead, so
 * that AuxK has candidates. */
static int make_pair(SAEArch *c, SAEArch *g, const SAEArchParams *p, const float *X, int T) {
    if (sae_arch_init(c, p, X, T) != 0 || sae_arch_init(g, p, X, T) != 0) {
        CHECK(0, "sae_arch_init: %s", err_get());
        return -1;
    }
    for (int i = 0; i < p->n; i += 2) c->since_fired[i] = g->since_fired[i] = p->dead_tokens;
    return 0;
}

/* What a GPU-against-CPU check starts from: a batch X (B, d) on the host
 * and on the device (*d_X NULL if the upload failed, reported), and the two
 * models of make_pair. 0, or -1 (reported) with nothing left to free. */
static int pair_open(const SAEArchParams *p, int B, float **X, float **d_X, SAEArch *c, SAEArch *g) {
    *X = make_X(B, p->d);
    *d_X = dev_from(*X, (size_t)B * p->d * sizeof(float));
    if (make_pair(c, g, p, *X, B) == 0) return 0;
    free(*X), cuda_free(*d_X);
    return -1;
}

/* Free what pair_open made, and the GPU state a (NULL: none). */
static void pair_close(CUDAArch *a, float *X, float *d_X, SAEArch *c, SAEArch *g) {
    cuda_arch_free(a);
    cuda_free(d_X);
    sae_arch_free(c), sae_arch_free(g);
    free(X);
}

static void check_log(const char *what, const SAEArchLog *a, const SAEArchLog *b, double tol) {
    int ok = rel_close(a->loss, b->loss, tol) && rel_close(a->recon, b->recon, tol) &&
             rel_close(a->sparsity, b->sparsity, tol) && rel_close(a->aux, b->aux, tol) &&
             rel_close(a->l0, b->l0, tol) && rel_close(a->fvu, b->fvu, tol);
    CHECK(ok, "%s: loss %.8g/%.8g recon %.8g/%.8g sparsity %.6g/%.6g aux %.6g/%.6g l0 %.4g/%.4g fvu %.6g/%.6g (gpu/cpu, rel %.0e)",
          what, a->loss, b->loss, a->recon, b->recon, a->sparsity, b->sparsity, a->aux, b->aux, a->l0, b->l0, a->fvu,
          b->fvu, tol);
}

/* topk: the GPU's selected sets against sae_topk_row on the CPU's Z; a
 * latent in one set only must be within rel 1e-5 of the row's k-th value. */
static void check_sets(const char *what, CUDAArch *a, SAEArch *c, int B, int exact) {
    const int n = c->p.n, k = c->p.k;
    int *gi = xmalloc((size_t)B * k * sizeof(int)), *gc = xmalloc((size_t)B * sizeof(int));
    int *ci = xmalloc((size_t)k * sizeof(int));
    unsigned char *in = xmalloc((size_t)n);
    if (cuda_arch_selected(a, B, gi, gc) != 0) {
        CHECK(0, "%s: cuda_arch_selected: %s", what, err_get());
        goto out;
    }
    long diff = 0, bad = 0;
    for (int b = 0; b < B; b++) {
        const float *z = c->ws_z + (size_t)b * n;
        int cc = sae_topk_row(z, n, k, NULL, ci);
        memset(in, 0, (size_t)n);
        for (int e = 0; e < cc; e++) in[ci[e]] |= 1;
        for (int e = 0; e < gc[b]; e++) in[gi[(size_t)b * k + e]] |= 2;
        const float kth = z[ci[cc - 1]];
        if (gc[b] != cc) bad++;
        for (int i = 0; i < n; i++)
            if (in[i] == 1 || in[i] == 2) {
                diff++;
                if (exact || !(fabsf(z[i] - kth) <= 1e-5f * fabsf(kth) + 1e-6f)) bad++;
            }
    }
    CHECK(bad == 0, "%s: top-%d sets of %d tokens: %ld latents in one set only (%s), %ld not explained", what, k, B,
          diff, exact ? "exact ties: none allowed" : "near ties allowed", bad);
out:
    free(gi), free(gc), free(ci), free(in);
}

static void test_loss_grad(SAEArchKind kind, int multi, int d, int n, int k, int B) {
    char what[96];
    snprintf(what, sizeof what, "%s%s d=%d n=%d k=%d B=%d", sae_arch_name(kind), multi ? " multi" : "", d, n, k, B);
    if (!gpu) { SKIP("%s: loss, gradients, sets, steps: no GPU", what); return; }
    SAEArchParams p = params(kind, d, n, k, multi);
    float *X, *d_X;
    SAEArch c, g;
    if (pair_open(&p, B, &X, &d_X, &c, &g) != 0) return;
    CUDAArch *a = NULL;
    int rc = d_X ? cuda_arch_init(&a, &g, B) : -1;
    CHECK(rc == 0, "%s: cuda_arch_init (%s)", what, rc ? err_get() : "ok");
    if (rc == 0) {
        SAEArchLog lc, lg;
        sae_arch_loss_grad(&c, X, B, &lc);
        rc = cuda_arch_loss_grad(a, d_X, B, &lg);
        CHECK(rc == 0, "%s: cuda_arch_loss_grad (%s)", what, rc ? err_get() : "ok");
        if (rc == 0) {
            if (kind != SAE_ARCH_JUMPRELU) CHECK(lc.aux > 0, "%s: AuxK active on the CPU (aux %.4g)", what, lc.aux);
            check_log(what, &lg, &lc, 1e-4);
            if (cuda_arch_grads(a) == 0) check_tensors(what, &g, &c, 'g', 1e-3f, 1e-4f, 0.0f);
            else CHECK(0, "cuda_arch_grads: %s", err_get());
            if (kind == SAE_ARCH_TOPK) check_sets(what, a, &c, B, 0);
        }
        /* several steps from the same start (the gradients above were not applied) */
        const int steps = 4;
        double worst = 0;
        int ok = 1;
        for (int s = 0; s < steps && ok; s++) {
            if (sae_arch_step(&c, X, B, &lc) != 0 || cuda_arch_step(a, d_X, B, &lg) != 0) {
                ok = 0;
                CHECK(0, "%s: step %d: %s", what, s + 1, err_get());
                break;
            }
            double r = fabs(lg.loss - lc.loss) / fabs(lc.loss);
            worst = r > worst ? r : worst;
            ok = rel_close(lg.loss, lc.loss, 1e-4) && rel_close(lg.grad_norm, lc.grad_norm, 1e-3) &&
                 lg.lr == lc.lr && lg.dead_frac == lc.dead_frac;
            if (!ok)
                CHECK(0, "%s: step %d: loss %.8g/%.8g grad_norm %.6g/%.6g dead %.4g/%.4g", what, s + 1, lg.loss,
                      lc.loss, lg.grad_norm, lc.grad_norm, lg.dead_frac, lc.dead_frac);
        }
        if (ok) CHECK(1, "%s: %d steps: losses within 1e-4 (worst %.2e), grad norms 1e-3, lr and dead fraction equal",
                      what, steps, worst);
        if (ok && cuda_arch_download(a) == 0) {
            check_tensors(what, &g, &c, 'w', 1e-3f, 0.0f, 0.01f * p.lr * steps);
            check_tensors(what, &g, &c, 'm', 1e-3f, 1e-4f, 0.0f);
            check_tensors(what, &g, &c, 'v', 1e-3f, 1e-4f, 0.0f);
            long same = 0;
            for (int i = 0; i < n; i++) same += g.since_fired[i] == c.since_fired[i];
            CHECK(same == n && g.step == c.step, "%s: since_fired equal for %ld of %d latents, step %ld/%ld", what,
                  same, n, g.step, c.step);
            if (kind == SAE_ARCH_BATCHTOPK)
                CHECK(rel_close(g.threshold, c.threshold, 1e-4), "%s: running threshold %.8g/%.8g", what, g.threshold,
                      c.threshold);
        }
    }
    pair_close(a, X, d_X, &c, &g);
}

/* exact ties: latent 2i+1 a copy of latent 2i (encoder row and bias) */
static void test_ties(void) {
    const int d = 32, n = 64, k = 5, B = 16;
    if (!gpu) { SKIP("topk exact ties: no GPU"); return; }
    SAEArchParams p = params(SAE_ARCH_TOPK, d, n, k, 0);
    float *X, *d_X;
    SAEArch c, g;
    if (pair_open(&p, B, &X, &d_X, &c, &g) != 0) return;
    for (int i = 0; i < n; i += 2) {
        memcpy(c.W_enc + (size_t)(i + 1) * d, c.W_enc + (size_t)i * d, (size_t)d * sizeof(float));
        memcpy(g.W_enc + (size_t)(i + 1) * d, g.W_enc + (size_t)i * d, (size_t)d * sizeof(float));
    }
    CUDAArch *a = NULL;
    SAEArchLog lc, lg;
    if (d_X && cuda_arch_init(&a, &g, B) == 0 && cuda_arch_loss_grad(a, d_X, B, &lg) == 0) {
        sae_arch_loss_grad(&c, X, B, &lc);
        check_sets("topk exact ties (k odd: a pair is split, the lower index kept)", a, &c, B, 1);
    } else {
        CHECK(0, "topk exact ties: %s", err_get());
    }
    pair_close(a, X, d_X, &c, &g);
}

static int cmp_desc(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x < y) - (x > y);
}

/* batchtopk with exact ties across tokens and latents: token 2t+1 is token
 * 2t but for coordinates no encoder row reads, latent 2i+1's encoder row
 * copies latent 2i's, so Z holds groups of 4 (or 2) equal values. Some k splits the group at the k B-th value; there the lower flat
 * indices (token first, then latent) are kept, and keeping another member
 * would change the gradients (which entries are zero) and the loss. */
static void test_batch_ties(void) {
    const int d = 32, n = 64, B = 15; /* odd: the last token has no twin, so k B is odd for odd k and
                                          cannot end at a group of 4 (or 2) */
    if (!gpu) { SKIP("batchtopk exact ties: no GPU"); return; }
    int split_k = 0;
    float *d_X = NULL, *X = make_X(B, d);
    /* the twin differs from its token only in the last J coordinates, which
     * every encoder row ignores (zero there): equal pre-activations, but a
     * different residual, so which twin keeps a latent shows in g_W_dec */
    const int J = 4;
    for (int b = 0; b + 1 < B; b += 2) {
        memcpy(X + (size_t)(b + 1) * d, X + (size_t)b * d, (size_t)d * sizeof(float));
        for (int j = d - J; j < d; j++) X[(size_t)(b + 1) * d + j] += 0.5f * rng_normal(&rng);
    }
    float *zs = xmalloc((size_t)B * n * sizeof(float));
    for (int k = 2; k <= 12 && !split_k; k++) {
        SAEArchParams p = params(SAE_ARCH_BATCHTOPK, d, n, k, 0);
        p.k_aux = 0;
        SAEArch c, g;
        if (make_pair(&c, &g, &p, X, B) != 0) break;
        for (int i = 0; i < n; i++) {
            for (int j = d - J; j < d; j++) c.W_enc[(size_t)i * d + j] = g.W_enc[(size_t)i * d + j] = 0.0f;
            if (i % 2 == 0) continue;
            memcpy(c.W_enc + (size_t)i * d, c.W_enc + (size_t)(i - 1) * d, (size_t)d * sizeof(float));
            memcpy(g.W_enc + (size_t)i * d, g.W_enc + (size_t)(i - 1) * d, (size_t)d * sizeof(float));
        }
        SAEArchLog lc, lg;
        sae_arch_loss_grad(&c, X, B, &lc);
        /* the k B-th largest value v: split when only some of the entries equal to v are kept */
        memcpy(zs, c.ws_z, (size_t)B * n * sizeof(float));
        qsort(zs, (size_t)B * n, sizeof(float), cmp_desc);
        const long K = (long)k * B;
        const float v = zs[K - 1];
        long above = 0, equal = 0;
        for (long e = 0; e < (long)B * n; e++) above += zs[e] > v, equal += zs[e] == v;
        if (v > 0 && K - above < equal) {
            split_k = k;
            const size_t bytes = (size_t)B * d * sizeof(float);
            CUDAArch *a = NULL;
            int ok = (d_X = dev_from(X, bytes)) != NULL && cuda_arch_init(&a, &g, B) == 0 &&
                     cuda_arch_loss_grad(a, d_X, B, &lg) == 0 && cuda_arch_grads(a) == 0;
            if (!ok) CHECK(0, "batchtopk exact ties k=%d: %s", k, err_get());
            else {
                char what[96];
                snprintf(what, sizeof what, "batchtopk exact ties k=%d (%ld of %ld equal values kept)", k, K - above,
                         equal);
                check_log(what, &lg, &lc, 1e-4);
                check_tensors(what, &g, &c, 'g', 1e-3f, 1e-4f, 0.0f);
                long same = 0, total = 0;
                for (int t = 0; t < c.n_t; t++)
                    for (long e = 0; e < c.t[t].len; e++, total++) same += (g.t[t].g[e] == 0.0f) == (c.t[t].g[e] == 0.0f);
                CHECK(same == total, "%s: the same gradient entries are zero (%ld of %ld)", what, same, total);
            }
            cuda_arch_free(a);
        }
        sae_arch_free(&c), sae_arch_free(&g);
    }
    CHECK(split_k > 0, "batchtopk exact ties: some k in 2..12 splits a group of equal values (k = %d)", split_k);
    cuda_free(d_X);
    free(zs), free(X);
}

typedef struct {
    double loss[64];
    long n;
} Trace;

static int record(void *ctx, long step, const SAEArchLog *log) {
    Trace *t = ctx;
    (void)step;
    if (t->n < 64) t->loss[t->n++] = log->loss;
    return 0;
}

/* cuda_arch_train against sae_arch_train over T tokens in batches (wrapping) */
static void test_train(SAEArchKind kind) {
    const int d = 48, n = 192, k = 6, B = 32, T = 96, steps = 5;
    if (!gpu) { SKIP("cuda_arch_train %s vs sae_arch_train: no GPU", sae_arch_name(kind)); return; }
    SAEArchParams p = params(kind, d, n, k, 0);
    p.dead_tokens = 64; /* latents go dead during the run: AuxK starts on both sides */
    p.warmup_steps = 2, p.decay_steps = 2, p.total_steps = steps, p.grad_clip = 0.5f;
    float *X = make_X(T, d);
    SAEArch c, g;
    if (sae_arch_init(&c, &p, X, T) != 0 || sae_arch_init(&g, &p, X, T) != 0) {
        CHECK(0, "sae_arch_init: %s", err_get());
        free(X);
        return;
    }
    Trace tc = {{0}, 0}, tg = {{0}, 0};
    int rc = sae_arch_train(&c, X, T, B, steps, record, &tc);
    int rg = cuda_arch_train(&g, X, T, B, steps, record, &tg);
    CHECK(rc == 0 && rg == 0 && tg.n == steps, "cuda_arch_train %s: %d steps (%s)", sae_arch_name(kind), (int)tg.n,
          rg ? err_get() : "ok");
    if (rc == 0 && rg == 0) {
        double worst = 0;
        for (int s = 0; s < steps; s++) {
            double r = fabs(tg.loss[s] - tc.loss[s]) / fabs(tc.loss[s]);
            worst = r > worst || isnan(r) ? r : worst;
        }
        CHECK(worst <= 1e-4, "cuda_arch_train %s: per-step losses within 1e-4 of sae_arch_train (worst %.2e; last %.6g/%.6g)",
              sae_arch_name(kind), worst, tg.loss[steps - 1], tc.loss[steps - 1]);
        check_tensors("cuda_arch_train", &g, &c, 'w', 1e-3f, 0.0f, 0.01f * p.lr * steps);
        long same = 0;
        for (int i = 0; i < n; i++) same += g.since_fired[i] == c.since_fired[i];
        CHECK(same == n && g.step == c.step, "cuda_arch_train %s: since_fired equal for %ld of %d, step %ld/%ld",
              sae_arch_name(kind), same, n, g.step, c.step);
    }
    sae_arch_free(&c), sae_arch_free(&g);
    free(X);
}

/* a NaN/Inf loss, and an update that would overflow, stop before any change */
static void test_failures(void) {
    const int d = 32, n = 64, k = 4, B = 8;
    if (!gpu) { SKIP("non-finite loss / update and relu, gated refused: no GPU"); return; }
    SAEArchParams p = params(SAE_ARCH_TOPK, d, n, k, 0);
    float *X = make_X(B, d), *d_X = dev_from(X, (size_t)B * d * sizeof(float));
    SAEArch g;
    if (sae_arch_init(&g, &p, X, B) != 0) { CHECK(0, "sae_arch_init: %s", err_get()); free(X); return; }
    float *W0 = xmalloc((size_t)n * d * sizeof(float));
    memcpy(W0, g.W_dec, (size_t)n * d * sizeof(float));
    float *Xbad = xmalloc((size_t)B * d * sizeof(float));
    memcpy(Xbad, X, (size_t)B * d * sizeof(float));
    Xbad[3] = INFINITY;
    float *d_bad = dev_from(Xbad, (size_t)B * d * sizeof(float));
    CUDAArch *a = NULL;
    SAEArchLog lg;
    if (d_bad && d_X && cuda_arch_init(&a, &g, B) == 0) {
        int rc = cuda_arch_step(a, d_bad, B, &lg);
        CHECK(rc != 0 && strstr(err_get(), "loss") != NULL && g.step == 0,
              "an infinite input stops the step: \"%s\"", rc ? err_get() : "(no error)");
        cuda_arch_free(a);
        a = NULL;
        g.p.lr = 1e38f; /* lr / (1 - beta1) overflows: the update is infinite */
        if (cuda_arch_init(&a, &g, B) == 0) {
            rc = cuda_arch_step(a, d_X, B, &lg);
            CHECK(rc != 0 && strstr(err_get(), "infinite") != NULL && g.step == 0,
                  "an overflowing update stops the step: \"%s\"", rc ? err_get() : "(no error)");
            if (cuda_arch_download(a) == 0)
                CHECK(memcmp(W0, g.W_dec, (size_t)n * d * sizeof(float)) == 0, "no weight changed by the refused steps");
        }
    } else {
        CHECK(0, "setup: %s", err_get());
    }
    cuda_arch_free(a);
    cuda_free(d_bad), cuda_free(d_X);
    sae_arch_free(&g);
    const SAEArchKind cpu_only[] = {SAE_ARCH_RELU, SAE_ARCH_GATED};
    for (int i = 0; i < 2; i++) {
        SAEArchParams q = sae_arch_default_params(cpu_only[i], d, n);
        SAEArch m;
        CUDAArch *b = NULL;
        if (sae_arch_init(&m, &q, X, B) != 0) continue;
        int rc = cuda_arch_init(&b, &m, B);
        CHECK(rc != 0 && strstr(err_get(), "--device cpu") != NULL, "%s is refused on the GPU: \"%s\"",
              sae_arch_name(cpu_only[i]), rc ? err_get() : "(accepted)");
        cuda_arch_free(b);
        sae_arch_free(&m);
    }
    free(W0), free(Xbad), free(X);
}

/* The field's shape, once, on a device: loss and gradients against the CPU,
 * then steps timed. */
static void test_field_shape(SAEArchKind kind) {
    const int d = 768, n = 24576, k = 32, B = 4096, steps = 10;
    if (!gpu || EMULATED) {
        SKIP("%s at d=%d n=%d k=%d B=%d: %s", sae_arch_name(kind), d, n, k, B,
             gpu ? "emulated (hours); runs on a device" : "no GPU");
        return;
    }
    SAEArchParams p = params(kind, d, n, k, 0);
    p.lr = 2e-4f;
    /* θ about 2 standard deviations of z: a few % active, ~1% in the window
     * (θ = 0.001 would make half of Z active and the CPU reference minutes long) */
    if (kind == SAE_ARCH_JUMPRELU) p.jump_eps = 0.05f, p.theta0 = 0.5f, p.lambda = 1e-3f;
    float *X, *d_X;
    SAEArch c, g;
    if (pair_open(&p, B, &X, &d_X, &c, &g) != 0) return;
    CUDAArch *a = NULL;
    SAEArchLog lc, lg;
    if (d_X && cuda_arch_init(&a, &g, B) == 0) {
        double t0 = time_now();
        sae_arch_loss_grad(&c, X, B, &lc);
        double t_cpu = time_now() - t0;
        int rc = cuda_arch_loss_grad(a, d_X, B, &lg);
        CHECK(rc == 0, "%s field shape: cuda_arch_loss_grad (%s)", sae_arch_name(kind), rc ? err_get() : "ok");
        if (rc == 0) {
            check_log("field shape", &lg, &lc, 1e-4);
            if (cuda_arch_grads(a) == 0) check_tensors("field shape", &g, &c, 'g', 1e-3f, 1e-4f, 0.0f);
        }
        rc = cuda_arch_step(a, d_X, B, &lg) || cuda_sync();
        t0 = time_now();
        for (int s = 0; s < steps && rc == 0; s++) rc = cuda_arch_step(a, d_X, B, &lg);
        rc = rc || cuda_sync();
        double t = (time_now() - t0) / steps;
        CHECK(rc == 0 && isfinite(lg.loss), "%s field shape: %d steps, last loss %.6g (%s)", sae_arch_name(kind),
              steps + 1, lg.loss, rc ? err_get() : "ok");
        printf("RESULT cuda_arch %s d=%d n=%d k=%d B=%d: %.2f ms/step, %.0f tokens/s (CPU loss+grad alone: %.0f ms)\n",
               sae_arch_name(kind), d, n, k, B, 1e3 * t, B / t, 1e3 * t_cpu);
    } else {
        CHECK(0, "%s field shape: %s", sae_arch_name(kind), err_get());
    }
    pair_close(a, X, d_X, &c, &g);
}

int main(void) {
    test_cuda_start(2024);
    test_loss_grad(SAE_ARCH_TOPK, 0, 64, 256, 8, 64);
    test_loss_grad(SAE_ARCH_TOPK, 1, 64, 256, 8, 64);
    test_loss_grad(SAE_ARCH_BATCHTOPK, 0, 64, 256, 8, 64);
    test_loss_grad(SAE_ARCH_JUMPRELU, 0, 64, 256, 8, 64);
    test_loss_grad(SAE_ARCH_TOPK, 0, 37, 301, 7, 19); /* odd sizes: partial blocks everywhere */
    test_ties();
    test_batch_ties();
    test_train(SAE_ARCH_TOPK);
    test_train(SAE_ARCH_JUMPRELU);
    test_train(SAE_ARCH_BATCHTOPK);
    test_failures();
    test_field_shape(SAE_ARCH_TOPK);
    test_field_shape(SAE_ARCH_JUMPRELU);
    test_field_shape(SAE_ARCH_BATCHTOPK);
    return test_finish();
}
