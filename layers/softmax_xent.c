/* layers/softmax_xent.c - softmax over the last dimension followed by the
 * cross-entropy with integer class targets; the model's loss.
 *
 * Targets have the input's shape without its last dimension (one class per
 * row). The loss is the mean over every row of the global batch: forward
 * writes the sum of -log softmax(x)[target] over the micro-batch's rows
 * times c->loss_scale, and backward_input adds
 * (softmax(x) - onehot(target)) * loss_scale to dx.
 *
 * The probabilities are not saved: backward recomputes them from x (which
 * the core keeps) and each row's log-sum-exp, which forward saves, since
 * a logits-sized buffer per micro-batch in flight costs more than a
 * second exp per logit. Both halves take float exps summed in double (the
 * loss's only long sum). No label smoothing, no ignored class: every
 * target must be a class.
 *
 * On the GPU (the CUDA half below) a target outside the classes cannot
 * be refused without stopping the stream: its row's loss and gradient
 * become NaN instead, and the NaN loss stops the step.
 */
#include <config.h>

#include <math.h>

#include <pipette/pipette.h>

#include "f32view.h"

static pp_status plan(const pp_section *cfg, const pp_tensor_desc *in,
                      int nin, pp_layer_plan *p, pp_error *err)
{
    (void)nin;
    if (!pp_dtype_is_float(in->dtype) || in->shape.ndim == 0)
        return pp_section_error(cfg, NULL, err,
            "softmax_xent needs float logits with a class dimension last");
    int64_t classes = in->shape.dim[in->shape.ndim - 1];
    if (classes < 2)
        return pp_section_error(cfg, NULL, err,
            "softmax_xent needs at least 2 classes, its input has %lld",
            (long long)classes);
    p->out = (pp_tensor_desc){PP_F32, {0, {0}}};
    p->is_loss = 1;
    p->target.dtype = PP_I32;
    p->target.shape = in->shape;
    p->target.shape.ndim--;
    p->target_ids = classes;
    /* Two doubles per row: each row's log-sum-exp, for backward; then the
     * GPU's per-row losses, which it sums in a fixed order (the CPU sums
     * as it goes). */
    p->saved_bytes = (size_t)pp_shape_elements(&p->target.shape) * 2 *
                     sizeof(double);
    p->flops = 5.0 * (double)pp_shape_elements(&in->shape);
    f32view_plan(p, 2 * pp_shape_elements(&in->shape)); /* x, dx */
    return PP_OK;
}

static pp_status check_targets(const int32_t *target, int64_t rows,
                               int64_t classes, pp_error *err)
{
    for (int64_t r = 0; r < rows; r++)
        if (target[r] < 0 || target[r] >= classes)
            return pp_error_set(err, PP_ERR_RUNTIME,
                "softmax_xent: target class %ld (at row %lld of the "
                "micro-batch) is outside the %lld classes (0 to %lld)",
                (long)target[r], (long long)r, (long long)classes,
                (long long)classes - 1);
    return PP_OK;
}

/* max(x) of one row (C) */
static float row_max(const float *restrict x, int64_t C)
{
    float m = x[0];
    for (int64_t j = 1; j < C; j++)
        m = x[j] > m ? x[j] : m;
    return m;
}

/* log(sum(exp(x - max))) of one row: log softmax(x)[j] is
 * x[j] - max - lse. */
static double row_lse(const float *restrict x, int64_t C, float max)
{
    double sum = 0.0;
    for (int64_t j = 0; j < C; j++)
        sum += (double)expf(x[j] - max);
    return log(sum);
}

/* loss (scalar) = scale * sum over rows of -log softmax(x)[target];
 * lse (rows) saved; x (rows, C), target (rows) */
static void xent_forward(float *restrict loss, double *restrict lse,
                         const float *restrict x,
                         const int32_t *restrict target, int64_t rows,
                         int64_t C, double scale)
{
    double total = 0.0;
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * C;
        float max = row_max(xr, C);
        lse[r] = row_lse(xr, C, max);
        total += lse[r] - (double)(xr[target[r]] - max);
    }
    *loss = (float)(total * scale);
}

/* dx (rows, C) += scale * (softmax(x) - onehot(target)) */
static void xent_backward(float *restrict dx, const float *restrict x,
                          const double *restrict lse,
                          const int32_t *restrict target, int64_t rows,
                          int64_t C, double scale)
{
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * C;
        float *dxr = dx + r * C;
        float max = row_max(xr, C);
        for (int64_t j = 0; j < C; j++) {
            float p = expf((float)((double)(xr[j] - max) - lse[r]));
            float v = (float)(scale * (double)p);
            if (j == target[r])
                v -= (float)scale;
            dxr[j] += v;
        }
    }
}

static pp_status forward(const pp_layer_call *c, const void *const *x,
                         void *y, pp_error *err)
{
    int64_t rows = pp_call_rows(c, 0), C = pp_call_features(c, 0);
    if (check_targets(c->target, rows, C, err))
        return err->code;
    f32view v = f32view_of(c);
    xent_forward(y, c->saved, f32_in(&v, x[0], rows * C), c->target, rows,
                 C, c->loss_scale);
    return PP_OK;
}

static pp_status backward_input(const pp_layer_call *c, const void *const *x,
                                const void *y, const void *dy,
                                void *const *dx, pp_error *err)
{
    (void)y, (void)dy;
    int64_t rows = pp_call_rows(c, 0), C = pp_call_features(c, 0);
    if (check_targets(c->target, rows, C, err))
        return err->code;
    f32view v = f32view_of(c);
    const float *xf = f32_in(&v, x[0], rows * C);
    float *d = f32_grad(&v, dx[0], rows * C);
    xent_backward(d, xf, c->saved, c->target, rows, C, c->loss_scale);
    f32_grad_done(&v, dx[0], d, rows * C);
    return PP_OK;
}

static const pp_layer_kernels cpu_kernels = {
    .forward = forward, .backward_input = backward_input};

#ifdef HAVE_CUDA
extern const pp_layer_kernels softmax_xent_cuda; /* softmax_xent.cu */
#endif

static const pp_layer_ops ops = {
    .inputs = 1,
    .plan = plan,
    .cpu = &cpu_kernels,
#ifdef HAVE_CUDA
    .cuda = &softmax_xent_cuda,
#endif
    .precisions = F32VIEW_PRECISIONS,
};

PP_PLUGIN(PP_KIND_LAYER, "softmax_xent",
          "softmax and cross-entropy loss with integer class targets", NULL,
          &ops);
