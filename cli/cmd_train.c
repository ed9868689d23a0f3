/* cli/cmd_train.c - ./run train (not written yet). */
#include "cli/cli.h"

int cmd_train(int argc, char **argv) {
    (void)argc;
    (void)argv;
    return cli_error(1, "'train' is not implemented yet");
}
