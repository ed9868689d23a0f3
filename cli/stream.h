/*
 * cli/stream.h - what ./run harvest and ./run train --dataset share: the
 * options that say which model, token file, hooks and windows to harvest,
 * and the setup that loads them (cli/cmd_harvest.c).
 *
 *   HarvestOpts o;
 *   harvest_opts_init(&o);
 *   CLIOpt shared[HARVEST_OPTS];
 *   harvest_opts_table(&o, shared);             // one of the command's option tables (cli_parse)
 *   HarvestSetup s;
 *   if (harvest_setup(&s, &o) != 0) return cli_fail();   // model, token file, Harvest
 *   ... s.h ...
 *   harvest_setup_free(&s);
 */
#ifndef CLI_STREAM_H
#define CLI_STREAM_H

#include "cli/cli.h"
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
/* The shared options as a cli_parse table into t (its entries point into o). */
#define HARVEST_OPTS 13
void harvest_opts_table(HarvestOpts *o, CLIOpt t[HARVEST_OPTS]);
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
