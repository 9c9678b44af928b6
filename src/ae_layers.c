/* ae_layers.c — the autoencoder's layer kernels (dense, 3×3 stride-2 conv and transposed conv,
 * ReLU/sigmoid/linear, MSE/BCE) and the forward/backward passes over a network, compiled twice
 * from ae_layers_t.h: in float for training and in double for the finite-difference check.
 * The float passes run their products in float32 (OpenBLAS) or, when the workspace asks for
 * mixed precision, with bfloat16 inputs and float32 accumulation (gemm_bf16.c); everything else
 * (bias, activations, loss, gradients' reductions) stays float32 either way. */
#include "ae.h"
#include "gemm_bf16.h"

#include <cblas.h>
#include <omp.h>
#include <math.h>
#include <string.h>

/* OpenBLAS 0.3.21 splits a long inner dimension K into blocks differently in its serial and
 * threaded drivers (K between GEMM_Q and 2·GEMM_Q is halved with or without rounding to the
 * unroll), so C = A·B can differ in the last bit between 1 and 2 threads — measured for K = 500,
 * 700, 784, 2000 at M = 256. Calls with K ≤ 256 are one block in both drivers, and splitting M or N
 * over threads never changes an element's sum. So every product here runs in K chunks of at most
 * AE_KC, accumulated into C in a fixed order (beta, then 1): bit-identical for any thread count
 * (spec/ae_spec.lua fails when this chunking is switched off). The bfloat16 GEMM needs none of
 * this: its K blocks depend on K only. */
#define AE_KC 256

/* K splits into nch equal chunks of at most AE_KC (equal, so that no chunk is tiny) */
static int64_t kchunk(int64_t k) { int64_t nch = (k + AE_KC - 1) / AE_KC; return nch ? (k + nch - 1) / nch : 1; }

/* c (m×n) = op(a)·op(b) + beta·c in K chunks; the float version takes the bfloat16 GEMM when the
 * workspace says so (its own K blocking is already thread-count independent) */
#define DEF_GEMM(name, T, cblas_fn)                                                                  \
    static void name##_blas(T *c, const T *a, const T *b, int64_t m, int64_t n, int64_t k, int ta,   \
                            int tb, T beta)                                                          \
    {                                                                                                \
        if (m <= 0 || n <= 0) return;                                                                \
        blasint lda = ta ? (blasint)m : (blasint)k, ldb = tb ? (blasint)k : (blasint)n;              \
        int64_t kc0 = kchunk(k);                                                                     \
        for (int64_t k0 = 0; k0 < k; k0 += kc0) {                                                    \
            int64_t kc = k - k0 < kc0 ? k - k0 : kc0;                                                \
            cblas_fn(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,  \
                     (blasint)m, (blasint)n, (blasint)kc, 1, ta ? a + k0 * m : a + k0, lda,          \
                     tb ? b + k0 : b + k0 * n, ldb, k0 ? 1 : beta, c, (blasint)n);                   \
        }                                                                                            \
    }
DEF_GEMM(gemm_f32, float, cblas_sgemm)
DEF_GEMM(gemm_f64, double, cblas_dgemm)

static void gemm_ws_f32(fm_ae_ws_f32 *ws, float *c, const float *a, const float *b, int64_t m, int64_t n, int64_t k,
                        int ta, int tb, float beta)
{
    if (!ws->bf16) {
        gemm_f32_blas(c, a, b, m, n, k, ta, tb, beta);
        return;
    }
    /* the first failure sticks; the pass finishes on garbage and the caller reports it */
    fm_status s = fm_gemm_bf16(c, a, b, m, n, k, ta, tb, 1.0f, beta);
    if (s != FM_STATUS_OK && ws->err == FM_STATUS_OK) ws->err = s;
}

/* bfloat16 only: c (m×n) = relu?(a·op(b) + bias), the bias and ReLU applied to the tile in registers */
static void gemm_bias_relu_f32(fm_ae_ws_f32 *ws, float *c, const float *a, const float *b, int64_t m, int64_t n,
                               int64_t k, int tb, const float *bias, int relu)
{
    fm_status s = fm_gemm_bf16_ex(c, n, a, k, b, tb ? k : n, m, n, k, 0, tb, 1.0f, 0.0f, bias, relu);
    if (s != FM_STATUS_OK && ws->err == FM_STATUS_OK) ws->err = s;
}

#define T float
#define SFX _f32
#define GEMM_T(ws, c, a, b, m, n, k, ta, tb, beta) gemm_ws_f32(ws, c, a, b, m, n, k, ta, tb, beta)
#define GEMM_BIAS_RELU_T gemm_bias_relu_f32
#define EXP_T expf
#include "ae_layers_t.h"
#undef EXP_T
#undef GEMM_BIAS_RELU_T
#undef T
#undef SFX
#undef GEMM_T

#define T double
#define SFX _f64
#define GEMM_T(ws, c, a, b, m, n, k, ta, tb, beta) gemm_f64_blas(c, a, b, m, n, k, ta, tb, beta)
#define EXP_T exp
#include "ae_layers_t.h"
#undef T
#undef SFX
#undef GEMM_T
