/*
 * cli/cmd_harvest.c - ./run harvest: GPT-2's activations over a token file,
 * at one or more hooks in one pass, into an on-disk activation cache
 * (data/cache.h); and the options and setup ./run train --dataset shares
 * (cli/stream.h).
 *
 *   ./run harvest --dataset sotu.bin --hook blocks.6.mlp.hook_pre --tokens 1M -o acts/
 */
#include "cli/cli.h"
#include "cli/stream.h"
#include "core/pool.h"
#include "core/util.h"
#include "cuda/cuda.h"
#include "dist/dist.h"
#include "weights/fetch.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *const harvest_opt_names[] = {"--dataset", "--weights", "--random-weights", "--format", "--hook",
                                         "--ctx", "--batch-windows", "--shard-windows", "--tokens", "--no-bos",
                                         "--exclude-special", "--dtype", NULL};

void harvest_opts_init(HarvestOpts *o) {
    memset(o, 0, sizeof *o);
    o->format = "auto";
    o->ctx = DATA_DEFAULT_CTX;
    o->batch = 32;
    o->dtype = "float32";
}

int parse_count(const char *s, double *out) {
    char *end;
    double v = strtod(s, &end);
    if (end == s || !(v >= 0) || !isfinite(v)) return -1;
    if (*end == 'k' || *end == 'K') v *= 1e3, end++;
    else if (*end == 'M' || *end == 'm') v *= 1e6, end++;
    else if (*end == 'G' || *end == 'g') v *= 1e9, end++;
    if (*end) return -1;
    *out = floor(v);
    return 0;
}

int harvest_opts_parse(HarvestOpts *o, int argc, char **argv, int *i) {
    const char *v;
    int r;
    if (!strcmp(argv[*i], "--random-weights")) return o->random_weights = 1, 1;
    if (!strcmp(argv[*i], "--no-bos")) return o->no_bos = 1, 1;
    if (!strcmp(argv[*i], "--exclude-special")) return o->exclude_special = 1, 1;
    if ((r = cli_opt(argc, argv, i, "--dataset", &o->dataset)) || (r = cli_opt(argc, argv, i, "--weights", &o->weights)) ||
        (r = cli_opt(argc, argv, i, "--format", &o->format)) || (r = cli_opt(argc, argv, i, "--dtype", &o->dtype)))
        return r;
    if ((r = cli_opt(argc, argv, i, "--hook", &v))) {
        if (r < 0) return -1;
        if (o->n_hooks == CACHE_MAX_HOOKS) return cli_error(2, "--hook: at most %d hooks", CACHE_MAX_HOOKS), -1;
        o->hooks[o->n_hooks++] = v;
        return 1;
    }
    if ((r = cli_opt(argc, argv, i, "--ctx", &v))) return r < 0 || cli_int("--ctx", v, 1, 1 << 20, &o->ctx) ? -1 : 1;
    if ((r = cli_opt(argc, argv, i, "--batch-windows", &v)))
        return r < 0 || cli_int("--batch-windows", v, 1, 4096, &o->batch) ? -1 : 1;
    if ((r = cli_opt(argc, argv, i, "--shard-windows", &v)))
        return r < 0 || cli_int("--shard-windows", v, 1, 1L << 30, &o->shard_windows) ? -1 : 1;
    if ((r = cli_opt(argc, argv, i, "--tokens", &v))) {
        if (r < 0) return -1;
        if (parse_count(v, &o->tokens) != 0 || o->tokens < 1)
            return cli_error(2, "option --tokens: '%s' is not a count of tokens (e.g. 1000000, 250k, 10M, 1G)", v), -1;
        return 1;
    }
    return 0;
}

/* --weights: a path or a model name; --random-weights: the pipeline's
 * synthetic GPT-2 small (seed 0, cached). Caller frees. */
static char *weights_path(const HarvestOpts *o) {
    if (o->random_weights) return cli_weights_random("gpt2", 0, NULL);
    return cli_weights_resolve(o->weights ? o->weights : "gpt2");
}

int harvest_setup(HarvestSetup *s, const HarvestOpts *o) {
    memset(s, 0, sizeof *s);
    if (!o->dataset) return err_set("give the token file with --dataset X.bin (./run tokenize --bin makes one)");
    if (o->n_hooks < 1) return err_set("give the hooks with --hook NAME, e.g. --hook blocks.6.mlp.hook_pre");
    if (o->random_weights && o->weights) return err_set("--weights and --random-weights exclude each other: pick one");
    HarvestParams p = harvest_default_params();
    DataFormat fmt;
    if (data_format_parse(o->format, &fmt) != 0) return err_set("--format %s: give llmc, raw or auto", o->format);
    if (cache_dtype_parse(o->dtype, &p.dtype) != 0) return err_set("--dtype %s: give float32, float16 or bfloat16", o->dtype);
    for (int k = 0; k < o->n_hooks; k++) {
        p.layer[k] = -1;
        if (gpt2_site_parse(o->hooks[k], &p.layer[k], &p.site[k]) != 0) return -1;
        if (p.layer[k] < 0) return err_set("--hook %s: give a TransformerLens name with its layer, e.g. blocks.6.mlp.hook_pre", o->hooks[k]);
    }
    p.n_hooks = o->n_hooks;
    p.ctx = (int)o->ctx;
    p.prepend_bos = !o->no_bos;
    p.exclude_special = o->exclude_special;
    p.batch = (int)o->batch;
    p.windows_per_shard = o->shard_windows;
    if (o->tokens > 0) p.windows = (long)ceil(o->tokens / (double)p.ctx);
    if (!(s->wpath = weights_path(o))) return -1;
    if (gpt2_model_load(&s->m, s->wpath) != 0) goto fail;
    if (tokfile_open(&s->tf, o->dataset, fmt) != 0) goto fail;
    if (harvest_init(&s->h, &s->m, &s->tf, &p) != 0) goto fail;
    if (o->tokens > 0 && p.windows > s->h.windows)
        fprintf(stderr, "gpt2sae: note: --tokens %.0f: %s holds %ld windows of %d tokens (%ld tokens); harvesting those\n",
                o->tokens, o->dataset, s->h.windows, p.ctx, s->h.windows * p.ctx);
    /* what the manifest says about the inputs */
    CacheMeta *m = &s->meta;
    snprintf(m->model, sizeof m->model, "%s", s->m.cfg.name);
    m->random_weights = s->m.cfg.random || o->random_weights;
    char *wb = path_base(s->m.path), *db = path_base(o->dataset);
    snprintf(m->weights, sizeof m->weights, "%s", wb);
    snprintf(m->dataset, sizeof m->dataset, "%s", db);
    free(wb);
    free(db);
    struct stat st;
    m->weights_size = stat(s->m.path, &st) == 0 ? (uint64_t)st.st_size : 0;
    return 0;
fail:
    harvest_setup_free(s);
    return -1;
}

void harvest_setup_free(HarvestSetup *s) {
    harvest_free(&s->h);
    tokfile_close(&s->tf);
    gpt2_model_free(&s->m);
    free(s->wpath);
    memset(s, 0, sizeof *s);
}

/* ---- ./run harvest ---- */

static void usage(FILE *f) {
    fprintf(f,
            "usage: ./run harvest --dataset X.bin --hook NAME [--hook NAME...] -o CACHE [options]\n"
            "\n"
            "Run GPT-2 over the context windows of a token file, a batch of windows a pass,\n"
            "stopping after the deepest hook, and write the activations at every hook to an\n"
            "on-disk activation cache: CACHE/manifest.json and shards of a fixed number of\n"
            "windows (data/cache.h). An interrupted run (Ctrl-C, a full disk) leaves the\n"
            "cache as of its last complete shard; the same command continues after it.\n"
            "Under mpirun -np N the cache's shards are split across the N processes, each\n"
            "writing its own, rank 0 the manifest; the files equal one process's\n"
            "(dist/README.md).\n"
            "\n"
            "  --dataset X.bin        token file (llm.c's format, or raw uint16 with --format raw)\n"
            "  --hook NAME            a TransformerLens name (blocks.6.mlp.hook_pre,\n"
            "                         blocks.8.hook_resid_pre, ...); repeat for more hooks\n"
            "  -o, --out CACHE        the cache folder (created; continued if it exists)\n"
            "  --weights PATH|NAME    the model (default gpt2)\n"
            "  --random-weights       a synthetic GPT-2 small (seed 0, cached; not GPT-2)\n"
            "  --tokens N             harvest the first N tokens' windows (10M, 250k; default all)\n"
            "  --ctx N                tokens a window (default 128, at most n_ctx)\n"
            "  --no-bos               do not start each window with <|endoftext|>\n"
            "  --exclude-special      leave out the rows of positions holding <|endoftext|>\n"
            "  --dtype T              float32 (default), float16 or bfloat16\n"
            "  --batch-windows B      windows a forward pass (default 32)\n"
            "  --shard-windows N      windows a shard (default: about 64 MiB a shard)\n"
            "  --format F             llmc, raw or auto (default auto)\n"
            "  --threads N            CPU threads (default all cores)\n"
            "  --device D             cpu (default), cuda, or auto (the GPU when there is one and\n"
            "                         it takes the model, else the CPU): where the forward pass\n"
            "                         runs; the cache is the same (rows to float rounding)\n"
            "  --quiet                no progress\n");
}

typedef struct {
    int quiet, tty;
    double t0, last;
    long start;
} Progress;

static int on_progress(void *vctx, long done, long total, const Harvest *h) {
    Progress *p = vctx;
    double now = time_now();
    if (p->quiet || (now - p->last < (p->tty ? 0.2 : 5.0) && done < total)) return 0;
    p->last = now;
    double tps = (double)(done - p->start) * h->p.ctx / (now - p->t0 + 1e-9);
    double eta = tps > 0 ? (double)(total - done) * h->p.ctx / tps : 0;
    fprintf(stderr, "%sharvest: %ld/%ld windows, %.0f tokens/s, ETA %.0fs%s", p->tty ? "\r" : "", done, total, tps,
            eta, p->tty ? "   " : "\n");
    if (p->tty && done == total) fputc('\n', stderr);
    return 0;
}

int cmd_harvest(int argc, char **argv) {
    static const char *opts[32];
    int no = 0;
    for (const char *const *n = harvest_opt_names; *n; n++) opts[no++] = *n;
    const char *more[] = {"-o", "--out", "--threads", "--device", "--quiet", "--help", "-h", NULL};
    for (const char **n = more; *n; n++) opts[no++] = *n;
    opts[no] = NULL;
    cli_command("harvest", opts, NULL);
    HarvestOpts o;
    harvest_opts_init(&o);
    const char *out = NULL, *v;
    CLIDevice device = CLI_DEVICE_CPU;
    int quiet = 0, ended = 0, r;
    long threads = 0;
    for (int i = 1; i < argc; i++) {
        CLIArgKind kind = cli_arg_kind(argv[i], &ended);
        if (kind == CLI_END) continue;
        if (kind == CLI_OPERAND) return cli_error(2, "harvest: unexpected argument '%s' (the token file is --dataset X.bin)", argv[i]);
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { usage(stdout); return 0; }
        if (!strcmp(argv[i], "--quiet")) { quiet = 1; continue; }
        if ((r = harvest_opts_parse(&o, argc, argv, &i))) { if (r < 0) return 2; continue; }
        if ((r = cli_opt(argc, argv, &i, "-o", &out)) || (r = cli_opt(argc, argv, &i, "--out", &out))) { if (r < 0) return 2; continue; }
        if ((r = cli_opt(argc, argv, &i, "--device", &v))) {
            if (r < 0 || cli_device_parse(v, &device)) return 2;
            continue;
        }
        if ((r = cli_opt(argc, argv, &i, "--threads", &v))) {
            if (r < 0 || cli_int("--threads", v, 1, 256, &threads)) return 2;
            continue;
        }
        return cli_unknown(argv[i]);
    }
    if (!out) { usage(stderr); return cli_error(2, "harvest: give the cache folder with -o CACHE"); }
    if (!o.dataset) { usage(stderr); return cli_error(2, "harvest: give the token file with --dataset X.bin"); }
    if (o.n_hooks < 1) { usage(stderr); return cli_error(2, "harvest: give at least one --hook NAME (e.g. blocks.6.mlp.hook_pre)"); }
    if (threads) pool_set_threads((int)threads);
    /* under mpirun -np N: the windows split across the ranks (harvest_to_cache_dist); rank 0 reports */
    const int split = dist_launched();
    if (split && dist_init(&argc, &argv) != 0) return cli_fail();
    quiet |= dist_rank() != 0;
    HarvestSetup s;
    int on_gpu;
    if (cli_device(device, &on_gpu) != 0) return 1;
    if (harvest_setup(&s, &o) != 0) return cli_fail();
    /* the GPU's pass: weights uploaded once, B windows of ctx a pass */
    CUDAGPT2 *g = NULL;
    if (on_gpu) {
        if (cuda_gpt2_init(&g, &s.m, s.h.p.ctx) == 0) s.h.forward = cuda_harvest_pass, s.h.forward_user = g;
        else if (cli_device_fallback(device) != 0) {
            harvest_setup_free(&s);
            return cli_fail();
        }
    }
    Progress pr = {quiet, isatty(2), time_now(), 0, 0};
    /* where a resumed run starts, for the rate */
    CacheManifest old;
    if (!split && cache_manifest_read(&old, out) == 0) {
        pr.start = old.n_shards * old.meta.windows_per_shard;
        if (pr.start > s.h.windows) pr.start = s.h.windows;
        if (!quiet && pr.start > 0) fprintf(stderr, "harvest: %s holds %ld shards; continuing after them\n", out, old.n_shards);
        cache_manifest_free(&old);
    }
    err_clear();
    int rc = split ? harvest_to_cache_dist(&s.h, out, &s.meta, on_progress, &pr)
                   : harvest_to_cache(&s.h, out, &s.meta, on_progress, &pr);
    if (rc != 0) {
        cuda_gpt2_free(g);
        harvest_setup_free(&s);
        rc = dist_rank() == 0 ? cli_fail() : 1;   /* the same error on every rank: said once */
        dist_finalize();
        return rc;
    }
    if (!quiet) {
        double dt = time_now() - pr.t0;
        long tok = (s.h.windows - pr.start) * s.h.p.ctx;
        printf("harvest: %ld windows x %d tokens at %d hook%s into %s in %.1fs (%.0f tokens/s; forward %.1fs%s, writing %.1fs)\n",
               s.h.windows, s.h.p.ctx, s.h.p.n_hooks, s.h.p.n_hooks > 1 ? "s" : "", out, dt, tok / (dt + 1e-9),
               s.h.t_forward, g ? " on the GPU" : "", s.h.t_write);
        if (s.meta.random_weights) printf("harvest: note: RANDOM weights (not GPT-2): the activations mean nothing\n");
        if (split) printf("harvest: %d ranks, each harvesting its block of the shards in parallel\n", dist_size());
    }
    cuda_gpt2_free(g);
    harvest_setup_free(&s);
    dist_finalize();
    return 0;
}
