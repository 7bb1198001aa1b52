/* layers/tanh.c - hyperbolic tangent, y = tanh(x), elementwise.
 *
 * backward reads y (which the core keeps): tanh' = 1 - y^2. Nothing is
 * saved.
 */
#include <math.h>

#include "elementwise.h"

/* y (n) = tanh(x) */
static void tanh_forward(float *restrict y, const float *restrict x,
                         int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = tanhf(x[i]);
}

/* dx (n) += dy (1 - y^2) */
LAYER_LOOP
static void tanh_backward(float *restrict dx, const float *restrict dy,
                          const float *restrict y, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        dx[i] += dy[i] * (1.0f - y[i] * y[i]);
}

ELEMENTWISE_LAYER("tanh", "hyperbolic tangent, tanh(x)",
                  6.0, ELEMENTWISE_READS_Y, tanh_forward, tanh_backward,
                  tanh_cuda);
