/* tests/emu/test_cuda_emu.c - the CUDA emulator's runtime and cuBLAS on
 * small cases worked out by hand, so that the GPU tests it runs can trust
 * it: above all the column-major BLAS semantics (transposes, leading
 * dimensions, increments, beta == 0 not reading C), then memory
 * accounting, copy checks, events, peer access and error texts. Built and
 * run by `make check` only in an --enable-cuda-emulator build. Asks for
 * two emulated GPUs itself.
 */
#include <math.h>
#include <stdint.h>
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
    if (failures)
        fprintf(stderr, "test_cuda_emu: %d check(s) failed\n", failures);
    else
        printf("test_cuda_emu: all checks passed\n");
    return failures ? EXIT_FAILURE : EXIT_SUCCESS;
}
