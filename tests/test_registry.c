/* tests/test_registry.c - the plugin loader: every refusal, with its exact
 * message, and the search path's order, shadowing and duplicates. The
 * broken plugins are in tests/plugins/, built by make check. */
#define _GNU_SOURCE
#include <config.h>

#include <check.h>
#include <grp.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <pipette/pipette.h>

#include "registry.h"

#ifndef TEST_PLUGIN_DIR
#error "TEST_PLUGIN_DIR must name the directory of the built test plugins"
#endif

static char *plugin_file(const char *name)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s.so", TEST_PLUGIN_DIR, name);
    return path;
}

/* Loads one test plugin by path; returns its status and leaves the message
 * in err. */
static pp_status load(const char *name, uint32_t kind, pp_error *err)
{
    pp_registry *reg;
    pp_error_clear(err);
    unsetenv("PIPETTE_PLUGIN_PATH");
    ck_assert_int_eq(pp_registry_create(NULL, &reg, err), PP_OK);
    const pp_plugin *p;
    pp_status st = pp_registry_load_file(reg, plugin_file(name), kind, &p,
                                         err);
    pp_registry_free(reg);
    return st;
}

#define EXPECT_REFUSAL(name, kind, ...)                                     \
    do {                                                                    \
        pp_error err_;                                                      \
        char want_[8192];                                                   \
        ck_assert_int_eq(load(name, kind, &err_), PP_ERR_PLUGIN);           \
        snprintf(want_, sizeof want_, __VA_ARGS__);                         \
        ck_assert_str_eq(err_.msg, want_);                                  \
    } while (0)

START_TEST(accepts_good_plugin)
{
    pp_error err;
    ck_assert_int_eq(load("good_layer", PP_KIND_LAYER, &err), PP_OK);
    ck_assert_int_eq(load("good_layer", 0, &err), PP_OK);
}
END_TEST

START_TEST(refuses_no_descriptor)
{
    const char *f = plugin_file("no_descriptor");
    EXPECT_REFUSAL("no_descriptor", 0,
        "%s: no 'pipette_plugin' symbol: not a pipette plugin (declare one "
        "with PP_PLUGIN() and export it)", f);
}
END_TEST

START_TEST(refuses_bad_magic)
{
    EXPECT_REFUSAL("bad_magic", 0,
        "%s: bad magic 0xdeadbeef in 'pipette_plugin' (expected 0x50495045): "
        "not a pipette plugin, or built against a corrupt header",
        plugin_file("bad_magic"));
}
END_TEST

START_TEST(refuses_other_abi_major)
{
    EXPECT_REFUSAL("abi_major", 0,
        "%s: built for plugin ABI %d.0, this pipette has ABI %d.%d (major "
        "versions differ): rebuild the plugin against pipette " PACKAGE_VERSION,
        plugin_file("abi_major"), PP_ABI_MAJOR + 1, PP_ABI_MAJOR,
        PP_ABI_MINOR);
}
END_TEST

/* A plugin built before SDK 2.0 is told what changed and where to read. */
START_TEST(refuses_abi1_plugin)
{
    EXPECT_REFUSAL("abi1_layer", PP_KIND_LAYER,
        "%s: built for plugin ABI 1.3, this pipette has ABI %d.%d (major "
        "versions differ): rebuild the plugin against pipette " PACKAGE_VERSION
        " (pipette/plugin.h says what changed since)",
        plugin_file("abi1_layer"), PP_ABI_MAJOR, PP_ABI_MINOR);
}
END_TEST

/* Every entry a kind must fill, refused by name when left NULL (a
 * pointer) or 0 (a value). A table starts whole (every entry below set;
 * a value to 1, which is valid for each) and loses one entry at a time. */
typedef struct required {
    uint32_t kind;
    size_t off;        /* in the kind's table, or in its cpu kernels */
    int kernels;       /* 1: off is in pp_layer_kernels (cpu.) */
    const char *name;  /* as the message names it */
    size_t value;      /* a value's size; 0 for a pointer */
} required;

#define REQ(kind, type, f) {kind, offsetof(type, f), 0, #f, 0}
#define REQV(kind, type, f) \
    {kind, offsetof(type, f), 0, #f, sizeof(((type *)0)->f)}

static const required required_entries[] = {
    REQ(PP_KIND_LAYER, pp_layer_ops, plan),
    REQ(PP_KIND_LAYER, pp_layer_ops, cpu),
    {PP_KIND_LAYER, offsetof(pp_layer_kernels, forward), 1, "cpu.forward", 0},
    REQ(PP_KIND_SCHEDULE, pp_schedule_ops, check),
    REQ(PP_KIND_SCHEDULE, pp_schedule_ops, rank_of_stage),
    REQ(PP_KIND_SCHEDULE, pp_schedule_ops, tasks),
    REQ(PP_KIND_OPTIMIZER, pp_optimizer_ops, plan),
    REQ(PP_KIND_OPTIMIZER, pp_optimizer_ops, step_cpu),
    REQ(PP_KIND_DATA, pp_data_ops, open),
    REQ(PP_KIND_DATA, pp_data_ops, read),
    REQ(PP_KIND_DATA, pp_data_ops, close),
    REQV(PP_KIND_TRANSPORT, pp_transport_ops, memory),
    REQV(PP_KIND_TRANSPORT, pp_transport_ops, reach),
    REQV(PP_KIND_TRANSPORT, pp_transport_ops, cost),
    REQ(PP_KIND_TRANSPORT, pp_transport_ops, destroy),
    REQ(PP_KIND_TRANSPORT, pp_transport_ops, abort),
    REQ(PP_KIND_TRANSPORT, pp_transport_ops, create),
    REQ(PP_KIND_TRANSPORT, pp_transport_ops, send),
    REQ(PP_KIND_TRANSPORT, pp_transport_ops, recv),
    REQV(PP_KIND_DEVICE, pp_device_ops, memory),
    REQ(PP_KIND_DEVICE, pp_device_ops, count),
    REQ(PP_KIND_DEVICE, pp_device_ops, info),
    REQ(PP_KIND_DEVICE, pp_device_ops, versions),
    REQ(PP_KIND_DEVICE, pp_device_ops, alloc),
    REQ(PP_KIND_DEVICE, pp_device_ops, release),
    REQ(PP_KIND_DEVICE, pp_device_ops, copy),
    REQ(PP_KIND_DEVICE, pp_device_ops, use),
    REQ(PP_KIND_DEVICE, pp_device_ops, rank_open),
    REQ(PP_KIND_DEVICE, pp_device_ops, rank_close),
    REQ(PP_KIND_DEVICE, pp_device_ops, copy_async),
    REQ(PP_KIND_DEVICE, pp_device_ops, zero_async),
    REQ(PP_KIND_DEVICE, pp_device_ops, sync),
    REQ(PP_KIND_DEVICE, pp_device_ops, event_create),
    REQ(PP_KIND_DEVICE, pp_device_ops, event_destroy),
    REQ(PP_KIND_DEVICE, pp_device_ops, event_record),
    REQ(PP_KIND_DEVICE, pp_device_ops, event_wait),
    REQ(PP_KIND_DEVICE, pp_device_ops, event_sync),
    REQ(PP_KIND_DEVICE, pp_device_ops, event_elapsed),
    REQ(PP_KIND_DEVICE, pp_device_ops, host_alloc),
    REQ(PP_KIND_DEVICE, pp_device_ops, host_release),
    REQ(PP_KIND_DEVICE, pp_device_ops, add_async),
    REQ(PP_KIND_DEVICE, pp_device_ops, sumsq_async),
    REQ(PP_KIND_DEVICE, pp_device_ops, clip_async),
    REQ(PP_KIND_JOB, pp_job_ops, detect),
    REQ(PP_KIND_JOB, pp_job_ops, init),
    REQ(PP_KIND_JOB, pp_job_ops, allgather),
    REQ(PP_KIND_JOB, pp_job_ops, abort),
    REQ(PP_KIND_JOB, pp_job_ops, finalize),
};

static void set_ptr(void *table, size_t off, const void *p)
{
    memcpy((char *)table + off, &p, sizeof p);
}

/* Sets r's entry of table to 1 (a value) or a non-NULL p, or clears it. */
static void set_entry(void *table, const required *r, const void *p)
{
    if (!r->value) {
        set_ptr(table, r->off, p);
        return;
    }
    unsigned char *v = (unsigned char *)table + r->off;
    memset(v, 0, r->value);
    if (p) {
        unsigned one = 1; /* every value field is an unsigned */
        ck_assert_uint_eq(r->value, sizeof one);
        memcpy(v, &one, sizeof one);
    }
}

/* Tables of every kind, with every required entry set, and the
 * transport's host-memory half filled. */
typedef struct tables {
    pp_layer_kernels cpu;
    union {
        pp_layer_ops layer;
        pp_schedule_ops schedule;
        pp_optimizer_ops optimizer;
        pp_data_ops data;
        pp_transport_ops transport;
        pp_device_ops device;
        pp_job_ops job;
    } u;
} tables;

static void fill_whole(tables *t, uint32_t kind)
{
    static const char stand_in;  /* any non-NULL address */
    memset(t, 0, sizeof *t);
    for (size_t i = 0; i < sizeof required_entries / sizeof *required_entries;
         i++) {
        const required *r = &required_entries[i];
        if (r->kind == kind)
            set_entry(r->kernels ? (void *)&t->cpu : (void *)&t->u, r,
                      &stand_in);
    }
    if (kind == PP_KIND_LAYER) {
        t->u.layer.cpu = &t->cpu;
        t->u.layer.inputs = 1;
    }
}

static pp_status check_desc(uint32_t kind, const void *ops, pp_error *err)
{
    pp_plugin_desc d = {PP_PLUGIN_MAGIC, PP_ABI_MAJOR, PP_ABI_MINOR,
                        (uint32_t)sizeof(pp_plugin_desc), kind, "t", "", NULL,
                        ops};
    pp_error_clear(err);
    return pp_plugin_check(&d, "/p/t.so", kind, NULL, err);
}

START_TEST(refuses_every_null_required_entry)
{
    for (uint32_t kind = 1; kind < PP_KIND_COUNT_; kind++) {
        tables t;
        pp_error err;
        fill_whole(&t, kind);
        ck_assert_msg(check_desc(kind, &t.u, &err) == PP_OK, "%s: %s",
                      pp_plugin_kind_name(kind), err.msg);
    }
    for (size_t i = 0; i < sizeof required_entries / sizeof *required_entries;
         i++) {
        const required *r = &required_entries[i];
        tables t;
        pp_error err;
        fill_whole(&t, r->kind);
        set_entry(r->kernels ? (void *)&t.cpu : (void *)&t.u, r, NULL);
        ck_assert_int_eq(check_desc(r->kind, &t.u, &err), PP_ERR_PLUGIN);
        char want[512];
        snprintf(want, sizeof want, "/p/t.so: %s plugin 't' leaves %s %s, "
                 "which it must %s (pipette/%s.h)",
                 pp_plugin_kind_name(r->kind), r->name,
                 r->value ? "0" : "NULL", r->value ? "set" : "fill",
                 pp_plugin_kind_name(r->kind));
        ck_assert_str_eq(err.msg, want);
    }
}
END_TEST

/* The entries that depend on each other: a kernels table with init needs
 * destroy, a GPU half needs its forward, a transport fills at least one
 * whole half, and a layer's input count is a count, or any. */
START_TEST(refuses_incomplete_pairs)
{
    tables t;
    pp_error err;
    pp_layer_kernels cuda = {0};

    fill_whole(&t, PP_KIND_LAYER);
    set_ptr(&t.cpu, offsetof(pp_layer_kernels, init), &t);
    ck_assert_int_eq(check_desc(PP_KIND_LAYER, &t.u, &err), PP_ERR_PLUGIN);
    ck_assert_str_eq(err.msg, "/p/t.so: layer plugin 't' leaves cpu.destroy "
                     "(it fills init) NULL, which it must fill "
                     "(pipette/layer.h)");

    fill_whole(&t, PP_KIND_LAYER);
    t.u.layer.cuda = &cuda;
    ck_assert_int_eq(check_desc(PP_KIND_LAYER, &t.u, &err), PP_ERR_PLUGIN);
    ck_assert_str_eq(err.msg, "/p/t.so: layer plugin 't' leaves cuda.forward "
                     "NULL, which it must fill (pipette/layer.h)");

    fill_whole(&t, PP_KIND_LAYER);
    t.u.layer.inputs = -2;
    ck_assert_int_eq(check_desc(PP_KIND_LAYER, &t.u, &err), PP_ERR_PLUGIN);
    ck_assert_str_eq(err.msg, "/p/t.so: layer plugin 't' takes -2 inputs: "
                     "inputs is a count (0 means 1), or PP_INPUTS_ANY");
    t.u.layer.inputs = PP_INPUTS_ANY;
    ck_assert_int_eq(check_desc(PP_KIND_LAYER, &t.u, &err), PP_OK);

    fill_whole(&t, PP_KIND_TRANSPORT);
    t.u.transport.create = NULL;
    t.u.transport.send = NULL;
    t.u.transport.recv = NULL;
    ck_assert_int_eq(check_desc(PP_KIND_TRANSPORT, &t.u, &err),
                     PP_ERR_PLUGIN);
    ck_assert_str_eq(err.msg, "/p/t.so: transport plugin 't' fills neither "
                     "half: create, send and recv (host memory), or open, "
                     "send_async and recv_async (stream-ordered) "
                     "(pipette/transport.h)");
    set_ptr(&t.u, offsetof(pp_transport_ops, open), &t);
    set_ptr(&t.u, offsetof(pp_transport_ops, send_async), &t);
    ck_assert_int_eq(check_desc(PP_KIND_TRANSPORT, &t.u, &err),
                     PP_ERR_PLUGIN);
    ck_assert_str_eq(err.msg, "/p/t.so: transport plugin 't' leaves "
                     "recv_async NULL, which it must fill "
                     "(pipette/transport.h)");
    set_ptr(&t.u, offsetof(pp_transport_ops, recv_async), &t);
    ck_assert_int_eq(check_desc(PP_KIND_TRANSPORT, &t.u, &err), PP_OK);
}
END_TEST

/* A transport that reaches other processes says where each rank is
 * through create_job (host half) or open_job (stream-ordered half), one
 * for each half it fills; one built before 2.3 has neither, and loads. */
START_TEST(refuses_process_reach_without_job_entry)
{
    tables t;
    pp_error err;
    static const char stand_in;
    fill_whole(&t, PP_KIND_TRANSPORT);
    t.u.transport.reach = PP_REACH_PROCESSES;
    ck_assert_int_eq(check_desc(PP_KIND_TRANSPORT, &t.u, &err),
                     PP_ERR_PLUGIN);
    ck_assert_str_eq(err.msg, "/p/t.so: transport plugin 't' leaves "
                     "create_job (its reach has PP_REACH_PROCESSES) NULL, "
                     "which it must fill (pipette/transport.h)");
    set_ptr(&t.u, offsetof(pp_transport_ops, create_job), &stand_in);
    ck_assert_int_eq(check_desc(PP_KIND_TRANSPORT, &t.u, &err), PP_OK);

    set_ptr(&t.u, offsetof(pp_transport_ops, open), &stand_in);
    set_ptr(&t.u, offsetof(pp_transport_ops, send_async), &stand_in);
    set_ptr(&t.u, offsetof(pp_transport_ops, recv_async), &stand_in);
    ck_assert_int_eq(check_desc(PP_KIND_TRANSPORT, &t.u, &err),
                     PP_ERR_PLUGIN);
    ck_assert_str_eq(err.msg, "/p/t.so: transport plugin 't' leaves "
                     "open_job (its reach has PP_REACH_PROCESSES) NULL, "
                     "which it must fill (pipette/transport.h)");
    set_ptr(&t.u, offsetof(pp_transport_ops, open_job), &stand_in);
    ck_assert_int_eq(check_desc(PP_KIND_TRANSPORT, &t.u, &err), PP_OK);

    /* Threads alone need neither. */
    fill_whole(&t, PP_KIND_TRANSPORT);
    t.u.transport.reach = PP_REACH_THREADS;
    ck_assert_int_eq(check_desc(PP_KIND_TRANSPORT, &t.u, &err), PP_OK);

    /* Built for 2.2: read without the 2.3 entries, and not refused. */
    fill_whole(&t, PP_KIND_TRANSPORT);
    t.u.transport.reach = PP_REACH_PROCESSES;
    pp_plugin_desc d = {PP_PLUGIN_MAGIC, PP_ABI_MAJOR, 2,
                        (uint32_t)sizeof(pp_plugin_desc), PP_KIND_TRANSPORT,
                        "t", "", NULL, &t.u};
    pp_error_clear(&err);
    ck_assert_msg(pp_plugin_check(&d, "/p/t.so", PP_KIND_TRANSPORT, NULL,
                                  &err) == PP_OK, "%s", err.msg);
}
END_TEST

/* A transport's own sum (2.3) is group_open and sum_async together, and
 * is queued on the ranks' streams: only with the stream-ordered half. */
START_TEST(refuses_half_a_sum)
{
    tables t;
    pp_error err;
    static const char stand_in;
    fill_whole(&t, PP_KIND_TRANSPORT); /* the host half */
    set_ptr(&t.u, offsetof(pp_transport_ops, group_open), &stand_in);
    ck_assert_int_eq(check_desc(PP_KIND_TRANSPORT, &t.u, &err),
                     PP_ERR_PLUGIN);
    ck_assert_str_eq(err.msg, "/p/t.so: transport plugin 't' leaves "
                     "sum_async NULL, which it must fill "
                     "(pipette/transport.h)");
    set_ptr(&t.u, offsetof(pp_transport_ops, sum_async), &stand_in);
    ck_assert_int_eq(check_desc(PP_KIND_TRANSPORT, &t.u, &err),
                     PP_ERR_PLUGIN);
    ck_assert_str_eq(err.msg, "/p/t.so: transport plugin 't' fills "
                     "group_open and sum_async without the stream-ordered "
                     "half they are queued with (open, send_async, "
                     "recv_async) (pipette/transport.h)");
    set_ptr(&t.u, offsetof(pp_transport_ops, open), &stand_in);
    set_ptr(&t.u, offsetof(pp_transport_ops, send_async), &stand_in);
    set_ptr(&t.u, offsetof(pp_transport_ops, recv_async), &stand_in);
    ck_assert_int_eq(check_desc(PP_KIND_TRANSPORT, &t.u, &err), PP_OK);
}
END_TEST

/* A device built for 2.1 predates clipping: it loads without it (and a
 * model that clips is refused on it, tests/train-cli.sh). */
START_TEST(device_before_clipping)
{
    tables t;
    pp_error err;
    fill_whole(&t, PP_KIND_DEVICE);
    t.u.device.sumsq_async = NULL;
    t.u.device.clip_async = NULL;
    pp_plugin_desc d = {PP_PLUGIN_MAGIC, PP_ABI_MAJOR, 1,
                        (uint32_t)sizeof(pp_plugin_desc), PP_KIND_DEVICE,
                        "t", "", NULL, &t.u};
    pp_error_clear(&err);
    ck_assert_msg(pp_plugin_check(&d, "/p/t.so", PP_KIND_DEVICE, NULL,
                                  &err) == PP_OK, "%s", err.msg);
}
END_TEST

/* What a device or a transport says it connects must be something this
 * pipette can route by: one memory kind for a device, known bits for a
 * transport, and host memory for a transport with the host half only. */
START_TEST(refuses_what_cannot_be_routed_by)
{
    tables t;
    pp_error err;
    fill_whole(&t, PP_KIND_DEVICE);
    t.u.device.memory = PP_MEMORY_HOST | PP_MEMORY_CUDA;
    ck_assert_int_eq(check_desc(PP_KIND_DEVICE, &t.u, &err), PP_ERR_PLUGIN);
    ck_assert_str_eq(err.msg, "/p/t.so: device plugin 't' says its memory is "
                     "0x3: it must be one PP_MEMORY_* kind "
                     "(pipette/device.h)");
    t.u.device.memory = 1u << 7;
    ck_assert_int_eq(check_desc(PP_KIND_DEVICE, &t.u, &err), PP_ERR_PLUGIN);
    t.u.device.memory = PP_MEMORY_CUDA;
    ck_assert_int_eq(check_desc(PP_KIND_DEVICE, &t.u, &err), PP_OK);

    static const struct {
        size_t off;
        unsigned value;
        const char *what;
    } odd[] = {
        {offsetof(pp_transport_ops, memory), 1u << 5, "memory"},
        {offsetof(pp_transport_ops, reach), PP_REACH_THREADS | 1u << 4,
         "reach"},
        {offsetof(pp_transport_ops, needs), 1u << 3, "needs"},
        {offsetof(pp_transport_ops, order), PP_ORDER_SENT + 1, "order"},
    };
    for (size_t i = 0; i < sizeof odd / sizeof *odd; i++) {
        fill_whole(&t, PP_KIND_TRANSPORT);
        memcpy((char *)&t.u + odd[i].off, &odd[i].value, sizeof(unsigned));
        ck_assert_int_eq(check_desc(PP_KIND_TRANSPORT, &t.u, &err),
                         PP_ERR_PLUGIN);
        char want[256];
        snprintf(want, sizeof want, "/p/t.so: transport plugin 't' says %s "
                 "values this pipette does not know (pipette/transport.h)",
                 odd[i].what);
        ck_assert_str_eq(err.msg, want);
    }
    fill_whole(&t, PP_KIND_TRANSPORT);
    t.u.transport.memory = PP_MEMORY_CUDA;
    ck_assert_int_eq(check_desc(PP_KIND_TRANSPORT, &t.u, &err),
                     PP_ERR_PLUGIN);
    ck_assert_str_eq(err.msg, "/p/t.so: transport plugin 't' fills only the "
                     "host half, which moves host memory: its memory must be "
                     "PP_MEMORY_HOST (pipette/transport.h)");
    set_ptr(&t.u, offsetof(pp_transport_ops, open), &t);
    set_ptr(&t.u, offsetof(pp_transport_ops, send_async), &t);
    set_ptr(&t.u, offsetof(pp_transport_ops, recv_async), &t);
    ck_assert_int_eq(check_desc(PP_KIND_TRANSPORT, &t.u, &err), PP_OK);
}
END_TEST

/* cpu is built in, found by name like a plugin file, passes the checks
 * a file would, and no file on the path shadows it. */
START_TEST(cpu_is_a_builtin_device)
{
    setenv("PIPETTE_PLUGIN_PATH", TEST_PLUGIN_DIR, 1);
    pp_registry *reg;
    pp_error err;
    ck_assert_int_eq(pp_registry_create(NULL, &reg, &err), PP_OK);
    const pp_plugin *p;
    ck_assert_int_eq(pp_registry_find(reg, PP_KIND_DEVICE, "cpu", &p, &err),
                     PP_OK);
    ck_assert_ptr_eq(p->ops, pp_device_cpu());
    ck_assert_str_eq(p->path, "built into libpipette");
    ck_assert_int_eq(pp_check_table(p->desc, p->ops, p->path, &err), PP_OK);
    ck_assert_uint_eq(pp_device_cpu()->memory, PP_MEMORY_HOST);
    /* Not a plugin of another kind, and offered when misspelt. */
    ck_assert_int_eq(pp_registry_find(reg, PP_KIND_LAYER, "cpu", &p, &err),
                     PP_ERR_CONFIG);
    ck_assert_int_eq(pp_registry_find(reg, PP_KIND_DEVICE, "cpux", &p, &err),
                     PP_ERR_CONFIG);
    ck_assert_str_eq(err.msg, "no device plugin named 'cpux'; did you mean "
                              "'cpu'?");
    pp_registry_free(reg);
}
END_TEST

START_TEST(refuses_newer_abi_minor)
{
    EXPECT_REFUSAL("abi_minor", 0,
        "%s: built for plugin ABI %d.%d, newer than this pipette's %d.%d: "
        "upgrade pipette or rebuild the plugin against it",
        plugin_file("abi_minor"), PP_ABI_MAJOR, PP_ABI_MINOR + 1,
        PP_ABI_MAJOR, PP_ABI_MINOR);
}
END_TEST

START_TEST(refuses_wrong_size)
{
    EXPECT_REFUSAL("bad_size", 0,
        "%s: descriptor is %zu bytes, expected %zu for ABI %d.%d: declare it "
        "with PP_PLUGIN()",
        plugin_file("bad_size"), sizeof(pp_plugin_desc) - 8,
        sizeof(pp_plugin_desc), PP_ABI_MAJOR, PP_ABI_MINOR);
}
END_TEST

START_TEST(refuses_unknown_kind)
{
    EXPECT_REFUSAL("bad_kind", 0,
        "%s: unknown plugin kind 99 (this pipette knows 1 to %d)",
        plugin_file("bad_kind"), PP_KIND_COUNT_ - 1);
}
END_TEST

START_TEST(refuses_wrong_kind)
{
    EXPECT_REFUSAL("a_schedule", PP_KIND_LAYER,
        "%s: is a schedule plugin, expected a layer plugin",
        plugin_file("a_schedule"));
}
END_TEST

START_TEST(refuses_empty_name)
{
    EXPECT_REFUSAL("empty_name", 0, "%s: layer plugin has an empty name",
                   plugin_file("empty_name"));
}
END_TEST

START_TEST(refuses_name_not_file)
{
    EXPECT_REFUSAL("misnamed", 0,
        "%s: layer plugin is named 'other_name' but its file is "
        "'misnamed.so': name the file after the plugin (other_name.so)",
        plugin_file("misnamed"));
}
END_TEST

START_TEST(refuses_missing_table)
{
    EXPECT_REFUSAL("no_ops", 0,
        "%s: layer plugin 'no_ops' has no function table",
        plugin_file("no_ops"));
}
END_TEST

START_TEST(refuses_transport_file_without_create_job)
{
    EXPECT_REFUSAL("no_create_job", PP_KIND_TRANSPORT,
        "%s: transport plugin 'no_create_job' leaves create_job (its reach "
        "has PP_REACH_PROCESSES) NULL, which it must fill "
        "(pipette/transport.h)", plugin_file("no_create_job"));
}
END_TEST

START_TEST(reports_dlopen_failure_with_hint)
{
    pp_error err;
    ck_assert_int_eq(load("unresolved", 0, &err), PP_ERR_PLUGIN);
    const char *f = plugin_file("unresolved");
    char head[1024], tail[1024];
    snprintf(head, sizeof head, "%s: cannot load: ", f);
    snprintf(tail, sizeof tail,
             " (a library it needs may be missing or not on "
             "LD_LIBRARY_PATH: try 'ldd %s')", f);
    ck_assert_msg(strncmp(err.msg, head, strlen(head)) == 0, "%s", err.msg);
    ck_assert_msg(strstr(err.msg, "pp_tests_symbol_nobody_defines") != NULL,
                  "dlerror() text missing: %s", err.msg);
    size_t n = strlen(err.msg), t = strlen(tail);
    ck_assert(n > t && strcmp(err.msg + n - t, tail) == 0);
}
END_TEST

/* A scratch directory tree of plugin copies, removed by the test. */
static char scratch[64];

static void make_scratch(void)
{
    snprintf(scratch, sizeof scratch, "/tmp/pp-registry-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(scratch));
}

static void place(const char *name, const char *subdir)
{
    char dir[256], cmd[2048];
    snprintf(dir, sizeof dir, "%s/%s", scratch, subdir);
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && cp '%s' '%s/'", dir,
             plugin_file(name), dir);
    ck_assert_int_eq(system(cmd), 0);
}

static void remove_scratch(void)
{
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", scratch);
    ck_assert_int_eq(system(cmd), 0);
}

START_TEST(config_path_comes_before_environment)
{
    make_scratch();
    place("good_layer", "first/layers");
    place("good_layer", "second");
    char first[128], second[128], want[PATH_MAX];
    snprintf(first, sizeof first, "%s/first", scratch);
    snprintf(second, sizeof second, "%s/second", scratch);
    setenv("PIPETTE_PLUGIN_PATH", second, 1);
    pp_registry *reg;
    pp_error err;
    ck_assert_int_eq(pp_registry_create(first, &reg, &err), PP_OK);
    const char *const *dirs;
    ck_assert_uint_ge(pp_registry_dirs(reg, &dirs), 3);
    ck_assert_str_eq(dirs[0], first);
    ck_assert_str_eq(dirs[1], second);
    const pp_plugin *p;
    ck_assert_int_eq(pp_registry_find(reg, PP_KIND_LAYER, "good_layer", &p,
                                      &err), PP_OK);
    snprintf(want, sizeof want, "%s/layers/good_layer.so", first);
    ck_assert_str_eq(p->path, want);
    pp_registry_free(reg);

    /* Without the config's directory the environment's is used. */
    ck_assert_int_eq(pp_registry_create(NULL, &reg, &err), PP_OK);
    ck_assert_int_eq(pp_registry_find(reg, PP_KIND_LAYER, "good_layer", &p,
                                      &err), PP_OK);
    snprintf(want, sizeof want, "%s/good_layer.so", second);
    ck_assert_str_eq(p->path, want);
    pp_registry_free(reg);
    remove_scratch();
}
END_TEST

START_TEST(not_found_suggests_close_name)
{
    setenv("PIPETTE_PLUGIN_PATH", TEST_PLUGIN_DIR, 1);
    pp_registry *reg;
    pp_error err;
    ck_assert_int_eq(pp_registry_create(NULL, &reg, &err), PP_OK);
    const pp_plugin *p;
    /* A name not found is a config error (exit status 2)... */
    ck_assert_int_eq(pp_registry_find(reg, PP_KIND_LAYER, "good_layr", &p,
                                      &err), PP_ERR_CONFIG);
    ck_assert_str_eq(err.msg, "no layer plugin named 'good_layr'; did you "
                              "mean 'good_layer'?");
    ck_assert_int_eq(pp_registry_find(reg, PP_KIND_LAYER, "zzzzzzzz", &p,
                                      &err), PP_ERR_CONFIG);
    ck_assert_msg(strncmp(err.msg, "no layer plugin named 'zzzzzzzz' "
                          "(searched " TEST_PLUGIN_DIR ":", 40) == 0,
                  "%s", err.msg);
    /* ...a file found but refused, a plugin error: a lookup by kind
     * refuses a plugin of another kind with that name. */
    ck_assert_int_eq(pp_registry_find(reg, PP_KIND_LAYER, "a_schedule", &p,
                                      &err), PP_ERR_PLUGIN);
    ck_assert(strstr(err.msg, "is a schedule plugin, expected a layer") != NULL);
    ck_assert_int_eq(pp_registry_find(reg, PP_KIND_SCHEDULE, "a_schedule",
                                      &p, &err), PP_OK);
    pp_registry_free(reg);
}
END_TEST

/* Counts only files under `under`: the build tree and an installed
 * pipette are on the path too, and their plugins are not this test's. */
struct tally {
    const char *under;
    int accepted, shadowed, refused;
    char refusals[16384];
};

static void count_entry(void *user, const pp_scan_entry *e)
{
    struct tally *t = user;
    if (strncmp(e->path, t->under, strlen(t->under)) != 0)
        return;
    if (e->refusal) {
        t->refused++;
        size_t used = strlen(t->refusals);
        snprintf(t->refusals + used, sizeof t->refusals - used, "%s\n",
                 e->refusal->msg);
    } else if (e->shadowed_by) {
        t->shadowed++;
    } else {
        t->accepted++;
    }
}

START_TEST(scan_shadows_later_dirs_and_refuses_duplicates)
{
    make_scratch();
    place("good_layer", "a");
    place("good_layer", "a/layers");
    place("good_layer", "b");
    char path[2 * PATH_MAX];
    snprintf(path, sizeof path, "%s/a:%s/b", scratch, scratch);
    setenv("PIPETTE_PLUGIN_PATH", path, 1);
    pp_registry *reg;
    pp_error err;
    ck_assert_int_eq(pp_registry_create(NULL, &reg, &err), PP_OK);
    struct tally t = {.under = scratch};
    size_t refused;
    ck_assert_int_eq(pp_registry_scan(reg, count_entry, &t, &refused, &err),
                     PP_OK);
    pp_registry_free(reg);
    char want[16384];
    snprintf(want, sizeof want,
             "%s/a/layers/good_layer.so: duplicate layer plugin 'good_layer': "
             "%s/a/good_layer.so declares it too; remove one of them\n",
             scratch, scratch);
    ck_assert_str_eq(t.refusals, want);
    ck_assert_int_eq(t.refused, 1);
    ck_assert_int_eq(t.shadowed, 1);
    ck_assert_int_eq(t.accepted, 1);
    remove_scratch();
}
END_TEST

START_TEST(scan_reports_every_broken_plugin)
{
    setenv("PIPETTE_PLUGIN_PATH", TEST_PLUGIN_DIR, 1);
    pp_registry *reg;
    pp_error err;
    ck_assert_int_eq(pp_registry_create(NULL, &reg, &err), PP_OK);
    struct tally t = {.under = TEST_PLUGIN_DIR};
    size_t refused;
    ck_assert_int_eq(pp_registry_scan(reg, count_entry, &t, &refused, &err),
                     PP_OK);
    pp_registry_free(reg);
    ck_assert_uint_ge(refused, 12);
    /* no_descriptor bad_magic abi_major abi1_layer abi_minor bad_size
     * bad_kind empty_name misnamed no_ops unresolved no_create_job */
    ck_assert_int_eq(t.refused, 12);
    /* good_layer, a_schedule, wild_ids, stateful, no_backward, bad_grad,
     * bad_bf16, olddev */
    ck_assert_int_eq(t.accepted, 8);
    ck_assert(strstr(t.refusals, "good_layer") == NULL);
}
END_TEST

/* A name is never a path: what a model or command line writes becomes a
 * file name only when it is 1 to 64 of [a-z0-9_.-], from [a-z0-9], with
 * no "..". */
START_TEST(names_are_not_paths)
{
    static const char *const good[] = {"linear", "1f1b", "zb-h1", "mpi-job",
                                       "good_layer", "a.b", "x."};
    static const char *const bad[] = {"", "../x", "a/b", "..", "a..b",
                                      ".hidden", "-x", "_x", "Linear",
                                      "a b", "a\\b", "/abs", "caf\xc3\xa9"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        ck_assert_msg(pp_plugin_name_ok(good[i]), "%s", good[i]);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        ck_assert_msg(!pp_plugin_name_ok(bad[i]), "%s", bad[i]);
    char longest[PP_PLUGIN_NAME_MAX + 2];
    memset(longest, 'a', sizeof longest);
    longest[PP_PLUGIN_NAME_MAX] = '\0';
    ck_assert(pp_plugin_name_ok(longest));
    longest[PP_PLUGIN_NAME_MAX] = 'a';
    longest[PP_PLUGIN_NAME_MAX + 1] = '\0';
    ck_assert(!pp_plugin_name_ok(longest));

    /* A path to a real plugin file finds nothing, and says why. */
    setenv("PIPETTE_PLUGIN_PATH", TEST_PLUGIN_DIR, 1);
    pp_registry *reg;
    pp_error err;
    ck_assert_int_eq(pp_registry_create(NULL, &reg, &err), PP_OK);
    const pp_plugin *p;
    char path[PATH_MAX];
    ck_assert(!pp_registry_locate(reg, PP_KIND_LAYER, "../.libs/good_layer",
                                  path, sizeof path));
    ck_assert_int_eq(pp_registry_find(reg, PP_KIND_LAYER,
                                      "../.libs/good_layer", &p, &err),
                     PP_ERR_CONFIG);
    ck_assert_str_eq(err.msg, "'../.libs/good_layer' is not a plugin name: "
                     "plugins are found by name, never by path, and a name "
                     "is 1 to 64 lowercase letters, digits, '_', '-' or '.', "
                     "starting with a letter or digit, without '..'");
    ck_assert_int_eq(pp_registry_find(reg, PP_KIND_LAYER, "Good_layer", &p,
                                      &err), PP_ERR_CONFIG);
    ck_assert(strstr(err.msg, "; did you mean 'good_layer'?") != NULL);
    pp_registry_free(reg);
}
END_TEST

/* The descriptor's name is the name asked for, and the file's. */
START_TEST(refuses_name_not_asked)
{
    tables t;
    fill_whole(&t, PP_KIND_TRANSPORT);
    t.u.transport.reach = PP_REACH_THREADS;
    pp_plugin_desc d = {PP_PLUGIN_MAGIC, PP_ABI_MAJOR, PP_ABI_MINOR,
                        (uint32_t)sizeof(pp_plugin_desc), PP_KIND_TRANSPORT,
                        "t", "", NULL, &t.u};
    pp_error err;
    pp_error_clear(&err);
    ck_assert_int_eq(pp_plugin_check(&d, "/p/t.so", PP_KIND_TRANSPORT, "u",
                                     &err), PP_ERR_PLUGIN);
    ck_assert_str_eq(err.msg, "/p/t.so: transport plugin is named 't', not "
                              "'u' as asked");
    ck_assert_int_eq(pp_plugin_check(&d, "/p/t.so", PP_KIND_TRANSPORT, "t",
                                     &err), PP_OK);
    /* Asked for by the name of its file, by the registry. */
    setenv("PIPETTE_PLUGIN_PATH", TEST_PLUGIN_DIR, 1);
    pp_registry *reg;
    ck_assert_int_eq(pp_registry_create(NULL, &reg, &err), PP_OK);
    const pp_plugin *p;
    ck_assert_int_eq(pp_registry_find(reg, PP_KIND_LAYER, "misnamed", &p,
                                      &err), PP_ERR_PLUGIN);
    char want[1024];
    snprintf(want, sizeof want, "%s: layer plugin is named 'other_name' but "
             "its file is 'misnamed.so': name the file after the plugin "
             "(other_name.so)", plugin_file("misnamed"));
    ck_assert_str_eq(err.msg, want);
    pp_registry_free(reg);
}
END_TEST

/* pp_registry_load_file's refusal of a scratch file, or "" when it
 * loads; a new registry each time. */
static const char *load_scratch(const char *rel)
{
    static pp_error err;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", scratch, rel);
    pp_registry *reg;
    pp_error_clear(&err);
    ck_assert_int_eq(pp_registry_create(NULL, &reg, &err), PP_OK);
    const pp_plugin *p;
    pp_registry_load_file(reg, path, PP_KIND_LAYER, &p, &err);
    pp_registry_free(reg);
    return err.msg;
}

static void run_cmd(const char *fmt, const char *arg)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, fmt, arg, arg);
    ck_assert_msg(system(cmd) == 0, "%s", cmd);
}

/* Files and directories that another user than you and root could
 * change are refused, as OpenSSH's StrictModes refuses them: the file,
 * its directory (even sticky), and those above it up to / (where a
 * sticky one, as /tmp, may be writable). */
START_TEST(refuses_what_others_can_change)
{
    make_scratch();
    unsetenv("PIPETTE_PLUGIN_PATH");
    place("good_layer", "a/b");
    char dir[256], want[2048];
    snprintf(dir, sizeof dir, "%s/a/b", scratch);
    ck_assert_str_eq(load_scratch("a/b/good_layer.so"), "");
    chmod(dir, 0777);
    snprintf(want, sizeof want, "%s/good_layer.so: its directory %s is "
             "writable by anyone (mode 0777): another user could put code "
             "there that pipette would run; chmod go-w %s", dir, dir, dir);
    ck_assert_str_eq(load_scratch("a/b/good_layer.so"), want);
    chmod(dir, 01777);
    ck_assert(strstr(load_scratch("a/b/good_layer.so"), "(mode 1777)"));
    chmod(dir, 0755);
    /* Above the file's directory: sticky is enough. */
    snprintf(dir, sizeof dir, "%s/a", scratch);
    chmod(dir, 01777);
    ck_assert_str_eq(load_scratch("a/b/good_layer.so"), "");
    chmod(dir, 0777);
    snprintf(want, sizeof want, "%s/b/good_layer.so: its directory %s is "
             "writable by anyone (mode 0777): another user could put code "
             "there that pipette would run; chmod go-w %s", dir, dir, dir);
    ck_assert_str_eq(load_scratch("a/b/good_layer.so"), want);
    chmod(dir, 0755);
    /* A link from a directory anyone can write to is refused there. */
    snprintf(dir, sizeof dir, "%s/c", scratch);
    run_cmd("mkdir -m 777 '%s' && ln -s ../a/b/good_layer.so "
            "'%s/good_layer.so'", dir);
    snprintf(want, sizeof want, "%s/good_layer.so: its directory %s is "
             "writable by anyone (mode 0777): another user could put code "
             "there that pipette would run; chmod go-w %s", dir, dir, dir);
    ck_assert_str_eq(load_scratch("c/good_layer.so"), want);
    /* The file itself. */
    snprintf(dir, sizeof dir, "%s/a/b/good_layer.so", scratch);
    chmod(dir, 0646);
    snprintf(want, sizeof want, "%s: writable by anyone (mode 0646): another "
             "user could change the code pipette would run; chmod go-w %s",
             dir, dir);
    ck_assert_str_eq(load_scratch("a/b/good_layer.so"), want);
    chmod(dir, 0755);
    ck_assert_str_eq(load_scratch("a/b/good_layer.so"), "");
    /* Another owner, and a group that is not the owner's own, where this
     * test may set them (as root). */
    if (geteuid() == 0) {
        ck_assert_int_eq(chown(dir, 65534, (gid_t)-1), 0);
        ck_assert(strstr(load_scratch("a/b/good_layer.so"),
                         "uid 65534"));
        ck_assert(strstr(load_scratch("a/b/good_layer.so"),
                         ", not by you or root: that user could change the "
                         "code pipette would run"));
        ck_assert_int_eq(chown(dir, 0, 1), 0); /* group 1: daemon */
        chmod(dir, 0775);
        ck_assert(strstr(load_scratch("a/b/good_layer.so"),
                         "writable by group ") != NULL);
        ck_assert(strstr(load_scratch("a/b/good_layer.so"), "(mode 0775)"));
        /* Root's own group, where it is private (named root, no one
         * listed in it), is root's: umask 002 makes no refusal. */
        struct group *g = getgrgid(0);
        if (g && strcmp(g->gr_name, "root") == 0 && !g->gr_mem[0]) {
            ck_assert_int_eq(chown(dir, 0, 0), 0);
            ck_assert_str_eq(load_scratch("a/b/good_layer.so"), "");
        }
    }
    remove_scratch();
}
END_TEST

/* What dlopen must not see: a FIFO (it would block), a directory, a
 * truncated object (its pages past the end are SIGBUS). */
START_TEST(refuses_what_is_not_a_whole_file)
{
    make_scratch();
    unsetenv("PIPETTE_PLUGIN_PATH");
    char path[256], want[1024];
    snprintf(path, sizeof path, "%s/fifo.so", scratch);
    ck_assert_int_eq(mkfifo(path, 0644), 0);
    snprintf(want, sizeof want, "%s: a FIFO, not a regular file: a plugin "
             "is a shared object file", path);
    ck_assert_str_eq(load_scratch("fifo.so"), want);
    snprintf(path, sizeof path, "%s/dir.so", scratch);
    ck_assert_int_eq(mkdir(path, 0755), 0);
    ck_assert(strstr(load_scratch("dir.so"), ": a directory, not a regular "
                     "file"));
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "head -c 4000 '%s' >'%s/cut.so'",
             plugin_file("good_layer"), scratch);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(path, sizeof path, "%s/cut.so", scratch);
    const char *msg = load_scratch("cut.so");
    snprintf(want, sizeof want, "%s: truncated or damaged: its ELF program "
             "headers describe ", path);
    ck_assert_msg(strncmp(msg, want, strlen(want)) == 0, "%s", msg);
    ck_assert(strstr(msg, " bytes, the file has 4000: rebuild or reinstall "
                     "it") != NULL);
    remove_scratch();
}
END_TEST

/* A relative directory on the path would find other plugins wherever
 * pipette runs; refused. */
START_TEST(refuses_relative_directories)
{
    pp_registry *reg;
    pp_error err;
    setenv("PIPETTE_PLUGIN_PATH", "/abs::rel/plugins", 1);
    ck_assert_int_eq(pp_registry_create(NULL, &reg, &err), PP_ERR_USAGE);
    ck_assert_str_eq(err.msg, "PIPETTE_PLUGIN_PATH: 'rel/plugins' is a "
                     "relative directory: plugins are searched only in "
                     "absolute ones (one relative to wherever pipette runs "
                     "could load other code there)");
    unsetenv("PIPETTE_PLUGIN_PATH");
    ck_assert_int_eq(pp_registry_create(".", &reg, &err), PP_ERR_USAGE);
    ck_assert(strncmp(err.msg, "plugin_path: '.' is a relative", 30) == 0);
    /* Empty entries are skipped. */
    setenv("PIPETTE_PLUGIN_PATH", ":" TEST_PLUGIN_DIR ":", 1);
    ck_assert_int_eq(pp_registry_create(NULL, &reg, &err), PP_OK);
    const char *const *dirs;
    ck_assert_uint_ge(pp_registry_dirs(reg, &dirs), 2);
    ck_assert_str_eq(dirs[0], TEST_PLUGIN_DIR);
    pp_registry_free(reg);
}
END_TEST

/* Ignored directories are never opened, only named where they hold a
 * plugin that is not found. */
START_TEST(ignored_directories_are_named)
{
    unsetenv("PIPETTE_PLUGIN_PATH");
    pp_registry *reg;
    pp_error err;
    ck_assert_int_eq(pp_registry_create(NULL, &reg, &err), PP_OK);
    ck_assert_int_eq(pp_registry_ignore(reg, TEST_PLUGIN_DIR, "a place "
                                        "ignored", &err), PP_OK);
    const pp_plugin *p;
    ck_assert_int_eq(pp_registry_find(reg, PP_KIND_LAYER, "good_layer", &p,
                                      &err), PP_ERR_PLUGIN);
    char want[1024];
    snprintf(want, sizeof want, "no layer plugin named 'good_layer' on the "
             "search path; %s is in a place ignored",
             plugin_file("good_layer"));
    ck_assert_str_eq(err.msg, want);
    ck_assert_int_eq(pp_registry_find(reg, PP_KIND_LAYER, "linear", &p,
                                      &err), PP_OK);
    pp_registry_free(reg);
}
END_TEST

START_TEST(error_list_summarises_overflow)
{
    pp_error err;
    pp_error_clear(&err);
    for (int i = 0; i < 500; i++)
        pp_error_add(&err, PP_ERR_CONFIG, "f.ini:%d: problem number %d", i, i);
    ck_assert_int_eq(err.code, PP_ERR_CONFIG);
    ck_assert_uint_eq(err.count, 500);
    ck_assert_uint_lt(strlen(err.msg), PP_ERROR_MAX);
    const char *last = strrchr(err.msg, '\n');
    ck_assert_ptr_nonnull(last);
    int shown = 1;
    for (const char *c = err.msg; *c; c++)
        shown += *c == '\n';
    char want[64];
    snprintf(want, sizeof want, "\n... and %d more errors", 500 - (shown - 1));
    ck_assert_str_eq(last, want);
}
END_TEST

static Suite *registry_suite(void)
{
    Suite *s = suite_create("registry");
    TCase *refuse = tcase_create("refusals");
    tcase_add_test(refuse, accepts_good_plugin);
    tcase_add_test(refuse, refuses_no_descriptor);
    tcase_add_test(refuse, refuses_bad_magic);
    tcase_add_test(refuse, refuses_other_abi_major);
    tcase_add_test(refuse, refuses_abi1_plugin);
    tcase_add_test(refuse, refuses_newer_abi_minor);
    tcase_add_test(refuse, device_before_clipping);
    tcase_add_test(refuse, refuses_process_reach_without_job_entry);
    tcase_add_test(refuse, refuses_half_a_sum);
    tcase_add_test(refuse, refuses_transport_file_without_create_job);
    tcase_add_test(refuse, refuses_every_null_required_entry);
    tcase_add_test(refuse, refuses_incomplete_pairs);
    tcase_add_test(refuse, refuses_what_cannot_be_routed_by);
    tcase_add_test(refuse, refuses_wrong_size);
    tcase_add_test(refuse, refuses_unknown_kind);
    tcase_add_test(refuse, refuses_wrong_kind);
    tcase_add_test(refuse, refuses_empty_name);
    tcase_add_test(refuse, refuses_name_not_file);
    tcase_add_test(refuse, refuses_missing_table);
    tcase_add_test(refuse, reports_dlopen_failure_with_hint);
    tcase_add_test(refuse, refuses_name_not_asked);
    suite_add_tcase(s, refuse);
    TCase *safe = tcase_create("nothing others choose");
    tcase_add_test(safe, names_are_not_paths);
    tcase_add_test(safe, refuses_what_others_can_change);
    tcase_add_test(safe, refuses_what_is_not_a_whole_file);
    tcase_add_test(safe, refuses_relative_directories);
    tcase_add_test(safe, ignored_directories_are_named);
    suite_add_tcase(s, safe);
    TCase *path = tcase_create("search path");
    tcase_add_test(path, config_path_comes_before_environment);
    tcase_add_test(path, not_found_suggests_close_name);
    tcase_add_test(path, cpu_is_a_builtin_device);
    tcase_add_test(path, scan_shadows_later_dirs_and_refuses_duplicates);
    tcase_add_test(path, scan_reports_every_broken_plugin);
    tcase_add_test(path, error_list_summarises_overflow);
    suite_add_tcase(s, path);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(registry_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
