/* layers/layernorm.c - layer normalisation over the last dimension:
 *   y = (x - mean) / sqrt(var + eps) * weight + bias,
 * with the mean and (biased) variance of each row of C features.
 *
 * weight starts at ones and bias at zeros, so a new layer is a plain
 * normalisation; neither takes weight decay. forward saves each row's
 * mean and 1/sqrt(var + eps) (two floats a row) for backward; x itself is
 * kept by the core. Not a batch norm: no statistics cross rows or
 * samples, so nothing differs between training and evaluation.
 */
#include <config.h>

#include <math.h>

#include <pipette/pipette.h>

#include "f32view.h"
#include "layernorm.h"
#include "simd.h"

static const pp_key keys[] = {
    {"eps", PP_KEY_FLOAT, PP_KEY_MIN_OPEN, 0, HUGE_VAL, NULL, "1e-5",
     "added to the variance before the square root"},
    {0},
};

static pp_status plan(const pp_section *cfg, const pp_tensor_desc *in,
                      int nin, pp_layer_plan *p, pp_error *err)
{
    (void)nin;
    double eps;
    if (pp_section_float(cfg, "eps", &eps, err))
        return err->code;
    if (!pp_dtype_is_float(in->dtype) || in->shape.ndim == 0)
        return pp_section_error(cfg, NULL, err,
            "layernorm needs float features as input, normalised over "
            "their last dimension");
    int64_t features = in->shape.dim[in->shape.ndim - 1];
    int64_t rows = pp_shape_elements(&in->shape) / features;
    p->out = *in;
    pp_shape gain = {1, {features}};
    layernorm_args args = {(float)eps};
    if (pp_layer_param(p, "weight", &gain, PP_INIT_ONES, 0.0f,
                       PP_PARAM_NO_DECAY, err) ||
        pp_layer_param(p, "bias", &gain, PP_INIT_ZEROS, 0.0f,
                       PP_PARAM_NO_DECAY, err) ||
        pp_layer_args(p, &args, sizeof args, err))
        return err->code;
    p->saved_bytes = (size_t)rows * 2 * sizeof(float);
    p->flops = 8.0 * (double)pp_shape_elements(&in->shape);
    f32view_plan(p, 3 * pp_shape_elements(&in->shape)); /* dy, x, dx */
    return PP_OK;
}

/* y (rows, C); stats (rows, 2): mean, rstd; x (rows, C); w, b (C) */
LAYER_LOOP
static void layernorm_forward(float *restrict y, float *restrict stats,
                              const float *restrict x,
                              const float *restrict w,
                              const float *restrict b, int64_t rows,
                              int64_t C, float eps)
{
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * C;
        float *yr = y + r * C;
        float mean = 0.0f;
        for (int64_t i = 0; i < C; i++)
            mean += xr[i];
        mean /= (float)C;
        /* Two passes: var from x - mean, not E[x^2] - mean^2, which
         * cancels badly when the mean is large. */
        float var = 0.0f;
        for (int64_t i = 0; i < C; i++) {
            float d = xr[i] - mean;
            var += d * d;
        }
        var /= (float)C;
        float rstd = 1.0f / sqrtf(var + eps);
        for (int64_t i = 0; i < C; i++)
            yr[i] = (xr[i] - mean) * rstd * w[i] + b[i];
        stats[2 * r] = mean;
        stats[2 * r + 1] = rstd;
    }
}

/* dx (rows, C) += the gradient through the normalisation, as in llm.c:
 * dx = rstd (g - mean(g) - xhat mean(g xhat)), g = dy w, xhat the
 * normalised x. */
LAYER_LOOP
static void layernorm_backward_input(float *restrict dx,
                                     const float *restrict dy,
                                     const float *restrict x,
                                     const float *restrict stats,
                                     const float *restrict w, int64_t rows,
                                     int64_t C)
{
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * C, *dyr = dy + r * C;
        float *dxr = dx + r * C;
        float mean = stats[2 * r], rstd = stats[2 * r + 1];
        float g_mean = 0.0f, gx_mean = 0.0f;
        for (int64_t i = 0; i < C; i++) {
            float g = dyr[i] * w[i];
            g_mean += g;
            gx_mean += g * (xr[i] - mean) * rstd;
        }
        g_mean /= (float)C;
        gx_mean /= (float)C;
        for (int64_t i = 0; i < C; i++) {
            float xhat = (xr[i] - mean) * rstd;
            dxr[i] += rstd * (dyr[i] * w[i] - g_mean - xhat * gx_mean);
        }
    }
}

/* dw (C) += sum over rows of dy xhat; db (C) += sum over rows of dy */
LAYER_LOOP
static void layernorm_backward_weight(float *restrict dw,
                                      float *restrict db,
                                      const float *restrict dy,
                                      const float *restrict x,
                                      const float *restrict stats,
                                      int64_t rows, int64_t C)
{
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * C, *dyr = dy + r * C;
        float mean = stats[2 * r], rstd = stats[2 * r + 1];
        for (int64_t i = 0; i < C; i++) {
            dw[i] += dyr[i] * (xr[i] - mean) * rstd;
            db[i] += dyr[i];
        }
    }
}

static pp_status forward(const pp_layer_call *c, const void *const *x,
                         void *y, pp_error *err)
{
    (void)err;
    int64_t n = pp_call_elements(c, 0);
    f32view v = f32view_of(c);
    const float *xf = f32_in(&v, x[0], n);
    float *yf = f32_out(&v, y, n);
    layernorm_forward(yf, c->saved, xf, c->param[0], c->param[1],
                      pp_call_rows(c, 0), pp_call_features(c, 0),
                      layernorm_eps(c));
    f32_out_done(&v, y, yf, n);
    return PP_OK;
}

static pp_status backward_input(const pp_layer_call *c, const void *const *x,
                                const void *y, const void *dy,
                                void *const *dx, pp_error *err)
{
    (void)y, (void)err;
    int64_t n = pp_call_elements(c, 0);
    f32view v = f32view_of(c);
    const float *g = f32_in(&v, dy, n), *xf = f32_in(&v, x[0], n);
    float *d = f32_grad(&v, dx[0], n);
    layernorm_backward_input(d, g, xf, c->saved, c->param[0],
                             pp_call_rows(c, 0), pp_call_features(c, 0));
    f32_grad_done(&v, dx[0], d, n);
    return PP_OK;
}

static pp_status backward_weight(const pp_layer_call *c,
                                 const void *const *x, const void *y,
                                 const void *dy, pp_error *err)
{
    (void)y, (void)err;
    int64_t n = pp_call_elements(c, 0);
    f32view v = f32view_of(c);
    const float *g = f32_in(&v, dy, n), *xf = f32_in(&v, x[0], n);
    layernorm_backward_weight(c->grad[0], c->grad[1], g, xf, c->saved,
                              pp_call_rows(c, 0), pp_call_features(c, 0));
    return PP_OK;
}

static const pp_layer_kernels cpu_kernels = {
    .forward = forward, .backward_input = backward_input,
    .backward_weight = backward_weight};

#ifdef HAVE_CUDA
extern const pp_layer_kernels layernorm_cuda; /* layernorm.cu */
#endif

static const pp_layer_ops ops = {
    .inputs = 1,
    .plan = plan,
    .cpu = &cpu_kernels,
#ifdef HAVE_CUDA
    .cuda = &layernorm_cuda,
#endif
    .precisions = F32VIEW_PRECISIONS,
};

PP_PLUGIN(PP_KIND_LAYER, "layernorm",
          "layer normalisation over the last dimension", keys, &ops);
