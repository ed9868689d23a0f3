/*
 * cuda/cuda_core.cu - device discovery, memory, and the two helpers the
 * benchmarks need (deterministic fill, L2 flush).
 */
#include "cuda/cuda_common.cuh"

#include <stdio.h>

int cuda_available(void) {
    static int cached = -1;
    if (cached >= 0) return cached;
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    cached = (e == cudaSuccess && n > 0) ? 1 : 0;
    if (e != cudaSuccess) (void)cudaGetLastError(); /* clear the sticky "no device" state */
    return cached;
}

int cuda_describe(char *buf, size_t n) {
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess || count == 0) {
        snprintf(buf, n, "no CUDA device (%s)", e != cudaSuccess ? cudaGetErrorString(e) : "count is 0");
        return err_set("cuda_describe: no CUDA device (%s)",
                       e != cudaSuccess ? cudaGetErrorString(e) : "count is 0");
    }
    cudaDeviceProp p;
    CU_TRY(cudaGetDeviceProperties(&p, 0));
    snprintf(buf, n, "%s, cc %d.%d, %d SMs, %.0f MB L2, %.0f GiB", p.name, p.major, p.minor,
             p.multiProcessorCount, p.l2CacheSize / 1e6, p.totalGlobalMem / 1073741824.0);
    return 0;
}

int cuda_sync(void) {
    CU_TRY(cudaDeviceSynchronize());
    return 0;
}

int cuda_malloc(void **d_p, size_t bytes) {
    *d_p = NULL;
    cudaError_t e = cudaMalloc(d_p, bytes ? bytes : 4);
    if (e != cudaSuccess) {
        *d_p = NULL;
        (void)cudaGetLastError();
        return err_set("cuda_malloc: %zu bytes: %s%s", bytes, cudaGetErrorString(e),
                       e == cudaErrorMemoryAllocation ? " (free some GPU memory or use smaller sizes)" : "");
    }
    return 0;
}

void cuda_free(void *d_p) {
    if (d_p) (void)cudaFree(d_p);
}

int cuda_upload(void *d_dst, const void *src, size_t bytes) {
    if (bytes == 0) return 0;
    CU_TRY(cudaMemcpy(d_dst, src, bytes, cudaMemcpyHostToDevice));
    return 0;
}

int cuda_download(void *dst, const void *d_src, size_t bytes) {
    if (bytes == 0) return cuda_sync();
    CU_TRY(cudaMemcpy(dst, d_src, bytes, cudaMemcpyDeviceToHost));
    return 0;
}

int cuda_copy(void *d_dst, const void *d_src, size_t bytes) {
    if (bytes == 0) return 0;
    CU_TRY(cudaMemcpy(d_dst, d_src, bytes, cudaMemcpyDeviceToDevice));
    return 0;
}

int cuda_memset(void *d_p, int byte, size_t bytes) {
    if (bytes == 0) return 0;
    CU_TRY(cudaMemset(d_p, byte, bytes));
    return 0;
}

/* splitmix64 of (seed, i): independent of launch shape, so every GPU and the
 * CPU (if it ever needs to) see the same numbers. */
__device__ __forceinline__ unsigned long long mix64(unsigned long long x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

__global__ void fill_uniform_kernel(float *x, size_t n, unsigned long long seed, float scale) {
    size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        unsigned long long r = mix64(seed * 0x100000001B3ull + i);
        float u = (float)(r >> 40) * (1.0f / 16777216.0f); /* [0, 1), 24 bits */
        x[i] = (2.0f * u - 1.0f) * scale;
    }
}

int cuda_fill_uniform(float *d_x, size_t n, unsigned long long seed, float scale) {
    if (n == 0) return 0;
    long blocks = (long)((n + 255) / 256);
    if (blocks > 65536) blocks = 65536;
    fill_uniform_kernel<<<(unsigned)blocks, 256>>>(d_x, n, seed, scale);
    CU_LAUNCHED();
    return 0;
}

/* The L2 flush buffer lives for the process (benchmarks call this between runs). */
static void *flush_buf;
static size_t flush_bytes;

int cuda_flush_l2(void) {
    if (!flush_buf) {
        cudaDeviceProp p;
        CU_TRY(cudaGetDeviceProperties(&p, 0));
        flush_bytes = (size_t)p.l2CacheSize * 2;
        if (flush_bytes == 0) flush_bytes = 64u << 20;
        CU_TRY(cudaMalloc(&flush_buf, flush_bytes));
    }
    /* memset writes every line, evicting whatever the timed kernel would reuse */
    CU_TRY(cudaMemsetAsync(flush_buf, (int)(flush_bytes & 0xff), flush_bytes));
    return 0;
}

int cu_block_size = 256;
int cu_matmul_tile = 0;

int cuda_tune(int block_size, int matmul_tile) {
    if (block_size != 0 && (block_size < 32 || block_size > 1024 || block_size % 32 != 0))
        return err_set("cuda_tune: block size %d: use 0 or a multiple of 32 in [32, 1024]", block_size);
    if (matmul_tile != 0 && matmul_tile != 64 && matmul_tile != 128)
        return err_set("cuda_tune: matmul tile %d: use 0, 64 or 128", matmul_tile);
    cu_block_size = block_size ? block_size : 256;
    cu_matmul_tile = matmul_tile;
    return 0;
}
