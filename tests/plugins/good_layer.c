/* tests/plugins/good_layer.c - a valid layer plugin (identity). */
#include "broken.h"

PP_PLUGIN(PP_KIND_LAYER, "good_layer", "identity layer for tests", NULL,
          &identity_ops);
