/* layers/linear.c - fully connected layer: y = x W^T + b.
 *
 * Acts on the last dimension of its input; leading dimensions (a sequence,
 * say) are treated like more samples. Weights are initialised U(-k, k) with
 * k = 1/sqrt(in), as in PyTorch's nn.Linear.
 *
 * The CPU kernels are matmul.h's loops: no BLAS, one thread. The CUDA
 * kernels, built where cuBLAS is, are cuBLAS calls on the rank's stream:
 * GEMMs in plain FP32, or on TF32 tensor cores when the layer says
 * `tf32 = true` (the CPU has no TF32 and ignores the key).
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

#ifdef HAVE_CUBLAS
#include <limits.h>

#include <cuda_runtime_api.h>
#include <cublas_v2.h>
#endif

#include <pipette/pipette.h>

#ifdef HAVE_CUBLAS
#include "cuda_check.h"
#include "cuda_kernels.h"
#endif
#include "matmul.h"

typedef struct linear_args {
    int tf32;
} linear_args;

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

/* The micro-batch as a matrix: rows (all leading dimensions of all n
 * samples), in features, out units. */
typedef struct dims {
    int64_t rows, in, out;
} dims;

static dims dims_of(const pp_layer_call *c)
{
    const pp_shape *s = &c->in[0].shape;
    dims d;
    d.in = s->dim[s->ndim - 1];
    d.out = c->plan->params[0].shape.dim[0];
    d.rows = (int64_t)c->n * (pp_shape_elements(s) / d.in);
    return d;
}

static pp_status forward(const pp_layer_call *c, const void *const *x,
                         void *y, pp_error *err)
{
    (void)err;
    dims d = dims_of(c);
    const float *b = c->plan->nparams > 1 ? c->param[1] : NULL;
    mm_forward(y, x[0], c->param[0], b, d.rows, d.in, d.out);
    return PP_OK;
}

static pp_status backward_input(const pp_layer_call *c, const void *const *x,
                                const void *y, const void *dy,
                                void *const *dx, pp_error *err)
{
    (void)x, (void)y, (void)err;
    dims d = dims_of(c);
    mm_backward_input(dx[0], dy, c->param[0], d.rows, d.in, d.out);
    return PP_OK;
}

static pp_status backward_weight(const pp_layer_call *c,
                                 const void *const *x, const void *y,
                                 const void *dy, pp_error *err)
{
    (void)y, (void)err;
    dims d = dims_of(c);
    float *db = c->plan->nparams > 1 ? c->grad[1] : NULL;
    mm_backward_weight(c->grad[0], db, dy, x[0], d.rows, d.in, d.out);
    return PP_OK;
}

static const pp_layer_kernels cpu_kernels = {
    .forward = forward, .backward_input = backward_input,
    .backward_weight = backward_weight};

#ifdef HAVE_CUBLAS
/* ---- CUDA: cuBLAS on c->stream ---------------------------------------
 *
 * c->blas is bound to c->stream and in host pointer mode (alpha and beta
 * are host floats); the calling thread's current device is the stream's.
 * Everything is queued on the stream, nothing waits.
 *
 * Row-major meets column-major. cuBLAS reads a row-major (r, k) matrix,
 * leading dimension k, as the column-major (k, r) matrix: its transpose.
 * So each product is computed transposed, C^T = B^T A^T, on the buffers
 * as they are; in cuBLAS's terms (op(A) (m, k) times op(B) (k, n)):
 *
 *   forward          y^T (out, rows) = W (out, in) x^T (in, rows)
 *                    A = W seen as W^T (in, out): op T; B = x seen as x^T:
 *                    op N; C = y seen as y^T, ldc = out.
 *   backward_input   dx^T (in, rows) += W^T (in, out) dy^T (out, rows)
 *                    A = W seen as W^T: op N; B = dy seen as dy^T: op N;
 *                    beta = 1 (the input's gradient accumulates).
 *   backward_weight  dW^T (in, out) += x^T (in, rows) dy (rows, out)
 *                    A = x seen as x^T: op N; B = dy seen as dy^T: op T;
 *                    C = dW seen as dW^T, beta = 1 (gradients accumulate).
 *
 * The bias needs a vector of ones (rows), kept in saved: forward adds
 * b 1^T to y^T with a rank-1 update after the GEMM, rounding like the
 * CPU (the dot product, then + b), and backward_weight adds dy^T 1, the
 * column sums of dy, to db with a GEMV.
 *
 * GEMMs name their compute type, so the layer and not the handle's math
 * mode decides: CUBLAS_COMPUTE_32F_PEDANTIC is plain FP32 arithmetic
 * whatever the handle allows (TF32, BF16x9 emulation), and
 * CUBLAS_COMPUTE_32F_FAST_TF32 rounds the inputs to TF32 on tensor cores,
 * accumulating in FP32. The rank-1 update and the GEMV are level-2 calls,
 * always FP32. */

/* The micro-batch's matrix sizes as cuBLAS's ints, or an error. */
static pp_status cuda_dims(const pp_layer_call *c, int *rows, int *in,
                           int *out, pp_error *err)
{
    dims d = dims_of(c);
    if (d.rows > INT_MAX || d.in > INT_MAX)
        return pp_error_set(err, PP_ERR_RUNTIME,
                            "linear: a micro-batch of %lld rows of %lld "
                            "features exceeds cuBLAS's int sizes; use "
                            "smaller micro-batches",
                            (long long)d.rows, (long long)d.in);
    *rows = (int)d.rows;
    *in = (int)d.in;
    *out = (int)d.out; /* units: at most 2^24 */
    return PP_OK;
}

/* C = op(A) op(B) + beta C in FP32 storage, alpha = 1. */
static pp_status gemm(const pp_layer_call *c, cublasOperation_t op_a,
                      cublasOperation_t op_b, int m, int n, int k,
                      const void *a, int lda, const void *b, int ldb,
                      float beta, float *out, int ldc, pp_error *err)
{
    const float one = 1.0f;
    const linear_args *args = c->plan->args;
    cublasComputeType_t compute = args->tf32
                                      ? CUBLAS_COMPUTE_32F_FAST_TF32
                                      : CUBLAS_COMPUTE_32F_PEDANTIC;
    PP_CUBLAS_TRY(cublasGemmEx(c->blas, op_a, op_b, m, n, k, &one, a,
                               CUDA_R_32F, lda, b, CUDA_R_32F, ldb, &beta,
                               out, CUDA_R_32F, ldc, compute,
                               CUBLAS_GEMM_DEFAULT),
                  err);
    return PP_OK;
}

/* ones (n) = 1.0f, queued on c->stream. */
static pp_status fill_ones(const pp_layer_call *c, float *ones, int n,
                           pp_error *err)
{
    PP_CUDA_TRY(pp_cuda_fill((cudaStream_t)c->stream, ones, 1.0f, n), err);
    return PP_OK;
}

static pp_status cuda_forward(const pp_layer_call *c, const void *const *x,
                              void *y, pp_error *err)
{
    int rows, in, out;
    if (cuda_dims(c, &rows, &in, &out, err) ||
        gemm(c, CUBLAS_OP_T, CUBLAS_OP_N, out, rows, in, c->param[0], in,
             x[0], in, 0.0f, y, out, err))
        return err->code;
    if (c->plan->nparams > 1) {
        float *ones = c->saved; /* (rows) */
        const float one = 1.0f;
        if (fill_ones(c, ones, rows, err))
            return err->code;
        PP_CUBLAS_TRY(cublasSger(c->blas, out, rows, &one, c->param[1], 1,
                                 ones, 1, y, out),
                      err);
    }
    return PP_OK;
}

static pp_status cuda_backward_input(const pp_layer_call *c,
                                     const void *const *x, const void *y,
                                     const void *dy, void *const *dx,
                                     pp_error *err)
{
    (void)x, (void)y;
    int rows, in, out;
    if (cuda_dims(c, &rows, &in, &out, err) ||
        gemm(c, CUBLAS_OP_N, CUBLAS_OP_N, in, rows, out, c->param[0], in,
             dy, out, 1.0f, dx[0], in, err))
        return err->code;
    return PP_OK;
}

static pp_status cuda_backward_weight(const pp_layer_call *c,
                                      const void *const *x, const void *y,
                                      const void *dy, pp_error *err)
{
    (void)y;
    int rows, in, out;
    if (cuda_dims(c, &rows, &in, &out, err) ||
        gemm(c, CUBLAS_OP_N, CUBLAS_OP_T, in, out, rows, x[0], in, dy, out,
             1.0f, c->grad[0], in, err))
        return err->code;
    if (c->plan->nparams > 1) {
        const float *ones = c->saved; /* (rows), filled by forward */
        const float one = 1.0f;
        PP_CUBLAS_TRY(cublasSgemv(c->blas, CUBLAS_OP_N, out, rows, &one, dy,
                                  out, ones, 1, &one, c->grad[1], 1),
                      err);
    }
    return PP_OK;
}

static const pp_layer_kernels cuda_kernels = {
    .forward = cuda_forward, .backward_input = cuda_backward_input,
    .backward_weight = cuda_backward_weight};
#define CUDA_KERNELS (&cuda_kernels)
#else
#define CUDA_KERNELS NULL
#endif

static const pp_layer_ops ops = {.inputs = 1, .plan = plan,
                                 .cpu = &cpu_kernels, .cuda = CUDA_KERNELS};

PP_PLUGIN(PP_KIND_LAYER, "linear", "fully connected layer, y = x W^T + b",
          keys, &ops);
