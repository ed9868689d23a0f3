/*
 * tests/test_dist.c - data-parallel SAE training (dist/dp.h) against one
 * process. Run alone it is rank 0 of 1; tests/test_dist.sh runs it under
 * `mpirun -np 2` and `-np 4`. Every rank also trains the single-process
 * reference (sae_arch_step on the whole global batch) and compares:
 *   - each of 100 steps' loss within 1e-5 relative (topk with AuxK and dead
 *     latents, relu, jumprelu, gated; small d = 16, n = 64, B = 24)
 *   - the final weights close to the reference's, and bit-identical on
 *     every rank (a checksum all-reduced)
 *   - the dead counters equal to the reference's
 * Then the latent-sharded TopK (dist/shard.h) against the dense one: the
 * forward, and 60 training steps with AuxK over more dead latents than k_aux.
 * `test_dist --die R` is the fault drill of tests/test_dist.sh: rank R
 * exits after 3 steps while the others keep reducing.
 * Without MPI in the build, the whole test is one skip.
 */
#include "dist/dist.h"
#include "dist/dp.h"
#include "dist/shard.h"
#include "core/util.h"
#include "tests/test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/mpi_san.h"

#if GS_MPI

#define D 16
#define N 64
#define B 24
#define STEPS 100

static float *data(long T, uint64_t seed) {
    /* tokens from a few directions plus noise (activation-like, nonzero mean) */
    float *X = xmalloc((size_t)T * D * sizeof(float));
    Rng s;
    rng_seed(&s, seed);
    float dir[6][D];
    for (int a = 0; a < 6; a++)
        for (int j = 0; j < D; j++) dir[a][j] = rng_uniform(&s) * 2 - 1;
    for (long t = 0; t < T; t++)
        for (int j = 0; j < D; j++) {
            float v = 0.3f + 0.2f * (rng_uniform(&s) - 0.5f);
            for (int a = 0; a < 6; a++) v += (t * 7 + a) % 3 == 0 ? dir[a][j] * rng_uniform(&s) : 0.0f;
            X[(size_t)t * D + j] = v;
        }
    return X;
}

static int all_ok(int ok) {   /* every rank's verdict */
    unsigned char bad = !ok;
    if (dist_max_u8(&bad, 1) != 0) return 0;
    return !bad;
}

static void dp_case(SAEArchKind kind, const float *X, long T, int die) {
    const int r = dist_rank(), R = dist_size();
    SAEArchParams p = sae_arch_default_params(kind, D, N);
    p.lr = 1e-3f, p.warmup_steps = 10, p.decay_steps = 20, p.total_steps = STEPS, p.grad_clip = 1.0f;
    p.dead_tokens = 200;   /* AuxK has dead latents to work on */
    if (kind == SAE_ARCH_TOPK) p.k = 4, p.k_aux = 8;
    SAEArch ref, dp;
    if (sae_arch_init(&ref, &p, X, 64) != 0 || sae_arch_init(&dp, &p, X, 64) != 0) {
        CHECK(0, "%s: init: %s", sae_arch_name(kind), err_get());
        return;
    }
    long lo, cnt;
    dist_share(B, r, R, &lo, &cnt);
    double worst = 0;
    long worst_step = -1, nb = T / B;
    int ok = 1;
    for (long s = 0; s < STEPS && ok; s++) {
        const float *Xb = X + (size_t)(s % nb) * B * D;
        SAEArchLog a, b;
        if (sae_arch_step(&ref, Xb, B, &a) != 0) ok = 0;
        if (die >= 0 && s == 3 && r == die) _exit(3);
        if (dist_sae_step(&dp, Xb + lo * D, (int)cnt, B, &b) != 0) {
            fprintf(stderr, "gpt2sae: %s\n", err_get());
            dist_abort(1);
        }
        double rel = fabs(b.loss - a.loss) / fmax(fabs(a.loss), 1e-30);
        if (rel > worst || worst_step < 0) worst = rel, worst_step = s;
        if (fabs(b.l0 - a.l0) > 1e-9 * fmax(1, a.l0) || fabs(b.dead_frac - a.dead_frac) > 0) ok = 0;
    }
    double wmax = worst;
    dist_sum_f64(&wmax, 1);   /* a bound on every rank's worst (sum >= max) */
    if (r == 0)
        CHECK(all_ok(worst <= 1e-5 && ok) && wmax <= 1e-5 * R,
              "%s np=%d: %d steps, loss within 1e-5 relative of one process (worst %.2e at step %ld), l0 and "
              "dead fraction equal", sae_arch_name(kind), R, STEPS, worst, worst_step);
    else
        all_ok(worst <= 1e-5 && ok);
    /* weights: close to the reference, identical across ranks */
    double wd = 0, wref = 0, sum = 0;
    for (int t = 0; t < dp.n_t; t++)
        for (long e = 0; e < dp.t[t].len; e++) {
            wd = fmax(wd, fabs((double)dp.t[t].w[e] - ref.t[t].w[e]));
            wref = fmax(wref, fabs((double)ref.t[t].w[e]));
            sum += dp.t[t].w[e] * (double)(e % 7 + 1);
        }
    double sums[2] = {sum, sum * sum}, mine = sum;
    dist_sum_f64(sums, 2);
    int same = sums[0] == mine * R && fabs(sums[1] - R * mine * mine) <= 1e-12 * fabs(sums[1]);
    int dead_same = memcmp(dp.since_fired, ref.since_fired, N * sizeof(long)) == 0;
    int ok2 = all_ok(wd <= 1e-4 * wref && dead_same) && all_ok(same);
    if (r == 0)
        CHECK(ok2, "%s np=%d: final weights within 1e-4 of one process (max diff %.2e), the same on every rank, "
                   "dead counters equal", sae_arch_name(kind), R, wd);
    sae_arch_free(&ref), sae_arch_free(&dp);
}

/* latent sharding: the same top-k sets and loss as the dense topk forward */
static void shard_tests(const float *X, long T) {
    const int r = dist_rank(), R = dist_size();
    SAEArchParams p = sae_arch_default_params(SAE_ARCH_TOPK, D, N);
    p.k = 4, p.k_aux = 3, p.lr = 1e-3f;
    p.dead_tokens = 48;   /* AuxK has dead latents to work on, more than k_aux: a real merge */
    SAEArch full;
    if (sae_arch_init(&full, &p, X, 64) != 0) {
        CHECK(0, "shard: init: %s", err_get());
        return;
    }
    SAEArchLog lg;
    for (int s = 0; s < 20; s++) sae_arch_step(&full, X + (size_t)(s % (T / B)) * B * D, B, &lg);  /* past init */
    DistShard sh;
    if (dist_shard_init(&sh, &full, r, R) != 0) {
        CHECK(0, "shard: %s", err_get());
        sae_arch_free(&full);
        return;
    }
    int sets_ok = 1, vals_ok = 1, loss_ok = 1;
    double worst = 0;
    int idx[B * 4], ref[4];
    float val[B * 4], Xh[B * D];
    for (long t0 = 0; t0 + B <= T; t0 += B) {
        const float *Xb = X + (size_t)t0 * D;
        double nmse;
        if (dist_shard_forward(&sh, Xb, B, idx, val, Xh, &nmse) != 0) {
            fprintf(stderr, "gpt2sae: %s\n", err_get());
            dist_abort(1);
        }
        if (sae_arch_loss_grad(&full, Xb, B, &lg) != 0) sets_ok = 0;
        for (int b = 0; b < B; b++) {
            const float *z = full.ws_z + (size_t)b * N;
            sae_topk_row(z, N, 4, NULL, ref);
            for (int e = 0; e < 4; e++) {
                if (idx[b * 4 + e] != ref[e]) sets_ok = 0;
                float f = z[ref[e]] > 0 ? z[ref[e]] : 0;
                if (fabsf(val[b * 4 + e] - f) > 1e-5f * fmaxf(1, fabsf(f))) vals_ok = 0;
            }
        }
        double rel = fabs(nmse - lg.recon) / fmax(lg.recon, 1e-30);
        worst = fmax(worst, rel);
        if (!(rel <= 1e-5)) loss_ok = 0;
    }
    int ok = all_ok(sets_ok) , okv = all_ok(vals_ok), okl = all_ok(loss_ok);
    if (r == 0) {
        CHECK(ok, "shard np=%d: every token's global top-k (merged from %d local top-4s) = the dense top-k, in "
                  "order", R, R);
        CHECK(okv, "shard np=%d: the kept values equal the dense ones", R);
        CHECK(okl, "shard np=%d: the loss (nmse) of every batch within 1e-5 relative (worst %.2e)", R, worst);
    }
    dist_shard_free(&sh);
    /* training: 60 more steps sharded against the dense step (AuxK on), clipping on */
    full.p.grad_clip = 0.05f;
    if (dist_shard_init(&sh, &full, r, R) != 0) {
        CHECK(0, "shard: %s", err_get());
        sae_arch_free(&full);
        return;
    }
    double wl = 0, wa = 0;
    long wstep = -1;
    int l0_ok = 1, aux_steps = 0;
    for (int s = 20; s < 80; s++) {
        const float *Xb = X + (size_t)(s % (T / B)) * B * D;
        SAEArchLog a, b;
        sae_arch_step(&full, Xb, B, &a);
        if (dist_shard_step(&sh, Xb, B, &b) != 0) {
            fprintf(stderr, "gpt2sae: %s\n", err_get());
            dist_abort(1);
        }
        double rel = fabs(b.loss - a.loss) / fmax(a.loss, 1e-30);
        if (rel > wl || wstep < 0) wl = rel, wstep = s;
        aux_steps += a.aux > 0 && a.dead_frac * N > p.k_aux;
        wa = fmax(wa, fabs(b.aux - a.aux) / fmax(a.aux, 1e-30));
        if (b.l0 != a.l0 || fabs(b.grad_norm - a.grad_norm) > 1e-5 * a.grad_norm || b.dead_frac != a.dead_frac)
            l0_ok = 0;
    }
    double wd = 0, wref = 0;
    const long off[4] = {(long)sh.lo * D, sh.lo, sh.lo * (long)D, 0};
    const char *names[4] = {"W_enc", "b_enc", "W_dec", "b_dec"};
    for (int t = 0; t < 4; t++) {
        SAEArchTensor *x = sae_arch_tensor(&sh.m, names[t]), *y = sae_arch_tensor(&full, names[t]);
        for (long e = 0; e < x->len; e++) {
            wd = fmax(wd, fabs((double)x->w[e] - y->w[off[t] + e]));
            wref = fmax(wref, fabs((double)y->w[off[t] + e]));
        }
    }
    int okt = all_ok(wl <= 1e-5 && l0_ok), okw = all_ok(wd <= 1e-4 * wref), oka = all_ok(wa <= 1e-5);
    if (r == 0) {
        CHECK(okt, "shard np=%d: 60 training steps, loss within 1e-5 relative of the dense step (worst %.2e at "
                   "step %ld); l0, gradient norm and dead fraction equal", R, wl, wstep);
        CHECK(oka && aux_steps >= 10, "shard np=%d: AuxK over the ranks' dead latents (more dead than k_aux on "
              "%d of 60 steps, at least 10 wanted) within 1e-5 relative of the dense step's (worst %.2e)", R, aux_steps, wa);
        CHECK(okw, "shard np=%d: every rank's rows within 1e-4 of the dense model's (rank 0: max diff %.2e)", R, wd);
    }
    dist_shard_free(&sh);
    sae_arch_free(&full);
}

#endif

int main(int argc, char **argv) {
#if !GS_MPI
    (void)argc, (void)argv;
    SKIP("distributed training: this build has no MPI (install openmpi-bin libopenmpi-dev; make says \"MPI: yes\")");
    return test_finish();
#else
    if (dist_init(&argc, &argv) != 0) {
        CHECK(0, "dist_init: %s", err_get());
        return test_finish();
    }
    int die = argc > 2 && strcmp(argv[1], "--die") == 0 ? atoi(argv[2]) : -1;
    const long T = (long)B * 8;
    float *X = data(T, 11);
    if (dist_rank() == 0) printf("  ranks: %d\n", dist_size());
    dp_case(SAE_ARCH_TOPK, X, T, die);
    if (die < 0) {
        dp_case(SAE_ARCH_RELU, X, T, -1);
        dp_case(SAE_ARCH_JUMPRELU, X, T, -1);
        dp_case(SAE_ARCH_GATED, X, T, -1);
        shard_tests(X, T);
    }
    free(X);
    int rc = dist_rank() == 0 ? test_finish() : (test_failed != 0);
    dist_finalize();
    return rc;
#endif
}
