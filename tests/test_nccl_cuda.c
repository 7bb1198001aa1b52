/* tests/test_nccl_cuda.c - the nccl transport moving real device memory:
 * a rank linked to itself (a 1-rank communicator, which any GPU has) and,
 * where two GPUs answer, two ranks sending to each other at once, and
 * summing (group_open, sum_async). Across processes (open_job) with a
 * job whose processes are threads of this one, meeting through a fake
 * allgather: a real multi-process run needs mpirun (tests/mpi-train.sh
 * runs on cpu ranks; the emulator cannot share a GPU between processes).
 *
 * Without a GPU it exits 77 (automake's SKIP) and says why, unless
 * PIPETTE_REQUIRE_GPU=1, when a missing GPU is a failure. What needs no
 * GPU is tested in test_nccl_plugin.c, which never skips.
 *
 * main() asks CUDA for the device count, so CUDA is initialised in this
 * process and a forked child could not use it: Check runs the tests
 * in-process (CK_NOFORK), where its timeouts do not work. A test that
 * must not hang bounds its own wait, and gpu_skip.h's watchdog fails the
 * whole program if anything else hangs (a send waiting for its receive,
 * a destroy waiting for a kernel).
 */
#include <config.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include <pipette/pipette.h>

#include "registry.h"
#include "gpu_skip.h"

#define TIMEOUT_MS 10000 /* a receive that should succeed at once */

static const pp_device_ops *gpu;
static const pp_transport_ops *net;

static pp_status load(pp_plugin_kind kind, const char *name, const void **ops,
                      pp_error *err)
{
    pp_registry *reg;
    const pp_plugin *plugin;
    if (pp_registry_create(NULL, &reg, err))
        return err->code;
    pp_status st = pp_registry_find(reg, kind, name, &plugin, err);
    if (!st)
        *ops = plugin->desc->ops; /* outlives reg: plugins stay loaded */
    pp_registry_free(reg);
    return st;
}

/* Uniform in [-1, 1): xorshift32, seeded per message so failures replay. */
static float *random_floats(size_t n, uint32_t seed)
{
    float *x = malloc(n * sizeof *x);
    ck_assert_ptr_nonnull(x);
    uint32_t s = seed ? seed : 1;
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        x[i] = (float)(s >> 8) / (float)(1u << 23) - 1.0f;
    }
    return x;
}

static void *gpu_alloc(int dev, size_t bytes)
{
    pp_error err;
    pp_error_clear(&err);
    void *p = NULL;
    ck_assert_msg(gpu->alloc(dev, bytes, &p, &err) == PP_OK, "%s", err.msg);
    return p;
}

/* Synchronous, on the legacy stream: only after the rank's stream has
 * been synchronised. */
static void download(int dev, void *h, const void *d, size_t bytes)
{
    pp_error err;
    pp_error_clear(&err);
    ck_assert_msg(gpu->copy(dev, h, d, bytes, PP_COPY_DEVICE_TO_HOST, &err) ==
                  PP_OK, "%s", err.msg);
}

/* One rank on cuda:0, linked to itself. */
typedef struct self {
    pp_device_rank dr;
    pp_transport_rank tr;
    void *t;
} self;

static void self_open(self *f)
{
    pp_error err;
    pp_error_clear(&err);
    ck_assert_msg(gpu->use(0, &err) == PP_OK, "%s", err.msg);
    ck_assert_msg(gpu->rank_open(0, &f->dr, &err) == PP_OK, "%s", err.msg);
    f->tr = (pp_transport_rank){gpu, &f->dr};
    const unsigned char link = 1;
    ck_assert_msg(net->open(1, &f->tr, &link, &f->t, &err) == PP_OK, "%s",
                  err.msg);
}

static void self_close(self *f)
{
    pp_error err;
    pp_error_clear(&err);
    ck_assert_msg(gpu->sync(&f->dr, &err) == PP_OK, "%s", err.msg);
    net->destroy(f->t);
    gpu->rank_close(&f->dr);
}

/* Queued on the rank's stream, so it lands after what is queued before. */
static void upload_async(self *f, void *d, const void *h, size_t bytes)
{
    pp_error err;
    pp_error_clear(&err);
    ck_assert_msg(gpu->copy_async(&f->dr, d, h, bytes, PP_COPY_HOST_TO_DEVICE,
                                  &err) == PP_OK, "%s", err.msg);
}

static void send_ok(self *f, uint64_t tag, const void *buf, size_t bytes)
{
    pp_error err;
    pp_error_clear(&err);
    ck_assert_msg(net->send_async(f->t, 0, 0, tag, buf, bytes, &err) == PP_OK,
                  "%s", err.msg);
}

static void recv_ok(self *f, uint64_t tag, void *buf, size_t bytes)
{
    pp_error err;
    pp_error_clear(&err);
    ck_assert_msg(net->recv_async(f->t, 0, 0, tag, buf, bytes, TIMEOUT_MS,
                                  &err) == PP_OK, "%s", err.msg);
}

static void assert_holds(self *f, const void *d, const float *want, size_t n)
{
    pp_error err;
    pp_error_clear(&err);
    ck_assert_msg(gpu->sync(&f->dr, &err) == PP_OK, "%s", err.msg);
    float *got = malloc(n * sizeof *got);
    ck_assert_ptr_nonnull(got);
    download(0, got, d, n * sizeof *got);
    for (size_t i = 0; i < n; i++)
        if (got[i] != want[i]) /* not an assertion each: Check logs each */
            ck_abort_msg("element %zu: %g, expected %g", i, (double)got[i],
                         (double)want[i]);
    free(got);
}

/* ~1 MB of random floats, and the source overwritten right after the
 * send (in stream order): the message is the buffer as it was sent. */
START_TEST(test_self_roundtrip)
{
    self f;
    self_open(&f);
    size_t n = 1u << 18, bytes = n * sizeof(float);
    float *want = random_floats(n, 42), *zeros = calloc(n, sizeof *zeros);
    ck_assert_ptr_nonnull(zeros);
    void *src = gpu_alloc(0, bytes), *dst = gpu_alloc(0, bytes);
    upload_async(&f, src, want, bytes);
    upload_async(&f, dst, zeros, bytes);
    send_ok(&f, 7, src, bytes);
    pp_error err;
    pp_error_clear(&err);
    ck_assert_msg(gpu->zero_async(&f.dr, src, bytes, &err) == PP_OK, "%s",
                  err.msg);
    recv_ok(&f, 7, dst, bytes);
    assert_holds(&f, dst, want, n);
    assert_holds(&f, src, zeros, n); /* the overwrite did happen */
    self_close(&f);
    gpu->release(0, src);
    gpu->release(0, dst);
    free(want);
    free(zeros);
}
END_TEST

/* Several messages of several sizes, all sent before any is received,
 * from one buffer rewritten between sends. */
START_TEST(test_self_in_order)
{
    self f;
    self_open(&f);
    const size_t n[] = {1000, 1u << 18, 1, 4096};
    enum { COUNT = sizeof n / sizeof *n };
    float *want[COUNT];
    void *dst[COUNT], *src = gpu_alloc(0, (1u << 18) * sizeof(float));
    for (int i = 0; i < COUNT; i++) {
        want[i] = random_floats(n[i], 100 + (uint32_t)i);
        dst[i] = gpu_alloc(0, n[i] * sizeof(float));
        upload_async(&f, src, want[i], n[i] * sizeof(float));
        send_ok(&f, 10 + (uint64_t)i, src, n[i] * sizeof(float));
    }
    for (int i = 0; i < COUNT; i++)
        recv_ok(&f, 10 + (uint64_t)i, dst[i], n[i] * sizeof(float));
    for (int i = 0; i < COUNT; i++) {
        assert_holds(&f, dst[i], want[i], n[i]);
        gpu->release(0, dst[i]);
        free(want[i]);
    }
    self_close(&f);
    gpu->release(0, src);
}
END_TEST

/* NCCL matches by order: a receive that skips ahead is refused, and the
 * messages are still there, in order, for the right receives. */
START_TEST(test_self_out_of_order)
{
    self f;
    self_open(&f);
    size_t n = 512, bytes = n * sizeof(float);
    float *a = random_floats(n, 1), *b = random_floats(n, 2);
    void *src = gpu_alloc(0, bytes), *da = gpu_alloc(0, bytes),
         *db = gpu_alloc(0, bytes);
    upload_async(&f, src, a, bytes);
    send_ok(&f, 1, src, bytes);
    upload_async(&f, src, b, bytes);
    send_ok(&f, 2, src, bytes);

    pp_error err;
    pp_error_clear(&err);
    ck_assert_int_eq(net->recv_async(f.t, 0, 0, 2, db, bytes, TIMEOUT_MS,
                                     &err), PP_ERR_RUNTIME);
    ck_assert_str_eq(err.msg,
                     "nccl: rank 0 expects tag 2 from rank 0, but the next "
                     "message sent is tag 1: NCCL delivers in send order, so "
                     "receives must come in send order; use transport = peer "
                     "for this schedule");
    recv_ok(&f, 1, da, bytes);
    recv_ok(&f, 2, db, bytes);
    assert_holds(&f, da, a, n);
    assert_holds(&f, db, b, n);
    self_close(&f);
    gpu->release(0, src);
    gpu->release(0, da);
    gpu->release(0, db);
    free(a);
    free(b);
}
END_TEST

START_TEST(test_self_size_mismatch)
{
    self f;
    self_open(&f);
    size_t n = 1024, bytes = n * sizeof(float);
    float *a = random_floats(n, 5);
    void *src = gpu_alloc(0, bytes), *dst = gpu_alloc(0, 2 * bytes);
    upload_async(&f, src, a, bytes);
    send_ok(&f, 5, src, bytes);
    pp_error err;
    pp_error_clear(&err);
    ck_assert_int_eq(net->recv_async(f.t, 0, 0, 5, dst, 2 * bytes,
                                     TIMEOUT_MS, &err), PP_ERR_RUNTIME);
    ck_assert_str_eq(err.msg,
                     "nccl: message from rank 0 is 4096 bytes, expected 8192");
    recv_ok(&f, 5, dst, bytes); /* still there, whole */
    assert_holds(&f, dst, a, n);
    self_close(&f);
    gpu->release(0, src);
    gpu->release(0, dst);
    free(a);
}
END_TEST

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

START_TEST(test_self_timeout)
{
    self f;
    self_open(&f);
    void *dst = gpu_alloc(0, 64);
    pp_error err;
    pp_error_clear(&err);
    double t0 = now_ms();
    ck_assert_int_eq(net->recv_async(f.t, 0, 0, 9, dst, 64, 200, &err),
                     PP_ERR_RUNTIME);
    double waited = now_ms() - t0;
    ck_assert_str_eq(err.msg, "no message from rank 0 after 200 ms");
    ck_assert_msg(waited >= 190 && waited < 5000, "waited %.0f ms", waited);
    self_close(&f);
    gpu->release(0, dst);
}
END_TEST

typedef struct waiter {
    self *f;
    void *dst;
    pp_status st;
    pp_error err;
    atomic_int done;
} waiter;

static void *wait_forever(void *arg)
{
    waiter *w = arg;
    pp_error_clear(&w->err);
    w->st = gpu->use(0, &w->err);
    if (!w->st)
        w->st = net->recv_async(w->f->t, 0, 0, 3, w->dst, 64, -1, &w->err);
    atomic_store(&w->done, 1);
    return NULL;
}

/* A receive that would wait for ever ends when another rank fails; later
 * calls fail at once; destroy after abort frees each thing once. */
START_TEST(test_self_abort_wakes_receive)
{
    self f;
    self_open(&f);
    waiter w = {.f = &f, .dst = gpu_alloc(0, 64)};
    atomic_init(&w.done, 0);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, wait_forever, &w), 0);
    struct timespec pause = {0, 100 * 1000000L};
    nanosleep(&pause, NULL);
    ck_assert_int_eq(atomic_load(&w.done), 0);
    net->abort(f.t);
    double t0 = now_ms();
    while (!atomic_load(&w.done) && now_ms() - t0 < 5000)
        nanosleep(&(struct timespec){0, 1000000L}, NULL);
    ck_assert_msg(atomic_load(&w.done), "abort did not wake the receive");
    pthread_join(th, NULL);
    ck_assert_int_eq(w.st, PP_ERR_RUNTIME);
    ck_assert_str_eq(w.err.msg, "stopped: another rank failed");

    pp_error err;
    pp_error_clear(&err);
    ck_assert_int_eq(net->send_async(f.t, 0, 0, 4, w.dst, 64, &err),
                     PP_ERR_RUNTIME);
    ck_assert_str_eq(err.msg, "stopped: another rank failed");
    self_close(&f);
    gpu->release(0, w.dst);
}
END_TEST

/* Two ranks on two GPUs, each sending to the other before receiving:
 * each direction has its own communicator, so neither send waits behind
 * the other. */
typedef struct peer {
    void *t;
    pp_device_rank dr;
    int me;
    void *out, *in;
    size_t bytes;
    pp_status st;
    pp_error err;
} peer;

static void *exchange(void *arg)
{
    peer *p = arg;
    int other = 1 - p->me;
    pp_error_clear(&p->err);
    /* The source is cleared right after the send, in stream order: the
     * message must be the buffer as it was sent. */
    if (!(p->st = gpu->use(p->me, &p->err)) &&
        !(p->st = net->send_async(p->t, p->me, other, (uint64_t)p->me, p->out,
                                  p->bytes, &p->err)) &&
        !(p->st = gpu->zero_async(&p->dr, p->out, p->bytes, &p->err)) &&
        !(p->st = net->recv_async(p->t, p->me, other, (uint64_t)other, p->in,
                                  p->bytes, TIMEOUT_MS, &p->err)))
        p->st = gpu->sync(&p->dr, &p->err);
    return NULL;
}

/* 1 when there are two GPUs to test on; else says why test does
 * nothing, and 0. */
static int two_gpus(const char *test, const char *why)
{
    int ndev = 0;
    pp_error err;
    ck_assert_int_eq(gpu->count(&ndev, NULL, 0, &err), PP_OK);
    if (ndev < 2)
        printf("%s: one GPU, %s\n", test, why);
    return ndev >= 2;
}

START_TEST(test_two_gpus_exchange)
{
    if (!two_gpus("test_two_gpus_exchange", "nothing to exchange"))
        return;
    pp_error err;
    pp_error_clear(&err);
    size_t n = 1u << 18, bytes = n * sizeof(float);
    float *want[2];
    peer p[2];
    pp_transport_rank tr[2];
    for (int r = 0; r < 2; r++) {
        p[r] = (peer){.me = r, .bytes = bytes};
        ck_assert_msg(gpu->rank_open(r, &p[r].dr, &err) == PP_OK, "%s",
                      err.msg);
        tr[r] = (pp_transport_rank){gpu, &p[r].dr};
        want[r] = random_floats(n, 200 + (uint32_t)r);
        p[r].out = gpu_alloc(r, bytes);
        p[r].in = gpu_alloc(r, bytes);
        ck_assert_msg(gpu->copy(r, p[r].out, want[r], bytes,
                                PP_COPY_HOST_TO_DEVICE, &err) == PP_OK,
                      "%s", err.msg);
    }
    const unsigned char links[] = {0, 1, 1, 0};
    void *t = NULL;
    ck_assert_msg(net->open(2, tr, links, &t, &err) == PP_OK, "%s", err.msg);
    pthread_t th[2];
    for (int r = 0; r < 2; r++) {
        p[r].t = t;
        ck_assert_int_eq(pthread_create(&th[r], NULL, exchange, &p[r]), 0);
    }
    for (int r = 0; r < 2; r++)
        pthread_join(th[r], NULL);
    float *got = malloc(bytes);
    ck_assert_ptr_nonnull(got);
    for (int r = 0; r < 2; r++) {
        ck_assert_msg(p[r].st == PP_OK, "rank %d: %s", r, p[r].err.msg);
        download(r, got, p[r].in, bytes);
        ck_assert_int_eq(memcmp(got, want[1 - r], bytes), 0);
    }
    net->destroy(t);
    for (int r = 0; r < 2; r++) {
        gpu->rank_close(&p[r].dr);
        gpu->release(r, p[r].out);
        gpu->release(r, p[r].in);
        free(want[r]);
    }
    free(got);
}
END_TEST

/* A message sent on a link between two GPUs and never received leaves
 * its send kernel waiting on the device. destroy must end it rather than
 * wait for it, and so must abort then destroy (what the runtime does when
 * a rank fails). The stuck send is on the second link, behind one whose
 * message was delivered: freeing the first link's buffers synchronizes
 * the devices, which would wait for the stuck send if it were still
 * there. A hang here is caught by the watchdog. */
static void unreceived_send(int abort_first)
{
    pp_error err;
    pp_error_clear(&err);
    size_t bytes = 1u << 20;
    pp_device_rank dr[2];
    pp_transport_rank tr[2];
    void *buf[2];
    for (int r = 0; r < 2; r++) {
        ck_assert_msg(gpu->rank_open(r, &dr[r], &err) == PP_OK, "%s",
                      err.msg);
        tr[r] = (pp_transport_rank){gpu, &dr[r]};
        buf[r] = gpu_alloc(r, bytes);
    }
    const unsigned char links[] = {0, 1, 1, 0};
    void *t = NULL;
    ck_assert_msg(net->open(2, tr, links, &t, &err) == PP_OK, "%s",
                  err.msg);
    ck_assert_msg(gpu->use(0, &err) == PP_OK, "%s", err.msg);
    ck_assert_msg(net->send_async(t, 0, 1, 1, buf[0], bytes, &err) == PP_OK,
                  "%s", err.msg);
    ck_assert_msg(gpu->use(1, &err) == PP_OK, "%s", err.msg);
    ck_assert_msg(net->recv_async(t, 1, 0, 1, buf[1], bytes, TIMEOUT_MS,
                                  &err) == PP_OK, "%s", err.msg);
    ck_assert_msg(net->send_async(t, 1, 0, 2, buf[1], bytes, &err) == PP_OK,
                  "%s", err.msg);
    /* The snapshot has run; the send is queued behind it. */
    for (int r = 0; r < 2; r++)
        ck_assert_msg(gpu->sync(&dr[r], &err) == PP_OK, "%s", err.msg);
    if (abort_first)
        net->abort(t);
    net->destroy(t);
    for (int r = 0; r < 2; r++) {
        gpu->rank_close(&dr[r]);
        gpu->release(r, buf[r]);
    }
}

START_TEST(test_two_gpus_unreceived_send)
{
    if (!two_gpus("test_two_gpus_unreceived_send",
                  "no link to leave a send on"))
        return;
    unreceived_send(0);
    unreceived_send(1);
}
END_TEST

/* A job whose "processes" are threads of this one: fake_process says
 * which one a thread plays, and the allgather meets them all, bounded by
 * its timeout. It counts the allgathers done, which every process must
 * make alike. */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t cv;
    int processes, arrived, leaving;
    unsigned round;
    unsigned char *all;
    size_t bytes;
    int calls, mismatched;
} fake = {.lock = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
static _Thread_local int fake_process;

static pp_status fake_allgather(const void *mine, void *all, size_t bytes,
                                int timeout_ms, pp_error *err)
{
    pthread_mutex_lock(&fake.lock);
    while (fake.leaving)
        pthread_cond_wait(&fake.cv, &fake.lock);
    if (fake.arrived == 0) {
        free(fake.all);
        fake.all = calloc((size_t)fake.processes, bytes + 1);
        fake.bytes = bytes;
    }
    fake.mismatched |= bytes != fake.bytes;
    memcpy(fake.all + (size_t)fake_process * fake.bytes, mine,
           bytes < fake.bytes ? bytes : fake.bytes);
    unsigned round = fake.round;
    pp_status st = PP_OK;
    if (++fake.arrived == fake.processes) {
        fake.arrived = 0;
        fake.leaving = fake.processes;
        fake.round++;
        pthread_cond_broadcast(&fake.cv);
    }
    struct timespec at;
    clock_gettime(CLOCK_REALTIME, &at);
    at.tv_sec += timeout_ms / 1000 + 1;
    while (round == fake.round && !st)
        if (pthread_cond_timedwait(&fake.cv, &fake.lock, &at) != 0)
            st = pp_error_set(err, PP_ERR_RUNTIME, "fake allgather: the "
                              "other processes never came");
    if (!st) {
        memcpy(all, fake.all, (size_t)fake.processes * bytes);
        if (--fake.leaving == 0) {
            fake.calls++;
            pthread_cond_broadcast(&fake.cv);
        }
    }
    pthread_mutex_unlock(&fake.lock);
    return st;
}

static const pp_job_ops fake_ops = {.allgather = fake_allgather};

static void fake_start(int processes)
{
    fake.processes = processes;
    fake.arrived = fake.leaving = 0;
    fake.calls = fake.mismatched = 0;
}

/* Uploads n floats and returns the device copy. */
static float *floats_on(int dev, const float *h, size_t n)
{
    float *d = gpu_alloc(dev, n * sizeof *d);
    pp_error err;
    pp_error_clear(&err);
    ck_assert_msg(gpu->copy(dev, d, h, n * sizeof *d, PP_COPY_HOST_TO_DEVICE,
                            &err) == PP_OK, "%s", err.msg);
    return d;
}

/* A job of one process: open_job and group_open with it work as open
 * does (a self link, a group of one rank, whose sum is its own values),
 * through two allgathers (where the ranks are, the group's id). A group
 * refuses ranks it cannot hold. */
START_TEST(test_job_of_one_process)
{
    fake_start(1);
    fake_process = 0;
    pp_error err;
    pp_error_clear(&err);
    self f;
    ck_assert_msg(gpu->use(0, &err) == PP_OK, "%s", err.msg);
    ck_assert_msg(gpu->rank_open(0, &f.dr, &err) == PP_OK, "%s", err.msg);
    f.tr = (pp_transport_rank){gpu, &f.dr};
    const unsigned char link = 1;
    const int process_of[] = {0};
    pp_transport_job job = {0, 1, process_of, &fake_ops};
    ck_assert_msg(net->open_job(1, &f.tr, &link, &job, &f.t, &err) == PP_OK,
                  "%s", err.msg);
    size_t n = 1000;
    float *want = random_floats(n, 9);
    float *src = floats_on(0, want, n), *dst = gpu_alloc(0, n * sizeof *dst);
    send_ok(&f, 3, src, n * sizeof *src);
    recv_ok(&f, 3, dst, n * sizeof *dst);
    assert_holds(&f, dst, want, n);

    int id = -1, bad = -1;
    const int one[] = {0}, outside[] = {0, 1}, twice[] = {0, 0};
    ck_assert_msg(net->group_open(f.t, one, 1, &job, &id, &err) == PP_OK,
                  "%s", err.msg);
    ck_assert_int_eq(fake.calls, 2);
    ck_assert_int_eq(fake.mismatched, 0);
    ck_assert_int_eq(net->group_open(f.t, outside, 2, &job, &bad, &err),
                     PP_ERR_RUNTIME);
    ck_assert_str_eq(err.msg, "nccl: rank 1 of the group is not one of the "
                              "1 opened");
    ck_assert_int_eq(net->group_open(f.t, twice, 2, &job, &bad, &err),
                     PP_ERR_RUNTIME);
    ck_assert_str_eq(err.msg, "nccl: rank 0 is in the group twice");
    ck_assert_int_eq(bad, -1);
    ck_assert_msg(net->sum_async(f.t, id, 0, src, n, TIMEOUT_MS, &err) ==
                  PP_OK, "%s", err.msg);
    assert_holds(&f, src, want, n);
    ck_assert_int_eq(net->sum_async(f.t, id + 1, 0, src, n, TIMEOUT_MS,
                                    &err), PP_ERR_RUNTIME);
    ck_assert_str_eq(err.msg, "nccl: rank 0 is not this process's in a "
                              "group 1 opened");
    self_close(&f);
    gpu->release(0, src);
    gpu->release(0, dst);
    free(want);
}
END_TEST

/* One "process" of test_two_processes: rank `me` on cuda:dev. */
typedef struct proc {
    int me, dev;
    int open_only;
    const unsigned char *links;
    const int *process_of;
    void *t;
    pp_device_rank dr;
    float *mine, *got;   /* device: what it sends and sums; received */
    size_t n;
    pp_status st;
    pp_error err;
} proc;

/* Opens its half across the two processes; unless open_only, sends to
 * the other, receives from it, sums with it, and closes its half, as a
 * process would, at once with the other. */
static void *run_process(void *arg)
{
    proc *p = arg;
    fake_process = p->me;
    pp_error_clear(&p->err);
    pp_transport_rank tr[2] = {{0}};
    pp_transport_job job = {p->me, 2, p->process_of, &fake_ops};
    int other = 1 - p->me, id, first;
    const int both[] = {0, 1}, zero[] = {0};
    if ((p->st = gpu->use(p->dev, &p->err)) ||
        (p->st = gpu->rank_open(p->dev, &p->dr, &p->err)))
        return NULL;
    tr[p->me] = (pp_transport_rank){gpu, &p->dr};
    if ((p->st = net->open_job(2, tr, p->links, &job, &p->t, &p->err)) ||
        p->open_only)
        return NULL;
    /* The groups first, as the runtime opens them; one of process 0's
     * alone, whose allgather process 1 still joins. */
    if (!(p->st = net->group_open(p->t, both, 2, &job, &id, &p->err)) &&
        !(p->st = net->group_open(p->t, zero, 1, &job, &first, &p->err)) &&
        !(p->st = net->send_async(p->t, p->me, other, 5, p->mine,
                                  p->n * sizeof(float), &p->err)) &&
        !(p->st = net->recv_async(p->t, p->me, other, 5, p->got,
                                  p->n * sizeof(float), TIMEOUT_MS,
                                  &p->err)) &&
        !(p->st = net->sum_async(p->t, id, p->me, p->mine, p->n,
                                 TIMEOUT_MS, &p->err)) &&
        !(p->st = p->me ? PP_OK
                        : net->sum_async(p->t, first, 0, p->mine, p->n,
                                         TIMEOUT_MS, &p->err)) &&
        !(p->st = gpu->sync(&p->dr, &p->err)))
        p->st = net->check(p->t, &p->err);
    net->destroy(p->t);
    p->t = NULL;
    return NULL;
}

static void run_processes(proc *p)
{
    pthread_t th[2];
    for (int q = 0; q < 2; q++)
        ck_assert_int_eq(pthread_create(&th[q], NULL, run_process, &p[q]),
                         0);
    for (int q = 0; q < 2; q++)
        pthread_join(th[q], NULL);
}

/* Ranks 0 and 1 as two processes (threads here, each with its own
 * transport, meeting only through the job's allgather and NCCL): each
 * direction's communicator made from an id of the sender's process, a
 * message each way, and a sum whose bits are the same on both. */
START_TEST(test_two_processes)
{
    if (!two_gpus("test_two_processes", "nothing to exchange"))
        return;
    fake_start(2);
    const unsigned char links[] = {0, 1, 1, 0};
    const int process_of[] = {0, 1};
    size_t n = 1u << 16;
    float *want[2], *got = malloc(n * sizeof *got);
    ck_assert_ptr_nonnull(got);
    proc p[2];
    for (int q = 0; q < 2; q++) {
        want[q] = random_floats(n, 300 + (uint32_t)q);
        p[q] = (proc){.me = q, .dev = q, .links = links,
                      .process_of = process_of, .n = n};
        p[q].mine = floats_on(q, want[q], n);
        p[q].got = gpu_alloc(q, n * sizeof(float));
    }
    run_processes(p);
    /* places, the two directions' ids, the groups' ids */
    ck_assert_int_eq(fake.calls, 4);
    ck_assert_int_eq(fake.mismatched, 0);
    for (int q = 0; q < 2; q++) {
        ck_assert_msg(p[q].st == PP_OK, "process %d: %s", q, p[q].err.msg);
        download(q, got, p[q].got, n * sizeof *got);
        ck_assert_int_eq(memcmp(got, want[1 - q], n * sizeof *got), 0);
        download(q, got, p[q].mine, n * sizeof *got);
        for (size_t i = 0; i < n; i++)
            if (got[i] != want[0][i] + want[1][i])
                ck_abort_msg("process %d, element %zu: %g, expected %g", q,
                             i, (double)got[i],
                             (double)(want[0][i] + want[1][i]));
    }
    for (int q = 0; q < 2; q++) {
        gpu->rank_close(&p[q].dr);
        gpu->release(q, p[q].mine);
        gpu->release(q, p[q].got);
        free(want[q]);
    }
    free(got);
}
END_TEST

/* Two processes' ranks on one GPU: NCCL refuses their communicator, and
 * each process says which ranks, which GPU, where, and what to do. */
START_TEST(test_two_processes_one_gpu)
{
    fake_start(2);
    const unsigned char links[] = {0, 1, 0, 0};
    const int process_of[] = {0, 1};
    proc p[2];
    for (int q = 0; q < 2; q++)
        p[q] = (proc){.me = q, .dev = 0, .open_only = 1, .links = links,
                      .process_of = process_of};
    run_processes(p);
    char host[256] = "";
    ck_assert_int_eq(gethostname(host, sizeof host - 1), 0);
    char want[512];
    snprintf(want, sizeof want, "nccl: ranks 0 and 1 are both on cuda:0 of "
             "%.63s (processes 0 and 1), and NCCL refuses two ranks of one "
             "communicator on one GPU: give each rank a GPU of its own "
             "([pipeline] devices = cuda gives each rank of a node the next "
             "one)", host);
    for (int q = 0; q < 2; q++) {
        ck_assert_int_eq(p[q].st, PP_ERR_CONFIG);
        ck_assert_ptr_null(p[q].t);
        ck_assert_str_eq(p[q].err.msg, want);
        gpu->rank_close(&p[q].dr);
    }
}
END_TEST

/* A group of two GPUs' ranks in one process: the sum of random floats,
 * bucket by bucket, the same bits on both and those of the host's sum
 * (two terms: their order does not matter). */
START_TEST(test_two_gpus_sum)
{
    if (!two_gpus("test_two_gpus_sum", "no group to sum"))
        return;
    pp_error err;
    pp_device_rank dr[2];
    pp_transport_rank tr[2];
    float *want[2], *d[2];
    size_t n = 3000, bucket = 1024;
    for (int r = 0; r < 2; r++) {
        ck_assert_msg(gpu->rank_open(r, &dr[r], &err) == PP_OK, "%s",
                      err.msg);
        tr[r] = (pp_transport_rank){gpu, &dr[r]};
        want[r] = random_floats(n, 400 + (uint32_t)r);
        d[r] = floats_on(r, want[r], n);
    }
    const unsigned char none[4] = {0};
    const int both[] = {0, 1};
    void *t = NULL;
    int id = -1;
    ck_assert_msg(net->open(2, tr, none, &t, &err) == PP_OK, "%s", err.msg);
    ck_assert_msg(net->group_open(t, both, 2, NULL, &id, &err) == PP_OK,
                  "%s", err.msg);
    for (size_t off = 0; off < n; off += bucket)
        for (int r = 0; r < 2; r++)
            ck_assert_msg(net->sum_async(t, id, r, d[r] + off,
                                         n - off < bucket ? n - off : bucket,
                                         TIMEOUT_MS, &err) == PP_OK,
                          "%s", err.msg);
    float *got = malloc(n * sizeof *got);
    ck_assert_ptr_nonnull(got);
    for (int r = 0; r < 2; r++) {
        ck_assert_msg(gpu->sync(&dr[r], &err) == PP_OK, "%s", err.msg);
        download(r, got, d[r], n * sizeof *got);
        for (size_t i = 0; i < n; i++)
            if (got[i] != want[0][i] + want[1][i])
                ck_abort_msg("rank %d, element %zu: %g, expected %g", r, i,
                             (double)got[i],
                             (double)(want[0][i] + want[1][i]));
    }
    ck_assert_msg(net->check(t, &err) == PP_OK, "%s", err.msg);
    net->destroy(t);
    for (int r = 0; r < 2; r++) {
        gpu->rank_close(&dr[r]);
        gpu->release(r, d[r]);
        free(want[r]);
    }
    free(got);
}
END_TEST

#ifdef PP_CUDA_EMULATOR
/* The emulator's NCCL (tests/emu/nccl_emu.c) can lose the sends of a
 * given size or more, or lose them and report an asynchronous error, as a
 * stuck or broken link would: the receive then spins on the device until the watchdog
 * gives up on it. A GPU cannot be made to do either on demand. */
enum { LOST = 4096 };

/* Sends and receives one lost message on f's self link; the receive is
 * issued (the host does not wait for the device) and never ends. */
static void lose_one(self *f, const char *fault, int timeout_ms, void **src,
                     void **dst)
{
    ck_assert_int_eq(setenv(fault, "4096", 1), 0);
    self_open(f);
    *src = gpu_alloc(0, LOST);
    *dst = gpu_alloc(0, LOST);
    pp_error err;
    pp_error_clear(&err);
    ck_assert_msg(net->check(f->t, &err) == PP_OK, "%s", err.msg);
    send_ok(f, 1, *src, LOST);
    ck_assert_msg(net->recv_async(f->t, 0, 0, 1, *dst, LOST, timeout_ms,
                                  &err) == PP_OK, "%s", err.msg);
}

static void lost_close(self *f, const char *fault, void *src, void *dst)
{
    self_close(f);
    gpu->release(0, src);
    gpu->release(0, dst);
    unsetenv(fault);
}

START_TEST(test_self_stuck_receive)
{
    self f;
    void *src, *dst;
    lose_one(&f, "PIPETTE_EMU_NCCL_STALL", 300, &src, &dst);
    pp_error err;
    pp_error_clear(&err);
    double t0 = now_ms();
    ck_assert_msg(gpu->sync(&f.dr, &err) == PP_OK, "%s", err.msg);
    double waited = now_ms() - t0;
    ck_assert_msg(waited >= 250 && waited < 5000, "waited %.0f ms", waited);
    ck_assert_int_eq(net->check(f.t, &err), PP_ERR_RUNTIME);
    ck_assert_msg(strstr(err.msg, "nccl: no message from rank 0 after 300 "
                                  "ms on cuda:0: the receive began on the "
                                  "GPU and NCCL delivered nothing"),
                  "%s", err.msg);
    /* Every later call says the same. */
    pp_error later;
    pp_error_clear(&later);
    ck_assert_int_eq(net->send_async(f.t, 0, 0, 2, src, LOST, &later),
                     PP_ERR_RUNTIME);
    ck_assert_str_eq(later.msg, err.msg);
    lost_close(&f, "PIPETTE_EMU_NCCL_STALL", src, dst);
}
END_TEST

START_TEST(test_self_timeout_names_stuck_receive)
{
    self f;
    void *src, *dst;
    lose_one(&f, "PIPETTE_EMU_NCCL_STALL", TIMEOUT_MS, &src, &dst);
    pp_error err;
    pp_error_clear(&err);
    ck_assert_int_eq(net->recv_async(f.t, 0, 0, 2, dst, LOST, 300, &err),
                     PP_ERR_RUNTIME);
    ck_assert_msg(strstr(err.msg, "no message from rank 0 after 300 ms; "
                                  "rank 0's receive from rank 0 has waited "),
                  "%s", err.msg);
    ck_assert_msg(strstr(err.msg, " ms on cuda:0, where NCCL delivered "
                                  "nothing"), "%s", err.msg);
    ck_assert_msg(net->check(f.t, &err) == PP_OK, "%s", err.msg);
    net->abort(f.t); /* what the runtime does on a failure */
    lost_close(&f, "PIPETTE_EMU_NCCL_STALL", src, dst);
}
END_TEST

/* A group of one rank whose sum is lost (or lost with an asynchronous
 * error): the watchdog ends it and check says why. */
static void lose_a_sum(const char *fault, pp_status code, const char *says)
{
    ck_assert_int_eq(setenv(fault, "4096", 1), 0);
    pp_error err;
    pp_error_clear(&err);
    self f;
    ck_assert_msg(gpu->use(0, &err) == PP_OK, "%s", err.msg);
    ck_assert_msg(gpu->rank_open(0, &f.dr, &err) == PP_OK, "%s", err.msg);
    f.tr = (pp_transport_rank){gpu, &f.dr};
    const unsigned char none = 0;
    const int one[] = {0};
    int id;
    ck_assert_msg(net->open(1, &f.tr, &none, &f.t, &err) == PP_OK, "%s",
                  err.msg);
    ck_assert_msg(net->group_open(f.t, one, 1, NULL, &id, &err) == PP_OK,
                  "%s", err.msg);
    float *buf = gpu_alloc(0, LOST);
    ck_assert_msg(net->sum_async(f.t, id, 0, buf, LOST / sizeof(float), 300,
                                 &err) == PP_OK, "%s", err.msg);
    double t0 = now_ms();
    ck_assert_msg(gpu->sync(&f.dr, &err) == PP_OK, "%s", err.msg);
    ck_assert_msg(now_ms() - t0 < 5000, "waited %.0f ms", now_ms() - t0);
    ck_assert_int_eq(net->check(f.t, &err), code);
    ck_assert_msg(strstr(err.msg, says), "%s", err.msg);
    pp_error later;
    pp_error_clear(&later);
    ck_assert_int_eq(net->sum_async(f.t, id, 0, buf, 1, 300, &later),
                     code);
    ck_assert_str_eq(later.msg, err.msg);
    self_close(&f);
    gpu->release(0, buf);
    unsetenv(fault);
}

START_TEST(test_stuck_sum)
{
    lose_a_sum("PIPETTE_EMU_NCCL_STALL", PP_ERR_RUNTIME,
               "nccl: rank 0's sum with ranks 0 did not end within 300 ms "
               "on cuda:0: it began on the GPU and NCCL finished nothing");
    lose_a_sum("PIPETTE_EMU_NCCL_FAIL", PP_ERR_DEVICE,
               "nccl: the sum of ranks 0 failed on cuda:0: unhandled system "
               "error");
}
END_TEST

/* One "process" of test_two_processes_stuck: process 0 sends a message
 * the emulator loses, process 1 waits for it on its device. */
static void *lose_across(void *arg)
{
    proc *p = arg;
    fake_process = p->me;
    pp_error_clear(&p->err);
    pp_transport_rank tr[2] = {{0}};
    pp_transport_job job = {p->me, 2, p->process_of, &fake_ops};
    if ((p->st = gpu->use(p->dev, &p->err)) ||
        (p->st = gpu->rank_open(p->dev, &p->dr, &p->err)) ||
        (tr[p->me] = (pp_transport_rank){gpu, &p->dr},
         p->st = net->open_job(2, tr, p->links, &job, &p->t, &p->err)))
        return NULL;
    p->st = p->me ? net->recv_async(p->t, 1, 0, 1, p->got, LOST, 300,
                                    &p->err)
                  : net->send_async(p->t, 0, 1, 1, p->mine, LOST, &p->err);
    if (!p->st)
        p->st = gpu->sync(&p->dr, &p->err);
    if (!p->st)
        p->st = net->check(p->t, &p->err);
    return NULL;
}

/* Across processes a receive is issued at once, with no queue to wait
 * on: a message that never comes is bounded by the watchdog alone, which
 * ends the receive and says why. (The sender's half, whose send never
 * ends, is aborted, as the job would end its process.) */
START_TEST(test_two_processes_stuck)
{
    if (!two_gpus("test_two_processes_stuck", "nothing to stall"))
        return;
    ck_assert_int_eq(setenv("PIPETTE_EMU_NCCL_STALL", "4096", 1), 0);
    fake_start(2);
    const unsigned char links[] = {0, 1, 0, 0};
    const int process_of[] = {0, 1};
    proc p[2];
    pthread_t th[2];
    for (int q = 0; q < 2; q++) {
        p[q] = (proc){.me = q, .dev = q, .links = links,
                      .process_of = process_of};
        p[q].mine = gpu_alloc(q, LOST);
        p[q].got = gpu_alloc(q, LOST);
        ck_assert_int_eq(pthread_create(&th[q], NULL, lose_across, &p[q]),
                         0);
    }
    double t0 = now_ms();
    for (int q = 0; q < 2; q++)
        pthread_join(th[q], NULL);
    ck_assert_msg(now_ms() - t0 < 5000, "waited %.0f ms", now_ms() - t0);
    ck_assert_msg(p[0].st == PP_OK, "%s", p[0].err.msg);
    ck_assert_int_eq(p[1].st, PP_ERR_RUNTIME);
    ck_assert_str_eq(p[1].err.msg,
                     "nccl: no message from rank 0 after 300 ms on cuda:1: "
                     "the receive began on the GPU and NCCL delivered "
                     "nothing (NCCL_DEBUG=WARN may say why; transport = "
                     "peer does without NCCL)");
    net->abort(p[0].t);
    for (int q = 0; q < 2; q++) {
        net->destroy(p[q].t);
        gpu->rank_close(&p[q].dr);
        gpu->release(q, p[q].mine);
        gpu->release(q, p[q].got);
    }
    unsetenv("PIPETTE_EMU_NCCL_STALL");
}
END_TEST

START_TEST(test_self_async_error)
{
    self f;
    void *src, *dst;
    lose_one(&f, "PIPETTE_EMU_NCCL_FAIL", TIMEOUT_MS, &src, &dst);
    pp_error err;
    pp_error_clear(&err);
    double t0 = now_ms();
    ck_assert_msg(gpu->sync(&f.dr, &err) == PP_OK, "%s", err.msg);
    ck_assert_msg(now_ms() - t0 < TIMEOUT_MS / 2, "waited %.0f ms",
                  now_ms() - t0);
    ck_assert_int_eq(net->check(f.t, &err), PP_ERR_DEVICE);
    ck_assert_str_eq(err.msg, "nccl: link 0 -> 0 failed on cuda:0: "
                              "unhandled system error (run with "
                              "NCCL_DEBUG=INFO for details)");
    lost_close(&f, "PIPETTE_EMU_NCCL_FAIL", src, dst);
}
END_TEST
#endif

static Suite *nccl_cuda_suite(void)
{
    Suite *s = suite_create("nccl_cuda");
    TCase *tc = tcase_create("gpu");
    tcase_add_test(tc, test_self_roundtrip);
    tcase_add_test(tc, test_self_in_order);
    tcase_add_test(tc, test_self_out_of_order);
    tcase_add_test(tc, test_self_size_mismatch);
    tcase_add_test(tc, test_self_timeout);
    tcase_add_test(tc, test_two_gpus_exchange);
    tcase_add_test(tc, test_job_of_one_process);
    tcase_add_test(tc, test_two_processes);
    tcase_add_test(tc, test_two_gpus_sum);
    tcase_add_test(tc, test_two_processes_one_gpu);
    /* Last, the tests that abort: an aborted communicator is the one
     * thing a test leaves behind that the next might trip on. */
    tcase_add_test(tc, test_self_abort_wakes_receive);
    tcase_add_test(tc, test_two_gpus_unreceived_send);
#ifdef PP_CUDA_EMULATOR
    tcase_add_test(tc, test_self_stuck_receive);
    tcase_add_test(tc, test_self_timeout_names_stuck_receive);
    tcase_add_test(tc, test_self_async_error);
    tcase_add_test(tc, test_stuck_sum);
    tcase_add_test(tc, test_two_processes_stuck);
#endif
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    pp_error err;
    pp_error_clear(&err);
    if (load(PP_KIND_DEVICE, "cuda", (const void **)&gpu, &err) ||
        load(PP_KIND_TRANSPORT, "nccl", (const void **)&net, &err)) {
        fprintf(stderr, "test_nccl_cuda: %s\n", err.msg);
        return EXIT_FAILURE;
    }
    return pp_test_gpu_main("test_nccl_cuda", gpu, nccl_cuda_suite);
}
