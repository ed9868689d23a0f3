/*
 * tests/test_cuda_hooks.c - the GPU forward with hooks (cuda/cuda_hooks.cu)
 * against the CPU's (gpt2/forward.c) on a small synthetic GPT-2 (2 layers,
 * C = 64, one head of 64, n_ctx 32, V 512):
 *   - a batch of B windows captured at several sites in one pass ==
 *     gpt2_forward_batch; each window stays causal and independent;
 *   - harvest_to_cache through cuda_harvest_pass == through the CPU: the
 *     same manifest byte for byte, the same rows within tolerance;
 *   - every intervention of eval/intervene.h run as a hook's fn on the GPU
 *     == the same hook on the CPU (logits and a later capture);
 *   - cuda_gpt2_resume after each site == gpt2_forward_resume;
 *   - eval_run with the GPU's passes == eval_run on the CPU (every metric);
 *   - bad input refused with a message.
 * Runs on a device and, as tests/test_cuda_hooks_emu, on the emulator
 * (cuda/emu). Tolerances (FP32, summation orders only): activations atol
 * 1e-4 rtol 1e-3, logits atol 1e-3 rtol 1e-3, eval's means rtol 1e-4 (KL and
 * scores atol 1e-4), as tests/test_cuda.c holds the whole forward.
 */
#include "core/dir.h"
#include "core/util.h"
#include "cuda/cuda.h"
#include "data/cache.h"
#include "data/data.h"
#include "eval/intervene.h"
#include "eval/metrics.h"
#include "gpt2/gpt2.h"
#include "gpt2/model.h"
#include "harvest/harvest.h"
#include "sae/sae.h"
#include "tests/test.h"
#include "tests/test_cuda.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { CTX = 16, NWIN = 7, NTOK = NWIN * CTX + 5, V = 512 };

static char tmpdir[64] = "/tmp/test_cuda_hooks.XXXXXX";
static GPT2Model model;
static TokFile tf;
static int32_t toks[NTOK]; /* the file's ids */

/* the model: 2 blocks of C = 64 (one head of 64, the CUDA attention's), n_ctx 32 */
static int make_model(void) {
    GPT2Config c = {.n_layer = 2, .n_head = 1, .n_embd = 64, .n_ctx = 32, .vocab_size = V, .ln_eps = 1e-5f};
    strcpy(c.name, "custom");
    char *dir = path_join(tmpdir, "m");
    int rc = gpt2_model_synth(dir, &c, 7) != 0 || gpt2_model_load(&model, dir) != 0 ? -1 : 0;
    free(dir);
    return rc;
}

/* toks: NTOK random ids below V, also as the token file tf (llm.c's format) */
static int make_tokens(void) {
    for (int i = 0; i < NTOK; i++) toks[i] = (int32_t)(rng_u64(&rng) % V);
    char *path = path_join(tmpdir, "d.bin");
    TokWriter w;
    int rc = tokwriter_begin(&w, path, DATA_LLMC) != 0 || tokwriter_append(&w, toks, NTOK) != 0 ||
                     tokwriter_commit(&w) != 0 || tokfile_open(&tf, path, DATA_LLMC) != 0
                 ? -1
                 : 0;
    free(path);
    return rc;
}

static float *nan_buf(size_t n) {
    float *x = xmalloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) x[i] = NAN;
    return x;
}

/* check_close with atol = rel * max |want| (the tensor's own scale: the
 * synthetic model's activations are far from 1), rtol 1e-3 */
static void close_scaled(const char *name, const float *got, const float *want, long n, float rel) {
    float mx = 0;
    for (long i = 0; i < n; i++) mx = fabsf(want[i]) > mx ? fabsf(want[i]) : mx;
    char full[160];
    snprintf(full, sizeof full, "%s (max |CPU| %.3g)", name, mx);
    check_close(full, got, want, n, rel * mx, 1e-3f);
}

/* |a - b| <= atol + rtol |b| for two numbers, printed */
static void near(const char *what, double a, double b, double rtol, double atol) {
    CHECK(fabs(a - b) <= atol + rtol * fabs(b), "%s: GPU %.9g vs CPU %.9g (atol %.0e rtol %.0e)", what, a, b, atol, rtol);
}

/* ---- a batch of windows at several sites ---- */

static void test_batch(CUDAGPT2 *g) {
    enum { B = 3, NH = 4 };
    const int C = model.cfg.n_embd;
    const int layer[NH] = {0, 0, 1, 1};
    const GPT2Site site[NH] = {GPT2_MLP_PRE, GPT2_RESID_POST, GPT2_ATTN_OUT, GPT2_MLP_POST};
    int32_t ids[B * CTX];
    memcpy(ids, toks, sizeof ids);
    GPT2Forward f;
    gpt2_forward_init(&f, &model);
    float *want[NH], *got[NH];
    CUDAHook h[NH];
    for (int k = 0; k < NH; k++) {
        size_t n = (size_t)B * CTX * gpt2_site_width(&model.cfg, site[k]);
        want[k] = nan_buf(n), got[k] = nan_buf(n);
        gpt2_forward_add_hook(&f, layer[k], site[k], gpt2_hook_copy, want[k]);
        h[k] = (CUDAHook){layer[k], site[k], got[k], NULL, NULL, NULL, NULL};
    }
    CHECK(gpt2_forward_batch(&f, ids, B, CTX) == 0, "CPU batch of %d windows x %d", B, CTX);
    int rc = cuda_gpt2_forward_batch(g, ids, B, CTX, h, NH, NULL);
    CHECK(rc == 0, "cuda_gpt2_forward_batch %d x %d at %d sites in one pass (%s)", B, CTX, NH, rc ? err_get() : "");
    for (int k = 0; k < NH; k++) {
        char name[96];
        gpt2_site_tl_name(name, sizeof name, layer[k], site[k]);
        strcat(name, " (batch, GPU vs CPU)");
        close_scaled(name, got[k], want[k], (long)B * CTX * gpt2_site_width(&model.cfg, site[k]), 1e-4f);
    }
    /* causal and independent: change window 0's last token; window 0's other
     * rows and every row of windows 1 and 2 stay as they were */
    float *again = nan_buf((size_t)B * CTX * C);
    ids[CTX - 1] = (ids[CTX - 1] + 1) % V;
    h[0] = (CUDAHook){0, GPT2_RESID_POST, again, NULL, NULL, NULL, NULL};
    rc = cuda_gpt2_forward_batch(g, ids, B, CTX, h, 1, NULL);
    long same = 0, changed = 0;
    for (long r = 0; r < (long)B * CTX; r++) {
        int eq = memcmp(again + r * C, got[1] + r * C, (size_t)C * sizeof(float)) == 0;
        if (r == CTX - 1) changed += !eq;
        else same += eq;
    }
    CHECK(rc == 0 && same == (long)B * CTX - 1 && changed == 1,
          "a changed last token of window 0 changes its row only: %ld of %d rows the same, its own %s", same,
          B * CTX - 1, changed ? "changed" : "NOT changed");
    /* one window alone == its rows of the batch (the same kernels, B = 1) */
    float *one = nan_buf((size_t)CTX * C);
    h[0] = (CUDAHook){0, GPT2_RESID_POST, one, NULL, NULL, NULL, NULL};
    rc = cuda_gpt2_forward_batch(g, ids + 2 * CTX, 1, CTX, h, 1, NULL);
    CHECK(rc == 0 && memcmp(one, got[1] + 2 * CTX * C, (size_t)CTX * C * sizeof(float)) == 0,
          "window 2 run alone == its rows of the batch, bit for bit");
    for (int k = 0; k < NH; k++) free(want[k]), free(got[k]);
    free(again), free(one);
    gpt2_forward_free(&f);
}

/* ---- harvest into the cache, both ways ---- */

static int read_file(const char *dir, const char *name, char **buf, size_t *len) {
    char *p = path_join(dir, name);
    int rc = file_read_all(p, buf, len);
    free(p);
    return rc;
}

static void test_harvest(CUDAGPT2 *g) {
    HarvestParams p = harvest_default_params();
    p.n_hooks = 3;
    p.layer[0] = 1, p.site[0] = GPT2_MLP_PRE;
    p.layer[1] = 0, p.site[1] = GPT2_RESID_MID;
    p.layer[2] = 1, p.site[2] = GPT2_RESID_POST;
    p.ctx = CTX, p.prepend_bos = 0, p.batch = 3, p.windows_per_shard = 4;
    CacheMeta meta;
    memset(&meta, 0, sizeof meta);
    strcpy(meta.model, "custom"), strcpy(meta.weights, "model.safetensors"), strcpy(meta.dataset, "d.bin");
    meta.random_weights = 1;
    char *dir[2] = {path_join(tmpdir, "cpu"), path_join(tmpdir, "gpu")};
    int rc[2];
    for (int d = 0; d < 2; d++) {
        Harvest h;
        rc[d] = harvest_init(&h, &model, &tf, &p);
        if (rc[d] == 0 && d == 1) h.forward = cuda_harvest_pass, h.forward_user = g;
        if (rc[d] == 0) rc[d] = harvest_to_cache(&h, dir[d], &meta, NULL, NULL);
        CHECK(rc[d] == 0, "harvest_to_cache on the %s: %d windows at 3 hooks, batches of 3 (%s)", d ? "GPU" : "CPU",
              NWIN, rc[d] ? err_get() : "");
        harvest_free(&h);
    }
    if (rc[0] || rc[1]) goto done;
    char *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    int ok = read_file(dir[0], "manifest.json", &a, &na) == 0 && read_file(dir[1], "manifest.json", &b, &nb) == 0;
    CHECK(ok && na == nb && memcmp(a, b, na) == 0, "the manifests are the same, byte for byte (%zu bytes)", na);
    free(a), free(b);
    CacheManifest m;
    if (cache_manifest_read(&m, dir[0]) != 0) {
        CHECK(0, "read the CPU's manifest: %s", err_get());
        goto done;
    }
    CHECK(m.n_shards == 2 && m.meta.n_hooks == 3, "%ld shards of 4 windows, 3 hooks", m.n_shards);
    for (long s = 0; s < m.n_shards; s++)
        for (int k = 0; k < 3; k++) {
            char *pa = cache_shard_path(dir[0], s, k), *pb = cache_shard_path(dir[1], s, k);
            ok = file_read_all(pa, &a, &na) == 0 && file_read_all(pb, &b, &nb) == 0 && na == nb && na > 0;
            char name[96];
            snprintf(name, sizeof name, "shard %ld hook %s: GPU rows vs CPU rows", s, m.meta.hooks[k]);
            if (ok) close_scaled(name, (const float *)b, (const float *)a, (long)(na / sizeof(float)), 1e-4f);
            else CHECK(0, "%s: the shard files (%zu and %zu bytes)", name, na, nb);
            free(a), free(b), free(pa), free(pb);
            a = b = NULL;
        }
    cache_manifest_free(&m);
done:
    free(dir[0]), free(dir[1]);
}

/* ---- the interventions as hooks, the resume, the evaluation ---- */

static SAE sae;
static EvalSAE es;

static void make_sae(int d, int L, int k, const char *hook) {
    float *W = xmalloc(sizeof(float) * L * d);
    for (long i = 0; i < (long)L * d; i++) W[i] = (2.0f * rng_uniform(&rng) - 1.0f) * 0.125f;
    sae_init_weights(&sae, d, L, k, W);
    free(W);
    eval_sae_wrap(&es, &sae, "custom", hook);
}

static void test_interventions(CUDAGPT2 *g) {
    const int C = model.cfg.n_embd, d = es.d_in, layer = 1;
    const int32_t *ids = toks;
    float *mean = xmalloc(sizeof(float) * d);
    for (int i = 0; i < d; i++) mean[i] = 0.1f * (float)(i % 7) - 0.3f;
    EvalLatent lat[2] = {{3, 2.5f}, {40, 0.0f}};
    for (int kind = EVAL_SPLICE; kind <= EVAL_CLAMP; kind++) {
        EvalIntervention iv[2];
        float *logits[2], *post[2];
        for (int dev = 0; dev < 2; dev++) {
            iv[dev] = eval_intervention((EvalKind)kind, &es);
            iv[dev].layer = layer, iv[dev].site = GPT2_MLP_PRE;
            iv[dev].mean = mean, iv[dev].latents = lat, iv[dev].n_latents = 2;
            logits[dev] = nan_buf((size_t)CTX * V), post[dev] = nan_buf((size_t)CTX * C);
        }
        GPT2Forward f;
        gpt2_forward_init(&f, &model);
        int rc = eval_intervention_add(&f, &iv[0]);
        if (rc == 0) rc = gpt2_forward_add_hook(&f, layer, GPT2_RESID_POST, gpt2_hook_copy, post[0]);
        if (rc == 0) rc = gpt2_forward(&f, ids, CTX, logits[0]);
        CHECK(rc == 0, "CPU forward with the %s intervention (%s)", eval_kind_name((EvalKind)kind), rc ? err_get() : "");
        CUDAHook h[2] = {{layer, GPT2_MLP_PRE, NULL, NULL, NULL, eval_intervene_hook, &iv[1]},
                         {layer, GPT2_RESID_POST, post[1], NULL, NULL, NULL, NULL}};
        rc = cuda_gpt2_forward_batch(g, ids, 1, CTX, h, 2, logits[1]);
        CHECK(rc == 0, "GPU forward with the %s intervention as a hook's fn (%s)", eval_kind_name((EvalKind)kind),
              rc ? err_get() : "");
        char name[96];
        snprintf(name, sizeof name, "%s: blocks.1.hook_resid_post after it", eval_kind_name((EvalKind)kind));
        close_scaled(name, post[1], post[0], (long)CTX * C, 1e-4f);
        snprintf(name, sizeof name, "%s: logits", eval_kind_name((EvalKind)kind));
        close_scaled(name, logits[1], logits[0], (long)CTX * V, 1e-4f);
        gpt2_forward_free(&f);
        for (int dev = 0; dev < 2; dev++) eval_intervention_free(&iv[dev]), free(logits[dev]), free(post[dev]);
    }
    free(mean);
}

static void test_resume(CUDAGPT2 *g) {
    const int C = model.cfg.n_embd;
    const int32_t *ids = toks + CTX;
    GPT2Forward f;
    gpt2_forward_init(&f, &model);
    float *act = xmalloc(sizeof(float) * CTX * 4 * C), *resid = xmalloc(sizeof(float) * CTX * C);
    float *gresid = nan_buf((size_t)CTX * C), *gact = nan_buf((size_t)CTX * 4 * C);
    float *want = nan_buf((size_t)CTX * V), *got = nan_buf((size_t)CTX * V);
    for (int l = 0; l < 2; l++)
        for (int s = 0; s < GPT2_NSITES; s++) {
            GPT2Site site = (GPT2Site)s;
            int w = gpt2_site_width(&model.cfg, site);
            int is_resid = site == GPT2_RESID_PRE || site == GPT2_RESID_MID || site == GPT2_RESID_POST;
            /* the residual stream the site's hooks see: resid_pre before attention, resid_mid in the MLP */
            GPT2Site rs = site == GPT2_ATTN_OUT ? GPT2_RESID_PRE : GPT2_RESID_MID;
            int rc = gpt2_capture(&f, ids, CTX, l, site, act);
            if (rc == 0 && !is_resid) rc = gpt2_capture(&f, ids, CTX, l, rs, resid);
            /* the GPU's grab: the same act and resid (CUDAHook.resid) */
            if (rc == 0) rc = cuda_eval_grab(g, l, site, ids, CTX, gact, gresid, NULL);
            char name[96];
            snprintf(name, sizeof name, "grab at layer %d %s: act", l, gpt2_site_name(site));
            if (rc == 0) close_scaled(name, gact, act, (long)CTX * w, 1e-4f);
            snprintf(name, sizeof name, "grab at layer %d %s: the residual stream there", l, gpt2_site_name(site));
            if (rc == 0) close_scaled(name, gresid, is_resid ? act : resid, (long)CTX * C, 1e-4f);
            /* a changed activation, resumed both ways */
            for (long i = 0; i < (long)CTX * w; i++) act[i] = act[i] * 1.25f + 0.01f * (float)(i % 5);
            if (rc == 0) rc = gpt2_forward_resume(&f, l, site, is_resid ? NULL : resid, act, CTX, want);
            if (rc == 0) rc = cuda_gpt2_resume(g, l, site, is_resid ? NULL : resid, act, CTX, NULL, 0, got);
            CHECK(rc == 0, "resume after layer %d %s (%s)", l, gpt2_site_name(site), rc ? err_get() : "");
            snprintf(name, sizeof name, "resume after layer %d %s: logits", l, gpt2_site_name(site));
            if (rc == 0) close_scaled(name, got, want, (long)CTX * V, 1e-4f);
        }
    free(act), free(resid), free(gresid), free(gact), free(want), free(got);
    gpt2_forward_free(&f);
}

static void test_eval(CUDAGPT2 *g) {
    GPT2Forward f;
    gpt2_forward_init(&f, &model);
    EvalParams p = eval_default_params();
    p.ctx = CTX;
    p.max_tokens = 4 * CTX;
    EvalResult r[2];
    EvalPasses gpu = {cuda_eval_grab, cuda_eval_resume, g};
    int rc = eval_run(&r[0], &f, &es, toks, NTOK, &p);
    CHECK(rc == 0, "eval_run on the CPU: 4 windows of %d at %s (%s)", CTX, es.hook, rc ? err_get() : "");
    p.passes = &gpu;
    int rc1 = eval_run(&r[1], &f, &es, toks, NTOK, &p);
    CHECK(rc1 == 0, "eval_run with the GPU's passes (%s)", rc1 ? err_get() : "");
    if (rc == 0 && rc1 == 0) {
        const EvalResult *a = &r[1], *b = &r[0];
        CHECK(a->n_tokens == b->n_tokens && a->n_kept == b->n_kept && a->n_ce == b->n_ce && a->n_kl == b->n_kl,
              "the same positions counted (%ld tokens, %ld kept, %ld CE, %ld KL)", a->n_tokens, a->n_kept, a->n_ce,
              a->n_kl);
        for (int k = 0; k < EVAL_NRUNS; k++) {
            char name[64];
            snprintf(name, sizeof name, "CE loss %s", eval_run_names[k]);
            near(name, a->ce[k], b->ce[k], 1e-4, 0);
            if (k == EVAL_RUN_CLEAN) continue;
            snprintf(name, sizeof name, "KL %s", eval_run_names[k]);
            near(name, a->kl[k], b->kl[k], 1e-3, 1e-5);
        }
        near("CE score", a->ce_score, b->ce_score, 0, 1e-3);
        near("CE score (mean ablation)", a->ce_score_mean, b->ce_score_mean, 0, 1e-3);
        near("KL score", a->kl_score, b->kl_score, 0, 1e-3);
        near("KL score (mean ablation)", a->kl_score_mean, b->kl_score_mean, 0, 1e-3);
        near("FVU", a->fvu, b->fvu, 1e-4, 1e-6);
        near("MSE per token", a->mse, b->mse, 1e-4, 0);
        near("cosine", a->cos, b->cos, 1e-4, 0);
        near("norm ratio", a->norm_ratio, b->norm_ratio, 1e-4, 0);
        near("relative bias", a->rel_bias, b->rel_bias, 1e-4, 0);
        near("L0", a->l0, b->l0, 1e-3, 0);
        near("L1", a->l1, b->l1, 1e-3, 0);
        close_scaled("mean activation x-bar", a->mean, b->mean, es.d_in, 1e-4f);
        close_scaled("per-token KL of the SAE run", a->tok_kl[EVAL_RUN_SAE], b->tok_kl[EVAL_RUN_SAE], a->n_tokens,
                     1e-4f);
    }
    if (rc == 0) eval_result_free(&r[0]);
    if (rc1 == 0) eval_result_free(&r[1]);
    gpt2_forward_free(&f);
}

/* ---- refusals ---- */

static int failing_hook(void *user, const GPT2HookCtx *c, float *act) {
    (void)user, (void)c, (void)act;
    return err_set("the test's hook refuses");
}

static void test_errors(CUDAGPT2 *g) {
    int32_t ids[2 * CTX];
    memcpy(ids, toks, sizeof ids);
    float *out = nan_buf((size_t)2 * CTX * 4 * model.cfg.n_embd);
    CUDAHook h = {0, GPT2_MLP_PRE, out, NULL, NULL, NULL, NULL};
    ids[CTX + 3] = V;
    int rc = cuda_gpt2_forward_batch(g, ids, 2, CTX, &h, 1, NULL);
    CHECK(rc == -1 && strstr(err_get(), "vocabulary"), "an id outside the vocabulary in window 1: %s", err_get());
    ids[CTX + 3] = 0;
    rc = cuda_gpt2_forward_batch(g, ids, 1, model.cfg.n_ctx + 1, &h, 1, NULL);
    CHECK(rc == -1 && strstr(err_get(), "n_ctx"), "windows longer than n_ctx: %s", err_get());
    h.layer = 2;
    rc = cuda_gpt2_forward_batch(g, ids, 2, CTX, &h, 1, NULL);
    CHECK(rc == -1 && strstr(err_get(), "layer 2"), "a hook past the last layer: %s", err_get());
    h = (CUDAHook){1, GPT2_ATTN_OUT, NULL, NULL, NULL, failing_hook, NULL};
    rc = cuda_gpt2_forward_batch(g, ids, 2, CTX, &h, 1, NULL);
    CHECK(rc == -1 && strstr(err_get(), "the test's hook refuses"), "a hook's fn that fails stops the pass: %s",
          err_get());
    rc = cuda_gpt2_resume(g, 0, GPT2_MLP_PRE, NULL, out, CTX, NULL, 0, out);
    CHECK(rc == -1 && strstr(err_get(), "residual stream"), "a resume inside the MLP without resid: %s", err_get());
    rc = cuda_gpt2_resume(g, 5, GPT2_RESID_PRE, NULL, out, CTX, NULL, 0, out);
    CHECK(rc == -1 && strstr(err_get(), "layers 0..1"), "a resume past the last layer: %s", err_get());
    free(out);
}

int main(void) {
    test_cuda_start(20261130);
    if (!mkdtemp(tmpdir)) {
        CHECK(0, "mkdtemp");
        return test_finish();
    }
    if (!gpu) {
        GPT2Model empty;
        memset(&empty, 0, sizeof empty);
        CUDAGPT2 *g = (CUDAGPT2 *)1;
        int rc = cuda_gpt2_init(&g, &empty, 1);
        CHECK(rc == -1 && g == NULL && err_get()[0], "cuda_gpt2_init without a GPU fails with a message: %s", err_get());
        SKIP("batched capture, harvest, interventions, resume, eval on the GPU: no GPU (nor the emulator)");
        dir_remove_tree(tmpdir);
        return test_finish();
    }
    int rc = make_model() != 0 || make_tokens() != 0 ? -1 : 0;
    CHECK(rc == 0, "synthetic model (2 layers, C 64, V %d) and a token file of %d ids (%s)", V, NTOK,
          rc ? err_get() : tmpdir);
    CUDAGPT2 *g = NULL;
    if (rc == 0) {
        rc = cuda_gpt2_init(&g, &model, CTX);
        CHECK(rc == 0, "cuda_gpt2_init with max_T = %d (a batch grows the buffers) (%s)", CTX, rc ? err_get() : "");
    }
    if (rc == 0) {
        test_batch(g);
        test_harvest(g);
        make_sae(4 * model.cfg.n_embd, 128, 8, "blocks.1.mlp.hook_pre");
        test_interventions(g);
        test_resume(g);
        test_eval(g);
        test_errors(g);
        sae_free(&sae);
    }
    cuda_gpt2_free(g);
    tokfile_close(&tf);
    gpt2_model_free(&model);
    dir_remove_tree(tmpdir);
    return test_finish();
}
