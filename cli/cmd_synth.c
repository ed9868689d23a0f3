/*
 * cli/cmd_synth.c - ./run synth: write a random GPT-2 checkpoint (any size)
 * in Hugging Face's layout, for tests and for running offline. Everything
 * computed on it is labelled as random weights (config.json and metadata).
 */
#include "cli/cli.h"
#include "core/util.h"
#include "gpt2/model.h"

#include <stdio.h>
#include <string.h>

static void synth_usage(FILE *f) {
    fprintf(f,
            "usage: ./run synth -o DIR [OPTIONS]\n"
            "\n"
            "Write DIR/model.safetensors and DIR/config.json: a GPT-2 with RANDOM weights\n"
            "(not GPT-2; for tests and offline runs), deterministic from --seed.\n"
            "\n"
            "  -o, --out DIR     output folder (created if missing; files replaced atomically)\n"
            "  --model NAME      size to start from: gpt2 (default), gpt2-medium, gpt2-large,\n"
            "                    gpt2-xl, distilgpt2\n"
            "  --n-layer N       number of blocks\n"
            "  --n-head N        attention heads (must divide n_embd)\n"
            "  --n-embd N        width C\n"
            "  --vocab N         vocabulary size V\n"
            "  --n-ctx N         positions (the wpe table)\n"
            "  --seed S          random seed (default 1337)\n");
}

int cmd_synth(int argc, char **argv) {
    const char *out = NULL, *model = "gpt2";
    long n_layer = 0, n_head = 0, n_embd = 0, vocab = 0, n_ctx = 0, seed = 1337;
    const CLIOpt opts[] = {
        {"-o", CLI_STR, .dst = &out},
        {"--out", CLI_STR, .dst = &out},
        {"--model", CLI_STR, .dst = &model},
        {"--n-layer", CLI_LONG, .dst = &n_layer, .lo = 1, .hi = 1024},
        {"--n-head", CLI_LONG, .dst = &n_head, .lo = 1, .hi = 4096},
        {"--n-embd", CLI_LONG, .dst = &n_embd, .lo = 1, .hi = 65536},
        {"--vocab", CLI_LONG, .dst = &vocab, .lo = 1, .hi = 10000000},
        {"--n-ctx", CLI_LONG, .dst = &n_ctx, .lo = 1, .hi = 1048576},
        {"--seed", CLI_LONG, .dst = &seed, .lo = 0, .hi = 2147483647L},
        {0}};
    const CLISpec spec = {"synth", {opts}, .usage = synth_usage, .refuse = "synth reads no files; -o DIR names the output"};
    int status;
    if (cli_parse(&spec, argc, argv, &status)) return status;
    if (!out) {
        synth_usage(stderr);
        return cli_error(2, "synth: -o DIR is required (where to write the checkpoint)");
    }
    GPT2Config cfg;
    if (gpt2_config_named(&cfg, model) != 0)
        return cli_error(2, "synth: unknown --model '%s' (gpt2, gpt2-medium, gpt2-large, gpt2-xl, distilgpt2)",
                         model);
    if (n_layer) cfg.n_layer = (int)n_layer;
    if (n_head) cfg.n_head = (int)n_head;
    if (n_embd) cfg.n_embd = (int)n_embd;
    if (vocab) cfg.vocab_size = (int)vocab;
    if (n_ctx) cfg.n_ctx = (int)n_ctx;
    if (cfg.n_embd % cfg.n_head != 0)
        return cli_error(2, "synth: n_embd %d is not divisible by n_head %d", cfg.n_embd, cfg.n_head);
    double params = (double)cfg.vocab_size * cfg.n_embd + (double)cfg.n_ctx * cfg.n_embd + 2.0 * cfg.n_embd +
                    (double)cfg.n_layer * (12.0 * cfg.n_embd * cfg.n_embd + 13.0 * cfg.n_embd);
    if (params * 4 > 64e9)
        return cli_error(2, "synth: %.0f parameters (%.1f GB) is more than this tool writes (64 GB)", params,
                         params * 4 / 1e9);
    double t0 = time_now();
    if (gpt2_model_synth(out, &cfg, (uint64_t)seed) != 0) return cli_fail();
    printf("wrote %s/model.safetensors and config.json: L=%d NH=%d C=%d V=%d n_ctx=%d, %.1fM parameters "
           "(%.0f MB), seed %ld, %.1f s\n"
           "RANDOM WEIGHTS - not GPT-2: anything computed on them is labelled so.\n",
           out, cfg.n_layer, cfg.n_head, cfg.n_embd, cfg.vocab_size, cfg.n_ctx, params / 1e6, params * 4 / 1e6, seed,
           time_now() - t0);
    return 0;
}
