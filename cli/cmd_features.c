/*
 * cli/cmd_features.c - ./run features: what each latent of an SAE responds
 * to, over a corpus (features/features.h), written as an offline browser.
 */
#include "cli/cli.h"
#include "cli/pipeline.h"
#include "core/util.h"
#include "data/corpus.h"
#include "data/data.h"
#include "features/features.h"
#include "weights/fetch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void features_usage(FILE *f) {
    fprintf(f,
            "usage: ./run features --sae DIR [--weights PATH|NAME | --random-weights] [--tokens N]\n"
            "                      [--ctx N] [--radius N] [--seed N] [--neuronpedia N] [-o DIR] DATA...\n"
            "\n"
            "Run the corpus through the model and the SAE twice (pass 1: density, mean, max,\n"
            "top 20 windows; pass 2: histogram and quantile samples against the final max),\n"
            "compute each latent's logit effects, and write an offline feature browser:\n"
            "DIR/index.html opens from file:// with no server.\n"
            "\n"
            "  --sae DIR            the SAE: a pipeline or train output folder (SAELens: sae_weights.safetensors\n"
            "                       + cfg.json, any architecture; sparsify: sae.safetensors)\n"
            "  --weights PATH|NAME  the model (default gpt2: from the cache, fetched on first use)\n"
            "  --random-weights     a synthetic GPT-2 small (seed 0, cached; outputs marked)\n"
            "  --tokens N           use the first N tokens (whole windows; default: all)\n"
            "  --ctx N              tokens per window, <|endoftext|> first (default %d)\n"
            "  --radius N           context tokens each side of an example (default 8)\n"
            "  --seed N             the quantile samples' seed (default 0)\n"
            "  --neuronpedia N      also write DIR/neuronpedia/batch-K.json, N features a file\n"
            "                       (Neuronpedia's upload layout; fields: features/features.h)\n"
            "  -o, --out DIR        the browser's folder (default out/features)\n"
            "  DATA...              a token file (.bin, data/data.h), or texts and folders of\n"
            "                       texts (tokenised first, as ./run tokenize does)\n",
            DATA_DEFAULT_CTX);
}

/* The token file of DATA: a .bin as it is, else texts tokenised into a
 * temporary file ($TMPDIR or /tmp) that is unlinked once mapped. */
static int features_tokens(TokFile *tf, const char **in, int n_in, const char *out, const BPE *bpe) {
    if (n_in == 1 && cli_is_token_file(in[0])) return tokfile_open(tf, in[0], DATA_AUTO);
    for (int i = 0; i < n_in; i++)
        if (cli_is_token_file(in[i]))
            return err_set("%s: a token file is read alone (give it as the only DATA)", in[i]);
    (void)out;
    const char *td = getenv("TMPDIR");
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s/gpt2sae-features-%d.bin", td && *td ? td : "/tmp", (int)getpid());
    CorpusParams p = corpus_default_params();
    if (corpus_tokenize(bpe, in, n_in, tmp, &p, NULL) != 0) return -1;
    int rc = tokfile_open(tf, tmp, DATA_LLMC);
    unlink(tmp);
    if (rc == 0) free(tf->path), tf->path = xstrdup(n_in > 1 ? "the texts given" : in[0]);  /* messages name the input */
    return rc;
}

int cmd_features(int argc, char **argv) {
    CLISAEArgs sa = {0};
    CLIOpt shared[CLI_SAE_OPTS];
    cli_sae_table(&sa, shared);
    const char *out = "out/features";
    int n_in = 0;
    long max_tokens = 0, ctx = DATA_DEFAULT_CTX, radius = 8, seed = 0, np_batch = 0;
    const char **in = xcalloc((size_t)argc + 1, sizeof(char *));
    const CLIOpt opts[] = {
        {"--tokens", CLI_LONG, .dst = &max_tokens, .lo = 2, .hi = 1L << 40},
        {"--ctx", CLI_LONG, .dst = &ctx, .lo = 2, .hi = 1 << 20},
        {"--radius", CLI_LONG, .dst = &radius, .lo = 0, .hi = 512},
        {"--seed", CLI_LONG, .dst = &seed, .lo = 0, .hi = 1L << 62},
        {"--neuronpedia", CLI_LONG, .dst = &np_batch, .lo = 1, .hi = 1 << 20},
        {"-o", CLI_STR, .dst = &out},
        {"--out", CLI_STR, .dst = &out},
        {0}};
    CLIList inputs = {in, &n_in};
    const CLISpec spec = {"features", {shared, opts}, .usage = features_usage, .operand = cli_operand_push, .ctx = &inputs};
    int r;
    if (cli_parse(&spec, argc, argv, &r)) {
        free(in);
        return r;
    }
    if ((r = cli_sae_args("features", &sa, n_in, "a token file, texts or folders")) != 0) {
        free(in);
        return r;
    }

    int status = 1;
    CLISAEModel S = {0};
    GPT2Forward f = {0};
    TokFile tf = {0};
    FeatStats fs = {0};
    FeatLogits lg = {0};
    /* everything that can be checked before the model runs */
    if (cli_sae_model_open(&S, &sa) != 0) goto fail;
    if (ctx > S.m.cfg.n_ctx) {
        err_set("--ctx %ld: this model sees at most %d tokens", ctx, S.m.cfg.n_ctx);
        goto fail;
    }
    if (features_tokens(&tf, in, n_in, out, &S.bpe) != 0) goto fail;
    tf.vocab = S.m.cfg.vocab_size;
    DataWindows win;
    if (data_windows_init(&win, &tf, (int)ctx, 1) != 0) goto fail;
    size_t nw = data_windows_count(&win);
    if (max_tokens > 0 && (size_t)max_tokens / (size_t)ctx < nw) nw = (size_t)max_tokens / (size_t)ctx;
    if (nw == 0) {
        err_set("--tokens %ld is less than one window of %ld tokens", max_tokens, ctx);
        goto fail;
    }
    FeatParams p = feat_default_params();
    p.radius = (int)radius, p.seed = (uint64_t)seed;
    if (feat_init(&fs, S.sae.d_sae, &p) != 0) goto fail;
    const char *label = S.m.cfg.random || sa.random ? RANDOM_LABEL : NULL;
    if (label) fprintf(stderr, "*** %s ***\n", label);
    fprintf(stderr, "features: %zu windows of %ld tokens, %d latents at %s; per-latent state %.1f MB\n", nw, ctx,
            S.sae.d_sae, S.sae.hook, feat_bytes(&fs) / 1e6);
    gpt2_forward_init(&f, &S.m);
    FeatTimes tm;
    if (feat_collect_windows(&fs, &f, &S.sae, S.layer, S.site, &win, nw, &tm) != 0) goto fail;
    double t_pass = tm.total, t_lg = time_now();
    if (feat_logits(&lg, &S.sae, &S.m, S.layer, S.site, &p) != 0) goto fail;
    t_lg = time_now() - t_lg;
    char corpus[512];
    snprintf(corpus, sizeof corpus, "%s%s (%zu tokens used)", in[0], n_in > 1 ? " and more" : "", nw * (size_t)ctx);
    FeatInfo info = {sa.random ? "random GPT-2 small" : S.m.cfg.name, S.sae.hook, sa.sae_dir, label, corpus, (int)ctx,
                     S.m.cfg.vocab_size, t_pass, (int)np_batch, 0, NULL};
    if (feat_write_browser(out, &fs, &lg, &S.bpe, &info) != 0) goto fail;
    double ntok = (double)nw * ctx;
    fprintf(stderr,
            "features: 2 passes over %zu tokens in %.2f s (%.0f tokens/s a pass, %.0f corpus tokens/s): forward %.2f s, "
            "encode %.2f s, per-latent upkeep %.2f s; logit effects %.2f s -> %s/index.html\n",
            nw * (size_t)ctx, t_pass, 2 * ntok / t_pass, ntok / t_pass, tm.forward, tm.encode, tm.upkeep, t_lg, out);
    status = 0;
    goto done;
fail:
    cli_fail();
done:
    feat_logits_free(&lg);
    feat_free(&fs);
    tokfile_close(&tf);
    gpt2_forward_free(&f);
    cli_sae_model_free(&S);
    free(in);
    return status;
}
