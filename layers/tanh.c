/* layers/tanh.c - hyperbolic tangent, y = tanh(x), elementwise.
 *
 * backward reads y (which the core keeps): tanh' = 1 - y^2. Nothing is
 * saved.
 */
#include <math.h>

#include <pipette/pipette.h>

static pp_status plan(const pp_section *cfg, const pp_tensor_desc *in,
                      pp_layer_plan *p, pp_error *err)
{
    if (in->dtype != PP_F32)
        return pp_section_error(cfg, NULL, err,
            "tanh needs float input, not token ids");
    p->out = *in;
    p->saved_bytes = 0;
    /* A tanh counted as a handful of operations: a rough cost is all the
     * partitioner needs. */
    p->flops = 6.0 * (double)pp_shape_elements(&in->shape);
    return PP_OK;
}

static int64_t count(const pp_layer_call *c)
{
    return (int64_t)c->n * pp_shape_elements(&c->in->shape);
}

/* y (n) = tanh(x) */
static void tanh_forward(float *restrict y, const float *restrict x,
                         int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = tanhf(x[i]);
}

/* dx (n) = dy (1 - y^2) */
static void tanh_backward(float *restrict dx, const float *restrict dy,
                          const float *restrict y, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        dx[i] = dy[i] * (1.0f - y[i] * y[i]);
}

static pp_status forward(const pp_layer_call *c, const void *x, void *y,
                         pp_error *err)
{
    (void)err;
    tanh_forward(y, x, count(c));
    return PP_OK;
}

static pp_status backward_input(const pp_layer_call *c, const void *x,
                                const void *y, const float *dy, float *dx,
                                pp_error *err)
{
    (void)x, (void)err;
    tanh_backward(dx, dy, y, count(c));
    return PP_OK;
}

static const pp_layer_kernels cpu_kernels = {forward, backward_input, NULL};

static const pp_layer_ops ops = {.plan = plan, .cpu = &cpu_kernels};

PP_PLUGIN(PP_KIND_LAYER, "tanh", "hyperbolic tangent, tanh(x)", NULL, &ops);
