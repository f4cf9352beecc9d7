/* Counter-based random numbers: Philox-4x32-10 (Salmon et al., SC'11).
 * Element i of a draw at generator offset o depends only on (seed, o + i),
 * so any backend can produce any element independently and identically. */
#include <math.h>
#include "tensor/capture.h"
#include "tensor/internal.h"
#include "tensor/philox.h"

static _Thread_local tt_generator default_generator;

tt_generator *tt_default_generator(void) { return &default_generator; }

void tt_manual_seed(uint64_t seed)
{
    default_generator.seed = seed;
    default_generator.offset = 0;
}

double tt_philox_uniform(uint64_t seed, uint64_t index)
{
    uint32_t w[4];
    tt_philox4x32_10(seed, index, w);
    return tt_philox_unit(w[0], w[1]);
}

double tt_philox_normal(uint64_t seed, uint64_t index)
{
    uint32_t w[4];
    tt_philox4x32_10(seed, index, w);
    return tt_philox_box_muller(w);
}

static tt_tensor *draw(int ndim, const int64_t *shape, tt_dtype dt, tt_device dev, tt_generator *gen, tt_rng_dist dist)
{
    if (!tt_dtype_is_floating(dt)) {
        tt_set_error(TT_EDTYPE, "%s is only implemented for floating dtypes, not %s",
                     dist == TT_RNG_UNIFORM ? "rand" : "randn", tt_dtype_name(dt));
        return NULL;
    }
    tt_tensor *t = tt_empty(ndim, shape, dt, dev);
    if (!t) return NULL;
    if (!gen) gen = &default_generator;
    int64_t n = tt_numel(t);
    if (n) {
        tt_kview v;
        tt__kview(t, &v);
        const tt_backend *be = tt__backend(t);
        if (tt__recording) tt__capture_rng(gen);
        if (TT__KERNEL(be, rng, "random numbers") || be->rng(&v, dist, gen->seed, gen->offset) != TT_OK) {
            tt_release(t);
            return NULL;
        }
    }
    gen->offset += (uint64_t)n;
    return t;
}

tt_tensor *tt_rand(int ndim, const int64_t *shape, tt_dtype dt, tt_device dev, tt_generator *gen)
{
    return draw(ndim, shape, dt, dev, gen, TT_RNG_UNIFORM);
}

tt_tensor *tt_randn(int ndim, const int64_t *shape, tt_dtype dt, tt_device dev, tt_generator *gen)
{
    return draw(ndim, shape, dt, dev, gen, TT_RNG_NORMAL);
}
