/* layers/dropout.cu - dropout's device half: dropout.h's mask on the
 * rank's stream, in FP32, stored as the activations are. Evaluation
 * keeps every element: a rate of 0. */
#include <config.h>

#include "dropout.h"
#include "packed.h"

/* out (n) = in * scale where kept, else 0 (add: out += that) */
template <typename T>
__global__ static void apply(T *out, const T *in, int64_t first, int64_t n,
                             uint64_t key, double rate, int add)
{
    float scale = dropout_scale(rate);
    PP_CUDA_GRID_STRIDE(i, n) {
        float v = dropout_keeps(key, first + i, rate)
                      ? elem_load(in + i) * scale : 0.0f;
        elem_store(out + i, add ? elem_load(out + i) + v : v);
    }
}

template <typename T>
static pp_status run(const pp_layer_call *c, void *out, const void *in,
                     int add, pp_error *err)
{
    int64_t n = pp_call_elements(c, 0);
    auto kernel = apply<T>;
    if (n > 0)
        kernel<<<pp_cuda_blocks(n), PP_CUDA_THREADS, 0, pp_cuda_stream(c)>>>(
            (T *)out, (const T *)in, dropout_first(c), n,
            dropout_mix(c->seed), c->training ? dropout_rate(c) : 0.0, add);
    return PP_CUDA_CHECK(cudaGetLastError(), err);
}

static pp_status forward(const pp_layer_call *c, const void *const *x,
                         void *y, pp_error *err)
{
    return BY_DTYPE(c, run, c, y, x[0], 0, err);
}

static pp_status backward_input(const pp_layer_call *c, const void *const *x,
                                const void *y, const void *dy,
                                void *const *dx, pp_error *err)
{
    (void)x, (void)y;
    return BY_DTYPE(c, run, c, dx[0], dy, 1, err);
}

extern "C" const pp_layer_kernels dropout_cuda = {
    .forward = forward, .backward_input = backward_input};
