/* layers/attention.cu - attention's device half: attention.c's formulas
 * as tiled kernels in the manner of FlashAttention-2, FP32 inside, x, y,
 * dy and dx float or bf16 (packed.h), the log-sum-exps FP32 as on the
 * CPU.
 *
 * A block of THREADS takes a tile of B query rows of one (sample, head)
 * (grid x: the tiles, grid y: sample and head) and walks the key tiles
 * it can see through shared memory, B rows at a time, B chosen per head
 * size so a block's tiles fit in 48 KiB (tile_rows). forward keeps a
 * running max and sum per row and rescales its FP32 output as it goes
 * (online softmax), so the T x T scores never exist. backward is three
 * launches: D_t = dy_t . y_t a row (into the workspace), then dk and dv
 * by one kernel that walks the query tiles of each key tile, and dq by
 * another that walks the key tiles of each query tile. Each gradient
 * element is summed by one thread in a fixed order and added to dx once:
 * no atomics, the same bits every run. The two backward kernels both
 * recompute the probabilities, the price of that.
 *
 * Sums differ from the CPU's in order (the online softmax's rescaling, a
 * butterfly over a tile's 32 keys) and expf's ulps: the tests allow for
 * it. Scores are plain FP32 multiply-adds, no tensor cores: tf32 runs as
 * fp32. Nothing here waits for the GPU or allocates.
 */
#include <config.h>

#include <math_constants.h>

#include "attention.h"
#include "packed.h"

#define THREADS 256
#define WARPS (THREADS / 32)
/* Tile rows: a warp's lanes take a row's keys, so at most 32. */
#define MAX_TILE 32
/* Shared memory a block takes without asking for more. */
#define SMEM_FLOATS (48 * 1024 / 4)

/* The row stride of a tile that lanes read a row each (k and v when the
 * scores are made): odd, so 32 rows fall in 32 banks. */
__host__ __device__ static constexpr int odd(int hs)
{
    return hs | 1;
}

enum kernel_kind { FORWARD, DQ, DKDV };

/* The floats of shared memory a block of kind takes with tiles of B rows
 * of hs; the kernels lay them out in this order. */
__host__ __device__ static constexpr int smem_floats(int kind, int B, int hs)
{
    return kind == FORWARD ? B * (3 * hs + odd(hs) + B + 3) /* q o v, k, p,
                                                               m l alpha */
         : kind == DQ      ? B * (3 * hs + 2 * odd(hs) + B + 2) /* q dy dq,
                                                            k v, ds, lse D */
                           : B * (4 * hs + 2 * odd(hs) + 2 * B + 2);
    /* DKDV: q dy dk dv, k v, p ds, lse D */
}

static_assert(smem_floats(DKDV, 1, ATTENTION_MAX_HEAD) <= SMEM_FLOATS,
              "a head of ATTENTION_MAX_HEAD does not fit in one tile");

/* Where a call's tensors are: sample b's row t starts at (b T + t) 3d in
 * x, (b T + t) d in y; head h's q, k and v at h hs, d + h hs, 2d + h hs
 * of a row of x, its output at h hs of a row of y; its lse and D at
 * (b heads + h) T + t. */
struct dims {
    int64_t T, d, hs, nbh; /* nbh: samples x heads */
    int heads, causal;
    float scale;
};

/* tile[r][c] (row stride `stride`) = src's rows row0 + r, hs of them from
 * column col (row stride W), for r < B; 0 past row T. */
template <typename T>
__device__ static void load_tile(float *tile, int stride, const T *src,
                                 int64_t W, int64_t row0, int64_t T_,
                                 int B, int hs)
{
    for (int i = threadIdx.x; i < B * hs; i += THREADS) {
        int r = i / hs, c = i % hs;
        int64_t t = row0 + r;
        tile[r * stride + c] = t < T_ ? elem_load(src + t * W + c) : 0.0f;
    }
}

__device__ static void zero(float *p, int n)
{
    for (int i = threadIdx.x; i < n; i += THREADS)
        p[i] = 0.0f;
}

__device__ static float dot(const float *a, const float *b, int n)
{
    float s = 0.0f;
    for (int c = 0; c < n; c++)
        s += a[c] * b[c];
    return s;
}

/* Whether query i sees key j. */
__device__ static bool sees(int64_t i, int64_t j, const dims &m)
{
    return i < m.T && j < m.T && (!m.causal || j <= i);
}

/* y, lse: one tile of B query rows a block. */
template <typename T>
__global__ static void forward_tiles(T *y, float *lse, const T *x, dims m,
                                     int B)
{
    extern __shared__ float smem[];
    int hs = (int)m.hs, ks = odd(hs);
    float *q = smem, *o = q + B * hs, *v = o + B * hs, *k = v + B * hs;
    float *p = k + B * ks, *mx = p + B * B, *l = mx + B, *alpha = l + B;
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    int64_t W = 3 * m.d, i0 = (int64_t)blockIdx.x * B;
    int64_t last = m.causal ? i0 + B - 1 : m.T - 1; /* last key seen */
    for (int64_t bh = blockIdx.y; bh < m.nbh; bh += gridDim.y) {
        int64_t b = bh / m.heads, h = bh % m.heads;
        const T *xb = x + b * m.T * W + h * m.hs;
        load_tile(q, hs, xb, W, i0, m.T, B, hs);
        zero(o, B * hs);
        for (int r = threadIdx.x; r < B; r += THREADS) {
            mx[r] = -CUDART_INF_F;
            l[r] = 0.0f;
        }
        for (int64_t j0 = 0; j0 <= last && j0 < m.T; j0 += B) {
            load_tile(k, ks, xb + m.d, W, j0, m.T, B, hs);
            load_tile(v, hs, xb + 2 * m.d, W, j0, m.T, B, hs);
            __syncthreads();
            for (int e = threadIdx.x; e < B * B; e += THREADS) {
                int r = e / B, j = e % B;
                p[e] = sees(i0 + r, j0 + j, m)
                           ? m.scale * dot(q + r * hs, k + j * ks, hs)
                           : -CUDART_INF_F;
            }
            __syncthreads();
            /* A warp a row: the tile's max, the running max and sum. */
            for (int r = warp; r < B; r += WARPS) {
                float s = lane < B ? p[r * B + lane] : -CUDART_INF_F;
                float m1 = fmaxf(mx[r], pp_warp_max(s));
                /* m1 is -inf only on rows past T, which see nothing. */
                float e = m1 == -CUDART_INF_F || s == -CUDART_INF_F
                              ? 0.0f : expf(s - m1);
                float a = m1 == -CUDART_INF_F ? 1.0f : expf(mx[r] - m1);
                float sum = pp_warp_sum(e);
                if (lane < B)
                    p[r * B + lane] = e;
                if (lane == 0) {
                    l[r] = l[r] * a + sum;
                    mx[r] = m1;
                    alpha[r] = a;
                }
            }
            __syncthreads();
            for (int e = threadIdx.x; e < B * hs; e += THREADS) {
                int r = e / hs, c = e % hs;
                float acc = 0.0f;
                for (int j = 0; j < B; j++)
                    acc += p[r * B + j] * v[j * hs + c];
                o[e] = o[e] * alpha[r] + acc;
            }
            __syncthreads();
        }
        for (int e = threadIdx.x; e < B * hs; e += THREADS) {
            int r = e / hs, c = e % hs;
            int64_t t = i0 + r;
            if (t < m.T)
                elem_store(y + (b * m.T + t) * m.d + h * m.hs + c,
                           o[e] / l[r]);
        }
        for (int r = threadIdx.x; r < B; r += THREADS)
            if (i0 + r < m.T)
                lse[bh * m.T + i0 + r] = mx[r] + logf(l[r]);
        __syncthreads();
    }
}

/* D (nbh, T) = dy_t . y_t, a warp a row. */
template <typename T>
__global__ static void row_dots(float *D, const T *dy, const T *y, dims m)
{
    PP_CUDA_ROW_LOOP(r, m.nbh * m.T) {
        int64_t bh = r / m.T, t = r % m.T;
        int64_t b = bh / m.heads, h = bh % m.heads;
        int64_t at = (b * m.T + t) * m.d + h * m.hs;
        float s = 0.0f;
        PP_CUDA_LANE_LOOP(c, m.hs)
            s += elem_load(dy + at + c) * elem_load(y + at + c);
        s = pp_warp_sum(s);
        if (threadIdx.x % 32 == 0)
            D[r] = s;
    }
}

/* For a tile of B query rows (q, dy, lse, D) and one of B keys (k, v):
 * p[r][j] = P and ds[r][j] = P (dy_r . v_j - D_r), 0 where r does not see
 * j. p may be NULL. */
__device__ static void scores_back(float *p, float *ds, const float *q,
                                   const float *g, const float *k,
                                   const float *v, const float *lse,
                                   const float *D, int64_t i0, int64_t j0,
                                   int B, int hs, const dims &m)
{
    int ks = odd(hs);
    for (int e = threadIdx.x; e < B * B; e += THREADS) {
        int r = e / B, j = e % B;
        float P = 0.0f, dS = 0.0f;
        if (sees(i0 + r, j0 + j, m)) {
            P = expf(m.scale * dot(q + r * hs, k + j * ks, hs) - lse[r]);
            dS = P * (dot(g + r * hs, v + j * ks, hs) - D[r]);
        }
        if (p)
            p[e] = P;
        ds[e] = dS;
    }
}

/* lse and D of rows i0 .. i0 + B - 1 (0 past T) into shared memory. */
__device__ static void load_rows(float *to, const float *from, int64_t i0,
                                 int64_t T_, int B)
{
    for (int r = threadIdx.x; r < B; r += THREADS)
        to[r] = i0 + r < T_ ? from[i0 + r] : 0.0f;
}

/* dst[r][c] (row stride W, rows i0 + r < T) += scale acc[r][c]: one
 * rounding in bf16. */
template <typename T>
__device__ static void add_tile(T *dst, int64_t W, const float *acc,
                                float scale, int64_t i0, int64_t T_, int B,
                                int hs)
{
    for (int e = threadIdx.x; e < B * hs; e += THREADS) {
        int r = e / hs, c = e % hs;
        if (i0 + r < T_) {
            T *at = dst + (i0 + r) * W + c;
            elem_store(at, elem_load(at) + scale * acc[e]);
        }
    }
}

/* dq: one tile of B query rows a block, over the key tiles it sees. */
template <typename T>
__global__ static void dq_tiles(T *dx, const T *dy, const T *x,
                                const float *lse, const float *D, dims m,
                                int B)
{
    extern __shared__ float smem[];
    int hs = (int)m.hs, ks = odd(hs);
    float *q = smem, *g = q + B * hs, *dq = g + B * hs, *k = dq + B * hs;
    float *v = k + B * ks, *ds = v + B * ks, *sl = ds + B * B, *sd = sl + B;
    int64_t W = 3 * m.d, i0 = (int64_t)blockIdx.x * B;
    int64_t last = m.causal ? i0 + B - 1 : m.T - 1;
    for (int64_t bh = blockIdx.y; bh < m.nbh; bh += gridDim.y) {
        int64_t b = bh / m.heads, h = bh % m.heads;
        const T *xb = x + b * m.T * W + h * m.hs;
        load_tile(q, hs, xb, W, i0, m.T, B, hs);
        load_tile(g, hs, dy + b * m.T * m.d + h * m.hs, m.d, i0, m.T, B, hs);
        load_rows(sl, lse + bh * m.T, i0, m.T, B);
        load_rows(sd, D + bh * m.T, i0, m.T, B);
        zero(dq, B * hs);
        for (int64_t j0 = 0; j0 <= last && j0 < m.T; j0 += B) {
            load_tile(k, ks, xb + m.d, W, j0, m.T, B, hs);
            load_tile(v, ks, xb + 2 * m.d, W, j0, m.T, B, hs);
            __syncthreads();
            scores_back(NULL, ds, q, g, k, v, sl, sd, i0, j0, B, hs, m);
            __syncthreads();
            for (int e = threadIdx.x; e < B * hs; e += THREADS) {
                int r = e / hs, c = e % hs;
                float acc = 0.0f;
                for (int j = 0; j < B; j++)
                    acc += ds[r * B + j] * k[j * ks + c];
                dq[e] += acc;
            }
            __syncthreads();
        }
        add_tile(dx + b * m.T * W + h * m.hs, W, dq, m.scale, i0, m.T, B,
                 hs);
        __syncthreads();
    }
}

/* dk and dv: one tile of B keys a block, over the query tiles that see
 * it. */
template <typename T>
__global__ static void dkdv_tiles(T *dx, const T *dy, const T *x,
                                  const float *lse, const float *D, dims m,
                                  int B)
{
    extern __shared__ float smem[];
    int hs = (int)m.hs, ks = odd(hs);
    float *q = smem, *g = q + B * hs, *dk = g + B * hs, *dv = dk + B * hs;
    float *k = dv + B * hs, *v = k + B * ks, *p = v + B * ks;
    float *ds = p + B * B, *sl = ds + B * B, *sd = sl + B;
    int64_t W = 3 * m.d, j0 = (int64_t)blockIdx.x * B;
    for (int64_t bh = blockIdx.y; bh < m.nbh; bh += gridDim.y) {
        int64_t b = bh / m.heads, h = bh % m.heads;
        const T *xb = x + b * m.T * W + h * m.hs;
        const T *gb = dy + b * m.T * m.d + h * m.hs;
        load_tile(k, ks, xb + m.d, W, j0, m.T, B, hs);
        load_tile(v, ks, xb + 2 * m.d, W, j0, m.T, B, hs);
        zero(dk, B * hs);
        zero(dv, B * hs);
        /* Causally, the first query tile to see key j0 is its own. */
        for (int64_t i0 = m.causal ? j0 : 0; i0 < m.T; i0 += B) {
            load_tile(q, hs, xb, W, i0, m.T, B, hs);
            load_tile(g, hs, gb, m.d, i0, m.T, B, hs);
            load_rows(sl, lse + bh * m.T, i0, m.T, B);
            load_rows(sd, D + bh * m.T, i0, m.T, B);
            __syncthreads();
            scores_back(p, ds, q, g, k, v, sl, sd, i0, j0, B, hs, m);
            __syncthreads();
            for (int e = threadIdx.x; e < B * hs; e += THREADS) {
                int j = e / hs, c = e % hs;
                float ak = 0.0f, av = 0.0f;
                for (int r = 0; r < B; r++) {
                    ak += ds[r * B + j] * q[r * hs + c];
                    av += p[r * B + j] * g[r * hs + c];
                }
                dk[e] += ak;
                dv[e] += av;
            }
            __syncthreads();
        }
        T *db = dx + b * m.T * W + h * m.hs;
        add_tile(db + m.d, W, dk, m.scale, j0, m.T, B, hs);
        add_tile(db + 2 * m.d, W, dv, 1.0f, j0, m.T, B, hs);
        __syncthreads();
    }
}

/* ---- the host side ------------------------------------------------------ */

static dims dims_of(const pp_layer_call *c)
{
    attention_dims a = attention_dims_of(c);
    return dims{a.T, a.d, a.hs, (int64_t)c->n * a.heads, a.heads, a.causal,
                a.scale};
}

/* Tile rows for kind: the most, up to 32, whose tiles fit, and no more
 * than T needs. */
static int tile_rows(int kind, const dims &m)
{
    int B = MAX_TILE;
    while (B > 1 && (smem_floats(kind, B, (int)m.hs) > SMEM_FLOATS ||
                     B / 2 >= m.T))
        B /= 2;
    return B;
}

/* A launch's grid: tiles of B rows of T, and (sample, head) pairs, up to
 * CUDA's 65535 (the kernels loop over the rest). */
static dim3 grid_of(const dims &m, int B)
{
    int64_t y = m.nbh < 65535 ? m.nbh : 65535;
    return dim3((unsigned)((m.T + B - 1) / B), (unsigned)y);
}

static size_t smem_bytes(int kind, int B, const dims &m)
{
    return (size_t)smem_floats(kind, B, (int)m.hs) * sizeof(float);
}

template <typename T>
static pp_status tiled_forward(const pp_layer_call *c, const void *const *x,
                               void *y, pp_error *err)
{
    dims m = dims_of(c);
    int B = tile_rows(FORWARD, m);
    auto kernel = forward_tiles<T>;
    if (m.nbh > 0)
        kernel<<<grid_of(m, B), THREADS, smem_bytes(FORWARD, B, m),
                 pp_cuda_stream(c)>>>((T *)y, (float *)c->saved,
                                      (const T *)x[0], m, B);
    return PP_CUDA_CHECK(cudaGetLastError(), err);
}

template <typename T>
static pp_status tiled_backward(const pp_layer_call *c,
                                const void *const *x, const void *y,
                                const void *dy, void *const *dx,
                                pp_error *err)
{
    dims m = dims_of(c);
    if (m.nbh == 0 || !dx[0])
        return PP_OK;
    cudaStream_t s = pp_cuda_stream(c);
    float *D = (float *)c->workspace;
    const float *lse = (const float *)c->saved;
    auto dots = row_dots<T>;
    dots<<<pp_cuda_row_blocks(m.nbh * m.T), PP_CUDA_ROW_THREADS, 0, s>>>(
        D, (const T *)dy, (const T *)y, m);
    int B = tile_rows(DKDV, m);
    auto kv = dkdv_tiles<T>;
    kv<<<grid_of(m, B), THREADS, smem_bytes(DKDV, B, m), s>>>(
        (T *)dx[0], (const T *)dy, (const T *)x[0], lse, D, m, B);
    B = tile_rows(DQ, m);
    auto q = dq_tiles<T>;
    q<<<grid_of(m, B), THREADS, smem_bytes(DQ, B, m), s>>>(
        (T *)dx[0], (const T *)dy, (const T *)x[0], lse, D, m, B);
    return PP_CUDA_CHECK(cudaGetLastError(), err);
}

/* How a call runs: these kernels, for now. cuDNN's fused attention (its
 * SDPA graphs built once in init) is to be another path chosen here, per
 * call, where it takes the shape and precision. */
enum attention_path { PATH_TILED };

static attention_path path_of(const pp_layer_call *c)
{
    (void)c;
    return PATH_TILED;
}

static pp_status forward(const pp_layer_call *c, const void *const *x,
                         void *y, pp_error *err)
{
    switch (path_of(c)) {
    case PATH_TILED:
        break;
    }
    return BY_DTYPE(c, tiled_forward, c, x, y, err);
}

static pp_status backward_input(const pp_layer_call *c, const void *const *x,
                                const void *y, const void *dy,
                                void *const *dx, pp_error *err)
{
    switch (path_of(c)) {
    case PATH_TILED:
        break;
    }
    return BY_DTYPE(c, tiled_backward, c, x, y, dy, dx, err);
}

extern "C" const pp_layer_kernels attention_cuda = {
    .forward = forward, .backward_input = backward_input};
