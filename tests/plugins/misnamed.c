/* tests/plugins/misnamed.c - a name that is not its file's. */
#include "broken.h"

BROKEN_PLUGIN(PP_PLUGIN_MAGIC, PP_ABI_MAJOR, PP_ABI_MINOR,
              sizeof(pp_plugin_desc),
              PP_KIND_LAYER, "other_name", &identity_ops);
