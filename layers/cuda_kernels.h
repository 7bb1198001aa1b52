/* layers/cuda_kernels.h - the C-visible launchers of the layer plugins'
 * CUDA kernels (cuda_kernels.cu), built once into layers/libppcuda.la and
 * linked into each layer plugin that has a CUDA half.
 *
 * Private to the layers: it exposes cudaError_t, so it never goes near
 * include/pipette. Every pointer is device memory. Each launcher queues
 * its kernels on `stream` and returns the launch error only: nothing here
 * synchronises or allocates, so the caller's pipeline keeps running.
 * Formulas and layouts are those of the CPU halves (layers/NAME.c), which
 * are the reference; so is the order of embedding's gradient sums, while
 * layernorm's weight gradients meet in a tree (the tests allow for it).
 *
 * An out-of-range token id or target class cannot be refused from inside a
 * kernel without stopping the stream to read a flag. The kernels never
 * read or write outside a table for one: they turn what depends on it into
 * NaN (the embedding's output row, the row's loss and gradient), so the
 * step's loss is NaN and the runtime's finite-loss check stops training
 * before an optimizer step. Embedding's backward skips such a token.
 */
#ifndef PP_LAYERS_CUDA_KERNELS_H
#define PP_LAYERS_CUDA_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

/* x (n) = value (cudart's memsets repeat a byte; 1.0f is not one) */
cudaError_t pp_cuda_fill(cudaStream_t s, float *x, float value, int64_t n);

/* Backward launchers add to dx (+=), as the layers' contract says.
 *
 * y (n) = max(x, 0); dx (n) += dy where y > 0 */
cudaError_t pp_cuda_relu_forward(cudaStream_t s, float *y, const float *x,
                                 int64_t n);
cudaError_t pp_cuda_relu_backward(cudaStream_t s, float *dx,
                                  const float *dy, const float *y,
                                  int64_t n);

/* y (n) = gelu(x), tanh approximation; dx (n) += dy gelu'(x) */
cudaError_t pp_cuda_gelu_forward(cudaStream_t s, float *y, const float *x,
                                 int64_t n);
cudaError_t pp_cuda_gelu_backward(cudaStream_t s, float *dx,
                                  const float *dy, const float *x,
                                  int64_t n);

/* y (n) = tanh(x); dx (n) += dy (1 - y^2) */
cudaError_t pp_cuda_tanh_forward(cudaStream_t s, float *y, const float *x,
                                 int64_t n);
cudaError_t pp_cuda_tanh_backward(cudaStream_t s, float *dx,
                                  const float *dy, const float *y,
                                  int64_t n);

/* y (n) = a + b; y (n) += x: add's sums, left to right */
cudaError_t pp_cuda_add(cudaStream_t s, float *y, const float *a,
                        const float *b, int64_t n);
cudaError_t pp_cuda_accumulate(cudaStream_t s, float *y, const float *x,
                               int64_t n);

/* concat's copies. back 0: wide (rows, C) columns off .. off + w - 1 =
 * narrow (rows, w); back 1: narrow += those columns of wide. */
cudaError_t pp_cuda_columns(cudaStream_t s, float *dst, const float *src,
                            int64_t rows, int64_t w, int64_t C, int64_t off,
                            int back);

/* out (n) = in * scale where element first + i of the step's batch is
 * kept, else 0 (add: out += that); the mask is dropout.c's hash of
 * (seed, first + i). */
cudaError_t pp_cuda_dropout(cudaStream_t s, float *out, const float *in,
                            int64_t first, int64_t n, uint64_t seed,
                            double rate, int add);

/* y (rows, C); stats (rows, 2): mean, rstd; x (rows, C); w, b (C) */
cudaError_t pp_cuda_layernorm_forward(cudaStream_t s, float *y,
                                      float *stats, const float *x,
                                      const float *w, const float *b,
                                      int64_t rows, int64_t C, float eps);
/* dx (rows, C) += the gradient from dy, x, stats and w */
cudaError_t pp_cuda_layernorm_backward_input(cudaStream_t s, float *dx,
                                             const float *dy,
                                             const float *x,
                                             const float *stats,
                                             const float *w, int64_t rows,
                                             int64_t C);
/* dw (C) += sum over rows of dy xhat; db (C) += sum over rows of dy */
cudaError_t pp_cuda_layernorm_backward_weight(cudaStream_t s, float *dw,
                                              float *db, const float *dy,
                                              const float *x,
                                              const float *stats,
                                              int64_t rows, int64_t C);

/* out (tokens, dim) = weight[ids]; weight (vocab, dim) */
cudaError_t pp_cuda_embedding_forward(cudaStream_t s, float *out,
                                      const int32_t *ids,
                                      const float *weight, int64_t tokens,
                                      int64_t dim, int64_t vocab);
/* dweight[ids[t]] += dout[t], each element in token order */
cudaError_t pp_cuda_embedding_backward_weight(cudaStream_t s,
                                              float *dweight,
                                              const float *dout,
                                              const int32_t *ids,
                                              int64_t tokens, int64_t dim,
                                              int64_t vocab);

/* loss (one float) = scale * sum over rows of -log softmax(x)[target];
 * row_loss (rows doubles) is scratch. x (rows, C), target (rows) */
cudaError_t pp_cuda_xent_forward(cudaStream_t s, float *loss,
                                 double *row_loss, const float *x,
                                 const int32_t *target, int64_t rows,
                                 int64_t C, double scale);
/* dx (rows, C) += scale * (softmax(x) - onehot(target)) */
cudaError_t pp_cuda_xent_backward(cudaStream_t s, float *dx, const float *x,
                                  const int32_t *target, int64_t rows,
                                  int64_t C, double scale);

/* loss (one float) = scale * sum((x - t)^2) over samples of `per`
 * elements; sample_sum (samples doubles) is scratch. */
cudaError_t pp_cuda_mse_forward(cudaStream_t s, float *loss,
                                double *sample_sum, const float *x,
                                const float *t, int64_t samples,
                                int64_t per, double scale);
/* dx (n) += 2 scale (x - t) */
cudaError_t pp_cuda_mse_backward(cudaStream_t s, float *dx, const float *x,
                                 const float *t, int64_t n, double scale);

#ifdef __cplusplus
}
#endif

#endif
