/* tests/plugins/bad_magic.c - a descriptor with the wrong magic. */
#include "broken.h"

BROKEN_PLUGIN(0xdeadbeefu, PP_ABI_MAJOR, PP_ABI_MINOR,
              sizeof(pp_plugin_desc),
              PP_KIND_LAYER, "bad_magic", &identity_ops);
