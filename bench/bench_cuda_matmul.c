/*
 * bench/bench_cuda_matmul.c - cuda_gemm (FP32 SIMT, TF32 and BF16 tensor
 * cores, each as its plan chooses and then at each tile unsplit) against
 * cuBLAS SGEMM, TF32 and BF16 (FP32 data, CUBLAS_COMPUTE_32F_FAST_16BF) on
 * the model's shapes, in the same run:
 * GPT-2 small's four products and the logits at T = 1024 and T = 220, and the
 * SAE's encoder and weight-gradient products. Each result is first checked
 * against cuBLAS (relative Frobenius error: FP32 < 1e-5, TF32 < 5e-3, BF16
 * < 1e-2), then
 * timed (CUDA events, warm-up, L2 flushed, median of 20). The plan's lines
 * name the tile and split it chose and the time it predicted.
 *
 * Goals: FP32 matmul >= 50% of cuBLAS SGEMM (issue 7); TF32 as fast as it
 * can be next to cuBLAS TF32 (issue 20).
 */
#include "bench/bench_cuda.h"

#if GS_CUDA
#include <cublas_v2.h>

#define H100_BF16_TFLOPS 989.0 /* dense bfloat16 tensor cores (H100 SXM datasheet) */

typedef struct {
    int tA, tB, M, N, K;
    const float *A, *B;
    float *C;
    CUDAMatmulKind kind;
    int tile, split, bf16; /* cuda_tune's tile, cuda_matmul_split, cuda_matmul_bf16 */
    cublasHandle_t h;
    int cublas_bf16; /* cuBLAS: FP32 data on bfloat16 tensor cores */
} GEMM;

static int run_ours(void *p) {
    GEMM *g = p;
    if (cuda_tune(0, g->tile) != 0 || cuda_matmul_split(g->split) != 0 || cuda_matmul_bf16(g->bf16) != 0) return -1;
    int lda = g->tA ? g->M : g->K, ldb = g->tB ? g->K : g->N;
    int rc = cuda_gemm(g->tA, g->tB, g->M, g->N, g->K, 1.0f, g->A, lda, g->B, ldb, 0.0f, g->C, g->N, NULL, g->kind);
    if (rc) fprintf(stderr, "cuda_gemm: %s\n", err_get());
    return rc;
}

/* Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T. */
static int run_cublas(void *p) {
    GEMM *g = p;
    const float one = 1.0f, zero = 0.0f;
    int lda = g->tA ? g->M : g->K, ldb = g->tB ? g->K : g->N;
    cublasStatus_t s;
    if (g->cublas_bf16)
        s = cublasGemmEx(g->h, g->tB ? CUBLAS_OP_T : CUBLAS_OP_N, g->tA ? CUBLAS_OP_T : CUBLAS_OP_N, g->N, g->M, g->K,
                         &one, g->B, CUDA_R_32F, ldb, g->A, CUDA_R_32F, lda, &zero, g->C, CUDA_R_32F, g->N,
                         CUBLAS_COMPUTE_32F_FAST_16BF, CUBLAS_GEMM_DEFAULT);
    else
        s = cublasSgemm(g->h, g->tB ? CUBLAS_OP_T : CUBLAS_OP_N, g->tA ? CUBLAS_OP_T : CUBLAS_OP_N, g->N, g->M, g->K,
                        &one, g->B, ldb, g->A, lda, &zero, g->C, g->N);
    if (s != CUBLAS_STATUS_SUCCESS) fprintf(stderr, "cuBLAS gemm: status %d\n", (int)s);
    return s == CUBLAS_STATUS_SUCCESS ? 0 : -1;
}

static int failures;

static void shape(cublasHandle_t h, const char *what, int tA, int tB, int M, int N, int K) {
    float *A = bench_dev_rand((long)M * K, 1, 1.0f), *B = bench_dev_rand((long)K * N, 2, 0.05f);
    float *C = NULL, *Cref = NULL;
    if (!A || !B || cuda_malloc((void **)&C, (size_t)M * N * 4) || cuda_malloc((void **)&Cref, (size_t)M * N * 4)) {
        fprintf(stderr, "%s: %s\n", what, err_get());
        failures++;
        goto out;
    }
    {
        GEMM g = {tA, tB, M, N, K, A, B, Cref, CUDA_MATMUL_FP32, 0, 0, 0, h, 0};
        double flops = 2.0 * M * N * K, bytes = 4.0 * ((double)M * K + (double)K * N + (double)M * N);
        char cfg[96];
        /* check: ours (each variant) against cuBLAS FP32 */
        cublasSetMathMode(h, CUBLAS_DEFAULT_MATH);
        if (run_cublas(&g) || cuda_sync()) { failures++; goto out; }
        float *ref = bench_host(Cref, (long)M * N);
        /* the plan's choice (tile 0, split 0), then each tile unsplit */
        const struct { CUDAMatmulKind kind; int tile, split, bf16; const char *name; double tol; } v[] = {
            {CUDA_MATMUL_FP32, 0, 0, 0, "fp32", 1e-5},          {CUDA_MATMUL_FP32, 64, 1, 0, "fp32 tile64", 1e-5},
            {CUDA_MATMUL_FP32, 128, 1, 0, "fp32 tile128", 1e-5}, {CUDA_MATMUL_TF32, 0, 0, 0, "tf32", 5e-3},
            {CUDA_MATMUL_TF32, 64, 1, 0, "tf32 tile64", 5e-3},   {CUDA_MATMUL_TF32, 128, 1, 0, "tf32 tile128", 5e-3},
            {CUDA_MATMUL_TF32, 0, 0, 1, "bf16", 1e-2},          {CUDA_MATMUL_TF32, 128, 1, 1, "bf16 tile128", 1e-2}};
        double ms_ours = 0, ms_tf32 = 0, ms_bf16 = 0;
        for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
            GEMM o = g;
            o.C = C, o.kind = v[i].kind, o.tile = v[i].tile, o.split = v[i].split, o.bf16 = v[i].bf16;
            cuda_memset(C, 0xff, (size_t)M * N * 4);
            if (run_ours(&o) || cuda_sync()) { failures++; continue; }
            float *out = bench_host(C, (long)M * N);
            double e = bench_rel_err(out, ref, (long)M * N);
            free(out);
            CUDAMatmulPlan p = {0};
            if (cuda_tune(0, v[i].tile) == 0 && cuda_matmul_split(v[i].split) == 0 && cuda_matmul_bf16(v[i].bf16) == 0)
                cuda_matmul_plan(&p, M, N, K, v[i].kind, 0);
            snprintf(cfg, sizeof cfg, "%s %s (%dx%dx%d)", what, v[i].name, M, N, K);
            if (!(e < v[i].tol)) {
                printf("FAIL %s: relative error %.2e vs cuBLAS (tolerance %.0e)\n", cfg, e, v[i].tol);
                failures++;
                continue;
            }
            double ms = bench_time_ms(run_ours, &o, 3, 20);
            bench_result("matmul", cfg, ms, flops, bytes,
                         v[i].bf16                       ? H100_BF16_TFLOPS
                         : v[i].kind == CUDA_MATMUL_TF32 ? H100_TF32_TFLOPS
                                                         : H100_FP32_TFLOPS);
            if (v[i].tile == 0)
                printf("PLAN matmul %-30s %s: tile %d, split %d (%ld blocks, %.2f waves), predicted %.4f ms\n", what,
                       v[i].name, p.tile, p.split, p.blocks, p.waves, p.predicted_us / 1e3);
            if (v[i].tile == 0)
                *(v[i].bf16 ? &ms_bf16 : v[i].kind == CUDA_MATMUL_TF32 ? &ms_tf32 : &ms_ours) = ms;
        }
        free(ref);
        cuda_tune(0, 0), cuda_matmul_split(0), cuda_matmul_bf16(0);
        double ms_cb = bench_time_ms(run_cublas, &g, 3, 20);
        snprintf(cfg, sizeof cfg, "%s cuBLAS sgemm (%dx%dx%d)", what, M, N, K);
        bench_result("matmul", cfg, ms_cb, flops, bytes, H100_FP32_TFLOPS);
        cublasSetMathMode(h, CUBLAS_TF32_TENSOR_OP_MATH);
        double ms_cbt = bench_time_ms(run_cublas, &g, 3, 20);
        cublasSetMathMode(h, CUBLAS_DEFAULT_MATH);
        snprintf(cfg, sizeof cfg, "%s cuBLAS tf32 (%dx%dx%d)", what, M, N, K);
        bench_result("matmul", cfg, ms_cbt, flops, bytes, H100_TF32_TFLOPS);
        g.cublas_bf16 = 1;
        double ms_cbb = bench_time_ms(run_cublas, &g, 3, 20);
        g.cublas_bf16 = 0;
        snprintf(cfg, sizeof cfg, "%s cuBLAS bf16 (%dx%dx%d)", what, M, N, K);
        bench_result("matmul", cfg, ms_cbb, flops, bytes, H100_BF16_TFLOPS);
        if (ms_ours > 0 && ms_cb > 0)
            printf("RATIO matmul %-30s ours fp32 / cuBLAS sgemm = %.2f of its speed (goal >= 0.50)\n", what,
                   ms_cb / ms_ours);
        if (ms_tf32 > 0 && ms_cbt > 0)
            printf("RATIO matmul %-30s ours tf32 / cuBLAS tf32 = %.2f of its speed\n", what, ms_cbt / ms_tf32);
        if (ms_bf16 > 0 && ms_cbb > 0)
            printf("RATIO matmul %-30s ours bf16 / cuBLAS bf16 = %.2f of its speed\n", what, ms_cbb / ms_bf16);
    }
out:
    cuda_free(A), cuda_free(B), cuda_free(C), cuda_free(Cref);
}
#endif

int main(void) {
    if (!bench_gpu_ready("bench_cuda_matmul")) return 0;
#if GS_CUDA
    cublasHandle_t h;
    if (cublasCreate(&h) != CUBLAS_STATUS_SUCCESS) {
        fprintf(stderr, "cublasCreate failed\n");
        return 1;
    }
    const int Ts[2] = {1024, 220};
    for (int i = 0; i < 2; i++) {
        int T = Ts[i];
        char w[64];
        snprintf(w, sizeof w, "T=%d qkv", T), shape(h, w, 0, 0, T, 2304, 768);
        snprintf(w, sizeof w, "T=%d attproj", T), shape(h, w, 0, 0, T, 768, 768);
        snprintf(w, sizeof w, "T=%d fc", T), shape(h, w, 0, 0, T, 3072, 768);
        snprintf(w, sizeof w, "T=%d fcproj", T), shape(h, w, 0, 0, T, 768, 3072);
        snprintf(w, sizeof w, "T=%d logits", T), shape(h, w, 0, 1, T, 50257, 768);
    }
    shape(h, "sae enc X W^T", 0, 1, 220, 6144, 3072);
    shape(h, "sae g_W z^T g_Y", 1, 0, 6144, 3072, 220);
    shape(h, "square 4096", 0, 0, 4096, 4096, 4096);
    cublasDestroy(h);
    printf("%s\n", failures ? "bench_cuda_matmul: FAILED checks (see above)" : "bench_cuda_matmul: all checks passed");
    return failures ? 1 : 0;
#endif
}
