/* tests/plugins/no_backward.c - an identity layer with a forward and no
 * backward_input: a model where its input has a gradient is refused (it
 * would cut every layer before it off from learning). */
#include <string.h>

#include "broken.h"

static pp_status forward(const pp_layer_call *c, const void *const *x,
                         void *y, pp_error *err)
{
    (void)err;
    memcpy(y, x[0], (size_t)c->n * pp_tensor_bytes(&c->in[0]));
    return PP_OK;
}

static const pp_layer_kernels cpu = {.forward = forward};
static const pp_layer_ops ops = {.inputs = 1, .plan = identity_plan,
                                 .cpu = &cpu};

PP_PLUGIN(PP_KIND_LAYER, "no_backward", "identity without a backward (tests)",
          NULL, &ops);
