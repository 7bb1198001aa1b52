/* layers/attention.h - what attention's two halves share: its numbers and
 * the shape of a call. */
#ifndef PP_LAYERS_ATTENTION_H
#define PP_LAYERS_ATTENTION_H

#include <math.h>

#include <pipette/pipette.h>

/* The largest head the kernels take: the CUDA half's tiles of one row
 * must fit in a block's 48 KiB of shared memory (attention.cu checks). */
#define ATTENTION_MAX_HEAD 1024

typedef struct attention_args {
    int heads;
    int causal;
} attention_args;

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
