/*
 * sae/arch_batchtopk.c - the BatchTopK SAE: Bussmann, Leask and Nanda 2024,
 * "BatchTopK Sparse Autoencoders" (arXiv:2412.06410).
 *
 * Training forward (a batch X (B, d), x scaled):
 *   Z = (X - b_dec) W_encᵀ + b_enc                 (B, n)
 *   S = the k·B largest entries of the whole Z (ties to the lower flat
 *       index b·n + i, as torch.sort(stable=True) on Z.flatten())
 *   F = ReLU(Z) on S, 0 elsewhere                  (B, n)  k per token on average
 *   X̂ = F W_dec + b_dec
 * Loss: as TopK (sae/arch_topk.c): per-token normalised MSE + α AuxK (the
 * paper keeps AuxK); the backward is TopK's with S in place of each row's
 * top k: g_z = g_f [in S][z > 0].
 * Inference: the batch dependence is replaced by one threshold θ,
 *   f = z [z > θ],  θ <- (1 - r) θ + r · min{ kept value > 0 } after each
 * step (an exponential running mean of the smallest kept activation, r =
 * threshold_lr = 0.01, θ starting at 0, the authors' code). The trained SAE
 * is saved as a JumpReLU with θ for every latent (sae/arch_io.c).
 */
#include "sae/arch.h"
#include "core/util.h"

#include <math.h>
#include <stdlib.h>

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

int sae_batchtopk_loss_grad(SAEArch *m, const float *X, int B, SAEArchLog *log) {
    const int n = m->p.n, d = m->p.d;
    sae_arch_preact(m, X, B, m->ws_xc, m->ws_z);
    float *nx = xmalloc((size_t)B * sizeof(float));
    sae_token_norms(m, m->ws_xc, B, nx);
    const long K = (long)m->p.k * B;
    int *sel = xmalloc((size_t)K * sizeof(int));
    const int c = sae_topk_row(m->ws_z, B * n, (int)K, NULL, sel);
    qsort(sel, (size_t)c, sizeof(int), cmp_int); /* group by token */
    SAECsr F;
    sae_csr_init(&F, B, c);
    long nnz = 0;
    float min_kept = INFINITY;
    int e = 0;
    for (int b = 0; b < B; b++) {
        sae_csr_row(&F);
        for (; e < c && sel[e] / n == b; e++) {
            const int i = sel[e] % n;
            const float z = m->ws_z[(size_t)b * n + i], v = z > 0 ? z : 0.0f;
            sae_csr_push(&F, i, v);
            if (v > 0) {
                nnz++;
                m->ws_fired[i] = 1;
                if (v < min_kept) min_kept = v;
            }
        }
    }
    m->min_kept = nnz ? min_kept : NAN;
    float *gF = xmalloc((size_t)(F.ptr[B] + 1) * sizeof(float));
    log->recon = sae_recon_term(m, &F, m->ws_xc, nx, 1.0f, m->ws_xh, gF);
    for (int k = 0; k < F.ptr[B]; k++) gF[k] = F.val[k] > 0 ? gF[k] : 0.0f;
    sae_arch_encode_back(m, &F, gF, m->ws_xc, sae_arch_tensor(m, "W_enc")->g, sae_arch_tensor(m, "b_enc")->g,
                         sae_arch_tensor(m, "b_dec")->g);
    log->l0 = (double)nnz / B;
    log->fvu = sae_fvu(m, m->ws_xc, m->ws_xh, B);
    float *E = xmalloc((size_t)B * d * sizeof(float));
    sae_residual(m, m->ws_xc, m->ws_xh, B, E);
    sae_auxk(m, B, E, nx, log);
    log->loss = log->recon + log->aux;
    free(E);
    free(gF);
    free(sel);
    free(nx);
    sae_csr_free(&F);
    return 0;
}
