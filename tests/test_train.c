/* tests/test_train.c - pipelining changes the speed, never the result.
 *
 * Two models on the synthetic mixture, trained for a few SGD steps with
 * momentum: a chain of every layer type (linear, gelu, layernorm,
 * dropout, tanh, softmax cross-entropy), a graph with residuals and
 * skips that cross stage boundaries (add, concat, the input reused at the
 * end), and a language model whose output layer shares the embedding's
 * table across the first stage and the last (whose copies must stay
 * bitwise equal). Under every schedule, over a grid of ranks, micro-batches and
 * stages per rank, with recompute off, on every stage and on every other
 * stage, the parameters at the end must equal those of one rank running
 * the whole batch at once, and the memory the runtime held must be the
 * memory pass's. The ranks talk through the local transport (host
 * mailboxes), and again through the peer transport (stream-ordered
 * snapshots, run here with the cpu device), which the GPU path uses.
 *
 * Tolerance: float32 sums taken in another order. A micro-batch split
 * changes how each parameter gradient's sum over the batch's rows is
 * grouped (per micro-batch, then across them), and each regrouping moves
 * the result by a few ulps of the terms' magnitude; three steps of SGD carry
 * that into the weights. |a - b| <= 1e-5 + 1e-5 |b| allows about 100 ulps
 * at the weights' scale (~0.1), far below what a wrong gradient, a missing
 * micro-batch or a doubled one would change (at least lr x 1/m of a
 * gradient, ~1e-3).
 */
#include <config.h>

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime_impl.h"
#include "train_models.h"

#define STEPS 3

static const char model_text[] =
    "%s"
    "[pipeline]\nschedule = %s\ndevices = cpu*%d\nstages_per_rank = %d\n"
    "microbatches = %d\n%s\ntransport = %s\n"
    "[train]\nbatch = 24\nsteps = %d\noptimizer = sgd\nmomentum = 0.9\n"
    "lr = 0.1\nseed = 7\nprecision = %s\n%s";

/* [train] precision of the runs train() makes, and more [train] lines. */
static const char *precision = "fp32";
static const char *train_extra = "";
/* Their steps, and the checkpoint they resume (NULL: none). */
static int train_steps = STEPS;
static const char *resume_from = NULL;

#define MAXLAYERS 32

typedef struct weights {
    float *w[MAXLAYERS][2];
    size_t n[MAXLAYERS][2];
    double loss[8];      /* each step's (NaN: not made by this run) */
    char route[256];     /* the plan's transport line */
} weights;

static void weights_free(weights *w)
{
    for (int l = 0; l < MAXLAYERS; l++)
        for (int i = 0; i < 2; i++)
            free(w->w[l][i]);
}

/* The memory pass is the one account of activation memory: the
 * simulator reports its peaks, and the runtime, taking and releasing
 * slots as it runs, reaches exactly them. */
static void memory_agrees(const pp_trainer *t)
{
    for (int r = 0; r < t->p; r++) {
        ck_assert_double_eq(t->planned->peak_mem[r], t->mem->peak[r]);
        ck_assert_msg(t->rank[r].hwm == t->mem->peak[r],
                      "rank %d held %.0f slot bytes at most, the memory "
                      "plan says %.0f", r, t->rank[r].hwm, t->mem->peak[r]);
        ck_assert_double_eq(t->rank[r].live, 0);
    }
}

/* Trains; returns 0 when the schedule refuses (p, m, v). recompute: 0
 * none, 1 every stage, 2 every other stage. */
static int train(const char *layers, const char *schedule, int p, int m,
                 int v, int recompute, const char *transport, weights *out)
{
    char path[] = "/tmp/pp-train-XXXXXX", which[64] = "recompute = false";
    if (recompute == 1)
        snprintf(which, sizeof which, "recompute = true");
    for (int s = 0, at = 0; recompute == 2 && s < p * v; s += 2)
        at += snprintf(which + at, sizeof which - (size_t)at, "%s%d",
                       s ? "," : "recompute_stages = ", s);
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    FILE *f = fdopen(fd, "w");
    fprintf(f, model_text, layers, schedule, p, v, m, which, transport,
            train_steps, precision, train_extra);
    fclose(f);
    pp_error err;
    pp_error_clear(&err);
    pp_model *model;
    pp_status st = pp_model_load(path, &model, &err);
    unlink(path);
    if (st == PP_ERR_CONFIG && strstr(err.msg, "[pipeline] schedule:"))
        return 0;
    ck_assert_msg(st == PP_OK, "%s p=%d m=%d v=%d: %s", schedule, p, m, v,
                  err.msg);
    ck_assert_int_le(model->nlayers, MAXLAYERS);
    pp_train_opts o = {.recv_timeout_ms = 20000, .quiet = 1, .out = stdout,
                       .init = resume_from, .resume = resume_from != NULL};
    pp_trainer *t;
    ck_assert_msg(pp_trainer_create(model, &o, &t, &err) == PP_OK, "%s",
                  err.msg);
    ck_assert_msg(pp_trainer_run(t, &err) == PP_OK, "%s p=%d m=%d v=%d: %s",
                  schedule, p, m, v, err.msg);
    memory_agrees(t);
    /* Every replica takes the same update: equal bits. */
    for (int s = model->stages; s < t->S; s++) {
        const stage_rt *sg = &t->stage[s];
        ck_assert_msg(memcmp(pp_stage_host_params(t, s),
                             pp_stage_host_params(t, sg->ms),
                             sg->nparams * sizeof(float)) == 0,
                      "%s p=%d m=%d v=%d: replica %d's stage %d differs "
                      "from replica 0's", schedule, p, m, v, sg->replica,
                      sg->ms);
    }
    /* A shared table's copies take one update on every rank: equal bits. */
    if (layers == models[TIED] || layers == models[GPT]) {
        int gpt = layers == models[GPT];
        size_t a, b;
        const float *e = pp_trainer_param(t, gpt ? GPT_EMBED : TIED_EMBED, 0,
                                          &a);
        float *copy = malloc(a * sizeof *copy);
        memcpy(copy, e, a * sizeof *copy);
        const float *h = pp_trainer_param(t, gpt ? GPT_HEAD : TIED_HEAD, 0,
                                          &b);
        ck_assert_uint_eq(a, b);
        ck_assert_msg(memcmp(copy, h, a * sizeof *copy) == 0,
                      "%s p=%d m=%d v=%d: the tied table's copies differ",
                      schedule, p, m, v);
        free(copy);
    }
    memset(out, 0, sizeof *out);
    for (int l = 0; l < model->nlayers; l++)
        for (int i = 0; i < 2; i++) {
            size_t n;
            const float *w = pp_trainer_param(t, l, i, &n);
            if (!w)
                continue;
            out->w[l][i] = malloc(n * sizeof(float));
            memcpy(out->w[l][i], w, n * sizeof(float));
            out->n[l][i] = n;
        }
    for (int s = 0; s < 8; s++)
        out->loss[s] = pp_trainer_loss(t, s);
    FILE *route = fmemopen(out->route, sizeof out->route - 1, "w");
    pp_routes_print(model, route);
    fclose(route);
    pp_trainer_free(t);
    pp_model_free(model);
    return 1;
}

static double max_diff(const weights *a, const weights *b)
{
    double worst = 0;
    for (int l = 0; l < MAXLAYERS; l++)
        for (int i = 0; i < 2; i++) {
            ck_assert_uint_eq(a->n[l][i], b->n[l][i]);
            for (size_t j = 0; j < a->n[l][i]; j++) {
                double d = fabs((double)a->w[l][i][j] - b->w[l][i][j]);
                double allowed = 1e-5 + 1e-5 * fabs(b->w[l][i][j]);
                if (d / allowed > worst)
                    worst = d / allowed;
            }
        }
    return worst; /* > 1: out of tolerance */
}

static const char *const schedules[] = {
    "vanilla", "gpipe", "1f1b", "interleaved", "looped-bfs",
    "zb-h1", "zb-h2", "zb-v",
};

#define NSCHEDULES ((int)(sizeof schedules / sizeof *schedules))

/* _i: schedule, then transport (local, peer), then model (chain,
 * residual, tied). */
START_TEST(every_schedule_trains_the_same_model)
{
    const char *name = schedules[_i % NSCHEDULES];
    const char *transport = _i / NSCHEDULES % 2 ? "peer" : "local";
    const char *layers = models[_i / (2 * NSCHEDULES)];
    weights ref;
    ck_assert(train(layers, "vanilla", 1, 1, 1, 0, "local", &ref));
    /* The reference learns: its loss falls over the steps. */
    ck_assert_msg(ref.loss[STEPS - 1] < ref.loss[0], "loss %g -> %g",
                  ref.loss[0], ref.loss[STEPS - 1]);
    static const int grid[][3] = {
        {1, 1, 1}, {2, 2, 1}, {2, 4, 1}, {4, 4, 1}, {4, 8, 1}, {3, 6, 1},
        {2, 2, 2}, {2, 4, 2}, {4, 4, 2}, {3, 3, 2}, {2, 8, 4},
    };
    int runs = 0;
    for (size_t g = 0; g < sizeof grid / sizeof *grid; g++)
        for (int recompute = 0; recompute < 3; recompute++) {
            int p = grid[g][0], m = grid[g][1], v = grid[g][2];
            weights got;
            if (!train(layers, name, p, m, v, recompute, transport, &got))
                continue;
            runs++;
            double worst = max_diff(&got, &ref);
            ck_assert_msg(worst <= 1.0,
                          "%s p=%d m=%d v=%d recompute=%d %s: weights "
                          "differ from one rank's by %.1f x the tolerance",
                          name, p, m, v, recompute, transport, worst);
            for (int s = 0; s < STEPS; s++)
                ck_assert_msg(fabs(got.loss[s] - ref.loss[s]) <=
                                  1e-5 * fabs(ref.loss[s]),
                              "%s p=%d m=%d v=%d: step %d loss %.9g, one "
                              "rank %.9g", name, p, m, v, s, got.loss[s],
                              ref.loss[s]);
            weights_free(&got);
        }
    ck_assert_msg(runs > 0, "%s ran nowhere in the grid", name);
    weights_free(&ref);
}
END_TEST

/* Data parallelism changes the speed, never the result: D replicas of a
 * pipeline, each taking 1/D of the batch, reach one rank's parameters
 * (to the tolerance above: the replicas' sums group the batch's
 * gradients differently), and every replica holds the same bits. Also
 * with gradients clipped (each replica sums its norm after the replicas'
 * sums), and with buckets small enough to cut a stage's sum into many
 * messages. _i: model. */
START_TEST(data_parallel_trains_the_same_model)
{
    const char *layers = models[_i];
    static const struct {
        const char *schedule;
        int p, m, v;
        const char *parallel;
        int clip;
    } cases[] = {
        {"vanilla", 1, 1, 1, "data = 2", 0},
        {"1f1b", 1, 4, 1, "data = 3", 0},
        {"1f1b", 2, 4, 1, "data = 3", 0},
        {"gpipe", 2, 2, 1, "data = 2\nbucket_mb = 0.0005", 0},
        {"interleaved", 2, 4, 2, "data = 3", 0},
        {"zb-v", 2, 4, 2, "data = 2", 0},
        {"zb-h1", 3, 4, 1, "data = 2\nbucket_mb = 0.001", 0},
        {"1f1b", 2, 4, 1, "data = 3", 1},
        {"interleaved", 2, 2, 2, "data = 2\nbucket_mb = 0.0005", 1},
    };
    weights ref, clipped;
    ck_assert(train(layers, "vanilla", 1, 1, 1, 0, "local", &ref));
    train_extra = "grad_clip = 0.05\n";
    ck_assert(train(layers, "vanilla", 1, 1, 1, 0, "local", &clipped));
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        char extra[128];
        snprintf(extra, sizeof extra, "%s[parallel]\n%s\n",
                 cases[c].clip ? "grad_clip = 0.05\n" : "",
                 cases[c].parallel);
        train_extra = extra;
        weights got;
        ck_assert_msg(train(layers, cases[c].schedule, cases[c].p,
                            cases[c].m, cases[c].v, c % 3 == 2, "local",
                            &got),
                      "%s refused", cases[c].schedule);
        double worst = max_diff(&got, cases[c].clip ? &clipped : &ref);
        ck_assert_msg(worst <= 1.0,
                      "%s p=%d m=%d v=%d, %s%s: weights differ from one "
                      "rank's by %.1f x the tolerance", cases[c].schedule,
                      cases[c].p, cases[c].m, cases[c].v, cases[c].parallel,
                      cases[c].clip ? ", clipped" : "", worst);
        for (int s = 0; s < STEPS; s++)
            ck_assert_msg(fabs(got.loss[s] - ref.loss[s]) <=
                              1e-5 * fabs(ref.loss[s]) || cases[c].clip,
                          "%s, %s: step %d loss %.9g, one rank %.9g",
                          cases[c].schedule, cases[c].parallel, s,
                          got.loss[s], ref.loss[s]);
        weights_free(&got);
    }
    train_extra = "";
    weights_free(&ref);
    weights_free(&clipped);
}
END_TEST

/* Weights a and b bit for bit. */
static int same_bits(const weights *a, const weights *b)
{
    for (int l = 0; l < MAXLAYERS; l++)
        for (int i = 0; i < 2; i++)
            if (a->n[l][i] != b->n[l][i] ||
                (a->n[l][i] && memcmp(a->w[l][i], b->w[l][i],
                                      a->n[l][i] * sizeof(float)) != 0))
                return 0;
    return 1;
}

/* Resuming is exact: 6 steps, or 3 steps, a checkpoint, and 3 more from
 * it give the same bits (parameters, momentum, the data's position and
 * dropout's random numbers all carried over). Resuming onto another
 * schedule, rank count, stages per rank or replicas reaches one rank's
 * parameters to the tolerance above (what changes is the order of
 * sums). _i: model, then the schedule resumed. */
START_TEST(resume_is_exact)
{
    static const struct {
        const char *schedule;
        int p, m, v;
    } on[] = {
        {"gpipe", 2, 4, 1}, {"1f1b", 3, 4, 1},
        {"interleaved", 2, 4, 2}, {"zb-v", 2, 4, 2},
    };
    const char *layers = models[_i / 4];
    int c = _i % 4;
    char dir[] = "/tmp/pp-resume-XXXXXX", extra[160], step3[200];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(extra, sizeof extra, "checkpoint = %s\ncheckpoint_every = 3\n"
             "keep = 0\n", dir);
    snprintf(step3, sizeof step3, "%s/step-00000003", dir);
    train_steps = 6;
    weights whole, resumed, one;
    ck_assert(train(layers, "vanilla", 1, 1, 1, 0, "local", &one));
    /* The same run, whole and resumed: the same bits. */
    train_extra = extra;
    ck_assert(train(layers, on[c].schedule, on[c].p, on[c].m, on[c].v, 0,
                    "local", &whole));
    train_extra = "";
    resume_from = step3;
    ck_assert(train(layers, on[c].schedule, on[c].p, on[c].m, on[c].v, 0,
                    "local", &resumed));
    ck_assert_msg(same_bits(&whole, &resumed), "%s: 3 steps and 3 resumed "
                  "differ from 6 steps", on[c].schedule);
    weights_free(&resumed);
    /* On another layout: replicas, and the next case's schedule. */
    static const char *const parallel[] = {"", "[parallel]\ndata = 2\n"};
    for (int k = 0; k < 2; k++) {
        int n = (c + 1) % 4;
        train_extra = parallel[k];
        ck_assert(train(layers, on[n].schedule, on[n].p, on[n].m, on[n].v,
                        k, "local", &resumed));
        double worst = max_diff(&resumed, &one);
        ck_assert_msg(worst <= 1.0, "%s's checkpoint resumed on %s p=%d "
                      "v=%d%s: %.1f x the tolerance from one rank",
                      on[c].schedule, on[n].schedule, on[n].p, on[n].v,
                      k ? " data=2" : "", worst);
        weights_free(&resumed);
    }
    /* And in bf16 (FP32 master weights): it goes on, near fp32's. */
    precision = "bf16";
    train_extra = "";
    ck_assert(train(layers, on[c].schedule, on[c].p, on[c].m, on[c].v, 0,
                    "local", &resumed));
    ck_assert_msg(fabs(resumed.loss[3] - whole.loss[3]) <=
                      0.02 * fabs(whole.loss[3]),
                  "bf16 resumed: step 4 loss %g, fp32's %g", resumed.loss[3],
                  whole.loss[3]);
    precision = "fp32";
    resume_from = NULL;
    train_steps = STEPS;
    weights_free(&resumed);
    weights_free(&whole);
    weights_free(&one);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* A trace keeps the run's first steps, as many as trace_bytes of spans
 * hold, so a long run's memory does not grow with its steps. */
START_TEST(trace_is_bounded)
{
    char path[] = "/tmp/pp-trace-XXXXXX", trace[] = "/tmp/pp-trace-json-XXXXXX";
    int fd = mkstemp(path), tfd = mkstemp(trace);
    ck_assert(fd >= 0 && tfd >= 0);
    close(tfd);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "%s[pipeline]\nschedule = 1f1b\ndevices = cpu*2\n"
               "microbatches = 4\n[train]\nbatch = 24\nsteps = 6\n",
            models[CHAIN]);
    fclose(f);
    pp_error err;
    pp_model *model;
    ck_assert_msg(pp_model_load(path, &model, &err) == PP_OK, "%s", err.msg);
    unlink(path);
    size_t per_step = 1;
    for (int r = 0; r < 2; r++)
        per_step += (size_t)model->plan->prog[r].n * sizeof(pp_span);
    pp_train_opts o = {.recv_timeout_ms = 20000, .quiet = 1, .out = stdout,
                       .trace = trace, .trace_bytes = 2 * per_step + 1};
    pp_trainer *t;
    ck_assert_msg(pp_trainer_create(model, &o, &t, &err) == PP_OK, "%s",
                  err.msg);
    ck_assert_msg(pp_trainer_run(t, &err) == PP_OK, "%s", err.msg);
    ck_assert_int_eq(pp_trainer_steps_done(t), 6);
    ck_assert_int_eq(pp_trainer_traced_steps(t), 2);
    for (int r = 0; r < 2; r++)
        ck_assert_int_le(t->trace[r].n, 2 * model->plan->prog[r].n);
    /* The losses of the last steps are kept, not of every step. */
    ck_assert(!isnan(pp_trainer_loss(t, 5)));
    ck_assert(isnan(pp_trainer_loss(t, 6)));
    pp_trainer_free(t);
    pp_model_free(model);
    unlink(trace);
}
END_TEST

/* One step of the chain under adamw, with weight_decay (a [train] line)
 * as given. */
static pp_trainer *adamw_step(const char *decay, pp_model **model)
{
    char path[] = "/tmp/pp-decay-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "%s[pipeline]\ndevices = cpu*2\nmicrobatches = 4\n"
               "[train]\nbatch = 24\nsteps = 1\noptimizer = adamw\n"
               "lr = 0.1\nseed = 7\n%s\n", models[CHAIN], decay);
    fclose(f);
    pp_error err;
    pp_error_clear(&err);
    pp_status st = pp_model_load(path, model, &err);
    unlink(path);
    ck_assert_msg(st == PP_OK, "%s", err.msg);
    pp_train_opts o = {.recv_timeout_ms = 20000, .quiet = 1, .out = stdout};
    pp_trainer *t;
    ck_assert_msg(pp_trainer_create(*model, &o, &t, &err) == PP_OK, "%s",
                  err.msg);
    ck_assert_msg(pp_trainer_run(t, &err) == PP_OK, "%s", err.msg);
    return t;
}

/* Decay groups end to end: after a step of adamw with weight decay, the
 * biases and the norm's gains (declared without decay) are bit for bit
 * where adamw without decay puts them; the weights are not. */
START_TEST(no_decay_for_biases_and_gains)
{
    pp_model *ma, *mb;
    pp_trainer *a = adamw_step("weight_decay = 0.5", &ma);
    pp_trainer *b = adamw_step("weight_decay = 0", &mb);
    int same = 0, differ = 0;
    for (int l = 0; l < ma->nlayers; l++)
        for (int i = 0; i < ma->layers[l].plan.nparams; i++) {
            size_t na, nb;
            const float *pa = pp_trainer_param(a, l, i, &na);
            const float *pb = pp_trainer_param(b, l, i, &nb);
            ck_assert_uint_eq(na, nb);
            int equal = memcmp(pa, pb, na * sizeof(float)) == 0;
            int nodecay = ma->layers[l].plan.params[i].flags &
                          PP_PARAM_NO_DECAY;
            ck_assert_msg(equal == !!nodecay, "[layer %s] %s: %s",
                          ma->layers[l].name,
                          ma->layers[l].plan.params[i].name,
                          equal ? "not decayed" : "decayed");
            same += equal;
            differ += !equal;
        }
    /* Three biases and the norm's two gains; three weights. */
    ck_assert_int_eq(same, 5);
    ck_assert_int_eq(differ, 3);
    pp_trainer_free(a);
    pp_trainer_free(b);
    pp_model_free(ma);
    pp_model_free(mb);
}
END_TEST

/* Lines of `what` in the file at path. */
static int lines_of(const char *path, const char *what)
{
    FILE *f = fopen(path, "r");
    char line[64];
    int n = 0;
    while (f && fgets(line, sizeof line, f))
        n += strncmp(line, what, strlen(what)) == 0;
    if (f)
        fclose(f);
    return n;
}

/* Layer state and workspace: a layer whose kernels need the state its
 * init made (tests/plugins/stateful.c) trains on two ranks to one
 * rank's weights, each such layer's init called once before the first
 * step and its destroy once after the last. */
START_TEST(layer_state)
{
    const char *dir = getenv("TEST_PLUGIN_DIR");
    ck_assert_ptr_nonnull(dir);
    char log[] = "/tmp/pp-state-XXXXXX";
    int lfd = mkstemp(log);
    ck_assert_int_ge(lfd, 0);
    close(lfd);
    setenv("STATEFUL_LOG", log, 1);
    setenv("PIPETTE_ALLOW_MODEL_PLUGINS", "1", 1); /* its plugin_path */
    char layers[1024];
    snprintf(layers, sizeof layers,
             "[model]\ninput = 6\nplugin_path = %s\n"
             "[layer fc1]\ntype = linear\nunits = 8\n"
             "[layer s1]\ntype = stateful\nscale = 0.5\n"
             "[layer fc2]\ntype = linear\nunits = 8\n"
             "[layer s2]\ntype = stateful\n"
             "[layer out]\ntype = linear\nunits = 3\n"
             "[layer loss]\ntype = softmax_xent\n"
             "[data]\nsource = synthetic\ntask = mixture\nclasses = 3\n"
             "features = 6\n", dir);
    weights one, two;
    ck_assert(train(layers, "vanilla", 1, 1, 1, 0, "local", &one));
    ck_assert_int_eq(lines_of(log, "init"), 2);
    ck_assert_int_eq(lines_of(log, "destroy"), 2);
    ck_assert(train(layers, "1f1b", 2, 4, 1, 1, "local", &two));
    ck_assert_int_eq(lines_of(log, "init"), 4);
    ck_assert_int_eq(lines_of(log, "destroy"), 4);
    ck_assert_double_le(max_diff(&two, &one), 1.0);
    weights_free(&one);
    weights_free(&two);
    unsetenv("STATEFUL_LOG");
    unsetenv("PIPETTE_ALLOW_MODEL_PLUGINS");
    unlink(log);
}
END_TEST

/* The directory of the test transports, and an empty file at log (a
 * mkstemp template) for the courier's counts. */
static const char *courier_setup(char *log)
{
    const char *dir = getenv("TEST_TRANSPORT_DIR");
    ck_assert_ptr_nonnull(dir);
    int fd = mkstemp(log);
    ck_assert_int_ge(fd, 0);
    close(fd);
    return dir;
}

/* A transport pipette was not written for (tests/plugins/courier.c,
 * cheaper than local), found through PIPETTE_PLUGIN_PATH: auto routes
 * every direction between the cpu ranks through it, sends and sums (of
 * the gradient norm, between every pair, and of a tied table) alike, it
 * delivers every letter, and the weights and losses are the very bits of
 * the same run through local. */
START_TEST(auto_takes_a_new_transport)
{
    char log[] = "/tmp/pp-courier-XXXXXX";
    const char *dir = courier_setup(log);
    for (int k = RESIDUAL; k <= TIED; k++) {
        weights local, courier;
        unsetenv("PIPETTE_PLUGIN_PATH");
        ck_assert(train(models[k], "1f1b", 3, 6, 1, 0, "auto", &local));
        ck_assert_str_eq(local.route, "  transport: local 0->1 0->2 1->0 "
                                      "1->2 2->0 2->1\n");
        setenv("PIPETTE_PLUGIN_PATH", dir, 1);
        setenv("COURIER_LOG", log, 1);
        ck_assert(train(models[k], "1f1b", 3, 6, 1, 0, "auto", &courier));
        unsetenv("COURIER_LOG");
        ck_assert_msg(strncmp(courier.route, "  transport: courier ", 21) ==
                          0 && strchr(courier.route, ';') == NULL,
                      "%s", courier.route);
        ck_assert_str_eq(courier.route + 21, local.route + 19);
        ck_assert_mem_eq(courier.loss, local.loss, sizeof local.loss);
        for (int l = 0; l < MAXLAYERS; l++)
            for (int i = 0; i < 2; i++) {
                ck_assert_uint_eq(courier.n[l][i], local.n[l][i]);
                ck_assert(courier.n[l][i] == 0 ||
                          memcmp(courier.w[l][i], local.w[l][i],
                                 local.n[l][i] * sizeof(float)) == 0);
            }
        weights_free(&local);
        weights_free(&courier);
    }
    unsetenv("PIPETTE_PLUGIN_PATH");
    /* Each run's letters: 1f1b's 6 micro-batches over 3 ranks send 24
     * messages a step, the norm's sum 6 (each rank to the 2 others), and
     * the tied table's sum one each way more. */
    FILE *f = fopen(log, "r");
    long got[2] = {0, 0};
    ck_assert(f && fscanf(f, "delivered %ld, %*u bytes\ndelivered %ld",
                          &got[0], &got[1]) == 2);
    fclose(f);
    unlink(log);
    ck_assert_int_eq(got[0], 30 * STEPS);
    ck_assert_int_eq(got[1], 32 * STEPS);
}
END_TEST

/* In bf16, pipelining still changes the speed only. Under every schedule,
 * on 2 and 4 ranks, each model's weights after 3 steps equal those of one
 * bf16 rank with the same micro-batches, within the FP32 test's tolerance:
 * with the same micro-batches every activation is computed from the same
 * numbers and rounded to bf16 the same way, so what differs is only FP32
 * regrouping (the sums of a tied table's copies), as in FP32. And bf16 is
 * not FP32: the weights move from FP32's by far more than that. */
START_TEST(bf16_every_schedule)
{
    const char *name = schedules[_i % NSCHEDULES];
    const char *layers = models[_i / NSCHEDULES];
    static const int grid[][3] = {{2, 4, 1}, {4, 4, 1}, {2, 4, 2},
                                  {4, 8, 2}};
    int runs = 0;
    for (size_t g = 0; g < sizeof grid / sizeof *grid; g++) {
        int p = grid[g][0], m = grid[g][1], v = grid[g][2];
        weights ref, got, fp32;
        precision = "bf16";
        ck_assert(train(layers, "vanilla", 1, m, 1, 0, "local", &ref));
        int ran = train(layers, name, p, m, v, 0, "local", &got);
        precision = "fp32";
        if (!ran) {
            weights_free(&ref);
            continue;
        }
        runs++;
        ck_assert_msg(ref.loss[STEPS - 1] < ref.loss[0], "loss %g -> %g",
                      ref.loss[0], ref.loss[STEPS - 1]);
        double worst = max_diff(&got, &ref);
        ck_assert_msg(worst <= 1.0, "bf16 %s p=%d m=%d v=%d: weights differ "
                      "from one bf16 rank's by %.1f x the tolerance", name,
                      p, m, v, worst);
        ck_assert(train(layers, "vanilla", 1, m, 1, 0, "local", &fp32));
        ck_assert_msg(max_diff(&fp32, &ref) > 10.0,
                      "bf16 trained like fp32: is it bf16?");
        weights_free(&ref);
        weights_free(&got);
        weights_free(&fp32);
    }
    ck_assert_msg(runs > 0, "%s ran nowhere in the grid", name);
}
END_TEST

/* A bf16 message has half an FP32 one's bytes, counted by the transport
 * that carried it (courier, as in auto_takes_a_new_transport): but for
 * the norm's sum, FP32 in both (each of 3 ranks sends the 2 others 256
 * parts and 6 micro-batches' losses a step). */
START_TEST(bf16_halves_messages)
{
    char log[] = "/tmp/pp-courier-XXXXXX";
    const char *dir = courier_setup(log);
    setenv("PIPETTE_PLUGIN_PATH", dir, 1);
    setenv("COURIER_LOG", log, 1);
    static const char *const precisions[] = {"fp32", "bf16"};
    for (int k = 0; k < 2; k++) {
        weights w;
        precision = precisions[k];
        ck_assert(train(models[RESIDUAL], "1f1b", 3, 6, 1, 0, "auto", &w));
        weights_free(&w);
    }
    precision = "fp32";
    unsetenv("COURIER_LOG");
    unsetenv("PIPETTE_PLUGIN_PATH");
    FILE *f = fopen(log, "r");
    long letters[2];
    size_t bytes[2];
    ck_assert(f && fscanf(f, "delivered %ld, %zu bytes\ndelivered %ld, %zu "
                          "bytes", &letters[0], &bytes[0], &letters[1],
                          &bytes[1]) == 4);
    fclose(f);
    unlink(log);
    size_t norm = 3 * 2 * (256 + 6) * sizeof(float) * STEPS;
    ck_assert_int_eq(letters[0], letters[1]);
    ck_assert_uint_gt(bytes[0], norm);
    ck_assert_uint_eq((bytes[1] - norm) * 2, bytes[0] - norm);
}
END_TEST

/* Clipping by the global norm is pipelining-proof too: the norm is
 * summed over every rank, a tied table's copies counted once (twice, p > 1
 * would clip differently from one rank). The bound is below every step's
 * norm, so every step clips. */
START_TEST(clipped_every_schedule)
{
    const char *name = schedules[_i % NSCHEDULES];
    const char *layers = models[_i / NSCHEDULES];
    static const int grid[][3] = {{2, 4, 1}, {3, 6, 1}, {2, 4, 2},
                                  {4, 8, 2}};
    train_extra = "grad_clip = 0.05\n";
    weights ref, plain;
    ck_assert(train(layers, "vanilla", 1, 1, 1, 0, "local", &ref));
    int runs = 0;
    for (size_t g = 0; g < sizeof grid / sizeof *grid; g++) {
        int p = grid[g][0], m = grid[g][1], v = grid[g][2];
        weights got;
        if (!train(layers, name, p, m, v, g == 1, "local", &got))
            continue;
        runs++;
        double worst = max_diff(&got, &ref);
        ck_assert_msg(worst <= 1.0, "clipped %s p=%d m=%d v=%d: weights "
                      "differ from one rank's by %.1f x the tolerance",
                      name, p, m, v, worst);
        weights_free(&got);
    }
    train_extra = "";
    ck_assert_msg(runs > 0, "%s ran nowhere in the grid", name);
    ck_assert(train(layers, "vanilla", 1, 1, 1, 0, "local", &plain));
    ck_assert_msg(max_diff(&plain, &ref) > 10.0, "grad_clip changed nothing");
    weights_free(&ref);
    weights_free(&plain);
}
END_TEST

/* One step of the tied model on `ranks` ranks with plain SGD (lr 0.1);
 * its parameters before and after. */
static pp_trainer *sgd_step(const char *clip, int ranks, pp_model **model,
                            float **before)
{
    char path[] = "/tmp/pp-clip-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "%s[pipeline]\ndevices = cpu*%d\nmicrobatches = 2\n"
               "[train]\nbatch = 24\nsteps = 1\noptimizer = sgd\n"
               "lr = 0.1\nseed = 7\n%s\n", models[TIED], ranks, clip);
    fclose(f);
    pp_error err;
    pp_error_clear(&err);
    pp_status st = pp_model_load(path, model, &err);
    unlink(path);
    ck_assert_msg(st == PP_OK, "%s", err.msg);
    pp_train_opts o = {.recv_timeout_ms = 20000, .quiet = 1, .out = stdout};
    pp_trainer *t;
    ck_assert_msg(pp_trainer_create(*model, &o, &t, &err) == PP_OK, "%s",
                  err.msg);
    for (int l = 0; l < (*model)->nlayers; l++)
        for (int i = 0; i < (*model)->layers[l].plan.nparams; i++) {
            size_t n;
            const float *w = pp_trainer_param(t, l, i, &n);
            before[2 * l + i] = malloc(n * sizeof(float));
            memcpy(before[2 * l + i], w, n * sizeof(float));
        }
    ck_assert_msg(pp_trainer_run(t, &err) == PP_OK, "%s", err.msg);
    return t;
}

/* Against a hand computation: with SGD, the unclipped step's update is
 * lr g, so it gives every gradient g and the norm; the clipped step must
 * have moved each parameter by lr g bound / (norm + 1e-6), and logged that
 * norm. Once with a bound above the norm (nothing changes, bit for bit),
 * once below; on one rank and on three (the tied table counted once). */
START_TEST(clipping_by_hand)
{
    int ranks = _i ? 3 : 1;
    pp_model *mp, *mc, *mh;
    float *b0[2 * MAXLAYERS] = {0}, *b1[2 * MAXLAYERS] = {0},
          *b2[2 * MAXLAYERS] = {0};
    pp_trainer *plain = sgd_step("", ranks, &mp, b0);
    pp_trainer *clip = sgd_step("grad_clip = 0.2", ranks, &mc, b1);
    pp_trainer *high = sgd_step("grad_clip = 1000", ranks, &mh, b2);
    double sum = 0;
    for (int l = 0; l < mp->nlayers; l++)
        for (int i = 0; i < mp->layers[l].plan.nparams; i++) {
            if (mp->layers[l].owner[i].layer != l)
                continue; /* a shared table's user: counted at its owner */
            size_t n;
            const float *w = pp_trainer_param(plain, l, i, &n);
            for (size_t j = 0; j < n; j++) {
                double g = ((double)b0[2 * l + i][j] - w[j]) / 0.1;
                sum += g * g;
            }
        }
    double norm = sqrt(sum), coef = 0.2 / (norm + 1e-6);
    ck_assert_msg(norm > 0.4, "norm %g: the bound does not clip", norm);
    ck_assert_msg(fabs(clip->norm[0] - norm) <= 1e-4 * norm,
                  "logged norm %.9g, by hand %.9g", clip->norm[0], norm);
    ck_assert_msg(fabs(high->norm[0] - norm) <= 1e-4 * norm,
                  "logged norm %.9g, by hand %.9g", high->norm[0], norm);
    for (int l = 0; l < mp->nlayers; l++)
        for (int i = 0; i < mp->layers[l].plan.nparams; i++) {
            size_t n;
            const float *w = pp_trainer_param(plain, l, i, &n);
            const float *c = pp_trainer_param(clip, l, i, &n);
            const float *h = pp_trainer_param(high, l, i, &n);
            ck_assert_msg(memcmp(w, h, n * sizeof *w) == 0,
                          "[layer %s]: a bound above the norm moved it",
                          mp->layers[l].name);
            for (size_t j = 0; j < n; j++) {
                double want = b1[2 * l + i][j] -
                              coef * ((double)b0[2 * l + i][j] - w[j]);
                ck_assert_msg(fabs(c[j] - want) <= 1e-6 + 1e-5 * fabs(want),
                              "[layer %s] %d[%zu]: %.9g, by hand %.9g",
                              mp->layers[l].name, i, j, c[j], want);
            }
        }
    for (int k = 0; k < 2 * MAXLAYERS; k++) {
        free(b0[k]);
        free(b1[k]);
        free(b2[k]);
    }
    pp_trainer_free(plain);
    pp_trainer_free(clip);
    pp_trainer_free(high);
    pp_model_free(mp);
    pp_model_free(mc);
    pp_model_free(mh);
}
END_TEST

/* A run of `text` (a whole model file, its [train] steps, lr and
 * on_nonfinite as given); its parameters in *w (each layer's, malloc'd)
 * whether it failed or not; returns its status, its error in *err. */
static pp_status nonfinite_run(const char *text, int64_t *skipped,
                               weights *w, pp_error *err)
{
    char path[] = "/tmp/pp-nonfinite-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    FILE *f = fdopen(fd, "w");
    fputs(text, f);
    fclose(f);
    pp_error_clear(err);
    pp_model *model;
    setenv("PIPETTE_ALLOW_MODEL_PLUGINS", "1", 1); /* spiky's plugin_path */
    pp_status st = pp_model_load(path, &model, err);
    unsetenv("PIPETTE_ALLOW_MODEL_PLUGINS");
    unlink(path);
    ck_assert_msg(st == PP_OK, "%s", err->msg);
    pp_train_opts o = {.recv_timeout_ms = 20000, .quiet = 1, .out = stdout,
                       .init = resume_from, .resume = resume_from != NULL};
    pp_trainer *t;
    ck_assert_msg(pp_trainer_create(model, &o, &t, err) == PP_OK, "%s",
                  err->msg);
    st = pp_trainer_run(t, err);
    /* Every replica holds the same bits, applied or not. */
    for (int s = model->stages; s < t->S; s++)
        ck_assert(memcmp(pp_stage_host_params(t, s),
                         pp_stage_host_params(t, t->stage[s].ms),
                         t->stage[s].nparams * sizeof(float)) == 0);
    memset(w, 0, sizeof *w);
    for (int l = 0; l < model->nlayers; l++)
        for (int i = 0; i < 2; i++) {
            size_t n;
            const float *p = pp_trainer_param(t, l, i, &n);
            if (!p)
                continue;
            w->w[l][i] = malloc(n * sizeof(float));
            memcpy(w->w[l][i], p, n * sizeof(float));
            w->n[l][i] = n;
        }
    w->loss[0] = pp_trainer_loss(t, 1);
    *skipped = pp_trainer_steps_skipped(t);
    pp_trainer_free(t);
    pp_model_free(model);
    return st;
}

/* The layouts the non-finite tests run: one rank, three under 1f1b, and
 * two replicas of two ranks; [pipeline] and [parallel]. */
static const char *const nonfinite_layouts[] = {
    "[pipeline]\ndevices = cpu\nmicrobatches = 4\n",
    "[pipeline]\ndevices = cpu*3\nschedule = 1f1b\nmicrobatches = 4\n",
    "[pipeline]\ndevices = cpu*2\nschedule = 1f1b\nmicrobatches = 2\n"
    "[parallel]\ndata = 2\n",
};

/* An lr of 1e30 blows the second step up: the run stops there, before
 * any rank's update, naming the step, the task and the first layer whose
 * output is not finite (hidden: its weights took a 1e30-sized step), and
 * the parameters are the first step's, bit for bit. _i: layout. */
START_TEST(nonfinite_stops_before_the_update)
{
    static const char model[] =
        "[model]\ninput = 6\n"
        "[layer hidden]\ntype = linear\nunits = 16\n"
        "[layer act]\ntype = relu\n"
        "[layer out]\ntype = linear\nunits = 3\n"
        "[layer loss]\ntype = softmax_xent\n" MIXTURE_DATA
        "[train]\nbatch = 24\noptimizer = sgd\nlr = 1e30\nseed = 7\n";
    static const char *const want[] = {
        "rank 0, step 2, F0.0: the loss is nan: training diverged at layer "
        "out, the first whose output is not finite (try a smaller lr)",
        "rank 2, step 2, F0.2: the loss is nan: training diverged at layer "
        "out, the first whose output is not finite (try a smaller lr)",
        "rank 2, step 2, F0.1: the loss is nan: training diverged at layer "
        "out, the first whose output is not finite (try a smaller lr)",
    };
    char text[1024];
    weights one, stopped;
    int64_t skipped;
    pp_error err;
    snprintf(text, sizeof text, "%ssteps = 1\n%s", model,
             nonfinite_layouts[_i]);
    ck_assert_int_eq(nonfinite_run(text, &skipped, &one, &err), PP_OK);
    snprintf(text, sizeof text, "%ssteps = 5\n%s", model,
             nonfinite_layouts[_i]);
    ck_assert_int_eq(nonfinite_run(text, &skipped, &stopped, &err),
                     PP_ERR_RUNTIME);
    ck_assert_str_eq(err.msg, want[_i]);
    ck_assert_msg(same_bits(&stopped, &one),
                  "the stopped step changed the parameters");
    ck_assert_int_eq(skipped, 0);
    weights_free(&one);
    weights_free(&stopped);
}
END_TEST

/* on_nonfinite = skip: a data source whose step 2 has an infinite
 * feature (tests/plugins/spiky.c; every other step the same batch). The
 * step is skipped (its loss logged), and changes nothing: after it the
 * parameters are the first step's; and the run goes on to the weights of
 * a run without it, bit for bit, under adamw, whose step count skips it
 * too. _i: layout. */
START_TEST(nonfinite_skipped)
{
    static const char model[] =
        "[model]\ninput = 4\nplugin_path = " TEST_DATA_DIR "\n"
        "[layer hidden]\ntype = linear\nunits = 8\n"
        "[layer act]\ntype = tanh\n"
        "[layer out]\ntype = linear\nunits = 3\n"
        "[layer loss]\ntype = softmax_xent\n"
        "[data]\nsource = spiky\nrepeat = 24\nbad = 30\nbad_count = %d\n"
        "[train]\nbatch = 24\noptimizer = adamw\nlr = 0.05\n"
        "on_nonfinite = skip\nsteps = %d\n%s";
    static const struct {
        int bad, steps;
    } runs[] = {{1, 2}, {0, 1}, {1, 4}, {0, 3}};
    weights w[4];
    int64_t skipped[4];
    for (int k = 0; k < 4; k++) {
        char text[1024];
        pp_error err;
        snprintf(text, sizeof text, model, runs[k].bad, runs[k].steps,
                 nonfinite_layouts[_i]);
        ck_assert_msg(nonfinite_run(text, &skipped[k], &w[k], &err) ==
                          PP_OK, "%s", err.msg);
        ck_assert_int_eq(skipped[k], runs[k].bad);
    }
    /* The spike's loss is finite (tanh takes the infinity to 1), its
     * gradients are not. */
    ck_assert_msg(isfinite(w[0].loss[0]), "step 2's loss %g",
                  w[0].loss[0]);
    ck_assert_msg(same_bits(&w[0], &w[1]), "the skipped step moved the "
                  "parameters");
    ck_assert_msg(same_bits(&w[2], &w[3]), "after a skipped step, the "
                  "weights differ from a run without it");
    ck_assert_msg(!same_bits(&w[1], &w[3]), "nothing trained");
    /* Resumed after the skipped step (from a checkpoint of step 2, which
     * says 1 of its 2 steps was skipped): the same bits, adamw's step
     * count going on from 1. */
    char dir[] = "/tmp/pp-skip-XXXXXX", text[1024], ckpt[160];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(ckpt, sizeof ckpt, "checkpoint = %s\ncheckpoint_every = 2\n%s",
             dir, nonfinite_layouts[_i]);
    snprintf(text, sizeof text, model, 1, 4, ckpt);
    weights whole, resumed;
    int64_t n;
    pp_error err;
    ck_assert_int_eq(nonfinite_run(text, &n, &whole, &err), PP_OK);
    ck_assert_msg(same_bits(&whole, &w[2]), "a checkpoint changed the run");
    char step2[200];
    snprintf(step2, sizeof step2, "%s/step-00000002", dir);
    resume_from = step2;
    ck_assert_int_eq(nonfinite_run(text, &n, &resumed, &err), PP_OK);
    resume_from = NULL;
    ck_assert_msg(same_bits(&resumed, &whole), "resumed after a skipped step, "
                  "the weights differ");
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
    weights_free(&whole);
    weights_free(&resumed);
    for (int k = 0; k < 4; k++)
        weights_free(&w[k]);
}
END_TEST

static Suite *train_suite(void)
{
    Suite *s = suite_create("train");
    TCase *tc = tcase_create("equivalence");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, every_schedule_trains_the_same_model, 0,
                        2 * NSCHEDULES * NMODELS);
    tcase_add_loop_test(tc, data_parallel_trains_the_same_model, 0,
                        NMODELS);
    tcase_add_test(tc, no_decay_for_biases_and_gains);
    tcase_add_test(tc, layer_state);
    tcase_add_test(tc, auto_takes_a_new_transport);
    tcase_add_loop_test(tc, bf16_every_schedule, 0, NSCHEDULES * NMODELS);
    tcase_add_test(tc, bf16_halves_messages);
    tcase_add_loop_test(tc, clipped_every_schedule, 0, NSCHEDULES * NMODELS);
    tcase_add_loop_test(tc, clipping_by_hand, 0, 2);
    tcase_add_loop_test(tc, resume_is_exact, 0, 4 * NMODELS);
    tcase_add_test(tc, trace_is_bounded);
    tcase_add_loop_test(tc, nonfinite_stops_before_the_update, 0, 3);
    tcase_add_loop_test(tc, nonfinite_skipped, 0, 3);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(train_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
