/* layers/dropout.c - inverted dropout: while training, each element is
 * zeroed with probability `rate` and the others are scaled by
 * 1/(1 - rate), so evaluation (training = 0) is the identity.
 *
 * The mask is never stored: element i of the step's batch is kept when a
 * counter-based hash of (seed, i) clears the rate, so backward, or a
 * forward the core recomputes with the same seed, finds the same mask,
 * whatever thread runs it, and however the batch is cut into
 * micro-batches (i counts from the step's first sample, c->sample0). Not a
 * random number generator with state.
 */
#include <config.h>

#include <string.h>

#include <pipette/pipette.h>

#ifdef HAVE_CUDA
#include <cuda_runtime_api.h>

#include "cuda_check.h"
#include "cuda_kernels.h"
#endif

static const pp_key keys[] = {
    {"rate", PP_KEY_FLOAT, 0, 0, 1, NULL, "0.1",
     "probability of zeroing an element, below 1"},
    {0},
};

typedef struct dropout_args {
    double rate;
} dropout_args;

static pp_status plan(const pp_section *cfg, const pp_tensor_desc *in,
                      int nin, pp_layer_plan *p, pp_error *err)
{
    (void)nin;
    double rate;
    if (pp_section_float(cfg, "rate", &rate, err))
        return err->code;
    if (rate >= 1.0)
        return pp_section_error(cfg, "rate", err,
            "must be below 1: a rate of 1 drops every element");
    if (in->dtype != PP_F32)
        return pp_section_error(cfg, NULL, err,
            "dropout needs float input, not token ids");
    p->out = *in;
    p->flops = (double)pp_shape_elements(&in->shape);
    dropout_args args = {rate};
    return pp_layer_args(p, &args, sizeof args, err);
}

/* splitmix64's finaliser: a bijection of 64 bits whose output bits each
 * depend on every input bit. */
static uint64_t mix(uint64_t z)
{
    z += 0x9e3779b97f4a7c15u;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* out (n) = in (n) * scale where element first + i is kept, else 0 (add:
 * out += that). The seed is mixed before the index joins it, so seeds
 * that differ in a few bits (consecutive steps, say) give unrelated masks
 * rather than shuffled copies of one another. */
static void dropout_apply(float *restrict out, const float *restrict in,
                          int64_t first, int64_t n, uint64_t seed,
                          double rate, int add)
{
    uint64_t key = mix(seed);
    float scale = (float)(1.0 / (1.0 - rate));
    for (int64_t i = 0; i < n; i++) {
        double u = (double)(mix(key ^ (uint64_t)(first + i)) >> 11) *
                   0x1p-53;
        float v = u >= rate ? in[i] * scale : 0.0f;
        out[i] = add ? out[i] + v : v;
    }
}

static double rate_of(const pp_layer_call *c)
{
    return ((const dropout_args *)c->plan->args)->rate;
}

static int64_t elements(const pp_layer_call *c)
{
    return pp_shape_elements(&c->in[0].shape);
}

static pp_status forward(const pp_layer_call *c, const void *const *x,
                         void *y, pp_error *err)
{
    (void)err;
    int64_t n = (int64_t)c->n * elements(c);
    if (c->training)
        dropout_apply(y, x[0], c->sample0 * elements(c), n, c->seed,
                      rate_of(c), 0);
    else
        memcpy(y, x[0], (size_t)n * sizeof(float));
    return PP_OK;
}

/* The same mask, applied to dy and added to dx. */
static pp_status backward_input(const pp_layer_call *c, const void *const *x,
                                const void *y, const void *dy,
                                void *const *dx, pp_error *err)
{
    (void)x, (void)y, (void)err;
    int64_t n = (int64_t)c->n * elements(c);
    float *out = dx[0];
    const float *in = dy;
    if (c->training)
        dropout_apply(out, in, c->sample0 * elements(c), n, c->seed,
                      rate_of(c), 1);
    else
        for (int64_t i = 0; i < n; i++)
            out[i] += in[i];
    return PP_OK;
}

static const pp_layer_kernels cpu_kernels = {
    .forward = forward, .backward_input = backward_input};

#ifdef HAVE_CUDA
/* The same hash on the device: CPU and GPU ranks drop the same elements.
 * Evaluation keeps every element: a rate of 0 is the identity. */
static pp_status cuda_apply(const pp_layer_call *c, void *out,
                            const void *in, int add, pp_error *err)
{
    PP_CUDA_TRY(pp_cuda_dropout((cudaStream_t)c->stream, out, in,
                                c->sample0 * elements(c),
                                (int64_t)c->n * elements(c), c->seed,
                                c->training ? rate_of(c) : 0.0, add), err);
    return PP_OK;
}

static pp_status cuda_forward(const pp_layer_call *c, const void *const *x,
                              void *y, pp_error *err)
{
    return cuda_apply(c, y, x[0], 0, err);
}

static pp_status cuda_backward_input(const pp_layer_call *c,
                                     const void *const *x, const void *y,
                                     const void *dy, void *const *dx,
                                     pp_error *err)
{
    (void)x, (void)y;
    return cuda_apply(c, dx[0], dy, 1, err);
}

static const pp_layer_kernels cuda_kernels = {
    .forward = cuda_forward, .backward_input = cuda_backward_input};
#endif

static const pp_layer_ops ops = {
    .inputs = 1,
    .plan = plan,
    .cpu = &cpu_kernels,
#ifdef HAVE_CUDA
    .cuda = &cuda_kernels,
#endif
};

PP_PLUGIN(PP_KIND_LAYER, "dropout",
          "inverted dropout, reproducible from the step's seed", keys, &ops);
