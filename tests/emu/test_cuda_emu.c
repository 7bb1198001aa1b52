/* tests/emu/test_cuda_emu.c - the CUDA emulator's runtime, cuBLAS and
 * cuBLASLt on small cases worked out by hand, so that the GPU tests it
 * runs can trust it: above all the column-major BLAS semantics
 * (transposes, leading dimensions, increments, beta == 0 not reading C),
 * bf16 and TF32 rounding, cuBLASLt's epilogues against references in
 * double and its refusals, then memory accounting, copy checks, events,
 * peer access and error texts. Built and run by `make check` only in an
 * --enable-cuda-emulator build. Asks for two emulated GPUs itself.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime_api.h>
#include <cublasLt.h>
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

/* Device copies of any data, and back. */
static void *dev_bytes(const void *host, size_t bytes)
{
    void *d = NULL;
    CUDA(cudaMalloc(&d, bytes));
    if (host)
        CUDA(cudaMemcpy(d, host, bytes, cudaMemcpyHostToDevice));
    return d;
}

static void back_bytes(void *host, const void *d, size_t bytes)
{
    CUDA(cudaMemcpy(host, d, bytes, cudaMemcpyDeviceToHost));
}

/* The bf16 bits of x, which must be exact in bf16 (a test's constant). */
static uint16_t bf(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    CHECK((u & 0xffffu) == 0);
    return (uint16_t)(u >> 16);
}

static float from_bf(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
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

/* x y through cublasGemmEx, 1 x 1 x 1 in FP32 with compute type ct. */
static float f32_product(cublasHandle_t h, float x, float y,
                         cublasComputeType_t ct)
{
    const float one = 1, zero = 0;
    float *d_x = dev(&x, 1), *d_y = dev(&y, 1), *d_r = dev(NULL, 1), r = 0;
    BLAS(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, 1, 1, 1, &one, d_x,
                      CUDA_R_32F, 1, d_y, CUDA_R_32F, 1, &zero, d_r,
                      CUDA_R_32F, 1, ct, CUBLAS_GEMM_DEFAULT));
    back(&r, d_r, 1);
    cudaFree(d_x), cudaFree(d_y), cudaFree(d_r);
    return r;
}

/* TF32 rounds to 10 mantissa bits, ties away from zero; the math mode
 * decides for CUBLAS_COMPUTE_32F. */
static void test_tf32(cublasHandle_t h)
{
    const cublasComputeType_t fast = CUBLAS_COMPUTE_32F_FAST_TF32;
    CHECK(f32_product(h, 1 + 0x1p-11f, 1, fast) == 1 + 0x1p-10f);
    CHECK(f32_product(h, -1 - 0x1p-11f, 1, fast) == -1 - 0x1p-10f);
    CHECK(f32_product(h, 1 + 0x1p-11f - 0x1p-23f, 1, fast) == 1);
    CHECK(f32_product(h, 1 + 0x3p-12f, 1, fast) == 1 + 0x1p-10f);
    CHECK(isinf(f32_product(h, INFINITY, 1, fast)));

    const float x = 1 + 0x1p-12f;
    cublasMath_t mode = (cublasMath_t)-1;
    BLAS(cublasGetMathMode(h, &mode));
    CHECK(mode == CUBLAS_DEFAULT_MATH);
    CHECK(f32_product(h, x, 1, CUBLAS_COMPUTE_32F) == x);
    BLAS(cublasSetMathMode(h, CUBLAS_TF32_TENSOR_OP_MATH));
    CHECK(f32_product(h, x, 1, CUBLAS_COMPUTE_32F) == 1);
    CHECK(f32_product(h, x, 1, CUBLAS_COMPUTE_32F_PEDANTIC) == x);
    BLAS(cublasSetMathMode(
        h, CUBLAS_PEDANTIC_MATH |
               CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION));
    CHECK(f32_product(h, x, 1, CUBLAS_COMPUTE_32F) == x);
    BLAS(cublasSetMathMode(h, CUBLAS_DEFAULT_MATH));
}

/* x . y, k bf16 values each, through cublasGemmEx into C of type ct:
 * C's bits. */
static uint32_t bf16_dot(cublasHandle_t h, const uint16_t *x,
                         const uint16_t *y, int k, cudaDataType ct)
{
    const float one = 1, zero = 0;
    size_t bytes = (size_t)k * 2;
    void *d_x = dev_bytes(x, bytes), *d_y = dev_bytes(y, bytes);
    void *d_c = dev_bytes(NULL, 4);
    BLAS(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, 1, 1, k, &one, d_x,
                      CUDA_R_16BF, k, d_y, CUDA_R_16BF, k, &zero, d_c, ct,
                      1, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    uint32_t bits = 0;
    back_bytes(&bits, d_c, ct == CUDA_R_16BF ? 2 : 4);
    cudaFree(d_x), cudaFree(d_y), cudaFree(d_c);
    return bits;
}

/* bf16 in, FP32 sums, one rounding to C's type: test_gemm's A and B in
 * every transpose, then sums that show the one rounding. */
static void test_gemm_bf16(cublasHandle_t h)
{
    const float av[] = {1, 2, 3, 4, 5, 6}, atv[] = {1, 3, 5, 2, 4, 6};
    const float bv[] = {1, 0, 2, 0, 1, 1}, btv[] = {1, 0, 0, 1, 2, 1};
    const float want[] = {11, 14, 8, 10};
    uint16_t a[6], at[6], b[6], bt[6];
    for (int i = 0; i < 6; i++)
        a[i] = bf(av[i]), at[i] = bf(atv[i]), b[i] = bf(bv[i]),
        bt[i] = bf(btv[i]);
    /* Exactly as large as 6 bf16 values: 2 bytes each. */
    void *d_a = dev_bytes(a, sizeof a), *d_at = dev_bytes(at, sizeof at);
    void *d_b = dev_bytes(b, sizeof b), *d_bt = dev_bytes(bt, sizeof bt);
    float *d_c = dev(NULL, 4);
    void *d_h = dev_bytes(NULL, 8);
    const float two = 2, one = 1, zero = 0;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            cublasOperation_t oa = ta ? CUBLAS_OP_T : CUBLAS_OP_N;
            cublasOperation_t ob = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
            const void *pa = ta ? d_at : d_a, *pb = tb ? d_bt : d_b;
            int lda = ta ? 3 : 2, ldb = tb ? 2 : 3;
            float c[4] = {NAN, NAN, NAN, NAN};
            CUDA(cudaMemcpy(d_c, c, sizeof c, cudaMemcpyHostToDevice));
            BLAS(cublasGemmEx(h, oa, ob, 2, 2, 3, &two, pa, CUDA_R_16BF, lda,
                              pb, CUDA_R_16BF, ldb, &zero, d_c, CUDA_R_32F,
                              2, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
            back(c, d_c, 4);
            uint16_t ch[4] = {0x7fc0, 0x7fc0, 0x7fc0, 0x7fc0};
            CUDA(cudaMemcpy(d_h, ch, sizeof ch, cudaMemcpyHostToDevice));
            BLAS(cublasGemmEx(h, oa, ob, 2, 2, 3, &one, pa, CUDA_R_16BF, lda,
                              pb, CUDA_R_16BF, ldb, &zero, d_h, CUDA_R_16BF,
                              2, CUBLAS_COMPUTE_32F_PEDANTIC,
                              CUBLAS_GEMM_DEFAULT));
            /* beta = 1 reads bf16 C and adds. */
            BLAS(cublasGemmEx(h, oa, ob, 2, 2, 3, &one, pa, CUDA_R_16BF, lda,
                              pb, CUDA_R_16BF, ldb, &one, d_h, CUDA_R_16BF,
                              2, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
            back_bytes(ch, d_h, sizeof ch);
            for (int i = 0; i < 4; i++)
                CHECK(c[i] == 2 * want[i] && from_bf(ch[i]) == 2 * want[i]);
        }

    /* 256 + 1 + 1 = 258 in FP32 (bf16 at each step would stay at 256);
     * 257 and 259 are ties, to even: 256 and 260. */
    const uint16_t one3[] = {bf(1), bf(1), bf(1)};
    const uint16_t x258[] = {bf(256), bf(1), bf(1)}, x259[] = {bf(256),
                                                               bf(3)};
    CHECK(bf16_dot(h, x258, one3, 3, CUDA_R_16BF) == bf(258));
    CHECK(bf16_dot(h, x258, one3, 2, CUDA_R_16BF) == bf(256));
    CHECK(bf16_dot(h, x259, one3, 2, CUDA_R_16BF) == bf(260));
    /* The largest bf16 and half its ulp: a tie, to even, which is inf. */
    const uint16_t big[] = {bf(0x1.fep127f), bf(0x1p119f)};
    CHECK(bf16_dot(h, big, one3, 2, CUDA_R_16BF) == 0x7f80);
    CHECK(bf16_dot(h, big, one3, 1, CUDA_R_16BF) == 0x7f7f);
    /* inf * 0 is NaN, stored as bf16's canonical NaN. */
    const uint16_t inf[] = {0x7f80}, zero1[] = {0};
    CHECK(bf16_dot(h, inf, zero1, 1, CUDA_R_16BF) == 0x7fff);
    /* The TF32 math mode leaves bf16 alone. */
    BLAS(cublasSetMathMode(h, CUBLAS_TF32_TENSOR_OP_MATH));
    CHECK(bf16_dot(h, x258, one3, 3, CUDA_R_16BF) == bf(258));
    BLAS(cublasSetMathMode(h, CUBLAS_DEFAULT_MATH));
    /* A product of two bf16 is exact in FP32. */
    const uint16_t e[] = {bf(1 + 0x1p-7f)};
    float sq = 1 + 0x1p-6f + 0x1p-14f;
    uint32_t sq_bits;
    memcpy(&sq_bits, &sq, sizeof sq_bits);
    CHECK(bf16_dot(h, e, e, 1, CUDA_R_32F) == sq_bits);

    /* Outside cublasGemmEx's table: mixed inputs, TF32 on bf16, FP32 in
     * and bf16 out. */
    CHECK(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, 2, 2, 3, &one, d_a,
                       CUDA_R_16BF, 2, d_c, CUDA_R_32F, 3, &zero, d_c,
                       CUDA_R_32F, 2, CUBLAS_COMPUTE_32F,
                       CUBLAS_GEMM_DEFAULT) == CUBLAS_STATUS_NOT_SUPPORTED);
    CHECK(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, 2, 2, 3, &one, d_a,
                       CUDA_R_16BF, 2, d_b, CUDA_R_16BF, 3, &zero, d_c,
                       CUDA_R_32F, 2, CUBLAS_COMPUTE_32F_FAST_TF32,
                       CUBLAS_GEMM_DEFAULT) == CUBLAS_STATUS_NOT_SUPPORTED);
    CHECK(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, 1, 1, 1, &one, d_c,
                       CUDA_R_32F, 1, d_c, CUDA_R_32F, 1, &zero, d_h,
                       CUDA_R_16BF, 1, CUBLAS_COMPUTE_32F,
                       CUBLAS_GEMM_DEFAULT) == CUBLAS_STATUS_NOT_SUPPORTED);
    /* B's last column read past its 12 bytes (ldb 4: 7 elements). */
    CHECK(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, 2, 2, 3, &one, d_a,
                       CUDA_R_16BF, 2, d_b, CUDA_R_16BF, 4, &zero, d_c,
                       CUDA_R_32F, 2, CUBLAS_COMPUTE_32F,
                       CUBLAS_GEMM_DEFAULT) == CUBLAS_STATUS_EXECUTION_FAILED);
    cudaFree(d_a), cudaFree(d_at), cudaFree(d_b), cudaFree(d_bt);
    cudaFree(d_c), cudaFree(d_h);
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

/* ---- cuBLASLt --------------------------------------------------------- */

#define LT(call) CHECK((call) == CUBLAS_STATUS_SUCCESS)

static uint64_t lt_rng = 0x9e3779b97f4a7c15u;

static int lt_rand(int n)
{
    lt_rng = lt_rng * 6364136223846793005u + 1442695040888963407u;
    return (int)((lt_rng >> 33) % (uint64_t)n);
}

/* A multiple of 1/8 from -range to range: exact in bf16 and TF32, and
 * so are the products and short sums of such. */
static float lt_value(int range)
{
    return (float)(lt_rand(16 * range + 1) - 8 * range) / 8;
}

static size_t type_size(cudaDataType t)
{
    return t == CUDA_R_16BF ? 2 : 4;
}

/* Element i of a host array of type t (values exact in it). */
static void hput(void *buf, cudaDataType t, size_t i, float v)
{
    if (t == CUDA_R_16BF) {
        uint16_t h = bf(v);
        memcpy((char *)buf + 2 * i, &h, 2);
    } else {
        memcpy((char *)buf + 4 * i, &v, 4);
    }
}

static float hget(const void *buf, cudaDataType t, size_t i)
{
    if (t == CUDA_R_16BF) {
        uint16_t h;
        memcpy(&h, (const char *)buf + 2 * i, 2);
        return from_bf(h);
    }
    float v;
    memcpy(&v, (const char *)buf + 4 * i, 4);
    return v;
}

/* n elements of type t, all NaN (bf16's 0x7fc0, FP32's 0x7fc00000). */
static void *nan_array(cudaDataType t, size_t n)
{
    void *buf = malloc(n * type_size(t));
    for (size_t i = 0; i < n; i++)
        hput(buf, t, i, NAN);
    return buf;
}

static int is_nan_at(const void *buf, cudaDataType t, size_t i)
{
    return isnan(hget(buf, t, i));
}

/* The tanh GELU and its derivative, in double: the references. */
static double gelu_ref(double x)
{
    const double c = sqrt(2 / acos(-1.0));
    return 0.5 * x * (1 + tanh(c * (x + 0.044715 * x * x * x)));
}

static double gelu_grad_ref(double x)
{
    const double c = sqrt(2 / acos(-1.0));
    double t = tanh(c * (x + 0.044715 * x * x * x));
    return 0.5 * (1 + t) +
           0.5 * x * (1 - t * t) * c * (1 + 3 * 0.044715 * x * x);
}

static int near(double got, double want, double rel, double abs)
{
    return fabs(got - want) <= abs + rel * fabs(want);
}

/* A matmul's descriptors: D (m x n) = op(A) op(B), A and B of type ab,
 * C and D of type cd, with leading dimensions lda, ldb, ldc, ldd. */
struct lt_op {
    cublasLtMatmulDesc_t desc;
    cublasLtMatrixLayout_t a, b, c, d;
};

static struct lt_op lt_op(cublasComputeType_t ct, cudaDataType ab,
                          cudaDataType cd, int ta, int tb, int m, int n,
                          int k, int64_t lda, int64_t ldb, int64_t ldc,
                          int64_t ldd)
{
    struct lt_op o;
    int32_t opa = ta ? CUBLAS_OP_T : CUBLAS_OP_N;
    int32_t opb = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
    LT(cublasLtMatmulDescCreate(&o.desc, ct, CUDA_R_32F));
    LT(cublasLtMatmulDescSetAttribute(o.desc, CUBLASLT_MATMUL_DESC_TRANSA,
                                      &opa, sizeof opa));
    LT(cublasLtMatmulDescSetAttribute(o.desc, CUBLASLT_MATMUL_DESC_TRANSB,
                                      &opb, sizeof opb));
    LT(cublasLtMatrixLayoutCreate(&o.a, ab, ta ? k : m, ta ? m : k, lda));
    LT(cublasLtMatrixLayoutCreate(&o.b, ab, tb ? n : k, tb ? k : n, ldb));
    LT(cublasLtMatrixLayoutCreate(&o.c, cd, m, n, ldc));
    LT(cublasLtMatrixLayoutCreate(&o.d, cd, m, n, ldd));
    return o;
}

static void lt_op_free(struct lt_op *o)
{
    LT(cublasLtMatmulDescDestroy(o->desc));
    LT(cublasLtMatrixLayoutDestroy(o->a));
    LT(cublasLtMatrixLayoutDestroy(o->b));
    LT(cublasLtMatrixLayoutDestroy(o->c));
    LT(cublasLtMatrixLayoutDestroy(o->d));
}

static void set_epilogue(struct lt_op *o, cublasLtEpilogue_t e)
{
    uint32_t v = e;
    LT(cublasLtMatmulDescSetAttribute(o->desc, CUBLASLT_MATMUL_DESC_EPILOGUE,
                                      &v, sizeof v));
}

static void set_pointer(struct lt_op *o, cublasLtMatmulDescAttributes_t a,
                        const void *p)
{
    LT(cublasLtMatmulDescSetAttribute(o->desc, a, &p, sizeof p));
}

static void set_aux_ld(struct lt_op *o, int64_t ld)
{
    LT(cublasLtMatmulDescSetAttribute(
        o->desc, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD, &ld, sizeof ld));
}

/* The heuristic's one algorithm for o, with a 1 KiB workspace allowed. */
static cublasLtMatmulHeuristicResult_t lt_algo(cublasLtHandle_t lt,
                                               const struct lt_op *o)
{
    cublasLtMatmulPreference_t pref;
    uint64_t ws = 1024;
    cublasLtMatmulHeuristicResult_t r;
    memset(&r, 0, sizeof r);
    int got = 0;
    LT(cublasLtMatmulPreferenceCreate(&pref));
    LT(cublasLtMatmulPreferenceSetAttribute(
        pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws));
    LT(cublasLtMatmulAlgoGetHeuristic(lt, o->desc, o->a, o->b, o->c, o->d,
                                      pref, 1, &r, &got));
    CHECK(got == 1 && r.state == CUBLAS_STATUS_SUCCESS &&
          r.workspaceSize <= ws);
    LT(cublasLtMatmulPreferenceDestroy(pref));
    return r;
}

enum { LT_M = 6, LT_N = 5, LT_K = 9, LT_AUX_LD = 8 };

/* One matmul with epilogue e against a reference in double: D is m x n
 * (padded to ld m + 1), op(A) m x k, op(B) k x n, stored transposed
 * where ta, tb, with a padding row of NaN that must not be read. Inputs
 * are multiples of 1/8, so the sums are exact in float and FP32 results
 * are compared exactly, but for GELU's tanhf; bf16 results within their
 * rounding, 2^-8 relative. `variant` varies alpha, beta (0 with C all
 * NaN, or -0.5), C in place of D and the algorithm (NULL or the
 * heuristic's). */
static void lt_case(cublasLtHandle_t lt, cudaStream_t s,
                    cublasComputeType_t ct, cudaDataType ab, cudaDataType cd,
                    cublasLtEpilogue_t e, int ta, int tb, int variant)
{
    enum { M = LT_M, N = LT_N, K = LT_K };
    int bgrad_ab = e == CUBLASLT_EPILOGUE_BGRADA ||
                   e == CUBLASLT_EPILOGUE_BGRADB;
    int bias_in = e == CUBLASLT_EPILOGUE_BIAS ||
                  e == CUBLASLT_EPILOGUE_RELU_BIAS ||
                  e == CUBLASLT_EPILOGUE_GELU_BIAS ||
                  e == CUBLASLT_EPILOGUE_GELU_AUX_BIAS;
    int aux_out = e == CUBLASLT_EPILOGUE_GELU_AUX ||
                  e == CUBLASLT_EPILOGUE_GELU_AUX_BIAS;
    int dgelu = e == CUBLASLT_EPILOGUE_DGELU ||
                e == CUBLASLT_EPILOGUE_DGELU_BGRAD;
    int gelu = e == CUBLASLT_EPILOGUE_GELU || aux_out ||
               e == CUBLASLT_EPILOGUE_GELU_BIAS;
    int relu = e == CUBLASLT_EPILOGUE_RELU ||
               e == CUBLASLT_EPILOGUE_RELU_BIAS;
    int bias_out = bgrad_ab || e == CUBLASLT_EPILOGUE_DGELU_BGRAD;
    int bias_len = e == CUBLASLT_EPILOGUE_BGRADB ? N : M;
    float al = bgrad_ab ? 1 : variant & 1 ? 2 : 0.5f;
    float be = variant & 2 ? -0.5f : 0;
    int in_place = (variant & 2) && tb;
    int64_t lda = (ta ? K : M) + 1, ldb = (tb ? N : K) + 1, ldd = M + 1;
    int64_t ldc = in_place ? ldd : M + 2;

    /* Inputs and their reference values. */
    double a[M][K], b[K][N], c[M][N], bias[N > M ? N : M], aux[M][N];
    size_t a_n = (size_t)lda * (ta ? M : K), b_n = (size_t)ldb * (tb ? K : N);
    size_t c_n = (size_t)ldc * N, d_n = (size_t)ldd * N;
    size_t aux_n = (size_t)LT_AUX_LD * N;
    void *ha = nan_array(ab, a_n), *hb = nan_array(ab, b_n);
    void *hc = nan_array(cd, c_n), *hbias = nan_array(cd, (size_t)bias_len);
    void *haux = nan_array(cd, aux_n), *hd = nan_array(cd, d_n);
    for (int i = 0; i < M; i++)
        for (int p = 0; p < K; p++) {
            a[i][p] = lt_value(1);
            hput(ha, ab, ta ? p + i * lda : i + p * lda, (float)a[i][p]);
        }
    for (int p = 0; p < K; p++)
        for (int j = 0; j < N; j++) {
            b[p][j] = lt_value(1);
            hput(hb, ab, tb ? j + p * ldb : p + j * ldb, (float)b[p][j]);
        }
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            c[i][j] = be != 0 ? lt_value(1) : 0;
            if (be != 0)
                hput(in_place ? hd : hc, cd, i + j * ldc, (float)c[i][j]);
            aux[i][j] = lt_value(2);
            if (dgelu)
                hput(haux, cd, i + j * LT_AUX_LD, (float)aux[i][j]);
        }
    for (int i = 0; i < bias_len; i++) {
        bias[i] = lt_value(1);
        if (bias_in)
            hput(hbias, cd, (size_t)i, (float)bias[i]);
    }

    size_t es = type_size(ab), cs = type_size(cd);
    void *da = dev_bytes(ha, a_n * es), *db = dev_bytes(hb, b_n * es);
    void *dc = dev_bytes(hc, c_n * cs), *dd = dev_bytes(hd, d_n * cs);
    void *dbias = dev_bytes(hbias, (size_t)bias_len * cs);
    void *daux = dev_bytes(haux, aux_n * cs), *dws = dev_bytes(NULL, 1024);

    struct lt_op o = lt_op(ct, ab, cd, ta, tb, M, N, K, lda, ldb, ldc, ldd);
    set_epilogue(&o, e);
    if (bias_in || bias_out)
        set_pointer(&o, CUBLASLT_MATMUL_DESC_BIAS_POINTER, dbias);
    if (aux_out || dgelu) {
        set_pointer(&o, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER, daux);
        set_aux_ld(&o, LT_AUX_LD);
    }
    cublasLtMatmulHeuristicResult_t r = lt_algo(lt, &o);
    LT(cublasLtMatmul(lt, o.desc, &al, da, o.a, db, o.b, &be,
                      in_place ? dd : dc, o.c, dd, o.d,
                      variant & 4 ? NULL : &r.algo, dws, 1024, s));
    CUDA(cudaStreamSynchronize(s));
    back_bytes(hd, dd, d_n * cs);
    back_bytes(haux, daux, aux_n * cs);
    back_bytes(hbias, dbias, (size_t)bias_len * cs);

    /* Tolerances: bf16's one rounding; float's tanhf in GELU. */
    double rel = cd == CUDA_R_16BF ? 0x1p-8 : 0;
    double act_rel = gelu || dgelu ? 0x1p-18 : 0;
    double act_abs = gelu || dgelu ? 1e-5 : 0;
    double sums[N > M ? N : M] = {0}, sum_tol[N > M ? N : M] = {0};
    int bad = 0;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double x = 0;
            for (int p = 0; p < K; p++)
                x += a[i][p] * b[p][j];
            x = al * x + be * c[i][j] + (bias_in ? bias[i] : 0);
            if (aux_out)
                bad += !near(hget(haux, cd, i + j * LT_AUX_LD), x, rel, 0);
            x = relu ? (x > 0 ? x : 0) : gelu ? gelu_ref(x) : x;
            if (dgelu)
                x *= gelu_grad_ref(aux[i][j]);
            sums[i] += x;
            sum_tol[i] += act_abs + act_rel * fabs(x);
            bad += !near(hget(hd, cd, i + j * ldd), x, rel + act_rel,
                         act_abs);
        }
    /* Padding rows stay as they were. */
    for (int j = 0; j < N; j++)
        bad += !is_nan_at(hd, cd, M + j * ldd);
    for (int j = 0; aux_out && j < N; j++)
        for (int i = M; i < LT_AUX_LD; i++)
            bad += !is_nan_at(haux, cd, i + j * LT_AUX_LD);
    for (int x = 0; bias_out && x < bias_len; x++) {
        double want = sums[x], tol = sum_tol[x];
        if (bgrad_ab) {
            want = 0;
            for (int p = 0; p < K; p++)
                want += e == CUBLASLT_EPILOGUE_BGRADA ? a[x][p] : b[p][x];
            tol = 0;
        }
        bad += !near(hget(hbias, cd, (size_t)x), want, rel, tol);
    }
    if (bad)
        fprintf(stderr, "cuBLASLt: %d wrong, compute %d, A %d, D %d, "
                "epilogue %d, transposes %d %d, variant %d\n", bad, (int)ct,
                (int)ab, (int)cd, (int)e, ta, tb, variant);
    CHECK(bad == 0);

    lt_op_free(&o);
    cudaFree(da), cudaFree(db), cudaFree(dc), cudaFree(dd);
    cudaFree(dbias), cudaFree(daux), cudaFree(dws);
    free(ha), free(hb), free(hc), free(hd), free(hbias), free(haux);
}

/* Every emulated epilogue, type combination and transpose. */
static void test_lt_epilogues(cublasLtHandle_t lt)
{
    static const cublasLtEpilogue_t epilogues[] = {
        CUBLASLT_EPILOGUE_DEFAULT,   CUBLASLT_EPILOGUE_RELU,
        CUBLASLT_EPILOGUE_BIAS,      CUBLASLT_EPILOGUE_RELU_BIAS,
        CUBLASLT_EPILOGUE_GELU,      CUBLASLT_EPILOGUE_GELU_AUX,
        CUBLASLT_EPILOGUE_GELU_BIAS, CUBLASLT_EPILOGUE_GELU_AUX_BIAS,
        CUBLASLT_EPILOGUE_DGELU,     CUBLASLT_EPILOGUE_DGELU_BGRAD,
        CUBLASLT_EPILOGUE_BGRADA,    CUBLASLT_EPILOGUE_BGRADB,
    };
    static const struct {
        cublasComputeType_t ct;
        cudaDataType ab, cd;
    } types[] = {
        {CUBLAS_COMPUTE_32F, CUDA_R_32F, CUDA_R_32F},
        {CUBLAS_COMPUTE_32F_FAST_TF32, CUDA_R_32F, CUDA_R_32F},
        {CUBLAS_COMPUTE_32F, CUDA_R_16BF, CUDA_R_16BF},
        {CUBLAS_COMPUTE_32F, CUDA_R_16BF, CUDA_R_32F},
    };
    /* A blocking stream: the matmuls wait for the legacy stream's
     * copies to the device, which need not have landed when cudaMemcpy
     * returns. */
    cudaStream_t s;
    CUDA(cudaStreamCreate(&s));
    int variant = 0;
    for (size_t t = 0; t < sizeof types / sizeof *types; t++)
        for (size_t e = 0; e < sizeof epilogues / sizeof *epilogues; e++)
            for (int ta = 0; ta < 2; ta++)
                for (int tb = 0; tb < 2; tb++)
                    lt_case(lt, s, types[t].ct, types[t].ab, types[t].cd,
                            epilogues[e], ta, tb, variant++);
    CUDA(cudaStreamDestroy(s));
}

/* Descriptors answer as cuBLASLt 13.1 does (checked against it without a
 * GPU): sizes must match, size 0 asks for the size, defaults. */
static void test_lt_descriptors(void)
{
    cublasLtMatmulDesc_t d;
    LT(cublasLtMatmulDescCreate(&d, CUBLAS_COMPUTE_32F_FAST_TF32,
                                CUDA_R_32F));
    int32_t v = 0;
    int64_t v64 = 0;
    size_t got = 0;
    LT(cublasLtMatmulDescGetAttribute(d, CUBLASLT_MATMUL_DESC_COMPUTE_TYPE,
                                      &v, sizeof v, &got));
    CHECK(v == CUBLAS_COMPUTE_32F_FAST_TF32 && got == 4);
    LT(cublasLtMatmulDescGetAttribute(d, CUBLASLT_MATMUL_DESC_EPILOGUE, &v,
                                      sizeof v, NULL));
    CHECK(v == CUBLASLT_EPILOGUE_DEFAULT);
    LT(cublasLtMatmulDescGetAttribute(d, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE,
                                      &v, sizeof v, NULL));
    CHECK(v == -1);
    LT(cublasLtMatmulDescGetAttribute(d, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD,
                                      NULL, 0, &got));
    CHECK(got == 8);
    CHECK(cublasLtMatmulDescGetAttribute(d,
                                         CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD,
                                         NULL, 0, NULL) ==
          CUBLAS_STATUS_INVALID_VALUE);
    CHECK(cublasLtMatmulDescGetAttribute(d, CUBLASLT_MATMUL_DESC_TRANSA, &v64,
                                         sizeof v64, &got) ==
          CUBLAS_STATUS_INVALID_VALUE);
    CHECK(cublasLtMatmulDescSetAttribute(d, CUBLASLT_MATMUL_DESC_TRANSA, &v64,
                                         sizeof v64) ==
          CUBLAS_STATUS_INVALID_VALUE);
    CHECK(cublasLtMatmulDescSetAttribute(d, (cublasLtMatmulDescAttributes_t)9,
                                         &v, sizeof v) ==
          CUBLAS_STATUS_INVALID_VALUE);
    LT(cublasLtMatmulDescDestroy(d));
    LT(cublasLtMatmulDescDestroy(NULL));

    /* On the caller's storage, as the header's Init functions put it. */
    cublasLtMatrixLayoutOpaque_t storage;
    LT(cublasLtMatrixLayoutInit(&storage, CUDA_R_16BF, 5, 3, 8));
    uint64_t rows = 0;
    LT(cublasLtMatrixLayoutGetAttribute(&storage, CUBLASLT_MATRIX_LAYOUT_ROWS,
                                        &rows, sizeof rows, NULL));
    CHECK(rows == 5);
    LT(cublasLtMatrixLayoutGetAttribute(
        &storage, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &v, sizeof v, NULL));
    CHECK(v == 1);
    CHECK(cublasLtMatrixLayoutInit_internal(&storage, 8, CUDA_R_32F, 1, 1,
                                            1) == CUBLAS_STATUS_ALLOC_FAILED);

    cublasLtMatmulPreference_t pref;
    uint32_t align = 0;
    LT(cublasLtMatmulPreferenceCreate(&pref));
    LT(cublasLtMatmulPreferenceGetAttribute(
        pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &align,
        sizeof align, NULL));
    CHECK(align == 256);
    LT(cublasLtMatmulPreferenceDestroy(pref));
    CHECK(cublasLtDestroy(NULL) == CUBLAS_STATUS_INVALID_VALUE);
    CHECK(strcmp(cublasLtGetStatusName(CUBLAS_STATUS_NOT_SUPPORTED),
                 "CUBLAS_STATUS_NOT_SUPPORTED") == 0);
    CHECK(cublasLtGetVersion() == CUBLAS_VERSION);
}

/* A 1 x 1 x 2 FP32 matmul through o with A = {3, 4}, B = {1, 1} and
 * the bias pointer given: its status, D left in *d. */
static cublasStatus_t lt_small(cublasLtHandle_t lt, struct lt_op *o,
                               const void *bias, float *d)
{
    const float a[] = {3, 4}, b[] = {1, 1}, one = 1, zero = 0;
    float *da = dev(a, 2), *db = dev(b, 2), *dd = dev(NULL, 2);
    set_pointer(o, CUBLASLT_MATMUL_DESC_BIAS_POINTER, bias);
    cublasStatus_t s = cublasLtMatmul(lt, o->desc, &one, da, o->a, db, o->b,
                                      &zero, dd, o->c, dd, o->d, NULL, NULL,
                                      0, 0);
    back(d, dd, 1);
    cudaFree(da), cudaFree(db), cudaFree(dd);
    return s;
}

/* What cuBLASLt refuses, with its statuses, and what a GPU would fault
 * on, refused by the emulator. */
static void test_lt_refusals(cublasLtHandle_t lt)
{
    const float one = 1, zero = 0, two = 2;
    float d = 0;
    /* A (1 x 2) B (2 x 1) with a bias. */
    struct lt_op o = lt_op(CUBLAS_COMPUTE_32F, CUDA_R_32F, CUDA_R_32F, 0, 0,
                           1, 1, 2, 1, 2, 1, 1);
    float *bias = dev(&one, 1);
    LT(lt_small(lt, &o, NULL, &d));
    CHECK(d == 7);
    set_epilogue(&o, CUBLASLT_EPILOGUE_BIAS);
    LT(lt_small(lt, &o, bias, &d));
    CHECK(d == 8);
    CHECK(lt_small(lt, &o, NULL, &d) == CUBLAS_STATUS_INVALID_VALUE);
    int32_t t = CUDA_R_16BF;
    LT(cublasLtMatmulDescSetAttribute(
        o.desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &t, sizeof t));
    CHECK(lt_small(lt, &o, bias, &d) == CUBLAS_STATUS_NOT_SUPPORTED);
    t = CUDA_R_32F;
    LT(cublasLtMatmulDescSetAttribute(
        o.desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &t, sizeof t));
    LT(lt_small(lt, &o, bias, &d));
    /* GELU's aux: a pointer, and a leading dimension of 8's multiples. */
    set_epilogue(&o, CUBLASLT_EPILOGUE_GELU_AUX);
    CHECK(lt_small(lt, &o, NULL, &d) == CUBLAS_STATUS_INVALID_VALUE);
    float *aux = dev(NULL, 8);
    set_pointer(&o, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER, aux);
    set_aux_ld(&o, 4);
    CHECK(lt_small(lt, &o, NULL, &d) == CUBLAS_STATUS_INVALID_VALUE);
    set_aux_ld(&o, 8);
    LT(lt_small(lt, &o, NULL, &d));
    CHECK(fabs(d - gelu_ref(7)) < 1e-5);
    /* Epilogues: 3 is none; ReLU's bit mask is not emulated. */
    set_epilogue(&o, (cublasLtEpilogue_t)3);
    CHECK(lt_small(lt, &o, NULL, &d) == CUBLAS_STATUS_INVALID_VALUE);
    set_epilogue(&o, CUBLASLT_EPILOGUE_RELU_AUX);
    CHECK(lt_small(lt, &o, NULL, &d) == CUBLAS_STATUS_NOT_SUPPORTED);
    set_epilogue(&o, CUBLASLT_EPILOGUE_DEFAULT);
    int32_t bad_op = 7;
    LT(cublasLtMatmulDescSetAttribute(o.desc, CUBLASLT_MATMUL_DESC_TRANSA,
                                      &bad_op, sizeof bad_op));
    CHECK(lt_small(lt, &o, NULL, &d) == CUBLAS_STATUS_INVALID_VALUE);
    int32_t op = CUBLAS_OP_N;
    LT(cublasLtMatmulDescSetAttribute(o.desc, CUBLASLT_MATMUL_DESC_TRANSA,
                                      &op, sizeof op));
    /* Device pointer mode is not emulated. */
    int32_t mode = CUBLASLT_POINTER_MODE_DEVICE;
    LT(cublasLtMatmulDescSetAttribute(
        o.desc, CUBLASLT_MATMUL_DESC_POINTER_MODE, &mode, sizeof mode));
    CHECK(lt_small(lt, &o, NULL, &d) == CUBLAS_STATUS_NOT_SUPPORTED);
    mode = CUBLASLT_POINTER_MODE_HOST;
    LT(cublasLtMatmulDescSetAttribute(
        o.desc, CUBLASLT_MATMUL_DESC_POINTER_MODE, &mode, sizeof mode));
    lt_op_free(&o);

    /* Layouts that do not chain: op(A) 1 x 2, B 3 x 1; C 2 x 1, D 1 x 1;
     * a leading dimension below the rows. Row-major is not emulated. */
    o = lt_op(CUBLAS_COMPUTE_32F, CUDA_R_32F, CUDA_R_32F, 0, 0, 1, 1, 2, 1,
              2, 1, 1);
    cublasLtMatrixLayout_t b3, c2, a0, row;
    LT(cublasLtMatrixLayoutCreate(&b3, CUDA_R_32F, 3, 1, 3));
    LT(cublasLtMatrixLayoutCreate(&c2, CUDA_R_32F, 2, 1, 2));
    LT(cublasLtMatrixLayoutCreate(&a0, CUDA_R_32F, 1, 2, 0));
    LT(cublasLtMatrixLayoutCreate(&row, CUDA_R_32F, 1, 2, 2));
    int32_t order = CUBLASLT_ORDER_ROW;
    LT(cublasLtMatrixLayoutSetAttribute(row, CUBLASLT_MATRIX_LAYOUT_ORDER,
                                        &order, sizeof order));
    float *m = dev(NULL, 16);
    CHECK(cublasLtMatmul(lt, o.desc, &one, m, o.a, m, b3, &zero, m, o.c, m,
                         o.d, NULL, NULL, 0, 0) ==
          CUBLAS_STATUS_INVALID_VALUE);
    CHECK(cublasLtMatmul(lt, o.desc, &one, m, o.a, m, o.b, &zero, m, c2, m,
                         o.d, NULL, NULL, 0, 0) ==
          CUBLAS_STATUS_INVALID_VALUE);
    CHECK(cublasLtMatmul(lt, o.desc, &one, m, a0, m, o.b, &zero, m, o.c, m,
                         o.d, NULL, NULL, 0, 0) ==
          CUBLAS_STATUS_INVALID_VALUE);
    CHECK(cublasLtMatmul(lt, o.desc, &one, m, row, m, o.b, &zero, m, o.c, m,
                         o.d, NULL, NULL, 0, 0) ==
          CUBLAS_STATUS_NOT_SUPPORTED);
    /* In place, C must have D's layout. */
    cublasLtMatrixLayout_t c_ld2;
    LT(cublasLtMatrixLayoutCreate(&c_ld2, CUDA_R_32F, 1, 1, 2));
    CHECK(cublasLtMatmul(lt, o.desc, &one, m, o.a, m + 4, o.b, &one, m + 8,
                         c_ld2, m + 8, o.d, NULL, NULL, 0, 0) ==
          CUBLAS_STATUS_INVALID_VALUE);
    LT(cublasLtMatmul(lt, o.desc, &one, m, o.a, m + 4, o.b, &one, m + 8, o.c,
                      m + 8, o.d, NULL, NULL, 0, 0));
    LT(cublasLtMatrixLayoutDestroy(b3));
    LT(cublasLtMatrixLayoutDestroy(c2));
    LT(cublasLtMatrixLayoutDestroy(a0));
    LT(cublasLtMatrixLayoutDestroy(row));
    LT(cublasLtMatrixLayoutDestroy(c_ld2));
    lt_op_free(&o);

    /* Types outside cuBLASLt's table: mixed A and B, TF32 on bf16, FP32
     * in and bf16 out, C's type not D's, a bf16 scale. */
    struct {
        cublasComputeType_t ct;
        cudaDataType a, b, c, d, scale;
    } types[] = {
        {CUBLAS_COMPUTE_32F, CUDA_R_16BF, CUDA_R_32F, CUDA_R_32F, CUDA_R_32F,
         CUDA_R_32F},
        {CUBLAS_COMPUTE_32F_FAST_TF32, CUDA_R_16BF, CUDA_R_16BF, CUDA_R_32F,
         CUDA_R_32F, CUDA_R_32F},
        {CUBLAS_COMPUTE_32F, CUDA_R_32F, CUDA_R_32F, CUDA_R_16BF,
         CUDA_R_16BF, CUDA_R_32F},
        {CUBLAS_COMPUTE_32F, CUDA_R_16BF, CUDA_R_16BF, CUDA_R_32F,
         CUDA_R_16BF, CUDA_R_32F},
        {CUBLAS_COMPUTE_32F, CUDA_R_16BF, CUDA_R_16BF, CUDA_R_16BF,
         CUDA_R_16BF, CUDA_R_16BF},
    };
    for (size_t i = 0; i < sizeof types / sizeof *types; i++) {
        cublasLtMatmulDesc_t desc;
        cublasLtMatrixLayout_t la, lb, lc, ld;
        LT(cublasLtMatmulDescCreate(&desc, types[i].ct, types[i].scale));
        LT(cublasLtMatrixLayoutCreate(&la, types[i].a, 1, 1, 1));
        LT(cublasLtMatrixLayoutCreate(&lb, types[i].b, 1, 1, 1));
        LT(cublasLtMatrixLayoutCreate(&lc, types[i].c, 1, 1, 1));
        LT(cublasLtMatrixLayoutCreate(&ld, types[i].d, 1, 1, 1));
        CHECK(cublasLtMatmul(lt, desc, &one, m, la, m + 1, lb, &zero, m + 2,
                             lc, m + 2, ld, NULL, NULL, 0, 0) ==
              CUBLAS_STATUS_NOT_SUPPORTED);
        LT(cublasLtMatmulDescDestroy(desc));
        LT(cublasLtMatrixLayoutDestroy(la));
        LT(cublasLtMatrixLayoutDestroy(lb));
        LT(cublasLtMatrixLayoutDestroy(lc));
        LT(cublasLtMatrixLayoutDestroy(ld));
    }

    /* The heuristic: one algorithm, no workspace; none for an unknown
     * epilogue; an algorithm for another epilogue is refused. */
    o = lt_op(CUBLAS_COMPUTE_32F, CUDA_R_32F, CUDA_R_32F, 0, 0, 1, 1, 2, 1,
              2, 1, 1);
    cublasLtMatmulPreference_t pref;
    LT(cublasLtMatmulPreferenceCreate(&pref));
    cublasLtMatmulHeuristicResult_t r;
    int got = -1;
    CHECK(cublasLtMatmulAlgoGetHeuristic(lt, o.desc, o.a, o.b, o.c, o.d,
                                         pref, 0, &r, &got) ==
          CUBLAS_STATUS_INVALID_VALUE);
    set_epilogue(&o, (cublasLtEpilogue_t)3);
    CHECK(cublasLtMatmulAlgoGetHeuristic(lt, o.desc, o.a, o.b, o.c, o.d,
                                         pref, 1, &r, &got) ==
              CUBLAS_STATUS_INVALID_VALUE &&
          got == 0);
    set_epilogue(&o, CUBLASLT_EPILOGUE_DEFAULT);
    r = lt_algo(lt, &o);
    CHECK(r.workspaceSize == 0);
    set_epilogue(&o, CUBLASLT_EPILOGUE_RELU);
    CHECK(cublasLtMatmul(lt, o.desc, &one, m, o.a, m + 4, o.b, &zero, m + 8,
                         o.c, m + 8, o.d, &r.algo, NULL, 0, 0) ==
          CUBLAS_STATUS_INVALID_VALUE);
    cublasLtMatmulAlgo_t zeroed;
    memset(&zeroed, 0, sizeof zeroed);
    CHECK(cublasLtMatmul(lt, o.desc, &one, m, o.a, m + 4, o.b, &zero, m + 8,
                         o.c, m + 8, o.d, &zeroed, NULL, 0, 0) ==
          CUBLAS_STATUS_INVALID_VALUE);

    /* Honesty: host memory, outputs over inputs, a misaligned A (4 bytes
     * in, where the default preferences promised 256), unless the
     * preference says so. */
    float host[8] = {0};
    CHECK(cublasLtMatmul(lt, o.desc, &one, m, o.a, m + 4, o.b, &zero, host,
                         o.c, host, o.d, NULL, NULL, 0, 0) ==
          CUBLAS_STATUS_EXECUTION_FAILED);
    CHECK(cublasLtMatmul(lt, o.desc, &one, m, o.a, m + 4, o.b, &zero, m, o.c,
                         m, o.d, NULL, NULL, 0, 0) ==
          CUBLAS_STATUS_EXECUTION_FAILED);
    set_epilogue(&o, CUBLASLT_EPILOGUE_DEFAULT);
    r = lt_algo(lt, &o);
    CHECK(cublasLtMatmul(lt, o.desc, &one, m + 1, o.a, m + 4, o.b, &zero,
                         m + 8, o.c, m + 8, o.d, &r.algo, NULL, 0, 0) ==
          CUBLAS_STATUS_EXECUTION_FAILED);
    uint32_t four = 4;
    int one_algo = 0;
    LT(cublasLtMatmulPreferenceSetAttribute(
        pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &four,
        sizeof four));
    LT(cublasLtMatmulAlgoGetHeuristic(lt, o.desc, o.a, o.b, o.c, o.d, pref,
                                      1, &r, &one_algo));
    LT(cublasLtMatmul(lt, o.desc, &one, m + 1, o.a, m + 4, o.b, &zero, m + 8,
                      o.c, m + 8, o.d, &r.algo, NULL, 0, 0));
    /* A bias moved to a less aligned address after the heuristic. */
    float *biases = dev(NULL, 8);
    set_epilogue(&o, CUBLASLT_EPILOGUE_BIAS);
    set_pointer(&o, CUBLASLT_MATMUL_DESC_BIAS_POINTER, biases);
    LT(cublasLtMatmulAlgoGetHeuristic(lt, o.desc, o.a, o.b, o.c, o.d, pref,
                                      1, &r, &one_algo));
    set_pointer(&o, CUBLASLT_MATMUL_DESC_BIAS_POINTER, biases + 1);
    CHECK(cublasLtMatmul(lt, o.desc, &one, m, o.a, m + 4, o.b, &zero, m + 8,
                         o.c, m + 8, o.d, &r.algo, NULL, 0, 0) ==
          CUBLAS_STATUS_EXECUTION_FAILED);
    /* BGRADB's gradient with alpha 2: undocumented, not emulated. */
    set_epilogue(&o, CUBLASLT_EPILOGUE_BGRADB);
    set_pointer(&o, CUBLASLT_MATMUL_DESC_BIAS_POINTER, biases);
    /* A cuBLASLt without bias-gradient kernels has no algorithm for it,
     * and one again once the variable is gone. */
    setenv("PIPETTE_EMU_LT_NO_BGRAD", "1", 1);
    got = -1;
    CHECK(cublasLtMatmulAlgoGetHeuristic(lt, o.desc, o.a, o.b, o.c, o.d,
                                         pref, 1, &r, &got) ==
              CUBLAS_STATUS_NOT_SUPPORTED &&
          got == 0);
    unsetenv("PIPETTE_EMU_LT_NO_BGRAD");
    LT(cublasLtMatmulAlgoGetHeuristic(lt, o.desc, o.a, o.b, o.c, o.d, pref,
                                      1, &r, &one_algo));
    CHECK(one_algo == 1);
    CHECK(cublasLtMatmul(lt, o.desc, &two, m, o.a, m + 4, o.b, &zero, m + 8,
                         o.c, m + 8, o.d, NULL, NULL, 0, 0) ==
          CUBLAS_STATUS_NOT_SUPPORTED);
    /* The workspace is garbage afterwards. */
    set_epilogue(&o, CUBLASLT_EPILOGUE_DEFAULT);
    unsigned char ws[64] = {0};
    void *dws = dev_bytes(ws, sizeof ws);
    LT(cublasLtMatmul(lt, o.desc, &one, m, o.a, m + 4, o.b, &zero, m + 8,
                      o.c, m + 8, o.d, NULL, dws, sizeof ws, 0));
    back_bytes(ws, dws, sizeof ws);
    CHECK(ws[0] == 0xff && ws[63] == 0xff);
    /* Streams: of the handle's device, and live. */
    cudaStream_t s;
    CUDA(cudaStreamCreate(&s));
    CUDA(cudaStreamDestroy(s));
    CHECK(cublasLtMatmul(lt, o.desc, &one, m, o.a, m + 4, o.b, &zero, m + 8,
                         o.c, m + 8, o.d, NULL, NULL, 0, s) ==
          CUBLAS_STATUS_EXECUTION_FAILED);
    CUDA(cudaSetDevice(1));
    CHECK(cublasLtMatmul(lt, o.desc, &one, m, o.a, m + 4, o.b, &zero, m + 8,
                         o.c, m + 8, o.d, NULL, NULL, 0, 0) ==
          CUBLAS_STATUS_EXECUTION_FAILED);
    CUDA(cudaSetDevice(0));
    CHECK(cublasLtMatmul(NULL, o.desc, &one, m, o.a, m + 4, o.b, &zero,
                         m + 8, o.c, m + 8, o.d, NULL, NULL, 0, 0) ==
          CUBLAS_STATUS_NOT_INITIALIZED);
    /* A descriptor never made. */
    cublasLtMatmulDescOpaque_t junk;
    memset(&junk, 0, sizeof junk);
    CHECK(cublasLtMatmul(lt, &junk, &one, m, o.a, m + 4, o.b, &zero, m + 8,
                         o.c, m + 8, o.d, NULL, NULL, 0, 0) ==
          CUBLAS_STATUS_INVALID_VALUE);
    LT(cublasLtMatmulPreferenceDestroy(pref));
    lt_op_free(&o);
    cudaFree(bias), cudaFree(aux), cudaFree(m), cudaFree(biases);
    cudaFree(dws);
}

/* bf16 out: the float sum rounded once, ties to even (257 is 256). */
static void test_lt_bf16_rounding(cublasLtHandle_t lt)
{
    const uint16_t a[] = {bf(256), bf(1), bf(1)}, b[] = {bf(1), bf(1),
                                                         bf(1)};
    const float one = 1, zero = 0;
    void *da = dev_bytes(a, sizeof a), *db = dev_bytes(b, sizeof b);
    void *dd = dev_bytes(NULL, 2);
    for (int k = 2; k <= 3; k++) {
        struct lt_op o = lt_op(CUBLAS_COMPUTE_32F, CUDA_R_16BF, CUDA_R_16BF,
                               1, 0, 1, 1, k, k, k, 1, 1);
        LT(cublasLtMatmul(lt, o.desc, &one, da, o.a, db, o.b, &zero, dd,
                          o.c, dd, o.d, NULL, NULL, 0, 0));
        uint16_t d = 0;
        back_bytes(&d, dd, 2);
        CHECK(d == bf(k == 2 ? 256 : 258));
        lt_op_free(&o);
    }
    cudaFree(da), cudaFree(db), cudaFree(dd);
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
    test_tf32(h);
    test_gemm_bf16(h);
    test_level2(h);
    /* A handle belongs to the device current at its creation. */
    CUDA(cudaSetDevice(1));
    float *d = dev(NULL, 1);
    const float one = 1;
    CHECK(cublasSger(h, 1, 1, &one, d, 1, d, 1, d, 1) ==
          CUBLAS_STATUS_EXECUTION_FAILED);
    cudaFree(d);
    BLAS(cublasDestroy(h));

    CUDA(cudaSetDevice(0));
    cublasLtHandle_t lt;
    LT(cublasLtCreate(&lt));
    test_lt_descriptors();
    test_lt_bf16_rounding(lt);
    test_lt_epilogues(lt);
    test_lt_refusals(lt);
    LT(cublasLtDestroy(lt));
    if (failures)
        fprintf(stderr, "test_cuda_emu: %d check(s) failed\n", failures);
    else
        printf("test_cuda_emu: all checks passed\n");
    return failures ? EXIT_FAILURE : EXIT_SUCCESS;
}
