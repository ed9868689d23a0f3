/*
 * cli/cmd_capture.c - ./run capture: run GPT-2 on token ids or texts and save
 * the activation at one layer and site as float32 .npy (and, optionally, the
 * logits).
 */
#include "cli/cli.h"
#include "cli/pipeline.h"
#include "core/pool.h"
#include "core/util.h"
#include "gpt2/gpt2.h"
#include "gpt2/model.h"
#include "tokenizer/bpe.h"
#include "weights/fetch.h"
#include "weights/npy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void capture_usage(FILE *f) {
    fprintf(f,
            "usage: ./run capture [--weights PATH|NAME] [--layer N] [--site NAME]\n"
            "                     (--ids FILE | TEXTFILE...) -o acts.npy [--logits logits.npy]\n"
            "\n"
            "Run GPT-2 on the input and write the activation at one layer and site as a\n"
            "float32 .npy of shape [T, width] (T tokens; width C, or 4C for mlp_pre/mlp_post).\n"
            "\n"
            "  --weights PATH|NAME  a folder with model.safetensors (+ config.json), a\n"
            "                       .safetensors file, or a model name (gpt2, gpt2-medium,\n"
            "                       gpt2-large, gpt2-xl, distilgpt2: from the cache, fetched\n"
            "                       on first use). Default: gpt2\n"
            "  --layer N            block 0..n_layer-1 (default n_layer/2: 6 for GPT-2 small)\n"
            "  --site NAME          resid_pre, attn_out, resid_mid, mlp_pre (default: c_fc's\n"
            "                       output, before GELU), mlp_post, mlp_out, resid_post; or a\n"
            "                       TransformerLens name, e.g. blocks.6.mlp.hook_pre (sets the layer)\n"
            "  --ids FILE           whitespace-separated token ids instead of text\n"
            "  TEXTFILE...          texts, tokenised with GPT-2's BPE; each file is run on its\n"
            "                       own and their rows are stacked in order (after --, every\n"
            "                       argument is a file, even one named like an option)\n"
            "                       The tokenizer: the --weights folder's own vocab.json and\n"
            "                       merges.txt when it has them, else the cache\n"
            "  -o, --out FILE       the activations (.npy, written atomically)\n"
            "  --logits FILE        also run to the end and write the logits [T, V] (.npy)\n"
            "  --threads N          CPU threads (default: all cores, or $GPT2SAE_THREADS)\n"
            "\n"
            "Long inputs: GPT-2 sees at most n_ctx (1024) tokens at once, so a longer input\n"
            "is run in consecutive NON-OVERLAPPING windows of n_ctx tokens, each starting\n"
            "fresh at position 0 (a token sees only the earlier tokens of its own window).\n"
            "Nothing is truncated: every token gets its row.\n"
            "Without --logits the pass stops right after the captured site.\n");
}

/* Read whitespace-separated token ids from path into *ids. Returns 0 or -1. */
static int read_ids(const char *path, BPEIds *ids) {
    char *buf;
    size_t len;
    if (file_read_all(path, &buf, &len) != 0) return -1;
    char *p = buf;
    long count = 0;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
        if (!*p) break;
        char *end = p;
        while (*end && *end != ' ' && *end != '\t' && *end != '\n' && *end != '\r') end++;
        char save = *end;
        *end = 0;
        long v;
        if (parse_int(p, &v) != 0 || v < 0 || v > 2147483647L) {
            err_set("%s: token %ld ('%.20s') is not a non-negative integer id", path, count, p);
            free(buf);
            return -1;
        }
        bpe_ids_push(ids, (int32_t)v);
        count++;
        *end = save;
        p = end;
    }
    free(buf);
    if (ids->n == 0) return err_set("%s: no token ids in the file (expected whitespace-separated integers)", path);
    return 0;
}

/* The checkpoint: an existing path, else a model name from the cache. Caller frees. */
static char *resolve_weights(const char *w) {
    /* a path wins, unless it is a folder without a checkpoint that shares a
     * model's name (run from the repository root, "gpt2" is also gpt2/) */
    char *st = path_join(w, "model.safetensors");
    int has = path_is_file(st);
    free(st);
    if (path_is_file(w) || has) return xstrdup(w);
    for (const char *const *n = fetch_model_names(); *n; n++)
        if (strcmp(*n, w) == 0) {
            char *dir;
            if (fetch_model(w, &dir) != 0) {
                err_prefix("no weights for %s (give --weights PATH, or make a synthetic model with ./run synth)", w);
                return NULL;
            }
            return dir;
        }
    if (path_is_dir(w)) return xstrdup(w); /* the loader says what is missing */
    err_set("--weights %s: no such file or folder, and not a model name (gpt2, gpt2-medium, gpt2-large, "
            "gpt2-xl, distilgpt2)", w);
    return NULL;
}

char *cli_weights_folder(const char *weights) {
    if (!weights) return NULL;
    if (path_is_dir(weights)) return xstrdup(weights);
    const char *slash = strrchr(weights, '/');
    if (!slash) return xstrdup(".");
    if (slash == weights) return xstrdup("/");
    char *dir = xstrdup(weights);
    dir[slash - weights] = 0;
    return dir;
}

int cli_tokenizer_load(BPE *bpe, const char *weights) {
    char *vocab = NULL, *merges = NULL, *dir = cli_weights_folder(weights);
    int rc = fetch_tokenizer_near(dir, &vocab, &merges);
    if (rc != 0) err_prefix("GPT-2's tokenizer files");
    else rc = bpe_load(bpe, vocab, merges);
    free(dir);
    free(vocab);
    free(merges);
    return rc;
}

/* The stream's sink: a window's rows appended to an .npy file. */
static int write_rows(void *user, const GPT2Rows *r, const float *rows) {
    return npy_writer_put(user, rows, (int64_t)r->T * r->width);
}

int cmd_capture(int argc, char **argv) {
    const char *weights = "gpt2", *site_name = NULL, *ids_path = NULL, *out_path = NULL, *logits_path = NULL;
    const char *layer_s = NULL, *threads_s = NULL;
    const char **texts = xcalloc((size_t)argc, sizeof *texts);
    int ntexts = 0;
    int opts_done = 0;   /* after "--": every argument is a text file */
    for (int i = 1; i < argc; i++) {
        int r;
        if (opts_done) {
            texts[ntexts++] = argv[i];
            continue;
        }
        if (strcmp(argv[i], "--") == 0) {
            opts_done = 1;
            continue;
        }
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            capture_usage(stdout);
            free(texts);
            return 0;
        }
        if ((r = cli_opt(argc, argv, &i, "--weights", &weights)) || (r = cli_opt(argc, argv, &i, "--layer", &layer_s)) ||
            (r = cli_opt(argc, argv, &i, "--site", &site_name)) || (r = cli_opt(argc, argv, &i, "--ids", &ids_path)) ||
            (r = cli_opt(argc, argv, &i, "-o", &out_path)) || (r = cli_opt(argc, argv, &i, "--out", &out_path)) ||
            (r = cli_opt(argc, argv, &i, "--logits", &logits_path)) ||
            (r = cli_opt(argc, argv, &i, "--threads", &threads_s))) {
            if (r < 0) {
                free(texts);
                return 2;
            }
            continue;
        }
        if (argv[i][0] == '-' && argv[i][1]) {
            free(texts);
            return cli_error(2, "capture: unknown option %s (see ./run capture --help)", argv[i]);
        }
        texts[ntexts++] = argv[i];
    }
    int status = 2;
    if (!out_path) {
        cli_error(2, "capture: give the output file with -o acts.npy (see ./run capture --help)");
        goto done_args;
    }
    if (logits_path && strcmp(logits_path, out_path) == 0) {
        cli_error(2, "capture: -o and --logits name the same file (%s): give each its own", out_path);
        goto done_args;
    }
    if (!ids_path && ntexts == 0) {
        cli_error(2, "capture: no input: give --ids FILE or one or more text files");
        goto done_args;
    }
    if (ids_path && ntexts > 0) {
        cli_error(2, "capture: give either --ids FILE or text files, not both");
        goto done_args;
    }
    long layer = -1, threads = 0;
    if (threads_s && cli_int("--threads", threads_s, 1, 256, &threads) != 0) goto done_args;
    if (layer_s && cli_int("--layer", layer_s, 0, 100000, &layer) != 0) goto done_args;
    GPT2Site site = GPT2_MLP_PRE;
    int site_layer = -1;
    if (site_name && gpt2_site_parse(site_name, &site_layer, &site) != 0) {
        cli_fail();
        goto done_args;
    }
    if (site_layer >= 0 && layer >= 0 && site_layer != layer) {
        cli_error(2, "capture: --site %s names layer %d but --layer is %ld", site_name, site_layer, layer);
        goto done_args;
    }
    if (site_layer >= 0) layer = site_layer;
    if (threads > 0) pool_set_threads((int)threads);

    /* the model */
    status = 1;
    GPT2Model m = {0};
    GPT2Forward f = {0};
    BPEIds *inputs = NULL;
    int ninputs = 0;
    GPT2Stream gs = {0};
    NpyWriter wa = {0}, wl = {0};   /* the activations' and the logits' files, written as windows finish */
    BPE bpe = {0};
    char *wpath = resolve_weights(weights);
    if (!wpath || gpt2_model_load(&m, wpath) != 0) {
        cli_fail();
        goto done;
    }
    if (layer < 0) layer = m.cfg.n_layer / 2;
    if (layer >= m.cfg.n_layer) {
        cli_error(2, "capture: layer %ld does not exist: %s has layers 0..%d", layer, wpath, m.cfg.n_layer - 1);
        status = 2;
        goto done;
    }
    if (m.cfg.random) fprintf(stderr, "gpt2sae: note: %s holds RANDOM weights (./run synth), not GPT-2\n", wpath);

    /* the input: one id list per file */
    ninputs = ids_path ? 1 : ntexts;
    inputs = xcalloc((size_t)ninputs, sizeof *inputs);
    if (ids_path) {
        if (read_ids(ids_path, &inputs[0]) != 0) {
            cli_fail();
            goto done;
        }
    } else {
        if (cli_tokenizer_load(&bpe, wpath) != 0) {
            cli_fail();
            goto done;
        }
        for (int i = 0; i < ntexts; i++) {
            char *text;
            size_t len;
            if (file_read_all(texts[i], &text, &len) != 0) {
                cli_fail();
                goto done;
            }
            int rc = bpe_encode(&bpe, text, len, 0, &inputs[i]);
            free(text);
            if (rc != 0) {
                err_prefix("%s", texts[i]);
                cli_fail();
                goto done;
            }
            if (inputs[i].n == 0) {
                cli_error(1, "%s: the text is empty: there are no tokens to run the model on", texts[i]);
                goto done;
            }
        }
    }
    long Ttot = 0;
    for (int i = 0; i < ninputs; i++) {
        if (inputs[i].n > (size_t)1 << 30) {
            cli_error(1, "%s: %zu tokens is too many for one run", ids_path ? ids_path : texts[i], inputs[i].n);
            goto done;
        }
        Ttot += (long)inputs[i].n;
    }

    /* run: window by window (n_ctx tokens, each from position 0), rows
     * stacked and streamed into the .npy files: memory is one window, not
     * the corpus */
    int width = gpt2_site_width(&m.cfg, site);
    int V = m.cfg.vocab_size;
    gpt2_forward_init(&f, &m);
    gpt2_stream_init(&gs, &f);
    if (gpt2_stream_add(&gs, (int)layer, site, write_rows, &wa) != 0) {
        cli_fail();
        goto done;
    }
    if (logits_path) gpt2_stream_add_logits(&gs, write_rows, &wl);
    if (npy_writer_begin(&wa, out_path, (int64_t[]){Ttot, width}, 2) != 0 ||
        (logits_path && npy_writer_begin(&wl, logits_path, (int64_t[]){Ttot, V}, 2) != 0)) {
        cli_fail();
        goto done;
    }
    double t = time_now();
    for (int i = 0; i < ninputs; i++)
        if (gpt2_stream_run(&gs, inputs[i].ids, (long)inputs[i].n) != 0) {
            err_prefix("%s", ids_path ? ids_path : texts[i]);
            cli_fail();
            goto done;
        }
    t = time_now() - t;
    if (npy_writer_end(&wa) != 0 || (logits_path && npy_writer_end(&wl) != 0)) {
        cli_fail();
        goto done;
    }
    char tl[64];
    gpt2_site_tl_name(tl, sizeof tl, (int)layer, site);
    long windows = 0;
    for (int i = 0; i < ninputs; i++) windows += ((long)inputs[i].n + m.cfg.n_ctx - 1) / m.cfg.n_ctx;
    fprintf(stderr, "capture: %ld tokens (%ld window%s of <= %d), layer %ld %s (%s) -> %s [%ld, %d]%s%s, %.2f s\n",
            Ttot, windows, windows == 1 ? "" : "s", m.cfg.n_ctx, layer, gpt2_site_name(site), tl, out_path, Ttot,
            width, logits_path ? ", logits -> " : "", logits_path ? logits_path : "", t);
    status = 0;
done:
    npy_writer_abort(&wa);
    npy_writer_abort(&wl);
    gpt2_stream_free(&gs);
    gpt2_forward_free(&f);
    for (int i = 0; i < ninputs; i++) bpe_ids_free(&inputs[i]);
    free(inputs);
    bpe_free(&bpe);
    gpt2_model_free(&m);
    free(wpath);
done_args:
    free(texts);
    return status;
}
