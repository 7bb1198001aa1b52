/* layers/attention.h - what attention's two halves share: its numbers and
 * the shape of a call. */
#ifndef PP_LAYERS_ATTENTION_H
#define PP_LAYERS_ATTENTION_H

#include <math.h>

#include <pipette/pipette.h>

/* The largest head the kernels take: the CUDA half's tiles of one row
 * must fit in a block's 48 KiB of shared memory (attention.cu checks). */
#define ATTENTION_MAX_HEAD 1024

/* kernels = auto | pipette | cudnn: the CUDA half's kernels (attention.cu
 * says when each runs). */
enum attention_kernels { ATTENTION_AUTO, ATTENTION_PIPETTE, ATTENTION_CUDNN };

typedef struct attention_args {
    int heads;
    int causal;
    int kernels; /* enum attention_kernels */
} attention_args;

/* cuDNN's fused attention, bf16: heads of a multiple of 8 features, at
 * most 256 (on Hopper; 128 on Ampere and Ada), T of 2 or more. */
#define ATTENTION_CUDNN_HEAD_STEP 8
#define ATTENTION_CUDNN_MAX_HEAD 256

/* The bytes of a call's workspace the cuDNN path lays out before cuDNN's
 * own (attention.cu): dq, dk and dv in bf16 rows of 3d (n T 3d), the
 * per-row dy . y sums in FP32 (n heads T), each start rounded up to 256
 * bytes. */
static inline size_t attention_cudnn_scratch(int64_t n, int64_t T,
                                             int64_t d, int64_t heads)
{
    size_t g = (size_t)(n * T * 3 * d) * 2, s = (size_t)(n * heads * T) * 4;
    return (g + 255) / 256 * 256 + (s + 255) / 256 * 256;
}

/* What the CUDA half's state begins with: the kernels the last forward
 * and backward_input ran, for tests and tools to see which path a shape
 * and precision take. */
enum attention_ran { ATTENTION_RAN_NONE, ATTENTION_RAN_TILED,
                     ATTENTION_RAN_CUDNN };
typedef struct attention_cuda_report {
    int forward, backward; /* enum attention_ran */
} attention_cuda_report;

/* One call's sizes: T positions of q, k and v side by side (3d a row),
 * heads of hs = d / heads features each; scale = 1 / sqrt(hs). */
typedef struct attention_dims {
    int64_t T, d, hs;
    int heads, causal;
    float scale;
} attention_dims;

static inline attention_dims attention_dims_of(const pp_layer_call *c)
{
    const attention_args *a = (const attention_args *)c->plan->args;
    attention_dims m;
    m.T = c->in[0].shape.dim[0];
    m.d = c->in[0].shape.dim[1] / 3;
    m.heads = a->heads;
    m.hs = m.d / a->heads;
    m.causal = a->causal;
    m.scale = 1.0f / sqrtf((float)m.hs);
    return m;
}

/* How many keys position t attends to: 0 .. t causally, all T else. */
PP_HOST_DEVICE static inline int64_t attention_keys(int64_t t, int64_t T,
                                                    int causal)
{
    return causal ? t + 1 : T;
}

#endif
