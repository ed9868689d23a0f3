/*
 * cuda/cuda_hooks.cuh - inside cuda/ only: the one GPU forward pass
 * (cuda_gpt2.cu) and the hooks it calls at every site (cuda_hooks.cu).
 * The public side is cuda.h's CUDAHook, cuda_gpt2_forward_batch and
 * cuda_gpt2_resume.
 */
#ifndef CUDA_CUDA_HOOKS_CUH
#define CUDA_CUDA_HOOKS_CUH

#include "cuda/cuda_common.cuh"

/* The pass over B windows of T tokens (rows = B * T), ids (B, T) each from
 * position 0. from = layer * GPT2_NSITES + site resumes right after that
 * site with act (rows, width) there and resid (rows, C) the residual stream
 * (ids unused, B = 1), or -1 starts at the embeddings. want_logits runs to
 * the end (logits (rows, V) host, when not NULL, receives them); else the
 * pass stops after the deepest hook. Checks ids, layers and sites. */
int cu_gpt2_pass(CUDAGPT2 *g, const int32_t *ids, int B, int T, const CUDAHook *hooks, int n_hooks, int from,
                 const float *resid, const float *act, int want_logits, float *logits);

/* Check each hook's layer and site against n_layer; returns 0 or -1 with err_set(). */
int cu_hooks_check(const CUDAHook *hooks, int n_hooks, int n_layer);
/* layer * GPT2_NSITES + site of the deepest hook, -1 without hooks. */
int cu_hooks_deepest(const CUDAHook *hooks, int n_hooks);
/* Run the hooks at (layer, site) on d_act (rows, width), the pass's own
 * buffer; d_resid (rows, C) is the residual stream there. A hook's fn gets
 * a host copy, uploaded back into d_act after it. Returns 0 or -1. */
int cu_hooks_at(const CUDAHook *hooks, int n_hooks, int layer, GPT2Site site, float *d_act, const float *d_resid,
                int rows, int width, int C);

#endif
