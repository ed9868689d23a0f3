/*
 * cuda/cuda_matmul.cu - C (M, N) = alpha * op(A) @ op(B) + beta * C (+ bias),
 * core/gemm.h's contract on device memory, in two kernels and a plan:
 *
 *  gemm_simt  FP32 FMA, the default (results comparable with the CPU).
 *             256 threads, a BM x BN tile per block (128x128 or 64x64),
 *             BK = 16. Tiles of op(A) and op(B) go through shared memory;
 *             each thread keeps a (BM/16) x (BN/16) block of C in registers:
 *             rows 4 ty .. 4 ty + 3 (and the same + 64 for 128-tiles),
 *             columns likewise from tx, so it reads its operands from shared
 *             memory as float4 (a warp's 16 tx read 256 contiguous bytes, its
 *             2 ty values are broadcast): 4 FMAs per 4-byte word read, 16 per
 *             shared-memory instruction. The next k-tile is loaded into
 *             registers while the current one is multiplied.
 *  gemm_tc    tensor cores through wmma, FP32 accumulate (CUDA_MATMUL_TF32):
 *             TF32 inputs (m16n16k8) or, after cuda_matmul_bf16(1),
 *             bfloat16 ones (m16n16k16): 256 threads, 128x128 or 64x64 tiles,
 *             k-tiles of 32 double-buffered in shared memory by cp.async,
 *             each warp a 64x32 (or 32x16) block of fragments.
 *
 * Every M, N, K (odd ones too) and leading dimension works: SIMT tiles are
 * loaded element by element with the transposes folded into the index; the
 * tensor-core tiles by 16-byte copies where aligned and in bounds, else element by
 * element; both zero-fill past the edges, and the epilogue checks bounds.
 *
 * The plan (cuda_matmul_plan) picks the tile and a K split for each product
 * by counting waves on the GPU's SM count with per-SM rates measured on an
 * H200 (the section "the plan" below). Split-K: the K range is cut into
 * S <= 16 slices of whole k-tiles, each slice's product goes to a workspace,
 * and a second kernel adds the slices in a fixed order (deterministic) and
 * applies alpha, beta and bias.
 */
#include "cuda/cuda_common.cuh"

#include <cuda_bf16.h>
#include <cuda_pipeline.h>
#include <math.h>
#include <mma.h>

#include <type_traits>

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

/* ------------------------------------------------ tensor cores (wmma) */
/* gemm_tc: 256 threads (8 warps as 2 x 4), a BM x BN tile per block
 * (128 x 128: each warp 64 x 32 as 4 x 2 fragments of 16 x 16; 64 x 64: each
 * warp 32 x 16 as 2 x 1), k-tiles of 32 in two shared-memory stages filled
 * by cp.async (the copies of k-tile t + 1 are in flight while the tensor
 * cores multiply k-tile t). TF32: m16n16k8 fragments read the FP32 tiles,
 * rounded to TF32. BF16: the k-tile is first rounded to bfloat16 into a
 * third (half-size) buffer, which m16n16k16 fragments read.
 *
 * Shared memory keeps each operand's contiguous dimension contiguous, so a
 * 16-byte copy goes straight from global memory: op(A)'s tile is As[m][k]
 * for A (M, K), As[k][m] (a col_major fragment) when TA; op(B)'s is Bs[k][n],
 * or Bs[n][k] (col_major) when TB. Rows are padded by 16 bytes (4 floats, 8
 * bfloat16): rows stay 16-byte aligned for cp.async and wmma's ldm, and
 * consecutive rows start 4 banks apart, so the rows of a fragment load hit
 * different banks. */
template <int BM, int BN, bool TA, bool TB, bool BF16> struct TCTile {
    static constexpr int BK = 32, PAD = 4, HPAD = 8, THREADS = 256;
    /* shared tiles as rows x contiguous columns */
    static constexpr int AR = TA ? BK : BM, AC = TA ? BM : BK, BR = TB ? BN : BK, BC = TB ? BK : BN;
    static constexpr int A_FL = AR * (AC + PAD), B_FL = BR * (BC + PAD), STAGE = A_FL + B_FL;
    /* BF16: the converted k-tile after the two stages (in floats: 2 bfloat16 each) */
    static constexpr int A_H = AR * (AC + HPAD), B_H = BR * (BC + HPAD), HALF_FL = BF16 ? (A_H + B_H) / 2 : 0;
    static constexpr int C_FL = BM * (BN + PAD); /* the C tile, staged over the buffers at the end */
    static constexpr int FL = 2 * STAGE + HALF_FL;
    /* bytes, a multiple of 128 (the emulator then aligns the buffer as the device does) */
    static constexpr size_t SMEM = ((size_t)(FL > C_FL ? FL : C_FL) * 4 + 127) / 128 * 128;
};

/* ROWS x COLS floats of the row-major global matrix g (ld floats per row,
 * GR x GC in bounds) from (r0, c0) into the shared tile s (COLS + 4 floats
 * per row), as cp.async copies: 16 bytes where 4 elements are in bounds and
 * aligned (vec: g 16-byte aligned and ld a multiple of 4), else one copy per
 * element, and plain zeros outside the matrix. */
template <int ROWS, int COLS, int THREADS>
__device__ __forceinline__ void tile_async(float *s, const float *g, int ld, int GR, int GC, int r0, int c0,
                                           bool vec) {
    constexpr int LDS = COLS + 4, CPR = COLS / 4, CHUNKS = ROWS * CPR; /* 4-float chunks */
    static_assert(COLS % 4 == 0 && CHUNKS % THREADS == 0, "whole chunks per thread");
#pragma unroll
    for (int i = 0; i < CHUNKS / THREADS; i++) {
        const int c = threadIdx.x + i * THREADS, r = c / CPR, cc = (c % CPR) * 4; /* consecutive threads, consecutive chunks */
        const int gr = r0 + r, gc = c0 + cc;
        float *d = s + r * LDS + cc;
        if (gr < GR && vec && gc + 3 < GC) {
            __pipeline_memcpy_async(d, g + (size_t)gr * ld + gc, 16);
        } else {
#pragma unroll
            for (int e = 0; e < 4; e++) {
                if (gr < GR && gc + e < GC) __pipeline_memcpy_async(d + e, g + (size_t)gr * ld + gc + e, 4);
                else d[e] = 0.0f;
            }
        }
    }
}

/* The ROWS x COLS tile s (COLS + 4 floats per row) rounded to bfloat16 into
 * h (COLS + 8 per row), two elements per thread and step. */
template <int ROWS, int COLS, int THREADS>
__device__ __forceinline__ void tile_bf16(__nv_bfloat16 *h, const float *s) {
#pragma unroll 1 /* unrolled, the 128-tile spills */
    for (int i = threadIdx.x; i < ROWS * COLS / 2; i += THREADS) {
        const int r = i / (COLS / 2), c = (i % (COLS / 2)) * 2;
        h[r * (COLS + 8) + c] = __float2bfloat16(s[r * (COLS + 4) + c]);
        h[r * (COLS + 8) + c + 1] = __float2bfloat16(s[r * (COLS + 4) + c + 1]);
    }
}

/* One warp's share of one k-tile: acc[i][j] += A rows (m0w + 16 i) times B
 * columns (n0w + 16 j), FK-deep fragments of In (precision::tf32 read from
 * floats, or __nv_bfloat16) from tiles As, Bs (E elements, ldm LDA_S, LDB_S). */
template <class In, int FK, bool TA, bool TB, int FM, int FN, int BK, class E, class Acc>
__device__ __forceinline__ void warp_tile(Acc (&acc)[FM][FN], const E *As, int LDA_S, const E *Bs, int LDB_S, int m0w,
                                          int n0w) {
    using namespace nvcuda;
    using LayA = typename std::conditional<TA, wmma::col_major, wmma::row_major>::type;
    using LayB = typename std::conditional<TB, wmma::col_major, wmma::row_major>::type;
#pragma unroll 1 /* unrolled, the 128-tile spills at its 128 registers (2 blocks per SM) */
    for (int kk = 0; kk < BK; kk += FK) {
        /* the warp's FN B fragments, then one A fragment at a time (registers:
         * 64 accumulators for 128-tiles leave room for few operands) */
        wmma::fragment<wmma::matrix_b, 16, 16, FK, In, LayB> fb[FN];
#pragma unroll
        for (int j = 0; j < FN; j++) {
            const int n = n0w + j * 16;
            wmma::load_matrix_sync(fb[j], TB ? Bs + n * LDB_S + kk : Bs + kk * LDB_S + n, LDB_S);
            if constexpr (FK == 8) {
#pragma unroll
                for (int e = 0; e < fb[j].num_elements; e++) fb[j].x[e] = wmma::__float_to_tf32(fb[j].x[e]);
            }
        }
#pragma unroll
        for (int i = 0; i < FM; i++) {
            wmma::fragment<wmma::matrix_a, 16, 16, FK, In, LayA> fa;
            const int m = m0w + i * 16;
            wmma::load_matrix_sync(fa, TA ? As + kk * LDA_S + m : As + m * LDA_S + kk, LDA_S);
            if constexpr (FK == 8) {
#pragma unroll
                for (int e = 0; e < fa.num_elements; e++) fa.x[e] = wmma::__float_to_tf32(fa.x[e]);
            }
#pragma unroll
            for (int j = 0; j < FN; j++) wmma::mma_sync(acc[i][j], fa, fb[j], acc[i][j]);
        }
    }
}

template <int BM, int BN, bool TA, bool TB, bool BF16>
__global__ __launch_bounds__(256, BM >= 128 ? 2 : 3) void gemm_tc(int M, int N, int K, float alpha, const float *A,
                                                                  int lda, const float *B, int ldb, float beta,
                                                                  float *C, int ldc, const float *bias, int kchunk,
                                                                  size_t zstride) {
    using namespace nvcuda;
    using L = TCTile<BM, BN, TA, TB, BF16>;
    constexpr int BK = L::BK, LDC_S = BN + L::PAD, FK = BF16 ? 16 : 8;
    constexpr int WM = BM / 2, WN = BN / 4, FM = WM / 16, FN = WN / 16; /* warp tile, its fragments */
    static_assert(FM >= 1 && FN >= 1 && WM % 16 == 0 && WN % 16 == 0, "tile");
    /* stage s: As at smem + s STAGE, Bs right after it; BF16: the converted
     * tiles after both stages; at the end the C tile (BM, LDC_S) */
    extern __shared__ __align__(128) float smem[];
    const int warp = threadIdx.x / 32, wm = warp / 4, wn = warp % 4;
    const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
    split_k(K, A, lda, B, ldb, C, TA, TB, kchunk, zstride);
    const bool vecA = lda % 4 == 0 && (uintptr_t)A % 16 == 0, vecB = ldb % 4 == 0 && (uintptr_t)B % 16 == 0;

    /* queue the copies of k-tile k0 into stage st, as one batch */
    auto load = [&](int st, int k0) {
        float *As = smem + st * L::STAGE, *Bs = As + L::A_FL;
        if (TA) tile_async<L::AR, L::AC, L::THREADS>(As, A, lda, K, M, k0, m0, vecA); /* A (K, M) */
        else tile_async<L::AR, L::AC, L::THREADS>(As, A, lda, M, K, m0, k0, vecA);    /* A (M, K) */
        if (TB) tile_async<L::BR, L::BC, L::THREADS>(Bs, B, ldb, N, K, n0, k0, vecB); /* B (N, K) */
        else tile_async<L::BR, L::BC, L::THREADS>(Bs, B, ldb, K, N, k0, n0, vecB);    /* B (K, N) */
        __pipeline_commit();
    };

    wmma::fragment<wmma::accumulator, 16, 16, FK, float> acc[FM][FN];
#pragma unroll
    for (int i = 0; i < FM; i++)
#pragma unroll
        for (int j = 0; j < FN; j++) wmma::fill_fragment(acc[i][j], 0.0f);

    const int ntiles = (K + BK - 1) / BK;
    if (ntiles > 0) load(0, 0);
    for (int t = 0; t < ntiles; t++) {
        if (t + 1 < ntiles) load((t + 1) & 1, (t + 1) * BK); /* into the stage read in step t - 1 */
        else __pipeline_commit();                            /* an empty batch: the same wait below */
        __pipeline_wait_prior(1); /* this thread's copies of k-tile t have landed */
        __syncthreads();          /* and every thread's */
        const float *As = smem + (t & 1) * L::STAGE, *Bs = As + L::A_FL;
        if constexpr (BF16) {
            __nv_bfloat16 *Ah = (__nv_bfloat16 *)(smem + 2 * L::STAGE), *Bh = Ah + L::A_H;
            tile_bf16<L::AR, L::AC, L::THREADS>(Ah, As);
            tile_bf16<L::BR, L::BC, L::THREADS>(Bh, Bs);
            __syncthreads();
            warp_tile<__nv_bfloat16, FK, TA, TB, FM, FN, BK>(acc, (const __nv_bfloat16 *)Ah, L::AC + L::HPAD,
                                                            (const __nv_bfloat16 *)Bh, L::BC + L::HPAD, wm * WM,
                                                            wn * WN);
        } else {
            warp_tile<wmma::precision::tf32, FK, TA, TB, FM, FN, BK>(acc, As, L::AC + L::PAD, Bs, L::BC + L::PAD,
                                                                    wm * WM, wn * WN);
        }
        __syncthreads(); /* everyone is done with this stage before step t + 1 refills it */
    }
    /* the C tile through shared memory (over the stages: the loop ended at a
     * barrier and no copy is pending), then alpha, beta, bias, bounds */
    float *Cs = smem;
#pragma unroll
    for (int i = 0; i < FM; i++)
#pragma unroll
        for (int j = 0; j < FN; j++)
            wmma::store_matrix_sync(Cs + (wm * WM + i * 16) * LDC_S + wn * WN + j * 16, acc[i][j], LDC_S,
                                    wmma::mem_row_major);
    __syncthreads();
    for (int i = threadIdx.x; i < BM * BN; i += L::THREADS) {
        const int r = i / BN, c = i % BN;
        epilogue_store(C, ldc, M, N, m0 + r, n0 + c, Cs[r * LDC_S + c], alpha, beta, bias);
    }
}

/* ------------------------------------------------------------ the plan */
/* Which tile and how many K slices each product gets: of the candidates
 * (the kind's two tiles x S = 1..16 slices), the one with the least
 * predicted time on this GPU's SM count. The model counts waves: a grid of
 * B blocks puts n = ceil(B / SMs) blocks on the busiest SM, which runs them
 * `resident` at a time (as many as its registers and shared memory hold);
 * a round of b blocks of W = 2 tile^2 Kslice FLOP each takes
 * b W / rate(b), rate(b) being one SM's throughput with b blocks resident.
 * A split (S > 1) adds the reduction: 5 us plus (S + 2) M N 4 bytes at
 * 2 TB/s. Slices are whole 32-wide k-tiles of >= 256 (shorter ones spend
 * more on the prologue, epilogue and reduction than they save) and the
 * workspace stays under 2^25 floats; a forced split (cuda_matmul_split) only
 * needs whole k-tiles. Ties go to the smaller tile, then the smaller S.
 * The FP32 rates reproduce the first device run within 15% (most within
 * 5%) at every benchmarked shape (cuda/NOTES.md has the table). */
enum Precision { PREC_FP32, PREC_TF32, PREC_BF16 }; /* what the kernel multiplies */
struct TileModel {
    Precision prec;
    int tile, resident;
    float gflops[4]; /* one SM's GFLOP/s with 1, 2, .. resident blocks on it */
};
static const TileModel tile_models[] = {
    /* FP32 SIMT, measured on an H200 (132 SMs), 2026-11-30 at 4a0803a:
     * 64x64 (64-80 registers: 3 blocks per SM): 1 block 135 GFLOP/s
     * (220x768x768: 48 blocks in 46.7 us), 2 blocks 195 (220x2304x768: 144
     * blocks in 63.8 us; 1024x768x768: 192 in 64.9 us), 3 blocks 220 (4096^3:
     * 28.8 TFLOP/s over 132 SMs). 128x128 (190 registers: 1 block): 220
     * (1024x768x768: 48 blocks in 118.7 us; 4096^3 29.0 TFLOP/s). */
    {PREC_FP32, 64, 3, {135, 195, 220, 0}},
    {PREC_FP32, 128, 1, {220, 0, 0, 0}},
    /* TF32 wmma + cp.async: predicted, to refit after its first device run
     * (the tensor cores' 3.75 TFLOP/s per SM, wmma's mma.sync at ~1/4 of it
     * with 2 blocks of 128x128 (69 KB shared each), less for 64x64's
     * smaller warp tiles). */
    {PREC_TF32, 64, 3, {300, 450, 550, 0}},
    {PREC_TF32, 128, 2, {700, 1000, 0, 0}},
    /* BF16: predicted ~1.4x TF32 (twice the tensor-core rate, less the
     * rounding pass and its barrier per k-tile; 88 KB of shared memory) */
    {PREC_BF16, 64, 3, {400, 600, 750, 0}},
    {PREC_BF16, 128, 2, {1000, 1400, 0, 0}},
};
static const int SPLIT_MAX = 16, SPLIT_MIN_K = 256;
static const long SPLIT_WS_MAX = 1L << 25; /* floats */
static int matmul_split; /* cuda_matmul_split: 0 = the plan's choice */
static int matmul_bf16;  /* cuda_matmul_bf16 */

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

/* Predicted microseconds of one candidate; fills p's other fields. */
static double plan_predict(const TileModel &m, int M, int N, int K, int S, int kchunk, int sms, CUDAMatmulPlan *p) {
    const long blocks = (long)cu_blocks(N, m.tile) * cu_blocks(M, m.tile) * S;
    const long n = (blocks + sms - 1) / sms; /* blocks on the busiest SM */
    const double w = 2.0 * m.tile * m.tile * (S > 1 ? kchunk : K);
    const long rounds = n / m.resident, rest = n % m.resident;
    double us = rounds * m.resident * w / (m.gflops[m.resident - 1] * 1e3);
    if (rest) us += rest * w / (m.gflops[rest - 1] * 1e3);
    if (S > 1) us += 5.0 + (S + 2.0) * M * N * 4.0 / 2e6;
    p->tile = m.tile, p->split = S, p->kchunk = kchunk, p->bf16 = m.prec == PREC_BF16, p->blocks = blocks;
    p->waves = (double)blocks / ((double)sms * m.resident), p->predicted_us = us;
    return us;
}

int cuda_matmul_plan(CUDAMatmulPlan *p, int M, int N, int K, CUDAMatmulKind kind, int sms) {
    CU_REQUIRE(M >= 0 && N >= 0 && K >= 0, "bad sizes M=%d N=%d K=%d", M, N, K);
    CU_REQUIRE(kind == CUDA_MATMUL_FP32 || kind == CUDA_MATMUL_TF32, "unknown matmul kind %d", (int)kind);
    if (sms <= 0) sms = num_sms();
    const Precision prec = kind == CUDA_MATMUL_FP32 ? PREC_FP32 : matmul_bf16 ? PREC_BF16 : PREC_TF32;
    double best = INFINITY;
    for (const TileModel &m : tile_models) {
        if (m.prec != prec || (cu_matmul_tile && m.tile != cu_matmul_tile)) continue;
        for (int s = 1; s <= SPLIT_MAX; s++) {
            if (matmul_split && s != matmul_split) continue;
            int S = 1, kchunk = K;
            if (s > 1) {
                kchunk = ((K + s - 1) / s + 31) / 32 * 32; /* whole k-tiles of both kernels */
                S = kchunk ? (K + kchunk - 1) / kchunk : 1;   /* every slice non-empty */
                if (!matmul_split && (S != s || kchunk < SPLIT_MIN_K || (long)S * M * N > SPLIT_WS_MAX)) continue;
                if (S < 2) S = 1, kchunk = K;
            }
            CUDAMatmulPlan c;
            if (plan_predict(m, M, N, K, S, kchunk, sms, &c) < best) best = c.predicted_us, *p = c;
        }
    }
    return 0;
}

int cuda_matmul_bf16(int on) {
    if (on != 0 && on != 1) return err_set("cuda_matmul_bf16: %d: use 0 (TF32) or 1 (bfloat16)", on);
    matmul_bf16 = on;
    return 0;
}

int cuda_matmul_split(int split) {
    if (split < 0 || split > SPLIT_MAX) return err_set("cuda_matmul_split: %d slices: use 0 (auto) to %d", split,
                                                       SPLIT_MAX);
    matmul_split = split;
    return 0;
}

/* ------------------------------------------------------------ dispatch */
/* One launch's arguments: C = alpha op(A) op(B) + beta C + bias, or with
 * S > 1 slice z of K (kchunk wide) into C + z M N. */
struct GemmArgs {
    int M, N, K;
    float alpha;
    const float *A;
    int lda;
    const float *B;
    int ldb;
    float beta;
    float *C;
    int ldc;
    const float *bias;
    int S, kchunk;
};

template <int T, bool TA, bool TB, bool BF16> static int launch_tc(const GemmArgs &g) {
    constexpr size_t smem = TCTile<T, T, TA, TB, BF16>::SMEM;
    static bool allowed = smem <= 48 * 1024; /* above the default: asked for once */
    if (!allowed) {
        CU_TRY(cudaFuncSetAttribute((const void *)gemm_tc<T, T, TA, TB, BF16>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                    (int)smem));
        allowed = true;
    }
    dim3 grid(cu_blocks(g.N, T), cu_blocks(g.M, T), g.S);
    const size_t zs = (size_t)g.M * g.N;
    gemm_tc<T, T, TA, TB, BF16><<<grid, 256, smem>>>(g.M, g.N, g.K, g.alpha, g.A, g.lda, g.B, g.ldb, g.beta, g.C, g.ldc, g.bias, g.kchunk, zs);
    CU_LAUNCHED();
    return 0;
}

template <bool TA, bool TB> static int launch(const CUDAMatmulPlan &p, CUDAMatmulKind kind, const GemmArgs &g) {
    if (kind == CUDA_MATMUL_TF32 && p.bf16)
        return p.tile == 128 ? launch_tc<128, TA, TB, true>(g) : launch_tc<64, TA, TB, true>(g);
    if (kind == CUDA_MATMUL_TF32)
        return p.tile == 128 ? launch_tc<128, TA, TB, false>(g) : launch_tc<64, TA, TB, false>(g);
    dim3 grid(cu_blocks(g.N, p.tile), cu_blocks(g.M, p.tile), g.S);
    const size_t zs = (size_t)g.M * g.N;
    if (p.tile == 128)
        gemm_simt<128, 128, TA, TB><<<grid, 256>>>(g.M, g.N, g.K, g.alpha, g.A, g.lda, g.B, g.ldb, g.beta, g.C, g.ldc, g.bias, g.kchunk, zs);
    else
        gemm_simt<64, 64, TA, TB><<<grid, 256>>>(g.M, g.N, g.K, g.alpha, g.A, g.lda, g.B, g.ldb, g.beta, g.C, g.ldc, g.bias, g.kchunk, zs);
    CU_LAUNCHED();
    return 0;
}

/* The split-K workspace (S, M, N), grown on demand, kept for the process. */
static float *splitk_ws;
static size_t splitk_ws_floats;

template <bool TA, bool TB> static int gemm_dispatch(GemmArgs g, CUDAMatmulKind kind) {
    CUDAMatmulPlan p;
    if (cuda_matmul_plan(&p, g.M, g.N, g.K, kind, 0) != 0) return -1;
    if (p.split < 2) {
        g.S = 1, g.kchunk = g.K;
        return launch<TA, TB>(p, kind, g);
    }
    const size_t need = (size_t)p.split * g.M * g.N;
    if (need > splitk_ws_floats) {
        cuda_free(splitk_ws);
        splitk_ws = NULL, splitk_ws_floats = 0;
        if (cuda_malloc((void **)&splitk_ws, need * sizeof(float)) != 0) return -1;
        splitk_ws_floats = need;
    }
    GemmArgs s = g;
    s.alpha = 1.0f, s.beta = 0.0f, s.C = splitk_ws, s.ldc = g.N, s.bias = NULL, s.S = p.split, s.kchunk = p.kchunk;
    if (launch<TA, TB>(p, kind, s) != 0) return -1;
    long n = (long)g.M * g.N, blocks = (n + 255) / 256;
    splitk_reduce_kernel<<<(unsigned)(blocks > 4096 ? 4096 : blocks), 256>>>(g.C, g.ldc, splitk_ws, p.split, g.M, g.N, g.alpha, g.beta, g.bias);
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
    const GemmArgs g = {M, N, K, alpha, d_A, lda, d_B, ldb, beta, d_C, ldc, d_bias, 1, K};
    int rc;
    if (transA) rc = transB ? gemm_dispatch<true, true>(g, kind) : gemm_dispatch<true, false>(g, kind);
    else rc = transB ? gemm_dispatch<false, true>(g, kind) : gemm_dispatch<false, false>(g, kind);
    return rc ? err_prefix("cuda_gemm") : 0;
}

int cuda_matmul_forward(float *d_out, const float *d_inp, const float *d_w, const float *d_bias, int T,
                        int C, int OC, CUDAMatmulKind kind) {
    /* out (T, OC) = inp (T, C) @ w (C, OC) + bias */
    return cuda_gemm(0, 0, T, OC, C, 1.0f, d_inp, C, d_w, OC, 0.0f, d_out, OC, d_bias, kind);
}
