/*
 * dist/dist_none.c - dist/dist.h without MPI: one process, rank 0 of 1;
 * every reduction over one rank leaves its input as it is.
 */
#include "dist/dist.h"

#include <stdlib.h>
#include <string.h>

int dist_built(void) { return 0; }
int dist_init(int *argc, char ***argv) { (void)argc; (void)argv; return 0; }
int dist_rank(void) { return 0; }
int dist_size(void) { return 1; }
int dist_launched(void) { return 0; }
int dist_sum_f32(float *x, long n) { (void)x; (void)n; return 0; }
int dist_sum_f64(double *x, long n) { (void)x; (void)n; return 0; }
int dist_max_u8(unsigned char *x, long n) { (void)x; (void)n; return 0; }
int dist_min_f32(float *x, long n) { (void)x; (void)n; return 0; }
int dist_sum_long(long *x, long n) { (void)x; (void)n; return 0; }
int dist_gather_f32(const float *mine, long n, float *all) { memmove(all, mine, (size_t)n * sizeof *all); return 0; }
int dist_gather_i32(const int32_t *mine, long n, int32_t *all) { memmove(all, mine, (size_t)n * sizeof *all); return 0; }
int dist_gather_i64(const int64_t *mine, long n, int64_t *all) { memmove(all, mine, (size_t)n * sizeof *all); return 0; }
int dist_barrier(void) { return 0; }
void dist_abort(int status) { exit(status); }
void dist_finalize(void) {}
