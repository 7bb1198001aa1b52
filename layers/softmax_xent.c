/* layers/softmax_xent.c - softmax over the last dimension followed by the
 * cross-entropy with integer class targets; the model's loss.
 *
 * Targets have the input's shape without its last dimension (one class per
 * row). The loss is the mean over every row of the global batch.
 */
#include <pipette/pipette.h>

static pp_status plan(const pp_section *cfg, const pp_tensor_desc *in,
                      pp_layer_plan *p, pp_error *err)
{
    if (in->dtype != PP_F32 || in->shape.ndim == 0)
        return pp_section_error(cfg, NULL, err,
            "softmax_xent needs float logits with a class dimension last");
    int64_t classes = in->shape.dim[in->shape.ndim - 1];
    if (classes < 2)
        return pp_section_error(cfg, NULL, err,
            "softmax_xent needs at least 2 classes, its input has %lld",
            (long long)classes);
    p->out = (pp_tensor_desc){PP_F32, {0, {0}}};
    p->is_loss = 1;
    p->target.dtype = PP_I32;
    p->target.shape = in->shape;
    p->target.shape.ndim--;
    /* The probabilities: dlogits = softmax - onehot. */
    p->saved_bytes = (size_t)pp_shape_elements(&in->shape) * sizeof(float);
    p->flops = 5.0 * (double)pp_shape_elements(&in->shape);
    return PP_OK;
}

static const pp_layer_ops ops = {.plan = plan};

PP_PLUGIN(PP_KIND_LAYER, "softmax_xent",
          "softmax and cross-entropy loss with integer class targets", NULL,
          &ops);
