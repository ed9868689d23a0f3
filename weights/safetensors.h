/*
 * weights/safetensors.h - read (by mmap) and write safetensors files.
 *
 *   SafeTensors st;
 *   if (safetensors_open(&st, "model.safetensors") != 0) return cli_fail();
 *   const STTensor *t = safetensors_find(&st, "h.0.mlp.c_fc.weight");
 *   // t->shape[0..t->ndim), t->dtype; F32 data used in place:
 *   const float *w = safetensors_f32(&st, t);   // NULL + err_set() on failure
 *   safetensors_close(&st);
 *
 *   STWriter wr;
 *   st_writer_init(&wr);
 *   st_writer_add(&wr, "W_dec", (int64_t[]){L, d}, 2, W);   // borrowed until write
 *   st_writer_meta(&wr, "format", "pt");
 *   st_writer_write(&wr, "dir/sae.safetensors");          // atomic (tmp + rename)
 *   st_writer_free(&wr);
 *
 * Format: 8-byte little-endian header length N, N bytes of JSON
 * {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
 *  "__metadata__": {"k": "v"}}, then the data section; offsets are relative
 * to the data section. The header is validated strictly on open (see
 * safetensors.c): any failure names the file and the tensor.
 */
#ifndef WEIGHTS_SAFETENSORS_H
#define WEIGHTS_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define ST_MAX_DIMS 8

typedef enum { ST_F32, ST_F16, ST_BF16, ST_I32, ST_I64, ST_F64, ST_U8, ST_I8, ST_BOOL } STDtype;

typedef struct {
    char *name;                  /* tensor name (owned by the SafeTensors) */
    STDtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    int64_t numel;               /* product of shape (1 for a scalar) */
    size_t begin, end;           /* byte range within the data section */
} STTensor;

typedef struct {
    char *path;                  /* owned copy of the file name */
    const uint8_t *map;          /* the whole file, mmap'ed read-only */
    size_t map_len;
    const uint8_t *data;         /* start of the data section */
    size_t data_len;
    STTensor *tensors;           /* (n) in header order */
    int n;
    char **meta_keys, **meta_vals; /* (n_meta) __metadata__ string pairs */
    int n_meta;
    float **converted;           /* (n) F32 copies made for F16/BF16 tensors, or NULL */
    int owns_map;                /* 1: map came from safetensors_open (munmap on close) */
} SafeTensors;

/* Parse and validate a header already in memory (buf = the whole file).
 * Used by safetensors_open and by the fuzzer. `name` is used in messages.
 * On success st borrows buf (st->map = buf) and the caller must keep it alive;
 * release with safetensors_close (which does not unmap a borrowed buffer). */
int safetensors_parse(SafeTensors *st, const char *name, const uint8_t *buf, size_t len);
/* mmap path and validate it. Returns 0, or -1 with err_set() naming the file. */
int safetensors_open(SafeTensors *st, const char *path);
/* Unmap and free. A zeroed SafeTensors is a no-op. */
void safetensors_close(SafeTensors *st);
/* The tensor called name, or NULL. Borrowed. */
const STTensor *safetensors_find(const SafeTensors *st, const char *name);
/* The __metadata__ value for key, or NULL. Borrowed. */
const char *safetensors_meta(const SafeTensors *st, const char *key);
/* The tensor's data as F32: a pointer into the mmap for F32 (when 4-byte
 * aligned), else a converted copy (F16, BF16) owned by st. Valid until
 * safetensors_close. NULL with err_set() for other dtypes. */
const float *safetensors_f32(SafeTensors *st, const STTensor *t);
/* "F32", "F16", ... */
const char *safetensors_dtype_name(STDtype d);
/* Bytes per element of a dtype (BOOL: 1). */
size_t safetensors_dtype_size(STDtype d);
/* IEEE half / bfloat16 bits to float, exactly (subnormals, inf, NaN kept). */
float st_f16_to_f32(uint16_t h);
float st_bf16_to_f32(uint16_t b);

/* Writer: collect F32 tensors (borrowed pointers) and string metadata, then
 * write them in one go, atomically. */
typedef struct {
    int n, cap;
    char **names;
    int64_t (*shapes)[ST_MAX_DIMS];
    int *ndims;
    const float **data;
    int n_meta;
    char **meta_keys, **meta_vals;
    /* (n) generated tensors (st_writer_add_gen): gen[i] != NULL instead of data[i] */
    void (**gen)(void *ctx, float *out, int64_t count);
    void **gen_ctx;
} STWriter;

void st_writer_init(STWriter *w);
/* Add an F32 tensor; `data` must stay valid until st_writer_write. */
void st_writer_add(STWriter *w, const char *name, const int64_t *shape, int ndim, const float *data);
/* Add an F32 tensor whose values are produced while writing, in order, in
 * chunks: gen(ctx, out, count) fills out[0..count) with the next values. Lets
 * a 500 MB checkpoint be written without holding it in memory. ctx is
 * borrowed until st_writer_write. */
void st_writer_add_gen(STWriter *w, const char *name, const int64_t *shape, int ndim,
                       void (*gen)(void *ctx, float *out, int64_t count), void *ctx);
void st_writer_meta(STWriter *w, const char *key, const char *val);
/* Write to path via a temporary file and rename. Returns 0 or -1. */
int st_writer_write(STWriter *w, const char *path);
/* Write the whole file into f, already open (e.g. by file_begin, when the
 * caller commits it together with other files); path is for messages.
 * Returns 0 or -1 with err_set(). */
int st_writer_write_file(STWriter *w, FILE *f, const char *path);
void st_writer_free(STWriter *w);

#endif
