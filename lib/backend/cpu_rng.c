/* The CPU backend's random numbers: Philox words eight indices at a time, and
 * float32 normals without a libm call per element, with libm's bits.
 *
 * A float32 normal is Box-Muller's double sqrt(-2 log(1 - u)) cos(2 pi v)
 * (tensor/philox.h) rounded to float. Here log and cos are polynomials,
 * vectorised over a block, within some 2^-46 of libm's values (relative, as
 * libm's own are within an ulp of the true ones); the double they give is then
 * within 2^-45 of libm's. The two round to the same float unless a float
 * rounding boundary lies between them, which can only be when the double lies
 * within that distance of one: such an element (about 1 in 65 000), and one
 * whose cosine is near zero, is computed again the libm way. So every float32
 * normal has exactly the bits of (float)tt_philox_box_muller, tested in
 * tests/unit/test_rng.c over both paths. Float64 normals still call libm
 * per element; uniforms are exact conversions of the words, vectorised. */
#include <math.h>
#include <string.h>
#include "backend/cpu_rng.h"
#include "tensor/backend.h"
#include "tensor/philox.h"

#define RNG_BLOCK 8
#define SIMD _Pragma("omp simd")

/* Philox for RNG_BLOCK consecutive indices at once: the same integer
 * operations as tt_philox4x32_10, so the same words. Portable form: the
 * rounds outside, the elements inside. */
VECTOR_CLONES static void philox_block_c(uint64_t seed, uint64_t index, uint32_t w[4][RNG_BLOCK])
{
    uint32_t c0[RNG_BLOCK], c1[RNG_BLOCK], c2[RNG_BLOCK], c3[RNG_BLOCK];
    SIMD for (int i = 0; i < RNG_BLOCK; i++)
    {
        uint64_t at = index + (uint64_t)i;
        c0[i] = (uint32_t)at, c1[i] = (uint32_t)(at >> 32), c2[i] = 0, c3[i] = 0;
    }
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    for (int round = 0; round < 10; round++) {
        SIMD for (int i = 0; i < RNG_BLOCK; i++)
        {
            uint64_t p0 = (uint64_t)0xD2511F53u * c0[i], p1 = (uint64_t)0xCD9E8D57u * c2[i];
            uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1[i] ^ k0, n2 = (uint32_t)(p0 >> 32) ^ c3[i] ^ k1;
            c1[i] = (uint32_t)p1;
            c3[i] = (uint32_t)p0;
            c0[i] = n0;
            c2[i] = n2;
        }
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    for (int i = 0; i < RNG_BLOCK; i++) w[0][i] = c0[i], w[1][i] = c1[i], w[2][i] = c2[i], w[3][i] = c3[i];
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define HAVE_PHILOX_AVX2 1 /* and AVX-512 */
/* AVX2 form: each counter word in a 64-bit lane, so that vpmuludq makes the
 * 32x32->64 products directly (the compiler's form of the loop above spends
 * most of its instructions moving 32-bit lanes in and out of place). Bits
 * above 32 in a lane are never read: vpmuludq takes the low halves, and the
 * words are stored from the low halves. */
/* One round on four lanes: c0..c3 the counter words, m0 m1 the multipliers. */
#define PHILOX_ROUND_AVX2(c0, c1, c2, c3, key0, key1)                                  \
    do {                                                                               \
        __m256i p0_ = _mm256_mul_epu32(c0, m0), p1_ = _mm256_mul_epu32(c2, m1);        \
        c0 = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(p1_, 32), c1), key0); \
        c2 = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(p0_, 32), c3), key1); \
        c1 = p1_;                                                                      \
        c3 = p0_;                                                                      \
    } while (0)

/* The low halves of the lanes of a (indices 0-3) and b (4-7), in index order. */
__attribute__((target("avx2"))) static inline void store_low_halves(uint32_t *w, __m256i a, __m256i b)
{
    __m256 lo = _mm256_shuffle_ps(_mm256_castsi256_ps(a), _mm256_castsi256_ps(b), _MM_SHUFFLE(2, 0, 2, 0));
    _mm256_storeu_si256((__m256i *)w, _mm256_permute4x64_epi64(_mm256_castps_si256(lo), _MM_SHUFFLE(3, 1, 2, 0)));
}

__attribute__((target("avx2"))) static void philox_block_avx2(uint64_t seed, uint64_t index, uint32_t w[4][RNG_BLOCK])
{
    const __m256i m0 = _mm256_set1_epi64x(0xD2511F53), m1 = _mm256_set1_epi64x(0xCD9E8D57);
    const __m256i at = _mm256_set1_epi64x((long long)index);
    /* lanes of indices 0-3 (a) and 4-7 (b) */
    __m256i a0 = _mm256_add_epi64(at, _mm256_setr_epi64x(0, 1, 2, 3)), a1 = _mm256_srli_epi64(a0, 32);
    __m256i b0 = _mm256_add_epi64(at, _mm256_setr_epi64x(4, 5, 6, 7)), b1 = _mm256_srli_epi64(b0, 32);
    __m256i a2 = _mm256_setzero_si256(), a3 = a2, b2 = a2, b3 = a2;
    /* the keys in 64-bit lanes too: their low halves advance as uint32 words do */
    __m256i key0 = _mm256_set1_epi64x((uint32_t)seed), key1 = _mm256_set1_epi64x((uint32_t)(seed >> 32));
    const __m256i bump0 = _mm256_set1_epi64x(0x9E3779B9), bump1 = _mm256_set1_epi64x(0xBB67AE85);
#pragma GCC unroll 10
    for (int round = 0; round < 10; round++) {
        PHILOX_ROUND_AVX2(a0, a1, a2, a3, key0, key1);
        PHILOX_ROUND_AVX2(b0, b1, b2, b3, key0, key1);
        key0 = _mm256_add_epi64(key0, bump0);
        key1 = _mm256_add_epi64(key1, bump1);
    }
    store_low_halves(w[0], a0, b0);
    store_low_halves(w[1], a1, b1);
    store_low_halves(w[2], a2, b2);
    store_low_halves(w[3], a3, b3);
}

/* AVX-512 form: the eight lanes in one register, three-way xors in one instruction. */
__attribute__((target("avx512f"))) static void philox_block_avx512(uint64_t seed, uint64_t index,
                                                                   uint32_t w[4][RNG_BLOCK])
{
    const __m512i m0 = _mm512_set1_epi64(0xD2511F53), m1 = _mm512_set1_epi64(0xCD9E8D57);
    __m512i c0 = _mm512_add_epi64(_mm512_set1_epi64((long long)index), _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7));
    __m512i c1 = _mm512_srli_epi64(c0, 32), c2 = _mm512_setzero_si512(), c3 = c2;
    __m512i key0 = _mm512_set1_epi64((uint32_t)seed), key1 = _mm512_set1_epi64((uint32_t)(seed >> 32));
    const __m512i bump0 = _mm512_set1_epi64(0x9E3779B9), bump1 = _mm512_set1_epi64(0xBB67AE85);
#pragma GCC unroll 10
    for (int round = 0; round < 10; round++) {
        __m512i p0 = _mm512_mul_epu32(c0, m0), p1 = _mm512_mul_epu32(c2, m1);
        c0 = _mm512_ternarylogic_epi64(_mm512_srli_epi64(p1, 32), c1, key0, 0x96); /* a ^ b ^ c */
        c2 = _mm512_ternarylogic_epi64(_mm512_srli_epi64(p0, 32), c3, key1, 0x96);
        c1 = p1;
        c3 = p0;
        key0 = _mm512_add_epi64(key0, bump0);
        key1 = _mm512_add_epi64(key1, bump1);
    }
    _mm256_storeu_si256((__m256i *)w[0], _mm512_cvtepi64_epi32(c0));
    _mm256_storeu_si256((__m256i *)w[1], _mm512_cvtepi64_epi32(c1));
    _mm256_storeu_si256((__m256i *)w[2], _mm512_cvtepi64_epi32(c2));
    _mm256_storeu_si256((__m256i *)w[3], _mm512_cvtepi64_epi32(c3));
}
#endif

/* __builtin_cpu_supports reads flags set once at load time: no race, two tests a block. */
static void philox_block(uint64_t seed, uint64_t index, uint32_t w[4][RNG_BLOCK])
{
#ifdef HAVE_PHILOX_AVX2
    if (__builtin_cpu_supports("avx512f")) {
        philox_block_avx512(seed, index, w);
        return;
    }
    if (__builtin_cpu_supports("avx2")) {
        philox_block_avx2(seed, index, w);
        return;
    }
#endif
    philox_block_c(seed, index, w);
}

static inline uint64_t bits_of(double x)
{
    uint64_t b;
    memcpy(&b, &x, sizeof b);
    return b;
}

static inline double double_of(uint64_t b)
{
    double x;
    memcpy(&x, &b, sizeof x);
    return x;
}

/* log(x) for x in (0, 1], relative error below 2^-50: x = 2^k z with z in
 * [sqrt(2)/2, sqrt(2)), log z = 2 atanh(s), s = (z-1)/(z+1), |s| < 0.1716,
 * by the atanh series to s^19 (the next term is below 2^-55 of the sum). */
static inline double log_unit(double x)
{
    uint64_t ix = bits_of(x);
    /* adding 1.0's bits minus sqrt(2)/2's carries into the exponent exactly when z would reach sqrt(2) */
    uint64_t ey = (ix + (0x3ff0000000000000ull - 0x3fe6a09e667f3bcdull)) & 0xfff0000000000000ull;
    double z = double_of(ix - (ey - 0x3ff0000000000000ull));
    double k = double_of(0x4330000000000000ull | (ey >> 52)) - (0x1p52 + 1023.0); /* exact, without int->double */
    double f = z - 1.0;                                                           /* exact (Sterbenz) */
    double s = f / (2.0 + f), t = s * s;
    double p = 1.0 / 19;
    p = p * t + 1.0 / 17;
    p = p * t + 1.0 / 15;
    p = p * t + 1.0 / 13;
    p = p * t + 1.0 / 11;
    p = p * t + 1.0 / 9;
    p = p * t + 1.0 / 7;
    p = p * t + 1.0 / 5;
    p = p * t + 1.0 / 3;
    /* ln 2 in two parts, the first with its low 21 bits zero: k * ln2_hi is exact */
    return k * 0x1.62e42feep-1 + (2.0 * s + 2.0 * s * (t * p) + k * 0x1.a39ef35793c76p-33);
}

/* cos(a) for a in [0, 2 pi], relative error below 2^-50 where |cos a| > 2^-20:
 * a = n pi/2 + r with pi/2 in three parts (the first two of 33 bits, so that
 * n * part is exact for n <= 4, and a - n * part1 is exact by Sterbenz),
 * |r| <= pi/4 + tiny, then the Taylor series of cos r (to r^16) or sin r (to
 * r^15), whose next terms are below 2^-54 of the value. */
static inline double cos_turn(double a)
{
    /* n = round(a * 2/pi) by adding 1.5 * 2^52: its low bits are then n */
    double biased = a * 0x1.45f306dc9c883p-1 + 0x1.8p52;
    uint64_t n = bits_of(biased);
    double nf = biased - 0x1.8p52;
    double r = ((a - nf * 0x1.921fb544p0) - nf * 0x1.0b4611a6p-34) - nf * 0x1.3198a2e037073p-69;
    double t = r * r;
    double c = 1.0 / 20922789888000.0; /* 1/16! */
    c = c * t - 1.0 / 87178291200.0;
    c = c * t + 1.0 / 479001600.0;
    c = c * t - 1.0 / 3628800.0;
    c = c * t + 1.0 / 40320.0;
    c = c * t - 1.0 / 720.0;
    c = c * t + 1.0 / 24.0;
    c = c * t - 0.5;
    c = c * t + 1.0;
    double s = -1.0 / 1307674368000.0; /* -1/15! */
    s = s * t + 1.0 / 6227020800.0;
    s = s * t - 1.0 / 39916800.0;
    s = s * t + 1.0 / 362880.0;
    s = s * t - 1.0 / 5040.0;
    s = s * t + 1.0 / 120.0;
    s = s * t - 1.0 / 6.0;
    s = r + r * (t * s);
    /* cos(n pi/2 + r): n mod 4 = 0: cos r, 1: -sin r, 2: -cos r, 3: sin r */
    double v = n & 1 ? s : c;
    return (n + 1) & 2 ? -v : v;
}

/* Doubles of the fast path that may round to another float than libm's:
 * within 2^12 double ulps of a float rounding boundary (the low 29 of the 52
 * fraction bits within 2^12 of 2^28). The two doubles differ by under 2^7 of
 * those ulps (2^-45 relative), so this leaves a factor of 32. */
#define UNSURE_ULPS 4096u

/* z for each lane as float, and 1 in unsure[] where the fast path's double
 * might round otherwise than libm's (or where cos is near zero, whose relative
 * accuracy the reduction above does not promise). */
VECTOR_CLONES static void normal_f32_block(const uint32_t w[4][RNG_BLOCK], float *out, uint64_t *unsure)
{
    SIMD for (int i = 0; i < RNG_BLOCK; i++)
    {
        double u = tt_philox_unit(w[0][i], w[1][i]), v = tt_philox_unit(w[2][i], w[3][i]);
        double c = cos_turn(6.283185307179586 * v);
        double z = sqrt(-2.0 * log_unit(1.0 - u)) * c;
        uint64_t low = bits_of(z) & 0x1fffffffull;
        unsure[i] = (uint64_t)((low - (0x10000000ull - UNSURE_ULPS) < 2 * UNSURE_ULPS) | (fabs(c) < 0x1p-20));
        out[i] = (float)z;
    }
}

/* Uniforms of a block: tt_philox_unit's doubles, and for float32 those
 * rounded as tt_philox_unit_f32 rounds them. */
VECTOR_CLONES static void uniform_f32_block(const uint32_t w[4][RNG_BLOCK], float *out)
{
    SIMD for (int i = 0; i < RNG_BLOCK; i++) out[i] = tt_philox_unit_f32(tt_philox_unit(w[0][i], w[1][i]));
}

VECTOR_CLONES static void uniform_f64_block(const uint32_t w[4][RNG_BLOCK], double *out)
{
    SIMD for (int i = 0; i < RNG_BLOCK; i++) out[i] = tt_philox_unit(w[0][i], w[1][i]);
}

void tt__cpu_rng_fill(void *out, int64_t n, tt_dtype dt, tt_rng_dist dist, uint64_t seed, uint64_t offset)
{
    char *base = out;
    size_t size = tt__dtype_size(dt);
    bool f32 = dt == TT_F32;
    for (int64_t i0 = 0; i0 < n; i0 += RNG_BLOCK) {
        uint32_t w[4][RNG_BLOCK];
        philox_block(seed, offset + (uint64_t)i0, w);
        union {
            float f[RNG_BLOCK];
            double d[RNG_BLOCK];
        } z;
        if (dist == TT_RNG_NORMAL && f32) {
            uint64_t unsure[RNG_BLOCK], any = 0;
            normal_f32_block(w, z.f, unsure);
            for (int j = 0; j < RNG_BLOCK; j++) any |= unsure[j];
            for (int j = 0; any && j < RNG_BLOCK; j++)
                if (unsure[j]) z.f[j] = (float)tt_philox_box_muller((uint32_t[4]){w[0][j], w[1][j], w[2][j], w[3][j]});
        } else if (dist == TT_RNG_NORMAL) {
            for (int j = 0; j < RNG_BLOCK; j++)
                z.d[j] = tt_philox_box_muller((uint32_t[4]){w[0][j], w[1][j], w[2][j], w[3][j]});
        } else if (f32) {
            uniform_f32_block(w, z.f);
        } else {
            uniform_f64_block(w, z.d);
        }
        int64_t m = n - i0 < RNG_BLOCK ? n - i0 : RNG_BLOCK;
        memcpy(base + i0 * (int64_t)size, &z, (size_t)m * size);
    }
}

tt_status tt__cpu_rng(const tt_kview *out, tt_rng_dist dist, uint64_t seed, uint64_t offset)
{
    int64_t n = 1;
    for (int d = 0; d < out->ndim; d++) n *= out->shape[d];
    tt__cpu_rng_fill((char *)out->buf + out->offset * (int64_t)tt__dtype_size(out->dtype), n, out->dtype, dist, seed,
                     offset);
    return TT_OK;
}
