/*
 * cuda/cuda_matmul.cu - C (M, N) = alpha * op(A) @ op(B) + beta * C (+ bias),
 * core/gemm.h's contract on device memory, in two kernels:
 *
 *  gemm_simt  FP32 FMA, the default (results comparable with the CPU).
 *             256 threads, a BM x BN tile per block (128x128, or 64x64 when
 *             the grid would not fill the GPU), BK = 16. Tiles of op(A) and
 *             op(B) go through shared memory; each thread keeps a (BM/16) x
 *             (BN/16) block of C in registers: rows 4 ty .. 4 ty + 3 (and
 *             the same + 64 for 128-tiles), columns likewise from tx, so it
 *             reads its operands from shared memory as float4 (a warp's 16
 *             tx read 256 contiguous bytes, its 2 ty values are broadcast):
 *             4 FMAs per 4-byte word read, 16 per shared-memory instruction.
 *             The next k-tile is loaded into registers while the current one
 *             is multiplied (register double buffer).
 *  gemm_tf32  tensor cores through wmma (m16n16k8, TF32 inputs, FP32
 *             accumulate): 128 threads, 64x64 tile, BK = 32, each warp a
 *             32x32 quarter as 2x2 fragments. Optional (CUDA_MATMUL_TF32).
 *
 * Both load tiles element by element with the transposes folded into the
 * index, zero-filling past the edges, so every M, N, K (odd ones too) and
 * every leading dimension works; the epilogue checks each element's bounds.
 *
 * Split-K: when the output has fewer 64x64 tiles than the GPU has SMs and
 * K >= 1024 (the SAE's T x T Gram matrix over L = 6144, one token's
 * projections), the K range is cut into S <= 16 slices of whole k-tiles,
 * each slice's product goes to a workspace, and a second kernel adds the
 * slices in a fixed order (deterministic) and applies alpha, beta and bias.
 */
#include "cuda/cuda_common.cuh"

#include <mma.h>

/* Element (m, k) of op(A) and (k, n) of op(B). */
template <bool TA>
__device__ __forceinline__ float load_a(const float *A, int lda, int M, int K, int m, int k) {
    if (m >= M || k >= K) return 0.0f;
    return TA ? A[(size_t)k * lda + m] : A[(size_t)m * lda + k];
}
template <bool TB>
__device__ __forceinline__ float load_b(const float *B, int ldb, int K, int N, int k, int n) {
    if (k >= K || n >= N) return 0.0f;
    return TB ? B[(size_t)n * ldb + k] : B[(size_t)k * ldb + n];
}
/* Tile coordinates of the idx-th element a thread loads: consecutive threads
 * walk the dimension that is contiguous in memory, so loads coalesce. */
template <bool CONTIG_FIRST, int D0, int D1>
__device__ __forceinline__ void tile_coord(int idx, int &i0, int &i1) {
    /* tile is D0 x D1 (i0 < D0, i1 < D1); CONTIG_FIRST: i0 is contiguous in memory */
    if (CONTIG_FIRST) i1 = idx / D0, i0 = idx % D0;
    else i0 = idx / D1, i1 = idx % D1;
}

__device__ __forceinline__ void epilogue_store(float *C, int ldc, int M, int N, int gm, int gn,
                                               float v, float alpha, float beta, const float *bias) {
    if (gm < M && gn < N) {
        float r = alpha * v;
        size_t o = (size_t)gm * ldc + gn;
        if (beta != 0.0f) r += beta * C[o];
        if (bias) r += bias[gn];
        C[o] = r;
    }
}

/* Split-K: slice z = blockIdx.z of the grid multiplies the K range
 * [z kchunk, min(K, (z+1) kchunk)) into its own output C + z zstride (the
 * host sums the slices afterwards, splitk_reduce_kernel). Without a split
 * (gridDim.z 1, kchunk K) nothing changes. The host makes every slice non-empty. */
__device__ __forceinline__ void split_k(int &K, const float *&A, int lda, const float *&B, int ldb, float *&C,
                                        bool TA, bool TB, int kchunk, size_t zstride) {
    const int kb = blockIdx.z * kchunk;
    K = min(K - kb, kchunk);
    A += TA ? (size_t)kb * lda : (size_t)kb;
    B += TB ? (size_t)kb : (size_t)kb * ldb;
    C += blockIdx.z * zstride;
}

/* C = alpha * sum_z P[z] + beta * C + bias, the slices added in order z = 0, 1, ...
 * (deterministic). P (S, M, N) contiguous. */
__global__ void splitk_reduce_kernel(float *C, int ldc, const float *P, int S, int M, int N, float alpha,
                                     float beta, const float *bias) {
    const long n = (long)M * N, stride = (long)gridDim.x * blockDim.x;
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        float s = 0.0f;
        for (int z = 0; z < S; z++) s += P[(size_t)z * n + i];
        const int r = (int)(i / N), c = (int)(i % N);
        float v = alpha * s;
        float *o = C + (size_t)r * ldc + c;
        if (beta != 0.0f) v += beta * *o;
        if (bias) v += bias[c];
        *o = v;
    }
}

/* ------------------------------------------------------------ FP32 SIMT */

/* The tile row (or column) of a thread's i-th accumulator: groups of 4
 * consecutive rows, 64 apart: i = 0..3 -> 4t..4t+3, i = 4..7 -> 64+4t..64+4t+3
 * (t = ty or tx in 0..15), so each group is one 16-byte shared-memory read. */
__device__ __forceinline__ int sub(int i, int t) { return (i / 4) * 64 + t * 4 + (i % 4); }
template <int BM, int BN, bool TA, bool TB>
__global__ __launch_bounds__(256) void gemm_simt(int M, int N, int K, float alpha, const float *A,
                                                 int lda, const float *B, int ldb, float beta,
                                                 float *C, int ldc, const float *bias, int kchunk,
                                                 size_t zstride) {
    constexpr int BK = 16, TM = BM / 16, TN = BN / 16;
    constexpr int LA = BM * BK / 256, LB = BN * BK / 256; /* loads per thread */
    static_assert(BM % 16 == 0 && BN % 16 == 0 && LA * 256 == BM * BK && LB * 256 == BN * BK, "tile");
    /* k-major tiles; rows of BM + 4 floats keep every row 16-byte aligned
     * (float4 reads) and spread the transposing stores over the banks */
    __shared__ __align__(16) float As[BK][BM + 4];
    __shared__ __align__(16) float Bs[BK][BN + 4];
    const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
    const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
    split_k(K, A, lda, B, ldb, C, TA, TB, kchunk, zstride);

    float ra[LA], rb[LB];
    float acc[TM][TN];
#pragma unroll
    for (int i = 0; i < TM; i++)
#pragma unroll
        for (int j = 0; j < TN; j++) acc[i][j] = 0.0f;

    auto load_regs = [&](int k0) {
#pragma unroll
        for (int i = 0; i < LA; i++) {
            int m, k; /* A stored (K, M) when TA: m contiguous */
            tile_coord<TA, BM, BK>(tid + i * 256, m, k);
            ra[i] = load_a<TA>(A, lda, M, K, m0 + m, k0 + k);
        }
#pragma unroll
        for (int i = 0; i < LB; i++) {
            int n, k; /* B stored (N, K) when TB: k contiguous; else n contiguous */
            tile_coord<!TB, BN, BK>(tid + i * 256, n, k);
            rb[i] = load_b<TB>(B, ldb, K, N, k0 + k, n0 + n);
        }
    };
    auto store_smem = [&]() {
#pragma unroll
        for (int i = 0; i < LA; i++) {
            int m, k;
            tile_coord<TA, BM, BK>(tid + i * 256, m, k);
            As[k][m] = ra[i];
        }
#pragma unroll
        for (int i = 0; i < LB; i++) {
            int n, k;
            tile_coord<!TB, BN, BK>(tid + i * 256, n, k);
            Bs[k][n] = rb[i];
        }
    };

    load_regs(0);
    store_smem();
    __syncthreads();
    for (int k0 = 0; k0 < K; k0 += BK) {
        const bool more = k0 + BK < K;
        if (more) load_regs(k0 + BK); /* in flight during the FMAs below */
#pragma unroll
        for (int k = 0; k < BK; k++) {
            float a[TM], b[TN];
#pragma unroll
            for (int i = 0; i < TM; i += 4) {
                float4 v = *reinterpret_cast<const float4 *>(&As[k][sub(i, ty)]);
                a[i] = v.x, a[i + 1] = v.y, a[i + 2] = v.z, a[i + 3] = v.w;
            }
#pragma unroll
            for (int j = 0; j < TN; j += 4) {
                float4 v = *reinterpret_cast<const float4 *>(&Bs[k][sub(j, tx)]);
                b[j] = v.x, b[j + 1] = v.y, b[j + 2] = v.z, b[j + 3] = v.w;
            }
#pragma unroll
            for (int i = 0; i < TM; i++)
#pragma unroll
                for (int j = 0; j < TN; j++) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
        }
        __syncthreads(); /* everyone is done reading this tile */
        if (more) {
            store_smem();
            __syncthreads();
        }
    }
#pragma unroll
    for (int i = 0; i < TM; i++)
#pragma unroll
        for (int j = 0; j < TN; j++)
            epilogue_store(C, ldc, M, N, m0 + sub(i, ty), n0 + sub(j, tx), acc[i][j], alpha, beta, bias);
}

/* ------------------------------------------------------- TF32 tensor core */
template <bool TA, bool TB>
__global__ __launch_bounds__(128) void gemm_tf32(int M, int N, int K, float alpha, const float *A,
                                                 int lda, const float *B, int ldb, float beta,
                                                 float *C, int ldc, const float *bias, int kchunk,
                                                 size_t zstride) {
    using namespace nvcuda;
    constexpr int BM = 64, BN = 64, BK = 32, LDA_S = BK + 8, LDB_S = BN + 8, LDC_S = BN + 8;
    /* wmma pointers must be 32-byte aligned and ldm a multiple of 4 floats:
     * rows start at multiples of 16 (A, C) or 8 (B) and pads are 8 floats. */
    __shared__ __align__(32) float As[BM][LDA_S]; /* (m, k) */
    __shared__ __align__(32) float Bs[BK][LDB_S]; /* (k, n) */
    __shared__ __align__(32) float Cs[BM][LDC_S];
    const int tid = threadIdx.x, warp = tid / 32;
    const int wm = warp / 2, wn = warp % 2; /* this warp's 32x32 quarter */
    const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
    split_k(K, A, lda, B, ldb, C, TA, TB, kchunk, zstride);

    wmma::fragment<wmma::accumulator, 16, 16, 8, float> acc[2][2];
#pragma unroll
    for (int i = 0; i < 2; i++)
#pragma unroll
        for (int j = 0; j < 2; j++) wmma::fill_fragment(acc[i][j], 0.0f);

    for (int k0 = 0; k0 < K; k0 += BK) {
#pragma unroll 4
        for (int i = 0; i < BM * BK / 128; i++) {
            int m, k;
            tile_coord<TA, BM, BK>(tid + i * 128, m, k);
            As[m][k] = load_a<TA>(A, lda, M, K, m0 + m, k0 + k);
        }
#pragma unroll 4
        for (int i = 0; i < BN * BK / 128; i++) {
            int n, k;
            tile_coord<!TB, BN, BK>(tid + i * 128, n, k);
            Bs[k][n] = load_b<TB>(B, ldb, K, N, k0 + k, n0 + n);
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < BK; kk += 8) {
            wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::row_major> fa[2];
            wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::row_major> fb[2];
#pragma unroll
            for (int i = 0; i < 2; i++) {
                wmma::load_matrix_sync(fa[i], &As[wm * 32 + i * 16][kk], LDA_S);
#pragma unroll
                for (int e = 0; e < fa[i].num_elements; e++) fa[i].x[e] = wmma::__float_to_tf32(fa[i].x[e]);
            }
#pragma unroll
            for (int j = 0; j < 2; j++) {
                wmma::load_matrix_sync(fb[j], &Bs[kk][wn * 32 + j * 16], LDB_S);
#pragma unroll
                for (int e = 0; e < fb[j].num_elements; e++) fb[j].x[e] = wmma::__float_to_tf32(fb[j].x[e]);
            }
#pragma unroll
            for (int i = 0; i < 2; i++)
#pragma unroll
                for (int j = 0; j < 2; j++) wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
        }
        __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < 2; i++)
#pragma unroll
        for (int j = 0; j < 2; j++)
            wmma::store_matrix_sync(&Cs[wm * 32 + i * 16][wn * 32 + j * 16], acc[i][j], LDC_S,
                                    wmma::mem_row_major);
    __syncthreads();
    for (int i = tid; i < BM * BN; i += 128) {
        int r = i / BN, c = i % BN;
        epilogue_store(C, ldc, M, N, m0 + r, n0 + c, Cs[r][c], alpha, beta, bias);
    }
}

/* ------------------------------------------------------------ dispatch */
static int num_sms(void) {
    static int sms = 0;
    if (!sms) {
        int dev = 0;
        if (cudaGetDevice(&dev) != cudaSuccess ||
            cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess || sms <= 0)
            sms = 100;
    }
    return sms;
}

/* The split-K workspace (S, M, N), grown on demand, kept for the process. */
static float *splitk_ws;
static size_t splitk_ws_floats;

/* Launch one product; C gets alpha op(A) op(B) + beta C + bias, or, with
 * S > 1, slice z of the K range goes to P + z M N (alpha 1, beta 0, no bias). */
template <bool TA, bool TB>
static void launch(int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
                   float beta, float *C, int ldc, const float *bias, CUDAMatmulKind kind, int S, int kchunk) {
    const size_t zstride = (size_t)M * N;
    if (kind == CUDA_MATMUL_TF32) {
        dim3 grid(cu_blocks(N, 64), cu_blocks(M, 64), S);
        gemm_tf32<TA, TB><<<grid, 128>>>(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, bias, kchunk, zstride);
        return;
    }
    long big = (long)cu_blocks(N, 128) * cu_blocks(M, 128);
    if (S == 1 && (cu_matmul_tile == 128 || (cu_matmul_tile == 0 && big >= num_sms()))) {
        dim3 grid(cu_blocks(N, 128), cu_blocks(M, 128));
        gemm_simt<128, 128, TA, TB><<<grid, 256>>>(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, bias, K, 0);
    } else {
        dim3 grid(cu_blocks(N, 64), cu_blocks(M, 64), S);
        gemm_simt<64, 64, TA, TB><<<grid, 256>>>(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, bias, kchunk,
                                                 zstride);
    }
}

template <bool TA, bool TB>
static int gemm_dispatch(int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
                         float beta, float *C, int ldc, const float *bias, CUDAMatmulKind kind) {
    /* Few output tiles and a long K (the SAE's T x T Gram matrix over L, a
     * single token's projections): split K so that the grid fills the GPU. */
    const long tiles = (long)cu_blocks(N, 64) * cu_blocks(M, 64);
    int S = 1;
    if (cu_matmul_tile == 0 && K >= 1024 && tiles < num_sms()) {
        long want = (2L * num_sms() + tiles - 1) / tiles;
        S = (int)(want < K / 512 ? want : K / 512);
        if (S > 16) S = 16;
    }
    if (S < 2) {
        launch<TA, TB>(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, bias, kind, 1, K);
        CU_LAUNCHED();
        return 0;
    }
    int kchunk = (K + S - 1) / S;
    kchunk = (kchunk + 31) / 32 * 32; /* whole k-tiles for both kernels */
    S = (K + kchunk - 1) / kchunk;    /* every slice non-empty */
    const size_t need = (size_t)S * M * N;
    if (need > splitk_ws_floats) {
        cuda_free(splitk_ws);
        splitk_ws = NULL, splitk_ws_floats = 0;
        if (cuda_malloc((void **)&splitk_ws, need * sizeof(float)) != 0) return -1;
        splitk_ws_floats = need;
    }
    launch<TA, TB>(M, N, K, 1.0f, A, lda, B, ldb, 0.0f, splitk_ws, N, NULL, kind, S, kchunk);
    CU_LAUNCHED();
    long n = (long)M * N, blocks = (n + 255) / 256;
    splitk_reduce_kernel<<<(unsigned)(blocks > 4096 ? 4096 : blocks), 256>>>(C, ldc, splitk_ws, S, M, N, alpha, beta,
                                                                            bias);
    CU_LAUNCHED();
    return 0;
}

int cuda_gemm(int transA, int transB, int M, int N, int K, float alpha, const float *d_A, int lda,
              const float *d_B, int ldb, float beta, float *d_C, int ldc, const float *d_bias,
              CUDAMatmulKind kind) {
    CU_REQUIRE(M >= 0 && N >= 0 && K >= 0, "bad sizes M=%d N=%d K=%d", M, N, K);
    CU_REQUIRE(lda >= (transA ? M : K) && lda > 0, "lda %d too small", lda);
    CU_REQUIRE(ldb >= (transB ? K : N) && ldb > 0, "ldb %d too small", ldb);
    CU_REQUIRE(ldc >= N && ldc > 0, "ldc %d too small", ldc);
    CU_REQUIRE(kind == CUDA_MATMUL_FP32 || kind == CUDA_MATMUL_TF32, "unknown matmul kind %d", (int)kind);
    CU_REQUIRE(cu_blocks(M, 64) <= 65535u, "M=%d: too many rows for one launch", M);
    if (M == 0 || N == 0) return 0;
    int rc;
    if (transA) {
        if (transB) rc = gemm_dispatch<true, true>(M, N, K, alpha, d_A, lda, d_B, ldb, beta, d_C, ldc, d_bias, kind);
        else rc = gemm_dispatch<true, false>(M, N, K, alpha, d_A, lda, d_B, ldb, beta, d_C, ldc, d_bias, kind);
    } else {
        if (transB) rc = gemm_dispatch<false, true>(M, N, K, alpha, d_A, lda, d_B, ldb, beta, d_C, ldc, d_bias, kind);
        else rc = gemm_dispatch<false, false>(M, N, K, alpha, d_A, lda, d_B, ldb, beta, d_C, ldc, d_bias, kind);
    }
    return rc ? err_prefix("cuda_gemm") : 0;
}

int cuda_matmul_forward(float *d_out, const float *d_inp, const float *d_w, const float *d_bias, int T,
                        int C, int OC, CUDAMatmulKind kind) {
    /* out (T, OC) = inp (T, C) @ w (C, OC) + bias */
    return cuda_gemm(0, 0, T, OC, C, 1.0f, d_inp, C, d_w, OC, 0.0f, d_out, OC, d_bias, kind);
}
