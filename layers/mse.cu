/* layers/mse.cu - mse's device half: each sample's sum of squares in
 * double (one block a sample, in a fixed tree) into saved, then one block
 * sums the samples', so the loss has the same bits every run. The
 * predictions x and dx are float or bf16, the targets and the loss
 * FP32. */
#include <config.h>

#include "packed.h"

/* sample_sum[s] = sum((x - t)^2) over sample s's `per` elements */
template <typename T>
__global__ static void sample_sums(double *sample_sum, const T *x,
                                   const float *t, int64_t samples,
                                   int64_t per)
{
    __shared__ double part[PP_CUDA_THREADS];
    for (int64_t s = blockIdx.x; s < samples; s += gridDim.x) {
        const T *xs = x + s * per;
        const float *ts = t + s * per;
        double acc = 0.0;
        for (int64_t i = threadIdx.x; i < per; i += PP_CUDA_THREADS) {
            double d = (double)elem_load(xs + i) - (double)ts[i];
            acc += d * d;
        }
        acc = pp_block_sum(acc, part);
        if (threadIdx.x == 0)
            sample_sum[s] = acc;
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

/* dx (n) += k (x - t), k = 2 scale as mse.c rounds it: one rounding in
 * bf16 */
template <typename T>
__global__ static void backward(T *dx, const T *x, const float *t,
                                int64_t n, float k)
{
    PP_CUDA_GRID_STRIDE(i, n) {
        float v = k * (elem_load(x + i) - t[i]);
        elem_store(dx + i, elem_load(dx + i) + v);
    }
}

/* An empty micro-batch still writes its loss, 0. */
template <typename T>
static pp_status forward_as(const pp_layer_call *c, const void *const *x,
                            void *y, pp_error *err)
{
    cudaStream_t s = pp_cuda_stream(c);
    auto sums = sample_sums<T>;
    if (c->n > 0) /* a block a sample */
        sums<<<pp_cuda_blocks((int64_t)c->n * PP_CUDA_THREADS),
               PP_CUDA_THREADS, 0, s>>>((double *)c->saved, (const T *)x[0],
                                        (const float *)c->target, c->n,
                                        pp_shape_elements(&c->in[0].shape));
    sum_scaled<<<1, PP_CUDA_THREADS, 0, s>>>((float *)y,
                                             (const double *)c->saved, c->n,
                                             c->loss_scale);
    return PP_CUDA_CHECK(cudaGetLastError(), err);
}

template <typename T>
static pp_status backward_as(const pp_layer_call *c, const void *const *x,
                             void *const *dx, pp_error *err)
{
    int64_t n = pp_call_elements(c, 0);
    auto kernel = backward<T>;
    if (n > 0)
        kernel<<<pp_cuda_blocks(n), PP_CUDA_THREADS, 0, pp_cuda_stream(c)>>>(
            (T *)dx[0], (const T *)x[0], (const float *)c->target, n,
            (float)(2.0 * c->loss_scale));
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

extern "C" const pp_layer_kernels mse_cuda = {
    .forward = forward, .backward_input = backward_input};
