/* plugins/peer.c - the `peer` transport: ranks are threads of one process
 * and every rank can copy from every other rank's memory (stages on one
 * GPU, GPUs of one machine, cpu ranks).
 *
 * Stream-ordered. A send snapshots the buffer into one of the link's
 * transfer buffers on the sender's stream and records an event; the
 * receive waits for that event on the receiver's stream, copies the
 * snapshot into place and records a second event, after which the
 * transfer buffer may be reused (the next sender waits for that event on
 * its stream). The host threads only meet in the mailbox, never in a
 * device sync, so a rank queues its whole step and the devices overlap
 * transfers with compute. The snapshot costs one device-to-device copy:
 * it is what lets the sender reuse its slot at once without waiting for a
 * receiver that may be several tasks behind.
 *
 * Written against the device table, not CUDA: with the cpu device the
 * same code runs with memcpy and no-op events, which is how CI tests it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pipette/pipette.h>

#include "deadline.h"

/* A transfer buffer of one link: free, or holding one message. */
typedef struct buffer {
    struct buffer *next;     /* in the free list or the message list */
    struct buffer *next_all; /* every buffer of the link, for destroy */
    void *ptr;               /* on the sender's device */
    size_t capacity;
    void *ready;             /* sender's device: the snapshot is taken */
    void *released;          /* receiver's device: the copy out is done */
    int used;                /* released has been recorded */
    uint64_t tag;
    size_t bytes;
} buffer;

/* One direction, src to dst. */
typedef struct link {
    pthread_mutex_t lock;
    pthread_cond_t arrived;
    buffer *messages; /* sent, not yet received; any order */
    buffer *free;
    buffer *all;
} link;

typedef struct peer {
    int ranks;
    int aborted; /* under every link's lock */
    pp_transport_rank *rank;
    link **links; /* [src * ranks + dst], NULL where not linked */
} peer;

static link *link_of(peer *t, int src, int dst, pp_error *err)
{
    link *l = src >= 0 && dst >= 0 && src < t->ranks && dst < t->ranks
                  ? t->links[src * t->ranks + dst]
                  : NULL;
    if (!l)
        pp_error_set(err, PP_ERR_RUNTIME,
                     "peer: no link from rank %d to rank %d was opened", src,
                     dst);
    return l;
}

static void free_buffer(peer *t, int src, int dst, buffer *b)
{
    const pp_transport_rank *s = &t->rank[src], *d = &t->rank[dst];
    if (b->ready)
        s->dev->event_destroy(s->dr, b->ready);
    if (b->released)
        d->dev->event_destroy(d->dr, b->released);
    if (b->ptr)
        s->dev->release(s->dr->index, b->ptr);
    free(b);
}

static void peer_destroy(void *handle)
{
    peer *t = handle;
    if (!t)
        return;
    for (int i = 0; t->links && i < t->ranks * t->ranks; i++) {
        link *l = t->links[i];
        if (!l)
            continue;
        for (buffer *b = l->all, *next; b; b = next) {
            next = b->next_all;
            free_buffer(t, i / t->ranks, i % t->ranks, b);
        }
        pthread_mutex_destroy(&l->lock);
        pthread_cond_destroy(&l->arrived);
        free(l);
    }
    free(t->links);
    free(t->rank);
    free(t);
}

static pp_status peer_open(int ranks, const pp_transport_rank *rank,
                           const unsigned char *links, void **out,
                           pp_error *err)
{
    *out = NULL;
    peer *t = calloc(1, sizeof *t);
    if (!t)
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    t->ranks = ranks;
    t->rank = calloc((size_t)ranks, sizeof *t->rank);
    t->links = calloc((size_t)ranks * (size_t)ranks, sizeof *t->links);
    if (!t->rank || !t->links) {
        peer_destroy(t);
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    }
    memcpy(t->rank, rank, (size_t)ranks * sizeof *rank);
    for (int i = 0; i < ranks * ranks; i++) {
        if (!links[i])
            continue;
        link *l = calloc(1, sizeof *l);
        if (!l) {
            peer_destroy(t);
            return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
        }
        pthread_mutex_init(&l->lock, NULL);
        pthread_cond_init(&l->arrived, NULL);
        t->links[i] = l;
    }
    *out = t;
    return PP_OK;
}

/* A new transfer buffer of the link, in its list of all buffers. */
static pp_status new_buffer(peer *t, int src, int dst, link *l, size_t bytes,
                            buffer **out, pp_error *err)
{
    const pp_transport_rank *s = &t->rank[src], *d = &t->rank[dst];
    buffer *b = calloc(1, sizeof *b);
    if (!b)
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    b->capacity = bytes;
    if (s->dev->alloc(s->dr->index, bytes, &b->ptr, err) ||
        s->dev->event_create(s->dr, 0, &b->ready, err) ||
        d->dev->event_create(d->dr, 0, &b->released, err)) {
        free_buffer(t, src, dst, b);
        return pp_error_prefix(err, "peer: a transfer buffer from rank %d "
                               "to rank %d", src, dst);
    }
    pthread_mutex_lock(&l->lock);
    b->next_all = l->all;
    l->all = b;
    pthread_mutex_unlock(&l->lock);
    *out = b;
    return PP_OK;
}

/* A free buffer of exactly `bytes`, or a new one. Exact sizes keep the
 * pool within what the runtime plans and reserves (one step's messages):
 * a big buffer lent to a small message could force another big one. */
static pp_status take_buffer(peer *t, int src, int dst, link *l,
                             size_t bytes, buffer **out, pp_error *err)
{
    pthread_mutex_lock(&l->lock);
    buffer **at = &l->free;
    while (*at && (*at)->capacity != bytes)
        at = &(*at)->next;
    buffer *b = *at;
    if (b)
        *at = b->next;
    pthread_mutex_unlock(&l->lock);
    if (b) {
        *out = b;
        return PP_OK;
    }
    return new_buffer(t, src, dst, l, bytes, out, err);
}

static pp_status peer_reserve(void *handle, int src, int dst, size_t bytes,
                              int count, pp_error *err)
{
    peer *t = handle;
    link *l = link_of(t, src, dst, err);
    if (!l)
        return err->code;
    for (int i = 0; i < count; i++) {
        buffer *b = NULL;
        if (new_buffer(t, src, dst, l, bytes, &b, err))
            return err->code;
        pthread_mutex_lock(&l->lock);
        b->next = l->free;
        l->free = b;
        pthread_mutex_unlock(&l->lock);
    }
    return PP_OK;
}

static pp_status peer_send_async(void *handle, int src, int dst,
                                 uint64_t tag, const void *buf, size_t bytes,
                                 pp_error *err)
{
    peer *t = handle;
    link *l = link_of(t, src, dst, err);
    if (!l)
        return err->code;
    buffer *b = NULL;
    if (take_buffer(t, src, dst, l, bytes, &b, err))
        return err->code;
    const pp_transport_rank *s = &t->rank[src];
    pp_status st = PP_OK;
    if (b->used)
        st = s->dev->event_wait(s->dr, b->released, err);
    if (!st)
        st = s->dev->copy_async(s->dr, b->ptr, buf, bytes,
                                PP_COPY_DEVICE_TO_DEVICE, err);
    if (!st)
        st = s->dev->event_record(s->dr, b->ready, err);
    b->tag = tag;
    b->bytes = bytes;
    pthread_mutex_lock(&l->lock);
    if (st) {
        b->next = l->free;
        l->free = b;
    } else {
        b->next = l->messages;
        l->messages = b;
        pthread_cond_broadcast(&l->arrived);
    }
    pthread_mutex_unlock(&l->lock);
    return st;
}

/* The message (src, tag) once it is there; NULL with err on timeout or
 * abort. */
static buffer *wait_message(peer *t, link *l, int src, uint64_t tag,
                            int timeout_ms, pp_error *err)
{
    struct timespec deadline = pp_deadline_after(timeout_ms);
    buffer *found = NULL;
    pthread_mutex_lock(&l->lock);
    for (;;) {
        buffer **at = &l->messages;
        while (*at && (*at)->tag != tag)
            at = &(*at)->next;
        if ((found = *at)) {
            *at = found->next;
            break;
        }
        if (t->aborted) {
            pp_error_set(err, PP_ERR_RUNTIME,
                         "stopped: another rank failed");
            break;
        }
        int rc = timeout_ms < 0
                     ? pthread_cond_wait(&l->arrived, &l->lock)
                     : pthread_cond_timedwait(&l->arrived, &l->lock,
                                              &deadline);
        if (rc == ETIMEDOUT) {
            pp_error_set(err, PP_ERR_RUNTIME,
                         "no message from rank %d after %d ms", src,
                         timeout_ms);
            break;
        }
    }
    pthread_mutex_unlock(&l->lock);
    return found;
}

static pp_status peer_recv_async(void *handle, int dst, int src,
                                 uint64_t tag, void *buf, size_t bytes,
                                 int timeout_ms, pp_error *err)
{
    peer *t = handle;
    link *l = link_of(t, src, dst, err);
    if (!l)
        return err->code;
    buffer *b = wait_message(t, l, src, tag, timeout_ms, err);
    if (!b)
        return err->code;
    const pp_transport_rank *d = &t->rank[dst];
    pp_status st = PP_OK;
    if (b->bytes != bytes)
        st = pp_error_set(err, PP_ERR_RUNTIME,
                          "message from rank %d is %zu bytes, expected %zu",
                          src, b->bytes, bytes);
    if (!st)
        st = d->dev->event_wait(d->dr, b->ready, err);
    if (!st)
        st = d->dev->copy_async(d->dr, buf, b->ptr, bytes,
                                PP_COPY_DEVICE_TO_DEVICE, err);
    if (!st)
        st = d->dev->event_record(d->dr, b->released, err);
    /* On failure the run stops; the buffer only needs to be findable by
     * destroy, which it is through `all`. */
    if (!st) {
        b->used = 1;
        pthread_mutex_lock(&l->lock);
        b->next = l->free;
        l->free = b;
        pthread_mutex_unlock(&l->lock);
    }
    return st;
}

static void peer_abort(void *handle)
{
    peer *t = handle;
    int n = t->ranks * t->ranks;
    for (int i = 0; i < n; i++)
        if (t->links[i])
            pthread_mutex_lock(&t->links[i]->lock);
    t->aborted = 1;
    for (int i = 0; i < n; i++)
        if (t->links[i]) {
            pthread_cond_broadcast(&t->links[i]->arrived);
            pthread_mutex_unlock(&t->links[i]->lock);
        }
}

static const pp_transport_ops ops = {
    /* An extra copy (the snapshot): dearer than local and nccl. */
    .memory = PP_MEMORY_HOST | PP_MEMORY_CUDA,
    .reach = PP_REACH_THREADS,
    .order = PP_ORDER_TAG,
    .cost = 20,
    .destroy = peer_destroy,
    .abort = peer_abort,
    .open = peer_open,
    .send_async = peer_send_async,
    .recv_async = peer_recv_async,
    .reserve = peer_reserve,
};

PP_PLUGIN(PP_KIND_TRANSPORT, "peer",
          "ranks of one process: device-to-device copies ordered by events",
          NULL, &ops);
