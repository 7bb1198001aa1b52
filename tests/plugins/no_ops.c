/* tests/plugins/no_ops.c - no function table. */
#include "broken.h"

BROKEN_PLUGIN(PP_PLUGIN_MAGIC, PP_ABI_MAJOR, PP_ABI_MINOR,
              sizeof(pp_plugin_desc),
              PP_KIND_LAYER, "no_ops", NULL);
