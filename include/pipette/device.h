/* pipette/device.h - the table a device plugin fills.
 *
 * libpipette never links CUDA: a device kind ("cpu" built in, "cuda" as a
 * plugin) is a table of operations, so the core runs anywhere and a machine
 * without a GPU loads and tests everything else. Fields are only ever
 * appended, with an ABI minor bump (pipette/plugin.h keeps the changelog).
 *
 * A [pipeline] devices entry NAME or NAME:N puts a rank on device N (0
 * when omitted) of the device plugin NAME, found by name like every
 * plugin; cpu is built into libpipette and found the same way. The
 * table's `memory` says where its buffers live, which decides the half of
 * each layer a rank runs (host: pp_layer_ops.cpu, cuda: .cuda) and the
 * transports that can carry its messages (pipette/transport.h).
 *
 * Required: memory and every entry (the loader names one left NULL; a
 * device built for 2.1 has no gradient norm, and a model that clips or
 * skips steps that are not finite is refused on it).
 * Several ranks' threads call a device at once, each with its own
 * pp_device_rank; count, info and versions may come from any thread.
 *
 * All pointers passed to copy live on the device `index` unless the copy
 * kind says otherwise. The operations before `use` are synchronous; from
 * `use` on, a rank's work is queued on its stream (except sync,
 * event_sync, event_elapsed and the allocations).
 */
#ifndef PIPETTE_DEVICE_H
#define PIPETTE_DEVICE_H

#include <stddef.h>
#include <stdint.h>

#include <pipette/error.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The kinds of memory a buffer can live in, as bits: a device's buffers
 * live in one, a transport moves a set of them. */
enum {
    PP_MEMORY_HOST = 1u << 0, /* host memory (the cpu device) */
    PP_MEMORY_CUDA = 1u << 1  /* CUDA device memory */
};

typedef struct pp_device_info {
    int index;
    char name[128];
    uint64_t total_bytes;
    uint64_t free_bytes;
    int cc_major, cc_minor;   /* compute capability; 0.0 for cpu */
    int multiprocessors;      /* SMs; logical cores for cpu */
} pp_device_info;

typedef enum pp_copy_kind {
    PP_COPY_HOST_TO_DEVICE = 1,
    PP_COPY_DEVICE_TO_HOST,
    PP_COPY_DEVICE_TO_DEVICE
} pp_copy_kind;

/* What one rank computes with on a device: a stream of its own and the
 * library handles bound to it (cuda: cuBLAS, cuDNN); all NULL on cpu. */
typedef struct pp_device_rank {
    int index;
    void *stream;
    void *blas;
    void *dnn;
} pp_device_rank;

typedef struct pp_device_ops {
    /* Where its buffers live: one PP_MEMORY_* kind. */
    unsigned memory;

    /* How many devices answer. None answering is not an error: *n = 0 and
     * `why` (if not NULL) gets the reason, e.g. the driver's message. */
    pp_status (*count)(int *n, char *why, size_t why_size, pp_error *err);
    pp_status (*info)(int index, pp_device_info *out, pp_error *err);
    /* Runtime and library versions, one "name: version" per line. */
    void (*versions)(char *buf, size_t size);

    pp_status (*alloc)(int index, size_t bytes, void **ptr, pp_error *err);
    void (*release)(int index, void *ptr);
    pp_status (*copy)(int index, void *dst, const void *src, size_t bytes,
                      pp_copy_kind kind, pp_error *err);

    /* For training. A rank's thread first calls use() (the device is
     * current per thread), then queues its work on its rank's stream:
     * the operations below return before it has run, except sync(). The
     * cpu device runs everything at once. */
    pp_status (*use)(int index, pp_error *err);
    pp_status (*rank_open)(int index, pp_device_rank *out, pp_error *err);
    void (*rank_close)(pp_device_rank *r);
    pp_status (*copy_async)(const pp_device_rank *r, void *dst,
                            const void *src, size_t bytes, pp_copy_kind kind,
                            pp_error *err);
    pp_status (*zero_async)(const pp_device_rank *r, void *x, size_t bytes,
                            pp_error *err);
    /* Waits until everything queued on the rank's stream has run. */
    pp_status (*sync)(const pp_device_rank *r, pp_error *err);

    /* Events, so that work on different streams (ranks, transports)
     * is ordered on the device and the host waits only where it must.
     * An event belongs to r's device; `timing` events can be timed with
     * event_elapsed, the others are cheaper to record. */
    pp_status (*event_create)(const pp_device_rank *r, int timing, void **ev,
                              pp_error *err);
    void (*event_destroy)(const pp_device_rank *r, void *ev);
    /* Marks the point that r's stream has reached in what is queued. */
    pp_status (*event_record)(const pp_device_rank *r, void *ev,
                              pp_error *err);
    /* Work queued on r's stream from now on starts after ev's point; ev
     * may belong to another rank's stream or device of this kind. */
    pp_status (*event_wait)(const pp_device_rank *r, void *ev,
                            pp_error *err);
    /* Blocks the calling thread until ev's point has run. */
    pp_status (*event_sync)(void *ev, pp_error *err);
    /* Milliseconds from a's point to b's, both timing events recorded on
     * one device and already run. */
    pp_status (*event_elapsed)(void *a, void *b, double *ms, pp_error *err);
    /* Host memory that copies to and from the device can use without
     * waiting for the stream (page-locked on cuda). */
    pp_status (*host_alloc)(size_t bytes, void **ptr, pp_error *err);
    void (*host_release)(void *ptr);
    /* y[i] += x[i], queued on r's stream: one rounded add per element,
     * the same bits on every device (the sum of a shared parameter's
     * gradients must be one value on every rank that holds a copy). */
    pp_status (*add_async)(const pp_device_rank *r, float *y, const float *x,
                           size_t n, pp_error *err);
    /* The global gradient norm, to clip by ([train] grad_clip) and to
     * check before every step ([train] on_nonfinite) (2.2).
     * sumsq_async adds to part[i] (i < parts) the sum of x[j]^2 over the
     * i-th of `parts` equal runs of x[0..n): j from i*n/parts up to
     * (i+1)*n/parts. The order of its additions is fixed, so the same
     * input gives the same bits on every run. */
    pp_status (*sumsq_async)(const pp_device_rank *r, float *part,
                             size_t parts, const float *x, size_t n,
                             pp_error *err);
    /* x[0..n) *= min(1, max_norm / (norm + 1e-6)), norm being the square
     * root of the sum of part[0..parts), summed in double in index order
     * on the device (PyTorch's clip_grad_norm_ coefficient). */
    pp_status (*clip_async)(const pp_device_rank *r, float *x, size_t n,
                            const float *part, size_t parts, float max_norm,
                            pp_error *err);
} pp_device_ops;

/* The built-in cpu device: host memory, plain loops. */
const pp_device_ops *pp_device_cpu(void);

#ifdef __cplusplus
}
#endif

#endif
