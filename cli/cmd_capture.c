/* cli/cmd_capture.c - ./run capture (not written yet). */
#include "cli/cli.h"

int cmd_capture(int argc, char **argv) {
    (void)argc;
    (void)argv;
    return cli_error(1, "'capture' is not implemented yet");
}
