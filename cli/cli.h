/*
 * cli/cli.h - the subcommands of ./run, and the option helpers they share.
 * Each subcommand takes the arguments after its name (argv[0] is the
 * subcommand name) and returns the process exit status.
 *
 * A subcommand's options are a table that cli_parse reads:
 *
 *   const CLIOpt opts[] = {
 *       {"-o", CLI_STR, .dst = &out},
 *       {"--out", CLI_STR, .dst = &out},
 *       {"--seed", CLI_LONG, .dst = &seed, .lo = 0, .hi = 2147483647L},
 *       {"--quiet", CLI_SET, .dst = &quiet, .value = 1},
 *       {0}};
 *   CLISpec spec = {"synth", {opts}, .usage = synth_usage, .refuse = "synth reads no files"};
 *   int status;
 *   if (cli_parse(&spec, argc, argv, &status)) return status;   // --help (0) or a usage error (2)
 *   if (do_it() != 0) return cli_fail();        // the library's message, in this command's words
 */
#ifndef CLI_CLI_H
#define CLI_CLI_H

#include "eval/intervene.h"
#include "gpt2/model.h"
#include "tokenizer/bpe.h"

#include <stdint.h>
#include <stdio.h>

int cmd_tokenize(int argc, char **argv);  /* cli/cmd_tokenize.c */
int cmd_capture(int argc, char **argv);   /* cli/cmd_capture.c  */
int cmd_train(int argc, char **argv);     /* cli/cmd_train.c    */
/* ./run train --arch topk|batchtopk|jumprelu|relu|gated (cli/train_arch.c) */
int cmd_train_arch(int argc, char **argv);
/* 1 when argv asks train for an architecture other than the seed's (*arch: its name, "seed" by default) */
int train_arch_requested(int argc, char **argv, const char **arch);
int cmd_synth(int argc, char **argv);     /* cli/cmd_synth.c    */
int cmd_fetch(int argc, char **argv);     /* cli/cmd_fetch.c    */
int cmd_inspect(int argc, char **argv);   /* cli/cmd_inspect.c  */
int cmd_generate(int argc, char **argv);  /* cli/cmd_generate.c */
int cmd_pipeline(int argc, char **argv);  /* cli/cmd_pipeline.c: ./run FILE... */
int cmd_eval(int argc, char **argv);      /* cli/cmd_eval.c     */
int cmd_features(int argc, char **argv);  /* cli/cmd_features.c */
int cmd_harvest(int argc, char **argv);   /* cli/cmd_harvest.c  */
int cmd_train_stream(int argc, char **argv); /* cli/cmd_train_stream.c: train --cache/--dataset/--resume */

/* Print "gpt2sae: <err_get()>" to stderr, in the running command's words
 * (cli_message), and return 1. */
int cli_fail(void);
/* Print "gpt2sae: <formatted message>" to stderr and return 1 (or 2 for usage). */
int cli_error(int status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* ---- the running command ------------------------------------------------- */

/* Declare the running command: name ("synth"; NULL or "pipeline" for the
 * pipeline, which users call as plain ./run) and every option it accepts,
 * a NULL-terminated list of spellings ("-o", "--out", "--help", ...).
 * renames: NULL, or a NULL-terminated list of pairs: the spelling that
 * library messages use for a setting (sae/, weights/, core/ say "--latents",
 * "--cache", ...), then this command's own spelling of it ("--latents-n").
 * Call it first thing in the command; the lists are borrowed (static arrays).
 * Only these lists feed cli_unknown's suggestions and cli_fail's messages,
 * so a command never suggests an option that only another command accepts. */
void cli_command(const char *name, const char *const *opts, const char *const *renames);

/* The accepted option of the running command nearest to arg (its part before
 * any '='): within edit distance 1 (2 for names of 6 letters or more; a swap
 * of two letters is one edit), or the one option arg is a prefix of (3
 * letters at least). NULL when none is near. Borrowed from the list. */
const char *cli_suggest(const char *arg);
/* The same rule over any NULL-terminated list of names (e.g. the subcommands). */
const char *cli_nearest(const char *arg, const char *const *names);
/* "NAME: unknown option 'ARG'; did you mean --X? (./run NAME --help lists the
 * options)" on stderr, the suggestion only when cli_suggest finds one.
 * Returns 2 (the usage error status). */
int cli_unknown(const char *arg);

/* msg as the running command says it: each "--name" in it that the command
 * spells differently (its renames) is renamed; if an option named in it is
 * still not one the command accepts, a note saying so is appended. Returns a
 * new string (the caller frees it). */
char *cli_message(const char *msg);

/* ---- options and operands ------------------------------------------------ */

typedef enum {
    CLI_OPTION,  /* an option (or its value) */
    CLI_OPERAND, /* a file or other operand: "x", "-" (standard input), or anything after "--" */
    CLI_END      /* the first "--": skip it; every later argument is an operand */
} CLIArgKind;
/* What arg is, `--` ending the options as in getopt (cli_parse's rule, for
 * the few places that look ahead in argv). *ended is the loop's state: 0
 * before the first argument; set at the "--". Called first for each
 * argument, before --help and the options, so that `./run x -- --help` names
 * a file "--help". (An option's value is taken before the loop sees it:
 * `--out --` is an output folder named "--".) */
CLIArgKind cli_arg_kind(const char *arg, int *ended);

/* --version: the version and the build's features (CUDA, SIMD level) on stdout. */
void cli_version(void);
/* --cache DIR: the cache folder for downloads (and --random-weights), for
 * this process (weights/fetch.h reads $GPT2SAE_CACHE). Returns 0, or 2 with
 * a message for an empty DIR. */
int cli_cache(const char *dir);
/* --cache DIR as a CLI_CALL option: cli_cache(val) (dst unused). */
int cli_opt_cache(const char *name, const char *val, void *dst);

/* ---- the option table ---------------------------------------------------- */

typedef enum {
    CLI_SET,    /* no value: *(int *)dst = value */
    CLI_OR,     /* no value: *(int *)dst |= value */
    CLI_STR,    /* *(const char **)dst = the value (borrowed from argv) */
    CLI_LONG,   /* *(long *)dst = an integer in [lo, hi] */
    CLI_INT,    /* *(int *)dst = an integer in [lo, hi] (a range that fits an int) */
    CLI_U64,    /* *(uint64_t *)dst = an integer in [lo, hi], lo >= 0 */
    CLI_DOUBLE, /* *(double *)dst = a number in [min, max] */
    CLI_FLOAT,  /* *(float *)dst = a number in [min, max] */
    CLI_DEVICE, /* *(CLIDevice *)dst = cpu, cuda or auto */
    CLI_CALL,   /* fn(name, value, dst): an option with a value the table cannot say */
    CLI_FLAG_CALL /* fn(name, NULL, dst): a flag the same */
} CLIOptKind;

/* One option of a command, written {NAME, KIND, .dst = ..., ...} (the
 * designators keep -Wextra quiet about the fields left out); a table ends
 * with {0}. fn returns 0 to go on, CLI_STOP to end the
 * parse with status 0 (--version), or an exit status (2 for usage, 1 for a
 * failure) after printing its message. given, when set, is set to 1 once
 * the option has been seen. */
typedef struct {
    const char *name;   /* "--tokens", "-o": matches "NAME VALUE" and "NAME=VALUE" (flags: NAME only) */
    CLIOptKind kind;
    void *dst;
    int value;          /* CLI_SET, CLI_OR */
    long lo, hi;        /* CLI_LONG, CLI_INT, CLI_U64: the range */
    double min, max;    /* CLI_DOUBLE, CLI_FLOAT: the range */
    int (*fn)(const char *name, const char *val, void *dst);
    int *given;
} CLIOpt;
#define CLI_STOP (-1)
/* Only flags (CLI_SET, CLI_OR, CLI_FLAG_CALL) match NAME alone; NAME=VALUE is
 * then an unknown option. A later occurrence of an option overrides an
 * earlier one (CLI_CALL options decide for themselves: --hook adds). */

/* A command's command line: its name (as cli_command), up to 4 option tables
 * (each ending with {0}; searched in order, so an earlier table wins),
 * and where operands go: operand(ctx, arg) (0 to go on, else the exit
 * status after a message), or, with operand NULL, each operand refused as
 * "NAME: unexpected argument 'ARG' (REFUSE)". --help and -h print usage on
 * stdout. */
typedef struct {
    const char *name;
    const CLIOpt *opts[4];
    const char *const *renames;
    void (*usage)(FILE *);
    int (*operand)(void *ctx, const char *arg);
    void *ctx;
    const char *refuse;
} CLISpec;

/* The usual operand sink: CLISpec.operand = cli_operand_push, .ctx = a
 * CLIList whose items hold argc entries; each operand is appended. */
typedef struct {
    const char **items;
    int *n;
} CLIList;
int cli_operand_push(void *list, const char *arg);

/* Declare the command (cli_command, with every option of the tables and
 * --help, -h) and parse argv[1..argc) against it, `--` ending the options.
 * Returns 0 to go on, or 1 to stop with *status: 0 after --help (or a
 * CLI_STOP), 2 after a usage error, or a callback's status. */
int cli_parse(const CLISpec *spec, int argc, char **argv, int *status);

/* Parse an integer option value in [lo, hi]; prints a message naming the option on error. */
int cli_int(const char *name, const char *val, long lo, long hi, long *out);
int cli_float(const char *name, const char *val, double lo, double hi, double *out);

/* ---- the device: --device cpu|cuda|auto ---------------------------------- */

/* Every command that can run on the GPU takes --device and resolves it here,
 * so the refusal and the fallback read the same everywhere:
 *
 *   CLIDevice dev = CLI_DEVICE_AUTO;                    // this command's default
 *   ... {"--device", CLI_DEVICE, .dst = &dev}, ...      // in its cli_parse table
 *   int gpu;
 *   if (cli_device(dev, &gpu) != 0) return 1;           // cuda, and no usable GPU: said
 *   if (gpu && cuda_gpt2_init(&g, &m, ctx) != 0) {
 *       if (cli_device_fallback(dev) != 0) return cli_fail();   // cuda: the GPU's error
 *       gpu = 0;                                        // auto: noted, on the CPU
 *   }
 */
typedef enum { CLI_DEVICE_CPU, CLI_DEVICE_CUDA, CLI_DEVICE_AUTO } CLIDevice;
/* A --device value: 0 with *dev set, or 2 (the usage error status) after
 * "option --device: 'VAL' is not cpu, cuda or auto". */
int cli_device_parse(const char *val, CLIDevice *dev);
/* Where dev runs in this process: *gpu = 1 for cuda, and for auto when a GPU
 * is usable (cuda_available()); 0 otherwise. Returns 0, or 1 (the exit status)
 * for cuda without a usable GPU, after "--device cuda: no usable GPU (WHY); use
 * --device cpu or auto" on stderr, in the running command's words. */
int cli_device(CLIDevice dev, int *gpu);
/* The GPU was chosen but could not be set up (err_get() says why): under
 * auto, the note "--device auto: on the CPU (WHY)" on stderr and 0 (go on
 * on the CPU); under cuda -1, err_get() left for the caller's cli_fail(). */
int cli_device_fallback(CLIDevice dev);

/* ---- where the inputs come from (cli/resolve.c) --------------------------- */

/* The checkpoint of a --weights PATH|NAME: an existing file or folder holding
 * model.safetensors, else a model name (gpt2, ...: from the cache, fetched on
 * first use), else a folder (the loader says what is missing). Caller frees;
 * NULL with err_set(). */
char *cli_weights_resolve(const char *weights);
/* --random-weights: a synthetic checkpoint of the named size (gpt2, ...) and
 * seed, made once into the cache folder as random-MODEL-seedSEED and reused
 * after that (every command that takes --random-weights shares it). *made is
 * set to 1 when it was synthesised now (may be NULL). Caller frees; NULL with
 * err_set(). */
char *cli_weights_random(const char *model, uint64_t seed, int *made);
/* The folder of a --weights path: itself for a folder, else the folder the
 * file is in; NULL for NULL. Caller frees. */
char *cli_weights_folder(const char *weights);
/* 1 if a DATA operand names a token file (data/data.h: a name ending in .bin),
 * which eval and features read as it is; texts are tokenized. */
int cli_is_token_file(const char *path);
/* The tokenizer rule of every command that takes --weights: the checkpoint
 * folder's own vocab.json + merges.txt (or encoder.json + vocab.bpe) when it
 * has them (for a .safetensors file: the folder it is in), else the cache
 * (fetched on first use): weights/fetch.h's fetch_tokenizer_near. weights may
 * be NULL (the cache only). Returns 0 or -1. */
int cli_tokenizer_load(BPE *bpe, const char *weights);

/* What eval and features open before they run: the SAE of --sae DIR, the
 * model it reads (--weights PATH|NAME, default gpt2; --random-weights: the
 * pipeline's synthetic GPT-2 small), checked against each other (the layer
 * and site of its hook), and the tokenizer (cli_tokenizer_load). */
typedef struct {
    const char *sae_dir, *weights;
    int random;
} CLISAEArgs;
/* --sae, --weights, --random-weights as a cli_parse table into a */
#define CLI_SAE_OPTS 4
void cli_sae_table(CLISAEArgs *a, CLIOpt t[CLI_SAE_OPTS]);
/* What a command needs of them: --sae DIR and some DATA (data_what says
 * what, e.g. "one or more texts or folders"), and not both --weights and
 * --random-weights. 0, or 2 after a message in NAME's words. */
int cli_sae_args(const char *name, const CLISAEArgs *a, int n_data, const char *data_what);

typedef struct {
    EvalSAE sae;
    GPT2Model m;
    char *wpath;    /* the checkpoint's path (owned) */
    BPE bpe;
    int layer;      /* the SAE's hook */
    GPT2Site site;
} CLISAEModel;
/* 0, or -1 with err_get() (the caller's cli_fail()); free s either way. */
int cli_sae_model_open(CLISAEModel *s, const CLISAEArgs *a);
void cli_sae_model_free(CLISAEModel *s);

#endif
