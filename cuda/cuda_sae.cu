/*
 * cuda/cuda_sae.cu - the seed's sparse autoencoder trained on the GPU
 * (sae/sae.h's model; sae/sae_ref.c is the CPU reference it is tested against).
 *
 * Shapes: X (T, d) rows, W (L, d), pre/z/zc/g_z (T, L), Y/g_Y (T, d).
 *
 * Forward
 *   pre = X W^T                                  dense matmul (cuda_gemm)
 *   z   = relu(pre) * (relu(pre) >= thr)         thr: k-th largest per row,
 *                                                radix select (topk_mask_kernel)
 *   Y   = z W = sum over the selected j of z[t,j] W[j,:]    (sparse_decode_kernel)
 * Losses (N = T d, M = T L, Zc = z - mean over tokens, C = Zc^T Zc / (T-1))
 *   mse   = sum (Y - X)^2 / N
 *   spars = sw * sum z / M                       (z >= 0)
 *   decor = dw * (sum_ij C_ij^2 - sum_j C_jj^2)
 *         with sum_ij C_ij^2 = ||K||_F^2 / (T-1)^2, K = Zc Zc^T (T, T) when T < L
 * Backward (by hand)
 *   g_Y = 2 (Y - X) / N
 *   g_z = g_Y W^T                                (only at selected j: sparse)
 *       + sw / M                                 (sign(z) = 1 where z > 0)
 *       + 4 dw / (T-1) * Zc offdiag(C)
 *         = 4 dw / (T-1)^2 * K Zc  -  4 dw / (T-1) * Zc * diag(C)
 *     (from d/dC of sum_{i!=j} C_ij^2 = 2 offdiag(C), through C = Zc^T Zc/(T-1):
 *      d/dZc = Zc (G + G^T) / (T-1); the centering Zc = (I - 11^T/T) z adds
 *      nothing because 1^T Zc = 0 makes the column sums of this term zero)
 *   g_pre = g_z * [z > 0]                        (the mask and the ReLU: z > 0
 *                                                 exactly where both pass)
 *   g_W = z^T g_Y  +  g_pre^T X                  (decoder + encoder, tied weights)
 * Adam as torch (and sae_adam_step): m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 *   W -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps), scalars formed in double.
 * Loss sums are reduced in double, in a fixed order (deterministic).
 */
#include "cuda/cuda_common.cuh"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TOPK_THREADS 256
#define RED_BLOCKS 128
#define DEC_COLS 1024 /* columns of Y per sparse_decode block (256 threads x 4) */
#define GRAD_SPLIT 4  /* blocks per row in sparse_decode_grad_kernel */

struct CUDASAE {
    int d, L, k, max_T;
    double lr, beta1, beta2, eps; /* as SAEParams holds them */
    float sw, dw;
    int sparse;
    CUDAMatmulKind kind;
    long step;
    float *W, *m, *v, *gW;   /* (L, d) each */
    float *pre;              /* (max_T, L) X W^T, then Zc */
    float *z, *gz;           /* (max_T, L) */
    float *val;              /* (max_T, L) selected values, compacted per row */
    int *idx;                /* (max_T, L) selected indices, ascending per row */
    int *cnt;                /* (max_T) selected per row */
    float *thr;              /* (max_T) */
    float *Y, *gY;           /* (max_T, d) */
    float *diag;             /* (L) C_jj */
    float *K;                /* (min(max_T, L)^2) Gram K (T, T), or covariance (L, L) */
    double *partials;        /* (4, RED_BLOCKS) */
    float *losses;           /* (4) scratch for steps given no d_losses */
    int *bad;                /* (1) set once a loss was non-finite: no more updates */
    size_t topk_smem, grad_smem;
};

/* ---------------------------------------------------------------- kernels */

/* One block per row t. The row's max(pre, 0) goes to shared memory as bit
 * patterns: for floats >= +0 the unsigned order is the float order (a -0 or
 * NaN is stored as +0). block_radix_select (cuda_common.cuh) finds the
 * k-th largest of them, duplicates counted, like torch.topk(...)[0][:, -1].
 * Then z = v where v >= thr (ties all kept, as the seed's mask), and the
 * positive kept entries are compacted in index order into idx/val.
 * Outputs other than thr_out may be NULL. */
__global__ __launch_bounds__(TOPK_THREADS) void topk_mask_kernel(float *z, float *thr_out, int *idx,
                                                                 float *val, int *cnt,
                                                                 const float *pre, int L, int k) {
    extern __shared__ unsigned bits[]; /* (L) */
    __shared__ unsigned hist[256];
    __shared__ int counts[TOPK_THREADS];
    __shared__ unsigned s_prefix;
    __shared__ int s_k;
    const int t = blockIdx.x, tid = threadIdx.x;
    const float *row = pre + (size_t)t * L;
    for (int j = tid; j < L; j += TOPK_THREADS) {
        float v = row[j];
        bits[j] = __float_as_uint(v > 0.0f ? v : 0.0f);
    }
    if (tid == 0) s_prefix = 0u, s_k = k;
    block_radix_select(hist, &s_prefix, &s_k, L, [&](int j, unsigned *key) {
        *key = bits[j];
        return true;
    });
    const float th = __uint_as_float(s_prefix);
    if (tid == 0 && thr_out) thr_out[t] = th;
    if (z) {
        float *zr = z + (size_t)t * L;
        for (int j = tid; j < L; j += TOPK_THREADS) {
            float v = __uint_as_float(bits[j]);
            zr[j] = v >= th ? v : 0.0f;
        }
    }
    if (!idx) return; /* uniform across the block: no barrier is skipped by some only */
    /* compaction: thread tid owns the contiguous chunk [j0, j1) */
    const int per = (L + TOPK_THREADS - 1) / TOPK_THREADS;
    const int j0 = min(tid * per, L), j1 = min(j0 + per, L);
    int c = 0;
    for (int j = j0; j < j1; j++) {
        float v = __uint_as_float(bits[j]);
        c += (v >= th && v > 0.0f);
    }
    counts[tid] = c;
    __syncthreads();
    if (tid == 0) { /* exclusive scan, 256 entries */
        int run = 0;
        for (int i = 0; i < TOPK_THREADS; i++) {
            int x = counts[i];
            counts[i] = run;
            run += x;
        }
        cnt[t] = run;
    }
    __syncthreads();
    int o = counts[tid];
    int *ir = idx + (size_t)t * L;
    float *vr = val + (size_t)t * L;
    for (int j = j0; j < j1; j++) {
        float v = __uint_as_float(bits[j]);
        if (v >= th && v > 0.0f) ir[o] = j, vr[o] = v, o++;
    }
}

/* Y[t, n] = sum_{s < cnt[t]} val[t,s] W[idx[t,s], n]. Grid (T, ceil(d/1024)),
 * 256 threads, columns n0 + tid + 256 q (q < 4): every W row read is
 * coalesced across the block. The (idx, val) list is staged in shared memory
 * 256 at a time; cnt[t] is the same for the whole block, so the barriers in
 * the loop are reached by every thread. */
__global__ __launch_bounds__(256) void sparse_decode_kernel(float *Y, const int *idx, const float *val,
                                                            const int *cnt, const float *W, int L,
                                                            int d) {
    __shared__ int si[256];
    __shared__ float sv[256];
    const int t = blockIdx.x, tid = threadIdx.x, n0 = blockIdx.y * DEC_COLS + tid;
    const int c = cnt[t];
    const int *ir = idx + (size_t)t * L;
    const float *vr = val + (size_t)t * L;
    float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int s0 = 0; s0 < c; s0 += 256) {
        __syncthreads();
        if (s0 + tid < c) si[tid] = ir[s0 + tid], sv[tid] = vr[s0 + tid];
        __syncthreads();
        const int ns = min(256, c - s0);
#pragma unroll 4
        for (int s = 0; s < ns; s++) {
            const float *wr = W + (size_t)si[s] * d;
            const float a = sv[s];
#pragma unroll
            for (int q = 0; q < 4; q++) {
                int n = n0 + 256 * q;
                if (n < d) acc[q] = fmaf(a, wr[n], acc[q]);
            }
        }
    }
#pragma unroll
    for (int q = 0; q < 4; q++) {
        int n = n0 + 256 * q;
        if (n < d) Y[(size_t)t * d + n] = acc[q];
    }
}

/* g_z[t, j] += g_Y[t, :] . W[j, :] for the selected j of row t only (the
 * other entries are masked away later). Grid (T, GRAD_SPLIT), 8 warps each;
 * a warp takes one selected j at a time (the loop bound is warp-uniform, so
 * the shuffle reduction has all lanes). Each (t, j) belongs to exactly one
 * warp (indices in a row are distinct): no two threads write one entry. */
__global__ __launch_bounds__(256) void sparse_decode_grad_kernel(float *gz, const int *idx, const int *cnt,
                                                                 const float *gY, const float *W, int L,
                                                                 int d) {
    extern __shared__ float sg[]; /* (d) this row of g_Y */
    const int t = blockIdx.x, tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
    for (int n = tid; n < d; n += 256) sg[n] = gY[(size_t)t * d + n];
    __syncthreads();
    const int c = cnt[t];
    const int *ir = idx + (size_t)t * L;
    for (int s = blockIdx.y * 8 + warp; s < c; s += 8 * gridDim.y) {
        const int j = ir[s];
        const float *wr = W + (size_t)j * d;
        float acc = 0.0f;
        for (int n = lane; n < d; n += 32) acc = fmaf(sg[n], wr[n], acc);
        acc = warp_sum(acc);
        if (lane == 0) gz[(size_t)t * L + j] += acc;
    }
}

/* Column statistics of z (T, L): Zc = z - mean over the T rows (written into
 * zc) and diag[j] = sum_t Zc^2 / (T-1). Block (32 columns) x (8 row groups):
 * a warp reads 32 consecutive columns of one row (coalesced), each thread
 * walks every 8th row, and the 8 partial sums of a column are added in a
 * fixed order through shared memory (the mean first, then the squares).
 * Grid ceil(L / 32); the blockDim is 256 (asserted by the launch). */
__global__ __launch_bounds__(256) void colstats_kernel(float *zc, float *diag, const float *z, int T, int L) {
    __shared__ float sh[8][33];
    const int tx = threadIdx.x % 32, ty = threadIdx.x / 32, j = blockIdx.x * 32 + tx;
    float s = 0.0f;
    if (j < L)
#pragma unroll 4
        for (int t = ty; t < T; t += 8) s += z[(size_t)t * L + j];
    sh[ty][tx] = s;
    __syncthreads();
    float mean = 0.0f;
    for (int r = 0; r < 8; r++) mean += sh[r][tx];
    mean /= T;
    __syncthreads(); /* everyone has read sh before it is reused */
    float q = 0.0f;
    if (j < L)
#pragma unroll 4
        for (int t = ty; t < T; t += 8) {
            float c = z[(size_t)t * L + j] - mean;
            zc[(size_t)t * L + j] = c;
            q += c * c;
        }
    sh[ty][tx] = q;
    __syncthreads();
    if (ty == 0 && j < L) {
        float d = 0.0f;
        for (int r = 0; r < 8; r++) d += sh[r][tx];
        diag[j] = d / (T - 1);
    }
}

/* g_Y = 2 (Y - X) / N */
__global__ void mse_grad_kernel(float *gY, const float *Y, const float *X, long n, float scale) {
    long stride = (long)gridDim.x * blockDim.x;
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) gY[i] = scale * (Y[i] - X[i]);
}

/* g_pre = [z > 0] * (g_z - c1 * Zc[t,j] * diag[j] + c2) */
__global__ void gz_finish_kernel(float *gz, const float *z, const float *zc, const float *diag, long n, int L,
                                 float c1, float c2) {
    long stride = (long)gridDim.x * blockDim.x;
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        int j = (int)(i % L);
        gz[i] = z[i] > 0.0f ? gz[i] - c1 * zc[i] * diag[j] + c2 : 0.0f;
    }
}

/* partial[b] = this block's share of sum f(a, b): MODE 0 (a-b)^2, 1 a, 2 a^2.
 * Fixed grid (RED_BLOCKS) and a fixed tree: the same sum every run. */
template <int MODE>
__global__ __launch_bounds__(256) void reduce_kernel(double *partial, const float *a, const float *b, long n) {
    __shared__ double sh[256];
    double s = 0.0;
#pragma unroll 4
    for (long i = (long)blockIdx.x * 256 + threadIdx.x; i < n; i += (long)RED_BLOCKS * 256) {
        double x = a[i];
        if (MODE == 0) x -= b[i];
        s += MODE == 1 ? x : x * x;
    }
    sh[threadIdx.x] = s;
    __syncthreads();
    for (int o = 128; o > 0; o >>= 1) {
        if (threadIdx.x < o) sh[threadIdx.x] += sh[threadIdx.x + o];
        __syncthreads();
    }
    if (threadIdx.x == 0) partial[blockIdx.x] = sh[0];
}

/* losses (4) = total, mse, sparsity, decor from the partial sums; the first
 * non-finite total sets *bad = tag (the epoch, 1-based) and it stays set.
 * acc (4 doubles), if given, gets weight * losses added (per-epoch means
 * over batches). One block of RED_BLOCKS threads: thread b loads partial b
 * of each sum, then a fixed tree adds them (a single thread walking the 512
 * partials would wait on each load in turn). */
__global__ __launch_bounds__(RED_BLOCKS) void loss_finish_kernel(float *losses, int *bad, int tag, double *acc,
                                                                 double weight, const double *partials,
                                                                 double s_mse, double s_sp, double s_f,
                                                                 double dw) {
    __shared__ double sh[4][RED_BLOCKS];
    const int b = threadIdx.x;
    for (int q = 0; q < 4; q++) sh[q][b] = partials[q * RED_BLOCKS + b];
    __syncthreads();
    for (int o = RED_BLOCKS / 2; o > 0; o >>= 1) {
        if (b < o)
            for (int q = 0; q < 4; q++) sh[q][b] += sh[q][b + o];
        __syncthreads();
    }
    if (b != 0) return;
    double mse = sh[0][0] * s_mse, sp = sh[1][0] * s_sp, decor = dw * (sh[2][0] * s_f - sh[3][0]);
    double total = mse + sp + decor;
    losses[0] = (float)total, losses[1] = (float)mse, losses[2] = (float)sp, losses[3] = (float)decor;
    if (!isfinite(total) && !*bad) *bad = tag;
    if (acc && !*bad) acc[0] += weight * total, acc[1] += weight * mse, acc[2] += weight * sp, acc[3] += weight * decor;
}

/* *bad for an update that made a weight non-finite: the step's tag | BAD_UPDATE
 * (a non-finite loss sets the tag alone). */
#define BAD_UPDATE 0x40000000

/* Adam, skipped entirely once *bad is raised (the weights stay those before
 * the step that went non-finite). A weight whose update is not finite keeps
 * its old value and raises *bad = tag | BAD_UPDATE (as sae_train stops when
 * an update makes the weights non-finite): without this, a NaN weight row
 * would never be noticed, since the radix select reads NaN as 0 and the
 * sparse decoder reads only selected rows. */
__global__ void adam_kernel(float *W, float *m, float *v, const float *g, long n, float b1, float b2, float c1,
                            float c2, float eps, float step_size, float bc2_sqrt, int *bad, int tag) {
    if (*bad) return;
    long stride = (long)gridDim.x * blockDim.x;
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        float gi = g[i];
        float mi = m[i] * b1 + gi * c1;
        float vi = v[i] * b2 + gi * gi * c2;
        m[i] = mi, v[i] = vi;
        float w = W[i] - step_size * (mi / (sqrtf(vi) / bc2_sqrt + eps));
        if (isfinite(w)) W[i] = w;
        else atomicCAS(bad, 0, tag | BAD_UPDATE);
    }
}

/* dst = src unless *bad (the snapshot keeps the last weights with a finite loss). */
__global__ void copy_unless_bad_kernel(float *dst, const float *src, long n, const int *bad) {
    if (*bad) return;
    long stride = (long)gridDim.x * blockDim.x;
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) dst[i] = src[i];
}

/* rows[i] = X[perm[i]], (B, d) gathered for a minibatch */
__global__ void gather_rows_kernel(float *rows, const float *X, const int *perm, int B, int d) {
    long n = (long)B * d, stride = (long)gridDim.x * blockDim.x;
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride)
        rows[i] = X[(size_t)perm[i / d] * d + i % d];
}

/* Allow `bytes` of dynamic shared memory for fn. Only ever raised (a lower
 * limit would break launches sized for an earlier, larger setting); below
 * 44 KB the default (48 KB minus the static arrays) already allows it. */
static int allow_smem(const void *fn, size_t bytes, int *current) {
    if (bytes <= 44 * 1024 || (int)bytes <= *current) return 0;
    CU_TRY(cudaFuncSetAttribute(fn, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes));
    *current = (int)bytes;
    return 0;
}
static int topk_smem_set, grad_smem_set;

/* ----------------------------------------------------------------- host */

void cuda_sae_free(CUDASAE *s) {
    if (!s) return;
    void *bufs[] = {s->W, s->m, s->v, s->gW, s->pre, s->z, s->gz, s->val, s->idx, s->cnt, s->thr,
                    s->Y, s->gY, s->diag, s->K, s->partials, s->losses, s->bad};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) cuda_free(bufs[i]);
    free(s);
}

void cuda_sae_set_options(CUDASAE *s, int sparse_decoder, CUDAMatmulKind kind) {
    s->sparse = sparse_decoder ? 1 : 0;
    s->kind = kind;
}

int cuda_sae_init(CUDASAE **out, const SAE *sae, const SAEParams *p, int max_T) {
    *out = NULL;
    CU_REQUIRE(sae && sae->W && sae->d >= 1 && sae->L >= 1 && sae->k >= 1 && sae->k <= sae->L,
               "the SAE is not initialised (d=%d L=%d k=%d)", sae ? sae->d : 0, sae ? sae->L : 0,
               sae ? sae->k : 0);
    CU_REQUIRE(max_T >= 2, "max_T=%d: the covariance needs at least 2 rows", max_T);
    CU_REQUIRE(p->lr > 0 && p->beta1 >= 0 && p->beta1 < 1 && p->beta2 >= 0 && p->beta2 < 1 && p->eps > 0,
               "Adam settings out of range (lr %g, betas %g %g, eps %g)", p->lr, p->beta1, p->beta2, p->eps);
    if (!cuda_available()) return err_set("cuda_sae_init: no CUDA device (use --device cpu)");
    const size_t d = sae->d, L = sae->L, T = max_T, KT = T < L ? T : L;
    int dev = 0, optin = 0;
    CU_TRY(cudaGetDevice(&dev));
    CU_TRY(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
    size_t topk_smem = L * sizeof(unsigned), grad_smem = d * sizeof(float);
    CU_REQUIRE(topk_smem + 4096 <= (size_t)optin, "L=%zu latents: a row does not fit in shared memory (%d B)", L,
               optin);
    CU_REQUIRE(grad_smem <= (size_t)optin, "d=%zu: a row does not fit in shared memory (%d B)", d, optin);
    if (allow_smem((const void *)topk_mask_kernel, topk_smem, &topk_smem_set) ||
        allow_smem((const void *)sparse_decode_grad_kernel, grad_smem, &grad_smem_set))
        return err_prefix("cuda_sae_init");

    CUDASAE *s = (CUDASAE *)xcalloc(1, sizeof *s);
    s->d = sae->d, s->L = sae->L, s->k = sae->k, s->max_T = max_T;
    s->lr = p->lr, s->beta1 = p->beta1, s->beta2 = p->beta2, s->eps = p->eps;
    s->sw = p->sparsity_weight, s->dw = p->decor_weight;
    s->sparse = 1, s->kind = CUDA_MATMUL_FP32;
    s->topk_smem = topk_smem, s->grad_smem = grad_smem;
    CU_ALLOC(s->W, L * d * 4);
    CU_ALLOC(s->m, L * d * 4);
    CU_ALLOC(s->v, L * d * 4);
    CU_ALLOC(s->gW, L * d * 4);
    CU_ALLOC(s->pre, T * L * 4);
    CU_ALLOC(s->z, T * L * 4);
    CU_ALLOC(s->gz, T * L * 4);
    CU_ALLOC(s->val, T * L * 4);
    CU_ALLOC(s->idx, T * L * 4);
    CU_ALLOC(s->cnt, T * 4);
    CU_ALLOC(s->thr, T * 4);
    CU_ALLOC(s->Y, T * d * 4);
    CU_ALLOC(s->gY, T * d * 4);
    CU_ALLOC(s->diag, L * 4);
    CU_ALLOC(s->K, KT * KT * 4);
    CU_ALLOC(s->partials, 4 * RED_BLOCKS * sizeof(double));
    CU_ALLOC(s->losses, 4 * 4);
    CU_ALLOC(s->bad, 4);
    if (cuda_upload(s->W, sae->W, L * d * 4) || cuda_memset(s->m, 0, L * d * 4) ||
        cuda_memset(s->v, 0, L * d * 4) || cuda_memset(s->bad, 0, 4))
        goto fail;
    *out = s;
    return 0;
fail:
    err_prefix("cuda_sae_init");
    cuda_sae_free(s);
    return -1;
}

/* Forward to z (and idx/val/cnt): pre = X W^T, then top-k mask. */
static int sae_encode_dev(CUDASAE *s, const float *d_X, int T) {
    const int d = s->d, L = s->L;
    if (cuda_gemm(0, 1, T, L, d, 1.0f, d_X, d, s->W, d, 0.0f, s->pre, L, NULL, s->kind)) return -1;
    topk_mask_kernel<<<T, TOPK_THREADS, s->topk_smem>>>(s->z, s->thr, s->idx, s->val, s->cnt, s->pre, L, s->k);
    CU_LAUNCHED();
    return 0;
}

static int sae_decode_dev(CUDASAE *s, int T) {
    const int d = s->d, L = s->L;
    if (s->sparse) {
        dim3 grid(T, cu_blocks(d, DEC_COLS));
        sparse_decode_kernel<<<grid, 256>>>(s->Y, s->idx, s->val, s->cnt, s->W, L, d);
        CU_LAUNCHED();
        return 0;
    }
    return cuda_gemm(0, 0, T, d, L, 1.0f, s->z, L, s->W, d, 0.0f, s->Y, d, NULL, s->kind);
}

/* Forward, losses and g_W (in s->gW); losses (4) to d_losses. */
static int sae_loss_grad_dev(CUDASAE *s, const float *d_X, int T, float *d_losses, int tag, double *d_acc,
                             double weight) {
    const int d = s->d, L = s->L;
    const long N = (long)T * d, M = (long)T * L;
    const float dw = s->dw, sw = s->sw;
    if (sae_encode_dev(s, d_X, T) || sae_decode_dev(s, T)) return -1;
    /* column statistics: Zc into s->pre (X W^T is no longer needed), diag(C) */
    float *zc = s->pre;
    colstats_kernel<<<cu_blocks(L, 32), 256>>>(zc, s->diag, s->z, T, L);
    CU_LAUNCHED();
    /* g_Y and the MSE */
    mse_grad_kernel<<<cu_grid(N), 256>>>(s->gY, s->Y, d_X, N, 2.0f / (float)N);
    CU_LAUNCHED();
    reduce_kernel<0><<<RED_BLOCKS, 256>>>(s->partials, s->Y, d_X, N);
    CU_LAUNCHED();
    /* decorrelation: g_z = 4dw/(T-1)^2 K Zc  (T < L: Gram)  or  4dw/(T-1) Zc C  (C = Zc^T Zc/(T-1)) */
    const float tm1 = (float)(T - 1);
    double s_f;
    long nK;
    if (T < L) {
        if (cuda_gemm(0, 1, T, T, L, 1.0f, zc, L, zc, L, 0.0f, s->K, T, NULL, s->kind)) return -1;
        if (cuda_gemm(0, 0, T, L, T, 4.0f * dw / (tm1 * tm1), s->K, T, zc, L, 0.0f, s->gz, L, NULL, s->kind))
            return -1;
        s_f = 1.0 / ((double)tm1 * tm1), nK = (long)T * T;
    } else {
        if (cuda_gemm(1, 0, L, L, T, 1.0f / tm1, zc, L, zc, L, 0.0f, s->K, L, NULL, s->kind)) return -1;
        if (cuda_gemm(0, 0, T, L, L, 4.0f * dw / tm1, zc, L, s->K, L, 0.0f, s->gz, L, NULL, s->kind)) return -1;
        s_f = 1.0, nK = (long)L * L;
    }
    /* decoder path: g_z += g_Y W^T (at the selected entries; the rest is masked next) */
    if (s->sparse) {
        dim3 grid(T, GRAD_SPLIT);
        sparse_decode_grad_kernel<<<grid, 256, s->grad_smem>>>(s->gz, s->idx, s->cnt, s->gY, s->W, L, d);
        CU_LAUNCHED();
    } else if (cuda_gemm(0, 1, T, L, d, 1.0f, s->gY, d, s->W, d, 1.0f, s->gz, L, NULL, s->kind)) {
        return -1;
    }
    /* sparsity term, the diagonal part of the decorrelation term, and the mask */
    gz_finish_kernel<<<cu_grid(M), 256>>>(s->gz, s->z, zc, s->diag, M, L, 4.0f * dw / tm1, sw / (float)M);
    CU_LAUNCHED();
    /* g_W = z^T g_Y + g_pre^T X */
    if (cuda_gemm(1, 0, L, d, T, 1.0f, s->z, L, s->gY, d, 0.0f, s->gW, d, NULL, s->kind)) return -1;
    if (cuda_gemm(1, 0, L, d, T, 1.0f, s->gz, L, d_X, d, 1.0f, s->gW, d, NULL, s->kind)) return -1;
    /* the other loss sums */
    reduce_kernel<1><<<RED_BLOCKS, 256>>>(s->partials + RED_BLOCKS, s->z, NULL, M);
    CU_LAUNCHED();
    reduce_kernel<2><<<RED_BLOCKS, 256>>>(s->partials + 2 * RED_BLOCKS, s->K, NULL, nK);
    CU_LAUNCHED();
    reduce_kernel<2><<<RED_BLOCKS, 256>>>(s->partials + 3 * RED_BLOCKS, s->diag, NULL, L);
    CU_LAUNCHED();
    loss_finish_kernel<<<1, RED_BLOCKS>>>(d_losses ? d_losses : s->losses, s->bad, tag, d_acc, weight, s->partials,
                                  1.0 / N, (double)sw / M, s_f, dw);
    CU_LAUNCHED();
    return 0;
}

static int check_T(const CUDASAE *s, int T) {
    if (T < 2 || T > s->max_T)
        return err_set("%d rows: need 2 <= T <= %d (max_T given to cuda_sae_init)", T, s->max_T);
    return 0;
}

int cuda_sae_loss_grad(CUDASAE *s, const float *d_X, int T, float *g_W, float *Z, SAELosses *out) {
    if (check_T(s, T)) return err_prefix("cuda_sae_loss_grad");
    /* the failure flag is not reset: a failed step stops every later one (cuda.h) */
    if (sae_loss_grad_dev(s, d_X, T, s->losses, 1, NULL, 0.0)) goto fail;
    {
        float l[4];
        if (cuda_download(l, s->losses, sizeof l)) goto fail;
        if (out) out->total = l[0], out->mse = l[1], out->sparsity = l[2], out->decor = l[3];
    }
    if (g_W && cuda_download(g_W, s->gW, (size_t)s->L * s->d * 4)) goto fail;
    if (Z && cuda_download(Z, s->z, (size_t)T * s->L * 4)) goto fail;
    return 0;
fail:
    return err_prefix("cuda_sae_loss_grad");
}

static int adam_dev(CUDASAE *s, int tag) {
    s->step++;
    const double bc1 = 1.0 - pow((double)s->beta1, (double)s->step);
    const double bc2 = 1.0 - pow((double)s->beta2, (double)s->step);
    const long n = (long)s->L * s->d;
    adam_kernel<<<cu_grid(n), 256>>>(s->W, s->m, s->v, s->gW, n, (float)s->beta1, (float)s->beta2,
                                     (float)(1.0 - s->beta1), (float)(1.0 - s->beta2), (float)s->eps,
                                     (float)(s->lr / bc1), (float)sqrt(bc2), s->bad, tag);
    CU_LAUNCHED();
    return 0;
}

int cuda_sae_step(CUDASAE *s, const float *d_X, int T, float *d_losses) {
    if (check_T(s, T) || sae_loss_grad_dev(s, d_X, T, d_losses, 1, NULL, 0.0) || adam_dev(s, 1))
        return err_prefix("cuda_sae_step");
    return 0;
}

/* The tag of the first non-finite step (0: none; -1 if it cannot be read). */
static int failed_tag(CUDASAE *s) {
    int bad = 0;
    if (cuda_download(&bad, s->bad, sizeof bad) != 0) return -1;
    return bad;
}

int cuda_sae_failed(CUDASAE *s) { return failed_tag(s) != 0; }

int cuda_sae_download(const CUDASAE *s, SAE *sae) {
    if (sae->d != s->d || sae->L != s->L || !sae->W)
        return err_set("cuda_sae_download: SAE shapes differ (d %d/%d, L %d/%d)", sae->d, s->d, sae->L, s->L);
    if (cuda_download(sae->W, s->W, (size_t)s->L * s->d * 4)) return err_prefix("cuda_sae_download");
    return 0;
}

int cuda_sae_encode(CUDASAE *s, const float *d_X, int T, float *Z, float *Y) {
    if (T < 1 || T > s->max_T) return err_set("cuda_sae_encode: T=%d: need 1 <= T <= %d", T, s->max_T);
    if (sae_encode_dev(s, d_X, T) || (Y && sae_decode_dev(s, T))) return err_prefix("cuda_sae_encode");
    if (Z && cuda_download(Z, s->z, (size_t)T * s->L * 4)) return err_prefix("cuda_sae_encode");
    if (Y && cuda_download(Y, s->Y, (size_t)T * s->d * 4)) return err_prefix("cuda_sae_encode");
    return 0;
}

int cuda_topk_threshold(float *d_thresh, const float *d_x, int T, int L, int k) {
    CU_REQUIRE(T >= 0 && L >= 1 && k >= 1 && k <= L, "bad sizes T=%d L=%d k=%d", T, L, k);
    if (T == 0) return 0;
    int dev = 0, optin = 0;
    CU_TRY(cudaGetDevice(&dev));
    CU_TRY(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
    size_t smem = (size_t)L * sizeof(unsigned);
    CU_REQUIRE(smem + 4096 <= (size_t)optin, "L=%d: a row does not fit in shared memory", L);
    if (allow_smem((const void *)topk_mask_kernel, smem, &topk_smem_set)) return err_prefix("cuda_topk_threshold");
    topk_mask_kernel<<<T, TOPK_THREADS, smem>>>(NULL, d_thresh, NULL, NULL, NULL, d_x, L, k);
    CU_LAUNCHED();
    return 0;
}

/* ------------------------------------------------------------ sae_train */

/* Keep the weights about to be updated (the last ones with a finite loss)
 * unless a loss already went bad: 2 x L d x 4 bytes per step. */
static int snapshot(CUDASAE *s, float *d_snap) {
    const long n = (long)s->L * s->d;
    copy_unless_bad_kernel<<<cu_grid(n), 256>>>(d_snap, s->W, n, s->bad);
    CU_LAUNCHED();
    return 0;
}

int cuda_sae_train(SAE *sae, const float *X, const float *d_X_in, long T, const SAEParams *p, SAEResult *res) {
    memset(res, 0, sizeof *res);
    CU_REQUIRE(X != NULL || d_X_in != NULL, "no activations given (X and d_X are NULL)");
    CU_REQUIRE(T >= 2, "%ld tokens: the covariance needs at least 2", T);
    CU_REQUIRE(p->epochs >= 1, "epochs=%d: need at least 1", p->epochs);
    CU_REQUIRE(T <= 0x7fffffffL, "%ld tokens: too many for one run", T);
    const int d = sae->d, L = sae->L, epochs = p->epochs;
    const int full = p->batch <= 0 || p->batch >= T;
    const int B = full ? (int)T : p->batch;
    /* sae_train's batch rule (sae/sae.c), with its messages: 2 <= B <= Bmax */
    const long Bmax = ((1L << 31) - 1) / L < SAE_MAX_BATCH ? ((1L << 31) - 1) / L : SAE_MAX_BATCH;
    CU_REQUIRE(B >= 2, "SAE: batch of %d token(s); use --batch >= 2 (the covariance needs two tokens)", B);
    CU_REQUIRE(B <= Bmax || !full, "SAE: %ld tokens are too many for one full batch; use --batch <= %ld (shuffled "
               "minibatches)", T, Bmax);
    CU_REQUIRE(B <= Bmax, "SAE: a batch of %d tokens is too large; use --batch <= %ld", B, Bmax);
    const long nW = (long)L * d;
    CUDASAE *s = NULL;
    float *d_Xown = NULL, *d_rows = NULL, *d_snap = NULL, *d_step = NULL;
    double *d_acc = NULL;
    int *d_perm = NULL, *perm = NULL, rc = -1;
    double *acc_host = NULL;
    SAEBatches bt = {};
    res->losses = (SAELosses *)xcalloc((size_t)epochs, sizeof(SAELosses));
    res->epochs = epochs;
    res->T = T;
    if (X) {
        if (sae_check_input(X, T, d)) goto done; /* the CPU trainer's check */
        if (!d_X_in &&
            (cuda_malloc((void **)&d_Xown, (size_t)T * d * 4) || cuda_upload(d_Xown, X, (size_t)T * d * 4)))
            goto done;
    }
    {
        const float *d_X = d_X_in ? d_X_in : d_Xown;
        if (cuda_sae_init(&s, sae, p, B)) goto done;
        if (cuda_malloc((void **)&d_acc, (size_t)epochs * 4 * sizeof(double)) ||
            cuda_memset(d_acc, 0, (size_t)epochs * 4 * sizeof(double)) || cuda_malloc((void **)&d_step, 16))
            goto done;
        if (cuda_malloc((void **)&d_snap, (size_t)nW * 4) || cuda_copy(d_snap, s->W, (size_t)nW * 4)) goto done;
        if (!full) {
            if (cuda_malloc((void **)&d_rows, (size_t)B * d * 4) || cuda_malloc((void **)&d_perm, (size_t)T * 4))
                goto done;
            perm = (int *)xmalloc((size_t)T * sizeof(int));
        }
        if (sae_batches_init(&bt, T, p)) goto done; /* the CPU trainer's batches and shuffle */
        const long seen = bt.seen; /* rows that count in an epoch's mean */
        acc_host = (double *)xmalloc((size_t)epochs * 4 * sizeof(double));
        for (int e = 0; e < epochs; e++) {
            double *acc_e = d_acc + (size_t)e * 4;
            if (full) {
                if (sae_loss_grad_dev(s, d_X, (int)T, d_step, e + 1, acc_e, 1.0) || snapshot(s, d_snap) ||
                    adam_dev(s, e + 1))
                    goto done;
            } else {
                sae_batches_shuffle(&bt);
                for (long i = 0; i < T; i++) perm[i] = (int)bt.perm[i];
                if (cuda_upload(d_perm, perm, (size_t)T * 4)) goto done; /* once per epoch */
                for (long b0 = 0; b0 < T; b0 += B) {
                    int Tb = (int)(T - b0 < B ? T - b0 : B);
                    if (Tb < 2) break; /* a last batch of one token is skipped, as on the CPU */
                    gather_rows_kernel<<<cu_grid((long)Tb * d), 256>>>(d_rows, d_X, d_perm + b0, Tb, d);
                    if (cudaGetLastError() != cudaSuccess) {
                        err_set("gather kernel failed");
                        goto done;
                    }
                    if (sae_loss_grad_dev(s, d_rows, Tb, d_step, e + 1, acc_e, (double)Tb / seen) ||
                        snapshot(s, d_snap) || adam_dev(s, e + 1))
                        goto done;
                }
            }
            /* a failed step stops training: no more epochs are queued (one 4-byte read per epoch) */
            if (failed_tag(s) != 0) break; /* no callback for a failed epoch (reported below) */
            if (p->on_epoch) {
                double a[4];
                if (cuda_download(a, acc_e, sizeof a)) goto done;
                SAELosses l = {a[0], a[1], a[2], a[3]};
                if (p->on_epoch(p->ctx, e + 1, epochs, &l, sae)) {
                    err_prefix("epoch %d", e + 1);
                    goto done;
                }
            }
        }
        if (cuda_download(acc_host, d_acc, (size_t)epochs * 4 * sizeof(double))) goto done;
        const int tag = failed_tag(s); /* the 1-based epoch of the first failure, | BAD_UPDATE for an update */
        if (tag < 0) goto done;
        const int bad = tag & ~BAD_UPDATE, bad_update = (tag & BAD_UPDATE) != 0;
        int done_epochs = epochs;
        if (bad) {
            /* no update was made from the failure on. A non-finite loss: the
             * snapshot holds the weights before the previous update, the last
             * with a finite loss. A non-finite update: the snapshot holds the
             * weights just before it (their loss was finite). Either way the
             * failed epoch is not counted, as in sae_train. */
            done_epochs = bad - 1;
            if (cuda_copy(s->W, d_snap, (size_t)nW * 4)) goto done;
        }
        for (int e = 0; e < done_epochs; e++) {
            double *a = acc_host + (size_t)e * 4;
            res->losses[e].total = a[0], res->losses[e].mse = a[1], res->losses[e].sparsity = a[2],
            res->losses[e].decor = a[3];
        }
        res->epochs_done = done_epochs;
        if (cuda_sae_download(s, sae)) goto done;
        if (p->want_latents) {
            res->latents = (float *)xmalloc((size_t)T * L * sizeof(float));
            for (long t0 = 0; t0 < T; t0 += B) {
                int Tb = (int)(T - t0 < B ? T - t0 : B);
                if (cuda_sae_encode(s, d_X + (size_t)t0 * d, Tb, res->latents + (size_t)t0 * L, NULL)) goto done;
            }
        }
        if (bad && bad_update) {
            err_set("an update in epoch %d made the weights infinite or NaN: training stopped with the last finite "
                    "weights; try a smaller learning rate", bad);
            goto done;
        }
        if (bad) {
            err_set("the loss became NaN or Inf in epoch %d: weights set back to the last ones with a finite "
                    "loss; try a smaller learning rate",
                    done_epochs + 1);
            goto done;
        }
        rc = 0;
    }
done:
    if (rc != 0) err_prefix("cuda_sae_train");
    cuda_sae_free(s);
    cuda_free(d_Xown);
    cuda_free(d_rows);
    cuda_free(d_snap);
    cuda_free(d_step);
    cuda_free(d_acc);
    cuda_free(d_perm);
    free(perm);
    sae_batches_free(&bt);
    free(acc_host);
    return rc;
}

const SAETrainBackend *cuda_sae_backend(void) {
    static const SAETrainBackend backend = {"cuda", cuda_sae_train};
    return &backend;
}
