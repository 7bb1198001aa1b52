/* plugins/nccl.c - the `nccl` transport: device memory between ranks of one
 * process that sit on different GPUs, through NCCL.
 *
 * Only the stream-ordered half (open, send_async, recv_async). Each linked
 * direction src -> dst has a 2-rank communicator of its own, a send stream
 * on src's GPU and a receive stream on dst's, so that no message ever
 * queues behind one going the other way. A send snapshots the caller's
 * buffer into a pooled buffer on src's compute stream (the caller may
 * overwrite its buffer at once, and the compute stream never waits for the
 * receiver); the send stream then sends the snapshot. A host queue per
 * direction carries {tag, bytes}: NCCL matches by order alone, so the queue
 * is what lets a receive check that it is the one expected. A watchdog
 * (nccl_watch.c) bounds each receive's wait on the device.
 *
 * Not for two ranks on one GPU (NCCL refuses them in one communicator) and
 * not across processes.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <pipette/pipette.h>

#include "deadline.h"
#include "nccl_route.h"

/* CUDA's last-error is cleared so a later launch check does not report
 * this failure again. */
pp_status nccl_failed(pp_status st, pp_error *err)
{
    return st ? pp_error_prefix(err, "nccl") : PP_OK;
}

/* Makes dev current, remembering the caller's, so that a thread's device
 * is never changed behind its back. */
static pp_status enter(int dev, int *prev, pp_error *err)
{
    if (CUDA_TRY(cudaGetDevice(prev), err))
        return err->code;
    if (*prev != dev && CUDA_TRY(cudaSetDevice(dev), err))
        return err->code;
    return PP_OK;
}

static void leave(int dev, int prev)
{
    if (prev != dev)
        (void)cudaSetDevice(prev);
}

/* NCCL connects a pair at its first send, and the sender's host thread
 * waits there for the receiver's: left to the first send_async, that
 * would block until the receiving thread came to recv_async. */
static pp_status warm_up(route *r, pp_error *err)
{
    void *a = NULL, *b = NULL;
    ncclComm_t rcomm = r->comm[1] ? r->comm[1] : r->comm[0];
    int peer = r->comm[1] ? 1 : 0;
    pp_status st;
    if (!(st = CUDA_TRY(cudaSetDevice(r->sdev), err)) &&
        !(st = CUDA_TRY(cudaMalloc(&a, 1), err)) &&
        !(st = CUDA_TRY(cudaSetDevice(r->ddev), err)) &&
        !(st = CUDA_TRY(cudaMalloc(&b, 1), err)) &&
        !(st = NCCL_TRY(ncclGroupStart(), err))) {
        st = NCCL_TRY(ncclSend(a, 1, ncclUint8, peer, r->comm[0], r->send),
                      err);
        if (!st)
            st = NCCL_TRY(ncclRecv(b, 1, ncclUint8, 0, rcomm, r->recv),
                          err);
        pp_status end = NCCL_TRY(ncclGroupEnd(), err);
        st = st ? st : end;
    }
    if (!st && !(st = CUDA_TRY(cudaStreamSynchronize(r->send), err)))
        st = CUDA_TRY(cudaStreamSynchronize(r->recv), err);
    if (a && cudaSetDevice(r->sdev) == cudaSuccess)
        cudaFree(a);
    if (b && cudaSetDevice(r->ddev) == cudaSuccess)
        cudaFree(b);
    return st;
}

static pp_status route_open(route *r, pp_error *err)
{
    int devs[2] = {r->sdev, r->ddev};
    int n = r->src == r->dst ? 1 : 2;
    if (NCCL_TRY(ncclCommInitAll(r->comm, n, devs), err)) {
        r->comm[0] = r->comm[1] = NULL; /* not to be destroyed */
        return err->code;
    }
    if (CUDA_TRY(cudaSetDevice(r->sdev), err) ||
        CUDA_TRY(cudaStreamCreateWithFlags(&r->send, cudaStreamNonBlocking),
                 err) ||
        CUDA_TRY(cudaEventCreateWithFlags(&r->copied,
                                          cudaEventDisableTiming), err) ||
        CUDA_TRY(cudaSetDevice(r->ddev), err) ||
        CUDA_TRY(cudaStreamCreateWithFlags(&r->recv, cudaStreamNonBlocking),
                 err) ||
        CUDA_TRY(cudaEventCreateWithFlags(&r->ready, cudaEventDisableTiming),
                 err))
        return err->code;
    if (warm_up(r, err))
        return err->code;
    r->warm = 1;
    return PP_OK;
}

/* Ends the route's communicators, and with them its NCCL kernels. */
static void route_end(route *r)
{
    /* A message never received leaves its send kernel waiting for ever,
     * and ncclCommDestroy would wait with it (it synchronises the
     * communicator's work before freeing it). A self link's sends are
     * only issued by its receives. A warm-up that failed half way may
     * have left its send or its receive alone in the same state. */
    int stuck = !r->warm || (r->len > 0 && r->src != r->dst);
    for (int i = 0; i < 2; i++)
        if (r->comm[i])
            (void)(stuck ? ncclCommAbort(r->comm[i])
                         : ncclCommDestroy(r->comm[i]));
    r->comm[0] = r->comm[1] = NULL;
}

/* Only once no route has a kernel left: cudaFree synchronizes the
 * device, and would wait for ever for another route's stuck send. */
static void route_free(route *r)
{
    if (cudaSetDevice(r->sdev) == cudaSuccess) {
        for (int i = 0; i < r->npool; i++) {
            cudaFree(r->pool[i].ptr);
            cudaEventDestroy(r->pool[i].done);
        }
        if (r->copied)
            cudaEventDestroy(r->copied);
        if (r->send)
            cudaStreamDestroy(r->send);
    }
    if (cudaSetDevice(r->ddev) == cudaSuccess) {
        if (r->ready)
            cudaEventDestroy(r->ready);
        for (int i = 0; i < r->nwatch; i++) {
            cudaEventDestroy(r->watch[i].begun);
            cudaEventDestroy(r->watch[i].landed);
        }
        if (r->recv)
            cudaStreamDestroy(r->recv);
    }
    (void)cudaGetLastError();
    free(r->pool);
    free(r->watch);
    free(r->q);
    pthread_mutex_destroy(&r->lock);
    pthread_cond_destroy(&r->posted_cv);
}

static void nccl_destroy(void *handle)
{
    transport *t = handle;
    if (!t)
        return;
    nccl_watch_stop(t);
    int prev = -1;
    (void)cudaGetDevice(&prev);
    for (int i = 0; i < t->nroutes; i++)
        route_end(&t->routes[i]);
    for (int i = 0; i < t->nroutes; i++)
        route_free(&t->routes[i]);
    if (prev >= 0)
        (void)cudaSetDevice(prev);
    (void)cudaGetLastError();
    pthread_mutex_destroy(&t->fail_lock);
    pthread_mutex_destroy(&t->watch_lock);
    pthread_cond_destroy(&t->watch_cv);
    free(t);
}

/* Wakes every waiting receive, then aborts the communicators so that
 * kernels stuck in a send or receive end; the lock keeps a rank from
 * using a communicator while it is being freed. */
void nccl_abort(void *handle)
{
    transport *t = handle;
    atomic_store(&t->aborted, 1);
    int prev = -1;
    (void)cudaGetDevice(&prev);
    for (int i = 0; i < t->nroutes; i++) {
        route *r = &t->routes[i];
        pthread_mutex_lock(&r->lock);
        pthread_cond_broadcast(&r->posted_cv);
        for (int c = 0; c < 2; c++)
            if (r->comm[c]) {
                (void)ncclCommAbort(r->comm[c]);
                r->comm[c] = NULL;
            }
        pthread_mutex_unlock(&r->lock);
    }
    if (prev >= 0)
        (void)cudaSetDevice(prev);
    (void)cudaGetLastError();
}

/* NCCL_LAUNCH_MODE=GROUP makes every launch on a 2-rank communicator
 * wait, in the launching thread, until the thread of its other rank
 * launches too (an intra-process barrier in NCCL's doLaunches). A send
 * is launched alone, under the route's lock and before its message is
 * posted, so it would wait for a receive that cannot be issued: the run
 * would hang at its first message. Read after the communicators exist,
 * when NCCL has also put ~/.nccl.conf and /etc/nccl.conf into the
 * environment. */
static pp_status check_launch_mode(const transport *t, pp_error *err)
{
    int pairs = 0;
    for (int i = 0; i < t->nroutes; i++)
        pairs |= t->routes[i].src != t->routes[i].dst;
    const char *mode = getenv("NCCL_LAUNCH_MODE");
    if (pairs && mode && strcasecmp(mode, "GROUP") == 0)
        return pp_error_set(err, PP_ERR_CONFIG,
            "nccl: NCCL_LAUNCH_MODE=%s would make each send wait for its "
            "receive, and a pipeline's sends come first: unset it (or set "
            "PARALLEL), or use transport = peer", mode);
    return PP_OK;
}

static pp_status nccl_open(int ranks, const pp_transport_rank *rank,
                           const unsigned char *links, void **out,
                           pp_error *err)
{
    *out = NULL;
    /* Non-blocking communicators return ncclInProgress from every call
     * and finish in the background; this transport waits for nothing of
     * the kind, and would fail at its first call with NCCL's message. */
    const char *blocking = getenv("NCCL_COMM_BLOCKING");
    if (blocking && strcmp(blocking, "0") == 0)
        return pp_error_set(err, PP_ERR_CONFIG,
            "nccl: NCCL_COMM_BLOCKING=0 is not supported: unset it, or "
            "use transport = peer");
    int n = 0;
    for (int s = 0; s < ranks; s++)
        for (int d = 0; d < ranks; d++) {
            if (!links[s * ranks + d])
                continue;
            n++;
            int dev = rank[s].dr->index;
            if (s != d && dev == rank[d].dr->index)
                return pp_error_set(err, PP_ERR_CONFIG,
                    "nccl: ranks %d and %d share cuda:%d, and NCCL refuses "
                    "two ranks of one communicator on one GPU: use "
                    "transport = auto or peer",
                    s < d ? s : d, s < d ? d : s, dev);
        }
    transport *t = calloc(1, sizeof *t + (size_t)n * sizeof(route));
    if (!t)
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    atomic_init(&t->aborted, 0);
    pthread_mutex_init(&t->fail_lock, NULL);
    pthread_mutex_init(&t->watch_lock, NULL);
    pthread_cond_init(&t->watch_cv, NULL);
    for (int s = 0; s < ranks; s++)
        for (int d = 0; d < ranks; d++) {
            if (!links[s * ranks + d])
                continue;
            route *r = &t->routes[t->nroutes++];
            *r = (route){.src = s, .dst = d, .sdev = rank[s].dr->index,
                         .ddev = rank[d].dr->index,
                         .scompute = rank[s].dr->stream,
                         .dcompute = rank[d].dr->stream};
            pthread_mutex_init(&r->lock, NULL);
            pthread_cond_init(&r->posted_cv, NULL);
        }
    int prev = -1;
    pp_status st = CUDA_TRY(cudaGetDevice(&prev), err);
    for (int i = 0; !st && i < t->nroutes; i++)
        if ((st = route_open(&t->routes[i], err)))
            pp_error_prefix(err, "link %d -> %d", t->routes[i].src,
                            t->routes[i].dst);
    if (!st)
        st = check_launch_mode(t, err);
    if (!st)
        st = nccl_watch_start(t, err);
    if (st)
        nccl_destroy(t);
    else
        *out = t;
    if (prev >= 0)
        (void)cudaSetDevice(prev);
    return st;
}

/* A search: a pipeline has a few routes per rank. */
static route *route_of(transport *t, int src, int dst, pp_error *err)
{
    for (int i = 0; i < t->nroutes; i++)
        if (t->routes[i].src == src && t->routes[i].dst == dst)
            return &t->routes[i];
    pp_error_set(err, PP_ERR_RUNTIME,
                 "nccl: no link from rank %d to rank %d was opened", src, dst);
    return NULL;
}

/* One more pooled buffer of bytes on src's GPU (the current device). */
static pp_status grow_pool(route *r, size_t bytes, int *out, pp_error *err)
{
    buffer *grown = realloc(r->pool, (size_t)(r->npool + 1) * sizeof *grown);
    if (!grown)
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    r->pool = grown;
    buffer *b = &r->pool[r->npool];
    *b = (buffer){.size = bytes};
    if (CUDA_TRY(cudaMalloc(&b->ptr, bytes), err))
        return pp_error_prefix(err, "a %zu-byte send snapshot", bytes);
    if (CUDA_TRY(cudaEventCreateWithFlags(&b->done, cudaEventDisableTiming),
                 err)) {
        cudaFree(b->ptr);
        return err->code;
    }
    *out = r->npool++;
    return PP_OK;
}

/* A free pooled buffer of exactly bytes, or a new one. Free: its last
 * reader's event has passed (queried, never waited on the host, so a
 * sender never waits for its receiver). Exact sizes keep the pool within
 * what the runtime's memory plan counts (one step's messages): a big
 * buffer lent to a small message could force another big one. */
static pp_status take_buffer(route *r, size_t bytes, int *out, pp_error *err)
{
    int best = -1;
    for (int i = 0; i < r->npool && best < 0; i++) {
        buffer *b = &r->pool[i];
        if (b->busy || b->size != bytes)
            continue;
        cudaError_t rc = cudaEventQuery(b->done);
        if (rc == cudaErrorNotReady)
            continue;
        if (nccl_failed(pp_cuda_result(rc, "cudaEventQuery", __FILE__,
                                       __LINE__, err), err))
            return err->code;
        best = i;
    }
    if (best < 0)
        return grow_pool(r, bytes, out, err);
    *out = best;
    return PP_OK;
}

/* Room for one more posted message, so that nothing can fail between
 * issuing a send and posting it. */
static pp_status queue_room(route *r, pp_error *err)
{
    if (r->head + r->len < r->cap)
        return PP_OK;
    if (r->head > 0) {
        memmove(r->q, r->q + r->head, r->len * sizeof *r->q);
        r->head = 0;
        return PP_OK;
    }
    size_t cap = r->cap ? 2 * r->cap : 16;
    posted *q = realloc(r->q, cap * sizeof *q);
    if (!q)
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    r->q = q;
    r->cap = cap;
    return PP_OK;
}

/* Under r->lock: issues the send (deferred to the receive on a self link)
 * and posts the message. */
static pp_status post(transport *t, route *r, uint64_t tag, size_t bytes,
                      int k, pp_error *err)
{
    if (atomic_load(&t->aborted))
        return nccl_stopped(t, err);
    if (queue_room(r, err))
        return err->code;
    if (k >= 0 && r->src != r->dst) {
        buffer *b = &r->pool[k];
        if (NCCL_TRY(ncclSend(b->ptr, bytes, ncclUint8, 1, r->comm[0],
                              r->send), err) ||
            CUDA_TRY(cudaEventRecord(b->done, r->send), err))
            return err->code;
    } else if (k >= 0) {
        r->pool[k].busy = 1;
    }
    r->q[r->head + r->len++] = (posted){tag, bytes, k};
    pthread_cond_broadcast(&r->posted_cv);
    return PP_OK;
}

/* Copies buf into a pooled buffer on src's compute stream, so that the
 * caller may overwrite buf at once. The wait on the buffer's event costs
 * nothing (it has passed) but puts the reuse in stream order. */
static pp_status snapshot(route *r, const void *buf, size_t bytes, int *k,
                          pp_error *err)
{
    if (take_buffer(r, bytes, k, err))
        return err->code;
    buffer *b = &r->pool[*k];
    if (CUDA_TRY(cudaStreamWaitEvent(r->scompute, b->done, 0), err) ||
        CUDA_TRY(cudaMemcpyAsync(b->ptr, buf, bytes, cudaMemcpyDeviceToDevice,
                                 r->scompute), err))
        return err->code;
    if (r->src == r->dst) /* its receive waits for the compute stream */
        return PP_OK;
    if (CUDA_TRY(cudaEventRecord(r->copied, r->scompute), err) ||
        CUDA_TRY(cudaStreamWaitEvent(r->send, r->copied, 0), err))
        return err->code;
    return PP_OK;
}

/* Before the ranks start (the pool is src's thread's afterwards): every
 * snapshot a step's messages of this size can hold at once. */
static pp_status nccl_reserve(void *handle, int src, int dst, size_t bytes,
                              int count, pp_error *err)
{
    transport *t = handle;
    route *r = route_of(t, src, dst, err);
    if (!r)
        return err->code;
    int prev, k;
    if (enter(r->sdev, &prev, err))
        return err->code;
    pp_status st = PP_OK;
    for (int i = 0; !st && bytes && i < count; i++)
        st = grow_pool(r, bytes, &k, err);
    leave(r->sdev, prev);
    return st;
}

static pp_status nccl_send_async(void *handle, int src, int dst, uint64_t tag,
                                 const void *buf, size_t bytes, pp_error *err)
{
    transport *t = handle;
    route *r = route_of(t, src, dst, err);
    if (!r)
        return err->code;
    if (atomic_load(&t->aborted))
        return nccl_stopped(t, err);
    int prev, k = -1;
    if (enter(r->sdev, &prev, err))
        return err->code;
    pp_status st = bytes ? snapshot(r, buf, bytes, &k, err) : PP_OK;
    if (!st) {
        pthread_mutex_lock(&r->lock);
        st = post(t, r, tag, bytes, k, err);
        pthread_mutex_unlock(&r->lock);
    }
    leave(r->sdev, prev);
    return st;
}

/* Under r->lock, once the head message is the one expected: the receive
 * starts after the work dst has queued so far (which may still read buf),
 * and dst's later work starts after it. The watchdog times it from the
 * watch's first event to its second. */
static pp_status receive(route *r, posted m, void *buf, int timeout_ms,
                         pp_error *err)
{
    watch *w;
    if (nccl_watch_take(r, timeout_ms, &w, err) ||
        CUDA_TRY(cudaEventRecord(r->ready, r->dcompute), err) ||
        CUDA_TRY(cudaStreamWaitEvent(r->recv, r->ready, 0), err) ||
        CUDA_TRY(cudaEventRecord(w->begun, r->recv), err))
        return err->code;
    if (r->src == r->dst) {
        /* One group, distinct buffers: NCCL skips an in-place self-send. */
        buffer *b = &r->pool[m.buf];
        pp_status st = NCCL_TRY(ncclGroupStart(), err);
        if (st)
            return st;
        st = NCCL_TRY(ncclSend(b->ptr, m.bytes, ncclUint8, 0, r->comm[0],
                               r->recv), err);
        if (!st)
            st = NCCL_TRY(ncclRecv(buf, m.bytes, ncclUint8, 0, r->comm[0],
                                   r->recv), err);
        pp_status end = NCCL_TRY(ncclGroupEnd(), err);
        if (st || end || CUDA_TRY(cudaEventRecord(b->done, r->recv), err))
            return err->code;
        b->busy = 0;
    } else if (NCCL_TRY(ncclRecv(buf, m.bytes, ncclUint8, 0, r->comm[1],
                                 r->recv), err)) {
        return err->code;
    }
    if (CUDA_TRY(cudaEventRecord(w->landed, r->recv), err) ||
        CUDA_TRY(cudaStreamWaitEvent(r->dcompute, w->landed, 0), err))
        return err->code;
    return PP_OK;
}

/* Under r->lock: waits for the next message and takes it if it is the
 * one expected. A wrong one stays at the head, so NCCL's order and the
 * queue's still agree. *late says the wait timed out. */
static pp_status take(transport *t, route *r, uint64_t tag, void *buf,
                      size_t bytes, int timeout_ms,
                      const struct timespec *deadline, int *late,
                      pp_error *err)
{
    while (!r->len && !atomic_load(&t->aborted)) {
        int rc = timeout_ms < 0
                     ? pthread_cond_wait(&r->posted_cv, &r->lock)
                     : pthread_cond_timedwait(&r->posted_cv, &r->lock,
                                              deadline);
        if (rc == ETIMEDOUT)
            break;
    }
    if (atomic_load(&t->aborted))
        return nccl_stopped(t, err);
    if (!r->len) {
        *late = 1;
        return pp_error_set(err, PP_ERR_RUNTIME,
                            "no message from rank %d after %d ms", r->src,
                            timeout_ms);
    }
    posted m = r->q[r->head];
    if (m.tag != tag)
        return pp_error_set(err, PP_ERR_RUNTIME,
            "nccl: rank %d expects tag %" PRIu64 " from rank %d, but the "
            "next message sent is tag %" PRIu64 ": NCCL delivers in send "
            "order, so receives must come in send order; use transport = "
            "peer for this schedule", r->dst, tag, r->src, m.tag);
    if (m.bytes != bytes)
        return pp_error_set(err, PP_ERR_RUNTIME,
            "nccl: message from rank %d is %zu bytes, expected %zu", r->src,
            m.bytes, bytes);
    r->head++;
    if (!--r->len)
        r->head = 0;
    return bytes ? receive(r, m, buf, timeout_ms, err) : PP_OK;
}

static pp_status nccl_recv_async(void *handle, int dst, int src, uint64_t tag,
                                 void *buf, size_t bytes, int timeout_ms,
                                 pp_error *err)
{
    transport *t = handle;
    route *r = route_of(t, src, dst, err);
    if (!r)
        return err->code;
    struct timespec deadline = pp_deadline_after(timeout_ms);
    int prev;
    if (enter(r->ddev, &prev, err))
        return err->code;
    pthread_mutex_lock(&r->lock);
    int late = 0;
    pp_status st = take(t, r, tag, buf, bytes, timeout_ms, &deadline, &late,
                        err);
    pthread_mutex_unlock(&r->lock);
    if (late) /* with no route's lock held: it takes each */
        nccl_watch_explain(t, err);
    leave(r->ddev, prev);
    return st;
}

static const pp_transport_ops ops = {
    .memory = PP_MEMORY_CUDA,
    .reach = PP_REACH_THREADS,
    .needs = PP_NEEDS_TWO_DEVICES,
    .order = PP_ORDER_SENT,
    .cost = 10,
    .destroy = nccl_destroy,
    .abort = nccl_abort,
    .open = nccl_open,
    .send_async = nccl_send_async,
    .recv_async = nccl_recv_async,
    .reserve = nccl_reserve,
    .check = nccl_failure,
};

PP_PLUGIN(PP_KIND_TRANSPORT, "nccl",
          "GPU ranks of one process on different GPUs: NCCL, in send order",
          NULL, &ops);
