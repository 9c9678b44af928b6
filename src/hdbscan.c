/* hdbscan.c — HDBSCAN*, stage by stage, as scikit-learn-contrib/hdbscan 0.8.43 computes it
 * (see hdbscan.h). Facts taken from hdbscan's sources (_hdbscan_boruvka.pyx, _hdbscan_tree.pyx,
 * prediction.py); the code is our own.
 *
 * Why the Borůvka here copies hdbscan's traversal instead of computing a true minimum spanning
 * tree: with its default approx_min_span_tree=True, hdbscan keeps kd-tree node bounds from one
 * round to the next, and its leaf bound adds a squared radius to a squared distance; both can
 * prune the true nearest component, so some rounds add heavier edges. Those edges move cluster
 * births and decide which points are noise, so reproducing hdbscan's clusters means reproducing
 * its walk: same tree (kdtree.c), same node order, same strict '<' updates, same union-find.
 * approx = 0 gives the exact minimum spanning tree with the same code.
 */
#include "hdbscan.h"
#include "knn.h"
#include "pca.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <omp.h>

#define PRIM_CHUNK FM_HDBSCAN_LEAF_MAX   /* points per leaf at most (without bounds: fixed chunks) */
#define PRIM_PAR_MIN 65536   /* fewer points to scan in a step: one thread (a barrier costs more) */
#define PROJ_SAMPLE 16384    /* rows whose covariance gives the bounding axes */
#define PROJ_BLOCK 256       /* rows per block of the projection */
#define CORE_SLACK 16        /* candidates kept beyond min_samples, to prove the k-th distance */
#define BOUND_REL 2e-5       /* relative allowance on float squared bounds (errors ≤ 2e-6) */
#define F32_NORMAL 1e-30     /* float sums of squares above this carry only relative rounding (the
                                subnormal steps, ≤ 1e-42 in all, are 1e-12 of it) */

/* ================================================================ core distances */

fm_status fm_hdbscan_core_kdtree(double *core, const fm_kdtree *t, int64_t min_samples)
{
    int64_t n = t->n, k = min_samples + 1;
    if (min_samples < 1 || k > n) return FM_STATUS_ARG;
    /* queries in tree order (neighbouring queries touch the same leaves, which stay in cache);
     * only the k-th distance is kept, so memory is O(n) for any min_samples */
    int64_t block = 8192;
    double *kth = fm_alloc((size_t)block, sizeof(double));
    if (!kth) return FM_STATUS_NOMEM;
    fm_status s = FM_STATUS_OK;
    for (int64_t b = 0; b < n && s == FM_STATUS_OK; b += block) {
        int64_t m = n - b < block ? n - b : block;
        s = fm_kdtree_kth(kth, NULL, t, t->tdata + b * t->d, m, k);
        /* scikit-learn returns sqrt(rdist); hdbscan squares it again for its comparisons */
        for (int64_t i = 0; i < m && s == FM_STATUS_OK; i++) core[t->idx[b + i]] = sqrt(kth[i]);
    }
    fm_free(kth);
    return s;
}

fm_status fm_hdbscan_core_brute(double *core, const float *x, int64_t n, int64_t d, int64_t min_samples)
{
    if (min_samples < 1 || min_samples > n - 1) return FM_STATUS_ARG;
    int64_t k = min_samples;
    int32_t *idx = fm_alloc((size_t)(n * k), sizeof(int32_t));
    float *dist = fm_alloc((size_t)(n * k), sizeof(float));
    fm_status s = FM_STATUS_NOMEM;
    if (!idx || !dist) goto done;
    s = fm_knn_exact(idx, dist, x, n, x, n, d, k, FM_KNN_EUCLIDEAN, 1);
    if (s != FM_STATUS_OK) goto done;
    /* recompute the k-th distance in double, the precision the spanning tree uses */
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        const float *a = x + i * d, *b = x + (int64_t)idx[i * k + k - 1] * d;
        double r = 0;
        for (int64_t j = 0; j < d; j++) {
            double t = (double)a[j] - (double)b[j];
            r += t * t;
        }
        core[i] = sqrt(r);
    }
done:
    fm_free(idx);
    fm_free(dist);
    return s;
}

/* ================================================================ Borůvka (hdbscan's) */

typedef struct {
    const fm_kdtree *t;
    const double *core;     /* squared core distances */
    double *bounds;         /* per node, squared */
    int64_t *comp_of_point, *comp_of_node;
    int64_t *cand_pt, *cand_nbr;
    double *cand_dist;      /* per component root, squared mutual reachability */
    int64_t *uf_parent;
    uint8_t *uf_rank, *is_comp;
    int64_t *comps, n_comps;
    int64_t *ea, *eb;
    double *w;
    int64_t n_edges;
    int approx;
} bv_state;

static int64_t bv_find(bv_state *s, int64_t x)
{
    int64_t *p = s->uf_parent;
    int64_t xp = p[x];
    for (;;) {   /* path halving, as hdbscan's BoruvkaUnionFind */
        if (xp == x) return x;
        int64_t g = p[xp];
        p[x] = g;
        x = xp;
        xp = g;
    }
}

static void bv_union(bv_state *s, int64_t x, int64_t y)
{
    int64_t a = bv_find(s, x), b = bv_find(s, y);
    if (a == b) return;
    if (s->uf_rank[a] < s->uf_rank[b]) {
        s->uf_parent[a] = b;
        s->is_comp[a] = 0;
    } else if (s->uf_rank[a] > s->uf_rank[b]) {
        s->uf_parent[b] = a;
        s->is_comp[b] = 0;
    } else {
        s->uf_rank[a]++;
        s->uf_parent[b] = a;
        s->is_comp[b] = 0;
    }
}

static void bv_list_components(bv_state *s)
{
    int64_t c = 0;
    for (int64_t i = 0; i < s->t->n; i++)
        if (s->is_comp[i]) s->comps[c++] = i;
    s->n_comps = c;
}

/* add each component's candidate edge, merge, refresh the point and node components */
static int64_t bv_update(bv_state *s)
{
    const fm_kdtree *t = s->t;
    int64_t n = t->n;
    for (int64_t c = 0; c < s->n_comps; c++) {
        int64_t comp = s->comps[c];
        int64_t src = s->cand_pt[comp], snk = s->cand_nbr[comp];
        if (src == -1 || snk == -1) continue;
        if (bv_find(s, src) == bv_find(s, snk)) {
            s->cand_pt[comp] = -1;
            s->cand_nbr[comp] = -1;
            s->cand_dist[comp] = DBL_MAX;
            continue;
        }
        s->ea[s->n_edges] = src;
        s->eb[s->n_edges] = snk;
        s->w[s->n_edges] = sqrt(s->cand_dist[comp]);
        s->n_edges++;
        bv_union(s, src, snk);
        s->cand_dist[comp] = DBL_MAX;
        if (s->n_edges == n - 1) {
            bv_list_components(s);
            return s->n_comps;
        }
    }
    for (int64_t i = 0; i < n; i++) s->comp_of_point[i] = bv_find(s, i);
    for (int64_t nd = t->n_nodes - 1; nd >= 0; nd--) {
        if (t->is_leaf[nd]) {
            int64_t c0 = s->comp_of_point[t->idx[t->start[nd]]], same = 1;
            for (int64_t i = t->start[nd] + 1; i < t->end[nd]; i++)
                if (s->comp_of_point[t->idx[i]] != c0) { same = 0; break; }
            if (same) s->comp_of_node[nd] = c0;
        } else if (s->comp_of_node[2 * nd + 1] == s->comp_of_node[2 * nd + 2]) {
            s->comp_of_node[nd] = s->comp_of_node[2 * nd + 1];
        }
    }
    int64_t last = s->n_comps;
    bv_list_components(s);
    if (!s->approx || s->n_comps == last)
        for (int64_t nd = 0; nd < t->n_nodes; nd++) s->bounds[nd] = DBL_MAX;
    return s->n_comps;
}

static void bv_traverse(bv_state *s, int64_t n1, int64_t n2)
{
    const fm_kdtree *t = s->t;
    double node_dist = fm_kdtree_min_rdist_dual(t, n1, n2);
    if (node_dist < s->bounds[n1]) {
        if (s->comp_of_node[n1] == s->comp_of_node[n2] && s->comp_of_node[n1] >= 0) return;
    } else {
        return;
    }
    if (t->is_leaf[n1] && t->is_leaf[n2]) {
        double upper = 0.0, lower = DBL_MAX;
        int64_t d = t->d;
        for (int64_t i = t->start[n1]; i < t->end[n1]; i++) {
            int64_t p = t->idx[i];
            int64_t c1 = s->comp_of_point[p];
            double cp = s->core[p];
            if (cp > s->cand_dist[c1]) continue;
            const double *xp = t->data + p * d;
            for (int64_t j = t->start[n2]; j < t->end[n2]; j++) {
                int64_t q = t->idx[j];
                int64_t c2 = s->comp_of_point[q];
                double cq = s->core[q];
                if (cq > s->cand_dist[c1]) continue;
                if (c1 != c2) {
                    double r = fm_kdtree_rdist(xp, t->data + q * d, d);
                    double mr = r;
                    if (cp > mr) mr = cp;
                    if (cq > mr) mr = cq;
                    if (mr < s->cand_dist[c1]) {
                        s->cand_dist[c1] = mr;
                        s->cand_nbr[c1] = q;
                        s->cand_pt[c1] = p;
                    }
                }
            }
            if (s->cand_dist[c1] > upper) upper = s->cand_dist[c1];
            if (s->cand_dist[c1] < lower) lower = s->cand_dist[c1];
        }
        /* hdbscan's bound: its radius term is squared like the distances (part of why it is
         * approximate); kept as is so the walk is the same */
        double r2 = t->radius[n1] * t->radius[n1];
        double nb = lower + 2 * r2;
        if (upper < nb) nb = upper;
        if (nb < s->bounds[n1]) {
            s->bounds[n1] = nb;
            int64_t nd = n1;
            while (nd > 0) {
                int64_t par = (nd - 1) / 2, l = 2 * par + 1, r = l + 1;
                double bmax = s->bounds[l] > s->bounds[r] ? s->bounds[l] : s->bounds[r];
                if (bmax < s->bounds[par]) {
                    s->bounds[par] = bmax;
                    nd = par;
                } else {
                    break;
                }
            }
        }
    } else if (t->is_leaf[n1] || (!t->is_leaf[n2] && t->radius[n2] > t->radius[n1])) {
        int64_t l = 2 * n2 + 1, r = l + 1;
        double dl = fm_kdtree_min_rdist_dual(t, n1, l), dr = fm_kdtree_min_rdist_dual(t, n1, r);
        if (dl < dr) {
            bv_traverse(s, n1, l);
            bv_traverse(s, n1, r);
        } else {
            bv_traverse(s, n1, r);
            bv_traverse(s, n1, l);
        }
    } else {
        int64_t l = 2 * n1 + 1, r = l + 1;
        double dl = fm_kdtree_min_rdist_dual(t, l, n2), dr = fm_kdtree_min_rdist_dual(t, r, n2);
        if (dl < dr) {
            bv_traverse(s, l, n2);
            bv_traverse(s, r, n2);
        } else {
            bv_traverse(s, r, n2);
            bv_traverse(s, l, n2);
        }
    }
}

fm_status fm_hdbscan_mst_boruvka(int64_t *ea, int64_t *eb, double *w, const fm_kdtree *t, const double *core,
                                 int approx)
{
    int64_t n = t->n, m = t->n_nodes;
    if (n < 1) return FM_STATUS_ARG;
    if (n == 1) return FM_STATUS_OK;
    bv_state s = {.t = t, .ea = ea, .eb = eb, .w = w, .approx = approx};
    double *core2 = fm_alloc((size_t)n, sizeof(double));
    s.bounds = fm_alloc((size_t)m, sizeof(double));
    s.comp_of_point = fm_alloc((size_t)n, sizeof(int64_t));
    s.comp_of_node = fm_alloc((size_t)m, sizeof(int64_t));
    s.cand_pt = fm_alloc((size_t)n, sizeof(int64_t));
    s.cand_nbr = fm_alloc((size_t)n, sizeof(int64_t));
    s.cand_dist = fm_alloc((size_t)n, sizeof(double));
    s.uf_parent = fm_alloc((size_t)n, sizeof(int64_t));
    s.uf_rank = fm_alloc((size_t)n, 1);
    s.is_comp = fm_alloc((size_t)n, 1);
    s.comps = fm_alloc((size_t)n, sizeof(int64_t));
    fm_status st = FM_STATUS_NOMEM;
    if (!core2 || !s.bounds || !s.comp_of_point || !s.comp_of_node || !s.cand_pt || !s.cand_nbr ||
        !s.cand_dist || !s.uf_parent || !s.uf_rank || !s.is_comp || !s.comps)
        goto done;
    for (int64_t i = 0; i < n; i++) core2[i] = core[i] * core[i];
    s.core = core2;
    for (int64_t i = 0; i < n; i++) {
        s.comp_of_point[i] = i;
        s.cand_pt[i] = s.cand_nbr[i] = -1;
        s.cand_dist[i] = DBL_MAX;
        s.uf_parent[i] = i;
        s.is_comp[i] = 1;
        s.comps[i] = i;
    }
    s.n_comps = n;
    for (int64_t nd = 0; nd < m; nd++) {
        s.comp_of_node[nd] = -(nd + 1);
        s.bounds[nd] = DBL_MAX;
    }
    /* first round: the nearest neighbour (by distance, then index) within the core distance
     * whose own core distance is no larger — hdbscan takes the first such point of its kNN
     * lists. Their mutual reachability is core(p), the least any edge of p can have. */
    /* the radius: core² can fall an ulp or two below the k-th squared distance it came from
     * (sqrt, then square), which would drop the k-th neighbour itself */
    double *rad2 = s.cand_dist;   /* scratch, refilled below */
    for (int64_t i = 0; i < n; i++) rad2[i] = core2[i] * (1 + 1e-14);
    st = fm_kdtree_nearest_below(s.cand_nbr, t, core2, rad2);
    for (int64_t i = 0; i < n; i++) s.cand_dist[i] = DBL_MAX;
    if (st != FM_STATUS_OK) goto done;
    st = FM_STATUS_NOMEM;
    for (int64_t p = 0; p < n; p++)
        if (s.cand_nbr[p] >= 0) {
            s.cand_pt[p] = p;
            s.cand_dist[p] = core2[p];
        }
    int64_t nc = bv_update(&s);
    for (int64_t nd = 0; nd < m; nd++) s.bounds[nd] = DBL_MAX;
    int64_t rounds = 0;
    while (nc > 1) {
        bv_traverse(&s, 0, 0);
        nc = bv_update(&s);
        if (++rounds > 4 * n + 64) { st = FM_STATUS_NOCONV; goto done; }
    }
    st = s.n_edges == n - 1 ? FM_STATUS_OK : FM_STATUS_NOCONV;
done:
    fm_free(core2);
    fm_free(s.bounds);
    fm_free(s.comp_of_point);
    fm_free(s.comp_of_node);
    fm_free(s.cand_pt);
    fm_free(s.cand_nbr);
    fm_free(s.cand_dist);
    fm_free(s.uf_parent);
    fm_free(s.uf_rank);
    fm_free(s.is_comp);
    fm_free(s.comps);
    return st;
}

/* ================================================================ bounds (high dimensions) */

/* Why bounds: Prim over n points may compute n²/2 distances and an exact kNN n², each O(d).
 * Projected on a few principal axes P (orthonormal columns) with the residual norm
 * r = ‖(I − PPᵀ)(x − μ)‖ as one more coordinate, z = (Pᵀ(x − μ), r) satisfies
 * ‖z_a − z_b‖ ≤ ‖x_a − x_b‖ (Pythagoras on the two orthogonal parts, and |r_a − r_b| is at most
 * the distance of the residuals). That O(q) bound, and the boxes of a kd-tree over z, rule out
 * most exact distances without changing any decision. */

fm_status fm_hdbscan_bound_coords(float *z, float *z2, float *tol, const float *x, int64_t n, int64_t d, int64_t q,
                                  int64_t q2)
{
    if (!z2) q2 = 0;
    int64_t p = (q2 > q ? q2 : q) - 1, p1 = q - 1, p2 = q2 - 1;
    if (n < 2 || d < 1 || p1 < 1 || p > d) return FM_STATUS_ARG;
    /* the axes from the covariance of an evenly spaced subsample: any orthonormal basis keeps the
     * bound valid, a good one only makes it tighter */
    int64_t ns = n < PROJ_SAMPLE ? n : PROJ_SAMPLE;
    int64_t nb = (n + PROJ_BLOCK - 1) / PROJ_BLOCK;
    float *xs = fm_alloc((size_t)(ns * d), sizeof(float)), *mean = fm_alloc((size_t)d, sizeof(float));
    float *comp = fm_alloc((size_t)(p * d), sizeof(float));
    double *cov = fm_alloc((size_t)(d * d), sizeof(double)), *ev = fm_alloc((size_t)p, sizeof(double));
    double *basis = fm_alloc((size_t)(p * d), sizeof(double)), *mu = fm_alloc((size_t)d, sizeof(double));
    int nt = omp_get_max_threads();
    double *work = fm_alloc((size_t)nt * (size_t)(PROJ_BLOCK * (d + p)), sizeof(double));
    uint8_t *bad = fm_alloc((size_t)nb, 1);
    fm_status s = FM_STATUS_NOMEM;
    if (!xs || !mean || !comp || !cov || !ev || !basis || !mu || !work || !bad) goto done;
    for (int64_t i = 0; i < ns; i++) memcpy(xs + i * d, x + (i * n / ns) * d, (size_t)d * sizeof(float));
    if ((s = fm_pca_mean(mean, NULL, xs, ns, d)) != FM_STATUS_OK) goto done;
    if ((s = fm_pca_covariance(cov, xs, mean, ns, d)) != FM_STATUS_OK) goto done;
    if ((s = fm_pca_eigh(ev, comp, cov, d, p)) != FM_STATUS_OK) goto done;
    /* orthonormal in double (Gram–Schmidt twice): the float eigenvectors are only nearly so */
    for (int64_t a = 0; a < p; a++) {
        double *v = basis + a * d;
        for (int64_t j = 0; j < d; j++) v[j] = comp[a * d + j];
        for (int pass = 0; pass < 2; pass++)
            for (int64_t c = 0; c < a; c++) {
                const double *u = basis + c * d;
                double dot = 0;
                for (int64_t j = 0; j < d; j++) dot += u[j] * v[j];
                for (int64_t j = 0; j < d; j++) v[j] -= dot * u[j];
            }
        double nv = 0;
        for (int64_t j = 0; j < d; j++) nv += v[j] * v[j];
        nv = sqrt(nv);
        if (!(nv > 0.5)) { s = FM_STATUS_NUMERIC; goto done; }   /* eigenvectors never lose an axis */
        for (int64_t j = 0; j < d; j++) v[j] /= nv;
    }
    for (int64_t j = 0; j < d; j++) mu[j] = mean[j];
    /* z in double by row blocks (one serial dgemm each), stored as float */
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t bi = 0; bi < nb; bi++) {
        double *v = work + (size_t)omp_get_thread_num() * (size_t)(PROJ_BLOCK * (d + p)), *y = v + PROJ_BLOCK * d;
        int64_t i0 = bi * PROJ_BLOCK, m = n - i0 < PROJ_BLOCK ? n - i0 : PROJ_BLOCK;
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < d; j++) v[i * d + j] = (double)x[(i0 + i) * d + j] - mu[j];
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)p, (int)d, 1.0, v, (int)d, basis,
                    (int)d, 0.0, y, (int)p);
        for (int64_t i = 0; i < m; i++) {
            double nrm = 0, ny = 0, r2;
            for (int64_t j = 0; j < d; j++) nrm += v[i * d + j] * v[i * d + j];
            for (int64_t a = 0; a < p; a++) {
                ny += y[i * p + a] * y[i * p + a];
                if (a < p1) z[(i0 + i) * q + a] = (float)y[i * p + a];
                if (a < p2) z2[(i0 + i) * q2 + a] = (float)y[i * p + a];
                if (a == p1 - 1) {
                    r2 = nrm - ny;
                    z[(i0 + i) * q + p1] = (float)(r2 > 0 ? sqrt(r2) : 0.0);
                }
                if (a == p2 - 1) {
                    r2 = nrm - ny;
                    z2[(i0 + i) * q2 + p2] = (float)(r2 > 0 ? sqrt(r2) : 0.0);
                }
            }
            /* ‖z_i‖ = ‖x_i − μ‖: float storage moves z_i by ≤ 2⁻²⁴‖z_i‖, the residual's cancellation
             * (worst case, r ≈ 0) by ≤ √(2·p·d·2⁻⁵³)·‖x_i − μ‖ (2e-6 at p = 256, d = 784); 2e-5
             * covers both with room. The floor keeps float bounds out of the subnormal range, where
             * their relative error is unbounded. */
            double nz = sqrt(nrm);
            tol[i0 + i] = (float)(2e-5 * nz + 1e-18);
            if (!(nz < 1e15)) bad[bi] = 1;   /* float squares of the bound would overflow */
        }
    }
    s = FM_STATUS_OK;
    for (int64_t bi = 0; bi < nb; bi++)
        if (bad[bi]) s = FM_STATUS_NUMERIC;
done:
    fm_free(xs);
    fm_free(mean);
    fm_free(comp);
    fm_free(cov);
    fm_free(ev);
    fm_free(basis);
    fm_free(mu);
    fm_free(work);
    fm_free(bad);
    return s;
}

void fm_hdbscan_bounds_free(fm_hdbscan_bounds *b)
{
    if (!b) return;
    fm_free(b->z);
    fm_free(b->tol);
    fm_free(b->order);
    fm_free(b->leaf_start);
    fm_free(b->lo);
    fm_free(b->hi);
    fm_free(b->leaf_tol);
    fm_free(b->zt);
    fm_free(b->center);
    fm_free(b->radius);
    fm_free(b->z2);
    memset(b, 0, sizeof *b);
}

/* order[lo..hi) rearranged so that position k holds the k-th by (z[·, dim], point) */
static void zselect(int64_t *order, const float *z, int64_t q, int64_t dim, int64_t lo, int64_t hi, int64_t k)
{
#define ZKEY_LESS(a, b) (z[(a) * q + dim] < z[(b) * q + dim] || (z[(a) * q + dim] == z[(b) * q + dim] && (a) < (b)))
    while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2, t;
        /* median of three as the pivot, moved to hi − 1 */
        int64_t a = order[lo], b = order[mid], c = order[hi - 1], piv;
        if (ZKEY_LESS(a, b)) piv = ZKEY_LESS(b, c) ? b : (ZKEY_LESS(a, c) ? c : a);
        else piv = ZKEY_LESS(a, c) ? a : (ZKEY_LESS(b, c) ? c : b);
        int64_t pp = piv == a ? lo : piv == b ? mid : hi - 1;
        t = order[pp]; order[pp] = order[hi - 1]; order[hi - 1] = t;
        int64_t st = lo;
        for (int64_t i = lo; i < hi - 1; i++)
            if (ZKEY_LESS(order[i], piv)) { t = order[i]; order[i] = order[st]; order[st] = t; st++; }
        t = order[st]; order[st] = order[hi - 1]; order[hi - 1] = t;
        if (k == st) return;
        if (k < st) hi = st;
        else lo = st + 1;
    }
#undef ZKEY_LESS
}

fm_status fm_hdbscan_bounds_build(fm_hdbscan_bounds *b, const float *x, int64_t n, int64_t d, int64_t q,
                                  int64_t q2, int64_t leaf)
{
    memset(b, 0, sizeof *b);
    if (n < 2 || q < 2 || q > d + 1 || q2 < 0 || (q2 > 0 && (q2 <= q || q2 > d + 1)) || leaf < 1 ||
        leaf > FM_HDBSCAN_LEAF_MAX)
        return FM_STATUS_ARG;
    b->n = n;
    b->q = q;
    b->q2 = q2;
    float *z2 = NULL;
    if (q2 && !(z2 = fm_alloc((size_t)(n * q2), sizeof(float)))) return FM_STATUS_NOMEM;
    b->z = fm_alloc((size_t)(n * q), sizeof(float));
    b->tol = fm_alloc((size_t)n, sizeof(float));
    b->order = fm_alloc((size_t)n, sizeof(int64_t));
    int64_t *ranges = fm_alloc((size_t)(n + 2), sizeof(int64_t));   /* the stack of pending ranges */
    float *zmin = fm_alloc((size_t)q, sizeof(float)), *zmax = fm_alloc((size_t)q, sizeof(float));
    double *ballacc = NULL;
    fm_status s = FM_STATUS_NOMEM;
    if (!b->z || !b->tol || !b->order || !ranges || !zmin || !zmax) goto fail;
    if ((s = fm_hdbscan_bound_coords(b->z, z2, b->tol, x, n, d, q, q2)) != FM_STATUS_OK) goto fail;
    for (int64_t i = 0; i < n; i++) b->order[i] = i;
    /* kd-tree over z, depth first with the lower half first, so leaves come out in tree order:
     * split the widest coordinate at the median (ties by point index) */
    int64_t top = 0, nleaf = 0;
    int64_t *stk = ranges;   /* ≤ log2(n) + 1 pending ranges (two numbers each) */
    int64_t *lstart = fm_alloc((size_t)n + 1, sizeof(int64_t));
    if (!lstart) { s = FM_STATUS_NOMEM; goto fail; }
    stk[top++] = 0;
    stk[top++] = n;
    while (top > 0) {
        int64_t hi = stk[--top], lo = stk[--top];
        if (hi - lo <= leaf) { lstart[nleaf++] = lo; continue; }
        for (int64_t k = 0; k < q; k++) { zmin[k] = INFINITY; zmax[k] = -INFINITY; }
        for (int64_t i = lo; i < hi; i++) {
            const float *zi = b->z + b->order[i] * q;
            for (int64_t k = 0; k < q; k++) {
                if (zi[k] < zmin[k]) zmin[k] = zi[k];
                if (zi[k] > zmax[k]) zmax[k] = zi[k];
            }
        }
        int64_t dim = 0;
        for (int64_t k = 1; k < q; k++)
            if (zmax[k] - zmin[k] > zmax[dim] - zmin[dim]) dim = k;
        int64_t mid = lo + (hi - lo) / 2;
        zselect(b->order, b->z, q, dim, lo, hi, mid);
        stk[top++] = mid;   /* upper half, popped second */
        stk[top++] = hi;
        stk[top++] = lo;
        stk[top++] = mid;
    }
    lstart[nleaf] = n;
    b->n_leaves = nleaf;
    b->leaf_start = lstart;
    b->lo = fm_alloc((size_t)(nleaf * q), sizeof(float));
    b->hi = fm_alloc((size_t)(nleaf * q), sizeof(float));
    b->leaf_tol = fm_alloc((size_t)nleaf, sizeof(float));
    b->zt = fm_alloc((size_t)(n * q), sizeof(float));
    b->center = fm_alloc((size_t)(nleaf * q), sizeof(float));
    b->radius = fm_alloc((size_t)nleaf, sizeof(float));
    ballacc = fm_alloc((size_t)q, sizeof(double));
    if (!b->lo || !b->hi || !b->leaf_tol || !b->zt || !b->center || !b->radius || !ballacc) {
        s = FM_STATUS_NOMEM;
        goto fail;
    }
    for (int64_t r = 0; r < n; r++)
        for (int64_t k = 0; k < q; k++) b->zt[k * n + r] = b->z[b->order[r] * q + k];
    if (q2) {   /* the finer coordinates by leaf position */
        if (!(b->z2 = fm_alloc((size_t)(n * q2), sizeof(float)))) { s = FM_STATUS_NOMEM; goto fail; }
        for (int64_t r = 0; r < n; r++) memcpy(b->z2 + r * q2, z2 + b->order[r] * q2, (size_t)q2 * sizeof(float));
        fm_free(z2);
        z2 = NULL;
    }
    for (int64_t l = 0; l < nleaf; l++) {
        float *lo = b->lo + l * q, *hi = b->hi + l * q, t = 0;
        for (int64_t k = 0; k < q; k++) { lo[k] = INFINITY; hi[k] = -INFINITY; }
        for (int64_t i = lstart[l]; i < lstart[l + 1]; i++) {
            int64_t pi = b->order[i];
            const float *zi = b->z + pi * q;
            for (int64_t k = 0; k < q; k++) {
                if (zi[k] < lo[k]) lo[k] = zi[k];
                if (zi[k] > hi[k]) hi[k] = zi[k];
            }
            if (b->tol[pi] > t) t = b->tol[pi];
        }
        b->leaf_tol[l] = t;
        /* the ball around the mean: in many coordinates a box is loose (a leaf of 64 points was
         * split in only ~10 of them), a ball is not */
        float *cen = b->center + l * q;
        double *acc = ballacc;
        for (int64_t k = 0; k < q; k++) acc[k] = 0;
        for (int64_t i = lstart[l]; i < lstart[l + 1]; i++)
            for (int64_t k = 0; k < q; k++) acc[k] += b->z[b->order[i] * q + k];
        for (int64_t k = 0; k < q; k++) cen[k] = (float)(acc[k] / (double)(lstart[l + 1] - lstart[l]));
        double rad = 0;
        for (int64_t i = lstart[l]; i < lstart[l + 1]; i++) {
            double r2 = 0;
            for (int64_t k = 0; k < q; k++) {
                double u = (double)b->z[b->order[i] * q + k] - cen[k];
                r2 += u * u;
            }
            if (r2 > rad) rad = r2;
        }
        /* float rounding of the point-to-centre distance later: a relative 1e-5 more */
        b->radius[l] = (float)(sqrt(rad) * (1.0 + 1e-5));
    }
    fm_free(ranges);
    fm_free(zmin);
    fm_free(zmax);
    fm_free(ballacc);
    return FM_STATUS_OK;
fail:
    fm_free(ranges);
    fm_free(zmin);
    fm_free(zmax);
    fm_free(z2);
    fm_free(ballacc);
    fm_hdbscan_bounds_free(b);
    return s;
}

/* squared distance from the point zp to the box [lo, hi] (q coordinates) */
static inline float box_dist2(const float *zp, const float *lo, const float *hi, int64_t q)
{
    float s = 0;
    for (int64_t k = 0; k < q; k++) {
        float t = lo[k] - zp[k], u = zp[k] - hi[k];
        t = t > u ? t : u;
        if (t > 0) s += t * t;
    }
    return s;
}

/* squared lower bound from the point zp to the points of leaf l of b: the larger of the box and
 * the ball bounds */
static inline float leaf_dist2(const fm_hdbscan_bounds *b, const float *zp, int64_t l)
{
    int64_t q = b->q;
    float bx = box_dist2(zp, b->lo + l * q, b->hi + l * q, q);
    const float *c = b->center + l * q;
    float s = 0;
    for (int64_t k = 0; k < q; k++) {
        float u = zp[k] - c[k];
        s += u * u;
    }
    float g = sqrtf(s) * (1.0f - 1e-5f) - b->radius[l];
    g = g > 0 ? g * g : 0;
    return g > bx ? g : bx;
}

/* squared distance between two boxes */
static inline float boxbox_dist2(const float *alo, const float *ahi, const float *blo, const float *bhi, int64_t q)
{
    float s = 0;
    for (int64_t k = 0; k < q; k++) {
        float t = blo[k] - ahi[k], u = alo[k] - bhi[k];
        t = t > u ? t : u;
        if (t > 0) s += t * t;
    }
    return s;
}

/* "the float bound lb2 (squared) of a distance is ≥ thr²": then the exact distance, as double
 * arithmetic gives it, is > thr − tols. thr is a distance; allow carries tol_a + tol_b. */
static inline int bound_excludes(float lb2, double thr, double allow)
{
    double t = thr + allow;
    return (double)lb2 >= t * t * (1.0 + BOUND_REL);
}

/* the finer bound (q2 coordinates, rows za, zb) with an early stop: the partial sums only grow,
 * so once one reaches the threshold the pair is out. 1 = excluded. */
static inline int z2_excludes(const float *za, const float *zb, int64_t q2, double thr, double allow)
{
    double t = thr + allow, lim = t * t * (1.0 + BOUND_REL);
    float acc[16] = {0};
    int64_t k = 0;
    for (; k + 64 <= q2; k += 64) {
        for (int64_t c = k; c < k + 64; c += 16)
            for (int l = 0; l < 16; l++) {
                float u = za[c + l] - zb[c + l];
                acc[l] += u * u;
            }
        float sum = 0;
        for (int l = 0; l < 16; l++) sum += acc[l];
        if ((double)sum >= lim) return 1;
    }
    for (int l = 0; k < q2; k++, l = (l + 1) & 15) {
        float u = za[k] - zb[k];
        acc[l] += u * u;
    }
    float sum = 0;
    for (int l = 0; l < 16; l++) sum += acc[l];
    return (double)sum >= lim;
}

/* ================================================================ core distances (bounded) */

/* ‖a − b‖² in float over 64 interleaved partial sums (four vector registers, so the adds do not
 * wait on each other), the rest 16 at a time, folded in a fixed order: every lane adds at most
 * d/64 + 16 rounded squares, then six levels of adds */
static inline float sqdist_f32(const float *a, const float *b, int64_t d)
{
    float acc[64] = {0};
    int64_t t = 0;
    for (; t + 64 <= d; t += 64)
        for (int l = 0; l < 64; l++) {
            float u = a[t + l] - b[t + l];
            acc[l] += u * u;
        }
    for (; t + 16 <= d; t += 16)
        for (int l = 0; l < 16; l++) {
            float u = a[t + l] - b[t + l];
            acc[l] += u * u;
        }
    for (int l = 0; t < d; t++, l++) {
        float u = a[t] - b[t];
        acc[l] += u * u;
    }
    for (int l = 0; l < 16; l++) acc[l] = (acc[l] + acc[l + 16]) + (acc[l + 32] + acc[l + 48]);
    for (int h = 8; h >= 1; h /= 2)
        for (int l = 0; l < h; l++) acc[l] += acc[l + h];
    return acc[0];
}

/* the relative error bound of sqdist_f32, doubled */
static inline double f32_rel(int64_t d) { return ((double)d / 64.0 + 32.0) * 0x1p-21; }

/* ask for the cache lines of a row */
static inline void prefetch_row(const float *p, int64_t d)
{
    for (int64_t t = 0; t < d; t += 16) __builtin_prefetch(p + t);
}

/* the same sum as fm_hdbscan_core_brute's re-scoring: double, one term after the other */
static double sqdist_seq(const float *a, const float *b, int64_t d)
{
    double r = 0;
    for (int64_t j = 0; j < d; j++) {
        double t = (double)a[j] - (double)b[j];
        r += t * t;
    }
    return r;
}

typedef struct { float key; int32_t id; } kn_item;

static inline int kn_above(kn_item a, kn_item b) { return a.key > b.key || (a.key == b.key && a.id > b.id); }

/* a max-heap of m items: replace the top by it and sift down */
static void kn_replace_top(kn_item *h, int64_t m, kn_item it)
{
    int64_t c = 0;
    for (;;) {
        int64_t l = 2 * c + 1, r = l + 1, bg = c;
        kn_item big = it;
        if (l < m && kn_above(h[l], big)) { bg = l; big = h[l]; }
        if (r < m && kn_above(h[r], big)) bg = r;
        if (bg == c) break;
        h[c] = h[bg];
        c = bg;
    }
    h[c] = it;
}

static void kn_push(kn_item *h, int64_t *m, kn_item it)
{
    int64_t c = (*m)++;
    while (c > 0) {
        int64_t p = (c - 1) / 2;
        if (!kn_above(it, h[p])) break;
        h[c] = h[p];
        c = p;
    }
    h[c] = it;
}

static int kn_cmp(const void *a, const void *b)
{
    const kn_item *x = a, *y = b;
    return kn_above(*x, *y) - kn_above(*y, *x);
}

typedef struct { float key; int32_t leaf; } leaf_key;

static int leaf_key_cmp(const void *a, const void *b)
{
    const leaf_key *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return (x->leaf > y->leaf) - (x->leaf < y->leaf);
}

static int dbl_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct {
    kn_item *heap;     /* m×K */
    int64_t *hn;       /* m */
    double *u;         /* m: current upper bound of the k-th distance (inf until K found) */
    float *lb2;        /* leaf max */
    leaf_key *lk;      /* n_leaves */
    double *ex;        /* K */
    int64_t *need;     /* leaf max */
} core_scratch;

/* Exact core distances of the m points at positions qpos[0..m) of the leaf order (one leaf, or
 * one point), with K ≥ k kept candidates each. Leaves are visited by their box distance to the
 * query box [qlo, qhi]; a leaf, a point's whole visit of a leaf, or a pair is skipped when its
 * bound is beyond the point's current K-th distance. ok[i] = 0 when K was too few to prove the
 * k-th distance (ties around it): retry with more. */
static void core_block(double *core, uint8_t *ok, const fm_hdbscan_bounds *b, const float *x, int64_t d, int64_t k,
                       int64_t K, const int64_t *qpos, int64_t m, const float *qlo, const float *qhi,
                       core_scratch *sc)
{
    int64_t q = b->q, nl = b->n_leaves;
    const int64_t *ord = b->order, *ls = b->leaf_start;
    const float *z = b->z, *tol = b->tol;
    /* float squared distances are within a factor (1 ± rel) of the exact ones */
    double rel = f32_rel(d);
    float maxtol = 0, qtol = 0;
    for (int64_t l = 0; l < nl; l++)
        if (b->leaf_tol[l] > maxtol) maxtol = b->leaf_tol[l];
    for (int64_t i = 0; i < m; i++) {
        sc->hn[i] = 0;
        sc->u[i] = INFINITY;
        if (tol[ord[qpos[i]]] > qtol) qtol = tol[ord[qpos[i]]];
    }
    for (int64_t l = 0; l < nl; l++) {
        sc->lk[l].key = boxbox_dist2(qlo, qhi, b->lo + l * q, b->hi + l * q, q);
        sc->lk[l].leaf = (int32_t)l;
    }
    qsort(sc->lk, (size_t)nl, sizeof(leaf_key), leaf_key_cmp);
    for (int64_t li = 0; li < nl; li++) {
        int64_t l = sc->lk[li].leaf;
        double umax = 0;
        for (int64_t i = 0; i < m; i++)
            if (sc->u[i] > umax) umax = sc->u[i];
        /* leaves come by increasing box distance: once one is out of reach, all the rest are */
        if (bound_excludes(sc->lk[li].key, umax, (double)qtol + maxtol)) break;
        int64_t j0 = ls[l], j1 = ls[l + 1];
        double ltol = b->leaf_tol[l];
        for (int64_t i = 0; i < m; i++) {
            int64_t pi = ord[qpos[i]];
            const float *zi = z + pi * q, *xi = x + pi * d;
            double ui = sc->u[i], ti = tol[pi];
            if (bound_excludes(leaf_dist2(b, zi, l), ui, ti + ltol)) continue;
            float *lb2 = sc->lb2;
            for (int64_t j = 0; j < j1 - j0; j++) lb2[j] = 0;
            for (int64_t kk = 0; kk < q; kk++) {
                const float *col = b->zt + kk * b->n + j0;
                float zk = zi[kk];
                for (int64_t j = 0; j < j1 - j0; j++) {
                    float t = col[j] - zk;
                    lb2[j] += t * t;
                }
            }
            kn_item *h = sc->heap + i * K;
            /* bound_excludes with one float threshold for the leaf (nudged up: excludes less) */
            double tt = ui + ti + ltol;
            float thr = (float)(tt * tt * (1.0 + BOUND_REL) * (1.0 + 1e-6));
            int64_t nn = 0;
            for (int64_t j = 0; j < j1 - j0; j++)
                if (lb2[j] < thr) sc->need[nn++] = j0 + j;
            for (int64_t t = 0; t < nn; t++) {
                int64_t pj = ord[sc->need[t]];
                if (pj == pi) continue;
                if (t + 1 < nn) {
                    if (b->q2) prefetch_row(b->z2 + sc->need[t + 1] * b->q2, b->q2);
                    else prefetch_row(x + ord[sc->need[t + 1]] * d, d);
                }
                if (bound_excludes(lb2[sc->need[t] - j0], ui, ti + ltol)) continue;   /* ui fell meanwhile */
                if (b->q2 && z2_excludes(b->z2 + qpos[i] * b->q2, b->z2 + sc->need[t] * b->q2, b->q2, ui,
                                         ti + ltol))
                    continue;
                kn_item it = {sqdist_f32(xi, x + pj * d, d), (int32_t)pj};
                if (sc->hn[i] < K) {
                    kn_push(h, &sc->hn[i], it);
                    if (sc->hn[i] == K) ui = sc->u[i] = sqrt((double)h[0].key * (1.0 + rel));
                } else if (kn_above(h[0], it)) {
                    kn_replace_top(h, K, it);
                    ui = sc->u[i] = sqrt((double)h[0].key * (1.0 + rel));
                }
            }
        }
    }
    /* The k-th exact distance among the kept. Sorted by float key f, an exact square lies in
     * [f(1 − rel), f(1 + rel)]: those surely below the k-th key's range are below the k-th exact
     * value, those surely above it are above; only the ones between need the exact sum. Proven
     * when every candidate not kept (key ≥ the heap top) is at least as far. */
    for (int64_t i = 0; i < m; i++) {
        int64_t pi = ord[qpos[i]], hn = sc->hn[i];
        kn_item *h = sc->heap + i * K;
        double top = hn > 0 ? (double)h[0].key : 0.0;
        qsort(h, (size_t)hn, sizeof(kn_item), kn_cmp);
        double fk = h[k - 1].key, lo = fk * (1.0 - rel), hi = fk * (1.0 + rel);
        int64_t below = 0, nb = 0;
        for (int64_t c = 0; c < hn; c++) {
            double f = h[c].key;
            /* near the subnormal range float keys say nothing: all exact */
            if (fk > F32_NORMAL && f * (1.0 + rel) < lo) below++;
            else if (fk <= F32_NORMAL || f * (1.0 - rel) <= hi)
                sc->ex[nb++] = sqdist_seq(x + pi * d, x + (int64_t)h[c].id * d, d);
        }
        qsort(sc->ex, (size_t)nb, sizeof(double), dbl_cmp);
        double ek = sc->ex[k - 1 - below];
        ok[i] = hn == b->n - 1 || (hn == K && (ek == 0.0 || (top > F32_NORMAL && ek <= top * (1.0 - rel))));
        core[pi] = sqrt(ek);
    }
}

fm_status fm_hdbscan_core_bounded(double *core, const fm_hdbscan_bounds *b, const float *x, int64_t d,
                                  int64_t min_samples)
{
    int64_t n = b->n, k = min_samples, q = b->q, nl = b->n_leaves;
    if (k < 1 || k > n - 1) return FM_STATUS_ARG;
    int64_t lmax = 0;
    for (int64_t l = 0; l < nl; l++)
        if (b->leaf_start[l + 1] - b->leaf_start[l] > lmax) lmax = b->leaf_start[l + 1] - b->leaf_start[l];
    int64_t K = k + CORE_SLACK < n - 1 ? k + CORE_SLACK : n - 1;
    uint8_t *ok = fm_alloc((size_t)n, 1);
    int64_t *pos = fm_alloc((size_t)n, sizeof(int64_t));
    if (!ok || !pos) { fm_free(ok); fm_free(pos); return FM_STATUS_NOMEM; }
    int failed = 0;
    for (int64_t i = 0; i < n; i++) pos[i] = i;
    /* each query leaf on its own: the result of a point never depends on the schedule */
#pragma omp parallel
    {
        core_scratch sc;
        sc.heap = fm_alloc((size_t)(lmax * K), sizeof(kn_item));
        sc.hn = fm_alloc((size_t)lmax, sizeof(int64_t));
        sc.u = fm_alloc((size_t)lmax, sizeof(double));
        sc.lb2 = fm_alloc((size_t)lmax, sizeof(float));
        sc.lk = fm_alloc((size_t)nl, sizeof(leaf_key));
        sc.ex = fm_alloc((size_t)K, sizeof(double));
        sc.need = fm_alloc((size_t)lmax, sizeof(int64_t));
        int mine = !sc.heap || !sc.hn || !sc.u || !sc.lb2 || !sc.lk || !sc.ex || !sc.need;
#pragma omp for schedule(dynamic, 1)
        for (int64_t l = 0; l < nl; l++) {
            if (mine) continue;
            int64_t j0 = b->leaf_start[l];
            core_block(core, ok + j0, b, x, d, k, K, pos + j0, b->leaf_start[l + 1] - j0, b->lo + l * q,
                       b->hi + l * q, &sc);
        }
        if (mine) {
#pragma omp atomic write
            failed = 1;
        }
        fm_free(sc.heap);
        fm_free(sc.hn);
        fm_free(sc.u);
        fm_free(sc.lb2);
        fm_free(sc.lk);
        fm_free(sc.ex);
        fm_free(sc.need);
    }
    /* points whose k-th distance sits in a tie the K kept could not settle: again with twice K */
    fm_status s = failed ? FM_STATUS_NOMEM : FM_STATUS_OK;
    while (s == FM_STATUS_OK) {
        int64_t nf = 0;
        for (int64_t r = 0; r < n; r++)
            if (!ok[r]) pos[nf++] = r;
        if (nf == 0) break;
        K = 2 * K < n - 1 ? 2 * K : n - 1;
        core_scratch sc;
        sc.heap = fm_alloc((size_t)K, sizeof(kn_item));
        sc.hn = fm_alloc(1, sizeof(int64_t));
        sc.u = fm_alloc(1, sizeof(double));
        sc.lb2 = fm_alloc((size_t)lmax, sizeof(float));
        sc.lk = fm_alloc((size_t)nl, sizeof(leaf_key));
        sc.ex = fm_alloc((size_t)K, sizeof(double));
        sc.need = fm_alloc((size_t)lmax, sizeof(int64_t));
        if (sc.heap && sc.hn && sc.u && sc.lb2 && sc.lk && sc.ex && sc.need) {
            for (int64_t f = 0; f < nf; f++) {
                const float *zp = b->z + b->order[pos[f]] * q;
                core_block(core, ok + pos[f], b, x, d, k, K, pos + f, 1, zp, zp, &sc);
            }
        } else {
            s = FM_STATUS_NOMEM;
        }
        fm_free(sc.heap);
        fm_free(sc.hn);
        fm_free(sc.u);
        fm_free(sc.lb2);
        fm_free(sc.lk);
        fm_free(sc.ex);
        fm_free(sc.need);
    }
    fm_free(ok);
    fm_free(pos);
    return s;
}

/* ================================================================ Prim (high dimensions) */

/* ‖a − b‖² in double over 8 interleaved partial sums (vectorisable without reassociating:
 * the grouping is fixed, so every thread count gives the same bits) */
static inline double sqdist_lanes(const float *a, const float *b, int64_t d)
{
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t t = 0;
    for (; t + 8 <= d; t += 8)
        for (int l = 0; l < 8; l++) {
            double u = (double)a[t + l] - (double)b[t + l];
            acc[l] += u * u;
        }
    for (int l = 0; t < d; t++, l++) {
        double u = (double)a[t] - (double)b[t];
        acc[l] += u * u;
    }
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

static inline int prim_before(double ka, int64_t ia, double kb, int64_t ib)
{
    return ka < kb || (ka == kb && ia < ib);
}

/* the settled points: a binary min-heap on (distance, point) */
static void heap_push(double *hk, int64_t *hi, int64_t *hn, double k, int64_t id)
{
    int64_t c = (*hn)++;
    while (c > 0) {
        int64_t p = (c - 1) / 2;
        if (!prim_before(k, id, hk[p], hi[p])) break;
        hk[c] = hk[p];
        hi[c] = hi[p];
        c = p;
    }
    hk[c] = k;
    hi[c] = id;
}

static void heap_pop(double *hk, int64_t *hi, int64_t *hn)
{
    int64_t m = --(*hn);
    if (m == 0) return;
    double k = hk[m];
    int64_t id = hi[m], c = 0;
    for (;;) {
        int64_t l = 2 * c + 1, r = l + 1, b = c;
        double bk = k;
        int64_t bi = id;
        if (l < m && prim_before(hk[l], hi[l], bk, bi)) { b = l; bk = hk[l]; bi = hi[l]; }
        if (r < m && prim_before(hk[r], hi[r], bk, bi)) b = r;
        if (b == c) break;
        hk[c] = hk[b];
        hi[c] = hi[b];
        c = b;
    }
    hk[c] = k;
    hi[c] = id;
}

/* Prim's state: the points not in the tree and not settled ("active") sit in their leaf's
 * segment [start, start + cnt) of the position arrays, their z in columns (struct of arrays, so
 * the bounds of a leaf come 16 at a time). Per leaf: the largest best (nothing in the leaf can
 * improve unless a bound is below it) and the (best, point) minimum. */
typedef struct {
    int64_t q, cap;
    const int64_t *start;
    int64_t *pid, *home, *cnt, *minid, *minpos, *nset;
    const float *z2;   /* rows by home position (the point's place in the bounds' leaf order) */
    int64_t q2;
    double *best, *core, *maxb, *minb;
    float *tol, *zt;
    uint8_t *flag;
} prim_state;

/* z of leaf l: its own block of q rows of (leaf size) columns, so a scan reads one piece */
static inline float *prim_zleaf(const prim_state *P, int64_t l)
{
    return P->zt + P->start[l] * P->q;
}

static void prim_move(prim_state *P, int64_t l, int64_t to, int64_t from)
{
    P->pid[to] = P->pid[from];
    P->home[to] = P->home[from];
    P->best[to] = P->best[from];
    P->core[to] = P->core[from];
    P->tol[to] = P->tol[from];
    int64_t w = P->start[l + 1] - P->start[l];
    float *zl = prim_zleaf(P, l);
    to -= P->start[l];
    from -= P->start[l];
    for (int64_t k = 0; k < P->q; k++) zl[k * w + to] = zl[k * w + from];
}

static void prim_leaf_summary(prim_state *P, int64_t l)
{
    double mb = -DBL_MAX, bv = DBL_MAX;
    int64_t bj = INT64_MAX, br = -1;
    for (int64_t r = P->start[l]; r < P->start[l] + P->cnt[l]; r++) {
        double v = P->best[r];
        if (v > mb) mb = v;
        if (prim_before(v, P->pid[r], bv, bj)) { bv = v; bj = P->pid[r]; br = r; }
    }
    P->maxb[l] = mb;
    P->minb[l] = bv;
    P->minid[l] = bj;
    P->minpos[l] = br;
}

/* one leaf against the newest tree point: update best/src, move the newly settled to the end of
 * the segment (nset of them, for the heap), refresh the summary */
static void prim_scan_leaf(prim_state *P, int64_t l, int64_t *src, const float *x, int64_t d, int64_t cur,
                           double cc, double tc, const float *zc, const float *z2c)
{
    int64_t lo = P->start[l], m = P->cnt[l], q = P->q, nset = 0;
    float lb2[PRIM_CHUNK];
    if (q) {
        for (int64_t r = 0; r < m; r++) lb2[r] = 0.0f;
        for (int64_t k = 0; k < q; k++) {
            const float *col = prim_zleaf(P, l) + k * (P->start[l + 1] - lo);
            float zk = zc[k];
            for (int64_t r = 0; r < m; r++) {
                float t = col[r] - zk;
                lb2[r] += t * t;
            }
        }
    }
    const float *xc = x + cur * d;
    /* mr(cur, j) ≥ max(core(cur), core(j)), and ≥ the z bound: skip when either reaches best */
    int32_t need[PRIM_CHUNK];
    int64_t nn = 0;
    for (int64_t r = lo; r < lo + m; r++) {
        double bst = P->best[r], cj = P->core[r];
        double lb = cc > cj ? cc : cj;
        if (lb < bst && (!q || !bound_excludes(lb2[r - lo], bst, tc + (double)P->tol[r]))) need[nn++] = (int32_t)r;
    }
    /* the rows come from anywhere in x: fetch one ahead while the current one is summed. A float
     * sum first: when it proves ‖x_cur − x_j‖ > best[j] (within its error bound), the double sum
     * could not lower best[j] either. */
    double rel = f32_rel(d);
    for (int64_t t = 0; t < nn; t++) {
        if (t + 1 < nn) {
            if (P->q2) prefetch_row(P->z2 + P->home[need[t + 1]] * P->q2, P->q2);
            else prefetch_row(x + P->pid[need[t + 1]] * d, d);
        }
        int64_t r = need[t], j = P->pid[r];
        double bst = P->best[r], cj = P->core[r];
        double lb = cc > cj ? cc : cj;
        const float *xj = x + j * d;
        if (P->q2 && z2_excludes(z2c, P->z2 + P->home[r] * P->q2, P->q2, bst, tc + (double)P->tol[r])) continue;
        double f = sqdist_f32(xc, xj, d);
        if (f > F32_NORMAL && f * (1.0 - rel) > bst * bst * (1.0 + 1e-12)) continue;
        double mr = sqrt(sqdist_lanes(xc, xj, d));
        if (lb > mr) mr = lb;
        if (mr < bst) {
            P->best[r] = mr;
            src[j] = cur;
            /* best = core(j): no later point can lower it (mr ≥ core(j)) */
            if (mr <= cj) { P->flag[r] = 1; nset++; }
        }
    }
    if (nset) {
        int64_t end = lo + m;
        for (int64_t r = lo + m - 1; r >= lo; r--) {
            if (!P->flag[r]) continue;
            P->flag[r] = 0;
            end--;
            if (r != end) {   /* swap: the active one at the end comes to r, the settled one goes there */
                int64_t sp = P->pid[r];
                double sb = P->best[r];
                prim_move(P, l, r, end);
                P->pid[end] = sp;
                P->best[end] = sb;
            }
        }
        P->cnt[l] = m - nset;
    }
    P->nset[l] = nset;
    prim_leaf_summary(P, l);
}

fm_status fm_hdbscan_mst_prim(int64_t *ea, int64_t *eb, double *w, const float *x, const double *core,
                              const fm_hdbscan_bounds *b, int64_t n, int64_t d, int64_t par_min)
{
    if (par_min <= 0) par_min = PRIM_PAR_MIN;
    if (n < 1 || d < 1 || (b && (b->n != n || b->q < 1))) return FM_STATUS_ARG;
    if (n == 1) return FM_STATUS_OK;
    int64_t q = b ? b->q : 0;
    int64_t nl = b ? b->n_leaves : (n + PRIM_CHUNK - 1) / PRIM_CHUNK;
    prim_state P;
    memset(&P, 0, sizeof P);
    P.q = q;
    P.cap = n;
    int64_t *chunk_start = NULL, *src = fm_alloc((size_t)n, sizeof(int64_t)), *list = fm_alloc((size_t)nl, sizeof(int64_t));
    int64_t *live = fm_alloc((size_t)nl, sizeof(int64_t));
    double *hk = fm_alloc((size_t)n, sizeof(double));
    int64_t *hi = fm_alloc((size_t)n, sizeof(int64_t));
    float *zc = fm_alloc((size_t)q + 1, sizeof(float));
    P.pid = fm_alloc((size_t)n, sizeof(int64_t));
    P.home = fm_alloc((size_t)n, sizeof(int64_t));
    int64_t *inv = fm_alloc((size_t)n, sizeof(int64_t));
    P.q2 = b ? b->q2 : 0;
    P.z2 = b ? b->z2 : NULL;
    P.best = fm_alloc((size_t)n, sizeof(double));
    P.core = fm_alloc((size_t)n, sizeof(double));
    P.tol = fm_alloc((size_t)n, sizeof(float));
    P.zt = q ? fm_alloc((size_t)(q * n), sizeof(float)) : NULL;
    P.flag = fm_alloc((size_t)n, 1);
    P.cnt = fm_alloc((size_t)nl, sizeof(int64_t));
    P.minid = fm_alloc((size_t)nl, sizeof(int64_t));
    P.minpos = fm_alloc((size_t)nl, sizeof(int64_t));
    P.nset = fm_alloc((size_t)nl, sizeof(int64_t));
    P.maxb = fm_alloc((size_t)nl, sizeof(double));
    P.minb = fm_alloc((size_t)nl, sizeof(double));
    fm_status st = FM_STATUS_NOMEM;
    if (!src || !list || !live || !hk || !hi || !zc || !P.pid || !P.home || !inv || !P.best || !P.core || !P.tol || (q && !P.zt) || !P.flag ||
        !P.cnt || !P.minid || !P.minpos || !P.nset || !P.maxb || !P.minb)
        goto done;
    if (b) {
        P.start = b->leaf_start;
        for (int64_t l = 0; l < nl; l++)
            if (b->leaf_start[l + 1] - b->leaf_start[l] > PRIM_CHUNK) { st = FM_STATUS_ARG; goto done; }
    } else {
        if (!(chunk_start = fm_alloc((size_t)nl + 1, sizeof(int64_t)))) goto done;
        for (int64_t l = 0; l <= nl; l++) chunk_start[l] = l * PRIM_CHUNK < n ? l * PRIM_CHUNK : n;
        P.start = chunk_start;
    }
    int64_t pos0 = -1, l0 = -1;
    for (int64_t r = 0; r < n; r++) {
        int64_t j = b ? b->order[r] : r;
        P.pid[r] = j;
        P.home[r] = r;
        inv[j] = r;
        P.best[r] = DBL_MAX;
        P.core[r] = core[j];
        P.tol[r] = b ? b->tol[j] : 0.0f;
        if (j == 0) pos0 = r;
    }
    for (int64_t l = 0; l < nl; l++) {
        P.cnt[l] = P.start[l + 1] - P.start[l];
        if (pos0 >= P.start[l] && pos0 < P.start[l + 1]) l0 = l;
        float *zl = q ? prim_zleaf(&P, l) : NULL;
        for (int64_t r = P.start[l]; r < P.start[l + 1]; r++)
            for (int64_t k = 0; k < q; k++) zl[k * P.cnt[l] + (r - P.start[l])] = b->z[P.pid[r] * q + k];
        live[l] = l;
    }
    int64_t nlive = nl;
    /* point 0 starts the tree */
    prim_move(&P, l0, pos0, P.start[l0] + --P.cnt[l0]);
    for (int64_t l = 0; l < nl; l++) prim_leaf_summary(&P, l);
    int64_t nh = 0, cur = 0;
    for (int64_t e = 0; e < n - 1; e++) {
        double cc = core[cur];
        double tc = q ? b->tol[cur] : 0.0;
        for (int64_t k = 0; k < q; k++) zc[k] = b->z[cur * q + k];
        /* the leaves where some best could fall */
        int64_t nlist = 0, work = 0;
        for (int64_t t = 0; t < nlive; t++) {
            int64_t l = live[t];
            if (P.cnt[l] == 0) {   /* emptied: out of the list for good */
                live[t--] = live[--nlive];
                continue;
            }
            if (cc >= P.maxb[l]) continue;
            if (q && bound_excludes(leaf_dist2(b, zc, l), P.maxb[l],
                                    tc + (double)b->leaf_tol[l]))
                continue;
            list[nlist++] = l;
            work += P.cnt[l];
        }
        /* leaves are independent: the outcome does not depend on who scans which */
#pragma omp parallel for schedule(dynamic, 1) if (work >= par_min)
        for (int64_t t = 0; t < nlist; t++)
            prim_scan_leaf(&P, list[t], src, x, d, cur, cc, tc, zc, P.q2 ? P.z2 + inv[cur] * P.q2 : NULL);
        for (int64_t t = 0; t < nlist; t++) {
            int64_t l = list[t], r0 = P.start[l] + P.cnt[l];
            for (int64_t r = r0; r < r0 + P.nset[l]; r++) heap_push(hk, hi, &nh, P.best[r], P.pid[r]);
        }
        /* the next point: the (best, index) minimum over the leaves and the heap */
        double bv = DBL_MAX;
        int64_t bj = INT64_MAX, bl = -1;
        for (int64_t t = 0; t < nlive; t++) {
            int64_t l = live[t];
            if (P.cnt[l] > 0 && prim_before(P.minb[l], P.minid[l], bv, bj)) { bv = P.minb[l]; bj = P.minid[l]; bl = l; }
        }
        if (nh > 0 && (bl < 0 || prim_before(hk[0], hi[0], bv, bj))) {
            bv = hk[0];
            bj = hi[0];
            heap_pop(hk, hi, &nh);
        } else if (bl >= 0) {
            int64_t r = P.minpos[bl], last = P.start[bl] + --P.cnt[bl];
            if (r != last) prim_move(&P, bl, r, last);
            prim_leaf_summary(&P, bl);
        } else {
            st = FM_STATUS_NUMERIC;
            goto done;
        }
        ea[e] = src[bj];
        eb[e] = bj;
        w[e] = bv;
        cur = bj;
    }
    st = FM_STATUS_OK;
done:
    fm_free(chunk_start);
    fm_free(src);
    fm_free(list);
    fm_free(live);
    fm_free(hk);
    fm_free(hi);
    fm_free(zc);
    fm_free(P.pid);
    fm_free(P.home);
    fm_free(inv);
    fm_free(P.best);
    fm_free(P.core);
    fm_free(P.tol);
    fm_free(P.zt);
    fm_free(P.flag);
    fm_free(P.cnt);
    fm_free(P.minid);
    fm_free(P.minpos);
    fm_free(P.nset);
    fm_free(P.maxb);
    fm_free(P.minb);
    return st;
}

/* ================================================================ condensed tree */

void fm_hdbscan_tree_free(fm_hdbscan_tree *tree)
{
    if (!tree) return;
    fm_free(tree->parent);
    fm_free(tree->child);
    fm_free(tree->size);
    fm_free(tree->lambda);
    memset(tree, 0, sizeof *tree);
}

static fm_status tree_alloc(fm_hdbscan_tree *tree, int64_t n, int64_t cap)
{
    memset(tree, 0, sizeof *tree);
    tree->n = n;
    tree->parent = fm_alloc((size_t)cap, sizeof(int64_t));
    tree->child = fm_alloc((size_t)cap, sizeof(int64_t));
    tree->size = fm_alloc((size_t)cap, sizeof(int64_t));
    tree->lambda = fm_alloc((size_t)cap, sizeof(double));
    if (!tree->parent || !tree->child || !tree->size || !tree->lambda) {
        fm_hdbscan_tree_free(tree);
        return FM_STATUS_NOMEM;
    }
    return FM_STATUS_OK;
}

static inline void tree_push(fm_hdbscan_tree *t, int64_t p, int64_t c, double l, int64_t s)
{
    int64_t r = t->rows++;
    t->parent[r] = p;
    t->child[r] = c;
    t->lambda[r] = l;
    t->size[r] = s;
}

fm_status fm_hdbscan_condense(fm_hdbscan_tree *tree, const double *z, int64_t n, int64_t min_cluster_size)
{
    if (n < 1 || min_cluster_size < 1) return FM_STATUS_ARG;
    fm_status s = tree_alloc(tree, n, 2 * n + 2);
    if (s != FM_STATUS_OK) return s;
    if (n == 1) {   /* one point: the root holds it forever */
        tree_push(tree, 1, 0, INFINITY, 1);
        tree->n_clusters = 1;
        return FM_STATUS_OK;
    }
    int64_t nn = 2 * n - 1, root = nn - 1;
    int64_t *queue = fm_alloc((size_t)nn, sizeof(int64_t));
    int64_t *sub = fm_alloc((size_t)nn, sizeof(int64_t));
    int64_t *relabel = fm_alloc((size_t)nn, sizeof(int64_t));
    uint8_t *ignore = fm_alloc((size_t)nn, 1);
    if (!queue || !sub || !relabel || !ignore) {
        s = FM_STATUS_NOMEM;
        fm_hdbscan_tree_free(tree);
        goto done;
    }
    /* breadth-first order of the whole hierarchy (hdbscan's bfs_from_hierarchy) */
    int64_t qn = 0;
    queue[qn++] = root;
    for (int64_t h = 0; h < qn; h++) {
        int64_t v = queue[h];
        if (v >= n) {
            queue[qn++] = (int64_t)z[(v - n) * 4 + 0];
            queue[qn++] = (int64_t)z[(v - n) * 4 + 1];
        }
    }
    int64_t next = n + 1;
    relabel[root] = n;
    for (int64_t h = 0; h < qn; h++) {
        int64_t node = queue[h];
        if (node < n || ignore[node]) continue;
        const double *row = z + (node - n) * 4;
        int64_t ch[2] = {(int64_t)row[0], (int64_t)row[1]};
        double lam = row[2] > 0 ? 1.0 / row[2] : INFINITY;
        int64_t cnt[2];
        for (int i = 0; i < 2; i++) cnt[i] = ch[i] >= n ? (int64_t)z[(ch[i] - n) * 4 + 3] : 1;
        int big0 = cnt[0] >= min_cluster_size, big1 = cnt[1] >= min_cluster_size;
        if (big0 && big1) {
            for (int i = 0; i < 2; i++) {
                relabel[ch[i]] = next++;
                tree_push(tree, relabel[node], relabel[ch[i]], lam, cnt[i]);
            }
            continue;
        }
        for (int i = 0; i < 2; i++) {
            if (cnt[i] >= min_cluster_size) {
                relabel[ch[i]] = relabel[node];   /* the big side carries on as the parent */
                continue;
            }
            /* the small side's points fall out here, in breadth-first order */
            int64_t sn = 0;
            sub[sn++] = ch[i];
            for (int64_t g = 0; g < sn; g++) {
                int64_t v = sub[g];
                if (v < n) tree_push(tree, relabel[node], v, lam, 1);
                else {
                    sub[sn++] = (int64_t)z[(v - n) * 4 + 0];
                    sub[sn++] = (int64_t)z[(v - n) * 4 + 1];
                }
                ignore[v] = 1;
            }
        }
    }
    tree->n_clusters = next - n;
done:
    fm_free(queue);
    fm_free(sub);
    fm_free(relabel);
    fm_free(ignore);
    return s;
}

/* ================================================================ stability and selection */

fm_status fm_hdbscan_stability(double *stability, const fm_hdbscan_tree *tree)
{
    int64_t n = tree->n, nc = tree->n_clusters;
    double *birth = fm_alloc((size_t)nc, sizeof(double));
    if (!birth) return FM_STATUS_NOMEM;
    for (int64_t c = 0; c < nc; c++) { birth[c] = INFINITY; stability[c] = 0; }
    for (int64_t r = 0; r < tree->rows; r++) {
        int64_t c = tree->child[r] - n;
        if (c > 0 && tree->lambda[r] < birth[c]) birth[c] = tree->lambda[r];
    }
    birth[0] = 0;
    for (int64_t r = 0; r < tree->rows; r++) {
        int64_t p = tree->parent[r] - n;
        stability[p] += (tree->lambda[r] - birth[p]) * (double)tree->size[r];
    }
    fm_free(birth);
    return FM_STATUS_OK;
}

/* per cluster (index id − n): the row where it is a child (−1 for the root) */
static fm_status cluster_rows(int64_t **out, const fm_hdbscan_tree *tree)
{
    int64_t nc = tree->n_clusters, n = tree->n;
    int64_t *row = fm_alloc((size_t)nc, sizeof(int64_t));
    if (!row) return FM_STATUS_NOMEM;
    for (int64_t c = 0; c < nc; c++) row[c] = -1;
    for (int64_t r = 0; r < tree->rows; r++)
        if (tree->child[r] >= n) row[tree->child[r] - n] = r;
    *out = row;
    return FM_STATUS_OK;
}

/* hdbscan's traverse_upwards: from a leaf born below epsilon, climb to the first ancestor born at
 * a distance above epsilon (the root only with allow_single_cluster) */
static int64_t eps_climb(const fm_hdbscan_tree *tree, const int64_t *crow, double eps, int64_t c, int allow_single)
{
    for (;;) {
        int64_t par = tree->parent[crow[c]] - tree->n;
        if (par == 0) return allow_single ? 0 : c;
        double par_eps = 1.0 / tree->lambda[crow[par]];
        if (par_eps > eps) return par;
        c = par;
    }
}

/* hdbscan's epsilon_search: each candidate born below epsilon is replaced by the ancestor
 * eps_climb finds (once per subtree); the others stay. cand, sel (n_clusters); mark is scratch
 * (2·n_clusters). Candidates are visited in id order. */
static void eps_search(uint8_t *sel, const uint8_t *cand, uint8_t *mark, const fm_hdbscan_tree *tree,
                       const int64_t *crow, double eps, int allow_single)
{
    int64_t nc = tree->n_clusters, n = tree->n;
    uint8_t *processed = mark, *below = mark + nc;
    memset(sel, 0, (size_t)nc);
    memset(mark, 0, (size_t)(2 * nc));
    for (int64_t c = 1; c < nc; c++) {
        if (!cand[c]) continue;
        double e = 1.0 / tree->lambda[crow[c]];
        if (e < eps) {
            if (processed[c]) continue;
            int64_t top = eps_climb(tree, crow, eps, c, allow_single);
            sel[top] = 1;
            /* rows come parent before child, so one pass marks the whole subtree */
            memset(below, 0, (size_t)nc);
            below[top] = 1;
            for (int64_t r = 0; r < tree->rows; r++) {
                int64_t ch = tree->child[r];
                if (ch >= n && below[tree->parent[r] - n]) below[ch - n] = 1;
            }
            for (int64_t i = 0; i < nc; i++)
                if (below[i] && i != top) processed[i] = 1;
        } else {
            sel[c] = 1;
        }
    }
}

fm_status fm_hdbscan_select(uint8_t *selected, double *stability, const fm_hdbscan_tree *tree, int method,
                            int allow_single_cluster, double epsilon, int64_t max_cluster_size)
{
    int64_t nc = tree->n_clusters, n = tree->n;
    int64_t *crow = NULL;
    uint8_t *cand = fm_alloc((size_t)nc, 1);
    uint8_t *mark = fm_alloc((size_t)(2 * nc), 1);
    int64_t *csize = fm_alloc((size_t)nc, sizeof(int64_t));
    int64_t *cstart = fm_alloc((size_t)(nc + 1), sizeof(int64_t));
    int64_t *fill = fm_alloc((size_t)(nc + 1), sizeof(int64_t));
    int64_t *clist = fm_alloc((size_t)nc, sizeof(int64_t));
    fm_status s = FM_STATUS_NOMEM;
    if (!cand || !mark || !csize || !cstart || !fill || !clist || cluster_rows(&crow, tree) != FM_STATUS_OK)
        goto done;
    s = FM_STATUS_OK;
    memset(selected, 0, (size_t)nc);
    /* the child clusters of each cluster, in row order (the order hdbscan sums them) */
    for (int64_t r = 0; r < tree->rows; r++)
        if (tree->child[r] >= n) {
            cstart[tree->parent[r] - n + 1]++;
            csize[tree->child[r] - n] = tree->size[r];
        }
    for (int64_t c = 0; c < nc; c++) cstart[c + 1] += cstart[c];
    for (int64_t c = 0; c <= nc; c++) fill[c] = cstart[c];
    for (int64_t r = 0; r < tree->rows; r++)
        if (tree->child[r] >= n) clist[fill[tree->parent[r] - n]++] = tree->child[r] - n;
    int64_t n_cluster_rows = cstart[nc];
    /* the root's size (for max_cluster_size) is the sum of its child clusters', as in hdbscan */
    csize[0] = 0;
    for (int64_t i = cstart[0]; i < cstart[1]; i++) csize[0] += csize[clist[i]];
    if (max_cluster_size <= 0) max_cluster_size = n + 1;
    int64_t first = allow_single_cluster ? 0 : 1;

    if (method == FM_HDBSCAN_EOM) {
        /* children before parents (ids decrease towards the root): keep a cluster unless its
         * children together are more stable (or it is too big) */
        for (int64_t c = nc - 1; c >= first; c--) {
            double sum = 0;
            for (int64_t i = cstart[c]; i < cstart[c + 1]; i++) sum += stability[clist[i]];
            float sub = (float)sum;   /* hdbscan holds this sum in a C float */
            if ((double)sub > stability[c] || csize[c] > max_cluster_size) {
                stability[c] = (double)sub;
            } else {
                cand[c] = 1;
            }
        }
        /* a kept cluster hides every kept cluster below it: parents first (children have larger
         * ids), the mark spreading down */
        for (int64_t c = 0; c < nc; c++) {
            if (!mark[c] && cand[c]) selected[c] = 1;
            if (mark[c] || cand[c])
                for (int64_t i = cstart[c]; i < cstart[c + 1]; i++) mark[clist[i]] = 1;
        }
        if (epsilon != 0.0 && n_cluster_rows > 0) {
            int only_root = selected[0];
            for (int64_t c = 1; c < nc && only_root; c++)
                if (selected[c]) only_root = 0;
            if (only_root) {
                if (!allow_single_cluster) selected[0] = 0;
            } else {
                memcpy(cand, selected, (size_t)nc);
                eps_search(selected, cand, mark, tree, crow, epsilon, allow_single_cluster);
            }
        }
    } else {
        /* leaves of the cluster tree: clusters without child clusters */
        int64_t nleaves = 0;
        for (int64_t c = 1; c < nc; c++)
            if (cstart[c + 1] == cstart[c]) { cand[c] = 1; nleaves++; }
        if (nleaves > 0) {
            if (epsilon != 0.0) eps_search(selected, cand, mark, tree, crow, epsilon, allow_single_cluster);
            else memcpy(selected, cand, (size_t)nc);
        }
        /* no split at all: hdbscan selects nothing, everything is noise */
    }
done:
    fm_free(crow);
    fm_free(cand);
    fm_free(mark);
    fm_free(csize);
    fm_free(cstart);
    fm_free(fill);
    fm_free(clist);
    return s;
}

/* ================================================================ labels and scores */

/* sel_of (n_clusters): the selected cluster at or above each cluster, −1 if none */
static void selected_ancestor(int64_t *sel_of, const fm_hdbscan_tree *tree, const uint8_t *selected)
{
    int64_t n = tree->n;
    sel_of[0] = selected[0] ? 0 : -1;
    for (int64_t r = 0; r < tree->rows; r++) {   /* rows: parent before child */
        int64_t c = tree->child[r];
        if (c < n) continue;
        c -= n;
        sel_of[c] = selected[c] ? c : sel_of[tree->parent[r] - n];
    }
}

/* deaths (n_clusters): the largest λ among each cluster's rows */
static void max_lambdas(double *deaths, const fm_hdbscan_tree *tree)
{
    for (int64_t c = 0; c < tree->n_clusters; c++) deaths[c] = 0;
    for (int64_t r = 0; r < tree->rows; r++) {
        int64_t p = tree->parent[r] - tree->n;
        if (tree->lambda[r] > deaths[p]) deaths[p] = tree->lambda[r];
    }
}

fm_status fm_hdbscan_label(int32_t *labels, double *prob, int64_t *cluster_of_label, int64_t *n_labels,
                           const fm_hdbscan_tree *tree, const uint8_t *selected, int allow_single_cluster,
                           double epsilon)
{
    int64_t n = tree->n, nc = tree->n_clusters;
    int64_t *sel_of = fm_alloc((size_t)nc, sizeof(int64_t));
    int64_t *map = fm_alloc((size_t)nc, sizeof(int64_t));
    double *deaths = fm_alloc((size_t)nc, sizeof(double));
    if (!sel_of || !map || !deaths) {
        fm_free(sel_of);
        fm_free(map);
        fm_free(deaths);
        return FM_STATUS_NOMEM;
    }
    int64_t k = 0;
    for (int64_t c = 0; c < nc; c++) {
        map[c] = selected[c] ? k : -1;
        if (selected[c]) {
            if (cluster_of_label) cluster_of_label[k] = c + n;
            k++;
        }
    }
    selected_ancestor(sel_of, tree, selected);
    max_lambdas(deaths, tree);
    /* the single-cluster rule: with the root as the only cluster, a point belongs to it only if it
     * stays at least as long as the root's last departure (or to λ = 1/epsilon) */
    double root_cut = epsilon != 0.0 ? 1.0 / epsilon : deaths[0];
    for (int64_t i = 0; i < n; i++) { labels[i] = -1; prob[i] = 0; }
    for (int64_t r = 0; r < tree->rows; r++) {
        int64_t p = tree->child[r];
        if (p >= n) continue;
        int64_t c = sel_of[tree->parent[r] - n];
        double lam = tree->lambda[r];
        int32_t lab = -1;
        if (c > 0) lab = (int32_t)map[c];
        else if (c == 0 && k == 1 && allow_single_cluster && lam >= root_cut) lab = (int32_t)map[0];
        labels[p] = lab;
        if (lab < 0) continue;
        double ml = deaths[c];
        if (ml == 0.0 || !isfinite(lam)) prob[p] = 1.0;
        else prob[p] = (lam < ml ? lam : ml) / ml;
    }
    *n_labels = k;
    fm_free(sel_of);
    fm_free(map);
    fm_free(deaths);
    return FM_STATUS_OK;
}

fm_status fm_hdbscan_persistence(double *persistence, const int32_t *labels, const int64_t *cluster_of_label,
                                 int64_t k, const double *stability, const fm_hdbscan_tree *tree)
{
    int64_t n = tree->n;
    if (k == 0) return FM_STATUS_OK;
    int64_t *cnt = fm_alloc((size_t)k, sizeof(int64_t));
    if (!cnt) return FM_STATUS_NOMEM;
    for (int64_t i = 0; i < n; i++)
        if (labels[i] >= 0 && labels[i] < k) cnt[labels[i]]++;
    double ml = 0;
    for (int64_t r = 0; r < tree->rows; r++)
        if (tree->lambda[r] > ml) ml = tree->lambda[r];
    for (int64_t l = 0; l < k; l++) {
        if (isinf(ml) || ml == 0.0 || cnt[l] == 0) persistence[l] = 1.0;
        else persistence[l] = stability[cluster_of_label[l] - n] / ((double)cnt[l] * ml);
    }
    fm_free(cnt);
    return FM_STATUS_OK;
}

fm_status fm_hdbscan_glosh(double *score, const fm_hdbscan_tree *tree)
{
    int64_t n = tree->n, nc = tree->n_clusters;
    double *deaths = fm_alloc((size_t)nc, sizeof(double));
    if (!deaths) return FM_STATUS_NOMEM;
    max_lambdas(deaths, tree);
    /* λmax of the whole subtree: children have larger ids and later rows, so walk rows backwards */
    for (int64_t r = tree->rows - 1; r >= 0; r--) {
        int64_t c = tree->child[r];
        if (c < n) continue;
        int64_t p = tree->parent[r] - n;
        if (deaths[c - n] > deaths[p]) deaths[p] = deaths[c - n];
    }
    for (int64_t i = 0; i < n; i++) score[i] = 0;
    for (int64_t r = 0; r < tree->rows; r++) {
        int64_t p = tree->child[r];
        if (p >= n) continue;
        double lm = deaths[tree->parent[r] - n], lam = tree->lambda[r];
        if (lm == 0.0 || !isfinite(lam)) score[p] = 0.0;
        else score[p] = 1.0 - lam / lm;   /* (λmax − λ)/λmax, and 1 when λmax is infinite */
    }
    fm_free(deaths);
    return FM_STATUS_OK;
}

/* ================================================================ approximate_predict */

fm_status fm_hdbscan_predict(int32_t *labels, double *prob, const int32_t *nbr_idx, const double *nbr_dist,
                             int64_t m, int64_t kq, const double *core, int64_t min_samples,
                             const fm_hdbscan_tree *tree, const uint8_t *selected, const int32_t *train_labels,
                             int64_t n_labels)
{
    int64_t n = tree->n, nc = tree->n_clusters;
    if (kq < 1 || min_samples < 1) return FM_STATUS_ARG;
    int64_t *prow = fm_alloc((size_t)n, sizeof(int64_t));
    int64_t *crow = NULL;
    int64_t *sel_of = fm_alloc((size_t)nc, sizeof(int64_t));
    int64_t *map = fm_alloc((size_t)nc, sizeof(int64_t));
    double *deaths = fm_alloc((size_t)nc, sizeof(double));
    fm_status s = FM_STATUS_NOMEM;
    if (!prow || !sel_of || !map || !deaths || cluster_rows(&crow, tree) != FM_STATUS_OK) goto done;
    s = FM_STATUS_OK;
    for (int64_t r = 0; r < tree->rows; r++)
        if (tree->child[r] < n) prow[tree->child[r]] = r;
    int64_t k = 0;
    for (int64_t c = 0; c < nc; c++) map[c] = selected[c] ? k++ : -1;
    (void)n_labels;
    (void)train_labels;
    selected_ancestor(sel_of, tree, selected);
    max_lambdas(deaths, tree);
    int64_t kc = min_samples < kq ? min_samples : kq;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < m; i++) {
        const int32_t *ni = nbr_idx + i * kq;
        const double *di = nbr_dist + i * kq;
        double pc = di[kc - 1];   /* the new point's core distance */
        double best = INFINITY;
        int64_t nn = ni[0];
        for (int64_t t = 0; t < kq; t++) {
            double mr = di[t];
            if (pc > mr) mr = pc;
            if (core[ni[t]] > mr) mr = core[ni[t]];
            if (mr < best) { best = mr; nn = ni[t]; }
        }
        double lam = best > 0 ? 1.0 / best : DBL_MAX;
        int64_t r = prow[nn];
        int64_t c = tree->parent[r] - n;
        if (tree->lambda[r] > lam) {
            /* joins below where the neighbour leaves: climb while the cluster is born later */
            while (c > 0 && tree->lambda[crow[c]] >= lam) c = tree->parent[crow[c]] - n;
        }
        int64_t sc = sel_of[c];
        if (sc < 0) {
            labels[i] = -1;
            prob[i] = 0;
        } else {
            labels[i] = (int32_t)map[sc];
            double ml = deaths[sc];
            prob[i] = ml > 0 ? (lam < ml ? lam : ml) / ml : 1.0;
        }
    }
done:
    fm_free(prow);
    fm_free(crow);
    fm_free(sel_of);
    fm_free(map);
    fm_free(deaths);
    return s;
}

/* ================================================================ assign_noise */

fm_status fm_hdbscan_assign_noise(int32_t *labels, const float *x, int64_t n, int64_t d)
{
    int64_t nc = 0, nn = 0;
    for (int64_t i = 0; i < n; i++) {
        if (labels[i] >= 0) nc++;
        else nn++;
    }
    if (nc == 0 || nn == 0) return FM_STATUS_OK;
    int64_t *ci = fm_alloc((size_t)nc, sizeof(int64_t)), *ni = fm_alloc((size_t)nn, sizeof(int64_t));
    float *xc = fm_alloc((size_t)(nc * d), sizeof(float)), *xn = fm_alloc((size_t)(nn * d), sizeof(float));
    int32_t *nb = fm_alloc((size_t)nn, sizeof(int32_t));
    fm_status s = FM_STATUS_NOMEM;
    if (!ci || !ni || !xc || !xn || !nb) goto done;
    nc = nn = 0;
    for (int64_t i = 0; i < n; i++) {
        if (labels[i] >= 0) { memcpy(xc + nc * d, x + i * d, (size_t)d * sizeof(float)); ci[nc++] = i; }
        else { memcpy(xn + nn * d, x + i * d, (size_t)d * sizeof(float)); ni[nn++] = i; }
    }
    if (d <= FM_HDBSCAN_KDTREE_MAX_D) {
        fm_kdtree t;
        s = fm_kdtree_build(&t, xc, nc, d, 40);
        if (s != FM_STATUS_OK) goto done;
        double *q = fm_alloc((size_t)(nn * d), sizeof(double));
        if (!q) { fm_kdtree_free(&t); s = FM_STATUS_NOMEM; goto done; }
        for (int64_t i = 0; i < nn * d; i++) q[i] = xn[i];
        s = fm_kdtree_knn(nb, NULL, &t, q, nn, 1);
        fm_free(q);
        fm_kdtree_free(&t);
    } else {
        float *dist = fm_alloc((size_t)nn, sizeof(float));
        if (!dist) goto done;
        s = fm_knn_exact(nb, dist, xc, nc, xn, nn, d, 1, FM_KNN_EUCLIDEAN, 0);
        fm_free(dist);
    }
    if (s != FM_STATUS_OK) goto done;
    for (int64_t i = 0; i < nn; i++) labels[ni[i]] = labels[ci[nb[i]]];
done:
    fm_free(ci);
    fm_free(ni);
    fm_free(xc);
    fm_free(xn);
    fm_free(nb);
    return s;
}

/* ================================================================ edge order */

/* numpy's argsort(kind="quicksort") for float64 (numpy 1.24's introsort: median of three,
 * insertion sort below 16 elements, heapsort past the depth limit). hdbscan sorts its spanning
 * tree with it, and the order it leaves equal weights in decides which side a tied merge joins
 * in the single-linkage tree, so we sort the same way. perm (m) receives the order. */
static void np_aheapsort(const double *v, int64_t *tosort, int64_t n)
{
    int64_t *a = tosort - 1;   /* 1-based heap, as numpy */
    int64_t i, j, l, tmp;
    for (l = n >> 1; l > 0; --l) {
        tmp = a[l];
        for (i = l, j = l << 1; j <= n;) {
            if (j < n && v[a[j]] < v[a[j + 1]]) j += 1;
            if (v[tmp] < v[a[j]]) { a[i] = a[j]; i = j; j += j; }
            else break;
        }
        a[i] = tmp;
    }
    for (; n > 1;) {
        tmp = a[n];
        a[n] = a[1];
        n -= 1;
        for (i = 1, j = 2; j <= n;) {
            if (j < n && v[a[j]] < v[a[j + 1]]) j++;
            if (v[tmp] < v[a[j]]) { a[i] = a[j]; i = j; j += j; }
            else break;
        }
        a[i] = tmp;
    }
}

#define NP_SMALL 15
#define NP_STACK 128

static void np_argsort(const double *v, int64_t *tosort, int64_t num)
{
    if (num < 2) return;
    int64_t *pl = tosort, *pr = tosort + num - 1;
    int64_t *stack[NP_STACK], **sptr = stack;
    int depth[NP_STACK], *psdepth = depth;
    int msb = 0;
    for (int64_t u = num; u > 1; u >>= 1) msb++;
    int cdepth = msb * 2;
    int64_t *pm, *pi, *pj, *pk, vi, t;
    double vp;
#define NP_SWAP(a, b) (t = (a), (a) = (b), (b) = t)
    for (;;) {
        if (cdepth < 0) {
            np_aheapsort(v, pl, pr - pl + 1);
            goto stack_pop;
        }
        while ((pr - pl) > NP_SMALL) {
            pm = pl + ((pr - pl) >> 1);
            if (v[*pm] < v[*pl]) NP_SWAP(*pm, *pl);
            if (v[*pr] < v[*pm]) NP_SWAP(*pr, *pm);
            if (v[*pm] < v[*pl]) NP_SWAP(*pm, *pl);
            vp = v[*pm];
            pi = pl;
            pj = pr - 1;
            NP_SWAP(*pm, *pj);
            for (;;) {
                do { ++pi; } while (v[*pi] < vp);
                do { --pj; } while (vp < v[*pj]);
                if (pi >= pj) break;
                NP_SWAP(*pi, *pj);
            }
            pk = pr - 1;
            NP_SWAP(*pi, *pk);
            if (pi - pl < pr - pi) {
                *sptr++ = pi + 1;
                *sptr++ = pr;
                pr = pi - 1;
            } else {
                *sptr++ = pl;
                *sptr++ = pi - 1;
                pl = pi + 1;
            }
            *psdepth++ = --cdepth;
        }
        for (pi = pl + 1; pi <= pr; ++pi) {
            vi = *pi;
            vp = v[vi];
            pj = pi;
            pk = pi - 1;
            while (pj > pl && vp < v[*pk]) *pj-- = *pk--;
            *pj = vi;
        }
    stack_pop:
        if (sptr == stack) break;
        pr = *(--sptr);
        pl = *(--sptr);
        cdepth = *(--psdepth);
    }
#undef NP_SWAP
}

fm_status fm_hdbscan_sort_edges(int64_t *ea, int64_t *eb, double *w, int64_t m)
{
    if (m < 2) return FM_STATUS_OK;
    int64_t *perm = fm_alloc((size_t)m, sizeof(int64_t)), *ta = fm_alloc((size_t)m, sizeof(int64_t));
    int64_t *tb = fm_alloc((size_t)m, sizeof(int64_t));
    double *tw = fm_alloc((size_t)m, sizeof(double));
    fm_status s = FM_STATUS_NOMEM;
    if (perm && ta && tb && tw) {
        for (int64_t i = 0; i < m; i++) perm[i] = i;
        np_argsort(w, perm, m);
        for (int64_t i = 0; i < m; i++) { ta[i] = ea[perm[i]]; tb[i] = eb[perm[i]]; tw[i] = w[perm[i]]; }
        memcpy(ea, ta, (size_t)m * sizeof(int64_t));
        memcpy(eb, tb, (size_t)m * sizeof(int64_t));
        memcpy(w, tw, (size_t)m * sizeof(double));
        s = FM_STATUS_OK;
    }
    fm_free(perm);
    fm_free(ta);
    fm_free(tb);
    fm_free(tw);
    return s;
}
