/* layers/linear.c - fully connected layer: y = x W^T + b, or with
 * `activation = gelu` y = gelu(x W^T + b), GPT-2's MLP in one layer.
 *
 * Acts on the last dimension of its input; leading dimensions (a sequence,
 * say) are treated like more samples. Weights are initialised U(-k, k) with
 * k = 1/sqrt(in), as in PyTorch's nn.Linear, the bias likewise; or, with
 * `std`, N(0, std^2) and the bias at zero, as GPT-2 (and nanoGPT, llm.c)
 * start them, `residual_layers` N dividing std by sqrt(N) for the
 * projections that end a residual branch.
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
 * Without an activation backward_input needs only W and backward_weight
 * x, which the core keeps: nothing is saved. The bias takes no weight
 * decay.
 *
 * activation = gelu: gelu.h's formula, the gelu layer's. Forward keeps
 * the pre-activation pre = x W^T + b in `saved` (the activations' dtype,
 * (rows, out)) and clears the mark after it (linear.h). The first
 * backward of the micro-batch, input or weight, turns pre into dpre = dy
 * gelu'(pre) there, in place, and sets the mark; the other finds it set
 * and reads dpre. Either may come first or alone: a schedule runs
 * backward_weight without backward_input for a first layer (its input
 * wants no gradient), and zero-bubble schedules run the two apart. A
 * recomputed forward clears the mark again. Then each is the plain
 * layer's with dpre for dy. On the CPU the arithmetic is the chain
 * linear + gelu's, operation for operation: the same product, rounded
 * to bf16 where the chain's linear output is, gelu of that, and dpre as
 * the chain's gelu leaves it in its zeroed gradient (0 + dy gelu'(pre),
 * rounded to bf16 where that gradient is, as it is where saved keeps
 * it): the same bits in every precision. linear.cu says what the GPU
 * fuses.
 */
#include <config.h>

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <pipette/pipette.h>

#include "f32view.h"
#include "gelu.h"
#include "linear.h"
#include "matmul.h"

static const pp_key keys[] = {
    {"units", PP_KEY_INT, PP_KEY_REQUIRED, 1, 1 << 24, NULL, NULL,
     "output features"},
    {"bias", PP_KEY_BOOL, 0, PP_NO_RANGE, NULL, "true", "add a learned bias"},
    {"tf32", PP_KEY_BOOL, 0, PP_NO_RANGE, NULL, NULL,
     "retired: [train] precision = tf32 sets it for the whole model"},
    {"activation", PP_KEY_ENUM, 0, PP_NO_RANGE, "none|gelu", "none",
     "gelu: y = gelu(x W^T + b), GPT-2's tanh approximation, fused"},
    {"std", PP_KEY_FLOAT, PP_KEY_MIN_OPEN, 0, HUGE_VAL, NULL, NULL,
     "the weights start N(0, std^2) and the bias at 0 (GPT-2: 0.02); "
     "unset, both U(-k, k), k = 1/sqrt(inputs)"},
    {"residual_layers", PP_KEY_INT, 0, 1, 1 << 24, NULL, NULL,
     "with std, a residual branch's last projection in a model of N "
     "residual layers (2 n_layer in GPT-2): std / sqrt(N)"},
    {0},
};

/* How the weights start: U(-k, k), k = 1/sqrt(in), bias likewise, or
 * with std N(0, std^2) (std / sqrt(residual_layers)) and the bias 0. */
typedef struct linear_init {
    pp_init weight, bias;
    float wscale, bscale;
} linear_init;

static pp_status init_of(const pp_section *cfg, int64_t features,
                         linear_init *in, pp_error *err)
{
    float k = (float)(1.0 / sqrt((double)features));
    *in = (linear_init){PP_INIT_UNIFORM, PP_INIT_UNIFORM, k, k};
    int has_std = pp_section_has(cfg, "std");
    if (pp_section_has(cfg, "residual_layers") && !has_std)
        return pp_section_error(cfg, "residual_layers", err,
            "residual_layers divides std by its square root: write std "
            "too (std = 0.02, as GPT-2)");
    if (!has_std)
        return PP_OK;
    double std;
    int64_t layers = 1;
    if (pp_section_float(cfg, "std", &std, err) ||
        (pp_section_has(cfg, "residual_layers") &&
         pp_section_int(cfg, "residual_layers", &layers, err)))
        return err->code;
    *in = (linear_init){PP_INIT_NORMAL, PP_INIT_ZEROS,
                        (float)(std / sqrt((double)layers)), 0.0f};
    return PP_OK;
}

static pp_status plan(const pp_section *cfg, const pp_tensor_desc *in,
                      int nin, pp_layer_plan *p, pp_error *err)
{
    (void)nin;
    int64_t units;
    bool bias;
    const char *activation;
    if (pp_section_int(cfg, "units", &units, err) ||
        pp_section_bool(cfg, "bias", &bias, err) ||
        pp_section_string(cfg, "activation", &activation, err))
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
    linear_init init;
    if (init_of(cfg, features, &init, err))
        return err->code;

    p->out = *in;
    p->out.shape.dim[in->shape.ndim - 1] = units;
    pp_shape w = {2, {units, features}}, b = {1, {units}};
    linear_args args = {p->precision == PP_PRECISION_TF32,
                        strcmp(activation, "gelu") == 0};
    if (pp_layer_param(p, "weight", &w, init.weight, init.wscale, 0, err) ||
        (bias && pp_layer_param(p, "bias", &b, init.bias, init.bscale,
                                PP_PARAM_NO_DECAY, err)) ||
        pp_layer_args(p, &args, sizeof args, err))
        return err->code;
    /* Its output and views are counted in 64 bits (the core refuses
     * what passes 2^50 bytes; rows x features is within that). */
    int64_t outs, views;
    if (__builtin_mul_overflow(rows, units, &outs) ||
        __builtin_mul_overflow(rows, features + 2 * units, &views))
        return pp_section_error(cfg, "units", err,
            "%lld rows of %lld units overflow 64 bits", (long long)rows,
            (long long)units);
    p->flops = 2.0 * (double)rows * (double)features * (double)units;
    /* The views: x and y; dy and dx; dy and x. */
    views = rows * (features + units);
    if (args.gelu) {
        /* The gelu layer's 10 a value; pre (then dpre) and the mark in
         * saved; in bf16 views of dy and pre beside x or dx, or of pre
         * and y in the forward. */
        p->flops += 10.0 * (double)outs;
        p->saved_bytes = linear_pre_bytes(
                             rows, units,
                             pp_dtype_size(pp_precision_dtype(p->precision))) +
                         LINEAR_MARK_ROOM;
        views += outs;
    }
    f32view_plan(p, views);
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

/* y (n) = gelu(pre): the gelu layer's loop */
static void gelu_rows(float *restrict y, const float *restrict pre,
                      int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = gelu_value(pre[i]);
}

static pp_status forward(const pp_layer_call *c, const void *const *x,
                         void *y, pp_error *err)
{
    (void)err;
    linear_dims d = linear_dims_of(c);
    const float *b, *w = weights(c, &b);
    f32view v = f32view_of(c);
    int64_t ny = d.rows * d.out;
    const float *xf = f32_in(&v, x[0], d.rows * d.in);
    if (!linear_args_of(c)->gelu) {
        float *yf = f32_out(&v, y, ny);
        mm_forward_samples(yf, xf, w, b, c->n, d.rows / c->n, d.in, d.out);
        f32_out_done(&v, y, yf, ny);
        return PP_OK;
    }
    /* pre into saved, rounded there in bf16: the chain's linear output,
     * which its gelu reads */
    float *pre = f32_out(&v, c->saved, ny);
    mm_forward_samples(pre, xf, w, b, c->n, d.rows / c->n, d.in, d.out);
    f32_out_done(&v, c->saved, pre, ny);
    for (int64_t i = 0; v.bf16 && i < ny; i++)
        pre[i] = pp_bf16_round(pre[i]);
    *linear_mark_of(c) = (linear_mark){0, 0};
    float *yf = f32_out(&v, y, ny);
    gelu_rows(yf, pre, ny);
    f32_out_done(&v, y, yf, ny);
    return PP_OK;
}

/* The gradient the product sees, (rows, out): dy, or with gelu dpre in
 * saved, made there now where the mark says pre: 0 + dy gelu'(pre), as
 * the chain's gelu adds it into its zeroed gradient, rounded to bf16
 * where that gradient (and saved) is bf16. */
static const float *grad_out(const pp_layer_call *c, f32view *v,
                             const void *dy, int64_t n)
{
    if (!linear_args_of(c)->gelu)
        return f32_in(v, dy, n);
    linear_mark *mark = linear_mark_of(c);
    if (mark->dpre)
        return f32_in(v, c->saved, n);
    const float *g = f32_in(v, dy, n);
    float *dpre = f32_out(v, c->saved, n); /* pre, in place */
    if (v->bf16)
        pp_row_load(dpre, c->saved, PP_BF16, n);
    for (int64_t i = 0; i < n; i++)
        dpre[i] = 0.0f + gelu_grad(g[i], dpre[i]);
    for (int64_t i = 0; v->bf16 && i < n; i++)
        dpre[i] = pp_bf16_round(dpre[i]);
    f32_out_done(v, c->saved, dpre, n);
    mark->dpre = 1;
    return dpre;
}

static pp_status backward_input(const pp_layer_call *c, const void *const *x,
                                const void *y, const void *dy,
                                void *const *dx, pp_error *err)
{
    (void)x, (void)y, (void)err;
    linear_dims d = linear_dims_of(c);
    const float *b, *w = weights(c, &b);
    f32view v = f32view_of(c);
    const float *g = grad_out(c, &v, dy, d.rows * d.out);
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
    const float *g = grad_out(c, &v, dy, d.rows * d.out);
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

PP_PLUGIN(PP_KIND_LAYER, "linear",
          "fully connected layer, y = x W^T + b, or gelu of it",
          keys, &ops);
