/*
 * tests/test_cuda_generate.c - generation on the GPU (cuda/cuda_decode.cu)
 * against the CPU's (gpt2_forward_cached, gpt2_generate):
 *   - cuda_attention_kv_forward against attention_forward_kv (gpt2/ops.c) at
 *     several (T new, P cached) shapes, one and two heads; cuda_add_rows
 *     against the plain loop (exact); the one-row products (matvec,
 *     logits_row) against matmul_forward and logits_forward with T = 1;
 *   - a prompt and 40 greedy steps on a small random model (hash_model: 2
 *     layers, 2 heads of 64): the logits at every step against the CPU's
 *     cached pass, and the greedy token of every step equal; then the same
 *     with steering: random vectors at resid_pre and mlp_pre on the device,
 *     the same vectors in CPU hooks; and an SAE's EVAL_STEER on the CPU
 *     against cuda_decoder_add_directions of its W_dec rows;
 *   - gpt2_generate with the decoder: greedy and temperature-0 tokens equal
 *     the CPU's; seeded samples at temperature 1 and top-k (3 samples each,
 *     the cache rewound between them) equal the CPU's tokens;
 *   - errors: a position past the cache, the context full, an id outside the
 *     vocabulary, CPU hooks given with a decoder;
 *   - on a real GPU only: a GPT-2-small-shaped random model, 24 steps
 *     against the CPU, then RESULT lines with the decode speed (no assert).
 * Tolerance, FP32 on both sides (summation order and the device's FMA
 * differ): logits |gpu - cpu| <= 1e-4 + 1e-4 |cpu| (GPT-2 small's 12 layers:
 * 1e-3, and a greedy step may differ where the CPU's top two tie to within
 * the rounding); attention atol 2e-5
 * rtol 1e-4; matvec, logits_row atol 1e-5 rtol 1e-4. Without a GPU (or the emulator) the GPU checks are skipped and
 * only the API's clean failure is checked.
 */
#include "core/util.h"
#include "cuda/cuda.h"
#include "eval/intervene.h"
#include "gpt2/generate.h"
#include "gpt2/gpt2.h"
#include "gpt2/ops.h"
#include "sae/sae.h"
#include "tests/hash_model.h"
#include "tests/test.h"
#include "tests/test_cuda.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- the kernels ---- */

static void test_kernels(void) {
    static const int TP[][2] = {{1, 1}, {1, 9}, {1, 130}, {5, 5}, {3, 40}, {17, 100}};
    for (int NH = 1; NH <= 2; NH++) {
        const int C = 64 * NH;
        for (size_t k = 0; k < sizeof TP / sizeof TP[0]; k++) {
            int T = TP[k][0], P = TP[k][1];
            float *qkv = rand_vec((long)T * 3 * C, 2.0f), *K = rand_vec((long)P * C, 2.0f);
            float *Vv = rand_vec((long)P * C, 1.0f);
            float *ref = xmalloc((size_t)T * C * sizeof(float)), *att = xmalloc((size_t)NH * T * P * sizeof(float));
            attention_forward_kv(ref, att, qkv, K, Vv, T, P, C, NH);
            float *d_qkv = dev_from(qkv, (size_t)T * 3 * C * sizeof(float));
            float *d_k = dev_from(K, (size_t)P * C * sizeof(float)), *d_v = dev_from(Vv, (size_t)P * C * sizeof(float));
            float *d_out = dev_poisoned((size_t)T * C * sizeof(float));
            int rc = cuda_attention_kv_forward(d_out, d_qkv, d_k, d_v, T, P, C, NH);
            float *got = host_from(d_out, (long)T * C);
            char name[128];
            snprintf(name, sizeof name, "attention_kv T=%d P=%d C=%d NH=%d vs attention_forward_kv", T, P, C, NH);
            CHECK(rc == 0, "%s: runs (%s)", name, rc ? err_get() : "ok");
            check_close(name, got, ref, (long)T * C, 2e-5f, 1e-4f);
            cuda_free(d_qkv), cuda_free(d_k), cuda_free(d_v), cuda_free(d_out);
            free(qkv), free(K), free(Vv), free(ref), free(att), free(got);
        }
    }
    /* add_rows: one float addition per element, exactly the loop's */
    int T = 7, W = 300;
    float *act = rand_vec((long)T * W, 3.0f), *vec = rand_vec(W, 1.0f);
    float *d_act = dev_from(act, (size_t)T * W * sizeof(float)), *d_vec = dev_from(vec, (size_t)W * sizeof(float));
    CHECK(cuda_add_rows(d_act, d_vec, T, W) == 0, "add_rows runs");
    float *got = host_from(d_act, (long)T * W);
    for (int t = 0; t < T; t++)
        for (int i = 0; i < W; i++) act[(long)t * W + i] += vec[i];
    check_close("add_rows (7, 300) = the loop, exactly", got, act, (long)T * W, 0.0f, 0.0f);
    cuda_free(d_act), cuda_free(d_vec);
    free(act), free(vec), free(got);

    /* one row: matvec (with and without a bias) and logits, odd sizes too */
    static const int CO[][2] = {{64, 192}, {300, 77}, {768, 2304}, {1, 33}};
    for (size_t k = 0; k < sizeof CO / sizeof CO[0]; k++) {
        int C = CO[k][0], OC = CO[k][1];
        float *x = rand_vec(C, 1.0f), *w = rand_vec((long)C * OC, 0.1f), *b = rand_vec(OC, 0.5f);
        float *ref = xmalloc((size_t)OC * sizeof(float));
        float *d_x = dev_from(x, (size_t)C * sizeof(float)), *d_w = dev_from(w, (size_t)C * OC * sizeof(float));
        float *d_b = dev_from(b, (size_t)OC * sizeof(float)), *d_o = NULL;
        cuda_malloc((void **)&d_o, (size_t)OC * sizeof(float));
        char name[128];
        for (int with_bias = 0; with_bias <= 1; with_bias++) {
            matmul_forward(ref, x, w, with_bias ? b : NULL, 1, C, OC);
            cuda_memset(d_o, 0xff, (size_t)OC * sizeof(float));
            int rc = cuda_matvec_forward(d_o, d_x, d_w, with_bias ? d_b : NULL, C, OC);
            float *o = host_from(d_o, OC);
            snprintf(name, sizeof name, "matvec C=%d OC=%d%s vs matmul_forward (T 1)", C, OC, with_bias ? " + bias" : "");
            CHECK(rc == 0, "%s: runs", name);
            check_close(name, o, ref, OC, 1e-5f, 1e-4f);
            free(o);
        }
        /* logits: w read as (OC, C) rows */
        logits_forward(ref, x, w, 1, C, OC);
        cuda_memset(d_o, 0xff, (size_t)OC * sizeof(float));
        int rc = cuda_logits_row_forward(d_o, d_x, d_w, C, OC);
        float *o = host_from(d_o, OC);
        snprintf(name, sizeof name, "logits_row C=%d V=%d vs logits_forward (T 1)", C, OC);
        CHECK(rc == 0, "%s: runs", name);
        check_close(name, o, ref, OC, 1e-5f, 1e-4f);
        free(o);
        cuda_free(d_x), cuda_free(d_w), cuda_free(d_b), cuda_free(d_o);
        free(x), free(w), free(b), free(ref);
    }
}

/* ---- the decoder against the CPU's cached pass, step by step ---- */

static int add_vec_hook(void *user, const GPT2HookCtx *c, float *act) {
    const float *vec = user; /* (width) */
    for (int t = 0; t < c->T; t++)
        for (int i = 0; i < c->width; i++) act[(long)t * c->width + i] += vec[i];
    return 0;
}

static int argmax(const float *x, int n) {
    int b = 0;
    for (int j = 1; j < n; j++)
        if (x[j] > x[b]) b = j;
    return b;
}

/* A prompt of T tokens, then `steps` greedy steps on both; the CPU's token
 * is fed to both so they stay on one text. Checks the logits of every step
 * (|gpu - cpu| <= tol + tol |cpu|) and that the two argmaxes agree at every
 * step; with `ties`, a step whose CPU top two are closer than twice that
 * step's largest difference may disagree (a tie to rounding: counted and
 * printed). f holds the CPU's hooks, d the device's steering. */
static void decode_vs_cpu(const char *what, GPT2Model *m, GPT2Forward *f, CUDADecoder *d, int T, int steps, double tol,
                          int ties) {
    const int V = m->cfg.vocab_size;
    GPT2KVCache kv;
    if (gpt2_kv_init(&kv, &m->cfg) != 0) {
        CHECK(0, "%s: KV cache: %s", what, err_get());
        return;
    }
    int32_t *ids = xmalloc((size_t)(T + steps) * sizeof(int32_t));
    for (int t = 0; t < T; t++) ids[t] = (7 * t + 3) % V;
    float *lc = xmalloc((size_t)V * sizeof(float)), *lg = xmalloc((size_t)V * sizeof(float));
    double worst = 0, scale = 0;
    int n = T, same = 0, ran = 0, worst_step = -1, near = 0;
    int rc = gpt2_forward_cached(f, &kv, ids, T, lc, 1);
    int rd = cuda_decoder_run(d, ids, T, 0, lg);
    for (int s = 0; s < steps && rc == 0 && rd == 0; s++) {
        double step_diff = 0;
        for (int j = 0; j < V; j++) {
            double e = fabs((double)lg[j] - lc[j]);
            if (!(e <= step_diff)) step_diff = e;
            if (!(e - tol * fabs((double)lc[j]) <= worst)) worst = e - tol * fabs((double)lc[j]), worst_step = s;
            if (fabs(lc[j]) > scale) scale = fabs(lc[j]);
        }
        int tc = argmax(lc, V), tg = argmax(lg, V), second = tc == 0 ? 1 : 0;
        for (int j = 0; j < V; j++)
            if (j != tc && lc[j] > lc[second]) second = j;
        int tie = ties && lc[tc] - lc[second] <= 2 * step_diff;
        near += tie;
        same += tc == tg || tie;
        ran++;
        ids[n++] = tc;
        rc = gpt2_forward_cached(f, &kv, &ids[n - 1], 1, lc, 1);
        rd = cuda_decoder_run(d, &ids[n - 1], 1, n - 1, lg);
    }
    CHECK(rc == 0 && rd == 0 && ran == steps, "%s: prompt %d + %d steps run on both (%s)", what, T, steps,
          rc || rd ? err_get() : "ok");
    CHECK(worst <= tol, "%s: logits at every step: max (|gpu - cpu| - %.0e |cpu|) = %.3g <= %.0e (step %d; logits "
          "up to %.3g)", what, tol, worst, tol, worst_step, scale);
    CHECK(same == steps, "%s: the greedy token agrees at %d of %d steps (%d a tie to rounding)", what, same, steps,
          near);
    gpt2_kv_free(&kv);
    free(ids), free(lc), free(lg);
}

/* m's weights on the device and a decoder on them; a failed check and -1 if not */
static int open_decoder(const GPT2Model *m, CUDAGPT2 **g, CUDADecoder **d) {
    *g = NULL, *d = NULL;
    if (cuda_gpt2_init(g, m, 1) == 0 && cuda_decoder_init(d, *g) == 0) return 0;
    CHECK(0, "%s: decoder init: %s", m->cfg.name, err_get());
    cuda_gpt2_free(*g);
    *g = NULL;
    return -1;
}

static void test_decoder(GPT2Model *m) {
    const int C = m->cfg.n_embd, T = 6, STEPS = EMULATED ? 24 : 40;
    CUDAGPT2 *g;
    CUDADecoder *d;
    if (open_decoder(m, &g, &d) != 0) return;
    GPT2Forward f;
    gpt2_forward_init(&f, m);
    decode_vs_cpu("plain", m, &f, d, T, STEPS, 1e-4, 0);

    /* steering: the same vectors at resid_pre of block 1 and mlp_pre of block 0 */
    float *v1 = rand_vec(C, 1.0f), *v2 = rand_vec(4 * C, 0.5f);
    gpt2_forward_add_hook(&f, 1, GPT2_RESID_PRE, add_vec_hook, v1);
    gpt2_forward_add_hook(&f, 0, GPT2_MLP_PRE, add_vec_hook, v2);
    CHECK(cuda_decoder_add(d, 1, GPT2_RESID_PRE, v1) == 0 && cuda_decoder_add(d, 0, GPT2_MLP_PRE, v2) == 0,
          "steering vectors added on the device");
    decode_vs_cpu("steered (resid_pre 1, mlp_pre 0)", m, &f, d, T, STEPS, 1e-4, 0);
    gpt2_forward_free(&f);
    cuda_decoder_free(d);
    d = NULL;

    /* an SAE's latents: EVAL_STEER on the CPU, its W_dec rows on the device */
    SAEParams sp = sae_default_params();
    sp.latents = 96, sp.k = 8;
    SAE sae;
    sae_init(&sae, 4 * C, &sp);
    EvalSAE es;
    eval_sae_wrap(&es, &sae, m->cfg.name, "blocks.1.mlp.hook_pre");
    EvalLatent lat[2] = {{5, 4.0f}, {77, -2.5f}};
    EvalIntervention iv = eval_intervention(EVAL_STEER, &es);
    iv.latents = lat, iv.n_latents = 2;
    gpt2_forward_init(&f, m);
    int rows[2] = {5, 77};
    float coef[2] = {4.0f, -2.5f};
    if (eval_intervention_add(&f, &iv) != 0 || cuda_decoder_init(&d, g) != 0 ||
        cuda_decoder_add_directions(d, 1, GPT2_MLP_PRE, es.W_dec, rows, coef, 2) != 0)
        CHECK(0, "SAE steering set up: %s", err_get());
    else
        decode_vs_cpu("SAE steer (latents 5:4, 77:-2.5 at blocks.1.mlp.hook_pre)", m, &f, d, T, STEPS, 1e-4, 0);
    gpt2_forward_free(&f);
    eval_intervention_free(&iv);
    sae_free(&sae);
    cuda_decoder_free(d);
    free(v1), free(v2);
    cuda_gpt2_free(g);
}

/* ---- gpt2_generate with the decoder ---- */

static void test_generate(GPT2Model *m) {
    CUDAGPT2 *g;
    CUDADecoder *d;
    if (open_decoder(m, &g, &d) != 0) return;
    GPT2Decoder dec = cuda_decoder_view(d);
    int32_t prompt[5] = {1, 17, 42, 3, 60};
    struct {
        const char *name;
        float temperature;
        int greedy, top_k, n_samples;
    } cases[] = {{"greedy", 1.0f, 1, 0, 1},
                 {"temperature 0", 0.0f, 0, 0, 2},
                 {"temperature 1, seed 5", 1.0f, 0, 0, 3},
                 {"temperature 0.8, top-k 10, seed 5", 0.8f, 0, 10, 3}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        GPT2GenParams p = gpt2_gen_default_params();
        p.sampler.temperature = cases[c].temperature;
        p.sampler.greedy = cases[c].greedy;
        p.sampler.top_k = cases[c].top_k;
        p.n_samples = cases[c].n_samples;
        p.max_new = EMULATED ? 16 : 30;
        p.seed = 5;
        GPT2Forward f;
        gpt2_forward_init(&f, m);
        GPT2Generation a = {0}, b = {0};
        int ra = gpt2_generate(&f, prompt, 5, &p, &a);
        p.decoder = &dec;
        int rb = gpt2_generate(&f, prompt, 5, &p, &b);
        int same = ra == 0 && rb == 0, differ = 0;
        for (int s = 0; same && s < a.n_samples; s++) {
            same = a.n[s] == b.n[s] && memcmp(a.tokens[s], b.tokens[s], (size_t)a.n[s] * sizeof(int32_t)) == 0;
            if (s > 0) differ |= a.n[s] != a.n[0] || memcmp(a.tokens[s], a.tokens[0], (size_t)a.n[0] * 4) != 0;
        }
        CHECK(same, "generate %s: the device's %d sample%s of %d tokens = the CPU's (%s)", cases[c].name,
              p.n_samples, p.n_samples > 1 ? "s" : "", p.max_new, ra || rb ? err_get() : "ok");
        if (cases[c].temperature > 0 && !cases[c].greedy)
            CHECK(differ, "  ... and the samples differ from each other (so the rewound cache is checked)");
        gpt2_generation_free(&a);
        gpt2_generation_free(&b);
        gpt2_forward_free(&f);
    }
    /* errors */
    float *lg = xmalloc((size_t)m->cfg.vocab_size * sizeof(float));
    int32_t one = 4, bad = m->cfg.vocab_size;
    cuda_decoder_run(d, prompt, 5, 0, lg);
    CHECK(cuda_decoder_run(d, &one, 1, 7, lg) != 0 && strstr(err_get(), "position 7"),
          "a position past the cache is refused: %s", err_get());
    int32_t many[64] = {0};
    CHECK(cuda_decoder_run(d, many, 60, 0, lg) == 0 && cuda_decoder_run(d, many, 5, 60, lg) != 0 &&
              strstr(err_get(), "context is full"),
          "60 tokens, then 5 more past n_ctx = 64 are refused: %s", err_get());
    CHECK(cuda_decoder_run(d, &bad, 1, 5, lg) != 0 && strstr(err_get(), "outside the vocabulary"),
          "an id outside the vocabulary is refused: %s", err_get());
    GPT2Forward f;
    gpt2_forward_init(&f, m);
    float zero[4096] = {0};
    gpt2_forward_add_hook(&f, 0, GPT2_RESID_PRE, add_vec_hook, zero);
    GPT2GenParams p = gpt2_gen_default_params();
    p.decoder = &dec;
    GPT2Generation gen = {0};
    CHECK(gpt2_generate(&f, prompt, 5, &p, &gen) != 0 && strstr(err_get(), "hook"),
          "CPU hooks with a decoder are refused: %s", err_get());
    gpt2_generation_free(&gen);
    gpt2_forward_free(&f);
    free(lg);
    cuda_decoder_free(d);
    cuda_gpt2_free(g);
}

/* ---- GPT-2 small's shape on a real GPU: agreement, then speed ---- */

static void test_gpt2_small(void) {
    GPT2Model m;
    float *store = hash_model(&m, 12, 12, 768, 50257, 1024, 0.03f);
    CUDAGPT2 *g;
    CUDADecoder *d;
    if (open_decoder(&m, &g, &d) == 0) {
        GPT2Forward f;
        gpt2_forward_init(&f, &m);
        /* 12 layers: test_cuda.c's whole-forward tolerance, 1e-3 */
        decode_vs_cpu("GPT-2 small shape (12 x 768, V 50257)", &m, &f, d, 16, 24, 1e-3, 1);
        gpt2_forward_free(&f);
        /* speed: a 128-token prompt, then 512 steps (tokens/s of the steps alone) */
        int32_t ids[128];
        for (int t = 0; t < 128; t++) ids[t] = (31 * t + 7) % 50257;
        float *lg = xmalloc(50257 * sizeof(float));
        double t0 = time_now();
        int rc = cuda_decoder_run(d, ids, 128, 0, lg);
        double t1 = time_now();
        int32_t tok = 11;
        for (int s = 0; s < 512 && rc == 0; s++) {
            rc = cuda_decoder_run(d, &tok, 1, 128 + s, lg);
            tok = argmax(lg, 50257);
        }
        double t2 = time_now();
        CHECK(rc == 0, "GPT-2 small: 128-token prompt and 512 decode steps run (%s)", rc ? err_get() : "ok");
        printf("RESULT cuda_decode gpt2-small prefill 128 tokens: %.2f ms (%.0f tokens/s)\n", (t1 - t0) * 1e3,
               128 / (t1 - t0));
        printf("RESULT cuda_decode gpt2-small decode steps 129..640: %.0f tokens/s (%.3f ms/token, logits to host)\n",
               512 / (t2 - t1), (t2 - t1) * 1e3 / 512);
        free(lg);
    }
    cuda_decoder_free(d);
    cuda_gpt2_free(g);
    free(m.w.h);
    free(store);
}

int main(void) {
    test_cuda_start(20);
    GPT2Model m;
    float *store = hash_model(&m, 2, 2, 128, 97, 64, 0.25f); /* 2 heads of 64: the CUDA attention's head size */
    if (!gpu) {
        CUDAGPT2 *g = NULL;
        CUDADecoder *d = NULL;
        int rc = cuda_gpt2_init(&g, &m, 1);
        CHECK(rc != 0 && err_get()[0], "no GPU: cuda_gpt2_init fails with a message (%s)", err_get());
        CHECK(cuda_decoder_init(&d, g) != 0 && d == NULL && err_get()[0],
              "no GPU: cuda_decoder_init fails with a message (%s)", err_get());
        SKIP("the decode kernels, the decoder and generation on the GPU: no GPU");
    } else {
        test_kernels();
        test_decoder(&m);
        test_generate(&m);
        if (!EMULATED && !getenv("GPT2SAE_CUDA_QUICK")) test_gpt2_small();
        else SKIP("GPT-2 small's shape and the speed: %s", EMULATED ? "emulated (minutes)" : "GPT2SAE_CUDA_QUICK");
    }
    free(m.w.h);
    free(store);
    return test_finish();
}
