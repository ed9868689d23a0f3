/*
 * tests/test_safetensors.c - weights/safetensors.c: a writer/reader round
 * trip, one crafted file per validation rule (each must fail with a message
 * naming the file and the tensor), and F16/BF16 -> F32 against PyTorch
 * (tests/golden/f16_bf16.safetensors.golden, from tests/gen_safetensors_golden.py).
 */
#include "core/util.h"
#include "tests/test.h"
#include "weights/safetensors.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A crafted file: 8-byte length, the header text as given, then `data_len` bytes. */
static uint8_t *craft(const char *header, size_t data_len, size_t *len) {
    size_t h = strlen(header);
    *len = 8 + h + data_len;
    uint8_t *b = xcalloc(1, *len);
    for (int k = 0; k < 8; k++) b[k] = (uint8_t)((uint64_t)h >> (8 * k));
    memcpy(b + 8, header, h);
    for (size_t k = 0; k < data_len; k++) b[8 + h + k] = (uint8_t)k;
    return b;
}

/* Parse a crafted file that must be rejected with a message containing `want`
 * (and the file name). */
static void expect_fail(const char *what, const char *header, size_t data_len, const char *want) {
    size_t len;
    uint8_t *b = craft(header, data_len, &len);
    SafeTensors st;
    err_clear();
    int rc = safetensors_parse(&st, "crafted.safetensors", b, len);
    const char *msg = err_get();
    CHECK(rc == -1 && strstr(msg, want) && strncmp(msg, "crafted.safetensors: ", 21) == 0, "%s: rejected: %s", what,
          msg);
    if (rc == 0) safetensors_close(&st);
    free(b);
}

static int parse_ok(SafeTensors *st, const char *header, size_t data_len, uint8_t **buf) {
    size_t len;
    *buf = craft(header, data_len, &len);
    return safetensors_parse(st, "crafted.safetensors", *buf, len);
}

/* Same bits, or both NaN (the payload of a NaN need not survive). */
static void check_bits(const char *name, const float *a, const float *b, int64_t n) {
    int64_t bad = 0, first = -1;
    for (int64_t k = 0; k < n; k++) {
        uint32_t x, y;
        memcpy(&x, &a[k], 4);
        memcpy(&y, &b[k], 4);
        if (x != y && !(a[k] != a[k] && b[k] != b[k])) {
            if (first < 0) first = k;
            bad++;
        }
    }
    if (first < 0) first = 0;
    CHECK(bad == 0 && n > 0, "%s: %lld values, %lld not bit-identical to torch (first [%lld]: %.9g vs %.9g)", name,
          (long long)n, (long long)bad, (long long)first, n ? a[first] : 0.0, n ? b[first] : 0.0);
}

static void test_golden(void) {
    SafeTensors st;
    const char *path = "tests/golden/f16_bf16.safetensors.golden";
    if (safetensors_open(&st, path) != 0) {
        CHECK(0, "open %s: %s", path, err_get());
        return;
    }
    const char *pairs[2][2] = {{"f16", "f16_f32"}, {"bf16", "bf16_f32"}};
    for (int p = 0; p < 2; p++) {
        const STTensor *h = safetensors_find(&st, pairs[p][0]), *f = safetensors_find(&st, pairs[p][1]);
        CHECK(h && f && h->numel == f->numel && h->dtype == (p ? ST_BF16 : ST_F16) && f->dtype == ST_F32,
              "golden has %s and %s", pairs[p][0], pairs[p][1]);
        if (!h || !f) continue;
        const float *ours = safetensors_f32(&st, h), *torch = safetensors_f32(&st, f);
        CHECK(ours && torch, "%s converted", pairs[p][0]);
        if (ours && torch) check_bits(p ? "BF16 -> F32" : "F16 -> F32", ours, torch, h->numel);
        CHECK(safetensors_f32(&st, h) == ours, "%s: a second request returns the same copy", pairs[p][0]);
    }
    /* the named cases, spelled out (they are in the golden too) */
    CHECK(st_f16_to_f32(0x0001) == 0x1p-24f, "F16 smallest subnormal = 2^-24");
    CHECK(st_f16_to_f32(0x03FF) == 1023 * 0x1p-24f, "F16 largest subnormal");
    CHECK(st_f16_to_f32(0x7BFF) == 65504.0f, "F16 max = 65504");
    CHECK(st_f16_to_f32(0xFC00) == -INFINITY, "F16 -inf");
    CHECK(isnan(st_f16_to_f32(0x7E00)), "F16 NaN");
    CHECK(signbit(st_f16_to_f32(0x8000)) && st_f16_to_f32(0x8000) == 0, "F16 -0");
    CHECK(st_bf16_to_f32(0x0001) == 0x1p-133f, "BF16 smallest subnormal = 2^-133");
    safetensors_close(&st);
}

static void test_roundtrip(const char *dir) {
    char *path = path_join(dir, "rt.safetensors");
    float a[6] = {1.5f, -2.0f, 3.25f, 0.0f, -0.0f, 1e-30f}, b[1] = {42.0f};
    STWriter w;
    st_writer_init(&w);
    st_writer_add(&w, "layer.a", (int64_t[]){2, 3}, 2, a);
    st_writer_add(&w, "scalar", (int64_t[]){0}, 0, b);
    st_writer_add(&w, "empty", (int64_t[]){0, 5}, 2, NULL);
    st_writer_meta(&w, "format", "pt");
    st_writer_meta(&w, "quote\"d", "line\nbreak");
    CHECK(st_writer_write(&w, path) == 0, "st_writer_write %s", path);
    st_writer_free(&w);

    SafeTensors st;
    int rc = safetensors_open(&st, path);
    CHECK(rc == 0, "reopen: %s", rc ? err_get() : "ok");
    if (rc) return;
    uint64_t hlen = 0;
    for (int k = 7; k >= 0; k--) hlen = (hlen << 8) | st.map[k];
    CHECK((8 + hlen) % 8 == 0 && st.map[8 + hlen - 1] != 0, "data section 8-byte aligned (header %llu bytes)",
          (unsigned long long)hlen);
    CHECK(st.n == 3, "3 tensors (%d)", st.n);
    const STTensor *t = safetensors_find(&st, "layer.a");
    CHECK(t && t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 3 && t->numel == 6 && t->dtype == ST_F32,
          "layer.a is F32 [2, 3]");
    const float *d = t ? safetensors_f32(&st, t) : NULL;
    CHECK(d && memcmp(d, a, sizeof a) == 0, "layer.a values round trip bit-exactly");
    CHECK(d && (const uint8_t *)d >= st.map && (const uint8_t *)d < st.map + st.map_len,
          "F32 data is used in place from the mmap");
    t = safetensors_find(&st, "scalar");
    d = t ? safetensors_f32(&st, t) : NULL;
    CHECK(t && t->ndim == 0 && t->numel == 1 && d && d[0] == 42.0f, "a 0-d tensor holds one value");
    t = safetensors_find(&st, "empty");
    CHECK(t && t->numel == 0 && t->begin == t->end, "an empty [0, 5] tensor");
    CHECK(safetensors_find(&st, "nope") == NULL, "find of a missing name is NULL");
    const char *m = safetensors_meta(&st, "quote\"d");
    CHECK(m && strcmp(m, "line\nbreak") == 0, "metadata with escapes round trips");
    CHECK(safetensors_meta(&st, "format") && strcmp(safetensors_meta(&st, "format"), "pt") == 0, "metadata format=pt");
    safetensors_close(&st);
    safetensors_close(&st); /* a closed (zeroed) one is a no-op */

    /* a failed write leaves the good file alone */
    char *bad = path_join(dir, "missing/dir/x.safetensors");
    st_writer_init(&w);
    st_writer_add(&w, "x", (int64_t[]){1}, 1, b);
    CHECK(st_writer_write(&w, bad) == -1 && strstr(err_get(), "x.safetensors"), "write into a missing folder: %s",
          err_get());
    st_writer_free(&w);
    free(bad);

    /* generated tensors (the streaming path used by ./run synth), larger than one chunk */
    enum { N = 200000 };
    float *ref = xmalloc(N * sizeof(float));
    for (int k = 0; k < N; k++) ref[k] = (float)k * 0.5f;
    int64_t next = 0;
    st_writer_init(&w);
    void gen(void *ctx, float *out, int64_t count);
    st_writer_add_gen(&w, "gen", (int64_t[]){N / 4, 4}, 2, gen, &next);
    CHECK(st_writer_write(&w, path) == 0, "write a generated tensor over the old file");
    st_writer_free(&w);
    rc = safetensors_open(&st, path);
    t = rc == 0 ? safetensors_find(&st, "gen") : NULL;
    d = t ? safetensors_f32(&st, t) : NULL;
    CHECK(d && st.n == 1 && memcmp(d, ref, N * sizeof(float)) == 0, "generated values read back (%lld)",
          (long long)next);
    if (rc == 0) safetensors_close(&st);
    free(ref);
    unlink(path);
    free(path);
}

void gen(void *ctx, float *out, int64_t count) {
    int64_t *next = ctx;
    for (int64_t k = 0; k < count; k++) out[k] = (float)(*next)++ * 0.5f;
}

static void test_files(const char *dir) {
    SafeTensors st;
    char *p = path_join(dir, "nope.safetensors");
    CHECK(safetensors_open(&st, p) == -1 && strstr(err_get(), "nope.safetensors"), "missing file: %s", err_get());
    CHECK(file_write_atomic(p, "", 0) == 0, "an empty file");
    CHECK(safetensors_open(&st, p) == -1 && strstr(err_get(), "nope.safetensors") && strstr(err_get(), "too short"),
          "empty file: %s", err_get());
    size_t len;
    uint8_t *b = craft("{\"t\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 16, &len);
    CHECK(file_write_atomic(p, b, len - 3) == 0, "a truncated file");
    CHECK(safetensors_open(&st, p) == -1 && strstr(err_get(), "'t'") && strstr(err_get(), "truncated"),
          "truncated file: %s", err_get());
    CHECK(safetensors_open(&st, dir) == -1, "a folder is not a file: %s", err_get());
    unlink(p);
    free(p);
    free(b);
}

static void test_valid(void) {
    SafeTensors st;
    uint8_t *b;
    /* header padded with trailing spaces (as writers align the data), metadata, an I32 */
    int rc = parse_ok(&st,
                      "{\"__metadata__\":{\"format\":\"pt\"},\"i\":{\"dtype\":\"I32\",\"shape\":[2],"
                      "\"data_offsets\":[0,8]}}     ",
                      8, &b);
    CHECK(rc == 0 && st.n == 1 && st.n_meta == 1, "trailing spaces in the header are accepted (%s)",
          rc ? err_get() : "ok");
    if (rc == 0) {
        CHECK(safetensors_f32(&st, &st.tensors[0]) == NULL && strstr(err_get(), "'i'") && strstr(err_get(), "I32"),
              "an I32 tensor is not given as floats: %s", err_get());
        safetensors_close(&st);
    }
    free(b);
    rc = parse_ok(&st, "{}", 0, &b);
    CHECK(rc == 0 && st.n == 0, "an empty header {} is a valid empty file");
    if (rc == 0) safetensors_close(&st);
    free(b);
    /* a header of odd length puts F32 data off 4-byte alignment: it must be copied, not cast */
    rc = parse_ok(&st, "{\"u\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}} ", 8, &b);
    if (rc == 0) {
        const float *d = safetensors_f32(&st, &st.tensors[0]);
        float want[2];
        memcpy(want, st.data, 8);
        CHECK(((uintptr_t)st.data & 3) != 0 && d && ((uintptr_t)d & 3) == 0 && memcmp(d, want, 8) == 0,
              "unaligned F32 data is copied to an aligned buffer");
        safetensors_close(&st);
    } else {
        CHECK(0, "unaligned header parses: %s", err_get());
    }
    free(b);
    /* holes between ranges, and zero-size tensors at a boundary, are fine */
    rc = parse_ok(&st,
                  "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[8,12]},"
                  "\"z\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,8]},"
                  "\"b\":{\"dtype\":\"BOOL\",\"shape\":[2,2],\"data_offsets\":[0,4]}}",
                  16, &b);
    CHECK(rc == 0 && st.n == 3, "holes and a zero-size tensor are accepted (%s)", rc ? err_get() : "ok");
    if (rc == 0) safetensors_close(&st);
    free(b);
}

/* Headers that must be refused: what the case is, the header, the data
 * bytes after it, and what the message must say. ONE is a file of one
 * tensor 't' with its three fields given as JSON text; Q quotes a string. */
typedef struct {
    const char *what, *header;
    size_t data;
    const char *want;
} BadHeader;

#define Q(s) "\"" s "\""
#define ONE(dtype, shape, offsets) "{\"t\":{\"dtype\":" dtype ",\"shape\":" shape ",\"data_offsets\":" offsets "}}"

static const BadHeader bad_headers[] = {
    {"bad JSON", "{\"a\":", 0, "not valid JSON"},
    {"trailing garbage", "{} x", 0, "not valid JSON"},
    {"duplicate tensor", "{\"a\":{},\"a\":{}}", 0, "duplicate"},
    {"not an object", "[1,2]", 0, "not a JSON object"},
    {"entry not an object", "{\"t\":5}", 0, "tensor 't': entry is not an object"},
    {"missing dtype", "{\"t\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "tensor 't': missing field 'dtype'"},
    {"missing shape", "{\"t\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, "missing field 'shape'"},
    {"missing offsets", "{\"t\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "missing field 'data_offsets'"},
    {"extra field", "{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", 4,
     "tensor 't': unexpected field 'x'"},
    {"dtype not a string", ONE("4", "[1]", "[0,4]"), 4, "dtype is not a string"},
    {"unknown dtype", ONE(Q("F8_E4M3"), "[1]", "[0,1]"), 4, "tensor 't': unknown dtype 'F8_E4M3'"},
    {"lower-case dtype", ONE(Q("f32"), "[1]", "[0,4]"), 4, "unknown dtype"},
    {"shape not an array", ONE(Q("F32"), "4", "[0,4]"), 4, "shape is not an array"},
    {"negative dim", ONE(Q("F32"), "[-1]", "[0,4]"), 4, "shape[0] is not a non-negative integer"},
    {"fractional dim", ONE(Q("F32"), "[1,1.5]", "[0,4]"), 4, "shape[1] is not a non-negative integer"},
    {"string dim", ONE(Q("F32"), "[\"1\"]", "[0,4]"), 4, "shape[0]"},
    {"9 dims", ONE(Q("F32"), "[1,1,1,1,1,1,1,1,1]", "[0,4]"), 4, "9 dimensions"},
    {"numel overflow", ONE(Q("U8"), "[4294967296,4294967296,4]", "[0,4]"), 4, "overflows"},
    {"bytes overflow", ONE(Q("F64"), "[2147483648,2147483648]", "[0,4]"), 4, "overflows"},
    {"offsets not an array", ONE(Q("F32"), "[1]", "0"), 4, "data_offsets is not an array"},
    {"three offsets", ONE(Q("F32"), "[1]", "[0,4,8]"), 8, "data_offsets is not an array"},
    {"negative offset", ONE(Q("F32"), "[1]", "[-4,0]"), 4, "not non-negative integers"},
    {"fractional offset", ONE(Q("F32"), "[1]", "[0,4.5]"), 8, "not non-negative integers"},
    {"offset beyond 2^53", ONE(Q("U8"), "[1]", "[0,1e300]"), 8, "not non-negative integers"},
    {"end before begin", ONE(Q("F32"), "[0]", "[8,4]"), 8, "tensor 't': data_offsets [8, 4] end before they begin"},
    {"size mismatch", ONE(Q("F32"), "[2]", "[0,4]"), 8,
     "tensor 't': data_offsets [0, 4] hold 4 bytes but shape [2] F32 needs 8"},
    {"past the data", ONE(Q("F32"), "[2]", "[4,12]"), 8,
     "tensor 't': data_offsets [4, 12] run past the end of the data section (8 bytes)"},
    {"overlap",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
     "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
     12, "tensor 'b': data_offsets [4, 12] overlap tensor 'a' [0, 8]"},
    {"same range twice",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
     "\"b\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
     4, "overlap"},
    {"metadata not an object", "{\"__metadata__\":[\"a\"]}", 0, "__metadata__ is not an object"},
    {"metadata value not a string", "{\"__metadata__\":{\"k\":1}}", 0, "__metadata__ 'k' is not a string"},
    {"NUL in a tensor name", "{\"a\\u0000b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "NUL"},
};

static void test_invalid(void) {
    /* the example from the issue, message checked word for word */
    {
        size_t len;
        uint8_t *b = craft("{\"h.0.attn.c_attn.weight\":{\"dtype\":\"F32\",\"shape\":[768,2304],"
                           "\"data_offsets\":[0,100]}}",
                           100, &len);
        SafeTensors st;
        int rc = safetensors_parse(&st, "model.safetensors", b, len);
        const char *want = "model.safetensors: tensor 'h.0.attn.c_attn.weight': data_offsets [0, 100] hold 100 "
                           "bytes but shape [768, 2304] F32 needs 7077888";
        CHECK(rc == -1 && strcmp(err_get(), want) == 0, "size mismatch message: %s", err_get());
        free(b);
    }
    size_t len;
    SafeTensors st;
    uint8_t short_file[5] = {1, 2, 3, 4, 5};
    CHECK(safetensors_parse(&st, "crafted.safetensors", short_file, 5) == -1 && strstr(err_get(), "too short"),
          "5-byte file: %s", err_get());
    uint8_t big[16] = {0, 0xe1, 0xf5, 0x05, 0, 0, 0, 0}; /* 100,000,000 + ... : over the limit */
    big[0] = 1;
    CHECK(safetensors_parse(&st, "crafted.safetensors", big, 16) == -1 && strstr(err_get(), "limit"),
          "header length over 100 MB: %s", err_get());
    uint8_t *b = craft("{}", 0, &len);
    b[0] = 50; /* claims 50 header bytes, file has 2 */
    CHECK(safetensors_parse(&st, "crafted.safetensors", b, len) == -1 && strstr(err_get(), "past the end of the file"),
          "header length past the end: %s", err_get());
    free(b);
    b = craft("{}", 0, &len);
    memset(b + 1, 0xff, 7); /* a 2^64-ish length must not wrap around */
    CHECK(safetensors_parse(&st, "crafted.safetensors", b, len) == -1, "huge header length: %s", err_get());
    free(b);

    b = craft("{}  ", 0, &len);
    b[10] = b[11] = 0; /* header "{}" + two NULs: padding must be spaces */
    CHECK(safetensors_parse(&st, "crafted.safetensors", b, len) == -1 && strstr(err_get(), "not valid JSON"),
          "NUL padding in the header is rejected: %s", err_get());
    free(b);
    for (size_t i = 0; i < sizeof bad_headers / sizeof *bad_headers; i++) {
        const BadHeader *e = &bad_headers[i];
        expect_fail(e->what, e->header, e->data, e->want);
    }
}

int main(void) {
    char dir[] = "/tmp/gpt2sae_test_st_XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "temporary folder %s", dir);
    test_roundtrip(dir);
    test_files(dir);
    test_valid();
    test_invalid();
    test_golden();
    rmdir(dir);
    return test_finish();
}
