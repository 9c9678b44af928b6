/* kmeans.h — K-Means (k-means++ or random init, Lloyd iterations with Hamerly bounds).
 *
 * Results never depend on the thread count: every run draws from its own random stream
 * (seed, run), rows are split into fixed blocks, per-block sums are reduced in block order,
 * and center sums are split by columns (each element summed over rows in row order).
 */
#ifndef FM_KMEANS_H
#define FM_KMEANS_H

#include "fm.h"

typedef enum { FM_KMEANS_PLUSPLUS = 0, FM_KMEANS_RANDOM = 1 } fm_kmeans_init_kind;

/* one fit; names and defaults follow scikit-learn's KMeans */
typedef struct {
    int64_t n_clusters;         /* k, 1 ≤ k ≤ n */
    int64_t n_init;             /* 10: runs from different seeds, the lowest inertia wins */
    int64_t max_iter;           /* 300 */
    double tol;                 /* 1e-4, times the mean feature variance, vs the squared center shift */
    int init;                   /* fm_kmeans_init_kind (ignored when init_centers is given) */
    const float *init_centers;  /* NULL, or k×d starting centers (then a single run) */
    uint64_t seed;              /* 0; run r draws from stream (seed, r) */
} fm_kmeans_opts;

/* xx (n) = squared norm of each row of x (n×d), summed in double */
fm_status fm_kmeans_row_norms(float *xx, const float *x, int64_t n, int64_t d);

/* tol_abs = tol · mean over columns of var(x[:, j]) (population variance), like scikit-learn */
fm_status fm_kmeans_tolerance(double *tol_abs, const float *x, int64_t n, int64_t d, double tol);

/* centers (k×d) ← greedy k-means++ on x (n×d; xx its row norms): each step samples
 * 2 + floor(ln k) candidates ∝ D² and keeps the one that lowers the potential most.
 * chosen (k, may be NULL) gets the row index of each center. */
fm_status fm_kmeans_init_plusplus(float *centers, int64_t *chosen, const float *x, const float *xx,
                                  int64_t n, int64_t d, int64_t k, uint64_t seed, uint64_t stream);

/* centers (k×d) ← k distinct rows of x (n×d) drawn uniformly */
fm_status fm_kmeans_init_random(float *centers, const float *x, int64_t n, int64_t d, int64_t k,
                                uint64_t seed, uint64_t stream);

/* E-step by GEMM: labels (n) = argmin_j ‖x_i − c_j‖² (first index on ties); d1 (n, optional) the
 * smallest squared distance, d2 (n, optional) the second smallest (+Inf when k = 1).
 * x is n×d, xx (n) its row norms, centers k×d. */
fm_status fm_kmeans_assign(int32_t *labels, float *d1, float *d2, const float *x, const float *xx,
                           const float *centers, int64_t n, int64_t d, int64_t k);

/* inertia = Σ_i ‖x_i − c_{labels_i}‖², in double, blocks reduced in a fixed order */
fm_status fm_kmeans_inertia(double *inertia, const float *x, const float *centers, const int32_t *labels,
                            int64_t n, int64_t d);

/* One Lloyd run from the starting centers (k×d, overwritten with the final centers): labels (n),
 * inertia, n_iter (scikit-learn's count). Stops when no label changes, when the squared center
 * shift summed over centers is ≤ tol_abs, or after max_iter; then a last E-step so labels match
 * the centers. Empty clusters take the points farthest from their centers. */
fm_status fm_kmeans_lloyd(float *centers, int32_t *labels, double *inertia, int64_t *n_iter,
                          const float *x, const float *xx, int64_t n, int64_t d, int64_t k,
                          int64_t max_iter, double tol_abs);

/* The whole fit: n_init runs, the lowest inertia kept. centers (k×d), labels (n). */
fm_status fm_kmeans_fit(float *centers, int32_t *labels, double *inertia, int64_t *n_iter,
                        const float *x, int64_t n, int64_t d, const fm_kmeans_opts *opts);

/* labels (n) of new rows x (n×d) against centers (k×d); d1 (n, optional) squared distances */
fm_status fm_kmeans_predict(int32_t *labels, float *d1, const float *x, const float *centers,
                            int64_t n, int64_t d, int64_t k);

#endif
