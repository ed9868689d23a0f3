/*
 * tests/test_npy.c - weights/npy.c: round trips, crafted bad headers, and
 * interop with NumPy: files NumPy wrote (tests/golden/npy/, made by
 * tests/npy_interop.py; and again live when /usr/bin/python3 has numpy) are
 * read here, and files written here are read back by NumPy.
 */
#include "core/util.h"
#include "tests/test.h"
#include "weights/npy.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The formulas tests/npy_interop.py uses. */
static float f_of(int64_t k) { return (float)(0.5 * (double)k - 1.0); }
static int32_t i_of(int64_t k) { return (int32_t)(7 * k - 20); }

/* Read dir/name.npy.golden (or .npy) and check dtype, shape and values;
 * with map, by npy_map (little-endian data must then be mapped, not copied). */
static void check_file_how(const char *path, NpyDtype dt, const int64_t *shape, int ndim, int map) {
    Npy a;
    if ((map ? npy_map(&a, path) : npy_read(&a, path)) != 0) {
        CHECK(0, "%s %s: %s", map ? "map" : "read", path, err_get());
        return;
    }
    if (map && !strstr(path, "_be"))
        CHECK(a.map != NULL && (uint8_t *)a.data > (uint8_t *)a.map && (uint8_t *)a.data <= (uint8_t *)a.map + a.map_len,
              "npy_map %s: the data is in the file's mapping", path);
    if (map && strstr(path, "_be")) CHECK(a.map == NULL, "npy_map %s: big-endian data copied (byte-swapped)", path);
    int ok = a.dtype == dt && a.ndim == ndim;
    int64_t numel = 1;
    for (int d = 0; d < ndim && ok; d++) {
        ok = a.shape[d] == shape[d];
        numel *= shape[d];
    }
    ok = ok && a.numel == numel;
    int64_t bad = 0;
    for (int64_t k = 0; ok && k < numel; k++)
        bad += dt == NPY_F32 ? a.f32[k] != f_of(k) : a.i32[k] != i_of(k);
    CHECK(ok && bad == 0, "%s %s: %s, %d dims, %lld values as NumPy wrote them (%lld wrong)", map ? "map" : "read",
          path, dt == NPY_F32 ? "float32" : "int32", ndim, (long long)numel, (long long)bad);
    npy_free(&a);
}

static void check_file(const char *path, NpyDtype dt, const int64_t *shape, int ndim) {
    check_file_how(path, dt, shape, ndim, 0);
    check_file_how(path, dt, shape, ndim, 1);
}

static void check_numpy_files(const char *dir, const char *suffix) {
    static const struct {
        const char *name;
        NpyDtype dt;
        int ndim;
        int64_t shape[8];
    } good[] = {
        {"f32_3x4_v1", NPY_F32, 2, {3, 4}},
        {"i32_10_v1", NPY_I32, 1, {10}},
        {"f32_2x3x2_v2", NPY_F32, 3, {2, 3, 2}},
        {"i32_2x5_v3", NPY_I32, 2, {2, 5}},
        {"f32_4x3_be", NPY_F32, 2, {4, 3}},
        {"i32_6_be", NPY_I32, 1, {6}},
        {"f32_scalar", NPY_F32, 0, {0}},
        {"f32_0x3", NPY_F32, 2, {0, 3}},
        {"f32_1x1x1x1x1x1x1x7", NPY_F32, 8, {1, 1, 1, 1, 1, 1, 1, 7}},
    };
    static const struct {
        const char *name, *want;
    } bad[] = {
        {"bad_fortran", "fortran_order True"}, {"bad_f64", "'<f8' is not supported"},
        {"bad_i64", "'<i8' is not supported"}, {"bad_object", "object arrays"},
        {"bad_structured", "structured"},
    };
    char path[4096];
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        snprintf(path, sizeof path, "%s/%s%s", dir, good[i].name, suffix);
        check_file(path, good[i].dt, good[i].shape, good[i].ndim);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(path, sizeof path, "%s/%s%s", dir, bad[i].name, suffix);
        for (int map = 0; map < 2; map++) {
            Npy a;
            int rc = map ? npy_map(&a, path) : npy_read(&a, path);
            CHECK(rc == -1 && strstr(err_get(), bad[i].want) && strstr(err_get(), bad[i].name), "%s %s refused: %s",
                  map ? "map" : "read", path, err_get());
            if (rc == 0) npy_free(&a);
        }
    }
}

/* Write the files tests/npy_interop.py `check` expects. */
static int write_for_numpy(const char *dir) {
    float f[12];
    int32_t i[10];
    for (int k = 0; k < 12; k++) f[k] = f_of(k);
    for (int k = 0; k < 10; k++) i[k] = i_of(k);
    char p[4096];
    int rc = 0;
    snprintf(p, sizeof p, "%s/c_f32_3x4.npy", dir);
    rc |= npy_write_f32(p, f, (int64_t[]){3, 4}, 2);
    snprintf(p, sizeof p, "%s/c_i32_10.npy", dir);
    rc |= npy_write_i32(p, i, (int64_t[]){10}, 1);
    snprintf(p, sizeof p, "%s/c_f32_scalar.npy", dir);
    rc |= npy_write_f32(p, f, NULL, 0);
    snprintf(p, sizeof p, "%s/c_f32_0x3.npy", dir);
    rc |= npy_write_f32(p, NULL, (int64_t[]){0, 3}, 2);
    snprintf(p, sizeof p, "%s/c_i32_2x1x3.npy", dir);
    rc |= npy_write_i32(p, i, (int64_t[]){2, 1, 3}, 3);
    return rc;
}

/* A crafted v1.0 file: header text padded to 64, then data_len bytes. */
static uint8_t *craft(const char *hdr, size_t data_len, size_t *len) {
    size_t h = strlen(hdr);
    *len = 10 + h + data_len;
    uint8_t *b = xcalloc(1, *len);
    memcpy(b, "\x93NUMPY\x01\x00", 8);
    b[8] = (uint8_t)(h & 0xFF);
    b[9] = (uint8_t)(h >> 8);
    memcpy(b + 10, hdr, h);
    return b;
}

static void expect_bad(const char *what, const char *hdr, size_t data_len, const char *want) {
    size_t len;
    uint8_t *b = craft(hdr, data_len, &len);
    Npy a;
    int rc = npy_parse(&a, "x.npy", b, len);
    CHECK(rc == -1 && strstr(err_get(), want) && strncmp(err_get(), "x.npy: ", 7) == 0, "%s: %s", what, err_get());
    if (rc == 0) npy_free(&a);
    free(b);
}

static void expect_good(const char *what, const char *hdr, size_t data_len, int ndim, int64_t numel) {
    size_t len;
    uint8_t *b = craft(hdr, data_len, &len);
    Npy a;
    int rc = npy_parse(&a, "x.npy", b, len);
    CHECK(rc == 0 && a.ndim == ndim && a.numel == numel, "%s (%s)", what, rc ? err_get() : "ok");
    if (rc == 0) npy_free(&a);
    free(b);
}

/* Crafted headers: what the case is, the header text, the data bytes after
 * it, and (bad ones) what the message must say; good ones give ndim, numel. */
typedef struct {
    const char *what, *hdr;
    size_t data;
    int ndim;
    int64_t numel;
} GoodHeader;
typedef struct {
    const char *what, *hdr;
    size_t data;
    const char *want;
} BadHeader;

#define F23 "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n"
#define F4(shape) "{'descr': '<f4', 'fortran_order': False, 'shape': " shape ", }"

static const GoodHeader good_headers[] = {
    {"numpy's own header", F23, 24, 2, 6},
    {"double quotes, no trailing comma", "{\"descr\": \"<i4\", \"fortran_order\": False, \"shape\": (2,)}", 8, 1, 2},
    {"keys in another order", "{'shape': (3,), 'fortran_order': False, 'descr': '<f4'}", 12, 1, 3},
    {"shape ()", F4("()"), 4, 0, 1},
};

static const BadHeader bad_headers[] = {
    {"fortran order", "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", 24, "fortran_order True"},
    {"object dtype", "{'descr': '|O', 'fortran_order': False, 'shape': (2,), }", 16, "object arrays"},
    {"float64", "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", 16, "not supported"},
    {"truncated data", F23, 20, "truncated"},
    {"extra data", F23, 28, "after the data"},
    {"shape (2) is not a tuple", F4("(2)"), 8, "not a tuple"},
    {"negative dim", F4("(-2,)"), 8, "non-negative"},
    {"float dim", F4("(2.0,)"), 8, "shape"},
    {"9 dims", F4("(1,1,1,1,1,1,1,1,1)"), 4, "dimensions"},
    {"missing key", "{'descr': '<f4', 'shape': (1,), }", 4, "lacks 'fortran_order'"},
    {"duplicate key", "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}", 4, "twice"},
    {"unknown key", "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}", 4, "unexpected key"},
    {"fortran_order 0", "{'descr': '<f4', 'fortran_order': 0, 'shape': (1,)}", 4, "True or False"},
    {"not a dict", "['<f4']", 4, "not a Python dict"},
    {"text after the dict", "{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} x", 4, "after the dict"},
    {"unterminated", "{'descr': '<f4', 'fortran_order': False, 'shape': (1,", 4, "shape"},
    {"escape in a string", "{'descr': '<f\\4', 'fortran_order': False, 'shape': (1,)}", 4, "descr"},
    {"huge shape", F4("(4611686018427387904, 4)"), 4, "too large"},
    {"dims beyond 2^62", F4("(99999999999999999999,)"), 4, "non-negative"},
};

static void test_crafted(void) {
    for (size_t i = 0; i < sizeof good_headers / sizeof *good_headers; i++) {
        const GoodHeader *g = &good_headers[i];
        expect_good(g->what, g->hdr, g->data, g->ndim, g->numel);
    }
    for (size_t i = 0; i < sizeof bad_headers / sizeof *bad_headers; i++) {
        const BadHeader *e = &bad_headers[i];
        expect_bad(e->what, e->hdr, e->data, e->want);
    }

    Npy a;
    uint8_t junk[12] = "NUMPY-ish..";
    CHECK(npy_parse(&a, "x.npy", junk, sizeof junk) == -1 && strstr(err_get(), "magic"), "bad magic: %s", err_get());
    size_t len;
    uint8_t *b = craft(F23, 24, &len);
    b[6] = 4;
    CHECK(npy_parse(&a, "x.npy", b, len) == -1 && strstr(err_get(), "version 4.0"), "version 4.0: %s", err_get());
    b[6] = 1;
    b[9] = 0x7f; /* header length far past the end */
    CHECK(npy_parse(&a, "x.npy", b, len) == -1 && strstr(err_get(), "past the end"), "header past the end: %s",
          err_get());
    CHECK(npy_parse(&a, "x.npy", b, 9) == -1, "9-byte file: %s", err_get());
    free(b);
}

static void test_roundtrip(const char *dir) {
    char *p = path_join(dir, "rt.npy");
    enum { T = 7, C = 5 };
    float f[T * C];
    Rng r;
    rng_seed(&r, 7);
    for (int k = 0; k < T * C; k++) f[k] = rng_normal(&r);
    f[3] = -0.0f;
    f[4] = INFINITY;
    f[5] = NAN;
    CHECK(npy_write_f32(p, f, (int64_t[]){T, C}, 2) == 0, "write f32 (%d, %d)", T, C);
    Npy a;
    int rc = npy_read(&a, p);
    CHECK(rc == 0 && a.dtype == NPY_F32 && a.ndim == 2 && a.shape[0] == T && a.shape[1] == C &&
              memcmp(a.f32, f, sizeof f) == 0,
          "f32 round trip bit-exact (incl. -0, inf, NaN)");
    if (rc == 0) npy_free(&a);
    char *buf;
    size_t n;
    if (file_read_all(p, &buf, &n) == 0) {
        size_t hl = (unsigned char)buf[8] | (unsigned char)buf[9] << 8;
        CHECK((10 + hl) % 64 == 0 && buf[10 + hl - 1] == '\n' && buf[6] == 1 && buf[7] == 0,
              "version 1.0, data 64-byte aligned, header ends in newline");
        free(buf);
    }
    int32_t ids[4] = {50256, 0, -1, 2147483647};
    CHECK(npy_write_i32(p, ids, (int64_t[]){4}, 1) == 0, "overwrite with int32 (4,)");
    rc = npy_read(&a, p);
    CHECK(rc == 0 && a.dtype == NPY_I32 && a.ndim == 1 && a.numel == 4 && memcmp(a.i32, ids, sizeof ids) == 0,
          "i32 round trip");
    if (rc == 0) npy_free(&a);
    npy_free(&a); /* zeroed: no-op */
    char *bad = path_join(dir, "no/such/x.npy");
    CHECK(npy_write_f32(bad, f, (int64_t[]){1}, 1) == -1 && strstr(err_get(), "x.npy"), "write into a missing folder: %s",
          err_get());
    CHECK(npy_read(&a, bad) == -1 && strstr(err_get(), "x.npy"), "read a missing file: %s", err_get());
    free(bad);
    unlink(p);
    free(p);
}

int main(void) {
    char dir[] = "/tmp/gpt2sae_test_npy_XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "temporary folder %s", dir);
    test_roundtrip(dir);
    test_crafted();
    check_numpy_files("tests/golden/npy", ".npy.golden");

    /* ---- the streaming writer ---- */
    {
        float v[12];
        for (int k = 0; k < 12; k++) v[k] = f_of(k);
        char p1[4096], p2[4096];
        snprintf(p1, sizeof p1, "%s/whole.npy", dir);
        snprintf(p2, sizeof p2, "%s/pieces.npy", dir);
        CHECK(npy_write_f32(p1, v, (int64_t[]){3, 4}, 2) == 0, "npy_write_f32 (3, 4)");
        NpyWriter w;
        int rc = npy_writer_begin(&w, p2, (int64_t[]){3, 4}, 2);
        rc |= npy_writer_put(&w, v, 5);
        rc |= npy_writer_put(&w, v + 5, 0);
        rc |= npy_writer_put(&w, v + 5, 7);
        rc |= npy_writer_end(&w);
        char *a, *b;
        size_t la, lb;
        int same = rc == 0 && file_read_all(p1, &a, &la) == 0 && file_read_all(p2, &b, &lb) == 0 && la == lb &&
                   memcmp(a, b, la) == 0;
        CHECK(same, "the writer in pieces (5 + 0 + 7 values) == npy_write_f32 byte for byte");
        if (rc == 0) free(a), free(b);
        /* too few values: end fails, the old file stays */
        rc = npy_writer_begin(&w, p2, (int64_t[]){3, 4}, 2);
        rc |= npy_writer_put(&w, v, 11);
        int end = npy_writer_end(&w);
        CHECK(rc == 0 && end == -1 && strstr(err_get(), "11 values written, the shape holds 12"),
              "11 of 12 values: end refuses (%s)", err_get());
        check_file(p2, NPY_F32, (int64_t[]){3, 4}, 2);
        /* too many values: put fails */
        rc = npy_writer_begin(&w, p2, (int64_t[]){2, 2}, 2);
        int put = npy_writer_put(&w, v, 5);
        CHECK(rc == 0 && put == -1 && strstr(err_get(), "more values"), "5 values into (2, 2): put refuses (%s)", err_get());
        CHECK(npy_writer_end(&w) == -1, "end after a failed put refuses");
        check_file(p2, NPY_F32, (int64_t[]){3, 4}, 2);
        char cmd[8192];
        snprintf(cmd, sizeof cmd, "ls %s | grep -c tmp", dir);
        FILE *f = popen(cmd, "r");
        int ntmp = -1;
        if (f) { if (fscanf(f, "%d", &ntmp) != 1) ntmp = -1; pclose(f); }
        CHECK(ntmp == 0, "no temporary files left behind (%d)", ntmp);
    }

    /* live interop, when NumPy is installed */
    if (system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") != 0) {
        SKIP("live NumPy interop: /usr/bin/python3 with numpy not found (apt-get install python3-numpy)");
    } else {
        char cmd[8192];
        snprintf(cmd, sizeof cmd, "/usr/bin/python3 tests/npy_interop.py write %s/np", dir);
        CHECK(system(cmd) == 0, "NumPy writes its test files: %s", cmd);
        char npdir[4096];
        snprintf(npdir, sizeof npdir, "%s/np", dir);
        check_numpy_files(npdir, ".npy.golden");
        int wrc = write_for_numpy(dir);
        CHECK(wrc == 0, "write files for NumPy (%s)", wrc ? err_get() : "ok");
        snprintf(cmd, sizeof cmd, "/usr/bin/python3 tests/npy_interop.py check %s", dir);
        CHECK(system(cmd) == 0, "NumPy reads them back: np.load values, shapes, dtypes, 64-byte alignment");
    }
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) printf("  (could not remove %s)\n", dir);
    return test_finish();
}
