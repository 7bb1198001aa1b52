/* src/gradcheck.h - checks of one layer's kernels, for `pipette gradcheck`.
 *
 * The CPU half's backward_input and backward_weight against central
 * differences of its forward, taken in double: with L = sum(y dy) (a loss
 * layer: L = its loss), the gradient of L by an input or parameter
 * element is what backward adds to its gradient buffer. The GPU half's
 * three kernels against the CPU half's, on the same numbers. Each checked
 * tensor gets the worst ratio of its errors to their bounds: above 1 is a
 * failure.
 */
#ifndef PP_CORE_GRADCHECK_H
#define PP_CORE_GRADCHECK_H

#include <pipette/pipette.h>

#include "model.h"

/* One tensor's result: which kernel, which tensor, the worst ratio of
 * error to bound, and how many of its elements were checked. */
typedef struct pp_gc_result {
    const char *half;    /* "cpu" or "cuda" */
    pp_precision precision; /* fp32, or bf16: against FP32 (cpu) or the
                               CPU's bf16 (cuda) */
    const char *kernel;  /* "forward", "backward_input", ... */
    char tensor[64];     /* "y", an input's tensor name, a parameter's */
    double worst;
    int64_t checked, elements;
} pp_gc_result;

typedef struct pp_gc_options {
    int samples;         /* in the micro-batch, at least 1 */
    double tolerance;    /* every bound times this */
    uint64_t seed;
} pp_gc_options;

/* The GPU the GPU halves are checked on: a device table with device 0
 * open, or dev NULL when none answers (why says so). */
typedef struct pp_gc_gpu {
    const pp_device_ops *dev;
    pp_device_rank rank;
    char why[256];
} pp_gc_gpu;

/* Opens CUDA device 0 through the model's registry, if one answers. */
pp_status pp_gc_gpu_open(pp_model *m, pp_gc_gpu *gpu, pp_error *err);
void pp_gc_gpu_close(pp_gc_gpu *gpu);

/* Checks layer i of m; appends its results to *out (n of them, grown with
 * realloc). */
pp_status pp_gradcheck_layer(const pp_model *m, int i,
                             const pp_gc_options *opt, pp_gc_gpu *gpu,
                             pp_gc_result **out, int *n, pp_error *err);

#endif
