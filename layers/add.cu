/* layers/add.cu - add's device half: add.c's left-to-right sum on the
 * rank's stream, one launch per input after the first two. The sum is
 * FP32 and rounded once: in fp32 it builds up in y, in bf16 in the
 * call's workspace (FP32, n elements) until the last input joins it in
 * y. */
#include <config.h>

#include "packed.h"

/* y (n) = a + b in FP32, each of them an input or the sum so far */
template <typename Y, typename A, typename B>
__global__ static void add2(Y *y, const A *a, const B *b, int64_t n)
{
    PP_CUDA_GRID_STRIDE(i, n)
        elem_store(y + i, elem_load(a + i) + elem_load(b + i));
}

template <typename T>
static pp_status forward_as(const pp_layer_call *c, const void *const *x,
                            void *y, pp_error *err)
{
    cudaStream_t s = pp_cuda_stream(c);
    int64_t n = pp_call_elements(c, 0);
    int last = c->nin - 1;
    if (n == 0)
        return PP_OK;
    if (c->nin == 1)
        return PP_CUDA_CHECK(cudaMemcpyAsync(y, x[0], (size_t)n * sizeof(T),
                                             cudaMemcpyDeviceToDevice, s),
                             err);
    const T *const *in = (const T *const *)x;
    unsigned blocks = pp_cuda_blocks(n);
    if (c->nin == 2) {
        auto sum2 = add2<T, T, T>;
        sum2<<<blocks, PP_CUDA_THREADS, 0, s>>>((T *)y, in[0], in[1], n);
        return PP_CUDA_CHECK(cudaGetLastError(), err);
    }
    float *sum = c->precision == PP_PRECISION_BF16 ? (float *)c->workspace
                                                   : (float *)y;
    auto first = add2<float, T, T>;
    auto more = add2<float, float, T>;
    auto end = add2<T, float, T>;
    first<<<blocks, PP_CUDA_THREADS, 0, s>>>(sum, in[0], in[1], n);
    for (int k = 2; k < last; k++)
        more<<<blocks, PP_CUDA_THREADS, 0, s>>>(sum, sum, in[k], n);
    end<<<blocks, PP_CUDA_THREADS, 0, s>>>((T *)y, sum, in[last], n);
    return PP_CUDA_CHECK(cudaGetLastError(), err);
}

/* dx (n) += dy: one rounding in bf16 */
template <typename T>
__global__ static void accumulate(T *dx, const T *dy, int64_t n)
{
    PP_CUDA_GRID_STRIDE(i, n)
        elem_store(dx + i, elem_load(dx + i) + elem_load(dy + i));
}

template <typename T>
static pp_status backward_as(const pp_layer_call *c, void *const *dx,
                             const void *dy, pp_error *err)
{
    int64_t n = pp_call_elements(c, 0);
    auto kernel = accumulate<T>;
    for (int k = 0; k < c->nin && n > 0; k++)
        if (dx[k])
            kernel<<<pp_cuda_blocks(n), PP_CUDA_THREADS, 0,
                     pp_cuda_stream(c)>>>((T *)dx[k], (const T *)dy, n);
    return PP_CUDA_CHECK(cudaGetLastError(), err);
}

static pp_status forward(const pp_layer_call *c, const void *const *x,
                         void *y, pp_error *err)
{
    return BY_DTYPE(c, forward_as, c, x, y, err);
}

static pp_status backward_input(const pp_layer_call *c, const void *const *x,
                                const void *y, const void *dy,
                                void *const *dx, pp_error *err)
{
    (void)x, (void)y;
    return BY_DTYPE(c, backward_as, c, dx, dy, err);
}

extern "C" const pp_layer_kernels add_cuda = {
    .forward = forward, .backward_input = backward_input};
