/* tests/plugins/olddev.c - the cpu device as a plugin built for ABI 2.1,
 * before devices could sum the gradient norm: it runs every model that
 * does not clip or skip steps that are not finite, and one that does is
 * refused at check. */
#include "broken.h"

static pp_device_ops ops;

__attribute__((constructor)) static void fill(void)
{
    ops = *pp_device_cpu();
    ops.sumsq_async = NULL;
    ops.clip_async = NULL;
}

BROKEN_PLUGIN(PP_PLUGIN_MAGIC, PP_ABI_MAJOR, 1, sizeof(pp_plugin_desc),
              PP_KIND_DEVICE, "olddev", &ops);
