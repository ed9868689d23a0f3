/*
 * cuda/cuda.h - the GPU side of the engine: GPT-2's forward pass and the
 * seed's sparse autoencoder, in hand-written CUDA kernels behind a C API.
 * This header is the only thing the rest of the engine includes.
 *
 *   if (cuda_available()) {                          // --device auto
 *       CUDAGPT2 *g;                                 // weights go to the GPU once
 *       if (cuda_gpt2_init(&g, &model, model.cfg.n_ctx) != 0) return cli_fail();
 *       float *d_X;                                  // (T, 4C), stays on the GPU
 *       cuda_malloc((void **)&d_X, (size_t)T * 4 * C * sizeof(float));
 *       if (cuda_gpt2_capture(g, ids, T, 6, GPT2_MLP_PRE, X_or_NULL, d_X) != 0)
 *           return cli_fail();                       // the seed's hook: c_fc of block 6
 *       SAE sae;  sae_init(&sae, 4 * C, &p);         // sae/sae.h, W on the host
 *       p.device = SAE_CUDA;  p.d_X = d_X;          // sae_train: the one entry point,
 *       p.backend = cuda_sae_backend();             // the GPU trainer handed to sae/
 *       SAEResult r;
 *       if (sae_train(&sae, X_or_NULL, T, &p, &r) != 0) return cli_fail();
 *       // sae.W trained, r.losses[e], r.latents (T, L): as sae_train would give
 *       cuda_free(d_X);  cuda_gpt2_free(g);
 *   }
 *
 * Conventions. Every function returns 0, or -1 with err_set() naming the
 * function and the CUDA error (core/util.h); none exits. Pointers named d_*
 * are device memory, everything else is host memory. Work is queued on the
 * default stream; functions that return host data synchronize first. In a
 * build without nvcc (cuda/cuda_none.c) every function fails with
 * "not built with CUDA" and cuda_available() returns 0.
 *
 * Numerics: FP32 throughout by default, so results can be held to the CPU
 * reference (gpt2/, sae/, core/gemm.h). CUDA_MATMUL_TF32 switches the matrix
 * products to tensor cores (TF32 inputs, FP32 accumulation: ~3e-4 relative).
 */
#ifndef CUDA_CUDA_H
#define CUDA_CUDA_H

#include <stddef.h>
#include <stdint.h>

#include "gpt2/gpt2.h"
#include "gpt2/model.h"
#include "sae/sae.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- device */

/* 1 if this build has CUDA and a usable GPU is present, else 0. Never sets an
 * error; the first call initialises the CUDA runtime. */
int cuda_available(void);
/* One line describing device 0 ("NVIDIA H100 80GB HBM3, cc 9.0, 132 SMs,
 * 50 MB L2, 79 GiB"), or why there is none. Returns 0 or -1. */
int cuda_describe(char *buf, size_t n);
/* Wait for all queued work; reports any asynchronous kernel error. */
int cuda_sync(void);

/* Device memory. cuda_free(NULL) is a no-op. Sizes in bytes. */
int cuda_malloc(void **d_p, size_t bytes);
void cuda_free(void *d_p);
int cuda_upload(void *d_dst, const void *src, size_t bytes);     /* host -> device */
int cuda_download(void *dst, const void *d_src, size_t bytes);   /* device -> host (syncs) */
int cuda_copy(void *d_dst, const void *d_src, size_t bytes);     /* device -> device */
int cuda_memset(void *d_p, int byte, size_t bytes);
/* Fill n floats with uniform(-scale, scale) from a counter-based hash of
 * (seed, index): the same values on every GPU. For benchmarks and tests. */
int cuda_fill_uniform(float *d_x, size_t n, unsigned long long seed, float scale);
/* Write a device buffer twice the size of the L2 cache, so that the next
 * kernel starts cold (benchmarks flush between timed runs). The buffer is
 * allocated on first use and kept for the life of the process. */
int cuda_flush_l2(void);

/* Benchmark knobs (tests and the engine leave them alone): threads per block
 * of the element-wise kernels (encoder, gelu, residual; 0 = 256, else a
 * multiple of 32 up to 1024) and the FP32 matmul's tile (0 = chosen by size,
 * 64 or 128). Returns 0, or -1 for a value out of range. */
int cuda_tune(int block_size, int matmul_tile);

/* ------------------------------------------------------ forward-pass ops */
/* llm.c's decomposition, outputs first, then inputs, then sizes. All are
 * (T, ...) row-major, batch 1. Each has a CPU reference in gpt2/ (or
 * core/gemm.h for the matmul) that tests/test_cuda.c holds it to. */

/* out (T, C) = wte[ids[t]] + wpe[t]. Ids outside [0, V) give NaN rows
 * (callers check ids on the host first: cuda_gpt2_forward does). */
int cuda_encoder_forward(float *d_out, const int32_t *d_ids, const float *d_wte,
                         const float *d_wpe, int T, int C, int V);
/* out (T, C) = (inp - mean) * rstd * w + b per row; mean, rstd (T) may be NULL. */
int cuda_layernorm_forward(float *d_out, float *d_mean, float *d_rstd, const float *d_inp,
                           const float *d_w, const float *d_b, int T, int C, float eps);

typedef enum {
    CUDA_MATMUL_FP32 = 0, /* tiled shared-memory SIMT kernel, FP32 FMA (default) */
    CUDA_MATMUL_TF32 = 1  /* tensor cores (wmma m16n16k8), TF32 inputs, FP32 accumulate */
} CUDAMatmulKind;
/* out (T, OC) = inp (T, C) @ w (C, OC) + bias (OC); bias may be NULL.
 * (GPT-2's Conv1D layout, as gpt2/model.h stores it.) */
int cuda_matmul_forward(float *d_out, const float *d_inp, const float *d_w, const float *d_bias,
                        int T, int C, int OC, CUDAMatmulKind kind);
/* The general product, core/gemm.h's contract on device memory:
 * C (M, N) = alpha * op(A) @ op(B) + beta * C (+ bias (N) on every row when
 * bias != NULL). Row-major; beta == 0 writes C without reading it. */
int cuda_gemm(int transA, int transB, int M, int N, int K, float alpha,
              const float *d_A, int lda, const float *d_B, int ldb, float beta,
              float *d_C, int ldc, const float *d_bias, CUDAMatmulKind kind);

/* Causal self-attention with the softmax fused in (online softmax, never
 * materialising the (NH, T, T) scores). qkv (T, 3C) holds q | k | v, each
 * split into NH heads of HS = C / NH; out (T, C). HS must be 64 (every GPT-2). */
int cuda_attention_forward(float *d_out, const float *d_qkv, int T, int C, int NH);
/* out (N) = GELU(inp) with GPT-2's tanh approximation. out may equal inp. */
int cuda_gelu_forward(float *d_out, const float *d_inp, long N);
/* out (N) = a + b. out may equal a or b. */
int cuda_residual_forward(float *d_out, const float *d_a, const float *d_b, long N);

/* ---------------------------------------------------------- GPT-2 model */

/* What to capture: the activation at (layer, site) (gpt2/gpt2.h's sites,
 * width gpt2_site_width: C, or 4C for mlp_pre/mlp_post). It is copied to
 * out (host) and/or d_out (device: it stays on the GPU, e.g. for cuda_sae_*);
 * either may be NULL. Both are borrowed and written before the call returns. */
typedef struct {
    int layer;     /* block index 0..n_layer-1 */
    GPT2Site site; /* GPT2_MLP_PRE is the seed's hook (c_fc output) */
    float *out;    /* host (T, width) or NULL */
    float *d_out;  /* device (T, width) or NULL */
} CUDACapture;

typedef struct CUDAGPT2 CUDAGPT2; /* opaque: weights and activations on the GPU */

/* Upload m's weights and allocate activations for windows of up to max_T
 * tokens (1..n_ctx; n_ctx for long inputs). m may be freed afterwards.
 * Returns 0 or -1. */
int cuda_gpt2_init(CUDAGPT2 **g, const GPT2Model *m, int max_T);
/* The matrix products' kind for later forwards (default CUDA_MATMUL_FP32). */
void cuda_gpt2_set_matmul(CUDAGPT2 *g, CUDAMatmulKind kind);
/* One window: ids (T), 1 <= T <= max_T, positions 0..T-1. cap may be NULL;
 * logits (T, V) host may be NULL, and then the pass stops after the captured
 * block (gpt2_forward's early stop). Ids are checked against V here. */
int cuda_gpt2_forward(CUDAGPT2 *g, const int32_t *ids, int T, const CUDACapture *cap, float *logits);
/* The same pass with logits that stay on the device: returns d_logits (T, V)
 * (borrowed, valid until the next forward or cuda_gpt2_free), or NULL with
 * err_set(). (What the benchmarks time: no copy of (T, V) back.) */
const float *cuda_gpt2_forward_device(CUDAGPT2 *g, const int32_t *ids, int T);
/* gpt2_capture's contract on the GPU: any T, in consecutive non-overlapping
 * windows of n_ctx tokens (needs max_T == n_ctx when T > max_T), each window
 * starting at position 0; rows of out / d_out (T, width) follow the input. */
int cuda_gpt2_capture(CUDAGPT2 *g, const int32_t *ids, long T, int layer, GPT2Site site, float *out,
                      float *d_out);
/* gpt2_stream's contract (gpt2/gpt2.h) on the GPU for one site: ids (T) in
 * windows of n_ctx (needs max_T == n_ctx when T > max_T); each window's rows
 * come back to the host and go to fn (GPT2Rows.t0 = t_base + the window's
 * start in ids), and, when d_out (T, width) is not NULL, also stay on the
 * device there. */
int cuda_gpt2_stream(CUDAGPT2 *g, const int32_t *ids, long T, long t_base, int layer, GPT2Site site,
                     GPT2RowSink fn, void *user, float *d_out);
/* Free everything. cuda_gpt2_free(NULL) is a no-op. */
void cuda_gpt2_free(CUDAGPT2 *g);

/* ----------------------------------------------------- sparse autoencoder */
/* sae/sae.h's model and training on the GPU. The SAE (d, L, k, W) and its
 * SAEParams are the CPU module's; losses are SAELosses. One step:
 *   pre = X W^T (dense matmul); z = relu(pre) masked to the k largest per row
 *   (radix select on the float bits, one block per row; ties kept like torch);
 *   Y = z W from the selected indices (sparse) or densely;
 *   losses: mse, sparsity, decorrelation through the T x T Gram matrix
 *   K = Zc Zc^T when T < L (else the L x L covariance);
 *   backward by hand (formulas in cuda_sae.cu), Adam, all on the device. */
typedef struct CUDASAE CUDASAE; /* opaque: W, Adam moments, scratch for max_T rows */

/* Upload sae->W (L, d) and take lr, betas, eps and the loss weights from p.
 * Scratch for batches of up to max_T rows (>= 2). Returns 0 or -1. */
int cuda_sae_init(CUDASAE **s, const SAE *sae, const SAEParams *p, int max_T);
/* sparse_decoder: 1 (default) decodes and back-propagates through Y from the
 * k selected indices of each row; 0 uses dense products over z (same math).
 * kind: the dense products' arithmetic (FP32 default). */
void cuda_sae_set_options(CUDASAE *s, int sparse_decoder, CUDAMatmulKind kind);
/* One loss-and-gradient evaluation on d_X (T, d) (device), no update:
 * g_W (L, d) host and Z (T, L) host may be NULL; losses in *out.
 * The GPU twin of sae_loss_grad (tests hold the two together). */
int cuda_sae_loss_grad(CUDASAE *s, const float *d_X, int T, float *g_W, float *Z, SAELosses *out);
/* One Adam step on d_X (T, d), 2 <= T <= max_T. If d_losses (4 floats:
 * total, mse, sparsity, decor; device) is not NULL the step's losses go
 * there. Nothing comes back to the host. A step whose loss is not finite
 * leaves W unchanged and stops every later step (see cuda_sae_failed). */
int cuda_sae_step(CUDASAE *s, const float *d_X, int T, float *d_losses);
/* 1 if a step saw a non-finite loss (then W holds the weights before it). Syncs. */
int cuda_sae_failed(CUDASAE *s);
/* Copy W back into sae->W (same d, L). */
int cuda_sae_download(const CUDASAE *s, SAE *sae);
/* Z (T, L) host = the sparse latents of d_X (T, d) under the current W;
 * Y (T, d) host (the reconstruction) may be NULL. T <= max_T. */
int cuda_sae_encode(CUDASAE *s, const float *d_X, int T, float *Z, float *Y);
/* Free everything. cuda_sae_free(NULL) is a no-op. */
void cuda_sae_free(CUDASAE *s);

/* sae_train's contract on the GPU (sae/sae.h); sae_train calls it when
 * p->device is SAE_CUDA and p->backend is cuda_sae_backend() (with
 * d_X = p->d_X). The batches, their shuffle and
 * the finite-input check are the CPU trainer's (sae_batches_*,
 * sae_check_input). X (T, d) on the host and/or
 * the same rows already on the device as d_X (a capture that stayed there).
 * d_X is used when given (no upload); X, when given, is checked for
 * non-finite values first, as sae_train does.
 * Full batch when p->batch is 0 or >= T (the seed; one step per epoch),
 * else shuffled batches (the CPU trainer's shuffle: the same batches).
 * Losses stay on the device and come back once at the end; with p->on_epoch
 * set, an epoch's 4 losses come back after it to call on_epoch, and the SAE
 * it is handed holds the starting weights until the end (W is copied back
 * once). A non-finite loss stops training as on the CPU (W set
 * back to the last weights with a finite loss; W is saved on the device
 * before each update for this). res->latents when p->want_latents. */
int cuda_sae_train(SAE *sae, const float *X, const float *d_X, long T, const SAEParams *p,
                   SAEResult *res);
/* The GPU trainer as sae/'s SAETrainBackend (train = cuda_sae_train), for
 * SAEParams.backend; NULL in a build without CUDA. Static: never freed. */
const SAETrainBackend *cuda_sae_backend(void);

/* The per-row k-th largest of max(x, 0) for x (T, L) (radix select on the
 * float bits, not a sort): thresh (T), device. For tests and benchmarks. */
int cuda_topk_threshold(float *d_thresh, const float *d_x, int T, int L, int k);

/* ------------------------------------------ hooks: batched capture, splices */
/* gpt2/gpt2.h's hooks on the GPU forward (cuda/cuda_hooks.cu), for harvest/
 * (many sites, B windows a pass) and eval/ (the SAE spliced in). A hook at
 * (layer, site) sees the pass's activation act (rows, width), rows = B * T:
 *   out    host (rows, width) or NULL: act is copied there
 *   d_out  device (rows, width) or NULL: a copy that stays on the GPU
 *   resid  host (rows, C) or NULL: the residual stream as the site sees it,
 *          gpt2_forward_resume's resid (resid_pre at attn_out, resid_mid at
 *          the mlp_* sites, act itself at the resid_* sites)
 *   fn     NULL, or a GPT2HookFn called on a host copy of act (ctx.t0 = 0,
 *          ctx.T = rows); what it leaves there goes back into the pass: a
 *          splice, an ablation, a steering (eval/intervene.h's
 *          eval_intervene_hook runs unchanged)
 * Hooks at one site run in the order given, each one's copies before its fn.
 * All pointers are borrowed for the call. */
typedef struct {
    int layer;
    GPT2Site site;
    float *out;     /* host (rows, width) or NULL */
    float *d_out;   /* device (rows, width) or NULL */
    float *resid;   /* host (rows, C) or NULL */
    GPT2HookFn fn;  /* NULL or called on a host copy of act */
    void *user;     /* fn's */
} CUDAHook;

/* gpt2_forward_batch's contract on the GPU: B independent windows ids
 * (B, T), 1 <= T <= n_ctx, each from position 0, in one pass; the row-wise
 * steps see B * T rows, attention stays causal within each window. hooks
 * (n_hooks, may be 0) as above. logits (B * T, V) host, or NULL: then the
 * pass stops right after the deepest hook. The activation buffers grow to
 * B * T rows on first use and stay so until cuda_gpt2_free. Returns 0, or
 * -1 with err_set() (an id outside the vocabulary, a bad layer or site, a
 * hook's fn that failed). */
int cuda_gpt2_forward_batch(CUDAGPT2 *g, const int32_t *ids, int B, int T, const CUDAHook *hooks, int n_hooks,
                            float *logits);
/* gpt2_forward_resume's contract on the GPU: one window of T rows resumed
 * right after (layer, site), as if the site's hooks had left act
 * (T, width) there, with resid (T, C) the residual stream (not read at the
 * resid_* sites; may be NULL there); logits (T, V) host. The layers below
 * are not run. hooks at later sites run; those at (layer, site) do not. */
int cuda_gpt2_resume(CUDAGPT2 *g, int layer, GPT2Site site, const float *resid, const float *act, int T,
                     const CUDAHook *hooks, int n_hooks, float *logits);
/* The same passes in the shapes eval/ and harvest/ take for another device
 * (user = the CUDAGPT2):
 *   EvalPasses (eval/metrics.h): {cuda_eval_grab, cuda_eval_resume, g}
 *     grab: one window ids (T): act (T, width) at (layer, site), resid
 *     (T, C) there (or NULL), logits (T, V) (or NULL: stop after the site);
 *     resume: cuda_gpt2_resume without hooks.
 *   Harvest.forward (harvest/harvest.h): cuda_harvest_pass, user g
 *     ids (B, T) in one batch; acts[k] (B * T, width_k) host, the activation
 *     at (layer[k], site[k]) for k < n_hooks; stops after the deepest. */
int cuda_eval_grab(void *g, int layer, GPT2Site site, const int32_t *ids, int T, float *act, float *resid,
                   float *logits);
int cuda_eval_resume(void *g, int layer, GPT2Site site, const float *resid, const float *act, int T, float *logits);
int cuda_harvest_pass(void *g, const int32_t *ids, int B, int T, int n_hooks, const int *layer, const GPT2Site *site,
                      float *const *acts);

/* ------------------------------------------- generation with a KV cache */
/* gpt2/generate.h's model runs on the GPU: the prompt once, then one token
 * per call, each against the keys and values of the positions before it,
 * kept on the device (2 L n_ctx C floats: 75 MB for GPT-2 small); only the
 * last row's logits (V) come back, for the CPU's sampler. Steering vectors
 * added at any (layer, site) on every row (the prompt's and each new
 * token's) are the GPU's form of the EVAL_STEER hook (eval/intervene.h).
 * Implemented in cuda/cuda_decode.cu; the math is gpt2_forward_cached's.
 *
 *   CUDAGPT2 *g;  CUDADecoder *d;
 *   if (cuda_gpt2_init(&g, &m, 1) != 0 || cuda_decoder_init(&d, g) != 0) return cli_fail();
 *   cuda_decoder_add(d, 6, GPT2_MLP_PRE, dir);        // + dir (4C) on every row of mlp_pre, block 6
 *   GPT2Decoder dec = cuda_decoder_view(d);
 *   p.decoder = &dec;                                 // GPT2GenParams
 *   gpt2_generate(&f, prompt, T, &p, &gen);           // the same sampler and seeds as the CPU
 *   cuda_decoder_free(d);  cuda_gpt2_free(g);
 */
#include "gpt2/generate.h"

typedef struct CUDADecoder CUDADecoder; /* opaque: the KV cache, buffers for n_ctx rows, the steering */

/* A decoder for g's model (borrowed: g must outlive it; its matmul kind is
 * read now), with an empty cache. Returns 0 or -1. */
int cuda_decoder_init(CUDADecoder **d, const CUDAGPT2 *g);
/* Add vec (host, the site's width: C, or 4C for mlp_pre/mlp_post; copied)
 * to the activation at (layer, site) on every row of every later run; several
 * at one site add up. Returns 0, or -1 for a layer or site that does not exist. */
int cuda_decoder_add(CUDADecoder *d, int layer, GPT2Site site, const float *vec);
/* The steering of an SAE's latents (EVAL_STEER): for j < n, coef[j] * W[row[j]]
 * (W (rows, width) host, e.g. W_dec (d_sae, d_in)) added at (layer, site),
 * one vector per latent in this order, as the CPU's hook adds them. */
int cuda_decoder_add_directions(CUDADecoder *d, int layer, GPT2Site site, const float *W, const int *row,
                                const float *coef, int n);
/* Run ids (T) at positions pos .. pos+T-1: their keys and values go into the
 * cache, each attends to positions 0 .. its own (0 .. pos-1 from earlier
 * calls: pos may not pass the positions filled so far, and may go back to
 * rewind). logits (V) host of the last row, or NULL. Returns 0, or -1 with
 * err_set(): T < 1, an id outside [0, V), pos + T > n_ctx, pos too far. */
int cuda_decoder_run(CUDADecoder *d, const int32_t *ids, int T, int pos, float *logits);
/* The decoder as generate.h's GPT2Decoder (state = d, borrowed). */
GPT2Decoder cuda_decoder_view(CUDADecoder *d);
/* Free everything. cuda_decoder_free(NULL) is a no-op. */
void cuda_decoder_free(CUDADecoder *d);

/* Its kernels, each held to a CPU reference by tests/test_cuda_generate.c:
 * attention_forward_kv (gpt2/ops.h) on device memory: out (T, C), q in the
 * first C columns of qkv (T, 3C), k, v (P, C), new token t at position
 * P - T + t; head size 64, P up to ~12000 (shared memory). */
int cuda_attention_kv_forward(float *d_out, const float *d_qkv, const float *d_k, const float *d_v, int T, int P,
                              int C, int NH);
/* act (T, width) += vec (width) on every row. */
int cuda_add_rows(float *d_act, const float *d_vec, int T, int width);
/* One row (a decode step): out (OC) = inp (C) @ w (C, OC) + bias (OC, or
 * NULL), matmul_forward with T = 1, FP32. */
int cuda_matvec_forward(float *d_out, const float *d_inp, const float *d_w, const float *d_bias, int C, int OC);
/* One row's logits: out (V) = inp (C) @ wte (V, C)^T, logits_forward with T = 1. */
int cuda_logits_row_forward(float *d_out, const float *d_inp, const float *d_wte, int C, int V);
/* ------------------------------------- end of generation with a KV cache */

/* ------------------------------------- matmul plan (cuda/cuda_matmul.cu) */
/* What the tensor cores read in CUDA_MATMUL_TF32 products: on = 0 (the
 * default) TF32, on = 1 the inputs rounded to bfloat16 (8 significant bits:
 * ~3e-3 relative; m16n16k16 at twice the rate), FP32 accumulate either way.
 * Process-wide, like cuda_tune. Returns 0, or -1 for another value. */
int cuda_matmul_bf16(int on);
/* How cuda_gemm runs one product: tile x tile outputs per block, K cut into
 * split slices of kchunk (split 1: none; the slices are then summed by a
 * second kernel), the grid's blocks, the waves they make (blocks over SMs x
 * blocks resident per SM), and the time the plan's model predicts (fitted
 * to an H200's measurements for FP32; a prediction for TF32). */
typedef struct {
    int tile, split, kchunk;
    int bf16; /* tensor cores reading bfloat16 (cuda_matmul_bf16) */
    long blocks;
    double waves, predicted_us;
} CUDAMatmulPlan;
/* The plan cuda_gemm follows for an (M, N, K) product of this kind on a GPU
 * with sms SMs (sms <= 0: this device's), honouring cuda_tune's tile and
 * cuda_matmul_split. Returns 0, or -1 for bad sizes or kind. */
int cuda_matmul_plan(CUDAMatmulPlan *p, int M, int N, int K, CUDAMatmulKind kind, int sms);
/* Benchmark and test knob: split > 0 makes every product cut K into that
 * many slices (fewer when K holds fewer 32-wide k-tiles; 1: never split),
 * 0 (the default) lets the plan choose. Returns 0, or -1 outside 0..16. */
int cuda_matmul_split(int split);

/* ============================================================================
 * SAE architectures on the GPU (cuda/cuda_arch.cu): sae/arch.h's topk (with
 * AuxK and Multi-TopK), batchtopk and jumprelu, forward, backward and the
 * step (Adam, schedule, clipping, unit-norm decoder, dead latents) on the
 * device. The CPU functions they are held to: sae_arch_loss_grad and
 * sae_arch_step (tests/test_cuda_arch.c). relu and gated are CPU only.
 *
 *   SAEArch m;  sae_arch_init(&m, &p, X, S);         // host: init, b_dec's median
 *   if (cuda_arch_train(&m, X, T, B, steps, on_step, ctx) != 0) ...  // sae_arch_train's contract
 *   // m holds the trained weights, moments, counters and step
 * ========================================================================== */
#include "sae/arch.h"

typedef struct CUDAArch CUDAArch; /* opaque: the tensors, Adam moments, counters and scratch on the GPU */

/* Upload m's tensors (weights and Adam moments), since_fired and step, with
 * scratch for batches of up to max_B tokens. m is borrowed and must outlive
 * *a: its step, threshold and min_kept advance with each cuda_arch_step (its
 * weights do not: cuda_arch_download). -1 with err_set() for relu and gated. */
int cuda_arch_init(CUDAArch **a, SAEArch *m, int max_B);
/* sae_arch_loss_grad on d_X (B, d) (device, raw): the gradients stay on the
 * device; the loss parts, l0 and fvu go to *log. */
int cuda_arch_loss_grad(CUDAArch *a, const float *d_X, int B, SAEArchLog *log);
/* sae_arch_apply after cuda_arch_loss_grad: a non-finite loss, or an update
 * that would make a weight non-finite, stops before any weight changes
 * (-1 with err_set()). */
int cuda_arch_apply(CUDAArch *a, int B, SAEArchLog *log);
/* cuda_arch_loss_grad then cuda_arch_apply. */
int cuda_arch_step(CUDAArch *a, const float *d_X, int B, SAEArchLog *log);
/* Copy the last gradients into m->t[].g (tests). */
int cuda_arch_grads(CUDAArch *a);
/* topk: the k latents selected per token by the last loss_grad, idx (B, k)
 * in ascending index order, cnt (B) how many (tests). */
int cuda_arch_selected(CUDAArch *a, int B, int *idx, int *cnt);
/* Copy the weights, Adam moments and since_fired back into m. */
int cuda_arch_download(CUDAArch *a);
/* Free everything. cuda_arch_free(NULL) is a no-op. */
void cuda_arch_free(CUDAArch *a);
/* sae_arch_train's contract on the GPU: X (T, d) host, consecutive batches
 * of B (wrapping), on_step after each step. m holds the trained state after
 * it returns, or, when a step failed, the state before that step. */
int cuda_arch_train(SAEArch *m, const float *X, long T, int B, long steps, SAEArchStepFn on_step, void *ctx);

/* ==========================================================================
 * Data-parallel GPU ranks (dist/dp.h; cuda/cuda_arch.cu): what a rank needs
 * around cuda_arch_loss_grad / cuda_arch_apply to sum its gradients with the
 * other ranks' through host memory (MPI), and to choose its GPU.
 *
 *   int dev;  cuda_arch_pick_device(dist_rank(), &dev);     // before any allocation
 *   cuda_arch_loss_grad(a, d_X, B_r, &log);
 *   cuda_arch_grads_get(a, fired);          // g -> m->t[].g, fired (n) bytes
 *   ... scale by B_r/B, MPI_Allreduce the g's, max the fired ...
 *   cuda_arch_grads_put(a, fired);          // back to the device
 *   cuda_arch_apply(a, B, &log);
 * ========================================================================== */
/* Use GPU rank mod (the number of GPUs) for this process (*dev). */
int cuda_arch_pick_device(int rank, int *dev);
/* The last loss_grad's gradients into m->t[].g (as cuda_arch_grads) and its
 * fired flags into fired (n bytes, 0 or 1). */
int cuda_arch_grads_get(CUDAArch *a, unsigned char *fired);
/* The reverse: m->t[].g and fired (n) become the gradients and fired flags
 * that cuda_arch_apply uses. */
int cuda_arch_grads_put(CUDAArch *a, const unsigned char *fired);
/* FVU's pieces of the last loss_grad's B tokens, for a sum across ranks:
 * s[0] = Σ_b ||x - x̂||², s[1] = Σ_b ||xc||², s[2 + j] = Σ_b xc[b, j] (d),
 * xc = s x - b_dec. s holds 2 + d doubles. */
int cuda_arch_fvu_sums(CUDAArch *a, double *s);

#ifdef __cplusplus
}
#endif

#endif
