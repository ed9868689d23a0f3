/*
 * tests/test_cli_args.c - cli/cli.c's shared option helpers: `--` ending the
 * options (cli_arg_kind), "did you mean" suggestions drawn only from the
 * running command's own options (cli_suggest, cli_nearest), and library
 * messages rewritten into the command's words (cli_message).
 */
#include "cli/cli.h"
#include "tests/test.h"

#include <stdlib.h>
#include <string.h>

static void test_arg_kind(void) {
    /* ./run x.txt -o out -- --help - -y : what each argument is */
    const char *args[] = {"x.txt", "-o", "out", "--", "--help", "-", "-y", "--"};
    const CLIArgKind want[] = {CLI_OPERAND, CLI_OPTION, CLI_OPERAND, CLI_END,
                               CLI_OPERAND, CLI_OPERAND, CLI_OPERAND, CLI_OPERAND};
    int ended = 0, ok = 1;
    for (int i = 0; i < 8; i++) {
        CLIArgKind k = cli_arg_kind(args[i], &ended);
        if (k != want[i]) {
            printf("    argument %d '%s': kind %d, want %d\n", i, args[i], (int)k, (int)want[i]);
            ok = 0;
        }
    }
    CHECK(ok, "`--` ends the options: later '--help', '-y' and a second '--' are operands; '-' is one too");
    ended = 0;
    CHECK(cli_arg_kind("-", &ended) == CLI_OPERAND && cli_arg_kind("--seed", &ended) == CLI_OPTION &&
              cli_arg_kind("-o", &ended) == CLI_OPTION && !ended,
          "before any `--`: '-' is an operand (standard input), '--seed' and '-o' are options");
}

static void test_suggest(void) {
    static const char *const synth[] = {"-o", "--out", "--model", "--n-layer", "--seed", "--help", NULL};
    static const char *const fetch[] = {"--model", "--tokenizer-only", "--cache", "--weights", NULL};
    cli_command("synth", synth, NULL);
    const char *s1 = cli_suggest("--seeed"), *s2 = cli_suggest("--n-layr=3"), *s3 = cli_suggest("-out");
    CHECK(s1 && !strcmp(s1, "--seed") && s2 && !strcmp(s2, "--n-layer") && s3 && !strcmp(s3, "--out"),
          "synth: --seeed -> %s, --n-layr=3 -> %s, -out -> %s", s1 ? s1 : "(none)", s2 ? s2 : "(none)",
          s3 ? s3 : "(none)");
    const char *s4 = cli_suggest("--cach"), *s5 = cli_suggest("--weight");
    CHECK(!s4 && !s5, "synth suggests none of fetch's options for --cach, --weight (got %s, %s)", s4 ? s4 : "none",
          s5 ? s5 : "none");
    cli_command("fetch", fetch, NULL);
    const char *s6 = cli_suggest("--cach"), *s7 = cli_suggest("--tok"), *s8 = cli_suggest("--seeed");
    CHECK(s6 && !strcmp(s6, "--cache") && s7 && !strcmp(s7, "--tokenizer-only") && !s8,
          "fetch: --cach -> %s, --tok (a prefix) -> %s, --seeed -> %s (synth's, not fetch's)", s6 ? s6 : "(none)",
          s7 ? s7 : "(none)", s8 ? s8 : "(none)");
    const char *s9 = cli_suggest("-x"), *s10 = cli_suggest("--zzzzzz");
    CHECK(!s9 && !s10, "nothing near: no suggestion for -x or --zzzzzz");
    static const char *const cmds[] = {"tokenize", "capture", "train", "synth", "fetch", NULL};
    const char *c1 = cli_nearest("tokenzie", cmds), *c2 = cli_nearest("palinka.txt", cmds);
    CHECK(c1 && !strcmp(c1, "tokenize") && !c2, "commands: tokenzie -> %s, palinka.txt -> %s", c1 ? c1 : "(none)",
          c2 ? c2 : "(none)");
}

static void test_message(void) {
    /* the pipeline spells the SAE's width --latents-n (its --latents picks
     * heatmaps), and has no --cache */
    static const char *const pipe[] = {"--out", "--latents-n", "--L", "--latents", "--k", "--weights", NULL};
    static const char *const renames[] = {"--latents", "--latents-n", NULL};
    cli_command("pipeline", pipe, renames);
    char *m = cli_message("SAE: 0 latents; use --latents >= 1");
    CHECK(!strcmp(m, "SAE: 0 latents; use --latents-n >= 1"), "renamed for the pipeline: %s", m);
    free(m);
    m = cli_message("cache folder (set GPT2SAE_CACHE or use --cache DIR to choose another); --cache again");
    const char *note = strstr(m, " (./run has no option --cache; ./run --help lists its options)");
    CHECK(strstr(m, "use --cache DIR") && note && strlen(note) == 62,
          "an option the pipeline lacks gets one note at the end, naming it once: %s", m);
    free(m);
    m = cli_message("use --k <= 12 or --weights PATH; /tmp/a--b and x--y are no options");
    CHECK(!strcmp(m, "use --k <= 12 or --weights PATH; /tmp/a--b and x--y are no options"),
          "accepted options and '--' inside words are left as they are: %s", m);
    free(m);
    cli_command(NULL, NULL, NULL);
    m = cli_message("use --anything");
    CHECK(!strcmp(m, "use --anything"), "no command declared: the message as it is");
    free(m);
}

int main(void) {
    test_arg_kind();
    test_suggest();
    test_message();
    return test_finish();
}
