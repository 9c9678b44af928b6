/* optics.h — OPTICS (Ankerst et al. 1999) as scikit-learn 1.2.1 computes it: core distances,
 * the ordering with reachability and predecessors, and the DBSCAN-style cut. (The ξ extraction,
 * a linear pass over the reachability plot, is in lua/fmclust/optics.lua.)
 *
 * scikit-learn facts kept here: the core distance is the distance to the min_samples-th nearest
 * point counting the point itself; distances and reachabilities are rounded to 15 decimals
 * (np.around) before they are compared; the next point is the unprocessed one with the smallest
 * reachability, ties to the smallest index (np.argmin); a point whose core distance exceeds
 * max_eps (then infinite) updates nobody; neighbours are those within max_eps (≤).
 */
#ifndef FM_OPTICS_H
#define FM_OPTICS_H

#include "fm.h"

/* core (n): distance to the min_samples-th nearest point including itself, +inf beyond max_eps,
 * rounded to 15 decimals. x is n×d (double: scikit-learn works in float64); 2 ≤ min_samples ≤ n. A kd-tree up to 60
 * dimensions, exact GEMM kNN above. */
fm_status fm_optics_core_distances(double *core, const double *x, int64_t n, int64_t d, int64_t min_samples,
                                   double max_eps);

/* ordering (n, 0-based points in visiting order), reach (n, +inf = undefined), pred (n, −1 =
 * none): the OPTICS walk, O(n²·d) time and O(n) memory, parallel over fixed chunks with a
 * (reachability, index) minimum, so the result does not depend on the thread count. */
fm_status fm_optics_order(int64_t *ordering, double *reach, int64_t *pred, const double *x, const double *core,
                          int64_t n, int64_t d, double max_eps);

/* labels (n): scikit-learn's cluster_optics_dbscan at eps from an OPTICS result */
fm_status fm_optics_cut(int32_t *labels, const double *reach, const double *core, const int64_t *ordering,
                        int64_t n, double eps);

#endif
