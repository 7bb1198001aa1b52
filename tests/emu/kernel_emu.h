/* tests/emu/kernel_emu.h - prelude that lets g++ compile a .cu file's
 * kernels as host C++ and run them on the CPU, so the GPU tests can run
 * where there is no GPU (CI).
 *
 * Force-included, after cu2cc.pl has turned every launch
 * `k<<<grid, block, shmem, stream>>>(args)` into
 * `pp_emu_launch(k, grid, block, shmem, stream)(args)` and followed every
 * `__shared__` declaration in a function with a pp_emu_shared call:
 *
 *   perl tests/emu/cu2cc.pl layers/x.cu <layers/x.cu |
 *     g++ -std=c++17 -ffp-contract=off -x c++ -include tests/emu/kernel_emu.h
 *         -I/usr/local/cuda/include -Ilayers -c -o x.o -
 *
 * A launch runs the whole grid before it returns, on the calling OS
 * thread, block after block; a block's threads are fibers (kernel_emu.cc)
 * that switch only at __syncthreads and warp operations, in an order
 * drawn at random for each block (PIPETTE_EMU_SEED repeats a run's order).
 * Shared memory holds 0xff bytes when a block starts, and a warp
 * operation's mask is checked. Device memory is host memory. Everything
 * here is per OS thread, so several host threads (the pipeline's ranks,
 * the emulated streams' workers) may run kernels at once. launch_check.h,
 * for pipette's own .cu files, queues each launch on its stream instead,
 * through `closure` and `run_closure`.
 */
#ifndef PP_KERNEL_EMU_H
#define PP_KERNEL_EMU_H

/* Before any CUDA header: host_defines.h keeps these when they are
 * already defined. __shared__ is one copy a block, and blocks run one at a
 * time on an OS thread, so a block's shared memory is a static of that OS
 * thread. Only the pp_emu_shared call that cu2cc.pl adds poisons it: code
 * compiled without cu2cc.pl gets what the previous block left. */
#define __global__
#define __device__
#define __host__
#define __shared__ static thread_local

#include <math.h>
#include <stddef.h>
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

void pp_emu_syncthreads(const char *file, int line);
/* A warp operation: the calling lane waits until every lane of mask has
 * come with the same mask and kind, then gets its source lane's bits
 * (shuffles), the mask's ballot (PP_EMU_BALLOT) or nothing (PP_EMU_SYNCWARP).
 * Dies where CUDA leaves the result undefined or the GPU would hang. */
enum {
    PP_EMU_SHFL_IDX,
    PP_EMU_SHFL_UP,
    PP_EMU_SHFL_DOWN,
    PP_EMU_SHFL_XOR,
    PP_EMU_BALLOT,
    PP_EMU_SYNCWARP
};
uint64_t pp_emu_warp_op(int kind, unsigned mask, uint64_t bits, int arg,
                        int width, const char *file, int line);
/* cu2cc.pl's call after a function's `__shared__ T name[n];`: the first
 * thread of a block to pass it fills name with 0xff bytes (NaN, -1). */
void pp_emu_shared(void *p, size_t size);
/* cu2cc.pl turns `extern __shared__ T name[];` into
 * `T *const name = pp_emu_dynamic_shared();`: the launch's shmem bytes,
 * 0xff-filled at each block's start. */
struct pp_emu_dynamic_shared_ptr {
    void *p;
    template <typename T> operator T *() const { return (T *)p; }
};
pp_emu_dynamic_shared_ptr pp_emu_dynamic_shared(void);
/* Whether a grid and block are within CUDA's limits; where not, the
 * launch error is cudaErrorInvalidConfiguration. */
bool pp_emu_valid_launch(dim3 grid, dim3 block);
/* Runs a valid launch. */
void pp_emu_run(dim3 grid, dim3 block, size_t shmem, void (*body)(void *),
                void *arg);
extern "C" int pp_emu_take_launch_error(void);
/* The seed of the fibers' order: PIPETTE_EMU_SEED (decimal) where set,
 * else drawn from the clock and pid once a process. A test that fails
 * may print it; the emulator's own errors do. pp_emu_set_seed starts
 * every OS thread's order afresh from seed. */
extern "C" uint64_t pp_emu_seed(void);
extern "C" void pp_emu_set_seed(uint64_t seed);

#define __syncthreads() pp_emu_syncthreads(__FILE__, __LINE__)

/* Any value of up to 8 bytes travels as its bits. The default arguments
 * name the caller's line in the emulator's errors. */
template <typename T>
static inline T pp_emu_shfl(int kind, unsigned mask, T v, int arg, int width,
                            const char *file, int line)
{
    static_assert(sizeof(T) <= 8 && std::is_trivially_copyable<T>::value,
                  "shuffle of a value over 8 bytes");
    uint64_t bits = 0;
    memcpy(&bits, &v, sizeof v);
    bits = pp_emu_warp_op(kind, mask, bits, arg, width, file, line);
    memcpy(&v, &bits, sizeof v);
    return v;
}

template <typename T>
static inline T __shfl_sync(unsigned mask, T v, int src_lane, int width = 32,
                            const char *file = __builtin_FILE(),
                            int line = __builtin_LINE())
{
    return pp_emu_shfl(PP_EMU_SHFL_IDX, mask, v, src_lane, width, file, line);
}

template <typename T>
static inline T __shfl_up_sync(unsigned mask, T v, unsigned delta,
                               int width = 32,
                               const char *file = __builtin_FILE(),
                               int line = __builtin_LINE())
{
    return pp_emu_shfl(PP_EMU_SHFL_UP, mask, v, delta < 32 ? (int)delta : 32,
                       width, file, line);
}

template <typename T>
static inline T __shfl_down_sync(unsigned mask, T v, unsigned delta,
                                 int width = 32,
                                 const char *file = __builtin_FILE(),
                                 int line = __builtin_LINE())
{
    return pp_emu_shfl(PP_EMU_SHFL_DOWN, mask, v,
                       delta < 32 ? (int)delta : 32, width, file, line);
}

template <typename T>
static inline T __shfl_xor_sync(unsigned mask, T v, int lane_mask,
                                int width = 32,
                                const char *file = __builtin_FILE(),
                                int line = __builtin_LINE())
{
    return pp_emu_shfl(PP_EMU_SHFL_XOR, mask, v, lane_mask, width, file,
                       line);
}

static inline unsigned __ballot_sync(unsigned mask, int pred,
                                     const char *file = __builtin_FILE(),
                                     int line = __builtin_LINE())
{
    return (unsigned)pp_emu_warp_op(PP_EMU_BALLOT, mask, pred != 0, 0, 32,
                                    file, line);
}

static inline int __any_sync(unsigned mask, int pred,
                             const char *file = __builtin_FILE(),
                             int line = __builtin_LINE())
{
    return __ballot_sync(mask, pred, file, line) != 0;
}

static inline int __all_sync(unsigned mask, int pred,
                             const char *file = __builtin_FILE(),
                             int line = __builtin_LINE())
{
    return __ballot_sync(mask, pred, file, line) == mask;
}

static inline void __syncwarp(unsigned mask = 0xffffffffu,
                              const char *file = __builtin_FILE(),
                              int line = __builtin_LINE())
{
    pp_emu_warp_op(PP_EMU_SYNCWARP, mask, 0, 0, 32, file, line);
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

/* Atomics and fences. A block's threads are fibers of one OS thread
 * that switch only at __syncthreads and warp operations, and a grid's
 * blocks run one after another, so a plain read-modify-write is atomic
 * among them and every write is seen by the next read. */
static inline unsigned atomicAdd(unsigned *p, unsigned v)
{
    unsigned old = *p;
    *p = old + v;
    return old;
}

static inline void __threadfence(void) {}

/* Round-to-nearest operations: IEEE on the host too, provided the
 * compiler does not fuse them (-ffp-contract=off). */
static inline float __fadd_rn(float a, float b) { return a + b; }
static inline float __fsub_rn(float a, float b) { return a - b; }
static inline float __fmul_rn(float a, float b) { return a * b; }
static inline float __fdiv_rn(float a, float b) { return a / b; }
static inline float __fsqrt_rn(float a) { return sqrtf(a); }

/* pp_emu_launch(k, grid, block[, shmem, stream])(args...): the call
 * converts args to the kernel's parameter types, as a launch does; every
 * emulated thread then gets its own copy of them. shmem is the size of
 * the dynamic shared memory. The stream does not matter here: launches
 * run in order, each to its end. */
template <typename... P> struct pp_emu_launcher {
    void (*kernel)(P...);
    dim3 grid, block;
    size_t shmem;

    /* A launch with its converted arguments, run now or later. */
    struct closure {
        void (*kernel)(P...);
        dim3 grid, block;
        size_t shmem;
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
        pp_emu_run(cl->grid, cl->block, cl->shmem, body, cl);
        delete cl;
    }

    void operator()(P... args) const
    {
        if (!pp_emu_valid_launch(grid, block))
            return;
        closure cl = {kernel, grid, block, shmem, std::tuple<P...>(args...)};
        pp_emu_run(grid, block, shmem, body, &cl);
    }
};

template <typename... P>
static inline pp_emu_launcher<P...>
pp_emu_launch(void (*kernel)(P...), dim3 grid, dim3 block, size_t shmem = 0,
              cudaStream_t = 0)
{
    return pp_emu_launcher<P...>{kernel, grid, block, shmem};
}

#endif
