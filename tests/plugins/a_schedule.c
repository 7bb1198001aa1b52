/* tests/plugins/a_schedule.c - a schedule-kind plugin, for wrong-kind lookups. */
#include "broken.h"

BROKEN_PLUGIN(PP_PLUGIN_MAGIC, PP_ABI_MAJOR, PP_ABI_MINOR,
              sizeof(pp_plugin_desc),
              PP_KIND_SCHEDULE, "a_schedule", &identity_ops);
