/*
 * cli/cmd_train.c - ./run train: train the seed's sparse autoencoder on
 * captured activations and write the checkpoint, the losses and the latents.
 *
 *   ./run train --acts out/acts.npy -o out/sae
 *   -> out/sae/sae_weights.safetensors, cfg.json, sparsity.safetensors, losses.csv, latents.npy
 * --arch topk|batchtopk|jumprelu|relu|gated trains another architecture (cli/train_arch.c).
 */
#include "cli/cli.h"
#include "cli/train_dist.h"
#include "core/dir.h"
#include "core/util.h"
#include "cuda/cuda.h"
#include "sae/sae.h"
#include "weights/npy.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
            "usage: ./run train --acts X.npy -o DIR [options]\n"
            "\n"
            "Train the seed's tied-weight top-k sparse autoencoder on activations X (T, d)\n"
            "(float32 .npy; leading dimensions are flattened into tokens). Writes\n"
            "DIR/sae_weights.safetensors + DIR/cfg.json (SAELens 6 loads them: a \"topk\" SAE\n"
            "with W_dec = W_enc^T), DIR/sparsity.safetensors (with the latents), DIR/losses.csv\n"
            "(epoch,total,sparsity,decorrelation,mse: the pipeline's) and DIR/latents.npy\n"
            "(the final latents, (T, L) float32). DIR's files are replaced as one unit\n"
            "once all are written (so are the --save-every checkpoints): a failed run\n"
            "leaves DIR as it was.\n"
            "\n"
            "  --acts X.npy            activations to train on (required)\n"
            "  --arch A                seed (default: this trainer), or topk, batchtopk, jumprelu,\n"
            "                          relu, gated (./run train --arch topk --help lists their options)\n"
            "  -o, --out DIR           output folder (required; created)\n"
            "  --init SAE              start from this checkpoint's W_dec (and its k): a folder\n"
            "                          (sae_weights.safetensors, or an older sae.safetensors)\n"
            "                          or the .safetensors file\n"
            "  --epochs N              passes over the tokens (default 100)\n"
            "  --k K                   latents kept per token (default d/3)\n"
            "  --latents L             number of latents (default 2d)\n"
            "  --lr LR                 Adam learning rate (default 1e-4)\n"
            "  --sparsity-weight W     weight of mean|z| (default 1)\n"
            "  --decor-weight W        weight of the off-diagonal covariance (default 0.0005)\n"
            "  --batch B               tokens per step, shuffled (default: all, like the seed)\n"
            "  --seed S                initial weights and shuffle (default 0, as the pipeline)\n"
            "  --save-every N          also write the checkpoint every N epochs (default 0: at the end)\n"
            "  --model NAME            model name for cfg.json (default gpt2)\n"
            "  --hook NAME             hook name for cfg.json (default blocks.6.mlp.hook_pre)\n"
            "  --no-latents            do not write latents.npy (it is T x L floats)\n"
            "  --device D              cpu, cuda or auto (default auto: the GPU when this build has\n"
            "                          CUDA and one is present, else the CPU)\n"
            "  --reference             use the plain reference implementation (slow; CPU)\n"
            "  --profile               print where the CPU trainer's time went (also: GPT2SAE_PROF=1)\n"
            "  --quiet                 no progress lines\n"
            "\n"
            "Streaming (a corpus larger than memory, a token budget, checkpoints, --resume):\n"
            "./run train --cache DIR | --dataset X.bin --hook NAME (./run train --cache x --help).\n"
            "\n"
            "Memory: X is mapped from the .npy file, not copied, and latents.npy is encoded\n"
            "and written a chunk of tokens at a time; with --batch, a corpus larger than\n"
            "memory trains in memory proportional to the batch and the SAE's weights.\n");
}

typedef struct {
    const char *dir;
    int save_every, quiet;
    const SAEParams *p;
    const char *model, *hook;
    SAELosses *hist;    /* (epochs) the losses so far, for a checkpoint's losses.csv */
    double t0;
} TrainCtx;

/* DIR's files, as one unit: sae_weights.safetensors + cfg.json (+
 * sparsity.safetensors with the latents), losses.csv of the
 * epochs in r, and (when X is not NULL) latents.npy with its statistics in
 * *st. Staged beside DIR and swapped in whole (core/dir.h), so DIR never
 * holds weights from one run beside losses or latents from another. */
static int write_unit(const TrainCtx *c, const SAE *sae, const SAEResult *r, const float *X, long T,
                      SAEStats *st) {
    DirTxn t;
    if (dir_begin(&t, c->dir) != 0) return -1;
    char *losses = path_join(t.tmp, "losses.csv"), *lat = path_join(t.tmp, "latents.npy");
    int rc = sae_save(sae, t.tmp, c->p, c->model, c->hook);
    if (rc == 0) rc = sae_save_losses(r, losses);
    if (rc == 0 && X) rc = sae_score(st, sae, X, T, NULL, lat);   /* one pass: latents, L0, dead, FVE */
    if (rc == 0 && X) rc = sae_save_sparsity(t.tmp, st->density, sae->L);
    if (rc == 0) rc = dir_commit(&t);
    if (rc != 0 && X && st->density) sae_stats_free(st);
    dir_abort(&t);
    free(losses);
    free(lat);
    return rc;
}

static int on_epoch(void *vctx, int epoch, int epochs, const SAELosses *l, const SAE *sae) {
    TrainCtx *c = vctx;
    c->hist[epoch - 1] = *l;
    /* the seed prints at epochs 1, 12, 23, ... */
    if (!c->quiet && ((epoch - 1) % 11 == 0 || epoch == epochs)) {
        printf("Epoch %3d, loss = %.4f  (sparsity %.4f, decor %.4f, %.1fs)\n", epoch, l->total, l->sparsity,
               l->decor, time_now() - c->t0);
        fflush(stdout);
    }
    if (c->save_every > 0 && epoch % c->save_every == 0 && epoch != epochs) {   /* a checkpoint: one unit */
        SAEResult sofar = {c->hist, epochs, epoch, NULL, 0, {0}};
        if (write_unit(c, sae, &sofar, NULL, 0, NULL) != 0) return err_prefix("checkpoint at epoch %d", epoch);
    }
    return 0;
}

int cmd_train(int argc, char **argv) {
    if (train_dist_wanted(argc, argv)) return cmd_train_dist(argc, argv);   /* --ranks N, or under mpirun */
    const char *acts = NULL, *out = NULL, *init = NULL, *model = "gpt2", *hook = "blocks.6.mlp.hook_pre";
    CLIDevice device = CLI_DEVICE_AUTO;
    SAEParams p = sae_default_params();
    long save_every = 0;
    int quiet = 0, k_given = 0, latents_given = 0, profile = getenv("GPT2SAE_PROF") != NULL;
    for (int i = 1; i < argc && strcmp(argv[i], "--"); i++)   /* streaming: cli/cmd_train_stream.c */
        if (!strncmp(argv[i], "--cache", 7) || !strncmp(argv[i], "--dataset", 9) || !strncmp(argv[i], "--resume", 8))
            return cmd_train_stream(argc, argv);
    const char *arch;
    if (train_arch_requested(argc, argv, &arch)) return cmd_train_arch(argc, argv);   /* cli/train_arch.c */
    const char *arch_seed;   /* --arch seed: this file; the others: cli/train_arch.c */
    int reference = 0, no_latents = 0, parsed;
    const CLIOpt opts[] = {
        {"--acts", CLI_STR, .dst = &acts},
        {"-o", CLI_STR, .dst = &out},
        {"--out", CLI_STR, .dst = &out},
        {"--init", CLI_STR, .dst = &init},
        {"--epochs", CLI_INT, .dst = &p.epochs, .lo = 1, .hi = 100000000},
        {"--k", CLI_INT, .dst = &p.k, .lo = 1, .hi = 1 << 30, .given = &k_given},
        {"--latents", CLI_INT, .dst = &p.latents, .lo = 1, .hi = 1 << 30, .given = &latents_given},
        {"--lr", CLI_DOUBLE, .dst = &p.lr, .min = 0, .max = 1e38},
        {"--sparsity-weight", CLI_FLOAT, .dst = &p.sparsity_weight, .min = 0, .max = 1e30},
        {"--decor-weight", CLI_FLOAT, .dst = &p.decor_weight, .min = 0, .max = 1e30},
        {"--batch", CLI_INT, .dst = &p.batch, .lo = 2, .hi = SAE_MAX_BATCH},
        {"--seed", CLI_U64, .dst = &p.seed, .lo = 0, .hi = 0x7fffffffffffffffL},
        {"--save-every", CLI_LONG, .dst = &save_every, .lo = 0, .hi = 100000000},
        {"--model", CLI_STR, .dst = &model},
        {"--hook", CLI_STR, .dst = &hook},
        {"--no-latents", CLI_SET, .dst = &no_latents, .value = 1},
        {"--device", CLI_DEVICE, .dst = &device},
        {"--reference", CLI_SET, .dst = &reference, .value = 1},
        {"--profile", CLI_SET, .dst = &profile, .value = 1},
        {"--quiet", CLI_SET, .dst = &quiet, .value = 1},
        {"--arch", CLI_STR, .dst = &arch_seed},
        {0}};
    const CLISpec spec = {"train", {opts}, .usage = usage, .refuse = "train takes only options: --acts X.npy -o DIR"};
    if (cli_parse(&spec, argc, argv, &parsed)) return parsed;
    if (reference) p.impl = SAE_REF;
    if (no_latents) p.want_latents = 0;
    if (!acts) { usage(stderr); return cli_error(2, "train: --acts X.npy is required"); }
    if (!out) { usage(stderr); return cli_error(2, "train: -o DIR is required"); }

    /* the activations, as (T, d) */
    Npy a;
    if (npy_map(&a, acts) != 0) return cli_fail();   /* mapped: a big corpus is paged in, not copied */
    if (npy_check_f32_rows(&a, acts, "activations") != 0) {   /* names the real dtype and shape */
        npy_free(&a);
        return cli_fail();
    }
    long d = (long)a.shape[a.ndim - 1], T = d > 0 ? (long)(a.numel / d) : 0;
    if (T < 1 || d < 1) {
        npy_free(&a);
        return cli_error(1, "%s: the activations are empty (%ld tokens of width %ld); capture some text first", acts, T, d);
    }
    if (d > (1 << 24)) { npy_free(&a); return cli_error(1, "%s: width %ld is too large", acts, d); }
    if (sae_check_input(a.f32, T, (int)d) != 0) {   /* NaN or Inf: the input is bad, not the learning rate */
        npy_free(&a);
        err_prefix("%s", acts);
        return cli_fail();
    }

    /* the SAE: fresh, or from a checkpoint */
    SAE sae;
    if (init) {
        if (sae_load(&sae, init) != 0) { npy_free(&a); return cli_fail(); }
        int bad = 0;
        if (sae.d != d)
            bad = cli_error(1, "%s: checkpoint is for inputs of width d_in = %d, but %s has width %ld; use a checkpoint trained on the same hook",
                            init, sae.d, acts, d);
        else if (latents_given && p.latents != sae.L)
            bad = cli_error(1, "%s: checkpoint has %d latents, but --latents %d was given; drop --latents", init, sae.L, p.latents);
        else if (k_given) {
            if (p.k > sae.L) bad = cli_error(1, "--k %d is larger than the checkpoint's %d latents", p.k, sae.L);
            else sae.k = p.k;
        }
        if (bad) { sae_free(&sae); npy_free(&a); return bad; }
    } else if (sae_init(&sae, (int)d, &p) != 0) {
        npy_free(&a);
        return cli_fail();
    }
    p.latents = sae.L;
    p.k = sae.k;
    int on_gpu;
    if (cli_device(device, &on_gpu) != 0) {
        sae_free(&sae);
        npy_free(&a);
        return 1;
    }
    if (p.impl != SAE_REF && on_gpu) p.device = SAE_CUDA, p.backend = cuda_sae_backend();
    if (!quiet)
        printf("train: %ld tokens x %ld, %d latents, k = %d, %d epochs, batch %ld%s\n", T, d, sae.L, sae.k, p.epochs,
               p.batch > 0 && p.batch < T ? (long)p.batch : T, p.impl == SAE_REF ? " (reference)" : "");

    TrainCtx ctx = {out, (int)save_every, quiet, &p, model, hook, xcalloc((size_t)p.epochs, sizeof(SAELosses)),
                    time_now()};
    p.on_epoch = on_epoch;
    p.ctx = &ctx;
    int want_latents = p.want_latents;
    p.want_latents = 0;   /* encoded after training, a chunk at a time, straight into the file */
    /* DIR is written as one unit at the end (and at each --save-every):
     * check now that it can be, before the slow part */
    DirTxn t;
    if (dir_begin(&t, out) != 0) { free(ctx.hist); sae_free(&sae); npy_free(&a); return cli_fail(); }
    dir_abort(&t);
    SAEResult r;
    int rc = sae_train(&sae, a.f32, T, &p, &r);
    int status = 0;
    SAEStats st = {0};
    if (rc != 0) {
        /* NaN (the weights are back at the last ones with a finite loss) or a failed save */
        fprintf(stderr, "gpt2sae: train: %s\n", err_get());
        if (r.epochs_done > 0 && write_unit(&ctx, &sae, &r, NULL, 0, NULL) == 0)
            fprintf(stderr, "gpt2sae: train: %s/sae_weights.safetensors holds the last weights whose loss was finite "
                            "(after %d good epochs); losses.csv has those epochs\n", out, r.epochs_done);
        status = 1;
    } else if (write_unit(&ctx, &sae, &r, want_latents ? a.f32 : NULL, T, &st) != 0) {
        status = cli_fail();
    } else if (!quiet) {
        if (!want_latents) st.fve = sae_fve(&sae, a.f32, T);
        printf("train: done in %.1fs; fraction of variance explained %.4f", time_now() - ctx.t0, st.fve);
        if (want_latents) printf(", mean L0 %.1f, dead latents %d of %d", st.mean_l0, st.dead, sae.L);
        printf("\ntrain: wrote %s/{sae_weights.safetensors, cfg.json, losses.csv%s}\n", out,
               want_latents ? ", sparsity.safetensors, latents.npy" : "");
    }
    sae_stats_free(&st);
    if (profile && p.impl == SAE_FAST && p.device == SAE_CPU) {   /* where the CPU time went */
        fprintf(stderr, "sae_train profile, CPU-s over %d epochs:", r.epochs_done);
        for (int i = 0; i < SAE_PROF_PARTS; i++) fprintf(stderr, " %s %.2f", sae_prof_names[i], r.prof[i]);
        fprintf(stderr, "\n");
    }
    free(ctx.hist);
    sae_result_free(&r);
    sae_free(&sae);
    npy_free(&a);
    return status;
}
