/* tests/emu/nccl_emu.c - the NCCL calls pipette makes, between emulated
 * GPUs of one process: communicators made by ncclCommInitAll, point to
 * point ncclSend/ncclRecv in and out of groups, destroy and abort, and the
 * library's version and error texts. No collectives.
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
 *     synchronizes every device, included).
 *   - A group's operations on one stream run as one item, which posts its
 *     sends before it waits for its receives, so a rank may send to itself
 *     within one group.
 *   - The first operation between two ranks in each direction connects
 *     them, and its host call waits until the peer has issued its side.
 *   - ncclCommDestroy waits for the communicator's operations to finish;
 *     ncclCommAbort ends them where they are. Aborting one rank's
 *     communicator does not release its peers' operations.
 * Where a wait lasts more than 10 s a line on stderr says what it waits
 * for, so that a hang explains itself; the wait goes on, as NCCL's does.
 * Two faults can be injected, for the tests of what bounds such waits:
 * a send of PIPETTE_EMU_NCCL_STALL bytes or more is never delivered (its
 * receive and itself spin until aborted), and one of PIPETTE_EMU_NCCL_FAIL
 * bytes or more is not delivered either and sets its communicators'
 * asynchronous error (ncclCommGetAsyncError), as a broken link would. (2
 * spares the transport's 1-byte warm-up and hits every message.)
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

typedef struct clique {
    int n;
    ncclResult_t async; /* what ncclCommGetAsyncError reports */
    unsigned refs; /* its communicators */
    chan *chan;
    posting *posted; /* sends running, not yet received */
} clique;

struct ncclComm {
    unsigned magic;
    clique *c;
    int rank, device;
    int aborted, destroyed;
    unsigned refs; /* the caller's, until destroy or abort, and each op's */
    unsigned inflight;
};

typedef struct op {
    int send;
    void *buf;
    size_t bytes;
    int peer;
    ncclComm_t comm;
    cudaStream_t stream;
    uint64_t seq;
} op;

/* One mutex for every communicator: a group may span several. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t progress = PTHREAD_COND_INITIALIZER;

/* The calling thread's open group and NCCL's last error text. */
static _Thread_local struct {
    int depth;
    ncclResult_t failed;
    op *ops;
    size_t n, cap;
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
        free(c->chan);
        free(c);
    }
}

ncclResult_t ncclCommInitAll(ncclComm_t *comms, int ndev, const int *devlist)
{
    if (!comms || ndev < 1)
        return fail(ncclInvalidArgument, "ncclCommInitAll: comms %p, ndev %d",
                    (void *)comms, ndev);
    if (pp_emu_sync_mode())
        return fail(ncclInvalidUsage, "the emulator's NCCL needs "
                    "asynchronous streams: unset PIPETTE_EMU_SYNC");
    if (pp_emu_have_device() != cudaSuccess)
        return fail(ncclUnhandledCudaError, "Cuda failure 'no CUDA-capable "
                    "device is detected'");
    for (int i = 0; i < ndev; i++) {
        int d = devlist ? devlist[i] : i;
        if (d < 0 || d >= pp_emu_device_count())
            return fail(ncclInvalidArgument, "ncclCommInitAll: rank %d: "
                        "invalid device %d", i, d);
        for (int j = 0; j < i; j++)
            if ((devlist ? devlist[j] : j) == d)
                return fail(ncclInvalidUsage, "Duplicate GPU detected : "
                            "rank %d and rank %d both on CUDA device %d",
                            j, i, d);
    }
    clique *c = calloc(1, sizeof *c);
    chan *ch = calloc((size_t)ndev * (size_t)ndev, sizeof *ch);
    ncclComm_t *made = calloc((size_t)ndev, sizeof *made);
    for (int i = 0; c && ch && made && i < ndev; i++)
        made[i] = calloc(1, sizeof **made);
    if (!c || !ch || !made || !made[ndev - 1]) {
        for (int i = 0; made && i < ndev; i++)
            free(made[i]);
        free(made), free(ch), free(c);
        return fail(ncclSystemError, "ncclCommInitAll: out of memory");
    }
    *c = (clique){.n = ndev, .refs = (unsigned)ndev, .chan = ch};
    for (int i = 0; i < ndev; i++) {
        *made[i] = (struct ncclComm){.magic = COMM_MAGIC, .c = c, .rank = i,
                                     .device = devlist ? devlist[i] : i,
                                     .refs = 1};
        comms[i] = made[i];
    }
    free(made);
    return ncclSuccess;
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
 * group; the outermost ncclGroupEnd issues them. */
static ncclResult_t add(int send, const void *buf, size_t count,
                        ncclDataType_t type, int peer, ncclComm_t comm,
                        cudaStream_t stream)
{
    const char *call = send ? "ncclSend" : "ncclRecv";
    size_t size = type_size(type), bytes = count * size;
    int sdev = -1, bdev = -1;
    pthread_mutex_lock(&lock);
    ncclResult_t rc = usable(comm, call);
    int device = rc == ncclSuccess ? comm->device : -1;
    if (rc == ncclSuccess && (peer < 0 || peer >= comm->c->n))
        rc = fail(ncclInvalidArgument, "%s: peer %d is not a rank of the "
                  "communicator (%d ranks)", call, peer, comm->c->n);
    pthread_mutex_unlock(&lock);
    if (rc == ncclSuccess && !size)
        rc = fail(ncclInvalidArgument, "%s: invalid data type %d", call,
                  (int)type);
    if (rc == ncclSuccess &&
        (pp_emu_stream_device(stream, &sdev) != cudaSuccess ||
         sdev != device))
        rc = fail(ncclInvalidUsage, "%s: the stream is not one of the "
                  "communicator's device (cuda:%d)", call, device);
    if (rc == ncclSuccess && bytes &&
        (pp_emu_locate(buf, bytes, &bdev) != PP_EMU_DEVICE || bdev != device))
        rc = fail(ncclInvalidArgument, "%s: buffer %p (%zu bytes) is not "
                  "memory of the communicator's device (cuda:%d)", call, buf,
                  bytes, device);
    if (rc == ncclSuccess && group.n == group.cap) {
        size_t cap = group.cap ? 2 * group.cap : 8;
        op *grown = realloc(group.ops, cap * sizeof *grown);
        if (!grown)
            rc = fail(ncclSystemError, "%s: out of memory", call);
        else
            group.ops = grown, group.cap = cap;
    }
    if (rc == ncclSuccess)
        group.ops[group.n++] = (op){send, (void *)buf, bytes, peer, comm,
                                    stream, 0};
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
        if (o->send)
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
        chan *c = &o->comm->c->chan[chan_of(o)];
        o->seq = o->send ? c->sends++ : c->recvs++;
        *(o->send ? &c->send_side : &c->recv_side) = 1;
    }
    pthread_cond_broadcast(&progress);
    for (size_t i = 0; i < group.n; i++) {
        const op *o = &group.ops[i];
        chan *c = &o->comm->c->chan[chan_of(o)];
        int noted = 0;
        while (!(c->send_side && c->recv_side) && !o->comm->aborted)
            wait_noting(&noted, "the first send or receive between two "
                        "ranks, which connects them only once both have "
                        "issued their side", o->comm->rank, o->peer);
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
static ncclResult_t issue(int send, const void *buf, size_t count,
                          ncclDataType_t type, int peer, ncclComm_t comm,
                          cudaStream_t stream)
{
    ncclResult_t rc = add(send, buf, count, type, peer, comm, stream);
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
    return issue(1, sendbuff, count, datatype, peer, comm, stream);
}

ncclResult_t ncclRecv(void *recvbuff, size_t count, ncclDataType_t datatype,
                      int peer, ncclComm_t comm, cudaStream_t stream)
{
    return issue(0, recvbuff, count, datatype, peer, comm, stream);
}
