/*
 * cuda/emu/mma.h - nvcuda::wmma for the CUDA emulator (cuda/emu/cuda_runtime.h).
 *
 * Fragments hold their elements in a scrambled order: element e of lane l is
 * matrix position ((l * n + e) * 37 + 11) mod (rows * cols) (n elements per
 * lane), unlike any real layout, so code that assumes which lane holds which
 * element fails here. Fragment element-wise loops (x[i] = f(x[i])) work as on
 * the device. load/store/mma are warp calls: all 32 lanes must reach the same
 * call with the same pointer and ldm, and pointers must be 32-byte aligned.
 * mma_sync truncates A and B to TF32 (the low 13 mantissa bits dropped, as the
 * tensor cores read them) and accumulates in FP32, k in order.
 * Supported: float / precision::tf32 fragments and __nv_bfloat16 ones
 * (cuda/emu/cuda_bf16.h; held as bfloat16, so mma_sync's TF32 truncation
 * leaves them exact), any m, n, k.
 */
#ifndef CUDA_EMU_MMA_H
#define CUDA_EMU_MMA_H

#include "cuda_bf16.h"
#include "cuda_runtime.h"

namespace nvcuda {
namespace wmma {
struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
namespace precision {
struct tf32 {};
} // namespace precision
enum layout_t { mem_row_major, mem_col_major };

template <class Use, int M, int N, int K> struct shape_of;
template <int M, int N, int K> struct shape_of<matrix_a, M, N, K> { enum { rows = M, cols = K }; };
template <int M, int N, int K> struct shape_of<matrix_b, M, N, K> { enum { rows = K, cols = N }; };
template <int M, int N, int K> struct shape_of<accumulator, M, N, K> { enum { rows = M, cols = N }; };

/* what a fragment's elements are stored as */
template <class T> struct storage { typedef float type; };
template <> struct storage<__nv_bfloat16> { typedef __nv_bfloat16 type; };
static inline float emu_float(float v) { return v; }
static inline float emu_float(__nv_bfloat16 v) { return __bfloat162float(v); }

template <class Use, int M, int N, int K, class T, class Layout = void> struct fragment {
    enum { rows = shape_of<Use, M, N, K>::rows, cols = shape_of<Use, M, N, K>::cols };
    enum { num_elements = rows * cols / 32 };
    static_assert(rows * cols % 32 == 0 && ((rows * cols) & (rows * cols - 1)) == 0, "fragment size");
    typedef typename storage<T>::type elem_type;
    elem_type x[num_elements];
};

/* position (in the rows x cols matrix) of element e of lane l */
static inline int emu_pos(int l, int e, int n, int size) { return ((l * n + e) * 37 + 11) % size; }

static inline float __float_to_tf32(float f) { /* round to nearest, ties away, 10 mantissa bits */
    unsigned u = __float_as_uint(f);
    if ((u & 0x7f800000u) == 0x7f800000u) return f; /* Inf, NaN */
    u = (u + 0x1000u) & ~0x1fffu;
    return __uint_as_float(u);
}
static inline float emu_tf32_trunc(float f) { return __uint_as_float(__float_as_uint(f) & ~0x1fffu); }

template <class Frag> static inline void fill_fragment(Frag &f, float v) {
    for (int i = 0; i < Frag::num_elements; i++) f.x[i] = v;
}

/* arg[0] ldm, arg[1] column-major (1) or row-major (0); in[0] the pointer */
template <class Frag, bool STORE> void emu_ldst_resolve(emu::WarpCall **l) {
    typedef typename Frag::elem_type E;
    const int R = Frag::rows, C = Frag::cols, n = Frag::num_elements;
    for (int i = 1; i < 32; i++)
        if (l[i]->in[0] != l[0]->in[0] || l[i]->arg[0] != l[0]->arg[0] || l[i]->arg[1] != l[0]->arg[1])
            emu::fatal("%s:%d: %s: lanes 0 and %d pass different pointers or ldm", l[0]->file, l[0]->line,
                       l[0]->what, i);
    const long ldm = l[0]->arg[0];
    const bool colm = l[0]->arg[1] != 0;
    if ((uintptr_t)l[0]->in[0] % 32 != 0 || ldm % 4 != 0)
        emu::fatal("%s:%d: %s: pointer %p must be 32-byte aligned and ldm %ld a multiple of 4", l[0]->file,
                   l[0]->line, l[0]->what, l[0]->in[0], ldm);
    for (int lane = 0; lane < 32; lane++) {
        Frag *f = (Frag *)l[lane]->out;
        for (int e = 0; e < n; e++) {
            int p = emu_pos(lane, e, n, R * C), r = p / C, c = p % C;
            size_t o = colm ? (size_t)c * ldm + r : (size_t)r * ldm + c;
            if (STORE) ((E *)l[0]->in[0])[o] = f->x[e];
            else f->x[e] = ((const E *)l[0]->in[0])[o];
        }
    }
}

template <class Use, int M, int N, int K, class T, class Layout>
static inline void emu_load(const char *file, int line, fragment<Use, M, N, K, T, Layout> &f,
                            const typename storage<T>::type *p, unsigned ldm, bool colm) {
    emu::WarpCall c = {"wmma::load_matrix_sync", file, line,
                       emu_ldst_resolve<fragment<Use, M, N, K, T, Layout>, false>, {p, nullptr, nullptr}, &f,
                       {(long)ldm, colm}};
    emu::warp_call(&c);
}
template <class Use, int M, int N, int K, class T>
static inline void emu_load_sel(const char *file, int line, fragment<Use, M, N, K, T, row_major> &f,
                                const typename storage<T>::type *p, unsigned ldm) { emu_load(file, line, f, p, ldm, false); }
template <class Use, int M, int N, int K, class T>
static inline void emu_load_sel(const char *file, int line, fragment<Use, M, N, K, T, col_major> &f,
                                const typename storage<T>::type *p, unsigned ldm) { emu_load(file, line, f, p, ldm, true); }
template <int M, int N, int K, class T>
static inline void emu_load_sel(const char *file, int line, fragment<accumulator, M, N, K, T, void> &f,
                                const float *p, unsigned ldm, layout_t lay) {
    emu_load(file, line, f, p, ldm, lay == mem_col_major);
}
template <int M, int N, int K, class T>
static inline void emu_store(const char *file, int line, float *p, const fragment<accumulator, M, N, K, T, void> &f,
                             unsigned ldm, layout_t lay) {
    emu::WarpCall c = {"wmma::store_matrix_sync", file, line,
                       emu_ldst_resolve<fragment<accumulator, M, N, K, T, void>, true>, {p, nullptr, nullptr},
                       (void *)&f, {(long)ldm, lay == mem_col_major}};
    emu::warp_call(&c);
}

/* in[0] a, in[1] b, in[2] c, out d, of each lane: D = A B + C */
template <class FA, class FB, class FC> void emu_mma_resolve(emu::WarpCall **l) {
    const int M = FA::rows, K = FA::cols, N = FB::cols;
    static_assert((int)FB::rows == (int)FA::cols && (int)FC::rows == (int)FA::rows && (int)FC::cols == (int)FB::cols,
                  "mma shapes");
    float A[M][K], B[K][N], Cm[M][N];
    for (int lane = 0; lane < 32; lane++) {
        const FA *a = (const FA *)l[lane]->in[0];
        const FB *b = (const FB *)l[lane]->in[1];
        const FC *c = (const FC *)l[lane]->in[2];
        for (int e = 0; e < FA::num_elements; e++) {
            int p = emu_pos(lane, e, FA::num_elements, M * K);
            A[p / K][p % K] = emu_tf32_trunc(emu_float(a->x[e]));
        }
        for (int e = 0; e < FB::num_elements; e++) {
            int p = emu_pos(lane, e, FB::num_elements, K * N);
            B[p / N][p % N] = emu_tf32_trunc(emu_float(b->x[e]));
        }
        for (int e = 0; e < FC::num_elements; e++) {
            int p = emu_pos(lane, e, FC::num_elements, M * N);
            Cm[p / N][p % N] = c->x[e];
        }
    }
    for (int lane = 0; lane < 32; lane++) {
        FC *d = (FC *)l[lane]->out;
        for (int e = 0; e < FC::num_elements; e++) {
            int p = emu_pos(lane, e, FC::num_elements, M * N), r = p / N, col = p % N;
            float s = 0.0f;
            for (int k = 0; k < K; k++) s += A[r][k] * B[k][col];
            d->x[e] = s + Cm[r][col];
        }
    }
}
template <class FD, class FA, class FB, class FC>
static inline void emu_mma(const char *file, int line, FD &d, const FA &a, const FB &b, const FC &c) {
    emu::WarpCall w = {"wmma::mma_sync", file, line, emu_mma_resolve<FA, FB, FC>, {&a, &b, &c}, &d, {0, 0}};
    emu::warp_call(&w);
}
} // namespace wmma
} // namespace nvcuda

/* the source line of each call is kept for the emulator's messages */
#define load_matrix_sync(...) emu_load_sel(__FILE__, __LINE__, __VA_ARGS__)
#define store_matrix_sync(...) emu_store(__FILE__, __LINE__, __VA_ARGS__)
#define mma_sync(...) emu_mma(__FILE__, __LINE__, __VA_ARGS__)

#endif
