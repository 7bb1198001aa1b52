/* tests/test_linear_optim_cuda.c - the CUDA halves of linear (cuBLASLt)
 * and of the sgd and adamw optimizers (fused kernels) against their CPU
 * halves, on random data.
 *
 * Without a GPU it exits 77 (automake's SKIP) and says why, unless
 * PIPETTE_REQUIRE_GPU=1, when a missing GPU is a failure. main() asks CUDA
 * for the device count and creates a stream, as the runtime does for a
 * rank, so CUDA lives in this process: Check runs the tests in-process
 * (CK_NOFORK), since a forked child cannot use its parent's CUDA context.
 * linear makes its own cuBLASLt handle, in its init.
 *
 * linear, in fp32, tf32 and bf16: the GPU sums its products in another
 * order (and cuBLASLt may split them), so results are compared against a
 * bound, not bit for bit; see bound(). With activation = gelu also the
 * saved pre-activation (cuBLASLt's aux matrix, or its D where the layer
 * falls back to a kernel of its own), and y and the gradients through
 * gelu's tanhf, which differs between the devices; see gelu_bound();
 * and dpre, which the first backward leaves in saved for the other (the
 * backwards in either order, case by case), and a recomputed forward's
 * backward_input, which must make dpre again. y starts as a NaN pattern
 * on the device, and in bf16 so do the FP32 parameters on both devices, so a
 * kernel that reads what it should not fails.
 * Optimizers: the kernels round every operation as the CPU loop does
 * (optim_cuda.cu), so parameters and state must agree bit for bit after
 * every step.
 *
 * Plugins come from the build tree through the registry and are planned
 * from real sections, as in test_layers.c and test_optimizers.c.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cuda_runtime_api.h>

#include <check.h>

#include <pipette/cuda.h>
#include <pipette/pipette.h>

#include "config_file.h"
#include "plugin_plan.h"
#include "registry.h"
#include "gpu_skip.h"

static pp_registry *reg;
static cudaStream_t stream;
static int tf32_capable; /* compute capability 8.0 or newer */

/* ---- helpers ---------------------------------------------------------- */

#define CUDA_OK(call)                                                       \
    do {                                                                    \
        pp_error e_;                                                        \
        ck_assert_msg(PP_CUDA_CHECK(call, &e_) == PP_OK, "%s", e_.msg);     \
    } while (0)

/* splitmix64, uniform in [-1, 1): seeded per test so failures replay. */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static void fill_uniform(float *p, size_t n, uint64_t *rng)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (float)((double)(rng_next(rng) >> 11) * 0x1p-52 - 1.0);
}

static float *host_floats(size_t n)
{
    float *p = calloc(n ? n : 1, sizeof *p);
    ck_assert_ptr_nonnull(p);
    return p;
}

/* n floats from host into device memory d, landed before the next kernel
 * on `stream`: cudaMemcpy from pageable memory may return before its DMA
 * is done, and the non-blocking stream never waits for the default one. */
static void upload(float *d, const float *host, size_t n)
{
    CUDA_OK(cudaMemcpy(d, host, n * sizeof(float), cudaMemcpyHostToDevice));
    CUDA_OK(cudaDeviceSynchronize());
}

/* A device copy of host (n floats), or n floats of a NaN pattern when host
 * is NULL. */
static float *device_floats(const float *host, size_t n)
{
    void *d = NULL;
    CUDA_OK(cudaMalloc(&d, (n ? n : 1) * sizeof(float)));
    if (host) {
        upload(d, host, n);
    } else { /* cudaMemset too may return before it has run */
        CUDA_OK(cudaMemset(d, 0xff, (n ? n : 1) * sizeof(float)));
        CUDA_OK(cudaDeviceSynchronize());
    }
    return d;
}

static void to_host(float *host, const float *dev, size_t n)
{
    CUDA_OK(cudaStreamSynchronize(stream));
    CUDA_OK(cudaMemcpy(host, dev, n * sizeof(float), cudaMemcpyDeviceToHost));
}

/* Writes text to a temporary INI file and loads it. */
static pp_config *load_config(const char *text)
{
    const char *dir = getenv("TMPDIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/pp-cudalin-XXXXXX",
             dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    FILE *f = fdopen(fd, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
    pp_config *cfg = NULL;
    pp_error err;
    pp_error_clear(&err);
    pp_status st = pp_config_load(path, &cfg, &err);
    unlink(path);
    ck_assert_msg(st == PP_OK, "%s", err.msg);
    return cfg;
}

static const pp_plugin_desc *find_plugin(pp_plugin_kind kind,
                                         const char *name)
{
    const pp_plugin *p;
    pp_error err;
    pp_error_clear(&err);
    ck_assert_msg(pp_registry_find(reg, kind, name, &p, &err) == PP_OK, "%s",
                  err.msg);
    return p->desc;
}

/* ---- linear ------------------------------------------------------------ */

/* The core's key for a layer section, so `type = linear` validates. */
static const pp_key layer_core[] = {
    {"type", PP_KEY_STRING, PP_KEY_REQUIRED, PP_NO_RANGE, NULL, NULL, NULL},
    {0},
};

/* Odd sizes (no multiple of 4 or 8: cuBLASLt's unaligned paths), a shape
 * with rows per sample > 1, one output unit, and one case large enough for
 * tensor-core GEMMs and, with 300 rows, a long sum in backward_weight. */
static const struct lin_case {
    pp_shape shape; /* one sample */
    int units, bias, n;
    int gelu; /* activation = gelu */
} lin_cases[] = {
    {{1, {37}}, 29, 1, 5, 0},
    {{2, {7, 33}}, 65, 1, 3, 0},
    {{1, {3}}, 5, 0, 1, 0},
    {{2, {4, 129}}, 1, 0, 2, 0},
    {{3, {2, 3, 17}}, 11, 1, 4, 0},
    {{2, {75, 256}}, 384, 1, 4, 0},
    /* activation = gelu: units a multiple of 8 take the GELU_AUX_BIAS
     * epilogue (GELU_AUX without a bias), others the BIAS matmul and the
     * layer's own kernel; every other case unaligned. */
    {{1, {37}}, 24, 1, 5, 1},
    {{2, {7, 33}}, 65, 1, 3, 1},
    {{2, {4, 129}}, 16, 0, 2, 1},
    {{2, {20, 64}}, 128, 1, 2, 1},
    {{3, {2, 3, 17}}, 11, 0, 4, 1},
};
#define NLIN (int)(sizeof lin_cases / sizeof *lin_cases)

/* Each case runs in every precision, and again in fp32 and bf16 on a
 * cuBLASLt without bias-gradient kernels (the emulator plays one where
 * PIPETTE_EMU_LT_NO_BGRAD=1; a GPU's library ignores it), where the layer
 * sums dy's rows with its own kernel. */
static const struct lin_variant {
    pp_precision precision;
    int no_bgrad;
} lin_variants[] = {
    {PP_PRECISION_FP32, 0}, {PP_PRECISION_TF32, 0}, {PP_PRECISION_BF16, 0},
    {PP_PRECISION_FP32, 1}, {PP_PRECISION_BF16, 1},
};
#define NVAR (int)(sizeof lin_variants / sizeof *lin_variants)

static double mag(double v)
{
    return v < 0 ? -v : v;
}

/* Compares one result element computed on both devices as c + the sum of
 * k products a_j b_j, where S = |c| + sum |a_j b_j| (in double).
 *
 * Any order of summing k products and c in FP32 (the CPU's lanes and
 * blocks, cuBLASLt's tiles and split-K) is within gamma(k + 1) S of the
 * exact value, gamma(m) = m u / (1 - m u) with u = 2^-24, so the two
 * devices are within 2 gamma(k + 1) S of each other: a bound that scales
 * with the terms' sizes rather than the result's, which may cancel to
 * near zero. TF32 rounds each input to 10 mantissa bits first (relative
 * error at most 2^-10 even when it truncates), so each product moves by
 * at most (2^-9 + 2^-20) |a_j b_j| before the FP32 sum: that is added to
 * the bound when tf32 is on.
 *
 * bf16: both devices read the same bf16 values, whose products FP32
 * holds exactly, and sum them in FP32; the GPU on tensor cores, whose
 * sums may truncate instead of rounding (Fasi, Higham, Mikaitis and
 * Pranesh, 2021), so its gamma takes 2u. y and dx are then rounded once
 * to bf16 on each device: sums that differ by the FP32 bound may round
 * to neighbouring bf16 values, so bound16() adds one bf16 ulp of the
 * larger output (half an ulp each). dW and db stay FP32. */
static double bound(int64_t k, double s, double s_products,
                    pp_precision precision)
{
    double m = (double)(k + 1) * 0x1p-24;
    double g = precision == PP_PRECISION_BF16 ? 2 * m : m;
    double b = (m / (1 - m) + g / (1 - g)) * s;
    if (precision == PP_PRECISION_TF32)
        b += (0x1p-9 + 0x1p-20) * s_products;
    return b;
}

/* One bf16 ulp at v's magnitude: 2^-7 of the power of two at or below. */
static double ulp16(double v)
{
    return v != 0 ? ldexp(1.0, ilogb(mag(v)) - 7) : 0;
}

/* A bf16 result's bound: b, the sums' own, and one bf16 ulp at the
 * larger of the two. */
static double bound16(double b, float gpu, float cpu)
{
    return b + ulp16(fmax(mag(gpu), mag(cpu)));
}

/* gelu (gelu.h) on the two devices: FP32 operations rounded alike
 * (--fmad=false), but tanhf within 2 ulp of tanh on each (CUDA's and
 * glibc's documented bounds), so t = tanh(...) within 2^-22 of each
 * other where |t| < 1. gelu = 0.5 v (1 + t) moves by 0.5 |v| that;
 * gelu' = 0.5 (1 + t) + 0.5 v (1 - t^2) s (1 + 3 c v^2) by
 * |0.5 - v t s (1 + 3 c v^2)| that, under 1 + |v| (1 + 0.14 v^2)
 * times it (s = 0.798, c = 0.0447), and a few roundings of terms of
 * that size. gelu_bound(v) is 2^-21 (1 + |v|), twice and more what
 * gelu's difference can be, and gelu_grad_bound(v) 2^-21 times the
 * second factor: per unit of dy. gelu' is at most 1.13 in size, so a
 * difference e in pre moves gelu(pre) by 1.13 e at most. A wrong
 * formula (a factor, a term, the erf form) is off by 1e-3 or more. */
#define GELU_SLOPE 1.13

static double gelu_bound(double v)
{
    return 0x1p-21 * (1 + mag(v));
}

static double gelu_grad_bound(double v)
{
    return 0x1p-21 * (1 + mag(v) * (1 + 0.14 * v * v));
}

/* dy gelu'(v), in double: the reference's size. */
static double gelu_grad_ref(double dy, double v)
{
    const double s = 0.7978845608028654, c = 0.044715;
    double t = tanh(s * (v + c * v * v * v));
    return dy * (0.5 * (1 + t) + 0.5 * v * (1 - t * t) * s *
                                     (1 + 3 * c * v * v));
}

typedef struct worst {
    double ratio; /* largest |gpu - cpu| / bound seen */
} worst;

static void check_close(const char *what, int64_t at, float gpu, float cpu,
                        double b, worst *w)
{
    double diff = mag((double)gpu - (double)cpu);
    /* Not ck_assert_msg, which writes to a file each time: one per
     * element made this test take minutes. */
    if (!(diff <= b))
        ck_abort_msg("%s[%lld]: gpu %a, cpu %a, |diff| %g > bound %g", what,
                     (long long)at, (double)gpu, (double)cpu, diff, b);
    if (b > 0 && diff / b > w->ratio)
        w->ratio = diff / b;
}

/* n values of dtype (FP32, or bf16 rounded from host) in host memory. */
static void *host_values(const float *host, size_t n, pp_dtype dtype)
{
    void *p = calloc(n ? n : 1, dtype == PP_BF16 ? 2 : 4);
    ck_assert_ptr_nonnull(p);
    pp_row_store(p, dtype, host, (int64_t)n);
    return p;
}

/* Device memory for tensors end to end, after `pad` bytes, as a stage's
 * one allocation holds its parameters (a tensor's alignment is then its
 * offset's): n tensors of bytes[k], copied from host[k] (NULL: a NaN
 * pattern), landed (see upload()). Returns the allocation; at[k] is
 * tensor k. */
static void *device_run(int n, const void *const *host, const size_t *bytes,
                        size_t pad, void **at)
{
    size_t total = pad;
    for (int k = 0; k < n; k++)
        total += bytes[k];
    char *d = NULL;
    CUDA_OK(cudaMalloc((void **)&d, total ? total : 1));
    CUDA_OK(cudaMemset(d, 0xff, total ? total : 1));
    size_t off = pad;
    for (int k = 0; k < n; k++) {
        at[k] = d + off;
        if (host[k])
            CUDA_OK(cudaMemcpy(at[k], host[k], bytes[k],
                               cudaMemcpyHostToDevice));
        off += bytes[k];
    }
    CUDA_OK(cudaDeviceSynchronize());
    return d;
}

/* One tensor's device_run. */
static void *device_one(const void *host, size_t bytes, size_t pad,
                        void **at)
{
    return device_run(1, &host, &bytes, pad, at);
}

/* n values of dtype on the device, back as floats. */
static void values_to_host(float *host, const void *dev, size_t n,
                           pp_dtype dtype)
{
    size_t bytes = n * (dtype == PP_BF16 ? 2 : 4);
    void *tmp = malloc(bytes ? bytes : 1);
    ck_assert_ptr_nonnull(tmp);
    CUDA_OK(cudaStreamSynchronize(stream));
    CUDA_OK(cudaMemcpy(tmp, dev, bytes, cudaMemcpyDeviceToHost));
    pp_row_load(host, tmp, dtype, (int64_t)n);
    free(tmp);
}

static void round_bf16(float *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = pp_bf16_round(p[i]);
}

/* _i: case * NVAR + variant. */
START_TEST(test_linear)
{
    const struct lin_case *lc = &lin_cases[_i / NVAR];
    const struct lin_variant *lv = &lin_variants[_i % NVAR];
    pp_precision prec = lv->precision;
    int bf16 = prec == PP_PRECISION_BF16;
    pp_dtype act = bf16 ? PP_BF16 : PP_F32; /* x, y, dy, dx */
    if (lv->no_bgrad && !lc->bias)
        return; /* nothing to sum */
    uint64_t rng = 1000 + (uint64_t)_i;

    char text[256];
    snprintf(text, sizeof text,
             "[layer t]\ntype = linear\nunits = %d\nbias = %s\n%s",
             lc->units, lc->bias ? "true" : "false",
             lc->gelu ? "activation = gelu\n" : "");
    pp_config *cfg = load_config(text);
    const pp_plugin_desc *desc = find_plugin(PP_KIND_LAYER, "linear");
    const pp_layer_ops *ops = desc->ops;
    ck_assert_ptr_nonnull(ops->cuda);
    pp_section *s = pp_config_section(cfg, "layer");
    ck_assert_ptr_nonnull(s);
    pp_error err;
    pp_error_clear(&err);
    ck_assert_msg(pp_section_validate(s, layer_core, desc->keys, &err) ==
                      PP_OK, "%s", err.msg);
    pp_tensor_desc in = {act, lc->shape};
    pp_layer_plan plan;
    memset(&plan, 0, sizeof plan);
    plan.precision = prec;
    ck_assert_msg(ops->plan(s, &in, 1, &plan, &err) == PP_OK, "%s", err.msg);
    ck_assert_int_eq(plan.nparams, 1 + lc->bias);

    int n = lc->n;
    int64_t fin = lc->shape.dim[lc->shape.ndim - 1], fout = lc->units;
    int64_t rows = n * (pp_shape_elements(&lc->shape) / fin);
    size_t nx = (size_t)(rows * fin), ny = (size_t)(rows * fout);
    size_t nw = (size_t)(fout * fin), nb = (size_t)fout;

    /* Host: inputs, starting gradients (both backwards add to them), and
     * one result buffer per device. In bf16 the values are bf16's, and
     * the FP32 parameters NaN: neither half may read them. */
    float *x = host_floats(nx), *w = host_floats(nw), *b = host_floats(nb);
    float *dy = host_floats(ny), *gw0 = host_floats(nw);
    float *gb0 = host_floats(nb), *dx0 = host_floats(nx);
    fill_uniform(x, nx, &rng);
    fill_uniform(w, nw, &rng);
    fill_uniform(b, nb, &rng);
    fill_uniform(dy, ny, &rng);
    fill_uniform(gw0, nw, &rng);
    fill_uniform(gb0, nb, &rng);
    fill_uniform(dx0, nx, &rng);
    if (bf16) {
        round_bf16(x, nx);
        round_bf16(w, nw);
        round_bf16(b, nb);
        round_bf16(dy, ny);
        round_bf16(dx0, nx);
    }
    float *w32 = host_floats(nw), *b32 = host_floats(nb);
    if (bf16) {
        memset(w32, 0xff, nw * sizeof(float));
        memset(b32, 0xff, nb * sizeof(float));
    } else {
        memcpy(w32, w, nw * sizeof(float));
        memcpy(b32, b, nb * sizeof(float));
    }
    void *xv = host_values(x, nx, act), *dyv = host_values(dy, ny, act);
    size_t es = bf16 ? 2 : 4;
    void *dxv = host_values(dx0, nx, act), *yv = calloc(ny ? ny : 1, es);
    ck_assert_ptr_nonnull(yv);
    void *w16 = host_values(w, nw, PP_BF16), *b16 = host_values(b, nb,
                                                               PP_BF16);
    float *y = host_floats(ny), *dx = host_floats(nx);
    float *gw = host_floats(nw), *gb = host_floats(nb);
    float *y_gpu = host_floats(ny), *dx_gpu = host_floats(nx);
    float *gw_gpu = host_floats(nw), *gb_gpu = host_floats(nb);
    memcpy(gw, gw0, nw * sizeof(float));
    memcpy(gb, gb0, nb * sizeof(float));

    /* CPU; in bf16 its views take the workspace the plan asks for. With
     * gelu it saves pre (ny values of act). */
    size_t work_bytes = plan.workspace_bytes * (size_t)n;
    void *work = calloc(work_bytes + 1, 1);
    size_t saved_bytes = plan.saved_bytes * (size_t)n;
    void *saved = calloc(saved_bytes + 1, 1);
    ck_assert(work && saved);
    /* pre, and room for the mark after it (linear.h) */
    ck_assert_uint_eq(saved_bytes, lc->gelu ? ny * es + 15 * (size_t)n : 0);
    /* gelu: the backwards in either order (the first makes dpre) */
    int weight_first = _i / NVAR % 2;
    const float *param[2] = {w32, b32};
    const void *param16[2] = {w16, b16};
    float *grad[2] = {gw, gb};
    const void *xs[1] = {xv};
    void *dxs[1] = {dxv};
    pp_layer_call call = {.plan = &plan, .nin = 1, .in = &in, .n = n,
                          .param = param, .grad = grad, .workspace = work,
                          .saved = saved,
                          .training = 1, .precision = prec,
                          .param_bf16 = bf16 ? param16 : NULL};
    void *cpu_state = NULL;
    if (ops->cpu->init)
        ck_assert_msg(ops->cpu->init(&call, &cpu_state, &err) == PP_OK, "%s",
                      err.msg);
    call.state = cpu_state;
    ck_assert_int_eq(ops->cpu->forward(&call, xs, yv, &err), PP_OK);
    /* pre, before a backward turns it into dpre */
    void *pre_cpu = malloc(ny * es + 1);
    ck_assert_ptr_nonnull(pre_cpu);
    memcpy(pre_cpu, saved, lc->gelu ? ny * es : 0);
    if (weight_first)
        ck_assert_int_eq(ops->cpu->backward_weight(&call, xs, yv, dyv, &err),
                         PP_OK);
    ck_assert_int_eq(ops->cpu->backward_input(&call, xs, yv, dyv, dxs, &err),
                     PP_OK);
    if (!weight_first)
        ck_assert_int_eq(ops->cpu->backward_weight(&call, xs, yv, dyv, &err),
                         PP_OK);
    pp_row_load(y, yv, act, (int64_t)ny);
    pp_row_load(dx, dxv, act, (int64_t)nx);

    /* GPU: the same calls on device buffers, the rank's stream, the
     * layer's state; y starts as a NaN pattern, so a kernel that reads
     * what it should only write fails. W and b lie end to end in one
     * allocation, as in a stage's, and so do their gradients: b is as
     * aligned as W's size makes it. Every other case moves every tensor
     * one element on, to 4 or 2 bytes' alignment. */
    size_t shift = (size_t)(_i / NVAR % 2), pad = shift * es;
    void *dxv0 = host_values(dx0, nx, act);
    void *d_x, *d_dy, *d_dx, *d_y, *d_work, *d_p[2], *d_p16[2], *d_g[2];
    void *d_saved;
    const void *p_host[2] = {w32, b32}, *p16_host[2] = {w16, b16};
    const void *g_host[2] = {gw0, gb0};
    size_t p_bytes[2] = {nw * 4, nb * 4}, p16_bytes[2] = {nw * 2, nb * 2};
    void *dev[] = {
        device_one(xv, nx * es, pad, &d_x),
        device_one(dyv, ny * es, pad, &d_dy),
        device_one(dxv0, nx * es, pad, &d_dx),
        device_one(NULL, ny * es, pad, &d_y),
        device_one(NULL, work_bytes, 0, &d_work),
        device_one(NULL, saved_bytes, pad, &d_saved),
        device_run(2, p_host, p_bytes, shift * 4, d_p),
        device_run(2, p16_host, p16_bytes, shift * 2, d_p16),
        device_run(2, g_host, p_bytes, shift * 4, d_g),
    };
    float *d_gw = d_g[0], *d_gb = d_g[1];
    const float *d_param[2] = {d_p[0], d_p[1]};
    const void *d_param16[2] = {d_p16[0], d_p16[1]};
    float *d_grad[2] = {d_gw, d_gb};
    const void *d_xs[1] = {d_x};
    void *d_dxs[1] = {d_dx};
    pp_layer_call gcall = call;
    gcall.param = d_param;
    gcall.param_bf16 = bf16 ? d_param16 : NULL;
    gcall.grad = d_grad;
    gcall.workspace = d_work;
    gcall.saved = d_saved;
    gcall.state = NULL;
    gcall.stream = stream;
    if (lv->no_bgrad)
        setenv("PIPETTE_EMU_LT_NO_BGRAD", "1", 1);
    void *gpu_state = NULL;
    ck_assert_msg(ops->cuda->init(&gcall, &gpu_state, &err) == PP_OK, "%s",
                  err.msg);
    gcall.state = gpu_state;
    ck_assert_msg(ops->cuda->forward(&gcall, d_xs, d_y, &err) == PP_OK, "%s",
                  err.msg);
    /* gelu: the GPU's pre, then backward on the CPU's (pre's bytes
     * only: the mark after it stays as the forward left it), so that
     * each backward is judged on its own rounding. */
    float *pre_gpu = host_floats(ny), *pre = host_floats(ny);
    if (lc->gelu) {
        values_to_host(pre_gpu, d_saved, ny, act);
        pp_row_load(pre, pre_cpu, act, (int64_t)ny);
        CUDA_OK(cudaMemcpy(d_saved, pre_cpu, ny * es,
                           cudaMemcpyHostToDevice));
        CUDA_OK(cudaDeviceSynchronize());
    }
    if (weight_first)
        ck_assert_msg(ops->cuda->backward_weight(&gcall, d_xs, d_y, d_dy,
                                                 &err) == PP_OK, "%s",
                      err.msg);
    ck_assert_msg(ops->cuda->backward_input(&gcall, d_xs, d_y, d_dy, d_dxs,
                                            &err) == PP_OK, "%s", err.msg);
    if (!weight_first)
        ck_assert_msg(ops->cuda->backward_weight(&gcall, d_xs, d_y, d_dy,
                                                 &err) == PP_OK, "%s",
                      err.msg);
    values_to_host(y_gpu, d_y, ny, act);
    values_to_host(dx_gpu, d_dx, nx, act);
    to_host(gw_gpu, d_gw, nw);
    to_host(gb_gpu, d_gb, nb);
    /* gelu: dpre as the backwards left it; then a recomputed forward,
     * the CPU's pre again, and backward_input into dx0 once more: it
     * must make dpre anew, the mark the first backward set cleared. */
    float *dpre_gpu = host_floats(ny), *dpre = host_floats(ny);
    float *dx2_gpu = host_floats(nx);
    if (lc->gelu) {
        values_to_host(dpre_gpu, d_saved, ny, act);
        pp_row_load(dpre, saved, act, (int64_t)ny);
        ck_assert_msg(ops->cuda->forward(&gcall, d_xs, d_y, &err) == PP_OK,
                      "%s", err.msg);
        CUDA_OK(cudaStreamSynchronize(stream));
        CUDA_OK(cudaMemcpy(d_saved, pre_cpu, ny * es,
                           cudaMemcpyHostToDevice));
        CUDA_OK(cudaMemcpy(d_dx, dxv0, nx * es, cudaMemcpyHostToDevice));
        CUDA_OK(cudaDeviceSynchronize());
        ck_assert_msg(ops->cuda->backward_input(&gcall, d_xs, d_y, d_dy,
                                                d_dxs, &err) == PP_OK,
                      "%s", err.msg);
        values_to_host(dx2_gpu, d_dx, nx, act);
    }
    unsetenv("PIPETTE_EMU_LT_NO_BGRAD");

    worst wy = {0}, wdx = {0}, wgw = {0}, wgb = {0}, wpre = {0};
    /* y[r, o] = b[o] + sum_i x[r, i] w[o, i]; with gelu that is pre,
     * and y = gelu(pre): gelu of the FP32 pre on the GPU's epilogue, of
     * pre as stored on the CPU and the GPU's own kernel, half a bf16
     * ulp apart on each side. */
    for (int64_t r = 0; r < rows; r++)
        for (int64_t o = 0; o < fout; o++) {
            double sp = 0;
            for (int64_t i = 0; i < fin; i++)
                sp += mag((double)x[r * fin + i] * w[o * fin + i]);
            double sc = lc->bias ? mag(b[o]) : 0;
            int64_t at = r * fout + o;
            double bd = bound(fin, sc + sp, sp, prec);
            if (lc->gelu) {
                double bp = bf16 ? bound16(bd, pre_gpu[at], pre[at]) : bd;
                check_close("pre", at, pre_gpu[at], pre[at], bp, &wpre);
                double v = fmax(mag(pre_gpu[at]), mag(pre[at]));
                bd = GELU_SLOPE * (bd + (bf16 ? ulp16(v) : 0)) +
                     gelu_bound(v);
            }
            if (bf16)
                bd = bound16(bd, y_gpu[at], y[at]);
            check_close("y", at, y_gpu[at], y[at], bd, &wy);
        }
    /* The gradient the GEMMs see, g (rows, out): dy, or with gelu dpre
     * = dy gelu'(pre), of which the devices' values differ by up to
     * dg: gelu_grad_bound and, in bf16, where each rounds dpre, one
     * ulp. Each sum over g's terms adds their dg times the other
     * factor to its bound. */
    float *g = host_floats(ny);
    double *dg = calloc(ny ? ny : 1, sizeof *dg);
    ck_assert_ptr_nonnull(dg);
    for (size_t k = 0; k < ny; k++) {
        g[k] = lc->gelu ? (float)gelu_grad_ref(dy[k], pre[k]) : dy[k];
        if (lc->gelu)
            dg[k] = mag(dy[k]) * gelu_grad_bound(pre[k]) +
                    (bf16 ? ulp16(g[k]) : 0);
    }
    /* dpre in saved: 0 + dy gelu'(pre) of the same pre on each, once */
    worst wdpre = {0};
    for (size_t k = 0; lc->gelu && k < ny; k++) {
        double bd = mag(dy[k]) * gelu_grad_bound(pre[k]);
        if (bf16)
            bd = bound16(bd, dpre_gpu[k], dpre[k]);
        check_close("dpre", (int64_t)k, dpre_gpu[k], dpre[k], bd, &wdpre);
    }
    /* dx[r, i] = dx0[r, i] + sum_o g[r, o] w[o, i] */
    for (int64_t r = 0; r < rows; r++)
        for (int64_t i = 0; i < fin; i++) {
            double sp = 0, sg = 0;
            for (int64_t o = 0; o < fout; o++) {
                sp += mag((double)g[r * fout + o] * w[o * fin + i]);
                sg += dg[r * fout + o] * mag(w[o * fin + i]);
            }
            double sc = mag(dx0[r * fin + i]);
            int64_t at = r * fin + i;
            double bd = bound(fout, sc + sp + sg, sp + sg, prec) + sg;
            double b2 = bf16 ? bound16(bd, dx2_gpu[at], dx[at]) : bd;
            if (bf16)
                bd = bound16(bd, dx_gpu[at], dx[at]);
            check_close("dx", at, dx_gpu[at], dx[at], bd, &wdx);
            if (lc->gelu)
                check_close("dx after a recomputed forward", at,
                            dx2_gpu[at], dx[at], b2, &wdx);
        }
    /* dw[o, i] = gw0[o, i] + sum_r g[r, o] x[r, i] */
    for (int64_t o = 0; o < fout; o++)
        for (int64_t i = 0; i < fin; i++) {
            double sp = 0, sg = 0;
            for (int64_t r = 0; r < rows; r++) {
                sp += mag((double)g[r * fout + o] * x[r * fin + i]);
                sg += dg[r * fout + o] * mag(x[r * fin + i]);
            }
            double sc = mag(gw0[o * fin + i]);
            check_close("dw", o * fin + i, gw_gpu[o * fin + i],
                        gw[o * fin + i],
                        bound(rows, sc + sp + sg, sp + sg, prec) + sg, &wgw);
        }
    /* db[o] = gb0[o] + sum_r g[r, o]: BGRADB's sum, or the layer's
     * kernel's, in FP32. Whether a TF32 kernel's BGRADB sums g as
     * stored or rounded to TF32 cuBLASLt does not say: tf32's bound
     * allows either. */
    for (int64_t o = 0; lc->bias && o < fout; o++) {
        double sp = 0, sg = 0;
        for (int64_t r = 0; r < rows; r++) {
            sp += mag(g[r * fout + o]);
            sg += dg[r * fout + o];
        }
        check_close("db", o, gb_gpu[o], gb[o],
                    bound(rows, mag(gb0[o]) + sp + sg, sp + sg, prec) + sg,
                    &wgb);
    }
    /* Without a bias the gradient buffer is not the layer's to touch. */
    if (!lc->bias)
        ck_assert_int_eq(memcmp(gb_gpu, gb0, nb * sizeof(float)), 0);
    printf("linear %lldx%lld->%lld bias %d%s %s%s%s: worst |gpu - cpu| / "
           "bound: y %.3g, pre %.3g, dpre %.3g, dx %.3g, dw %.3g, "
           "db %.3g%s\n",
           (long long)rows, (long long)fin, (long long)fout, lc->bias,
           lc->gelu ? " gelu" : "", pp_precision_name(prec),
           lv->no_bgrad ? " (no BGRADB)" : "",
           prec == PP_PRECISION_TF32 && !tf32_capable
               ? " (no TF32 on this GPU)"
               : "",
           wy.ratio, wpre.ratio, wdpre.ratio, wdx.ratio, wgw.ratio,
           wgb.ratio,
           lc->gelu && weight_first ? " (backward_weight first)" : "");

    ops->cuda->destroy(gpu_state);
    if (ops->cpu->destroy)
        ops->cpu->destroy(cpu_state);
    for (size_t k = 0; k < sizeof dev / sizeof *dev; k++)
        CUDA_OK(cudaFree(dev[k]));
    void *host[] = {x, w, b, dy, gw0, gb0, dx0, y, dx, gw, gb, y_gpu,
                    dx_gpu, gw_gpu, gb_gpu, w32, b32, xv, dyv, dxv, dxv0, yv,
                    w16, b16, work, saved, pre, pre_gpu, g, dg, pre_cpu,
                    dpre, dpre_gpu, dx2_gpu};
    for (size_t k = 0; k < sizeof host / sizeof *host; k++)
        free(host[k]);
    pp_layer_plan_release(&plan);
    pp_config_free(cfg);
}
END_TEST

/* The layer's tf32 key is retired for [train] precision: a section that
 * still sets it passes validation (the key is known) and is refused at
 * plan, which says what to write instead. */
START_TEST(test_tf32_key)
{
    pp_config *cfg = load_config("[layer t]\ntype = linear\nunits = 2\n"
                                 "tf32 = true\n");
    const pp_plugin_desc *desc = find_plugin(PP_KIND_LAYER, "linear");
    const pp_layer_ops *ops = desc->ops;
    pp_section *s = pp_config_section(cfg, "layer");
    pp_error err;
    pp_error_clear(&err);
    ck_assert_msg(pp_section_validate(s, layer_core, desc->keys, &err) ==
                      PP_OK, "%s", err.msg);
    pp_tensor_desc in = {PP_F32, {1, {3}}};
    pp_layer_plan plan;
    memset(&plan, 0, sizeof plan);
    plan.precision = PP_PRECISION_TF32;
    ck_assert_int_eq(ops->plan(s, &in, 1, &plan, &err), PP_ERR_CONFIG);
    ck_assert_msg(strstr(err.msg, "tf32: the tf32 key is retired: write "
                                  "precision = tf32 in [train]") != NULL,
                  "%s", err.msg);
    pp_layer_plan_release(&plan);
    pp_config_free(cfg);
}
END_TEST

/* ---- optimizers -------------------------------------------------------- */

static const pp_key train_core[] = {
    {"batch", PP_KEY_INT, PP_KEY_REQUIRED, 1, 1 << 24, NULL, NULL, NULL},
    {"optimizer", PP_KEY_STRING, 0, PP_NO_RANGE, NULL, "sgd", NULL},
    {0}};

/* Every sgd variant (momentum off and on, Nesterov, weight decay) and
 * adamw with and without decay. */
static const struct opt_case {
    const char *name, *keys;
} opt_cases[] = {
    {"sgd", ""},
    {"sgd", "weight_decay = 0.05\n"},
    {"sgd", "momentum = 0.9\n"},
    {"sgd", "momentum = 0.9\nnesterov = true\nweight_decay = 0.01\n"},
    {"adamw", ""},
    {"adamw", "weight_decay = 0\nbeta1 = 0.8\nbeta2 = 0.99\neps = 1e-6\n"},
};
#define NOPT (int)(sizeof opt_cases / sizeof *opt_cases)

/* More than 4096 blocks of 256 threads: the grid-stride loop goes round
 * more than once, and the last block is ragged. */
#define OPT_N ((size_t)(1u << 21) + 3)
#define OPT_STEPS 5

static void expect_same(const char *what, int step, const float *gpu,
                        const float *cpu, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(&gpu[i], &cpu[i], sizeof(float)) != 0)
            ck_abort_msg("step %d %s[%zu]: gpu %a, cpu %a", step, what, i,
                         (double)gpu[i], (double)cpu[i]);
}

START_TEST(test_optimizer)
{
    const struct opt_case *oc = &opt_cases[_i];
    char text[512];
    snprintf(text, sizeof text, "[train]\nbatch = 4\noptimizer = %s\n%s",
             oc->name, oc->keys);
    pp_config *cfg = load_config(text);
    const pp_plugin_desc *desc = find_plugin(PP_KIND_OPTIMIZER, oc->name);
    const pp_optimizer_ops *ops = desc->ops;
    ck_assert_ptr_nonnull(ops->step_cuda);
    pp_section *s = pp_config_section(cfg, "train");
    pp_error err;
    pp_error_clear(&err);
    ck_assert_msg(pp_section_validate(s, train_core, desc->keys, &err) ==
                      PP_OK, "%s", err.msg);
    pp_optimizer_plan plan;
    memset(&plan, 0, sizeof plan);
    ck_assert_msg(ops->plan(s, &plan, &err) == PP_OK, "%s", err.msg);

    size_t n = OPT_N, ns = n * (size_t)plan.state_per_param;
    uint64_t rng = 77 + (uint64_t)_i;
    float *param = host_floats(n), *grad = host_floats(n);
    float *state = host_floats(ns);
    float *param_gpu = host_floats(n), *state_gpu = host_floats(ns);
    fill_uniform(param, n, &rng);
    float *d_param = device_floats(param, n), *d_grad = device_floats(NULL, n);
    float *d_state = device_floats(state, ns); /* zeroed, as the core does */

    /* A stage's decayed parameters, then its others: the split lands
     * inside a block, as it may. */
    pp_optimizer_call call = {.plan = &plan, .param = param, .grad = grad,
                              .state = ns ? state : NULL, .n = n,
                              .ndecay = n / 2 + 1, .lr = 0.03};
    pp_optimizer_call gcall = call;
    gcall.param = d_param;
    gcall.grad = d_grad;
    gcall.state = ns ? d_state : NULL;
    gcall.stream = stream;
    for (int t = 1; t <= OPT_STEPS; t++) {
        /* Gradients of a few sizes, some tiny: adamw's v then spans
         * magnitudes. */
        fill_uniform(grad, n, &rng);
        for (size_t i = 0; i < n; i += 3)
            grad[i] *= 1e-3f;
        upload(d_grad, grad, n);
        call.step = gcall.step = t;
        ck_assert_int_eq(ops->step_cpu(&call, &err), PP_OK);
        ck_assert_msg(ops->step_cuda(&gcall, &err) == PP_OK, "%s", err.msg);
        to_host(param_gpu, d_param, n);
        to_host(state_gpu, d_state, ns);
        expect_same("param", t, param_gpu, param, n);
        expect_same("state", t, state_gpu, state, ns);
    }

    CUDA_OK(cudaFree(d_param));
    CUDA_OK(cudaFree(d_grad));
    CUDA_OK(cudaFree(d_state));
    free(param);
    free(grad);
    free(state);
    free(param_gpu);
    free(state_gpu);
    pp_optimizer_plan_release(&plan);
    pp_config_free(cfg);
}
END_TEST

/* An empty stage has nothing to update, and no launch to fail. */
START_TEST(test_optimizer_empty)
{
    const char *names[] = {"sgd", "adamw"};
    pp_config *cfg = load_config("[train]\nbatch = 4\n");
    pp_section *s = pp_config_section(cfg, "train");
    for (int k = 0; k < 2; k++) {
        const pp_plugin_desc *desc = find_plugin(PP_KIND_OPTIMIZER, names[k]);
        const pp_optimizer_ops *ops = desc->ops;
        pp_error err;
        pp_error_clear(&err);
        ck_assert_msg(pp_section_validate(s, train_core, desc->keys, &err) ==
                          PP_OK, "%s", err.msg);
        pp_optimizer_plan plan;
        memset(&plan, 0, sizeof plan);
        ck_assert_int_eq(ops->plan(s, &plan, &err), PP_OK);
        pp_optimizer_call call = {.plan = &plan, .n = 0, .step = 1,
                                  .lr = 0.1, .stream = stream};
        ck_assert_msg(ops->step_cuda(&call, &err) == PP_OK, "%s", err.msg);
        CUDA_OK(cudaStreamSynchronize(stream));
        pp_optimizer_plan_release(&plan);
    }
    pp_config_free(cfg);
}
END_TEST

static Suite *linear_optim_cuda_suite(void)
{
    Suite *s = suite_create("linear_optim_cuda");
    TCase *tc = tcase_create("gpu");
    tcase_add_loop_test(tc, test_linear, 0, NVAR * NLIN);
    tcase_add_test(tc, test_tf32_key);
    tcase_add_loop_test(tc, test_optimizer, 0, NOPT);
    tcase_add_test(tc, test_optimizer_empty);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int ndev = 0;
    cudaError_t rc = cudaGetDeviceCount(&ndev);
    if (rc != cudaSuccess || ndev == 0) {
        const char *why = rc != cudaSuccess ? cudaGetErrorString(rc)
                                            : "no CUDA device";
        return pp_test_no_gpu("test_linear_optim_cuda", why);
    }
    pp_test_watchdog();

    pp_error err;
    pp_error_clear(&err);
    unsetenv("PIPETTE_PLUGIN_PATH");
    if (pp_registry_create(NULL, &reg, &err)) {
        fprintf(stderr, "test_linear_optim_cuda: %s\n", err.msg);
        return EXIT_FAILURE;
    }
    struct cudaDeviceProp prop;
    if ((rc = cudaSetDevice(0)) != cudaSuccess ||
        (rc = cudaGetDeviceProperties(&prop, 0)) != cudaSuccess ||
        (rc = cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking)) !=
            cudaSuccess) {
        fprintf(stderr, "test_linear_optim_cuda: %s\n",
                cudaGetErrorString(rc));
        return EXIT_FAILURE;
    }
    tf32_capable = prop.major >= 8;
    printf("test_linear_optim_cuda: %s (compute capability %d.%d)\n",
           prop.name, prop.major, prop.minor);

    SRunner *sr = srunner_create(linear_optim_cuda_suite());
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    cudaStreamDestroy(stream);
    pp_registry_free(reg);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
