/* tests/emu/planted_bugs.cu - kernels for test_kernel_emu.cc, compiled
 * through cu2cc.pl as pipette's own .cu files are: bugs that a GPU run
 * may well hide (a read of shared memory no thread wrote, a missing
 * __syncthreads, a warp operation outside its mask), each beside its
 * correct twin, and the warp operations that CUDA defines. The emulator
 * must make every bug show; the twins must come out right for any seed.
 */
#include "planted_bugs.h"

#define FULL 0xffffffffu

/* ---- shared memory no thread of the block wrote ------------------------- */

__global__ void unwritten_kernel(float *out, int *iout)
{
    __shared__ float s[64];
    __shared__ int si[64];
    int t = threadIdx.x;
    if (blockIdx.x == 0 || t < 32) {
        s[t] = (float)(t + 1);
        si[t] = t + 1;
    }
    __syncthreads();
    out[blockIdx.x * 64 + t] = s[t];
    iout[blockIdx.x * 64 + t] = si[t];
}

void emu_unwritten_shared(float *out, int *iout)
{
    unwritten_kernel<<<2, 64>>>(out, iout);
}

__global__ void unwritten_dynamic_kernel(float *out)
{
    extern __shared__ float dyn[];
    int t = threadIdx.x;
    if (blockIdx.x == 0 || t < 32)
        dyn[t] = (float)(t + 1);
    __syncthreads();
    out[blockIdx.x * 64 + t] = dyn[t];
}

void emu_unwritten_dynamic(float *out)
{
    unwritten_dynamic_kernel<<<2, 64, 64 * sizeof(float)>>>(out);
}

/* ---- a missing barrier --------------------------------------------------- */

__global__ void neighbour_kernel(int *out, int salt, int sync)
{
    __shared__ int s[256];
    int t = threadIdx.x;
    s[t] = salt + t;
    if (sync)
        __syncthreads();
    out[blockIdx.x * 256 + t] = s[t > 0 ? t - 1 : 0];
}

void emu_neighbour(int *out, int salt, int sync)
{
    neighbour_kernel<<<2, 256>>>(out, salt, sync);
}

/* Fibers run one at a time, so a plain counter is safe here. */
__global__ void order_kernel(int *seq, int *n)
{
    seq[(*n)++] = threadIdx.x;
}

void emu_order(int *seq)
{
    int n = 0;
    order_kernel<<<1, 64>>>(seq, &n);
}

/* ---- warp operations ----------------------------------------------------- */

__global__ void warp_ops_kernel(int *out)
{
    int id = threadIdx.x, lane = id % 32, k = 0;
    out[k++ * 64 + id] = __shfl_sync(FULL, id * 10, 5);
    out[k++ * 64 + id] = __shfl_sync(FULL, id, 3, 8);
    out[k++ * 64 + id] = __shfl_up_sync(FULL, id, 2);
    out[k++ * 64 + id] = __shfl_down_sync(FULL, id, 3);
    out[k++ * 64 + id] = __shfl_down_sync(FULL, id, 3, 16);
    out[k++ * 64 + id] = __shfl_xor_sync(FULL, id, 8, 16);
    out[k++ * 64 + id] = (int)__ballot_sync(FULL, id % 3 == 0);
    out[k++ * 64 + id] = __any_sync(FULL, id == 40) * 2 +
                         __all_sync(FULL, id < 32);
    /* Two half warps, each with its own mask, apart. */
    unsigned half = lane < 16 ? 0x0000ffffu : 0xffff0000u;
    out[k++ * 64 + id] = __shfl_xor_sync(half, id, 1);
    /* Half a warp shuffles while the other half waits at a barrier. */
    int v = id;
    if (lane < 16)
        v = __shfl_xor_sync(0x0000ffffu, v, 2);
    __syncthreads();
    out[k++ * 64 + id] = v;
    /* The same mask from two lines: one operation (PTX's shfl.sync). */
    if (lane & 1)
        v = __shfl_xor_sync(FULL, id, 1);
    else
        v = __shfl_xor_sync(FULL, id, 1);
    out[k++ * 64 + id] = v;
    __syncwarp();
    out[k++ * 64 + id] = __shfl_sync(0x00000003u << (lane & ~1), id, lane ^ 1);
}

void emu_warp_ops(int *out)
{
    warp_ops_kernel<<<1, 64>>>(out);
}

__global__ void warp_bug_kernel(float *out, int bug)
{
    int lane = threadIdx.x % 32;
    float v = (float)lane;
    switch (bug) {
    case EMU_WARP_CALLER_UNNAMED:
        v = __shfl_xor_sync(0x0000ffffu, v, 1);
        break;
    case EMU_WARP_SOURCE_UNNAMED:
        if (lane < 16)
            v = __shfl_xor_sync(0x0000ffffu, v, 16);
        break;
    case EMU_WARP_MASKS_DIFFER:
        v = __shfl_xor_sync(lane == 3 ? 0x0000ffffu : FULL, v, 1);
        break;
    case EMU_WARP_EXITED_BEFORE:
        if (lane == 7)
            return;
        __syncthreads();
        break;
    case EMU_WARP_EXITED_WHILE:
        if (lane == 7)
            return;
        break;
    case EMU_WARP_DEADLOCK:
        if (lane < 16)
            __syncthreads();
        break;
    }
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(FULL, v, o);
    out[threadIdx.x] = v;
}

void emu_warp_bug(float *out, int bug)
{
    warp_bug_kernel<<<1, bug == EMU_WARP_PAST_END ? 48 : 32>>>(out, bug);
}
