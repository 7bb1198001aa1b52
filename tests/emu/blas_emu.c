/* tests/emu/blas_emu.c - what the emulator's cuBLAS and cuBLASLt share
 * (blas_emu.h says what): checks, element types, the product. */
#include <stdlib.h>
#include <string.h>

#include "blas_emu.h"

/* ---- what a call may touch -------------------------------------------- */

cublasStatus_t pp_emu_blas_context(int device, cudaStream_t s,
                                   const char *call)
{
    int stream_device, current = pp_emu_current_device();
    if (pp_emu_stream_device(s, &stream_device) != cudaSuccess) {
        pp_emu_complain("%s: stream %p is not a live stream (destroyed?)",
                        call, (void *)s);
        return CUBLAS_STATUS_EXECUTION_FAILED;
    }
    if (current != device || stream_device != device) {
        pp_emu_complain("%s: handle of device %d used with device %d "
                        "current and a stream of device %d", call, device,
                        current, stream_device);
        return CUBLAS_STATUS_EXECUTION_FAILED;
    }
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t pp_emu_blas_span(int device, const char *call,
                                const char *what, const void *p,
                                size_t bytes)
{
    if (bytes == 0)
        return CUBLAS_STATUS_SUCCESS;
    int owner = -1;
    const char *why = NULL;
    switch (pp_emu_locate(p, bytes, &owner)) {
    case PP_EMU_PAGEABLE:
        why = "is not device memory";
        break;
    case PP_EMU_OVERRUN:
        why = "runs past the end of its allocation";
        break;
    case PP_EMU_DEVICE:
        if (!pp_emu_can_reach(device, owner))
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

size_t pp_emu_matrix_bytes(int64_t rows, int64_t cols, int64_t ld,
                           size_t size)
{
    if (rows <= 0 || cols <= 0)
        return 0;
    return ((size_t)(cols - 1) * (size_t)ld + (size_t)rows) * size;
}

/* ---- element types ---------------------------------------------------- */

size_t pp_emu_type_size(cudaDataType t)
{
    switch (t) {
    case CUDA_R_32F:
        return 4;
    case CUDA_R_16BF:
        return 2;
    default:
        return 0;
    }
}

float pp_emu_get(const void *p, cudaDataType t, size_t i)
{
    float v;
    if (t == CUDA_R_16BF) {
        uint16_t h;
        memcpy(&h, (const char *)p + 2 * i, sizeof h);
        uint32_t u = (uint32_t)h << 16;
        memcpy(&v, &u, sizeof v);
    } else {
        memcpy(&v, (const char *)p + 4 * i, sizeof v);
    }
    return v;
}

void pp_emu_put(void *p, cudaDataType t, size_t i, float v)
{
    if (t != CUDA_R_16BF) {
        memcpy((char *)p + 4 * i, &v, sizeof v);
        return;
    }
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    uint16_t h;
    if ((u & 0x7fffffffu) > 0x7f800000u)
        h = 0x7fff;
    else /* half of the dropped ulp, less one unless the kept bit is odd */
        h = (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
    memcpy((char *)p + 2 * i, &h, sizeof h);
}

int pp_emu_fp32_types(cudaDataType ab, cudaDataType c, int fast)
{
    if (ab == CUDA_R_32F)
        return c == CUDA_R_32F;
    return ab == CUDA_R_16BF && !fast &&
           (c == CUDA_R_16BF || c == CUDA_R_32F);
}

float pp_emu_tf32(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    if ((u & 0x7f800000u) != 0x7f800000u)
        u = (u + 0x1000u) & 0xffffe000u;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* ---- the product ------------------------------------------------------ */

float pp_emu_op_get(const struct pp_emu_operand *x, int64_t r, int64_t c)
{
    int64_t at = x->trans ? c + r * x->ld : r + c * x->ld;
    return pp_emu_get(x->p, x->type, (size_t)at);
}

/* out[r * depth + q] = op(X)(r, q) of an op(X) of `rows` rows, or of its
 * transpose where `columns` (row r of out is then column r of op(X)). */
static void pack(float *out, const struct pp_emu_operand *x, int rows,
                 int depth, int columns, int tf32)
{
    for (int r = 0; r < rows; r++)
        for (int q = 0; q < depth; q++) {
            float v = columns ? pp_emu_op_get(x, q, r)
                              : pp_emu_op_get(x, r, q);
            out[(size_t)r * (size_t)depth + (size_t)q] =
                tf32 ? pp_emu_tf32(v) : v;
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

int pp_emu_product_alloc(struct pp_emu_product *p)
{
    size_t m = (size_t)p->m, n = (size_t)p->n, k = (size_t)p->k;
    int sums = m > 0 && n > 0 && k > 0;
    p->acc = calloc(m * n + 1, sizeof *p->acc); /* + 1: never 0 bytes */
    p->pa = sums ? malloc(m * k * sizeof *p->pa) : NULL;
    p->pb = sums ? malloc(n * k * sizeof *p->pb) : NULL;
    if (!p->acc || (sums && (!p->pa || !p->pb))) {
        pp_emu_product_free(p);
        return -1;
    }
    return 0;
}

void pp_emu_product_run(struct pp_emu_product *p)
{
    int m = p->m, n = p->n, k = p->k;
    if (!p->pa)
        return;
    pack(p->pa, &p->a, m, k, 0, p->tf32);
    pack(p->pb, &p->b, n, k, 1, p->tf32);
    for (int j = 0; j < n; j += DOT_COLS) {
        int cols = n - j < DOT_COLS ? n - j : DOT_COLS;
        for (int i = 0; i < m; i++) {
            float sum[DOT_COLS];
            dots(sum, p->pa + (size_t)i * (size_t)k,
                 p->pb + (size_t)j * (size_t)k, cols, k);
            for (int q = 0; q < cols; q++)
                p->acc[(size_t)i + (size_t)(j + q) * (size_t)m] = sum[q];
        }
    }
}

void pp_emu_product_free(struct pp_emu_product *p)
{
    free(p->acc);
    free(p->pa);
    free(p->pb);
    p->acc = p->pa = p->pb = NULL;
}
