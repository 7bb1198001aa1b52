/* plugins/nccl_watch.c - the nccl transport's watchdog: what bounds a
 * receive that waits on a device.
 *
 * An NCCL receive kernel spins until its data comes. The transport issues
 * a receive only once its send is posted, so in a healthy run it ends;
 * but a sender stuck on its own GPU, an asynchronous NCCL error, or
 * communicators that deadlock on a GPU (NCCL documents concurrent
 * communicators as safe only while their kernels fit on the GPU together)
 * would leave it spinning, and the rank's sync at the step's end waiting,
 * for ever. So a thread polls, every POLL_MS, each receive in flight (an
 * event before it and one after) and each communicator's asynchronous
 * error. A receive that began on the device and has not ended within its
 * timeout, or an error, fails the transport: the reason is kept for check
 * and for every later call, and the communicators are aborted, which ends
 * their kernels, so that every sync returns.
 *
 * A receive's wait is timed from when the watchdog first sees it begun,
 * so it is reported up to POLL_MS late; polling costs a few event queries
 * per route each time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "deadline.h"
#include "nccl_route.h"

#define POLL_MS 100

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return 1e3 * (double)ts.tv_sec + 1e-6 * (double)ts.tv_nsec;
}

/* cudaSuccess: passed; cudaErrorNotReady: not yet; else an error. */
static cudaError_t passed(cudaEvent_t e)
{
    cudaError_t rc = cudaEventQuery(e);
    if (rc == cudaErrorNotReady)
        (void)cudaGetLastError();
    return rc;
}

pp_status nccl_watch_take(route *r, int timeout_ms, watch **out,
                          pp_error *err)
{
    int k = -1;
    for (int i = 0; i < r->nwatch && k < 0; i++) {
        watch *w = &r->watch[i];
        cudaError_t rc = w->live ? passed(w->landed) : cudaSuccess;
        if (rc == cudaSuccess)
            k = i;
        else if (rc != cudaErrorNotReady)
            return CUDA_TRY(rc, err);
    }
    if (k < 0) {
        watch *grown = realloc(r->watch,
                               (size_t)(r->nwatch + 1) * sizeof *grown);
        if (!grown)
            return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
        r->watch = grown;
        watch *w = &grown[r->nwatch];
        *w = (watch){0};
        if (CUDA_TRY(cudaEventCreateWithFlags(&w->begun,
                                              cudaEventDisableTiming), err))
            return err->code;
        if (CUDA_TRY(cudaEventCreateWithFlags(&w->landed,
                                              cudaEventDisableTiming), err)) {
            cudaEventDestroy(w->begun);
            return err->code;
        }
        k = r->nwatch++;
    }
    watch *w = &r->watch[k];
    w->timeout_ms = timeout_ms;
    w->since = 0;
    w->live = 1;
    *out = w;
    return PP_OK;
}

/* Under r->lock, the device of its receive stream current: the oldest
 * receive that has begun on the device and not ended (its `since` set
 * now if not yet), or NULL. Those that ended are done with. A device
 * error is left to the rank's own sync to report. */
static watch *stuck(route *r, double now)
{
    watch *oldest = NULL;
    for (int i = 0; i < r->nwatch; i++) {
        watch *w = &r->watch[i];
        if (!w->live)
            continue;
        cudaError_t landed = passed(w->landed);
        if (landed == cudaSuccess)
            w->live = 0;
        if (landed != cudaErrorNotReady || passed(w->begun) != cudaSuccess)
            continue;
        if (w->since == 0)
            w->since = now;
        if (!oldest || w->since < oldest->since)
            oldest = w;
    }
    return oldest;
}

void nccl_watch_explain(transport *t, pp_error *err)
{
    double now = now_ms();
    int prev = -1;
    (void)cudaGetDevice(&prev);
    for (int i = 0; i < t->nroutes; i++) {
        route *r = &t->routes[i];
        pthread_mutex_lock(&r->lock);
        watch *w = NULL;
        if (!atomic_load(&t->aborted) && cudaSetDevice(r->ddev) == cudaSuccess)
            w = stuck(r, now);
        double waited = w ? now - w->since : 0;
        pthread_mutex_unlock(&r->lock);
        if (!w)
            continue;
        char was[PP_ERROR_MAX];
        snprintf(was, sizeof was, "%s", err->msg);
        pp_error_set(err, err->code, "%s; rank %d's receive from rank %d "
                     "has waited %.0f ms on cuda:%d, where NCCL delivered "
                     "nothing (NCCL_DEBUG=WARN may say why; transport = "
                     "peer does without NCCL)", was, r->dst, r->src, waited,
                     r->ddev);
        break;
    }
    if (prev >= 0)
        (void)cudaSetDevice(prev);
    (void)cudaGetLastError();
}

/* Under r->lock: PP_OK, or why the route failed on its device. */
static pp_status inspect(route *r, double now, pp_error *err)
{
    if (CUDA_TRY(cudaSetDevice(r->ddev), err))
        return err->code;
    /* Every receive of a run has the same timeout: the oldest is the one
     * to time out first. */
    watch *w = stuck(r, now);
    if (w && w->timeout_ms >= 0 && now - w->since > w->timeout_ms)
        return pp_error_set(err, PP_ERR_RUNTIME,
            "nccl: no message from rank %d after %d ms on cuda:%d: the "
            "receive began on the GPU and NCCL delivered nothing "
            "(NCCL_DEBUG=WARN may say why; transport = peer does without "
            "NCCL)", r->src, w->timeout_ms, r->ddev);
    for (int c = 0; c < 2; c++) {
        ncclResult_t async = ncclSuccess;
        if (!r->comm[c])
            continue;
        if (NCCL_TRY(ncclCommGetAsyncError(r->comm[c], &async), err))
            return err->code;
        if (async == ncclSuccess || async == ncclInProgress)
            continue;
        const char *last = ncclGetLastError(r->comm[c]);
        int has = last && last[0];
        return pp_error_set(err, PP_ERR_DEVICE,
                            "nccl: link %d -> %d failed on cuda:%d: %s%s%s",
                            r->src, r->dst, c ? r->ddev : r->sdev,
                            ncclGetErrorString(async), has ? ": " : "",
                            has ? last : "");
    }
    return PP_OK;
}

/* Keeps the first reason, then ends everything in flight. */
static void give_up(transport *t, const pp_error *why)
{
    pthread_mutex_lock(&t->fail_lock);
    if (!t->failed) {
        t->failed = 1;
        t->failure = *why;
    }
    pthread_mutex_unlock(&t->fail_lock);
    nccl_abort(t);
}

static void *watcher(void *arg)
{
    transport *t = arg;
    pthread_mutex_lock(&t->watch_lock);
    while (!t->stop) {
        struct timespec at = pp_deadline_after(POLL_MS);
        pthread_cond_timedwait(&t->watch_cv, &t->watch_lock, &at);
        if (t->stop || atomic_load(&t->aborted))
            continue;
        pthread_mutex_unlock(&t->watch_lock);
        pp_error why;
        pp_error_clear(&why);
        pp_status st = PP_OK;
        double now = now_ms();
        for (int i = 0; !st && i < t->nroutes; i++) {
            route *r = &t->routes[i];
            pthread_mutex_lock(&r->lock);
            if (!atomic_load(&t->aborted))
                st = inspect(r, now, &why);
            pthread_mutex_unlock(&r->lock);
        }
        if (st)
            give_up(t, &why);
        pthread_mutex_lock(&t->watch_lock);
    }
    pthread_mutex_unlock(&t->watch_lock);
    return NULL;
}

pp_status nccl_watch_start(transport *t, pp_error *err)
{
    if (pthread_create(&t->watcher, NULL, watcher, t) != 0)
        return pp_error_set(err, PP_ERR_RUNTIME,
                            "nccl: cannot start the watchdog thread");
    t->watching = 1;
    return PP_OK;
}

void nccl_watch_stop(transport *t)
{
    if (!t->watching)
        return;
    pthread_mutex_lock(&t->watch_lock);
    t->stop = 1;
    pthread_cond_signal(&t->watch_cv);
    pthread_mutex_unlock(&t->watch_lock);
    pthread_join(t->watcher, NULL);
    t->watching = 0;
}

pp_status nccl_failure(void *handle, pp_error *err)
{
    transport *t = handle;
    pthread_mutex_lock(&t->fail_lock);
    pp_status st = t->failed ? pp_error_set(err, t->failure.code, "%s",
                                            t->failure.msg)
                             : PP_OK;
    pthread_mutex_unlock(&t->fail_lock);
    return st;
}

pp_status nccl_stopped(transport *t, pp_error *err)
{
    if (nccl_failure(t, err))
        return err->code;
    return pp_error_set(err, PP_ERR_RUNTIME, "stopped: another rank failed");
}
