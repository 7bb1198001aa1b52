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

typedef struct pp_tensor_desc {
    pp_dtype dtype;
    pp_shape shape; /* one sample; the batch dimension is never included */
} pp_tensor_desc;

/* Bytes of one element: 4, or 2 for bf16. */
size_t pp_dtype_size(pp_dtype dtype);

/* "f32", "i32", "bf16". */
const char *pp_dtype_name(pp_dtype dtype);

/* Bytes of one sample. */
size_t pp_tensor_bytes(const pp_tensor_desc *desc);

#ifdef __cplusplus
}
#endif

#endif
