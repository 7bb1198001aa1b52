/* tests/emu/cublas_emu.c - the cuBLAS calls pipette makes, on the CPU:
 * cublasGemmEx with FP32 computation (FP32 or bf16 in, FP32 or bf16
 * out), cublasSger, cublasSgemv, the handle and its math mode.
 *
 * BLAS semantics exactly as documented, column-major: element (i, j) of
 * an m x n matrix with leading dimension ld is at [i + j * ld]; op(X) is
 * X, or its transpose for CUBLAS_OP_T (and CUBLAS_OP_C, the same for
 * real data). A row-major/column-major confusion in the caller therefore
 * gives wrong numbers here, as on a GPU. Sums are in float (blas_emu.c);
 * bf16 operands are exact in float and so are their products, and the
 * result is rounded once to C's type, to nearest even. beta == 0 means C
 * (or y) is not read, so NaN there does not survive.
 * CUBLAS_COMPUTE_32F_FAST_TF32 (and CUBLAS_COMPUTE_32F on a handle in
 * CUBLAS_TF32_TENSOR_OP_MATH) rounds FP32 A and B to TF32, 10 mantissa
 * bits, as tensor cores would see them; CUBLAS_COMPUTE_32F_PEDANTIC
 * never does. Type combinations outside cublasGemmEx's table fail with
 * CUBLAS_STATUS_NOT_SUPPORTED, as there.
 *
 * Every matrix and vector must lie inside device (or page-locked host)
 * memory the handle's device can reach, and the calling thread's current
 * device and the handle's stream must be the handle's device: otherwise
 * the call fails with CUBLAS_STATUS_EXECUTION_FAILED and a line on
 * stderr, where a real GPU would fault or read garbage. All that is
 * checked at the call, with alpha and beta read there (host pointer
 * mode); the arithmetic is queued on the handle's stream and reads and
 * writes the matrices when it runs, as a GPU's kernel would.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime_api.h>
#include <cublas_v2.h>

#include "blas_emu.h"
#include "cuda_emu.h"
#include "cuda_emu_errors.h"

#define HANDLE_MAGIC 0x43424c53u /* "CBLS" */

struct cublasContext {
    unsigned magic;
    int device;
    cudaStream_t stream;
    cublasMath_t math;
};

/* ---- status, versions ------------------------------------------------- */

static const struct pp_emu_code *status_code(cublasStatus_t s)
{
    size_t n = sizeof pp_emu_cublas_status / sizeof *pp_emu_cublas_status;
    for (size_t i = 0; i < n; i++)
        if (pp_emu_cublas_status[i].code == (int)s)
            return &pp_emu_cublas_status[i];
    return NULL;
}

const char *cublasGetStatusName(cublasStatus_t status)
{
    const struct pp_emu_code *c = status_code(status);
    return c ? c->name : "unrecognized status";
}

const char *cublasGetStatusString(cublasStatus_t status)
{
    const struct pp_emu_code *c = status_code(status);
    return c ? c->text : "unrecognized status";
}

cublasStatus_t cublasGetProperty(libraryPropertyType type, int *value)
{
    if (!value)
        return CUBLAS_STATUS_INVALID_VALUE;
    switch (type) {
    case MAJOR_VERSION:
        *value = CUBLAS_VER_MAJOR;
        return CUBLAS_STATUS_SUCCESS;
    case MINOR_VERSION:
        *value = CUBLAS_VER_MINOR;
        return CUBLAS_STATUS_SUCCESS;
    case PATCH_LEVEL:
        *value = CUBLAS_VER_PATCH;
        return CUBLAS_STATUS_SUCCESS;
    default:
        return CUBLAS_STATUS_INVALID_VALUE;
    }
}

/* ---- the handle ------------------------------------------------------- */

static int live(cublasHandle_t h)
{
    return h && h->magic == HANDLE_MAGIC;
}

cublasStatus_t cublasCreate_v2(cublasHandle_t *handle)
{
    if (!handle)
        return CUBLAS_STATUS_INVALID_VALUE;
    if (pp_emu_device_count() == 0)
        return CUBLAS_STATUS_NOT_INITIALIZED;
    struct cublasContext *h = malloc(sizeof *h);
    if (!h)
        return CUBLAS_STATUS_ALLOC_FAILED;
    *h = (struct cublasContext){HANDLE_MAGIC, pp_emu_current_device(), NULL,
                                CUBLAS_DEFAULT_MATH};
    *handle = h;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasDestroy_v2(cublasHandle_t handle)
{
    if (!live(handle))
        return CUBLAS_STATUS_NOT_INITIALIZED;
    handle->magic = 0;
    free(handle);
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetStream_v2(cublasHandle_t handle,
                                  cudaStream_t streamId)
{
    if (!live(handle))
        return CUBLAS_STATUS_NOT_INITIALIZED;
    int device;
    if (pp_emu_stream_device(streamId, &device) != cudaSuccess) {
        pp_emu_complain("cublasSetStream: %p is not a stream",
                        (void *)streamId);
        return CUBLAS_STATUS_INVALID_VALUE;
    }
    handle->stream = streamId;
    return CUBLAS_STATUS_SUCCESS;
}

/* The modes that decide how CUBLAS_COMPUTE_32F computes (default, TF32,
 * pedantic), with or without
 * CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION, which concerns
 * half-precision sums only. */
cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode)
{
    if (!live(handle))
        return CUBLAS_STATUS_NOT_INITIALIZED;
    unsigned base = (unsigned)mode & 0xfu,
             flags = (unsigned)mode & ~0xfu;
    if ((base != CUBLAS_DEFAULT_MATH && base != CUBLAS_PEDANTIC_MATH &&
         base != CUBLAS_TF32_TENSOR_OP_MATH) ||
        (flags & ~(unsigned)CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION)) {
        pp_emu_complain("cublasSetMathMode: mode %d is not emulated (only "
                        "CUBLAS_DEFAULT_MATH, _PEDANTIC_MATH, "
                        "_TF32_TENSOR_OP_MATH)", (int)mode);
        return CUBLAS_STATUS_NOT_SUPPORTED;
    }
    handle->math = mode;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasGetMathMode(cublasHandle_t handle, cublasMath_t *mode)
{
    if (!live(handle))
        return CUBLAS_STATUS_NOT_INITIALIZED;
    if (!mode)
        return CUBLAS_STATUS_INVALID_VALUE;
    *mode = handle->math;
    return CUBLAS_STATUS_SUCCESS;
}

/* ---- what a call may touch -------------------------------------------- */

/* The handle's device is current and owns the handle's stream. */
static cublasStatus_t check_context(cublasHandle_t h, const char *call)
{
    return pp_emu_blas_context(h->device, h->stream, call);
}

/* The bytes from p (the first to the last element a call touches) lie
 * inside memory the handle's device reaches. */
static cublasStatus_t check_span(cublasHandle_t h, const char *call,
                                 const char *what, const void *p,
                                 size_t bytes)
{
    return pp_emu_blas_span(h->device, call, what, p, bytes);
}

/* Bytes of an FP32 matrix or vector. */
static size_t matrix_bytes(int rows, int cols, int ld)
{
    return pp_emu_matrix_bytes(rows, cols, ld, sizeof(float));
}

static size_t vector_bytes(int n, int inc)
{
    if (n <= 0)
        return 0;
    size_t step = inc < 0 ? (size_t)-(int64_t)inc : (size_t)inc;
    return ((size_t)(n - 1) * step + 1) * sizeof(float);
}

/* Element i of a vector of n with increment inc (BLAS: a negative one
 * walks from the end). */
static size_t vector_at(int i, int n, int inc)
{
    return inc >= 0 ? (size_t)i * (size_t)inc
                    : (size_t)(n - 1 - i) * (size_t)-(int64_t)inc;
}

/* alpha and beta: host pointers, cuBLAS's default pointer mode (pipette
 * never changes it). */
static cublasStatus_t scalar(const void *p, float *out)
{
    if (!p)
        return CUBLAS_STATUS_INVALID_VALUE;
    memcpy(out, p, sizeof *out);
    return CUBLAS_STATUS_SUCCESS;
}

/* ---- level 3 ---------------------------------------------------------- */

static int transposes(cublasOperation_t op)
{
    return op == CUBLAS_OP_T || op == CUBLAS_OP_C;
}

/* A checked GEMM, queued: C = al op(A) op(B) + be C, C of type ctype. */
struct gemm_work {
    struct pp_emu_product prod;
    float al, be;
    void *C;
    cudaDataType ctype;
    int ldc;
};

static void run_gemm(void *arg)
{
    struct gemm_work *w = arg;
    int m = w->prod.m, n = w->prod.n;
    pp_emu_product_run(&w->prod);
    for (int j = 0; j < n; j++)
        for (int i = 0; i < m; i++) {
            size_t at = (size_t)i + (size_t)j * (size_t)w->ldc;
            float sum = w->prod.acc[(size_t)i + (size_t)j * (size_t)m];
            float c = w->al * sum;
            if (w->be != 0.0f)
                c = c + w->be * pp_emu_get(w->C, w->ctype, at);
            pp_emu_put(w->C, w->ctype, at, c);
        }
    pp_emu_product_free(&w->prod);
    free(w);
}

cublasStatus_t cublasGemmEx(cublasHandle_t handle, cublasOperation_t transa,
                            cublasOperation_t transb, int m, int n, int k,
                            const void *alpha, const void *A,
                            cudaDataType Atype, int lda, const void *B,
                            cudaDataType Btype, int ldb, const void *beta,
                            void *C, cudaDataType Ctype, int ldc,
                            cublasComputeType_t computeType,
                            cublasGemmAlgo_t algo)
{
    static const char call[] = "cublasGemmEx";
    (void)algo; /* any algorithm computes the same product */
    if (!live(handle))
        return CUBLAS_STATUS_NOT_INITIALIZED;
    if ((transa != CUBLAS_OP_N && !transposes(transa)) ||
        (transb != CUBLAS_OP_N && !transposes(transb)) || m < 0 || n < 0 ||
        k < 0)
        return CUBLAS_STATUS_INVALID_VALUE;
    /* op(A) is m x k, op(B) k x n: A is stored m x k or k x m. */
    int a_rows = transposes(transa) ? k : m, a_cols = transposes(transa) ? m
                                                                        : k;
    int b_rows = transposes(transb) ? n : k, b_cols = transposes(transb) ? k
                                                                        : n;
    if (lda < (a_rows > 1 ? a_rows : 1) || ldb < (b_rows > 1 ? b_rows : 1) ||
        ldc < (m > 1 ? m : 1))
        return CUBLAS_STATUS_INVALID_VALUE;
    int fast = 0, tf32 = 0;
    switch (computeType) {
    case CUBLAS_COMPUTE_32F: /* TF32 only where the math mode says */
        tf32 = (handle->math & 0xf) == CUBLAS_TF32_TENSOR_OP_MATH;
        break;
    case CUBLAS_COMPUTE_32F_PEDANTIC:
        break;
    case CUBLAS_COMPUTE_32F_FAST_TF32:
        fast = tf32 = 1;
        break;
    default:
        pp_emu_complain("%s: compute type %d is not emulated (only "
                        "CUBLAS_COMPUTE_32F, _32F_PEDANTIC, _32F_FAST_TF32)",
                        call, (int)computeType);
        return CUBLAS_STATUS_NOT_SUPPORTED;
    }
    if (Atype != Btype || !pp_emu_fp32_types(Atype, Ctype, fast)) {
        pp_emu_complain("%s: A %d, B %d, C %d with compute type %d: not "
                        "a combination cuBLAS supports (or not emulated: "
                        "FP32 or bf16 in, FP32 or bf16 out)", call,
                        (int)Atype, (int)Btype, (int)Ctype,
                        (int)computeType);
        return CUBLAS_STATUS_NOT_SUPPORTED;
    }
    /* Math modes round FP32 only: bf16 is exact in FP32 already. */
    tf32 = tf32 && Atype == CUDA_R_32F;
    float al, be;
    cublasStatus_t s = check_context(handle, call);
    if (s == CUBLAS_STATUS_SUCCESS)
        s = scalar(alpha, &al);
    if (s == CUBLAS_STATUS_SUCCESS)
        s = scalar(beta, &be);
    if (s != CUBLAS_STATUS_SUCCESS || m == 0 || n == 0)
        return s;
    /* alpha == 0 or k == 0: A and B are not read. */
    int products = al != 0.0f && k > 0;
    size_t ab = pp_emu_type_size(Atype), cb = pp_emu_type_size(Ctype);
    if ((products &&
         ((s = check_span(handle, call, "A", A,
                          pp_emu_matrix_bytes(a_rows, a_cols, lda, ab))) ||
          (s = check_span(handle, call, "B", B,
                          pp_emu_matrix_bytes(b_rows, b_cols, ldb, ab))))) ||
        (s = check_span(handle, call, "C", C,
                        pp_emu_matrix_bytes(m, n, ldc, cb))))
        return s;

    struct gemm_work *w = malloc(sizeof *w);
    if (!w)
        return CUBLAS_STATUS_ALLOC_FAILED;
    *w = (struct gemm_work){
        .prod = {m, n, products ? k : 0, tf32,
                 {A, Atype, lda, transposes(transa)},
                 {B, Btype, ldb, transposes(transb)}, NULL, NULL, NULL},
        .al = al, .be = be, .C = C, .ctype = Ctype, .ldc = ldc};
    if (pp_emu_product_alloc(&w->prod) != 0) {
        free(w);
        return CUBLAS_STATUS_ALLOC_FAILED;
    }
    pp_emu_enqueue(handle->stream, run_gemm, w, 0);
    return CUBLAS_STATUS_SUCCESS;
}

/* ---- level 2 ---------------------------------------------------------- */

struct ger_work {
    int m, n;
    float al;
    const float *x;
    int incx;
    const float *y;
    int incy;
    float *A;
    int lda;
};

static void run_ger(void *arg)
{
    struct ger_work *w = arg;
    for (int j = 0; j < w->n; j++) {
        float t = w->al * w->y[vector_at(j, w->n, w->incy)];
        for (int i = 0; i < w->m; i++) {
            float *aij = &w->A[(size_t)i + (size_t)j * (size_t)w->lda];
            *aij = *aij + w->x[vector_at(i, w->m, w->incx)] * t;
        }
    }
    free(w);
}

/* A = alpha x y^T + A, A m x n. */
cublasStatus_t cublasSger_v2(cublasHandle_t handle, int m, int n,
                             const float *alpha, const float *x, int incx,
                             const float *y, int incy, float *A, int lda)
{
    static const char call[] = "cublasSger";
    if (!live(handle))
        return CUBLAS_STATUS_NOT_INITIALIZED;
    if (m < 0 || n < 0 || incx == 0 || incy == 0 || lda < (m > 1 ? m : 1))
        return CUBLAS_STATUS_INVALID_VALUE;
    float al;
    cublasStatus_t s = check_context(handle, call);
    if (s == CUBLAS_STATUS_SUCCESS)
        s = scalar(alpha, &al);
    if (s != CUBLAS_STATUS_SUCCESS || m == 0 || n == 0 || al == 0.0f)
        return s;
    if ((s = check_span(handle, call, "x", x, vector_bytes(m, incx))) ||
        (s = check_span(handle, call, "y", y, vector_bytes(n, incy))) ||
        (s = check_span(handle, call, "A", A, matrix_bytes(m, n, lda))))
        return s;
    struct ger_work *w = malloc(sizeof *w);
    if (!w)
        return CUBLAS_STATUS_ALLOC_FAILED;
    *w = (struct ger_work){m, n, al, x, incx, y, incy, A, lda};
    pp_emu_enqueue(handle->stream, run_ger, w, 0);
    return CUBLAS_STATUS_SUCCESS;
}

/* t: A transposed; x has nx elements, y ny. */
struct gemv_work {
    int t, nx, ny;
    float al, be;
    const float *A;
    int lda;
    const float *x;
    int incx;
    float *y;
    int incy;
};

static void run_gemv(void *arg)
{
    struct gemv_work *w = arg;
    for (int r = 0; r < w->ny; r++) {
        float sum = 0.0f;
        for (int p = 0; w->al != 0.0f && p < w->nx; p++) {
            float a = w->t ? w->A[(size_t)p + (size_t)r * (size_t)w->lda]
                           : w->A[(size_t)r + (size_t)p * (size_t)w->lda];
            sum += a * w->x[vector_at(p, w->nx, w->incx)];
        }
        float *yr = &w->y[vector_at(r, w->ny, w->incy)];
        *yr = w->be == 0.0f ? w->al * sum : w->al * sum + w->be * *yr;
    }
    free(w);
}

/* y = alpha op(A) x + beta y, A m x n: x has n elements and y m for
 * CUBLAS_OP_N, the other way round transposed. */
cublasStatus_t cublasSgemv_v2(cublasHandle_t handle, cublasOperation_t trans,
                              int m, int n, const float *alpha,
                              const float *A, int lda, const float *x,
                              int incx, const float *beta, float *y,
                              int incy)
{
    static const char call[] = "cublasSgemv";
    if (!live(handle))
        return CUBLAS_STATUS_NOT_INITIALIZED;
    if ((trans != CUBLAS_OP_N && !transposes(trans)) || m < 0 || n < 0 ||
        incx == 0 || incy == 0 || lda < (m > 1 ? m : 1))
        return CUBLAS_STATUS_INVALID_VALUE;
    float al, be;
    cublasStatus_t s = check_context(handle, call);
    if (s == CUBLAS_STATUS_SUCCESS)
        s = scalar(alpha, &al);
    if (s == CUBLAS_STATUS_SUCCESS)
        s = scalar(beta, &be);
    if (s != CUBLAS_STATUS_SUCCESS || m == 0 || n == 0 ||
        (al == 0.0f && be == 1.0f))
        return s;
    int t = transposes(trans);
    int nx = t ? m : n, ny = t ? n : m;
    if ((al != 0.0f &&
         ((s = check_span(handle, call, "A", A, matrix_bytes(m, n, lda))) ||
          (s = check_span(handle, call, "x", x, vector_bytes(nx, incx))))) ||
        (s = check_span(handle, call, "y", y, vector_bytes(ny, incy))))
        return s;
    struct gemv_work *w = malloc(sizeof *w);
    if (!w)
        return CUBLAS_STATUS_ALLOC_FAILED;
    *w = (struct gemv_work){t, nx, ny, al, be, A, lda, x, incx, y, incy};
    pp_emu_enqueue(handle->stream, run_gemv, w, 0);
    return CUBLAS_STATUS_SUCCESS;
}
