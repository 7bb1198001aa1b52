/* layers/dropout.c - inverted dropout: while training, each element is
 * zeroed with probability `rate` and the others are scaled by
 * 1/(1 - rate), so evaluation (training = 0) is the identity.
 *
 * The mask is never stored: element i of the step's batch is kept when a
 * counter-based hash of (seed, i) clears the rate, so backward, or a
 * forward the core recomputes with the same seed, finds the same mask,
 * whatever thread runs it, and however the batch is cut into
 * micro-batches (i counts from the step's first sample, c->sample0). Not a
 * random number generator with state.
 */
#include <config.h>

#include <string.h>

#include <pipette/pipette.h>

#include "dropout.h"
#include "f32view.h"

static const pp_key keys[] = {
    {"rate", PP_KEY_FLOAT, 0, 0, 1, NULL, "0.1",
     "probability of zeroing an element, below 1"},
    {0},
};

static pp_status plan(const pp_section *cfg, const pp_tensor_desc *in,
                      int nin, pp_layer_plan *p, pp_error *err)
{
    (void)nin;
    double rate;
    if (pp_section_float(cfg, "rate", &rate, err))
        return err->code;
    if (rate >= 1.0)
        return pp_section_error(cfg, "rate", err,
            "must be below 1: a rate of 1 drops every element");
    if (!pp_dtype_is_float(in->dtype))
        return pp_section_error(cfg, NULL, err,
            "dropout needs float input, not token ids");
    p->out = *in;
    p->flops = (double)pp_shape_elements(&in->shape);
    f32view_plan(p, 2 * pp_shape_elements(&in->shape));
    dropout_args args = {rate};
    return pp_layer_args(p, &args, sizeof args, err);
}

/* out (n) = in (n) * scale where element first + i is kept, else 0 (add:
 * out += that). */
static void dropout_apply(float *restrict out, const float *restrict in,
                          int64_t first, int64_t n, uint64_t seed,
                          double rate, int add)
{
    uint64_t key = dropout_mix(seed);
    float scale = dropout_scale(rate);
    for (int64_t i = 0; i < n; i++) {
        float v = dropout_keeps(key, first + i, rate) ? in[i] * scale : 0.0f;
        out[i] = add ? out[i] + v : v;
    }
}

static pp_status forward(const pp_layer_call *c, const void *const *x,
                         void *y, pp_error *err)
{
    (void)err;
    int64_t n = pp_call_elements(c, 0);
    if (!c->training) {
        memcpy(y, x[0], (size_t)n * pp_dtype_size(c->in[0].dtype));
        return PP_OK;
    }
    f32view v = f32view_of(c);
    const float *xf = f32_in(&v, x[0], n);
    float *yf = f32_out(&v, y, n);
    dropout_apply(yf, xf, dropout_first(c), n, c->seed, dropout_rate(c), 0);
    f32_out_done(&v, y, yf, n);
    return PP_OK;
}

/* The same mask, applied to dy and added to dx. */
static pp_status backward_input(const pp_layer_call *c, const void *const *x,
                                const void *y, const void *dy,
                                void *const *dx, pp_error *err)
{
    (void)x, (void)y, (void)err;
    int64_t n = pp_call_elements(c, 0);
    f32view v = f32view_of(c);
    const float *in = f32_in(&v, dy, n);
    float *out = f32_grad(&v, dx[0], n);
    if (c->training)
        dropout_apply(out, in, dropout_first(c), n, c->seed,
                      dropout_rate(c), 1);
    else
        for (int64_t i = 0; i < n; i++)
            out[i] += in[i];
    f32_grad_done(&v, dx[0], out, n);
    return PP_OK;
}

static const pp_layer_kernels cpu_kernels = {
    .forward = forward, .backward_input = backward_input};

#ifdef HAVE_CUDA
extern const pp_layer_kernels dropout_cuda; /* dropout.cu */
#endif

static const pp_layer_ops ops = {
    .inputs = 1,
    .plan = plan,
    .cpu = &cpu_kernels,
#ifdef HAVE_CUDA
    .cuda = &dropout_cuda,
#endif
    .precisions = F32VIEW_PRECISIONS,
};

PP_PLUGIN(PP_KIND_LAYER, "dropout",
          "inverted dropout, reproducible from the step's seed", keys, &ops);
