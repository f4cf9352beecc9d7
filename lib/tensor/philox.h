/* Philox-4x32-10 and the mapping from its words to numbers: the one
 * definition every backend follows (the GLSL shaders mirror it). */
#ifndef TG_PHILOX_H
#define TG_PHILOX_H

#include <math.h>
#include <stdint.h>

/* Counter {lo(index), hi(index), 0, 0}, key {lo(seed), hi(seed)}. */
static inline void tt_philox4x32_10(uint64_t seed, uint64_t index, uint32_t out[4])
{
    uint32_t c0 = (uint32_t)index, c1 = (uint32_t)(index >> 32), c2 = 0, c3 = 0;
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    for (int round = 0; round < 10; round++) {
        uint64_t p0 = (uint64_t)0xD2511F53u * c0, p1 = (uint64_t)0xCD9E8D57u * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0, n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        c1 = (uint32_t)p1;
        c3 = (uint32_t)p0;
        c0 = n0;
        c2 = n2;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

/* 53 random bits as a double in [0, 1). (The shifted words fit int32: the
 * same values, and a conversion that vector loops have.) */
static inline double tt_philox_unit(uint32_t a, uint32_t b)
{
    return ((double)(int32_t)(a >> 5) * 67108864.0 + (double)(int32_t)(b >> 6)) * (1.0 / 9007199254740992.0);
}

/* Box-Muller, cosine branch: u from words 0-1, v from words 2-3. */
static inline double tt_philox_box_muller(const uint32_t w[4])
{
    double u = tt_philox_unit(w[0], w[1]), v = tt_philox_unit(w[2], w[3]);
    return sqrt(-2.0 * log(1.0 - u)) * cos(6.283185307179586 * v);
}

/* A uniform rounded to float32 stays below 1. */
static inline float tt_philox_unit_f32(double u)
{
    float f = (float)u;
    return f < 1.0f ? f : 0x1.fffffep-1f;
}

#endif
