/* bench/transfer_gpu.c - moving one message between ranks on one GPU, at
 * 1 MiB to 1 GiB: the `peer` transport between two ranks on cuda:0 (one
 * thread per rank, rank 0 sends, rank 1 receives), the `nccl` transport
 * with one rank linked to itself (send, then receive, on the same rank),
 * and a bare cudaMemcpyAsync device to device as the reference. Part 3 of
 * bench/gpu.sh.
 *
 *   bench/transfer_gpu [--cpu] [MIN_MIB [MAX_MIB]]
 *                                  (default 1 1024, in powers of 4)
 *
 * Everything goes through the plugins as the runtime uses them: the
 * registry finds the "cuda" device and the transports, the device table
 * opens each rank (its stream), allocates, clears and times, and the
 * stream-ordered half of the transport ABI (1.2: open, send_async,
 * recv_async) moves the bytes. Times are timing events of the device
 * table (CUDA events) on the ranks' streams, warm-up excluded (the first
 * messages of a size allocate the transport's buffers); GB/s is message
 * bytes times messages over the time, with 1 GB = 1e9 bytes. A copy
 * reads and writes each byte: the number is the message rate, not the
 * memory traffic. Both transports copy twice per message (a snapshot the
 * sender may overwrite at once, then the delivery), so expect about half
 * of memcpy's rate.
 *
 * A transport plugin that is missing, or built without the stream-ordered
 * half, is reported by name and skipped; the others still run. Each size
 * checks that the timed messages delivered the bytes (the destination is
 * cleared after the warm-up and compared with the source at the end), so
 * a transport that moves nothing fails instead of printing a fast number.
 * --cpu runs the same program on the built-in cpu device (peer only, host
 * clock): a check of this program where there is no GPU, not a number.
 *
 * Exit status: 0 what was found ran and delivered, 1 a failure, 2 usage,
 * 77 no GPU answers. Not a test: the numbers are not judged.
 */
#include <config.h>

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime_api.h>

#include <pipette/cuda.h>
#include <pipette/pipette.h>

#include "registry.h"

/* A CUDA call that must not fail. */
#define CHECK(call)                                                         \
    do {                                                                    \
        pp_error e_;                                                        \
        TRY(PP_CUDA_CHECK(call, &e_), &e_);                                 \
    } while (0)
/* A device-table call that must not fail. */
#define TRY(call, err)                                                      \
    do {                                                                    \
        if ((call) != PP_OK) {                                              \
            fprintf(stderr, "transfer_gpu: %s:%d: %s\n", __FILE__,          \
                    __LINE__, (err)->msg);                                  \
            exit(1);                                                        \
        }                                                                   \
    } while (0)

enum { WARM = 3, DEPTH = 2, TIMEOUT_MS = 60000 };
enum { T_MEMCPY, T_PEER, T_NCCL, NT };

static const char *const title[NT] = {"memcpy D2D", "peer 0->1", "nccl self"};

/* What every measurement shares: the device (cuda, or cpu for --cpu),
 * two ranks on its device 0, the source (filled with `pattern`) and the
 * destination, both of the largest size. */
typedef struct bench {
    const pp_device_ops *dev;
    int cuda;
    pp_device_rank dr[2];
    unsigned char *src, *dst; /* device, (max) */
    unsigned char *pattern;   /* host, (max) */
    unsigned char *back;      /* host, (max): dst read back */
} bench;

/* Messages per measurement: enough bytes that the events' resolution and
 * the host's queueing do not decide the number, at most 1000. */
static int iters_for(size_t bytes)
{
    size_t n = ((size_t)16 << 30) / bytes;
    return n < 10 ? 10 : n > 1000 ? 1000 : (int)n;
}

static double gbps(size_t bytes, int iters, double ms)
{
    return (double)bytes * iters / (ms * 1e-3) / 1e9;
}

/* A timing event on r's device. */
static void *event_new(const bench *b, const pp_device_rank *r)
{
    pp_error err;
    void *ev;
    TRY(b->dev->event_create(r, 1, &ev, &err), &err);
    return ev;
}

/* Milliseconds from a to b, once b has run. */
static double elapsed(const bench *b, void *from, void *to)
{
    pp_error err;
    double ms = 0;
    TRY(b->dev->event_sync(to, &err), &err);
    TRY(b->dev->event_elapsed(from, to, &ms, &err), &err);
    return ms;
}

/* Clears the destination on r's stream and waits. */
static void clear_dst(const bench *b, const pp_device_rank *r, size_t bytes)
{
    pp_error err;
    TRY(b->dev->zero_async(r, b->dst, bytes, &err), &err);
    TRY(b->dev->sync(r, &err), &err);
}

/* 0 when the destination holds the source's bytes. */
static int delivered(const bench *b, size_t bytes, const char *what)
{
    pp_error err;
    TRY(b->dev->copy(0, b->back, b->dst, bytes, PP_COPY_DEVICE_TO_HOST, &err),
        &err);
    if (memcmp(b->back, b->pattern, bytes) == 0)
        return 0;
    size_t at = 0;
    while (b->back[at] == b->pattern[at])
        at++;
    fprintf(stderr, "transfer_gpu: %s, %zu bytes: the destination differs "
                    "from the source at byte %zu (%u, expected %u)\n",
            what, bytes, at, b->back[at], b->pattern[at]);
    return 1;
}

/* (c) The reference: cudaMemcpyAsync on rank 0's stream (the cpu
 * device's copy under --cpu). */
static void copy_once(const bench *b, size_t bytes)
{
    if (b->cuda) {
        CHECK(cudaMemcpyAsync(b->dst, b->src, bytes, cudaMemcpyDeviceToDevice,
                              (cudaStream_t)b->dr[0].stream));
    } else {
        pp_error err;
        TRY(b->dev->copy_async(&b->dr[0], b->dst, b->src, bytes,
                               PP_COPY_DEVICE_TO_DEVICE, &err),
            &err);
    }
}

static int time_memcpy(const bench *b, size_t bytes, int iters, double *ms)
{
    pp_error err;
    void *t0 = event_new(b, &b->dr[0]), *t1 = event_new(b, &b->dr[0]);
    for (int i = 0; i < WARM; i++)
        copy_once(b, bytes);
    clear_dst(b, &b->dr[0], bytes);
    TRY(b->dev->event_record(&b->dr[0], t0, &err), &err);
    for (int i = 0; i < iters; i++)
        copy_once(b, bytes);
    TRY(b->dev->event_record(&b->dr[0], t1, &err), &err);
    *ms = elapsed(b, t0, t1);
    b->dev->event_destroy(&b->dr[0], t0);
    b->dev->event_destroy(&b->dr[0], t1);
    return delivered(b, bytes, "memcpy");
}

/* (a) peer: rank 0's thread sends, rank 1's receives. The sender stays at
 * most DEPTH messages ahead, so the transport's pool of transfer buffers
 * stays small at 1 GiB; both threads meet once between warm-up and the
 * timed messages. The time runs from an event on rank 0's stream before
 * the first timed send to one on rank 1's stream after the last receive
 * (one device: its events compare across streams). */
typedef struct duo {
    const bench *b;
    const pp_transport_ops *tr;
    void *t;
    size_t bytes;
    int iters;
    void *start, *stop; /* events on rank 0's, rank 1's stream */
    pthread_mutex_t lock;
    pthread_cond_t changed;
    int received; /* receives queued so far */
    int arrived;  /* threads done with the warm-up */
    int failed;
    pp_error err[2];
} duo;

static void duo_fail(duo *d)
{
    pthread_mutex_lock(&d->lock);
    d->failed = 1;
    pthread_cond_broadcast(&d->changed);
    pthread_mutex_unlock(&d->lock);
    if (d->tr->abort)
        d->tr->abort(d->t);
}

/* Waits until *value >= want; 0, or -1 when the other thread failed. */
static int duo_wait(duo *d, const int *value, int want)
{
    pthread_mutex_lock(&d->lock);
    while (*value < want && !d->failed)
        pthread_cond_wait(&d->changed, &d->lock);
    int rc = d->failed ? -1 : 0;
    pthread_mutex_unlock(&d->lock);
    return rc;
}

static void duo_bump(duo *d, int *value)
{
    pthread_mutex_lock(&d->lock);
    (*value)++;
    pthread_cond_broadcast(&d->changed);
    pthread_mutex_unlock(&d->lock);
}

/* Both threads have queued and run the warm-up; the receiver has cleared
 * the destination. */
static int duo_meet(duo *d, int r)
{
    if (d->b->dev->sync(&d->b->dr[r], &d->err[r]))
        return -1;
    if (r == 1)
        clear_dst(d->b, &d->b->dr[1], d->bytes);
    duo_bump(d, &d->arrived);
    return duo_wait(d, &d->arrived, 2);
}

static void *peer_sender(void *arg)
{
    duo *d = arg;
    const bench *b = d->b;
    pp_error *err = &d->err[0];
    if (b->dev->use(b->dr[0].index, err))
        goto fail;
    for (int i = 0; i < WARM + d->iters; i++) {
        if (i == WARM && (duo_meet(d, 0) ||
                          b->dev->event_record(&b->dr[0], d->start, err)))
            goto fail;
        if (duo_wait(d, &d->received, i - DEPTH) ||
            d->tr->send_async(d->t, 0, 1, (uint64_t)i, b->src, d->bytes, err))
            goto fail;
    }
    if (b->dev->sync(&b->dr[0], err))
        goto fail;
    return NULL;
fail:
    duo_fail(d);
    return NULL;
}

static void *peer_receiver(void *arg)
{
    duo *d = arg;
    const bench *b = d->b;
    pp_error *err = &d->err[1];
    if (b->dev->use(b->dr[1].index, err))
        goto fail;
    for (int i = 0; i < WARM + d->iters; i++) {
        if (i == WARM && duo_meet(d, 1))
            goto fail;
        if (d->tr->recv_async(d->t, 1, 0, (uint64_t)i, b->dst, d->bytes,
                              TIMEOUT_MS, err))
            goto fail;
        duo_bump(d, &d->received);
    }
    if (b->dev->event_record(&b->dr[1], d->stop, err) ||
        b->dev->sync(&b->dr[1], err))
        goto fail;
    return NULL;
fail:
    duo_fail(d);
    return NULL;
}

/* A fresh transport per size, so that its buffers of the last size are
 * given back before the next. */
static int time_peer(const bench *b, const pp_transport_ops *tr,
                     size_t bytes, int iters, double *ms)
{
    pp_transport_rank rank[2] = {{b->dev, &b->dr[0]}, {b->dev, &b->dr[1]}};
    const unsigned char links[4] = {0, 1, 0, 0}; /* 0 -> 1 only */
    duo d = {.b = b, .tr = tr, .bytes = bytes, .iters = iters};
    pp_error_clear(&d.err[0]);
    pp_error_clear(&d.err[1]);
    if (tr->open(2, rank, links, &d.t, &d.err[0])) {
        fprintf(stderr, "transfer_gpu: peer: open: %s\n", d.err[0].msg);
        return 1;
    }
    /* Every transfer buffer the messages can hold at once (DEPTH sent and
     * not yet received, and the one being sent), made before the clock
     * starts: a warm-up that the receiver keeps up with makes fewer, and
     * the cudaMalloc of the rest would land between the events. */
    if (tr->reserve &&
        tr->reserve(d.t, 0, 1, bytes, DEPTH + 1, &d.err[0])) {
        fprintf(stderr, "transfer_gpu: peer: reserve: %s\n", d.err[0].msg);
        tr->destroy(d.t);
        return 1;
    }
    d.start = event_new(b, &b->dr[0]);
    d.stop = event_new(b, &b->dr[1]);
    pthread_mutex_init(&d.lock, NULL);
    pthread_cond_init(&d.changed, NULL);
    pthread_t th[2];
    int started = 0;
    if (pthread_create(&th[0], NULL, peer_sender, &d) == 0) {
        started++;
        if (pthread_create(&th[1], NULL, peer_receiver, &d) == 0)
            started++;
        else
            duo_fail(&d);
    }
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    int rc = 0;
    if (started < 2) {
        fprintf(stderr, "transfer_gpu: peer: cannot start a thread\n");
        rc = 1;
    } else if (d.failed) {
        for (int r = 0; r < 2; r++)
            if (d.err[r].code)
                fprintf(stderr, "transfer_gpu: peer, %zu bytes, rank %d: "
                                "%s\n", bytes, r, d.err[r].msg);
        rc = 1;
    } else {
        *ms = elapsed(b, d.start, d.stop);
        rc = delivered(b, bytes, "peer");
    }
    tr->destroy(d.t);
    b->dev->event_destroy(&b->dr[0], d.start);
    b->dev->event_destroy(&b->dr[1], d.stop);
    pthread_mutex_destroy(&d.lock);
    pthread_cond_destroy(&d.changed);
    return rc;
}

/* (b) nccl: one rank, linked to itself; each message is a send then a
 * receive on rank 0's stream. As with peer, the host stays at most DEPTH
 * messages ahead of the device: the transport's snapshot buffer of a
 * message is free again only once the message has run, so a host running
 * ahead would make it allocate one more buffer per message, inside the
 * timed loop (16 GiB of them at 64 MiB and up), and time cudaMalloc. The
 * DEPTH + 1 buffers this needs are reserved before the warm-up. */
static int time_nccl(const bench *b, const pp_transport_ops *tr,
                     size_t bytes, int iters, double *ms)
{
    pp_transport_rank rank = {b->dev, &b->dr[0]};
    const unsigned char links[1] = {1};
    pp_error err;
    pp_error_clear(&err);
    void *t;
    if (tr->open(1, &rank, links, &t, &err)) {
        fprintf(stderr, "transfer_gpu: nccl: open: %s\n", err.msg);
        return 1;
    }
    if (tr->reserve && tr->reserve(t, 0, 0, bytes, DEPTH + 1, &err)) {
        fprintf(stderr, "transfer_gpu: nccl: reserve: %s\n", err.msg);
        tr->destroy(t);
        return 1;
    }
    void *t0 = event_new(b, &b->dr[0]), *t1 = event_new(b, &b->dr[0]);
    void *done[DEPTH]; /* recorded after message i, i + DEPTH, ... */
    for (int d = 0; d < DEPTH; d++)
        TRY(b->dev->event_create(&b->dr[0], 0, &done[d], &err), &err);
    int rc = 0;
    for (int i = 0; !rc && i < WARM + iters; i++) {
        if (i == WARM) {
            if (b->dev->sync(&b->dr[0], &err)) {
                rc = 1;
                break;
            }
            clear_dst(b, &b->dr[0], bytes);
            TRY(b->dev->event_record(&b->dr[0], t0, &err), &err);
        }
        rc = (i >= DEPTH && b->dev->event_sync(done[i % DEPTH], &err)) ||
             tr->send_async(t, 0, 0, (uint64_t)i, b->src, bytes, &err) ||
             tr->recv_async(t, 0, 0, (uint64_t)i, b->dst, bytes, TIMEOUT_MS,
                            &err) ||
             b->dev->event_record(&b->dr[0], done[i % DEPTH], &err);
    }
    if (!rc)
        rc = b->dev->event_record(&b->dr[0], t1, &err) ||
             b->dev->sync(&b->dr[0], &err);
    if (rc) {
        fprintf(stderr, "transfer_gpu: nccl, %zu bytes: %s\n", bytes,
                err.msg);
    } else {
        *ms = elapsed(b, t0, t1);
        rc = delivered(b, bytes, "nccl");
    }
    tr->destroy(t);
    b->dev->event_destroy(&b->dr[0], t0);
    b->dev->event_destroy(&b->dr[0], t1);
    for (int d = 0; d < DEPTH; d++)
        b->dev->event_destroy(&b->dr[0], done[d]);
    return rc;
}

/* The transport's stream-ordered half, or NULL with the reason why not. */
static const pp_transport_ops *find_transport(pp_registry *reg,
                                              const char *name, char *why,
                                              size_t size)
{
    pp_error err;
    pp_error_clear(&err);
    const pp_plugin *p;
    if (pp_registry_find(reg, PP_KIND_TRANSPORT, name, &p, &err)) {
        snprintf(why, size, "%s", err.msg);
        return NULL;
    }
    const pp_transport_ops *ops = p->ops;
    if (!ops->open || !ops->send_async || !ops->recv_async ||
        !ops->destroy) {
        snprintf(why, size, "%s has no stream-ordered half (open, "
                            "send_async, recv_async)", p->path);
        return NULL;
    }
    return ops;
}

static size_t parse_mib(const char *text)
{
    char *end;
    long long v = strtoll(text, &end, 10);
    return end == text || *end || v < 1 || v > (1LL << 20)
               ? 0
               : (size_t)v << 20;
}

int main(int argc, char **argv)
{
    int cpu = argc > 1 && strcmp(argv[1], "--cpu") == 0;
    argc -= cpu;
    argv += cpu;
    size_t min = argc > 1 ? parse_mib(argv[1]) : (size_t)1 << 20;
    size_t max = argc > 2 ? parse_mib(argv[2])
                          : (size_t)1 << (cpu ? 26 : 30);
    if (argc > 3 || !min || !max || min > max) {
        fprintf(stderr, "usage: transfer_gpu [--cpu] [MIN_MIB [MAX_MIB]]   "
                        "(default 1 1024; --cpu: 1 64)\n");
        return 2;
    }

    pp_error err;
    pp_error_clear(&err);
    pp_registry *reg;
    bench b = {.cuda = !cpu};
    if (pp_registry_create(NULL, &reg, &err)) {
        fprintf(stderr, "transfer_gpu: %s\n", err.msg);
        return 1;
    }
    if (cpu) {
        b.dev = pp_device_cpu();
    } else {
        const pp_plugin *p;
        if (pp_registry_find(reg, PP_KIND_DEVICE, "cuda", &p, &err)) {
            fprintf(stderr, "transfer_gpu: %s\n", err.msg);
            return 1;
        }
        b.dev = p->ops;
    }
    const pp_device_ops *dev = b.dev;
    if (!dev->rank_open || !dev->use || !dev->sync || !dev->zero_async ||
        !dev->copy_async || !dev->event_create || !dev->event_record ||
        !dev->event_sync || !dev->event_elapsed) {
        fprintf(stderr, "transfer_gpu: the %s device has no rank or event "
                        "operations\n", cpu ? "cpu" : "cuda");
        return 1;
    }
    int gpus = 0;
    char why[256] = "";
    if (dev->count(&gpus, why, sizeof why, &err)) {
        fprintf(stderr, "transfer_gpu: %s\n", err.msg);
        return 1;
    }
    if (gpus == 0) {
        printf("transfer_gpu: no GPU answers (%s): skipped\n", why);
        return 77;
    }
    pp_device_info info;
    if (dev->info(0, &info, &err) || dev->use(0, &err) ||
        dev->rank_open(0, &b.dr[0], &err) ||
        dev->rank_open(0, &b.dr[1], &err)) {
        fprintf(stderr, "transfer_gpu: %s:0: %s\n", cpu ? "cpu" : "cuda",
                err.msg);
        return 1;
    }

    const pp_transport_ops *tr[NT] = {NULL};
    const char *const names[NT] = {NULL, "peer", "nccl"};
    enum { RUN, SKIPPED, BROKEN } state[NT] = {RUN, RUN, RUN};
    for (int k = T_PEER; k < NT; k++) {
        static char skipped[PP_ERROR_MAX];
        tr[k] = cpu && k == T_NCCL
                    ? NULL
                    : find_transport(reg, names[k], skipped, sizeof skipped);
        if (cpu && k == T_NCCL)
            snprintf(skipped, sizeof skipped, "it needs GPU ranks (--cpu)");
        if (!tr[k]) {
            state[k] = SKIPPED;
            printf("transfer_gpu: transport %s skipped: %s\n", names[k],
                   skipped);
        }
    }

    b.pattern = malloc(max);
    b.back = malloc(max);
    if (!b.pattern || !b.back) {
        fprintf(stderr, "transfer_gpu: out of host memory for %zu bytes\n",
                max);
        return 1;
    }
    /* Bytes that differ from their neighbours and from a cleared buffer's
     * almost everywhere. */
    for (size_t i = 0; i < max; i++)
        b.pattern[i] = (unsigned char)(((i * 2654435761u) >> 13) + 1);
    TRY(dev->alloc(0, max, (void **)&b.src, &err), &err);
    TRY(dev->alloc(0, max, (void **)&b.dst, &err), &err);
    TRY(dev->copy(0, b.src, b.pattern, max, PP_COPY_HOST_TO_DEVICE, &err),
        &err);

    printf("transfers on %s:0 (%s): GB/s = message bytes x messages / time, "
           "1 GB = 1e9 bytes; %s, %d warm-up messages excluded\n",
           cpu ? "cpu" : "cuda", info.name,
           cpu ? "host clock (--cpu: a check of this program)" : "CUDA events",
           WARM);
    printf("%-10s %6s", "size", "msgs");
    for (int k = 0; k < NT; k++)
        printf(" %14s", title[k]);
    printf("\n");
    int failed = 0;
    for (size_t bytes = min; bytes <= max; bytes *= 4) {
        int iters = iters_for(bytes);
        printf("%6zu MiB %6d", bytes >> 20, iters);
        fflush(stdout);
        for (int k = 0; k < NT; k++) {
            double ms = 0;
            int rc;
            if (state[k] != RUN) {
                printf(" %14s", state[k] == SKIPPED ? "skipped" : "-");
                continue;
            }
            rc = k == T_MEMCPY ? time_memcpy(&b, bytes, iters, &ms)
               : k == T_PEER   ? time_peer(&b, tr[k], bytes, iters, &ms)
                               : time_nccl(&b, tr[k], bytes, iters, &ms);
            if (rc || !(ms > 0)) {
                if (!rc)
                    fprintf(stderr, "transfer_gpu: %s, %zu bytes: elapsed "
                                    "time %g ms\n", title[k], bytes, ms);
                printf(" %14s", "FAILED");
                state[k] = BROKEN; /* no more sizes on a broken one */
                failed = 1;
            } else {
                printf(" %14.1f", gbps(bytes, iters, ms));
            }
            fflush(stdout);
        }
        printf("\n");
        if (bytes > max / 4)
            break;
    }
    dev->release(0, b.src);
    dev->release(0, b.dst);
    dev->rank_close(&b.dr[0]);
    dev->rank_close(&b.dr[1]);
    free(b.pattern);
    free(b.back);
    pp_registry_free(reg);
    if (failed)
        fprintf(stderr, "transfer_gpu: FAILED (see above)\n");
    return failed ? 1 : 0;
}
