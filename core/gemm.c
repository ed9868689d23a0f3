/*
 * core/gemm.c - matrix multiply: the reference triple loop, and the fast path.
 *
 * The fast path is the classic BLIS/GotoBLAS structure:
 *
 *   split the columns (or, when there are few, the rows) across the threads;
 *   each thread packs the rows of op(A) it needs into panels of MR rows,
 *   Ap[panel][k][MR], in its own buffer, then, for its columns:
 *     for jc (NC columns):  for pc (KC of K):
 *       pack op(B)[pc.., jc..] into panels of NR columns: Bp[panel][k][NR]
 *       for ic (MC rows):  for jr (NR panel):  for ir (MR panel):
 *         microkernel: C[MR x NR] (+)= Ap-panel (kc x MR) . Bp-panel (kc x NR)
 *
 * The microkernel keeps the MR x NR tile of C in registers (14 x 32 floats =
 * 28 AVX-512 registers) and does, per k, 2 vector loads of B and 14
 * broadcasts of A into 28 FMAs. The B micro-panel (KC x NR = 32 KB) stays in
 * L1 while the A panels stream from L2. Packing is where the transposes are
 * handled, so all four op(A)/op(B) combinations run the same kernel; the
 * transposed B of the logits (T, C) x (V, C)^T is packed with 16 x 16
 * transposes in registers. While a block is multiplied, the next block of B
 * is prefetched (weights stream from memory). Packing buffers are reused.
 * Edges are zero-padded in the packed panels and masked when C is stored.
 * Without AVX-512 (another -march), a plain C kernel of the same shape is used.
 */
#include "core/gemm.h"
#include "core/pool.h"
#include "core/util.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#if defined(__AVX512F__)
#include <immintrin.h>
#define GEMM_AVX512 1
#else
#define GEMM_AVX512 0
#endif

void gemm_ref(int transA, int transB, int M, int N, int K, float alpha,
              const float *A, int lda, const float *B, int ldb,
              float beta, float *C, int ldc) {
    for (int i = 0; i < M; i++) {
        for (int j = 0; j < N; j++) {
            double acc = 0.0; /* double accumulation: the reference is the accurate one */
            for (int k = 0; k < K; k++) {
                float a = transA ? A[(long)k * lda + i] : A[(long)i * lda + k];
                float b = transB ? B[(long)j * ldb + k] : B[(long)k * ldb + j];
                acc += (double)a * (double)b;
            }
            float prev = beta == 0.0f ? 0.0f : beta * C[(long)i * ldc + j];
            C[(long)i * ldc + j] = alpha * (float)acc + prev;
        }
    }
}

/* ---- blocking ---- */

#define MR 14   /* rows of the register tile */
#define NR 32   /* columns of the register tile: two 16-float vectors */
#ifndef KC
#define KC 256
#endif
#define MC 252  /* rows per block of packed A streamed from L2 (multiple of MR) */
#define NC 512  /* columns per packed block of B (multiple of NR): KC x NC = 512 KB (L2) */

typedef struct {
    int transA, transB, M, N, K;
    float alpha, beta;
    const float *A, *B;
    int lda, ldb;
    float *C;
    int ldc;
    int MP, NP;       /* panels of rows / of columns */
    int split_rows;   /* 1: threads split the row panels, else the column panels */
} GEMM;

#if GEMM_AVX512
/* Transpose a 16 x 16 block in registers: on return r[c][i] = (old r[i])[c].
 * Stages: 2x2 blocks of floats (unpack), 4x4 within each 128-bit lane
 * (shuffle_ps), then the 128-bit lanes across the four groups of rows. */
static inline __attribute__((always_inline)) void transpose16(__m512 r[16]) {
    __m512 t[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    /* now r[4g + c], lane L = column 4L + c of rows 4g .. 4g+3 */
    for (int g = 0; g < 4; g++) {
        r[4 * g] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0x44);
        r[4 * g + 1] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0xEE);
        r[4 * g + 2] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0x44);
        r[4 * g + 3] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0xEE);
    }
    for (int c = 0; c < 4; c++) {
        __m512 u0 = _mm512_shuffle_f32x4(r[c], r[4 + c], 0x88), u1 = _mm512_shuffle_f32x4(r[c], r[4 + c], 0xDD);
        __m512 u2 = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0x88), u3 = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0xDD);
        t[c] = _mm512_shuffle_f32x4(u0, u2, 0x88);      /* lane 0: column c      */
        t[8 + c] = _mm512_shuffle_f32x4(u0, u2, 0xDD);  /* lane 2: column 8 + c  */
        t[4 + c] = _mm512_shuffle_f32x4(u1, u3, 0x88);  /* lane 1: column 4 + c  */
        t[12 + c] = _mm512_shuffle_f32x4(u1, u3, 0xDD); /* lane 3: column 12 + c */
    }
    for (int i = 0; i < 16; i++) r[i] = t[i];
}
#endif

/* Packing buffers, kept from call to call: a fresh malloc of a few hundred KB
 * is an mmap, and its munmap interrupts every core running this process
 * (TLB shootdown) - at the rate of a GPT-2 pass, that alone cost half the
 * second thread. A small table of buffers, each taken by one caller at a time. */
#define GEMM_BUFS 16
static struct {
    float *p;
    size_t cap; /* floats */
    int used;
} bufs[GEMM_BUFS];
static pthread_mutex_t bufs_mu = PTHREAD_MUTEX_INITIALIZER;

/* A buffer of n floats (64-byte aligned); *slot says where to give it back. */
static float *buf_get(size_t n, int *slot) {
    pthread_mutex_lock(&bufs_mu);
    int pick = -1;
    for (int i = 0; i < GEMM_BUFS; i++)
        if (!bufs[i].used && (pick < 0 || (bufs[i].cap >= n && bufs[pick].cap < n))) pick = i;
    if (pick >= 0) {
        bufs[pick].used = 1;
        if (bufs[pick].cap < n) {
            free(bufs[pick].p);
            bufs[pick].p = xmalloc_aligned(n * sizeof(float));
            bufs[pick].cap = n;
        }
    }
    pthread_mutex_unlock(&bufs_mu);
    *slot = pick;
    return pick >= 0 ? bufs[pick].p : xmalloc_aligned(n * sizeof(float));
}

static void buf_put(float *p, int slot) {
    if (slot < 0) {
        free(p);
        return;
    }
    pthread_mutex_lock(&bufs_mu);
    bufs[slot].used = 0;
    pthread_mutex_unlock(&bufs_mu);
}

/* Pack row panels [p0, p1) of op(A) (M, K) into Ap: panel p holds rows
 * p*MR .. p*MR+MR-1 as Ap[p][k][r], zero past row M. */
static void pack_A(const GEMM *g, float *Ap, int p0, int p1) {
    for (int p = p0; p < p1; p++) {
        float *dst = Ap + (long)p * g->K * MR;
        int i0 = p * MR, mr = g->M - i0 < MR ? g->M - i0 : MR;
        if (g->transA) {
            /* op(A)[i][k] = A[k][i]: the MR values of one k are contiguous */
            for (int k = 0; k < g->K; k++) {
                const float *src = g->A + (long)k * g->lda + i0;
                for (int r = 0; r < MR; r++) dst[(long)k * MR + r] = r < mr ? src[r] : 0.0f;
            }
        } else {
            int k = 0;
#if GEMM_AVX512
            /* 16 columns of the MR rows at a time, transposed in registers */
            if (mr == MR)
                for (; k + 16 <= g->K; k += 16) {
                    __m512 v[16];
                    for (int r = 0; r < 16; r++)
                        v[r] = r < MR ? _mm512_loadu_ps(g->A + (long)(i0 + r) * g->lda + k) : _mm512_setzero_ps();
                    transpose16(v);
                    for (int c = 0; c < 16; c++) _mm512_mask_storeu_ps(dst + (long)(k + c) * MR, (1u << MR) - 1, v[c]);
                }
#endif
            int kstart = k;
            for (int r = 0; r < MR; r++) {
                if (r < mr) {
                    const float *src = g->A + (long)(i0 + r) * g->lda;
                    for (k = kstart; k < g->K; k++) dst[(long)k * MR + r] = src[k];
                } else {
                    for (k = kstart; k < g->K; k++) dst[(long)k * MR + r] = 0.0f;
                }
            }
        }
    }
}

/* Pack op(B)[k0 : k0+kc, j0 : j0+nc] (nc <= NC) into Bp: panel q holds
 * columns j0+q*NR .. +NR-1 as Bp[q][k][c], zero past column N. */
static void pack_B(const GEMM *g, float *Bp, int k0, int kc, int j0, int nc) {
    if (!g->transB) {
        /* op(B)[k][j] = B[k][j]: row by row (sequential reads), NR floats to each panel */
        for (int k = 0; k < kc; k++) {
            const float *src = g->B + (long)(k0 + k) * g->ldb + j0;
#if GEMM_AVX512
            /* weights stream from memory and each row starts a new page, where
             * the hardware prefetcher starts over: ask for row k+4 now */
            if (k + 4 < kc)
                for (int c = 0; c < nc; c += 16) _mm_prefetch((const char *)(src + 4L * g->ldb + c), _MM_HINT_T0);
#endif
            for (int q = 0; q * NR < nc; q++) {
                float *dst = Bp + ((long)q * kc + k) * NR;
                int nr = nc - q * NR < NR ? nc - q * NR : NR;
                if (nr == NR) memcpy(dst, src + q * NR, NR * sizeof(float));
                else
                    for (int c = 0; c < NR; c++) dst[c] = c < nr ? src[q * NR + c] : 0.0f;
            }
        }
        return;
    }
    for (int q = 0; q * NR < nc; q++) {
        float *dst = Bp + (long)q * kc * NR;
        int jq = j0 + q * NR, nr = g->N - jq < NR ? g->N - jq : NR;
        /* op(B)[k][j] = B[j][k]: column c of the panel is row jq+c of B */
#if GEMM_AVX512
        if (nr == NR && (long)g->ldb * NR < (1L << 29)) {
            __m512i idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                             _mm512_set1_epi32(g->ldb));
            const float *b0 = g->B + (long)jq * g->ldb + k0, *b1 = b0 + 16L * g->ldb;
            int k = 0;
            /* 16 x 16 blocks transposed in registers, then gathers for the rest */
            for (; k + 16 <= kc; k += 16)
                for (int h = 0; h < 2; h++) {
                    __m512 v[16];
                    const float *src = (h ? b1 : b0) + k;
                    for (int r = 0; r < 16; r++) {
                        if (k + 80 <= kc) _mm_prefetch((const char *)(src + (long)r * g->ldb + 64), _MM_HINT_T0);
                        v[r] = _mm512_loadu_ps(src + (long)r * g->ldb);
                    }
                    transpose16(v);
                    for (int c = 0; c < 16; c++) _mm512_storeu_ps(dst + (long)(k + c) * NR + 16 * h, v[c]);
                }
            for (; k < kc; k++) {
                _mm512_storeu_ps(dst + (long)k * NR, _mm512_i32gather_ps(idx, b0 + k, 4));
                _mm512_storeu_ps(dst + (long)k * NR + 16, _mm512_i32gather_ps(idx, b1 + k, 4));
            }
            continue;
        }
#endif
        for (int c = 0; c < NR; c++) {
            if (c < nr) {
                const float *src = g->B + (long)(jq + c) * g->ldb + k0;
                for (int k = 0; k < kc; k++) dst[(long)k * NR + c] = src[k];
            } else {
                for (int k = 0; k < kc; k++) dst[(long)k * NR + c] = 0.0f;
            }
        }
    }
}

/* C (mr x nr tile, ldc) = alpha * Ap (kc x MR) . Bp (kc x NR) + (first ? beta * C : C).
 * beta == 0 on the first block: C is not read. */
static void kernel(int kc, const float *restrict Ap, const float *restrict Bp, float *C, int ldc, int mr, int nr,
                   float alpha, float beta, int first) {
#if GEMM_AVX512
    __m512 c0[MR], c1[MR];
#pragma GCC unroll 14
    for (int r = 0; r < MR; r++) c0[r] = c1[r] = _mm512_setzero_ps();
    for (int k = 0; k < kc; k++) {
        __m512 b0 = _mm512_loadu_ps(Bp), b1 = _mm512_loadu_ps(Bp + 16);
#pragma GCC unroll 14
        for (int r = 0; r < MR; r++) {
            __m512 a = _mm512_set1_ps(Ap[r]);
            c0[r] = _mm512_fmadd_ps(a, b0, c0[r]);
            c1[r] = _mm512_fmadd_ps(a, b1, c1[r]);
        }
        Ap += MR;
        Bp += NR;
    }
    __mmask16 m0 = nr >= 16 ? 0xFFFF : (__mmask16)((1u << nr) - 1);
    __mmask16 m1 = nr >= 32 ? 0xFFFF : nr <= 16 ? 0 : (__mmask16)((1u << (nr - 16)) - 1);
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
#pragma GCC unroll 14
    for (int r = 0; r < MR; r++) {
        if (r >= mr) break;
        float *p = C + (long)r * ldc;
        __m512 v0 = _mm512_mul_ps(va, c0[r]), v1 = _mm512_mul_ps(va, c1[r]);
        if (!first) {
            v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, p));
            v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, p + 16));
        } else if (beta != 0.0f) {
            v0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, p), v0);
            v1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, p + 16), v1);
        }
        _mm512_mask_storeu_ps(p, m0, v0);
        _mm512_mask_storeu_ps(p + 16, m1, v1);
    }
#else
    float acc[MR][NR];
    memset(acc, 0, sizeof acc);
    for (int k = 0; k < kc; k++) {
        for (int r = 0; r < MR; r++)
            for (int c = 0; c < NR; c++) acc[r][c] += Ap[r] * Bp[c];
        Ap += MR;
        Bp += NR;
    }
    for (int r = 0; r < mr; r++)
        for (int c = 0; c < nr; c++) {
            float *p = C + (long)r * ldc + c;
            float v = alpha * acc[r][c];
            *p = !first ? *p + v : beta != 0.0f ? beta * *p + v : v;
        }
#endif
}

/* One thread's share: row panels [mp0, mp1) x column panels [np0, np1). */
/* Prefetch part `part` of `nparts` of the block op(B)[k0 : k0+kc, j0 : j0+nc]
 * into L2: issued while the current block is being multiplied, so that the
 * next pack_B finds the weights in cache instead of waiting on memory. */
static void prefetch_B(const GEMM *g, int k0, int kc, int j0, int nc, int part, int nparts) {
#if GEMM_AVX512
    if (!g->transB) { /* rows k of B, nc floats each */
        int r0 = k0 + (int)((long)kc * part / nparts), r1 = k0 + (int)((long)kc * (part + 1) / nparts);
        for (int k = r0; k < r1; k++)
            for (int c = 0; c < nc; c += 16) _mm_prefetch((const char *)(g->B + (long)k * g->ldb + j0 + c), _MM_HINT_T1);
    } else { /* rows j of B, kc floats each */
        int r0 = j0 + (int)((long)nc * part / nparts), r1 = j0 + (int)((long)nc * (part + 1) / nparts);
        for (int j = r0; j < r1; j++)
            for (int k = 0; k < kc; k += 16) _mm_prefetch((const char *)(g->B + (long)j * g->ldb + k0 + k), _MM_HINT_T1);
    }
#else
    (void)g, (void)k0, (void)kc, (void)j0, (void)nc, (void)part, (void)nparts;
#endif
}

static void gemm_block(const GEMM *g, const float *Ap, int mp0, int mp1, int np0, int np1) {
    int slot;
    float *Bp = buf_get((size_t)KC * NC, &slot);
    int j_end = np1 * NR < g->N ? np1 * NR : g->N;
    for (int jc = np0 * NR; jc < j_end; jc += NC) {
        int nc = j_end - jc < NC ? j_end - jc : NC;
        for (int pc = 0; pc < g->K; pc += KC) {
            int kc = g->K - pc < KC ? g->K - pc : KC;
            pack_B(g, Bp, pc, kc, jc, nc);
            /* the next block of B, prefetched a slice per panel below */
            int npc = pc + KC < g->K ? pc + KC : 0, njc = pc + KC < g->K ? jc : jc + NC;
            int nkc = g->K - npc < KC ? g->K - npc : KC, nnc = j_end - njc < NC ? j_end - njc : NC;
            int npanels = (nc + NR - 1) / NR;
            for (int ic = mp0; ic < mp1; ic += MC / MR) {
                int ic1 = ic + MC / MR < mp1 ? ic + MC / MR : mp1;
                for (int jr = 0; jr < nc; jr += NR) {
                    if (ic == mp0 && njc < j_end) prefetch_B(g, npc, nkc, njc, nnc, jr / NR, npanels);
                    const float *bp = Bp + (long)(jr / NR) * kc * NR;
                    int nr = g->N - (jc + jr) < NR ? g->N - (jc + jr) : NR;
                    for (int ir = ic; ir < ic1; ir++) {
                        int i0 = ir * MR, mr = g->M - i0 < MR ? g->M - i0 : MR;
                        const float *ap = Ap + ((long)ir * g->K + pc) * MR;
                        kernel(kc, ap, bp, g->C + (long)i0 * g->ldc + jc + jr, g->ldc, mr, nr, g->alpha, g->beta,
                               pc == 0);
                    }
                }
            }
        }
    }
    buf_put(Bp, slot);
}

/* One thread's task. Each thread packs the rows of A it needs itself (all of
 * them when the columns are split): redundant work, but every A panel is then
 * in the thread's own L2 instead of the other core's, which measured faster
 * than packing A once in parallel. */
static void gemm_task(void *ctx, int i0, int i1) {
    const GEMM *g = ctx;
    int mp0 = g->split_rows ? i0 : 0, mp1 = g->split_rows ? i1 : g->MP;
    int slot;
    float *Ap = buf_get((size_t)g->MP * g->K * MR, &slot);
    pack_A(g, Ap, mp0, mp1);
    if (g->split_rows) gemm_block(g, Ap, mp0, mp1, 0, g->NP);
    else gemm_block(g, Ap, 0, g->MP, i0, i1);
    buf_put(Ap, slot);
}

void gemm(int transA, int transB, int M, int N, int K, float alpha,
          const float *A, int lda, const float *B, int ldb,
          float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0 || alpha == 0.0f) { /* nothing to multiply: C = beta * C */
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                float *p = C + (long)i * ldc + j;
                *p = beta == 0.0f ? 0.0f : beta * *p;
            }
        return;
    }
    GEMM g = {transA, transB, M, N, K, alpha, beta, A, B, lda, ldb, C, ldc, 0, 0, 0};
    g.MP = (M + MR - 1) / MR;
    g.NP = (N + NR - 1) / NR;
    /* split the columns unless there are too few panels of them for the threads */
    int nt = pool_threads();
    g.split_rows = g.NP < 4 * nt && g.MP > g.NP;
    if (g.split_rows) pool_for(g.MP, 1, gemm_task, &g);
    else pool_for(g.NP, 1, gemm_task, &g);
}
