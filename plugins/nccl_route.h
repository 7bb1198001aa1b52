/* plugins/nccl_route.h - what the nccl transport's two files share: its
 * routes (one per linked direction with a half in this process), its
 * groups (the sums, group_open), the transport holding them, the
 * library checks, and the watchdog (nccl_watch.c) that bounds receives
 * and sums waiting on a device. Private to nccl.so.
 */
#ifndef PP_PLUGINS_NCCL_ROUTE_H
#define PP_PLUGINS_NCCL_ROUTE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime_api.h>
#include <nccl.h>

#include <pipette/cuda.h>
#include <pipette/transport.h>

/* PP_CUDA_CHECK and PP_NCCL_CHECK, the failure said to be nccl's:
 * `if (CUDA_TRY(cudaFoo(...), err)) return err->code;` */
pp_status nccl_failed(pp_status st, pp_error *err);
#define CUDA_TRY(call, err) nccl_failed(PP_CUDA_CHECK(call, err), (err))
#define NCCL_TRY(call, err) nccl_failed(PP_NCCL_CHECK(call, err), (err))

typedef struct buffer {
    void *ptr;
    size_t size;
    cudaEvent_t done; /* recorded after the last read of ptr */
    int busy;         /* self link: its send is not queued yet */
} buffer;

typedef struct posted {
    uint64_t tag;
    size_t bytes;
    int buf; /* self link: the snapshot the deferred send reads */
} posted;

/* One receive or sum on the device, between two events of its stream. */
typedef struct watch {
    cudaEvent_t begun, landed;
    int timeout_ms; /* < 0: no bound */
    double since;   /* monotonic ms when begun was first seen passed */
    int live;       /* landed has not been seen passed yet */
} watch;

/* A stream's watches, recycled once their operation has landed. */
typedef struct watches {
    watch *w;
    int n;
} watches;

/* One direction src -> dst. comm[0] is NCCL rank 0 on src's GPU, comm[1]
 * rank 1 on dst's; a self link has comm[0] alone. Across processes
 * (remote) only this process's half is here: the other's comm is NULL,
 * its device -1, and there is no queue (NCCL's order alone matches the
 * messages). The pool is used only by src's thread; the queue, the
 * watches and the comms by both and the watchdog, under lock. */
typedef struct route {
    int src, dst, sdev, ddev;
    int remote;       /* across processes: its number, from 1, among all
                         such directions (the id it gets); else 0 */
    cudaStream_t scompute, dcompute, send, recv;
    cudaEvent_t copied, ready;
    ncclComm_t comm[2];
    int warm;         /* warm_up finished: nothing of open is in flight */
    void *byte;       /* across processes: its warm-up's, on its device */
    buffer *pool;
    int npool;
    watches watch;
    pthread_mutex_t lock;
    pthread_cond_t posted_cv;
    posted *q;
    size_t head, len, cap;
} route;

/* This process's rank in a group that sums (group_open): its
 * communicator, and the sums in flight on its stream. Its thread and the
 * watchdog use them under lock. */
typedef struct member {
    int rank, dev;
    cudaStream_t stream; /* the rank's own */
    ncclComm_t comm;
    void *byte;          /* its warm-up's */
    watches watch;
    pthread_mutex_t lock;
} member;

/* A group that sums: its ranks, and those of this process. */
typedef struct group {
    int n, *rank;
    int nmembers;
    member *member;
    int warm;         /* its warm-up sum finished */
} group;

typedef struct transport {
    atomic_int aborted;
    pthread_mutex_t fail_lock;
    int failed;       /* failure holds why the transport gave up */
    pp_error failure;
    pthread_t watcher;
    int watching;     /* the watcher thread runs */
    pthread_mutex_t watch_lock;
    pthread_cond_t watch_cv;
    int stop;         /* under watch_lock: the watcher is to return */
    int ranks;
    pp_transport_rank *rank; /* [ranks] from open: other processes' zero */
    int *process_of;  /* [ranks]: each rank's process (NULL: one) */
    int *dev;         /* open_job: [ranks] each rank's GPU index, and */
    char (*host)[64]; /* [processes] each process's host (gathered) */
    pthread_mutex_t group_lock; /* groups grow under it */
    group **groups;
    int ngroups;
    int nroutes;
    route routes[];
} transport;

/* nccl.c: wakes every waiting receive and aborts every communicator. */
void nccl_abort(void *handle);

/* nccl_watch.c */
/* Under the lock of the route or member whose watches ws are, the
 * device of their stream current: a watch for the next receive or sum,
 * recycled once its operation has landed. */
pp_status nccl_watch_take(watches *ws, int timeout_ms, watch **out,
                          pp_error *err);
void nccl_watch_free(watches *ws);
/* "0, 2, 4": the group's ranks, into buf. */
const char *nccl_ranks_text(const group *g, char *buf, size_t size);
/* Starts and stops the watchdog thread of an opened transport. */
pp_status nccl_watch_start(transport *t, pp_error *err);
void nccl_watch_stop(transport *t);
/* Adds to err, a receive's timeout on the host, the receive found waiting
 * on a device, if any: the likelier cause. */
void nccl_watch_explain(transport *t, pp_error *err);
/* Why the transport stopped: its own failure if it met one, else that
 * another rank failed. */
pp_status nccl_stopped(transport *t, pp_error *err);
/* PP_OK, or the failure the watchdog met (the check op). */
pp_status nccl_failure(void *handle, pp_error *err);

#endif
