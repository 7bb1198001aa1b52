/* layers/gelu.c - Gaussian error linear unit, elementwise, in the tanh
 * approximation GPT-2 uses:
 *   y = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
 *
 * Not the exact erf form: the approximation is what GPT-2 checkpoints were
 * trained with. backward reads x (which the core keeps); nothing is saved.
 */
#include <math.h>

#include "elementwise.h"

/* A tanh counted as a handful of operations: a rough cost is all the
 * partitioner needs (the 10.0 below). */
#define GELU_SCALE 0.7978845608028654f /* sqrt(2/pi) */
#define GELU_CUBE 0.044715f

/* y (n) = gelu(x) */
static void gelu_forward(float *restrict y, const float *restrict x,
                         int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        float t = tanhf(GELU_SCALE * (v + GELU_CUBE * v * v * v));
        y[i] = 0.5f * v * (1.0f + t);
    }
}

/* dx (n) += dy gelu'(x) */
static void gelu_backward(float *restrict dx, const float *restrict dy,
                          const float *restrict x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        float t = tanhf(GELU_SCALE * (v + GELU_CUBE * v * v * v));
        float dt = (1.0f - t * t) * GELU_SCALE *
                   (1.0f + 3.0f * GELU_CUBE * v * v);
        dx[i] += dy[i] * (0.5f * (1.0f + t) + 0.5f * v * dt);
    }
}

ELEMENTWISE_LAYER("gelu", "Gaussian error linear unit (GPT-2's tanh approximation)",
                  10.0, ELEMENTWISE_READS_X, gelu_forward, gelu_backward,
                  gelu_cuda);
