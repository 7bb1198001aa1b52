/* pipette/tensor.h - what a tensor is to pipette: a dtype and a per-sample
 * shape, over contiguous memory that the core owns.
 *
 * A micro-batch of n samples is n consecutive samples, row-major: one
 * sample of shape 16x64 followed by the next. Layers, optimizers and data
 * sources never allocate tensors; they are handed pointers.
 */
#ifndef PIPETTE_TENSOR_H
#define PIPETTE_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include <pipette/config.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum pp_dtype {
    PP_F32 = 1, /* activations, parameters, gradients */
    PP_I32,     /* token ids, class labels */
    PP_BF16     /* bfloat16: FP32's exponent, 8 bits of mantissa */
} pp_dtype;

/* How a model computes: [train] precision. Parameters, their gradients
 * and optimizer state are FP32 in all three. */
typedef enum pp_precision {
    PP_PRECISION_FP32 = 0, /* FP32 activations and arithmetic */
    PP_PRECISION_TF32,     /* the same, GEMMs on TF32 tensor cores (FP32
                              in and out, inputs rounded to 10 mantissa
                              bits, FP32 accumulate) */
    PP_PRECISION_BF16      /* bf16 activations, their gradients and
                              messages; GEMMs read a bf16 copy of the
                              weights and accumulate in FP32 */
} pp_precision;

/* A set of precisions (pp_layer_ops.precisions). */
#define PP_PRECISION_BIT(p) (1u << (p))

typedef struct pp_tensor_desc {
    pp_dtype dtype;
    pp_shape shape; /* one sample; the batch dimension is never included */
} pp_tensor_desc;

/* Whether a dtype holds real numbers (f32 or bf16), not ids. */
static inline int pp_dtype_is_float(pp_dtype dtype)
{
    return dtype == PP_F32 || dtype == PP_BF16;
}

/* Bytes of one element: 4, or 2 for bf16. */
size_t pp_dtype_size(pp_dtype dtype);

/* "f32", "i32", "bf16". */
const char *pp_dtype_name(pp_dtype dtype);

/* "fp32", "tf32", "bf16". */
const char *pp_precision_name(pp_precision precision);

/* The dtype of a float activation under a precision: PP_BF16 or PP_F32. */
pp_dtype pp_precision_dtype(pp_precision precision);

/* Bytes of one sample (SIZE_MAX where that does not fit). */
size_t pp_tensor_bytes(const pp_tensor_desc *desc);

#ifdef __cplusplus
}
#endif

#endif
