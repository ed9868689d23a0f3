/*
 * dist/dist_mpi.c - dist/dist.h over MPI (built when make finds mpicc).
 * MPI_COMM_WORLD with MPI_ERRORS_RETURN: a failed call is reported through
 * err_set() with MPI's own error string, and the caller aborts the job.
 * Large buffers go in pieces of at most 2^30 elements (MPI counts are int).
 */
#include "dist/dist.h"
#include "core/util.h"

#include <mpi.h>
#include <stdlib.h>
#include <string.h>

static int started;

int dist_built(void) { return 1; }

int dist_launched(void) {
    const char *s = getenv("OMPI_COMM_WORLD_SIZE");
    if (!s) s = getenv("PMI_SIZE");
    return s && atoi(s) > 1;
}

int dist_init(int *argc, char ***argv) {
    if (started) return 0;
    int have = 0;
    MPI_Initialized(&have);
    if (!have && MPI_Init(argc, argv) != MPI_SUCCESS) return err_set("MPI_Init failed (is mpirun's launcher working?)");
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    started = 1;
    return 0;
}

int dist_rank(void) {
    int r = 0;
    if (started) MPI_Comm_rank(MPI_COMM_WORLD, &r);
    return r;
}

int dist_size(void) {
    int s = 1;
    if (started) MPI_Comm_size(MPI_COMM_WORLD, &s);
    return s;
}

static int fail(const char *op, int rc) {
    char msg[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    return err_set("rank %d of %d: %s failed: %s (another rank may have died; the job stops)", dist_rank(),
                   dist_size(), op, msg);
}

#define CHUNK (1L << 30)

static int reduce(void *x, long n, size_t size, MPI_Datatype t, MPI_Op op, const char *name) {
    if (!started) return 0;
    for (long o = 0; o < n; o += CHUNK) {
        int c = (int)(n - o < CHUNK ? n - o : CHUNK);
        int rc = MPI_Allreduce(MPI_IN_PLACE, (char *)x + (size_t)o * size, c, t, op, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) return fail(name, rc);
    }
    return 0;
}

int dist_sum_f32(float *x, long n) { return reduce(x, n, sizeof *x, MPI_FLOAT, MPI_SUM, "MPI_Allreduce(sum, float)"); }
int dist_sum_f64(double *x, long n) { return reduce(x, n, sizeof *x, MPI_DOUBLE, MPI_SUM, "MPI_Allreduce(sum, double)"); }
int dist_max_u8(unsigned char *x, long n) {
    return reduce(x, n, 1, MPI_UNSIGNED_CHAR, MPI_MAX, "MPI_Allreduce(max, byte)");
}
int dist_min_f32(float *x, long n) { return reduce(x, n, sizeof *x, MPI_FLOAT, MPI_MIN, "MPI_Allreduce(min, float)"); }
int dist_sum_long(long *x, long n) { return reduce(x, n, sizeof *x, MPI_LONG, MPI_SUM, "MPI_Allreduce(sum, long)"); }

static int gather(const void *mine, long n, size_t size, MPI_Datatype t, void *all) {
    if (!started) {
        memmove(all, mine, (size_t)n * size);
        return 0;
    }
    if (n > CHUNK) return err_set("MPI_Allgather of %ld elements per rank: more than 2^30", n);
    int rc = MPI_Allgather(mine, (int)n, t, all, (int)n, t, MPI_COMM_WORLD);
    return rc == MPI_SUCCESS ? 0 : fail("MPI_Allgather", rc);
}

int dist_gather_f32(const float *mine, long n, float *all) { return gather(mine, n, sizeof *mine, MPI_FLOAT, all); }
int dist_gather_i32(const int32_t *mine, long n, int32_t *all) { return gather(mine, n, 4, MPI_INT32_T, all); }
int dist_gather_i64(const int64_t *mine, long n, int64_t *all) { return gather(mine, n, 8, MPI_INT64_T, all); }

int dist_barrier(void) {
    if (!started) return 0;
    int rc = MPI_Barrier(MPI_COMM_WORLD);
    return rc == MPI_SUCCESS ? 0 : fail("MPI_Barrier", rc);
}

void dist_abort(int status) {
    if (started) MPI_Abort(MPI_COMM_WORLD, status);
    exit(status);
}

void dist_finalize(void) {
    if (started) MPI_Finalize();
    started = 0;
}
