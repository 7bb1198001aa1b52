/* tests/plugins/broken.h - what the deliberately broken plugins share: a
 * layer table that works, so each plugin is wrong in exactly one way. */
#ifndef PP_TESTS_BROKEN_H
#define PP_TESTS_BROKEN_H

#include <pipette/pipette.h>

static pp_status identity_plan(const pp_section *cfg, const pp_tensor_desc *in,
                               int nin, pp_layer_plan *p, pp_error *err)
{
    (void)cfg, (void)nin, (void)err;
    p->out = *in;
    return PP_OK;
}

static const pp_layer_ops identity_ops = {.inputs = 1,
                                          .plan = identity_plan};

/* A descriptor with every field spelled out, to break one at a time. */
#define BROKEN_PLUGIN(magic, major, minor, size, kind, name, ops)           \
    const pp_plugin_desc pipette_plugin = {                                 \
        (magic), (major), (minor), (size), (kind), (name),                  \
        "deliberately broken plugin for tests", NULL, (ops)}

#endif
