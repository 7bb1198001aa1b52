/* layers/linear.cu - linear's device half: cuBLASLt on the rank's stream.
 *
 * Each kernel is one cublasLtMatmul, D = alpha op(A) op(B) + beta C with
 * an epilogue, queued on the stream; nothing waits, nothing is allocated.
 *
 * Row-major meets column-major. cuBLASLt reads a row-major (r, k) matrix,
 * leading dimension k, as the column-major (k, r) matrix: its transpose.
 * So each product is computed transposed, D^T = B^T A^T, on the buffers
 * as they are (op(A) is m x k, op(B) k x n, C and D m x n):
 *
 *   forward          y^T (out, rows) = W (out, in) x^T (in, rows) + b
 *                    A = W seen as W^T (in, out): op T; B = x seen as
 *                    x^T: op N; D = y seen as y^T; the BIAS epilogue
 *                    adds b (out) to every column, after the sum.
 *   backward_input   dx^T (in, rows) += W^T (in, out) dy^T (out, rows)
 *                    A = W seen as W^T: op N; B = dy seen as dy^T: op N;
 *                    C = D = dx, beta = 1 (the input's gradient adds).
 *   backward_weight  dW^T (in, out) += x^T (in, rows) dy (rows, out)
 *                    A = x seen as x^T: op N; B = dy seen as dy^T: op T;
 *                    C = D = dW seen as dW^T, beta = 1; the BGRADB
 *                    epilogue sums op(B)'s columns over k (the rows):
 *                    db (out), the bias gradient.
 *
 * Precisions. fp32: FP32 storage, CUBLAS_COMPUTE_32F_PEDANTIC, plain FP32
 * arithmetic whatever cuBLAS may be told elsewhere (TF32, BF16x9
 * emulation). tf32: FP32 storage, CUBLAS_COMPUTE_32F_FAST_TF32, the
 * inputs rounded to TF32 on tensor cores, FP32 sums. bf16: x, y, dy, dx
 * and the bf16 copies of W and b (c->param_bf16) in bf16, dW and db in
 * FP32, CUBLAS_COMPUTE_32F: FP32 sums, and one rounding of each output
 * (y = round(x W^T + b), dx = round(dx + dy W)), as linear.c's CPU half
 * rounds. The bias has D's type, as cuBLASLt wants: the bf16 copy in
 * bf16, FP32 otherwise; its gradient is FP32 in all three.
 *
 * activation = gelu (linear.c). The forward is one matmul with the
 * GELU_AUX_BIAS epilogue (GELU_AUX without a bias): y = gelu(pre), pre
 * written to the aux matrix, which is the call's `saved` ((out, rows)
 * column-major, leading dimension out, D's type). cuBLASLt takes an aux
 * leading dimension divisible by 8 only, and may have no such kernel
 * for the types or alignments: then the BIAS matmul writes pre into
 * saved and a kernel of ours y = gelu(pre) (gelu.h), one read and one
 * write of the activation more. The two differ in bf16: the epilogue
 * takes gelu of the FP32 pre, ours (and the CPU's) of pre rounded to
 * bf16, as the chain linear + gelu does. The forward also clears the
 * mark after pre (linear.h), a memset on the stream. Backward: dpre = 0
 * + dy gelu'(pre), by a kernel of ours over pre in saved, in place,
 * which does nothing where the mark says the micro-batch's other
 * backward did it already (linear.c); then the plain layer's GEMMs on
 * saved as dpre, BGRADB summing db from it. The kernel reads the mark on
 * the device: nothing waits for the host. cuBLASLt's DGELU and
 * DGELU_BGRAD epilogues do not serve here: they apply gelu'(aux) to a
 * GEMM's result, and the only GEMM whose result is dy is the next
 * layer's backward_input (dy = dz V), which writes the core's gradient
 * buffer with += and knows nothing of this layer (llm.c, which owns the
 * whole model, fuses across that boundary).
 *
 * The bias gradient. BGRADB writes db (=), and pipette's gradients add
 * (+=, over micro-batches): the epilogue writes into a scratch vector of
 * the state and a small kernel adds it to c->grad[1]. Where cuBLASLt has
 * no BGRADB kernel for the types (its heuristic finds none), the weight
 * GEMM runs without the epilogue and that kernel sums dy's rows itself.
 *
 * State (init, destroy). A cuBLASLt handle; the workspace (LT_WORKSPACE)
 * and the bias gradient's scratch, allocated once; the matmul
 * descriptors; and per GEMM a few plans, each the layouts and the
 * heuristic's algorithm for one number of rows and one alignment of the
 * pointers, made by the first call that needs it (a training run needs
 * one or two per GEMM; gradcheck and the tests call with more) and kept.
 * A pointer's alignment is the largest power of two up to 16 bytes that
 * divides its address; the heuristic is told it
 * (CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_*, and the bias pointer the
 * descriptor holds), as parameters sit at offsets inside one allocation
 * per stage and a kernel that assumed more would fault. Every layer has
 * its own handle and workspace: the ABI keeps no state per rank. 4 MiB,
 * as Apex's fused dense layers use and cuBLAS suggests before Hopper (32
 * MiB from Hopper on), keeps a model of many layers small; bare cuBLASLt
 * in bench/linear_gpu gets cuBLAS's suggestion, so a GEMM that would run
 * faster with more shows there. */

#include <config.h>

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cublasLt.h>

#include <pipette/cuda.h>

#include "gelu.h"
#include "linear.h"
#include "packed.h"

#define LT_WORKSPACE ((size_t)4 << 20) /* bytes, a layer's */

/* The three GEMMs; DW_PLAIN is DW without BGRADB, FWD_GELU the forward
 * with the GELU epilogue (FWD's plans may use it). */
enum { FWD, DX, DW, DW_PLAIN, FWD_GELU, NDESC };
#define NGEMM 3

/* Plans kept per GEMM, replaced in turn. */
#define PLANS 4

/* The pointers a plan's alignment is of: A, B, C (which is D), the
 * bias, the aux matrix (gelu's pre: D of the forward where the epilogue
 * has no kernel, so C's alignment is the lesser of the two there). */
enum { AL_A, AL_B, AL_C, AL_BIAS, AL_AUX, NAL };

/* One GEMM as the heuristic chose it for one shape and alignment. */
typedef struct lt_plan {
    int64_t rows; /* 0: unused */
    uint32_t align[NAL];
    int desc; /* the descriptor it was chosen with */
    cublasLtMatrixLayoutOpaque_t a, b, c;
    cublasLtMatmulAlgo_t algo;
} lt_plan;

typedef struct lt_state {
    cublasLtHandle_t lt;
    int device;      /* current at init: where the memory below is */
    void *workspace; /* LT_WORKSPACE bytes */
    float *db;       /* (out): BGRADB's bias gradient, with a bias */
    cudaDataType ab; /* A's and B's type: x, W, dy */
    cublasLtMatmulDescOpaque_t desc[NDESC];
    cublasLtMatmulPreferenceOpaque_t pref;
    lt_plan plan[NGEMM][PLANS];
    int next[NGEMM]; /* the slot the next new plan takes */
} lt_state;

/* The micro-batch's matrix sizes, or an error where they exceed the
 * 32-bit sizes cuBLASLt's kernels take. */
static pp_status cuda_dims(const pp_layer_call *c, linear_dims *d,
                           pp_error *err)
{
    *d = linear_dims_of(c);
    if (d->rows > INT_MAX || d->in > INT_MAX)
        return pp_error_set(err, PP_ERR_RUNTIME,
                            "linear: a micro-batch of %lld rows of %lld "
                            "features exceeds cuBLASLt's 32-bit sizes; "
                            "use smaller micro-batches",
                            (long long)d->rows, (long long)d->in);
    if (!c->state)
        return pp_error_set(err, PP_ERR_RUNTIME,
                            "linear's CUDA half was called without its "
                            "state: its init did not run");
    return PP_OK;
}

static pp_status desc_set(cublasLtMatmulDesc_t desc,
                          cublasLtMatmulDescAttributes_t attr,
                          const void *value, size_t size, pp_error *err)
{
    return PP_CUBLASLT_CHECK(
        cublasLtMatmulDescSetAttribute(desc, attr, value, size), err);
}

/* A matmul descriptor: FP32 scale, host alpha and beta, the transposes,
 * and an epilogue with its bias of type bias_type (at bias, or set at
 * each call where bias is NULL). */
static pp_status desc_init(cublasLtMatmulDesc_t desc,
                           cublasComputeType_t compute,
                           cublasOperation_t op_a, cublasOperation_t op_b,
                           cublasLtEpilogue_t epilogue,
                           cudaDataType bias_type, const void *bias,
                           pp_error *err)
{
    if (PP_CUBLASLT_CHECK(cublasLtMatmulDescInit(desc, compute, CUDA_R_32F),
                          err) ||
        desc_set(desc, CUBLASLT_MATMUL_DESC_TRANSA, &op_a, sizeof op_a,
                 err) ||
        desc_set(desc, CUBLASLT_MATMUL_DESC_TRANSB, &op_b, sizeof op_b,
                 err) ||
        desc_set(desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue,
                 sizeof epilogue, err))
        return err->code;
    if (epilogue == CUBLASLT_EPILOGUE_DEFAULT)
        return PP_OK;
    if (desc_set(desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bias_type,
                 sizeof bias_type, err) ||
        (bias && desc_set(desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias,
                          sizeof bias, err)))
        return err->code;
    return PP_OK;
}

static void cuda_destroy(void *state)
{
    lt_state *s = (lt_state *)state;
    if (!s)
        return;
    int current = -1;
    (void)cudaGetDevice(&current);
    if (cudaSetDevice(s->device) == cudaSuccess) {
        cudaFree(s->workspace);
        cudaFree(s->db);
    }
    if (s->lt)
        cublasLtDestroy(s->lt);
    if (current >= 0)
        (void)cudaSetDevice(current);
    (void)cudaGetLastError();
    free(s);
}

static pp_status cuda_init(const pp_layer_call *c, void **state,
                           pp_error *err)
{
    *state = NULL;
    lt_state *s = (lt_state *)calloc(1, sizeof *s);
    if (!s)
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    linear_dims d = linear_dims_of(c);
    int bias = c->plan->nparams > 1;
    int bf16 = c->precision == PP_PRECISION_BF16;
    cublasComputeType_t compute =
        bf16 ? CUBLAS_COMPUTE_32F
        : c->precision == PP_PRECISION_TF32 ? CUBLAS_COMPUTE_32F_FAST_TF32
                                             : CUBLAS_COMPUTE_32F_PEDANTIC;
    s->ab = bf16 ? CUDA_R_16BF : CUDA_R_32F;
    uint64_t ws = LT_WORKSPACE;
    const cublasOperation_t n = CUBLAS_OP_N, t = CUBLAS_OP_T;
    const cublasLtEpilogue_t none = CUBLASLT_EPILOGUE_DEFAULT;
    pp_status st = PP_CUDA_CHECK(cudaGetDevice(&s->device), err);
    if (!st)
        st = PP_CUBLASLT_CHECK(cublasLtCreate(&s->lt), err);
    if (!st)
        st = PP_CUDA_CHECK(cudaMalloc(&s->workspace, LT_WORKSPACE),
                           err);
    if (!st && bias)
        st = PP_CUDA_CHECK(cudaMalloc((void **)&s->db,
                                      (size_t)d.out * sizeof(float)),
                           err);
    if (!st)
        st = desc_init(&s->desc[FWD], compute, t, n,
                       bias ? CUBLASLT_EPILOGUE_BIAS : none, s->ab, NULL,
                       err);
    if (!st && linear_args_of(c)->gelu) {
        int64_t ld = d.out; /* aux (out, rows), as y */
        st = desc_init(&s->desc[FWD_GELU], compute, t, n,
                       bias ? CUBLASLT_EPILOGUE_GELU_AUX_BIAS
                            : CUBLASLT_EPILOGUE_GELU_AUX,
                       s->ab, NULL, err);
        if (!st)
            st = desc_set(&s->desc[FWD_GELU],
                          CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD, &ld,
                          sizeof ld, err);
    }
    if (!st)
        st = desc_init(&s->desc[DX], compute, n, n, none, s->ab, NULL, err);
    if (!st)
        st = desc_init(&s->desc[DW], compute, n, t,
                       bias ? CUBLASLT_EPILOGUE_BGRADB : none, CUDA_R_32F,
                       s->db, err);
    if (!st)
        st = desc_init(&s->desc[DW_PLAIN], compute, n, t, none, CUDA_R_32F,
                       NULL, err);
    if (!st)
        st = PP_CUBLASLT_CHECK(cublasLtMatmulPreferenceInit(&s->pref), err);
    if (!st)
        st = PP_CUBLASLT_CHECK(
            cublasLtMatmulPreferenceSetAttribute(
                &s->pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws,
                sizeof ws),
            err);
    if (st) {
        cuda_destroy(s);
        return st;
    }
    *state = s;
    return PP_OK;
}

/* The largest power of two up to 16 that divides p's address. */
static uint32_t alignment(const void *p)
{
    uintptr_t a = (uintptr_t)p;
    uint32_t al = 16;
    while (al > 1 && a % al)
        al /= 2;
    return al;
}

/* The heuristic's best algorithm for plan p under descriptor desc, or
 * *found 0 where it has none. */
static pp_status heuristic(lt_state *s, int desc, lt_plan *p, int *found,
                           pp_error *err)
{
    static const cublasLtMatmulPreferenceAttributes_t at[] = {
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES,
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES,
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES};
    for (int i = 0; i < 4; i++) {
        uint32_t al = p->align[i < AL_C ? i : AL_C];
        if (PP_CUBLASLT_CHECK(cublasLtMatmulPreferenceSetAttribute(
                                  &s->pref, at[i], &al, sizeof al),
                              err))
            return err->code;
    }
    cublasLtMatmulHeuristicResult_t r;
    int got = 0;
    cublasStatus_t rc = cublasLtMatmulAlgoGetHeuristic(
        s->lt, &s->desc[desc], &p->a, &p->b, &p->c, &p->c, &s->pref, 1, &r,
        &got);
    *found = rc == CUBLAS_STATUS_SUCCESS && got > 0;
    if (*found)
        p->algo = r.algo;
    if (rc == CUBLAS_STATUS_NOT_SUPPORTED)
        return PP_OK;
    return PP_CUBLASLT_CHECK(rc, err);
}

/* The plan for GEMM g of this call, whose pointers have alignments al:
 * kept, or made now. */
static pp_status plan_of(const pp_layer_call *c, lt_state *s, int g,
                         const linear_dims *d, const uint32_t al[NAL],
                         lt_plan **out, pp_error *err)
{
    for (int i = 0; i < PLANS; i++) {
        lt_plan *p = &s->plan[g][i];
        if (p->rows == d->rows && !memcmp(p->align, al, sizeof p->align)) {
            *out = p;
            return PP_OK;
        }
    }
    lt_plan *p = &s->plan[g][s->next[g]];
    s->next[g] = (s->next[g] + 1) % PLANS;
    memset(p, 0, sizeof *p);
    /* Column-major (rows, cols) of A, B and C, leading dimension rows. */
    const uint64_t r = (uint64_t)d->rows, in = (uint64_t)d->in,
                   o = (uint64_t)d->out;
    const uint64_t shape[NGEMM][3][2] = {
        {{in, o}, {in, r}, {o, r}}, /* FWD: W^T, x^T, y^T */
        {{in, o}, {o, r}, {in, r}}, /* DX: W^T, dy^T, dx^T */
        {{in, r}, {o, r}, {in, o}}, /* DW: x^T, dy^T, dW^T */
    };
    cudaDataType cd = g == DW ? CUDA_R_32F : s->ab;
    cublasLtMatrixLayout_t lay[3] = {&p->a, &p->b, &p->c};
    for (int m = 0; m < 3; m++)
        if (PP_CUBLASLT_CHECK(
                cublasLtMatrixLayoutInit(lay[m], m < 2 ? s->ab : cd,
                                         shape[g][m][0], shape[g][m][1],
                                         (int64_t)shape[g][m][0]),
                err))
            return err->code;
    memcpy(p->align, al, sizeof p->align);
    int found = 0;
    p->desc = g;
    /* gelu: the epilogue where cuBLASLt takes the aux matrix and has a
     * kernel; the BIAS matmul into saved otherwise. */
    if (g == FWD && linear_args_of(c)->gelu && d->out % 8 == 0)
        p->desc = FWD_GELU;
    if (heuristic(s, p->desc, p, &found, err))
        return err->code;
    if (!found && p->desc == FWD_GELU) {
        p->desc = FWD;
        if (heuristic(s, p->desc, p, &found, err))
            return err->code;
    }
    if (!found && g == DW && s->db) {
        p->desc = DW_PLAIN; /* no BGRADB kernel: db by our own */
        if (heuristic(s, p->desc, p, &found, err))
            return err->code;
    }
    if (!found) {
        static const char *const name[NGEMM] = {"forward", "backward_input",
                                                "backward_weight"};
        return pp_error_set(err, PP_ERR_DEVICE,
                            "linear: cuBLASLt has no algorithm for the %s "
                            "GEMM of %lld rows, %lld -> %lld features in "
                            "%s (pointers aligned to %u, %u, %u bytes, "
                            "the bias %u, gelu's pre %u)",
                            name[g], (long long)d->rows, (long long)d->in,
                            (long long)d->out,
                            pp_precision_name(c->precision), al[AL_A],
                            al[AL_B], al[AL_C], al[AL_BIAS], al[AL_AUX]);
    }
    p->rows = d->rows;
    *out = p;
    return PP_OK;
}

/* GEMM g: D = op(A) op(B) + beta D, with its epilogue's bias at bias
 * (NULL: none, or the state's scratch), by its plan. The forward of a
 * gelu layer takes aux, its saved pre: the GELU epilogue writes it, or
 * where the plan has none the matmul writes pre there instead of dst.
 * *plan says which descriptor it ran with. */
static pp_status gemm(const pp_layer_call *c, int g, const void *a,
                      const void *b, float beta, void *dst,
                      const void *bias, void *aux, const lt_plan **plan,
                      pp_error *err)
{
    lt_state *s = (lt_state *)c->state;
    linear_dims d;
    if (cuda_dims(c, &d, err))
        return err->code;
    uint32_t al[NAL] = {alignment(a), alignment(b), alignment(dst),
                        alignment(g == FWD ? bias : s->db),
                        aux ? alignment(aux) : 16};
    if (al[AL_AUX] < al[AL_C])
        al[AL_C] = al[AL_AUX];
    /* The heuristic reads the bias and aux pointers too, for their
     * alignment. */
    const cublasLtMatmulDescAttributes_t bias_at =
        CUBLASLT_MATMUL_DESC_BIAS_POINTER,
        aux_at = CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER;
    if (g == FWD && bias &&
        desc_set(&s->desc[FWD], bias_at, &bias, sizeof bias, err))
        return err->code;
    if (aux && ((bias && desc_set(&s->desc[FWD_GELU], bias_at, &bias,
                                  sizeof bias, err)) ||
                desc_set(&s->desc[FWD_GELU], aux_at, &aux, sizeof aux, err)))
        return err->code;
    lt_plan *p;
    if (plan_of(c, s, g, &d, al, &p, err))
        return err->code;
    const float one = 1.0f;
    *plan = p;
    if (aux && p->desc == FWD)
        dst = aux;
    return PP_CUBLASLT_CHECK(
        cublasLtMatmul(s->lt, &s->desc[p->desc], &one, a, &p->a, b, &p->b,
                       &beta, dst, &p->c, dst, &p->c, &p->algo,
                       s->workspace, LT_WORKSPACE,
                       pp_cuda_stream(c)),
        err);
}

/* db (cols) += the sums of src's columns, src (rows, cols) of T, in FP32:
 * BGRADB's gradient (one row), or dy where BGRADB did not run. A block
 * takes 32 columns; each of its 8 warps sums every 8th row, and warp 0
 * adds the 8 sums in order: the same bits every run. */
#define SUM_WARPS (PP_CUDA_THREADS / 32)

template <typename T>
__global__ static void add_column_sums(float *db, const T *src,
                                       int64_t rows, int64_t cols)
{
    __shared__ float part[SUM_WARPS][32];
    int lane = (int)threadIdx.x % 32, warp = (int)threadIdx.x / 32;
    for (int64_t j0 = (int64_t)blockIdx.x * 32; j0 < cols;
         j0 += (int64_t)gridDim.x * 32) {
        int64_t j = j0 + lane;
        float sum = 0.0f;
        for (int64_t r = warp; j < cols && r < rows; r += SUM_WARPS)
            sum += elem_load(&src[r * cols + j]);
        part[warp][lane] = sum;
        __syncthreads();
        if (warp == 0 && j < cols) {
            float total = 0.0f;
            for (int w = 0; w < SUM_WARPS; w++)
                total += part[w][lane];
            db[j] += total;
        }
        __syncthreads();
    }
}

template <typename T>
static pp_status add_sums(const pp_layer_call *c, float *db, const void *src,
                          int64_t rows, int64_t cols, pp_error *err)
{
    auto kernel = add_column_sums<T>;
    kernel<<<pp_cuda_grid(cols, 32), PP_CUDA_THREADS, 0, pp_cuda_stream(c)>>>(
        db, (const T *)src, rows, cols);
    return PP_CUDA_CHECK(cudaGetLastError(), err);
}

/* W and b as the GEMMs read them: the bf16 copies in bf16. */
static const void *param_of(const pp_layer_call *c, int i)
{
    if (i >= c->plan->nparams)
        return NULL;
    return c->precision == PP_PRECISION_BF16 ? c->param_bf16[i]
                                             : (const void *)c->param[i];
}

/* y (n) = gelu(pre), where the forward's matmul had no GELU epilogue */
template <typename T>
__global__ static void gelu_forward(T *y, const T *pre, int64_t n)
{
    grid_runs<T>(n, aligned16(y) && aligned16(pre), [&](int64_t i, int k) {
        float v[PACK(T)];
        run_load(v, pre + i, k);
        for (int j = 0; j < k; j++)
            v[j] = gelu_value(v[j]);
        run_store(y + i, v, k);
    });
}

/* pre (n) = 0 + dy gelu'(pre), in place, as linear.c makes it, unless
 * the mark says dpre already. Each block reads the mark before it
 * touches its share and counts itself in after; the last to count sets
 * the mark and zeroes the count. So no block of a launch sees the mark
 * that launch sets (every block has read it by then), and the next
 * launch on the micro-batch sees it set. */
template <typename T>
__global__ static void gelu_dpre(T *pre, const T *dy, int64_t n,
                                 linear_mark *mark)
{
    __shared__ uint32_t done;
    if (threadIdx.x == 0)
        done = *(volatile uint32_t *)&mark->dpre;
    __syncthreads();
    if (done)
        return;
    bool packs = aligned16(pre) && aligned16(dy);
    grid_runs<T>(n, packs, [&](int64_t i, int k) {
        float g[PACK(T)], v[PACK(T)];
        run_load(g, dy + i, k);
        run_load(v, pre + i, k);
        for (int j = 0; j < k; j++)
            g[j] = 0.0f + gelu_grad(g[j], v[j]);
        run_store(pre + i, g, k);
    });
    __syncthreads();
    if (threadIdx.x == 0) {
        __threadfence();
        if (atomicAdd(&mark->blocks, 1u) == gridDim.x - 1) {
            mark->blocks = 0;
            mark->dpre = 1;
        }
    }
}

template <typename T>
static pp_status launch_gelu(const pp_layer_call *c, void *y,
                             const void *pre, int64_t n, pp_error *err)
{
    auto kernel = gelu_forward<T>;
    if (n > 0)
        PP_CUDA_LAUNCH(kernel, grid_runs_blocks<T>(n), PP_CUDA_THREADS, 0,
                       pp_cuda_stream(c))((T *)y, (const T *)pre, n);
    return PP_CUDA_CHECK(cudaGetLastError(), err);
}

template <typename T>
static pp_status launch_dpre(const pp_layer_call *c, const void *dy,
                             int64_t n, pp_error *err)
{
    auto kernel = gelu_dpre<T>;
    if (n > 0)
        PP_CUDA_LAUNCH(kernel, grid_runs_blocks<T>(n), PP_CUDA_THREADS, 0,
                       pp_cuda_stream(c))((T *)c->saved, (const T *)dy, n,
                                          linear_mark_of(c));
    return PP_CUDA_CHECK(cudaGetLastError(), err);
}

/* The gradient the GEMMs see in *g: dy, or with gelu dpre in saved,
 * made there now unless it is already. */
static pp_status grad_out(const pp_layer_call *c, const void *dy,
                          const void **g, pp_error *err)
{
    *g = dy;
    if (!linear_args_of(c)->gelu)
        return PP_OK;
    *g = c->saved;
    linear_dims d = linear_dims_of(c);
    return BY_DTYPE(c, launch_dpre, c, dy, d.rows * d.out, err);
}

static pp_status cuda_forward(const pp_layer_call *c, const void *const *x,
                              void *y, pp_error *err)
{
    const lt_plan *p;
    int gelu = linear_args_of(c)->gelu;
    if (gemm(c, FWD, param_of(c, 0), x[0], 0.0f, y, param_of(c, 1),
             gelu ? c->saved : NULL, &p, err))
        return err->code;
    if (gelu && PP_CUDA_CHECK(cudaMemsetAsync(linear_mark_of(c), 0,
                                              sizeof(linear_mark),
                                              pp_cuda_stream(c)),
                              err))
        return err->code;
    if (!gelu || p->desc == FWD_GELU)
        return PP_OK;
    linear_dims d = linear_dims_of(c);
    return BY_DTYPE(c, launch_gelu, c, y, c->saved, d.rows * d.out, err);
}

static pp_status cuda_backward_input(const pp_layer_call *c,
                                     const void *const *x, const void *y,
                                     const void *dy, void *const *dx,
                                     pp_error *err)
{
    (void)x, (void)y;
    const lt_plan *p;
    const void *g;
    if (grad_out(c, dy, &g, err))
        return err->code;
    return gemm(c, DX, param_of(c, 0), g, 1.0f, dx[0], NULL, NULL, &p, err);
}

static pp_status cuda_backward_weight(const pp_layer_call *c,
                                      const void *const *x, const void *y,
                                      const void *dy, pp_error *err)
{
    (void)y;
    const lt_plan *p;
    const void *g;
    if (grad_out(c, dy, &g, err) ||
        gemm(c, DW, x[0], g, 1.0f, c->grad[0], NULL, NULL, &p, err))
        return err->code;
    if (c->plan->nparams < 2)
        return PP_OK;
    linear_dims d = linear_dims_of(c);
    if (p->desc == DW)
        return add_sums<float>(c, c->grad[1], ((lt_state *)c->state)->db,
                               1, d.out, err);
    return BY_DTYPE(c, add_sums, c, c->grad[1], g, d.rows, d.out, err);
}

extern "C" const pp_layer_kernels linear_cuda = {
    .forward = cuda_forward, .backward_input = cuda_backward_input,
    .backward_weight = cuda_backward_weight, .init = cuda_init,
    .destroy = cuda_destroy};
