/* knn.h — k nearest neighbours: the declarations of src/knn.c.
 *
 * Two methods for the k nearest rows of x (n×d, float32, row-major) to each query:
 *   exact      tiled GEMM distances ‖q‖² + ‖x‖² − 2·q·xᵀ with a per-row top-(k + slack) list,
 *              then the survivors re-scored in double and sorted by (distance, index), so ties
 *              and float32 cancellation never decide the answer.
 *   nndescent  random-projection-tree initialisation + NN-descent (Dong, Moses & Li 2011), as
 *              pynndescent does it, with every random choice drawn from streams keyed by
 *              (seed, tree) or hashed from (seed, iteration, point, candidate), and heap updates
 *              that are order-independent (a bounded set under a total order), so the graph is
 *              identical for any thread count.
 * Indices are 0-based int32 here; distances are float32, ascending within each row (ties by
 * index). Metrics: euclidean (‖a − b‖) and cosine (1 − a·b/(‖a‖‖b‖); a zero row has similarity
 * 0 to everything, as scikit-learn).
 */
#ifndef FM_KNN_H
#define FM_KNN_H

#include "fm.h"

typedef enum { FM_KNN_EUCLIDEAN = 0, FM_KNN_COSINE = 1 } fm_knn_metric;

/* row norms for the metric: euclidean → sqnorm (n) = ‖x_i‖²; cosine → x is copied and each row
 * scaled to unit length into xn (n×d, caller-allocated), sqnorm = 1 (0 for a zero row).
 * For euclidean xn is unused (may be NULL). */
fm_status fm_knn_prepare(float *xn, float *sqnorm, const float *x, int64_t n, int64_t d, int metric);

/* idx, dist (m×k): the k rows of x (n×d) nearest to each row of q (m×d).
 * exclude_self: query row i is row i of x (q == x, m == n) and is left out of its own list.
 * k ≤ n − (exclude_self ? 1 : 0). Work memory: O(block² + m·k). */
fm_status fm_knn_exact(int32_t *idx, float *dist, const float *x, int64_t n, const float *q,
                       int64_t m, int64_t d, int64_t k, int metric, int exclude_self);

typedef struct {
    int n_trees;          /* random projection trees (≤ 0: umap-learn's rule for pynndescent
                             5 + round(sqrt(n)/20), capped at 8) */
    int leaf_size;        /* max points in a leaf (≤ 0: max(k + 1, 30)) */
    int n_iters;          /* NN-descent rounds at most (≤ 0: max(5, round(log2 n))) */
    int max_candidates;   /* candidates per point and round (≤ 0: 30) */
    double delta;         /* stop when fewer than delta·n·k new neighbours in a round (< 0: 0.001) */
    uint64_t seed;
    int verbose;          /* progress lines on stderr */
} fm_knn_nnd_options;

void fm_knn_nnd_defaults(fm_knn_nnd_options *o);

/* idx, dist (n×k): approximate k nearest neighbours of every row of x among the other rows
 * (the point itself excluded). Needs n ≥ k + 1. iters_run (may be NULL) = rounds run. */
fm_status fm_knn_nndescent(int32_t *idx, float *dist, const float *x, int64_t n, int64_t d,
                           int64_t k, int metric, const fm_knn_nnd_options *opt, int *iters_run);

/* ---- stages of nndescent (exposed for tests) ---- */

/* leaf (n_trees×n): leaf[t·n + i] = the leaf id of point i in tree t; leaf_start (per tree, up to
 * n + 1 entries each, n_trees×(n + 1)) and order (n_trees×n): the points of leaf l of tree t are
 * order[t·n + leaf_start[t·(n+1) + l] .. leaf_start[t·(n+1) + l + 1] − 1]. n_leaves (n_trees).
 * xn is the (prepared) data n×d. */
fm_status fm_knn_rp_forest(int32_t *leaf, int32_t *leaf_start, int32_t *order, int32_t *n_leaves,
                           const float *xn, int64_t n, int64_t d, int n_trees, int leaf_size,
                           uint64_t seed);

/* recall of approx against truth (both n×k 0-based): |approx ∩ truth| / (n·k) */
double fm_knn_recall(const int32_t *approx, const int32_t *truth, int64_t n, int64_t k);

#endif
