/* tests/test_optim_data.c - the optimizer plugins (sgd, adamw) against
 * updates computed here in double, and the data source plugins
 * (synthetic, text, tokens): determinism however a range of samples is
 * split, that the tasks are what they claim, and every refusal with its
 * exact message.
 *
 * Plugins are loaded from the build tree through the registry and given
 * sections parsed from small INI files, as the core would; the core's own
 * keys for [train] and [data] are restated here, minimally.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pipette/pipette.h>

#include "config_file.h"
#include "registry.h"

static const pp_key train_core[] = {
    {"batch", PP_KEY_INT, PP_KEY_REQUIRED, 1, 1 << 24, NULL, NULL, NULL},
    {"optimizer", PP_KEY_STRING, 0, PP_NO_RANGE, NULL, "sgd", NULL},
    {"lr", PP_KEY_FLOAT, PP_KEY_MIN_OPEN, 0, HUGE_VAL, NULL, "0.01", NULL},
    {0}};

static const pp_key data_core[] = {
    {"source", PP_KEY_STRING, PP_KEY_REQUIRED, PP_NO_RANGE, NULL, NULL, NULL},
    {0}};

/* ---- plugins and sections ------------------------------------------- */

static pp_registry *reg;
static pp_config *cfg; /* the test's one config, freed in teardown */
static char ini_path[512];

static void setup(void)
{
    pp_error err;
    unsetenv("PIPETTE_PLUGIN_PATH");
    ck_assert_int_eq(pp_registry_create(NULL, &reg, &err), PP_OK);
}

static void teardown(void)
{
    pp_config_free(cfg);
    cfg = NULL;
    pp_registry_free(reg);
}

static const pp_plugin_desc *plugin(pp_plugin_kind kind, const char *name)
{
    const pp_plugin *p;
    pp_error err;
    pp_error_clear(&err);
    pp_status st = pp_registry_find(reg, kind, name, &p, &err);
    ck_assert_msg(st == PP_OK, "%s", err.msg);
    return p->desc;
}

/* A fresh temporary file holding size bytes; returns its malloc'd path. */
static char *write_tmp(const void *data, size_t size)
{
    const char *dir = getenv("TMPDIR");
    char *path = malloc(512);
    ck_assert_ptr_nonnull(path);
    snprintf(path, 512, "%s/pp-optdata-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, data, size), (ssize_t)size);
    close(fd);
    return path;
}

/* Parses text (replacing cfg) and validates its first [kind] section
 * against core and the plugin's keys. The INI file is removed at once; its path stays in
 * ini_path for the expected messages. */
static pp_section *section(const char *text, const char *kind,
                           const pp_key *core, const pp_plugin_desc *p)
{
    char *tmp = write_tmp(text, strlen(text));
    snprintf(ini_path, sizeof ini_path, "%s", tmp);
    pp_error err;
    pp_error_clear(&err);
    pp_config_free(cfg);
    pp_status st = pp_config_load(tmp, &cfg, &err);
    unlink(tmp);
    free(tmp);
    ck_assert_msg(st == PP_OK, "%s", err.msg);
    pp_section *s = pp_config_section(cfg, kind);
    ck_assert_ptr_nonnull(s);
    st = pp_section_validate(s, core, p->keys, &err);
    ck_assert_msg(st == PP_OK, "%s", err.msg);
    return s;
}

/* "LINE: message" -> "INI_PATH:LINE: message" */
#define EXPECT_MSG(err, ...)                                                \
    do {                                                                    \
        char rest_[2048], want_[4096];                                      \
        snprintf(rest_, sizeof rest_, __VA_ARGS__);                         \
        snprintf(want_, sizeof want_, "%s:%s", ini_path, rest_);            \
        ck_assert_int_eq((err).code, PP_ERR_CONFIG);                        \
        ck_assert_str_eq((err).msg, want_);                                 \
    } while (0)

/* ---- optimizers ------------------------------------------------------ */

enum { N = 7 };

static const pp_optimizer_ops *opt_ops(const char *name)
{
    return plugin(PP_KIND_OPTIMIZER, name)->ops;
}

/* Plans optimizer name from the [train] lines in keys. */
static pp_status opt_plan(const char *name, const char *keys,
                          pp_optimizer_plan *plan, pp_error *err)
{
    char text[1024];
    snprintf(text, sizeof text, "[train]\nbatch = 4\noptimizer = %s\n%s",
             name, keys);
    const pp_plugin_desc *p = plugin(PP_KIND_OPTIMIZER, name);
    pp_section *s = section(text, "train", train_core, p);
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

/* Runs steps of optimizer name from param0 and returns the parameters. */
static void run_opt(const char *name, const pp_optimizer_plan *plan,
                    double lr, int steps, float *param)
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
                               N, t, lr, NULL};
        pp_error err;
        pp_error_clear(&err);
        ck_assert_int_eq(opt_ops(name)->step_cpu(&c, &err), PP_OK);
    }
    free(state);
}

/* torch.optim.SGD, in double. */
static void sgd_ref(double lr, double mu, double wd, int nesterov, int steps,
                    double *p)
{
    double buf[N];
    for (int i = 0; i < N; i++)
        p[i] = param0(i);
    for (int t = 1; t <= steps; t++)
        for (int i = 0; i < N; i++) {
            double g = grad_at(t, i) + wd * p[i];
            if (mu > 0) {
                buf[i] = t == 1 ? g : mu * buf[i] + g;
                g = nesterov ? g + mu * buf[i] : buf[i];
            }
            p[i] -= lr * g;
        }
}

/* torch.optim.AdamW, in double. */
static void adamw_ref(double lr, double b1, double b2, double eps, double wd,
                      int steps, double *p)
{
    double m[N] = {0}, v[N] = {0};
    for (int i = 0; i < N; i++)
        p[i] = param0(i);
    for (int t = 1; t <= steps; t++)
        for (int i = 0; i < N; i++) {
            double g = grad_at(t, i);
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

static void check_sgd(const char *keys, double lr, double mu, double wd,
                      int nesterov, int state_per_param)
{
    pp_optimizer_plan plan;
    pp_error err;
    ck_assert_msg(opt_plan("sgd", keys, &plan, &err) == PP_OK, "%s",
                  err.msg);
    ck_assert_int_eq(plan.state_per_param, state_per_param);
    float got[N];
    double want[N];
    run_opt("sgd", &plan, lr, 6, got);
    sgd_ref(lr, mu, wd, nesterov, 6, want);
    expect_close(got, want);
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
    EXPECT_MSG(err, "4: [train] nesterov: needs momentum greater than 0");
    ck_assert_int_eq(opt_plan("sgd", "momentum = 1\n", &plan, &err),
                     PP_ERR_CONFIG);
    EXPECT_MSG(err, "4: [train] momentum: must be less than 1, got 1");
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
    run_opt("adamw", &plan, 0.01, 8, got);
    adamw_ref(0.01, 0.9, 0.999, 1e-8, 0.01, 8, want);
    expect_close(got, want);
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
    run_opt("adamw", &plan, 0.1, 12, got);
    adamw_ref(0.1, 0.5, 0.9, 1e-3, 0.3, 12, want);
    expect_close(got, want);
}
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
        pp_optimizer_call c = {&plan, p, g, state, 4, t, 0.01, NULL};
        ck_assert_int_eq(opt_ops("adamw")->step_cpu(&c, &err), PP_OK);
        for (int i = 0; i < 4; i++) {
            double want = -0.01 * g[i] / (fabs(g[i]) + 1e-8);
            ck_assert_msg(fabs((p[i] - prev[i]) - want) < 1e-6,
                          "step %d param %d moved %g, want %g", t, i,
                          p[i] - prev[i], want);
        }
    }
    free(state);
}
END_TEST

START_TEST(adamw_refusals)
{
    pp_optimizer_plan plan;
    pp_error err;
    ck_assert_int_eq(opt_plan("adamw", "beta1 = 0.9\nbeta2 = 1.0\n", &plan,
                              &err), PP_ERR_CONFIG);
    EXPECT_MSG(err, "5: [train] beta2: must be less than 1, got 1");
}
END_TEST

/* ---- data sources ---------------------------------------------------- */

typedef struct source {
    const pp_data_ops *ops;
    void *state;
    pp_data_info info;
    size_t in_bytes, tg_bytes; /* one sample's */
} source;

/* Opens data source `name` with the [data] lines in keys. */
static pp_status open_source(const char *name, const char *keys,
                             uint64_t seed, source *src, pp_error *err)
{
    char text[1024];
    snprintf(text, sizeof text, "[data]\nsource = %s\n%s", name, keys);
    const pp_plugin_desc *p = plugin(PP_KIND_DATA, name);
    pp_section *s = section(text, "data", data_core, p);
    memset(src, 0, sizeof *src);
    src->ops = p->ops;
    pp_error_clear(err);
    pp_status st = src->ops->open(s, seed, &src->state, &src->info, err);
    if (!st) {
        src->in_bytes = pp_tensor_bytes(&src->info.input);
        src->tg_bytes = pp_tensor_bytes(&src->info.target);
    }
    return st;
}

static void must_open(const char *name, const char *keys, uint64_t seed,
                      source *src)
{
    pp_error err;
    ck_assert_msg(open_source(name, keys, seed, src, &err) == PP_OK, "%s",
                  err.msg);
}

/* Samples first .. first + n - 1, inputs and targets; malloc'd. */
static void fetch(const source *src, int64_t first, int n, void **in,
                  void **tg)
{
    *in = malloc(src->in_bytes * (size_t)n);
    *tg = malloc(src->tg_bytes * (size_t)n);
    ck_assert(*in && *tg);
    pp_error err;
    ck_assert_int_eq(src->ops->read(src->state, first, n, *in, *tg, &err),
                     PP_OK);
}

/* The same samples whether read at once, in uneven slices, or inputs and
 * targets separately; and again from a second open with the same seed. */
static void check_deterministic(const char *name, const char *keys)
{
    enum { COUNT = 64 };
    static const int slices[] = {1, 7, 20, 36};
    const int64_t base = 1000003;
    source a, b;
    must_open(name, keys, 42, &a);
    void *in, *tg;
    fetch(&a, base, COUNT, &in, &tg);
    char *in2 = malloc(a.in_bytes * COUNT), *tg2 = malloc(a.tg_bytes * COUNT);
    pp_error err;
    int64_t at = base;
    for (size_t k = 0; k < sizeof slices / sizeof *slices; k++) {
        size_t off = (size_t)(at - base);
        ck_assert_int_eq(a.ops->read(a.state, at, slices[k],
                                     in2 + off * a.in_bytes, NULL, &err),
                         PP_OK);
        ck_assert_int_eq(a.ops->read(a.state, at, slices[k], NULL,
                                     tg2 + off * a.tg_bytes, &err),
                         PP_OK);
        at += slices[k];
    }
    ck_assert_int_eq(at, base + COUNT);
    ck_assert(memcmp(in, in2, a.in_bytes * COUNT) == 0);
    ck_assert(memcmp(tg, tg2, a.tg_bytes * COUNT) == 0);

    must_open(name, keys, 42, &b);
    void *in3, *tg3;
    fetch(&b, base, COUNT, &in3, &tg3);
    ck_assert(memcmp(in, in3, a.in_bytes * COUNT) == 0);
    ck_assert(memcmp(tg, tg3, a.tg_bytes * COUNT) == 0);
    b.ops->close(b.state);
    free(in3);
    free(tg3);

    /* Neighbouring samples differ: i is really used. */
    ck_assert(memcmp(in, (char *)in + a.in_bytes, a.in_bytes) != 0);
    a.ops->close(a.state);
    free(in);
    free(tg);
    free(in2);
    free(tg2);
}

START_TEST(synthetic_deterministic)
{
    check_deterministic("synthetic", "");
    check_deterministic("synthetic", "task = sequence\n");
}
END_TEST

START_TEST(mixture_shapes_and_seed)
{
    source a, b;
    must_open("synthetic", "features = 3\nclasses = 5\n", 1, &a);
    ck_assert_int_eq(a.info.input.dtype, PP_F32);
    ck_assert_int_eq(a.info.input.shape.ndim, 1);
    ck_assert_int_eq(a.info.input.shape.dim[0], 3);
    ck_assert_int_eq(a.info.target.dtype, PP_I32);
    ck_assert_int_eq(a.info.target.shape.ndim, 0);
    ck_assert_int_eq(a.info.samples, 0);
    must_open("synthetic", "features = 3\nclasses = 5\n", 2, &b);
    void *in1, *tg1, *in2, *tg2;
    fetch(&a, 0, 16, &in1, &tg1);
    fetch(&b, 0, 16, &in2, &tg2);
    ck_assert(memcmp(in1, in2, a.in_bytes * 16) != 0);
    a.ops->close(a.state);
    b.ops->close(b.state);
    free(in1);
    free(tg1);
    free(in2);
    free(tg2);
}
END_TEST

/* Class centres estimated from 1000 samples classify the next 1000; the
 * classes come out about equally often. */
static void check_mixture(const char *keys, int classes, int features)
{
    enum { TRAIN = 1000, TEST = 1000 };
    source s;
    must_open("synthetic", keys, 7, &s);
    float *x, *centre = calloc((size_t)(classes * features), sizeof *centre);
    int32_t *y;
    int count[64] = {0};
    fetch(&s, 0, TRAIN + TEST, (void **)&x, (void **)&y);
    for (int i = 0; i < TRAIN; i++) {
        ck_assert(y[i] >= 0 && y[i] < classes);
        count[y[i]]++;
        for (int d = 0; d < features; d++)
            centre[y[i] * features + d] += x[i * features + d];
    }
    for (int c = 0; c < classes; c++) {
        ck_assert_msg(abs(count[c] - TRAIN / classes) < TRAIN / classes / 4,
                      "class %d: %d of %d samples", c, count[c], TRAIN);
        for (int d = 0; d < features; d++)
            centre[c * features + d] /= (float)count[c];
    }
    int right = 0;
    for (int i = TRAIN; i < TRAIN + TEST; i++) {
        int best = 0;
        double best_d = HUGE_VAL;
        for (int c = 0; c < classes; c++) {
            double dist = 0;
            for (int d = 0; d < features; d++) {
                double e = x[i * features + d] - centre[c * features + d];
                dist += e * e;
            }
            if (dist < best_d) {
                best_d = dist;
                best = c;
            }
        }
        right += best == y[i];
    }
    ck_assert_msg(right > TEST * 9 / 10, "%d of %d right", right, TEST);
    s.ops->close(s.state);
    free(x);
    free(y);
    free(centre);
}

START_TEST(mixture_learnable)
{
    check_mixture("", 4, 2);
    check_mixture("classes = 10\nfeatures = 5\n", 10, 5);
    check_mixture("classes = 3\nfeatures = 1\n", 3, 1);
    check_mixture("classes = 2\nfeatures = 2\nspread = 1\n", 2, 2);
}
END_TEST

START_TEST(sequence_next_token)
{
    source s;
    must_open("synthetic", "task = sequence\nvocab = 11\nlength = 9\n", 3,
              &s);
    ck_assert_int_eq(s.info.input.dtype, PP_I32);
    ck_assert_int_eq(s.info.input.shape.ndim, 1);
    ck_assert_int_eq(s.info.input.shape.dim[0], 9);
    ck_assert_int_eq(s.info.target.shape.dim[0], 9);
    int32_t *x, *y;
    fetch(&s, 0, 200, (void **)&x, (void **)&y);
    int k = (y[0] - x[0] + 11) % 11, starts[11] = {0};
    ck_assert_int_ne(k, 0);
    for (int i = 0; i < 200; i++) {
        starts[x[i * 9]] = 1;
        for (int t = 0; t < 9; t++) {
            ck_assert(x[i * 9 + t] >= 0 && x[i * 9 + t] < 11);
            ck_assert_int_eq(y[i * 9 + t], (x[i * 9 + t] + k) % 11);
            if (t + 1 < 9)
                ck_assert_int_eq(y[i * 9 + t], x[i * 9 + t + 1]);
        }
    }
    for (int v = 0; v < 11; v++)
        ck_assert_msg(starts[v], "no sample starts with %d", v);
    s.ops->close(s.state);
    free(x);
    free(y);
}
END_TEST

START_TEST(synthetic_refusals)
{
    source s;
    pp_error err;
    ck_assert_int_eq(open_source("synthetic", "task = sequence\nclasses = 3\n"
                                 "spread = 1\n", 1, &s, &err),
                     PP_ERR_CONFIG);
    EXPECT_MSG(err, "4: [data] classes: is not used by task = sequence\n"
               "%s:5: [data] spread: is not used by task = sequence",
               ini_path);
    ck_assert_int_eq(open_source("synthetic", "vocab = 3\n", 1, &s, &err),
                     PP_ERR_CONFIG);
    EXPECT_MSG(err, "3: [data] vocab: is not used by task = mixture");
}
END_TEST

/* ---- text and tokens ------------------------------------------------- */

/* Bytes from a small LCG: every 16-byte window of a few thousand is
 * unique, so a window's place in the file is known from its contents. */
static unsigned char *noise(size_t size, unsigned modulo)
{
    unsigned char *b = malloc(size);
    uint32_t x = 12345;
    for (size_t i = 0; i < size; i++) {
        x = x * 1103515245u + 12345u;
        b[i] = (unsigned char)((x >> 16) % modulo);
    }
    return b;
}

/* Each sample is some window w[o .. o + len) of the corpus, its target
 * w[o + 1 .. o + len + 1); every start 0 .. count - len - 1 is possible. */
static void check_windows(const source *s, const int32_t *corpus,
                          int64_t count, int64_t len, int n)
{
    int32_t *x, *y;
    fetch(s, 0, n, (void **)&x, (void **)&y);
    int64_t lowest = count, highest = -1;
    for (int i = 0; i < n; i++) {
        int64_t o = 0;
        while (o + len < count &&
               memcmp(corpus + o, x + i * len, (size_t)len * 4) != 0)
            o++;
        ck_assert_msg(o + len < count, "sample %d is not in the file", i);
        ck_assert(memcmp(corpus + o + 1, y + i * len, (size_t)len * 4) == 0);
        lowest = o < lowest ? o : lowest;
        highest = o > highest ? o : highest;
    }
    ck_assert_int_le(lowest, (count - len) / 10);
    ck_assert_int_ge(highest, (count - len) * 9 / 10);
    free(x);
    free(y);
}

START_TEST(text_windows)
{
    enum { SIZE = 3000, LEN = 40 };
    unsigned char *bytes = noise(SIZE, 256);
    char *file = write_tmp(bytes, SIZE);
    int32_t corpus[SIZE];
    for (int i = 0; i < SIZE; i++)
        corpus[i] = bytes[i];
    char keys[1024];
    snprintf(keys, sizeof keys, "path = %s\nlength = %d\n", file, LEN);
    source s;
    must_open("text", keys, 9, &s);
    ck_assert_int_eq(s.info.input.dtype, PP_I32);
    ck_assert_int_eq(s.info.input.shape.dim[0], LEN);
    ck_assert_int_eq(s.info.target.shape.dim[0], LEN);
    check_windows(&s, corpus, SIZE, LEN, 400);
    s.ops->close(s.state);
    check_deterministic("text", keys);

    /* length + 1 bytes: one window, the whole file. */
    snprintf(keys, sizeof keys, "path = %s\nlength = %d\n", file, SIZE - 1);
    must_open("text", keys, 9, &s);
    check_windows(&s, corpus, SIZE, SIZE - 1, 3);
    s.ops->close(s.state);
    unlink(file);
    free(file);
    free(bytes);
}
END_TEST

START_TEST(text_refusals)
{
    char *file = write_tmp("0123456789", 10), keys[1024];
    source s;
    pp_error err;
    snprintf(keys, sizeof keys, "length = 10\npath = %s\n", file);
    ck_assert_int_eq(open_source("text", keys, 1, &s, &err), PP_ERR_CONFIG);
    EXPECT_MSG(err, "4: [data] path: '%s' has 10 bytes; length = 10 needs "
               "at least 11", file);
    unlink(file);
    free(file);

    ck_assert_int_eq(open_source("text", "path = /nonexistent/corpus.txt\n",
                                 1, &s, &err), PP_ERR_CONFIG);
    EXPECT_MSG(err, "3: [data] path: cannot read '/nonexistent/corpus.txt': "
               "No such file or directory");
    ck_assert_int_eq(open_source("text", "path = /\n", 1, &s, &err),
                     PP_ERR_CONFIG);
    EXPECT_MSG(err, "3: [data] path: cannot read '/': Is a directory");
}
END_TEST

/* A token file: the header with magic, vocab and count, then ids. */
static char *token_file(const char *magic, uint32_t vocab, uint32_t count,
                        const uint32_t *ids, size_t nids)
{
    size_t size = 16 + 4 * nids;
    unsigned char *b = malloc(size);
    memcpy(b, magic, 8);
    const uint32_t head[2] = {vocab, count};
    for (size_t i = 0; i < 2 + nids; i++) {
        uint32_t v = i < 2 ? head[i] : ids[i - 2];
        for (int k = 0; k < 4; k++)
            b[8 + 4 * i + (size_t)k] = (unsigned char)(v >> (8 * k));
    }
    char *path = write_tmp(b, size);
    free(b);
    return path;
}

START_TEST(tokens_windows)
{
    enum { COUNT = 2000, LEN = 24, VOCAB = 50000 };
    uint32_t ids[COUNT];
    int32_t corpus[COUNT];
    uint32_t x = 99;
    for (int i = 0; i < COUNT; i++) {
        x = x * 1664525u + 1013904223u;
        ids[i] = (x >> 8) % VOCAB;
        corpus[i] = (int32_t)ids[i];
    }
    char *file = token_file("PPTOKEN1", VOCAB, COUNT, ids, COUNT);
    char keys[1024];
    snprintf(keys, sizeof keys, "path = %s\nlength = %d\n", file, LEN);
    source s;
    must_open("tokens", keys, 5, &s);
    ck_assert_int_eq(s.info.input.dtype, PP_I32);
    ck_assert_int_eq(s.info.input.shape.dim[0], LEN);
    ck_assert_int_eq(s.info.samples, 0);
    check_windows(&s, corpus, COUNT, LEN, 300);
    s.ops->close(s.state);
    check_deterministic("tokens", keys);
    unlink(file);
    free(file);
}
END_TEST

/* Opens a token file that must be refused; checks the message after
 * "LINE: [data] path: 'FILE'". */
static void expect_token_refusal(char *file, const char *length,
                                 const char *why)
{
    char keys[1024];
    snprintf(keys, sizeof keys, "path = %s\n%s", file, length);
    source s;
    pp_error err;
    ck_assert_int_eq(open_source("tokens", keys, 1, &s, &err),
                     PP_ERR_CONFIG);
    EXPECT_MSG(err, "3: [data] path: '%s'%s", file, why);
    unlink(file);
    free(file);
}

START_TEST(tokens_refusals)
{
    const uint32_t ids[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    expect_token_refusal(write_tmp("PPTOKEN1\1\0\0", 11), "",
        " is too short for a token file: 11 bytes, the header alone is 16");
    expect_token_refusal(token_file("PPTOKEN2", 10, 8, ids, 8), "",
        " is not a token file: it does not begin with PPTOKEN1");
    expect_token_refusal(token_file("PPTOKEN1", 0, 8, ids, 8), "",
        ": the header's vocab size 0 is not from 1 to 2147483648");
    expect_token_refusal(token_file("PPTOKEN1", 10, 9, ids, 8), "",
        ": the header says 9 ids (36 bytes after it), the file has 32 bytes "
        "after it");
    expect_token_refusal(token_file("PPTOKEN1", 6, 8, ids, 8), "",
        ": id 6 (at byte 40) is 6, not below the vocab size 6");
    expect_token_refusal(token_file("PPTOKEN1", 10, 8, ids, 8),
        "length = 8\n", " has 8 ids; length = 8 needs at least 9");

    source s;
    pp_error err;
    ck_assert_int_eq(open_source("tokens",
                                 "length = 4\npath = /nonexistent/missing.tok\n",
                                 1, &s, &err), PP_ERR_CONFIG);
    EXPECT_MSG(err, "4: [data] path: cannot read '/nonexistent/missing.tok': "
               "No such file or directory");
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("optim_data");
    TCase *opt = tcase_create("optimizers");
    tcase_add_checked_fixture(opt, setup, teardown);
    tcase_add_test(opt, sgd_plain);
    tcase_add_test(opt, sgd_weight_decay);
    tcase_add_test(opt, sgd_momentum);
    tcase_add_test(opt, sgd_nesterov);
    tcase_add_test(opt, sgd_refusals);
    tcase_add_test(opt, adamw_defaults);
    tcase_add_test(opt, adamw_keys);
    tcase_add_test(opt, adamw_bias_correction);
    tcase_add_test(opt, adamw_refusals);
    suite_add_tcase(s, opt);
    TCase *data = tcase_create("data");
    tcase_add_checked_fixture(data, setup, teardown);
    tcase_add_test(data, synthetic_deterministic);
    tcase_add_test(data, mixture_shapes_and_seed);
    tcase_add_test(data, mixture_learnable);
    tcase_add_test(data, sequence_next_token);
    tcase_add_test(data, synthetic_refusals);
    tcase_add_test(data, text_windows);
    tcase_add_test(data, text_refusals);
    tcase_add_test(data, tokens_windows);
    tcase_add_test(data, tokens_refusals);
    suite_add_tcase(s, data);
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
