/* layers/matmul.h - the matrix loops of a fully connected layer, on the
 * CPU: single-threaded, cache-blocked, written so that gcc -O2 vectorises
 * the inner loops.
 *
 * Not BLAS and not a general GEMM: three fixed products with the layouts
 * a linear layer has (x (rows, in), W (out, in), row-major), no threads
 * (a rank is one thread; parallelism comes from the pipeline) and no
 * global state. Activations are assigned (=), gradients accumulated (+=),
 * the input's too (the tensor may feed other layers).
 *
 * Inner loops run over the contiguous dimension. Where that loop is a dot
 * product, it keeps MM_LANES partial sums in a fixed order: a compiler may
 * not reorder a float sum on its own, but it may turn these independent
 * lanes into one vector register.
 */
#ifndef PP_LAYERS_MATMUL_H
#define PP_LAYERS_MATMUL_H

#include <stdint.h>

enum {
    MM_LANES = 8, /* one AVX register of floats, two SSE ones */
    MM_BLOCK = 32, /* rows and outputs per tile: two 32 x in tiles stay in
                      L2 up to in of a few thousand */
    MM_STRIP = 32  /* columns summed at once in the backward: four AVX
                      registers of accumulators */
};

static inline int64_t mm_min(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/* a (n) . b (n) */
static inline float mm_dot(const float *restrict a, const float *restrict b,
                           int64_t n)
{
    float lane[MM_LANES] = {0};
    int64_t whole = n - n % MM_LANES;
    for (int64_t i = 0; i < whole; i += MM_LANES)
        for (int l = 0; l < MM_LANES; l++)
            lane[l] += a[i + l] * b[i + l];
    float sum = 0.0f;
    for (int64_t i = whole; i < n; i++)
        sum += a[i] * b[i];
    for (int l = 0; l < MM_LANES; l++)
        sum += lane[l];
    return sum;
}

/* y (n) += a * x (n) */
static inline void mm_axpy(float *restrict y, float a,
                           const float *restrict x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] += a * x[i];
}

/* y (rows, out) = x (rows, in) W^T + b; w (out, in), b (out) or NULL.
 * A tile of W is reused by a tile of rows while both are in cache. */
static inline void mm_forward(float *restrict y, const float *restrict x,
                              const float *restrict w,
                              const float *restrict b, int64_t rows,
                              int64_t in, int64_t out)
{
    for (int64_t r0 = 0; r0 < rows; r0 += MM_BLOCK) {
        int64_t r1 = mm_min(r0 + MM_BLOCK, rows);
        for (int64_t o0 = 0; o0 < out; o0 += MM_BLOCK) {
            int64_t o1 = mm_min(o0 + MM_BLOCK, out);
            for (int64_t r = r0; r < r1; r++)
                for (int64_t o = o0; o < o1; o++)
                    y[r * out + o] = mm_dot(x + r * in, w + o * in, in) +
                                     (b ? b[o] : 0.0f);
        }
    }
}

/* dx (rows, in) += dy (rows, out) W; w (out, in). For each row, a strip of
 * MM_STRIP columns of dx is summed over the outputs in a local array the
 * compiler keeps in vector registers, and stored once: the sum over o of
 * axpys into dx would store the whole row once per output instead. */
static inline void mm_backward_input(float *restrict dx,
                                     const float *restrict dy,
                                     const float *restrict w, int64_t rows,
                                     int64_t in, int64_t out)
{
    for (int64_t r = 0; r < rows; r++)
        for (int64_t i0 = 0; i0 < in; i0 += MM_STRIP) {
            int64_t width = mm_min(MM_STRIP, in - i0);
            float acc[MM_STRIP] = {0};
            if (width == MM_STRIP) {
                for (int64_t o = 0; o < out; o++) {
                    float a = dy[r * out + o];
                    const float *wr = w + o * in + i0;
                    for (int k = 0; k < MM_STRIP; k++)
                        acc[k] += a * wr[k];
                }
            } else {
                for (int64_t o = 0; o < out; o++) {
                    float a = dy[r * out + o];
                    const float *wr = w + o * in + i0;
                    for (int64_t k = 0; k < width; k++)
                        acc[k] += a * wr[k];
                }
            }
            for (int64_t k = 0; k < width; k++)
                dx[r * in + i0 + k] += acc[k];
        }
}

/* dw (out, in) += dy^T x; db (out) += the sum of dy's rows, unless NULL.
 * Strip by strip, as above: each dw strip is summed over the rows in
 * registers and added once. */
static inline void mm_backward_weight(float *restrict dw,
                                      float *restrict db,
                                      const float *restrict dy,
                                      const float *restrict x, int64_t rows,
                                      int64_t in, int64_t out)
{
    for (int64_t o = 0; o < out; o++)
        for (int64_t i0 = 0; i0 < in; i0 += MM_STRIP) {
            int64_t width = mm_min(MM_STRIP, in - i0);
            float acc[MM_STRIP] = {0};
            if (width == MM_STRIP) {
                for (int64_t r = 0; r < rows; r++) {
                    float a = dy[r * out + o];
                    const float *xr = x + r * in + i0;
                    for (int k = 0; k < MM_STRIP; k++)
                        acc[k] += a * xr[k];
                }
            } else {
                for (int64_t r = 0; r < rows; r++) {
                    float a = dy[r * out + o];
                    const float *xr = x + r * in + i0;
                    for (int64_t k = 0; k < width; k++)
                        acc[k] += a * xr[k];
                }
            }
            for (int64_t k = 0; k < width; k++)
                dw[o * in + i0 + k] += acc[k];
        }
    if (db)
        for (int64_t r = 0; r < rows; r++)
            mm_axpy(db, 1.0f, dy + r * out, out);
}

#endif
