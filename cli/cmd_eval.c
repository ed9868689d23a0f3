/*
 * cli/cmd_eval.c - ./run eval: splice an SAE into GPT-2 and measure what it
 * explains (eval/metrics.h) on texts or folders of texts; writes eval.json
 * and eval.html (eval/report.h).
 */
#include "cli/cli.h"
#include "cli/pipeline.h"
#include "core/util.h"
#include "cuda/cuda.h"
#include "data/corpus.h"
#include "data/data.h"
#include "eval/metrics.h"
#include "eval/report.h"
#include "weights/fetch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EOT_ID 50256   /* GPT-2's <|endoftext|>, also its BOS */

static void eval_usage(FILE *f) {
    fprintf(f,
            "usage: ./run eval --sae DIR [--weights PATH|NAME | --random-weights] [--tokens N]\n"
            "                  [--ctx N] [--exclude-bos] [--device D] [-o DIR] FILE|FOLDER...\n"
            "\n"
            "Splice the SAE into the model at the site it was trained on and measure what it\n"
            "explains: CE loss clean / with the SAE / zero- / mean-ablated and the CE loss\n"
            "scores, KL(clean || run) and the KL scores, variance explained (against the\n"
            "mean), MSE per token, cosine, norm ratio, relative bias, L0, L1, dead and dense\n"
            "latents, the feature-density histogram.\n"
            "\n"
            "  --sae DIR            the SAE: a pipeline or ./run train folder, or SAELens's\n"
            "                       (sae_weights.safetensors + cfg.json; topk, jumprelu,\n"
            "                       standard, gated) or sparsify's (sae.safetensors)\n"
            "  --weights PATH|NAME  the model (default gpt2: from the cache, fetched on first use)\n"
            "  --random-weights     a synthetic GPT-2 small (seed 0, cached; outputs marked)\n"
            "  --tokens N           use the first N tokens (whole windows; default: all)\n"
            "  FILE may be one token file (.bin, llm.c or raw uint16: ./run tokenize --bin)\n"
            "  --ctx N              tokens per window (default: the model's n_ctx, 1024)\n"
            "  --exclude-bos        leave <|endoftext|> (BOS/EOS) positions out of the metrics\n"
            "  --device D           cpu (default), cuda, or auto (the GPU when there is one and it\n"
            "                       takes the model, else the CPU): where the forward passes run\n"
            "                       (the SAE and the metrics stay on the CPU)\n"
            "  -o, --out DIR        where eval.json and eval.html go (default out/eval)\n"
            "  FILE|FOLDER...       texts (a folder: its files, recursively, in path order), tokenised with\n"
            "                       GPT-2's BPE and concatenated, then cut into windows of --ctx\n"
            "                       tokens from position 0 (a last partial window is left out)\n");
}

/* The texts named by FILE|FOLDER operands (a folder: its files, recursively,
 * in path order; hidden ones passed over). */
static int expand_inputs(const char **in, int n, char ***out, int *nout) {
    size_t nf = 0, skipped = 0;
    if (corpus_list_names((const char *const *)in, n, CORPUS_ANY_NAME, out, &nf, &skipped) != 0) return -1;
    *nout = (int)nf;
    return 0;
}

int cmd_eval(int argc, char **argv) {
    CLISAEArgs sa = {0};
    CLIOpt shared[CLI_SAE_OPTS];
    cli_sae_table(&sa, shared);
    const char *out_dir = "out/eval";
    CLIDevice device = CLI_DEVICE_CPU;
    int exclude = 0, n_in = 0;
    long max_tokens = 0, ctx = 0;
    const char **in = xcalloc((size_t)argc + 1, sizeof(char *));
    const CLIOpt opts[] = {
        {"--tokens", CLI_LONG, .dst = &max_tokens, .lo = 2, .hi = 1L << 40},
        {"--ctx", CLI_LONG, .dst = &ctx, .lo = 2, .hi = 1 << 20},
        {"--exclude-bos", CLI_SET, .dst = &exclude, .value = 1},
        {"--device", CLI_DEVICE, .dst = &device},
        {"-o", CLI_STR, .dst = &out_dir},
        {"--out", CLI_STR, .dst = &out_dir},
        {0}};
    CLIList inputs = {in, &n_in};
    const CLISpec spec = {"eval", {shared, opts}, .usage = eval_usage, .operand = cli_operand_push, .ctx = &inputs};
    int r;
    if (cli_parse(&spec, argc, argv, &r)) {
        free(in);
        return r;
    }
    int on_gpu;
    if ((r = cli_sae_args("eval", &sa, n_in, "one or more texts or folders")) != 0 ||
        (r = cli_device(device, &on_gpu)) != 0) {
        free(in);
        return r;
    }

    int status = 1;
    char **files = NULL;
    int n_files = 0;
    CLISAEModel S = {0};
    GPT2Forward f = {0};
    BPEIds ids = {0};
    EvalResult res = {0};
    CUDAGPT2 *g = NULL;
    const char **toks = NULL;
    int *tok_lens = NULL;
    /* everything that can be checked before the model runs */
    if (expand_inputs(in, n_in, &files, &n_files) != 0 || cli_sae_model_open(&S, &sa) != 0)
        goto fail;
    const char *label = S.m.cfg.random || sa.random ? RANDOM_LABEL : NULL;
    if (exclude && S.m.cfg.vocab_size <= EOT_ID) {
        err_set("--exclude-bos: this model's vocabulary (%d) has no <|endoftext|> (%d)", S.m.cfg.vocab_size, EOT_ID);
        goto fail;
    }
    if (n_files == 1 && cli_is_token_file(files[0])) {   /* a token file (data/data.h): its first --tokens ids */
        TokFile tf;
        if (tokfile_open(&tf, files[0], DATA_AUTO) != 0) goto fail;
        size_t n = max_tokens > 0 && (size_t)max_tokens < tf.n ? (size_t)max_tokens : tf.n;
        int rc = tokfile_check_range(&tf, 0, n);
        for (size_t i = 0; rc == 0 && i < n; i++) bpe_ids_push(&ids, tf.tokens[i]);
        tokfile_close(&tf);
        if (rc != 0) goto fail;
    }
    for (int i = 0; i < n_files && !(n_files == 1 && cli_is_token_file(files[0])); i++) {
        char *text;
        size_t len;
        if (cli_is_token_file(files[i])) {
            err_set("%s: a token file is read alone (give it as the only FILE)", files[i]);
            goto fail;
        }
        if (file_read_all(files[i], &text, &len) != 0) goto fail;
        int rc = bpe_encode(&S.bpe, text, len, 0, &ids);
        free(text);
        if (rc != 0) { err_prefix("%s", files[i]); goto fail; }
    }
    if (label) fprintf(stderr, "*** %s ***\n", label);
    EvalParams p = eval_default_params();
    p.ctx = (int)ctx;
    p.max_tokens = max_tokens;
    p.exclude_id = exclude ? EOT_ID : -1;
    gpt2_forward_init(&f, &S.m);
    /* on the GPU: the weights uploaded once, one window of ctx a pass */
    EvalPasses gpu = {cuda_eval_grab, cuda_eval_resume, NULL};
    if (on_gpu) {
        int wctx = p.ctx > 0 && p.ctx < S.m.cfg.n_ctx ? p.ctx : S.m.cfg.n_ctx;
        if (cuda_gpt2_init(&g, &S.m, wctx) == 0) gpu.user = g, p.passes = &gpu;
        else if (cli_device_fallback(device) != 0) goto fail;
    }
    double t = time_now();
    if (eval_run(&res, &f, &S.sae, ids.ids, (long)ids.n, &p) != 0) goto fail;
    t = time_now() - t;
    toks = xmalloc(sizeof(char *) * res.n_tokens);
    tok_lens = xmalloc(sizeof(int) * res.n_tokens);
    for (long i = 0; i < res.n_tokens; i++) {
        size_t n;
        toks[i] = bpe_token_bytes(&S.bpe, ids.ids[i], &n);
        tok_lens[i] = (int)n;
    }
    EvalTexts tx = {toks, tok_lens};
    char *json = path_join(out_dir, "eval.json"), *html = path_join(out_dir, "eval.html");
    int rc = path_mkdirs(out_dir);
    if (rc == 0) rc = eval_write_json(&res, json, &S.m, &S.sae, sa.sae_dir, label);
    if (rc == 0) rc = eval_write_html(&res, html, files[0], &tx, label);
    if (rc == 0)
        fprintf(stderr, "eval: %ld tokens (%ld windows of %d), %s: CE clean %.4f, SAE %.4f, score %.4f; KL %.4f; FVE %.4f; "
                        "L0 %.1f; %.2f s%s -> %s, %s\n", res.n_tokens, res.n_windows, res.ctx, S.sae.hook, res.ce[0],
                res.ce[1], res.ce_score, res.kl[1], res.fve, res.l0, t, g ? " (passes on the GPU)" : "", json, html);
    free(json), free(html);
    if (rc == 0) status = 0;
    else cli_fail();
    goto done;
fail:
    cli_fail();
done:
    eval_result_free(&res);
    cuda_gpt2_free(g);
    free(toks), free(tok_lens);
    gpt2_forward_free(&f);
    bpe_ids_free(&ids);
    cli_sae_model_free(&S);
    for (int i = 0; i < n_files; i++) free(files[i]);
    free(files);
    free(in);
    return status;
}
