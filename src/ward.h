/* ward.h — agglomerative clustering without a distance matrix: exact Ward linkage by the
 * nearest-neighbour chain over cluster centroids, single linkage by Prim's minimum spanning tree,
 * the conversion of a spanning tree (or any merge list) to scipy's linkage matrix, and cuts.
 *
 * Memory is O(n·d): no function here allocates n² of anything.
 *
 * A linkage matrix z is (n−1)×4 doubles, row-major, in scipy's format: row i merges clusters
 * z[i,0] < z[i,1] (ids 0..n−1 are the points, n+i is the cluster made by row i) at height
 * z[i,2] into a cluster of z[i,3] points; rows sorted by height (ties keep the merge order).
 */
#ifndef FM_WARD_H
#define FM_WARD_H

#include "fm.h"

/* Ward merges by rounds of reciprocal nearest neighbours (see ward.c), in the order they are found.
 * ea, eb, h are (n−1): merge i joins the cluster holding point ea[i] with the cluster holding
 * point eb[i] at Ward height h[i] = sqrt(2·|A|·|B|/(|A|+|B|))·‖c_A − c_B‖ (scipy's heights).
 * x is (n×d) float32, finite. Feed the result to fm_linkage_from_mst for scipy's matrix.
 * The same hierarchy as scipy's nearest-neighbour chain (up to the order of exact ties). */
fm_status fm_ward_rnn(int64_t *ea, int64_t *eb, double *h, const float *x, int64_t n, int64_t d);

/* Single linkage's minimum spanning tree by Prim's algorithm from point 0, O(n²·d) time and
 * O(n·d) memory. ea, eb, w are (n−1): edge i joins point ea[i] (already in the tree) to point
 * eb[i] at Euclidean length w[i], in the order Prim adds them. Ties: the smallest point index. */
fm_status fm_ward_prim_mst(int64_t *ea, int64_t *eb, double *w, const float *x, int64_t n, int64_t d);

/* Spanning-tree edges → linkage matrix z (n−1)×4: edges sorted by weight (stable: ties keep their
 * order), then joined with a union-find that numbers new clusters n, n+1, … like scipy's label().
 * Works for any list of n−1 edges over points 0..n−1 that connects them (MST edges for single
 * linkage and HDBSCAN, Ward's merges between representatives). FM_STATUS_ARG when an endpoint
 * is out of range, a weight is NaN, or an edge closes a cycle. */
fm_status fm_linkage_from_mst(double *z, const int64_t *ea, const int64_t *eb, const double *w, int64_t n);

/* FM_STATUS_ARG unless z (n−1)×4 is a well-formed linkage over n points: ids in range, each
 * cluster used once and only after it was made, a < b, sizes consistent, heights not NaN. */
fm_status fm_ward_check_linkage(const double *z, int64_t n);

/* Labels (n) of the cut into k clusters (1 ≤ k ≤ n): the first n−k rows of z are applied.
 * Clusters are numbered 0..k−1 in order of their smallest point index (point 0 is in cluster 0).
 * z must be a checked linkage. */
fm_status fm_ward_cut(int32_t *labels, const double *z, int64_t n, int64_t k);

/* The number of clusters left when the rows with height < threshold are applied (sklearn's
 * distance_threshold). Heights must be sorted, as fm_linkage_from_mst writes them. */
int64_t fm_ward_threshold_k(const double *z, int64_t n, double threshold);

#endif
