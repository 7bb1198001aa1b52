/* plugins/cuda_kernels.cu - the cuda device's own kernel: the
 * stream-ordered add.
 *
 * A memory-bound one-liner, written as a grid-stride loop so any n
 * (size_t, beyond 2^31) runs with a bounded grid. Not tuned: no vector
 * loads.
 */
#include <pipette/cuda.h>

#include "cuda_kernels.h"

__global__ static void add_kernel(float *y, const float *x, size_t n)
{
    size_t stride = (size_t)blockDim.x * gridDim.x;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += stride)
        y[i] = __fadd_rn(y[i], x[i]);
}

/* An empty grid is a launch error, and n == 0 has nothing to do. */
extern "C" cudaError_t pp_cuda_sum_into(float *y, const float *x,
                                        size_t n, cudaStream_t stream)
{
    if (n == 0)
        return cudaSuccess;
    add_kernel<<<pp_cuda_blocks((int64_t)n), PP_CUDA_THREADS, 0, stream>>>(
        y, x, n);
    return cudaGetLastError();
}

