/*
 * cuda/cuda_arch.cu - the SAE architectures of sae/arch.h trained on the
 * GPU: topk (+AuxK, Multi-TopK), batchtopk and jumprelu, and the shared step
 * (sae/arch_train.c). The math is the CPU files' (sae/arch_topk.c,
 * sae/arch_batchtopk.c, sae/arch_jumprelu.c, sae/arch_train.c); each kernel
 * below repeats the part of the derivation it implements. The CPU functions
 * sae_arch_loss_grad and sae_arch_step are the reference
 * (tests/test_cuda_arch.c).
 *
 * Shapes: X, Xc, Xh, G, Eh (B, d); Z, F, gZ (B, n) dense; the selected
 * latents of a token as lists idx/val (B, kk) with cnt (B); W_enc, W_dec
 * (n, d); b_enc (n); b_dec (d); log_threshold (n).
 *
 * Layout: every tensor sits in one buffer w (P floats) in the order of
 * m->t[] (W_enc, W_dec, b_enc, b_dec[, log_threshold]), with its gradient g,
 * and Adam's m and v beside it: the step is one kernel over P, the gradient
 * norm one reduction.
 *
 * Dense where it is simple, sparse where it is cheap: the encoder
 * (X Wᵀ), the weight gradients (Fᵀ G, gZᵀ Xc) and jumprelu's decoder are
 * gemms (cuda_gemm, FP32); the TopK decoder and g_F = W_dec[i]·G[b] touch
 * only the k (+ k_aux) selected latents of a token.
 *
 * Summation order differs from the CPU (gemm tiles, per-row trees in double
 * for the losses), so results agree to rounding, not bit for bit; a top-k
 * set can differ where two pre-activations are within rounding of each
 * other (the tests allow that, and check the tie rule where ties are exact).
 *
 * The host drives each step and reads back a few numbers on the way (the
 * per-token loss sums, the dead count AuxK needs, the gradient norm for the
 * clip, the update check): a handful of small synchronous copies per step,
 * so that the log, the clip and the failure checks are sae/arch_train.c's
 * own arithmetic. Cost per step at the field's shape is dominated by the
 * dense gemms: the encoder, Fᵀ G (once per TopK term, once for AuxK) and
 * gZᵀ Xc, each 2 B n d flops.
 */
#include "cuda/cuda_common.cuh"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SEL_THREADS 256 /* row selection: one block per token */
#define RED_BLOCKS 128

struct CUDAArch {
    SAEArch *m;            /* borrowed: params, step, threshold */
    int d, n, max_B, kmax; /* kmax: the widest selection (4k with Multi-TopK, k_aux) */
    long P;                /* floats of all tensors */
    long off[SAE_ARCH_MAX_TENSORS];
    float *w, *g, *am, *av; /* (P) each */
    float *W_enc, *W_dec, *b_enc, *b_dec, *log_thr;       /* views into w */
    float *g_W_enc, *g_W_dec, *g_b_enc, *g_b_dec, *g_log_thr; /* views into g */
    long long *since;      /* (n) tokens since the latent last fired */
    int *fired;            /* (n) fired in this batch */
    unsigned char *dead;   /* (n) AuxK's candidates */
    float *Xc, *Xh, *G, *Eh; /* (max_B, d) */
    float *Z, *F, *gZ;     /* (max_B, n) */
    int *idx, *cnt;        /* (max_B, kmax), (max_B): the k term's selection */
    float *val;            /* (max_B, kmax) */
    int *aidx, *acnt;      /* AuxK's selection */
    float *aval;
    float *nx;             /* (max_B) ||x||², 1 for a zero token */
    float *cs;             /* (n) column sums of gZ */
    double *rown, *rowse, *auxn; /* (max_B) per-token error / nx, squared error, AuxK error / nx */
    double *colsst;        /* (d) per-column sum of squares about the mean (Σ_b xc² in cuda_arch_fvu_sums) */
    double *colsum;        /* (d) per-column Σ_b xc, for the data-parallel FVU (cuda_arch_fvu_sums) */
    double *partials;      /* (RED_BLOCKS) */
    int *counters;         /* [0] active latents, [1] dead latents, [2] non-finite update, [3] min kept (bits) */
    unsigned *hist;        /* (256) batchtopk's global radix select */
    int *quota;            /* (max_B) batchtopk: ties to keep per token */
    int last_B, last_kk;   /* the last loss_grad's batch and k */
};

/* ---------------------------------------------------------------- kernels */

/* 256 threads add their double s; thread 0 gets the total (fixed tree). */
__device__ double block_sum256(double s, double *sh) {
    sh[threadIdx.x] = s;
    __syncthreads();
    for (int o = 128; o > 0; o >>= 1) {
        if (threadIdx.x < o) sh[threadIdx.x] += sh[threadIdx.x + o];
        __syncthreads();
    }
    return sh[0];
}

/* A float as an unsigned whose order is the float order (negatives
 * flipped); -0 is read as +0 so that the two tie, as they compare equal. */
__device__ __forceinline__ unsigned order_key(float z) {
    unsigned u = __float_as_uint(z == 0.0f ? 0.0f : z);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

/* Xc (B, d) = s X - b_dec */
__global__ void center_kernel(float *Xc, const float *X, const float *b_dec, float s, long N, int d) {
    long stride = (long)gridDim.x * blockDim.x;
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < N; i += stride)
        Xc[i] = s * X[i] - b_dec[i % d];
}

/* nx[b] = ||Xc[b] + b_dec||² (the scaled input's), 1 for a zero token:
 * TopK's per-token normaliser. One block of 256 per token. */
__global__ __launch_bounds__(256) void token_norm_kernel(float *nx, const float *Xc, const float *b_dec, int d) {
    __shared__ double sh[256];
    const float *xc = Xc + (size_t)blockIdx.x * d;
    double s = 0;
    for (int j = threadIdx.x; j < d; j += 256) {
        double x = (double)xc[j] + b_dec[j];
        s += x * x;
    }
    s = block_sum256(s, sh);
    if (threadIdx.x == 0) nx[blockIdx.x] = s > 0 ? (float)s : 1.0f;
}

/* The ordered selection of one row, block-wide: among the candidates
 * (cand[j] != 0, or all when cand is NULL) keep those with key > thr and the
 * first `quota` with key == thr in index order (a stable descending sort's
 * tie rule: the lower index wins). Thread t owns the contiguous chunk
 * [t per, (t+1) per), so an exclusive scan of the chunks' counts gives each
 * chunk its output position and its share of the ties; the output is in
 * ascending index order. Sparse (idx, val: relu(z) of the kept) when idx is
 * given, else the dense row Frow = relu(z) where kept, 0 elsewhere.
 * Returns the number kept (to thread 0; every thread calls it). */
__device__ int select_row(int *idx, float *val, float *Frow, const float *z, const unsigned char *cand, int n,
                          unsigned thr, int quota, int *sa, int *sb) {
    const int tid = threadIdx.x, per = (n + SEL_THREADS - 1) / SEL_THREADS;
    const int j0 = min(tid * per, n), j1 = min(j0 + per, n);
    int cg = 0, ce = 0;
    for (int j = j0; j < j1; j++) {
        if (cand && !cand[j]) continue;
        unsigned k = order_key(z[j]);
        cg += k > thr, ce += k == thr;
    }
    sa[tid] = ce;
    __syncthreads();
    if (tid == 0) {
        int run = 0;
        for (int i = 0; i < SEL_THREADS; i++) { int x = sa[i]; sa[i] = run; run += x; }
    }
    __syncthreads();
    const int my_ties = max(0, min(ce, quota - sa[tid]));
    sb[tid] = cg + my_ties;
    __syncthreads();
    int total = 0;
    if (tid == 0) {
        int run = 0;
        for (int i = 0; i < SEL_THREADS; i++) { int x = sb[i]; sb[i] = run; run += x; }
        total = run;
    }
    __syncthreads();
    int o = sb[tid], taken = 0;
    for (int j = j0; j < j1; j++) {
        const int c = !cand || cand[j];
        const unsigned k = order_key(z[j]);
        int keep = c && (k > thr || (k == thr && taken < my_ties));
        if (c && k == thr && keep) taken++;
        if (idx) {
            if (keep) idx[o] = j, val[o] = z[j] > 0.0f ? z[j] : 0.0f, o++;
        } else {
            Frow[j] = keep && z[j] > 0.0f ? z[j] : 0.0f;
        }
    }
    __syncthreads(); /* sa, sb free for the caller */
    return total;
}

/* TopK of each row of Z (B, n), one block per token:
 *   S = TopK_kk(z restricted to cand)   (sae_topk_row: ties to the lower index)
 * by block_radix_select (cuda_common.cuh) on order_key: the kk-th largest
 * key, and `need`, how many of the entries equal to it belong to S. idx/val/cnt rows have stride kk; fewer
 * than kk candidates keep them all (cnt < kk). */
__global__ __launch_bounds__(SEL_THREADS) void row_topk_kernel(int *idx, float *val, int *cnt, const float *Z,
                                                               const unsigned char *cand, int n, int kk) {
    __shared__ unsigned hist[256];
    __shared__ int sa[SEL_THREADS], sb[SEL_THREADS];
    __shared__ unsigned s_prefix;
    __shared__ int s_need;
    const int b = blockIdx.x, tid = threadIdx.x;
    const float *z = Z + (size_t)b * n;
    int c = 0;
    for (int j = tid; j < n; j += SEL_THREADS) c += !cand || cand[j];
    sa[tid] = c;
    __syncthreads();
    if (tid == 0) {
        int all = 0;
        for (int i = 0; i < SEL_THREADS; i++) all += sa[i];
        s_need = min(kk, all), s_prefix = 0u;
    }
    __syncthreads();
    if (s_need == 0) { /* uniform: no candidates */
        if (tid == 0) cnt[b] = 0;
        return;
    }
    block_radix_select(hist, &s_prefix, &s_need, n, [&](int j, unsigned *key) {
        if (cand && !cand[j]) return false;
        *key = order_key(z[j]);
        return true;
    });
    int total = select_row(idx + (size_t)b * kk, val + (size_t)b * kk, NULL, z, cand, n, s_prefix, s_need, sa, sb);
    if (tid == 0) cnt[b] = total;
}

/* Xh[b, j] = (bias ? b_dec[j] : 0) + Σ_{s < cnt[b]} val[b,s] W[idx[b,s], j]:
 * x̂ = W_decᵀ f + b_dec from the selected latents only. Grid (B, ⌈d/256⌉). */
__global__ void sparse_decode_kernel(float *Xh, const int *idx, const float *val, const int *cnt, int kk,
                                     const float *W, const float *bias, int d) {
    const int b = blockIdx.x, j = blockIdx.y * 256 + threadIdx.x;
    if (j >= d) return;
    float acc = bias ? bias[j] : 0.0f;
    const int *ir = idx + (size_t)b * kk;
    const float *vr = val + (size_t)b * kk;
    for (int s = 0; s < cnt[b]; s++)
        if (vr[s] != 0.0f) acc = fmaf(vr[s], W[(size_t)ir[s] * d + j], acc);
    Xh[(size_t)b * d + j] = acc;
}

/* The reconstruction term of one token (block per token), x = Xc + b_dec:
 *   r = x̂ - x,  G = 2 coef r / (B nx),  rowse = ||r||²,  rown = ||r||² / nx
 * (nx NULL: 1). The loss is coef Σ_b rown / B. */
__global__ __launch_bounds__(256) void recon_kernel(float *G, double *rown, double *rowse, const float *Xh,
                                                    const float *Xc, const float *b_dec, const float *nx,
                                                    float coef, int B, int d) {
    __shared__ double sh[256];
    const int b = blockIdx.x;
    const double norm = nx ? nx[b] : 1.0;
    const float scale = (float)(2.0 * coef / ((double)B * norm));
    double s = 0;
    for (int j = threadIdx.x; j < d; j += 256) {
        const size_t o = (size_t)b * d + j;
        const float r = Xh[o] - (Xc[o] + b_dec[j]);
        s += (double)r * r;
        G[o] = scale * r;
    }
    s = block_sum256(s, sh);
    if (threadIdx.x == 0) rowse[b] = s, rown[b] = s / norm;
}

/* AuxK's error of one token (block per token), e = x - x̂ held constant:
 *   r = ê - e,  G = 2 α r / (B nx),  auxn = ||r||² / nx   (aux = α Σ auxn / B) */
__global__ __launch_bounds__(256) void auxk_err_kernel(float *G, double *auxn, const float *Eh, const float *Xh,
                                                       const float *Xc, const float *b_dec, const float *nx,
                                                       float alpha, int B, int d) {
    __shared__ double sh[256];
    const int b = blockIdx.x;
    const float scale = (float)(2.0 * alpha / ((double)B * nx[b]));
    double s = 0;
    for (int j = threadIdx.x; j < d; j += 256) {
        const size_t o = (size_t)b * d + j;
        const float e = Xc[o] + b_dec[j] - Xh[o], r = Eh[o] - e;
        s += (double)r * r;
        G[o] = scale * r;
    }
    s = block_sum256(s, sh);
    if (threadIdx.x == 0) auxn[b] = s / nx[b];
}

/* For each selected (b, i) with f = val > 0 (the ReLU passes):
 *   g_z[b, i] += g_f = W_dec[i] · G[b]
 * (TopK's indices carry no gradient; a latent selected by both the k term
 * and AuxK collects both, one kernel after the other.) One warp per entry;
 * every return is warp-uniform. */
__global__ __launch_bounds__(256) void sel_grad_kernel(float *gZ, const int *idx, const float *val, const int *cnt,
                                                       int kk, const float *G, const float *W, int B, int n, int d) {
    const long e = (long)blockIdx.x * 8 + threadIdx.x / 32;
    const int lane = threadIdx.x % 32;
    if (e >= (long)B * kk) return;
    const int b = (int)(e / kk), s = (int)(e % kk);
    if (s >= cnt[b] || !(val[e] > 0.0f)) return;
    const float *w = W + (size_t)idx[e] * d, *g = G + (size_t)b * d;
    float acc = 0.0f;
    for (int j = lane; j < d; j += 32) acc = fmaf(w[j], g[j], acc);
    acc = warp_sum(acc);
    if (lane == 0) gZ[(size_t)b * n + idx[e]] += acc;
}

/* F (B, n) dense from the lists (F zeroed first); fired[i] = 1 and the
 * active count for entries with f > 0 when fired is given. */
__global__ void scatter_kernel(float *F, int *fired, int *active, const int *idx, const float *val, const int *cnt,
                               int kk, int B, int n) {
    __shared__ int s_act;
    if (threadIdx.x == 0) s_act = 0;
    __syncthreads();
    const long e = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (e < (long)B * kk) {
        const int b = (int)(e / kk), s = (int)(e % kk);
        if (s < cnt[b]) {
            F[(size_t)b * n + idx[e]] = val[e];
            if (fired && val[e] > 0.0f) fired[idx[e]] = 1, atomicAdd(&s_act, 1);
        }
    }
    __syncthreads();
    if (threadIdx.x == 0 && s_act) atomicAdd(active, s_act);
}

/* out[j] (+)= Σ_b A[b, j] over rows in order (one thread per column, float,
 * as the CPU's running sums). */
__global__ void colsum_kernel(float *out, const float *A, int rows, int cols, int accumulate) {
    const int j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= cols) return;
    float s = 0.0f;
    for (int b = 0; b < rows; b++) s += A[(size_t)b * cols + j];
    out[j] = accumulate ? out[j] + s : s;
}

/* FVU's denominator per column: Σ_b (xc - mean_j)² (x and xc differ by a
 * constant per column, so xc gives the same spread). Double. */
__global__ void colsst_kernel(double *colsst, const float *Xc, int B, int d) {
    const int j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= d) return;
    double mean = 0;
    for (int b = 0; b < B; b++) mean += Xc[(size_t)b * d + j];
    mean /= B;
    double s = 0;
    for (int b = 0; b < B; b++) {
        double x = Xc[(size_t)b * d + j] - mean;
        s += x * x;
    }
    colsst[j] = s;
}

/* The data-parallel FVU's pieces per column (double, tokens in order):
 * colsum[j] = Σ_b xc[b, j],  colsq[j] = Σ_b xc[b, j]² */
__global__ void colsums_kernel(double *colsum, double *colsq, const float *Xc, int B, int d) {
    const int j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= d) return;
    double s = 0, q = 0;
    for (int b = 0; b < B; b++) {
        const double x = Xc[(size_t)b * d + j];
        s += x, q += x * x;
    }
    colsum[j] = s, colsq[j] = q;
}

/* dead[i] = since_fired[i] >= dead_tokens; counters[1] = how many */
__global__ void dead_mask_kernel(unsigned char *dead, int *count, const long long *since, long long dead_tokens,
                                 int n) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const int dd = since[i] >= dead_tokens;
    dead[i] = (unsigned char)dd;
    if (dd) atomicAdd(count, 1);
}

/* JumpReLU forward, element-wise: θ = exp(t), f = z H(z - θ); fired, the
 * active count. */
__global__ void jump_fwd_kernel(float *F, int *fired, int *active, const float *Z, const float *log_thr, long N,
                                int n) {
    __shared__ int s_act;
    if (threadIdx.x == 0) s_act = 0;
    __syncthreads();
    const long stride = (long)gridDim.x * blockDim.x;
    for (long e = (long)blockIdx.x * blockDim.x + threadIdx.x; e < N; e += stride) {
        const int i = (int)(e % n);
        const float z = Z[e], th = expf(log_thr[i]);
        const int on = z > th;
        F[e] = on ? z : 0.0f;
        if (on) fired[i] = 1, atomicAdd(&s_act, 1);
    }
    __syncthreads();
    if (threadIdx.x == 0 && s_act) atomicAdd(active, s_act);
}

/* JumpReLU backward per latent i (one thread, the B tokens in order), gZ
 * holding g_f = W_dec[i] · G[b] on entry:
 *   u = (z - θ)/ε;  in the window |u| < 1/2 (the rectangle kernel K):
 *     g_θ += -(θ/ε) g_f - λ/(B ε)      (∂f/∂θ := -(θ/ε) K, ∂H/∂θ := -(1/ε) K)
 *   g_z = g_f H(z - θ)                 (∂f/∂z := H, ∂H/∂z := 0)
 *   g_t = θ g_θ                        (θ = exp(t))
 * g_θ is summed in double, as on the CPU. */
__global__ void jump_back_kernel(float *g_t, float *gZ, const float *Z, const float *log_thr, int B, int n,
                                 float eps, float lam) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const float th = expf(log_thr[i]);
    double gth = 0;
    for (int b = 0; b < B; b++) {
        const size_t o = (size_t)b * n + i;
        const float z = Z[o], u = (z - th) / eps, gf = gZ[o];
        if (u > -0.5f && u < 0.5f) gth += -(th / eps) * gf - lam / ((double)B * eps);
        gZ[o] = z > th ? gf : 0.0f;
    }
    g_t[i] = (float)(th * gth);
}

/* BatchTopK's global radix select, one pass: hist[byte] counts the entries
 * of Z (N) whose key matches prefix under mask, by their byte at shift. */
__global__ __launch_bounds__(256) void global_hist_kernel(unsigned *hist, const float *Z, long N, unsigned prefix,
                                                          unsigned mask, int shift) {
    __shared__ unsigned h[256];
    h[threadIdx.x] = 0u;
    __syncthreads();
    const long stride = (long)gridDim.x * blockDim.x;
    for (long e = (long)blockIdx.x * blockDim.x + threadIdx.x; e < N; e += stride) {
        unsigned k = order_key(Z[e]);
        if ((k & mask) == prefix) atomicAdd(&h[(k >> shift) & 255u], 1u);
    }
    __syncthreads();
    if (h[threadIdx.x]) atomicAdd(&hist[threadIdx.x], h[threadIdx.x]);
}

/* ties[b] = entries of row b whose key is thr (one block per token) */
__global__ __launch_bounds__(256) void row_ties_kernel(int *ties, const float *Z, int n, unsigned thr) {
    __shared__ double sh[256];
    const float *z = Z + (size_t)blockIdx.x * n;
    double c = 0;
    for (int j = threadIdx.x; j < n; j += 256) c += order_key(z[j]) == thr;
    c = block_sum256(c, sh);
    if (threadIdx.x == 0) ties[blockIdx.x] = (int)c;
}

/* BatchTopK's selection as a dense F (one block per token): keys above thr,
 * and quota[b] of the ties in index order (the quotas give the ties to the
 * lowest flat index b n + i); fired, the active count and the smallest kept
 * positive value (atomicMin on the bits: positive floats order as ints). */
__global__ __launch_bounds__(SEL_THREADS) void batch_select_kernel(float *F, int *fired, int *counters,
                                                                   const float *Z, const int *quota, int n,
                                                                   unsigned thr) {
    __shared__ int sa[SEL_THREADS], sb[SEL_THREADS];
    __shared__ int s_act;
    const int b = blockIdx.x;
    if (threadIdx.x == 0) s_act = 0;
    float *Frow = F + (size_t)b * n;
    select_row(NULL, NULL, Frow, Z + (size_t)b * n, NULL, n, thr, quota[b], sa, sb);
    for (int j = threadIdx.x; j < n; j += SEL_THREADS) {
        const float f = Frow[j];
        if (f > 0.0f) {
            fired[j] = 1;
            atomicAdd(&s_act, 1);
            atomicMin(&counters[3], (int)__float_as_uint(f));
        }
    }
    __syncthreads();
    if (threadIdx.x == 0 && s_act) atomicAdd(&counters[0], s_act);
}

/* gZ = g_f [f > 0]: the selected entries where the ReLU passes (gZ holds g_f). */
__global__ void mask_grad_kernel(float *gZ, const float *F, long N) {
    const long stride = (long)gridDim.x * blockDim.x;
    for (long e = (long)blockIdx.x * blockDim.x + threadIdx.x; e < N; e += stride)
        if (!(F[e] > 0.0f)) gZ[e] = 0.0f;
}

/* The decoder constraint, gradient side (one block per latent):
 *   g_i <- g_i - (g_i · w_i) w_i   (the dot in double) */
__global__ __launch_bounds__(256) void dec_project_kernel(float *g, const float *W, int d) {
    __shared__ double sh[256];
    float *gi = g + (size_t)blockIdx.x * d;
    const float *wi = W + (size_t)blockIdx.x * d;
    double s = 0;
    for (int j = threadIdx.x; j < d; j += 256) s += (double)gi[j] * wi[j];
    const float dot = (float)block_sum256(s, sh);
    for (int j = threadIdx.x; j < d; j += 256) gi[j] -= dot * wi[j];
}

/* The decoder constraint, weight side: w_i <- w_i / ||w_i|| (a zero row stays) */
__global__ __launch_bounds__(256) void dec_renorm_kernel(float *W, int d) {
    __shared__ double sh[256];
    float *wi = W + (size_t)blockIdx.x * d;
    double s = 0;
    for (int j = threadIdx.x; j < d; j += 256) s += (double)wi[j] * wi[j];
    s = block_sum256(s, sh);
    if (!(s > 0)) return; /* uniform: every thread read the same total */
    const float sc = (float)(1 / sqrt(s));
    for (int j = threadIdx.x; j < d; j += 256) wi[j] *= sc;
}

/* partial[blk] = this block's share of Σ g² (double; fixed grid and tree) */
__global__ __launch_bounds__(256) void sumsq_kernel(double *partial, const float *g, long N) {
    __shared__ double sh[256];
    double s = 0;
    for (long e = (long)blockIdx.x * 256 + threadIdx.x; e < N; e += (long)RED_BLOCKS * 256) s += (double)g[e] * g[e];
    s = block_sum256(s, sh);
    if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

/* Adam (PyTorch's form) on all P floats, g scaled by the clip factor gs:
 *   m <- β1 m + (1-β1) g,  v <- β2 v + (1-β2) g²
 *   w <- w - step (m / (sqrt(v)/sqrt(1-β2^t) + ε)),  step = lr/(1-β1^t)
 * apply = 0 only checks: *bad = 1 if some new w would not be finite, so that
 * a bad update is refused before any weight changes. */
__global__ void adam_kernel(float *w, float *m, float *v, const float *g, long P, float gs, float b1, float b2,
                            float c1, float c2, float step, float sbc2, float eps, int apply, int *bad) {
    const long stride = (long)gridDim.x * blockDim.x;
    for (long e = (long)blockIdx.x * blockDim.x + threadIdx.x; e < P; e += stride) {
        const float gi = g[e] * gs;
        const float mi = b1 * m[e] + c1 * gi, vi = b2 * v[e] + c2 * gi * gi;
        const float wi = w[e] - step * mi / (sqrtf(vi) / sbc2 + eps);
        if (apply) m[e] = mi, v[e] = vi, w[e] = wi;
        else if (!isfinite(wi)) *bad = 1;
    }
}

/* since_fired_i <- 0 if fired, else + B; counters[1] = the dead after it */
__global__ void dead_update_kernel(long long *since, int *count, const int *fired, int B, long long dead_tokens,
                                   int n) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    since[i] = fired[i] ? 0 : since[i] + B;
    if (since[i] >= dead_tokens) atomicAdd(count, 1);
}

/* ----------------------------------------------------------------- host */

static int arch_on_gpu(SAEArchKind k) {
    return k == SAE_ARCH_TOPK || k == SAE_ARCH_BATCHTOPK || k == SAE_ARCH_JUMPRELU;
}

void cuda_arch_free(CUDAArch *a) {
    if (!a) return;
    void *bufs[] = {a->w, a->g, a->am, a->av, a->since, a->fired, a->dead, a->Xc, a->Xh, a->G, a->Eh,
                    a->Z, a->F, a->gZ, a->idx, a->cnt, a->val, a->aidx, a->acnt, a->aval, a->nx, a->cs,
                    a->rown, a->rowse, a->auxn, a->colsst, a->colsum, a->partials, a->counters, a->hist, a->quota};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) cuda_free(bufs[i]);
    free(a);
}

int cuda_arch_init(CUDAArch **out, SAEArch *m, int max_B) {
    *out = NULL;
    const SAEArchParams *p = &m->p;
    if (!arch_on_gpu(p->arch))
        return err_set("cuda_arch_init: architecture %s runs on the CPU only; use --device cpu", sae_arch_name(p->arch));
    CU_REQUIRE(max_B >= 1 && (long)max_B * p->n <= 0x7fffffffL, "batch of %d tokens: need 1 <= B and B x d_sae < 2^31",
               max_B);
    if (!cuda_available()) return err_set("cuda_arch_init: no CUDA device (use --device cpu)");
    CUDAArch *a = (CUDAArch *)xcalloc(1, sizeof *a);
    const size_t d = p->d, n = p->n, B = max_B;
    a->m = m, a->d = p->d, a->n = p->n, a->max_B = max_B;
    a->kmax = p->multi_topk ? 4 * p->k : p->k;
    if (a->kmax < 1) a->kmax = 1;
    const size_t ka = p->k_aux > 0 ? (size_t)p->k_aux : 1;
    for (int t = 0; t < m->n_t; t++) a->off[t] = a->P, a->P += m->t[t].len;
    const size_t P = a->P;
    CU_ALLOC(a->w, P * 4);
    CU_ALLOC(a->g, P * 4);
    CU_ALLOC(a->am, P * 4);
    CU_ALLOC(a->av, P * 4);
    CU_ALLOC(a->since, n * sizeof(long long));
    CU_ALLOC(a->fired, n * 4);
    CU_ALLOC(a->dead, n);
    CU_ALLOC(a->Xc, B * d * 4);
    CU_ALLOC(a->Xh, B * d * 4);
    CU_ALLOC(a->G, B * d * 4);
    CU_ALLOC(a->Eh, B * d * 4);
    CU_ALLOC(a->Z, B * n * 4);
    CU_ALLOC(a->F, B * n * 4);
    CU_ALLOC(a->gZ, B * n * 4);
    CU_ALLOC(a->idx, B * a->kmax * 4);
    CU_ALLOC(a->val, B * a->kmax * 4);
    CU_ALLOC(a->cnt, B * 4);
    CU_ALLOC(a->aidx, B * ka * 4);
    CU_ALLOC(a->aval, B * ka * 4);
    CU_ALLOC(a->acnt, B * 4);
    CU_ALLOC(a->nx, B * 4);
    CU_ALLOC(a->cs, n * 4);
    CU_ALLOC(a->rown, B * 8);
    CU_ALLOC(a->rowse, B * 8);
    CU_ALLOC(a->auxn, B * 8);
    CU_ALLOC(a->colsst, d * 8);
    CU_ALLOC(a->colsum, d * 8);
    CU_ALLOC(a->partials, RED_BLOCKS * 8);
    CU_ALLOC(a->counters, 4 * 4);
    CU_ALLOC(a->hist, 256 * 4);
    CU_ALLOC(a->quota, B * 4);
    for (int t = 0; t < m->n_t; t++) {
        const SAEArchTensor *T = &m->t[t];
        const size_t bytes = (size_t)T->len * 4;
        if (cuda_upload(a->w + a->off[t], T->w, bytes) || cuda_upload(a->am + a->off[t], T->m, bytes) ||
            cuda_upload(a->av + a->off[t], T->v, bytes))
            goto fail;
        float *wv = a->w + a->off[t], *gv = a->g + a->off[t];
        if (!strcmp(T->name, "W_enc")) a->W_enc = wv, a->g_W_enc = gv;
        else if (!strcmp(T->name, "W_dec")) a->W_dec = wv, a->g_W_dec = gv;
        else if (!strcmp(T->name, "b_enc")) a->b_enc = wv, a->g_b_enc = gv;
        else if (!strcmp(T->name, "b_dec")) a->b_dec = wv, a->g_b_dec = gv;
        else if (!strcmp(T->name, "log_threshold")) a->log_thr = wv, a->g_log_thr = gv;
    }
    {
        long long *since = (long long *)xmalloc(n * sizeof(long long));
        for (size_t i = 0; i < n; i++) since[i] = m->since_fired[i];
        int rc = cuda_upload(a->since, since, n * sizeof(long long));
        free(since);
        if (rc) goto fail;
    }
    *out = a;
    return 0;
fail:
    err_prefix("cuda_arch_init");
    cuda_arch_free(a);
    return -1;
}

/* *s = Σ of the device doubles d_v (N), added on the host in order. */
static int sum_dev(const double *d_v, int N, double *s) {
    double *h = (double *)xmalloc((size_t)N * sizeof(double));
    int rc = cuda_download(h, d_v, (size_t)N * sizeof(double));
    *s = 0;
    for (int i = 0; i < N && rc == 0; i++) *s += h[i];
    free(h);
    return rc;
}

/* g_W_enc += gZᵀ Xc, g_b_enc += Σ_b gZ, g_b_dec -= W_encᵀ Σ_b gZ: the
 * encoder's backward for Z = Xc W_encᵀ + b_enc, Xc = sX - b_dec. */
static int encode_back(CUDAArch *a, int B) {
    const int d = a->d, n = a->n;
    if (cuda_gemm(1, 0, n, d, B, 1.0f, a->gZ, n, a->Xc, d, 1.0f, a->g_W_enc, d, NULL, CUDA_MATMUL_FP32)) return -1;
    colsum_kernel<<<cu_blocks(n, 256), 256>>>(a->cs, a->gZ, B, n, 0);
    CU_LAUNCHED();
    colsum_kernel<<<cu_blocks(n, 256), 256>>>(a->g_b_enc, a->cs, 1, n, 1); /* g_b_enc += cs (one row) */
    CU_LAUNCHED();
    return cuda_gemm(0, 0, 1, d, n, -1.0f, a->cs, n, a->W_enc, d, 1.0f, a->g_b_dec, d, NULL, CUDA_MATMUL_FP32);
}

/* The decoder's backward for a selection given as lists (idx, val, cnt;
 * rows of stride kk), G (B, d) = d loss / d x̂: g_W_dec += Fᵀ G (F dense
 * from the lists), g_z += W_dec[i] · G at the selected. fired (n), when
 * given, marks the latents with f > 0 and counters[0] counts them. */
static int sparse_back(CUDAArch *a, int B, const int *idx, const float *val, const int *cnt, int kk, int *fired) {
    const int d = a->d, n = a->n;
    if (cuda_memset(a->F, 0, (size_t)B * n * 4)) return -1;
    const long E = (long)B * kk;
    scatter_kernel<<<cu_blocks(E, 256), 256>>>(a->F, fired, a->counters, idx, val, cnt, kk, B, n);
    CU_LAUNCHED();
    if (cuda_gemm(1, 0, n, d, B, 1.0f, a->F, n, a->G, d, 1.0f, a->g_W_dec, d, NULL, CUDA_MATMUL_FP32)) return -1;
    sel_grad_kernel<<<cu_blocks(E, 8), 256>>>(a->gZ, idx, val, cnt, kk, a->G, a->W_dec, B, n, d);
    CU_LAUNCHED();
    return 0;
}

/* One TopK term (sae/arch_topk.c's topk_term): select kk per token, decode,
 * the reconstruction loss weighted coef, and its backward into g_W_dec,
 * g_b_dec and gZ. Returns coef Σ rown / B in *loss (host). */
static int topk_term(CUDAArch *a, int B, int kk, float coef, int main_term, double *loss, double *sse) {
    const int d = a->d, n = a->n;
    row_topk_kernel<<<B, SEL_THREADS>>>(a->idx, a->val, a->cnt, a->Z, NULL, n, kk);
    CU_LAUNCHED();
    sparse_decode_kernel<<<dim3(B, cu_blocks(d, 256)), 256>>>(a->Xh, a->idx, a->val, a->cnt, kk, a->W_dec, a->b_dec, d);
    CU_LAUNCHED();
    recon_kernel<<<B, 256>>>(a->G, a->rown, a->rowse, a->Xh, a->Xc, a->b_dec, a->nx, coef, B, d);
    CU_LAUNCHED();
    /* g_b_dec += Σ_b G;  g_W_dec and g_z from the selection */
    colsum_kernel<<<cu_blocks(d, 256), 256>>>(a->g_b_dec, a->G, B, d, 1);
    CU_LAUNCHED();
    if (sparse_back(a, B, a->idx, a->val, a->cnt, kk, main_term ? a->fired : NULL)) return -1;
    double s = 0, se = 0;
    if (sum_dev(a->rown, B, &s) || sum_dev(a->rowse, B, &se)) return -1;
    *loss = coef * s / B;
    if (sse) *sse = se;
    return 0;
}

/* AuxK (sae/arch_topk.c's sae_auxk): the dead latents' top k_aux per token
 * reconstruct the residual e = x - x̂ (Xh holds x̂ of the k term). */
static int auxk(CUDAArch *a, int B, SAEArchLog *log) {
    const SAEArchParams *p = &a->m->p;
    const int d = a->d, n = a->n;
    if (p->k_aux == 0 || p->aux_alpha == 0) return 0;
    int n_dead = 0;
    if (cuda_memset(a->counters + 1, 0, 4)) return -1;
    dead_mask_kernel<<<cu_blocks(n, 256), 256>>>(a->dead, a->counters + 1, a->since, p->dead_tokens, n);
    CU_LAUNCHED();
    if (cuda_download(&n_dead, a->counters + 1, 4)) return -1;
    if (n_dead == 0) return 0;
    const int kk = p->k_aux < n_dead ? p->k_aux : n_dead;
    row_topk_kernel<<<B, SEL_THREADS>>>(a->aidx, a->aval, a->acnt, a->Z, a->dead, n, kk);
    CU_LAUNCHED();
    sparse_decode_kernel<<<dim3(B, cu_blocks(d, 256)), 256>>>(a->Eh, a->aidx, a->aval, a->acnt, kk, a->W_dec, NULL, d);
    CU_LAUNCHED();
    auxk_err_kernel<<<B, 256>>>(a->G, a->auxn, a->Eh, a->Xh, a->Xc, a->b_dec, a->nx, p->aux_alpha, B, d);
    CU_LAUNCHED();
    /* g_W_dec += Aᵀ G_aux (no b_dec: ê has none);  g_z += W_dec[i] · G_aux at the selected */
    if (sparse_back(a, B, a->aidx, a->aval, a->acnt, kk, NULL)) return -1;
    double s = 0;
    if (sum_dev(a->auxn, B, &s)) return -1;
    log->aux += p->aux_alpha * s / B;
    return 0;
}

/* BatchTopK's selection: the k·B largest entries of the whole Z (ties to the
 * lower flat index), as a dense F; the same radix select as row_topk_kernel
 * over all B n entries, the 256-bin walk on the host after each pass. */
static int batch_select(CUDAArch *a, int B) {
    const int n = a->n;
    const long N = (long)B * n;
    int need = (int)((long)a->m->p.k * B < N ? (long)a->m->p.k * B : N);
    unsigned prefix = 0u, mask = 0u, hist[256];
    for (int shift = 24; shift >= 0; shift -= 8) {
        if (cuda_memset(a->hist, 0, sizeof hist)) return -1;
        global_hist_kernel<<<cu_grid(N), 256>>>(a->hist, a->Z, N, prefix, mask, shift);
        CU_LAUNCHED();
        if (cuda_download(hist, a->hist, sizeof hist)) return -1;
        unsigned above;
        prefix |= radix_bin(hist, need, &above) << shift;
        need -= (int)above;
        mask |= 255u << shift;
    }
    /* the ties go to the lowest flat indices: token by token in order */
    int *q = (int *)xmalloc((size_t)B * sizeof(int));
    row_ties_kernel<<<B, 256>>>(a->quota, a->Z, n, prefix);
    if (cudaGetLastError() != cudaSuccess || cuda_download(q, a->quota, (size_t)B * 4)) {
        free(q);
        return err_set("batch_select: the tie count failed");
    }
    for (int b = 0; b < B; b++) {
        const int take = q[b] < need ? q[b] : need;
        q[b] = take, need -= take;
    }
    int rc = cuda_upload(a->quota, q, (size_t)B * 4);
    free(q);
    if (rc) return -1;
    const int inf_bits = 0x7f800000;
    if (cuda_upload(a->counters + 3, &inf_bits, 4)) return -1;
    batch_select_kernel<<<B, SEL_THREADS>>>(a->F, a->fired, a->counters, a->Z, a->quota, n, prefix);
    CU_LAUNCHED();
    return 0;
}

/* Per-step numbers every architecture shares: FVU from rowse and Xc, l0
 * from the active count. */
static int finish_log(CUDAArch *a, int B, double sse, SAEArchLog *log) {
    const int d = a->d;
    colsst_kernel<<<cu_blocks(d, 256), 256>>>(a->colsst, a->Xc, B, d);
    CU_LAUNCHED();
    int act = 0;
    double sst = 0;
    if (sum_dev(a->colsst, d, &sst) || cuda_download(&act, a->counters, 4)) return -1;
    log->fvu = sst > 0 ? sse / sst : NAN;
    log->l0 = (double)act / B;
    return 0;
}

/* The reconstruction term of a dense F (batchtopk, jumprelu): x̂ = F W_dec +
 * b_dec, G = d loss / d x̂ (nx NULL: 1 per token), g_b_dec += Σ_b G,
 * g_W_dec += Fᵀ G, and gZ = G W_decᵀ: g_f of every entry, for the caller
 * to mask. *recon = Σ rown / B, *sse = Σ rowse. */
static int dense_recon(CUDAArch *a, int B, const float *nx, double *recon, double *sse) {
    const int d = a->d, n = a->n;
    if (cuda_gemm(0, 0, B, d, n, 1.0f, a->F, n, a->W_dec, d, 0.0f, a->Xh, d, a->b_dec, CUDA_MATMUL_FP32)) return -1;
    recon_kernel<<<B, 256>>>(a->G, a->rown, a->rowse, a->Xh, a->Xc, a->b_dec, nx, 1.0f, B, d);
    CU_LAUNCHED();
    colsum_kernel<<<cu_blocks(d, 256), 256>>>(a->g_b_dec, a->G, B, d, 1);
    CU_LAUNCHED();
    if (cuda_gemm(1, 0, n, d, B, 1.0f, a->F, n, a->G, d, 1.0f, a->g_W_dec, d, NULL, CUDA_MATMUL_FP32) ||
        cuda_gemm(0, 1, B, n, d, 1.0f, a->G, d, a->W_dec, d, 0.0f, a->gZ, n, NULL, CUDA_MATMUL_FP32))
        return -1;
    double s = 0;
    if (sum_dev(a->rown, B, &s) || sum_dev(a->rowse, B, sse)) return -1;
    *recon = s / B;
    return 0;
}

static int loss_grad(CUDAArch *a, const float *d_X, int B, SAEArchLog *log) {
    SAEArch *m = a->m;
    const SAEArchParams *p = &m->p;
    const int d = a->d, n = a->n;
    const long BN = (long)B * n;
    memset(log, 0, sizeof *log);
    if (cuda_memset(a->g, 0, (size_t)a->P * 4) || cuda_memset(a->fired, 0, (size_t)n * 4) ||
        cuda_memset(a->counters, 0, 3 * 4) || cuda_memset(a->gZ, 0, (size_t)BN * 4))
        return -1;
    /* Xc = sX - b_dec;  Z = Xc W_encᵀ + b_enc */
    center_kernel<<<cu_grid((long)B * d), 256>>>(a->Xc, d_X, a->b_dec, m->input_scale, (long)B * d, d);
    CU_LAUNCHED();
    if (cuda_gemm(0, 1, B, n, d, 1.0f, a->Xc, d, a->W_enc, d, 0.0f, a->Z, n, a->b_enc, CUDA_MATMUL_FP32)) return -1;
    double sse = 0;
    a->last_B = B, a->last_kk = 0;
    if (p->arch == SAE_ARCH_TOPK) {
        token_norm_kernel<<<B, 256>>>(a->nx, a->Xc, a->b_dec, d);
        CU_LAUNCHED();
        double l;
        if (p->multi_topk) { /* the 4k term first: Xh is then overwritten by the k term */
            if (topk_term(a, B, 4 * p->k, 0.125f, 0, &l, NULL)) return -1;
            log->recon += l;
        }
        if (topk_term(a, B, p->k, 1.0f, 1, &l, &sse)) return -1;
        log->recon += l;
        a->last_kk = p->k;
        if (auxk(a, B, log)) return -1;
        log->loss = log->recon + log->aux;
    } else if (p->arch == SAE_ARCH_BATCHTOPK) {
        token_norm_kernel<<<B, 256>>>(a->nx, a->Xc, a->b_dec, d);
        CU_LAUNCHED();
        /* g_z = g_f [in S][z > 0] = g_f [f > 0] */
        if (batch_select(a, B) || dense_recon(a, B, a->nx, &log->recon, &sse)) return -1;
        mask_grad_kernel<<<cu_grid(BN), 256>>>(a->gZ, a->F, BN);
        CU_LAUNCHED();
        int minbits = 0;
        if (cuda_download(&minbits, a->counters + 3, 4)) return -1;
        float mk;
        memcpy(&mk, &minbits, 4);
        m->min_kept = isinf(mk) ? NAN : mk;
        if (auxk(a, B, log)) return -1;
        log->loss = log->recon + log->aux;
    } else { /* jumprelu */
        const float lam = sae_arch_lambda(m);
        jump_fwd_kernel<<<cu_grid(BN), 256>>>(a->F, a->fired, a->counters, a->Z, a->log_thr, BN, n);
        CU_LAUNCHED();
        if (dense_recon(a, B, NULL, &log->recon, &sse)) return -1;
        jump_back_kernel<<<cu_blocks(n, 256), 256>>>(a->g_log_thr, a->gZ, a->Z, a->log_thr, B, n, p->jump_eps, lam);
        CU_LAUNCHED();
        int act = 0;
        if (cuda_download(&act, a->counters, 4)) return -1;
        log->sparsity = lam * (double)act / B;
        log->loss = log->recon + log->sparsity;
    }
    if (encode_back(a, B)) return -1;
    return finish_log(a, B, sse, log);
}

int cuda_arch_loss_grad(CUDAArch *a, const float *d_X, int B, SAEArchLog *log) {
    if (B < 1 || B > a->max_B) return err_set("cuda_arch_loss_grad: batch = %d: need 1 <= B <= %d", B, a->max_B);
    if (loss_grad(a, d_X, B, log)) return err_prefix("cuda_arch_loss_grad");
    return 0;
}

/* sae/arch_train.c's steps 2-8 on the device (the numbered list there). */
static int apply(CUDAArch *a, int B, SAEArchLog *log) {
    SAEArch *m = a->m;
    const SAEArchParams *p = &m->p;
    const int d = a->d, n = a->n;
    if (!isfinite(log->loss))
        return err_set("step %ld: the loss is %g; training stopped (lower the learning rate, or check the "
                       "activations for NaN or huge values)", m->step + 1, log->loss);
    /* 2. the unit-norm decoder's gradient side (every architecture here has it) */
    dec_project_kernel<<<n, 256>>>(a->g_W_dec, a->W_dec, d);
    CU_LAUNCHED();
    /* 3. clipping by the global norm */
    sumsq_kernel<<<RED_BLOCKS, 256>>>(a->partials, a->g, a->P);
    CU_LAUNCHED();
    double part[RED_BLOCKS], ss = 0;
    if (cuda_download(part, a->partials, sizeof part)) return -1;
    for (int i = 0; i < RED_BLOCKS; i++) ss += part[i];
    log->grad_norm = sqrt(ss);
    float gs = 1.0f;
    if (p->grad_clip > 0) {
        double coef = p->grad_clip / (log->grad_norm + 1e-6);
        if (coef < 1) gs = (float)coef;
    }
    /* 4. the scheduled learning rate;  5. Adam, checked first */
    const double lr = sae_arch_lr(m);   /* the CPU's schedule */
    log->lr = lr;
    const long t = m->step + 1;
    const double b1 = p->beta1, b2 = p->beta2;
    const double bc1 = 1 - pow(b1, (double)t), bc2 = 1 - pow(b2, (double)t);
    const float step = (float)(lr / bc1), sbc2 = (float)sqrt(bc2);
    int bad = 0;
    if (cuda_memset(a->counters + 2, 0, 4)) return -1;
    for (int pass = 0; pass < 2; pass++) {
        adam_kernel<<<cu_grid(a->P), 256>>>(a->w, a->am, a->av, a->g, a->P, gs, (float)b1, (float)b2,
                                            (float)(1 - b1), (float)(1 - b2), step, sbc2, p->adam_eps, pass,
                                            a->counters + 2);
        CU_LAUNCHED();
        if (pass == 0 && cuda_download(&bad, a->counters + 2, 4)) return -1;
        if (bad)
            return err_set("step %ld: the update would make a weight infinite or NaN; training stopped (lower the "
                           "learning rate)", m->step + 1);
    }
    /* 6. the unit-norm decoder's weight side */
    dec_renorm_kernel<<<n, 256>>>(a->W_dec, d);
    CU_LAUNCHED();
    /* 7. dead latents */
    int dead = 0;
    if (cuda_memset(a->counters + 1, 0, 4)) return -1;
    dead_update_kernel<<<cu_blocks(n, 256), 256>>>(a->since, a->counters + 1, a->fired, B, p->dead_tokens, n);
    CU_LAUNCHED();
    if (cuda_download(&dead, a->counters + 1, 4)) return -1;
    log->dead_frac = (double)dead / n;
    /* 8. batchtopk's threshold */
    if (p->arch == SAE_ARCH_BATCHTOPK && !isnan(m->min_kept))
        m->threshold = (1 - p->threshold_lr) * m->threshold + p->threshold_lr * m->min_kept;
    m->step++;
    return 0;
}

int cuda_arch_apply(CUDAArch *a, int B, SAEArchLog *log) {
    if (apply(a, B, log)) return err_prefix("cuda_arch_apply");
    return 0;
}

int cuda_arch_step(CUDAArch *a, const float *d_X, int B, SAEArchLog *log) {
    if (cuda_arch_loss_grad(a, d_X, B, log)) return -1;
    return apply(a, B, log);
}

int cuda_arch_grads(CUDAArch *a) {
    for (int t = 0; t < a->m->n_t; t++)
        if (cuda_download(a->m->t[t].g, a->g + a->off[t], (size_t)a->m->t[t].len * 4))
            return err_prefix("cuda_arch_grads");
    return 0;
}

int cuda_arch_selected(CUDAArch *a, int B, int *idx, int *cnt) {
    if (a->last_kk == 0 || B != a->last_B)
        return err_set("cuda_arch_selected: no topk selection of %d tokens to give", B);
    if (cuda_download(idx, a->idx, (size_t)B * a->last_kk * 4) || cuda_download(cnt, a->cnt, (size_t)B * 4))
        return err_prefix("cuda_arch_selected");
    return 0;
}

int cuda_arch_download(CUDAArch *a) {
    SAEArch *m = a->m;
    for (int t = 0; t < m->n_t; t++) {
        const SAEArchTensor *T = &m->t[t];
        const size_t bytes = (size_t)T->len * 4;
        if (cuda_download(T->w, a->w + a->off[t], bytes) || cuda_download(T->m, a->am + a->off[t], bytes) ||
            cuda_download(T->v, a->av + a->off[t], bytes))
            return err_prefix("cuda_arch_download");
    }
    long long *since = (long long *)xmalloc((size_t)a->n * sizeof(long long));
    int rc = cuda_download(since, a->since, (size_t)a->n * sizeof(long long));
    for (int i = 0; i < a->n && rc == 0; i++) m->since_fired[i] = (long)since[i];
    free(since);
    return rc ? err_prefix("cuda_arch_download") : 0;
}

int cuda_arch_train(SAEArch *m, const float *X, long T, int B, long steps, SAEArchStepFn on_step, void *ctx) {
    if (B < 1 || T < B) return err_set("batch = %d: must be between 1 and the number of tokens (%ld)", B, T);
    const int d = m->p.d;
    const long nb = T / B;
    CUDAArch *a = NULL;
    float *d_X = NULL;
    int rc = -1;
    /* the tokens the batches use, uploaded once */
    if (cuda_malloc((void **)&d_X, (size_t)nb * B * d * 4) || cuda_upload(d_X, X, (size_t)nb * B * d * 4) ||
        cuda_arch_init(&a, m, B))
        goto done;
    for (long s = 0; s < steps; s++) {
        SAEArchLog log;
        if (cuda_arch_step(a, d_X + (size_t)(s % nb) * B * d, B, &log)) goto done;
        if (on_step && on_step(ctx, m->step, &log) != 0) goto done;
    }
    rc = 0;
done:
    /* the weights of the last good step (a failed step changed none) */
    if (a) {
        char keep[512];
        snprintf(keep, sizeof keep, "%s", err_get());
        if (cuda_arch_download(a) != 0) rc = -1;
        else if (rc != 0) err_set("%s", keep);
    }
    cuda_arch_free(a);
    cuda_free(d_X);
    return rc;
}

/* ------------------------------------- data-parallel ranks (dist/dp.h) */

int cuda_arch_pick_device(int rank, int *dev) {
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess || count < 1) {
        (void)cudaGetLastError();
        return err_set("rank %d: no CUDA device (%s); use --device cpu", rank,
                       e != cudaSuccess ? cudaGetErrorString(e) : "count is 0");
    }
    *dev = rank % count;
    CU_TRY(cudaSetDevice(*dev));
    return 0;
}

int cuda_arch_grads_get(CUDAArch *a, unsigned char *fired) {
    if (cuda_arch_grads(a)) return -1;
    int *f = (int *)xmalloc((size_t)a->n * sizeof(int));
    int rc = cuda_download(f, a->fired, (size_t)a->n * 4);
    for (int i = 0; i < a->n && rc == 0; i++) fired[i] = f[i] != 0;
    free(f);
    return rc ? err_prefix("cuda_arch_grads_get") : 0;
}

int cuda_arch_grads_put(CUDAArch *a, const unsigned char *fired) {
    int *f = (int *)xmalloc((size_t)a->n * sizeof(int));
    for (int i = 0; i < a->n; i++) f[i] = fired[i] != 0;
    int rc = cuda_upload(a->fired, f, (size_t)a->n * 4);
    free(f);
    for (int t = 0; t < a->m->n_t && rc == 0; t++)
        rc = cuda_upload(a->g + a->off[t], a->m->t[t].g, (size_t)a->m->t[t].len * 4);
    return rc ? err_prefix("cuda_arch_grads_put") : 0;
}

int cuda_arch_fvu_sums(CUDAArch *a, double *s) {
    const int B = a->last_B, d = a->d;
    if (B < 1) return err_set("cuda_arch_fvu_sums: no loss_grad before it");
    colsums_kernel<<<cu_blocks(d, 256), 256>>>(a->colsum, a->colsst, a->Xc, B, d);
    CU_LAUNCHED();
    if (sum_dev(a->rowse, B, &s[0]) || sum_dev(a->colsst, d, &s[1]) ||
        cuda_download(s + 2, a->colsum, (size_t)d * sizeof(double)))
        return err_prefix("cuda_arch_fvu_sums");
    return 0;
}
