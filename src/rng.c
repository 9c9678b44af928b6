/* rng.c — counter-based random streams: (seed, stream) → xoshiro256++ state via splitmix64.
 * Any work item can own a stream, so results never depend on which thread ran it. */
#include "fm.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void fm_rng_init(fm_rng *r, uint64_t seed, uint64_t stream)
{
    /* mix the stream id through its own splitmix step so neighbouring streams are unrelated */
    uint64_t t = stream;
    uint64_t x = seed ^ splitmix64(&t);
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

double fm_rng_uniform(fm_rng *r) { return (double)(fm_rng_u64(r) >> 11) * 0x1.0p-53; }

double fm_rng_normal(fm_rng *r)
{
    double u, v, s;
    do {
        u = 2.0 * fm_rng_uniform(r) - 1.0;
        v = 2.0 * fm_rng_uniform(r) - 1.0;
        s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    return u * sqrt(-2.0 * log(s) / s);
}

void fm_rng_fill(float *out, int64_t count, uint64_t seed, uint64_t stream0, int dist)
{
    int64_t nchunk = (count + FM_RNG_CHUNK - 1) / FM_RNG_CHUNK;
    #pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < nchunk; c++) {
        fm_rng r;
        fm_rng_init(&r, seed, stream0 + (uint64_t)c);
        int64_t i1 = (c + 1) * FM_RNG_CHUNK < count ? (c + 1) * FM_RNG_CHUNK : count;
        for (int64_t i = c * FM_RNG_CHUNK; i < i1; i++)
            /* 24 bits for float so a uniform never rounds up to 1.0f */
            out[i] = dist == 1 ? (float)fm_rng_normal(&r)
                               : (float)(fm_rng_u64(&r) >> 40) * 0x1.0p-24f;
    }
}

void fm_rng_permutation(int64_t *perm, int64_t n, uint64_t seed, uint64_t stream)
{
    fm_rng r;
    fm_rng_init(&r, seed, stream);
    for (int64_t i = 0; i < n; i++) perm[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)fm_rng_below(&r, (uint64_t)i + 1);
        int64_t t = perm[i]; perm[i] = perm[j]; perm[j] = t;
    }
}
