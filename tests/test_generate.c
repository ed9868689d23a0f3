/*
 * tests/test_generate.c - generation with the KV cache (gpt2/generate.h):
 *   - attention_forward_kv: with P == T it is attention_forward; fast = reference;
 *   - logits with the cache equal a full recomputation of the whole text
 *     within 1e-5 at every one of 50 steps (fast ops; the reference ops are
 *     held to exact equality), with and without a steering hook;
 *   - the cached logits and the greedy tokens of 50 steps against PyTorch
 *     (tests/golden/generate_*, made by tests/gen_generate_golden.py), on
 *     random checkpoints of two shapes;
 *   - the filtered distributions (temperature, top-k, top-p, frequency
 *     penalty, greedy) against PyTorch's within 1e-6 (tests/golden/sample_probs.f64),
 *     and the draw against its distribution;
 *   - a seed gives the same tokens on 1 and 2 threads and on a second run;
 *     samples differ; hooks fire on the prompt and on every step;
 *   - interventions during generation: an ablation moves the activation by
 *     exactly -f_i W_dec[i] on every step, a steer by coef W_dec[i];
 *   - bad input: empty prompt, prompt >= n_ctx, the context filling up,
 *     temperature < 0, top-p outside (0, 1], top-k < 0, penalty outside [-2, 2].
 */
#include "core/pool.h"
#include "core/util.h"
#include "eval/intervene.h"
#include "gpt2/generate.h"
#include "gpt2/gpt2.h"
#include "gpt2/ops.h"
#include "sae/sae.h"
#include "tests/hash_model.h"
#include "tests/test.h"
#include "tests/test_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define STEPS 50

static const struct {
    int L, NH, C, V, NCTX, T;
} SHAPES[2] = {{2, 3, 24, 50, 64, 5}, {3, 4, 32, 97, 64, 9}};

static float *rnd(long n, float scale, Rng *r) {
    float *x = xmalloc((size_t)(n + 1) * sizeof(float));
    for (long i = 0; i < n; i++) x[i] = scale * rng_normal(r);
    return x;
}

static double max_abs_diff(const float *a, const float *b, long n, double *maxb) {
    double d = 0, mb = 0;
    for (long i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]);
        if (!(e <= d)) d = e;
        if (fabs(b[i]) > mb) mb = fabs(b[i]);
    }
    if (maxb) *maxb = mb;
    return d;
}

/* ---- attention with a cache against the plain one ---- */

static void test_attention_kv(void) {
    Rng r;
    rng_seed(&r, 7);
    static const int TP[][2] = {{1, 1}, {1, 9}, {1, 130}, {5, 5}, {3, 40}, {64, 64}, {17, 100}};
    for (int threads = 1; threads <= 2; threads++) {
        pool_set_threads(threads);
        for (int ci = 0; ci < 2; ci++) {
            int C = ci ? 768 : 40, NH = ci ? 12 : 5;
            for (size_t k = 0; k < sizeof TP / sizeof TP[0]; k++) {
                int T = TP[k][0], P = TP[k][1];
                if (C == 768 && P > 64) continue; /* the reference is slow */
                /* P tokens' qkv; the last T are the new ones */
                float *qkvP = rnd((long)P * 3 * C, 2.0f, &r);
                float *K = xmalloc((size_t)P * C * 4), *Vv = xmalloc((size_t)P * C * 4);
                for (int s = 0; s < P; s++) {
                    memcpy(K + (long)s * C, qkvP + (long)s * 3 * C + C, (size_t)C * 4);
                    memcpy(Vv + (long)s * C, qkvP + (long)s * 3 * C + 2 * C, (size_t)C * 4);
                }
                const float *qkvT = qkvP + (long)(P - T) * 3 * C;
                float *o1 = xmalloc((size_t)T * C * 4), *o2 = xmalloc((size_t)T * C * 4);
                float *oP = xmalloc((size_t)P * C * 4);
                float *a1 = xmalloc((size_t)NH * T * P * 4), *a2 = xmalloc((size_t)NH * T * P * 4);
                float *aP = xmalloc((size_t)NH * P * P * 4);
                attention_forward_kv(o1, a1, qkvT, K, Vv, T, P, C, NH);
                attention_forward_kv_fast(o2, a2, qkvT, K, Vv, T, P, C, NH);
                char name[128];
                snprintf(name, sizeof name, "attention_kv fast = reference, T=%d P=%d C=%d (%d thr)", T, P, C, threads);
                check_close(name, o2, o1, (long)T * C, 1e-5f, 1e-4f);
                /* the plain attention over all P tokens: its last T rows are the cached ones */
                attention_forward(oP, aP, qkvP, P, C, NH);
                snprintf(name, sizeof name, "attention_kv = attention_forward's last %d of %d rows, C=%d (%d thr)", T, P,
                         C, threads);
                check_close(name, o1, oP + (long)(P - T) * C, (long)T * C, 0.0f, 0.0f);
                free(qkvP), free(K), free(Vv), free(o1), free(o2), free(oP), free(a1), free(a2), free(aP);
            }
        }
    }
    pool_set_threads(2);
}

/* ---- the cache against full recomputation, and against PyTorch ---- */

static int add_hook_steer(void *user, const GPT2HookCtx *c, float *act) {
    const float *dir = user; /* (width) */
    for (int t = 0; t < c->T; t++)
        for (int i = 0; i < c->width; i++) act[(long)t * c->width + i] += 3.0f * dir[i];
    return 0;
}

/* Greedy steps with the cache; at each step, the whole text again without it.
 * Returns the worst |cached - full| over all steps in *worst (and the scale). */
static void cache_vs_full(GPT2Model *m, int T, int use_ref, int steer, const float *gold_logits, int32_t *toks,
                          double *worst, double *scale, double *worst_torch) {
    int V = m->cfg.vocab_size, C = m->cfg.n_embd;
    GPT2Forward f, g;
    gpt2_forward_init(&f, m);
    gpt2_forward_init(&g, m);
    f.use_ref = g.use_ref = use_ref;
    float *dir = NULL;
    if (steer) {
        Rng r;
        rng_seed(&r, 3);
        dir = rnd(C, 1.0f, &r);
        gpt2_forward_add_hook(&f, 1, GPT2_RESID_PRE, add_hook_steer, dir);
        gpt2_forward_add_hook(&g, 1, GPT2_RESID_PRE, add_hook_steer, dir);
    }
    GPT2KVCache kv;
    gpt2_kv_init(&kv, &m->cfg);
    int32_t ids[128];
    for (int t = 0; t < T; t++) ids[t] = (7 * t + 3) % V;
    float *lc = xmalloc((size_t)V * 4), *lf = xmalloc((size_t)(T + STEPS) * V * 4);
    *worst = 0, *scale = 0;
    if (worst_torch) *worst_torch = 0;
    int n = T, rc = gpt2_forward_cached(&f, &kv, ids, T, lc, 1);
    for (int s = 0; s < STEPS && rc == 0; s++) {
        rc |= gpt2_forward(&g, ids, n, lf);
        double mb, d = max_abs_diff(lc, lf + (long)(n - 1) * V, V, &mb);
        if (!(d <= *worst)) *worst = d;
        if (mb > *scale) *scale = mb;
        if (gold_logits) {
            double mt, dt = max_abs_diff(lc, gold_logits + (long)s * V, V, &mt);
            if (!(dt / mt <= *worst_torch)) *worst_torch = dt / mt;
        }
        int best = 0;
        for (int j = 1; j < V; j++)
            if (lc[j] > lc[best]) best = j;
        toks[s] = best;
        ids[n++] = best;
        if (s < STEPS - 1) rc |= gpt2_forward_cached(&f, &kv, &ids[n - 1], 1, lc, 1);
    }
    if (rc != 0) *worst = INFINITY;
    gpt2_kv_free(&kv);
    gpt2_forward_free(&f);
    gpt2_forward_free(&g);
    free(lc), free(lf), free(dir);
}

/* "tokens a b c ..." of the golden text's shape si */
static int golden_tokens(const char *txt, int si, int32_t *out) {
    const char *p = txt;
    for (int k = 0; k <= si; k++) {
        p = strstr(p, "tokens ");
        if (!p) return -1;
        p += 7;
    }
    for (int s = 0; s < STEPS; s++) {
        char *end;
        out[s] = (int32_t)strtol(p, &end, 10);
        if (end == p) return -1;
        p = end;
    }
    return 0;
}

static void test_against_torch(void) {
    char *gtxt = NULL, *glog = NULL;
    size_t ntxt, nlog;
    if (file_read_all("tests/golden/generate_greedy.txt", &gtxt, &ntxt) != 0 ||
        file_read_all("tests/golden/generate_logits.f32", &glog, &nlog) != 0) {
        CHECK(0, "golden files: %s (run from the repository root)", err_get());
        free(gtxt);
        return;
    }
    const float *gl = (const float *)glog;
    long used = 0;
    for (int si = 0; si < 2; si++) {
        GPT2Model m;
        float *store = hash_model(&m, SHAPES[si].L, SHAPES[si].NH, SHAPES[si].C, SHAPES[si].V, SHAPES[si].NCTX, 1.0f);
        int V = SHAPES[si].V, T = SHAPES[si].T;
        int32_t want[STEPS], toks[STEPS];
        int have = golden_tokens(gtxt, si, want) == 0;
        CHECK(have, "shape %d: the golden tokens parse", si);
        const float *g = gl + used;
        used += (long)STEPS * V;
        if ((size_t)used * 4 > nlog) {
            CHECK(0, "golden logits too short");
            break;
        }
        double worst, scale, wt;
        /* fast ops */
        cache_vs_full(&m, T, 0, 0, g, toks, &worst, &scale, &wt);
        CHECK(worst <= 1e-5, "L=%d C=%d V=%d: cached logits = full recomputation at all %d steps (fast ops): "
              "max |diff| %.3g <= 1e-5 (logits up to %.3g)", SHAPES[si].L, SHAPES[si].C, V, STEPS, worst, scale);
        CHECK(wt <= 1e-4, "  ... cached logits vs PyTorch's (float64, full recomputation): max|diff| / max|torch| "
              "%.3g <= 1e-4 at every step", wt);
        int same = have && memcmp(toks, want, sizeof toks) == 0;
        CHECK(same, "  ... greedy: the same %d tokens as PyTorch's (first %d %d %d, torch %d %d %d)", STEPS, toks[0],
              toks[1], toks[2], want[0], want[1], want[2]);
        /* reference ops: the same sums in the same order, so exactly equal */
        cache_vs_full(&m, T, 1, 0, NULL, toks, &worst, &scale, NULL);
        CHECK(worst == 0.0, "  ... reference ops: cached logits = full recomputation exactly (max |diff| %.3g)", worst);
        CHECK(have && memcmp(toks, want, sizeof toks) == 0, "  ... reference ops: greedy tokens = PyTorch's");
        /* a steering hook on the residual stream: applied on the prompt and every cached step alike */
        cache_vs_full(&m, T, 0, 1, NULL, toks, &worst, &scale, NULL);
        CHECK(worst <= 1e-5, "  ... with a steering hook: cached = full recomputation, max |diff| %.3g <= 1e-5", worst);
        /* gpt2_generate's greedy path gives the golden tokens too */
        GPT2Forward f;
        gpt2_forward_init(&f, &m);
        GPT2GenParams p = gpt2_gen_default_params();
        p.sampler.greedy = 1;
        p.max_new = STEPS;
        int32_t prompt[16];
        for (int t = 0; t < T; t++) prompt[t] = (7 * t + 3) % V;
        GPT2Generation gen;
        int rc = gpt2_generate(&f, prompt, T, &p, &gen);
        CHECK(rc == 0 && gen.n[0] == STEPS && gen.stop[0] == GPT2_STOP_MAX_NEW &&
                  memcmp(gen.tokens[0], want, sizeof want) == 0,
              "  ... gpt2_generate --greedy: PyTorch's %d tokens, stopped at max_new", STEPS);
        gpt2_generation_free(&gen);
        p.sampler.greedy = 0;
        p.sampler.temperature = 0.0f;
        rc = gpt2_generate(&f, prompt, T, &p, &gen);
        CHECK(rc == 0 && memcmp(gen.tokens[0], want, sizeof want) == 0, "  ... temperature 0 is greedy");
        gpt2_generation_free(&gen);
        gpt2_forward_free(&f);
        free(m.w.h), free(store);
    }
    CHECK((size_t)used * 4 == nlog, "golden logits fully consumed (%ld of %zu floats)", used, nlog / 4);
    free(gtxt), free(glog);
}

/* ---- the filters against PyTorch ---- */

enum { SV = 500 };
static const struct {
    float t;
    int k;
    float p, a;
    int greedy, tied;
} CASES[] = {
    {1.0f, 0, 1.0f, 0.0f, 0, 0},  {0.7f, 0, 1.0f, 0.0f, 0, 0},   {1.3f, 40, 1.0f, 0.0f, 0, 0},
    {1.0f, 0, 0.9f, 0.0f, 0, 0},  {0.8f, 50, 0.8f, 0.0f, 0, 0},  {1.0f, 0, 1.0f, 0.5f, 0, 0},
    {1.5f, 10, 0.95f, -0.3f, 0, 0}, {1.0f, 0, 1.0f, 1.0f, 1, 0}, {1.0f, 1, 1.0f, 0.0f, 0, 0},
    {1.0f, 0, 0.01f, 0.0f, 0, 0}, {0.9f, 25, 1.0f, 0.2f, 0, 1},  {2.0f, 0, 0.5f, 0.0f, 0, 0},
};
#define NCASES ((int)(sizeof CASES / sizeof CASES[0]))

/* the logits and counts tests/gen_generate_golden.py makes for case ci */
static void case_inputs(int ci, int tied, float *z, int *counts) {
    for (int j = 0; j < SV; j++) {
        uint32_t g = (uint32_t)j + 1000003u * (uint32_t)(ci + 1);
        float u = (float)(hash_fmix32(g) >> 8) * (1.0f / 8388608.0f) - 1.0f;
        z[j] = u * 6.0f;
        if (tied) z[j] = nearbyintf(z[j] * 2.0f) / 2.0f; /* numpy's round: half to even */
        counts[j] = (int)(hash_fmix32(g + 77u) % 4u);
    }
}

static void test_filters(void) {
    char *gold;
    size_t glen;
    if (test_read("tests/golden/sample_probs.f64", &gold, &glen) != 0) return;
    CHECK(glen == (size_t)NCASES * SV * 8, "sample_probs.f64 holds %d cases x %d (%zu bytes)", NCASES, SV, glen);
    if (glen != (size_t)NCASES * SV * 8) {
        free(gold);
        return;
    }
    const double *want = (const double *)gold;
    float z[SV];
    int counts[SV];
    double probs[SV], scratch[2 * SV];
    for (int ci = 0; ci < NCASES; ci++) {
        case_inputs(ci, CASES[ci].tied, z, counts);
        GPT2Sampler s = {CASES[ci].t, CASES[ci].k, CASES[ci].p, CASES[ci].a, CASES[ci].greedy};
        gpt2_sample_probs(&s, z, counts, SV, probs, ci % 2 ? scratch : NULL);
        double d = 0, sum = 0;
        int kept = 0, kept_t = 0;
        for (int j = 0; j < SV; j++) {
            double e = fabs(probs[j] - want[(long)ci * SV + j]);
            if (!(e <= d)) d = e;
            sum += probs[j];
            kept += probs[j] > 0, kept_t += want[(long)ci * SV + j] > 0;
        }
        CHECK(d <= 1e-6 && kept == kept_t && fabs(sum - 1.0) < 1e-12,
              "filters T=%.2g top-k %d top-p %.2g freq-penalty %.2g%s%s: max |p - torch| %.2g <= 1e-6, "
              "%d tokens kept (torch %d), sum %.15g",
              CASES[ci].t, CASES[ci].k, CASES[ci].p, CASES[ci].a, CASES[ci].greedy ? " greedy" : "",
              CASES[ci].tied ? " (ties at the k-th)" : "", d, kept, kept_t, sum);
    }
    free(gold);

    /* the draw follows the distribution: 40000 draws of a 5-token one, each count within 5 sigma */
    double p5[5] = {0.5, 0.25, 0.15, 0.1, 0.0};
    int cnt[5] = {0};
    Rng r;
    gpt2_sample_rng(&r, 11, 0);
    int N = 40000, ok = 1;
    for (int i = 0; i < N; i++) cnt[gpt2_sample_draw(p5, 5, &r)]++;
    for (int j = 0; j < 5; j++) {
        double mu = N * p5[j], sd = sqrt(N * p5[j] * (1 - p5[j]));
        if (fabs(cnt[j] - mu) > 5 * sd + (p5[j] == 0 ? 0 : 1)) ok = 0;
    }
    CHECK(ok && cnt[4] == 0, "draws follow the distribution: %d %d %d %d %d of %d (expected 20000 10000 6000 4000 0)",
          cnt[0], cnt[1], cnt[2], cnt[3], cnt[4], N);
}

/* ---- seeds, threads, hooks ---- */

typedef struct {
    int calls, rows, bad_t0, next_t0;
} HookLog;

static int log_hook(void *user, const GPT2HookCtx *c, float *act) {
    (void)act;
    HookLog *h = user;
    if (c->t0 != h->next_t0) h->bad_t0++;
    h->next_t0 = c->t0 + c->T;
    h->calls++;
    h->rows += c->T;
    return 0;
}

static void test_seeds(void) {
    GPT2Model m;
    float *store = hash_model(&m, 2, 3, 24, 50, 64, 1.0f);
    int32_t prompt[5] = {3, 10, 17, 24, 31};
    GPT2GenParams p = gpt2_gen_default_params();
    p.sampler.temperature = 1.2f;
    p.sampler.top_p = 0.95f;
    p.sampler.freq_penalty = 0.3f;
    p.max_new = 40;
    p.n_samples = 3;
    p.seed = 1234;
    GPT2Generation g[4];
    for (int run = 0; run < 4; run++) {
        pool_set_threads(run == 1 ? 1 : 2);
        GPT2Forward f;
        gpt2_forward_init(&f, &m);
        GPT2GenParams q = p;
        if (run == 2) q.seed = 1235;
        if (run == 3) q.n_samples = 1; /* sample 0 alone */
        HookLog h = {0};
        gpt2_forward_add_hook(&f, 1, GPT2_MLP_PRE, log_hook, &h);
        int rc = gpt2_generate(&f, prompt, 5, &q, &g[run]);
        CHECK(rc == 0, "generate run %d (%d thread%s, seed %llu): rc %d %s", run, run == 1 ? 1 : 2, run == 1 ? "" : "s",
              (unsigned long long)q.seed, rc, rc ? err_get() : "");
        if (run == 3) /* the hook saw the prompt (one call, 5 rows at t0 0), then every token fed back */
            CHECK(h.calls == 1 + 39 && h.rows == 5 + 39 && h.bad_t0 == 0,
                  "hooks fire on the prompt and on every cached step: %d calls, %d rows, positions in order (%d out "
                  "of place)", h.calls, h.rows, h.bad_t0);
        gpt2_forward_free(&f);
    }
    int same = 1;
    for (int s = 0; s < 3; s++)
        same &= g[0].n[s] == g[1].n[s] && memcmp(g[0].tokens[s], g[1].tokens[s], g[0].n[s] * sizeof(int32_t)) == 0;
    CHECK(same, "seed 1234: the same 3 samples on 2 threads and on 1 thread");
    CHECK(g[3].n[0] == g[0].n[0] && memcmp(g[3].tokens[0], g[0].tokens[0], g[0].n[0] * sizeof(int32_t)) == 0,
          "sample 0 is the same text when asked alone (-n 1) and with others (-n 3)");
    int diff_samples = memcmp(g[0].tokens[0], g[0].tokens[1], 40 * sizeof(int32_t)) != 0 &&
                       memcmp(g[0].tokens[1], g[0].tokens[2], 40 * sizeof(int32_t)) != 0;
    CHECK(diff_samples, "the samples of one run differ from each other");
    CHECK(memcmp(g[0].tokens[0], g[2].tokens[0], 40 * sizeof(int32_t)) != 0, "another seed gives another text");
    for (int run = 0; run < 4; run++) gpt2_generation_free(&g[run]);
    pool_set_threads(2);
    free(m.w.h), free(store);
}

/* ---- interventions during generation ---- */

typedef struct {
    const EvalSAE *sae;
    int latent;
    float coef;        /* 0: ablation is checked, else a steer of coef */
    float *before;     /* (rows, width) the activation before the intervention */
    long rows;
    double worst;      /* max over rows and dims of |after - before - expected| / scale */
    int active_rows;   /* rows where the latent was on (f_i > 0) */
    int calls;
} Probe;

static int probe_before(void *user, const GPT2HookCtx *c, float *act) {
    Probe *p = user;
    free(p->before);
    p->before = xmalloc((size_t)c->T * c->width * sizeof(float));
    memcpy(p->before, act, (size_t)c->T * c->width * sizeof(float));
    return 0;
}

static int probe_after(void *user, const GPT2HookCtx *c, float *act) {
    Probe *p = user;
    const EvalSAE *s = p->sae;
    float *F = xmalloc((size_t)c->T * s->d_sae * sizeof(float));
    s->encode(s, p->before, c->T, F);
    const float *wd = s->W_dec + (long)p->latent * c->width;
    for (int t = 0; t < c->T; t++) {
        double f = F[(long)t * s->d_sae + p->latent];
        if (f > 0) p->active_rows++;
        double coef = p->coef != 0.0f ? p->coef : -f; /* ablation: -f_i W_dec[i] */
        for (int i = 0; i < c->width; i++) {
            double b = p->before[(long)t * c->width + i], a = act[(long)t * c->width + i];
            double want = coef * wd[i];
            /* float rounding of one addition: half an ulp of the result, and of the product */
            double tol = 1e-7 * (fabs(a) + fabs(b) + fabs(want)) + 1e-30;
            double e = fabs((a - b) - want) / tol;
            if (!(e <= p->worst)) p->worst = e;
        }
    }
    p->calls++;
    free(F);
    return 0;
}

static void test_interventions(void) {
    GPT2Model m;
    float *store = hash_model(&m, 2, 3, 24, 50, 64, 1.0f);
    SAEParams sp = sae_default_params();
    sp.latents = 48, sp.k = 8, sp.seed = 5;
    SAE sae;
    sae_init(&sae, 24, &sp);
    EvalSAE es;
    eval_sae_wrap(&es, &sae, m.cfg.name, "blocks.1.hook_resid_pre");
    int32_t prompt[5] = {3, 10, 17, 24, 31};
    /* the latent most often on over the prompt */
    GPT2Forward f;
    gpt2_forward_init(&f, &m);
    float acts[5 * 24], F[5 * 48];
    gpt2_capture(&f, prompt, 5, 1, GPT2_RESID_PRE, acts);
    es.encode(&es, acts, 5, F);
    int latent = 0, best = -1;
    for (int i = 0; i < 48; i++) {
        int on = 0;
        for (int t = 0; t < 5; t++) on += F[t * 48 + i] > 0;
        if (on > best) best = on, latent = i;
    }
    gpt2_forward_free(&f);

    GPT2Generation base;
    GPT2GenParams p = gpt2_gen_default_params();
    p.max_new = 30;
    p.seed = 9;
    gpt2_forward_init(&f, &m);
    gpt2_generate(&f, prompt, 5, &p, &base);
    gpt2_forward_free(&f);

    for (int kind = 0; kind < 2; kind++) { /* 0: ablate (clamp to 0), 1: steer by 4 */
        Probe pr = {&es, latent, kind ? 4.0f : 0.0f, NULL, 0, 0, 0, 0};
        EvalLatent el = {latent, kind ? 4.0f : 0.0f};
        EvalIntervention iv = eval_intervention(kind ? EVAL_STEER : EVAL_CLAMP, &es);
        iv.latents = &el, iv.n_latents = 1;
        gpt2_forward_init(&f, &m);
        gpt2_forward_add_hook(&f, 1, GPT2_RESID_PRE, probe_before, &pr);
        int rc = eval_intervention_add(&f, &iv);
        gpt2_forward_add_hook(&f, 1, GPT2_RESID_PRE, probe_after, &pr);
        GPT2Generation g;
        rc |= gpt2_generate(&f, prompt, 5, &p, &g);
        if (kind == 0)
            CHECK(rc == 0 && pr.calls == 30 && pr.active_rows > 0 && pr.worst <= 1.0,
                  "ablating latent %d during generation moves the activation by exactly -f_i W_dec[i] (to one "
                  "rounding), on the prompt and all %d steps (%d calls, %d rows with f_i > 0; worst %.2f of the bound)",
                  latent, 29, pr.calls, pr.active_rows, pr.worst);
        else
            CHECK(rc == 0 && pr.calls == 30 && pr.worst <= 1.0,
                  "steering latent %d by 4 adds exactly 4 W_dec[i] on the prompt and every step (worst %.2f of the "
                  "bound)", latent, pr.worst);
        if (kind == 1)
            CHECK(rc == 0 && memcmp(g.tokens[0], base.tokens[0], 30 * sizeof(int32_t)) != 0,
                  "steering changes the text made from the same seed");
        gpt2_generation_free(&g);
        eval_intervention_free(&iv);
        gpt2_forward_free(&f);
        free(pr.before);
    }
    /* a latent outside the SAE is refused before anything runs */
    EvalLatent bad = {48, 1.0f};
    EvalIntervention iv = eval_intervention(EVAL_STEER, &es);
    iv.latents = &bad, iv.n_latents = 1;
    gpt2_forward_init(&f, &m);
    int rc = eval_intervention_add(&f, &iv);
    CHECK(rc != 0 && strstr(err_get(), "latent 48 does not exist"), "latent 48 >= d_sae 48: refused ('%s')", err_get());
    gpt2_forward_free(&f);
    gpt2_generation_free(&base);
    sae_free(&sae);
    free(m.w.h), free(store);
}

/* ---- bad input ---- */

static void expect_err(GPT2Forward *f, const int32_t *prompt, int T, GPT2GenParams p, const char *want,
                       const char *what) {
    GPT2Generation g;
    int rc = gpt2_generate(f, prompt, T, &p, &g);
    CHECK(rc != 0 && strstr(err_get(), want), "%s: refused, '%s'", what, err_get());
    gpt2_generation_free(&g);
}

static void test_errors(void) {
    GPT2Model m;
    float *store = hash_model(&m, 2, 3, 24, 50, 16, 1.0f);
    GPT2Forward f;
    gpt2_forward_init(&f, &m);
    int32_t ids[20] = {0};
    GPT2GenParams p = gpt2_gen_default_params();
    expect_err(&f, ids, 0, p, "the prompt is empty", "an empty prompt");
    expect_err(&f, ids, 17, p, "shorten it to under 16 tokens", "a prompt longer than n_ctx");
    expect_err(&f, ids, 16, p, "n_ctx = 16", "a prompt of exactly n_ctx tokens (no room)");
    GPT2GenParams q = p;
    q.sampler.temperature = -0.5f;
    expect_err(&f, ids, 3, q, "--temperature -0.5: must be >= 0", "temperature < 0");
    q = p, q.sampler.top_p = 0.0f;
    expect_err(&f, ids, 3, q, "--top-p 0: must be in (0, 1]", "top-p 0");
    q = p, q.sampler.top_p = 1.5f;
    expect_err(&f, ids, 3, q, "--top-p 1.5: must be in (0, 1]", "top-p 1.5");
    q = p, q.sampler.top_k = -1;
    expect_err(&f, ids, 3, q, "--top-k -1", "top-k < 0");
    q = p, q.sampler.freq_penalty = 2.5f;
    expect_err(&f, ids, 3, q, "--freq-penalty 2.5", "frequency penalty 2.5");
    ids[1] = 50;
    expect_err(&f, ids, 3, p, "outside the vocabulary", "a token id >= V");
    ids[1] = 0;
    /* the context fills: a 13-token prompt and 10 asked for: 3 made, stopped at n_ctx */
    GPT2Generation g;
    q = p, q.max_new = 10;
    int rc = gpt2_generate(&f, ids, 13, &q, &g);
    CHECK(rc == 0 && g.n[0] == 3 && g.stop[0] == GPT2_STOP_CTX,
          "a 13-token prompt with n_ctx 16: 3 tokens made, then stopped at n_ctx (%d made, stop %d)", g.n[0],
          rc == 0 ? (int)g.stop[0] : -1);
    gpt2_generation_free(&g);
    /* the cache refuses to run past n_ctx */
    GPT2KVCache kv;
    gpt2_kv_init(&kv, &m.cfg);
    float lg[50];
    rc = gpt2_forward_cached(&f, &kv, ids, 15, lg, 1);
    int rc2 = gpt2_forward_cached(&f, &kv, ids, 2, lg, 1);
    CHECK(rc == 0 && rc2 != 0 && kv.len == 15 && strstr(err_get(), "the context is full"),
          "the cache refuses positions past n_ctx and keeps its length ('%s')", err_get());
    gpt2_kv_free(&kv);
    /* stop at eos: with eos set to the first greedy token, one token */
    q = p, q.sampler.greedy = 1, q.max_new = 10;
    gpt2_generate(&f, ids, 3, &q, &g);
    q.eos_id = g.tokens[0][0], q.stop_at_eos = 1;
    gpt2_generation_free(&g);
    rc = gpt2_generate(&f, ids, 3, &q, &g);
    CHECK(rc == 0 && g.n[0] == 1 && g.stop[0] == GPT2_STOP_EOS, "--stop-at-eos stops after the end-of-text token");
    gpt2_generation_free(&g);
    gpt2_forward_free(&f);
    free(m.w.h), free(store);
}

int main(void) {
    test_attention_kv();
    test_against_torch();
    test_filters();
    test_seeds();
    test_interventions();
    test_errors();
    return test_finish();
}
