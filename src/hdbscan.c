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

#include <float.h>
#include <math.h>
#include <string.h>

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

/* ================================================================ Prim (high dimensions) */

#define PRIM_CHUNK 2048

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

fm_status fm_hdbscan_mst_prim(int64_t *ea, int64_t *eb, double *w, const float *x, const double *core,
                              int64_t n, int64_t d)
{
    if (n < 1 || d < 1) return FM_STATUS_ARG;
    if (n == 1) return FM_STATUS_OK;
    /* rest: the points not yet in the tree, compacted (order changes, so ties are broken by
     * point index explicitly); best/src: their mutual-reachability distance to the tree */
    int64_t *rest = fm_alloc((size_t)n, sizeof(int64_t));
    int64_t *src = fm_alloc((size_t)n, sizeof(int64_t));
    double *best = fm_alloc((size_t)n, sizeof(double));
    int64_t nchunk_max = (n + PRIM_CHUNK - 1) / PRIM_CHUNK;
    double *cb = fm_alloc((size_t)nchunk_max, sizeof(double));
    int64_t *cj = fm_alloc((size_t)nchunk_max, sizeof(int64_t));
    fm_status st = FM_STATUS_NOMEM;
    if (!rest || !src || !best || !cb || !cj) goto done;
    for (int64_t i = 0; i < n; i++) { rest[i] = i; best[i] = DBL_MAX; src[i] = 0; }
    int64_t nrest = n, cur = 0;
    rest[0] = rest[--nrest];   /* point 0 starts the tree */
    for (int64_t e = 0; e < n - 1; e++) {
        const float *xc = x + cur * d;
        double cc = core[cur];
        int64_t nch = (nrest + PRIM_CHUNK - 1) / PRIM_CHUNK;
        /* threads only when a step has enough work: a barrier per step costs more otherwise */
#pragma omp parallel for schedule(static) if (nrest * d >= ((int64_t)1 << 18))
        for (int64_t c = 0; c < nch; c++) {
            double bv = DBL_MAX;
            int64_t bj = -1;
            int64_t lo = c * PRIM_CHUNK, hi = lo + PRIM_CHUNK < nrest ? lo + PRIM_CHUNK : nrest;
            for (int64_t r = lo; r < hi; r++) {
                int64_t j = rest[r];
                /* mr(cur, j) ≥ max(core(cur), core(j)): when best[j] is already that low the
                 * distance cannot improve it, and most of the time nothing is computed */
                double lb = cc > core[j] ? cc : core[j];
                if (lb < best[j]) {
                    double mr = sqrt(sqdist_lanes(xc, x + j * d, d));
                    if (lb > mr) mr = lb;
                    if (mr < best[j]) { best[j] = mr; src[j] = cur; }
                }
                if (best[j] < bv || (best[j] == bv && j < bj)) { bv = best[j]; bj = r < 0 ? -1 : j; }
            }
            cb[c] = bv;
            cj[c] = bj;
        }
        double bv = DBL_MAX;
        int64_t bj = -1;
        for (int64_t c = 0; c < nch; c++)
            if (cj[c] >= 0 && (cb[c] < bv || (cb[c] == bv && cj[c] < bj))) { bv = cb[c]; bj = cj[c]; }
        if (bj < 0) { st = FM_STATUS_NUMERIC; goto done; }
        ea[e] = src[bj];
        eb[e] = bj;
        w[e] = bv;
        for (int64_t r = 0; r < nrest; r++)
            if (rest[r] == bj) { rest[r] = rest[--nrest]; break; }
        cur = bj;
    }
    st = FM_STATUS_OK;
done:
    fm_free(rest);
    fm_free(src);
    fm_free(best);
    fm_free(cb);
    fm_free(cj);
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
