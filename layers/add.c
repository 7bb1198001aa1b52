/* layers/add.c - the sum of its inputs, elementwise: y = x0 + x1 + ...
 *
 * The residual connection: `inputs = block_out, stream`. Takes one or
 * more float inputs of one shape, summed left to right ((x0 + x1) + x2,
 * on every device, so the ranks agree to the bit). No parameters, nothing
 * saved; backward adds dy to each input's gradient.
 */
#include <config.h>

#include <pipette/pipette.h>

#ifdef HAVE_CUDA
#include <cuda_runtime_api.h>

#include "cuda_check.h"
#include "cuda_kernels.h"
#endif

static int same_shape(const pp_shape *a, const pp_shape *b)
{
    if (a->ndim != b->ndim)
        return 0;
    for (int d = 0; d < a->ndim; d++)
        if (a->dim[d] != b->dim[d])
            return 0;
    return 1;
}

static pp_status plan(const pp_section *cfg, const pp_tensor_desc *in,
                      int nin, pp_layer_plan *p, pp_error *err)
{
    char a[64], b[64];
    for (int i = 0; i < nin; i++) {
        if (in[i].dtype != PP_F32)
            return pp_section_error(cfg, NULL, err,
                "add needs float inputs, and input %d is token ids", i + 1);
        if (!same_shape(&in[i].shape, &in[0].shape))
            return pp_section_error(cfg, "inputs", err,
                "add needs inputs of one shape, but input %d is %s where "
                "input 1 is %s", i + 1,
                pp_shape_format(&in[i].shape, a, sizeof a),
                pp_shape_format(&in[0].shape, b, sizeof b));
    }
    p->out = in[0];
    p->flops = (double)(nin - 1) * (double)pp_shape_elements(&in[0].shape);
    return PP_OK;
}

static int64_t count(const pp_layer_call *c)
{
    return (int64_t)c->n * pp_shape_elements(&c->in[0].shape);
}

/* y (n) = x[0] + x[1] + ... */
static pp_status forward(const pp_layer_call *c, const void *const *x,
                         void *y, pp_error *err)
{
    (void)err;
    float *out = y;
    int64_t n = count(c);
    const float *a = x[0];
    if (c->nin == 1) {
        for (int64_t i = 0; i < n; i++)
            out[i] = a[i];
        return PP_OK;
    }
    const float *b = x[1];
    for (int64_t i = 0; i < n; i++)
        out[i] = a[i] + b[i];
    for (int k = 2; k < c->nin; k++) {
        const float *v = x[k];
        for (int64_t i = 0; i < n; i++)
            out[i] += v[i];
    }
    return PP_OK;
}

/* dx[k] (n) += dy, for each input that has a gradient */
static pp_status backward_input(const pp_layer_call *c, const void *const *x,
                                const void *y, const void *dy,
                                void *const *dx, pp_error *err)
{
    (void)x, (void)y, (void)err;
    const float *g = dy;
    int64_t n = count(c);
    for (int k = 0; k < c->nin; k++) {
        float *d = dx[k];
        for (int64_t i = 0; d && i < n; i++)
            d[i] += g[i];
    }
    return PP_OK;
}

static const pp_layer_kernels cpu_kernels = {
    .forward = forward, .backward_input = backward_input};

#ifdef HAVE_CUDA
/* The same left-to-right sum on c->stream: one launch per input after the
 * first two. */
static pp_status cuda_forward(const pp_layer_call *c, const void *const *x,
                              void *y, pp_error *err)
{
    cudaStream_t s = (cudaStream_t)c->stream;
    int64_t n = count(c);
    if (c->nin == 1)
        PP_CUDA_TRY(cudaMemcpyAsync(y, x[0], (size_t)n * sizeof(float),
                                    cudaMemcpyDeviceToDevice, s), err);
    else
        PP_CUDA_TRY(pp_cuda_add(s, y, x[0], x[1], n), err);
    for (int k = 2; k < c->nin; k++)
        PP_CUDA_TRY(pp_cuda_accumulate(s, y, x[k], n), err);
    return PP_OK;
}

static pp_status cuda_backward_input(const pp_layer_call *c,
                                     const void *const *x, const void *y,
                                     const void *dy, void *const *dx,
                                     pp_error *err)
{
    (void)x, (void)y;
    for (int k = 0; k < c->nin; k++)
        if (dx[k])
            PP_CUDA_TRY(pp_cuda_accumulate((cudaStream_t)c->stream, dx[k],
                                           dy, count(c)), err);
    return PP_OK;
}

static const pp_layer_kernels cuda_kernels = {
    .forward = cuda_forward, .backward_input = cuda_backward_input};
#endif

static const pp_layer_ops ops = {
    .inputs = PP_INPUTS_ANY,
    .plan = plan,
    .cpu = &cpu_kernels,
#ifdef HAVE_CUDA
    .cuda = &cuda_kernels,
#endif
};

PP_PLUGIN(PP_KIND_LAYER, "add",
          "the elementwise sum of its inputs: a residual connection", NULL,
          &ops);
