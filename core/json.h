/*
 * core/json.h - a small, strict JSON reader (RFC 8259) and a string writer.
 *
 *   JSON root;
 *   if (json_parse(&root, text, len) != 0) return err_prefix("%s", path);
 *   const JSON *n = json_get(&root, "n_head");
 *   long n_head;
 *   if (!n || json_as_int(n, &n_head) != 0) ...
 *   json_free(&root);
 *
 * The parser builds a tree. It rejects anything that is not JSON: trailing
 * commas, comments, bad escapes, unpaired surrogates, control characters in
 * strings, leading zeros, trailing garbage, nesting deeper than 64. Duplicate
 * object keys are rejected too (safetensors and vocab files never need them,
 * and a duplicate is a sign of a forged or corrupted file).
 * Errors go through err_set() and give the byte offset.
 */
#ifndef CORE_JSON_H
#define CORE_JSON_H

#include <stddef.h>
#include <stdio.h>

typedef enum { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT } JSONType;

typedef struct JSON JSON;
struct JSON {
    JSONType type;
    int boolean;        /* JSON_BOOL */
    double number;      /* JSON_NUMBER */
    char *str;          /* JSON_STRING: decoded UTF-8, NUL-terminated (may hold NULs) */
    size_t str_len;     /*   its length in bytes */
    size_t n;           /* JSON_ARRAY / JSON_OBJECT: number of elements */
    JSON *items;        /*   (n) elements, or the values of an object */
    char **keys;        /*   (n) JSON_OBJECT keys, decoded, NUL-terminated */
    size_t *key_lens;   /*   (n) their lengths */
};

/* Parse text[0..len) into *out. Returns 0, or -1 with err_set("... at byte N").
 * On success the caller owns the tree: release it with json_free(). */
int json_parse(JSON *out, const char *text, size_t len);
/* Read the file at path and parse it; errors name the file ("PATH: ..."). */
int json_parse_file(JSON *out, const char *path);
/* Free a tree from json_parse. json_free on a zeroed JSON is a no-op. */
void json_free(JSON *j);
/* The value for key in an object, or NULL (also NULL if obj is not an object).
 * Borrowed: valid while the tree lives. Linear search. */
const JSON *json_get(const JSON *obj, const char *key);
/* The number as an exact integer. Returns 0, or -1 if j is not a number or
 * not an integer representable exactly (|v| <= 2^53). No err_set. */
int json_as_int(const JSON *j, long long *out);

/* Write s[0..len) as a JSON string literal (with quotes and escapes). */
void json_write_string(FILE *f, const char *s, size_t len);

#endif
