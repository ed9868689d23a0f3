/*
 * cli/cli.h - the subcommands of ./run, and the option helpers they share.
 * Each subcommand takes the arguments after its name (argv[0] is the
 * subcommand name) and returns the process exit status.
 *
 * An option loop, as every subcommand writes it:
 *
 *   static const char *const opts[] = {"-o", "--out", "--seed", "--help", NULL};
 *   cli_command("synth", opts, NULL);           // for suggestions and messages
 *   int ended = 0;
 *   for (int i = 1; i < argc; i++) {
 *       CLIArgKind k = cli_arg_kind(argv[i], &ended);
 *       if (k == CLI_END) continue;             // "--": the rest are operands
 *       if (k == CLI_OPERAND) { files[n++] = argv[i]; continue; }
 *       if ((r = cli_opt(argc, argv, &i, "--out", &out)) != 0) { if (r < 0) return 2; continue; }
 *       ...
 *       return cli_unknown(argv[i]);            // "... did you mean --seed?"
 *   }
 *   if (do_it() != 0) return cli_fail();        // the library's message, in this command's words
 */
#ifndef CLI_CLI_H
#define CLI_CLI_H

#include "tokenizer/bpe.h"

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
    CLI_OPTION,  /* an option (or its value): parse it with cli_opt & co. */
    CLI_OPERAND, /* a file or other operand: "x", "-" (standard input), or anything after "--" */
    CLI_END      /* the first "--": skip it; every later argument is an operand */
} CLIArgKind;
/* What arg is, `--` ending the options as in getopt. *ended is the loop's
 * state: 0 before the first argument; set at the "--". Call it first for
 * each argument, before --help and the options, so that `./run x -- --help`
 * names a file "--help". (An option's value is taken by cli_opt before the
 * loop sees it: `--out --` is an output folder named "--".) */
CLIArgKind cli_arg_kind(const char *arg, int *ended);

/* --version: the version and the build's features (CUDA, SIMD level) on stdout. */
void cli_version(void);
/* --cache DIR: the cache folder for downloads (and --random-weights), for
 * this process (weights/fetch.h reads $GPT2SAE_CACHE). Returns 0, or 2 with
 * a message for an empty DIR. */
int cli_cache(const char *dir);

/* Option parsing: if argv[*i] is `name` (then the value is argv[*i+1]) or
 * `name=VALUE`, store the value in *val, advance *i past it, and return 1.
 * Returns 0 if argv[*i] is not this option, -1 if the value is missing
 * (message already printed). */
int cli_opt(int argc, char **argv, int *i, const char *name, const char **val);
/* Parse an integer option value in [lo, hi]; prints a message naming the option on error. */
int cli_int(const char *name, const char *val, long lo, long hi, long *out);
int cli_float(const char *name, const char *val, double lo, double hi, double *out);

/* ---- the device: --device cpu|cuda|auto ---------------------------------- */

/* Every command that can run on the GPU takes --device and resolves it here,
 * so the refusal and the fallback read the same everywhere:
 *
 *   CLIDevice dev = CLI_DEVICE_AUTO;                    // this command's default
 *   ... if (OPT("--device")) { if (r < 0 || cli_device_parse(v, &dev)) return 2; }
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
/* The name of dev as the option spells it ("cpu", "cuda", "auto"). */
const char *cli_device_name(CLIDevice dev);

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

#endif
