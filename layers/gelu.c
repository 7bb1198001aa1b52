/* layers/gelu.c - Gaussian error linear unit, elementwise, in the tanh
 * approximation GPT-2 uses:
 *   y = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
 *
 * Not the exact erf form: the approximation is what GPT-2 checkpoints were
 * trained with. backward reads x (which the core keeps); nothing is saved.
 */
#include <config.h>

#include <math.h>

#include <pipette/pipette.h>

#ifdef HAVE_CUDA
#include <cuda_runtime_api.h>

#include "cuda_check.h"
#include "cuda_kernels.h"
#endif

#define GELU_SCALE 0.7978845608028654f /* sqrt(2/pi) */
#define GELU_CUBE 0.044715f

static pp_status plan(const pp_section *cfg, const pp_tensor_desc *in,
                      pp_layer_plan *p, pp_error *err)
{
    if (in->dtype != PP_F32)
        return pp_section_error(cfg, NULL, err,
            "gelu needs float input, not token ids");
    p->out = *in;
    p->saved_bytes = 0;
    /* A tanh counted as a handful of operations: a rough cost is all the
     * partitioner needs. */
    p->flops = 10.0 * (double)pp_shape_elements(&in->shape);
    return PP_OK;
}

static int64_t count(const pp_layer_call *c)
{
    return (int64_t)c->n * pp_shape_elements(&c->in->shape);
}

/* y (n) = gelu(x) */
static void gelu_forward(float *restrict y, const float *restrict x,
                         int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        float t = tanhf(GELU_SCALE * (v + GELU_CUBE * v * v * v));
        y[i] = 0.5f * v * (1.0f + t);
    }
}

/* dx (n) = dy gelu'(x) */
static void gelu_backward(float *restrict dx, const float *restrict dy,
                          const float *restrict x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        float t = tanhf(GELU_SCALE * (v + GELU_CUBE * v * v * v));
        float dt = (1.0f - t * t) * GELU_SCALE *
                   (1.0f + 3.0f * GELU_CUBE * v * v);
        dx[i] = dy[i] * (0.5f * (1.0f + t) + 0.5f * v * dt);
    }
}

static pp_status forward(const pp_layer_call *c, const void *x, void *y,
                         pp_error *err)
{
    (void)err;
    gelu_forward(y, x, count(c));
    return PP_OK;
}

static pp_status backward_input(const pp_layer_call *c, const void *x,
                                const void *y, const float *dy, float *dx,
                                pp_error *err)
{
    (void)y, (void)err;
    gelu_backward(dx, dy, x, count(c));
    return PP_OK;
}

static const pp_layer_kernels cpu_kernels = {forward, backward_input, NULL};

#ifdef HAVE_CUDA
/* The same formulas on the device, queued on the rank's stream. */
static pp_status cuda_forward(const pp_layer_call *c, const void *x, void *y,
                              pp_error *err)
{
    PP_CUDA_TRY(pp_cuda_gelu_forward((cudaStream_t)c->stream, y, x, count(c)),
                err);
    return PP_OK;
}

static pp_status cuda_backward_input(const pp_layer_call *c, const void *x,
                                     const void *y, const float *dy,
                                     float *dx, pp_error *err)
{
    (void)y;
    PP_CUDA_TRY(pp_cuda_gelu_backward((cudaStream_t)c->stream, dx, dy, x,
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

PP_PLUGIN(PP_KIND_LAYER, "gelu",
          "Gaussian error linear unit (GPT-2's tanh approximation)", NULL,
          &ops);
