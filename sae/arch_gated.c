/*
 * sae/arch_gated.c - the Gated SAE: Rajamanoharan et al. 2024, "Improving
 * Dictionary Learning with Gated Sparse Autoencoders" (arXiv:2404.16014),
 * section 3 (weight sharing, eq. 7-9).
 *
 * Forward (one token, x scaled; W_enc (n, d) shared by both paths):
 *   xc     = x - b_dec
 *   h      = W_enc xc                                    (n)
 *   π_gate = h + b_gate                                  (n)  (b_gate is stored as b_enc)
 *   π_mag  = exp(r_mag) ⊙ h + b_mag                      (n)
 *   f      = [π_gate > 0] ⊙ ReLU(π_mag)                  (n)
 *   x̂      = W_decᵀ f + b_dec
 * Loss over B tokens (λ after its warm-up):
 *   L = (1/B) Σ_b ( ||x - x̂||² + λ ||ReLU(π_gate)||₁ + ||x - x̂_frozen||² )
 *   x̂_frozen = sg(W_dec)ᵀ ReLU(π_gate) + sg(b_dec)     (sg = stop-gradient:
 *   the auxiliary reconstruction trains the gate path only)
 * Backward (the Heaviside [π_gate > 0] passes no gradient):
 *   g_x̂ = 2 (x̂ - x)/B: g_b_dec += g_x̂, g_W_dec[i] += f_i g_x̂, g_f_i = W_dec[i]·g_x̂
 *   g_π_mag = g_f [π_gate > 0][π_mag > 0]
 *     g_b_mag += g_π_mag;  g_r_mag += g_π_mag e^{r_mag} h;  g_h += g_π_mag e^{r_mag}
 *   g_x̂f = 2 (x̂_frozen - x)/B;  g_π_gate = (λ/B + W_dec[i]·g_x̂f) [π_gate > 0]
 *     g_b_gate += g_π_gate;  g_h += g_π_gate
 *   h = W_enc (x - b_dec): g_W_enc[i] += g_h xc, g_b_dec -= Σ_i g_h W_enc[i]
 * Sparse over the entries with π_gate > 0 (f is nonzero only there).
 * Decoder rows unit-norm (sae/arch_train.c), which the L1 on the gate needs.
 */
#include "sae/arch.h"
#include "core/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int sae_gated_loss_grad(SAEArch *m, const float *X, int B, SAEArchLog *log) {
    const int n = m->p.n, d = m->p.d;
    const float lam = sae_arch_lambda(m);
    sae_arch_preact(m, X, B, m->ws_xc, m->ws_z); /* ws_z = π_gate */
    float *er = xmalloc((size_t)n * sizeof(float));
    for (int i = 0; i < n; i++) er[i] = expf(m->r_mag[i]);
    SAECsr F, G; /* same entries (π_gate > 0): G holds ReLU(π_gate), F holds f */
    sae_csr_positive(&G, m->ws_z, B, n);
    const int E = G.ptr[B];
    sae_csr_init(&F, B, E);
    long nnz = 0;
    double l1 = 0;
    for (int b = 0; b < B; b++) {
        sae_csr_row(&F);
        for (int e = G.ptr[b]; e < G.ptr[b + 1]; e++) {
            const int i = G.idx[e];
            const float pg = G.val[e], h = pg - m->b_enc[i], mag = er[i] * h + m->b_mag[i];
            const float f = mag > 0 ? mag : 0.0f;
            sae_csr_push(&F, i, f);
            l1 += pg;
            if (f > 0) nnz++, m->ws_fired[i] = 1;
        }
    }
    float *gF = xmalloc((size_t)(E + 1) * sizeof(float)), *gG = xmalloc((size_t)(E + 1) * sizeof(float));
    log->recon = sae_recon_term(m, &F, m->ws_xc, NULL, 1.0f, m->ws_xh, gF);
    log->l0 = (double)nnz / B;
    log->fvu = sae_fvu(m, m->ws_xc, m->ws_xh, B);
    log->sparsity = lam * l1 / B;
    /* the frozen-decoder reconstruction of ReLU(π_gate) */
    float *Xf = m->ws_tmp, *Gf = m->ws_gx;
    sae_arch_decode_csr(m, &G, 1, Xf);
    double aux = 0;
    for (int b = 0; b < B; b++)
        for (int j = 0; j < d; j++) {
            size_t o = (size_t)b * d + j;
            float r = Xf[o] - (m->ws_xc[o] + m->b_dec[j]);
            aux += (double)r * r;
            Gf[o] = 2.0f / B * r;
        }
    log->aux = aux / B;
    log->loss = log->recon + log->sparsity + log->aux;
    sae_arch_decode_back(m, &G, Gf, NULL, gG);
    float *g_r = sae_arch_tensor(m, "r_mag")->g, *g_bm = sae_arch_tensor(m, "b_mag")->g;
    float *g_bg = sae_arch_tensor(m, "b_enc")->g;
    float *gH = gF; /* g_h per entry, overwriting g_f */
    for (int b = 0; b < B; b++)
        for (int e = F.ptr[b]; e < F.ptr[b + 1]; e++) {
            const int i = F.idx[e];
            const float h = G.val[e] - m->b_enc[i];
            const float gmag = F.val[e] > 0 ? gF[e] : 0.0f;
            const float ggate = lam / B + gG[e];
            g_bm[i] += gmag;
            g_r[i] += gmag * er[i] * h;
            g_bg[i] += ggate;
            gH[e] = gmag * er[i] + ggate;
        }
    sae_arch_encode_back(m, &F, gH, m->ws_xc, sae_arch_tensor(m, "W_enc")->g, NULL, sae_arch_tensor(m, "b_dec")->g);
    free(gF);
    free(gG);
    free(er);
    sae_csr_free(&F);
    sae_csr_free(&G);
    return 0;
}
