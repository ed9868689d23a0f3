/*
 * gpt2/model.c - load a GPT-2 checkpoint (Hugging Face layout) and write
 * random ones. See model.h.
 *
 * Loading: open model.safetensors (mmap), read config.json beside it when
 * present (else recognise the size from n_embd and count the blocks), then
 * look up every tensor by name and check its shape. Tensors we do not use
 * (attn.bias / attn.masked_bias buffers, anything else) are ignored; a
 * missing tensor or a wrong shape is an error naming it and the shape wanted.
 *
 * Synthesis: the same names and shapes with random values (N(0, 0.02)
 * weights, LayerNorm gains near 1), streamed to disk tensor by tensor so a
 * 500 MB GPT-2 small never sits in memory. Marked as random in config.json and
 * in the safetensors metadata, so nothing computed on it passes for GPT-2.
 */
#include "gpt2/model.h"

#include "core/cleanup.h"
#include "core/json.h"
#include "core/util.h"
#include "weights/safetensors.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define RANDOM_META_KEY "gpt2sae"
#define RANDOM_META_VAL "random weights - not GPT-2"
#define RANDOM_CFG_KEY "gpt2sae_random_weights"

typedef struct {
    SafeTensors st;
} ModelPriv;

static const struct {
    const char *name;
    int n_layer, n_head, n_embd;
} named[] = {
    {"gpt2", 12, 12, 768},   {"gpt2-medium", 24, 16, 1024}, {"gpt2-large", 36, 20, 1280},
    {"gpt2-xl", 48, 25, 1600}, {"distilgpt2", 6, 12, 768},
};
#define N_NAMED (int)(sizeof named / sizeof named[0])

int gpt2_config_named(GPT2Config *cfg, const char *name) {
    for (int i = 0; i < N_NAMED; i++) {
        if (strcmp(name, named[i].name) != 0) continue;
        memset(cfg, 0, sizeof *cfg);
        cfg->n_layer = named[i].n_layer;
        cfg->n_head = named[i].n_head;
        cfg->n_embd = named[i].n_embd;
        cfg->n_ctx = 1024;
        cfg->vocab_size = 50257;
        cfg->ln_eps = 1e-5f;
        snprintf(cfg->name, sizeof cfg->name, "%s", name);
        return 0;
    }
    return -1;
}

/* The named size these dimensions are, or "custom". */
static void config_name(GPT2Config *cfg) {
    snprintf(cfg->name, sizeof cfg->name, "custom");
    for (int i = 0; i < N_NAMED; i++)
        if (cfg->n_layer == named[i].n_layer && cfg->n_head == named[i].n_head && cfg->n_embd == named[i].n_embd &&
            cfg->vocab_size == 50257 && cfg->n_ctx == 1024)
            snprintf(cfg->name, sizeof cfg->name, "%s", named[i].name);
}

static int config_check(const GPT2Config *c, const char *where) {
    if (c->n_layer < 1 || c->n_head < 1 || c->n_embd < 1 || c->n_ctx < 1 || c->vocab_size < 1)
        return err_set("%s: n_layer, n_head, n_embd, n_ctx and vocab_size must all be positive "
                       "(got %d, %d, %d, %d, %d)",
                       where, c->n_layer, c->n_head, c->n_embd, c->n_ctx, c->vocab_size);
    if (c->n_embd % c->n_head != 0)
        return err_set("%s: n_embd %d is not divisible by n_head %d", where, c->n_embd, c->n_head);
    if (!(c->ln_eps > 0) || !isfinite(c->ln_eps)) return err_set("%s: layer_norm_epsilon must be positive", where);
    return 0;
}

/* ---- config.json ------------------------------------------------------------ */

static int json_int_field(const JSON *root, const char *path, const char *key, int *out, int required) {
    const JSON *v = json_get(root, key);
    long long x;
    if (!v) return required ? err_set("%s: missing \"%s\"", path, key) : 1;
    if (json_as_int(v, &x) != 0 || x < 1 || x > 100000000)
        return err_set("%s: \"%s\" is not a positive integer", path, key);
    *out = (int)x;
    return 0;
}

/* Read HF's config.json into cfg (fields left 0 when absent: the caller fills
 * them from the tensors). */
static int config_read(GPT2Config *cfg, const char *path) {
    JSON root;
    if (json_parse_file(&root, path) != 0) return -1;
    if (root.type != JSON_OBJECT) {
        json_free(&root);
        return err_set("%s: not a JSON object", path);
    }
    /* n_positions is the table size; older configs carry only n_ctx */
    int pos = 0;
    if (json_int_field(&root, path, "n_layer", &cfg->n_layer, 1) < 0 ||
        json_int_field(&root, path, "n_head", &cfg->n_head, 1) < 0 ||
        json_int_field(&root, path, "n_embd", &cfg->n_embd, 1) < 0 ||
        json_int_field(&root, path, "vocab_size", &cfg->vocab_size, 0) < 0 ||
        (pos = json_int_field(&root, path, "n_positions", &cfg->n_ctx, 0)) < 0 ||
        (pos == 1 && json_int_field(&root, path, "n_ctx", &cfg->n_ctx, 0) < 0)) {
        json_free(&root);
        return -1;
    }
    const JSON *eps = json_get(&root, "layer_norm_epsilon");
    if (eps) {
        if (eps->type != JSON_NUMBER || !(eps->number > 0) || eps->number > 1) {
            json_free(&root);
            return err_set("%s: \"layer_norm_epsilon\" is not a small positive number", path);
        }
        cfg->ln_eps = (float)eps->number;
    }
    const JSON *rnd = json_get(&root, RANDOM_CFG_KEY);
    if (rnd && rnd->type == JSON_BOOL && rnd->boolean) cfg->random = 1;
    json_free(&root);
    return 0;
}

/* ---- tensors ------------------------------------------------------------------ */

typedef struct {
    ModelPriv *p;
    const char *file;   /* for messages */
    const char *prefix; /* "" or "transformer." */
} Loader;

static const STTensor *find(Loader *ld, const char *name) {
    char full[256];
    snprintf(full, sizeof full, "%s%s", ld->prefix, name);
    return safetensors_find(&ld->p->st, full);
}

/* The index of the first NaN or infinity in w[0..n), or -1. One pass over the
 * weights (their pages are read from the file here, once, instead of during
 * the first forward pass): blocks are OR-reduced without branches so the
 * compiler vectorises the loop, and only a block with a bad value is
 * searched element by element. */
static int64_t first_nonfinite(const float *w, int64_t n) {
    const uint32_t *u = (const uint32_t *)w;   /* the bits: exponent all ones = NaN or inf */
    enum { B = 4096 };
    for (int64_t i = 0; i < n; i += B) {
        int64_t m = n - i < B ? n - i : B;
        uint32_t worst = 0;
        for (int64_t j = 0; j < m; j++) {
            uint32_t a = u[i + j] & 0x7fffffffu;
            worst = a > worst ? a : worst;
        }
        if (worst >= 0x7f800000u)
            for (int64_t j = 0; j < m; j++)
                if ((u[i + j] & 0x7fffffffu) >= 0x7f800000u) return i + j;
    }
    return -1;
}

/* Map the pages of w (n bytes, in the file's mapping or a converted copy) in
 * one call before they are read: MADV_POPULATE_READ fills the page tables
 * from the page cache at once (reading the file in where it is not cached)
 * instead of one page fault per 64 KB as the scan below walks them. Kernels
 * before 5.14 refuse it; MADV_WILLNEED then at least starts the reads. */
static void advise_read(const void *w, size_t n) {
    long pg = sysconf(_SC_PAGESIZE);
    uintptr_t a = (uintptr_t)w & ~(uintptr_t)(pg - 1), e = (uintptr_t)w + n;
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif
    if (n == 0 || madvise((void *)a, e - a, MADV_POPULATE_READ) == 0) return;
    madvise((void *)a, e - a, MADV_WILLNEED);
}

/* The tensor `name` as F32, checked to have shape [d0] or [d0, d1] (d1 = 0 for 1-D). */
static const float *get(Loader *ld, const char *name, int64_t d0, int64_t d1, int *rc) {
    if (*rc) return NULL;
    int ndim = d1 ? 2 : 1;
    char want[64];
    if (ndim == 2) snprintf(want, sizeof want, "[%lld, %lld]", (long long)d0, (long long)d1);
    else snprintf(want, sizeof want, "[%lld]", (long long)d0);
    const STTensor *t = find(ld, name);
    if (!t) {
        *rc = err_set("%s: missing tensor '%s%s' (expected shape %s); is this a GPT-2 checkpoint?", ld->file,
                      ld->prefix, name, want);
        return NULL;
    }
    if (t->ndim != ndim || t->shape[0] != d0 || (ndim == 2 && t->shape[1] != d1)) {
        char got[160];
        int o = snprintf(got, sizeof got, "[");
        for (int d = 0; d < t->ndim && o < (int)sizeof got; d++)
            o += snprintf(got + o, sizeof got - (size_t)o, "%s%lld", d ? ", " : "", (long long)t->shape[d]);
        if (o < (int)sizeof got) snprintf(got + o, sizeof got - (size_t)o, "]");
        *rc = err_set("%s: tensor '%s' has shape %s, expected %s (does config.json match the weights?)", ld->file,
                      t->name, got, want);
        return NULL;
    }
    const float *w = safetensors_f32(&ld->p->st, t);
    if (!w) {
        *rc = -1;
        return NULL;
    }
    advise_read(w, (size_t)t->numel * sizeof(float));
    int64_t bad = first_nonfinite(w, t->numel);
    if (bad >= 0) {
        char at[64];
        if (ndim == 2) snprintf(at, sizeof at, "[%lld, %lld]", (long long)(bad / d1), (long long)(bad % d1));
        else snprintf(at, sizeof at, "[%lld]", (long long)bad);
        *rc = err_set("%s: tensor '%s' holds %s at index %s (flat %lld): the weights are damaged; "
                      "download or write them again",
                      ld->file, t->name, isnan(w[bad]) ? "NaN" : "an infinity", at, (long long)bad);
        return NULL;
    }
    return w;
}

int gpt2_model_load(GPT2Model *m, const char *path) {
    memset(m, 0, sizeof *m);
    char *st_path, *cfg_path;
    if (path_is_dir(path)) {
        st_path = path_join(path, "model.safetensors");
        cfg_path = path_join(path, "config.json");
    } else {
        st_path = xstrdup(path);
        char *dir = path_dir(path);
        cfg_path = strcmp(dir, ".") ? path_join(dir, "config.json") : xstrdup("config.json");
        free(dir);
    }
    ModelPriv *p = xcalloc(1, sizeof *p);
    m->priv = p;
    m->path = st_path;
    int rc = 0;
    if (safetensors_open(&p->st, st_path) != 0) {
        if (path_is_dir(path) && !path_is_file(st_path))
            err_set("%s: no model.safetensors in this folder (use ./run fetch, or ./run synth -o %s)", path, path);
        rc = -1;
        goto out;
    }
    Loader ld = {p, st_path, ""};
    if (!safetensors_find(&p->st, "wte.weight") && safetensors_find(&p->st, "transformer.wte.weight"))
        ld.prefix = "transformer.";
    const STTensor *wte = find(&ld, "wte.weight"), *wpe = find(&ld, "wpe.weight");
    if (!wte || wte->ndim != 2 || !wpe || wpe->ndim != 2) {
        rc = err_set("%s: tensor '%s' missing or not 2-D (expected [vocab_size, n_embd] and [n_ctx, n_embd]); "
                     "is this a GPT-2 checkpoint?",
                     st_path, !wte || wte->ndim != 2 ? "wte.weight" : "wpe.weight");
        goto out;
    }

    GPT2Config *c = &m->cfg;
    c->ln_eps = 1e-5f;
    if (path_is_file(cfg_path)) {
        if (config_read(c, cfg_path) != 0) {
            rc = -1;
            goto out;
        }
    } else {
        /* no config.json: the GPT-2 family is recognised from n_embd, the depth from the blocks present */
        c->n_embd = (int)wte->shape[1];
        static const int sizes[][2] = {{768, 12}, {1024, 16}, {1280, 20}, {1600, 25}};
        for (int i = 0; i < 4; i++)
            if (c->n_embd == sizes[i][0]) c->n_head = sizes[i][1];
        if (!c->n_head) {
            rc = err_set("%s: no config.json beside it, and n_embd %d is not a GPT-2 size (768, 1024, 1280, "
                         "1600): put a config.json with n_head, n_layer, n_embd next to it",
                         st_path, c->n_embd);
            goto out;
        }
        char name[64];
        for (c->n_layer = 0;; c->n_layer++) {
            snprintf(name, sizeof name, "h.%d.ln_1.weight", c->n_layer);
            if (!find(&ld, name)) break;
        }
        if (c->n_layer == 0) {
            rc = err_set("%s: missing tensor '%sh.0.ln_1.weight' (no transformer blocks found)", st_path, ld.prefix);
            goto out;
        }
    }
    if (!c->vocab_size) c->vocab_size = (int)wte->shape[0];
    if (!c->n_ctx) c->n_ctx = (int)wpe->shape[0];
    if (config_check(c, st_path) != 0) {
        rc = -1;
        goto out;
    }
    const char *mv = safetensors_meta(&p->st, RANDOM_META_KEY);
    if (mv && strcmp(mv, RANDOM_META_VAL) == 0) c->random = 1;
    config_name(c);

    /* every tensor, with the shape config says it must have */
    int64_t C = c->n_embd, V = c->vocab_size, L = c->n_layer;
    if (L > p->st.n) { /* (before allocating L blocks: the per-tensor checks below name what is missing) */
        rc = err_set("%s: config says n_layer %d, but the file holds only %d tensors (each block has 12): "
                     "does config.json belong to these weights?",
                     st_path, c->n_layer, p->st.n);
        goto out;
    }
    GPT2Weights *w = &m->w;
    w->wte = get(&ld, "wte.weight", V, C, &rc);
    w->wpe = get(&ld, "wpe.weight", c->n_ctx, C, &rc);
    w->h = xcalloc((size_t)L, sizeof *w->h);
    for (int l = 0; l < L && !rc; l++) {
        GPT2Layer *b = &w->h[l];
        char n[96];
#define T(field, suffix, d0, d1) (snprintf(n, sizeof n, "h.%d.%s", l, suffix), b->field = get(&ld, n, d0, d1, &rc))
        T(ln1w, "ln_1.weight", C, 0);
        T(ln1b, "ln_1.bias", C, 0);
        T(qkvw, "attn.c_attn.weight", C, 3 * C);
        T(qkvb, "attn.c_attn.bias", 3 * C, 0);
        T(attprojw, "attn.c_proj.weight", C, C);
        T(attprojb, "attn.c_proj.bias", C, 0);
        T(ln2w, "ln_2.weight", C, 0);
        T(ln2b, "ln_2.bias", C, 0);
        T(fcw, "mlp.c_fc.weight", C, 4 * C);
        T(fcb, "mlp.c_fc.bias", 4 * C, 0);
        T(fcprojw, "mlp.c_proj.weight", 4 * C, C);
        T(fcprojb, "mlp.c_proj.bias", C, 0);
#undef T
    }
    w->lnfw = get(&ld, "ln_f.weight", C, 0, &rc);
    w->lnfb = get(&ld, "ln_f.bias", C, 0, &rc);
    /* lm_head sits outside the "transformer." prefix in GPT2LMHeadModel files */
    if (!rc) {
        Loader top = {p, st_path, ""};
        if (find(&top, "lm_head.weight")) w->lm_head = get(&top, "lm_head.weight", V, C, &rc);
        else if (find(&ld, "lm_head.weight")) w->lm_head = get(&ld, "lm_head.weight", V, C, &rc);
        else w->lm_head = w->wte; /* tied, as in GPT-2 */
    }
out:
    free(cfg_path);
    if (rc) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", err_get());
        gpt2_model_free(m);
        err_set("%s", msg);
    }
    return rc ? -1 : 0;
}

void gpt2_model_free(GPT2Model *m) {
    if (!m) return;
    ModelPriv *p = m->priv;
    if (p) safetensors_close(&p->st);
    free(p);
    free(m->w.h);
    free(m->path);
    memset(m, 0, sizeof *m);
}

/* ---- synthesis ------------------------------------------------------------------ */

/* One tensor's generator: value = mean + std * z, z ~ approximately N(0, 1).
 * z is the Irwin-Hall sum of four 16-bit uniforms from one rng_u64 draw,
 * rescaled to unit variance: integer arithmetic plus one multiply, so the
 * stream is bit-identical on every machine and fast enough to write GPT-2
 * small (124M values) in about a second. */
typedef struct {
    Rng rng;
    float mean, std;
} Gen;

static void gen_fill(void *ctx, float *out, int64_t n) {
    Gen *g = ctx;
    /* sum of 4 U(0,1) has mean 2, variance 1/3 */
    const float scale = 1.7320508f / 65536.0f;
    for (int64_t k = 0; k < n; k++) {
        uint64_t r = rng_u64(&g->rng);
        int32_t s = (int32_t)(r & 0xFFFF) + (int32_t)((r >> 16) & 0xFFFF) + (int32_t)((r >> 32) & 0xFFFF) +
                    (int32_t)(r >> 48) - 2 * 65535;
        out[k] = g->mean + g->std * ((float)s * scale);
    }
}

/* A stream per tensor, keyed by the seed and the tensor's name, so each
 * tensor's values do not depend on the order tensors are written in. */
static void gen_seed(Gen *g, uint64_t seed, const char *name, float mean, float std) {
    uint64_t h = 1469598103934665603ull;
    for (const char *s = name; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    rng_seed(&g->rng, seed * 0x9E3779B97F4A7C15ull ^ h);
    g->mean = mean;
    g->std = std;
}

int gpt2_model_synth(const char *dir, const GPT2Config *cfg, uint64_t seed) {
    if (config_check(cfg, "synth") != 0) return -1;
    if (path_mkdirs(dir) != 0) return -1;
    int64_t C = cfg->n_embd, V = cfg->vocab_size, L = cfg->n_layer;
    int n_per_layer = 12, n = 4 + n_per_layer * (int)L;
    Gen *gens = xcalloc((size_t)n, sizeof *gens);
    char (*names)[96] = xcalloc((size_t)n, sizeof *names);
    STWriter wr;
    st_writer_init(&wr);
    st_writer_meta(&wr, "format", "pt");
    st_writer_meta(&wr, RANDOM_META_KEY, RANDOM_META_VAL);
    int k = 0;
#define ADD(mean, std, d0, d1, ...)                                                                   \
    do {                                                                                              \
        snprintf(names[k], sizeof names[k], __VA_ARGS__);                                             \
        gen_seed(&gens[k], seed, names[k], mean, std);                                                \
        int64_t shp[2] = {d0, d1};                                                                    \
        st_writer_add_gen(&wr, names[k], shp, shp[1] ? 2 : 1, gen_fill, &gens[k]);                   \
        k++;                                                                                          \
    } while (0)
    /* scales like GPT-2's own initialisation: N(0, 0.02) weights, small biases, LayerNorm gain ~1 */
    ADD(0.0f, 0.02f, V, C, "wte.weight");
    ADD(0.0f, 0.01f, cfg->n_ctx, C, "wpe.weight");
    for (int l = 0; l < L; l++) {
        ADD(1.0f, 0.05f, C, 0, "h.%d.ln_1.weight", l);
        ADD(0.0f, 0.02f, C, 0, "h.%d.ln_1.bias", l);
        ADD(0.0f, 0.02f, C, 3 * C, "h.%d.attn.c_attn.weight", l);
        ADD(0.0f, 0.02f, 3 * C, 0, "h.%d.attn.c_attn.bias", l);
        ADD(0.0f, 0.02f, C, C, "h.%d.attn.c_proj.weight", l);
        ADD(0.0f, 0.02f, C, 0, "h.%d.attn.c_proj.bias", l);
        ADD(1.0f, 0.05f, C, 0, "h.%d.ln_2.weight", l);
        ADD(0.0f, 0.02f, C, 0, "h.%d.ln_2.bias", l);
        ADD(0.0f, 0.02f, C, 4 * C, "h.%d.mlp.c_fc.weight", l);
        ADD(0.0f, 0.02f, 4 * C, 0, "h.%d.mlp.c_fc.bias", l);
        ADD(0.0f, 0.02f, 4 * C, C, "h.%d.mlp.c_proj.weight", l);
        ADD(0.0f, 0.02f, C, 0, "h.%d.mlp.c_proj.bias", l);
    }
    ADD(1.0f, 0.05f, C, 0, "ln_f.weight");
    ADD(0.0f, 0.02f, C, 0, "ln_f.bias");
#undef ADD
    /* config.json in Hugging Face's style, plus the random-weights marker */
    char js[1024];
    int len = snprintf(js, sizeof js,
                       "{\n"
                       "  \"_comment\": \"RANDOM WEIGHTS written by gpt2sae synth (seed %llu) - NOT GPT-2\",\n"
                       "  \"" RANDOM_CFG_KEY "\": true,\n"
                       "  \"architectures\": [\"GPT2LMHeadModel\"],\n"
                       "  \"model_type\": \"gpt2\",\n"
                       "  \"activation_function\": \"gelu_new\",\n"
                       "  \"n_layer\": %d,\n"
                       "  \"n_head\": %d,\n"
                       "  \"n_embd\": %d,\n"
                       "  \"n_positions\": %d,\n"
                       "  \"n_ctx\": %d,\n"
                       "  \"vocab_size\": %d,\n"
                       "  \"layer_norm_epsilon\": %g,\n"
                       "  \"bos_token_id\": %d,\n"
                       "  \"eos_token_id\": %d\n"
                       "}\n",
                       (unsigned long long)seed, cfg->n_layer, cfg->n_head, cfg->n_embd, cfg->n_ctx, cfg->n_ctx,
                       cfg->vocab_size, (double)cfg->ln_eps, cfg->vocab_size - 1, cfg->vocab_size - 1);

    /* both files go to temporaries and are renamed together (core/util.h:
     * file_rename_group), so an interrupt never leaves new weights beside an
     * old config.json, or the reverse */
    char *st_path = path_join(dir, "model.safetensors"), *cfg_path = path_join(dir, "config.json");
    char st_tmp[4096], cfg_tmp[4096];
    FILE *fs = file_begin(st_path, st_tmp, sizeof st_tmp), *fc = NULL;
    int rc = fs ? 0 : -1, st_finished = 0;
    if (rc == 0 && st_writer_write_file(&wr, fs, st_path) != 0) rc = -1;
    if (rc == 0) {
        rc = file_finish(fs, st_tmp, st_path);   /* (removes the temporary if it fails) */
        fs = NULL;
        st_finished = rc == 0;
    }
    if (rc == 0 && !(fc = file_begin(cfg_path, cfg_tmp, sizeof cfg_tmp))) rc = -1;
    if (rc == 0 && fwrite(js, 1, (size_t)len, fc) != (size_t)len) rc = err_set("%s: write failed", cfg_path);
    if (rc == 0) {
        rc = file_finish(fc, cfg_tmp, cfg_path);
        fc = NULL;
    }
    if (rc == 0) {
        const char *tmps[2] = {cfg_tmp, st_tmp}, *finals[2] = {cfg_path, st_path};
        rc = file_rename_group(tmps, finals, 2);   /* the weights last: their presence means complete */
    } else {
        if (fs) file_abort(fs, st_tmp);
        if (fc) file_abort(fc, cfg_tmp);
        if (st_finished) file_abort(NULL, st_tmp);   /* finished, never renamed */
    }
    st_writer_free(&wr);
    free(gens);
    free(names);
    free(st_path);
    free(cfg_path);
    return rc;
}
