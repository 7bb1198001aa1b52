/* tests/emu/test_nccl_emu.c - the CUDA emulator's NCCL on cases whose
 * outcome NCCL defines, so that the nccl transport's tests can trust it:
 * communicators refused as NCCL refuses them, sends matched to receives
 * by order, a self-send in a group, checks at the call, a failed group
 * issuing nothing, the first contact's host wait, and abort releasing a
 * receive stuck on its stream. Built and run by `make check` only in an
 * --enable-cuda-emulator build that found nccl.h. Asks for two emulated
 * GPUs itself.
 */
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

int main(void)
{
    setenv("PIPETTE_EMU_GPUS", "2", 1);
    test_refusals();
    test_order_and_checks();
    test_self();
    test_connect_and_abort();
    if (failures)
        fprintf(stderr, "test_nccl_emu: %d check(s) failed\n", failures);
    else
        printf("test_nccl_emu: all checks passed\n");
    return failures ? EXIT_FAILURE : EXIT_SUCCESS;
}
