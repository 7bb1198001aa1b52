/* plugins/adamw.c - Adam with decoupled weight decay (Loshchilov & Hutter,
 * "Decoupled Weight Decay Regularization", 2019), as PyTorch's
 * torch.optim.AdamW (amsgrad off). At step t:
 *
 *   param -= lr * weight_decay * param
 *   m = beta1 * m + (1 - beta1) * g
 *   v = beta2 * v + (1 - beta2) * g^2
 *   param -= lr * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps)
 *
 * State is two halves of the stage's state buffer, m then v, so that each
 * is one contiguous array like the parameters. Parameters declared without
 * decay (biases, norm gains: the stage's last n - ndecay) skip the first
 * line, as PyTorch's no-decay parameter group does. With CUDA, step_cuda runs
 * the same update as one fused kernel (optim_cuda.cu) on the stage's
 * stream, from the same host-computed scalars and rounding as step_cpu
 * does.
 */
#include <config.h>

#include <math.h>

#include <pipette/pipette.h>

#ifdef HAVE_CUDA
#include <pipette/cuda.h>

#include "optim_cuda.h"
#endif

typedef struct adamw_args {
    double beta1, beta2, eps, weight_decay;
} adamw_args;

static const pp_key keys[] = {
    {"beta1", PP_KEY_FLOAT, 0, 0, 1, NULL, "0.9",
     "decay of the gradient's running mean, below 1"},
    {"beta2", PP_KEY_FLOAT, 0, 0, 1, NULL, "0.999",
     "decay of the squared gradient's running mean, below 1"},
    {"eps", PP_KEY_FLOAT, PP_KEY_MIN_OPEN, 0, HUGE_VAL, NULL, "1e-8",
     "added to the denominator"},
    {"weight_decay", PP_KEY_FLOAT, 0, 0, HUGE_VAL, NULL, "0.01",
     "decoupled decay: param -= lr * weight_decay * param"},
    {0},
};

/* The table's range is closed: a beta of 1 never moves its average off
 * zero, and its bias correction 1 - beta^t divides by zero. */
static pp_status read_beta(const pp_section *train, const char *key,
                           double *beta, pp_error *err)
{
    if (pp_section_float(train, key, beta, err))
        return err->code;
    if (*beta >= 1)
        return pp_section_error(train, key, err,
                                "must be less than 1, got %g", *beta);
    return PP_OK;
}

static pp_status plan(const pp_section *train, pp_optimizer_plan *p,
                      pp_error *err)
{
    adamw_args a;
    if (read_beta(train, "beta1", &a.beta1, err) ||
        read_beta(train, "beta2", &a.beta2, err) ||
        pp_section_float(train, "eps", &a.eps, err) ||
        pp_section_float(train, "weight_decay", &a.weight_decay, err))
        return err->code;
    p->state_per_param = 2;
    return pp_optimizer_args(p, &a, sizeof a, err);
}

/* One step's scalars, shared by both halves so that they round alike. */
typedef struct coeffs {
    float b1, b2, eps;
    float step_size;    /* lr / (1 - beta1^t) */
    float inv_sqrt_bc2; /* 1 / sqrt(1 - beta2^t) */
    float decay;        /* 1 - lr * weight_decay */
} coeffs;

static coeffs coeffs_of(const pp_optimizer_call *c)
{
    const adamw_args *a = c->plan->args;
    double t = (double)c->step;
    /* In double: 1 - 0.999^t loses most of its digits in float for small
     * t, and it scales every update. */
    double bc1 = 1.0 - pow(a->beta1, t), bc2 = 1.0 - pow(a->beta2, t);
    return (coeffs){
        .b1 = (float)a->beta1, .b2 = (float)a->beta2, .eps = (float)a->eps,
        .step_size = (float)(c->lr / bc1),
        .inv_sqrt_bc2 = (float)(1.0 / sqrt(bc2)),
        .decay = (float)(1.0 - c->lr * a->weight_decay)};
}

static pp_status step_cpu(const pp_optimizer_call *c, pp_error *err)
{
    (void)err;
    coeffs k = coeffs_of(c);
    float *param = c->param;       /* (n) */
    const float *grad = c->grad;   /* (n) */
    float *m = c->state;           /* (n) first moment */
    float *v = c->state + c->n;    /* (n) second moment */
    pp_bf16 *copy = c->param_bf16; /* (n) bf16, or NULL */
    for (size_t i = 0; i < c->n; i++) {
        float g = grad[i];
        m[i] = k.b1 * m[i] + (1 - k.b1) * g;
        v[i] = k.b2 * v[i] + (1 - k.b2) * g * g;
        float p = i < c->ndecay ? param[i] * k.decay : param[i];
        param[i] = p - k.step_size * m[i] /
                           (sqrtf(v[i]) * k.inv_sqrt_bc2 + k.eps);
        if (copy)
            copy[i] = pp_f32_to_bf16(param[i]);
    }
    return PP_OK;
}

#ifdef HAVE_CUDA
static pp_status step_cuda(const pp_optimizer_call *c, pp_error *err)
{
    coeffs k = coeffs_of(c);
    return PP_CUDA_CHECK(pp_adamw_cuda(c->param, c->grad, c->state,
                                       c->state + c->n, c->n, c->ndecay,
                                       k.b1, k.b2, k.eps, k.step_size,
                                       k.inv_sqrt_bc2, k.decay,
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

PP_PLUGIN(PP_KIND_OPTIMIZER, "adamw",
          "Adam with decoupled weight decay (AdamW)", keys, &ops);
