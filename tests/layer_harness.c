/* tests/layer_harness.c - the layer tests' shared helpers: splitmix64
 * random numbers, and planning, opening, running and closing one layer
 * through the registry, as the core does, so the tests see what a run
 * sees. See layer_harness.h.
 *
 * Not the initialisers or the runtime's bookkeeping: parameters are the
 * test's own random values, and x and y (kept per micro-batch by the core)
 * are buffers the test holds.
 */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "layer_harness.h"

/* The core's key for a layer section, so `type = X` validates. */
static const pp_key core_keys[] = {
    {"type", PP_KEY_STRING, PP_KEY_REQUIRED, PP_NO_RANGE, NULL, NULL,
     "the layer plugin"},
    {0},
};

/* ---- random numbers (splitmix64) ------------------------------------- */

uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

double rng_uniform(uint64_t *s, double lo, double hi)
{
    return lo + (hi - lo) * (double)(rng_next(s) >> 11) * 0x1p-53;
}

int rng_int(uint64_t *s, int lo, int hi)
{
    return lo + (int)(rng_next(s) % (uint64_t)(hi - lo + 1));
}

/* ---- a planned layer with its buffers -------------------------------- */

pp_status plan_layer(pp_registry *reg, const char *type, const char *keys,
                     const pp_tensor_desc *in, int nin, pp_config **cfg,
                     pp_layer_plan *plan, const pp_layer_ops **ops,
                     pp_error *err)
{
    return plan_layer_in(reg, type, keys, in, nin, PP_PRECISION_FP32, cfg,
                         plan, ops, err);
}

pp_status plan_layer_in(pp_registry *reg, const char *type,
                        const char *keys, const pp_tensor_desc *in, int nin,
                        pp_precision precision, pp_config **cfg,
                        pp_layer_plan *plan, const pp_layer_ops **ops,
                        pp_error *err)
{
    const pp_plugin *plugin;
    ck_assert_msg(pp_registry_find(reg, PP_KIND_LAYER, type, &plugin, err) ==
                      PP_OK, "%s", err->msg);
    *ops = plugin->ops;

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
    plan->precision = precision;
    return (*ops)->plan(s, in, nin, plan, err);
}

float *alloc_floats(int64_t n)
{
    float *p = calloc((size_t)(n > 0 ? n : 1), sizeof(float));
    ck_assert_ptr_nonnull(p);
    return p;
}

void fill_uniform(float *p, int64_t n, uint64_t *rng, double lo, double hi)
{
    for (int64_t i = 0; i < n; i++)
        p[i] = (float)rng_uniform(rng, lo, hi);
}

void layer_open(layer *l, pp_registry *reg, const char *type,
                const char *keys, pp_dtype dtype, const pp_shape *shape,
                int n, uint64_t *rng)
{
    pp_tensor_desc in = {dtype, *shape};
    layer_open_inputs(l, reg, type, keys, 1, &in, n, rng);
}

void layer_open_inputs(layer *l, pp_registry *reg, const char *type,
                       const char *keys, int nin, const pp_tensor_desc *in,
                       int n, uint64_t *rng)
{
    memset(l, 0, sizeof *l);
    ck_assert_int_le(nin, LAYER_MAX_INPUTS);
    l->nin = nin;
    for (int i = 0; i < nin; i++) {
        l->in[i] = in[i];
        l->in_len[i] = n * pp_shape_elements(&in[i].shape);
    }
    pp_error err;
    pp_error_clear(&err);
    const pp_layer_ops *ops;
    ck_assert_msg(plan_layer(reg, type, keys, l->in, nin, &l->cfg, &l->plan,
                             &ops, &err) == PP_OK, "%s", err.msg);
    ck_assert_ptr_nonnull(ops->cpu);
    /* The CUDA halves are built whenever the toolkit is (linear's needs
     * cuBLASLt too), and only then: tested here, where no GPU runs them. */
#if defined(HAVE_CUDA) && defined(HAVE_CUBLASLT)
    ck_assert_ptr_nonnull(ops->cuda);
#elif !defined(HAVE_CUDA)
    ck_assert_ptr_null(ops->cuda);
#endif
    l->k = ops->cpu;
    l->out_len = n * pp_shape_elements(&l->plan.out.shape);
    int np = l->plan.nparams;
    l->param_len = calloc((size_t)np + 1, sizeof *l->param_len);
    l->param = calloc((size_t)np + 1, sizeof *l->param);
    l->grad = calloc((size_t)np + 1, sizeof *l->grad);
    ck_assert(l->param_len && l->param && l->grad);
    for (int p = 0; p < np; p++) {
        l->param_len[p] = pp_shape_elements(&l->plan.params[p].shape);
        l->param[p] = alloc_floats(l->param_len[p]);
        l->grad[p] = alloc_floats(l->param_len[p]);
        fill_uniform(l->param[p], l->param_len[p], rng, -1.0, 1.0);
    }
    l->saved = calloc(l->plan.saved_bytes * (size_t)n + 1, 1);
    l->workspace = calloc(l->plan.workspace_bytes * (size_t)n + 1, 1);
    ck_assert(l->saved && l->workspace);
    if (l->plan.is_loss) {
        int64_t t = n * pp_shape_elements(&l->plan.target.shape);
        if (l->plan.target.dtype == PP_I32) {
            const pp_shape *shape = &in[0].shape;
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
        .plan = &l->plan, .nin = nin, .in = l->in, .n = n,
        .param = (const float *const *)l->param, .grad = l->grad,
        .saved = l->saved, .workspace = l->workspace, .target = l->target,
        .loss_scale = 0.37, .seed = 0x5eed, .training = 1};
}

void layer_close(layer *l)
{
    for (int p = 0; p < l->plan.nparams; p++) {
        free(l->param[p]);
        free(l->grad[p]);
    }
    free(l->param);
    free(l->grad);
    free(l->param_len);
    free(l->saved);
    free(l->workspace);
    free(l->target);
    pp_layer_plan_release(&l->plan);
    pp_config_free(l->cfg);
}

void run_forward_n(layer *l, const void *const *x, float *y)
{
    pp_error err;
    pp_error_clear(&err);
    ck_assert_msg(l->k->forward(&l->call, x, y, &err) == PP_OK, "%s",
                  err.msg);
}

void run_backward_input_n(layer *l, const void *const *x, const float *y,
                          const float *dy, void *const *dx)
{
    pp_error err;
    pp_error_clear(&err);
    ck_assert_msg(l->k->backward_input(&l->call, x, y, dy, dx, &err) ==
                      PP_OK, "%s", err.msg);
}

void run_backward_weight_n(layer *l, const void *const *x, const float *y,
                           const float *dy)
{
    pp_error err;
    pp_error_clear(&err);
    ck_assert_msg(l->k->backward_weight(&l->call, x, y, dy, &err) == PP_OK,
                  "%s", err.msg);
}

void run_forward(layer *l, const void *x, float *y)
{
    run_forward_n(l, &x, y);
}

void run_backward_input(layer *l, const void *x, const float *y,
                        const float *dy, float *dx)
{
    void *d = dx;
    run_backward_input_n(l, &x, y, dy, &d);
}

void run_backward_weight(layer *l, const void *x, const float *y,
                         const float *dy)
{
    run_backward_weight_n(l, &x, y, dy);
}
