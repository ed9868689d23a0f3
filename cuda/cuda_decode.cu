/*
 * cuda/cuda_decode.cu - generation on the GPU: GPT-2's blocks run over new
 * tokens at positions pos.. against a KV cache on the device (the prompt in
 * one call, then one token per call), with steering vectors added at any
 * (layer, site), and the logits of the last row back to the host for
 * gpt2/generate.c's sampler. The GPU twin of gpt2_forward_cached
 * (gpt2/forward.c) with a steering hook; the weights are a CUDAGPT2's
 * (borrowed through cuda_gpt2_view.cuh), the ops cuda_ops.cu's and
 * cuda_matmul.cu's, plus the two kernels here:
 *
 *   kv_store       the new rows' keys and values into the cache
 *   attention_kv   T new queries against the P cached keys, causally
 *                  (CPU reference: attention_forward_kv, gpt2/ops.c)
 *   add_rows       act (T, width) += vec (width), every row: a steering
 *                  vector (the CPU: eval/intervene.c's EVAL_STEER hook)
 *   matvec         one row's linear layer (matmul_forward, T = 1)
 *   logits_row     one row's logits (logits_forward, T = 1)
 */
#include "cuda/cuda_common.cuh"
#include "cuda/cuda_gpt2_view.cuh"

#include <math.h>
#include <stdlib.h>

/* ------------------------------------------------------------ kv_store */
/* One thread per element of the new rows' keys (T, C): row t of qkv (T, 3C)
 * holds q | k | v; its k and v go to row pos + t of the cache (n_ctx, C). */
__global__ void kv_store_kernel(float *k, float *v, const float *qkv, int T, int pos, int C) {
    long n = (long)T * C;
    long stride = (long)gridDim.x * blockDim.x;
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        long t = i / C, c = i % C;
        k[(pos + t) * C + c] = qkv[t * 3 * C + C + c];
        v[(pos + t) * C + c] = qkv[t * 3 * C + 2 * C + c];
    }
}

/* -------------------------------------------------------- attention_kv */
/* attention_forward_kv's math, head size 64: new token t (position
 * P - T + t) sees keys s <= P - T + t,
 *   a_s = softmax_s(q_t . k_s / 8),   out[t][h*64 + i] = sum_s a_s v_s[i].
 * Grid (T, NH): one block of KV_THREADS threads per (query, head). The
 * scores live in shared memory (P floats: P <= n_ctx), so the softmax is the
 * CPU's two passes: thread j scores keys j, j + KV_THREADS, ... (reading its
 * key row), a block-wide max, the exponentials and their block-wide sum;
 * then thread (g, i) = (tid / 64, tid % 64) sums a_s v_s[i] over s = g mod
 * KV_GROUPS (a warp reads 32 consecutive floats of a value row), and the
 * KV_GROUPS partial sums are added in a fixed order. */
#define KV_HS 64
#define KV_THREADS 128
#define KV_GROUPS (KV_THREADS / KV_HS)

/* The sum (is_max 0) or max (1) of every thread's x; all threads get it.
 * red (KV_THREADS) shared scratch. A tree in shared memory: every thread
 * reaches every barrier. */
__device__ float block_reduce(float x, float *red, int is_max) {
    const int tid = threadIdx.x;
    __syncthreads(); /* red free: its previous use is over */
    red[tid] = x;
    for (int half = KV_THREADS / 2; half > 0; half /= 2) {
        __syncthreads();
        if (tid < half) red[tid] = is_max ? fmaxf(red[tid], red[tid + half]) : red[tid] + red[tid + half];
    }
    __syncthreads();
    return red[0];
}

__global__ __launch_bounds__(KV_THREADS) void attention_kv_kernel(float *out, const float *qkv, const float *k,
                                                                   const float *v, int T, int P, int C,
                                                                   float scale) {
    extern __shared__ float sm[];
    float *qs = sm;                          /* (64) this head's query */
    float *red = qs + KV_HS;                 /* (KV_THREADS) reductions */
    float *part = red + KV_THREADS;          /* (KV_GROUPS, 64) partial outputs */
    float *a = part + KV_GROUPS * KV_HS;     /* (P) scores, then probabilities */
    const int t = blockIdx.x, h = blockIdx.y, tid = threadIdx.x;
    const int n = P - T + t + 1; /* keys 0 .. n-1 are visible: 1 <= n <= P */
    const size_t C3 = (size_t)3 * C;
    if (tid < KV_HS) qs[tid] = qkv[(size_t)t * C3 + h * KV_HS + tid];
    __syncthreads();
    float mx = -INFINITY;
    for (int s = tid; s < n; s += KV_THREADS) {
        const float *ks = k + (size_t)s * C + h * KV_HS;
        float dot = 0.0f;
        for (int i = 0; i < KV_HS; i++) dot += qs[i] * ks[i];
        a[s] = dot * scale;
        mx = fmaxf(mx, a[s]);
    }
    mx = block_reduce(mx, red, 1); /* finite: key 0 is always seen */
    float sum = 0.0f;
    for (int s = tid; s < n; s += KV_THREADS) {
        a[s] = expf(a[s] - mx);
        sum += a[s];
    }
    sum = block_reduce(sum, red, 0); /* >= 1: the max's own term; the barrier also publishes a[] */
    const int g = tid / KV_HS, i = tid % KV_HS;
    float acc = 0.0f;
    for (int s = g; s < n; s += KV_GROUPS) acc += a[s] * v[(size_t)s * C + h * KV_HS + i];
    part[g * KV_HS + i] = acc;
    __syncthreads();
    if (g == 0) {
        float o = 0.0f;
        for (int j = 0; j < KV_GROUPS; j++) o += part[j * KV_HS + i];
        out[(size_t)t * C + h * KV_HS + i] = o / sum;
    }
}

/* shared memory of attention_kv_kernel for P keys */
static size_t attention_kv_smem(int P) {
    return (size_t)(KV_HS + KV_THREADS + KV_GROUPS * KV_HS + P) * sizeof(float);
}

int cuda_attention_kv_forward(float *d_out, const float *d_qkv, const float *d_k, const float *d_v, int T, int P,
                              int C, int NH) {
    CU_REQUIRE(T >= 1 && P >= T && NH > 0 && C > 0 && C % NH == 0, "bad sizes T=%d P=%d C=%d NH=%d (need 1 <= T <= P)",
               T, P, C, NH);
    CU_REQUIRE(C / NH == KV_HS, "head size %d: only %d is implemented (every GPT-2 size)", C / NH, KV_HS);
    CU_REQUIRE(attention_kv_smem(P) <= 48 * 1024, "P=%d cached positions: at most %d fit in shared memory", P,
               (int)(48 * 1024 / sizeof(float)) - KV_HS - KV_THREADS - KV_GROUPS * KV_HS);
    CU_REQUIRE(T <= 2147483647 && NH <= 65535, "too many tokens or heads");
    dim3 grid(T, NH);
    attention_kv_kernel<<<grid, KV_THREADS, attention_kv_smem(P)>>>(d_out, d_qkv, d_k, d_v, T, P, C,
                                                                     1.0f / sqrtf((float)KV_HS));
    CU_LAUNCHED();
    return 0;
}

/* ------------------------------------------------------------ add_rows */
/* One thread per element (grid-stride): act[t][i] += vec[i]. */
__global__ void add_rows_kernel(float *act, const float *vec, int T, int width) {
    long n = (long)T * width;
    long stride = (long)gridDim.x * blockDim.x;
    for (long j = (long)blockIdx.x * blockDim.x + threadIdx.x; j < n; j += stride) act[j] += vec[j % width];
}

int cuda_add_rows(float *d_act, const float *d_vec, int T, int width) {
    CU_REQUIRE(T >= 0 && width > 0, "bad sizes T=%d width=%d", T, width);
    if (T == 0) return 0;
    unsigned blocks = cu_blocks((long)T * width, cu_block_size);
    if (blocks > 65536) blocks = 65536;
    add_rows_kernel<<<blocks, cu_block_size>>>(d_act, d_vec, T, width);
    CU_LAUNCHED();
    return 0;
}

/* ------------------------------------------------- one row: matvec, logits */
/* A decode step has one row, so its products are matrix-vector products that
 * read every weight once: memory-bound, and a 64 x 64 matmul tile would leave
 * 63 of its 64 rows empty. */

/* out (OC) = inp (C) @ w (C, OC) + bias (OC): matmul_forward with T = 1.
 * Block (32, 8): lane x owns column blockIdx.x * 32 + x, warp y sums rows
 * c = y, y + 8, ... (a warp reads 32 consecutive floats of a row of w);
 * then the 8 partial sums are added in a fixed order. Grid ceil(OC / 32). */
__global__ __launch_bounds__(256) void matvec_kernel(float *out, const float *inp, const float *w,
                                                     const float *bias, int C, int OC) {
    __shared__ float part[8][32];
    const int x = threadIdx.x, y = threadIdx.y, o = blockIdx.x * 32 + x;
    float acc = 0.0f;
    if (o < OC)
        for (int c = y; c < C; c += 8) acc += inp[c] * w[(size_t)c * OC + o];
    part[y][x] = acc;
    __syncthreads();
    if (y == 0 && o < OC) {
        float sum = bias ? bias[o] : 0.0f;
        for (int j = 0; j < 8; j++) sum += part[j][x];
        out[o] = sum;
    }
}

int cuda_matvec_forward(float *d_out, const float *d_inp, const float *d_w, const float *d_bias, int C, int OC) {
    CU_REQUIRE(C > 0 && OC > 0, "bad sizes C=%d OC=%d", C, OC);
    matvec_kernel<<<cu_blocks(OC, 32), dim3(32, 8)>>>(d_out, d_inp, d_w, d_bias, C, OC);
    CU_LAUNCHED();
    return 0;
}

/* out (V) = inp (C) @ wte (V, C)^T: logits_forward with T = 1. One warp per
 * vocabulary row (8 per block): lane l sums c = l, l + 32, ... (a warp reads
 * 32 consecutive floats of the row), then a shuffle tree. */
__global__ __launch_bounds__(256) void logits_row_kernel(float *out, const float *inp, const float *wte, int C,
                                                         int V) {
    const int v = blockIdx.x * 8 + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (v >= V) return; /* warp-uniform */
    const float *e = wte + (size_t)v * C;
    float acc = 0.0f;
    for (int c = lane; c < C; c += 32) acc += inp[c] * e[c];
    for (int off = 16; off > 0; off >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, off);
    if (lane == 0) out[v] = acc;
}

int cuda_logits_row_forward(float *d_out, const float *d_inp, const float *d_wte, int C, int V) {
    CU_REQUIRE(C > 0 && V > 0, "bad sizes C=%d V=%d", C, V);
    logits_row_kernel<<<cu_blocks(V, 8), 256>>>(d_out, d_inp, d_wte, C, V);
    CU_LAUNCHED();
    return 0;
}

/* ------------------------------------------------------------- decoder */

typedef struct {
    int layer;
    GPT2Site site;
    float *d_vec; /* (width of the site) */
} Steer;

struct CUDADecoder {
    CUDAGPT2View w;     /* the model (borrowed from the CUDAGPT2) */
    CUDALayerView *h;   /* (n_layer) its blocks */
    int len;            /* cache positions filled: 0 .. len-1 */
    float *d_k, *d_v;   /* (L, n_ctx, C) keys and values, the heads side by side as in qkv */
    int32_t *d_ids;     /* (n_ctx) */
    float *d_acts;      /* the activations below, one allocation, n_ctx rows */
    float *x;           /* (T, C) residual stream */
    float *ln;          /* (T, C) ln_1 / ln_2 / ln_f output */
    float *qkv;         /* (T, 3C) */
    float *atty;        /* (T, C) attention output before c_proj */
    float *tmp;         /* (T, C) attn_out / mlp_out */
    float *fch;         /* (T, 4C) mlp_pre, then mlp_post */
    float *d_logits;    /* (V) the last row's */
    Steer *steer;       /* (n_steer) */
    int n_steer;
};

void cuda_decoder_free(CUDADecoder *d) {
    if (!d) return;
    for (int i = 0; i < d->n_steer; i++) cuda_free(d->steer[i].d_vec);
    free(d->steer);
    cuda_free(d->d_k);
    cuda_free(d->d_v);
    cuda_free(d->d_ids);
    cuda_free(d->d_acts);
    cuda_free(d->d_logits);
    free(d->h);
    free(d);
}

int cuda_decoder_init(CUDADecoder **out, const CUDAGPT2 *g) {
    *out = NULL;
    CU_REQUIRE(g != NULL, "no model (call cuda_gpt2_init first)");
    CUDADecoder *d = (CUDADecoder *)xcalloc(1, sizeof *d);
    cuda_gpt2_view(g, &d->w);
    const GPT2Config *c = &d->w.cfg;
    const size_t C = c->n_embd, NC = c->n_ctx, L = c->n_layer;
    d->h = (CUDALayerView *)xcalloc(L, sizeof *d->h);
    for (size_t l = 0; l < L; l++) cuda_gpt2_layer_view(g, (int)l, &d->h[l]);
    if (attention_kv_smem(c->n_ctx) > 48 * 1024) {
        err_set("n_ctx %d: the decoder's attention holds at most %d positions", c->n_ctx,
                (int)(48 * 1024 / sizeof(float)) - KV_HS - KV_THREADS - KV_GROUPS * KV_HS);
        goto fail;
    }
    /* x, ln, atty, tmp: 4 (T, C); qkv (T, 3C); fch (T, 4C) */
    if (cuda_malloc((void **)&d->d_k, L * NC * C * sizeof(float)) != 0 ||
        cuda_malloc((void **)&d->d_v, L * NC * C * sizeof(float)) != 0 ||
        cuda_malloc((void **)&d->d_ids, NC * sizeof(int32_t)) != 0 ||
        cuda_malloc((void **)&d->d_acts, NC * C * 11 * sizeof(float)) != 0 ||
        cuda_malloc((void **)&d->d_logits, (size_t)c->vocab_size * sizeof(float)) != 0)
        goto fail;
    {
        float *p = d->d_acts;
        d->x = p, p += NC * C;
        d->ln = p, p += NC * C;
        d->atty = p, p += NC * C;
        d->tmp = p, p += NC * C;
        d->qkv = p, p += NC * 3 * C;
        d->fch = p;
    }
    *out = d;
    return 0;
fail:
    err_prefix("cuda_decoder_init");
    cuda_decoder_free(d);
    return -1;
}

int cuda_decoder_add(CUDADecoder *d, int layer, GPT2Site site, const float *vec) {
    const GPT2Config *c = &d->w.cfg;
    CU_REQUIRE(layer >= 0 && layer < c->n_layer, "layer %d does not exist: the model has layers 0..%d", layer,
               c->n_layer - 1);
    CU_REQUIRE((unsigned)site < GPT2_NSITES, "site %d does not exist", (int)site);
    size_t bytes = (size_t)gpt2_site_width(c, site) * sizeof(float);
    Steer s = {layer, site, NULL};
    if (cuda_malloc((void **)&s.d_vec, bytes) != 0 || cuda_upload(s.d_vec, vec, bytes) != 0) {
        cuda_free(s.d_vec);
        return err_prefix("cuda_decoder_add");
    }
    d->steer = (Steer *)xrealloc(d->steer, (size_t)(d->n_steer + 1) * sizeof *d->steer);
    d->steer[d->n_steer++] = s;
    return 0;
}

int cuda_decoder_add_directions(CUDADecoder *d, int layer, GPT2Site site, const float *W, const int *row,
                                const float *coef, int n) {
    CU_REQUIRE((unsigned)site < GPT2_NSITES, "site %d does not exist", (int)site);
    const int width = gpt2_site_width(&d->w.cfg, site);
    float *vec = (float *)xmalloc((size_t)width * sizeof(float)); /* (width) */
    int rc = 0;
    for (int j = 0; j < n && rc == 0; j++) {
        const float *wr = W + (size_t)row[j] * width;
        for (int i = 0; i < width; i++) vec[i] = coef[j] * wr[i]; /* the CPU hook's product, rounded alike */
        rc = cuda_decoder_add(d, layer, site, vec);
    }
    free(vec);
    return rc;
}

/* out (T, OC) = inp (T, C) @ w (C, OC) + bias: the matvec for one row in FP32
 * (a decode step), else the tiled matmul of the pass's kind. */
static int linear(const CUDADecoder *d, float *out, const float *inp, const float *w, const float *bias, int T, int C,
                  int OC) {
    if (T == 1 && d->w.kind == CUDA_MATMUL_FP32) return cuda_matvec_forward(out, inp, w, bias, C, OC);
    return cuda_matmul_forward(out, inp, w, bias, T, C, OC, d->w.kind);
}

/* The steering vectors at (l, s), added to act (T, width) in the order given. */
static int steer_at(CUDADecoder *d, int l, GPT2Site s, float *act, int T) {
    for (int i = 0; i < d->n_steer; i++)
        if (d->steer[i].layer == l && d->steer[i].site == s &&
            cuda_add_rows(act, d->steer[i].d_vec, T, gpt2_site_width(&d->w.cfg, s)) != 0)
            return -1;
    return 0;
}

int cuda_decoder_run(CUDADecoder *d, const int32_t *ids, int T, int pos, float *logits) {
    const GPT2Config *c = &d->w.cfg;
    const int C = c->n_embd, NH = c->n_head, V = c->vocab_size, NC = c->n_ctx;
    const float eps = c->ln_eps > 0 ? c->ln_eps : 1e-5f;
    const CUDAMatmulKind K = d->w.kind;
    CU_REQUIRE(T >= 1 && ids, "no tokens to run (T=%d)", T);
    CU_REQUIRE(pos >= 0 && pos <= d->len,
               "position %d: the cache holds positions 0..%d, so the next run starts at %d or before", pos,
               d->len - 1, d->len);
    CU_REQUIRE(pos + T <= NC,
               "the context is full: %d tokens already seen + %d new > n_ctx = %d, the most %s can see", pos, T, NC,
               c->name);
    for (int t = 0; t < T; t++)
        CU_REQUIRE(ids[t] >= 0 && ids[t] < V, "token id %d at position %d is outside the vocabulary [0, %d) of %s",
                   (int)ids[t], pos + t, V, c->name);
#define TRY(x)                                                                                      \
    do {                                                                                            \
        if ((x) != 0) return err_prefix("cuda_decoder_run");                                        \
    } while (0)
    TRY(cuda_upload(d->d_ids, ids, (size_t)T * sizeof(int32_t)));
    /* token + position embeddings (positions pos..): x (T, C) */
    TRY(cuda_encoder_forward(d->x, d->d_ids, d->w.wte, d->w.wpe + (size_t)pos * C, T, C, V));
    for (int l = 0; l < c->n_layer; l++) {
        const CUDALayerView *w = &d->h[l];
        float *kl = d->d_k + (size_t)l * NC * C, *vl = d->d_v + (size_t)l * NC * C;
        TRY(steer_at(d, l, GPT2_RESID_PRE, d->x, T));
        /* attention: ln_1, q k v, the new keys and values into the cache, attention over 0..pos+T-1, c_proj */
        TRY(cuda_layernorm_forward(d->ln, NULL, NULL, d->x, w->ln1w, w->ln1b, T, C, eps));
        TRY(linear(d, d->qkv, d->ln, w->qkvw, w->qkvb, T, C, 3 * C));
        unsigned blocks = cu_blocks((long)T * C, cu_block_size);
        kv_store_kernel<<<blocks < 65536 ? blocks : 65536, cu_block_size>>>(kl, vl, d->qkv, T, pos, C);
        CU_LAUNCHED();
        TRY(cuda_attention_kv_forward(d->atty, d->qkv, kl, vl, T, pos + T, C, NH));
        TRY(linear(d, d->tmp, d->atty, w->attprojw, w->attprojb, T, C, C));
        TRY(steer_at(d, l, GPT2_ATTN_OUT, d->tmp, T));
        TRY(cuda_residual_forward(d->x, d->x, d->tmp, (long)T * C));
        TRY(steer_at(d, l, GPT2_RESID_MID, d->x, T));
        /* MLP: ln_2, c_fc to 4C, GELU, c_proj back to C */
        TRY(cuda_layernorm_forward(d->ln, NULL, NULL, d->x, w->ln2w, w->ln2b, T, C, eps));
        TRY(linear(d, d->fch, d->ln, w->fcw, w->fcb, T, C, 4 * C));
        TRY(steer_at(d, l, GPT2_MLP_PRE, d->fch, T));
        TRY(cuda_gelu_forward(d->fch, d->fch, (long)T * 4 * C));
        TRY(steer_at(d, l, GPT2_MLP_POST, d->fch, T));
        TRY(linear(d, d->tmp, d->fch, w->fcprojw, w->fcprojb, T, 4 * C, C));
        TRY(steer_at(d, l, GPT2_MLP_OUT, d->tmp, T));
        TRY(cuda_residual_forward(d->x, d->x, d->tmp, (long)T * C));
        TRY(steer_at(d, l, GPT2_RESID_POST, d->x, T));
    }
    /* the last row: final LayerNorm, logits (V) = ln (C) @ lm_head (V, C)^T */
    TRY(cuda_layernorm_forward(d->ln, NULL, NULL, d->x + (size_t)(T - 1) * C, d->w.lnfw, d->w.lnfb, 1, C, eps));
    if (K == CUDA_MATMUL_FP32) TRY(cuda_logits_row_forward(d->d_logits, d->ln, d->w.lm_head, C, V));
    else TRY(cuda_gemm(0, 1, 1, V, C, 1.0f, d->ln, C, d->w.lm_head, C, 0.0f, d->d_logits, V, NULL, K));
    if (logits) TRY(cuda_download(logits, d->d_logits, (size_t)V * sizeof(float)));
    TRY(cuda_sync());
#undef TRY
    d->len = pos + T;
    return 0;
}

static int decoder_run(void *state, const int32_t *ids, int T, int pos, float *logits) {
    return cuda_decoder_run((CUDADecoder *)state, ids, T, pos, logits);
}

GPT2Decoder cuda_decoder_view(CUDADecoder *d) {
    GPT2Decoder v = {decoder_run, d};
    return v;
}
