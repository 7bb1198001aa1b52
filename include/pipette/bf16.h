/* pipette/bf16.h - bfloat16 values, as the kernels of a layer read and
 * write them where the model runs in bf16 ([train] precision = bf16).
 *
 * A pp_bf16 holds the high 16 bits of an FP32 value: FP32's exponent, 8
 * bits of mantissa. Reading one is exact. Writing one rounds to nearest,
 * ties to even, and makes any NaN 0x7fff, as __float2bfloat16 does on a
 * GPU: the CPU and CUDA halves of a layer store the same bits for the same
 * float. Arithmetic is FP32: load, compute, store.
 *
 * The row helpers are for CPU kernels that compute in FP32 scratch.
 */
#ifndef PIPETTE_BF16_H
#define PIPETTE_BF16_H

#include <stdint.h>
#include <string.h>

#include <pipette/tensor.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef uint16_t pp_bf16;

static inline float pp_bf16_to_f32(pp_bf16 h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline pp_bf16 pp_f32_to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return 0x7fff;
    u += 0x7fffu + ((u >> 16) & 1u);
    return (pp_bf16)(u >> 16);
}

/* f rounded to bf16 and back: what a bf16 tensor keeps of it. */
static inline float pp_bf16_round(float f)
{
    return pp_bf16_to_f32(pp_f32_to_bf16(f));
}

/* dst (n floats) = src (n values of dtype, PP_F32 or PP_BF16). */
static inline void pp_row_load(float *dst, const void *src, pp_dtype dtype,
                               int64_t n)
{
    if (dtype != PP_BF16) {
        memcpy(dst, src, (size_t)n * sizeof *dst);
        return;
    }
    const pp_bf16 *h = (const pp_bf16 *)src;
    for (int64_t i = 0; i < n; i++)
        dst[i] = pp_bf16_to_f32(h[i]);
}

/* dst (n values of dtype) = src (n floats), rounded for bf16. */
static inline void pp_row_store(void *dst, pp_dtype dtype, const float *src,
                                int64_t n)
{
    if (dtype != PP_BF16) {
        memcpy(dst, src, (size_t)n * sizeof *src);
        return;
    }
    pp_bf16 *h = (pp_bf16 *)dst;
    for (int64_t i = 0; i < n; i++)
        h[i] = pp_f32_to_bf16(src[i]);
}

/* dst (n values of dtype) += src (n floats): one rounding per element. */
static inline void pp_row_add(void *dst, pp_dtype dtype, const float *src,
                              int64_t n)
{
    if (dtype != PP_BF16) {
        float *f = (float *)dst;
        for (int64_t i = 0; i < n; i++)
            f[i] += src[i];
        return;
    }
    pp_bf16 *h = (pp_bf16 *)dst;
    for (int64_t i = 0; i < n; i++)
        h[i] = pp_f32_to_bf16(pp_bf16_to_f32(h[i]) + src[i]);
}

#ifdef __cplusplus
}
#endif

#endif
