/* plugins/counter_rng.h - counter-based random numbers for data sources.
 *
 * Every number is a pure function of (seed, stream, i, j): no generator
 * state advances, so sample i comes out the same whichever thread asks for
 * it, in whatever order, in whatever slice of a batch. splitmix64's
 * finaliser (Steele, Lea & Flood 2014) does the mixing; it is fast and
 * passes BigCrush on a counter, which is all a data set needs. Not for
 * anything that must be hard to predict.
 */
#ifndef PP_PLUGINS_COUNTER_RNG_H
#define PP_PLUGINS_COUNTER_RNG_H

#include <math.h>
#include <stdint.h>

static inline uint64_t pp_mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15u;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
    return x ^ (x >> 31);
}

/* Mixing after each input, rather than once over their sum, keeps
 * (stream, i, j) and (stream, j, i) apart. */
static inline uint64_t pp_rng_u64(uint64_t seed, uint64_t stream, uint64_t i,
                                  uint64_t j)
{
    return pp_mix64(pp_mix64(pp_mix64(pp_mix64(seed) ^ stream) ^ i) ^ j);
}

/* Uniform in (0, 1): never 0, so log() below is finite. */
static inline double pp_rng_uniform(uint64_t seed, uint64_t stream,
                                    uint64_t i, uint64_t j)
{
    return ((double)(pp_rng_u64(seed, stream, i, j) >> 11) + 0.5) * 0x1p-53;
}

/* Standard normal by Box-Muller from the uniforms at j's two halves; the
 * sine half is dropped so that each j stays independent of the others. */
static inline double pp_rng_normal(uint64_t seed, uint64_t stream,
                                   uint64_t i, uint64_t j)
{
    double u1 = pp_rng_uniform(seed, stream, i, 2 * j);
    double u2 = pp_rng_uniform(seed, stream, i, 2 * j + 1);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

#endif
