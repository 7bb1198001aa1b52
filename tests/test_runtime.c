/* tests/test_runtime.c - the pieces of the runtime under the training
 * tests: the local transport (matching, timeouts, abort) and the
 * partitioner. */
#include <config.h>

#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "runtime.h"

static const pp_transport_ops *local_transport(void)
{
    pp_registry *reg;
    pp_error err;
    ck_assert_int_eq(pp_registry_create(NULL, &reg, &err), PP_OK);
    const pp_plugin *p;
    ck_assert_msg(pp_registry_find(reg, PP_KIND_TRANSPORT, "local", &p,
                                   &err) == PP_OK, "%s", err.msg);
    /* Plugins stay loaded (RTLD_NODELETE): the table outlives reg. */
    const pp_transport_ops *ops = p->desc->ops;
    pp_registry_free(reg);
    return ops;
}

START_TEST(messages_match_by_source_and_tag)
{
    const pp_transport_ops *tr = local_transport();
    void *t;
    pp_error err;
    ck_assert_int_eq(tr->create(3, &t, &err), PP_OK);
    int a = 1, b = 2, c = 3, got;
    ck_assert_int_eq(tr->send(t, 0, 2, 7, &a, sizeof a, &err), PP_OK);
    ck_assert_int_eq(tr->send(t, 1, 2, 7, &b, sizeof b, &err), PP_OK);
    ck_assert_int_eq(tr->send(t, 0, 2, 8, &c, sizeof c, &err), PP_OK);
    /* Taken in another order than sent. */
    ck_assert_int_eq(tr->recv(t, 2, 0, 8, &got, sizeof got, 0, &err), PP_OK);
    ck_assert_int_eq(got, 3);
    ck_assert_int_eq(tr->recv(t, 2, 1, 7, &got, sizeof got, 0, &err), PP_OK);
    ck_assert_int_eq(got, 2);
    ck_assert_int_eq(tr->recv(t, 2, 0, 7, &got, sizeof got, 0, &err), PP_OK);
    ck_assert_int_eq(got, 1);
    /* The sender's buffer is free once send returns. */
    a = 41;
    ck_assert_int_eq(tr->send(t, 0, 1, 9, &a, sizeof a, &err), PP_OK);
    a = 0;
    ck_assert_int_eq(tr->recv(t, 1, 0, 9, &got, sizeof got, 0, &err), PP_OK);
    ck_assert_int_eq(got, 41);
    /* A size that does not match is an error, not a partial copy. */
    ck_assert_int_eq(tr->send(t, 0, 1, 10, &a, sizeof a, &err), PP_OK);
    double wide;
    ck_assert_int_eq(tr->recv(t, 1, 0, 10, &wide, sizeof wide, 0, &err),
                     PP_ERR_RUNTIME);
    ck_assert_str_eq(err.msg, "message from rank 0 is 4 bytes, expected 8");
    tr->destroy(t);
}
END_TEST

START_TEST(recv_times_out)
{
    const pp_transport_ops *tr = local_transport();
    void *t;
    pp_error err;
    ck_assert_int_eq(tr->create(2, &t, &err), PP_OK);
    int got;
    ck_assert_int_eq(tr->recv(t, 1, 0, 1, &got, sizeof got, 50, &err),
                     PP_ERR_RUNTIME);
    ck_assert_str_eq(err.msg, "no message from rank 0 after 50 ms");
    tr->destroy(t);
}
END_TEST

typedef struct waiter {
    const pp_transport_ops *tr;
    void *t;
    pp_status st;
    pp_error err;
} waiter;

static void *wait_forever(void *arg)
{
    waiter *w = arg;
    int got;
    w->st = w->tr->recv(w->t, 1, 0, 1, &got, sizeof got, -1, &w->err);
    return NULL;
}

START_TEST(abort_wakes_a_waiting_rank)
{
    waiter w = {local_transport(), NULL, PP_OK, {0}};
    pp_error err;
    ck_assert_int_eq(w.tr->create(2, &w.t, &err), PP_OK);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, wait_forever, &w), 0);
    nanosleep(&(struct timespec){0, 50000000}, NULL);
    w.tr->abort(w.t);
    pthread_join(th, NULL);
    ck_assert_int_eq(w.st, PP_ERR_RUNTIME);
    ck_assert_str_eq(w.err.msg, "stopped: another rank failed");
    /* And every later receive fails at once. */
    int got;
    ck_assert_int_eq(w.tr->recv(w.t, 0, 1, 2, &got, sizeof got, -1, &err),
                     PP_ERR_RUNTIME);
    w.tr->destroy(w.t);
}
END_TEST

/* A model of the given layers, loaded from a temporary file. */
static pp_model *model_with(const char *layers, const char *pipeline)
{
    char path[] = "/tmp/pp-partition-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "[model]\ninput = 8\n%s[pipeline]\n%s", layers, pipeline);
    fclose(f);
    pp_model *m;
    pp_error err;
    pp_status st = pp_model_load(path, &m, &err);
    unlink(path);
    ck_assert_msg(st == PP_OK, "%s", err.msg);
    return m;
}

START_TEST(partition_balances_and_follows_stage_keys)
{
    /* Parameters: 8*100+100, 100*8+8, 8*100+100, 100*4+4 = 900 808 900 404 */
    const char *layers =
        "[layer a]\ntype = linear\nunits = 100\n"
        "[layer b]\ntype = linear\nunits = 8\n"
        "[layer c]\ntype = linear\nunits = 100\n"
        "[layer d]\ntype = linear\nunits = 4\n"
        "[layer loss]\ntype = softmax_xent\n";
    pp_model *m = model_with(layers, "devices = cpu*2\n");
    int first[3];
    pp_error err;
    ck_assert_int_eq(pp_partition_layers(m, 2, first, &err), PP_OK);
    /* {a, b} 1708 | {c, d, loss} 1304 is the lightest heaviest stage. */
    ck_assert_int_eq(first[0], 0);
    ck_assert_int_eq(first[1], 2);
    ck_assert_int_eq(first[2], 5);
    pp_model_free(m);

    m = model_with(layers, "devices = cpu*4\n");
    int four[5];
    ck_assert_int_eq(pp_partition_layers(m, 4, four, &err), PP_OK);
    /* Every stage gets a layer; d and the loss go together, as the loss
     * weighs nothing and the last stage is the lightest then. */
    int want[5] = {0, 1, 2, 3, 5};
    for (int s = 0; s <= 4; s++)
        ck_assert_int_eq(four[s], want[s]);
    pp_model_free(m);

    m = model_with("[layer a]\ntype = linear\nunits = 100\nstage = 0\n"
                   "[layer b]\ntype = linear\nunits = 8\nstage = 0\n"
                   "[layer c]\ntype = linear\nunits = 100\nstage = 0\n"
                   "[layer d]\ntype = linear\nunits = 4\nstage = 1\n"
                   "[layer loss]\ntype = softmax_xent\nstage = 1\n",
                   "devices = cpu*2\n");
    ck_assert_int_eq(m->partition, PP_PARTITION_MANUAL);
    ck_assert_int_eq(pp_partition_layers(m, 2, first, &err), PP_OK);
    ck_assert_int_eq(first[1], 3);
    pp_model_free(m);

    /* The same cut written as a list in [pipeline]. */
    m = model_with(layers, "devices = cpu*2\nlayers_per_stage = 3, 2\n");
    ck_assert_int_eq(m->partition, PP_PARTITION_MANUAL);
    ck_assert_int_eq(pp_partition_layers(m, 2, first, &err), PP_OK);
    ck_assert_int_eq(first[1], 3);
    ck_assert_int_eq(first[2], 5);
    pp_model_free(m);
}
END_TEST

static Suite *runtime_suite(void)
{
    Suite *s = suite_create("runtime");
    TCase *tc = tcase_create("transport");
    tcase_add_test(tc, messages_match_by_source_and_tag);
    tcase_add_test(tc, recv_times_out);
    tcase_add_test(tc, abort_wakes_a_waiting_rank);
    suite_add_tcase(s, tc);
    TCase *part = tcase_create("partition");
    tcase_add_test(part, partition_balances_and_follows_stage_keys);
    suite_add_tcase(s, part);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(runtime_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
