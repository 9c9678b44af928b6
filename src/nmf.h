/* nmf.h — non-negative matrix factorisation X ≈ W·H (Frobenius loss), as scikit-learn 1.2's NMF:
 * NNDSVD / random initialisation, coordinate descent ("cd") or multiplicative updates ("mu").
 *
 * Shapes: X is n×d (row-major, X ≥ 0), W is n×k, H is k×d. All reductions over rows run in fixed
 * row groups summed in a fixed order, so results do not depend on the thread count.
 */
#ifndef FM_NMF_H
#define FM_NMF_H

#include "fm.h"

enum { FM_NMF_INIT_RANDOM = 0, FM_NMF_INIT_NNDSVD, FM_NMF_INIT_NNDSVDA, FM_NMF_INIT_NNDSVDAR };
enum { FM_NMF_SOLVER_CD = 0, FM_NMF_SOLVER_MU };

typedef struct {
    int64_t k;        /* n_components */
    int solver;       /* FM_NMF_SOLVER_*; default cd */
    int max_iter;     /* default 200 */
    double tol;       /* default 1e-4: cd stops when violation / first violation ≤ tol;
                         mu when the error drop over 10 iterations / initial error < tol */
    int shuffle;      /* cd: visit the k coordinates in a random order each sweep (default 0) */
    uint64_t seed;    /* shuffle order (and the init's randomness, passed to fm_nmf_init) */
} fm_nmf_options;

typedef struct {
    int n_iter;                  /* iterations run (1-based count, like scikit-learn's n_iter_) */
    int converged;               /* 1 if the stopping rule fired before max_iter */
    double reconstruction_err;   /* ‖X − W·H‖_F, computed exactly at the end */
} fm_nmf_result;

/* index of the first negative entry of x[count], or -1 (NaN counts as not negative) */
int64_t fm_nmf_first_negative(const float *x, int64_t count);

/* Is x[count] 8-bit data, x = q·s with integer q in 0..255 (s = the smallest positive entry, every
 * entry within 2 float ulps of q·s)? Then fill q[count], *scale = s and return 1; else return 0.
 * The passes over X then read the bytes: a quarter of the memory traffic. 0 without AVX-512. */
int fm_nmf_quantize(uint8_t *q, float *scale, const float *x, int64_t count);

/* mean of all entries of x (n×d), summed in double in fixed row groups */
fm_status fm_nmf_mean(double *mean, const float *x, int64_t n, int64_t d);

/* Truncated SVD X ≈ U·diag(s)·Vt by a randomized range finder (Halko, Martinsson & Tropp 2011):
 * l = min(k + n_oversamples, n, d) Gaussian test vectors, n_iter power iterations, each half-step
 * re-orthonormalised. Exact (to float rounding) when l = min(n, d).
 * u is n×k, s is k (descending), vt is k×d; 1 ≤ k ≤ min(n, d). */
fm_status fm_nmf_rsvd(float *u, float *s, float *vt, const float *x, int64_t n, int64_t d, int64_t k,
                      int64_t n_oversamples, int n_iter, uint64_t seed);

/* NNDSVD (Boutsidis & Gallopoulos 2008) from a truncated SVD: w is n×k, h is k×d; entries < 1e-6
 * are set to 0 (the zeros that nndsvda / nndsvdar then fill). u n×k, s k, vt k×d. */
fm_status fm_nmf_nndsvd(float *w, float *h, const float *u, const float *s, const float *vt,
                        int64_t n, int64_t d, int64_t k);

/* Initial W (n×k) and H (k×d) for init = FM_NMF_INIT_*, like scikit-learn's _initialize_nmf:
 * random: avg·|N(0,1)| with avg = sqrt(mean(X)/k); nndsvd*: NNDSVD on the randomized SVD
 * (n_iter 7 if k < 0.1·min(n,d) else 4, 10 oversamples), zeros kept (nndsvd), set to mean(X)
 * (nndsvda) or to |mean(X)·N(0,1)/100| (nndsvdar). nndsvd* need k ≤ min(n, d). */
fm_status fm_nmf_init(float *w, float *h, const float *x, int64_t n, int64_t d, int64_t k, int init,
                      uint64_t seed);

/* Iterate from the given w (n×k) and h (k×d), updated in place, until the stopping rule or
 * opt->max_iter. history (max_iter entries, may be NULL) receives ‖X − W·H‖_F after each
 * iteration, from the Gram identity ‖X‖² − 2⟨XᵀW, Hᵀ⟩ + ⟨WᵀW, HHᵀ⟩ (float-rounded: for
 * monitoring; res->reconstruction_err is recomputed directly). */
fm_status fm_nmf_fit(float *w, float *h, fm_nmf_result *res, double *history, const float *x,
                     int64_t n, int64_t d, const fm_nmf_options *opt);

/* W (n×k) for new rows x (n×d) with H (k×d) fixed, like scikit-learn's transform: cd starts
 * from W = 0, mu from W = sqrt(mean(X)/k); same stopping rules. */
fm_status fm_nmf_transform(float *w, int *n_iter, const float *x, const float *h, int64_t n, int64_t d,
                           const fm_nmf_options *opt);

/* err = ‖X − W·H‖_F (x n×d, w n×k, h k×d), residual blocks through SGEMM, squares summed in double */
fm_status fm_nmf_residual(double *err, const float *x, const float *w, const float *h, int64_t n,
                          int64_t d, int64_t k);

#endif
