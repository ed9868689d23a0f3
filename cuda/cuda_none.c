/* cuda/cuda_none.c - placeholder until the CUDA module lands. */
typedef int cuda_none_placeholder;
