/* layers/relu.c - rectified linear unit, y = max(x, 0), elementwise.
 *
 * backward reads y (which the core keeps): the gradient passes where
 * y > 0. Nothing is saved.
 */
#include "elementwise.h"

/* y (n) = max(x, 0) */
LAYER_LOOP
static void relu_forward(float *restrict y, const float *restrict x,
                         int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

/* dx (n) += dy where y > 0 */
LAYER_LOOP
static void relu_backward(float *restrict dx, const float *restrict dy,
                          const float *restrict y, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        dx[i] += y[i] > 0.0f ? dy[i] : 0.0f;
}

ELEMENTWISE_LAYER("relu", "rectified linear unit, max(x, 0)",
                  1.0, ELEMENTWISE_READS_Y, relu_forward, relu_backward,
                  relu_cuda);
