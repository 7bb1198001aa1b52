/* tests/emu/cudnn_emu.c - the cuDNN calls pipette makes: a handle per GPU
 * rank, bound to the rank's stream, and the library's version and error
 * texts. The graph API (attention's fused SDPA) is cudnn_graph_emu.c;
 * cuDNN's legacy operations are not emulated.
 */
#include <stdlib.h>

#include <cuda_runtime_api.h>
#include <cudnn.h>

#include "cuda_emu.h"
#include "cuda_emu_errors.h"
#include "cudnn_emu.h"

#define HANDLE_MAGIC 0x43444e4eu /* "CDNN" */

struct cudnnContext {
    unsigned magic;
    int device;
    cudaStream_t stream;
};

size_t cudnnGetVersion(void)
{
    return CUDNN_VERSION;
}

const char *cudnnGetErrorString(cudnnStatus_t status)
{
    size_t n = sizeof pp_emu_cudnn_status / sizeof *pp_emu_cudnn_status;
    for (size_t i = 0; i < n; i++)
        if (pp_emu_cudnn_status[i].code == (int)status)
            return pp_emu_cudnn_status[i].text;
    return "CUDNN_UNKNOWN_STATUS";
}

static int live(cudnnHandle_t h)
{
    return h && h->magic == HANDLE_MAGIC;
}

cudnnStatus_t cudnnCreate(cudnnHandle_t *handle)
{
    if (!handle)
        return CUDNN_STATUS_BAD_PARAM;
    if (pp_emu_device_count() == 0)
        return CUDNN_STATUS_NOT_INITIALIZED;
    struct cudnnContext *h = malloc(sizeof *h);
    if (!h)
        return CUDNN_STATUS_ALLOC_FAILED;
    *h = (struct cudnnContext){HANDLE_MAGIC, pp_emu_current_device(), NULL};
    *handle = h;
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnDestroy(cudnnHandle_t handle)
{
    if (!live(handle))
        return CUDNN_STATUS_BAD_PARAM;
    handle->magic = 0;
    free(handle);
    return CUDNN_STATUS_SUCCESS;
}

/* The stream must belong to the handle's device. */
cudnnStatus_t cudnnSetStream(cudnnHandle_t handle, cudaStream_t streamId)
{
    int device;
    if (!live(handle))
        return CUDNN_STATUS_BAD_PARAM;
    if (pp_emu_stream_device(streamId, &device) != cudaSuccess) {
        pp_emu_complain("cudnnSetStream: %p is not a stream",
                        (void *)streamId);
        return CUDNN_STATUS_BAD_PARAM;
    }
    if (device != handle->device) {
        pp_emu_complain("cudnnSetStream: handle of device %d given a "
                        "stream of device %d", handle->device, device);
        return CUDNN_STATUS_BAD_PARAM;
    }
    handle->stream = streamId;
    return CUDNN_STATUS_SUCCESS;
}


int pp_emu_cudnn_handle(cudnnHandle_t h, int *device, cudaStream_t *stream)
{
    if (!live(h)) {
        pp_emu_complain("cuDNN: %p is not a live handle", (void *)h);
        return -1;
    }
    if (device)
        *device = h->device;
    if (stream)
        *stream = h->stream;
    return 0;
}
