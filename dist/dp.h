/*
 * dist/dp.h - data-parallel training of the SAE architectures (sae/arch.h):
 * every rank holds the whole SAE; a global batch of B tokens is split into
 * the ranks' shards (dist_share), each rank computes the loss and gradients
 * of its shard, the gradients are summed in place across ranks with the
 * weights B_r / B (so that the sum is the gradient of the global batch's
 * mean loss, as one process computes it), and every rank applies the same
 * step (sae_arch_apply: clipping, Adam, decoder norm, dead counters from the
 * union of the fired latents). Only the order of the additions differs from
 * one process, so the weights stay identical across ranks and within float
 * rounding of a single process.
 *
 * A rank computes on the CPU or on a GPU (cuda/cuda.h's cuda_arch_*: topk,
 * batchtopk, jumprelu); the step is the same code for both (dist_step), the
 * device only decides where the loss, the gradients and the update run. A GPU
 * rank's gradients go through host memory: downloaded, summed by MPI,
 * uploaded (the reduce seam below; NCCL is not implemented, dist/README.md).
 *
 *   long lo, cnt;
 *   dist_share(B, dist_rank(), dist_size(), &lo, &cnt);
 *   DistDevice dv;                                   // on_gpu: GPU rank mod count
 *   if (dist_device_init(&dv, &m, on_gpu, (int)cnt) != 0) dist_abort(1);
 *   SAEArchLog log;
 *   if (dist_step(&dv, X + lo * d, (int)cnt, B, &log) != 0) dist_abort(1);
 *   dist_device_download(&dv);                       // m up to date (checkpoints)
 *   dist_device_free(&dv);
 *
 * (dist_sae_step(&m, ...) is dist_step on the CPU.) BatchTopK is refused with
 * more than one rank: its top k*B runs over the whole batch, which no rank
 * holds (use latent sharding, dist/shard.h, or one process).
 */
#ifndef DIST_DP_H
#define DIST_DP_H

#include "sae/arch.h"

/* The contiguous share [*lo, *lo + *cnt) of rank r of N in 0..B-1 (the first
 * B % N ranks take one more). */
void dist_share(long B, int r, int N, long *lo, long *cnt);

typedef struct DistDevice DistDevice;
/* The gradients' all-reduce of one step: every rank's gradients scaled by w
 * (its share B_r / B) and summed in place, the fired flags OR-ed (max), so
 * that dv's device holds the global batch's gradients for the update.
 *
 * THE SEAM FOR A DEVICE COLLECTIVE. The one implementation,
 * dist_grad_reduce_host, works in host memory (a GPU rank downloads its
 * gradients, MPI_Allreduce in place, uploads). A NCCL version would scale
 * and ncclAllReduce the GPU's gradient buffer in place (and ncclMax the fired
 * flags) and be set here; not implemented: see dist/README.md. */
typedef int (*DistGradReduceFn)(DistDevice *dv, float w);

struct DistDevice {
    SAEArch *m;                /* borrowed: the model (on a GPU rank its weights in m are the
                                  last dist_device_download's; its step advances with every step) */
    struct CUDAArch *gpu;      /* NULL on the CPU; else m's copy on this rank's GPU */
    int gpu_id;                /* the GPU used (rank mod the GPU count), -1 on the CPU */
    int max_B;                 /* GPU: the largest share a step may get */
    float *d_X;                /* GPU: (max_B, d) the share's tokens on the device */
    unsigned char *fired;      /* GPU: (n) the fired flags in host memory, for the reduce */
    DistGradReduceFn reduce;   /* dist_grad_reduce_host unless replaced (the seam above) */
};

/* A rank's device for m: the CPU (on_gpu 0: nothing to allocate), or GPU
 * rank mod count (cuda_arch_pick_device), m uploaded (cuda_arch_init) with
 * room for shares of up to max_B tokens. m is borrowed and must outlive *dv.
 * -1 with err_set() (no GPU, an architecture the GPU lacks). */
int dist_device_init(DistDevice *dv, SAEArch *m, int on_gpu, int max_B);
/* A GPU rank: copy the weights, Adam moments and dead counters back into m
 * (before a checkpoint). The CPU: nothing to do. */
int dist_device_download(DistDevice *dv);
/* Free the device's buffers (not m). A zeroed *dv is fine. */
void dist_device_free(DistDevice *dv);

/* The default reduce: in host memory, one MPI_Allreduce per tensor. */
int dist_grad_reduce_host(DistDevice *dv, float w);

/* One data-parallel step on dv's device: X (B_local, d), host memory, is
 * this rank's shard of a global batch of B_global tokens (B_local >= 1 on
 * every rank). *log gets the global batch's numbers (loss parts, l0 and fvu
 * reduced as one process would compute them). Every rank must call it. */
int dist_step(DistDevice *dv, const float *X, int B_local, long B_global, SAEArchLog *log);
/* dist_step on the CPU. */
int dist_sae_step(SAEArch *m, const float *X, int B_local, long B_global, SAEArchLog *log);

#endif
