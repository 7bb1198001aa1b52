/* plugins/nccl.c - the `nccl` transport: device memory between ranks that
 * sit on different GPUs, through NCCL, in one process or several; and
 * the replicas' sums, as all-reduces.
 *
 * Only the stream-ordered half (open, send_async, recv_async). Each linked
 * direction src -> dst has a 2-rank communicator of its own, a send stream
 * on src's GPU and a receive stream on dst's, so that no message ever
 * queues behind one going the other way. A send snapshots the caller's
 * buffer into a pooled buffer on src's compute stream (the caller may
 * overwrite its buffer at once, and the compute stream never waits for the
 * receiver); the send stream then sends the snapshot. Within a process a
 * host queue per direction carries {tag, bytes}: NCCL matches by order
 * alone, so the queue is what lets a receive check that it is the one
 * expected. A watchdog (nccl_watch.c) bounds each receive's wait on the
 * device.
 *
 * Across processes (open_job) each process holds its own half of a
 * direction. The process of its source rank makes the communicator's
 * ncclUniqueId and every process gets it through the job's allgather
 * (one allgather for all the directions, every process taking part);
 * each half then joins with ncclCommInitRank, all of a process's in one
 * NCCL group. There is no queue: the receive is issued at once, matched
 * by NCCL's order (routing gives nccl only directions whose receiver
 * keeps it), and bounded by the watchdog alone.
 *
 * Sums (group_open, sum_async): one communicator per group, made as
 * above (ncclCommInitAll in one process), and ncclAllReduce in place on
 * each rank's own stream, watched like a receive.
 *
 * Not for two ranks on one GPU (NCCL refuses them in one communicator).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <pipette/pipette.h>

#include "deadline.h"
#include "nccl_route.h"

#define BOOTSTRAP_MS 120000 /* how long open_job waits for the others */

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

/* The streams and events of the route's halves in this process. */
static pp_status route_streams(route *r, pp_error *err)
{
    if (r->sdev >= 0 &&
        (CUDA_TRY(cudaSetDevice(r->sdev), err) ||
         CUDA_TRY(cudaStreamCreateWithFlags(&r->send,
                                            cudaStreamNonBlocking), err) ||
         CUDA_TRY(cudaEventCreateWithFlags(&r->copied,
                                           cudaEventDisableTiming), err)))
        return err->code;
    if (r->ddev >= 0 &&
        (CUDA_TRY(cudaSetDevice(r->ddev), err) ||
         CUDA_TRY(cudaStreamCreateWithFlags(&r->recv,
                                            cudaStreamNonBlocking), err) ||
         CUDA_TRY(cudaEventCreateWithFlags(&r->ready,
                                           cudaEventDisableTiming), err)))
        return err->code;
    return PP_OK;
}

/* A direction within this process. */
static pp_status route_open(route *r, pp_error *err)
{
    int devs[2] = {r->sdev, r->ddev};
    int n = r->src == r->dst ? 1 : 2;
    if (NCCL_TRY(ncclCommInitAll(r->comm, n, devs), err)) {
        r->comm[0] = r->comm[1] = NULL; /* not to be destroyed */
        return err->code;
    }
    if (route_streams(r, err) || warm_up(r, err))
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
    if (r->sdev >= 0 && cudaSetDevice(r->sdev) == cudaSuccess) {
        for (int i = 0; i < r->npool; i++) {
            cudaFree(r->pool[i].ptr);
            cudaEventDestroy(r->pool[i].done);
        }
        if (r->copied)
            cudaEventDestroy(r->copied);
        if (r->send)
            cudaStreamDestroy(r->send);
        if (r->byte)
            cudaFree(r->byte);
    }
    if (r->ddev >= 0 && cudaSetDevice(r->ddev) == cudaSuccess) {
        if (r->ready)
            cudaEventDestroy(r->ready);
        nccl_watch_free(&r->watch);
        if (r->recv)
            cudaStreamDestroy(r->recv);
        if (r->byte && r->sdev < 0)
            cudaFree(r->byte);
    }
    (void)cudaGetLastError();
    free(r->pool);
    free(r->watch.w);
    free(r->q);
    pthread_mutex_destroy(&r->lock);
    pthread_cond_destroy(&r->posted_cv);
}

/* Ends the group's communicators: destroyed once its warm-up sum has
 * run (every later sum has ended with its rank's step, or the run was
 * aborted), else aborted. */
static void group_end(group *g)
{
    for (int k = 0; k < g->nmembers; k++) {
        member *m = &g->member[k];
        if (m->comm)
            (void)(g->warm ? ncclCommDestroy(m->comm)
                           : ncclCommAbort(m->comm));
        m->comm = NULL;
    }
}

static void group_free(group *g)
{
    for (int k = 0; k < g->nmembers; k++) {
        member *m = &g->member[k];
        if (cudaSetDevice(m->dev) == cudaSuccess) {
            nccl_watch_free(&m->watch);
            cudaFree(m->byte);
        }
        free(m->watch.w);
        pthread_mutex_destroy(&m->lock);
    }
    (void)cudaGetLastError();
    free(g->member);
    free(g->rank);
    free(g);
}

/* Routes, then groups, each in the same order in every process. */
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
    for (int i = 0; i < t->ngroups; i++)
        group_end(t->groups[i]);
    for (int i = 0; i < t->nroutes; i++)
        route_free(&t->routes[i]);
    for (int i = 0; i < t->ngroups; i++)
        group_free(t->groups[i]);
    if (prev >= 0)
        (void)cudaSetDevice(prev);
    (void)cudaGetLastError();
    pthread_mutex_destroy(&t->fail_lock);
    pthread_mutex_destroy(&t->watch_lock);
    pthread_mutex_destroy(&t->group_lock);
    pthread_cond_destroy(&t->watch_cv);
    free(t->groups);
    free(t->rank);
    free(t->process_of);
    free(t->dev);
    free(t->host);
    free(t);
}

/* Wakes every waiting receive, then aborts the communicators so that
 * kernels stuck in a send, a receive or a sum end; the locks keep a rank
 * from using a communicator while it is being freed. */
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
    pthread_mutex_lock(&t->group_lock);
    for (int i = 0; i < t->ngroups; i++)
        for (int k = 0; k < t->groups[i]->nmembers; k++) {
            member *m = &t->groups[i]->member[k];
            pthread_mutex_lock(&m->lock);
            if (m->comm)
                (void)ncclCommAbort(m->comm);
            m->comm = NULL;
            pthread_mutex_unlock(&m->lock);
        }
    pthread_mutex_unlock(&t->group_lock);
    if (prev >= 0)
        (void)cudaSetDevice(prev);
    (void)cudaGetLastError();
}

/* NCCL_LAUNCH_MODE=GROUP makes every launch on a communicator with
 * several ranks in this process wait, in the launching thread, until the
 * threads of its other ranks here launch too (an intra-process barrier
 * in NCCL's doLaunches). A send is launched alone, under the route's
 * lock and before its message is posted, so it would wait for a receive
 * that cannot be issued: the run would hang at its first message; and
 * the ranks of a sum come to it at their own times. Read after the
 * communicators exist, when NCCL has also put ~/.nccl.conf and
 * /etc/nccl.conf into the environment. */
static pp_status check_launch_mode(int shared, pp_error *err)
{
    const char *mode = getenv("NCCL_LAUNCH_MODE");
    if (shared && mode && strcasecmp(mode, "GROUP") == 0)
        return pp_error_set(err, PP_ERR_CONFIG,
            "nccl: NCCL_LAUNCH_MODE=%s would make each send wait for its "
            "receive (and each sum for the others of this process), and a "
            "pipeline's sends come first: unset it (or set PARALLEL), or "
            "use transport = peer", mode);
    return PP_OK;
}

static pp_status refuse_shared(int a, int b, int dev, pp_error *err)
{
    return pp_error_set(err, PP_ERR_CONFIG,
        "nccl: ranks %d and %d share cuda:%d, and NCCL refuses two ranks of "
        "one communicator on one GPU: use transport = auto or peer",
        a < b ? a : b, a < b ? b : a, dev);
}

/* Whether ranks a and b are on one GPU index of one host, as open_job
 * gathered where each rank is. */
static int same_gpu(const transport *t, int a, int b)
{
    return t->host && t->dev[a] >= 0 && t->dev[a] == t->dev[b] &&
           strcmp(t->host[t->process_of[a]], t->host[t->process_of[b]]) == 0;
}

/* NCCL's "Duplicate GPU detected" (in err), from making communicators
 * across processes, said plainly: ranks a and b are on one GPU; a < 0
 * where no two ranks of them sit on one index of one host (the
 * processes' CUDA_VISIBLE_DEVICES may differ), with NCCL's own text.
 * NCCL may say it on a thread of its own, leaving only "invalid usage"
 * here: with two ranks on one index of one host, that is taken as it
 * too. Any other failure is left as it is. */
static pp_status explain_duplicate(const transport *t, int a, int b,
                                   pp_error *err)
{
    int said = strstr(err->msg, "Duplicate GPU") != NULL;
    if (!said && !(a >= 0 && strstr(err->msg, "invalid usage")))
        return err->code;
    if (a >= 0) {
        int pa = t->process_of[a], pb = t->process_of[b];
        return pp_error_set(err, PP_ERR_CONFIG,
            "nccl: ranks %d and %d are both on cuda:%d of %s (processes %d "
            "and %d), and NCCL refuses two ranks of one communicator on one "
            "GPU: give each rank a GPU of its own ([pipeline] devices = "
            "cuda gives each rank of a node the next one)",
            a < b ? a : b, a < b ? b : a, t->dev[a], t->host[pa],
            pa < pb ? pa : pb, pa < pb ? pb : pa);
    }
    char was[PP_ERROR_MAX];
    snprintf(was, sizeof was, "%s", err->msg);
    return pp_error_set(err, PP_ERR_CONFIG,
        "nccl: NCCL found two ranks of one communicator on one GPU: give "
        "each rank a GPU of its own ([pipeline] devices = cuda gives each "
        "rank of a node the next one; every process must see the same GPUs "
        "in CUDA_VISIBLE_DEVICES): %s", was);
}

/* open_job's first allgather: every process's host and each rank's GPU,
 * for explain_duplicate. */
static pp_status gather_places(transport *t, const pp_transport_job *job,
                               pp_error *err)
{
    size_t host = sizeof *t->host, bytes = host + (size_t)t->ranks *
                                                      sizeof(int);
    unsigned char *mine = calloc(1, bytes);
    unsigned char *all = calloc((size_t)job->processes, bytes);
    t->dev = malloc((size_t)t->ranks * sizeof *t->dev);
    t->host = calloc((size_t)job->processes, host);
    if (!mine || !all || !t->dev || !t->host) {
        free(mine);
        free(all);
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    }
    if (gethostname((char *)mine, host - 1) != 0)
        snprintf((char *)mine, host, "localhost");
    for (int r = 0; r < t->ranks; r++) {
        int dev = t->rank[r].dr ? t->rank[r].dr->index : -1;
        memcpy(mine + host + (size_t)r * sizeof dev, &dev, sizeof dev);
    }
    pp_status st = job->ops->allgather(mine, all, bytes, BOOTSTRAP_MS, err);
    for (int q = 0; !st && q < job->processes; q++)
        memcpy(t->host[q], all + (size_t)q * bytes, host - 1);
    for (int r = 0; !st && r < t->ranks; r++)
        memcpy(&t->dev[r], all + (size_t)t->process_of[r] * bytes + host +
                               (size_t)r * sizeof(int), sizeof(int));
    free(mine);
    free(all);
    return st;
}

/* n communicators' ids, the i-th made by process maker[i]: one
 * allgather, which every process joins, whether or not it made an id or
 * failed to. */
static pp_status share_ids(const pp_transport_job *job, int n,
                           const int *maker, ncclUniqueId *ids, pp_error *err)
{
    if (n == 0)
        return PP_OK;
    size_t bytes = (size_t)n * sizeof *ids;
    ncclUniqueId *mine = calloc((size_t)n, sizeof *mine);
    ncclUniqueId *all = calloc((size_t)n * (size_t)job->processes,
                               sizeof *all);
    pp_status st = mine && all ? PP_OK
                 : pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    for (int i = 0; !st && i < n; i++)
        if (maker[i] == job->process)
            st = NCCL_TRY(ncclGetUniqueId(&mine[i]), err);
    pp_error late;
    pp_status got = mine && all ? job->ops->allgather(
                                      mine, all, bytes, BOOTSTRAP_MS,
                                      st ? &late : err)
                                : PP_ERR_NOMEM;
    st = st ? st : got;
    for (int i = 0; !st && i < n; i++)
        ids[i] = all[(size_t)maker[i] * (size_t)n + (size_t)i];
    free(mine);
    free(all);
    return st;
}

/* The directions across processes: each one's id from the process of its
 * source rank (numbered over every process's, so every process's
 * allgather is the same size), this process's halves made in one NCCL
 * group, then one warm-up message each, also in one group (NCCL connects
 * a pair at its first message, and the other process's half must be
 * there to connect). Its byte is freed with the route: cudaFree
 * synchronizes the device, where the other processes' ranks may by then
 * wait for this one. */
static pp_status open_remote(transport *t, const unsigned char *links,
                             const pp_transport_job *job, pp_error *err)
{
    int n = 0, p = t->ranks;
    for (int i = 0; i < p * p; i++)
        n += links[i] && t->process_of[i / p] != t->process_of[i % p];
    int *maker = calloc((size_t)n + 1, sizeof *maker);
    ncclUniqueId *ids = calloc((size_t)n + 1, sizeof *ids);
    if (!maker || !ids) {
        free(maker), free(ids);
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    }
    for (int i = 0, k = 0; i < p * p; i++)
        if (links[i] && t->process_of[i / p] != t->process_of[i % p])
            maker[k++] = t->process_of[i / p];
    pp_status st = share_ids(job, n, maker, ids, err);
    for (int i = 0; !st && i < t->nroutes; i++)
        if (t->routes[i].remote)
            st = route_streams(&t->routes[i], err);
    if (!st && !(st = NCCL_TRY(ncclGroupStart(), err))) {
        for (int i = 0; !st && i < t->nroutes; i++) {
            route *r = &t->routes[i];
            int half = r->sdev < 0;
            if (r->remote &&
                !(st = CUDA_TRY(cudaSetDevice(half ? r->ddev : r->sdev),
                                err)))
                st = NCCL_TRY(ncclCommInitRank(&r->comm[half], 2,
                                               ids[r->remote - 1], half),
                              err);
        }
        pp_status end = NCCL_TRY(ncclGroupEnd(), err);
        int a = -1, b = -1;
        for (int i = 0; !st && end && i < t->nroutes; i++) {
            const route *r = &t->routes[i];
            if (r->remote && same_gpu(t, r->src, r->dst))
                a = r->src, b = r->dst;
        }
        if (!st && end)
            st = explain_duplicate(t, a, b, err);
    }
    for (int i = 0; !st && i < t->nroutes; i++) {
        route *r = &t->routes[i];
        int dev = r->sdev >= 0 ? r->sdev : r->ddev;
        if (r->remote && !(st = CUDA_TRY(cudaSetDevice(dev), err)))
            st = CUDA_TRY(cudaMalloc(&r->byte, 1), err);
    }
    if (!st && !(st = NCCL_TRY(ncclGroupStart(), err))) {
        for (int i = 0; !st && i < t->nroutes; i++) {
            route *r = &t->routes[i];
            if (r->remote && r->sdev >= 0)
                st = NCCL_TRY(ncclSend(r->byte, 1, ncclUint8, 1, r->comm[0],
                                       r->send), err);
            else if (r->remote)
                st = NCCL_TRY(ncclRecv(r->byte, 1, ncclUint8, 0, r->comm[1],
                                       r->recv), err);
        }
        pp_status end = NCCL_TRY(ncclGroupEnd(), err);
        st = st ? st : end;
    }
    for (int i = 0; !st && i < t->nroutes; i++) {
        route *r = &t->routes[i];
        if (r->remote &&
            !(st = CUDA_TRY(cudaStreamSynchronize(r->sdev >= 0 ? r->send
                                                               : r->recv),
                            err)))
            r->warm = 1;
    }
    free(maker);
    free(ids);
    return st;
}

/* Refused before NCCL or CUDA is asked anything: what this transport
 * cannot do. Two ranks of this process on one GPU; across processes
 * NCCL says it (open_remote). */
static pp_status check_open(int ranks, const pp_transport_rank *rank,
                            const unsigned char *links,
                            const pp_transport_job *job, pp_error *err)
{
    /* Non-blocking communicators return ncclInProgress from every call
     * and finish in the background; this transport waits for nothing of
     * the kind, and would fail at its first call with NCCL's message. */
    const char *blocking = getenv("NCCL_COMM_BLOCKING");
    if (blocking && strcmp(blocking, "0") == 0)
        return pp_error_set(err, PP_ERR_CONFIG,
            "nccl: NCCL_COMM_BLOCKING=0 is not supported: unset it, or "
            "use transport = peer");
    for (int s = 0; s < ranks; s++)
        for (int d = 0; d < ranks; d++) {
            if (!links[s * ranks + d] || s == d ||
                (job && (job->process_of[s] != job->process ||
                         job->process_of[d] != job->process)))
                continue;
            int dev = rank[s].dr->index;
            if (dev == rank[d].dr->index)
                return refuse_shared(s, d, dev, err);
        }
    return PP_OK;
}

/* The transport, its routes (the linked directions with a half in this
 * process) made but not opened. process_of is NULL in one process. */
static pp_status new_transport(int ranks, const pp_transport_rank *rank,
                               const unsigned char *links,
                               const pp_transport_job *job, transport **out,
                               pp_error *err)
{
    int n = 0;
    const int *of = job ? job->process_of : NULL;
    int me = job ? job->process : 0;
#define HERE(r) (!of || of[r] == me)
    for (int i = 0; i < ranks * ranks; i++)
        n += links[i] && (HERE(i / ranks) || HERE(i % ranks));
    transport *t = calloc(1, sizeof *t + (size_t)n * sizeof(route));
    if (!t)
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    atomic_init(&t->aborted, 0);
    pthread_mutex_init(&t->fail_lock, NULL);
    pthread_mutex_init(&t->watch_lock, NULL);
    pthread_mutex_init(&t->group_lock, NULL);
    pthread_cond_init(&t->watch_cv, NULL);
    *out = t;
    t->ranks = ranks;
    t->rank = calloc((size_t)ranks, sizeof *t->rank);
    t->process_of = of ? malloc((size_t)ranks * sizeof *of) : NULL;
    if (!t->rank || (of && !t->process_of))
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    memcpy(t->rank, rank, (size_t)ranks * sizeof *rank);
    if (of)
        memcpy(t->process_of, of, (size_t)ranks * sizeof *of);
    int remote = 0;
    for (int s = 0; s < ranks; s++)
        for (int d = 0; d < ranks; d++) {
            if (!links[s * ranks + d])
                continue;
            int across = of && of[s] != of[d];
            remote += across; /* numbered over every process's */
            if (!HERE(s) && !HERE(d))
                continue;
            route *r = &t->routes[t->nroutes++];
            *r = (route){.src = s, .dst = d, .remote = across ? remote : 0,
                         .sdev = HERE(s) ? rank[s].dr->index : -1,
                         .ddev = HERE(d) ? rank[d].dr->index : -1,
                         .scompute = HERE(s) ? rank[s].dr->stream : NULL,
                         .dcompute = HERE(d) ? rank[d].dr->stream : NULL};
            pthread_mutex_init(&r->lock, NULL);
            pthread_cond_init(&r->posted_cv, NULL);
        }
#undef HERE
    return PP_OK;
}

/* open and open_job: the directions within this process first (each on
 * its own), then those across processes (all at once). */
static pp_status open_any(int ranks, const pp_transport_rank *rank,
                          const unsigned char *links,
                          const pp_transport_job *job, void **out,
                          pp_error *err)
{
    *out = NULL;
    transport *t = NULL;
    int prev = -1, shared = 0;
    pp_status st = new_transport(ranks, rank, links, job, &t, err);
    if (!st && job)
        st = gather_places(t, job, err);
    if (!st)
        st = CUDA_TRY(cudaGetDevice(&prev), err);
    for (int i = 0; !st && i < t->nroutes; i++) {
        route *r = &t->routes[i];
        shared |= !r->remote && r->src != r->dst;
        if (!r->remote && (st = route_open(r, err)))
            pp_error_prefix(err, "link %d -> %d", r->src, r->dst);
    }
    if (!st && job)
        st = open_remote(t, links, job, err);
    if (!st)
        st = check_launch_mode(shared, err);
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

static pp_status nccl_open(int ranks, const pp_transport_rank *rank,
                           const unsigned char *links, void **out,
                           pp_error *err)
{
    *out = NULL;
    if (check_open(ranks, rank, links, NULL, err))
        return err->code;
    return open_any(ranks, rank, links, NULL, out, err);
}

static pp_status nccl_open_job(int ranks, const pp_transport_rank *rank,
                               const unsigned char *links,
                               const pp_transport_job *job, void **out,
                               pp_error *err)
{
    *out = NULL;
    if (!job || !job->process_of || !job->ops || !job->ops->allgather ||
        job->processes < 1 || job->process < 0 ||
        job->process >= job->processes)
        return pp_error_set(err, PP_ERR_RUNTIME,
            "nccl: no job, or a job without its processes");
    for (int r = 0; r < ranks; r++) {
        int q = job->process_of[r];
        if (q < 0 || q >= job->processes)
            return pp_error_set(err, PP_ERR_RUNTIME,
                "nccl: rank %d is placed in process %d, and the job has "
                "processes 0 to %d", r, q, job->processes - 1);
        if (q == job->process && !rank[r].dr)
            return pp_error_set(err, PP_ERR_RUNTIME,
                "nccl: rank %d is this process's but has no device", r);
    }
    if (check_open(ranks, rank, links, job, err))
        return err->code;
    return open_any(ranks, rank, links, job, out, err);
}

/* The group's communicators. In one process: ncclCommInitAll. Across
 * processes: the id from the process of its first rank, through one
 * allgather that every process joins, then this process's ranks join
 * with ncclCommInitRank, in one NCCL group. */
static pp_status group_comms(const transport *t, group *g,
                             const pp_transport_job *job, pp_error *err)
{
    if (!job) {
        ncclComm_t *comm = calloc((size_t)g->nmembers, sizeof *comm);
        int *dev = calloc((size_t)g->nmembers, sizeof *dev);
        pp_status st = comm && dev ? PP_OK
                     : pp_error_set(err, PP_ERR_NOMEM, "out of memory");
        for (int k = 0; !st && k < g->nmembers; k++)
            dev[k] = g->member[k].dev;
        if (!st && !(st = NCCL_TRY(ncclCommInitAll(comm, g->nmembers, dev),
                                   err)))
            for (int k = 0; k < g->nmembers; k++)
                g->member[k].comm = comm[k];
        free(comm);
        free(dev);
        return st;
    }
    int maker = job->process_of[g->rank[0]];
    ncclUniqueId id;
    if (share_ids(job, 1, &maker, &id, err))
        return err->code;
    if (g->nmembers == 0)
        return PP_OK; /* the allgather was all it had to do */
    if (NCCL_TRY(ncclGroupStart(), err))
        return err->code;
    pp_status st = PP_OK;
    for (int k = 0, at = 0; !st && k < g->nmembers; k++) {
        member *m = &g->member[k];
        while (g->rank[at] != m->rank)
            at++; /* its NCCL rank: where it is in the group */
        if (!(st = CUDA_TRY(cudaSetDevice(m->dev), err)))
            st = NCCL_TRY(ncclCommInitRank(&m->comm, g->n, id, at), err);
    }
    pp_status end = NCCL_TRY(ncclGroupEnd(), err);
    int a = -1, b = -1;
    for (int i = 0; !st && end && i < g->n; i++)
        for (int j = i + 1; j < g->n; j++)
            if (same_gpu(t, g->rank[i], g->rank[j]))
                a = g->rank[i], b = g->rank[j];
    return st ? st : end ? explain_duplicate(t, a, b, err) : PP_OK;
}

/* One 1-byte sum of every member, in one NCCL group: NCCL connects a
 * collective's ranks at its first call, where a rank's thread would
 * wait for the others. Its bytes are freed with the group (see
 * open_remote). */
static pp_status group_warm_up(group *g, pp_error *err)
{
    pp_status st = PP_OK;
    for (int k = 0; !st && k < g->nmembers; k++)
        if (!(st = CUDA_TRY(cudaSetDevice(g->member[k].dev), err)))
            st = CUDA_TRY(cudaMalloc(&g->member[k].byte, 1), err);
    if (!st && !(st = NCCL_TRY(ncclGroupStart(), err))) {
        for (int k = 0; !st && k < g->nmembers; k++) {
            member *m = &g->member[k];
            st = NCCL_TRY(ncclAllReduce(m->byte, m->byte, 1, ncclUint8,
                                        ncclSum, m->comm, m->stream), err);
        }
        pp_status end = NCCL_TRY(ncclGroupEnd(), err);
        st = st ? st : end;
    }
    for (int k = 0; !st && k < g->nmembers; k++)
        st = CUDA_TRY(cudaStreamSynchronize(g->member[k].stream), err);
    g->warm = !st;
    return st;
}

static pp_status check_group(const transport *t, const int *ranks, int n,
                             const pp_transport_job *job, pp_error *err)
{
    if (n < 1)
        return pp_error_set(err, PP_ERR_RUNTIME,
                            "nccl: a group of %d ranks", n);
    for (int i = 0; i < n; i++) {
        int r = ranks[i];
        if (r < 0 || r >= t->ranks)
            return pp_error_set(err, PP_ERR_RUNTIME,
                "nccl: rank %d of the group is not one of the %d opened", r,
                t->ranks);
        if (!job && !t->rank[r].dr)
            return pp_error_set(err, PP_ERR_RUNTIME,
                "nccl: rank %d of the group is another process's: open it "
                "with the job", r);
        for (int j = 0; j < i; j++) {
            const pp_device_rank *a = t->rank[ranks[j]].dr,
                                 *b = t->rank[r].dr;
            if (ranks[j] == r)
                return pp_error_set(err, PP_ERR_RUNTIME,
                    "nccl: rank %d is in the group twice", r);
            if (a && b && a->index == b->index)
                return refuse_shared(ranks[j], r, a->index, err);
        }
    }
    return PP_OK;
}

static pp_status nccl_group_open(void *handle, const int *ranks, int n,
                                 const pp_transport_job *job, int *id,
                                 pp_error *err)
{
    transport *t = handle;
    *id = -1;
    if (job && !t->process_of)
        return pp_error_set(err, PP_ERR_RUNTIME,
            "nccl: a group across processes of a transport opened in one");
    if (check_group(t, ranks, n, job, err))
        return err->code;
    group *g = calloc(1, sizeof *g);
    if (g) {
        g->n = n;
        g->rank = malloc((size_t)n * sizeof *g->rank);
        g->member = calloc((size_t)n, sizeof *g->member);
    }
    if (!g || !g->rank || !g->member) {
        if (g)
            free(g->rank), free(g->member);
        free(g);
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    }
    memcpy(g->rank, ranks, (size_t)n * sizeof *ranks);
    for (int i = 0; i < n; i++) {
        const pp_device_rank *dr = t->rank[ranks[i]].dr;
        if (!dr || (job && job->process_of[ranks[i]] != job->process))
            continue;
        member *m = &g->member[g->nmembers++];
        *m = (member){.rank = ranks[i], .dev = dr->index,
                      .stream = dr->stream};
        pthread_mutex_init(&m->lock, NULL);
    }
    int prev = -1;
    pp_status st = CUDA_TRY(cudaGetDevice(&prev), err);
    if (!st)
        st = group_comms(t, g, job, err);
    if (!st)
        st = group_warm_up(g, err);
    if (!st)
        st = check_launch_mode(g->nmembers > 1, err);
    group **grown = NULL;
    if (!st) {
        pthread_mutex_lock(&t->group_lock);
        grown = realloc(t->groups, (size_t)(t->ngroups + 1) * sizeof *grown);
        if (grown) {
            t->groups = grown;
            *id = t->ngroups;
            t->groups[t->ngroups++] = g;
        }
        pthread_mutex_unlock(&t->group_lock);
        if (!grown)
            st = pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    }
    if (st) {
        group_end(g);
        group_free(g);
    }
    if (prev >= 0)
        (void)cudaSetDevice(prev);
    return st;
}

/* A search: a pipeline has a few routes per rank. `at` is the rank
 * calling, whose half must be in this process. */
static route *route_of(transport *t, int src, int dst, int at, pp_error *err)
{
    for (int i = 0; i < t->nroutes; i++) {
        route *r = &t->routes[i];
        if (r->src != src || r->dst != dst)
            continue;
        if ((at == src ? r->sdev : r->ddev) >= 0)
            return r;
        pp_error_set(err, PP_ERR_RUNTIME,
                     "nccl: rank %d is another process's", at);
        return NULL;
    }
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
    if (!r->remote && queue_room(r, err))
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
    if (r->remote) /* its receiver is in another process */
        return PP_OK;
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
    route *r = route_of(t, src, dst, src, err);
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
    route *r = route_of(t, src, dst, src, err);
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
    if (nccl_watch_take(&r->watch, timeout_ms, &w, err) ||
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
    route *r = route_of(t, src, dst, dst, err);
    if (!r)
        return err->code;
    struct timespec deadline = pp_deadline_after(timeout_ms);
    int prev;
    if (enter(r->ddev, &prev, err))
        return err->code;
    pthread_mutex_lock(&r->lock);
    int late = 0;
    /* Across processes there is no queue to wait on: the receive is
     * issued at once, and the watchdog bounds it. */
    pp_status st =
        !r->remote ? take(t, r, tag, buf, bytes, timeout_ms, &deadline,
                          &late, err)
        : atomic_load(&t->aborted) ? nccl_stopped(t, err)
        : bytes ? receive(r, (posted){tag, bytes, -1}, buf, timeout_ms, err)
                : PP_OK;
    pthread_mutex_unlock(&r->lock);
    if (late) /* with no route's lock held: it takes each */
        nccl_watch_explain(t, err);
    leave(r->ddev, prev);
    return st;
}

/* Threads only, after group_open: the groups array no longer grows. */
static member *member_of(transport *t, int id, int rank, pp_error *err)
{
    group *g = id >= 0 && id < t->ngroups ? t->groups[id] : NULL;
    for (int k = 0; g && k < g->nmembers; k++)
        if (g->member[k].rank == rank)
            return &g->member[k];
    pp_error_set(err, PP_ERR_RUNTIME, "nccl: rank %d is not this process's "
                 "in a group %d opened", rank, id);
    return NULL;
}

/* In place on the rank's stream, between the two events the watchdog
 * times it by. */
static pp_status nccl_sum_async(void *handle, int id, int rank, float *buf,
                                size_t n, int timeout_ms, pp_error *err)
{
    transport *t = handle;
    member *m = member_of(t, id, rank, err);
    if (!m)
        return err->code;
    if (n == 0)
        return PP_OK;
    int prev;
    if (enter(m->dev, &prev, err))
        return err->code;
    pthread_mutex_lock(&m->lock);
    watch *w;
    pp_status st = PP_OK;
    if (atomic_load(&t->aborted) || !m->comm)
        st = nccl_stopped(t, err);
    else if (!(st = nccl_watch_take(&m->watch, timeout_ms, &w, err)) &&
             !(st = CUDA_TRY(cudaEventRecord(w->begun, m->stream), err)) &&
             !(st = NCCL_TRY(ncclAllReduce(buf, buf, n, ncclFloat, ncclSum,
                                           m->comm, m->stream), err)))
        st = CUDA_TRY(cudaEventRecord(w->landed, m->stream), err);
    pthread_mutex_unlock(&m->lock);
    leave(m->dev, prev);
    return st;
}

static const pp_transport_ops ops = {
    .memory = PP_MEMORY_CUDA,
    .reach = PP_REACH_THREADS | PP_REACH_PROCESSES,
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
    .open_job = nccl_open_job,
    .group_open = nccl_group_open,
    .sum_async = nccl_sum_async,
};

PP_PLUGIN(PP_KIND_TRANSPORT, "nccl",
          "GPU ranks on different GPUs: NCCL, in send order; replicas' "
          "sums as all-reduces", NULL, &ops);
