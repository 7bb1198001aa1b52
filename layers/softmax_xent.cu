/* layers/softmax_xent.cu - softmax_xent's device half. One warp a row:
 * the row's max and log-sum-exp (summed in double, as the CPU does, but
 * of float exps: FP64 exp costs more than its 1e-7 is worth). The
 * targets are in device memory and cannot be refused without stopping
 * the stream: a target outside the classes makes its row's loss and
 * gradient NaN, so the step's loss is NaN. */
#include <config.h>

#include <math_constants.h>

#include <pipette/cuda.h>

__device__ static void row_stats(const float *xr, int64_t C, float *max,
                                 double *lse)
{
    float m = -CUDART_INF_F;
    PP_CUDA_LANE_LOOP(j, C)
        m = fmaxf(m, xr[j]);
    m = pp_warp_max(m);
    double sum = 0.0;
    PP_CUDA_LANE_LOOP(j, C)
        sum += (double)expf(xr[j] - m);
    *max = m;
    *lse = log(pp_warp_sum(sum));
}

/* row_loss[r] = lse - (x[target] - max) */
__global__ static void row_losses(double *row_loss, const float *x,
                                  const int32_t *target, int64_t rows,
                                  int64_t C)
{
    PP_CUDA_ROW_LOOP(r, rows) {
        const float *xr = x + r * C;
        float m;
        double lse;
        row_stats(xr, C, &m, &lse);
        int32_t t = target[r];
        if (threadIdx.x % 32 == 0)
            row_loss[r] = t >= 0 && t < C ? lse - (double)(xr[t] - m)
                                          : CUDART_NAN;
    }
}

/* loss (one float) = scale * sum(v (n)); one block, so the order is
 * fixed. */
__global__ static void sum_scaled(float *loss, const double *v, int64_t n,
                                  double scale)
{
    __shared__ double part[PP_CUDA_THREADS];
    double s = pp_block_sum_of(v, n, part);
    if (threadIdx.x == 0)
        *loss = (float)(s * scale);
}

/* dx (rows, C) += scale * (softmax(x) - onehot(target)) */
__global__ static void backward(float *dx, const float *x,
                                const int32_t *target, int64_t rows,
                                int64_t C, double scale)
{
    PP_CUDA_ROW_LOOP(r, rows) {
        const float *xr = x + r * C;
        float *dxr = dx + r * C;
        float m;
        double lse;
        row_stats(xr, C, &m, &lse);
        int32_t t = target[r];
        int ok = t >= 0 && t < C;
        PP_CUDA_LANE_LOOP(j, C) {
            float p = expf((float)((double)(xr[j] - m) - lse));
            float v = (float)(scale * (double)p);
            if (j == t)
                v -= (float)scale;
            dxr[j] += ok ? v : CUDART_NAN_F;
        }
    }
}

/* Per-row losses into saved, then one block sums them. An empty
 * micro-batch still writes its loss, 0. */
static pp_status forward(const pp_layer_call *c, const void *const *x,
                         void *y, pp_error *err)
{
    cudaStream_t s = pp_cuda_stream(c);
    int64_t rows = pp_call_rows(c, 0);
    if (rows > 0)
        row_losses<<<pp_cuda_row_blocks(rows), PP_CUDA_ROW_THREADS, 0, s>>>(
            (double *)c->saved, (const float *)x[0],
            (const int32_t *)c->target, rows, pp_call_features(c, 0));
    sum_scaled<<<1, PP_CUDA_THREADS, 0, s>>>((float *)y,
                                             (const double *)c->saved, rows,
                                             c->loss_scale);
    return PP_CUDA_CHECK(cudaGetLastError(), err);
}

static pp_status backward_input(const pp_layer_call *c, const void *const *x,
                                const void *y, const void *dy,
                                void *const *dx, pp_error *err)
{
    (void)y, (void)dy;
    int64_t rows = pp_call_rows(c, 0);
    if (rows > 0)
        backward<<<pp_cuda_row_blocks(rows), PP_CUDA_ROW_THREADS, 0,
                   pp_cuda_stream(c)>>>((float *)dx[0], (const float *)x[0],
                                        (const int32_t *)c->target, rows,
                                        pp_call_features(c, 0),
                                        c->loss_scale);
    return PP_CUDA_CHECK(cudaGetLastError(), err);
}

extern "C" const pp_layer_kernels softmax_xent_cuda = {
    .forward = forward, .backward_input = backward_input};
