/*
 * tests/test_cuda_dist.c - data-parallel GPU ranks (dist/dp.h with a GPU
 * device: cuda_arch_loss_grad on each rank's share, the gradients and the
 * fired flags summed through host memory, cuda_arch_apply on every rank).
 * Run alone it is rank 0 of 1; tests/test_dist.sh runs the emulated twin
 * (tests/test_cuda_dist_emu, every kernel on the CPU) under
 * `mpirun --oversubscribe -np 2`. Every rank also trains the CPU reference
 * (sae_arch_step on the whole global batch) and compares, at d = 64,
 * n = 256, k = 8, B = 64 (topk with AuxK on dead latents, and jumprelu):
 *   - each of 20 steps' loss within 1e-5 relative of the CPU's, l0 equal;
 *   - the final weights within 1e-4 of the CPU's (of the tensor's largest),
 *     the same bits on every rank (checksums all-reduced), and the dead
 *     counters equal to the CPU's on every rank;
 *   - one rank: the step equals cuda_arch_step on the whole batch bit for
 *     bit (the round trip through host memory changes nothing).
 * `--fail R`: rank R's step fails at step 3 (a share larger than its GPU
 * buffers: an error, not a crash) and it ends the job (dist_abort), while
 * the others wait in the all-reduce; `--die R`: rank R exits abruptly at
 * step 3. tests/test_dist.sh checks that both jobs end with an error, soon.
 * On a device the tolerances allow its FMA contraction and summation order
 * (the same ones tests/test_cuda_arch.c allows for one GPU against the CPU).
 */
#include "core/util.h"
#include "cuda/cuda.h"
#include "dist/dist.h"
#include "dist/dp.h"
#include "sae/arch.h"
#include "tests/test.h"
#include "tests/test_cuda.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/mpi_san.h"

#define D 64
#define N 256
#define K 8
#define B 64
#define STEPS 20
#define NB 4 /* batches in X */

/* X (NB B, D): each token a sum of 3 of 32 random directions with positive
 * weights, a shared offset and noise (activation-like). */
static float *make_X(void) { return rand_acts((long)NB * B, D, 32, 3); }

static int all_ok(int ok) { /* every rank's verdict */
    unsigned char bad = !ok;
    if (dist_max_u8(&bad, 1) != 0) return 0;
    return !bad;
}

static void die_with(const char *what) {
    fprintf(stderr, "gpt2sae: %s: %s\n", what, err_get());
    fflush(NULL);
    dist_abort(1);
}

static void dp_case(SAEArchKind kind, const float *X, int fail, int die) {
    const int r = dist_rank(), R = dist_size();
    SAEArchParams p = sae_arch_default_params(kind, D, N);
    p.lr = 1e-3f, p.warmup_steps = 4, p.total_steps = STEPS;
    if (kind == SAE_ARCH_TOPK) p.k = K, p.k_aux = 16, p.dead_tokens = 256; /* AuxK on after 4 steps */
    SAEArch ref, m, one;
    const int with_one = R == 1; /* the single-GPU step, for the bit-for-bit check */
    if (sae_arch_init(&ref, &p, X, 128) || sae_arch_init(&m, &p, X, 128) ||
        (with_one && sae_arch_init(&one, &p, X, 128))) {
        CHECK(0, "%s: init: %s", sae_arch_name(kind), err_get());
        return;
    }
    long lo, cnt;
    dist_share(B, r, R, &lo, &cnt);
    DistDevice dv;
    if (dist_device_init(&dv, &m, 1, (int)cnt) != 0) die_with("dist_device_init");
    CUDAArch *a1 = NULL;
    float *d_X = NULL;
    if (with_one && (cuda_arch_init(&a1, &one, B) || cuda_malloc((void **)&d_X, (size_t)B * D * 4)))
        die_with("the single-GPU reference");
    double worst = 0;
    long worst_step = -1, aux_steps = 0;
    int l0_ok = 1, same_one = 1;
    for (long s = 0; s < STEPS; s++) {
        const float *Xb = X + (size_t)(s % NB) * B * D;
        SAEArchLog c, g, o;
        if (sae_arch_step(&ref, Xb, B, &c) != 0) die_with("the CPU reference");
        if (s == 3 && r == die) _exit(3);
        /* --fail: a share larger than the GPU's buffers, an error inside dist_step */
        const int share = s == 3 && r == fail ? (int)cnt + 1 : (int)cnt;
        if (dist_step(&dv, Xb + lo * D, share, B, &g) != 0) die_with("dist_step");
        if (with_one) {
            if (cuda_upload(d_X, Xb, (size_t)B * D * 4) || cuda_arch_step(a1, d_X, B, &o)) die_with("cuda_arch_step");
            same_one &= o.loss == g.loss && o.l0 == g.l0;
        }
        const double rel = fabs(g.loss - c.loss) / fmax(fabs(c.loss), 1e-30);
        if (rel > worst || worst_step < 0) worst = rel, worst_step = s + 1;
        l0_ok &= fabs(g.l0 - c.l0) <= 1e-9 * fmax(1, c.l0);
        aux_steps += c.aux > 0;
    }
    if (dist_device_download(&dv) != 0) die_with("dist_device_download");
    const char *name = sae_arch_name(kind);
    int ok = all_ok(worst <= 1e-5 && l0_ok);
    if (r == 0)
        CHECK(ok, "%s np=%d on the GPU: %d steps, loss within 1e-5 relative of the CPU's one process (worst %.2e at "
                  "step %ld), l0 equal",
              name, R, STEPS, worst, worst_step);
    if (kind == SAE_ARCH_TOPK && r == 0)
        CHECK(aux_steps >= 10, "topk: AuxK active (dead latents) on %ld of %d steps (>= 10 wanted)", aux_steps, STEPS);
    /* weights: close to the CPU's, the same bits on every rank */
    double wd = 0, sum = 0;
    for (int t = 0; t < m.n_t; t++) {
        double big = 0, dt = 0;
        for (long e = 0; e < m.t[t].len; e++) {
            big = fmax(big, fabs((double)ref.t[t].w[e]));
            dt = fmax(dt, fabs((double)m.t[t].w[e] - ref.t[t].w[e]));
            sum += m.t[t].w[e] * (double)(e % 7 + 1);
        }
        wd = fmax(wd, dt / fmax(big, 1e-30));
    }
    double sums[2] = {sum, sum * sum}, mine = sum;
    if (dist_sum_f64(sums, 2) != 0) die_with("checksum");
    const int same = sums[0] == mine * R && fabs(sums[1] - R * mine * mine) <= 1e-12 * fabs(sums[1]);
    const int dead_same = memcmp(m.since_fired, ref.since_fired, N * sizeof(long)) == 0;
    ok = all_ok(wd <= 1e-4 && dead_same) && all_ok(same);
    if (r == 0)
        CHECK(ok, "%s np=%d on the GPU: final weights within 1e-4 of the CPU's (worst %.2e of a tensor's largest), "
                  "the same on every rank, dead counters equal to the CPU's",
              name, R, wd);
    if (with_one) {
        int wsame = cuda_arch_download(a1) == 0;
        for (int t = 0; t < m.n_t && wsame; t++)
            wsame = memcmp(m.t[t].w, one.t[t].w, (size_t)m.t[t].len * sizeof(float)) == 0 &&
                    memcmp(m.t[t].m, one.t[t].m, (size_t)m.t[t].len * sizeof(float)) == 0;
        CHECK(same_one && wsame, "%s np=1: dist_step on the GPU equals cuda_arch_step bit for bit (every loss and l0, "
                                 "the final weights and Adam moments)", name);
        cuda_arch_free(a1);
        cuda_free(d_X);
        sae_arch_free(&one);
    }
    dist_device_free(&dv);
    sae_arch_free(&ref), sae_arch_free(&m);
}

int main(int argc, char **argv) {
    if (dist_init(&argc, &argv) != 0) {
        fprintf(stderr, "gpt2sae: %s\n", err_get());
        return 1;
    }
    int fail = -1, die = -1;
    for (int i = 1; i + 1 < argc; i++) {
        if (!strcmp(argv[i], "--fail")) fail = atoi(argv[i + 1]);
        if (!strcmp(argv[i], "--die")) die = atoi(argv[i + 1]);
    }
    rng_seed(&rng, 4242);
    gpu = cuda_available();
    const int r = dist_rank();
    char desc[256];
    if (r == 0) {
        if (gpu && cuda_describe(desc, sizeof desc) == 0) printf("%s: %s\n", EMULATED ? "emulated" : "device", desc);
        printf("ranks: %d%s\n", dist_size(), dist_built() ? "" : " (this build has no MPI)");
    }
    if (!gpu) {
        if (r == 0) SKIP("no CUDA device (or a build without CUDA): GPU data parallelism is not checked");
        dist_finalize();
        return test_finish();
    }
    float *X = make_X();
    dp_case(SAE_ARCH_TOPK, X, fail, die);
    dp_case(SAE_ARCH_JUMPRELU, X, -1, -1);
    free(X);
    dist_finalize();
    if (r != 0) return test_failed ? 1 : 0; /* rank 0 prints the checks and the closing line */
    return test_finish();
}
