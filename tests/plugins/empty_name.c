/* tests/plugins/empty_name.c - an empty name. */
#include "broken.h"

BROKEN_PLUGIN(PP_PLUGIN_MAGIC, PP_ABI_MAJOR, PP_ABI_MINOR,
              sizeof(pp_plugin_desc),
              PP_KIND_LAYER, "", &identity_ops);
