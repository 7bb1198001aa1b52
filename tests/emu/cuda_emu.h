/* tests/emu/cuda_emu.h - what the emulator's runtime (cuda_emu.c) shares
 * with its cuBLAS and cuBLASLt (blas_emu.c, cublas_emu.c,
 * cublaslt_emu.c), cuDNN (cudnn_emu.c) and NCCL (nccl_emu.c): devices,
 * allocations, streams. Private to libpipette-cuda-emulator; nothing here
 * is exported from it.
 *
 * The emulator stands in for libcudart, libcublas, libcublasLt, libcudnn
 * and libnccl so that pipette's CUDA code runs, and is tested, on a
 * machine without a GPU: device memory is host memory and kernels run
 * through kernel_emu.cc.
 * What real CUDA leaves undefined (a copy whose direction does not match
 * its pointers, a GEMM reading memory outside any allocation) is refused,
 * with a line on stderr saying why, instead of being allowed to corrupt
 * memory.
 *
 * Streams are asynchronous, as on a GPU (cuda_emu_stream.c): every
 * kernel, copy, memset, cuBLAS call and event record is checked when it
 * is called and then queued on its stream, whose own worker thread runs
 * the queue in order, sleeping a pseudo-random 0..PIPETTE_EMU_JITTER_US
 * microseconds (default 200) before each item. The host returns from a
 * call, and other streams run on, exactly as far as CUDA's documented
 * stream and API synchronization behaviour allows, so work that misses an
 * event wait or a synchronization reads stale or unfinished data and the
 * test computing with it fails. PIPETTE_EMU_SYNC=1 runs everything on the
 * calling thread when it is called instead, which tells an ordering bug
 * from a computation bug.
 */
#ifndef PP_EMU_CUDA_EMU_H
#define PP_EMU_CUDA_EMU_H

#include <stddef.h>

#include <cuda_runtime_api.h>

#define PP_EMU_HIDDEN __attribute__((visibility("hidden")))

#define PP_EMU_MAX_GPUS 16

/* The kernel emulator's launch error (a cudaError_t), cleared as read. */
int pp_emu_take_launch_error(void);

/* Devices emulated (PIPETTE_EMU_GPUS, default 1; 0 is a machine with a
 * driver but no GPU) and the calling thread's current device. */
PP_EMU_HIDDEN int pp_emu_device_count(void);
PP_EMU_HIDDEN int pp_emu_current_device(void);

/* Every failing call also becomes the calling thread's last error, as in
 * CUDA: returns rc. */
PP_EMU_HIDDEN cudaError_t pp_emu_fail(cudaError_t rc);
/* cudaSuccess where there is a device to work on, else
 * cudaErrorNoDevice. */
PP_EMU_HIDDEN cudaError_t pp_emu_have_device(void);

/* Where an address range lies. */
typedef enum pp_emu_mem {
    PP_EMU_PAGEABLE, /* in no allocation of ours: plain host memory */
    PP_EMU_DEVICE,   /* inside one cudaMalloc allocation */
    PP_EMU_PINNED,   /* inside one cudaMallocHost allocation */
    PP_EMU_OVERRUN,  /* starts in an allocation, ends past it */
} pp_emu_mem;

/* The kind of [p, p + bytes) and, for device memory, its device. */
PP_EMU_HIDDEN pp_emu_mem pp_emu_locate(const void *p, size_t bytes,
                                       int *device);

/* Whether kernels on device `from` may touch memory of device `to`:
 * the same device, or peer access enabled from `from` to `to`. */
PP_EMU_HIDDEN int pp_emu_can_reach(int from, int to);

/* The device of a stream: cudaSuccess and *device, or
 * cudaErrorInvalidResourceHandle for a handle that is not a live stream.
 * The default stream handles (0, cudaStreamLegacy, cudaStreamPerThread)
 * belong to the current device. */
PP_EMU_HIDDEN cudaError_t pp_emu_stream_device(cudaStream_t s, int *device);
/* cudaSuccess where there is a device and s is a live or default stream. */
PP_EMU_HIDDEN cudaError_t pp_emu_check_stream(cudaStream_t s);

/* PIPETTE_EMU_SYNC and PIPETTE_EMU_JITTER_US (see above). */
PP_EMU_HIDDEN int pp_emu_sync_mode(void);
PP_EMU_HIDDEN long pp_emu_jitter_us(void);

/* Queues run(arg) on stream s (a live or default stream of a device:
 * check it first), after the work queued there before and, where s is
 * the legacy default stream or a blocking stream, after what CUDA orders
 * it after; run frees arg. With `wait`, returns only once it has run;
 * a NULL run queues nothing and only waits for what is queued. Exported for launch_check.h, which queues kernels through it. */
void pp_emu_enqueue(cudaStream_t s, void (*run)(void *), void *arg,
                    int wait);
/* Waits for the work queued so far on every stream of `device`, or of
 * every device where device is -1. */
PP_EMU_HIDDEN void pp_emu_synchronize(int device);

/* Exported for launch_check.h, which calls it before each kernel runs:
 * 0 where the launch may run; otherwise the cudaError_t a GPU would give
 * (a stream of another device; a pointer argument into memory the
 * current device cannot reach), also made the thread's last error. */
int pp_emu_check_launch(const char *file, int line, cudaStream_t stream,
                        int n, const void *const *pointers);

/* One line on stderr: "pipette CUDA emulator: " and the message. For
 * what a real GPU would not report at once (or at all) but which is a
 * bug all the same. */
PP_EMU_HIDDEN void pp_emu_complain(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

#endif
