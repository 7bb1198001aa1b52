/* layers/layernorm.cu - layernorm's device half: layernorm.c's formulas,
 * one warp a row; saved holds the same (mean, rstd) per row as on the
 * CPU. x, y, dy and dx are float or bf16, read 16 bytes at a time where a
 * row allows (packed.h); the statistics, the parameters and their
 * gradients are FP32. Sums meet in another order than the CPU's: a row's
 * over its lanes and then a butterfly, the weight gradients' in a tree
 * (the tests allow for it). */
#include <config.h>

#include "layernorm.h"
#include "packed.h"

/* As layernorm.c: two passes (var from x - mean), rstd = 1 / sqrtf. */
template <typename T>
__global__ static void forward_rows(T *y, float *stats, const T *x,
                                    const float *w, const float *b,
                                    int64_t rows, int64_t C, float eps)
{
    PP_CUDA_ROW_LOOP(r, rows) {
        const T *xr = x + r * C;
        T *yr = y + r * C;
        bool packs = aligned16(xr) && aligned16(yr);
        float sum = 0.0f;
        lane_runs<T>(C, packs, [&](int64_t j, int k) {
            float v[PACK(T)];
            run_load(v, xr + j, k);
            for (int i = 0; i < k; i++)
                sum += v[i];
        });
        float mean = pp_warp_sum(sum) / (float)C;
        float sq = 0.0f;
        lane_runs<T>(C, packs, [&](int64_t j, int k) {
            float v[PACK(T)];
            run_load(v, xr + j, k);
            for (int i = 0; i < k; i++) {
                float d = v[i] - mean;
                sq += d * d;
            }
        });
        float rstd = 1.0f / sqrtf(pp_warp_sum(sq) / (float)C + eps);
        lane_runs<T>(C, packs, [&](int64_t j, int k) {
            float v[PACK(T)];
            run_load(v, xr + j, k);
            for (int i = 0; i < k; i++)
                v[i] = (v[i] - mean) * rstd * w[j + i] + b[j + i];
            run_store(yr + j, v, k);
        });
        if (threadIdx.x % 32 == 0) {
            stats[2 * r] = mean;
            stats[2 * r + 1] = rstd;
        }
    }
}

/* dx += rstd (g - mean(g) - xhat mean(g xhat)), g = dy w: one rounding in
 * bf16 */
template <typename T>
__global__ static void backward_rows(T *dx, const T *dy, const T *x,
                                     const float *stats, const float *w,
                                     int64_t rows, int64_t C)
{
    PP_CUDA_ROW_LOOP(r, rows) {
        const T *xr = x + r * C, *dyr = dy + r * C;
        T *dxr = dx + r * C;
        bool packs = aligned16(xr) && aligned16(dyr) && aligned16(dxr);
        float mean = stats[2 * r], rstd = stats[2 * r + 1];
        float g_sum = 0.0f, gx_sum = 0.0f;
        lane_runs<T>(C, packs, [&](int64_t j, int k) {
            float d[PACK(T)], v[PACK(T)];
            run_load(d, dyr + j, k);
            run_load(v, xr + j, k);
            for (int i = 0; i < k; i++) {
                float g = d[i] * w[j + i];
                g_sum += g;
                gx_sum += g * (v[i] - mean) * rstd;
            }
        });
        float g_mean = pp_warp_sum(g_sum) / (float)C;
        float gx_mean = pp_warp_sum(gx_sum) / (float)C;
        lane_runs<T>(C, packs, [&](int64_t j, int k) {
            float o[PACK(T)], d[PACK(T)], v[PACK(T)];
            run_load(o, dxr + j, k);
            run_load(d, dyr + j, k);
            run_load(v, xr + j, k);
            for (int i = 0; i < k; i++) {
                float xhat = (v[i] - mean) * rstd;
                o[i] += rstd * (d[i] * w[j + i] - g_mean - xhat * gx_mean);
            }
            run_store(dxr + j, o, k);
        });
    }
}

/* dw, db (C) += column sums over rows. One block per strip of 32 columns:
 * thread (c, l) sums rows l, l + 32, ... of column c in row order, then
 * the 32 partial sums of a column meet in a fixed tree. */
#define STRIP 32
#define LANES 32

template <typename T>
__global__ static void weight_sums(float *dw, float *db, const T *dy,
                                   const T *x, const float *stats,
                                   int64_t rows, int64_t C)
{
    __shared__ float sw[LANES][STRIP + 1], sb[LANES][STRIP + 1];
    int c = threadIdx.x, l = threadIdx.y;
    int64_t col = (int64_t)blockIdx.x * STRIP + c;
    float aw = 0.0f, ab = 0.0f;
    if (col < C)
        for (int64_t r = l; r < rows; r += LANES) {
            float g = elem_load(dy + r * C + col);
            aw += g * (elem_load(x + r * C + col) - stats[2 * r]) *
                  stats[2 * r + 1];
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

template <typename T>
static pp_status forward_as(const pp_layer_call *c, const void *const *x,
                            void *y, pp_error *err)
{
    int64_t rows = pp_call_rows(c, 0);
    auto kernel = forward_rows<T>;
    if (rows > 0)
        kernel<<<pp_cuda_row_blocks(rows), PP_CUDA_ROW_THREADS, 0,
                 pp_cuda_stream(c)>>>(
            (T *)y, (float *)c->saved, (const T *)x[0], c->param[0],
            c->param[1], rows, pp_call_features(c, 0), layernorm_eps(c));
    return PP_CUDA_CHECK(cudaGetLastError(), err);
}

template <typename T>
static pp_status backward_input_as(const pp_layer_call *c,
                                   const void *const *x, const void *dy,
                                   void *const *dx, pp_error *err)
{
    int64_t rows = pp_call_rows(c, 0);
    auto kernel = backward_rows<T>;
    if (rows > 0)
        kernel<<<pp_cuda_row_blocks(rows), PP_CUDA_ROW_THREADS, 0,
                 pp_cuda_stream(c)>>>(
            (T *)dx[0], (const T *)dy, (const T *)x[0],
            (const float *)c->saved, c->param[0], rows,
            pp_call_features(c, 0));
    return PP_CUDA_CHECK(cudaGetLastError(), err);
}

template <typename T>
static pp_status backward_weight_as(const pp_layer_call *c,
                                    const void *const *x, const void *dy,
                                    pp_error *err)
{
    int64_t rows = pp_call_rows(c, 0), C = pp_call_features(c, 0);
    auto kernel = weight_sums<T>;
    if (rows > 0 && C > 0)
        kernel<<<(unsigned)((C + STRIP - 1) / STRIP), dim3(STRIP, LANES), 0,
                 pp_cuda_stream(c)>>>(
            c->grad[0], c->grad[1], (const T *)dy, (const T *)x[0],
            (const float *)c->saved, rows, C);
    return PP_CUDA_CHECK(cudaGetLastError(), err);
}

static pp_status forward(const pp_layer_call *c, const void *const *x,
                         void *y, pp_error *err)
{
    return BY_DTYPE(c, forward_as, c, x, y, err);
}

static pp_status backward_input(const pp_layer_call *c, const void *const *x,
                                const void *y, const void *dy,
                                void *const *dx, pp_error *err)
{
    (void)y;
    return BY_DTYPE(c, backward_input_as, c, x, dy, dx, err);
}

static pp_status backward_weight(const pp_layer_call *c,
                                 const void *const *x, const void *y,
                                 const void *dy, pp_error *err)
{
    (void)y;
    return BY_DTYPE(c, backward_weight_as, c, x, dy, err);
}

extern "C" const pp_layer_kernels layernorm_cuda = {
    .forward = forward, .backward_input = backward_input,
    .backward_weight = backward_weight};
