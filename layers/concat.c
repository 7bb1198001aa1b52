/* layers/concat.c - its inputs side by side along the last dimension:
 * y[..., :] = [x0[..., :], x1[..., :], ...].
 *
 * Inputs are float, with the same leading dimensions; the output's last
 * dimension is the sum of theirs. No parameters, nothing saved; backward
 * adds each input's columns of dy to its gradient.
 */
#include <config.h>

#include <string.h>

#include <pipette/pipette.h>

#include "f32view.h"

static pp_status plan(const pp_section *cfg, const pp_tensor_desc *in,
                      int nin, pp_layer_plan *p, pp_error *err)
{
    char a[64], b[64];
    int nd = in[0].shape.ndim;
    int64_t last = 0;
    for (int i = 0; i < nin; i++) {
        const pp_shape *s = &in[i].shape;
        if (!pp_dtype_is_float(in[i].dtype) || s->ndim == 0)
            return pp_section_error(cfg, NULL, err,
                "concat needs float features, and input %d is %s", i + 1,
                s->ndim ? "token ids" : "a scalar");
        int same = s->ndim == nd;
        for (int d = 0; same && d + 1 < nd; d++)
            same = s->dim[d] == in[0].shape.dim[d];
        if (!same)
            return pp_section_error(cfg, "inputs", err,
                "concat joins along the last dimension, so the others must "
                "agree, but input %d is %s where input 1 is %s", i + 1,
                pp_shape_format(s, a, sizeof a),
                pp_shape_format(&in[0].shape, b, sizeof b));
        last += s->dim[nd - 1];
    }
    p->out = in[0];
    p->out.shape.dim[nd - 1] = last;
    /* No arithmetic, but every element copied: not a free layer. */
    p->flops = (double)pp_shape_elements(&p->out.shape);
    f32view_plan(p, last); /* backward: a row of dy */
    return PP_OK;
}

/* The micro-batch as rows of C output columns; input k has its last
 * dimension's worth of them, starting at column off. */
static int64_t total(const pp_layer_call *c)
{
    const pp_shape *out = &c->plan->out.shape;
    return out->dim[out->ndim - 1];
}

/* y (rows, C): input k's (rows, w) at columns off .. off + w - 1 */
static pp_status forward(const pp_layer_call *c, const void *const *x,
                         void *y, pp_error *err)
{
    (void)err;
    int64_t R = pp_call_rows(c, 0), C = total(c), off = 0;
    size_t e = pp_dtype_size(c->in[0].dtype);
    char *out = y;
    for (int k = 0; k < c->nin; k++) {
        int64_t w = pp_call_features(c, k);
        const char *in = x[k];
        for (int64_t r = 0; r < R; r++)
            memcpy(out + (size_t)(r * C + off) * e, in + (size_t)(r * w) * e,
                   (size_t)w * e);
        off += w;
    }
    return PP_OK;
}

/* dx[k] (rows, w) += dy's columns off .. off + w - 1 */
static pp_status backward_input(const pp_layer_call *c, const void *const *x,
                                const void *y, const void *dy,
                                void *const *dx, pp_error *err)
{
    (void)x, (void)y, (void)err;
    int64_t R = pp_call_rows(c, 0), C = total(c);
    pp_dtype t = c->in[0].dtype;
    size_t e = pp_dtype_size(t);
    for (int64_t r = 0; r < R; r++) {
        f32view view = f32view_of(c);
        const float *g = f32_in(&view, (const char *)dy + (size_t)(r * C) * e,
                                C);
        int64_t off = 0;
        for (int k = 0; k < c->nin; k++) {
            int64_t w = pp_call_features(c, k);
            if (dx[k])
                pp_row_add((char *)dx[k] + (size_t)(r * w) * e, t, g + off,
                           w);
            off += w;
        }
    }
    return PP_OK;
}

static const pp_layer_kernels cpu_kernels = {
    .forward = forward, .backward_input = backward_input};

#ifdef HAVE_CUDA
extern const pp_layer_kernels concat_cuda; /* concat.cu */
#endif

static const pp_layer_ops ops = {
    .inputs = PP_INPUTS_ANY,
    .plan = plan,
    .cpu = &cpu_kernels,
#ifdef HAVE_CUDA
    .cuda = &concat_cuda,
#endif
    .precisions = F32VIEW_PRECISIONS,
};

PP_PLUGIN(PP_KIND_LAYER, "concat",
          "its inputs side by side along the last dimension", NULL, &ops);
