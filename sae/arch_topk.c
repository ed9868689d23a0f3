/*
 * sae/arch_topk.c - the TopK SAE with the AuxK loss and the Multi-TopK
 * option: Gao et al. 2024, "Scaling and evaluating sparse autoencoders"
 * (arXiv:2406.04093), sections 2.3-2.5 and appendix A.
 *
 * Forward (one token; x the (scaled) input (d); W_enc, W_dec (n, d)):
 *   xc = x - b_dec                                 (d)
 *   z  = W_enc xc + b_enc                          (n)  pre-activations
 *   S  = TopK_k(z)   the k largest; ties go to the lower index (a stable
 *                    descending sort's first k, torch.sort(stable=True))
 *   f_i = ReLU(z_i) for i in S, else 0             (n)  k or fewer nonzero
 *   x̂  = W_decᵀ f + b_dec                          (d)
 * Loss over a batch of B tokens:
 *   nmse = (1/B) Σ_b ||x_b - x̂_b||² / ||x_b||²
 *     (the normalised MSE of the paper's released code: each token's error
 *      over its own squared norm, so a batch of 1 is defined; a zero x
 *      divides by 1 instead)
 *   AuxK: D = dead latents (not fired for dead_tokens tokens), e = x - x̂
 *   held constant, S' = TopK_{min(k_aux, |D|)}(z restricted to D),
 *   a_i = ReLU(z_i) on S', ê = W_decᵀ a (no b_dec: the paper's
 *   ê = W_dec z; OpenAI's code adds b_dec to both sides and so passes a
 *   gradient to b_dec, sparsify's does not - we follow the paper and sparsify),
 *   aux = (1/B) Σ_b ||e_b - ê_b||² / ||x_b||²   (0 when no latent is dead)
 *   loss = nmse + α aux;  Multi-TopK: nmse(k) + nmse(4k)/8 + α aux, with e
 *   from the k reconstruction.
 * Backward (per token, g_· = d loss / d ·):
 *   g_x̂ = 2 (x̂ - x) / (B ||x||²)
 *   g_b_dec += g_x̂;  g_W_dec[i] += f_i g_x̂;  g_f_i = W_dec[i] · g_x̂
 *   g_z_i = g_f_i [i in S][z_i > 0]   (TopK's indices carry no gradient,
 *                                       ReLU passes where z > 0)
 *   AuxK: g_ê = 2α (ê - e) / (B ||x||²); g_W_dec[i] += a_i g_ê;
 *         g_z_i += (W_dec[i] · g_ê) [i in S'][z_i > 0]  (a latent in S and S'
 *         collects both)
 *   z = W_enc xc + b_enc, xc = x - b_dec:
 *   g_W_enc[i] += g_z_i xc;  g_b_enc[i] += g_z_i;  g_b_dec -= Σ_i g_z_i W_enc[i]
 * Only the k (+ k_aux) selected latents of each token enter the decoder and
 * the backward (sae/arch.c's sparse pieces); the encoder is one dense gemm.
 * The unit-norm decoder and its parallel-gradient removal are in
 * sae/arch_train.c (section 2.4's constraint, shared with the other kinds).
 */
#include "sae/arch.h"
#include "core/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* per-token normaliser ||x_b||² of the scaled input (1 for a zero token) */
void sae_token_norms(const SAEArch *m, const float *Xc, int B, float *nx) {
    const int d = m->p.d;
    for (int b = 0; b < B; b++) {
        double s = 0;
        for (int j = 0; j < d; j++) {
            double x = Xc[(size_t)b * d + j] + m->b_dec[j];
            s += x * x;
        }
        nx[b] = s > 0 ? (float)s : 1.0f;
    }
}

/* The TopK_kk term: select, reconstruct, backward into every tensor.
 * Writes Xh. Returns coef * nmse. */
static double topk_term(SAEArch *m, int B, int kk, const float *nx, float coef, float *Xh,
                        unsigned char *fired, double *l0) {
    const int n = m->p.n;
    const float *Z = m->ws_z;
    int *idx = xmalloc((size_t)kk * sizeof(int));
    SAECsr F;
    sae_csr_init(&F, B, B * kk);
    long nnz = 0;
    for (int b = 0; b < B; b++) {
        const float *z = Z + (size_t)b * n;
        int c = sae_topk_row(z, n, kk, NULL, idx);
        sae_csr_row(&F);
        for (int e = 0; e < c; e++) {
            float v = z[idx[e]] > 0 ? z[idx[e]] : 0.0f;
            sae_csr_push(&F, idx[e], v);
            if (v > 0) {
                nnz++;
                if (fired) fired[idx[e]] = 1;
            }
        }
    }
    float *gF = xmalloc((size_t)(F.ptr[B] + 1) * sizeof(float));
    double loss = sae_recon_term(m, &F, m->ws_xc, nx, coef, Xh, gF);
    for (int e = 0; e < F.ptr[B]; e++) gF[e] = F.val[e] > 0 ? gF[e] : 0.0f;
    sae_arch_encode_back(m, &F, gF, m->ws_xc, sae_arch_tensor(m, "W_enc")->g, sae_arch_tensor(m, "b_enc")->g,
                         sae_arch_tensor(m, "b_dec")->g);
    if (l0) *l0 = (double)nnz / B;
    free(gF);
    free(idx);
    sae_csr_free(&F);
    return loss;
}

void sae_auxk_picks(SAEArch *m, const SAECsr *A, float *Eh, const float *E, const float *nx, const float *Xc,
                    SAEArchLog *log) {
    const int B = A->B, d = m->p.d;
    const float alpha = m->p.aux_alpha;
    /* aux = (1/B) Σ_b ||ê_b - e_b||² / ||x_b||²; Eh becomes g_ê = 2α (ê - e) / (B ||x||²) */
    double aux = 0;
    for (int b = 0; b < B; b++) {
        double se = 0;
        for (int j = 0; j < d; j++) {
            size_t o = (size_t)b * d + j;
            float r = Eh[o] - E[o];
            se += (double)r * r;
            Eh[o] = (float)(2.0 * alpha / ((double)B * nx[b])) * r;
        }
        aux += se / nx[b];
    }
    log->aux += alpha * aux / B;
    float *gA = xmalloc((size_t)(A->ptr[B] + 1) * sizeof(float));
    sae_arch_decode_back(m, A, Eh, sae_arch_tensor(m, "W_dec")->g, gA);
    for (int e = 0; e < A->ptr[B]; e++) gA[e] = A->val[e] > 0 ? gA[e] : 0.0f;
    sae_arch_encode_back(m, A, gA, Xc, sae_arch_tensor(m, "W_enc")->g, sae_arch_tensor(m, "b_enc")->g,
                         sae_arch_tensor(m, "b_dec")->g);
    free(gA);
}

void sae_residual(const SAEArch *m, const float *Xc, const float *Xh, int B, float *E) {
    const int d = m->p.d;
    for (int b = 0; b < B; b++)
        for (int j = 0; j < d; j++) {
            size_t o = (size_t)b * d + j;
            E[o] = Xc[o] + m->b_dec[j] - Xh[o];
        }
}

void sae_auxk(SAEArch *m, int B, const float *E, const float *nx, SAEArchLog *log) {
    const int n = m->p.n;
    const float alpha = m->p.aux_alpha;
    if (m->p.k_aux == 0 || alpha == 0) return;
    unsigned char *dead = xmalloc((size_t)n);
    int n_dead = 0;
    for (int i = 0; i < n; i++) n_dead += dead[i] = (unsigned char)sae_arch_dead(m, i);
    if (n_dead == 0) {
        free(dead);
        return;
    }
    const int kk = m->p.k_aux < n_dead ? m->p.k_aux : n_dead;
    int *idx = xmalloc((size_t)kk * sizeof(int));
    SAECsr A;
    sae_csr_init(&A, B, B * kk);
    for (int b = 0; b < B; b++) {
        const float *z = m->ws_z + (size_t)b * n;
        int c = sae_topk_row(z, n, kk, dead, idx);
        sae_csr_row(&A);
        for (int e = 0; e < c; e++) sae_csr_push(&A, idx[e], z[idx[e]] > 0 ? z[idx[e]] : 0.0f);
    }
    /* ê (B, d) without b_dec */
    sae_arch_decode_csr(m, &A, 0, m->ws_tmp);
    sae_auxk_picks(m, &A, m->ws_tmp, E, nx, m->ws_xc, log);
    free(idx);
    free(dead);
    sae_csr_free(&A);
}

int sae_topk_loss_grad(SAEArch *m, const float *X, int B, SAEArchLog *log) {
    const int d = m->p.d;
    sae_arch_preact(m, X, B, m->ws_xc, m->ws_z);
    float *nx = xmalloc((size_t)B * sizeof(float));
    sae_token_norms(m, m->ws_xc, B, nx);
    float *Xh = m->ws_xh;
    if (m->p.multi_topk) {
        /* the 4k term first: Xh is then overwritten by the k term */
        log->recon += topk_term(m, B, 4 * m->p.k, nx, 0.125f, Xh, NULL, NULL);
    }
    log->recon += topk_term(m, B, m->p.k, nx, 1.0f, Xh, m->ws_fired, &log->l0);
    log->fvu = sae_fvu(m, m->ws_xc, Xh, B);
    /* e = x - x̂ (held constant) */
    float *E = xmalloc((size_t)B * d * sizeof(float));
    sae_residual(m, m->ws_xc, Xh, B, E);
    sae_auxk(m, B, E, nx, log);
    log->loss = log->recon + log->aux;
    free(E);
    free(nx);
    return 0;
}
