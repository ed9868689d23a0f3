/*
 * sae/arch_relu.c - the ReLU SAE with the L1 penalty weighted by decoder
 * norms: Anthropic's "Circuits Updates - April 2024" (Conerly et al.,
 * "Update on how we train SAEs"), the successor of Bricken et al. 2023.
 *
 * Forward (one token; s the input scale making E||s x|| = sqrt(d) over the
 * initial sample, x the raw input):
 *   x' = s x                                      (d)
 *   z  = W_enc (x' - b_dec) + b_enc               (n)
 *   f  = ReLU(z)                                  (n)
 *   x̂  = W_decᵀ f + b_dec                         (d)  in the scaled units
 * (The update's encoder has no b_dec subtraction; we keep it, as every other
 * architecture here does and as SAELens' apply_b_dec_to_input = true reads
 * it. Nothing is lost: b_enc absorbs W_enc b_dec.)
 * Loss over B tokens (λ after its linear warm-up):
 *   L = (1/B) Σ_b ( ||x'_b - x̂_b||² + λ Σ_i f_bi ||W_dec[i]|| )
 * Backward:
 *   g_x̂ = 2 (x̂ - x') / B;  g_b_dec += g_x̂
 *   g_W_dec[i] += f_i g_x̂ + (λ/B) f_i W_dec[i] / ||W_dec[i]||
 *   g_f_i = W_dec[i] · g_x̂ + (λ/B) ||W_dec[i]||
 *   g_z_i = g_f_i [z_i > 0]
 *   encoder as in sae/arch.c (g_W_enc, g_b_enc, g_b_dec)
 * The decoder rows are free (the penalty carries their norms); gradients
 * are clipped (default 1) and the LR decays over the last 20% in the
 * update's recipe (sae/arch_train.c's knobs). At save time the norms are
 * folded into the encoder so the saved W_dec rows are unit (sae/arch_io.c).
 */
#include "sae/arch.h"
#include "core/util.h"

#include <math.h>
#include <stdlib.h>

int sae_relu_loss_grad(SAEArch *m, const float *X, int B, SAEArchLog *log) {
    const int n = m->p.n, d = m->p.d;
    const float lam = sae_arch_lambda(m);
    sae_arch_preact(m, X, B, m->ws_xc, m->ws_z);
    float *norm = xmalloc((size_t)n * sizeof(float));
    double *fsum = xcalloc((size_t)n, sizeof(double));
    for (int i = 0; i < n; i++) {
        double s = 0;
        for (int j = 0; j < d; j++) s += (double)m->W_dec[(size_t)i * d + j] * m->W_dec[(size_t)i * d + j];
        norm[i] = (float)sqrt(s);
    }
    SAECsr F;
    sae_csr_positive(&F, m->ws_z, B, n);
    const int E = F.ptr[B];
    const long nnz = E;
    double pen = 0;
    for (int e = 0; e < E; e++) {
        const int i = F.idx[e];
        m->ws_fired[i] = 1;
        pen += (double)F.val[e] * norm[i];
        fsum[i] += F.val[e];
    }
    float *gF = xmalloc((size_t)(E + 1) * sizeof(float));
    log->recon = sae_recon_term(m, &F, m->ws_xc, NULL, 1.0f, m->ws_xh, gF);
    log->sparsity = lam * pen / B;
    log->loss = log->recon + log->sparsity;
    log->l0 = (double)nnz / B;
    log->fvu = sae_fvu(m, m->ws_xc, m->ws_xh, B);
    for (int e = 0; e < E; e++) gF[e] += lam / B * norm[F.idx[e]];
    float *g_W_dec = sae_arch_tensor(m, "W_dec")->g;
    for (int i = 0; i < n; i++) {
        if (fsum[i] == 0 || norm[i] == 0) continue;
        const float c = (float)(lam / B * fsum[i] / norm[i]);
        for (int j = 0; j < d; j++) g_W_dec[(size_t)i * d + j] += c * m->W_dec[(size_t)i * d + j];
    }
    sae_arch_encode_back(m, &F, gF, m->ws_xc, sae_arch_tensor(m, "W_enc")->g, sae_arch_tensor(m, "b_enc")->g,
                         sae_arch_tensor(m, "b_dec")->g);
    free(gF);
    free(norm);
    free(fsum);
    sae_csr_free(&F);
    return 0;
}
