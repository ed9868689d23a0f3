/*
 * cuda/cuda_ops.cu - the element-wise and row-wise kernels of GPT-2's
 * forward pass: embedding, LayerNorm, causal attention (fused softmax),
 * GELU, residual add. (The matrix products are in cuda/cuda_matmul.cu.)
 *
 * Each kernel mirrors one CPU reference in gpt2/; the comments give the
 * thread mapping and the reasoning that makes every index stay in bounds.
 */
#include "cuda/cuda_common.cuh"

#include <math.h>

__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(FULL_MASK, v, o));
    return v;
}

/* ------------------------------------------------------------- encoder */
/* One thread per output element (grid-stride). */
__global__ void encoder_kernel(float *out, const int32_t *tokens, const float *wte, const float *wpe,
                               int T, int C, int V) {
    long n = (long)T * C;
    long stride = (long)gridDim.x * blockDim.x;
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        int t = (int)(i / C), c = (int)(i % C);
        int tok = tokens[t];
        out[i] = (tok >= 0 && tok < V) ? wte[(size_t)tok * C + c] + wpe[(size_t)t * C + c] : NAN;
    }
}

int cuda_encoder_forward(float *d_out, const int32_t *d_tokens, const float *d_wte, const float *d_wpe,
                         int T, int C, int V) {
    CU_REQUIRE(T >= 0 && C > 0 && V > 0, "bad sizes T=%d C=%d V=%d", T, C, V);
    if (T == 0) return 0;
    long n = (long)T * C;
    unsigned blocks = cu_blocks(n, cu_block_size);
    if (blocks > 65536) blocks = 65536;
    encoder_kernel<<<blocks, cu_block_size>>>(d_out, d_tokens, d_wte, d_wpe, T, C, V);
    CU_LAUNCHED();
    return 0;
}

/* ----------------------------------------------------------- layernorm */
/* One warp per row (8 rows per 256-thread block). The row guard is
 * warp-uniform, so every shuffle has all 32 lanes. The CPU reference's
 * algorithm (gpt2/ops.c layernorm_forward, the corrected two-pass): the mean,
 * then the deviations' sum s1 and squares s2 in a second pass, var =
 * s2/C - (s1/C)^2 and mean += s1/C, var clamped at 0. Only the summation
 * order differs (lane-strided partial sums, then a shuffle tree). The row is
 * re-read from L1/L2 rather than held in registers so any C works. */
__global__ void layernorm_kernel(float *out, float *mean, float *rstd, const float *inp,
                                 const float *w, const float *b, int T, int C, float eps) {
    int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    int lane = threadIdx.x % 32;
    if (row >= T) return;
    const float *x = inp + (size_t)row * C;
    float s = 0.0f;
    for (int c = lane; c < C; c += 32) s += x[c];
    float m = warp_sum(s) / C;
    float s1 = 0.0f, s2 = 0.0f;
    for (int c = lane; c < C; c += 32) {
        float d = x[c] - m;
        s1 += d;
        s2 += d * d;
    }
    s1 = warp_sum(s1) / C;
    float var = fmaxf(warp_sum(s2) / C - s1 * s1, 0.0f); /* biased, as torch.nn.LayerNorm */
    m += s1;
    float r = 1.0f / sqrtf(var + eps);
    float *o = out + (size_t)row * C;
    for (int c = lane; c < C; c += 32) o[c] = (x[c] - m) * r * w[c] + b[c];
    if (lane == 0) {
        if (mean) mean[row] = m;
        if (rstd) rstd[row] = r;
    }
}

/* The same with the row in registers: lane l holds x[l + 32 i], i < PER
 * (C <= 32 PER), so the row is read from memory once, with all PER loads in
 * flight before the first use. Same algorithm and summation order as layernorm_kernel. */
template <int PER>
__global__ void layernorm_reg_kernel(float *out, float *mean, float *rstd, const float *inp, const float *w,
                                     const float *b, int T, int C, float eps) {
    int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    int lane = threadIdx.x % 32;
    if (row >= T) return; /* warp-uniform */
    const float *x = inp + (size_t)row * C;
    float v[PER];
#pragma unroll
    for (int i = 0; i < PER; i++) {
        int c = lane + 32 * i;
        v[i] = c < C ? x[c] : 0.0f;
    }
    float s = 0.0f;
#pragma unroll
    for (int i = 0; i < PER; i++) s += v[i]; /* the zeros past C add nothing */
    float m = warp_sum(s) / C;
    float s1 = 0.0f, s2 = 0.0f;
#pragma unroll
    for (int i = 0; i < PER; i++) {
        float d = lane + 32 * i < C ? v[i] - m : 0.0f;
        s1 += d;
        s2 += d * d;
    }
    s1 = warp_sum(s1) / C;
    float var = fmaxf(warp_sum(s2) / C - s1 * s1, 0.0f);
    m += s1;
    float r = 1.0f / sqrtf(var + eps);
    float *o = out + (size_t)row * C;
#pragma unroll
    for (int i = 0; i < PER; i++) {
        int c = lane + 32 * i;
        if (c < C) o[c] = (v[i] - m) * r * w[c] + b[c];
    }
    if (lane == 0) {
        if (mean) mean[row] = m;
        if (rstd) rstd[row] = r;
    }
}

int cuda_layernorm_forward(float *d_out, float *d_mean, float *d_rstd, const float *d_inp,
                           const float *d_w, const float *d_b, int T, int C, float eps) {
    CU_REQUIRE(T >= 0 && C > 0, "bad sizes T=%d C=%d", T, C);
    if (T == 0) return 0;
    const unsigned grid = cu_blocks(T, 8);
    if (C <= 32 * 8)
        layernorm_reg_kernel<8><<<grid, 256>>>(d_out, d_mean, d_rstd, d_inp, d_w, d_b, T, C, eps);
    else if (C <= 32 * 24) /* GPT-2 small: 768 */
        layernorm_reg_kernel<24><<<grid, 256>>>(d_out, d_mean, d_rstd, d_inp, d_w, d_b, T, C, eps);
    else if (C <= 32 * 32) /* medium: 1024 */
        layernorm_reg_kernel<32><<<grid, 256>>>(d_out, d_mean, d_rstd, d_inp, d_w, d_b, T, C, eps);
    else if (C <= 32 * 64) /* large 1280, XL 1600 */
        layernorm_reg_kernel<64><<<grid, 256>>>(d_out, d_mean, d_rstd, d_inp, d_w, d_b, T, C, eps);
    else
        layernorm_kernel<<<grid, 256>>>(d_out, d_mean, d_rstd, d_inp, d_w, d_b, T, C, eps);
    CU_LAUNCHED();
    return 0;
}

/* ----------------------------------------------------------- attention */
/* Flash-style causal attention for head size 64.
 * Grid (ceil(T/32), NH); block 256 threads = 8 warps; the block owns 32
 * query rows of one head, warp w the rows w, w+8, w+16, w+24. Keys and values
 * stream through shared memory 32 at a time; lane j scores key j of the tile
 * against the warp's current row, the softmax is kept online (running max m,
 * running sum l, rescaled accumulators), and each lane accumulates output
 * dimensions lane and lane+32. Tiles run up to the block's last row only
 * (causal), so the (NH, T, T) scores never exist. */
#define ATT_QT 32
#define ATT_KT 32
#define ATT_HS 64

__global__ __launch_bounds__(256) void attention_kernel(float *out, const float *qkv, int T, int C,
                                                        float scale) {
    __shared__ float Qs[ATT_QT][ATT_HS];     /* read by broadcast */
    __shared__ float Ks[ATT_KT][ATT_HS + 1]; /* lane j reads row j: +1 pad, no bank conflicts */
    __shared__ float Vs[ATT_KT][ATT_HS];     /* lane reads column lane */
    const int h = blockIdx.y;
    /* the heaviest (last) query tiles first, so the causal imbalance evens out */
    const int q0 = (gridDim.x - 1 - blockIdx.x) * ATT_QT;
    const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
    const size_t C3 = (size_t)3 * C;
    const int qoff = h * ATT_HS, koff = C + h * ATT_HS, voff = 2 * C + h * ATT_HS;

    for (int i = tid; i < ATT_QT * ATT_HS; i += 256) {
        int r = i / ATT_HS, c = i % ATT_HS, t = q0 + r;
        Qs[r][c] = t < T ? qkv[(size_t)t * C3 + qoff + c] * scale : 0.0f;
    }
    float m[4], l[4], acc0[4], acc1[4];
#pragma unroll
    for (int rr = 0; rr < 4; rr++) m[rr] = -INFINITY, l[rr] = 0.0f, acc0[rr] = 0.0f, acc1[rr] = 0.0f;

    const int last_q = min(q0 + ATT_QT, T) - 1; /* >= q0 because q0 < T */
    const int ntiles = last_q / ATT_KT + 1;
    for (int kt = 0; kt < ntiles; kt++) {
        const int k0 = kt * ATT_KT;
        __syncthreads(); /* Qs written (first pass); previous K/V tile no longer read */
        for (int i = tid; i < ATT_KT * ATT_HS; i += 256) {
            int r = i / ATT_HS, c = i % ATT_HS, t = k0 + r;
            bool ok = t < T;
            Ks[r][c] = ok ? qkv[(size_t)t * C3 + koff + c] : 0.0f;
            Vs[r][c] = ok ? qkv[(size_t)t * C3 + voff + c] : 0.0f;
        }
        __syncthreads();
#pragma unroll
        for (int rr = 0; rr < 4; rr++) {
            const int r = warp + 8 * rr, t = q0 + r, j = k0 + lane;
            float s = 0.0f;
#pragma unroll 16
            for (int c = 0; c < ATT_HS; c++) s = fmaf(Qs[r][c], Ks[lane][c], s);
            const bool valid = j <= t && j < T;
            s = valid ? s : -INFINITY;
            const float m_new = fmaxf(m[rr], warp_max(s));
            /* a row sees key 0 in tile 0, so m_new is finite for every real row;
             * the guards keep rows past T (never written) free of NaN anyway */
            const float p = valid ? expf(s - m_new) : 0.0f;
            const float corr = m[rr] == -INFINITY ? 0.0f : expf(m[rr] - m_new);
            l[rr] = l[rr] * corr + warp_sum(p);
            float a0 = acc0[rr] * corr, a1 = acc1[rr] * corr;
#pragma unroll 8
            for (int jj = 0; jj < ATT_KT; jj++) {
                float pj = __shfl_sync(FULL_MASK, p, jj);
                a0 = fmaf(pj, Vs[jj][lane], a0);
                a1 = fmaf(pj, Vs[jj][lane + 32], a1);
            }
            acc0[rr] = a0, acc1[rr] = a1, m[rr] = m_new;
        }
    }
#pragma unroll
    for (int rr = 0; rr < 4; rr++) {
        const int t = q0 + warp + 8 * rr;
        if (t < T) {
            const float inv = 1.0f / l[rr];
            out[(size_t)t * C + qoff + lane] = acc0[rr] * inv;
            out[(size_t)t * C + qoff + lane + 32] = acc1[rr] * inv;
        }
    }
}

int cuda_attention_forward(float *d_out, const float *d_qkv, int T, int C, int NH) {
    CU_REQUIRE(T >= 0 && NH > 0 && C > 0 && C % NH == 0, "bad sizes T=%d C=%d NH=%d", T, C, NH);
    CU_REQUIRE(C / NH == ATT_HS, "head size %d: only %d is implemented (every GPT-2 size)",
               C / NH, ATT_HS);
    if (T == 0) return 0;
    dim3 grid(cu_blocks(T, ATT_QT), NH);
    CU_REQUIRE(grid.x <= 65535u * 32u && NH <= 65535, "too many tokens or heads");
    attention_kernel<<<grid, 256>>>(d_out, d_qkv, T, C, 1.0f / sqrtf((float)ATT_HS));
    CU_LAUNCHED();
    return 0;
}

/* ---------------------------------------------------------- gelu, add */
#define GELU_SCALING_FACTOR 0.7978845608028654f /* sqrt(2 / pi) */

__global__ void gelu_kernel(float *out, const float *inp, long N) {
    long stride = (long)gridDim.x * blockDim.x;
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < N; i += stride) {
        float x = inp[i];
        float cube = 0.044715f * x * x * x;
        out[i] = 0.5f * x * (1.0f + tanhf(GELU_SCALING_FACTOR * (x + cube)));
    }
}

int cuda_gelu_forward(float *d_out, const float *d_inp, long N) {
    CU_REQUIRE(N >= 0, "bad size N=%ld", N);
    if (N == 0) return 0;
    unsigned blocks = cu_blocks(N, cu_block_size);
    if (blocks > 65536) blocks = 65536;
    gelu_kernel<<<blocks, cu_block_size>>>(d_out, d_inp, N);
    CU_LAUNCHED();
    return 0;
}

__global__ void residual_kernel(float *out, const float *a, const float *b, long N) {
    long stride = (long)gridDim.x * blockDim.x;
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < N; i += stride) out[i] = a[i] + b[i];
}

int cuda_residual_forward(float *d_out, const float *d_a, const float *d_b, long N) {
    CU_REQUIRE(N >= 0, "bad size N=%ld", N);
    if (N == 0) return 0;
    unsigned blocks = cu_blocks(N, cu_block_size);
    if (blocks > 65536) blocks = 65536;
    residual_kernel<<<blocks, cu_block_size>>>(d_out, d_a, d_b, N);
    CU_LAUNCHED();
    return 0;
}
