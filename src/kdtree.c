/* kdtree.c — scikit-learn's kd-tree, rebuilt: see kdtree.h.
 *
 * Why the exact replica: hdbscan's default minimum spanning tree (dual-tree Borůvka with
 * approx_min_span_tree=True) is not always a minimum one, and which edges it picks depends on the
 * order the traversal meets nodes and points. Matching hdbscan's clusters therefore needs the very
 * same tree: the median split is std::nth_element (libstdc++'s introselect) with a comparator
 * that orders by value and then by index, and the order it leaves points in a leaf decides ties.
 */
#include "kdtree.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void fm_kdtree_free(fm_kdtree *t)
{
    if (!t) return;
    fm_free(t->data);
    fm_free(t->tdata);
    fm_free(t->tcol);
    fm_free(t->idx);
    fm_free(t->start);
    fm_free(t->end);
    fm_free(t->is_leaf);
    fm_free(t->radius);
    fm_free(t->lower);
    fm_free(t->upper);
    memset(t, 0, sizeof *t);
}

/* ---- libstdc++'s std::nth_element on an index array, order (value of column c, index) ---- */

typedef struct { const double *x; int64_t d, c; } cmp_ctx;

static inline int lt(const cmp_ctx *k, int64_t a, int64_t b)
{
    double va = k->x[a * k->d + k->c], vb = k->x[b * k->d + k->c];
    return va == vb ? a < b : va < vb;
}

static inline void swap_i(int64_t *a, int64_t *b) { int64_t t = *a; *a = *b; *b = t; }

static void move_median_to_first(const cmp_ctx *k, int64_t *result, int64_t *a, int64_t *b, int64_t *c)
{
    if (lt(k, *a, *b)) {
        if (lt(k, *b, *c)) swap_i(result, b);
        else if (lt(k, *a, *c)) swap_i(result, c);
        else swap_i(result, a);
    } else if (lt(k, *a, *c)) swap_i(result, a);
    else if (lt(k, *b, *c)) swap_i(result, c);
    else swap_i(result, b);
}

static int64_t *unguarded_partition(const cmp_ctx *k, int64_t *first, int64_t *last, int64_t *pivot)
{
    for (;;) {
        while (lt(k, *first, *pivot)) first++;
        last--;
        while (lt(k, *pivot, *last)) last--;
        if (!(first < last)) return first;
        swap_i(first, last);
        first++;
    }
}

static void insertion_sort(const cmp_ctx *k, int64_t *first, int64_t *last)
{
    if (first == last) return;
    for (int64_t *i = first + 1; i != last; i++) {
        int64_t v = *i;
        if (lt(k, v, *first)) {
            memmove(first + 1, first, (size_t)(i - first) * sizeof *i);
            *first = v;
        } else {
            int64_t *p = i, *q = i - 1;
            while (lt(k, v, *q)) { *p = *q; p = q; q--; }
            *p = v;
        }
    }
}

/* heap selection, the introselect fallback when the depth limit runs out (never on real data,
 * but kept so the result is a valid partition in every case) */
static void sift_down(const cmp_ctx *k, int64_t *a, int64_t hole, int64_t len, int64_t v)
{
    int64_t top = hole, child = hole;
    while (child < (len - 1) / 2) {
        child = 2 * (child + 1);
        if (lt(k, a[child], a[child - 1])) child--;
        a[hole] = a[child];
        hole = child;
    }
    if ((len & 1) == 0 && child == (len - 2) / 2) {
        child = 2 * (child + 1);
        a[hole] = a[child - 1];
        hole = child - 1;
    }
    int64_t parent = (hole - 1) / 2;
    while (hole > top && lt(k, a[parent], v)) {
        a[hole] = a[parent];
        hole = parent;
        parent = (hole - 1) / 2;
    }
    a[hole] = v;
}

static void heap_select(const cmp_ctx *k, int64_t *first, int64_t *middle, int64_t *last)
{
    int64_t len = middle - first;
    if (len >= 2)
        for (int64_t p = (len - 2) / 2;; p--) {
            sift_down(k, first, p, len, first[p]);
            if (p == 0) break;
        }
    for (int64_t *i = middle; i < last; i++)
        if (lt(k, *i, *first)) {
            int64_t v = *i;
            *i = *first;
            sift_down(k, first, 0, len, v);
        }
}

static void nth_element(const cmp_ctx *k, int64_t *first, int64_t *nth, int64_t *last)
{
    if (first == last || nth == last) return;
    int64_t n = last - first, lg = 0;
    while (n > 1) { n >>= 1; lg++; }
    int64_t depth = 2 * lg;
    while (last - first > 3) {
        if (depth == 0) {
            heap_select(k, first, nth + 1, last);
            swap_i(first, nth);
            return;
        }
        depth--;
        int64_t *mid = first + (last - first) / 2;
        move_median_to_first(k, first, first + 1, mid, last - 1);
        int64_t *cut = unguarded_partition(k, first + 1, last, first);
        if (cut <= nth) first = cut;
        else last = cut;
    }
    insertion_sort(k, first, last);
}

/* ---- build ---- */

static void init_node(fm_kdtree *t, int64_t i, int64_t s, int64_t e)
{
    int64_t d = t->d;
    double *lo = t->lower + i * d, *hi = t->upper + i * d;
    for (int64_t j = 0; j < d; j++) { lo[j] = INFINITY; hi[j] = -INFINITY; }
    for (int64_t p = s; p < e; p++) {
        const double *r = t->data + t->idx[p] * d;
        for (int64_t j = 0; j < d; j++) {   /* finite data: plain comparisons (fmin is a call) */
            if (r[j] < lo[j]) lo[j] = r[j];
            if (r[j] > hi[j]) hi[j] = r[j];
        }
    }
    double rad = 0;
    for (int64_t j = 0; j < d; j++) {
        double h = 0.5 * fabs(hi[j] - lo[j]);
        rad += h * h;
    }
    t->start[i] = s;
    t->end[i] = e;
    t->radius[i] = sqrt(rad);
}

static int64_t split_dim(const fm_kdtree *t, const int64_t *ids, int64_t np)
{
    int64_t d = t->d, jmax = 0;
    double best = 0;
    for (int64_t j = 0; j < d; j++) {
        double mx = t->data[ids[0] * d + j], mn = mx;
        for (int64_t i = 1; i < np; i++) {
            double v = t->data[ids[i] * d + j];
            if (v > mx) mx = v;
            if (v < mn) mn = v;
        }
        if (mx - mn > best) { best = mx - mn; jmax = j; }
    }
    return jmax;
}

static void build_rec(fm_kdtree *t, int64_t i, int64_t s, int64_t e)
{
    init_node(t, i, s, e);
    int64_t np = e - s;
    if (2 * i + 1 >= t->n_nodes || np < 2) {
        t->is_leaf[i] = 1;
        return;
    }
    t->is_leaf[i] = 0;
    int64_t *ids = t->idx + s;
    cmp_ctx k = {t->data, t->d, split_dim(t, ids, np)};
    int64_t mid = np / 2;
    nth_element(&k, ids, ids + mid, ids + np);
    build_rec(t, 2 * i + 1, s, s + mid);
    build_rec(t, 2 * i + 2, s + mid, e);
}

static fm_status build_any(fm_kdtree *t, const float *x, const double *x64, int64_t n, int64_t d,
                           int64_t leaf_size);

fm_status fm_kdtree_build(fm_kdtree *t, const float *x, int64_t n, int64_t d, int64_t leaf_size)
{
    return build_any(t, x, NULL, n, d, leaf_size);
}

fm_status fm_kdtree_build_f64(fm_kdtree *t, const double *x, int64_t n, int64_t d, int64_t leaf_size)
{
    return build_any(t, NULL, x, n, d, leaf_size);
}

static fm_status build_any(fm_kdtree *t, const float *x, const double *x64, int64_t n, int64_t d,
                           int64_t leaf_size)
{
    memset(t, 0, sizeof *t);
    if (n < 1 || d < 1 || leaf_size < 1 || (!x && !x64)) return FM_STATUS_ARG;
    t->n = n;
    t->d = d;
    t->leaf_size = leaf_size;
    /* scikit-learn: n_levels = int(log2(max(1, (n − 1) / leaf_size)) + 1) */
    double r = (double)(n - 1) / (double)leaf_size;
    t->n_levels = (int64_t)(log2(r > 1 ? r : 1) + 1);
    t->n_nodes = ((int64_t)1 << t->n_levels) - 1;
    int64_t m = t->n_nodes;
    t->data = fm_alloc((size_t)(n * d), sizeof(double));
    t->idx = fm_alloc((size_t)n, sizeof(int64_t));
    t->start = fm_alloc((size_t)m, sizeof(int64_t));
    t->end = fm_alloc((size_t)m, sizeof(int64_t));
    t->is_leaf = fm_alloc((size_t)m, 1);
    t->radius = fm_alloc((size_t)m, sizeof(double));
    t->lower = fm_alloc((size_t)(m * d), sizeof(double));
    t->upper = fm_alloc((size_t)(m * d), sizeof(double));
    if (!t->data || !t->idx || !t->start || !t->end || !t->is_leaf || !t->radius || !t->lower || !t->upper) {
        fm_kdtree_free(t);
        return FM_STATUS_NOMEM;
    }
    for (int64_t i = 0; i < n * d; i++) t->data[i] = x ? (double)x[i] : x64[i];
    for (int64_t i = 0; i < n; i++) t->idx[i] = i;
    build_rec(t, 0, 0, n);
    t->tdata = fm_alloc((size_t)(n * d), sizeof(double));
    t->tcol = fm_alloc((size_t)(n * d), sizeof(double));
    if (!t->tdata || !t->tcol) {
        fm_kdtree_free(t);
        return FM_STATUS_NOMEM;
    }
    for (int64_t p = 0; p < n; p++) {
        memcpy(t->tdata + p * d, t->data + t->idx[p] * d, (size_t)d * sizeof(double));
        for (int64_t j = 0; j < d; j++) t->tcol[j * n + p] = t->data[t->idx[p] * d + j];
    }
    t->max_leaf = 1;
    for (int64_t i = 0; i < t->n_nodes; i++)
        if (t->is_leaf[i] && t->end[i] - t->start[i] > t->max_leaf) t->max_leaf = t->end[i] - t->start[i];
    return FM_STATUS_OK;
}

/* ---- k nearest neighbours: depth-first, nearer child first ----
 * Candidates at or below the current k-th distance τ go into a buffer; when it holds 2k, a
 * selection keeps the k smallest (by distance, then index) and τ drops to the k-th. Each point
 * costs O(1) amortised, which matters for the large k of core distances (min_samples up to 1000). */

typedef struct { double r; int32_t i; } kn_item;

static inline int kn_less(kn_item a, kn_item b) { return a.r < b.r || (a.r == b.r && a.i < b.i); }

/* put the k smallest of a[0..m-1] first (any order), k < m: quickselect, median of three */
static void kn_select(kn_item *a, int64_t m, int64_t k)
{
    int64_t lo = 0, hi = m - 1;
    while (hi > lo) {
        int64_t mid = lo + (hi - lo) / 2;
        /* median of a[lo], a[mid], a[hi] to a[mid] */
        if (kn_less(a[mid], a[lo])) { kn_item t = a[mid]; a[mid] = a[lo]; a[lo] = t; }
        if (kn_less(a[hi], a[mid])) { kn_item t = a[hi]; a[hi] = a[mid]; a[mid] = t; }
        if (kn_less(a[mid], a[lo])) { kn_item t = a[mid]; a[mid] = a[lo]; a[lo] = t; }
        kn_item pv = a[mid];
        int64_t i = lo, j = hi;
        while (i <= j) {
            while (kn_less(a[i], pv)) i++;
            while (kn_less(pv, a[j])) j--;
            if (i <= j) {
                kn_item t = a[i]; a[i] = a[j]; a[j] = t;
                i++;
                j--;
            }
        }
        /* now a[lo..j] ≤ pv ≤ a[i..hi] */
        if (k - 1 <= j) hi = j;
        else if (k - 1 >= i) lo = i;
        else return;
    }
}

static inline double point_box_rdist(const fm_kdtree *t, int64_t node, const double *q)
{
    const double *lo = t->lower + node * t->d, *hi = t->upper + node * t->d;
    double r = 0;
    for (int64_t j = 0; j < t->d; j++) {
        double a = lo[j] - q[j], b = q[j] - hi[j];
        double g = a > 0 ? a : (b > 0 ? b : 0);
        r += g * g;
    }
    return r;
}

typedef struct {
    kn_item *buf;   /* 2k + max_leaf */
    int64_t cnt, k;
    double tau;     /* the k-th smallest distance so far (inf until k are known) */
    double *acc;    /* max_leaf */
    double *scratch;   /* like buf */
} kn_query;

/* the k-th smallest of v[0..m-1] (v is scrambled): quickselect on plain doubles */
static double kth_value(double *v, int64_t m, int64_t k)
{
    int64_t lo = 0, hi = m - 1, want = k - 1;
    while (hi > lo) {
        int64_t mid = lo + (hi - lo) / 2;
        double a = v[lo], b = v[mid], c = v[hi];
        double pv = a < b ? (b < c ? b : (a < c ? c : a)) : (a < c ? a : (b < c ? c : b));
        int64_t i = lo, j = hi;
        while (i <= j) {
            while (v[i] < pv) i++;
            while (pv < v[j]) j--;
            if (i <= j) {
                double t = v[i]; v[i] = v[j]; v[j] = t;
                i++;
                j--;
            }
        }
        if (want <= j) hi = j;
        else if (want >= i) lo = i;
        else return v[want];
    }
    return v[want];
}

/* keep the candidates at or below the k-th smallest distance (ties at it stay: the final
 * selection by (distance, index) sorts them out) and lower τ to it */
static void kn_compact(kn_query *Q)
{
    double *v = Q->scratch;
    for (int64_t i = 0; i < Q->cnt; i++) v[i] = Q->buf[i].r;
    double tau = kth_value(v, Q->cnt, Q->k);
    int64_t c = 0;
    for (int64_t i = 0; i < Q->cnt; i++)
        if (Q->buf[i].r <= tau) Q->buf[c++] = Q->buf[i];
    Q->cnt = c;
    Q->tau = tau;
    if (c > Q->k + Q->k / 2) {   /* many ties at τ (duplicates): cut to exactly k by (r, index) */
        kn_select(Q->buf, c, Q->k);
        Q->cnt = Q->k;
    }
}

static void knn_rec(const fm_kdtree *t, int64_t node, double node_r, const double *q, kn_query *Q)
{
    if (node_r > Q->tau) return;
    if (t->is_leaf[node]) {
        /* all the leaf's squared distances at once, column by column: each point's sum still
         * runs over the coordinates in order, so it equals fm_kdtree_rdist bit for bit */
        int64_t s = t->start[node], L = t->end[node] - s, n = t->n;
        double *acc = Q->acc;
        for (int64_t p = 0; p < L; p++) acc[p] = 0;
        for (int64_t j = 0; j < t->d; j++) {
            const double *col = t->tcol + j * n + s;
            double qj = q[j];
            for (int64_t p = 0; p < L; p++) {
                double u = qj - col[p];
                acc[p] += u * u;
            }
        }
        double tau = Q->tau;
        for (int64_t p = 0; p < L; p++)
            if (acc[p] <= tau) {
                Q->buf[Q->cnt].r = acc[p];
                Q->buf[Q->cnt].i = (int32_t)t->idx[s + p];
                Q->cnt++;
            }
        if (Q->cnt >= 2 * Q->k || (Q->cnt >= Q->k && Q->tau == INFINITY)) kn_compact(Q);
        return;
    }
    int64_t a = 2 * node + 1, b = a + 1;
    double ra = point_box_rdist(t, a, q), rb = point_box_rdist(t, b, q);
    if (rb < ra) {
        int64_t s = a; a = b; b = s;
        double sr = ra; ra = rb; rb = sr;
    }
    knn_rec(t, a, ra, q, Q);
    knn_rec(t, b, rb, q, Q);
}

static int kn_cmp(const void *pa, const void *pb)
{
    const kn_item *a = pa, *b = pb;
    if (kn_less(*a, *b)) return -1;
    if (kn_less(*b, *a)) return 1;
    return 0;
}

static fm_status knn_any(int32_t *idx, double *rdist, double *kth, const fm_kdtree *t, const double *q,
                         int64_t m, int64_t k);

fm_status fm_kdtree_knn(int32_t *idx, double *rdist, const fm_kdtree *t, const double *q, int64_t m,
                        int64_t k)
{
    return knn_any(idx, rdist, NULL, t, q, m, k);
}

fm_status fm_kdtree_kth(double *kth, int32_t *idx, const fm_kdtree *t, const double *q, int64_t m, int64_t k)
{
    return knn_any(idx, NULL, kth, t, q, m, k);
}

static fm_status knn_any(int32_t *idx, double *rdist, double *kth, const fm_kdtree *t, const double *q,
                         int64_t m, int64_t k)
{
    if (k < 1 || k > t->n || m < 0 || t->n > INT32_MAX) return FM_STATUS_ARG;
    int failed = 0;
#pragma omp parallel
    {
        kn_query Q = {.k = k};
        Q.buf = fm_alloc((size_t)(2 * k + t->max_leaf + 1), sizeof(kn_item));
        Q.scratch = fm_alloc((size_t)(2 * k + t->max_leaf + 1), sizeof(double));
        Q.acc = fm_alloc((size_t)t->max_leaf, sizeof(double));
        if (!Q.buf || !Q.acc || !Q.scratch) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(dynamic, 64)
        for (int64_t i = 0; i < m; i++) {
            if (!Q.buf || !Q.acc || !Q.scratch) continue;
            Q.cnt = 0;
            Q.tau = INFINITY;
            const double *qi = q + i * t->d;
            knn_rec(t, 0, point_box_rdist(t, 0, qi), qi, &Q);
            if (kth && !idx) {   /* only the k-th distance: no selection of the points */
                for (int64_t j = 0; j < Q.cnt; j++) Q.scratch[j] = Q.buf[j].r;
                kth[i] = kth_value(Q.scratch, Q.cnt, k);
                continue;
            }
            if (Q.cnt > k) kn_select(Q.buf, Q.cnt, k);
            if (kth) {   /* the set is enough: no sort */
                double mx = Q.buf[0].r;
                for (int64_t j = 1; j < k; j++) if (Q.buf[j].r > mx) mx = Q.buf[j].r;
                kth[i] = mx;
            } else {
                qsort(Q.buf, (size_t)k, sizeof *Q.buf, kn_cmp);
            }
            for (int64_t j = 0; j < k; j++) {
                if (idx) idx[i * k + j] = Q.buf[j].i;
                if (rdist) rdist[i * k + j] = Q.buf[j].r;
            }
        }
        fm_free(Q.buf);
        fm_free(Q.acc);
        fm_free(Q.scratch);
    }
    return failed ? FM_STATUS_NOMEM : FM_STATUS_OK;
}

/* ---- nearest point below a weight (Borůvka's first round) ---- */

typedef struct { double r; int64_t q; } nb_best;

static void nb_rec(const fm_kdtree *t, int64_t node, double node_r, int64_t p, const double *xp,
                   const double *w, nb_best *b)
{
    if (node_r > b->r) return;
    if (t->is_leaf[node]) {
        double wp = w[p];
        for (int64_t i = t->start[node]; i < t->end[node]; i++) {
            int64_t q = t->idx[i];
            if (q == p || w[q] > wp) continue;
            double r = fm_kdtree_rdist(xp, t->tdata + i * t->d, t->d);
            if (r < b->r || (r == b->r && (b->q < 0 || q < b->q))) { b->r = r; b->q = q; }
        }
        return;
    }
    int64_t a = 2 * node + 1, c = a + 1;
    double ra = point_box_rdist(t, a, xp), rc = point_box_rdist(t, c, xp);
    if (rc < ra) {
        int64_t s = a; a = c; c = s;
        double sr = ra; ra = rc; rc = sr;
    }
    nb_rec(t, a, ra, p, xp, w, b);
    nb_rec(t, c, rc, p, xp, w, b);
}

fm_status fm_kdtree_nearest_below(int64_t *nb, const fm_kdtree *t, const double *w, const double *radius2)
{
#pragma omp parallel for schedule(dynamic, 256)
    for (int64_t p = 0; p < t->n; p++) {
        const double *xp = t->data + p * t->d;
        nb_best b = {radius2[p], -1};
        nb_rec(t, 0, point_box_rdist(t, 0, xp), p, xp, w, &b);
        nb[p] = b.q;
    }
    return FM_STATUS_OK;
}
