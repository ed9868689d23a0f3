/*
 * cli/resolve.c - where a command's inputs come from: the checkpoint a
 * --weights PATH|NAME means, and the tokenizer files that go with it (one
 * rule for every command: the checkpoint folder's own files when present,
 * else the cache). See cli.h.
 */
#include "cli/cli.h"
#include "core/util.h"
#include "gpt2/model.h"
#include "weights/fetch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *cli_weights_resolve(const char *w) {
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

char *cli_weights_random(const char *model, uint64_t seed, int *made) {
    if (made) *made = 0;
    char *cache = fetch_cache_dir();
    if (!cache) return NULL;
    char name[96];
    snprintf(name, sizeof name, "random-%s-seed%llu", model, (unsigned long long)seed);
    char *dir = path_join(cache, name), *st = path_join(dir, "model.safetensors");
    free(cache);
    int have = path_is_file(st);
    free(st);
    if (have) return dir;
    GPT2Config cfg;
    if (gpt2_config_named(&cfg, model) != 0) {
        err_set("--model %s: unknown (gpt2, gpt2-medium, gpt2-large, gpt2-xl, distilgpt2)", model);
        free(dir);
        return NULL;
    }
    if (gpt2_model_synth(dir, &cfg, seed) != 0) {
        free(dir);
        return NULL;
    }
    if (made) *made = 1;
    return dir;
}

int cli_is_token_file(const char *path) {
    size_t n = strlen(path);
    return n >= 4 && strcmp(path + n - 4, ".bin") == 0;
}

char *cli_weights_folder(const char *weights) {
    if (!weights) return NULL;
    if (path_is_dir(weights)) return xstrdup(weights);
    return path_dir(weights);
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

void cli_sae_table(CLISAEArgs *a, CLIOpt t[CLI_SAE_OPTS]) {
    const CLIOpt opts[CLI_SAE_OPTS] = {
        {"--sae", CLI_STR, .dst = &a->sae_dir},
        {"--weights", CLI_STR, .dst = &a->weights},
        {"--random-weights", CLI_SET, .dst = &a->random, .value = 1},
        {0}};
    memcpy(t, opts, sizeof opts);
}

int cli_sae_model_open(CLISAEModel *s, const CLISAEArgs *a) {
    memset(s, 0, sizeof *s);
    if (eval_sae_load(&s->sae, a->sae_dir) != 0) return -1;
    s->wpath = a->random ? cli_weights_random("gpt2", 0, NULL) : cli_weights_resolve(a->weights ? a->weights : "gpt2");
    if (!s->wpath || gpt2_model_load(&s->m, s->wpath) != 0) return -1;
    if (eval_sae_check(&s->sae, &s->m, &s->layer, &s->site) != 0) return -1;
    return cli_tokenizer_load(&s->bpe, s->wpath);
}

void cli_sae_model_free(CLISAEModel *s) {
    bpe_free(&s->bpe);
    gpt2_model_free(&s->m);
    eval_sae_free(&s->sae);
    free(s->wpath);
    memset(s, 0, sizeof *s);
}

int cli_sae_args(const char *name, const CLISAEArgs *a, int n_data, const char *data_what) {
    if (!a->sae_dir || n_data == 0)
        return cli_error(2, "%s: give --sae DIR and %s (./run %s --help)", name, data_what, name);
    if (a->random && a->weights) return cli_error(2, "%s: --weights and --random-weights exclude each other: pick one", name);
    return 0;
}
