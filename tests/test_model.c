/*
 * tests/test_model.c - gpt2/model.c: synthesise a tiny checkpoint and load
 * it; hand-built checkpoints (st_writer) for each way a file can differ from
 * openai-community/gpt2's: a "transformer." prefix, lm_head present or tied,
 * attn.bias buffers, no config.json, a wrong or missing tensor.
 */
#include "core/util.h"
#include "gpt2/model.h"
#include "tests/test.h"
#include "tests/test_util.h"
#include "weights/safetensors.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    int L, NH, C, V, n_ctx;
    const char *prefix;   /* "" or "transformer." */
    int lm_head;          /* write lm_head.weight (no prefix, as GPT2LMHeadModel does) */
    int attn_bias;        /* write the h.{i}.attn.bias / masked_bias buffers */
    const char *skip;     /* a tensor to leave out */
    const char *wrong;    /* a tensor to give shape [3, 5] */
    int meta_random;      /* safetensors metadata marker */
    int config;           /* write config.json */
    int config_random;    /* with the random marker */
    int config_n_layer;   /* override n_layer in config.json (0: L) */
} Ckpt;

/* Write dir/model.safetensors (+ config.json): tensor t holds values t_index + k*1e-3. */
static int build(const char *dir, const Ckpt *o) {
    static const char *suffix[12] = {"ln_1.weight", "ln_1.bias", "attn.c_attn.weight", "attn.c_attn.bias",
                                     "attn.c_proj.weight", "attn.c_proj.bias", "ln_2.weight", "ln_2.bias",
                                     "mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight", "mlp.c_proj.bias"};
    int64_t C = o->C;
    int64_t dims[12][2] = {{C, 0}, {C, 0}, {C, 3 * C}, {3 * C, 0}, {C, C},     {C, 0},
                           {C, 0}, {C, 0}, {C, 4 * C}, {4 * C, 0}, {4 * C, C}, {C, 0}};
    int64_t maxn = (int64_t)o->V * C;
    if (4 * C * C > maxn) maxn = 4 * C * C;
    if ((int64_t)o->n_ctx * o->n_ctx > maxn) maxn = (int64_t)o->n_ctx * o->n_ctx;
    int n_t = 5 + 14 * o->L;
    float **bufs = xcalloc((size_t)n_t, sizeof *bufs);
    char (*names)[96] = xcalloc((size_t)n_t, sizeof *names);
    STWriter w;
    st_writer_init(&w);
    st_writer_meta(&w, "format", "pt");
    if (o->meta_random) st_writer_meta(&w, "gpt2sae", "random weights - not GPT-2");
    int k = 0;
    /* add one tensor, filled with k + j*1e-3 so every tensor is recognisable */
#define ADD(pref, d0, d1, ...)                                                                                  \
    do {                                                                                                        \
        char nm[80];                                                                                            \
        snprintf(nm, sizeof nm, __VA_ARGS__);                                                                   \
        snprintf(names[k], sizeof names[k], "%s%s", (pref) ? o->prefix : "", nm);                               \
        if (o->skip && strcmp(nm, o->skip) == 0) break;                                                         \
        int64_t shp[2] = {d0, d1};                                                                              \
        if (o->wrong && strcmp(nm, o->wrong) == 0) shp[0] = 3, shp[1] = 5;                                      \
        int64_t n = shp[0] * (shp[1] ? shp[1] : 1);                                                             \
        bufs[k] = xmalloc((size_t)n * sizeof(float));                                                           \
        for (int64_t j = 0; j < n; j++) bufs[k][j] = (float)k + (float)j * 1e-3f;                               \
        st_writer_add(&w, names[k], shp, shp[1] ? 2 : 1, bufs[k]);                                              \
        k++;                                                                                                    \
    } while (0)
    ADD(1, o->V, C, "wte.weight");
    ADD(1, o->n_ctx, C, "wpe.weight");
    for (int l = 0; l < o->L; l++) {
        for (int s = 0; s < 12; s++) ADD(1, dims[s][0], dims[s][1], "h.%d.%s", l, suffix[s]);
        if (o->attn_bias) {
            ADD(1, o->n_ctx, o->n_ctx, "h.%d.attn.bias", l);
            ADD(1, 1, 0, "h.%d.attn.masked_bias", l);
        }
    }
    ADD(1, C, 0, "ln_f.weight");
    ADD(1, C, 0, "ln_f.bias");
    if (o->lm_head) ADD(0, o->V, C, "lm_head.weight");
#undef ADD
    char *p = path_join(dir, "model.safetensors");
    int rc = path_mkdirs(dir) || st_writer_write(&w, p);
    free(p);
    st_writer_free(&w);
    for (int i = 0; i < n_t; i++) free(bufs[i]);
    free(bufs);
    free(names);
    p = path_join(dir, "config.json");
    unlink(p);
    if (o->config && rc == 0) {
        char js[512];
        int n = snprintf(js, sizeof js,
                         "{\"model_type\": \"gpt2\", \"n_layer\": %d, \"n_head\": %d, \"n_embd\": %d, "
                         "\"n_positions\": %d, \"vocab_size\": %d, \"layer_norm_epsilon\": 1e-05%s}",
                         o->config_n_layer ? o->config_n_layer : o->L, o->NH, o->C, o->n_ctx, o->V,
                         o->config_random ? ", \"gpt2sae_random_weights\": true" : "");
        rc = file_write_atomic(p, js, (size_t)n);
    }
    free(p);
    return rc;
}

static Ckpt tiny(void) {
    return (Ckpt){.L = 2, .NH = 2, .C = 8, .V = 11, .n_ctx = 6, .prefix = "", .config = 1};
}

/* Load dir and expect failure with a message containing want (and want2). */
static void expect_fail(const char *what, const char *dir, const char *want, const char *want2) {
    GPT2Model m;
    int rc = gpt2_model_load(&m, dir);
    CHECK(rc == -1 && strstr(err_get(), want) && (!want2 || strstr(err_get(), want2)) && m.priv == NULL &&
              m.w.h == NULL,
          "%s: %s", what, err_get());
    if (rc == 0) gpt2_model_free(&m);
}

static void test_synth(const char *dir) {
    GPT2Config cfg = {.n_layer = 2, .n_head = 4, .n_embd = 32, .n_ctx = 16, .vocab_size = 100, .ln_eps = 1e-5f};
    char *a = path_join(dir, "synth_a"), *b = path_join(dir, "synth_b"), *c = path_join(dir, "synth_c");
    CHECK(gpt2_model_synth(a, &cfg, 42) == 0, "synth L=2 NH=4 C=32 V=100 n_ctx=16 into %s", a);
    CHECK(gpt2_model_synth(b, &cfg, 42) == 0 && gpt2_model_synth(c, &cfg, 43) == 0, "again with seeds 42 and 43");
    char *fa = path_join(a, "model.safetensors"), *fb = path_join(b, "model.safetensors"),
         *fc = path_join(c, "model.safetensors");
    CHECK(test_files_same(fa, fb), "same seed, byte-identical file");
    CHECK(!test_files_same(fa, fc), "another seed, another file");

    GPT2Model m;
    int rc = gpt2_model_load(&m, a);
    CHECK(rc == 0, "load the folder: %s", rc ? err_get() : "ok");
    if (rc == 0) {
        GPT2Config *g = &m.cfg;
        CHECK(g->n_layer == 2 && g->n_head == 4 && g->n_embd == 32 && g->n_ctx == 16 && g->vocab_size == 100 &&
                  fabsf(g->ln_eps - 1e-5f) < 1e-12f,
              "config read back: L=%d NH=%d C=%d n_ctx=%d V=%d", g->n_layer, g->n_head, g->n_embd, g->n_ctx,
              g->vocab_size);
        CHECK(g->random == 1, "marked as random weights");
        CHECK(strcmp(g->name, "custom") == 0, "named 'custom' (%s)", g->name);
        CHECK(m.w.lm_head == m.w.wte, "no lm_head.weight: output tied to wte");
        /* the loader's pointers are the file's tensors */
        SafeTensors st;
        if (safetensors_open(&st, fa) == 0) {
            const STTensor *t = safetensors_find(&st, "h.1.mlp.c_fc.weight");
            const float *d = t ? safetensors_f32(&st, t) : NULL;
            CHECK(t && t->shape[0] == 32 && t->shape[1] == 128 && d && memcmp(d, m.w.h[1].fcw, 32 * 128 * 4) == 0,
                  "h[1].fcw is h.1.mlp.c_fc.weight [32, 128]");
            safetensors_close(&st);
        }
        /* plausible scales: N(0, 0.02) weights, LayerNorm gains near 1 */
        double s = 0, s2 = 0, g1 = 0;
        int64_t n = 100 * 32;
        for (int64_t k = 0; k < n; k++) s += m.w.wte[k], s2 += (double)m.w.wte[k] * m.w.wte[k];
        for (int k = 0; k < 32; k++) g1 += m.w.h[0].ln1w[k];
        double sd = sqrt(s2 / (double)n - (s / (double)n) * (s / (double)n));
        CHECK(fabs(s / (double)n) < 0.002 && sd > 0.018 && sd < 0.022, "wte mean %.5f std %.5f (want ~0, ~0.02)",
              s / (double)n, sd);
        CHECK(fabs(g1 / 32 - 1) < 0.05, "ln_1.weight mean %.4f (want ~1)", g1 / 32);
        gpt2_model_free(&m);
        gpt2_model_free(&m); /* zeroed: no-op */
    }
    rc = gpt2_model_load(&m, fa);
    CHECK(rc == 0 && m.cfg.n_head == 4 && m.cfg.random, "load the .safetensors path (config.json beside it)");
    if (rc == 0) gpt2_model_free(&m);
    char *cj = path_join(a, "config.json");
    char *text;
    size_t tl;
    CHECK(file_read_all(cj, &text, &tl) == 0 && strstr(text, "\"model_type\": \"gpt2\"") &&
              strstr(text, "\"gpt2sae_random_weights\": true") && strstr(text, "\"activation_function\": \"gelu_new\""),
          "config.json in HF style with the random marker");
    if (tl) free(text);
    /* without config.json, a width that is not a GPT-2 size cannot be guessed */
    unlink(cj);
    rc = gpt2_model_load(&m, a);
    CHECK(rc == -1 && strstr(err_get(), "n_embd 32 is not a GPT-2 size") && strstr(err_get(), "config.json"),
          "without config.json a non-GPT-2 width asks for one: %s", err_get());
    GPT2Config bad = cfg;
    bad.n_head = 5;
    CHECK(gpt2_model_synth(c, &bad, 1) == -1 && strstr(err_get(), "not divisible"), "synth n_embd %% n_head != 0: %s",
          err_get());
    free(cj);
    free(fa);
    free(fb);
    free(fc);
    free(a);
    free(b);
    free(c);
}

static void test_layouts(const char *dir) {
    char *d = path_join(dir, "ck");
    GPT2Model m;
    Ckpt o = tiny();
    int rc;

    o.prefix = "transformer.";
    o.lm_head = 1;
    o.attn_bias = 1;
    o.config_random = 1;
    CHECK(build(d, &o) == 0, "checkpoint with transformer. prefix, lm_head, attn.bias buffers");
    rc = gpt2_model_load(&m, d);
    CHECK(rc == 0, "loads: %s", rc ? err_get() : "ok");
    if (rc == 0) {
        /* tensor index order in build(): wte 0, wpe 1, h.0.* 2..15 (with buffers), ... lm_head last */
        CHECK(m.w.wte[0] == 0.0f && m.w.wpe[0] == 1.0f && m.w.h[0].ln1w[0] == 2.0f && m.w.h[0].qkvw[5] == 4.005f,
              "tensors are matched by name (wte, wpe, h.0.ln_1.weight, h.0.attn.c_attn.weight[5])");
        CHECK(m.w.lm_head != m.w.wte && m.w.lm_head[0] == 32.0f, "lm_head.weight used (%g)", m.w.lm_head[0]);
        CHECK(m.cfg.random == 1, "config.json marker alone marks it random");
        gpt2_model_free(&m);
    }

    o = tiny();
    o.meta_random = 1;
    o.config = 0;
    o.C = 768;
    o.L = 1;
    o.V = 5;
    o.n_ctx = 3;
    CHECK(build(d, &o) == 0, "a width-768 checkpoint without config.json");
    rc = gpt2_model_load(&m, d);
    CHECK(rc == 0 && m.cfg.n_head == 12 && m.cfg.n_layer == 1 && m.cfg.n_embd == 768 && m.cfg.vocab_size == 5 &&
              m.cfg.n_ctx == 3 && m.cfg.random == 1,
          "n_head 12 from n_embd 768, 1 layer counted, V and n_ctx from the tables, metadata marker (%s)",
          rc ? err_get() : "ok");
    if (rc == 0) gpt2_model_free(&m);
    o.meta_random = 0;
    o.C = 1024;
    o.L = 2;
    CHECK(build(d, &o) == 0, "a width-1024 checkpoint without config.json or marker");
    rc = gpt2_model_load(&m, d);
    CHECK(rc == 0 && m.cfg.n_head == 16 && m.cfg.n_layer == 2 && m.cfg.random == 0,
          "n_head 16 from n_embd 1024, 2 layers, not random (%s)", rc ? err_get() : "ok");
    if (rc == 0) gpt2_model_free(&m);

    o = tiny();
    o.wrong = "h.1.mlp.c_fc.weight";
    build(d, &o);
    expect_fail("wrong shape", d, "tensor 'h.1.mlp.c_fc.weight' has shape [3, 5], expected [8, 32]", "model.safetensors");
    o = tiny();
    o.skip = "h.0.attn.c_proj.bias";
    build(d, &o);
    expect_fail("missing tensor", d, "missing tensor 'h.0.attn.c_proj.bias' (expected shape [8])", NULL);
    o = tiny();
    o.prefix = "transformer.";
    o.skip = "ln_f.bias";
    build(d, &o);
    expect_fail("missing tensor, prefixed", d, "missing tensor 'transformer.ln_f.bias'", NULL);
    o = tiny();
    o.lm_head = 1;
    o.wrong = "lm_head.weight";
    build(d, &o);
    expect_fail("wrong lm_head", d, "'lm_head.weight' has shape [3, 5], expected [11, 8]", NULL);
    o = tiny();
    o.config_n_layer = 3;
    build(d, &o);
    expect_fail("config says 3 layers, file has 2", d, "missing tensor 'h.2.ln_1.weight'", NULL);
    o = tiny();
    o.NH = 3;
    build(d, &o);
    expect_fail("n_head does not divide n_embd", d, "not divisible by n_head 3", NULL);
    o = tiny();
    o.skip = "wte.weight";
    build(d, &o);
    expect_fail("no wte", d, "wte.weight", "GPT-2 checkpoint");
    char *cj = path_join(d, "config.json");
    o = tiny();
    build(d, &o);
    file_write_atomic(cj, "{\"n_layer\": 2, \"n_embd\": 8}", 27);
    expect_fail("config.json without n_head", d, "config.json: missing \"n_head\"", NULL);
    const char *huge = "{\"n_layer\": 100000000, \"n_embd\": 8, \"n_head\": 2}";
    file_write_atomic(cj, huge, strlen(huge));
    expect_fail("n_layer 100,000,000 for a 2-layer file", d, "n_layer 100000000, but the file holds only", NULL);
    file_write_atomic(cj, "{\"n_layer\": 2,", 14);
    expect_fail("config.json not JSON", d, "config.json", "invalid JSON");
    const char *negpos = "{\"n_layer\": 2, \"n_embd\": 8, \"n_head\": 2, \"n_positions\": -1}";
    file_write_atomic(cj, negpos, strlen(negpos));
    expect_fail("negative n_positions", d, "\"n_positions\" is not a positive integer", NULL);
    char *st = path_join(d, "model.safetensors");
    unlink(st);
    expect_fail("folder without model.safetensors", d, "no model.safetensors", NULL);
    expect_fail("no such path", "/nonexistent/gpt2sae/model.safetensors", "/nonexistent/gpt2sae/model.safetensors",
                NULL);
    unlink(cj);
    rmdir(d);
    free(st);
    free(cj);
    free(d);
}

static void test_named(void) {
    static const struct {
        const char *name;
        int L, NH, C;
    } want[] = {{"gpt2", 12, 12, 768},
                {"gpt2-medium", 24, 16, 1024},
                {"gpt2-large", 36, 20, 1280},
                {"gpt2-xl", 48, 25, 1600},
                {"distilgpt2", 6, 12, 768}};
    for (int i = 0; i < 5; i++) {
        GPT2Config c;
        int rc = gpt2_config_named(&c, want[i].name);
        CHECK(rc == 0 && c.n_layer == want[i].L && c.n_head == want[i].NH && c.n_embd == want[i].C &&
                  c.vocab_size == 50257 && c.n_ctx == 1024 && strcmp(c.name, want[i].name) == 0 && !c.random,
              "named config %s: L=%d NH=%d C=%d", want[i].name, c.n_layer, c.n_head, c.n_embd);
    }
    GPT2Config c;
    CHECK(gpt2_config_named(&c, "gpt3") == -1, "unknown name gpt3 is refused");
}

int main(void) {
    char dir[] = "/tmp/gpt2sae_test_model_XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "temporary folder %s", dir);
    test_named();
    test_synth(dir);
    test_layouts(dir);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) printf("  (could not remove %s)\n", dir);
    return test_finish();
}
