/* layers/embedding.cu - embedding's device half. The ids are in device
 * memory, so they are not checked before the kernels run: a bad id's
 * output row becomes NaN (so the step's loss is NaN and the step stops
 * before an optimizer step) and its gradient is left out. Nothing is ever
 * read or written outside the table. The tables are FP32; in bf16 a row
 * (or the sum of a token's and a position's) is rounded as it is stored
 * in y, and dy is read into FP32. Every gradient element has one writer
 * that adds in the CPU's order: the same bits as embedding.c. */
#include <config.h>

#include <math_constants.h>

#include "packed.h"

/* out (tokens, dim) = weight[ids] (+ pos[t % seq]); weight (vocab, dim),
 * pos (seq, dim) or NULL */
template <typename T>
__global__ static void lookup(T *out, const int32_t *ids,
                              const float *weight, const float *pos,
                              int64_t tokens, int64_t seq, int64_t dim,
                              int64_t vocab)
{
    PP_CUDA_GRID_STRIDE(i, tokens * dim) {
        int64_t t = i / dim, d = i - t * dim;
        int32_t id = ids[t];
        float v = id >= 0 && id < vocab ? weight[(int64_t)id * dim + d]
                                        : CUDART_NAN_F;
        if (pos)
            v += pos[t % seq * dim + d];
        elem_store(out + i, v);
    }
}

/* The scatter-add without atomics. Rows are dealt to BUCKETS buckets
 * (id % buckets); thread (d, b) scans every id and adds, in token order,
 * the tokens of bucket b to element d of their row. Each element of the
 * table thus has one writer and the CPU's order: the same bits as
 * embedding.c, whatever the bucket count. The cost: every warp reads all
 * ids (tokens x buckets x dim/32 cached broadcast loads), and a thread's
 * read-modify-writes form one chain of about tokens / buckets. 64 buckets
 * keep that chain short while the id scan stays cheap next to the rows. */
#define BUCKETS 64
#define STRIP 32
#define BUCKETS_PER_BLOCK 8

template <typename T>
__global__ static void scatter_add(float *dweight, const T *dout,
                                   const int32_t *ids, int64_t tokens,
                                   int64_t dim, int64_t vocab, int buckets)
{
    int64_t d = (int64_t)blockIdx.x * STRIP + threadIdx.x;
    int b = blockIdx.y * BUCKETS_PER_BLOCK + threadIdx.y;
    if (d >= dim || b >= buckets)
        return;
    for (int64_t t = 0; t < tokens; t++) {
        int32_t id = ids[t];
        if (id < 0 || id >= vocab || id % buckets != b)
            continue;
        dweight[(int64_t)id * dim + d] += elem_load(dout + t * dim + d);
    }
}

/* dpos[p] += dout[s * seq + p] for s = 0 .. samples - 1 in turn, a
 * thread an element of dpos (seq, dim) */
template <typename T>
__global__ static void position_sum(float *dpos, const T *dout,
                                    int64_t samples, int64_t seq,
                                    int64_t dim)
{
    PP_CUDA_GRID_STRIDE(i, seq * dim) {
        float g = dpos[i];
        for (int64_t s = 0; s < samples; s++)
            g += elem_load(dout + s * seq * dim + i);
        dpos[i] = g;
    }
}

/* The sequence length where there are positions, else 0. */
static int64_t positions(const pp_layer_call *c)
{
    return c->plan->nparams > 1 ? c->in[0].shape.dim[0] : 0;
}

template <typename T>
static pp_status forward_as(const pp_layer_call *c, const void *const *x,
                            void *y, pp_error *err)
{
    const pp_shape *w = &c->plan->params[0].shape;
    int64_t tokens = pp_call_elements(c, 0), seq = positions(c);
    auto kernel = lookup<T>;
    if (tokens > 0)
        kernel<<<pp_cuda_blocks(tokens * w->dim[1]), PP_CUDA_THREADS, 0,
                 pp_cuda_stream(c)>>>((T *)y, (const int32_t *)x[0],
                                      c->param[0],
                                      seq ? c->param[1] : NULL, tokens,
                                      seq ? seq : 1, w->dim[1], w->dim[0]);
    return PP_CUDA_CHECK(cudaGetLastError(), err);
}

/* dweight[ids[t]] += dout[t], each element in token order; and dpos */
template <typename T>
static pp_status backward_weight_as(const pp_layer_call *c,
                                    const void *const *x, const void *dy,
                                    pp_error *err)
{
    const pp_shape *w = &c->plan->params[0].shape;
    int64_t tokens = pp_call_elements(c, 0), dim = w->dim[1];
    int64_t vocab = w->dim[0];
    int buckets = vocab < BUCKETS ? (int)vocab : BUCKETS;
    dim3 grid((unsigned)((dim + STRIP - 1) / STRIP),
              (unsigned)((buckets + BUCKETS_PER_BLOCK - 1) /
                         BUCKETS_PER_BLOCK));
    auto kernel = scatter_add<T>;
    if (tokens > 0)
        kernel<<<grid, dim3(STRIP, BUCKETS_PER_BLOCK), 0,
                 pp_cuda_stream(c)>>>(c->grad[0], (const T *)dy,
                                      (const int32_t *)x[0], tokens, dim,
                                      vocab, buckets);
    int64_t seq = positions(c);
    auto sum = position_sum<T>;
    if (tokens > 0 && seq > 0)
        sum<<<pp_cuda_blocks(seq * dim), PP_CUDA_THREADS, 0,
              pp_cuda_stream(c)>>>(c->grad[1], (const T *)dy, c->n, seq,
                                   dim);
    return PP_CUDA_CHECK(cudaGetLastError(), err);
}

static pp_status forward(const pp_layer_call *c, const void *const *x,
                         void *y, pp_error *err)
{
    return BY_DTYPE(c, forward_as, c, x, y, err);
}

static pp_status backward_weight(const pp_layer_call *c,
                                 const void *const *x, const void *y,
                                 const void *dy, pp_error *err)
{
    (void)y;
    return BY_DTYPE(c, backward_weight_as, c, x, dy, err);
}

extern "C" const pp_layer_kernels embedding_cuda = {
    .forward = forward, .backward_weight = backward_weight};
