/* tests/emu/cudnn_emu.h - what the emulator's cuDNN handles
 * (cudnn_emu.c) tell its graph API (cudnn_graph_emu.c). Private to
 * libpipette-cuda-emulator. */
#ifndef PP_EMU_CUDNN_EMU_H
#define PP_EMU_CUDNN_EMU_H

#include <cudnn.h>

#include "cuda_emu.h"

/* 0 and the handle's device and stream (either may be NULL) where h is a
 * live handle; -1 and a line on stderr otherwise. */
PP_EMU_HIDDEN int pp_emu_cudnn_handle(cudnnHandle_t h, int *device,
                                      cudaStream_t *stream);

#endif
