/* tests/test_layer_values.c - what the layer plugins' CPU kernels compute,
 * rather than their gradients: forward values against float64
 * references, embedding's positions by hand, dropout's mask, the runtime
 * errors for bad token ids and targets, and the plans (shapes, saved
 * bytes, initialisers, refusals) the kernels and the core's memory plan
 * rely on; attention's values known by hand.
 *
 * Layers are planned from a real [layer] section through the registry
 * (tests/layer_harness.c). Inputs and parameters are random from fixed
 * seeds: a failure reproduces.
 *
 * Not a test of gradients against finite differences (test_layers.c),
 * of the initialisers or of the runtime.
 */
#include <config.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "../layers/attention.h"
#include "layer_harness.h"

static pp_registry *reg;

/* ---- forward values against float64 ---------------------------------- */

START_TEST(test_linear_forward)
{
    uint64_t rng = 5;
    pp_shape shape = {2, {13, 41}}; /* 3 x 13 = 39 rows, past one tile */
    const int n = 3, units = 35;
    layer l;
    layer_open(&l, reg, "linear", "units = 35", PP_F32, &shape, n, &rng);
    float *x = alloc_floats(l.in_len[0]), *y = alloc_floats(l.out_len);
    fill_uniform(x, l.in_len[0], &rng, -1.0, 1.0);
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
    layer_open(&l, reg, "layernorm", "eps = 0.1", PP_F32, &shape, 2, &rng);
    float *x = alloc_floats(l.in_len[0]), *y = alloc_floats(l.out_len);
    fill_uniform(x, l.in_len[0], &rng, -2.0, 3.0);
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

    layer_open(&l, reg, "softmax_xent", "", PP_F32, &shape, 4, &rng);
    float *x = alloc_floats(l.in_len[0]);
    fill_uniform(x, l.in_len[0], &rng, -4.0, 4.0);
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

    layer_open(&l, reg, "mse", "", PP_F32, &shape, 4, &rng);
    x = alloc_floats(l.in_len[0]);
    fill_uniform(x, l.in_len[0], &rng, -4.0, 4.0);
    run_forward(&l, x, &loss);
    const float *tf = l.target;
    ref = 0.0;
    for (int i = 0; i < l.in_len[0]; i++)
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
    layer_open(&l, reg, "dropout", "rate = 0.3", PP_F32, &shape, 4, &rng);
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
    memset(dx, 0, N * sizeof(float));
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

/* ---- embedding's positions -------------------------------------------- */

/* Hand values: token t of each sample gets the position table's row t
 * added; backward adds dy to the token's row and to row t of the
 * positions, every sample's. */
START_TEST(test_embedding_positions)
{
    uint64_t rng = 13;
    pp_shape shape = {1, {3}};
    layer l;
    layer_open(&l, reg, "embedding", "vocab = 4\ndim = 2\npositions = true",
               PP_I32, &shape, 2, &rng);
    ck_assert_int_eq(l.plan.nparams, 2);
    const float w[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    const float pos[6] = {0.5f, -0.5f, 0.25f, 0.125f, -1, 2};
    memcpy(l.param[0], w, sizeof w);
    memcpy(l.param[1], pos, sizeof pos);
    const int32_t ids[6] = {2, 0, 2, 3, 3, 1};
    float y[12];
    run_forward(&l, ids, y);
    const float want[12] = {5.5f, 5.5f, 1.25f, 2.125f, 4, 8,
                            7.5f, 7.5f, 7.25f, 8.125f, 2, 6};
    for (int i = 0; i < 12; i++)
        ck_assert_msg(y[i] == want[i], "y[%d] = %g, expected %g", i, y[i],
                      want[i]);

    const float dy[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    memset(l.grad[0], 0, sizeof w);
    memset(l.grad[1], 0, sizeof pos);
    run_backward_weight(&l, ids, y, dy);
    const float dw[8] = {3, 4, 11, 12, 6, 8, 16, 18};
    const float dpos[6] = {8, 10, 12, 14, 16, 18};
    for (int i = 0; i < 8; i++)
        ck_assert_msg(l.grad[0][i] == dw[i], "dweight[%d] = %g, expected %g",
                      i, l.grad[0][i], dw[i]);
    for (int i = 0; i < 6; i++)
        ck_assert_msg(l.grad[1][i] == dpos[i],
                      "dpositions[%d] = %g, expected %g", i, l.grad[1][i],
                      dpos[i]);
    layer_close(&l);
}
END_TEST

/* ---- runtime errors ----------------------------------------------------- */

START_TEST(test_embedding_bad_id)
{
    uint64_t rng = 10;
    pp_shape shape = {1, {4}};
    layer l;
    layer_open(&l, reg, "embedding", "vocab = 10\ndim = 3", PP_I32, &shape, 2,
               &rng);
    int32_t ids[8] = {0, 1, 2, 9, 3, 4, 5, 6};
    float y[24], dy[24] = {0};
    const void *x[1] = {ids};
    pp_error err;
    const int32_t bad[] = {10, -1};
    for (int b = 0; b < 2; b++) {
        ids[5] = bad[b];
        pp_error_clear(&err);
        ck_assert_int_eq(l.k->forward(&l.call, x, y, &err), PP_ERR_RUNTIME);
        ck_assert_msg(strstr(err.msg, "token id") &&
                          strstr(err.msg, "at token 5") &&
                          strstr(err.msg, "vocabulary of 10"),
                      "%s", err.msg);
        pp_error_clear(&err);
        ck_assert_int_eq(l.k->backward_weight(&l.call, x, y, dy, &err),
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
    layer_open(&l, reg, "softmax_xent", "", PP_F32, &shape, 4, &rng);
    float x[12] = {0}, loss, dx[12];
    const void *xs[1] = {x};
    void *dxs[1] = {dx};
    int32_t *t = l.target;
    const int32_t bad[] = {3, -1};
    pp_error err;
    for (int b = 0; b < 2; b++) {
        t[2] = bad[b];
        pp_error_clear(&err);
        ck_assert_int_eq(l.k->forward(&l.call, xs, &loss, &err),
                         PP_ERR_RUNTIME);
        ck_assert_msg(strstr(err.msg, "target class") &&
                          strstr(err.msg, "at row 2"), "%s", err.msg);
        pp_error_clear(&err);
        ck_assert_int_eq(
            l.k->backward_input(&l.call, xs, &loss, NULL, dxs, &err),
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

    /* Nothing saved: backward needs x and W, and the CUDA half's
     * epilogues add the bias and sum its gradient. */
    layer_open(&l, reg, "linear", "units = 3", PP_F32, &seq, 1, &rng);
    ck_assert_uint_eq(l.plan.saved_bytes, 0);
    ck_assert_int_eq(l.plan.out.shape.dim[1], 3);
    ck_assert_int_eq(pp_layer_plan_params(&l.plan), 3 * 10 + 3);
    ck_assert_uint_eq(l.plan.params[0].flags, 0);
    ck_assert_uint_eq(l.plan.params[1].flags, PP_PARAM_NO_DECAY);
    layer_close(&l);

    layer_open(&l, reg, "layernorm", "", PP_F32, &seq, 1, &rng);
    ck_assert_uint_eq(l.plan.saved_bytes, 6 * 2 * sizeof(float));
    ck_assert_int_eq(l.plan.params[0].init, PP_INIT_ONES);
    ck_assert_int_eq(l.plan.params[1].init, PP_INIT_ZEROS);
    ck_assert_uint_eq(l.plan.args_size, sizeof(float));
    ck_assert_float_eq(*(const float *)l.plan.args, 1e-5f);
    /* Norm gains and biases take no weight decay; weights do. */
    ck_assert_uint_eq(l.plan.params[0].flags, PP_PARAM_NO_DECAY);
    ck_assert_uint_eq(l.plan.params[1].flags, PP_PARAM_NO_DECAY);
    layer_close(&l);

    layer_open(&l, reg, "embedding", "vocab = 50\ndim = 8", PP_I32, &ids, 1,
               &rng);
    ck_assert_int_eq(l.plan.out.dtype, PP_F32);
    ck_assert_int_eq(l.plan.out.shape.ndim, 2);
    ck_assert_int_eq(l.plan.out.shape.dim[1], 8);
    ck_assert_int_eq(l.plan.params[0].init, PP_INIT_NORMAL);
    ck_assert_int_eq(l.plan.nparams, 1);
    ck_assert_ptr_null(l.k->backward_input);
    layer_close(&l);

    /* Positions: a (T, dim) table started and decayed like the token
     * table, which keeps its name (share = weight:...). */
    layer_open(&l, reg, "embedding",
               "vocab = 50\ndim = 8\nstd = 0.02\npositions = true", PP_I32,
               &ids, 1, &rng);
    ck_assert_int_eq(l.plan.nparams, 2);
    ck_assert_str_eq(l.plan.params[0].name, "weight");
    ck_assert_str_eq(l.plan.params[1].name, "positions");
    ck_assert_int_eq(l.plan.params[1].shape.ndim, 2);
    ck_assert_int_eq(l.plan.params[1].shape.dim[0], 6);
    ck_assert_int_eq(l.plan.params[1].shape.dim[1], 8);
    for (int p = 0; p < 2; p++) {
        ck_assert_int_eq(l.plan.params[p].init, PP_INIT_NORMAL);
        ck_assert_float_eq(l.plan.params[p].scale, 0.02f);
        ck_assert_uint_eq(l.plan.params[p].flags, 0);
    }
    layer_close(&l);

    layer_open(&l, reg, "softmax_xent", "", PP_F32, &seq, 1, &rng);
    ck_assert_int_eq(l.plan.is_loss, 1);
    ck_assert_int_eq(l.plan.out.shape.ndim, 0);
    ck_assert_int_eq(l.plan.target.dtype, PP_I32);
    ck_assert_int_eq(l.plan.target.shape.ndim, 1);
    ck_assert_int_eq(l.plan.target.shape.dim[0], 6);
    layer_close(&l);

    layer_open(&l, reg, "mse", "", PP_F32, &seq, 1, &rng);
    ck_assert_int_eq(l.plan.target.dtype, PP_F32);
    ck_assert_int_eq(l.plan.target.shape.ndim, 2);
    layer_close(&l);

    const char *const no_saved[] = {"relu", "gelu", "tanh", "dropout"};
    for (int i = 0; i < 4; i++) {
        layer_open(&l, reg, no_saved[i], "", PP_F32, &seq, 1, &rng);
        ck_assert_uint_eq(l.plan.saved_bytes, 0);
        ck_assert_ptr_null(l.k->backward_weight);
        layer_close(&l);
    }
}
END_TEST

/* Plan errors: the wrong input dtype for every layer, and dropout's rate. */
/* add and concat: the shapes they make, and those they refuse. */
START_TEST(test_join_plans)
{
    static const struct {
        const char *type;
        pp_shape a, b;
        pp_dtype tb;
        const char *out, *msg; /* one of them */
    } cases[] = {
        {"add", {2, {3, 4}}, {2, {3, 4}}, PP_F32, "3x4", NULL},
        {"add", {2, {3, 4}}, {2, {4, 3}}, PP_F32, NULL,
         "add needs inputs of one shape, but input 2 is 4x3 where input 1 "
         "is 3x4"},
        {"add", {1, {4}}, {1, {4}}, PP_I32, NULL,
         "add needs float inputs, and input 2 is token ids"},
        {"concat", {2, {3, 4}}, {2, {3, 5}}, PP_F32, "3x9", NULL},
        {"concat", {2, {3, 4}}, {2, {2, 4}}, PP_F32, NULL,
         "concat joins along the last dimension, so the others must agree, "
         "but input 2 is 2x4 where input 1 is 3x4"},
        {"concat", {1, {4}}, {0, {0}}, PP_F32, NULL,
         "concat needs float features, and input 2 is a scalar"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        pp_tensor_desc in[2] = {{PP_F32, cases[i].a},
                                {cases[i].tb, cases[i].b}};
        pp_config *cfg;
        pp_layer_plan plan;
        const pp_layer_ops *ops;
        pp_error err;
        pp_error_clear(&err);
        pp_status st = plan_layer(reg, cases[i].type, "", in, 2, &cfg, &plan,
                                  &ops, &err);
        char shape[64];
        if (cases[i].out) {
            ck_assert_msg(st == PP_OK, "%s", err.msg);
            ck_assert_str_eq(pp_shape_format(&plan.out.shape, shape,
                                             sizeof shape), cases[i].out);
            ck_assert_int_eq(plan.nparams, 0);
        } else {
            ck_assert_int_eq(st, PP_ERR_CONFIG);
            ck_assert_msg(strstr(err.msg, cases[i].msg), "%s", err.msg);
        }
        ck_assert_int_eq(ops->inputs, PP_INPUTS_ANY);
        pp_layer_plan_release(&plan);
        pp_config_free(cfg);
    }
}
END_TEST

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
        ck_assert_int_eq(plan_layer(reg, cases[i].type, cases[i].keys, &in,
                                    1, &cfg, &plan, &ops, &err),
                         PP_ERR_CONFIG);
        ck_assert_msg(strstr(err.msg, cases[i].msg), "%s: %s", cases[i].type,
                      err.msg);
        pp_layer_plan_release(&plan);
        pp_config_free(cfg);
    }
}
END_TEST

/* ---- attention ---------------------------------------------------------- */

/* x (n, T, 3d) random, planned as attention with keys. */
static float *attention_open(layer *l, const char *keys, int64_t T,
                             int64_t d, int n, uint64_t *rng)
{
    pp_shape shape = {2, {T, 3 * d}};
    layer_open(l, reg, "attention", keys, PP_F32, &shape, n, rng);
    float *x = alloc_floats(l->in_len[0]);
    fill_uniform(x, l->in_len[0], rng, -2.0, 2.0);
    return x;
}

/* y and the saved log-sum-exps against float64, causal and not, one head
 * and several, T odd and past a tile of 32. */
START_TEST(test_attention_forward)
{
    static const struct {
        const char *keys;
        int64_t T, d;
        int heads, causal, n;
    } cases[] = {
        {"heads = 1", 5, 4, 1, 1, 2},
        {"heads = 3", 37, 9, 3, 1, 2},
        {"heads = 2\ncausal = false", 7, 10, 2, 0, 3},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        uint64_t rng = 40 + i;
        int64_t T = cases[i].T, d = cases[i].d, W = 3 * d;
        int heads = cases[i].heads, n = cases[i].n;
        int64_t hs = d / heads;
        layer l;
        float *x = attention_open(&l, cases[i].keys, T, d, n, &rng);
        float *y = alloc_floats(l.out_len);
        run_forward(&l, x, y);
        const float *lse = l.saved;
        double *p = calloc((size_t)T, sizeof *p);
        ck_assert_ptr_nonnull(p);
        for (int b = 0; b < n; b++)
            for (int h = 0; h < heads; h++)
                for (int64_t t = 0; t < T; t++) {
                    const float *xb = x + b * T * W + h * hs;
                    int64_t seen = cases[i].causal ? t + 1 : T;
                    double m = -INFINITY, sum = 0.0;
                    for (int64_t j = 0; j < seen; j++) {
                        double s = 0.0;
                        for (int64_t c = 0; c < hs; c++)
                            s += (double)xb[t * W + c] * xb[j * W + d + c];
                        p[j] = s / sqrt((double)hs);
                        m = fmax(m, p[j]);
                    }
                    for (int64_t j = 0; j < seen; j++)
                        sum += exp(p[j] - m);
                    double ref_lse = m + log(sum);
                    float got = lse[(b * heads + h) * T + t];
                    ck_assert_msg(fabs(got - ref_lse) <=
                                      1e-5 * (1 + fabs(ref_lse)),
                                  "%s: lse[%d,%d,%lld] = %g, expected %g",
                                  cases[i].keys, b, h, (long long)t, got,
                                  ref_lse);
                    for (int64_t c = 0; c < hs; c++) {
                        double ref = 0.0;
                        for (int64_t j = 0; j < seen; j++)
                            ref += exp(p[j] - ref_lse) *
                                   xb[j * W + 2 * d + c];
                        float yv = y[(b * T + t) * d + h * hs + c];
                        /* v is within 2: a float sum of up to 37 terms
                         * of probabilities and their exps is within
                         * 1e-5 of it. */
                        ck_assert_msg(fabs(yv - ref) <= 1e-5,
                                      "%s: y[%d,%lld,%lld] = %g, expected "
                                      "%g", cases[i].keys, b, (long long)t,
                                      (long long)(h * hs + c), yv, ref);
                    }
                }
        free(p);
        free(x);
        free(y);
        layer_close(&l);
    }
}
END_TEST

/* Values known by hand: the first position of a causal layer sees only
 * itself, so its output is its v; with one position, every output is v;
 * with q = 0 every score is 0, so each output is the mean of the v it
 * sees. */
START_TEST(test_attention_hand_values)
{
    const int64_t T = 6, d = 6, W = 3 * d;
    const int n = 2;
    uint64_t rng = 44;
    layer l;
    float *x = attention_open(&l, "heads = 3", T, d, n, &rng);
    float *y = alloc_floats(l.out_len);
    run_forward(&l, x, y);
    for (int b = 0; b < n; b++)
        ck_assert_msg(memcmp(y + b * T * d, x + b * T * W + 2 * d,
                             d * sizeof(float)) == 0,
                      "causal: position 0 of sample %d is not its v", b);
    /* q = 0: the causal mean of v over positions 0 .. t. */
    for (int b = 0; b < n; b++)
        for (int64_t t = 0; t < T; t++)
            for (int64_t c = 0; c < d; c++)
                x[(b * T + t) * W + c] = 0.0f;
    run_forward(&l, x, y);
    for (int b = 0; b < n; b++)
        for (int64_t t = 0; t < T; t++)
            for (int64_t c = 0; c < d; c++) {
                double mean = 0.0;
                for (int64_t j = 0; j <= t; j++)
                    mean += x[(b * T + j) * W + 2 * d + c];
                mean /= (double)(t + 1);
                ck_assert_msg(fabs(y[(b * T + t) * d + c] - mean) <= 1e-6,
                              "q = 0: y[%d,%lld,%lld] = %g, the mean is %g",
                              b, (long long)t, (long long)c,
                              y[(b * T + t) * d + c], mean);
            }
    free(x);
    free(y);
    layer_close(&l);

    /* q = 0 without the mask: the mean of every v. */
    x = attention_open(&l, "heads = 2\ncausal = false", T, d, 1, &rng);
    y = alloc_floats(l.out_len);
    for (int64_t t = 0; t < T; t++)
        for (int64_t c = 0; c < d; c++)
            x[t * W + c] = 0.0f;
    run_forward(&l, x, y);
    for (int64_t c = 0; c < d; c++) {
        double mean = 0.0;
        for (int64_t j = 0; j < T; j++)
            mean += x[j * W + 2 * d + c];
        mean /= (double)T;
        for (int64_t t = 0; t < T; t++)
            ck_assert_msg(fabs(y[t * d + c] - mean) <= 1e-6,
                          "q = 0, all positions: y[%lld,%lld] = %g, the "
                          "mean is %g", (long long)t, (long long)c,
                          y[t * d + c], mean);
    }
    free(x);
    free(y);
    layer_close(&l);

    /* T = 1: y = v, causal or not. */
    const char *const one[] = {"heads = 2", "heads = 2\ncausal = false"};
    for (int i = 0; i < 2; i++) {
        x = attention_open(&l, one[i], 1, 8, 3, &rng);
        y = alloc_floats(l.out_len);
        run_forward(&l, x, y);
        for (int b = 0; b < 3; b++)
            ck_assert_msg(memcmp(y + b * 8, x + b * 24 + 16,
                                 8 * sizeof(float)) == 0,
                          "%s, T = 1: sample %d's y is not its v", one[i],
                          b);
        free(x);
        free(y);
        layer_close(&l);
    }
}
END_TEST

/* Its plan: the shapes, what it keeps, its cost, and what it refuses,
 * word for word. */
START_TEST(test_attention_plans)
{
    uint64_t rng = 45;
    pp_shape shape = {2, {10, 24}};
    layer l;
    layer_open(&l, reg, "attention", "heads = 2", PP_F32, &shape, 1, &rng);
    char dims[64];
    ck_assert_str_eq(pp_shape_format(&l.plan.out.shape, dims, sizeof dims),
                     "10x8");
    ck_assert_int_eq(l.plan.out.dtype, PP_F32);
    ck_assert_int_eq(l.plan.nparams, 0);
    ck_assert_ptr_null(l.k->backward_weight);
    ck_assert_ptr_nonnull(l.k->backward_input);
    ck_assert_uint_eq(l.plan.saved_bytes, 2 * 10 * sizeof(float));
    /* q k^T and P v over the 55 scores a head of a causal 10 makes */
    ck_assert_double_eq(l.plan.flops, 2.0 * 10 * 11 * 8);
    ck_assert_double_eq(l.plan.backward_flops, 2.5 * l.plan.flops);
    ck_assert_uint_eq(l.plan.workspace_bytes, 2 * 10 * sizeof(float));
    layer_close(&l);
    layer_open(&l, reg, "attention", "heads = 2\ncausal = false", PP_F32,
               &shape, 1, &rng);
    ck_assert_double_eq(l.plan.flops, 4.0 * 10 * 10 * 8);
    layer_close(&l);

    static const struct {
        const char *keys;
        pp_tensor_desc in;
        const char *msg;
    } refused[] = {
        {"heads = 2", {PP_I32, {1, {10}}},
         ":1: [layer t] attention needs float rows of q, k and v side by "
         "side, of shape Tx3d (a linear layer of 3d units makes them), but "
         "its input is token ids of shape 10"},
        {"heads = 2", {PP_F32, {1, {24}}},
         "its input is float of shape 24"},
        {"heads = 2", {PP_F32, {3, {2, 5, 24}}},
         "its input is float of shape 2x5x24"},
        {"heads = 3", {PP_F32, {2, {10, 24}}},
         ":3: [layer t] heads: attention's input rows are q, k and v of 3 "
         "heads each, so their 24 features must be a multiple of 3 x 3 = "
         "9"},
        {"heads = 1", {PP_F32, {2, {4, 3 * 1025}}},
         ":3: [layer t] heads: attention's heads of 1025 features (d = "
         "1025, heads = 1) are more than the 1024 it takes"},
    };
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
        pp_config *cfg;
        pp_layer_plan plan;
        const pp_layer_ops *ops;
        pp_error err;
        pp_error_clear(&err);
        ck_assert_int_eq(plan_layer(reg, "attention", refused[i].keys,
                                    &refused[i].in, 1, &cfg, &plan, &ops,
                                    &err), PP_ERR_CONFIG);
        ck_assert_msg(strstr(err.msg, refused[i].msg), "%s", err.msg);
        pp_layer_plan_release(&plan);
        pp_config_free(cfg);
    }

    /* kernels = cudnn where cuDNN's fused attention cannot run, as the
     * plan knows: at the key's line. auto and pipette take them. */
    static const struct {
        pp_precision precision;
        pp_shape shape;
        const char *msg;
    } cudnn[] = {
        {PP_PRECISION_FP32, {2, {10, 3 * 64}},
         ":3: [layer t] kernels: kernels = cudnn runs cuDNN's fused "
         "attention, which pipette uses in bf16 only, and this model is in "
         "fp32"},
        {PP_PRECISION_BF16, {2, {10, 3 * 12}},
         ":3: [layer t] kernels: kernels = cudnn needs heads of a multiple "
         "of 8 features, at most 256 (cuDNN's fused attention), but these "
         "have 12 (d = 12, heads = 1)"},
        {PP_PRECISION_BF16, {2, {10, 3 * 512}},
         "but these have 512"},
        {PP_PRECISION_BF16, {2, {1, 3 * 64}},
         ":3: [layer t] kernels: kernels = cudnn needs 2 positions or more "
         "(cuDNN's fused backward refuses 1), but the input has 1"},
    };
    for (size_t i = 0; i < sizeof cudnn / sizeof *cudnn; i++)
        for (int k = 0; k < 3; k++) {
            static const char *const keys[] = {
                "kernels = cudnn\nheads = 1", "kernels = auto\nheads = 1",
                "kernels = pipette\nheads = 1"};
            pp_tensor_desc in = {pp_precision_dtype(cudnn[i].precision),
                                 cudnn[i].shape};
            pp_config *cfg;
            pp_layer_plan plan;
            const pp_layer_ops *ops;
            pp_error err;
            pp_error_clear(&err);
            pp_status st = plan_layer_in(reg, "attention", keys[k], &in, 1,
                                         cudnn[i].precision, &cfg, &plan,
                                         &ops, &err);
            ck_assert_int_eq(st, k == 0 ? PP_ERR_CONFIG : PP_OK);
            if (k == 0)
                ck_assert_msg(strstr(err.msg, cudnn[i].msg), "%s", err.msg);
            pp_layer_plan_release(&plan);
            pp_config_free(cfg);
        }

    /* In bf16 the workspace holds cuDNN's path's scratch, with room for
     * cuDNN's own. */
    pp_tensor_desc in16 = {PP_BF16, {2, {10, 3 * 64}}};
    pp_config *cfg;
    pp_layer_plan plan;
    const pp_layer_ops *ops;
    pp_error err;
    pp_error_clear(&err);
    ck_assert_int_eq(plan_layer_in(reg, "attention", "heads = 2", &in16, 1,
                                   PP_PRECISION_BF16, &cfg, &plan, &ops,
                                   &err), PP_OK);
    ck_assert_uint_ge(plan.workspace_bytes,
                      attention_cudnn_scratch(1, 10, 64, 2) + 25 * 10 * 64);
    pp_layer_plan_release(&plan);
    pp_config_free(cfg);
}
END_TEST

/* Positions take a sequence [T] a sample, of at most 2^24 tokens; the
 * error is at the key's line. */
START_TEST(test_positions_plan_errors)
{
    static const struct {
        pp_shape shape;
        const char *msg;
    } cases[] = {
        {{2, {3, 4}}, ":5: [layer t] positions: positions take one sequence "
                      "of token ids [T] a sample, and this input is 3x4"},
        {{0, {0}}, ":5: [layer t] positions: positions take one sequence of "
                   "token ids [T] a sample, and this input is scalar"},
        {{1, {(1 << 24) + 1}}, ":5: [layer t] positions: positions take "
                               "sequences of up to 16777216 tokens, and this "
                               "input has 16777217"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        pp_tensor_desc in = {PP_I32, cases[i].shape};
        pp_config *cfg;
        pp_layer_plan plan;
        const pp_layer_ops *ops;
        pp_error err;
        pp_error_clear(&err);
        ck_assert_int_eq(plan_layer(reg, "embedding",
                                    "vocab = 3\ndim = 2\npositions = true",
                                    &in, 1, &cfg, &plan, &ops, &err),
                         PP_ERR_CONFIG);
        ck_assert_msg(strstr(err.msg, cases[i].msg), "%s", err.msg);
        pp_layer_plan_release(&plan);
        pp_config_free(cfg);
    }
    /* 2^24 itself is taken. */
    pp_tensor_desc in = {PP_I32, {1, {1 << 24}}};
    pp_config *cfg;
    pp_layer_plan plan;
    const pp_layer_ops *ops;
    pp_error err;
    pp_error_clear(&err);
    ck_assert_msg(plan_layer(reg, "embedding",
                             "vocab = 3\ndim = 2\npositions = true", &in, 1,
                             &cfg, &plan, &ops, &err) == PP_OK, "%s",
                  err.msg);
    pp_layer_plan_release(&plan);
    pp_config_free(cfg);
}
END_TEST

static Suite *layer_values_suite(void)
{
    Suite *s = suite_create("layer_values");
    TCase *tc = tcase_create("cpu");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_linear_forward);
    tcase_add_test(tc, test_layernorm_forward);
    tcase_add_test(tc, test_loss_forward);
    tcase_add_test(tc, test_dropout);
    tcase_add_test(tc, test_embedding_positions);
    tcase_add_test(tc, test_embedding_bad_id);
    tcase_add_test(tc, test_xent_bad_target);
    tcase_add_test(tc, test_plans);
    tcase_add_test(tc, test_plan_errors);
    tcase_add_test(tc, test_join_plans);
    tcase_add_test(tc, test_positions_plan_errors);
    tcase_add_test(tc, test_attention_forward);
    tcase_add_test(tc, test_attention_hand_values);
    tcase_add_test(tc, test_attention_plans);
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
    SRunner *sr = srunner_create(layer_values_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    pp_registry_free(reg);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
