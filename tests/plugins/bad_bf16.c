/* tests/plugins/bad_bf16.c - y = 2x, in every precision, with a planted
 * mistake that only its bf16 path makes, for `pipette gradcheck`
 * (gradcheck.sh): with bug = bf16, its bf16 forward computes 2.1x. CPU
 * only, so the same check fails on any machine.
 */
#include <config.h>

#include <string.h>

#include <pipette/pipette.h>

static const pp_key keys[] = {
    {"bug", PP_KEY_ENUM, 0, PP_NO_RANGE, "none|bf16", "none",
     "the mistake to make"},
    {0},
};

static pp_status plan(const pp_section *cfg, const pp_tensor_desc *in,
                      int nin, pp_layer_plan *p, pp_error *err)
{
    (void)nin;
    const char *bug;
    if (pp_section_string(cfg, "bug", &bug, err))
        return err->code;
    float k = strcmp(bug, "bf16") == 0 ? 2.1f : 2.0f;
    p->out = *in;
    return pp_layer_args(p, &k, sizeof k, err);
}

static pp_status forward(const pp_layer_call *c, const void *const *x,
                         void *y, pp_error *err)
{
    (void)err;
    int64_t n = pp_call_elements(c, 0);
    int bf16 = c->precision == PP_PRECISION_BF16;
    float k = bf16 ? *(const float *)c->plan->args : 2.0f;
    for (int64_t i = 0; i < n; i++) {
        if (bf16)
            ((pp_bf16 *)y)[i] = pp_f32_to_bf16(
                k * pp_bf16_to_f32(((const pp_bf16 *)x[0])[i]));
        else
            ((float *)y)[i] = k * ((const float *)x[0])[i];
    }
    return PP_OK;
}

static pp_status backward_input(const pp_layer_call *c, const void *const *x,
                                const void *y, const void *dy,
                                void *const *dx, pp_error *err)
{
    (void)x, (void)y, (void)err;
    int64_t n = pp_call_elements(c, 0);
    for (int64_t i = 0; i < n; i++) {
        if (c->precision == PP_PRECISION_BF16) {
            pp_bf16 *d = (pp_bf16 *)dx[0] + i;
            *d = pp_f32_to_bf16(pp_bf16_to_f32(*d) +
                                2.0f * pp_bf16_to_f32(((const pp_bf16 *)
                                                           dy)[i]));
        } else {
            ((float *)dx[0])[i] += 2.0f * ((const float *)dy)[i];
        }
    }
    return PP_OK;
}

static const pp_layer_kernels cpu = {.forward = forward,
                                     .backward_input = backward_input};
static const pp_layer_ops ops = {
    .inputs = 1, .plan = plan, .cpu = &cpu,
    .precisions = PP_PRECISION_BIT(PP_PRECISION_FP32) |
                  PP_PRECISION_BIT(PP_PRECISION_TF32) |
                  PP_PRECISION_BIT(PP_PRECISION_BF16)};

PP_PLUGIN(PP_KIND_LAYER, "bad_bf16", "y = 2x, with a bug in bf16 alone", keys,
          &ops);
