/* layers/concat.cu - concat's device half: one copy kernel per input, on
 * the rank's stream. Forward copies values as they are; backward adds
 * (one rounding in bf16). */
#include <config.h>

#include "packed.h"

/* Element i of the narrow (rows, w) side, and its column of the wide
 * (rows, C), which starts at column off. back 0: wide = narrow; back 1:
 * narrow += wide. */
template <typename T>
__global__ static void columns(T *dst, const T *src, int64_t rows,
                               int64_t w, int64_t C, int64_t off, int back)
{
    PP_CUDA_GRID_STRIDE(i, rows * w) {
        int64_t r = i / w, j = i - r * w;
        if (back)
            elem_store(dst + i,
                       elem_load(dst + i) + elem_load(src + r * C + off + j));
        else
            dst[r * C + off + j] = src[i];
    }
}

/* Input k's columns, one launch each; dx[k] NULL is skipped. */
template <typename T>
static pp_status copy(const pp_layer_call *c, void *wide,
                      const void *const *narrow, int back, pp_error *err)
{
    const pp_shape *out = &c->plan->out.shape;
    int64_t R = pp_call_rows(c, 0), C = out->dim[out->ndim - 1], off = 0;
    auto kernel = columns<T>;
    for (int k = 0; k < c->nin; k++) {
        int64_t w = pp_call_features(c, k);
        T *d = (T *)(back ? narrow[k] : wide);
        const T *s = (const T *)(back ? wide : narrow[k]);
        if (narrow[k] && R * w > 0)
            kernel<<<pp_cuda_blocks(R * w), PP_CUDA_THREADS, 0,
                     pp_cuda_stream(c)>>>(d, s, R, w, C, off, back);
        off += w;
    }
    return PP_CUDA_CHECK(cudaGetLastError(), err);
}

static pp_status forward(const pp_layer_call *c, const void *const *x,
                         void *y, pp_error *err)
{
    return BY_DTYPE(c, copy, c, y, x, 0, err);
}

static pp_status backward_input(const pp_layer_call *c, const void *const *x,
                                const void *y, const void *dy,
                                void *const *dx, pp_error *err)
{
    (void)x, (void)y;
    return BY_DTYPE(c, copy, c, (void *)dy, (const void *const *)dx, 1,
                    err);
}

extern "C" const pp_layer_kernels concat_cuda = {
    .forward = forward, .backward_input = backward_input};
