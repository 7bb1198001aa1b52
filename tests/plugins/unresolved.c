/* tests/plugins/unresolved.c - needs a symbol nothing provides, so dlopen
 * (RTLD_NOW) fails; linked without --no-undefined on purpose. */
#include "broken.h"

extern int pp_tests_symbol_nobody_defines(void);

static pp_status plan(const pp_section *cfg, const pp_tensor_desc *in,
                      int nin, pp_layer_plan *p, pp_error *err)
{
    (void)cfg, (void)nin, (void)err;
    p->out = *in;
    return pp_tests_symbol_nobody_defines() ? PP_OK : PP_ERR_RUNTIME;
}

static const pp_layer_ops ops = {.plan = plan};

PP_PLUGIN(PP_KIND_LAYER, "unresolved", "needs a missing symbol", NULL, &ops);
