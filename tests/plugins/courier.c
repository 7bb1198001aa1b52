/* tests/plugins/courier.c - a host transport that pipette was not
 * written for: one bag of letters for every rank, under one lock. Built
 * against the installed headers alone.
 *
 * Built as transports/courier.so, which says it is cheaper than local:
 * where its directory is on the plugin path, transport = auto routes the
 * directions between host ranks of one process through it, with no
 * change to pipette. Built again as transports/faraway.so (COURIER_REACH
 * = PP_REACH_PROCESSES), which connects only ranks of different
 * processes, as an MPI transport would (so it fills create_job too): named
 * for ranks of one process, it is refused. With COURIER_LOG set, destroy appends "delivered N" to
 * that file, N the letters received.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pipette/pipette.h>

typedef struct letter {
    struct letter *next;
    int src, dst;
    uint64_t tag;
    size_t bytes;
    unsigned char data[];
} letter;

typedef struct courier {
    pthread_mutex_t lock;
    pthread_cond_t arrived;
    letter *bag;
    int aborted;
    long delivered;
    size_t bytes;       /* in the letters delivered */
} courier;

static pp_status courier_create(int ranks, void **out, pp_error *err)
{
    (void)ranks;
    courier *c = calloc(1, sizeof *c);
    if (!c)
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->arrived, NULL);
    *out = c;
    return PP_OK;
}

/* faraway's: the letters need not know which process runs each rank. */
static pp_status courier_create_job(int ranks, const pp_transport_job *job,
                                    void **out, pp_error *err)
{
    (void)job;
    return courier_create(ranks, out, err);
}

static void courier_destroy(void *handle)
{
    courier *c = handle;
    const char *log = getenv("COURIER_LOG");
    FILE *f = log ? fopen(log, "a") : NULL;
    if (f) {
        fprintf(f, "delivered %ld, %zu bytes\n", c->delivered, c->bytes);
        fclose(f);
    }
    for (letter *l = c->bag, *next; l; l = next) {
        next = l->next;
        free(l);
    }
    pthread_mutex_destroy(&c->lock);
    pthread_cond_destroy(&c->arrived);
    free(c);
}

static pp_status courier_send(void *handle, int src, int dst, uint64_t tag,
                              const void *buf, size_t bytes, pp_error *err)
{
    courier *c = handle;
    letter *l = malloc(sizeof *l + bytes);
    if (!l)
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    l->src = src;
    l->dst = dst;
    l->tag = tag;
    l->bytes = bytes;
    memcpy(l->data, buf, bytes);
    pthread_mutex_lock(&c->lock);
    l->next = c->bag;
    c->bag = l;
    pthread_cond_broadcast(&c->arrived);
    pthread_mutex_unlock(&c->lock);
    return PP_OK;
}

/* Under c->lock: the letter (src, dst, tag), taken out of the bag. */
static letter *take(courier *c, int src, int dst, uint64_t tag)
{
    for (letter **at = &c->bag; *at; at = &(*at)->next)
        if ((*at)->src == src && (*at)->dst == dst && (*at)->tag == tag) {
            letter *l = *at;
            *at = l->next;
            return l;
        }
    return NULL;
}

static pp_status courier_recv(void *handle, int dst, int src, uint64_t tag,
                              void *buf, size_t bytes, int timeout_ms,
                              pp_error *err)
{
    courier *c = handle;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&c->lock);
    letter *l;
    int rc = 0;
    while (!(l = take(c, src, dst, tag)) && !c->aborted && rc != ETIMEDOUT)
        rc = timeout_ms < 0
                 ? pthread_cond_wait(&c->arrived, &c->lock)
                 : pthread_cond_timedwait(&c->arrived, &c->lock, &until);
    c->delivered += l != NULL;
    c->bytes += l ? l->bytes : 0;
    pthread_mutex_unlock(&c->lock);
    if (!l)
        return pp_error_set(err, PP_ERR_RUNTIME, "courier: %s",
                            c->aborted ? "stopped: another rank failed"
                                       : "no letter in time");
    pp_status st = l->bytes == bytes
        ? PP_OK
        : pp_error_set(err, PP_ERR_RUNTIME,
                       "courier: a letter of %zu bytes, expected %zu",
                       l->bytes, bytes);
    if (!st)
        memcpy(buf, l->data, bytes);
    free(l);
    return st;
}

static void courier_abort(void *handle)
{
    courier *c = handle;
    pthread_mutex_lock(&c->lock);
    c->aborted = 1;
    pthread_cond_broadcast(&c->arrived);
    pthread_mutex_unlock(&c->lock);
}

static const pp_transport_ops ops = {
    .memory = PP_MEMORY_HOST,
    .reach = COURIER_REACH,
    .order = PP_ORDER_TAG,
    .cost = 5, /* local's is 10 */
    .create = courier_create,
    .destroy = courier_destroy,
    .send = courier_send,
    .recv = courier_recv,
    .abort = courier_abort,
    .create_job = COURIER_REACH & PP_REACH_PROCESSES ? courier_create_job
                                                     : NULL,
};

PP_PLUGIN(PP_KIND_TRANSPORT, COURIER_NAME,
          "one bag of letters under one lock, cheaper than local (tests)",
          NULL, &ops);
