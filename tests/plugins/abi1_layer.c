/* tests/plugins/abi1_layer.c - a layer plugin as pipette 0.1 built it:
 * ABI 1.3, whose layer table (one input, fixed arrays) 2.0 replaced. */
#include "broken.h"

BROKEN_PLUGIN(PP_PLUGIN_MAGIC, 1, 3, sizeof(pp_plugin_desc),
              PP_KIND_LAYER, "abi1_layer", &identity_ops);
