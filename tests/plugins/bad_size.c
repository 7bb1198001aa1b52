/* tests/plugins/bad_size.c - a descriptor whose size is wrong. */
#include "broken.h"

BROKEN_PLUGIN(PP_PLUGIN_MAGIC, PP_ABI_MAJOR, PP_ABI_MINOR,
              sizeof(pp_plugin_desc) - 8,
              PP_KIND_LAYER, "bad_size", &identity_ops);
