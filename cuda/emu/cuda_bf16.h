/*
 * cuda/emu/cuda_bf16.h - __nv_bfloat16 for the CUDA emulator
 * (cuda/emu/cuda_runtime.h): the top 16 bits of a float (8 exponent bits,
 * 7 mantissa bits), converted from float with round to nearest even as the
 * device's __float2bfloat16 does. Only what the engine uses: the type and
 * the two conversions (no arithmetic operators).
 */
#ifndef CUDA_EMU_CUDA_BF16_H
#define CUDA_EMU_CUDA_BF16_H

#include "cuda_runtime.h"

struct __nv_bfloat16 {
    unsigned short x;
};

static inline __nv_bfloat16 __float2bfloat16(float f) {
    unsigned u = __float_as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return __nv_bfloat16{(unsigned short)((u >> 16) | 0x40u)}; /* quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1u);
    return __nv_bfloat16{(unsigned short)(u >> 16)};
}
static inline float __bfloat162float(__nv_bfloat16 h) { return __uint_as_float((unsigned)h.x << 16); }

#endif
