/* gmm.h — Gaussian mixtures fitted by EM, as scikit-learn 1.2's GaussianMixture.
 *
 * A model of k components in d dimensions is kept in the form the E-step uses:
 *   weights (k, double), means (k×d, float), and the Cholesky factors of the precisions
 *   (float, packed by covariance type — see fm_gmm_param_count):
 *     full       k blocks of d×d, block c is L_c, upper triangular, with L_c·L_cᵀ = Σ_c⁻¹
 *     tied       one d×d block shared by all components
 *     diag       k×d, entry (c, j) = 1/sqrt(Σ_c[j][j])
 *     spherical  k, entry c = 1/sqrt(σ²_c)
 *   log N(x | μ_c, Σ_c) = log det L_c − d/2·log 2π − ½‖(x − μ_c)·L_c‖².
 * Covariances are packed the same way, in double (full/tied blocks symmetric). */
#ifndef FM_GMM_H
#define FM_GMM_H

#include "fm.h"

typedef enum { FM_GMM_FULL = 0, FM_GMM_TIED, FM_GMM_DIAG, FM_GMM_SPHERICAL } fm_gmm_cov;
typedef enum {
    FM_GMM_INIT_KMEANS = 0,        /* one-hot responsibilities of a k-means labelling */
    FM_GMM_INIT_RANDOM,            /* uniform random responsibilities, rows normalised */
    FM_GMM_INIT_KMEANSPP,          /* responsibility 1 on each k-means++ seed point only */
    FM_GMM_INIT_RANDOM_FROM_DATA   /* responsibility 1 on k distinct random points only */
} fm_gmm_init;

/* floats (or doubles) in a packed precision-Cholesky / covariance array */
int64_t fm_gmm_param_count(int cov, int64_t k, int64_t d);
/* free parameters of the model (scikit-learn's _n_parameters): covariance + means + k − 1 */
int64_t fm_gmm_n_parameters(int cov, int64_t k, int64_t d);

typedef struct {
    int cov;
    int64_t k, d;
    double *weights;   /* k, sum 1 */
    float *means;      /* k×d */
    float *prec;       /* packed precision Cholesky factors (fm_gmm_param_count floats) */
} fm_gmm_model;

/* allocate / free the three arrays of a model (zeroed) */
fm_status fm_gmm_model_init(fm_gmm_model *m, int cov, int64_t k, int64_t d);
void fm_gmm_model_free(fm_gmm_model *m);

/* ---- stages ---- */

/* E-step. resp (n×k): posterior probabilities; log_norm (n, may be NULL): log Σ_c w_c N(x_i|c);
 * *mean_ll: the mean of log_norm, summed in double over fixed blocks in a fixed order.
 * x is n×d. With resp = NULL only log_norm / mean_ll are produced (a scratch n×k is not needed
 * then: blocks use their own buffers). */
fm_status fm_gmm_estep(double *resp, double *log_norm, double *mean_ll, const float *x,
                       const fm_gmm_model *m, int64_t n);

/* M-step statistics (scikit-learn's _estimate_gaussian_parameters): nk (k) = Σ_i resp_ic + 10·ε,
 * means (k×d) the weighted means, cov (packed, double) the weighted covariances around them with
 * reg_covar added to the diagonal. resp is n×k, x is n×d; shift (d, may be NULL) is a point near
 * the data (their mean) around which moments are summed. Sums in double over fixed chunks. */
fm_status fm_gmm_mstep(double *nk, double *means, double *cov, const float *x, const double *resp,
                       const double *shift, int64_t n, int64_t d, int64_t k, int cov_type,
                       double reg_covar);

/* Factorise: m->means = (float) means, m->prec = the precision Cholesky factors of cov (Cholesky
 * in double, LAPACKE dpotrf + dtrtri). FM_STATUS_NUMERIC if a covariance is not positive definite;
 * *bad (may be NULL) then names the component. m->weights is left alone. */
fm_status fm_gmm_precision(fm_gmm_model *m, int64_t *bad, const double *means, const double *cov);

/* initial responsibilities resp (n×k) of initialisation number `init` (own random streams) */
fm_status fm_gmm_init_resp(double *resp, const float *x, int64_t n, int64_t d, int64_t k,
                           int method, uint64_t seed, int init);

/* ---- the whole fit ---- */
typedef struct {
    int64_t k;
    int cov_type;        /* fm_gmm_cov */
    int init;            /* fm_gmm_init */
    int max_iter;        /* EM iterations per initialisation (≥ 0) */
    int n_init;          /* initialisations; the one with the highest lower bound wins */
    double tol;          /* stop when |Δ mean log-likelihood| < tol */
    double reg_covar;    /* added to the covariance diagonals */
    uint64_t seed;
} fm_gmm_opts;

typedef struct {
    fm_gmm_model model;  /* the best initialisation's parameters after its last M-step */
    double *cov;         /* packed covariances (double) of the model */
    double *resp;        /* n×k responsibilities of a final E-step with the model */
    int32_t *labels;     /* n, argmax of resp */
    double *history;     /* lower bound after each EM iteration of the best initialisation */
    int n_iter;          /* EM iterations of the best initialisation (= entries of history) */
    int converged;       /* the best initialisation met tol */
    int best_init;       /* 0-based */
    double lower_bound;  /* its last lower bound (mean log-likelihood before the last M-step) */
    double log_likelihood;  /* mean log-likelihood of x under the model (the final E-step) */
} fm_gmm_result;

/* fit a mixture to x (n×d). On FM_STATUS_NUMERIC err (FM_ERRLEN, may be NULL) says why. */
fm_status fm_gmm_fit(fm_gmm_result *res, const float *x, int64_t n, int64_t d,
                     const fm_gmm_opts *o, char *err);
void fm_gmm_result_free(fm_gmm_result *res);

#endif
