/* src/version.c - the library's version and names of enums. */
#include <config.h>

#include <pipette/pipette.h>

const char *pp_version(void)
{
    return PACKAGE_VERSION;
}

const char *pp_plugin_kind_name(uint32_t kind)
{
    switch (kind) {
    case PP_KIND_LAYER: return "layer";
    case PP_KIND_SCHEDULE: return "schedule";
    case PP_KIND_TRANSPORT: return "transport";
    case PP_KIND_OPTIMIZER: return "optimizer";
    case PP_KIND_DATA: return "data";
    case PP_KIND_DEVICE: return "device";
    case PP_KIND_JOB: return "job";
    }
    return NULL;
}
