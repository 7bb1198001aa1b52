/* tests/plugins/stateful.c - a layer that keeps state across calls and
 * uses a workspace, as a layer with a cuBLASLt plan or a cuDNN graph
 * would: y = x * scale, where scale (the `scale` key) lives in state that
 * init makes, and forward goes through the workspace. Its kernels refuse
 * to run without their state or with a call that init should not have
 * been given (buffers), so a core that skips init, or hands the wrong
 * state, fails the run. When STATEFUL_LOG names a file, init and destroy
 * each append a line to it, so a test can count them. CPU only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pipette/pipette.h>

#define MAGIC 0x57a7eu

typedef struct state {
    unsigned magic;
    float scale;
} state;

static const pp_key keys[] = {
    {"scale", PP_KEY_FLOAT, 0, PP_NO_RANGE, NULL, "2", "y = x * scale"},
    {0},
};

static pp_status plan(const pp_section *cfg, const pp_tensor_desc *in,
                      int nin, pp_layer_plan *p, pp_error *err)
{
    (void)nin;
    double scale;
    if (pp_section_float(cfg, "scale", &scale, err))
        return err->code;
    if (in->dtype != PP_F32)
        return pp_section_error(cfg, NULL, err, "stateful needs floats");
    float s = (float)scale;
    p->out = *in;
    p->workspace_bytes = pp_tensor_bytes(in);
    p->flops = (double)pp_shape_elements(&in->shape);
    return pp_layer_args(p, &s, sizeof s, err);
}

static void note(const char *what)
{
    const char *path = getenv("STATEFUL_LOG");
    FILE *f = path ? fopen(path, "a") : NULL;
    if (f) {
        fprintf(f, "%s\n", what);
        fclose(f);
    }
}

static pp_status init(const pp_layer_call *c, void **out, pp_error *err)
{
    if (c->saved || c->workspace || c->target || c->param || c->grad)
        return pp_error_set(err, PP_ERR_RUNTIME,
                            "stateful: init was given buffers");
    state *s = malloc(sizeof *s);
    if (!s)
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    *s = (state){MAGIC, *(const float *)c->plan->args};
    *out = s;
    note("init");
    return PP_OK;
}

static void destroy(void *handle)
{
    state *s = handle;
    s->magic = 0;
    free(s);
    note("destroy");
}

static pp_status check(const pp_layer_call *c, pp_error *err)
{
    const state *s = c->state;
    if (!s || s->magic != MAGIC)
        return pp_error_set(err, PP_ERR_RUNTIME, "stateful: no state");
    if (!c->workspace)
        return pp_error_set(err, PP_ERR_RUNTIME, "stateful: no workspace");
    return PP_OK;
}

static int64_t count(const pp_layer_call *c)
{
    return (int64_t)c->n * pp_shape_elements(&c->in[0].shape);
}

static pp_status forward(const pp_layer_call *c, const void *const *x,
                         void *y, pp_error *err)
{
    if (check(c, err))
        return err->code;
    float *w = c->workspace, *out = y;
    const state *s = c->state;
    memcpy(w, x[0], (size_t)count(c) * sizeof(float));
    for (int64_t i = 0; i < count(c); i++)
        out[i] = w[i] * s->scale;
    return PP_OK;
}

static pp_status backward_input(const pp_layer_call *c, const void *const *x,
                                const void *y, const void *dy,
                                void *const *dx, pp_error *err)
{
    (void)x, (void)y;
    if (check(c, err))
        return err->code;
    const float *g = dy;
    float *d = dx[0];
    const state *s = c->state;
    for (int64_t i = 0; i < count(c); i++)
        d[i] += g[i] * s->scale;
    return PP_OK;
}

static const pp_layer_kernels cpu_kernels = {
    .forward = forward, .backward_input = backward_input, .init = init,
    .destroy = destroy};

static const pp_layer_ops ops = {.inputs = 1, .plan = plan,
                                 .cpu = &cpu_kernels};

PP_PLUGIN(PP_KIND_LAYER, "stateful",
          "y = x * scale, from state made by init (tests)", keys, &ops);
