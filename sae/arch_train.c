/*
 * sae/arch_train.c - one training step for every architecture of
 * sae/arch.h, and a small loop over a token matrix.
 *
 * A step on a batch X (B, d):
 *   1. loss and gradients (the architecture's file); a NaN or infinite loss
 *      stops here, before any weight changes
 *   2. decoder constraint, gradient side (every kind but relu): each W_dec
 *      row w_i is unit-norm, and the gradient's component along it is removed,
 *        g_i <- g_i - (g_i · w_i) w_i
 *      so the step moves along the sphere (Gao et al. 2024, section 2.4;
 *      Bricken et al. 2023)
 *   3. clipping: with N = sqrt(Σ over every tensor of g²) and clip c > 0,
 *      every g is multiplied by c / (N + 1e-6) when that is below 1
 *      (torch.nn.utils.clip_grad_norm_'s rule)
 *   4. the learning rate: lr · min(1, (s+1)/warmup) · min(1, (S - s)/decay)
 *      for step s of S (linear warm-up, linear decay to 0 over the last
 *      decay steps: the April update's schedule)
 *   5. Adam (Kingma & Ba; PyTorch's form, no weight decay), step t = s + 1:
 *        m <- β1 m + (1 - β1) g,  v <- β2 v + (1 - β2) g²
 *        w <- w - (lr / (1 - β1^t)) m / (sqrt(v) / sqrt(1 - β2^t) + ε)
 *   6. decoder constraint, weight side: w_i <- w_i / ||w_i||
 *   7. dead latents: since_fired_i <- 0 if latent i fired in the batch, else
 *      since_fired_i + B; dead when since_fired_i >= dead_tokens
 *   8. batchtopk: θ <- (1 - r) θ + r · (smallest kept value of the batch)
 * Steps 2-8 are sae_arch_apply, so that a data-parallel step (dist/) can sum
 * the gradients of its ranks' shards of the batch in between.
 */
#include "sae/arch.h"
#include "core/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int unit_decoder(const SAEArch *m) { return m->p.arch != SAE_ARCH_RELU; }

void sae_arch_dec_project(const float *W_dec, float *g, long rows, int d) {
    for (long i = 0; i < rows; i++) {
        const float *w = W_dec + (size_t)i * d;
        float *gi = g + (size_t)i * d;
        double dot = 0;
        for (int j = 0; j < d; j++) dot += (double)gi[j] * w[j];
        for (int j = 0; j < d; j++) gi[j] -= (float)dot * w[j];
    }
}

void sae_arch_dec_normalize(float *W_dec, long rows, int d) {
    for (long i = 0; i < rows; i++) {
        float *w = W_dec + (size_t)i * d;
        double nn = 0;
        for (int j = 0; j < d; j++) nn += (double)w[j] * w[j];
        if (nn > 0) {
            float s = (float)(1 / sqrt(nn));
            for (int j = 0; j < d; j++) w[j] *= s;
        }
    }
}

int sae_arch_step(SAEArch *m, const float *X, int B, SAEArchLog *log) {
    if (sae_arch_loss_grad(m, X, B, log) != 0) return -1;
    return sae_arch_apply(m, B, log);
}

int sae_arch_apply(SAEArch *m, long B, SAEArchLog *log) {
    const int n = m->p.n, d = m->p.d;
    if (!isfinite(log->loss))
        return err_set("step %ld: the loss is %g; training stopped (lower the learning rate, or check the "
                       "activations for NaN or huge values)", m->step + 1, log->loss);
    SAEArchTensor *dec = sae_arch_tensor(m, "W_dec");
    if (unit_decoder(m)) sae_arch_dec_project(m->W_dec, dec->g, n, d);
    double ss = 0;
    for (int t = 0; t < m->n_t; t++)
        for (long e = 0; e < m->t[t].len; e++) ss += (double)m->t[t].g[e] * m->t[t].g[e];
    log->grad_norm = sqrt(ss);
    if (m->p.grad_clip > 0) {
        double coef = m->p.grad_clip / (log->grad_norm + 1e-6);
        if (coef < 1)
            for (int t = 0; t < m->n_t; t++)
                for (long e = 0; e < m->t[t].len; e++) m->t[t].g[e] *= (float)coef;
    }
    const double lr = sae_arch_lr(m);
    log->lr = lr;
    const long t = m->step + 1;
    const double b1 = m->p.beta1, b2 = m->p.beta2;
    const double bc1 = 1 - pow(b1, (double)t), bc2 = 1 - pow(b2, (double)t);
    const float step_size = (float)(lr / bc1), sbc2 = (float)sqrt(bc2), eps = m->p.adam_eps;
    for (int k = 0; k < m->n_t; k++) {
        SAEArchTensor *T = &m->t[k];
        for (long e = 0; e < T->len; e++) {
            const float g = T->g[e];
            T->m[e] = (float)b1 * T->m[e] + (float)(1 - b1) * g;
            T->v[e] = (float)b2 * T->v[e] + (float)(1 - b2) * g * g;
            T->w[e] -= step_size * T->m[e] / (sqrtf(T->v[e]) / sbc2 + eps);
        }
    }
    if (unit_decoder(m)) sae_arch_dec_normalize(m->W_dec, n, d);
    long dead = 0;
    for (int i = 0; i < n; i++) {
        m->since_fired[i] = m->ws_fired[i] ? 0 : m->since_fired[i] + B;
        dead += sae_arch_dead(m, i);
    }
    log->dead_frac = (double)dead / n;
    if (m->p.arch == SAE_ARCH_BATCHTOPK && !isnan(m->min_kept))
        m->threshold = (1 - m->p.threshold_lr) * m->threshold + m->p.threshold_lr * m->min_kept;
    m->step++;
    return 0;
}

/* The learning rate of the next step: lr, ramped linearly from lr/warmup over
 * the first warmup_steps, then decayed linearly to 0 over the last
 * decay_steps of total_steps. */
double sae_arch_lr(const SAEArch *m) {
    double lr = m->p.lr;
    if (m->p.warmup_steps > 0 && m->step < m->p.warmup_steps) lr *= (double)(m->step + 1) / m->p.warmup_steps;
    if (m->p.decay_steps > 0 && m->p.total_steps - m->step < m->p.decay_steps)
        lr *= (double)(m->p.total_steps - m->step) / m->p.decay_steps;
    return lr;
}

int sae_arch_train(SAEArch *m, const float *X, long T, int B, long steps, SAEArchStepFn on_step, void *ctx) {
    if (B < 1 || T < B) return err_set("batch = %d: must be between 1 and the number of tokens (%ld)", B, T);
    const int d = m->p.d;
    const long nb = T / B;
    for (long s = 0; s < steps; s++) {
        SAEArchLog log;
        if (sae_arch_step(m, X + (size_t)(s % nb) * B * d, B, &log) != 0) return -1;
        if (on_step && on_step(ctx, m->step, &log) != 0) return -1;
    }
    return 0;
}
