/* tests/emu/cuda_emu_stream.c - the CUDA runtime's streams, events and
 * kernel-launch checks, on the CPU (see cuda_emu.h).
 *
 * Each stream, and each device's legacy and per-thread default streams,
 * has a FIFO of work run by a worker thread of its own, started with the
 * first item. Ordering between streams is by marks: a mark is an item
 * that, once it runs, says everything queued before it on its stream has
 * run; a wait item holds its stream up until a mark is done. An event
 * record queues a mark, cudaStreamWaitEvent a wait for the mark of the
 * latest record; the legacy default stream's work waits behind marks
 * queued on the device's blocking streams, and their work behind one
 * queued on it. The host waits for a mark it queues itself. Everything a
 * GPU would refuse (a handle that is not live, an event recorded on
 * another device's stream, an elapsed time of untimed events) is
 * checked at the call, so no queued item can fail.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include <cuda_runtime_api.h>

#include "cuda_emu.h"

/* ---- queues ----------------------------------------------------------- */

#define STREAM_MAGIC 0x5354524du /* "STRM" */
#define EVENT_MAGIC 0x45564e54u  /* "EVNT" */
#define DEAD_MAGIC 0xdeadu

/* Shared by the queue it is in, the event recorded with it and the waits
 * for it; freed with the last reference. Under lock. */
struct mark {
    unsigned refs;
    int done;
    struct timespec at; /* when it was done */
};

struct item {
    struct item *next;
    void (*run)(void *);
    void *arg;
};

struct CUstream_st {
    unsigned magic;
    int device;
    unsigned flags;
    int legacy;    /* the device's legacy default stream */
    unsigned seed; /* the worker's jitter */
    /* Under lock: */
    struct item *head, *tail;   /* queued, not yet started */
    unsigned pending;           /* queued or running */
    int started, dying;         /* worker running; destroyed */
    pthread_cond_t wake;        /* an item queued, or dying */
    struct CUstream_st *next;   /* in `streams` */
};

struct CUevent_st {
    unsigned magic;
    int device;
    unsigned flags;
    struct mark *last; /* of the latest record, NULL before any; lock */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
/* Broadcast when a mark is done or an item has run. */
static pthread_cond_t progress = PTHREAD_COND_INITIALIZER;
/* Every stream, default ones included, until its worker ends. */
static struct CUstream_st *streams;
static unsigned streams_made;
/* Each device's legacy [0] and per-thread [1] default stream, set up on
 * first use; the per-thread one, one for all threads, is an ordinary
 * blocking stream. */
static struct CUstream_st defaults[PP_EMU_MAX_GPUS][2];

/* Memory for bookkeeping of work already accepted: none is no error a
 * caller could be given any more. */
static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p) {
        pp_emu_complain("out of memory for the stream queues");
        abort();
    }
    return p;
}

/* Under lock. Seeds differ by stream, in order of creation. */
static void stream_init(struct CUstream_st *s, int device, unsigned flags,
                        int legacy)
{
    *s = (struct CUstream_st){.magic = STREAM_MAGIC, .device = device,
                              .flags = flags, .legacy = legacy,
                              .seed = 2654435761u * ++streams_made,
                              .next = streams};
    pthread_cond_init(&s->wake, NULL);
    streams = s;
}

static void unlink_stream(struct CUstream_st *s)
{
    struct CUstream_st **p = &streams;
    while (*p != s)
        p = &(*p)->next;
    *p = s->next;
}

static int default_stream(cudaStream_t s)
{
    return s == NULL || s == cudaStreamLegacy || s == cudaStreamPerThread;
}

/* The queue behind a live handle; under lock. */
static struct CUstream_st *resolve(cudaStream_t s)
{
    if (!default_stream(s))
        return s;
    int device = pp_emu_current_device(), per_thread = s ==
                                                       cudaStreamPerThread;
    struct CUstream_st *d = &defaults[device][per_thread];
    if (d->magic != STREAM_MAGIC)
        stream_init(d, device, cudaStreamDefault, !per_thread);
    return d;
}

/* Up to PIPETTE_EMU_JITTER_US before each item (xorshift32), so that
 * streams interleave differently from run to run of the same test. */
static void jitter(struct CUstream_st *s)
{
    long most = pp_emu_jitter_us();
    if (most == 0)
        return;
    s->seed ^= s->seed << 13;
    s->seed ^= s->seed >> 17;
    s->seed ^= s->seed << 5;
    long us = (long)(s->seed % (unsigned long)(most + 1));
    struct timespec t = {us / 1000000, us % 1000000 * 1000};
    nanosleep(&t, NULL);
}

/* A stream's worker: runs its items in order; a destroyed stream's ends
 * once its queue is empty, and frees it (cudaStreamDestroy returns at
 * once, its work still runs). */
static void *work(void *arg)
{
    struct CUstream_st *s = arg;
    pthread_mutex_lock(&lock);
    for (;;) {
        struct item *it = s->head;
        if (!it) {
            if (s->dying)
                break;
            pthread_cond_wait(&s->wake, &lock);
            continue;
        }
        s->head = it->next;
        if (!s->head)
            s->tail = NULL;
        pthread_mutex_unlock(&lock);
        jitter(s);
        it->run(it->arg);
        free(it);
        pthread_mutex_lock(&lock);
        s->pending--;
        pthread_cond_broadcast(&progress);
    }
    unlink_stream(s);
    pthread_mutex_unlock(&lock);
    pthread_cond_destroy(&s->wake);
    free(s);
    return NULL;
}

/* Under lock: run(arg) at the end of s's queue. */
static void push(struct CUstream_st *s, void (*run)(void *), void *arg)
{
    struct item *it = xmalloc(sizeof *it);
    *it = (struct item){NULL, run, arg};
    if (s->tail)
        s->tail->next = it;
    else
        s->head = it;
    s->tail = it;
    s->pending++;
    if (s->started) {
        pthread_cond_signal(&s->wake);
        return;
    }
    pthread_t t;
    if (pthread_create(&t, NULL, work, s) != 0) {
        pp_emu_complain("cannot start a stream's worker thread");
        abort();
    }
    pthread_detach(t);
    s->started = 1;
}

static struct mark *new_mark(unsigned refs)
{
    struct mark *m = xmalloc(sizeof *m);
    *m = (struct mark){.refs = refs};
    return m;
}

/* Under lock. */
static void drop(struct mark *m)
{
    if (m && --m->refs == 0)
        free(m);
}

/* Under lock, holding a reference, which it drops. */
static void await_mark(struct mark *m)
{
    while (!m->done)
        pthread_cond_wait(&progress, &lock);
    drop(m);
}

static void run_mark(void *arg)
{
    struct mark *m = arg;
    pthread_mutex_lock(&lock);
    m->done = 1;
    clock_gettime(CLOCK_MONOTONIC, &m->at);
    pthread_cond_broadcast(&progress);
    drop(m);
    pthread_mutex_unlock(&lock);
}

static void run_wait(void *arg)
{
    pthread_mutex_lock(&lock);
    await_mark(arg);
    pthread_mutex_unlock(&lock);
}

/* Under lock: s's next item waits for all that is queued on `first`. */
static void order_after(struct CUstream_st *s, struct CUstream_st *first)
{
    struct mark *m = new_mark(2);
    push(first, run_mark, m);
    push(s, run_wait, m);
}

/* Under lock: push, after what CUDA orders it after ("stream
 * synchronization behavior"): work on the legacy default stream waits for
 * all earlier work on the device's blocking streams, work on a blocking
 * stream for earlier work on the legacy stream; non-blocking streams wait
 * for neither. A mark is queued after what was queued earlier, and a wait
 * for it at once, so waits never form a cycle. */
static void queue(struct CUstream_st *s, void (*run)(void *), void *arg)
{
    if (s->legacy) {
        for (struct CUstream_st *b = streams; b; b = b->next)
            if (b != s && b->device == s->device && b->pending &&
                !(b->flags & cudaStreamNonBlocking))
                order_after(s, b);
    } else if (!(s->flags & cudaStreamNonBlocking) &&
               defaults[s->device][0].pending) {
        order_after(s, &defaults[s->device][0]);
    }
    push(s, run, arg);
}

void pp_emu_enqueue(cudaStream_t stream, void (*run)(void *), void *arg,
                    int wait)
{
    if (pp_emu_sync_mode()) {
        if (run)
            run(arg);
        return;
    }
    pthread_mutex_lock(&lock);
    struct CUstream_st *s = resolve(stream);
    if (run)
        queue(s, run, arg);
    if (wait) {
        struct mark *m = new_mark(2);
        queue(s, run_mark, m);
        await_mark(m);
    }
    pthread_mutex_unlock(&lock);
}

void pp_emu_synchronize(int device)
{
    pthread_mutex_lock(&lock);
    size_t n = 0;
    for (struct CUstream_st *s = streams; s; s = s->next)
        n += (device < 0 || s->device == device) && s->pending;
    struct mark **marks = n ? xmalloc(n * sizeof *marks) : NULL;
    n = 0;
    for (struct CUstream_st *s = streams; s; s = s->next)
        if ((device < 0 || s->device == device) && s->pending) {
            marks[n] = new_mark(2);
            push(s, run_mark, marks[n++]);
        }
    for (size_t i = 0; i < n; i++)
        await_mark(marks[i]);
    pthread_mutex_unlock(&lock);
    free(marks);
}

/* ---- streams and events ----------------------------------------------- */

cudaError_t pp_emu_stream_device(cudaStream_t s, int *device)
{
    if (default_stream(s)) {
        *device = pp_emu_current_device();
        return cudaSuccess;
    }
    if (s->magic != STREAM_MAGIC)
        return cudaErrorInvalidResourceHandle;
    *device = s->device;
    return cudaSuccess;
}

cudaError_t pp_emu_check_stream(cudaStream_t s)
{
    int device;
    cudaError_t rc = pp_emu_have_device();
    if (rc == cudaSuccess)
        rc = pp_emu_stream_device(s, &device);
    return rc;
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t *pStream,
                                      unsigned int flags)
{
    if (!pStream || (flags & ~(unsigned)cudaStreamNonBlocking))
        return pp_emu_fail(cudaErrorInvalidValue);
    cudaError_t rc = pp_emu_have_device();
    if (rc != cudaSuccess)
        return pp_emu_fail(rc);
    struct CUstream_st *s = malloc(sizeof *s);
    if (!s)
        return pp_emu_fail(cudaErrorMemoryAllocation);
    pthread_mutex_lock(&lock);
    stream_init(s, pp_emu_current_device(), flags, 0);
    pthread_mutex_unlock(&lock);
    *pStream = s;
    return cudaSuccess;
}

cudaError_t cudaStreamCreate(cudaStream_t *pStream)
{
    return cudaStreamCreateWithFlags(pStream, cudaStreamDefault);
}

/* Returns at once; work queued still runs, and its worker frees the
 * stream after. */
cudaError_t cudaStreamDestroy(cudaStream_t stream)
{
    if (default_stream(stream) || stream->magic != STREAM_MAGIC)
        return pp_emu_fail(cudaErrorInvalidResourceHandle);
    pthread_mutex_lock(&lock);
    stream->magic = DEAD_MAGIC;
    stream->dying = 1;
    int started = stream->started;
    if (started)
        pthread_cond_signal(&stream->wake);
    else
        unlink_stream(stream);
    pthread_mutex_unlock(&lock);
    if (!started) {
        pthread_cond_destroy(&stream->wake);
        free(stream);
    }
    return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t stream)
{
    cudaError_t rc = pp_emu_check_stream(stream);
    if (rc == cudaSuccess)
        pp_emu_enqueue(stream, NULL, NULL, 1);
    return pp_emu_fail(rc);
}

static cudaError_t check_event(cudaEvent_t e)
{
    return e && e->magic == EVENT_MAGIC ? cudaSuccess
                                        : cudaErrorInvalidResourceHandle;
}

cudaError_t cudaEventCreateWithFlags(cudaEvent_t *event, unsigned int flags)
{
    const unsigned known = cudaEventBlockingSync | cudaEventDisableTiming |
                           cudaEventInterprocess;
    if (!event || (flags & ~known) ||
        ((flags & cudaEventInterprocess) &&
         !(flags & cudaEventDisableTiming)))
        return pp_emu_fail(cudaErrorInvalidValue);
    cudaError_t rc = pp_emu_have_device();
    if (rc != cudaSuccess)
        return pp_emu_fail(rc);
    struct CUevent_st *e = calloc(1, sizeof *e);
    if (!e)
        return pp_emu_fail(cudaErrorMemoryAllocation);
    e->magic = EVENT_MAGIC;
    e->device = pp_emu_current_device();
    e->flags = flags;
    *event = e;
    return cudaSuccess;
}

cudaError_t cudaEventCreate(cudaEvent_t *event)
{
    return cudaEventCreateWithFlags(event, cudaEventDefault);
}

/* A record still queued runs on: its mark outlives the event. */
cudaError_t cudaEventDestroy(cudaEvent_t event)
{
    if (check_event(event) != cudaSuccess)
        return pp_emu_fail(cudaErrorInvalidResourceHandle);
    pthread_mutex_lock(&lock);
    drop(event->last);
    pthread_mutex_unlock(&lock);
    event->magic = DEAD_MAGIC;
    free(event);
    return cudaSuccess;
}

/* The event and the stream must belong to one device (one context). A
 * record replaces the last one: waits already queued keep theirs. */
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream)
{
    int device;
    cudaError_t rc = check_event(event);
    if (rc == cudaSuccess)
        rc = pp_emu_stream_device(stream, &device);
    if (rc != cudaSuccess)
        return pp_emu_fail(rc);
    if (device != event->device) {
        pp_emu_complain("cudaEventRecord: event of device %d recorded on "
                        "a stream of device %d", event->device, device);
        return pp_emu_fail(cudaErrorInvalidResourceHandle);
    }
    int now = pp_emu_sync_mode();
    struct mark *m = new_mark(2);
    pthread_mutex_lock(&lock);
    drop(event->last);
    event->last = m;
    if (!now)
        queue(resolve(stream), run_mark, m);
    pthread_mutex_unlock(&lock);
    if (now)
        run_mark(m);
    return cudaSuccess;
}

/* cudaErrorNotReady is no error: it is not the thread's last error. */
cudaError_t cudaEventQuery(cudaEvent_t event)
{
    cudaError_t rc = check_event(event);
    if (rc != cudaSuccess)
        return pp_emu_fail(rc);
    pthread_mutex_lock(&lock);
    int done = !event->last || event->last->done;
    pthread_mutex_unlock(&lock);
    return done ? cudaSuccess : cudaErrorNotReady;
}

/* Never recorded: nothing to wait for. */
cudaError_t cudaEventSynchronize(cudaEvent_t event)
{
    cudaError_t rc = check_event(event);
    if (rc != cudaSuccess)
        return pp_emu_fail(rc);
    pthread_mutex_lock(&lock);
    struct mark *m = event->last;
    if (m) {
        m->refs++;
        await_mark(m);
    }
    pthread_mutex_unlock(&lock);
    return cudaSuccess;
}

/* Waits for the record latest at the call; for nothing where the event
 * was never recorded. Across devices too: an event may order another
 * device's stream. */
cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event,
                                unsigned int flags)
{
    if (flags & ~(unsigned)cudaEventWaitExternal)
        return pp_emu_fail(cudaErrorInvalidValue);
    cudaError_t rc = pp_emu_check_stream(stream);
    if (rc == cudaSuccess)
        rc = check_event(event);
    if (rc != cudaSuccess)
        return pp_emu_fail(rc);
    pthread_mutex_lock(&lock);
    struct mark *m = event->last;
    if (m && !m->done) {
        m->refs++;
        queue(resolve(stream), run_wait, m);
    }
    pthread_mutex_unlock(&lock);
    return cudaSuccess;
}

cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t start,
                                 cudaEvent_t end)
{
    if (!ms)
        return pp_emu_fail(cudaErrorInvalidValue);
    cudaError_t rc = check_event(start);
    if (rc == cudaSuccess)
        rc = check_event(end);
    if (rc != cudaSuccess)
        return pp_emu_fail(rc);
    pthread_mutex_lock(&lock);
    const struct mark *a = start->last, *b = end->last;
    /* Never recorded, or made without timing: CUDA's answer for both. */
    if (!a || !b || (start->flags & cudaEventDisableTiming) ||
        (end->flags & cudaEventDisableTiming))
        rc = cudaErrorInvalidResourceHandle;
    else if (!a->done || !b->done)
        rc = cudaErrorNotReady;
    else
        *ms = (float)((double)(b->at.tv_sec - a->at.tv_sec) * 1e3 +
                      (double)(b->at.tv_nsec - a->at.tv_nsec) * 1e-6);
    pthread_mutex_unlock(&lock);
    return rc == cudaErrorNotReady ? rc : pp_emu_fail(rc);
}

/* ---- kernel launches -------------------------------------------------- */

int pp_emu_check_launch(const char *file, int line, cudaStream_t stream,
                        int n, const void *const *pointers)
{
    int device, current = pp_emu_current_device();
    cudaError_t rc = pp_emu_have_device();
    if (rc == cudaSuccess)
        rc = pp_emu_stream_device(stream, &device);
    if (rc == cudaSuccess && device != current) {
        pp_emu_complain("%s:%d: kernel launched on a stream of device %d "
                        "while device %d is current", file, line, device,
                        current);
        rc = cudaErrorInvalidResourceHandle;
    }
    for (int i = 0; rc == cudaSuccess && i < n; i++) {
        int owner = -1;
        if (!pointers[i])
            continue;
        pp_emu_mem m = pp_emu_locate(pointers[i], 1, &owner);
        if (m == PP_EMU_PAGEABLE) {
            pp_emu_complain("%s:%d: kernel argument %d (%p) is not device "
                            "memory", file, line, i + 1, pointers[i]);
            rc = cudaErrorIllegalAddress;
        } else if (m == PP_EMU_DEVICE &&
                   !pp_emu_can_reach(current, owner)) {
            pp_emu_complain("%s:%d: kernel argument %d (%p) is memory of "
                            "device %d, no peer of device %d", file, line,
                            i + 1, pointers[i], owner, current);
            rc = cudaErrorIllegalAddress;
        }
    }
    return pp_emu_fail(rc);
}
