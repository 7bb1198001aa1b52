/* src/cmd_devices.c - `pipette devices`: what this machine offers to
 * train on: the CPU, each GPU the cuda plugin sees, and the versions of the
 * GPU libraries.
 *
 * A machine without a GPU, or a pipette built without CUDA, is a normal
 * answer (exit 0) that says why; only a cuda plugin that exists but fails to
 * load, or a GPU that fails to describe itself, is an error.
 */
#include <config.h>

#include <stdio.h>
#include <string.h>

#include <pipette/pipette.h>

#include "cmd.h"
#include "registry.h"

static const char usage[] =
    "usage: pipette devices\n"
    "\n"
    "Shows the CPU (model, cores, memory), then each GPU the cuda plugin\n"
    "finds (index, name, memory, compute capability, multiprocessors) and\n"
    "the CUDA, cuBLAS, cuDNN and NCCL versions it was loaded with. Without a\n"
    "GPU, or without the cuda plugin, it says why and still succeeds.\n"
    "\n"
    "The cuda plugin is looked up in PIPETTE_PLUGIN_PATH (':'-separated),\n"
    "the build tree when run from it, then " PP_PKGLIBDIR ".\n";

static double gib(uint64_t bytes)
{
    return (double)bytes / (1024.0 * 1024.0 * 1024.0);
}

static pp_status show_cpu(pp_error *err)
{
    const pp_device_ops *cpu = pp_device_cpu();
    pp_device_info info;
    if (cpu->info(0, &info, err))
        return err->code;
    printf("CPU: %s\n", info.name);
    printf("  cores:   %d online\n", info.multiprocessors);
    printf("  memory:  %.1f GiB total, %.1f GiB available\n",
           gib(info.total_bytes), gib(info.free_bytes));
    return PP_OK;
}

static pp_status show_gpus(const pp_plugin *plugin, pp_error *err)
{
    const pp_device_ops *cuda = plugin->ops;
    int n = 0;
    char why[512];
    if (cuda->count(&n, why, sizeof why, err))
        return err->code;
    if (n == 0)
        printf("GPUs: none (%s)\n", why[0] ? why : "no reason given");
    for (int i = 0; i < n; i++) {
        pp_device_info info;
        if (cuda->info(i, &info, err))
            return err->code;
        printf("GPU %d: %s\n", info.index, info.name);
        printf("  memory:  %.1f GiB total, %.1f GiB free\n",
               gib(info.total_bytes), gib(info.free_bytes));
        printf("  compute capability: %d.%d\n", info.cc_major, info.cc_minor);
        printf("  multiprocessors:    %d\n", info.multiprocessors);
    }
    char versions[1024];
    cuda->versions(versions, sizeof versions);
    printf("libraries (cuda plugin %s):\n", plugin->path);
    for (const char *line = versions; *line;) {
        size_t len = strcspn(line, "\n");
        printf("  %.*s\n", (int)len, line);
        line += len + (line[len] == '\n');
    }
    return PP_OK;
}

int pp_cmd_devices(int argc, char **argv)
{
    if (pp_cmd_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return PP_EXIT_OK;
    }
    if (argc > 1) {
        fprintf(stderr, "pipette devices: %s '%s'\n%s",
                argv[1][0] == '-' ? "unknown option" : "unexpected argument",
                argv[1], usage);
        return PP_EXIT_USAGE;
    }
    pp_error err;
    pp_error_clear(&err);
    if (show_cpu(&err))
        return pp_cmd_fail(&err);

    pp_registry *reg;
    if (pp_registry_create(NULL, &reg, &err))
        return pp_cmd_fail(&err);
    const pp_plugin *plugin;
    pp_status st = pp_registry_find(reg, PP_KIND_DEVICE, "cuda", &plugin, &err);
    char path[4096];
    /* No file at all means pipette was built without CUDA: not an error.
     * A file that is there but refused is one. */
    if (st == PP_ERR_CONFIG &&
        !pp_registry_locate(reg, PP_KIND_DEVICE, "cuda", path, sizeof path)) {
        printf("GPUs: cuda plugin not found: %s\n", err.msg);
        st = PP_OK;
    } else if (st == PP_OK) {
        st = show_gpus(plugin, &err);
    }
    pp_registry_free(reg);
    return st ? pp_cmd_fail(&err) : PP_EXIT_OK;
}
