/*
 * cuda/emu/cuda_runtime.h - a CUDA emulator for the tests: the engine's .cu
 * files, compiled unchanged as C++ by g++ (after cuda/emu/cu2cpp.sh rewrites
 * `k<<<grid, block, smem>>>(args)` and `extern __shared__`), run on the CPU.
 * A test tool, not a runtime: slow, one emulated device, kernels run to
 * completion at launch (so streams and events are synchronous no-ops).
 *
 *   cuda/emu/cu2cpp.sh cuda/cuda_ops.cu > ops.cpp
 *   g++ -std=c++17 -I. -Icuda/emu -c ops.cpp     // <cuda_runtime.h>, <mma.h> are these
 *
 * What it checks (each failure prints "cuda-emu: ..." with the kernel, block,
 * thread and source lines, then exits with status 3):
 *  - each CUDA thread is a fiber (a small context switch, cuda/emu/emu.cpp);
 *    blocks run one after another, __shared__ is per block and refilled
 *    with NaN bytes (0xff) before each block;
 *  - __syncthreads() waits for every thread of the block; threads waiting at
 *    different barriers, or a thread exiting while others wait, stop the run
 *    with both source lines;
 *  - warp shuffles, votes, __syncwarp and wmma wait for all 32 lanes at the
 *    same call (same source line); a lane elsewhere (another line, a barrier,
 *    exited) stops the run naming both lines. Only full masks are accepted;
 *  - wmma fragments use a scrambled element layout unlike any real one (code
 *    that indexes fragment elements by position fails), and mma_sync
 *    truncates its inputs to TF32 (10 mantissa bits);
 *  - device memory starts filled with NaN (the word 0x7fffffff: INT_MAX as
 *    an int); every allocation is in a table: kernel pointer arguments must
 *    point into a live allocation, cudaMemcpy/cudaMemset ranges must lie
 *    inside one, and a host pointer where device memory is expected (a
 *    swapped direction) is refused with cudaErrorInvalidValue and a message;
 *  - reads or writes past the end of an allocation, or of the dynamic shared
 *    memory, hit a guard page (a message names the allocation); the < 16
 *    bytes of alignment slack before it hold a canary checked after each
 *    block or launch (writes only). Built with AddressSanitizer, allocations
 *    and the dynamic shared memory are malloc'ed blocks and ASan reports;
 *    accesses before the start of an allocation are caught only there.
 *  - cp.async (cuda/emu/cuda_pipeline.h): each copy is queued and done only
 *    when __pipeline_wait_prior covers its batch, so shared memory read
 *    before the wait holds the fill or the previous tile; sizes, alignment
 *    and both address spaces are checked at the call;
 *  - launch configurations are checked as the device would (<= 1024 threads,
 *    grid limits, dynamic shared memory over 48 KB needs
 *    cudaFuncSetAttribute, at most 227 KB).
 *
 * Environment: CUDA_EMU_ORDER=forward (default) | reverse | random runs the
 * threads of a block between two synchronisation points in that order
 * (random: a new permutation each time, seeded by CUDA_EMU_SEED, default 1),
 * to expose code that depends on the order threads happen to run in.
 *
 * What it cannot do: real races (threads run one at a time and switch only at
 * barriers and warp calls, so a missing __syncwarp or a racy read between
 * barriers usually goes unseen; the reverse/random orders catch some), the
 * memory model (fences, volatile, visibility across blocks), the device's
 * rounding (fmaf and libm's expf/tanhf are the host's, not the device's
 * ulp-level results), atomics' contention and ordering, and speed (a GPU is
 * thousands of times faster; nothing here measures performance).
 */
#ifndef CUDA_EMU_CUDA_RUNTIME_H
#define CUDA_EMU_CUDA_RUNTIME_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <tuple>
#include <type_traits>
#include <utility>

/* ------------------------------------------------------------ qualifiers */
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(...)
#define __restrict__ __restrict
#define __align__(n) __attribute__((aligned(n)))
/* every __shared__ array lives in one linker section, refilled before each block */
#define __shared__ static __attribute__((section("emu_shared")))

/* ----------------------------------------------------------------- types */
struct uint3 {
    unsigned x, y, z;
};
struct dim3 {
    unsigned x, y, z;
    dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
struct __attribute__((aligned(16))) float4 {
    float x, y, z, w;
};
struct __attribute__((aligned(8))) float2 {
    float x, y;
};

typedef enum cudaError {
    cudaSuccess = 0,
    cudaErrorInvalidValue = 1,
    cudaErrorMemoryAllocation = 2,
    cudaErrorInvalidConfiguration = 9,
    cudaErrorInvalidDevicePointer = 17,
    cudaErrorInvalidMemcpyDirection = 21,
    cudaErrorNoDevice = 100,
    cudaErrorLaunchFailure = 719,
} cudaError_t;

enum cudaMemcpyKind {
    cudaMemcpyHostToHost = 0,
    cudaMemcpyHostToDevice = 1,
    cudaMemcpyDeviceToHost = 2,
    cudaMemcpyDeviceToDevice = 3,
    cudaMemcpyDefault = 4
};
enum cudaDeviceAttr {
    cudaDevAttrMaxThreadsPerBlock = 1,
    cudaDevAttrMaxSharedMemoryPerBlock = 8,
    cudaDevAttrMultiProcessorCount = 16,
    cudaDevAttrMaxSharedMemoryPerBlockOptin = 97
};
enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize = 8 };

struct cudaDeviceProp {
    char name[256];
    size_t totalGlobalMem, sharedMemPerBlock, sharedMemPerBlockOptin;
    int warpSize, maxThreadsPerBlock, major, minor, multiProcessorCount, l2CacheSize;
};
typedef struct emu_stream *cudaStream_t;
typedef struct emu_event *cudaEvent_t;

/* ------------------------------------------------------------ runtime API */
cudaError_t cudaGetDeviceCount(int *n);
cudaError_t cudaGetDevice(int *dev);
cudaError_t cudaSetDevice(int dev);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int dev);
cudaError_t cudaDeviceGetAttribute(int *v, cudaDeviceAttr a, int dev);
cudaError_t cudaDeviceSynchronize(void);
cudaError_t cudaGetLastError(void);
cudaError_t cudaPeekAtLastError(void);
const char *cudaGetErrorString(cudaError_t e);
const char *cudaGetErrorName(cudaError_t e);
cudaError_t cudaMalloc(void **p, size_t bytes);
template <class T> static inline cudaError_t cudaMalloc(T **p, size_t bytes) { return cudaMalloc((void **)p, bytes); }
cudaError_t cudaFree(void *p);
cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind, cudaStream_t s = 0);
cudaError_t cudaMemset(void *p, int byte, size_t bytes);
cudaError_t cudaMemsetAsync(void *p, int byte, size_t bytes, cudaStream_t s = 0);
cudaError_t cudaFuncSetAttribute(const void *fn, cudaFuncAttribute a, int v);
cudaError_t cudaStreamCreate(cudaStream_t *s);
cudaError_t cudaStreamDestroy(cudaStream_t s);
cudaError_t cudaStreamSynchronize(cudaStream_t s);
cudaError_t cudaEventCreate(cudaEvent_t *e);
cudaError_t cudaEventDestroy(cudaEvent_t e);
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s = 0);
cudaError_t cudaEventSynchronize(cudaEvent_t e);
cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t a, cudaEvent_t b);

/* ------------------------------------------------------ the emulator core */
namespace emu {
extern uint3 thread_idx, block_idx;
extern dim3 block_dim, grid_dim;

/* A collective call of one lane: the lanes of a warp post one each; when all
 * 32 have arrived at the same call, resolve(lanes) computes every lane's result. */
struct WarpCall {
    const char *what, *file;
    int line;
    void (*resolve)(WarpCall **lanes);
    const void *in[3];
    void *out;
    long arg[2];
};
void warp_call(WarpCall *c);                 /* post and wait (emu.cpp) */
void syncthreads(const char *file, int line); /* the block barrier */
[[noreturn]] void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void *dynamic_shared(void);

struct Cfg {
    dim3 grid, block;
    size_t smem;
    Cfg(dim3 g, dim3 b, size_t s = 0, cudaStream_t = 0) : grid(g), block(b), smem(s) {}
};
/* Launch: checks cfg and the pointer arguments, then runs every block. */
int launch_begin(const Cfg &c, const void *fn, const char *name, const char *file, int line);
void check_arg(int i, const void *p);
void run_grid(void (*body)(void *), void *ctx);

template <class T> static inline uintptr_t as_addr(T v) {
    if constexpr (std::is_pointer<T>::value) return (uintptr_t)v;
    else return 0;
}
template <class Tuple, size_t... I>
void check_args(const Tuple &t, std::index_sequence<I...>) {
    int dummy[] = {0, (std::is_pointer<typename std::tuple_element<I, Tuple>::type>::value
                           ? (check_arg((int)I, (const void *)as_addr(std::get<I>(t))), 0)
                           : 0)...};
    (void)dummy;
}

/* emu::launch(cfg, name, file, line, kernel)(args...): the arguments convert
 * to the kernel's parameter types at the call, as a real launch's do. */
template <class... P> struct Launcher {
    const Cfg &c;
    const char *name, *file;
    int line;
    void (*k)(P...);
    void operator()(P... p) const {
        if (launch_begin(c, (const void *)k, name, file, line) != 0) return;
        struct Ctx {
            void (*k)(P...);
            std::tuple<P...> args;
        } ctx{k, std::tuple<P...>(p...)};
        check_args(ctx.args, std::index_sequence_for<P...>{});
        run_grid([](void *x) { Ctx *c = (Ctx *)x; std::apply(c->k, c->args); }, &ctx);
    }
};
template <class... P>
Launcher<P...> launch(const Cfg &c, const char *name, const char *file, int line, void (*k)(P...)) {
    return Launcher<P...>{c, name, file, line, k};
}

/* ---- shuffles and votes */
enum { SHFL_IDX, SHFL_XOR, SHFL_UP, SHFL_DOWN };
template <class T> void shfl_resolve(WarpCall **l) {
    for (int i = 0; i < 32; i++) {
        const int kind = (int)l[i]->arg[0], w = (int)l[i]->arg[1], v = *(const int *)l[i]->in[1];
        const int base = i & ~(w - 1);
        int src = kind == SHFL_IDX ? base + (v & (w - 1)) : kind == SHFL_XOR ? i ^ v : kind == SHFL_UP ? i - v : i + v;
        if (src < base || src >= base + w) src = i;
        *(T *)l[i]->out = *(const T *)l[src]->in[0];
    }
}
template <class T>
static inline T shfl(const char *what, const char *file, int line, int kind, unsigned mask, T v, int s, int w = 32) {
    static_assert(sizeof(T) <= 8, "shuffle of a type wider than 8 bytes");
    if (mask != 0xffffffffu) fatal("%s:%d: %s with mask %#x: the emulator supports full warps only", file, line, what, mask);
    if (w < 1 || w > 32 || (w & (w - 1))) fatal("%s:%d: %s width %d is not a power of 2 <= 32", file, line, what, w);
    T r;
    WarpCall c = {what, file, line, shfl_resolve<T>, {&v, &s, nullptr}, &r, {kind, w}};
    warp_call(&c);
    return r;
}
void vote_resolve(WarpCall **l);
static inline unsigned vote(const char *what, const char *file, int line, int kind, unsigned mask, int pred) {
    if (mask != 0xffffffffu) fatal("%s:%d: %s with mask %#x: the emulator supports full warps only", file, line, what, mask);
    unsigned r = 0;
    WarpCall c = {what, file, line, vote_resolve, {&pred, nullptr, nullptr}, &r, {kind, 0}};
    warp_call(&c);
    return r;
}
} /* namespace emu */

#define threadIdx (emu::thread_idx)
#define blockIdx (emu::block_idx)
#define blockDim (emu::block_dim)
#define gridDim (emu::grid_dim)
static const int warpSize = 32;
#define __syncthreads() emu::syncthreads(__FILE__, __LINE__)
#define __syncwarp(...) ((void)emu::vote("__syncwarp", __FILE__, __LINE__, 0, 0xffffffffu, 1))
#define __shfl_sync(m, v, ...) emu::shfl("__shfl_sync", __FILE__, __LINE__, emu::SHFL_IDX, m, v, __VA_ARGS__)
#define __shfl_xor_sync(m, v, ...) emu::shfl("__shfl_xor_sync", __FILE__, __LINE__, emu::SHFL_XOR, m, v, __VA_ARGS__)
#define __shfl_up_sync(m, v, ...) emu::shfl("__shfl_up_sync", __FILE__, __LINE__, emu::SHFL_UP, m, v, __VA_ARGS__)
#define __shfl_down_sync(m, v, ...) emu::shfl("__shfl_down_sync", __FILE__, __LINE__, emu::SHFL_DOWN, m, v, __VA_ARGS__)
#define __ballot_sync(m, p) emu::vote("__ballot_sync", __FILE__, __LINE__, 1, m, (p) ? 1 : 0)
#define __any_sync(m, p) (emu::vote("__any_sync", __FILE__, __LINE__, 1, m, (p) ? 1 : 0) != 0u)
#define __all_sync(m, p) (emu::vote("__all_sync", __FILE__, __LINE__, 1, m, (p) ? 1 : 0) == 0xffffffffu)

/* ------------------------------------------------ device math and bits */
static inline unsigned __float_as_uint(float f) { unsigned u; memcpy(&u, &f, 4); return u; }
static inline float __uint_as_float(unsigned u) { float f; memcpy(&f, &u, 4); return f; }
static inline int __float_as_int(float f) { int u; memcpy(&u, &f, 4); return u; }
static inline float __int_as_float(int u) { float f; memcpy(&f, &u, 4); return f; }
static inline int __popc(unsigned x) { return __builtin_popcount(x); }
static inline int __clz(unsigned x) { return x ? __builtin_clz(x) : 32; }
static inline int __ffs(unsigned x) { return __builtin_ffs((int)x); }
static inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
static inline float __fdividef(float a, float b) { return a / b; }
static inline float __saturatef(float x) { return x < 0.0f ? 0.0f : x > 1.0f ? 1.0f : x; }
static inline int min(int a, int b) { return a < b ? a : b; }
static inline int max(int a, int b) { return a > b ? a : b; }
static inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
static inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
static inline long min(long a, long b) { return a < b ? a : b; }
static inline long max(long a, long b) { return a > b ? a : b; }
static inline long long min(long long a, long long b) { return a < b ? a : b; }
static inline long long max(long long a, long long b) { return a > b ? a : b; }
static inline unsigned long min(unsigned long a, unsigned long b) { return a < b ? a : b; }
static inline unsigned long max(unsigned long a, unsigned long b) { return a > b ? a : b; }
static inline float min(float a, float b) { return fminf(a, b); }
static inline float max(float a, float b) { return fmaxf(a, b); }
static inline double min(double a, double b) { return fmin(a, b); }
static inline double max(double a, double b) { return fmax(a, b); }

/* Atomics: one thread runs at a time and switches only at barriers and warp
 * calls, so a read-modify-write is atomic by construction. */
template <class T> static inline T atomicAdd(T *p, T v) { T o = *p; *p = o + v; return o; }
template <class T> static inline T atomicSub(T *p, T v) { T o = *p; *p = o - v; return o; }
template <class T> static inline T atomicMax(T *p, T v) { T o = *p; *p = o > v ? o : v; return o; }
template <class T> static inline T atomicMin(T *p, T v) { T o = *p; *p = o < v ? o : v; return o; }
template <class T> static inline T atomicExch(T *p, T v) { T o = *p; *p = v; return o; }
template <class T> static inline T atomicCAS(T *p, T c, T v) { T o = *p; if (o == c) *p = v; return o; }
template <class T> static inline T atomicOr(T *p, T v) { T o = *p; *p = o | v; return o; }
template <class T> static inline T atomicAnd(T *p, T v) { T o = *p; *p = o & v; return o; }
static inline void __threadfence(void) {}
static inline void __threadfence_block(void) {}

#endif
