/* layers/layernorm.cu - layernorm's device half: layernorm.c's formulas,
 * one warp a row; saved holds the same (mean, rstd) per row as on the
 * CPU. The weight gradients meet in a tree, not in row order (the tests
 * allow for it). */
#include <config.h>

#include <pipette/cuda.h>

#include "layernorm.h"

/* As layernorm.c: two passes (var from x - mean), rstd = 1 / sqrtf. */
__global__ static void forward_rows(float *y, float *stats, const float *x,
                                    const float *w, const float *b,
                                    int64_t rows, int64_t C, float eps)
{
    PP_CUDA_ROW_LOOP(r, rows) {
        const float *xr = x + r * C;
        float *yr = y + r * C;
        float sum = 0.0f;
        PP_CUDA_LANE_LOOP(j, C)
            sum += xr[j];
        float mean = pp_warp_sum(sum) / (float)C;
        float sq = 0.0f;
        PP_CUDA_LANE_LOOP(j, C) {
            float d = xr[j] - mean;
            sq += d * d;
        }
        float rstd = 1.0f / sqrtf(pp_warp_sum(sq) / (float)C + eps);
        PP_CUDA_LANE_LOOP(j, C)
            yr[j] = (xr[j] - mean) * rstd * w[j] + b[j];
        if (threadIdx.x % 32 == 0) {
            stats[2 * r] = mean;
            stats[2 * r + 1] = rstd;
        }
    }
}

/* dx += rstd (g - mean(g) - xhat mean(g xhat)), g = dy w */
__global__ static void backward_rows(float *dx, const float *dy,
                                     const float *x, const float *stats,
                                     const float *w, int64_t rows, int64_t C)
{
    PP_CUDA_ROW_LOOP(r, rows) {
        const float *xr = x + r * C, *dyr = dy + r * C;
        float *dxr = dx + r * C;
        float mean = stats[2 * r], rstd = stats[2 * r + 1];
        float g_sum = 0.0f, gx_sum = 0.0f;
        PP_CUDA_LANE_LOOP(j, C) {
            float g = dyr[j] * w[j];
            g_sum += g;
            gx_sum += g * (xr[j] - mean) * rstd;
        }
        float g_mean = pp_warp_sum(g_sum) / (float)C;
        float gx_mean = pp_warp_sum(gx_sum) / (float)C;
        PP_CUDA_LANE_LOOP(j, C) {
            float xhat = (xr[j] - mean) * rstd;
            dxr[j] += rstd * (dyr[j] * w[j] - g_mean - xhat * gx_mean);
        }
    }
}

/* dw, db (C) += column sums over rows. One block per strip of 32 columns:
 * thread (c, l) sums rows l, l + 32, ... of column c in row order, then
 * the 32 partial sums of a column meet in a fixed tree. */
#define STRIP 32
#define LANES 32

__global__ static void weight_sums(float *dw, float *db, const float *dy,
                                   const float *x, const float *stats,
                                   int64_t rows, int64_t C)
{
    __shared__ float sw[LANES][STRIP + 1], sb[LANES][STRIP + 1];
    int c = threadIdx.x, l = threadIdx.y;
    int64_t col = (int64_t)blockIdx.x * STRIP + c;
    float aw = 0.0f, ab = 0.0f;
    if (col < C)
        for (int64_t r = l; r < rows; r += LANES) {
            float g = dy[r * C + col];
            aw += g * (x[r * C + col] - stats[2 * r]) * stats[2 * r + 1];
            ab += g;
        }
    sw[l][c] = aw;
    sb[l][c] = ab;
    __syncthreads();
    for (int k = LANES / 2; k > 0; k >>= 1) {
        if (l < k) {
            sw[l][c] += sw[l + k][c];
            sb[l][c] += sb[l + k][c];
        }
        __syncthreads();
    }
    if (l == 0 && col < C) {
        dw[col] += sw[0][c];
        db[col] += sb[0][c];
    }
}

static pp_status forward(const pp_layer_call *c, const void *const *x,
                         void *y, pp_error *err)
{
    int64_t rows = pp_call_rows(c, 0);
    if (rows > 0)
        forward_rows<<<pp_cuda_row_blocks(rows), PP_CUDA_ROW_THREADS, 0,
                       pp_cuda_stream(c)>>>(
            (float *)y, (float *)c->saved, (const float *)x[0], c->param[0],
            c->param[1], rows, pp_call_features(c, 0), layernorm_eps(c));
    return PP_CUDA_CHECK(cudaGetLastError(), err);
}

static pp_status backward_input(const pp_layer_call *c, const void *const *x,
                                const void *y, const void *dy,
                                void *const *dx, pp_error *err)
{
    (void)y;
    int64_t rows = pp_call_rows(c, 0);
    if (rows > 0)
        backward_rows<<<pp_cuda_row_blocks(rows), PP_CUDA_ROW_THREADS, 0,
                        pp_cuda_stream(c)>>>(
            (float *)dx[0], (const float *)dy, (const float *)x[0],
            (const float *)c->saved, c->param[0], rows,
            pp_call_features(c, 0));
    return PP_CUDA_CHECK(cudaGetLastError(), err);
}

static pp_status backward_weight(const pp_layer_call *c,
                                 const void *const *x, const void *y,
                                 const void *dy, pp_error *err)
{
    (void)y;
    int64_t rows = pp_call_rows(c, 0), C = pp_call_features(c, 0);
    if (rows > 0 && C > 0)
        weight_sums<<<(unsigned)((C + STRIP - 1) / STRIP), dim3(STRIP, LANES),
                      0, pp_cuda_stream(c)>>>(
            c->grad[0], c->grad[1], (const float *)dy, (const float *)x[0],
            (const float *)c->saved, rows, C);
    return PP_CUDA_CHECK(cudaGetLastError(), err);
}

extern "C" const pp_layer_kernels layernorm_cuda = {
    .forward = forward, .backward_input = backward_input,
    .backward_weight = backward_weight};
