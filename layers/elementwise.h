/* layers/elementwise.h - everything an elementwise activation layer
 * (relu, gelu, tanh) has in common but its formulas: the plan (one float
 * input, the same shape out, nothing saved), and the kernel tables that
 * run the formulas over all n * elements values, on the host or on the
 * rank's stream.
 *
 * NAME.c defines the host loops and calls ELEMENTWISE_LAYER once; NAME.cu
 * defines the same formulas for one element and calls ELEMENTWISE_CUDA
 * once. Backward reads x or y (the core keeps both), as the layer
 * chooses, and adds to dx. The host loops are FP32; bf16 tensors reach
 * them through f32view.h. The kernels here compute in FP32 too and read
 * and write float or bf16 directly, 16 bytes at a time (packed.h).
 */
#ifndef PP_LAYERS_ELEMENTWISE_H
#define PP_LAYERS_ELEMENTWISE_H

#include <config.h>

#include <pipette/pipette.h>

#include "f32view.h"
#include "simd.h"

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
#include "packed.h"

/* The device half runs Op's formulas, one element at a time, in FP32:
 * y = Op::forward(x), and dx += Op::backward(dy, x or y), the increment
 * as the host loop adds it. T is the activations' storage (packed.h). */

/* y (n) = Op::forward(x) */
template <typename T, typename Op>
__global__ static void elementwise_forward(T *y, const T *x, int64_t n)
{
    grid_runs<T>(n, aligned16(y) && aligned16(x), [&](int64_t i, int k) {
        float v[PACK(T)];
        run_load(v, x + i, k);
        for (int j = 0; j < k; j++)
            v[j] = Op::forward(v[j]);
        run_store(y + i, v, k);
    });
}

/* dx (n) += Op::backward(dy, r), r being x or y: one rounding in bf16 */
template <typename T, typename Op>
__global__ static void elementwise_backward(T *dx, const T *dy, const T *r,
                                            int64_t n)
{
    bool packs = aligned16(dx) && aligned16(dy) && aligned16(r);
    grid_runs<T>(n, packs, [&](int64_t i, int k) {
        float d[PACK(T)], g[PACK(T)], v[PACK(T)];
        run_load(d, dx + i, k);
        run_load(g, dy + i, k);
        run_load(v, r + i, k);
        for (int j = 0; j < k; j++)
            d[j] += Op::backward(g[j], v[j]);
        run_store(dx + i, d, k);
    });
}

template <typename T, typename Op>
static pp_status elementwise_cuda_forward(const pp_layer_call *c,
                                          const void *x, void *y,
                                          pp_error *err)
{
    int64_t n = pp_call_elements(c, 0);
    auto kernel = elementwise_forward<T, Op>;
    if (n > 0)
        PP_CUDA_LAUNCH(kernel, grid_runs_blocks<T>(n), PP_CUDA_THREADS, 0,
                       pp_cuda_stream(c))((T *)y, (const T *)x, n);
    return PP_CUDA_CHECK(cudaGetLastError(), err);
}

template <typename T, typename Op>
static pp_status elementwise_cuda_backward(const pp_layer_call *c,
                                           const void *r, const void *dy,
                                           void *dx, pp_error *err)
{
    int64_t n = pp_call_elements(c, 0);
    auto kernel = elementwise_backward<T, Op>;
    if (n > 0)
        PP_CUDA_LAUNCH(kernel, grid_runs_blocks<T>(n), PP_CUDA_THREADS, 0,
                       pp_cuda_stream(c))((T *)dx, (const T *)dy,
                                          (const T *)r, n);
    return PP_CUDA_CHECK(cudaGetLastError(), err);
}

/* In NAME.cu: the device half as the table `table`, from a struct op of
 * two __device__ static functions, float forward(float x) (y) and float
 * backward(float dy, float r) (what the host loop adds to dx, r being x
 * or y as `reads` says). */
#define ELEMENTWISE_CUDA(table, op, reads)                                  \
    template <typename T>                                                   \
    static pp_status cuda_forward_as(const pp_layer_call *c,                \
                                     const void *const *x, void *y,         \
                                     pp_error *err)                         \
    {                                                                       \
        return elementwise_cuda_forward<T, op>(c, x[0], y, err);            \
    }                                                                       \
    template <typename T>                                                   \
    static pp_status cuda_backward_as(const pp_layer_call *c,               \
                                      const void *const *x, const void *y,  \
                                      const void *dy, void *const *dx,      \
                                      pp_error *err)                        \
    {                                                                       \
        const void *r = (reads) == ELEMENTWISE_READS_Y ? y : x[0];          \
        return elementwise_cuda_backward<T, op>(c, r, dy, dx[0], err);      \
    }                                                                       \
    static pp_status cuda_forward(const pp_layer_call *c,                   \
                                  const void *const *x, void *y,            \
                                  pp_error *err)                            \
    {                                                                       \
        return BY_DTYPE(c, cuda_forward_as, c, x, y, err);                  \
    }                                                                       \
    static pp_status cuda_backward_input(const pp_layer_call *c,            \
                                         const void *const *x,              \
                                         const void *y, const void *dy,     \
                                         void *const *dx, pp_error *err)    \
    {                                                                       \
        return BY_DTYPE(c, cuda_backward_as, c, x, y, dy, dx, err);         \
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
