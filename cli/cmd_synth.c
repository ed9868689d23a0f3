/* cli/cmd_synth.c - ./run synth (not written yet). */
#include "cli/cli.h"

int cmd_synth(int argc, char **argv) {
    (void)argc;
    (void)argv;
    return cli_error(1, "'synth' is not implemented yet");
}
