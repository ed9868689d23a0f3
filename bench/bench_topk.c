/*
 * bench/bench_topk.c - the top-k selection of sae/topk.h: the fast path
 * (sae_topk_row) against the heap reference (sae_topk_row_ref), same run.
 *
 *   build/bench/bench_topk [rows]      # default 256 rows for the streamed cases
 *
 * Shapes: TopK's per-token selection at n 24576, k 32 (d 768's SAE) and at
 * n 6144, k 1024 (the seed's SAE), each on rows that stay in cache (8 and 32
 * rows, about 800 KB, passed over again and again) and on rows streamed
 * from memory (rows rows, 25 MB and 6 MB at 256: a training batch's Z is
 * hundreds of MB); AuxK's masked selection (half the latents dead, k 512);
 * BatchTopK's single selection over B n values (B 256, n 24576, k 32 B); and
 * two kinds of rows the sample cannot help (many ties, all equal), where the
 * fast path falls back to its exact radix select. Rows are about N(0, 1)
 * (sums of uniforms), as pre-activations are; ties rows are those rounded
 * to 0.5.
 * First checks every row: the fast path's indices equal the reference's.
 * Then prints ns a row (the best of 5 timed passes over all rows), values
 * a second and the ratio reference / fast. One thread.
 */
#include "core/util.h"
#include "sae/topk.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 0x2545F4914F6CDD1Dull;

static float gauss(void) {
    float u = 0;
    for (int j = 0; j < 4; j++) {
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        u += (float)((rng >> 40) & 0xFFFFFF) / 16777216.0f;
    }
    return (u - 2.0f) * 1.7320508f;
}

typedef int (*TopkFn)(const float *, int, int, const unsigned char *, int *);

/* best of 5 passes over rows rows, in seconds a row */
static double time_rows(TopkFn f, const float *Z, int rows, int n, int k, const unsigned char *mask, int *idx) {
    double best = 1e30;
    for (int rep = 0; rep < 5; rep++) {
        double t = time_now();
        for (int r = 0; r < rows; r++) f(Z + (size_t)r * n, n, k, mask, idx);
        t = (time_now() - t) / rows;
        if (t < best) best = t;
    }
    return best;
}

static int bench(const char *name, int n, int k, int rows, int fill, int masked) {
    float *Z = xmalloc((size_t)rows * n * sizeof(float));   /* (rows, n) */
    unsigned char *mask = masked ? xmalloc((size_t)n) : NULL;
    for (size_t i = 0; i < (size_t)rows * n; i++) {
        float g = gauss();
        Z[i] = fill == 0 ? g : fill == 1 ? (float)(int)(g * 2.0f) * 0.5f : 0.75f;
    }
    for (int i = 0; mask && i < n; i++) mask[i] = (unsigned char)(gauss() > 0);
    int *a = xmalloc((size_t)k * sizeof(int)), *b = xmalloc((size_t)k * sizeof(int));
    for (int r = 0; r < rows; r++) {
        const float *z = Z + (size_t)r * n;
        int ca = sae_topk_row(z, n, k, mask, a), cb = sae_topk_row_ref(z, n, k, mask, b);
        if (ca != cb || memcmp(a, b, (size_t)ca * sizeof(int)) != 0) {
            fprintf(stderr, "bench_topk: %s row %d: the fast path differs from the reference\n", name, r);
            return 1;
        }
    }
    double tf = time_rows(sae_topk_row, Z, rows, n, k, mask, a);
    double tr = time_rows(sae_topk_row_ref, Z, rows, n, k, mask, b);
    printf("%-30s n %7d k %5d: fast %11.0f ns/row (%6.2f Gvalues/s)  reference %11.0f ns/row  ratio %6.1fx\n", name,
           n, k, tf * 1e9, n / tf * 1e-9, tr * 1e9, tr / tf);
    free(Z);
    free(mask);
    free(a);
    free(b);
    return 0;
}

int main(int argc, char **argv) {
    int rows = argc > 1 ? atoi(argv[1]) : 256;
    if (rows < 1) {
        fprintf(stderr, "usage: bench_topk [rows >= 1]\n");
        return 2;
    }
    printf("bench_topk: %d rows for the streamed cases, fast == reference checked on every row first; one thread\n", rows);
    int bad = 0;
    bad |= bench("topk (d 768 SAE), in cache", 24576, 32, 8, 0, 0);
    bad |= bench("topk (d 768 SAE), streamed", 24576, 32, rows, 0, 0);
    bad |= bench("topk (seed SAE), in cache", 6144, 1024, 32, 0, 0);
    bad |= bench("topk (seed SAE), streamed", 6144, 1024, rows, 0, 0);
    bad |= bench("auxk (half dead, masked)", 24576, 512, rows, 0, 1);
    bad |= bench("batchtopk (B 256, n 24576)", 256 * 24576, 32 * 256, 2, 0, 0);
    bad |= bench("ties (rounded to 0.5)", 24576, 32, rows / 4 + 1, 1, 0);
    bad |= bench("all equal", 24576, 32, rows / 4 + 1, 2, 0);
    return bad;
}
