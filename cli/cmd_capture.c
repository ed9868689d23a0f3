/*
 * cli/cmd_capture.c - ./run capture: run GPT-2 on token ids or texts and save
 * the activation at one layer and site as float32 .npy (and, optionally, the
 * logits). One short function per stage over one state (Capture): options ->
 * model -> inputs -> the streamed run (gpt2_stream) -> the closing line.
 */
#include "cli/cli.h"
#include "core/pool.h"
#include "core/util.h"
#include "gpt2/gpt2.h"
#include "gpt2/model.h"
#include "tokenizer/bpe.h"
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
            "  --cache DIR          the cache folder for downloads (default $GPT2SAE_CACHE,\n"
            "                       else ~/.cache/gpt2sae)\n"
            "\n"
            "Long inputs: GPT-2 sees at most n_ctx (1024) tokens at once, so a longer input\n"
            "is run in consecutive NON-OVERLAPPING windows of n_ctx tokens, each starting\n"
            "fresh at position 0 (a token sees only the earlier tokens of its own window).\n"
            "Nothing is truncated: every token gets its row.\n"
            "Without --logits the pass stops right after the captured site.\n");
}

/* The run's state, stage after stage. */
typedef struct {
    /* options */
    const char *weights, *site_name, *ids_path, *out_path, *logits_path;
    const char **texts;   /* (ntexts) text files, borrowed from argv */
    int ntexts;
    long layer;           /* -1: n_layer / 2 */
    GPT2Site site;
    /* the model */
    char *wpath;
    GPT2Model m;
    /* the inputs: one id list per file */
    BPEIds *inputs;       /* (ninputs) */
    int ninputs;
    long T;               /* every input's tokens */
} Capture;

/* The options into c. Returns -1 to go on, else the exit status (0 for --help). */
static int capture_parse(Capture *c, int argc, char **argv) {
    long threads = 0;
    const CLIOpt opts[] = {
        {"--weights", CLI_STR, .dst = &c->weights},
        {"--layer", CLI_LONG, .dst = &c->layer, .lo = 0, .hi = 100000},
        {"--site", CLI_STR, .dst = &c->site_name},
        {"--ids", CLI_STR, .dst = &c->ids_path},
        {"-o", CLI_STR, .dst = &c->out_path},
        {"--out", CLI_STR, .dst = &c->out_path},
        {"--logits", CLI_STR, .dst = &c->logits_path},
        {"--threads", CLI_LONG, .dst = &threads, .lo = 1, .hi = 256},
        {"--cache", CLI_CALL, .fn = cli_opt_cache},
        {0}};
    CLIList texts = {c->texts, &c->ntexts};
    const CLISpec spec = {"capture", {opts}, .usage = capture_usage, .operand = cli_operand_push, .ctx = &texts};
    int status;
    if (cli_parse(&spec, argc, argv, &status)) return status;
    if (!c->out_path) return cli_error(2, "capture: give the output file with -o acts.npy (see ./run capture --help)");
    if (c->logits_path && strcmp(c->logits_path, c->out_path) == 0)
        return cli_error(2, "capture: -o and --logits name the same file (%s): give each its own", c->out_path);
    if (!c->ids_path && c->ntexts == 0) return cli_error(2, "capture: no input: give --ids FILE or one or more text files");
    if (c->ids_path && c->ntexts > 0) return cli_error(2, "capture: give either --ids FILE or text files, not both");
    int site_layer = -1;
    if (c->site_name && gpt2_site_parse(c->site_name, &site_layer, &c->site) != 0) return cli_fail();
    if (site_layer >= 0 && c->layer >= 0 && site_layer != c->layer)
        return cli_error(2, "capture: --site %s names layer %d but --layer is %ld", c->site_name, site_layer, c->layer);
    if (site_layer >= 0) c->layer = site_layer;
    if (threads > 0) pool_set_threads((int)threads);
    return -1;
}

/* The checkpoint, and the layer checked against it. Returns 0, or the exit status. */
static int capture_model(Capture *c) {
    c->wpath = cli_weights_resolve(c->weights);
    if (!c->wpath || gpt2_model_load(&c->m, c->wpath) != 0) return cli_fail();
    if (c->layer < 0) c->layer = c->m.cfg.n_layer / 2;
    if (c->layer >= c->m.cfg.n_layer)
        return cli_error(2, "capture: layer %ld does not exist: %s has layers 0..%d", c->layer, c->wpath,
                         c->m.cfg.n_layer - 1);
    if (c->m.cfg.random) fprintf(stderr, "gpt2sae: note: %s holds RANDOM weights (./run synth), not GPT-2\n", c->wpath);
    return 0;
}

/* The name of input i in messages. */
static const char *input_name(const Capture *c, int i) { return c->ids_path ? c->ids_path : c->texts[i]; }

/* The inputs: --ids, or each text tokenized with the checkpoint's tokenizer.
 * Returns 0, or the exit status. */
static int capture_inputs(Capture *c) {
    c->ninputs = c->ids_path ? 1 : c->ntexts;
    c->inputs = xcalloc((size_t)c->ninputs, sizeof *c->inputs);
    if (c->ids_path) {
        if (bpe_ids_read(c->ids_path, &c->inputs[0]) != 0) return cli_fail();
    } else {
        BPE bpe = {0};
        if (cli_tokenizer_load(&bpe, c->wpath) != 0) return cli_fail();
        for (int i = 0; i < c->ntexts; i++) {
            char *text;
            size_t len;
            int rc = file_read_all(c->texts[i], &text, &len);
            if (rc == 0) {
                rc = bpe_encode(&bpe, text, len, 0, &c->inputs[i]);
                free(text);
                if (rc != 0) err_prefix("%s", c->texts[i]);
            }
            if (rc == 0 && c->inputs[i].n == 0)
                rc = err_set("%s: the text is empty: there are no tokens to run the model on", c->texts[i]);
            if (rc != 0) {
                bpe_free(&bpe);
                return cli_fail();
            }
        }
        bpe_free(&bpe);
    }
    for (int i = 0; i < c->ninputs; i++) {
        if (c->inputs[i].n > (size_t)1 << 30)
            return cli_error(1, "%s: %zu tokens is too many for one run", input_name(c, i), c->inputs[i].n);
        c->T += (long)c->inputs[i].n;
    }
    return 0;
}

/* The run, window by window (n_ctx tokens, each from position 0), rows
 * stacked and streamed into the .npy files: memory is one window, not the
 * corpus. Returns 0 or -1 (err_get()); *secs = the forward passes' time. */
static int capture_run(Capture *c, double *secs) {
    GPT2Forward f = {0};
    GPT2Stream gs = {0};
    NpyWriter wa = {0}, wl = {0};   /* the activations' and the logits' files, written as windows finish */
    int width = gpt2_site_width(&c->m.cfg, c->site), V = c->m.cfg.vocab_size;
    gpt2_forward_init(&f, &c->m);
    gpt2_stream_init(&gs, &f);
    int rc = gpt2_stream_add(&gs, (int)c->layer, c->site, gpt2_rows_to_npy, &wa);
    if (c->logits_path) gpt2_stream_add_logits(&gs, gpt2_rows_to_npy, &wl);
    if (rc == 0) rc = npy_writer_begin(&wa, c->out_path, (int64_t[]){c->T, width}, 2);
    if (rc == 0 && c->logits_path) rc = npy_writer_begin(&wl, c->logits_path, (int64_t[]){c->T, V}, 2);
    double t = time_now();
    for (int i = 0; i < c->ninputs && rc == 0; i++)
        if (gpt2_stream_run(&gs, c->inputs[i].ids, (long)c->inputs[i].n) != 0) rc = err_prefix("%s", input_name(c, i));
    *secs = time_now() - t;
    if (rc == 0) rc = npy_writer_end(&wa);
    if (rc == 0 && c->logits_path) rc = npy_writer_end(&wl);
    npy_writer_abort(&wa);
    npy_writer_abort(&wl);
    gpt2_stream_free(&gs);
    gpt2_forward_free(&f);
    return rc;
}

/* The closing line on stderr. */
static void capture_report(const Capture *c, double secs) {
    char tl[64];
    gpt2_site_tl_name(tl, sizeof tl, (int)c->layer, c->site);
    long windows = 0;
    for (int i = 0; i < c->ninputs; i++) windows += ((long)c->inputs[i].n + c->m.cfg.n_ctx - 1) / c->m.cfg.n_ctx;
    fprintf(stderr, "capture: %ld tokens (%ld window%s of <= %d), layer %ld %s (%s) -> %s [%ld, %d]%s%s, %.2f s\n",
            c->T, windows, windows == 1 ? "" : "s", c->m.cfg.n_ctx, c->layer, gpt2_site_name(c->site), tl,
            c->out_path, c->T, gpt2_site_width(&c->m.cfg, c->site), c->logits_path ? ", logits -> " : "",
            c->logits_path ? c->logits_path : "", secs);
}

int cmd_capture(int argc, char **argv) {
    Capture c = {.weights = "gpt2", .layer = -1, .site = GPT2_MLP_PRE};
    c.texts = xcalloc((size_t)argc, sizeof *c.texts);
    double secs = 0;
    int status = capture_parse(&c, argc, argv);   /* -1: go on; else done (--help, a usage error) */
    if (status < 0) {
        status = capture_model(&c);
        if (status == 0) status = capture_inputs(&c);
        if (status == 0) status = capture_run(&c, &secs) == 0 ? 0 : cli_fail();
        if (status == 0) capture_report(&c, secs);
    }
    for (int i = 0; i < c.ninputs; i++) bpe_ids_free(&c.inputs[i]);
    free(c.inputs);
    gpt2_model_free(&c.m);
    free(c.wpath);
    free(c.texts);
    return status;
}
