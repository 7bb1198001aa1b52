/* plugins/nccl_route.h - what the nccl transport's two files share: its
 * routes (one per linked direction), the transport holding them, the
 * library checks, and the watchdog (nccl_watch.c) that bounds receives
 * waiting on a device. Private to nccl.so.
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

/* One receive on the device, between two events of the receive stream. */
typedef struct watch {
    cudaEvent_t begun, landed;
    int timeout_ms; /* < 0: no bound */
    double since;   /* monotonic ms when begun was first seen passed */
    int live;       /* landed has not been seen passed yet */
} watch;

/* One direction src -> dst. comm[0] is NCCL rank 0 on src's GPU, comm[1]
 * rank 1 on dst's; a self link has comm[0] alone. The pool is used only
 * by src's thread; the queue, the watches and the comms by both and the
 * watchdog, under lock. */
typedef struct route {
    int src, dst, sdev, ddev;
    cudaStream_t scompute, dcompute, send, recv;
    cudaEvent_t copied, ready;
    ncclComm_t comm[2];
    int warm;         /* warm_up finished: nothing of open is in flight */
    buffer *pool;
    int npool;
    watch *watch;
    int nwatch;
    pthread_mutex_t lock;
    pthread_cond_t posted_cv;
    posted *q;
    size_t head, len, cap;
} route;

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
    int nroutes;
    route routes[];
} transport;

/* nccl.c: wakes every waiting receive and aborts every communicator. */
void nccl_abort(void *handle);

/* nccl_watch.c */
/* Under r->lock, dst's device current: a watch for the next receive,
 * recycled once its receive has landed. */
pp_status nccl_watch_take(route *r, int timeout_ms, watch **out,
                          pp_error *err);
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
