/*
 * sae/sae.h - the seed's sparse autoencoder: a tied-weight top-k SAE trained
 * with Adam on captured MLP activations, on the CPU (and, through the same
 * call, on the GPU: p.device = SAE_CUDA with p.backend = cuda_sae_backend(),
 * cuda/cuda.h; sae/ itself depends on nothing above it).
 *
 *   SAEParams p = sae_default_params();       // the seed: L = 2d, k = d/3, 100 epochs
 *   p.on_epoch = my_progress; p.ctx = &bar;   // optional per-epoch callback
 *   SAE sae;
 *   if (sae_init(&sae, d, &p) != 0) return cli_fail();      // W ~ U(+-1/sqrt(d))
 *   SAEResult r;                              // p.device = SAE_CUDA, p.backend = cuda_sae_backend(): the GPU
 *   if (sae_train(&sae, X, T, &p, &r) != 0) return cli_fail();  // X (T, d)
 *   // r.losses[e] for e < r.epochs_done; r.latents (T, L) = the final z-hat
 *   SAEStats st;                              // one pass: latents.npy and every statistic
 *   if (sae_score(&st, &sae, X, T, NULL, "out/run1/latents.npy") != 0) return cli_fail();
 *   sae_save(&sae, "out/run1", &p, "gpt2", "blocks.6.mlp.hook_pre");
 *   sae_stats_free(&st);
 *   sae_result_free(&r);
 *   sae_free(&sae);
 *
 * The model (exactly the notebook's SparseAE; shapes in comments):
 *   X (T, d) activations, W (L, d) the one weight matrix (the decoder is Wᵀ's
 *   transpose, i.e. W itself), no biases.
 *   z    = relu(X Wᵀ)                         (T, L)
 *   thr  = k-th largest value of each row of z (T)   (torch.topk(z, k)[0][:, -1])
 *   ẑ    = z * (z >= thr)                     (T, L)   ties at thr are all kept
 *   Y    = ẑ W                                (T, d)
 *   loss = mean((Y - X)^2)                    over T*d
 *        + sparsity_weight * mean(|ẑ|)        over T*L
 *        + decor_weight * sum_{i != j} C_ij^2, C = cov(ẑ) over tokens, unbiased (T-1)
 *   Adam (PyTorch's rule, no weight decay, no amsgrad), one step per batch.
 *
 * Two implementations of one training step (sae/sae_ref.c, sae/sae_fast.c):
 * the reference builds the L x L covariance and decodes densely, written to be
 * read next to the math; the fast path uses the T x T Gram trick and the top-k
 * sparsity, and is tested against the reference. The derivation of the
 * backward pass is written out in sae/sae_ref.c.
 *
 * Errors: functions returning int return 0, or -1 with err_set() (core/util.h).
 */
#ifndef SAE_SAE_H
#define SAE_SAE_H

#include <stdint.h>

#include "core/util.h"   /* Rng */

/* One SAE: W (L, d), owned. Initialise with sae_init or sae_init_weights. */
typedef struct {
    int d;      /* input width (3072 for GPT-2 small's MLP) */
    int L;      /* number of latents (d_sae) */
    int k;      /* latents kept per token */
    float *W;   /* (L, d) encoder weight; the decoder is its transpose */
} SAE;

/* The three losses the seed records (plus the MSE, their difference). */
typedef struct {
    double total;     /* mse + sparsity + decor */
    double mse;       /* mean((Y - X)^2) */
    double sparsity;  /* sparsity_weight * mean|ẑ| */
    double decor;     /* decor_weight * sum_{i!=j} cov(ẑ)_ij^2 */
} SAELosses;

typedef enum { SAE_FAST = 0, SAE_REF = 1 } SAEImpl;

/* Where sae_train runs: the CPU (sae/), or the GPU through p.backend (the
 * GPU trainer cuda/ provides; without one sae_train says so and fails). */
typedef enum { SAE_CPU = 0, SAE_CUDA = 1 } SAEDevice;

typedef struct SAETrainBackend SAETrainBackend;   /* below */

/* The largest batch (tokens per step): the fast path's Gram matrix is
 * batch x batch doubles (512 MB here). */
#define SAE_MAX_BATCH 8192

/* Per-epoch callback: epoch is 1-based; l holds that epoch's losses (means
 * over its batches, weighted by batch size); sae holds the weights after the
 * epoch's updates (borrowed for the call: during training sae->W may point to
 * sae_train's second buffer). Return non-zero to stop training (sae_train then returns
 * -1 with whatever message the callback set with err_set). */
typedef int (*SAEEpochFn)(void *ctx, int epoch, int epochs, const SAELosses *l, const SAE *sae);

typedef struct {
    int latents;            /* L; 0 = 2*d (the seed) */
    int k;                  /* 0 = d/3 (the seed) */
    int epochs;             /* 100 */
    int batch;              /* tokens per step; 0 or >= T = full batch (the seed); <= SAE_MAX_BATCH */
    double lr;              /* 1e-4 */
    double beta1, beta2;    /* 0.9, 0.999 */
    double eps;             /* 1e-8 */
    float sparsity_weight;  /* 1 */
    float decor_weight;     /* 0.0005 */
    uint64_t seed;          /* initial W and the minibatch shuffle */
    SAEImpl impl;           /* SAE_FAST (default) or SAE_REF (CPU only) */
    SAEDevice device;       /* SAE_CPU (default) or SAE_CUDA */
    const SAETrainBackend *backend;   /* SAE_CUDA: the GPU trainer (cuda_sae_backend()), borrowed */
    const float *d_X;       /* SAE_CUDA: X's rows already on the GPU (T, d), borrowed, or NULL to upload X */
    int want_latents;       /* 1: sae_train returns the final latents of all T tokens */
    SAEEpochFn on_epoch;    /* NULL = silent */
    void *ctx;              /* passed to on_epoch (borrowed) */
} SAEParams;

/* The seed's settings. */
SAEParams sae_default_params(void);

/* Allocate W (L, d) with L and k from p (0 = defaults) and fill it like
 * PyTorch's nn.Linear default init, uniform in [-1/sqrt(d), 1/sqrt(d)), from
 * Rng seeded with p->seed. Fails (-1) for d < 1, L < 1, k < 1 or k > L, and,
 * before allocating anything, when training's 16 L d bytes (W, a second copy,
 * Adam's moments) exceed the memory available (the message names both). */
int sae_init(SAE *sae, int d, const SAEParams *p);
/* Allocate and copy W (L, d) (e.g. from a checkpoint). Same checks. */
int sae_init_weights(SAE *sae, int d, int L, int k, const float *W);
/* Free W. sae_free(NULL) and a zeroed SAE are no-ops. */
void sae_free(SAE *sae);

/* Encode: Z (T, L) = the top-k sparse latents ẑ of X (T, d). Caller owns Z.
 * Works in blocks, so T may be large. */
void sae_encode(const SAE *sae, const float *X, long T, float *Z);
/* Decode: Y (T, d) = ẑ W. */
void sae_decode(const SAE *sae, const float *Z, long T, float *Y);

/* One loss-and-gradient evaluation on a batch X (T, d), T >= 2 (the
 * covariance needs two tokens). g_W (L, d) receives dloss/dW (overwritten);
 * Z (T, L), if not NULL, receives ẑ. Returns the losses in *out (if the
 * fast path finds a loss that is not finite, g_W is left unwritten).
 * sae_loss_grad_ref: dense, L x L covariance (sae/sae_ref.c).
 * sae_loss_grad:     Gram trick + top-k sparsity (sae/sae_fast.c). */
void sae_loss_grad_ref(const SAE *sae, const float *X, int T, float sparsity_weight,
                       float decor_weight, float *g_W, float *Z, SAELosses *out);
void sae_loss_grad(const SAE *sae, const float *X, int T, float sparsity_weight,
                   float decor_weight, float *g_W, float *Z, SAELosses *out);

/* Adam state for W: first and second moments (L, d), owned, and the step. */
typedef struct {
    float *m, *v;   /* (L*d) */
    long n;
    long step;
} SAEAdam;
void sae_adam_init(SAEAdam *a, long n);
void sae_adam_free(SAEAdam *a);
/* PyTorch's Adam step (torch/optim/_functional.py, single-tensor path):
 *   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;  t += 1
 *   W -= lr / (1-b1^t) * m / (sqrt(v) / sqrt(1-b2^t) + eps) */
void sae_adam_step(SAEAdam *a, float *W, const float *g, const SAEParams *p);

#define SAE_PROF_PARTS 7

/* What sae_train hands back. Owned; free with sae_result_free. */
typedef struct {
    SAELosses *losses;  /* (epochs) per epoch; valid for [0, epochs_done) */
    int epochs;
    int epochs_done;    /* epochs completed with finite losses */
    float *latents;     /* (T, L) final ẑ of every token (after training), or NULL */
    long T;
    double prof[SAE_PROF_PARTS];   /* CPU fast path: CPU seconds (all threads) spent in each part
                                      of the step (names: sae_prof_names); else 0 */
} SAEResult;

/* The names of SAEResult.prof's parts ("encoder", "top-k", ...). */
extern const char *const sae_prof_names[SAE_PROF_PARTS];

/* Train sae on X (T, d), row-major, borrowed, on p->device (the one entry
 * point for the CPU and the GPU: both follow the batching policy below).
 * Validates X (T >= 2, finite) and p. Each epoch visits every token once: full batch (the seed) when
 * p->batch is 0 or >= T, else shuffled batches of p->batch tokens (seeded by
 * p->seed; a last batch of fewer than 2 tokens is skipped). Working memory is
 * O(batch * (L + d) + batch^2) (the Gram matrix is batch x batch doubles) plus
 * W, a second copy of W and Adam's two moments, independent of T (except
 * latents, (T, L), when p->want_latents).
 * A loss that becomes NaN or Inf stops training: no update is made from it,
 * the weights are set back to the last ones whose loss was finite (those
 * before the previous update), res holds the epochs before the failed one,
 * and -1 is returned with a message naming the epoch. An update that would
 * make a weight Inf or NaN (the loss itself can stay finite) stops training
 * the same way, keeping the weights from before it.
 * sae->W keeps its address. res is filled in either case (free it with
 * sae_result_free). */
int sae_train(SAE *sae, const float *X, long T, const SAEParams *p, SAEResult *res);
void sae_result_free(SAEResult *res);

/* A trainer on another device, for p->device = SAE_CUDA: sae_train checks the
 * shape and the epochs, then calls train with d_X = p->d_X. It keeps
 * sae_train's contract and the batching policy below (sae_batches_*,
 * sae_check_input). cuda/cuda.h's cuda_sae_backend() is the GPU's; the caller
 * (the CLI) hands it in, so that sae/ includes nothing from the layers above. */
struct SAETrainBackend {
    const char *name;   /* "cuda" */
    int (*train)(SAE *sae, const float *X, const float *d_X, long T, const SAEParams *p, SAEResult *res);
};

/* The batching policy every trainer follows. B = T (full batch, the seed)
 * when p->batch is 0 or >= T, else p->batch; with minibatches, perm (T) is a
 * permutation of the tokens, reshuffled (Fisher-Yates, Rng seeded with
 * p->seed ^ 0x5bd1e995, each epoch continuing the last one's order) by
 * sae_batches_shuffle at the start of every epoch; the epoch's batches are
 * perm[b0 .. b0 + B) for b0 = 0, B, 2B, ..., and a last batch of fewer than
 * 2 tokens is skipped (seen: the tokens an epoch's mean is over). */
typedef struct {
    long T, B, seen;
    long *perm;   /* (T), or NULL for a full batch */
    Rng rng;
} SAEBatches;
int sae_batches_init(SAEBatches *b, long T, const SAEParams *p);   /* -1 (err_set) if B < 2 */
void sae_batches_shuffle(SAEBatches *b);
void sae_batches_free(SAEBatches *b);
/* 0 if X (T, d) can be trained on (T >= 2, every value finite), else -1 with
 * err_set() naming the first bad row and column. */
int sae_check_input(const float *X, long T, int d);

/* Checkpoints (sae/checkpoint.c), SAELens 6 layout, as a "topk" SAE:
 * DIR/sae_weights.safetensors with
 *   W_enc (d, L) = Wᵀ, W_dec (L, d) = W, b_enc (L) = 0, b_dec (d) = 0
 * and DIR/cfg.json {architecture, d_in, d_sae, k, metadata {model_name,
 * hook_name, ...}}. Both written atomically (temp + rename); DIR is created.
 * model and hook may be NULL ("gpt2", "blocks.6.mlp.hook_pre"). */
int sae_save(const SAE *sae, const char *dir, const SAEParams *p, const char *model,
             const char *hook);
/* DIR/sparsity.safetensors (SAELens): tensor "sparsity" (L) = log10 of each
 * latent's firing fraction + 1e-10, from density_pct (L) in % (SAEStats). */
int sae_save_sparsity(const char *dir, const float *density_pct, int L);
/* The losses of the epochs done, one line each, as CSV at path (replaced
 * atomically): "epoch,total,sparsity,decorrelation,mse" (epoch 1-based, %.9g);
 * the one schema of every losses.csv the engine writes. */
int sae_save_losses(const SAEResult *r, const char *path);
/* The weights file of an SAE folder: DIR/sae_weights.safetensors (SAELens 6,
 * written now), else DIR/sae.safetensors (the engine's older layout, or
 * sparsify's); NULL when neither is there. Caller frees. */
char *sae_checkpoint_file(const char *dir);
/* Load W from a checkpoint's W_dec (L, d); path is the .safetensors file or
 * its folder (sae_checkpoint_file). k comes from its cfg.json (next to
 * it) if there is one, else from the file's "k" metadata, else d/3. The SAE is
 * allocated; free with sae_free. */
int sae_load(SAE *sae, const char *path);
/* Statistics (sae/stats.c), as the seed computes them from the latents ẑ. */
typedef struct {
    int L;
    long T;
    float *density;      /* (L) % of tokens where the latent is nonzero */
    float *mean_act;     /* (L) mean |ẑ| over its nonzero tokens; 0 if never active */
    float *density_act;  /* (L) density * mean_act */
    int *by_activation;  /* (L) latents by mean_act, largest first (ties: higher index first,
                            = np.argsort(x, kind='stable')[::-1]; see sae_order_desc) */
    int *by_density;     /* (L) latents by density, largest first (same tie rule) */
    double mean_l0;      /* mean number of nonzero latents per token */
    int dead;            /* latents never nonzero */
    /* with a word category (target tokens) only, else NULL / 0: */
    float *score;        /* (L) word-category score (the seed's "geoscore"): mean of the latent's
                            nonzero values on target tokens / mean of its nonzero values on the
                            others; 0 when either side sums to 0 (the seed's
                            `(nontarg.sum()>0) & (targ.sum()>0)`) */
    int *by_score;       /* (L) latents by score, largest first (same tie rule) */
    int n_target;        /* target tokens */
    double fve;          /* fraction of variance explained, 1 - Σ||Y - X||² / Σ||X - mean(X)||²
                            (mean over tokens), from sae_score; NaN from sae_stats */
} SAEStats;

/* The post-training pass: encode X (T, d) once, a chunk of tokens at a time
 * (memory: one chunk, not T x L); write the latents as a float32 .npy (T, L)
 * at latents_path (replaced atomically; NULL: not written) and fill st with
 * every statistic above, the word-category score when target (T, 1 for the
 * category's tokens) is not NULL, and the variance explained. Returns 0, or
 * -1 with err_set() (the file could not be written; st is then empty).
 * Free st with sae_stats_free. */
int sae_score(SAEStats *st, const SAE *sae, const float *X, long T, const unsigned char *target,
              const char *latents_path);
/* The same pass for any SAE: encode (chunk, L) latents of (chunk, d) inputs,
 * decode them back; ctx is handed to both (sae/arch.h's models, eval's EvalSAE). */
typedef void (*SAECodeFn)(void *ctx, const float *in, long T, float *out);
int sae_score_with(SAEStats *st, int L, int d, SAECodeFn encode, SAECodeFn decode, void *ctx, const float *X, long T,
                   const unsigned char *target, const char *latents_path);
/* The same statistics from latents Z (T, L) already in memory (fve is NaN). */
void sae_stats(SAEStats *st, const float *Z, long T, int L, const unsigned char *target);
void sae_stats_free(SAEStats *st);
/* The word-category mask: target (T) = 1 where ids[t] is one of words (n_words
 * token ids; an id < 0, a word without a token, matches nothing). */
void sae_word_mask(unsigned char *target, const int32_t *ids, long T, const int32_t *words, int n_words);
/* order (n) = indices of key, largest first, ties: higher index first, exactly
 * np.argsort(key, kind='stable')[::-1] (a stable sort; NaN counts as the largest). */
void sae_order_desc(int *order, const double *key, int n);
/* sae_score's fraction of variance explained alone. */
double sae_fve(const SAE *sae, const float *X, long T);

#endif
