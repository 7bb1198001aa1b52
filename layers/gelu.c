/* layers/gelu.c - Gaussian error linear unit, elementwise, in the tanh
 * approximation GPT-2 uses:
 *   y = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
 *
 * Not the exact erf form: the approximation is what GPT-2 checkpoints were
 * trained with. The formulas are gelu.h's, which linear's `activation =
 * gelu` shares. backward reads x (which the core keeps); nothing is
 * saved.
 */
#include "elementwise.h"
#include "gelu.h"

/* y (n) = gelu(x) */
static void gelu_forward(float *restrict y, const float *restrict x,
                         int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = gelu_value(x[i]);
}

/* dx (n) += dy gelu'(x) */
static void gelu_backward(float *restrict dx, const float *restrict dy,
                          const float *restrict x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        dx[i] += gelu_grad(dy[i], x[i]);
}

/* A tanh counted as a handful of operations: a rough cost is all the
 * partitioner needs (the 10.0 below). */
ELEMENTWISE_LAYER("gelu", "Gaussian error linear unit (GPT-2's tanh approximation)",
                  10.0, ELEMENTWISE_READS_X, gelu_forward, gelu_backward,
                  gelu_cuda);
