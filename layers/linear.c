/* layers/linear.c - fully connected layer: y = x W^T + b.
 *
 * Acts on the last dimension of its input; leading dimensions (a sequence,
 * say) are treated like more samples. Weights are initialised U(-k, k) with
 * k = 1/sqrt(in), as in PyTorch's nn.Linear.
 *
 * The CPU kernels are matmul.h's loops: no BLAS, one thread. backward_input
 * needs only W; backward_weight needs x, which the core keeps, so nothing
 * is saved.
 */
#include <math.h>

#include <pipette/pipette.h>

#include "matmul.h"

static const pp_key keys[] = {
    {"units", PP_KEY_INT, PP_KEY_REQUIRED, 1, 1 << 24, NULL, NULL,
     "output features"},
    {"bias", PP_KEY_BOOL, 0, PP_NO_RANGE, NULL, "true", "add a learned bias"},
    {0},
};

static pp_status plan(const pp_section *cfg, const pp_tensor_desc *in,
                      pp_layer_plan *p, pp_error *err)
{
    int64_t units;
    bool bias;
    if (pp_section_int(cfg, "units", &units, err) ||
        pp_section_bool(cfg, "bias", &bias, err))
        return err->code;
    if (in->dtype != PP_F32 || in->shape.ndim == 0)
        return pp_section_error(cfg, NULL, err,
            "linear needs float features as input (an embedding layer "
            "turns token ids into features)");
    int64_t features = in->shape.dim[in->shape.ndim - 1];
    int64_t rows = pp_shape_elements(&in->shape) / features;

    p->out = *in;
    p->out.shape.dim[in->shape.ndim - 1] = units;
    p->params[0] = (pp_param_decl){"weight", {2, {units, features}},
                                   PP_INIT_UNIFORM,
                                   (float)(1.0 / sqrt((double)features))};
    p->nparams = 1;
    if (bias)
        p->params[p->nparams++] = (pp_param_decl){
            "bias", {1, {units}}, PP_INIT_UNIFORM,
            (float)(1.0 / sqrt((double)features))};
    p->saved_bytes = 0;
    p->flops = 2.0 * (double)rows * (double)features * (double)units;
    return PP_OK;
}

/* The micro-batch as a matrix: rows (all leading dimensions of all n
 * samples), in features, out units. */
typedef struct dims {
    int64_t rows, in, out;
} dims;

static dims dims_of(const pp_layer_call *c)
{
    const pp_shape *s = &c->in->shape;
    dims d;
    d.in = s->dim[s->ndim - 1];
    d.out = c->plan->params[0].shape.dim[0];
    d.rows = (int64_t)c->n * (pp_shape_elements(s) / d.in);
    return d;
}

static pp_status forward(const pp_layer_call *c, const void *x, void *y,
                         pp_error *err)
{
    (void)err;
    dims d = dims_of(c);
    const float *b = c->plan->nparams > 1 ? c->param[1] : NULL;
    mm_forward(y, x, c->param[0], b, d.rows, d.in, d.out);
    return PP_OK;
}

static pp_status backward_input(const pp_layer_call *c, const void *x,
                                const void *y, const float *dy, float *dx,
                                pp_error *err)
{
    (void)x, (void)y, (void)err;
    dims d = dims_of(c);
    mm_backward_input(dx, dy, c->param[0], d.rows, d.in, d.out);
    return PP_OK;
}

static pp_status backward_weight(const pp_layer_call *c, const void *x,
                                 const void *y, const float *dy,
                                 pp_error *err)
{
    (void)y, (void)err;
    dims d = dims_of(c);
    float *db = c->plan->nparams > 1 ? c->grad[1] : NULL;
    mm_backward_weight(c->grad[0], db, dy, x, d.rows, d.in, d.out);
    return PP_OK;
}

static const pp_layer_kernels cpu_kernels = {forward, backward_input,
                                             backward_weight};

static const pp_layer_ops ops = {.plan = plan, .cpu = &cpu_kernels};

PP_PLUGIN(PP_KIND_LAYER, "linear", "fully connected layer, y = x W^T + b",
          keys, &ops);
