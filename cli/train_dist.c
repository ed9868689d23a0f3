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
 */
#include "cli/train_dist.h"
#include "cli/cli.h"
#include "core/util.h"
#include "dist/dist.h"
#include "dist/dp.h"
#include "dist/shard.h"
#include "sae/arch.h"
#include "sae/arch_io.h"
#include "weights/npy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
            "  --batch B               global tokens per step (default 256, at most T)\n"
            "  --steps S               steps (default 1000)\n"
            "  --lr LR                 Adam step size (default: the architecture's)\n"
            "  --seed S                initial weights (default 0)\n"
            "  --save-every N          also write the checkpoint every N steps (default 0: at the end)\n"
            "  --resume                continue from DIR's checkpoint and losses.csv (any number of\n"
            "                          ranks: the checkpoint is the whole model; Adam's moments restart)\n"
            "  --shard-latents         split the latents across the ranks instead of the batch (topk,\n"
            "                          without AuxK: every rank sees the whole batch; dist/README.md)\n"
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

/* --resume: the weights of DIR's checkpoint (every rank reads it) and the
 * step count from the rows of its losses.csv, so that the batches and the
 * LR schedule continue where they stopped. Adam's moments start again at 0
 * (the checkpoint is SAELens', which has none). */
static int resume_from(SAEArch *m, const char *dir, const char *lpath) {
    SAEArchRequest want = {.arch = m->p.arch, .d = m->p.d, .n = m->p.n};
    SAEArch L;
    if (sae_arch_load(&L, dir, &want) != 0) return err_prefix("--resume %s", dir), -1;
    if (m->input_scale != 1.0f || L.input_scale != 1.0f) {
        sae_arch_free(&L);
        return err_set("--resume %s: models with an input scale are not resumed", dir);
    }
    for (int t = 0; t < m->n_t; t++) {
        SAEArchTensor *src = sae_arch_tensor(&L, m->t[t].name);
        if (src && src->len == m->t[t].len) memcpy(m->t[t].w, src->w, (size_t)src->len * sizeof(float));
    }
    m->threshold = L.threshold;
    sae_arch_free(&L);
    FILE *f = fopen(lpath, "r");
    if (!f) return err_set("--resume: %s: cannot read (the run's losses)", lpath);
    long rows = -1;   /* minus the header */
    for (int c; (c = fgetc(f)) != EOF;) rows += c == '\n';
    fclose(f);
    m->step = rows > 0 ? rows : 0;
    return 0;
}

int cmd_train_dist(int argc, char **argv) {
    static const char *const opts[] = {"--ranks", "--acts", "-o", "--out", "--arch", "--latents", "--k", "--batch",
                                       "--steps", "--lr", "--seed", "--save-every", "--resume", "--shard-latents", "--quiet",
                                       "--help", NULL};
    cli_command("train", opts, NULL);
    const char *acts = NULL, *out = NULL, *arch = "topk", *v;
    long ranks = 0, latents = 0, k = 0, batch = 256, steps = 1000, seed = 0, save_every = 0;
    double lr = 0;
    int quiet = 0, resume = 0, shard = 0, ended = 0, r;
    for (int i = 1; i < argc; i++) {
        CLIArgKind kind = cli_arg_kind(argv[i], &ended);
        if (kind == CLI_END) continue;
        if (kind == CLI_OPERAND) return cli_error(2, "train: unexpected operand '%s'", argv[i]);
        if (strcmp(argv[i], "--help") == 0) { usage(stdout); return 0; }
        if (strcmp(argv[i], "--quiet") == 0) { quiet = 1; continue; }
        if (strcmp(argv[i], "--resume") == 0) { resume = 1; continue; }
        if (strcmp(argv[i], "--shard-latents") == 0) { shard = 1; continue; }
#define OPT(name) ((r = cli_opt(argc, argv, &i, name, &v)) != 0)
        if (OPT("--ranks")) { if (r < 0 || cli_int("--ranks", v, 1, 4096, &ranks)) return 2; }
        else if (OPT("--acts")) { if (r < 0) return 2; acts = v; }
        else if (OPT("-o") || OPT("--out")) { if (r < 0) return 2; out = v; }
        else if (OPT("--arch")) { if (r < 0) return 2; arch = v; }
        else if (OPT("--latents")) { if (r < 0 || cli_int("--latents", v, 2, 1L << 30, &latents)) return 2; }
        else if (OPT("--k")) { if (r < 0 || cli_int("--k", v, 1, 1L << 30, &k)) return 2; }
        else if (OPT("--batch")) { if (r < 0 || cli_int("--batch", v, 1, 1L << 30, &batch)) return 2; }
        else if (OPT("--steps")) { if (r < 0 || cli_int("--steps", v, 1, 1L << 40, &steps)) return 2; }
        else if (OPT("--lr")) { if (r < 0 || cli_float("--lr", v, 0, 1e3, &lr)) return 2; }
        else if (OPT("--save-every")) { if (r < 0 || cli_int("--save-every", v, 0, 1L << 40, &save_every)) return 2; }
        else if (OPT("--seed")) { if (r < 0 || cli_int("--seed", v, 0, 1L << 62, &seed)) return 2; }
        else return cli_unknown(argv[i]);
#undef OPT
    }
    if (ranks > 0 && !getenv("GPT2SAE_DIST_CHILD")) return run_mpirun(argc, argv, ranks);
    if (!acts || !out) { usage(stderr); return cli_error(2, "train: --acts X.npy and -o DIR are required"); }
    SAEArchKind kind;
    if (sae_arch_parse(arch, &kind) != 0) return cli_fail();
    if (dist_init(&argc, &argv) != 0) return cli_fail();
    const int rank = dist_rank(), R = dist_size();
    Npy a;
    if (npy_map(&a, acts) != 0 || npy_check_f32_rows(&a, acts, "activations") != 0) {
        npy_free(&a);
        cli_fail();
        dist_abort(1);
    }
    long d = (long)a.shape[a.ndim - 1], T = d > 0 ? (long)(a.numel / d) : 0;
    if (batch > T || batch < R) {
        npy_free(&a);
        cli_error(2, "train: --batch %ld must be between the ranks (%d) and the tokens (%ld)", batch, R, T);
        dist_abort(2);
    }
    SAEArchParams p = sae_arch_default_params(kind, (int)d, latents ? (int)latents : (int)(4 * d));
    if (k) p.k = (int)k;
    if (shard) p.k_aux = 0;   /* AuxK is not sharded */
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
    if (resume && resume_from(&m, out, lpath) != 0) {
        cli_fail();
        dist_abort(1);
    }
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
    if (shard) {
        lo = 0, cnt = batch;   /* every rank: the whole batch, its own latents */
        if (dist_shard_init(&sh, &m, rank, R) != 0) {
            cli_fail();
            dist_abort(1);
        }
    }
    double t0 = time_now();
    for (long s = m.step; s < steps; s++) {
        const float *Xb = a.f32 + ((size_t)(s % nb) * batch + lo) * d;
        SAEArchLog log;
        if ((shard ? dist_shard_step(&sh, Xb, (int)batch, &log) : dist_sae_step(&m, Xb, (int)cnt, batch, &log)) != 0) {
            cli_fail();
            dist_abort(1);
        }
        if (lf) fprintf(lf, "%ld,%.9g,%.9g,%.9g,%.9g,%.6g,%.9g,%.6g\n", s + 1, log.loss, log.recon, log.sparsity,
                        log.aux, log.l0, log.fvu, log.dead_frac);
        if (rank == 0 && !quiet && (s + 1 == steps || (s + 1) % 100 == 0))
            fprintf(stderr, "train: %d ranks, step %ld/%ld loss %.6g l0 %.2f fvu %.4f dead %.3f (%.1f s)\n", R, s + 1,
                    steps, log.loss, log.l0, log.fvu, log.dead_frac, time_now() - t0);
        if (save_every > 0 && (s + 1) % save_every == 0 && s + 1 < steps) {
            if ((shard && dist_shard_collect(&sh, &m) != 0) ||
                (rank == 0 && (fflush(lf) != 0 || sae_arch_save_saelens(&m, out, &meta, NULL) != 0))) {
                cli_fail();
                dist_abort(1);
            }
        }
    }
    if (shard && dist_shard_collect(&sh, &m) != 0) {
        cli_fail();
        dist_abort(1);
    }
    dist_shard_free(&sh);
    int rc = 0;
    if (rank == 0) {
        if (fclose(lf) != 0) rc = cli_error(1, "%s: write failed", lpath);
        if (rc == 0 && sae_arch_save_saelens(&m, out, &meta, NULL) != 0) rc = cli_fail();
        if (rc == 0 && !quiet) fprintf(stderr, "train: wrote %s (%d ranks, %ld steps)\n", out, R, steps);
    }
    free(lpath);
    sae_arch_free(&m);
    npy_free(&a);
    dist_finalize();
    return rc;
}
