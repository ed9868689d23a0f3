/*
 * cli/train_dist.c - data-parallel ./run train over MPI (dist/dp.h):
 *
 *   mpirun -np 4 ./run train --acts X.npy -o out/sae --arch topk --batch 4096 --steps 1000
 *   ./run train --ranks 4 --acts X.npy ...     (the same: runs that mpirun line)
 *
 * Every rank maps X (T, d); step s takes the global batch of tokens
 * [(s mod T/B) B, +B) and each rank trains on its share of it (dist_share),
 * so the run equals one process's with the same --batch. Rank 0 prints the
 * progress and writes DIR/losses.csv (every step) and the SAELens checkpoint
 * (DIR/cfg.json, DIR/sae_weights.safetensors) at the end. A failed
 * collective (a rank died) ends every rank with the error (dist_abort).
 * --device cuda: each rank trains its share on GPU rank mod the GPU count
 * (cuda_arch_*), the gradients summed through host memory (dist/dp.h).
 */
#include "cli/train_dist.h"
#include "cli/cli.h"
#include "cli/pipeline.h"
#include "core/util.h"
#include "cuda/cuda.h"
#include "dist/dist.h"
#include "dist/dp.h"
#include "dist/shard.h"
#include "dist/state.h"
#include "sae/arch.h"
#include "sae/arch_io.h"
#include "weights/npy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STATE_FILE "train_state.bin"

static void usage(FILE *f) {
    fprintf(f,
            "usage: ./run train --ranks N --acts X.npy -o DIR [options]\n"
            "       mpirun -np N ./run train --acts X.npy -o DIR [options]\n"
            "\n"
            "Data-parallel training of an SAE architecture over N processes (MPI): each\n"
            "global batch is split across the ranks, their gradients summed, and every rank\n"
            "takes the same Adam step. Rank 0 writes DIR/losses.csv and the SAELens\n"
            "checkpoint (DIR/cfg.json, DIR/sae_weights.safetensors).\n"
            "\n"
            "  --ranks N               run N processes (mpirun --oversubscribe -np N)\n"
            "  --acts X.npy            activations (T, d) float32 (required)\n"
            "  -o, --out DIR           output folder (required)\n"
            "  --arch NAME             topk, jumprelu, relu or gated (default topk; batchtopk needs one process)\n"
            "  --latents N             latents (default 4d)\n"
            "  --k K                   topk: latents kept per token (default 32 or n/2)\n"
            "  --batch B               global tokens per step, at most T and at least N (default 256,\n"
            "                          or T when smaller, with a note)\n"
            "  --steps S               steps (default 1000)\n"
            "  --lr LR                 Adam step size (default: the architecture's)\n"
            "  --seed S                initial weights (default 0)\n"
            "  --save-every N          also write the checkpoint every N steps (default 0: at the end)\n"
            "  --resume                continue from DIR's checkpoint (train_state.bin: the whole model,\n"
            "                          Adam's moments, dead counters) and losses.csv, with any number of\n"
            "                          ranks; equal to a run that did not stop (dist/README.md)\n"
            "  --k-aux K               topk: AuxK's dead latents per token (default d/2; 0: off)\n"
            "  --dead-tokens N         a latent not fired for N tokens is dead (default 10M)\n"
            "  --shard-latents         split the latents across the ranks instead of the batch (topk\n"
            "                          without Multi-TopK; every rank sees the whole batch; dist/README.md)\n"
            "  --device D              cpu, cuda or auto (default cpu): where each rank trains; cuda: GPU\n"
            "                          rank mod the GPU count, for topk, jumprelu (and batchtopk on one\n"
            "                          rank), data parallel only; auto: cuda when that holds on every rank\n"
            "  --quiet                 no progress lines\n");
}

int train_dist_wanted(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) break;
        if (strcmp(argv[i], "--ranks") == 0 || strncmp(argv[i], "--ranks=", 8) == 0) return 1;
    }
    return dist_launched() || getenv("GPT2SAE_DIST_CHILD") != NULL;
}

/* --ranks N: mpirun -np N <this binary> train <the other arguments> */
static int run_mpirun(int argc, char **argv, long ranks) {
    if (!dist_built())
        return cli_error(1, "train: --ranks needs a build with MPI (install openmpi-bin libopenmpi-dev and rebuild; "
                            "make says \"MPI: yes\")");
    char exe[4096];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len <= 0) return cli_error(1, "train --ranks: cannot find this program's path (/proc/self/exe)");
    exe[len] = 0;
    char np[32];
    snprintf(np, sizeof np, "%ld", ranks);
    char **av = xcalloc((size_t)argc + 8, sizeof(char *));
    int n = 0;
    av[n++] = "mpirun", av[n++] = "--oversubscribe";
    if (geteuid() == 0) av[n++] = "--allow-run-as-root";
    av[n++] = "-np", av[n++] = np, av[n++] = exe, av[n++] = "train";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--ranks") == 0) { i++; continue; }
        if (strncmp(argv[i], "--ranks=", 8) == 0) continue;
        av[n++] = argv[i];
    }
    av[n] = NULL;
    fflush(NULL);
    setenv("GPT2SAE_DIST_CHILD", "1", 1);   /* the ranks train (also with --ranks 1); mpirun passes it on */
    execvp("mpirun", av);
    return cli_error(1, "train --ranks: cannot run mpirun (is openmpi-bin installed?)");
}

/* --resume: every rank reads DIR/train_state.bin (the whole model with its
 * Adam moments and dead counters: rank-count independent, dist/state.h), so
 * the run goes on as if it had not stopped; rank 0 cuts losses.csv back to
 * the state's step (a run that died after its last checkpoint logged more). */
static int resume_from(SAEArch *m, const char *dir, const char *lpath, int rank) {
    char *sp = path_join(dir, STATE_FILE);
    int rc = dist_state_load(m, sp);
    free(sp);
    if (rc != 0) return err_prefix("--resume %s", dir), -1;
    if (rank != 0) return 0;
    char *buf = NULL;
    size_t len = 0;
    if (file_read_max(lpath, &buf, &len, (size_t)1 << 40) != 0) return err_prefix("--resume"), -1;
    long rows = -1;   /* lines after the header */
    size_t keep = 0;
    for (size_t e = 0; e < len && rows < m->step; e++)
        if (buf[e] == '\n') rows++, keep = e + 1;
    rc = rows < m->step ? err_set("--resume: %s has %ld steps, the checkpoint is at step %ld; the log is not this "
                                  "run's", lpath, rows < 0 ? 0 : rows, m->step)
                        : file_write_atomic(lpath, buf, keep);
    free(buf);
    return rc;
}

/* The checkpoint: rank 0 writes DIR/train_state.bin, then the SAELens files
 * (a sharded run first gathers the rows on every rank; a GPU rank 0 first
 * downloads them). */
static int checkpoint(SAEArch *m, DistShard *sh, DistDevice *dv, const char *out, const SAEArchMeta *meta, FILE *lf) {
    if (sh->n && dist_shard_collect(sh, m) != 0) return -1;
    if (dist_rank() != 0) return 0;
    if (dist_device_download(dv) != 0) return -1;   /* a GPU rank: the weights into m */
    char *sp = path_join(out, STATE_FILE);
    int rc = fflush(lf) != 0 ? err_set("%s/losses.csv: write failed", out) : dist_state_save(m, sp);
    free(sp);
    return rc == 0 ? sae_arch_save_saelens(m, out, meta, NULL) : -1;
}

/* An error every rank meets alike (a bad file or option): rank 0 says it,
 * every rank ends with status code, without MPI_Abort's page of text. */
static int fail_all(int code) {
    if (dist_rank() == 0) cli_fail();
    dist_finalize();
    return code;
}

/* The global batch: --batch as given (0: not given), which must fit the T
 * tokens and, split across R ranks, give each rank one; without --batch,
 * 256 or all T tokens when fewer (a note says so when say). */
static int pick_batch(const char *acts, long given, long T, int R, int shard, int say, long *batch) {
    const long lo = shard ? 1 : R;
    if (given == 0) {
        *batch = T < 256 ? T : 256;
        if (*batch < 256 && say)
            fprintf(stderr, "train: note: %s has %ld tokens; the batch is all of them (--batch %ld, not 256)\n",
                    acts, T, *batch);
    } else
        *batch = given;
    if (*batch > T)
        return err_set("--batch %ld: more than the %ld tokens of %s; give --batch %ld or less (or "
                       "leave it out)", *batch, T, acts, T);
    if (*batch < lo)
        return err_set("--batch %ld: fewer tokens than the %d ranks; give --batch %ld or more, or fewer ranks",
                       *batch, R, lo);
    return 0;
}

/* --device: may these ranks train on GPUs? cuda needs an architecture that
 * cuda/cuda_arch.cu has and data parallelism (errors every rank meets alike,
 * said by rank 0, status 2); then a GPU on every rank: one all-reduce counts
 * the ranks without one, so that every rank ends alike (status 1) when one
 * lacks it. auto: cuda where all that holds, else cpu. Before mpirun
 * (launch) only this process's GPU is looked at. Returns 0 with *on_gpu set,
 * or the exit status after the error was said. */
static int pick_device(CLIDevice dev, SAEArchKind kind, int shard, int launch, int *on_gpu) {
    const int cuda = dev == CLI_DEVICE_CUDA, gpu_arch = train_arch_has_gpu(kind);
    *on_gpu = 0;
    if (cuda && (!gpu_arch || shard)) {
        if (shard) err_set("--device cuda: --shard-latents trains on the CPU only; use --device cpu");
        else err_set("--device cuda: --arch %s trains on the CPU only (topk, jumprelu and batchtopk have a GPU "
                     "step); use --device cpu", sae_arch_name(kind));
        return launch ? cli_fail(), 2 : fail_all(2);
    }
    if (!cuda && (dev != CLI_DEVICE_AUTO || !gpu_arch || shard)) return 0;
    const int have = cuda_available();
    long none = !have;
    if (!launch && dist_sum_long(&none, 1) != 0) {
        cli_fail();
        dist_abort(1);
    }
    if (none && cuda) {
        char why[256] = "";
        if (!have && cuda_describe(why, sizeof why) != 0 && !why[0]) snprintf(why, sizeof why, "%s", err_get());
        if (launch) return cli_error(1, "--device cuda: no usable GPU (%s); use --device cpu", why);
        if (dist_rank() == 0)
            cli_error(1, "--device cuda: %ld of %d ranks have no usable GPU%s%s%s; use --device cpu", none,
                      dist_size(), why[0] ? " (rank 0: " : "", why, why[0] ? ")" : "");
        dist_finalize();
        return 1;
    }
    *on_gpu = none == 0;
    return 0;
}

int cmd_train_dist(int argc, char **argv) {
    const char *acts = NULL, *out = NULL, *arch = "topk";
    CLIDevice dev = CLI_DEVICE_CPU;
    long ranks = 0, latents = 0, k = 0, k_aux = -1, dead_tokens = 0, batch = 0, steps = 1000, seed = 0, save_every = 0;
    double lr = 0;
    int quiet = 0, resume = 0, shard = 0, on_gpu = 0, r;
    const CLIOpt opts[] = {
        {"--ranks", CLI_LONG, .dst = &ranks, .lo = 1, .hi = 4096},
        {"--acts", CLI_STR, .dst = &acts},
        {"-o", CLI_STR, .dst = &out},
        {"--out", CLI_STR, .dst = &out},
        {"--arch", CLI_STR, .dst = &arch},
        {"--latents", CLI_LONG, .dst = &latents, .lo = 2, .hi = 1L << 30},
        {"--k", CLI_LONG, .dst = &k, .lo = 1, .hi = 1L << 30},
        {"--batch", CLI_LONG, .dst = &batch, .lo = 1, .hi = 1L << 30},
        {"--steps", CLI_LONG, .dst = &steps, .lo = 1, .hi = 1L << 40},
        {"--lr", CLI_DOUBLE, .dst = &lr, .min = 0, .max = 1e3},
        {"--seed", CLI_LONG, .dst = &seed, .lo = 0, .hi = 1L << 62},
        {"--save-every", CLI_LONG, .dst = &save_every, .lo = 0, .hi = 1L << 40},
        {"--resume", CLI_SET, .dst = &resume, .value = 1},
        {"--shard-latents", CLI_SET, .dst = &shard, .value = 1},
        {"--k-aux", CLI_LONG, .dst = &k_aux, .lo = 0, .hi = 1L << 30},
        {"--dead-tokens", CLI_LONG, .dst = &dead_tokens, .lo = 1, .hi = 1L << 62},
        {"--device", CLI_DEVICE, .dst = &dev},
        {"--quiet", CLI_SET, .dst = &quiet, .value = 1},
        {0}};
    const CLISpec spec = {"train", {opts}, .usage = usage, .refuse = "train takes only options: --acts X.npy -o DIR"};
    if (cli_parse(&spec, argc, argv, &r)) return r;
    if (!acts || !out) { usage(stderr); return cli_error(2, "train: --acts X.npy and -o DIR are required"); }
    SAEArchKind kind;
    if (sae_arch_parse(arch, &kind) != 0) return cli_fail();
    const int launch = ranks > 0 && !getenv("GPT2SAE_DIST_CHILD");
    if (!launch && dist_init(&argc, &argv) != 0) return cli_fail();
    const int rank = dist_rank(), R = launch ? (int)ranks : dist_size();
    /* errors every rank meets alike (the file, --batch): said once, by rank 0,
     * and every rank ends normally; with --ranks before mpirun starts */
    Npy a;
    if (npy_map(&a, acts) != 0 || npy_check_f32_rows(&a, acts, "activations") != 0) {
        npy_free(&a);
        return fail_all(1);
    }
    long d = (long)a.shape[a.ndim - 1], T = d > 0 ? (long)(a.numel / d) : 0;
    if (pick_batch(acts, batch, T, R, shard, rank == 0 && !quiet && !launch, &batch) != 0) {
        npy_free(&a);
        return fail_all(2);
    }
    if ((r = pick_device(dev, kind, shard, launch, &on_gpu)) != 0) {
        npy_free(&a);
        return r;
    }
    if (launch) {
        npy_free(&a);
        return run_mpirun(argc, argv, ranks);
    }
    SAEArchParams p = sae_arch_default_params(kind, (int)d, latents ? (int)latents : (int)(4 * d));
    if (k) p.k = (int)k;
    if (k_aux >= 0) p.k_aux = (int)k_aux;
    if (dead_tokens) p.dead_tokens = dead_tokens;
    if (lr > 0) p.lr = (float)lr;
    p.seed = (uint64_t)seed, p.total_steps = steps;
    SAEArch m;
    long S = T < 4096 ? T : 4096;   /* b_dec's sample: the same on every rank */
    if (sae_arch_init(&m, &p, a.f32, (int)S) != 0) {
        npy_free(&a);
        cli_fail();
        dist_abort(1);
    }
    char *lpath = path_join(out, "losses.csv");
    if (resume && resume_from(&m, out, lpath, rank) != 0) {
        cli_fail();
        dist_abort(1);
    }
    if (resume && rank == 0 && !quiet)
        fprintf(stderr, "train: resuming %s at step %ld of %ld (its checkpoint), on %d ranks\n", out, m.step, steps, R);
    FILE *lf = NULL;
    if (rank == 0) {
        if (path_mkdirs(out) != 0) { cli_fail(); dist_abort(1); }
        lf = fopen(lpath, resume ? "a" : "w");
        if (!lf) { cli_error(1, "%s: cannot write", lpath); dist_abort(1); }
        if (!resume) fprintf(lf, "step,loss,recon,sparsity,aux,l0,fvu,dead_frac\n");
    }
    SAEArchMeta meta = {.model_name = "gpt2", .hook_name = "blocks.6.mlp.hook_pre", .context_size = 0,
                        .dataset_path = acts};
    long lo, cnt, nb = T / batch;
    dist_share(batch, rank, R, &lo, &cnt);
    DistShard sh = {0};
    DistDevice dv;
    if (dist_device_init(&dv, &m, on_gpu, (int)cnt) != 0) {
        cli_fail();
        dist_abort(1);
    }
    if (shard) {
        lo = 0, cnt = batch;   /* every rank: the whole batch, its own latents */
        if (dist_shard_init(&sh, &m, rank, R) != 0) {
            cli_fail();
            dist_abort(1);
        }
    }
    /* the fault drill of tests/test_dist.sh: GPT2SAE_DIST_DIE=R:S ends rank R abruptly at step S */
    int die_rank = -1;
    long die_step = -1;
    if (getenv("GPT2SAE_DIST_DIE")) sscanf(getenv("GPT2SAE_DIST_DIE"), "%d:%ld", &die_rank, &die_step);
    double t0 = time_now();
    for (long s = m.step; s < steps; s++) {
        if (rank == die_rank && s + 1 == die_step) _exit(3);
        const float *Xb = a.f32 + ((size_t)(s % nb) * batch + lo) * d;
        SAEArchLog log;
        if ((shard ? dist_shard_step(&sh, Xb, (int)batch, &log) : dist_step(&dv, Xb, (int)cnt, batch, &log)) != 0) {
            cli_fail();
            dist_abort(1);
        }
        if (lf) fprintf(lf, "%ld,%.9g,%.9g,%.9g,%.9g,%.6g,%.9g,%.6g\n", s + 1, log.loss, log.recon, log.sparsity,
                        log.aux, log.l0, log.fvu, log.dead_frac);
        if (rank == 0 && !quiet && (s + 1 == steps || (s + 1) % 100 == 0))
            fprintf(stderr, "train: %d ranks, step %ld/%ld loss %.6g l0 %.2f fvu %.4f dead %.3f (%.2f s)\n", R, s + 1,
                    steps, log.loss, log.l0, log.fvu, log.dead_frac, time_now() - t0);
        if (save_every > 0 && (s + 1) % save_every == 0 && s + 1 < steps && checkpoint(&m, &sh, &dv, out, &meta, lf) != 0) {
            cli_fail();
            dist_abort(1);
        }
    }
    int rc = checkpoint(&m, &sh, &dv, out, &meta, lf) != 0 ? cli_fail() : 0;
    dist_shard_free(&sh);
    dist_device_free(&dv);
    if (rank == 0) {
        if (fclose(lf) != 0 && rc == 0) rc = cli_error(1, "%s: write failed", lpath);
        if (rc == 0 && !quiet)
            fprintf(stderr, "train: wrote %s (%d ranks on the %s, %ld steps)\n", out, R, on_gpu ? "GPU" : "CPU", steps);
    }
    free(lpath);
    sae_arch_free(&m);
    npy_free(&a);
    dist_finalize();
    return rc;
}
