/*
 * cli/cmd_pipeline.c - `./run [OPTIONS] FILE...`: the whole seed notebook,
 * one function per stage over one state (Pipeline, cli/pipeline.h); the run
 * itself, pipeline_run, reads as the list of stages.
 *
 * Stages, in order (each logged on stderr; a progress bar when it is a TTY):
 *   1. read the inputs (files, or every file in a folder): one corpus; each
 *      must exist, be non-empty and be UTF-8 text (else: its name, the byte
 *      offset, and a non-zero exit) - before anything slow happens
 *   2. make the output's temporary folder next to the final one (so an
 *      unwritable --out fails now, and a good old report survives a failure)
 *   3. tokenize with GPT-2's BPE: the --weights folder's own vocab.json and
 *      merges.txt when it has them, else the cache (fetched on first use)
 *   4. get the weights: --weights PATH, the cache (fetched on first use), or
 *      --random-weights (a synthetic GPT-2 small, seeded, cached)
 *   5. capture layer n_layer/2's mlp_pre for every text (gpt2_stream: windows
 *      of n_ctx), streamed into activations.npy in the temporary folder and
 *      mapped back (the corpus costs disk, not memory); on the GPU the rows
 *      also stay on the device for the training
 *   6. train the seed's sparse autoencoder on the CPU or the GPU (sae_train;
 *      full batch for one text, as the seed; minibatches over the corpus
 *      otherwise), or --arch's (train_arch_fit: on the GPU for the
 *      architectures it has)
 *   7. score the latents in one pass (sae_score): encode everything a chunk
 *      at a time into latents.npy (mapped back the same way) while adding up
 *      density, mean nonzero activation, L0, dead latents, the word-category
 *      score and the variance explained
 *   7b. splice the SAE into the model on the same text (CE loss, KL); on the
 *      GPU, the model's passes there (cuda_eval_grab / cuda_eval_resume)
 *   7c. a small feature browser of its own latents (features/features.h) in
 *      features/: from latents.npy (no second forward or encode), for at
 *      most --browser N latents (feat_pick's rule: the drawn ones, then the
 *      rankings by activation, word-category score and density in turn,
 *      live ones only), so their logit effects cost N, not L, products
 *      through W_out and the unembedding
 *   8. write figures, report.html (linking the browser), summary.json, the
 *      SAE, latents.npy and losses.csv into the temporary folder
 *      (cli/pipeline_out.c), then swap it into place
 * --device (cpu, cuda, auto) is resolved once, by cli_device; under auto a
 * GPU that fails to set up sends that stage and the later ones to the CPU.
 * Stages 3 to 8 are timed, wall and CPU seconds each (summary.json).
 */
#include "cli/cli.h"
#include "cli/pipeline.h"
#include "core/dir.h"
#include "core/pool.h"
#include "core/util.h"
#include "data/corpus.h"
#include "cuda/cuda.h"
#include "features/features.h"
#include "weights/fetch.h"

#include <stdarg.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

/* 7c's default: latents in the feature browser */
#define BROWSER_DEFAULT 192

static void pipeline_default_opts(PipelineOpts *o) {
    memset(o, 0, sizeof *o);
    o->model = "gpt2";
    o->site = "mlp_pre";
    o->category = "Geography";
    o->device = CLI_DEVICE_AUTO;
    o->layer = -1;
    o->epochs = 100;
    o->batch = 1024;
    o->top = 5;
    o->browser = BROWSER_DEFAULT;
    o->lr = 1e-4f;
}

/* ---- the stages' times: wall and CPU seconds ---------------------------------- */

void pipeline_stage_end(Pipeline *P, int s) {
    P->t_stage[s] = time_now() - P->t0;
    P->c_stage[s] = cpu_now() - P->c0;
}

/* ---- progress: a bar on a terminal, one line per stage otherwise ---------- */

static void stage_begin(Pipeline *P, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void stage_begin(Pipeline *P, const char *fmt, ...) {
    P->stage_t0 = time_now();
    if (P->o->quiet) return;
    char name[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    fprintf(stderr, "[%6.1fs] %s\n", P->stage_t0 - P->t0, name);
}

/* A bar "  training [#####.....]  45/100  loss 0.1234" redrawn in place. */
static void progress_bar(const Pipeline *P, const char *what, long done, long total, const char *extra) {
    if (P->o->quiet || !P->tty || total <= 0) return;
    int width = 30, fill = (int)(width * done / total);
    char bar[64];
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
    bar[width] = 0;
    double el = time_now() - P->stage_t0, eta = done > 0 ? el * (total - done) / done : 0;
    fprintf(stderr, "\r  %-9s [%s] %ld/%ld %s  %.0fs, %.0fs left\x1b[K", what, bar, done, total, extra ? extra : "",
            el, eta);
    if (done >= total) fprintf(stderr, "\n");
    fflush(stderr);
}

/* ---- stage 1: the inputs --------------------------------------------------- */

/* Read one input and check it is non-empty UTF-8 text. */
static int read_input(InputText *in) {
    if (file_read_all(in->path, &in->text, &in->len) != 0) return -1;
    if (in->len == 0) return err_set("%s: the file is empty (give a text to analyse)", in->path);
    size_t bad;
    if (bpe_utf8_check(in->text, in->len, &bad) != 0)
        return err_set("%s: not UTF-8 text: invalid byte 0x%02x at byte offset %zu (is it a binary file? "
                       "convert it to UTF-8 first)", in->path, (unsigned char)in->text[bad], bad);
    const char *nul = memchr(in->text, 0, in->len);
    if (nul)
        return err_set("%s: contains a NUL byte at byte offset %zu: a binary file, not text", in->path,
                       (size_t)(nul - in->text));
    size_t ws = 0;
    while (ws < in->len && strchr(" \t\r\n\f\v", in->text[ws])) ws++;
    if (ws == in->len) return err_set("%s: the file holds only white space (give a text to analyse)", in->path);
    return 0;
}

/* 1. every input read and checked before anything slow */
static int stage_inputs(Pipeline *P, const char **args, int n_args) {
    stage_begin(P, "reading the inputs");
    char **paths = NULL;
    size_t nf = 0, skipped = 0;
    int rc = corpus_list_names(args, n_args, CORPUS_ANY_NAME, &paths, &nf, &skipped), n = (int)nf;
    P->title = args[0];
    P->in = xcalloc(n ? n : 1, sizeof *P->in);
    for (int i = 0; i < n; i++) P->in[i].path = paths[i];   /* owned by in[] from here */
    P->n_in = n;
    free(paths);
    for (int i = 0; i < n && rc == 0; i++) {
        rc = read_input(&P->in[i]);
        P->total_bytes += P->in[i].len;
    }
    return rc;
}

/* ---- stage 2: the output folder ---------------------------------------------- */

/* 2. the output folder's staging twin (so an unwritable --out fails now, and
 * a failure keeps the old one) */
static int stage_output_folder(Pipeline *P) {
    if (P->o->out_dir) {
        P->out_dir = xstrdup(P->o->out_dir);
    } else {   /* out/<name of the first input> */
        char *stem = path_stem(P->title);   /* "texts/" -> "texts" */
        P->out_dir = path_join("out", stem[0] ? stem : "corpus");
        free(stem);
    }
    return dir_begin(&P->txn, P->out_dir);
}

/* ---- stage 3: tokens ----------------------------------------------------------- */

/* 3. every text's tokens, one after the other */
static int stage_tokenize(Pipeline *P) {
    stage_begin(P, "tokenizing (GPT-2 BPE)");
    if (cli_tokenizer_load(&P->bpe, P->o->weights) != 0) return -1;
    for (int i = 0; i < P->n_in; i++) {
        InputText *in = &P->in[i];
        in->t0 = (int)P->ids.n;
        if (bpe_encode(&P->bpe, in->text, in->len, 0, &P->ids) != 0) return err_prefix("%s", in->path);
        in->T = (int)P->ids.n - in->t0;
    }
    P->T = (long)P->ids.n;
    if (P->T < 2)
        return err_set("%s: only %ld token; the autoencoder needs at least 2 (give a longer text)", P->in[0].path,
                       P->T);
    return 0;
}

/* ---- stage 4: the model -------------------------------------------------------- */

/* The weights' folder or file: --weights, --random-weights (synthesised once
 * into the cache), or the official ones (fetched on first use). */
static char *weights_path(Pipeline *P) {
    const PipelineOpts *o = P->o;
    if (o->weights) return xstrdup(o->weights);
    if (o->random_weights) {
        int made;
        char *dir = cli_weights_random(o->model, o->seed, &made);
        if (made) stage_begin(P, "synthesised a random checkpoint into the cache (once)");
        return dir;
    }
    char *dir;
    if (fetch_model(o->model, &dir) != 0) {
        err_prefix("no weights for %s", o->model);
        return NULL;
    }
    return dir;
}

/* 4. the weights, the captured layer and site, the device. Returns 0, -1, or
 * 1 when the hint for missing weights has been printed. */
static int stage_weights(Pipeline *P) {
    const PipelineOpts *o = P->o;
    if (cli_device(o->device, &P->use_cuda) != 0) return 1;   /* cuda without a GPU: said, before the slow part */
    stage_begin(P, o->random_weights ? "loading random weights" : "loading the weights");
    P->wpath = weights_path(P);
    if (!P->wpath) {
        if (o->weights || o->random_weights) return -1;
        fprintf(stderr, "gpt2sae: %s\n", err_get());
        fprintf(stderr, "gpt2sae: hint: give a checkpoint with --weights PATH (a folder or .safetensors), or run\n"
                        "         offline on synthetic weights with --random-weights (outputs are then marked\n"
                        "         \"%s\")\n", RANDOM_LABEL);
        return 1;
    }
    if (gpt2_model_load(&P->m, P->wpath) != 0) return -1;
    if (P->m.cfg.random || o->random_weights) P->label = RANDOM_LABEL;
    if (P->label && !o->quiet) fprintf(stderr, "*** %s ***\n", P->label);
    P->layer = o->layer >= 0 ? o->layer : P->m.cfg.n_layer / 2;
    if (gpt2_site_parse(o->site, &P->layer, &P->site) != 0) return err_prefix("option --site");
    if (P->layer >= P->m.cfg.n_layer)
        return err_set("option --layer: %d, but %s has layers 0..%d", P->layer, P->m.cfg.name, P->m.cfg.n_layer - 1);
    P->d = gpt2_site_width(&P->m.cfg, P->site);
    int L_want = o->L ? o->L : 2 * P->d; /* sae_init's default: the seed's 2d */
    for (int i = 0; i < o->n_draw; i++)
        if (o->draw[i] >= L_want)
            return err_set("option --latents: latent %d does not exist (the autoencoder has %d: 0..%d)", o->draw[i],
                           L_want, L_want - 1);
    return 0;
}

/* ---- stage 5: the activations ---------------------------------------------- */

/* Room on the disk for a corpus of T tokens, checked before the slow part:
 * the activations (T, d) and the latents (T, L) go to activations.npy and
 * latents.npy in the output folder and are mapped back from there (they need
 * disk, not memory). $GPT2SAE_DISK_FREE (bytes), when set, is taken as the
 * free space instead of what the file system reports (documented in --help). */
static int check_room(const Pipeline *P, int L) {
    long T = P->T;
    int d = P->d;
    double need = 4.0 * ((double)T * d + (double)T * L);
    struct statvfs fs;
    double disk = statvfs(P->txn.tmp, &fs) == 0 ? (double)fs.f_bavail * (double)fs.f_frsize : -1;
    const char *env = getenv("GPT2SAE_DISK_FREE");
    if (env && atof(env) > 0) disk = atof(env);
    if (disk >= 0 && need > 0.95 * disk)
        return err_set("%s: %ld tokens need about %.1f MB of disk for activations.npy (%ld x %d) and latents.npy "
                       "(%ld x %d), but %s has %.1f MB free; free some space, choose another --out, or give "
                       "fewer texts", P->n_in > 1 ? "the corpus" : P->in[0].path, T, need / 1e6, T, d, T, L,
                       P->out_dir, disk / 1e6);
    return 0;
}

/* Capture every text, window by window (n_ctx tokens), streamed into
 * activations.npy in the staging folder. On the GPU (g != NULL) the rows
 * also stay on the device in P->d_X (T, d) for the training. */
static int capture_texts(Pipeline *P, CUDAGPT2 *g) {
    char *path = path_join(P->txn.tmp, "activations.npy");
    NpyWriter w;
    GPT2Forward fw;
    GPT2Stream gs;
    gpt2_forward_init(&fw, &P->m);
    gpt2_stream_init(&gs, &fw);
    int rc = npy_writer_begin(&w, path, (int64_t[]){P->T, P->d}, 2);
    if (rc == 0 && !g) rc = gpt2_stream_add(&gs, P->layer, P->site, gpt2_rows_to_npy, &w);
    for (int i = 0; i < P->n_in && rc == 0; i++) {
        const InputText *in = &P->in[i];
        const int32_t *ids = P->ids.ids + in->t0;
        if (g)
            rc = cuda_gpt2_stream(g, ids, in->T, in->t0, P->layer, P->site, gpt2_rows_to_npy, &w,
                                  P->d_X + (size_t)in->t0 * P->d);
        else
            rc = gpt2_stream_run(&gs, ids, in->T);
        if (rc != 0) err_prefix("%s", in->path);
        if (P->n_in > 1) progress_bar(P, "capture", i + 1, P->n_in, NULL);
    }
    gpt2_stream_free(&gs);
    gpt2_forward_free(&fw);
    if (rc == 0) rc = npy_writer_end(&w);
    else npy_writer_abort(&w);
    free(path);
    return rc;
}

/* The same on the GPU; on failure the device memory is released. */
static int capture_texts_cuda(Pipeline *P) {
    CUDAGPT2 *g = NULL;
    int rc = cuda_malloc((void **)&P->d_X, sizeof(float) * (size_t)P->T * P->d);
    if (rc == 0) rc = cuda_gpt2_init(&g, &P->m, P->m.cfg.n_ctx);
    if (rc == 0) rc = capture_texts(P, g);
    cuda_gpt2_free(g);
    if (rc != 0) {
        cuda_free(P->d_X);
        P->d_X = NULL;
    }
    return rc;
}

/* 5. the activations X (T, d): activations.npy, mapped back (X costs no
 * memory of its own) */
static int stage_capture(Pipeline *P) {
    const PipelineOpts *o = P->o;
    if (check_room(P, o->L ? o->L : 2 * P->d) != 0) return -1;
    stage_begin(P, "running GPT-2 to layer %d %s: %ld tokens x %d (%s)", P->layer, gpt2_site_name(P->site), P->T,
                P->d, P->use_cuda ? "cuda" : "cpu");
    if (P->use_cuda && capture_texts_cuda(P) != 0) {
        if (cli_device_fallback(o->device) != 0) return -1;
        P->use_cuda = 0;
    }
    if (!P->use_cuda && capture_texts(P, NULL) != 0) return -1;
    char *path = path_join(P->txn.tmp, "activations.npy");
    int rc = npy_map(&P->xa, path);
    free(path);
    return rc;
}

/* ---- stage 6: the autoencoder ------------------------------------------------ */

static int on_epoch(void *ctx, int epoch, int epochs, const SAELosses *l, const SAE *sae) {
    (void)sae;
    char extra[64];
    snprintf(extra, sizeof extra, " loss %.4f", l->total);
    progress_bar(ctx, "training", epoch, epochs, extra);
    return 0;
}

/* 6. train the seed's SAE on X; one text (<= --batch tokens) trains
 * full-batch as the seed */
static void arch_progress(void *ctx, long step, long steps, double loss) {
    Pipeline *P = ctx;
    char extra[64];
    snprintf(extra, sizeof extra, " loss %.4g", loss);
    progress_bar(P, "training", (int)step, (int)steps, extra);
}

/* 6'. --sae DIR: an SAE trained elsewhere (any layout eval_sae_load reads),
 * or --arch A: one of sae/arch.h's trained here; either is then used through
 * P->ext (EvalSAE's encode/decode) */
static int stage_train_ext(Pipeline *P) {
    const PipelineOpts *o = P->o;
    char hook[64];
    gpt2_site_tl_name(hook, sizeof hook, P->layer, P->site);
    if (o->sae_dir) {
        stage_begin(P, "loading the SAE in %s", o->sae_dir);
        if (eval_sae_load(&P->ext, o->sae_dir) != 0) return err_prefix("--sae %s", o->sae_dir);
        P->use_ext = 1;
        if (P->ext.d_in != P->d || strcmp(P->ext.hook, hook) != 0)
            return err_set("--sae %s: the SAE reads %s (d_in %d), but this run captured %s (%d wide); give the "
                           "matching --layer and --site, or an SAE trained on %s", o->sae_dir, P->ext.hook,
                           P->ext.d_in, hook, P->d, hook);
        SAEArch *m = P->ext.owns_impl == 2 ? P->ext.impl : NULL;
        P->sae.k = m ? (m->p.arch == SAE_ARCH_TOPK ? m->p.k : 0) : ((SAE *)P->ext.impl)->k;
    } else {
        SAEArch *m = xcalloc(1, sizeof *m);
        TrainArchOpts ao = {o->arch, o->L, o->k, o->batch, o->epochs, o->lr_given ? o->lr : 0, o->seed,
                            (const char *const (*)[2])o->arch_set.set, o->arch_set.n, P->use_cuda};
        SAEArchKind kind;
        int gpu = P->use_cuda && sae_arch_parse(o->arch, &kind) == 0 && train_arch_has_gpu(kind);
        stage_begin(P, "training the SAE (%s): %d epochs, on the %s", o->arch, o->epochs, gpu ? "GPU" : "CPU");
        int rc = train_arch_fit(m, &ao, P->xa.f32, P->T, P->d, &P->res, arch_progress, P);
        eval_sae_wrap_arch(&P->ext, m, P->m.cfg.name, hook);
        P->ext.owns_impl = 2;
        P->use_ext = 1;
        if (rc != 0) return -1;
        P->sae.k = m->p.arch == SAE_ARCH_TOPK || m->p.arch == SAE_ARCH_BATCHTOPK ? m->p.k : 0;
    }
    P->sae.d = P->ext.d_in;
    P->sae.L = P->ext.d_sae;
    P->p = sae_default_params();
    P->p.lr = o->lr;
    P->p.batch = o->batch;
    cuda_free(P->d_X);
    P->d_X = NULL;
    return 0;
}

static int stage_train(Pipeline *P) {
    const PipelineOpts *o = P->o;
    if (o->sae_dir || (o->arch && strcmp(o->arch, "seed") != 0)) return stage_train_ext(P);
    SAEParams *p = &P->p;
    *p = sae_default_params();
    p->latents = o->L;
    p->k = o->k;
    p->epochs = o->epochs;
    p->batch = P->T <= o->batch ? 0 : o->batch;
    p->lr = o->lr;
    p->seed = o->seed;
    p->want_latents = 0;   /* the scoring pass encodes them, chunk by chunk, into latents.npy */
    p->device = P->use_cuda ? SAE_CUDA : SAE_CPU;
    p->backend = cuda_sae_backend();
    p->d_X = P->d_X;
    p->on_epoch = on_epoch;
    p->ctx = P;
    if (sae_init(&P->sae, P->d, p) != 0)
        return err_prefix("the autoencoder (--L %d, --k %d, width %d)", o->L, o->k, P->d);
    stage_begin(P, "training the SAE: %d latents, k %d, %d epochs, %s", P->sae.L, P->sae.k, p->epochs,
                p->batch ? "minibatches" : "full batch");
    int rc = sae_train(&P->sae, P->xa.f32, P->T, p, &P->res);
    cuda_free(P->d_X);   /* the device copy is done with */
    P->d_X = NULL;
    p->d_X = NULL;
    return rc;
}

/* ---- stage 7: the scores ------------------------------------------------------ */

static void ext_encode(void *ctx, const float *X, long T, float *F) { EvalSAE *s = ctx; s->encode(s, X, T, F); }
static void ext_decode(void *ctx, const float *F, long T, float *X) { EvalSAE *s = ctx; s->decode(s, F, T, X); }

/* 7. one pass over X: latents.npy (mapped back), the statistics and the
 * word-category score */
static int stage_score(Pipeline *P) {
    const PipelineOpts *o = P->o;
    stage_begin(P, "scoring the latents");
    int32_t *words = xmalloc(sizeof(int32_t) * (o->n_words ? o->n_words : 1));   /* (n_words) first token of each */
    for (int w = 0; w < o->n_words; w++) words[w] = bpe_first_token(&P->bpe, o->words[w]);
    P->target = xmalloc((size_t)P->T);
    sae_word_mask(P->target, P->ids.ids, P->T, words, o->n_words);
    free(words);
    char *path = path_join(P->txn.tmp, "latents.npy");
    int rc = P->use_ext ? sae_score_with(&P->st, P->ext.d_sae, P->ext.d_in, ext_encode, ext_decode, &P->ext, P->xa.f32,
                                         P->T, P->target, path)
                        : sae_score(&P->st, &P->sae, P->xa.f32, P->T, P->target, path);
    if (rc == 0) rc = npy_map(&P->za, path);
    free(path);
    return rc;
}

/* 7b. the SAE spliced into the model on its own text: CE/KL scores and the
 * reconstruction metrics (eval/metrics.h), one window of min(T, n_ctx) tokens
 * at a time; on the GPU the model's passes run there (the weights uploaded
 * once), the SAE's encode and decode on the CPU as eval_run does */
static int stage_eval(Pipeline *P) {
    stage_begin(P, "splicing the SAE into the model (CE loss, KL, variance explained; %s)",
                P->use_cuda ? "cuda" : "cpu");
    char hook[64];
    gpt2_site_tl_name(hook, sizeof hook, P->layer, P->site);
    EvalSAE es;
    if (P->use_ext) es = P->ext, es.owns_impl = 0;   /* a view */
    else eval_sae_wrap(&es, &P->sae, P->m.cfg.name, hook);
    EvalParams ep = eval_default_params();
    ep.ctx = P->T < P->m.cfg.n_ctx ? (int)P->T : P->m.cfg.n_ctx;
    CUDAGPT2 *g = NULL;
    EvalPasses gpu = {cuda_eval_grab, cuda_eval_resume, NULL};
    if (P->use_cuda) {
        if (cuda_gpt2_init(&g, &P->m, ep.ctx) == 0) gpu.user = g, ep.passes = &gpu;
        else if (cli_device_fallback(P->o->device) != 0) return err_prefix("the evaluation");
    }
    GPT2Forward f;
    gpt2_forward_init(&f, &P->m);
    int rc = eval_run(&P->ev, &f, &es, P->ids.ids, P->T, &ep);
    gpt2_forward_free(&f);
    cuda_gpt2_free(g);
    return rc;
}

/* 7c. the feature browser of the run's own latents, into features/ */
static int stage_browser(Pipeline *P) {
    const PipelineOpts *o = P->o;
    int L = P->sae.L;
    if (o->browser == 0) return 0;
    stage_begin(P, "feature browser: up to %d of %d latents", o->browser, L);
    double t0 = time_now(), c0 = cpu_now();   /* CPU time too: on a busy machine it says what the stage costs */
    /* the latents the report draws (pipeline_draw), then the three rankings in turn */
    int seed_rank[2], seed_pick[2];
    const int *first;
    const int n_first = pipeline_draw(P, seed_rank, seed_pick, &first);
    const int *rank[3] = {P->st.by_activation, P->st.by_score, P->st.by_density};
    int *sel = xmalloc(sizeof(int) * o->browser);
    int n = feat_pick(sel, o->browser, first, n_first, rank, 3, L, P->st.density);
    if (n == 0) {   /* every latent dead: nothing to show */
        free(sel);
        return 0;
    }
    long *bounds = xmalloc(sizeof(long) * (P->n_in + 1));   /* (n_in + 1) */
    for (int k = 0; k < P->n_in; k++) bounds[k] = P->in[k].t0;
    bounds[P->n_in] = P->T;
    char hook[64], sel_rule[256], corpus[512];
    gpt2_site_tl_name(hook, sizeof hook, P->layer, P->site);
    snprintf(sel_rule, sizeof sel_rule, "the latents drawn in report.html, then by mean activation, %s score and density "
             "in turn; live ones only; at most %d (--browser)", o->category, o->browser);
    snprintf(corpus, sizeof corpus, "%s%s (%ld tokens)", P->in[0].path, P->n_in > 1 ? " and more" : "", P->T);
    EvalSAE es;
    if (P->use_ext) es = P->ext, es.owns_impl = 0;   /* a view */
    else eval_sae_wrap(&es, &P->sae, P->m.cfg.name, hook);
    FeatLatents z = {P->ids.ids, P->za.f32, P->T, L, bounds, P->n_in, P->m.cfg.n_ctx, sel, n};
    FeatInfo info = {P->label ? "random GPT-2" : P->m.cfg.name, hook, "this run's SAE", P->label, corpus,
                     0, 0, 0, 0, 0, sel_rule};
    FeatParams fp = feat_default_params();
    FeatTimes tm;
    char *dir = path_join(P->txn.tmp, "features");
    int rc = feat_build(dir, &P->m, &es, &P->bpe, &z, &fp, &info, &tm);
    if (rc == 0 && !o->quiet)
        fprintf(stderr, "  %d latents in %.2f s (CPU %.2f s): statistics %.3f s, logit effects %.3f s, files %.3f s\n",
                n, time_now() - t0, cpu_now() - c0, tm.upkeep, tm.logits, tm.write);
    free(dir), free(bounds), free(sel);
    return rc == 0 ? 0 : err_prefix("the feature browser");
}

/* ---- stage 8: the outputs ------------------------------------------------------ */

/* 8. figures, report, checkpoint, losses, summary: all into the staging
 * folder (cli/pipeline_out.c), which is then swapped into place */
static int stage_write(Pipeline *P) {
    stage_begin(P, "writing figures, report and checkpoint");
    if (pipeline_write_outputs(P) != 0) return -1;
    return dir_commit(&P->txn);
}

/* ---- the run ------------------------------------------------------------------ */

/* The closing lines on stderr. */
static void print_summary(const Pipeline *P) {
    const SAEStats *st = &P->st;
    const int L = P->sae.L, E = P->res.epochs_done;
    const SAELosses *fl = E ? &P->res.losses[E - 1] : NULL;
    if (P->label) fprintf(stderr, "*** %s ***\n", P->label);
    fprintf(stderr, "%ld tokens, layer %d %s (%d wide) -> %d latents, k %d, %d epochs\n", P->T, P->layer,
            gpt2_site_name(P->site), P->d, L, P->sae.k, E);
    if (fl)
        fprintf(stderr, "final loss %.4f (sparsity %.4f, decorrelation %.4g); variance explained %.1f%%; L0 %.1f\n",
                fl->total, fl->sparsity, fl->decor, 100 * st->fve, st->mean_l0);
    fprintf(stderr, "%.2f%% of latents active (%d dead); top latent by activation %d, by %s score %d\n",
            100.0 * (L - st->dead) / L, st->dead, st->by_activation[0], P->o->category, st->by_score[0]);
    fprintf(stderr, "wrote %s/report.html (open it in a browser) in %.1f s\n", P->out_dir, time_now() - P->t0);
}

static void pipeline_free(Pipeline *P) {
    dir_abort(&P->txn);
    free(P->out_dir);
    npy_free(&P->za);
    eval_result_free(&P->ev);
    free(P->target);
    sae_stats_free(&P->st);
    sae_result_free(&P->res);
    sae_free(&P->sae);
    eval_sae_free(&P->ext);
    cuda_free(P->d_X);
    npy_free(&P->xa);
    gpt2_model_free(&P->m);
    free(P->wpath);
    bpe_ids_free(&P->ids);
    bpe_free(&P->bpe);
    for (int i = 0; i < P->n_in; i++) {
        free(P->in[i].path);
        free(P->in[i].text);
    }
    free(P->in);
}

static int pipeline_run(const PipelineOpts *o, const char **args, int n_args) {
    Pipeline P = {.o = o, .tty = isatty(2), .t0 = time_now(), .c0 = cpu_now()};
    if (o->threads) pool_set_threads(o->threads);
    /* stages 3 to 7c, each timed: in the order of STAGE_TOKENIZE ... STAGE_BROWSER */
    static int (*const timed[STAGE_OUTPUTS])(Pipeline *) = {stage_tokenize, stage_weights, stage_capture,
                                                            stage_train,    stage_score,   stage_eval,
                                                            stage_browser};
    int rc = stage_inputs(&P, args, n_args);
    if (rc == 0) rc = stage_output_folder(&P);
    for (int s = 0; s < STAGE_OUTPUTS && rc == 0; s++)
        if ((rc = timed[s](&P)) == 0) pipeline_stage_end(&P, s);
    if (rc == 0) rc = stage_write(&P);   /* ends STAGE_OUTPUTS itself, before summary.json */
    if (rc == 0 && !o->quiet) print_summary(&P);
    int status = rc == 0 ? 0 : rc == 1 ? 1 : cli_fail();
    pipeline_free(&P);
    return status;
}

static void usage(FILE *f) {
    fprintf(f,
        "pipeline: ./run [OPTIONS] FILE...   (FILE may be a folder: every file in it)\n"
        "  Tokenize the texts, run GPT-2, capture one layer's MLP activations, train\n"
        "  the seed's sparse autoencoder on them, score the latents and write a\n"
        "  report with every figure into out/<name>/.\n"
        "\n"
        "  --out DIR            output folder (default out/<name of the first file>)\n"
        "  --arch A             the SAE to train: seed (default: the seed's tied top-k), topk,\n"
        "                       batchtopk, jumprelu, relu or gated (sae/arch.h; --L, --k,\n"
        "                       --lr, --epochs, --batch, --seed apply, and train's --k-aux,\n"
        "                       --aux-alpha, --multi-topk, --lambda, --lambda-warmup,\n"
        "                       --jump-eps, --theta0, --dead-tokens, --beta1, --beta2,\n"
        "                       --adam-eps, --warmup, --decay, --grad-clip: see\n"
        "                       ./run train --arch topk --help; each architecture has its\n"
        "                       own defaults)\n"
        "  --sae DIR            skip training: score, draw and evaluate this SAE (SAELens:\n"
        "                       sae_weights.safetensors + cfg.json, any architecture;\n"
        "                       sparsify: sae.safetensors); it must read the captured site\n"
        "  --model NAME         gpt2 (default), gpt2-medium, gpt2-large, gpt2-xl, distilgpt2\n"
        "  --weights PATH       use this checkpoint (folder or .safetensors) instead of fetching;\n"
        "                       its folder's own vocab.json + merges.txt, when there, are the\n"
        "                       tokenizer (else the cache's, as for every command)\n"
        "  --cache DIR          the cache folder for downloads and --random-weights (default\n"
        "                       $GPT2SAE_CACHE, else $XDG_CACHE_HOME/gpt2sae, else ~/.cache/gpt2sae)\n"
        "  --random-weights     synthetic GPT-2 weights (seeded, cached): runs offline, and\n"
        "                       every output says \"random weights \xE2\x80\x94 not GPT-2\"\n"
        "  --layer N            block to hook (default n_layer/2, the seed's layer2hook)\n"
        "  --site NAME          mlp_pre (default, the seed's c_fc hook), mlp_post, resid_pre,\n"
        "                       attn_out, resid_mid, mlp_out, resid_post\n"
        "  --epochs N           training epochs (default 100)\n"
        "  --latents-k N        k, latents kept per token (default d/3; alias --k)\n"
        "  --latents-n N        L, number of latents (default 2d; alias --L)\n"
        "  --lr X               Adam learning rate (default 1e-4)\n"
        "  --batch N            a corpus of more than N tokens trains on shuffled minibatches\n"
        "                       of N tokens; up to N tokens train full-batch, as the seed\n"
        "                       (default 1024)\n"
        "  --seed N             seed for the SAE's initialisation and --random-weights (default 0)\n"
        "  --words LIST         word category: comma-separated words, or @FILE (one a line);\n"
        "                       default: the seed's 13 geography words\n"
        "  --category NAME      the category's name in titles (default Geography)\n"
        "  --latents LIST       latents to draw text heatmaps for, comma-separated\n"
        "                       (default: the seed's picks, sortByActivity[30], sortByGeoscore[9])\n"
        "  --top N              rows in each table of top latents (default 5)\n"
        "  --browser N          latents in the feature browser features/index.html (default\n"
        "                       %d: the drawn ones, then the top by activation, word score and\n"
        "                       density in turn, live ones only); 0: no browser\n"
        "  --device D           cpu, cuda or auto (default auto: the GPU when this build has\n"
        "                       CUDA and one is present, else (or if it fails) the CPU): the\n"
        "                       capture, the training (seed, topk, batchtopk, jumprelu; the\n"
        "                       others train on the CPU) and the evaluation's model passes\n"
        "  --threads N          CPU threads (default: all cores)\n"
        "  --quiet              no progress output, only errors\n"
        "  -h, --help           this text (also --help-pipeline)\n"
        "  --version            the version and the build's features\n"
        "  --                   the end of the options: what follows are input files\n"
        "\n"
        "  Outputs: report.html (self-contained), features/index.html (the feature\n"
        "  browser, offline), losses.svg, latents.svg, density.svg,\n"
        "  score.svg, heat_<latent>.svg, summary.json (with each stage's wall and CPU\n"
        "  seconds), the SAE as SAELens 6 loads it\n"
        "  (sae_weights.safetensors, cfg.json, sparsity.safetensors),\n"
        "  latents.npy [T, L] and activations.npy [T, width] (float32; on the CPU they\n"
        "  are written as they are made and read back from disk, so a corpus costs\n"
        "  disk rather than memory), losses.csv. An existing folder is replaced only\n"
        "  once the new one is complete.\n"
        "  Without weights (no network) and without --weights / --random-weights the\n"
        "  run stops with the download error and says so.\n"
        "  Before the capture the run checks there is disk for activations.npy and\n"
        "  latents.npy; GPT2SAE_DISK_FREE=BYTES, when set, is taken as the free space\n"
        "  instead of what the file system reports (e.g. to keep room for other work).\n", BROWSER_DEFAULT);
}

/* Parse "a,b,c" into a list of non-empty words. */
static int split_list(const char *s, char ***out, int *n) {
    *out = NULL;
    *n = 0;
    const char *p = s;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        while (len && (*p == ' ')) { p++; len--; }
        while (len && p[len - 1] == ' ') len--;
        if (len) {
            *out = xrealloc(*out, sizeof(char *) * (*n + 1));
            char *w = xmalloc(len + 1);
            memcpy(w, p, len);
            w[len] = 0;
            (*out)[(*n)++] = w;
        }
        if (!e) break;
        p = e + 1;
    }
    return 0;
}

static int read_word_file(const char *path, char ***out, int *n) {
    char *text;
    size_t len;
    if (file_read_all(path, &text, &len) != 0) return err_prefix("--words @%s", path);
    *out = NULL;
    *n = 0;
    char *save, *line = strtok_r(text, "\r\n", &save);
    for (; line; line = strtok_r(NULL, "\r\n", &save)) {
        while (*line == ' ' || *line == '\t') line++;
        size_t l = strlen(line);
        while (l && (line[l - 1] == ' ' || line[l - 1] == '\t')) line[--l] = 0;
        if (!l || line[0] == '#') continue;
        *out = xrealloc(*out, sizeof(char *) * (*n + 1));
        (*out)[(*n)++] = xstrdup(line);
    }
    free(text);
    if (*n == 0) return err_set("--words @%s: the file has no words (one per line)", path);
    return 0;
}

static const char *seed_words[] = {"Hungary", "geographical", "European", "Union", "provinces", "Austria", "Czech",
                                   "Republic", "Slovakia", "Romania", "Italy", "Greece", "regions"};

/* --version, --help-pipeline: print and stop */
static int opt_version(const char *name, const char *val, void *dst) {
    (void)name, (void)val, (void)dst;
    cli_version();
    return CLI_STOP;
}

static int opt_help(const char *name, const char *val, void *dst) {
    (void)name, (void)val, (void)dst;
    usage(stdout);
    return CLI_STOP;
}

/* --arch seed|topk|batchtopk|jumprelu|relu|gated into the string at dst */
static int opt_arch(const char *name, const char *val, void *dst) {
    SAEArchKind ak;
    if (strcmp(val, "seed") != 0 && sae_arch_parse(val, &ak) != 0)
        return cli_error(2, "option %s: '%s' is not seed, topk, batchtopk, jumprelu, relu or gated", name, val);
    *(const char **)dst = val;
    return 0;
}

/* --words a,b,c or --words @FILE into the PipelineOpts at dst (a later one replaces an earlier) */
static int opt_words(const char *name, const char *val, void *dst) {
    PipelineOpts *o = dst;
    char **w;
    int n;
    if (val[0] == '@') {
        if (read_word_file(val + 1, &w, &n) != 0) return cli_fail();
    } else {
        split_list(val, &w, &n);
        if (n == 0) {
            free(w);
            return cli_error(2, "option %s: '%s' has no words", name, val);
        }
    }
    if (o->words_owned) {
        for (int k = 0; k < o->n_words; k++) free(o->words[k]);
        free(o->words);
    }
    o->words = w, o->n_words = n, o->words_owned = 1;
    return 0;
}

/* --latents i,j,k (the latents to draw) into the PipelineOpts at dst */
static int opt_draw(const char *name, const char *val, void *dst) {
    PipelineOpts *o = dst;
    char **items;
    int ni, bad = 0;
    long n;
    split_list(val, &items, &ni);
    free(o->draw);
    o->draw = xmalloc(sizeof(int) * (ni ? ni : 1));
    o->n_draw = 0;
    for (int k = 0; k < ni; k++) {
        if (!bad && cli_int(name, items[k], 0, 1 << 22, &n)) bad = 1;
        if (!bad) o->draw[o->n_draw++] = (int)n;
        free(items[k]);
    }
    free(items);
    if (bad) return 2;
    if (o->n_draw == 0) return cli_error(2, "option %s: '%s' has no latent numbers", name, val);
    return 0;
}

/* the library's spelling of the options the pipeline names differently */
static const char *const pipeline_renames[] = {"--latents", "--latents-n", NULL};

int cmd_pipeline(int argc, char **argv) {
    PipelineOpts o;
    pipeline_default_opts(&o);
    const char **files = xmalloc(sizeof(char *) * (argc > 0 ? argc : 1));
    int n_files = 0, rc = 2;
    CLIOpt arch_opts[TRAIN_ARCH_OPTS];   /* --arch's own options, passed on as given; --k, --lr, --seed are below */
    train_arch_table(&o.arch_set, arch_opts, 0);
    const CLIOpt opts[] = {
        {"--out", CLI_STR, .dst = &o.out_dir},
        {"--model", CLI_STR, .dst = &o.model},
        {"--weights", CLI_STR, .dst = &o.weights},
        {"--random-weights", CLI_SET, .dst = &o.random_weights, .value = 1},
        {"--layer", CLI_INT, .dst = &o.layer, .lo = 0, .hi = 1000},
        {"--site", CLI_STR, .dst = &o.site},
        {"--epochs", CLI_INT, .dst = &o.epochs, .lo = 1, .hi = 1000000},
        {"--latents-k", CLI_INT, .dst = &o.k, .lo = 1, .hi = 1 << 20},
        {"--k", CLI_INT, .dst = &o.k, .lo = 1, .hi = 1 << 20},
        {"--latents-n", CLI_INT, .dst = &o.L, .lo = 2, .hi = 1 << 22},
        {"--L", CLI_INT, .dst = &o.L, .lo = 2, .hi = 1 << 22},
        {"--lr", CLI_FLOAT, .dst = &o.lr, .min = 1e-12, .max = 10, .given = &o.lr_given},
        {"--batch", CLI_INT, .dst = &o.batch, .lo = 2, .hi = 1 << 24},
        {"--seed", CLI_U64, .dst = &o.seed, .lo = 0, .hi = 0x7fffffffL},
        {"--words", CLI_CALL, .dst = &o, .fn = opt_words},
        {"--category", CLI_STR, .dst = &o.category},
        {"--latents", CLI_CALL, .dst = &o, .fn = opt_draw},
        {"--top", CLI_INT, .dst = &o.top, .lo = 1, .hi = 100},
        {"--browser", CLI_INT, .dst = &o.browser, .lo = 0, .hi = 1 << 22},
        {"--device", CLI_DEVICE, .dst = &o.device},
        {"--threads", CLI_INT, .dst = &o.threads, .lo = 1, .hi = 1024},
        {"--quiet", CLI_SET, .dst = &o.quiet, .value = 1},
        {"--cache", CLI_STR, .dst = &o.cache},
        {"--help-pipeline", CLI_FLAG_CALL, .fn = opt_help},
        {"--version", CLI_FLAG_CALL, .fn = opt_version},
        {"--arch", CLI_CALL, .dst = &o.arch, .fn = opt_arch},
        {"--sae", CLI_STR, .dst = &o.sae_dir},
        {0}};
    CLIList inputs = {files, &n_files};
    const CLISpec spec = {"pipeline", {opts, arch_opts}, pipeline_renames, .usage = usage, .operand = cli_operand_push,
                          .ctx = &inputs};
    if (cli_parse(&spec, argc, argv, &rc)) goto done;
    rc = 2;
    if (n_files == 0) {
        cli_error(2, "no input files: ./run [OPTIONS] FILE... (./run --help)");
        goto done;
    }
    if (o.cache && cli_cache(o.cache) != 0) goto done;
    if (o.random_weights && o.weights) {
        cli_error(2, "--weights and --random-weights exclude each other: pick one");
        goto done;
    }
    SAEArchKind kind;
    if (o.arch && !o.sae_dir && sae_arch_parse(o.arch, &kind) == 0 && train_arch_check_device(kind, o.device) != 0)
        goto done;   /* --device cuda with an architecture only the CPU trains */
    if (!o.words) {
        o.words = (char **)seed_words;
        o.n_words = (int)(sizeof seed_words / sizeof seed_words[0]);
    }
    rc = pipeline_run(&o, files, n_files);
done:
    if (o.words_owned) {
        for (int k = 0; k < o.n_words; k++) free(o.words[k]);
        free(o.words);
    }
    free(o.draw);
    free(files);
    return rc;
}
