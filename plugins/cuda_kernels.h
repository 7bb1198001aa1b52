/* plugins/cuda_kernels.h - the C-visible launchers of the cuda plugin's own
 * kernels (cuda_kernels.cu).
 *
 * Private to the plugin: it exposes cudaError_t, so it never goes near
 * include/pipette. Each launcher queues one grid-stride kernel on the
 * current device's default stream and returns the launch error only; the
 * caller synchronises, so that a failed launch and a failed run are told
 * apart in the message.
 */
#ifndef PP_CUDA_KERNELS_H
#define PP_CUDA_KERNELS_H

#include <stddef.h>

#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

/* x[i] = value */
cudaError_t pp_cuda_fill(float *x, float value, size_t n);
/* x[i] *= alpha */
cudaError_t pp_cuda_scale(float *x, float alpha, size_t n);
/* y[i] = fmaf(alpha, x[i], y[i]): one rounding, whatever nvcc's --fmad */
cudaError_t pp_cuda_axpy(float *y, float alpha, const float *x, size_t n);
/* y[i] += x[i], on `stream` (the rank's, not the default one) */
cudaError_t pp_cuda_add(float *y, const float *x, size_t n,
                        cudaStream_t stream);

#ifdef __cplusplus
}
#endif

#endif
