/* plugins/optim_cuda.cu - fused device updates for sgd and adamw: one pass
 * over parameters, gradients and state per step.
 *
 * Grid-stride loops, so any n (size_t, beyond 2^31) runs with a bounded
 * grid. Every operation is an explicitly rounded intrinsic (__fmul_rn,
 * __fadd_rn, ...): nvcc would otherwise contract a * b + c into one fused
 * multiply-add, which the CPU loops (C11, no contraction) never do, and
 * the updates would drift apart by a rounding per step. The intrinsics
 * also keep division and square root correctly rounded whatever
 * NVCCFLAGS say. Memory-bound and not tuned beyond that: no vector loads.
 */
#include <cuda_bf16.h>

#include <pipette/cuda.h>

#include "optim_cuda.h"

/* sgd.c's step_cpu, element by element (wd is 0 from ndecay on):
 *   g = grad + wd * param
 *   buf = mu * buf + g; g = nesterov ? g + mu * buf : buf  (mu > 0)
 *   param -= lr * g */
__global__ static void sgd_kernel(float *__restrict__ param,
                                  const float *__restrict__ grad,
                                  float *__restrict__ buf, size_t n,
                                  size_t ndecay, float lr, float mu,
                                  float decay, bool nesterov,
                                  __nv_bfloat16 *__restrict__ copy)
{
    size_t stride = (size_t)blockDim.x * gridDim.x;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += stride) {
        float p = param[i];
        float wd = i < ndecay ? decay : 0.0f;
        float g = __fadd_rn(grad[i], __fmul_rn(wd, p));
        if (mu > 0) {
            float b = __fadd_rn(__fmul_rn(mu, buf[i]), g);
            buf[i] = b;
            g = nesterov ? __fadd_rn(g, __fmul_rn(mu, b)) : b;
        }
        p = __fsub_rn(p, __fmul_rn(lr, g));
        param[i] = p;
        if (copy)
            copy[i] = __float2bfloat16_rn(p);
    }
}

/* adamw.c's step_cpu, element by element, with its association:
 *   m = b1 * m + (1 - b1) * g
 *   v = b2 * v + ((1 - b2) * g) * g
 *   param = param * decay - (step_size * m) / (sqrt(v) * inv_sqrt_bc2 + eps)
 * where from ndecay on param is not multiplied by decay.
 */
__global__ static void adamw_kernel(float *__restrict__ param,
                                    const float *__restrict__ grad,
                                    float *__restrict__ m,
                                    float *__restrict__ v, size_t n,
                                    size_t ndecay, float b1, float b2,
                                    float eps,
                                    float step_size, float inv_sqrt_bc2,
                                    float decay,
                                    __nv_bfloat16 *__restrict__ copy)
{
    const float c1 = __fsub_rn(1.0f, b1), c2 = __fsub_rn(1.0f, b2);
    size_t stride = (size_t)blockDim.x * gridDim.x;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += stride) {
        float g = grad[i];
        float mi = __fadd_rn(__fmul_rn(b1, m[i]), __fmul_rn(c1, g));
        float vi = __fadd_rn(__fmul_rn(b2, v[i]),
                             __fmul_rn(__fmul_rn(c2, g), g));
        m[i] = mi;
        v[i] = vi;
        float denom = __fadd_rn(__fmul_rn(__fsqrt_rn(vi), inv_sqrt_bc2), eps);
        float p = i < ndecay ? __fmul_rn(param[i], decay) : param[i];
        p = __fsub_rn(p, __fdiv_rn(__fmul_rn(step_size, mi), denom));
        param[i] = p;
        if (copy)
            copy[i] = __float2bfloat16_rn(p);
    }
}

/* An empty grid is a launch error, and n == 0 has nothing to do. */
extern "C" cudaError_t pp_sgd_cuda(float *param, const float *grad,
                                   float *buf, size_t n, size_t ndecay,
                                   float lr, float momentum,
                                   float weight_decay, int nesterov,
                                   void *copy, cudaStream_t stream)
{
    if (n == 0)
        return cudaSuccess;
    sgd_kernel<<<pp_cuda_blocks((int64_t)n), PP_CUDA_THREADS, 0, stream>>>(
        param, grad, buf, n, ndecay, lr, momentum, weight_decay,
        nesterov != 0, (__nv_bfloat16 *)copy);
    return cudaGetLastError();
}

extern "C" cudaError_t pp_adamw_cuda(float *param, const float *grad,
                                     float *m, float *v, size_t n,
                                     size_t ndecay, float beta1, float beta2,
                                     float eps,
                                     float step_size, float inv_sqrt_bc2,
                                     float decay, void *copy,
                                     cudaStream_t stream)
{
    if (n == 0)
        return cudaSuccess;
    adamw_kernel<<<pp_cuda_blocks((int64_t)n), PP_CUDA_THREADS, 0, stream>>>(
        param, grad, m, v, n, ndecay, beta1, beta2, eps, step_size,
        inv_sqrt_bc2, decay, (__nv_bfloat16 *)copy);
    return cudaGetLastError();
}
