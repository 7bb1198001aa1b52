/* tests/plugins/bad_grad.c - an affine layer, y = x * weight + bias over
 * the last dimension, whose `bug` key plants one mistake for `pipette
 * gradcheck` to find (tests/gradcheck.sh):
 *
 *   none       correct
 *   scale      backward_input adds 1.01 times the gradient
 *   overwrite  backward_input writes dx (=) instead of adding to it (+=)
 *   weight     backward_weight forgets x: dweight += dy
 *   mixes      forward adds the micro-batch's first input to every
 *              sample, so a sample's output depends on its micro-batch
 *   cuda       the CUDA half's forward is 1e-3 off (bad_grad.cu)
 *   inf        backward_input makes its first gradient infinite, for a
 *              step to stop on (tests/train-cli.sh; the CPU half)
 *
 * The CUDA half is built where CUDA is.
 */
#include <config.h>

#include <math.h>
#include <string.h>

#include <pipette/pipette.h>

#include "bad_grad.h"

static const pp_key keys[] = {
    {"bug", PP_KEY_ENUM, 0, PP_NO_RANGE,
     "none|scale|overwrite|weight|mixes|cuda|inf", "none",
     "the mistake to make"},
    {0},
};

static pp_status plan(const pp_section *cfg, const pp_tensor_desc *in,
                      int nin, pp_layer_plan *p, pp_error *err)
{
    (void)nin;
    static const char *const names[] = {"none",  "scale", "overwrite",
                                        "weight", "mixes", "cuda", "inf"};
    const char *bug;
    if (pp_section_string(cfg, "bug", &bug, err))
        return err->code;
    int b = 0;
    while (strcmp(names[b], bug) != 0)
        b++;
    pp_shape c = {1, {in->shape.dim[in->shape.ndim - 1]}};
    p->out = *in;
    if (pp_layer_param(p, "weight", &c, PP_INIT_ONES, 0, 0, err) ||
        pp_layer_param(p, "bias", &c, PP_INIT_ZEROS, 0, 0, err))
        return err->code;
    return pp_layer_args(p, &b, sizeof b, err);
}

static pp_status forward(const pp_layer_call *c, const void *const *x,
                         void *y, pp_error *err)
{
    (void)err;
    const float *in = x[0];
    float *out = y;
    int64_t C = pp_call_features(c, 0), n = pp_call_elements(c, 0);
    for (int64_t i = 0; i < n; i++)
        out[i] = in[i] * c->param[0][i % C] + c->param[1][i % C] +
                 (bug(c) == MIXES ? in[0] : 0.0f);
    return PP_OK;
}

static pp_status backward_input(const pp_layer_call *c, const void *const *x,
                                const void *y, const void *dy,
                                void *const *dx, pp_error *err)
{
    (void)x, (void)y, (void)err;
    const float *g = dy;
    float *d = dx[0];
    int64_t C = pp_call_features(c, 0), n = pp_call_elements(c, 0);
    for (int64_t i = 0; i < n; i++) {
        float v = g[i] * c->param[0][i % C];
        if (bug(c) == SCALE)
            v *= 1.01f;
        if (bug(c) == INF && i == 0)
            v = INFINITY;
        d[i] = bug(c) == OVERWRITE ? v : d[i] + v;
    }
    return PP_OK;
}

static pp_status backward_weight(const pp_layer_call *c,
                                 const void *const *x, const void *y,
                                 const void *dy, pp_error *err)
{
    (void)y, (void)err;
    const float *in = x[0], *g = dy;
    int64_t C = pp_call_features(c, 0), n = pp_call_elements(c, 0);
    for (int64_t i = 0; i < n; i++) {
        c->grad[0][i % C] += g[i] * (bug(c) == WEIGHT ? 1.0f : in[i]);
        c->grad[1][i % C] += g[i];
    }
    return PP_OK;
}

static const pp_layer_kernels cpu = {.forward = forward,
                                     .backward_input = backward_input,
                                     .backward_weight = backward_weight};
#ifdef HAVE_CUDA
extern const pp_layer_kernels bad_grad_cuda; /* bad_grad.cu */
#endif
static const pp_layer_ops ops = {.inputs = 1, .plan = plan, .cpu = &cpu,
#ifdef HAVE_CUDA
                                 .cuda = &bad_grad_cuda
#endif
};

PP_PLUGIN(PP_KIND_LAYER, "bad_grad", "affine layer with a planted bug", keys,
          &ops);
