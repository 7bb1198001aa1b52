/* layers/mse.c - squared error against float targets of the input's
 * shape; the model's loss.
 *
 * forward writes sum((x - t)^2) over the micro-batch times c->loss_scale,
 * which the core sets to 1/(target elements in the step's global batch):
 * the step's loss is the mean squared error. backward_input adds
 * 2 (x - t) loss_scale to dx. Not a weighted or reduced-per-row loss.
 */
#include <config.h>

#include <pipette/pipette.h>

#include "f32view.h"

static pp_status plan(const pp_section *cfg, const pp_tensor_desc *in,
                      int nin, pp_layer_plan *p, pp_error *err)
{
    (void)nin;
    if (!pp_dtype_is_float(in->dtype))
        return pp_section_error(cfg, NULL, err,
            "mse needs float predictions, not token ids");
    p->out = (pp_tensor_desc){PP_F32, {0, {0}}};
    p->is_loss = 1;
    p->target = (pp_tensor_desc){PP_F32, in->shape}; /* as data makes them */
    f32view_plan(p, 2 * pp_shape_elements(&in->shape));
    /* The GPU's per-sample partial sums (the CPU leaves them unused). */
    p->saved_bytes = sizeof(double);
    p->flops = 3.0 * (double)pp_shape_elements(&in->shape);
    return PP_OK;
}

/* loss (scalar) = scale * sum((x - t)^2); x, t (n). Summed in double: the
 * loss of a whole micro-batch is one long accumulation. */
static void mse_forward(float *restrict loss, const float *restrict x,
                        const float *restrict t, int64_t n, double scale)
{
    double total = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)x[i] - (double)t[i];
        total += d * d;
    }
    *loss = (float)(total * scale);
}

/* dx (n) += 2 scale (x - t) */
static void mse_backward(float *restrict dx, const float *restrict x,
                         const float *restrict t, int64_t n, double scale)
{
    float k = (float)(2.0 * scale);
    for (int64_t i = 0; i < n; i++)
        dx[i] += k * (x[i] - t[i]);
}

static pp_status forward(const pp_layer_call *c, const void *const *x,
                         void *y, pp_error *err)
{
    (void)err;
    int64_t n = pp_call_elements(c, 0);
    f32view v = f32view_of(c);
    mse_forward(y, f32_in(&v, x[0], n), c->target, n, c->loss_scale);
    return PP_OK;
}

static pp_status backward_input(const pp_layer_call *c, const void *const *x,
                                const void *y, const void *dy,
                                void *const *dx, pp_error *err)
{
    (void)y, (void)dy, (void)err;
    int64_t n = pp_call_elements(c, 0);
    f32view v = f32view_of(c);
    const float *xf = f32_in(&v, x[0], n);
    float *d = f32_grad(&v, dx[0], n);
    mse_backward(d, xf, c->target, n, c->loss_scale);
    f32_grad_done(&v, dx[0], d, n);
    return PP_OK;
}

static const pp_layer_kernels cpu_kernels = {
    .forward = forward, .backward_input = backward_input};

#ifdef HAVE_CUDA
extern const pp_layer_kernels mse_cuda; /* mse.cu */
#endif

static const pp_layer_ops ops = {
    .inputs = 1,
    .plan = plan,
    .cpu = &cpu_kernels,
#ifdef HAVE_CUDA
    .cuda = &mse_cuda,
#endif
    .precisions = F32VIEW_PRECISIONS,
};

PP_PLUGIN(PP_KIND_LAYER, "mse",
          "mean squared error loss against float targets", NULL, &ops);
