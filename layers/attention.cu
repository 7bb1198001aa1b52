/* layers/attention.cu - attention's device half: attention.c's formulas
 * as tiled kernels in the manner of FlashAttention-2, FP32 inside, x, y,
 * dy and dx float or bf16 (packed.h), the log-sum-exps FP32 as on the
 * CPU; and, in bf16 where it applies, cuDNN's fused attention instead
 * (the second half of this file says when, and how it is called).
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

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <math_constants.h>
#ifdef HAVE_CUDNN
#include <cudnn.h>
#endif

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

/* ---- the state, and which kernels a call runs --------------------------- */

/* auto runs cuDNN's fused attention (its SDPA graphs, in the form cuDNN's
 * frontend builds them, FlashAttention-2 on tensor cores) where all of
 * this holds, and the kernels above elsewhere:
 *   - bf16, and pipette built with cuDNN, 9.16 or newer at run time (no
 *     version workarounds needed: cudnn-frontend's list of them ends at
 *     9.15), with a handle on the rank (c->dnn);
 *   - compute capability 8.x or 9.x: cuDNN's SDPA needs 8.0, and on 10.x
 *     and newer its deterministic backward needs engine knobs pipette
 *     does not set;
 *   - heads of a multiple of 8 features, at most 128 (8.x) or 256 (9.x),
 *     and T >= 2 (cuDNN's documented support, attention.h);
 *   - x, y, dy, dx, saved and the workspace 16-byte aligned;
 *   - cuDNN has an engine for the graph whose notes do not say
 *     NONDETERMINISTIC, and its workspace fits in the call's or in one
 *     init could allocate.
 * kernels = cudnn makes a miss an error (at plan, init or the call, as
 * soon as it is known); kernels = pipette never runs cuDNN. Whichever
 * path the forward took, the backward reads the same saved log-sum-exps:
 * cuDNN's Stats are ours, max + log(sum) per (sample, head, position) in
 * FP32, so the two paths may mix. */

/* How cuDNN is called: its C graph (backend) API, building the graphs
 * cudnn-frontend's SDPA nodes lower to (matmul, pointwise, reduction,
 * reshape and GEN_INDEX operations, which cuDNN's fused attention engines
 * recognise), so nothing but cudnn.h is needed.
 *
 * Layout, without copies. A sample's rows of x hold q, k and v side by
 * side, so cuDNN's [B, H, S, D] tensors are views of x: dimensions
 * (n, heads, T, hs), strides (3 T d, hs, 3 d, 1), q at x, k at x + d, v at
 * x + 2d; y and dy likewise with d for 3d. K^T and V^T are the same
 * memory with the last two dimensions and strides swapped. The forward's
 * Stats, max + log(sum of exp) of each row of scores in FP32, dimensions
 * (n, heads, T, 1), strides (heads T, T, 1, 1), is our saved log-sum-exp
 * as it is, so either backward reads either forward's.
 *
 * Gradients. cuDNN's graphs write dq, dk and dv (=) and have no beta, so
 * they go to the workspace, in x's layout, and a kernel adds them into
 * dx (+=): one bf16 rounding more than our kernels make. The workspace
 * (attention_cudnn_scratch, attention.h) holds them, then the backward's
 * row sums dy . y (a non-virtual tensor of the frontend's graph), then
 * cuDNN's own workspace where it fits, else one the state allocates at
 * init.
 *
 * Determinism. The backward is built as the frontend's deterministic
 * variant (dQ straight from its matmul, no FP32 accumulator that atomics
 * would add into), and an engine is taken only if its numerical notes do
 * not say NONDETERMINISTIC: every path here repeats bit for bit. */

#ifdef HAVE_CUDNN
#define DNN_MIN_VERSION 91600
#define DNN_PLANS 4   /* numbers of samples kept per graph */
#define DNN_BAG 256   /* descriptors of one graph and its plan */
#define DNN_OPS 48
#define DNN_ALIGN 16  /* bytes: the alignment the graphs declare */

enum { DNN_FWD, DNN_BWD };

/* Tensor ids: the variant pack's, then the virtual ones. */
enum { UID_Q = 1, UID_K, UID_V, UID_O, UID_STATS, UID_DO, UID_DQ, UID_DK,
       UID_DV, UID_SUM, UID_SCALE, UID_NEGINF, UID_ONE, UID_VIRTUAL = 100 };

/* One graph's descriptors, destroyed together, and its operations. */
struct dnn_bag {
    cudnnBackendDescriptor_t d[DNN_BAG];
    int n;
    int64_t uid;
    cudnnBackendDescriptor_t op[DNN_OPS];
    int nops;
};

/* A graph for n samples, planned (ok) or not (why). */
struct dnn_plan {
    int n; /* 0: unused */
    int ok;
    char why[PP_ERROR_MAX];
    cudnnBackendDescriptor_t plan;
    int64_t workspace; /* cuDNN's, bytes */
    dnn_bag bag;
};
#endif

struct att_state {
    attention_cuda_report report; /* first: attention.h */
    int usable;                   /* cuDNN's path may run */
    char why[PP_ERROR_MAX];   /* why not */
#ifdef HAVE_CUDNN
    float scale, neginf, one;     /* by-value tensors */
    dnn_plan plans[2][DNN_PLANS];
    int next[2];
    void *ws;                     /* cuDNN's workspace where the call's */
    int64_t ws_bytes;             /* has too little room, made at init */
    int device;                   /* current at init: ws's */
#endif
};

static const attention_args *args_of(const pp_layer_call *c)
{
    return (const attention_args *)c->plan->args;
}

#ifdef HAVE_CUDNN
/* ---- cuDNN's graphs ----------------------------------------------------- */

#define DNN_SET(d, name, type, count, value)                                \
    PP_CUDNN_CHECK(cudnnBackendSetAttribute((d), (name), (type), (count),   \
                                            (value)),                       \
                   err)

static void bag_free(dnn_bag *b)
{
    for (int i = b->n - 1; i >= 0; i--)
        cudnnBackendDestroyDescriptor(b->d[i]);
    b->n = b->nops = 0;
}

static pp_status make(dnn_bag *b, cudnnBackendDescriptorType_t type,
                      cudnnBackendDescriptor_t *out, pp_error *err)
{
    if (b->n == DNN_BAG)
        return pp_error_set(err, PP_ERR_RUNTIME,
                            "attention: a cuDNN graph of more than %d "
                            "descriptors", DNN_BAG);
    if (PP_CUDNN_CHECK(cudnnBackendCreateDescriptor(type, out), err))
        return err->code;
    b->d[b->n++] = *out;
    return PP_OK;
}

/* A 4-d tensor: uid 0 makes a virtual one with the next id. */
static pp_status tensor(dnn_bag *b, int64_t uid, cudnnDataType_t type,
                        const int64_t dim[4], const int64_t stride[4],
                        bool byval, cudnnBackendDescriptor_t *t,
                        pp_error *err)
{
    bool virt = uid == 0;
    int64_t align = DNN_ALIGN;
    if (virt)
        uid = b->uid++;
    if (make(b, CUDNN_BACKEND_TENSOR_DESCRIPTOR, t, err) ||
        DNN_SET(*t, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1,
                &type) ||
        DNN_SET(*t, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 4, dim) ||
        DNN_SET(*t, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, 4,
                stride) ||
        DNN_SET(*t, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &uid) ||
        DNN_SET(*t, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1,
                &align) ||
        DNN_SET(*t, CUDNN_ATTR_TENSOR_IS_VIRTUAL, CUDNN_TYPE_BOOLEAN, 1,
                &virt) ||
        (byval && DNN_SET(*t, CUDNN_ATTR_TENSOR_IS_BY_VALUE,
                          CUDNN_TYPE_BOOLEAN, 1, &byval)) ||
        PP_CUDNN_CHECK(cudnnBackendFinalize(*t), err))
        return err->code;
    return PP_OK;
}

static pp_status add_op(dnn_bag *b, cudnnBackendDescriptor_t op,
                        pp_error *err)
{
    if (PP_CUDNN_CHECK(cudnnBackendFinalize(op), err))
        return err->code;
    if (b->nops == DNN_OPS)
        return pp_error_set(err, PP_ERR_RUNTIME,
                            "attention: a cuDNN graph of more than %d "
                            "operations", DNN_OPS);
    b->op[b->nops++] = op;
    return PP_OK;
}

/* y = mode(x, bb, t) in prec; axis for GEN_INDEX (else < 0); bb and t
 * NULL where the mode takes none. */
static pp_status pointwise(dnn_bag *b, cudnnPointwiseMode_t mode,
                           cudnnDataType_t prec, int64_t axis,
                           cudnnBackendDescriptor_t x,
                           cudnnBackendDescriptor_t bb,
                           cudnnBackendDescriptor_t t,
                           cudnnBackendDescriptor_t y, pp_error *err)
{
    cudnnBackendDescriptor_t pw, op;
    if (make(b, CUDNN_BACKEND_POINTWISE_DESCRIPTOR, &pw, err) ||
        DNN_SET(pw, CUDNN_ATTR_POINTWISE_MODE, CUDNN_TYPE_POINTWISE_MODE, 1,
                &mode) ||
        DNN_SET(pw, CUDNN_ATTR_POINTWISE_MATH_PREC, CUDNN_TYPE_DATA_TYPE, 1,
                &prec) ||
        (axis >= 0 && DNN_SET(pw, CUDNN_ATTR_POINTWISE_AXIS, CUDNN_TYPE_INT64,
                              1, &axis)) ||
        PP_CUDNN_CHECK(cudnnBackendFinalize(pw), err) ||
        make(b, CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR, &op, err) ||
        DNN_SET(op, CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR,
                CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &pw) ||
        DNN_SET(op, CUDNN_ATTR_OPERATION_POINTWISE_XDESC,
                CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &x) ||
        (bb && DNN_SET(op, CUDNN_ATTR_OPERATION_POINTWISE_BDESC,
                       CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &bb)) ||
        (t && DNN_SET(op, CUDNN_ATTR_OPERATION_POINTWISE_TDESC,
                      CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &t)) ||
        DNN_SET(op, CUDNN_ATTR_OPERATION_POINTWISE_YDESC,
                CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &y))
        return err->code;
    return add_op(b, op, err);
}

/* c = a b, FP32 sums. */
static pp_status matmul(dnn_bag *b, cudnnBackendDescriptor_t a,
                        cudnnBackendDescriptor_t bb,
                        cudnnBackendDescriptor_t c, pp_error *err)
{
    cudnnDataType_t f = CUDNN_DATA_FLOAT;
    cudnnBackendDescriptor_t mm, op;
    if (make(b, CUDNN_BACKEND_MATMUL_DESCRIPTOR, &mm, err) ||
        DNN_SET(mm, CUDNN_ATTR_MATMUL_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1,
                &f) ||
        PP_CUDNN_CHECK(cudnnBackendFinalize(mm), err) ||
        make(b, CUDNN_BACKEND_OPERATION_MATMUL_DESCRIPTOR, &op, err) ||
        DNN_SET(op, CUDNN_ATTR_OPERATION_MATMUL_ADESC,
                CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &a) ||
        DNN_SET(op, CUDNN_ATTR_OPERATION_MATMUL_BDESC,
                CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &bb) ||
        DNN_SET(op, CUDNN_ATTR_OPERATION_MATMUL_CDESC,
                CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &c) ||
        DNN_SET(op, CUDNN_ATTR_OPERATION_MATMUL_DESC,
                CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &mm))
        return err->code;
    return add_op(b, op, err);
}

/* y = x reduced by `how` over the dimensions where y has 1. */
static pp_status reduction(dnn_bag *b, cudnnReduceTensorOp_t how,
                           cudnnBackendDescriptor_t x,
                           cudnnBackendDescriptor_t y, pp_error *err)
{
    cudnnDataType_t f = CUDNN_DATA_FLOAT;
    cudnnBackendDescriptor_t r, op;
    if (make(b, CUDNN_BACKEND_REDUCTION_DESCRIPTOR, &r, err) ||
        DNN_SET(r, CUDNN_ATTR_REDUCTION_OPERATOR,
                CUDNN_TYPE_REDUCTION_OPERATOR_TYPE, 1, &how) ||
        DNN_SET(r, CUDNN_ATTR_REDUCTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1,
                &f) ||
        PP_CUDNN_CHECK(cudnnBackendFinalize(r), err) ||
        make(b, CUDNN_BACKEND_OPERATION_REDUCTION_DESCRIPTOR, &op, err) ||
        DNN_SET(op, CUDNN_ATTR_OPERATION_REDUCTION_XDESC,
                CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &x) ||
        DNN_SET(op, CUDNN_ATTR_OPERATION_REDUCTION_YDESC,
                CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &y) ||
        DNN_SET(op, CUDNN_ATTR_OPERATION_REDUCTION_DESC,
                CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &r))
        return err->code;
    return add_op(b, op, err);
}

/* y: x's elements seen with y's dimensions and strides (a transpose). */
static pp_status reshape(dnn_bag *b, cudnnBackendDescriptor_t x,
                         cudnnBackendDescriptor_t y, pp_error *err)
{
    cudnnBackendDescriptor_t op;
    if (make(b, CUDNN_BACKEND_OPERATION_RESHAPE_DESCRIPTOR, &op, err) ||
        DNN_SET(op, CUDNN_ATTR_OPERATION_RESHAPE_XDESC,
                CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &x) ||
        DNN_SET(op, CUDNN_ATTR_OPERATION_RESHAPE_YDESC,
                CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &y))
        return err->code;
    return add_op(b, op, err);
}

/* The sizes a graph's tensors take: the n samples as the batch, heads,
 * T rows and hs columns; q, k, v and their gradients as rows of 3d
 * (W), y and dy as rows of d. */
struct dnn_shapes {
    int64_t rows[4], rows_st[4]; /* q k v dq dk dv: (n, H, T, hs) in 3d */
    int64_t cols_st[4];          /* k^T, v^T: (n, H, hs, T) in 3d */
    int64_t cols[4];
    int64_t out_st[4];           /* y, dy: (n, H, T, hs) in d */
    int64_t scores[4], scores_st[4], scores_t_st[4]; /* (n, H, T, T) */
    int64_t row1[4], row1_st[4]; /* (n, H, T, 1): stats, sums */
    int64_t dense[4];            /* (n, H, T, hs) dense */
};

static dnn_shapes shapes_of(const attention_dims &a, int64_t n)
{
    int64_t H = a.heads, T = a.T, hs = a.hs, d = a.d, W = 3 * d;
    dnn_shapes s = {{n, H, T, hs}, {T * W, hs, W, 1}, {T * W, hs, 1, W},
                    {n, H, hs, T}, {T * d, hs, d, 1}, {n, H, T, T},
                    {H * T * T, T * T, T, 1}, {H * T * T, T * T, 1, T},
                    {n, H, T, 1}, {H * T, T, 1, 1},
                    {H * T * hs, T * hs, hs, 1}};
    return s;
}

static const int64_t one4[4] = {1, 1, 1, 1};

/* s = mask(scores) causally: -inf where the key is past the query, as
 * the frontend's causal mask (top-left diagonal, right bound 0). */
static pp_status causal_mask(dnn_bag *b, const dnn_shapes &s,
                             cudnnBackendDescriptor_t scores,
                             cudnnBackendDescriptor_t neginf,
                             cudnnBackendDescriptor_t *masked, pp_error *err)
{
    cudnnBackendDescriptor_t row, col, keep;
    const cudnnDataType_t f = CUDNN_DATA_FLOAT, i32 = CUDNN_DATA_INT32,
                          b8 = CUDNN_DATA_BOOLEAN;
    if (tensor(b, 0, i32, s.scores, s.scores_st, false, &row, err) ||
        pointwise(b, CUDNN_POINTWISE_GEN_INDEX, f, 2, scores, NULL, NULL, row,
                  err) ||
        tensor(b, 0, i32, s.scores, s.scores_st, false, &col, err) ||
        pointwise(b, CUDNN_POINTWISE_GEN_INDEX, f, 3, scores, NULL, NULL, col,
                  err) ||
        tensor(b, 0, b8, s.scores, s.scores_st, false, &keep, err) ||
        pointwise(b, CUDNN_POINTWISE_CMP_GE, b8, -1, row, col, NULL, keep,
                  err) ||
        tensor(b, 0, f, s.scores, s.scores_st, false, masked, err) ||
        pointwise(b, CUDNN_POINTWISE_BINARY_SELECT, f, -1, scores, neginf,
                  keep, *masked, err))
        return err->code;
    return PP_OK;
}

/* The forward, as cudnn-frontend's SDPA node lowers it (generate_stats):
 *   S = scale Q K^T, masked; M = max_j S; E = exp(S - M); L = sum_j E;
 *   Stats = M + log L; P = E / L (bf16); O = P V. */
static pp_status build_forward(const attention_dims &a, int64_t n,
                               dnn_bag *b, pp_error *err)
{
    dnn_shapes s = shapes_of(a, n);
    const cudnnDataType_t bf = CUDNN_DATA_BFLOAT16, f = CUDNN_DATA_FLOAT;
    cudnnBackendDescriptor_t q, kt, v, o, stats, scale, neginf = NULL;
    cudnnBackendDescriptor_t s0, s1, m, s3, e, l, logl, p;
    if (tensor(b, UID_Q, bf, s.rows, s.rows_st, false, &q, err) ||
        tensor(b, UID_K, bf, s.cols, s.cols_st, false, &kt, err) ||
        tensor(b, UID_V, bf, s.rows, s.rows_st, false, &v, err) ||
        tensor(b, UID_O, bf, s.rows, s.out_st, false, &o, err) ||
        tensor(b, UID_STATS, f, s.row1, s.row1_st, false, &stats, err) ||
        tensor(b, UID_SCALE, f, one4, one4, true, &scale, err) ||
        (a.causal &&
         tensor(b, UID_NEGINF, f, one4, one4, true, &neginf, err)) ||
        tensor(b, 0, f, s.scores, s.scores_st, false, &s0, err) ||
        matmul(b, q, kt, s0, err) ||
        tensor(b, 0, f, s.scores, s.scores_st, false, &s1, err) ||
        pointwise(b, CUDNN_POINTWISE_MUL, f, -1, s0, scale, NULL, s1, err) ||
        (a.causal && causal_mask(b, s, s1, neginf, &s1, err)) ||
        tensor(b, 0, f, s.row1, s.row1_st, false, &m, err) ||
        reduction(b, CUDNN_REDUCE_TENSOR_MAX, s1, m, err) ||
        tensor(b, 0, f, s.scores, s.scores_st, false, &s3, err) ||
        pointwise(b, CUDNN_POINTWISE_SUB, f, -1, s1, m, NULL, s3, err) ||
        tensor(b, 0, f, s.scores, s.scores_st, false, &e, err) ||
        pointwise(b, CUDNN_POINTWISE_EXP, f, -1, s3, NULL, NULL, e, err) ||
        tensor(b, 0, f, s.row1, s.row1_st, false, &l, err) ||
        reduction(b, CUDNN_REDUCE_TENSOR_ADD, e, l, err) ||
        tensor(b, 0, f, s.row1, s.row1_st, false, &logl, err) ||
        pointwise(b, CUDNN_POINTWISE_LOG, f, -1, l, NULL, NULL, logl, err) ||
        pointwise(b, CUDNN_POINTWISE_ADD, f, -1, m, logl, NULL, stats, err) ||
        tensor(b, 0, bf, s.scores, s.scores_st, false, &p, err) ||
        pointwise(b, CUDNN_POINTWISE_DIV, f, -1, e, l, NULL, p, err) ||
        matmul(b, p, v, o, err))
        return err->code;
    return PP_OK;
}

/* The backward, as the frontend's SDPA backward node lowers it with its
 * deterministic algorithm (dQ straight from its matmul, no FP32 dQ
 * accumulator in the workspace):
 *   Sum = rowsum(dO * O) (non-virtual: our scratch);
 *   P = exp(scale Q K^T - Stats), masked; dV = P^T dO;
 *   dS = scale P (dO V^T - Sum); dK = dS^T Q; dQ = dS K. */
static pp_status build_backward(const attention_dims &a, int64_t n,
                                dnn_bag *b, pp_error *err)
{
    dnn_shapes s = shapes_of(a, n);
    const cudnnDataType_t bf = CUDNN_DATA_BFLOAT16, f = CUDNN_DATA_FLOAT;
    cudnnBackendDescriptor_t q, kt, vt, o, dout, stats, dq, dk, dv, sum;
    cudnnBackendDescriptor_t scale, one, neginf = NULL;
    cudnnBackendDescriptor_t t0, t1, s0, s1, s2, e, pt, dp, dp1, dp2, ds,
        dst, kr;
    if (tensor(b, UID_Q, bf, s.rows, s.rows_st, false, &q, err) ||
        tensor(b, UID_K, bf, s.cols, s.cols_st, false, &kt, err) ||
        tensor(b, UID_V, bf, s.cols, s.cols_st, false, &vt, err) ||
        tensor(b, UID_O, bf, s.rows, s.out_st, false, &o, err) ||
        tensor(b, UID_DO, bf, s.rows, s.out_st, false, &dout, err) ||
        tensor(b, UID_STATS, f, s.row1, s.row1_st, false, &stats, err) ||
        tensor(b, UID_DQ, bf, s.rows, s.rows_st, false, &dq, err) ||
        tensor(b, UID_DK, bf, s.rows, s.rows_st, false, &dk, err) ||
        tensor(b, UID_DV, bf, s.rows, s.rows_st, false, &dv, err) ||
        tensor(b, UID_SUM, f, s.row1, s.row1_st, false, &sum, err) ||
        tensor(b, UID_SCALE, f, one4, one4, true, &scale, err) ||
        tensor(b, UID_ONE, f, one4, one4, true, &one, err) ||
        (a.causal &&
         tensor(b, UID_NEGINF, f, one4, one4, true, &neginf, err)))
        return err->code;
    /* Sum = rowsum(dO * O) * 1 */
    if (tensor(b, 0, f, s.rows, s.dense, false, &t0, err) ||
        pointwise(b, CUDNN_POINTWISE_MUL, f, -1, dout, o, NULL, t0, err) ||
        tensor(b, 0, f, s.row1, s.row1_st, false, &t1, err) ||
        reduction(b, CUDNN_REDUCE_TENSOR_ADD, t0, t1, err) ||
        pointwise(b, CUDNN_POINTWISE_MUL, f, -1, t1, one, NULL, sum, err))
        return err->code;
    /* P, and dV = P^T dO */
    if (tensor(b, 0, f, s.scores, s.scores_st, false, &s0, err) ||
        matmul(b, q, kt, s0, err) ||
        tensor(b, 0, f, s.scores, s.scores_st, false, &s1, err) ||
        pointwise(b, CUDNN_POINTWISE_MUL, f, -1, s0, scale, NULL, s1, err) ||
        tensor(b, 0, f, s.scores, s.scores_st, false, &s2, err) ||
        pointwise(b, CUDNN_POINTWISE_SUB, f, -1, s1, stats, NULL, s2, err) ||
        (a.causal && causal_mask(b, s, s2, neginf, &s2, err)) ||
        tensor(b, 0, f, s.scores, s.scores_st, false, &e, err) ||
        pointwise(b, CUDNN_POINTWISE_EXP, f, -1, s2, NULL, NULL, e, err) ||
        tensor(b, 0, bf, s.scores, s.scores_t_st, false, &pt, err) ||
        reshape(b, e, pt, err) || matmul(b, pt, dout, dv, err))
        return err->code;
    /* dS, dK = dS^T Q, dQ = dS K */
    if (tensor(b, 0, f, s.scores, s.scores_st, false, &dp, err) ||
        matmul(b, dout, vt, dp, err) ||
        tensor(b, 0, f, s.scores, s.scores_st, false, &dp1, err) ||
        pointwise(b, CUDNN_POINTWISE_SUB, f, -1, dp, sum, NULL, dp1, err) ||
        tensor(b, 0, f, s.scores, s.scores_st, false, &dp2, err) ||
        pointwise(b, CUDNN_POINTWISE_MUL, f, -1, dp1, e, NULL, dp2, err) ||
        tensor(b, 0, f, s.scores, s.scores_st, false, &ds, err) ||
        pointwise(b, CUDNN_POINTWISE_MUL, f, -1, dp2, scale, NULL, ds, err) ||
        tensor(b, 0, bf, s.scores, s.scores_t_st, false, &dst, err) ||
        reshape(b, ds, dst, err) || matmul(b, dst, q, dk, err) ||
        tensor(b, 0, f, s.rows, s.rows_st, false, &kr, err) ||
        reshape(b, kt, kr, err) || matmul(b, ds, kr, dq, err))
        return err->code;
    return PP_OK;
}

/* Whether an engine's numerical notes say it is nondeterministic. */
static pp_status nondeterministic(dnn_bag *b, cudnnBackendDescriptor_t cfg,
                                  int *yes, pp_error *err)
{
    cudnnBackendDescriptor_t engine;
    cudnnBackendNumericalNote_t notes[CUDNN_NUMERICAL_NOTE_TYPE_COUNT];
    int64_t got = 0;
    *yes = 0;
    if (make(b, CUDNN_BACKEND_ENGINE_DESCRIPTOR, &engine, err) ||
        PP_CUDNN_CHECK(cudnnBackendGetAttribute(
                           cfg, CUDNN_ATTR_ENGINECFG_ENGINE,
                           CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &got, &engine),
                       err) ||
        PP_CUDNN_CHECK(cudnnBackendGetAttribute(
                           engine, CUDNN_ATTR_ENGINE_NUMERICAL_NOTE,
                           CUDNN_TYPE_NUMERICAL_NOTE,
                           CUDNN_NUMERICAL_NOTE_TYPE_COUNT, &got, notes),
                       err))
        return err->code;
    for (int64_t i = 0; i < got && i < CUDNN_NUMERICAL_NOTE_TYPE_COUNT; i++)
        *yes |= notes[i] == CUDNN_NUMERICAL_NOTE_NONDETERMINISTIC;
    return PP_OK;
}

/* The plan: the first engine the heuristics rank (mode A, then the
 * fallback list) that is not noted nondeterministic, takes the graph and
 * needs at most `room` bytes of workspace. p->ok = 0 and p->why where
 * none does. */
static pp_status choose_engine(const pp_layer_call *c, dnn_plan *p,
                               int64_t room, pp_error *err)
{
    dnn_bag *b = &p->bag;
    cudnnBackendDescriptor_t graph;
    cudnnHandle_t h = (cudnnHandle_t)c->dnn;
    if (make(b, CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR, &graph, err) ||
        DNN_SET(graph, CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE,
                1, &h) ||
        DNN_SET(graph, CUDNN_ATTR_OPERATIONGRAPH_OPS,
                CUDNN_TYPE_BACKEND_DESCRIPTOR, b->nops, b->op) ||
        PP_CUDNN_CHECK(cudnnBackendFinalize(graph), err))
        return err->code;
    int seen = 0, noisy = 0, big = 0;
    const cudnnBackendHeurMode_t modes[] = {CUDNN_HEUR_MODE_A,
                                            CUDNN_HEUR_MODE_FALLBACK};
    for (int m = 0; m < 2; m++) {
        cudnnBackendDescriptor_t heur, cfg[8];
        int64_t count = 0;
        if (make(b, CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR, &heur, err) ||
            DNN_SET(heur, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH,
                    CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &graph) ||
            DNN_SET(heur, CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1,
                    &modes[m]) ||
            PP_CUDNN_CHECK(cudnnBackendFinalize(heur), err))
            return err->code;
        for (int i = 0; i < 8; i++)
            if (make(b, CUDNN_BACKEND_ENGINECFG_DESCRIPTOR, &cfg[i], err))
                return err->code;
        if (PP_CUDNN_CHECK(cudnnBackendGetAttribute(
                               heur, CUDNN_ATTR_ENGINEHEUR_RESULTS,
                               CUDNN_TYPE_BACKEND_DESCRIPTOR, 8, &count, cfg),
                           err))
            return err->code;
        for (int i = 0; i < count && i < 8; i++) {
            int nd;
            cudnnBackendDescriptor_t plan;
            int64_t ws = 0, one;
            seen++;
            if (nondeterministic(b, cfg[i], &nd, err))
                return err->code;
            if (nd) {
                noisy++;
                continue;
            }
            if (make(b, CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR, &plan, err) ||
                DNN_SET(plan, CUDNN_ATTR_EXECUTION_PLAN_HANDLE,
                        CUDNN_TYPE_HANDLE, 1, &h) ||
                DNN_SET(plan, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG,
                        CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &cfg[i]))
                return err->code;
            if (cudnnBackendFinalize(plan) != CUDNN_STATUS_SUCCESS)
                continue; /* this engine does not take the graph */
            if (PP_CUDNN_CHECK(cudnnBackendGetAttribute(
                                   plan,
                                   CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE,
                                   CUDNN_TYPE_INT64, 1, &one, &ws),
                               err))
                return err->code;
            if (ws > room) {
                big++;
                continue;
            }
            p->plan = plan;
            p->workspace = ws;
            p->ok = 1;
            return PP_OK;
        }
    }
    snprintf(p->why, sizeof p->why,
             "cuDNN %zu has no engine for this attention graph (%d "
             "offered, %d of them nondeterministic, %d needing more than "
             "the %lld bytes of workspace left)",
             cudnnGetVersion(), seen, noisy, big, (long long)room);
    return PP_OK;
}

/* The bytes of the call's workspace left to cuDNN. */
static int64_t dnn_room(const pp_layer_call *c, const attention_dims &a)
{
    size_t all = c->plan->workspace_bytes * (size_t)c->n;
    size_t mine = attention_cudnn_scratch(c->n, a.T, a.d, a.heads);
    return all > mine ? (int64_t)(all - mine) : 0;
}

/* The bytes of workspace cuDNN's plans may have: the call's room, or
 * the state's own. */
static int64_t dnn_most(const pp_layer_call *c, const att_state *s)
{
    int64_t room = dnn_room(c, attention_dims_of(c));
    return room > s->ws_bytes ? room : s->ws_bytes;
}

/* The plan of graph `kind` for this call's samples, needing at most
 * `room` bytes of workspace: kept, or made now. A plan that could not be
 * made is kept too, with why. */
static pp_status plan_of(const pp_layer_call *c, att_state *s, int kind,
                         int64_t room, dnn_plan **out, pp_error *err)
{
    for (int i = 0; i < DNN_PLANS; i++)
        if (s->plans[kind][i].n == c->n) {
            *out = &s->plans[kind][i];
            return PP_OK;
        }
    dnn_plan *p = &s->plans[kind][s->next[kind]];
    s->next[kind] = (s->next[kind] + 1) % DNN_PLANS;
    bag_free(&p->bag);
    memset(p, 0, sizeof *p);
    p->bag.uid = UID_VIRTUAL;
    attention_dims a = attention_dims_of(c);
    pp_error e;
    pp_error_clear(&e);
    pp_status st = kind == DNN_FWD ? build_forward(a, c->n, &p->bag, &e)
                                   : build_backward(a, c->n, &p->bag, &e);
    if (!st)
        st = choose_engine(c, p, room, &e);
    if (st == PP_ERR_NOMEM) {
        bag_free(&p->bag);
        return pp_error_set(err, st, "%s", e.msg);
    }
    if (st) /* a cuDNN that refuses the graph: another path, or the error */
        snprintf(p->why, sizeof p->why, "%s", e.msg);
    p->n = c->n;
    *out = p;
    return PP_OK;
}

static bool aligned(const void *p)
{
    return (uintptr_t)p % DNN_ALIGN == 0;
}

/* Whether this call runs cuDNN's graph `kind` (*plan then its plan):
 * kernels = cudnn makes a no an error; ptrs are the call's tensors. */
static pp_status use_cudnn(const pp_layer_call *c, int kind,
                           const void *const *ptrs, int nptrs,
                           dnn_plan **plan, int *yes, pp_error *err)
{
    att_state *s = (att_state *)c->state;
    int forced = args_of(c)->kernels == ATTENTION_CUDNN;
    const char *why = NULL;
    char buf[PP_ERROR_MAX];
    *yes = 0;
    if (args_of(c)->kernels == ATTENTION_PIPETTE ||
        c->precision != PP_PRECISION_BF16)
        return PP_OK;
    if (!s)
        why = "its state was not made (init did not run)";
    else if (!s->usable)
        why = s->why;
    for (int i = 0; !why && i < nptrs; i++)
        if (!aligned(ptrs[i]))
            why = "a tensor of the call is not 16-byte aligned";
    if (!why && plan_of(c, s, kind, dnn_most(c, s), plan, err))
        return err->code;
    if (!why && !(*plan)->ok)
        why = (*plan)->why;
    if (!why && (*plan)->workspace > dnn_most(c, s)) {
        snprintf(buf, sizeof buf, "cuDNN's plan needs %lld bytes of "
                 "workspace, more than the %lld there are",
                 (long long)(*plan)->workspace, (long long)dnn_most(c, s));
        why = buf;
    }
    if (!why) {
        *yes = 1;
        return PP_OK;
    }
    if (!forced)
        return PP_OK;
    return pp_error_set(err, PP_ERR_DEVICE,
                        "attention (kernels = cudnn): cuDNN's fused "
                        "attention cannot run: %s", why);
}

/* Runs a plan on the call's tensors (uids[i] at ptrs[i]). */
static pp_status execute(const pp_layer_call *c, const dnn_plan *p,
                         const int64_t *uids, void *const *ptrs, int count,
                         void *workspace, pp_error *err)
{
    cudnnBackendDescriptor_t pack;
    if (PP_CUDNN_CHECK(cudnnBackendCreateDescriptor(
                           CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR, &pack),
                       err))
        return err->code;
    pp_status st =
        DNN_SET(pack, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64,
                count, uids) ||
        DNN_SET(pack, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS,
                CUDNN_TYPE_VOID_PTR, count, ptrs) ||
        DNN_SET(pack, CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR,
                1, &workspace) ||
        PP_CUDNN_CHECK(cudnnBackendFinalize(pack), err) ||
        PP_CUDNN_CHECK(cudnnBackendExecute((cudnnHandle_t)c->dnn, p->plan,
                                           pack),
                       err)
            ? err->code : PP_OK;
    cudnnBackendDestroyDescriptor(pack);
    return st;
}

/* dx (n) += g (n), bf16, one rounding: cuDNN writes dq, dk and dv (=)
 * into the workspace, and gradients add. */
__global__ static void add_grad(__nv_bfloat16 *dx, const __nv_bfloat16 *g,
                                int64_t n)
{
    grid_runs<__nv_bfloat16>(n, aligned16(dx) && aligned16(g),
                             [&](int64_t i, int k) {
        float a[PACK(__nv_bfloat16)], b[PACK(__nv_bfloat16)];
        run_load(a, dx + i, k);
        run_load(b, g + i, k);
        for (int j = 0; j < k; j++)
            a[j] += b[j];
        run_store(dx + i, a, k);
    });
}

/* cuDNN's workspace for plan p: after the scratch in the call's, where
 * it fits there, else the state's. */
static void *dnn_ws(const pp_layer_call *c, const dnn_plan *p)
{
    attention_dims a = attention_dims_of(c);
    if (p->workspace <= dnn_room(c, a))
        return (char *)c->workspace +
               attention_cudnn_scratch(c->n, a.T, a.d, a.heads);
    return ((att_state *)c->state)->ws;
}

static pp_status dnn_forward(const pp_layer_call *c, const dnn_plan *p,
                             const void *x, void *y, pp_error *err)
{
    att_state *s = (att_state *)c->state;
    attention_dims a = attention_dims_of(c);
    const __nv_bfloat16 *xb = (const __nv_bfloat16 *)x;
    int64_t uids[] = {UID_Q, UID_K, UID_V, UID_O, UID_STATS, UID_SCALE,
                      UID_NEGINF};
    void *ptrs[] = {(void *)xb, (void *)(xb + a.d), (void *)(xb + 2 * a.d),
                    y, c->saved, &s->scale, &s->neginf};
    return execute(c, p, uids, ptrs, a.causal ? 7 : 6, dnn_ws(c, p), err);
}

static pp_status dnn_backward(const pp_layer_call *c, const dnn_plan *p,
                              const void *x, const void *y, const void *dy,
                              void *dx, pp_error *err)
{
    att_state *s = (att_state *)c->state;
    attention_dims a = attention_dims_of(c);
    const __nv_bfloat16 *xb = (const __nv_bfloat16 *)x;
    __nv_bfloat16 *g = (__nv_bfloat16 *)c->workspace;
    int64_t n = (int64_t)c->n * a.T * 3 * a.d;
    char *sum = (char *)c->workspace + ((size_t)n * 2 + 255) / 256 * 256;
    int64_t uids[] = {UID_Q, UID_K, UID_V, UID_O, UID_DO, UID_STATS,
                      UID_DQ, UID_DK, UID_DV, UID_SUM, UID_SCALE, UID_ONE,
                      UID_NEGINF};
    void *ptrs[] = {(void *)xb, (void *)(xb + a.d), (void *)(xb + 2 * a.d),
                    (void *)y, (void *)dy, c->saved, g, g + a.d,
                    g + 2 * a.d, sum, &s->scale, &s->one, &s->neginf};
    if (execute(c, p, uids, ptrs, a.causal ? 13 : 12, dnn_ws(c, p), err))
        return err->code;
    add_grad<<<grid_runs_blocks<__nv_bfloat16>(n), PP_CUDA_THREADS, 0,
               pp_cuda_stream(c)>>>((__nv_bfloat16 *)dx, g, n);
    return PP_CUDA_CHECK(cudaGetLastError(), err);
}
#endif /* HAVE_CUDNN */

/* Why cuDNN's path cannot run on this rank for this layer, or NULL. */
static const char *cudnn_miss(const pp_layer_call *c, char *buf,
                              size_t size)
{
    if (args_of(c)->kernels == ATTENTION_PIPETTE)
        return "kernels = pipette";
    if (c->precision != PP_PRECISION_BF16)
        return "it runs in bf16 only";
#ifndef HAVE_CUDNN
    (void)buf, (void)size;
    return "pipette was built without cuDNN";
#else
    attention_dims a = attention_dims_of(c);
    size_t v = cudnnGetVersion();
    struct cudaDeviceProp prop;
    int device;
    if (!c->dnn)
        return "the rank has no cuDNN handle";
    if (v < DNN_MIN_VERSION) {
        snprintf(buf, size, "cuDNN %zu.%zu.%zu is older than the 9.16 it "
                 "needs", v / 10000, v % 10000 / 100, v % 100);
        return buf;
    }
    if (cudaGetDevice(&device) != cudaSuccess ||
        cudaGetDeviceProperties(&prop, device) != cudaSuccess) {
        (void)cudaGetLastError();
        return "the device's compute capability is unknown";
    }
    int most = prop.major == 9 ? ATTENTION_CUDNN_MAX_HEAD : 128;
    if (prop.major != 8 && prop.major != 9)
        snprintf(buf, size, "the device's compute capability is %d.%d: "
                 "pipette takes cuDNN's fused attention on 8.x and 9.x "
                 "(from 10.0 its deterministic backward needs engine knobs "
                 "pipette does not set)", prop.major, prop.minor);
    else if (a.hs % ATTENTION_CUDNN_HEAD_STEP || a.hs > most)
        snprintf(buf, size, "heads of %lld features (cuDNN takes a "
                 "multiple of %d, at most %d on compute capability %d.x)",
                 (long long)a.hs, ATTENTION_CUDNN_HEAD_STEP, most,
                 prop.major);
    else if (a.T < 2)
        snprintf(buf, size, "T = 1 (cuDNN's backward takes 2 or more)");
    else
        return NULL;
    return buf;
#endif
}

#ifdef HAVE_CUDNN
/* Plans for c->n samples, and the workspace they need beyond the call's:
 * made here, as kernels may not allocate. Where it cannot be had, the
 * plans that need it are marked as not to run. */
static pp_status dnn_init(const pp_layer_call *c, att_state *s,
                          pp_error *err)
{
    dnn_plan *p[2];
    int64_t need = 0, room = dnn_room(c, attention_dims_of(c));
    for (int k = 0; k < 2; k++) {
        if (plan_of(c, s, k, INT64_MAX, &p[k], err))
            return err->code;
        if (p[k]->ok && p[k]->workspace > need)
            need = p[k]->workspace;
    }
    if (need > room) {
        cudaError_t rc = cudaGetDevice(&s->device);
        if (rc == cudaSuccess)
            rc = cudaMalloc(&s->ws, (size_t)need);
        if (rc == cudaSuccess)
            s->ws_bytes = need;
        else if (rc != cudaErrorMemoryAllocation)
            return PP_CUDA_CHECK(rc, err);
        (void)cudaGetLastError();
    }
    for (int k = 0; k < 2; k++) {
        if (p[k]->ok && p[k]->workspace > dnn_most(c, s)) {
            p[k]->ok = 0;
            snprintf(p[k]->why, sizeof p[k]->why,
                     "cuDNN's plan needs %lld bytes of workspace, more "
                     "than the layer's %lld, and no more could be "
                     "allocated", (long long)p[k]->workspace,
                     (long long)room);
        }
        if (!p[k]->ok && args_of(c)->kernels == ATTENTION_CUDNN)
            return pp_error_set(err, PP_ERR_DEVICE,
                                "attention: kernels = cudnn, but cuDNN's "
                                "fused attention cannot run here: %s",
                                p[k]->why);
    }
    return PP_OK;
}
#endif

static void cuda_destroy(void *state)
{
    att_state *s = (att_state *)state;
    if (!s)
        return;
#ifdef HAVE_CUDNN
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < DNN_PLANS; i++)
            bag_free(&s->plans[k][i].bag);
    if (s->ws) {
        int current = -1;
        (void)cudaGetDevice(&current);
        if (cudaSetDevice(s->device) == cudaSuccess)
            cudaFree(s->ws);
        if (current >= 0)
            (void)cudaSetDevice(current);
        (void)cudaGetLastError();
    }
#endif
    free(s);
}

/* The state: which kernels may run, and cuDNN's plans for the core's
 * micro-batch (c->n), with a workspace of their own where theirs needs
 * more than the layer's (cuDNN's deterministic backward may want one of
 * T x T a head); a call of another number of samples (gradcheck, a tool)
 * makes its plans at its first call, within the workspace there is. */
static pp_status cuda_init(const pp_layer_call *c, void **state,
                           pp_error *err)
{
    att_state *s = (att_state *)calloc(1, sizeof *s);
    if (!s)
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    const char *why = cudnn_miss(c, s->why, sizeof s->why);
    if (why && why != s->why)
        snprintf(s->why, sizeof s->why, "%s", why);
    s->usable = why == NULL;
    if (!s->usable && args_of(c)->kernels == ATTENTION_CUDNN) {
        pp_error_set(err, PP_ERR_DEVICE,
                     "attention: kernels = cudnn, but cuDNN's fused "
                     "attention cannot run here: %s", s->why);
        free(s);
        return err->code;
    }
#ifdef HAVE_CUDNN
    s->scale = attention_dims_of(c).scale;
    s->neginf = -INFINITY;
    s->one = 1.0f;
    if (s->usable && dnn_init(c, s, err)) {
        cuda_destroy(s);
        return err->code;
    }
#endif
    *state = s;
    return PP_OK;
}

static void ran(const pp_layer_call *c, int backward, int which)
{
    att_state *s = (att_state *)c->state;
    if (s)
        *(backward ? &s->report.backward : &s->report.forward) = which;
}

static pp_status forward(const pp_layer_call *c, const void *const *x,
                         void *y, pp_error *err)
{
#ifdef HAVE_CUDNN
    const void *ptrs[] = {x[0], y, c->saved, c->workspace};
    dnn_plan *p = NULL;
    int yes;
    if (use_cudnn(c, DNN_FWD, ptrs, 4, &p, &yes, err))
        return err->code;
    if (yes) {
        ran(c, 0, ATTENTION_RAN_CUDNN);
        return dnn_forward(c, p, x[0], y, err);
    }
#endif
    ran(c, 0, ATTENTION_RAN_TILED);
    return BY_DTYPE(c, tiled_forward, c, x, y, err);
}

static pp_status backward_input(const pp_layer_call *c, const void *const *x,
                                const void *y, const void *dy,
                                void *const *dx, pp_error *err)
{
    if (!dx[0])
        return PP_OK;
#ifdef HAVE_CUDNN
    const void *ptrs[] = {x[0], y, dy, dx[0], c->saved, c->workspace};
    dnn_plan *p = NULL;
    int yes;
    if (use_cudnn(c, DNN_BWD, ptrs, 6, &p, &yes, err))
        return err->code;
    if (yes) {
        ran(c, 1, ATTENTION_RAN_CUDNN);
        return dnn_backward(c, p, x[0], y, dy, dx[0], err);
    }
#endif
    ran(c, 1, ATTENTION_RAN_TILED);
    return BY_DTYPE(c, tiled_backward, c, x, y, dy, dx, err);
}

extern "C" const pp_layer_kernels attention_cuda = {
    .forward = forward, .backward_input = backward_input,
    .backward_weight = NULL, .init = cuda_init, .destroy = cuda_destroy};
