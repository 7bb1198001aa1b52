/* layers/linear.h - what linear's two halves share: its numbers and the
 * micro-batch seen as a matrix. */
#ifndef PP_LAYERS_LINEAR_H
#define PP_LAYERS_LINEAR_H

#include <pipette/pipette.h>

typedef struct linear_args {
    int tf32;
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

#endif
