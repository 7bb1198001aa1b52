/* src/model.h - a model file, validated and planned.
 *
 * pp_model_load() parses the INI file, checks every section against the
 * core's keys and the keys of the plugin it names, opens those plugins,
 * and walks the layers' shapes from [model] input to the loss. What comes
 * back is consistent: later stages (partitioning, the runtime) need not
 * re-check the file. It never touches a device.
 */
#ifndef PP_CORE_MODEL_H
#define PP_CORE_MODEL_H

#include <stdint.h>

#include <pipette/layer.h>

#include "config_file.h"
#include "plan.h"
#include "registry.h"

typedef enum pp_device_kind { PP_DEV_CPU = 1, PP_DEV_CUDA } pp_device_kind;

typedef struct pp_device_spec {
    pp_device_kind kind;
    int index; /* GPU ordinal for cuda; rank's CPU slot for cpu */
} pp_device_spec;

typedef enum pp_partition {
    PP_PARTITION_PARAMS = 1,
    PP_PARTITION_FLOPS,
    PP_PARTITION_MANUAL
} pp_partition;

typedef struct pp_model_layer {
    const pp_section *section;
    const char *name;
    const pp_plugin *plugin;
    pp_tensor_desc in;
    pp_layer_plan plan;
    int stage; /* -1 unless written (partition = manual) */
} pp_model_layer;

typedef struct pp_model {
    pp_config *cfg;
    pp_registry *registry;

    const char *name;
    pp_tensor_desc input;
    pp_model_layer *layers;
    int nlayers;

    const char *schedule;
    pp_plan *plan;           /* the schedule for these ranks, verified */
    pp_device_spec *devices; /* one per rank */
    int nranks;
    int microbatches;
    int stages_per_rank;
    pp_partition partition;
    const char *transport;
    unsigned char *route;    /* [src * nranks + dst]: routes.h */
    int recompute;

    int has_train;
    int64_t batch, steps, seed, log_every;
    const char *optimizer;
    double lr;
    const char *log, *trace, *checkpoint;

    int has_data;
    const char *source;
} pp_model;

/* On PP_ERR_CONFIG err holds every "FILE:LINE: message" found. */
pp_status pp_model_load(const char *path, pp_model **out, pp_error *err);
void pp_model_free(pp_model *model);

/* Parses a [pipeline] devices list ("cpu*2", "cuda:0,cuda:1"); exposed for
 * tests. On failure returns nonzero with a message in why. */
int pp_parse_devices(const char *text, pp_device_spec **out, int *n,
                     char *why, size_t why_size);

const char *pp_partition_name(pp_partition p);

#endif
