/* layers/gelu.cu - gelu's device half: gelu.c's formulas for one element,
 * the same operations in the same order, run by elementwise.h's
 * kernels. */
#include "elementwise.h"

#define GELU_SCALE 0.7978845608028654f /* sqrt(2/pi), as gelu.c */
#define GELU_CUBE 0.044715f

struct gelu_op {
    /* y = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) */
    __device__ static float forward(float v)
    {
        float t = tanhf(GELU_SCALE * (v + GELU_CUBE * v * v * v));
        return 0.5f * v * (1.0f + t);
    }
    /* dx += dy gelu'(x) */
    __device__ static float backward(float dy, float v)
    {
        float t = tanhf(GELU_SCALE * (v + GELU_CUBE * v * v * v));
        float dt = (1.0f - t * t) * GELU_SCALE *
                   (1.0f + 3.0f * GELU_CUBE * v * v);
        return dy * (0.5f * (1.0f + t) + 0.5f * v * dt);
    }
};

ELEMENTWISE_CUDA(gelu_cuda, gelu_op, ELEMENTWISE_READS_X);
