/* tests/test_nccl_cuda.c - the nccl transport moving real device memory:
 * a rank linked to itself (a 1-rank communicator, which any GPU has) and,
 * where two GPUs answer, two ranks sending to each other at once.
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

START_TEST(test_two_gpus_exchange)
{
    int ndev = 0;
    pp_error counted;
    ck_assert_int_eq(gpu->count(&ndev, NULL, 0, &counted), PP_OK);
    if (ndev < 2) {
        printf("test_two_gpus_exchange: one GPU, nothing to exchange\n");
        return;
    }
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
    int ndev = 0;
    pp_error counted;
    ck_assert_int_eq(gpu->count(&ndev, NULL, 0, &counted), PP_OK);
    if (ndev < 2) {
        printf("test_two_gpus_unreceived_send: one GPU, no link to leave "
               "a send on\n");
        return;
    }
    unreceived_send(0);
    unreceived_send(1);
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
    /* Last, the tests that abort: an aborted communicator is the one
     * thing a test leaves behind that the next might trip on. */
    tcase_add_test(tc, test_self_abort_wakes_receive);
    tcase_add_test(tc, test_two_gpus_unreceived_send);
#ifdef PP_CUDA_EMULATOR
    tcase_add_test(tc, test_self_stuck_receive);
    tcase_add_test(tc, test_self_timeout_names_stuck_receive);
    tcase_add_test(tc, test_self_async_error);
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
