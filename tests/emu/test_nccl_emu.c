/* tests/emu/test_nccl_emu.c - the CUDA emulator's NCCL on cases whose
 * outcome NCCL defines, so that the nccl transport's tests can trust it:
 * communicators refused as NCCL refuses them, sends matched to receives
 * by order, a self-send in a group, checks at the call, a failed group
 * issuing nothing, the first contact's host wait, communicators made
 * from a unique id by several threads or in one group, sums, and abort
 * releasing a receive stuck on its stream. Built and run by `make check` only in an
 * --enable-cuda-emulator build that found nccl.h. Asks for two emulated
 * GPUs itself.
 */
#define _GNU_SOURCE /* pthread_tryjoin_np */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cuda_runtime_api.h>
#include <nccl.h>

/* nccl.h declares these without a prototype. */
ncclResult_t ncclGroupStart(void);
ncclResult_t ncclGroupEnd(void);

static int failures;

#define CHECK(cond)                                                         \
    do {                                                                    \
        if (!(cond)) {                                                      \
            fprintf(stderr, "%s:%d: failed: %s\n", __FILE__, __LINE__,      \
                    #cond);                                                 \
            failures++;                                                     \
        }                                                                   \
    } while (0)

#define CUDA(call) CHECK((call) == cudaSuccess)
#define NCCL(call) CHECK((call) == ncclSuccess)

#define N 256 /* floats a message */

typedef struct gpu {
    cudaStream_t s;
    float *a, *b; /* device buffers of N floats */
} gpu;

/* Blocking streams: their work waits for fill()'s cudaMemcpy, which may
 * return before its bytes land (legacy stream, pageable source). */
static void gpu_open(gpu *g, int dev)
{
    CUDA(cudaSetDevice(dev));
    CUDA(cudaStreamCreate(&g->s));
    CUDA(cudaMalloc((void **)&g->a, N * sizeof(float)));
    CUDA(cudaMalloc((void **)&g->b, N * sizeof(float)));
}

static void gpu_close(gpu *g)
{
    CUDA(cudaStreamDestroy(g->s));
    CUDA(cudaFree(g->a));
    CUDA(cudaFree(g->b));
}

static void fill(float *d, float base)
{
    float h[N];
    for (int i = 0; i < N; i++)
        h[i] = base + (float)i;
    CUDA(cudaMemcpy(d, h, sizeof h, cudaMemcpyHostToDevice));
}

/* Whether d holds what fill(d, base) put there. */
static int holds(const float *d, float base)
{
    float h[N];
    CUDA(cudaMemcpy(h, d, sizeof h, cudaMemcpyDeviceToHost));
    for (int i = 0; i < N; i++)
        if (h[i] != base + (float)i)
            return 0;
    return 1;
}

static void test_refusals(void)
{
    int v = 0;
    NCCL(ncclGetVersion(&v));
    CHECK(v == NCCL_VERSION_CODE);
    CHECK(strstr(ncclGetErrorString(ncclInvalidUsage), "invalid usage"));
    ncclComm_t c[2];
    const int same[] = {0, 0}, missing[] = {0, 2};
    CHECK(ncclCommInitAll(c, 2, same) == ncclInvalidUsage);
    CHECK(strstr(ncclGetLastError(NULL), "Duplicate GPU detected"));
    CHECK(ncclCommInitAll(c, 2, missing) == ncclInvalidArgument);
    CHECK(ncclCommInitAll(c, 0, NULL) == ncclInvalidArgument);
}

/* Rank 0 sends A then B to rank 1, which receives into b then a: the
 * k-th send meets the k-th receive, whatever the buffers. Then checks at
 * the call, and a failed group that must not use up a message number. */
static void test_order_and_checks(void)
{
    ncclComm_t c[2];
    const int devs[] = {0, 1};
    NCCL(ncclCommInitAll(c, 2, devs));
    gpu g[2];
    gpu_open(&g[0], 0);
    gpu_open(&g[1], 1);
    fill(g[0].a, 100);
    fill(g[0].b, 200);
    NCCL(ncclGroupStart());
    NCCL(ncclSend(g[0].a, N, ncclFloat32, 1, c[0], g[0].s));
    NCCL(ncclSend(g[0].b, N, ncclFloat32, 1, c[0], g[0].s));
    NCCL(ncclRecv(g[1].b, N, ncclFloat32, 0, c[1], g[1].s));
    NCCL(ncclRecv(g[1].a, N, ncclFloat32, 0, c[1], g[1].s));
    NCCL(ncclGroupEnd());
    CUDA(cudaStreamSynchronize(g[0].s));
    CUDA(cudaStreamSynchronize(g[1].s));
    CHECK(holds(g[1].b, 100));
    CHECK(holds(g[1].a, 200));

    float host[N];
    CHECK(ncclSend(host, N, ncclFloat32, 1, c[0], g[0].s) ==
          ncclInvalidArgument);
    CHECK(ncclSend(g[0].a, N, ncclFloat32, 1, c[0], g[1].s) ==
          ncclInvalidUsage);
    CHECK(ncclSend(g[0].a, N, ncclFloat32, 2, c[0], g[0].s) ==
          ncclInvalidArgument);
    CHECK(ncclSend(g[0].a, N, ncclFloat32, 1, c[1], g[0].s) ==
          ncclInvalidUsage); /* c[1] is on cuda:1 */

    /* A group with a bad call issues none of its calls. */
    fill(g[0].a, 300);
    NCCL(ncclGroupStart());
    NCCL(ncclSend(g[0].a, N, ncclFloat32, 1, c[0], g[0].s));
    CHECK(ncclSend(host, N, ncclFloat32, 1, c[0], g[0].s) != ncclSuccess);
    CHECK(ncclGroupEnd() != ncclSuccess);
    fill(g[0].b, 400);
    NCCL(ncclGroupStart());
    NCCL(ncclSend(g[0].b, N, ncclFloat32, 1, c[0], g[0].s));
    NCCL(ncclRecv(g[1].a, N, ncclFloat32, 0, c[1], g[1].s));
    NCCL(ncclGroupEnd());
    CUDA(cudaStreamSynchronize(g[1].s));
    CHECK(holds(g[1].a, 400));

    NCCL(ncclCommDestroy(c[0]));
    NCCL(ncclCommDestroy(c[1]));
    gpu_close(&g[0]);
    gpu_close(&g[1]);
}

/* One rank sending to itself: only within one group. */
static void test_self(void)
{
    ncclComm_t c;
    NCCL(ncclCommInitAll(&c, 1, NULL));
    gpu g;
    gpu_open(&g, 0);
    fill(g.a, 7);
    NCCL(ncclGroupStart());
    NCCL(ncclSend(g.a, N, ncclFloat32, 0, c, g.s));
    NCCL(ncclRecv(g.b, N, ncclFloat32, 0, c, g.s));
    NCCL(ncclGroupEnd());
    CUDA(cudaStreamSynchronize(g.s));
    CHECK(holds(g.b, 7));
    NCCL(ncclCommDestroy(c));
    gpu_close(&g);
}

typedef struct first_send {
    ncclComm_t comm;
    gpu *g;
    atomic_int returned;
} first_send;

static void *send_first(void *arg)
{
    first_send *f = arg;
    NCCL(ncclSend(f->g->a, N, ncclFloat32, 1, f->comm, f->g->s));
    atomic_store(&f->returned, 1);
    return NULL;
}

/* The first send between two ranks returns only once the receiver has
 * issued its side; later ones return at once. A receive stuck on its
 * stream (no send for it) ends when its communicator is aborted. */
static void test_connect_and_abort(void)
{
    ncclComm_t c[2];
    NCCL(ncclCommInitAll(c, 2, NULL));
    gpu g[2];
    gpu_open(&g[0], 0);
    gpu_open(&g[1], 1);
    fill(g[0].a, 11);
    first_send f = {c[0], &g[0], 0};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, send_first, &f) == 0);
    struct timespec pause = {0, 100 * 1000 * 1000};
    nanosleep(&pause, NULL);
    CHECK(!atomic_load(&f.returned));
    NCCL(ncclRecv(g[1].a, N, ncclFloat32, 0, c[1], g[1].s));
    pthread_join(th, NULL);
    CHECK(atomic_load(&f.returned));
    CUDA(cudaStreamSynchronize(g[1].s));
    CHECK(holds(g[1].a, 11));

    /* Connected: the receive returns at once, and holds its stream. */
    cudaEvent_t after;
    CUDA(cudaSetDevice(1));
    CUDA(cudaEventCreate(&after));
    NCCL(ncclRecv(g[1].b, N, ncclFloat32, 0, c[1], g[1].s));
    CUDA(cudaEventRecord(after, g[1].s));
    nanosleep(&pause, NULL);
    CHECK(cudaEventQuery(after) == cudaErrorNotReady);
    NCCL(ncclCommAbort(c[1]));
    CUDA(cudaEventSynchronize(after));
    CUDA(cudaEventDestroy(after));
    CHECK(ncclCommAbort(c[0]) == ncclSuccess);
    gpu_close(&g[0]);
    gpu_close(&g[1]);
}

/* Exported by the emulator for the tests (nccl_emu.c). */
unsigned long pp_emu_nccl_sums(void);

typedef struct joiner {
    ncclUniqueId id;
    int rank;
    ncclComm_t comm;
    gpu *g;
    ncclResult_t init, sum;
} joiner;

/* A rank on its own thread: joins by the id, then sums in place. */
static void *join_and_sum(void *arg)
{
    joiner *j = arg;
    CUDA(cudaSetDevice(j->rank));
    j->init = ncclCommInitRank(&j->comm, 2, j->id, j->rank);
    if (j->init == ncclSuccess)
        j->sum = ncclAllReduce(j->g->a, j->g->a, N, ncclFloat32, ncclSum,
                               j->comm, j->g->s);
    return NULL;
}

/* Communicators made from one id by two threads, or by one thread in a
 * group; the sum's first call waits for every rank's, and every rank gets
 * the same total; two ranks on one device refused, each told. */
static void test_init_rank_and_sum(void)
{
    gpu g[2];
    gpu_open(&g[0], 0);
    gpu_open(&g[1], 1);
    joiner j[2];
    pthread_t th[2];
    NCCL(ncclGetUniqueId(&j[0].id));
    unsigned long sums = pp_emu_nccl_sums();
    for (int r = 0; r < 2; r++) {
        j[r] = (joiner){.id = j[0].id, .rank = r, .g = &g[r]};
        fill(g[r].a, 1000.0f * (float)(r + 1));
    }
    CHECK(pthread_create(&th[0], NULL, join_and_sum, &j[0]) == 0);
    struct timespec pause = {0, 100 * 1000 * 1000};
    nanosleep(&pause, NULL);
    CHECK(pthread_tryjoin_np(th[0], NULL) != 0); /* waits for rank 1 */
    CHECK(pthread_create(&th[1], NULL, join_and_sum, &j[1]) == 0);
    for (int r = 0; r < 2; r++)
        pthread_join(th[r], NULL);
    for (int r = 0; r < 2; r++) {
        CHECK(j[r].init == ncclSuccess && j[r].sum == ncclSuccess);
        CUDA(cudaStreamSynchronize(g[r].s));
        /* (1000 + i) + (2000 + i) */
        float h[N];
        CUDA(cudaMemcpy(h, g[r].a, sizeof h, cudaMemcpyDeviceToHost));
        for (int i = 0; i < N; i++)
            if (h[i] != 3000.0f + 2.0f * (float)i) {
                CHECK(!"the sum");
                break;
            }
    }
    CHECK(pp_emu_nccl_sums() == sums + 2);
    for (int r = 0; r < 2; r++)
        NCCL(ncclCommDestroy(j[r].comm));

    /* One thread, both ranks, in one group. */
    ncclUniqueId id;
    ncclComm_t c[2];
    NCCL(ncclGetUniqueId(&id));
    NCCL(ncclGroupStart());
    for (int r = 0; r < 2; r++) {
        CUDA(cudaSetDevice(r));
        NCCL(ncclCommInitRank(&c[r], 2, id, r));
    }
    NCCL(ncclGroupEnd());
    fill(g[0].a, 5);
    fill(g[1].a, 7);
    NCCL(ncclGroupStart());
    for (int r = 0; r < 2; r++)
        NCCL(ncclAllReduce(g[r].a, g[r].b, N, ncclFloat32, ncclSum, c[r],
                           g[r].s));
    NCCL(ncclGroupEnd());
    for (int r = 0; r < 2; r++) {
        CUDA(cudaStreamSynchronize(g[r].s));
        CHECK(holds(g[r].a, r ? 7 : 5)); /* out of place: kept */
        float h[N];
        CUDA(cudaMemcpy(h, g[r].b, sizeof h, cudaMemcpyDeviceToHost));
        CHECK(h[0] == 12 && h[N - 1] == 12 + 2 * (N - 1));
    }
    CHECK(ncclAllReduce(g[0].a, g[0].a, N, ncclFloat32, ncclProd, c[0],
                        g[0].s) == ncclInvalidArgument);
    CHECK(ncclAllReduce(g[0].a, g[0].a, N, ncclInt32, ncclSum, c[0],
                        g[0].s) == ncclInvalidArgument);
    for (int r = 0; r < 2; r++)
        NCCL(ncclCommDestroy(c[r]));

    /* Two ranks on cuda:0: both fail, saying so. */
    NCCL(ncclGetUniqueId(&id));
    c[0] = c[1] = (ncclComm_t)&id;
    NCCL(ncclGroupStart());
    CUDA(cudaSetDevice(0));
    for (int r = 0; r < 2; r++)
        NCCL(ncclCommInitRank(&c[r], 2, id, r));
    CHECK(ncclGroupEnd() == ncclInvalidUsage);
    CHECK(strstr(ncclGetLastError(NULL), "Duplicate GPU detected : rank 0 "
                                         "and rank 1 both on CUDA device 0"));
    CHECK(c[0] == NULL && c[1] == NULL);
    gpu_close(&g[0]);
    gpu_close(&g[1]);
}

int main(void)
{
    setenv("PIPETTE_EMU_GPUS", "2", 1);
    test_refusals();
    test_order_and_checks();
    test_self();
    test_init_rank_and_sum();
    test_connect_and_abort();
    if (failures)
        fprintf(stderr, "test_nccl_emu: %d check(s) failed\n", failures);
    else
        printf("test_nccl_emu: all checks passed\n");
    return failures ? EXIT_FAILURE : EXIT_SUCCESS;
}
