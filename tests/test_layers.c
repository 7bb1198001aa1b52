/* tests/test_layers.c - the CPU kernels of every layer plugin: gradients
 * against finite differences, forward values against float64 references,
 * dropout's mask, gradient accumulation and the runtime errors for bad ids
 * and targets, plus the plans the kernels rely on.
 *
 * Layers are loaded through the registry (the build tree's layers/.libs)
 * and planned from a real [layer] section, as the core does, so these
 * tests see what a run sees. Inputs, parameters and shapes are random
 * from fixed seeds: a failure reproduces.
 *
 * Not a test of the initialisers or of the runtime: parameters here are
 * random values of the test's own, and the core's bookkeeping (x and y
 * kept per micro-batch) is imitated by holding the buffers.
 */
#include <config.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include <pipette/pipette.h>

#include "config_file.h"
#include "registry.h"

static pp_registry *reg;

/* The core's key for a layer section, so `type = X` validates. */
static const pp_key core_keys[] = {
    {"type", PP_KEY_STRING, PP_KEY_REQUIRED, PP_NO_RANGE, NULL, NULL,
     "the layer plugin"},
    {0},
};

/* ---- random numbers (splitmix64) ------------------------------------- */

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static double rng_uniform(uint64_t *s, double lo, double hi)
{
    return lo + (hi - lo) * (double)(rng_next(s) >> 11) * 0x1p-53;
}

static int rng_int(uint64_t *s, int lo, int hi) /* [lo, hi] */
{
    return lo + (int)(rng_next(s) % (uint64_t)(hi - lo + 1));
}

/* ---- a planned layer with its buffers -------------------------------- */

typedef struct layer {
    pp_config *cfg;
    const pp_layer_kernels *k;
    pp_tensor_desc in;
    pp_layer_plan plan;
    int64_t in_len, out_len;    /* elements of x and y for n samples */
    int64_t param_len[PP_LAYER_MAX_PARAMS];
    float *param[PP_LAYER_MAX_PARAMS];
    float *grad[PP_LAYER_MAX_PARAMS];
    void *saved, *target;
    pp_layer_call call;
} layer;

/* Plans `type` with the section's other keys (lines of "key = value")
 * for one sample of `in`; on failure the config's error is in err. */
static pp_status plan_layer(const char *type, const char *keys,
                            const pp_tensor_desc *in, pp_config **cfg,
                            pp_layer_plan *plan, const pp_layer_ops **ops,
                            pp_error *err)
{
    const pp_plugin *plugin;
    ck_assert_msg(pp_registry_find(reg, PP_KIND_LAYER, type, &plugin, err) ==
                      PP_OK, "%s", err->msg);
    *ops = plugin->desc->ops;

    const char *dir = getenv("TMPDIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/pp-layers-XXXXXX",
             dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    FILE *f = fdopen(fd, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "[layer t]\ntype = %s\n%s\n", type, keys);
    ck_assert_int_eq(fclose(f), 0);
    pp_status st = pp_config_load(path, cfg, err);
    unlink(path);
    ck_assert_msg(st == PP_OK, "%s", err->msg);

    pp_section *s = pp_config_section(*cfg, "layer");
    ck_assert_ptr_nonnull(s);
    ck_assert_msg(pp_section_validate(s, core_keys, plugin->desc->keys,
                                      err) == PP_OK, "%s", err->msg);
    memset(plan, 0, sizeof *plan);
    return (*ops)->plan(s, in, plan, err);
}

static float *alloc_floats(int64_t n)
{
    float *p = calloc((size_t)(n > 0 ? n : 1), sizeof(float));
    ck_assert_ptr_nonnull(p);
    return p;
}

static void fill_uniform(float *p, int64_t n, uint64_t *rng, double lo,
                         double hi)
{
    for (int64_t i = 0; i < n; i++)
        p[i] = (float)rng_uniform(rng, lo, hi);
}

/* Plans the layer and gives it random parameters in [-1, 1], n samples of
 * random targets (loss layers) and a call with a loss_scale that is not 1,
 * so a kernel that forgets it is caught. */
static void layer_open(layer *l, const char *type, const char *keys,
                       pp_dtype dtype, const pp_shape *shape, int n,
                       uint64_t *rng)
{
    memset(l, 0, sizeof *l);
    l->in = (pp_tensor_desc){dtype, *shape};
    pp_error err;
    pp_error_clear(&err);
    const pp_layer_ops *ops;
    ck_assert_msg(plan_layer(type, keys, &l->in, &l->cfg, &l->plan, &ops,
                             &err) == PP_OK, "%s", err.msg);
    ck_assert_ptr_nonnull(ops->cpu);
    /* The CUDA halves are built whenever the toolkit is (linear's needs
     * cuBLAS too), and only then: tested here, where no GPU runs them. */
#if defined(HAVE_CUDA) && defined(HAVE_CUBLAS)
    ck_assert_ptr_nonnull(ops->cuda);
#elif !defined(HAVE_CUDA)
    ck_assert_ptr_null(ops->cuda);
#endif
    l->k = ops->cpu;
    l->in_len = n * pp_shape_elements(shape);
    l->out_len = n * pp_shape_elements(&l->plan.out.shape);
    for (int p = 0; p < l->plan.nparams; p++) {
        l->param_len[p] = pp_shape_elements(&l->plan.params[p].shape);
        l->param[p] = alloc_floats(l->param_len[p]);
        l->grad[p] = alloc_floats(l->param_len[p]);
        fill_uniform(l->param[p], l->param_len[p], rng, -1.0, 1.0);
    }
    l->saved = calloc(l->plan.saved_bytes * (size_t)n + 1, 1);
    ck_assert_ptr_nonnull(l->saved);
    if (l->plan.is_loss) {
        int64_t t = n * pp_shape_elements(&l->plan.target.shape);
        if (l->plan.target.dtype == PP_I32) {
            int classes = (int)shape->dim[shape->ndim - 1];
            int32_t *ids = calloc((size_t)t, sizeof *ids);
            ck_assert_ptr_nonnull(ids);
            for (int64_t i = 0; i < t; i++)
                ids[i] = rng_int(rng, 0, classes - 1);
            l->target = ids;
        } else {
            l->target = alloc_floats(t);
            fill_uniform(l->target, t, rng, -1.0, 1.0);
        }
    }
    l->call = (pp_layer_call){
        .plan = &l->plan, .in = &l->in, .n = n, .param = l->param,
        .grad = l->grad, .saved = l->saved, .target = l->target,
        .loss_scale = 0.37, .seed = 0x5eed, .training = 1};
}

static void layer_close(layer *l)
{
    for (int p = 0; p < l->plan.nparams; p++) {
        free(l->param[p]);
        free(l->grad[p]);
    }
    free(l->saved);
    free(l->target);
    pp_config_free(l->cfg);
}

static void zero_grads(layer *l)
{
    for (int p = 0; p < l->plan.nparams; p++)
        memset(l->grad[p], 0, (size_t)l->param_len[p] * sizeof(float));
}

static void run_forward(layer *l, const void *x, float *y)
{
    pp_error err;
    pp_error_clear(&err);
    ck_assert_msg(l->k->forward(&l->call, x, y, &err) == PP_OK, "%s",
                  err.msg);
}

static void run_backward_input(layer *l, const void *x, const float *y,
                               const float *dy, float *dx)
{
    pp_error err;
    pp_error_clear(&err);
    ck_assert_msg(l->k->backward_input(&l->call, x, y, dy, dx, &err) ==
                      PP_OK, "%s", err.msg);
}

static void run_backward_weight(layer *l, const void *x, const float *y,
                                const float *dy)
{
    pp_error err;
    pp_error_clear(&err);
    ck_assert_msg(l->k->backward_weight(&l->call, x, y, dy, &err) == PP_OK,
                  "%s", err.msg);
}

/* ---- finite differences ---------------------------------------------- */

/* The gradient check.
 *
 * The scalar differentiated is L = sum(y * r) for a fixed random r (so
 * dy = r), or the loss itself for a loss layer (dy = NULL). L is computed
 * in double from the float32 forward, and the numerical derivative is the
 * central difference (L(v + h) - L(v - h)) / (v+h - (v-h)), the step being
 * what float32 actually stored, so the perturbation's rounding cancels.
 *
 * Why H = 1e-2 and RTOL = 1e-2: values are O(1). The forward's float32
 * rounding moves L by about 6e-8 |y| per output that v touches (outputs it
 * does not touch round identically on both sides and cancel), which over
 * 2h is ~1e-5 relative; the truncation error of a central difference is
 * h^2/6 f''' ~ 2e-5 for these smooth functions (relu is sampled away from
 * its kink, dropout is linear once its mask is fixed). The worst case seen
 * is well under a tenth of RTOL, so the test is robust; a wrong gradient
 * (a factor 2 missing, a sign, a transposed weight, a forgotten
 * loss_scale) is off by 30% or more and fails by far. An element is judged
 * against max(|numerical|, FLOOR * the tensor's largest), so a component
 * that is nearly zero is not held to a relative accuracy no difference
 * quotient has. test_checker_catches shows the judge fails real bugs. */
#define H 1e-2
#define RTOL 1e-2
#define FLOOR 0.05

/* The worst |analytic - numerical| / allowed over a tensor: <= 1 passes. */
static double grad_error(const float *analytic, const double *numerical,
                         int64_t n, int64_t *worst)
{
    double big = 0.0;
    for (int64_t i = 0; i < n; i++)
        big = fmax(big, fabs(numerical[i]));
    double ratio = 0.0;
    *worst = 0;
    for (int64_t i = 0; i < n; i++) {
        double allowed = RTOL * fmax(fabs(numerical[i]), FLOOR * big) + 1e-7;
        double e = fabs((double)analytic[i] - numerical[i]) / allowed;
        if (e > ratio) {
            ratio = e;
            *worst = i;
        }
    }
    return ratio;
}

/* L at the current x and parameters (forward into scratch y). */
static double objective(layer *l, const void *x, const float *r, float *y)
{
    run_forward(l, x, y);
    if (l->plan.is_loss)
        return (double)y[0];
    double sum = 0.0;
    for (int64_t i = 0; i < l->out_len; i++)
        sum += (double)y[i] * (double)r[i];
    return sum;
}

/* dL/dv[i] for every element of v (x or a parameter), by central
 * differences; v is restored. */
static void numerical_grad(layer *l, float *v, int64_t n, const void *x,
                           const float *r, float *y, double *out)
{
    for (int64_t i = 0; i < n; i++) {
        float keep = v[i];
        float plus = (float)(keep + H), minus = (float)(keep - H);
        v[i] = plus;
        double lp = objective(l, x, r, y);
        v[i] = minus;
        double lm = objective(l, x, r, y);
        v[i] = keep;
        out[i] = (lp - lm) / ((double)plus - (double)minus);
    }
}

/* The analytic gradients of L at x: dx (when the layer has one) and the
 * parameter gradients (zeroed first, then accumulated by the kernel). */
typedef struct grads {
    float *r, *y, *dx;
} grads;

static grads analytic_grads(layer *l, const void *x, uint64_t *rng)
{
    grads g;
    g.r = alloc_floats(l->out_len);
    fill_uniform(g.r, l->out_len, rng, -1.0, 1.0);
    g.y = alloc_floats(l->out_len);
    g.dx = alloc_floats(l->in_len);
    const float *dy = l->plan.is_loss ? NULL : g.r;
    run_forward(l, x, g.y);
    if (l->k->backward_input)
        run_backward_input(l, x, g.y, dy, g.dx);
    if (l->k->backward_weight) {
        zero_grads(l);
        run_backward_weight(l, x, g.y, dy);
    }
    return g;
}

static void grads_free(grads *g)
{
    free(g->r);
    free(g->y);
    free(g->dx);
}

/* Compares every analytic gradient of l at x with finite differences and
 * returns the worst ratio (<= 1 passes); names the tensor in what. */
static double check_grads(layer *l, void *x, const grads *g, char *what,
                          size_t size)
{
    double worst = 0.0;
    int64_t at;
    float *scratch = alloc_floats(l->out_len);
    if (l->k->backward_input) {
        double *num = calloc((size_t)l->in_len + 1, sizeof *num);
        ck_assert_ptr_nonnull(num);
        numerical_grad(l, x, l->in_len, x, g->r, scratch, num);
        double e = grad_error(g->dx, num, l->in_len, &at);
        if (e > worst) {
            worst = e;
            snprintf(what, size, "dx[%lld]: %g, numerically %g",
                     (long long)at, g->dx[at], num[at]);
        }
        free(num);
    }
    for (int p = 0; l->k->backward_weight && p < l->plan.nparams; p++) {
        double *num = calloc((size_t)l->param_len[p], sizeof *num);
        ck_assert_ptr_nonnull(num);
        numerical_grad(l, l->param[p], l->param_len[p], x, g->r, scratch,
                       num);
        double e = grad_error(l->grad[p], num, l->param_len[p], &at);
        if (e > worst) {
            worst = e;
            snprintf(what, size, "d%s[%lld]: %g, numerically %g",
                     l->plan.params[p].name, (long long)at, l->grad[p][at],
                     num[at]);
        }
        free(num);
    }
    free(scratch);
    return worst;
}

/* ---- the gradient cases ----------------------------------------------- */

/* A layer and the shapes it is tried on: `lead` leading dimensions of
 * lead_lo..lead_hi each, a last dimension of last_lo..last_hi, and
 * n_lo..n_hi samples. */
typedef struct grad_case {
    const char *type, *keys;
    int lead, lead_lo, lead_hi, last_lo, last_hi, n_lo, n_hi;
    int vocab;        /* > 0: the input is token ids below it */
    double away;      /* inputs are kept this far from 0 (relu's kink) */
} grad_case;

static const grad_case grad_cases[] = {
    {"linear", "units = 7", 1, 1, 4, 1, 17, 1, 3, 0, 0},
    {"linear", "units = 5\nbias = false", 2, 1, 3, 1, 12, 1, 2, 0, 0},
    /* More rows and outputs than one 32-wide tile, and a feature count
     * that leaves a remainder after the 8-wide lanes. */
    {"linear", "units = 37", 1, 11, 16, 33, 45, 3, 3, 0, 0},
    {"relu", "", 2, 1, 4, 1, 9, 1, 3, 0, 0.05},
    {"gelu", "", 2, 1, 4, 1, 9, 1, 3, 0, 0},
    {"tanh", "", 2, 1, 4, 1, 9, 1, 3, 0, 0},
    /* At least 4 features: with 2 or 3 a row's variance can be tiny by
     * chance, and then the difference quotient, not the kernel, is off. */
    {"layernorm", "", 1, 1, 4, 4, 24, 1, 3, 0, 0},
    {"layernorm", "eps = 0.01", 0, 1, 1, 4, 40, 1, 2, 0, 0},
    {"dropout", "rate = 0.3", 2, 1, 4, 1, 9, 1, 3, 0, 0},
    {"softmax_xent", "", 1, 1, 3, 2, 9, 1, 2, 0, 0},
    {"mse", "", 2, 1, 3, 1, 6, 1, 3, 0, 0},
    /* Few ids for many tokens: rows are hit repeatedly and must add up. */
    {"embedding", "vocab = 5\ndim = 6", 1, 1, 3, 3, 9, 1, 3, 5, 0},
};
#define NGRAD_CASES ((int)(sizeof grad_cases / sizeof *grad_cases))
#define SHAPES_PER_CASE 3

/* n samples of random input for case gc. */
static void *random_input(const grad_case *gc, int64_t len, uint64_t *rng)
{
    if (gc->vocab > 0) {
        int32_t *ids = calloc((size_t)len, sizeof *ids);
        ck_assert_ptr_nonnull(ids);
        for (int64_t i = 0; i < len; i++)
            ids[i] = rng_int(rng, 0, gc->vocab - 1);
        return ids;
    }
    float *x = alloc_floats(len);
    for (int64_t i = 0; i < len; i++) {
        double u = rng_uniform(rng, -1.0, 1.0);
        x[i] = (float)(u < 0 ? u - gc->away : u + gc->away);
    }
    return x;
}

START_TEST(test_gradients)
{
    const grad_case *gc = &grad_cases[_i];
    uint64_t rng = 1000 + (uint64_t)_i;
    for (int rep = 0; rep < SHAPES_PER_CASE; rep++) {
        pp_shape shape = {gc->lead + 1, {0}};
        for (int d = 0; d < gc->lead; d++)
            shape.dim[d] = rng_int(&rng, gc->lead_lo, gc->lead_hi);
        shape.dim[gc->lead] = rng_int(&rng, gc->last_lo, gc->last_hi);
        int n = rng_int(&rng, gc->n_lo, gc->n_hi);
        layer l;
        layer_open(&l, gc->type, gc->keys, gc->vocab ? PP_I32 : PP_F32,
                   &shape, n, &rng);
        void *x = random_input(gc, l.in_len, &rng);
        grads g = analytic_grads(&l, x, &rng);
        char what[256] = "";
        double e = check_grads(&l, x, &g, what, sizeof what);
        char dims[64];
        ck_assert_msg(e <= 1.0,
                      "%s (%s) on n=%d x %s: %s (%.1f times the tolerance)",
                      gc->type, gc->keys, n,
                      pp_shape_format(&shape, dims, sizeof dims), what, e);
        grads_free(&g);
        free(x);
        layer_close(&l);
    }
}
END_TEST

/* The judge above must fail the bugs it is meant to catch: the gradients
 * of a correct linear layer, doubled or with W's gradient transposed, and
 * a softmax_xent gradient without loss_scale. */
START_TEST(test_checker_catches)
{
    uint64_t rng = 77;
    pp_shape shape = {2, {3, 6}};
    layer l;
    layer_open(&l, "linear", "units = 6", PP_F32, &shape, 2, &rng);
    float *x = alloc_floats(l.in_len);
    fill_uniform(x, l.in_len, &rng, -1.0, 1.0);
    grads g = analytic_grads(&l, x, &rng);
    char what[256];
    ck_assert_double_le(check_grads(&l, x, &g, what, sizeof what), 1.0);

    for (int64_t i = 0; i < l.in_len; i++)
        g.dx[i] *= 2.0f;
    ck_assert_double_gt(check_grads(&l, x, &g, what, sizeof what), 10.0);
    for (int64_t i = 0; i < l.in_len; i++)
        g.dx[i] *= 0.5f;
    float *dw = l.grad[0], t[36];
    for (int o = 0; o < 6; o++)
        for (int i = 0; i < 6; i++)
            t[o * 6 + i] = dw[i * 6 + o];
    memcpy(dw, t, sizeof t);
    ck_assert_double_gt(check_grads(&l, x, &g, what, sizeof what), 10.0);
    grads_free(&g);
    free(x);
    layer_close(&l);

    pp_shape logits = {1, {5}};
    layer_open(&l, "softmax_xent", "", PP_F32, &logits, 3, &rng);
    x = alloc_floats(l.in_len);
    fill_uniform(x, l.in_len, &rng, -1.0, 1.0);
    g = analytic_grads(&l, x, &rng);
    ck_assert_double_le(check_grads(&l, x, &g, what, sizeof what), 1.0);
    for (int64_t i = 0; i < l.in_len; i++)
        g.dx[i] /= (float)l.call.loss_scale;
    ck_assert_double_gt(check_grads(&l, x, &g, what, sizeof what), 10.0);
    grads_free(&g);
    free(x);
    layer_close(&l);
}
END_TEST

/* ---- forward values against float64 ---------------------------------- */

START_TEST(test_linear_forward)
{
    uint64_t rng = 5;
    pp_shape shape = {2, {13, 41}}; /* 3 x 13 = 39 rows, past one tile */
    const int n = 3, units = 35;
    layer l;
    layer_open(&l, "linear", "units = 35", PP_F32, &shape, n, &rng);
    float *x = alloc_floats(l.in_len), *y = alloc_floats(l.out_len);
    fill_uniform(x, l.in_len, &rng, -1.0, 1.0);
    run_forward(&l, x, y);
    const float *w = l.param[0], *b = l.param[1];
    for (int r = 0; r < n * 13; r++)
        for (int o = 0; o < units; o++) {
            double ref = b[o], mag = fabs(b[o]);
            for (int i = 0; i < 41; i++) {
                ref += (double)x[r * 41 + i] * w[o * 41 + i];
                mag += fabs((double)x[r * 41 + i] * w[o * 41 + i]);
            }
            /* A float dot product of 41 terms is within ~41 * 6e-8 of
             * the sum of their magnitudes. */
            ck_assert_msg(fabs(y[r * units + o] - ref) <= 1e-5 * mag,
                          "y[%d,%d] = %g, expected %g", r, o,
                          y[r * units + o], ref);
        }
    free(x);
    free(y);
    layer_close(&l);
}
END_TEST

START_TEST(test_layernorm_forward)
{
    uint64_t rng = 6;
    pp_shape shape = {2, {4, 10}};
    layer l;
    /* A large eps, so that one the kernel ignored would show. */
    layer_open(&l, "layernorm", "eps = 0.1", PP_F32, &shape, 2, &rng);
    float *x = alloc_floats(l.in_len), *y = alloc_floats(l.out_len);
    fill_uniform(x, l.in_len, &rng, -2.0, 3.0);
    run_forward(&l, x, y);
    for (int r = 0; r < 8; r++) {
        const float *xr = x + r * 10;
        double mean = 0.0, var = 0.0;
        for (int i = 0; i < 10; i++)
            mean += xr[i];
        mean /= 10;
        for (int i = 0; i < 10; i++)
            var += (xr[i] - mean) * (xr[i] - mean);
        var /= 10;
        for (int i = 0; i < 10; i++) {
            double ref = (xr[i] - mean) / sqrt(var + 0.1) * l.param[0][i] +
                         l.param[1][i];
            ck_assert_msg(fabs(y[r * 10 + i] - ref) <= 1e-5 * (1 + fabs(ref)),
                          "y[%d,%d] = %g, expected %g", r, i, y[r * 10 + i],
                          ref);
        }
    }
    free(x);
    free(y);
    layer_close(&l);
}
END_TEST

START_TEST(test_loss_forward)
{
    uint64_t rng = 7;
    pp_shape shape = {2, {3, 11}};
    layer l;
    float loss;

    layer_open(&l, "softmax_xent", "", PP_F32, &shape, 4, &rng);
    float *x = alloc_floats(l.in_len);
    fill_uniform(x, l.in_len, &rng, -4.0, 4.0);
    run_forward(&l, x, &loss);
    const int32_t *t = l.target;
    double ref = 0.0;
    for (int r = 0; r < 12; r++) {
        double sum = 0.0;
        for (int j = 0; j < 11; j++)
            sum += exp((double)x[r * 11 + j]);
        ref -= x[r * 11 + t[r]] - log(sum);
    }
    ref *= l.call.loss_scale;
    ck_assert_msg(fabs(loss - ref) <= 1e-6 * fabs(ref), "xent %g, expected %g",
                  loss, ref);
    free(x);
    layer_close(&l);

    layer_open(&l, "mse", "", PP_F32, &shape, 4, &rng);
    x = alloc_floats(l.in_len);
    fill_uniform(x, l.in_len, &rng, -4.0, 4.0);
    run_forward(&l, x, &loss);
    const float *tf = l.target;
    ref = 0.0;
    for (int i = 0; i < l.in_len; i++)
        ref += ((double)x[i] - tf[i]) * ((double)x[i] - tf[i]);
    ref *= l.call.loss_scale;
    ck_assert_msg(fabs(loss - ref) <= 1e-6 * fabs(ref), "mse %g, expected %g",
                  loss, ref);
    free(x);
    layer_close(&l);
}
END_TEST

/* ---- dropout's mask ----------------------------------------------------- */

START_TEST(test_dropout)
{
    enum { N = 100000 };
    const double rate = 0.3;
    uint64_t rng = 8;
    pp_shape shape = {1, {N / 4}};
    layer l;
    layer_open(&l, "dropout", "rate = 0.3", PP_F32, &shape, 4, &rng);
    float *x = alloc_floats(N), *y1 = alloc_floats(N), *y2 = alloc_floats(N);
    float *dx = alloc_floats(N);
    /* No zeros in x, so y == 0 means dropped. */
    for (int i = 0; i < N; i++)
        x[i] = (float)rng_uniform(&rng, 0.5, 1.5);

    run_forward(&l, x, y1);
    run_forward(&l, x, y2);
    ck_assert_msg(memcmp(y1, y2, N * sizeof(float)) == 0,
                  "the same seed gave two masks");
    int kept = 0;
    for (int i = 0; i < N; i++)
        if (y1[i] != 0.0f) {
            kept++;
            ck_assert_float_eq_tol(y1[i], x[i] / (1.0 - rate), 1e-6);
        }
    /* Binomial: sd sqrt(0.21 / N) ~ 0.0015; 0.01 is ~7 sd. */
    ck_assert_double_eq_tol((double)kept / N, 1.0 - rate, 0.01);

    /* backward uses the forward's mask */
    run_backward_input(&l, x, y1, x, dx);
    ck_assert_msg(memcmp(dx, y1, N * sizeof(float)) == 0,
                  "backward's mask differs from forward's");

    /* The next seed: an unrelated mask, agreeing on an element as often
     * as two independent ones would, rate^2 + (1 - rate)^2. */
    l.call.seed++;
    run_forward(&l, x, y2);
    int agree = 0;
    for (int i = 0; i < N; i++)
        agree += (y1[i] == 0.0f) == (y2[i] == 0.0f);
    ck_assert_double_eq_tol((double)agree / N,
                            rate * rate + (1 - rate) * (1 - rate), 0.01);

    /* evaluation: the identity, forward and backward */
    l.call.training = 0;
    run_forward(&l, x, y2);
    ck_assert_msg(memcmp(x, y2, N * sizeof(float)) == 0,
                  "evaluation forward is not the identity");
    run_backward_input(&l, x, y2, x, dx);
    ck_assert_msg(memcmp(x, dx, N * sizeof(float)) == 0,
                  "evaluation backward is not the identity");
    free(x);
    free(y1);
    free(y2);
    free(dx);
    layer_close(&l);
}
END_TEST

/* ---- accumulation ------------------------------------------------------ */

/* backward_weight adds: a second call on the same dy doubles the
 * gradients (to float rounding: the second sum starts from the first). */
static void check_accumulates(const char *type, const char *keys,
                              pp_dtype dtype, const pp_shape *shape, int n,
                              int vocab)
{
    uint64_t rng = 9;
    layer l;
    layer_open(&l, type, keys, dtype, shape, n, &rng);
    grad_case gc = {.vocab = vocab};
    void *x = random_input(&gc, l.in_len, &rng);
    grads g = analytic_grads(&l, x, &rng); /* the first call */
    float *once[PP_LAYER_MAX_PARAMS];
    for (int p = 0; p < l.plan.nparams; p++) {
        once[p] = alloc_floats(l.param_len[p]);
        memcpy(once[p], l.grad[p], (size_t)l.param_len[p] * sizeof(float));
    }
    run_backward_weight(&l, x, g.y, g.r);
    for (int p = 0; p < l.plan.nparams; p++) {
        for (int64_t i = 0; i < l.param_len[p]; i++)
            ck_assert_msg(fabs(l.grad[p][i] - 2.0 * once[p][i]) <=
                              1e-5 * (1.0 + fabs(once[p][i])),
                          "%s d%s[%lld]: %g after two calls, %g after one",
                          type, l.plan.params[p].name, (long long)i,
                          l.grad[p][i], once[p][i]);
        free(once[p]);
    }
    grads_free(&g);
    free(x);
    layer_close(&l);
}

START_TEST(test_accumulate)
{
    pp_shape rows = {2, {5, 9}}, tokens = {1, {12}};
    check_accumulates("linear", "units = 4", PP_F32, &rows, 2, 0);
    check_accumulates("layernorm", "", PP_F32, &rows, 2, 0);
    check_accumulates("embedding", "vocab = 7\ndim = 3", PP_I32, &tokens, 2,
                      7);
}
END_TEST

/* ---- runtime errors ----------------------------------------------------- */

START_TEST(test_embedding_bad_id)
{
    uint64_t rng = 10;
    pp_shape shape = {1, {4}};
    layer l;
    layer_open(&l, "embedding", "vocab = 10\ndim = 3", PP_I32, &shape, 2,
               &rng);
    int32_t ids[8] = {0, 1, 2, 9, 3, 4, 5, 6};
    float y[24], dy[24] = {0};
    pp_error err;
    const int32_t bad[] = {10, -1};
    for (int b = 0; b < 2; b++) {
        ids[5] = bad[b];
        pp_error_clear(&err);
        ck_assert_int_eq(l.k->forward(&l.call, ids, y, &err), PP_ERR_RUNTIME);
        ck_assert_msg(strstr(err.msg, "token id") &&
                          strstr(err.msg, "at token 5") &&
                          strstr(err.msg, "vocabulary of 10"),
                      "%s", err.msg);
        pp_error_clear(&err);
        ck_assert_int_eq(l.k->backward_weight(&l.call, ids, y, dy, &err),
                         PP_ERR_RUNTIME);
    }
    ck_assert_str_eq(err.msg, "embedding: token id -1 (at token 5 of the "
                              "micro-batch) is outside the vocabulary of 10 "
                              "ids (0 to 9)");
    layer_close(&l);
}
END_TEST

START_TEST(test_xent_bad_target)
{
    uint64_t rng = 11;
    pp_shape shape = {1, {3}};
    layer l;
    layer_open(&l, "softmax_xent", "", PP_F32, &shape, 4, &rng);
    float x[12] = {0}, loss, dx[12];
    int32_t *t = l.target;
    const int32_t bad[] = {3, -1};
    pp_error err;
    for (int b = 0; b < 2; b++) {
        t[2] = bad[b];
        pp_error_clear(&err);
        ck_assert_int_eq(l.k->forward(&l.call, x, &loss, &err),
                         PP_ERR_RUNTIME);
        ck_assert_msg(strstr(err.msg, "target class") &&
                          strstr(err.msg, "at row 2"), "%s", err.msg);
        pp_error_clear(&err);
        ck_assert_int_eq(
            l.k->backward_input(&l.call, x, &loss, NULL, dx, &err),
            PP_ERR_RUNTIME);
    }
    ck_assert_str_eq(err.msg, "softmax_xent: target class -1 (at row 2 of "
                              "the micro-batch) is outside the 3 classes (0 "
                              "to 2)");
    layer_close(&l);
}
END_TEST

/* ---- plans -------------------------------------------------------------- */

/* What the kernels and the core's memory plan rely on. */
START_TEST(test_plans)
{
    uint64_t rng = 12;
    pp_shape seq = {2, {6, 10}}, ids = {1, {6}};
    layer l;

    /* With a bias, one float a row: the ones its CUDA half needs. */
    layer_open(&l, "linear", "units = 3", PP_F32, &seq, 1, &rng);
    ck_assert_uint_eq(l.plan.saved_bytes, 6 * sizeof(float));
    ck_assert_int_eq(l.plan.out.shape.dim[1], 3);
    ck_assert_int_eq(pp_layer_plan_params(&l.plan), 3 * 10 + 3);
    layer_close(&l);

    layer_open(&l, "layernorm", "", PP_F32, &seq, 1, &rng);
    ck_assert_uint_eq(l.plan.saved_bytes, 6 * 2 * sizeof(float));
    ck_assert_int_eq(l.plan.params[0].init, PP_INIT_ONES);
    ck_assert_int_eq(l.plan.params[1].init, PP_INIT_ZEROS);
    ck_assert_double_eq_tol(l.plan.arg[0], 1e-5, 1e-12);
    layer_close(&l);

    layer_open(&l, "embedding", "vocab = 50\ndim = 8", PP_I32, &ids, 1, &rng);
    ck_assert_int_eq(l.plan.out.dtype, PP_F32);
    ck_assert_int_eq(l.plan.out.shape.ndim, 2);
    ck_assert_int_eq(l.plan.out.shape.dim[1], 8);
    ck_assert_int_eq(l.plan.params[0].init, PP_INIT_NORMAL);
    ck_assert_ptr_null(l.k->backward_input);
    layer_close(&l);

    layer_open(&l, "softmax_xent", "", PP_F32, &seq, 1, &rng);
    ck_assert_int_eq(l.plan.is_loss, 1);
    ck_assert_int_eq(l.plan.out.shape.ndim, 0);
    ck_assert_int_eq(l.plan.target.dtype, PP_I32);
    ck_assert_int_eq(l.plan.target.shape.ndim, 1);
    ck_assert_int_eq(l.plan.target.shape.dim[0], 6);
    layer_close(&l);

    layer_open(&l, "mse", "", PP_F32, &seq, 1, &rng);
    ck_assert_int_eq(l.plan.target.dtype, PP_F32);
    ck_assert_int_eq(l.plan.target.shape.ndim, 2);
    layer_close(&l);

    const char *const no_saved[] = {"relu", "gelu", "tanh", "dropout"};
    for (int i = 0; i < 4; i++) {
        layer_open(&l, no_saved[i], "", PP_F32, &seq, 1, &rng);
        ck_assert_uint_eq(l.plan.saved_bytes, 0);
        ck_assert_ptr_null(l.k->backward_weight);
        layer_close(&l);
    }
}
END_TEST

/* Plan errors: the wrong input dtype for every layer, and dropout's rate. */
START_TEST(test_plan_errors)
{
    static const struct {
        const char *type, *keys, *msg;
        pp_dtype dtype;
    } cases[] = {
        {"linear", "units = 2", "linear needs float features", PP_I32},
        {"relu", "", "relu needs float input", PP_I32},
        {"gelu", "", "gelu needs float input", PP_I32},
        {"tanh", "", "tanh needs float input", PP_I32},
        {"layernorm", "", "layernorm needs float features", PP_I32},
        {"dropout", "", "dropout needs float input", PP_I32},
        {"mse", "", "mse needs float predictions", PP_I32},
        {"softmax_xent", "", "softmax_xent needs float logits", PP_I32},
        {"embedding", "vocab = 3\ndim = 2", "embedding needs token ids",
         PP_F32},
        {"dropout", "rate = 1", "rate: must be below 1", PP_F32},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        pp_tensor_desc in = {cases[i].dtype, {1, {4}}};
        pp_config *cfg;
        pp_layer_plan plan;
        const pp_layer_ops *ops;
        pp_error err;
        pp_error_clear(&err);
        ck_assert_int_eq(plan_layer(cases[i].type, cases[i].keys, &in, &cfg,
                                    &plan, &ops, &err), PP_ERR_CONFIG);
        ck_assert_msg(strstr(err.msg, cases[i].msg), "%s: %s", cases[i].type,
                      err.msg);
        pp_config_free(cfg);
    }
}
END_TEST

static Suite *layers_suite(void)
{
    Suite *s = suite_create("layers");
    TCase *tc = tcase_create("cpu");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_gradients, 0, NGRAD_CASES);
    tcase_add_test(tc, test_checker_catches);
    tcase_add_test(tc, test_linear_forward);
    tcase_add_test(tc, test_layernorm_forward);
    tcase_add_test(tc, test_loss_forward);
    tcase_add_test(tc, test_dropout);
    tcase_add_test(tc, test_accumulate);
    tcase_add_test(tc, test_embedding_bad_id);
    tcase_add_test(tc, test_xent_bad_target);
    tcase_add_test(tc, test_plans);
    tcase_add_test(tc, test_plan_errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    pp_error err;
    pp_error_clear(&err);
    if (pp_registry_create(NULL, &reg, &err) != PP_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return EXIT_FAILURE;
    }
    SRunner *sr = srunner_create(layers_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    pp_registry_free(reg);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
