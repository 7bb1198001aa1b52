/* tests/emu/cudnn_graph_emu.c - cuDNN's graph (backend) API on the CPU, as
 * far as pipette calls it: descriptors made, set, finalized and read
 * back (cudnnBackendCreateDescriptor ... cudnnBackendGetAttribute),
 * engine heuristics, engine configs, execution plans and variant packs,
 * and cudnnBackendExecute, which runs the operation graph on the host.
 *
 * It is an interpreter, not a pattern matcher: an operation graph of
 * tensors, pointwise (below), matmul, reduction (ADD, MAX, MIN) and
 * reshape operations is checked when finalized (each virtual tensor
 * made by exactly one operation and read by one at least, no cycle, one
 * descriptor per unique id, shapes that chain or broadcast) and executed
 * operation by operation in dependency order:
 *   pointwise   ADD SUB MUL DIV MAX MIN EXP LOG NEG ABS SQRT RECIPROCAL
 *               IDENTITY, CMP_EQ NEQ GT GE LT LE, LOGICAL_AND OR NOT,
 *               GEN_INDEX (y = the index along AXIS) and BINARY_SELECT
 *               (y = t ? x : b); inputs broadcast where a dimension is 1
 *   matmul      C = A B over the last two dimensions, batch dimensions of
 *               A and B equal to C's or 1; each element a sum in float
 *   reduction   Y keeps X's dimensions where it is not 1
 *   reshape     Y reads X's elements at the offsets Y's strides give, the
 *               way cuDNN's attention graphs transpose with it: X's own
 *               strides for a tensor in memory, X stored densely
 *               (row-major) for a virtual one
 * Values are floats; each result is rounded to its tensor's type as it
 * is stored (FLOAT, BFLOAT16, INT32 or BOOLEAN; virtual tensors too, so a
 * virtual BFLOAT16 operand of a matmul is rounded as a tensor-core GEMM
 * reads it). Virtual tensors are dense whatever their strides say: the
 * strides cuDNN's frontend gives some of them overlap, so the library
 * cannot be reading them. libm's expf and logf stand in for the GPU's.
 *
 * Engines. The heuristics answer two configurations for any graph the
 * interpreter takes: the first an engine noted
 * CUDNN_NUMERICAL_NOTE_NONDETERMINISTIC whose matmuls really do sum in
 * a random order on each execution (as atomics would), the second a
 * deterministic engine needing PIPETTE_EMU_DNN_WORKSPACE bytes of
 * workspace (default 4096; read when heuristics are finalized), which
 * is overwritten with 0xff bytes at each execution. A caller that ignores
 * the note sees results change between runs. A graph with a matmul of
 * bf16 operands has no engine below compute capability 8.0 (no bf16
 * tensor cores), and none has an engine where PIPETTE_EMU_DNN_NO_ENGINE=1
 * (read likewise), so that a caller's way round either gets tested.
 *
 * Statuses, where cuDNN's documentation names one: setting a finalized
 * descriptor NOT_INITIALIZED, reading an unfinalized one
 * NOT_INITIALIZED, an attribute of another type
 * BAD_PARAM_ATTRIBUTE_TYPE, a count out of range or an attribute of
 * another kind of descriptor (by cuDNN's numbering of them) BAD_PARAM,
 * a descriptor of the wrong kind
 * BAD_PARAM_DESCRIPTOR_TYPE, an unfinalized one where a finalized one is
 * needed BAD_PARAM_NOT_FINALIZED, a missing required attribute or an
 * inconsistent graph BAD_PARAM at Finalize, a misaligned pointer
 * BAD_PARAM_MISALIGNED_POINTER. What a real cuDNN has but the emulator
 * does not (other descriptors, attributes, operations, types) is
 * NOT_SUPPORTED with a line on stderr saying so. Where a GPU would fault
 * (memory that is not the device's, outputs overlapping another
 * tensor's elements) Execute says EXECUTION_FAILED with a line on stderr.
 * A variant pack must hold exactly the graph's non-virtual tensors:
 * stricter than cuDNN, which may ignore an extra id.
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime_api.h>
#include <cudnn.h>

#include "blas_emu.h"
#include "cuda_emu.h"
#include "cudnn_emu.h"

#define DESC_MAGIC 0x43444244u /* "CDBD" */
#define MAX_DIMS 8
#define MAX_ELEMS 64 /* elements of an attribute: a graph's operations */
#define MAX_TENSORS 128
#define ENGINES 2 /* 0: noted nondeterministic, 1: deterministic */

/* ---- attribute tables --------------------------------------------------- */

enum { REQ = 1, GET = 2 }; /* required at Finalize; read only */

/* An attribute a kind of descriptor takes: its type, how many elements,
 * and for descriptors the kind they must be (-1: any operation). */
struct spec {
    int desc, attr, type, lo, hi, sub, flags;
};

#define OP_ANY (-1)
static const struct spec specs[] = {
    {CUDNN_BACKEND_TENSOR_DESCRIPTOR, CUDNN_ATTR_TENSOR_DATA_TYPE,
     CUDNN_TYPE_DATA_TYPE, 1, 1, 0, REQ},
    {CUDNN_BACKEND_TENSOR_DESCRIPTOR, CUDNN_ATTR_TENSOR_DIMENSIONS,
     CUDNN_TYPE_INT64, 1, MAX_DIMS, 0, REQ},
    {CUDNN_BACKEND_TENSOR_DESCRIPTOR, CUDNN_ATTR_TENSOR_STRIDES,
     CUDNN_TYPE_INT64, 1, MAX_DIMS, 0, REQ},
    {CUDNN_BACKEND_TENSOR_DESCRIPTOR, CUDNN_ATTR_TENSOR_UNIQUE_ID,
     CUDNN_TYPE_INT64, 1, 1, 0, REQ},
    {CUDNN_BACKEND_TENSOR_DESCRIPTOR, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT,
     CUDNN_TYPE_INT64, 1, 1, 0, REQ},
    {CUDNN_BACKEND_TENSOR_DESCRIPTOR, CUDNN_ATTR_TENSOR_IS_VIRTUAL,
     CUDNN_TYPE_BOOLEAN, 1, 1, 0, 0},
    {CUDNN_BACKEND_TENSOR_DESCRIPTOR, CUDNN_ATTR_TENSOR_IS_BY_VALUE,
     CUDNN_TYPE_BOOLEAN, 1, 1, 0, 0},
    {CUDNN_BACKEND_POINTWISE_DESCRIPTOR, CUDNN_ATTR_POINTWISE_MODE,
     CUDNN_TYPE_POINTWISE_MODE, 1, 1, 0, REQ},
    {CUDNN_BACKEND_POINTWISE_DESCRIPTOR, CUDNN_ATTR_POINTWISE_MATH_PREC,
     CUDNN_TYPE_DATA_TYPE, 1, 1, 0, REQ},
    {CUDNN_BACKEND_POINTWISE_DESCRIPTOR, CUDNN_ATTR_POINTWISE_AXIS,
     CUDNN_TYPE_INT64, 1, 1, 0, 0},
    {CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR,
     CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR,
     CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, 1,
     CUDNN_BACKEND_POINTWISE_DESCRIPTOR, REQ},
    {CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR,
     CUDNN_ATTR_OPERATION_POINTWISE_XDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1,
     1, CUDNN_BACKEND_TENSOR_DESCRIPTOR, REQ},
    {CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR,
     CUDNN_ATTR_OPERATION_POINTWISE_BDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1,
     1, CUDNN_BACKEND_TENSOR_DESCRIPTOR, 0},
    {CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR,
     CUDNN_ATTR_OPERATION_POINTWISE_TDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1,
     1, CUDNN_BACKEND_TENSOR_DESCRIPTOR, 0},
    {CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR,
     CUDNN_ATTR_OPERATION_POINTWISE_YDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1,
     1, CUDNN_BACKEND_TENSOR_DESCRIPTOR, REQ},
    {CUDNN_BACKEND_MATMUL_DESCRIPTOR, CUDNN_ATTR_MATMUL_COMP_TYPE,
     CUDNN_TYPE_DATA_TYPE, 1, 1, 0, REQ},
    {CUDNN_BACKEND_OPERATION_MATMUL_DESCRIPTOR,
     CUDNN_ATTR_OPERATION_MATMUL_ADESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, 1,
     CUDNN_BACKEND_TENSOR_DESCRIPTOR, REQ},
    {CUDNN_BACKEND_OPERATION_MATMUL_DESCRIPTOR,
     CUDNN_ATTR_OPERATION_MATMUL_BDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, 1,
     CUDNN_BACKEND_TENSOR_DESCRIPTOR, REQ},
    {CUDNN_BACKEND_OPERATION_MATMUL_DESCRIPTOR,
     CUDNN_ATTR_OPERATION_MATMUL_CDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, 1,
     CUDNN_BACKEND_TENSOR_DESCRIPTOR, REQ},
    {CUDNN_BACKEND_OPERATION_MATMUL_DESCRIPTOR,
     CUDNN_ATTR_OPERATION_MATMUL_DESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, 1,
     CUDNN_BACKEND_MATMUL_DESCRIPTOR, REQ},
    {CUDNN_BACKEND_REDUCTION_DESCRIPTOR, CUDNN_ATTR_REDUCTION_OPERATOR,
     CUDNN_TYPE_REDUCTION_OPERATOR_TYPE, 1, 1, 0, REQ},
    {CUDNN_BACKEND_REDUCTION_DESCRIPTOR, CUDNN_ATTR_REDUCTION_COMP_TYPE,
     CUDNN_TYPE_DATA_TYPE, 1, 1, 0, REQ},
    {CUDNN_BACKEND_OPERATION_REDUCTION_DESCRIPTOR,
     CUDNN_ATTR_OPERATION_REDUCTION_XDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1,
     1, CUDNN_BACKEND_TENSOR_DESCRIPTOR, REQ},
    {CUDNN_BACKEND_OPERATION_REDUCTION_DESCRIPTOR,
     CUDNN_ATTR_OPERATION_REDUCTION_YDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1,
     1, CUDNN_BACKEND_TENSOR_DESCRIPTOR, REQ},
    {CUDNN_BACKEND_OPERATION_REDUCTION_DESCRIPTOR,
     CUDNN_ATTR_OPERATION_REDUCTION_DESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1,
     1, CUDNN_BACKEND_REDUCTION_DESCRIPTOR, REQ},
    {CUDNN_BACKEND_OPERATION_RESHAPE_DESCRIPTOR,
     CUDNN_ATTR_OPERATION_RESHAPE_XDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, 1,
     CUDNN_BACKEND_TENSOR_DESCRIPTOR, REQ},
    {CUDNN_BACKEND_OPERATION_RESHAPE_DESCRIPTOR,
     CUDNN_ATTR_OPERATION_RESHAPE_YDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, 1,
     CUDNN_BACKEND_TENSOR_DESCRIPTOR, REQ},
    {CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR,
     CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, 1, 0, 0},
    {CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR, CUDNN_ATTR_OPERATIONGRAPH_OPS,
     CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, MAX_ELEMS, OP_ANY, REQ},
    {CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR,
     CUDNN_ATTR_OPERATIONGRAPH_ENGINE_GLOBAL_COUNT, CUDNN_TYPE_INT64, 1, 1, 0,
     GET},
    {CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR,
     CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1,
     1, CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR, REQ},
    {CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR, CUDNN_ATTR_ENGINEHEUR_MODE,
     CUDNN_TYPE_HEUR_MODE, 1, 1, 0, REQ},
    {CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR, CUDNN_ATTR_ENGINEHEUR_RESULTS,
     CUDNN_TYPE_BACKEND_DESCRIPTOR, 0, MAX_ELEMS,
     CUDNN_BACKEND_ENGINECFG_DESCRIPTOR, GET},
    {CUDNN_BACKEND_ENGINE_DESCRIPTOR, CUDNN_ATTR_ENGINE_OPERATION_GRAPH,
     CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, 1,
     CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR, REQ},
    {CUDNN_BACKEND_ENGINE_DESCRIPTOR, CUDNN_ATTR_ENGINE_GLOBAL_INDEX,
     CUDNN_TYPE_INT64, 1, 1, 0, REQ},
    {CUDNN_BACKEND_ENGINE_DESCRIPTOR, CUDNN_ATTR_ENGINE_NUMERICAL_NOTE,
     CUDNN_TYPE_NUMERICAL_NOTE, 0, CUDNN_NUMERICAL_NOTE_TYPE_COUNT, 0, GET},
    {CUDNN_BACKEND_ENGINE_DESCRIPTOR, CUDNN_ATTR_ENGINE_BEHAVIOR_NOTE,
     CUDNN_TYPE_BEHAVIOR_NOTE, 0, CUDNN_BEHAVIOR_NOTE_TYPE_COUNT, 0, GET},
    {CUDNN_BACKEND_ENGINECFG_DESCRIPTOR, CUDNN_ATTR_ENGINECFG_ENGINE,
     CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, 1, CUDNN_BACKEND_ENGINE_DESCRIPTOR,
     REQ},
    {CUDNN_BACKEND_ENGINECFG_DESCRIPTOR, CUDNN_ATTR_ENGINECFG_WORKSPACE_SIZE,
     CUDNN_TYPE_INT64, 1, 1, 0, GET},
    {CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR,
     CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1, 1, 0, 0},
    {CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR,
     CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, CUDNN_TYPE_BACKEND_DESCRIPTOR,
     1, 1, CUDNN_BACKEND_ENGINECFG_DESCRIPTOR, REQ},
    {CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR,
     CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, CUDNN_TYPE_INT64, 1, 1, 0,
     GET},
    {CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR,
     CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, 0, MAX_ELEMS, 0,
     REQ},
    {CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR,
     CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, 0,
     MAX_ELEMS, 0, REQ},
    {CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR, CUDNN_ATTR_VARIANT_PACK_WORKSPACE,
     CUDNN_TYPE_VOID_PTR, 1, 1, 0, 0},
};
#define NSPECS ((int)(sizeof specs / sizeof *specs))

static int is_operation(int type)
{
    return type == CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR ||
           type == CUDNN_BACKEND_OPERATION_MATMUL_DESCRIPTOR ||
           type == CUDNN_BACKEND_OPERATION_REDUCTION_DESCRIPTOR ||
           type == CUDNN_BACKEND_OPERATION_RESHAPE_DESCRIPTOR;
}

/* The attribute names of each kind of descriptor lie in a range of
 * cuDNN's numbering: outside it an attribute is not the kind's (a
 * BAD_PARAM), inside it but not in the table one not emulated. */
static const struct {
    int desc, lo, hi;
} ranges[] = {
    {CUDNN_BACKEND_POINTWISE_DESCRIPTOR, 0, 99},
    {CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR, 200, 299},
    {CUDNN_BACKEND_ENGINECFG_DESCRIPTOR, 300, 399},
    {CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR, 400, 499},
    {CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR, 750, 769},
    {CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR, 800, 899},
    {CUDNN_BACKEND_TENSOR_DESCRIPTOR, 900, 999},
    {CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR, 1000, 1099},
    {CUDNN_BACKEND_ENGINE_DESCRIPTOR, 1300, 1399},
    {CUDNN_BACKEND_MATMUL_DESCRIPTOR, 1500, 1519},
    {CUDNN_BACKEND_OPERATION_MATMUL_DESCRIPTOR, 1520, 1599},
    {CUDNN_BACKEND_REDUCTION_DESCRIPTOR, 1600, 1609},
    {CUDNN_BACKEND_OPERATION_REDUCTION_DESCRIPTOR, 1610, 1619},
    {CUDNN_BACKEND_OPERATION_RESHAPE_DESCRIPTOR, 2200, 2249},
};

static int in_range(int type, int attr)
{
    for (size_t i = 0; i < sizeof ranges / sizeof *ranges; i++)
        if (ranges[i].desc == type)
            return attr >= ranges[i].lo && attr <= ranges[i].hi;
    return 0;
}

/* The kinds the emulator makes: those the table names. */
static int emulated_kind(int type)
{
    for (int i = 0; i < NSPECS; i++)
        if (specs[i].desc == type)
            return 1;
    return 0;
}

static size_t type_size(int type)
{
    switch (type) {
    case CUDNN_TYPE_BOOLEAN:
        return sizeof(bool);
    case CUDNN_TYPE_INT64:
    case CUDNN_TYPE_DOUBLE:
        return 8;
    case CUDNN_TYPE_HANDLE:
    case CUDNN_TYPE_VOID_PTR:
    case CUDNN_TYPE_BACKEND_DESCRIPTOR:
        return sizeof(void *);
    default: /* enums, FLOAT, INT32 */
        return 4;
    }
}

/* ---- what finalized descriptors hold ------------------------------------ */

struct tensor {
    int dtype, nd;
    int64_t dim[MAX_DIMS], stride[MAX_DIMS];
    int64_t uid, align;
    bool virt, byval;
};

enum { OP_PW, OP_MM, OP_RED, OP_RESHAPE };

/* An operation with copies of its tensors: in[0] x or a, in[1] b, in[2]
 * t; out y or c. */
struct op {
    int kind, mode, prec, nin;
    int64_t axis;
    struct tensor in[3], out;
};

/* A finalized operation graph, shared by what was made from it. */
struct graph {
    int refs;
    int device; /* the handle's, or current at Finalize */
    int nops;
    struct op op[MAX_ELEMS];       /* in dependency order */
    int ntensors;
    struct tensor t[MAX_TENSORS];  /* each unique id once */
};

struct val {
    int attr, type;
    int64_t count;
    unsigned char *bytes;
    struct val *next;
};

struct desc {
    uint32_t magic;
    int type, finalized;
    struct val *vals;
    /* finalized: */
    struct tensor tensor;
    int mode, prec;
    int64_t axis;
    int has_axis;
    struct op op;
    struct graph *graph; /* opgraph, heur, engine, cfg, plan */
    int engine;          /* engine, cfg, plan: its global index */
    int nresults;        /* heur: engines that take the graph */
    int64_t workspace;   /* cfg, plan: bytes */
    int64_t engine_ws;   /* heur: the deterministic engine's workspace */
    cudnnHandle_t handle;
    int npack;           /* variant pack */
    int64_t uid[MAX_ELEMS];
    void *ptr[MAX_ELEMS];
    void *ws;
};

static void graph_release(struct graph *g)
{
    if (g && --g->refs == 0)
        free(g);
}

static struct graph *graph_retain(struct graph *g)
{
    if (g)
        g->refs++;
    return g;
}

static int live(const struct desc *d)
{
    return d && d->magic == DESC_MAGIC;
}

static const struct spec *spec_of(int type, int attr)
{
    for (int i = 0; i < NSPECS; i++)
        if (specs[i].desc == type && specs[i].attr == attr)
            return &specs[i];
    return NULL;
}

static const struct val *find(const struct desc *d, int attr)
{
    for (const struct val *v = d->vals; v; v = v->next)
        if (v->attr == attr)
            return v;
    return NULL;
}

static int64_t get_i64(const struct desc *d, int attr, int64_t dflt)
{
    const struct val *v = find(d, attr);
    if (!v || v->count < 1)
        return dflt;
    switch (v->type) {
    case CUDNN_TYPE_INT64: {
        int64_t x;
        memcpy(&x, v->bytes, 8);
        return x;
    }
    case CUDNN_TYPE_BOOLEAN: {
        bool b;
        memcpy(&b, v->bytes, sizeof b);
        return b;
    }
    default: {
        int32_t x;
        memcpy(&x, v->bytes, 4);
        return x;
    }
    }
}

static void *get_ptr(const struct desc *d, int attr, int64_t i)
{
    const struct val *v = find(d, attr);
    void *p = NULL;
    if (v && i < v->count)
        memcpy(&p, v->bytes + i * (int64_t)sizeof p, sizeof p);
    return p;
}

/* ---- create, destroy, set ----------------------------------------------- */

cudnnStatus_t cudnnBackendCreateDescriptor(
    cudnnBackendDescriptorType_t descriptorType,
    cudnnBackendDescriptor_t *descriptor)
{
    if (!descriptor)
        return CUDNN_STATUS_BAD_PARAM_NULL_POINTER;
    if (!emulated_kind(descriptorType)) {
        pp_emu_complain("cudnnBackendCreateDescriptor: descriptor type %d "
                        "is not emulated", (int)descriptorType);
        return CUDNN_STATUS_NOT_SUPPORTED;
    }
    struct desc *d = calloc(1, sizeof *d);
    if (!d)
        return CUDNN_STATUS_ALLOC_FAILED;
    d->magic = DESC_MAGIC;
    d->type = descriptorType;
    *descriptor = d;
    return CUDNN_STATUS_SUCCESS;
}

static void clear_vals(struct desc *d)
{
    while (d->vals) {
        struct val *v = d->vals;
        d->vals = v->next;
        free(v->bytes);
        free(v);
    }
}

cudnnStatus_t cudnnBackendDestroyDescriptor(
    cudnnBackendDescriptor_t descriptor)
{
    struct desc *d = descriptor;
    if (!d)
        return CUDNN_STATUS_SUCCESS;
    if (!live(d)) {
        pp_emu_complain("cudnnBackendDestroyDescriptor: %p is not a live "
                        "descriptor", descriptor);
        return CUDNN_STATUS_BAD_PARAM;
    }
    clear_vals(d);
    graph_release(d->graph);
    d->magic = 0;
    free(d);
    return CUDNN_STATUS_SUCCESS;
}

/* Whether descriptor element e may be given as a `sub` (spec). */
static cudnnStatus_t check_desc_elem(const struct desc *e, int sub,
                                     const char *call)
{
    if (!live(e)) {
        pp_emu_complain("%s: %p is not a live descriptor", call,
                        (const void *)e);
        return CUDNN_STATUS_BAD_PARAM;
    }
    if (sub == OP_ANY ? !is_operation(e->type) : e->type != sub)
        return CUDNN_STATUS_BAD_PARAM_DESCRIPTOR_TYPE;
    return CUDNN_STATUS_SUCCESS;
}

/* An attribute the table lacks: another kind's, or not emulated. */
static cudnnStatus_t no_such(const struct desc *d, int attr,
                             const char *call)
{
    if (!in_range(d->type, attr))
        return CUDNN_STATUS_BAD_PARAM;
    pp_emu_complain("%s: attribute %d of descriptor type %d is not "
                    "emulated", call, attr, d->type);
    return CUDNN_STATUS_NOT_SUPPORTED;
}

cudnnStatus_t cudnnBackendSetAttribute(cudnnBackendDescriptor_t descriptor,
                                       cudnnBackendAttributeName_t name,
                                       cudnnBackendAttributeType_t type,
                                       int64_t elementCount,
                                       const void *arrayOfElements)
{
    static const char call[] = "cudnnBackendSetAttribute";
    struct desc *d = descriptor;
    if (!live(d)) {
        pp_emu_complain("%s: %p is not a live descriptor", call, descriptor);
        return CUDNN_STATUS_BAD_PARAM;
    }
    if (d->finalized)
        return CUDNN_STATUS_NOT_INITIALIZED;
    const struct spec *s = spec_of(d->type, name);
    if (!s)
        return no_such(d, name, call);
    if (s->flags & GET)
        return CUDNN_STATUS_BAD_PARAM;
    if ((int)type != s->type)
        return CUDNN_STATUS_BAD_PARAM_ATTRIBUTE_TYPE;
    if (elementCount < s->lo || elementCount > s->hi)
        return CUDNN_STATUS_BAD_PARAM;
    if (elementCount > 0 && !arrayOfElements)
        return CUDNN_STATUS_BAD_PARAM_NULL_POINTER;
    if (type == CUDNN_TYPE_BACKEND_DESCRIPTOR)
        for (int64_t i = 0; i < elementCount; i++) {
            const struct desc *e = ((const struct desc *const *)
                                        arrayOfElements)[i];
            cudnnStatus_t st = check_desc_elem(e, s->sub, call);
            if (st != CUDNN_STATUS_SUCCESS)
                return st;
            if (!e->finalized)
                return CUDNN_STATUS_BAD_PARAM_NOT_FINALIZED;
        }
    size_t bytes = (size_t)elementCount * type_size(type);
    struct val *v = calloc(1, sizeof *v);
    if (!v || !(v->bytes = malloc(bytes ? bytes : 1))) {
        free(v);
        return CUDNN_STATUS_ALLOC_FAILED;
    }
    memcpy(v->bytes, arrayOfElements ? arrayOfElements : "", bytes);
    v->attr = name;
    v->type = type;
    v->count = elementCount;
    /* Setting again replaces. */
    for (struct val **p = &d->vals; *p; p = &(*p)->next)
        if ((*p)->attr == (int)name) {
            struct val *old = *p;
            *p = old->next;
            free(old->bytes);
            free(old);
            break;
        }
    v->next = d->vals;
    d->vals = v;
    return CUDNN_STATUS_SUCCESS;
}

/* ---- finalize ----------------------------------------------------------- */

static int64_t numel(const struct tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->nd; i++)
        n *= t->dim[i];
    return n;
}

static int same_tensor(const struct tensor *a, const struct tensor *b)
{
    if (a->dtype != b->dtype || a->nd != b->nd || a->virt != b->virt ||
        a->byval != b->byval || a->align != b->align)
        return 0;
    for (int i = 0; i < a->nd; i++)
        if (a->dim[i] != b->dim[i] || a->stride[i] != b->stride[i])
            return 0;
    return 1;
}

static cudnnStatus_t bad(const char *what, const char *why)
{
    pp_emu_complain("cudnnBackendFinalize: %s %s", what, why);
    return CUDNN_STATUS_BAD_PARAM;
}

static cudnnStatus_t finalize_tensor(struct desc *d)
{
    struct tensor *t = &d->tensor;
    const struct val *dims = find(d, CUDNN_ATTR_TENSOR_DIMENSIONS);
    const struct val *strides = find(d, CUDNN_ATTR_TENSOR_STRIDES);
    if (dims->count != strides->count)
        return bad("tensor", "has not as many strides as dimensions");
    t->dtype = (int)get_i64(d, CUDNN_ATTR_TENSOR_DATA_TYPE, -1);
    t->nd = (int)dims->count;
    memcpy(t->dim, dims->bytes, (size_t)t->nd * 8);
    memcpy(t->stride, strides->bytes, (size_t)t->nd * 8);
    t->uid = get_i64(d, CUDNN_ATTR_TENSOR_UNIQUE_ID, 0);
    t->align = get_i64(d, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, 0);
    t->virt = get_i64(d, CUDNN_ATTR_TENSOR_IS_VIRTUAL, 0) != 0;
    t->byval = get_i64(d, CUDNN_ATTR_TENSOR_IS_BY_VALUE, 0) != 0;
    for (int i = 0; i < t->nd; i++)
        if (t->dim[i] < 1 || t->stride[i] < 1)
            return bad("tensor", "has a dimension or stride below 1");
    if (t->align < 1 || (t->align & (t->align - 1)))
        return bad("tensor", "has a byte alignment that is no power of 2");
    if (t->virt && t->byval)
        return bad("tensor", "is both virtual and by value");
    if (t->byval && numel(t) != 1)
        return bad("tensor", "by value holds more than one element");
    return CUDNN_STATUS_SUCCESS;
}

/* The types the interpreter stores. */
static int emulated_dtype(int t)
{
    return t == CUDNN_DATA_FLOAT || t == CUDNN_DATA_BFLOAT16 ||
           t == CUDNN_DATA_INT32 || t == CUDNN_DATA_BOOLEAN;
}

static int unary(int mode)
{
    switch (mode) {
    case CUDNN_POINTWISE_EXP:
    case CUDNN_POINTWISE_LOG:
    case CUDNN_POINTWISE_NEG:
    case CUDNN_POINTWISE_ABS:
    case CUDNN_POINTWISE_SQRT:
    case CUDNN_POINTWISE_RECIPROCAL:
    case CUDNN_POINTWISE_IDENTITY:
    case CUDNN_POINTWISE_LOGICAL_NOT:
    case CUDNN_POINTWISE_GEN_INDEX:
        return 1;
    default:
        return 0;
    }
}

static int emulated_mode(int mode)
{
    switch (mode) {
    case CUDNN_POINTWISE_ADD:
    case CUDNN_POINTWISE_SUB:
    case CUDNN_POINTWISE_MUL:
    case CUDNN_POINTWISE_DIV:
    case CUDNN_POINTWISE_MAX:
    case CUDNN_POINTWISE_MIN:
    case CUDNN_POINTWISE_CMP_EQ:
    case CUDNN_POINTWISE_CMP_NEQ:
    case CUDNN_POINTWISE_CMP_GT:
    case CUDNN_POINTWISE_CMP_GE:
    case CUDNN_POINTWISE_CMP_LT:
    case CUDNN_POINTWISE_CMP_LE:
    case CUDNN_POINTWISE_LOGICAL_AND:
    case CUDNN_POINTWISE_LOGICAL_OR:
    case CUDNN_POINTWISE_BINARY_SELECT:
        return 1;
    default:
        return unary(mode);
    }
}

/* x broadcasts to y: as many dimensions, each equal or 1. */
static int broadcasts(const struct tensor *x, const struct tensor *y)
{
    if (x->nd != y->nd)
        return 0;
    for (int i = 0; i < x->nd; i++)
        if (x->dim[i] != y->dim[i] && x->dim[i] != 1)
            return 0;
    return 1;
}

static const struct desc *elem(const struct desc *d, int attr)
{
    return get_ptr(d, attr, 0);
}

static cudnnStatus_t finalize_pointwise_op(struct desc *d)
{
    const struct desc *pw =
        elem(d, CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR);
    const struct desc *b = elem(d, CUDNN_ATTR_OPERATION_POINTWISE_BDESC);
    const struct desc *t = elem(d, CUDNN_ATTR_OPERATION_POINTWISE_TDESC);
    struct op *o = &d->op;
    o->kind = OP_PW;
    o->mode = pw->mode;
    o->prec = pw->prec;
    o->axis = pw->axis;
    o->in[0] = elem(d, CUDNN_ATTR_OPERATION_POINTWISE_XDESC)->tensor;
    o->out = elem(d, CUDNN_ATTR_OPERATION_POINTWISE_YDESC)->tensor;
    o->nin = 1;
    int binary = !unary(o->mode);
    int sel = o->mode == CUDNN_POINTWISE_BINARY_SELECT;
    if (binary != (b != NULL) || sel != (t != NULL))
        return bad("pointwise operation", "has inputs its mode does not");
    if (b)
        o->in[o->nin++] = b->tensor;
    if (t)
        o->in[o->nin++] = t->tensor;
    if (o->mode == CUDNN_POINTWISE_GEN_INDEX) {
        if (!pw->has_axis || o->axis < 0 || o->axis >= o->out.nd)
            return bad("GEN_INDEX", "has no axis of its output");
        if (!broadcasts(&o->out, &o->in[0]) ||
            !broadcasts(&o->in[0], &o->out))
            return bad("GEN_INDEX", "output is not shaped as its input");
    }
    for (int i = 0; i < o->nin; i++)
        if (!broadcasts(&o->in[i], &o->out))
            return bad("pointwise operation",
                       "has an input that does not broadcast to its output");
    return CUDNN_STATUS_SUCCESS;
}

static cudnnStatus_t finalize_matmul_op(struct desc *d)
{
    struct op *o = &d->op;
    o->kind = OP_MM;
    o->nin = 2;
    o->in[0] = elem(d, CUDNN_ATTR_OPERATION_MATMUL_ADESC)->tensor;
    o->in[1] = elem(d, CUDNN_ATTR_OPERATION_MATMUL_BDESC)->tensor;
    o->out = elem(d, CUDNN_ATTR_OPERATION_MATMUL_CDESC)->tensor;
    o->prec = elem(d, CUDNN_ATTR_OPERATION_MATMUL_DESC)->prec;
    const struct tensor *a = &o->in[0], *b = &o->in[1], *c = &o->out;
    int n = c->nd;
    if (n < 2 || a->nd != n || b->nd != n)
        return bad("matmul", "operands have not the same dimensions, 2 or "
                             "more");
    if (a->dim[n - 2] != c->dim[n - 2] || b->dim[n - 1] != c->dim[n - 1] ||
        a->dim[n - 1] != b->dim[n - 2])
        return bad("matmul", "A (M x K), B (K x N) and C (M x N) do not "
                             "chain");
    for (int i = 0; i < n - 2; i++)
        if ((a->dim[i] != c->dim[i] && a->dim[i] != 1) ||
            (b->dim[i] != c->dim[i] && b->dim[i] != 1))
            return bad("matmul", "batch dimensions do not broadcast to C's");
    return CUDNN_STATUS_SUCCESS;
}

static cudnnStatus_t finalize_reduction_op(struct desc *d)
{
    struct op *o = &d->op;
    const struct desc *r = elem(d, CUDNN_ATTR_OPERATION_REDUCTION_DESC);
    o->kind = OP_RED;
    o->nin = 1;
    o->mode = r->mode;
    o->prec = r->prec;
    o->in[0] = elem(d, CUDNN_ATTR_OPERATION_REDUCTION_XDESC)->tensor;
    o->out = elem(d, CUDNN_ATTR_OPERATION_REDUCTION_YDESC)->tensor;
    if (!broadcasts(&o->out, &o->in[0]))
        return bad("reduction", "Y is not X with some dimensions 1");
    return CUDNN_STATUS_SUCCESS;
}

/* The elements Y's strides reach must lie in X's storage (its own
 * strides in memory, dense when virtual). */
static int64_t last_offset(const struct tensor *t)
{
    int64_t off = 0;
    for (int i = 0; i < t->nd; i++)
        off += (t->dim[i] - 1) * t->stride[i];
    return off;
}

static cudnnStatus_t finalize_reshape_op(struct desc *d)
{
    struct op *o = &d->op;
    o->kind = OP_RESHAPE;
    o->nin = 1;
    o->in[0] = elem(d, CUDNN_ATTR_OPERATION_RESHAPE_XDESC)->tensor;
    o->out = elem(d, CUDNN_ATTR_OPERATION_RESHAPE_YDESC)->tensor;
    const struct tensor *x = &o->in[0];
    if (numel(x) != numel(&o->out))
        return bad("reshape", "Y has not as many elements as X");
    int64_t reach = x->virt ? numel(x) - 1 : last_offset(x);
    if (last_offset(&o->out) > reach)
        return bad("reshape", "Y's strides reach past X's elements");
    return CUDNN_STATUS_SUCCESS;
}

/* Checks the operations of an operation graph and orders them. */
static cudnnStatus_t finalize_graph(struct desc *d)
{
    const struct val *ops = find(d, CUDNN_ATTR_OPERATIONGRAPH_OPS);
    struct graph *g = calloc(1, sizeof *g);
    if (!g)
        return CUDNN_STATUS_ALLOC_FAILED;
    g->refs = 1;
    cudnnHandle_t h = get_ptr(d, CUDNN_ATTR_OPERATIONGRAPH_HANDLE, 0);
    int device = pp_emu_current_device();
    if (h && pp_emu_cudnn_handle(h, &device, NULL) != 0) {
        free(g);
        return bad("operation graph", "has a handle that is not live");
    }
    g->device = device;
    int n = (int)ops->count;
    struct op op[MAX_ELEMS];
    for (int i = 0; i < n; i++)
        op[i] = ((const struct desc *)get_ptr(
                     d, CUDNN_ATTR_OPERATIONGRAPH_OPS, i))->op;
    /* Tensors: one descriptor per unique id, one producer each. */
    int producer[MAX_TENSORS], readers[MAX_TENSORS];
    const char *why = NULL;
    for (int i = 0; i < n && !why; i++)
        for (int k = 0; k <= op[i].nin && !why; k++) {
            const struct tensor *t = k < op[i].nin ? &op[i].in[k]
                                                   : &op[i].out;
            int j = 0;
            while (j < g->ntensors && g->t[j].uid != t->uid)
                j++;
            if (j == g->ntensors) {
                if (j == MAX_TENSORS) {
                    why = "has more tensors than the emulator takes";
                    break;
                }
                g->t[j] = *t;
                producer[j] = -1;
                readers[j] = 0;
                g->ntensors++;
            } else if (!same_tensor(&g->t[j], t)) {
                why = "gives one unique id to two different tensors";
                break;
            }
            if (k == op[i].nin) {
                if (producer[j] >= 0)
                    why = "writes one tensor by two operations";
                else if (t->byval)
                    why = "writes a by-value tensor";
                producer[j] = i;
            } else {
                readers[j]++;
            }
        }
    for (int j = 0; j < g->ntensors && !why; j++) {
        if (g->t[j].virt && producer[j] < 0)
            why = "reads a virtual tensor no operation writes";
        else if (g->t[j].virt && readers[j] == 0)
            why = "writes a virtual tensor no operation reads";
    }
    /* Dependency order: an operation after the producers of its inputs. */
    int done[MAX_ELEMS] = {0};
    while (!why && g->nops < n) {
        int progress = 0;
        for (int i = 0; i < n; i++) {
            if (done[i])
                continue;
            int ready = 1;
            for (int k = 0; k < op[i].nin && ready; k++)
                for (int j = 0; j < g->ntensors; j++)
                    if (g->t[j].uid == op[i].in[k].uid && producer[j] >= 0 &&
                        !done[producer[j]])
                        ready = 0;
            if (ready) {
                done[i] = 1;
                g->op[g->nops++] = op[i];
                progress = 1;
            }
        }
        if (!progress)
            why = "has a cycle";
    }
    if (why) {
        free(g);
        return bad("operation graph", why);
    }
    d->graph = g;
    return CUDNN_STATUS_SUCCESS;
}

/* Why the interpreter cannot run g on `device`, or NULL. */
static const char *unsupported(const struct graph *g)
{
    for (int j = 0; j < g->ntensors; j++)
        if (!emulated_dtype(g->t[j].dtype))
            return "has a tensor of a type the emulator does not compute";
    struct cudaDeviceProp prop;
    int cc = cudaGetDeviceProperties(&prop, g->device) == cudaSuccess
                 ? prop.major * 10 + prop.minor : 0;
    for (int i = 0; i < g->nops; i++) {
        const struct op *o = &g->op[i];
        if (o->kind == OP_PW && !emulated_mode(o->mode))
            return "has a pointwise mode the emulator does not compute";
        if (o->kind == OP_RED && o->mode != CUDNN_REDUCE_TENSOR_ADD &&
            o->mode != CUDNN_REDUCE_TENSOR_MAX &&
            o->mode != CUDNN_REDUCE_TENSOR_MIN)
            return "has a reduction the emulator does not compute";
        if (o->kind == OP_MM && cc < 80 &&
            (o->in[0].dtype == CUDNN_DATA_BFLOAT16 ||
             o->in[1].dtype == CUDNN_DATA_BFLOAT16))
            return "multiplies bf16 below compute capability 8.0";
    }
    const char *none = getenv("PIPETTE_EMU_DNN_NO_ENGINE");
    if (none && strcmp(none, "1") == 0)
        return "has no engine (PIPETTE_EMU_DNN_NO_ENGINE=1)";
    return NULL;
}

/* The deterministic engine's workspace in bytes. */
static int64_t env_workspace(void)
{
    const char *ws = getenv("PIPETTE_EMU_DNN_WORKSPACE");
    return ws && *ws ? strtoll(ws, NULL, 10) : 4096;
}

static cudnnStatus_t finalize_heur(struct desc *d)
{
    const struct desc *gd = elem(d, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH);
    d->graph = graph_retain(gd->graph);
    int mode = (int)get_i64(d, CUDNN_ATTR_ENGINEHEUR_MODE, -1);
    if (mode < 0 || mode >= CUDNN_HEUR_MODES_COUNT)
        return bad("heuristics", "have no such mode");
    const char *why = unsupported(d->graph);
    if (why)
        pp_emu_complain("engine heuristics: the operation graph %s", why);
    d->nresults = why ? 0 : ENGINES;
    d->engine_ws = env_workspace();
    return CUDNN_STATUS_SUCCESS;
}

static cudnnStatus_t finalize_engine(struct desc *d)
{
    const struct desc *gd = elem(d, CUDNN_ATTR_ENGINE_OPERATION_GRAPH);
    int64_t gi = get_i64(d, CUDNN_ATTR_ENGINE_GLOBAL_INDEX, -1);
    if (gi < 0 || gi >= ENGINES)
        return bad("engine", "has a global index out of range");
    if (unsupported(gd->graph))
        return CUDNN_STATUS_NOT_SUPPORTED;
    d->graph = graph_retain(gd->graph);
    d->engine = (int)gi;
    d->engine_ws = env_workspace();
    return CUDNN_STATUS_SUCCESS;
}

static cudnnStatus_t finalize_plan(struct desc *d)
{
    const struct desc *cfg = elem(d, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG);
    d->handle = get_ptr(d, CUDNN_ATTR_EXECUTION_PLAN_HANDLE, 0);
    if (d->handle && pp_emu_cudnn_handle(d->handle, NULL, NULL) != 0)
        return bad("execution plan", "has a handle that is not live");
    if (unsupported(cfg->graph))
        return CUDNN_STATUS_NOT_SUPPORTED;
    d->graph = graph_retain(cfg->graph);
    d->engine = cfg->engine;
    d->workspace = cfg->workspace;
    return CUDNN_STATUS_SUCCESS;
}

static cudnnStatus_t finalize_pack(struct desc *d)
{
    const struct val *u = find(d, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS);
    const struct val *p = find(d, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS);
    if (u->count != p->count)
        return bad("variant pack", "has not as many pointers as ids");
    d->npack = (int)u->count;
    memcpy(d->uid, u->bytes, (size_t)d->npack * 8);
    memcpy(d->ptr, p->bytes, (size_t)d->npack * sizeof(void *));
    for (int i = 0; i < d->npack; i++)
        for (int j = 0; j < i; j++)
            if (d->uid[i] == d->uid[j])
                return CUDNN_STATUS_BAD_PARAM_DUPLICATED_ENTRIES;
    d->ws = get_ptr(d, CUDNN_ATTR_VARIANT_PACK_WORKSPACE, 0);
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnBackendFinalize(cudnnBackendDescriptor_t descriptor)
{
    struct desc *d = descriptor;
    if (!live(d)) {
        pp_emu_complain("cudnnBackendFinalize: %p is not a live "
                        "descriptor", descriptor);
        return CUDNN_STATUS_BAD_PARAM;
    }
    if (d->finalized)
        return bad("descriptor", "is finalized already");
    for (int i = 0; i < NSPECS; i++)
        if (specs[i].desc == d->type && (specs[i].flags & REQ) &&
            !find(d, specs[i].attr)) {
            pp_emu_complain("cudnnBackendFinalize: descriptor type %d "
                            "lacks attribute %d", d->type, specs[i].attr);
            return CUDNN_STATUS_BAD_PARAM;
        }
    cudnnStatus_t st = CUDNN_STATUS_SUCCESS;
    switch (d->type) {
    case CUDNN_BACKEND_TENSOR_DESCRIPTOR:
        st = finalize_tensor(d);
        break;
    case CUDNN_BACKEND_POINTWISE_DESCRIPTOR:
        d->mode = (int)get_i64(d, CUDNN_ATTR_POINTWISE_MODE, -1);
        d->prec = (int)get_i64(d, CUDNN_ATTR_POINTWISE_MATH_PREC, -1);
        d->has_axis = find(d, CUDNN_ATTR_POINTWISE_AXIS) != NULL;
        d->axis = get_i64(d, CUDNN_ATTR_POINTWISE_AXIS, -1);
        break;
    case CUDNN_BACKEND_MATMUL_DESCRIPTOR:
        d->prec = (int)get_i64(d, CUDNN_ATTR_MATMUL_COMP_TYPE, -1);
        break;
    case CUDNN_BACKEND_REDUCTION_DESCRIPTOR:
        d->mode = (int)get_i64(d, CUDNN_ATTR_REDUCTION_OPERATOR, -1);
        d->prec = (int)get_i64(d, CUDNN_ATTR_REDUCTION_COMP_TYPE, -1);
        break;
    case CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR:
        st = finalize_pointwise_op(d);
        break;
    case CUDNN_BACKEND_OPERATION_MATMUL_DESCRIPTOR:
        st = finalize_matmul_op(d);
        break;
    case CUDNN_BACKEND_OPERATION_REDUCTION_DESCRIPTOR:
        st = finalize_reduction_op(d);
        break;
    case CUDNN_BACKEND_OPERATION_RESHAPE_DESCRIPTOR:
        st = finalize_reshape_op(d);
        break;
    case CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR:
        st = finalize_graph(d);
        break;
    case CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR:
        st = finalize_heur(d);
        break;
    case CUDNN_BACKEND_ENGINE_DESCRIPTOR:
        st = finalize_engine(d);
        break;
    case CUDNN_BACKEND_ENGINECFG_DESCRIPTOR: {
        const struct desc *e = elem(d, CUDNN_ATTR_ENGINECFG_ENGINE);
        d->graph = graph_retain(e->graph);
        d->engine = e->engine;
        d->workspace = e->engine == 1 ? e->engine_ws : 0;
        break;
    }
    case CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR:
        st = finalize_plan(d);
        break;
    case CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR:
        st = finalize_pack(d);
        break;
    }
    if (st == CUDNN_STATUS_SUCCESS)
        d->finalized = 1;
    return st;
}

/* ---- get ---------------------------------------------------------------- */

/* Makes `to` (live, of type `type`, unfinalized or not) a finalized copy
 * of an engine or engine config of graph g. */
static void fill(struct desc *to, int type, struct graph *g, int engine,
                 int64_t ws)
{
    clear_vals(to);
    graph_release(to->graph);
    to->graph = graph_retain(g);
    to->engine = engine;
    to->engine_ws = ws;
    to->workspace = type == CUDNN_BACKEND_ENGINECFG_DESCRIPTOR && engine == 1
                        ? ws : 0;
    to->finalized = 1;
}

cudnnStatus_t cudnnBackendGetAttribute(
    cudnnBackendDescriptor_t const descriptor,
    cudnnBackendAttributeName_t name, cudnnBackendAttributeType_t type,
    int64_t requestedElementCount, int64_t *elementCount,
    void *arrayOfElements)
{
    static const char call[] = "cudnnBackendGetAttribute";
    const struct desc *d = descriptor;
    if (!live(d)) {
        pp_emu_complain("%s: %p is not a live descriptor", call, descriptor);
        return CUDNN_STATUS_BAD_PARAM;
    }
    const struct spec *s = spec_of(d->type, name);
    if (!s)
        return no_such(d, name, call);
    if (!d->finalized)
        return CUDNN_STATUS_NOT_INITIALIZED;
    if ((int)type != s->type)
        return CUDNN_STATUS_BAD_PARAM_ATTRIBUTE_TYPE;
    if (type == CUDNN_TYPE_BACKEND_DESCRIPTOR &&
        name != CUDNN_ATTR_ENGINEHEUR_RESULTS &&
        name != CUDNN_ATTR_ENGINECFG_ENGINE) {
        pp_emu_complain("%s: reading attribute %d back is not emulated",
                        call, (int)name);
        return CUDNN_STATUS_NOT_SUPPORTED;
    }
    if (!elementCount)
        return CUDNN_STATUS_BAD_PARAM_NULL_POINTER;
    if (requestedElementCount < 0 ||
        (requestedElementCount > 0 && !arrayOfElements))
        return CUDNN_STATUS_BAD_PARAM;
    int64_t have = 0, want = requestedElementCount;
    int64_t i64 = 0;
    int32_t notes[2];
    int nnotes = 0;
    switch (name) {
    case CUDNN_ATTR_ENGINEHEUR_RESULTS:
        have = d->nresults;
        for (int64_t i = 0; i < want && i < have; i++) {
            struct desc *e = ((struct desc **)arrayOfElements)[i];
            cudnnStatus_t st = check_desc_elem(e, s->sub, call);
            if (st != CUDNN_STATUS_SUCCESS)
                return st;
        }
        for (int64_t i = 0; i < want && i < have; i++)
            fill(((struct desc **)arrayOfElements)[i],
                 CUDNN_BACKEND_ENGINECFG_DESCRIPTOR, d->graph, (int)i,
                 d->engine_ws);
        *elementCount = arrayOfElements && want < have ? want : have;
        return CUDNN_STATUS_SUCCESS;
    case CUDNN_ATTR_ENGINECFG_ENGINE: {
        have = 1;
        if (want > 0) {
            struct desc *e = *(struct desc **)arrayOfElements;
            cudnnStatus_t st = check_desc_elem(e, s->sub, call);
            if (st != CUDNN_STATUS_SUCCESS)
                return st;
            fill(e, CUDNN_BACKEND_ENGINE_DESCRIPTOR, d->graph, d->engine,
                 d->workspace);
        }
        *elementCount = have;
        return CUDNN_STATUS_SUCCESS;
    }
    case CUDNN_ATTR_ENGINE_NUMERICAL_NOTE:
        if (d->engine == 0)
            notes[nnotes++] = CUDNN_NUMERICAL_NOTE_NONDETERMINISTIC;
        have = nnotes;
        break;
    case CUDNN_ATTR_ENGINE_BEHAVIOR_NOTE:
        have = 0;
        break;
    case CUDNN_ATTR_OPERATIONGRAPH_ENGINE_GLOBAL_COUNT:
        have = 1;
        i64 = ENGINES;
        break;
    case CUDNN_ATTR_ENGINECFG_WORKSPACE_SIZE:
    case CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE:
        have = 1;
        i64 = d->workspace;
        break;
    default: {
        /* What was set, as it was set. */
        const struct val *v = find(d, name);
        have = v ? v->count : 0;
        int64_t k = want < have ? want : have;
        if (k > 0)
            memcpy(arrayOfElements, v->bytes,
                   (size_t)k * type_size(v->type));
        *elementCount = have;
        return CUDNN_STATUS_SUCCESS;
    }
    }
    int64_t k = want < have ? want : have;
    if (k > 0 && type == CUDNN_TYPE_INT64)
        memcpy(arrayOfElements, &i64, 8);
    else if (k > 0)
        memcpy(arrayOfElements, notes, (size_t)k * 4);
    *elementCount = have;
    return CUDNN_STATUS_SUCCESS;
}

/* ---- execute ------------------------------------------------------------ */

/* One execution, queued: the graph, where each tensor is, and by-value
 * tensors' values read at the call. */
struct run {
    struct graph *g;
    void *ptr[MAX_TENSORS];   /* non-virtual tensors */
    float value[MAX_TENSORS]; /* by-value tensors */
    float *dense[MAX_TENSORS]; /* virtual tensors, dense row-major */
    void *ws;
    int64_t ws_bytes;
    uint64_t random; /* nondeterministic engine: its sums' order; 0 else */
};

static int index_of(const struct graph *g, int64_t uid)
{
    for (int j = 0; j < g->ntensors; j++)
        if (g->t[j].uid == uid)
            return j;
    return -1;
}

static float round_to(int dtype, float v)
{
    switch (dtype) {
    case CUDNN_DATA_BFLOAT16: {
        uint16_t h;
        pp_emu_put(&h, CUDA_R_16BF, 0, v);
        return pp_emu_get(&h, CUDA_R_16BF, 0);
    }
    case CUDNN_DATA_INT32:
        return (float)(int32_t)v;
    case CUDNN_DATA_BOOLEAN:
        return v != 0.0f;
    default:
        return v;
    }
}

/* Element at logical index idx of tensor j (broadcast: index 0 where its
 * dimension is 1). */
static int64_t dense_offset(const struct tensor *t, const int64_t *idx)
{
    int64_t off = 0;
    for (int i = 0; i < t->nd; i++)
        off = off * t->dim[i] + (t->dim[i] == 1 ? 0 : idx[i]);
    return off;
}

static int64_t mem_offset(const struct tensor *t, const int64_t *idx)
{
    int64_t off = 0;
    for (int i = 0; i < t->nd; i++)
        off += (t->dim[i] == 1 ? 0 : idx[i]) * t->stride[i];
    return off;
}

/* Element `off` of memory p holding type dtype. */
static float mem_get(const void *p, int dtype, int64_t off)
{
    switch (dtype) {
    case CUDNN_DATA_FLOAT:
        return pp_emu_get(p, CUDA_R_32F, (size_t)off);
    case CUDNN_DATA_BFLOAT16:
        return pp_emu_get(p, CUDA_R_16BF, (size_t)off);
    case CUDNN_DATA_INT32: {
        int32_t x;
        memcpy(&x, (const char *)p + off * 4, 4);
        return (float)x;
    }
    default: {
        bool b;
        memcpy(&b, (const char *)p + off * (int64_t)sizeof b, sizeof b);
        return b;
    }
    }
}

static void mem_put(void *p, int dtype, int64_t off, float v)
{
    switch (dtype) {
    case CUDNN_DATA_FLOAT:
        pp_emu_put(p, CUDA_R_32F, (size_t)off, v);
        break;
    case CUDNN_DATA_BFLOAT16:
        pp_emu_put(p, CUDA_R_16BF, (size_t)off, v);
        break;
    case CUDNN_DATA_INT32: {
        int32_t x = (int32_t)v;
        memcpy((char *)p + off * 4, &x, 4);
        break;
    }
    default: {
        bool b = v != 0.0f;
        memcpy((char *)p + off * (int64_t)sizeof b, &b, sizeof b);
        break;
    }
    }
}

static float load(const struct run *r, const struct tensor *t,
                  const int64_t *idx)
{
    int j = index_of(r->g, t->uid);
    if (t->byval)
        return r->value[j];
    if (t->virt)
        return r->dense[j][dense_offset(t, idx)];
    return mem_get(r->ptr[j], t->dtype, mem_offset(t, idx));
}

static void store(struct run *r, const struct tensor *t, const int64_t *idx,
                  float v)
{
    int j = index_of(r->g, t->uid);
    if (t->virt)
        r->dense[j][dense_offset(t, idx)] = round_to(t->dtype, v);
    else
        mem_put(r->ptr[j], t->dtype, mem_offset(t, idx), v);
}

/* The next index of a tensor of dims dim (nd), row-major; 0 past the
 * last. */
static int next_index(int64_t *idx, const int64_t *dim, int nd)
{
    for (int i = nd - 1; i >= 0; i--) {
        if (++idx[i] < dim[i])
            return 1;
        idx[i] = 0;
    }
    return 0;
}

static float pointwise(int mode, float x, float b, float t)
{
    switch (mode) {
    case CUDNN_POINTWISE_ADD: return x + b;
    case CUDNN_POINTWISE_SUB: return x - b;
    case CUDNN_POINTWISE_MUL: return x * b;
    case CUDNN_POINTWISE_DIV: return x / b;
    case CUDNN_POINTWISE_MAX: return fmaxf(x, b);
    case CUDNN_POINTWISE_MIN: return fminf(x, b);
    case CUDNN_POINTWISE_EXP: return expf(x);
    case CUDNN_POINTWISE_LOG: return logf(x);
    case CUDNN_POINTWISE_NEG: return -x;
    case CUDNN_POINTWISE_ABS: return fabsf(x);
    case CUDNN_POINTWISE_SQRT: return sqrtf(x);
    case CUDNN_POINTWISE_RECIPROCAL: return 1.0f / x;
    case CUDNN_POINTWISE_IDENTITY: return x;
    case CUDNN_POINTWISE_CMP_EQ: return x == b;
    case CUDNN_POINTWISE_CMP_NEQ: return x != b;
    case CUDNN_POINTWISE_CMP_GT: return x > b;
    case CUDNN_POINTWISE_CMP_GE: return x >= b;
    case CUDNN_POINTWISE_CMP_LT: return x < b;
    case CUDNN_POINTWISE_CMP_LE: return x <= b;
    case CUDNN_POINTWISE_LOGICAL_AND: return x != 0.0f && b != 0.0f;
    case CUDNN_POINTWISE_LOGICAL_OR: return x != 0.0f || b != 0.0f;
    case CUDNN_POINTWISE_LOGICAL_NOT: return x == 0.0f;
    case CUDNN_POINTWISE_BINARY_SELECT: return t != 0.0f ? x : b;
    default: return NAN;
    }
}

static void run_pointwise(struct run *r, const struct op *o)
{
    int64_t idx[MAX_DIMS] = {0};
    do {
        float v[3] = {0, 0, 0};
        for (int k = 0; k < o->nin; k++)
            v[k] = load(r, &o->in[k], idx);
        float y = o->mode == CUDNN_POINTWISE_GEN_INDEX
                      ? (float)idx[o->axis]
                      : pointwise(o->mode, v[0], v[1], v[2]);
        store(r, &o->out, idx, y);
    } while (next_index(idx, o->out.dim, o->out.nd));
}

static uint64_t xorshift(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void run_matmul(struct run *r, const struct op *o)
{
    const struct tensor *c = &o->out;
    int n = c->nd;
    int64_t K = o->in[0].dim[n - 1];
    int64_t idx[MAX_DIMS] = {0}, ia[MAX_DIMS], ib[MAX_DIMS];
    do {
        memcpy(ia, idx, sizeof ia);
        memcpy(ib, idx, sizeof ib);
        /* The nondeterministic engine starts each sum at a random k. */
        int64_t k0 = r->random ? (int64_t)(xorshift(&r->random) %
                                           (uint64_t)K) : 0;
        float acc = 0.0f;
        for (int64_t s = 0; s < K; s++) {
            int64_t k = (k0 + s) % K;
            ia[n - 1] = k;
            ib[n - 2] = k;
            ib[n - 1] = idx[n - 1];
            acc += load(r, &o->in[0], ia) * load(r, &o->in[1], ib);
        }
        store(r, c, idx, acc);
    } while (next_index(idx, c->dim, n));
}

static void run_reduction(struct run *r, const struct op *o)
{
    const struct tensor *x = &o->in[0], *y = &o->out;
    int64_t ny = numel(y);
    float *acc = malloc((size_t)ny * sizeof *acc);
    if (!acc)
        abort();
    float init = o->mode == CUDNN_REDUCE_TENSOR_ADD ? 0.0f
                 : o->mode == CUDNN_REDUCE_TENSOR_MAX ? -INFINITY : INFINITY;
    for (int64_t i = 0; i < ny; i++)
        acc[i] = init;
    int64_t idx[MAX_DIMS] = {0};
    do {
        float v = load(r, x, idx);
        float *a = &acc[dense_offset(y, idx)];
        *a = o->mode == CUDNN_REDUCE_TENSOR_ADD   ? *a + v
             : o->mode == CUDNN_REDUCE_TENSOR_MAX ? fmaxf(*a, v)
                                                  : fminf(*a, v);
    } while (next_index(idx, x->dim, x->nd));
    memset(idx, 0, sizeof idx);
    do {
        store(r, y, idx, acc[dense_offset(y, idx)]);
    } while (next_index(idx, y->dim, y->nd));
    free(acc);
}

/* Y reads X's storage at the offsets Y's strides give. */
static void run_reshape(struct run *r, const struct op *o)
{
    const struct tensor *x = &o->in[0], *y = &o->out;
    int jx = index_of(r->g, x->uid);
    int64_t idx[MAX_DIMS] = {0};
    do {
        int64_t off = 0;
        for (int i = 0; i < y->nd; i++)
            off += idx[i] * y->stride[i];
        float v = x->virt ? r->dense[jx][off]
                          : mem_get(r->ptr[jx], x->dtype, off);
        store(r, y, idx, v);
    } while (next_index(idx, y->dim, y->nd));
}

static void run_graph(void *arg)
{
    struct run *r = arg;
    if (r->ws && r->ws_bytes > 0)
        memset(r->ws, 0xff, (size_t)r->ws_bytes);
    for (int i = 0; i < r->g->nops; i++) {
        const struct op *o = &r->g->op[i];
        switch (o->kind) {
        case OP_PW:
            run_pointwise(r, o);
            break;
        case OP_MM:
            run_matmul(r, o);
            break;
        case OP_RED:
            run_reduction(r, o);
            break;
        case OP_RESHAPE:
            run_reshape(r, o);
            break;
        }
    }
    for (int j = 0; j < r->g->ntensors; j++)
        free(r->dense[j]);
    graph_release(r->g);
    free(r);
}

/* Bytes from a tensor's first element to past its last. */
static size_t span_bytes(const struct tensor *t)
{
    size_t size = t->dtype == CUDNN_DATA_BFLOAT16 ? 2
                  : t->dtype == CUDNN_DATA_BOOLEAN ? sizeof(bool) : 4;
    return (size_t)(last_offset(t) + 1) * size;
}

/* Whether tensors a (at pa) and b (at pb) share a byte: their spans
 * first, then element by element where those meet. */
static int overlap(const struct tensor *a, const void *pa,
                   const struct tensor *b, const void *pb)
{
    uintptr_t a0 = (uintptr_t)pa, b0 = (uintptr_t)pb;
    uintptr_t a1 = a0 + span_bytes(a), b1 = b0 + span_bytes(b);
    if (a1 <= b0 || b1 <= a0)
        return 0;
    uintptr_t lo = a0 > b0 ? a0 : b0, hi = a1 < b1 ? a1 : b1;
    unsigned char *hit = calloc(hi - lo, 1);
    if (!hit)
        return 1;
    int found = 0;
    size_t sa = span_bytes(a) / (size_t)(last_offset(a) + 1);
    size_t sb = span_bytes(b) / (size_t)(last_offset(b) + 1);
    int64_t idx[MAX_DIMS] = {0};
    do {
        uintptr_t at = a0 + (uintptr_t)mem_offset(a, idx) * sa;
        for (size_t k = 0; k < sa; k++)
            if (at + k >= lo && at + k < hi)
                hit[at + k - lo] = 1;
    } while (next_index(idx, a->dim, a->nd));
    memset(idx, 0, sizeof idx);
    do {
        uintptr_t at = b0 + (uintptr_t)mem_offset(b, idx) * sb;
        for (size_t k = 0; k < sb && !found; k++)
            if (at + k >= lo && at + k < hi && hit[at + k - lo])
                found = 1;
    } while (!found && next_index(idx, b->dim, b->nd));
    free(hit);
    return found;
}

cudnnStatus_t cudnnBackendExecute(cudnnHandle_t handle,
                                  cudnnBackendDescriptor_t executionPlan,
                                  cudnnBackendDescriptor_t variantPack)
{
    static const char call[] = "cudnnBackendExecute";
    const struct desc *plan = executionPlan, *pack = variantPack;
    int device;
    cudaStream_t stream;
    if (pp_emu_cudnn_handle(handle, &device, &stream) != 0)
        return CUDNN_STATUS_BAD_PARAM;
    if (!live(plan) || !live(pack)) {
        pp_emu_complain("%s: a descriptor that is not live", call);
        return CUDNN_STATUS_BAD_PARAM;
    }
    if (plan->type != CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR ||
        pack->type != CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR)
        return CUDNN_STATUS_BAD_PARAM_DESCRIPTOR_TYPE;
    if (!plan->finalized || !pack->finalized)
        return CUDNN_STATUS_BAD_PARAM_NOT_FINALIZED;
    const struct graph *g = plan->graph;
    if (g->device != device) {
        pp_emu_complain("%s: a graph of device %d run by a handle of "
                        "device %d", call, g->device, device);
        return CUDNN_STATUS_BAD_PARAM;
    }
    struct run *r = calloc(1, sizeof *r);
    if (!r)
        return CUDNN_STATUS_ALLOC_FAILED;
    cudnnStatus_t st = CUDNN_STATUS_SUCCESS;
    /* Every non-virtual tensor given once, and nothing else. */
    for (int i = 0; i < pack->npack && !st; i++)
        if (index_of(g, pack->uid[i]) < 0 ||
            g->t[index_of(g, pack->uid[i])].virt) {
            pp_emu_complain("%s: the variant pack gives id %lld, no "
                            "non-virtual tensor of the graph", call,
                            (long long)pack->uid[i]);
            st = CUDNN_STATUS_BAD_PARAM;
        }
    for (int j = 0; j < g->ntensors && !st; j++) {
        const struct tensor *t = &g->t[j];
        if (t->virt)
            continue;
        int i = 0;
        while (i < pack->npack && pack->uid[i] != t->uid)
            i++;
        if (i == pack->npack) {
            pp_emu_complain("%s: the variant pack lacks tensor %lld", call,
                            (long long)t->uid);
            st = CUDNN_STATUS_BAD_PARAM;
        } else if (!pack->ptr[i]) {
            st = CUDNN_STATUS_BAD_PARAM_NULL_POINTER;
        } else if (t->byval) {
            r->value[j] = mem_get(pack->ptr[i], t->dtype, 0);
        } else if ((uintptr_t)pack->ptr[i] % (uintptr_t)t->align) {
            pp_emu_complain("%s: tensor %lld at %p is not aligned to its "
                            "%lld bytes", call, (long long)t->uid,
                            pack->ptr[i], (long long)t->align);
            st = CUDNN_STATUS_BAD_PARAM_MISALIGNED_POINTER;
        } else {
            r->ptr[j] = pack->ptr[i];
        }
    }
    if (!st && plan->workspace > 0 && !pack->ws)
        st = CUDNN_STATUS_BAD_PARAM_NULL_POINTER;
    /* Memory a GPU reaches, and outputs that share no byte with another
     * tensor or the workspace. */
    struct tensor wt = {CUDNN_DATA_INT32, 1, {(plan->workspace + 3) / 4},
                        {1}, -1, 1, false, false};
    for (int j = 0; j <= g->ntensors && !st; j++) {
        const struct tensor *t = j < g->ntensors ? &g->t[j] : &wt;
        const void *p = j < g->ntensors ? r->ptr[j] : pack->ws;
        int owner = -1;
        if (t->virt || t->byval || (j == g->ntensors && !plan->workspace))
            continue;
        pp_emu_mem m = pp_emu_locate(p, span_bytes(t), &owner);
        if (m == PP_EMU_PAGEABLE || m == PP_EMU_OVERRUN ||
            (m == PP_EMU_DEVICE && !pp_emu_can_reach(device, owner))) {
            pp_emu_complain("%s: %s %lld at %p (%zu bytes) is not memory "
                            "the handle's device reaches", call,
                            j < g->ntensors ? "tensor" : "the workspace",
                            (long long)t->uid, p, span_bytes(t));
            st = CUDNN_STATUS_EXECUTION_FAILED;
        }
    }
    for (int j = 0; j < g->ntensors && !st; j++) {
        int written = 0;
        for (int i = 0; i < g->nops; i++)
            written |= g->op[i].out.uid == g->t[j].uid;
        if (!written || g->t[j].virt)
            continue;
        for (int k = 0; k <= g->ntensors && !st; k++) {
            const struct tensor *o = k < g->ntensors ? &g->t[k] : &wt;
            const void *po = k < g->ntensors ? r->ptr[k] : pack->ws;
            if (k == j || (k < g->ntensors && (o->virt || o->byval)) || !po ||
                (k == g->ntensors && plan->workspace == 0))
                continue;
            if (overlap(&g->t[j], r->ptr[j], o, po)) {
                pp_emu_complain("%s: output tensor %lld overlaps %s %lld",
                                call, (long long)g->t[j].uid,
                                k < g->ntensors ? "tensor" : "the workspace",
                                (long long)o->uid);
                st = CUDNN_STATUS_EXECUTION_FAILED;
            }
        }
    }
    for (int j = 0; j < g->ntensors && !st; j++)
        if (g->t[j].virt &&
            !(r->dense[j] = malloc((size_t)numel(&g->t[j]) * sizeof(float))))
            st = CUDNN_STATUS_ALLOC_FAILED;
    if (st) {
        for (int j = 0; j < g->ntensors; j++)
            free(r->dense[j]);
        free(r);
        return st;
    }
    static uint64_t seed = 0x9e3779b97f4a7c15ull;
    r->g = graph_retain(plan->graph);
    r->ws = pack->ws;
    r->ws_bytes = plan->workspace;
    r->random = plan->engine == 0
                    ? __atomic_add_fetch(&seed, 0x9e3779b97f4a7c15ull,
                                         __ATOMIC_RELAXED) | 1
                    : 0;
    pp_emu_enqueue(stream, run_graph, r, 0);
    return CUDNN_STATUS_SUCCESS;
}
