/* src/gradcheck.c - checks of one layer's kernels (gradcheck.h).
 *
 * The layer is called on its own, on a micro-batch of random numbers:
 * inputs, parameters, dy and targets uniform in [-1, 1), ids and classes
 * uniform below their bounds, gradient buffers starting from random
 * values too, so a kernel that writes (=) where it must add (+=) fails.
 *
 * CPU forward: the micro-batch's outputs must be those of its samples
 * one at a time (bit for bit; a loss within 1e-6), since the core cuts
 * batches into micro-batches as the schedule wants. CPU backward: for up
 * to MAX_CHECKED elements of each input and parameter (the largest
 * gradients, then random ones), the central difference
 * (L(v + h) - L(v - h)) / 2h against the analytic gradient, with the
 * bound 1e-2 |both| + 1e-3 (the tensor's largest) + the rounding of L
 * over h; h = 1e-2 max(|v|, 0.1), then 10 and 100 times smaller where a
 * kink (relu's 0) lies within h. GPU: every element of y, dx and the
 * parameter gradients within 1e-4 (|cpu| + 0.1 (the largest |cpu|)),
 * the bound the layers' own GPU tests use: sums in another order,
 * libraries' exp and tanh a few ulps apart.
 *
 * A layer that runs bf16 is run again in bf16 on the same numbers (the
 * float inputs and dy are bf16 values for both runs): its CPU half
 * against the FP32 CPU half, its GPU half against the bf16 CPU half,
 * every element within 2^-6 (|ref| + 0.1 (the largest |ref|)). A bf16
 * value is within 2^-9 of the float it rounds; the output's rounding,
 * the weights' bf16 copy and an input gradient added into bf16 make a
 * few of those, and a wrong formula or a value read as the wrong dtype
 * is off by far more.
 */
#include <config.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "plugin_plan.h"
#include "registry.h"

enum { MAX_CHECKED = 24 };

/* ---- numbers ------------------------------------------------------------ */

static uint64_t draw(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* A tensor of n samples of desc: floats in [-1, 1), ids below bound. */
static void *random_tensor(const pp_tensor_desc *desc, int n, int64_t bound,
                           uint64_t *s, size_t *bytes)
{
    *bytes = pp_tensor_bytes(desc) * (size_t)n;
    void *p = calloc(1, *bytes ? *bytes : 1);
    if (!p)
        return NULL;
    size_t count = *bytes / pp_dtype_size(desc->dtype);
    for (size_t i = 0; i < count; i++) {
        if (desc->dtype == PP_I32)
            ((int32_t *)p)[i] = (int32_t)(draw(s) % (uint64_t)(bound > 0
                                                                ? bound
                                                                : 1));
        else
            ((float *)p)[i] = (float)((double)(draw(s) >> 11) * 0x1p-52 -
                                      1.0);
    }
    return p;
}

static float *random_floats(size_t count, uint64_t *s)
{
    pp_tensor_desc d = {PP_F32, {1, {(int64_t)count}}};
    size_t bytes;
    return random_tensor(&d, 1, 0, s, &bytes);
}

static float *copy_floats(const float *src, size_t count)
{
    float *p = malloc(count ? count * sizeof *p : 1);
    if (p && count)
        memcpy(p, src, count * sizeof *p);
    return p;
}

/* ---- one layer's buffers ------------------------------------------------ */

typedef struct layer_bufs {
    int nin, np, n;
    void **x;               /* [nin] inputs */
    size_t *xbytes;
    float **dx0;            /* [nin] start of the inputs' gradients, NULL
                               for ids */
    float **param, **grad0; /* [np] values, start of their gradients */
    size_t *pcount;
    float *y, *dy;          /* y: the output, or the loss (1 float) */
    size_t ycount;
    void *saved, *work, *target;
    size_t saved_bytes, work_bytes, target_bytes;
} layer_bufs;

static void bufs_free(layer_bufs *b)
{
    for (int k = 0; k < b->nin && b->x; k++) {
        free(b->x[k]);
        free(b->dx0[k]);
    }
    for (int p = 0; p < b->np && b->param; p++) {
        free(b->param[p]);
        free(b->grad0[p]);
    }
    free(b->x), free(b->xbytes), free(b->dx0);
    free(b->param), free(b->grad0), free(b->pcount);
    free(b->y), free(b->dy), free(b->saved), free(b->work), free(b->target);
    memset(b, 0, sizeof *b);
}

static pp_status bufs_make(const pp_model_layer *l, int n, uint64_t *s,
                           layer_bufs *b, pp_error *err)
{
    const pp_layer_plan *plan = &l->plan;
    memset(b, 0, sizeof *b);
    b->nin = l->nin, b->np = plan->nparams, b->n = n;
    int ok = (b->x = calloc((size_t)b->nin, sizeof *b->x)) &&
             (b->xbytes = calloc((size_t)b->nin, sizeof *b->xbytes)) &&
             (b->dx0 = calloc((size_t)b->nin, sizeof *b->dx0)) &&
             (b->param = calloc((size_t)b->np + 1, sizeof *b->param)) &&
             (b->grad0 = calloc((size_t)b->np + 1, sizeof *b->grad0)) &&
             (b->pcount = calloc((size_t)b->np + 1, sizeof *b->pcount));
    for (int k = 0; ok && k < b->nin; k++) {
        ok = (b->x[k] = random_tensor(&l->in[k], n, plan->in_ids, s,
                                      &b->xbytes[k])) != NULL;
        if (ok && l->in[k].dtype == PP_F32)
            ok = (b->dx0[k] = random_floats(b->xbytes[k] / sizeof(float),
                                            s)) != NULL;
    }
    for (int p = 0; ok && p < b->np; p++) {
        b->pcount[p] = (size_t)pp_shape_elements(&plan->params[p].shape);
        ok = (b->param[p] = random_floats(b->pcount[p], s)) &&
             (b->grad0[p] = random_floats(b->pcount[p], s));
    }
    b->ycount = plan->is_loss ? 1
                              : pp_tensor_bytes(&plan->out) * (size_t)n /
                                    sizeof(float);
    b->saved_bytes = plan->saved_bytes * (size_t)n;
    b->work_bytes = plan->workspace_bytes * (size_t)n;
    ok = ok && (b->y = calloc(b->ycount, sizeof(float))) &&
         (b->saved = calloc(1, b->saved_bytes + 1)) &&
         (b->work = calloc(1, b->work_bytes + 1));
    if (ok && !plan->is_loss)
        ok = (b->dy = random_floats(b->ycount, s)) != NULL;
    if (ok && plan->is_loss)
        ok = (b->target = random_tensor(&plan->target, n, plan->target_ids,
                                        s, &b->target_bytes)) != NULL;
    if (!ok) {
        bufs_free(b);
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    }
    return PP_OK;
}

static pp_layer_call call_of(const pp_model_layer *l, const layer_bufs *b,
                             const pp_gc_options *opt)
{
    pp_layer_call c = {0};
    c.plan = &l->plan;
    c.nin = l->nin;
    c.in = l->in;
    c.n = b->n;
    c.param = (const float *const *)b->param;
    c.saved = b->saved;
    c.workspace = b->work;
    c.target = b->target;
    c.loss_scale = 1.0;
    c.seed = opt->seed;
    c.training = 1;
    return c;
}

/* ---- results ------------------------------------------------------------ */

static pp_status add_result(pp_gc_result **out, int *n, const char *half,
                            const char *kernel, const char *tensor,
                            double worst, int64_t checked, int64_t elements,
                            pp_error *err)
{
    pp_gc_result *r = realloc(*out, (size_t)(*n + 1) * sizeof *r);
    if (!r)
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    *out = r;
    r += (*n)++;
    r->half = half;
    r->precision = PP_PRECISION_FP32;
    r->kernel = kernel;
    snprintf(r->tensor, sizeof r->tensor, "%s", tensor);
    r->worst = worst;
    r->checked = checked;
    r->elements = elements;
    return PP_OK;
}

/* |got - want| / bound, infinite where the bound is 0 and they differ or
 * where either is not a number. */
static double ratio(double got, double want, double bound)
{
    double d = fabs(got - want);
    if (isnan(d))
        return INFINITY;
    return d == 0 ? 0 : bound > 0 ? d / bound : INFINITY;
}

/* ---- CPU: a micro-batch is its samples ---------------------------------- */

static pp_status forward(const pp_layer_kernels *k, const pp_layer_call *c,
                         const void *const *x, float *y, pp_error *err)
{
    pp_status st = k->forward(c, x, y, err);
    return st ? pp_error_prefix(err, "forward") : PP_OK;
}

static pp_status check_samples(const pp_model_layer *l, const layer_bufs *b,
                               const pp_layer_call *c, const float *y0,
                               double tol, pp_gc_result **out, int *nout,
                               pp_error *err)
{
    const pp_layer_kernels *k = ((const pp_layer_ops *)l->plugin->ops)->cpu;
    const pp_layer_plan *plan = &l->plan;
    size_t per_y = plan->is_loss ? 0 : b->ycount / (size_t)b->n;
    const void **x = calloc((size_t)b->nin, sizeof *x);
    float *y = calloc(per_y + 1, sizeof *y);
    /* A sample's saved values go to scratch: the batch's, which the
     * backward reads, stay as its forward left them, laid out across
     * its samples as the layer likes. */
    void *saved = calloc(1, plan->saved_bytes + 1);
    if (!x || !y || !saved) {
        free(x), free(y), free(saved);
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    }
    double worst = 0, loss = 0;
    pp_status st = PP_OK;
    for (int s = 0; s < b->n && !st; s++) {
        pp_layer_call one = *c;
        one.n = 1;
        one.sample0 = s;
        one.saved = saved;
        one.workspace = (char *)b->work + plan->workspace_bytes * (size_t)s;
        if (b->target)
            one.target = (const char *)b->target +
                         b->target_bytes / (size_t)b->n * (size_t)s;
        for (int j = 0; j < b->nin; j++)
            x[j] = (const char *)b->x[j] + b->xbytes[j] / (size_t)b->n *
                                               (size_t)s;
        if ((st = forward(k, &one, x, y, err)))
            break;
        if (plan->is_loss) {
            loss += y[0];
            continue;
        }
        for (size_t i = 0; i < per_y; i++)
            worst = fmax(worst, memcmp(&y[i], &y0[s * per_y + i],
                                       sizeof *y) == 0
                                    ? 0
                                    : INFINITY);
    }
    if (!st && plan->is_loss) {
        /* The samples' losses add up to the micro-batch's, and the loss
         * scales with loss_scale. */
        worst = ratio(loss, y0[0], tol * 1e-6 * fabs(loss));
        pp_layer_call half = *c;
        half.loss_scale = c->loss_scale / 2;
        if (!(st = forward(k, &half, (const void *const *)b->x, y, err)))
            worst = fmax(worst, ratio(2.0 * y[0], y0[0],
                                      tol * 1e-6 * fabs(y0[0])));
    }
    free(x), free(y), free(saved);
    if (st)
        return st;
    return add_result(out, nout, "cpu", "forward",
                      plan->is_loss ? "loss (samples, scale)"
                                    : "y (sample by sample)",
                      worst, (int64_t)b->ycount, (int64_t)b->ycount, err);
}

/* ---- CPU: gradients against central differences ------------------------- */

/* L = sum(y dy) in double (a loss layer: L = y); and what the float
 * rounding of the outputs that moved from y0 may add to it, a few
 * roundings each: 2^-22 sum |y dy| over them. */
static pp_status loss_at(const pp_layer_kernels *k, const pp_layer_call *c,
                         const layer_bufs *b, const float *y0, float *y,
                         double *L, double *rounding, pp_error *err)
{
    if (forward(k, c, (const void *const *)b->x, y, err))
        return err->code;
    double sum = 0, moved = 0;
    for (size_t i = 0; i < b->ycount; i++) {
        double t = b->dy ? (double)y[i] * b->dy[i] : (double)y[i];
        sum += t;
        if (y[i] != y0[i] || !b->dy) /* a loss may round to y0 */
            moved += fabs(t);
    }
    *L = sum;
    *rounding = 0x1p-22 * moved;
    return PP_OK;
}

/* Which elements of a tensor of `count` to check: all, or the half of
 * MAX_CHECKED with the largest |ana|, then random ones. */
static int pick(const double *ana, size_t count, uint64_t *s, size_t *at)
{
    if (count <= MAX_CHECKED) {
        for (size_t i = 0; i < count; i++)
            at[i] = i;
        return (int)count;
    }
    int n = 0;
    for (; n < MAX_CHECKED / 2; n++) {
        size_t best = 0;
        double big = -1;
        for (size_t i = 0; i < count; i++) {
            int taken = 0;
            for (int j = 0; j < n && !taken; j++)
                taken = at[j] == i;
            if (!taken && fabs(ana[i]) > big)
                big = fabs(ana[i]), best = i;
        }
        at[n] = best;
    }
    while (n < MAX_CHECKED) {
        size_t i = (size_t)(draw(s) % count);
        int taken = 0;
        for (int j = 0; j < n && !taken; j++)
            taken = at[j] == i;
        if (!taken)
            at[n++] = i;
    }
    return n;
}

/* What the checks of one tensor share. */
typedef struct fd_ctx {
    const pp_layer_kernels *k;
    const pp_layer_call *c;
    const layer_bufs *b;
    const float *y0;
    float *v, *keep, *y;
    size_t count;
    const double *ana;
    double floor; /* an error always allowed */
    double tol;
} fd_ctx;

/* v = keep moved by t along u (all of v), or along element `one` alone
 * when u is NULL; each element as float rounds it. */
static void move(float *v, const float *keep, size_t count, const double *u,
                 size_t one, double t)
{
    if (!u) {
        v[one] = (float)(keep[one] + t);
        return;
    }
    for (size_t i = 0; i < count; i++)
        v[i] = (float)(keep[i] + t * u[i]);
}

/* The central difference of L along u (or element one) with step h;
 * what the analytic gradient gives over the same float steps; and what
 * the outputs' rounding may add to the difference. */
static pp_status central(const fd_ctx *f, const double *u, size_t one,
                         double h, double *num, double *an, double *noise,
                         pp_error *err)
{
    double Lu = 0, Ld = 0, ru = 0, rd = 0, sum = 0;
    move(f->v, f->keep, f->count, u, one, h);
    pp_status st = loss_at(f->k, f->c, f->b, f->y0, f->y, &Lu, &ru, err);
    move(f->v, f->keep, f->count, u, one, -h);
    if (!st)
        st = loss_at(f->k, f->c, f->b, f->y0, f->y, &Ld, &rd, err);
    memcpy(f->v, f->keep, f->count * sizeof *f->v);
    for (size_t i = u ? 0 : one; i < (u ? f->count : one + 1); i++) {
        double t = u ? u[i] : 1;
        sum += f->ana[i] * ((double)(float)(f->keep[i] + h * t) -
                            (double)(float)(f->keep[i] - h * t));
    }
    *num = (Lu - Ld) / (2 * h);
    *an = sum / (2 * h);
    *noise = (ru + rd) / (2 * h);
    return st;
}

/* One check along u (or element one): steps h and 2h combined to cancel
 * their h^2 error (Richardson); how far the two are apart, and the
 * outputs' rounding, say what error is left. Made only where that is
 * well below the derivative: *ratio_out is the error over its bound, or
 * negative where no step resolved it. Smaller steps are tried while the
 * bound is exceeded: a kink within 2h spoils both differences. */
static pp_status check_along(const fd_ctx *f, const double *u, size_t one,
                             double h0, double *ratio_out, pp_error *err)
{
    *ratio_out = -1;
    for (double h = h0; h > h0 * 1e-3; h /= 10) {
        double d1, a1, n1, d2, a2, n2;
        if (central(f, u, one, h, &d1, &a1, &n1, err) ||
            central(f, u, one, 2 * h, &d2, &a2, &n2, err))
            return err->code;
        double num = (4 * d1 - d2) / 3, an = (4 * a1 - a2) / 3;
        double noise = fabs(d1 - d2) + n1 + n2;
        if (noise > 0.1 * fmax(fmax(fabs(num), fabs(an)), 100 * f->floor))
            continue;
        double bound = f->tol * (1e-3 * (fabs(num) + fabs(an)) + f->floor +
                                 noise);
        double r = ratio(num, an, bound);
        *ratio_out = *ratio_out < 0 ? r : fmin(*ratio_out, r);
        if (r <= 1)
            break;
    }
    return PP_OK;
}

enum { DIRECTIONS = 4 };

/* How far v may move: a share of itself, so no step crosses 0, where
 * relu and its kind have their kink. */
static double reach(float v)
{
    return v != 0 ? fabs(v) : 1e-3;
}

/* One tensor v (count floats; the analytic gradient ana) against central
 * differences of L: along DIRECTIONS directions through all of it
 * (steps of about 1e-2 |v| per element), which a loss rounded
 * to float still resolves; then element by element, up to MAX_CHECKED,
 * where the differences resolve the element's gradient.
 * *checked counts the checks made. */
static pp_status differences(fd_ctx *f, uint64_t *s, double *worst,
                             int *checked, pp_error *err)
{
    size_t at[MAX_CHECKED];
    double *u = malloc(f->count * sizeof *u);
    if (!u || !(f->keep = copy_floats(f->v, f->count))) {
        free(u);
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    }
    *worst = 0;
    *checked = 0;
    pp_status st = PP_OK;
    for (int d = 0; !st && d < DIRECTIONS; d++) {
        double mag = 0, r;
        for (size_t i = 0; i < f->count; i++) {
            /* Even: along the gradient, weights in [0.5, 1.5) (a wrong
             * scale or sign); odd: random signs (gradients in the wrong
             * places). */
            uint64_t z = draw(s);
            double w = d % 2 ? (z & 1 ? 1 : -1)
                             : (f->ana[i] < 0 ? -1 : 1) *
                                   (0.5 + (double)(z >> 11) * 0x1p-53);
            u[i] = 1e-2 * w * reach(f->v[i]);
            mag += fabs(f->ana[i] * u[i]);
        }
        f->floor = 1e-6 * mag; /* the sum of ana u, in float terms */
        if (!(st = check_along(f, u, 0, 1, &r, err)) && r >= 0) {
            *worst = fmax(*worst, r);
            ++*checked;
        }
    }
    f->floor = 0;
    for (size_t i = 0; i < f->count; i++)
        f->floor = fmax(f->floor, 1e-4 * fabs(f->ana[i]));
    /* An element's step: 1e-2 of its size, or of a tenth of the tensor's
     * typical size, so that the outputs it moves resolve the step; where
     * that crosses a kink, check_along tries smaller ones. */
    double rms = 0;
    for (size_t i = 0; i < f->count; i++)
        rms += (double)f->v[i] * f->v[i];
    rms = sqrt(rms / (double)(f->count ? f->count : 1));
    int n = pick(f->ana, f->count, s, at);
    for (int j = 0; !st && j < n; j++) {
        double r;
        size_t i = at[j];
        st = check_along(f, NULL, i, 1e-2 * fmax(reach(f->v[i]), 0.1 * rms),
                         &r, err);
        if (!st && r >= 0) {
            *worst = fmax(*worst, r);
            ++*checked;
        }
    }
    if (!st && *checked == 0)
        *worst = INFINITY; /* nothing resolved is no pass */
    free(u);
    free(f->keep);
    f->keep = NULL;
    return st;
}

/* What backward added: after - before, in double. */
static double *added(const float *after, const float *before, size_t count)
{
    double *d = malloc(count ? count * sizeof *d : 1);
    for (size_t i = 0; d && i < count; i++)
        d[i] = (double)after[i] - (double)before[i];
    return d;
}

/* The CPU's gradients after one backward of each kind, from dx0 and
 * grad0: what the GPU is compared with. */
typedef struct cpu_grads {
    float **dx;    /* [nin], NULL for ids */
    float **grad;  /* [np] */
} cpu_grads;

static void grads_free(cpu_grads *g, const layer_bufs *b)
{
    for (int k = 0; g->dx && k < b->nin; k++)
        free(g->dx[k]);
    for (int p = 0; g->grad && p < b->np; p++)
        free(g->grad[p]);
    free(g->dx), free(g->grad);
}

static const char *input_name(const pp_model *m, const pp_model_layer *l,
                              int k)
{
    return m->tensors[l->input[k]].name;
}

static pp_status cpu_checks(const pp_model *m, const pp_model_layer *l,
                            layer_bufs *b, const pp_gc_options *opt,
                            uint64_t *s, float *y0, cpu_grads *g,
                            pp_gc_result **out, int *nout, pp_error *err)
{
    const pp_layer_kernels *k = ((const pp_layer_ops *)l->plugin->ops)->cpu;
    pp_layer_call c = call_of(l, b, opt);
    void *state = NULL;
    if (k->init && k->init(&c, &state, err))
        return pp_error_prefix(err, "init");
    c.state = state;
    float *y = calloc(b->ycount, sizeof *y);
    pp_status st = y ? forward(k, &c, (const void *const *)b->x, y0, err)
                     : pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    if (!st)
        st = check_samples(l, b, &c, y0, opt->tolerance, out, nout, err);

    /* Backward once, from the random starts; then each tensor's
     * differences, which run forwards only. */
    if (!(g->dx = calloc((size_t)b->nin, sizeof *g->dx)) ||
        !(g->grad = calloc((size_t)b->np + 1, sizeof *g->grad)))
        st = st ? st : pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    for (int j = 0; !st && j < b->nin; j++)
        if (b->dx0[j] &&
            !(g->dx[j] = copy_floats(b->dx0[j], b->xbytes[j] / 4)))
            st = pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    for (int p = 0; !st && p < b->np; p++)
        if (!(g->grad[p] = copy_floats(b->grad0[p], b->pcount[p])))
            st = pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    c.grad = g->grad;
    if (!st && k->backward_input &&
        k->backward_input(&c, (const void *const *)b->x, y0, b->dy,
                          (void *const *)g->dx, err))
        st = pp_error_prefix(err, "backward_input");
    if (!st && k->backward_weight && b->np &&
        k->backward_weight(&c, (const void *const *)b->x, y0, b->dy, err))
        st = pp_error_prefix(err, "backward_weight");

    fd_ctx f = {.k = k, .c = &c, .b = b, .y0 = y0, .y = y,
                .tol = opt->tolerance};
    int ntensors = (k->backward_input ? b->nin : 0) +
                   (k->backward_weight ? b->np : 0);
    for (int t = 0; !st && t < ntensors; t++) {
        int input = k->backward_input && t < b->nin;
        int j = input ? t : t - (k->backward_input ? b->nin : 0);
        if (input && !b->dx0[j])
            continue;
        f.v = input ? b->x[j] : b->param[j];
        f.count = input ? b->xbytes[j] / sizeof(float) : b->pcount[j];
        double *ana = added(input ? g->dx[j] : g->grad[j],
                            input ? b->dx0[j] : b->grad0[j], f.count);
        double worst = 0;
        int checked = 0;
        f.ana = ana;
        st = ana ? differences(&f, s, &worst, &checked, err)
                 : pp_error_set(err, PP_ERR_NOMEM, "out of memory");
        free(ana);
        if (!st)
            st = add_result(out, nout, "cpu",
                            input ? "backward_input" : "backward_weight",
                            input ? input_name(m, l, j)
                                  : l->plan.params[j].name,
                            worst, checked, (int64_t)f.count, err);
    }
    if (k->destroy)
        k->destroy(state);
    free(y);
    return st;
}

/* ---- GPU: the CUDA half against the CPU's ------------------------------- */

/* The worst |got - ref| over scale (|ref| + 0.1 (the largest |ref|)). */
static double compare(const float *got, const float *ref, size_t count,
                      double scale)
{
    double big = 0, worst = 0;
    for (size_t i = 0; i < count; i++)
        big = fmax(big, fabs(ref[i]));
    for (size_t i = 0; i < count; i++)
        worst = fmax(worst, ratio(got[i], ref[i],
                                  scale * (fabs(ref[i]) + 0.1 * big)));
    return worst;
}

/* Device memory for the call, freed together: room for every tensor. */
typedef struct dev_list {
    void **p;
    int n;
} dev_list;

static pp_status to_device(pp_gc_gpu *gpu, dev_list *d, const void *host,
                           size_t bytes, void **out, pp_error *err)
{
    int idx = gpu->rank.index;
    if (gpu->dev->alloc(idx, bytes ? bytes : 1, out, err))
        return err->code;
    d->p[d->n++] = *out;
    if (host && bytes)
        return gpu->dev->copy(idx, *out, host, bytes, PP_COPY_HOST_TO_DEVICE,
                              err);
    return gpu->dev->zero_async(&gpu->rank, *out, bytes ? bytes : 1, err) ||
                   gpu->dev->sync(&gpu->rank, err)
               ? err->code
               : PP_OK;
}

static pp_status from_device(pp_gc_gpu *gpu, void *host, const void *dev,
                             size_t bytes, pp_error *err)
{
    if (gpu->dev->sync(&gpu->rank, err))
        return err->code;
    return gpu->dev->copy(gpu->rank.index, host, dev, bytes,
                          PP_COPY_DEVICE_TO_HOST, err);
}


/* ---- a layer run on its own, in a precision, on the host or the GPU ----- */

/* Layer l planned again in precision p: its float inputs of p's dtype.
 * in holds l->nin descriptors. */
static pp_status replan(const pp_model_layer *l, pp_precision p,
                        pp_tensor_desc *in, pp_model_layer *out,
                        pp_error *err)
{
    *out = *l;
    memset(&out->plan, 0, sizeof out->plan);
    for (int k = 0; k < l->nin; k++) {
        in[k] = l->in[k];
        if (pp_dtype_is_float(in[k].dtype))
            in[k].dtype = pp_precision_dtype(p);
    }
    out->in = in;
    out->plan.precision = p;
    const pp_layer_ops *ops = l->plugin->ops;
    if (ops->plan(l->section, in, l->nin, &out->plan, err))
        return pp_error_prefix(err, "plan in %s", pp_precision_name(p));
    return PP_OK;
}

static void round_floats(float *v, size_t count)
{
    for (size_t i = 0; v && i < count; i++)
        v[i] = pp_bf16_round(v[i]);
}

/* What a run gives, as floats: y, each input's gradient (NULL for ids),
 * each parameter's gradient; which backward kernels ran. */
typedef struct run16 {
    float *y, **dx, **grad;
    int nin, np;
    int input, weight;
} run16;

static void run16_free(run16 *r)
{
    for (int k = 0; r->dx && k < r->nin; k++)
        free(r->dx[k]);
    for (int p = 0; r->grad && p < r->np; p++)
        free(r->grad[p]);
    free(r->y), free(r->dx), free(r->grad);
    memset(r, 0, sizeof *r);
}

/* A host buffer of `bytes`, kept in list (freed together). */
static void *keep(void **list, int *n, size_t bytes)
{
    void *p = calloc(1, bytes ? bytes : 1);
    if (p)
        list[(*n)++] = p;
    return p;
}

/* bytes of host memory where the run reads them: on the device when gpu
 * is given (copied there), else the host buffer itself. */
static pp_status place(pp_gc_gpu *gpu, dev_list *d, void *host, size_t bytes,
                       void **out, pp_error *err)
{
    if (!gpu) {
        *out = host;
        return PP_OK;
    }
    return to_device(gpu, d, host, bytes, out, err);
}

static pp_status fetch(pp_gc_gpu *gpu, void *host, const void *where,
                       size_t bytes, pp_error *err)
{
    if (!gpu) {
        if (host != where)
            memcpy(host, where, bytes);
        return PP_OK;
    }
    return from_device(gpu, host, where, bytes, err);
}

/* Layer lb on b's numbers in the precision it was planned in (every
 * float tensor of that dtype): on the host (gpu NULL) or on the GPU. */
static pp_status run_layer(const pp_model_layer *lb, const layer_bufs *b,
                           const pp_gc_options *opt, pp_gc_gpu *gpu,
                           run16 *r, pp_error *err)
{
    const pp_layer_ops *ops = lb->plugin->ops;
    const pp_layer_kernels *k = gpu ? ops->cuda : ops->cpu;
    const pp_layer_plan *plan = &lb->plan;
    int bf16 = plan->precision == PP_PRECISION_BF16;
    pp_dtype ft = pp_precision_dtype(plan->precision);
    size_t es = pp_dtype_size(ft);
    int nin = b->nin, np = b->np;
    size_t slots = 4 * (size_t)nin + 4 * (size_t)np + 8;
    void **host = calloc(slots, sizeof *host);
    void **ptrs = calloc(slots, sizeof *ptrs);
    dev_list d = {calloc(slots, sizeof(void *)), 0};
    int nhost = 0;
    void **x = ptrs, **dx = x + nin, **param = dx + nin, **copy = param + np;
    void **grad = copy + np;
    void *y = NULL, *dy = NULL, *saved = NULL, *work = NULL, *target = NULL;
    void *state = NULL;
    size_t ybytes = plan->is_loss ? sizeof(float) : b->ycount * es;
    *r = (run16){.nin = nin, .np = np, .input = k->backward_input != NULL,
                 .weight = k->backward_weight != NULL && np > 0};
    pp_status st = host && ptrs && d.p &&
                           (r->dx = calloc((size_t)nin + 1, sizeof *r->dx)) &&
                           (r->grad = calloc((size_t)np + 1,
                                             sizeof *r->grad)) &&
                           (r->y = calloc(b->ycount, sizeof *r->y))
                       ? PP_OK
                       : pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    /* Float tensors of the precision's dtype, from b's floats. */
    for (int j = 0; !st && j < nin; j++) {
        int fl = pp_dtype_is_float(lb->in[j].dtype);
        size_t count = b->xbytes[j] / 4, bytes = fl ? count * es
                                                    : b->xbytes[j];
        void *h = fl ? keep(host, &nhost, bytes) : b->x[j];
        if (!h) {
            st = pp_error_set(err, PP_ERR_NOMEM, "out of memory");
            break;
        }
        if (fl)
            pp_row_store(h, ft, b->x[j], (int64_t)count);
        st = place(gpu, &d, h, bytes, &x[j], err);
        if (!st && b->dx0[j]) {
            void *g = keep(host, &nhost, bytes);
            if (!g || !(r->dx[j] = malloc(count * sizeof(float))))
                st = pp_error_set(err, PP_ERR_NOMEM, "out of memory");
            else {
                pp_row_store(g, ft, b->dx0[j], (int64_t)count);
                st = place(gpu, &d, g, bytes, &dx[j], err);
            }
        }
    }
    for (int p = 0; !st && p < np; p++) {
        size_t count = b->pcount[p];
        void *c16 = bf16 ? keep(host, &nhost, count * 2) : NULL;
        void *g = keep(host, &nhost, count * 4);
        if ((bf16 && !c16) || !g ||
            !(r->grad[p] = malloc(count * sizeof(float)))) {
            st = pp_error_set(err, PP_ERR_NOMEM, "out of memory");
            break;
        }
        memcpy(g, b->grad0[p], count * 4);
        if (!(st = place(gpu, &d, b->param[p], count * 4, &param[p], err)) &&
            bf16) {
            /* The weights' bf16 copy, as the optimizer writes it. */
            pp_row_store(c16, PP_BF16, b->param[p], (int64_t)count);
            st = place(gpu, &d, c16, count * 2, &copy[p], err);
        }
        if (!st)
            st = place(gpu, &d, g, count * 4, &grad[p], err);
    }
    void *yh = st ? NULL : keep(host, &nhost, ybytes);
    void *dyh = st || plan->is_loss ? NULL : keep(host, &nhost, ybytes);
    void *sh = st ? NULL : keep(host, &nhost, plan->saved_bytes * b->n);
    void *wh = st ? NULL : keep(host, &nhost, plan->workspace_bytes * b->n);
    if (!st && (!yh || !sh || !wh || (!plan->is_loss && !dyh)))
        st = pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    if (!st && dyh)
        pp_row_store(dyh, ft, b->dy, (int64_t)b->ycount);
    if (!st)
        st = place(gpu, &d, yh, ybytes, &y, err);
    if (!st && dyh)
        st = place(gpu, &d, dyh, ybytes, &dy, err);
    if (!st)
        st = place(gpu, &d, sh, plan->saved_bytes * b->n, &saved, err);
    if (!st)
        st = place(gpu, &d, wh, plan->workspace_bytes * b->n, &work, err);
    if (!st && b->target)
        st = place(gpu, &d, b->target, b->target_bytes, &target, err);

    pp_layer_call c = call_of(lb, b, opt);
    c.param = (const float *const *)param;
    c.param_bf16 = bf16 ? (const void *const *)copy : NULL;
    c.grad = (float *const *)grad;
    c.saved = saved, c.workspace = work, c.target = target;
    c.precision = plan->precision;
    if (gpu) {
        c.stream = gpu->rank.stream, c.blas = gpu->rank.blas;
        c.dnn = gpu->rank.dnn;
    }
    if (!st && k->init && k->init(&c, &state, err))
        st = pp_error_prefix(err, "init");
    c.state = state;
    if (!st)
        st = forward(k, &c, (const void *const *)x, y, err);
    if (!st && k->backward_input &&
        k->backward_input(&c, (const void *const *)x, y, dy,
                          (void *const *)dx, err))
        st = pp_error_prefix(err, "backward_input");
    if (!st && k->backward_weight && np &&
        k->backward_weight(&c, (const void *const *)x, y, dy, err))
        st = pp_error_prefix(err, "backward_weight");
    /* Back to the host, as floats. */
    if (!st && !(st = fetch(gpu, yh, y, ybytes, err))) {
        if (plan->is_loss)
            memcpy(r->y, yh, sizeof(float));
        else
            pp_row_load(r->y, yh, ft, (int64_t)b->ycount);
    }
    for (int j = 0; !st && j < nin; j++) {
        if (!r->dx[j])
            continue;
        size_t count = b->xbytes[j] / 4;
        void *g = keep(host, &nhost, count * es);
        if (!g)
            st = pp_error_set(err, PP_ERR_NOMEM, "out of memory");
        else if (!(st = fetch(gpu, g, dx[j], count * es, err)))
            pp_row_load(r->dx[j], g, ft, (int64_t)count);
    }
    for (int p = 0; !st && p < np; p++)
        st = fetch(gpu, r->grad[p], grad[p], b->pcount[p] * 4, err);
    if (state && k->destroy)
        k->destroy(state);
    if (gpu && gpu->dev->sync(&gpu->rank, err) && !st)
        st = err->code;
    for (int i = 0; gpu && i < d.n; i++)
        gpu->dev->release(gpu->rank.index, d.p[i]);
    for (int i = 0; i < nhost; i++)
        free(host[i]);
    free(d.p), free(ptrs), free(host);
    if (st)
        run16_free(r);
    return st;
}

/* A run of layer l (got) against ref, every element within scale (|ref|
 * + 0.1 max|ref|), as results of `half` in l's precision. */
static pp_status add_run(const pp_model *m, const pp_model_layer *l,
                         const layer_bufs *b, const char *half,
                         const run16 *got, const float *ref_y,
                         float *const *ref_dx, float *const *ref_grad,
                         double scale, pp_gc_result **out, int *nout,
                         pp_error *err)
{
    int first = *nout;
    pp_status st = add_result(out, nout, half, "forward", "y",
                              compare(got->y, ref_y, b->ycount, scale),
                              (int64_t)b->ycount, (int64_t)b->ycount, err);
    for (int j = 0; !st && got->input && j < b->nin; j++) {
        size_t count = b->xbytes[j] / 4;
        if (got->dx[j])
            st = add_result(out, nout, half, "backward_input",
                            input_name(m, l, j),
                            compare(got->dx[j], ref_dx[j], count, scale),
                            (int64_t)count, (int64_t)count, err);
    }
    for (int p = 0; !st && got->weight && p < b->np; p++)
        st = add_result(out, nout, half, "backward_weight",
                        l->plan.params[p].name,
                        compare(got->grad[p], ref_grad[p], b->pcount[p],
                                scale),
                        (int64_t)b->pcount[p], (int64_t)b->pcount[p], err);
    for (int i = first; i < *nout; i++)
        (*out)[i].precision = l->plan.precision;
    return st;
}

/* The CUDA half of layer l (planned in FP32) against the CPU's (y0, g). */
static pp_status gpu_checks(const pp_model *m, const pp_model_layer *l,
                            const layer_bufs *b, const pp_gc_options *opt,
                            pp_gc_gpu *gpu, const float *y0,
                            const cpu_grads *g, pp_gc_result **out,
                            int *nout, pp_error *err)
{
    run16 r;
    if (run_layer(l, b, opt, gpu, &r, err))
        return err->code;
    pp_status st = add_run(m, l, b, "cuda", &r, y0, g->dx, g->grad,
                           opt->tolerance * 1e-4, out, nout, err);
    run16_free(&r);
    return st;
}

/* The bf16 runs of layer lb: the CPU's against FP32's (y0, g), the GPU's
 * against the CPU's. */
static pp_status bf16_checks(const pp_model *m, const pp_model_layer *lb,
                             const layer_bufs *b, const pp_gc_options *opt,
                             pp_gc_gpu *gpu, const float *y0,
                             const cpu_grads *g, pp_gc_result **out,
                             int *nout, pp_error *err)
{
    run16 cpu, cuda;
    double scale = opt->tolerance * 0x1p-6;
    if (run_layer(lb, b, opt, NULL, &cpu, err))
        return pp_error_prefix(err, "cpu, bf16");
    pp_status st = add_run(m, lb, b, "cpu", &cpu, y0, g->dx, g->grad, scale,
                           out, nout, err);
    const pp_layer_ops *ops = lb->plugin->ops;
    if (!st && gpu->dev && ops->cuda) {
        if ((st = run_layer(lb, b, opt, gpu, &cuda, err)))
            pp_error_prefix(err, "cuda, bf16");
        else
            st = add_run(m, lb, b, "cuda", &cuda, cpu.y, cpu.dx, cpu.grad,
                         scale, out, nout, err);
        run16_free(&cuda);
    }
    run16_free(&cpu);
    return st;
}

/* ---- entry points ------------------------------------------------------- */

pp_status pp_gc_gpu_open(pp_model *m, pp_gc_gpu *gpu, pp_error *err)
{
    memset(gpu, 0, sizeof *gpu);
    const pp_plugin *plugin;
    pp_error why;
    pp_error_clear(&why);
    if (pp_registry_find(m->registry, PP_KIND_DEVICE, "cuda", &plugin,
                         &why)) {
        snprintf(gpu->why, sizeof gpu->why, "no cuda device plugin");
        return PP_OK;
    }
    const pp_device_ops *dev = plugin->ops;
    int count = 0;
    if (dev->count(&count, gpu->why, sizeof gpu->why, err))
        return err->code;
    if (count == 0)
        return PP_OK;
    if (dev->use(0, err) || dev->rank_open(0, &gpu->rank, err))
        return pp_error_prefix(err, "cuda:0");
    gpu->dev = dev;
    return PP_OK;
}

void pp_gc_gpu_close(pp_gc_gpu *gpu)
{
    if (gpu->dev)
        gpu->dev->rank_close(&gpu->rank);
    gpu->dev = NULL;
}

pp_status pp_gradcheck_layer(const pp_model *m, int i,
                             const pp_gc_options *opt, pp_gc_gpu *gpu,
                             pp_gc_result **out, int *n, pp_error *err)
{
    const pp_model_layer *ml = &m->layers[i];
    const pp_layer_ops *ops = ml->plugin->ops;
    int bf16 = pp_plugin_precisions(ml->plugin) &
               PP_PRECISION_BIT(PP_PRECISION_BF16);
    uint64_t s = opt->seed ^ (uint64_t)i * 0x9e3779b97f4a7c15u;
    /* The FP32 checks on the layer planned in FP32, whatever the model's
     * precision; the bf16 ones on it planned in bf16. */
    pp_tensor_desc *in = calloc(2 * (size_t)ml->nin + 1, sizeof *in);
    pp_model_layer l, lb;
    memset(&lb.plan, 0, sizeof lb.plan);
    if (!in)
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    pp_status st = replan(ml, PP_PRECISION_FP32, in, &l, err);
    if (!st && bf16)
        st = replan(ml, PP_PRECISION_BF16, in + ml->nin, &lb, err);
    layer_bufs b = {0};
    if (!st)
        st = bufs_make(&l, opt->samples, &s, &b, err);
    /* Both runs take numbers that bf16 holds exactly. */
    for (int k = 0; !st && bf16 && k < b.nin; k++)
        if (b.dx0[k]) {
            round_floats(b.x[k], b.xbytes[k] / 4);
            round_floats(b.dx0[k], b.xbytes[k] / 4);
        }
    if (!st && bf16 && b.dy)
        round_floats(b.dy, b.ycount);
    float *y0 = st ? NULL : calloc(b.ycount, sizeof *y0);
    cpu_grads g = {0};
    if (!st)
        st = y0 ? cpu_checks(m, &l, &b, opt, &s, y0, &g, out, n, err)
                : pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    if (!st && gpu->dev && ops->cuda)
        st = gpu_checks(m, &l, &b, opt, gpu, y0, &g, out, n, err);
    if (!st && bf16)
        st = bf16_checks(m, &lb, &b, opt, gpu, y0, &g, out, n, err);
    grads_free(&g, &b);
    free(y0);
    bufs_free(&b);
    pp_layer_plan_release(&l.plan);
    pp_layer_plan_release(&lb.plan);
    free(in);
    return st ? pp_error_prefix(err, "%s (%s)", ml->name,
                                ml->plugin->desc->name)
              : PP_OK;
}
