/* ae_optim.c — Adam and SGD on the autoencoder's parameter vector. The updates are elementwise
 * and split into fixed chunks of AE_OPT_CHUNK elements: every element gets the same arithmetic
 * (vector body or scalar tail) whatever the number of threads. */
#include "ae.h"

#include <math.h>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#define AE_OPT_CHUNK 8192

/* Adam on p[i0, i1): GCC keeps sqrtf scalar (errno), so the AVX-512 body is written out; it does
 * exactly the scalar tail's operations in the same order (no FMA: -std=c11 does not contract). */
static void adam_range(float *restrict p, float *restrict m, float *restrict v, const float *restrict g,
                       int64_t i0, int64_t i1, float step, float inv_sqrt_bc2, float b1, float b2, float eps,
                       float wd)
{
    float c1 = 1.0f - b1, c2 = 1.0f - b2;
    int64_t i = i0;
#if defined(__AVX512F__)
    __m512 vb1 = _mm512_set1_ps(b1), vb2 = _mm512_set1_ps(b2), vc1 = _mm512_set1_ps(c1), vc2 = _mm512_set1_ps(c2);
    __m512 vwd = _mm512_set1_ps(wd), vstep = _mm512_set1_ps(step), vbc = _mm512_set1_ps(inv_sqrt_bc2);
    __m512 veps = _mm512_set1_ps(eps);
    for (; i + 16 <= i1; i += 16) {
        __m512 pi = _mm512_loadu_ps(p + i);
        __m512 gi = _mm512_add_ps(_mm512_loadu_ps(g + i), _mm512_mul_ps(vwd, pi));
        __m512 mi = _mm512_add_ps(_mm512_mul_ps(vb1, _mm512_loadu_ps(m + i)), _mm512_mul_ps(vc1, gi));
        __m512 vi = _mm512_add_ps(_mm512_mul_ps(vb2, _mm512_loadu_ps(v + i)), _mm512_mul_ps(_mm512_mul_ps(vc2, gi), gi));
        _mm512_storeu_ps(m + i, mi);
        _mm512_storeu_ps(v + i, vi);
        __m512 den = _mm512_add_ps(_mm512_mul_ps(_mm512_sqrt_ps(vi), vbc), veps);
        _mm512_storeu_ps(p + i, _mm512_sub_ps(pi, _mm512_div_ps(_mm512_mul_ps(vstep, mi), den)));
    }
#endif
    for (; i < i1; i++) {
        float gi = g[i] + wd * p[i];
        float mi = b1 * m[i] + c1 * gi;
        float vi = b2 * v[i] + c2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] -= step * mi / (sqrtf(vi) * inv_sqrt_bc2 + eps);
    }
}

void fm_ae_adam_step(float *restrict p, float *restrict m, float *restrict v, const float *restrict g, int64_t n,
                     float lr, float beta1, float beta2, float eps, float weight_decay, int64_t t)
{
    /* bias corrections folded into the step size and eps, as in PyTorch's Adam:
     * p −= lr/(1−β1ᵗ) · m / (√v / √(1−β2ᵗ) + eps) */
    double bc1 = 1.0 - pow(beta1, (double)t), bc2 = 1.0 - pow(beta2, (double)t);
    float step = (float)(lr / bc1), inv_sqrt_bc2 = (float)(1.0 / sqrt(bc2));
    int64_t nch = (n + AE_OPT_CHUNK - 1) / AE_OPT_CHUNK;
    #pragma omp parallel for schedule(static) if (n > 32768)
    for (int64_t c = 0; c < nch; c++) {
        int64_t i1 = (c + 1) * AE_OPT_CHUNK < n ? (c + 1) * AE_OPT_CHUNK : n;
        adam_range(p, m, v, g, c * AE_OPT_CHUNK, i1, step, inv_sqrt_bc2, beta1, beta2, eps, weight_decay);
    }
}

void fm_ae_sgd_step(float *restrict p, float *restrict vel, const float *restrict g, int64_t n, float lr,
                    float momentum, float weight_decay)
{
    #pragma omp parallel for schedule(static) if (n > 32768)
    for (int64_t i = 0; i < n; i++) {
        float gi = g[i] + weight_decay * p[i];
        if (momentum != 0.0f) gi = vel[i] = momentum * vel[i] + gi;
        p[i] -= lr * gi;
    }
}
