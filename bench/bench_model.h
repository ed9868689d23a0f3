/*
 * bench/bench_model.h - the GPT-2 checkpoint a CPU benchmark runs on: the
 * one in dir; when dir holds none (and synth is set), the synthetic GPT-2
 * small of `./run synth --seed 1337` is written there first, once, and later
 * runs reuse it.
 *
 *   GPT2Model m;
 *   if (bench_model_load(&m, "/tmp/gpt2sae_bench_gpt2_1337", 1, "bench_gpt2") != 0) return 1;
 *
 * On failure the message goes to stderr, prefixed by who, and -1 returns.
 */
#ifndef BENCH_BENCH_MODEL_H
#define BENCH_BENCH_MODEL_H

#include "core/util.h"
#include "gpt2/gpt2.h"

#include <stdio.h>
#include <stdlib.h>

static inline int bench_model_load(GPT2Model *m, const char *dir, int synth, const char *who) {
    char *st = path_join(dir, "model.safetensors");
    GPT2Config cfg;
    int bad = synth && !path_is_file(st) &&
              (gpt2_config_named(&cfg, "gpt2") != 0 || gpt2_model_synth(dir, &cfg, 1337) != 0);
    free(st);
    if (!bad && gpt2_model_load(m, dir) == 0) return 0;
    fprintf(stderr, "%s: %s\n", who, err_get());
    return -1;
}

#endif
