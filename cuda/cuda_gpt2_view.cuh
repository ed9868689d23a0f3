/*
 * cuda/cuda_gpt2_view.cuh - a borrowed view of a CUDAGPT2's device weights,
 * for the code in cuda/ that runs the model its own way (cuda_decode.cu: a
 * KV cache, one token at a time) without a second copy of the weights.
 * Every pointer is device memory owned by the CUDAGPT2 and valid until
 * cuda_gpt2_free.
 */
#ifndef CUDA_CUDA_GPT2_VIEW_CUH
#define CUDA_CUDA_GPT2_VIEW_CUH

#include "cuda/cuda_common.cuh"

typedef struct {
    const float *ln1w, *ln1b;         /* (C), (C) */
    const float *qkvw, *qkvb;         /* (C, 3C), (3C) */
    const float *attprojw, *attprojb; /* (C, C), (C) */
    const float *ln2w, *ln2b;         /* (C), (C) */
    const float *fcw, *fcb;           /* (C, 4C), (4C) */
    const float *fcprojw, *fcprojb;   /* (4C, C), (C) */
} CUDALayerView;

typedef struct {
    GPT2Config cfg;
    CUDAMatmulKind kind;    /* the matrix products' arithmetic (cuda_gpt2_set_matmul) */
    const float *wte, *wpe; /* (V, C), (n_ctx, C) */
    const float *lnfw, *lnfb; /* (C), (C) */
    const float *lm_head;   /* (V, C) */
} CUDAGPT2View;

/* The model's configuration and its non-layer weights. */
void cuda_gpt2_view(const CUDAGPT2 *g, CUDAGPT2View *v);
/* Block l's weights, 0 <= l < n_layer. */
void cuda_gpt2_layer_view(const CUDAGPT2 *g, int l, CUDALayerView *v);

#endif
