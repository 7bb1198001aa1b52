/* tests/emu/cuda_emu.c - the CUDA runtime as pipette uses it, on the CPU
 * (cuda_emu.h says what the emulator is and is not).
 * Environment, read once:
 *   PIPETTE_EMU_GPUS     devices emulated (default 1, at most
 *                        PP_EMU_MAX_GPUS; 0: cudaGetDeviceCount says
 *                        cudaErrorNoDevice, as a driver without a GPU does)
 *   PIPETTE_EMU_MEM_MIB  memory of each device (default 2048)
 *   PIPETTE_EMU_CC       compute capability, major * 10 + minor (default
 *                        90, a Hopper; 75 is a Turing, without bf16)
 *   PIPETTE_EMU_SYNC     1: run everything at the call (default 0)
 *   PIPETTE_EMU_JITTER_US  most a stream's worker sleeps before each
 *                        item (default 200; 0: never)
 *
 * Device memory is aligned_alloc()ed host memory, filled with 0xff bytes
 * (NaN as floats) so that a kernel reading what nobody wrote shows up;
 * each device's allocations count against its memory, and
 * cudaMemGetInfo answers from that count. Copies and memsets are checked
 * when called and queued on their stream (cuda_emu_stream.c); the host
 * waits for them where the runtime API's "API synchronization behavior"
 * says it does, and no further. The current device and the last error
 * are the calling thread's, as in CUDA.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cuda_runtime_api.h>

#include "cuda_emu.h"
#include "cuda_emu_errors.h"

#define PP_EMU_ALIGN 256 /* cudaMalloc's alignment */

/* ---- configuration ---------------------------------------------------- */

static struct {
    int gpus;
    int cc;               /* compute capability, major * 10 + minor */
    size_t mem_bytes;
    int sync;
    long jitter_us;
} config;
static pthread_once_t config_once = PTHREAD_ONCE_INIT;

static long env_long(const char *name, long dflt, long lo, long hi)
{
    const char *s = getenv(name);
    if (!s || !*s)
        return dflt;
    char *end;
    long v = strtol(s, &end, 10);
    if (*end || v < lo || v > hi) {
        pp_emu_complain("%s=%s is not a number from %ld to %ld; using %ld",
                        name, s, lo, hi, dflt);
        return dflt;
    }
    return v;
}

static void read_config(void)
{
    config.gpus = (int)env_long("PIPETTE_EMU_GPUS", 1, 0, PP_EMU_MAX_GPUS);
    config.cc = (int)env_long("PIPETTE_EMU_CC", 90, 10, 129);
    config.mem_bytes =
        (size_t)env_long("PIPETTE_EMU_MEM_MIB", 2048, 1, 1L << 20) << 20;
    config.sync = (int)env_long("PIPETTE_EMU_SYNC", 0, 0, 1);
    config.jitter_us = env_long("PIPETTE_EMU_JITTER_US", 200, 0, 1000000);
}

int pp_emu_sync_mode(void)
{
    pthread_once(&config_once, read_config);
    return config.sync;
}

long pp_emu_jitter_us(void)
{
    pthread_once(&config_once, read_config);
    return config.jitter_us;
}

int pp_emu_device_count(void)
{
    pthread_once(&config_once, read_config);
    return config.gpus;
}

void pp_emu_complain(const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "pipette CUDA emulator: %s\n", line);
}

/* ---- per thread: current device, last error --------------------------- */

static _Thread_local int current_device;
static _Thread_local cudaError_t last_error;

int pp_emu_current_device(void)
{
    return current_device;
}

/* Every failing call is also the thread's last error, as in CUDA. */
cudaError_t pp_emu_fail(cudaError_t rc)
{
    if (rc != cudaSuccess)
        last_error = rc;
    return rc;
}

/* cudaSuccess where there is a device to work on. */
cudaError_t pp_emu_have_device(void)
{
    return pp_emu_device_count() > 0 ? cudaSuccess : cudaErrorNoDevice;
}

static cudaError_t valid_device(int device)
{
    if (pp_emu_device_count() == 0)
        return cudaErrorNoDevice;
    return device >= 0 && device < pp_emu_device_count()
               ? cudaSuccess
               : cudaErrorInvalidDevice;
}

/* ---- errors and versions ---------------------------------------------- */

static const struct pp_emu_code *find_code(const struct pp_emu_code *t,
                                           size_t n, int code)
{
    for (size_t i = 0; i < n; i++)
        if (t[i].code == code)
            return &t[i];
    return NULL;
}

#define CUDA_CODE(rc)                                                       \
    find_code(pp_emu_cuda_errors,                                           \
              sizeof pp_emu_cuda_errors / sizeof *pp_emu_cuda_errors,       \
              (int)(rc))

const char *cudaGetErrorName(cudaError_t error)
{
    const struct pp_emu_code *c = CUDA_CODE(error);
    return c ? c->name : "unrecognized error code";
}

const char *cudaGetErrorString(cudaError_t error)
{
    const struct pp_emu_code *c = CUDA_CODE(error);
    return c ? c->text : "unrecognized error code";
}

/* The launch errors of kernels (kernel_emu.cc) join the runtime's here. */
cudaError_t cudaGetLastError(void)
{
    cudaError_t rc = last_error;
    cudaError_t launch = (cudaError_t)pp_emu_take_launch_error();
    last_error = cudaSuccess;
    return rc != cudaSuccess ? rc : launch;
}

cudaError_t cudaRuntimeGetVersion(int *runtimeVersion)
{
    if (!runtimeVersion)
        return pp_emu_fail(cudaErrorInvalidValue);
    *runtimeVersion = CUDART_VERSION;
    return cudaSuccess;
}

/* A driver as new as the runtime, installed even with no device. */
cudaError_t cudaDriverGetVersion(int *driverVersion)
{
    if (!driverVersion)
        return pp_emu_fail(cudaErrorInvalidValue);
    *driverVersion = CUDART_VERSION;
    return cudaSuccess;
}

/* ---- devices ---------------------------------------------------------- */

cudaError_t cudaGetDeviceCount(int *count)
{
    if (!count)
        return pp_emu_fail(cudaErrorInvalidValue);
    *count = pp_emu_device_count();
    return *count > 0 ? cudaSuccess : pp_emu_fail(cudaErrorNoDevice);
}

cudaError_t cudaSetDevice(int device)
{
    cudaError_t rc = valid_device(device);
    if (rc != cudaSuccess)
        return pp_emu_fail(rc);
    current_device = device;
    return cudaSuccess;
}

cudaError_t cudaGetDevice(int *device)
{
    if (!device)
        return pp_emu_fail(cudaErrorInvalidValue);
    cudaError_t rc = pp_emu_have_device();
    if (rc != cudaSuccess)
        return pp_emu_fail(rc);
    *device = current_device;
    return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize(void)
{
    cudaError_t rc = pp_emu_have_device();
    if (rc == cudaSuccess)
        pp_emu_synchronize(current_device);
    return pp_emu_fail(rc);
}

/* An H100-like device whose name says what it is. */
cudaError_t cudaGetDeviceProperties(struct cudaDeviceProp *prop, int device)
{
    if (!prop)
        return pp_emu_fail(cudaErrorInvalidValue);
    cudaError_t rc = valid_device(device);
    if (rc != cudaSuccess)
        return pp_emu_fail(rc);
    pthread_once(&config_once, read_config);
    memset(prop, 0, sizeof *prop);
    snprintf(prop->name, sizeof prop->name, "pipette CUDA emulator");
    prop->uuid.bytes[0] = (char)device;
    prop->totalGlobalMem = config.mem_bytes;
    prop->sharedMemPerBlock = 48 << 10;
    prop->regsPerBlock = 65536;
    prop->warpSize = 32;
    prop->memPitch = INT_MAX;
    prop->maxThreadsPerBlock = 1024;
    prop->maxThreadsDim[0] = 1024;
    prop->maxThreadsDim[1] = 1024;
    prop->maxThreadsDim[2] = 64;
    prop->maxGridSize[0] = INT_MAX;
    prop->maxGridSize[1] = 65535;
    prop->maxGridSize[2] = 65535;
    prop->totalConstMem = 64 << 10;
    prop->major = config.cc / 10;
    prop->minor = config.cc % 10;
    prop->textureAlignment = 512;
    prop->texturePitchAlignment = 32;
    prop->multiProcessorCount = 4;
    prop->canMapHostMemory = 1;
    prop->concurrentKernels = 1;
    prop->pciBusID = device + 1;
    prop->asyncEngineCount = 2;
    prop->unifiedAddressing = 1;
    prop->memoryBusWidth = 5120;
    prop->l2CacheSize = 50 << 20;
    prop->maxThreadsPerMultiProcessor = 2048;
    prop->streamPrioritiesSupported = 1;
    prop->globalL1CacheSupported = 1;
    prop->localL1CacheSupported = 1;
    prop->sharedMemPerMultiprocessor = 228 << 10;
    prop->regsPerMultiprocessor = 65536;
    prop->managedMemory = 1;
    prop->sharedMemPerBlockOptin = 227 << 10;
    prop->maxBlocksPerMultiProcessor = 32;
    prop->hostRegisterSupported = 1;
    return cudaSuccess;
}

/* ---- peer access ------------------------------------------------------ */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
/* peer[a][b]: kernels on a may touch b's memory. Under lock. */
static unsigned char peer[PP_EMU_MAX_GPUS][PP_EMU_MAX_GPUS];

cudaError_t cudaDeviceCanAccessPeer(int *canAccessPeer, int device,
                                    int peerDevice)
{
    if (!canAccessPeer)
        return pp_emu_fail(cudaErrorInvalidValue);
    cudaError_t rc = valid_device(device);
    if (rc == cudaSuccess)
        rc = valid_device(peerDevice);
    if (rc != cudaSuccess)
        return pp_emu_fail(rc);
    *canAccessPeer = device != peerDevice;
    return cudaSuccess;
}

cudaError_t cudaDeviceEnablePeerAccess(int peerDevice, unsigned int flags)
{
    cudaError_t rc = valid_device(peerDevice);
    if (rc != cudaSuccess)
        return pp_emu_fail(rc);
    if (flags != 0)
        return pp_emu_fail(cudaErrorInvalidValue);
    if (peerDevice == current_device)
        return pp_emu_fail(cudaErrorInvalidDevice);
    pthread_mutex_lock(&lock);
    int was = peer[current_device][peerDevice];
    peer[current_device][peerDevice] = 1;
    pthread_mutex_unlock(&lock);
    return was ? pp_emu_fail(cudaErrorPeerAccessAlreadyEnabled) : cudaSuccess;
}

int pp_emu_can_reach(int from, int to)
{
    if (from == to)
        return 1;
    if (from < 0 || to < 0 || from >= PP_EMU_MAX_GPUS ||
        to >= PP_EMU_MAX_GPUS)
        return 0;
    pthread_mutex_lock(&lock);
    int can = peer[from][to];
    pthread_mutex_unlock(&lock);
    return can;
}

/* ---- allocations ------------------------------------------------------ */

typedef struct alloc {
    uintptr_t base;
    size_t bytes;   /* as asked for */
    size_t charged; /* against the device's memory: rounded up */
    int device;     /* -1: page-locked host memory */
} alloc;

/* Sorted by base; under lock, with used[]. */
static alloc *allocs;
static size_t nallocs, allocs_cap;
static size_t used[PP_EMU_MAX_GPUS];

/* The index of the last allocation starting at or before p, or -1. */
static ptrdiff_t find_alloc(uintptr_t p)
{
    size_t lo = 0, hi = nallocs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (allocs[mid].base <= p)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (ptrdiff_t)lo - 1;
}

pp_emu_mem pp_emu_locate(const void *ptr, size_t bytes, int *device)
{
    uintptr_t p = (uintptr_t)ptr;
    pp_emu_mem kind = PP_EMU_PAGEABLE;
    pthread_mutex_lock(&lock);
    ptrdiff_t i = find_alloc(p);
    if (i >= 0 && p - allocs[i].base < allocs[i].bytes) {
        const alloc *a = &allocs[i];
        if (bytes > a->bytes - (p - a->base))
            kind = PP_EMU_OVERRUN;
        else
            kind = a->device >= 0 ? PP_EMU_DEVICE : PP_EMU_PINNED;
        if (device)
            *device = a->device;
    }
    pthread_mutex_unlock(&lock);
    return kind;
}

/* Records [p, p + bytes) charged to device (or -1); cudaErrorMemory-
 * Allocation where the device's memory or the table is full. */
static cudaError_t add_alloc(void *p, size_t bytes, size_t charged,
                             int device)
{
    cudaError_t rc = cudaSuccess;
    pthread_mutex_lock(&lock);
    if (device >= 0 && charged > config.mem_bytes - used[device]) {
        rc = cudaErrorMemoryAllocation;
    } else if (nallocs == allocs_cap) {
        size_t cap = allocs_cap ? 2 * allocs_cap : 64;
        alloc *grown = realloc(allocs, cap * sizeof *grown);
        if (grown) {
            allocs = grown;
            allocs_cap = cap;
        } else {
            rc = cudaErrorMemoryAllocation;
        }
    }
    if (rc == cudaSuccess) {
        size_t at = (size_t)(find_alloc((uintptr_t)p) + 1);
        memmove(&allocs[at + 1], &allocs[at],
                (nallocs - at) * sizeof *allocs);
        allocs[at] = (alloc){(uintptr_t)p, bytes, charged, device};
        nallocs++;
        if (device >= 0)
            used[device] += charged;
    }
    pthread_mutex_unlock(&lock);
    return rc;
}

/* Removes the allocation starting at p if it is of the kind asked for:
 * page-locked host memory where `pinned`, device memory where not. */
static cudaError_t remove_alloc(void *p, int pinned)
{
    cudaError_t rc = cudaErrorInvalidValue;
    pthread_mutex_lock(&lock);
    ptrdiff_t i = find_alloc((uintptr_t)p);
    if (i >= 0 && allocs[i].base == (uintptr_t)p &&
        (allocs[i].device < 0) == pinned) {
        if (allocs[i].device >= 0)
            used[allocs[i].device] -= allocs[i].charged;
        memmove(&allocs[i], &allocs[i + 1],
                (nallocs - (size_t)i - 1) * sizeof *allocs);
        nallocs--;
        rc = cudaSuccess;
    }
    pthread_mutex_unlock(&lock);
    return rc;
}

static cudaError_t emu_alloc(void **ptr, size_t size, int device)
{
    pthread_once(&config_once, read_config);
    size_t charged = (size_t)-1;
    if (size <= SIZE_MAX - PP_EMU_ALIGN)
        charged = (size + PP_EMU_ALIGN - 1) / PP_EMU_ALIGN * PP_EMU_ALIGN;
    if (device >= 0 && charged > config.mem_bytes)
        return cudaErrorMemoryAllocation;
    if (charged == (size_t)-1)
        return cudaErrorMemoryAllocation;
    void *p = aligned_alloc(PP_EMU_ALIGN, charged);
    if (!p)
        return cudaErrorMemoryAllocation;
    cudaError_t rc = add_alloc(p, size, charged, device);
    if (rc != cudaSuccess) {
        free(p);
        return rc;
    }
    if (device >= 0)
        memset(p, 0xff, charged);
    *ptr = p;
    return cudaSuccess;
}

cudaError_t cudaMalloc(void **devPtr, size_t size)
{
    if (!devPtr)
        return pp_emu_fail(cudaErrorInvalidValue);
    cudaError_t rc = pp_emu_have_device();
    if (rc != cudaSuccess)
        return pp_emu_fail(rc);
    if (size == 0) { /* as CUDA: success, and no memory */
        *devPtr = NULL;
        return cudaSuccess;
    }
    return pp_emu_fail(emu_alloc(devPtr, size, current_device));
}

cudaError_t cudaFree(void *devPtr)
{
    cudaError_t rc = pp_emu_have_device();
    if (rc != cudaSuccess)
        return pp_emu_fail(rc);
    if (!devPtr)
        return cudaSuccess;
    /* cudaFree synchronizes the device. Every device here: a peer's
     * kernel may still be reading the memory, and freeing it under the
     * kernel would crash the emulator rather than fail the test. */
    pp_emu_synchronize(-1);
    if (remove_alloc(devPtr, 0) != cudaSuccess) {
        pp_emu_complain("cudaFree(%p): not the start of a cudaMalloc "
                        "allocation", devPtr);
        return pp_emu_fail(cudaErrorInvalidValue);
    }
    free(devPtr);
    return cudaSuccess;
}

cudaError_t cudaMallocHost(void **ptr, size_t size)
{
    if (!ptr)
        return pp_emu_fail(cudaErrorInvalidValue);
    cudaError_t rc = pp_emu_have_device();
    if (rc != cudaSuccess)
        return pp_emu_fail(rc);
    return pp_emu_fail(emu_alloc(ptr, size ? size : 1, -1));
}

cudaError_t cudaFreeHost(void *ptr)
{
    if (!ptr)
        return cudaSuccess;
    pp_emu_synchronize(-1); /* as cudaFree */
    if (remove_alloc(ptr, 1) != cudaSuccess) {
        pp_emu_complain("cudaFreeHost(%p): not the start of a "
                        "cudaMallocHost allocation", ptr);
        return pp_emu_fail(cudaErrorInvalidValue);
    }
    free(ptr);
    return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total)
{
    if (!free_bytes || !total)
        return pp_emu_fail(cudaErrorInvalidValue);
    cudaError_t rc = pp_emu_have_device();
    if (rc != cudaSuccess)
        return pp_emu_fail(rc);
    pthread_mutex_lock(&lock);
    *total = config.mem_bytes;
    *free_bytes = config.mem_bytes - used[current_device];
    pthread_mutex_unlock(&lock);
    return cudaSuccess;
}

/* ---- copies and memsets ----------------------------------------------- */

static const char *kind_name(enum cudaMemcpyKind kind)
{
    switch (kind) {
    case cudaMemcpyHostToHost:
        return "cudaMemcpyHostToHost";
    case cudaMemcpyHostToDevice:
        return "cudaMemcpyHostToDevice";
    case cudaMemcpyDeviceToHost:
        return "cudaMemcpyDeviceToHost";
    case cudaMemcpyDeviceToDevice:
        return "cudaMemcpyDeviceToDevice";
    default:
        return "cudaMemcpyDefault";
    }
}

/* One side of a copy: device memory where `device_side`, host memory
 * (pageable or page-locked) where not, either with cudaMemcpyDefault
 * (unified addressing tells them apart). Never past an allocation. */
static cudaError_t check_side(const char *call, enum cudaMemcpyKind kind,
                              const char *side, const void *p, size_t bytes,
                              int device_side)
{
    pp_emu_mem m = pp_emu_locate(p, bytes, NULL);
    const char *why = NULL;
    if (m == PP_EMU_OVERRUN)
        why = "runs past the end of its allocation";
    else if (kind != cudaMemcpyDefault && device_side && m != PP_EMU_DEVICE)
        why = "is not device memory";
    else if (kind != cudaMemcpyDefault && !device_side && m == PP_EMU_DEVICE)
        why = "is device memory";
    if (!why)
        return cudaSuccess;
    pp_emu_complain("%s(%s): %s %p (%zu bytes) %s", call, kind_name(kind),
                    side, p, bytes, why);
    return cudaErrorInvalidValue;
}

/* A queued copy; `staged` holds pageable source bytes copied at the
 * call, where CUDA stages them too. */
struct copy_work {
    void *dst;
    const void *src;
    size_t count;
    unsigned char staged[];
};

static void run_copy(void *arg)
{
    struct copy_work *w = arg;
    memmove(w->dst, w->src, w->count);
    free(w);
}

static struct copy_work *new_copy_work(void *dst, const void *src,
                                       size_t count, int stage)
{
    struct copy_work *w = malloc(sizeof *w + (stage ? count : 0));
    if (!w)
        return NULL;
    *w = (struct copy_work){dst, src, count};
    if (stage) {
        memcpy(w->staged, src, count);
        w->src = w->staged;
    }
    return w;
}

/* Checks a copy and queues it on `stream`, returning when the runtime
 * API's "API synchronization behavior" says: the host always waits for
 * host-to-host copies and for device-to-pageable-host ones; cudaMemcpy
 * (not `async`) also for any copy to the host and from pinned memory; a
 * pageable source is staged at the call, after the stream's earlier work
 * for cudaMemcpy, and then the device write is left queued. Pinned host
 * memory in an asynchronous copy is read or written when the copy runs,
 * so a host that reuses it before synchronizing sees the difference. */
static cudaError_t copy(const char *call, void *dst, const void *src,
                        size_t count, enum cudaMemcpyKind kind,
                        cudaStream_t stream, int async)
{
    cudaError_t rc = pp_emu_have_device();
    if (rc != cudaSuccess)
        return rc;
    if ((unsigned)kind > cudaMemcpyDefault)
        return cudaErrorInvalidMemcpyDirection;
    if (count == 0)
        return cudaSuccess;
    if (!dst || !src)
        return cudaErrorInvalidValue;
    int dst_device = kind == cudaMemcpyHostToDevice ||
                     kind == cudaMemcpyDeviceToDevice;
    int src_device = kind == cudaMemcpyDeviceToHost ||
                     kind == cudaMemcpyDeviceToDevice;
    if ((rc = check_side(call, kind, "destination", dst, count,
                         dst_device)) != cudaSuccess ||
        (rc = check_side(call, kind, "source", src, count, src_device)) !=
            cudaSuccess)
        return rc;
    pp_emu_mem to = pp_emu_locate(dst, count, NULL);
    pp_emu_mem from = pp_emu_locate(src, count, NULL);
    int wait, stage = 0;
    if (to != PP_EMU_DEVICE) /* to the host */
        wait = from != PP_EMU_DEVICE || !async || to == PP_EMU_PAGEABLE;
    else if (from == PP_EMU_PAGEABLE) /* staged */
        wait = 0, stage = 1;
    else /* device to device, or from pinned memory */
        wait = from == PP_EMU_PINNED && !async;
    if (stage && !async)
        pp_emu_enqueue(stream, NULL, NULL, 1);
    struct copy_work *w = new_copy_work(dst, src, count, stage);
    if (!w)
        return cudaErrorMemoryAllocation;
    pp_emu_enqueue(stream, run_copy, w, wait);
    return cudaSuccess;
}

cudaError_t cudaMemcpy(void *dst, const void *src, size_t count,
                       enum cudaMemcpyKind kind)
{
    return pp_emu_fail(copy("cudaMemcpy", dst, src, count, kind, NULL, 0));
}

cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t count,
                            enum cudaMemcpyKind kind, cudaStream_t stream)
{
    cudaError_t rc = pp_emu_check_stream(stream);
    if (rc == cudaSuccess)
        rc = copy("cudaMemcpyAsync", dst, src, count, kind, stream, 1);
    return pp_emu_fail(rc);
}

struct set_work {
    void *p;
    int value;
    size_t count;
};

static void run_set(void *arg)
{
    struct set_work *w = arg;
    memset(w->p, w->value, w->count);
    free(w);
}

/* Device memory only, so never synchronous with the host. */
static cudaError_t set(const char *call, void *p, int value, size_t count,
                       cudaStream_t stream)
{
    cudaError_t rc = pp_emu_have_device();
    if (rc != cudaSuccess || count == 0)
        return rc;
    if (pp_emu_locate(p, count, NULL) != PP_EMU_DEVICE) {
        pp_emu_complain("%s: %p (%zu bytes) is not within device memory",
                        call, p, count);
        return cudaErrorInvalidValue;
    }
    struct set_work *w = malloc(sizeof *w);
    if (!w)
        return cudaErrorMemoryAllocation;
    *w = (struct set_work){p, value, count};
    pp_emu_enqueue(stream, run_set, w, 0);
    return cudaSuccess;
}

cudaError_t cudaMemset(void *devPtr, int value, size_t count)
{
    return pp_emu_fail(set("cudaMemset", devPtr, value, count, NULL));
}

cudaError_t cudaMemsetAsync(void *devPtr, int value, size_t count,
                            cudaStream_t stream)
{
    cudaError_t rc = pp_emu_check_stream(stream);
    if (rc == cudaSuccess)
        rc = set("cudaMemsetAsync", devPtr, value, count, stream);
    return pp_emu_fail(rc);
}
