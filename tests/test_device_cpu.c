/* tests/test_device_cpu.c - the built-in cpu device: results of add and
 * copy on empty, single and odd-sized buffers, allocation alignment, info
 * sanity, and the errors for a bad index.
 *
 * The cpu device is the reference the cuda kernels are compared with, so
 * these tests check it against values computed by hand, not against itself.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <check.h>

#include <pipette/pipette.h>

/* Under AddressSanitizer (configure --enable-sanitizers), an allocation
 * too large to serve returns NULL, as the C library's does, instead of
 * stopping the program: test_alloc_too_much asks for 1 EiB on
 * purpose. ASan reads this before main; ASAN_OPTIONS
 * can still override it. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "allocator_may_return_null=1";
}

/* Empty, a single element, and a prime far from any power of two. */
static const size_t sizes[] = {0, 1, 1000003};
#define NSIZES (sizeof sizes / sizeof *sizes)

/* A value that depends on i and is exact in float, so expected results
 * can be computed in float without rounding surprises. */
static float pattern(size_t i)
{
    return (float)((long)(i % 2001) - 1000) * 0.25f;
}

static float *alloc_floats(const pp_device_ops *cpu, size_t n)
{
    pp_error err;
    pp_error_clear(&err);
    void *p = NULL;
    ck_assert_msg(cpu->alloc(0, n * sizeof(float), &p, &err) == PP_OK, "%s",
                  err.msg);
    ck_assert_ptr_nonnull(p);
    return p;
}

START_TEST(test_count)
{
    const pp_device_ops *cpu = pp_device_cpu();
    pp_error err;
    pp_error_clear(&err);
    int n = -1;
    char why[64] = "untouched";
    ck_assert_int_eq(cpu->count(&n, why, sizeof why, &err), PP_OK);
    ck_assert_int_eq(n, 1);
    ck_assert_str_eq(why, "");
}
END_TEST

START_TEST(test_info)
{
    const pp_device_ops *cpu = pp_device_cpu();
    pp_error err;
    pp_error_clear(&err);
    pp_device_info info;
    ck_assert_msg(cpu->info(0, &info, &err) == PP_OK, "%s", err.msg);
    ck_assert_int_eq(info.index, 0);
    ck_assert_uint_gt(strlen(info.name), 0);
    ck_assert_uint_lt(strlen(info.name), sizeof info.name);
    ck_assert_uint_gt(info.total_bytes, 0);
    ck_assert_uint_le(info.free_bytes, info.total_bytes);
    ck_assert_int_ge(info.multiprocessors, 1);
    ck_assert_int_eq(info.cc_major, 0);
    ck_assert_int_eq(info.cc_minor, 0);

    char versions[256];
    cpu->versions(versions, sizeof versions);
    ck_assert_str_eq(versions, "cpu: built in\n");
}
END_TEST

START_TEST(test_bad_index)
{
    const pp_device_ops *cpu = pp_device_cpu();
    pp_error err;
    pp_error_clear(&err);
    pp_device_info info;
    ck_assert_int_eq(cpu->info(1, &info, &err), PP_ERR_DEVICE);
    ck_assert_ptr_nonnull(strstr(err.msg, "only index 0"));
    void *p = &info;
    ck_assert_int_eq(cpu->alloc(-1, 16, &p, &err), PP_ERR_DEVICE);
    ck_assert_ptr_null(p);
    float x = 1.0f;
    pp_device_rank r = {2, NULL, NULL, NULL};
    ck_assert_int_eq(cpu->add_async(&r, &x, &x, 1, &err), PP_ERR_DEVICE);
    ck_assert_float_eq(x, 1.0f);
}
END_TEST

START_TEST(test_alloc_alignment)
{
    const pp_device_ops *cpu = pp_device_cpu();
    pp_error err;
    pp_error_clear(&err);
    /* Odd sizes would misalign a following block if the allocator merely
     * rounded; each block must be aligned on its own. */
    static const size_t bytes[] = {0, 1, 3, 63, 65, 4097, 1000003};
    void *p[sizeof bytes / sizeof *bytes];
    for (size_t i = 0; i < sizeof bytes / sizeof *bytes; i++) {
        ck_assert_msg(cpu->alloc(0, bytes[i], &p[i], &err) == PP_OK, "%s",
                      err.msg);
        ck_assert_ptr_nonnull(p[i]);
        ck_assert_uint_eq((uintptr_t)p[i] % 64, 0);
        if (bytes[i])
            memset(p[i], 0xab, bytes[i]); /* the whole block is writable */
    }
    for (size_t i = 0; i < sizeof bytes / sizeof *bytes; i++)
        cpu->release(0, p[i]);
}
END_TEST

START_TEST(test_alloc_too_much)
{
    const pp_device_ops *cpu = pp_device_cpu();
    pp_error err;
    pp_error_clear(&err);
    /* 1 EiB: beyond any user address space, so no overcommit setting
     * lets it through. */
    const size_t huge = (size_t)1 << 60;
    void *p = &err;
    ck_assert_int_eq(cpu->alloc(0, huge, &p, &err), PP_ERR_NOMEM);
    ck_assert_ptr_null(p);
    char bytes[64];
    snprintf(bytes, sizeof bytes, "%zu bytes", huge);
    ck_assert_msg(strstr(err.msg, bytes) != NULL, "%s", err.msg);
}
END_TEST

START_TEST(test_add)
{
    const pp_device_ops *cpu = pp_device_cpu();
    size_t n = sizes[_i];
    pp_error err;
    pp_error_clear(&err);
    pp_device_rank r;
    ck_assert_int_eq(cpu->rank_open(0, &r, &err), PP_OK);
    float *x = alloc_floats(cpu, n + 1);
    float *y = alloc_floats(cpu, n + 1);
    for (size_t i = 0; i < n; i++) {
        x[i] = pattern(i);
        y[i] = pattern(i + 7);
    }
    /* One guard element past the end catches an off-by-one write. */
    y[n] = 7.0f;
    ck_assert_msg(cpu->add_async(&r, y, x, n, &err) == PP_OK, "%s", err.msg);
    /* One assertion per array: Check writes a file for each. */
    size_t bad = n;
    for (size_t i = 0; i < n && bad == n; i++)
        if (y[i] != pattern(i + 7) + pattern(i) || x[i] != pattern(i))
            bad = i; /* x is read only */
    ck_assert_msg(bad == n, "element %zu: y %g, x %g", bad, (double)y[bad],
                  (double)x[bad]);
    ck_assert_float_eq(y[n], 7.0f);
    cpu->release(0, x);
    cpu->release(0, y);
    cpu->rank_close(&r);
}
END_TEST

/* A rank on the cpu: no stream, and the "queued" work is done at once. */
START_TEST(test_rank_ops)
{
    const pp_device_ops *cpu = pp_device_cpu();
    pp_error err;
    pp_error_clear(&err);
    pp_device_rank r;
    ck_assert_int_eq(cpu->use(0, &err), PP_OK);
    ck_assert_int_eq(cpu->rank_open(0, &r, &err), PP_OK);
    ck_assert_ptr_null(r.stream);
    float a[5] = {1, 2, 3, 4, 5}, b[5];
    ck_assert_int_eq(cpu->copy_async(&r, b, a, sizeof a,
                                     PP_COPY_HOST_TO_DEVICE, &err), PP_OK);
    ck_assert(memcmp(a, b, sizeof a) == 0);
    ck_assert_int_eq(cpu->zero_async(&r, b, 3 * sizeof *b, &err), PP_OK);
    ck_assert(b[0] == 0 && b[2] == 0 && b[3] == 4);
    ck_assert_int_eq(cpu->add_async(&r, b, a, 5, &err), PP_OK);
    ck_assert(b[0] == 1 && b[2] == 3 && b[3] == 8 && b[4] == 10);
    ck_assert_int_eq(cpu->sync(&r, &err), PP_OK);
    cpu->rank_close(&r);
    ck_assert_int_eq(cpu->rank_open(1, &r, &err), PP_ERR_DEVICE);
}
END_TEST

START_TEST(test_copy)
{
    static const pp_copy_kind kinds[] = {
        PP_COPY_HOST_TO_DEVICE, PP_COPY_DEVICE_TO_HOST,
        PP_COPY_DEVICE_TO_DEVICE};
    const pp_device_ops *cpu = pp_device_cpu();
    size_t n = sizes[_i];
    pp_error err;
    pp_error_clear(&err);
    float *src = alloc_floats(cpu, n);
    float *dst = alloc_floats(cpu, n + 1);
    for (size_t i = 0; i < n; i++)
        src[i] = pattern(i);
    for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++) {
        memset(dst, 0, (n + 1) * sizeof(float));
        ck_assert_msg(cpu->copy(0, dst, src, n * sizeof(float), kinds[k],
                                &err) == PP_OK, "%s", err.msg);
        ck_assert_int_eq(memcmp(dst, src, n * sizeof(float)), 0);
        ck_assert_float_eq(dst[n], 0.0f);
    }
    ck_assert_int_eq(cpu->copy(0, dst, src, n, (pp_copy_kind)42, &err),
                     PP_ERR_RUNTIME);
    ck_assert_ptr_nonnull(strstr(err.msg, "copy kind 42"));
    cpu->release(0, src);
    cpu->release(0, dst);
}
END_TEST

/* cpu events are the times they were recorded at: elapsed is the host
 * time between two records, which is what traces and busy times read. */
START_TEST(test_events)
{
    const pp_device_ops *cpu = pp_device_cpu();
    pp_device_rank r;
    pp_error err;
    ck_assert_int_eq(cpu->rank_open(0, &r, &err), PP_OK);
    void *a, *b;
    ck_assert_int_eq(cpu->event_create(&r, 1, &a, &err), PP_OK);
    ck_assert_int_eq(cpu->event_create(&r, 0, &b, &err), PP_OK);
    ck_assert_int_eq(cpu->event_record(&r, a, &err), PP_OK);
    nanosleep(&(struct timespec){0, 20000000}, NULL);
    ck_assert_int_eq(cpu->event_record(&r, b, &err), PP_OK);
    ck_assert_int_eq(cpu->event_wait(&r, a, &err), PP_OK);
    ck_assert_int_eq(cpu->event_sync(b, &err), PP_OK);
    double ms;
    ck_assert_int_eq(cpu->event_elapsed(a, b, &ms, &err), PP_OK);
    ck_assert_msg(ms >= 19.0 && ms < 2000.0, "elapsed %g ms", ms);
    ck_assert_int_eq(cpu->event_elapsed(b, a, &ms, &err), PP_OK);
    ck_assert(ms < 0);
    cpu->event_destroy(&r, a);
    cpu->event_destroy(&r, b);
    void *host;
    ck_assert_int_eq(cpu->host_alloc(100, &host, &err), PP_OK);
    ck_assert_uint_eq((uintptr_t)host % 64, 0);
    memset(host, 1, 100);
    cpu->host_release(host);
    cpu->rank_close(&r);
}
END_TEST

static Suite *device_cpu_suite(void)
{
    Suite *s = suite_create("device_cpu");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_count);
    tcase_add_test(tc, test_rank_ops);
    tcase_add_test(tc, test_events);
    tcase_add_test(tc, test_info);
    tcase_add_test(tc, test_bad_index);
    tcase_add_test(tc, test_alloc_alignment);
    tcase_add_test(tc, test_alloc_too_much);
    tcase_add_loop_test(tc, test_add, 0, NSIZES);
    tcase_add_loop_test(tc, test_copy, 0, NSIZES);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(device_cpu_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
