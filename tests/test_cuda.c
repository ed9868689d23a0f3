/*
 * tests/test_cuda.c - every GPT-2 forward-pass kernel in cuda/ against its CPU
 * reference (gpt2/ops.h, core/gemm.h), at several shapes including GPT-2
 * small's and odd sizes, then the whole forward pass (captures and logits)
 * of a synthetic GPT-2-small checkpoint against gpt2_forward.
 *
 * With GPT2SAE_CUDA_QUICK=1 the whole-model checks are skipped, with =2 only
 * the small shapes run (both for runs under compute-sanitizer). Without a GPU (or in a build without CUDA) every
 * GPU check is reported as skipped, never as passed; the only checks that run then are that the API
 * fails cleanly, with a message, instead of crashing.
 *
 * Method: random inputs from a fixed seed (never zeros), outputs poisoned
 * with NaN before each kernel (an unwritten element fails), elementwise
 * |gpu - cpu| <= atol + rtol |cpu| with the worst element printed.
 * Tolerances, FP32 (different summation orders, nothing else):
 *   encoder, residual  exact (one addition of the same two floats)
 *   layernorm          atol 1e-5, rtol 1e-4 (rows of mean 100: atol 1e-6)
 *   gelu               atol 1e-6, rtol 1e-5 (device tanhf is within 2 ulp)
 *   matmul / gemm      atol 1e-4, rtol 1e-4 (K up to 3072, |terms| ~ 0.05)
 *   attention          atol 2e-5, rtol 1e-4
 *   forward, 12 layers capture atol 1e-4 rtol 1e-3, logits atol 1e-3 rtol 1e-3
 *   TF32 variants      relative Frobenius error < 5e-3 (TF32 keeps 10 mantissa bits)
 *   BF16 variants      relative Frobenius error < 1e-2 (bfloat16 keeps 7: ~3e-3)
 */
#include "core/gemm.h"
#include "core/util.h"
#include "cuda/cuda.h"
#include "gpt2/gpt2.h"
#include "gpt2/model.h"
#include "gpt2/ops.h"
#include "tests/test.h"
#include "tests/test_cuda.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Built twice: against the CUDA runtime (make CUDA=1) and against the
 * emulator in cuda/emu (tests/test_cuda_emu, -DGS_CUDA_EMU=1), which runs
 * every kernel on the CPU: there, the small shapes plus the ones that reach
 * every code path (attention with several key tiles, split-K, the seed's
 * top-k) run, not the whole model (minutes emulated). */

static double rel_err(const float *a, const float *b, long n) {
    double num = 0, den = 0;
    for (long i = 0; i < n; i++) {
        double d = (double)a[i] - b[i];
        num += d * d, den += (double)b[i] * b[i];
    }
    return isfinite(num) && den > 0 ? sqrt(num / den) : INFINITY;
}

/* ------------------------------------------------------------------ ops */

static void test_encoder(int T, int C, int V) {
    if (!gpu) { SKIP("encoder T=%d C=%d V=%d: no GPU", T, C, V); return; }
    float *wte = rand_vec((long)V * C, 0.1f), *wpe = rand_vec((long)T * C, 0.1f);
    int32_t *ids = xmalloc((size_t)T * sizeof *ids);
    for (int t = 0; t < T; t++) ids[t] = (int32_t)(rng_u64(&rng) % (uint64_t)V);
    float *ref = xmalloc((size_t)T * C * sizeof(float));
    encoder_forward(ref, ids, wte, wpe, T, C);
    float *d_wte = dev_from(wte, (size_t)V * C * 4), *d_wpe = dev_from(wpe, (size_t)T * C * 4);
    int32_t *d_ids = dev_from(ids, (size_t)T * 4);
    float *d_out = dev_poisoned((size_t)T * C * 4);
    if (d_wte && d_wpe && d_ids && d_out) {
        int rc = cuda_encoder_forward(d_out, d_ids, d_wte, d_wpe, T, C, V);
        CHECK(rc == 0, "cuda_encoder_forward returns 0 (%s)", rc ? err_get() : "");
        float *out = host_from(d_out, (long)T * C);
        char name[64];
        snprintf(name, sizeof name, "encoder T=%d C=%d", T, C);
        check_close(name, out, ref, (long)T * C, 0.0f, 0.0f);
        free(out);
    }
    cuda_free(d_wte), cuda_free(d_wpe), cuda_free(d_ids), cuda_free(d_out);
    free(wte), free(wpe), free(ids), free(ref);
}

/* Rows of mean `offset` (+-2): 0.5, or 100 where E[x^2] - E[x]^2 or an
 * uncorrected mean would lose digits (the CPU's corrected two-pass keeps them). */
static void test_layernorm_at(int T, int C, float offset) {
    if (!gpu) { SKIP("layernorm T=%d C=%d mean %g: no GPU", T, C, offset); return; }
    float *x = rand_vec((long)T * C, 2.0f), *w = rand_vec(C, 1.0f), *b = rand_vec(C, 0.5f);
    for (long i = 0; i < (long)T * C; i++) x[i] += offset; /* a non-zero mean */
    float *ref = xmalloc((size_t)T * C * sizeof(float));
    layernorm_forward(ref, x, w, b, T, C, 1e-5f);
    float *d_x = dev_from(x, (size_t)T * C * 4), *d_w = dev_from(w, (size_t)C * 4), *d_b = dev_from(b, (size_t)C * 4);
    float *d_out = dev_poisoned((size_t)T * C * 4);
    if (d_x && d_w && d_b && d_out) {
        int rc = cuda_layernorm_forward(d_out, NULL, NULL, d_x, d_w, d_b, T, C, 1e-5f);
        CHECK(rc == 0, "cuda_layernorm_forward returns 0 (%s)", rc ? err_get() : "");
        float *out = host_from(d_out, (long)T * C);
        char name[64];
        snprintf(name, sizeof name, "layernorm T=%d C=%d mean %g", T, C, offset);
        /* at mean 100 the same algorithm agrees to ~1e-7; a plain two-pass is off by ~1e-5 */
        check_close(name, out, ref, (long)T * C, offset > 10.0f ? 1e-6f : 1e-5f, 1e-4f);
        free(out);
    }
    cuda_free(d_x), cuda_free(d_w), cuda_free(d_b), cuda_free(d_out);
    free(x), free(w), free(b), free(ref);
}
static void test_layernorm(int T, int C) { test_layernorm_at(T, C, 0.5f); }

static void test_matmul(int T, int C, int OC, int with_bias) {
    if (!gpu) {
        SKIP("matmul FP32 T=%d C=%d OC=%d: no GPU", T, C, OC);
        SKIP("matmul T=%d C=%d OC=%d TF32: no GPU", T, C, OC);
        SKIP("matmul T=%d C=%d OC=%d BF16: no GPU", T, C, OC);
        return;
    }
    float *x = rand_vec((long)T * C, 1.0f), *w = rand_vec((long)C * OC, 0.05f), *b = rand_vec(OC, 0.1f);
    float *ref = xmalloc((size_t)T * OC * sizeof(float));
    /* the plain reference where it is quick, the fast path (tested against it in gpt2/) where not */
    if ((double)T * C * OC < 2e8) matmul_forward(ref, x, w, with_bias ? b : NULL, T, C, OC);
    else matmul_forward_fast(ref, x, w, with_bias ? b : NULL, T, C, OC);
    float *d_x = dev_from(x, (size_t)T * C * 4), *d_w = dev_from(w, (size_t)C * OC * 4);
    float *d_b = dev_from(b, (size_t)OC * 4), *d_out = dev_poisoned((size_t)T * OC * 4);
    if (d_x && d_w && d_b && d_out) {
        char name[96];
        int rc = cuda_matmul_forward(d_out, d_x, d_w, with_bias ? d_b : NULL, T, C, OC, CUDA_MATMUL_FP32);
        CHECK(rc == 0, "cuda_matmul_forward FP32 returns 0 (%s)", rc ? err_get() : "");
        float *out = host_from(d_out, (long)T * OC);
        snprintf(name, sizeof name, "matmul FP32 T=%d C=%d OC=%d%s", T, C, OC, with_bias ? " +bias" : "");
        check_close(name, out, ref, (long)T * OC, 1e-4f, 1e-4f);
        free(out);
        cuda_memset(d_out, 0xff, (size_t)T * OC * 4);
        rc = cuda_matmul_forward(d_out, d_x, d_w, with_bias ? d_b : NULL, T, C, OC, CUDA_MATMUL_TF32);
        out = host_from(d_out, (long)T * OC);
        double e = rel_err(out, ref, (long)T * OC);
        CHECK(rc == 0 && e < 5e-3, "matmul TF32 T=%d C=%d OC=%d: relative error %.2e (< 5e-3)", T, C, OC, e);
        free(out);
        cuda_memset(d_out, 0xff, (size_t)T * OC * 4);
        rc = cuda_matmul_bf16(1);
        if (rc == 0) rc = cuda_matmul_forward(d_out, d_x, d_w, with_bias ? d_b : NULL, T, C, OC, CUDA_MATMUL_TF32);
        cuda_matmul_bf16(0);
        out = host_from(d_out, (long)T * OC);
        e = rel_err(out, ref, (long)T * OC);
        CHECK(rc == 0 && e < 1e-2, "matmul BF16 T=%d C=%d OC=%d: relative error %.2e (< 1e-2)", T, C, OC, e);
        free(out);
    }
    cuda_free(d_x), cuda_free(d_w), cuda_free(d_b), cuda_free(d_out);
    free(x), free(w), free(b), free(ref);
}

/* cuda_gemm with transposes, alpha, beta, bias and padded leading dimensions
 * vs gemm_ref, FP32 and TF32, each under cuda_tune's tile and
 * cuda_matmul_split (0, 0: the plan's own choice; the plan used is printed).
 * aligned: leading dimensions a multiple of 4 floats (the TF32 kernel's
 * 16-byte copies), else odd ones (its element-wise copies). */
static void test_gemm_plan(int tA, int tB, int M, int N, int K, float alpha, float beta, int tile, int split,
                           int aligned) {
    char name[160];
    int n = snprintf(name, sizeof name, "gemm tA=%d tB=%d M=%d N=%d K=%d a=%g b=%g (+bias, %s ld)", tA, tB, M, N, K,
                     alpha, beta, aligned ? "aligned" : "padded");
    if (!gpu) {
        SKIP("%s FP32: no GPU", name);
        SKIP("%s TF32: no GPU", name);
        SKIP("%s BF16: no GPU", name);
        return;
    }
    const int ua = aligned ? 4 : 3, ub = aligned ? 8 : 5; /* padding of each leading dimension */
    int lda = ((tA ? M : K) + ua) / 4 * 4 + (aligned ? 0 : 3), ldb = ((tB ? K : N) + ub) / 4 * 4 + (aligned ? 0 : 1);
    int ldc = N + 2;
    long na = (long)(tA ? K : M) * lda, nb = (long)(tB ? N : K) * ldb, nc = (long)M * ldc;
    float *A = rand_vec(na, 1.0f), *B = rand_vec(nb, 0.1f), *C0 = rand_vec(nc, 1.0f), *bias = rand_vec(N, 0.5f);
    float *ref = xmalloc((size_t)nc * sizeof(float));
    memcpy(ref, C0, (size_t)nc * sizeof(float));
    gemm_ref(tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, ref, ldc);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) ref[(long)i * ldc + j] += bias[j];
    float *d_A = dev_from(A, (size_t)na * 4), *d_B = dev_from(B, (size_t)nb * 4), *d_C = dev_from(C0, (size_t)nc * 4);
    float *d_bias = dev_from(bias, (size_t)N * 4);
    CHECK(cuda_tune(0, tile) == 0 && cuda_matmul_split(split) == 0, "tile %d, split %d accepted", tile, split);
    static const char *kinds[3] = {"FP32", "TF32", "BF16"}; /* BF16: TF32 products after cuda_matmul_bf16(1) */
    for (int v = 0; v < 3 && d_A && d_B && d_C && d_bias; v++) {
        const CUDAMatmulKind kind = v ? CUDA_MATMUL_TF32 : CUDA_MATMUL_FP32;
        CUDAMatmulPlan p = {0};
        int rc = cuda_matmul_bf16(v == 2);
        if (rc == 0) rc = cuda_matmul_plan(&p, M, N, K, kind, 0);
        snprintf(name + n, sizeof name - (size_t)n, " %s [tile %d split %d%s]", kinds[v], p.tile, p.split,
                 p.bf16 ? " bf16" : "");
        if (cuda_upload(d_C, C0, (size_t)nc * 4) != 0) break;
        if (rc == 0) rc = cuda_gemm(tA, tB, M, N, K, alpha, d_A, lda, d_B, ldb, beta, d_C, ldc, d_bias, kind);
        CHECK(rc == 0, "cuda_gemm returns 0 (%s)", rc ? err_get() : "");
        float *out = host_from(d_C, nc);
        if (kind == CUDA_MATMUL_FP32) {
            check_close(name, out, ref, nc, 1e-4f, 1e-4f); /* the padding columns must be untouched too */
        } else {
            double e = rel_err(out, ref, nc), tol = v == 2 ? 1e-2 : 5e-3;
            CHECK(e < tol, "%s: relative error %.2e (< %.0e)", name, e, tol);
        }
        free(out);
    }
    cuda_tune(0, 0), cuda_matmul_split(0), cuda_matmul_bf16(0);
    cuda_free(d_A), cuda_free(d_B), cuda_free(d_C), cuda_free(d_bias);
    free(A), free(B), free(C0), free(bias), free(ref);
}
static void test_gemm(int tA, int tB, int M, int N, int K, float alpha, float beta) {
    test_gemm_plan(tA, tB, M, N, K, alpha, beta, 0, 0, 0);
}

/* Every tile and a forced split of both kinds at one shape, aligned and not. */
static void test_gemm_every_plan(int tA, int tB, int M, int N, int K) {
    static const int tiles[2] = {64, 128}, splits[3] = {0, 1, 3};
    for (int t = 0; t < 2; t++)
        for (int s = 0; s < 3; s++) test_gemm_plan(tA, tB, M, N, K, 0.5f, 1.0f, tiles[t], splits[s], (t + s) % 2);
}

/* The plan (cuda_matmul_plan) on a 132-SM GPU: its invariants over a grid
 * of shapes (edge ones too), then its fit to the first device run (an H200,
 * 132 SMs, 2026-11-30, commit 4a0803a; cuda/NOTES.md): the predicted time of
 * each FP32 tile within 15% of the measured one, the measured faster tile
 * chosen where the two differed by more than 10%, and a split where the
 * split measured 2.5x faster. */
static void test_plan(void) {
    if (!gpu) { SKIP("matmul plan: no GPU (or a build without CUDA)"); return; }
    static const int sizes[] = {1, 37, 64, 65, 220, 1024, 6144}, ks[] = {0, 1, 53, 255, 256, 700, 3072, 6144};
    const int ns = (int)(sizeof sizes / sizeof sizes[0]), nk = (int)(sizeof ks / sizeof ks[0]);
    int bad = 0, plans = 0, splits = 0;
    char first[200] = "";
    for (int v = 0; v < 3; v++) /* FP32, TF32, TF32 on bfloat16 */
        for (int sms = 20; sms <= 132; sms += 112)
            for (int a = 0; a < ns; a++)
                for (int b = 0; b < ns; b++)
                    for (int c = 0; c < nk; c++) {
                        const int M = sizes[a], N = sizes[b], K = ks[c];
                        CUDAMatmulPlan p = {0};
                        int rc = cuda_matmul_bf16(v == 2);
                        if (rc == 0) rc = cuda_matmul_plan(&p, M, N, K, v ? CUDA_MATMUL_TF32 : CUDA_MATMUL_FP32, sms);
                        const int t = p.tile, S = p.split;
                        const long blocks = (long)((M + t - 1) / (t ? t : 1)) * ((N + t - 1) / (t ? t : 1)) * S;
                        int ok = rc == 0 && (t == 64 || t == 128) && S >= 1 && S <= 16 && p.blocks == blocks &&
                                 isfinite(p.predicted_us) && p.predicted_us >= 0 && p.waves > 0;
                        if (ok && S > 1)
                            ok = p.kchunk % 32 == 0 && p.kchunk >= 256 && (long)(S - 1) * p.kchunk < K &&
                                 K <= (long)S * p.kchunk && (long)S * M * N <= (1L << 25);
                        if (ok && S == 1) ok = p.kchunk == K;
                        if (ok) ok = p.bf16 == (v == 2);
                        plans++, splits += S > 1;
                        if (!ok && !bad++)
                            snprintf(first, sizeof first, "variant %d M=%d N=%d K=%d sms=%d: rc %d tile %d split %d kchunk %d",
                                     v, M, N, K, sms, rc, t, S, p.kchunk);
                    }
    cuda_matmul_bf16(0);
    CHECK(bad == 0 && splits > 0, "matmul plan: %d plans (%d split), tile 64/128, whole k-tiles, slices >= 256 and "
          "non-empty, %d bad %s", plans, splits, bad, first);

    static const struct { const char *what; int M, N, K; double ms_auto, ms64, ms128; } run1[] = {
        {"T=1024 qkv", 1024, 2304, 768, 0.2236, 0.1504, 0.2237},
        {"T=1024 attproj", 1024, 768, 768, 0.0650, 0.0649, 0.1187},
        {"T=1024 fc", 1024, 3072, 768, 0.2278, 0.1800, 0.2278},
        {"T=1024 fcproj", 1024, 768, 3072, 0.2406, 0.2404, 0.4474},
        {"T=1024 logits", 1024, 50257, 768, 2.9144, 2.7129, 2.9148},
        {"T=220 qkv", 220, 2304, 768, 0.0640, 0.0638, 0.1206},
        {"T=220 attproj", 220, 768, 768, 0.0467, 0.0467, 0.1192},
        {"T=220 fc", 220, 3072, 768, 0.0652, 0.0651, 0.1209},
        {"T=220 fcproj", 220, 768, 3072, 0.0676, 0.1715, 0.4520}, /* auto was split 6 ways */
        {"T=220 logits", 220, 50257, 768, 0.7374, 0.6837, 0.7378},
        {"sae enc X W^T", 220, 6144, 3072, 0.3562, 0.3558, 0.4623},
        {"sae g_W z^T g_Y", 6144, 3072, 220, 0.3422, 0.3149, 0.3426},
        {"square 4096", 4096, 4096, 4096, 4.7378, 4.7686, 4.7348},
    };
    for (size_t i = 0; i < sizeof run1 / sizeof run1[0]; i++) {
        const int M = run1[i].M, N = run1[i].N, K = run1[i].K;
        CUDAMatmulPlan p64 = {0}, p128 = {0}, pick = {0}, best = {0};
        int rc = cuda_matmul_split(1);
        rc |= cuda_tune(0, 64) | cuda_matmul_plan(&p64, M, N, K, CUDA_MATMUL_FP32, 132);
        rc |= cuda_tune(0, 128) | cuda_matmul_plan(&p128, M, N, K, CUDA_MATMUL_FP32, 132);
        rc |= cuda_tune(0, 0) | cuda_matmul_plan(&pick, M, N, K, CUDA_MATMUL_FP32, 132);
        rc |= cuda_matmul_split(0) | cuda_matmul_plan(&best, M, N, K, CUDA_MATMUL_FP32, 132);
        const double e64 = p64.predicted_us / (1e3 * run1[i].ms64) - 1, e128 = p128.predicted_us / (1e3 * run1[i].ms128) - 1;
        CHECK(rc == 0 && fabs(e64) < 0.15 && fabs(e128) < 0.15,
              "matmul plan fit %s: tile 64 predicted %.1f us, measured %.1f (%+.0f%%); tile 128 %.1f vs %.1f (%+.0f%%)",
              run1[i].what, p64.predicted_us, 1e3 * run1[i].ms64, 100 * e64, p128.predicted_us,
              1e3 * run1[i].ms128, 100 * e128);
        const double r = run1[i].ms64 / run1[i].ms128;
        if (r < 1 / 1.1 || r > 1.1) {
            const int faster = r < 1 ? 64 : 128;
            CHECK(pick.tile == faster, "matmul plan %s unsplit: tile %d, the measured faster one (%d: %.3f vs %.3f ms)",
                  run1[i].what, pick.tile, faster, run1[i].ms64, run1[i].ms128);
        }
        if (run1[i].ms_auto * 2.5 < run1[i].ms64)
            CHECK(best.split > 1, "matmul plan %s: split %d ways (a split measured %.3f ms, unsplit %.3f)",
                  run1[i].what, best.split, run1[i].ms_auto, run1[i].ms64);
        printf("        plan %-16s FP32 tile %3d split %2d: %4ld blocks, %.2f waves, predicted %.1f us\n",
               run1[i].what, best.tile, best.split, best.blocks, best.waves, best.predicted_us);
    }
    CHECK(cuda_matmul_split(17) == -1 && err_get()[0], "cuda_matmul_split(17) refused: %s", err_get());
    CHECK(cuda_matmul_bf16(2) == -1 && err_get()[0], "cuda_matmul_bf16(2) refused: %s", err_get());
}

static void test_attention(int T, int C, int NH) {
    if (!gpu) { SKIP("attention T=%d C=%d NH=%d: no GPU", T, C, NH); return; }
    float *qkv = rand_vec((long)T * 3 * C, 1.0f);
    float *ref = xmalloc((size_t)T * C * sizeof(float)), *att = xmalloc((size_t)NH * T * T * sizeof(float));
    attention_forward(ref, att, qkv, T, C, NH);
    float *d_qkv = dev_from(qkv, (size_t)T * 3 * C * 4), *d_out = dev_poisoned((size_t)T * C * 4);
    if (d_qkv && d_out) {
        int rc = cuda_attention_forward(d_out, d_qkv, T, C, NH);
        CHECK(rc == 0, "cuda_attention_forward returns 0 (%s)", rc ? err_get() : "");
        float *out = host_from(d_out, (long)T * C);
        char name[64];
        snprintf(name, sizeof name, "attention T=%d C=%d NH=%d", T, C, NH);
        check_close(name, out, ref, (long)T * C, 2e-5f, 1e-4f);
        free(out);
    }
    cuda_free(d_qkv), cuda_free(d_out);
    free(qkv), free(ref), free(att);
}

static void test_gelu_residual(long N) {
    if (!gpu) {
        SKIP("gelu N=%ld: no GPU", N);
        SKIP("residual N=%ld: no GPU", N);
        return;
    }
    float *x = rand_vec(N, 4.0f), *y = rand_vec(N, 1.0f);
    float *ref = xmalloc((size_t)N * sizeof(float));
    float *d_x = dev_from(x, (size_t)N * 4), *d_y = dev_from(y, (size_t)N * 4), *d_out = dev_poisoned((size_t)N * 4);
    if (d_x && d_y && d_out) {
        char name[64];
        gelu_forward(ref, x, N);
        int rc = cuda_gelu_forward(d_out, d_x, N);
        float *out = host_from(d_out, N);
        snprintf(name, sizeof name, "gelu N=%ld", N);
        CHECK(rc == 0, "cuda_gelu_forward returns 0 (%s)", rc ? err_get() : "");
        check_close(name, out, ref, N, 1e-6f, 1e-5f);
        free(out);
        residual_forward(ref, x, y, N);
        cuda_memset(d_out, 0xff, (size_t)N * 4);
        rc = cuda_residual_forward(d_out, d_x, d_y, N);
        out = host_from(d_out, N);
        snprintf(name, sizeof name, "residual N=%ld", N);
        CHECK(rc == 0, "cuda_residual_forward returns 0 (%s)", rc ? err_get() : "");
        check_close(name, out, ref, N, 0.0f, 0.0f);
        free(out);
    }
    cuda_free(d_x), cuda_free(d_y), cuda_free(d_out);
    free(x), free(y), free(ref);
}

static int cmp_desc(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x < y) - (x > y);
}

/* The k-th largest of max(x, 0) per row, by sorting on the CPU, with many
 * ties (values on a grid) and rows with fewer than k positives. */
static void test_topk(int T, int L, int k) {
    if (!gpu) { SKIP("top-k threshold T=%d L=%d k=%d: no GPU", T, L, k); return; }
    float *x = rand_vec((long)T * L, 1.0f), *ref = xmalloc((size_t)T * sizeof(float));
    float *row = xmalloc((size_t)L * sizeof(float));
    for (int t = 0; t < T; t++) {
        for (int j = 0; j < L; j++) {
            float *v = &x[(long)t * L + j];
            if (t % 3 == 1) *v = roundf(*v * 8.0f) / 8.0f;  /* ties */
            if (t % 3 == 2) *v -= 0.9f;                     /* mostly negative: threshold 0 */
            row[j] = *v > 0.0f ? *v : 0.0f;
        }
        qsort(row, (size_t)L, sizeof(float), cmp_desc);
        ref[t] = row[k - 1];
    }
    float *d_x = dev_from(x, (size_t)T * L * 4), *d_thr = dev_poisoned((size_t)T * 4);
    if (d_x && d_thr) {
        int rc = cuda_topk_threshold(d_thr, d_x, T, L, k);
        CHECK(rc == 0, "cuda_topk_threshold returns 0 (%s)", rc ? err_get() : "");
        float *out = host_from(d_thr, T);
        char name[64];
        snprintf(name, sizeof name, "top-k threshold T=%d L=%d k=%d", T, L, k);
        check_close(name, out, ref, T, 0.0f, 0.0f);
        free(out);
    }
    cuda_free(d_x), cuda_free(d_thr);
    free(x), free(ref), free(row);
}

/* ------------------------------------------------------- whole forward */

static int rm_rf_checkpoint(const char *dir) {
    char *a = path_join(dir, "model.safetensors"), *b = path_join(dir, "config.json");
    unlink(a), unlink(b);
    free(a), free(b);
    return rmdir(dir);
}

static void test_forward(void) {
    /* GPT2SAE_CUDA_QUICK=1 (cuda/device_check.sh under compute-sanitizer): no whole model */
    const char *quick = getenv("GPT2SAE_CUDA_QUICK");
    if (!gpu || (quick && *quick == '1')) {
        SKIP("GPT-2 small (synthetic) forward: logits T=64 vs gpt2_forward: no GPU");
        SKIP("GPT-2 small (synthetic) captures at 7 sites of layers 0, 6, 11: no GPU");
        SKIP("GPT-2 small (synthetic) windowed capture T=n_ctx+37 on the device: no GPU");
        SKIP("GPT-2 small (synthetic) TF32 forward: no GPU");
        return;
    }
    char dir[] = "/tmp/test_cuda_gpt2_XXXXXX";
    if (!mkdtemp(dir)) { CHECK(0, "mkdtemp failed"); return; }
    GPT2Config cfg;
    GPT2Model m;
    memset(&m, 0, sizeof m);
    CHECK(gpt2_config_named(&cfg, "gpt2") == 0, "GPT-2 small's configuration");
    int rc = gpt2_model_synth(dir, &cfg, 1234);
    CHECK(rc == 0, "synthetic GPT-2 small written (%s)", rc ? err_get() : dir);
    if (rc || gpt2_model_load(&m, dir) != 0) {
        CHECK(0, "load the synthetic checkpoint: %s", err_get());
        rm_rf_checkpoint(dir);
        return;
    }
    const int T = 64, C = m.cfg.n_embd, V = m.cfg.vocab_size, NC = m.cfg.n_ctx;
    int32_t *ids = xmalloc((size_t)(NC + 37) * sizeof *ids);
    for (int t = 0; t < NC + 37; t++) ids[t] = (int32_t)(rng_u64(&rng) % (uint64_t)V);

    GPT2Forward f;
    gpt2_forward_init(&f, &m);
    CUDAGPT2 *g = NULL;
    rc = cuda_gpt2_init(&g, &m, NC);
    CHECK(rc == 0, "cuda_gpt2_init (max_T = n_ctx = %d) (%s)", NC, rc ? err_get() : "");
    if (rc == 0) {
        /* logits */
        float *ref = xmalloc((size_t)T * V * sizeof(float)), *out = xmalloc((size_t)T * V * sizeof(float));
        for (long i = 0; i < (long)T * V; i++) out[i] = NAN;
        CHECK(gpt2_forward(&f, ids, T, ref) == 0, "CPU forward T=%d", T);
        rc = cuda_gpt2_forward(g, ids, T, NULL, out);
        CHECK(rc == 0, "cuda_gpt2_forward T=%d (%s)", T, rc ? err_get() : "");
        check_close("forward logits T=64 (GPU FP32 vs CPU)", out, ref, (long)T * V, 1e-3f, 1e-3f);
        /* TF32 */
        cuda_gpt2_set_matmul(g, CUDA_MATMUL_TF32);
        rc = cuda_gpt2_forward(g, ids, T, NULL, out);
        double e = rel_err(out, ref, (long)T * V);
        CHECK(rc == 0 && e < 1e-2, "forward logits TF32: relative error %.2e (< 1e-2)", e);
        cuda_gpt2_set_matmul(g, CUDA_MATMUL_FP32);
        free(ref), free(out);

        /* captures: every site of layers 0, 6 and 11, host and device copies */
        const int layers[3] = {0, 6, 11};
        float *cref = xmalloc((size_t)T * 4 * C * sizeof(float)), *cout = xmalloc((size_t)T * 4 * C * sizeof(float));
        float *d_cap = dev_poisoned((size_t)T * 4 * C * 4);
        for (int li = 0; li < 3 && d_cap; li++)
            for (int s = 0; s < GPT2_NSITES; s++) {
                int width = gpt2_site_width(&m.cfg, (GPT2Site)s);
                long n = (long)T * width;
                for (long i = 0; i < n; i++) cout[i] = NAN;
                CHECK(gpt2_capture(&f, ids, T, layers[li], (GPT2Site)s, cref) == 0, "CPU capture");
                CUDACapture cap = {layers[li], (GPT2Site)s, cout, d_cap};
                rc = cuda_gpt2_forward(g, ids, T, &cap, NULL);
                char name[96];
                snprintf(name, sizeof name, "capture layer %d %s (host copy)", layers[li], gpt2_site_name((GPT2Site)s));
                CHECK(rc == 0, "cuda_gpt2_forward with capture (%s)", rc ? err_get() : "");
                check_close(name, cout, cref, n, 1e-4f, 1e-3f);
                float *dev = host_from(d_cap, n);
                snprintf(name, sizeof name, "capture layer %d %s (device copy)", layers[li],
                         gpt2_site_name((GPT2Site)s));
                check_close(name, dev, cref, n, 1e-4f, 1e-3f);
                free(dev);
            }
        cuda_free(d_cap);
        free(cref), free(cout);

        /* windows: n_ctx + 37 tokens at layer 0 resid_mid, straight to the device */
        const long TL = NC + 37;
        float *wref = xmalloc((size_t)TL * C * sizeof(float));
        float *d_w = dev_poisoned((size_t)TL * C * 4);
        CHECK(gpt2_capture(&f, ids, (int)TL, 0, GPT2_RESID_MID, wref) == 0, "CPU windowed capture");
        if (d_w) {
            rc = cuda_gpt2_capture(g, ids, TL, 0, GPT2_RESID_MID, NULL, d_w);
            CHECK(rc == 0, "cuda_gpt2_capture T=%ld (%s)", TL, rc ? err_get() : "");
            float *w = host_from(d_w, TL * C);
            check_close("windowed capture T=n_ctx+37 layer 0 resid_mid", w, wref, TL * C, 1e-4f, 1e-3f);
            free(w);
        }
        cuda_free(d_w);
        free(wref);

        /* user errors: a token outside the vocabulary, T too large */
        int32_t badid = V;
        rc = cuda_gpt2_forward(g, &badid, 1, NULL, NULL);
        CHECK(rc == -1 && strstr(err_get(), "vocabulary"), "an id outside the vocabulary is refused: %s", err_get());
        rc = cuda_gpt2_forward(g, ids, NC + 1, NULL, NULL);
        CHECK(rc == -1, "T > max_T in one window is refused: %s", err_get());
    }
    cuda_gpt2_free(g);
    gpt2_forward_free(&f);
    gpt2_model_free(&m);
    free(ids);
    CHECK(rm_rf_checkpoint(dir) == 0, "temporary checkpoint removed");
}

int main(void) {
    test_cuda_start(20261126);

    if (!gpu) {
        /* what a CPU-only machine can check: clean failures, no crash */
        void *p = (void *)1;
        int rc = cuda_malloc(&p, 1024);
        CHECK(rc == -1 && p == NULL && err_get()[0], "cuda_malloc without a GPU fails with a message: %s", err_get());
        CUDAGPT2 *g = (CUDAGPT2 *)1;
        GPT2Model m;
        memset(&m, 0, sizeof m);
        rc = cuda_gpt2_init(&g, &m, 1);
        CHECK(rc == -1 && g == NULL, "cuda_gpt2_init without a GPU fails with a message: %s", err_get());
        cuda_gpt2_free(NULL);
        cuda_free(NULL);
    }

    /* GPT2SAE_CUDA_QUICK=2: only the small, odd shapes (for compute-sanitizer racecheck);
     * the emulator (cuda/emu) runs them plus the shapes that reach every code path */
    const char *quick = getenv("GPT2SAE_CUDA_QUICK");
    if ((quick && *quick == '2') || EMULATED) {
        test_encoder(7, 13, 11);
        test_layernorm(3, 37);
        test_matmul(7, 13, 17, 1);
        test_matmul(33, 65, 129, 0);
        for (int tA = 0; tA < 2; tA++)
            for (int tB = 0; tB < 2; tB++) test_gemm(tA, tB, 37, 45, 53, 1.0f, 0.0f);
        test_gemm(0, 1, 50, 70, 2500, 0.5f, 1.0f); /* split-K */
        test_gemm(0, 0, 1, 300, 700, 1.0f, 0.0f);  /* thin: one row, split by the plan */
        test_gemm(1, 1, 65, 130, 1, 1.0f, 0.5f);   /* K = 1 */
        test_gemm_every_plan(0, 0, 70, 130, 300);
        test_plan();
        test_attention(33, 768, 12);
        test_attention(45, 192, 3);
        test_gelu_residual(1000);
        test_topk(7, 100, 1);
        test_topk(4, 33, 33);
        if (EMULATED && !(quick && *quick == '2')) {
            test_attention(64, 768, 12);  /* two query tiles; the second sees two key tiles */
            test_attention(100, 768, 12); /* four query tiles, the last partial: up to four key tiles */
            test_layernorm(5, 1600);      /* the widest register-held rows */
            test_layernorm(2, 3000);      /* the looping kernel */
            test_layernorm_at(9, 768, 100.0f);
            test_layernorm_at(3, 3000, 100.0f);
            test_gemm(1, 0, 37, 45, 1500, 1.0f, 0.0f); /* split-K, transposed A */
            test_gemm(0, 1, 220, 220, 6144, 1.0f, 0.0f); /* the SAE's Gram matrix */
            test_matmul(129, 1, 3, 1);
            for (int tA = 0; tA < 2; tA++)
                for (int tB = 0; tB < 2; tB++) test_gemm_every_plan(tA, tB, 37 + 100 * tA, 45 + 100 * tB, 53);
            test_gemm_every_plan(1, 0, 129, 1, 900); /* one column, long K */
            test_gemm(0, 1, 300, 1, 2000, 1.0f, 0.0f); /* thin: one column */
            test_topk(5, 6144, 1024); /* the seed's row width and k */
            SKIP("GPT-2 small (synthetic) forward, captures, windows, TF32: too slow emulated (a device runs them)");
        }
        printf("kernels ran %s\n", EMULATED ? "emulated (cuda/emu on the CPU)" : "on the device");
        return test_finish();
    }

    test_encoder(1, 768, 50257);
    test_encoder(220, 768, 50257);
    test_encoder(1024, 768, 1000);
    test_encoder(7, 13, 11);

    test_layernorm(1, 768);
    test_layernorm(220, 768);
    test_layernorm(1024, 768);
    test_layernorm(5, 1600);
    test_layernorm(4, 1024);
    test_layernorm(3, 37);
    test_layernorm(2, 3000); /* wider than the register-held rows: the looping kernel */
    test_layernorm_at(9, 768, 100.0f);
    test_layernorm_at(3, 3000, 100.0f);

    /* GPT-2 small's four products at T = 1, 220 and 1024, then odd shapes */
    test_matmul(1, 768, 2304, 1);
    test_matmul(220, 768, 2304, 1);
    test_matmul(220, 768, 768, 1);
    test_matmul(220, 768, 3072, 1);
    test_matmul(220, 3072, 768, 1);
    test_matmul(1024, 768, 2304, 1);
    test_matmul(1024, 3072, 768, 1);
    test_matmul(7, 13, 17, 1);
    test_matmul(33, 65, 129, 0);
    test_matmul(129, 1, 3, 1);
    for (int tA = 0; tA < 2; tA++)
        for (int tB = 0; tB < 2; tB++) {
            test_gemm(tA, tB, 37, 45, 53, 1.0f, 0.0f);
            test_gemm(tA, tB, 130, 257, 70, 0.5f, 1.0f);
        }
    test_gemm(0, 1, 64, 1000, 768, 1.0f, 0.0f); /* logits-like: x @ wte^T */
    /* few output tiles, long K: the split-K path (slices summed afterwards) */
    test_gemm(0, 1, 50, 70, 2500, 0.5f, 1.0f);
    test_gemm(1, 0, 37, 45, 1500, 1.0f, 0.0f);
    test_gemm(1, 1, 10, 12, 3000, 1.0f, 0.5f);
    test_gemm(0, 1, 220, 220, 6144, 1.0f, 0.0f); /* the SAE's Gram matrix */
    test_matmul(1, 3072, 768, 1);               /* one token through c_proj */
    /* every tile and split of both kinds; the plan's invariants and fit */
    for (int tA = 0; tA < 2; tA++)
        for (int tB = 0; tB < 2; tB++) test_gemm_every_plan(tA, tB, 37 + 100 * tA, 45 + 100 * tB, 53);
    test_gemm_every_plan(0, 0, 70, 130, 300);
    test_gemm_every_plan(1, 0, 129, 1, 900);
    test_gemm(0, 0, 1, 300, 700, 1.0f, 0.0f);
    test_gemm(1, 1, 65, 130, 1, 1.0f, 0.5f);
    test_gemm(0, 1, 300, 1, 2000, 1.0f, 0.0f);
    test_plan();

    test_attention(1, 768, 12);
    test_attention(7, 768, 12);
    test_attention(32, 768, 12);
    test_attention(33, 768, 12);
    test_attention(220, 768, 12);
    test_attention(1024, 768, 12);
    test_attention(45, 192, 3);

    test_gelu_residual(1);
    test_gelu_residual(220L * 3072);
    test_gelu_residual(1000003);

    test_topk(5, 6144, 1024);
    test_topk(7, 100, 1);
    test_topk(4, 33, 33);

    test_forward();
    printf("kernels ran %s\n", gpu ? "on the device" : "nowhere (no GPU)");
    return test_finish();
}
