/* src/cuda_check.h - one checking macro per CUDA library, for the CUDA
 * halves of plugins (C and .cu files alike): a failed call becomes a
 * pp_error naming the call, the library's own error name and text, and
 * the file and line, and the enclosing function returns its code. Never
 * exit(): the runtime decides what a failure stops.
 *
 *   PP_CUDA_TRY(cudaMemcpyAsync(...), err);
 *   PP_CUBLAS_TRY(cublasSgemm(...), err);
 *
 * Include the library's header before this one; a macro exists only for
 * the libraries included.
 */
#ifndef PP_SRC_CUDA_CHECK_H
#define PP_SRC_CUDA_CHECK_H

#include <pipette/error.h>

#define PP_TRY_(ok, call, err, name, text)                                  \
    do {                                                                    \
        if (!(ok))                                                          \
            return pp_error_set((err), PP_ERR_DEVICE, "%s: %s (%s) [%s:%d]", \
                                #call, (text), (name), __FILE__, __LINE__); \
    } while (0)

#ifdef CUDART_VERSION
#define PP_CUDA_TRY(call, err)                                              \
    do {                                                                    \
        cudaError_t rc_ = (call);                                           \
        if (rc_ != cudaSuccess) {                                           \
            (void)cudaGetLastError();                                       \
            return pp_error_set((err),                                      \
                rc_ == cudaErrorMemoryAllocation ? PP_ERR_NOMEM             \
                                                 : PP_ERR_DEVICE,           \
                "%s: %s (%s) [%s:%d]", #call, cudaGetErrorString(rc_),      \
                cudaGetErrorName(rc_), __FILE__, __LINE__);                 \
        }                                                                   \
    } while (0)
#endif

#ifdef CUBLAS_VER_MAJOR
#define PP_CUBLAS_TRY(call, err)                                            \
    do {                                                                    \
        cublasStatus_t rc_ = (call);                                        \
        PP_TRY_(rc_ == CUBLAS_STATUS_SUCCESS, call, err,                    \
                cublasGetStatusName(rc_), cublasGetStatusString(rc_));      \
    } while (0)
#endif

#ifdef CUDNN_MAJOR
#define PP_CUDNN_TRY(call, err)                                             \
    do {                                                                    \
        cudnnStatus_t rc_ = (call);                                         \
        PP_TRY_(rc_ == CUDNN_STATUS_SUCCESS, call, err, "cudnnStatus",      \
                cudnnGetErrorString(rc_));                                  \
    } while (0)
#endif

#ifdef NCCL_MAJOR
#define PP_NCCL_TRY(call, err)                                              \
    do {                                                                    \
        ncclResult_t rc_ = (call);                                          \
        PP_TRY_(rc_ == ncclSuccess, call, err, "ncclResult",                \
                ncclGetErrorString(rc_));                                   \
    } while (0)
#endif

#endif
