/* hdbscan.h — HDBSCAN* as scikit-learn-contrib/hdbscan 0.8.43 computes it, one stage per function:
 *
 *   core distances  →  minimum spanning tree of the mutual-reachability graph (Borůvka over a
 *   kd-tree for low dimensions, Prim for high ones)  →  single-linkage tree (ward.h's
 *   fm_linkage_from_mst)  →  condensed tree  →  stabilities  →  selection (EOM or leaf, with
 *   cluster_selection_epsilon, allow_single_cluster, max_cluster_size)  →  labels and
 *   probabilities, GLOSH outlier scores, persistence; and approximate prediction for new points.
 *
 * Core distance (as hdbscan's Borůvka and the fixtures have it): the distance to the
 * (min_samples + 1)-th nearest point counting the point itself, i.e. to the min_samples-th other
 * point. Mutual reachability: mr(a, b) = max(‖a − b‖, core(a), core(b)).
 *
 * Cluster ids in the condensed tree: points are 0..n−1, the root cluster is n, clusters are
 * numbered in breadth-first order (a parent's id is below its children's), as in hdbscan.
 */
#ifndef FM_HDBSCAN_H
#define FM_HDBSCAN_H

#include "fm.h"
#include "kdtree.h"

/* ---- core distances ----
 * core (n): Euclidean distance to the (min_samples + 1)-th nearest point including itself, by
 * the kd-tree t over the data; O(n) memory. 1 ≤ min_samples ≤ n − 1. */
fm_status fm_hdbscan_core_kdtree(double *core, const fm_kdtree *t, int64_t min_samples);
/* the same for high dimensions, by exact GEMM kNN (knn.h); x is n×d float32 */
fm_status fm_hdbscan_core_brute(double *core, const float *x, int64_t n, int64_t d, int64_t min_samples);

/* ---- minimum spanning tree of the mutual-reachability graph ----
 * ea, eb, w (n−1): edge i joins points ea[i] and eb[i] at mutual-reachability distance w[i], in
 * the order found (fm_linkage_from_mst sorts them). */

/* Dual-tree Borůvka exactly as hdbscan's BoruvkaAlgorithm over scikit-learn's KDTree (same tree,
 * leaf size FM_HDBSCAN_LEAF, same traversal, same bounds). approx = 1 is hdbscan's default
 * approx_min_span_tree=True: node bounds are kept between rounds unless a round joins nothing,
 * which can pick heavier edges than a true minimum spanning tree; approx = 0 resets them every
 * round. core (n) from fm_hdbscan_core_kdtree. */
fm_status fm_hdbscan_mst_boruvka(int64_t *ea, int64_t *eb, double *w, const fm_kdtree *t, const double *core,
                                 int approx);

/* ---- bounds for high dimensions ----
 * z (n×q): the coordinates of x − μ on q − 1 orthonormal principal axes (from the covariance of
 * an evenly spaced subsample), then the norm of what the axes leave out, so that
 * ‖z_a − z_b‖ ≤ ‖x_a − x_b‖ for every pair. z2 (n×q2, may be NULL): the same with q2 − 1 axes
 * (q2 > q), a finer bound. tol (n): rounding allowance — the float bound may exceed the exact one
 * by at most tol_a + tol_b, and by a relative 2e-6. 2 ≤ q, q2 ≤ d + 1, n ≥ 2.
 * FM_STATUS_NUMERIC when ‖x − μ‖ ≥ 1e15 somewhere (float squares would overflow): use no bound. */
fm_status fm_hdbscan_bound_coords(float *z, float *z2, float *tol, const float *x, int64_t n, int64_t d, int64_t q,
                                  int64_t q2);

#define FM_HDBSCAN_LEAF_MAX 2048

/* z and a kd-tree over it: the points in leaf order (order), leaf l holding positions
 * leaf_start[l] .. leaf_start[l + 1] − 1 (≤ leaf points), its box lo/hi (n_leaves×q) and the
 * largest tol of its points. */
typedef struct {
    int64_t n, q, q2, n_leaves;
    float *z, *tol;
    float *z2;   /* n×q2 by leaf position (or NULL): finer bounds on more axes, tried before x */
    int64_t *order, *leaf_start;
    float *lo, *hi, *leaf_tol;
    float *zt;   /* q×n: z by leaf position, one coordinate per row (for bounds 16 at a time) */
    float *center, *radius;   /* n_leaves×q, n_leaves: a ball around each leaf's points */
} fm_hdbscan_bounds;

/* b for x (n×d): q coordinates per point (2 ≤ q ≤ d + 1), q2 finer ones (0 = none, else
 * q < q2 ≤ d + 1), leaves of at most leaf points (1 ≤ leaf ≤ FM_HDBSCAN_LEAF_MAX). Memory
 * O(n·(q + q2)); free with fm_hdbscan_bounds_free (also after a failure). */
fm_status fm_hdbscan_bounds_build(fm_hdbscan_bounds *b, const float *x, int64_t n, int64_t d, int64_t q,
                                  int64_t q2, int64_t leaf);
void fm_hdbscan_bounds_free(fm_hdbscan_bounds *b);

/* core (n): exact core distances (as fm_hdbscan_core_brute, to the last bit: the k-th smallest of
 * the same double sums) by visiting the leaves of b nearest first and skipping what the bounds
 * rule out; O(n·min_samples) memory. x is n×d, b built on it. */
fm_status fm_hdbscan_core_bounded(double *core, const fm_hdbscan_bounds *b, const float *x, int64_t d,
                                  int64_t min_samples);

/* Prim's algorithm from point 0 without a distance matrix (hdbscan's mst_linkage_core_vector):
 * O(n²) steps, O(n·q) extra memory. x is n×d float32. With bounds b (or NULL), a point whose
 * best equals its core distance leaves the scan (it can never improve), and leaves or points
 * whose bound reaches their best are skipped: the edges, their order and their weights are the
 * same bits as without (every mutual reachability that could lower a best under the strict '<'
 * is still computed, in the same double arithmetic). The next point is the (distance, index)
 * minimum, leaves are independent, so the tree does not depend on the thread count. A step scanning
 * fewer than par_min points runs on one thread (≤ 0: 65,536). A barrier per step costs more than
 * the step when another job holds a core: 70,000 × 80, one thread 8.6 s, two 35.7 s (shared). */
fm_status fm_hdbscan_mst_prim(int64_t *ea, int64_t *eb, double *w, const float *x, const double *core,
                              const fm_hdbscan_bounds *b, int64_t n, int64_t d, int64_t par_min);

/* Sort the m edges by weight in the order numpy's argsort (quicksort, numpy 1.24) leaves them —
 * the order hdbscan feeds its single-linkage labelling. Equal weights are common (core distances),
 * and their order decides which side a tied merge joins; fm_linkage_from_mst keeps this order
 * (its sort is stable). */
fm_status fm_hdbscan_sort_edges(int64_t *ea, int64_t *eb, double *w, int64_t m);

/* ---- the condensed tree ---- */
typedef struct {
    int64_t n;          /* points */
    int64_t rows;       /* rows in use */
    int64_t n_clusters; /* cluster ids are n .. n + n_clusters − 1 (the root is n) */
    int64_t *parent, *child, *size;  /* rows: child is a point (< n) or a cluster (≥ n) */
    double *lambda;     /* 1 / distance at which the child leaves the parent (inf for distance 0) */
} fm_hdbscan_tree;

/* Condense the single-linkage tree z ((n−1)×4, scipy format, sorted heights) with min_cluster_size
 * (≥ 2): a split in which both sides have ≥ min_cluster_size points makes two new clusters;
 * otherwise the small side's points fall out of the parent at that λ. Allocates the rows
 * (≤ 2n); free with fm_hdbscan_tree_free. */
fm_status fm_hdbscan_condense(fm_hdbscan_tree *tree, const double *z, int64_t n, int64_t min_cluster_size);
void fm_hdbscan_tree_free(fm_hdbscan_tree *tree);

/* stability (n_clusters): Σ over the rows of cluster c of (λ − birth(c))·size */
fm_status fm_hdbscan_stability(double *stability, const fm_hdbscan_tree *tree);

enum { FM_HDBSCAN_EOM = 0, FM_HDBSCAN_LEAF = 1 };

/* selected (n_clusters): 1 for the clusters of the flat clustering. stability (n_clusters) is
 * updated in place as hdbscan's EOM does (a cluster not kept takes its children's sum).
 * epsilon: cluster_selection_epsilon (0 = off); max_cluster_size: 0 = unlimited (EOM only). */
fm_status fm_hdbscan_select(uint8_t *selected, double *stability, const fm_hdbscan_tree *tree, int method,
                            int allow_single_cluster, double epsilon, int64_t max_cluster_size);

/* labels (n): 0..k−1 in the order of the selected cluster ids, −1 noise; probabilities (n):
 * λ of the point over the largest λ in its cluster (capped at 1), 0 for noise.
 * cluster_of_label (k, may be NULL): the tree id of each label. Returns k in *n_labels. */
fm_status fm_hdbscan_label(int32_t *labels, double *prob, int64_t *cluster_of_label, int64_t *n_labels,
                           const fm_hdbscan_tree *tree, const uint8_t *selected, int allow_single_cluster,
                           double epsilon);

/* persistence (k): stability of each selected cluster / (its size · the largest λ in the tree),
 * 1 when that λ is infinite or 0 (hdbscan's cluster_persistence_) */
fm_status fm_hdbscan_persistence(double *persistence, const int32_t *labels, const int64_t *cluster_of_label,
                                 int64_t k, const double *stability, const fm_hdbscan_tree *tree);

/* GLOSH (Campello et al. 2015): score (n) = (λmax(C) − λ(x)) / λmax(C), where C is the cluster the
 * point leaves and λmax(C) the largest λ anywhere below C. */
fm_status fm_hdbscan_glosh(double *score, const fm_hdbscan_tree *tree);

/* ---- prediction (hdbscan.prediction.approximate_predict) ----
 * For each new point: its min_samples-th nearest training point gives its core distance; the
 * training neighbour (among its 2·min_samples nearest) with the smallest mutual reachability
 * decides the cluster it would join and at which λ. nbr_idx, nbr_dist (m×kq, kq = 2·min_samples
 * capped at n) are the new points' nearest training points (sorted); core are the training core
 * distances. labels (m), prob (m). */
fm_status fm_hdbscan_predict(int32_t *labels, double *prob, const int32_t *nbr_idx, const double *nbr_dist,
                             int64_t m, int64_t kq, const double *core, int64_t min_samples,
                             const fm_hdbscan_tree *tree, const uint8_t *selected, const int32_t *train_labels,
                             int64_t n_labels);

/* labels (n): every −1 gets the label of its nearest labelled point (Euclidean; ties to the
 * smaller index). x is n×d float32. Nothing changes when no point or every point is labelled. */
fm_status fm_hdbscan_assign_noise(int32_t *labels, const float *x, int64_t n, int64_t d);

/* hdbscan's "best": Borůvka over a kd-tree up to this many dimensions, Prim above */
#define FM_HDBSCAN_KDTREE_MAX_D 60
/* the kd-tree leaf size of hdbscan's Borůvka: its leaf_size (40) // 3 */
#define FM_HDBSCAN_LEAF 13

#endif
