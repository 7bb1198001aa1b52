/* layers/relu.cu - relu's device half: relu.c's loops as grid-stride
 * kernels on the rank's stream. */
#include "elementwise.h"

__global__ static void relu_forward(float *y, const float *x, int64_t n)
{
    PP_CUDA_GRID_STRIDE(i, n)
        y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

__global__ static void relu_backward(float *dx, const float *dy,
                                     const float *y, int64_t n)
{
    PP_CUDA_GRID_STRIDE(i, n)
        dx[i] += y[i] > 0.0f ? dy[i] : 0.0f;
}

ELEMENTWISE_CUDA(relu_cuda, relu_forward, relu_backward,
                 ELEMENTWISE_READS_Y);
