/*
 * weights/npy.h - NumPy .npy files (format 1.0/2.0/3.0), float32 and int32, C order.
 *
 *   Npy a;
 *   if (npy_read(&a, "acts.npy") != 0) return cli_fail();
 *   // a.dtype == NPY_F32, a.shape[0] == T, a.shape[1] == 3072, a.f32[t*3072 + i]
 *   npy_free(&a);
 *
 *   npy_write_f32("latents.npy", z, (int64_t[]){T, L}, 2);  // atomic
 *   npy_map(&a, "big.npy");   // the same, the data mapped from the file instead of copied
 *
 * Reading accepts '<f4' and '<i4' (and big-endian '>f4'/'>i4', byte-swapped),
 * fortran_order False, up to 8 dimensions; anything else is a clear error
 * naming the file.
 */
#ifndef WEIGHTS_NPY_H
#define WEIGHTS_NPY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum { NPY_F32, NPY_I32 } NpyDtype;

typedef struct {
    NpyDtype dtype;
    int ndim;
    int64_t shape[8];
    int64_t numel;
    union {
        float *f32;     /* (numel), owned */
        int32_t *i32;   /* (numel), owned */
        void *data;
    };
    void *map;          /* with npy_map: the file's mapping (data points into it), else NULL */
    size_t map_len;
} Npy;

/* Read path into a (data copied, owned by a). Returns 0, or -1 with err_set()
 * naming the file and what is wrong with it. */
int npy_read(Npy *a, const char *path);
/* Parse a whole .npy file already in memory (buf[0..len)); `name` is used in
 * messages. Same rules and ownership as npy_read (used by it and the fuzzer). */
int npy_parse(Npy *a, const char *name, const uint8_t *buf, size_t len);
/* Like npy_read, but a little-endian file is mapped, not copied: a->data
 * points into the read-only mapping (do not write to it), and the pages are
 * read from the file as they are touched - a corpus larger than memory
 * costs no memory of its own. Big-endian data is copied (byte-swapped).
 * Only a regular file can be mapped: a pipe or device is refused. If the file
 * is truncated while mapped, the process stops with a message naming it
 * (core/cleanup.h), not with a bus error. */
int npy_map(Npy *a, const char *path);
/* Free a's data (or unmap it). A zeroed Npy is a no-op. */
void npy_free(Npy *a);
/* "float32 of shape (4, 768)", "int32 of shape (5,)" into buf; returns buf. */
const char *npy_describe(const Npy *a, char *buf, size_t cap);
/* 0 if a is float32 with at least 2 dimensions (rows of width shape[ndim-1]);
 * else -1 with err_set() "PATH: expected WHAT as float32 of shape (T, d);
 * this file holds int32 of shape (5,) (convert with ...)". */
int npy_check_f32_rows(const Npy *a, const char *path, const char *what);

/* Write atomically (temporary file, then rename). Return 0 or -1. */
int npy_write_f32(const char *path, const float *data, const int64_t *shape, int ndim);
int npy_write_i32(const char *path, const int32_t *data, const int64_t *shape, int ndim);

/* Write a float32 array in pieces, atomically: begin (the shape), put the
 * values in C order in any number of calls, end (checks that exactly
 * numel values came, then renames into place). On any error the temporary
 * file is removed and the old file at path, if any, is untouched; abort
 * gives up explicitly. Each returns 0 or -1 with err_set(). */
typedef struct {
    FILE *f;
    char tmp[4096];
    const char *path;
    int64_t numel, written;
} NpyWriter;
int npy_writer_begin(NpyWriter *w, const char *path, const int64_t *shape, int ndim);
int npy_writer_put(NpyWriter *w, const void *data, int64_t n);
int npy_writer_end(NpyWriter *w);
void npy_writer_abort(NpyWriter *w);

#endif
