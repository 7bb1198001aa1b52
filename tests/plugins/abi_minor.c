/* tests/plugins/abi_minor.c - built for a newer ABI minor than the host. */
#include "broken.h"

BROKEN_PLUGIN(PP_PLUGIN_MAGIC, PP_ABI_MAJOR, PP_ABI_MINOR + 1,
              sizeof(pp_plugin_desc),
              PP_KIND_LAYER, "abi_minor", &identity_ops);
