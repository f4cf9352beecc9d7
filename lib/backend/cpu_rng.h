/* The CPU backend's random numbers (cpu_rng.c): fills the contiguous out with
 * draws seed, offset + i of dist, with the bits tensor/philox.h defines. */
#ifndef TG_CPU_RNG_H
#define TG_CPU_RNG_H

#include "tensor/backend.h"

tt_status tt__cpu_rng(const tt_kview *out, tt_rng_dist dist, uint64_t seed, uint64_t offset);
/* The same on n elements at out (a replay's ready form). */
void tt__cpu_rng_fill(void *out, int64_t n, tt_dtype dt, tt_rng_dist dist, uint64_t seed, uint64_t offset);

#endif
