/* layers/add.cu - add's device half: the same left-to-right sum on the
 * rank's stream, one launch per input after the first two. */
#include <config.h>

#include <pipette/cuda.h>

__global__ static void add2(float *y, const float *a, const float *b,
                            int64_t n)
{
    PP_CUDA_GRID_STRIDE(i, n)
        y[i] = a[i] + b[i];
}

__global__ static void accumulate(float *y, const float *x, int64_t n)
{
    PP_CUDA_GRID_STRIDE(i, n)
        y[i] += x[i];
}

static pp_status forward(const pp_layer_call *c, const void *const *x,
                         void *y, pp_error *err)
{
    cudaStream_t s = pp_cuda_stream(c);
    int64_t n = pp_call_elements(c, 0);
    if (n == 0)
        return PP_OK;
    if (c->nin == 1)
        return PP_CUDA_CHECK(
            cudaMemcpyAsync(y, x[0], (size_t)n * sizeof(float),
                            cudaMemcpyDeviceToDevice, s),
            err);
    add2<<<pp_cuda_blocks(n), PP_CUDA_THREADS, 0, s>>>(
        (float *)y, (const float *)x[0], (const float *)x[1], n);
    for (int k = 2; k < c->nin; k++)
        accumulate<<<pp_cuda_blocks(n), PP_CUDA_THREADS, 0, s>>>(
            (float *)y, (const float *)x[k], n);
    return PP_CUDA_CHECK(cudaGetLastError(), err);
}

static pp_status backward_input(const pp_layer_call *c, const void *const *x,
                                const void *y, const void *dy,
                                void *const *dx, pp_error *err)
{
    (void)x, (void)y;
    int64_t n = pp_call_elements(c, 0);
    for (int k = 0; k < c->nin && n > 0; k++)
        if (dx[k])
            accumulate<<<pp_cuda_blocks(n), PP_CUDA_THREADS, 0,
                         pp_cuda_stream(c)>>>((float *)dx[k],
                                              (const float *)dy, n);
    return PP_CUDA_CHECK(cudaGetLastError(), err);
}

extern "C" const pp_layer_kernels add_cuda = {
    .forward = forward, .backward_input = backward_input};
