/*
 * dist/dist.h - the processes of a distributed run: rank and size, and the
 * few collectives the trainers need, over MPI (dist_mpi.c, built when make
 * finds mpicc) or a single-process stub (dist_none.c: rank 0 of 1, every
 * collective a copy or a no-op), so callers never test for MPI themselves.
 *
 *   if (dist_init(&argc, &argv) != 0) return cli_fail();   // MPI_Init (or nothing)
 *   int r = dist_rank(), N = dist_size();
 *   float g[3] = {...};
 *   if (dist_sum_f32(g, 3) != 0) return -1;       // in place, every rank gets the sum
 *   if (r == 0) write_checkpoint(...);            // rank 0 writes logs and files
 *   dist_finalize();
 *
 * Launch: `mpirun -np N ./run train ...` (or `./run train --ranks N`).
 * Faults: the communicator returns errors instead of aborting
 * (MPI_ERRORS_RETURN); a failed collective gives -1 with err_set() naming
 * the operation and the rank, and the caller calls dist_abort(), which ends
 * every rank (MPI_Abort). A rank that dies is detected by mpirun, which ends
 * the others (Open MPI: "N processes exited ... without calling finalize").
 *
 * Errors: functions returning int return 0, or -1 with err_set() (core/util.h).
 */
#ifndef DIST_DIST_H
#define DIST_DIST_H

#include <stdint.h>

/* 1 when this build has MPI (dist_mpi.c), else 0 (dist_none.c). */
int dist_built(void);
/* Start (MPI_Init once; later calls do nothing). Works with or without mpirun
 * (a lone process is rank 0 of 1). */
int dist_init(int *argc, char ***argv);
/* This process's rank in [0, size) and the number of ranks (0 and 1 before
 * dist_init or without MPI). */
int dist_rank(void);
int dist_size(void);
/* Is this process one of several started by mpirun (from the launcher's
 * environment, before dist_init)? */
int dist_launched(void);
/* Collectives over every rank (all ranks must call them, in the same order). */
int dist_sum_f32(float *x, long n);               /* in place: x = Σ_ranks x */
int dist_sum_f64(double *x, long n);              /* in place */
int dist_max_u8(unsigned char *x, long n);        /* in place: element-wise max */
int dist_min_f32(float *x, long n);               /* in place */
int dist_sum_long(long *x, long n);               /* in place */
/* all[r*n .. r*n+n) = rank r's mine (n floats / ints each). */
int dist_gather_f32(const float *mine, long n, float *all);
int dist_gather_i32(const int32_t *mine, long n, int32_t *all);
int dist_gather_i64(const int64_t *mine, long n, int64_t *all);
/* Every rank waits for every other. */
int dist_barrier(void);
/* End every rank of the job now with this exit status (after a failed collective). */
void dist_abort(int status);
/* MPI_Finalize (after the last collective). */
void dist_finalize(void);

#endif
