/* layers/f32view.h - a CPU kernel's float tensors as FP32 arrays, so that
 * each kernel is written once, over floats, for every precision.
 *
 * In fp32 and tf32 a view is the tensor itself. In bf16 it is FP32 scratch
 * in the call's workspace: inputs are read into it, results computed in
 * it and then rounded into the bf16 tensor, assigned (=) or added (+=),
 * one rounding per element. The plan asks for the scratch with
 * f32view_plan(), in floats per sample.
 */
#ifndef PP_LAYERS_F32VIEW_H
#define PP_LAYERS_F32VIEW_H

#include <stdint.h>
#include <string.h>

#include <pipette/pipette.h>

/* Reserves `floats` per sample of workspace for the views of a bf16
 * call; nothing in the other precisions. Past size_t it asks for
 * SIZE_MAX, which the core refuses. */
static inline void f32view_plan(pp_layer_plan *p, int64_t floats)
{
    size_t bytes;
    if (p->precision != PP_PRECISION_BF16)
        return;
    if (floats < 0 ||
        __builtin_mul_overflow((size_t)floats, sizeof(float), &bytes) ||
        __builtin_add_overflow(p->workspace_bytes, bytes,
                               &p->workspace_bytes))
        p->workspace_bytes = SIZE_MAX;
}

/* The workspace, handed out front to back. */
typedef struct f32view {
    const pp_layer_call *c;
    int bf16;
    float *next;
} f32view;

static inline f32view f32view_of(const pp_layer_call *c)
{
    f32view v = {c, c->precision == PP_PRECISION_BF16, (float *)c->workspace};
    return v;
}

static inline float *f32view_take(f32view *v, int64_t n)
{
    float *p = v->next;
    v->next += n;
    return p;
}

/* n values of a float tensor, to read. */
static inline const float *f32_in(f32view *v, const void *x, int64_t n)
{
    if (!v->bf16)
        return (const float *)x;
    float *p = f32view_take(v, n);
    pp_row_load(p, x, PP_BF16, n);
    return p;
}

/* Where to compute n values of y, to hand to f32_out_done. */
static inline float *f32_out(f32view *v, void *y, int64_t n)
{
    return v->bf16 ? f32view_take(v, n) : (float *)y;
}

static inline void f32_out_done(const f32view *v, void *y, const float *f,
                                int64_t n)
{
    if (v->bf16)
        pp_row_store(y, PP_BF16, f, n);
}

/* Where to add n gradient values for dx (NULL stays NULL), to hand to
 * f32_grad_done: zeroed scratch in bf16, dx itself otherwise. */
static inline float *f32_grad(f32view *v, void *dx, int64_t n)
{
    if (!v->bf16 || !dx)
        return (float *)dx;
    float *p = f32view_take(v, n);
    memset(p, 0, (size_t)n * sizeof *p);
    return p;
}

static inline void f32_grad_done(const f32view *v, void *dx, const float *f,
                                 int64_t n)
{
    if (v->bf16 && dx)
        pp_row_add(dx, PP_BF16, f, n);
}

/* Every precision: bf16 through the views. */
#define F32VIEW_PRECISIONS                                                  \
    (PP_PRECISION_BIT(PP_PRECISION_FP32) |                                  \
     PP_PRECISION_BIT(PP_PRECISION_TF32) |                                  \
     PP_PRECISION_BIT(PP_PRECISION_BF16))

#endif
