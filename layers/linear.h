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

/* With activation = gelu the call's `saved` holds the pre-activation
 * pre = x W^T + b (rows, out) in the activations' dtype, from its first
 * byte, which the first backward of the micro-batch (input or weight)
 * turns into dpre = 0 + dy gelu'(pre) in place; the other reads dpre.
 * After pre, at the first multiple of 8 bytes, comes the mark that says
 * which it holds. Each sample's saved bytes have LINEAR_MARK_ROOM for
 * it (the mark and up to 7 bytes of alignment), so a call of any n has
 * room for one mark after all n samples' pre, which stays one matrix
 * for the GEMMs. */
typedef struct linear_mark {
    uint32_t dpre;   /* 0: pre, as forward left it; 1: dpre */
    uint32_t blocks; /* the GPU's dpre kernel: its blocks done so far, 0
                        between calls */
} linear_mark;

#define LINEAR_MARK_ROOM (sizeof(linear_mark) + 7)

/* pre's bytes, (rows, out) elements of es bytes */
static inline size_t linear_pre_bytes(int64_t rows, int64_t out, size_t es)
{
    return (size_t)(rows * out) * es;
}

static inline linear_mark *linear_mark_of(const pp_layer_call *c)
{
    linear_dims d = linear_dims_of(c);
    size_t es = pp_dtype_size(pp_precision_dtype(c->precision));
    uintptr_t at = (uintptr_t)c->saved + linear_pre_bytes(d.rows, d.out, es);
    return (linear_mark *)((at + 7) & ~(uintptr_t)7);
}

#endif
