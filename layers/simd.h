/* layers/simd.h - LAYER_LOOP marks a CPU loop function that the compiler
 * builds for AVX2 and for any x86-64, the loader picking the one the CPU
 * runs (target_clones, where configure found it; otherwise nothing). For
 * loops the compiler vectorises as they are: elementwise and norm loops.
 * AVX2 brings no FMA, and no clone reorders a sum, so every clone gives
 * the same bits. Not for inline functions.
 */
#ifndef PP_LAYERS_SIMD_H
#define PP_LAYERS_SIMD_H

#include <config.h>

#if defined(HAVE_TARGET_CLONES) && defined(__x86_64__)
#define LAYER_LOOP __attribute__((target_clones("avx2", "default")))
#else
#define LAYER_LOOP
#endif

#endif
