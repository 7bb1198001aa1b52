/* layers/cuda_kernels.cu - the device kernels of the layer plugins (all but
 * linear, whose matrix work is cuBLAS's): elementwise activations,
 * dropout, layernorm, embedding and the two losses.
 *
 * Kept C-like: free functions, no templates, no classes. Every kernel is
 * deterministic: a thread's share of the work, and the order in which
 * partial sums meet, depend only on the sizes, never on scheduling, and
 * there are no floating-point atomics. So a rerun gives the same bits,
 * and the tests can state how far from the CPU a result may be.
 *
 * Not tuned: no vector loads, no shared-memory tiling beyond what a
 * reduction needs, no fusion across layers. Correct and reproducible
 * first; the profiles decide what is worth making fast.
 */
#include <math_constants.h>

#include "cuda_kernels.h"

/* Grid-stride kernels: 256 threads a block, at most 4096 blocks (several
 * waves on the largest GPU); the loop covers any n beyond 2^31. */
#define PP_THREADS 256
#define PP_MAX_BLOCKS 4096
/* Row kernels: one warp per row, 8 warps a block. */
#define PP_WARP 32
#define PP_ROW_WARPS 8
#define PP_FULL_MASK 0xffffffffu

static unsigned blocks_for(int64_t n, int64_t per_block)
{
    int64_t b = (n + per_block - 1) / per_block;
    return b < PP_MAX_BLOCKS ? (unsigned)b : PP_MAX_BLOCKS;
}

/* Butterfly sums and max: every lane ends with the same value, combined in
 * an order fixed by the lane numbers. */
__device__ static float warp_sum(float v)
{
    for (int o = PP_WARP / 2; o > 0; o >>= 1)
        v += __shfl_xor_sync(PP_FULL_MASK, v, o);
    return v;
}

__device__ static double warp_sum_double(double v)
{
    for (int o = PP_WARP / 2; o > 0; o >>= 1)
        v += __shfl_xor_sync(PP_FULL_MASK, v, o);
    return v;
}

__device__ static float warp_max(float v)
{
    for (int o = PP_WARP / 2; o > 0; o >>= 1)
        v = fmaxf(v, __shfl_xor_sync(PP_FULL_MASK, v, o));
    return v;
}

/* ---- elementwise ------------------------------------------------------ */

#define GRID_STRIDE(i, n)                                                   \
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;        \
         i < (n); i += (int64_t)blockDim.x * gridDim.x)

__global__ static void fill_kernel(float *x, float value, int64_t n)
{
    GRID_STRIDE(i, n)
        x[i] = value;
}

__global__ static void relu_forward_kernel(float *y, const float *x,
                                           int64_t n)
{
    GRID_STRIDE(i, n)
        y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

__global__ static void relu_backward_kernel(float *dx, const float *dy,
                                            const float *y, int64_t n)
{
    GRID_STRIDE(i, n)
        dx[i] += y[i] > 0.0f ? dy[i] : 0.0f;
}

#define GELU_SCALE 0.7978845608028654f /* sqrt(2/pi), as gelu.c */
#define GELU_CUBE 0.044715f

__global__ static void gelu_forward_kernel(float *y, const float *x,
                                           int64_t n)
{
    GRID_STRIDE(i, n) {
        float v = x[i];
        float t = tanhf(GELU_SCALE * (v + GELU_CUBE * v * v * v));
        y[i] = 0.5f * v * (1.0f + t);
    }
}

__global__ static void gelu_backward_kernel(float *dx, const float *dy,
                                            const float *x, int64_t n)
{
    GRID_STRIDE(i, n) {
        float v = x[i];
        float t = tanhf(GELU_SCALE * (v + GELU_CUBE * v * v * v));
        float dt = (1.0f - t * t) * GELU_SCALE *
                   (1.0f + 3.0f * GELU_CUBE * v * v);
        dx[i] += dy[i] * (0.5f * (1.0f + t) + 0.5f * v * dt);
    }
}

__global__ static void tanh_forward_kernel(float *y, const float *x,
                                           int64_t n)
{
    GRID_STRIDE(i, n)
        y[i] = tanhf(x[i]);
}

__global__ static void tanh_backward_kernel(float *dx, const float *dy,
                                            const float *y, int64_t n)
{
    GRID_STRIDE(i, n)
        dx[i] += dy[i] * (1.0f - y[i] * y[i]);
}

__global__ static void add_kernel(float *y, const float *a, const float *b,
                                  int64_t n)
{
    GRID_STRIDE(i, n)
        y[i] = a[i] + b[i];
}

__global__ static void accumulate_kernel(float *y, const float *x, int64_t n)
{
    GRID_STRIDE(i, n)
        y[i] += x[i];
}

/* Element i of the narrow (rows, w) side, and its column of the wide. */
__global__ static void columns_kernel(float *dst, const float *src,
                                      int64_t rows, int64_t w, int64_t C,
                                      int64_t off, int back)
{
    GRID_STRIDE(i, rows * w) {
        int64_t r = i / w, j = i - r * w;
        if (back)
            dst[i] += src[r * C + off + j];
        else
            dst[r * C + off + j] = src[i];
    }
}

/* dropout.c's mix(), bit for bit: the masks must agree across devices. */
__host__ __device__ static uint64_t mix(uint64_t z)
{
    z += 0x9e3779b97f4a7c15u;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* key = mix(seed) and scale are computed once on the host, as dropout.c
 * does before its loop; u is exact in double on both sides. */
__global__ static void dropout_kernel(float *out, const float *in,
                                      int64_t first, int64_t n, uint64_t key,
                                      double rate, float scale, int add)
{
    GRID_STRIDE(i, n) {
        double u = (double)(mix(key ^ (uint64_t)(first + i)) >> 11) *
                   0x1p-53;
        float v = u >= rate ? in[i] * scale : 0.0f;
        out[i] = add ? out[i] + v : v;
    }
}

/* ---- one warp per row -------------------------------------------------- */

#define ROW_LOOP(r, rows)                                                   \
    for (int64_t r = (int64_t)blockIdx.x * PP_ROW_WARPS +                   \
                     threadIdx.x / PP_WARP;                                 \
         r < (rows); r += (int64_t)gridDim.x * PP_ROW_WARPS)
#define LANE_LOOP(j, C)                                                     \
    for (int64_t j = threadIdx.x % PP_WARP; j < (C); j += PP_WARP)

/* As layernorm.c: two passes (var from x - mean), rstd = 1 / sqrtf. */
__global__ static void layernorm_forward_kernel(float *y, float *stats,
                                                const float *x,
                                                const float *w,
                                                const float *b, int64_t rows,
                                                int64_t C, float eps)
{
    ROW_LOOP(r, rows) {
        const float *xr = x + r * C;
        float *yr = y + r * C;
        float sum = 0.0f;
        LANE_LOOP(j, C)
            sum += xr[j];
        float mean = warp_sum(sum) / (float)C;
        float sq = 0.0f;
        LANE_LOOP(j, C) {
            float d = xr[j] - mean;
            sq += d * d;
        }
        float rstd = 1.0f / sqrtf(warp_sum(sq) / (float)C + eps);
        LANE_LOOP(j, C)
            yr[j] = (xr[j] - mean) * rstd * w[j] + b[j];
        if (threadIdx.x % PP_WARP == 0) {
            stats[2 * r] = mean;
            stats[2 * r + 1] = rstd;
        }
    }
}

__global__ static void layernorm_backward_input_kernel(
    float *dx, const float *dy, const float *x, const float *stats,
    const float *w, int64_t rows, int64_t C)
{
    ROW_LOOP(r, rows) {
        const float *xr = x + r * C, *dyr = dy + r * C;
        float *dxr = dx + r * C;
        float mean = stats[2 * r], rstd = stats[2 * r + 1];
        float g_sum = 0.0f, gx_sum = 0.0f;
        LANE_LOOP(j, C) {
            float g = dyr[j] * w[j];
            g_sum += g;
            gx_sum += g * (xr[j] - mean) * rstd;
        }
        float g_mean = warp_sum(g_sum) / (float)C;
        float gx_mean = warp_sum(gx_sum) / (float)C;
        LANE_LOOP(j, C) {
            float xhat = (xr[j] - mean) * rstd;
            dxr[j] += rstd * (dyr[j] * w[j] - g_mean - xhat * gx_mean);
        }
    }
}

/* Per row: max and log-sum-exp, summed in double as softmax_xent.c does
 * but of float exps (FP64 exp costs more than its 1e-7 is worth), and
 * whether the target is a class. A bad target makes the row NaN. */
__device__ static void xent_row(const float *xr, int64_t C, float *max,
                                double *lse)
{
    float m = -CUDART_INF_F;
    LANE_LOOP(j, C)
        m = fmaxf(m, xr[j]);
    m = warp_max(m);
    double sum = 0.0;
    LANE_LOOP(j, C)
        sum += (double)expf(xr[j] - m);
    *max = m;
    *lse = log(warp_sum_double(sum));
}

__global__ static void xent_forward_kernel(double *row_loss, const float *x,
                                           const int32_t *target,
                                           int64_t rows, int64_t C)
{
    ROW_LOOP(r, rows) {
        const float *xr = x + r * C;
        float m;
        double lse;
        xent_row(xr, C, &m, &lse);
        int32_t t = target[r];
        if (threadIdx.x % PP_WARP == 0)
            row_loss[r] = t >= 0 && t < C ? lse - (double)(xr[t] - m)
                                          : CUDART_NAN;
    }
}

__global__ static void xent_backward_kernel(float *dx, const float *x,
                                            const int32_t *target,
                                            int64_t rows, int64_t C,
                                            double scale)
{
    ROW_LOOP(r, rows) {
        const float *xr = x + r * C;
        float *dxr = dx + r * C;
        float m;
        double lse;
        xent_row(xr, C, &m, &lse);
        int32_t t = target[r];
        int ok = t >= 0 && t < C;
        LANE_LOOP(j, C) {
            float p = expf((float)((double)(xr[j] - m) - lse));
            float v = (float)(scale * (double)p);
            if (j == t)
                v -= (float)scale;
            dxr[j] += ok ? v : CUDART_NAN_F;
        }
    }
}

/* ---- deterministic sums ------------------------------------------------ */

/* Block-wide sum of one double a thread, in a fixed tree; the result is
 * valid in thread 0. blockDim.x is PP_THREADS. */
__device__ static double block_sum(double v)
{
    __shared__ double part[PP_THREADS];
    part[threadIdx.x] = v;
    __syncthreads();
    for (int k = PP_THREADS / 2; k > 0; k >>= 1) {
        if (threadIdx.x < k)
            part[threadIdx.x] += part[threadIdx.x + k];
        __syncthreads();
    }
    double total = part[0];
    __syncthreads(); /* part is reused by the caller's next call */
    return total;
}

/* out (one float) = scale * sum(v (n)); one block, so the order is fixed. */
__global__ static void sum_scaled_kernel(float *out, const double *v,
                                         int64_t n, double scale)
{
    double s = 0.0;
    for (int64_t i = threadIdx.x; i < n; i += PP_THREADS)
        s += v[i];
    s = block_sum(s);
    if (threadIdx.x == 0)
        *out = (float)(s * scale);
}

/* sample_sum[s] = sum((x - t)^2) over sample s's `per` elements. */
__global__ static void mse_sample_kernel(double *sample_sum, const float *x,
                                         const float *t, int64_t samples,
                                         int64_t per)
{
    for (int64_t s = blockIdx.x; s < samples; s += gridDim.x) {
        const float *xs = x + s * per, *ts = t + s * per;
        double acc = 0.0;
        for (int64_t i = threadIdx.x; i < per; i += PP_THREADS) {
            double d = (double)xs[i] - (double)ts[i];
            acc += d * d;
        }
        acc = block_sum(acc);
        if (threadIdx.x == 0)
            sample_sum[s] = acc;
    }
}

__global__ static void mse_backward_kernel(float *dx, const float *x,
                                           const float *t, int64_t n,
                                           float k)
{
    GRID_STRIDE(i, n)
        dx[i] += k * (x[i] - t[i]);
}

/* dw, db (C) += column sums over rows. One block per strip of 32 columns:
 * thread (c, l) sums rows l, l + 32, ... of column c in row order, then
 * the 32 partial sums of a column meet in a fixed tree. */
#define LN_STRIP 32
#define LN_LANES 32

__global__ static void layernorm_backward_weight_kernel(
    float *dw, float *db, const float *dy, const float *x,
    const float *stats, int64_t rows, int64_t C)
{
    __shared__ float sw[LN_LANES][LN_STRIP + 1], sb[LN_LANES][LN_STRIP + 1];
    int c = threadIdx.x, l = threadIdx.y;
    int64_t col = (int64_t)blockIdx.x * LN_STRIP + c;
    float aw = 0.0f, ab = 0.0f;
    if (col < C)
        for (int64_t r = l; r < rows; r += LN_LANES) {
            float g = dy[r * C + col];
            aw += g * (x[r * C + col] - stats[2 * r]) * stats[2 * r + 1];
            ab += g;
        }
    sw[l][c] = aw;
    sb[l][c] = ab;
    __syncthreads();
    for (int k = LN_LANES / 2; k > 0; k >>= 1) {
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

/* ---- embedding ---------------------------------------------------------- */

__global__ static void embedding_forward_kernel(float *out,
                                                const int32_t *ids,
                                                const float *weight,
                                                int64_t tokens, int64_t dim,
                                                int64_t vocab)
{
    GRID_STRIDE(i, tokens * dim) {
        int64_t t = i / dim, d = i - t * dim;
        int32_t id = ids[t];
        out[i] = id >= 0 && id < vocab ? weight[(int64_t)id * dim + d]
                                       : CUDART_NAN_F;
    }
}

/* The scatter-add without atomics. Rows are dealt to EMB_BUCKETS buckets
 * (id % buckets); thread (d, b) scans every id and adds, in token order,
 * the tokens of bucket b to element d of their row. Each element of the
 * table thus has one writer and the CPU's order: the same bits as
 * embedding.c, whatever the bucket count. The cost: every warp reads all
 * ids (tokens x buckets x dim/32 cached broadcast loads), and a thread's
 * read-modify-writes form one chain of about tokens / buckets. 64 buckets
 * keep that chain short while the id scan stays cheap next to the rows. */
#define EMB_BUCKETS 64
#define EMB_STRIP 32
#define EMB_BUCKETS_PER_BLOCK 8

__global__ static void embedding_backward_kernel(float *dweight,
                                                 const float *dout,
                                                 const int32_t *ids,
                                                 int64_t tokens, int64_t dim,
                                                 int64_t vocab, int buckets)
{
    int64_t d = (int64_t)blockIdx.x * EMB_STRIP + threadIdx.x;
    int b = blockIdx.y * EMB_BUCKETS_PER_BLOCK + threadIdx.y;
    if (d >= dim || b >= buckets)
        return;
    for (int64_t t = 0; t < tokens; t++) {
        int32_t id = ids[t];
        if (id < 0 || id >= vocab || id % buckets != b)
            continue;
        dweight[(int64_t)id * dim + d] += dout[t * dim + d];
    }
}

/* ---- launchers ---------------------------------------------------------- */

/* An empty grid is a launch error, and n == 0 has nothing to do. */
#define LAUNCH_ELEMENTWISE(kernel, s, n, ...)                               \
    do {                                                                    \
        if ((n) > 0)                                                        \
            kernel<<<blocks_for((n), PP_THREADS), PP_THREADS, 0, (s)>>>(    \
                __VA_ARGS__);                                               \
        return cudaGetLastError();                                          \
    } while (0)

#define LAUNCH_ROWS(kernel, s, rows, ...)                                   \
    do {                                                                    \
        if ((rows) > 0)                                                     \
            kernel<<<blocks_for((rows), PP_ROW_WARPS),                      \
                     PP_ROW_WARPS * PP_WARP, 0, (s)>>>(__VA_ARGS__);        \
        return cudaGetLastError();                                          \
    } while (0)

extern "C" cudaError_t pp_cuda_fill(cudaStream_t s, float *x, float value,
                                    int64_t n)
{
    LAUNCH_ELEMENTWISE(fill_kernel, s, n, x, value, n);
}

extern "C" cudaError_t pp_cuda_relu_forward(cudaStream_t s, float *y,
                                            const float *x, int64_t n)
{
    LAUNCH_ELEMENTWISE(relu_forward_kernel, s, n, y, x, n);
}

extern "C" cudaError_t pp_cuda_relu_backward(cudaStream_t s, float *dx,
                                             const float *dy, const float *y,
                                             int64_t n)
{
    LAUNCH_ELEMENTWISE(relu_backward_kernel, s, n, dx, dy, y, n);
}

extern "C" cudaError_t pp_cuda_gelu_forward(cudaStream_t s, float *y,
                                            const float *x, int64_t n)
{
    LAUNCH_ELEMENTWISE(gelu_forward_kernel, s, n, y, x, n);
}

extern "C" cudaError_t pp_cuda_gelu_backward(cudaStream_t s, float *dx,
                                             const float *dy, const float *x,
                                             int64_t n)
{
    LAUNCH_ELEMENTWISE(gelu_backward_kernel, s, n, dx, dy, x, n);
}

extern "C" cudaError_t pp_cuda_tanh_forward(cudaStream_t s, float *y,
                                            const float *x, int64_t n)
{
    LAUNCH_ELEMENTWISE(tanh_forward_kernel, s, n, y, x, n);
}

extern "C" cudaError_t pp_cuda_tanh_backward(cudaStream_t s, float *dx,
                                             const float *dy, const float *y,
                                             int64_t n)
{
    LAUNCH_ELEMENTWISE(tanh_backward_kernel, s, n, dx, dy, y, n);
}

extern "C" cudaError_t pp_cuda_add(cudaStream_t s, float *y, const float *a,
                                   const float *b, int64_t n)
{
    LAUNCH_ELEMENTWISE(add_kernel, s, n, y, a, b, n);
}

extern "C" cudaError_t pp_cuda_accumulate(cudaStream_t s, float *y,
                                          const float *x, int64_t n)
{
    LAUNCH_ELEMENTWISE(accumulate_kernel, s, n, y, x, n);
}

extern "C" cudaError_t pp_cuda_columns(cudaStream_t s, float *dst,
                                       const float *src, int64_t rows,
                                       int64_t w, int64_t C, int64_t off,
                                       int back)
{
    LAUNCH_ELEMENTWISE(columns_kernel, s, rows * w, dst, src, rows, w, C,
                       off, back);
}

extern "C" cudaError_t pp_cuda_dropout(cudaStream_t s, float *out,
                                       const float *in, int64_t first,
                                       int64_t n, uint64_t seed, double rate,
                                       int add)
{
    float scale = (float)(1.0 / (1.0 - rate));
    LAUNCH_ELEMENTWISE(dropout_kernel, s, n, out, in, first, n, mix(seed),
                       rate, scale, add);
}

extern "C" cudaError_t pp_cuda_layernorm_forward(cudaStream_t s, float *y,
                                                 float *stats,
                                                 const float *x,
                                                 const float *w,
                                                 const float *b,
                                                 int64_t rows, int64_t C,
                                                 float eps)
{
    LAUNCH_ROWS(layernorm_forward_kernel, s, rows, y, stats, x, w, b, rows,
                C, eps);
}

extern "C" cudaError_t pp_cuda_layernorm_backward_input(
    cudaStream_t s, float *dx, const float *dy, const float *x,
    const float *stats, const float *w, int64_t rows, int64_t C)
{
    LAUNCH_ROWS(layernorm_backward_input_kernel, s, rows, dx, dy, x, stats,
                w, rows, C);
}

extern "C" cudaError_t pp_cuda_layernorm_backward_weight(
    cudaStream_t s, float *dw, float *db, const float *dy, const float *x,
    const float *stats, int64_t rows, int64_t C)
{
    if (rows > 0 && C > 0)
        layernorm_backward_weight_kernel<<<
            (unsigned)((C + LN_STRIP - 1) / LN_STRIP),
            dim3(LN_STRIP, LN_LANES), 0, s>>>(dw, db, dy, x, stats, rows, C);
    return cudaGetLastError();
}

extern "C" cudaError_t pp_cuda_embedding_forward(cudaStream_t s, float *out,
                                                 const int32_t *ids,
                                                 const float *weight,
                                                 int64_t tokens, int64_t dim,
                                                 int64_t vocab)
{
    LAUNCH_ELEMENTWISE(embedding_forward_kernel, s, tokens * dim, out, ids,
                       weight, tokens, dim, vocab);
}

extern "C" cudaError_t pp_cuda_embedding_backward_weight(
    cudaStream_t s, float *dweight, const float *dout, const int32_t *ids,
    int64_t tokens, int64_t dim, int64_t vocab)
{
    int buckets = vocab < EMB_BUCKETS ? (int)vocab : EMB_BUCKETS;
    dim3 grid((unsigned)((dim + EMB_STRIP - 1) / EMB_STRIP),
              (unsigned)((buckets + EMB_BUCKETS_PER_BLOCK - 1) /
                         EMB_BUCKETS_PER_BLOCK));
    if (tokens > 0 && dim > 0)
        embedding_backward_kernel<<<grid,
                                    dim3(EMB_STRIP, EMB_BUCKETS_PER_BLOCK),
                                    0, s>>>(dweight, dout, ids, tokens, dim,
                                            vocab, buckets);
    return cudaGetLastError();
}

/* Two launches, one stream: per-row losses into scratch, then one block
 * sums them. An empty micro-batch still writes its loss, 0. */
extern "C" cudaError_t pp_cuda_xent_forward(cudaStream_t s, float *loss,
                                            double *row_loss, const float *x,
                                            const int32_t *target,
                                            int64_t rows, int64_t C,
                                            double scale)
{
    if (rows > 0)
        xent_forward_kernel<<<blocks_for(rows, PP_ROW_WARPS),
                              PP_ROW_WARPS * PP_WARP, 0, s>>>(
            row_loss, x, target, rows, C);
    sum_scaled_kernel<<<1, PP_THREADS, 0, s>>>(loss, row_loss, rows, scale);
    return cudaGetLastError();
}

extern "C" cudaError_t pp_cuda_xent_backward(cudaStream_t s, float *dx,
                                             const float *x,
                                             const int32_t *target,
                                             int64_t rows, int64_t C,
                                             double scale)
{
    LAUNCH_ROWS(xent_backward_kernel, s, rows, dx, x, target, rows, C,
                scale);
}

extern "C" cudaError_t pp_cuda_mse_forward(cudaStream_t s, float *loss,
                                           double *sample_sum,
                                           const float *x, const float *t,
                                           int64_t samples, int64_t per,
                                           double scale)
{
    if (samples > 0)
        mse_sample_kernel<<<blocks_for(samples, 1), PP_THREADS, 0, s>>>(
            sample_sum, x, t, samples, per);
    sum_scaled_kernel<<<1, PP_THREADS, 0, s>>>(loss, sample_sum, samples,
                                               scale);
    return cudaGetLastError();
}

extern "C" cudaError_t pp_cuda_mse_backward(cudaStream_t s, float *dx,
                                            const float *x, const float *t,
                                            int64_t n, double scale)
{
    float k = (float)(2.0 * scale); /* as mse.c */
    LAUNCH_ELEMENTWISE(mse_backward_kernel, s, n, dx, x, t, n, k);
}
