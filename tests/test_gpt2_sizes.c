/*
 * tests/test_gpt2_sizes.c - one block at the width and head count of each
 * GPT-2 size (12 x 64 = 768, 16 x 64 = 1024, 20 x 64 = 1280, 25 x 64 = 1600;
 * distilgpt2 has small's block), hash weights (tests/hash_model.h), T = 30
 * over two windows of n_ctx = 24: the layer-0 mlp_pre capture and the
 * logits, reference and fast ops, against PyTorch (tests/golden/gpt2_sizes.f32,
 * made by tests/gen_gpt2_sizes.py). Bound: max |ours - torch| <= 1e-4 max |torch|.
 */
#include "core/util.h"
#include "gpt2/gpt2.h"
#include "tests/hash_model.h"
#include "tests/test.h"

#include <math.h>
#include <stdlib.h>

enum { L = 1, V = 64, NCTX = 24, T = 30 };

static double sum_abs(const float *x, long n) {
    double s = 0;
    for (long i = 0; i < n; i++) s += fabs(x[i]);
    return s;
}

int main(void) {
    static const int sizes[4][2] = {{12, 768}, {16, 1024}, {20, 1280}, {25, 1600}};
    static const char *names[4] = {"gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl"};
    char *gold;
    size_t glen;
    if (file_read_all("tests/golden/gpt2_sizes.f32", &gold, &glen) != 0) {
        CHECK(0, "golden file: %s (run from the repository root)", err_get());
        return test_finish();
    }
    const float *gp = (const float *)gold, *gend = gp + glen / sizeof(float);
    int32_t ids[T];
    for (int t = 0; t < T; t++) ids[t] = (7 * t + 3) % V;
    for (int s = 0; s < 4; s++) {
        int NH = sizes[s][0], C = sizes[s][1];
        if (gp + 4L * C + 2 * V + 2 > gend) {
            CHECK(0, "golden file too short for %s", names[s]);
            break;
        }
        GPT2Model m;
        float *store = hash_model(&m, L, NH, C, V, NCTX, (float)(0.125 * sqrt(24.0 / C)));
        GPT2Forward f;
        gpt2_forward_init(&f, &m);
        float *pre = xmalloc(sizeof(float) * T * 4 * C);   /* (T, 4C) */
        float *logits = xmalloc(sizeof(float) * T * V);    /* (T, V) */
        for (int ref = 1; ref >= 0; ref--) {
            f.use_ref = ref;
            const char *how = ref ? "reference" : "fast";
            char name[128];
            CHECK(gpt2_capture(&f, ids, T, 0, GPT2_MLP_PRE, pre) == 0, "%s NH %d C %d: %s capture", names[s], NH, C, how);
            CHECK(gpt2_forward(&f, ids, T, logits) == 0, "%s: %s forward with logits", names[s], how);
            snprintf(name, sizeof name, "%s (%d heads, C %d) %s: mlp_pre, last token", names[s], NH, C, how);
            check_bound(name, pre + (long)(T - 1) * 4 * C, gp, 4L * C);
            snprintf(name, sizeof name, "%s %s: logits, last token of window 1", names[s], how);
            check_bound(name, logits + (long)(NCTX - 1) * V, gp + 4L * C, V);
            snprintf(name, sizeof name, "%s %s: logits, last token of window 2", names[s], how);
            check_bound(name, logits + (long)(T - 1) * V, gp + 4L * C + V, V);
            const float *sums = gp + 4L * C + 2 * V;
            double a = sum_abs(pre, (long)T * 4 * C), b = sum_abs(logits, (long)T * V);
            CHECK(fabs(a - sums[0]) <= 1e-4 * sums[0] && fabs(b - sums[1]) <= 1e-4 * sums[1],
                  "%s %s: sum |mlp_pre| over all tokens %.6g vs torch %.6g, sum |logits| %.6g vs %.6g (1e-4 relative)",
                  names[s], how, a, (double)sums[0], b, (double)sums[1]);
        }
        gp += 4L * C + 2 * V + 2;
        free(pre);
        free(logits);
        gpt2_forward_free(&f);
        free(m.w.h);
        free(store);
    }
    CHECK(gp == gend, "golden file fully consumed");
    free(gold);
    return test_finish();
}
