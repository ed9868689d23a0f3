/*
 * cli/cli.h - the subcommands of ./run. Each takes the arguments after its
 * name (argv[0] is the subcommand name) and returns the process exit status.
 * Shared option helpers live here too.
 */
#ifndef CLI_CLI_H
#define CLI_CLI_H

int cmd_tokenize(int argc, char **argv);  /* cli/cmd_tokenize.c */
int cmd_capture(int argc, char **argv);   /* cli/cmd_capture.c  */
int cmd_train(int argc, char **argv);     /* cli/cmd_train.c    */
int cmd_synth(int argc, char **argv);     /* cli/cmd_synth.c    */
int cmd_fetch(int argc, char **argv);     /* cli/cmd_fetch.c    */
int cmd_pipeline(int argc, char **argv);  /* cli/cmd_pipeline.c: ./run FILE... */

/* Print "gpt2sae: <err_get()>" to stderr and return 1. */
int cli_fail(void);
/* Print "gpt2sae: <formatted message>" to stderr and return 1 (or 2 for usage). */
int cli_error(int status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Option parsing: if argv[*i] is `name` (then the value is argv[*i+1]) or
 * `name=VALUE`, store the value in *val, advance *i past it, and return 1.
 * Returns 0 if argv[*i] is not this option, -1 if the value is missing
 * (message already printed). */
int cli_opt(int argc, char **argv, int *i, const char *name, const char **val);
/* Parse an integer option value in [lo, hi]; prints a message naming the option on error. */
int cli_int(const char *name, const char *val, long lo, long hi, long *out);
int cli_float(const char *name, const char *val, double lo, double hi, double *out);

#endif
