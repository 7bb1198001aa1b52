/* tests/plugins/forward_local.c - the `local` transport, forwarded to the
 * real plugin (REAL_LOCAL), with a check that always fails. Built as
 * checkfail/local.so: first on the plugin path, it shadows the real one.
 * The runtime must ask a transport's check after each step.
 */
#include <dlfcn.h>
#include <stdlib.h>

#include <pipette/pipette.h>

typedef struct forward {
    void *lib;
    const pp_transport_ops *real;
    void *state;
} forward;

static pp_status fwd_create(int ranks, void **t, pp_error *err)
{
    forward *f = calloc(1, sizeof *f);
    if (!f)
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    f->lib = dlopen(REAL_LOCAL, RTLD_NOW | RTLD_LOCAL);
    const pp_plugin_desc *d =
        f->lib ? dlsym(f->lib, PP_PLUGIN_SYMBOL) : NULL;
    pp_status st = d ? PP_OK
                     : pp_error_set(err, PP_ERR_PLUGIN, "%s: %s", REAL_LOCAL,
                                    dlerror());
    if (!st) {
        f->real = d->ops;
        st = f->real->create(ranks, &f->state, err);
    }
    if (st) {
        if (f->lib)
            dlclose(f->lib);
        free(f);
        return st;
    }
    *t = f;
    return PP_OK;
}

static void fwd_destroy(void *t)
{
    forward *f = t;
    f->real->destroy(f->state);
    dlclose(f->lib);
    free(f);
}

static pp_status fwd_send(void *t, int src, int dst, uint64_t tag,
                          const void *buf, size_t bytes, pp_error *err)
{
    forward *f = t;
    return f->real->send(f->state, src, dst, tag, buf, bytes, err);
}

static pp_status fwd_recv(void *t, int dst, int src, uint64_t tag, void *buf,
                          size_t bytes, int timeout_ms, pp_error *err)
{
    forward *f = t;
    return f->real->recv(f->state, dst, src, tag, buf, bytes, timeout_ms,
                         err);
}

static void fwd_abort(void *t)
{
    forward *f = t;
    f->real->abort(f->state);
}

static pp_status fwd_check(void *t, pp_error *err)
{
    (void)t;
    return pp_error_set(err, PP_ERR_RUNTIME,
                        "forward_local: check was called");
}

static const pp_transport_ops ops = {
    .memory = PP_MEMORY_HOST,
    .reach = PP_REACH_THREADS,
    .order = PP_ORDER_TAG,
    .cost = 10,
    .create = fwd_create,
    .destroy = fwd_destroy,
    .send = fwd_send,
    .recv = fwd_recv,
    .abort = fwd_abort,
    .check = fwd_check,
};

PP_PLUGIN(PP_KIND_TRANSPORT, "local",
          "local, forwarded, with a check that fails (tests)", NULL, &ops);
