/*
 * weights/npy.c - NumPy .npy files: float32 and int32 arrays in C order.
 *
 * Layout (numpy/lib/format.py): the magic "\x93NUMPY", a major and minor
 * version byte, the header length (uint16 LE in version 1.0, uint32 LE in
 * 2.0 and 3.0), then the header: a Python dict literal such as
 *   {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
 * padded with spaces and ended by '\n', then the raw data.
 *
 * The header is parsed strictly - exactly these three keys, each once, with
 * the literal forms NumPy writes - rather than evaluated: a file that does
 * not match is reported with what is wrong, never half-read. We write version
 * 1.0 with the data 64-byte aligned, as NumPy does.
 */
#include "weights/npy.h"

#include "core/util.h"

#include <stdlib.h>
#include <string.h>

#define NPY_MAX_DIMS 8

/* ---- header parsing ------------------------------------------------------ */

typedef struct {
    const char *s;
    size_t n, i;
} Lex;

static void lex_ws(Lex *l) {
    while (l->i < l->n && (l->s[l->i] == ' ' || l->s[l->i] == '\t' || l->s[l->i] == '\n' || l->s[l->i] == '\r'))
        l->i++;
}

static int lex_eat(Lex *l, char c) {
    lex_ws(l);
    if (l->i < l->n && l->s[l->i] == c) {
        l->i++;
        return 1;
    }
    return 0;
}

/* A quoted string without escapes into out[cap]. Returns 0 or -1. */
static int lex_string(Lex *l, char *out, size_t cap) {
    lex_ws(l);
    if (l->i >= l->n || (l->s[l->i] != '\'' && l->s[l->i] != '"')) return -1;
    char q = l->s[l->i++];
    size_t o = 0;
    while (l->i < l->n && l->s[l->i] != q) {
        char c = l->s[l->i++];
        if (c == '\\' || (unsigned char)c < 0x20 || o + 1 >= cap) return -1;
        out[o++] = c;
    }
    if (l->i >= l->n) return -1;
    l->i++;
    out[o] = 0;
    return 0;
}

/* A non-negative decimal integer (at most 2^62). */
static int lex_int(Lex *l, int64_t *out) {
    lex_ws(l);
    size_t start = l->i;
    int64_t v = 0;
    while (l->i < l->n && l->s[l->i] >= '0' && l->s[l->i] <= '9') {
        int digit = l->s[l->i++] - '0';
        if (v > (((int64_t)1 << 62) - digit) / 10) return -1; /* checked before it can overflow */
        v = v * 10 + digit;
    }
    if (l->i == start) return -1;
    *out = v;
    return 0;
}

static int lex_word(Lex *l, const char *w) {
    lex_ws(l);
    size_t k = strlen(w);
    if (l->n - l->i < k || memcmp(l->s + l->i, w, k) != 0) return 0;
    l->i += k;
    return 1;
}

typedef struct {
    char descr[32];
    int fortran;
    int ndim;
    int64_t shape[NPY_MAX_DIMS];
} NpyHeader;

/* Parse the dict literal; returns 0 or -1 with err_set() naming `name`. */
static int parse_header(NpyHeader *h, const char *name, const char *s, size_t n) {
    Lex l = {s, n, 0};
    int seen_descr = 0, seen_fortran = 0, seen_shape = 0;
    if (!lex_eat(&l, '{')) return err_set("%s: .npy header is not a Python dict literal", name);
    for (;;) {
        if (lex_eat(&l, '}')) break;
        char key[32];
        if (lex_string(&l, key, sizeof key) != 0 || !lex_eat(&l, ':'))
            return err_set("%s: .npy header: expected a quoted key and ':' at byte %zu", name, l.i);
        if (strcmp(key, "descr") == 0) {
            if (seen_descr++) return err_set("%s: .npy header: key 'descr' appears twice", name);
            lex_ws(&l);
            if (l.i < l.n && l.s[l.i] == '[')
                return err_set("%s: structured dtypes are not supported (only float32 and int32 arrays)", name);
            if (lex_string(&l, h->descr, sizeof h->descr) != 0)
                return err_set("%s: .npy header: 'descr' is not a dtype string", name);
        } else if (strcmp(key, "fortran_order") == 0) {
            if (seen_fortran++) return err_set("%s: .npy header: key 'fortran_order' appears twice", name);
            if (lex_word(&l, "True")) h->fortran = 1;
            else if (lex_word(&l, "False")) h->fortran = 0;
            else return err_set("%s: .npy header: 'fortran_order' is not True or False", name);
        } else if (strcmp(key, "shape") == 0) {
            if (seen_shape++) return err_set("%s: .npy header: key 'shape' appears twice", name);
            if (!lex_eat(&l, '(')) return err_set("%s: .npy header: 'shape' is not a tuple", name);
            h->ndim = 0;
            if (!lex_eat(&l, ')')) {
                for (;;) {
                    int64_t v;
                    if (lex_int(&l, &v) != 0)
                        return err_set("%s: .npy header: shape entries must be non-negative integers", name);
                    if (h->ndim == NPY_MAX_DIMS)
                        return err_set("%s: .npy header: more than %d dimensions", name, NPY_MAX_DIMS);
                    h->shape[h->ndim++] = v;
                    int comma = lex_eat(&l, ',');
                    if (lex_eat(&l, ')')) {
                        /* Python needs the comma in a 1-tuple: "(5)" is the integer 5 */
                        if (h->ndim == 1 && !comma) return err_set("%s: .npy header: shape (N) is not a tuple", name);
                        break;
                    }
                    if (!comma) return err_set("%s: .npy header: bad shape tuple at byte %zu", name, l.i);
                }
            }
        } else {
            return err_set("%s: .npy header: unexpected key '%s' (only descr, fortran_order, shape)", name, key);
        }
        if (lex_eat(&l, ',')) continue;
        if (lex_eat(&l, '}')) break;
        return err_set("%s: .npy header: expected ',' or '}' at byte %zu", name, l.i);
    }
    lex_ws(&l);
    if (l.i != l.n) return err_set("%s: .npy header: unexpected text after the dict", name);
    if (!seen_descr || !seen_fortran || !seen_shape)
        return err_set("%s: .npy header lacks '%s'", name,
                       !seen_descr ? "descr" : !seen_fortran ? "fortran_order" : "shape");
    return 0;
}

/* Parse buf[0..len); with borrow, a little-endian payload is pointed to in
 * place (a->data inside buf, not owned; *borrowed = 1) instead of copied. */
static int parse_file(Npy *a, const char *name, const uint8_t *buf, size_t len, int borrow, int *borrowed) {
    *borrowed = 0;
    memset(a, 0, sizeof *a);
    if (len < 10 || memcmp(buf, "\x93NUMPY", 6) != 0)
        return err_set("%s: not a .npy file (no \\x93NUMPY magic)", name);
    int major = buf[6], minor = buf[7];
    if ((major != 1 && major != 2 && major != 3) || minor != 0)
        return err_set("%s: .npy format version %d.%d is not supported (1.0, 2.0, 3.0 are)", name, major, minor);
    size_t hstart = major == 1 ? 10 : 12;
    if (len < hstart) return err_set("%s: .npy file truncated in its preamble", name);
    size_t hlen = major == 1 ? (size_t)(buf[8] | buf[9] << 8)
                             : (size_t)buf[8] | (size_t)buf[9] << 8 | (size_t)buf[10] << 16 | (size_t)buf[11] << 24;
    if (hlen > len - hstart) return err_set("%s: .npy header (%zu bytes) runs past the end of the file", name, hlen);
    NpyHeader h;
    memset(&h, 0, sizeof h);
    if (parse_header(&h, name, (const char *)buf + hstart, hlen) != 0) return -1;

    int swap = 0;
    if (strcmp(h.descr, "<f4") == 0) a->dtype = NPY_F32;
    else if (strcmp(h.descr, "<i4") == 0) a->dtype = NPY_I32;
    else if (strcmp(h.descr, ">f4") == 0) a->dtype = NPY_F32, swap = 1;
    else if (strcmp(h.descr, ">i4") == 0) a->dtype = NPY_I32, swap = 1;
    else if (strchr(h.descr, 'O'))
        return err_set("%s: object arrays (dtype '%s') cannot be read; save a float32 or int32 array", name, h.descr);
    else
        return err_set("%s: dtype '%s' is not supported; save with arr.astype(np.float32) or np.int32", name,
                       h.descr);
    if (h.fortran)
        return err_set("%s: fortran_order True is not supported; save np.ascontiguousarray(arr)", name);

    int64_t numel = 1;
    for (int d = 0; d < h.ndim; d++)
        if (__builtin_mul_overflow(numel, h.shape[d], &numel) || numel > ((int64_t)1 << 60))
            return err_set("%s: .npy shape is too large", name);
    size_t need = (size_t)numel * 4, have = len - hstart - hlen;
    if (have < need)
        return err_set("%s: .npy data truncated: shape needs %zu bytes, the file has %zu", name, need, have);
    if (have > need)
        return err_set("%s: .npy file has %zu bytes after the data (shape needs %zu): damaged?", name, have - need,
                       need);
    a->ndim = h.ndim;
    memcpy(a->shape, h.shape, sizeof h.shape);
    a->numel = numel;
    if (borrow && !swap && (hstart + hlen) % 4 == 0) {
        a->data = (void *)(buf + hstart + hlen);
        *borrowed = 1;
        return 0;
    }
    uint8_t *data = xmalloc_aligned(need ? need : 4);
    memcpy(data, buf + hstart + hlen, need);
    if (swap)
        for (size_t k = 0; k < need; k += 4) {
            uint8_t t0 = data[k], t1 = data[k + 1];
            data[k] = data[k + 3];
            data[k + 1] = data[k + 2];
            data[k + 2] = t1;
            data[k + 3] = t0;
        }
    a->data = data;
    return 0;
}

int npy_parse(Npy *a, const char *name, const uint8_t *buf, size_t len) {
    int borrowed;
    return parse_file(a, name, buf, len, 0, &borrowed);
}

int npy_read(Npy *a, const char *path) {
    memset(a, 0, sizeof *a);
    char *buf;
    size_t len;
    if (file_read_all(path, &buf, &len) != 0) return -1;
    int rc = npy_parse(a, path, (const uint8_t *)buf, len);
    free(buf);
    return rc;
}

int npy_map(Npy *a, const char *path) {
    memset(a, 0, sizeof *a);
    void *map;
    size_t len;
    int m = file_map(path, "save the array to a .npy file first", &map, &len);
    if (m < 0) return -1;
    if (!map) return npy_read(a, path);   /* empty, or no mmap here: the same checks by reading */
    int borrowed;
    int rc = parse_file(a, path, map, len, 1, &borrowed);
    if (!borrowed) {
        file_unmap(map, len);   /* an error, or a byte-swapped copy that owns its data */
        return rc;
    }
    a->map = map;
    a->map_len = len;
    return 0;
}

void npy_free(Npy *a) {
    if (!a) return;
    if (a->map) {
        file_unmap(a->map, a->map_len);
    } else {
        free(a->data);
    }
    memset(a, 0, sizeof *a);
}

const char *npy_describe(const Npy *a, char *buf, size_t cap) {
    int o = snprintf(buf, cap, "%s of shape (", a->dtype == NPY_F32 ? "float32" : "int32");
    for (int d = 0; d < a->ndim && o > 0 && (size_t)o < cap; d++)
        o += snprintf(buf + o, cap - (size_t)o, "%s%lld", d ? ", " : "", (long long)a->shape[d]);
    if (o > 0 && (size_t)o < cap) snprintf(buf + o, cap - (size_t)o, "%s)", a->ndim == 1 ? "," : "");
    return buf;
}

int npy_check_f32_rows(const Npy *a, const char *path, const char *what) {
    if (a->dtype == NPY_F32 && a->ndim >= 2) return 0;
    char got[160];
    return err_set("%s: expected %s as float32 of shape (T, d); this file holds %s%s", path, what,
                   npy_describe(a, got, sizeof got),
                   a->dtype != NPY_F32 ? " (convert with arr.astype(np.float32))"
                                       : " (reshape it to 2-D: arr.reshape(-1, d))");
}

/* ---- writing ------------------------------------------------------------ */

static int writer_begin(NpyWriter *w, const char *path, const char *descr, const int64_t *shape, int ndim) {
    memset(w, 0, sizeof *w);
    if (ndim < 0 || ndim > NPY_MAX_DIMS) return err_set("%s: %d dimensions (at most %d)", path, ndim, NPY_MAX_DIMS);
    char hdr[512];
    int o = snprintf(hdr, sizeof hdr, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
    int64_t numel = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0) return err_set("%s: negative dimension %lld", path, (long long)shape[d]);
        o += snprintf(hdr + o, sizeof hdr - (size_t)o, "%s%lld", d ? ", " : "", (long long)shape[d]);
        numel *= shape[d];
    }
    o += snprintf(hdr + o, sizeof hdr - (size_t)o, "%s), }", ndim == 1 ? "," : "");
    /* pad with spaces and a final '\n' so the data starts 64-byte aligned */
    while ((10 + o + 1) % 64 != 0) hdr[o++] = ' ';
    hdr[o++] = '\n';
    uint8_t pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (uint8_t)(o & 0xFF), (uint8_t)(o >> 8)};
    w->f = file_begin(path, w->tmp, sizeof w->tmp);
    if (!w->f) return -1;
    w->path = path;
    w->numel = numel;
    if (fwrite(pre, 1, 10, w->f) != 10 || fwrite(hdr, 1, (size_t)o, w->f) != (size_t)o) {
        npy_writer_abort(w);
        return err_set("%s: write failed", path);
    }
    return 0;
}

int npy_writer_begin(NpyWriter *w, const char *path, const int64_t *shape, int ndim) {
    return writer_begin(w, path, "<f4", shape, ndim);
}

int npy_writer_put(NpyWriter *w, const void *data, int64_t n) {
    if (!w->f) return err_set("%s: write after an error", w->path ? w->path : "npy");
    if (n < 0 || w->written + n > w->numel) {
        npy_writer_abort(w);
        return err_set("%s: more values written than the shape holds", w->path);
    }
    if (n && fwrite(data, 4, (size_t)n, w->f) != (size_t)n) {
        npy_writer_abort(w);
        return err_set("%s: write failed", w->path);
    }
    w->written += n;
    return 0;
}

int npy_writer_end(NpyWriter *w) {
    if (!w->f) return err_set("%s: write after an error", w->path ? w->path : "npy");
    if (w->written != w->numel) {
        long long got = (long long)w->written, want = (long long)w->numel;
        npy_writer_abort(w);
        return err_set("%s: %lld values written, the shape holds %lld", w->path, got, want);
    }
    int rc = file_commit(w->f, w->tmp, w->path);
    w->f = NULL;
    return rc;
}

void npy_writer_abort(NpyWriter *w) {
    if (w->f) file_abort(w->f, w->tmp);
    w->f = NULL;
}

static int npy_write(const char *path, const char *descr, const void *data, const int64_t *shape, int ndim) {
    NpyWriter w;
    if (writer_begin(&w, path, descr, shape, ndim) != 0) return -1;
    if (npy_writer_put(&w, data, w.numel) != 0) return -1;
    return npy_writer_end(&w);
}

int npy_write_f32(const char *path, const float *data, const int64_t *shape, int ndim) {
    return npy_write(path, "<f4", data, shape, ndim);
}

int npy_write_i32(const char *path, const int32_t *data, const int64_t *shape, int ndim) {
    return npy_write(path, "<i4", data, shape, ndim);
}
