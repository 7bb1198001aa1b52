/* tests/test_device_cuda.c - the cuda device's kernels and copies against
 * the cpu device, on random data, on every GPU that answers.
 *
 * Without a GPU it exits 77 (automake's SKIP) and says why, unless
 * PIPETTE_REQUIRE_GPU=1, when a missing GPU is a failure: on a GPU machine
 * a broken driver must not pass as a skip. What needs no GPU is tested in
 * test_cuda_plugin.c, which never skips.
 *
 * main() asks CUDA for the device count before the suite runs, so CUDA is
 * initialised in this process; a forked child would inherit a CUDA context
 * it cannot use. Hence Check runs the tests in-process (CK_NOFORK): a
 * failed assertion still ends only its own test.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include <pipette/pipette.h>

#include "registry.h"
#include "gpu_skip.h"

/* Empty, a single element, and a prime that leaves a ragged last block
 * and, at 256 threads and at most 4096 blocks, makes the grid-stride loop
 * go round more than once. */
static const size_t sizes[] = {0, 1, 1000003};
#define NSIZES (sizeof sizes / sizeof *sizes)

static pp_status load_cuda(const pp_device_ops **ops, pp_error *err)
{
    pp_registry *reg;
    const pp_plugin *plugin;
    if (pp_registry_create(NULL, &reg, err))
        return err->code;
    pp_status st = pp_registry_find(reg, PP_KIND_DEVICE, "cuda", &plugin, err);
    if (!st)
        *ops = plugin->desc->ops; /* outlives reg: plugins stay loaded */
    pp_registry_free(reg);
    return st;
}

/* Device count, asserted inside a test. */
static const pp_device_ops *cuda_ops(int *ndev)
{
    pp_error err;
    pp_error_clear(&err);
    const pp_device_ops *ops = NULL;
    ck_assert_msg(load_cuda(&ops, &err) == PP_OK, "%s", err.msg);
    ck_assert_int_eq(ops->count(ndev, NULL, 0, &err), PP_OK);
    ck_assert_int_gt(*ndev, 0);
    return ops;
}

/* Uniform in [-1, 1): xorshift32, seeded per test so failures replay. */
static void random_floats(float *x, size_t n, uint32_t seed)
{
    uint32_t s = seed ? seed : 1;
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        x[i] = (float)(s >> 8) / (float)(1u << 23) - 1.0f;
    }
}

static float *host_floats(size_t n)
{
    float *x = malloc((n ? n : 1) * sizeof *x);
    ck_assert_ptr_nonnull(x);
    return x;
}

static float *gpu_floats(const pp_device_ops *gpu, int dev, size_t n)
{
    pp_error err;
    pp_error_clear(&err);
    void *p = NULL;
    ck_assert_msg(gpu->alloc(dev, n * sizeof(float), &p, &err) == PP_OK,
                  "%s", err.msg);
    return p;
}

static void to_gpu(const pp_device_ops *gpu, int dev, float *d,
                   const float *h, size_t n)
{
    pp_error err;
    pp_error_clear(&err);
    ck_assert_msg(gpu->copy(dev, d, h, n * sizeof(float),
                            PP_COPY_HOST_TO_DEVICE, &err) == PP_OK,
                  "%s", err.msg);
}

static void from_gpu(const pp_device_ops *gpu, int dev, float *h,
                     const float *d, size_t n)
{
    pp_error err;
    pp_error_clear(&err);
    ck_assert_msg(gpu->copy(dev, h, d, n * sizeof(float),
                            PP_COPY_DEVICE_TO_HOST, &err) == PP_OK,
                  "%s", err.msg);
}

/* A rank's stream-ordered y += x: one rounded add, the CPU's bits. */
START_TEST(test_add_async)
{
    int ndev;
    const pp_device_ops *gpu = cuda_ops(&ndev), *cpu = pp_device_cpu();
    size_t n = sizes[_i];
    pp_error err;
    pp_error_clear(&err);
    for (int dev = 0; dev < ndev; dev++) {
        float *x = host_floats(n), *want = host_floats(n);
        float *got = host_floats(n);
        float *dx = gpu_floats(gpu, dev, n), *dy = gpu_floats(gpu, dev, n);
        random_floats(x, n, 55);
        random_floats(want, n, 66);
        to_gpu(gpu, dev, dx, x, n);
        to_gpu(gpu, dev, dy, want, n);
        pp_device_rank r, c;
        ck_assert_int_eq(gpu->use(dev, &err), PP_OK);
        ck_assert_int_eq(gpu->rank_open(dev, &r, &err), PP_OK);
        ck_assert_int_eq(cpu->rank_open(0, &c, &err), PP_OK);
        ck_assert_int_eq(cpu->add_async(&c, want, x, n, &err), PP_OK);
        ck_assert_msg(gpu->add_async(&r, dy, dx, n, &err) == PP_OK, "%s",
                      err.msg);
        ck_assert_int_eq(gpu->sync(&r, &err), PP_OK);
        from_gpu(gpu, dev, got, dy, n);
        ck_assert_int_eq(memcmp(got, want, n * sizeof(float)), 0);
        gpu->rank_close(&r);
        gpu->release(dev, dx);
        gpu->release(dev, dy);
        free(x);
        free(want);
        free(got);
    }
}
END_TEST

/* host -> a -> b -> host must give back the bytes unchanged. */
START_TEST(test_copy)
{
    int ndev;
    const pp_device_ops *gpu = cuda_ops(&ndev);
    size_t n = sizes[_i];
    pp_error err;
    pp_error_clear(&err);
    for (int dev = 0; dev < ndev; dev++) {
        float *src = host_floats(n), *back = host_floats(n);
        float *a = gpu_floats(gpu, dev, n), *b = gpu_floats(gpu, dev, n);
        random_floats(src, n, 55);
        if (n)
            memset(back, 0, n * sizeof(float));
        to_gpu(gpu, dev, a, src, n);
        ck_assert_msg(gpu->copy(dev, b, a, n * sizeof(float),
                                PP_COPY_DEVICE_TO_DEVICE, &err) == PP_OK,
                      "%s", err.msg);
        from_gpu(gpu, dev, back, b, n);
        ck_assert_int_eq(memcmp(back, src, n * sizeof(float)), 0);
        gpu->release(dev, a);
        gpu->release(dev, b);
        free(src);
        free(back);
    }
}
END_TEST

/* An allocation no GPU can satisfy is PP_ERR_NOMEM with the size, and it
 * leaves no stale error behind for the next kernel launch to report. */
START_TEST(test_alloc_too_much)
{
    int ndev;
    const pp_device_ops *gpu = cuda_ops(&ndev);
    pp_error err;
    pp_error_clear(&err);
    const size_t huge = (size_t)1 << 60;
    void *p = &err;
    ck_assert_int_eq(gpu->alloc(0, huge, &p, &err), PP_ERR_NOMEM);
    ck_assert_ptr_null(p);
    char bytes[64];
    snprintf(bytes, sizeof bytes, "%zu bytes", huge);
    ck_assert_msg(strstr(err.msg, bytes) != NULL, "%s", err.msg);

    /* The device still works after the failure. */
    float *d = gpu_floats(gpu, 0, 1000), *h = host_floats(1000);
    to_gpu(gpu, 0, d, h, 1000);
    gpu->release(0, d);
    free(h);
}
END_TEST

START_TEST(test_info)
{
    int ndev;
    const pp_device_ops *gpu = cuda_ops(&ndev);
    pp_error err;
    pp_error_clear(&err);
    for (int dev = 0; dev < ndev; dev++) {
        pp_device_info info;
        ck_assert_msg(gpu->info(dev, &info, &err) == PP_OK, "%s", err.msg);
        ck_assert_int_eq(info.index, dev);
        ck_assert_uint_gt(strlen(info.name), 0);
        ck_assert_uint_gt(info.total_bytes, 0);
        ck_assert_uint_le(info.free_bytes, info.total_bytes);
        ck_assert_int_ge(info.cc_major, 5);
        ck_assert_int_ge(info.multiprocessors, 1);
    }
    pp_device_info info;
    ck_assert_int_eq(gpu->info(ndev, &info, &err), PP_ERR_DEVICE);
}
END_TEST

/* Two ranks' streams on one GPU, ordered by an event alone: rank b's
 * copy must see rank a's zeroing and then its page-locked upload, both
 * queued on a's stream, with no host sync in between. Then the events
 * time what ran between them. */
START_TEST(test_events_order_streams)
{
    int ndev;
    const pp_device_ops *gpu = cuda_ops(&ndev);
    pp_error err;
    pp_error_clear(&err);
    size_t n = (size_t)64 << 20; /* 256 MB: long enough to race */
    pp_device_rank a, b;
    ck_assert_msg(gpu->use(0, &err) == PP_OK, "%s", err.msg);
    ck_assert_msg(gpu->rank_open(0, &a, &err) == PP_OK, "%s", err.msg);
    ck_assert_msg(gpu->rank_open(0, &b, &err) == PP_OK, "%s", err.msg);
    float *pinned, *x = gpu_floats(gpu, 0, n), *y = gpu_floats(gpu, 0, n);
    ck_assert_msg(gpu->host_alloc(n * sizeof(float), (void **)&pinned,
                                  &err) == PP_OK, "%s", err.msg);
    for (size_t i = 0; i < n; i++)
        pinned[i] = (float)(i % 1000);
    void *start, *done;
    ck_assert_int_eq(gpu->event_create(&a, 1, &start, &err), PP_OK);
    ck_assert_int_eq(gpu->event_create(&a, 1, &done, &err), PP_OK);
    ck_assert_int_eq(gpu->event_record(&a, start, &err), PP_OK);
    ck_assert_int_eq(gpu->zero_async(&a, x, n * sizeof(float), &err), PP_OK);
    ck_assert_int_eq(gpu->copy_async(&a, x, pinned, n * sizeof(float),
                                     PP_COPY_HOST_TO_DEVICE, &err), PP_OK);
    ck_assert_int_eq(gpu->event_record(&a, done, &err), PP_OK);
    ck_assert_int_eq(gpu->event_wait(&b, done, &err), PP_OK);
    ck_assert_int_eq(gpu->copy_async(&b, y, x, n * sizeof(float),
                                     PP_COPY_DEVICE_TO_DEVICE, &err), PP_OK);
    ck_assert_int_eq(gpu->sync(&b, &err), PP_OK);
    ck_assert_int_eq(gpu->event_sync(done, &err), PP_OK);
    float *got = host_floats(n);
    from_gpu(gpu, 0, got, y, n);
    for (size_t i = 0; i < n; i += 4099)
        ck_assert_float_eq(got[i], (float)(i % 1000));
    double ms;
    ck_assert_int_eq(gpu->event_elapsed(start, done, &ms, &err), PP_OK);
    ck_assert_msg(ms > 0 && ms < 10000, "elapsed %g ms", ms);
    gpu->event_destroy(&a, start);
    gpu->event_destroy(&a, done);
    gpu->host_release(pinned);
    gpu->release(0, x);
    gpu->release(0, y);
    free(got);
    gpu->rank_close(&a);
    gpu->rank_close(&b);
}
END_TEST

/* The index of the first float where a and b differ, or n. */
static size_t first_difference(const float *a, const float *b, size_t n)
{
    size_t i = 0;
    while (i < n && memcmp(&a[i], &b[i], sizeof(float)) == 0)
        i++;
    return i;
}

/* A synchronous copy has landed when it returns, even for a rank's stream,
 * which is non-blocking and so never waits for the default stream that
 * cudaMemcpy uses. The two cases where cudaMemcpy itself may return
 * early: from pageable host memory (once the data is staged) and device
 * to device (at once). Large enough that the DMA outlasts the return. */
START_TEST(test_copy_then_stream)
{
    int ndev;
    const pp_device_ops *gpu = cuda_ops(&ndev);
    pp_error err;
    pp_error_clear(&err);
    size_t n = (size_t)64 << 20, bytes = n * sizeof(float);
    pp_device_rank r;
    ck_assert_msg(gpu->rank_open(0, &r, &err) == PP_OK, "%s", err.msg);
    float *src = host_floats(n), *back = host_floats(n);
    for (size_t i = 0; i < n; i++)
        src[i] = (float)(i % 1000 + 1);
    float *x = gpu_floats(gpu, 0, n), *y = gpu_floats(gpu, 0, n);
    float *z = gpu_floats(gpu, 0, n);

    ck_assert_int_eq(gpu->zero_async(&r, y, bytes, &err), PP_OK);
    ck_assert_int_eq(gpu->sync(&r, &err), PP_OK);
    to_gpu(gpu, 0, x, src, n); /* pageable host to device */
    ck_assert_int_eq(gpu->copy_async(&r, y, x, bytes,
                                     PP_COPY_DEVICE_TO_DEVICE, &err), PP_OK);
    ck_assert_int_eq(gpu->sync(&r, &err), PP_OK);
    from_gpu(gpu, 0, back, y, n);
    size_t at = first_difference(back, src, n);
    ck_assert_msg(at == n, "host to device: y[%zu] = %g, want %g", at,
                  (double)back[at], (double)src[at]);

    ck_assert_int_eq(gpu->zero_async(&r, x, bytes, &err), PP_OK);
    ck_assert_int_eq(gpu->zero_async(&r, z, bytes, &err), PP_OK);
    ck_assert_int_eq(gpu->sync(&r, &err), PP_OK);
    ck_assert_msg(gpu->copy(0, z, y, bytes, PP_COPY_DEVICE_TO_DEVICE,
                            &err) == PP_OK, "%s", err.msg);
    ck_assert_int_eq(gpu->copy_async(&r, x, z, bytes,
                                     PP_COPY_DEVICE_TO_DEVICE, &err), PP_OK);
    ck_assert_int_eq(gpu->sync(&r, &err), PP_OK);
    from_gpu(gpu, 0, back, x, n);
    at = first_difference(back, src, n);
    ck_assert_msg(at == n, "device to device: x[%zu] = %g, want %g", at,
                  (double)back[at], (double)src[at]);

    gpu->release(0, x);
    gpu->release(0, y);
    gpu->release(0, z);
    free(src);
    free(back);
    gpu->rank_close(&r);
}
END_TEST

/* What the peer transport does between two GPUs: rank b, on another
 * device, waits for rank a's event and copies a's buffer across, each
 * rank's work queued from "its" thread (the current device set by use).
 * b's event is made while device 0 is current, as a sender makes a
 * receiver's. Passes trivially with one GPU. */
START_TEST(test_events_across_devices)
{
    int ndev;
    const pp_device_ops *gpu = cuda_ops(&ndev);
    if (ndev < 2)
        return;
    pp_error err;
    pp_error_clear(&err);
    size_t n = (size_t)16 << 20, bytes = n * sizeof(float);
    pp_device_rank a, b;
    ck_assert_msg(gpu->rank_open(0, &a, &err) == PP_OK, "%s", err.msg);
    ck_assert_msg(gpu->rank_open(1, &b, &err) == PP_OK, "%s", err.msg);
    float *pinned, *x = gpu_floats(gpu, 0, n), *y = gpu_floats(gpu, 1, n);
    ck_assert_msg(gpu->host_alloc(bytes, (void **)&pinned, &err) == PP_OK,
                  "%s", err.msg);
    for (size_t i = 0; i < n; i++)
        pinned[i] = (float)(i % 1000 + 1);
    void *done, *released;
    ck_assert_int_eq(gpu->use(0, &err), PP_OK);
    ck_assert_int_eq(gpu->event_create(&a, 0, &done, &err), PP_OK);
    ck_assert_int_eq(gpu->event_create(&b, 0, &released, &err), PP_OK);
    ck_assert_int_eq(gpu->zero_async(&a, x, bytes, &err), PP_OK);
    ck_assert_int_eq(gpu->copy_async(&a, x, pinned, bytes,
                                     PP_COPY_HOST_TO_DEVICE, &err), PP_OK);
    ck_assert_int_eq(gpu->event_record(&a, done, &err), PP_OK);

    ck_assert_int_eq(gpu->use(1, &err), PP_OK);
    ck_assert_int_eq(gpu->event_wait(&b, done, &err), PP_OK);
    ck_assert_int_eq(gpu->copy_async(&b, y, x, bytes,
                                     PP_COPY_DEVICE_TO_DEVICE, &err), PP_OK);
    ck_assert_int_eq(gpu->event_record(&b, released, &err), PP_OK);
    ck_assert_int_eq(gpu->sync(&b, &err), PP_OK);

    float *got = host_floats(n);
    from_gpu(gpu, 1, got, y, n);
    size_t at = first_difference(got, pinned, n);
    ck_assert_msg(at == n, "y[%zu] = %g, want %g", at, (double)got[at],
                  (double)pinned[at]);
    ck_assert_int_eq(gpu->event_sync(released, &err), PP_OK);
    gpu->event_destroy(&a, done);
    gpu->event_destroy(&b, released);
    gpu->host_release(pinned);
    gpu->release(0, x);
    gpu->release(1, y);
    free(got);
    gpu->rank_close(&a);
    gpu->rank_close(&b);
}
END_TEST

/* Clipping's two halves against the CPU's: each part of the squared norm
 * (float sums in another order: within 1e-5 of the CPU's double ones),
 * twice with the same bits (a fixed order), and the clipped values, from
 * one set of parts, equal bit for bit. 300 parts: more than one block
 * each, some empty when n is small. */
START_TEST(test_clip_async)
{
    int ndev;
    const pp_device_ops *gpu = cuda_ops(&ndev), *cpu = pp_device_cpu();
    size_t n = sizes[_i], parts = 300;
    pp_error err;
    pp_error_clear(&err);
    float *x = host_floats(n), *want = host_floats(parts);
    float *got = host_floats(parts), *again = host_floats(parts);
    float *clipped = host_floats(n);
    random_floats(x, n, 77);
    pp_device_rank r, c;
    ck_assert_int_eq(cpu->rank_open(0, &c, &err), PP_OK);
    memset(want, 0, parts * sizeof(float));
    ck_assert_int_eq(cpu->sumsq_async(&c, want, parts, x, n, &err), PP_OK);
    float *dx = gpu_floats(gpu, 0, n), *dp = gpu_floats(gpu, 0, parts);
    to_gpu(gpu, 0, dx, x, n);
    ck_assert_int_eq(gpu->use(0, &err), PP_OK);
    ck_assert_int_eq(gpu->rank_open(0, &r, &err), PP_OK);
    for (int k = 0; k < 2; k++) {
        ck_assert_int_eq(gpu->zero_async(&r, dp, parts * sizeof(float), &err),
                         PP_OK);
        ck_assert_msg(gpu->sumsq_async(&r, dp, parts, dx, n, &err) == PP_OK,
                      "%s", err.msg);
        ck_assert_int_eq(gpu->sync(&r, &err), PP_OK);
        from_gpu(gpu, 0, k ? again : got, dp, parts);
    }
    ck_assert_int_eq(memcmp(got, again, parts * sizeof(float)), 0);
    double norm = 0;
    for (size_t i = 0; i < parts; i++) {
        ck_assert_msg(fabsf(got[i] - want[i]) <= 1e-5f * want[i],
                      "part %zu: %.9g, the CPU's %.9g", i, got[i], want[i]);
        norm += got[i];
    }
    norm = sqrt(norm);
    /* A bound of half the norm: every value halves, near enough. */
    to_gpu(gpu, 0, dp, got, parts);
    ck_assert_int_eq(gpu->clip_async(&r, dx, n, dp, parts,
                                     (float)(norm / 2), &err), PP_OK);
    ck_assert_int_eq(cpu->clip_async(&c, x, n, got, parts, (float)(norm / 2),
                                     &err), PP_OK);
    ck_assert_int_eq(gpu->sync(&r, &err), PP_OK);
    from_gpu(gpu, 0, clipped, dx, n);
    ck_assert_int_eq(memcmp(clipped, x, n * sizeof(float)), 0);
    gpu->rank_close(&r);
    gpu->release(0, dx);
    gpu->release(0, dp);
    free(x);
    free(want);
    free(got);
    free(again);
    free(clipped);
}
END_TEST

static Suite *device_cuda_suite(void)
{
    Suite *s = suite_create("device_cuda");
    TCase *tc = tcase_create("gpu");
    tcase_add_test(tc, test_info);
    tcase_add_loop_test(tc, test_add_async, 0, NSIZES);
    tcase_add_loop_test(tc, test_clip_async, 0, NSIZES);
    tcase_add_loop_test(tc, test_copy, 0, NSIZES);
    tcase_add_test(tc, test_alloc_too_much);
    tcase_add_test(tc, test_events_order_streams);
    tcase_add_test(tc, test_copy_then_stream);
    tcase_add_test(tc, test_events_across_devices);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    pp_error err;
    pp_error_clear(&err);
    const pp_device_ops *gpu = NULL;
    if (load_cuda(&gpu, &err)) {
        fprintf(stderr, "test_device_cuda: %s\n", err.msg);
        return EXIT_FAILURE;
    }
    return pp_test_gpu_main("test_device_cuda", gpu, device_cuda_suite);
}
