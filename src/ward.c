/* ward.c — hierarchical clustering in O(n·d) memory.
 *
 * Ward. The Ward distance between clusters A and B (scipy's heights) is
 *     W(A,B)² = 2·|A|·|B|/(|A|+|B|) · ‖c_A − c_B‖²,
 * computed from the centroids, never from a distance matrix. Ward is reducible: merging two
 * clusters never brings the union nearer to a third cluster than the nearer of the two was. So
 *   - any two clusters that are each other's nearest neighbour (an RNN pair) can be merged at
 *     once, and several disjoint RNN pairs can be merged in the same round (the nearest-neighbour
 *     chain of scipy and fastcluster finds them one at a time);
 *   - a cluster's nearest neighbour stays its nearest neighbour until that neighbour is merged.
 * The algorithm runs in rounds: find the nearest neighbour of clusters whose neighbour is unknown
 * (in parallel: queries are independent), merge every RNN pair, forget the neighbours of the
 * clusters whose neighbour was merged. The hierarchy is the one of the greedy algorithm and of
 * the chain; only the order of discovery differs, and fm_linkage_from_mst sorts by height.
 * A forgotten neighbour leaves a lower bound (the old distance: merges only move clusters away),
 * and a new cluster gets its merge height as one; each round queries only the quarter of the
 * unknown neighbours with the smallest bounds, because the others would mostly lose their new
 * neighbour again before they can merge (3.8 queries per point instead of 4.8 on Fashion-MNIST).
 *
 * The query "nearest active cluster to a" is a search in a kd-tree over the centroids. Each node
 * keeps the bounding box and the smallest cluster size of its active entries; because the factor
 * 2·na·nb/(na+nb) grows with nb, no cluster below a node whose smallest size is m can be nearer
 * than 2·na·m/(na+m)·boxdist², and whole subtrees are skipped. Leaves hold WT_LEAF entries in
 * struct-of-arrays layout, so a leaf is scanned with vector arithmetic. A merge moves one centroid
 * and retires another: their leaves and the ancestors are refreshed, and the tree is rebuilt over
 * the survivors once a tenth of them has gone (in practice after every large round), because
 * moved centroids stretch the boxes (the whole run is ~25 % faster than rebuilding at half).
 * The tree stores float32 copies (half the memory traffic, twice the vector lanes); their
 * rounding is covered by a margin (keep, slack below) and only ever widens the search.
 *
 * The tree holds the centroids in the coordinates of the principal axes of X — all of them for
 * d ≤ WT_KMAX (a rotation: axis-aligned boxes fit the data better), otherwise the top WT_KMAX
 * and one more coordinate, the norm r of the centred centroid's residual outside their span P.
 * Splitting c_a − c_b along P and its complement, ‖c_a − c_b‖² ≥ ‖P(c_a − c_b)‖² + (r_a − r_b)²
 * (the triangle inequality in the complement), so tree distances bound the true ones from below
 * (with a safety margin for rounding, keep and slack below). On Fashion-MNIST the residual cuts
 * the candidates that pass a 32-axis tree by a sixth; but 48 axes hold only 86 % of the
 * variance, and most candidates are still far. A second bound of the same form on the top
 * k2 = min(WT_K2, d/2) axes (95 % for 192) sorts them out, from float copies in one row per
 * cluster (832 bytes for 192 axes, against 3 KB for a 784-d row of X or 6 KB for a double
 * centroid): at 20,000 images, 104 candidates per query pass the tree and 11 the second bound.
 * The exact distance is computed from the full centroids only for those, in WT_LANES fixed
 * partial sums (vector speed, the same bits whatever the thread count). Every distance that
 * decides a merge is computed in double from the original coordinates: rotations and bounds
 * change the speed, never the result.
 *
 * A query's leaf scan checks after every WT_EARLY coordinates (the widest axes come first)
 * whether any entry can still pass, and most leaves are left there; the entries that pass are
 * checked by increasing bound, so the nearest shrink the search radius first.
 *
 * Memory: a cluster of one point is its row of X (float, converted exactly), so only clusters
 * of ≥ 2 points need a double centroid; they are disjoint, at most n/2 at once, and their rows
 * are recycled (the pool's pages are touched only when used). With the principal coordinates
 * (double, so that averaging them at merges does not drift) and the float copies, Ward on
 * 70,000×784 needs ~300 MB besides X (a 784-d double per point alone would be 440 MB).
 *
 * Ties: a query returns the smallest cluster index among the nearest (ties of the Ward distance
 * are rare but duplicate points make them). Merged clusters live on at the larger index, like
 * scipy. Every query and merge decision is made by one thread in a fixed order, so the result
 * does not depend on the number of threads.
 *
 * Single linkage: Prim's algorithm over compacted column-major coordinates (a point's distance to
 * the tree is updated with the newest member only), parallel over fixed chunks with a
 * lexicographic (distance, index) minimum, so the result does not depend on the thread count.
 */
#include "ward.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define WT_LEAF 128         /* entries per kd-tree leaf (vector lanes of the leaf scan) */
#define WT_KMAX 48          /* tree on all coordinates up to this d, else on this many principal axes */
#define WT_K2 192           /* second bound: this many principal axes (at most d/2; on if > WT_KMAX) */
#define WT_BLOCK 2048       /* rows centred at a time for the principal axes and coordinates */
#define WT_SAMPLE 16384     /* rows that the principal axes are computed from, at most */
#define WT_EARLY 8          /* leaf scan: look for an empty leaf after every this many coordinates */
#define WT_AHEAD 4          /* candidates whose second-bound rows are prefetched ahead */
#define WT_LANES 16         /* fixed partial sums of the exact distance (two AVX-512 double vectors) */
#define WT_REBUILD 0.9      /* rebuild when the active clusters fall to this share of the last build */
#define WT_QUANTILE 0.25    /* share of the unknown neighbours queried per round (smallest bounds) */
#define WT_STACK 256        /* DFS stack: ≤ 2 entries per level, and the depth is < 40 for n < 2^40 */

typedef struct {
    int64_t n, d;
    int64_t k;           /* tree coordinates: kp principal ones, then the residual norm when d > kp */
    int64_t kp;          /* principal coordinates in the tree */
    int64_t k2;          /* principal coordinates kept per centroid (≥ kp; > kp: second bound on) */
    int64_t kb;          /* box stride: k rounded up to a multiple of 16 (vector width) */
    const float *x;      /* n×d input: the centroid of a single point is its row */
    double *cen;         /* (n/2 + 1)×d: the centroids of clusters of ≥ 2 points, one row each */
    int32_t *crow;       /* n: slot (the cluster's largest point index) → its cen row, −1: a point */
    int32_t *freerow;    /* stack of unused cen rows */
    int64_t nfree;
    double *pc;          /* n×k2 centred principal coordinates of the centroids, by slot */
    double *mu;          /* d column means: the centre of the principal coordinates */
    int64_t s2;          /* row stride of pf: k2 + 1 rounded up to a multiple of 16 */
    float *pf;           /* n×s2 by slot: the k2 principal coordinates, then the norm of the centred
                          * centroid outside their span, then zeros (the second bound's vectors) */
    double keep, slack;  /* from a float tree distance s: keep·s − slack ≤ the true dist² */
    int64_t cap;         /* positions: leaves × WT_LEAF; position p is lane p % L of leaf p / L */
    int64_t nleaves;
    /* tree order; the float copies serve the bounds only, every decision is made in double */
    float *tc, *tc2;     /* coordinates, per leaf k rows of L lanes: tc[leaf·L·k + j·L + lane] */
    float *tinv, *tinv2; /* 1 / (2·size), −inf at an empty position (the scan's filter) */
    double *ts, *ts2;    /* cluster size, 0 = empty or merged away */
    int64_t *tslot, *tslot2;
    int64_t *tpos;       /* n: slot → position, −1 once merged away */
    int64_t *ids;        /* rebuild scratch: old positions in new order */
    int64_t node_cap;    /* implicit binary tree: children of node i are 2i+1, 2i+2 */
    float *lo, *hi;      /* node_cap×kb bounding boxes (dimensions ≥ k are 0) */
    double *nmin;        /* node_cap: smallest active size below the node (+inf: none) */
    double *nhinv;       /* node_cap: 1/(2·nmin) */
    int64_t *cnt;        /* node_cap: active entries below the node */
    int32_t *nleaf;      /* node_cap: leaf ordinal, −1 for inner nodes */
    int32_t *leafnode;   /* leaf ordinal → node */
    int64_t active, built;
} wtree;

static void wt_free(wtree *t)
{
    free(t->cen); fm_free(t->crow); fm_free(t->freerow); fm_free(t->pc); fm_free(t->mu); fm_free(t->pf);
    fm_free(t->tc); fm_free(t->tc2);
    fm_free(t->tinv); fm_free(t->tinv2);
    fm_free(t->ts); fm_free(t->ts2);
    fm_free(t->tslot); fm_free(t->tslot2);
    fm_free(t->tpos); fm_free(t->ids);
    fm_free(t->lo); fm_free(t->hi); fm_free(t->nmin); fm_free(t->nhinv); fm_free(t->cnt);
    fm_free(t->nleaf); fm_free(t->leafnode);
}

/* index of coordinate j of position p in tc */
static inline int64_t wt_at(int64_t k, int64_t p, int64_t j)
{
    return (p / WT_LEAF) * WT_LEAF * k + j * WT_LEAF + p % WT_LEAF;
}

/* ------------------------------------------------------------------ kd-tree over centroids */

static void wt_node_from_leaf(wtree *t, int64_t node)
{
    int64_t k = t->k, leaf = t->nleaf[node];
    const float *c = t->tc + leaf * WT_LEAF * k;
    const double *sz = t->ts + leaf * WT_LEAF;
    float *lo = t->lo + node * t->kb, *hi = t->hi + node * t->kb;
    double mn = INFINITY;
    int64_t cnt = 0;
    for (int i = 0; i < WT_LEAF; i++) {
        if (sz[i] == 0) continue;
        cnt++;
        mn = sz[i] < mn ? sz[i] : mn;
    }
    for (int64_t j = 0; j < k; j++) {
        float l = INFINITY, h = -INFINITY;
        for (int i = 0; i < WT_LEAF; i++) {
            if (sz[i] == 0) continue;
            float v = c[j * WT_LEAF + i];
            l = v < l ? v : l;
            h = v > h ? v : h;
        }
        lo[j] = l;
        hi[j] = h;
    }
    t->nmin[node] = mn;
    t->nhinv[node] = 0.5 / mn;
    t->cnt[node] = cnt;
}

static void wt_node_from_children(wtree *t, int64_t node)
{
    int64_t l = 2 * node + 1, r = l + 1;
    t->cnt[node] = t->cnt[l] + t->cnt[r];
    t->nmin[node] = t->nmin[l] < t->nmin[r] ? t->nmin[l] : t->nmin[r];   /* empty: +inf, −inf boxes */
    t->nhinv[node] = 0.5 / t->nmin[node];
    int64_t kb = t->kb;
    for (int64_t j = 0; j < kb; j++) {
        float a = t->lo[l * kb + j], b = t->lo[r * kb + j];
        t->lo[node * kb + j] = a < b ? a : b;
        a = t->hi[l * kb + j];
        b = t->hi[r * kb + j];
        t->hi[node * kb + j] = a > b ? a : b;
    }
}

/* a leaf changed: recompute it and its ancestors */
static void wt_refresh(wtree *t, int64_t leaf)
{
    int64_t node = t->leafnode[leaf];
    wt_node_from_leaf(t, node);
    while (node > 0) {
        node = (node - 1) / 2;
        wt_node_from_children(t, node);
    }
}

#define WT_KEY(i) (src[wt_at(k, ids[i], dim)])

/* reorder ids[lo, hi) so that ids[nth] holds the nth smallest key in dimension dim, smaller keys
 * before it and larger after (Hoare partition, median-of-three pivot; deterministic) */
static void wt_select(int64_t *ids, int64_t lo, int64_t hi, int64_t nth, const float *src, int64_t k, int64_t dim)
{
    hi--;
    while (hi > lo) {
        int64_t mid = lo + (hi - lo) / 2;
        float a = WT_KEY(lo), b = WT_KEY(mid), c = WT_KEY(hi);
        float pivot = a < b ? (b < c ? b : (a < c ? c : a)) : (a < c ? a : (b < c ? c : b));
        int64_t i = lo, j = hi;
        while (i <= j) {
            while (WT_KEY(i) < pivot) i++;
            while (WT_KEY(j) > pivot) j--;
            if (i <= j) {
                int64_t tmp = ids[i]; ids[i] = ids[j]; ids[j] = tmp;
                i++; j--;
            }
        }
        if (nth <= j) hi = j;
        else if (nth >= i) lo = i;
        else return;
    }
}

/* split ids[s, e) (old positions) at the median of the widest dimension; a leaf copies its
 * entries into the new layout (tc2, tinv2, ts2, tslot2). Every subtree starts at a multiple of
 * WT_LEAF, so leaf s / WT_LEAF is numbered without a shared counter and subtrees are built as
 * independent tasks. */
static void wt_split(wtree *t, int64_t node, int64_t s, int64_t e)
{
    int64_t k = t->k;
    const float *src = t->tc;
    if (e - s <= WT_LEAF) {
        int64_t leaf = s / WT_LEAF;
        t->nleaf[node] = (int32_t)leaf;
        t->leafnode[leaf] = (int32_t)node;
        float *c = t->tc2 + leaf * WT_LEAF * k;
        for (int64_t i = 0; i < WT_LEAF; i++) {
            int64_t pos = leaf * WT_LEAF + i;
            if (i < e - s) {
                int64_t o = t->ids[s + i];
                for (int64_t j = 0; j < k; j++) c[j * WT_LEAF + i] = src[wt_at(k, o, j)];
                t->tinv2[pos] = t->tinv[o];
                t->ts2[pos] = t->ts[o];
                t->tslot2[pos] = t->tslot[o];
                t->tpos[t->tslot[o]] = pos;
            } else {
                for (int64_t j = 0; j < k; j++) c[j * WT_LEAF + i] = 0;
                t->tinv2[pos] = -INFINITY;
                t->ts2[pos] = 0;
                t->tslot2[pos] = -1;
            }
        }
        return;
    }
    t->nleaf[node] = -1;
    int64_t dim = 0;
    float spread = -1;
    for (int64_t j = 0; j < k; j++) {
        float lo = INFINITY, hi = -INFINITY;
        for (int64_t p = s; p < e; p++) {
            float v = src[wt_at(k, t->ids[p], j)];
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
        if (hi - lo > spread) { spread = hi - lo; dim = j; }
    }
    /* the left part gets half of the leaves, all full: only the last leaf of the tree is partial */
    int64_t leaves = (e - s + WT_LEAF - 1) / WT_LEAF;
    int64_t mid = s + WT_LEAF * ((leaves + 1) / 2);
    wt_select(t->ids, s, e, mid, src, k, dim);
    #pragma omp task if (e - s > 8 * 1024)
    wt_split(t, 2 * node + 1, s, mid);
    wt_split(t, 2 * node + 2, mid, e);
}

static void wt_fill(wtree *t, int64_t node, int64_t size)
{
    if (t->nleaf[node] >= 0) { wt_node_from_leaf(t, node); return; }
    #pragma omp task if (size > 8 * 1024)
    wt_fill(t, 2 * node + 1, size / 2);
    wt_fill(t, 2 * node + 2, size / 2);
    #pragma omp taskwait
    wt_node_from_children(t, node);
}

/* (re)build the tree over the active entries */
static void wt_build(wtree *t)
{
    int64_t m = 0, used = t->nleaves * WT_LEAF;
    for (int64_t p = 0; p < used; p++)
        if (t->ts[p] != 0) t->ids[m++] = p;
    #pragma omp parallel if (m > 32 * 1024)
    #pragma omp single
    wt_split(t, 0, 0, m);
    t->nleaves = (m + WT_LEAF - 1) / WT_LEAF;
    float *ft = t->tc; t->tc = t->tc2; t->tc2 = ft;
    ft = t->tinv; t->tinv = t->tinv2; t->tinv2 = ft;
    double *dt = t->ts; t->ts = t->ts2; t->ts2 = dt;
    int64_t *it = t->tslot; t->tslot = t->tslot2; t->tslot2 = it;
    #pragma omp parallel if (m > 32 * 1024)
    #pragma omp single
    wt_fill(t, 0, m);
    t->built = t->active;
}

/* not declared by every cblas.h */
extern int openblas_get_num_threads(void);
extern void openblas_set_num_threads(int);

/* the column means mu (d) and the top k principal axes of x (rows of pbasis, k×d, orthonormal
 * to working precision), the axes from at most WT_SAMPLE evenly spaced rows. Only the speed
 * depends on the axes: every bound built on them holds for any orthonormal rows. */
static fm_status wt_basis(double *pbasis, double *mu, const float *x, int64_t n, int64_t d, int64_t k)
{
    fm_status s = FM_STATUS_NOMEM;
    float *g = fm_alloc((size_t)(d * d), sizeof(float));
    double *c = fm_alloc((size_t)(d * d), sizeof(double));
    double *w = fm_alloc((size_t)d, sizeof(double));
    double *z = fm_alloc((size_t)(d * k), sizeof(double));
    lapack_int *sup = fm_alloc((size_t)(2 * k), sizeof(lapack_int));
    float *blk = fm_alloc((size_t)(WT_BLOCK * d), sizeof(float));
    if (!g || !c || !w || !z || !sup || !blk) goto done;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < d; j++) mu[j] += x[i * d + j];
    for (int64_t j = 0; j < d; j++) mu[j] /= (double)n;
    /* the scatter matrix of the centred sample (upper triangle), a block at a time: centring
     * first keeps the axes meaningful when the data sit far from the origin */
    int64_t ns = n < WT_SAMPLE ? n : WT_SAMPLE;
    for (int64_t i0 = 0; i0 < ns; i0 += WT_BLOCK) {
        int64_t m = ns - i0 < WT_BLOCK ? ns - i0 : WT_BLOCK;
        for (int64_t i = 0; i < m; i++) {
            const float *xi = x + (i0 + i) * n / ns * d;
            for (int64_t j = 0; j < d; j++) blk[i * d + j] = (float)((double)xi[j] - mu[j]);
        }
        cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, (blasint)d, (blasint)m, 1.0f, blk, (blasint)d,
                    i0 == 0 ? 0.0f : 1.0f, g, (blasint)d);
    }
    for (int64_t i = 0; i < d; i++)
        for (int64_t j = i; j < d; j++) c[i * d + j] = g[i * d + j];
    /* LAPACK's many small BLAS calls on one thread: on a shared machine, a team of threads
     * meeting at every call is far slower than one thread (seconds instead of a tenth) */
    int bt = openblas_get_num_threads(), ot = omp_get_max_threads();
    openblas_set_num_threads(1);
    lapack_int found = 0;
    lapack_int info = LAPACKE_dsyevr(LAPACK_ROW_MAJOR, 'V', 'I', 'U', (lapack_int)d, c, (lapack_int)d, 0.0, 0.0,
                                     (lapack_int)(d - k + 1), (lapack_int)d, 0.0, &found, w, z, (lapack_int)k, sup);
    openblas_set_num_threads(bt);   /* the OpenMP build resets OpenMP's count too: restore both */
    omp_set_num_threads(ot);
    if (info != 0 || found != k) { s = FM_STATUS_NUMERIC; goto done; }
    for (int64_t a = 0; a < k; a++)   /* eigenvalues come ascending: largest axis first */
        for (int64_t j = 0; j < d; j++) pbasis[a * d + j] = z[j * k + (k - 1 - a)];
    s = FM_STATUS_OK;
done:
    fm_free(g); fm_free(c); fm_free(w); fm_free(z); fm_free(sup); fm_free(blk);
    return s;
}

/* Σ (y_j − x_j)² in double, in WT_LANES fixed partial sums added in a fixed order: vector speed,
 * and the same bits whoever asks and however the compiler vectorises. Float inputs convert
 * exactly, so the mixed versions give the bits of the double one on converted copies (and every
 * version is symmetric in x, y). */
#define LANE_DIST2(name, TX, TY)                                                                 \
    static double name(const TX *x, const TY *y, int64_t d)                                      \
    {                                                                                            \
        double acc[WT_LANES] = {0};                                                              \
        int64_t j = 0;                                                                           \
        for (; j + WT_LANES <= d; j += WT_LANES)                                                 \
            for (int l = 0; l < WT_LANES; l++) {                                                 \
                double v = (double)y[j + l] - (double)x[j + l];                                  \
                acc[l] += v * v;                                                                 \
            }                                                                                    \
        for (int l = 0; j + l < d; l++) {                                                        \
            double v = (double)y[j + l] - (double)x[j + l];                                      \
            acc[l] += v * v;                                                                     \
        }                                                                                        \
        for (int w = WT_LANES / 2; w > 0; w /= 2)                                                \
            for (int l = 0; l < w; l++) acc[l] += acc[l + w];                                    \
        return acc[0];                                                                           \
    }
LANE_DIST2(lane_dist2, double, double)
LANE_DIST2(lane_dist2_fd, float, double)
LANE_DIST2(lane_dist2_ff, float, float)

/* Write the tree coordinates of slot (at tree position pos) and its residual beyond the k2 axes,
 * from its centroid and principal coordinates. The residual norm r = ‖(I − PᵀP)(c − μ)‖ comes
 * from ‖c − μ‖² − ‖P(c − μ)‖², both sums of squares in double. Returns ‖c − μ‖². */
static double wt_place(wtree *t, int64_t slot, int64_t pos)
{
    const double *g = t->pc + slot * t->k2;
    int64_t r = t->crow[slot];
    double sq = r < 0 ? lane_dist2_fd(t->x + slot * t->d, t->mu, t->d) : lane_dist2(t->mu, t->cen + r * t->d, t->d);
    double p = 0;
    for (int64_t j = 0; j < t->kp; j++) {
        p += g[j] * g[j];
        t->tc[wt_at(t->k, pos, j)] = (float)g[j];
    }
    if (t->k > t->kp) t->tc[wt_at(t->k, pos, t->kp)] = (float)sqrt(sq > p ? sq - p : 0);
    if (t->k2 > t->kp) {
        float *h = t->pf + slot * t->s2;
        for (int64_t j = 0; j < t->kp; j++) h[j] = (float)g[j];
        for (int64_t j = t->kp; j < t->k2; j++) {
            p += g[j] * g[j];
            h[j] = (float)g[j];
        }
        h[t->k2] = (float)sqrt(sq > p ? sq - p : 0);
    }
    return sq;
}

static fm_status wt_init(wtree *t, const float *x, int64_t n, int64_t d)
{
    memset(t, 0, sizeof *t);
    t->n = n;
    t->d = d;
    t->kp = d > WT_KMAX ? WT_KMAX : d;
    t->k = t->kp + (d > t->kp);
    t->k2 = d / 2 < WT_K2 ? d / 2 : WT_K2;   /* a check of k2 floats against up to d doubles */
    if (t->k2 < t->kp) t->k2 = t->kp;
    t->kb = (t->k + 15) / 16 * 16;
    int64_t k = t->k, k2 = t->k2;
    int64_t depth = 0, leaves = (n + WT_LEAF - 1) / WT_LEAF;
    while (((int64_t)1 << depth) < leaves) depth++;   /* leaves sit at depth ≤ this */
    t->node_cap = (int64_t)2 << depth;
    t->cap = leaves * WT_LEAF;
    t->x = x;
    /* not fm_alloc: zeroing would touch every page, and the pool is seldom half used (45 % at
     * 20,000 images); a row is written before it is read, and untouched pages cost no memory */
    size_t cbytes = ((size_t)((n / 2 + 1) * d) * sizeof(double) + 63) / 64 * 64;
    t->cen = aligned_alloc(64, cbytes);
    t->crow = fm_alloc((size_t)n, sizeof(int32_t));
    t->freerow = fm_alloc((size_t)(n / 2 + 1), sizeof(int32_t));
    t->pc = fm_alloc((size_t)(n * k2), sizeof(double));
    t->mu = fm_alloc((size_t)d, sizeof(double));
    t->s2 = t->k2 > t->kp ? (t->k2 + 1 + 15) / 16 * 16 : 0;
    t->pf = fm_alloc((size_t)(n * t->s2), sizeof(float));
    t->tc = fm_alloc((size_t)(t->cap * k), sizeof(float));
    t->tc2 = fm_alloc((size_t)(t->cap * k), sizeof(float));
    t->tinv = fm_alloc((size_t)t->cap, sizeof(float));
    t->tinv2 = fm_alloc((size_t)t->cap, sizeof(float));
    t->ts = fm_alloc((size_t)t->cap, sizeof(double));
    t->ts2 = fm_alloc((size_t)t->cap, sizeof(double));
    t->tslot = fm_alloc((size_t)t->cap, sizeof(int64_t));
    t->tslot2 = fm_alloc((size_t)t->cap, sizeof(int64_t));
    t->tpos = fm_alloc((size_t)n, sizeof(int64_t));
    t->ids = fm_alloc((size_t)n, sizeof(int64_t));
    t->lo = fm_alloc((size_t)(t->node_cap * t->kb), sizeof(float));
    t->hi = fm_alloc((size_t)(t->node_cap * t->kb), sizeof(float));
    t->nmin = fm_alloc((size_t)t->node_cap, sizeof(double));
    t->nhinv = fm_alloc((size_t)t->node_cap, sizeof(double));
    t->cnt = fm_alloc((size_t)t->node_cap, sizeof(int64_t));
    t->nleaf = fm_alloc((size_t)t->node_cap, sizeof(int32_t));
    t->leafnode = fm_alloc((size_t)(t->cap / WT_LEAF), sizeof(int32_t));
    double *pb = fm_alloc((size_t)(k2 * d), sizeof(double));
    double *blk = fm_alloc((size_t)(WT_BLOCK * d), sizeof(double));
    if (!t->cen || !t->crow || !t->freerow || !t->pc || !t->mu || !t->pf || !t->tc || !t->tc2 || !t->tinv ||
        !t->tinv2 || !t->ts || !t->ts2 || !t->tslot || !t->tslot2 || !t->tpos || !t->ids || !t->lo || !t->hi ||
        !t->nmin || !t->nhinv || !t->cnt || !t->nleaf || !t->leafnode || !pb || !blk) {
        fm_free(pb); fm_free(blk);
        return FM_STATUS_NOMEM;
    }
    fm_status s = wt_basis(pb, t->mu, x, n, d, k2);
    if (s != FM_STATUS_OK) { fm_free(pb); fm_free(blk); return s; }
    for (int64_t i = 0; i < n; i++) t->crow[i] = -1;
    t->nfree = n / 2 + 1;   /* clusters of ≥ 2 points are disjoint: at most n/2 at once, +1 in a merge */
    for (int64_t i = 0; i < t->nfree; i++) t->freerow[i] = (int32_t)(t->nfree - 1 - i);
    /* principal coordinates P(c − μ), a block of centred rows at a time (centring first keeps
     * them accurate when the data sit far from the origin); one DGEMM per block. Only bounds
     * depend on them, and those are checked against the exact distance: BLAS's summation
     * order changes the speed, never the result. */
    for (int64_t i0 = 0; i0 < n; i0 += WT_BLOCK) {
        int64_t m = n - i0 < WT_BLOCK ? n - i0 : WT_BLOCK;
        #pragma omp parallel for schedule(static) if (m * d > 100000)
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < d; j++) blk[i * d + j] = (double)x[(i0 + i) * d + j] - t->mu[j];
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)m, (blasint)k2, (blasint)d, 1.0, blk,
                    (blasint)d, pb, (blasint)d, 0.0, t->pc + i0 * k2, (blasint)k2);
    }
    fm_free(pb);
    fm_free(blk);
    double maxsq = 0;   /* of the centred rows: bounds every tree coordinate vector's norm² */
    #pragma omp parallel for schedule(static) reduction(max:maxsq) if (n * d > 100000)
    for (int64_t i = 0; i < n; i++) {
        double sq = wt_place(t, i, i);
        maxsq = sq > maxsq ? sq : maxsq;
    }
    /* Both bounds are lower bounds of the true squared distance D of the double centroids up to
     * rounding, which a margin covers: keep·s − slack ≤ D for a bound s. With R² = maxsq, which
     * bounds the norm² of every bound vector (principal part and residual norm together have the
     * norm of the centred centroid, inside the hull of the rows), and 2xy ≤ x²/η + ηy²:
     *  - float copies: with u = 2⁻²⁴ a coordinate difference is off by ≤ u(|a_j| + |b_j|), so by
     *    Cauchy–Schwarz the cross term is ≤ 4u·R·√D ≤ 1e-5·D + 1.5e-9·R²; the float sums (≤ 64
     *    terms in a chain) add ≤ 4e-6·D;
     *  - the residual norm r = √(‖c − μ‖² − ‖P(c − μ)‖²): the double sums of squares, the
     *    projection and its drift through the merges put r² off by ε·R² with ε ≲ 1e-12 (summed
     *    error bounds, far above typical), so r is off by ≤ √ε·R and (r_a − r_b)² by
     *    ≤ 1e-4·D + 4ε·R²/1e-4 = 1e-4·D + 4e-8·R².
     * Together ≤ 1.2e-4·D + 4.2e-8·R²; keep and slack leave a factor two. */
    t->keep = 1 - 2.5e-4;
    t->slack = 1e-7 * maxsq;
    for (int64_t i = 0; i < n; i++) {
        t->ts[i] = 1;
        t->tinv[i] = 0.5f;
        t->tslot[i] = i;
    }
    t->nleaves = (n + WT_LEAF - 1) / WT_LEAF;
    t->active = n;
    wt_build(t);
    return FM_STATUS_OK;
}

/* ‖c_a − c_b‖² for slots a, b from the full centroids: the distance every decision uses */
static double wt_dist2(const wtree *t, int64_t a, int64_t b)
{
    int64_t d = t->d, ra = t->crow[a], rb = t->crow[b];
    if (ra >= 0 && rb >= 0) return lane_dist2(t->cen + ra * d, t->cen + rb * d, d);
    if (ra >= 0) return lane_dist2_fd(t->x + b * d, t->cen + ra * d, d);
    if (rb >= 0) return lane_dist2_fd(t->x + a * d, t->cen + rb * d, d);
    return lane_dist2_ff(t->x + a * d, t->x + b * d, d);
}

/* Σ (y_j − x_j)² over m (a multiple of WT_LANES) floats, in fixed partial sums */
static float lane_dist2f(const float *x, const float *y, int64_t m)
{
    float acc[WT_LANES] = {0};
    for (int64_t j = 0; j < m; j += WT_LANES)
        for (int l = 0; l < WT_LANES; l++) { float v = y[j + l] - x[j + l]; acc[l] += v * v; }
    for (int w = WT_LANES / 2; w > 0; w /= 2)
        for (int l = 0; l < w; l++) acc[l] += acc[l + w];
    return acc[0];
}

/* the second lower bound of ‖c_a − c_b‖² (before the margin): the squared distance over the k2
 * principal coordinates plus the squared difference of the residual norms beyond them, from
 * float copies (half the memory traffic; the margin covers their rounding) */
static double wt_bound2(const wtree *t, const float *ha, int64_t b)
{
    return (double)lane_dist2f(ha, t->pf + b * t->s2, t->s2);
}

/* ask the cache for slot b's row of the second bound's table */
static inline void wt_prefetch(const wtree *t, int64_t b)
{
    const char *row = (const char *)(t->pf + b * t->s2);
    for (int64_t o = 0; o < t->s2 * (int64_t)sizeof(float); o += 64) __builtin_prefetch(row + o);
}

static inline double ward_factor(double na, double nb) { return 2.0 * na * nb / (na + nb); }

/* The nearest active cluster to slot a under the squared Ward distance: the smallest slot among
 * the nearest. hint (an active slot ≠ a, or −1) is a likely answer that seeds the bound.
 * Returns the slot (−1 if a is alone), *best its squared Ward distance. Reads the tree only. */
static int64_t wt_nearest(const wtree *t, int64_t a, int64_t hint, double *best_out)
{
    const int64_t k = t->k, kb = t->kb;
    const int64_t pa = t->tpos[a];
    const double na = t->ts[pa], keep = t->keep, slack = t->slack;
    const double boxkeep = keep * (1 - 1e-5);   /* box sums run in another order: a little looser */
    const float fkeep = (float)keep, fslack = (float)slack;
    float q[WT_KMAX + 16] = {0};   /* kb ≤ WT_KMAX + 16 entries; the padding stays 0 like the boxes' */
    for (int64_t j = 0; j < k; j++) q[j] = t->tc[wt_at(k, pa, j)];
    const int two = t->k2 > t->kp;   /* the second bound is on */
    const float *ha = t->pf + a * t->s2;
    double best = INFINITY;
    int64_t bid = -1;
    if (hint >= 0 && hint != a) {
        best = ward_factor(na, t->ts[t->tpos[hint]]) * wt_dist2(t, a, hint);
        bid = hint;
    }

    /* A node is skipped when its bound exceeds best. The bound is f·X with X the safe box
     * distance² and f = 2·na·m/(na+m) = 1/(1/(2na) + 1/(2m)), m the node's smallest size; it is
     * kept as (X, coef = 1/(2na) + 1/(2m)) and compared as X > best·coef, without division
     * (loosened by 1e-12 for the rounding of that rewrite). */
    const double hnad = 0.5 / na, loose = 1 + 1e-12;
    int64_t stack[WT_STACK];
    double stx[WT_STACK], stc[WT_STACK];
    int sp = 0;
    stack[sp] = 0; stx[sp] = 0; stc[sp] = 1; sp++;
    while (sp > 0) {
        sp--;
        int64_t node = stack[sp];
        if (stx[sp] > best * stc[sp] * loose) continue;
        int64_t leaf = t->nleaf[node];
        if (leaf >= 0) {
            const float *c = t->tc + leaf * WT_LEAF * k, *inv = t->tinv + leaf * WT_LEAF;
            /* W² = dist²/(1/(2na) + 1/(2nb)) ≤ best ⟺ dist² ≤ best·(1/(2na) + 1/(2nb)): a
             * division-free filter in float, loosened by 1e-4 so that it keeps whatever the
             * exact test keeps; empty positions (1/(2nb) = −inf) never pass (gap NaN or +inf).
             * The partial sums after the leading (widest) axes are lower bounds already: most
             * leaves hold no candidate, and one vector minimum there says so early. */
            float lim = (float)(best * (1 + 1e-4)), tl[WT_LEAF], acc[WT_LEAF], gap[WT_LEAF];
            const float hna = (float)hnad;
            #pragma omp simd
            for (int i = 0; i < WT_LEAF; i++) tl[i] = fslack + lim * (inv[i] + hna);
            float mingap = -INFINITY;
            for (int64_t j = 0; j < k && mingap <= 0; j++) {
                const float *cj = c + j * WT_LEAF;
                float qj = q[j];
                if (j == 0) {
                    #pragma omp simd
                    for (int i = 0; i < WT_LEAF; i++) { float v = cj[i] - qj; acc[i] = v * v; }
                } else {
                    #pragma omp simd
                    for (int i = 0; i < WT_LEAF; i++) { float v = cj[i] - qj; acc[i] = fmaf(v, v, acc[i]); }
                }
                if (j % WT_EARLY == WT_EARLY - 1 || j == k - 1) {
                    mingap = INFINITY;
                    #pragma omp simd reduction(min:mingap)
                    for (int i = 0; i < WT_LEAF; i++) {
                        float g = acc[i] * fkeep - tl[i];
                        g = g == g ? g : INFINITY;   /* 0·−inf when best = 0 */
                        gap[i] = g;
                        mingap = g < mingap ? g : mingap;
                    }
                }
            }
            if (!(mingap <= 0)) continue;
            /* the candidates by increasing bound: the nearest ones shrink best first, and the
             * scan stops at the first bound above it */
            double cb[WT_LEAF];
            int ci[WT_LEAF], nc = 0;
            for (int i = 0; i < WT_LEAF; i++) {
                if (i % 16 == 0) {   /* skip 16 lanes at a time when none of them passes */
                    float m16 = INFINITY;
                    for (int l = 0; l < 16; l++) m16 = gap[i + l] < m16 ? gap[i + l] : m16;
                    if (!(m16 <= 0)) { i += 15; continue; }
                }
                if (!(gap[i] <= 0)) continue;
                int64_t pos = leaf * WT_LEAF + i;
                if (t->tslot[pos] == a) continue;
                double b = ward_factor(na, t->ts[pos]) * ((double)acc[i] * keep - slack);
                if (b > best) continue;
                int j = nc++;
                for (; j > 0 && cb[j - 1] > b; j--) { cb[j] = cb[j - 1]; ci[j] = ci[j - 1]; }
                cb[j] = b;
                ci[j] = i;
            }
            /* the second bound reads a row per candidate from an n-row table: ask for the rows
             * a few candidates ahead, so that their cache misses overlap */
            for (int c = 0; two && c < WT_AHEAD && c < nc; c++) wt_prefetch(t, t->tslot[leaf * WT_LEAF + ci[c]]);
            for (int c = 0; c < nc && cb[c] <= best; c++) {
                int64_t pos = leaf * WT_LEAF + ci[c], sid = t->tslot[pos];
                if (two && c + WT_AHEAD < nc) wt_prefetch(t, t->tslot[leaf * WT_LEAF + ci[c + WT_AHEAD]]);
                double f = ward_factor(na, t->ts[pos]);
                if (two && f * (wt_bound2(t, ha, sid) * keep - slack) > best) continue;
                double w = f * wt_dist2(t, a, sid);
                if (w < best || (w == best && sid < bid) || bid < 0) {
                    best = w;
                    bid = sid;
                }
            }
            continue;
        }
        /* both children, the one with the smaller bound on top of the stack */
        int64_t c0 = 2 * node + 1;
        double xs[2], cs[2];
        for (int c = 0; c < 2; c++) {
            const float *lo = t->lo + (c0 + c) * kb, *hi = t->hi + (c0 + c) * kb;
            float sum = 0;
            #pragma omp simd reduction(+:sum)
            for (int64_t j = 0; j < kb; j++) {
                float g = lo[j] - q[j], g2 = q[j] - hi[j];
                g = g > g2 ? g : g2;
                g = g > 0 ? g : 0;
                sum += g * g;
            }
            xs[c] = (double)sum * boxkeep - slack;
            cs[c] = hnad + t->nhinv[c0 + c];
        }
        int near = xs[0] * cs[1] <= xs[1] * cs[0] ? 0 : 1;   /* X0/c0 ≤ X1/c1 */
        for (int step = 0; step < 2; step++) {
            int c = step == 0 ? 1 - near : near;   /* pushed last = visited first */
            if (t->cnt[c0 + c] && xs[c] <= best * cs[c] * loose && sp < WT_STACK) {
                stack[sp] = c0 + c;
                stx[sp] = xs[c];
                stc[sp] = cs[c];
                sp++;
            }
        }
    }
    *best_out = best;
    return bid;
}

/* clusters at slots x < y merge; the union lives on at y. The tree is refreshed by the caller. */
static void wt_merge(wtree *t, int64_t x, int64_t y)
{
    int64_t k2 = t->k2, px = t->tpos[x], py = t->tpos[y];
    double nx = t->ts[px], ny = t->ts[py], ns = nx + ny;
    /* the union's row: y's, else x's, else a free one; x's is freed when y keeps its own */
    int64_t d = t->d, rx = t->crow[x], ry = t->crow[y], ru = ry >= 0 ? ry : rx >= 0 ? rx : t->freerow[--t->nfree];
    double *cu = t->cen + ru * d;
    if (rx >= 0 && ry >= 0) {
        const double *fx = t->cen + rx * d;
        for (int64_t j = 0; j < d; j++) cu[j] = (nx * fx[j] + ny * cu[j]) / ns;
        t->freerow[t->nfree++] = (int32_t)rx;
    } else if (ry >= 0) {
        const float *fx = t->x + x * d;
        for (int64_t j = 0; j < d; j++) cu[j] = (nx * (double)fx[j] + ny * cu[j]) / ns;
    } else {
        const float *fy = t->x + y * d;
        if (rx >= 0)
            for (int64_t j = 0; j < d; j++) cu[j] = (nx * cu[j] + ny * (double)fy[j]) / ns;
        else {
            const float *fx = t->x + x * d;
            for (int64_t j = 0; j < d; j++) cu[j] = (nx * (double)fx[j] + ny * (double)fy[j]) / ns;
        }
    }
    t->crow[x] = -1;
    t->crow[y] = (int32_t)ru;
    double *gx = t->pc + x * k2, *gy = t->pc + y * k2;
    for (int64_t j = 0; j < k2; j++) gy[j] = (nx * gx[j] + ny * gy[j]) / ns;
    wt_place(t, y, py);
    t->ts[py] = ns;
    t->tinv[py] = (float)(0.5 / ns);
    t->ts[px] = 0;
    t->tinv[px] = -INFINITY;
    t->tpos[x] = -1;
    t->active--;
}

/* the nth smallest of v[0..m) (v is reordered; deterministic quickselect) */
static double nth_smallest(double *v, int64_t m, int64_t nth)
{
    int64_t lo = 0, hi = m - 1;
    while (hi > lo) {
        double a = v[lo], b = v[lo + (hi - lo) / 2], c = v[hi];
        double pivot = a < b ? (b < c ? b : (a < c ? c : a)) : (a < c ? a : (b < c ? c : b));
        int64_t i = lo, j = hi;
        while (i <= j) {
            while (v[i] < pivot) i++;
            while (v[j] > pivot) j--;
            if (i <= j) { double tmp = v[i]; v[i] = v[j]; v[j] = tmp; i++; j--; }
        }
        if (nth <= j) hi = j;
        else if (nth >= i) lo = i;
        else break;
    }
    return v[nth];
}

fm_status fm_ward_rnn(int64_t *ea, int64_t *eb, double *h, const float *x, int64_t n, int64_t d)
{
    if (n < 1 || d < 1) return FM_STATUS_ARG;
    if (n == 1) return FM_STATUS_OK;
    wtree t;
    fm_status s = wt_init(&t, x, n, d);
    int64_t *nn = fm_alloc((size_t)n, sizeof(int64_t));      /* slot → nearest slot, −1 = unknown */
    double *nnd = fm_alloc((size_t)n, sizeof(double));       /* its squared Ward distance */
    double *lbd = fm_alloc((size_t)n, sizeof(double));       /* unknown: a lower bound of nnd */
    int64_t *succ = fm_alloc((size_t)n, sizeof(int64_t));    /* merged-away slot → the union's slot */
    int64_t *act = fm_alloc((size_t)n, sizeof(int64_t));     /* active slots, ascending */
    int64_t *todo = fm_alloc((size_t)n, sizeof(int64_t));    /* slots to query this round */
    double *scr = fm_alloc((size_t)n, sizeof(double));
    int64_t *hint = fm_alloc((size_t)n, sizeof(int64_t));
    unsigned char *changed = fm_alloc((size_t)n, 1);         /* made or merged away this round */
    if (s == FM_STATUS_OK && (!nn || !nnd || !lbd || !succ || !act || !todo || !scr || !hint || !changed))
        s = FM_STATUS_NOMEM;
    if (s != FM_STATUS_OK) goto done;

    int64_t na = n, r = 0;
    for (int64_t i = 0; i < n; i++) { act[i] = i; nn[i] = -1; hint[i] = -1; lbd[i] = 0; }
    int all = 1;   /* query every unknown neighbour this round, not only the nearest quarter */
    while (r < n - 1) {
        /* Unknown neighbours, in tree order (consecutive queries walk the same paths, which stay in
         * cache). Only the WT_QUANTILE with the smallest lower bounds are queried: the others are
         * likely to lose their neighbour again before they can merge, and wait. */
        int64_t nu = 0;
        for (int64_t p = 0; p < t.nleaves * WT_LEAF; p++)
            if (t.ts[p] != 0 && nn[t.tslot[p]] < 0) todo[nu++] = t.tslot[p];
        int64_t nq = nu;
        if (!all && nu > 256) {
            for (int64_t i = 0; i < nu; i++) scr[i] = lbd[todo[i]];
            double tau = nth_smallest(scr, nu, (int64_t)(WT_QUANTILE * (double)nu));
            nq = 0;
            for (int64_t i = 0; i < nu; i++)
                if (lbd[todo[i]] <= tau) todo[nq++] = todo[i];
        }
        int fresh = nq == na;   /* every neighbour recomputed now */
        for (int64_t i = 0; i < nq; i++) {
            int64_t *hp = &hint[todo[i]];
            while (*hp >= 0 && t.tpos[*hp] < 0) *hp = succ[*hp];   /* the hint merged on */
        }
        #pragma omp parallel for schedule(dynamic, 16) if (nq > 512)   /* ≥ ~5 ms of work */
        for (int64_t i = 0; i < nq; i++) {
            int64_t a = todo[i];
            nn[a] = wt_nearest(&t, a, hint[a], &nnd[a]);
        }

        /* merge every RNN pair, smaller slot first */
        int64_t r0 = r;
        for (int64_t i = 0; i < na; i++) {
            int64_t a = act[i], b = nn[a];
            if (a < b && nn[b] == a) {
                ea[r] = a;
                eb[r] = b;
                h[r] = sqrt(nnd[a]);
                r++;
                changed[a] = changed[b] = 1;
                succ[a] = b;
                lbd[b] = nnd[a];   /* reducibility: the union is no nearer to anything */
            }
        }
        if (r == r0) {
            if (nq < nu) { all = 1; continue; }   /* query the waiting ones too */
            /* Every neighbour is known and no pair is reciprocal: rounding broke reducibility by
             * an ulp and a remembered neighbour is stale. Recompute all of them: with exact
             * neighbours the closest pair is always reciprocal. */
            if (fresh) { s = FM_STATUS_NUMERIC; goto done; }
            for (int64_t i = 0; i < na; i++) { nn[act[i]] = -1; hint[act[i]] = -1; lbd[act[i]] = 0; }
            continue;
        }
        all = 0;
        int rebuild = t.active - (r - r0) <= (int64_t)(WT_REBUILD * (double)t.built);
        for (int64_t q = r0; q < r; q++) {
            int64_t lx = t.tpos[ea[q]] / WT_LEAF, ly = t.tpos[eb[q]] / WT_LEAF;
            wt_merge(&t, ea[q], eb[q]);
            if (!rebuild) {
                wt_refresh(&t, lx);
                if (ly != lx) wt_refresh(&t, ly);
            }
        }
        if (rebuild) wt_build(&t);
        /* forget the neighbours that were merged; compact the active list */
        int64_t m = 0;
        for (int64_t i = 0; i < na; i++) {
            int64_t a = act[i];
            if (t.tpos[a] < 0) continue;
            int64_t b = nn[a];
            if (changed[a]) { nn[a] = -1; hint[a] = -1; }
            else if (b >= 0 && changed[b]) { nn[a] = -1; hint[a] = b; lbd[a] = nnd[a]; }
            act[m++] = a;
        }
        for (int64_t q = r0; q < r; q++) changed[ea[q]] = changed[eb[q]] = 0;
        na = m;
    }
done:
    wt_free(&t);
    fm_free(nn); fm_free(nnd); fm_free(lbd); fm_free(succ); fm_free(act); fm_free(todo); fm_free(scr);
    fm_free(hint); fm_free(changed);
    return s;
}

/* ------------------------------------------------------------------ single linkage (Prim) */

#define PRIM_CHUNK 1024   /* fixed work chunks: the result never depends on the thread count */

fm_status fm_ward_prim_mst(int64_t *ea, int64_t *eb, double *w, const float *x, int64_t n, int64_t d)
{
    if (n < 1 || d < 1) return FM_STATUS_ARG;
    if (n == 1) return FM_STATUS_OK;
    int64_t m = n - 1;   /* points not yet in the tree, compacted at positions 0..m−1 */
    float *col = fm_alloc((size_t)(m * d), sizeof(float));      /* column-major: col[j·(n−1) + pos] */
    double *dist = fm_alloc((size_t)m, sizeof(double));
    int64_t *id = fm_alloc((size_t)m, sizeof(int64_t));
    int64_t *par = fm_alloc((size_t)m, sizeof(int64_t));
    int64_t nchunk = (m + PRIM_CHUNK - 1) / PRIM_CHUNK;
    double *cbest = fm_alloc((size_t)nchunk, sizeof(double));
    int64_t *cpos = fm_alloc((size_t)nchunk, sizeof(int64_t));
    double *q = fm_alloc((size_t)d, sizeof(double));
    if (!col || !dist || !id || !par || !cbest || !cpos || !q) {
        fm_free(col); fm_free(dist); fm_free(id); fm_free(par); fm_free(cbest); fm_free(cpos); fm_free(q);
        return FM_STATUS_NOMEM;
    }
    int64_t stride = m;
    #pragma omp parallel for schedule(static)
    for (int64_t p = 0; p < m; p++) {
        for (int64_t j = 0; j < d; j++) col[j * stride + p] = x[(p + 1) * d + j];
        id[p] = p + 1;
        par[p] = 0;
        dist[p] = INFINITY;
    }
    int64_t newest = 0;
    for (int64_t r = 0; r < n - 1; r++) {
        for (int64_t j = 0; j < d; j++) q[j] = x[newest * d + j];
        nchunk = (m + PRIM_CHUNK - 1) / PRIM_CHUNK;
        /* one parallel region per added point: only when its work (m·d) dwarfs the fork/join */
        #pragma omp parallel for schedule(static) if (m * d > (int64_t)1 << 17)
        for (int64_t c = 0; c < nchunk; c++) {
            int64_t s = c * PRIM_CHUNK, e = s + PRIM_CHUNK < m ? s + PRIM_CHUNK : m;
            double acc[PRIM_CHUNK];
            for (int64_t p = 0; p < e - s; p++) acc[p] = 0;
            for (int64_t j = 0; j < d; j++) {   /* one column at a time: streams for any d */
                const float *cj = col + j * stride + s;
                double qj = q[j];
                for (int64_t p = 0; p < e - s; p++) { double v = (double)cj[p] - qj; acc[p] += v * v; }
            }
            double bd = INFINITY;
            int64_t bp = -1;
            for (int64_t p = s; p < e; p++) {
                if (acc[p - s] < dist[p]) { dist[p] = acc[p - s]; par[p] = newest; }
                if (bp < 0 || dist[p] < bd || (dist[p] == bd && id[p] < id[bp])) { bd = dist[p]; bp = p; }
            }
            cbest[c] = bd;
            cpos[c] = bp;
        }
        int64_t bp = cpos[0];
        for (int64_t c = 1; c < nchunk; c++)
            if (cbest[c] < dist[bp] || (cbest[c] == dist[bp] && id[cpos[c]] < id[bp])) bp = cpos[c];
        ea[r] = par[bp];
        eb[r] = id[bp];
        w[r] = sqrt(dist[bp]);
        newest = id[bp];
        /* swap-remove position bp */
        m--;
        if (bp != m) {
            for (int64_t j = 0; j < d; j++) col[j * stride + bp] = col[j * stride + m];
            dist[bp] = dist[m];
            id[bp] = id[m];
            par[bp] = par[m];
        }
    }
    fm_free(col); fm_free(dist); fm_free(id); fm_free(par); fm_free(cbest); fm_free(cpos); fm_free(q);
    return FM_STATUS_OK;
}

/* ------------------------------------------------------------------ linkage matrix and cuts */

/* order[0..m) sorted by w ascending, stable (bottom-up merge sort) */
static void stable_order(int64_t *order, int64_t *tmp, const double *w, int64_t m)
{
    for (int64_t i = 0; i < m; i++) order[i] = i;
    int64_t *src = order, *dst = tmp;
    for (int64_t width = 1; width < m; width *= 2) {
        for (int64_t lo = 0; lo < m; lo += 2 * width) {
            int64_t mid = lo + width < m ? lo + width : m;
            int64_t hi = lo + 2 * width < m ? lo + 2 * width : m;
            int64_t i = lo, j = mid, o = lo;
            while (i < mid && j < hi) dst[o++] = w[src[j]] < w[src[i]] ? src[j++] : src[i++];
            while (i < mid) dst[o++] = src[i++];
            while (j < hi) dst[o++] = src[j++];
        }
        int64_t *sw = src; src = dst; dst = sw;
    }
    if (src != order) memcpy(order, src, (size_t)m * sizeof(int64_t));
}

static int64_t uf_find(int64_t *parent, int64_t i)
{
    while (parent[i] != i) {
        parent[i] = parent[parent[i]];   /* path halving */
        i = parent[i];
    }
    return i;
}

fm_status fm_linkage_from_mst(double *z, const int64_t *ea, const int64_t *eb, const double *w, int64_t n)
{
    if (n < 1) return FM_STATUS_ARG;
    int64_t m = n - 1;
    for (int64_t i = 0; i < m; i++)
        if (ea[i] < 0 || ea[i] >= n || eb[i] < 0 || eb[i] >= n || isnan(w[i])) return FM_STATUS_ARG;
    if (m == 0) return FM_STATUS_OK;
    int64_t *order = fm_alloc((size_t)m, sizeof(int64_t));
    int64_t *tmp = fm_alloc((size_t)m, sizeof(int64_t));
    int64_t *parent = fm_alloc((size_t)(2 * n - 1), sizeof(int64_t));
    int64_t *size = fm_alloc((size_t)(2 * n - 1), sizeof(int64_t));
    fm_status s = FM_STATUS_NOMEM;
    if (!order || !tmp || !parent || !size) goto done;
    stable_order(order, tmp, w, m);
    for (int64_t i = 0; i < 2 * n - 1; i++) { parent[i] = i; size[i] = 1; }
    s = FM_STATUS_ARG;
    for (int64_t r = 0; r < m; r++) {
        int64_t e = order[r];
        int64_t a = uf_find(parent, ea[e]), b = uf_find(parent, eb[e]);
        if (a == b) goto done;   /* a cycle: not a spanning tree */
        int64_t c = n + r;
        z[r * 4 + 0] = (double)(a < b ? a : b);
        z[r * 4 + 1] = (double)(a < b ? b : a);
        z[r * 4 + 2] = w[e];
        size[c] = size[a] + size[b];
        z[r * 4 + 3] = (double)size[c];
        parent[a] = parent[b] = c;
    }
    s = FM_STATUS_OK;
done:
    fm_free(order); fm_free(tmp); fm_free(parent); fm_free(size);
    return s;
}

fm_status fm_ward_check_linkage(const double *z, int64_t n)
{
    if (n < 1) return FM_STATUS_ARG;
    int64_t *size = fm_alloc((size_t)(2 * n - 1), sizeof(int64_t));   /* 0 = used or not yet made */
    if (!size) return FM_STATUS_NOMEM;
    for (int64_t i = 0; i < n; i++) size[i] = 1;
    fm_status s = FM_STATUS_ARG;
    for (int64_t r = 0; r < n - 1; r++) {
        double fa = z[r * 4], fb = z[r * 4 + 1], h = z[r * 4 + 2], sz = z[r * 4 + 3];
        if (!(fa >= 0 && fb >= 0 && fa < (double)(n + r) && fb < (double)(n + r))) goto done;
        if (fa != floor(fa) || fb != floor(fb) || fa == fb || isnan(h)) goto done;
        int64_t a = (int64_t)fa, b = (int64_t)fb;
        if (size[a] == 0 || size[b] == 0) goto done;   /* used twice */
        if (sz != (double)(size[a] + size[b])) goto done;
        size[n + r] = size[a] + size[b];
        size[a] = size[b] = 0;
    }
    s = FM_STATUS_OK;
done:
    fm_free(size);
    return s;
}

fm_status fm_ward_cut(int32_t *labels, const double *z, int64_t n, int64_t k)
{
    if (n < 1 || k < 1 || k > n) return FM_STATUS_ARG;
    int64_t used = n - k;   /* rows applied */
    int64_t *up = fm_alloc((size_t)(n + used), sizeof(int64_t));      /* node → its parent, −1 = root */
    int64_t *root = fm_alloc((size_t)(n + used), sizeof(int64_t));
    if (!up || !root) { fm_free(up); fm_free(root); return FM_STATUS_NOMEM; }
    for (int64_t i = 0; i < n + used; i++) up[i] = -1;
    for (int64_t r = 0; r < used; r++) {
        up[(int64_t)z[r * 4]] = n + r;
        up[(int64_t)z[r * 4 + 1]] = n + r;
    }
    /* parents have larger ids: resolve roots from the top down */
    for (int64_t i = n + used - 1; i >= 0; i--) root[i] = up[i] < 0 ? i : root[up[i]];
    for (int64_t i = 0; i < n + used; i++) up[i] = -1;   /* reused: root → label */
    int32_t next = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t r = root[i];
        if (up[r] < 0) up[r] = next++;
        labels[i] = (int32_t)up[r];
    }
    fm_free(up);
    fm_free(root);
    return FM_STATUS_OK;
}

int64_t fm_ward_threshold_k(const double *z, int64_t n, double threshold)
{
    int64_t r = 0;
    while (r < n - 1 && z[r * 4 + 2] < threshold) r++;
    return n - r;
}
