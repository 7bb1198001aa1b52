/* tests/test_layers.c - the gradients of every layer plugin's CPU
 * kernels: backward_input and backward_weight against finite differences
 * of the forward, on random shapes, a check that this judge fails the bugs
 * it is meant to catch, and that both backwards accumulate.
 *
 * Layers are planned from a real [layer] section through the registry
 * (tests/layer_harness.c). Inputs, parameters and shapes are random from
 * fixed seeds: a failure reproduces.
 *
 * Not a test of forward values, dropout's mask, runtime errors or plans
 * (test_layer_values.c): a gradient here is judged against the layer's own
 * forward, whatever that computes.
 */
#include <config.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "layer_harness.h"

static pp_registry *reg;

static void zero_grads(layer *l)
{
    for (int p = 0; p < l->plan.nparams; p++)
        memset(l->grad[p], 0, (size_t)l->param_len[p] * sizeof(float));
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

/* L at the current inputs and parameters (forward into scratch y). */
static double objective(layer *l, const void *const *x, const float *r,
                        float *y)
{
    run_forward_n(l, x, y);
    if (l->plan.is_loss)
        return (double)y[0];
    double sum = 0.0;
    for (int64_t i = 0; i < l->out_len; i++)
        sum += (double)y[i] * (double)r[i];
    return sum;
}

/* dL/dv[i] for every element of v (an input or a parameter), by central
 * differences; v is restored. */
static void numerical_grad(layer *l, float *v, int64_t n,
                           const void *const *x, const float *r, float *y,
                           double *out)
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

/* The analytic gradients of L at x: each float input's dx (when the layer
 * has a backward_input; zeroed, then added to by the kernel) and the
 * parameter gradients (likewise). */
typedef struct grads {
    float *r, *y;
    float *dx[LAYER_MAX_INPUTS]; /* NULL: no gradient for that input */
} grads;

static int has_dx(const layer *l, int i)
{
    return l->k->backward_input && l->in[i].dtype == PP_F32;
}

static grads analytic_grads(layer *l, const void *const *x, uint64_t *rng)
{
    grads g = {0};
    g.r = alloc_floats(l->out_len);
    fill_uniform(g.r, l->out_len, rng, -1.0, 1.0);
    g.y = alloc_floats(l->out_len);
    void *dx[LAYER_MAX_INPUTS] = {0};
    for (int i = 0; i < l->nin; i++)
        if (has_dx(l, i))
            dx[i] = g.dx[i] = alloc_floats(l->in_len[i]);
    const float *dy = l->plan.is_loss ? NULL : g.r;
    run_forward_n(l, x, g.y);
    if (l->k->backward_input)
        run_backward_input_n(l, x, g.y, dy, dx);
    if (l->k->backward_weight) {
        zero_grads(l);
        run_backward_weight_n(l, x, g.y, dy);
    }
    return g;
}

static void grads_free(grads *g)
{
    free(g->r);
    free(g->y);
    for (int i = 0; i < LAYER_MAX_INPUTS; i++)
        free(g->dx[i]);
}

/* Compares every analytic gradient of l at x with finite differences and
 * returns the worst ratio (<= 1 passes); names the tensor in what. */
static double check_grads(layer *l, void *const *x, const grads *g,
                          char *what, size_t size)
{
    double worst = 0.0;
    int64_t at;
    float *scratch = alloc_floats(l->out_len);
    for (int i = 0; i < l->nin; i++) {
        if (!g->dx[i])
            continue;
        double *num = calloc((size_t)l->in_len[i] + 1, sizeof *num);
        ck_assert_ptr_nonnull(num);
        numerical_grad(l, x[i], l->in_len[i], (const void *const *)x, g->r,
                       scratch, num);
        double e = grad_error(g->dx[i], num, l->in_len[i], &at);
        if (e > worst) {
            worst = e;
            snprintf(what, size, "dx%d[%lld]: %g, numerically %g", i,
                     (long long)at, g->dx[i][at], num[at]);
        }
        free(num);
    }
    for (int p = 0; l->k->backward_weight && p < l->plan.nparams; p++) {
        double *num = calloc((size_t)l->param_len[p], sizeof *num);
        ck_assert_ptr_nonnull(num);
        numerical_grad(l, l->param[p], l->param_len[p],
                       (const void *const *)x, g->r, scratch, num);
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
 * lead_lo..lead_hi each, a last dimension of last_lo..last_hi (times
 * last_mult, where given), and n_lo..n_hi samples; `inputs` inputs of
 * that shape (concat's each get their own last dimension). */
typedef struct grad_case {
    const char *type, *keys;
    int lead, lead_lo, lead_hi, last_lo, last_hi, n_lo, n_hi;
    int vocab;        /* > 0: the input is token ids below it */
    double away;      /* inputs are kept this far from 0 (relu's kink) */
    int inputs;       /* 0 or 1: one */
    int own_last;     /* each input draws its own last dimension */
    int last_mult;    /* > 0: the last dimension is a multiple of it */
} grad_case;

static const grad_case grad_cases[] = {
    {"linear", "units = 7", 1, 1, 4, 1, 17, 1, 3, 0, 0, 1, 0, 0},
    {"linear", "units = 5\nbias = false", 2, 1, 3, 1, 12, 1, 2, 0, 0, 1, 0, 0},
    /* More rows and outputs than one 32-wide tile, and a feature count
     * that leaves a remainder after the 8-wide lanes. */
    {"linear", "units = 37", 1, 11, 16, 33, 45, 3, 3, 0, 0, 1, 0, 0},
    /* activation = gelu: pre saved by forward, turned into dpre there by
     * the first backward. */
    {"linear", "units = 7\nactivation = gelu", 1, 1, 4, 1, 17, 1, 3, 0, 0,
     1, 0, 0},
    {"linear", "units = 5\nbias = false\nactivation = gelu", 2, 1, 3, 1, 12,
     1, 2, 0, 0, 1, 0, 0},
    {"relu", "", 2, 1, 4, 1, 9, 1, 3, 0, 0.05, 1, 0, 0},
    {"gelu", "", 2, 1, 4, 1, 9, 1, 3, 0, 0, 1, 0, 0},
    {"tanh", "", 2, 1, 4, 1, 9, 1, 3, 0, 0, 1, 0, 0},
    /* At least 4 features: with 2 or 3 a row's variance can be tiny by
     * chance, and then the difference quotient, not the kernel, is off. */
    {"layernorm", "", 1, 1, 4, 4, 24, 1, 3, 0, 0, 1, 0, 0},
    {"layernorm", "eps = 0.01", 0, 1, 1, 4, 40, 1, 2, 0, 0, 1, 0, 0},
    {"dropout", "rate = 0.3", 2, 1, 4, 1, 9, 1, 3, 0, 0, 1, 0, 0},
    {"softmax_xent", "", 1, 1, 3, 2, 9, 1, 2, 0, 0, 1, 0, 0},
    {"mse", "", 2, 1, 3, 1, 6, 1, 3, 0, 0, 1, 0, 0},
    /* Few ids for many tokens: rows are hit repeatedly and must add up. */
    {"embedding", "vocab = 5\ndim = 6", 1, 1, 3, 3, 9, 1, 3, 5, 0, 1, 0, 0},
    /* And a position's row, its gradient summed over the samples. */
    {"embedding", "vocab = 5\ndim = 6\npositions = true", 0, 1, 1, 2, 9, 2, 3,
     5, 0, 1, 0, 0},
    /* Layers of several inputs: the residual sum, and the join. */
    {"add", "", 2, 1, 4, 1, 9, 1, 3, 0, 0, 2, 0, 0},
    {"add", "", 1, 1, 3, 1, 9, 1, 2, 0, 0, 3, 0, 0},
    {"concat", "", 1, 1, 4, 1, 9, 1, 3, 0, 0, 2, 1, 0},
    {"concat", "", 2, 1, 3, 1, 6, 1, 2, 0, 0, 3, 1, 0},
    /* T positions of q, k and v for heads of 1 to 3 features: causal and
     * not, one head and several, T = 1 alone, an odd T of 9. */
    {"attention", "heads = 2", 1, 1, 7, 1, 3, 1, 2, 0, 0, 1, 0, 3 * 2},
    {"attention", "heads = 3\ncausal = false", 1, 2, 6, 1, 3, 1, 2, 0, 0, 1,
     0, 3 * 3},
    {"attention", "heads = 1", 1, 1, 1, 1, 4, 1, 3, 0, 0, 1, 0, 3},
    {"attention", "heads = 1\ncausal = false", 1, 1, 1, 1, 4, 1, 3, 0, 0, 1,
     0, 3},
    {"attention", "heads = 4", 1, 9, 9, 1, 2, 1, 2, 0, 0, 1, 0, 3 * 4},
};
#define NGRAD_CASES ((int)(sizeof grad_cases / sizeof *grad_cases))
#define SHAPES_PER_CASE 3

/* n samples of random input of len elements for case gc. */
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

/* Case gc on random shapes, inputs and parameters from rng. */
static void open_case(layer *l, const grad_case *gc, void **x, int *n,
                      uint64_t *rng)
{
    int nin = gc->inputs > 1 ? gc->inputs : 1;
    pp_tensor_desc in[LAYER_MAX_INPUTS];
    pp_shape shape = {gc->lead + 1, {0}};
    for (int d = 0; d < gc->lead; d++)
        shape.dim[d] = rng_int(rng, gc->lead_lo, gc->lead_hi);
    for (int i = 0; i < nin; i++) {
        if (i == 0 || gc->own_last)
            shape.dim[gc->lead] = rng_int(rng, gc->last_lo, gc->last_hi) *
                                  (gc->last_mult ? gc->last_mult : 1);
        in[i] = (pp_tensor_desc){gc->vocab ? PP_I32 : PP_F32, shape};
    }
    *n = rng_int(rng, gc->n_lo, gc->n_hi);
    layer_open_inputs(l, reg, gc->type, gc->keys, nin, in, *n, rng);
    for (int i = 0; i < nin; i++)
        x[i] = random_input(gc, l->in_len[i], rng);
}

START_TEST(test_gradients)
{
    const grad_case *gc = &grad_cases[_i];
    uint64_t rng = 1000 + (uint64_t)_i;
    for (int rep = 0; rep < SHAPES_PER_CASE; rep++) {
        layer l;
        void *x[LAYER_MAX_INPUTS] = {0};
        int n;
        open_case(&l, gc, x, &n, &rng);
        grads g = analytic_grads(&l, (const void *const *)x, &rng);
        char what[256] = "";
        double e = check_grads(&l, x, &g, what, sizeof what);
        char dims[64];
        ck_assert_msg(e <= 1.0,
                      "%s (%s) on n=%d x %s: %s (%.1f times the tolerance)",
                      gc->type, gc->keys, n,
                      pp_shape_format(&l.in[0].shape, dims, sizeof dims),
                      what, e);
        grads_free(&g);
        for (int i = 0; i < l.nin; i++)
            free(x[i]);
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
    layer_open(&l, reg, "linear", "units = 6", PP_F32, &shape, 2, &rng);
    float *x = alloc_floats(l.in_len[0]);
    fill_uniform(x, l.in_len[0], &rng, -1.0, 1.0);
    void *xs[1] = {x};
    grads g = analytic_grads(&l, (const void *const *)xs, &rng);
    char what[256];
    ck_assert_double_le(check_grads(&l, xs, &g, what, sizeof what), 1.0);

    for (int64_t i = 0; i < l.in_len[0]; i++)
        g.dx[0][i] *= 2.0f;
    ck_assert_double_gt(check_grads(&l, xs, &g, what, sizeof what), 10.0);
    for (int64_t i = 0; i < l.in_len[0]; i++)
        g.dx[0][i] *= 0.5f;
    float *dw = l.grad[0], t[36];
    for (int o = 0; o < 6; o++)
        for (int i = 0; i < 6; i++)
            t[o * 6 + i] = dw[i * 6 + o];
    memcpy(dw, t, sizeof t);
    ck_assert_double_gt(check_grads(&l, xs, &g, what, sizeof what), 10.0);
    grads_free(&g);
    free(x);
    layer_close(&l);

    pp_shape logits = {1, {5}};
    layer_open(&l, reg, "softmax_xent", "", PP_F32, &logits, 3, &rng);
    x = alloc_floats(l.in_len[0]);
    fill_uniform(x, l.in_len[0], &rng, -1.0, 1.0);
    xs[0] = x;
    g = analytic_grads(&l, (const void *const *)xs, &rng);
    ck_assert_double_le(check_grads(&l, xs, &g, what, sizeof what), 1.0);
    for (int64_t i = 0; i < l.in_len[0]; i++)
        g.dx[0][i] /= (float)l.call.loss_scale;
    ck_assert_double_gt(check_grads(&l, xs, &g, what, sizeof what), 10.0);
    grads_free(&g);
    free(x);
    layer_close(&l);
}
END_TEST

/* ---- accumulation ------------------------------------------------------ */

/* Both backwards add: a second call on the same dy doubles every input
 * gradient and every parameter gradient (to float rounding: the second sum
 * starts from the first). */
static void expect_doubled(const char *type, const char *what,
                           const float *twice, const float *once, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        ck_assert_msg(fabs(twice[i] - 2.0 * once[i]) <=
                          1e-5 * (1.0 + fabs(once[i])),
                      "%s %s[%lld]: %g after two calls, %g after one", type,
                      what, (long long)i, twice[i], once[i]);
}

static void check_accumulates(const grad_case *gc, uint64_t seed)
{
    uint64_t rng = seed;
    layer l;
    void *x[LAYER_MAX_INPUTS] = {0};
    int n;
    open_case(&l, gc, x, &n, &rng);
    const void *const *cx = (const void *const *)x;
    grads g = analytic_grads(&l, cx, &rng); /* the first calls */
    const float *dy = l.plan.is_loss ? NULL : g.r;
    void *dx[LAYER_MAX_INPUTS] = {0};
    float *once[LAYER_MAX_INPUTS] = {0};
    for (int i = 0; i < l.nin; i++)
        if (g.dx[i]) {
            once[i] = alloc_floats(l.in_len[i]);
            memcpy(once[i], g.dx[i], (size_t)l.in_len[i] * sizeof(float));
            dx[i] = g.dx[i];
        }
    if (l.k->backward_input)
        run_backward_input_n(&l, cx, g.y, dy, dx);
    for (int i = 0; i < l.nin; i++)
        if (once[i]) {
            expect_doubled(gc->type, "dx", g.dx[i], once[i], l.in_len[i]);
            free(once[i]);
        }
    float **wonce = calloc((size_t)l.plan.nparams + 1, sizeof *wonce);
    ck_assert_ptr_nonnull(wonce);
    for (int p = 0; p < l.plan.nparams; p++) {
        wonce[p] = alloc_floats(l.param_len[p]);
        memcpy(wonce[p], l.grad[p], (size_t)l.param_len[p] * sizeof(float));
    }
    if (l.k->backward_weight)
        run_backward_weight_n(&l, cx, g.y, dy);
    for (int p = 0; p < l.plan.nparams; p++) {
        expect_doubled(gc->type, l.plan.params[p].name, l.grad[p], wonce[p],
                       l.param_len[p]);
        free(wonce[p]);
    }
    free(wonce);
    grads_free(&g);
    for (int i = 0; i < l.nin; i++)
        free(x[i]);
    layer_close(&l);
}

START_TEST(test_accumulate)
{
    check_accumulates(&grad_cases[_i], 9 + (uint64_t)_i);
}
END_TEST

static Suite *layers_suite(void)
{
    Suite *s = suite_create("layers");
    TCase *tc = tcase_create("gradients");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_gradients, 0, NGRAD_CASES);
    tcase_add_test(tc, test_checker_catches);
    tcase_add_loop_test(tc, test_accumulate, 0, NGRAD_CASES);
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
