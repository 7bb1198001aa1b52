/* plugins/mpi.c - the `mpi` transport: host memory between ranks of
 * different processes of an MPI job, over a communicator of its own (a
 * dup of MPI_COMM_WORLD).
 *
 * A message is one MPI message: a header (source and destination rank,
 * the 64-bit tag, which MPI's tags are too small for, the length), then
 * the bytes. It goes to the destination's process with the destination
 * rank as MPI tag, so that only that rank's recv takes it. send copies
 * the buffer and MPI_Isends the copy, never waiting for the receiver; the
 * copies of finished sends are freed by later sends and receives. recv
 * takes whatever has arrived for its rank (MPI_Improbe, MPI_Imrecv,
 * MPI_Test), keeps the messages of other (source, tag) pairs in the
 * rank's mailbox, and polls (pp_mpi_pause: yielding the core at first,
 * then sleeping up to 1 ms): polling is what honours the timeout and
 * abort.
 *
 * Not for a single process: the job plugin (mpi-job) owns MPI_Init and
 * MPI_Finalize, and only a job says which process runs each rank, so
 * create refuses and create_job does the work. Two ranks of one process
 * work too (MPI delivers to its own process), but local is cheaper there.
 * A rank's incoming messages advance only while some thread of its
 * process is inside MPI (every waiting recv is).
 */
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pipette/pipette.h>

#include "mpi_check.h"

/* What precedes a message's bytes on the wire. */
typedef struct header {
    int32_t src, dst;
    uint64_t tag;
    uint64_t bytes;
} header;

/* A message received, or being received, for one rank. */
typedef struct message {
    struct message *next;
    int src;
    uint64_t tag;
    size_t bytes;          /* after the header */
    int size;              /* on the wire: header and bytes */
    unsigned char wire[];  /* header, then the bytes */
} message;

/* One rank's messages: those arrived and not yet taken (in arrival
 * order), and the one MPI is filling. */
typedef struct inbox {
    pthread_mutex_t lock;
    message *head, **tail;
    message *arriving;
    MPI_Request req;       /* arriving's MPI_Imrecv */
} inbox;

/* The copies of this process's sends that MPI may still read. */
typedef struct outbox {
    pthread_mutex_t lock;
    MPI_Request *req;
    unsigned char **copy;
    int n, cap;
} outbox;

typedef struct mpi_transport {
    MPI_Comm comm;
    int ranks, process;
    int *process_of;       /* [ranks] */
    atomic_int aborted;
    outbox out;
    inbox box[];           /* [ranks]; this process's ranks' are used */
} mpi_transport;

#define PAUSE_MAX_US 1000 /* the longest sleep between polls */

static pp_status stopped(pp_error *err)
{
    return pp_error_set(err, PP_ERR_RUNTIME, "stopped: another rank failed");
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void pause_us(long us)
{
    struct timespec ts = {0, us * 1000L};
    nanosleep(&ts, NULL);
}

static pp_status mpi_create(int ranks, void **out, pp_error *err)
{
    (void)ranks, (void)out;
    return pp_error_set(err, PP_ERR_RUNTIME,
        "the mpi transport connects ranks of different processes, and this "
        "run is one process: start pipette under mpirun (or srun), or use "
        "local between the threads of one process");
}

/* MPI is ready for threads that call it at once, and is the job's. */
static pp_status check_job(int ranks, const pp_transport_job *job,
                           pp_error *err)
{
    int ready = 0, level = MPI_THREAD_SINGLE;
    if (PP_MPI_CHECK(MPI_Initialized(&ready), err))
        return err->code;
    if (!ready)
        return pp_error_set(err, PP_ERR_RUNTIME,
            "mpi: MPI is not initialised: the job plugin (mpi-job) joins "
            "the job before a transport is created");
    if (PP_MPI_CHECK(MPI_Query_thread(&level), err))
        return err->code;
    if (level != MPI_THREAD_MULTIPLE)
        return pp_error_set(err, PP_ERR_RUNTIME,
            "mpi: MPI was initialised without MPI_THREAD_MULTIPLE, and the "
            "ranks' threads send at once: let the job plugin (mpi-job) "
            "initialise it");
    if (!job || !job->process_of || job->processes < 1 ||
        job->process < 0 || job->process >= job->processes)
        return pp_error_set(err, PP_ERR_RUNTIME,
            "mpi: no job, or a job without its processes");
    for (int r = 0; r < ranks; r++)
        if (job->process_of[r] < 0 || job->process_of[r] >= job->processes)
            return pp_error_set(err, PP_ERR_RUNTIME,
                "mpi: rank %d is placed in process %d, and the job has "
                "processes 0 to %d", r, job->process_of[r],
                job->processes - 1);
    return PP_OK;
}

static void mpi_destroy(void *handle);

/* Collective: MPI_Comm_dup. */
static pp_status mpi_create_job(int ranks, const pp_transport_job *job,
                                void **out, pp_error *err)
{
    *out = NULL;
    if (ranks < 1)
        return pp_error_set(err, PP_ERR_RUNTIME, "mpi: %d ranks", ranks);
    if (check_job(ranks, job, err))
        return err->code;
    mpi_transport *t = calloc(1, sizeof *t + (size_t)ranks * sizeof(inbox));
    int *process_of = malloc((size_t)ranks * sizeof *process_of);
    if (!t || !process_of) {
        free(t);
        free(process_of);
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    }
    memcpy(process_of, job->process_of, (size_t)ranks * sizeof *process_of);
    t->process_of = process_of;
    t->ranks = ranks;
    t->process = job->process;
    t->comm = MPI_COMM_NULL;
    pthread_mutex_init(&t->out.lock, NULL);
    for (int r = 0; r < ranks; r++) {
        pthread_mutex_init(&t->box[r].lock, NULL);
        t->box[r].tail = &t->box[r].head;
        t->box[r].req = MPI_REQUEST_NULL;
    }
    MPI_Comm comm;
    if (PP_MPI_CHECK(MPI_Comm_dup(MPI_COMM_WORLD, &comm), err)) {
        mpi_destroy(t);
        return err->code;
    }
    t->comm = comm;
    int rank = -1, size = 0, found = 0, *tag_ub = NULL;
    if (PP_MPI_CHECK(MPI_Comm_set_errhandler(t->comm, MPI_ERRORS_RETURN),
                     err) ||
        PP_MPI_CHECK(MPI_Comm_rank(t->comm, &rank), err) ||
        PP_MPI_CHECK(MPI_Comm_size(t->comm, &size), err) ||
        PP_MPI_CHECK(MPI_Comm_get_attr(t->comm, MPI_TAG_UB, &tag_ub, &found),
                     err)) {
        mpi_destroy(t);
        return err->code;
    }
    if (rank != job->process || size != job->processes) {
        mpi_destroy(t);
        return pp_error_set(err, PP_ERR_RUNTIME,
            "mpi: the job says this is process %d of %d, and MPI says %d of "
            "%d: start the job through mpi-job", job->process,
            job->processes, rank, size);
    }
    if (found && ranks - 1 > *tag_ub) {
        int ub = *tag_ub;
        mpi_destroy(t);
        return pp_error_set(err, PP_ERR_RUNTIME,
            "mpi: %d ranks, and this MPI's tags (which name the receiving "
            "rank) stop at %d", ranks, ub);
    }
    *out = t;
    return PP_OK;
}

/* Under out->lock: frees the copies of the sends MPI has finished. */
static pp_status reap(outbox *out, pp_error *err)
{
    pp_status st = PP_OK;
    for (int i = 0; i < out->n;) {
        int done = 0;
        pp_status failed = PP_MPI_CHECK(MPI_Test(&out->req[i], &done,
                                                 MPI_STATUS_IGNORE), err);
        if (!done && !failed) {
            i++;
            continue;
        }
        st = st ? st : failed;
        free(out->copy[i]);
        out->n--;
        out->req[i] = out->req[out->n];
        out->copy[i] = out->copy[out->n];
    }
    return st ? pp_error_prefix(err, "mpi: a send of this process failed")
              : PP_OK;
}

static pp_status reap_sends(mpi_transport *t, pp_error *err)
{
    pthread_mutex_lock(&t->out.lock);
    pp_status st = reap(&t->out, err);
    pthread_mutex_unlock(&t->out.lock);
    return st;
}

/* rank is one of this process's, for `what` ("send from", "receive
 * into"). */
static pp_status own_rank(const mpi_transport *t, int rank, const char *what,
                          pp_error *err)
{
    if (rank < 0 || rank >= t->ranks)
        return pp_error_set(err, PP_ERR_RUNTIME,
            "mpi: rank %d is not one of the %d ranks", rank, t->ranks);
    if (t->process_of[rank] != t->process)
        return pp_error_set(err, PP_ERR_RUNTIME,
            "mpi: cannot %s rank %d here: it runs in process %d, and this is "
            "process %d", what, rank, t->process_of[rank], t->process);
    return PP_OK;
}

static pp_status mpi_send(void *handle, int src, int dst, uint64_t tag,
                          const void *buf, size_t bytes, pp_error *err)
{
    mpi_transport *t = handle;
    if (atomic_load(&t->aborted))
        return stopped(err);
    if (own_rank(t, src, "send from", err))
        return err->code;
    if (dst < 0 || dst >= t->ranks)
        return pp_error_set(err, PP_ERR_RUNTIME,
            "mpi: rank %d is not one of the %d ranks", dst, t->ranks);
    if (bytes > (size_t)INT_MAX - sizeof(header))
        return pp_error_set(err, PP_ERR_RUNTIME,
            "mpi: a message of %zu bytes from rank %d to rank %d is too "
            "long: MPI counts are ints, so at most %zu bytes", bytes, src,
            dst, (size_t)INT_MAX - sizeof(header));
    header h = {src, dst, tag, bytes};
    unsigned char *copy = malloc(sizeof h + bytes);
    if (!copy)
        return pp_error_set(err, PP_ERR_NOMEM,
                            "out of memory for a %zu-byte message", bytes);
    memcpy(copy, &h, sizeof h);
    memcpy(copy + sizeof h, buf, bytes);

    outbox *out = &t->out;
    pthread_mutex_lock(&out->lock);
    pp_status st = reap(out, err);
    if (!st && out->n == out->cap) {
        int cap = out->cap ? 2 * out->cap : 16;
        MPI_Request *req = realloc(out->req, (size_t)cap * sizeof *req);
        if (req)
            out->req = req;
        unsigned char **copies = req ? realloc(out->copy,
                                               (size_t)cap * sizeof *copies)
                                     : NULL;
        if (copies) {
            out->copy = copies;
            out->cap = cap;
        } else {
            st = pp_error_set(err, PP_ERR_NOMEM, "out of memory");
        }
    }
    if (!st)
        st = PP_MPI_CHECK(MPI_Isend(copy, (int)(sizeof h + bytes), MPI_BYTE,
                                    t->process_of[dst], dst, t->comm,
                                    &out->req[out->n]), err);
    if (st) {
        free(copy);
    } else {
        out->copy[out->n++] = copy;
    }
    pthread_mutex_unlock(&out->lock);
    return st;
}

/* Under box->lock: the message (src, tag), taken out of the mailbox, or
 * NULL. */
static message *take(inbox *box, int src, uint64_t tag)
{
    for (message **at = &box->head; *at; at = &(*at)->next) {
        message *m = *at;
        if (m->src != src || m->tag != tag)
            continue;
        *at = m->next;
        if (box->tail == &m->next)
            box->tail = at;
        return m;
    }
    return NULL;
}

/* Under box->lock: moves at most one message that has arrived for rank
 * dst into its mailbox (*moved = 1), finishing the one MPI is filling or
 * starting the next. */
static pp_status pull(mpi_transport *t, int dst, inbox *box, int *moved,
                      pp_error *err)
{
    *moved = 0;
    if (!box->arriving) {
        int found = 0, size = 0;
        MPI_Message probed;
        MPI_Status status;
        if (PP_MPI_CHECK(MPI_Improbe(MPI_ANY_SOURCE, dst, t->comm, &found,
                                     &probed, &status), err) ||
            (found &&
             PP_MPI_CHECK(MPI_Get_count(&status, MPI_BYTE, &size), err)))
            return err->code;
        if (!found)
            return PP_OK;
        message *m = malloc(sizeof *m + (size_t)size);
        if (!m)
            return pp_error_set(err, PP_ERR_NOMEM,
                "out of memory for a %d-byte message to rank %d", size, dst);
        m->size = size;
        if (PP_MPI_CHECK(MPI_Imrecv(m->wire, size, MPI_BYTE, &probed,
                                    &box->req), err)) {
            free(m);
            return err->code;
        }
        box->arriving = m;
    }
    int done = 0;
    if (PP_MPI_CHECK(MPI_Test(&box->req, &done, MPI_STATUS_IGNORE), err))
        return err->code;
    if (!done)
        return PP_OK;
    message *m = box->arriving;
    box->arriving = NULL;
    header h;
    if ((size_t)m->size < sizeof h) {
        int size = m->size;
        free(m);
        return pp_error_set(err, PP_ERR_RUNTIME,
            "mpi: a %d-byte message for rank %d, shorter than its header: "
            "something else sends on this transport's communicator", size,
            dst);
    }
    memcpy(&h, m->wire, sizeof h);
    if (h.dst != dst || h.src < 0 || h.src >= t->ranks ||
        h.bytes != (size_t)m->size - sizeof h) {
        free(m);
        return pp_error_set(err, PP_ERR_RUNTIME,
            "mpi: a message for rank %d whose header says %d -> %d, %" PRIu64
            " bytes: something else sends on this transport's communicator",
            dst, h.src, h.dst, h.bytes);
    }
    m->src = h.src;
    m->tag = h.tag;
    m->bytes = h.bytes;
    m->next = NULL;
    *box->tail = m;
    box->tail = &m->next;
    *moved = 1;
    return PP_OK;
}

static pp_status deliver(message *m, void *buf, size_t bytes, pp_error *err)
{
    pp_status st = PP_OK;
    if (m->bytes != bytes)
        st = pp_error_set(err, PP_ERR_RUNTIME,
            "message from rank %d is %zu bytes, expected %zu", m->src,
            m->bytes, bytes);
    else
        memcpy(buf, m->wire + sizeof(header), bytes);
    free(m);
    return st;
}

static pp_status mpi_recv(void *handle, int dst, int src, uint64_t tag,
                          void *buf, size_t bytes, int timeout_ms,
                          pp_error *err)
{
    mpi_transport *t = handle;
    if (own_rank(t, dst, "receive into", err))
        return err->code;
    if (src < 0 || src >= t->ranks)
        return pp_error_set(err, PP_ERR_RUNTIME,
            "mpi: rank %d is not one of the %d ranks", src, t->ranks);
    inbox *box = &t->box[dst];
    long start = now_ms(), pause = 1;
    for (;;) {
        if (atomic_load(&t->aborted))
            return stopped(err);
        int moved = 0;
        pthread_mutex_lock(&box->lock);
        message *m = take(box, src, tag);
        pp_status st = m ? PP_OK : pull(t, dst, box, &moved, err);
        if (moved)
            m = take(box, src, tag);
        pthread_mutex_unlock(&box->lock);
        if (st)
            return st;
        if (m)
            return deliver(m, buf, bytes, err);
        if (moved) {
            pause = 1;
            continue;
        }
        if (reap_sends(t, err))
            return err->code;
        long waited = now_ms() - start;
        if (timeout_ms >= 0 && waited >= timeout_ms)
            return pp_error_set(err, PP_ERR_RUNTIME,
                "rank %d waited %ld ms for a message from rank %d (tag "
                "0x%" PRIx64 ") and none came: process %d, which runs rank "
                "%d, may have died or hung", dst, waited, src, tag,
                t->process_of[src], src);
        pp_mpi_pause(waited, &pause);
    }
}

static void mpi_abort(void *handle)
{
    mpi_transport *t = handle;
    atomic_store(&t->aborted, 1);
}

/* Ends a request MPI may still be using: finished, cancelled, or, when
 * neither happens by `until` (ms), handed to MPI to finish alone; then
 * its buffer stays allocated (0), as MPI may still write or read it. */
static int end_request(MPI_Request *req, long until)
{
    if (*req == MPI_REQUEST_NULL)
        return 1;
    int done = 0;
    if (MPI_Test(req, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS || done)
        return 1;
    MPI_Cancel(req);
    while (now_ms() < until) {
        if (MPI_Test(req, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS || done)
            return 1;
        pause_us(PAUSE_MAX_US);
    }
    MPI_Request_free(req);
    return 0;
}

static void mpi_destroy(void *handle)
{
    mpi_transport *t = handle;
    if (!t)
        return;
    long until = now_ms() + 200;
    for (int r = 0; r < t->ranks; r++) {
        inbox *box = &t->box[r];
        if (box->arriving && end_request(&box->req, until))
            free(box->arriving);
        for (message *m = box->head, *next; m; m = next) {
            next = m->next;
            free(m);
        }
        pthread_mutex_destroy(&box->lock);
    }
    for (int i = 0; i < t->out.n; i++)
        if (end_request(&t->out.req[i], until))
            free(t->out.copy[i]);
    free(t->out.req);
    free(t->out.copy);
    pthread_mutex_destroy(&t->out.lock);
    if (t->comm != MPI_COMM_NULL)
        MPI_Comm_free(&t->comm);
    free(t->process_of);
    free(t);
}

static const pp_transport_ops ops = {
    .memory = PP_MEMORY_HOST,
    .reach = PP_REACH_PROCESSES,
    .order = PP_ORDER_TAG,
    .cost = 30, /* local's is 10: a copy on each side, and MPI between */
    .create = mpi_create,
    .destroy = mpi_destroy,
    .send = mpi_send,
    .recv = mpi_recv,
    .abort = mpi_abort,
    .create_job = mpi_create_job,
};

PP_PLUGIN(PP_KIND_TRANSPORT, "mpi",
          "ranks in different processes of an MPI job: host memory through "
          "MPI messages", NULL, &ops);
