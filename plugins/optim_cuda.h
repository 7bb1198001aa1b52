/* plugins/optim_cuda.h - the C-visible launchers of the optimizers' fused
 * device kernels (optim_cuda.cu), shared by the sgd and adamw plugins.
 *
 * Private to those plugins: it exposes CUDA types, so it never goes near
 * include/pipette. Each launcher queues one grid-stride kernel on `stream`
 * and returns the launch error only; the stream's work is not waited for.
 * Every scalar arrives as the float the plugin's step_cpu uses, computed
 * on the host the same way, and the kernels round each operation as the
 * CPU loop does: the two updates agree bit for bit.
 */
#ifndef PP_OPTIM_CUDA_H
#define PP_OPTIM_CUDA_H

#include <stddef.h>

#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

/* sgd.c's update of n parameters, the first ndecay with weight decay; buf
 * (n) is the velocity, unused (may be NULL) when momentum is 0. */
cudaError_t pp_sgd_cuda(float *param, const float *grad, float *buf,
                        size_t n, size_t ndecay, float lr, float momentum,
                        float weight_decay, int nesterov, void *copy,
                        cudaStream_t stream);

/* adamw.c's update of n parameters with moments m (n) and v (n), given the
 * step's scalars: step_size = lr / (1 - beta1^t), inv_sqrt_bc2 =
 * 1 / sqrt(1 - beta2^t) and decay = 1 - lr * weight_decay, which only the
 * first ndecay parameters take. */
cudaError_t pp_adamw_cuda(float *param, const float *grad, float *m,
                          float *v, size_t n, size_t ndecay, float beta1,
                          float beta2,
                          float eps, float step_size, float inv_sqrt_bc2,
                          float decay, void *copy, cudaStream_t stream);

#ifdef __cplusplus
}
#endif

#endif
