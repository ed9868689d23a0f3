/*
 * tests/test_topk.c - the fast top-k (sae_topk_row, sae/topk.c) against its
 * reference (sae_topk_row_ref, a heap) and against the rule itself (the
 * first k of a stable descending sort, by qsort on (value desc, index asc)).
 *
 * Every case compares the returned count and all k indices in order, for
 * the vector filter (simd 1; the portable loop where the build has no
 * AVX-512) and for the portable loop (simd 0). Cases: random rows at the
 * field's shapes (n 24576 k 32, n 6144 k 1024) and at odd n (not a multiple
 * of 16, below the sampling size), k = 1, n-1, n, n+5; rows of a few repeated
 * values (ties), all-equal rows, -0 beside +0, negative rows, ±inf, masks
 * (half, a few, none, all), rows built so the sampled threshold is too high
 * (the sample holds the largest values) or too low (ties over the buffer),
 * the exact select over runs of ties, NaN (selectable, among the first k, or
 * masked out), and one BatchTopK-sized selection over 64 x 6144 values.
 */
#include "sae/topk.h"
#include "core/util.h"
#include "tests/test.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint32_t rnd(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

/* about N(0, 1): a sum of four uniforms, centred and scaled */
static float gauss(void) {
    float u = 0;
    for (int j = 0; j < 4; j++) u += (float)(rnd() & 0xFFFFFF) / 16777216.0f;
    return (u - 2.0f) * 1.7320508f;
}

/* the rule: the first k of the indices sorted by (value desc, index asc) */
static const float *sort_z;
static int cmp_rule(const void *a, const void *b) {
    int i = *(const int *)a, j = *(const int *)b;
    if (sort_z[i] > sort_z[j]) return -1;
    if (sort_z[i] < sort_z[j]) return 1;
    return (i > j) - (i < j);
}

static int rule_topk(const float *z, int n, int k, const unsigned char *mask, int *idx) {
    int *all = xmalloc((size_t)n * sizeof(int)), m = 0;
    for (int i = 0; i < n; i++)
        if (!mask || mask[i]) all[m++] = i;
    sort_z = z;
    qsort(all, (size_t)m, sizeof(int), cmp_rule);
    int c = m < k ? m : k;
    memcpy(idx, all, (size_t)c * sizeof(int));
    free(all);
    return c;
}

/* One row: 0 when the fast path (both filters) and, unless NaN is in play,
 * the sort agree with the reference, else prints the first difference. */
static int row_differs(const char *name, const float *z, int n, int k, const unsigned char *mask, int with_rule) {
    int *ref = xmalloc((size_t)(k + 1) * sizeof(int)), *got = xmalloc((size_t)(k + 1) * sizeof(int));
    int cr = sae_topk_row_ref(z, n, k, mask, ref), bad = 0;
    for (int v = 0; v < 4 && !bad; v++) {
        if (v == 3 && !with_rule) break;
        int cg = v == 0 ? sae_topk_row(z, n, k, mask, got)
               : v == 1 ? sae_topk_row_fast(z, n, k, mask, got, 1)
               : v == 2 ? sae_topk_row_fast(z, n, k, mask, got, 0)
                        : rule_topk(z, n, k, mask, got);
        static const char *what[4] = {"sae_topk_row", "fast simd", "fast portable", "stable sort"};
        if (cg != cr) {
            printf("    %s n %d k %d: %s found %d, reference %d\n", name, n, k, what[v], cg, cr);
            bad = 1;
        }
        for (int e = 0; e < cr && !bad; e++)
            if (got[e] != ref[e]) {
                printf("    %s n %d k %d: %s idx[%d] = %d (%g), reference %d (%g)\n", name, n, k, what[v], e, got[e],
                       z[got[e]], ref[e], z[ref[e]]);
                bad = 1;
            }
    }
    free(ref);
    free(got);
    return bad;
}

typedef enum { FILL_GAUSS, FILL_TIES, FILL_EQUAL, FILL_ZEROS, FILL_NEG, FILL_INF } Fill;

static void fill(float *z, int n, Fill f) {
    for (int i = 0; i < n; i++) {
        float g = gauss();
        switch (f) {
        case FILL_GAUSS: z[i] = g; break;
        case FILL_TIES: z[i] = (float)(int)(g * 2.0f) * 0.5f; break;   /* about 13 distinct values */
        case FILL_EQUAL: z[i] = 0.75f; break;
        case FILL_ZEROS: z[i] = (rnd() & 1) ? -0.0f : 0.0f; break;      /* -0 == +0: a tie */
        case FILL_NEG: z[i] = -1.0f - fabsf(g); break;
        case FILL_INF: z[i] = (rnd() % 8 == 0) ? ((rnd() & 1) ? INFINITY : -INFINITY) : g; break;
        }
    }
}

/* rows rows of fill f at (n, k), with a mask of density dens/8 (-1: no mask) */
static void check_rows(const char *name, Fill f, int n, int k, int rows, int dens) {
    float *z = xmalloc((size_t)n * sizeof(float));
    unsigned char *mask = xmalloc((size_t)n);
    int bad = 0;
    for (int r = 0; r < rows; r++) {
        fill(z, n, f);
        for (int i = 0; i < n; i++) mask[i] = (unsigned char)((int)(rnd() % 8) < dens);
        bad += row_differs(name, z, n, k, dens >= 0 ? mask : NULL, 1);
    }
    CHECK(bad == 0, "%-22s n %6d k %5d%s: %d of %d rows the same as the reference and the stable sort", name, n, k,
          dens >= 0 ? " masked" : "", rows - bad, rows);
    free(z);
    free(mask);
}

/* The row cases: name, fill, n, k, rows, mask density in eighths (-1: no mask) */
typedef struct { const char *name; Fill f; int n, k, rows, dens; } Case;
static const Case CASES[] = {
    /* the field's shapes and odd sizes (sampled from n 4096 up, below: every value a candidate) */
    {"random", FILL_GAUSS, 24576, 32, 20, -1},
    {"random", FILL_GAUSS, 6144, 1024, 20, -1},
    {"random", FILL_GAUSS, 6150, 100, 20, -1},
    {"random", FILL_GAUSS, 4099, 7, 20, -1},
    {"random", FILL_GAUSS, 1000, 17, 20, -1},
    {"random", FILL_GAUSS, 37, 5, 50, -1},
    /* k at its edges */
    {"k = 1", FILL_GAUSS, 24576, 1, 10, -1},
    {"k = 1", FILL_GAUSS, 13, 1, 50, -1},
    {"k = n-1", FILL_GAUSS, 5003, 5002, 5, -1},
    {"k = n", FILL_GAUSS, 5003, 5003, 5, -1},
    {"k = n+5", FILL_GAUSS, 301, 306, 5, -1},
    {"k = n-1", FILL_TIES, 77, 76, 20, -1},
    /* ties */
    {"ties", FILL_TIES, 24576, 32, 10, -1},
    {"ties", FILL_TIES, 6144, 1024, 10, -1},
    {"ties", FILL_TIES, 999, 50, 20, -1},
    {"all equal", FILL_EQUAL, 24576, 32, 3, -1},
    {"all equal", FILL_EQUAL, 24576, 37, 3, -1},
    {"all equal", FILL_EQUAL, 6144, 1000, 3, -1},
    {"all equal", FILL_EQUAL, 6144, 1024, 3, 6},
    {"all equal", FILL_EQUAL, 45, 9, 3, -1},
    {"-0 and +0", FILL_ZEROS, 8191, 64, 5, -1},
    {"negative", FILL_NEG, 24576, 32, 10, -1},
    {"negative", FILL_NEG, 6144, 1024, 10, -1},
    {"+-inf", FILL_INF, 24576, 32, 10, -1},
    {"+-inf", FILL_INF, 6144, 1024, 10, -1},
    /* masks: half, a few (fewer selectable than k), none, all */
    {"mask half", FILL_GAUSS, 24576, 32, 10, 4},
    {"mask half", FILL_TIES, 6144, 1024, 10, 4},
    {"mask half", FILL_GAUSS, 333, 20, 20, 4},
    {"mask few", FILL_GAUSS, 24576, 4000, 5, 1},
    {"mask none", FILL_GAUSS, 24576, 32, 3, 0},
    {"mask all", FILL_GAUSS, 6144, 1024, 3, 8},
};

int main(void) {
    printf("test_topk: the fast top-k against the heap reference and the stable sort\n");
    for (size_t c = 0; c < sizeof CASES / sizeof *CASES; c++)
        check_rows(CASES[c].name, CASES[c].f, CASES[c].n, CASES[c].k, CASES[c].rows, CASES[c].dens);

    /* the sampled threshold too high: the sampled blocks (16 values at j (n/nb),
     * nb = max(16, n/1024)) hold the largest values, so fewer than k pass */
    {
        const int n = 24576, k = 32, nb = n / 1024;
        float *z = xmalloc((size_t)n * sizeof(float));
        fill(z, n, FILL_GAUSS);
        for (int j = 0; j < nb; j++)
            for (int u = 0; u < 16; u++) z[j * (n / nb) + u] = 100.0f + gauss();
        int bad = row_differs("sample high", z, n, k, NULL, 1);
        CHECK(!bad, "sampled threshold above the k-th value twice (n %d k %d): the same as the reference", n, k);
        /* only 10 sampled values large: the first threshold too high, the second (rank r2 = 2 r1 + 8) not */
        fill(z, n, FILL_GAUSS);
        for (int j = 0; j < 10; j++) z[j * (n / nb) + 3] = 100.0f + gauss();
        bad = row_differs("sample high once", z, n, k, NULL, 1);
        CHECK(!bad, "sampled threshold above the k-th value once (n %d k %d): the same as the reference", n, k);
        /* too low: every sampled value is the k-th value's tie, with thousands of ties */
        for (int i = 0; i < n; i++) z[i] = i % 3 ? 2.5f : gauss();
        for (int i = 0; i < 10; i++) z[(i * 977) % n] = 9.0f;
        bad = row_differs("sample low", z, n, k, NULL, 1);
        CHECK(!bad, "sampled threshold far below, 16384 ties at the k-th value (n %d k %d): the same", n, k);
        /* the exact select on runs of ties: the sampled blocks hold runs of 5 of
         * 7 large values, so the k-th value has ties on both sides of it */
        fill(z, n, FILL_GAUSS);
        for (int j = 0; j < nb; j++)
            for (int u = 0; u < 16; u++) z[j * (n / nb) + u] = 1000.0f + (float)((j * 16 + u) / 5 % 7);
        bad = row_differs("exact runs", z, n, 100, NULL, 1) + row_differs("exact runs", z, n, 37, NULL, 1) +
              row_differs("exact runs", z, n, 301, NULL, 1);
        CHECK(!bad, "exact select over runs of ties (n %d k 100, 37, 301): the same as the reference", n);
        free(z);
    }

    /* NaN: selectable (the reference's result, whatever it is) or masked out */
    {
        const int n = 6144, k = 64;
        float *z = xmalloc((size_t)n * sizeof(float));
        unsigned char *mask = xmalloc((size_t)n);
        int bad = 0;
        for (int r = 0; r < 10; r++) {
            fill(z, n, FILL_GAUSS);
            for (int j = 0; j < 1 + r; j++) z[rnd() % n] = (j & 1) ? -NAN : NAN;
            bad += row_differs("nan", z, n, k, NULL, 0);
        }
        CHECK(bad == 0, "NaN among the values (n %d k %d): 10 rows the same as the reference", n, k);
        bad = 0;
        for (int r = 0; r < 10; r++) { /* NaN among the first k: inside the reference's heap */
            fill(z, n, FILL_GAUSS);
            z[rnd() % k] = NAN, z[k + rnd() % (n - k)] = NAN;
            bad += row_differs("nan early", z, n, k, NULL, 0);
        }
        CHECK(bad == 0, "NaN among the first k values (n %d k %d): 10 rows the same as the reference", n, k);
        bad = 0;
        for (int r = 0; r < 10; r++) {
            fill(z, n, FILL_GAUSS);
            for (int i = 0; i < n; i++) mask[i] = 1;
            for (int j = 0; j < 5; j++) {
                int i = (int)(rnd() % n);
                z[i] = NAN, mask[i] = 0;
            }
            bad += row_differs("nan masked", z, n, k, mask, 1);
        }
        CHECK(bad == 0, "NaN only where masked out (n %d k %d): 10 rows the same as the reference and the sort", n, k);
        free(z);
        free(mask);
    }

    /* BatchTopK: one selection of k B over B n values */
    check_rows("batchtopk 64x6144", FILL_GAUSS, 64 * 6144, 32 * 64, 2, -1);
    return test_finish();
}
