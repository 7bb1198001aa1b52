/* tests/emu/test_cuda_emu.c - the CUDA emulator's runtime and cuBLAS on
 * small cases worked out by hand, so that the GPU tests it runs can trust
 * it: above all the column-major BLAS semantics (transposes, leading
 * dimensions, increments, beta == 0 not reading C), then memory
 * accounting, copy checks, events, peer access and error texts. Built and
 * run by `make check` only in an --enable-cuda-emulator build. Asks for
 * two emulated GPUs itself.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime_api.h>
#include <cublas_v2.h>
#include <cudnn.h>

static int failures;

#define CHECK(cond)                                                         \
    do {                                                                    \
        if (!(cond)) {                                                      \
            fprintf(stderr, "%s:%d: failed: %s\n", __FILE__, __LINE__,      \
                    #cond);                                                 \
            failures++;                                                     \
        }                                                                   \
    } while (0)

#define CUDA(call) CHECK((call) == cudaSuccess)
#define BLAS(call) CHECK((call) == CUBLAS_STATUS_SUCCESS)

static float *dev(const float *host, size_t n)
{
    float *d = NULL;
    CUDA(cudaMalloc((void **)&d, n * sizeof *d));
    if (host)
        CUDA(cudaMemcpy(d, host, n * sizeof *d, cudaMemcpyHostToDevice));
    return d;
}

static void back(float *host, const float *d, size_t n)
{
    CUDA(cudaMemcpy(host, d, n * sizeof *d, cudaMemcpyDeviceToHost));
}

static void test_runtime(void)
{
    int n = 0, v = 0;
    CUDA(cudaGetDeviceCount(&n));
    CHECK(n == 2);
    CUDA(cudaRuntimeGetVersion(&v));
    CHECK(v == CUDART_VERSION);
    struct cudaDeviceProp prop;
    CUDA(cudaGetDeviceProperties(&prop, 1));
    CHECK(strcmp(prop.name, "pipette CUDA emulator") == 0);
    CHECK(prop.major == 9 && prop.minor == 0);
    CHECK(cudaSetDevice(2) == cudaErrorInvalidDevice);
    CHECK(cudaGetLastError() == cudaErrorInvalidDevice);
    CHECK(cudaGetLastError() == cudaSuccess);
    CHECK(strcmp(cudaGetErrorName(cudaErrorMemoryAllocation),
                 "cudaErrorMemoryAllocation") == 0);
    CHECK(strcmp(cudaGetErrorString(cudaErrorMemoryAllocation),
                 "out of memory") == 0);

    /* Memory: counted per device, refused past the total. */
    size_t free0, total, free1;
    CUDA(cudaSetDevice(0));
    CUDA(cudaMemGetInfo(&free0, &total));
    CHECK(free0 <= total && total > 0);
    void *p = NULL, *q = &p;
    CUDA(cudaMalloc(&p, 1000));
    CUDA(cudaMemGetInfo(&free1, &total));
    CHECK(free0 - free1 == 1024);
    CHECK(cudaMalloc(&q, total) == cudaErrorMemoryAllocation);
    CHECK(cudaGetLastError() == cudaErrorMemoryAllocation);
    CUDA(cudaSetDevice(1));
    CUDA(cudaMemGetInfo(&free1, &total));
    CHECK(free1 == total); /* device 1 has nothing allocated */
    CUDA(cudaSetDevice(0));

    /* Copies: the direction must match the pointers, and stay inside. */
    float host[300] = {0};
    CHECK(cudaMemcpy(host, p, 4, cudaMemcpyHostToDevice) ==
          cudaErrorInvalidValue);
    CHECK(cudaMemcpy(host, p, 1001, cudaMemcpyDeviceToHost) ==
          cudaErrorInvalidValue);
    CUDA(cudaMemset(p, 0, 1000));
    CUDA(cudaMemcpy(host, p, 1000, cudaMemcpyDefault));
    CHECK(host[0] == 0.0f && host[249] == 0.0f);
    CHECK(cudaFree((char *)p + 4) == cudaErrorInvalidValue);
    CUDA(cudaFree(p));
    (void)cudaGetLastError();

    /* Events: timing ones measure, others refuse. */
    cudaStream_t s;
    cudaEvent_t a, b, untimed;
    CUDA(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    CUDA(cudaEventCreate(&a));
    CUDA(cudaEventCreate(&b));
    CUDA(cudaEventCreateWithFlags(&untimed, cudaEventDisableTiming));
    float ms = -1;
    CHECK(cudaEventElapsedTime(&ms, a, b) == cudaErrorInvalidResourceHandle);
    CUDA(cudaEventRecord(a, s));
    CUDA(cudaEventRecord(b, s));
    CUDA(cudaEventRecord(untimed, s));
    CUDA(cudaStreamWaitEvent(s, b, 0));
    CUDA(cudaEventSynchronize(b));
    CUDA(cudaEventElapsedTime(&ms, a, b));
    CHECK(ms >= 0);
    CHECK(cudaEventElapsedTime(&ms, a, untimed) ==
          cudaErrorInvalidResourceHandle);
    CUDA(cudaSetDevice(1));
    CHECK(cudaEventRecord(a, 0) == cudaErrorInvalidResourceHandle);
    CUDA(cudaSetDevice(0));
    CUDA(cudaEventDestroy(a));
    CUDA(cudaEventDestroy(b));
    CUDA(cudaEventDestroy(untimed));
    CUDA(cudaStreamDestroy(s));

    /* Peer access: possible between two devices, enabled once. */
    int can = -1;
    CUDA(cudaDeviceCanAccessPeer(&can, 0, 1));
    CHECK(can == 1);
    CUDA(cudaDeviceCanAccessPeer(&can, 0, 0));
    CHECK(can == 0);
    CUDA(cudaDeviceEnablePeerAccess(1, 0));
    CHECK(cudaDeviceEnablePeerAccess(1, 0) ==
          cudaErrorPeerAccessAlreadyEnabled);
    (void)cudaGetLastError();

    cudnnHandle_t dnn;
    CHECK(cudnnCreate(&dnn) == CUDNN_STATUS_SUCCESS);
    CHECK(cudnnSetStream(dnn, 0) == CUDNN_STATUS_SUCCESS);
    CHECK(cudnnDestroy(dnn) == CUDNN_STATUS_SUCCESS);
    CHECK(cudnnGetVersion() == CUDNN_VERSION);
}

/* A = [1 3 5; 2 4 6] (2 x 3), B = [1 0; 0 1; 2 1] (3 x 2):
 * A B = [11 8; 14 10]. */
static void test_gemm(cublasHandle_t h)
{
    const float nan = NAN;
    /* A stored as is, lda 3 (a padding row of NaN), and as A^T (3 x 2). */
    const float a[] = {1, 2, nan, 3, 4, nan, 5, 6, nan};
    const float at[] = {1, 3, 5, 2, 4, 6};
    /* B as is, ldb 3; B^T (2 x 3), ldb 2. */
    const float b[] = {1, 0, 2, 0, 1, 1};
    const float bt[] = {1, 0, 0, 1, 2, 1};
    const float want[] = {11, 14, 8, 10};
    float *d_a = dev(a, 9), *d_at = dev(at, 6), *d_b = dev(b, 6);
    float *d_bt = dev(bt, 6), *d_c = dev(NULL, 4);
    const float two = 2, zero = 0, one = 1;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            float c[4] = {nan, nan, nan, nan};
            CUDA(cudaMemcpy(d_c, c, sizeof c, cudaMemcpyHostToDevice));
            /* C = 2 op(A) op(B) + 0 C: the NaN in C must not survive. */
            BLAS(cublasGemmEx(h, ta ? CUBLAS_OP_T : CUBLAS_OP_N,
                              tb ? CUBLAS_OP_T : CUBLAS_OP_N, 2, 2, 3, &two,
                              ta ? d_at : d_a, CUDA_R_32F, 3,
                              tb ? d_bt : d_b, CUDA_R_32F, tb ? 2 : 3, &zero,
                              d_c, CUDA_R_32F, 2, CUBLAS_COMPUTE_32F_PEDANTIC,
                              CUBLAS_GEMM_DEFAULT));
            back(c, d_c, 4);
            for (int i = 0; i < 4; i++)
                CHECK(c[i] == 2 * want[i]);
            /* beta = 1 adds. */
            BLAS(cublasGemmEx(h, ta ? CUBLAS_OP_T : CUBLAS_OP_N,
                              tb ? CUBLAS_OP_T : CUBLAS_OP_N, 2, 2, 3, &one,
                              ta ? d_at : d_a, CUDA_R_32F, 3,
                              tb ? d_bt : d_b, CUDA_R_32F, tb ? 2 : 3, &one,
                              d_c, CUDA_R_32F, 2, CUBLAS_COMPUTE_32F,
                              CUBLAS_GEMM_DEFAULT));
            back(c, d_c, 4);
            for (int i = 0; i < 4; i++)
                CHECK(c[i] == 3 * want[i]);
        }
    /* A leading dimension below the rows is refused. */
    CHECK(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, 2, 2, 3, &one, d_a,
                       CUDA_R_32F, 1, d_b, CUDA_R_32F, 3, &zero, d_c,
                       CUDA_R_32F, 2, CUBLAS_COMPUTE_32F,
                       CUBLAS_GEMM_DEFAULT) == CUBLAS_STATUS_INVALID_VALUE);
    /* Reading past B's allocation fails rather than reading garbage. */
    CHECK(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, 2, 2, 3, &one, d_a,
                       CUDA_R_32F, 3, d_b, CUDA_R_32F, 4, &zero, d_c,
                       CUDA_R_32F, 2, CUBLAS_COMPUTE_32F,
                       CUBLAS_GEMM_DEFAULT) == CUBLAS_STATUS_EXECUTION_FAILED);

    /* TF32 keeps 10 mantissa bits: 1 + 2^-12 becomes 1. */
    const float x = 1.0f + 0x1p-12f, y = 1.0f;
    float *d_x = dev(&x, 1), *d_y = dev(&y, 1), r = 0;
    BLAS(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, 1, 1, 1, &one, d_x,
                      CUDA_R_32F, 1, d_y, CUDA_R_32F, 1, &zero, d_c,
                      CUDA_R_32F, 1, CUBLAS_COMPUTE_32F_FAST_TF32,
                      CUBLAS_GEMM_DEFAULT));
    back(&r, d_c, 1);
    CHECK(r == 1.0f);
    BLAS(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, 1, 1, 1, &one, d_x,
                      CUDA_R_32F, 1, d_y, CUDA_R_32F, 1, &zero, d_c,
                      CUDA_R_32F, 1, CUBLAS_COMPUTE_32F_PEDANTIC,
                      CUBLAS_GEMM_DEFAULT));
    back(&r, d_c, 1);
    CHECK(r == x);

    /* Host memory is not the device's. */
    float host_c[4];
    CHECK(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, 2, 2, 3, &one, d_a,
                       CUDA_R_32F, 3, d_b, CUDA_R_32F, 3, &zero, host_c,
                       CUDA_R_32F, 2, CUBLAS_COMPUTE_32F,
                       CUBLAS_GEMM_DEFAULT) == CUBLAS_STATUS_EXECUTION_FAILED);
    cudaFree(d_a), cudaFree(d_at), cudaFree(d_b), cudaFree(d_bt);
    cudaFree(d_c), cudaFree(d_x), cudaFree(d_y);
}

static void test_level2(cublasHandle_t h)
{
    const float one = 1, zero = 0, nan = NAN;
    /* A = [1 3 5; 2 4 6], lda 2. */
    const float a[] = {1, 2, 3, 4, 5, 6};
    const float x3[] = {1, 1, 1}, x2[] = {1, nan, 1};
    float *d_a = dev(a, 6), *d_x3 = dev(x3, 3), *d_x2 = dev(x2, 3);
    float y[6] = {nan, nan, nan, nan, nan, nan};
    float *d_y = dev(y, 6);
    /* y = A [1 1 1]^T = [9 12], incy 2: y[0], y[2]. */
    BLAS(cublasSgemv(h, CUBLAS_OP_N, 2, 3, &one, d_a, 2, d_x3, 1, &zero,
                     d_y, 2));
    back(y, d_y, 6);
    CHECK(y[0] == 9 && y[2] == 12 && isnan(y[1]) && isnan(y[3]));
    /* y = A^T [1 1]^T = [3 7 11], x read with incx 2, y added to. */
    const float y1[] = {1, 1, 1};
    CUDA(cudaMemcpy(d_y, y1, sizeof y1, cudaMemcpyHostToDevice));
    BLAS(cublasSgemv(h, CUBLAS_OP_T, 2, 3, &one, d_a, 2, d_x2, 2, &one, d_y,
                     1));
    back(y, d_y, 3);
    CHECK(y[0] == 4 && y[1] == 8 && y[2] == 12);

    /* A = A + x y^T, x = [1 2], y = [1 10 100], A 2 x 3 with lda 3. */
    const float x[] = {1, 2}, yv[] = {1, 10, 100};
    float m[9] = {0};
    float *d_m = dev(m, 9), *d_xv = dev(x, 2), *d_yv = dev(yv, 3);
    BLAS(cublasSger(h, 2, 3, &one, d_xv, 1, d_yv, 1, d_m, 3));
    back(m, d_m, 9);
    const float want[] = {1, 2, 0, 10, 20, 0, 100, 200, 0};
    for (int i = 0; i < 9; i++)
        CHECK(m[i] == want[i]);
    cudaFree(d_a), cudaFree(d_x3), cudaFree(d_x2), cudaFree(d_y);
    cudaFree(d_m), cudaFree(d_xv), cudaFree(d_yv);
}

int main(void)
{
    setenv("PIPETTE_EMU_GPUS", "2", 1);
    test_runtime();
    cublasHandle_t h;
    BLAS(cublasCreate(&h));
    BLAS(cublasSetStream(h, 0));
    int major = 0;
    BLAS(cublasGetProperty(MAJOR_VERSION, &major));
    CHECK(major == CUBLAS_VER_MAJOR);
    CHECK(strcmp(cublasGetStatusName(CUBLAS_STATUS_INVALID_VALUE),
                 "CUBLAS_STATUS_INVALID_VALUE") == 0);
    test_gemm(h);
    test_level2(h);
    /* A handle belongs to the device current at its creation. */
    CUDA(cudaSetDevice(1));
    float *d = dev(NULL, 1);
    const float one = 1;
    CHECK(cublasSger(h, 1, 1, &one, d, 1, d, 1, d, 1) ==
          CUBLAS_STATUS_EXECUTION_FAILED);
    cudaFree(d);
    BLAS(cublasDestroy(h));
    if (failures)
        fprintf(stderr, "test_cuda_emu: %d check(s) failed\n", failures);
    else
        printf("test_cuda_emu: all checks passed\n");
    return failures ? EXIT_FAILURE : EXIT_SUCCESS;
}
