/*
 * cli/train_dist.h - ./run train across processes (dist/): started by
 * `mpirun -np N ./run train ...` or by `./run train --ranks N`, which runs
 * that mpirun line itself.
 *
 *   if (train_dist_wanted(argc, argv)) return cmd_train_dist(argc, argv);   // first thing in cmd_train
 */
#ifndef CLI_TRAIN_DIST_H
#define CLI_TRAIN_DIST_H

/* 1 when the arguments hold --ranks, or this process is one of several that
 * mpirun started. */
int train_dist_wanted(int argc, char **argv);
/* The data-parallel trainer of the SAE architectures (argv[0] is "train"). */
int cmd_train_dist(int argc, char **argv);

#endif
