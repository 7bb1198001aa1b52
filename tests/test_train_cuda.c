/* tests/test_train_cuda.c - training on GPU ranks trains the same model as
 * on the CPU. Most ranks on GPU 0 (the machines this runs on may have one;
 * the runs that need two GPUs are skipped on one):
 * under several schedules, with and without recompute, the weights after
 * a few steps must match one CPU rank's. The ranks talk through the
 * transport auto picks (peer: copies ordered by events), through host
 * staging (local), and between a cpu rank and a GPU rank.
 *
 * With [parallel] data, the replicas' sums go through the same
 * transports, or through nccl's all-reduce where nccl carries the
 * replicas (two GPUs): each run checks which, and on the emulator that
 * the all-reduces were made (pp_emu_nccl_sums).
 *
 * Three models: test_train.c's chain, its graph of residuals and skips
 * that cross stage boundaries, and its language model with a tied
 * embedding, whose copies on different ranks (and devices) must stay
 * bitwise equal.
 *
 * Tolerance |a - b| <= 1e-4 + 1e-4 |b|, ten times test_train.c's: besides
 * the regrouping of sums by micro-batch, cuBLAS and the GPU kernels add
 * in other orders than the CPU loops (every kernel's own bound is in
 * test_layers_cuda.c and test_linear_optim_cuda.c).
 *
 * In bf16, two models of every layer kind (one per loss, mse's data from
 * tests/plugins/id_rows.c) on cuda:0 and beside a cpu rank, with their
 * own bound (bf16_runs).
 *
 * Exits 77 when no GPU answers, unless PIPETTE_REQUIRE_GPU=1. A plain
 * program: CUDA must not be initialised in a parent that forks.
 */
#include <config.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pipette/device.h>

#include "routes.h"
#include "runtime_impl.h"
#include "gpu_skip.h"
#include "train_models.h"

#define STEPS 3

static const char model_text[] =
    "%s"
    "[pipeline]\nschedule = %s\ndevices = %s\nstages_per_rank = %d\n"
    "microbatches = %d\nrecompute = %s\ntransport = %s\n"
    "[train]\nbatch = 24\nsteps = %d\noptimizer = sgd\nmomentum = 0.9\n"
    "lr = 0.1\nseed = 7\nprecision = %s\n%s";

static int failures;

/* model_text filled in with a model and loaded, `extra` lines ending
 * [train]; exits on a failure to. */
static pp_model *load_text(const char *text, const char *precision,
                           const char *schedule, const char *devices, int v,
                           int m, int recompute, const char *transport,
                           const char *extra)
{
    char path[] = "/tmp/pp-train-cuda-XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        perror("mkstemp");
        exit(1);
    }
    fprintf(f, model_text, text, schedule, devices, v, m,
            recompute ? "true" : "false", transport, STEPS, precision, extra);
    fclose(f);
    pp_error err;
    pp_error_clear(&err);
    pp_model *model;
    pp_status st = pp_model_load(path, &model, &err);
    unlink(path);
    if (st) {
        fprintf(stderr, "FAIL: %s\n", err.msg);
        exit(1);
    }
    return model;
}

/* [parallel]'s lines for the runs load() makes, or "". */
static const char *parallel = "";

/* One of train_models.h's models, in fp32. */
static pp_model *load(int which, const char *schedule, const char *devices,
                      int v, int m, int recompute, const char *transport)
{
    /* The GPT clips, so the GPU's halves of clipping are compared too. */
    char extra[256];
    snprintf(extra, sizeof extra, "%s%s%s%s",
             which == GPT ? "grad_clip = 0.05\n" : "",
             *parallel ? "[parallel]\n" : "", parallel,
             *parallel ? "\n" : "");
    return load_text(models[which], "fp32", schedule, devices, v, m,
                     recompute, transport, extra);
}

/* Every parameter of a trained model, in model order, into w (at most
 * cap floats); returns how many. */
static size_t copy_params(const pp_model *model, const pp_trainer *t,
                          float *w, size_t cap)
{
    size_t at = 0;
    for (int l = 0; l < model->nlayers; l++)
        for (int i = 0; i < 2; i++) {
            size_t n;
            const float *p = pp_trainer_param(t, l, i, &n);
            if (p && at + n <= cap) {
                memcpy(w + at, p, n * sizeof *w);
                at += n;
            }
        }
    return at;
}

/* max |a - b| / (atol + rtol |b|) over n values */
static double worst_of(const float *a, const float *b, size_t n, double atol,
                       double rtol)
{
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]) / (atol + rtol * fabs(b[i]));
        worst = d > worst ? d : worst;
    }
    return worst;
}

#if defined PP_CUDA_EMULATOR && defined HAVE_NCCL
/* The emulator's count of ncclAllReduce calls (tests/emu/nccl_emu.c). */
unsigned long pp_emu_nccl_sums(void);
#define NCCL_SUMS() pp_emu_nccl_sums()
#else
#define NCCL_SUMS() 0ul
#endif

/* How many of the replicas' sums a transport did itself (nccl's
 * all-reduce) in the last run of train(). */
static int own_sums;

/* The replicas' sums the transport did itself, and on the emulator the
 * all-reduces that took (each member: a 1-byte warm-up, then one a
 * bucket a step), against `calls`, what the emulator counted. */
static void count_own_sums(const pp_trainer *t, unsigned long calls,
                           const char *schedule, const char *devices)
{
    const pp_plan *plan = t->m->plan;
    unsigned long want = 0;
    own_sums = 0;
    for (int g = 0; g < plan->ngroups; g++) {
        if (t->sum_via[g] < 0)
            continue;
        own_sums++;
        size_t b = t->sum[g].bucket;
        want += (unsigned long)plan->group[g].n *
                (1 + STEPS * (unsigned long)((t->sum[g].n + b - 1) / b));
    }
#if defined PP_CUDA_EMULATOR && defined HAVE_NCCL
    if (calls != want) {
        fprintf(stderr, "FAIL: %s on %s: %lu all-reduces, expected %lu\n",
                schedule, devices, calls, want);
        failures++;
    }
#else
    (void)calls, (void)schedule, (void)devices;
#endif
}

/* Trains and copies every parameter out, in model order, into w; the
 * plan's transport line into route. */
static size_t train(int which, const char *schedule, const char *devices,
                    int v, int m, int recompute, const char *transport,
                    float *w, size_t cap, char *route, size_t size)
{
    pp_model *model = load(which, schedule, devices, v, m, recompute,
                           transport);
    memset(route, 0, size);
    FILE *f = fmemopen(route, size - 1, "w");
    pp_routes_print(model, f);
    fclose(f);
    pp_error err;
    pp_error_clear(&err);
    pp_trainer *t = NULL;
    pp_train_opts o = {.recv_timeout_ms = 60000, .quiet = 1, .out = stdout};
    unsigned long calls = NCCL_SUMS();
    pp_status st = pp_trainer_create(model, &o, &t, &err);
    if (!st)
        st = pp_trainer_run(t, &err);
    if (st) {
        fprintf(stderr, "FAIL: %s on %s (transport %s): %s\n", schedule,
                devices, transport, err.msg);
        exit(1);
    }
    count_own_sums(t, NCCL_SUMS() - calls, schedule, devices);
    /* Every replica, on whichever device, takes the same update: equal
     * bits (its host copy is fetched into a buffer of its own). */
    for (int s = model->stages; s < t->S; s++) {
        const float *a = pp_stage_host_params(t, s);
        const float *b = pp_stage_host_params(t, t->stage[s].ms);
        if (!a || !b || memcmp(a, b, t->stage[s].nparams * sizeof *a)) {
            fprintf(stderr, "FAIL: %s on %s: replica %d's stage %d differs "
                            "from replica 0's\n", schedule, devices,
                    t->stage[s].replica, t->stage[s].ms);
            failures++;
        }
    }
    /* The tied table's copies, on whichever devices, take one update:
     * equal bits. */
    if (which == TIED || which == GPT) {
        size_t a, b;
        const float *e = pp_trainer_param(t, which == GPT ? GPT_EMBED
                                                          : TIED_EMBED, 0, &a);
        float *copy = malloc(a * sizeof *copy);
        memcpy(copy, e, a * sizeof *copy);
        const float *h = pp_trainer_param(t, which == GPT ? GPT_HEAD
                                                          : TIED_HEAD, 0, &b);
        if (a != b || memcmp(copy, h, a * sizeof *copy) != 0) {
            fprintf(stderr, "FAIL: %s on %s: the tied table's copies "
                            "differ\n", schedule, devices);
            failures++;
        }
        free(copy);
    }
    size_t at = copy_params(model, t, w, cap);
    pp_trainer_free(t);
    pp_model_free(model);
    return at;
}

/* The bf16 models: every layer kind, in one body that ends in either
 * loss. The ids' rows pass a norm, a linear layer and three activations,
 * a residual back to the rows, dropout, a concat with the norm's output
 * and a linear layer without bias that make 16 features: the sequence
 * task's classes, or the 16 values of id_rows' target row for each id
 * (tests/plugins/id_rows.c). */
#define BF16_BODY                                                           \
    "[model]\ninput = 8\ninput_type = int\n"                                \
    "[layer embed]\ntype = embedding\nvocab = 16\ndim = 8\n"                \
    "[layer norm]\ntype = layernorm\n"                                      \
    "[layer fc]\ntype = linear\nunits = 8\n"                                \
    "[layer act1]\ntype = gelu\n"                                           \
    "[layer act2]\ntype = relu\n"                                           \
    "[layer act3]\ntype = tanh\n"                                           \
    "[layer res]\ntype = add\ninputs = act3, embed\n"                       \
    "[layer drop]\ntype = dropout\nrate = 0.2\n"                            \
    "[layer cat]\ntype = concat\ninputs = drop, norm\n"                     \
    "[layer head]\ntype = linear\nunits = 16\nbias = false\n"

/* Not the GPT: attention's GPU half sums its scores in another order than
 * the CPU's (an online softmax over tiles, a two-pass one), so its bf16
 * outputs land on the neighbouring value often, not now and then, and D/4
 * below would not hold; its bf16 halves are checked layer by layer
 * (test_layers_cuda), the GPT's training on GPU ranks in FP32 above. */
static const char *const bf16_models[] = {
    BF16_BODY "[layer loss]\ntype = softmax_xent\n"
    "[data]\nsource = synthetic\ntask = sequence\nvocab = 16\nlength = 8\n",
    BF16_BODY "[layer loss]\ntype = mse\n"
    "[data]\nsource = id_rows\nvocab = 16\nlength = 8\nwidth = 16\n",
};
#define NBF16 (int)(sizeof bf16_models / sizeof *bf16_models)
static const char *const bf16_names[NBF16] = {"softmax_xent", "mse"};

/* Trains bf16_models[k] in a precision and copies its parameters into
 * w; exits on a failure. */
static size_t train_bf16(int k, const char *precision, const char *schedule,
                         const char *devices, int m, float *w, size_t cap)
{
    pp_model *model = load_text(bf16_models[k], precision, schedule,
                                devices, 1, m, 0, "auto", "");
    pp_error err;
    pp_error_clear(&err);
    pp_trainer *t = NULL;
    pp_train_opts o = {.recv_timeout_ms = 60000, .quiet = 1, .out = stdout};
    pp_status st = pp_trainer_create(model, &o, &t, &err);
    if (!st)
        st = pp_trainer_run(t, &err);
    if (st) {
        fprintf(stderr, "FAIL: %s model %d on %s: %s\n", precision, k,
                devices, err.msg);
        exit(1);
    }
    size_t at = copy_params(model, t, w, cap);
    pp_trainer_free(t);
    pp_model_free(model);
    return at;
}

/* In bf16 the GPU ranks train the model as a cpu rank does: on cuda:0
 * alone, beside a cpu rank (either way round) under 1F1B, and on two GPUs
 * where there are two (of `gpus`).
 *
 * Tolerance: the fp32 runs' (1e-4 + 1e-4 |b|), and a quarter of the
 * distance D = max |fp32 - bf16| between the same model trained on the
 * cpu in fp32 and in bf16. Both halves of every layer read the same bf16
 * values, compute in FP32 and round once, so they part only where tanhf
 * or a sum's order differ and a rounding into bf16 lands on the
 * neighbouring value: now and then, where D comes from every activation's
 * rounding. A kernel that rounded otherwise (truncating, twice, not at
 * all) or computed otherwise would be D's size away; within D/4 of the
 * cpu's bf16 run, a run is also at least 3D/4 from fp32's answer. (On the
 * emulator, tanhf and expf made 2^-14 wrong on every element, far more
 * than a GPU's few ulp, move the runs by 0.1 D.) */
static void bf16_runs(int gpus)
{
    enum { CAP = 1 << 12 };
    static float ref[CAP], fp32[CAP], got[CAP];
    static const struct {
        const char *schedule, *devices;
        int m, gpus;
    } runs[] = {
        {"vanilla", "cuda:0", 1, 1},
        {"1f1b", "cpu,cuda:0", 4, 1},
        {"1f1b", "cuda:0,cpu", 4, 1},
        {"1f1b", "cuda:0,cuda:1", 4, 2},
    };
    setenv("PIPETTE_PLUGIN_PATH", TEST_DATA_DIR, 1); /* id_rows */
    for (int k = 0; k < NBF16; k++) {
        size_t n = train_bf16(k, "bf16", "vanilla", "cpu", 1, ref, CAP);
        size_t n32 = train_bf16(k, "fp32", "vanilla", "cpu", 1, fp32, CAP);
        double d = n32 == n ? worst_of(fp32, ref, n, 1, 0) : 0;
        for (size_t r = 0; r < sizeof runs / sizeof *runs; r++) {
            if (runs[r].gpus > gpus)
                continue;
            size_t m = train_bf16(k, "bf16", runs[r].schedule,
                                  runs[r].devices, runs[r].m, got, CAP);
            double far = m == n ? worst_of(got, ref, n, 1, 0) : HUGE_VAL;
            double worst = m == n ? worst_of(got, ref, n, 1e-4, 1e-4) : 0;
            int ok = far <= d / 4 && worst <= 1.0;
            failures += !ok;
            printf("%s: bf16 %s model, %s on %s (m=%d): max |gpu - cpu| "
                   "%.3g, D/4 %.3g, worst %.3f of the fp32 tolerance\n",
                   ok ? "PASS" : "FAIL", bf16_names[k],
                   runs[r].schedule, runs[r].devices, runs[r].m, far, d / 4,
                   worst);
        }
    }
    unsetenv("PIPETTE_PLUGIN_PATH");
}

/* A plan over the GPU's memory (here: over PIPETTE_MEMORY_LIMIT) is
 * refused before anything is allocated, naming the GPU and its parts. */
static int refuses_what_does_not_fit(void)
{
    pp_model *model = load(CHAIN, "1f1b", "cuda:0*2", 1, 4, 0, "auto");
    pp_error err;
    pp_error_clear(&err);
    pp_trainer *t = NULL;
    pp_train_opts o = {.recv_timeout_ms = 60000, .quiet = 1, .out = stdout};
    setenv("PIPETTE_MEMORY_LIMIT", "1000", 1);
    pp_status st = pp_trainer_create(model, &o, &t, &err);
    unsetenv("PIPETTE_MEMORY_LIMIT");
    int ok = st == PP_ERR_NOMEM && !t &&
             strstr(err.msg, "of cuda:0 memory but 1000 bytes is available") &&
             strstr(err.msg, "transfer buffers");
    printf("%s: memory refusal on cuda:0: %s\n", ok ? "PASS" : "FAIL",
           st ? err.msg : "accepted");
    pp_trainer_free(t);
    pp_model_free(model);
    return ok;
}

/* A run of `text` (a whole model file): its status, error and every
 * parameter in w (at most CAP floats, *n of them), failed or not. */
static pp_status run_text(const char *text, pp_error *err, float *w,
                          size_t cap, size_t *n, int64_t *skipped)
{
    char path[] = "/tmp/pp-nonfinite-cuda-XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        perror("mkstemp");
        exit(1);
    }
    fputs(text, f);
    fclose(f);
    pp_error_clear(err);
    pp_model *model;
    pp_status st = pp_model_load(path, &model, err);
    unlink(path);
    if (st) {
        fprintf(stderr, "FAIL: %s\n", err->msg);
        exit(1);
    }
    pp_trainer *t = NULL;
    pp_train_opts o = {.recv_timeout_ms = 60000, .quiet = 1, .out = stdout};
    st = pp_trainer_create(model, &o, &t, err);
    if (st) {
        fprintf(stderr, "FAIL: %s\n", err->msg);
        exit(1);
    }
    st = pp_trainer_run(t, err);
    *n = copy_params(model, t, w, cap);
    *skipped = pp_trainer_steps_skipped(t);
    pp_trainer_free(t);
    pp_model_free(model);
    return st;
}

/* A step that is not finite on GPU ranks, as test_train.c checks it on
 * cpu ones: with an lr of 1e30 the run stops at step 2 before any update
 * (the parameters are step 1's, bit for bit), naming the layer, in fp32
 * and bf16 (its outputs checked as bf16); with on_nonfinite = skip and a
 * spike in step 2's data, the step changes nothing and the run goes on
 * to a run's without it. */
static int nonfinite_on_gpu(void)
{
    static const char stop[] =
        "[model]\ninput = 6\n"
        "[layer hidden]\ntype = linear\nunits = 16\n"
        "[layer act]\ntype = relu\n"
        "[layer out]\ntype = linear\nunits = 3\n"
        "[layer loss]\ntype = softmax_xent\n" MIXTURE_DATA
        "[pipeline]\ndevices = cuda:0*2\nmicrobatches = 4\n"
        "[train]\nbatch = 24\noptimizer = sgd\nlr = 1e30\nseed = 7\n"
        "precision = %s\nsteps = %d\n";
    static const char skip[] =
        "[model]\ninput = 4\nplugin_path = " TEST_DATA_DIR "\n"
        "[layer hidden]\ntype = linear\nunits = 8\n"
        "[layer act]\ntype = tanh\n"
        "[layer out]\ntype = linear\nunits = 3\n"
        "[layer loss]\ntype = softmax_xent\n"
        "[data]\nsource = spiky\nrepeat = 24\nbad = 30\nbad_count = %d\n"
        "[pipeline]\ndevices = cuda:0*2\nmicrobatches = 4\n"
        "[train]\nbatch = 24\noptimizer = adamw\nlr = 0.05\n"
        "on_nonfinite = skip\nsteps = %d\n";
    enum { CAP = 4096 };
    static float w[4][CAP];
    size_t n[4];
    int64_t skipped[4];
    char text[2048];
    pp_error err;
    int ok = 1;
    static const char *const precisions[] = {"fp32", "bf16"};
    for (int k = 0; k < 2; k++) {
        snprintf(text, sizeof text, stop, precisions[k], 1);
        pp_status st = run_text(text, &err, w[0], CAP, &n[0], &skipped[0]);
        snprintf(text, sizeof text, stop, precisions[k], 5);
        pp_status st2 = run_text(text, &err, w[1], CAP, &n[1], &skipped[1]);
        int good = !st && st2 == PP_ERR_RUNTIME &&
                   strstr(err.msg, "rank 1, step 2, F0.1: the loss is nan: "
                          "training diverged at layer out, the first whose "
                          "output is not finite") &&
                   n[0] == n[1] && !memcmp(w[0], w[1], n[0] * sizeof **w);
        printf("%s: %s: an lr of 1e30 stops at step 2, before its update: "
               "%s\n", good ? "PASS" : "FAIL", precisions[k], err.msg);
        ok &= good;
    }
    static const struct {
        int bad, steps;
    } runs[] = {{1, 2}, {0, 1}, {1, 4}, {0, 3}};
    setenv("PIPETTE_ALLOW_MODEL_PLUGINS", "1", 1); /* spiky's plugin_path */
    for (int k = 0; k < 4; k++) {
        snprintf(text, sizeof text, skip, runs[k].bad, runs[k].steps);
        if (run_text(text, &err, w[k], CAP, &n[k], &skipped[k]) ||
            skipped[k] != runs[k].bad) {
            printf("FAIL: on_nonfinite = skip, %d steps: %s, %lld skipped\n",
                   runs[k].steps, err.msg, (long long)skipped[k]);
            unsetenv("PIPETTE_ALLOW_MODEL_PLUGINS");
            return 0;
        }
    }
    unsetenv("PIPETTE_ALLOW_MODEL_PLUGINS");
    int same = n[0] == n[1] && !memcmp(w[0], w[1], n[0] * sizeof **w);
    double worst = n[2] == n[3] ? worst_of(w[2], w[3], n[2], 1e-6, 1e-6)
                                : INFINITY;
    printf("%s: on_nonfinite = skip: the skipped step moved %s; after it, "
           "worst %.3f of 1e-6 from a run without it\n",
           same && worst <= 1.0 ? "PASS" : "FAIL",
           same ? "nothing" : "parameters", worst);
    return ok && same && worst <= 1.0;
}

#if defined PP_CUDA_EMULATOR && defined HAVE_NCCL
/* A run whose NCCL link or sum stalls (the emulator loses every message
 * and sum, or loses them and reports an asynchronous error:
 * tests/emu/nccl_emu.c) fails within its message timeout and says where,
 * instead of waiting for ever on the device. A GPU cannot be made to do
 * this on demand. Sums: devices = cuda with data = 2, whose ranks only
 * sum. */
static int fails_when_nccl_stalls(const char *devices, const char *fault,
                                  pp_status code, const char *says)
{
    parallel = strcmp(devices, "cuda") == 0 ? "data = 2" : "";
    pp_model *model = load(CHAIN, "1f1b", devices, 1, 4, 0, "nccl");
    parallel = "";
    pp_error err;
    pp_error_clear(&err);
    pp_trainer *t = NULL;
    pp_train_opts o = {.recv_timeout_ms = 500, .quiet = 1, .out = stdout};
    setenv(fault, "2", 1);
    pp_status st = pp_trainer_create(model, &o, &t, &err);
    if (!st)
        st = pp_trainer_run(t, &err);
    unsetenv(fault);
    int ok = st == code && strstr(err.msg, says);
    printf("%s: %s on %s: %s\n", ok ? "PASS" : "FAIL", fault, devices,
           st ? err.msg : "trained");
    pp_trainer_free(t);
    pp_model_free(model);
    return ok;
}
#endif

/* NULL when a GPU answers (*n of them), else why not (the driver's
 * reason, or why the cuda plugin could not be asked, in err). */
static const char *no_gpu(int *gpus, char *why, size_t size, pp_error *err)
{
    pp_registry *reg;
    const pp_plugin *cuda;
    int n = 0;
    why[0] = '\0';
    pp_error_clear(err);
    if (pp_registry_create(NULL, &reg, err) == PP_OK) {
        if (pp_registry_find(reg, PP_KIND_DEVICE, "cuda", &cuda, err) ==
            PP_OK)
            ((const pp_device_ops *)cuda->ops)->count(&n, why, size,
                                                            err);
        pp_registry_free(reg);
    }
    *gpus = n;
    return n > 0 ? NULL : why[0] ? why : err->msg;
}

int main(void)
{
    char why[512];
    pp_error err;
    int gpus;
    const char *missing = no_gpu(&gpus, why, sizeof why, &err);
    if (missing)
        return pp_test_no_gpu("test_train_cuda", missing);
    pp_test_watchdog();
    enum { CAP = 1 << 16 };
    static float ref[NMODELS][CAP], got[CAP];
    size_t n[NMODELS];
    char route[256];
    for (int k = 0; k < NMODELS; k++)
        n[k] = train(k, "vanilla", "cpu", 1, 1, 0, "auto", ref[k], CAP,
                     route, sizeof route);
#ifdef HAVE_NCCL
#define HAVE_ALLREDUCE 1
#define BETWEEN_GPUS "nccl"
#define BETWEEN_GPUS_V "; nccl" /* zb-v: 0->1 is out of send order */
#else
#define HAVE_ALLREDUCE 0
#define BETWEEN_GPUS "peer"
#define BETWEEN_GPUS_V ""
#endif
    /* The last runs need two GPUs: ranks on different GPUs talk through
     * nccl where it is built and the order allows (auto), else peer; in
     * the last two, ranks sharing a GPU also talk to the other GPU, so
     * one GPU's ranks mix peer copies with nccl or sit in communicators
     * of their own. `route`, where given, is the transport line auto's
     * choices must make. */
    static const struct {
        const char *schedule, *devices;
        int v, m, recompute;
        const char *transport;
        int gpus, model;
        const char *route;
    } runs[] = {
        {"vanilla", "cuda:0", 1, 1, 0, "auto", 1, CHAIN, ""},
        {"1f1b", "cuda:0*2", 1, 4, 0, "auto", 1, CHAIN,
         "  transport: peer 0->1 1->0\n"},
        {"gpipe", "cuda:0*4", 1, 8, 1, "auto", 1, CHAIN, NULL},
        {"interleaved", "cuda:0*2", 2, 4, 0, "auto", 1, CHAIN, NULL},
        {"zb-h1", "cuda:0*4", 1, 4, 1, "peer", 1, CHAIN, NULL},
        {"zb-v", "cuda:0*2", 2, 4, 0, "auto", 1, CHAIN,
         "  transport: peer 0->1 1->0\n"},
        {"1f1b", "cuda:0*3", 1, 6, 0, "local", 1, CHAIN, NULL},
        {"1f1b", "cpu,cuda:0", 1, 4, 0, "auto", 1, CHAIN,
         "  transport: local 0->1 1->0\n"},
        {"1f1b", "cuda:0*2", 1, 4, 0, "auto", 1, RESIDUAL, NULL},
        {"interleaved", "cuda:0*2", 2, 4, 1, "peer", 1, RESIDUAL, NULL},
        {"zb-v", "cuda:0*3", 2, 6, 0, "auto", 1, RESIDUAL, NULL},
        {"1f1b", "cpu,cuda:0", 1, 4, 1, "auto", 1, RESIDUAL, NULL},
        {"1f1b", "cuda:0*3", 1, 6, 0, "auto", 1, TIED, NULL},
        {"gpipe", "cpu,cuda:0", 1, 4, 0, "auto", 1, TIED, NULL},
        {"1f1b", "cuda:0*3", 1, 6, 1, "auto", 1, GPT, NULL},
        {"zb-v", "cuda:0*2", 2, 4, 0, "auto", 1, GPT, NULL},
        {"interleaved", "cpu,cuda:0", 2, 4, 0, "auto", 1, GPT, NULL},
        {"1f1b", "cuda:0,cuda:1", 1, 4, 0, "auto", 2, CHAIN,
         "  transport: " BETWEEN_GPUS " 0->1 1->0\n"},
        {"interleaved", "cuda:0,cuda:1", 2, 4, 1, "peer", 2, CHAIN, NULL},
        {"zb-v", "cuda:0,cuda:1", 2, 4, 0, "auto", 2, CHAIN,
         "  transport: peer 0->1" BETWEEN_GPUS_V " 1->0\n"},
        {"interleaved", "cuda:0,cuda:0,cuda:1", 2, 6, 0, "auto", 2, CHAIN,
         NULL},
        {"1f1b", "cuda:0,cuda:1,cuda:0", 1, 6, 1, "auto", 2, CHAIN, NULL},
        {"1f1b", "cuda:0,cuda:1", 1, 4, 0, "nccl", 2, RESIDUAL, NULL},
        {"interleaved", "cuda:0,cuda:1", 2, 4, 1, "peer", 2, RESIDUAL, NULL},
        {"1f1b", "cuda:0,cuda:1", 1, 4, 0, "nccl", 2, TIED, NULL},
        {"1f1b", "cuda:0,cuda:1", 1, 4, 0, "auto", 2, GPT, NULL},
    };
    for (size_t k = 0; k < sizeof runs / sizeof *runs; k++) {
        if (runs[k].gpus > gpus) {
            printf("SKIP: %s on %s: needs %d GPUs\n", runs[k].schedule,
                   runs[k].devices, runs[k].gpus);
            continue;
        }
        int which = runs[k].model;
        size_t m = train(which, runs[k].schedule, runs[k].devices,
                         runs[k].v, runs[k].m, runs[k].recompute,
                         runs[k].transport, got, CAP, route, sizeof route);
        if (runs[k].route && strcmp(route, runs[k].route) != 0) {
            printf("FAIL: %s on %s: %snot %s", runs[k].schedule,
                   runs[k].devices, route, runs[k].route);
            failures++;
        }
        double worst = m == n[which]
                           ? worst_of(got, ref[which], m, 1e-4, 1e-4)
                           : INFINITY;
        int ok = worst <= 1.0;
        failures += !ok;
        printf("%s: %s%s on %s (v=%d, m=%d, recompute=%d, transport %s): "
               "worst %.3f of the tolerance\n", ok ? "PASS" : "FAIL",
               which == RESIDUAL ? "residual model, "
               : which == TIED   ? "tied model, "
               : which == GPT    ? "GPT, " : "",
               runs[k].schedule, runs[k].devices, runs[k].v, runs[k].m,
               runs[k].recompute, runs[k].transport, worst);
    }
    /* Data parallelism: the replicas' sums of each stage's gradients go
     * through the same transports (peer on one GPU, local to a cpu rank),
     * in buckets or whole, or, where nccl carries every pair of the
     * replicas (two GPUs), through its all-reduce: `own` of the stages'
     * sums (no bitwise match with the cpu's order then, only the
     * tolerance; the replicas still end equal bit for bit). An unindexed
     * cuda takes the next GPU. */
    static const struct {
        const char *schedule, *devices;
        int v, m, gpus, model;
        const char *parallel;
        int own;
    } replicated[] = {
        {"1f1b", "cuda:0", 1, 4, 1, CHAIN, "data = 2", 0},
        {"interleaved", "cuda:0*2", 2, 4, 1, TIED,
         "data = 2\nbucket_mb = 0.0005", 0},
        {"1f1b", "cpu,cuda:0", 1, 2, 1, RESIDUAL, "data = 3", 0},
        {"zb-v", "cuda:0*2", 2, 4, 1, GPT, "data = 2", 0},
        {"1f1b", "cuda", 1, 4, 2, CHAIN, "data = 2", HAVE_ALLREDUCE},
        {"1f1b", "cuda", 1, 4, 2, GPT, "data = 2\nbucket_mb = 0.001",
         HAVE_ALLREDUCE},
        {"interleaved", "cuda", 2, 4, 2, RESIDUAL,
         "data = 2\nbucket_mb = 0.0005", 2 * HAVE_ALLREDUCE},
        {"1f1b", "cpu,cuda", 1, 4, 2, CHAIN, "data = 2", HAVE_ALLREDUCE},
        {"zb-v", "cuda", 2, 4, 2, TIED, "data = 2", 2 * HAVE_ALLREDUCE},
    };
    for (size_t k = 0; k < sizeof replicated / sizeof *replicated; k++) {
        if (replicated[k].gpus > gpus) {
            printf("SKIP: %s on %s, %s: needs %d GPUs\n",
                   replicated[k].schedule, replicated[k].devices,
                   replicated[k].parallel, replicated[k].gpus);
            continue;
        }
        int which = replicated[k].model;
        parallel = replicated[k].parallel;
        size_t m = train(which, replicated[k].schedule,
                         replicated[k].devices, replicated[k].v,
                         replicated[k].m, 0, "auto", got, CAP, route,
                         sizeof route);
        parallel = "";
        double worst = m == n[which]
                           ? worst_of(got, ref[which], m, 1e-4, 1e-4)
                           : INFINITY;
        int ok = worst <= 1.0 && own_sums == replicated[k].own;
        failures += !ok;
        printf("%s: model %d, %s on %s, [parallel] %s: worst %.3f of the "
               "tolerance, %d stages' sums by the transport (expected %d); "
               "%s", ok ? "PASS" : "FAIL", which, replicated[k].schedule,
               replicated[k].devices, replicated[k].parallel, worst,
               own_sums, replicated[k].own, route);
    }
    bf16_runs(gpus);
    failures += !refuses_what_does_not_fit();
    failures += !nonfinite_on_gpu();
#if defined PP_CUDA_EMULATOR && defined HAVE_NCCL
    if (gpus >= 2) {
        failures += !fails_when_nccl_stalls("cuda:0,cuda:1",
                                            "PIPETTE_EMU_NCCL_STALL",
                                            PP_ERR_RUNTIME,
                                            "NCCL delivered nothing");
        failures += !fails_when_nccl_stalls("cuda:0,cuda:1",
                                            "PIPETTE_EMU_NCCL_FAIL",
                                            PP_ERR_DEVICE,
                                            "failed on cuda:");
        failures += !fails_when_nccl_stalls("cuda", "PIPETTE_EMU_NCCL_STALL",
                                            PP_ERR_RUNTIME,
                                            "sum with ranks 0, 1 did not "
                                            "end within 500 ms");
        failures += !fails_when_nccl_stalls("cuda", "PIPETTE_EMU_NCCL_FAIL",
                                            PP_ERR_DEVICE,
                                            "nccl: the sum of ranks 0, 1 "
                                            "failed on cuda:");
    }
#endif
    return failures ? 1 : 0;
}
