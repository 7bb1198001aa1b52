/* pipette/layer.h - the table a layer plugin fills.
 *
 * A layer is planned before anything runs: from its config keys and the
 * shape of one sample of its input it says the shape of its output, the
 * parameter tensors it owns (shape and initialisation), the bytes it keeps
 * per sample for backward and its forward cost, or a clear error. That is
 * enough to check a model file, partition it into stages and plan memory
 * without touching a device.
 *
 * Then, per device kind, three kernels: forward (y = f(x)), backward_input
 * (dx from dy: the activation gradient) and backward_weight (the parameter
 * gradients from dy, accumulated: grad +=). Splitting the backward in two
 * is what lets zero-bubble schedules run; a layer without parameters has
 * no backward_weight.
 *
 * Memory: the core owns it all. It keeps every layer's input and output of
 * each micro-batch in flight, so a kernel receives x, y and dy; anything
 * else backward needs (a mask, statistics, probabilities) lives in the
 * `saved` area the plan asked for. Parameters and their gradients are
 * slices of one contiguous buffer per stage. Activations (=) are written,
 * parameter gradients are accumulated (+=).
 *
 * Shapes here are per sample: the batch dimension is never included.
 */
#ifndef PIPETTE_LAYER_H
#define PIPETTE_LAYER_H

#include <stddef.h>
#include <stdint.h>

#include <pipette/config.h>
#include <pipette/error.h>
#include <pipette/tensor.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum pp_init {
    PP_INIT_ZEROS = 1,
    PP_INIT_ONES,
    PP_INIT_UNIFORM, /* U(-scale, scale) */
    PP_INIT_NORMAL   /* N(0, scale^2) */
} pp_init;

#define PP_LAYER_MAX_PARAMS 4
#define PP_LAYER_MAX_ARGS 8

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
    size_t saved_bytes;                 /* kept per sample for backward,
                                           beyond x and y (which the core
                                           keeps) */
    double flops;                       /* forward FLOPs per sample */
    int is_loss;                        /* 1: the model's last layer; its
                                           out is the scalar loss and it
                                           reads targets of `target` type */
    pp_tensor_desc target;              /* per-sample targets, when is_loss */
    double arg[PP_LAYER_MAX_ARGS];      /* the plugin's own numbers for its
                                           kernels (units, eps, rate...) */
    /* 1.2: the ids the layer takes as its input and as targets are
     * below these; 0 where it takes none. */
    int64_t in_ids, target_ids;
} pp_layer_plan;

/* One call of a kernel on one micro-batch. */
typedef struct pp_layer_call {
    const pp_layer_plan *plan;
    const pp_tensor_desc *in;  /* one sample of x */
    int n;                     /* samples in this micro-batch */
    float *const *param;       /* [plan->nparams], as declared */
    float *const *grad;        /* same shapes: backward_weight adds to them */
    void *saved;               /* plan->saved_bytes * n bytes */
    const void *target;        /* loss layers: n samples of plan->target */
    double loss_scale;         /* loss layers: 1 / (targets in the whole
                                  step's batch), so the step's loss is the
                                  mean over the global batch */
    uint64_t seed;             /* distinct per (step, layer), the same
                                  when a forward is recomputed */
    int64_t sample0;           /* the micro-batch's first sample within the
                                  step's batch: random draws are indexed by
                                  sample, so they do not depend on how the
                                  batch is cut into micro-batches */
    int training;              /* 0: evaluation (dropout passes through) */
    void *stream;              /* cuda: the rank's cudaStream_t; NULL on cpu */
    void *blas;                /* cuda: a cublasHandle_t bound to stream */
    void *dnn;                 /* cuda: a cudnnHandle_t bound to stream */
} pp_layer_call;

typedef struct pp_layer_kernels {
    /* y = f(x). A loss layer writes one float, its summed loss times
     * loss_scale, into y. */
    pp_status (*forward)(const pp_layer_call *c, const void *x, void *y,
                         pp_error *err);
    /* dx from dy (dy is NULL for a loss layer: it starts the backward).
     * Not called when x holds integers (there is no dx). */
    pp_status (*backward_input)(const pp_layer_call *c, const void *x,
                                const void *y, const float *dy, float *dx,
                                pp_error *err);
    /* grad += the parameter gradients; NULL for a layer without them. */
    pp_status (*backward_weight)(const pp_layer_call *c, const void *x,
                                 const void *y, const float *dy,
                                 pp_error *err);
} pp_layer_kernels;

typedef struct pp_layer_ops {
    /* Fills plan from the section's keys and one sample of input, or
     * returns PP_ERR_CONFIG with a pp_section_error() message. */
    pp_status (*plan)(const pp_section *cfg, const pp_tensor_desc *in,
                      pp_layer_plan *plan, pp_error *err);
    const pp_layer_kernels *cpu;  /* host memory, the calling thread */
    const pp_layer_kernels *cuda; /* device memory, c->stream; or NULL */
} pp_layer_ops;

/* Total parameter elements of a plan. */
int64_t pp_layer_plan_params(const pp_layer_plan *plan);

#ifdef __cplusplus
}
#endif

#endif
