/* layers/tanh.cu - tanh's device half, as grid-stride kernels. */
#include "elementwise.h"

__global__ static void tanh_forward(float *y, const float *x, int64_t n)
{
    PP_CUDA_GRID_STRIDE(i, n)
        y[i] = tanhf(x[i]);
}

__global__ static void tanh_backward(float *dx, const float *dy,
                                     const float *y, int64_t n)
{
    PP_CUDA_GRID_STRIDE(i, n)
        dx[i] += dy[i] * (1.0f - y[i] * y[i]);
}

ELEMENTWISE_CUDA(tanh_cuda, tanh_forward, tanh_backward,
                 ELEMENTWISE_READS_Y);
