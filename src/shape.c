/* src/shape.c - small helpers on per-sample shapes and tensors. */
#include <stdint.h>
#include <stdio.h>

#include <pipette/layer.h>

const char *pp_shape_format(const pp_shape *shape, char *buf, int size)
{
    if (shape->ndim == 0) {
        snprintf(buf, (size_t)size, "scalar");
        return buf;
    }
    int used = 0;
    for (int i = 0; i < shape->ndim && used < size; i++)
        used += snprintf(buf + used, (size_t)(size - used), "%s%lld",
                         i ? "x" : "", (long long)shape->dim[i]);
    return buf;
}

/* Past 64 bits both say the most they can: a plugin may plan such a
 * shape, which the core then refuses (model.c's size check), and nothing
 * wraps around to a small size meanwhile. */
int64_t pp_shape_elements(const pp_shape *shape)
{
    int64_t n = 1;
    for (int i = 0; i < shape->ndim; i++)
        if (__builtin_mul_overflow(n, shape->dim[i], &n))
            return INT64_MAX;
    return n;
}

size_t pp_dtype_size(pp_dtype dtype)
{
    return dtype == PP_BF16 ? 2 : 4;
}

const char *pp_dtype_name(pp_dtype dtype)
{
    switch (dtype) {
    case PP_F32: return "f32";
    case PP_I32: return "i32";
    case PP_BF16: return "bf16";
    }
    return "?";
}

const char *pp_precision_name(pp_precision precision)
{
    switch (precision) {
    case PP_PRECISION_FP32: return "fp32";
    case PP_PRECISION_TF32: return "tf32";
    case PP_PRECISION_BF16: return "bf16";
    }
    return "?";
}

pp_dtype pp_precision_dtype(pp_precision precision)
{
    return precision == PP_PRECISION_BF16 ? PP_BF16 : PP_F32;
}

size_t pp_tensor_bytes(const pp_tensor_desc *desc)
{
    size_t bytes;
    if (__builtin_mul_overflow((size_t)pp_shape_elements(&desc->shape),
                               pp_dtype_size(desc->dtype), &bytes))
        return SIZE_MAX;
    return bytes;
}
