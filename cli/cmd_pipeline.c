/*
 * cli/cmd_pipeline.c - `./run [OPTIONS] FILE...`: the whole seed notebook.
 *
 * Stages, in order (each logged on stderr; a progress bar when it is a TTY):
 *   1. read the inputs (files, or every file in a folder): one corpus; each
 *      must exist, be non-empty and be UTF-8 text (else: its name, the byte
 *      offset, and a non-zero exit) - before anything slow happens
 *   2. make the output's temporary folder next to the final one (so an
 *      unwritable --out fails now, and a good old report survives a failure)
 *   3. tokenize with GPT-2's BPE (tokenizer files fetched on first use)
 *   4. get the weights: --weights PATH, the cache (fetched on first use), or
 *      --random-weights (a synthetic GPT-2 small, seeded, cached)
 *   5. capture layer n_layer/2's mlp_pre for every text (windowed by n_ctx),
 *      streamed into activations.npy in the temporary folder and mapped back
 *      (the corpus costs disk, not memory)
 *   6. train the seed's sparse autoencoder (full batch for one text, as the
 *      seed; minibatches over the corpus otherwise), then encode everything
 *      a chunk at a time into latents.npy, mapped back the same way
 *   7. score the latents (density, mean nonzero activation, word-category score)
 *   8. write figures, report.html, summary.json, the SAE, latents.npy and
 *      losses.csv into the temporary folder (cli/pipeline_out.c), then swap it
 *      into place
 */
#include "cli/cli.h"
#include "cli/pipeline.h"
#include "core/dir.h"
#include "core/pool.h"
#include "core/util.h"
#include "cuda/cuda.h"
#include "weights/fetch.h"
#include "weights/npy.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

static void pipeline_default_opts(PipelineOpts *o) {
    memset(o, 0, sizeof *o);
    o->model = "gpt2";
    o->site = "mlp_pre";
    o->category = "Geography";
    o->device = "auto";
    o->layer = -1;
    o->epochs = 100;
    o->batch = 1024;
    o->top = 5;
    o->lr = 1e-4f;
}

/* ---- progress: a bar on a terminal, one line per stage otherwise ---------- */

typedef struct {
    int tty, quiet;
    double t0, stage_t0;
    char stage[64];
} Progress;

static void stage_begin(Progress *p, const char *name) {
    snprintf(p->stage, sizeof p->stage, "%s", name);
    p->stage_t0 = time_now();
    if (p->quiet) return;
    fprintf(stderr, "[%6.1fs] %s\n", p->stage_t0 - p->t0, name);
}

/* A bar "  training [#####.....]  45/100  loss 0.1234" redrawn in place. */
static void progress_bar(Progress *p, const char *what, long done, long total, const char *extra) {
    if (p->quiet || !p->tty || total <= 0) return;
    int width = 30, fill = (int)(width * done / total);
    char bar[64];
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
    bar[width] = 0;
    double el = time_now() - p->stage_t0, eta = done > 0 ? el * (total - done) / done : 0;
    fprintf(stderr, "\r  %-9s [%s] %ld/%ld %s  %.0fs, %.0fs left\x1b[K", what, bar, done, total, extra ? extra : "",
            el, eta);
    if (done >= total) fprintf(stderr, "\n");
    fflush(stderr);
}

/* ---- stage 1: the inputs --------------------------------------------------- */

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Append path (a file) or every non-hidden regular file under path (a folder,
 * recursively, sorted) to the list. */
static int collect_inputs(const char *path, char ***list, int *n) {
    struct stat st;
    if (stat(path, &st) != 0)
        return err_set("%s: %s (give a text file or a folder of texts)", path, strerror(errno));
    if (S_ISREG(st.st_mode)) {
        *list = xrealloc(*list, sizeof(char *) * (*n + 1));
        (*list)[(*n)++] = xstrdup(path);
        return 0;
    }
    if (!S_ISDIR(st.st_mode)) return err_set("%s: not a regular file or a folder", path);
    DIR *d = opendir(path);
    if (!d) return err_set("%s: cannot open the folder: %s", path, strerror(errno));
    char **names = NULL;
    int nn = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        names = xrealloc(names, sizeof(char *) * (nn + 1));
        names[nn++] = path_join(path, e->d_name);
    }
    closedir(d);
    if (nn) qsort(names, nn, sizeof(char *), cmp_str);
    int before = *n, rc = 0;
    for (int i = 0; i < nn; i++) {
        if (rc == 0 && collect_inputs(names[i], list, n) != 0) rc = -1;
        free(names[i]);
    }
    free(names);
    if (rc == 0 && *n == before) return err_set("%s: the folder has no files to read", path);
    return rc;
}

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

/* ---- stages 3-4: tokenizer and weights ------------------------------------ */

/* The weights' folder or file: --weights, --random-weights (synthesised once
 * into the cache), or the official ones (fetched on first use). */
static char *weights_path(const PipelineOpts *o, Progress *pr) {
    if (o->weights) return xstrdup(o->weights);
    if (o->random_weights) {
        char *cache = fetch_cache_dir();
        if (!cache) return NULL;
        char name[96];
        snprintf(name, sizeof name, "random-%s-seed%llu", o->model, (unsigned long long)o->seed);
        char *dir = path_join(cache, name);
        free(cache);
        char *st = path_join(dir, "model.safetensors");
        int have = path_is_file(st);
        free(st);
        if (!have) {
            GPT2Config cfg;
            if (gpt2_config_named(&cfg, o->model) != 0) {
                err_set("--model %s: unknown (gpt2, gpt2-medium, gpt2-large, gpt2-xl, distilgpt2)", o->model);
                free(dir);
                return NULL;
            }
            stage_begin(pr, "synthesising a random checkpoint into the cache (once)");
            if (gpt2_model_synth(dir, &cfg, o->seed) != 0) {
                free(dir);
                return NULL;
            }
        }
        return dir;
    }
    char *dir;
    if (fetch_model(o->model, &dir) != 0) {
        err_prefix("no weights for %s", o->model);
        return NULL;
    }
    return dir;
}

/* ---- stage 7: statistics ---------------------------------------------------- */

static const float *sort_key;
/* descending by key, ties: higher index first (np.argsort(x, kind='stable')[::-1]) */
static int cmp_desc(const void *a, const void *b) {
    int i = *(const int *)a, j = *(const int *)b;
    if (sort_key[i] != sort_key[j]) return sort_key[i] < sort_key[j] ? 1 : -1;
    return j - i;
}

/* ---- stage 6: the per-epoch progress bar ------------------------------------ */

typedef struct {
    Progress *pr;
} TrainCtx;

static int on_epoch(void *ctx, int epoch, int epochs, const SAELosses *l, const SAE *sae) {
    (void)sae;
    TrainCtx *c = ctx;
    char extra[64];
    snprintf(extra, sizeof extra, " loss %.4f", l->total);
    progress_bar(c->pr, "training", epoch, epochs, extra);
    return 0;
}

/* Room for a corpus of T tokens, checked before the slow part. On the CPU
 * the activations (T, d) and the latents (T, L) go to activations.npy and
 * latents.npy in the output folder and are mapped back from there: they need
 * disk, not memory. On the GPU path both are also held in memory.
 * $GPT2SAE_DISK_FREE and $GPT2SAE_MEM_LIMIT (bytes) override what is
 * measured (for tests). */
static int check_room(long T, int d, int L, const char *what, const char *dir, const char *shown, int in_memory) {
    double need = 4.0 * ((double)T * d + (double)T * L);
    struct statvfs fs;
    double disk = statvfs(dir, &fs) == 0 ? (double)fs.f_bavail * (double)fs.f_frsize : -1;
    const char *env = getenv("GPT2SAE_DISK_FREE");
    if (env && atof(env) > 0) disk = atof(env);
    if (disk >= 0 && need > 0.95 * disk)
        return err_set("%s: %ld tokens need about %.1f MB of disk for activations.npy (%ld x %d) and latents.npy "
                       "(%ld x %d), but %s has %.1f MB free; free some space, choose another --out, or give "
                       "fewer texts", what, T, need / 1e6, T, d, T, L, shown, disk / 1e6);
    double mem = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
    env = getenv("GPT2SAE_MEM_LIMIT");
    if (env && atof(env) > 0) mem = atof(env);
    if (in_memory && mem > 0 && need + 16.0 * L * d > 0.8 * mem)
        return err_set("%s: %ld tokens need about %.1f GB of memory on the GPU path (activations %ld x %d, latents "
                       "%ld x %d, the autoencoder), more than this machine's %.1f GB; use --device cpu (which keeps "
                       "them on disk) or give fewer texts", what, T, (need + 16.0 * L * d) / 1e9, T, d, T, L,
                       mem / 1e9);
    return 0;
}

/* The capture's sink: each window's rows appended to activations.npy. */
typedef struct {
    NpyWriter w;
} ActsSink;

static int acts_rows(void *user, const GPT2Rows *r, const float *rows) {
    ActsSink *a = user;
    return npy_writer_put(&a->w, rows, (int64_t)r->T * r->width);
}

/* Capture every text, window by window (n_ctx tokens), streamed into
 * dir/activations.npy, then mapped into *xa: memory is one window, not the
 * corpus. On the GPU (g != NULL) the rows also stay on the device in d_X
 * (T, d) for the training. */
static int capture_to_file(GPT2Forward *fw, const GPT2Model *m, CudaGPT2 *g, const BpeIds *ids,
                           const InputText *in, int n_in, int layer, GPT2Site site, int d, const char *dir,
                           Progress *pr, Npy *xa, float *d_X) {
    long T = (long)ids->n;
    char *path = path_join(dir, "activations.npy");
    ActsSink sink;
    int rc = npy_writer_begin(&sink.w, path, (int64_t[]){T, d}, 2);
    GPT2Stream gs;
    gpt2_forward_init(fw, m);
    gpt2_stream_init(&gs, fw);
    if (rc == 0 && !g) rc = gpt2_stream_add(&gs, layer, site, acts_rows, &sink);
    for (int i = 0; i < n_in && rc == 0; i++) {
        if (g)
            rc = cuda_gpt2_stream(g, ids->ids + in[i].t0, in[i].T, in[i].t0, layer, site, acts_rows, &sink,
                                  d_X + (size_t)in[i].t0 * d);
        else
            rc = gpt2_stream_run(&gs, ids->ids + in[i].t0, in[i].T);
        if (rc != 0) err_prefix("%s", in[i].path);
        if (n_in > 1) progress_bar(pr, "capture", i + 1, n_in, NULL);
    }
    gpt2_stream_free(&gs);
    if (rc == 0) rc = npy_writer_end(&sink.w);
    else npy_writer_abort(&sink.w);
    if (rc == 0) rc = npy_map(xa, path);
    free(path);
    return rc;
}

static int pipeline_run(const PipelineOpts *o, const char **args, int n_args) {
    Progress pr = {.tty = isatty(2), .quiet = o->quiet, .t0 = time_now()};
    double t_stage[6] = {0};
    int rc = 1;
    char **paths = NULL, *out_dir = NULL, *vocab = NULL, *merges = NULL, *wpath = NULL;
    int n_paths = 0;
    DirTxn txn = {0};
    InputText *in = NULL;
    BPE bpe;
    memset(&bpe, 0, sizeof bpe);
    BpeIds ids = {0};
    GPT2Model m;
    memset(&m, 0, sizeof m);
    GPT2Forward fw;
    memset(&fw, 0, sizeof fw);
    const float *X = NULL;          /* (T, d) the activations, mapped from activations.npy */
    float *d_X = NULL;              /* (T, d) the same on the GPU */
    Npy xa = {0}, za = {0};         /* activations.npy, latents.npy, mapped */
    SAE sae;
    memset(&sae, 0, sizeof sae);
    SAEResult res;
    memset(&res, 0, sizeof res);
    Scores sc;
    memset(&sc, 0, sizeof sc);
    const char *label = NULL;
    if (o->threads) pool_set_threads(o->threads);

    /* 1. inputs: all checked before anything slow */
    stage_begin(&pr, "reading the inputs");
    for (int i = 0; i < n_args; i++)
        if (collect_inputs(args[i], &paths, &n_paths) != 0) goto fail;
    in = xcalloc(n_paths, sizeof *in);
    size_t total_bytes = 0;
    for (int i = 0; i < n_paths; i++) {
        in[i].path = paths[i];
        if (read_input(&in[i]) != 0) goto fail;
        total_bytes += in[i].len;
    }

    /* 2. the output folder (its temporary twin, so a failure keeps the old one) */
    if (o->out_dir) {
        out_dir = xstrdup(o->out_dir);
    } else {
        char *a = xstrdup(args[0]);
        size_t n = strlen(a);
        while (n > 1 && a[n - 1] == '/') a[--n] = 0;
        char *stem = path_stem(a);
        out_dir = path_join("out", stem[0] ? stem : "corpus");
        free(stem);
        free(a);
    }
    if (dir_begin(&txn, out_dir) != 0) goto fail;
    const char *tmp = txn.tmp;   /* the staging folder everything is written into */

    /* 3. tokenize */
    stage_begin(&pr, "tokenizing (GPT-2 BPE)");
    if (fetch_tokenizer(&vocab, &merges) != 0) {
        err_prefix("GPT-2's tokenizer files");
        goto fail;
    }
    if (bpe_load(&bpe, vocab, merges) != 0) goto fail;
    for (int i = 0; i < n_paths; i++) {
        in[i].t0 = (int)ids.n;
        if (bpe_encode(&bpe, in[i].text, in[i].len, 0, &ids) != 0) {
            err_prefix("%s", in[i].path);
            goto fail;
        }
        in[i].T = (int)ids.n - in[i].t0;
    }
    long T = (long)ids.n;
    if (T < 2) {
        err_set("%s: only %ld token; the autoencoder needs at least 2 (give a longer text)", in[0].path, T);
        goto fail;
    }
    t_stage[0] = time_now() - pr.t0;

    /* 4. weights */
    stage_begin(&pr, o->random_weights ? "loading random weights" : "loading the weights");
    wpath = weights_path(o, &pr);
    if (!wpath) {
        if (!o->weights && !o->random_weights) {
            fprintf(stderr, "gpt2sae: %s\n", err_get());
            fprintf(stderr, "gpt2sae: hint: give a checkpoint with --weights PATH (a folder or .safetensors), or run\n"
                            "         offline on synthetic weights with --random-weights (outputs are then marked\n"
                            "         \"%s\")\n", RANDOM_LABEL);
            rc = 1;
            goto cleanup;
        }
        goto fail;
    }
    if (gpt2_model_load(&m, wpath) != 0) goto fail;
    if (m.cfg.random || o->random_weights) label = RANDOM_LABEL;
    if (label && !o->quiet) fprintf(stderr, "*** %s ***\n", label);
    int layer = o->layer >= 0 ? o->layer : m.cfg.n_layer / 2;
    GPT2Site site;
    if (gpt2_site_parse(o->site, &layer, &site) != 0) {
        err_prefix("option --site");
        goto fail;
    }
    if (layer >= m.cfg.n_layer) {
        err_set("option --layer: %d, but %s has layers 0..%d", layer, m.cfg.name, m.cfg.n_layer - 1);
        goto fail;
    }
    int d = gpt2_site_width(&m.cfg, site);
    int L_want = o->L ? o->L : 2 * d; /* sae_init's default: the seed's 2d */
    for (int i = 0; i < o->n_draw; i++)
        if (o->draw[i] >= L_want) {
            err_set("option --latents: latent %d does not exist (the autoencoder has %d: 0..%d)", o->draw[i], L_want,
                    L_want - 1);
            goto fail;
        }
    t_stage[1] = time_now() - pr.t0;

    /* 5. capture: every text on its own (windows of n_ctx inside the capture).
     * On the GPU the activation also stays there (d_X) for the training. */
    int use_cuda = !strcmp(o->device, "cuda") || (!strcmp(o->device, "auto") && cuda_available());
    if (!strcmp(o->device, "cuda") && !cuda_available()) {
        char why[256];
        cuda_describe(why, sizeof why);
        err_set("--device cuda: no usable GPU (%s); use --device cpu or auto", why);
        goto fail;
    }
    if (check_room(T, d, L_want, n_paths > 1 ? "the corpus" : in[0].path, tmp, out_dir, use_cuda) != 0) goto fail;
    char stage[160];
    snprintf(stage, sizeof stage, "running GPT-2 to layer %d %s: %ld tokens x %d (%s)", layer, gpt2_site_name(site),
             T, d, use_cuda ? "cuda" : "cpu");
    stage_begin(&pr, stage);
    if (use_cuda) {
        CudaGPT2 *g = NULL;
        int r = cuda_malloc((void **)&d_X, sizeof(float) * (size_t)T * d);
        if (r == 0) r = cuda_gpt2_init(&g, &m, m.cfg.n_ctx);
        if (r == 0) r = capture_to_file(&fw, &m, g, &ids, in, n_paths, layer, site, d, tmp, &pr, &xa, d_X);
        cuda_gpt2_free(g);
        if (r != 0) {
            if (!strcmp(o->device, "cuda")) goto fail;
            fprintf(stderr, "gpt2sae: note: the GPU failed (%s); going on with the CPU\n", err_get());
            use_cuda = 0;
            cuda_free(d_X);
            d_X = NULL;
        }
    }
    if (!use_cuda && capture_to_file(&fw, &m, NULL, &ids, in, n_paths, layer, site, d, tmp, &pr, &xa, NULL) != 0)
        goto fail;
    X = xa.f32;
    t_stage[2] = time_now() - pr.t0;

    /* 6. train the seed's SAE; one text (<= --batch tokens) trains full-batch as the seed */
    SAEParams p = sae_default_params();
    p.latents = o->L;
    p.k = o->k;
    p.epochs = o->epochs;
    p.batch = T <= o->batch ? 0 : o->batch;
    p.lr = o->lr;
    p.seed = o->seed;
    p.want_latents = use_cuda;   /* the CPU path encodes them below, chunk by chunk, into latents.npy */
    TrainCtx tc = {&pr};
    p.on_epoch = on_epoch;
    p.ctx = &tc;
    if (sae_init(&sae, d, &p) != 0) {
        err_prefix("the autoencoder (--L %d, --k %d, width %d)", o->L, o->k, d);
        goto fail;
    }
    snprintf(stage, sizeof stage, "training the SAE: %d latents, k %d, %d epochs, %s", sae.L, sae.k, p.epochs,
             p.batch ? "minibatches" : "full batch");
    stage_begin(&pr, stage);
    const float *Z;   /* (T, L) the final latents */
    if (use_cuda) {
        if (cuda_sae_train(&sae, X, d_X, T, &p, &res) != 0 || !res.latents) goto fail;
        Z = res.latents;
    } else {
        if (sae_train(&sae, X, T, &p, &res) != 0) goto fail;
        char *lat = path_join(tmp, "latents.npy");   /* chunk by chunk, then mapped back */
        int r = sae_write_latents(&sae, X, T, lat, NULL, NULL);
        if (r == 0) r = npy_map(&za, lat);
        free(lat);
        if (r != 0) goto fail;
        Z = za.f32;
    }
    cuda_free(d_X);
    d_X = NULL;
    int L = sae.L, E = res.epochs_done;
    t_stage[3] = time_now() - pr.t0;

    /* 7. scores */
    stage_begin(&pr, "scoring the latents");
    sae_stats(&sc.st, Z, T, L);
    sc.target = xcalloc((size_t)T, 1);
    for (int w = 0; w < o->n_words; w++) {
        int32_t id = bpe_first_token(&bpe, o->words[w]);
        for (long t = 0; t < T && id >= 0; t++)
            if (ids.ids[t] == id) sc.target[t] = 1;
    }
    for (long t = 0; t < T; t++) sc.n_target += sc.target[t];
    sc.score = xmalloc(sizeof(float) * L);
    sae_word_score(sc.score, Z, T, L, sc.target);
    sc.by_score = xmalloc(sizeof(int) * L);
    for (int j = 0; j < L; j++) sc.by_score[j] = j;
    sort_key = sc.score;
    qsort(sc.by_score, L, sizeof(int), cmp_desc);
    sc.fve = sae_fve(&sae, X, T);
    t_stage[4] = time_now() - pr.t0;

    /* 8. outputs, all into tmp */
    stage_begin(&pr, "writing figures, report and checkpoint");
    {
        PipelineRun run = {o, label, tmp, args[0], in, n_paths, total_bytes, &bpe, ids.ids, T, &m, wpath, layer, d,
                           site, &sae, &p, &res, Z, !use_cuda, &sc, use_cuda, pr.t0, {0}};
        memcpy(run.t_stage, t_stage, sizeof run.t_stage);
        if (pipeline_write_outputs(&run) != 0) goto fail;
    }
    const SAELosses *fl = E ? &res.losses[E - 1] : NULL;

    /* everything is written: swap the folder into place */
    if (dir_commit(&txn) != 0) goto fail;

    if (!o->quiet) {
        double secs = time_now() - pr.t0;
        if (label) fprintf(stderr, "*** %s ***\n", label);
        fprintf(stderr, "%ld tokens, layer %d %s (%d wide) -> %d latents, k %d, %d epochs\n", T, layer,
                gpt2_site_name(site), d, L, sae.k, E);
        if (fl)
            fprintf(stderr, "final loss %.4f (sparsity %.4f, decorrelation %.4g); variance explained %.1f%%; L0 %.1f\n",
                    fl->total, fl->sparsity, fl->decor, 100 * sc.fve, sc.st.mean_l0);
        fprintf(stderr, "%.2f%% of latents active (%d dead); top latent by activation %d, by %s score %d\n",
                100.0 * (L - sc.st.dead) / L, sc.st.dead, sc.st.by_activation[0], o->category, sc.by_score[0]);
        fprintf(stderr, "wrote %s/report.html (open it in a browser) in %.1f s\n", out_dir, secs);
    }
    rc = 0;
    goto cleanup;
fail:
    rc = cli_fail();
cleanup:
    dir_abort(&txn);
    free(sc.score);
    free(sc.by_score);
    free(sc.target);
    if (sc.st.density) sae_stats_free(&sc.st);
    sae_result_free(&res);
    sae_free(&sae);
    npy_free(&xa);
    npy_free(&za);
    cuda_free(d_X);
    gpt2_forward_free(&fw);
    gpt2_model_free(&m);
    bpe_ids_free(&ids);
    bpe_free(&bpe);
    for (int i = 0; i < n_paths; i++) {
        free(paths[i]);
        if (in) free(in[i].text);
    }
    free(paths);
    free(in);
    free(out_dir);
    free(vocab);
    free(merges);
    free(wpath);
    return rc;
}

static void usage(FILE *f) {
    fprintf(f,
        "pipeline: ./run [OPTIONS] FILE...   (FILE may be a folder: every file in it)\n"
        "  Tokenize the texts, run GPT-2, capture one layer's MLP activations, train\n"
        "  the seed's sparse autoencoder on them, score the latents and write a\n"
        "  report with every figure into out/<name>/.\n"
        "\n"
        "  --out DIR            output folder (default out/<name of the first file>)\n"
        "  --model NAME         gpt2 (default), gpt2-medium, gpt2-large, gpt2-xl, distilgpt2\n"
        "  --weights PATH       use this checkpoint (folder or .safetensors) instead of fetching\n"
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
        "  --device D           cpu, cuda or auto (default auto: the GPU when this build has\n"
        "                       CUDA and one is present, else (or if it fails) the CPU)\n"
        "  --threads N          CPU threads (default: all cores)\n"
        "  --quiet              no progress output, only errors\n"
        "  -h, --help           this text\n"
        "\n"
        "  Outputs: report.html (self-contained), losses.svg, latents.svg, density.svg,\n"
        "  score.svg, heat_<latent>.svg, summary.json, sae.safetensors + cfg.json,\n"
        "  latents.npy [T, L] and activations.npy [T, width] (float32; on the CPU they\n"
        "  are written as they are made and read back from disk, so a corpus costs\n"
        "  disk rather than memory), losses.csv. An existing folder is replaced only\n"
        "  once the new one is complete.\n"
        "  Without weights (no network) and without --weights / --random-weights the\n"
        "  run stops with the download error and says so.\n");
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

int cmd_pipeline(int argc, char **argv) {
    PipelineOpts o;
    pipeline_default_opts(&o);
    const char **files = xmalloc(sizeof(char *) * (argc > 0 ? argc : 1));
    int n_files = 0, rc = 2;
    const char *v;
    for (int i = 1; i < argc; i++) {
        int r;
        long n;
        double x;
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help") || !strcmp(a, "--help-pipeline")) {
            usage(stdout);
            rc = 0;
            goto done;
        }
        if (!strcmp(a, "--random-weights")) { o.random_weights = 1; continue; }
        if (!strcmp(a, "--quiet")) { o.quiet = 1; continue; }
#define OPT(name) ((r = cli_opt(argc, argv, &i, name, &v)) != 0)
        if (OPT("--out")) { if (r < 0) goto done; o.out_dir = v; continue; }
        if (OPT("--model")) { if (r < 0) goto done; o.model = v; continue; }
        if (OPT("--weights")) { if (r < 0) goto done; o.weights = v; continue; }
        if (OPT("--site")) { if (r < 0) goto done; o.site = v; continue; }
        if (OPT("--category")) { if (r < 0) goto done; o.category = v; continue; }
        if (OPT("--device")) {
            if (r < 0) goto done;
            if (strcmp(v, "cpu") && strcmp(v, "cuda") && strcmp(v, "auto")) {
                cli_error(2, "option --device: '%s' is not cpu, cuda or auto", v);
                goto done;
            }
            o.device = v;
            continue;
        }
        if (OPT("--layer")) { if (r < 0 || cli_int("--layer", v, 0, 1000, &n)) goto done; o.layer = (int)n; continue; }
        if (OPT("--epochs")) { if (r < 0 || cli_int("--epochs", v, 1, 1000000, &n)) goto done; o.epochs = (int)n; continue; }
        if (OPT("--latents-k") || OPT("--k")) { if (r < 0 || cli_int("--k", v, 1, 1 << 20, &n)) goto done; o.k = (int)n; continue; }
        if (OPT("--latents-n") || OPT("--L")) { if (r < 0 || cli_int("--L", v, 2, 1 << 22, &n)) goto done; o.L = (int)n; continue; }
        if (OPT("--batch")) { if (r < 0 || cli_int("--batch", v, 2, 1 << 24, &n)) goto done; o.batch = (int)n; continue; }
        if (OPT("--seed")) { if (r < 0 || cli_int("--seed", v, 0, 0x7fffffffL, &n)) goto done; o.seed = (uint64_t)n; continue; }
        if (OPT("--top")) { if (r < 0 || cli_int("--top", v, 1, 100, &n)) goto done; o.top = (int)n; continue; }
        if (OPT("--threads")) { if (r < 0 || cli_int("--threads", v, 1, 1024, &n)) goto done; o.threads = (int)n; continue; }
        if (OPT("--lr")) { if (r < 0 || cli_float("--lr", v, 1e-12, 10, &x)) goto done; o.lr = (float)x; continue; }
        if (OPT("--words")) {
            if (r < 0) goto done;
            if (v[0] == '@') {
                if (read_word_file(v + 1, &o.words, &o.n_words) != 0) { rc = cli_fail(); goto done; }
            } else {
                split_list(v, &o.words, &o.n_words);
                if (o.n_words == 0) { cli_error(2, "option --words: '%s' has no words", v); goto done; }
            }
            o.words_owned = 1;
            continue;
        }
        if (OPT("--latents")) {
            if (r < 0) goto done;
            char **items;
            int ni;
            split_list(v, &items, &ni);
            o.draw = xmalloc(sizeof(int) * (ni ? ni : 1));
            for (int k = 0; k < ni; k++) {
                if (cli_int("--latents", items[k], 0, 1 << 22, &n)) {
                    for (int q = 0; q < ni; q++) free(items[q]);
                    free(items);
                    goto done;
                }
                o.draw[o.n_draw++] = (int)n;
            }
            for (int q = 0; q < ni; q++) free(items[q]);
            free(items);
            if (o.n_draw == 0) { cli_error(2, "option --latents: '%s' has no latent numbers", v); goto done; }
            continue;
        }
#undef OPT
        if (a[0] == '-' && a[1] != 0) {
            cli_error(2, "unknown option '%s' (./run --help lists the options)", a);
            goto done;
        }
        files[n_files++] = a;
    }
    if (n_files == 0) {
        cli_error(2, "no input files: ./run [OPTIONS] FILE... (./run --help)");
        goto done;
    }
    if (o.random_weights && o.weights) {
        cli_error(2, "--weights and --random-weights exclude each other: pick one");
        goto done;
    }
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
