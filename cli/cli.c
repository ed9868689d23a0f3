/*
 * cli/cli.c - what the subcommands share: option parsing, `--`, the running
 * command's options (for "did you mean" suggestions and for library messages
 * in the command's own words), and error printing. See cli.h.
 */
#include "cli/cli.h"
#include "core/util.h"
#include "cuda/cuda.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* the running command (cli_command); one per process */
static const char *cmd_name;
static const char *const *cmd_opts;
static const char *const *cmd_renames;

void cli_command(const char *name, const char *const *opts, const char *const *renames) {
    cmd_name = name && strcmp(name, "pipeline") != 0 ? name : NULL;
    cmd_opts = opts;
    cmd_renames = renames;
}

/* "./run NAME" or "./run" for the pipeline, into out[64]. */
static const char *prog(char *out) {
    snprintf(out, 64, cmd_name ? "./run %s" : "./run", cmd_name);
    return out;
}

static int accepts(const char *opt, size_t n) {
    for (const char *const *o = cmd_opts; o && *o; o++)
        if (strlen(*o) == n && strncmp(*o, opt, n) == 0) return 1;
    return 0;
}

/* Optimal string alignment distance (Levenshtein plus swaps of neighbours)
 * between a[0..n) and b[0..m), both under 64 bytes (longer: 99). */
static int edit_distance(const char *a, size_t n, const char *b, size_t m) {
    if (n >= 64 || m >= 64) return 99;
    int d[65][65];
    for (size_t i = 0; i <= n; i++) d[i][0] = (int)i;
    for (size_t j = 0; j <= m; j++) d[0][j] = (int)j;
    for (size_t i = 1; i <= n; i++)
        for (size_t j = 1; j <= m; j++) {
            int c = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < c) c = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < c) c = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < c)
                c = d[i - 2][j - 2] + 1;
            d[i][j] = c;
        }
    return d[n][m];
}

const char *cli_suggest(const char *arg) { return cli_nearest(arg, cmd_opts); }

const char *cli_nearest(const char *arg, const char *const *names) {
    if (!arg || !names) return NULL;
    /* compare the names without their dashes ("-out" is near "--out") and without "=VALUE" */
    const char *a = arg;
    while (*a == '-') a++;
    size_t n = strcspn(a, "=");
    const char *best = NULL, *prefix_of = NULL;
    int best_d = 99, n_prefix = 0;
    for (const char *const *o = names; *o; o++) {
        const char *b = *o;
        while (*b == '-') b++;
        size_t m = strlen(b);
        int d = edit_distance(a, n, b, m);
        int limit = m >= 6 ? 2 : m >= 3 ? 1 : 0;
        if (d <= limit && d < best_d) {
            best = *o;
            best_d = d;
        }
        if (n >= 3 && n < m && strncmp(a, b, n) == 0) {
            prefix_of = *o;
            n_prefix++;
        }
    }
    if (best) return best;
    return n_prefix == 1 ? prefix_of : NULL;
}

int cli_unknown(const char *arg) {
    char p[64];
    const char *near = cli_suggest(arg);
    fprintf(stderr, "gpt2sae: %s%sunknown option '%s'", cmd_name ? cmd_name : "", cmd_name ? ": " : "", arg);
    if (near) fprintf(stderr, "; did you mean %s?", near);
    fprintf(stderr, " (%s --help lists the options)\n", prog(p));
    return 2;
}

/* Does an option name start at msg[i]? "--" then a letter or digit, at the
 * start or after a space, bracket, quote or comma (not inside a word or a
 * path). Returns its length (up to the first character that is not a
 * letter, digit or '-'), or 0. */
static size_t option_at(const char *msg, size_t i) {
    if (msg[i] != '-' || msg[i + 1] != '-') return 0;
    char c = msg[i + 2];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) return 0;
    if (i > 0 && !strchr(" \t\n([{'\"`,;:", msg[i - 1])) return 0;
    size_t n = 2;
    while ((msg[i + n] >= 'a' && msg[i + n] <= 'z') || (msg[i + n] >= 'A' && msg[i + n] <= 'Z') ||
           (msg[i + n] >= '0' && msg[i + n] <= '9') || msg[i + n] == '-' || msg[i + n] == '_')
        n++;
    while (msg[i + n - 1] == '-') n--; /* "--k-" at the end of a phrase: the name is "--k" */
    return n;
}

char *cli_message(const char *msg) {
    if (!cmd_opts) return xstrdup(msg);
    char *out = NULL;
    size_t out_len = 0;
    const char *missing[4]; /* the first options named that this command does not accept */
    size_t missing_len[4];
    int nm = 0;
    FILE *f = open_memstream(&out, &out_len);
    for (size_t i = 0; msg[i];) {
        size_t n = option_at(msg, i);
        if (!n) {
            fputc(msg[i++], f);
            continue;
        }
        const char *to = NULL;
        for (const char *const *r = cmd_renames; r && r[0] && r[1]; r += 2)
            if (strlen(r[0]) == n && strncmp(r[0], msg + i, n) == 0) to = r[1];
        if (to) {
            fputs(to, f);
        } else {
            fwrite(msg + i, 1, n, f);
            int seen = accepts(msg + i, n);
            for (int k = 0; k < nm && !seen; k++) seen = missing_len[k] == n && !strncmp(missing[k], msg + i, n);
            if (!seen && nm < 4) {
                missing[nm] = msg + i;
                missing_len[nm++] = n;
            }
        }
        i += n;
    }
    if (nm) {
        char p[64];
        fprintf(f, " (%s has no option ", prog(p));
        for (int k = 0; k < nm; k++) fprintf(f, "%s%.*s", k ? ", " : "", (int)missing_len[k], missing[k]);
        fprintf(f, "; %s --help lists its options)", p);
    }
    fclose(f);
    return out;
}

int cli_fail(void) {
    char *m = cli_message(err_get());
    fprintf(stderr, "gpt2sae: %s\n", m);
    free(m);
    return 1;
}

int cli_error(int status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "gpt2sae: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    return status;
}

#ifndef GS_CUDA
#define GS_CUDA 0
#endif

void cli_version(void) {
    printf("gpt2sae %s\n", GS_VERSION);
    printf("cuda: %s\n", GS_CUDA ? "yes" : "no");
    printf("simd: %s\n", cpu_simd_level());
#if defined(__VERSION__)
    printf("compiler: %s\n", __VERSION__);
#endif
}

int cli_cache(const char *dir) {
    if (!*dir) return cli_error(2, "option --cache needs a folder (an empty name was given)");
    setenv("GPT2SAE_CACHE", dir, 1); /* what fetch_cache_dir() reads */
    return 0;
}

int cli_opt_cache(const char *name, const char *val, void *dst) {
    (void)name, (void)dst;
    return cli_cache(val);
}

CLIArgKind cli_arg_kind(const char *arg, int *ended) {
    if (*ended) return CLI_OPERAND;
    if (strcmp(arg, "--") == 0) {
        *ended = 1;
        return CLI_END;
    }
    return arg[0] == '-' && arg[1] != 0 ? CLI_OPTION : CLI_OPERAND;
}

/* If argv[*i] is `name` (then the value is argv[*i+1]) or `name=VALUE`,
 * store the value in *val, advance *i past it, and return 1. Returns 0 if
 * argv[*i] is not this option, -1 if the value is missing (message printed). */
static int cli_opt(int argc, char **argv, int *i, const char *name, const char **val) {
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n) != 0) return 0;
    if (a[n] == '=') {
        *val = a + n + 1;
        return 1;
    }
    if (a[n] != 0) return 0;
    if (*i + 1 >= argc) {
        cli_error(2, "option %s needs a value", name);
        return -1;
    }
    *i += 1;
    *val = argv[*i];
    return 1;
}

int cli_int(const char *name, const char *val, long lo, long hi, long *out) {
    if (parse_int(val, out) != 0 || *out < lo || *out > hi) {
        cli_error(2, "option %s: '%s' is not an integer in [%ld, %ld]", name, val, lo, hi);
        return -1;
    }
    return 0;
}

int cli_float(const char *name, const char *val, double lo, double hi, double *out) {
    if (parse_float(val, out) != 0 || *out < lo || *out > hi) {
        cli_error(2, "option %s: '%s' is not a number in [%g, %g]", name, val, lo, hi);
        return -1;
    }
    return 0;
}

/* ---- the option table ------------------------------------------------------- */

/* Store v (NULL for a flag) as o says; 0, or the exit status after a message. */
static int opt_store(const CLIOpt *o, const char *v) {
    long n;
    double x;
    switch (o->kind) {
    case CLI_SET: *(int *)o->dst = o->value; return 0;
    case CLI_OR: *(int *)o->dst |= o->value; return 0;
    case CLI_STR: *(const char **)o->dst = v; return 0;
    case CLI_LONG: return cli_int(o->name, v, o->lo, o->hi, (long *)o->dst) ? 2 : 0;
    case CLI_INT:
        if (cli_int(o->name, v, o->lo, o->hi, &n)) return 2;
        *(int *)o->dst = (int)n;
        return 0;
    case CLI_U64:
        if (cli_int(o->name, v, o->lo, o->hi, &n)) return 2;
        *(uint64_t *)o->dst = (uint64_t)n;
        return 0;
    case CLI_DOUBLE: return cli_float(o->name, v, o->min, o->max, (double *)o->dst) ? 2 : 0;
    case CLI_FLOAT:
        if (cli_float(o->name, v, o->min, o->max, &x)) return 2;
        *(float *)o->dst = (float)x;
        return 0;
    case CLI_DEVICE: return cli_device_parse(v, (CLIDevice *)o->dst);
    case CLI_CALL:
    case CLI_FLAG_CALL: return o->fn(o->name, v, o->dst);
    }
    return 2;
}

static int is_flag(CLIOptKind k) { return k == CLI_SET || k == CLI_OR || k == CLI_FLAG_CALL; }

int cli_operand_push(void *list, const char *arg) {
    CLIList *l = list;
    l->items[(*l->n)++] = arg;
    return 0;
}

int cli_parse(const CLISpec *spec, int argc, char **argv, int *status) {
    static const char *names[4 * 128 + 3];   /* cli_command borrows it: one command per process */
    size_t nn = 0;
    for (int t = 0; t < 4 && spec->opts[t]; t++)
        for (const CLIOpt *o = spec->opts[t]; o->name && nn < 4 * 128; o++) names[nn++] = o->name;
    names[nn++] = "--help", names[nn++] = "-h", names[nn] = NULL;
    cli_command(spec->name, names, spec->renames);
    int ended = 0;
    for (int i = 1; i < argc; i++) {
        CLIArgKind kind = cli_arg_kind(argv[i], &ended);
        if (kind == CLI_END) continue;
        if (kind == CLI_OPERAND) {
            int r = spec->operand ? spec->operand(spec->ctx, argv[i])
                                  : cli_error(2, "%s: unexpected argument '%s' (%s)", spec->name ? spec->name : "gpt2sae",
                                              argv[i], spec->refuse ? spec->refuse : "this command reads no operands");
            if (r) return *status = r, 1;
            continue;
        }
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            if (spec->usage) spec->usage(stdout);
            return *status = 0, 1;
        }
        const CLIOpt *hit = NULL;
        const char *v = NULL;
        int r = 0;
        for (int t = 0; t < 4 && spec->opts[t] && !hit; t++)
            for (const CLIOpt *o = spec->opts[t]; o->name && !hit; o++) {
                if (is_flag(o->kind)) {
                    if (!strcmp(argv[i], o->name)) hit = o;
                } else if ((r = cli_opt(argc, argv, &i, o->name, &v)) != 0) {
                    if (r < 0) return *status = 2, 1;   /* the value is missing: said */
                    hit = o;
                }
            }
        if (!hit) return *status = cli_unknown(argv[i]), 1;
        if (hit->given) *hit->given = 1;
        if ((r = opt_store(hit, v)) != 0) return *status = r == CLI_STOP ? 0 : r, 1;
    }
    return 0;
}

/* ---- the device ------------------------------------------------------------- */

static const char *const device_names[] = {"cpu", "cuda", "auto"};

int cli_device_parse(const char *val, CLIDevice *dev) {
    for (int i = 0; i < 3; i++)
        if (!strcmp(val, device_names[i])) {
            *dev = (CLIDevice)i;
            return 0;
        }
    return cli_error(2, "option --device: '%s' is not cpu, cuda or auto", val);
}

int cli_device(CLIDevice dev, int *gpu) {
    *gpu = dev != CLI_DEVICE_CPU && cuda_available();
    if (dev != CLI_DEVICE_CUDA || *gpu) return 0;
    char why[256];   /* the driver's reason, else the library's (a build without CUDA says so) */
    if (cuda_describe(why, sizeof why) != 0 && !why[0]) snprintf(why, sizeof why, "%s", err_get());
    return cli_error(1, "%s%s--device cuda: no usable GPU (%s); use --device cpu or auto", cmd_name ? cmd_name : "",
                     cmd_name ? ": " : "", why);
}

int cli_device_fallback(CLIDevice dev) {
    if (dev != CLI_DEVICE_AUTO) return -1;
    fprintf(stderr, "gpt2sae: %s%snote: --device auto: on the CPU (%s)\n", cmd_name ? cmd_name : "",
            cmd_name ? ": " : "", err_get());
    return 0;
}
