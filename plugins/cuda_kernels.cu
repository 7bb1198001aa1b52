/* plugins/cuda_kernels.cu - the cuda device's own kernels: the
 * stream-ordered add, and the two halves of clipping by the global norm.
 *
 * Memory-bound, written as grid-stride loops so any n (size_t, beyond
 * 2^31) runs with a bounded grid. Not tuned: no vector loads. The norm's
 * sums run in a fixed order (no atomics), so a step's bits repeat.
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


#define SUMSQ_THREADS 256

/* part[blockIdx.x] += the sum of squares of its run of x: each thread
 * sums a strided share, then the block adds the shares as a tree. */
__global__ static void sumsq_kernel(float *part, size_t parts,
                                    const float *x, size_t n)
{
    __shared__ float share[SUMSQ_THREADS];
    for (size_t i = blockIdx.x; i < parts; i += gridDim.x) {
        float sum = 0;
        for (size_t j = i * n / parts + threadIdx.x; j < (i + 1) * n / parts;
             j += SUMSQ_THREADS)
            sum = fmaf(x[j], x[j], sum);
        share[threadIdx.x] = sum;
        __syncthreads();
        for (int half = SUMSQ_THREADS / 2; half > 0; half /= 2) {
            if ((int)threadIdx.x < half)
                share[threadIdx.x] += share[threadIdx.x + half];
            __syncthreads();
        }
        if (threadIdx.x == 0)
            part[i] += share[0];
        __syncthreads();
    }
}

/* x *= min(1, max_norm / (norm + 1e-6)); a block's first thread sums
 * the parts (a few hundred floats), in index order, for the block. */
__global__ static void clip_kernel(float *x, size_t n, const float *part,
                                   size_t parts, float max_norm)
{
    __shared__ float coef;
    if (threadIdx.x == 0) {
        double sum = 0;
        for (size_t i = 0; i < parts; i++)
            sum += part[i];
        coef = (float)(max_norm / (sqrt(sum) + 1e-6));
    }
    __syncthreads();
    if (coef >= 1)
        return;
    size_t stride = (size_t)blockDim.x * gridDim.x;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += stride)
        x[i] *= coef;
}

extern "C" cudaError_t pp_cuda_sumsq(float *part, size_t parts,
                                     const float *x, size_t n,
                                     cudaStream_t stream)
{
    if (parts == 0)
        return cudaSuccess;
    unsigned blocks = parts < 65535 ? (unsigned)parts : 65535;
    sumsq_kernel<<<blocks, SUMSQ_THREADS, 0, stream>>>(part, parts, x, n);
    return cudaGetLastError();
}

extern "C" cudaError_t pp_cuda_clip(float *x, size_t n, const float *part,
                                    size_t parts, float max_norm,
                                    cudaStream_t stream)
{
    if (n == 0)
        return cudaSuccess;
    clip_kernel<<<pp_cuda_blocks((int64_t)n), PP_CUDA_THREADS, 0, stream>>>(
        x, n, part, parts, max_norm);
    return cudaGetLastError();
}
