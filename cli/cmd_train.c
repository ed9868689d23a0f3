/*
 * cli/cmd_train.c - ./run train: train the seed's sparse autoencoder on
 * captured activations and write the checkpoint, the losses and the latents.
 *
 *   ./run train --acts out/acts.npy -o out/sae
 *   -> out/sae/sae.safetensors, cfg.json, losses.csv, latents.npy
 */
#include "cli/cli.h"
#include "core/util.h"
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
            "DIR/sae.safetensors (SAELens layout), DIR/cfg.json, DIR/losses.csv and\n"
            "DIR/latents.npy (the final latents, (T, L) float32).\n"
            "\n"
            "  --acts X.npy            activations to train on (required)\n"
            "  -o, --out DIR           output folder (required; created)\n"
            "  --init SAE.safetensors  start from this checkpoint's W_dec (and its k)\n"
            "  --epochs N              passes over the tokens (default 100)\n"
            "  --k K                   latents kept per token (default d/3)\n"
            "  --latents L             number of latents (default 2d)\n"
            "  --lr LR                 Adam learning rate (default 1e-4)\n"
            "  --sparsity-weight W     weight of mean|z| (default 1)\n"
            "  --decor-weight W        weight of the off-diagonal covariance (default 0.0005)\n"
            "  --batch B               tokens per step, shuffled (default: all, like the seed)\n"
            "  --seed S                initial weights and shuffle (default 1234)\n"
            "  --save-every N          also write the checkpoint every N epochs (default 0: at the end)\n"
            "  --model NAME            model name for cfg.json (default gpt2)\n"
            "  --hook NAME             hook name for cfg.json (default blocks.6.mlp.hook_pre)\n"
            "  --no-latents            do not write latents.npy (it is T x L floats)\n"
            "  --reference             use the plain reference implementation (slow)\n"
            "  --quiet                 no progress lines\n"
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
    int saved_epoch;
    double t0;
} TrainCtx;

static int on_epoch(void *vctx, int epoch, int epochs, const SAELosses *l, const SAE *sae) {
    TrainCtx *c = vctx;
    /* the seed prints at epochs 1, 12, 23, ... */
    if (!c->quiet && ((epoch - 1) % 11 == 0 || epoch == epochs)) {
        printf("Epoch %3d, loss = %.4f  (sparsity %.4f, decor %.4f, %.1fs)\n", epoch, l->total, l->sparsity,
               l->decor, time_now() - c->t0);
        fflush(stdout);
    }
    if (c->save_every > 0 && epoch % c->save_every == 0 && epoch != epochs) {
        if (sae_save(sae, c->dir, c->p, c->model, c->hook) != 0) return -1;
        c->saved_epoch = epoch;
    }
    return 0;
}

static int write_losses(const char *dir, const SAEResult *r) {
    char *path = path_join(dir, "losses.csv"), tmp[4096];
    FILE *f = file_begin(path, tmp, sizeof tmp);
    if (!f) { free(path); return -1; }
    fprintf(f, "epoch,total,sparsity,decor\n");
    for (int e = 0; e < r->epochs_done; e++)
        fprintf(f, "%d,%.9g,%.9g,%.9g\n", e + 1, r->losses[e].total, r->losses[e].sparsity, r->losses[e].decor);
    int rc = ferror(f) ? (file_abort(f, tmp), err_set("%s: write failed", path)) : file_commit(f, tmp, path);
    free(path);
    return rc;
}

int cmd_train(int argc, char **argv) {
    const char *acts = NULL, *out = NULL, *init = NULL, *model = "gpt2", *hook = "blocks.6.mlp.hook_pre";
    SAEParams p = sae_default_params();
    long save_every = 0;
    int quiet = 0, k_given = 0, latents_given = 0;
    for (int i = 1; i < argc; i++) {
        const char *v;
        long n;
        double x;
        int r;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) { usage(stdout); return 0; }
        if (strcmp(argv[i], "--reference") == 0) { p.impl = SAE_REF; continue; }
        if (strcmp(argv[i], "--quiet") == 0) { quiet = 1; continue; }
        if (strcmp(argv[i], "--no-latents") == 0) { p.want_latents = 0; continue; }
#define OPT(name) ((r = cli_opt(argc, argv, &i, name, &v)) != 0)
        if (OPT("--acts")) { if (r < 0) return 2; acts = v; }
        else if (OPT("-o") || OPT("--out")) { if (r < 0) return 2; out = v; }
        else if (OPT("--init")) { if (r < 0) return 2; init = v; }
        else if (OPT("--model")) { if (r < 0) return 2; model = v; }
        else if (OPT("--hook")) { if (r < 0) return 2; hook = v; }
        else if (OPT("--epochs")) { if (r < 0 || cli_int("--epochs", v, 1, 100000000, &n)) return 2; p.epochs = (int)n; }
        else if (OPT("--k")) { if (r < 0 || cli_int("--k", v, 1, 1 << 30, &n)) return 2; p.k = (int)n; k_given = 1; }
        else if (OPT("--latents")) { if (r < 0 || cli_int("--latents", v, 1, 1 << 30, &n)) return 2; p.latents = (int)n; latents_given = 1; }
        else if (OPT("--batch")) { if (r < 0 || cli_int("--batch", v, 2, SAE_MAX_BATCH, &n)) return 2; p.batch = (int)n; }
        else if (OPT("--seed")) { if (r < 0 || cli_int("--seed", v, 0, 0x7fffffffffffffffL, &n)) return 2; p.seed = (uint64_t)n; }
        else if (OPT("--save-every")) { if (r < 0 || cli_int("--save-every", v, 0, 100000000, &n)) return 2; save_every = n; }
        else if (OPT("--lr")) { if (r < 0 || cli_float("--lr", v, 0, 1e38, &x)) return 2; p.lr = x; }
        else if (OPT("--sparsity-weight")) { if (r < 0 || cli_float("--sparsity-weight", v, 0, 1e30, &x)) return 2; p.sparsity_weight = (float)x; }
        else if (OPT("--decor-weight")) { if (r < 0 || cli_float("--decor-weight", v, 0, 1e30, &x)) return 2; p.decor_weight = (float)x; }
        else { usage(stderr); return cli_error(2, "train: unknown option '%s'", argv[i]); }
#undef OPT
    }
    if (!acts) { usage(stderr); return cli_error(2, "train: --acts X.npy is required"); }
    if (!out) { usage(stderr); return cli_error(2, "train: -o DIR is required"); }

    /* the activations, as (T, d) */
    Npy a;
    if (npy_map(&a, acts) != 0) return cli_fail();   /* mapped: a big corpus is paged in, not copied */
    if (a.dtype != NPY_F32 || a.ndim < 2) {
        npy_free(&a);
        return cli_error(1, "%s: expected float32 activations of shape (T, d); got %s with %d dimension(s)", acts,
                         a.dtype == NPY_F32 ? "float32" : "int32", a.ndim);
    }
    long d = (long)a.shape[a.ndim - 1], T = d > 0 ? (long)(a.numel / d) : 0;
    if (T < 1 || d < 1) {
        npy_free(&a);
        return cli_error(1, "%s: the activations are empty (%ld tokens of width %ld); capture some text first", acts, T, d);
    }
    if (d > (1 << 24)) { npy_free(&a); return cli_error(1, "%s: width %ld is too large", acts, d); }

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
    if (!quiet)
        printf("train: %ld tokens x %ld, %d latents, k = %d, %d epochs, batch %ld%s\n", T, d, sae.L, sae.k, p.epochs,
               p.batch > 0 && p.batch < T ? (long)p.batch : T, p.impl == SAE_REF ? " (reference)" : "");

    TrainCtx ctx = {out, (int)save_every, quiet, &p, model, hook, 0, time_now()};
    p.on_epoch = on_epoch;
    p.ctx = &ctx;
    int want_latents = p.want_latents;
    p.want_latents = 0;   /* encoded below in chunks, straight into the file */
    if (path_mkdirs(out) != 0) { sae_free(&sae); npy_free(&a); return cli_fail(); }
    SAEResult r;
    int rc = sae_train(&sae, a.f32, T, &p, &r);
    int status = 0;
    if (rc != 0) {
        /* NaN (the weights are back at the last ones with a finite loss) or a failed save */
        fprintf(stderr, "gpt2sae: train: %s\n", err_get());
        if (r.epochs_done > 0 && sae_save(&sae, out, &p, model, hook) == 0 && write_losses(out, &r) == 0)
            fprintf(stderr, "gpt2sae: train: %s/sae.safetensors holds the last weights whose loss was finite "
                            "(after %d good epochs); losses.csv has those epochs\n", out, r.epochs_done);
        status = 1;
    } else if (sae_save(&sae, out, &p, model, hook) != 0 || write_losses(out, &r) != 0) {
        status = cli_fail();
    } else {
        long l0 = 0;
        int dead = sae.L;
        char *lat = path_join(out, "latents.npy");
        if (want_latents && sae_write_latents(&sae, a.f32, T, lat, &l0, &dead) != 0) status = cli_fail();
        free(lat);
        if (status == 0 && !quiet) {
            double fve = sae_fve(&sae, a.f32, T);
            printf("train: done in %.1fs; fraction of variance explained %.4f", time_now() - ctx.t0, fve);
            if (want_latents) printf(", mean L0 %.1f, dead latents %d of %d", (double)l0 / T, dead, sae.L);
            printf("\ntrain: wrote %s/{sae.safetensors, cfg.json, losses.csv%s}\n", out, want_latents ? ", latents.npy" : "");
        }
    }
    sae_result_free(&r);
    sae_free(&sae);
    npy_free(&a);
    return status;
}
