/*
 * cli/train_arch.c - ./run train --arch topk|batchtopk|jumprelu|relu|gated:
 * train one of the field's SAE architectures (sae/arch.h) on captured
 * activations and write it as SAELens 6 loads it (sae/arch_io.h).
 *
 *   ./run train --arch topk --k 32 --acts out/acts.npy -o out/topk
 *   -> out/topk/sae_weights.safetensors, cfg.json, sparsity.safetensors,
 *      train_log.csv (every step), losses.csv (per epoch, the engine's schema)
 *
 * cmd_train (cli/cmd_train.c) hands over here when --arch names one of these;
 * --arch seed (the default) stays there. --device picks the trainer: the CPU
 * (sae_arch_train) or the GPU (cuda_arch_train, the same contract) for the
 * architectures cuda/cuda_arch.cu has (topk, batchtopk, jumprelu).
 */
#include "cli/cli.h"
#include "cli/pipeline.h"
#include "core/dir.h"
#include "core/util.h"
#include "cuda/cuda.h"
#include "sae/arch.h"
#include "sae/arch_io.h"
#include "sae/sae.h"
#include "weights/npy.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
            "usage: ./run train --arch A --acts X.npy -o DIR [options]\n"
            "\n"
            "Train one of the field's sparse autoencoders on activations X (T, d) (float32\n"
            ".npy). A is seed (the default: the seed's tied top-k; see ./run train --help),\n"
            "topk (Gao et al. 2024, with AuxK), batchtopk (Bussmann et al. 2024; saved as a\n"
            "JumpReLU with its threshold), jumprelu (Rajamanoharan et al. 2024, Gemma Scope),\n"
            "relu (ReLU + L1 weighted by decoder norms) or gated (Rajamanoharan et al. 2024).\n"
            "Writes DIR/sae_weights.safetensors + cfg.json + sparsity.safetensors as SAELens 6\n"
            "loads them (SAE.load_from_disk), DIR/train_log.csv (one line per step:\n"
            "step,loss,recon,sparsity,aux,l0,fvu,dead_pct,grad_norm,lr) and DIR/losses.csv\n"
            "(epoch,total,sparsity,decorrelation,mse: the mean of each pass's steps;\n"
            "decorrelation is 0, mse the reconstruction part). DIR is replaced as one unit.\n"
            "A NaN loss stops training; DIR then holds the last weights with a finite loss.\n"
            "\n"
            "  --acts X.npy        activations to train on (required)\n"
            "  -o, --out DIR       output folder (required; created)\n"
            "  --arch A            seed, topk, batchtopk, jumprelu, relu or gated\n"
            "  --latents N         number of latents d_sae (default 2d)\n"
            "  --k K               topk/batchtopk: latents kept per token, 1 <= K < N (default\n"
            "                      32, or N/2 when smaller)\n"
            "  --k-aux K           AuxK latents (default d/2; 0: no AuxK)\n"
            "  --aux-alpha A       AuxK weight (default 1/32)\n"
            "  --multi-topk        topk: loss L(k) + L(4k)/8\n"
            "  --lambda L          jumprelu/relu/gated sparsity coefficient >= 0 (defaults\n"
            "                      0.001, 5, 1)\n"
            "  --lambda-warmup S   steps over which lambda rises from 0 (default 0)\n"
            "  --jump-eps E        jumprelu: rectangle-kernel bandwidth > 0 (default 0.001)\n"
            "  --theta0 T          jumprelu: initial threshold > 0 (default 0.001)\n"
            "  --dead-tokens N     a latent not fired for N tokens is dead (default: 10M, or\n"
            "                      a quarter of the run's tokens when fewer)\n"
            "  --b-dec-init M      median (geometric, default), mean or zero of a sample\n"
            "  --lr LR             Adam step size (default 2e-4)\n"
            "  --beta1 B           Adam beta1 (default 0.9)\n"
            "  --beta2 B           Adam beta2 (default 0.999)\n"
            "  --adam-eps E        Adam epsilon > 0 (default 1e-8)\n"
            "  --warmup S          LR rises linearly over the first S steps (default 0)\n"
            "  --decay S           LR falls linearly to 0 over the last S steps (default 0)\n"
            "  --grad-clip C       clip the gradient's global norm to C (default 0: off;\n"
            "                      relu: 1)\n"
            "  --seed S            initial weights (default 0)\n"
            "  --batch B           tokens per step (default 4096, or T when smaller)\n"
            "  --device D          cpu, cuda or auto (default auto: the GPU when this build\n"
            "                      has CUDA, a GPU is present and A is topk, batchtopk or\n"
            "                      jumprelu; relu and gated train on the CPU)\n"
            "  --steps N           training steps (default: --epochs' worth)\n"
            "  --epochs E          passes over the tokens (default 10)\n"
            "  --log-every N       print every N steps (default: about 20 lines per run)\n"
            "  --model NAME        model name for cfg.json (default gpt2)\n"
            "  --hook NAME         hook name for cfg.json (default blocks.6.mlp.hook_pre)\n"
            "  --context-size N    tokens per window the activations came from (default 1024)\n"
            "  --quiet             no progress lines\n");
}

const char *const train_arch_options[] = {"--k", "--k-aux", "--aux-alpha", "--lambda", "--lambda-warmup",
                                          "--jump-eps", "--theta0", "--dead-tokens", "--lr", "--beta1", "--beta2",
                                          "--adam-eps", "--warmup", "--decay", "--grad-clip", "--seed", NULL};

int train_arch_add(TrainArchSet *s, const char *name, const char *val) {
    if (s->n >= TRAIN_ARCH_MAX_SET) return cli_error(2, "train: too many options");
    s->set[s->n][0] = name, s->set[s->n++][1] = val ? val : "1";
    return 0;
}

static int arch_collect(const char *name, const char *val, void *dst) { return train_arch_add(dst, name, val); }

void train_arch_table(TrainArchSet *s, CLIOpt t[TRAIN_ARCH_OPTS], int seed_too) {
    int n = 0;
    for (const char *const *a = train_arch_options; *a; a++)
        if (seed_too || (strcmp(*a, "--k") && strcmp(*a, "--lr") && strcmp(*a, "--seed")))
            t[n++] = (CLIOpt){*a, CLI_CALL, .dst = s, .fn = arch_collect};
    t[n++] = (CLIOpt){"--multi-topk", CLI_FLAG_CALL, .dst = s, .fn = arch_collect};
    t[n] = (CLIOpt){0};
}

int train_opt_bdec(const char *name, const char *val, void *dst) {
    int *init = dst;
    if (!strcmp(val, "median")) *init = SAE_BDEC_MEDIAN;
    else if (!strcmp(val, "mean")) *init = SAE_BDEC_MEAN;
    else if (!strcmp(val, "zero")) *init = SAE_BDEC_ZERO;
    else return cli_error(2, "option %s: '%s' is not median, mean or zero", name, val);
    return 0;
}

int train_arch_requested(int argc, char **argv, const char **arch) {
    int ended = 0;
    *arch = "seed";
    for (int i = 1; i < argc; i++) {
        if (cli_arg_kind(argv[i], &ended) != CLI_OPTION) continue;
        if (!strcmp(argv[i], "--arch") && i + 1 < argc) *arch = argv[++i];
        else if (!strncmp(argv[i], "--arch=", 7)) *arch = argv[i] + 7;
    }
    return strcmp(*arch, "seed") != 0;
}

/* sae_arch_check_params names SAEArchParams' fields; say them as the options */
static const char *const field_opt[][2] = {
    {"d_sae", "--latents"}, {"k_aux", "--k-aux"}, {"k", "--k"}, {"aux_alpha", "--aux-alpha"},
    {"lambda_warmup", "--lambda-warmup"}, {"lambda", "--lambda"}, {"jump_eps", "--jump-eps"},
    {"theta0", "--theta0"}, {"dead_tokens", "--dead-tokens"}, {"lr", "--lr"}, {"beta1", "--beta1"},
    {"beta2", "--beta2"}, {"adam_eps", "--adam-eps"}, {"warmup_steps", "--warmup"}, {"decay_steps", "--decay"},
    {"total_steps", "--steps"}, {"grad_clip", "--grad-clip"}, {"batch", "--batch"}};

static int fail_params(void) {
    const char *msg = err_get();
    for (size_t i = 0; i < sizeof field_opt / sizeof field_opt[0]; i++) {
        size_t n = strlen(field_opt[i][0]);
        if (!strncmp(msg, field_opt[i][0], n) && !strncmp(msg + n, " = ", 3))
            return cli_error(2, "train: option %s %s", field_opt[i][1], msg + n + 3);
    }
    return cli_error(2, "train: %s", msg);
}

/* Apply the architecture options set[i] = {name, value} (the names of
 * train_arch_options) to *p; -1 after a message naming a bad value. */
int train_arch_apply(SAEArchParams *p, const char *const (*set)[2], int n_set) {
    for (int j = 0; j < n_set; j++) {
        const char *o = set[j][0], *v = set[j][1];
        long iv;
        double x;
        int bad = 0;
        if (!strcmp(o, "--multi-topk")) p->multi_topk = 1;
        else if (!strcmp(o, "--k")) { bad = cli_int(o, v, -(1L << 30), 1L << 30, &iv); p->k = (int)iv; }
        else if (!strcmp(o, "--k-aux")) { bad = cli_int(o, v, -(1L << 30), 1L << 30, &iv); p->k_aux = (int)iv; }
        else if (!strcmp(o, "--lambda-warmup")) { bad = cli_int(o, v, -(1L << 40), 1L << 40, &iv); p->lambda_warmup = iv; }
        else if (!strcmp(o, "--dead-tokens")) { bad = cli_int(o, v, -(1L << 40), 1L << 62, &iv); p->dead_tokens = iv; }
        else if (!strcmp(o, "--warmup")) { bad = cli_int(o, v, -(1L << 40), 1L << 40, &iv); p->warmup_steps = iv; }
        else if (!strcmp(o, "--decay")) { bad = cli_int(o, v, -(1L << 40), 1L << 40, &iv); p->decay_steps = iv; }
        else if (!strcmp(o, "--seed")) { bad = cli_int(o, v, 0, 0x7fffffffffffffffL, &iv); p->seed = (uint64_t)iv; }
        else {
            bad = cli_float(o, v, -1e38, 1e38, &x);
            if (!strcmp(o, "--aux-alpha")) p->aux_alpha = (float)x;
            else if (!strcmp(o, "--lambda")) p->lambda = (float)x;
            else if (!strcmp(o, "--jump-eps")) p->jump_eps = (float)x;
            else if (!strcmp(o, "--theta0")) p->theta0 = (float)x;
            else if (!strcmp(o, "--lr")) p->lr = (float)x;
            else if (!strcmp(o, "--beta1")) p->beta1 = (float)x;
            else if (!strcmp(o, "--beta2")) p->beta2 = (float)x;
            else if (!strcmp(o, "--adam-eps")) p->adam_eps = (float)x;
            else if (!strcmp(o, "--grad-clip")) p->grad_clip = (float)x;
        }
        if (bad) return -1;
    }
    return 0;
}

typedef struct {
    FILE *log;           /* train_log.csv */
    long steps, every, steps_per_epoch;
    int quiet;
    double t0;
    double ep_sum[3];    /* this epoch's sums of loss, sparsity, recon */
    long ep_n;
    SAEResult *res;      /* per-epoch losses (the engine's losses.csv) */
    SAELosses *hist;
} StepCtx;

static void epoch_close(StepCtx *c) {
    if (c->ep_n == 0) return;
    SAELosses *l = &c->hist[c->res->epochs_done++];
    l->total = c->ep_sum[0] / c->ep_n;
    l->sparsity = c->ep_sum[1] / c->ep_n;
    l->decor = 0;
    l->mse = c->ep_sum[2] / c->ep_n;
    c->ep_sum[0] = c->ep_sum[1] = c->ep_sum[2] = 0;
    c->ep_n = 0;
}

static int on_step(void *vctx, long step, const SAEArchLog *g) {
    StepCtx *c = vctx;
    fprintf(c->log, "%ld,%.9g,%.9g,%.9g,%.9g,%.6g,%.9g,%.6g,%.9g,%.9g\n", step, g->loss, g->recon, g->sparsity,
            g->aux, g->l0, g->fvu, 100.0 * g->dead_frac, g->grad_norm, g->lr);
    c->ep_sum[0] += g->loss, c->ep_sum[1] += g->sparsity, c->ep_sum[2] += g->recon, c->ep_n++;
    if (step % c->steps_per_epoch == 0) epoch_close(c);
    if (!c->quiet && (step == 1 || step % c->every == 0 || step == c->steps)) {
        printf("step %6ld  loss %.5g (recon %.5g, sparsity %.5g, aux %.5g)  L0 %.1f  FVU %.4f  dead %.1f%%  (%.1fs)\n",
               step, g->loss, g->recon, g->sparsity, g->aux, g->l0, g->fvu, 100.0 * g->dead_frac, time_now() - c->t0);
        fflush(stdout);
    }
    return 0;
}

/* DIR as one unit: the SAELens folder, train_log.csv (already written into
 * the staging folder) and losses.csv */
static int write_unit(DirTxn *t, SAEArch *m, const SAEArchMeta *meta, const float *X, long T, const SAEResult *r) {
    float *dens = xmalloc((size_t)m->p.n * sizeof(float));
    sae_arch_log10_density(m, X, T, 256, dens);   /* 256 tokens at a time: (256, n) latents in memory */
    int rc = sae_arch_save_saelens(m, t->tmp, meta, dens);
    free(dens);
    char *lp = path_join(t->tmp, "losses.csv");
    if (rc == 0) rc = sae_save_losses(r, lp);
    free(lp);
    if (rc == 0) rc = dir_commit(t);
    return rc;
}

int cmd_train_arch(int argc, char **argv) {
    const char *acts = NULL, *out = NULL, *arch_name = NULL, *model = "gpt2", *hook = "blocks.6.mlp.hook_pre";
    int bdec = -1;   /* --b-dec-init: an SAEBdecInit, -1 when not given */
    CLIDevice device = CLI_DEVICE_AUTO;
    long latents = 0, steps = 0, epochs = 10, batch = 0, log_every = 0, ctx_size = 1024;
    int quiet = 0, st;
    TrainArchSet as = {0};   /* the options, kept until d is known: (name, value) */
    CLIOpt later[TRAIN_ARCH_OPTS];
    train_arch_table(&as, later, 1);
    const CLIOpt opts[] = {
        {"--acts", CLI_STR, .dst = &acts},
        {"-o", CLI_STR, .dst = &out},
        {"--out", CLI_STR, .dst = &out},
        {"--arch", CLI_STR, .dst = &arch_name},
        {"--latents", CLI_LONG, .dst = &latents, .lo = 1, .hi = 1 << 26},
        {"--b-dec-init", CLI_CALL, .dst = &bdec, .fn = train_opt_bdec},
        {"--batch", CLI_LONG, .dst = &batch, .lo = 1, .hi = 1 << 24},
        {"--steps", CLI_LONG, .dst = &steps, .lo = 1, .hi = 1L << 40},
        {"--epochs", CLI_LONG, .dst = &epochs, .lo = 1, .hi = 100000000},
        {"--log-every", CLI_LONG, .dst = &log_every, .lo = 1, .hi = 1L << 40},
        {"--device", CLI_DEVICE, .dst = &device},
        {"--model", CLI_STR, .dst = &model},
        {"--hook", CLI_STR, .dst = &hook},
        {"--context-size", CLI_LONG, .dst = &ctx_size, .lo = 1, .hi = 1 << 24},
        {"--quiet", CLI_SET, .dst = &quiet, .value = 1},
        {0}};
    const CLISpec spec = {"train", {opts, later}, .usage = usage,
                          .refuse = "train takes only options: --acts X.npy -o DIR"};
    if (cli_parse(&spec, argc, argv, &st)) return st;
    SAEArchKind kind;
    if (!arch_name || sae_arch_parse(arch_name, &kind) != 0)
        return cli_error(2, "option --arch: '%s' is not seed, topk, batchtopk, jumprelu, relu or gated",
                         arch_name ? arch_name : "");
    int on_gpu;
    if (train_arch_check_device(kind, device) != 0) return 2;
    if (cli_device(device, &on_gpu) != 0) return 1;
    on_gpu = on_gpu && train_arch_has_gpu(kind);
    if (!acts) { usage(stderr); return cli_error(2, "train: --acts X.npy is required"); }
    if (!out) { usage(stderr); return cli_error(2, "train: -o DIR is required"); }

    Npy a;
    if (npy_map(&a, acts) != 0) return cli_fail();
    if (npy_check_f32_rows(&a, acts, "activations") != 0) { npy_free(&a); return cli_fail(); }
    long d = (long)a.shape[a.ndim - 1], T = d > 0 ? (long)(a.numel / d) : 0;
    int status = 0;
    SAEArch m;
    memset(&m, 0, sizeof m);
    DirTxn t;
    memset(&t, 0, sizeof t);
    StepCtx c;
    memset(&c, 0, sizeof c);
    SAEResult res;
    memset(&res, 0, sizeof res);
    if (T < 1 || d < 1 || d > (1 << 24)) {
        status = cli_error(1, "%s: activations of %ld tokens of width %ld; capture some text first", acts, T, d);
        goto done;
    }
    if (sae_check_input(a.f32, T, (int)d) != 0) { err_prefix("%s", acts); status = cli_fail(); goto done; }
    if (batch == 0) batch = T < 4096 ? T : 4096;
    if (batch > T) { status = cli_error(2, "option --batch %ld: more than the %ld tokens of %s", batch, T, acts); goto done; }
    const long per_epoch = T / batch;
    if (steps == 0) steps = epochs * per_epoch;

    SAEArchParams p = sae_arch_default_params(kind, (int)d, latents ? (int)latents : (int)(2 * d));
    long tokens = steps * batch;
    p.dead_tokens = tokens / 4 < p.dead_tokens ? (tokens / 4 > 0 ? tokens / 4 : 1) : p.dead_tokens;
    p.total_steps = steps;
    if (bdec >= 0) p.b_dec_init = (SAEBdecInit)bdec;
    if (train_arch_apply(&p, (const char *const (*)[2])as.set, as.n) != 0) { status = 2; goto done; }
    if (sae_arch_check_params(&p) != 0) { status = fail_params(); goto done; }
    /* DIR must be writable as one unit: staged now, train_log.csv written into it as we go */
    if (dir_begin(&t, out) != 0) { status = cli_fail(); goto done; }
    const int S = T < 4096 ? (int)T : 4096; /* the sample for b_dec (and relu's input scale) */
    if (sae_arch_init(&m, &p, a.f32, S) != 0) { status = fail_params(); goto done; }
    char *lp = path_join(t.tmp, "train_log.csv");
    c.log = fopen(lp, "w");
    free(lp);
    if (!c.log) { status = cli_error(1, "%s: cannot write train_log.csv", out); goto done; }
    fprintf(c.log, "step,loss,recon,sparsity,aux,l0,fvu,dead_pct,grad_norm,lr\n");
    c.steps = steps;
    c.every = log_every ? log_every : (steps / 20 > 0 ? steps / 20 : 1);
    c.steps_per_epoch = per_epoch;
    c.quiet = quiet;
    c.t0 = time_now();
    c.res = &res;
    c.hist = xcalloc((size_t)(steps / per_epoch + 2), sizeof(SAELosses));
    res.losses = c.hist;
    if (!quiet)
        printf("train: %s, %ld tokens x %ld, %d latents, %ld steps of %ld tokens, on the %s\n", sae_arch_name(kind), T,
               d, p.n, steps, batch, on_gpu ? "GPU" : "CPU");
    /* one trainer contract, two devices */
    SAEArchTrainFn train = on_gpu ? cuda_arch_train : sae_arch_train;
    int trc = train(&m, a.f32, T, (int)batch, steps, on_step, &c);
    epoch_close(&c);
    int wrc = fclose(c.log);
    c.log = NULL;
    SAEArchMeta meta = {model, hook, (int)ctx_size, acts};
    if (trc != 0) {
        fprintf(stderr, "gpt2sae: train: %s\n", err_get());
        if (m.step > 0 && wrc == 0 && write_unit(&t, &m, &meta, a.f32, T, &res) == 0)
            fprintf(stderr, "gpt2sae: train: %s/sae_weights.safetensors holds the last weights whose loss was finite "
                            "(after %ld good steps); train_log.csv has those steps\n", out, m.step);
        status = 1;
    } else if (wrc != 0 || write_unit(&t, &m, &meta, a.f32, T, &res) != 0) {
        if (wrc != 0) err_set("%s: train_log.csv: write failed", out);
        status = cli_fail();
    } else if (!quiet) {
        printf("train: done in %.1fs\ntrain: wrote %s/{sae_weights.safetensors, cfg.json, sparsity.safetensors, "
               "train_log.csv, losses.csv}\n", time_now() - c.t0, out);
    }
done:
    if (c.log) fclose(c.log);
    dir_abort(&t);
    free(c.hist);
    sae_arch_free(&m);
    npy_free(&a);
    return status;
}

/* ---- the pipeline's training stage (cli/cmd_pipeline.c) ---- */

int train_arch_has_gpu(SAEArchKind kind) {
    return kind == SAE_ARCH_TOPK || kind == SAE_ARCH_BATCHTOPK || kind == SAE_ARCH_JUMPRELU;   /* cuda/cuda_arch.cu */
}

int train_arch_check_device(SAEArchKind kind, CLIDevice dev) {
    if (dev == CLI_DEVICE_CUDA && !train_arch_has_gpu(kind))
        return cli_error(2, "--device cuda: --arch %s trains on the CPU only; use --device cpu or auto (or --arch "
                            "topk, batchtopk or jumprelu)", sae_arch_name(kind));
    return 0;
}

typedef struct {
    StepCtx c;
    void (*progress)(void *ctx, long step, long steps, double loss);
    void *pctx;
} FitCtx;

static int fit_step(void *vctx, long step, const SAEArchLog *g) {
    FitCtx *f = vctx;
    f->c.ep_sum[0] += g->loss, f->c.ep_sum[1] += g->sparsity, f->c.ep_sum[2] += g->recon, f->c.ep_n++;
    if (step % f->c.steps_per_epoch == 0) epoch_close(&f->c);
    if (f->progress) f->progress(f->pctx, step, f->c.steps, g->loss);
    return 0;
}

int train_arch_fit(SAEArch *m, const TrainArchOpts *o, const float *X, long T, int d, SAEResult *res,
                   void (*progress)(void *ctx, long step, long steps, double loss), void *pctx) {
    memset(res, 0, sizeof *res);
    SAEArchKind kind;
    if (sae_arch_parse(o->arch, &kind) != 0) return err_prefix("--arch");
    const long batch = o->batch > 0 && o->batch < T ? o->batch : T, per_epoch = T / batch;
    const long steps = (long)o->epochs * per_epoch;
    SAEArchParams p = sae_arch_default_params(kind, d, o->n > 0 ? o->n : 2 * d);
    if (o->k > 0) p.k = o->k;
    if (o->lr > 0) p.lr = o->lr;
    p.seed = o->seed;
    if (train_arch_apply(&p, o->set, o->n_set) != 0) return err_set("bad option value (see above)");
    p.total_steps = steps;
    long tokens = steps * batch;
    if (tokens / 4 < p.dead_tokens) p.dead_tokens = tokens / 4 > 0 ? tokens / 4 : 1;
    if (sae_arch_check_params(&p) != 0) {
        const char *msg = err_get();
        for (size_t i = 0; i < sizeof field_opt / sizeof field_opt[0]; i++) {
            size_t n = strlen(field_opt[i][0]);
            if (!strncmp(msg, field_opt[i][0], n) && !strncmp(msg + n, " = ", 3)) {
                char *copy = strdup(msg + n + 3);
                err_set("option %s %s", !strcmp(field_opt[i][1], "--latents") ? "--L" : field_opt[i][1], copy);
                free(copy);
                break;
            }
        }
        return -1;
    }
    if (sae_arch_init(m, &p, X, T < 4096 ? (int)T : 4096) != 0) return -1;
    FitCtx f;
    memset(&f, 0, sizeof f);
    f.c.steps = steps;
    f.c.steps_per_epoch = per_epoch;
    f.c.res = res;
    f.c.hist = xcalloc((size_t)(steps / per_epoch + 2), sizeof(SAELosses));
    res->losses = f.c.hist;
    res->epochs = o->epochs;
    f.progress = progress;
    f.pctx = pctx;
    SAEArchTrainFn train = o->gpu && train_arch_has_gpu(kind) ? cuda_arch_train : sae_arch_train;
    int rc = train(m, X, T, (int)batch, steps, fit_step, &f);
    epoch_close(&f.c);
    return rc;
}
