/*
 * sae/arch.h - the SAE architectures the field trains, beside the seed's:
 * TopK (+AuxK, Multi-TopK), BatchTopK, JumpReLU, ReLU+L1 and Gated, all
 * untied, all behind one interface and one training step (Adam, LR warm-up
 * and decay, gradient clipping, dead-latent tracking).
 *
 *   SAEArchParams p = sae_arch_default_params(SAE_ARCH_TOPK, d, n);
 *   p.k = 32;
 *   SAEArch m;
 *   if (sae_arch_init(&m, &p, X, T) != 0) return -1;   // seeded; b_dec from a sample X (T, d)
 *   SAEArchLog log;
 *   for (long s = 0; s < steps; s++)
 *       if (sae_arch_step(&m, X + (size_t)s * B * d, B, &log) != 0) break;  // NaN loss stops
 *   sae_arch_save_saelens(&m, "out/sae", &meta);      // sae/arch_io.c
 *   sae_arch_free(&m);
 *
 * Notation (every architecture): x (d) one activation, latents f (n),
 * reconstruction x̂ (d), a batch X (B, d).
 * Storage: W_enc is kept as (n, d) - row i is latent i's encoder direction -
 * so the encoder is one gemm X Wᵀ and the sparse backward touches whole rows.
 * SAELens and sparsify store W_enc as (d, n) / (n, d) respectively; the
 * readers and writers in sae/arch_io.c transpose where needed. W_dec is
 * (n, d) as in SAELens: row i is latent i's decoder direction.
 *
 * Files: arch.c (parameters, init, the shared sparse encode/decode/backward
 * pieces), arch_<name>.c (one per architecture: forward, loss, backward with
 * the derivation on top), arch_train.c (the step: Adam, schedule, clipping,
 * decoder constraint, dead latents, log), arch_io.c (SAELens / sparsify).
 *
 * Errors: functions returning int return 0, or -1 with err_set() (core/util.h).
 */
#ifndef SAE_ARCH_H
#define SAE_ARCH_H

#include <stdint.h>

#include "sae/topk.h"   /* sae_topk_row: the top-k of a row (TopK, AuxK, BatchTopK) */

typedef enum {
    SAE_ARCH_TOPK,       /* Gao et al. 2024 */
    SAE_ARCH_BATCHTOPK,  /* Bussmann et al. 2024 */
    SAE_ARCH_JUMPRELU,   /* Rajamanoharan et al. 2024b (Gemma Scope) */
    SAE_ARCH_RELU,       /* ReLU + L1 weighted by decoder norms (Anthropic, April 2024) */
    SAE_ARCH_GATED,      /* Rajamanoharan et al. 2024a */
    SAE_ARCH_COUNT
} SAEArchKind;

/* "topk", "batchtopk", "jumprelu", "relu", "gated" */
const char *sae_arch_name(SAEArchKind a);
/* The kind for a name; -1 with err_set() naming the accepted names. */
int sae_arch_parse(const char *name, SAEArchKind *out);

typedef enum { SAE_BDEC_MEAN, SAE_BDEC_MEDIAN, SAE_BDEC_ZERO } SAEBdecInit;

typedef struct {
    SAEArchKind arch;
    int d, n;               /* input width, latents */
    /* topk / batchtopk */
    int k;                  /* latents kept per token (batchtopk: k*B per batch); 1 <= k < n */
    int k_aux;              /* AuxK latents; default d/2; 0 turns AuxK off */
    float aux_alpha;        /* AuxK weight alpha, default 1/32 */
    int multi_topk;         /* topk: loss L(k) + L(4k)/8 */
    float threshold_lr;     /* batchtopk: theta <- (1-r) theta + r min kept value; 0.01 */
    /* jumprelu / relu / gated */
    float lambda;           /* sparsity coefficient (>= 0) */
    long lambda_warmup;     /* steps over which lambda rises linearly from 0; 0 = none */
    float jump_eps;         /* jumprelu rectangle-kernel bandwidth (> 0), 0.001 */
    float theta0;           /* jumprelu initial threshold (> 0), 0.001 */
    int scale_inputs;       /* scale x so that E||x|| = sqrt(d) (relu's default) */
    /* every architecture */
    long dead_tokens;       /* a latent not fired for this many tokens is dead; 10M */
    SAEBdecInit b_dec_init; /* geometric median (default) or mean of the sample */
    float lr;               /* Adam step size */
    float beta1, beta2;     /* 0.9, 0.999 */
    float adam_eps;         /* > 0, 1e-8 */
    long warmup_steps;      /* LR rises linearly over these steps; 0 = none */
    long decay_steps;       /* LR falls linearly to 0 over the last decay_steps of total_steps */
    long total_steps;       /* needed by decay_steps */
    float grad_clip;        /* clip the global gradient norm to this; 0 = off */
    uint64_t seed;          /* the initial weights */
} SAEArchParams;

/* The field's defaults for arch at width d with n latents (k = 32 or n/2 when
 * smaller, k_aux = d/2, alpha = 1/32, lambda per architecture, lr 2e-4 ...). */
SAEArchParams sae_arch_default_params(SAEArchKind arch, int d, int n);
/* 0, or -1 with err_set() naming the first bad field ("k = 0: must be ..."). */
int sae_arch_check_params(const SAEArchParams *p);

/* One trainable tensor with its gradient and Adam moments (all owned). */
typedef struct {
    const char *name;       /* "W_enc", "W_dec", "b_enc", "b_dec", "log_threshold", "r_mag", "b_mag" */
    float *w, *g, *m, *v;   /* (len) each */
    long len;
} SAEArchTensor;

#define SAE_ARCH_MAX_TENSORS 7

typedef struct {
    SAEArchParams p;
    float *W_enc;           /* (n, d) encoder rows (gated: the shared gate/magnitude W) */
    float *W_dec;           /* (n, d) decoder rows */
    float *b_enc;           /* (n)  (gated: b_gate) */
    float *b_dec;           /* (d) */
    float *log_threshold;   /* (n) jumprelu: theta = exp(t); NULL otherwise */
    float *r_mag, *b_mag;   /* (n) gated only */
    float threshold;        /* batchtopk: the running theta (saved as JumpReLU) */
    float min_kept;         /* batchtopk: the last batch's smallest kept value (NaN: none) */
    float input_scale;      /* x is multiplied by this before the SAE (1 = none) */
    long *since_fired;      /* (n) tokens since the latent last fired */
    long step;              /* steps taken */
    SAEArchTensor t[SAE_ARCH_MAX_TENSORS];
    int n_t;
    /* scratch for one batch (grown on demand) */
    int ws_B;
    float *ws_z;            /* (B, n) pre-activations */
    float *ws_xc;           /* (B, d) scaled x - b_dec */
    float *ws_xh;           /* (B, d) reconstruction */
    float *ws_gx;           /* (B, d) d loss / d x̂ */
    float *ws_tmp;          /* (B, d) */
    unsigned char *ws_fired;/* (n) */
} SAEArch;

/* The per-step numbers. */
typedef struct {
    double loss;            /* the total minimised */
    double recon;           /* reconstruction part (topk/batchtopk: normalised MSE) */
    double sparsity;        /* lambda part (L1 / L0) or 0 */
    double aux;             /* AuxK (alpha included) or gated's auxiliary reconstruction, or 0 */
    double l0;              /* mean active latents per token */
    double fvu;             /* sum ||x - x̂||² / sum ||x - mean x||² over the batch (NaN when B = 1) */
    double dead_frac;       /* fraction of latents dead after this step */
    double grad_norm;       /* global gradient norm before clipping */
    double lr;              /* step size used */
} SAEArchLog;

/* Allocate and initialise (seeded): W_dec rows random unit vectors, W_enc =
 * W_dec (the transpose of SAELens' layout, Gao et al.), b_enc = 0, b_dec the
 * geometric median / mean of the sample S (T, d) (zero when S is NULL), the
 * input scale from S when scale_inputs. Checks p first. */
int sae_arch_init(SAEArch *m, const SAEArchParams *p, const float *S, int T);
/* Free everything; a zeroed SAEArch is a no-op. */
void sae_arch_free(SAEArch *m);
/* The tensor called name, or NULL. */
SAEArchTensor *sae_arch_tensor(SAEArch *m, const char *name);

/* Loss and gradients of one batch X (B, d) (raw, unscaled) into m->t[].g
 * (overwritten); fills the loss parts, l0 and fvu of *log and m->ws_fired.
 * Dispatches to the architecture's file. */
int sae_arch_loss_grad(SAEArch *m, const float *X, int B, SAEArchLog *log);

/* One training step on X (B, d): loss and gradients, the decoder's parallel
 * gradient removed, clipping, Adam with the scheduled LR, decoder rows
 * renormalised, dead counters and (batchtopk) theta updated. A NaN or
 * infinite loss stops before any weight changes: -1 with err_set(). */
int sae_arch_step(SAEArch *m, const float *X, int B, SAEArchLog *log);
/* The second half of sae_arch_step, after sae_arch_loss_grad: given the
 * gradients in m->t[].g, log->loss and m->ws_fired (latents that fired in
 * the batch) for a batch of B tokens, check the loss, constrain, clip, take
 * the Adam step and update the dead counters (and batchtopk's theta from
 * m->min_kept). The data-parallel step (dist/dp.h) calls it after summing
 * the ranks' gradients. */
int sae_arch_apply(SAEArch *m, long B, SAEArchLog *log);

/* The decoder constraint's two sides on rows [0, rows) of W_dec (rows, d)
 * and its gradient g (rows, d): each row's gradient loses its component
 * along the row, g_i <- g_i - (g_i · w_i) w_i (step 2); each row is
 * rescaled to unit norm, a zero row left as it is (step 6). */
void sae_arch_dec_project(const float *W_dec, float *g, long rows, int d);
void sae_arch_dec_normalize(float *W_dec, long rows, int d);

/* Called after each step of sae_arch_train; non-zero stops training. */
typedef int (*SAEArchStepFn)(void *ctx, long step, const SAEArchLog *log);
/* steps steps over X (T, d) in consecutive batches of B (wrapping around). */
int sae_arch_train(SAEArch *m, const float *X, long T, int B, long steps, SAEArchStepFn on_step, void *ctx);
/* The trainer's contract, whatever the device: sae_arch_train here,
 * cuda_arch_train (cuda/cuda.h) on the GPU; callers pick one by --device. */
typedef int (*SAEArchTrainFn)(SAEArch *m, const float *X, long T, int B, long steps, SAEArchStepFn on_step, void *ctx);
/* The learning rate of the next step (warm-up and decay applied), on any device. */
double sae_arch_lr(const SAEArch *m);

/* Inference encode: F (B, n) dense latents of X (B, d) (raw). Batchtopk is
 * encoded as the JumpReLU it is saved as (theta = m->threshold). */
void sae_arch_encode(SAEArch *m, const float *X, int B, float *F);
/* x̂ (B, d) of F (B, n), in the raw input's units. */
void sae_arch_decode(const SAEArch *m, const float *F, int B, float *Xh);

/* ---- shared pieces used by the architecture files (sae/arch.c) ---- */

/* Sparse latents of a batch: row b holds idx/val[ptr[b] .. ptr[b+1]). */
typedef struct {
    int B, cap;
    int *ptr;               /* (B + 1) */
    int *idx;               /* (cap) latent index */
    float *val;             /* (cap) latent value */
} SAECsr;
void sae_csr_init(SAECsr *c, int B, int cap);
void sae_csr_push(SAECsr *c, int i, float v);   /* append to the current row */
/* start the next row (empty) */
static inline void sae_csr_row(SAECsr *c) { c->ptr[c->B + 1] = c->ptr[c->B]; c->B++; }
void sae_csr_free(SAECsr *c);
/* c (initialised here) = the entries of Z (B, n) that are > 0 (a NaN is
 * not), row by row, with their values: ReLU(Z) as a CSR. */
void sae_csr_positive(SAECsr *c, const float *Z, int B, int n);

/* Xc (B, d) = s X - b_dec; Z (B, n) = Xc W_encᵀ + b_enc (dense gemm). */
void sae_arch_preact(const SAEArch *m, const float *X, int B, float *Xc, float *Z);
/* Xh (B, d) = F W_dec + (with_bias ? b_dec : 0), F sparse. */
void sae_arch_decode_csr(const SAEArch *m, const SAECsr *F, int with_bias, float *Xh);
/* Backward of Xh = F W_dec: g_W_dec += Fᵀ G and, for each stored entry,
 * gF[e] = W_dec[idx] · G[b] (G (B, d)). g_W_dec may be NULL (frozen decoder). */
void sae_arch_decode_back(const SAEArch *m, const SAECsr *F, const float *G, float *g_W_dec, float *gF);
/* Backward of Z = (sX - b_dec) W_encᵀ + b_enc for sparse g_Z (entries of Z
 * given in C with values gZ): g_W_enc[i] += gZ Xc[b], g_b_enc[i] += gZ,
 * g_b_dec -= gZ W_enc[i]. Any of the gradient pointers may be NULL. */
void sae_arch_encode_back(const SAEArch *m, const SAECsr *C, const float *gZ, const float *Xc,
                          float *g_W_enc, float *g_b_enc, float *g_b_dec);
/* Is latent i dead (since_fired >= dead_tokens)? */
static inline int sae_arch_dead(const SAEArch *m, int i) { return m->since_fired[i] >= m->p.dead_tokens; }

/* The reconstruction term coef * mean_b ||x̂_b - x_b||² / nx[b] (nx NULL:
 * 1) of sparse F: writes Xh (B, d) (x̂ with b_dec), adds its gradients to
 * b_dec and W_dec and writes gF[e] = d term / d F's entry e. Returns the term. */
double sae_recon_term(SAEArch *m, const SAECsr *F, const float *Xc, const float *nx, float coef,
                      float *Xh, float *gF);
/* FVU of the batch from Xc = x - b_dec and Xh (NaN when every x is the same). */
double sae_fvu(const SAEArch *m, const float *Xc, const float *Xh, int B);

/* ||x_b||² of the scaled input x = Xc + b_dec, 1 for a zero token (topk, batchtopk) */
void sae_token_norms(const SAEArch *m, const float *Xc, int B, float *nx);
/* λ after its linear warm-up: λ min(1, (step+1)/lambda_warmup) */
float sae_arch_lambda(const SAEArch *m);

/* per-architecture loss+gradient (arch_<name>.c) */
int sae_topk_loss_grad(SAEArch *m, const float *X, int B, SAEArchLog *log);
int sae_batchtopk_loss_grad(SAEArch *m, const float *X, int B, SAEArchLog *log);
int sae_jumprelu_loss_grad(SAEArch *m, const float *X, int B, SAEArchLog *log);
int sae_relu_loss_grad(SAEArch *m, const float *X, int B, SAEArchLog *log);
int sae_gated_loss_grad(SAEArch *m, const float *X, int B, SAEArchLog *log);
/* AuxK (topk, batchtopk): adds alpha * aux to log->aux and its gradients,
 * given the residual E (B, d) = x - x̂ (constant) and per-token norms nx (B). */
void sae_auxk(SAEArch *m, int B, const float *E, const float *nx, SAEArchLog *log);
/* AuxK once its picks are chosen (shared with the latent-sharded model,
 * dist/shard.c): A holds each token's picked dead latents with values
 * ReLU(z); Eh (B, d) holds ê = A W_dec without b_dec (summed over the ranks
 * when sharded) and is overwritten with g_ê = 2α (ê - e) / (B ||x||²);
 * E (B, d) = e = x - x̂, nx (B) the token norms, Xc (B, d) = x - b_dec.
 * Adds α aux to log->aux and A's gradients to W_dec, W_enc, b_enc, b_dec. */
void sae_auxk_picks(SAEArch *m, const SAECsr *A, float *Eh, const float *E, const float *nx, const float *Xc,
                    SAEArchLog *log);
/* E (B, d) = x - x̂ = Xc + b_dec - Xh, from Xc = x - b_dec and x̂ = Xh (both (B, d)). */
void sae_residual(const SAEArch *m, const float *Xc, const float *Xh, int B, float *E);

#endif
