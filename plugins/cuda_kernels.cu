/* plugins/cuda_kernels.cu - the cuda device's own kernels: fill, scale,
 * axpy, and the stream-ordered add.
 *
 * Memory-bound one-liners, written as grid-stride loops so any n (size_t,
 * beyond 2^31) runs with a bounded grid. Not tuned: no vector loads, no
 * streams of their own; matrix work belongs to cuBLAS in the layers.
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

__global__ static void fill_kernel(float *x, float value, size_t n)
{
    size_t stride = (size_t)blockDim.x * gridDim.x;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += stride)
        x[i] = value;
}

__global__ static void scale_kernel(float *x, float alpha, size_t n)
{
    size_t stride = (size_t)blockDim.x * gridDim.x;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += stride)
        x[i] *= alpha;
}

__global__ static void axpy_kernel(float *y, float alpha, const float *x,
                                   size_t n)
{
    size_t stride = (size_t)blockDim.x * gridDim.x;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += stride)
        y[i] = fmaf(alpha, x[i], y[i]);
}

__global__ static void add_kernel(float *y, const float *x, size_t n)
{
    size_t stride = (size_t)blockDim.x * gridDim.x;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += stride)
        y[i] = __fadd_rn(y[i], x[i]);
}

/* An empty grid is a launch error, and n == 0 has nothing to do. */
extern "C" cudaError_t pp_cuda_fill(float *x, float value, size_t n)
{
    if (n == 0)
        return cudaSuccess;
    fill_kernel<<<blocks_for(n), PP_THREADS>>>(x, value, n);
    return cudaGetLastError();
}

extern "C" cudaError_t pp_cuda_scale(float *x, float alpha, size_t n)
{
    if (n == 0)
        return cudaSuccess;
    scale_kernel<<<blocks_for(n), PP_THREADS>>>(x, alpha, n);
    return cudaGetLastError();
}

extern "C" cudaError_t pp_cuda_add(float *y, const float *x, size_t n,
                                   cudaStream_t stream)
{
    if (n == 0)
        return cudaSuccess;
    add_kernel<<<blocks_for(n), PP_THREADS, 0, stream>>>(y, x, n);
    return cudaGetLastError();
}

extern "C" cudaError_t pp_cuda_axpy(float *y, float alpha, const float *x,
                                    size_t n)
{
    if (n == 0)
        return cudaSuccess;
    axpy_kernel<<<blocks_for(n), PP_THREADS>>>(y, alpha, x, n);
    return cudaGetLastError();
}
