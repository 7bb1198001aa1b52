/* src/data_ring.h - how a GPU rank's data gets from the data source (on
 * the host) into device memory without making the host wait for the
 * device: two page-locked buffers used in turn, each with an event that
 * marks when the copy out of it has run.
 *
 * A read can be prepared ahead (prefetch): the source writes the samples
 * into a buffer while the device is still busy, and the read that asks for
 * them later only queues the copy. The runtime prefetches the next step's
 * first micro-batch before it waits for the step to end, so making data
 * on the host overlaps the device's work instead of following it.
 */
#ifndef PP_SRC_DATA_RING_H
#define PP_SRC_DATA_RING_H

#include <pipette/pipette.h>

enum { PP_RING_INPUT, PP_RING_TARGET };

typedef struct pp_data_ring {
    const pp_device_ops *dev;
    const pp_device_rank *dr;
    const pp_data_ops *data;
    const void *state;
    int n;                    /* samples per read */
    size_t bf16_inputs;       /* floats of a read's inputs that are
                                 rounded to bf16 in place, or 0 */
    size_t bytes;             /* each buffer's size */
    unsigned char *buf[2];
    void *done[2];            /* the copy out of buf[i] has run */
    int copied[2];            /* done[i] has been recorded */
    int next;                 /* the buffer the next read fills */
    int64_t first[2];         /* a prefetch waiting in buf[i]: its first */
    int what[2];              /* sample and PP_RING_*, or first = -1 */
} pp_data_ring;

/* Buffers of `bytes` on the host of rank dr's device. With bf16_inputs,
 * the source's float inputs (that many) are rounded to bf16 before they
 * are copied: the device gets half the bytes. */
pp_status pp_data_ring_open(pp_data_ring *r, const pp_device_ops *dev,
                            const pp_device_rank *dr, const pp_data_ops *data,
                            const void *state, int n, size_t bytes,
                            size_t bf16_inputs, pp_error *err);

/* Rounds n floats at buf to bf16, packed at buf: in place, front to
 * back (each value is written where floats already read were). */
void pp_floats_to_bf16(void *buf, size_t n);
void pp_data_ring_close(pp_data_ring *r);

/* Queues on dr's stream the copy of samples first .. first + n - 1 (their
 * inputs or targets, `what`) into device memory `to`: from the prefetched
 * buffer when there is one, else made now. */
pp_status pp_data_ring_read(pp_data_ring *r, int64_t first, int what,
                            void *to, size_t bytes, pp_error *err);

/* Makes samples first .. first + n - 1 ready on the host for a later
 * read. Waits only for the copy that last read the buffer it fills. */
pp_status pp_data_ring_prefetch(pp_data_ring *r, int64_t first, int what,
                                pp_error *err);

#endif
