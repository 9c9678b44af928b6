/* optics.c — OPTICS ordering, reachability and the DBSCAN cut (see optics.h). */
#include "optics.h"
#include "kdtree.h"
#include "knn.h"

#include <math.h>
#include <string.h>

/* np.around(x, 15): scale, round half to even, scale back (the same arithmetic as numpy) */
static inline double round15(double x)
{
    if (!isfinite(x)) return x;
    return nearbyint(x * 1e15) / 1e15;
}

fm_status fm_optics_core_distances(double *core, const double *x, int64_t n, int64_t d, int64_t min_samples,
                                   double max_eps)
{
    if (n < 1 || d < 1 || min_samples < 1 || min_samples > n) return FM_STATUS_ARG;
    int64_t k = min_samples;
    fm_status s;
    if (k == 1) {
        for (int64_t i = 0; i < n; i++) core[i] = 0;
        s = FM_STATUS_OK;
    } else if (d <= 60) {
        fm_kdtree t;
        s = fm_kdtree_build_f64(&t, x, n, d, 40);
        if (s != FM_STATUS_OK) return s;
        int64_t block = 8192;
        double *rd = fm_alloc((size_t)(block * k), sizeof(double));
        if (!rd) { fm_kdtree_free(&t); return FM_STATUS_NOMEM; }
        for (int64_t b = 0; b < n && s == FM_STATUS_OK; b += block) {
            int64_t m = n - b < block ? n - b : block;
            s = fm_kdtree_knn(NULL, rd, &t, t.tdata + b * d, m, k);
            for (int64_t i = 0; i < m && s == FM_STATUS_OK; i++) core[t.idx[b + i]] = sqrt(rd[i * k + k - 1]);
        }
        fm_free(rd);
        fm_kdtree_free(&t);
    } else {
        /* the (k−1)-th other point by exact GEMM kNN, its distance recomputed in double */
        int64_t kk = k - 1;
        int32_t *idx = fm_alloc((size_t)(n * kk), sizeof(int32_t));
        float *dist = fm_alloc((size_t)(n * kk), sizeof(float));
        float *xf = fm_alloc((size_t)(n * d), sizeof(float));
        s = FM_STATUS_NOMEM;
        if (xf) for (int64_t i = 0; i < n * d; i++) xf[i] = (float)x[i];
        if (idx && dist && xf) s = fm_knn_exact(idx, dist, xf, n, xf, n, d, kk, FM_KNN_EUCLIDEAN, 1);
        fm_free(xf);
        if (s == FM_STATUS_OK) {
#pragma omp parallel for schedule(static)
            for (int64_t i = 0; i < n; i++) {
                const double *a = x + i * d, *b = x + (int64_t)idx[i * kk + kk - 1] * d;
                double r = 0;
                for (int64_t j = 0; j < d; j++) {
                    double u = a[j] - b[j];
                    r += u * u;
                }
                core[i] = sqrt(r);
            }
        }
        fm_free(idx);
        fm_free(dist);
    }
    if (s != FM_STATUS_OK) return s;
    for (int64_t i = 0; i < n; i++) core[i] = core[i] > max_eps ? INFINITY : round15(core[i]);
    return FM_STATUS_OK;
}

#define OPT_CHUNK 2048

fm_status fm_optics_order(int64_t *ordering, double *reach, int64_t *pred, const double *xd, const double *core,
                          int64_t n, int64_t d, double max_eps)
{
    if (n < 1 || d < 1) return FM_STATUS_ARG;
    /* The unprocessed points live in compact arrays (swap-remove): their ids, reachabilities and
     * coordinates by column (cx[t·n + r]), so a step scans contiguous memory and the distance
     * loop vectorises across points. Each point's sum still runs over the coordinates in order. */
    int64_t *rid = fm_alloc((size_t)n, sizeof(int64_t));
    int64_t *pos = fm_alloc((size_t)n, sizeof(int64_t));   /* pos[j]: where j sits */
    double *rr = fm_alloc((size_t)n, sizeof(double));
    double *cx = fm_alloc((size_t)(n * d), sizeof(double));
    int64_t nch_max = (n + OPT_CHUNK - 1) / OPT_CHUNK;
    double *cb = fm_alloc((size_t)nch_max, sizeof(double));
    int64_t *cj = fm_alloc((size_t)nch_max, sizeof(int64_t));
    if (!rid || !pos || !rr || !cx || !cb || !cj) {
        fm_free(rid); fm_free(pos); fm_free(rr); fm_free(cx); fm_free(cb); fm_free(cj);
        return FM_STATUS_NOMEM;
    }
    for (int64_t i = 0; i < n; i++) {
        rid[i] = i;
        pos[i] = i;
        rr[i] = reach[i] = INFINITY;
        pred[i] = -1;
        for (int64_t t = 0; t < d; t++) cx[t * n + i] = xd[i * d + t];
    }
    int64_t nrest = n, next = 0;   /* all reachabilities are inf: the smallest index goes first */
    for (int64_t o = 0; o < n; o++) {
        int64_t p = next;
        ordering[o] = p;
        /* swap-remove p (order does not matter: ties are broken by index explicitly) */
        int64_t r0 = pos[p], last = --nrest;
        if (r0 != last) {
            int64_t q = rid[last];
            rid[r0] = q;
            rr[r0] = rr[last];
            pos[q] = r0;
            for (int64_t t = 0; t < d; t++) cx[t * n + r0] = cx[t * n + last];
        }
        if (nrest == 0) break;
        int upd = isfinite(core[p]);
        const double *xp = xd + p * d;
        double cp = core[p];
        int64_t nch = (nrest + OPT_CHUNK - 1) / OPT_CHUNK;
        /* threads only for steps with enough work: one barrier per step costs more otherwise */
#pragma omp parallel for schedule(static) if (nrest * d >= ((int64_t)1 << 20))
        for (int64_t c = 0; c < nch; c++) {
            int64_t lo = c * OPT_CHUNK, hi = lo + OPT_CHUNK < nrest ? lo + OPT_CHUNK : nrest;
            double acc[OPT_CHUNK];
            if (upd) {
                for (int64_t r = lo; r < hi; r++) acc[r - lo] = 0;
                for (int64_t t = 0; t < d; t++) {
                    const double *col = cx + t * n;
                    double xt = xp[t];
                    for (int64_t r = lo; r < hi; r++) {
                        double u = xt - col[r];
                        acc[r - lo] += u * u;
                    }
                }
            }
            double bv = INFINITY;
            int64_t bj = -1;
            for (int64_t r = lo; r < hi; r++) {
                int64_t j = rid[r];
                /* the new reachability is ≥ core(p): no improvement once rr[r] is that low */
                if (upd && cp < rr[r]) {
                    double dist = sqrt(acc[r - lo]);
                    if (dist <= max_eps) {
                        double rd = round15(dist > cp ? dist : cp);
                        if (rd < rr[r]) { rr[r] = reach[j] = rd; pred[j] = p; }
                    }
                }
                double v = rr[r];
                if (bj < 0 || v < bv || (v == bv && j < bj)) { bv = v; bj = j; }
            }
            cb[c] = bv;
            cj[c] = bj;
        }
        double bv = INFINITY;
        int64_t bj = -1;
        for (int64_t c = 0; c < nch; c++)
            if (cj[c] >= 0 && (bj < 0 || cb[c] < bv || (cb[c] == bv && cj[c] < bj))) { bv = cb[c]; bj = cj[c]; }
        next = bj;
    }
    fm_free(rid);
    fm_free(pos);
    fm_free(rr);
    fm_free(cx);
    fm_free(cb);
    fm_free(cj);
    return FM_STATUS_OK;
}

fm_status fm_optics_cut(int32_t *labels, const double *reach, const double *core, const int64_t *ordering,
                        int64_t n, double eps)
{
    int32_t c = -1;
    for (int64_t o = 0; o < n; o++) {
        int64_t p = ordering[o];
        if (reach[p] > eps && core[p] <= eps) c++;
        labels[p] = c;
    }
    for (int64_t i = 0; i < n; i++)
        if (reach[i] > eps && !(core[i] <= eps)) labels[i] = -1;
    return FM_STATUS_OK;
}
