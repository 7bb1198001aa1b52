/* bench/linear_gpu.c - the `linear` layer's CUDA half against bare cuBLAS
 * on the same shapes, in the same run: forward, input gradient and weight
 * gradient of y = x W^T + b with x (rows, in), W (out, in), timed with
 * CUDA events on one stream, reported in TFLOP/s (three GEMMs of
 * 2 rows in out FLOPs each). The layer has its default bias, so the bare
 * side does the same bias work with the same cuBLAS calls (a rank-1 update
 * after the forward GEMM, a GEMV for the bias gradient): the ratio is then
 * the layer's own overhead, not the bias's memory traffic, which at small
 * shapes or with TF32 is a few percent of the GEMMs' time.
 *
 *   bench/linear_gpu [ROWS IN OUT [ITERS]]   (default 8192 8192 8192 20)
 *
 * Exits 77 when no GPU answers. FP32 (TF32 off) on both sides, as the
 * default precision; PIPETTE_TF32=1 turns TF32 on for both ([train]
 * precision = tf32 for the layer). Not a test: it checks nothing but that
 * both ran.
 */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <pipette/cuda.h>

#include "model.h"

/* A call that must not fail: PP_CUDA_CHECK or PP_CUBLAS_CHECK's message,
 * then exit. */
static void must(pp_status st, const pp_error *err)
{
    if (st) {
        fprintf(stderr, "linear_gpu: %s\n", err->msg);
        exit(1);
    }
}
#define CHECK(call)                                                         \
    do {                                                                    \
        pp_error e_;                                                        \
        must(PP_CUDA_CHECK(call, &e_), &e_);                                \
    } while (0)
#define CHECK_BLAS(call)                                                    \
    do {                                                                    \
        pp_error e_;                                                        \
        must(PP_CUBLAS_CHECK(call, &e_), &e_);                              \
    } while (0)

static float *device_random(size_t n, unsigned seed)
{
    float *host = malloc(n * sizeof *host), *dev;
    if (!host) {
        fprintf(stderr, "out of host memory\n");
        exit(1);
    }
    srand(seed);
    for (size_t i = 0; i < n; i++)
        host[i] = (float)rand() / (float)RAND_MAX - 0.5f;
    CHECK(cudaMalloc((void **)&dev, n * sizeof *dev));
    CHECK(cudaMemcpy(dev, host, n * sizeof *dev, cudaMemcpyHostToDevice));
    free(host);
    return dev;
}

/* The layer's work through cuBLAS directly (row-major seen as
 * column-major, as in layers/linear.c): the three GEMMs, the bias added to
 * y and its gradient summed from dy, against a vector of ones (rows). dx
 * is written (beta 0), as a framework that assigns input gradients would;
 * the layer adds to it (beta 1), as pipette's contract says, so the
 * ratio carries that cost. */
static void bare(cublasHandle_t h, cublasComputeType_t compute, int rows,
                 int in, int out, const float *x, const float *w,
                 const float *b, const float *ones, float *y,
                 const float *dy, float *dx, float *dw, float *db)
{
    const float one = 1.0f, zero = 0.0f;
    CHECK_BLAS(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, out, rows, in, &one,
                            w, CUDA_R_32F, in, x, CUDA_R_32F, in, &zero, y,
                            CUDA_R_32F, out, compute, CUBLAS_GEMM_DEFAULT));
    CHECK_BLAS(cublasSger(h, out, rows, &one, b, 1, ones, 1, y, out));
    CHECK_BLAS(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, in, rows, out, &one,
                            w, CUDA_R_32F, in, dy, CUDA_R_32F, out, &zero, dx,
                            CUDA_R_32F, in, compute, CUBLAS_GEMM_DEFAULT));
    CHECK_BLAS(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_T, in, out, rows, &one,
                            x, CUDA_R_32F, in, dy, CUDA_R_32F, out, &one, dw,
                            CUDA_R_32F, in, compute, CUBLAS_GEMM_DEFAULT));
    CHECK_BLAS(cublasSgemv(h, CUBLAS_OP_N, out, rows, &one, dy, out, ones, 1,
                           &one, db, 1));
}

int main(int argc, char **argv)
{
    int rows = argc > 3 ? atoi(argv[1]) : 8192;
    int in = argc > 3 ? atoi(argv[2]) : 8192;
    int out = argc > 3 ? atoi(argv[3]) : 8192;
    int iters = argc > 4 ? atoi(argv[4]) : 20;
    int tf32 = getenv("PIPETTE_TF32") && strcmp(getenv("PIPETTE_TF32"), "1") == 0;
    int gpus = 0;
    cudaError_t rc = cudaGetDeviceCount(&gpus);
    if (rc != cudaSuccess || gpus == 0) {
        printf("no GPU answers (%s): skipped\n",
               rc != cudaSuccess ? cudaGetErrorString(rc) : "no device");
        return 77;
    }
    if (rows < 1 || in < 1 || out < 1 || iters < 1) {
        fprintf(stderr, "usage: %s [ROWS IN OUT [ITERS]]\n", argv[0]);
        return 2;
    }

    /* The layer, planned from a model file like any user's (the loss
     * and [train] are there for the file to load, and to set the
     * precision). */
    char path[] = "/tmp/pp-linear-bench-XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        perror("mkstemp");
        return 1;
    }
    fprintf(f, "[model]\ninput = %d\n[layer fc]\ntype = linear\nunits = %d\n"
               "[layer loss]\ntype = mse\n[train]\nbatch = 1\n"
               "precision = %s\n", in, out, tf32 ? "tf32" : "fp32");
    fclose(f);
    pp_model *m;
    pp_error err;
    pp_error_clear(&err);
    pp_status st = pp_model_load(path, &m, &err);
    unlink(path);
    if (st) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    const pp_model_layer *l = &m->layers[0];
    const pp_layer_ops *ops = l->plugin->ops;
    if (!ops->cuda) {
        fprintf(stderr, "linear was built without its CUDA half\n");
        return 1;
    }

    cudaStream_t s;
    cublasHandle_t h;
    CHECK(cudaStreamCreate(&s));
    CHECK_BLAS(cublasCreate(&h));
    CHECK_BLAS(cublasSetStream(h, s));
    size_t xs = (size_t)rows * in, ys = (size_t)rows * out,
           ws = (size_t)out * in;
    float *x = device_random(xs, 1), *w = device_random(ws, 2),
          *b = device_random((size_t)out, 3), *dy = device_random(ys, 4);
    float *y, *dx, *dw, *db, *saved;
    CHECK(cudaMalloc((void **)&y, ys * sizeof(float)));
    CHECK(cudaMalloc((void **)&dx, xs * sizeof(float)));
    CHECK(cudaMalloc((void **)&dw, ws * sizeof(float)));
    CHECK(cudaMalloc((void **)&db, (size_t)out * sizeof(float)));
    CHECK(cudaMalloc((void **)&saved, l->plan.saved_bytes * (size_t)rows + 4));
    if (l->plan.nparams != 2) {
        fprintf(stderr, "linear planned without its bias\n");
        return 1;
    }
    /* The bare side's ones, made once: the layer refills its own each
     * forward, a cost that belongs to the layer. */
    float *ones_host = malloc((size_t)rows * sizeof *ones_host), *ones;
    if (!ones_host) {
        fprintf(stderr, "out of host memory\n");
        return 1;
    }
    for (int i = 0; i < rows; i++)
        ones_host[i] = 1.0f;
    CHECK(cudaMalloc((void **)&ones, (size_t)rows * sizeof(float)));
    CHECK(cudaMemcpy(ones, ones_host, (size_t)rows * sizeof(float),
                     cudaMemcpyHostToDevice));
    free(ones_host);
    const float *param[2] = {w, b};
    float *grad[2] = {dw, db};
    const void *xs_[1] = {x};
    void *dxs[1] = {dx};
    pp_layer_call c = {.plan = &l->plan, .nin = 1, .in = l->in, .n = rows,
                       .param = param, .grad = grad, .saved = saved,
                       .training = 1, .stream = s, .blas = h,
                       .precision = l->plan.precision};

    cudaEvent_t t0, t1;
    CHECK(cudaEventCreate(&t0));
    CHECK(cudaEventCreate(&t1));
    double flops = 3.0 * 2.0 * rows * (double)in * out;
    float ms_layer = 0, ms_bare = 0;
    cublasComputeType_t compute = tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32
                                       : CUBLAS_COMPUTE_32F_PEDANTIC;
    for (int pass = 0; pass < 2; pass++) { /* the first warms up */
        CHECK(cudaEventRecord(t0, s));
        for (int i = 0; i < iters; i++)
            if (ops->cuda->forward(&c, xs_, y, &err) ||
                ops->cuda->backward_input(&c, xs_, y, dy, dxs, &err) ||
                ops->cuda->backward_weight(&c, xs_, y, dy, &err)) {
                fprintf(stderr, "%s\n", err.msg);
                return 1;
            }
        CHECK(cudaEventRecord(t1, s));
        CHECK(cudaEventSynchronize(t1));
        CHECK(cudaEventElapsedTime(&ms_layer, t0, t1));
        CHECK(cudaEventRecord(t0, s));
        for (int i = 0; i < iters; i++)
            bare(h, compute, rows, in, out, x, w, b, ones, y, dy, dx, dw,
                 db);
        CHECK(cudaEventRecord(t1, s));
        CHECK(cudaEventSynchronize(t1));
        CHECK(cudaEventElapsedTime(&ms_bare, t0, t1));
    }
    double layer = flops * iters / (ms_layer * 1e-3) / 1e12;
    double plain = flops * iters / (ms_bare * 1e-3) / 1e12;
    printf("linear %dx%d -> %d (%s): layer %.1f TFLOP/s, bare cuBLAS %.1f "
           "TFLOP/s, %.1f%%\n",
           rows, in, out, tf32 ? "TF32" : "FP32", layer, plain,
           100.0 * layer / plain);
    cublasDestroy(h);
    cudaStreamDestroy(s);
    pp_model_free(m);
    return 0;
}
