/* layers/linear.c - fully connected layer: y = x W^T + b.
 *
 * Acts on the last dimension of its input; leading dimensions (a sequence,
 * say) are treated like more samples. Weights are initialised U(-k, k) with
 * k = 1/sqrt(in), as in PyTorch's nn.Linear.
 */
#include <math.h>

#include <pipette/pipette.h>

static const pp_key keys[] = {
    {"units", PP_KEY_INT, PP_KEY_REQUIRED, 1, 1 << 24, NULL, NULL,
     "output features"},
    {"bias", PP_KEY_BOOL, 0, PP_NO_RANGE, NULL, "true", "add a learned bias"},
    {0},
};

static pp_status plan(const pp_section *cfg, const pp_tensor_desc *in,
                      pp_layer_plan *p, pp_error *err)
{
    int64_t units;
    bool bias;
    if (pp_section_int(cfg, "units", &units, err) ||
        pp_section_bool(cfg, "bias", &bias, err))
        return err->code;
    if (in->dtype != PP_F32 || in->shape.ndim == 0)
        return pp_section_error(cfg, NULL, err,
            "linear needs float features as input (an embedding layer "
            "turns token ids into features)");
    int64_t features = in->shape.dim[in->shape.ndim - 1];
    int64_t rows = pp_shape_elements(&in->shape) / features;

    p->out = *in;
    p->out.shape.dim[in->shape.ndim - 1] = units;
    p->params[0] = (pp_param_decl){"weight", {2, {units, features}},
                                   PP_INIT_UNIFORM,
                                   (float)(1.0 / sqrt((double)features))};
    p->nparams = 1;
    if (bias)
        p->params[p->nparams++] = (pp_param_decl){
            "bias", {1, {units}}, PP_INIT_UNIFORM,
            (float)(1.0 / sqrt((double)features))};
    /* backward_weight needs the input; backward_input needs only W. */
    p->saved_bytes = (size_t)pp_shape_elements(&in->shape) * sizeof(float);
    p->flops = 2.0 * (double)rows * (double)features * (double)units;
    return PP_OK;
}

static const pp_layer_ops ops = {.plan = plan};

PP_PLUGIN(PP_KIND_LAYER, "linear", "fully connected layer, y = x W^T + b",
          keys, &ops);
