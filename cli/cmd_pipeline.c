/* cli/cmd_pipeline.c - ./run pipeline (not written yet). */
#include "cli/cli.h"

int cmd_pipeline(int argc, char **argv) {
    (void)argc;
    (void)argv;
    return cli_error(1, "'pipeline' is not implemented yet");
}
