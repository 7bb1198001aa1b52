/* bench/linear_gelu_cpu.c - linear's `activation = gelu` against the
 * chain it replaces, linear then gelu, on the CPU: one micro-batch of
 * ROWS rows of IN features to OUT units, forward then both backwards,
 * on the calling thread (the layers tell the BLAS to use one).
 *
 *   bench/linear_gelu_cpu [ROWS IN OUT [ITERS [SEQ]]]
 *
 * (default 256 768 3072 20 1). A sample is SEQ rows (a sequence), so the
 * micro-batch has ROWS / SEQ samples: the forward multiplies sample by
 * sample (matmul.h), one row at a time where SEQ is 1.
 *
 * PIPETTE_PRECISION picks the precision: fp32 (the default), tf32 or
 * bf16. Both sides are planned from model files, like a user's, and run
 * as the runtime runs them: the chain's gelu input gradient is zeroed
 * before its gelu adds to it (the core does that memset, so it is timed);
 * the fused side runs backward_input then backward_weight. Each pass is
 * timed alone; the median of ITERS passes (after one to warm up) is
 * printed, in ms, per part and in all, with fused / chain. Not a test:
 * test_linear_gelu.c checks the two compute the same bits.
 */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <pipette/pipette.h>

#include "model.h"

static void *must_alloc(size_t bytes)
{
    void *p = calloc(1, bytes ? bytes : 1);
    if (!p) {
        fprintf(stderr, "linear_gelu_cpu: out of memory\n");
        exit(1);
    }
    return p;
}

static void must(pp_status st, const pp_error *err, const char *what)
{
    if (st) {
        fprintf(stderr, "linear_gelu_cpu: %s: %s\n", what, err->msg);
        exit(1);
    }
}

/* n values in [-1, 1] of dtype */
static void *random_values(int64_t n, pp_dtype dtype, unsigned *seed)
{
    float *f = must_alloc((size_t)n * sizeof *f);
    for (int64_t i = 0; i < n; i++)
        f[i] = 2.0f * (float)rand_r(seed) / (float)RAND_MAX - 1.0f;
    void *v = must_alloc((size_t)n * pp_dtype_size(dtype));
    pp_row_store(v, dtype, f, n);
    free(f);
    return v;
}

/* One planned layer with its buffers, as a rank holds them. */
typedef struct lay {
    const pp_model_layer *l;
    const pp_layer_kernels *k;
    float *param[2], *grad[2];
    void *param16[2];
    pp_layer_call c;
} lay;

static void lay_open(lay *s, const pp_model_layer *l, int n,
                     unsigned *seed)
{
    memset(s, 0, sizeof *s);
    s->l = l;
    s->k = ((const pp_layer_ops *)l->plugin->ops)->cpu;
    int bf16 = l->plan.precision == PP_PRECISION_BF16;
    for (int p = 0; p < l->plan.nparams; p++) {
        int64_t count = pp_shape_elements(&l->plan.params[p].shape);
        s->param[p] = random_values(count, PP_F32, seed);
        s->grad[p] = must_alloc((size_t)count * sizeof(float));
        s->param16[p] = must_alloc((size_t)count * 2);
        pp_row_store(s->param16[p], PP_BF16, s->param[p], count);
    }
    s->c = (pp_layer_call){
        .plan = &l->plan, .nin = 1, .in = l->in, .n = n,
        .param = (const float *const *)s->param, .grad = s->grad,
        .saved = must_alloc(l->plan.saved_bytes * (size_t)n),
        .workspace = must_alloc(l->plan.workspace_bytes * (size_t)n),
        .training = 1, .precision = l->plan.precision,
        .param_bf16 = bf16 ? (const void *const *)s->param16 : NULL};
    pp_error err;
    pp_error_clear(&err);
    void *state = NULL;
    if (s->k->init)
        must(s->k->init(&s->c, &state, &err), &err, "init");
    s->c.state = state;
}

static void lay_close(lay *s)
{
    if (s->k->destroy)
        s->k->destroy(s->c.state);
    for (int p = 0; p < 2; p++)
        free(s->param[p]), free(s->grad[p]), free(s->param16[p]);
    free(s->c.saved);
    free(s->c.workspace);
}

/* A model of `layers` on IN inputs in the precision; exits where it does
 * not load. */
static pp_model *model_of(const char *layers, int seq, int in,
                          const char *prec)
{
    char path[] = "/tmp/pp-linear-gelu-bench-XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        perror("mkstemp");
        exit(1);
    }
    char shape[64];
    if (seq > 1)
        snprintf(shape, sizeof shape, "%dx%d", seq, in);
    else
        snprintf(shape, sizeof shape, "%d", in);
    fprintf(f, "[model]\ninput = %s\n%s[layer loss]\ntype = mse\n"
               "[train]\nbatch = 1\nprecision = %s\n", shape, layers,
            prec);
    fclose(f);
    pp_model *m;
    pp_error err;
    pp_error_clear(&err);
    pp_status st = pp_model_load(path, &m, &err);
    unlink(path);
    must(st, &err, "model");
    return m;
}

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, by_value);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

enum { FWD, BWD, NPART };

int main(int argc, char **argv)
{
    int rows = 256, in = 768, out = 3072, iters = 20, seq = 1;
    if (argc >= 4) {
        rows = atoi(argv[1]), in = atoi(argv[2]), out = atoi(argv[3]);
        if (argc >= 5)
            iters = atoi(argv[4]);
        if (argc >= 6)
            seq = atoi(argv[5]);
    }
    const char *prec = getenv("PIPETTE_PRECISION");
    if (!prec)
        prec = "fp32";
    if (rows < 1 || in < 1 || out < 1 || iters < 1 || seq < 1 ||
        rows % seq || argc == 2 || argc == 3 || argc > 6) {
        fprintf(stderr, "usage: [PIPETTE_PRECISION=fp32|tf32|bf16] %s "
                        "[ROWS IN OUT [ITERS [SEQ]]] (SEQ divides ROWS)\n",
                argv[0]);
        return 2;
    }
    char fused_keys[128], chain_keys[128];
    snprintf(fused_keys, sizeof fused_keys,
             "[layer fc]\ntype = linear\nunits = %d\nactivation = gelu\n",
             out);
    snprintf(chain_keys, sizeof chain_keys,
             "[layer fc]\ntype = linear\nunits = %d\n"
             "[layer act]\ntype = gelu\n", out);
    pp_model *mf = model_of(fused_keys, seq, in, prec);
    pp_model *mc = model_of(chain_keys, seq, in, prec);
    int n = rows / seq;
    pp_dtype dt = pp_precision_dtype(mf->layers[0].plan.precision);
    size_t es = pp_dtype_size(dt);
    int64_t nx = (int64_t)rows * in, ny = (int64_t)rows * out;
    unsigned seed = 1;
    lay fus, lin, gel;
    lay_open(&fus, &mf->layers[0], n, &seed);
    seed = 1; /* the same parameters */
    lay_open(&lin, &mc->layers[0], n, &seed);
    lay_open(&gel, &mc->layers[1], n, &seed);
    void *x = random_values(nx, dt, &seed), *dy = random_values(ny, dt,
                                                                 &seed);
    void *dx = must_alloc((size_t)nx * es), *y = must_alloc((size_t)ny * es);
    void *pre = must_alloc((size_t)ny * es);
    void *dpre = must_alloc((size_t)ny * es);
    const void *xs[1] = {x}, *pres[1] = {pre};
    void *dxs[1] = {dx}, *dpres[1] = {dpre};
    pp_error err;
    pp_error_clear(&err);

    double *t[2][NPART];
    for (int s = 0; s < 2; s++)
        for (int p = 0; p < NPART; p++)
            t[s][p] = must_alloc((size_t)iters * sizeof(double));
    for (int it = -1; it < iters; it++) {
        /* fused */
        double t0 = now_ms();
        must(fus.k->forward(&fus.c, xs, y, &err), &err, "fused forward");
        double t1 = now_ms();
        must(fus.k->backward_input(&fus.c, xs, y, dy, dxs, &err), &err,
             "fused backward_input");
        must(fus.k->backward_weight(&fus.c, xs, y, dy, &err), &err,
             "fused backward_weight");
        double t2 = now_ms();
        /* chain */
        must(lin.k->forward(&lin.c, xs, pre, &err), &err, "linear forward");
        must(gel.k->forward(&gel.c, pres, y, &err), &err, "gelu forward");
        double t3 = now_ms();
        memset(dpre, 0, (size_t)ny * es);
        must(gel.k->backward_input(&gel.c, pres, y, dy, dpres, &err), &err,
             "gelu backward_input");
        must(lin.k->backward_input(&lin.c, xs, pre, dpre, dxs, &err), &err,
             "linear backward_input");
        must(lin.k->backward_weight(&lin.c, xs, pre, dpre, &err), &err,
             "linear backward_weight");
        double t4 = now_ms();
        if (it < 0)
            continue;
        t[0][FWD][it] = t1 - t0, t[0][BWD][it] = t2 - t1;
        t[1][FWD][it] = t3 - t2, t[1][BWD][it] = t4 - t3;
    }
    double tot[2];
    double med[2][NPART];
    for (int s = 0; s < 2; s++) {
        double *sum = must_alloc((size_t)iters * sizeof *sum);
        for (int it = 0; it < iters; it++)
            sum[it] = t[s][FWD][it] + t[s][BWD][it];
        tot[s] = median(sum, iters);
        free(sum);
        for (int p = 0; p < NPART; p++)
            med[s][p] = median(t[s][p], iters);
    }
    printf("linear %d rows (%d samples) x %d -> %d, gelu, %s, 1 thread, "
           "median of %d (ms):\n", rows, n, in, out, prec, iters);
    printf("%-7s %9s %9s %9s\n", "", "forward", "backward", "total");
    printf("%-7s %9.2f %9.2f %9.2f\n", "fused", med[0][FWD], med[0][BWD],
           tot[0]);
    printf("%-7s %9.2f %9.2f %9.2f\n", "chain", med[1][FWD], med[1][BWD],
           tot[1]);
    printf("fused / chain: forward %.3f, backward %.3f, total %.3f\n",
           med[0][FWD] / med[1][FWD], med[0][BWD] / med[1][BWD],
           tot[0] / tot[1]);

    for (int s = 0; s < 2; s++)
        for (int p = 0; p < NPART; p++)
            free(t[s][p]);
    free(x), free(dy), free(dx), free(y), free(pre), free(dpre);
    lay_close(&fus);
    lay_close(&lin);
    lay_close(&gel);
    pp_model_free(mf);
    pp_model_free(mc);
    return 0;
}
