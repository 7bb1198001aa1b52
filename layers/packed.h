/* layers/packed.h - how the layers' CUDA halves read and write float
 * activations of either storage: FP32 (float) or bf16 (__nv_bfloat16,
 * the bits of pipette/bf16.h's pp_bf16). In .cu files only; not part of
 * the plugin SDK.
 *
 * A kernel is a template over T, the element type, and its host side
 * picks the instance from the call's precision (BY_DTYPE). Arithmetic is
 * FP32: elem_load() reads a value exactly, elem_store() rounds to nearest
 * even, as pp_f32_to_bf16() does on the CPU, so the halves store the same
 * bits for the same float.
 *
 * Packs, after llm.c's Packed128: 16 bytes, PACK(T) elements (4 floats
 * or 8 bf16), read and written as one int4 (one 128-bit access) at a
 * 16-byte aligned address. A kernel walks its elements as runs: whole
 * packs while every array it touches allows them, then the elements
 * left, one at a time (grid_runs for a flat array, lane_runs for a row
 * that one warp takes). A run's values sit in a float array of PACK(T),
 * of which run_load and run_store fill or write the first k.
 */
#ifndef PP_LAYERS_PACKED_H
#define PP_LAYERS_PACKED_H

#include <stdint.h>
#include <string.h>

#include <cuda_bf16.h>

#include <pipette/cuda.h>

/* fn<T>(...) for the call's activations: bf16 or float. */
#define BY_DTYPE(c, fn, ...)                                                \
    ((c)->precision == PP_PRECISION_BF16 ? fn<__nv_bfloat16>(__VA_ARGS__)   \
                                         : fn<float>(__VA_ARGS__))

/* Elements of T in 16 bytes. */
#define PACK(T) ((int)(16 / sizeof(T)))

__device__ static inline float elem_load(const float *p)
{
    return *p;
}

__device__ static inline float elem_load(const __nv_bfloat16 *p)
{
    return __bfloat162float(*p);
}

__device__ static inline void elem_store(float *p, float v)
{
    *p = v;
}

__device__ static inline void elem_store(__nv_bfloat16 *p, float v)
{
    *p = __float2bfloat16_rn(v);
}

/* Whether p may be read or written a pack at a time. */
__device__ static inline bool aligned16(const void *p)
{
    return ((uintptr_t)p & 15) == 0;
}

/* v[0 .. k - 1] = p[0 .. k - 1] as FP32, k being PACK(T) (one 16-byte
 * load, p aligned) or 1. */
template <typename T>
__device__ static inline void run_load(float *v, const T *p, int k)
{
    if (k == 1) {
        v[0] = elem_load(p);
        return;
    }
    int4 bits = *reinterpret_cast<const int4 *>(p);
    T e[PACK(T)];
    memcpy(e, &bits, sizeof bits);
    for (int i = 0; i < PACK(T); i++)
        v[i] = elem_load(&e[i]);
}

/* p[0 .. k - 1] = v[0 .. k - 1], rounded to T; k as run_load's. */
template <typename T>
__device__ static inline void run_store(T *p, const float *v, int k)
{
    if (k == 1) {
        elem_store(p, v[0]);
        return;
    }
    T e[PACK(T)];
    for (int i = 0; i < PACK(T); i++)
        elem_store(&e[i], v[i]);
    int4 bits;
    memcpy(&bits, e, sizeof bits);
    *reinterpret_cast<int4 *>(p) = bits;
}

/* A grid-stride loop over n elements as runs: f(i, k) takes elements
 * i .. i + k - 1. Whole packs where `packs` (every array 16-byte aligned
 * at element 0), then the elements after the last whole pack; k is
 * PACK(T) or 1. */
template <typename T, typename F>
__device__ static inline void grid_runs(int64_t n, bool packs, F f)
{
    const int K = PACK(T);
    int64_t whole = packs ? n / K : 0, rest = whole * K;
    PP_CUDA_GRID_STRIDE(p, whole)
        f(p * K, K);
    PP_CUDA_GRID_STRIDE(i, n - rest)
        f(rest + i, 1);
}

/* Threads for grid_runs over n elements: a pack each. */
template <typename T> static inline unsigned grid_runs_blocks(int64_t n)
{
    return pp_cuda_blocks((n + PACK(T) - 1) / PACK(T));
}

/* In a row kernel (one warp a row, pipette/cuda.h), the lane's share of
 * a row of C elements as runs, f(j, k) as grid_runs's: packs lane,
 * lane + 32, ... where `packs` (every array's row 16-byte aligned), then
 * the elements after the last whole pack, lane, lane + 32, ... of them. */
template <typename T, typename F>
__device__ static inline void lane_runs(int64_t C, bool packs, F f)
{
    const int K = PACK(T);
    int64_t lane = threadIdx.x % 32, rest = packs ? C / K * K : 0;
    for (int64_t j = lane * K; j < rest; j += 32 * K)
        f(j, K);
    for (int64_t j = rest + lane; j < C; j += 32)
        f(j, 1);
}

#endif
