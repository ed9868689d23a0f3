/*
 * tests/test_sae_golden.h - shared by the SAE tests: the deterministic inputs
 * that tests/gen_sae_golden.py also builds (same bits), and a reader for its
 * golden files ("name count" line, then count numbers on one line).
 *
 *   Golden g; golden_load(&g, "tests/golden/sae_small.txt");
 *   const double *losses = golden_get(&g, "losses", 300);
 *   sae_test_inputs(T, d, L, seed, X, W);
 */
#ifndef TESTS_TEST_SAE_GOLDEN_H
#define TESTS_TEST_SAE_GOLDEN_H

#include "core/util.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* splitmix64's i-th output (i from 1) from state seed; as splitmix64() in the script */
static inline uint64_t sae_test_mix(uint64_t seed, uint64_t i) {
    uint64_t z = seed + i * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
/* exact multiple of 2^-24 in [0, 1): uniform(seed, n)[i] in the script */
static inline double sae_test_uniform(uint64_t seed, uint64_t i) {
    return (double)(sae_test_mix(seed, i + 1) >> 40) / 16777216.0;
}

/* X (T, d) and W (L, d) exactly as make_inputs() in tests/gen_sae_golden.py */
static inline void sae_test_inputs(int T, int d, int L, uint64_t seed, float *X, float *W) {
    const uint64_t Td = (uint64_t)T * d;
    for (int t = 0; t < T; t++) {
        double f1 = sae_test_uniform(seed + 2, (uint64_t)t) * 4.0 - 2.0;
        double f2 = sae_test_uniform(seed + 2, (uint64_t)T + t) * 2.0 - 1.0;
        for (int j = 0; j < d; j++) {
            uint64_t i = (uint64_t)t * d + j;
            double u0 = sae_test_uniform(seed, i), u1 = sae_test_uniform(seed, Td + i);
            double u2 = sae_test_uniform(seed, 2 * Td + i), u3 = sae_test_uniform(seed, 3 * Td + i);
            double noise = ((u0 + u1) + (u2 + u3)) - 2.0;
            double mu = sae_test_uniform(seed + 1, (uint64_t)j) * 0.8 - 0.9;
            double sc = sae_test_uniform(seed + 1, (uint64_t)d + j) * 1.5 + 0.5;
            double g1 = sae_test_uniform(seed + 1, 2 * (uint64_t)d + j) - 0.5;
            double g2 = sae_test_uniform(seed + 1, 3 * (uint64_t)d + j) - 0.5;
            double a = mu + sc * noise;
            double b = f1 * g1;
            a = a + b;
            b = f2 * g2;
            X[i] = (float)(a + b);
        }
    }
    double bound = 1.0 / sqrt((double)d);
    for (uint64_t i = 0; i < (uint64_t)L * d; i++) {
        double u = sae_test_uniform(seed + 3, i) * 2.0 - 1.0;
        W[i] = (float)(u * bound);
    }
}

typedef struct {
    char *text;
    size_t len;
} Golden;

static inline int golden_load(Golden *g, const char *path) {
    return file_read_all(path, &g->text, &g->len);
}
static inline void golden_free(Golden *g) { free(g->text); g->text = NULL; }

/* The numbers of block `name` (exactly `count` of them, else NULL). Caller frees. */
static inline double *golden_get(const Golden *g, const char *name, long count) {
    size_t nl = strlen(name);
    const char *p = g->text;
    while (p && *p) {
        if (strncmp(p, name, nl) == 0 && p[nl] == ' ') {
            char *end;
            long n = strtol(p + nl + 1, &end, 10);
            if (n != count) return NULL;
            double *v = malloc((size_t)(n > 0 ? n : 1) * sizeof(double));
            const char *q = end;
            for (long i = 0; i < n; i++) {
                v[i] = strtod(q, &end);
                if (end == q) { free(v); return NULL; }
                q = end;
            }
            return v;
        }
        p = strchr(p, '\n');
        if (p) p++;
        p = p ? strchr(p, '\n') : NULL;   /* skip the values line */
        if (p) p++;
    }
    return NULL;
}

/* The count of block `name`, or -1. */
static inline long golden_count(const Golden *g, const char *name) {
    size_t nl = strlen(name);
    const char *p = g->text;
    while (p && *p) {
        if (strncmp(p, name, nl) == 0 && p[nl] == ' ') return strtol(p + nl + 1, NULL, 10);
        p = strchr(p, '\n');
        if (p) p++;
        p = p ? strchr(p, '\n') : NULL;
        if (p) p++;
    }
    return -1;
}

/* relative Frobenius error ‖a - b‖ / ‖b‖ */
static inline double rel_fro(const float *a, const double *b, long n) {
    double num = 0.0, den = 0.0;
    for (long i = 0; i < n; i++) {
        double e = (double)a[i] - b[i];
        num += e * e;
        den += b[i] * b[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

#endif
