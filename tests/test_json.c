/*
 * tests/test_json.c - core/json.c: what RFC 8259 accepts and what it does
 * not (surrogates, escapes, numbers, UTF-8, duplicates, depth, trailing
 * garbage), the decoded values, json_get / json_as_int, and that
 * json_write_string's output parses back to the same bytes.
 */
#include "core/json.h"
#include "core/util.h"
#include "tests/test.h"

#include <stdlib.h>
#include <string.h>

static int parses(const char *text, size_t len) {
    JSON j;
    int rc = json_parse(&j, text, len);
    if (rc == 0) json_free(&j);
    return rc == 0;
}

/* Parse a one-string document and compare the decoded bytes. */
static void check_string(const char *doc, const char *want, size_t want_len) {
    JSON j;
    int rc = json_parse(&j, doc, strlen(doc));
    CHECK(rc == 0 && j.type == JSON_STRING && j.str_len == want_len && memcmp(j.str, want, want_len) == 0 &&
              j.str[want_len] == 0,
          "%s decodes to %zu bytes%s", doc, want_len, rc ? err_get() : "");
    if (rc == 0) json_free(&j);
}

/* s with bytes outside printable ASCII as \xNN, for readable test lines (static buffer). */
static const char *shown(const char *s) {
    static char buf[512];
    size_t o = 0;
    for (; *s && o + 5 < sizeof buf; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c < 0x7f) buf[o++] = (char)c;
        else o += (size_t)snprintf(buf + o, sizeof buf - o, "\\x%02x", c);
    }
    buf[o] = 0;
    return buf;
}

static char *repeat(const char *a, int n, const char *mid, const char *b) {
    size_t la = strlen(a), lm = strlen(mid), lb = strlen(b);
    char *s = xmalloc((la + lb) * (size_t)n + lm + 1), *o = s;
    for (int i = 0; i < n; i++) memcpy(o, a, la), o += la;
    memcpy(o, mid, lm), o += lm;
    for (int i = 0; i < n; i++) memcpy(o, b, lb), o += lb;
    *o = 0;
    return s;
}

int main(void) {
    static const char *valid[] = {
        "null", "true", "false", "0", "-0", "1.5e10", "-1E-3", "1e+2", "0.25", "\"a\"", "[]", "{}", " [1, 2 ,3] ",
        "\t{\"a\":{\"b\":[null,true,false,\"x\",-1.0]}}\r\n", "[[],[[]],{}]", "{\"\":0}", "1e-400",
        "123456789012345678901234567890", "\"\\u0000\"", "\"caf\xc3\xa9 \xf0\x9f\x98\x80\"", "\"\x7f\"",
    };
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++)
        CHECK(parses(valid[i], strlen(valid[i])), "valid: %s", shown(valid[i]));

    static const char *invalid[] = {
        "", " ", "[1,]", "{\"a\":1,}", "[1 2]", "{\"a\" 1}", "{1:2}", "{\"a\"}", "01", "-01", "-", "1.", ".5", "1e",
        "1e+", "+1", "NaN", "Infinity", "-Infinity", "0x10", "1e400", "-1e400", "\"abc", "\"\\x\"", "\"\\u12\"",
        "\"\\u12G4\"", "\"\\ud800\"", "\"\\ud800x\"", "\"\\ud800\\n\"", "\"\\udc00\"", "\"\\ud800\\u0041\"",
        "\"\\ud800\\ud800\"", "\"\x01\"", "\"\t\"", "\"\n\"", "\"\xff\"", "\"\xc0\x80\"", "\"\xc3\"", "\"\xed\xa0\x80\"",
        "\"\xe2\x82\"", "\"\xf4\x90\x80\x80\"", "\"\xf8\x88\x80\x80\x80\"", "\"\x80\"", "tru", "nul", "falsey", "[1] x",
        "{} {}", "/* c */ 1", "// c\n1", "{\"a\":1,\"a\":2}", "'a'", "[1,,2]", "[,1]", "{,}", "[", "]", "{", "}",
        "\"\\", "\"\\u", "[\"a\":1]", "{\"a\":1 \"b\":2}", "True", "\xef\xbb\xbf{}", "\"\\'\"", "\"\\U0041\"",
    };
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
        JSON j;
        err_clear();
        int rc = json_parse(&j, invalid[i], strlen(invalid[i]));
        CHECK(rc == -1 && strstr(err_get(), "at byte"), "invalid: %s -> %s", shown(invalid[i]), err_get());
        if (rc == 0) json_free(&j);
    }
    /* a NUL byte inside the text (len counts it) is not whitespace */
    CHECK(!parses("[1]\0", 4), "NUL after the value is trailing garbage");
    CHECK(!parses("[1,\0 2]", 7), "NUL inside an array");
    CHECK(!parses("\"a\0b\"", 5), "raw NUL inside a string");
    CHECK(parses("[1] garbage", 3), "len bounds the text: only the first 3 bytes are parsed");

    /* the error says where */
    JSON j;
    json_parse(&j, "[1,]", 4);
    CHECK(strstr(err_get(), "at byte 3") != NULL, "error offset: %s", err_get());
    json_parse(&j, "{\"a\":1,\"a\":2}", 13);
    CHECK(strstr(err_get(), "duplicate") != NULL, "duplicate key named: %s", err_get());

    /* decoded strings */
    check_string("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\/\b\f\n\r\t", 8);
    check_string("\"\\u00e9\"", "\xc3\xa9", 2);
    check_string("\"\\u20AC\"", "\xe2\x82\xac", 3);
    check_string("\"\\ud83d\\ude00\"", "\xf0\x9f\x98\x80", 4);
    check_string("\"\\uDBFF\\uDFFF\"", "\xf4\x8f\xbf\xbf", 4);
    check_string("\"a\\u0000b\"", "a\0b", 3);
    check_string("\"\xf0\x9f\x98\x80\"", "\xf0\x9f\x98\x80", 4);
    check_string("\"\"", "", 0);

    /* numbers and objects */
    const char *doc = "{\"n\": 3, \"f\": 3.5, \"big\": 9007199254740992, \"bigger\": 9007199254740994, "
                      "\"neg\": -5, \"s\": \"x\", \"arr\": [1, {\"k\": null}], \"e\": 1.5e3}";
    int rc = json_parse(&j, doc, strlen(doc));
    CHECK(rc == 0 && j.type == JSON_OBJECT && j.n == 8, "object with 8 keys");
    if (rc == 0) {
        long long v = 0;
        CHECK(json_as_int(json_get(&j, "n"), &v) == 0 && v == 3, "json_as_int 3");
        CHECK(json_as_int(json_get(&j, "f"), &v) == -1, "json_as_int rejects 3.5");
        CHECK(json_as_int(json_get(&j, "big"), &v) == 0 && v == 9007199254740992LL, "2^53 is exact");
        CHECK(json_as_int(json_get(&j, "bigger"), &v) == -1, "2^53 + 2 is refused (not exact in a double)");
        CHECK(json_as_int(json_get(&j, "neg"), &v) == 0 && v == -5, "json_as_int -5");
        CHECK(json_as_int(json_get(&j, "e"), &v) == 0 && v == 1500, "1.5e3 is the integer 1500");
        CHECK(json_as_int(json_get(&j, "s"), &v) == -1 && json_as_int(NULL, &v) == -1, "a string or NULL is not an int");
        const JSON *arr = json_get(&j, "arr");
        CHECK(arr && arr->type == JSON_ARRAY && arr->n == 2 && arr->items[1].type == JSON_OBJECT &&
                  json_get(&arr->items[1], "k") && json_get(&arr->items[1], "k")->type == JSON_NULL,
              "nested array and object");
        CHECK(json_get(&j, "missing") == NULL && json_get(arr, "k") == NULL, "json_get: missing key, non-object");
        json_free(&j);
        json_free(&j); /* zeroed: no-op */
    }
    rc = json_parse(&j, "-0.0", 4);
    CHECK(rc == 0 && j.number == 0 && signbit(j.number), "-0.0 keeps its sign");

    /* depth: 64 nested containers are fine, 65 are not, whatever is innermost */
    char *s;
    s = repeat("[", 64, "", "]");
    CHECK(parses(s, strlen(s)), "64 nested empty arrays");
    free(s);
    s = repeat("[", 64, "1", "]");
    CHECK(parses(s, strlen(s)), "64 nested arrays around a number");
    free(s);
    s = repeat("[", 65, "", "]");
    CHECK(!parses(s, strlen(s)) && strstr(err_get(), "deep"), "65 nested empty arrays: %s", err_get());
    free(s);
    s = repeat("{\"a\":", 65, "1", "}");
    CHECK(!parses(s, strlen(s)), "65 nested objects: %s", err_get());
    free(s);
    s = repeat("[", 200000, "", "");
    CHECK(!parses(s, strlen(s)), "200,000 open brackets: refused, no stack overflow");
    free(s);

    /* many keys: duplicates found anywhere (hash set), none falsely */
    size_t cap = 400000;
    char *big = xmalloc(cap);
    size_t o = 0;
    o += (size_t)snprintf(big + o, cap - o, "{");
    for (int i = 0; i < 20000; i++) o += (size_t)snprintf(big + o, cap - o, "%s\"k%d\":%d", i ? "," : "", i, i);
    size_t end_unique = o;
    o += (size_t)snprintf(big + o, cap - o, "}");
    rc = json_parse(&j, big, o);
    CHECK(rc == 0 && j.n == 20000, "20,000 distinct keys");
    if (rc == 0) json_free(&j);
    o = end_unique;
    o += (size_t)snprintf(big + o, cap - o, ",\"k12345\":0}");
    CHECK(!parses(big, o) && strstr(err_get(), "duplicate"), "a duplicate of key 12345 at the end");
    free(big);

    /* json_write_string: every byte 1..255 that is valid UTF-8, written and parsed back */
    char in[300];
    size_t n = 0;
    for (int c = 1; c < 128; c++) in[n++] = (char)c;
    memcpy(in + n, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9);
    n += 9;
    in[n++] = 0; /* an embedded NUL too */
    in[n++] = 'z';
    char *out = NULL;
    size_t out_len = 0;
    FILE *f = open_memstream(&out, &out_len);
    json_write_string(f, in, n);
    fclose(f);
    rc = json_parse(&j, out, out_len);
    CHECK(rc == 0 && j.type == JSON_STRING && j.str_len == n && memcmp(j.str, in, n) == 0,
          "json_write_string round trip (%zu bytes, written as %zu)", n, out_len);
    if (rc == 0) json_free(&j);
    CHECK(strstr(out, "\\u0001") && strstr(out, "\\n") && strstr(out, "\\\"") && strstr(out, "\\\\"),
          "control characters, quote and backslash escaped");
    free(out);
    return test_finish();
}
