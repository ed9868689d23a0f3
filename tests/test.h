/*
 * tests/test.h - the tiny test harness every test binary uses.
 *
 *   int main(void) {
 *       CHECK(bpe_count(&b) == 50257, "vocab has %d entries", bpe_count(&b));
 *       check_close("logits", ours, torch, n, 1e-5f, 1e-4f);
 *       if (!have_gpu) SKIP("cuda forward: no GPU");
 *       return test_finish();
 *   }
 *
 * Every check prints one line (ok / FAIL / skip). test_finish() prints the
 * closing line "N passed, N failed, N skipped" and returns the exit status:
 * non-zero if any check failed. A skip is never a pass.
 */
#ifndef TESTS_TEST_H
#define TESTS_TEST_H

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static int test_passed, test_failed, test_skipped;

#define CHECK(cond, ...)                                                        \
    do {                                                                        \
        if (cond) {                                                             \
            test_passed++;                                                      \
            printf("  ok    ");                                                 \
        } else {                                                                \
            test_failed++;                                                      \
            printf("  FAIL  %s:%d: ", __FILE__, __LINE__);                      \
        }                                                                       \
        printf(__VA_ARGS__);                                                    \
        printf("\n");                                                           \
        fflush(stdout);                                                         \
    } while (0)

#define SKIP(...)                                                               \
    do {                                                                        \
        test_skipped++;                                                         \
        printf("  skip  ");                                                     \
        printf(__VA_ARGS__);                                                    \
        printf("\n");                                                           \
        fflush(stdout);                                                         \
    } while (0)

/* Compare n floats: every |a-b| <= atol + rtol*|b| (b is the reference).
 * NaN anywhere fails. Prints the worst element. Returns 1 if all close. */
static inline int check_close(const char *name, const float *a, const float *b, long n,
                              float atol, float rtol) {
    long worst = -1, bad = 0;
    double worst_excess = -INFINITY;
    for (long i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        double tol = atol + rtol * fabs((double)b[i]);
        double excess = (isnan(a[i]) || isnan(b[i])) ? INFINITY : d - tol;
        if (excess > 0) bad++;
        if (excess > worst_excess) { worst_excess = excess; worst = i; }
    }
    int ok = bad == 0 && n > 0;
    if (worst >= 0)
        CHECK(ok, "%s: %ld values, %ld outside atol %.1e rtol %.1e; worst [%ld] %.8g vs %.8g",
              name, n, bad, atol, rtol, worst, a[worst], b[worst]);
    else
        CHECK(ok, "%s: no values to compare", name);
    return ok;
}

/* The issues' bound against PyTorch: max |a - b| <= 1e-4 * max |b| over the
 * tensor (b is PyTorch's). NaN fails. */
static inline void check_bound(const char *name, const float *a, const float *b, long n) {
    double maxd = 0, maxb = 0;
    long worst = 0;
    for (long i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= maxd)) maxd = d, worst = i; /* NaN counts as the worst */
        if (fabs(b[i]) > maxb) maxb = fabs(b[i]);
    }
    CHECK(maxd <= 1e-4 * maxb && n > 0, "%s: max|ours-torch| %.3g <= 1e-4 * max|torch| %.3g (worst [%ld] %.7g vs %.7g)",
          name, maxd, 1e-4 * maxb, worst, n ? a[worst] : 0, n ? b[worst] : 0);
}

/* How many entries of folder dir have needle in their name (e.g. the
 * temporaries a writer left behind); 0 when dir cannot be opened. */
static inline int test_count_named(const char *dir, const char *needle) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) n += strstr(e->d_name, needle) != NULL;
    closedir(d);
    return n;
}

static inline int test_finish(void) {
    printf("%d passed, %d failed, %d skipped\n", test_passed, test_failed, test_skipped);
    return test_failed ? 1 : 0;
}

#endif
