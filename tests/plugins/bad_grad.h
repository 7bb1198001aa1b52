/* tests/plugins/bad_grad.h - what bad_grad's two halves share. */
#ifndef PP_TESTS_BAD_GRAD_H
#define PP_TESTS_BAD_GRAD_H

#include <pipette/pipette.h>

enum { NONE, SCALE, OVERWRITE, WEIGHT, MIXES, CUDA, INF };

static inline int bug(const pp_layer_call *c)
{
    return *(const int *)c->plan->args;
}

#endif
