/* src/device_cpu.c - the built-in cpu device: host memory and plain loops.
 *
 * One device (index 0) standing for the whole host. It is the reference the
 * CUDA kernels are tested against, so the loops stay simple and are not
 * vectorised or threaded by hand; speed on CPU comes later from the layers.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <pipette/device.h>
#include <pipette/plugin.h>

#include "registry.h"

/* A cache line: no two tensors share one, and SIMD loads are aligned. */
#define PP_CPU_ALIGN 64

static pp_status check_index(int index, pp_error *err)
{
    if (index != 0)
        return pp_error_set(err, PP_ERR_DEVICE,
                            "cpu device %d does not exist: the cpu device "
                            "has only index 0", index);
    return PP_OK;
}

static pp_status cpu_count(int *n, char *why, size_t why_size, pp_error *err)
{
    (void)err;
    *n = 1;
    if (why && why_size)
        why[0] = '\0';
    return PP_OK;
}

/* The value of the first "key : value" line of a /proc file whose key is
 * exactly `key`, or 0 when the file or the key is missing. */
static int proc_value(const char *file, const char *key, char *out,
                      size_t size)
{
    FILE *f = fopen(file, "r");
    if (!f)
        return 0;
    char line[512];
    int found = 0;
    size_t klen = strlen(key);
    while (!found && fgets(line, sizeof line, f)) {
        if (strncmp(line, key, klen) != 0)
            continue;
        const char *p = line + klen;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p != ':')
            continue; /* a longer key, e.g. "cpu family" for "cpu" */
        p++;
        while (*p == ' ' || *p == '\t')
            p++;
        size_t len = strcspn(p, "\n");
        if (len >= size)
            len = size - 1;
        memcpy(out, p, len);
        out[len] = '\0';
        found = len > 0;
    }
    fclose(f);
    return found;
}

/* A /proc/meminfo field ("MemTotal", ...) in bytes, or 0. */
static uint64_t meminfo_bytes(const char *key)
{
    char value[64];
    if (!proc_value("/proc/meminfo", key, value, sizeof value))
        return 0;
    return strtoull(value, NULL, 10) * 1024; /* the kernel writes kB */
}

static pp_status cpu_info(int index, pp_device_info *out, pp_error *err)
{
    if (check_index(index, err))
        return err->code;
    memset(out, 0, sizeof *out);
    out->index = index;
    /* x86 and arm64 say "model name", POWER says "cpu". */
    if (!proc_value("/proc/cpuinfo", "model name", out->name,
                    sizeof out->name) &&
        !proc_value("/proc/cpuinfo", "cpu", out->name, sizeof out->name))
        snprintf(out->name, sizeof out->name, "cpu");

    long pages = sysconf(_SC_PHYS_PAGES);
    long page_size = sysconf(_SC_PAGESIZE);
    out->total_bytes = meminfo_bytes("MemTotal");
    if (!out->total_bytes && pages > 0 && page_size > 0)
        out->total_bytes = (uint64_t)pages * (uint64_t)page_size;
    /* MemAvailable counts reclaimable page cache; free pages alone
     * (_SC_AVPHYS_PAGES) understate what an allocation can get. */
    out->free_bytes = meminfo_bytes("MemAvailable");
    if (!out->free_bytes) {
        long avail = sysconf(_SC_AVPHYS_PAGES);
        if (avail > 0 && page_size > 0)
            out->free_bytes = (uint64_t)avail * (uint64_t)page_size;
    }
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    out->multiprocessors = cores > 0 ? (int)cores : 1;
    return PP_OK;
}

static void cpu_versions(char *buf, size_t size)
{
    snprintf(buf, size, "cpu: built in\n");
}

static pp_status cpu_alloc(int index, size_t bytes, void **ptr, pp_error *err)
{
    *ptr = NULL;
    if (check_index(index, err))
        return err->code;
    /* Zero bytes still gets a distinct pointer that release accepts, as
     * POSIX leaves posix_memalign(0) free to return NULL. */
    int rc = posix_memalign(ptr, PP_CPU_ALIGN, bytes ? bytes : 1);
    if (rc != 0) {
        *ptr = NULL;
        return pp_error_set(err, PP_ERR_NOMEM,
                            "cpu device: cannot allocate %zu bytes: %s",
                            bytes, strerror(rc));
    }
    return PP_OK;
}

static void cpu_release(int index, void *ptr)
{
    (void)index;
    free(ptr);
}

static pp_status cpu_copy(int index, void *dst, const void *src, size_t bytes,
                          pp_copy_kind kind, pp_error *err)
{
    if (check_index(index, err))
        return err->code;
    if (kind != PP_COPY_HOST_TO_DEVICE && kind != PP_COPY_DEVICE_TO_HOST &&
        kind != PP_COPY_DEVICE_TO_DEVICE)
        return pp_error_set(err, PP_ERR_RUNTIME,
                            "cpu device: unknown copy kind %d", (int)kind);
    if (bytes) /* memcpy with a NULL pointer is undefined even for 0 bytes */
        memcpy(dst, src, bytes);
    return PP_OK;
}

/* One core's work is done when the call returns: no stream, nothing to
 * wait for. */
static pp_status cpu_use(int index, pp_error *err)
{
    return check_index(index, err);
}

static pp_status cpu_rank_open(int index, pp_device_rank *out, pp_error *err)
{
    *out = (pp_device_rank){index, NULL, NULL, NULL};
    return check_index(index, err);
}

static void cpu_rank_close(pp_device_rank *r)
{
    (void)r;
}

static pp_status cpu_copy_async(const pp_device_rank *r, void *dst,
                                const void *src, size_t bytes,
                                pp_copy_kind kind, pp_error *err)
{
    return cpu_copy(r->index, dst, src, bytes, kind, err);
}

static pp_status cpu_zero_async(const pp_device_rank *r, void *x,
                                size_t bytes, pp_error *err)
{
    (void)r;
    (void)err;
    memset(x, 0, bytes);
    return PP_OK;
}

static pp_status cpu_sync(const pp_device_rank *r, pp_error *err)
{
    (void)r;
    (void)err;
    return PP_OK;
}

/* Work is done when its call returns, so an event is just the time it
 * was recorded: the same trace and busy-time code serves cpu and cuda. */
typedef struct cpu_event {
    double seconds;
} cpu_event;

static pp_status cpu_event_create(const pp_device_rank *r, int timing,
                                  void **ev, pp_error *err)
{
    (void)r;
    (void)timing;
    *ev = calloc(1, sizeof(cpu_event));
    if (!*ev)
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory for an event");
    return PP_OK;
}

static void cpu_event_destroy(const pp_device_rank *r, void *ev)
{
    (void)r;
    free(ev);
}

static pp_status cpu_event_record(const pp_device_rank *r, void *ev,
                                  pp_error *err)
{
    (void)r;
    (void)err;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ((cpu_event *)ev)->seconds = (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
    return PP_OK;
}

static pp_status cpu_event_wait(const pp_device_rank *r, void *ev,
                                pp_error *err)
{
    (void)r;
    (void)ev;
    (void)err;
    return PP_OK;
}

static pp_status cpu_event_sync(void *ev, pp_error *err)
{
    (void)ev;
    (void)err;
    return PP_OK;
}

static pp_status cpu_event_elapsed(void *a, void *b, double *ms,
                                   pp_error *err)
{
    (void)err;
    *ms = 1e3 * (((cpu_event *)b)->seconds - ((cpu_event *)a)->seconds);
    return PP_OK;
}

static pp_status cpu_add_async(const pp_device_rank *r, float *y,
                               const float *x, size_t n, pp_error *err)
{
    if (check_index(r->index, err))
        return err->code;
    for (size_t i = 0; i < n; i++)
        y[i] += x[i];
    return PP_OK;
}

static pp_status cpu_sumsq_async(const pp_device_rank *r, float *part,
                                 size_t parts, const float *x, size_t n,
                                 pp_error *err)
{
    if (check_index(r->index, err))
        return err->code;
    for (size_t i = 0; i < parts; i++) {
        double sum = 0;
        for (size_t j = i * n / parts; j < (i + 1) * n / parts; j++)
            sum += (double)x[j] * x[j];
        part[i] += (float)sum;
    }
    return PP_OK;
}

static pp_status cpu_clip_async(const pp_device_rank *r, float *x, size_t n,
                                const float *part, size_t parts,
                                float max_norm, pp_error *err)
{
    if (check_index(r->index, err))
        return err->code;
    double sum = 0;
    for (size_t i = 0; i < parts; i++)
        sum += part[i];
    float coef = (float)(max_norm / (sqrt(sum) + 1e-6));
    if (coef < 1)
        for (size_t j = 0; j < n; j++)
            x[j] *= coef;
    return PP_OK;
}

static pp_status cpu_host_alloc(size_t bytes, void **ptr, pp_error *err)
{
    return cpu_alloc(0, bytes, ptr, err);
}

static void cpu_host_release(void *ptr)
{
    cpu_release(0, ptr);
}

static const pp_device_ops cpu_ops = {
    .memory = PP_MEMORY_HOST,
    .count = cpu_count,
    .info = cpu_info,
    .versions = cpu_versions,
    .alloc = cpu_alloc,
    .release = cpu_release,
    .copy = cpu_copy,
    .use = cpu_use,
    .rank_open = cpu_rank_open,
    .rank_close = cpu_rank_close,
    .copy_async = cpu_copy_async,
    .zero_async = cpu_zero_async,
    .sync = cpu_sync,
    .event_create = cpu_event_create,
    .event_destroy = cpu_event_destroy,
    .event_record = cpu_event_record,
    .event_wait = cpu_event_wait,
    .event_sync = cpu_event_sync,
    .event_elapsed = cpu_event_elapsed,
    .host_alloc = cpu_host_alloc,
    .host_release = cpu_host_release,
    .add_async = cpu_add_async,
    .sumsq_async = cpu_sumsq_async,
    .clip_async = cpu_clip_async,
};

const pp_device_ops *pp_device_cpu(void)
{
    return &cpu_ops;
}

/* Filled as PP_PLUGIN() would: the registry finds it by name. */
static const pp_plugin_desc cpu_plugin = {
    PP_PLUGIN_MAGIC, PP_ABI_MAJOR, PP_ABI_MINOR,
    (uint32_t)sizeof(pp_plugin_desc), PP_KIND_DEVICE, "cpu",
    "the host: its memory and plain loops (built in)", NULL, &cpu_ops};

const pp_plugin_desc *pp_device_cpu_plugin(void)
{
    return &cpu_plugin;
}
