/* cli/cli.c - option parsing and error printing shared by the subcommands. See cli.h. */
#include "cli/cli.h"
#include "core/util.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int cli_fail(void) {
    fprintf(stderr, "gpt2sae: %s\n", err_get());
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

int cli_opt(int argc, char **argv, int *i, const char *name, const char **val) {
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
