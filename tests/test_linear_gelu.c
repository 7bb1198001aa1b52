/* tests/test_linear_gelu.c - linear's `activation = gelu` and its GPT-2
 * initialisation keys, on the CPU.
 *
 * The fused layer against the chain it replaces, linear then gelu: the
 * same bits for y, the saved pre-activation (the chain's linear output),
 * then dpre where the first backward leaves it in saved (the chain's
 * gelu input gradient), dx, dW and db, in fp32, tf32 and bf16, on shapes
 * that take the BLAS's sgemm and its sgemv (matmul.h), with and without
 * a bias, with the backwards in either order and backward_weight alone
 * (a schedule may run it so). dpre is made once: a second conversion
 * would apply gelu' twice and the other backward's result would differ.
 * And a forward clears the mark: micro-batches through one saved area,
 * forwards recomputed before and between backwards. Then trained: a model whose first layer is fused (whose
 * backward_input never runs) under schedules that split the backward
 * (zb-h1, zb-h2, zb-v) and recompute, against one rank; and a fused
 * model trained to the chain's weights bit for bit.
 *
 * Initialisation: the plan's declarations for std and residual_layers,
 * the values the runtime draws from them over large layers (mean,
 * spread, biases at zero), and the refusals (std not above 0,
 * residual_layers without std).
 *
 * Gradients against finite differences are test_layers.c's rows; the
 * GPU's against these CPU kernels test_linear_optim_cuda.c's.
 */
#include <config.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "layer_harness.h"
#include "runtime.h"

static pp_registry *reg;

/* ---- one layer's CPU half, in a precision ------------------------------ */

typedef struct side {
    pp_config *cfg;
    pp_layer_plan plan;
    const pp_layer_ops *ops;
    pp_tensor_desc in;
    void *state, *saved, *work;
    pp_layer_call c;
} side;

static void side_open(side *s, const char *type, const char *keys,
                      pp_tensor_desc in, int n, pp_precision prec,
                      const float *const *param, const void *const *param16,
                      float **grad)
{
    memset(s, 0, sizeof *s);
    s->in = in;
    pp_error err;
    pp_error_clear(&err);
    ck_assert_msg(plan_layer_in(reg, type, keys, &s->in, 1, prec, &s->cfg,
                                &s->plan, &s->ops, &err) == PP_OK,
                  "%s", err.msg);
    /* Garbage, not zeros: a kernel must write what it reads here. */
    size_t saved = s->plan.saved_bytes * (size_t)n;
    size_t work = s->plan.workspace_bytes * (size_t)n;
    s->saved = malloc(saved + 1);
    s->work = malloc(work + 1);
    ck_assert(s->saved && s->work);
    memset(s->saved, 0xff, saved + 1);
    memset(s->work, 0xff, work + 1);
    s->c = (pp_layer_call){
        .plan = &s->plan, .nin = 1, .in = &s->in, .n = n, .param = param,
        .grad = grad, .saved = s->saved, .workspace = s->work,
        .training = 1, .precision = prec,
        .param_bf16 = prec == PP_PRECISION_BF16 ? param16 : NULL};
    if (s->ops->cpu->init)
        ck_assert_msg(s->ops->cpu->init(&s->c, &s->state, &err) == PP_OK,
                      "%s", err.msg);
    s->c.state = s->state;
}

static void side_close(side *s)
{
    if (s->ops->cpu->destroy)
        s->ops->cpu->destroy(s->state);
    free(s->saved);
    free(s->work);
    pp_layer_plan_release(&s->plan);
    pp_config_free(s->cfg);
}

/* A kernel call that must succeed; err is the caller's. */
#define OK(call) ck_assert_msg((call) == PP_OK, "%s", err.msg)

/* n values of dtype from v (rounded in place to bf16 first where dtype
 * is bf16: what both sides read). */
static void *stored(float *v, int64_t n, pp_dtype dtype)
{
    void *s = malloc((size_t)(n + 1) * pp_dtype_size(dtype));
    ck_assert_ptr_nonnull(s);
    for (int64_t i = 0; dtype == PP_BF16 && i < n; i++)
        v[i] = pp_bf16_round(v[i]);
    pp_row_store(s, dtype, v, n);
    return s;
}

static void *copy_of(const void *p, size_t bytes)
{
    void *c = malloc(bytes + 1);
    ck_assert_ptr_nonnull(c);
    memcpy(c, p, bytes);
    return c;
}

static void same_bits(const char *what, const char *ctx, const void *fused,
                      const void *chain, size_t bytes, size_t elem)
{
    for (size_t i = 0; i < bytes; i += elem)
        if (memcmp((const char *)fused + i, (const char *)chain + i,
                   elem) != 0)
            ck_abort_msg("%s: %s[%zu] differs from the chain's", ctx, what,
                         i / elem);
}

/* ---- fused = chain ------------------------------------------------------ */

static const struct chain_case {
    pp_shape shape; /* one sample */
    int units, bias, n;
} chain_cases[] = {
    {{1, {37}}, 29, 1, 5},        /* rows one at a time: sgemv */
    {{2, {9, 20}}, 16, 1, 2},     /* 9 rows a sample: one sgemm each */
    {{2, {7, 33}}, 64, 0, 3},
    {{3, {2, 3, 17}}, 11, 1, 4},
};
#define NCHAIN ((int)(sizeof chain_cases / sizeof *chain_cases))

static const pp_precision precisions[] = {
    PP_PRECISION_FP32, PP_PRECISION_TF32, PP_PRECISION_BF16};

/* The fused layer's backwards: in which order, or weight alone. */
enum { WEIGHT_FIRST, INPUT_FIRST, WEIGHT_ALONE, NORDER };
static const char *const order_name[NORDER] = {
    "backward_weight first", "backward_input first",
    "backward_weight alone"};

/* _i: (case * 3 + precision) * NORDER + order. */
START_TEST(test_fused_equals_chain)
{
    int order = _i % NORDER;
    const struct chain_case *cc = &chain_cases[_i / NORDER / 3];
    pp_precision prec = precisions[_i / NORDER % 3];
    pp_dtype dt = pp_precision_dtype(prec);
    size_t es = pp_dtype_size(dt);
    uint64_t rng = 300 + (uint64_t)_i;
    int n = cc->n;
    int64_t fin = cc->shape.dim[cc->shape.ndim - 1], fout = cc->units;
    int64_t rows = n * (pp_shape_elements(&cc->shape) / fin);
    int64_t nx = rows * fin, ny = rows * fout, nw = fout * fin;

    float *v = alloc_floats(nx > ny ? nx : ny);
    float *w = alloc_floats(nw), *b = alloc_floats(fout);
    fill_uniform(w, nw, &rng, -1, 1);
    fill_uniform(b, fout, &rng, -1, 1);
    /* bf16 reads the copies; W and b are then their values. */
    void *w16 = stored(w, nw, PP_BF16), *b16 = stored(b, fout, PP_BF16);
    if (prec != PP_PRECISION_BF16) { /* not rounded */
        fill_uniform(w, nw, &rng, -1, 1);
        fill_uniform(b, fout, &rng, -1, 1);
    }
    fill_uniform(v, nx, &rng, -1.5, 1.5);
    void *x = stored(v, nx, dt);
    fill_uniform(v, ny, &rng, -1, 1);
    void *dy = stored(v, ny, dt);
    fill_uniform(v, nx, &rng, -1, 1);
    void *dx0 = stored(v, nx, dt);
    float *gw0 = alloc_floats(nw), *gb0 = alloc_floats(fout);
    fill_uniform(gw0, nw, &rng, -1, 1);
    fill_uniform(gb0, fout, &rng, -1, 1);

    const float *param[2] = {w, b};
    const void *param16[2] = {w16, b16};
    float *gw_c = copy_of(gw0, (size_t)nw * 4), *gb_c = copy_of(gb0,
                                                                (size_t)fout * 4);
    float *gw_f = copy_of(gw0, (size_t)nw * 4), *gb_f = copy_of(gb0,
                                                                (size_t)fout * 4);
    float *grad_c[2] = {gw_c, gb_c}, *grad_f[2] = {gw_f, gb_f};
    char keys[128], fkeys[160];
    snprintf(keys, sizeof keys, "units = %d\nbias = %s", cc->units,
             cc->bias ? "true" : "false");
    snprintf(fkeys, sizeof fkeys, "%s\nactivation = gelu", keys);
    pp_tensor_desc in = {dt, cc->shape}, mid = in;
    mid.shape.dim[mid.shape.ndim - 1] = fout;
    side lin, gel, fus;
    side_open(&lin, "linear", keys, in, n, prec, param, param16, grad_c);
    side_open(&gel, "gelu", "", mid, n, prec, NULL, NULL, NULL);
    side_open(&fus, "linear", fkeys, in, n, prec, param, param16, grad_f);
    /* pre, and room for the mark (linear.h) */
    ck_assert_uint_eq(fus.plan.saved_bytes, (size_t)(ny / n) * es + 15);
    ck_assert_double_eq(fus.plan.flops, lin.plan.flops + gel.plan.flops);
    ck_assert_int_eq(fus.plan.nparams, lin.plan.nparams);

    pp_error err;
    pp_error_clear(&err);
    /* The chain, as the core runs it: the gelu's input gradient (the
     * linear's dy) zeroed before the gelu adds to it. */
    size_t xb = (size_t)nx * es, yb = (size_t)ny * es;
    void *pre_c = malloc(yb + 1), *y_c = malloc(yb + 1);
    void *dpre_c = calloc(yb + 1, 1), *dx_c = copy_of(dx0, xb);
    const void *xs[1] = {x};
    OK(lin.ops->cpu->forward(&lin.c, xs, pre_c, &err));
    const void *pres[1] = {pre_c};
    OK(gel.ops->cpu->forward(&gel.c, pres, y_c, &err));
    void *dpres[1] = {dpre_c}, *dxs_c[1] = {dx_c};
    OK(gel.ops->cpu->backward_input(&gel.c, pres, y_c, dy, dpres, &err));
    OK(lin.ops->cpu->backward_input(&lin.c, xs, pre_c, dpre_c, dxs_c, &err));
    OK(lin.ops->cpu->backward_weight(&lin.c, xs, pre_c, dpre_c, &err));

    char ctx[160], dims[64];
    snprintf(ctx, sizeof ctx, "linear %s -> %d%s on n=%d in %s, %s",
             pp_shape_format(&cc->shape, dims, sizeof dims), cc->units,
             cc->bias ? "" : " (no bias)", n, pp_precision_name(prec),
             order_name[order]);
    void *y_f = malloc(yb + 1), *dx_f = copy_of(dx0, xb);
    void *dxs_f[1] = {dx_f};
    OK(fus.ops->cpu->forward(&fus.c, xs, y_f, &err));
    same_bits("saved pre", ctx, fus.saved, pre_c, yb, es);
    if (order == INPUT_FIRST)
        OK(fus.ops->cpu->backward_input(&fus.c, xs, y_f, dy, dxs_f, &err));
    OK(fus.ops->cpu->backward_weight(&fus.c, xs, y_f, dy, &err));
    if (order == WEIGHT_FIRST)
        OK(fus.ops->cpu->backward_input(&fus.c, xs, y_f, dy, dxs_f, &err));

    same_bits("y", ctx, y_f, y_c, yb, es);
    same_bits("saved dpre", ctx, fus.saved, dpre_c, yb, es);
    if (order == WEIGHT_ALONE)
        ck_assert_int_eq(memcmp(dx_f, dx0, xb), 0);
    else
        same_bits("dx", ctx, dx_f, dx_c, xb, es);
    same_bits("dW", ctx, gw_f, gw_c, (size_t)nw * 4, 4);
    same_bits("db", ctx, gb_f, gb_c, (size_t)fout * 4, 4);
    /* Not vacuous: the activation ran, and the gradients moved. */
    ck_assert_msg(memcmp(y_f, pre_c, yb) != 0, "%s: y is pre", ctx);
    ck_assert_msg(memcmp(dpre_c, pre_c, yb) != 0, "%s: dpre is pre", ctx);
    ck_assert_msg(memcmp(gw_f, gw0, (size_t)nw * 4) != 0, "%s", ctx);
    ck_assert_msg(order == WEIGHT_ALONE || memcmp(dx_f, dx0, xb) != 0, "%s",
                  ctx);
    if (!cc->bias)
        ck_assert_int_eq(memcmp(gb_f, gb0, (size_t)fout * 4), 0);

    side_close(&lin);
    side_close(&gel);
    side_close(&fus);
    void *all[] = {v, w, b, w16, b16, x, dy, dx0, gw0, gb0, gw_c, gb_c,
                   gw_f, gb_f, pre_c, y_c, dpre_c, dx_c, y_f, dx_f};
    for (size_t k = 0; k < sizeof all / sizeof *all; k++)
        free(all[k]);
}
END_TEST

/* The chain on one micro-batch, as the core runs it: linear, gelu, the
 * gelu's input gradient zeroed before it adds, both linear backwards
 * (dx += and grad +=). */
static void chain_run(side *lin, side *gel, const void *x, const void *dy,
                      void *dx, size_t yb)
{
    pp_error err;
    pp_error_clear(&err);
    void *pre = malloc(yb + 1), *y = malloc(yb + 1), *dpre = calloc(yb + 1,
                                                                    1);
    ck_assert(pre && y && dpre);
    const void *xs[1] = {x}, *pres[1] = {pre};
    void *dpres[1] = {dpre}, *dxs[1] = {dx};
    OK(lin->ops->cpu->forward(&lin->c, xs, pre, &err));
    OK(gel->ops->cpu->forward(&gel->c, pres, y, &err));
    OK(gel->ops->cpu->backward_input(&gel->c, pres, y, dy, dpres, &err));
    OK(lin->ops->cpu->backward_input(&lin->c, xs, pre, dpre, dxs, &err));
    OK(lin->ops->cpu->backward_weight(&lin->c, xs, pre, dpre, &err));
    free(pre), free(y), free(dpre);
}

/* Two micro-batches A and B through one saved area, as a schedule's slot
 * takes one after another, with forwards recomputed:
 *
 *   F(A) BI(A) BW(A)  F(B) BW(B) BI(B)  F(A) BW(A) F(A) BI(A)
 *
 * B's forward must clear the mark A's backwards set, and the last F(A),
 * a recompute between A's two backwards, the mark BW(A) set: a stale
 * mark has BW(B) and the last BI(A) read pre for dpre. Against the chain
 * run on A, B, A: each dx and the accumulated dW and db, bit for bit.
 * _i: case * 3 + precision. */
START_TEST(test_fused_forward_clears_mark)
{
    const struct chain_case *cc = &chain_cases[_i / 3];
    pp_precision prec = precisions[_i % 3];
    pp_dtype dt = pp_precision_dtype(prec);
    size_t es = pp_dtype_size(dt);
    uint64_t rng = 500 + (uint64_t)_i;
    int n = cc->n;
    int64_t fin = cc->shape.dim[cc->shape.ndim - 1], fout = cc->units;
    int64_t rows = n * (pp_shape_elements(&cc->shape) / fin);
    int64_t nx = rows * fin, ny = rows * fout, nw = fout * fin;
    size_t xb = (size_t)nx * es, yb = (size_t)ny * es;

    float *v = alloc_floats(nx > ny ? nx : ny);
    float *w = alloc_floats(nw), *b = alloc_floats(fout);
    fill_uniform(w, nw, &rng, -1, 1);
    fill_uniform(b, fout, &rng, -1, 1);
    void *w16 = stored(w, nw, PP_BF16), *b16 = stored(b, fout, PP_BF16);
    void *x[2], *dy[2];
    for (int m = 0; m < 2; m++) {
        fill_uniform(v, nx, &rng, -1.5, 1.5);
        x[m] = stored(v, nx, dt);
        fill_uniform(v, ny, &rng, -1, 1);
        dy[m] = stored(v, ny, dt);
    }
    fill_uniform(v, nx, &rng, -1, 1);
    void *dx0 = stored(v, nx, dt);
    float *gw0 = alloc_floats(nw), *gb0 = alloc_floats(fout);
    fill_uniform(gw0, nw, &rng, -1, 1);
    fill_uniform(gb0, fout, &rng, -1, 1);
    float *gw_c = copy_of(gw0, (size_t)nw * 4), *gb_c = copy_of(gb0,
                                                                (size_t)fout * 4);
    float *gw_f = copy_of(gw0, (size_t)nw * 4), *gb_f = copy_of(gb0,
                                                                (size_t)fout * 4);
    const float *param[2] = {w, b};
    const void *param16[2] = {w16, b16};
    float *grad_c[2] = {gw_c, gb_c}, *grad_f[2] = {gw_f, gb_f};
    char keys[128], fkeys[160];
    snprintf(keys, sizeof keys, "units = %d\nbias = %s", cc->units,
             cc->bias ? "true" : "false");
    snprintf(fkeys, sizeof fkeys, "%s\nactivation = gelu", keys);
    pp_tensor_desc in = {dt, cc->shape}, mid = in;
    mid.shape.dim[mid.shape.ndim - 1] = fout;
    side lin, gel, fus;
    side_open(&lin, "linear", keys, in, n, prec, param, param16, grad_c);
    side_open(&gel, "gelu", "", mid, n, prec, NULL, NULL, NULL);
    side_open(&fus, "linear", fkeys, in, n, prec, param, param16, grad_f);

    /* dx of A, B, A: the chain's, and the fused layer's */
    void *dx_c[3], *dx_f[3];
    static const int mb[3] = {0, 1, 0};
    for (int k = 0; k < 3; k++) {
        dx_c[k] = copy_of(dx0, xb);
        dx_f[k] = copy_of(dx0, xb);
        chain_run(&lin, &gel, x[mb[k]], dy[mb[k]], dx_c[k], yb);
    }
    pp_error err;
    pp_error_clear(&err);
    const pp_layer_kernels *k = fus.ops->cpu;
    void *y = malloc(yb + 1);
    ck_assert_ptr_nonnull(y);
    const void *xa[1] = {x[0]}, *xb_[1] = {x[1]};
    void *d0[1] = {dx_f[0]}, *d1[1] = {dx_f[1]}, *d2[1] = {dx_f[2]};
    OK(k->forward(&fus.c, xa, y, &err));
    OK(k->backward_input(&fus.c, xa, y, dy[0], d0, &err));
    OK(k->backward_weight(&fus.c, xa, y, dy[0], &err));
    OK(k->forward(&fus.c, xb_, y, &err));
    OK(k->backward_weight(&fus.c, xb_, y, dy[1], &err));
    OK(k->backward_input(&fus.c, xb_, y, dy[1], d1, &err));
    OK(k->forward(&fus.c, xa, y, &err));
    OK(k->backward_weight(&fus.c, xa, y, dy[0], &err));
    OK(k->forward(&fus.c, xa, y, &err));
    OK(k->backward_input(&fus.c, xa, y, dy[0], d2, &err));

    char ctx[128], dims[64];
    snprintf(ctx, sizeof ctx, "linear %s -> %d%s on n=%d in %s",
             pp_shape_format(&cc->shape, dims, sizeof dims), cc->units,
             cc->bias ? "" : " (no bias)", n, pp_precision_name(prec));
    static const char *const what[3] = {"dx of A", "dx of B",
                                        "dx of A recomputed"};
    for (int j = 0; j < 3; j++)
        same_bits(what[j], ctx, dx_f[j], dx_c[j], xb, es);
    same_bits("dW", ctx, gw_f, gw_c, (size_t)nw * 4, 4);
    same_bits("db", ctx, gb_f, gb_c, (size_t)fout * 4, 4);
    ck_assert_msg(memcmp(dx_c[0], dx_c[1], xb) != 0, "%s: A is B", ctx);

    side_close(&lin);
    side_close(&gel);
    side_close(&fus);
    void *all[] = {v, w, b, w16, b16, x[0], x[1], dy[0], dy[1], dx0, gw0,
                   gb0, gw_c, gb_c, gw_f, gb_f, y, dx_c[0], dx_c[1],
                   dx_c[2], dx_f[0], dx_f[1], dx_f[2]};
    for (size_t j = 0; j < sizeof all / sizeof *all; j++)
        free(all[j]);
}
END_TEST

/* ---- trained ------------------------------------------------------------ */

/* A model file: the layers, a pipeline, [train]. */
static pp_trainer *trainer_of(const char *layers, const char *schedule,
                              int p, int m, int v, int recompute,
                              pp_model **model)
{
    char path[] = "/tmp/pp-lingelu-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    FILE *f = fdopen(fd, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f,
            "%s[pipeline]\nschedule = %s\ndevices = cpu*%d\n"
            "stages_per_rank = %d\nmicrobatches = %d\nrecompute = %s\n"
            "[train]\nbatch = 24\nsteps = 3\noptimizer = sgd\n"
            "momentum = 0.9\nlr = 0.1\nseed = 7\n",
            layers, schedule, p, v, m, recompute ? "true" : "false");
    ck_assert_int_eq(fclose(f), 0);
    pp_error err;
    pp_error_clear(&err);
    pp_status st = pp_model_load(path, model, &err);
    unlink(path);
    if (st == PP_ERR_CONFIG && strstr(err.msg, "[pipeline] schedule:"))
        return NULL; /* (p, m, v) the schedule does not take */
    ck_assert_msg(st == PP_OK, "%s p=%d m=%d v=%d: %s", schedule, p, m, v,
                  err.msg);
    pp_train_opts o = {.recv_timeout_ms = 20000, .quiet = 1, .out = stdout};
    pp_trainer *t;
    ck_assert_msg(pp_trainer_create(*model, &o, &t, &err) == PP_OK, "%s",
                  err.msg);
    ck_assert_msg(pp_trainer_run(t, &err) == PP_OK, "%s p=%d m=%d v=%d: %s",
                  schedule, p, m, v, err.msg);
    return t;
}

#define MIXTURE                                                             \
    "[data]\nsource = synthetic\ntask = mixture\nclasses = 3\nfeatures = 6\n"

/* The first layer fused: nothing asks for its input's gradient, so only
 * its backward_weight runs, and it must make dpre itself. */
static const char fused_first[] =
    "[model]\ninput = 6\n"
    "[layer fc1]\ntype = linear\nunits = 16\nactivation = gelu\n"
    "[layer fc2]\ntype = linear\nunits = 8\nactivation = gelu\n"
    "std = 0.3\n"
    "[layer fc3]\ntype = linear\nunits = 3\n"
    "[layer loss]\ntype = softmax_xent\n" MIXTURE;

/* Both the layers the runtime initialises at the same indices (the
 * parameters' draws depend on the layer's place). */
static const char chain_model[] =
    "[model]\ninput = 6\n"
    "[layer fc1]\ntype = linear\nunits = 16\n"
    "[layer fc2]\ntype = linear\nunits = 3\n"
    "[layer act]\ntype = gelu\n"
    "[layer loss]\ntype = softmax_xent\n" MIXTURE;
static const char fused_model[] =
    "[model]\ninput = 6\n"
    "[layer fc1]\ntype = linear\nunits = 16\n"
    "[layer fc2]\ntype = linear\nunits = 3\nactivation = gelu\n"
    "[layer loss]\ntype = softmax_xent\n" MIXTURE;

/* The worst |a - b| / (1e-5 + 1e-5 |b|) over the parameters: the
 * tolerance of test_train.c, float sums regrouped by the micro-batches. */
static double worst_diff(const pp_trainer *a, const pp_trainer *b,
                         int layers)
{
    double worst = 0;
    for (int l = 0; l < layers; l++)
        for (int i = 0; i < 2; i++) {
            size_t na, nb;
            const float *pa = pp_trainer_param(a, l, i, &na);
            const float *pb = pp_trainer_param(b, l, i, &nb);
            if (!pa)
                continue;
            ck_assert_uint_eq(na, nb);
            for (size_t k = 0; k < na; k++)
                worst = fmax(worst, fabs(pa[k] - pb[k]) /
                                        (1e-5 + 1e-5 * fabs(pb[k])));
        }
    return worst;
}

static const char *const split_schedules[] = {"zb-h1", "zb-h2", "zb-v",
                                              "1f1b", "interleaved"};

START_TEST(test_fused_trains_under_schedules)
{
    const char *name = split_schedules[_i];
    pp_model *mref, *m;
    pp_trainer *ref = trainer_of(fused_first, "vanilla", 1, 1, 1, 0, &mref);
    static const int grid[][3] = {{2, 4, 1}, {3, 6, 1}, {2, 4, 2}};
    int runs = 0;
    for (size_t g = 0; g < sizeof grid / sizeof *grid; g++)
        for (int recompute = 0; recompute < 2; recompute++) {
            pp_trainer *t = trainer_of(fused_first, name, grid[g][0],
                                       grid[g][1], grid[g][2], recompute, &m);
            if (!t)
                continue;
            runs++;
            double worst = worst_diff(t, ref, 4);
            ck_assert_msg(worst <= 1.0, "%s p=%d m=%d v=%d recompute=%d: "
                          "weights %.1f x the tolerance from one rank's",
                          name, grid[g][0], grid[g][1], grid[g][2],
                          recompute, worst);
            pp_trainer_free(t);
            pp_model_free(m);
        }
    ck_assert_msg(runs > 0, "%s ran nowhere in the grid", name);
    pp_trainer_free(ref);
    pp_model_free(mref);
}
END_TEST

/* Three steps of SGD from the same start: the same bits, on one rank and
 * on two (zb-h1 splits the backward). */
START_TEST(test_fused_trains_as_chain)
{
    static const struct { const char *s; int p, m; } runs[] = {
        {"vanilla", 1, 1}, {"zb-h1", 2, 4}};
    for (int r = 0; r < 2; r++) {
        pp_model *mc, *mf;
        pp_trainer *c = trainer_of(chain_model, runs[r].s, runs[r].p,
                                   runs[r].m, 1, 0, &mc);
        pp_trainer *f = trainer_of(fused_model, runs[r].s, runs[r].p,
                                   runs[r].m, 1, 0, &mf);
        ck_assert(c && f);
        for (int l = 0; l < 2; l++)
            for (int i = 0; i < 2; i++) {
                size_t na, nb;
                const float *pc = pp_trainer_param(c, l, i, &na);
                const float *pf = pp_trainer_param(f, l, i, &nb);
                ck_assert_uint_eq(na, nb);
                ck_assert_msg(memcmp(pc, pf, na * sizeof(float)) == 0,
                              "%s: layer %d param %d differs from the "
                              "chain's", runs[r].s, l, i);
            }
        for (int s = 0; s < 3; s++)
            ck_assert_double_eq(pp_trainer_loss(c, s), pp_trainer_loss(f, s));
        pp_trainer_free(c);
        pp_trainer_free(f);
        pp_model_free(mc);
        pp_model_free(mf);
    }
}
END_TEST

/* ---- initialisation ------------------------------------------------------ */

START_TEST(test_init_plan)
{
    static const struct {
        const char *keys;
        pp_init w, b;
        float ws, bs;
    } cases[] = {
        {"units = 4", PP_INIT_UNIFORM, PP_INIT_UNIFORM, 0.125f, 0.125f},
        {"units = 4\nstd = 0.02", PP_INIT_NORMAL, PP_INIT_ZEROS, 0.02f, 0},
        {"units = 4\nstd = 0.02\nresidual_layers = 24", PP_INIT_NORMAL,
         PP_INIT_ZEROS, (float)(0.02 / sqrt(24.0)), 0},
    };
    pp_tensor_desc in = {PP_F32, {1, {64}}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        pp_config *cfg;
        pp_layer_plan plan;
        const pp_layer_ops *ops;
        pp_error err;
        pp_error_clear(&err);
        ck_assert_msg(plan_layer(reg, "linear", cases[i].keys, &in, 1, &cfg,
                                 &plan, &ops, &err) == PP_OK, "%s", err.msg);
        ck_assert_int_eq(plan.params[0].init, cases[i].w);
        ck_assert_int_eq(plan.params[1].init, cases[i].b);
        ck_assert_float_eq(plan.params[0].scale, cases[i].ws);
        ck_assert_float_eq(plan.params[1].scale, cases[i].bs);
        ck_assert_uint_eq(plan.params[1].flags, PP_PARAM_NO_DECAY);
        pp_layer_plan_release(&plan);
        pp_config_free(cfg);
    }
}
END_TEST

/* The runtime's draws: mean and spread of large layers as the keys say
 * (n of 2^18 and 2^16: the sample std within 2% of sigma, 7 standard
 * errors sqrt(1/(2n)) or more; the mean within 5 sigma/sqrt(n)), biases
 * all zero; without std, U(-k, k): all within k, the spread near
 * k/sqrt(3), and the bias drawn too. */
static void expect_draws(const float *p, size_t n, double sigma,
                         double bound, const char *what)
{
    double sum = 0, sq = 0, most = 0;
    for (size_t i = 0; i < n; i++) {
        sum += p[i];
        sq += (double)p[i] * p[i];
        most = fmax(most, fabs(p[i]));
    }
    double mean = sum / (double)n, sd = sqrt(sq / (double)n - mean * mean);
    ck_assert_msg(fabs(mean) <= 5 * sigma / sqrt((double)n),
                  "%s: mean %g, sigma %g", what, mean, sigma);
    ck_assert_msg(fabs(sd / sigma - 1) <= 0.02, "%s: std %g, expected %g",
                  what, sd, sigma);
    if (bound > 0)
        ck_assert_msg(most <= bound, "%s: |w| %g > %g", what, most, bound);
}

START_TEST(test_init_draws)
{
    static const char layers[] =
        "[model]\ninput = 512\n"
        "[layer fc]\ntype = linear\nunits = 512\nstd = 0.02\n"
        "[layer proj]\ntype = linear\nunits = 128\nstd = 0.02\n"
        "residual_layers = 24\n"
        "[layer head]\ntype = linear\nunits = 4\n"
        "[layer loss]\ntype = softmax_xent\n"
        "[data]\nsource = synthetic\ntask = mixture\nclasses = 4\n"
        "features = 512\n";
    char path[] = "/tmp/pp-lininit-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "%s[train]\nbatch = 2\nsteps = 1\nlr = 0.1\nseed = 3\n",
            layers);
    ck_assert_int_eq(fclose(f), 0);
    pp_error err;
    pp_error_clear(&err);
    pp_model *m;
    pp_status st = pp_model_load(path, &m, &err);
    unlink(path);
    ck_assert_msg(st == PP_OK, "%s", err.msg);
    pp_train_opts o = {.recv_timeout_ms = 20000, .quiet = 1, .out = stdout};
    pp_trainer *t;
    ck_assert_msg(pp_trainer_create(m, &o, &t, &err) == PP_OK, "%s", err.msg);
    size_t n;
    const float *w = pp_trainer_param(t, 0, 0, &n);
    ck_assert_uint_eq(n, 512 * 512);
    expect_draws(w, n, 0.02, 0, "fc weight");
    const float *b = pp_trainer_param(t, 0, 1, &n);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(b[i] == 0.0f, "fc bias[%zu] = %g", i, b[i]);
    w = pp_trainer_param(t, 1, 0, &n);
    ck_assert_uint_eq(n, 128 * 512);
    expect_draws(w, n, 0.02 / sqrt(24.0), 0, "proj weight");
    b = pp_trainer_param(t, 1, 1, &n);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(b[i] == 0.0f, "proj bias[%zu] = %g", i, b[i]);
    /* The default: U(-k, k), k = 1/sqrt(128), bias likewise. */
    w = pp_trainer_param(t, 2, 0, &n);
    double k = 1 / sqrt(128.0);
    double sq = 0;
    for (size_t i = 0; i < n; i++) {
        ck_assert(fabs(w[i]) <= k);
        sq += (double)w[i] * w[i];
    }
    ck_assert_double_gt(sq / (double)n, 0.7 * k * k / 3);
    ck_assert_double_lt(sq / (double)n, 1.3 * k * k / 3);
    b = pp_trainer_param(t, 2, 1, &n);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(b[i] != 0.0f && fabs(b[i]) <= k, "head bias[%zu] = %g",
                      i, b[i]);
    pp_trainer_free(t);
    pp_model_free(m);
}
END_TEST

/* The key of a layer section the core reads, so `type = linear`
 * validates. */
static const pp_key layer_core[] = {
    {"type", PP_KEY_STRING, PP_KEY_REQUIRED, PP_NO_RANGE, NULL, NULL, NULL},
    {0},
};

START_TEST(test_init_refusals)
{
    static const struct {
        const char *keys, *msg;
        int at_plan; /* 0: the key's range, checked before plan */
    } cases[] = {
        {"std = -0.02", "std: ", 0},
        {"std = 0", "std: ", 0},
        {"residual_layers = 0\nstd = 0.02", "residual_layers: ", 0},
        {"residual_layers = 24",
         "residual_layers: residual_layers divides std by its square "
         "root: write std too", 1},
        {"activation = relu", "activation: ", 0},
    };
    const pp_plugin *plugin;
    pp_error err;
    pp_error_clear(&err);
    ck_assert_int_eq(pp_registry_find(reg, PP_KIND_LAYER, "linear", &plugin,
                                      &err), PP_OK);
    const pp_layer_ops *ops = plugin->ops;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char path[] = "/tmp/pp-linkeys-XXXXXX";
        int fd = mkstemp(path);
        ck_assert_int_ge(fd, 0);
        FILE *f = fdopen(fd, "w");
        fprintf(f, "[layer t]\ntype = linear\nunits = 4\n%s\n",
                cases[i].keys);
        ck_assert_int_eq(fclose(f), 0);
        pp_config *cfg;
        pp_error_clear(&err);
        pp_status st = pp_config_load(path, &cfg, &err);
        unlink(path);
        ck_assert_msg(st == PP_OK, "%s", err.msg);
        pp_section *s = pp_config_section(cfg, "layer");
        st = pp_section_validate(s, layer_core, plugin->desc->keys, &err);
        if (cases[i].at_plan) {
            ck_assert_msg(st == PP_OK, "%s", err.msg);
            pp_tensor_desc in = {PP_F32, {1, {8}}};
            pp_layer_plan plan;
            memset(&plan, 0, sizeof plan);
            st = ops->plan(s, &in, 1, &plan, &err);
            pp_layer_plan_release(&plan);
        }
        ck_assert_int_eq(st, PP_ERR_CONFIG);
        ck_assert_msg(strstr(err.msg, cases[i].msg), "%s: %s", cases[i].keys,
                      err.msg);
        pp_config_free(cfg);
    }
}
END_TEST

static Suite *linear_gelu_suite(void)
{
    Suite *s = suite_create("linear_gelu");
    TCase *tc = tcase_create("cpu");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_fused_equals_chain, 0,
                        3 * NCHAIN * NORDER);
    tcase_add_loop_test(tc, test_fused_forward_clears_mark, 0, 3 * NCHAIN);
    tcase_add_loop_test(tc, test_fused_trains_under_schedules, 0,
                        (int)(sizeof split_schedules /
                              sizeof *split_schedules));
    tcase_add_test(tc, test_fused_trains_as_chain);
    tcase_add_test(tc, test_init_plan);
    tcase_add_test(tc, test_init_draws);
    tcase_add_test(tc, test_init_refusals);
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
    SRunner *sr = srunner_create(linear_gelu_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    pp_registry_free(reg);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
