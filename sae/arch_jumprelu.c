/*
 * sae/arch_jumprelu.c - the JumpReLU SAE: Rajamanoharan et al. 2024,
 * "Jumping Ahead: Improving Reconstruction Fidelity with JumpReLU Sparse
 * Autoencoders" (arXiv:2407.14435), sections 2-4, as trained for Gemma Scope
 * (Lieberum et al. 2024, arXiv:2408.05147).
 *
 * Forward (one token; x the (scaled) input (d)):
 *   z  = W_enc (x - b_dec) + b_enc                 (n)
 *   θ  = exp(t)                                    (n)  t = log_threshold, trained
 *   f  = z ⊙ H(z - θ)                              (n)  H(u) = [u > 0]
 *   x̂  = W_decᵀ f + b_dec                          (d)
 * Loss over a batch of B tokens (λ after its warm-up, sae/arch_train.c):
 *   L = (1/B) Σ_b ( ||x_b - x̂_b||² + λ Σ_i H(z_bi - θ_i) )
 * The jump and the step have zero derivative almost everywhere; the paper's
 * straight-through estimators replace the derivatives in θ with a kernel
 * density estimate, K the rectangle K(u) = [-1/2 < u < 1/2], bandwidth ε:
 *   ∂f/∂θ := -(θ/ε) K((z - θ)/ε)        ∂f/∂z := H(z - θ)
 *   ∂H/∂θ := -(1/ε) K((z - θ)/ε)        ∂H/∂z := 0
 * Backward (per token):
 *   g_x̂ = 2 (x̂ - x) / B;  g_b_dec += g_x̂;  g_W_dec[i] += f_i g_x̂
 *   g_f_i = W_dec[i] · g_x̂
 *   g_z_i = g_f_i H(z_i - θ_i)
 *   g_θ_i += K((z_i - θ_i)/ε) ( -(θ_i/ε) g_f_i - λ / (B ε) )
 *   g_t_i = θ_i g_θ_i                     (θ = exp(t))
 *   encoder: g_W_enc[i] += g_z_i (x - b_dec), g_b_enc[i] += g_z_i,
 *            g_b_dec -= Σ_i g_z_i W_enc[i]
 * Sparse: only the active entries (z > θ) and those inside the kernel's
 * window (|z - θ| < ε/2) enter the decoder and the backward; the window's
 * inactive entries need g_f (one dot product each) but add nothing to x̂.
 * Decoder rows are kept unit-norm (sae/arch_train.c), as for TopK; the
 * L0 penalty does not see the decoder's scale, so without the constraint
 * nothing would pin it.
 */
#include "sae/arch.h"
#include "core/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* λ after its linear warm-up (shared by the λ architectures) */
float sae_arch_lambda(const SAEArch *m) {
    float lam = m->p.lambda;
    if (m->p.lambda_warmup > 0 && m->step < m->p.lambda_warmup)
        lam *= (float)(m->step + 1) / (float)m->p.lambda_warmup;
    return lam;
}

int sae_jumprelu_loss_grad(SAEArch *m, const float *X, int B, SAEArchLog *log) {
    const int n = m->p.n;
    const float eps = m->p.jump_eps, lam = sae_arch_lambda(m);
    sae_arch_preact(m, X, B, m->ws_xc, m->ws_z);
    float *theta = xmalloc((size_t)n * sizeof(float));
    for (int i = 0; i < n; i++) theta[i] = expf(m->log_threshold[i]);
    /* the entries that matter: active (z > θ) or in the window */
    SAECsr F;
    sae_csr_init(&F, B, B * 64);
    long nnz = 0;
    for (int b = 0; b < B; b++) {
        const float *z = m->ws_z + (size_t)b * n;
        sae_csr_row(&F);
        for (int i = 0; i < n; i++) {
            const float u = (z[i] - theta[i]) / eps;
            const int on = z[i] > theta[i], win = u > -0.5f && u < 0.5f;
            if (!on && !win) continue;
            sae_csr_push(&F, i, on ? z[i] : 0.0f);
            if (on) nnz++, m->ws_fired[i] = 1;
        }
    }
    const int E = F.ptr[B];
    float *gF = xmalloc((size_t)(E + 1) * sizeof(float));
    log->recon = sae_recon_term(m, &F, m->ws_xc, NULL, 1.0f, m->ws_xh, gF);
    log->sparsity = lam * (double)nnz / B;
    log->loss = log->recon + log->sparsity;
    log->l0 = (double)nnz / B;
    log->fvu = sae_fvu(m, m->ws_xc, m->ws_xh, B);
    /* θ's pseudo-gradient, then g_t = θ g_θ; g_z = g_f H(z - θ) */
    float *g_t = sae_arch_tensor(m, "log_threshold")->g;
    double *g_theta = xcalloc((size_t)n, sizeof(double));
    for (int b = 0; b < B; b++) {
        const float *z = m->ws_z + (size_t)b * n;
        for (int e = F.ptr[b]; e < F.ptr[b + 1]; e++) {
            const int i = F.idx[e];
            const float u = (z[i] - theta[i]) / eps;
            if (u > -0.5f && u < 0.5f) g_theta[i] += -(theta[i] / eps) * gF[e] - lam / ((double)B * eps);
            gF[e] = F.val[e] != 0.0f || z[i] > theta[i] ? gF[e] : 0.0f;
        }
    }
    for (int i = 0; i < n; i++) g_t[i] = (float)(theta[i] * g_theta[i]);
    sae_arch_encode_back(m, &F, gF, m->ws_xc, sae_arch_tensor(m, "W_enc")->g, sae_arch_tensor(m, "b_enc")->g,
                         sae_arch_tensor(m, "b_dec")->g);
    free(g_theta);
    free(gF);
    free(theta);
    sae_csr_free(&F);
    return 0;
}
