/*
 * cuda/cuda_none.c - cuda/cuda.h for builds without nvcc (CUDA=0, the
 * sanitizer and fuzz builds): cuda_available() is 0 and every other function
 * fails with a message that says how to get a CUDA build.
 */
#include "cuda/cuda.h"
#include "core/util.h"

#define NONE(fn) err_set("%s: this build has no CUDA (rebuild with nvcc on the PATH, or use --device cpu)", fn)

int cuda_available(void) { return 0; }
int cuda_describe(char *buf, size_t n) {
    if (n) buf[0] = '\0';
    return NONE("cuda_describe");
}
int cuda_sync(void) { return NONE("cuda_sync"); }
int cuda_malloc(void **d_p, size_t bytes) {
    (void)bytes;
    *d_p = NULL;
    return NONE("cuda_malloc");
}
void cuda_free(void *d_p) { (void)d_p; }
int cuda_upload(void *d_dst, const void *src, size_t bytes) {
    (void)d_dst, (void)src, (void)bytes;
    return NONE("cuda_upload");
}
int cuda_download(void *dst, const void *d_src, size_t bytes) {
    (void)dst, (void)d_src, (void)bytes;
    return NONE("cuda_download");
}
int cuda_copy(void *d_dst, const void *d_src, size_t bytes) {
    (void)d_dst, (void)d_src, (void)bytes;
    return NONE("cuda_copy");
}
int cuda_memset(void *d_p, int byte, size_t bytes) {
    (void)d_p, (void)byte, (void)bytes;
    return NONE("cuda_memset");
}
int cuda_fill_uniform(float *d_x, size_t n, unsigned long long seed, float scale) {
    (void)d_x, (void)n, (void)seed, (void)scale;
    return NONE("cuda_fill_uniform");
}
int cuda_flush_l2(void) { return NONE("cuda_flush_l2"); }
int cuda_tune(int block_size, int matmul_tile) {
    (void)block_size, (void)matmul_tile;
    return NONE("cuda_tune");
}

int cuda_encoder_forward(float *d_out, const int32_t *d_ids, const float *d_wte, const float *d_wpe, int T, int C,
                         int V) {
    (void)d_out, (void)d_ids, (void)d_wte, (void)d_wpe, (void)T, (void)C, (void)V;
    return NONE("cuda_encoder_forward");
}
int cuda_layernorm_forward(float *d_out, float *d_mean, float *d_rstd, const float *d_inp, const float *d_w,
                           const float *d_b, int T, int C, float eps) {
    (void)d_out, (void)d_mean, (void)d_rstd, (void)d_inp, (void)d_w, (void)d_b, (void)T, (void)C, (void)eps;
    return NONE("cuda_layernorm_forward");
}
int cuda_matmul_forward(float *d_out, const float *d_inp, const float *d_w, const float *d_bias, int T, int C,
                        int OC, CUDAMatmulKind kind) {
    (void)d_out, (void)d_inp, (void)d_w, (void)d_bias, (void)T, (void)C, (void)OC, (void)kind;
    return NONE("cuda_matmul_forward");
}
int cuda_gemm(int transA, int transB, int M, int N, int K, float alpha, const float *d_A, int lda,
              const float *d_B, int ldb, float beta, float *d_C, int ldc, const float *d_bias,
              CUDAMatmulKind kind) {
    (void)transA, (void)transB, (void)M, (void)N, (void)K, (void)alpha, (void)d_A, (void)lda, (void)d_B;
    (void)ldb, (void)beta, (void)d_C, (void)ldc, (void)d_bias, (void)kind;
    return NONE("cuda_gemm");
}
int cuda_attention_forward(float *d_out, const float *d_qkv, int T, int C, int NH) {
    (void)d_out, (void)d_qkv, (void)T, (void)C, (void)NH;
    return NONE("cuda_attention_forward");
}
int cuda_gelu_forward(float *d_out, const float *d_inp, long N) {
    (void)d_out, (void)d_inp, (void)N;
    return NONE("cuda_gelu_forward");
}
int cuda_residual_forward(float *d_out, const float *d_a, const float *d_b, long N) {
    (void)d_out, (void)d_a, (void)d_b, (void)N;
    return NONE("cuda_residual_forward");
}

int cuda_gpt2_init(CUDAGPT2 **g, const GPT2Model *m, int max_T) {
    (void)m, (void)max_T;
    *g = NULL;
    return NONE("cuda_gpt2_init");
}
void cuda_gpt2_set_matmul(CUDAGPT2 *g, CUDAMatmulKind kind) { (void)g, (void)kind; }
int cuda_gpt2_forward(CUDAGPT2 *g, const int32_t *ids, int T, const CUDACapture *cap, float *logits) {
    (void)g, (void)ids, (void)T, (void)cap, (void)logits;
    return NONE("cuda_gpt2_forward");
}
const float *cuda_gpt2_forward_device(CUDAGPT2 *g, const int32_t *ids, int T) {
    (void)g, (void)ids, (void)T;
    NONE("cuda_gpt2_forward_device");
    return NULL;
}
int cuda_gpt2_capture(CUDAGPT2 *g, const int32_t *ids, long T, int layer, GPT2Site site, float *out,
                      float *d_out) {
    (void)g, (void)ids, (void)T, (void)layer, (void)site, (void)out, (void)d_out;
    return NONE("cuda_gpt2_capture");
}
int cuda_gpt2_stream(CUDAGPT2 *g, const int32_t *ids, long T, long t_base, int layer, GPT2Site site,
                     GPT2RowSink fn, void *user, float *d_out) {
    (void)g, (void)ids, (void)T, (void)t_base, (void)layer, (void)site, (void)fn, (void)user, (void)d_out;
    return NONE("cuda_gpt2_stream");
}
void cuda_gpt2_free(CUDAGPT2 *g) { (void)g; }

int cuda_sae_init(CUDASAE **s, const SAE *sae, const SAEParams *p, int max_T) {
    (void)sae, (void)p, (void)max_T;
    *s = NULL;
    return NONE("cuda_sae_init");
}
void cuda_sae_set_options(CUDASAE *s, int sparse_decoder, CUDAMatmulKind kind) {
    (void)s, (void)sparse_decoder, (void)kind;
}
int cuda_sae_loss_grad(CUDASAE *s, const float *d_X, int T, float *g_W, float *Z, SAELosses *out) {
    (void)s, (void)d_X, (void)T, (void)g_W, (void)Z, (void)out;
    return NONE("cuda_sae_loss_grad");
}
int cuda_sae_step(CUDASAE *s, const float *d_X, int T, float *d_losses) {
    (void)s, (void)d_X, (void)T, (void)d_losses;
    return NONE("cuda_sae_step");
}
int cuda_sae_failed(CUDASAE *s) {
    (void)s;
    return 1;
}
int cuda_sae_download(const CUDASAE *s, SAE *sae) {
    (void)s, (void)sae;
    return NONE("cuda_sae_download");
}
int cuda_sae_encode(CUDASAE *s, const float *d_X, int T, float *Z, float *Y) {
    (void)s, (void)d_X, (void)T, (void)Z, (void)Y;
    return NONE("cuda_sae_encode");
}
void cuda_sae_free(CUDASAE *s) { (void)s; }
int cuda_sae_train(SAE *sae, const float *X, const float *d_X, long T, const SAEParams *p, SAEResult *res) {
    (void)sae, (void)X, (void)d_X, (void)T, (void)p;
    if (res) {
        res->losses = NULL, res->latents = NULL;
        res->epochs = res->epochs_done = 0, res->T = 0;
    }
    return NONE("cuda_sae_train");
}
const SAETrainBackend *cuda_sae_backend(void) { return NULL; }
int cuda_topk_threshold(float *d_thresh, const float *d_x, int T, int L, int k) {
    (void)d_thresh, (void)d_x, (void)T, (void)L, (void)k;
    return NONE("cuda_topk_threshold");
}

/* ---- hooks: batched capture, splices (cuda/cuda_hooks.cu) ---- */
int cuda_gpt2_forward_batch(CUDAGPT2 *g, const int32_t *ids, int B, int T, const CUDAHook *hooks, int n_hooks,
                            float *logits) {
    (void)g, (void)ids, (void)B, (void)T, (void)hooks, (void)n_hooks, (void)logits;
    return NONE("cuda_gpt2_forward_batch");
}
int cuda_gpt2_resume(CUDAGPT2 *g, int layer, GPT2Site site, const float *resid, const float *act, int T,
                     const CUDAHook *hooks, int n_hooks, float *logits) {
    (void)g, (void)layer, (void)site, (void)resid, (void)act, (void)T, (void)hooks, (void)n_hooks, (void)logits;
    return NONE("cuda_gpt2_resume");
}
int cuda_eval_grab(void *g, int layer, GPT2Site site, const int32_t *ids, int T, float *act, float *resid,
                   float *logits) {
    (void)g, (void)layer, (void)site, (void)ids, (void)T, (void)act, (void)resid, (void)logits;
    return NONE("cuda_eval_grab");
}
int cuda_eval_resume(void *g, int layer, GPT2Site site, const float *resid, const float *act, int T, float *logits) {
    (void)g, (void)layer, (void)site, (void)resid, (void)act, (void)T, (void)logits;
    return NONE("cuda_eval_resume");
}
int cuda_harvest_pass(void *g, const int32_t *ids, int B, int T, int n_hooks, const int *layer, const GPT2Site *site,
                      float *const *acts) {
    (void)g, (void)ids, (void)B, (void)T, (void)n_hooks, (void)layer, (void)site, (void)acts;
    return NONE("cuda_harvest_pass");
}

/* ---- generation with a KV cache (cuda/cuda_decode.cu) ---- */
int cuda_decoder_init(CUDADecoder **d, const CUDAGPT2 *g) {
    (void)g;
    *d = NULL;
    return NONE("cuda_decoder_init");
}
int cuda_decoder_add(CUDADecoder *d, int layer, GPT2Site site, const float *vec) {
    (void)d, (void)layer, (void)site, (void)vec;
    return NONE("cuda_decoder_add");
}
int cuda_decoder_add_directions(CUDADecoder *d, int layer, GPT2Site site, const float *W, const int *row,
                                const float *coef, int n) {
    (void)d, (void)layer, (void)site, (void)W, (void)row, (void)coef, (void)n;
    return NONE("cuda_decoder_add_directions");
}
int cuda_decoder_run(CUDADecoder *d, const int32_t *ids, int T, int pos, float *logits) {
    (void)d, (void)ids, (void)T, (void)pos, (void)logits;
    return NONE("cuda_decoder_run");
}
GPT2Decoder cuda_decoder_view(CUDADecoder *d) {
    GPT2Decoder v = {NULL, d};
    return v;
}
void cuda_decoder_free(CUDADecoder *d) { (void)d; }
int cuda_attention_kv_forward(float *d_out, const float *d_qkv, const float *d_k, const float *d_v, int T, int P,
                              int C, int NH) {
    (void)d_out, (void)d_qkv, (void)d_k, (void)d_v, (void)T, (void)P, (void)C, (void)NH;
    return NONE("cuda_attention_kv_forward");
}
int cuda_add_rows(float *d_act, const float *d_vec, int T, int width) {
    (void)d_act, (void)d_vec, (void)T, (void)width;
    return NONE("cuda_add_rows");
}
int cuda_matvec_forward(float *d_out, const float *d_inp, const float *d_w, const float *d_bias, int C, int OC) {
    (void)d_out, (void)d_inp, (void)d_w, (void)d_bias, (void)C, (void)OC;
    return NONE("cuda_matvec_forward");
}
int cuda_logits_row_forward(float *d_out, const float *d_inp, const float *d_wte, int C, int V) {
    (void)d_out, (void)d_inp, (void)d_wte, (void)C, (void)V;
    return NONE("cuda_logits_row_forward");
}
/* ---- end of generation with a KV cache ---- */

/* ---- SAE architectures on the GPU (cuda/cuda_arch.cu) ---- */
int cuda_arch_init(CUDAArch **a, SAEArch *m, int max_B) {
    (void)m, (void)max_B;
    *a = NULL;
    return NONE("cuda_arch_init");
}
int cuda_arch_loss_grad(CUDAArch *a, const float *d_X, int B, SAEArchLog *log) {
    (void)a, (void)d_X, (void)B, (void)log;
    return NONE("cuda_arch_loss_grad");
}
int cuda_arch_apply(CUDAArch *a, int B, SAEArchLog *log) {
    (void)a, (void)B, (void)log;
    return NONE("cuda_arch_apply");
}
int cuda_arch_step(CUDAArch *a, const float *d_X, int B, SAEArchLog *log) {
    (void)a, (void)d_X, (void)B, (void)log;
    return NONE("cuda_arch_step");
}
int cuda_arch_grads(CUDAArch *a) {
    (void)a;
    return NONE("cuda_arch_grads");
}
int cuda_arch_selected(CUDAArch *a, int B, int *idx, int *cnt) {
    (void)a, (void)B, (void)idx, (void)cnt;
    return NONE("cuda_arch_selected");
}
int cuda_arch_download(CUDAArch *a) {
    (void)a;
    return NONE("cuda_arch_download");
}
void cuda_arch_free(CUDAArch *a) { (void)a; }
int cuda_arch_train(SAEArch *m, const float *X, long T, int B, long steps, SAEArchStepFn on_step, void *ctx) {
    (void)m, (void)X, (void)T, (void)B, (void)steps, (void)on_step, (void)ctx;
    return NONE("cuda_arch_train");
}

/* ---------------------------------------- matmul plan (cuda/cuda_matmul.cu) */
int cuda_matmul_plan(CUDAMatmulPlan *p, int M, int N, int K, CUDAMatmulKind kind, int sms) {
    (void)M, (void)N, (void)K, (void)kind, (void)sms;
    *p = (CUDAMatmulPlan){0};
    return NONE("cuda_matmul_plan");
}
int cuda_matmul_split(int split) {
    (void)split;
    return NONE("cuda_matmul_split");
}
int cuda_matmul_bf16(int on) {
    (void)on;
    return NONE("cuda_matmul_bf16");
}

/* ------------------------------------------ data-parallel GPU ranks (dist/dp.h) */
int cuda_arch_pick_device(int rank, int *dev) {
    (void)rank;
    *dev = -1;
    return NONE("cuda_arch_pick_device");
}
int cuda_arch_grads_get(CUDAArch *a, unsigned char *fired) {
    (void)a, (void)fired;
    return NONE("cuda_arch_grads_get");
}
int cuda_arch_grads_put(CUDAArch *a, const unsigned char *fired) {
    (void)a, (void)fired;
    return NONE("cuda_arch_grads_put");
}
int cuda_arch_fvu_sums(CUDAArch *a, double *s) {
    (void)a, (void)s;
    return NONE("cuda_arch_fvu_sums");
}
