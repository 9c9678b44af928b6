/* ae_layers.c — the autoencoder's layer kernels (dense, 3×3 stride-2 conv and transposed conv,
 * ReLU/sigmoid/linear, MSE/BCE) and the forward/backward passes over a network, compiled twice
 * from ae_layers_t.h: in float for training and in double for the finite-difference check. */
#include "ae.h"

#include <cblas.h>
#include <omp.h>
#include <math.h>
#include <string.h>

/* OpenBLAS 0.3.21 splits a long inner dimension K into blocks differently in its serial and
 * threaded drivers (K between GEMM_Q and 2·GEMM_Q is halved with or without rounding to the
 * unroll), so C = A·B can differ in the last bit between 1 and 2 threads — measured for K = 500,
 * 700, 784, 2000 at M = 256. Calls with K ≤ 256 are one block in both drivers, and splitting M or N
 * over threads never changes an element's sum. So every product here runs in K chunks of at most
 * AE_KC, accumulated into C in a fixed order (beta = 0, then 1): bit-identical for any thread count
 * (spec/ae_spec.lua fails when this chunking is switched off). */
#define AE_KC 256

/* K splits into nch equal chunks of at most AE_KC (equal, so that no chunk is tiny) */
static int64_t kchunk(int64_t k) { int64_t nch = (k + AE_KC - 1) / AE_KC; return nch ? (k + nch - 1) / nch : 1; }

#define DEF_GEMM(name, T, cblas_fn)                                                                  \
    static void name(T *c, const T *a, const T *b, int64_t m, int64_t n, int64_t k, int ta, int tb)  \
    {                                                                                                \
        if (m <= 0 || n <= 0) return;                                                                \
        blasint lda = ta ? (blasint)m : (blasint)k, ldb = tb ? (blasint)k : (blasint)n;              \
        int64_t kc0 = kchunk(k);                                                                     \
        for (int64_t k0 = 0; k0 < k; k0 += kc0) {                                                    \
            int64_t kc = k - k0 < kc0 ? k - k0 : kc0;                                                \
            cblas_fn(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,  \
                     (blasint)m, (blasint)n, (blasint)kc, 1, ta ? a + k0 * m : a + k0, lda,          \
                     tb ? b + k0 : b + k0 * n, ldb, k0 ? 1 : 0, c, (blasint)n);                      \
        }                                                                                            \
    }
DEF_GEMM(gemm_f32, float, cblas_sgemm)
DEF_GEMM(gemm_f64, double, cblas_dgemm)

#define T float
#define SFX _f32
#define GEMM_T(c, a, b, m, n, k, ta, tb) gemm_f32(c, a, b, m, n, k, ta, tb)
#define EXP_T expf
#include "ae_layers_t.h"
#undef EXP_T
#undef T
#undef SFX
#undef GEMM_T

#define T double
#define SFX _f64
#define GEMM_T(c, a, b, m, n, k, ta, tb) gemm_f64(c, a, b, m, n, k, ta, tb)
#define EXP_T exp
#include "ae_layers_t.h"
#undef T
#undef SFX
#undef GEMM_T
