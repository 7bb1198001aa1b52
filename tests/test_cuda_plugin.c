/* tests/test_cuda_plugin.c - the cuda plugin as a machine without a GPU
 * sees it: it loads through the registry, its descriptor is accepted, it
 * reports the library versions it was built with, and it answers "no GPU"
 * with a reason instead of failing.
 *
 * It never skips, so these checks cannot hide behind test_device_cuda's
 * SKIP. On a GPU machine the no-GPU branches give way to simple sanity
 * checks; the kernels themselves are tested in test_device_cuda.c.
 *
 * Check forks every test (the default) and the parent never calls CUDA, so
 * each child initialises CUDA on its own, which is safe.
 */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#ifdef HAVE_CUDNN
#include <cudnn_version.h>
#endif
#ifdef HAVE_NCCL
#include <nccl.h>
#endif

#include <pipette/pipette.h>

#include "registry.h"

/* The plugin, found the way `pipette` finds it. Its descriptor outlives
 * the registry: plugins are never unloaded. */
static const pp_plugin_desc *load_cuda(char *path, size_t size)
{
    pp_error err;
    pp_error_clear(&err);
    pp_registry *reg;
    ck_assert_msg(pp_registry_create(NULL, &reg, &err) == PP_OK, "%s",
                  err.msg);
    const pp_plugin *plugin;
    ck_assert_msg(pp_registry_find(reg, PP_KIND_DEVICE, "cuda", &plugin,
                                   &err) == PP_OK, "%s", err.msg);
    const pp_plugin_desc *desc = plugin->desc;
    if (path)
        snprintf(path, size, "%s", plugin->path);
    pp_registry_free(reg);
    return desc;
}

START_TEST(test_descriptor)
{
    char path[4096];
    const pp_plugin_desc *desc = load_cuda(path, sizeof path);
    pp_error err;
    pp_error_clear(&err);
    ck_assert_msg(pp_plugin_check(desc, path, PP_KIND_DEVICE, NULL, &err) ==
                  PP_OK, "%s", err.msg);
    ck_assert_str_eq(desc->name, "cuda");
    ck_assert_uint_eq(desc->kind, PP_KIND_DEVICE);
    ck_assert_ptr_nonnull(desc->description);
    ck_assert_uint_gt(strlen(desc->description), 0);
    ck_assert_ptr_null(strchr(desc->description, '\n'));
    ck_assert_ptr_null(desc->keys);
    /* pp_plugin_check has checked every entry the table requires. */
    ck_assert_uint_eq(((const pp_device_ops *)desc->ops)->memory,
                      PP_MEMORY_CUDA);
}
END_TEST

/* The line "name: ..." of a versions() text, or NULL. */
static const char *version_line(const char *text, const char *name)
{
    size_t len = strlen(name);
    for (const char *line = text; line && *line;) {
        if (strncmp(line, name, len) == 0 && strncmp(line + len, ": ", 2) == 0)
            return line + len + 2;
        line = strchr(line, '\n');
        line = line ? line + 1 : NULL;
    }
    return NULL;
}

START_TEST(test_versions)
{
    const pp_device_ops *ops = load_cuda(NULL, 0)->ops;
    char text[1024];
    ops->versions(text, sizeof text);
    ck_assert_uint_gt(strlen(text), 0);
    ck_assert_msg(text[strlen(text) - 1] == '\n', "unterminated: %s", text);

    int major = -1, minor = -1, patch = -1;
    const char *v = version_line(text, "CUDA runtime");
    ck_assert_msg(v && sscanf(v, "%d.%d", &major, &minor) == 2, "%s", text);
    ck_assert_int_ge(major, 12);
    v = version_line(text, "CUDA driver");
    ck_assert_msg(v && (strncmp(v, "none\n", 5) == 0 ||
                        sscanf(v, "%d.%d", &major, &minor) == 2),
                  "%s", text);
#ifdef HAVE_CUBLAS
    v = version_line(text, "cuBLAS");
    ck_assert_msg(v && sscanf(v, "%d.%d.%d", &major, &minor, &patch) == 3,
                  "%s", text);
#endif
#ifdef HAVE_CUDNN
    /* The library loaded has the header's major version (its ABI), and
     * cudnnGetVersion() decodes to a version, not to a raw number. Minor
     * and patch may differ: the GPU machines load PyTorch's wheels. */
    v = version_line(text, "cuDNN");
    ck_assert_msg(v && sscanf(v, "%d.%d.%d", &major, &minor, &patch) == 3,
                  "%s", text);
    ck_assert_int_eq(major, CUDNN_MAJOR);
    ck_assert_msg(minor >= 0 && minor < 100 && patch >= 0 && patch < 100,
                  "%s", text);
#else
    ck_assert_ptr_null(version_line(text, "cuDNN"));
#endif
#ifdef HAVE_NCCL
    v = version_line(text, "NCCL");
    ck_assert_msg(v && sscanf(v, "%d.%d.%d", &major, &minor, &patch) == 3,
                  "%s", text);
    ck_assert_int_eq(major, NCCL_MAJOR);
    ck_assert_msg(minor >= 0 && minor < 100 && patch >= 0 && patch < 100,
                  "%s", text);
#else
    ck_assert_ptr_null(version_line(text, "NCCL"));
#endif

    /* A short buffer is truncated, never overrun. */
    char tiny[8];
    memset(tiny, 'x', sizeof tiny);
    ops->versions(tiny, 5);
    ck_assert_uint_eq(strlen(tiny), 4);
    ck_assert_int_eq(tiny[5], 'x');
}
END_TEST

START_TEST(test_count)
{
    const pp_device_ops *ops = load_cuda(NULL, 0)->ops;
    pp_error err;
    pp_error_clear(&err);
    int n = -1;
    char why[512] = "untouched";
    ck_assert_msg(ops->count(&n, why, sizeof why, &err) == PP_OK, "%s",
                  err.msg);
    ck_assert_int_ge(n, 0);
    if (n > 0) {
        ck_assert_str_eq(why, "");
        return;
    }
    /* No GPU: the reason names the call and CUDA's own error. */
    ck_assert_msg(strncmp(why, "cudaGetDeviceCount: ", 20) == 0, "%s", why);
    ck_assert_msg(strstr(why, "(cuda") != NULL, "no error name: %s", why);
    /* A NULL reason is allowed. */
    n = -1;
    ck_assert_int_eq(ops->count(&n, NULL, 0, &err), PP_OK);
    ck_assert_int_eq(n, 0);
}
END_TEST

/* Without a GPU every operation fails with a located CUDA message, and a
 * failure leaves no sticky state that makes the next call fail
 * differently. */
START_TEST(test_no_gpu_errors)
{
    const pp_device_ops *ops = load_cuda(NULL, 0)->ops;
    pp_error err;
    pp_error_clear(&err);
    int n;
    ops->count(&n, NULL, 0, &err);
    if (n > 0)
        return; /* test_device_cuda.c covers a real GPU */

    pp_device_info info;
    ck_assert_int_eq(ops->info(0, &info, &err), PP_ERR_DEVICE);
    ck_assert_msg(strncmp(err.msg, "cuda device 0: cudaSetDevice", 28) == 0,
                  "%s", err.msg);
    ck_assert_msg(strstr(err.msg, "cuda.c:") != NULL, "unlocated: %s",
                  err.msg);
    void *p = &info;
    ck_assert_int_eq(ops->alloc(0, 1024, &p, &err), PP_ERR_DEVICE);
    ck_assert_ptr_null(p);
    float x[4] = {1, 2, 3, 4};
    ck_assert_int_eq(ops->copy(0, x, x, sizeof x, PP_COPY_DEVICE_TO_HOST,
                               &err), PP_ERR_DEVICE);
    ck_assert_float_eq(x[0], 1.0f); /* nothing ran on the host's memory */
    ops->release(0, NULL);
    /* A rank cannot open either, and leaves nothing behind. */
    pp_device_rank r;
    ck_assert_int_eq(ops->use(0, &err), PP_ERR_DEVICE);
    ck_assert_int_eq(ops->rank_open(0, &r, &err), PP_ERR_DEVICE);
    ck_assert_ptr_null(r.stream);
    ck_assert_ptr_null(r.blas);
}
END_TEST

START_TEST(test_bad_copy_kind)
{
    const pp_device_ops *ops = load_cuda(NULL, 0)->ops;
    pp_error err;
    pp_error_clear(&err);
    float x = 0.0f;
    ck_assert_int_eq(ops->copy(0, &x, &x, sizeof x, (pp_copy_kind)42, &err),
                     PP_ERR_RUNTIME);
    ck_assert_msg(strstr(err.msg, "copy kind 42") != NULL, "%s", err.msg);
}
END_TEST

static Suite *cuda_plugin_suite(void)
{
    Suite *s = suite_create("cuda_plugin");
    TCase *tc = tcase_create("no_gpu_needed");
    tcase_add_test(tc, test_descriptor);
    tcase_add_test(tc, test_versions);
    tcase_add_test(tc, test_count);
    tcase_add_test(tc, test_no_gpu_errors);
    tcase_add_test(tc, test_bad_copy_kind);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(cuda_plugin_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
