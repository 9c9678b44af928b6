/* kdtree.h — a kd-tree over the rows of a float32 matrix: build, k-nearest-neighbour queries, and
 * the node data a dual-tree algorithm (Borůvka's minimum spanning tree) needs.
 *
 * The tree is built exactly like scikit-learn's KDTree (sklearn/neighbors/_binary_tree.pxi): the
 * same number of levels, the same split dimension (largest spread, first on ties), the same
 * median split by introselect with the (value, index) order, the same boxes and radii. So a
 * dual-tree traversal written against this tree visits nodes and points in the order it would
 * against scikit-learn's — which is what lets hdbscan.c reproduce hdbscan's Borůvka tree edge for
 * edge. Nodes form an implicit binary tree: the children of node i are 2i+1 and 2i+2.
 *
 * Coordinates are kept in double (converted from the float32 input); squared distances ("rdist")
 * are summed in coordinate order, as scikit-learn does.
 */
#ifndef FM_KDTREE_H
#define FM_KDTREE_H

#include "fm.h"

typedef struct {
    int64_t n, d;          /* points, dimensions */
    int64_t leaf_size;
    int64_t n_levels, n_nodes;
    double *data;          /* n×d: the points in their original order, as double */
    double *tdata;         /* n×d: the same rows in tree order (row p is point idx[p]) */
    double *tcol;          /* d×n: tree order by column (tcol[j·n + p]), for vectorised leaf scans */
    int64_t max_leaf;      /* the most points in a leaf */
    int64_t *idx;          /* n: the points in tree order (a node holds idx[start .. end-1]) */
    int64_t *start, *end;  /* n_nodes */
    uint8_t *is_leaf;      /* n_nodes */
    double *radius;        /* n_nodes: half the box diagonal (scikit-learn's kd-tree radius) */
    double *lower, *upper; /* n_nodes×d: the bounding box of each node's points */
} fm_kdtree;

/* Build the tree over x (n×d float32, finite). leaf_size ≥ 1 (scikit-learn's default is 40).
 * The tree owns its memory: free it with fm_kdtree_free. */
fm_status fm_kdtree_build(fm_kdtree *t, const float *x, int64_t n, int64_t d, int64_t leaf_size);
/* the same over double coordinates (x is n×d double) */
fm_status fm_kdtree_build_f64(fm_kdtree *t, const double *x, int64_t n, int64_t d, int64_t leaf_size);
void fm_kdtree_free(fm_kdtree *t);

/* idx, rdist (m×k): the k points of the tree nearest to each query row of q (m×d, double), sorted
 * by (squared distance, index). k ≤ n. The query point itself is not excluded (a query that is a
 * tree point finds itself first). Parallel over the queries; the result does not depend on the
 * thread count. */
fm_status fm_kdtree_knn(int32_t *idx, double *rdist, const fm_kdtree *t, const double *q, int64_t m,
                        int64_t k);

/* kth (m): the k-th smallest squared distance from each query row to the tree's points; idx
 * (m×k, may be NULL): those k points in no particular order. Cheaper than fm_kdtree_knn for a
 * large k (no sort). */
fm_status fm_kdtree_kth(double *kth, int32_t *idx, const fm_kdtree *t, const double *q, int64_t m, int64_t k);

/* nb (n): for each tree point p, the nearest other point q (by squared distance, then index) with
 * w[q] ≤ w[p] and squared distance ≤ radius2[p]; −1 if there is none. w, radius2 are (n).
 * (Borůvka's first round for HDBSCAN: the nearest neighbour with a core distance no larger.) */
fm_status fm_kdtree_nearest_below(int64_t *nb, const fm_kdtree *t, const double *w, const double *radius2);

/* the squared Euclidean distance between rows a and b (d doubles), summed in coordinate order */
static inline double fm_kdtree_rdist(const double *a, const double *b, int64_t d)
{
    double s = 0;
    for (int64_t j = 0; j < d; j++) {
        double t = a[j] - b[j];
        s += t * t;
    }
    return s;
}

/* the smallest squared distance between the boxes of nodes i and j (0 when they overlap),
 * computed as scikit-learn's dual-tree code does */
static inline double fm_kdtree_min_rdist_dual(const fm_kdtree *t, int64_t i, int64_t j)
{
    const double *li = t->lower + i * t->d, *ui = t->upper + i * t->d;
    const double *lj = t->lower + j * t->d, *uj = t->upper + j * t->d;
    double r = 0;
    for (int64_t c = 0; c < t->d; c++) {
        double d1 = li[c] - uj[c], d2 = lj[c] - ui[c];
        double s = (d1 + (d1 < 0 ? -d1 : d1)) + (d2 + (d2 < 0 ? -d2 : d2));
        double h = 0.5 * s;
        r += h * h;
    }
    return r;
}

#endif
