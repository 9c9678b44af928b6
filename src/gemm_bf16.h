/* gemm_bf16.h — a row-major GEMM with bfloat16 products and float32 accumulation (gemm_bf16.c).
 *
 * C (m×n) = alpha · op(A) · op(B) + beta · C, with float32 inputs and outputs, as fm_gemm. A and B
 * are rounded to bfloat16 (round to nearest even) while they are packed, the products are
 * accumulated in float32 (AVX-512 BF16: VDPBF16PS). Each element is a sum over fixed K blocks in a
 * fixed order, so the result is bit-identical for any number of threads. beta = 0 never reads C
 * (NaN there does not leak). bfloat16 keeps 8 significant bits, so each factor is off by at most
 * 2^-8 relative and each product by 2^-7 (about 2^-8.6 rms); a sum of K random-sign terms ends up
 * at about that relative error too (the errors add like the terms, in quadrature).
 *
 * On a CPU without AVX-512 BF16 (or with FMCLUST_NO_BF16 set in the environment, for tests) the
 * same call runs float32 SGEMM instead; fm_bf16_available() says which.
 */
#ifndef FM_GEMM_BF16_H
#define FM_GEMM_BF16_H

#include "fm.h"

/* 1 when fm_gemm_bf16 uses bfloat16 products (CPU has AVX512-BF16 and FMCLUST_NO_BF16 is unset) */
int fm_bf16_available(void);

/* as fm_gemm: A is m×k (k×m if ta), B is k×n (n×k if tb), all packed row-major.
 * Returns FM_STATUS_NOMEM if its packing buffers cannot be allocated (C is then untouched). */
fm_status fm_gemm_bf16(float *c, const float *a, const float *b, int64_t m, int64_t n, int64_t k, int ta, int tb,
                       float alpha, float beta);

/* with leading dimensions (row strides, in elements): lda ≥ (ta ? m : k), ldb ≥ (tb ? k : n), ldc ≥ n */
fm_status fm_gemm_bf16_ld(float *c, int64_t ldc, const float *a, int64_t lda, const float *b, int64_t ldb,
                          int64_t m, int64_t n, int64_t k, int ta, int tb, float alpha, float beta);

/* then, while the tile is in registers, C ← C + bias (n values, each row; NULL: none) and with
 * relu, C ← C > 0 ? C : 0 — a dense layer's bias and ReLU without another pass over C */
fm_status fm_gemm_bf16_ex(float *c, int64_t ldc, const float *a, int64_t lda, const float *b, int64_t ldb,
                          int64_t m, int64_t n, int64_t k, int ta, int tb, float alpha, float beta,
                          const float *bias, int relu);

#endif
