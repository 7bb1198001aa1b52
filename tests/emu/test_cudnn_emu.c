/* tests/emu/test_cudnn_emu.c - the CUDA emulator's cuDNN graph API
 * (cudnn_graph_emu.c) on cases worked out by hand, so that attention's
 * GPU test can trust it: descriptors refused with cuDNN's statuses, a
 * graph of every kind of operation attention builds (a strided matmul, a
 * by-value scale, a causal mask from GEN_INDEX, CMP_GE and
 * BINARY_SELECT, max and sum reductions, exp, log, a bf16 virtual tensor
 * and a transposing reshape) against values computed here, the
 * heuristics' two engines and what each does, and cudnnBackendExecute's
 * refusals. Built and run by `make check` only in an
 * --enable-cuda-emulator build.
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime_api.h>
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

#define OK(call) CHECK((call) == CUDNN_STATUS_SUCCESS)
#define IS(status, call) CHECK((call) == (status))

typedef cudnnBackendDescriptor_t desc;

static desc make(cudnnBackendDescriptorType_t type)
{
    desc d = NULL;
    OK(cudnnBackendCreateDescriptor(type, &d));
    return d;
}

static cudnnStatus_t set1(desc d, cudnnBackendAttributeName_t name,
                          cudnnBackendAttributeType_t type, const void *v)
{
    return cudnnBackendSetAttribute(d, name, type, 1, v);
}

/* A finalized 4-d tensor; uid < 0 makes a virtual one. */
static desc tensor(int64_t uid, cudnnDataType_t type, const int64_t dim[4],
                   const int64_t stride[4], bool byval)
{
    desc t = make(CUDNN_BACKEND_TENSOR_DESCRIPTOR);
    bool virt = uid < 0;
    int64_t align = 16, id = virt ? -uid : uid;
    OK(set1(t, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, &type));
    OK(cudnnBackendSetAttribute(t, CUDNN_ATTR_TENSOR_DIMENSIONS,
                                CUDNN_TYPE_INT64, 4, dim));
    OK(cudnnBackendSetAttribute(t, CUDNN_ATTR_TENSOR_STRIDES,
                                CUDNN_TYPE_INT64, 4, stride));
    OK(set1(t, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, &id));
    OK(set1(t, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, &align));
    OK(set1(t, CUDNN_ATTR_TENSOR_IS_VIRTUAL, CUDNN_TYPE_BOOLEAN, &virt));
    OK(set1(t, CUDNN_ATTR_TENSOR_IS_BY_VALUE, CUDNN_TYPE_BOOLEAN, &byval));
    OK(cudnnBackendFinalize(t));
    return t;
}

static desc pointwise(cudnnPointwiseMode_t mode, cudnnDataType_t prec,
                      int64_t axis, desc x, desc b, desc t, desc y)
{
    desc pw = make(CUDNN_BACKEND_POINTWISE_DESCRIPTOR);
    OK(set1(pw, CUDNN_ATTR_POINTWISE_MODE, CUDNN_TYPE_POINTWISE_MODE, &mode));
    OK(set1(pw, CUDNN_ATTR_POINTWISE_MATH_PREC, CUDNN_TYPE_DATA_TYPE, &prec));
    if (axis >= 0)
        OK(set1(pw, CUDNN_ATTR_POINTWISE_AXIS, CUDNN_TYPE_INT64, &axis));
    OK(cudnnBackendFinalize(pw));
    desc op = make(CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR);
    const cudnnBackendAttributeType_t D = CUDNN_TYPE_BACKEND_DESCRIPTOR;
    OK(set1(op, CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR, D, &pw));
    OK(set1(op, CUDNN_ATTR_OPERATION_POINTWISE_XDESC, D, &x));
    if (b)
        OK(set1(op, CUDNN_ATTR_OPERATION_POINTWISE_BDESC, D, &b));
    if (t)
        OK(set1(op, CUDNN_ATTR_OPERATION_POINTWISE_TDESC, D, &t));
    OK(set1(op, CUDNN_ATTR_OPERATION_POINTWISE_YDESC, D, &y));
    OK(cudnnBackendFinalize(op));
    return op;
}

/* A matmul operation, finalized or (finalize 0) not. */
static desc matmul_op(desc a, desc b, desc c, int finalize)
{
    cudnnDataType_t f = CUDNN_DATA_FLOAT;
    desc mm = make(CUDNN_BACKEND_MATMUL_DESCRIPTOR);
    OK(set1(mm, CUDNN_ATTR_MATMUL_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, &f));
    OK(cudnnBackendFinalize(mm));
    desc op = make(CUDNN_BACKEND_OPERATION_MATMUL_DESCRIPTOR);
    const cudnnBackendAttributeType_t D = CUDNN_TYPE_BACKEND_DESCRIPTOR;
    OK(set1(op, CUDNN_ATTR_OPERATION_MATMUL_ADESC, D, &a));
    OK(set1(op, CUDNN_ATTR_OPERATION_MATMUL_BDESC, D, &b));
    OK(set1(op, CUDNN_ATTR_OPERATION_MATMUL_CDESC, D, &c));
    OK(set1(op, CUDNN_ATTR_OPERATION_MATMUL_DESC, D, &mm));
    if (finalize)
        OK(cudnnBackendFinalize(op));
    return op;
}

static desc reduction(cudnnReduceTensorOp_t how, desc x, desc y)
{
    cudnnDataType_t f = CUDNN_DATA_FLOAT;
    desc r = make(CUDNN_BACKEND_REDUCTION_DESCRIPTOR);
    OK(set1(r, CUDNN_ATTR_REDUCTION_OPERATOR,
            CUDNN_TYPE_REDUCTION_OPERATOR_TYPE, &how));
    OK(set1(r, CUDNN_ATTR_REDUCTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, &f));
    OK(cudnnBackendFinalize(r));
    desc op = make(CUDNN_BACKEND_OPERATION_REDUCTION_DESCRIPTOR);
    const cudnnBackendAttributeType_t D = CUDNN_TYPE_BACKEND_DESCRIPTOR;
    OK(set1(op, CUDNN_ATTR_OPERATION_REDUCTION_XDESC, D, &x));
    OK(set1(op, CUDNN_ATTR_OPERATION_REDUCTION_YDESC, D, &y));
    OK(set1(op, CUDNN_ATTR_OPERATION_REDUCTION_DESC, D, &r));
    OK(cudnnBackendFinalize(op));
    return op;
}

static desc reshape(desc x, desc y)
{
    desc op = make(CUDNN_BACKEND_OPERATION_RESHAPE_DESCRIPTOR);
    const cudnnBackendAttributeType_t D = CUDNN_TYPE_BACKEND_DESCRIPTOR;
    OK(set1(op, CUDNN_ATTR_OPERATION_RESHAPE_XDESC, D, &x));
    OK(set1(op, CUDNN_ATTR_OPERATION_RESHAPE_YDESC, D, &y));
    OK(cudnnBackendFinalize(op));
    return op;
}

static cudnnStatus_t graph_of(cudnnHandle_t h, desc *ops, int n, desc *g)
{
    *g = make(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR);
    OK(set1(*g, CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, &h));
    OK(cudnnBackendSetAttribute(*g, CUDNN_ATTR_OPERATIONGRAPH_OPS,
                                CUDNN_TYPE_BACKEND_DESCRIPTOR, n, ops));
    return cudnnBackendFinalize(*g);
}

/* The plan of heuristics result `which` of graph g. */
static desc plan_of(cudnnHandle_t h, desc g, int which)
{
    desc heur = make(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR);
    cudnnBackendHeurMode_t mode = CUDNN_HEUR_MODE_A;
    const cudnnBackendAttributeType_t D = CUDNN_TYPE_BACKEND_DESCRIPTOR;
    OK(set1(heur, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, D, &g));
    OK(set1(heur, CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, &mode));
    OK(cudnnBackendFinalize(heur));
    desc cfg[2] = {make(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR),
                   make(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR)};
    int64_t count = -1;
    OK(cudnnBackendGetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS, D, 2,
                                &count, cfg));
    CHECK(count == 2);
    desc plan = make(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR);
    OK(set1(plan, CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, &h));
    OK(set1(plan, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, D, &cfg[which]));
    OK(cudnnBackendFinalize(plan));
    cudnnBackendDestroyDescriptor(cfg[0]);
    cudnnBackendDestroyDescriptor(cfg[1]);
    cudnnBackendDestroyDescriptor(heur);
    return plan;
}

static cudnnStatus_t run(cudnnHandle_t h, desc plan, const int64_t *uids,
                         void **ptrs, int n, void *ws)
{
    desc pack = make(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR);
    OK(cudnnBackendSetAttribute(pack, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS,
                                CUDNN_TYPE_INT64, n, uids));
    OK(cudnnBackendSetAttribute(pack, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS,
                                CUDNN_TYPE_VOID_PTR, n, ptrs));
    OK(set1(pack, CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR,
            &ws));
    OK(cudnnBackendFinalize(pack));
    cudnnStatus_t st = cudnnBackendExecute(h, plan, pack);
    CHECK(cudaDeviceSynchronize() == cudaSuccess);
    cudnnBackendDestroyDescriptor(pack);
    return st;
}

static const int64_t one4[4] = {1, 1, 1, 1};

/* Descriptors refused as cuDNN refuses them. */
static void test_descriptors(void)
{
    desc t = make(CUDNN_BACKEND_TENSOR_DESCRIPTOR);
    int64_t dims[9] = {1, 2, 3, 4, 1, 1, 1, 1, 1}, id = 7, align = 16;
    int64_t strides[4] = {24, 12, 4, 1};
    cudnnDataType_t f = CUDNN_DATA_FLOAT;
    IS(CUDNN_STATUS_BAD_PARAM_ATTRIBUTE_TYPE,
       set1(t, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_INT64, &id));
    IS(CUDNN_STATUS_BAD_PARAM,
       cudnnBackendSetAttribute(t, CUDNN_ATTR_TENSOR_DIMENSIONS,
                                CUDNN_TYPE_INT64, 0, dims));
    IS(CUDNN_STATUS_BAD_PARAM,
       cudnnBackendSetAttribute(t, CUDNN_ATTR_TENSOR_DIMENSIONS,
                                CUDNN_TYPE_INT64, 9, dims));
    IS(CUDNN_STATUS_BAD_PARAM_NULL_POINTER,
       cudnnBackendSetAttribute(t, CUDNN_ATTR_TENSOR_DIMENSIONS,
                                CUDNN_TYPE_INT64, 4, NULL));
    /* Another kind's attribute; this kind's, not emulated. */
    IS(CUDNN_STATUS_BAD_PARAM,
       set1(t, CUDNN_ATTR_MATMUL_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, &f));
    IS(CUDNN_STATUS_NOT_SUPPORTED,
       set1(t, CUDNN_ATTR_TENSOR_VECTOR_COUNT, CUDNN_TYPE_INT64, &id));
    OK(set1(t, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, &f));
    OK(cudnnBackendSetAttribute(t, CUDNN_ATTR_TENSOR_DIMENSIONS,
                                CUDNN_TYPE_INT64, 4, dims));
    OK(cudnnBackendSetAttribute(t, CUDNN_ATTR_TENSOR_STRIDES,
                                CUDNN_TYPE_INT64, 3, strides));
    OK(set1(t, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, &align));
    /* No unique id, then strides of three dimensions for four. */
    IS(CUDNN_STATUS_BAD_PARAM, cudnnBackendFinalize(t));
    OK(set1(t, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, &id));
    IS(CUDNN_STATUS_BAD_PARAM, cudnnBackendFinalize(t));
    int64_t got[4] = {0}, count = 0;
    IS(CUDNN_STATUS_NOT_INITIALIZED,
       cudnnBackendGetAttribute(t, CUDNN_ATTR_TENSOR_DIMENSIONS,
                                CUDNN_TYPE_INT64, 4, &count, got));
    OK(cudnnBackendSetAttribute(t, CUDNN_ATTR_TENSOR_STRIDES,
                                CUDNN_TYPE_INT64, 4, strides));
    OK(cudnnBackendFinalize(t));
    IS(CUDNN_STATUS_NOT_INITIALIZED,
       set1(t, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, &id));
    OK(cudnnBackendGetAttribute(t, CUDNN_ATTR_TENSOR_DIMENSIONS,
                                CUDNN_TYPE_INT64, 4, &count, got));
    CHECK(count == 4 && got[1] == 2 && got[3] == 4);

    /* An operation given the wrong kind of descriptor, an unfinalized
     * one, and shapes that do not chain. */
    desc op = make(CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR);
    desc raw = make(CUDNN_BACKEND_TENSOR_DESCRIPTOR);
    IS(CUDNN_STATUS_BAD_PARAM_DESCRIPTOR_TYPE,
       set1(op, CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR,
            CUDNN_TYPE_BACKEND_DESCRIPTOR, &t));
    IS(CUDNN_STATUS_BAD_PARAM_NOT_FINALIZED,
       set1(op, CUDNN_ATTR_OPERATION_POINTWISE_XDESC,
            CUDNN_TYPE_BACKEND_DESCRIPTOR, &raw));
    int64_t d23[4] = {1, 1, 2, 3}, s23[4] = {6, 6, 3, 1};
    desc a = tensor(1, f, d23, s23, false), c = tensor(2, f, d23, s23, false);
    desc mm = matmul_op(a, a, c, 0);
    IS(CUDNN_STATUS_BAD_PARAM, cudnnBackendFinalize(mm));
    /* A by-value tensor of more than one element. */
    desc bv = make(CUDNN_BACKEND_TENSOR_DESCRIPTOR);
    bool yes = true;
    OK(set1(bv, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, &f));
    OK(cudnnBackendSetAttribute(bv, CUDNN_ATTR_TENSOR_DIMENSIONS,
                                CUDNN_TYPE_INT64, 4, d23));
    OK(cudnnBackendSetAttribute(bv, CUDNN_ATTR_TENSOR_STRIDES,
                                CUDNN_TYPE_INT64, 4, s23));
    OK(set1(bv, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, &id));
    OK(set1(bv, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, &align));
    OK(set1(bv, CUDNN_ATTR_TENSOR_IS_BY_VALUE, CUDNN_TYPE_BOOLEAN, &yes));
    IS(CUDNN_STATUS_BAD_PARAM, cudnnBackendFinalize(bv));
    desc all[] = {t, op, raw, a, c, mm, bv};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        OK(cudnnBackendDestroyDescriptor(all[i]));
}

/* Graphs refused when finalized: a virtual tensor nobody reads, one
 * tensor written twice, one id for two tensors. */
static void test_graph_checks(cudnnHandle_t h)
{
    cudnnDataType_t f = CUDNN_DATA_FLOAT;
    int64_t d[4] = {1, 1, 2, 2}, s[4] = {4, 4, 2, 1};
    desc x = tensor(1, f, d, s, false), y = tensor(2, f, d, s, false);
    desc v = tensor(-100, f, d, s, false), other = tensor(1, f, one4, one4,
                                                         false);
    desc g;
    desc dangling[] = {pointwise(CUDNN_POINTWISE_EXP, f, -1, x, NULL, NULL,
                                 v)};
    IS(CUDNN_STATUS_BAD_PARAM, graph_of(h, dangling, 1, &g));
    cudnnBackendDestroyDescriptor(g);
    desc twice[] = {pointwise(CUDNN_POINTWISE_EXP, f, -1, x, NULL, NULL, y),
                    pointwise(CUDNN_POINTWISE_LOG, f, -1, x, NULL, NULL, y)};
    IS(CUDNN_STATUS_BAD_PARAM, graph_of(h, twice, 2, &g));
    cudnnBackendDestroyDescriptor(g);
    desc ids[] = {pointwise(CUDNN_POINTWISE_ADD, f, -1, x, other, NULL, y)};
    IS(CUDNN_STATUS_BAD_PARAM, graph_of(h, ids, 1, &g));
    cudnnBackendDestroyDescriptor(g);
}

/* float bits of a bf16 rounding, for the expected values */
static float bf16(float x)
{
    uint32_t u;
    memcpy(&u, &x, 4);
    u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
    memcpy(&x, &u, 4);
    return x;
}

/* The attention pattern on 2 x 2 scores, by hand:
 *   S = 0.5 A B (A 2x3, B 3x2 held transposed), causally masked;
 *   M = max_j S, L = sum_j exp(S - M), Stats = M + log L;
 *   P = exp(S - M) / L rounded to bf16; out = P^T I (a transposing
 *   reshape, then a matmul by the identity). */
static void test_attention_pattern(cudnnHandle_t h)
{
    const cudnnDataType_t f = CUDNN_DATA_FLOAT, i32 = CUDNN_DATA_INT32,
                          b8 = CUDNN_DATA_BOOLEAN, bf = CUDNN_DATA_BFLOAT16;
    int64_t da[4] = {1, 1, 2, 3}, sa[4] = {6, 6, 3, 1};
    int64_t db[4] = {1, 1, 3, 2}, sb[4] = {6, 6, 1, 3}; /* B^T stored */
    int64_t ds[4] = {1, 1, 2, 2}, ss[4] = {4, 4, 2, 1}, st[4] = {4, 4, 1, 2};
    int64_t dr[4] = {1, 1, 2, 1}, sr[4] = {2, 2, 1, 1};
    desc A = tensor(1, f, da, sa, false), B = tensor(2, f, db, sb, false);
    desc I = tensor(3, f, ds, ss, false), OUT = tensor(4, f, ds, ss, false);
    desc MX = tensor(5, f, dr, sr, false), STATS = tensor(6, f, dr, sr, false);
    desc SCALE = tensor(7, f, one4, one4, true);
    desc NEG = tensor(8, f, one4, one4, true);
    desc s0 = tensor(-100, f, ds, ss, false), s1 = tensor(-101, f, ds, ss,
                                                          false);
    desc row = tensor(-102, i32, ds, ss, false);
    desc col = tensor(-103, i32, ds, ss, false);
    desc keep = tensor(-104, b8, ds, ss, false);
    desc s2 = tensor(-105, f, ds, ss, false), s3 = tensor(-106, f, ds, ss,
                                                          false);
    desc e = tensor(-107, f, ds, ss, false), l = tensor(-108, f, dr, sr,
                                                        false);
    desc logl = tensor(-109, f, dr, sr, false);
    desc p = tensor(-110, bf, ds, ss, false), pt = tensor(-111, bf, ds, st,
                                                          false);
    desc ops[] = {
        matmul_op(A, B, s0, 1),
        pointwise(CUDNN_POINTWISE_MUL, f, -1, s0, SCALE, NULL, s1),
        pointwise(CUDNN_POINTWISE_GEN_INDEX, f, 2, s1, NULL, NULL, row),
        pointwise(CUDNN_POINTWISE_GEN_INDEX, f, 3, s1, NULL, NULL, col),
        pointwise(CUDNN_POINTWISE_CMP_GE, b8, -1, row, col, NULL, keep),
        pointwise(CUDNN_POINTWISE_BINARY_SELECT, f, -1, s1, NEG, keep, s2),
        reduction(CUDNN_REDUCE_TENSOR_MAX, s2, MX),
        pointwise(CUDNN_POINTWISE_SUB, f, -1, s2, MX, NULL, s3),
        pointwise(CUDNN_POINTWISE_EXP, f, -1, s3, NULL, NULL, e),
        reduction(CUDNN_REDUCE_TENSOR_ADD, e, l),
        pointwise(CUDNN_POINTWISE_LOG, f, -1, l, NULL, NULL, logl),
        pointwise(CUDNN_POINTWISE_ADD, f, -1, MX, logl, NULL, STATS),
        pointwise(CUDNN_POINTWISE_DIV, f, -1, e, l, NULL, p),
        reshape(p, pt),
        matmul_op(pt, I, OUT, 1),
    };
    desc g;
    /* Given in reverse: the emulator orders them. */
    int n = (int)(sizeof ops / sizeof *ops);
    desc rev[sizeof ops / sizeof *ops];
    for (int i = 0; i < n; i++)
        rev[i] = ops[n - 1 - i];
    OK(graph_of(h, rev, n, &g));
    /* The heuristics: engine 0 noted nondeterministic, no workspace;
     * engine 1 deterministic, 4096 bytes (the default). */
    desc heur = make(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR);
    cudnnBackendHeurMode_t mode = CUDNN_HEUR_MODE_INSTANT;
    const cudnnBackendAttributeType_t D = CUDNN_TYPE_BACKEND_DESCRIPTOR;
    OK(set1(heur, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, D, &g));
    OK(set1(heur, CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, &mode));
    OK(cudnnBackendFinalize(heur));
    int64_t count = -1;
    OK(cudnnBackendGetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS, D, 0,
                                &count, NULL));
    CHECK(count == 2);
    for (int i = 0; i < 2; i++) {
        desc cfg = make(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR);
        desc cfgs[2] = {cfg, make(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR)};
        OK(cudnnBackendGetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS, D,
                                    2, &count, cfgs));
        desc engine = make(CUDNN_BACKEND_ENGINE_DESCRIPTOR);
        int64_t k, ws = -1;
        OK(cudnnBackendGetAttribute(cfgs[i], CUDNN_ATTR_ENGINECFG_ENGINE, D,
                                    1, &k, &engine));
        cudnnBackendNumericalNote_t notes[CUDNN_NUMERICAL_NOTE_TYPE_COUNT];
        OK(cudnnBackendGetAttribute(engine, CUDNN_ATTR_ENGINE_NUMERICAL_NOTE,
                                    CUDNN_TYPE_NUMERICAL_NOTE,
                                    CUDNN_NUMERICAL_NOTE_TYPE_COUNT, &k,
                                    notes));
        CHECK(i == 0 ? k == 1 && notes[0] ==
                               CUDNN_NUMERICAL_NOTE_NONDETERMINISTIC
                     : k == 0);
        OK(cudnnBackendGetAttribute(cfgs[i],
                                    CUDNN_ATTR_ENGINECFG_WORKSPACE_SIZE,
                                    CUDNN_TYPE_INT64, 1, &k, &ws));
        CHECK(ws == (i == 0 ? 0 : 4096));
        cudnnBackendDestroyDescriptor(engine);
        cudnnBackendDestroyDescriptor(cfgs[0]);
        cudnnBackendDestroyDescriptor(cfgs[1]);
    }
    cudnnBackendDestroyDescriptor(heur);

    desc plan = plan_of(h, g, 1);
    int64_t ws_bytes = 0, k;
    OK(cudnnBackendGetAttribute(plan,
                                CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE,
                                CUDNN_TYPE_INT64, 1, &k, &ws_bytes));
    CHECK(ws_bytes == 4096);
    const float a[6] = {1, 2, 3, 4, 5, 6};
    const float bt[6] = {1, 0, 1, 0, 1, 1}; /* B^T: B = [1 0; 0 1; 1 1] */
    const float ident[4] = {1, 0, 0, 1};
    float *dev[4];
    const float *host[4] = {a, bt, ident, NULL};
    size_t sizes[4] = {6, 6, 4, 4};
    for (int i = 0; i < 4; i++) {
        CHECK(cudaMalloc((void **)&dev[i], sizes[i] * 4) == cudaSuccess);
        if (host[i])
            CHECK(cudaMemcpy(dev[i], host[i], sizes[i] * 4,
                             cudaMemcpyHostToDevice) == cudaSuccess);
    }
    float *mx, *stats;
    void *ws;
    CHECK(cudaMalloc((void **)&mx, 8) == cudaSuccess);
    CHECK(cudaMalloc((void **)&stats, 8) == cudaSuccess);
    CHECK(cudaMalloc(&ws, 4096) == cudaSuccess);
    float scale = 0.5f, neg = -INFINITY;
    int64_t uids[] = {1, 2, 3, 4, 5, 6, 7, 8};
    void *ptrs[] = {dev[0], dev[1], dev[2], dev[3], mx, stats, &scale, &neg};
    OK(run(h, plan, uids, ptrs, 8, ws));
    float out[4], m[2], lse[2];
    CHECK(cudaMemcpy(out, dev[3], 16, cudaMemcpyDeviceToHost) ==
          cudaSuccess);
    CHECK(cudaMemcpy(m, mx, 8, cudaMemcpyDeviceToHost) == cudaSuccess);
    CHECK(cudaMemcpy(lse, stats, 8, cudaMemcpyDeviceToHost) == cudaSuccess);
    /* S = [2 -inf; 5 5.5] */
    CHECK(m[0] == 2.0f && m[1] == 5.5f);
    CHECK(lse[0] == 2.0f);
    CHECK(fabsf(lse[1] - (5.5f + logf(1.0f + expf(-0.5f)))) < 1e-6f);
    float l1 = 1.0f + expf(-0.5f);
    CHECK(out[0] == 1.0f && out[2] == 0.0f); /* P[0][0], P[0][1] */
    CHECK(out[1] == bf16(expf(-0.5f) / l1)); /* P[1][0] */
    CHECK(out[3] == bf16(1.0f / l1));        /* P[1][1] */

    /* Execute's refusals: an id missing, an id the graph lacks, a
     * misaligned pointer, host memory, an output over an input, no
     * workspace. */
    int64_t extra[] = {1, 2, 3, 4, 5, 6, 7, 8, 99};
    void *extra_ptrs[] = {dev[0], dev[1], dev[2], dev[3], mx, stats, &scale,
                          &neg, mx};
    IS(CUDNN_STATUS_BAD_PARAM, run(h, plan, uids, ptrs, 7, ws));
    IS(CUDNN_STATUS_BAD_PARAM, run(h, plan, extra, extra_ptrs, 9, ws));
    void *save = ptrs[0];
    ptrs[0] = (char *)dev[0] + 4;
    IS(CUDNN_STATUS_BAD_PARAM_MISALIGNED_POINTER,
       run(h, plan, uids, ptrs, 8, ws));
    static float host_a[8] __attribute__((aligned(16)));
    ptrs[0] = host_a;
    IS(CUDNN_STATUS_EXECUTION_FAILED, run(h, plan, uids, ptrs, 8, ws));
    ptrs[0] = save;
    ptrs[3] = dev[2]; /* OUT over I */
    IS(CUDNN_STATUS_EXECUTION_FAILED, run(h, plan, uids, ptrs, 8, ws));
    ptrs[3] = dev[3];
    IS(CUDNN_STATUS_BAD_PARAM_NULL_POINTER,
       run(h, plan, uids, ptrs, 8, NULL));
    for (int i = 0; i < 4; i++)
        cudaFree(dev[i]);
    cudaFree(mx), cudaFree(stats), cudaFree(ws);
    cudnnBackendDestroyDescriptor(plan);
    cudnnBackendDestroyDescriptor(g);
}

/* Engine 0 sums in another order each run; engine 1 never. */
static void test_engines(cudnnHandle_t h)
{
    const cudnnDataType_t f = CUDNN_DATA_FLOAT;
    enum { K = 64 };
    int64_t da[4] = {1, 1, 1, K}, sa[4] = {K, K, K, 1};
    int64_t db[4] = {1, 1, K, 1}, sb[4] = {K, K, 1, 1};
    desc A = tensor(1, f, da, sa, false), B = tensor(2, f, db, sb, false);
    desc C = tensor(3, f, one4, one4, false);
    desc ops[] = {matmul_op(A, B, C, 1)};
    desc g;
    OK(graph_of(h, ops, 1, &g));
    float a[K], b[K];
    for (int i = 0; i < K; i++) {
        a[i] = (float)(i % 7) * 0.1f + 1e-3f * (float)i;
        b[i] = i % 2 ? 1.0f : -1.0f / 3.0f;
    }
    float *d[3];
    void *ws;
    CHECK(cudaMalloc((void **)&d[0], sizeof a) == cudaSuccess);
    CHECK(cudaMalloc((void **)&d[1], sizeof b) == cudaSuccess);
    CHECK(cudaMalloc((void **)&d[2], 4) == cudaSuccess);
    CHECK(cudaMalloc(&ws, 4096) == cudaSuccess);
    CHECK(cudaMemcpy(d[0], a, sizeof a, cudaMemcpyHostToDevice) ==
          cudaSuccess);
    CHECK(cudaMemcpy(d[1], b, sizeof b, cudaMemcpyHostToDevice) ==
          cudaSuccess);
    int64_t uids[] = {1, 2, 3};
    void *ptrs[] = {d[0], d[1], d[2]};
    for (int e = 0; e < 2; e++) {
        desc plan = plan_of(h, g, e);
        uint32_t first = 0, bits;
        int differ = 0;
        for (int r = 0; r < 8; r++) {
            OK(run(h, plan, uids, ptrs, 3, ws));
            CHECK(cudaMemcpy(&bits, d[2], 4, cudaMemcpyDeviceToHost) ==
                  cudaSuccess);
            if (r == 0)
                first = bits;
            differ |= bits != first;
        }
        CHECK(differ == (e == 0));
        cudnnBackendDestroyDescriptor(plan);
    }
    cudaFree(d[0]), cudaFree(d[1]), cudaFree(d[2]), cudaFree(ws);
    cudnnBackendDestroyDescriptor(g);
}

int main(void)
{
    cudnnHandle_t h;
    cudaStream_t s;
    if (cudaStreamCreate(&s) != cudaSuccess ||
        cudnnCreate(&h) != CUDNN_STATUS_SUCCESS ||
        cudnnSetStream(h, s) != CUDNN_STATUS_SUCCESS) {
        fprintf(stderr, "test_cudnn_emu: no emulated GPU\n");
        return EXIT_FAILURE;
    }
    test_descriptors();
    test_graph_checks(h);
    test_attention_pattern(h);
    test_engines(h);
    cudnnDestroy(h);
    cudaStreamDestroy(s);
    if (failures)
        fprintf(stderr, "test_cudnn_emu: %d checks failed\n", failures);
    return failures ? EXIT_FAILURE : EXIT_SUCCESS;
}
