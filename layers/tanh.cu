/* layers/tanh.cu - tanh's device half: tanh.c's formulas for one element,
 * run by elementwise.h's kernels. */
#include "elementwise.h"

struct tanh_op {
    /* y = tanh(x) */
    __device__ static float forward(float x)
    {
        return tanhf(x);
    }
    /* dx += dy (1 - y^2) */
    __device__ static float backward(float dy, float y)
    {
        return dy * (1.0f - y * y);
    }
};

ELEMENTWISE_CUDA(tanh_cuda, tanh_op, ELEMENTWISE_READS_Y);
