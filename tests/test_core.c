/* tests/test_core.c - core/util.c and core/pool.c: errors, files, paths, RNG, the thread pool. */
#include "core/pool.h"
#include "core/util.h"
#include "tests/test.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void mark(void *ctx, int i0, int i1) {
    int *hits = ctx;
    for (int i = i0; i < i1; i++) __atomic_fetch_add(&hits[i], 1, __ATOMIC_RELAXED);
}

static void nested(void *ctx, int i0, int i1) {
    /* a pool_for inside a pool_for must run serially, not deadlock */
    int *hits = ctx;
    for (int i = i0; i < i1; i++) pool_for(4, 1, mark, hits + 1000 + 4 * i);
}

int main(void) {
    char dir[] = "/tmp/gpt2sae_test_core_XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "temporary folder %s", dir);

    /* errors */
    CHECK(err_set("%s: bad %d", "f.txt", 3) == -1, "err_set returns -1");
    CHECK(strcmp(err_get(), "f.txt: bad 3") == 0, "err_get: '%s'", err_get());
    err_prefix("loading %s", "model");
    CHECK(strcmp(err_get(), "loading model: f.txt: bad 3") == 0, "err_prefix: '%s'", err_get());
    err_set("in %s: %s (more)", "dir", err_get());   /* the old message as an argument */
    CHECK(strcmp(err_get(), "in dir: loading model: f.txt: bad 3 (more)") == 0, "err_set with err_get() as an argument: '%s'",
          err_get());

    /* atomic writes: a good file, then a failed write leaves it alone */
    char *p = path_join(dir, "a.txt");
    CHECK(file_write_atomic(p, "hello", 5) == 0, "file_write_atomic writes %s", p);
    char *buf;
    size_t n;
    CHECK(file_read_all(p, &buf, &n) == 0 && n == 5 && memcmp(buf, "hello", 5) == 0 && buf[5] == 0,
          "file_read_all reads it back (%zu bytes)", n);
    free(buf);
    char *bad = path_join(dir, "no/such/dir/x.txt");
    CHECK(file_write_atomic(bad, "x", 1) == -1 && strstr(err_get(), "no/such/dir/x.txt"),
          "write into a missing folder fails naming the file: %s", err_get());
    CHECK(file_read_all(bad, &buf, &n) == -1 && strstr(err_get(), "x.txt"), "read of a missing file: %s", err_get());
    char tmp[4096];
    FILE *f = file_begin(p, tmp, sizeof tmp);
    fputs("partial", f);
    file_abort(f, tmp);
    CHECK(file_read_all(p, &buf, &n) == 0 && n == 5, "an aborted write leaves the old file (%zu bytes)", n);
    CHECK(access(tmp, F_OK) != 0, "and removes its temporary file");
    free(buf);

    /* paths */
    char *deep = path_join(dir, "x/y/z");
    CHECK(path_mkdirs(deep) == 0 && path_is_dir(deep), "path_mkdirs %s", deep);
    CHECK(path_mkdirs(p) == -1, "path_mkdirs on a file fails: %s", err_get());
    CHECK(path_is_file(p) && !path_is_file(deep) && !path_is_dir(p), "path_is_file / path_is_dir");
    char *j = path_join("a/", "b");
    CHECK(strcmp(j, "a/b") == 0, "path_join('a/', 'b') = '%s'", j);
    char *s = path_stem("dir/sub/palinka.txt");
    CHECK(strcmp(s, "palinka") == 0, "path_stem = '%s'", s);
    free(j);
    free(s);
    s = path_stem("texts/corpus.d//");
    CHECK(strcmp(s, "corpus") == 0, "path_stem ignores trailing slashes: '%s'", s);
    free(s);
    s = path_stem("/");
    CHECK(strcmp(s, "") == 0, "path_stem of / is empty: '%s'", s);
    free(s);
    s = path_stem(".hidden");
    CHECK(strcmp(s, ".hidden") == 0, "path_stem keeps a leading dot: '%s'", s);
    free(s);

    /* numbers */
    long v;
    double d;
    CHECK(parse_int("42", &v) == 0 && v == 42, "parse_int 42");
    CHECK(parse_int("4x", &v) == -1 && parse_int("", &v) == -1 && parse_int("99999999999999999999", &v) == -1,
          "parse_int rejects '4x', '', overflow");
    CHECK(parse_float("1e-4", &d) == 0 && d == 1e-4, "parse_float 1e-4");
    CHECK(parse_float("nan", &d) == -1 && parse_float("inf", &d) == -1 && parse_float("1.5.", &d) == -1,
          "parse_float rejects nan, inf, '1.5.'");

    /* RNG: deterministic, in range, roughly uniform and normal */
    Rng a, b;
    rng_seed(&a, 7);
    rng_seed(&b, 7);
    int same = 1;
    double sum = 0, sum2 = 0, nsum = 0, nsum2 = 0;
    int inrange = 1;
    for (int i = 0; i < 1000; i++)
        if (rng_u64(&a) != rng_u64(&b)) same = 0;
    rng_seed(&b, 8);
    if (rng_u64(&a) == rng_u64(&b)) same = 0;
    for (int i = 0; i < 100000; i++) {
        float u = rng_uniform(&a);
        if (u < 0 || u >= 1) inrange = 0;
        sum += u;
        sum2 += u * u;
        float g = rng_normal(&a);
        nsum += g;
        nsum2 += g * g;
    }
    CHECK(same, "the same seed gives the same stream, another seed another");
    CHECK(inrange && fabs(sum / 1e5 - 0.5) < 0.01 && fabs(sum2 / 1e5 - 1.0 / 3) < 0.01,
          "rng_uniform in [0,1), mean %.4f", sum / 1e5);
    CHECK(fabs(nsum / 1e5) < 0.02 && fabs(nsum2 / 1e5 - 1) < 0.02, "rng_normal mean %.4f var %.4f", nsum / 1e5,
          nsum2 / 1e5);

    /* thread pool: every index exactly once, for several sizes and grains */
    int ok = 1;
    int *hits = xcalloc(2000, sizeof *hits);
    int sizes[] = {1, 2, 3, 7, 64, 1000, 1001};
    for (int si = 0; si < 7; si++)
        for (int grain = 1; grain <= 16; grain *= 4) {
            memset(hits, 0, 2000 * sizeof *hits);
            pool_for(sizes[si], grain, mark, hits);
            for (int i = 0; i < 2000; i++)
                if (hits[i] != (i < sizes[si])) ok = 0;
        }
    CHECK(ok, "pool_for covers [0,n) exactly once (%d threads)", pool_threads());
    memset(hits, 0, 2000 * sizeof *hits);
    pool_for(100, 1, nested, hits);
    ok = 1;
    for (int i = 1000; i < 1400; i++)
        if (hits[i] != 1) ok = 0;
    CHECK(ok, "nested pool_for runs serially and completes");
    free(hits);

    CHECK(strlen(cpu_simd_level()) > 0, "cpu_simd_level: %s", cpu_simd_level());

    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) printf("  (could not remove %s)\n", dir);
    free(p);
    free(bad);
    free(deep);
    return test_finish();
}
