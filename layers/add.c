/* layers/add.c - the sum of its inputs, elementwise: y = x0 + x1 + ...
 *
 * The residual connection: `inputs = block_out, stream`. Takes one or
 * more float inputs of one shape, summed left to right ((x0 + x1) + x2,
 * on every device, so the ranks agree to the bit). No parameters, nothing
 * saved; backward adds dy to each input's gradient.
 */
#include <config.h>

#include <string.h>

#include <pipette/pipette.h>

#include "f32view.h"

static int same_shape(const pp_shape *a, const pp_shape *b)
{
    if (a->ndim != b->ndim)
        return 0;
    for (int d = 0; d < a->ndim; d++)
        if (a->dim[d] != b->dim[d])
            return 0;
    return 1;
}

static pp_status plan(const pp_section *cfg, const pp_tensor_desc *in,
                      int nin, pp_layer_plan *p, pp_error *err)
{
    char a[64], b[64];
    for (int i = 0; i < nin; i++) {
        if (!pp_dtype_is_float(in[i].dtype))
            return pp_section_error(cfg, NULL, err,
                "add needs float inputs, and input %d is token ids", i + 1);
        if (!same_shape(&in[i].shape, &in[0].shape))
            return pp_section_error(cfg, "inputs", err,
                "add needs inputs of one shape, but input %d is %s where "
                "input 1 is %s", i + 1,
                pp_shape_format(&in[i].shape, a, sizeof a),
                pp_shape_format(&in[0].shape, b, sizeof b));
    }
    p->out = in[0];
    int64_t n = pp_shape_elements(&in[0].shape);
    p->flops = (double)(nin - 1) * (double)n;
    f32view_plan(p, 2 * n); /* forward: y, and one input at a time */
    return PP_OK;
}

/* y (n) = x[0] + x[1] + ... */
static pp_status forward(const pp_layer_call *c, const void *const *x,
                         void *y, pp_error *err)
{
    (void)err;
    int64_t n = pp_call_elements(c, 0);
    f32view view = f32view_of(c);
    float *out = f32_out(&view, y, n);
    float *in = view.next; /* each input in turn, in bf16 */
    for (int k = 0; k < c->nin; k++) {
        view.next = in;
        const float *v = f32_in(&view, x[k], n);
        if (k == 0)
            memmove(out, v, (size_t)n * sizeof *out);
        else
            for (int64_t i = 0; i < n; i++)
                out[i] += v[i];
    }
    f32_out_done(&view, y, out, n);
    return PP_OK;
}

/* dx[k] (n) += dy, for each input that has a gradient */
static pp_status backward_input(const pp_layer_call *c, const void *const *x,
                                const void *y, const void *dy,
                                void *const *dx, pp_error *err)
{
    (void)x, (void)y, (void)err;
    int64_t n = pp_call_elements(c, 0);
    f32view view = f32view_of(c);
    const float *g = f32_in(&view, dy, n);
    for (int k = 0; k < c->nin; k++)
        if (dx[k])
            pp_row_add(dx[k], c->in[k].dtype, g, n);
    return PP_OK;
}

static const pp_layer_kernels cpu_kernels = {
    .forward = forward, .backward_input = backward_input};

#ifdef HAVE_CUDA
extern const pp_layer_kernels add_cuda; /* add.cu */
#endif

static const pp_layer_ops ops = {
    .inputs = PP_INPUTS_ANY,
    .plan = plan,
    .cpu = &cpu_kernels,
#ifdef HAVE_CUDA
    .cuda = &add_cuda,
#endif
    .precisions = F32VIEW_PRECISIONS,
};

PP_PLUGIN(PP_KIND_LAYER, "add",
          "the elementwise sum of its inputs: a residual connection", NULL,
          &ops);
