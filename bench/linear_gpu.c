/* bench/linear_gpu.c - the `linear` layer's CUDA half against bare
 * cuBLASLt on the same shapes, in the same run and the same precision:
 * forward, input gradient and weight gradient of y = x W^T + b with x
 * (rows, in), W (out, in), timed with CUDA events on one stream, reported
 * in TFLOP/s (three GEMMs of 2 rows in out FLOPs each).
 *
 *   bench/linear_gpu [ROWS IN OUT [ITERS]]   (default 8192 8192 8192 20)
 *
 * PIPETTE_PRECISION picks the precision ([train] precision's names):
 * fp32 (the default), tf32 or bf16. The bare side is what a framework
 * would write with cuBLASLt: the same three matmuls, types, compute types
 * and epilogues (BIAS forward, BGRADB writing db beside the weight
 * gradient), the heuristic's best algorithm for each, chosen before the
 * clock starts, and the workspace cuBLAS suggests (32 MiB from compute
 * capability 9.0, Hopper, on; 4 MiB before), where the layer has 4 MiB
 * (layers/linear.cu says why): a GEMM that would run faster with more
 * shows in the ratio. It writes dx (beta 0), as
 * a framework that assigns input gradients would, and db (=); the layer
 * adds to both, as pipette's contract says (beta 1, and a kernel that
 * adds BGRADB's db): the ratio carries those costs and the layer's own
 * (its plan lookup, a launch more).
 *
 * Both sides' forward outputs are compared afterwards, so a bare side
 * that computed something else cannot pass for the baseline: exit 1
 * where they differ by more than their sums' rounding. Exits 77 when no
 * GPU answers. Otherwise not a test.
 */
#include <config.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cublasLt.h>
#include <cuda_runtime_api.h>

#include <pipette/cuda.h>
#include <pipette/pipette.h>

#include "model.h"

/* A call that must not fail: PP_CUDA_CHECK or PP_CUBLASLT_CHECK's
 * message, then exit. */
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
#define CHECK_LT(call)                                                      \
    do {                                                                    \
        pp_error e_;                                                        \
        must(PP_CUBLASLT_CHECK(call, &e_), &e_);                            \
    } while (0)

static void *host_alloc(size_t bytes)
{
    void *p = malloc(bytes ? bytes : 1);
    if (!p) {
        fprintf(stderr, "linear_gpu: out of host memory\n");
        exit(1);
    }
    return p;
}

/* n values in [-0.5, 0.5] on the device, of dtype (FP32 or bf16). */
static void *device_random(size_t n, pp_dtype dtype, unsigned seed)
{
    float *host = host_alloc(n * sizeof *host);
    void *vals = host_alloc(n * sizeof *host), *dev;
    size_t bytes = n * (dtype == PP_BF16 ? 2 : 4);
    srand(seed);
    for (size_t i = 0; i < n; i++)
        host[i] = (float)rand() / (float)RAND_MAX - 0.5f;
    pp_row_store(vals, dtype, host, (int64_t)n);
    CHECK(cudaMalloc(&dev, bytes));
    CHECK(cudaMemcpy(dev, vals, bytes, cudaMemcpyHostToDevice));
    free(host);
    free(vals);
    return dev;
}

static void *device_zeros(size_t bytes)
{
    void *dev;
    CHECK(cudaMalloc(&dev, bytes));
    CHECK(cudaMemset(dev, 0, bytes));
    return dev;
}

/* One bare GEMM: its descriptor, layouts and algorithm. */
typedef struct bare_gemm {
    cublasLtMatmulDesc_t desc;
    cublasLtMatrixLayout_t a, b, c;
    cublasLtMatmulAlgo_t algo;
} bare_gemm;

/* Column-major A (ar x ac), B (br x bc), C = D (cr x cc), leading
 * dimensions their rows; epilogue e with its bias at bias. */
static bare_gemm bare_make(cublasLtHandle_t lt, cublasComputeType_t ct,
                           cudaDataType ab, cudaDataType cd,
                           cublasOperation_t op_a, cublasOperation_t op_b,
                           const uint64_t sh[3][2], cublasLtEpilogue_t e,
                           const void *bias, size_t workspace)
{
    bare_gemm g;
    CHECK_LT(cublasLtMatmulDescCreate(&g.desc, ct, CUDA_R_32F));
    CHECK_LT(cublasLtMatmulDescSetAttribute(
        g.desc, CUBLASLT_MATMUL_DESC_TRANSA, &op_a, sizeof op_a));
    CHECK_LT(cublasLtMatmulDescSetAttribute(
        g.desc, CUBLASLT_MATMUL_DESC_TRANSB, &op_b, sizeof op_b));
    CHECK_LT(cublasLtMatmulDescSetAttribute(
        g.desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &e, sizeof e));
    if (bias)
        CHECK_LT(cublasLtMatmulDescSetAttribute(
            g.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias));
    CHECK_LT(cublasLtMatrixLayoutCreate(&g.a, ab, sh[0][0], sh[0][1],
                                        (int64_t)sh[0][0]));
    CHECK_LT(cublasLtMatrixLayoutCreate(&g.b, ab, sh[1][0], sh[1][1],
                                        (int64_t)sh[1][0]));
    CHECK_LT(cublasLtMatrixLayoutCreate(&g.c, cd, sh[2][0], sh[2][1],
                                        (int64_t)sh[2][0]));
    cublasLtMatmulPreference_t pref;
    uint64_t ws = workspace;
    CHECK_LT(cublasLtMatmulPreferenceCreate(&pref));
    CHECK_LT(cublasLtMatmulPreferenceSetAttribute(
        pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws));
    cublasLtMatmulHeuristicResult_t r;
    int got = 0;
    CHECK_LT(cublasLtMatmulAlgoGetHeuristic(lt, g.desc, g.a, g.b, g.c, g.c,
                                            pref, 1, &r, &got));
    if (got < 1) {
        fprintf(stderr, "linear_gpu: cuBLASLt has no algorithm\n");
        exit(1);
    }
    g.algo = r.algo;
    CHECK_LT(cublasLtMatmulPreferenceDestroy(pref));
    return g;
}

static void bare_run(cublasLtHandle_t lt, const bare_gemm *g, const void *a,
                     const void *b, float beta, void *d, void *workspace,
                     size_t ws, cudaStream_t s)
{
    const float one = 1.0f;
    CHECK_LT(cublasLtMatmul(lt, g->desc, &one, a, g->a, b, g->b, &beta, d,
                            g->c, d, g->c, &g->algo, workspace, ws, s));
}

static void bare_free(bare_gemm *g)
{
    cublasLtMatmulDescDestroy(g->desc);
    cublasLtMatrixLayoutDestroy(g->a);
    cublasLtMatrixLayoutDestroy(g->b);
    cublasLtMatrixLayoutDestroy(g->c);
}

/* n values of dtype on the device, as floats on the host. */
static float *fetch(const void *dev, size_t n, pp_dtype dtype)
{
    size_t bytes = n * (dtype == PP_BF16 ? 2 : 4);
    void *vals = host_alloc(bytes);
    float *f = host_alloc(n * sizeof *f);
    CHECK(cudaMemcpy(vals, dev, bytes, cudaMemcpyDeviceToHost));
    pp_row_load(f, vals, dtype, (int64_t)n);
    free(vals);
    return f;
}

int main(int argc, char **argv)
{
    int rows = argc > 3 ? atoi(argv[1]) : 8192;
    int in = argc > 3 ? atoi(argv[2]) : 8192;
    int out = argc > 3 ? atoi(argv[3]) : 8192;
    int iters = argc > 4 ? atoi(argv[4]) : 20;
    const char *prec = getenv("PIPETTE_PRECISION");
    prec = prec && *prec ? prec : "fp32";
    int gpus = 0;
    cudaError_t rc = cudaGetDeviceCount(&gpus);
    if (rc != cudaSuccess || gpus == 0) {
        printf("no GPU answers (%s): skipped\n",
               rc != cudaSuccess ? cudaGetErrorString(rc) : "no device");
        return 77;
    }
    if (rows < 1 || in < 1 || out < 1 || iters < 1 ||
        (strcmp(prec, "fp32") && strcmp(prec, "tf32") &&
         strcmp(prec, "bf16"))) {
        fprintf(stderr, "usage: [PIPETTE_PRECISION=fp32|tf32|bf16] %s "
                        "[ROWS IN OUT [ITERS]]\n", argv[0]);
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
               "precision = %s\n", in, out, prec);
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
    if (l->plan.nparams != 2) {
        fprintf(stderr, "linear planned without its bias\n");
        return 1;
    }
    pp_precision precision = l->plan.precision;
    int bf16 = precision == PP_PRECISION_BF16;
    pp_dtype act = bf16 ? PP_BF16 : PP_F32;
    cudaDataType ab = bf16 ? CUDA_R_16BF : CUDA_R_32F;
    cublasComputeType_t ct = bf16 ? CUBLAS_COMPUTE_32F
                             : precision == PP_PRECISION_TF32
                                 ? CUBLAS_COMPUTE_32F_FAST_TF32
                                 : CUBLAS_COMPUTE_32F_PEDANTIC;

    cudaStream_t s;
    CHECK(cudaStreamCreate(&s));
    size_t xs = (size_t)rows * in, ys = (size_t)rows * out,
           ws = (size_t)out * in, es = bf16 ? 2 : 4;
    void *x = device_random(xs, act, 1), *dy = device_random(ys, act, 4);
    void *w = device_random(ws, PP_F32, 2), *b = device_random(out, PP_F32, 3);
    void *w16 = device_random(ws, PP_BF16, 2);
    void *b16 = device_random(out, PP_BF16, 3);
    void *y = device_zeros(ys * es), *y_bare = device_zeros(ys * es);
    void *dx = device_zeros(xs * es), *dw = device_zeros(ws * 4);
    void *db = device_zeros((size_t)out * 4);
    void *work = device_zeros(l->plan.workspace_bytes * (size_t)rows + 4);
    const float *param[2] = {(const float *)w, (const float *)b};
    const void *param16[2] = {w16, b16};
    float *grad[2] = {(float *)dw, (float *)db};
    const void *xs_[1] = {x};
    void *dxs[1] = {dx};
    pp_layer_call c = {.plan = &l->plan, .nin = 1, .in = l->in, .n = rows,
                       .param = param, .grad = grad, .workspace = work,
                       .training = 1, .stream = s, .precision = precision,
                       .param_bf16 = bf16 ? param16 : NULL};
    void *state = NULL;
    if (ops->cuda->init && ops->cuda->init(&c, &state, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    c.state = state;

    /* Bare cuBLASLt: the layer's three GEMMs (linear.cu's table), the
     * bias in D's type, its gradient FP32. */
    cublasLtHandle_t lt;
    CHECK_LT(cublasLtCreate(&lt));
    int dev;
    struct cudaDeviceProp prop;
    CHECK(cudaGetDevice(&dev));
    CHECK(cudaGetDeviceProperties(&prop, dev));
    size_t lt_ws = (size_t)(prop.major >= 9 ? 32 : 4) << 20;
    void *lt_work = device_zeros(lt_ws);
    const uint64_t r = (uint64_t)rows, ni = (uint64_t)in, no = (uint64_t)out;
    const uint64_t fwd[3][2] = {{ni, no}, {ni, r}, {no, r}};
    const uint64_t bwd_x[3][2] = {{ni, no}, {no, r}, {ni, r}};
    const uint64_t bwd_w[3][2] = {{ni, r}, {no, r}, {ni, no}};
    const void *wb = bf16 ? w16 : w, *bb = bf16 ? b16 : b;
    bare_gemm g_fwd = bare_make(lt, ct, ab, ab, CUBLAS_OP_T, CUBLAS_OP_N, fwd,
                                CUBLASLT_EPILOGUE_BIAS, bb, lt_ws);
    bare_gemm g_dx = bare_make(lt, ct, ab, ab, CUBLAS_OP_N, CUBLAS_OP_N,
                               bwd_x, CUBLASLT_EPILOGUE_DEFAULT, NULL, lt_ws);
    bare_gemm g_dw = bare_make(lt, ct, ab, CUDA_R_32F, CUBLAS_OP_N,
                               CUBLAS_OP_T, bwd_w, CUBLASLT_EPILOGUE_BGRADB,
                               db, lt_ws);

    cudaEvent_t t0, t1;
    CHECK(cudaEventCreate(&t0));
    CHECK(cudaEventCreate(&t1));
    double flops = 3.0 * 2.0 * rows * (double)in * out;
    float ms_layer = 0, ms_bare = 0;
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
        for (int i = 0; i < iters; i++) {
            bare_run(lt, &g_fwd, wb, x, 0.0f, y_bare, lt_work, lt_ws, s);
            bare_run(lt, &g_dx, wb, dy, 0.0f, dx, lt_work, lt_ws, s);
            bare_run(lt, &g_dw, x, dy, 1.0f, dw, lt_work, lt_ws, s);
        }
        CHECK(cudaEventRecord(t1, s));
        CHECK(cudaEventSynchronize(t1));
        CHECK(cudaEventElapsedTime(&ms_bare, t0, t1));
    }

    /* The same forward on both sides, up to the order of their sums:
     * with inputs of at most 1/2, S = in / 4 + 1/2 bounds each output's
     * terms, and any two orders of summing them in FP32 (on tensor
     * cores, maybe truncating: 2u) are within 3 (in + 1) 2^-24 S; in
     * bf16 each side rounds once more, one bf16 ulp between them. A
     * sanity check of the baseline, loose at large sizes. */
    float *yl = fetch(y, ys, act), *yb = fetch(y_bare, ys, act);
    double sum_bound = 3.0 * (in + 1.0) * 0x1p-24 * (in / 4.0 + 0.5);
    double worst = 0;
    for (size_t i = 0; i < ys; i++) {
        double big = fmax(fabs(yl[i]), fabs(yb[i]));
        double bound = sum_bound + (bf16 ? big * 0x1p-7 : 0);
        double d = fabs((double)yl[i] - yb[i]) / bound;
        worst = d > worst || isnan(d) ? d : worst;
    }
    free(yl);
    free(yb);

    double layer = flops * iters / (ms_layer * 1e-3) / 1e12;
    double plain = flops * iters / (ms_bare * 1e-3) / 1e12;
    printf("linear %dx%d -> %d (%s): layer %.1f TFLOP/s, bare cuBLASLt %.1f "
           "TFLOP/s, %.1f%%\n",
           rows, in, out, bf16 ? "BF16" : precision == PP_PRECISION_TF32
                                              ? "TF32" : "FP32",
           layer, plain, 100.0 * layer / plain);
    bare_free(&g_fwd);
    bare_free(&g_dx);
    bare_free(&g_dw);
    cublasLtDestroy(lt);
    if (ops->cuda->destroy)
        ops->cuda->destroy(state);
    cudaStreamDestroy(s);
    pp_model_free(m);
    if (!(worst <= 1.0)) {
        fprintf(stderr, "linear_gpu: the layer's y and bare cuBLASLt's "
                        "differ (worst %.3g of the bound)\n", worst);
        return 1;
    }
    return 0;
}
