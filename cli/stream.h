/*
 * cli/stream.h - what ./run harvest and ./run train --dataset share: the
 * options that say which model, token file, hooks and windows to harvest,
 * and the setup that loads them (cli/cmd_harvest.c).
 *
 *   HarvestOpts o;
 *   harvest_opts_init(&o);
 *   for (...) { int r = harvest_opts_parse(&o, argc, argv, &i); if (r < 0) return 2; if (r) continue; ... }
 *   HarvestSetup s;
 *   if (harvest_setup(&s, &o) != 0) return cli_fail();   // model, token file, Harvest
 *   ... s.h ...
 *   harvest_setup_free(&s);
 */
#ifndef CLI_STREAM_H
#define CLI_STREAM_H

#include "data/cache.h"
#include "data/data.h"
#include "gpt2/model.h"
#include "harvest/harvest.h"

typedef struct {
    const char *dataset, *weights, *format;
    int random_weights;
    const char *hooks[CACHE_MAX_HOOKS];
    int n_hooks;
    long ctx, batch, shard_windows;
    double tokens;           /* --tokens: 0 = the whole file */
    int no_bos, exclude_special;
    const char *dtype;
} HarvestOpts;

void harvest_opts_init(HarvestOpts *o);
/* If argv[*i] is one of the shared options, take it (and its value): 1;
 * 0 if it is not one; -1 after printing a usage error. */
int harvest_opts_parse(HarvestOpts *o, int argc, char **argv, int *i);
/* The option names, for cli_command's list (NULL-terminated). */
extern const char *const harvest_opt_names[];
/* "10M", "1.5G", "250k", "1000" -> tokens. 0, or -1 (no message). */
int parse_count(const char *s, double *out);

typedef struct {
    char *wpath;
    GPT2Model m;
    TokFile tf;
    Harvest h;
    CacheMeta meta;   /* model, weights, dataset names for a cache */
} HarvestSetup;

int harvest_setup(HarvestSetup *s, const HarvestOpts *o);
void harvest_setup_free(HarvestSetup *s);

#endif
