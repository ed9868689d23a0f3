/*
 * sae/arch.c - what every architecture of sae/arch.h shares: names,
 * parameters and their checks, seeded initialisation (including b_dec's
 * geometric median), the dense encoder gemm, and the sparse decoder and
 * sparse backward that let a step touch only the active latents.
 *
 * Sparse pieces (F sparse, stored as CSR rows; G = d loss / d X̂ (B, d)):
 *   X̂ = F W_dec (+ b_dec)        X̂[b] = Σ_{(i,v) in row b} v W_dec[i]
 *   g_W_dec[i] += v G[b]          for each stored (b, i, v)
 *   g_F[b, i]   = W_dec[i] · G[b]
 *   Z = Xc W_encᵀ + b_enc,  Xc = sX - b_dec:
 *   g_W_enc[i] += g_Z[b,i] Xc[b],  g_b_enc[i] += g_Z[b,i],
 *   g_b_dec    -= g_Z[b,i] W_enc[i]          (Xc's derivative in b_dec is -1)
 * Each costs (stored entries) x d, against B x n x d dense.
 */
#include "sae/arch.h"
#include "core/gemm.h"
#include "core/util.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

static const char *const NAMES[SAE_ARCH_COUNT] = {"topk", "batchtopk", "jumprelu", "relu", "gated"};

const char *sae_arch_name(SAEArchKind a) { return a >= 0 && a < SAE_ARCH_COUNT ? NAMES[a] : "?"; }

int sae_arch_parse(const char *name, SAEArchKind *out) {
    for (int a = 0; a < SAE_ARCH_COUNT; a++)
        if (strcmp(name, NAMES[a]) == 0) { *out = (SAEArchKind)a; return 0; }
    return err_set("architecture '%s': unknown; use topk, batchtopk, jumprelu, relu or gated", name);
}

SAEArchParams sae_arch_default_params(SAEArchKind arch, int d, int n) {
    SAEArchParams p;
    memset(&p, 0, sizeof p);
    p.arch = arch;
    p.d = d;
    p.n = n;
    p.k = n > 64 ? 32 : (n / 2 > 0 ? n / 2 : 1);
    p.k_aux = d / 2;
    p.aux_alpha = 1.0f / 32.0f;
    p.threshold_lr = 0.01f;
    p.lambda = arch == SAE_ARCH_JUMPRELU ? 1e-3f : arch == SAE_ARCH_RELU ? 5.0f : arch == SAE_ARCH_GATED ? 1.0f : 0.0f;
    p.jump_eps = 1e-3f;
    p.theta0 = 1e-3f;
    p.scale_inputs = arch == SAE_ARCH_RELU;
    p.grad_clip = arch == SAE_ARCH_RELU ? 1.0f : 0.0f;
    p.dead_tokens = 10000000;
    p.b_dec_init = SAE_BDEC_MEDIAN;
    p.lr = 2e-4f;
    p.beta1 = 0.9f;
    p.beta2 = 0.999f;
    p.adam_eps = 1e-8f;
    p.seed = 0;
    return p;
}

int sae_arch_check_params(const SAEArchParams *p) {
    if (p->arch < 0 || p->arch >= SAE_ARCH_COUNT) return err_set("architecture = %d: unknown", (int)p->arch);
    if (p->d < 1) return err_set("d_in = %d: must be at least 1", p->d);
    if (p->n < 1) return err_set("d_sae = %d: must be at least 1", p->n);
    if (p->arch == SAE_ARCH_TOPK || p->arch == SAE_ARCH_BATCHTOPK) {
        if (p->k < 1) return err_set("k = %d: must be at least 1", p->k);
        if (p->k >= p->n) return err_set("k = %d: must be below d_sae = %d", p->k, p->n);
        if (p->multi_topk && 4L * p->k > p->n)
            return err_set("k = %d: Multi-TopK needs 4k <= d_sae = %d", p->k, p->n);
        if (p->k_aux < 0) return err_set("k_aux = %d: must be >= 0 (0 turns AuxK off)", p->k_aux);
        if (!(p->aux_alpha >= 0)) return err_set("aux_alpha = %g: must be >= 0", p->aux_alpha);
        if (!(p->threshold_lr >= 0 && p->threshold_lr <= 1))
            return err_set("threshold_lr = %g: must be in [0, 1]", p->threshold_lr);
    }
    if (!(p->lambda >= 0) || isinf(p->lambda)) return err_set("lambda = %g: must be a finite number >= 0", p->lambda);
    if (p->arch == SAE_ARCH_JUMPRELU) {
        if (!(p->jump_eps > 0) || isinf(p->jump_eps)) return err_set("jump_eps = %g: the bandwidth must be > 0", p->jump_eps);
        if (!(p->theta0 > 0) || isinf(p->theta0)) return err_set("theta0 = %g: the initial threshold must be > 0", p->theta0);
    }
    if (p->dead_tokens < 1) return err_set("dead_tokens = %ld: must be at least 1", p->dead_tokens);
    if (!(p->lr >= 0) || isinf(p->lr)) return err_set("lr = %g: must be a finite number >= 0", p->lr);
    if (!(p->beta1 >= 0 && p->beta1 < 1)) return err_set("beta1 = %g: must be in [0, 1)", p->beta1);
    if (!(p->beta2 >= 0 && p->beta2 < 1)) return err_set("beta2 = %g: must be in [0, 1)", p->beta2);
    if (!(p->adam_eps > 0)) return err_set("adam_eps = %g: must be > 0", p->adam_eps);
    if (p->warmup_steps < 0) return err_set("warmup_steps = %ld: must be >= 0", p->warmup_steps);
    if (p->lambda_warmup < 0) return err_set("lambda_warmup = %ld: must be >= 0", p->lambda_warmup);
    if (p->decay_steps < 0) return err_set("decay_steps = %ld: must be >= 0", p->decay_steps);
    if (p->decay_steps > 0 && p->total_steps < p->decay_steps)
        return err_set("total_steps = %ld: must be >= decay_steps = %ld", p->total_steps, p->decay_steps);
    if (!(p->grad_clip >= 0)) return err_set("grad_clip = %g: must be >= 0 (0 = off)", p->grad_clip);
    return 0;
}

/* b (d) = the geometric median of S (T, d): Weiszfeld's iteration from the
 * mean, in double, 100 rounds or until it moves less than 1e-7 relative. */
static void geometric_median(float *b, const float *S, int T, int d) {
    double *m = xcalloc((size_t)d, sizeof(double)), *num = xmalloc((size_t)d * sizeof(double));
    for (int t = 0; t < T; t++)
        for (int j = 0; j < d; j++) m[j] += S[(size_t)t * d + j] / (double)T;
    for (int it = 0; it < 100; it++) {
        double den = 0, move = 0, norm = 0;
        memset(num, 0, (size_t)d * sizeof(double));
        for (int t = 0; t < T; t++) {
            const float *x = S + (size_t)t * d;
            double r = 0;
            for (int j = 0; j < d; j++) r += (x[j] - m[j]) * (x[j] - m[j]);
            r = sqrt(r);
            if (r < 1e-12) continue; /* a sample at the estimate: skip it (Weiszfeld's usual guard) */
            for (int j = 0; j < d; j++) num[j] += x[j] / r;
            den += 1 / r;
        }
        if (den == 0) break;
        for (int j = 0; j < d; j++) {
            double nj = num[j] / den;
            move += (nj - m[j]) * (nj - m[j]);
            norm += nj * nj;
            m[j] = nj;
        }
        if (move <= 1e-14 * (norm + 1e-30)) break;
    }
    for (int j = 0; j < d; j++) b[j] = (float)m[j];
    free(m);
    free(num);
}

static void add_tensor(SAEArch *m, const char *name, float *w, long len) {
    assert(m->n_t < SAE_ARCH_MAX_TENSORS);
    SAEArchTensor *t = &m->t[m->n_t++];
    t->name = name;
    t->w = w;
    t->len = len;
    t->g = xcalloc((size_t)len, sizeof(float));
    t->m = xcalloc((size_t)len, sizeof(float));
    t->v = xcalloc((size_t)len, sizeof(float));
}

int sae_arch_init(SAEArch *m, const SAEArchParams *p, const float *S, int T) {
    memset(m, 0, sizeof *m);
    if (sae_arch_check_params(p) != 0) return -1;
    const int d = p->d, n = p->n;
    m->p = *p;
    m->W_enc = xmalloc((size_t)n * d * sizeof(float));
    m->W_dec = xmalloc((size_t)n * d * sizeof(float));
    m->b_enc = xcalloc((size_t)n, sizeof(float));
    m->b_dec = xcalloc((size_t)d, sizeof(float));
    m->since_fired = xcalloc((size_t)n, sizeof(long));
    m->input_scale = 1.0f;
    m->min_kept = NAN;
    /* decoder rows: random directions, unit norm (relu: norm 0.1, the April
     * update's small initial decoder); the encoder starts as the decoder's
     * transpose (Gao et al. 2024, section 2.4) */
    Rng r;
    rng_seed(&r, p->seed);
    const float row_norm = p->arch == SAE_ARCH_RELU ? 0.1f : 1.0f;
    for (int i = 0; i < n; i++) {
        float *w = m->W_dec + (size_t)i * d;
        double ss = 0;
        for (int j = 0; j < d; j++) w[j] = rng_normal(&r), ss += (double)w[j] * w[j];
        float s = row_norm / (float)sqrt(ss > 0 ? ss : 1);
        for (int j = 0; j < d; j++) w[j] *= s;
    }
    memcpy(m->W_enc, m->W_dec, (size_t)n * d * sizeof(float));
    if (S && T > 0) {
        if (p->scale_inputs) {
            double sum = 0;
            for (int t = 0; t < T; t++) {
                double ss = 0;
                for (int j = 0; j < d; j++) ss += (double)S[(size_t)t * d + j] * S[(size_t)t * d + j];
                sum += sqrt(ss);
            }
            if (sum > 0) m->input_scale = (float)(sqrt((double)d) / (sum / T));
        }
        if (p->b_dec_init != SAE_BDEC_ZERO) {
            float *Ss = NULL;
            const float *src = S;
            if (m->input_scale != 1.0f) {
                Ss = xmalloc((size_t)T * d * sizeof(float));
                for (size_t e = 0; e < (size_t)T * d; e++) Ss[e] = S[e] * m->input_scale;
                src = Ss;
            }
            if (p->b_dec_init == SAE_BDEC_MEDIAN) geometric_median(m->b_dec, src, T, d);
            else {
                for (int j = 0; j < d; j++) {
                    double s = 0;
                    for (int t = 0; t < T; t++) s += src[(size_t)t * d + j];
                    m->b_dec[j] = (float)(s / T);
                }
            }
            free(Ss);
        }
    }
    add_tensor(m, "W_enc", m->W_enc, (long)n * d);
    add_tensor(m, "W_dec", m->W_dec, (long)n * d);
    add_tensor(m, "b_enc", m->b_enc, n);
    add_tensor(m, "b_dec", m->b_dec, d);
    if (p->arch == SAE_ARCH_JUMPRELU) {
        m->log_threshold = xmalloc((size_t)n * sizeof(float));
        for (int i = 0; i < n; i++) m->log_threshold[i] = logf(p->theta0);
        add_tensor(m, "log_threshold", m->log_threshold, n);
    }
    if (p->arch == SAE_ARCH_GATED) {
        m->r_mag = xcalloc((size_t)n, sizeof(float));
        m->b_mag = xcalloc((size_t)n, sizeof(float));
        add_tensor(m, "r_mag", m->r_mag, n);
        add_tensor(m, "b_mag", m->b_mag, n);
    }
    return 0;
}

void sae_arch_free(SAEArch *m) {
    if (!m) return;
    for (int i = 0; i < m->n_t; i++) free(m->t[i].g), free(m->t[i].m), free(m->t[i].v);
    free(m->W_enc), free(m->W_dec), free(m->b_enc), free(m->b_dec);
    free(m->log_threshold), free(m->r_mag), free(m->b_mag), free(m->since_fired);
    free(m->ws_z), free(m->ws_xc), free(m->ws_xh), free(m->ws_gx), free(m->ws_tmp), free(m->ws_fired);
    memset(m, 0, sizeof *m);
}

SAEArchTensor *sae_arch_tensor(SAEArch *m, const char *name) {
    for (int i = 0; i < m->n_t; i++)
        if (strcmp(m->t[i].name, name) == 0) return &m->t[i];
    return NULL;
}

/* ---- CSR ---- */

void sae_csr_init(SAECsr *c, int B, int cap) {
    c->B = 0;
    c->cap = cap > 16 ? cap : 16;
    c->ptr = xmalloc((size_t)(B + 1) * sizeof(int));
    c->ptr[0] = 0;
    c->idx = xmalloc((size_t)c->cap * sizeof(int));
    c->val = xmalloc((size_t)c->cap * sizeof(float));
}

void sae_csr_push(SAECsr *c, int i, float v) {
    int e = c->ptr[c->B];
    if (e == c->cap) {
        c->cap *= 2;
        c->idx = xrealloc(c->idx, (size_t)c->cap * sizeof(int));
        c->val = xrealloc(c->val, (size_t)c->cap * sizeof(float));
    }
    c->idx[e] = i;
    c->val[e] = v;
    c->ptr[c->B]++;
}

void sae_csr_positive(SAECsr *c, const float *Z, int B, int n) {
    sae_csr_init(c, B, B * 64);
    for (int b = 0; b < B; b++) {
        const float *z = Z + (size_t)b * n;
        sae_csr_row(c);
        for (int i = 0; i < n; i++)
            if (z[i] > 0) sae_csr_push(c, i, z[i]);
    }
}

void sae_csr_free(SAECsr *c) {
    free(c->ptr), free(c->idx), free(c->val);
    memset(c, 0, sizeof *c);
}

/* ---- dense encoder, sparse decoder and backward ---- */

/* y[0..d) += a x[0..d): the sparse loops' inner step (d-long rows) */
static inline void axpy(int d, float a, const float *restrict x, float *restrict y) {
    int j = 0;
#if defined(__AVX512F__)
    const __m512 va = _mm512_set1_ps(a);
    for (; j + 16 <= d; j += 16)
        _mm512_storeu_ps(y + j, _mm512_fmadd_ps(va, _mm512_loadu_ps(x + j), _mm512_loadu_ps(y + j)));
#endif
    for (; j < d; j++) y[j] += a * x[j];
}

/* x · y over d floats (16 lanes, then the lanes summed) */
static inline float dot(int d, const float *restrict x, const float *restrict y) {
    int j = 0;
    float s = 0;
#if defined(__AVX512F__)
    __m512 acc = _mm512_setzero_ps();
    for (; j + 16 <= d; j += 16) acc = _mm512_fmadd_ps(_mm512_loadu_ps(x + j), _mm512_loadu_ps(y + j), acc);
    s = _mm512_reduce_add_ps(acc);
#endif
    for (; j < d; j++) s += x[j] * y[j];
    return s;
}

void sae_arch_preact(const SAEArch *m, const float *X, int B, float *Xc, float *Z) {
    const int d = m->p.d, n = m->p.n;
    const float s = m->input_scale;
    for (int b = 0; b < B; b++)
        for (int j = 0; j < d; j++) Xc[(size_t)b * d + j] = s * X[(size_t)b * d + j] - m->b_dec[j];
    /* Z (B, n) = Xc (B, d) W_encᵀ, W_enc stored (n, d) */
    gemm(0, 1, B, n, d, 1.0f, Xc, d, m->W_enc, d, 0.0f, Z, n);
    for (int b = 0; b < B; b++) {
        float *z = Z + (size_t)b * n;
        for (int i = 0; i < n; i++) z[i] += m->b_enc[i];
    }
}

void sae_arch_decode_csr(const SAEArch *m, const SAECsr *F, int with_bias, float *Xh) {
    const int d = m->p.d;
    for (int b = 0; b < F->B; b++) {
        float *y = Xh + (size_t)b * d;
        if (with_bias) memcpy(y, m->b_dec, (size_t)d * sizeof(float));
        else memset(y, 0, (size_t)d * sizeof(float));
        for (int e = F->ptr[b]; e < F->ptr[b + 1]; e++)
            if (F->val[e] != 0.0f) axpy(d, F->val[e], m->W_dec + (size_t)F->idx[e] * d, y);
    }
}

void sae_arch_decode_back(const SAEArch *m, const SAECsr *F, const float *G, float *g_W_dec, float *gF) {
    const int d = m->p.d;
    for (int b = 0; b < F->B; b++) {
        const float *g = G + (size_t)b * d;
        for (int e = F->ptr[b]; e < F->ptr[b + 1]; e++) {
            const int i = F->idx[e];
            const float v = F->val[e], *w = m->W_dec + (size_t)i * d;
            if (gF) gF[e] = dot(d, w, g);
            if (g_W_dec && v != 0.0f) axpy(d, v, g, g_W_dec + (size_t)i * d);
        }
    }
}

void sae_arch_encode_back(const SAEArch *m, const SAECsr *C, const float *gZ, const float *Xc,
                          float *g_W_enc, float *g_b_enc, float *g_b_dec) {
    const int d = m->p.d;
    for (int b = 0; b < C->B; b++) {
        const float *xc = Xc + (size_t)b * d;
        for (int e = C->ptr[b]; e < C->ptr[b + 1]; e++) {
            const int i = C->idx[e];
            const float gz = gZ[e];
            if (gz == 0.0f) continue;
            if (g_b_enc) g_b_enc[i] += gz;
            if (g_W_enc) axpy(d, gz, xc, g_W_enc + (size_t)i * d);
            if (g_b_dec) axpy(d, -gz, m->W_enc + (size_t)i * d, g_b_dec);
        }
    }
}

/* ---- dispatch, encode, decode ---- */

static void ws_reserve(SAEArch *m, int B) {
    if (B <= m->ws_B) return;
    const size_t d = (size_t)m->p.d, n = (size_t)m->p.n;
    free(m->ws_z), free(m->ws_xc), free(m->ws_xh), free(m->ws_gx), free(m->ws_tmp), free(m->ws_fired);
    m->ws_z = xmalloc_aligned((size_t)B * n * sizeof(float));
    m->ws_xc = xmalloc_aligned((size_t)B * d * sizeof(float));
    m->ws_xh = xmalloc_aligned((size_t)B * d * sizeof(float));
    m->ws_gx = xmalloc_aligned((size_t)B * d * sizeof(float));
    m->ws_tmp = xmalloc_aligned((size_t)B * d * sizeof(float));
    m->ws_fired = xmalloc(n);
    m->ws_B = B;
}

int sae_arch_loss_grad(SAEArch *m, const float *X, int B, SAEArchLog *log) {
    if (B < 1) return err_set("batch = %d: must be at least 1", B);
    ws_reserve(m, B);
    memset(log, 0, sizeof *log);
    for (int i = 0; i < m->n_t; i++) memset(m->t[i].g, 0, (size_t)m->t[i].len * sizeof(float));
    memset(m->ws_fired, 0, (size_t)m->p.n);
    switch (m->p.arch) {
    case SAE_ARCH_TOPK: return sae_topk_loss_grad(m, X, B, log);
    case SAE_ARCH_BATCHTOPK: return sae_batchtopk_loss_grad(m, X, B, log);
    case SAE_ARCH_JUMPRELU: return sae_jumprelu_loss_grad(m, X, B, log);
    case SAE_ARCH_RELU: return sae_relu_loss_grad(m, X, B, log);
    case SAE_ARCH_GATED: return sae_gated_loss_grad(m, X, B, log);
    default: return err_set("architecture %d: unknown", (int)m->p.arch);
    }
}

void sae_arch_encode(SAEArch *m, const float *X, int B, float *F) {
    const int n = m->p.n;
    ws_reserve(m, B);
    float *Xc = m->ws_xc;
    sae_arch_preact(m, X, B, Xc, F);
    int *idx = xmalloc((size_t)n * sizeof(int));
    for (int b = 0; b < B; b++) {
        float *z = F + (size_t)b * n;
        switch (m->p.arch) {
        case SAE_ARCH_TOPK: {
            int c = sae_topk_row(z, n, m->p.k, NULL, idx);
            unsigned char *keep = m->ws_fired;
            memset(keep, 0, (size_t)n);
            for (int e = 0; e < c; e++) keep[idx[e]] = 1;
            for (int i = 0; i < n; i++) z[i] = keep[i] && z[i] > 0 ? z[i] : 0.0f;
            break;
        }
        case SAE_ARCH_BATCHTOPK:
            for (int i = 0; i < n; i++) z[i] = z[i] > m->threshold && z[i] > 0 ? z[i] : 0.0f;
            break;
        case SAE_ARCH_JUMPRELU:
            for (int i = 0; i < n; i++) z[i] = z[i] > expf(m->log_threshold[i]) && z[i] > 0 ? z[i] : 0.0f;
            break;
        case SAE_ARCH_RELU:
            for (int i = 0; i < n; i++) z[i] = z[i] > 0 ? z[i] : 0.0f;
            break;
        case SAE_ARCH_GATED: {
            /* f = [pi_gate > 0] relu(exp(r_mag) (W xc) + b_mag), W xc = z - b_gate */
            for (int i = 0; i < n; i++) {
                float mag = expf(m->r_mag[i]) * (z[i] - m->b_enc[i]) + m->b_mag[i];
                z[i] = z[i] > 0 && mag > 0 ? mag : 0.0f;
            }
            break;
        }
        default: break;
        }
    }
    free(idx);
}

void sae_arch_decode(const SAEArch *m, const float *F, int B, float *Xh) {
    const int d = m->p.d, n = m->p.n;
    gemm(0, 0, B, d, n, 1.0f, F, n, m->W_dec, d, 0.0f, Xh, d);
    const float inv = 1.0f / m->input_scale;
    for (int b = 0; b < B; b++)
        for (int j = 0; j < d; j++) Xh[(size_t)b * d + j] = (Xh[(size_t)b * d + j] + m->b_dec[j]) * inv;
}

double sae_recon_term(SAEArch *m, const SAECsr *F, const float *Xc, const float *nx, float coef,
                      float *Xh, float *gF) {
    const int d = m->p.d, B = F->B;
    float *G = m->ws_gx;
    float *g_b_dec = sae_arch_tensor(m, "b_dec")->g, *g_W_dec = sae_arch_tensor(m, "W_dec")->g;
    sae_arch_decode_csr(m, F, 1, Xh);
    double loss = 0;
    for (int b = 0; b < B; b++) {
        /* x = Xc + b_dec (the scaled input) */
        const float *xc = Xc + (size_t)b * d, *y = Xh + (size_t)b * d;
        float *g = G + (size_t)b * d;
        const double norm = nx ? nx[b] : 1.0;
        double se = 0;
        for (int j = 0; j < d; j++) {
            float r = y[j] - (xc[j] + m->b_dec[j]);
            se += (double)r * r;
            g[j] = (float)(2.0 * coef / ((double)B * norm)) * r;
        }
        loss += se / norm;
    }
    for (int b = 0; b < B; b++)
        for (int j = 0; j < d; j++) g_b_dec[j] += G[(size_t)b * d + j];
    sae_arch_decode_back(m, F, G, g_W_dec, gF);
    return coef * loss / B;
}

double sae_fvu(const SAEArch *m, const float *Xc, const float *Xh, int B) {
    const int d = m->p.d;
    double sse = 0, sst = 0;
    for (int j = 0; j < d; j++) {
        double mean = 0;
        for (int b = 0; b < B; b++) mean += Xc[(size_t)b * d + j];
        mean /= B;
        for (int b = 0; b < B; b++) {
            double x = Xc[(size_t)b * d + j], r = Xh[(size_t)b * d + j] - (x + m->b_dec[j]);
            sse += r * r;
            sst += (x - mean) * (x - mean);
        }
    }
    return sst > 0 ? sse / sst : NAN;
}
