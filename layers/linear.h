/* layers/linear.h - what linear's two halves share: its numbers and the
 * micro-batch seen as a matrix. */
#ifndef PP_LAYERS_LINEAR_H
#define PP_LAYERS_LINEAR_H

#include <pipette/pipette.h>

typedef struct linear_args {
    int tf32;
    int gelu; /* activation = gelu: y = gelu(x W^T + b) */
} linear_args;

/* rows (all leading dimensions of all n samples), in features, out
 * units */
typedef struct linear_dims {
    int64_t rows, in, out;
} linear_dims;

static inline linear_dims linear_dims_of(const pp_layer_call *c)
{
    linear_dims d;
    d.rows = pp_call_rows(c, 0);
    d.in = pp_call_features(c, 0);
    d.out = c->plan->params[0].shape.dim[0];
    return d;
}

static inline const linear_args *linear_args_of(const pp_layer_call *c)
{
    return (const linear_args *)c->plan->args;
}

/* With activation = gelu: the pre-activation pre = x W^T + b (rows, out),
 * in the activations' dtype, is the call's `saved`; backward's dpre =
 * dy gelu'(pre) (rows, out), in the same dtype on the GPU and in FP32
 * on the CPU, is the first thing in its workspace. */
static inline size_t linear_dpre_bytes(int64_t rows, int64_t out)
{
    return (size_t)(rows * out) * sizeof(float);
}

#endif
