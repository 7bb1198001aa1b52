/* layers/dropout.h - what dropout's two halves share: its numbers, and
 * the hash that decides which elements are kept, so CPU and GPU ranks
 * drop the same ones. */
#ifndef PP_LAYERS_DROPOUT_H
#define PP_LAYERS_DROPOUT_H

#include <stdint.h>

#include <pipette/pipette.h>

typedef struct dropout_args {
    double rate;
} dropout_args;

static inline double dropout_rate(const pp_layer_call *c)
{
    return ((const dropout_args *)c->plan->args)->rate;
}

/* The call's first element, counted from the step's first sample. */
static inline int64_t dropout_first(const pp_layer_call *c)
{
    return c->sample0 * pp_shape_elements(&c->in[0].shape);
}

/* splitmix64's finaliser: a bijection of 64 bits whose output bits each
 * depend on every input bit. */
PP_HOST_DEVICE static inline uint64_t dropout_mix(uint64_t z)
{
    z += 0x9e3779b97f4a7c15u;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* Whether element i of the step's batch is kept, for key = mix(seed): the
 * seed is mixed before the index joins it, so seeds that differ in a few
 * bits (consecutive steps) give unrelated masks. u is exact in double. */
PP_HOST_DEVICE static inline int dropout_keeps(uint64_t key, int64_t i,
                                               double rate)
{
    double u = (double)(dropout_mix(key ^ (uint64_t)i) >> 11) * 0x1p-53;
    return u >= rate;
}

PP_HOST_DEVICE static inline float dropout_scale(double rate)
{
    return (float)(1.0 / (1.0 - rate));
}

#endif
