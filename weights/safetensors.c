/*
 * weights/safetensors.c - read (mmap, strict validation) and write safetensors.
 *
 * A safetensors file is an 8-byte little-endian header length N, N bytes of
 * JSON, then the data section. The JSON is one object: each key is a tensor
 * name mapping to {"dtype", "shape", "data_offsets": [begin, end]} (offsets
 * relative to the data section), plus an optional "__metadata__" object of
 * strings. We trust nothing in it: every check below names the file and the
 * tensor, because a user who hits one needs to know which file is damaged.
 *
 * F32 data is used in place from the mmap (this engine assumes a
 * little-endian host, as the format does); F16 and BF16 are converted to F32
 * once, on request, into copies owned by the SafeTensors.
 */
#include "weights/safetensors.h"

#include "core/json.h"
#include "core/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c reads little-endian data in place: a big-endian host needs byte swapping here"
#endif

/* A header longer than this is not a tensor index but a damaged or hostile file. */
#define ST_MAX_HEADER (100u * 1000u * 1000u)

static const struct {
    const char *name;
    STDtype dtype;
    size_t size;
} dtypes[] = {
    {"F32", ST_F32, 4}, {"F16", ST_F16, 2}, {"BF16", ST_BF16, 2}, {"I32", ST_I32, 4}, {"I64", ST_I64, 8},
    {"F64", ST_F64, 8}, {"U8", ST_U8, 1},   {"I8", ST_I8, 1},     {"BOOL", ST_BOOL, 1},
};
#define N_DTYPES (int)(sizeof dtypes / sizeof dtypes[0])

const char *safetensors_dtype_name(STDtype d) {
    for (int i = 0; i < N_DTYPES; i++)
        if (dtypes[i].dtype == d) return dtypes[i].name;
    return "?";
}

size_t safetensors_dtype_size(STDtype d) {
    for (int i = 0; i < N_DTYPES; i++)
        if (dtypes[i].dtype == d) return dtypes[i].size;
    return 0;
}

/* ---- half precision ---------------------------------------------------- */

float st_f16_to_f32(uint16_t h) {
    /* IEEE binary16: 1 sign, 5 exponent (bias 15), 10 mantissa bits. */
    uint32_t sign = (uint32_t)(h >> 15) << 31;
    uint32_t exp = (h >> 10) & 0x1F, man = h & 0x3FF, bits;
    if (exp == 0x1F) {
        bits = sign | 0x7F800000u | (man << 13);          /* inf, or NaN with its payload */
    } else if (exp != 0) {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13); /* normal: rebias the exponent */
    } else {
        /* zero or subnormal: value = man * 2^-24, exact in F32 */
        float v = (float)man * 0x1p-24f;
        memcpy(&bits, &v, 4);
        bits |= sign;
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

float st_bf16_to_f32(uint16_t b) {
    /* bfloat16 is the top half of an F32: the conversion is a shift */
    uint32_t bits = (uint32_t)b << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* ---- reading ------------------------------------------------------------ */

/* Format a shape as "[768, 2304]" into buf. */
static const char *shape_str(char *buf, size_t n, const int64_t *shape, int ndim) {
    size_t o = 0;
    o += (size_t)snprintf(buf + o, n - o, "[");
    for (int d = 0; d < ndim && o < n; d++)
        o += (size_t)snprintf(buf + o, n - o, "%s%lld", d ? ", " : "", (long long)shape[d]);
    if (o < n) snprintf(buf + o, n - o, "]");
    return buf;
}

/* Validate one tensor entry `val` called `tname` into *t. */
static int parse_entry(STTensor *t, const char *file, const char *tname, const JSON *val, size_t data_len) {
    if (val->type != JSON_OBJECT)
        return err_set("%s: tensor '%s': entry is not an object {dtype, shape, data_offsets}", file, tname);
    const JSON *jd = json_get(val, "dtype"), *js = json_get(val, "shape"), *jo = json_get(val, "data_offsets");
    for (size_t k = 0; k < val->n; k++) {
        const char *key = val->keys[k];
        if (strcmp(key, "dtype") && strcmp(key, "shape") && strcmp(key, "data_offsets"))
            return err_set("%s: tensor '%s': unexpected field '%s' (only dtype, shape, data_offsets are allowed)",
                           file, tname, key);
    }
    if (!jd || !js || !jo)
        return err_set("%s: tensor '%s': missing field '%s'", file, tname,
                       !jd ? "dtype" : !js ? "shape" : "data_offsets");
    if (jd->type != JSON_STRING) return err_set("%s: tensor '%s': dtype is not a string", file, tname);
    int di = -1;
    for (int i = 0; i < N_DTYPES; i++)
        if (strcmp(jd->str, dtypes[i].name) == 0 && jd->str_len == strlen(dtypes[i].name)) di = i;
    if (di < 0)
        return err_set("%s: tensor '%s': unknown dtype '%.32s' (known: F32 F16 BF16 I32 I64 F64 U8 I8 BOOL)", file,
                       tname, jd->str);
    t->dtype = dtypes[di].dtype;

    if (js->type != JSON_ARRAY) return err_set("%s: tensor '%s': shape is not an array", file, tname);
    if (js->n > ST_MAX_DIMS)
        return err_set("%s: tensor '%s': shape has %zu dimensions (at most %d supported)", file, tname, js->n,
                       ST_MAX_DIMS);
    t->ndim = (int)js->n;
    int64_t numel = 1;
    int overflow = 0;
    for (int d = 0; d < t->ndim; d++) {
        long long v;
        if (json_as_int(&js->items[d], &v) != 0 || v < 0)
            return err_set("%s: tensor '%s': shape[%d] is not a non-negative integer", file, tname, d);
        t->shape[d] = v;
        if (__builtin_mul_overflow(numel, (int64_t)v, &numel)) overflow = 1;
    }
    char sb[256];
    int64_t nbytes = 0;
    if (overflow || __builtin_mul_overflow(numel, (int64_t)dtypes[di].size, &nbytes))
        return err_set("%s: tensor '%s': shape %s is too large (its size overflows)", file, tname,
                       shape_str(sb, sizeof sb, t->shape, t->ndim));
    t->numel = numel;

    if (jo->type != JSON_ARRAY || jo->n != 2)
        return err_set("%s: tensor '%s': data_offsets is not an array [begin, end]", file, tname);
    long long b, e;
    if (json_as_int(&jo->items[0], &b) != 0 || json_as_int(&jo->items[1], &e) != 0 || b < 0 || e < 0)
        return err_set("%s: tensor '%s': data_offsets are not non-negative integers", file, tname);
    if (b > e) return err_set("%s: tensor '%s': data_offsets [%lld, %lld] end before they begin", file, tname, b, e);
    if (e - b != nbytes)
        return err_set("%s: tensor '%s': data_offsets [%lld, %lld] hold %lld bytes but shape %s %s needs %lld", file,
                       tname, b, e, e - b, shape_str(sb, sizeof sb, t->shape, t->ndim), dtypes[di].name,
                       (long long)nbytes);
    if ((unsigned long long)e > data_len)
        return err_set("%s: tensor '%s': data_offsets [%lld, %lld] run past the end of the data section (%zu "
                       "bytes): the file is truncated or damaged",
                       file, tname, b, e, data_len);
    t->begin = (size_t)b;
    t->end = (size_t)e;
    return 0;
}

static int cmp_begin(const void *a, const void *b) {
    const STTensor *x = *(const STTensor *const *)a, *y = *(const STTensor *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

int safetensors_parse(SafeTensors *st, const char *name, const uint8_t *buf, size_t len) {
    memset(st, 0, sizeof *st);
    if (len < 8)
        return err_set("%s: %zu bytes is too short for a safetensors file (needs an 8-byte header length)", name,
                       len);
    uint64_t hlen = 0;
    for (int k = 7; k >= 0; k--) hlen = (hlen << 8) | buf[k];
    if (hlen > ST_MAX_HEADER)
        return err_set("%s: header length %llu is over the %u-byte limit: not a safetensors file, or damaged", name,
                       (unsigned long long)hlen, ST_MAX_HEADER);
    if (hlen > len - 8)
        return err_set("%s: header length %llu runs past the end of the file (%zu bytes): truncated or not a "
                       "safetensors file",
                       name, (unsigned long long)hlen, len);
    JSON root;
    if (json_parse(&root, (const char *)buf + 8, (size_t)hlen) != 0)
        return err_prefix("%s: header is not valid JSON", name);
    if (root.type != JSON_OBJECT) {
        json_free(&root);
        return err_set("%s: header is not a JSON object", name);
    }
    st->path = xstrdup(name);
    st->map = buf;
    st->map_len = len;
    st->data = buf + 8 + hlen;
    st->data_len = len - 8 - (size_t)hlen;
    st->tensors = xcalloc(root.n ? root.n : 1, sizeof *st->tensors);
    int rc = 0;
    for (size_t k = 0; k < root.n && rc == 0; k++) {
        const char *key = root.keys[k];
        const JSON *val = &root.items[k];
        if (strlen(key) != root.key_lens[k]) {
            rc = err_set("%s: a tensor name contains a NUL byte", name);
        } else if (strcmp(key, "__metadata__") == 0) {
            if (val->type != JSON_OBJECT) {
                rc = err_set("%s: __metadata__ is not an object of strings", name);
                break;
            }
            st->meta_keys = xcalloc(val->n ? val->n : 1, sizeof(char *));
            st->meta_vals = xcalloc(val->n ? val->n : 1, sizeof(char *));
            for (size_t m = 0; m < val->n; m++) {
                const JSON *v = &val->items[m];
                if (v->type != JSON_STRING || strlen(v->str) != v->str_len ||
                    strlen(val->keys[m]) != val->key_lens[m]) {
                    rc = err_set("%s: __metadata__ '%s' is not a string", name, val->keys[m]);
                    break;
                }
                st->meta_keys[st->n_meta] = xstrdup(val->keys[m]);
                st->meta_vals[st->n_meta] = xstrdup(v->str);
                st->n_meta++;
            }
        } else {
            STTensor *t = &st->tensors[st->n];
            rc = parse_entry(t, name, key, val, st->data_len);
            if (rc == 0) {
                t->name = xstrdup(key);
                st->n++;
            }
        }
    }
    json_free(&root);
    if (rc == 0 && st->n > 1) {
        /* no two byte ranges may overlap: sort by begin and compare neighbours */
        const STTensor **order = xmalloc((size_t)st->n * sizeof *order);
        for (int i = 0; i < st->n; i++) order[i] = &st->tensors[i];
        qsort(order, (size_t)st->n, sizeof *order, cmp_begin);
        for (int i = 1; i < st->n && rc == 0; i++)
            if (order[i]->begin < order[i - 1]->end)
                rc = err_set("%s: tensor '%s': data_offsets [%zu, %zu] overlap tensor '%s' [%zu, %zu]", name,
                             order[i]->name, order[i]->begin, order[i]->end, order[i - 1]->name,
                             order[i - 1]->begin, order[i - 1]->end);
        free(order);
    }
    if (rc != 0) {
        safetensors_close(st);
        return -1;
    }
    st->converted = xcalloc(st->n ? (size_t)st->n : 1, sizeof(float *));
    return 0;
}

int safetensors_open(SafeTensors *st, const char *path) {
    memset(st, 0, sizeof *st);
    void *map;
    size_t len;
    if (file_map(path, "give the path of a .safetensors file", &map, &len) != 0) return -1;
    static const uint8_t empty[1];
    if (safetensors_parse(st, path, map ? (const uint8_t *)map : empty, len) != 0) {
        file_unmap(map, len);
        return -1;
    }
    st->owns_map = map != NULL;
    return 0;
}

void safetensors_close(SafeTensors *st) {
    if (!st) return;
    for (int i = 0; i < st->n; i++) {
        free(st->tensors[i].name);
        if (st->converted) free(st->converted[i]);
    }
    for (int i = 0; i < st->n_meta; i++) {
        free(st->meta_keys[i]);
        free(st->meta_vals[i]);
    }
    free(st->tensors);
    free(st->converted);
    free(st->meta_keys);
    free(st->meta_vals);
    free(st->path);
    if (st->owns_map && st->map) {
        file_unmap((void *)st->map, st->map_len);
    }
    memset(st, 0, sizeof *st);
}

const STTensor *safetensors_find(const SafeTensors *st, const char *name) {
    for (int i = 0; i < st->n; i++)
        if (strcmp(st->tensors[i].name, name) == 0) return &st->tensors[i];
    return NULL;
}

const char *safetensors_meta(const SafeTensors *st, const char *key) {
    for (int i = 0; i < st->n_meta; i++)
        if (strcmp(st->meta_keys[i], key) == 0) return st->meta_vals[i];
    return NULL;
}

const float *safetensors_f32(SafeTensors *st, const STTensor *t) {
    /* t must be one of st's own entries (compared as addresses: it may come from elsewhere) */
    uintptr_t a = (uintptr_t)t, lo = (uintptr_t)st->tensors;
    if (!st->tensors || a < lo || a >= lo + (uintptr_t)st->n * sizeof *t || (a - lo) % sizeof *t) {
        err_set("%s: tensor '%s' does not belong to this file", st->path, t->name);
        return NULL;
    }
    size_t i = (a - lo) / sizeof *t;
    const uint8_t *src = st->data + t->begin;
    if (st->converted[i]) return st->converted[i];
    if (t->dtype == ST_F32 && ((uintptr_t)src & 3) == 0) return (const float *)(const void *)src;
    if (t->dtype != ST_F32 && t->dtype != ST_F16 && t->dtype != ST_BF16) {
        err_set("%s: tensor '%s' is %s; only F32, F16 and BF16 can be used as floats", st->path, t->name,
                safetensors_dtype_name(t->dtype));
        return NULL;
    }
    float *out = xmalloc_aligned((size_t)t->numel * sizeof(float));
    if (t->dtype == ST_F32) {
        memcpy(out, src, (size_t)t->numel * 4); /* unaligned in the file: copy */
    } else {
        for (int64_t k = 0; k < t->numel; k++) {
            uint16_t h = (uint16_t)(src[2 * k] | (src[2 * k + 1] << 8));
            out[k] = t->dtype == ST_F16 ? st_f16_to_f32(h) : st_bf16_to_f32(h);
        }
    }
    st->converted[i] = out;
    return out;
}

/* ---- writing ------------------------------------------------------------ */

void st_writer_init(STWriter *w) { memset(w, 0, sizeof *w); }

static void writer_push(STWriter *w, const char *name, const int64_t *shape, int ndim) {
    if (ndim < 0 || ndim > ST_MAX_DIMS) {
        fprintf(stderr, "st_writer_add: %s: bad ndim %d\n", name, ndim);
        abort();
    }
    if (w->n == w->cap) {
        w->cap = w->cap ? 2 * w->cap : 64;
        w->names = xrealloc(w->names, (size_t)w->cap * sizeof *w->names);
        w->shapes = xrealloc(w->shapes, (size_t)w->cap * sizeof *w->shapes);
        w->ndims = xrealloc(w->ndims, (size_t)w->cap * sizeof *w->ndims);
        w->data = xrealloc(w->data, (size_t)w->cap * sizeof *w->data);
        w->gen = xrealloc(w->gen, (size_t)w->cap * sizeof *w->gen);
        w->gen_ctx = xrealloc(w->gen_ctx, (size_t)w->cap * sizeof *w->gen_ctx);
    }
    w->names[w->n] = xstrdup(name);
    memset(w->shapes[w->n], 0, sizeof w->shapes[w->n]);
    for (int d = 0; d < ndim; d++) w->shapes[w->n][d] = shape[d];
    w->ndims[w->n] = ndim;
    w->data[w->n] = NULL;
    w->gen[w->n] = NULL;
    w->gen_ctx[w->n] = NULL;
    w->n++;
}

void st_writer_add(STWriter *w, const char *name, const int64_t *shape, int ndim, const float *data) {
    writer_push(w, name, shape, ndim);
    w->data[w->n - 1] = data;
}

void st_writer_add_gen(STWriter *w, const char *name, const int64_t *shape, int ndim,
                       void (*gen)(void *ctx, float *out, int64_t count), void *ctx) {
    writer_push(w, name, shape, ndim);
    w->gen[w->n - 1] = gen;
    w->gen_ctx[w->n - 1] = ctx;
}

void st_writer_meta(STWriter *w, const char *key, const char *val) {
    w->meta_keys = xrealloc(w->meta_keys, (size_t)(w->n_meta + 1) * sizeof(char *));
    w->meta_vals = xrealloc(w->meta_vals, (size_t)(w->n_meta + 1) * sizeof(char *));
    w->meta_keys[w->n_meta] = xstrdup(key);
    w->meta_vals[w->n_meta] = xstrdup(val);
    w->n_meta++;
}

static int64_t writer_numel(const STWriter *w, int i) {
    int64_t n = 1;
    for (int d = 0; d < w->ndims[i]; d++) n *= w->shapes[i][d];
    return n;
}

int st_writer_write_file(STWriter *w, FILE *f, const char *path) {
    /* the header, built in memory (a memstream) so its length is known first */
    char *hdr = NULL;
    size_t hlen = 0;
    FILE *h = open_memstream(&hdr, &hlen);
    if (!h) return err_set("%s: cannot build the header: out of memory", path);
    fputc('{', h);
    if (w->n_meta) {
        fputs("\"__metadata__\":{", h);
        for (int m = 0; m < w->n_meta; m++) {
            if (m) fputc(',', h);
            json_write_string(h, w->meta_keys[m], strlen(w->meta_keys[m]));
            fputc(':', h);
            json_write_string(h, w->meta_vals[m], strlen(w->meta_vals[m]));
        }
        fputc('}', h);
    }
    uint64_t off = 0;
    for (int i = 0; i < w->n; i++) {
        if (i || w->n_meta) fputc(',', h);
        json_write_string(h, w->names[i], strlen(w->names[i]));
        fputs(":{\"dtype\":\"F32\",\"shape\":[", h);
        for (int d = 0; d < w->ndims[i]; d++) fprintf(h, "%s%lld", d ? "," : "", (long long)w->shapes[i][d]);
        uint64_t nb = (uint64_t)writer_numel(w, i) * 4;
        fprintf(h, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off, (unsigned long long)(off + nb));
        off += nb;
    }
    fputc('}', h);
    /* pad with spaces so the data section starts 8-byte aligned (8 + N = 0 mod 8) */
    for (long pos = ftell(h); pos % 8 != 0; pos++) fputc(' ', h);
    if (fclose(h) != 0) {
        free(hdr);
        return err_set("%s: cannot build the header", path);
    }

    setvbuf(f, NULL, _IOFBF, 1 << 20);
    uint8_t len8[8];
    for (int k = 0; k < 8; k++) len8[k] = (uint8_t)((uint64_t)hlen >> (8 * k));
    int ok = fwrite(len8, 1, 8, f) == 8 && fwrite(hdr, 1, hlen, f) == hlen;
    free(hdr);
    enum { CHUNK = 1 << 16 };
    float *buf = NULL;
    for (int i = 0; i < w->n && ok; i++) {
        int64_t n = writer_numel(w, i);
        if (!w->gen[i]) {
            ok = n == 0 || fwrite(w->data[i], 4, (size_t)n, f) == (size_t)n;
            continue;
        }
        if (!buf) buf = xmalloc(CHUNK * sizeof(float));
        for (int64_t k = 0; k < n && ok; k += CHUNK) {
            int64_t c = n - k < CHUNK ? n - k : CHUNK;
            w->gen[i](w->gen_ctx[i], buf, c);
            ok = fwrite(buf, 4, (size_t)c, f) == (size_t)c;
        }
    }
    free(buf);
    if (!ok) return err_set("%s: write failed: %s", path, strerror(errno));
    return 0;
}

int st_writer_write(STWriter *w, const char *path) {
    char tmp[4096];
    FILE *f = file_begin(path, tmp, sizeof tmp);
    if (!f) return -1;
    if (st_writer_write_file(w, f, path) != 0) {
        file_abort(f, tmp);
        return -1;
    }
    return file_commit(f, tmp, path);
}

void st_writer_free(STWriter *w) {
    for (int i = 0; i < w->n; i++) free(w->names[i]);
    for (int m = 0; m < w->n_meta; m++) {
        free(w->meta_keys[m]);
        free(w->meta_vals[m]);
    }
    free(w->names);
    free(w->shapes);
    free(w->ndims);
    free(w->data);
    free(w->gen);
    free(w->gen_ctx);
    free(w->meta_keys);
    free(w->meta_vals);
    memset(w, 0, sizeof *w);
}
