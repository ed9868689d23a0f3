/* cli/cmd_fetch.c - ./run fetch (not written yet). */
#include "cli/cli.h"

int cmd_fetch(int argc, char **argv) {
    (void)argc;
    (void)argv;
    return cli_error(1, "'fetch' is not implemented yet");
}
