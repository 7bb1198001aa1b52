/* plugins/local.c - the `local` transport: ranks are threads of one
 * process, and a message is a copy into the receiver's mailbox.
 *
 * Each rank has one mailbox (a list under a mutex, with a condition
 * variable). send copies the bytes into a new message at the list's end
 * and never waits; recv takes the message matching (source, tag) whenever
 * it arrives, whatever the order of arrival, searching from the oldest:
 * receives in the order of the sends (most of them) find theirs first,
 * so a step's cost stays linear in its messages. It moves host memory: a GPU rank's
 * messages reach it through the runtime's host staging, which is why
 * auto takes it only where no transport moves the memory as it is.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pipette/pipette.h>

#include "deadline.h"

typedef struct message {
    struct message *next;
    int src;
    uint64_t tag;
    size_t bytes;
    unsigned char data[];
} message;

typedef struct mailbox {
    pthread_mutex_t lock;
    pthread_cond_t arrived;
    message *head;
    message **tail; /* the last message's next, or &head */
} mailbox;

typedef struct local {
    int ranks;
    int aborted; /* under every mailbox's lock */
    mailbox box[];
} local;

static pp_status local_create(int ranks, void **out, pp_error *err)
{
    local *t = calloc(1, sizeof *t + (size_t)ranks * sizeof(mailbox));
    if (!t)
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    t->ranks = ranks;
    for (int r = 0; r < ranks; r++) {
        pthread_mutex_init(&t->box[r].lock, NULL);
        pthread_cond_init(&t->box[r].arrived, NULL);
        t->box[r].tail = &t->box[r].head;
    }
    *out = t;
    return PP_OK;
}

static void local_destroy(void *handle)
{
    local *t = handle;
    if (!t)
        return;
    for (int r = 0; r < t->ranks; r++) {
        for (message *m = t->box[r].head, *next; m; m = next) {
            next = m->next;
            free(m);
        }
        pthread_mutex_destroy(&t->box[r].lock);
        pthread_cond_destroy(&t->box[r].arrived);
    }
    free(t);
}

static pp_status local_send(void *handle, int src, int dst, uint64_t tag,
                            const void *buf, size_t bytes, pp_error *err)
{
    local *t = handle;
    message *m = malloc(sizeof *m + bytes);
    if (!m)
        return pp_error_set(err, PP_ERR_NOMEM,
                            "out of memory for a %zu-byte message", bytes);
    m->src = src;
    m->tag = tag;
    m->bytes = bytes;
    memcpy(m->data, buf, bytes);
    mailbox *box = &t->box[dst];
    m->next = NULL;
    pthread_mutex_lock(&box->lock);
    *box->tail = m;
    box->tail = &m->next;
    pthread_cond_broadcast(&box->arrived);
    pthread_mutex_unlock(&box->lock);
    return PP_OK;
}

static pp_status local_recv(void *handle, int dst, int src, uint64_t tag,
                            void *buf, size_t bytes, int timeout_ms,
                            pp_error *err)
{
    local *t = handle;
    mailbox *box = &t->box[dst];
    struct timespec deadline = pp_deadline_after(timeout_ms);
    pthread_mutex_lock(&box->lock);
    pp_status st = PP_OK;
    for (;;) {
        message **at = &box->head;
        while (*at && ((*at)->src != src || (*at)->tag != tag))
            at = &(*at)->next;
        if (*at) {
            message *m = *at;
            if (!(*at = m->next))
                box->tail = at;
            pthread_mutex_unlock(&box->lock);
            if (m->bytes != bytes)
                st = pp_error_set(err, PP_ERR_RUNTIME,
                    "message from rank %d is %zu bytes, expected %zu", src,
                    m->bytes, bytes);
            else
                memcpy(buf, m->data, bytes);
            free(m);
            return st;
        }
        if (t->aborted) {
            st = pp_error_set(err, PP_ERR_RUNTIME,
                              "stopped: another rank failed");
            break;
        }
        int rc = timeout_ms < 0
                     ? pthread_cond_wait(&box->arrived, &box->lock)
                     : pthread_cond_timedwait(&box->arrived, &box->lock,
                                              &deadline);
        if (rc == ETIMEDOUT) {
            st = pp_error_set(err, PP_ERR_RUNTIME,
                "no message from rank %d after %d ms", src, timeout_ms);
            break;
        }
    }
    pthread_mutex_unlock(&box->lock);
    return st;
}

static void local_abort(void *handle)
{
    local *t = handle;
    for (int r = 0; r < t->ranks; r++)
        pthread_mutex_lock(&t->box[r].lock);
    t->aborted = 1;
    for (int r = 0; r < t->ranks; r++) {
        pthread_cond_broadcast(&t->box[r].arrived);
        pthread_mutex_unlock(&t->box[r].lock);
    }
}

static const pp_transport_ops ops = {
    .memory = PP_MEMORY_HOST,
    .reach = PP_REACH_THREADS,
    .order = PP_ORDER_TAG,
    .cost = 10,
    .create = local_create,
    .destroy = local_destroy,
    .send = local_send,
    .recv = local_recv,
    .abort = local_abort,
};

PP_PLUGIN(PP_KIND_TRANSPORT, "local",
          "ranks as threads of one process: copies through mailboxes", NULL,
          &ops);
