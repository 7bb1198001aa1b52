/* pipette/transport.h - the table a transport plugin fills: moving a
 * micro-batch's activations or gradients from one rank to another.
 *
 * Messages are matched by (source, destination, tag); a tag names what the
 * message is (the step, the micro-batch, the stage, activation or
 * gradient), so the order in which sends and receives happen does not
 * matter. send never waits for the receiver. recv waits until the message
 * arrives, the timeout passes, or the transport is aborted (another rank
 * failed), so a run never hangs; a stream-ordered receive that waits on
 * the device is bounded the same way, through check.
 *
 * Two halves. The host half (create, send, recv) moves host memory and
 * blocks. The stream-ordered half (open, send_async, recv_async) moves memory of the ranks' devices: a send or receive is queued on
 * the rank's stream like a kernel, so no rank's host thread waits for its
 * device and the device never waits for a host. A transport fills either
 * half or both; destroy and abort serve both.
 */
#ifndef PIPETTE_TRANSPORT_H
#define PIPETTE_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include <pipette/device.h>
#include <pipette/error.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What a stream-ordered transport knows of a rank: its device's table and
 * its stream. Valid from open until destroy. */
typedef struct pp_transport_rank {
    const pp_device_ops *dev;
    const pp_device_rank *dr;
} pp_transport_rank;

typedef struct pp_transport_ops {
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
} pp_transport_ops;

#ifdef __cplusplus
}
#endif

#endif
