/* plugins/nccl_watch.c - the nccl transport's watchdog: what bounds a
 * receive or a sum that waits on a device.
 *
 * An NCCL receive kernel spins until its data comes, and a sum's until
 * every rank of the group has come. In one process the transport issues
 * a receive only once its send is posted, so in a healthy run it ends;
 * but a sender stuck on its own GPU or gone with its process, a rank
 * that never comes to a sum, an asynchronous NCCL error, or
 * communicators that deadlock on a GPU (NCCL documents concurrent
 * communicators as safe only while their kernels fit on the GPU together)
 * would leave it spinning, and the rank's sync at the step's end waiting,
 * for ever. So a thread polls, every POLL_MS, each receive and sum in
 * flight (an event before it and one after) and each communicator's
 * asynchronous error. One that began on the device and has not ended
 * within its timeout, or an error, fails the transport: the reason is
 * kept for check and for every later call, and the communicators are
 * aborted, which ends their kernels, so that every sync returns.
 *
 * A wait is timed from when the watchdog first sees it begun, so it is
 * reported up to POLL_MS late; polling costs a few event queries per
 * route and per member each time.
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

pp_status nccl_watch_take(watches *ws, int timeout_ms, watch **out,
                          pp_error *err)
{
    int k = -1;
    for (int i = 0; i < ws->n && k < 0; i++) {
        watch *w = &ws->w[i];
        cudaError_t rc = w->live ? passed(w->landed) : cudaSuccess;
        if (rc == cudaSuccess)
            k = i;
        else if (rc != cudaErrorNotReady)
            return CUDA_TRY(rc, err);
    }
    if (k < 0) {
        watch *grown = realloc(ws->w, (size_t)(ws->n + 1) * sizeof *grown);
        if (!grown)
            return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
        ws->w = grown;
        watch *w = &grown[ws->n];
        *w = (watch){0};
        if (CUDA_TRY(cudaEventCreateWithFlags(&w->begun,
                                              cudaEventDisableTiming), err))
            return err->code;
        if (CUDA_TRY(cudaEventCreateWithFlags(&w->landed,
                                              cudaEventDisableTiming), err)) {
            cudaEventDestroy(w->begun);
            return err->code;
        }
        k = ws->n++;
    }
    watch *w = &ws->w[k];
    w->timeout_ms = timeout_ms;
    w->since = 0;
    w->live = 1;
    *out = w;
    return PP_OK;
}

void nccl_watch_free(watches *ws)
{
    for (int i = 0; i < ws->n; i++) {
        cudaEventDestroy(ws->w[i].begun);
        cudaEventDestroy(ws->w[i].landed);
    }
    free(ws->w);
    ws->w = NULL;
    ws->n = 0;
}

/* Under the lock of ws's route or member, the device of their stream
 * current: the oldest operation that has begun on the device and not
 * ended (its `since` set now if not yet), or NULL. Those that ended are
 * done with. A device error is left to the rank's own sync to report. */
static watch *stuck(watches *ws, double now)
{
    watch *oldest = NULL;
    for (int i = 0; i < ws->n; i++) {
        watch *w = &ws->w[i];
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

const char *nccl_ranks_text(const group *g, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int k = 0; k < g->n && used < size; k++) {
        int n = snprintf(buf + used, size - used, "%s%d", k ? ", " : "",
                         g->rank[k]);
        if (n < 0)
            break;
        used += (size_t)n;
    }
    return buf;
}

/* What waits on a device: the oldest receive or sum found stuck, as text
 * for err (a receive's timeout on the host), or nothing. */
static void explain_stuck(transport *t, double now, char *what, size_t size)
{
    what[0] = '\0';
    for (int i = 0; !what[0] && i < t->nroutes; i++) {
        route *r = &t->routes[i];
        pthread_mutex_lock(&r->lock);
        watch *w = NULL;
        if (!atomic_load(&t->aborted) && r->ddev >= 0 &&
            cudaSetDevice(r->ddev) == cudaSuccess)
            w = stuck(&r->watch, now);
        if (w)
            snprintf(what, size, "rank %d's receive from rank %d has waited "
                     "%.0f ms on cuda:%d, where NCCL delivered nothing",
                     r->dst, r->src, now - w->since, r->ddev);
        pthread_mutex_unlock(&r->lock);
    }
    pthread_mutex_lock(&t->group_lock);
    for (int i = 0; !what[0] && i < t->ngroups; i++) {
        group *g = t->groups[i];
        for (int k = 0; !what[0] && k < g->nmembers; k++) {
            member *m = &g->member[k];
            pthread_mutex_lock(&m->lock);
            watch *w = NULL;
            if (!atomic_load(&t->aborted) &&
                cudaSetDevice(m->dev) == cudaSuccess)
                w = stuck(&m->watch, now);
            char ranks[128];
            if (w)
                snprintf(what, size, "rank %d's sum with ranks %s has "
                         "waited %.0f ms on cuda:%d, where NCCL finished "
                         "nothing", m->rank,
                         nccl_ranks_text(g, ranks, sizeof ranks),
                         now - w->since, m->dev);
            pthread_mutex_unlock(&m->lock);
        }
    }
    pthread_mutex_unlock(&t->group_lock);
}

void nccl_watch_explain(transport *t, pp_error *err)
{
    int prev = -1;
    (void)cudaGetDevice(&prev);
    char what[PP_ERROR_MAX];
    explain_stuck(t, now_ms(), what, sizeof what);
    if (what[0]) {
        char was[PP_ERROR_MAX];
        snprintf(was, sizeof was, "%s", err->msg);
        pp_error_set(err, err->code, "%s; %s (NCCL_DEBUG=WARN may say why; "
                     "transport = peer does without NCCL)", was, what);
    }
    if (prev >= 0)
        (void)cudaSetDevice(prev);
    (void)cudaGetLastError();
}

/* PP_OK, or comm's asynchronous error, said to be `what`'s on cuda:dev. */
static pp_status async_error(ncclComm_t comm, const char *what, int dev,
                             pp_error *err)
{
    ncclResult_t async = ncclSuccess;
    if (!comm)
        return PP_OK;
    if (NCCL_TRY(ncclCommGetAsyncError(comm, &async), err))
        return err->code;
    if (async == ncclSuccess || async == ncclInProgress)
        return PP_OK;
    const char *last = ncclGetLastError(comm);
    int has = last && last[0];
    return pp_error_set(err, PP_ERR_DEVICE, "nccl: %s failed on cuda:%d: "
                        "%s%s%s", what, dev, ncclGetErrorString(async),
                        has ? ": " : "", has ? last : "");
}

/* Under r->lock: PP_OK, or why the route failed on its device. */
static pp_status inspect(route *r, double now, pp_error *err)
{
    /* Every receive of a run has the same timeout: the oldest is the one
     * to time out first. */
    watch *w = NULL;
    if (r->ddev >= 0) {
        if (CUDA_TRY(cudaSetDevice(r->ddev), err))
            return err->code;
        w = stuck(&r->watch, now);
    }
    if (w && w->timeout_ms >= 0 && now - w->since > w->timeout_ms)
        return pp_error_set(err, PP_ERR_RUNTIME,
            "nccl: no message from rank %d after %d ms on cuda:%d: the "
            "receive began on the GPU and NCCL delivered nothing "
            "(NCCL_DEBUG=WARN may say why; transport = peer does without "
            "NCCL)", r->src, w->timeout_ms, r->ddev);
    char what[64];
    snprintf(what, sizeof what, "link %d -> %d", r->src, r->dst);
    for (int c = 0; c < 2; c++)
        if (async_error(r->comm[c], what, c ? r->ddev : r->sdev, err))
            return err->code;
    return PP_OK;
}

/* Under m->lock: PP_OK, or why member m's sums failed on its device. */
static pp_status inspect_member(const group *g, member *m, double now,
                                pp_error *err)
{
    if (CUDA_TRY(cudaSetDevice(m->dev), err))
        return err->code;
    watch *w = stuck(&m->watch, now);
    char ranks[128], what[192];
    nccl_ranks_text(g, ranks, sizeof ranks);
    if (w && w->timeout_ms >= 0 && now - w->since > w->timeout_ms)
        return pp_error_set(err, PP_ERR_RUNTIME,
            "nccl: rank %d's sum with ranks %s did not end within %d ms on "
            "cuda:%d: it began on the GPU and NCCL finished nothing (a rank "
            "of the group may not have come to it; NCCL_DEBUG=WARN may say "
            "why)", m->rank, ranks, w->timeout_ms, m->dev);
    snprintf(what, sizeof what, "the sum of ranks %s", ranks);
    return async_error(m->comm, what, m->dev, err);
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
        pthread_mutex_lock(&t->group_lock);
        for (int i = 0; !st && i < t->ngroups; i++)
            for (int k = 0; !st && k < t->groups[i]->nmembers; k++) {
                member *m = &t->groups[i]->member[k];
                pthread_mutex_lock(&m->lock);
                if (!atomic_load(&t->aborted))
                    st = inspect_member(t->groups[i], m, now, &why);
                pthread_mutex_unlock(&m->lock);
            }
        pthread_mutex_unlock(&t->group_lock);
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
