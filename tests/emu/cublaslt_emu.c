/* tests/emu/cublaslt_emu.c - the cuBLASLt calls a linear layer makes, on
 * the CPU: the handle; matmul, layout and preference descriptors;
 * cublasLtMatmulAlgoGetHeuristic; and cublasLtMatmul, which computes
 *
 *   D = epilogue(alpha op(A) op(B) + beta C)
 *
 * column-major (blas_emu.h), with the product as cublasGemmEx's: A and B
 * in FP32 or bf16, C and D of one type, FP32 or (with bf16 A and B)
 * bf16, compute type CUBLAS_COMPUTE_32F (_PEDANTIC alike) or, FP32
 * throughout, _32F_FAST_TF32; scale type CUDA_R_32F, alpha and beta on
 * the host, one matrix per layout, column-major. Any other combination
 * fails with CUBLAS_STATUS_NOT_SUPPORTED and a line on stderr (cuBLASLt
 * refuses most of them too; FP16, FP8 and batches it would run).
 *
 * Epilogues, in float, as cublasLt.h documents them:
 *   BIAS        + bias[i], bias a vector of m elements of D's type
 *   RELU        max(x, 0), after any bias (fmaxf: NaN becomes 0)
 *   GELU        0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), after
 *               any bias; _AUX stores x, the GELU's input, in the aux
 *               matrix (D's type, m x n, leading dimension AUX_LD)
 *   DGELU       x GELU'(aux), aux the GELU input stored by GELU_AUX
 *   DGELU_BGRAD and bias[i] = sum over j of D(i, j) (before D's rounding)
 *   BGRADA      bias[i] = sum over p of op(A)(i, p), m elements
 *   BGRADB      bias[j] = sum over p of op(B)(p, j), n elements
 * A bias gradient is a sum in float, rounded once to D's type; BGRADA's
 * and BGRADB's of the values as stored, not TF32-rounded. Where cuBLASLt
 * says nothing the emulator refuses rather than guess: BGRADA and BGRADB
 * with an alpha other than 1 (does alpha scale the gradient?). A GPU's
 * tanh may be faster and less exact than tanhf: compare GELU results
 * with a tolerance, as any sums.
 *
 * Refused as cuBLASLt refuses, with its statuses: dimensions that do not
 * chain, leading dimensions below the rows, a bias or aux pointer the
 * epilogue needs left NULL, an aux leading dimension not a multiple of 8,
 * C in place of D with another leading dimension, an algorithm chosen
 * for other types, transposes or epilogue. Refused where a GPU would
 * fault or compute garbage (the emulator's own checks:
 * CUBLAS_STATUS_EXECUTION_FAILED and a line on stderr): memory the
 * handle's device cannot reach, a stream of another device, an output
 * overlapping another operand, and pointers less aligned than the
 * algorithm assumed. The heuristic's kernels assume the preference's
 * minimum alignments (default 256 bytes) up to 16, and for the bias and
 * aux pointers the alignment of the pointers the descriptor held then;
 * cublasLtMatmul without an algorithm assumes the default preferences.
 * The workspace holds garbage after each call (0xff bytes). Work is
 * queued on the given stream, as cublas_emu.c queues it.
 *
 * PIPETTE_EMU_LT_NO_BGRAD=1 plays a cuBLASLt without kernels for BGRADA
 * and BGRADB, which a real one may lack for some types: the heuristic
 * finds no algorithm for them (CUBLAS_STATUS_NOT_SUPPORTED, none
 * returned), so that a caller's way round it gets tested. Read at each
 * heuristic call, so a test may set it between layers.
 *
 * Descriptors live in the opaque structures cublasLt.h declares, so the
 * header's *Init functions work on storage of the caller's too.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime_api.h>
#include <cublasLt.h>

#include "blas_emu.h"
#include "cuda_emu.h"

#define HANDLE_MAGIC 0x43424c54u /* "CBLT" */

/* ---- status, versions ------------------------------------------------- */

const char *cublasLtGetStatusName(cublasStatus_t status)
{
    return cublasGetStatusName(status);
}

const char *cublasLtGetStatusString(cublasStatus_t status)
{
    return cublasGetStatusString(status);
}

size_t cublasLtGetVersion(void)
{
    return CUBLAS_VERSION;
}

size_t cublasLtGetCudartVersion(void)
{
    return CUDART_VERSION;
}

cublasStatus_t cublasLtGetProperty(libraryPropertyType type, int *value)
{
    return cublasGetProperty(type, value);
}

/* ---- the handle ------------------------------------------------------- */

struct cublasLtContext {
    unsigned magic;
    int device; /* current at its creation */
};

static int live(cublasLtHandle_t h)
{
    return h && h->magic == HANDLE_MAGIC;
}

cublasStatus_t cublasLtCreate(cublasLtHandle_t *lightHandle)
{
    if (!lightHandle)
        return CUBLAS_STATUS_INVALID_VALUE;
    if (pp_emu_device_count() == 0)
        return CUBLAS_STATUS_NOT_INITIALIZED;
    struct cublasLtContext *h = malloc(sizeof *h);
    if (!h)
        return CUBLAS_STATUS_ALLOC_FAILED;
    *h = (struct cublasLtContext){HANDLE_MAGIC, pp_emu_current_device()};
    *lightHandle = h;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtDestroy(cublasLtHandle_t lightHandle)
{
    if (!lightHandle)
        return CUBLAS_STATUS_INVALID_VALUE;
    if (!live(lightHandle))
        return CUBLAS_STATUS_NOT_INITIALIZED;
    lightHandle->magic = 0;
    free(lightHandle);
    return CUBLAS_STATUS_SUCCESS;
}

/* ---- descriptors ------------------------------------------------------ */

/* One attribute: its size in bytes as cuBLASLt 13.1 takes it (0: no such
 * attribute), its default, and whether the emulator honours it; an
 * attribute it does not must keep its default for a matmul to run. */
struct attr {
    unsigned char size;
    unsigned char emulated;
    int64_t dflt;
};

/* A kind of descriptor: a magic, then each attribute's bytes, packed in
 * the order of the attributes, inside the header's opaque structure. */
struct kind {
    const char *name;
    uint32_t magic;
    int count;
    const struct attr *attrs;
};

static const struct attr desc_attrs[] = {
    [CUBLASLT_MATMUL_DESC_COMPUTE_TYPE] = {4, 1, 0},
    [CUBLASLT_MATMUL_DESC_SCALE_TYPE] = {4, 1, 0},
    [CUBLASLT_MATMUL_DESC_POINTER_MODE] = {4, 0, 0},
    [CUBLASLT_MATMUL_DESC_TRANSA] = {4, 1, CUBLAS_OP_N},
    [CUBLASLT_MATMUL_DESC_TRANSB] = {4, 1, CUBLAS_OP_N},
    [CUBLASLT_MATMUL_DESC_TRANSC] = {4, 0, CUBLAS_OP_N},
    [CUBLASLT_MATMUL_DESC_FILL_MODE] = {4, 0, CUBLAS_FILL_MODE_FULL},
    [CUBLASLT_MATMUL_DESC_EPILOGUE] = {4, 1, CUBLASLT_EPILOGUE_DEFAULT},
    [CUBLASLT_MATMUL_DESC_BIAS_POINTER] = {8, 1, 0},
    [CUBLASLT_MATMUL_DESC_BIAS_BATCH_STRIDE] = {8, 1, 0},
    [CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER] = {8, 1, 0},
    [CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD] = {8, 1, 0},
    [CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_BATCH_STRIDE] = {8, 1, 0},
    [CUBLASLT_MATMUL_DESC_ALPHA_VECTOR_BATCH_STRIDE] = {8, 1, 0},
    [CUBLASLT_MATMUL_DESC_SM_COUNT_TARGET] = {4, 1, 0},
    [16] = {4, 0, 0}, /* taken by cuBLASLt, named nowhere */
    [CUBLASLT_MATMUL_DESC_A_SCALE_POINTER] = {8, 0, 0},
    [CUBLASLT_MATMUL_DESC_B_SCALE_POINTER] = {8, 0, 0},
    [CUBLASLT_MATMUL_DESC_C_SCALE_POINTER] = {8, 0, 0},
    [CUBLASLT_MATMUL_DESC_D_SCALE_POINTER] = {8, 0, 0},
    [CUBLASLT_MATMUL_DESC_AMAX_D_POINTER] = {8, 0, 0},
    [CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_DATA_TYPE] = {4, 1, -1},
    [CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_SCALE_POINTER] = {8, 0, 0},
    [CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_AMAX_POINTER] = {8, 0, 0},
    [CUBLASLT_MATMUL_DESC_FAST_ACCUM] = {1, 1, 0},
    [CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE] = {4, 1, -1},
    [CUBLASLT_MATMUL_DESC_A_SCALE_MODE] = {4, 0, 0},
    [CUBLASLT_MATMUL_DESC_B_SCALE_MODE] = {4, 0, 0},
    [CUBLASLT_MATMUL_DESC_C_SCALE_MODE] = {4, 0, 0},
    [CUBLASLT_MATMUL_DESC_D_SCALE_MODE] = {4, 0, 0},
    [CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_SCALE_MODE] = {4, 0, 0},
    [CUBLASLT_MATMUL_DESC_D_OUT_SCALE_POINTER] = {8, 0, 0},
    [CUBLASLT_MATMUL_DESC_D_OUT_SCALE_MODE] = {4, 0, 0},
    [CUBLASLT_MATMUL_DESC_EMULATION_DESCRIPTOR] = {8, 0, 0},
};

/* Batches other than 1 and orders other than column-major are not
 * emulated; with one matrix a batch's stride and mode do not matter. */
static const struct attr layout_attrs[] = {
    [CUBLASLT_MATRIX_LAYOUT_TYPE] = {4, 1, 0},
    [CUBLASLT_MATRIX_LAYOUT_ORDER] = {4, 0, CUBLASLT_ORDER_COL},
    [CUBLASLT_MATRIX_LAYOUT_ROWS] = {8, 1, 0},
    [CUBLASLT_MATRIX_LAYOUT_COLS] = {8, 1, 0},
    [CUBLASLT_MATRIX_LAYOUT_LD] = {8, 1, 0},
    [CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT] = {4, 0, 1},
    [CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET] = {8, 1, 0},
    [CUBLASLT_MATRIX_LAYOUT_PLANE_OFFSET] = {8, 0, 0},
    [CUBLASLT_MATRIX_LAYOUT_BATCH_MODE] = {4, 1, 0},
};

/* The one emulated algorithm needs no workspace and no reduction, and
 * any heuristic may pick it. */
static const struct attr pref_attrs[] = {
    [CUBLASLT_MATMUL_PREF_SEARCH_MODE] = {4, 0, CUBLASLT_SEARCH_BEST_FIT},
    [CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES] = {8, 1, 0},
    [CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK] =
        {4, 1, CUBLASLT_REDUCTION_SCHEME_MASK},
    [CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES] = {4, 1, 256},
    [CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES] = {4, 1, 256},
    [CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES] = {4, 1, 256},
    [CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES] = {4, 1, 256},
    [CUBLASLT_MATMUL_PREF_MAX_WAVES_COUNT] = {4, 1, 0}, /* 0.0f */
    [CUBLASLT_MATMUL_PREF_IMPL_MASK] = {8, 1, -1},
};

#define KIND(name, magic, attrs)                                            \
    {name, magic, (int)(sizeof attrs / sizeof *attrs), attrs}
static const struct kind desc_kind =
    KIND("matmul descriptor", 0x4c54444du /* "LTDM" */, desc_attrs);
static const struct kind layout_kind =
    KIND("matrix layout", 0x4c544c4fu /* "LTLO" */, layout_attrs);
static const struct kind pref_kind =
    KIND("matmul preference", 0x4c545052u /* "LTPR" */, pref_attrs);

static size_t attr_offset(const struct kind *k, int attr)
{
    size_t at = sizeof(uint32_t);
    for (int a = 0; a < attr; a++)
        at += k->attrs[a].size;
    return at;
}

static int is_live(const struct kind *k, const void *d)
{
    uint32_t magic = 0;
    if (d)
        memcpy(&magic, d, sizeof magic);
    return magic == k->magic;
}

/* A descriptor a call was given: live, or a line on stderr. */
static int check_live(const struct kind *k, const void *d, const char *call)
{
    if (is_live(k, d))
        return 1;
    pp_emu_complain("%s: %p is not a live %s (never created, or destroyed)",
                    call, d, k->name);
    return 0;
}

static void put_attr(const struct kind *k, void *d, int attr, int64_t v)
{
    unsigned char *at = (unsigned char *)d + attr_offset(k, attr);
    switch (k->attrs[attr].size) {
    case 1: {
        int8_t x = (int8_t)v;
        memcpy(at, &x, 1);
        break;
    }
    case 4: {
        int32_t x = (int32_t)v;
        memcpy(at, &x, 4);
        break;
    }
    case 8:
        memcpy(at, &v, 8);
        break;
    }
}

/* An attribute as a number (sizes 1, 4 and 8 are signed integers). */
static int64_t get_attr(const struct kind *k, const void *d, int attr)
{
    const unsigned char *at = (const unsigned char *)d + attr_offset(k, attr);
    switch (k->attrs[attr].size) {
    case 1: {
        int8_t x;
        memcpy(&x, at, 1);
        return x;
    }
    case 4: {
        int32_t x;
        memcpy(&x, at, 4);
        return x;
    }
    default: {
        int64_t x;
        memcpy(&x, at, 8);
        return x;
    }
    }
}

static cublasStatus_t init(const struct kind *k, void *d, size_t size)
{
    if (!d)
        return CUBLAS_STATUS_INVALID_VALUE;
    if (size < attr_offset(k, k->count))
        return CUBLAS_STATUS_ALLOC_FAILED;
    memcpy(d, &k->magic, sizeof k->magic);
    for (int a = 0; a < k->count; a++)
        put_attr(k, d, a, k->attrs[a].dflt);
    return CUBLAS_STATUS_SUCCESS;
}

/* Creates a descriptor of `size` bytes, the header's opaque size. */
static cublasStatus_t create(const struct kind *k, void **out, size_t size)
{
    if (!out)
        return CUBLAS_STATUS_INVALID_VALUE;
    void *d = malloc(size);
    if (!d)
        return CUBLAS_STATUS_ALLOC_FAILED;
    cublasStatus_t s = init(k, d, size);
    if (s != CUBLAS_STATUS_SUCCESS) {
        free(d);
        return s;
    }
    *out = d;
    return CUBLAS_STATUS_SUCCESS;
}

/* cuBLASLt frees NULL quietly. */
static cublasStatus_t destroy(const struct kind *k, void *d,
                              const char *call)
{
    if (!d)
        return CUBLAS_STATUS_SUCCESS;
    if (!check_live(k, d, call))
        return CUBLAS_STATUS_INVALID_VALUE;
    memset(d, 0, sizeof(uint32_t));
    free(d);
    return CUBLAS_STATUS_SUCCESS;
}

static int known_attr(const struct kind *k, int attr)
{
    return attr >= 0 && attr < k->count && k->attrs[attr].size > 0;
}

/* buf must hold exactly the attribute's size, as cuBLASLt checks. */
static cublasStatus_t set(const struct kind *k, void *d, int attr,
                          const void *buf, size_t size, const char *call)
{
    if (!check_live(k, d, call))
        return CUBLAS_STATUS_INVALID_VALUE;
    if (!known_attr(k, attr) || !buf || size != k->attrs[attr].size)
        return CUBLAS_STATUS_INVALID_VALUE;
    memcpy((char *)d + attr_offset(k, attr), buf, size);
    return CUBLAS_STATUS_SUCCESS;
}

/* size 0 asks for the size; otherwise it must be the size. */
static cublasStatus_t get(const struct kind *k, const void *d, int attr,
                          void *buf, size_t size, size_t *written,
                          const char *call)
{
    if (!check_live(k, d, call))
        return CUBLAS_STATUS_INVALID_VALUE;
    if (!known_attr(k, attr))
        return CUBLAS_STATUS_INVALID_VALUE;
    size_t need = k->attrs[attr].size;
    if (size == 0) {
        if (!written)
            return CUBLAS_STATUS_INVALID_VALUE;
        *written = need;
        return CUBLAS_STATUS_SUCCESS;
    }
    if (!buf || size != need)
        return CUBLAS_STATUS_INVALID_VALUE;
    memcpy(buf, (const char *)d + attr_offset(k, attr), need);
    if (written)
        *written = need;
    return CUBLAS_STATUS_SUCCESS;
}

/* Each attribute the emulator does not honour still has its default. */
static cublasStatus_t check_defaults(const struct kind *k, const void *d,
                                     const char *call)
{
    for (int a = 0; a < k->count; a++)
        if (k->attrs[a].size && !k->attrs[a].emulated &&
            get_attr(k, d, a) != k->attrs[a].dflt) {
            pp_emu_complain("%s: %s attribute %d = %lld is not emulated "
                            "(only its default, %lld)", call, k->name, a,
                            (long long)get_attr(k, d, a),
                            (long long)k->attrs[a].dflt);
            return CUBLAS_STATUS_NOT_SUPPORTED;
        }
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulDescInit_internal(cublasLtMatmulDesc_t d,
                                               size_t size,
                                               cublasComputeType_t ct,
                                               cudaDataType_t scaleType)
{
    cublasStatus_t s = init(&desc_kind, d, size);
    if (s == CUBLAS_STATUS_SUCCESS) {
        put_attr(&desc_kind, d, CUBLASLT_MATMUL_DESC_COMPUTE_TYPE, ct);
        put_attr(&desc_kind, d, CUBLASLT_MATMUL_DESC_SCALE_TYPE, scaleType);
    }
    return s;
}

cublasStatus_t cublasLtMatmulDescCreate(cublasLtMatmulDesc_t *matmulDesc,
                                        cublasComputeType_t computeType,
                                        cudaDataType_t scaleType)
{
    cublasStatus_t s = create(&desc_kind, (void **)matmulDesc,
                              sizeof(cublasLtMatmulDescOpaque_t));
    if (s == CUBLAS_STATUS_SUCCESS)
        s = cublasLtMatmulDescInit_internal(
            *matmulDesc, sizeof(cublasLtMatmulDescOpaque_t), computeType,
            scaleType);
    return s;
}

cublasStatus_t cublasLtMatmulDescDestroy(cublasLtMatmulDesc_t matmulDesc)
{
    return destroy(&desc_kind, matmulDesc, "cublasLtMatmulDescDestroy");
}

cublasStatus_t
cublasLtMatmulDescSetAttribute(cublasLtMatmulDesc_t matmulDesc,
                               cublasLtMatmulDescAttributes_t attr,
                               const void *buf, size_t sizeInBytes)
{
    return set(&desc_kind, matmulDesc, (int)attr, buf, sizeInBytes,
               "cublasLtMatmulDescSetAttribute");
}

cublasStatus_t
cublasLtMatmulDescGetAttribute(cublasLtMatmulDesc_t matmulDesc,
                               cublasLtMatmulDescAttributes_t attr,
                               void *buf, size_t sizeInBytes,
                               size_t *sizeWritten)
{
    return get(&desc_kind, matmulDesc, (int)attr, buf, sizeInBytes,
               sizeWritten, "cublasLtMatmulDescGetAttribute");
}

cublasStatus_t cublasLtMatrixLayoutInit_internal(cublasLtMatrixLayout_t l,
                                                 size_t size,
                                                 cudaDataType type,
                                                 uint64_t rows, uint64_t cols,
                                                 int64_t ld)
{
    cublasStatus_t s = init(&layout_kind, l, size);
    if (s == CUBLAS_STATUS_SUCCESS) {
        put_attr(&layout_kind, l, CUBLASLT_MATRIX_LAYOUT_TYPE, type);
        put_attr(&layout_kind, l, CUBLASLT_MATRIX_LAYOUT_ROWS,
                 (int64_t)rows);
        put_attr(&layout_kind, l, CUBLASLT_MATRIX_LAYOUT_COLS,
                 (int64_t)cols);
        put_attr(&layout_kind, l, CUBLASLT_MATRIX_LAYOUT_LD, ld);
    }
    return s;
}

cublasStatus_t cublasLtMatrixLayoutCreate(cublasLtMatrixLayout_t *matLayout,
                                          cudaDataType type, uint64_t rows,
                                          uint64_t cols, int64_t ld)
{
    cublasStatus_t s = create(&layout_kind, (void **)matLayout,
                              sizeof(cublasLtMatrixLayoutOpaque_t));
    if (s == CUBLAS_STATUS_SUCCESS)
        s = cublasLtMatrixLayoutInit_internal(
            *matLayout, sizeof(cublasLtMatrixLayoutOpaque_t), type, rows,
            cols, ld);
    return s;
}

cublasStatus_t cublasLtMatrixLayoutDestroy(cublasLtMatrixLayout_t matLayout)
{
    return destroy(&layout_kind, matLayout, "cublasLtMatrixLayoutDestroy");
}

cublasStatus_t
cublasLtMatrixLayoutSetAttribute(cublasLtMatrixLayout_t matLayout,
                                 cublasLtMatrixLayoutAttribute_t attr,
                                 const void *buf, size_t sizeInBytes)
{
    return set(&layout_kind, matLayout, (int)attr, buf, sizeInBytes,
               "cublasLtMatrixLayoutSetAttribute");
}

cublasStatus_t
cublasLtMatrixLayoutGetAttribute(cublasLtMatrixLayout_t matLayout,
                                 cublasLtMatrixLayoutAttribute_t attr,
                                 void *buf, size_t sizeInBytes,
                                 size_t *sizeWritten)
{
    return get(&layout_kind, matLayout, (int)attr, buf, sizeInBytes,
               sizeWritten, "cublasLtMatrixLayoutGetAttribute");
}

cublasStatus_t
cublasLtMatmulPreferenceInit_internal(cublasLtMatmulPreference_t pref,
                                      size_t size)
{
    return init(&pref_kind, pref, size);
}

cublasStatus_t cublasLtMatmulPreferenceCreate(cublasLtMatmulPreference_t *pref)
{
    return create(&pref_kind, (void **)pref,
                  sizeof(cublasLtMatmulPreferenceOpaque_t));
}

cublasStatus_t cublasLtMatmulPreferenceDestroy(cublasLtMatmulPreference_t pref)
{
    return destroy(&pref_kind, pref, "cublasLtMatmulPreferenceDestroy");
}

cublasStatus_t
cublasLtMatmulPreferenceSetAttribute(cublasLtMatmulPreference_t pref,
                                     cublasLtMatmulPreferenceAttributes_t attr,
                                     const void *buf, size_t sizeInBytes)
{
    return set(&pref_kind, pref, (int)attr, buf, sizeInBytes,
               "cublasLtMatmulPreferenceSetAttribute");
}

cublasStatus_t
cublasLtMatmulPreferenceGetAttribute(cublasLtMatmulPreference_t pref,
                                     cublasLtMatmulPreferenceAttributes_t attr,
                                     void *buf, size_t sizeInBytes,
                                     size_t *sizeWritten)
{
    return get(&pref_kind, pref, (int)attr, buf, sizeInBytes, sizeWritten,
               "cublasLtMatmulPreferenceGetAttribute");
}

/* ---- what a matmul is ------------------------------------------------- */

/* What an epilogue does, in the order it does it. */
enum {
    E_BIAS = 1,       /* + bias[i] */
    E_AUX_OUT = 2,    /* aux = x */
    E_RELU = 4,       /* max(x, 0) */
    E_GELU = 8,       /* GELU(x) */
    E_DGELU = 16,     /* x GELU'(aux) */
    E_BGRAD_D = 32,   /* bias = the rows' sums of D */
    E_BGRAD_A = 64,   /* bias = the rows' sums of op(A) */
    E_BGRAD_B = 128,  /* bias = the columns' sums of op(B) */
    E_AUX = E_AUX_OUT | E_DGELU,
    E_BGRAD = E_BGRAD_D | E_BGRAD_A | E_BGRAD_B,
};

static const struct {
    cublasLtEpilogue_t epilogue;
    unsigned does;
} epilogues[] = {
    {CUBLASLT_EPILOGUE_DEFAULT, 0},
    {CUBLASLT_EPILOGUE_RELU, E_RELU},
    {CUBLASLT_EPILOGUE_BIAS, E_BIAS},
    {CUBLASLT_EPILOGUE_RELU_BIAS, E_BIAS | E_RELU},
    {CUBLASLT_EPILOGUE_GELU, E_GELU},
    {CUBLASLT_EPILOGUE_GELU_AUX, E_AUX_OUT | E_GELU},
    {CUBLASLT_EPILOGUE_GELU_BIAS, E_BIAS | E_GELU},
    {CUBLASLT_EPILOGUE_GELU_AUX_BIAS, E_BIAS | E_AUX_OUT | E_GELU},
    {CUBLASLT_EPILOGUE_DGELU, E_DGELU},
    {CUBLASLT_EPILOGUE_DGELU_BGRAD, E_DGELU | E_BGRAD_D},
    {CUBLASLT_EPILOGUE_BGRADA, E_BGRAD_A},
    {CUBLASLT_EPILOGUE_BGRADB, E_BGRAD_B},
};

/* A matmul as its descriptors describe it, checked. */
struct plan {
    cublasComputeType_t compute;
    int tf32;
    uint32_t epilogue;
    unsigned does;
    int transa, transb;
    int m, n, k;
    cudaDataType ab, cd; /* A's and B's type; C's and D's */
    int64_t lda, ldb, ldc, ldd;
    void *bias;      /* read, or written by a gradient epilogue */
    int bias_length; /* m or n */
    void *aux;
    int64_t aux_ld;
};

/* The emulated algorithm, inside a cublasLtMatmulAlgo_t: what it was
 * chosen for, and the alignment in bytes its kernel assumes of A, B, C,
 * D, the bias and the aux matrix. */
#define ALGO_MAGIC 0x4c54414cu /* "LTAL" */
enum { AL_A, AL_B, AL_C, AL_D, AL_BIAS, AL_AUX, AL_N };
struct algo {
    uint32_t magic, epilogue;
    int32_t compute, ab, cd, transa, transb;
    uint32_t align[AL_N];
};
_Static_assert(sizeof(struct algo) <= sizeof(cublasLtMatmulAlgo_t),
               "the emulated algorithm fits cublasLtMatmulAlgo_t");

static int transposes(int64_t op)
{
    return op == CUBLAS_OP_T || op == CUBLAS_OP_C;
}

static int64_t layout_get(cublasLtMatrixLayout_t l, int attr)
{
    return get_attr(&layout_kind, l, attr);
}

static int64_t desc_get(cublasLtMatmulDesc_t d, int attr)
{
    return get_attr(&desc_kind, d, attr);
}

/* One matrix's layout: rows x cols with leading dimension ld >= rows. */
static cublasStatus_t layout_dims(cublasLtMatrixLayout_t l, const char *call,
                                  const char *what, int64_t *rows,
                                  int64_t *cols, int64_t *ld)
{
    cublasStatus_t s = check_defaults(&layout_kind, l, call);
    if (s != CUBLAS_STATUS_SUCCESS)
        return s;
    *rows = layout_get(l, CUBLASLT_MATRIX_LAYOUT_ROWS);
    *cols = layout_get(l, CUBLASLT_MATRIX_LAYOUT_COLS);
    *ld = layout_get(l, CUBLASLT_MATRIX_LAYOUT_LD);
    if (*rows < 0 || *cols < 0 || *rows > INT32_MAX || *cols > INT32_MAX) {
        pp_emu_complain("%s: %s is %lld x %lld: beyond int32_t", call, what,
                        (long long)*rows, (long long)*cols);
        return CUBLAS_STATUS_NOT_SUPPORTED;
    }
    if (*ld < (*rows > 1 ? *rows : 1)) {
        pp_emu_complain("%s: %s has %lld rows and leading dimension %lld",
                        call, what, (long long)*rows, (long long)*ld);
        return CUBLAS_STATUS_INVALID_VALUE;
    }
    return CUBLAS_STATUS_SUCCESS;
}

/* The descriptors checked and read into p, for the heuristic and the
 * matmul alike. */
static cublasStatus_t make_plan(cublasLtHandle_t h, const char *call,
                                cublasLtMatmulDesc_t d,
                                cublasLtMatrixLayout_t la,
                                cublasLtMatrixLayout_t lb,
                                cublasLtMatrixLayout_t lc,
                                cublasLtMatrixLayout_t ld, struct plan *p)
{
    if (!live(h))
        return CUBLAS_STATUS_NOT_INITIALIZED;
    if (!check_live(&desc_kind, d, call) ||
        !check_live(&layout_kind, la, call) ||
        !check_live(&layout_kind, lb, call) ||
        !check_live(&layout_kind, lc, call) ||
        !check_live(&layout_kind, ld, call))
        return CUBLAS_STATUS_INVALID_VALUE;
    cublasStatus_t s = check_defaults(&desc_kind, d, call);
    if (s != CUBLAS_STATUS_SUCCESS)
        return s;
    memset(p, 0, sizeof *p);

    p->compute = (cublasComputeType_t)desc_get(
        d, CUBLASLT_MATMUL_DESC_COMPUTE_TYPE);
    if (p->compute != CUBLAS_COMPUTE_32F &&
        p->compute != CUBLAS_COMPUTE_32F_PEDANTIC &&
        p->compute != CUBLAS_COMPUTE_32F_FAST_TF32) {
        pp_emu_complain("%s: compute type %d is not emulated (only "
                        "CUBLAS_COMPUTE_32F, _32F_PEDANTIC, _32F_FAST_TF32)",
                        call, (int)p->compute);
        return CUBLAS_STATUS_NOT_SUPPORTED;
    }
    p->tf32 = p->compute == CUBLAS_COMPUTE_32F_FAST_TF32;
    int64_t scale = desc_get(d, CUBLASLT_MATMUL_DESC_SCALE_TYPE);
    p->ab = (cudaDataType)layout_get(la, CUBLASLT_MATRIX_LAYOUT_TYPE);
    p->cd = (cudaDataType)layout_get(ld, CUBLASLT_MATRIX_LAYOUT_TYPE);
    if (scale != CUDA_R_32F ||
        layout_get(lb, CUBLASLT_MATRIX_LAYOUT_TYPE) != p->ab ||
        layout_get(lc, CUBLASLT_MATRIX_LAYOUT_TYPE) != p->cd ||
        !pp_emu_fp32_types(p->ab, p->cd, p->tf32)) {
        pp_emu_complain("%s: compute type %d, scale %lld, A %lld, B %lld, "
                        "C %lld, D %lld: not a combination cuBLASLt "
                        "supports (or not emulated: FP32 or bf16 in, FP32 "
                        "or bf16 out, FP32 scale)", call, (int)p->compute,
                        (long long)scale,
                        (long long)layout_get(la, CUBLASLT_MATRIX_LAYOUT_TYPE),
                        (long long)layout_get(lb, CUBLASLT_MATRIX_LAYOUT_TYPE),
                        (long long)layout_get(lc, CUBLASLT_MATRIX_LAYOUT_TYPE),
                        (long long)p->cd);
        return CUBLAS_STATUS_NOT_SUPPORTED;
    }

    int64_t ta = desc_get(d, CUBLASLT_MATMUL_DESC_TRANSA);
    int64_t tb = desc_get(d, CUBLASLT_MATMUL_DESC_TRANSB);
    if ((ta != CUBLAS_OP_N && !transposes(ta)) ||
        (tb != CUBLAS_OP_N && !transposes(tb))) {
        pp_emu_complain("%s: TRANSA %lld, TRANSB %lld", call, (long long)ta,
                        (long long)tb);
        return CUBLAS_STATUS_INVALID_VALUE;
    }
    p->transa = transposes(ta);
    p->transb = transposes(tb);

    int64_t ar, ac, br, bc, cr, cc, dr, dc;
    if ((s = layout_dims(la, call, "A", &ar, &ac, &p->lda)) ||
        (s = layout_dims(lb, call, "B", &br, &bc, &p->ldb)) ||
        (s = layout_dims(lc, call, "C", &cr, &cc, &p->ldc)) ||
        (s = layout_dims(ld, call, "D", &dr, &dc, &p->ldd)))
        return s;
    /* op(A) is m x k, op(B) k x n, C and D m x n. */
    int64_t am = p->transa ? ac : ar, ak = p->transa ? ar : ac;
    int64_t bk = p->transb ? bc : br, bn = p->transb ? br : bc;
    if (am != dr || bn != dc || ak != bk || cr != dr || cc != dc) {
        pp_emu_complain("%s: op(A) %lld x %lld, op(B) %lld x %lld, "
                        "C %lld x %lld, D %lld x %lld do not chain", call,
                        (long long)am, (long long)ak, (long long)bk,
                        (long long)bn, (long long)cr, (long long)cc,
                        (long long)dr, (long long)dc);
        return CUBLAS_STATUS_INVALID_VALUE;
    }
    p->m = (int)dr;
    p->n = (int)dc;
    p->k = (int)ak;

    p->epilogue = (uint32_t)desc_get(d, CUBLASLT_MATMUL_DESC_EPILOGUE);
    size_t e = 0, ne = sizeof epilogues / sizeof *epilogues;
    while (e < ne && epilogues[e].epilogue != p->epilogue)
        e++;
    if (e == ne) {
        int relu = p->epilogue == CUBLASLT_EPILOGUE_RELU_AUX ||
                   p->epilogue == CUBLASLT_EPILOGUE_RELU_AUX_BIAS ||
                   p->epilogue == CUBLASLT_EPILOGUE_DRELU ||
                   p->epilogue == CUBLASLT_EPILOGUE_DRELU_BGRAD;
        pp_emu_complain("%s: epilogue %u %s", call, (unsigned)p->epilogue,
                        relu ? "is not emulated (ReLU's bit mask)"
                             : "is no cublasLtEpilogue_t");
        return relu ? CUBLAS_STATUS_NOT_SUPPORTED
                    : CUBLAS_STATUS_INVALID_VALUE;
    }
    p->does = epilogues[e].does;

    /* The bias, or its gradient, has D's type. */
    int64_t bias_type = desc_get(d, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE);
    if ((p->does & (E_BIAS | E_BGRAD)) && bias_type != -1 &&
        bias_type != p->cd) {
        pp_emu_complain("%s: bias of type %lld with D of type %d: cuBLASLt "
                        "takes the bias in D's type", call,
                        (long long)bias_type, (int)p->cd);
        return CUBLAS_STATUS_NOT_SUPPORTED;
    }
    p->bias = (void *)(uintptr_t)desc_get(d, CUBLASLT_MATMUL_DESC_BIAS_POINTER);
    p->bias_length = p->does & E_BGRAD_B ? p->n : p->m;
    p->aux = (void *)(uintptr_t)desc_get(
        d, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER);
    p->aux_ld = desc_get(d, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD);
    int64_t aux_type = desc_get(d,
                                CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_DATA_TYPE);
    if ((p->does & (E_BIAS | E_BGRAD)) && !p->bias) {
        pp_emu_complain("%s: epilogue %u without a BIAS_POINTER", call,
                        (unsigned)p->epilogue);
        return CUBLAS_STATUS_INVALID_VALUE;
    }
    if (p->does & E_AUX) {
        const char *why = NULL;
        if (!p->aux)
            why = "no EPILOGUE_AUX_POINTER";
        else if (p->aux_ld < p->m || p->aux_ld % 8)
            why = "EPILOGUE_AUX_LD below D's rows or not a multiple of 8";
        else if (aux_type != -1 && aux_type != p->cd)
            why = "EPILOGUE_AUX_DATA_TYPE other than D's";
        if (why) {
            pp_emu_complain("%s: epilogue %u with %s", call,
                            (unsigned)p->epilogue, why);
            return CUBLAS_STATUS_INVALID_VALUE;
        }
    }
    return CUBLAS_STATUS_SUCCESS;
}

/* The largest power of two up to 16 that divides address p. */
static uint32_t alignment_of(const void *p)
{
    uintptr_t a = (uintptr_t)p;
    uint32_t al = 16;
    while (al > 1 && a % al)
        al /= 2;
    return al;
}

/* The algorithm for p under preference pref (NULL: the defaults). */
static struct algo choose(const struct plan *p,
                          cublasLtMatmulPreference_t pref)
{
    struct algo a = {ALGO_MAGIC, p->epilogue, (int32_t)p->compute,
                     (int32_t)p->ab, (int32_t)p->cd, p->transa, p->transb,
                     {0}};
    for (int i = AL_A; i <= AL_D; i++) {
        int64_t min =
            pref ? get_attr(&pref_kind, pref,
                            CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES + i)
                 : 256;
        a.align[i] = min < 16 ? (uint32_t)(min > 0 ? min : 1) : 16;
    }
    a.align[AL_BIAS] = p->bias ? alignment_of(p->bias) : 16;
    a.align[AL_AUX] = p->aux ? alignment_of(p->aux) : 16;
    return a;
}

cublasStatus_t cublasLtMatmulAlgoGetHeuristic(
    cublasLtHandle_t lightHandle, cublasLtMatmulDesc_t operationDesc,
    cublasLtMatrixLayout_t Adesc, cublasLtMatrixLayout_t Bdesc,
    cublasLtMatrixLayout_t Cdesc, cublasLtMatrixLayout_t Ddesc,
    cublasLtMatmulPreference_t preference, int requestedAlgoCount,
    cublasLtMatmulHeuristicResult_t heuristicResultsArray[],
    int *returnAlgoCount)
{
    static const char call[] = "cublasLtMatmulAlgoGetHeuristic";
    if (!live(lightHandle))
        return CUBLAS_STATUS_NOT_INITIALIZED;
    if (requestedAlgoCount <= 0 || !heuristicResultsArray ||
        !returnAlgoCount || !check_live(&pref_kind, preference, call))
        return CUBLAS_STATUS_INVALID_VALUE;
    *returnAlgoCount = 0;
    struct plan p;
    cublasStatus_t s = make_plan(lightHandle, call, operationDesc, Adesc,
                                 Bdesc, Cdesc, Ddesc, &p);
    if (s == CUBLAS_STATUS_SUCCESS)
        s = check_defaults(&pref_kind, preference, call);
    if (s != CUBLAS_STATUS_SUCCESS)
        return s;
    const char *no_bgrad = getenv("PIPETTE_EMU_LT_NO_BGRAD");
    if ((p.does & (E_BGRAD_A | E_BGRAD_B)) && no_bgrad &&
        strcmp(no_bgrad, "1") == 0)
        return CUBLAS_STATUS_NOT_SUPPORTED;
    struct algo a = choose(&p, preference);
    cublasLtMatmulHeuristicResult_t *r = &heuristicResultsArray[0];
    memset(r, 0, sizeof *r);
    memcpy(r->algo.data, &a, sizeof a);
    r->workspaceSize = 0;
    r->state = CUBLAS_STATUS_SUCCESS;
    r->wavesCount = 1.0f;
    *returnAlgoCount = 1;
    return CUBLAS_STATUS_SUCCESS;
}

/* ---- the matmul ------------------------------------------------------- */

#define GELU_SCALE 0.7978845608028654f /* sqrt(2/pi) */
#define GELU_CUBE 0.044715f

static float gelu(float x)
{
    float t = tanhf(GELU_SCALE * (x + GELU_CUBE * x * x * x));
    return 0.5f * x * (1.0f + t);
}

/* d/dx of gelu. */
static float gelu_grad(float x)
{
    float t = tanhf(GELU_SCALE * (x + GELU_CUBE * x * x * x));
    return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * GELU_SCALE *
                                   (1.0f + 3.0f * GELU_CUBE * x * x);
}

/* Bytes of the workspace made garbage at each call: enough to show a
 * workspace shared with live data, cheap however large it is. */
#define WORKSPACE_POISON 65536

/* A checked matmul, queued. */
struct matmul_work {
    struct plan p;
    struct pp_emu_product prod; /* op(A) op(B) */
    float al, be;
    const void *C;
    void *D;
    void *workspace;
    size_t poison;
    float *sums; /* a bias gradient's, before its rounding */
};

static void run_matmul(void *arg)
{
    struct matmul_work *w = arg;
    const struct plan *p = &w->p;
    memset(w->workspace, 0xff, w->poison);
    pp_emu_product_run(&w->prod);
    const struct pp_emu_operand *a = &w->prod.a, *b = &w->prod.b;
    if (p->does & E_BGRAD_A)
        for (int i = 0; i < p->m; i++) {
            float s = 0.0f;
            for (int q = 0; q < p->k; q++)
                s += pp_emu_op_get(a, i, q);
            w->sums[i] = s;
        }
    if (p->does & E_BGRAD_B)
        for (int j = 0; j < p->n; j++) {
            float s = 0.0f;
            for (int q = 0; q < p->k; q++)
                s += pp_emu_op_get(b, q, j);
            w->sums[j] = s;
        }
    for (int j = 0; j < p->n; j++)
        for (int i = 0; i < p->m; i++) {
            size_t ij = (size_t)i + (size_t)j * (size_t)p->m;
            size_t aux_at = (size_t)i + (size_t)j * (size_t)p->aux_ld;
            float x = w->al * w->prod.acc[ij];
            if (w->be != 0.0f)
                x = x + w->be * pp_emu_get(w->C, p->cd,
                                           (size_t)i + (size_t)j *
                                                           (size_t)p->ldc);
            if (p->does & E_BIAS)
                x = x + pp_emu_get(p->bias, p->cd, (size_t)i);
            if (p->does & E_AUX_OUT)
                pp_emu_put(p->aux, p->cd, aux_at, x);
            if (p->does & E_RELU)
                x = fmaxf(x, 0.0f);
            if (p->does & E_GELU)
                x = gelu(x);
            if (p->does & E_DGELU)
                x = x * gelu_grad(pp_emu_get(p->aux, p->cd, aux_at));
            if (p->does & E_BGRAD_D)
                w->sums[i] += x;
            pp_emu_put(w->D, p->cd, (size_t)i + (size_t)j * (size_t)p->ldd,
                       x);
        }
    if (p->does & E_BGRAD)
        for (int x = 0; x < p->bias_length; x++)
            pp_emu_put(p->bias, p->cd, (size_t)x, w->sums[x]);
    pp_emu_product_free(&w->prod);
    free(w->sums);
    free(w);
}

/* A region of memory a matmul touches. */
struct region {
    const char *what;
    const void *p;
    size_t bytes;
    uint32_t align; /* the algorithm's assumption */
    int written;
};

/* Each region reachable, aligned as the algorithm assumed, and no
 * written one overlapping another (C in place of D aside). */
static cublasStatus_t check_regions(int device, const char *call,
                                    const struct region *r, int n)
{
    cublasStatus_t s;
    for (int i = 0; i < n; i++) {
        if (r[i].bytes == 0)
            continue;
        if ((s = pp_emu_blas_span(device, call, r[i].what, r[i].p,
                                  r[i].bytes)))
            return s;
        if ((uintptr_t)r[i].p % r[i].align) {
            pp_emu_complain("%s: %s at %p is not aligned to the %u bytes "
                            "the algorithm assumes (misaligned address; "
                            "set CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_*)",
                            call, r[i].what, r[i].p, (unsigned)r[i].align);
            return CUBLAS_STATUS_EXECUTION_FAILED;
        }
    }
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) {
            const struct region *x = &r[i], *y = &r[j];
            uintptr_t xa = (uintptr_t)x->p, ya = (uintptr_t)y->p;
            if (!(x->written || y->written) || !x->bytes || !y->bytes ||
                xa >= ya + y->bytes || ya >= xa + x->bytes)
                continue;
            pp_emu_complain("%s: %s at %p overlaps %s at %p", call,
                            x->what, x->p, y->what, y->p);
            return CUBLAS_STATUS_EXECUTION_FAILED;
        }
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmul(cublasLtHandle_t lightHandle,
                              cublasLtMatmulDesc_t computeDesc,
                              const void *alpha, const void *A,
                              cublasLtMatrixLayout_t Adesc, const void *B,
                              cublasLtMatrixLayout_t Bdesc, const void *beta,
                              const void *C, cublasLtMatrixLayout_t Cdesc,
                              void *D, cublasLtMatrixLayout_t Ddesc,
                              const cublasLtMatmulAlgo_t *algo,
                              void *workspace, size_t workspaceSizeInBytes,
                              cudaStream_t stream)
{
    static const char call[] = "cublasLtMatmul";
    struct plan p;
    cublasStatus_t s = make_plan(lightHandle, call, computeDesc, Adesc,
                                 Bdesc, Cdesc, Ddesc, &p);
    if (s != CUBLAS_STATUS_SUCCESS)
        return s;
    if (!alpha || !beta)
        return CUBLAS_STATUS_INVALID_VALUE;
    float al, be;
    memcpy(&al, alpha, sizeof al);
    memcpy(&be, beta, sizeof be);

    /* No algorithm: the heuristic's, with the default preferences. */
    struct algo a = choose(&p, NULL);
    if (algo) {
        struct algo given;
        memcpy(&given, algo->data, sizeof given);
        if (given.magic != ALGO_MAGIC || given.epilogue != a.epilogue ||
            given.compute != a.compute || given.ab != a.ab ||
            given.cd != a.cd || given.transa != a.transa ||
            given.transb != a.transb) {
            pp_emu_complain("%s: the algorithm was not chosen by "
                            "cublasLtMatmulAlgoGetHeuristic for this "
                            "operation's types, transposes and epilogue",
                            call);
            return CUBLAS_STATUS_INVALID_VALUE;
        }
        a = given;
    }
    if ((p.does & (E_BGRAD_A | E_BGRAD_B)) && al != 1.0f) {
        pp_emu_complain("%s: BGRADA or BGRADB with alpha %g is not "
                        "emulated: cuBLASLt does not say whether alpha "
                        "scales the bias gradient (only alpha 1)", call,
                        (double)al);
        return CUBLAS_STATUS_NOT_SUPPORTED;
    }
    if (C == D && p.ldc != p.ldd) {
        pp_emu_complain("%s: C in place of D with leading dimension %lld, "
                        "D's is %lld", call, (long long)p.ldc,
                        (long long)p.ldd);
        return CUBLAS_STATUS_INVALID_VALUE;
    }
    if ((s = pp_emu_blas_context(lightHandle->device, stream, call)))
        return s;

    /* What is read and written; A and B are not read where alpha or k
     * is 0, unless their gradient is asked for; C not where beta is. */
    size_t ab = pp_emu_type_size(p.ab), cd = pp_emu_type_size(p.cd);
    int products = al != 0.0f && p.k > 0 && p.m > 0 && p.n > 0;
    int read_a = products || (p.does & E_BGRAD_A);
    int read_b = products || (p.does & E_BGRAD_B);
    int64_t ar = p.transa ? p.k : p.m, ac = p.transa ? p.m : p.k;
    int64_t br = p.transb ? p.n : p.k, bc = p.transb ? p.k : p.n;
    int mn = p.m > 0 && p.n > 0;
    struct region r[] = {
        {"A", A, read_a ? pp_emu_matrix_bytes(ar, ac, p.lda, ab) : 0,
         a.align[AL_A] > ab ? a.align[AL_A] : (uint32_t)ab, 0},
        {"B", B, read_b ? pp_emu_matrix_bytes(br, bc, p.ldb, ab) : 0,
         a.align[AL_B] > ab ? a.align[AL_B] : (uint32_t)ab, 0},
        {"C", C, be != 0.0f && C != D ? pp_emu_matrix_bytes(p.m, p.n, p.ldc,
                                                           cd)
                                      : 0,
         a.align[AL_C] > cd ? a.align[AL_C] : (uint32_t)cd, 0},
        {"D", D, pp_emu_matrix_bytes(p.m, p.n, p.ldd, cd),
         a.align[AL_D] > cd ? a.align[AL_D] : (uint32_t)cd, 1},
        {"the bias", p.bias,
         mn && (p.does & (E_BIAS | E_BGRAD)) ? (size_t)p.bias_length * cd
                                             : 0,
         a.align[AL_BIAS] > cd ? a.align[AL_BIAS] : (uint32_t)cd,
         (p.does & E_BGRAD) != 0},
        {"the aux matrix", p.aux,
         p.does & E_AUX ? pp_emu_matrix_bytes(p.m, p.n, p.aux_ld, cd) : 0,
         a.align[AL_AUX] > cd ? a.align[AL_AUX] : (uint32_t)cd,
         (p.does & E_AUX_OUT) != 0},
        {"the workspace", workspace, workspace ? workspaceSizeInBytes : 0, 1,
         1},
    };
    if ((s = check_regions(lightHandle->device, call, r,
                           (int)(sizeof r / sizeof *r))))
        return s;
    if (!mn)
        return CUBLAS_STATUS_SUCCESS;

    struct matmul_work *w = calloc(1, sizeof *w);
    if (!w)
        return CUBLAS_STATUS_ALLOC_FAILED;
    w->p = p;
    w->prod = (struct pp_emu_product){
        p.m, p.n, products ? p.k : 0, p.tf32 && p.ab == CUDA_R_32F,
        {A, p.ab, p.lda, p.transa}, {B, p.ab, p.ldb, p.transb},
        NULL, NULL, NULL};
    w->al = al;
    w->be = be;
    w->C = C;
    w->D = D;
    w->workspace = workspace;
    w->poison = workspace ? (workspaceSizeInBytes < WORKSPACE_POISON
                                 ? workspaceSizeInBytes
                                 : WORKSPACE_POISON)
                          : 0;
    if (p.does & E_BGRAD)
        w->sums = calloc((size_t)p.bias_length, sizeof *w->sums);
    if (pp_emu_product_alloc(&w->prod) != 0 ||
        ((p.does & E_BGRAD) && !w->sums)) {
        free(w->sums);
        free(w);
        return CUBLAS_STATUS_ALLOC_FAILED;
    }
    pp_emu_enqueue(stream, run_matmul, w, 0);
    return CUBLAS_STATUS_SUCCESS;
}
