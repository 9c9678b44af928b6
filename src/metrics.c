/* metrics.c — external clustering metrics on a contingency table.
 *
 * The values follow scikit-learn 1.2.1: adjusted_rand_score, adjusted_mutual_info_score and
 * normalized_mutual_info_score (arithmetic mean), homogeneity / completeness / v_measure
 * (beta = 1), mutual information in nats. Accuracy is the share of points on the pairs chosen
 * by an optimal one-to-one matching of classes to clusters (what scipy's
 * linear_sum_assignment gives on the contingency table).
 *
 * Everything works from the r×c table of counts. Building it is O(n) when the label values
 * span a small range (the usual 0..k-1 and -1), O(n log n) otherwise (radix sort, binary
 * searches). The rest costs O(r·c), except the expected mutual information (at most
 * Σ min(a_i, b_j) hypergeometric terms, in practice those near each mode) and the matching
 * (O(min(r,c)² · max(r,c))). The table is dense: two labellings with tens of thousands of
 * clusters each would not fit (FM_STATUS_NOMEM).
 */
#include "fm.h"

#include <float.h>
#include <math.h>
#include <string.h>

/* ------------------------------------------------------------------ the contingency table */

/* int32 → uint32 key with the same order */
static inline uint32_t order_key(int32_t v) { return (uint32_t)v ^ 0x80000000u; }

/* sort x (n) ascending by LSD radix passes of 8 bits, tmp (n) as scratch */
static void radix_sort_i32(int32_t *x, int32_t *tmp, int64_t n)
{
    int64_t count[256];
    int32_t *src = x, *dst = tmp;
    for (int shift = 0; shift < 32; shift += 8) {
        memset(count, 0, sizeof count);
        for (int64_t i = 0; i < n; i++) count[(order_key(src[i]) >> shift) & 0xff]++;
        int64_t sum = 0;
        for (int k = 0; k < 256; k++) { int64_t c = count[k]; count[k] = sum; sum += c; }
        for (int64_t i = 0; i < n; i++) dst[count[(order_key(src[i]) >> shift) & 0xff]++] = src[i];
        int32_t *t = src; src = dst; dst = t;
    }
    /* an even number of passes: the sorted data is back in x */
}

/* index of v in the ascending distinct vals (k), v known to be there; branch-free steps, since
 * labels in random order would mispredict every comparison */
static inline int64_t find_value(const int32_t *vals, int64_t k, int32_t v)
{
    const int32_t *base = vals;
    while (k > 1) {
        int64_t half = k / 2;
        base = base[half] <= v ? base + half : base;
        k -= half;
    }
    return base - vals;
}

/* The distinct values of x (n > 0) ascending into *vals (fm_alloc'ed, *k of them), and the rank
 * of each point's value into idx (n). Labels usually span a small range (0..k-1, -1 for noise):
 * then a table over the range does it in O(n); otherwise a radix sort and binary searches. */
static fm_status rank_values(int32_t **vals, int64_t *k, int32_t *idx, const int32_t *x, int64_t n)
{
    int32_t lo = x[0], hi = x[0];
    for (int64_t i = 1; i < n; i++) {
        lo = x[i] < lo ? x[i] : lo;
        hi = x[i] > hi ? x[i] : hi;
    }
    int64_t range = (int64_t)hi - lo + 1;
    if (range <= n + 65536) {
        int32_t *rank = fm_alloc((size_t)range, sizeof *rank);   /* 0 absent, else rank + 1 */
        if (!rank) return FM_STATUS_NOMEM;
        for (int64_t i = 0; i < n; i++) rank[x[i] - (int64_t)lo] = 1;
        int64_t m = 0;
        for (int64_t v = 0; v < range; v++)
            if (rank[v]) rank[v] = (int32_t)++m;
        int32_t *out = fm_alloc((size_t)m, sizeof *out);
        if (!out) { fm_free(rank); return FM_STATUS_NOMEM; }
        for (int64_t v = 0; v < range; v++)
            if (rank[v]) out[rank[v] - 1] = (int32_t)(v + lo);
        for (int64_t i = 0; i < n; i++) idx[i] = rank[x[i] - (int64_t)lo] - 1;
        fm_free(rank);
        *vals = out;
        *k = m;
        return FM_STATUS_OK;
    }
    int32_t *s = fm_alloc((size_t)n, sizeof *s), *tmp = fm_alloc((size_t)n, sizeof *tmp);
    if (!s || !tmp) { fm_free(s); fm_free(tmp); return FM_STATUS_NOMEM; }
    memcpy(s, x, (size_t)n * sizeof *s);
    radix_sort_i32(s, tmp, n);
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++)
        if (i == 0 || s[i] != s[m - 1]) s[m++] = s[i];
    fm_free(tmp);
    int32_t *out = fm_alloc((size_t)m, sizeof *out);
    if (!out) { fm_free(s); return FM_STATUS_NOMEM; }
    memcpy(out, s, (size_t)m * sizeof *out);
    fm_free(s);
    for (int64_t i = 0; i < n; i++) idx[i] = (int32_t)find_value(out, m, x[i]);
    *vals = out;
    *k = m;
    return FM_STATUS_OK;
}

void fm_contingency_free(fm_contingency *ct)
{
    if (!ct) return;
    fm_free(ct->table);
    fm_free(ct->row_vals);
    fm_free(ct->col_vals);
    memset(ct, 0, sizeof *ct);
}

/* truth, pred are (n); ct->table becomes r×c with r, c the numbers of distinct values */
fm_status fm_contingency_build(fm_contingency *ct, const int32_t *truth, const int32_t *pred, int64_t n)
{
    if (!ct) return FM_STATUS_ARG;
    memset(ct, 0, sizeof *ct);
    if (!truth || !pred || n <= 0 || n > INT32_MAX) return FM_STATUS_ARG;
    int32_t *ti = fm_alloc((size_t)n, sizeof *ti), *pi = fm_alloc((size_t)n, sizeof *pi);
    fm_status s = (ti && pi) ? FM_STATUS_OK : FM_STATUS_NOMEM;
    if (s == FM_STATUS_OK) s = rank_values(&ct->row_vals, &ct->r, ti, truth, n);
    if (s == FM_STATUS_OK) s = rank_values(&ct->col_vals, &ct->c, pi, pred, n);
    /* dense r×c: fine for the class counts met in practice (10 × a few thousand clusters);
     * fm_alloc refuses a product that overflows */
    if (s == FM_STATUS_OK && !(ct->table = fm_alloc((size_t)ct->r * (size_t)ct->c, sizeof(int64_t))))
        s = FM_STATUS_NOMEM;
    if (s == FM_STATUS_OK) {
        for (int64_t i = 0; i < n; i++) ct->table[(int64_t)ti[i] * ct->c + pi[i]]++;
        ct->n = n;
    } else {
        fm_contingency_free(ct);
    }
    fm_free(ti);
    fm_free(pi);
    return s;
}

/* row sums a (r) and column sums b (c) of the table */
static void margins(int64_t *a, int64_t *b, const fm_contingency *ct)
{
    memset(a, 0, (size_t)ct->r * sizeof *a);
    memset(b, 0, (size_t)ct->c * sizeof *b);
    for (int64_t i = 0; i < ct->r; i++)
        for (int64_t j = 0; j < ct->c; j++) {
            int64_t v = ct->table[i * ct->c + j];
            a[i] += v;
            b[j] += v;
        }
}

static int valid(const fm_contingency *ct)
{
    return ct && ct->table && ct->n > 0 && ct->r > 0 && ct->c > 0;
}

/* ------------------------------------------------------------------ adjusted Rand index */

/* Pair counts overflow int64 for a few 10^5 points once multiplied (tp·tn ~ n^4/4), so the
 * products are exact in 128 bits where the compiler has them, like scikit-learn's Python ints. */
#ifdef __SIZEOF_INT128__
__extension__ typedef __int128 wide_t;   /* GNU C; __extension__ keeps -pedantic quiet */
#else
typedef long double wide_t;
#endif

double fm_metrics_ari(const fm_contingency *ct)
{
    if (!valid(ct)) return NAN;
    int64_t r = ct->r, c = ct->c, n = ct->n;
    /* squared margins and squared cells give the pair counts (ordered pairs, as scikit-learn's
     * pair_confusion_matrix: the factor 2 cancels in the ratio) */
    int64_t sum_sq = 0, sum_a2 = 0, sum_b2 = 0;
    for (int64_t i = 0; i < r; i++) {
        int64_t a = 0;
        for (int64_t j = 0; j < c; j++) {
            int64_t v = ct->table[i * c + j];
            a += v;
            sum_sq += v * v;
        }
        sum_a2 += a * a;
    }
    for (int64_t j = 0; j < c; j++) {
        int64_t b = 0;
        for (int64_t i = 0; i < r; i++) b += ct->table[i * c + j];
        sum_b2 += b * b;
    }
    int64_t tp = sum_sq - n;          /* together in both */
    int64_t fp = sum_b2 - sum_sq;     /* together in pred only */
    int64_t fn = sum_a2 - sum_sq;     /* together in truth only */
    int64_t tn = n * n - fp - fn - sum_sq;
    if (fn == 0 && fp == 0) return 1.0;   /* identical partitions, including the trivial ones */
    wide_t num = (wide_t)tp * tn - (wide_t)fn * fp;
    wide_t den = (wide_t)(tp + fn) * (fn + tn) + (wide_t)(tp + fp) * (fp + tn);
    return 2.0 * (double)num / (double)den;
}

/* ------------------------------------------------------------------ information measures */

/* entropy in nats of a labelling with counts cnt (k), total n; scikit-learn's zero for one
 * cluster is exact here too since it is tested, not computed */
static double entropy(const int64_t *cnt, int64_t k, int64_t n)
{
    if (k == 1) return 0.0;
    double logn = log((double)n), s = 0.0;
    for (int64_t i = 0; i < k; i++) {
        double p = (double)cnt[i];
        if (p > 0) s += (p / (double)n) * (log(p) - logn);
    }
    return -s;
}

/* mutual information in nats; a, b are the margins */
static double mutual_info(const fm_contingency *ct, const int64_t *a, const int64_t *b)
{
    if (ct->r == 1 || ct->c == 1) return 0.0;   /* one side has zero entropy */
    double N = (double)ct->n, logN = log(N), mi = 0.0;
    for (int64_t i = 0; i < ct->r; i++)
        for (int64_t j = 0; j < ct->c; j++) {
            int64_t v = ct->table[i * ct->c + j];
            if (!v) continue;
            double p = (double)v / N;
            /* log(N·nij / (a·b)) split into logs of integers, in scikit-learn's order */
            double t = p * (log((double)v) - logN) + p * ((-log((double)(a[i] * b[j])) + logN) + logN);
            if (fabs(t) < DBL_EPSILON) t = 0.0;   /* scikit-learn drops round-off sized terms */
            mi += t;
        }
    return mi > 0.0 ? mi : 0.0;
}

/* E[MI] when both labellings keep their cluster sizes and the points are shuffled: each cell
 * count follows a hypergeometric law. lgf[k] = log k! for k = 0..n, logk[k] = log k.
 * Each cell sums from the mode outwards and stops where exp() of the log-probability is exactly
 * zero (the law is unimodal): the same nonzero terms as the full sum, a fraction of the work. */
static double emi_from_margins(const int64_t *a, int64_t r, const int64_t *b, int64_t c, int64_t n,
                               const double *lgf, const double *logk)
{
    const double N = (double)n, logN = log(N);
    const double ZERO = -746.0;   /* exp(x) == 0.0 below about -745.13 */
    double *part = fm_alloc((size_t)r, sizeof *part);
    if (!part) return NAN;
    int64_t work = 0;
    for (int64_t i = 0; i < r; i++)
        for (int64_t j = 0; j < c; j++) work += a[i] < b[j] ? a[i] : b[j];
    /* work bounds the terms from above (most stop early); below a million a thread team costs
     * more than it saves. Rows are independent; partial sums per row, added in row order: the
     * same result for any thread count. */
    #pragma omp parallel for schedule(dynamic, 1) if (work > 1000000)
    for (int64_t i = 0; i < r; i++) {
        const int64_t ai = a[i];
        double s = 0.0;
        for (int64_t j = 0; j < c; j++) {
            const int64_t bj = b[j];
            const double head = lgf[ai] + lgf[bj] + lgf[n - ai] + lgf[n - bj] - lgf[n];
            int64_t lo = ai + bj - n, hi = ai < bj ? ai : bj;
            if (lo < 1) lo = 1;   /* nij = 0 adds nothing */
            int64_t mode = (ai + 1) * (bj + 1) / (n + 2);
            mode = mode < lo ? lo : mode > hi ? hi : mode;
            for (int64_t k = mode; k <= hi; k++) {
                double gln = head - lgf[k] - lgf[ai - k] - lgf[bj - k] - lgf[n - ai - bj + k];
                if (gln < ZERO) break;
                /* (nij / N) · log(N·nij / (a·b)) · P(nij) */
                s += ((double)k / N) * (((logN + logk[k]) - logk[ai]) - logk[bj]) * exp(gln);
            }
            for (int64_t k = mode - 1; k >= lo; k--) {
                double gln = head - lgf[k] - lgf[ai - k] - lgf[bj - k] - lgf[n - ai - bj + k];
                if (gln < ZERO) break;
                s += ((double)k / N) * (((logN + logk[k]) - logk[ai]) - logk[bj]) * exp(gln);
            }
        }
        part[i] = s;
    }
    double emi = 0.0;
    for (int64_t i = 0; i < r; i++) emi += part[i];
    fm_free(part);
    return emi;
}

/* one allocation of 2(n+1) doubles: log k! then log k, for k = 0..n (log 0 stored as 0, unused);
 * NULL when out of memory */
static double *log_tables(int64_t n)
{
    double *t = fm_alloc(2 * ((size_t)n + 1), sizeof *t);
    if (!t) return NULL;
    /* lgamma itself, not a running sum of logs (whose error grows with k): the values
     * scikit-learn's gammaln gives */
    for (int64_t k = 0; k <= n; k++) t[k] = lgamma((double)k + 1.0);
    for (int64_t k = 1; k <= n; k++) t[n + 1 + k] = log((double)k);
    return t;
}

double fm_metrics_emi(const fm_contingency *ct)
{
    if (!valid(ct)) return NAN;
    if (ct->r == 1 || ct->c == 1) return 0.0;
    int64_t *a = fm_alloc((size_t)ct->r, sizeof *a), *b = fm_alloc((size_t)ct->c, sizeof *b);
    double *lgf = log_tables(ct->n);
    double emi = NAN;
    if (a && b && lgf) {
        margins(a, b, ct);
        emi = emi_from_margins(a, ct->r, b, ct->c, ct->n, lgf, lgf + ct->n + 1);
    }
    fm_free(a);
    fm_free(b);
    fm_free(lgf);
    return emi;
}

/* MI, entropies, NMI, homogeneity, completeness, V-measure; EMI and AMI too when with_emi */
/* 1 when the two labellings are the same partition: one nonzero cell in every row and column */
static int same_partition(const fm_contingency *ct)
{
    if (ct->r != ct->c) return 0;
    for (int64_t i = 0; i < ct->r; i++) {
        int64_t nz = 0;
        for (int64_t j = 0; j < ct->c; j++) nz += ct->table[i * ct->c + j] != 0;
        if (nz != 1) return 0;
    }
    return 1;   /* r nonzero cells in r distinct rows of a square table cover every column too */
}

fm_status fm_metrics_info(fm_scores *out, const fm_contingency *ct, int with_emi)
{
    if (!out || !valid(ct)) return FM_STATUS_ARG;
    int64_t *a = fm_alloc((size_t)ct->r, sizeof *a), *b = fm_alloc((size_t)ct->c, sizeof *b);
    if (!a || !b) { fm_free(a); fm_free(b); return FM_STATUS_NOMEM; }
    margins(a, b, ct);
    double mi = mutual_info(ct, a, b);
    double ht = entropy(a, ct->r, ct->n), hp = entropy(b, ct->c, ct->n);
    out->mi = mi;
    out->h_truth = ht;
    out->h_pred = hp;
    double mean_h = (ht + hp) / 2.0;
    /* The same partition on both sides scores exactly 1 (MI = both entropies, so every ratio
     * below is 1 up to round-off). scikit-learn returns 1.0 for one cluster on both sides by
     * rule; for a perfect match of several clusters it computes 1 ± a few ulps, and for every
     * point its own cluster AMI is (MI − EMI) / max(H − EMI, eps) with MI = EMI = H = log n:
     * 0/0 made 1.0 or 0.0 by the last bits (0.0 at n = 2 and 4 in 1.2.1, though its
     * documentation promises 1 for identical partitions). */
    int same = same_partition(ct);

    out->nmi = same ? 1.0 : (mi == 0.0 ? 0.0 : mi / mean_h);
    /* a labelling with zero entropy is perfectly homogeneous (complete) by convention */
    out->homogeneity = same ? 1.0 : ht != 0.0 ? mi / ht : 1.0;
    out->completeness = same ? 1.0 : hp != 0.0 ? mi / hp : 1.0;
    double h = out->homogeneity, c = out->completeness;
    out->v_measure = (h + c == 0.0) ? 0.0 : 2.0 * h * c / (h + c);

    fm_status s = FM_STATUS_OK;
    out->emi = out->ami = NAN;
    if (with_emi) {
        double emi = 0.0;
        if (ct->r > 1 && ct->c > 1) {
            double *lgf = log_tables(ct->n);
            emi = lgf ? emi_from_margins(a, ct->r, b, ct->c, ct->n, lgf, lgf + ct->n + 1) : NAN;
            fm_free(lgf);
            if (isnan(emi)) s = FM_STATUS_NOMEM;
        }
        out->emi = emi;
        if (same) {
            out->ami = 1.0;
        } else {
            /* EMI can exceed the mean entropy by round-off: keep the sign, bound the size away
             * from zero (scikit-learn 1.2.1) */
            double den = mean_h - emi;
            den = den < 0.0 ? fmin(den, -DBL_EPSILON) : fmax(den, DBL_EPSILON);
            out->ami = (mi - emi) / den;
        }
    }
    fm_free(a);
    fm_free(b);
    return s;
}

/* ------------------------------------------------------------------ optimal matching */

/* Minimum-cost assignment of every row of an nr×nc cost matrix (nr ≤ nc) to a distinct column:
 * the Hungarian method with potentials and shortest augmenting paths, one row added per phase,
 * O(nr² · nc). Equivalent to padding to a square matrix with zero rows, without the padding.
 * cost(i, j) = -count(i, j) read through the (possibly transposed) table. col_row[j] receives
 * the row matched to column j, or -1. Costs are integers, so the arithmetic is exact. */
static fm_status assign_max(int64_t *col_row, const int64_t *table, int64_t r, int64_t c, int transpose)
{
    int64_t nr = transpose ? c : r, nc = transpose ? r : c;
    /* 1-based like the textbook, index 0 is the virtual start column */
    int64_t *u = fm_alloc((size_t)nr + 1, sizeof *u), *v = fm_alloc((size_t)nc + 1, sizeof *v);
    int64_t *p = fm_alloc((size_t)nc + 1, sizeof *p), *way = fm_alloc((size_t)nc + 1, sizeof *way);
    int64_t *minv = fm_alloc((size_t)nc + 1, sizeof *minv);
    unsigned char *used = fm_alloc((size_t)nc + 1, 1);
    fm_status s = FM_STATUS_OK;
    if (!u || !v || !p || !way || !minv || !used) { s = FM_STATUS_NOMEM; goto done; }
    const int64_t INF = INT64_MAX / 4;
    for (int64_t i = 1; i <= nr; i++) {
        p[0] = i;
        int64_t j0 = 0;
        for (int64_t j = 0; j <= nc; j++) { minv[j] = INF; used[j] = 0; }
        do {
            used[j0] = 1;
            int64_t i0 = p[j0], delta = INF, j1 = 0;
            for (int64_t j = 1; j <= nc; j++) {
                if (used[j]) continue;
                int64_t cnt = transpose ? table[(j - 1) * c + (i0 - 1)] : table[(i0 - 1) * c + (j - 1)];
                int64_t cur = -cnt - u[i0] - v[j];
                if (cur < minv[j]) { minv[j] = cur; way[j] = j0; }
                if (minv[j] < delta) { delta = minv[j]; j1 = j; }
            }
            for (int64_t j = 0; j <= nc; j++) {
                if (used[j]) { u[p[j]] += delta; v[j] -= delta; }
                else minv[j] -= delta;
            }
            j0 = j1;
        } while (p[j0] != 0);
        do {   /* flip the augmenting path back to the start */
            int64_t j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
        } while (j0);
    }
    for (int64_t j = 1; j <= nc; j++) col_row[j - 1] = p[j] ? p[j] - 1 : -1;
done:
    fm_free(u); fm_free(v); fm_free(p); fm_free(way); fm_free(minv); fm_free(used);
    return s;
}

/* matched: points on the matched (class, cluster) pairs. match_of_col (c), when not NULL:
 * for each predicted cluster the ROW INDEX (0-based, into row_vals) of its class, or -1 when
 * there are more clusters than classes and the cluster is left out. */
fm_status fm_metrics_matched(int64_t *matched, int32_t *match_of_col, const fm_contingency *ct)
{
    if (!matched || !valid(ct)) return FM_STATUS_ARG;
    int64_t r = ct->r, c = ct->c;
    /* the algorithm wants the smaller side as rows */
    int transpose = r > c;
    int64_t nc = transpose ? r : c;
    int64_t *col_row = fm_alloc((size_t)nc, sizeof *col_row);
    if (!col_row) return FM_STATUS_NOMEM;
    fm_status s = assign_max(col_row, ct->table, r, c, transpose);
    if (s == FM_STATUS_OK) {
        int64_t total = 0;
        if (match_of_col) for (int64_t j = 0; j < c; j++) match_of_col[j] = -1;
        for (int64_t k = 0; k < nc; k++) {
            if (col_row[k] < 0) continue;
            int64_t i = transpose ? k : col_row[k], j = transpose ? col_row[k] : k;
            total += ct->table[i * c + j];
            if (match_of_col) match_of_col[j] = (int32_t)i;
        }
        *matched = total;
    }
    fm_free(col_row);
    return s;
}

/* ------------------------------------------------------------------ everything at once */

fm_status fm_metrics_all(fm_scores *out, const fm_contingency *ct)
{
    if (!out || !valid(ct)) return FM_STATUS_ARG;
    fm_status s = fm_metrics_info(out, ct, 1);
    if (s != FM_STATUS_OK) return s;
    out->ari = fm_metrics_ari(ct);
    int64_t matched = 0;
    s = fm_metrics_matched(&matched, NULL, ct);
    out->accuracy = s == FM_STATUS_OK ? (double)matched / (double)ct->n : NAN;
    return s;
}
