/* pipette/transport.h - the table a transport plugin fills: moving a
 * micro-batch's activations or gradients from one rank to another.
 *
 * A message is bytes: a cut's tensors of the model's precision (bf16
 * activations and gradients in bf16: half FP32's bytes), or FP32
 * gradients that a group sums.
 *
 * Messages are matched by (source, destination, tag); a tag names what the
 * message is (the step, the micro-batch, the stage, activation or
 * gradient), so the order in which sends and receives happen does not
 * matter (unless the transport says PP_ORDER_SENT). send never waits for
 * the receiver. recv waits until the message arrives, the timeout
 * passes, or the transport is aborted (another rank failed), so a run
 * never hangs; a stream-ordered receive that waits on the device is
 * bounded the same way, through check.
 *
 * Two halves. The host half (create, send, recv) moves host memory and
 * blocks. The stream-ordered half (open, send_async, recv_async) moves
 * memory of the ranks' devices: a send or receive is queued on the rank's
 * stream like a kernel, so no rank's host thread waits for its device and
 * the device never waits for a host. A transport fills either half or
 * both; destroy and abort serve both. The runtime uses the stream-ordered
 * half where there is one, else the host half.
 *
 * What it connects. The table's first fields say which directions
 * src -> dst a transport can carry:
 *   reach   PP_REACH_THREADS for ranks of one process, PP_REACH_PROCESSES
 *           for ranks of different processes;
 *   memory  the PP_MEMORY_* kinds it moves as they are. The host half
 *           moves host memory (say PP_MEMORY_HOST) and can carry any pair:
 *           a rank whose buffers live elsewhere stages its messages
 *           through host memory. The stream-ordered half carries a pair
 *           whose two devices are of one kind (their events wait on each
 *           other) with that kind's memory in `memory`;
 *   needs   PP_NEEDS_TWO_DEVICES: the two ranks are on different devices;
 *   order   PP_ORDER_SENT: the receiver takes the direction's messages in
 *           the order they were sent (the schedule says; zb-v's does not);
 *   cost    at least 1.
 * `transport = auto` routes each direction through one of the transport
 * plugins found on the search path that can carry it: one that moves
 * both ranks' memory as it is before one that stages it, then the lowest
 * cost, then the first name in byte order. A named transport carries
 * every direction it can, and the others are routed as under auto. The
 * shipped ones: local (host half; cost 10), nccl (cuda memory, two
 * devices, in send order, also across processes; 10), peer
 * (stream-ordered, host or cuda; 20):
 * local between cpu ranks and between a cpu rank and a GPU rank, peer on
 * one GPU, nccl between two GPUs, peer where nccl's order does not hold;
 * and where configure found MPI, mpi (host half, ranks of different
 * processes; 30).
 *
 * Ranks in several processes. A run started by a launcher (pipette/job.h)
 * opens a transport that reaches other processes with create_job or
 * open_job, which say which process runs each rank; every process calls
 * it at once, and each process's ranks then send and receive as above.
 *
 * Sums. The replicas of a stage ([parallel] data) add up their gradients
 * in a group. By default every member sends its copy to every other and
 * each adds them up in the group's order. A transport that fills
 * group_open and sum_async sums a group itself (nccl: ncclAllReduce);
 * the runtime lets it where it carries every pair of the group.
 *
 * Required: memory, reach, cost, destroy, abort, and one whole half; with
 * PP_REACH_PROCESSES (from ABI 2.3), create_job for the host half and
 * open_job for the stream-ordered half, for each half it fills.
 * Optional: reserve, check, and group_open with sum_async. Each rank
 * calls send and recv (or the stream-ordered pair, or sum_async) from its
 * own thread, at once with the others; abort may come from any thread.
 */
#ifndef PIPETTE_TRANSPORT_H
#define PIPETTE_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include <pipette/device.h>
#include <pipette/error.h>
#include <pipette/job.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The ranks a transport connects: bits of pp_transport_ops.reach. */
enum {
    PP_REACH_THREADS = 1u << 0,  /* ranks that are threads of one process */
    PP_REACH_PROCESSES = 1u << 1 /* ranks in different processes */
};

/* How a transport matches a direction's messages (.order). */
typedef enum pp_transport_order {
    PP_ORDER_TAG = 0, /* by tag: they may be received in any order */
    PP_ORDER_SENT     /* in the order sent, which the receiver must keep */
} pp_transport_order;

/* What a transport needs of the two ranks of a pair: bits of .needs. */
enum {
    PP_NEEDS_TWO_DEVICES = 1u << 0 /* on different devices (NCCL refuses
                                      two ranks of one communicator on
                                      one GPU) */
};

/* What a stream-ordered transport knows of a rank: its device's table and
 * its stream. Valid from open until destroy. */
typedef struct pp_transport_rank {
    const pp_device_ops *dev;
    const pp_device_rank *dr;
} pp_transport_rank;

/* The ranks' processes, for a transport that reaches other processes
 * (PP_REACH_PROCESSES). process_of is valid during create_job or
 * open_job only: a transport copies what it keeps. */
typedef struct pp_transport_job {
    int process, processes;  /* this process, and how many */
    const int *process_of;   /* [ranks]: each rank's process */
    const pp_job_ops *ops;   /* allgather, to bootstrap (an ncclUniqueId) */
} pp_transport_job;

typedef struct pp_transport_ops {
    /* What it connects (see the top of this file). memory, reach and cost
     * must be set. */
    unsigned memory; /* PP_MEMORY_* bits (pipette/device.h) */
    unsigned reach;  /* PP_REACH_* bits */
    unsigned needs;  /* PP_NEEDS_* bits, or 0 */
    unsigned order;  /* a pp_transport_order */
    unsigned cost;   /* auto takes the cheapest that fits */

    pp_status (*create)(int ranks, void **t, pp_error *err);
    void (*destroy)(void *t);
    /* Copies bytes from buf now; buf can be reused when send returns. */
    pp_status (*send)(void *t, int src, int dst, uint64_t tag,
                      const void *buf, size_t bytes, pp_error *err);
    /* Fills buf with the message (exactly bytes long). timeout_ms < 0
     * waits forever. PP_ERR_RUNTIME on timeout or abort. */
    pp_status (*recv)(void *t, int dst, int src, uint64_t tag, void *buf,
                      size_t bytes, int timeout_ms, pp_error *err);
    /* Wakes every waiting recv with an error; later calls fail at once. */
    void (*abort)(void *t);

    /* The stream-ordered half. links[src * ranks + dst] is nonzero
     * for every pair whose messages this transport carries: open sets them
     * all up (communicators, streams, events), so the steady state
     * allocates nothing it has not used before. */
    pp_status (*open)(int ranks, const pp_transport_rank *rank,
                      const unsigned char *links, void **t, pp_error *err);
    /* Queued on src's stream: the message is buf as the work queued
     * before leaves it, and the work queued after may overwrite buf at
     * once. Never waits for the receiver. */
    pp_status (*send_async)(void *t, int src, int dst, uint64_t tag,
                            const void *buf, size_t bytes, pp_error *err);
    /* Queued on dst's stream: the work queued after sees buf filled with
     * the message. May block the host, up to timeout_ms (< 0: forever),
     * until the sender has queued its send; PP_ERR_RUNTIME on timeout or
     * abort. */
    pp_status (*recv_async)(void *t, int dst, int src, uint64_t tag,
                            void *buf, size_t bytes, int timeout_ms,
                            pp_error *err);
    /* Optional: makes ready, before the first send, what `count`
     * messages of `bytes` from src to dst in flight at once will need
     * (the runtime calls it after open with each direction's messages of
     * one step), so that a run allocates its memory before step 1. */
    pp_status (*reserve)(void *t, int src, int dst, size_t bytes, int count,
                         pp_error *err);

    /* Optional: PP_OK, or the failure the transport met on a device
     * on its own: a receive that started there and got no message within
     * its timeout_ms, or an asynchronous error of the library. The
     * runtime asks after each rank's step, once its stream has drained:
     * a transport that fails this way ends its stuck work as abort does,
     * so the drain returns, and only this call says the step is bad. */
    pp_status (*check)(void *t, pp_error *err);

    /* 2.3, required with PP_REACH_PROCESSES (refused at load otherwise):
     * create / open for ranks spread over processes. Only this process's
     * ranks call send and recv (or the stream-ordered pair) with
     * themselves as src (send) or dst (recv); in open_job the
     * pp_transport_rank entries of other processes' ranks are zero. Every
     * process calls it at once (it may be collective). */
    pp_status (*create_job)(int ranks, const pp_transport_job *job, void **t,
                            pp_error *err);
    pp_status (*open_job)(int ranks, const pp_transport_rank *rank,
                          const unsigned char *links,
                          const pp_transport_job *job, void **t,
                          pp_error *err);

    /* 2.3, optional, both or neither, with the stream-ordered half: a
     * group's sum (a replicas' gradients) done by the transport itself,
     * e.g. an all-reduce, instead of messages between every two members.
     * The runtime uses it for a group whose every pair this transport
     * carries.
     *
     * group_open: called from the main thread after open (or open_job),
     * before any rank runs, once per such group, groups in one order;
     * ranks[n] are the group's ranks (some maybe of other processes).
     * job is NULL for a transport opened with open (the group's ranks are
     * this process's); after open_job every process calls it for every
     * group, with or without ranks in it, at once (it may be collective,
     * e.g. to share an ncclUniqueId). *id names the group in sum_async. */
    pp_status (*group_open)(void *t, const int *ranks, int n,
                            const pp_transport_job *job, int *id,
                            pp_error *err);
    /* Queued on rank's stream, from rank's thread: the n floats at buf
     * (the rank's device memory) become their sum over the group's ranks,
     * the same bits on every rank (not necessarily the sum taken in the
     * group's order). Every rank of the group calls it with the same n,
     * its sums in one order. A sum that began on the device and has not
     * ended within timeout_ms (< 0: no bound) is reported by check, as a
     * receive stuck on the device is. */
    pp_status (*sum_async)(void *t, int id, int rank, float *buf, size_t n,
                           int timeout_ms, pp_error *err);
} pp_transport_ops;

#ifdef __cplusplus
}
#endif

#endif
