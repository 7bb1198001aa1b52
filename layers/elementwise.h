/* layers/elementwise.h - everything an elementwise activation layer
 * (relu, gelu, tanh) has in common but its formulas: the plan (one float
 * input, the same shape out, nothing saved), and the kernel tables that
 * run the formulas over all n * elements values, on the host or on the
 * rank's stream.
 *
 * NAME.c defines the host loops and calls ELEMENTWISE_LAYER once; NAME.cu
 * defines the two kernels and calls ELEMENTWISE_CUDA once. Backward reads
 * x or y (the core keeps both), as the layer chooses, and adds to dx.
 * The host loops are FP32; bf16 tensors reach them through f32view.h.
 */
#ifndef PP_LAYERS_ELEMENTWISE_H
#define PP_LAYERS_ELEMENTWISE_H

#include <config.h>

#include <pipette/pipette.h>

#include "f32view.h"

/* Which input backward reads. */
enum { ELEMENTWISE_READS_X, ELEMENTWISE_READS_Y };

static inline pp_status elementwise_plan(const char *name, double flops,
                                         const pp_section *cfg,
                                         const pp_tensor_desc *in,
                                         pp_layer_plan *p, pp_error *err)
{
    if (!pp_dtype_is_float(in->dtype))
        return pp_section_error(cfg, NULL, err,
            "%s needs float input, not token ids", name);
    p->out = *in;
    int64_t n = pp_shape_elements(&in->shape);
    p->flops = flops * (double)n;
    f32view_plan(p, 3 * n); /* backward: dy, x or y, dx */
    return PP_OK;
}

#if defined(__CUDACC__) || defined(PP_KERNEL_EMU_H)
#include <pipette/cuda.h>

/* In NAME.cu: the device half as the table `table`, from two kernels of
 * the host loops' shapes, fwd(y, x, n) and bwd(dx, dy, x or y, n). */
#define ELEMENTWISE_CUDA(table, fwd, bwd, reads)                            \
    static pp_status cuda_forward(const pp_layer_call *c,                   \
                                  const void *const *x, void *y,            \
                                  pp_error *err)                            \
    {                                                                       \
        int64_t n = pp_call_elements(c, 0);                                 \
        if (n > 0)                                                          \
            PP_CUDA_LAUNCH(fwd, pp_cuda_blocks(n), PP_CUDA_THREADS, 0,      \
                           pp_cuda_stream(c))((float *)y,                   \
                                              (const float *)x[0], n);      \
        return PP_CUDA_CHECK(cudaGetLastError(), err);                      \
    }                                                                       \
    static pp_status cuda_backward_input(const pp_layer_call *c,            \
                                         const void *const *x,              \
                                         const void *y, const void *dy,     \
                                         void *const *dx, pp_error *err)    \
    {                                                                       \
        int64_t n = pp_call_elements(c, 0);                                 \
        const void *read = (reads) == ELEMENTWISE_READS_Y ? y : x[0];       \
        if (n > 0)                                                          \
            PP_CUDA_LAUNCH(bwd, pp_cuda_blocks(n), PP_CUDA_THREADS, 0,      \
                           pp_cuda_stream(c))((float *)dx[0],               \
                                              (const float *)dy,            \
                                              (const float *)read, n);      \
        return PP_CUDA_CHECK(cudaGetLastError(), err);                      \
    }                                                                       \
    extern "C" const pp_layer_kernels table = {                             \
        .forward = cuda_forward, .backward_input = cuda_backward_input}
#endif

#ifdef HAVE_CUDA
#define ELEMENTWISE_CUDA_DECL_(t) extern const pp_layer_kernels t;
#define ELEMENTWISE_CUDA_TABLE_(t) &t
#else
#define ELEMENTWISE_CUDA_DECL_(t)
#define ELEMENTWISE_CUDA_TABLE_(t) NULL
#endif

/* In NAME.c. name_: the plugin's name; description_: its line in
 * `pipette plugins`; flops_: forward operations per element, for the
 * partitioner; reads_: ELEMENTWISE_READS_X or _Y; fwd(y, x, n) and
 * bwd(dx, dy, x or y, n): the host loops (bwd adds to dx); cuda_table:
 * the name of the table NAME.cu defines with ELEMENTWISE_CUDA. */
#define ELEMENTWISE_LAYER(name_, description_, flops_, reads_, fwd, bwd,    \
                          cuda_table)                                       \
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
        int64_t n = pp_call_elements(c, 0);                                 \
        f32view v = f32view_of(c);                                          \
        const float *xf = f32_in(&v, x[0], n);                              \
        float *yf = f32_out(&v, y, n);                                      \
        fwd(yf, xf, n);                                                     \
        f32_out_done(&v, y, yf, n);                                         \
        return PP_OK;                                                       \
    }                                                                       \
    static pp_status backward_input(const pp_layer_call *c,                 \
                                    const void *const *x, const void *y,    \
                                    const void *dy, void *const *dx,        \
                                    pp_error *err)                          \
    {                                                                       \
        (void)err;                                                          \
        int64_t n = pp_call_elements(c, 0);                                 \
        f32view v = f32view_of(c);                                          \
        const float *g = f32_in(&v, dy, n);                                 \
        const float *r = f32_in(                                            \
            &v, (reads_) == ELEMENTWISE_READS_Y ? y : x[0], n);             \
        float *d = f32_grad(&v, dx[0], n);                                  \
        bwd(d, g, r, n);                                                    \
        f32_grad_done(&v, dx[0], d, n);                                     \
        return PP_OK;                                                       \
    }                                                                       \
    static const pp_layer_kernels cpu_kernels = {                           \
        .forward = forward, .backward_input = backward_input};              \
    ELEMENTWISE_CUDA_DECL_(cuda_table)                                      \
    static const pp_layer_ops ops = {                                       \
        .inputs = 1, .plan = plan, .cpu = &cpu_kernels,                     \
        .cuda = ELEMENTWISE_CUDA_TABLE_(cuda_table),                        \
        .precisions = F32VIEW_PRECISIONS};                                  \
    PP_PLUGIN(PP_KIND_LAYER, name_, description_, NULL, &ops)

#endif
