/* pipette/transport.h - the table a transport plugin fills: moving a
 * micro-batch's activations or gradients from one rank to another.
 *
 * Messages are matched by (source, destination, tag); a tag names what the
 * message is (the step, the micro-batch, the stage, activation or
 * gradient), so the order in which sends and receives happen does not
 * matter. send never waits for the receiver. recv waits until the message
 * arrives, the timeout passes, or the transport is aborted (another rank
 * failed), so a run never hangs.
 */
#ifndef PIPETTE_TRANSPORT_H
#define PIPETTE_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include <pipette/error.h>

#ifdef __cplusplus
extern "C" {
#endif

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
} pp_transport_ops;

#ifdef __cplusplus
}
#endif

#endif
