/* tests/emu/nccl_emu.c - the NCCL calls pipette makes, between emulated
 * GPUs of one process: communicators made by ncclCommInitAll, or by
 * ncclGetUniqueId and ncclCommInitRank (alone or in a group), point to
 * point ncclSend/ncclRecv in and out of groups, ncclAllReduce (sums of
 * ncclFloat32 or ncclUint8), destroy and abort, and the library's version
 * and error texts.
 *
 * What the nccl transport relies on, and gets wrong silently on a GPU if
 * it is wrong, is emulated as NCCL does it rather than made easy:
 *   - A send and its receive are matched by order alone: the k-th send
 *     from rank a to rank b with the k-th receive of b from a, numbered
 *     when they are issued. A size mismatch is reported on stderr.
 *   - Each operation is queued on its stream (cuda_emu_stream.c) and, when
 *     it runs there, holds that stream until its other half runs on the
 *     peer's: a send whose receive is never issued holds its stream for
 *     ever, and so does everything that waits for it (cudaFree, which
 *     synchronizes every device, included). A sum holds its stream until
 *     every rank's k-th sum runs, then each gets the same bits: the ranks'
 *     values added in rank order.
 *   - A group's operations on one stream run as one item, which posts its
 *     sends before it waits for its receives, so a rank may send to itself
 *     within one group.
 *   - The first operation between two ranks in each direction connects
 *     them, and its host call waits until the peer has issued its side;
 *     likewise a communicator's first sum waits until every rank has
 *     issued one.
 *   - ncclCommInitRank waits until every rank of the communicator has
 *     called it with the same id (or, in a group, until ncclGroupEnd), and
 *     refuses two ranks on one device as NCCL does. The ranks must be in
 *     this process: the emulator's devices are its own memory, so a
 *     communicator across processes waits for ever (with the note below).
 *   - ncclCommDestroy waits for the communicator's operations to finish;
 *     ncclCommAbort ends them where they are. Aborting one rank's
 *     communicator does not release its peers' operations.
 * Where a wait lasts more than 10 s a line on stderr says what it waits
 * for, so that a hang explains itself; the wait goes on, as NCCL's does.
 * Two faults can be injected, for the tests of what bounds such waits:
 * a send or sum of PIPETTE_EMU_NCCL_STALL bytes or more is never
 * delivered (its receive, the sum and the send spin until aborted), and
 * one of PIPETTE_EMU_NCCL_FAIL bytes or more is not delivered either and
 * sets its communicators' asynchronous error (ncclCommGetAsyncError), as
 * a broken link would. (2 spares the transport's 1-byte warm-ups and hits
 * every message and sum.) pp_emu_nccl_sums() counts the ncclAllReduce
 * calls issued, for tests that a run took that path.
 * Needs the emulator's asynchronous streams: with PIPETTE_EMU_SYNC=1 an
 * operation would hold the issuing thread itself, so communicators are
 * refused there.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cuda_runtime_api.h>
#include <nccl.h>

#include "cuda_emu.h"

/* nccl.h declares these without a prototype. */
ncclResult_t ncclGroupStart(void);
ncclResult_t ncclGroupEnd(void);

#define COMM_MAGIC 0x4e43434cu /* "NCCL" */
#define HANG_NOTE_S 10

/* One ncclCommInitAll's ranks. chan[a * n + b] is the direction a -> b. */
typedef struct chan {
    uint64_t sends, recvs; /* issued so far: the next one's number */
    int send_side, recv_side; /* each side has issued its first op */
} chan;

typedef struct posting {
    struct posting *next;
    int chan;
    uint64_t seq;
    const void *buf;
    size_t bytes;
    int consumed;
} posting;

/* The k-th sum of a clique, as its ranks' items come to it. */
typedef struct summing {
    struct summing *next;
    uint64_t seq;
    ncclDataType_t type;
    size_t count;
    const void **in; /* [n]: each rank's, as it arrives */
    void **out;
    int arrived, left;
    int lost, done; /* a fault took it; the sum is in every out */
} summing;

typedef struct clique {
    int n;
    ncclResult_t async; /* what ncclCommGetAsyncError reports */
    unsigned refs; /* its communicators */
    chan *chan;
    posting *posted; /* sends running, not yet received */
    int sum_joined; /* ranks that have issued a sum */
    summing *sums; /* sums some rank's item has come to */
} clique;

struct ncclComm {
    unsigned magic;
    clique *c;
    int rank, device;
    int aborted, destroyed;
    unsigned refs; /* the caller's, until destroy or abort, and each op's */
    unsigned inflight;
    uint64_t sums; /* sums issued: the next one's number */
};

typedef struct op {
    int send;
    int sum; /* an all-reduce: buf is its output, in its input */
    void *buf;
    const void *in;
    ncclDataType_t type;
    size_t count;
    size_t bytes;
    int peer;
    ncclComm_t comm;
    cudaStream_t stream;
    uint64_t seq;
} op;

/* A ncclCommInitRank waiting in a group for its ncclGroupEnd. */
typedef struct joining {
    ncclComm_t *comm;
    int nranks, rank, device;
    ncclUniqueId id;
} joining;

/* A communicator being made by ncclCommInitRank: the ranks that have
 * called it with its id. */
typedef struct forming {
    struct forming *next;
    ncclUniqueId id;
    int n, joined, left;
    int *device; /* [n], -1 until that rank joins */
    ncclComm_t *made;
    int done;
    ncclResult_t rc;
    char why[256];
} forming;

/* One mutex for every communicator: a group may span several. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t progress = PTHREAD_COND_INITIALIZER;

static forming *formings;
static unsigned long sums_issued;

/* The calling thread's open group and NCCL's last error text. */
static _Thread_local struct {
    int depth;
    ncclResult_t failed;
    op *ops;
    size_t n, cap;
    joining *joins;
    size_t njoins, capjoins;
} group;
static _Thread_local char last_error[256];

static ncclResult_t fail(ncclResult_t rc, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static ncclResult_t fail(ncclResult_t rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return rc;
}

ncclResult_t ncclGetVersion(int *version)
{
    if (!version)
        return fail(ncclInvalidArgument, "ncclGetVersion: version is NULL");
    *version = NCCL_VERSION_CODE;
    return ncclSuccess;
}

/* NCCL's own texts, so that messages read as on a GPU. */
const char *ncclGetErrorString(ncclResult_t rc)
{
    switch (rc) {
    case ncclSuccess:
        return "no error";
    case ncclUnhandledCudaError:
        return "unhandled cuda error (run with NCCL_DEBUG=INFO for details)";
    case ncclSystemError:
        return "unhandled system error (run with NCCL_DEBUG=INFO for "
               "details)";
    case ncclInternalError:
        return "internal error - please report this issue to the NCCL "
               "developers";
    case ncclInvalidArgument:
        return "invalid argument (run with NCCL_DEBUG=WARN for details)";
    case ncclInvalidUsage:
        return "invalid usage (run with NCCL_DEBUG=WARN for details)";
    case ncclRemoteError:
        return "remote process exited or there was a network error";
    case ncclInProgress:
        return "NCCL operation in progress";
    default:
        return "unknown result code";
    }
}

const char *ncclGetLastError(ncclComm_t comm)
{
    (void)comm; /* NCCL keeps it per thread too */
    return last_error;
}

/* Under lock: waits on `progress`, saying once after HANG_NOTE_S what for. */
static void wait_noting(int *noted, const char *what, int a, int b)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_sec += HANG_NOTE_S;
    if (pthread_cond_timedwait(&progress, &lock, &t) != 0 && !*noted) {
        *noted = 1;
        pp_emu_complain("NCCL: still waiting, after %d s, for %s (ranks %d "
                        "and %d)", HANG_NOTE_S, what, a, b);
    }
}

/* Under lock: drops one reference; the last frees the communicator and,
 * with its last one, the clique. */
static void comm_drop(ncclComm_t comm)
{
    if (--comm->refs)
        return;
    clique *c = comm->c;
    comm->magic = 0;
    free(comm);
    if (--c->refs == 0) {
        while (c->sums) { /* left by aborted ranks */
            summing *next = c->sums->next;
            free(c->sums->in);
            free(c->sums->out);
            free(c->sums);
            c->sums = next;
        }
        free(c->chan);
        free(c);
    }
}

/* A clique of n communicators on devices dev[n], into comms. */
static ncclResult_t make_clique(int n, const int *dev, ncclComm_t *comms,
                                const char *call)
{
    clique *c = calloc(1, sizeof *c);
    chan *ch = calloc((size_t)n * (size_t)n, sizeof *ch);
    ncclComm_t *made = calloc((size_t)n, sizeof *made);
    for (int i = 0; c && ch && made && i < n; i++)
        made[i] = calloc(1, sizeof **made);
    if (!c || !ch || !made || !made[n - 1]) {
        for (int i = 0; made && i < n; i++)
            free(made[i]);
        free(made), free(ch), free(c);
        return fail(ncclSystemError, "%s: out of memory", call);
    }
    *c = (clique){.n = n, .refs = (unsigned)n, .chan = ch};
    for (int i = 0; i < n; i++) {
        *made[i] = (struct ncclComm){.magic = COMM_MAGIC, .c = c, .rank = i,
                                     .device = dev[i], .refs = 1};
        comms[i] = made[i];
    }
    free(made);
    return ncclSuccess;
}

/* Where a communicator may be made: asynchronous streams and a device. */
static ncclResult_t can_make(void)
{
    if (pp_emu_sync_mode())
        return fail(ncclInvalidUsage, "the emulator's NCCL needs "
                    "asynchronous streams: unset PIPETTE_EMU_SYNC");
    if (pp_emu_have_device() != cudaSuccess)
        return fail(ncclUnhandledCudaError, "Cuda failure 'no CUDA-capable "
                    "device is detected'");
    return ncclSuccess;
}

/* NCCL's refusal of two ranks of one communicator on one device. */
static ncclResult_t duplicate(int n, const int *dev)
{
    for (int i = 0; i < n; i++)
        for (int j = 0; j < i; j++)
            if (dev[j] == dev[i])
                return fail(ncclInvalidUsage, "Duplicate GPU detected : "
                            "rank %d and rank %d both on CUDA device %d",
                            j, i, dev[i]);
    return ncclSuccess;
}

ncclResult_t ncclCommInitAll(ncclComm_t *comms, int ndev, const int *devlist)
{
    if (!comms || ndev < 1)
        return fail(ncclInvalidArgument, "ncclCommInitAll: comms %p, ndev %d",
                    (void *)comms, ndev);
    ncclResult_t rc = can_make();
    if (rc != ncclSuccess)
        return rc;
    int *dev = calloc((size_t)ndev, sizeof *dev);
    if (!dev)
        return fail(ncclSystemError, "ncclCommInitAll: out of memory");
    for (int i = 0; rc == ncclSuccess && i < ndev; i++) {
        dev[i] = devlist ? devlist[i] : i;
        if (dev[i] < 0 || dev[i] >= pp_emu_device_count())
            rc = fail(ncclInvalidArgument, "ncclCommInitAll: rank %d: "
                      "invalid device %d", i, dev[i]);
    }
    if (rc == ncclSuccess)
        rc = duplicate(ndev, dev);
    if (rc == ncclSuccess) {
        pthread_mutex_lock(&lock);
        rc = make_clique(ndev, dev, comms, "ncclCommInitAll");
        pthread_mutex_unlock(&lock);
    }
    free(dev);
    return rc;
}

ncclResult_t ncclGetUniqueId(ncclUniqueId *id)
{
    static unsigned long made;
    if (!id)
        return fail(ncclInvalidArgument, "ncclGetUniqueId: uniqueId is "
                    "NULL");
    pthread_mutex_lock(&lock);
    unsigned long k = ++made;
    pthread_mutex_unlock(&lock);
    memset(id, 0, sizeof *id);
    snprintf(id->internal, sizeof id->internal, "pipette emulator id %lu",
             k);
    return ncclSuccess;
}

/* Under lock: j's rank joins the communicator of its id, which is made
 * once the last has. *f is where to wait for it. */
static ncclResult_t join(const joining *j, forming **out)
{
    forming *f = formings;
    while (f && (f->done ||
                 memcmp(f->id.internal, j->id.internal, sizeof f->id) != 0))
        f = f->next;
    if (!f) {
        f = calloc(1, sizeof *f);
        int *dev = calloc((size_t)j->nranks, sizeof *dev);
        ncclComm_t *made = calloc((size_t)j->nranks, sizeof *made);
        if (!f || !dev || !made) {
            free(f), free(dev), free(made);
            return fail(ncclSystemError, "ncclCommInitRank: out of memory");
        }
        *f = (forming){.next = formings, .id = j->id, .n = j->nranks,
                       .device = dev, .made = made};
        for (int i = 0; i < j->nranks; i++)
            dev[i] = -1;
        formings = f;
    }
    if (f->n != j->nranks)
        return fail(ncclInvalidArgument, "ncclCommInitRank: rank %d says "
                    "%d ranks, and another rank of its id said %d", j->rank,
                    j->nranks, f->n);
    if (f->device[j->rank] >= 0)
        return fail(ncclInvalidArgument, "ncclCommInitRank: rank %d of the "
                    "id joined twice", j->rank);
    f->device[j->rank] = j->device;
    *out = f;
    if (++f->joined < f->n)
        return ncclSuccess;
    f->done = 1;
    f->rc = duplicate(f->n, f->device);
    if (f->rc == ncclSuccess)
        f->rc = make_clique(f->n, f->device, f->made, "ncclCommInitRank");
    if (f->rc != ncclSuccess)
        snprintf(f->why, sizeof f->why, "%s", last_error);
    pthread_cond_broadcast(&progress);
    return ncclSuccess;
}

/* Under lock: waits until f is made, takes rank's communicator (or the
 * failure every rank gets) and, the last to, frees f. */
static ncclResult_t joined(forming *f, int rank, ncclComm_t *comm)
{
    int noted = 0;
    while (f->joined < f->n)
        wait_noting(&noted, "ncclCommInitRank: the other ranks of the "
                    "communicator, which must each call it with the same "
                    "id (in this process)", rank, f->n);
    ncclResult_t rc = f->rc;
    *comm = rc == ncclSuccess ? f->made[rank] : NULL;
    if (rc != ncclSuccess)
        snprintf(last_error, sizeof last_error, "%s", f->why);
    if (++f->left == f->n) {
        forming **at = &formings;
        while (*at != f)
            at = &(*at)->next;
        *at = f->next;
        free(f->device);
        free(f->made);
        free(f);
    }
    return rc;
}

ncclResult_t ncclCommInitRank(ncclComm_t *comm, int nranks, ncclUniqueId id,
                              int rank)
{
    if (!comm || nranks < 1 || rank < 0 || rank >= nranks)
        return fail(ncclInvalidArgument, "ncclCommInitRank: comm %p, "
                    "nranks %d, rank %d", (void *)comm, nranks, rank);
    ncclResult_t rc = can_make();
    if (rc != ncclSuccess)
        return rc;
    joining j = {comm, nranks, rank, pp_emu_current_device(), id};
    if (group.depth > 0) { /* joins at ncclGroupEnd */
        if (group.njoins == group.capjoins) {
            size_t cap = group.capjoins ? 2 * group.capjoins : 4;
            joining *grown = realloc(group.joins, cap * sizeof *grown);
            if (!grown) {
                group.failed = fail(ncclSystemError, "ncclCommInitRank: "
                                    "out of memory");
                return group.failed;
            }
            group.joins = grown;
            group.capjoins = cap;
        }
        group.joins[group.njoins++] = j;
        return ncclSuccess;
    }
    pthread_mutex_lock(&lock);
    forming *f = NULL;
    rc = join(&j, &f);
    if (rc == ncclSuccess)
        rc = joined(f, rank, comm);
    pthread_mutex_unlock(&lock);
    return rc;
}

/* ncclGroupEnd's joins: every one joins first, then each waits, so one
 * thread may make several ranks of a communicator. */
static ncclResult_t join_group(void)
{
    forming **f = calloc(group.njoins + 1, sizeof *f);
    if (!f)
        return fail(ncclSystemError, "ncclGroupEnd: out of memory");
    ncclResult_t rc = ncclSuccess;
    pthread_mutex_lock(&lock);
    for (size_t i = 0; rc == ncclSuccess && i < group.njoins; i++)
        rc = join(&group.joins[i], &f[i]);
    for (size_t i = 0; i < group.njoins; i++) {
        ncclResult_t got = f[i] ? joined(f[i], group.joins[i].rank,
                                         group.joins[i].comm)
                                : ncclSuccess;
        rc = rc != ncclSuccess ? rc : got;
    }
    pthread_mutex_unlock(&lock);
    free(f);
    group.njoins = 0;
    return rc;
}

/* Under lock: a communicator the caller may still use. */
static ncclResult_t usable(ncclComm_t comm, const char *call)
{
    if (!comm || comm->magic != COMM_MAGIC)
        return fail(ncclInvalidArgument, "%s: comm %p is not a "
                    "communicator", call, (void *)comm);
    if (comm->aborted || comm->destroyed)
        return fail(ncclInvalidUsage, "%s: the communicator was %s", call,
                    comm->aborted ? "aborted" : "destroyed");
    return ncclSuccess;
}

ncclResult_t ncclCommDestroy(ncclComm_t comm)
{
    pthread_mutex_lock(&lock);
    ncclResult_t rc = usable(comm, "ncclCommDestroy");
    if (rc == ncclSuccess) {
        comm->destroyed = 1;
        int noted = 0;
        while (comm->inflight && !comm->aborted)
            wait_noting(&noted, "ncclCommDestroy: a send or receive of the "
                        "communicator never completes, and destroy waits "
                        "for it (ncclCommAbort would end it)",
                        comm->rank, comm->rank);
        comm_drop(comm);
    }
    pthread_mutex_unlock(&lock);
    return rc;
}

ncclResult_t ncclCommAbort(ncclComm_t comm)
{
    pthread_mutex_lock(&lock);
    ncclResult_t rc = ncclSuccess;
    if (!comm || comm->magic != COMM_MAGIC || comm->aborted) {
        rc = fail(ncclInvalidArgument, "ncclCommAbort: comm %p is not a "
                  "live communicator", (void *)comm);
    } else {
        comm->aborted = 1;
        pthread_cond_broadcast(&progress);
        if (!comm->destroyed) /* else the destroy waiting drops it */
            comm_drop(comm);
    }
    pthread_mutex_unlock(&lock);
    return rc;
}

ncclResult_t ncclCommGetAsyncError(ncclComm_t comm, ncclResult_t *async)
{
    pthread_mutex_lock(&lock);
    ncclResult_t rc = usable(comm, "ncclCommGetAsyncError");
    if (rc == ncclSuccess && !async)
        rc = fail(ncclInvalidArgument, "ncclCommGetAsyncError: asyncError "
                  "is NULL");
    if (rc == ncclSuccess)
        *async = comm->c->async;
    pthread_mutex_unlock(&lock);
    return rc;
}

ncclResult_t ncclGroupStart(void)
{
    group.depth++;
    return ncclSuccess;
}

static size_t type_size(ncclDataType_t t)
{
    switch (t) {
    case ncclInt8: case ncclUint8: case ncclFloat8e4m3: case ncclFloat8e5m2:
        return 1;
    case ncclFloat16: case ncclBfloat16: return 2;
    case ncclInt32: case ncclUint32: case ncclFloat32: return 4;
    case ncclInt64: case ncclUint64: case ncclFloat64: return 8;
    default: return 0;
    }
}

/* Checks one operation as NCCL would at the call and adds it to the
 * group; the outermost ncclGroupEnd issues them. o's comm, stream,
 * buffers and sizes are the caller's; `in` is a sum's input. */
static ncclResult_t add(op o, const char *call)
{
    int sdev = -1, bdev = -1;
    pthread_mutex_lock(&lock);
    ncclResult_t rc = usable(o.comm, call);
    int device = rc == ncclSuccess ? o.comm->device : -1;
    if (rc == ncclSuccess && !o.sum && (o.peer < 0 || o.peer >= o.comm->c->n))
        rc = fail(ncclInvalidArgument, "%s: peer %d is not a rank of the "
                  "communicator (%d ranks)", call, o.peer, o.comm->c->n);
    pthread_mutex_unlock(&lock);
    if (rc == ncclSuccess && !type_size(o.type))
        rc = fail(ncclInvalidArgument, "%s: invalid data type %d", call,
                  (int)o.type);
    if (rc == ncclSuccess && o.sum && o.type != ncclFloat32 &&
        o.type != ncclUint8)
        rc = fail(ncclInvalidArgument, "%s: the emulator sums ncclFloat32 "
                  "and ncclUint8 only, not type %d", call, (int)o.type);
    o.bytes = o.count * type_size(o.type);
    if (rc == ncclSuccess &&
        (pp_emu_stream_device(o.stream, &sdev) != cudaSuccess ||
         sdev != device))
        rc = fail(ncclInvalidUsage, "%s: the stream is not one of the "
                  "communicator's device (cuda:%d)", call, device);
    for (int k = 0; k < 1 + o.sum && rc == ncclSuccess && o.bytes; k++) {
        const void *b = k ? o.in : o.buf;
        if (pp_emu_locate(b, o.bytes, &bdev) != PP_EMU_DEVICE ||
            bdev != device)
            rc = fail(ncclInvalidArgument, "%s: buffer %p (%zu bytes) is "
                      "not memory of the communicator's device (cuda:%d)",
                      call, b, o.bytes, device);
    }
    if (rc == ncclSuccess && group.n == group.cap) {
        size_t cap = group.cap ? 2 * group.cap : 8;
        op *grown = realloc(group.ops, cap * sizeof *grown);
        if (!grown)
            rc = fail(ncclSystemError, "%s: out of memory", call);
        else
            group.ops = grown, group.cap = cap;
    }
    if (rc == ncclSuccess)
        group.ops[group.n++] = o;
    return rc;
}

/* The operations of one group on one stream, run there as one item. */
typedef struct item {
    size_t n;
    op ops[];
} item;

static int chan_of(const op *o)
{
    int n = o->comm->c->n, me = o->comm->rank;
    return o->send ? me * n + o->peer : o->peer * n + me;
}

/* Whether a send of `bytes` is to meet the fault named by variable. */
static int faulty(const char *variable, size_t bytes)
{
    const char *v = getenv(variable);
    return v && *v && bytes >= strtoull(v, NULL, 10);
}

/* Under lock, on o's stream: o's rank comes to its sum; the last to
 * come adds every rank's input in rank order and writes the total to
 * every rank's output, and each waits for that (or an abort). */
static void run_sum(const op *o)
{
    clique *c = o->comm->c;
    summing *s = c->sums;
    while (s && s->seq != o->seq)
        s = s->next;
    if (!s) {
        s = calloc(1, sizeof *s);
        const void **in = calloc((size_t)c->n, sizeof *in);
        void **out = calloc((size_t)c->n, sizeof *out);
        if (!s || !in || !out) {
            pp_emu_complain("NCCL: out of memory for a sum");
            abort();
        }
        *s = (summing){.next = c->sums, .seq = o->seq, .type = o->type,
                       .count = o->count, .in = in, .out = out};
        c->sums = s;
    }
    if (s->type != o->type || s->count != o->count)
        pp_emu_complain("NCCL: rank %d's sum %llu is %zu of type %d, "
                        "another rank's %zu of type %d: they must match",
                        o->comm->rank, (unsigned long long)o->seq, o->count,
                        (int)o->type, s->count, (int)s->type);
    s->in[o->comm->rank] = o->in;
    s->out[o->comm->rank] = o->buf;
    int broken = faulty("PIPETTE_EMU_NCCL_FAIL", o->bytes);
    if (broken)
        c->async = ncclSystemError;
    s->lost |= broken || faulty("PIPETTE_EMU_NCCL_STALL", o->bytes);
    if (++s->arrived == c->n && !s->lost) {
        size_t n = s->count < o->count ? s->count : o->count;
        void *total = malloc(o->bytes + 1);
        if (!total) {
            pp_emu_complain("NCCL: out of memory for a sum");
            abort();
        }
        memcpy(total, s->in[0], n * type_size(o->type));
        for (int r = 1; r < c->n; r++)
            for (size_t i = 0; i < n; i++) {
                if (o->type == ncclFloat32)
                    ((float *)total)[i] += ((const float *)s->in[r])[i];
                else
                    ((unsigned char *)total)[i] +=
                        ((const unsigned char *)s->in[r])[i];
            }
        for (int r = 0; r < c->n; r++)
            memcpy(s->out[r], total, n * type_size(o->type));
        free(total);
        s->done = 1;
        pthread_cond_broadcast(&progress);
    }
    int noted = 0;
    while (!s->done && !o->comm->aborted)
        wait_noting(&noted, "a sum that some rank of the communicator "
                    "never came to", o->comm->rank, c->n);
    if (++s->left == c->n) {
        summing **at = &c->sums;
        while (*at != s)
            at = &(*at)->next;
        *at = s->next;
        free(s->in);
        free(s->out);
        free(s);
    }
}

static void run_item(void *arg)
{
    item *it = arg;
    pthread_mutex_lock(&lock);
    posting *mine = calloc(it->n, sizeof *mine);
    if (!mine) {
        pp_emu_complain("NCCL: out of memory for a queued operation");
        abort();
    }
    for (size_t i = 0; i < it->n; i++) {
        const op *o = &it->ops[i];
        if (!o->send || o->comm->aborted)
            continue;
        int broken = faulty("PIPETTE_EMU_NCCL_FAIL", o->bytes);
        if (broken)
            o->comm->c->async = ncclSystemError;
        if (broken || faulty("PIPETTE_EMU_NCCL_STALL", o->bytes))
            continue;
        mine[i] = (posting){o->comm->c->posted, chan_of(o), o->seq, o->buf,
                            o->bytes, 0};
        o->comm->c->posted = &mine[i];
    }
    pthread_cond_broadcast(&progress);
    for (size_t i = 0; i < it->n; i++) {
        const op *o = &it->ops[i];
        if (o->sum)
            run_sum(o);
        if (o->send || o->sum)
            continue;
        int noted = 0;
        posting *p = NULL;
        while (!o->comm->aborted) {
            for (p = o->comm->c->posted; p; p = p->next)
                if (!p->consumed && p->chan == chan_of(o) && p->seq == o->seq)
                    break;
            if (p)
                break;
            wait_noting(&noted, "a receive whose send was never issued",
                        o->peer, o->comm->rank);
        }
        if (!p)
            continue;
        if (p->bytes != o->bytes)
            pp_emu_complain("NCCL: rank %d sent %zu bytes to rank %d, which "
                            "received %zu: sizes must match", o->peer,
                            p->bytes, o->comm->rank, o->bytes);
        memcpy(o->buf, p->buf, p->bytes < o->bytes ? p->bytes : o->bytes);
        p->consumed = 1;
        pthread_cond_broadcast(&progress);
    }
    for (size_t i = 0; i < it->n; i++) {
        const op *o = &it->ops[i];
        if (o->send) {
            int noted = 0;
            while (!mine[i].consumed && !o->comm->aborted)
                wait_noting(&noted, "a send whose receive was never issued",
                            o->comm->rank, o->peer);
            posting **at = &o->comm->c->posted;
            while (*at && *at != &mine[i])
                at = &(*at)->next;
            if (*at)
                *at = mine[i].next;
        }
        o->comm->inflight--;
        comm_drop(o->comm);
    }
    pthread_cond_broadcast(&progress);
    pthread_mutex_unlock(&lock);
    free(mine);
    free(it);
}

/* Under lock: numbers the group's operations, marks their sides of each
 * direction issued, and waits until the peers of first contacts have
 * issued theirs. */
static ncclResult_t connect_group(void)
{
    for (size_t i = 0; i < group.n; i++) {
        op *o = &group.ops[i];
        if (o->comm->aborted || o->comm->destroyed)
            return fail(ncclInvalidUsage, "ncclGroupEnd: a communicator of "
                        "the group was aborted or destroyed");
        if (o->sum) {
            o->comm->c->sum_joined += o->comm->sums == 0;
            o->seq = o->comm->sums++;
            continue;
        }
        chan *c = &o->comm->c->chan[chan_of(o)];
        o->seq = o->send ? c->sends++ : c->recvs++;
        *(o->send ? &c->send_side : &c->recv_side) = 1;
    }
    pthread_cond_broadcast(&progress);
    for (size_t i = 0; i < group.n; i++) {
        const op *o = &group.ops[i];
        clique *q = o->comm->c;
        chan *c = o->sum ? NULL : &q->chan[chan_of(o)];
        int noted = 0;
        while (!(c ? c->send_side && c->recv_side : q->sum_joined == q->n) &&
               !o->comm->aborted)
            wait_noting(&noted, c ? "the first send or receive between two "
                        "ranks, which connects them only once both have "
                        "issued their side"
                        : "the first sum of a communicator, which connects "
                        "its ranks only once every one has issued one",
                        o->comm->rank, c ? o->peer : q->n);
        if (o->comm->aborted)
            return fail(ncclInvalidUsage, "ncclGroupEnd: the communicator "
                        "was aborted");
    }
    return ncclSuccess;
}

ncclResult_t ncclGroupEnd(void)
{
    if (group.depth == 0)
        return fail(ncclInvalidUsage, "ncclGroupEnd without ncclGroupStart");
    if (--group.depth > 0)
        return ncclSuccess;
    ncclResult_t rc = group.failed;
    group.failed = ncclSuccess;
    if (rc == ncclSuccess && group.njoins)
        rc = join_group();
    group.njoins = 0;
    if (rc == ncclSuccess && group.n) {
        pthread_mutex_lock(&lock);
        rc = connect_group();
        for (size_t i = 0; rc == ncclSuccess && i < group.n; i++) {
            group.ops[i].comm->inflight++;
            group.ops[i].comm->refs++;
        }
        pthread_mutex_unlock(&lock);
    }
    /* One item per stream, its operations in issue order. */
    for (size_t i = 0; rc == ncclSuccess && i < group.n; i++) {
        cudaStream_t s = group.ops[i].stream;
        int first = 1;
        for (size_t j = 0; j < i && first; j++)
            first = group.ops[j].stream != s;
        if (!first)
            continue;
        size_t n = 0;
        for (size_t j = i; j < group.n; j++)
            n += group.ops[j].stream == s;
        item *it = malloc(sizeof *it + n * sizeof(op));
        if (!it) {
            pp_emu_complain("NCCL: out of memory for a group");
            abort();
        }
        it->n = 0;
        for (size_t j = i; j < group.n; j++)
            if (group.ops[j].stream == s)
                it->ops[it->n++] = group.ops[j];
        pp_emu_enqueue(s, run_item, it, 0);
    }
    group.n = 0;
    return rc;
}

/* Outside a group, an operation is a group of its own; inside, a failed
 * one fails the whole group at its end, as in NCCL. */
static ncclResult_t issue(op o, const char *call)
{
    ncclResult_t rc = add(o, call);
    if (group.depth > 0) {
        if (rc != ncclSuccess && group.failed == ncclSuccess)
            group.failed = rc;
        return rc;
    }
    if (rc != ncclSuccess)
        return rc;
    group.depth = 1;
    return ncclGroupEnd();
}

ncclResult_t ncclSend(const void *sendbuff, size_t count,
                      ncclDataType_t datatype, int peer, ncclComm_t comm,
                      cudaStream_t stream)
{
    return issue((op){.send = 1, .buf = (void *)sendbuff, .type = datatype,
                      .count = count, .peer = peer, .comm = comm,
                      .stream = stream}, "ncclSend");
}

ncclResult_t ncclRecv(void *recvbuff, size_t count, ncclDataType_t datatype,
                      int peer, ncclComm_t comm, cudaStream_t stream)
{
    return issue((op){.buf = recvbuff, .type = datatype, .count = count,
                      .peer = peer, .comm = comm, .stream = stream},
                 "ncclRecv");
}

ncclResult_t ncclAllReduce(const void *sendbuff, void *recvbuff, size_t count,
                           ncclDataType_t datatype, ncclRedOp_t op_,
                           ncclComm_t comm, cudaStream_t stream)
{
    if (op_ != ncclSum)
        return fail(ncclInvalidArgument, "ncclAllReduce: the emulator only "
                    "sums (ncclSum), not op %d", (int)op_);
    ncclResult_t rc = issue((op){.sum = 1, .buf = recvbuff, .in = sendbuff,
                                 .type = datatype, .count = count,
                                 .comm = comm, .stream = stream},
                            "ncclAllReduce");
    if (rc == ncclSuccess) {
        pthread_mutex_lock(&lock);
        sums_issued++;
        pthread_mutex_unlock(&lock);
    }
    return rc;
}

/* Exported for the tests: ncclAllReduce calls issued so far. */
unsigned long pp_emu_nccl_sums(void);
unsigned long pp_emu_nccl_sums(void)
{
    pthread_mutex_lock(&lock);
    unsigned long n = sums_issued;
    pthread_mutex_unlock(&lock);
    return n;
}
