/* tests/plugins/abi_major.c - built for the next ABI major. */
#include "broken.h"

BROKEN_PLUGIN(PP_PLUGIN_MAGIC, PP_ABI_MAJOR + 1, 0,
              sizeof(pp_plugin_desc),
              PP_KIND_LAYER, "abi_major", &identity_ops);
