/*
 * tests/test_gpt2_small.c - the GPT-2 small shape against PyTorch: the
 * checkpoint of `./run synth --seed 1337` is regenerated into a temporary
 * folder (deterministic, 500 MB, not committed), a 220-token input is run,
 * and the layer-6 mlp_pre capture and the logits are compared with the digest
 * in tests/golden/gpt2_small_digest.f32 (made by tests/gen_gpt2_small.py:
 * max |X|, per-row sums and norms, sampled rows).
 * Bound: max |ours - torch| <= 1e-4 * max |torch| on every sampled element;
 * row sums within 1e-4 * max|torch| * sqrt(width), row norms within 1e-4 relative.
 */
#include "core/util.h"
#include "gpt2/gpt2.h"
#include "gpt2/model.h"
#include "tests/test.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { T = 220 };
static const int ROWS[4] = {0, 1, 57, 219};

/* Compare X (T, W) with the digest at *gp (advanced past it). */
static void check_digest(const char *name, const float *X, int W, int step, const float **gp, const float *gend) {
    int ncols = (W + step - 1) / step;
    long need = 1 + 2L * T + 4L * ncols;
    if (*gp + need > gend) {
        CHECK(0, "%s: the golden digest is too short", name);
        return;
    }
    const float *g = *gp;
    double maxt = g[0], maxo = 0;
    for (long i = 0; i < (long)T * W; i++)
        if (fabs(X[i]) > maxo) maxo = fabs(X[i]);
    double bound = 1e-4 * maxt;
    CHECK(fabs(maxo - maxt) <= bound, "%s: max|ours| %.6f vs max|torch| %.6f", name, maxo, maxt);
    double worst_sum = 0, worst_norm = 0;
    for (int t = 0; t < T; t++) {
        double s = 0, n2 = 0;
        for (int i = 0; i < W; i++) s += X[(long)t * W + i], n2 += (double)X[(long)t * W + i] * X[(long)t * W + i];
        double ds = fabs(s - g[1 + t]), dn = fabs(sqrt(n2) - g[1 + T + t]) / g[1 + T + t];
        if (!(ds <= worst_sum)) worst_sum = ds;
        if (!(dn <= worst_norm)) worst_norm = dn;
    }
    CHECK(worst_sum <= bound * sqrt((double)W), "%s: row sums, worst |diff| %.3g <= %.3g", name, worst_sum,
          bound * sqrt((double)W));
    CHECK(worst_norm <= 1e-4, "%s: row norms, worst relative diff %.3g <= 1e-4", name, worst_norm);
    const float *s = g + 1 + 2 * T;
    double maxd = 0;
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < ncols; c++) {
            double d = fabs((double)X[(long)ROWS[r] * W + (long)c * step] - s[r * ncols + c]);
            if (!(d <= maxd)) maxd = d;
        }
    CHECK(maxd <= bound, "%s: rows 0,1,57,219 (every %dth column): max|ours-torch| %.3g <= 1e-4 * max|torch| = %.3g",
          name, step, maxd, bound);
    *gp += need;
}

int main(void) {
    char *gold;
    size_t glen;
    if (file_read_all("tests/golden/gpt2_small_digest.f32", &gold, &glen) != 0) {
        CHECK(0, "golden digest: %s (run from the repository root)", err_get());
        return test_finish();
    }
    char dir[] = "/tmp/gpt2sae_test_gpt2_small_XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "temporary folder %s", dir);
    GPT2Config cfg;
    CHECK(gpt2_config_named(&cfg, "gpt2") == 0, "the gpt2 configuration");
    double t0 = time_now();
    int ok = gpt2_model_synth(dir, &cfg, 1337) == 0;
    CHECK(ok, "regenerate ./run synth --seed 1337 into %s (%.1f s) %s", dir, time_now() - t0, ok ? "" : err_get());
    GPT2Model m = {0};
    if (ok) {
        ok = gpt2_model_load(&m, dir) == 0;
        CHECK(ok, "load it %s", ok ? "" : err_get());
    }
    if (ok) {
        int32_t ids[T];
        for (int t = 0; t < T; t++) ids[t] = (7919 * t + 13) % 50257;
        GPT2Forward f;
        gpt2_forward_init(&f, &m);
        float *acts = xmalloc((size_t)T * 3072 * sizeof(float));
        float *logits = xmalloc((size_t)T * 50257 * sizeof(float));
        t0 = time_now();
        CHECK(gpt2_capture(&f, ids, T, 6, GPT2_MLP_PRE, acts) == 0, "capture layer 6 mlp_pre, T=220 (%.3f s)",
              time_now() - t0);
        t0 = time_now();
        CHECK(gpt2_forward(&f, ids, T, logits) == 0, "full pass with logits (%.3f s)", time_now() - t0);
        const float *gp = (const float *)gold, *gend = gp + glen / sizeof(float);
        check_digest("layer 6 mlp_pre", acts, 3072, 7, &gp, gend);
        check_digest("logits", logits, 50257, 13, &gp, gend);
        CHECK(gp == gend, "golden digest fully consumed");
        free(acts), free(logits);
        gpt2_forward_free(&f);
    }
    gpt2_model_free(&m);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) printf("  (could not remove %s)\n", dir);
    free(gold);
    return test_finish();
}
