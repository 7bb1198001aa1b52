/* tests/plugins/nogpu.c - a GPU that is never there: the cpu device's
 * table, its buffers said to be CUDA memory, and no device counted. A
 * model on its ranks checks as a GPU model does (check needs no device)
 * and train refuses it as on a machine without a GPU, on any build. Built
 * into a directory of its own (tests/plugins/devices), off the broken
 * plugins' path. */
#include <stdio.h>

#include "broken.h"

static pp_device_ops ops;

static pp_status count(int *n, char *why, size_t size, pp_error *err)
{
    (void)err;
    *n = 0;
    snprintf(why, size, "no GPU answers (nogpu is a test device)");
    return PP_OK;
}

__attribute__((constructor)) static void fill(void)
{
    ops = *pp_device_cpu();
    ops.memory = PP_MEMORY_CUDA;
    ops.count = count;
}

PP_PLUGIN(PP_KIND_DEVICE, "nogpu", "a GPU that is never there (tests)",
          NULL, &ops);
