/*
 * cli/main.c - the gpt2sae binary that ./run calls: dispatch to a subcommand,
 * or run the whole pipeline on the files given. A first argument that is
 * neither a subcommand nor an existing file but nearly a subcommand's name is
 * refused with a suggestion; `./run -- FILE...` reads every argument after
 * the "--" as a file (the pipeline's cli_parse).
 */
#include "cli/cli.h"
#include "core/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} commands[] = {
    {"tokenize", cmd_tokenize, "tokenize a text with GPT-2's BPE (or decode ids; --bin: a corpus to a token file)"},
    {"capture", cmd_capture, "run GPT-2 and save the activation at a layer/site as .npy"},
    {"harvest", cmd_harvest, "run GPT-2 over a token file and write the activations to an on-disk cache"},
    {"train", cmd_train, "train the sparse autoencoder on captured activations"},
    {"synth", cmd_synth, "write a random GPT-2 checkpoint (any size) for tests and offline runs"},
    {"inspect", cmd_inspect, "print one mechanism at work on a short text (docs/TOUR.md)"},
    {"fetch", cmd_fetch, "download and verify the official weights and tokenizer files"},
    {"generate", cmd_generate, "continue a prompt (KV cache, sampling), optionally steering SAE latents"},
    {"eval", cmd_eval, "splice a trained SAE into the model: CE/KL scores, variance explained, ..."},
    {"features", cmd_features, "what each latent responds to over a corpus: an offline feature browser"},
};

static void usage(FILE *f) {
    fprintf(f,
            "usage: ./run [OPTIONS] [--] FILE...   the whole pipeline (see ./run --help-pipeline)\n"
            "       ./run COMMAND [OPTIONS]        one step\n"
            "       ./run COMMAND --help           that step's options\n"
            "\n"
            "commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
    fprintf(f,
            "\n"
            "  --version                print the version and the build's features\n"
            "  --help                   this text, followed by the pipeline's options\n"
            "\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        char *h[] = {"pipeline", "--help", NULL};
        return cmd_pipeline(2, h);
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        cli_version();
        return 0;
    }
    const char *names[sizeof commands / sizeof commands[0] + 1];
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].fn(argc - 1, argv + 1);
        names[i] = commands[i].name;
    }
    names[sizeof commands / sizeof commands[0]] = NULL;
    /* "./run tokenzie x.txt": a typo of a subcommand, not a missing file */
    const char *near = argv[1][0] != '-' && !path_is_file(argv[1]) && !path_is_dir(argv[1])
                           ? cli_nearest(argv[1], names) : NULL;
    if (near)
        return cli_error(2, "'%s' is neither a command nor a file; did you mean ./run %s? (./run --help lists the "
                            "commands)", argv[1], near);
    /* anything else: the pipeline over the files (and options) given */
    argv[0] = "pipeline";
    return cmd_pipeline(argc, argv);
}
