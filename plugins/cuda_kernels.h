/* plugins/cuda_kernels.h - the C-visible launchers of the cuda plugin's own
 * kernels (cuda_kernels.cu).
 *
 * Private to the plugin: it exposes cudaError_t, so it never goes near
 * include/pipette. Each launcher queues one grid-stride kernel on the
 * stream it is given and returns the launch error only.
 */
#ifndef PP_CUDA_KERNELS_H
#define PP_CUDA_KERNELS_H

#include <stddef.h>

#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

/* y[i] += x[i], on `stream` (the rank's, not the default one) */
cudaError_t pp_cuda_sum_into(float *y, const float *x, size_t n,
                             cudaStream_t stream);

/* part[i] += the sum of squares of x's i-th of `parts` runs */
cudaError_t pp_cuda_sumsq(float *part, size_t parts, const float *x,
                          size_t n, cudaStream_t stream);

/* x *= min(1, max_norm / (sqrt(sum of part) + 1e-6)) */
cudaError_t pp_cuda_clip(float *x, size_t n, const float *part,
                         size_t parts, float max_norm, cudaStream_t stream);

#ifdef __cplusplus
}
#endif

#endif
