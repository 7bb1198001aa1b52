/* tests/plugins/bad_kind.c - a kind the host does not know. */
#include "broken.h"

BROKEN_PLUGIN(PP_PLUGIN_MAGIC, PP_ABI_MAJOR, PP_ABI_MINOR,
              sizeof(pp_plugin_desc),
              99, "bad_kind", &identity_ops);
