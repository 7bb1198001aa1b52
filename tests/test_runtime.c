/* tests/test_runtime.c - the pieces of the runtime under the training
 * tests: the local and peer transports (matching, snapshots, timeouts,
 * abort) and the partitioner. */
#include <config.h>

#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "runtime.h"
#include "runtime_impl.h"
#include "data_ring.h"

/* Under AddressSanitizer (configure --enable-sanitizers), an allocation
 * too large to serve returns NULL, as the C library's does, instead of
 * stopping the program: peer_reserves_before_sending
 * reserves 4 EiB on purpose. ASan reads this before main; ASAN_OPTIONS
 * can still override it. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "allocator_may_return_null=1";
}

static const pp_transport_ops *transport(const char *name)
{
    pp_registry *reg;
    pp_error err;
    ck_assert_int_eq(pp_registry_create(NULL, &reg, &err), PP_OK);
    const pp_plugin *p;
    ck_assert_msg(pp_registry_find(reg, PP_KIND_TRANSPORT, name, &p,
                                   &err) == PP_OK, "%s", err.msg);
    /* Plugins stay loaded (RTLD_NODELETE): the table outlives reg. */
    const pp_transport_ops *ops = p->desc->ops;
    pp_registry_free(reg);
    return ops;
}

static const pp_transport_ops *local_transport(void)
{
    return transport("local");
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

/* The peer transport over n cpu ranks, every pair linked but 2 -> 0. */
typedef struct peer_run {
    const pp_transport_ops *tr;
    void *t;
    pp_device_rank dr[3];
    pp_transport_rank rank[3];
} peer_run;

static void peer_open(peer_run *run)
{
    run->tr = transport("peer");
    ck_assert_ptr_null(run->tr->send);
    unsigned char links[9] = {1, 1, 1, 1, 1, 1, 0, 1, 1};
    for (int r = 0; r < 3; r++) {
        run->dr[r] = (pp_device_rank){0, NULL, NULL, NULL};
        run->rank[r] = (pp_transport_rank){pp_device_cpu(), &run->dr[r]};
    }
    pp_error err;
    ck_assert_int_eq(run->tr->open(3, run->rank, links, &run->t, &err),
                     PP_OK);
}

START_TEST(peer_snapshots_and_matches_by_tag)
{
    peer_run run;
    peer_open(&run);
    const pp_transport_ops *tr = run.tr;
    pp_error err;
    float a[64], got[64];
    for (int round = 0; round < 3; round++) {
        /* Several in flight at once, received in another order; the
         * source is overwritten right after each send. */
        for (int k = 0; k < 4; k++) {
            for (int i = 0; i < 64; i++)
                a[i] = (float)(100 * round + 10 * k + i);
            ck_assert_int_eq(tr->send_async(run.t, 0, 1, (uint64_t)k, a,
                                            sizeof a, &err), PP_OK);
            memset(a, 0, sizeof a);
        }
        for (int k = 3; k >= 0; k--) {
            ck_assert_int_eq(tr->recv_async(run.t, 1, 0, (uint64_t)k, got,
                                            sizeof got, 0, &err), PP_OK);
            for (int i = 0; i < 64; i++)
                ck_assert_float_eq(got[i], (float)(100 * round + 10 * k + i));
        }
    }
    /* A size that does not match is an error, not a partial copy. */
    ck_assert_int_eq(tr->send_async(run.t, 1, 2, 5, a, 16, &err), PP_OK);
    ck_assert_int_eq(tr->recv_async(run.t, 2, 1, 5, got, 32, 0, &err),
                     PP_ERR_RUNTIME);
    ck_assert_str_eq(err.msg, "message from rank 1 is 16 bytes, expected 32");
    /* A direction that was not opened. */
    ck_assert_int_eq(tr->send_async(run.t, 2, 0, 1, a, 16, &err),
                     PP_ERR_RUNTIME);
    ck_assert_str_eq(err.msg, "peer: no link from rank 2 to rank 0 was "
                              "opened");
    ck_assert_int_eq(tr->reserve(run.t, 2, 0, 16, 1, &err), PP_ERR_RUNTIME);
    tr->destroy(run.t);
}
END_TEST

/* reserve makes the buffers before the first send: an allocation that
 * cannot succeed fails there, with the direction named, and reserved
 * buffers carry messages like grown ones. */
START_TEST(peer_reserves_before_sending)
{
    peer_run run;
    peer_open(&run);
    const pp_transport_ops *tr = run.tr;
    pp_error err;
    pp_error_clear(&err);
    ck_assert_int_eq(tr->reserve(run.t, 0, 1, (size_t)1 << 62, 1, &err),
                     PP_ERR_NOMEM);
    ck_assert_msg(strncmp(err.msg, "peer: a transfer buffer from rank 0 to "
                          "rank 1: ", 39) == 0, "%s", err.msg);
    ck_assert_int_eq(tr->reserve(run.t, 1, 2, 3 * sizeof(int), 2, &err),
                     PP_OK);
    int a[3] = {1, 2, 3}, b[3] = {4, 5, 6}, got[3];
    ck_assert_int_eq(tr->send_async(run.t, 1, 2, 1, a, sizeof a, &err),
                     PP_OK);
    ck_assert_int_eq(tr->send_async(run.t, 1, 2, 2, b, sizeof b, &err),
                     PP_OK);
    ck_assert_int_eq(tr->recv_async(run.t, 2, 1, 2, got, sizeof got, 0,
                                    &err), PP_OK);
    ck_assert_int_eq(got[2], 6);
    ck_assert_int_eq(tr->recv_async(run.t, 2, 1, 1, got, sizeof got, 0,
                                    &err), PP_OK);
    ck_assert_int_eq(got[0], 1);
    tr->destroy(run.t);
}
END_TEST

static void *peer_wait_forever(void *arg)
{
    waiter *w = arg;
    int got;
    w->st = w->tr->recv_async(w->t, 1, 0, 1, &got, sizeof got, -1, &w->err);
    return NULL;
}

START_TEST(peer_times_out_and_aborts)
{
    peer_run run;
    peer_open(&run);
    pp_error err;
    int got;
    ck_assert_int_eq(run.tr->recv_async(run.t, 1, 0, 1, &got, sizeof got, 50,
                                        &err), PP_ERR_RUNTIME);
    ck_assert_str_eq(err.msg, "no message from rank 0 after 50 ms");
    waiter w = {run.tr, run.t, PP_OK, {0}};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, peer_wait_forever, &w), 0);
    nanosleep(&(struct timespec){0, 50000000}, NULL);
    run.tr->abort(run.t);
    pthread_join(th, NULL);
    ck_assert_int_eq(w.st, PP_ERR_RUNTIME);
    ck_assert_str_eq(w.err.msg, "stopped: another rank failed");
    ck_assert_int_eq(run.tr->recv_async(run.t, 0, 1, 2, &got, sizeof got, -1,
                                        &err), PP_ERR_RUNTIME);
    run.tr->destroy(run.t);
}
END_TEST

/* The transport plugins found by a registry on the default path, and
 * the one named `name` among them (NULL when it is not built). */
static const pp_plugin *among(const pp_plugin *const *all, size_t n,
                              const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(all[i]->desc->name, name) == 0)
            return all[i];
    return NULL;
}

/* Which shipped transport carries a pair, for every kind of pair, every
 * value of the transport key and either order of the receiver: the
 * choices pipette made before transports advertised what they connect.
 * The GPU is a stand-in table (routing reads a device's memory kind and
 * nothing else), so the rows run everywhere; where nccl is not built,
 * auto takes peer for it and the nccl rows are skipped. */
START_TEST(routes_by_devices_and_key)
{
    pp_registry *reg;
    pp_error err;
    ck_assert_int_eq(pp_registry_create(NULL, &reg, &err), PP_OK);
    const pp_plugin **all;
    size_t n;
    ck_assert_int_eq(pp_registry_all(reg, PP_KIND_TRANSPORT, &all, &n, &err),
                     PP_OK);
    const pp_plugin *nccl = among(all, n, "nccl");
    static const pp_device_ops gpu_ops = {.memory = PP_MEMORY_CUDA};
    const pp_plugin_desc gpu_desc = {.kind = PP_KIND_DEVICE, .name = "cuda"};
    const pp_plugin gpu = {.desc = &gpu_desc, .ops = &gpu_ops};
    pp_device_spec cpu = {.name = "cpu"}, gpu0 = {.name = "cuda"},
                   gpu0b = {.name = "cuda"}, gpu1 = {.name = "cuda",
                                                     .index = 1};
    ck_assert_int_eq(pp_registry_find(reg, PP_KIND_DEVICE, "cpu",
                                      &cpu.plugin, &err), PP_OK);
    gpu0.plugin = gpu0b.plugin = gpu1.plugin = &gpu;
    static const struct {
        const char *want;
        int in_order;
        const char *cpu_cpu, *cpu_gpu, *same_gpu, *two_gpus;
    } rows[] = {
        {"auto", 1, "local", "local", "peer", "nccl"},
        {"auto", 0, "local", "local", "peer", "peer"}, /* zb-v's order */
        {"local", 1, "local", "local", "local", "local"},
        {"local", 0, "local", "local", "local", "local"},
        {"peer", 1, "peer", "local", "peer", "peer"},
        {"peer", 0, "peer", "local", "peer", "peer"},
        /* named nccl out of order: taken, and the caller refuses */
        {"nccl", 1, "local", "local", "peer", "nccl"},
        {"nccl", 0, "local", "local", "peer", "nccl"},
    };
    const pp_device_spec *pairs[][2] = {{&cpu, &cpu}, {&cpu, &gpu0},
        {&gpu1, &cpu}, {&gpu0, &gpu0b}, {&gpu0, &gpu1}};
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        const pp_plugin *named = strcmp(rows[i].want, "auto") == 0
            ? NULL : among(all, n, rows[i].want);
        if (!named && strcmp(rows[i].want, "auto") != 0)
            continue; /* nccl is not built */
        const char *want[] = {rows[i].cpu_cpu, rows[i].cpu_gpu,
                              rows[i].cpu_gpu, rows[i].same_gpu,
                              rows[i].two_gpus};
        for (size_t k = 0; k < 5; k++) {
            pp_link l = {pairs[k][0], pairs[k][1], 1, 1, rows[i].in_order};
            const pp_plugin *got = pp_route_pick(all, n, named, &l);
            const char *expect = !nccl && strcmp(want[k], "nccl") == 0
                                     ? "peer" : want[k];
            ck_assert_ptr_nonnull(got);
            ck_assert_msg(strcmp(got->desc->name, expect) == 0,
                          "transport = %s, in order %d, pair %zu: %s, not %s",
                          rows[i].want, rows[i].in_order, k,
                          got->desc->name, expect);
        }
    }
    free(all);
    pp_registry_free(reg);
}
END_TEST

/* A data source for the ring's tests: sample i's input is i, its target
 * -i; it counts its reads (through a pointer: reads get a const state). */
typedef struct counting {
    int *reads;
} counting;

static pp_status counting_read(const void *state, int64_t first, int n,
                               void *inputs, void *targets, pp_error *err)
{
    (void)err;
    const counting *c = state;
    (*c->reads)++;
    for (int i = 0; i < n; i++) {
        if (inputs)
            ((int32_t *)inputs)[i] = (int32_t)(first + i);
        if (targets)
            ((int32_t *)targets)[i] = (int32_t)-(first + i);
    }
    return PP_OK;
}

/* A prefetched read is taken from its buffer without asking the source
 * again; a read nobody prefetched, or a prefetch a later read displaced,
 * asks the source; the data is right either way. */
START_TEST(data_ring_prefetches)
{
    static const pp_data_ops ops = {NULL, counting_read, NULL};
    int reads = 0;
    counting state = {&reads};
    const pp_device_ops *cpu = pp_device_cpu();
    pp_device_rank dr;
    pp_error err;
    ck_assert_int_eq(cpu->rank_open(0, &dr, &err), PP_OK);
    pp_data_ring ring;
    ck_assert_int_eq(pp_data_ring_open(&ring, cpu, &dr, &ops, &state, 4,
                                       4 * sizeof(int32_t), 0, &err), PP_OK);
    int32_t got[4];
    ck_assert_int_eq(pp_data_ring_read(&ring, 0, PP_RING_INPUT, got,
                                       sizeof got, &err), PP_OK);
    ck_assert_int_eq(reads, 1);
    ck_assert_int_eq(got[3], 3);
    /* The next step's first inputs and targets, ahead. */
    ck_assert_int_eq(pp_data_ring_prefetch(&ring, 8, PP_RING_INPUT, &err),
                     PP_OK);
    ck_assert_int_eq(pp_data_ring_prefetch(&ring, 8, PP_RING_TARGET, &err),
                     PP_OK);
    ck_assert_int_eq(reads, 3);
    ck_assert_int_eq(pp_data_ring_read(&ring, 8, PP_RING_TARGET, got,
                                       sizeof got, &err), PP_OK);
    ck_assert_int_eq(got[1], -9);
    ck_assert_int_eq(pp_data_ring_read(&ring, 8, PP_RING_INPUT, got,
                                       sizeof got, &err), PP_OK);
    ck_assert_int_eq(got[1], 9);
    ck_assert_int_eq(reads, 3); /* both from the buffers */
    /* Taken once: asked again, the source makes it again. */
    ck_assert_int_eq(pp_data_ring_read(&ring, 8, PP_RING_INPUT, got,
                                       sizeof got, &err), PP_OK);
    ck_assert_int_eq(reads, 4);
    /* A prefetch that two reads displace is made again when asked. */
    ck_assert_int_eq(pp_data_ring_prefetch(&ring, 16, PP_RING_INPUT, &err),
                     PP_OK);
    ck_assert_int_eq(pp_data_ring_read(&ring, 20, PP_RING_INPUT, got,
                                       sizeof got, &err), PP_OK);
    ck_assert_int_eq(pp_data_ring_read(&ring, 24, PP_RING_INPUT, got,
                                       sizeof got, &err), PP_OK);
    ck_assert_int_eq(reads, 7);
    ck_assert_int_eq(pp_data_ring_read(&ring, 16, PP_RING_INPUT, got,
                                       sizeof got, &err), PP_OK);
    ck_assert_int_eq(reads, 8);
    ck_assert_int_eq(got[0], 16);
    pp_data_ring_close(&ring);
    cpu->rank_close(&dr);
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

/* The routes `pipette check` prints for a two-layer model on devices. */
static void routes_are(const char *pipeline, const char *want)
{
    pp_model *m = model_with("[layer a]\ntype = linear\nunits = 8\n"
                             "[layer b]\ntype = linear\nunits = 8\n"
                             "[layer c]\ntype = linear\nunits = 3\n"
                             "[layer loss]\ntype = softmax_xent\n",
                             pipeline);
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    pp_routes_print(m, f);
    fclose(f);
    ck_assert_msg(strcmp(text, want) == 0, "%s: %s, not %s", pipeline, text,
                  want);
    free(text);
    pp_model_free(m);
}

/* Whole models routed by the shipped plugins: cpu ranks here, GPU ranks
 * wherever the cuda plugin is built (routing asks no GPU). */
START_TEST(routes_of_models)
{
    routes_are("devices = cpu*2\n", "  transport: local 0->1 1->0\n");
    routes_are("devices = cpu*2\ntransport = peer\n",
               "  transport: peer 0->1 1->0\n");
#ifdef HAVE_CUDA
    routes_are("devices = cuda:0*2\n", "  transport: peer 0->1 1->0\n");
    routes_are("devices = cpu, cuda:0, cuda:0\n",
               "  transport: local 0->1 1->0; peer 1->2 2->1\n");
    routes_are("devices = cuda:0*2\ntransport = local\n",
               "  transport: local 0->1 1->0\n");
#ifdef HAVE_NCCL
    routes_are("devices = cuda:0, cuda:1\n", "  transport: nccl 0->1 1->0\n");
    /* zb-v: rank 1 takes rank 0's messages out of their order. */
    routes_are("devices = cuda:0, cuda:1\nschedule = zb-v\n"
               "stages_per_rank = 2\nmicrobatches = 4\n",
               "  transport: peer 0->1; nccl 1->0\n");
    /* Named nccl where it cannot go: peer on one GPU, local to cpu. */
    routes_are("devices = cpu, cuda:0, cuda:0, cuda:1\ntransport = nccl\n",
               "  transport: local 0->1 1->0; peer 1->2 2->1; "
               "nccl 2->3 3->2\n");
#else
    routes_are("devices = cuda:0, cuda:1\n", "  transport: peer 0->1 1->0\n");
#endif
#endif
}
END_TEST

/* The config error a model with this [pipeline] gives, past its
 * FILE:LINE: (in a static buffer). */
static const char *refusal(const char *pipeline)
{
    static pp_error err;
    char path[] = "/tmp/pp-routes-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "[model]\ninput = 8\nplugin_path = %s\n"
               "[layer a]\ntype = linear\nunits = 3\n"
               "[layer loss]\ntype = softmax_xent\n[pipeline]\n%s",
            getenv("TEST_TRANSPORT_DIR"), pipeline);
    fclose(f);
    pp_model *m;
    pp_model_opts opts = {.allow_plugins = 1};
    pp_status st = pp_model_load_opts(path, &opts, &m, &err);
    unlink(path);
    ck_assert_int_eq(st, PP_ERR_CONFIG);
    const char *colon = strchr(err.msg, ':');
    ck_assert_ptr_nonnull(colon);
    colon = strchr(colon + 1, ':'); /* past FILE:LINE */
    ck_assert_ptr_nonnull(colon);
    return colon + 2;
}

static void refused(const char *pipeline, const char *want)
{
    ck_assert_str_eq(refusal(pipeline), want);
}

/* A transport named for ranks it cannot connect, one that is not there,
 * and a device no plugin provides: errors at their keys. */
START_TEST(refuses_what_cannot_be_routed)
{
    ck_assert_ptr_nonnull(getenv("TEST_TRANSPORT_DIR"));
    refused("devices = cpu*2\ntransport = faraway\n",
            "[pipeline] transport: faraway connects none of these ranks (it "
            "moves host memory, between ranks in different processes): use "
            "transport = auto");
    refused("devices = cpu*2\ntransport = courrier\n",
            "[pipeline] transport: no transport plugin named 'courrier'; did "
            "you mean 'courier'?");
    refused("devices = cpu, gpu:1\n",
            "[pipeline] devices: gpu:1 needs the gpu device plugin: no "
            "device plugin named 'gpu'; did you mean 'cpu'?");
    refused("devices = cpu, cuda:x\n",
            "[pipeline] devices: 'cuda:x' is not a device: expected NAME or "
            "NAME:N (a device plugin and its device N, as in cpu or "
            "cuda:0), optionally followed by *COUNT");
    /* A plugin of another kind is not a device. */
    const char *msg = refusal("devices = cpu, courier\n");
    ck_assert_msg(strstr(msg, "[pipeline] devices: courier needs the courier "
                              "device plugin: ") == msg &&
                  strstr(msg, "courier.so: is a transport plugin, expected "
                              "a device plugin"), "%s", msg);
}
END_TEST

static Suite *runtime_suite(void)
{
    Suite *s = suite_create("runtime");
    TCase *tc = tcase_create("transport");
    tcase_add_test(tc, messages_match_by_source_and_tag);
    tcase_add_test(tc, recv_times_out);
    tcase_add_test(tc, abort_wakes_a_waiting_rank);
    tcase_add_test(tc, peer_snapshots_and_matches_by_tag);
    tcase_add_test(tc, peer_times_out_and_aborts);
    tcase_add_test(tc, peer_reserves_before_sending);
    tcase_add_test(tc, routes_by_devices_and_key);
    tcase_add_test(tc, routes_of_models);
    tcase_add_test(tc, refuses_what_cannot_be_routed);
    tcase_add_test(tc, data_ring_prefetches);
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
