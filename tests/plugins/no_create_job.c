/* tests/plugins/no_create_job.c - a host transport that says it reaches
 * other processes but leaves create_job NULL: it could not be told which
 * process runs each rank, so the loader refuses it. Never called. */
#include "broken.h"

static pp_status never_create(int ranks, void **t, pp_error *err)
{
    (void)ranks, (void)t;
    return pp_error_set(err, PP_ERR_RUNTIME, "never called");
}

static void never_destroy(void *t)
{
    (void)t;
}

static pp_status never_send(void *t, int src, int dst, uint64_t tag,
                            const void *buf, size_t bytes, pp_error *err)
{
    (void)t, (void)src, (void)dst, (void)tag, (void)buf, (void)bytes;
    return pp_error_set(err, PP_ERR_RUNTIME, "never called");
}

static pp_status never_recv(void *t, int dst, int src, uint64_t tag,
                            void *buf, size_t bytes, int timeout_ms,
                            pp_error *err)
{
    (void)t, (void)dst, (void)src, (void)tag, (void)buf, (void)bytes,
        (void)timeout_ms;
    return pp_error_set(err, PP_ERR_RUNTIME, "never called");
}

static const pp_transport_ops ops = {
    .memory = PP_MEMORY_HOST,
    .reach = PP_REACH_PROCESSES,
    .cost = 1,
    .create = never_create,
    .destroy = never_destroy,
    .send = never_send,
    .recv = never_recv,
    .abort = never_destroy,
};

BROKEN_PLUGIN(PP_PLUGIN_MAGIC, PP_ABI_MAJOR, PP_ABI_MINOR,
              sizeof(pp_plugin_desc), PP_KIND_TRANSPORT, "no_create_job",
              &ops);
