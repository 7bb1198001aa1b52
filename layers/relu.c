/* layers/relu.c - rectified linear unit, y = max(x, 0), elementwise. */
#include <pipette/pipette.h>

static pp_status plan(const pp_section *cfg, const pp_tensor_desc *in,
                      pp_layer_plan *p, pp_error *err)
{
    if (in->dtype != PP_F32)
        return pp_section_error(cfg, NULL, err,
            "relu needs float input, not token ids");
    p->out = *in;
    /* The output is enough to know where the gradient passes. */
    p->saved_bytes = (size_t)pp_shape_elements(&in->shape) * sizeof(float);
    p->flops = (double)pp_shape_elements(&in->shape);
    return PP_OK;
}

static const pp_layer_ops ops = {.plan = plan};

PP_PLUGIN(PP_KIND_LAYER, "relu", "rectified linear unit, max(x, 0)", NULL,
          &ops);
