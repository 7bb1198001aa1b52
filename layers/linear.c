/* layers/linear.c - fully connected layer: y = x W^T + b.
 *
 * Acts on the last dimension of its input; leading dimensions (a sequence,
 * say) are treated like more samples. Weights are initialised U(-k, k) with
 * k = 1/sqrt(in), as in PyTorch's nn.Linear.
 *
 * The CPU kernels are matmul.h's products: a BLAS's (cblas_sgemm and
 * cblas_sgemv) where configure found one, else pipette's own loops; one
 * thread either way, which init tells the BLAS. The forward multiplies
 * sample by sample, so that a sample's outputs are the same in any
 * micro-batch (matmul.h says why). The CUDA kernels (linear.cu), built
 * where cuBLASLt is, are one cuBLASLt matmul each on the rank's stream,
 * the bias added and its gradient summed by the matmul's epilogues: GEMMs
 * in plain FP32, or on TF32 tensor cores in [train] precision = tf32 (the
 * CPU has no TF32 and computes in FP32). In bf16 the GEMMs read the bf16
 * copy of W and b and accumulate in FP32; the CPU reads them into FP32
 * (its state holds the room) and its activations through f32view.h. Both
 * round each bf16 output once.
 *
 * backward_input needs only W; backward_weight needs x, which the core
 * keeps: nothing is saved. The bias takes no weight decay.
 */
#include <config.h>

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include <pipette/pipette.h>

#include "f32view.h"
#include "linear.h"
#include "matmul.h"

static const pp_key keys[] = {
    {"units", PP_KEY_INT, PP_KEY_REQUIRED, 1, 1 << 24, NULL, NULL,
     "output features"},
    {"bias", PP_KEY_BOOL, 0, PP_NO_RANGE, NULL, "true", "add a learned bias"},
    {"tf32", PP_KEY_BOOL, 0, PP_NO_RANGE, NULL, NULL,
     "retired: [train] precision = tf32 sets it for the whole model"},
    {0},
};

static pp_status plan(const pp_section *cfg, const pp_tensor_desc *in,
                      int nin, pp_layer_plan *p, pp_error *err)
{
    (void)nin;
    int64_t units;
    bool bias;
    if (pp_section_int(cfg, "units", &units, err) ||
        pp_section_bool(cfg, "bias", &bias, err))
        return err->code;
    if (pp_section_has(cfg, "tf32"))
        return pp_section_error(cfg, "tf32", err,
            "the tf32 key is retired: write precision = tf32 in [train], "
            "which puts every GEMM of the model on TF32 tensor cores");
    if (!pp_dtype_is_float(in->dtype) || in->shape.ndim == 0)
        return pp_section_error(cfg, NULL, err,
            "linear needs float features as input (an embedding layer "
            "turns token ids into features)");
    int64_t features = in->shape.dim[in->shape.ndim - 1];
    int64_t rows = pp_shape_elements(&in->shape) / features;

    p->out = *in;
    p->out.shape.dim[in->shape.ndim - 1] = units;
    float k = (float)(1.0 / sqrt((double)features));
    pp_shape w = {2, {units, features}}, b = {1, {units}};
    linear_args args = {p->precision == PP_PRECISION_TF32};
    if (pp_layer_param(p, "weight", &w, PP_INIT_UNIFORM, k, 0, err) ||
        (bias && pp_layer_param(p, "bias", &b, PP_INIT_UNIFORM, k,
                                PP_PARAM_NO_DECAY, err)) ||
        pp_layer_args(p, &args, sizeof args, err))
        return err->code;
    p->flops = 2.0 * (double)rows * (double)features * (double)units;
    f32view_plan(p, rows * (features + units));
    return PP_OK;
}

/* bf16: W and b read into FP32 from their bf16 copies. */
typedef struct cpu_state {
    float *w, *b;
} cpu_state;

/* Runs before the ranks start, for every linear layer of each: the BLAS,
 * if any, is told to run on the caller's thread (matmul.h). */
static pp_status cpu_init(const pp_layer_call *c, void **state,
                          pp_error *err)
{
    mm_one_thread();
    *state = NULL;
    if (c->precision != PP_PRECISION_BF16)
        return PP_OK;
    linear_dims d = linear_dims_of(c);
    cpu_state *s = calloc(1, sizeof *s);
    if (s)
        s->w = malloc((size_t)(d.out * d.in + d.out) * sizeof(float));
    if (!s || !s->w) {
        free(s);
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    }
    s->b = s->w + d.out * d.in;
    *state = s;
    return PP_OK;
}

static void cpu_destroy(void *state)
{
    cpu_state *s = state;
    if (s)
        free(s->w);
    free(s);
}

/* W, and b (NULL: no bias), as the GEMMs of this precision read them. */
static const float *weights(const pp_layer_call *c, const float **b)
{
    linear_dims d = linear_dims_of(c);
    int bias = c->plan->nparams > 1;
    if (c->precision != PP_PRECISION_BF16) {
        *b = bias ? c->param[1] : NULL;
        return c->param[0];
    }
    cpu_state *s = c->state;
    pp_row_load(s->w, c->param_bf16[0], PP_BF16, d.out * d.in);
    if (bias)
        pp_row_load(s->b, c->param_bf16[1], PP_BF16, d.out);
    *b = bias ? s->b : NULL;
    return s->w;
}

static pp_status forward(const pp_layer_call *c, const void *const *x,
                         void *y, pp_error *err)
{
    (void)err;
    linear_dims d = linear_dims_of(c);
    const float *b, *w = weights(c, &b);
    f32view v = f32view_of(c);
    const float *xf = f32_in(&v, x[0], d.rows * d.in);
    float *yf = f32_out(&v, y, d.rows * d.out);
    mm_forward_samples(yf, xf, w, b, c->n, d.rows / c->n, d.in, d.out);
    f32_out_done(&v, y, yf, d.rows * d.out);
    return PP_OK;
}

static pp_status backward_input(const pp_layer_call *c, const void *const *x,
                                const void *y, const void *dy,
                                void *const *dx, pp_error *err)
{
    (void)x, (void)y, (void)err;
    linear_dims d = linear_dims_of(c);
    const float *b, *w = weights(c, &b);
    f32view v = f32view_of(c);
    const float *g = f32_in(&v, dy, d.rows * d.out);
    float *dxf = f32_grad(&v, dx[0], d.rows * d.in);
    mm_backward_input(dxf, g, w, d.rows, d.in, d.out);
    f32_grad_done(&v, dx[0], dxf, d.rows * d.in);
    return PP_OK;
}

static pp_status backward_weight(const pp_layer_call *c,
                                 const void *const *x, const void *y,
                                 const void *dy, pp_error *err)
{
    (void)y, (void)err;
    linear_dims d = linear_dims_of(c);
    float *db = c->plan->nparams > 1 ? c->grad[1] : NULL;
    f32view v = f32view_of(c);
    const float *g = f32_in(&v, dy, d.rows * d.out);
    const float *xf = f32_in(&v, x[0], d.rows * d.in);
    mm_backward_weight(c->grad[0], db, g, xf, d.rows, d.in, d.out);
    return PP_OK;
}

static const pp_layer_kernels cpu_kernels = {
    .forward = forward, .backward_input = backward_input,
    .backward_weight = backward_weight, .init = cpu_init,
    .destroy = cpu_destroy};

#ifdef HAVE_CUBLASLT
extern const pp_layer_kernels linear_cuda; /* linear.cu */
#define CUDA_KERNELS (&linear_cuda)
#else
#define CUDA_KERNELS NULL
#endif

static const pp_layer_ops ops = {.inputs = 1, .plan = plan,
                                 .cpu = &cpu_kernels, .cuda = CUDA_KERNELS,
                                 .precisions = F32VIEW_PRECISIONS};

PP_PLUGIN(PP_KIND_LAYER, "linear", "fully connected layer, y = x W^T + b",
          keys, &ops);
