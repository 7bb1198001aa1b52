/* plugins/cuda_kernels.cu - the cuda device's own kernel: the
 * stream-ordered add.
 *
 * A memory-bound one-liner, written as a grid-stride loop so any n
 * (size_t, beyond 2^31) runs with a bounded grid. Not tuned: no vector
 * loads.
 */
#include "cuda_kernels.h"

/* 256 threads keep every SM of current GPUs busy with few registers. 4096
 * blocks of them fill the largest GPU (132 SMs x 2048 threads = 1056
 * blocks) several times over; the grid-stride loop covers the rest. */
#define PP_THREADS 256
#define PP_MAX_BLOCKS 4096

static unsigned blocks_for(size_t n)
{
    size_t b = (n + PP_THREADS - 1) / PP_THREADS;
    return b < PP_MAX_BLOCKS ? (unsigned)b : PP_MAX_BLOCKS;
}

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
    add_kernel<<<blocks_for(n), PP_THREADS, 0, stream>>>(y, x, n);
    return cudaGetLastError();
}

