/* layers/add.c - the sum of its inputs, elementwise: y = x0 + x1 + ...
 *
 * The residual connection: `inputs = block_out, stream`. Takes one or
 * more float inputs of one shape, summed left to right ((x0 + x1) + x2,
 * on every device, so the ranks agree to the bit). No parameters, nothing
 * saved; backward adds dy to each input's gradient.
 */
#include <config.h>

#include <pipette/pipette.h>

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
        if (in[i].dtype != PP_F32)
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
    p->flops = (double)(nin - 1) * (double)pp_shape_elements(&in[0].shape);
    return PP_OK;
}

/* y (n) = x[0] + x[1] + ... */
static pp_status forward(const pp_layer_call *c, const void *const *x,
                         void *y, pp_error *err)
{
    (void)err;
    float *out = y;
    int64_t n = pp_call_elements(c, 0);
    const float *a = x[0];
    if (c->nin == 1) {
        for (int64_t i = 0; i < n; i++)
            out[i] = a[i];
        return PP_OK;
    }
    const float *b = x[1];
    for (int64_t i = 0; i < n; i++)
        out[i] = a[i] + b[i];
    for (int k = 2; k < c->nin; k++) {
        const float *v = x[k];
        for (int64_t i = 0; i < n; i++)
            out[i] += v[i];
    }
    return PP_OK;
}

/* dx[k] (n) += dy, for each input that has a gradient */
static pp_status backward_input(const pp_layer_call *c, const void *const *x,
                                const void *y, const void *dy,
                                void *const *dx, pp_error *err)
{
    (void)x, (void)y, (void)err;
    const float *g = dy;
    int64_t n = pp_call_elements(c, 0);
    for (int k = 0; k < c->nin; k++) {
        float *d = dx[k];
        for (int64_t i = 0; d && i < n; i++)
            d[i] += g[i];
    }
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
};

PP_PLUGIN(PP_KIND_LAYER, "add",
          "the elementwise sum of its inputs: a residual connection", NULL,
          &ops);
