/* layers/matmul.h - the matrix products of a fully connected layer on the
 * CPU, with the layouts a linear layer has: x (rows, in), W (out, in),
 * row-major. Activations are assigned (=), gradients accumulated (+=),
 * the input's too (the tensor may feed other layers).
 *
 * Where configure found a CBLAS (HAVE_CBLAS: OpenBLAS, BLIS or another),
 * they are cblas_sgemm and cblas_sgemv calls (beta = 1 where they add).
 * Otherwise pipette's own loops below: cache-blocked, written so that
 * gcc -O2 vectorises the inner loops, and several times slower.
 *
 * One thread. A rank is one thread pinned to a core, and parallelism
 * comes from the pipeline: a BLAS that starts threads of its own takes
 * the other ranks' cores. mm_one_thread() makes the BLAS run on its
 * caller's thread, whatever OPENBLAS_NUM_THREADS, BLIS_NUM_THREADS or
 * OMP_NUM_THREADS say; linear's init calls it, before any rank starts.
 * It reaches OpenBLAS's and BLIS's own calls through weak references,
 * so it does nothing with a BLAS that has neither (set that one's own
 * variable, MKL_NUM_THREADS=1 say), whichever library -lblas turns out
 * to be at run time.
 *
 * Samples independent, bit for bit: a sample's outputs must be the same
 * in any micro-batch (`pipette gradcheck` checks it). The loops keep it:
 * each output is its own dot product, summed in a fixed order. A BLAS's
 * sgemm does not: OpenBLAS 0.3.21 and BLIS 0.9.0 sum a row's products in
 * an order that depends on where the row falls among the others (for
 * OpenBLAS, its place in a tile of 12 rows). So the forward takes a
 * sample at a time: mm_forward gives each row to its own sgemv, and
 * mm_forward_samples each sample of MM_GEMM_ROWS rows or more to one
 * sgemm, which is then faster. The gradients have no such promise (a
 * micro-batch's sums over its rows depend on the cut already) and take
 * the whole micro-batch.
 */
#ifndef PP_LAYERS_MATMUL_H
#define PP_LAYERS_MATMUL_H

#include <stdint.h>

#ifdef HAVE_CBLAS
#include <cblas.h>

/* The BLAS's own calls for its threads, where it has them (NULL where
 * not). BLIS's dim_t is int64_t, as Debian and BLIS's default build it. */
#pragma weak openblas_set_num_threads
#pragma weak openblas_get_num_threads
#pragma weak bli_thread_set_num_threads
#pragma weak bli_thread_get_num_threads
void openblas_set_num_threads(int n);
int openblas_get_num_threads(void);
void bli_thread_set_num_threads(int64_t n);
int64_t bli_thread_get_num_threads(void);
#endif

enum {
    MM_LANES = 8, /* one AVX register of floats, two SSE ones */
    MM_BLOCK = 32, /* rows and outputs per tile: two 32 x in tiles stay in
                      L2 up to in of a few thousand */
    MM_STRIP = 32, /* columns summed at once in the backward: four AVX
                      registers of accumulators */
    MM_GEMM_ROWS = 8 /* the fewest rows a forward gives one sgemm; fewer
                        go row by row to sgemv. OpenBLAS 0.3.21 on an AMD
                        EPYC, in and out from 24 to 1024: sgemv runs at 2
                        to 3.5 times the loops' speed, sgemm of 4 rows at
                        0.6 to 1.2 times sgemv's, of 8 at 0.9 to 2.3 */
};

/* Sets the BLAS's threads to n, where it has a call for it. */
static inline void mm_blas_set_threads(int n)
{
#ifdef HAVE_CBLAS
    if (openblas_set_num_threads)
        openblas_set_num_threads(n);
    if (bli_thread_set_num_threads)
        bli_thread_set_num_threads(n);
#else
    (void)n;
#endif
}

/* The BLAS's threads, as it says; 0 where it has no call to ask (or
 * there is no BLAS). */
static inline int mm_blas_threads(void)
{
#ifdef HAVE_CBLAS
    if (openblas_get_num_threads)
        return openblas_get_num_threads();
    if (bli_thread_get_num_threads)
        return (int)bli_thread_get_num_threads();
#endif
    return 0;
}

static inline void mm_one_thread(void)
{
    mm_blas_set_threads(1);
}

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

/* ---- the loops ---------------------------------------------------------- */

/* Inner loops run over the contiguous dimension. Where that loop is a dot
 * product, it keeps MM_LANES partial sums in a fixed order: a compiler may
 * not reorder a float sum on its own, but it may turn these independent
 * lanes into one vector register. */

/* y (rows, out) = x (rows, in) W^T + b; w (out, in), b (out) or NULL.
 * A tile of W is reused by a tile of rows while both are in cache. Each
 * row's outputs are the same whatever rows surround it. */
static inline void mm_loop_forward(float *restrict y,
                                   const float *restrict x,
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
static inline void mm_loop_backward_input(float *restrict dx,
                                          const float *restrict dy,
                                          const float *restrict w,
                                          int64_t rows, int64_t in,
                                          int64_t out)
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

/* dw (out, in) += dy^T x. Strip by strip, as above: each dw strip is
 * summed over the rows in registers and added once. */
static inline void mm_loop_backward_weight(float *restrict dw,
                                           const float *restrict dy,
                                           const float *restrict x,
                                           int64_t rows, int64_t in,
                                           int64_t out)
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
}

/* ---- the products: the BLAS's where there is one ------------------------ */

/* y (rows, out) = x (rows, in) W^T + b; w (out, in), b (out) or NULL.
 * Row by row: each row's outputs are the same bits whatever rows
 * surround it, as the loops'. The bias is added after the product, as
 * the loops add it. */
static inline void mm_forward(float *restrict y, const float *restrict x,
                              const float *restrict w,
                              const float *restrict b, int64_t rows,
                              int64_t in, int64_t out)
{
#ifdef HAVE_CBLAS
    for (int64_t r = 0; r < rows; r++) {
        cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)out, (int)in, 1.0f, w,
                    (int)in, x + r * in, 1, 0.0f, y + r * out, 1);
        if (b)
            mm_axpy(y + r * out, 1.0f, b, out);
    }
#else
    mm_loop_forward(y, x, w, b, rows, in, out);
#endif
}

/* The same for n samples of `rows` rows each, faster: each sample's
 * outputs are the same bits whatever n, but not always those of
 * mm_forward. A sample of MM_GEMM_ROWS rows or more is one sgemm. */
static inline void mm_forward_samples(float *restrict y,
                                      const float *restrict x,
                                      const float *restrict w,
                                      const float *restrict b, int64_t n,
                                      int64_t rows, int64_t in, int64_t out)
{
#ifdef HAVE_CBLAS
    if (rows >= MM_GEMM_ROWS) {
        for (int64_t s = 0; s < n; s++) {
            float *ys = y + s * rows * out;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows,
                        (int)out, (int)in, 1.0f, x + s * rows * in, (int)in,
                        w, (int)in, 0.0f, ys, (int)out);
            for (int64_t r = 0; b && r < rows; r++)
                mm_axpy(ys + r * out, 1.0f, b, out);
        }
        return;
    }
#endif
    mm_forward(y, x, w, b, n * rows, in, out);
}

/* dx (rows, in) += dy (rows, out) W; w (out, in). */
static inline void mm_backward_input(float *restrict dx,
                                     const float *restrict dy,
                                     const float *restrict w, int64_t rows,
                                     int64_t in, int64_t out)
{
#ifdef HAVE_CBLAS
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows,
                (int)in, (int)out, 1.0f, dy, (int)out, w, (int)in, 1.0f, dx,
                (int)in);
#else
    mm_loop_backward_input(dx, dy, w, rows, in, out);
#endif
}

/* dw (out, in) += dy^T x; db (out) += the sum of dy's rows, unless NULL. */
static inline void mm_backward_weight(float *restrict dw,
                                      float *restrict db,
                                      const float *restrict dy,
                                      const float *restrict x, int64_t rows,
                                      int64_t in, int64_t out)
{
#ifdef HAVE_CBLAS
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)out, (int)in,
                (int)rows, 1.0f, dy, (int)out, x, (int)in, 1.0f, dw,
                (int)in);
#else
    mm_loop_backward_weight(dw, dy, x, rows, in, out);
#endif
    if (db)
        for (int64_t r = 0; r < rows; r++)
            mm_axpy(db, 1.0f, dy + r * out, out);
}

#endif
