/* tests/test_linear_optim_cuda.c - the CUDA halves of linear (cuBLAS) and
 * of the sgd and adamw optimizers (fused kernels) against their CPU
 * halves, on random data.
 *
 * Without a GPU it exits 77 (automake's SKIP) and says why, unless
 * PIPETTE_REQUIRE_GPU=1, when a missing GPU is a failure. main() asks CUDA
 * for the device count and creates the stream and the cuBLAS handle bound
 * to it, as the runtime does for a rank, so CUDA lives in this process:
 * Check runs the tests in-process (CK_NOFORK), since a forked child cannot
 * use its parent's CUDA context.
 *
 * linear: the GPU sums its products in another order (and cuBLAS may split
 * them), so results are compared against a bound, not bit for bit; see
 * check_close(). Device buffers for y, dx and saved start as NaN
 * patterns, so a kernel that reads what it should only write fails.
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
#include <cublas_v2.h>

#include <check.h>

#include <pipette/cuda.h>
#include <pipette/pipette.h>

#include "config_file.h"
#include "plugin_plan.h"
#include "registry.h"
#include "gpu_skip.h"

static pp_registry *reg;
static cudaStream_t stream;
static cublasHandle_t blas;
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

/* Odd sizes (no multiple of 4 or 8: cuBLAS's unaligned paths), a shape
 * with rows per sample > 1, one output unit, and one case large enough for
 * tensor-core GEMMs and, with 300 rows, a long sum in backward_weight. */
static const struct lin_case {
    pp_shape shape; /* one sample */
    int units, bias, n;
} lin_cases[] = {
    {{1, {37}}, 29, 1, 5},
    {{2, {7, 33}}, 65, 1, 3},
    {{1, {3}}, 5, 0, 1},
    {{2, {4, 129}}, 1, 0, 2},
    {{3, {2, 3, 17}}, 11, 1, 4},
    {{2, {75, 256}}, 384, 1, 4},
};
#define NLIN (int)(sizeof lin_cases / sizeof *lin_cases)

static double mag(double v)
{
    return v < 0 ? -v : v;
}

/* Compares one result element computed on both devices as c + the sum of
 * k products a_j b_j, where S = |c| + sum |a_j b_j| (in double).
 *
 * Any order of summing k products and c in FP32 (the CPU's lanes and
 * blocks, cuBLAS's tiles and split-K) is within gamma(k + 1) S of the
 * exact value, gamma(m) = m u / (1 - m u) with u = 2^-24, so the two
 * devices are within 2 gamma(k + 1) S of each other: a bound that scales
 * with the terms' sizes rather than the result's, which may cancel to
 * near zero. TF32 rounds each input to 10 mantissa bits first (relative
 * error at most 2^-10 even when it truncates), so each product moves by
 * at most (2^-9 + 2^-20) |a_j b_j| before the FP32 sum: that is added to
 * the bound when tf32 is on. */
static double bound(int64_t k, double s, double s_products, int tf32)
{
    double m = (double)(k + 1) * 0x1p-24;
    double b = 2 * m / (1 - m) * s;
    if (tf32)
        b += (0x1p-9 + 0x1p-20) * s_products;
    return b;
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

/* _i: case * 2 + tf32 ([train] precision = tf32 rather than fp32). */
START_TEST(test_linear)
{
    const struct lin_case *lc = &lin_cases[_i / 2];
    int tf32 = _i % 2;
    uint64_t rng = 1000 + (uint64_t)_i;

    char text[256];
    snprintf(text, sizeof text,
             "[layer t]\ntype = linear\nunits = %d\nbias = %s\n",
             lc->units, lc->bias ? "true" : "false");
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
    pp_tensor_desc in = {PP_F32, lc->shape};
    pp_layer_plan plan;
    memset(&plan, 0, sizeof plan);
    plan.precision = tf32 ? PP_PRECISION_TF32 : PP_PRECISION_FP32;
    ck_assert_msg(ops->plan(s, &in, 1, &plan, &err) == PP_OK, "%s", err.msg);
    ck_assert_int_eq(plan.nparams, 1 + lc->bias);

    int n = lc->n;
    int64_t fin = lc->shape.dim[lc->shape.ndim - 1], fout = lc->units;
    int64_t rows = n * (pp_shape_elements(&lc->shape) / fin);
    size_t nx = (size_t)(rows * fin), ny = (size_t)(rows * fout);
    size_t nw = (size_t)(fout * fin), nb = (size_t)fout;

    /* Host: inputs, starting gradients (both backwards add to them), and
     * one result buffer per device. */
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
    float *y = host_floats(ny), *dx = host_floats(nx);
    float *gw = host_floats(nw), *gb = host_floats(nb);
    float *y_gpu = host_floats(ny), *dx_gpu = host_floats(nx);
    float *gw_gpu = host_floats(nw), *gb_gpu = host_floats(nb);
    memcpy(gw, gw0, nw * sizeof(float));
    memcpy(gb, gb0, nb * sizeof(float));
    memcpy(dx, dx0, nx * sizeof(float));

    /* CPU. */
    size_t saved_bytes = plan.saved_bytes * (size_t)n;
    void *saved = calloc(saved_bytes + 1, 1);
    ck_assert_ptr_nonnull(saved);
    const float *param[2] = {w, b};
    float *grad[2] = {gw, gb};
    const void *xs[1] = {x};
    void *dxs[1] = {dx};
    pp_layer_call call = {.plan = &plan, .nin = 1, .in = &in, .n = n,
                          .param = param, .grad = grad, .saved = saved,
                          .training = 1, .precision = plan.precision};
    ck_assert_int_eq(ops->cpu->forward(&call, xs, y, &err), PP_OK);
    ck_assert_int_eq(ops->cpu->backward_input(&call, xs, y, dy, dxs, &err),
                     PP_OK);
    ck_assert_int_eq(ops->cpu->backward_weight(&call, xs, y, dy, &err),
                     PP_OK);

    /* GPU: the same calls on device buffers, the rank's stream and
     * handle. */
    float *d_x = device_floats(x, nx), *d_w = device_floats(w, nw);
    float *d_b = device_floats(b, nb), *d_dy = device_floats(dy, ny);
    float *d_gw = device_floats(gw0, nw), *d_gb = device_floats(gb0, nb);
    float *d_y = device_floats(NULL, ny), *d_dx = device_floats(dx0, nx);
    float *d_saved = device_floats(NULL, saved_bytes / sizeof(float));
    const float *d_param[2] = {d_w, d_b};
    float *d_grad[2] = {d_gw, d_gb};
    const void *d_xs[1] = {d_x};
    void *d_dxs[1] = {d_dx};
    pp_layer_call gcall = call;
    gcall.param = d_param;
    gcall.grad = d_grad;
    gcall.saved = d_saved;
    gcall.stream = stream;
    gcall.blas = blas;
    ck_assert_msg(ops->cuda->forward(&gcall, d_xs, d_y, &err) == PP_OK, "%s",
                  err.msg);
    ck_assert_msg(ops->cuda->backward_input(&gcall, d_xs, d_y, d_dy, d_dxs,
                                            &err) == PP_OK, "%s", err.msg);
    ck_assert_msg(ops->cuda->backward_weight(&gcall, d_xs, d_y, d_dy,
                                             &err) == PP_OK, "%s", err.msg);
    to_host(y_gpu, d_y, ny);
    to_host(dx_gpu, d_dx, nx);
    to_host(gw_gpu, d_gw, nw);
    to_host(gb_gpu, d_gb, nb);

    worst wy = {0}, wdx = {0}, wgw = {0}, wgb = {0};
    /* y[r, o] = b[o] + sum_i x[r, i] w[o, i] */
    for (int64_t r = 0; r < rows; r++)
        for (int64_t o = 0; o < fout; o++) {
            double sp = 0;
            for (int64_t i = 0; i < fin; i++)
                sp += mag((double)x[r * fin + i] * w[o * fin + i]);
            double sc = lc->bias ? mag(b[o]) : 0;
            check_close("y", r * fout + o, y_gpu[r * fout + o],
                        y[r * fout + o], bound(fin, sc + sp, sp, tf32), &wy);
        }
    /* dx[r, i] = dx0[r, i] + sum_o dy[r, o] w[o, i] */
    for (int64_t r = 0; r < rows; r++)
        for (int64_t i = 0; i < fin; i++) {
            double sp = 0;
            for (int64_t o = 0; o < fout; o++)
                sp += mag((double)dy[r * fout + o] * w[o * fin + i]);
            double sc = mag(dx0[r * fin + i]);
            check_close("dx", r * fin + i, dx_gpu[r * fin + i],
                        dx[r * fin + i], bound(fout, sc + sp, sp, tf32),
                        &wdx);
        }
    /* dw[o, i] = gw0[o, i] + sum_r dy[r, o] x[r, i] */
    for (int64_t o = 0; o < fout; o++)
        for (int64_t i = 0; i < fin; i++) {
            double sp = 0;
            for (int64_t r = 0; r < rows; r++)
                sp += mag((double)dy[r * fout + o] * x[r * fin + i]);
            double sc = mag(gw0[o * fin + i]);
            check_close("dw", o * fin + i, gw_gpu[o * fin + i],
                        gw[o * fin + i], bound(rows, sc + sp, sp, tf32), &wgw);
        }
    /* db[o] = gb0[o] + sum_r dy[r, o]: a GEMV, FP32 even with tf32 on. */
    for (int64_t o = 0; lc->bias && o < fout; o++) {
        double sp = 0;
        for (int64_t r = 0; r < rows; r++)
            sp += mag(dy[r * fout + o]);
        check_close("db", o, gb_gpu[o], gb[o],
                    bound(rows, mag(gb0[o]) + sp, 0, 0), &wgb);
    }
    /* Without a bias the gradient buffer is not the layer's to touch. */
    if (!lc->bias)
        ck_assert_int_eq(memcmp(gb_gpu, gb0, nb * sizeof(float)), 0);
    printf("linear %lldx%lld->%lld bias %d tf32 %d%s: worst |gpu - cpu| / "
           "bound: y %.3g, dx %.3g, dw %.3g, db %.3g\n",
           (long long)rows, (long long)fin, (long long)fout, lc->bias, tf32,
           tf32 && !tf32_capable ? " (no TF32 on this GPU)" : "", wy.ratio,
           wdx.ratio, wgw.ratio, wgb.ratio);

    float *dev[] = {d_x, d_w, d_b, d_dy, d_gw, d_gb, d_y, d_dx, d_saved};
    for (size_t k = 0; k < sizeof dev / sizeof *dev; k++)
        CUDA_OK(cudaFree(dev[k]));
    float *host[] = {x, w, b, dy, gw0, gb0, dx0, y, dx, gw, gb,
                     y_gpu, dx_gpu, gw_gpu, gb_gpu};
    for (size_t k = 0; k < sizeof host / sizeof *host; k++)
        free(host[k]);
    free(saved);
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
    tcase_add_loop_test(tc, test_linear, 0, 2 * NLIN);
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
    cublasStatus_t bs = CUBLAS_STATUS_SUCCESS;
    if ((rc = cudaSetDevice(0)) != cudaSuccess ||
        (rc = cudaGetDeviceProperties(&prop, 0)) != cudaSuccess ||
        (rc = cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking)) !=
            cudaSuccess) {
        fprintf(stderr, "test_linear_optim_cuda: %s\n",
                cudaGetErrorString(rc));
        return EXIT_FAILURE;
    }
    /* As the runtime: a handle bound to the rank's stream, in the default
     * math mode; the layer picks its own compute type. */
    if ((bs = cublasCreate(&blas)) != CUBLAS_STATUS_SUCCESS ||
        (bs = cublasSetStream(blas, stream)) != CUBLAS_STATUS_SUCCESS) {
        fprintf(stderr, "test_linear_optim_cuda: cuBLAS: %s\n",
                cublasGetStatusString(bs));
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
    cublasDestroy(blas);
    cudaStreamDestroy(stream);
    pp_registry_free(reg);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
