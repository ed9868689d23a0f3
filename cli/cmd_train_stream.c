/*
 * cli/cmd_train_stream.c - ./run train --cache DIR | --dataset X.bin --hook H:
 * the seed's SAE, or any architecture of sae/arch.h (--arch), trained on a
 * stream of activations (an activation cache, or harvested from the model as
 * it trains) for a token budget, with progress, train_log.csv, checkpoints
 * and --resume (train/stream.h).
 *
 *   ./run train --cache acts/ --tokens 10M --batch 4096 -o out/sae
 *   ./run train --cache acts/ --arch topk --latents 24576 --k 32 --tokens 10M -o out/topk
 *   ./run train --resume out/sae --cache acts/ --tokens 20M
 */
#include "cli/cli.h"
#include "cli/pipeline.h"
#include "cli/stream.h"
#include "core/pool.h"
#include "core/util.h"
#include "train/stream.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *f) {
    fprintf(f,
            "usage: ./run train --cache DIR [--hook NAME] -o OUT [options]\n"
            "       ./run train --dataset X.bin --hook NAME [--weights W] -o OUT [options]\n"
            "       ./run train --resume OUT (--cache DIR | --dataset X.bin --hook NAME) [options]\n"
            "\n"
            "Train an SAE on a stream of activations: from an activation cache\n"
            "(./run harvest), read in a shuffled order drawn from --seed, or harvested from\n"
            "the model as it trains (no cache). Memory is bounded by the batch and the\n"
            "buffers, not the corpus. OUT gets sae_weights.safetensors, cfg.json, train_log.csv and\n"
            "state.bin, as one unit, at every checkpoint and at the end; --resume continues\n"
            "exactly (the same weights, bit for bit, as a run that never stopped).\n"
            "The SAE is the seed's (the default), or --arch topk|batchtopk|jumprelu|relu|gated\n"
            "(OUT is then the SAELens folder; train_log.csv's columns are\n"
            "step,tokens,loss,recon,sparsity,aux,l0,fvu,dead_pct,grad_norm,lr,tokens_per_s).\n"
            "\n"
            "  --cache DIR             the activation cache\n"
            "  --hook NAME             the cache's hook to train on (default its first); with\n"
            "                          --dataset: the hook to harvest and train on\n"
            "  --dataset X.bin ...     harvest as it trains: also --weights, --random-weights,\n"
            "                          --ctx, --no-bos, --exclude-special, --batch-windows\n"
            "                          (as ./run harvest)\n"
            "  -o, --out OUT           output folder (default: the --resume folder)\n"
            "  --resume OUT            continue the training saved in OUT\n"
            "  --tokens N              token budget, e.g. 10M (default: --epochs passes), rounded\n"
            "                          down to whole batches (every step is a whole batch)\n"
            "  --epochs N              passes over the cache (default 1; not with --dataset)\n"
            "  --batch B               tokens a step (default 4096)\n"
            "  --latents L, --k K      SAE size (default 2d; k: the seed d/3, topk/batchtopk 32)\n"
            "  --lr, --sparsity-weight, --decor-weight   as ./run train\n"
            "  --arch A                seed (default), topk, batchtopk, jumprelu, relu or gated;\n"
            "                          their options as ./run train --arch A --help (--k-aux,\n"
            "                          --aux-alpha, --multi-topk, --lambda, --lambda-warmup,\n"
            "                          --jump-eps, --theta0, --b-dec-init, --beta1, --beta2,\n"
            "                          --adam-eps, --warmup, --decay (steps), --grad-clip);\n"
            "                          b_dec starts at the median of the first 4096 rows.\n"
            "                          --resume takes the architecture and its options from\n"
            "                          the checkpoint\n"
            "  --seed S                initial weights and the data order (default 0)\n"
            "  --group G               shards a shuffle group (default 4)\n"
            "  --log-every N           steps between train_log.csv lines (default 10)\n"
            "  --checkpoint-every N    tokens between checkpoints (e.g. 1M; default: at the end)\n"
            "  --dead-after N          tokens without firing before a latent counts as dead (1M;\n"
            "                          also --dead-tokens with --arch)\n"
            "  --threads N             CPU threads\n"
            "  --quiet                 no progress\n"
            "\n"
            "Progress: one line rewritten in place on a terminal, plain lines (every 10 s)\n"
            "otherwise: tokens done/total, tokens/s, ETA, loss, L0, FVU, dead %%.\n"
            "SIGINT/SIGTERM: a checkpoint is written, then the run stops (status 130/143).\n");
}

/* --k and --lr: the seed trainer's value, and passed on to --arch as given */
typedef struct {
    StreamTrain *t;
    TrainArchSet *as;
    int k_given, lr_given;
} SeedArch;

static int opt_k(const char *name, const char *val, void *dst) {
    SeedArch *s = dst;
    long n;
    if (cli_int(name, val, 1, 1 << 30, &n)) return 2;
    s->t->p.k = (int)n, s->k_given = 1;
    return train_arch_add(s->as, name, val);
}

static int opt_lr(const char *name, const char *val, void *dst) {
    SeedArch *s = dst;
    if (cli_float(name, val, 0, 1e38, &s->t->p.lr)) return 2;
    s->lr_given = 1;
    return train_arch_add(s->as, name, val);
}

/* --checkpoint-every, --dead-after: a count of tokens into the double at dst */
static int opt_count(const char *name, const char *val, void *dst) {
    double *x = dst;
    if (parse_count(val, x) != 0 || *x < 1) return cli_error(2, "option %s: '%s' is not a count of tokens (e.g. 1M)", name, val);
    return 0;
}

int cmd_train_stream(int argc, char **argv) {
    HarvestOpts o;
    harvest_opts_init(&o);
    StreamTrain t = stream_train_default();
    const char *cache = NULL, *out = NULL, *resume = NULL, *arch_name = NULL;
    TrainArchSet as = {0};   /* the architecture's options as given, applied once d is known */
    SeedArch sa = {&t, &as, 0, 0};
    int latents_given = 0, bdec = -1, r;   /* bdec: --b-dec-init, an SAEBdecInit, -1 when not given */
    long group = 4, threads = 0;
    CLIOpt shared[HARVEST_OPTS], arch_opts[TRAIN_ARCH_OPTS];
    harvest_opts_table(&o, shared);
    train_arch_table(&as, arch_opts, 0);
    const CLIOpt opts[] = {
        {"--cache", CLI_STR, .dst = &cache},
        {"-o", CLI_STR, .dst = &out},
        {"--out", CLI_STR, .dst = &out},
        {"--resume", CLI_STR, .dst = &resume},
        {"--arch", CLI_STR, .dst = &arch_name},
        {"--b-dec-init", CLI_CALL, .dst = &bdec, .fn = train_opt_bdec},
        {"--epochs", CLI_INT, .dst = &t.epochs, .lo = 1, .hi = 1000000},
        {"--batch", CLI_INT, .dst = &t.p.batch, .lo = 2, .hi = SAE_MAX_BATCH},
        {"--latents", CLI_INT, .dst = &t.p.latents, .lo = 1, .hi = 1 << 30, .given = &latents_given},
        {"--k", CLI_CALL, .dst = &sa, .fn = opt_k},
        {"--seed", CLI_U64, .dst = &t.p.seed, .lo = 0, .hi = 0x7fffffffffffffffL},
        {"--group", CLI_LONG, .dst = &group, .lo = 1, .hi = 1 << 20},
        {"--log-every", CLI_LONG, .dst = &t.log_every, .lo = 1, .hi = 1L << 40},
        {"--threads", CLI_LONG, .dst = &threads, .lo = 1, .hi = 256},
        {"--stop-after-steps", CLI_INT, .dst = &t.stop_after_steps, .lo = 1, .hi = 2147483647L},
        {"--checkpoint-every", CLI_CALL, .dst = &t.ckpt_every, .fn = opt_count},
        {"--dead-after", CLI_CALL, .dst = &t.dead_after, .fn = opt_count},
        {"--lr", CLI_CALL, .dst = &sa, .fn = opt_lr},
        {"--sparsity-weight", CLI_FLOAT, .dst = &t.p.sparsity_weight, .min = 0, .max = 1e30},
        {"--decor-weight", CLI_FLOAT, .dst = &t.p.decor_weight, .min = 0, .max = 1e30},
        {"--quiet", CLI_SET, .dst = &t.quiet, .value = 1},
        {0}};
    const CLISpec spec = {"train", {shared, arch_opts, opts}, .usage = usage,
                          .refuse = "the activations come from --cache DIR or --dataset X.bin"};
    if (cli_parse(&spec, argc, argv, &r)) return r;
    /* what was given for --arch only (not --k or --lr, which the seed's SAE takes too) */
    int n_arch_only = bdec >= 0, dead_given = 0;
    for (int j = 0; j < as.n; j++) {
        n_arch_only += strcmp(as.set[j][0], "--k") && strcmp(as.set[j][0], "--lr");
        dead_given |= !strcmp(as.set[j][0], "--dead-tokens");
    }
    const int lr_given = sa.lr_given, k_given = sa.k_given;
    if (!!cache + !!o.dataset != 1) { usage(stderr); return cli_error(2, "train: give one of --cache DIR or --dataset X.bin"); }
    if (!out) out = resume;
    if (!out) { usage(stderr); return cli_error(2, "train: give the output folder with -o OUT"); }
    if (cache && o.n_hooks > 1) return cli_error(2, "train --cache: give at most one --hook (the cache's hook to train on)");
    SAEArchKind kind = SAE_ARCH_TOPK;
    int is_arch = arch_name && strcmp(arch_name, "seed") != 0;
    if (is_arch && sae_arch_parse(arch_name, &kind) != 0)
        return cli_error(2, "option --arch: '%s' is not seed, topk, batchtopk, jumprelu, relu or gated", arch_name);
    if (!is_arch && n_arch_only && !resume)
        return cli_error(2, "train: --k-aux, --lambda and the like are options of --arch topk|batchtopk|jumprelu|relu|gated");
    if (resume) {   /* the checkpoint says which SAE it is */
        char magic[9];
        if (stream_state_magic(resume, magic) != 0) return cli_fail();
        int was_arch = !strcmp(magic, STREAM_ARCH_MAGIC);
        if (!was_arch && strcmp(magic, STREAM_SEED_MAGIC) != 0)
            return cli_error(1, "--resume %s: state.bin is not a training state this build reads; train again", resume);
        if (arch_name && is_arch != was_arch)
            return cli_error(2, "train: --resume %s holds %s SAE; give --arch as it was trained (or leave it out)", resume,
                             was_arch ? "an --arch" : "the seed's");
        if (was_arch && (n_arch_only || latents_given || lr_given || k_given))
            return cli_error(2, "train: --resume takes the architecture's options from the checkpoint; leave out --latents, "
                                "--k, --lr, --lambda and the like");
        is_arch = was_arch;
    }
    if (threads) pool_set_threads((int)threads);
    t.tokens = o.tokens;   /* a training budget here, not a harvest limit */
    o.tokens = 0;
    t.out = out;
    t.progress_tty = isatty(2);

    /* the source */
    CacheReader cr;
    HarvestSetup hs;
    HarvestSource live;
    RowSource src;
    int status = 1;
    memset(&hs, 0, sizeof hs);
    memset(&cr, 0, sizeof cr);
    memset(&live, 0, sizeof live);
    if (cache) {
        if (cache_reader_open(&cr, cache, o.n_hooks ? o.hooks[0] : NULL, (int)group, t.p.seed) != 0) return cli_fail();
        src = cache_reader_source(&cr);
        t.model = cr.man.meta.model;
        t.hook = cr.man.meta.hooks[cr.hook];
        t.dataset = cr.man.meta.dataset;
        t.ctx = cr.man.meta.ctx;
    } else {
        if (harvest_setup(&hs, &o) != 0) return cli_fail();
        if (harvest_source_init(&live, &hs.h, 0, t.p.seed) != 0) { harvest_setup_free(&hs); return cli_fail(); }
        src = harvest_source(&live);
        t.model = hs.meta.model;
        t.hook = o.hooks[0];
        t.dataset = hs.meta.dataset;
        t.ctx = hs.h.p.ctx;
        if (t.tokens <= 0) t.tokens = (double)live.h->windows * live.h->p.ctx * t.epochs;
    }
    /* the SAE: the seed's (fresh, or the one being resumed) or an architecture's */
    SAE sae = {0};
    StreamSeed seed;
    StreamArch arch;
    StreamModel model;
    memset(&seed, 0, sizeof seed);
    memset(&arch, 0, sizeof arch);
    if (is_arch && resume) {
        stream_arch_init_resume(&arch, &src, &t, arch_name ? (int)kind : -1);
    } else if (is_arch) {
        SAEArchParams p = sae_arch_default_params(kind, src.width, latents_given ? t.p.latents : 2 * src.width);
        p.seed = t.p.seed;
        p.dead_tokens = (long)t.dead_after;
        if (bdec >= 0) p.b_dec_init = (SAEBdecInit)bdec;
        if (train_arch_apply(&p, (const char *const (*)[2])as.set, as.n) != 0) { status = 2; goto done; }
        if (dead_given) t.dead_after = (double)p.dead_tokens;
        if (stream_arch_init(&arch, &p, &src, &t) != 0) {
            err_prefix("train --arch %s", arch_name);
            goto done_fail;
        }
    } else {
        if (resume) {
            if (sae_load(&sae, resume) != 0) goto done_fail;   /* the folder: sae_checkpoint_file finds the weights */
            t.p.latents = sae.L, t.p.k = sae.k;
        } else if (sae_init(&sae, src.width, &t.p) != 0)
            goto done_fail;
        stream_seed_init(&seed, &sae, &t);
    }
    model = is_arch ? stream_arch_model(&arch) : stream_seed_model(&seed);
    if (!t.quiet) {
        if (is_arch && !resume)
            printf("train: %s %s, width %d, %s SAE of %d latents (k = %d), batch %d, seed %llu\n", cache ? "cache" : "dataset",
                   cache ? cache : o.dataset, src.width, sae_arch_name(arch.m.p.arch), arch.m.p.n, arch.m.p.k, t.p.batch,
                   (unsigned long long)t.p.seed);
        else if (is_arch)
            printf("train: %s %s, width %d, resuming the SAE in %s, batch %d, seed %llu\n", cache ? "cache" : "dataset",
                   cache ? cache : o.dataset, src.width, resume, t.p.batch, (unsigned long long)t.p.seed);
        else
            printf("train: %s %s, width %d, %d latents, k = %d, batch %d, seed %llu%s\n", cache ? "cache" : "dataset",
                   cache ? cache : o.dataset, src.width, sae.L, sae.k, t.p.batch, (unsigned long long)t.p.seed,
                   resume ? " (resuming)" : "");
    }
    StreamTrainReport rep;
    int rc = stream_train(&model, &src, &t, resume, &rep);
    if (rc < 0) goto done_fail;
    if (!t.quiet || rc == 1)
        printf("train: %s after %ld steps, %.0f tokens in %.1fs (%.0f tokens/s); loss %.4f, L0 %.1f, FVU %.4f, dead %.1f%%; "
               "max RSS %.1f MiB\ntrain: wrote %s/{sae_weights.safetensors, cfg.json, train_log.csv, state.bin}\n",
               rc == 1 ? "stopped (checkpoint written; --resume continues)" : "done", rep.steps, rep.tokens, rep.secs,
               rep.tokens_run / (rep.secs + 1e-9), rep.loss, rep.l0, rep.fvu, rep.dead_pct, rep.max_rss_kb / 1024.0, out);
    status = rc == 1 ? 128 + (rep.signal ? rep.signal : SIGINT) : 0;
    goto done;
done_fail:
    status = cli_fail();
done:
    stream_seed_free(&seed);
    stream_arch_free(&arch);
    sae_free(&sae);
    cache_reader_close(&cr);
    harvest_source_free(&live);
    harvest_setup_free(&hs);
    return status;
}
