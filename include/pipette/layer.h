/* pipette/layer.h - the table a layer plugin fills.
 *
 * A layer is planned before anything runs: from its config keys and the
 * shape of one sample of its input it says the shape of its output, the
 * parameter tensors it owns (shape and initialisation), the bytes it keeps
 * per sample for backward and its forward cost, or a clear error. That is
 * enough to check a model file, partition it into stages and plan memory
 * without touching a device. The compute half (forward, backward_input,
 * backward_weight per device kind) is appended to this table by the
 * training runtime, with an ABI minor bump.
 *
 * Shapes here are per sample: the batch dimension is never included.
 */
#ifndef PIPETTE_LAYER_H
#define PIPETTE_LAYER_H

#include <stddef.h>
#include <stdint.h>

#include <pipette/config.h>
#include <pipette/error.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum pp_dtype {
    PP_F32 = 1, /* activations, parameters */
    PP_I32      /* token ids, class labels */
} pp_dtype;

typedef struct pp_tensor_desc {
    pp_dtype dtype;
    pp_shape shape;
} pp_tensor_desc;

typedef enum pp_init {
    PP_INIT_ZEROS = 1,
    PP_INIT_ONES,
    PP_INIT_UNIFORM, /* U(-scale, scale) */
    PP_INIT_NORMAL   /* N(0, scale^2) */
} pp_init;

#define PP_LAYER_MAX_PARAMS 4

typedef struct pp_param_decl {
    const char *name;  /* "weight", "bias", ... (static storage) */
    pp_shape shape;
    pp_init init;
    float scale;
} pp_param_decl;

typedef struct pp_layer_plan {
    pp_tensor_desc out;                 /* one sample of the output */
    int nparams;
    pp_param_decl params[PP_LAYER_MAX_PARAMS];
    size_t saved_bytes;                 /* kept per sample for backward */
    double flops;                       /* forward FLOPs per sample */
    int is_loss;                        /* 1: the model's last layer; its
                                           out is the scalar loss and it
                                           reads targets of `target` type */
    pp_tensor_desc target;              /* per-sample targets, when is_loss */
} pp_layer_plan;

typedef struct pp_layer_ops {
    /* Fills plan from the section's keys and one sample of input, or
     * returns PP_ERR_CONFIG with a pp_section_error() message. */
    pp_status (*plan)(const pp_section *cfg, const pp_tensor_desc *in,
                      pp_layer_plan *plan, pp_error *err);
} pp_layer_ops;

/* Total parameter elements of a plan. */
int64_t pp_layer_plan_params(const pp_layer_plan *plan);

#ifdef __cplusplus
}
#endif

#endif
