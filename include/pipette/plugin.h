/* pipette/plugin.h - the one thing every plugin exports.
 *
 * A plugin is a shared object exporting exactly one symbol, `pipette_plugin`,
 * a const pp_plugin_desc. The host checks, in this order: the magic, the ABI
 * major (must equal the host's), the ABI minor (must not be newer than the
 * host's), the struct size, the kind, the name (the name it was looked up
 * by, which is the file's name without ".so"), then the kind's function
 * table. Each refusal names the file and both values.
 *
 * A name is 1 to 64 of a-z, 0-9, '_', '-' and '.', starting with a letter
 * or digit, with no ".." in it: config files name plugins, and a name is
 * never a path.
 *
 * Declare a plugin with PP_PLUGIN(), never by filling the struct by hand, so
 * that the ABI numbers and size are those of the headers it was built with.
 */
#ifndef PIPETTE_PLUGIN_H
#define PIPETTE_PLUGIN_H

#include <stdint.h>

#include <pipette/config.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PP_PLUGIN_MAGIC 0x50495045u /* "PIPE" */
#define PP_PLUGIN_SYMBOL "pipette_plugin"

/* Major: bumped when a change breaks built plugins (they are refused).
 * Minor: bumped when something is added; a host accepts plugins built for
 * its own minor or an older one. The descriptor itself never changes
 * within a major; the kinds' function tables grow only at their end, and
 * the host reads a field added in minor N only from plugins whose
 * abi_minor is N or more.
 *
 * This is the one changelog of the SDK.
 *
 * 2.3: ranks in several processes. A new kind, job (pipette/job.h):
 *      detects the launcher that started the process (mpirun), joins
 *      its job and exchanges bytes between the processes. Transport
 *      tables gained create_job and open_job, which a transport whose
 *      reach has PP_REACH_PROCESSES must fill for each half it fills
 *      (pp_transport_job: this process and each rank's), and optional
 *      group_open and sum_async (both or neither, stream-ordered): a
 *      group's sum on the ranks' streams (an all-reduce), which the
 *      runtime uses for a replicas' gradients where the transport
 *      carries every pair of the group.
 * 2.2: pp_device_ops gained sumsq_async and clip_async, which clip the
 *      gradients by their global norm (and sum it to check it before
 *      every step); a device built for 2.1 runs every model that does not
 *      set [train] grad_clip or on_nonfinite = skip, and stops on a loss
 *      that is not finite only after the step. pp_layer_plan gained
 *      backward_flops, for a backward that costs other than the
 *      estimate (partition = flops).
 * 2.1: precision. pp_layer_ops gained precisions (those its kernels run),
 *      pp_layer_plan precision (the model's, set before plan) and
 *      pp_layer_call precision and param_bf16 (the weights' bf16 copy).
 *      pp_optimizer_ops gained precisions, pp_optimizer_call param_bf16
 *      (which a step writes in the same pass). pipette/bf16.h reads and
 *      writes bf16 values.
 * 2.0: the model is a graph of named tensors. Layers take several inputs
 *      (x and dx are arrays, pp_layer_ops.inputs says how many), add to
 *      their inputs' gradients (+=) instead of writing them, read their
 *      parameters as const, declare parameters with pp_layer_param()
 *      (with PP_PARAM_NO_DECAY) and their kernels' numbers with
 *      pp_layer_args() instead of fixed arrays, get a workspace, and may
 *      keep state across calls (init, destroy). Activations and their
 *      gradients are void * (the tensor's dtype says what they hold), and
 *      PP_BF16 is a dtype. Shapes hold up to 8 dimensions. Optimizers
 *      keep their numbers with pp_optimizer_args() and step a stage's
 *      parameters in two groups, with and without weight decay (ndecay).
 *      Devices add add_async (the sum of a shared parameter's gradients)
 *      and lose fill, scale and axpy, which nothing called. Devices and
 *      transports are resolved by name like every kind: a device table
 *      begins with memory (where its buffers live, a PP_MEMORY_* kind;
 *      cpu is a built-in device found by name), a transport table with
 *      what it connects (memory, reach, needs, order, cost), from which
 *      transport = auto routes each direction (pipette/transport.h).
 *      Schedules get a pp_schedule_call (p, m, v and their own keys'
 *      values, read by an optional plan from [pipeline]).
 *      Everything 1.1 to 1.3 added is part of 2.0.
 * 1.3: transport tables gained check (failures met on a device).
 * 1.2: device tables gained events and page-locked host memory; transport
 *      tables gained their stream-ordered half (open, send_async,
 *      recv_async) for device memory.
 * 1.1: layer tables gained their kernels (cpu, cuda); optimizer, data and
 *      transport tables were defined. */
#define PP_ABI_MAJOR 2
#define PP_ABI_MINOR 3

typedef enum pp_plugin_kind {
    PP_KIND_LAYER = 1,
    PP_KIND_SCHEDULE,
    PP_KIND_TRANSPORT,
    PP_KIND_OPTIMIZER,
    PP_KIND_DATA,
    PP_KIND_DEVICE,
    PP_KIND_JOB,
    PP_KIND_COUNT_ /* one past the last kind */
} pp_plugin_kind;

typedef struct pp_plugin_desc {
    uint32_t magic;           /* PP_PLUGIN_MAGIC */
    uint16_t abi_major;       /* PP_ABI_MAJOR at build time */
    uint16_t abi_minor;       /* PP_ABI_MINOR at build time */
    uint32_t size;            /* sizeof(pp_plugin_desc) at build time */
    uint32_t kind;            /* a pp_plugin_kind */
    const char *name;         /* what a config names it by; the file is NAME.so */
    const char *description;  /* one line, shown by `pipette plugins` */
    const pp_key *keys;       /* the config keys it reads, or NULL; ends with {0} */
    const void *ops;          /* the kind's function table (layer.h, device.h, ...) */
} pp_plugin_desc;

#define PP_PLUGIN(kind_, name_, description_, keys_, ops_)                  \
    const pp_plugin_desc pipette_plugin = {                                 \
        PP_PLUGIN_MAGIC, PP_ABI_MAJOR, PP_ABI_MINOR,                        \
        (uint32_t)sizeof(pp_plugin_desc), (uint32_t)(kind_), (name_),       \
        (description_), (keys_), (ops_)}

/* "layer", "schedule", ..., "job", or NULL for a value outside pp_plugin_kind. */
const char *pp_plugin_kind_name(uint32_t kind);

#ifdef __cplusplus
}
#endif

#endif
