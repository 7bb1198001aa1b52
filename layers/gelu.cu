/* layers/gelu.cu - gelu's device half: gelu.h's formulas for one
 * element, the host's operations in the host's order, run by
 * elementwise.h's kernels. */
#include "elementwise.h"
#include "gelu.h"

struct gelu_op {
    /* y = gelu(x) */
    __device__ static float forward(float v)
    {
        return gelu_value(v);
    }
    /* dx += dy gelu'(x) */
    __device__ static float backward(float dy, float v)
    {
        return gelu_grad(dy, v);
    }
};

ELEMENTWISE_CUDA(gelu_cuda, gelu_op, ELEMENTWISE_READS_X);
