/* tests/plugins/bad_grad.cu - bad_grad's CUDA half: right, but for `bug =
 * cuda`, whose forward is 1e-3 off. */
#include <config.h>

#include <pipette/cuda.h>

#include "bad_grad.h"

__global__ static void affine(float *y, const float *x, const float *w,
                              const float *b, int64_t n, int64_t C,
                              float off)
{
    PP_CUDA_GRID_STRIDE(i, n)
        y[i] = (x[i] * w[i % C] + b[i % C]) * off;
}

__global__ static void back_x(float *dx, const float *dy, const float *w,
                              int64_t n, int64_t C)
{
    PP_CUDA_GRID_STRIDE(i, n)
        dx[i] += dy[i] * w[i % C];
}

/* One thread a feature: its samples in order, as the CPU adds them. */
__global__ static void back_w(float *dw, float *db, const float *dy,
                              const float *x, int64_t n, int64_t C)
{
    PP_CUDA_GRID_STRIDE(j, C)
        for (int64_t i = j; i < n; i += C) {
            dw[j] += dy[i] * x[i];
            db[j] += dy[i];
        }
}

static pp_status forward(const pp_layer_call *c, const void *const *x,
                         void *y, pp_error *err)
{
    int64_t n = pp_call_elements(c, 0), C = pp_call_features(c, 0);
    affine<<<pp_cuda_blocks(n), PP_CUDA_THREADS, 0, pp_cuda_stream(c)>>>(
        (float *)y, (const float *)x[0], c->param[0], c->param[1], n, C,
        bug(c) == CUDA ? 1.001f : 1.0f);
    return PP_CUDA_CHECK(cudaGetLastError(), err);
}

static pp_status backward_input(const pp_layer_call *c, const void *const *x,
                                const void *y, const void *dy,
                                void *const *dx, pp_error *err)
{
    (void)x, (void)y;
    int64_t n = pp_call_elements(c, 0), C = pp_call_features(c, 0);
    back_x<<<pp_cuda_blocks(n), PP_CUDA_THREADS, 0, pp_cuda_stream(c)>>>(
        (float *)dx[0], (const float *)dy, c->param[0], n, C);
    return PP_CUDA_CHECK(cudaGetLastError(), err);
}

static pp_status backward_weight(const pp_layer_call *c,
                                 const void *const *x, const void *y,
                                 const void *dy, pp_error *err)
{
    (void)y;
    int64_t n = pp_call_elements(c, 0), C = pp_call_features(c, 0);
    back_w<<<pp_cuda_blocks(C), PP_CUDA_THREADS, 0, pp_cuda_stream(c)>>>(
        c->grad[0], c->grad[1], (const float *)dy, (const float *)x[0], n,
        C);
    return PP_CUDA_CHECK(cudaGetLastError(), err);
}

extern "C" const pp_layer_kernels bad_grad_cuda = {
    .forward = forward, .backward_input = backward_input,
    .backward_weight = backward_weight};
