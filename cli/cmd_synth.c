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

static const char *const synth_opts[] = {"-o",     "--out",   "--model", "--n-layer", "--n-head", "--n-embd",
                                         "--vocab", "--n-ctx", "--seed",  "--help",    "-h",       NULL};

int cmd_synth(int argc, char **argv) {
    const char *out = NULL, *model = "gpt2", *v;
    long n_layer = 0, n_head = 0, n_embd = 0, vocab = 0, n_ctx = 0, seed = 1337;
    int ended = 0;
    cli_command("synth", synth_opts, NULL);
    for (int i = 1; i < argc; i++) {
        int r;
        CLIArgKind kind = cli_arg_kind(argv[i], &ended);
        if (kind == CLI_END) continue;
        if (kind == CLI_OPERAND) {
            synth_usage(stderr);
            return cli_error(2, "synth: unexpected argument '%s' (synth reads no files; -o DIR names the output)",
                             argv[i]);
        }
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            synth_usage(stdout);
            return 0;
        }
        if ((r = cli_opt(argc, argv, &i, "-o", &out)) || (r = cli_opt(argc, argv, &i, "--out", &out)) ||
            (r = cli_opt(argc, argv, &i, "--model", &model))) {
            if (r < 0) return 2;
            continue;
        }
        struct {
            const char *name;
            long *dst, lo, hi;
        } ints[] = {
            {"--n-layer", &n_layer, 1, 1024}, {"--n-head", &n_head, 1, 4096},  {"--n-embd", &n_embd, 1, 65536},
            {"--vocab", &vocab, 1, 10000000}, {"--n-ctx", &n_ctx, 1, 1048576}, {"--seed", &seed, 0, 2147483647L},
        };
        int matched = 0;
        for (size_t k = 0; k < sizeof ints / sizeof ints[0] && !matched; k++) {
            r = cli_opt(argc, argv, &i, ints[k].name, &v);
            if (r < 0) return 2;
            if (r == 0) continue;
            if (cli_int(ints[k].name, v, ints[k].lo, ints[k].hi, ints[k].dst) != 0) return 2;
            matched = 1;
        }
        if (!matched) return cli_unknown(argv[i]);
    }
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
