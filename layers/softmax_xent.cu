/* layers/softmax_xent.cu - softmax_xent's device half. One warp a row:
 * the row's max and log-sum-exp (summed in double, as the CPU does, of
 * float exps: FP64 exp costs more than its 1e-7 is worth); forward saves
 * the log-sum-exp for backward, which recomputes only the max. The logits
 * x and dx are float or bf16, read 16 bytes at a time where a row allows
 * (packed.h); the statistics and the loss are FP32 or double, as on the
 * CPU. The targets are in device memory and cannot be refused without
 * stopping the stream: a target outside the classes makes its row's loss
 * and gradient NaN, so the step's loss is NaN. */
#include <config.h>

#include <math_constants.h>

#include "packed.h"

template <typename T>
__device__ static float row_max(const T *xr, int64_t C)
{
    float m = -CUDART_INF_F;
    lane_runs<T>(C, aligned16(xr), [&](int64_t j, int k) {
        float v[PACK(T)];
        run_load(v, xr + j, k);
        for (int i = 0; i < k; i++)
            m = fmaxf(m, v[i]);
    });
    return pp_warp_max(m);
}

template <typename T>
__device__ static void row_stats(const T *xr, int64_t C, float *max,
                                 double *lse)
{
    bool packs = aligned16(xr);
    float m = row_max(xr, C);
    double sum = 0.0;
    lane_runs<T>(C, packs, [&](int64_t j, int k) {
        float v[PACK(T)];
        run_load(v, xr + j, k);
        for (int i = 0; i < k; i++)
            sum += (double)expf(v[i] - m);
    });
    *max = m;
    *lse = log(pp_warp_sum(sum));
}

/* row_loss[r] = lse[r] - (x[target] - max) */
template <typename T>
__global__ static void row_losses(double *row_loss, double *row_lse,
                                  const T *x, const int32_t *target,
                                  int64_t rows, int64_t C)
{
    PP_CUDA_ROW_LOOP(r, rows) {
        const T *xr = x + r * C;
        float m;
        double lse;
        row_stats(xr, C, &m, &lse);
        int32_t t = target[r];
        if (threadIdx.x % 32 == 0)
            row_lse[r] = lse;
        if (threadIdx.x % 32 == 0)
            row_loss[r] = t >= 0 && t < C
                              ? lse - (double)(elem_load(xr + t) - m)
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

/* dx (rows, C) += scale * (softmax(x) - onehot(target)): one rounding in
 * bf16 */
template <typename T>
__global__ static void backward(T *dx, const T *x, const double *row_lse,
                                const int32_t *target, int64_t rows,
                                int64_t C, double scale)
{
    PP_CUDA_ROW_LOOP(r, rows) {
        const T *xr = x + r * C;
        T *dxr = dx + r * C;
        float m = row_max(xr, C);
        double lse = row_lse[r];
        int32_t t = target[r];
        int ok = t >= 0 && t < C;
        bool packs = aligned16(xr) && aligned16(dxr);
        lane_runs<T>(C, packs, [&](int64_t j, int k) {
            float d[PACK(T)], v[PACK(T)];
            run_load(d, dxr + j, k);
            run_load(v, xr + j, k);
            for (int i = 0; i < k; i++) {
                float p = expf((float)((double)(v[i] - m) - lse));
                float g = (float)(scale * (double)p);
                if (j + i == t)
                    g -= (float)scale;
                d[i] += ok ? g : CUDART_NAN_F;
            }
            run_store(dxr + j, d, k);
        });
    }
}

/* Per-row losses into saved, then one block sums them. An empty
 * micro-batch still writes its loss, 0. */
template <typename T>
static pp_status forward_as(const pp_layer_call *c, const void *const *x,
                            void *y, pp_error *err)
{
    cudaStream_t s = pp_cuda_stream(c);
    int64_t rows = pp_call_rows(c, 0);
    auto kernel = row_losses<T>;
    if (rows > 0)
        kernel<<<pp_cuda_row_blocks(rows), PP_CUDA_ROW_THREADS, 0, s>>>(
            (double *)c->saved + rows, (double *)c->saved, (const T *)x[0],
            (const int32_t *)c->target, rows, pp_call_features(c, 0));
    sum_scaled<<<1, PP_CUDA_THREADS, 0, s>>>((float *)y,
                                             (const double *)c->saved + rows,
                                             rows, c->loss_scale);
    return PP_CUDA_CHECK(cudaGetLastError(), err);
}

template <typename T>
static pp_status backward_as(const pp_layer_call *c, const void *const *x,
                             void *const *dx, pp_error *err)
{
    int64_t rows = pp_call_rows(c, 0);
    auto kernel = backward<T>;
    if (rows > 0)
        kernel<<<pp_cuda_row_blocks(rows), PP_CUDA_ROW_THREADS, 0,
                 pp_cuda_stream(c)>>>((T *)dx[0], (const T *)x[0],
                                      (const double *)c->saved,
                                      (const int32_t *)c->target, rows,
                                      pp_call_features(c, 0),
                                      c->loss_scale);
    return PP_CUDA_CHECK(cudaGetLastError(), err);
}

static pp_status forward(const pp_layer_call *c, const void *const *x,
                         void *y, pp_error *err)
{
    return BY_DTYPE(c, forward_as, c, x, y, err);
}

static pp_status backward_input(const pp_layer_call *c, const void *const *x,
                                const void *y, const void *dy,
                                void *const *dx, pp_error *err)
{
    (void)y, (void)dy;
    return BY_DTYPE(c, backward_as, c, x, dx, err);
}

extern "C" const pp_layer_kernels softmax_xent_cuda = {
    .forward = forward, .backward_input = backward_input};
