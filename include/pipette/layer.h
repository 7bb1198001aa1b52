/* pipette/layer.h - the table a layer plugin fills.
 *
 * A layer takes one or more tensors (its `inputs`, named in the model file)
 * and makes one, its output. It is planned before anything runs: from its
 * config keys and one sample of each input it says the shape of its
 * output, the parameters it owns (shape, initialisation, weight decay),
 * the bytes it keeps per sample for backward, the scratch it needs during
 * a call and its forward cost, or a clear error. That is enough to check a
 * model file, partition it into stages and plan memory without touching a
 * device.
 *
 * Then, per device kind, three kernels: forward (y = f(x0, x1, ...)),
 * backward_input (each input's gradient from dy) and backward_weight (the
 * parameter gradients from dy). Splitting the backward in two is what
 * lets zero-bubble schedules run.
 *
 * Precision ([train] precision, pipette/tensor.h): float activations and
 * their gradients are of plan->precision's dtype (FP32, or bf16 to read
 * and write with pipette/bf16.h), always computed in FP32 inside a
 * kernel; parameters and their gradients are FP32, with a bf16 copy of
 * the parameters in bf16 for the GEMMs.
 *
 * Memory: the core owns it all. It keeps every layer's inputs and output
 * of each micro-batch in flight, so a kernel receives x, y and dy;
 * anything else backward needs (a mask, statistics) lives in the `saved`
 * area the plan asked for, laid out over the call's n samples as the
 * layer likes; a backward may rewrite it for the micro-batch's other
 * backward (linear's gelu turns pre into dpre there). Outputs are written (=). Gradients are
 * accumulated (+=), both the inputs' (a tensor may feed several layers)
 * and the parameters' (over the micro-batches of a step): the core zeroes
 * each gradient buffer before its first contribution of a step, and
 * nothing else (outputs, saved, workspace start as they were left).
 * Parameters are read only: only optimizers write them.
 *
 * Required: plan, and cpu with its forward. backward_input where an input
 * can have a gradient, backward_weight where there are parameters (the
 * loader refuses a model that needs a missing one), destroy where there is
 * init. The loader refuses a table without what it requires, naming the
 * field.
 *
 * Threads: each rank is a thread, and several ranks may run the same
 * layer type at once, each with its own pp_layer_call (buffers, state):
 * kernels keep no mutable global state. plan may be called from any
 * thread, before any kernel. CUDA kernels queue their work on c->stream
 * (c->blas and c->dnn are bound to it) and return: they never synchronise
 * the device nor allocate. A micro-batch's outputs are those of its
 * samples one at a time: the schedule decides how a batch is cut
 * (`pipette gradcheck` checks it, and the gradients).
 *
 * Shapes here are per sample: the batch dimension is never included.
 * docs/writing-a-layer.md writes, builds and checks a layer.
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

/* Marks a function both halves of a layer call (a formula, a hash), kept
 * in a header of the layer's own that its .c and .cu files include. */
#if defined(__CUDACC__) || defined(PP_KERNEL_EMU_H)
#define PP_HOST_DEVICE __host__ __device__
#else
#define PP_HOST_DEVICE
#endif

typedef enum pp_init {
    PP_INIT_ZEROS = 1,
    PP_INIT_ONES,
    PP_INIT_UNIFORM, /* U(-scale, scale) */
    PP_INIT_NORMAL   /* N(0, scale^2) */
} pp_init;

/* pp_param_decl.flags */
enum {
    /* The optimizer's weight decay leaves it alone: biases and
     * normalisation gains, as every GPT recipe does. */
    PP_PARAM_NO_DECAY = 1u << 0
};

typedef struct pp_param_decl {
    const char *name;  /* "weight", "bias", ... (static storage) */
    pp_shape shape;
    pp_init init;
    float scale;
    unsigned flags;    /* PP_PARAM_NO_DECAY */
} pp_param_decl;

/* What plan() fills. Its arrays (params, args) are the core's, grown by
 * pp_layer_param() and pp_layer_args(); everything else is set directly. */
typedef struct pp_layer_plan {
    pp_tensor_desc out;          /* one sample of the output */
    int nparams;
    const pp_param_decl *params; /* [nparams], as declared */
    size_t saved_bytes;          /* kept per sample from forward to
                                    backward, beyond the inputs and the
                                    output (which the core keeps) */
    size_t workspace_bytes;      /* per sample, valid during one call only */
    double flops;                /* forward FLOPs per sample */
    int is_loss;                 /* its out is the scalar loss and it reads
                                    targets of `target` type */
    pp_tensor_desc target;       /* per-sample targets, when is_loss */
    int64_t in_ids;              /* integer inputs are ids below this; 0
                                    where the layer takes none */
    int64_t target_ids;          /* likewise for integer targets */
    const void *args;            /* the plugin's own numbers for its
                                    kernels (pp_layer_args), or NULL */
    size_t args_size;
    struct pp_layer_store *store_; /* the core's: leave it alone */
    pp_precision precision;      /* set by the core before plan: the
                                    model's. Float inputs and the output
                                    are pp_precision_dtype() of it (a
                                    loss's scalar is PP_F32) (2.1) */
    double backward_flops;       /* backward_input and backward_weight's
                                    FLOPs per sample together, where they
                                    are not the core's estimate (flops
                                    once for the inputs' gradients, once
                                    more for the parameters'): attention
                                    recomputes its scores. 0: the
                                    estimate (2.2) */
} pp_layer_plan;

/* Appends a parameter to plan->params. */
pp_status pp_layer_param(pp_layer_plan *plan, const char *name,
                         const pp_shape *shape, pp_init init, float scale,
                         unsigned flags, pp_error *err);

/* Copies `size` bytes (a struct of the plugin's) into plan->args, where
 * every call of the layer's kernels finds them. */
pp_status pp_layer_args(pp_layer_plan *plan, const void *args, size_t size,
                        pp_error *err);

/* One call of a kernel on one micro-batch. */
typedef struct pp_layer_call {
    const pp_layer_plan *plan;
    int nin;                      /* inputs */
    const pp_tensor_desc *in;     /* [nin]: one sample of each */
    int n;                        /* samples in this micro-batch */
    const float *const *param;    /* [plan->nparams], as declared: FP32 */
    float *const *grad;           /* same shapes, FP32: backward_weight
                                     adds */
    void *saved;                  /* plan->saved_bytes * n bytes, the
                                     same for a micro-batch's forward
                                     and both backwards */
    void *workspace;              /* plan->workspace_bytes * n bytes, this
                                     call's alone */
    void *state;                  /* what init made, or NULL */
    const void *target;           /* loss layers: n samples of targets */
    double loss_scale;            /* loss layers: 1 / (targets in the whole
                                     step's batch), so the step's loss is
                                     the mean over the global batch */
    uint64_t seed;                /* distinct per (step, layer), the same
                                     when a forward is recomputed */
    int64_t sample0;              /* the micro-batch's first sample within
                                     the step's batch: random draws are
                                     indexed by sample, so they do not
                                     depend on how the batch is cut */
    int training;                 /* 0: evaluation (dropout passes through) */
    void *stream;                 /* cuda: the rank's cudaStream_t */
    void *blas;                   /* cuda: a cublasHandle_t bound to stream */
    void *dnn;                    /* cuda: a cudnnHandle_t bound to stream */
    pp_precision precision;       /* plan->precision (2.1) */
    const void *const *param_bf16; /* bf16: each parameter rounded to bf16
                                     (pp_bf16), refreshed by every
                                     optimizer step, for the GEMMs; NULL
                                     in fp32 and tf32 (2.1) */
} pp_layer_call;

typedef struct pp_layer_kernels {
    /* y = f(x[0], ..., x[nin - 1]). A loss layer writes one float, its
     * summed loss times loss_scale, into y. */
    pp_status (*forward)(const pp_layer_call *c, const void *const *x,
                         void *y, pp_error *err);
    /* dx[i] += the gradient of input i, for each i where dx[i] is not
     * NULL (inputs of integers, or whose gradient nobody needs, get
     * NULL). dy is NULL for a loss layer: it starts the backward. NULL
     * for a layer whose inputs never have a gradient. */
    pp_status (*backward_input)(const pp_layer_call *c,
                                const void *const *x, const void *y,
                                const void *dy, void *const *dx,
                                pp_error *err);
    /* grad += the parameter gradients; NULL for a layer without them. */
    pp_status (*backward_weight)(const pp_layer_call *c,
                                 const void *const *x, const void *y,
                                 const void *dy, pp_error *err);
    /* Optional: state the layer keeps across calls on one rank (a
     * cuBLASLt plan, a cuDNN graph, a table), made once before the first
     * step from a call that has everything but the buffers (they are
     * NULL), and destroyed after the last. */
    pp_status (*init)(const pp_layer_call *c, void **state, pp_error *err);
    void (*destroy)(void *state);
} pp_layer_kernels;

/* Input i of a call: its elements over all n samples, and the same seen
 * as rows of its last dimension (features). */
static inline int64_t pp_call_elements(const pp_layer_call *c, int i)
{
    return (int64_t)c->n * pp_shape_elements(&c->in[i].shape);
}

static inline int64_t pp_call_features(const pp_layer_call *c, int i)
{
    const pp_shape *s = &c->in[i].shape;
    return s->ndim ? s->dim[s->ndim - 1] : 1;
}

static inline int64_t pp_call_rows(const pp_layer_call *c, int i)
{
    return pp_call_elements(c, i) / pp_call_features(c, i);
}

/* pp_layer_ops.inputs: any number of inputs, at least one. */
#define PP_INPUTS_ANY (-1)

typedef struct pp_layer_ops {
    /* How many inputs the layer takes: 0 or 1 for one, N for exactly N,
     * or PP_INPUTS_ANY. The core refuses another count before plan. */
    int inputs;
    /* Fills plan from the section's keys and one sample of each input, or
     * returns PP_ERR_CONFIG with a pp_section_error() message. */
    pp_status (*plan)(const pp_section *cfg, const pp_tensor_desc *in,
                      int nin, pp_layer_plan *plan, pp_error *err);
    const pp_layer_kernels *cpu;  /* host memory, the calling thread */
    const pp_layer_kernels *cuda; /* device memory, c->stream; or NULL */
    /* The precisions its kernels run, PP_PRECISION_BIT()s; 0 means fp32
     * and tf32 (FP32 storage), all a layer built for 2.0 knows. A model
     * in another is refused at check, naming the layer (2.1). */
    unsigned precisions;
} pp_layer_ops;

/* Total parameter elements of a plan. */
int64_t pp_layer_plan_params(const pp_layer_plan *plan);

#ifdef __cplusplus
}
#endif

#endif
