/* layers/gelu.h - GPT-2's GELU for one element, and its derivative: the
 * one definition the gelu layer (gelu.c, gelu.cu) and linear's
 * `activation = gelu` (linear.c, linear.cu) share, so that a fused
 * linear computes what the chain linear + gelu computes, operation for
 * operation. The tanh approximation GPT-2 checkpoints were trained with:
 *
 *   gelu(v) = 0.5 v (1 + tanh(sqrt(2/pi) (v + 0.044715 v^3)))
 *
 * Not the exact erf form. In FP32, in this order; the .cu files are
 * built with --fmad=false, so the device rounds each operation as the
 * host does and the halves differ only by their tanhf.
 */
#ifndef PP_LAYERS_GELU_H
#define PP_LAYERS_GELU_H

#include <math.h>

#include <pipette/layer.h>

#define GELU_SCALE 0.7978845608028654f /* sqrt(2/pi) */
#define GELU_CUBE 0.044715f

/* gelu(v) */
static inline PP_HOST_DEVICE float gelu_value(float v)
{
    float t = tanhf(GELU_SCALE * (v + GELU_CUBE * v * v * v));
    return 0.5f * v * (1.0f + t);
}

/* dy gelu'(v): what backward adds to the input's gradient */
static inline PP_HOST_DEVICE float gelu_grad(float dy, float v)
{
    float t = tanhf(GELU_SCALE * (v + GELU_CUBE * v * v * v));
    float dt = (1.0f - t * t) * GELU_SCALE *
               (1.0f + 3.0f * GELU_CUBE * v * v);
    return dy * (0.5f * (1.0f + t) + 0.5f * v * dt);
}

#endif
