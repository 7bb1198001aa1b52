/* layers/layernorm.h - what layernorm's two halves share: its numbers. */
#ifndef PP_LAYERS_LAYERNORM_H
#define PP_LAYERS_LAYERNORM_H

#include <pipette/pipette.h>

typedef struct layernorm_args {
    float eps;
} layernorm_args;

static inline float layernorm_eps(const pp_layer_call *c)
{
    return ((const layernorm_args *)c->plan->args)->eps;
}

#endif
