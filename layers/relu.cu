/* layers/relu.cu - relu's device half: relu.c's formulas for one element,
 * run by elementwise.h's kernels on the rank's stream. */
#include "elementwise.h"

struct relu_op {
    /* y = max(x, 0) */
    __device__ static float forward(float x)
    {
        return x > 0.0f ? x : 0.0f;
    }
    /* dx += dy where y > 0 */
    __device__ static float backward(float dy, float y)
    {
        return y > 0.0f ? dy : 0.0f;
    }
};

ELEMENTWISE_CUDA(relu_cuda, relu_op, ELEMENTWISE_READS_Y);
