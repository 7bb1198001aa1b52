/* tests/emu/cublas_emu.c - the cuBLAS calls pipette makes, on the CPU:
 * cublasGemmEx in FP32, cublasSger, cublasSgemv, and the handle.
 *
 * BLAS semantics exactly as documented, column-major: element (i, j) of
 * an m x n matrix with leading dimension ld is at [i + j * ld]; op(X) is
 * X, or its transpose for CUBLAS_OP_T (and CUBLAS_OP_C, the same for
 * real data). A row-major/column-major confusion in the caller therefore
 * gives wrong numbers here, as on a GPU. Sums are in float, in order;
 * beta == 0 means C (or y) is not read, so NaN there does not survive.
 * CUBLAS_COMPUTE_32F_FAST_TF32 (and CUBLAS_COMPUTE_32F on a handle in
 * CUBLAS_TF32_TENSOR_OP_MATH) rounds A and B to TF32, 10 mantissa bits,
 * to nearest, as tensor cores would see them; CUBLAS_COMPUTE_32F_PEDANTIC
 * never does.
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

#include "cuda_emu.h"
#include "cuda_emu_errors.h"

#define HANDLE_MAGIC 0x43424c53u /* "CBLS" */

struct cublasContext {
    unsigned magic;
    int device;
    cudaStream_t stream;
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
    *h = (struct cublasContext){HANDLE_MAGIC, pp_emu_current_device(), NULL};
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

/* ---- what a call may touch -------------------------------------------- */

/* The handle's device is current and owns the handle's stream. */
static cublasStatus_t check_context(cublasHandle_t h, const char *call)
{
    int stream_device, current = pp_emu_current_device();
    if (pp_emu_stream_device(h->stream, &stream_device) != cudaSuccess) {
        pp_emu_complain("%s: the handle's stream %p was destroyed", call,
                        (void *)h->stream);
        return CUBLAS_STATUS_EXECUTION_FAILED;
    }
    if (current != h->device || stream_device != h->device) {
        pp_emu_complain("%s: handle of device %d used with device %d "
                        "current and a stream of device %d", call,
                        h->device, current, stream_device);
        return CUBLAS_STATUS_EXECUTION_FAILED;
    }
    return CUBLAS_STATUS_SUCCESS;
}

/* The `extent` floats from p (the first to the last element a call
 * touches) lie inside memory the handle's device reaches. */
static cublasStatus_t check_span(cublasHandle_t h, const char *call,
                                 const char *what, const void *p,
                                 size_t extent)
{
    if (extent == 0)
        return CUBLAS_STATUS_SUCCESS;
    size_t bytes = extent * sizeof(float);
    int device = -1;
    const char *why = NULL;
    switch (pp_emu_locate(p, bytes, &device)) {
    case PP_EMU_PAGEABLE:
        why = "is not device memory";
        break;
    case PP_EMU_OVERRUN:
        why = "runs past the end of its allocation";
        break;
    case PP_EMU_DEVICE:
        if (!pp_emu_can_reach(h->device, device))
            why = "is memory of a device that is no peer of the handle's";
        break;
    case PP_EMU_PINNED:
        break;
    }
    if (!why)
        return CUBLAS_STATUS_SUCCESS;
    pp_emu_complain("%s: %s at %p (%zu bytes) %s", call, what, p, bytes, why);
    return CUBLAS_STATUS_EXECUTION_FAILED;
}

/* Elements from the first to the last of a rows x cols column-major
 * matrix with leading dimension ld (rows <= ld). */
static size_t matrix_extent(int rows, int cols, int ld)
{
    if (rows <= 0 || cols <= 0)
        return 0;
    return (size_t)(cols - 1) * (size_t)ld + (size_t)rows;
}

static size_t vector_extent(int n, int inc)
{
    if (n <= 0)
        return 0;
    size_t step = inc < 0 ? (size_t)-(int64_t)inc : (size_t)inc;
    return (size_t)(n - 1) * step + 1;
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

/* x rounded to TF32 (8 exponent bits, 10 mantissa bits), to nearest with
 * ties away from zero, as cvt.rna.tf32.f32; infinities and NaN kept. */
static float to_tf32(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    if ((u & 0x7f800000u) != 0x7f800000u)
        u = (u + 0x1000u) & 0xffffe000u;
    memcpy(&x, &u, sizeof x);
    return x;
}

static int transposes(cublasOperation_t op)
{
    return op == CUBLAS_OP_T || op == CUBLAS_OP_C;
}

/* op(X) (rows x depth) into out, row by row: out[r * depth + p] =
 * op(X)(r, p), rounded to TF32 where asked. */
static void pack(float *out, const float *x, int ld, cublasOperation_t op,
                 int rows, int depth, int tf32)
{
    for (int r = 0; r < rows; r++)
        for (int p = 0; p < depth; p++) {
            float v = transposes(op) ? x[(size_t)r * (size_t)ld + (size_t)p]
                                     : x[(size_t)p * (size_t)ld + (size_t)r];
            out[(size_t)r * (size_t)depth + (size_t)p] = tf32 ? to_tf32(v)
                                                              : v;
        }
}

/* sum[q] = the dot product of a with row q of b (k floats each, rows k
 * apart), for q < cols <= DOT_COLS. In float, as FP32 GEMMs sum, but not
 * in order: DOT_LANES partial sums each, added at the end, which GCC's
 * vector extension turns into SIMD instructions. Any order is within the
 * error bound of an FP32 sum of k products, which is all cuBLAS promises
 * (its tiles and split-K sum in yet other orders). */
#define DOT_COLS 4
#define DOT_LANES 8
typedef float lanes __attribute__((vector_size(DOT_LANES * sizeof(float))));

static void dots(float *sum, const float *a, const float *b, int cols,
                 int k)
{
    lanes acc[DOT_COLS];
    memset(acc, 0, sizeof acc);
    int p = 0;
    for (; p + DOT_LANES <= k; p += DOT_LANES) {
        lanes va;
        memcpy(&va, a + p, sizeof va);
        for (int q = 0; q < DOT_COLS; q++) {
            if (q == cols)
                break;
            lanes vb;
            memcpy(&vb, b + (size_t)q * (size_t)k + p, sizeof vb);
            acc[q] += va * vb;
        }
    }
    for (int q = 0; q < cols; q++) {
        float s = 0.0f;
        for (int l = 0; l < DOT_LANES; l++)
            s += acc[q][l];
        for (int r = p; r < k; r++)
            s += a[r] * b[(size_t)q * (size_t)k + r];
        sum[q] = s;
    }
}

/* A checked GEMM, queued; pa and pb (NULL where alpha or k is 0) are
 * room for op(A) and op(B)^T, packed when it runs. */
struct gemm_work {
    cublasOperation_t transa, transb;
    int m, n, k;
    float al, be;
    const float *A;
    int lda;
    const float *B;
    int ldb;
    float *C;
    int ldc, tf32;
    float *pa, *pb;
};

static void run_gemm(void *arg)
{
    struct gemm_work *w = arg;
    int m = w->m, n = w->n, k = w->k;
    if (w->pa) {
        pack(w->pa, w->A, w->lda, w->transa, m, k, w->tf32);
        /* op(B)^T (n x k), row by row: op(B)'s columns. */
        pack(w->pb, w->B, w->ldb,
             w->transb == CUBLAS_OP_N ? CUBLAS_OP_T : CUBLAS_OP_N, n, k,
             w->tf32);
    }
    for (int j = 0; j < n; j += DOT_COLS) {
        int cols = n - j < DOT_COLS ? n - j : DOT_COLS;
        for (int i = 0; i < m; i++) {
            float sum[DOT_COLS] = {0};
            if (w->pa)
                dots(sum, w->pa + (size_t)i * (size_t)k,
                     w->pb + (size_t)j * (size_t)k, cols, k);
            for (int q = 0; q < cols; q++) {
                float *cij =
                    &w->C[(size_t)i + (size_t)(j + q) * (size_t)w->ldc];
                *cij = w->be == 0.0f ? w->al * sum[q]
                                     : w->al * sum[q] + w->be * *cij;
            }
        }
    }
    free(w->pa);
    free(w->pb);
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
    int tf32;
    switch (computeType) {
    case CUBLAS_COMPUTE_32F: /* the default math mode: no TF32 */
    case CUBLAS_COMPUTE_32F_PEDANTIC:
        tf32 = 0;
        break;
    case CUBLAS_COMPUTE_32F_FAST_TF32:
        tf32 = 1;
        break;
    default:
        pp_emu_complain("%s: compute type %d is not emulated (only "
                        "CUBLAS_COMPUTE_32F, _32F_PEDANTIC, _32F_FAST_TF32)",
                        call, (int)computeType);
        return CUBLAS_STATUS_NOT_SUPPORTED;
    }
    if (Atype != CUDA_R_32F || Btype != CUDA_R_32F || Ctype != CUDA_R_32F) {
        pp_emu_complain("%s: only CUDA_R_32F matrices are emulated (A %d, "
                        "B %d, C %d)", call, (int)Atype, (int)Btype,
                        (int)Ctype);
        return CUBLAS_STATUS_NOT_SUPPORTED;
    }
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
    if ((products &&
         ((s = check_span(handle, call, "A", A,
                          matrix_extent(a_rows, a_cols, lda))) ||
          (s = check_span(handle, call, "B", B,
                          matrix_extent(b_rows, b_cols, ldb))))) ||
        (s = check_span(handle, call, "C", C, matrix_extent(m, n, ldc))))
        return s;

    struct gemm_work *w = malloc(sizeof *w);
    if (!w)
        return CUBLAS_STATUS_ALLOC_FAILED;
    *w = (struct gemm_work){transa, transb, m, n, k, al, be, A, lda, B, ldb,
                            C, ldc, tf32, NULL, NULL};
    if (products) {
        w->pa = malloc((size_t)m * (size_t)k * sizeof *w->pa);
        w->pb = malloc((size_t)n * (size_t)k * sizeof *w->pb);
        if (!w->pa || !w->pb) {
            free(w->pa);
            free(w->pb);
            free(w);
            return CUBLAS_STATUS_ALLOC_FAILED;
        }
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
    if ((s = check_span(handle, call, "x", x, vector_extent(m, incx))) ||
        (s = check_span(handle, call, "y", y, vector_extent(n, incy))) ||
        (s = check_span(handle, call, "A", A, matrix_extent(m, n, lda))))
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
         ((s = check_span(handle, call, "A", A, matrix_extent(m, n, lda))) ||
          (s = check_span(handle, call, "x", x, vector_extent(nx, incx))))) ||
        (s = check_span(handle, call, "y", y, vector_extent(ny, incy))))
        return s;
    struct gemv_work *w = malloc(sizeof *w);
    if (!w)
        return CUBLAS_STATUS_ALLOC_FAILED;
    *w = (struct gemv_work){t, nx, ny, al, be, A, lda, x, incx, y, incy};
    pp_emu_enqueue(handle->stream, run_gemv, w, 0);
    return CUBLAS_STATUS_SUCCESS;
}
