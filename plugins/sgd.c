/* plugins/sgd.c - stochastic gradient descent with optional momentum,
 * Nesterov momentum and L2 weight decay, as PyTorch's torch.optim.SGD
 * (dampening 0):
 *
 *   g = grad + weight_decay * param
 *   buf = momentum * buf + g                  (buf = g at the first step)
 *   g = nesterov ? g + momentum * buf : buf   (only with momentum)
 *   param -= lr * g
 *
 * Weight decay here is added to the gradient, so momentum carries it; for
 * decay decoupled from the gradient use adamw. Parameters declared
 * without decay (biases, norm gains: the stage's last n - ndecay) take
 * none. With CUDA, step_cuda runs
 * the same update as one fused kernel (optim_cuda.cu) on the stage's
 * stream, rounding as step_cpu does.
 */
#include <config.h>

#include <math.h>

#include <pipette/pipette.h>

#ifdef HAVE_CUDA
#include <pipette/cuda.h>

#include "optim_cuda.h"
#endif

typedef struct sgd_args {
    float momentum, weight_decay;
    bool nesterov;
} sgd_args;

static const pp_key keys[] = {
    {"momentum", PP_KEY_FLOAT, 0, 0, 1, NULL, "0",
     "momentum factor, below 1 (0: plain SGD)"},
    {"weight_decay", PP_KEY_FLOAT, 0, 0, HUGE_VAL, NULL, "0",
     "L2 penalty added to the gradient"},
    {"nesterov", PP_KEY_BOOL, 0, PP_NO_RANGE, NULL, "false",
     "Nesterov momentum (needs momentum > 0)"},
    {0},
};

static pp_status plan(const pp_section *train, pp_optimizer_plan *p,
                      pp_error *err)
{
    double momentum, decay;
    bool nesterov;
    if (pp_section_float(train, "momentum", &momentum, err) ||
        pp_section_float(train, "weight_decay", &decay, err) ||
        pp_section_bool(train, "nesterov", &nesterov, err))
        return err->code;
    /* The table's range is closed; a momentum of 1 would never forget a
     * gradient and the velocity would grow without bound. */
    if (momentum >= 1)
        return pp_section_error(train, "momentum", err,
                                "must be less than 1, got %g", momentum);
    if (nesterov && momentum == 0)
        return pp_section_error(train, "nesterov", err,
                                "needs momentum greater than 0");
    p->state_per_param = momentum > 0 ? 1 : 0;
    sgd_args args = {(float)momentum, (float)decay, nesterov};
    return pp_optimizer_args(p, &args, sizeof args, err);
}

static pp_status step_cpu(const pp_optimizer_call *c, pp_error *err)
{
    (void)err;
    const sgd_args *a = c->plan->args;
    float lr = (float)c->lr;
    float mu = a->momentum;
    bool nesterov = a->nesterov;
    float *param = c->param;  /* (n) */
    const float *grad = c->grad; /* (n) */
    float *buf = c->state;    /* (n) velocity, when momentum > 0 */
    pp_bf16 *copy = c->param_bf16; /* (n) bf16, or NULL */
    for (size_t i = 0; i < c->n; i++) {
        float wd = i < c->ndecay ? a->weight_decay : 0.0f;
        float g = grad[i] + wd * param[i];
        if (mu > 0) {
            /* The state starts zeroed, so the first step sets buf = g,
             * PyTorch's initialisation, without a special case. */
            buf[i] = mu * buf[i] + g;
            g = nesterov ? g + mu * buf[i] : buf[i];
        }
        param[i] -= lr * g;
        if (copy)
            copy[i] = pp_f32_to_bf16(param[i]);
    }
    return PP_OK;
}

#ifdef HAVE_CUDA
static pp_status step_cuda(const pp_optimizer_call *c, pp_error *err)
{
    const sgd_args *a = c->plan->args;
    return PP_CUDA_CHECK(pp_sgd_cuda(c->param, c->grad, c->state, c->n,
                                     c->ndecay, (float)c->lr, a->momentum,
                                     a->weight_decay, a->nesterov,
                                     c->param_bf16, c->stream),
                         err);
}
#define STEP_CUDA step_cuda
#else
#define STEP_CUDA NULL
#endif

static const pp_optimizer_ops ops = {
    .plan = plan, .step_cpu = step_cpu, .step_cuda = STEP_CUDA,
    .precisions = PP_PRECISION_BIT(PP_PRECISION_FP32) |
                  PP_PRECISION_BIT(PP_PRECISION_TF32) |
                  PP_PRECISION_BIT(PP_PRECISION_BF16)};

PP_PLUGIN(PP_KIND_OPTIMIZER, "sgd",
          "SGD with optional momentum, Nesterov and weight decay", keys, &ops);
