/* layers/elementwise.h - everything an elementwise activation layer
 * (relu, gelu, tanh) has in common but its formulas: the plan (one float
 * input, the same shape out, nothing saved), and the kernel tables that
 * run the formulas over all n * elements values, on the host or, with
 * CUDA, as the device launchers on the rank's stream.
 *
 * A layer file defines its host loops and calls ELEMENTWISE_LAYER once.
 * Backward reads x or y (the core keeps both), as the layer chooses, and
 * adds to dx.
 */
#ifndef PP_LAYERS_ELEMENTWISE_H
#define PP_LAYERS_ELEMENTWISE_H

#include <config.h>

#include <pipette/pipette.h>

#ifdef HAVE_CUDA
#include <cuda_runtime_api.h>

#include "cuda_check.h"
#include "cuda_kernels.h"
#endif

/* Which input backward reads. */
enum { ELEMENTWISE_READS_X, ELEMENTWISE_READS_Y };

static inline int64_t elementwise_count(const pp_layer_call *c)
{
    return (int64_t)c->n * pp_shape_elements(&c->in[0].shape);
}

static inline pp_status elementwise_plan(const char *name, double flops,
                                         const pp_section *cfg,
                                         const pp_tensor_desc *in,
                                         pp_layer_plan *p, pp_error *err)
{
    if (in->dtype != PP_F32)
        return pp_section_error(cfg, NULL, err,
            "%s needs float input, not token ids", name);
    p->out = *in;
    p->flops = flops * (double)pp_shape_elements(&in->shape);
    return PP_OK;
}

#ifdef HAVE_CUDA
#define ELEMENTWISE_CUDA_(fwd, bwd, reads)                                  \
    static pp_status cuda_forward(const pp_layer_call *c,                   \
                                  const void *const *x, void *y,            \
                                  pp_error *err)                            \
    {                                                                       \
        PP_CUDA_TRY(fwd((cudaStream_t)c->stream, y, x[0],                   \
                        elementwise_count(c)), err);                        \
        return PP_OK;                                                       \
    }                                                                       \
    static pp_status cuda_backward_input(const pp_layer_call *c,            \
                                         const void *const *x,              \
                                         const void *y, const void *dy,     \
                                         void *const *dx, pp_error *err)    \
    {                                                                       \
        PP_CUDA_TRY(bwd((cudaStream_t)c->stream, dx[0], dy,                 \
                        (reads) == ELEMENTWISE_READS_Y ? y : x[0],          \
                        elementwise_count(c)), err);                        \
        return PP_OK;                                                       \
    }                                                                       \
    static const pp_layer_kernels cuda_kernels = {                          \
        .forward = cuda_forward, .backward_input = cuda_backward_input};
#define ELEMENTWISE_CUDA_TABLE_ &cuda_kernels
#else
#define ELEMENTWISE_CUDA_(fwd, bwd, reads)
#define ELEMENTWISE_CUDA_TABLE_ NULL
#endif

/* name_: the plugin's name; description_: its line in `pipette plugins`;
 * flops_: forward operations per element, for the partitioner; reads_:
 * ELEMENTWISE_READS_X or _Y; fwd(y, x, n) and bwd(dx, dy, x or y, n): the
 * host loops (bwd adds to dx); cuda_fwd and cuda_bwd: the device
 * launchers of the same shapes with a stream in front. */
#define ELEMENTWISE_LAYER(name_, description_, flops_, reads_, fwd, bwd,    \
                          cuda_fwd, cuda_bwd)                               \
    static pp_status plan(const pp_section *cfg, const pp_tensor_desc *in,  \
                          int nin, pp_layer_plan *p, pp_error *err)         \
    {                                                                       \
        (void)nin;                                                          \
        return elementwise_plan(name_, flops_, cfg, in, p, err);            \
    }                                                                       \
    static pp_status forward(const pp_layer_call *c, const void *const *x,  \
                             void *y, pp_error *err)                        \
    {                                                                       \
        (void)err;                                                          \
        fwd(y, x[0], elementwise_count(c));                                 \
        return PP_OK;                                                       \
    }                                                                       \
    static pp_status backward_input(const pp_layer_call *c,                 \
                                    const void *const *x, const void *y,    \
                                    const void *dy, void *const *dx,        \
                                    pp_error *err)                          \
    {                                                                       \
        (void)err;                                                          \
        bwd(dx[0], dy, (reads_) == ELEMENTWISE_READS_Y ? y : x[0],          \
            elementwise_count(c));                                          \
        return PP_OK;                                                       \
    }                                                                       \
    static const pp_layer_kernels cpu_kernels = {                           \
        .forward = forward, .backward_input = backward_input};              \
    ELEMENTWISE_CUDA_(cuda_fwd, cuda_bwd, reads_)                           \
    static const pp_layer_ops ops = {.inputs = 1, .plan = plan,             \
                                     .cpu = &cpu_kernels,                   \
                                     .cuda = ELEMENTWISE_CUDA_TABLE_};      \
    PP_PLUGIN(PP_KIND_LAYER, name_, description_, NULL, &ops)

#endif
