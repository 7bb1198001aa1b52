/* tests/test_layers_cuda.c - the layer plugins' CUDA kernels against their
 * CPU kernels (every layer but linear), on the same random inputs and
 * shapes, on GPU 0.
 *
 * Each case plans the layer from a real [layer] section through the
 * registry with layer_harness.c, as tests/test_layers.c does, runs
 * forward, backward_input and backward_weight on the CPU, then the same
 * calls on the device (inputs copied over, kernels on a stream of the
 * test's own, results copied back) and compares. The CPU kernels are the
 * reference: test_layers.c checks them against finite differences,
 * test_layer_values.c against float64. Every case runs in fp32 and in
 * bf16 (bf16 activations and their gradients, FP32 parameters, their
 * gradients and losses). Gradients start from random values, so `+=` is
 * checked as well as the sum. Backward
 * gets the CPU's forward results (y, layernorm's saved statistics), so a
 * backward is judged on its own rounding only. Cases marked `rerun` run
 * the GPU kernels a second time and must get the same bits: on the
 * emulator each run takes a block's threads in another order, so a race
 * or an order-dependent sum shows.
 *
 * Without a GPU it exits 77 (automake's SKIP) and says why, unless
 * PIPETTE_REQUIRE_GPU=1, when a missing GPU is a failure. main() asks
 * CUDA for the device count, which initialises CUDA in this process, so
 * Check runs in-process (CK_NOFORK) as in test_device_cuda.c.
 *
 * Not a test of speed, of linear (cuBLAS) or of the runtime.
 */
#include <config.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <cuda_runtime_api.h>
#ifdef HAVE_CUDNN
#include <cudnn.h>
#endif

#include <pipette/cuda.h>
#include <pipette/pipette.h>

#include "../layers/attention.h"
#include "config_file.h"
#include "registry.h"
#include "gpu_skip.h"
#include "layer_harness.h"

static pp_registry *reg;
static cudaStream_t stream;
static void *dnn;      /* a cuDNN handle on stream, where built with cuDNN */
static int dnn_applies; /* attention's cuDNN path may run on this GPU */
static int emulated;    /* the GPU is pipette's CUDA emulator */

static void *host_alloc(size_t bytes)
{
    void *p = calloc(bytes ? bytes : 1, 1);
    ck_assert_ptr_nonnull(p);
    return p;
}

/* ---- device memory ----------------------------------------------------- */

#define CK_CUDA(call)                                                       \
    do {                                                                    \
        pp_error e_;                                                        \
        ck_assert_msg(PP_CUDA_CHECK(call, &e_) == PP_OK, "%s", e_.msg);     \
    } while (0)

/* A device copy of `bytes` of host memory, or, when h is NULL, a NaN
 * pattern (all bits set) for a buffer the kernels must write: zeros would
 * hide a kernel that skips the elements it should set to 0 (relu, dropout,
 * a masked gradient), since the CPU reference has zeros there too. */
static void *to_device(const void *h, size_t bytes)
{
    void *d = NULL;
    CK_CUDA(cudaMalloc(&d, bytes ? bytes : 1));
    if (h)
        CK_CUDA(cudaMemcpy(d, h, bytes, cudaMemcpyHostToDevice));
    else
        CK_CUDA(cudaMemset(d, 0xff, bytes ? bytes : 1));
    return d;
}

/* to_device's copy `skew` bytes past the start of its allocation, which
 * cudaMalloc aligns to 256: to see kernels on tensors that are not
 * 16-byte aligned, as the core's buffers of a micro-batch may be. */
static void *to_device_at(const void *h, size_t bytes, size_t skew)
{
    char *d = to_device(NULL, bytes + skew);
    if (h)
        CK_CUDA(cudaMemcpy(d + skew, h, bytes, cudaMemcpyHostToDevice));
    return d + skew;
}

static void device_free_at(void *d, size_t skew)
{
    CK_CUDA(cudaFree((char *)d - skew));
}

/* Waits for the stream (so a kernel's own failure shows here), then
 * copies back. */
static void to_host(void *h, const void *d, size_t bytes)
{
    CK_CUDA(cudaStreamSynchronize(stream));
    CK_CUDA(cudaMemcpy(h, d, bytes, cudaMemcpyDeviceToHost));
}

/* f (n floats) = the n values of dtype (PP_F32 or PP_BF16) at d. */
static void to_host_as(float *f, const void *d, int64_t n, pp_dtype dtype)
{
    void *h = host_alloc((size_t)n * pp_dtype_size(dtype));
    to_host(h, d, (size_t)n * pp_dtype_size(dtype));
    pp_row_load(f, h, dtype, n);
    free(h);
}

/* ---- judging ------------------------------------------------------------ */

/* Two device buffers of `bytes` hold the same bits: one kernel's outputs
 * on two runs (each block's threads in another order on the emulator). */
static void expect_same_bits(const char *what, const char *ctx,
                             const void *a, const void *b, size_t bytes)
{
    void *ha = host_alloc(bytes), *hb = host_alloc(bytes);
    to_host(ha, a, bytes);
    to_host(hb, b, bytes);
    ck_assert_msg(memcmp(ha, hb, bytes) == 0,
                  "%s: %s differs between two runs of the same kernel", ctx,
                  what);
    free(ha), free(hb);
}

/* |gpu - cpu| <= rel (|cpu| + floor max|cpu|) + ulps u elementwise, u
 * being the gap between adjacent bf16 values at the larger of |gpu| and
 * |cpu|; rel = ulps = 0 asks for the same bits. */
typedef struct tol {
    double rel, floor, ulps;
} tol;

#define EXACT ((tol){0, 0, 0})
#define ONE_ULP ((tol){0, 0, 1})

/* The gap between adjacent bf16 values at v's magnitude: 8 significant
 * bits, so 2^-7 in [1, 2). */
static double bf16_ulp(double v)
{
    int e;
    frexp(v, &e); /* v = m 2^e, 1/2 <= |m| < 1 */
    return ldexp(1.0, e - 8);
}

static void expect_close(const char *what, const char *ctx,
                         const float *gpu, const float *cpu, int64_t n,
                         tol t)
{
    double big = 0.0;
    for (int64_t i = 0; i < n; i++)
        big = fmax(big, fabs(cpu[i]));
    /* Check's assertions write to a file each time: one per array, not
     * one per element, or the large cases take minutes. */
    for (int64_t i = 0; i < n; i++) {
        if (t.rel == 0 && t.ulps == 0) {
            if (memcmp(&gpu[i], &cpu[i], sizeof(float)) != 0)
                ck_abort_msg("%s: %s[%lld]: gpu %a, cpu %a (must be equal)",
                             ctx, what, (long long)i, (double)gpu[i],
                             (double)cpu[i]);
            continue;
        }
        double allowed = t.rel * (fabs(cpu[i]) + t.floor * big) +
                         t.ulps * bf16_ulp(fmax(fabs(gpu[i]), fabs(cpu[i])));
        if (!(fabs((double)gpu[i] - cpu[i]) <= allowed))
            ck_abort_msg("%s: %s[%lld]: gpu %.9g, cpu %.9g, allowed %.3g",
                         ctx, what, (long long)i, (double)gpu[i],
                         (double)cpu[i], allowed);
    }
}

/* ---- the cases ---------------------------------------------------------- */

/* A layer, the shapes it is tried on (`lead` leading dimensions of
 * lead_lo..lead_hi, a last one of last_lo..last_hi, n_lo..n_hi samples),
 * its inputs (uniform in [lo, hi], or ids below vocab) and how close the
 * GPU's forward (y), backward_input (dx) and backward_weight (grads) must
 * come to the CPU's.
 *
 * Why these tolerances:
 * - EXACT where both sides do the same float operations in the same
 *   order: relu, dropout (the same hash; u and the comparison are exact in
 *   double, then one float multiply), embedding (a copy, or with
 *   positions one float add; the scatter-add has the CPU's token order,
 *   the position sum its sample order) and mse's backward (a subtraction then a
 *   multiply: nothing for nvcc to fuse).
 * - tanh: tanhf is within 2 ulp on both sides (CUDA's and glibc's
 *   documented bounds), so within 4 ulp of each other, under 2e-6
 *   relative. Its backward 1 - y^2 may be fused into one fma on the GPU:
 *   an absolute difference of 2^-24 |dy|, under 1e-6 of the largest dx.
 * - gelu: t = tanh(...) is within a few ulp of 1 of each other, and 1 + t
 *   and 1 - t^2 cancel for large |v|: absolute errors of ~1e-7 |v|
 *   (forward) and ~1e-6 |dy| (backward, the derivative multiplying t's
 *   error by up to (1 + 3c v^2) v), hence the floors relative to the
 *   tensor's largest value. Still 100 times below any real mistake (a
 *   wrong constant or term moves results by 1e-2 or more).
 * - layernorm: row sums of up to ~100 terms in another order (a warp's
 *   butterfly vs a loop): relative differences of order C 2^-24 ~ 1e-5
 *   in mean and variance, 1e-4 covers them; rstd alone is a well
 *   conditioned function of the variance. dw and db are sums over rows in
 *   another order (32 lanes, then a tree), judged against the largest.
 * - softmax_xent: the GPU takes expf of a float argument where the CPU
 *   takes exp in double: 2e-6 relative in a probability at most, the sums
 *   are in double on both sides. The loss is a sum of positive terms.
 * - mse forward: both sum in double, in another order, then round to
 *   float: at most a couple of float ulp apart.
 * - attention: the GPU's softmax is online (a running max, the output
 *   rescaled tile by tile) where the CPU's takes two passes, and its
 *   expf may differ by an ulp or two: relative differences of about 1e-6
 *   in y and the log-sum-exps (saved), 3e-6 in dx, whose dS = P (dP - D)
 *   cancels (the worst seen on the emulator: 1.2e-6, 1.8e-7, 2.6e-6, of
 *   |cpu| + 0.1 max|cpu|). 1e-5 and 2e-5 leave a margin of 8, and a
 *   missed tile or a lost scale moves values by 10% or more.
 *
 * In bf16 (y16, dx16, grad16) both halves read the same bf16 values,
 * compute in FP32 and round once into a bf16 result:
 * - EXACT where the FP32 operations are the same, as above: relu,
 *   dropout, embedding, add, concat, mse's backward, and tanh's backward
 *   (dy (1 - y^2) of the same bf16 y, which --fmad=false keeps unfused).
 * - Where the FP32 results may differ (tanhf, a sum's order), rounding
 *   them to bf16 gives the same value or its neighbour: one bf16 ulp
 *   (at the larger result, 2^-7 of it at most) on top of the FP32 bound
 *   above, which is still needed where a result cancels to near zero
 *   (dx0 + an increment), as its ulp then shrinks with it.
 * - What stays FP32 keeps its FP32 bound: the losses (computed from the
 *   same bf16 values), layernorm's statistics and parameter gradients.
 * - attention through cuDNN (ATT_DNN, bf16 only): its tensor-core GEMMs
 *   read P and dS rounded to bf16 (cuDNN's graph says so, and the
 *   emulator rounds them), a relative error of up to 2^-9 in each
 *   probability: y moves by up to 2^-9 max|v| = 2^-8 here (v in
 *   [-2, 2]), under 2^-8 max|y| where max|y| >= 1, as in these cases.
 *   dq, dk and dv come out of cuDNN in bf16 and are added to dx with a
 *   second rounding, which may cost an ulp of dq (not of dx) where the
 *   sum cancels: 2^-8 of the largest dx, plus 2 ulps. The log-sum-exps
 *   are FP32 throughout and keep the FP32 bound. Seen on the emulator
 *   at worst: 2 ulps (y at 1 ulp plus 0.0074 of max|y|, dx at 2 ulps
 *   plus 0.0072 of max|dx|, all of it the ulps at values near 2); a lost
 *   scale, mask or transpose moves values by 10% or more. */
typedef struct gpu_case {
    const char *type, *keys;
    int lead, lead_lo, lead_hi, last_lo, last_hi, n_lo, n_hi;
    int vocab;        /* > 0: the input is token ids below it */
    double lo, hi;
    int training;
    tol y, dx, grad;
    int inputs;       /* 0 or 1: one */
    int own_last;     /* each input draws its own last dimension */
    tol y16, dx16, grad16; /* in bf16 */
    int last_mult;    /* > 0: the last dimension is a multiple of it */
    int saved_flat;   /* saved is FP32 values compared as they are, within
                         y's FP32 bound (not layernorm's (mean, rstd)) */
    int rerun;        /* the GPU kernels run twice, to the same bits */
    int only16;       /* bf16 only (attention's kernels = cudnn) */
    int aligned;      /* no shapes one element off an aligned start */
    int expect;       /* attention: the kernels bf16 runs on aligned
                         shapes (ATTENTION_RAN_*; fp32 and unaligned
                         shapes run the tiled ones); 0: not checked */
} gpu_case;

#define EXACT3 EXACT, EXACT, EXACT
#define ATT_FP32 {1e-5, 0.1, 0}, {2e-5, 0.1, 0}, EXACT
#define ATT_BF16 {1e-5, 0.1, 1}, {2e-5, 0.1, 1}, EXACT
#define ATT_DNN {0x1p-8, 1, 1}, {0x1p-8, 1, 2}, EXACT
/* attention with its own kernels: T in [t_lo, t_hi], heads of hs_lo to
 * hs_hi features, up to n_hi samples; mult is 3 x heads. */
#define OWN_ROW(keys, t_lo, t_hi, hs_lo, hs_hi, n_hi, mult)               \
    {"attention", keys "\nkernels = pipette", 1, t_lo, t_hi, hs_lo, hs_hi, \
     1, n_hi, 0, -2, 2, 1, ATT_FP32, 1, 0, ATT_BF16, mult, 1, 1, 0, 0,      \
     ATTENTION_RAN_TILED}
/* attention with kernels = cudnn: bf16 only, aligned, h heads of hs. */
#define DNN_ROW(keys, h, T, hs, n_hi)                                       \
    {"attention", keys "\nkernels = cudnn", 1, T, T, hs, hs, 1, n_hi, 0,   \
     -2, 2, 1, ATT_FP32, 1, 0, ATT_DNN, 3 * (h), 1, 1, 1, 1,                \
     ATTENTION_RAN_CUDNN}

static const gpu_case cases[] = {
    {"relu", "", 2, 1, 8, 1, 70, 1, 3, 0, -1, 1, 1, EXACT3, 1, 0, EXACT3,
     0, 0, 0, 0, 0, 0},
    /* Past 4096 blocks of 256: the grid-stride loops go round. */
    {"relu", "", 1, 1000, 1100, 1000, 1100, 1, 2, 0, -1, 1, 1, EXACT3, 1, 0,
     EXACT3, 0, 0, 0, 0, 0, 0},
    {"gelu", "", 2, 1, 8, 1, 70, 1, 3, 0, -3, 3, 1, {1e-5, 0.1, 0},
     {1e-4, 0.1, 0}, EXACT, 1, 0, {1e-5, 0.1, 1}, {1e-4, 0.1, 1}, EXACT,
     0, 0, 0, 0, 0, 0},
    {"tanh", "", 2, 1, 8, 1, 70, 1, 3, 0, -3, 3, 1, {2e-6, 1e-3, 0},
     {1e-6, 1, 0}, EXACT, 1, 0, ONE_ULP, EXACT, EXACT, 0, 0, 0, 0, 0, 0},
    {"dropout", "rate = 0.3", 2, 1, 8, 1, 70, 1, 3, 0, -1, 1, 1, EXACT3, 1,
     0, EXACT3, 0, 0, 0, 0, 0, 0},
    {"dropout", "rate = 0.3", 1, 1000, 1100, 1000, 1100, 1, 2, 0, -1, 1, 1,
     EXACT3, 1, 0, EXACT3, 0, 0, 0, 0, 0, 0},
    {"dropout", "rate = 0.5", 2, 1, 8, 1, 70, 1, 3, 0, -1, 1, 0, EXACT3, 1,
     0, EXACT3, 0, 0, 0, 0, 0, 0},
    /* Rows past one block of 8 warps, features past one 32-wide strip and
     * one pass of a warp's lanes (and of its 16-byte packs). */
    {"layernorm", "", 1, 1, 40, 4, 100, 1, 3, 0, -2, 3, 1, {1e-4, 0.1, 0},
     {1e-4, 0.1, 0}, {1e-4, 0.1, 0}, 1, 0, {1e-4, 0.1, 1}, {1e-4, 0.1, 1},
     {1e-4, 0.1, 0}, 0, 0, 0, 0, 0, 0},
    {"layernorm", "eps = 0.01", 1, 100, 300, 33, 70, 1, 3, 0, -2, 3, 1,
     {1e-4, 0.1, 0}, {1e-4, 0.1, 0}, {1e-4, 0.1, 0}, 1, 0, {1e-4, 0.1, 1},
     {1e-4, 0.1, 1}, {1e-4, 0.1, 0}, 0, 0, 0, 0, 0, 0},
    /* Few ids for many tokens: rows are hit repeatedly. Then a vocabulary
     * past the 64 buckets and a dim past one 32-wide strip. */
    {"embedding", "vocab = 5\ndim = 6", 1, 1, 40, 0, 0, 1, 3, 5, 0, 0, 1,
     EXACT3, 1, 0, EXACT3, 0, 0, 0, 0, 0, 0},
    {"embedding", "vocab = 100\ndim = 70", 1, 50, 300, 0, 0, 1, 3, 100, 0, 0,
     1, EXACT3, 1, 0, EXACT3, 0, 0, 0, 0, 0, 0},
    /* Positions: a sum of two FP32 rows, rounded once, and the position
     * gradient summed over samples in their order. */
    {"embedding", "vocab = 5\ndim = 6\npositions = true", 1, 1, 40, 0, 0, 1,
     3, 5, 0, 0, 1, EXACT3, 1, 0, EXACT3, 0, 0, 0, 0, 0, 0},
    {"embedding", "vocab = 100\ndim = 70\npositions = true", 1, 50, 300, 0, 0,
     2, 4, 100, 0, 0, 1, EXACT3, 1, 0, EXACT3, 0, 0, 0, 0, 0, 0},
    {"softmax_xent", "", 1, 1, 40, 2, 60, 1, 3, 0, -4, 4, 1, {1e-5, 0, 0},
     {1e-5, 1, 0}, EXACT, 1, 0, {1e-5, 0, 0}, {1e-5, 1, 1}, EXACT, 0, 0, 0,
     0, 0, 0},
    {"mse", "", 2, 1, 8, 1, 70, 1, 3, 0, -2, 2, 1, {0x1p-21, 0, 0}, EXACT,
     EXACT, 1, 0, {0x1p-21, 0, 0}, EXACT, EXACT, 0, 0, 0, 0, 0, 0},
    /* A sum and a copy: the same operations on both sides. Two inputs,
     * four (in bf16, a sum that waits in FP32 for the last) and three. */
    {"add", "", 2, 1, 8, 1, 70, 1, 3, 0, -2, 2, 1, EXACT3, 2, 0, EXACT3, 0,
     0, 0, 0, 0, 0},
    {"add", "", 2, 1, 8, 1, 70, 1, 3, 0, -2, 2, 1, EXACT3, 4, 0, EXACT3, 0,
     0, 0, 0, 0, 0},
    {"add", "", 1, 1000, 1100, 1000, 1100, 1, 2, 0, -2, 2, 1, EXACT3, 3, 0,
     EXACT3, 0, 0, 0, 0, 0, 0},
    {"concat", "", 2, 1, 8, 1, 70, 1, 3, 0, -2, 2, 1, EXACT3, 3, 1, EXACT3,
     0, 0, 0, 0, 0, 0},
    /* attention: T positions of 3 x heads x hs features (last_mult: 3
     * heads). Its own kernels: random T and heads of 1 to 40 features
     * (odd ones among them), causal and not; T = 1; then heads of 64,
     * 128 and 16 with T past one tile and not a multiple of one (17, 70,
     * 130, 33). */
    OWN_ROW("heads = 2", 1, 40, 1, 40, 3, 3 * 2),
    OWN_ROW("heads = 3\ncausal = false", 1, 40, 1, 24, 2, 3 * 3),
    OWN_ROW("heads = 4", 1, 1, 1, 20, 3, 3 * 4),
    OWN_ROW("heads = 1", 17, 17, 64, 64, 2, 3),
    OWN_ROW("heads = 2\ncausal = false", 70, 70, 64, 64, 1, 3 * 2),
    OWN_ROW("heads = 2", 130, 130, 16, 16, 1, 3 * 2),
    OWN_ROW("heads = 1", 33, 33, 128, 128, 1, 3),
    OWN_ROW("heads = 2\ncausal = false", 9, 9, 128, 128, 2, 3 * 2),
    /* Heads of 256 (tiles of 8 rows) and of the largest, 1024 (tiles of
     * one and two rows). */
    OWN_ROW("heads = 1", 11, 11, 256, 256, 1, 3),
    OWN_ROW("heads = 1\ncausal = false", 3, 3, 1024, 1024, 1, 3),
    /* cuDNN's fused attention (bf16, aligned tensors): heads of 64 and
     * 128, T of no tile's multiple, causal and not. */
    DNN_ROW("heads = 1", 1, 17, 64, 2),
    DNN_ROW("heads = 2\ncausal = false", 2, 70, 64, 1),
    DNN_ROW("heads = 1", 1, 130, 128, 1),
    DNN_ROW("heads = 2\ncausal = false", 2, 9, 128, 2),
    /* auto: cuDNN in bf16 for heads of a multiple of 8 (8 to 64), the
     * tiled kernels in fp32 and where a tensor is not 16-byte aligned;
     * for heads of 1 to 7 features, the tiled kernels always. */
    {"attention", "heads = 2", 1, 2, 40, 1, 8, 1, 2, 0, -2, 2, 1, ATT_FP32,
     1, 0, ATT_DNN, 3 * 2 * 8, 1, 1, 0, 0, ATTENTION_RAN_CUDNN},
    {"attention", "heads = 2\ncausal = false", 1, 2, 20, 1, 7, 1, 2, 0, -2,
     2, 1, ATT_FP32, 1, 0, ATT_BF16, 3 * 2, 1, 1, 0, 0, ATTENTION_RAN_TILED},
};
#define NCASES ((int)(sizeof cases / sizeof *cases))
#define SHAPES_PER_CASE 4

/* The cases of a million elements are there for the grid-stride loops
 * going round, which bf16 changes nothing about; they take most of the
 * test's time on the emulator, so bf16 tries one shape of them. */
static int shapes(const gpu_case *gc, pp_precision precision)
{
    int big = gc->lead_lo >= 1000;
    return big && precision == PP_PRECISION_BF16 ? 1 : SHAPES_PER_CASE;
}

/* Plans `type` for one sample of each of the nin inputs, which must have
 * a CUDA half that runs the precision. */
static const pp_layer_ops *plan_cuda(const char *type, const char *keys,
                                     const pp_tensor_desc *in, int nin,
                                     pp_precision precision,
                                     pp_config **cfg, pp_layer_plan *plan)
{
    pp_error err;
    pp_error_clear(&err);
    const pp_layer_ops *ops;
    ck_assert_msg(plan_layer_in(reg, type, keys, in, nin, precision, cfg,
                                plan, &ops, &err) == PP_OK, "%s", err.msg);
    ck_assert_ptr_nonnull(ops->cuda);
    ck_assert(ops->precisions & PP_PRECISION_BIT(precision));
    return ops;
}

/* n values of dtype (PP_F32 or PP_BF16) holding v's, which are rounded
 * to bf16 in place first where dtype is bf16: what both halves read. */
static void *stored(float *v, int64_t n, pp_dtype dtype)
{
    void *s = host_alloc((size_t)n * pp_dtype_size(dtype));
    for (int64_t i = 0; dtype == PP_BF16 && i < n; i++)
        v[i] = pp_bf16_round(v[i]);
    pp_row_store(s, dtype, v, n);
    return s;
}

/* Every input gradient starts from dx0, not zero: both halves must add.
 * _i: case * 2 + (1 in bf16). The last two shapes of a case sit one
 * element past an aligned start, so the kernels' 16-byte packs are left
 * out (packed.h) there. */
START_TEST(test_against_cpu)
{
    const gpu_case *gc = &cases[_i / 2];
    pp_precision precision = _i % 2 ? PP_PRECISION_BF16 : PP_PRECISION_FP32;
    pp_dtype ft = pp_precision_dtype(precision);
    tol ty = _i % 2 ? gc->y16 : gc->y, tdx = _i % 2 ? gc->dx16 : gc->dx;
    tol tgrad = _i % 2 ? gc->grad16 : gc->grad;
    uint64_t rng = 2000 + (uint64_t)(_i / 2);
    int nin = gc->inputs > 1 ? gc->inputs : 1;
    int want = gc->expect; /* in bf16, aligned */
    if (gc->only16 && precision != PP_PRECISION_BF16)
        return;
    if (want == ATTENTION_RAN_CUDNN && !dnn_applies) {
        if (gc->only16) {
            fprintf(stderr, "test_layers_cuda: %s (%s): cuDNN's fused "
                    "attention does not apply on this GPU, skipped\n",
                    gc->type, gc->keys);
            return;
        }
        want = ATTENTION_RAN_TILED;
    }
    for (int rep = 0; rep < shapes(gc, precision); rep++) {
        pp_shape shape = {gc->lead + 1, {0}};
        for (int d = 0; d < gc->lead; d++)
            shape.dim[d] = rng_int(&rng, gc->lead_lo, gc->lead_hi);
        shape.ndim = gc->vocab ? gc->lead : gc->lead + 1;
        pp_tensor_desc in[LAYER_MAX_INPUTS];
        for (int i = 0; i < nin; i++) {
            if (!gc->vocab && (i == 0 || gc->own_last))
                shape.dim[gc->lead] =
                    rng_int(&rng, gc->last_lo, gc->last_hi) *
                    (gc->last_mult ? gc->last_mult : 1);
            in[i] = (pp_tensor_desc){gc->vocab ? PP_I32 : ft, shape};
        }
        int n = rng_int(&rng, gc->n_lo, gc->n_hi);
        pp_config *cfg;
        pp_layer_plan plan;
        const pp_layer_ops *ops = plan_cuda(gc->type, gc->keys, in, nin,
                                             precision, &cfg, &plan);
        char dims[64], ctx[256];
        snprintf(ctx, sizeof ctx, "%s (%s) in %s on n=%d x %s%s", gc->type,
                 gc->keys, pp_precision_name(precision), n,
                 pp_shape_format(&in[0].shape, dims, sizeof dims),
                 rep >= 2 && !gc->aligned ? ", unaligned" : "");
        int skew = rep >= 2 && !gc->aligned; /* elements */
        if (skew || precision != PP_PRECISION_BF16)
            want = want ? ATTENTION_RAN_TILED : 0;

        int64_t in_len[LAYER_MAX_INPUTS], most = 0;
        size_t x_bytes[LAYER_MAX_INPUTS], dx_bytes[LAYER_MAX_INPUTS];
        for (int i = 0; i < nin; i++) {
            in_len[i] = n * pp_shape_elements(&in[i].shape);
            x_bytes[i] = (size_t)in_len[i] * pp_dtype_size(in[i].dtype);
            dx_bytes[i] = (size_t)in_len[i] * pp_dtype_size(ft);
            most = in_len[i] > most ? in_len[i] : most;
        }
        pp_dtype yt = plan.out.dtype;
        int64_t out_len = plan.is_loss
                              ? 1 : n * pp_shape_elements(&plan.out.shape);
        size_t y_bytes = (size_t)out_len * pp_dtype_size(yt);
        most = out_len > most ? out_len : most;
        size_t saved_bytes = plan.saved_bytes * (size_t)n;
        size_t work_bytes = plan.workspace_bytes * (size_t)n;
        size_t target_bytes = 0;

        /* Host inputs, and the gradients' starting values, as stored
         * (float or bf16); cpu and got: one tensor as floats. */
        float *cpu = host_alloc((size_t)most * sizeof(float));
        float *got = host_alloc((size_t)most * sizeof(float));
        void *x[LAYER_MAX_INPUTS], *dx0[LAYER_MAX_INPUTS];
        void *dx[LAYER_MAX_INPUTS];
        for (int i = 0; i < nin; i++) {
            if (gc->vocab) {
                x[i] = host_alloc(x_bytes[i]);
                for (int64_t k = 0; k < in_len[i]; k++)
                    ((int32_t *)x[i])[k] = rng_int(&rng, 0, gc->vocab - 1);
            } else {
                fill_uniform(cpu, in_len[i], &rng, gc->lo, gc->hi);
                x[i] = stored(cpu, in_len[i], ft);
            }
            fill_uniform(cpu, in_len[i], &rng, -1.0, 1.0);
            dx0[i] = stored(cpu, in_len[i], ft);
            dx[i] = host_alloc(dx_bytes[i]);
            memcpy(dx[i], dx0[i], dx_bytes[i]);
        }
        fill_uniform(cpu, out_len, &rng, -1.0, 1.0);
        void *dy = stored(cpu, out_len, yt);
        void *target = NULL;
        if (plan.is_loss) {
            int64_t t = n * pp_shape_elements(&plan.target.shape);
            target_bytes = (size_t)t * 4; /* int32 or float */
            target = host_alloc(target_bytes);
            if (plan.target.dtype == PP_I32)
                for (int64_t i = 0; i < t; i++)
                    ((int32_t *)target)[i] = rng_int(
                        &rng, 0, (int)shape.dim[shape.ndim - 1] - 1);
            else
                fill_uniform(target, t, &rng, gc->lo, gc->hi);
        }
        int np = plan.nparams;
        int64_t *param_len = host_alloc((size_t)np * sizeof *param_len);
        float **param = host_alloc((size_t)np * sizeof *param);
        float **grad0 = host_alloc((size_t)np * sizeof *grad0);
        float **grad = host_alloc((size_t)np * sizeof *grad);
        float **d_param = host_alloc((size_t)np * sizeof *d_param);
        float **d_grad = host_alloc((size_t)np * sizeof *d_grad);
        for (int p = 0; p < np; p++) {
            param_len[p] = pp_shape_elements(&plan.params[p].shape);
            size_t b = (size_t)param_len[p] * sizeof(float);
            param[p] = host_alloc(b);
            grad0[p] = host_alloc(b);
            fill_uniform(param[p], param_len[p], &rng, -1.0, 1.0);
            fill_uniform(grad0[p], param_len[p], &rng, -1.0, 1.0);
            grad[p] = host_alloc(b);
            memcpy(grad[p], grad0[p], b);
        }
        pp_layer_call base = {
            .plan = &plan, .nin = nin, .in = in, .n = n, .loss_scale = 0.37,
            .seed = rng_next(&rng), .sample0 = rng_int(&rng, 0, 5),
            .training = gc->training, .precision = precision};
        const void *dy_arg = plan.is_loss ? NULL : dy;
        pp_error err;
        pp_error_clear(&err);

        /* The CPU: the reference. */
        const pp_layer_kernels *cpuk = ops->cpu, *gpu = ops->cuda;
        void *y = host_alloc(y_bytes);
        void *saved = host_alloc(saved_bytes);
        void *work = host_alloc(work_bytes);
        pp_layer_call c = base;
        c.param = (const float *const *)param, c.grad = grad;
        c.saved = saved, c.workspace = work, c.target = target;
        const void *const *cx = (const void *const *)x;
        ck_assert_msg(cpuk->forward(&c, cx, y, &err) == PP_OK, "%s", err.msg);
        if (cpuk->backward_input)
            ck_assert_msg(cpuk->backward_input(&c, cx, y, dy_arg,
                                               (void *const *)dx, &err) ==
                              PP_OK, "%s", err.msg);
        if (cpuk->backward_weight)
            ck_assert_msg(cpuk->backward_weight(&c, cx, y, dy_arg, &err) ==
                              PP_OK, "%s", err.msg);

        /* The GPU, on the same inputs. */
        void *d_x[LAYER_MAX_INPUTS], *d_dx[LAYER_MAX_INPUTS];
        size_t x_skew[LAYER_MAX_INPUTS], f_skew = skew * pp_dtype_size(ft);
        size_t y_skew = skew * pp_dtype_size(yt);
        for (int i = 0; i < nin; i++) {
            x_skew[i] = skew * pp_dtype_size(in[i].dtype);
            d_x[i] = to_device_at(x[i], x_bytes[i], x_skew[i]);
            d_dx[i] = to_device_at(dx0[i], dx_bytes[i], f_skew);
        }
        void *d_y = to_device_at(NULL, y_bytes, y_skew);
        void *d_y_cpu = to_device_at(y, y_bytes, y_skew);
        void *d_dy = to_device_at(dy, y_bytes, y_skew);
        void *d_saved = to_device(NULL, saved_bytes);
        void *d_work = to_device(NULL, work_bytes);
        void *d_target = target ? to_device(target, target_bytes) : NULL;
        for (int p = 0; p < np; p++) {
            size_t b = (size_t)param_len[p] * sizeof(float);
            d_param[p] = to_device(param[p], b);
            d_grad[p] = to_device(grad0[p], b);
        }
        pp_layer_call g = base;
        g.param = (const float *const *)d_param, g.grad = d_grad;
        g.saved = d_saved, g.workspace = d_work, g.target = d_target;
        g.stream = stream, g.dnn = dnn;
        void *state = NULL;
        if (gpu->init) {
            pp_layer_call ic = base; /* no buffers, as the core makes it */
            ic.stream = stream, ic.dnn = dnn;
            ck_assert_msg(gpu->init(&ic, &state, &err) == PP_OK, "%s: %s",
                          ctx, err.msg);
            g.state = state;
        }
        const attention_cuda_report *ran = want ? state : NULL;
        const void *const *gx = (const void *const *)d_x;
        ck_assert_msg(gpu->forward(&g, gx, d_y, &err) == PP_OK, "%s: %s",
                      ctx, err.msg);
        to_host_as(got, d_y, out_len, yt);
        pp_row_load(cpu, y, yt, out_len);
        if (ran)
            ck_assert_msg(ran->forward == want, "%s: forward ran %d, not %d",
                          ctx, ran->forward, want);
        expect_close("y", ctx, got, cpu, out_len, ty);
        if (gc->rerun) {
            void *d_y2 = to_device_at(NULL, y_bytes, y_skew);
            pp_layer_call g2 = g;
            g2.saved = to_device(NULL, saved_bytes);
            ck_assert_msg(gpu->forward(&g2, gx, d_y2, &err) == PP_OK,
                          "%s: %s", ctx, err.msg);
            expect_same_bits("y", ctx, d_y, d_y2, y_bytes);
            expect_same_bits("saved", ctx, d_saved, g2.saved, saved_bytes);
            device_free_at(d_y2, y_skew);
            CK_CUDA(cudaFree(g2.saved));
        }

        /* layernorm keeps (mean, rstd) a row, attention a log-sum-exp a
         * head and position, the CPU's layouts: compare, then give
         * backward the CPU's. The losses' saved is the GPU's scratch, not
         * compared. */
        if (gc->saved_flat) {
            int64_t count = (int64_t)(saved_bytes / sizeof(float));
            float *st = host_alloc(saved_bytes);
            to_host(st, d_saved, saved_bytes);
            expect_close("saved", ctx, st, saved, count, gc->y);
            free(st);
            CK_CUDA(cudaMemcpy(d_saved, saved, saved_bytes,
                               cudaMemcpyHostToDevice));
        } else if (!plan.is_loss && saved_bytes) {
            int64_t rows = (int64_t)(saved_bytes / (2 * sizeof(float)));
            float *st = host_alloc(saved_bytes), *cs = saved;
            float *gm = host_alloc(saved_bytes), *cm = host_alloc(saved_bytes);
            to_host(st, d_saved, saved_bytes);
            for (int64_t r = 0; r < rows; r++) {
                gm[r] = st[2 * r], cm[r] = cs[2 * r];
                gm[rows + r] = st[2 * r + 1], cm[rows + r] = cs[2 * r + 1];
            }
            expect_close("mean", ctx, gm, cm, rows, (tol){1e-4, 1, 0});
            expect_close("rstd", ctx, gm + rows, cm + rows, rows,
                         (tol){1e-5, 0, 0});
            free(st), free(gm), free(cm);
            CK_CUDA(cudaMemcpy(d_saved, saved, saved_bytes,
                               cudaMemcpyHostToDevice));
        }
        const void *d_dy_arg = plan.is_loss ? NULL : d_dy;
        if (gpu->backward_input) {
            ck_assert_msg(gpu->backward_input(&g, gx, d_y_cpu, d_dy_arg,
                                              d_dx, &err) == PP_OK,
                          "%s: %s", ctx, err.msg);
            if (ran)
                ck_assert_msg(ran->backward == want, "%s: backward ran %d, "
                              "not %d", ctx, ran->backward, want);
            for (int i = 0; i < nin; i++) {
                to_host_as(got, d_dx[i], in_len[i], ft);
                pp_row_load(cpu, dx[i], ft, in_len[i]);
                expect_close("dx", ctx, got, cpu, in_len[i], tdx);
            }
            for (int i = 0; gc->rerun && i < nin; i++) {
                void *again[LAYER_MAX_INPUTS] = {0};
                again[i] = to_device_at(dx0[i], dx_bytes[i], f_skew);
                ck_assert_msg(gpu->backward_input(&g, gx, d_y_cpu, d_dy_arg,
                                                  again, &err) == PP_OK,
                              "%s: %s", ctx, err.msg);
                expect_same_bits("dx", ctx, d_dx[i], again[i], dx_bytes[i]);
                device_free_at(again[i], f_skew);
            }
        }
        ck_assert((cpuk->backward_input == NULL) ==
                  (gpu->backward_input == NULL));
        ck_assert((cpuk->backward_weight == NULL) ==
                  (gpu->backward_weight == NULL));
        if (gpu->backward_weight) {
            ck_assert_msg(gpu->backward_weight(&g, gx, d_y_cpu, d_dy_arg,
                                               &err) == PP_OK,
                          "%s: %s", ctx, err.msg);
            for (int p = 0; p < np; p++) {
                float *gg = host_alloc((size_t)param_len[p] * sizeof(float));
                to_host(gg, d_grad[p], (size_t)param_len[p] * sizeof(float));
                char what[64];
                snprintf(what, sizeof what, "d%s", plan.params[p].name);
                expect_close(what, ctx, gg, grad[p], param_len[p], tgrad);
                free(gg);
            }
        }

        if (state)
            gpu->destroy(state);
        for (int p = 0; p < np; p++) {
            CK_CUDA(cudaFree(d_param[p]));
            CK_CUDA(cudaFree(d_grad[p]));
            free(param[p]);
            free(grad0[p]);
            free(grad[p]);
        }
        free(param_len), free(param), free(grad0), free(grad);
        free(d_param), free(d_grad);
        for (int i = 0; i < nin; i++) {
            device_free_at(d_x[i], x_skew[i]);
            device_free_at(d_dx[i], f_skew);
            free(x[i]), free(dx0[i]), free(dx[i]);
        }
        device_free_at(d_y, y_skew);
        device_free_at(d_y_cpu, y_skew);
        device_free_at(d_dy, y_skew);
        CK_CUDA(cudaFree(d_saved));
        CK_CUDA(cudaFree(d_work));
        CK_CUDA(cudaFree(d_target));
        free(dy), free(target), free(y), free(saved), free(work);
        free(cpu), free(got);
        pp_layer_plan_release(&plan);
        pp_config_free(cfg);
    }
}
END_TEST

/* A bad id or target cannot be refused from a kernel: it must never be
 * read or written through, and it must poison what depends on it (NaN),
 * so the step's loss is NaN and training stops. */
START_TEST(test_bad_ids)
{
    pp_tensor_desc in = {PP_I32, {1, {4}}};
    pp_config *cfg;
    pp_layer_plan plan;
    const pp_layer_ops *ops = plan_cuda("embedding", "vocab = 10\ndim = 3",
                                         &in, 1, PP_PRECISION_FP32, &cfg,
                                         &plan);
    const int32_t bad[] = {10, -1};
    for (int b = 0; b < 2; b++) {
        int32_t ids[8] = {0, 1, 2, 9, 3, 0, 5, 6};
        float w[30], g0[30], gc[30], y[24], dy[24], got[30];
        uint64_t rng = 31;
        fill_uniform(w, 30, &rng, -1, 1);
        fill_uniform(g0, 30, &rng, -1, 1);
        memcpy(gc, g0, sizeof gc);
        fill_uniform(dy, 24, &rng, -1, 1);
        /* The reference: the bad token's gradient left out, i.e. a zero
         * dy row added to row 0, in the same order. */
        const float *param[1] = {w};
        float *grad[1] = {gc};
        float dy0[24];
        memcpy(dy0, dy, sizeof dy);
        memset(dy0 + 15, 0, 3 * sizeof(float));
        pp_layer_call c = {.plan = &plan, .nin = 1, .in = &in, .n = 2,
                           .param = param, .grad = grad};
        pp_error err;
        pp_error_clear(&err);
        const void *xs[1] = {ids};
        ck_assert_int_eq(ops->cpu->forward(&c, xs, y, &err), PP_OK);
        ck_assert_int_eq(ops->cpu->backward_weight(&c, xs, y, dy0, &err),
                         PP_OK);

        ids[5] = bad[b];
        float *d_w = to_device(w, sizeof w), *d_g = to_device(g0, sizeof g0);
        float *d_dy = to_device(dy, sizeof dy), *d_y = to_device(NULL, 96);
        int32_t *d_ids = to_device(ids, sizeof ids);
        const float *d_param[1] = {d_w};
        float *d_grad[1] = {d_g};
        const void *d_xs[1] = {d_ids};
        pp_layer_call g = c;
        g.param = d_param, g.grad = d_grad, g.stream = stream;
        ck_assert_int_eq(ops->cuda->forward(&g, d_xs, d_y, &err), PP_OK);
        to_host(got, d_y, 24 * sizeof(float));
        for (int i = 0; i < 24; i++)
            if (i / 3 == 5)
                ck_assert_msg(isnan(got[i]), "y[%d] = %g, not NaN", i,
                              got[i]);
            else
                ck_assert_float_eq(got[i], y[i]);
        ck_assert_int_eq(ops->cuda->backward_weight(&g, d_xs, d_y, d_dy,
                                                    &err), PP_OK);
        to_host(got, d_g, 30 * sizeof(float));
        expect_close("dweight", "embedding with a bad id", got, grad[0], 30,
                     EXACT);
        CK_CUDA(cudaFree(d_w));
        CK_CUDA(cudaFree(d_g));
        CK_CUDA(cudaFree(d_dy));
        CK_CUDA(cudaFree(d_y));
        CK_CUDA(cudaFree(d_ids));
    }
    pp_layer_plan_release(&plan);
    pp_config_free(cfg);

    in = (pp_tensor_desc){PP_F32, {1, {3}}};
    ops = plan_cuda("softmax_xent", "", &in, 1, PP_PRECISION_FP32, &cfg,
                    &plan);
    float x[12], dx[12], loss;
    uint64_t rng = 32;
    fill_uniform(x, 12, &rng, -1, 1);
    int32_t t[4] = {0, 1, 3, 2};
    /* dx starts at zero: backward adds to it. */
    const float zero[12] = {0};
    float *d_x = to_device(x, sizeof x), *d_dx = to_device(zero, sizeof dx);
    const void *d_xs[1] = {d_x};
    void *d_dxs[1] = {d_dx};
    float *d_loss = to_device(NULL, sizeof loss);
    int32_t *d_t = to_device(t, sizeof t);
    void *d_saved = to_device(NULL, plan.saved_bytes * 4);
    pp_layer_call g = {.plan = &plan, .nin = 1, .in = &in, .n = 4,
                       .saved = d_saved, .target = d_t, .loss_scale = 0.25,
                       .stream = stream};
    pp_error err;
    pp_error_clear(&err);
    ck_assert_int_eq(ops->cuda->forward(&g, d_xs, d_loss, &err), PP_OK);
    to_host(&loss, d_loss, sizeof loss);
    ck_assert_msg(isnan(loss), "loss %g with a bad target, not NaN",
                  (double)loss);
    ck_assert_int_eq(ops->cuda->backward_input(&g, d_xs, d_loss, NULL, d_dxs,
                                               &err), PP_OK);
    to_host(dx, d_dx, sizeof dx);
    for (int i = 0; i < 12; i++)
        ck_assert_msg(isnan(dx[i]) == (i / 3 == 2), "dx[%d] = %g", i,
                      (double)dx[i]);
    CK_CUDA(cudaFree(d_x));
    CK_CUDA(cudaFree(d_dx));
    CK_CUDA(cudaFree(d_loss));
    CK_CUDA(cudaFree(d_t));
    CK_CUDA(cudaFree(d_saved));
    pp_layer_plan_release(&plan);
    pp_config_free(cfg);
}
END_TEST

/* One bf16 attention call on n samples of [T, 3 hs heads] with keys, on
 * fresh device buffers (x random, the rest NaN): its plan, state (NULL
 * where init refused, err then saying why) and buffers. */
typedef struct att_call {
    pp_config *cfg;
    pp_layer_plan plan;
    pp_tensor_desc in;
    const pp_layer_ops *ops;
    pp_layer_call c;
    void *x, *y, *dy, *dx;
    pp_status init;
} att_call;

static void att_open(att_call *a, const char *keys, int T, int d, int n,
                     void *handle, pp_error *err)
{
    memset(a, 0, sizeof *a);
    a->in = (pp_tensor_desc){PP_BF16, {2, {T, 3 * d}}};
    a->ops = plan_cuda("attention", keys, &a->in, 1, PP_PRECISION_BF16,
                       &a->cfg, &a->plan);
    size_t xb = (size_t)n * T * 3 * d * 2, yb = (size_t)n * T * d * 2;
    float *h = host_alloc((size_t)n * T * 3 * d * sizeof *h);
    uint64_t rng = 77;
    fill_uniform(h, (int64_t)n * T * 3 * d, &rng, -1, 1);
    void *hx = stored(h, (int64_t)n * T * 3 * d, PP_BF16);
    a->x = to_device(hx, xb), a->dx = to_device(hx, xb);
    a->y = to_device(NULL, yb), a->dy = to_device(hx, yb);
    free(h), free(hx);
    a->c = (pp_layer_call){.plan = &a->plan, .nin = 1, .in = &a->in, .n = n,
                           .training = 1, .stream = stream, .dnn = handle,
                           .precision = PP_PRECISION_BF16};
    a->init = a->ops->cuda->init(&a->c, &a->c.state, err);
    a->c.saved = to_device(NULL, a->plan.saved_bytes * (size_t)n);
    a->c.workspace = to_device(NULL, a->plan.workspace_bytes * (size_t)n);
}

static void att_close(att_call *a)
{
    if (a->c.state)
        a->ops->cuda->destroy(a->c.state);
    CK_CUDA(cudaStreamSynchronize(stream));
    CK_CUDA(cudaFree(a->x));
    CK_CUDA(cudaFree(a->dx));
    CK_CUDA(cudaFree(a->y));
    CK_CUDA(cudaFree(a->dy));
    CK_CUDA(cudaFree(a->c.saved));
    CK_CUDA(cudaFree(a->c.workspace));
    pp_layer_plan_release(&a->plan);
    pp_config_free(a->cfg);
}

/* Runs forward and backward_input; PP_OK or the first error. */
static pp_status att_run(att_call *a, const void *x, pp_error *err)
{
    const void *xs[1] = {x};
    void *dxs[1] = {a->dx};
    pp_status st = a->ops->cuda->forward(&a->c, xs, a->y, err);
    if (!st)
        st = a->ops->cuda->backward_input(&a->c, xs, a->y, a->dy, dxs, err);
    CK_CUDA(cudaStreamSynchronize(stream));
    return st;
}

static int ran_both(const att_call *a, int which)
{
    const attention_cuda_report *r = a->c.state;
    return r && r->forward == which && r->backward == which;
}

/* When cuDNN's path does not run: kernels = cudnn fails, naming the
 * reason (at init, where its plans for the call's samples are made, or
 * at the call), where auto runs the tiled kernels. */
START_TEST(test_attention_paths)
{
    att_call a;
    pp_error err;
    pp_error_clear(&err);
    /* No cuDNN handle on the rank: init refuses kernels = cudnn. */
    att_open(&a, "heads = 1\nkernels = cudnn", 16, 64, 1, NULL, &err);
    ck_assert_int_eq(a.init, PP_ERR_DEVICE);
    ck_assert_msg(strstr(err.msg, "kernels = cudnn") &&
                  (strstr(err.msg, "no cuDNN handle") ||
                   strstr(err.msg, "built without cuDNN")), "%s", err.msg);
    att_close(&a);
    att_open(&a, "heads = 1", 16, 64, 1, NULL, &err);
    ck_assert_int_eq(a.init, PP_OK);
    ck_assert_int_eq(att_run(&a, a.x, &err), PP_OK);
    ck_assert(ran_both(&a, ATTENTION_RAN_TILED));
    att_close(&a);
    if (!dnn_applies)
        return;

    /* x one element off 16-byte alignment. */
    att_open(&a, "heads = 1\nkernels = cudnn", 16, 64, 1, dnn, &err);
    ck_assert_int_eq(a.init, PP_OK);
    ck_assert_int_eq(att_run(&a, a.x, &err), PP_OK);
    ck_assert(ran_both(&a, ATTENTION_RAN_CUDNN));
    void *off = to_device_at(NULL, (size_t)16 * 192 * 2, 2);
    ck_assert_int_eq(att_run(&a, off, &err), PP_ERR_DEVICE);
    ck_assert_msg(strstr(err.msg, "attention (kernels = cudnn)") &&
                  strstr(err.msg, "not 16-byte aligned"), "%s", err.msg);
    att_close(&a);
    att_open(&a, "heads = 1", 16, 64, 1, dnn, &err);
    ck_assert_int_eq(att_run(&a, off, &err), PP_OK);
    ck_assert(ran_both(&a, ATTENTION_RAN_TILED));
    att_close(&a);
    device_free_at(off, 2);
    if (!emulated)
        return;

    /* The emulator playing a cuDNN without an engine for the graph, then
     * one whose engines need more workspace than the device has. */
    static const struct {
        const char *var, *value, *msg;
    } miss[] = {
        {"PIPETTE_EMU_DNN_NO_ENGINE", "1", "has no engine"},
        {"PIPETTE_EMU_DNN_WORKSPACE", "1000000000000",
         "no more could be allocated"},
    };
    for (int i = 0; i < 2; i++) {
        setenv(miss[i].var, miss[i].value, 1);
        att_open(&a, "heads = 2\ncausal = false\nkernels = cudnn", 9, 128,
                 2, dnn, &err);
        ck_assert_int_eq(a.init, PP_ERR_DEVICE); /* init plans for n */
        ck_assert_msg(strstr(err.msg, "kernels = cudnn") &&
                      strstr(err.msg, miss[i].msg), "%s", err.msg);
        att_close(&a);
        att_open(&a, "heads = 2\ncausal = false", 9, 128, 2, dnn, &err);
        ck_assert_int_eq(att_run(&a, a.x, &err), PP_OK);
        ck_assert(ran_both(&a, ATTENTION_RAN_TILED));
        att_close(&a);
        unsetenv(miss[i].var);
    }
    /* Engines needing more workspace than the layer's, which init
     * allocates. */
    setenv("PIPETTE_EMU_DNN_WORKSPACE", "67108864", 1);
    att_open(&a, "heads = 2\nkernels = cudnn", 9, 128, 2, dnn, &err);
    ck_assert_msg(a.init == PP_OK, "%s", err.msg);
    ck_assert_int_eq(att_run(&a, a.x, &err), PP_OK);
    ck_assert(ran_both(&a, ATTENTION_RAN_CUDNN));
    att_close(&a);
    unsetenv("PIPETTE_EMU_DNN_WORKSPACE");
}
END_TEST

static Suite *layers_cuda_suite(void)
{
    Suite *s = suite_create("layers_cuda");
    TCase *tc = tcase_create("gpu");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_against_cpu, 0, 2 * NCASES);
    tcase_add_test(tc, test_bad_ids);
    tcase_add_test(tc, test_attention_paths);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int n = 0;
    cudaError_t rc = cudaGetDeviceCount(&n);
    if (rc != cudaSuccess || n == 0) {
        const char *why = rc != cudaSuccess ? cudaGetErrorString(rc)
                                            : "no CUDA device";
        return pp_test_no_gpu("test_layers_cuda", why);
    }
    pp_test_watchdog();
    pp_error err;
    pp_error_clear(&err);
    if (pp_registry_create(NULL, &reg, &err) != PP_OK) {
        fprintf(stderr, "test_layers_cuda: %s\n", err.msg);
        return EXIT_FAILURE;
    }
    if (cudaSetDevice(0) != cudaSuccess ||
        cudaStreamCreate(&stream) != cudaSuccess) {
        fprintf(stderr, "test_layers_cuda: no stream on GPU 0\n");
        return EXIT_FAILURE;
    }
    struct cudaDeviceProp prop;
    if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess) {
        fprintf(stderr, "test_layers_cuda: no properties of GPU 0\n");
        return EXIT_FAILURE;
    }
    emulated = strcmp(prop.name, "pipette CUDA emulator") == 0;
#ifdef HAVE_CUDNN
    cudnnHandle_t h;
    if (cudnnCreate(&h) != CUDNN_STATUS_SUCCESS ||
        cudnnSetStream(h, stream) != CUDNN_STATUS_SUCCESS) {
        fprintf(stderr, "test_layers_cuda: no cuDNN handle on GPU 0\n");
        return EXIT_FAILURE;
    }
    dnn = h;
    /* attention.cu's rule: cuDNN 9.16 or newer, compute capability 8.x
     * or 9.x. */
    dnn_applies = cudnnGetVersion() >= 91600 &&
                  (prop.major == 8 || prop.major == 9);
#endif
    SRunner *sr = srunner_create(layers_cuda_suite());
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
#ifdef HAVE_CUDNN
    cudnnDestroy((cudnnHandle_t)dnn);
#endif
    cudaStreamDestroy(stream);
    pp_registry_free(reg);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
