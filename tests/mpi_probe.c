/* tests/mpi_probe.c - the MPI plugins (mpi-job, mpi) in real processes
 * of a job, loaded through libpipette's registry as pipette loads them.
 * It links libpipette alone, never MPI. Not a Check suite: Check forks
 * each test, and an MPI process must not fork. tests/mpi.sh runs it:
 *
 *   mpi_probe detect    prints "detect N" (0 when not under mpirun)
 *   mpi_probe run       under mpirun -np 3: 2 ranks per process (6);
 *                       where each process sits, allgather, messages of
 *                       distinct bytes from every rank to every other
 *                       under several tags, received in another order
 *                       than sent, a timeout, and abort
 *   mpi_probe wait DIR  under mpirun: writes DIR/ready.P (its pid), then
 *                       each rank waits in recv for a message nobody
 *                       sends (120 s), for mpi.sh to kill a process
 *
 * Exits 0 when every check held; each failure says what, on stderr.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <pipette/pipette.h>

#include "registry.h"

#define PROCESSES 3
#define PER_PROCESS 2
#define RANKS (PROCESSES * PER_PROCESS)
#define TAGS 3

/* Several tags, one past 32 bits, one near the top; a message's length
 * goes with its tag: small, a few pages, and past any eager limit. */
static const uint64_t tags[TAGS] = {1, UINT64_C(0x100000001),
                                    UINT64_MAX - 5};
static const size_t sizes[TAGS] = {7, 5000, 200003};
static const int process_of[RANKS] = {0, 0, 1, 1, 2, 2};

static atomic_int failures;
static int me = -1; /* this process, once known */

#define EXPECT(cond, ...)                                                   \
    do {                                                                    \
        if (!(cond)) {                                                      \
            char what_[PP_ERROR_MAX + 1024];                                \
            snprintf(what_, sizeof what_, __VA_ARGS__);                     \
            fprintf(stderr, "mpi_probe: process %d: %s (%s:%d)\n", me,      \
                    what_, __FILE__, __LINE__);                             \
            atomic_fetch_add(&failures, 1);                                 \
        }                                                                   \
    } while (0)

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Byte i of the message src -> dst under tag k: no two messages alike. */
static unsigned char content(int src, int dst, int k, size_t i)
{
    return (unsigned char)(src * 37 + dst * 11 + k * 101 + i * 7 + (i >> 8));
}

typedef struct probe {
    const pp_job_ops *job;
    const pp_transport_ops *tr;
    void *t;
} probe;

/* The plugin `name` of `kind`, by name, from the build tree. */
static const void *load(pp_registry *reg, pp_plugin_kind kind,
                        const char *name)
{
    const pp_plugin *p;
    pp_error err;
    pp_error_clear(&err);
    if (pp_registry_find(reg, kind, name, &p, &err)) {
        fprintf(stderr, "mpi_probe: %s\n", err.msg);
        return NULL;
    }
    return p->ops;
}

typedef struct rank_arg {
    probe *p;
    int rank;
} rank_arg;

/* Sends every message of this rank, then receives every message for it:
 * sources in the reverse order, tags last to first. */
static void *exchange(void *arg)
{
    const rank_arg *a = arg;
    const pp_transport_ops *tr = a->p->tr;
    int r = a->rank;
    unsigned char *buf = malloc(sizes[TAGS - 1]);
    pp_error err;
    for (int dst = 0; dst < RANKS; dst++)
        for (int k = 0; dst != r && k < TAGS; k++) {
            for (size_t i = 0; i < sizes[k]; i++)
                buf[i] = content(r, dst, k, i);
            pp_error_clear(&err);
            EXPECT(tr->send(a->p->t, r, dst, tags[k], buf, sizes[k], &err) ==
                   PP_OK, "send %d -> %d, tag %d: %s", r, dst, k, err.msg);
        }
    for (int src = RANKS - 1; src >= 0; src--)
        for (int k = TAGS - 1; src != r && k >= 0; k--) {
            memset(buf, 0, sizes[k]);
            pp_error_clear(&err);
            pp_status st = tr->recv(a->p->t, r, src, tags[k], buf, sizes[k],
                                    10000, &err);
            EXPECT(st == PP_OK, "recv %d -> %d, tag %d: %s", src, r, k,
                   err.msg);
            size_t bad = 0;
            while (!st && bad < sizes[k] && buf[bad] == content(src, r, k, bad))
                bad++;
            EXPECT(st || bad == sizes[k],
                   "message %d -> %d, tag %d: byte %zu of %zu differs", src,
                   r, k, bad, sizes[k]);
        }
    free(buf);
    return NULL;
}

typedef struct waiter {
    probe *p;
    int rank, src, timeout_ms;
    pp_status st;
    long ms;
    char msg[PP_ERROR_MAX];
} waiter;

/* A recv for a message nobody sends. */
static void *wait_in_recv(void *arg)
{
    waiter *w = arg;
    pp_error err;
    pp_error_clear(&err);
    unsigned char byte;
    long start = now_ms();
    w->st = w->p->tr->recv(w->p->t, w->rank, w->src, UINT64_C(0xdead),
                           &byte, 1, w->timeout_ms, &err);
    w->ms = now_ms() - start;
    snprintf(w->msg, sizeof w->msg, "%s", err.msg);
    return NULL;
}

/* Every process at once: an allgather as a barrier. */
static void barrier(const probe *p)
{
    int mine = me, all[PROCESSES];
    pp_error err;
    EXPECT(p->job->allgather(&mine, all, sizeof mine, 60000, &err) == PP_OK,
           "barrier: %s", err.msg);
}

static void check_place(const probe *p, const pp_job_place *place)
{
    EXPECT(place->processes == PROCESSES, "%d processes, expected %d",
           place->processes, PROCESSES);
    const char *rank = getenv("OMPI_COMM_WORLD_RANK");
    if (!rank)
        rank = getenv("PMI_RANK");
    if (rank)
        EXPECT(place->process == atoi(rank), "process %d, launcher says %s",
               place->process, rank);
    EXPECT(place->node == 0 && place->nodes == 1, "node %d of %d, expected "
           "0 of 1", place->node, place->nodes);
    EXPECT(place->local == place->process && place->locals == PROCESSES,
           "local %d of %d, expected %d of %d", place->local, place->locals,
           place->process, PROCESSES);
    EXPECT(place->host[0] != '\0', "no host name");

    int mine[2] = {place->process, place->process * 1000 + 7};
    int all[PROCESSES][2];
    pp_error err;
    pp_error_clear(&err);
    EXPECT(p->job->allgather(mine, all, sizeof mine, 60000, &err) == PP_OK,
           "allgather: %s", err.msg);
    for (int q = 0; q < PROCESSES; q++)
        EXPECT(all[q][0] == q && all[q][1] == q * 1000 + 7,
               "allgather: process %d gave {%d, %d}", q, all[q][0],
               all[q][1]);
}

/* A recv that times out says who waited for whom, how long, and why. */
static void check_timeout(probe *p)
{
    int rank = PER_PROCESS * me, src = (rank + PER_PROCESS) % RANKS;
    waiter w = {p, rank, src, 150, PP_OK, 0, ""};
    wait_in_recv(&w);
    char head[128], tail[256];
    snprintf(head, sizeof head, "rank %d waited ", rank);
    snprintf(tail, sizeof tail, " ms for a message from rank %d (tag "
             "0xdead) and none came: process %d, which runs rank %d, may "
             "have died or hung", src, process_of[src], src);
    EXPECT(w.st == PP_ERR_RUNTIME, "recv without a message: status %d",
           w.st);
    EXPECT(strncmp(w.msg, head, strlen(head)) == 0 && strstr(w.msg, tail),
           "timeout message: '%s'", w.msg);
    EXPECT(w.ms >= 150 && w.ms < 5000, "timed out after %ld ms, asked 150",
           w.ms);
}

/* abort wakes a recv that would wait forever; later calls fail at once. */
static void check_abort(probe *p)
{
    waiter w = {p, PER_PROCESS * me + 1, PER_PROCESS * me, -1, PP_OK, 0, ""};
    pthread_t th;
    pthread_create(&th, NULL, wait_in_recv, &w);
    struct timespec pause = {0, 200 * 1000000L};
    nanosleep(&pause, NULL);
    p->tr->abort(p->t);
    pthread_join(th, NULL);
    EXPECT(w.st == PP_ERR_RUNTIME &&
           strcmp(w.msg, "stopped: another rank failed") == 0,
           "recv woken by abort: status %d, '%s'", w.st, w.msg);
    EXPECT(w.ms >= 150, "recv returned after %ld ms, before abort", w.ms);

    w.timeout_ms = 10000;
    wait_in_recv(&w);
    EXPECT(w.st == PP_ERR_RUNTIME && w.ms < 1000,
           "recv after abort: status %d after %ld ms", w.st, w.ms);
    pp_error err;
    unsigned char byte = 0;
    EXPECT(p->tr->send(p->t, w.rank, 0, 1, &byte, 1, &err) ==
           PP_ERR_RUNTIME, "send after abort succeeded");
}

static int run(probe *p)
{
    pp_job_place place;
    pp_error err;
    pp_error_clear(&err);
    EXPECT(p->job->detect() == 1, "detect() is not 1 under mpirun");
    if (p->job->init(&place, &err)) {
        fprintf(stderr, "mpi_probe: init: %s\n", err.msg);
        return 1;
    }
    me = place.process;
    check_place(p, &place);

    void *none = NULL;
    EXPECT(p->tr->create(RANKS, &none, &err) == PP_ERR_RUNTIME &&
           strstr(err.msg, "start pipette under mpirun"),
           "create in a job: '%s'", err.msg);
    pp_transport_job job = {place.process, place.processes, process_of,
                            p->job};
    if (p->tr->create_job(RANKS, &job, &p->t, &err)) {
        fprintf(stderr, "mpi_probe: create_job: %s\n", err.msg);
        p->job->abort(1);
    }
    EXPECT(p->tr->send(p->t, (PER_PROCESS * me + PER_PROCESS) % RANKS, 0, 1,
                       "x", 1, &err) == PP_ERR_RUNTIME &&
           strstr(err.msg, "cannot send from rank"),
           "send from another process's rank: '%s'", err.msg);

    pthread_t th[PER_PROCESS];
    rank_arg arg[PER_PROCESS];
    for (int i = 0; i < PER_PROCESS; i++) {
        arg[i] = (rank_arg){p, PER_PROCESS * me + i};
        pthread_create(&th[i], NULL, exchange, &arg[i]);
    }
    for (int i = 0; i < PER_PROCESS; i++)
        pthread_join(th[i], NULL);
    barrier(p);
    check_timeout(p);
    barrier(p);
    check_abort(p);
    p->tr->destroy(p->t);
    barrier(p);
    int failed = atomic_load(&failures);
    if (!failed && me == 0)
        printf("mpi_probe: ok (%d processes, %d ranks)\n", PROCESSES, RANKS);
    p->job->finalize();
    return failed != 0;
}

/* Each rank waits, long, for a message nobody sends. */
static int wait_mode(probe *p, const char *dir)
{
    pp_job_place place;
    pp_error err;
    if (p->job->init(&place, &err)) {
        fprintf(stderr, "mpi_probe: init: %s\n", err.msg);
        return 1;
    }
    me = place.process;
    pp_transport_job job = {place.process, place.processes, process_of,
                            p->job};
    if (place.processes != PROCESSES ||
        p->tr->create_job(RANKS, &job, &p->t, &err)) {
        fprintf(stderr, "mpi_probe: create_job: %s\n", err.msg);
        p->job->abort(1);
    }
    char path[4096], ready[4096];
    snprintf(path, sizeof path, "%s/ready.%d.tmp", dir, me);
    snprintf(ready, sizeof ready, "%s/ready.%d", dir, me);
    FILE *f = fopen(path, "w");
    if (!f || fprintf(f, "%ld\n", (long)getpid()) < 0 || fclose(f) ||
        rename(path, ready)) {
        fprintf(stderr, "mpi_probe: cannot write %s\n", ready);
        p->job->abort(1);
    }
    waiter w[PER_PROCESS];
    pthread_t th[PER_PROCESS];
    for (int i = 0; i < PER_PROCESS; i++) {
        int rank = PER_PROCESS * me + i;
        w[i] = (waiter){p, rank, (rank + PER_PROCESS) % RANKS, 120000,
                        PP_OK, 0, ""};
        pthread_create(&th[i], NULL, wait_in_recv, &w[i]);
    }
    for (int i = 0; i < PER_PROCESS; i++) {
        pthread_join(th[i], NULL);
        fprintf(stderr, "mpi_probe: rank %d: %s\n", w[i].rank, w[i].msg);
    }
    p->job->abort(1);
    return 1;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    if (strcmp(mode, "detect") && strcmp(mode, "run") &&
        (strcmp(mode, "wait") || argc != 3)) {
        fprintf(stderr, "usage: mpi_probe detect | run | wait DIR\n");
        return 2;
    }
    pp_registry *reg;
    pp_error err;
    pp_error_clear(&err);
    if (pp_registry_create(NULL, &reg, &err)) {
        fprintf(stderr, "mpi_probe: %s\n", err.msg);
        return 1;
    }
    probe p = {load(reg, PP_KIND_JOB, "mpi-job"),
               load(reg, PP_KIND_TRANSPORT, "mpi"), NULL};
    int rc = 1;
    if (!p.job || !p.tr)
        rc = 1;
    else if (strcmp(mode, "detect") == 0)
        rc = printf("detect %d\n", p.job->detect()) < 0;
    else if (strcmp(mode, "run") == 0)
        rc = run(&p);
    else
        rc = wait_mode(&p, argv[2]);
    pp_registry_free(reg);
    return rc;
}
