/* tests/test_optimizers.c - the optimizer plugins (sgd, adamw): several
 * steps of their CPU halves against updates computed here in double, as
 * torch.optim computes them, adamw's bias correction on its own, and
 * every refusal with its exact message.
 *
 * Plugins are loaded from the build tree through the registry and planned
 * from [train] sections parsed from small INI files, as the core would
 * (tests/plugin_fixture.c); the core's own [train] keys are restated
 * here, minimally.
 *
 * Not a test of the CUDA halves (test_linear_optim_cuda.c) or of the
 * runtime's parameter and state buffers.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "plugin_fixture.h"
#include "plugin_plan.h"

static const pp_key train_core[] = {
    {"batch", PP_KEY_INT, PP_KEY_REQUIRED, 1, 1 << 24, NULL, NULL, NULL},
    {"optimizer", PP_KEY_STRING, 0, PP_NO_RANGE, NULL, "sgd", NULL},
    {"lr", PP_KEY_FLOAT, PP_KEY_MIN_OPEN, 0, HUGE_VAL, NULL, "0.01", NULL},
    {0}};

static fixture fx;

static void setup(void)
{
    fixture_open(&fx);
}

static void teardown(void)
{
    fixture_close(&fx);
}

enum { N = 7 };

static const pp_optimizer_ops *opt_ops(const char *name)
{
    return fixture_plugin(&fx, PP_KIND_OPTIMIZER, name)->ops;
}

/* Plans optimizer name from the [train] lines in keys. */
static pp_status opt_plan(const char *name, const char *keys,
                          pp_optimizer_plan *plan, pp_error *err)
{
    char text[1024];
    snprintf(text, sizeof text, "[train]\nbatch = 4\noptimizer = %s\n%s",
             name, keys);
    const pp_plugin_desc *p = fixture_plugin(&fx, PP_KIND_OPTIMIZER, name);
    pp_section *s = fixture_section(&fx, text, "train", train_core, p);
    memset(plan, 0, sizeof *plan);
    pp_error_clear(err);
    return ((const pp_optimizer_ops *)p->ops)->plan(s, plan, err);
}

/* The gradient of parameter i at step t: signs and sizes vary. */
static double grad_at(int t, int i)
{
    return sin(1.3 * i + 0.7 * t) * (1 + i) * 0.5;
}

static double param0(int i)
{
    return 0.3 * i - 1.0;
}

/* Runs steps of optimizer name from param0 and returns the parameters;
 * the first ndecay take weight decay. */
static void run_opt_copy(const char *name, const pp_optimizer_plan *plan,
                         double lr, int steps, size_t ndecay, float *param,
                         pp_bf16 *copy)
{
    float grad[N];
    float *state = calloc((size_t)N * 2 + 1, sizeof(float));
    ck_assert_ptr_nonnull(state);
    for (int i = 0; i < N; i++)
        param[i] = (float)param0(i);
    for (int t = 1; t <= steps; t++) {
        for (int i = 0; i < N; i++)
            grad[i] = (float)grad_at(t, i);
        pp_optimizer_call c = {plan, param, grad,
                               plan->state_per_param ? state : NULL,
                               N, ndecay, t, lr, NULL, copy};
        pp_error err;
        pp_error_clear(&err);
        ck_assert_int_eq(opt_ops(name)->step_cpu(&c, &err), PP_OK);
    }
    free(state);
}

static void run_opt(const char *name, const pp_optimizer_plan *plan,
                    double lr, int steps, size_t ndecay, float *param)
{
    run_opt_copy(name, plan, lr, steps, ndecay, param, NULL);
}

/* torch.optim.SGD, in double; the first ndecay take weight decay, as a
 * parameter group of their own. */
static void sgd_ref(double lr, double mu, double wd, int nesterov, int steps,
                    int ndecay, double *p)
{
    double buf[N];
    for (int i = 0; i < N; i++)
        p[i] = param0(i);
    for (int t = 1; t <= steps; t++)
        for (int i = 0; i < N; i++) {
            double g = grad_at(t, i) + (i < ndecay ? wd : 0) * p[i];
            if (mu > 0) {
                buf[i] = t == 1 ? g : mu * buf[i] + g;
                g = nesterov ? g + mu * buf[i] : buf[i];
            }
            p[i] -= lr * g;
        }
}

/* torch.optim.AdamW, in double; the first ndecay take weight decay. */
static void adamw_ref(double lr, double b1, double b2, double eps, double wd,
                      int steps, int ndecay, double *p)
{
    double m[N] = {0}, v[N] = {0};
    for (int i = 0; i < N; i++)
        p[i] = param0(i);
    for (int t = 1; t <= steps; t++)
        for (int i = 0; i < N; i++) {
            double g = grad_at(t, i);
            if (i < ndecay)
                p[i] -= lr * wd * p[i];
            m[i] = b1 * m[i] + (1 - b1) * g;
            v[i] = b2 * v[i] + (1 - b2) * g * g;
            double mhat = m[i] / (1 - pow(b1, t));
            double vhat = v[i] / (1 - pow(b2, t));
            p[i] -= lr * mhat / (sqrt(vhat) + eps);
        }
}

static void expect_close(const float *got, const double *want)
{
    for (int i = 0; i < N; i++)
        ck_assert_msg(fabs(got[i] - want[i]) <= 1e-5 * (1 + fabs(want[i])),
                      "param %d: got %.9g, want %.9g", i, got[i], want[i]);
}

/* Every parameter decayed, then only the first half: the second half is
 * then bit for bit where the same optimizer without decay puts it. */
static void check_sgd(const char *keys, double lr, double mu, double wd,
                      int nesterov, int state_per_param)
{
    pp_optimizer_plan plan;
    pp_error err;
    ck_assert_msg(opt_plan("sgd", keys, &plan, &err) == PP_OK, "%s",
                  err.msg);
    ck_assert_int_eq(plan.state_per_param, state_per_param);
    float got[N], half[N], none[N];
    double want[N];
    run_opt("sgd", &plan, lr, 6, N, got);
    sgd_ref(lr, mu, wd, nesterov, 6, N, want);
    expect_close(got, want);
    run_opt("sgd", &plan, lr, 6, N / 2, half);
    sgd_ref(lr, mu, wd, nesterov, 6, N / 2, want);
    expect_close(half, want);
    run_opt("sgd", &plan, lr, 6, 0, none);
    ck_assert(memcmp(half + N / 2, none + N / 2,
                     (N - N / 2) * sizeof(float)) == 0);
    pp_optimizer_plan_release(&plan);
}

START_TEST(sgd_plain)
{
    check_sgd("", 0.01, 0, 0, 0, 0);
}
END_TEST

START_TEST(sgd_weight_decay)
{
    check_sgd("weight_decay = 0.1\n", 0.05, 0, 0.1, 0, 0);
}
END_TEST

START_TEST(sgd_momentum)
{
    check_sgd("momentum = 0.9\nweight_decay = 0.01\n", 0.05, 0.9, 0.01, 0, 1);
}
END_TEST

START_TEST(sgd_nesterov)
{
    check_sgd("momentum = 0.8\nnesterov = true\nweight_decay = 0.02\n", 0.1,
              0.8, 0.02, 1, 1);
}
END_TEST

START_TEST(sgd_refusals)
{
    pp_optimizer_plan plan;
    pp_error err;
    ck_assert_int_eq(opt_plan("sgd", "nesterov = yes\n", &plan, &err),
                     PP_ERR_CONFIG);
    EXPECT_MSG(&fx, err, "4: [train] nesterov: needs momentum greater than 0");
    ck_assert_int_eq(opt_plan("sgd", "momentum = 1\n", &plan, &err),
                     PP_ERR_CONFIG);
    EXPECT_MSG(&fx, err, "4: [train] momentum: must be less than 1, got 1");
}
END_TEST

START_TEST(adamw_defaults)
{
    pp_optimizer_plan plan;
    pp_error err;
    ck_assert_int_eq(opt_plan("adamw", "", &plan, &err), PP_OK);
    ck_assert_int_eq(plan.state_per_param, 2);
    float got[N];
    double want[N];
    run_opt("adamw", &plan, 0.01, 8, N, got);
    adamw_ref(0.01, 0.9, 0.999, 1e-8, 0.01, 8, N, want);
    expect_close(got, want);
    pp_optimizer_plan_release(&plan);
}
END_TEST

START_TEST(adamw_keys)
{
    pp_optimizer_plan plan;
    pp_error err;
    ck_assert_int_eq(opt_plan("adamw", "beta1 = 0.5\nbeta2 = 0.9\n"
                              "eps = 1e-3\nweight_decay = 0.3\n", &plan,
                              &err), PP_OK);
    float got[N];
    double want[N];
    run_opt("adamw", &plan, 0.1, 12, N, got);
    adamw_ref(0.1, 0.5, 0.9, 1e-3, 0.3, 12, N, want);
    expect_close(got, want);
    pp_optimizer_plan_release(&plan);
}

/* Decay groups: a stage's no-decay parameters (biases, norm gains) under
 * adamw with weight decay land bit for bit where adamw without decay puts
 * them; the decayed ones follow AdamW. */
START_TEST(adamw_decay_groups)
{
    pp_optimizer_plan with, without;
    pp_error err;
    ck_assert_int_eq(opt_plan("adamw", "weight_decay = 0.3\n", &with, &err),
                     PP_OK);
    ck_assert_int_eq(opt_plan("adamw", "weight_decay = 0\n", &without,
                              &err), PP_OK);
    float half[N], plain[N];
    double want[N];
    run_opt("adamw", &with, 0.1, 12, N / 2, half);
    adamw_ref(0.1, 0.9, 0.999, 1e-8, 0.3, 12, N / 2, want);
    expect_close(half, want);
    run_opt("adamw", &without, 0.1, 12, N, plain);
    ck_assert(memcmp(half + N / 2, plain + N / 2,
                     (N - N / 2) * sizeof(float)) == 0);
    ck_assert(memcmp(half, plain, N / 2 * sizeof(float)) != 0);
    pp_optimizer_plan_release(&with);
    pp_optimizer_plan_release(&without);
}
END_TEST
END_TEST

/* With a constant gradient the bias-corrected moments are g and g^2 at
 * every step, so each step moves a parameter by lr * g / (|g| + eps): lr,
 * whatever the gradient's size. Uncorrected, the first step would be
 * (1 - beta1) / sqrt(1 - beta2) = 3.16 times that. */
START_TEST(adamw_bias_correction)
{
    pp_optimizer_plan plan;
    pp_error err;
    ck_assert_int_eq(opt_plan("adamw", "weight_decay = 0\n", &plan, &err),
                     PP_OK);
    const float g[4] = {1e-3f, 5.0f, -2.0f, -3e-2f};
    float p[4] = {0}, prev[4];
    float *state = calloc(8, sizeof(float));
    for (int t = 1; t <= 5; t++) {
        memcpy(prev, p, sizeof p);
        pp_optimizer_call c = {&plan, p, g, state, 4, 4, t, 0.01, NULL,
                               NULL};
        ck_assert_int_eq(opt_ops("adamw")->step_cpu(&c, &err), PP_OK);
        for (int i = 0; i < 4; i++) {
            double want = -0.01 * g[i] / (fabs(g[i]) + 1e-8);
            ck_assert_msg(fabs((p[i] - prev[i]) - want) < 1e-6,
                          "step %d param %d moved %g, want %g", t, i,
                          p[i] - prev[i], want);
        }
    }
    free(state);
    pp_optimizer_plan_release(&plan);
}
END_TEST

/* In bf16 a step writes the parameters' bf16 copy in the same pass: each
 * the FP32 master rounded to nearest even, and the master is what it
 * would be without a copy. */
START_TEST(bf16_copy)
{
    static const char *const names[] = {"sgd", "adamw"};
    static const char *const keys[] = {"momentum = 0.9\n", ""};
    for (int k = 0; k < 2; k++) {
        pp_optimizer_plan plan;
        pp_error err;
        ck_assert_int_eq(opt_plan(names[k], keys[k], &plan, &err), PP_OK);
        ck_assert(opt_ops(names[k])->precisions &
                  PP_PRECISION_BIT(PP_PRECISION_BF16));
        float plain[N], master[N];
        pp_bf16 copy[N];
        memset(copy, 0xab, sizeof copy);
        run_opt(names[k], &plan, 0.05, 3, N / 2, plain);
        run_opt_copy(names[k], &plan, 0.05, 3, N / 2, master, copy);
        for (int i = 0; i < N; i++) {
            ck_assert_msg(memcmp(&plain[i], &master[i], sizeof(float)) == 0,
                          "%s: the copy changed master %d", names[k], i);
            uint32_t u;
            memcpy(&u, &master[i], sizeof u);
            uint32_t rem = u & 0xffffu, up = rem > 0x8000u ||
                                            (rem == 0x8000u && (u >> 16 & 1));
            ck_assert_msg(copy[i] == (pp_bf16)((u >> 16) + up),
                          "%s: param %d is %a, its bf16 copy 0x%04x", names[k],
                          i, (double)master[i], copy[i]);
        }
        pp_optimizer_plan_release(&plan);
    }
}
END_TEST

START_TEST(adamw_refusals)
{
    pp_optimizer_plan plan;
    pp_error err;
    ck_assert_int_eq(opt_plan("adamw", "beta1 = 0.9\nbeta2 = 1.0\n", &plan,
                              &err), PP_ERR_CONFIG);
    EXPECT_MSG(&fx, err, "5: [train] beta2: must be less than 1, got 1");
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("optimizers");
    TCase *opt = tcase_create("optimizers");
    tcase_add_checked_fixture(opt, setup, teardown);
    tcase_add_test(opt, sgd_plain);
    tcase_add_test(opt, sgd_weight_decay);
    tcase_add_test(opt, sgd_momentum);
    tcase_add_test(opt, sgd_nesterov);
    tcase_add_test(opt, sgd_refusals);
    tcase_add_test(opt, adamw_defaults);
    tcase_add_test(opt, adamw_keys);
    tcase_add_test(opt, adamw_decay_groups);
    tcase_add_test(opt, adamw_bias_correction);
    tcase_add_test(opt, adamw_refusals);
    tcase_add_test(opt, bf16_copy);
    suite_add_tcase(s, opt);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
