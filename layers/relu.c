/* layers/relu.c - rectified linear unit, y = max(x, 0), elementwise.
 *
 * backward reads y (which the core keeps): the gradient passes where
 * y > 0. Nothing is saved.
 */
#include <config.h>

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
            "relu needs float input, not token ids");
    p->out = *in;
    p->saved_bytes = 0;
    p->flops = (double)pp_shape_elements(&in->shape);
    return PP_OK;
}

static int64_t count(const pp_layer_call *c)
{
    return (int64_t)c->n * pp_shape_elements(&c->in->shape);
}

/* y (n) = max(x, 0) */
static void relu_forward(float *restrict y, const float *restrict x,
                         int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

/* dx (n) = dy where y > 0, else 0 */
static void relu_backward(float *restrict dx, const float *restrict dy,
                          const float *restrict y, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

static pp_status forward(const pp_layer_call *c, const void *x, void *y,
                         pp_error *err)
{
    (void)err;
    relu_forward(y, x, count(c));
    return PP_OK;
}

static pp_status backward_input(const pp_layer_call *c, const void *x,
                                const void *y, const float *dy, float *dx,
                                pp_error *err)
{
    (void)x, (void)err;
    relu_backward(dx, dy, y, count(c));
    return PP_OK;
}

static const pp_layer_kernels cpu_kernels = {forward, backward_input, NULL};

#ifdef HAVE_CUDA
/* The same formulas on the device, queued on the rank's stream. */
static pp_status cuda_forward(const pp_layer_call *c, const void *x, void *y,
                              pp_error *err)
{
    PP_CUDA_TRY(pp_cuda_relu_forward((cudaStream_t)c->stream, y, x, count(c)),
                err);
    return PP_OK;
}

static pp_status cuda_backward_input(const pp_layer_call *c, const void *x,
                                     const void *y, const float *dy,
                                     float *dx, pp_error *err)
{
    (void)x;
    PP_CUDA_TRY(pp_cuda_relu_backward((cudaStream_t)c->stream, dx, dy, y,
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

PP_PLUGIN(PP_KIND_LAYER, "relu", "rectified linear unit, max(x, 0)", NULL,
          &ops);
