/*
 * tests/test_sae_arch.c - the architectures of sae/arch.h against the
 * PyTorch ports of tests/sae_arch_torch.py (goldens in tests/golden/
 * sae_arch_<case>.safetensors.golden, small d = 8, n = 32):
 *   - the loss parts and every gradient of one batch at the initial weights
 *     (max |ours - torch| <= 1e-4 max |torch| per tensor)
 *   - JumpReLU's straight-through pseudo-gradient of the threshold, also
 *     computed here by hand from the paper's formula
 *   - 50 training steps (Adam, warm-up, decay, clipping, decoder
 *     constraint, dead latents): every step's loss within 1e-4 relative,
 *     the final weights within 1e-3, the dead counters exact
 * Edge cases in the goldens: ties at the k-th value (topk), ties at AuxK's
 * last place, every latent dead, fewer dead latents than k_aux, a batch of 1.
 * Then initialisation, bad parameters (errors naming the field) and a NaN
 * loss stopping a step before any weight changes.
 */
#include "sae/arch.h"
#include "core/json.h"
#include "core/util.h"
#include "tests/test.h"
#include "weights/safetensors.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define STEPS 50
#define NB 10

static double cfg_num(const JSON *cfg, const char *key) {
    const JSON *v = json_get(cfg, key);
    return v && v->type == JSON_NUMBER ? v->number : 0.0;
}

static const float *tensor(SafeTensors *st, const char *name, long want) {
    const STTensor *t = safetensors_find(st, name);
    if (!t || (want >= 0 && t->numel != want)) {
        CHECK(0, "%s: tensor %s missing or of the wrong size", st->path, name);
        return NULL;
    }
    return safetensors_f32(st, t);
}

typedef struct { float *losses; int n; double dead_frac; } Losses;

static int record(void *ctx, long step, const SAEArchLog *log) {
    Losses *l = ctx;
    (void)step;
    if (l->n < STEPS) l->losses[l->n++] = (float)log->loss;
    l->dead_frac = log->dead_frac;
    return 0;
}

/* the model at the golden's initial state */
static int load_init(SAEArch *m, SAEArchParams *p, SafeTensors *st, float scale) {
    if (sae_arch_init(m, p, NULL, 0) != 0) return -1;
    m->input_scale = scale;
    for (int i = 0; i < m->n_t; i++) {
        char name[64];
        snprintf(name, sizeof name, "init.%s", m->t[i].name);
        const float *w = tensor(st, name, m->t[i].len);
        if (!w) return -1;
        memcpy(m->t[i].w, w, (size_t)m->t[i].len * sizeof(float));
    }
    const float *s0 = tensor(st, "since0", p->n);
    if (!s0) return -1;
    for (int i = 0; i < p->n; i++) m->since_fired[i] = (long)s0[i];
    return 0;
}

/* θ's pseudo-gradient g_t by hand (Rajamanoharan et al. 2024, eq. 11-12),
 * dense and in double, from the weights and the batch alone */
static void jumprelu_g_t_by_hand(const SAEArch *m, const float *X, int B, double lam, double *g_t) {
    const int d = m->p.d, n = m->p.n;
    const double eps = m->p.jump_eps;
    double *z = malloc((size_t)n * sizeof(double)), *xh = malloc((size_t)d * sizeof(double));
    for (int i = 0; i < n; i++) g_t[i] = 0;
    for (int b = 0; b < B; b++) {
        const float *x = X + (size_t)b * d;
        for (int i = 0; i < n; i++) {
            double s = m->b_enc[i];
            for (int j = 0; j < d; j++) s += (double)m->W_enc[(size_t)i * d + j] * (x[j] * m->input_scale - m->b_dec[j]);
            z[i] = s;
        }
        for (int j = 0; j < d; j++) xh[j] = m->b_dec[j];
        for (int i = 0; i < n; i++)
            if (z[i] > exp(m->log_threshold[i]))
                for (int j = 0; j < d; j++) xh[j] += z[i] * m->W_dec[(size_t)i * d + j];
        for (int i = 0; i < n; i++) {
            const double th = exp(m->log_threshold[i]), u = (z[i] - th) / eps;
            if (!(fabs(u) < 0.5)) continue;
            double gf = 0; /* d recon / d f_i = W_dec[i] · 2 (x̂ - x) / B */
            for (int j = 0; j < d; j++) gf += m->W_dec[(size_t)i * d + j] * 2 * (xh[j] - x[j] * m->input_scale) / B;
            /* d/dθ: -(θ/ε) g_f - λ/(B ε); then d/dt = θ d/dθ */
            g_t[i] += th * (-(th / eps) * gf - lam / (B * eps));
        }
    }
    free(z);
    free(xh);
}

static void run_case(const char *name) {
    char path[256];
    snprintf(path, sizeof path, "tests/golden/sae_arch_%s.safetensors.golden", name);
    printf("%s\n", name);
    SafeTensors st;
    if (safetensors_open(&st, path) != 0) {
        CHECK(0, "%s: %s", path, err_get());
        return;
    }
    JSON cfg;
    const char *cs = safetensors_meta(&st, "cfg");
    if (!cs || json_parse(&cfg, cs, strlen(cs)) != 0) {
        CHECK(0, "%s: no cfg metadata", path);
        safetensors_close(&st);
        return;
    }
    SAEArchKind arch;
    const JSON *an = json_get(&cfg, "arch");
    if (!an || an->type != JSON_STRING || sae_arch_parse(an->str, &arch) != 0) {
        CHECK(0, "%s: cfg.arch", path);
        goto done;
    }
    const int d = (int)cfg_num(&cfg, "d"), n = (int)cfg_num(&cfg, "n"), B = (int)cfg_num(&cfg, "B");
    SAEArchParams p = sae_arch_default_params(arch, d, n);
    p.k = (int)cfg_num(&cfg, "k");
    p.k_aux = (int)cfg_num(&cfg, "k_aux");
    p.aux_alpha = (float)cfg_num(&cfg, "aux_alpha");
    p.multi_topk = (int)cfg_num(&cfg, "multi_topk");
    p.threshold_lr = (float)cfg_num(&cfg, "threshold_lr");
    p.lambda = (float)cfg_num(&cfg, "lambda");
    p.lambda_warmup = (long)cfg_num(&cfg, "lambda_warmup");
    p.jump_eps = (float)cfg_num(&cfg, "jump_eps");
    p.theta0 = (float)cfg_num(&cfg, "theta0");
    p.dead_tokens = (long)cfg_num(&cfg, "dead_tokens");
    p.lr = (float)cfg_num(&cfg, "lr");
    p.beta1 = (float)cfg_num(&cfg, "beta1");
    p.beta2 = (float)cfg_num(&cfg, "beta2");
    p.adam_eps = (float)cfg_num(&cfg, "adam_eps");
    p.warmup_steps = (long)cfg_num(&cfg, "warmup_steps");
    p.decay_steps = (long)cfg_num(&cfg, "decay_steps");
    p.total_steps = STEPS;
    p.grad_clip = (float)cfg_num(&cfg, "grad_clip");
    p.scale_inputs = 0;
    p.b_dec_init = SAE_BDEC_ZERO;
    const float scale = (float)cfg_num(&cfg, "input_scale");
    const float *X = tensor(&st, "X", (long)NB * B * d);
    if (!X) goto done;

    /* one batch at the initial weights */
    SAEArch m;
    if (load_init(&m, &p, &st, scale) != 0) {
        CHECK(0, "%s: init: %s", name, err_get());
        goto done;
    }
    SAEArchLog log;
    int rc = sae_arch_loss_grad(&m, X, B, &log);
    CHECK(rc == 0, "%s: loss_grad returns 0 (%s)", name, rc ? err_get() : "");
    const float *l0 = tensor(&st, "loss0", 6);
    if (l0) {
        float ours[5] = {(float)log.loss, (float)log.recon, (float)log.sparsity, (float)log.aux, (float)log.l0};
        check_close("loss, recon, sparsity, aux, l0", ours, l0, 5, 1e-6f, 1e-5f);
        if (B > 1) check_close("FVU", (float[]){(float)log.fvu}, l0 + 5, 1, 1e-6f, 1e-4f);
        else CHECK(isnan(log.fvu) && isnan(l0[5]), "FVU of one token is undefined (NaN) on both sides");
    }
    for (int i = 0; i < m.n_t; i++) {
        char gname[64], label[96];
        snprintf(gname, sizeof gname, "grad0.%s", m.t[i].name);
        snprintf(label, sizeof label, "gradient of %s", m.t[i].name);
        const float *g = tensor(&st, gname, m.t[i].len);
        if (g) check_bound(label, m.t[i].g, g, m.t[i].len);
    }
    if (arch == SAE_ARCH_JUMPRELU) {
        double *gt = malloc((size_t)n * sizeof(double));
        float *gtf = malloc((size_t)n * sizeof(float));
        jumprelu_g_t_by_hand(&m, X, B, sae_arch_lambda(&m), gt);
        int in_window = 0;
        for (int i = 0; i < n; i++) gtf[i] = (float)gt[i], in_window += gt[i] != 0;
        CHECK(in_window > 0, "%d thresholds have a pre-activation inside the kernel's window", in_window);
        check_bound("log_threshold pseudo-gradient vs the formula by hand", sae_arch_tensor(&m, "log_threshold")->g,
                    gtf, n);
        free(gt);
        free(gtf);
    }
    if (strcmp(name, "topk") == 0) {
        /* the planted tie: 8 and 9 equal at the k-th place, 8 kept */
        float *F = malloc((size_t)B * n * sizeof(float));
        sae_arch_encode(&m, X, B, F);
        /* where 8 and 9 share the k-th place (no other latent above 5), 8 is
         * kept; 9 never is (it would need 8's place) */
        int tied = 0, wrong = 0;
        for (int b = 0; b < B; b++) {
            tied += F[(size_t)b * n + 8] == 5.0f && F[(size_t)b * n + 9] == 0.0f;
            wrong += F[(size_t)b * n + 9] != 0.0f;
        }
        CHECK(tied > 0 && wrong == 0, "topk tie at the k-th value: latent 8 kept, 9 dropped (%d of %d tokens tie, %d wrong)",
              tied, B, wrong);
        free(F);
    }
    sae_arch_free(&m);

    /* 50 steps from the same start */
    if (load_init(&m, &p, &st, scale) != 0) goto done;
    float losses[STEPS];
    Losses rec = {losses, 0, 0};
    rc = sae_arch_train(&m, X, (long)NB * B, B, STEPS, record, &rec);
    CHECK(rc == 0 && rec.n == STEPS, "%s: %d steps train (%s)", name, rec.n, rc ? err_get() : "");
    const float *tl = tensor(&st, "losses", STEPS);
    if (tl && rec.n == STEPS) check_close("every step's loss (1e-4 relative)", losses, tl, STEPS, 0.0f, 1e-4f);
    for (int i = 0; i < m.n_t; i++) {
        char fname[64], label[96];
        snprintf(fname, sizeof fname, "final.%s", m.t[i].name);
        snprintf(label, sizeof label, "%s after %d steps", m.t[i].name, STEPS);
        const float *w = tensor(&st, fname, m.t[i].len);
        if (w) check_close(label, m.t[i].w, w, m.t[i].len, 1e-3f, 1e-3f);
    }
    const float *fs = tensor(&st, "final.since", n);
    if (fs) {
        float *ours = calloc((size_t)n, sizeof(float));
        for (int i = 0; i < n; i++) ours[i] = (float)m.since_fired[i];
        check_close("tokens since each latent fired", ours, fs, n, 0.0f, 0.0f);
        int dead = 0;
        for (int i = 0; i < n; i++) dead += fs[i] >= p.dead_tokens;
        CHECK(fabs(rec.dead_frac - (double)dead / n) < 1e-12, "dead %% in the last step's log: %.1f%% (torch's counters: %d of %d)",
              100 * rec.dead_frac, dead, n);
        free(ours);
    }
    if (arch == SAE_ARCH_BATCHTOPK) {
        const float *th = tensor(&st, "threshold", 1);
        if (th) check_close("batchtopk threshold", &m.threshold, th, 1, 1e-5f, 1e-3f);
    }
    sae_arch_free(&m);
done:
    json_free(&cfg);
    safetensors_close(&st);
}

static void expect_error(SAEArchParams p, const char *field) {
    int rc = sae_arch_check_params(&p);
    CHECK(rc != 0 && strstr(err_get(), field) == err_get(), "bad %s refused: \"%s\"", field, rc ? err_get() : "(accepted)");
}

static void test_params(void) {
    printf("parameters\n");
    SAEArchParams p = sae_arch_default_params(SAE_ARCH_TOPK, 8, 32);
    CHECK(sae_arch_check_params(&p) == 0, "defaults accepted (k = %d, k_aux = %d, alpha = %g)", p.k, p.k_aux, p.aux_alpha);
    SAEArchParams q = p;
    q.k = 32, expect_error(q, "k =");
    q = p, q.k = 0, expect_error(q, "k =");
    q = p, q.adam_eps = 0, expect_error(q, "adam_eps");
    q = p, q.lambda = -1, expect_error(q, "lambda");
    q = sae_arch_default_params(SAE_ARCH_JUMPRELU, 8, 32), q.jump_eps = 0, expect_error(q, "jump_eps");
    q = sae_arch_default_params(SAE_ARCH_JUMPRELU, 8, 32), q.jump_eps = -0.1f, expect_error(q, "jump_eps");
    q = sae_arch_default_params(SAE_ARCH_JUMPRELU, 8, 32), q.theta0 = 0, expect_error(q, "theta0");
    q = p, q.multi_topk = 1, q.k = 9, expect_error(q, "k =");
    SAEArchKind a;
    CHECK(sae_arch_parse("topkk", &a) != 0 && strstr(err_get(), "topkk"), "unknown architecture named: \"%s\"", err_get());
}

static void test_init(void) {
    printf("initialisation\n");
    const int d = 6, n = 20, T = 50;
    float *S = malloc((size_t)T * d * sizeof(float));
    Rng r;
    rng_seed(&r, 7);
    for (int i = 0; i < T * d; i++) S[i] = rng_normal(&r) * 2 + (i % d);
    SAEArchParams p = sae_arch_default_params(SAE_ARCH_TOPK, d, n);
    p.k = 4;
    SAEArch m;
    CHECK(sae_arch_init(&m, &p, S, T) == 0, "init with a sample");
    double worst = 0;
    for (int i = 0; i < n; i++) {
        double s = 0;
        for (int j = 0; j < d; j++) s += (double)m.W_dec[i * d + j] * m.W_dec[i * d + j];
        if (fabs(sqrt(s) - 1) > worst) worst = fabs(sqrt(s) - 1);
    }
    CHECK(worst < 1e-6, "decoder rows unit-norm (worst |norm - 1| %.2g)", worst);
    CHECK(memcmp(m.W_enc, m.W_dec, (size_t)n * d * sizeof(float)) == 0, "W_enc starts as W_decᵀ");
    {
        SAEArch m2, m3;
        sae_arch_init(&m2, &p, S, T);
        SAEArchParams p3 = p;
        p3.seed = 99;
        sae_arch_init(&m3, &p3, S, T);
        CHECK(memcmp(m.W_dec, m2.W_dec, (size_t)n * d * sizeof(float)) == 0 &&
                  memcmp(m.W_dec, m3.W_dec, (size_t)n * d * sizeof(float)) != 0,
              "seeded: the same seed gives the same weights, another seed others");
        sae_arch_free(&m2);
        sae_arch_free(&m3);
    }
    /* the geometric median zeroes Σ (x - m)/||x - m|| */
    double gsum[6] = {0}, gn = 0;
    for (int t = 0; t < T; t++) {
        double r2 = 0;
        for (int j = 0; j < d; j++) r2 += pow(S[t * d + j] - m.b_dec[j], 2);
        for (int j = 0; j < d; j++) gsum[j] += (S[t * d + j] - m.b_dec[j]) / sqrt(r2);
    }
    for (int j = 0; j < d; j++) gn += gsum[j] * gsum[j];
    CHECK(sqrt(gn) < 1e-3 * T, "b_dec is the geometric median: |Σ unit residuals| = %.3g", sqrt(gn));
    sae_arch_free(&m);
    p.b_dec_init = SAE_BDEC_MEAN;
    p.arch = SAE_ARCH_RELU, p.scale_inputs = 1, p.lambda = 1;
    sae_arch_init(&m, &p, S, T);
    double mean_norm = 0, err = 0;
    for (int t = 0; t < T; t++) {
        double s = 0;
        for (int j = 0; j < d; j++) s += pow(S[t * d + j] * m.input_scale, 2);
        mean_norm += sqrt(s) / T;
    }
    for (int j = 0; j < d; j++) {
        double mu = 0;
        for (int t = 0; t < T; t++) mu += S[t * d + j] * m.input_scale / T;
        err = fmax(err, fabs(mu - m.b_dec[j]));
    }
    CHECK(fabs(mean_norm - sqrt(d)) < 1e-4, "input scale: E||s x|| = %.6f = sqrt(d) %.6f", mean_norm, sqrt(d));
    CHECK(err < 1e-5, "b_dec = the mean of the scaled sample (worst %.2g)", err);
    sae_arch_free(&m);
    /* NaN loss: the step fails and leaves the weights alone */
    p = sae_arch_default_params(SAE_ARCH_TOPK, d, n);
    p.k = 4;
    sae_arch_init(&m, &p, S, T);
    float *before = malloc((size_t)n * d * sizeof(float));
    memcpy(before, m.W_enc, (size_t)n * d * sizeof(float));
    S[3] = NAN;
    SAEArchLog log;
    int rc = sae_arch_step(&m, S, 8, &log);
    CHECK(rc != 0 && strstr(err_get(), "loss"), "a NaN loss stops the step: \"%s\"", rc ? err_get() : "(accepted)");
    CHECK(memcmp(before, m.W_enc, (size_t)n * d * sizeof(float)) == 0 && m.step == 0, "no weight changed");
    free(before);
    sae_arch_free(&m);
    free(S);
}

int main(void) {
    const char *cases[] = {"topk", "topk_auxties", "topk_multi", "topk_alldead", "topk_b1",
                           "jumprelu", "jumprelu_b1", "relu", "batchtopk", "gated", "topk_d20", "jumprelu_d20"};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) run_case(cases[i]);
    test_params();
    test_init();
    return test_finish();
}
