/* layers/linear.cu - linear's device half: cuBLAS on the rank's stream.
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

#include <config.h>

#include <limits.h>

#include <cublas_v2.h>

#include <pipette/cuda.h>

#include "linear.h"

/* The micro-batch's matrix sizes as cuBLAS's ints, or an error: also
 * in bf16, which these FP32 GEMMs cannot run (cuBLASLt's will). */
static pp_status cuda_dims(const pp_layer_call *c, int *rows, int *in,
                           int *out, pp_error *err)
{
    if (c->precision == PP_PRECISION_BF16)
        return pp_error_set(err, PP_ERR_RUNTIME,
                            "linear's CUDA half has no bf16 GEMM yet: use "
                            "precision = fp32 or tf32, or run the linear "
                            "layers on cpu ranks");
    linear_dims d = linear_dims_of(c);
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
    const linear_args *args = (const linear_args *)c->plan->args;
    cublasComputeType_t compute = args->tf32
                                      ? CUBLAS_COMPUTE_32F_FAST_TF32
                                      : CUBLAS_COMPUTE_32F_PEDANTIC;
    return PP_CUBLAS_CHECK(cublasGemmEx((cublasHandle_t)c->blas, op_a, op_b,
                                        m, n, k, &one, a, CUDA_R_32F, lda, b,
                                        CUDA_R_32F, ldb, &beta, out,
                                        CUDA_R_32F, ldc, compute,
                                        CUBLAS_GEMM_DEFAULT),
                           err);
}

/* ones (n) = 1.0f (cudart's memsets repeat a byte; 1.0f is not one) */
__global__ static void fill_ones(float *ones, int64_t n)
{
    PP_CUDA_GRID_STRIDE(i, n)
        ones[i] = 1.0f;
}

static pp_status cuda_forward(const pp_layer_call *c, const void *const *x,
                              void *y, pp_error *err)
{
    int rows, in, out;
    if (cuda_dims(c, &rows, &in, &out, err) ||
        gemm(c, CUBLAS_OP_T, CUBLAS_OP_N, out, rows, in, c->param[0], in,
             x[0], in, 0.0f, (float *)y, out, err))
        return err->code;
    if (c->plan->nparams > 1) {
        float *ones = (float *)c->saved; /* (rows) */
        const float one = 1.0f;
        fill_ones<<<pp_cuda_blocks(rows), PP_CUDA_THREADS, 0,
                    pp_cuda_stream(c)>>>(ones, rows);
        if (PP_CUDA_CHECK(cudaGetLastError(), err) ||
            PP_CUBLAS_CHECK(cublasSger((cublasHandle_t)c->blas, out, rows,
                                       &one, c->param[1], 1, ones, 1,
                                       (float *)y, out),
                            err))
            return err->code;
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
             dy, out, 1.0f, (float *)dx[0], in, err))
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
        /* (rows), filled by forward */
        const float *ones = (const float *)c->saved;
        const float one = 1.0f;
        return PP_CUBLAS_CHECK(cublasSgemv((cublasHandle_t)c->blas,
                                           CUBLAS_OP_N, out, rows, &one,
                                           (const float *)dy, out, ones, 1,
                                           &one, c->grad[1], 1),
                               err);
    }
    return PP_OK;
}

extern "C" const pp_layer_kernels linear_cuda = {
    .forward = cuda_forward, .backward_input = cuda_backward_input,
    .backward_weight = cuda_backward_weight};
