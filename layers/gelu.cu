/* layers/gelu.cu - gelu's device half: gelu.c's formulas, the same
 * operations in the same order, as grid-stride kernels. */
#include "elementwise.h"

#define GELU_SCALE 0.7978845608028654f /* sqrt(2/pi), as gelu.c */
#define GELU_CUBE 0.044715f

__global__ static void gelu_forward(float *y, const float *x, int64_t n)
{
    PP_CUDA_GRID_STRIDE(i, n) {
        float v = x[i];
        float t = tanhf(GELU_SCALE * (v + GELU_CUBE * v * v * v));
        y[i] = 0.5f * v * (1.0f + t);
    }
}

__global__ static void gelu_backward(float *dx, const float *dy,
                                     const float *x, int64_t n)
{
    PP_CUDA_GRID_STRIDE(i, n) {
        float v = x[i];
        float t = tanhf(GELU_SCALE * (v + GELU_CUBE * v * v * v));
        float dt = (1.0f - t * t) * GELU_SCALE *
                   (1.0f + 3.0f * GELU_CUBE * v * v);
        dx[i] += dy[i] * (0.5f * (1.0f + t) + 0.5f * v * dt);
    }
}

ELEMENTWISE_CUDA(gelu_cuda, gelu_forward, gelu_backward,
                 ELEMENTWISE_READS_X);
