/* tests/emu/cuda_emu_stream.c - the CUDA runtime's streams, events and
 * kernel-launch checks, on the CPU (see cuda_emu.h). Everything runs when
 * it is called, so a stream is only the device it belongs to, and an
 * event the host time at which it was recorded: waits have nothing to
 * wait for, and what is checked is what a GPU would refuse (a handle that
 * is not live, an event recorded on another device's stream, an elapsed
 * time of untimed events).
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <stdlib.h>
#include <time.h>

#include <cuda_runtime_api.h>

#include "cuda_emu.h"

/* ---- streams and events ----------------------------------------------- */

#define STREAM_MAGIC 0x5354524du /* "STRM" */
#define EVENT_MAGIC 0x45564e54u  /* "EVNT" */
#define DEAD_MAGIC 0xdeadu

struct CUstream_st {
    unsigned magic;
    int device;
    unsigned flags;
};

struct CUevent_st {
    unsigned magic;
    int device;
    unsigned flags;
    int recorded;
    struct timespec at;
};

static int default_stream(cudaStream_t s)
{
    return s == NULL || s == cudaStreamLegacy || s == cudaStreamPerThread;
}

cudaError_t pp_emu_stream_device(cudaStream_t s, int *device)
{
    if (default_stream(s)) {
        *device = pp_emu_current_device();
        return cudaSuccess;
    }
    if (s->magic != STREAM_MAGIC)
        return cudaErrorInvalidResourceHandle;
    *device = s->device;
    return cudaSuccess;
}

cudaError_t pp_emu_check_stream(cudaStream_t s)
{
    int device;
    cudaError_t rc = pp_emu_have_device();
    if (rc == cudaSuccess)
        rc = pp_emu_stream_device(s, &device);
    return rc;
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t *pStream,
                                      unsigned int flags)
{
    if (!pStream || (flags & ~(unsigned)cudaStreamNonBlocking))
        return pp_emu_fail(cudaErrorInvalidValue);
    cudaError_t rc = pp_emu_have_device();
    if (rc != cudaSuccess)
        return pp_emu_fail(rc);
    struct CUstream_st *s = malloc(sizeof *s);
    if (!s)
        return pp_emu_fail(cudaErrorMemoryAllocation);
    *s = (struct CUstream_st){STREAM_MAGIC, pp_emu_current_device(),
                              flags};
    *pStream = s;
    return cudaSuccess;
}

cudaError_t cudaStreamCreate(cudaStream_t *pStream)
{
    return cudaStreamCreateWithFlags(pStream, cudaStreamDefault);
}

cudaError_t cudaStreamDestroy(cudaStream_t stream)
{
    if (default_stream(stream) || stream->magic != STREAM_MAGIC)
        return pp_emu_fail(cudaErrorInvalidResourceHandle);
    stream->magic = DEAD_MAGIC;
    free(stream);
    return cudaSuccess;
}

/* Everything queued has run already. */
cudaError_t cudaStreamSynchronize(cudaStream_t stream)
{
    return pp_emu_fail(pp_emu_check_stream(stream));
}

static cudaError_t check_event(cudaEvent_t e)
{
    return e && e->magic == EVENT_MAGIC ? cudaSuccess
                                        : cudaErrorInvalidResourceHandle;
}

cudaError_t cudaEventCreateWithFlags(cudaEvent_t *event, unsigned int flags)
{
    const unsigned known = cudaEventBlockingSync | cudaEventDisableTiming |
                           cudaEventInterprocess;
    if (!event || (flags & ~known) ||
        ((flags & cudaEventInterprocess) &&
         !(flags & cudaEventDisableTiming)))
        return pp_emu_fail(cudaErrorInvalidValue);
    cudaError_t rc = pp_emu_have_device();
    if (rc != cudaSuccess)
        return pp_emu_fail(rc);
    struct CUevent_st *e = calloc(1, sizeof *e);
    if (!e)
        return pp_emu_fail(cudaErrorMemoryAllocation);
    e->magic = EVENT_MAGIC;
    e->device = pp_emu_current_device();
    e->flags = flags;
    *event = e;
    return cudaSuccess;
}

cudaError_t cudaEventCreate(cudaEvent_t *event)
{
    return cudaEventCreateWithFlags(event, cudaEventDefault);
}

cudaError_t cudaEventDestroy(cudaEvent_t event)
{
    if (check_event(event) != cudaSuccess)
        return pp_emu_fail(cudaErrorInvalidResourceHandle);
    event->magic = DEAD_MAGIC;
    free(event);
    return cudaSuccess;
}

/* The event and the stream must belong to one device (one context). */
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream)
{
    int device;
    cudaError_t rc = check_event(event);
    if (rc == cudaSuccess)
        rc = pp_emu_stream_device(stream, &device);
    if (rc != cudaSuccess)
        return pp_emu_fail(rc);
    if (device != event->device) {
        pp_emu_complain("cudaEventRecord: event of device %d recorded on "
                        "a stream of device %d", event->device, device);
        return pp_emu_fail(cudaErrorInvalidResourceHandle);
    }
    clock_gettime(CLOCK_MONOTONIC, &event->at);
    event->recorded = 1;
    return cudaSuccess;
}

cudaError_t cudaEventQuery(cudaEvent_t event)
{
    return pp_emu_fail(check_event(event));
}

cudaError_t cudaEventSynchronize(cudaEvent_t event)
{
    return pp_emu_fail(check_event(event));
}

/* Across devices too: an event may order another device's stream. */
cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event,
                                unsigned int flags)
{
    if (flags & ~(unsigned)cudaEventWaitExternal)
        return pp_emu_fail(cudaErrorInvalidValue);
    cudaError_t rc = pp_emu_check_stream(stream);
    if (rc == cudaSuccess)
        rc = check_event(event);
    return pp_emu_fail(rc);
}

cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t start,
                                 cudaEvent_t end)
{
    if (!ms)
        return pp_emu_fail(cudaErrorInvalidValue);
    cudaError_t rc = check_event(start);
    if (rc == cudaSuccess)
        rc = check_event(end);
    if (rc != cudaSuccess)
        return pp_emu_fail(rc);
    /* Never recorded, or made without timing: CUDA's answer for both. */
    if (!start->recorded || !end->recorded ||
        (start->flags & cudaEventDisableTiming) ||
        (end->flags & cudaEventDisableTiming))
        return pp_emu_fail(cudaErrorInvalidResourceHandle);
    *ms = (float)((double)(end->at.tv_sec - start->at.tv_sec) * 1e3 +
                  (double)(end->at.tv_nsec - start->at.tv_nsec) * 1e-6);
    return cudaSuccess;
}

/* ---- kernel launches -------------------------------------------------- */

int pp_emu_check_launch(const char *file, int line, cudaStream_t stream,
                        int n, const void *const *pointers)
{
    int device, current = pp_emu_current_device();
    cudaError_t rc = pp_emu_have_device();
    if (rc == cudaSuccess)
        rc = pp_emu_stream_device(stream, &device);
    if (rc == cudaSuccess && device != current) {
        pp_emu_complain("%s:%d: kernel launched on a stream of device %d "
                        "while device %d is current", file, line, device,
                        current);
        rc = cudaErrorInvalidResourceHandle;
    }
    for (int i = 0; rc == cudaSuccess && i < n; i++) {
        int owner = -1;
        if (!pointers[i])
            continue;
        pp_emu_mem m = pp_emu_locate(pointers[i], 1, &owner);
        if (m == PP_EMU_PAGEABLE) {
            pp_emu_complain("%s:%d: kernel argument %d (%p) is not device "
                            "memory", file, line, i + 1, pointers[i]);
            rc = cudaErrorIllegalAddress;
        } else if (m == PP_EMU_DEVICE &&
                   !pp_emu_can_reach(current, owner)) {
            pp_emu_complain("%s:%d: kernel argument %d (%p) is memory of "
                            "device %d, no peer of device %d", file, line,
                            i + 1, pointers[i], owner, current);
            rc = cudaErrorIllegalAddress;
        }
    }
    return pp_emu_fail(rc);
}
