/* src/plugin_tables.c - what each kind's function table must fill, checked
 * when a plugin loads, and the one place that knows which fields each ABI
 * minor added: the rest of pipette reads a plugin's table through
 * pp_plugin.ops, sized for this host, and never asks a minor.
 *
 * A required entry left NULL is refused at load, naming the file, the
 * kind, the plugin and the field, rather than found as a crash (a NULL
 * plan) or as silence (a layer that cannot pass a gradient back) in the
 * middle of a run. Entries that only some models need (a layer's
 * backward_input, its backward_weight) are checked where the model says
 * whether they are needed (graph.c).
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pipette/pipette.h>

#include "registry.h"

/* A field of a table, by offset: what to check, and what to call it. A
 * FIELD is a pointer, set when not NULL; a VALUE a number, set when not
 * 0. */
typedef struct field {
    size_t off, size;
    int value;
    const char *name;
} field;

#define FIELD(type, f) {offsetof(type, f), sizeof(((type *)0)->f), 0, #f}
#define VALUE(type, f) {offsetof(type, f), sizeof(((type *)0)->f), 1, #f}

static const field schedule_fields[] = {
    FIELD(pp_schedule_ops, check), FIELD(pp_schedule_ops, rank_of_stage),
    FIELD(pp_schedule_ops, tasks), {0, 0, 0, NULL}};
static const field optimizer_fields[] = {
    FIELD(pp_optimizer_ops, plan), FIELD(pp_optimizer_ops, step_cpu),
    {0, 0, 0, NULL}};
static const field data_fields[] = {
    FIELD(pp_data_ops, open), FIELD(pp_data_ops, read),
    FIELD(pp_data_ops, close), {0, 0, 0, NULL}};
static const field device_fields[] = {
    VALUE(pp_device_ops, memory), FIELD(pp_device_ops, count),
    FIELD(pp_device_ops, info), FIELD(pp_device_ops, versions),
    FIELD(pp_device_ops, alloc), FIELD(pp_device_ops, release),
    FIELD(pp_device_ops, copy), FIELD(pp_device_ops, use),
    FIELD(pp_device_ops, rank_open),
    FIELD(pp_device_ops, rank_close), FIELD(pp_device_ops, copy_async),
    FIELD(pp_device_ops, zero_async), FIELD(pp_device_ops, sync),
    FIELD(pp_device_ops, event_create), FIELD(pp_device_ops, event_destroy),
    FIELD(pp_device_ops, event_record), FIELD(pp_device_ops, event_wait),
    FIELD(pp_device_ops, event_sync), FIELD(pp_device_ops, event_elapsed),
    FIELD(pp_device_ops, host_alloc), FIELD(pp_device_ops, host_release),
    FIELD(pp_device_ops, add_async), {0, 0, 0, NULL}};
static const field transport_fields[] = {
    VALUE(pp_transport_ops, memory), VALUE(pp_transport_ops, reach),
    VALUE(pp_transport_ops, cost), FIELD(pp_transport_ops, destroy),
    FIELD(pp_transport_ops, abort), {0, 0, 0, NULL}};
static const field job_fields[] = {
    FIELD(pp_job_ops, detect), FIELD(pp_job_ops, init),
    FIELD(pp_job_ops, allgather), FIELD(pp_job_ops, abort),
    FIELD(pp_job_ops, finalize), {0, 0, 0, NULL}};
static const field layer_fields[] = {
    FIELD(pp_layer_ops, plan), FIELD(pp_layer_ops, cpu), {0, 0, 0, NULL}};
static const field kernel_fields[] = {
    FIELD(pp_layer_kernels, forward), {0, 0, 0, NULL}};

/* The bits of each mask that this ABI knows. */
static const unsigned memory_kinds = PP_MEMORY_HOST | PP_MEMORY_CUDA;
static const unsigned reach_kinds = PP_REACH_THREADS | PP_REACH_PROCESSES;
static const unsigned needs_kinds = PP_NEEDS_TWO_DEVICES;
static const unsigned precision_kinds = PP_PRECISION_BIT(PP_PRECISION_FP32) |
                                        PP_PRECISION_BIT(PP_PRECISION_TF32) |
                                        PP_PRECISION_BIT(PP_PRECISION_BF16);

unsigned pp_plugin_precisions(const pp_plugin *p)
{
    unsigned set = precision_kinds;
    if (p->desc->kind == PP_KIND_LAYER)
        set = ((const pp_layer_ops *)p->ops)->precisions;
    else if (p->desc->kind == PP_KIND_OPTIMIZER)
        set = ((const pp_optimizer_ops *)p->ops)->precisions;
    return set ? set : PP_PRECISION_BIT(PP_PRECISION_FP32) |
                           PP_PRECISION_BIT(PP_PRECISION_TF32);
}

const char *pp_precisions_text(unsigned set, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int p = PP_PRECISION_FP32; p <= PP_PRECISION_BF16; p++)
        if (set & PP_PRECISION_BIT(p) && used < size)
            used += (size_t)snprintf(buf + used, size - used, "%s%s",
                                     used ? ", " : "",
                                     pp_precision_name((pp_precision)p));
    return buf;
}

/* A set of precisions this ABI knows. */
static pp_status known_precisions(const pp_plugin_desc *d, const char *path,
                                  unsigned set, const char *header,
                                  pp_error *err)
{
    if (!(set & ~precision_kinds))
        return PP_OK;
    return pp_error_set(err, PP_ERR_PLUGIN,
        "%s: %s plugin '%s' says precisions 0x%x, which this pipette does "
        "not know (pipette/%s.h)", path, pp_plugin_kind_name(d->kind),
        d->name, set, header);
}

/* Whether field f of table is set (a NULL pointer or a 0 is all zero
 * bytes). */
static int is_set(const void *table, const field *f)
{
    const unsigned char *p = (const unsigned char *)table + f->off;
    for (size_t i = 0; i < f->size; i++)
        if (p[i])
            return 1;
    return 0;
}

static pp_status missing(const pp_plugin_desc *d, const char *path,
                         const char *prefix, const field *f,
                         const char *header, pp_error *err)
{
    return pp_error_set(err, PP_ERR_PLUGIN,
        "%s: %s plugin '%s' leaves %s%s %s, which it must %s "
        "(pipette/%s.h)", path, pp_plugin_kind_name(d->kind), d->name,
        prefix, f->name, f->value ? "0" : "NULL", f->value ? "set" : "fill",
        header);
}

/* The first of `fields` that table leaves NULL, refused. */
static pp_status require(const pp_plugin_desc *d, const char *path,
                         const void *table, const field *fields,
                         const char *prefix, const char *header,
                         pp_error *err)
{
    for (const field *f = fields; f->name; f++)
        if (!is_set(table, f))
            return missing(d, path, prefix, f, header, err);
    return PP_OK;
}

/* Entries that go together (a transport's half, its sum) must be
 * whole: all of names, or none. */
static pp_status whole_half(const pp_plugin_desc *d, const char *path,
                            const void *table, const field *half,
                            int *filled, pp_error *err)
{
    int set = 0, n = 0;
    for (const field *f = half; f->name; f++, n++)
        set += is_set(table, f);
    *filled = set > 0;
    if (set == 0 || set == n)
        return PP_OK;
    return require(d, path, table, half, "", "transport", err);
}

static pp_status check_layer(const pp_plugin_desc *d, const char *path,
                             const pp_layer_ops *ops, pp_error *err)
{
    if (require(d, path, ops, layer_fields, "", "layer", err))
        return err->code;
    const pp_layer_kernels *k[2] = {ops->cpu, ops->cuda};
    const char *prefix[2] = {"cpu.", "cuda."};
    for (int i = 0; i < 2; i++) {
        if (!k[i])
            continue;
        if (require(d, path, k[i], kernel_fields, prefix[i], "layer", err))
            return err->code;
        static const field destroy = {0, 0, 0, "destroy (it fills init)"};
        if (k[i]->init && !k[i]->destroy)
            return missing(d, path, prefix[i], &destroy, "layer", err);
    }
    if (known_precisions(d, path, ops->precisions, "layer", err))
        return err->code;
    if (ops->inputs < PP_INPUTS_ANY)
        return pp_error_set(err, PP_ERR_PLUGIN,
            "%s: layer plugin '%s' takes %d inputs: inputs is a count (0 "
            "means 1), or PP_INPUTS_ANY", path, d->name, ops->inputs);
    return PP_OK;
}

static pp_status check_transport(const pp_plugin_desc *d, const char *path,
                                 const void *table, pp_error *err)
{
    static const field host[] = {
        FIELD(pp_transport_ops, create), FIELD(pp_transport_ops, send),
        FIELD(pp_transport_ops, recv), {0, 0, 0, NULL}};
    static const field streamed[] = {
        FIELD(pp_transport_ops, open), FIELD(pp_transport_ops, send_async),
        FIELD(pp_transport_ops, recv_async), {0, 0, 0, NULL}};
    const pp_transport_ops *ops = table;
    int a, b;
    if (require(d, path, table, transport_fields, "", "transport", err) ||
        whole_half(d, path, table, host, &a, err) ||
        whole_half(d, path, table, streamed, &b, err))
        return err->code;
    if (!a && !b)
        return pp_error_set(err, PP_ERR_PLUGIN,
            "%s: transport plugin '%s' fills neither half: create, send and "
            "recv (host memory), or open, send_async and recv_async "
            "(stream-ordered) (pipette/transport.h)", path, d->name);
    const char *odd = ops->memory & ~memory_kinds ? "memory"
                    : ops->reach & ~reach_kinds   ? "reach"
                    : ops->needs & ~needs_kinds   ? "needs"
                    : ops->order > PP_ORDER_SENT  ? "order" : NULL;
    if (odd)
        return pp_error_set(err, PP_ERR_PLUGIN,
            "%s: transport plugin '%s' says %s values this pipette does not "
            "know (pipette/transport.h)", path, d->name, odd);
    if (!b && ops->memory != PP_MEMORY_HOST)
        return pp_error_set(err, PP_ERR_PLUGIN,
            "%s: transport plugin '%s' fills only the host half, which moves "
            "host memory: its memory must be PP_MEMORY_HOST "
            "(pipette/transport.h)", path, d->name);
    /* Reaching other processes takes the 2.3 entries that say where each
     * rank is, one for each half filled. A plugin built before 2.3 has
     * neither: it cannot be opened across processes. */
    static const field job_half[2] = {
        {offsetof(pp_transport_ops, create_job),
         sizeof(((pp_transport_ops *)0)->create_job), 0,
         "create_job (its reach has PP_REACH_PROCESSES)"},
        {offsetof(pp_transport_ops, open_job),
         sizeof(((pp_transport_ops *)0)->open_job), 0,
         "open_job (its reach has PP_REACH_PROCESSES)"}};
    if (d->abi_minor >= 3 && ops->reach & PP_REACH_PROCESSES)
        for (int h = 0; h < 2; h++)
            if ((h ? b : a) && !is_set(table, &job_half[h]))
                return missing(d, path, "", &job_half[h], "transport", err);
    /* 2.3's sums come as a pair, on the ranks' streams. */
    static const field sums[] = {
        FIELD(pp_transport_ops, group_open),
        FIELD(pp_transport_ops, sum_async), {0, 0, 0, NULL}};
    int c;
    if (whole_half(d, path, table, sums, &c, err))
        return err->code;
    if (c && !b)
        return pp_error_set(err, PP_ERR_PLUGIN,
            "%s: transport plugin '%s' fills group_open and sum_async "
            "without the stream-ordered half they are queued with (open, "
            "send_async, recv_async) (pipette/transport.h)", path, d->name);
    return PP_OK;
}

/* A device's buffers live in one kind of memory that this ABI knows. */
static pp_status check_device(const pp_plugin_desc *d, const char *path,
                              const pp_device_ops *ops, pp_error *err)
{
    static const field clipping[] = {
        FIELD(pp_device_ops, sumsq_async), FIELD(pp_device_ops, clip_async),
        {0, 0, 0, NULL}};
    if (require(d, path, ops, device_fields, "", "device", err) ||
        (d->abi_minor >= 2 &&
         require(d, path, ops, clipping, "", "device", err)))
        return err->code;
    unsigned m = ops->memory;
    if (m & (m - 1) || m & ~memory_kinds)
        return pp_error_set(err, PP_ERR_PLUGIN,
            "%s: device plugin '%s' says its memory is 0x%x: it must be one "
            "PP_MEMORY_* kind (pipette/device.h)", path, d->name, m);
    return PP_OK;
}

pp_status pp_check_table(const pp_plugin_desc *d, const void *table,
                         const char *path, pp_error *err)
{
    switch (d->kind) {
    case PP_KIND_LAYER: return check_layer(d, path, table, err);
    case PP_KIND_SCHEDULE:
        return require(d, path, table, schedule_fields, "", "schedule", err);
    case PP_KIND_TRANSPORT: return check_transport(d, path, table, err);
    case PP_KIND_OPTIMIZER:
        if (require(d, path, table, optimizer_fields, "", "optimizer", err))
            return err->code;
        return known_precisions(d, path,
                                ((const pp_optimizer_ops *)table)->precisions,
                                "optimizer", err);
    case PP_KIND_DATA:
        return require(d, path, table, data_fields, "", "data", err);
    case PP_KIND_DEVICE: return check_device(d, path, table, err);
    case PP_KIND_JOB:
        return require(d, path, table, job_fields, "", "job", err);
    }
    return PP_OK;
}

/* The size of a kind's table as ABI minor `minor` defined it. A field
 * appended in 2.N adds a line here for that kind, and older plugins are
 * read through a copy with it NULL. */
static size_t table_size(uint32_t kind, unsigned minor)
{
    switch (kind) {
    case PP_KIND_LAYER:
        return minor < 1 ? offsetof(pp_layer_ops, precisions)
                         : sizeof(pp_layer_ops);
    case PP_KIND_SCHEDULE: return sizeof(pp_schedule_ops);
    case PP_KIND_TRANSPORT: /* 2.3: create_job to sum_async */
        return minor < 3 ? offsetof(pp_transport_ops, create_job)
                         : sizeof(pp_transport_ops);
    case PP_KIND_OPTIMIZER:
        return minor < 1 ? offsetof(pp_optimizer_ops, precisions)
                         : sizeof(pp_optimizer_ops);
    case PP_KIND_DATA: return sizeof(pp_data_ops);
    case PP_KIND_DEVICE:
        return minor < 2 ? offsetof(pp_device_ops, sumsq_async)
                         : sizeof(pp_device_ops);
    case PP_KIND_JOB: return sizeof(pp_job_ops);
    }
    return 0;
}

const void *pp_host_table(const pp_plugin_desc *d, void **copy)
{
    *copy = NULL;
    size_t have = table_size(d->kind, d->abi_minor);
    size_t want = table_size(d->kind, PP_ABI_MINOR);
    if (have == want)
        return d->ops;
    if (!(*copy = calloc(1, want)))
        return NULL;
    memcpy(*copy, d->ops, have);
    return *copy;
}
