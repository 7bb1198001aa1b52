/* pipette/cuda.h - for a plugin's CUDA half, in a .c or a .cu file.
 *
 * Errors: one macro per library turns a failed call into a pp_error that
 * names the call, the library's name and text for the failure, and the
 * file and line. Each is an expression: PP_OK, or the error's code.
 *
 *   if (PP_CUDA_CHECK(cudaMemcpyAsync(...), err))
 *       return err->code;
 *   return PP_CUBLAS_CHECK(cublasSgemv(...), err);
 *
 * CUDA's last error is cleared after a failed runtime call, so the next
 * launch check does not report it again. Out of device memory is
 * PP_ERR_NOMEM, anything else PP_ERR_DEVICE. Include cublas_v2.h,
 * cublasLt.h, cudnn.h or nccl.h before this header to get
 * PP_CUBLAS_CHECK, PP_CUBLASLT_CHECK, PP_CUDNN_CHECK or PP_NCCL_CHECK.
 *
 * Launches (in a .cu file): PP_CUDA_THREADS threads a block and
 * pp_cuda_blocks(n) blocks cover n elements with a grid-stride loop, the
 * grid capped so it stays a few waves on the largest GPU:
 *
 *   __global__ static void scale(float *y, const float *x, float a,
 *                                int64_t n)
 *   {
 *       PP_CUDA_GRID_STRIDE(i, n)
 *           y[i] = a * x[i];
 *   }
 *   scale<<<pp_cuda_blocks(n), PP_CUDA_THREADS, 0, pp_cuda_stream(c)>>>(
 *       y, x, a, n);
 *   return PP_CUDA_CHECK(cudaGetLastError(), err);
 *
 * pp_cuda_blocks(0) is 1, so an empty call launches nothing wrong. For
 * a launch inside a header's macro use PP_CUDA_LAUNCH. Device helpers
 * below: warp and block sums in a fixed order (the same bits every run).
 */
#ifndef PIPETTE_CUDA_H
#define PIPETTE_CUDA_H

#include <stdint.h>

#include <cuda_runtime_api.h>

#include <pipette/error.h>
#include <pipette/layer.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What PP_CUDA_CHECK calls; call it with a code already in hand. */
static inline pp_status pp_cuda_result(cudaError_t rc, const char *call,
                                       const char *file, int line,
                                       pp_error *err)
{
    if (rc == cudaSuccess)
        return PP_OK;
    (void)cudaGetLastError();
    return pp_error_set(err,
                        rc == cudaErrorMemoryAllocation ? PP_ERR_NOMEM
                                                        : PP_ERR_DEVICE,
                        "%s: %s (%s) [%s:%d]", call, cudaGetErrorString(rc),
                        cudaGetErrorName(rc), file, line);
}
#define PP_CUDA_CHECK(call, err)                                            \
    pp_cuda_result((call), #call, __FILE__, __LINE__, (err))

/* The other libraries' failures, with what each says about them. */
static inline pp_status pp_cuda_lib_fail_(const char *call,
                                          const char *text,
                                          const char *name,
                                          const char *file, int line,
                                          pp_error *err)
{
    return pp_error_set(err, PP_ERR_DEVICE, "%s: %s (%s) [%s:%d]", call,
                        text, name, file, line);
}

#ifdef CUBLAS_VER_MAJOR
static inline pp_status pp_cublas_check_(cublasStatus_t rc, const char *call,
                                         const char *file, int line,
                                         pp_error *err)
{
    return rc == CUBLAS_STATUS_SUCCESS
               ? PP_OK
               : pp_cuda_lib_fail_(call, cublasGetStatusString(rc),
                                   cublasGetStatusName(rc), file, line, err);
}
#define PP_CUBLAS_CHECK(call, err)                                          \
    pp_cublas_check_((call), #call, __FILE__, __LINE__, (err))
#endif

/* cuBLASLt returns cuBLAS's status type, named by its own library: a
 * plugin that calls cuBLASLt alone need not link cuBLAS. (cublasLt.h
 * defines no guard of its own; this macro is its.) */
#ifdef CUBLASLT_NUMERICAL_IMPL_FLAGS_FMA
static inline pp_status pp_cublaslt_check_(cublasStatus_t rc,
                                           const char *call,
                                           const char *file, int line,
                                           pp_error *err)
{
    return rc == CUBLAS_STATUS_SUCCESS
               ? PP_OK
               : pp_cuda_lib_fail_(call, cublasLtGetStatusString(rc),
                                   cublasLtGetStatusName(rc), file, line,
                                   err);
}
#define PP_CUBLASLT_CHECK(call, err)                                        \
    pp_cublaslt_check_((call), #call, __FILE__, __LINE__, (err))
#endif

#ifdef CUDNN_MAJOR
static inline pp_status pp_cudnn_check_(cudnnStatus_t rc, const char *call,
                                        const char *file, int line,
                                        pp_error *err)
{
    return rc == CUDNN_STATUS_SUCCESS
               ? PP_OK
               : pp_cuda_lib_fail_(call, cudnnGetErrorString(rc),
                                   "cudnnStatus", file, line, err);
}
#define PP_CUDNN_CHECK(call, err)                                           \
    pp_cudnn_check_((call), #call, __FILE__, __LINE__, (err))
#endif

#ifdef NCCL_MAJOR
/* NCCL's code says little ("invalid usage"); its last error says what. */
static inline pp_status pp_nccl_check_(ncclResult_t rc, const char *call,
                                       const char *file, int line,
                                       pp_error *err)
{
    if (rc == ncclSuccess)
        return PP_OK;
    const char *last = ncclGetLastError(NULL);
    int has = last && last[0];
    return pp_error_set(err, PP_ERR_DEVICE, "%s: %s%s%s (ncclResult) [%s:%d]",
                        call, ncclGetErrorString(rc), has ? ": " : "",
                        has ? last : "", file, line);
}
#define PP_NCCL_CHECK(call, err)                                            \
    pp_nccl_check_((call), #call, __FILE__, __LINE__, (err))
#endif

/* A layer call's stream and library handles, typed. */
static inline cudaStream_t pp_cuda_stream(const pp_layer_call *c)
{
    return (cudaStream_t)c->stream;
}

/* Grid-stride launches: 256 threads a block, at most 4096 blocks (the
 * largest GPU, 132 SMs of 2048 threads, holds 1056 such blocks at once);
 * the loop covers any n beyond that, up to 2^63. */
#define PP_CUDA_THREADS 256
#define PP_CUDA_MAX_BLOCKS 4096

/* Blocks for n items, per_block a block, at least 1 and at most
 * PP_CUDA_MAX_BLOCKS. */
static inline unsigned pp_cuda_grid(int64_t n, int64_t per_block)
{
    int64_t b = (n + per_block - 1) / per_block;
    return b < 1 ? 1u : b < PP_CUDA_MAX_BLOCKS ? (unsigned)b
                                               : PP_CUDA_MAX_BLOCKS;
}

static inline unsigned pp_cuda_blocks(int64_t n)
{
    return pp_cuda_grid(n, PP_CUDA_THREADS);
}

#define PP_CUDA_GRID_STRIDE(i, n)                                           \
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;        \
         i < (int64_t)(n); i += (int64_t)blockDim.x * gridDim.x)

/* Row launches: one warp a row, PP_CUDA_ROW_WARPS warps a block, so
 * pp_cuda_row_blocks(rows) blocks of PP_CUDA_ROW_THREADS threads; in the
 * kernel, PP_CUDA_ROW_LOOP gives each warp its rows and PP_CUDA_LANE_LOOP
 * each lane its columns of one. */
#define PP_CUDA_ROW_WARPS 8
#define PP_CUDA_ROW_THREADS (PP_CUDA_ROW_WARPS * 32)

static inline unsigned pp_cuda_row_blocks(int64_t rows)
{
    return pp_cuda_grid(rows, PP_CUDA_ROW_WARPS);
}

#define PP_CUDA_ROW_LOOP(r, rows)                                           \
    for (int64_t r = (int64_t)blockIdx.x * PP_CUDA_ROW_WARPS +              \
                     threadIdx.x / 32;                                      \
         r < (int64_t)(rows); r += (int64_t)gridDim.x * PP_CUDA_ROW_WARPS)
#define PP_CUDA_LANE_LOOP(j, C)                                             \
    for (int64_t j = threadIdx.x % 32; j < (int64_t)(C); j += 32)

#ifdef __cplusplus
}
#endif

/* Device code (nvcc, or pipette's CUDA emulator): warp-wide sums and
 * maxima over the full warp, by butterfly, so every lane ends with the
 * same value combined in an order fixed by the lane numbers (the same bits
 * every run). */
#if defined(__CUDACC__) || defined(PP_KERNEL_EMU_H)
/* kernel<<<grid, block, shmem, stream>>>, for a launch inside a header's
 * macro: pipette's CUDA emulator rewrites the launches of .cu files only. */
#ifdef PP_KERNEL_EMU_H
#define PP_CUDA_LAUNCH(kernel, grid, block, shmem, stream)                  \
    pp_emu_launch(kernel, grid, block, shmem, stream)
#else
#define PP_CUDA_LAUNCH(kernel, grid, block, shmem, stream)                  \
    kernel<<<grid, block, shmem, stream>>>
#endif

#define PP_CUDA_WARP 32
#define PP_CUDA_FULL_MASK 0xffffffffu

template <typename T> __device__ static inline T pp_warp_sum(T v)
{
    for (int o = PP_CUDA_WARP / 2; o > 0; o >>= 1)
        v += __shfl_xor_sync(PP_CUDA_FULL_MASK, v, o);
    return v;
}

__device__ static inline float pp_warp_max(float v)
{
    for (int o = PP_CUDA_WARP / 2; o > 0; o >>= 1)
        v = fmaxf(v, __shfl_xor_sync(PP_CUDA_FULL_MASK, v, o));
    return v;
}

/* The sum of one value a thread over a block of PP_CUDA_THREADS threads,
 * in a fixed tree through part, a __shared__ array of PP_CUDA_THREADS the
 * caller declares; valid in thread 0. Every thread must call it. */
template <typename T> __device__ static inline T pp_block_sum(T v, T *part)
{
    part[threadIdx.x] = v;
    __syncthreads();
    for (int k = PP_CUDA_THREADS / 2; k > 0; k >>= 1) {
        if ((int)threadIdx.x < k)
            part[threadIdx.x] += part[threadIdx.x + k];
        __syncthreads();
    }
    T total = part[0];
    __syncthreads(); /* part may be reused at once */
    return total;
}

/* The sum of v (n values) by one block of PP_CUDA_THREADS threads, in an
 * order fixed by n alone; valid in thread 0. */
template <typename T>
__device__ static inline T pp_block_sum_of(const T *v, int64_t n, T *part)
{
    T s = 0;
    for (int64_t i = threadIdx.x; i < n; i += PP_CUDA_THREADS)
        s += v[i];
    return pp_block_sum(s, part);
}
#endif

#endif
