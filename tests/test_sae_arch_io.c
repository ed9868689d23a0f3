/*
 * tests/test_sae_arch_io.c - SAELens and sparsify checkpoints (sae/arch_io.h):
 *   - every architecture, after a few training steps (relu with its input
 *     scale, so the folds are exercised), saved in SAELens' layout, read back:
 *     the same reconstruction of raw activations, the same active latents
 *   - the same files loaded by tests/saelens_load.py, which follows SAELens
 *     6's loader (config defaulting, strict state dict, each class's encode):
 *     its latents and reconstruction equal ours (skipped without
 *     /usr/bin/python3 + torch)
 *   - sparsify's layout written and read back (and by the script)
 *   - the seed's tied SAE saved as topk (W_enc = Wᵀ)
 *   - bad checkpoints: a missing field, a wrong architecture or width, a
 *     tensor of the wrong shape, no checkpoint at all: errors naming them
 */
#include "sae/arch_io.h"
#include "core/util.h"
#include "tests/test.h"
#include "weights/safetensors.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[64];
static int have_torch;

static float *random_acts(int T, int d, uint64_t seed) {
    float *X = malloc((size_t)T * d * sizeof(float));
    Rng r;
    rng_seed(&r, seed);
    for (int i = 0; i < T * d; i++) X[i] = 3.0f * rng_normal(&r) + 0.5f * (float)(i % d);
    return X;
}

static int count_active(const float *F, long n) {
    int c = 0;
    for (long i = 0; i < n; i++) c += F[i] != 0.0f;
    return c;
}

/* run tests/saelens_load.py on dir; compare its F and Xh with the loaded model's */
static void check_with_torch(const char *label, const char *dir, SAEArch *loaded, const float *X, int T) {
    if (!have_torch) {
        SKIP("%s: SAELens-logic loader (no /usr/bin/python3 with torch)", label);
        return;
    }
    char xpath[256], opath[256], cmd[1024];
    snprintf(xpath, sizeof xpath, "%s/x.safetensors", tmpdir);
    snprintf(opath, sizeof opath, "%s/torch_out.safetensors", tmpdir);
    STWriter w;
    st_writer_init(&w);
    st_writer_add(&w, "X", (int64_t[]){T, loaded->p.d}, 2, X);
    st_writer_write(&w, xpath);
    st_writer_free(&w);
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 tests/saelens_load.py %s %s %s", dir, xpath, opath);
    int rc = system(cmd);
    CHECK(rc == 0, "%s: the SAELens-logic loader reads the checkpoint (exit %d)", label, rc);
    if (rc != 0) return;
    SafeTensors st;
    if (safetensors_open(&st, opath) != 0) {
        CHECK(0, "%s: %s", label, err_get());
        return;
    }
    const int n = loaded->p.n, d = loaded->p.d;
    float *F = malloc((size_t)T * n * sizeof(float)), *Xh = malloc((size_t)T * d * sizeof(float));
    sae_arch_encode(loaded, X, T, F);
    sae_arch_decode(loaded, F, T, Xh);
    char name[128];
    snprintf(name, sizeof name, "%s: latents, ours vs SAELens logic", label);
    check_close(name, F, safetensors_f32(&st, safetensors_find(&st, "F")), (long)T * n, 1e-4f, 1e-4f);
    snprintf(name, sizeof name, "%s: reconstruction, ours vs SAELens logic", label);
    check_close(name, Xh, safetensors_f32(&st, safetensors_find(&st, "Xh")), (long)T * d, 1e-4f, 1e-4f);
    free(F), free(Xh);
    safetensors_close(&st);
}

static void roundtrip(SAEArchKind arch) {
    const int d = 12, n = 48, T = 64, B = 32;
    const char *name = sae_arch_name(arch);
    printf("%s\n", name);
    float *X = random_acts(T, d, 100 + arch);
    SAEArchParams p = sae_arch_default_params(arch, d, n);
    p.k = 6;
    p.lr = 1e-2f;
    p.lambda = arch == SAE_ARCH_JUMPRELU ? 0.01f : 0.1f;
    p.jump_eps = 0.05f;
    p.theta0 = 0.5f;
    p.dead_tokens = 64;
    SAEArch m;
    CHECK(sae_arch_init(&m, &p, X, T) == 0, "%s: init", name);
    CHECK(sae_arch_train(&m, X, T, B, 6, NULL, NULL) == 0, "%s: 6 steps (%s)", name, err_get());
    char dir[128];
    snprintf(dir, sizeof dir, "%s/%s", tmpdir, name);
    float *dens = malloc((size_t)n * sizeof(float));
    sae_arch_log10_density(&m, X, T, B, dens);
    int rc = sae_arch_save_saelens(&m, dir, &(SAEArchMeta){"gpt2", "blocks.6.mlp.hook_pre", 64, "palinka.txt"}, dens);
    CHECK(rc == 0, "%s: saved as SAELens (%s)", name, rc ? err_get() : "");
    SAEArch s;
    SAEArchRequest want = {.arch = arch, .d = d, .n = n};
    rc = sae_arch_load(&s, dir, &want);
    CHECK(rc == 0, "%s: read back (%s)", name, rc ? err_get() : "");
    if (rc == 0) {
        float *F0 = malloc((size_t)T * n * sizeof(float)), *F1 = malloc((size_t)T * n * sizeof(float));
        float *X0 = malloc((size_t)T * d * sizeof(float)), *X1 = malloc((size_t)T * d * sizeof(float));
        sae_arch_encode(&m, X, T, F0);
        sae_arch_decode(&m, F0, T, X0);
        sae_arch_encode(&s, X, T, F1);
        sae_arch_decode(&s, F1, T, X1);
        int same = 1;
        for (long i = 0; i < (long)T * n; i++) same &= (F0[i] != 0) == (F1[i] != 0);
        CHECK(same && count_active(F0, (long)T * n) > 0, "%s: the same %d active latents after the round trip", name,
              count_active(F0, (long)T * n));
        check_close("reconstruction of raw activations, saved vs trained", X1, X0, (long)T * d, 1e-4f, 1e-4f);
        if (arch == SAE_ARCH_RELU) {
            double worst = 0;
            for (int i = 0; i < n; i++) {
                double ss = 0;
                for (int j = 0; j < d; j++) ss += (double)s.W_dec[i * d + j] * s.W_dec[i * d + j];
                worst = fmax(worst, fabs(sqrt(ss) - 1));
            }
            CHECK(m.input_scale != 1.0f && worst < 1e-5, "relu: input scale %.4g and decoder norms folded (rows unit, worst %.2g)",
                  m.input_scale, worst);
        }
        check_with_torch(name, dir, &s, X, T);
        free(F0), free(F1), free(X0), free(X1);
        sae_arch_free(&s);
    }
    char *sp = path_join(dir, "sparsity.safetensors");
    SafeTensors st;
    if (safetensors_open(&st, sp) == 0) {
        const STTensor *t = safetensors_find(&st, "sparsity");
        CHECK(t && t->numel == n, "%s: sparsity.safetensors holds sparsity (%d)", name, n);
        if (t) check_close("log10 density as written", safetensors_f32(&st, t), dens, n, 0, 0);
        safetensors_close(&st);
    } else CHECK(0, "%s: %s", name, err_get());
    free(sp);
    free(dens);
    sae_arch_free(&m);
    free(X);
}

static void sparsify_and_seed(void) {
    printf("sparsify, seed\n");
    const int d = 10, n = 40, T = 50;
    float *X = random_acts(T, d, 9);
    SAEArchParams p = sae_arch_default_params(SAE_ARCH_TOPK, d, n);
    p.k = 5;
    SAEArch m, s;
    sae_arch_init(&m, &p, X, T);
    sae_arch_train(&m, X, T, 25, 4, NULL, NULL);
    char dir[128];
    snprintf(dir, sizeof dir, "%s/sparsify", tmpdir);
    CHECK(sae_arch_save_sparsify(&m, dir) == 0, "sparsify layout written (%s)", err_get());
    int rc = sae_arch_load(&s, dir, NULL);
    CHECK(rc == 0, "sparsify checkpoint read (%s)", rc ? err_get() : "");
    if (rc == 0) {
        CHECK(s.p.arch == SAE_ARCH_TOPK && s.p.k == 5 && s.p.n == n && s.p.d == d, "sparsify: topk, k 5, %d x %d", s.p.n, s.p.d);
        CHECK(memcmp(s.W_enc, m.W_enc, (size_t)n * d * 4) == 0 && memcmp(s.W_dec, m.W_dec, (size_t)n * d * 4) == 0 &&
                  memcmp(s.b_enc, m.b_enc, (size_t)n * 4) == 0 && memcmp(s.b_dec, m.b_dec, (size_t)d * 4) == 0,
              "sparsify: encoder.weight (n, d), encoder.bias, W_dec (n, d), b_dec read back bit for bit");
        check_with_torch("sparsify", dir, &s, X, T);
        sae_arch_free(&s);
    }
    /* the seed's tied SAE */
    float *W = random_acts(n, d, 11);
    snprintf(dir, sizeof dir, "%s/seed", tmpdir);
    CHECK(sae_tied_save_saelens(W, n, d, 4, dir, NULL) == 0, "seed's tied SAE saved as topk");
    rc = sae_arch_load(&s, dir, &(SAEArchRequest){.arch = SAE_ARCH_TOPK, .d = d, .n = n});
    CHECK(rc == 0, "seed's SAE read as topk (%s)", rc ? err_get() : "");
    if (rc == 0) {
        CHECK(memcmp(s.W_enc, W, (size_t)n * d * 4) == 0 && memcmp(s.W_dec, W, (size_t)n * d * 4) == 0 && s.p.k == 4,
              "seed: W_enc = Wᵀ (stored (d, L)), W_dec = W, k = 4");
        check_with_torch("seed", dir, &s, X, T);
        sae_arch_free(&s);
    }
    free(W);
    sae_arch_free(&m);
    free(X);
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static void expect_fail(const char *dir, const SAEArchRequest *want, const char *needle, const char *what) {
    SAEArch s;
    int rc = sae_arch_load(&s, dir, want);
    CHECK(rc != 0 && strstr(err_get(), needle), "%s: \"%s\"", what, rc ? err_get() : "(accepted)");
    if (rc == 0) sae_arch_free(&s);
}

static void bad_inputs(void) {
    printf("bad checkpoints\n");
    char dir[128], cfg[160];
    snprintf(dir, sizeof dir, "%s/topk", tmpdir); /* written by roundtrip(topk): d 12, n 48 */
    snprintf(cfg, sizeof cfg, "%s/cfg.json", dir);
    expect_fail(dir, &(SAEArchRequest){.arch = SAE_ARCH_JUMPRELU}, "architecture is \"topk\"", "wrong architecture");
    expect_fail(dir, &(SAEArchRequest){.arch = SAE_ARCH_TOPK, .d = 768}, "d_in = 12", "wrong width");
    expect_fail(dir, &(SAEArchRequest){.arch = SAE_ARCH_TOPK, .n = 96}, "d_sae = 48", "wrong latent count");
    /* a cfg.json written over the topk checkpoint's, what the message must name, what the case is */
    static const struct { const char *cfg, *needle, *what; } bad_cfg[] = {
        {"{\"architecture\": \"topk\", \"d_sae\": 48, \"k\": 6}", "\"d_in\"", "cfg.json without d_in"},
        {"{\"d_in\": 12, \"d_sae\": 48, \"k\": 6}", "\"architecture\"", "cfg.json without architecture"},
        {"{\"architecture\": \"topk\", \"d_in\": 12, \"d_sae\": 48}", "\"k\"", "topk cfg.json without k"},
        {"{\"architecture\": \"topk\", \"d_in\": 12, \"d_sae\": 40, \"k\": 6}", "W_enc",
         "a tensor whose shape disagrees with cfg.json"},
        {"{\"architecture\": \"topk\", \"d_in\": 12, \"d_sae\": 48, \"k\": 48}", "k = 48", "k >= d_sae"},
        {"{\"architecture\": \"crosscoder\", \"d_in\": 12, \"d_sae\": 48}", "crosscoder", "an unknown architecture"},
    };
    for (size_t i = 0; i < sizeof bad_cfg / sizeof *bad_cfg; i++) {
        write_text(cfg, bad_cfg[i].cfg);
        expect_fail(dir, NULL, bad_cfg[i].needle, bad_cfg[i].what);
    }
    snprintf(dir, sizeof dir, "%s/sparsify", tmpdir);
    snprintf(cfg, sizeof cfg, "%s/cfg.json", dir);
    write_text(cfg, "{\"d_in\": 10, \"k\": 5}");
    expect_fail(dir, NULL, "num_latents", "sparsify cfg.json without num_latents");
    snprintf(dir, sizeof dir, "%s/nothing", tmpdir);
    expect_fail(dir, NULL, "no such folder", "no checkpoint folder");
    expect_fail(tmpdir, NULL, "neither", "a folder without a checkpoint");
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_sae_arch_io.XXXXXX");
    if (!mkdtemp(tmpdir)) {
        CHECK(0, "mkdtemp");
        return test_finish();
    }
    have_torch = system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") == 0;
    for (int a = 0; a < SAE_ARCH_COUNT; a++) roundtrip((SAEArchKind)a);
    sparsify_and_seed();
    bad_inputs();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) printf("  (could not remove %s)\n", tmpdir);
    return test_finish();
}
