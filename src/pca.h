/* pca.h — principal component analysis: the declarations of src/pca.c.
 *
 * Two solvers for the top-k principal axes of X (n×d, float32, row-major), both centring X
 * implicitly (the input is never copied or modified):
 *   covariance  C = X̃ᵀX̃ (d×d) — exactly, in integers, for 8-bit data on AVX-512 VNNI CPUs
 *               (fm_pca_covariance_u8), else by cblas_ssyrk on centred row chunks summed in
 *               double — then LAPACKE_dsyevr for the top k eigenpairs. Work ≈ n·d²/2 + O(d³).
 *   randomized  Halko, Martinsson & Tropp (2011), Algorithm 4.4: a Gaussian test matrix, q power
 *               iterations each re-orthonormalised by Cholesky QR (twice; Householder when that is
 *               ill-conditioned), then the SVD (double) of the small l×d matrix QᵀX̃.
 *               Work ≈ (2q+2)·n·d·l + (2q+1)·2·n·l².
 * Signs follow scikit-learn's svd_flip with u_based_decision (full and randomized PCA in 1.2):
 * in each column of the scores Z = X̃·Vᵀ the entry of largest magnitude (the first on ties) is
 * positive.
 */
#ifndef FM_PCA_H
#define FM_PCA_H

#include "fm.h"

typedef enum { FM_PCA_AUTO = 0, FM_PCA_COVARIANCE, FM_PCA_RANDOMIZED } fm_pca_solver;

typedef struct {
    int64_t n_components;   /* k in 1..min(n, d); ignored when fraction > 0 */
    double fraction;        /* in (0, 1): keep the fewest components whose cumulated explained
                               variance ratio exceeds it (covariance solver only); 0 = off */
    fm_pca_solver solver;   /* FM_PCA_AUTO picks by the cost model (fm_pca_pick_solver) */
    int whiten;             /* scale the scores by 1/sqrt(explained variance) */
    uint64_t seed;          /* randomized: the test matrix is stream 0 of this seed */
    int64_t n_oversamples;  /* randomized: l = k + n_oversamples columns (scikit-learn: 10) */
    int n_iter;             /* randomized: power iterations; < 0 = scikit-learn's "auto" rule */
} fm_pca_options;

/* What a fit produces; every array is fm_alloc'ed (fm_pca_model_free). */
typedef struct {
    int64_t n, d, k;
    float *components;            /* k×d, orthonormal rows, by decreasing variance */
    float *mean;                  /* d */
    double *explained_variance;   /* k, ddof = 1 */
    double total_variance;        /* sum of the d column variances (ddof = 1) */
    fm_pca_solver solver;         /* the solver used (never AUTO) */
    int n_iter;                   /* power iterations run (randomized), else 0 */
    int exact_u8;                 /* covariance: 1 if the exact 8-bit kernel computed it */
} fm_pca_model;

void fm_pca_model_free(fm_pca_model *m);

/* the randomized solver's iteration count for "auto" (scikit-learn's rule: 7 when
 * k < 0.1·min(n, d), else 4) and its sketch width l = min(k + n_oversamples, min(n, d)) */
int fm_pca_auto_iter(int64_t n, int64_t d, int64_t k);
int64_t fm_pca_sketch_width(int64_t n, int64_t d, int64_t k, int64_t n_oversamples);

/* FM_PCA_COVARIANCE or FM_PCA_RANDOMIZED: the one with the smaller modelled time (the work above,
 * calibrated on this machine; covariance wins within 25% since it is exact; u8: the exact 8-bit
 * kernel will run), covariance for the fraction mode, randomized whenever the d×d double
 * covariance would exceed 1 GiB. */
fm_pca_solver fm_pca_pick_solver(int64_t n, int64_t d, int64_t k, int64_t l, int q, int fraction, int u8);

/* ---- stages ---- */

/* mean (d) = column means; total_var = sum of the column variances (ddof = 1). Fixed row blocks
 * summed in order, so the result does not depend on the thread count. Needs n ≥ 2. */
fm_status fm_pca_mean(float *mean, double *total_var, const float *x, int64_t n, int64_t d);

/* cov (d×d, double; upper triangle of the row-major array, the rest left zero) = X̃ᵀX̃ where
 * X̃ = X − mean. Row blocks are centred into a float buffer, ssyrk'ed, and added in double. */
fm_status fm_pca_covariance(double *cov, const float *x, const float *mean, int64_t n, int64_t d);

/* ---- exact covariance of 8-bit data (images) ----
 * When every value is k·scale with k an integer in 0..255 (scale 1/255: pixels/255; or 1: raw
 * pixels), XᵀX is computed exactly in integers with AVX-512 VNNI: vpdpbusd does 64 u8×s8
 * products per instruction, 4× the float FMA rate. Exact sums also make the result independent of
 * the thread count and of the order of work. */
int fm_pca_u8_supported(void);   /* this CPU has AVX-512 F, BW and VNNI */

/* cov (d×d, double, upper triangle; the rest zero) = X̃ᵀX̃ = scale²·(KᵀK − colsum·colsumᵀ/n) where
 * x = K·scale, and colsum (d) = Σᵢ K; *is_u8 = 0 (cov, colsum meaningless) as soon as a value is not
 * k·scale for an integer k in 0..255 within a few float ulps (|x/scale − k| ≤ 5e-7·k + 1e-6).
 * Row blocks are packed four rows interleaved, one 32-bit word per column, as vpdpbusd reads them.
 * Exact up to the final double rounding. FM_STATUS_ARG on CPUs without VNNI. x is n×d. */
fm_status fm_pca_covariance_u8(double *cov, int64_t *colsum, int *is_u8, const float *x, double scale,
                               int64_t n, int64_t d);

/* the top k eigenpairs of cov (d×d as left by fm_pca_covariance; destroyed): evals (k)
 * descending, clamped at 0, and components (k×d) the matching unit eigenvectors */
fm_status fm_pca_eigh(double *evals, float *components, double *cov, int64_t d, int64_t k);

/* randomized range finder + small SVD: components (k×d) and sq_svals (k) the squared singular
 * values of X̃, descending. l sketch columns (k ≤ l ≤ min(n, d)), q power iterations. */
fm_status fm_pca_randomized(float *components, double *sq_svals, const float *x, const float *mean,
                            int64_t n, int64_t d, int64_t k, int64_t l, int q, uint64_t seed);

/* z (n×k) = (x − mean)·componentsᵀ, then column j times scale[j] when scale is not NULL.
 * x is n×d, components k×d, mean d. */
fm_status fm_pca_project(float *z, const float *x, const float *mean, const float *components,
                         const double *scale, int64_t n, int64_t d, int64_t k);

/* sign (k) = ±1: the sign of the largest-magnitude entry of each column of z (n×k), the first
 * such entry on ties (numpy's argmax); +1 for an all-zero column */
fm_status fm_pca_signs(float *sign, const float *z, int64_t n, int64_t k);

/* multiply row j of components (k×d) and column j of z (n×k, may be NULL) by sign[j] */
fm_status fm_pca_apply_signs(float *components, float *z, const float *sign, int64_t n, int64_t d,
                             int64_t k);

/* x (n×d) = z·(diag(scale)·components) + mean; z is n×k, scale (k) may be NULL */
fm_status fm_pca_reconstruct(float *x, const float *z, const float *components, const float *mean,
                             const double *scale, int64_t n, int64_t k, int64_t d);

/* ---- the whole fit ---- */

/* Fit model on x (n×d, finite, n ≥ 2). When z is not NULL it receives the scores (n×k, whitened
 * if asked), allocated here. On failure nothing is left allocated. */
fm_status fm_pca_fit(fm_pca_model *model, fm_mat *z, const float *x, int64_t n, int64_t d,
                     const fm_pca_options *opt);

#endif
