/* layers/linear.c - fully connected layer: y = x W^T + b.
 *
 * Acts on the last dimension of its input; leading dimensions (a sequence,
 * say) are treated like more samples. Weights are initialised U(-k, k) with
 * k = 1/sqrt(in), as in PyTorch's nn.Linear.
 *
 * The CPU kernels are matmul.h's products: a BLAS's (cblas_sgemm) where
 * configure found one, else pipette's own loops; one thread either way,
 * which init tells the BLAS. The forward multiplies sample by sample, so
 * that a sample's outputs are the same in any micro-batch (matmul.h says
 * why). The CUDA kernels, built where cuBLAS is, are cuBLAS calls on the
 * rank's stream: GEMMs in plain FP32, or on TF32 tensor cores when the
 * layer says `tf32 = true` (the CPU has no TF32 and ignores the key).
 *
 * backward_input needs only W; backward_weight needs x, which the core
 * keeps. The saved area, only with a bias, is one float per row: the CUDA
 * forward fills it with ones, the vector cuBLAS needs to broadcast the
 * bias and to sum dy's rows for its gradient (the CPU leaves it unused).
 * The bias takes no weight decay.
 */
#include <config.h>

#include <math.h>
#include <stdint.h>

#include <pipette/pipette.h>

#include "linear.h"
#include "matmul.h"

static const pp_key keys[] = {
    {"units", PP_KEY_INT, PP_KEY_REQUIRED, 1, 1 << 24, NULL, NULL,
     "output features"},
    {"bias", PP_KEY_BOOL, 0, PP_NO_RANGE, NULL, "true", "add a learned bias"},
    {"tf32", PP_KEY_BOOL, 0, PP_NO_RANGE, NULL, "false",
     "on GPUs, multiply with TF32 tensor cores (faster; inputs rounded to "
     "10 mantissa bits)"},
    {0},
};

static pp_status plan(const pp_section *cfg, const pp_tensor_desc *in,
                      int nin, pp_layer_plan *p, pp_error *err)
{
    (void)nin;
    int64_t units;
    bool bias, tf32;
    if (pp_section_int(cfg, "units", &units, err) ||
        pp_section_bool(cfg, "bias", &bias, err) ||
        pp_section_bool(cfg, "tf32", &tf32, err))
        return err->code;
    if (in->dtype != PP_F32 || in->shape.ndim == 0)
        return pp_section_error(cfg, NULL, err,
            "linear needs float features as input (an embedding layer "
            "turns token ids into features)");
    int64_t features = in->shape.dim[in->shape.ndim - 1];
    int64_t rows = pp_shape_elements(&in->shape) / features;

    p->out = *in;
    p->out.shape.dim[in->shape.ndim - 1] = units;
    float k = (float)(1.0 / sqrt((double)features));
    pp_shape w = {2, {units, features}}, b = {1, {units}};
    linear_args args = {tf32};
    if (pp_layer_param(p, "weight", &w, PP_INIT_UNIFORM, k, 0, err) ||
        (bias && pp_layer_param(p, "bias", &b, PP_INIT_UNIFORM, k,
                                PP_PARAM_NO_DECAY, err)) ||
        pp_layer_args(p, &args, sizeof args, err))
        return err->code;
    /* The plan is the same for every device, so the CPU carries the CUDA
     * half's ones too: 4 bytes a row, against 4 * in for the x kept. */
    p->saved_bytes = bias ? (size_t)rows * sizeof(float) : 0;
    p->flops = 2.0 * (double)rows * (double)features * (double)units;
    return PP_OK;
}

/* No state: the BLAS, if any, is told to run on the caller's thread.
 * This runs before the ranks start, for every linear layer of each. */
static pp_status init(const pp_layer_call *c, void **state, pp_error *err)
{
    (void)c, (void)err;
    mm_one_thread();
    *state = NULL;
    return PP_OK;
}

static void destroy(void *state)
{
    (void)state;
}

static pp_status forward(const pp_layer_call *c, const void *const *x,
                         void *y, pp_error *err)
{
    (void)err;
    linear_dims d = linear_dims_of(c);
    const float *b = c->plan->nparams > 1 ? c->param[1] : NULL;
    mm_forward_samples(y, x[0], c->param[0], b, c->n, d.rows / c->n, d.in,
                       d.out);
    return PP_OK;
}

static pp_status backward_input(const pp_layer_call *c, const void *const *x,
                                const void *y, const void *dy,
                                void *const *dx, pp_error *err)
{
    (void)x, (void)y, (void)err;
    linear_dims d = linear_dims_of(c);
    mm_backward_input(dx[0], dy, c->param[0], d.rows, d.in, d.out);
    return PP_OK;
}

static pp_status backward_weight(const pp_layer_call *c,
                                 const void *const *x, const void *y,
                                 const void *dy, pp_error *err)
{
    (void)y, (void)err;
    linear_dims d = linear_dims_of(c);
    float *db = c->plan->nparams > 1 ? c->grad[1] : NULL;
    mm_backward_weight(c->grad[0], db, dy, x[0], d.rows, d.in, d.out);
    return PP_OK;
}

static const pp_layer_kernels cpu_kernels = {
    .forward = forward, .backward_input = backward_input,
    .backward_weight = backward_weight, .init = init, .destroy = destroy};

#ifdef HAVE_CUBLAS
extern const pp_layer_kernels linear_cuda; /* linear.cu */
#define CUDA_KERNELS (&linear_cuda)
#else
#define CUDA_KERNELS NULL
#endif

static const pp_layer_ops ops = {.inputs = 1, .plan = plan,
                                 .cpu = &cpu_kernels, .cuda = CUDA_KERNELS};

PP_PLUGIN(PP_KIND_LAYER, "linear", "fully connected layer, y = x W^T + b",
          keys, &ops);
