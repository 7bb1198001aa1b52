/* tests/emu/kernel_emu.h - prelude that lets g++ compile a .cu file's
 * kernels as host C++ and run them on the CPU, so the GPU tests can run
 * where there is no GPU (CI).
 *
 * Force-included, after cu2cc.pl has turned every launch
 * `k<<<grid, block, shmem, stream>>>(args)` into
 * `pp_emu_launch(k, grid, block, shmem, stream)(args)`:
 *
 *   perl tests/emu/cu2cc.pl layers/x.cu <layers/x.cu |
 *     g++ -std=c++17 -ffp-contract=off -x c++ -include tests/emu/kernel_emu.h
 *         -I/usr/local/cuda/include -Ilayers -c -o x.o -
 *
 * A launch runs the whole grid before it returns, on the calling OS
 * thread, block after block; a block's threads are fibers (kernel_emu.cc)
 * that switch only at __syncthreads and warp shuffles. Device memory is
 * host memory. Everything here is per OS thread, so several host threads
 * (the pipeline's ranks, the emulated streams' workers) may run kernels
 * at once. launch_check.h, for pipette's own .cu files, queues each
 * launch on its stream instead, through `closure` and `run_closure`.
 */
#ifndef PP_KERNEL_EMU_H
#define PP_KERNEL_EMU_H

/* Before any CUDA header: host_defines.h keeps these when they are
 * already defined. __shared__ is one copy a block, and blocks run one at a
 * time on an OS thread, so a block's shared memory is a static of that OS
 * thread. */
#define __global__
#define __device__
#define __host__
#define __shared__ static thread_local

#include <math.h>
#include <stdint.h>
#include <string.h>

#include <tuple>
#include <type_traits>

#include <driver_types.h>
#include <vector_types.h>

/* Kernels are written for nvcc, whose device code gets no -Wall: a
 * `threadIdx.x < k` with an int k is how CUDA code reads, not a bug. */
#pragma GCC diagnostic ignored "-Wsign-compare"

/* The built-in variables of the running emulated thread; the scheduler
 * sets them before it resumes a fiber. */
extern thread_local uint3 pp_emu_threadIdx, pp_emu_blockIdx;
extern thread_local dim3 pp_emu_blockDim, pp_emu_gridDim;
#define threadIdx pp_emu_threadIdx
#define blockIdx pp_emu_blockIdx
#define blockDim pp_emu_blockDim
#define gridDim pp_emu_gridDim

void pp_emu_syncthreads(void);
uint64_t pp_emu_shfl_xor(uint64_t bits, unsigned lane_mask);
/* Whether a grid and block are within CUDA's limits; where not, the
 * launch error is cudaErrorInvalidConfiguration. */
bool pp_emu_valid_launch(dim3 grid, dim3 block);
/* Runs a valid launch. */
void pp_emu_run(dim3 grid, dim3 block, void (*body)(void *), void *arg);
extern "C" int pp_emu_take_launch_error(void);

#define __syncthreads() pp_emu_syncthreads()

/* Any value of up to 8 bytes travels as its bits. The mask is not
 * checked: the exchange is among the warp's non-exited lanes, which is
 * what a full mask means. */
template <typename T>
static inline T __shfl_xor_sync(unsigned mask, T v, int lane_mask)
{
    static_assert(sizeof(T) <= 8 && std::is_trivially_copyable<T>::value,
                  "shuffle of a value over 8 bytes");
    (void)mask;
    uint64_t bits = 0;
    memcpy(&bits, &v, sizeof v);
    bits = pp_emu_shfl_xor(bits, (unsigned)lane_mask);
    memcpy(&v, &bits, sizeof v);
    return v;
}

/* Device-only functions that the headers or kernels use. math_constants.h
 * builds CUDART_INF_F, CUDART_NAN, ... from the first two. */
static inline float __int_as_float(int i)
{
    float f;
    memcpy(&f, &i, sizeof f);
    return f;
}

static inline double __longlong_as_double(long long i)
{
    double d;
    memcpy(&d, &i, sizeof d);
    return d;
}

/* Round-to-nearest operations: IEEE on the host too, provided the
 * compiler does not fuse them (-ffp-contract=off). */
static inline float __fadd_rn(float a, float b) { return a + b; }
static inline float __fsub_rn(float a, float b) { return a - b; }
static inline float __fmul_rn(float a, float b) { return a * b; }
static inline float __fdiv_rn(float a, float b) { return a / b; }
static inline float __fsqrt_rn(float a) { return sqrtf(a); }

/* pp_emu_launch(k, grid, block[, shmem, stream])(args...): the call
 * converts args to the kernel's parameter types, as a launch does; every
 * emulated thread then gets its own copy of them. Shared memory size and
 * stream do not matter here: launches run in order, each to its end. */
template <typename... P> struct pp_emu_launcher {
    void (*kernel)(P...);
    dim3 grid, block;

    /* A launch with its converted arguments, run now or later. */
    struct closure {
        void (*kernel)(P...);
        dim3 grid, block;
        std::tuple<P...> args;
    };

    static void body(void *c)
    {
        closure *cl = (closure *)c;
        std::apply(cl->kernel, cl->args);
    }

    /* Runs a `new` closure of a valid launch, and deletes it. */
    static void run_closure(void *c)
    {
        closure *cl = (closure *)c;
        pp_emu_run(cl->grid, cl->block, body, cl);
        delete cl;
    }

    void operator()(P... args) const
    {
        if (!pp_emu_valid_launch(grid, block))
            return;
        closure cl = {kernel, grid, block, std::tuple<P...>(args...)};
        pp_emu_run(grid, block, body, &cl);
    }
};

template <typename... P>
static inline pp_emu_launcher<P...>
pp_emu_launch(void (*kernel)(P...), dim3 grid, dim3 block, size_t = 0,
              cudaStream_t = 0)
{
    return pp_emu_launcher<P...>{kernel, grid, block};
}

#endif
