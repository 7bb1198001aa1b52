/* layers/tanh.c - hyperbolic tangent, y = tanh(x), elementwise.
 *
 * backward reads y (which the core keeps): tanh' = 1 - y^2. Nothing is
 * saved.
 */
#include <config.h>

#include <math.h>

#include <pipette/pipette.h>

#ifdef HAVE_CUDA
#include <cuda_runtime_api.h>

#include "cuda_check.h"
#include "cuda_kernels.h"
#endif

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

#ifdef HAVE_CUDA
/* The same formulas on the device, queued on the rank's stream. */
static pp_status cuda_forward(const pp_layer_call *c, const void *x, void *y,
                              pp_error *err)
{
    PP_CUDA_TRY(pp_cuda_tanh_forward((cudaStream_t)c->stream, y, x, count(c)),
                err);
    return PP_OK;
}

static pp_status cuda_backward_input(const pp_layer_call *c, const void *x,
                                     const void *y, const float *dy,
                                     float *dx, pp_error *err)
{
    (void)x;
    PP_CUDA_TRY(pp_cuda_tanh_backward((cudaStream_t)c->stream, dx, dy, y,
                                     count(c)),
                err);
    return PP_OK;
}

static const pp_layer_kernels cuda_kernels = {cuda_forward,
                                              cuda_backward_input, NULL};
#endif

static const pp_layer_ops ops = {
    .plan = plan,
    .cpu = &cpu_kernels,
#ifdef HAVE_CUDA
    .cuda = &cuda_kernels,
#endif
};

PP_PLUGIN(PP_KIND_LAYER, "tanh", "hyperbolic tangent, tanh(x)", NULL, &ops);
