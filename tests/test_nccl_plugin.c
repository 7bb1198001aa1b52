/* tests/test_nccl_plugin.c - the nccl transport as any CUDA+NCCL build sees
 * it, GPU or not: it loads through the registry as a transport with the
 * stream-ordered half only (with open_job and the sums), and open and
 * open_job refuse two linked ranks of a process on one GPU before they
 * touch CUDA (so the refusal reads the same on a machine without a
 * driver).
 *
 * It never skips, so a broken plugin cannot hide behind
 * test_nccl_cuda's SKIP. Check forks every test and the parent never calls
 * CUDA, so each child initialises CUDA on its own.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include <pipette/pipette.h>

#include "registry.h"

/* Found the way `pipette` finds it; the descriptor outlives the registry
 * (plugins are never unloaded). */
static const pp_plugin_desc *load(pp_plugin_kind kind, const char *name,
                                  char *path, size_t size)
{
    pp_error err;
    pp_error_clear(&err);
    pp_registry *reg;
    ck_assert_msg(pp_registry_create(NULL, &reg, &err) == PP_OK, "%s",
                  err.msg);
    const pp_plugin *plugin;
    ck_assert_msg(pp_registry_find(reg, kind, name, &plugin, &err) == PP_OK,
                  "%s", err.msg);
    const pp_plugin_desc *desc = plugin->desc;
    if (path)
        snprintf(path, size, "%s", plugin->path);
    pp_registry_free(reg);
    return desc;
}

static const pp_transport_ops *nccl_ops(void)
{
    return load(PP_KIND_TRANSPORT, "nccl", NULL, 0)->ops;
}

START_TEST(test_descriptor)
{
    char path[4096];
    const pp_plugin_desc *desc = load(PP_KIND_TRANSPORT, "nccl", path,
                                      sizeof path);
    pp_error err;
    pp_error_clear(&err);
    ck_assert_msg(pp_plugin_check(desc, path, PP_KIND_TRANSPORT, NULL,
                                  &err) == PP_OK, "%s", err.msg);
    ck_assert_str_eq(desc->name, "nccl");
    ck_assert_uint_eq(desc->kind, PP_KIND_TRANSPORT);
    ck_assert_uint_eq(desc->abi_major, PP_ABI_MAJOR);
    ck_assert_uint_eq(desc->abi_minor, PP_ABI_MINOR);
    ck_assert_ptr_nonnull(desc->description);
    ck_assert_uint_gt(strlen(desc->description), 0);
    ck_assert_ptr_null(strchr(desc->description, '\n'));
    ck_assert_ptr_null(desc->keys);

    /* The loader checks the halves are whole; this one has only the
     * stream-ordered half (device memory: the host half is another
     * transport's), and check. */
    const pp_transport_ops *ops = desc->ops;
    ck_assert_ptr_nonnull(ops->open);
    ck_assert_ptr_nonnull(ops->check);
    ck_assert_ptr_null(ops->create);
    /* Across processes, and the replicas' sums. */
    ck_assert_uint_eq(ops->reach, PP_REACH_THREADS | PP_REACH_PROCESSES);
    ck_assert_ptr_nonnull(ops->open_job);
    ck_assert_ptr_null(ops->create_job);
    ck_assert_ptr_nonnull(ops->group_open);
    ck_assert_ptr_nonnull(ops->sum_async);
}
END_TEST

#define MAX_RANKS 4

/* open() on ranks that exist only as device indices: enough for what it
 * checks before touching CUDA. */
static pp_status open_fake(int ranks, const int *index,
                           const unsigned char *links, void **t,
                           pp_error *err)
{
    pp_device_rank dr[MAX_RANKS];
    pp_transport_rank tr[MAX_RANKS];
    for (int r = 0; r < ranks; r++) {
        dr[r] = (pp_device_rank){.index = index[r]};
        tr[r] = (pp_transport_rank){NULL, &dr[r]};
    }
    return nccl_ops()->open(ranks, tr, links, t, err);
}

static void assert_refused(int ranks, const int *index,
                           const unsigned char *links, const char *want)
{
    pp_error err;
    pp_error_clear(&err);
    void *t = &err; /* must come back NULL */
    ck_assert_int_eq(open_fake(ranks, index, links, &t, &err),
                     PP_ERR_CONFIG);
    ck_assert_ptr_null(t);
    ck_assert_str_eq(err.msg, want);
}

START_TEST(test_same_gpu_refused)
{
    const int two_on_0[] = {0, 0};
    const unsigned char forward[] = {0, 1, 0, 0}, backward[] = {0, 0, 1, 0};
    const char *want = "nccl: ranks 0 and 1 share cuda:0, and NCCL refuses "
                       "two ranks of one communicator on one GPU: use "
                       "transport = auto or peer";
    assert_refused(2, two_on_0, forward, want);
    /* Either direction names the pair the same way. */
    assert_refused(2, two_on_0, backward, want);

    /* The shared GPU of a later pair, behind a self link and a good pair. */
    const int shared_1[] = {0, 1, 1};
    const unsigned char chain[] = {1, 1, 0,
                                   0, 0, 1,
                                   0, 0, 0};
    assert_refused(3, shared_1, chain,
                   "nccl: ranks 1 and 2 share cuda:1, and NCCL refuses two "
                   "ranks of one communicator on one GPU: use transport = "
                   "auto or peer");
}
END_TEST

/* Refused before NCCL or CUDA is asked anything, whatever the ranks. */
START_TEST(test_non_blocking_refused)
{
    const int index[] = {0, 1};
    const unsigned char links[] = {0, 1, 0, 0};
    ck_assert_int_eq(setenv("NCCL_COMM_BLOCKING", "0", 1), 0);
    assert_refused(2, index, links,
                   "nccl: NCCL_COMM_BLOCKING=0 is not supported: unset it, "
                   "or use transport = peer");
    ck_assert_int_eq(unsetenv("NCCL_COMM_BLOCKING"), 0);
}
END_TEST

static pp_status no_allgather(const void *mine, void *all, size_t bytes,
                              int timeout_ms, pp_error *err)
{
    (void)mine, (void)all, (void)bytes, (void)timeout_ms;
    return pp_error_set(err, PP_ERR_RUNTIME, "not to be called");
}

/* open_job refuses a job that does not say where the ranks are, and two
 * ranks of this process on one GPU as open does, before anything is
 * gathered or CUDA is asked. */
START_TEST(test_open_job_refused)
{
    static const pp_job_ops job_ops = {.allgather = no_allgather};
    pp_device_rank dr[3] = {{.index = 0}, {.index = 0}, {.index = 0}};
    pp_transport_rank tr[3] = {{NULL, &dr[0]}, {NULL, &dr[1]}, {0}};
    const unsigned char links[] = {0, 1, 0,
                                   0, 0, 1,
                                   0, 0, 0};
    const int process_of[] = {0, 0, 1}, wild[] = {0, 0, 3};
    pp_transport_job job = {0, 2, process_of, &job_ops};
    pp_error err;
    pp_error_clear(&err);
    void *t = &err;
    ck_assert_int_eq(nccl_ops()->open_job(3, tr, links, NULL, &t, &err),
                     PP_ERR_RUNTIME);
    ck_assert_ptr_null(t);
    ck_assert_str_eq(err.msg, "nccl: no job, or a job without its "
                              "processes");
    job.process_of = wild;
    ck_assert_int_eq(nccl_ops()->open_job(3, tr, links, &job, &t, &err),
                     PP_ERR_RUNTIME);
    ck_assert_str_eq(err.msg, "nccl: rank 2 is placed in process 3, and the "
                              "job has processes 0 to 1");
    job.process_of = process_of;
    ck_assert_int_eq(nccl_ops()->open_job(3, tr, links, &job, &t, &err),
                     PP_ERR_CONFIG);
    ck_assert_ptr_null(t);
    ck_assert_str_eq(err.msg, "nccl: ranks 0 and 1 share cuda:0, and NCCL "
                              "refuses two ranks of one communicator on one "
                              "GPU: use transport = auto or peer");
}
END_TEST

/* Ranks on different GPUs pass the check and reach CUDA: without two GPUs
 * that fails as a device error, located, and leaves nothing open. */
START_TEST(test_different_gpus)
{
    const pp_device_ops *cuda = load(PP_KIND_DEVICE, "cuda", NULL, 0)->ops;
    pp_error err;
    pp_error_clear(&err);
    int n = 0;
    ck_assert_int_eq(cuda->count(&n, NULL, 0, &err), PP_OK);

    const int index[] = {0, 1};
    const unsigned char links[] = {0, 1, 1, 0};
    void *t = &err;
    pp_status st = open_fake(2, index, links, &t, &err);
    if (n >= 2) {
        ck_assert_msg(st == PP_OK, "%s", err.msg);
        ck_assert_ptr_nonnull(t);
        nccl_ops()->destroy(t);
        return;
    }
    ck_assert_int_ne(st, PP_OK);
    ck_assert_ptr_null(t);
    if (n == 0) {
        ck_assert_int_eq(st, PP_ERR_DEVICE);
        ck_assert_msg(strncmp(err.msg, "nccl: ", 6) == 0, "%s", err.msg);
        ck_assert_msg(strstr(err.msg, "nccl.c:") != NULL, "unlocated: %s",
                      err.msg);
    }
}
END_TEST

static Suite *nccl_plugin_suite(void)
{
    Suite *s = suite_create("nccl_plugin");
    TCase *tc = tcase_create("no_gpu_needed");
    /* Check's default is 4 s a test, and where two GPUs answer
     * test_different_gpus creates two communicators and connects each
     * (CUDA contexts on both GPUs, NCCL's topology detection, a warm-up
     * send): seconds each, so the default would fail a working plugin. */
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_descriptor);
    tcase_add_test(tc, test_same_gpu_refused);
    tcase_add_test(tc, test_non_blocking_refused);
    tcase_add_test(tc, test_open_job_refused);
    tcase_add_test(tc, test_different_gpus);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(nccl_plugin_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
