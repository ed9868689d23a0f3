/*
 * tests/fuzz/fuzz_json.c - libFuzzer target: core/json.c's parser on arbitrary
 * bytes. It must return 0 or -1 and never crash, leak or read out of bounds;
 * what it accepts must survive json_write_string/json_get/json_as_int.
 *
 *   make fuzzers && build-fuzz/fuzz_json -max_total_time=60 tests/fuzz/corpus/json
 */
#include "core/json.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

static void walk(const JSON *j, FILE *sink) {
    long long v;
    switch (j->type) {
    case JSON_NUMBER: (void)json_as_int(j, &v); break;
    case JSON_STRING: json_write_string(sink, j->str, j->str_len); break;
    case JSON_ARRAY:
    case JSON_OBJECT:
        for (size_t k = 0; k < j->n; k++) {
            if (j->type == JSON_OBJECT) {
                json_write_string(sink, j->keys[k], j->key_lens[k]);
                if (json_get(j, j->keys[k]) == NULL && strlen(j->keys[k]) == j->key_lens[k]) __builtin_trap();
            }
            walk(&j->items[k], sink);
        }
        break;
    default: break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    JSON j;
    if (json_parse(&j, (const char *)data, size) == 0) {
        FILE *sink = fopen("/dev/null", "w");
        if (sink) {
            walk(&j, sink);
            fclose(sink);
        }
        json_free(&j);
    }
    return 0;
}
