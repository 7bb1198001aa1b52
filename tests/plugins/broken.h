/* tests/plugins/broken.h - what the deliberately broken plugins share: a
 * layer table that works, so each plugin is wrong in exactly one way. */
#ifndef PP_TESTS_BROKEN_H
#define PP_TESTS_BROKEN_H

#include <string.h>

#include <pipette/pipette.h>

static pp_status identity_plan(const pp_section *cfg, const pp_tensor_desc *in,
                               int nin, pp_layer_plan *p, pp_error *err)
{
    (void)cfg, (void)nin, (void)err;
    p->out = *in;
    return PP_OK;
}

static pp_status identity_forward(const pp_layer_call *c,
                                  const void *const *x, void *y,
                                  pp_error *err)
{
    (void)err;
    memcpy(y, x[0], pp_tensor_bytes(&c->in[0]) * (size_t)c->n);
    return PP_OK;
}

static pp_status identity_backward(const pp_layer_call *c,
                                   const void *const *x, const void *y,
                                   const void *dy, void *const *dx,
                                   pp_error *err)
{
    (void)x, (void)y, (void)err;
    float *g = dx[0];
    const float *d = dy;
    for (size_t i = 0; i < pp_tensor_bytes(&c->in[0]) / sizeof *g *
                           (size_t)c->n; i++)
        g[i] += d[i];
    return PP_OK;
}

static const pp_layer_kernels identity_cpu = {
    .forward = identity_forward, .backward_input = identity_backward};

static const pp_layer_ops identity_ops = {
    .inputs = 1, .plan = identity_plan, .cpu = &identity_cpu};

/* A descriptor with every field spelled out, to break one at a time. */
#define BROKEN_PLUGIN(magic, major, minor, size, kind, name, ops)           \
    const pp_plugin_desc pipette_plugin = {                                 \
        (magic), (major), (minor), (size), (kind), (name),                  \
        "deliberately broken plugin for tests", NULL, (ops)}

#endif
