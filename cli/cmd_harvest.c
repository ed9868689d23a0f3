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

/* --hook NAME, repeatable, into the HarvestOpts at dst */
static int opt_hook(const char *name, const char *val, void *dst) {
    HarvestOpts *o = dst;
    if (o->n_hooks == CACHE_MAX_HOOKS) return cli_error(2, "%s: at most %d hooks", name, CACHE_MAX_HOOKS);
    o->hooks[o->n_hooks++] = val;
    return 0;
}

/* --tokens COUNT into the double at dst */
static int opt_tokens(const char *name, const char *val, void *dst) {
    double *t = dst;
    if (parse_count(val, t) != 0 || *t < 1)
        return cli_error(2, "option %s: '%s' is not a count of tokens (e.g. 1000000, 250k, 10M, 1G)", name, val);
    return 0;
}

void harvest_opts_table(HarvestOpts *o, CLIOpt t[HARVEST_OPTS]) {
    const CLIOpt opts[HARVEST_OPTS] = {
        {"--dataset", CLI_STR, .dst = &o->dataset},
        {"--weights", CLI_STR, .dst = &o->weights},
        {"--random-weights", CLI_SET, .dst = &o->random_weights, .value = 1},
        {"--format", CLI_STR, .dst = &o->format},
        {"--hook", CLI_CALL, .dst = o, .fn = opt_hook},
        {"--ctx", CLI_LONG, .dst = &o->ctx, .lo = 1, .hi = 1 << 20},
        {"--batch-windows", CLI_LONG, .dst = &o->batch, .lo = 1, .hi = 4096},
        {"--shard-windows", CLI_LONG, .dst = &o->shard_windows, .lo = 1, .hi = 1L << 30},
        {"--tokens", CLI_CALL, .dst = &o->tokens, .fn = opt_tokens},
        {"--no-bos", CLI_SET, .dst = &o->no_bos, .value = 1},
        {"--exclude-special", CLI_SET, .dst = &o->exclude_special, .value = 1},
        {"--dtype", CLI_STR, .dst = &o->dtype},
        {0}};
    memcpy(t, opts, sizeof opts);
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
    HarvestOpts o;
    harvest_opts_init(&o);
    const char *out = NULL;
    CLIDevice device = CLI_DEVICE_CPU;
    int quiet = 0, r;
    long threads = 0;
    CLIOpt shared[HARVEST_OPTS];
    harvest_opts_table(&o, shared);
    const CLIOpt opts[] = {
        {"-o", CLI_STR, .dst = &out},
        {"--out", CLI_STR, .dst = &out},
        {"--threads", CLI_LONG, .dst = &threads, .lo = 1, .hi = 256},
        {"--device", CLI_DEVICE, .dst = &device},
        {"--quiet", CLI_SET, .dst = &quiet, .value = 1},
        {0}};
    const CLISpec spec = {"harvest", {shared, opts}, .usage = usage, .refuse = "the token file is --dataset X.bin"};
    if (cli_parse(&spec, argc, argv, &r)) return r;
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
