/* plugins/cuda.c - the `cuda` device plugin: NVIDIA GPUs through the CUDA
 * runtime.
 *
 * A plugin, not part of libpipette, so that the core never links CUDA and
 * loads on any machine. The synchronous operations select their device
 * first (the current device is per thread, and the caller's thread may
 * have used another); the queued ones run on a rank's stream from the
 * rank's own thread. The kernels live in cuda_kernels.cu.
 */
#include <config.h>

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <cuda_runtime_api.h>
#ifdef HAVE_CUBLAS
#include <cublas_v2.h>
#endif
#ifdef HAVE_CUDNN
#include <cudnn.h>
#endif
#ifdef HAVE_NCCL
#include <nccl.h>
#endif

#include <pipette/cuda.h>
#include <pipette/pipette.h>

#include "cuda_kernels.h"

/* PP_CUDA_CHECK, the failure said to be on device index (events and
 * host memory belong to none: index < 0):
 * `if (CUDA_TRY(index, cudaFoo(...), err)) return err->code;` */
static pp_status on_device(int index, pp_status st, pp_error *err)
{
    if (!st)
        return PP_OK;
    return index >= 0 ? pp_error_prefix(err, "cuda device %d", index)
                      : pp_error_prefix(err, "cuda");
}

#define CUDA_TRY(index, call, err)                                          \
    on_device((index), PP_CUDA_CHECK(call, err), (err))

static pp_status cuda_count(int *n, char *why, size_t why_size, pp_error *err)
{
    (void)err;
    if (why && why_size)
        why[0] = '\0';
    int count = 0;
    cudaError_t rc = cudaGetDeviceCount(&count);
    if (rc != cudaSuccess) {
        /* No driver or no device: an answer, not an error. */
        (void)cudaGetLastError();
        count = 0;
        if (why && why_size)
            snprintf(why, why_size, "cudaGetDeviceCount: %s (%s)",
                     cudaGetErrorString(rc), cudaGetErrorName(rc));
    } else if (count == 0 && why && why_size) {
        snprintf(why, why_size, "cudaGetDeviceCount: no CUDA device");
    }
    *n = count;
    return PP_OK;
}

static pp_status cuda_info(int index, pp_device_info *out, pp_error *err)
{
    memset(out, 0, sizeof *out);
    out->index = index;
    struct cudaDeviceProp prop;
    size_t free_bytes, total_bytes;
    if (CUDA_TRY(index, cudaSetDevice(index), err) ||
        CUDA_TRY(index, cudaGetDeviceProperties(&prop, index), err) ||
        CUDA_TRY(index, cudaMemGetInfo(&free_bytes, &total_bytes), err))
        return err->code;
    /* cudaDeviceProp's name has room for 256; real names are short. */
    snprintf(out->name, sizeof out->name, "%.*s",
             (int)sizeof out->name - 1, prop.name);
    out->total_bytes = total_bytes;
    out->free_bytes = free_bytes;
    out->cc_major = prop.major;
    out->cc_minor = prop.minor;
    out->multiprocessors = prop.multiProcessorCount;
    return PP_OK;
}

/* Appends one formatted line to buf, keeping it terminated when full. */
static void add_line(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void add_line(char *buf, size_t size, const char *fmt, ...)
{
    size_t used = strlen(buf);
    if (used >= size)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + used, size - used, fmt, ap);
    va_end(ap);
}

/* Versions come from the libraries actually loaded, not the headers: a
 * mismatch between the two is what a user debugging a crash needs to see.
 * None of these calls needs a GPU or a driver. */
static void cuda_versions(char *buf, size_t size)
{
    if (!size)
        return;
    buf[0] = '\0';
    int v = 0;
    if (cudaRuntimeGetVersion(&v) == cudaSuccess)
        add_line(buf, size, "CUDA runtime: %d.%d\n", v / 1000, v % 1000 / 10);
    else
        add_line(buf, size, "CUDA runtime: unknown\n");
    v = 0;
    if (cudaDriverGetVersion(&v) == cudaSuccess && v > 0)
        add_line(buf, size, "CUDA driver: %d.%d\n", v / 1000, v % 1000 / 10);
    else
        add_line(buf, size, "CUDA driver: none\n");
    (void)cudaGetLastError();
#ifdef HAVE_CUBLAS
    int major = 0, minor = 0, patch = 0;
    if (cublasGetProperty(MAJOR_VERSION, &major) == CUBLAS_STATUS_SUCCESS &&
        cublasGetProperty(MINOR_VERSION, &minor) == CUBLAS_STATUS_SUCCESS &&
        cublasGetProperty(PATCH_LEVEL, &patch) == CUBLAS_STATUS_SUCCESS)
        add_line(buf, size, "cuBLAS: %d.%d.%d\n", major, minor, patch);
    else
        add_line(buf, size, "cuBLAS: unknown\n");
#endif
#ifdef HAVE_CUDNN
    /* cuDNN 9 encodes major*10000 + minor*100 + patch. */
    size_t dnn = cudnnGetVersion();
    add_line(buf, size, "cuDNN: %zu.%zu.%zu\n", dnn / 10000,
             dnn % 10000 / 100, dnn % 100);
#endif
#ifdef HAVE_NCCL
    /* Since NCCL 2.9: major*10000 + minor*100 + patch. */
    int nccl = 0;
    if (ncclGetVersion(&nccl) == ncclSuccess)
        add_line(buf, size, "NCCL: %d.%d.%d\n", nccl / 10000,
                 nccl % 10000 / 100, nccl % 100);
    else
        add_line(buf, size, "NCCL: unknown\n");
#endif
}

static pp_status cuda_alloc(int index, size_t bytes, void **ptr,
                            pp_error *err)
{
    *ptr = NULL;
    if (CUDA_TRY(index, cudaSetDevice(index), err))
        return err->code;
    /* As on cpu, zero bytes still gets a distinct pointer: cudaMalloc's
     * documentation says nothing of size 0 (cuMemAlloc refuses it). */
    if (CUDA_TRY(index, cudaMalloc(ptr, bytes ? bytes : 1), err)) {
        *ptr = NULL;
        return pp_error_prefix(err, "cannot allocate %zu bytes", bytes);
    }
    return PP_OK;
}

/* Nothing to report to: a failure here means the context is already
 * broken, and the next operation says so. */
static void cuda_release(int index, void *ptr)
{
    if (cudaSetDevice(index) == cudaSuccess)
        cudaFree(ptr);
    (void)cudaGetLastError();
}

/* Device to device is cudaMemcpyDefault: the two buffers may be on two
 * GPUs (the peer transport), which unified addressing tells apart by the
 * pointers alone. */
static enum cudaMemcpyKind kind_of(pp_copy_kind kind)
{
    return kind == PP_COPY_HOST_TO_DEVICE   ? cudaMemcpyHostToDevice
         : kind == PP_COPY_DEVICE_TO_HOST   ? cudaMemcpyDeviceToHost
                                            : cudaMemcpyDefault;
}

static pp_status cuda_copy(int index, void *dst, const void *src,
                           size_t bytes, pp_copy_kind kind, pp_error *err)
{
    if (kind < PP_COPY_HOST_TO_DEVICE || kind > PP_COPY_DEVICE_TO_DEVICE)
        return pp_error_set(err, PP_ERR_RUNTIME,
                            "cuda device %d: unknown copy kind %d", index,
                            (int)kind);
    if (CUDA_TRY(index, cudaSetDevice(index), err))
        return err->code;
    if (bytes == 0) /* a zero-byte allocation may be NULL */
        return PP_OK;
    /* cudaMemcpy may return before its copy has landed: from pageable
     * host memory once the data is staged, device to device at once (the
     * runtime API's "API synchronization behavior"). The ranks' streams
     * are non-blocking and never wait for the default stream, so a rank
     * could read the destination first: wait for the default stream, the
     * one cudaMemcpy used, before calling the copy done. */
    if (CUDA_TRY(index, cudaMemcpy(dst, src, bytes, kind_of(kind)), err) ||
        CUDA_TRY(index, cudaStreamSynchronize(0), err))
        return err->code;
    return PP_OK;
}

static pp_status cuda_use(int index, pp_error *err)
{
    if (CUDA_TRY(index, cudaSetDevice(index), err))
        return err->code;
    return PP_OK;
}

/* The handles belong to r's device, which need not be the calling
 * thread's current one (the trainer frees every rank from one thread):
 * cuBLAS and cuDNN tie a handle to the device current at its creation, and
 * their destroy synchronises and frees on the current device. */
static void cuda_rank_close(pp_device_rank *r)
{
    int current = -1;
    if (cudaGetDevice(&current) != cudaSuccess ||
        cudaSetDevice(r->index) != cudaSuccess)
        current = -1;
#ifdef HAVE_CUDNN
    if (r->dnn)
        cudnnDestroy((cudnnHandle_t)r->dnn);
#endif
#ifdef HAVE_CUBLAS
    if (r->blas)
        cublasDestroy((cublasHandle_t)r->blas);
#endif
    if (r->stream)
        cudaStreamDestroy((cudaStream_t)r->stream);
    if (current >= 0)
        cudaSetDevice(current);
    (void)cudaGetLastError();
    *r = (pp_device_rank){r->index, NULL, NULL, NULL};
}

/* Lets kernels and copies on `index` reach every GPU they can directly,
 * so that the peer transport's copies between GPUs go over NVLink or PCIe
 * peer to peer rather than through host memory. Where that cannot be
 * (no peer path, or the driver's limit of peers), copies still work,
 * staged by the driver: nothing to report. */
static void enable_peers(int index)
{
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess)
        n = 0;
    for (int d = 0; d < n; d++) {
        int can = 0;
        if (d != index && cudaDeviceCanAccessPeer(&can, index, d) ==
                              cudaSuccess && can)
            (void)cudaDeviceEnablePeerAccess(d, 0);
    }
    (void)cudaGetLastError(); /* cudaErrorPeerAccessAlreadyEnabled too */
}

/* A non-blocking stream (it never waits for the legacy default stream),
 * and the library handles bound to it. */
static pp_status cuda_rank_open(int index, pp_device_rank *out,
                                pp_error *err)
{
    *out = (pp_device_rank){index, NULL, NULL, NULL};
    cudaStream_t stream;
    if (CUDA_TRY(index, cudaSetDevice(index), err) ||
        CUDA_TRY(index, cudaStreamCreateWithFlags(&stream,
                                                  cudaStreamNonBlocking),
                 err))
        return err->code;
    out->stream = stream;
    enable_peers(index);
#ifdef HAVE_CUBLAS
    cublasHandle_t blas;
    cublasStatus_t bs = cublasCreate(&blas);
    if (bs == CUBLAS_STATUS_SUCCESS) {
        out->blas = blas;
        bs = cublasSetStream(blas, stream);
    }
    if (bs != CUBLAS_STATUS_SUCCESS) {
        cuda_rank_close(out);
        return pp_error_set(err, PP_ERR_DEVICE, "cuda device %d: cuBLAS: %s "
                            "(%s)", index, cublasGetStatusString(bs),
                            cublasGetStatusName(bs));
    }
#endif
#ifdef HAVE_CUDNN
    cudnnHandle_t dnn;
    cudnnStatus_t ds = cudnnCreate(&dnn);
    if (ds == CUDNN_STATUS_SUCCESS) {
        out->dnn = dnn;
        ds = cudnnSetStream(dnn, stream);
    }
    if (ds != CUDNN_STATUS_SUCCESS) {
        cuda_rank_close(out);
        return pp_error_set(err, PP_ERR_DEVICE, "cuda device %d: cuDNN: %s",
                            index, cudnnGetErrorString(ds));
    }
#endif
    return PP_OK;
}

static pp_status cuda_copy_async(const pp_device_rank *r, void *dst,
                                 const void *src, size_t bytes,
                                 pp_copy_kind kind, pp_error *err)
{
    if (bytes && CUDA_TRY(r->index, cudaMemcpyAsync(dst, src, bytes,
                                                    kind_of(kind),
                                                    (cudaStream_t)r->stream),
                          err))
        return err->code;
    return PP_OK;
}

static pp_status cuda_zero_async(const pp_device_rank *r, void *x,
                                 size_t bytes, pp_error *err)
{
    if (bytes && CUDA_TRY(r->index, cudaMemsetAsync(x, 0, bytes,
                                                    (cudaStream_t)r->stream),
                          err))
        return err->code;
    return PP_OK;
}

/* Launched from the rank's own thread, whose current device is r's. */
static pp_status cuda_add_async(const pp_device_rank *r, float *y,
                                const float *x, size_t n, pp_error *err)
{
    if (CUDA_TRY(r->index,
                 pp_cuda_sum_into(y, x, n, (cudaStream_t)r->stream), err))
        return err->code;
    return PP_OK;
}

static pp_status cuda_sumsq_async(const pp_device_rank *r, float *part,
                                  size_t parts, const float *x, size_t n,
                                  pp_error *err)
{
    if (CUDA_TRY(r->index, pp_cuda_sumsq(part, parts, x, n,
                                         (cudaStream_t)r->stream), err))
        return err->code;
    return PP_OK;
}

static pp_status cuda_clip_async(const pp_device_rank *r, float *x,
                                 size_t n, const float *part, size_t parts,
                                 float max_norm, pp_error *err)
{
    if (CUDA_TRY(r->index, pp_cuda_clip(x, n, part, parts, max_norm,
                                        (cudaStream_t)r->stream), err))
        return err->code;
    return PP_OK;
}

/* Events are made on r's device without changing the calling thread's
 * current device: a transport may make a receiver's events from the
 * sender's thread. Every event blocks the host thread that waits for it
 * instead of spinning (see cuda_sync); that costs nothing on the device. */
static pp_status cuda_event_create(const pp_device_rank *r, int timing,
                                   void **ev, pp_error *err)
{
    int current;
    cudaEvent_t e = NULL;
    if (CUDA_TRY(r->index, cudaGetDevice(&current), err) ||
        CUDA_TRY(r->index, cudaSetDevice(r->index), err))
        return err->code;
    pp_status st = CUDA_TRY(r->index,
        cudaEventCreateWithFlags(&e, cudaEventBlockingSync |
                                         (timing ? 0u
                                                 : cudaEventDisableTiming)),
        err);
    cudaSetDevice(current);
    *ev = st ? NULL : e;
    return st;
}

static void cuda_event_destroy(const pp_device_rank *r, void *ev)
{
    (void)r;
    if (ev)
        cudaEventDestroy((cudaEvent_t)ev);
    (void)cudaGetLastError();
}

static pp_status cuda_event_record(const pp_device_rank *r, void *ev,
                                   pp_error *err)
{
    if (CUDA_TRY(r->index, cudaEventRecord((cudaEvent_t)ev,
                                           (cudaStream_t)r->stream),
                 err))
        return err->code;
    return PP_OK;
}

static pp_status cuda_event_wait(const pp_device_rank *r, void *ev,
                                 pp_error *err)
{
    if (CUDA_TRY(r->index, cudaStreamWaitEvent((cudaStream_t)r->stream,
                                               (cudaEvent_t)ev, 0),
                 err))
        return err->code;
    return PP_OK;
}

static pp_status cuda_event_sync(void *ev, pp_error *err)
{
    if (CUDA_TRY(-1, cudaEventSynchronize((cudaEvent_t)ev), err))
        return err->code;
    return PP_OK;
}

static pp_status cuda_event_elapsed(void *a, void *b, double *ms,
                                    pp_error *err)
{
    float f = 0;
    if (CUDA_TRY(-1, cudaEventElapsedTime(&f, (cudaEvent_t)a,
                                          (cudaEvent_t)b),
                 err))
        return err->code;
    *ms = f;
    return PP_OK;
}

/* Through an event rather than cudaStreamSynchronize, which spins: a
 * rank waits here for its whole step, and a spinning thread per rank
 * takes host cores from the other ranks' data and from NCCL's proxy
 * threads. Blocking costs a wake-up, tens of microseconds a step. */
static pp_status cuda_sync(const pp_device_rank *r, pp_error *err)
{
    void *done;
    if (cuda_event_create(r, 0, &done, err))
        return err->code;
    pp_status st = CUDA_TRY(r->index,
                            cudaEventRecord((cudaEvent_t)done,
                                            (cudaStream_t)r->stream),
                            err);
    if (!st)
        st = cuda_event_sync(done, err);
    cuda_event_destroy(r, done);
    return st;
}

static pp_status cuda_host_alloc(size_t bytes, void **ptr, pp_error *err)
{
    *ptr = NULL;
    if (CUDA_TRY(-1, cudaMallocHost(ptr, bytes ? bytes : 1), err)) {
        *ptr = NULL;
        return pp_error_prefix(err, "cannot allocate %zu bytes of "
                               "page-locked host memory", bytes);
    }
    return PP_OK;
}

static void cuda_host_release(void *ptr)
{
    if (ptr)
        cudaFreeHost(ptr);
    (void)cudaGetLastError();
}

static const pp_device_ops cuda_ops = {
    .memory = PP_MEMORY_CUDA,
    .count = cuda_count,
    .info = cuda_info,
    .versions = cuda_versions,
    .alloc = cuda_alloc,
    .release = cuda_release,
    .copy = cuda_copy,
    .use = cuda_use,
    .rank_open = cuda_rank_open,
    .rank_close = cuda_rank_close,
    .copy_async = cuda_copy_async,
    .zero_async = cuda_zero_async,
    .sync = cuda_sync,
    .event_create = cuda_event_create,
    .event_destroy = cuda_event_destroy,
    .event_record = cuda_event_record,
    .event_wait = cuda_event_wait,
    .event_sync = cuda_event_sync,
    .event_elapsed = cuda_event_elapsed,
    .host_alloc = cuda_host_alloc,
    .host_release = cuda_host_release,
    .add_async = cuda_add_async,
    .sumsq_async = cuda_sumsq_async,
    .clip_async = cuda_clip_async,
};

PP_PLUGIN(PP_KIND_DEVICE, "cuda",
          "NVIDIA GPUs through the CUDA runtime (memory, copies, kernels)",
          NULL, &cuda_ops);
