/* kmeans.c — K-Means: greedy k-means++ (or random rows), Lloyd iterations with Hamerly's bounds.
 *
 * Full E-steps (the first of each run, predict) compute distances as ‖x‖² + ‖c‖² − 2·x·cᵀ with
 * one SGEMM per fixed block of rows. Later E-steps use Hamerly's two bounds per point (an upper
 * bound on the distance to its own center, a lower bound on the distance to every other one):
 * once the centers settle most points are skipped without reading their row. On 70,000×784 with
 * k = 10 a run reads about 19 rows per point over ~95 iterations instead of 95 (Lloyd), and the
 * run is memory-bound either way. Center sums are kept in double and updated only with the
 * points that moved.
 *
 * Thread-count independence: row blocks and chunks have fixed sizes, per-block partial sums are
 * reduced in block order, and center sums are split between threads by columns, so every sum
 * element is accumulated over rows in row order by exactly one thread. SGEMM is called inside our
 * own parallel loops, where the OpenMP OpenBLAS runs single-threaded on a fixed block. With
 * several runs (n_init) each thread takes whole runs; one run is shared by the threads. A run's
 * result is the same either way.
 */
#include "kmeans.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define KM_BR 256     /* rows per SGEMM block: the block's distances are used while hot */
#define KM_CH 2048    /* rows per bounded E-step chunk; moved points are recorded per chunk */
#define KM_IB 1024    /* rows per inertia / norm block */

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* rows per SGEMM block against k centers: fewer for very many centers, so a thread's k-wide
 * scratch stays near 4 MB (a function of k alone, so results still do not depend on threads) */
static int64_t block_rows(int64_t k)
{
    int64_t r = ((int64_t)1 << 20) / (k > 0 ? k : 1);
    return r >= KM_BR ? KM_BR : r < 16 ? 16 : r;
}

/* columns [lo, hi) of thread id among nt, on 16-float (cache line) boundaries */
static void col_range(int64_t *lo, int64_t *hi, int64_t d, int id, int nt)
{
    int64_t a = (d * id / nt + 15) & ~(int64_t)15;
    int64_t b = (d * (id + 1) / nt + 15) & ~(int64_t)15;
    *lo = min64(a, d);
    *hi = id == nt - 1 ? d : min64(b, d);
}

/* ------------------------------------------------------------------ distances */

/* x·c with four independent 8-float accumulators: a single vector chain would wait on the FMA
 * latency (the compiler may not reassociate a float sum on its own). The order is fixed at compile
 * time, so the value never depends on the thread. */
typedef float km_v8 __attribute__((vector_size(32)));

static inline km_v8 load8(const float *p)
{
    km_v8 v;
    memcpy(&v, p, sizeof v);
    return v;
}

static float dot(const float *a, const float *b, int64_t d)
{
    km_v8 s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0};
    int64_t t = 0;
    for (; t + 32 <= d; t += 32) {
        s0 += load8(a + t) * load8(b + t);
        s1 += load8(a + t + 8) * load8(b + t + 8);
        s2 += load8(a + t + 16) * load8(b + t + 16);
        s3 += load8(a + t + 24) * load8(b + t + 24);
    }
    for (; t + 8 <= d; t += 8) s0 += load8(a + t) * load8(b + t);
    km_v8 s = (s0 + s1) + (s2 + s3);
    float r = ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
    for (; t < d; t++) r += a[t] * b[t];
    return r;
}

/* Σ (a − b)² and Σ a² in double, with four independent accumulators in a fixed order */
typedef float km_v4f __attribute__((vector_size(16)));
typedef double km_v4d __attribute__((vector_size(32)));

static inline km_v4d load4d(const float *p)
{
    km_v4f v;
    memcpy(&v, p, sizeof v);
    return __builtin_convertvector(v, km_v4d);
}

static double sqdist_d(const float *a, const float *b, int64_t d)
{
    km_v4d s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0};
    int64_t t = 0;
    for (; t + 16 <= d; t += 16) {
        km_v4d e0 = load4d(a + t) - load4d(b + t), e1 = load4d(a + t + 4) - load4d(b + t + 4);
        km_v4d e2 = load4d(a + t + 8) - load4d(b + t + 8), e3 = load4d(a + t + 12) - load4d(b + t + 12);
        s0 += e0 * e0; s1 += e1 * e1; s2 += e2 * e2; s3 += e3 * e3;
    }
    km_v4d v = (s0 + s1) + (s2 + s3);
    double r = (v[0] + v[1]) + (v[2] + v[3]);
    for (; t < d; t++) { double e = (double)a[t] - b[t]; r += e * e; }
    return r;
}

static double sqnorm_d(const float *a, int64_t d)
{
    km_v4d s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0};
    int64_t t = 0;
    for (; t + 16 <= d; t += 16) {
        km_v4d e0 = load4d(a + t), e1 = load4d(a + t + 4), e2 = load4d(a + t + 8), e3 = load4d(a + t + 12);
        s0 += e0 * e0; s1 += e1 * e1; s2 += e2 * e2; s3 += e3 * e3;
    }
    km_v4d v = (s0 + s1) + (s2 + s3);
    double r = (v[0] + v[1]) + (v[2] + v[3]);
    for (; t < d; t++) r += (double)a[t] * a[t];
    return r;
}


/* dist (m×k) = −2 · xb · cᵀ for one block; then each entry becomes ‖x‖² + ‖c‖² − 2x·c ≥ 0 */
static void block_sqdist(float *dist, const float *xb, const float *xxb, const float *c, const float *cc,
                         int64_t m, int64_t d, int64_t k)
{
    fm_gemm(dist, xb, c, m, k, d, 0, 1, -2.0f, 0.0f);
    for (int64_t r = 0; r < m; r++) {
        float *row = dist + r * k;
        for (int64_t j = 0; j < k; j++) {
            float v = xxb[r] + cc[j] + row[j];
            row[j] = v > 0 ? v : 0;
        }
    }
}

static void center_norms(float *cc, const float *c, int64_t k, int64_t d)
{
    for (int64_t j = 0; j < k; j++) cc[j] = (float)sqnorm_d(c + j * d, d);
}

/* out[j] = ‖c_j‖² − 2·x·c_j for every center (the caller adds ‖x‖²). Four centers at a time, so
 * four independent vector accumulators keep the FMA units busy. */
static void point_dists(float *out, const float *xi, const float *c, const float *cc, int64_t d, int64_t k)
{
    int64_t j = 0;
    for (; j + 4 <= k; j += 4) {
        const float *c0 = c + j * d, *c1 = c0 + d, *c2 = c1 + d, *c3 = c2 + d;
        float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        #pragma omp simd reduction(+ : s0, s1, s2, s3)
        for (int64_t t = 0; t < d; t++) {
            float v = xi[t];
            s0 += v * c0[t];
            s1 += v * c1[t];
            s2 += v * c2[t];
            s3 += v * c3[t];
        }
        out[j] = cc[j] - 2 * s0;
        out[j + 1] = cc[j + 1] - 2 * s1;
        out[j + 2] = cc[j + 2] - 2 * s2;
        out[j + 3] = cc[j + 3] - 2 * s3;
    }
    for (; j < k; j++) {
        const float *cj = c + j * d;
        float s = 0;
        #pragma omp simd reduction(+ : s)
        for (int64_t t = 0; t < d; t++) s += xi[t] * cj[t];
        out[j] = cc[j] - 2 * s;
    }
}

/* ‖x − c‖ for one center */
static float point_dist1(const float *xi, float xxi, const float *cj, float ccj, int64_t d)
{
    float v = xxi + ccj - 2 * dot(xi, cj, d);
    return v > 0 ? sqrtf(v) : 0;
}

fm_status fm_kmeans_row_norms(float *xx, const float *x, int64_t n, int64_t d)
{
    if (n < 0 || d < 1) return FM_STATUS_ARG;
    #pragma omp parallel for schedule(static) if (n * d > 65536)
    for (int64_t i = 0; i < n; i++) xx[i] = (float)sqnorm_d(x + i * d, d);
    return FM_STATUS_OK;
}

fm_status fm_kmeans_tolerance(double *tol_abs, const float *x, int64_t n, int64_t d, double tol)
{
    if (n < 1 || d < 1 || !(tol >= 0)) return FM_STATUS_ARG;
    *tol_abs = 0;
    if (tol == 0) return FM_STATUS_OK;
    float *sd = fm_alloc((size_t)d, sizeof(float));
    if (!sd) return FM_STATUS_NOMEM;
    fm_status s = fm_col_stats(NULL, sd, x, n, d);
    if (s == FM_STATUS_OK) {
        double v = 0;
        for (int64_t j = 0; j < d; j++) v += (double)sd[j] * sd[j];
        *tol_abs = tol * v / (double)d;
    }
    fm_free(sd);
    return s;
}

fm_status fm_kmeans_assign(int32_t *labels, float *d1, float *d2, const float *x, const float *xx,
                           const float *centers, int64_t n, int64_t d, int64_t k)
{
    if (n < 0 || d < 1 || k < 1) return FM_STATUS_ARG;
    if (n == 0) return FM_STATUS_OK;
    int nthr = omp_get_max_threads();
    float *cc = fm_alloc((size_t)k, sizeof(float));
    int64_t br = block_rows(k);
    float *scratch = fm_alloc((size_t)nthr * (size_t)br * (size_t)k, sizeof(float));
    if (!cc || !scratch) { fm_free(cc); fm_free(scratch); return FM_STATUS_NOMEM; }
    center_norms(cc, centers, k, d);
    int64_t nb = (n + br - 1) / br;
    #pragma omp parallel for schedule(dynamic, 4)
    for (int64_t b = 0; b < nb; b++) {
        float *dist = scratch + (size_t)omp_get_thread_num() * (size_t)br * (size_t)k;
        int64_t i0 = b * br, m = min64(br, n - i0);
        block_sqdist(dist, x + i0 * d, xx + i0, centers, cc, m, d, k);
        for (int64_t r = 0; r < m; r++) {
            const float *row = dist + r * k;
            float best = INFINITY, second = INFINITY;
            int32_t arg = 0;
            for (int64_t j = 0; j < k; j++) {
                float v = row[j];
                if (v < best) { second = best; best = v; arg = (int32_t)j; }
                else if (v < second) second = v;
            }
            labels[i0 + r] = arg;
            if (d1) d1[i0 + r] = best;
            if (d2) d2[i0 + r] = second;
        }
    }
    fm_free(scratch);
    fm_free(cc);
    return FM_STATUS_OK;
}

fm_status fm_kmeans_inertia(double *inertia, const float *x, const float *centers, const int32_t *labels,
                            int64_t n, int64_t d)
{
    int64_t nb = (n + KM_IB - 1) / KM_IB;
    double *part = fm_alloc((size_t)(nb > 0 ? nb : 1), sizeof(double));
    if (!part) return FM_STATUS_NOMEM;
    #pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < nb; b++) {
        double s = 0;
        for (int64_t i = b * KM_IB; i < min64(n, (b + 1) * KM_IB); i++)
            s += sqdist_d(x + i * d, centers + (int64_t)labels[i] * d, d);
        part[b] = s;
    }
    double s = 0;
    for (int64_t b = 0; b < nb; b++) s += part[b];
    *inertia = s;
    fm_free(part);
    return FM_STATUS_OK;
}

/* ------------------------------------------------------------------ initialisation */

/* One k-means++ step for t candidates (t×d, norms ccand): cd (n×t) = min(closest, ‖x − cand‖²)
 * and pot (t) = Σ_i cd[i, ·] in double, block partial sums reduced in block order.
 * gap (t×k) holds ‖cand_j − c_q‖² for the chosen centers q; by the triangle inequality a point
 * whose own center o has gap[j, o] ≥ 4·closest cannot come nearer to candidate j, so its row is
 * read only for the candidates that might win it. all = 1 (the first center): every distance. */
static fm_status pp_step(float *cd, double *pot, const float *x, const float *xx, const float *closest,
                         const int32_t *owner, const float *gap, const float *cand, const float *ccand,
                         int64_t n, int64_t d, int64_t k, int64_t t, int all)
{
    int64_t nb = (n + KM_BR - 1) / KM_BR;
    double *part = fm_alloc((size_t)(nb * t), sizeof(double));
    if (!part) return FM_STATUS_NOMEM;
    #pragma omp parallel for schedule(dynamic, 4)
    for (int64_t b = 0; b < nb; b++) {
        int64_t i0 = b * KM_BR, i1 = min64(n, i0 + KM_BR);
        int32_t todo[KM_BR];
        int64_t nt = 0;
        for (int64_t i = i0; i < i1; i++) {
            int need = all;
            for (int64_t j = 0; j < t && !need; j++) need = gap[j * k + owner[i]] < 4 * closest[i];
            if (need) todo[nt++] = (int32_t)i;
            else for (int64_t j = 0; j < t; j++) cd[i * t + j] = closest[i];
        }
        for (int64_t p = 0; p < nt; p++) {
            int64_t i = todo[p];
            if (p + 2 < nt) {   /* the rows needed are scattered: fetch ahead */
                const char *next = (const char *)(x + (int64_t)todo[p + 2] * d);
                for (int64_t off = 0; off < d * (int64_t)sizeof(float); off += 64) __builtin_prefetch(next + off);
            }
            const float *xi = x + i * d;
            for (int64_t j = 0; j < t; j++) {
                if (!all && gap[j * k + owner[i]] >= 4 * closest[i]) { cd[i * t + j] = closest[i]; continue; }
                float v = xx[i] + ccand[j] - 2 * dot(xi, cand + j * d, d);
                if (v < 0) v = 0;
                if (!all && closest[i] < v) v = closest[i];
                cd[i * t + j] = v;
            }
        }
        double *ps = part + b * t;
        for (int64_t i = i0; i < i1; i++)
            for (int64_t j = 0; j < t; j++) ps[j] += cd[i * t + j];
    }
    for (int64_t j = 0; j < t; j++) pot[j] = 0;
    for (int64_t b = 0; b < nb; b++)
        for (int64_t j = 0; j < t; j++) pot[j] += part[b * t + j];
    fm_free(part);
    return FM_STATUS_OK;
}

fm_status fm_kmeans_init_plusplus(float *centers, int64_t *chosen, const float *x, const float *xx,
                                  int64_t n, int64_t d, int64_t k, uint64_t seed, uint64_t stream)
{
    if (n < 1 || d < 1 || k < 1 || k > n) return FM_STATUS_ARG;
    /* scikit-learn's greedy rule: more local trials for more clusters */
    int64_t t = 2 + (int64_t)floor(log((double)k));
    float *closest = fm_alloc((size_t)n, sizeof(float));
    int32_t *owner = fm_alloc((size_t)n, sizeof(int32_t));
    float *cd = fm_alloc((size_t)n * (size_t)t, sizeof(float));
    double *cum = fm_alloc((size_t)n, sizeof(double));
    float *cand = fm_alloc((size_t)(t * d), sizeof(float));
    float *gap = fm_alloc((size_t)(t * k), sizeof(float));
    float ccand[64];
    int64_t cand_id[64];
    double pot[64];
    fm_status s = FM_STATUS_OK;
    if (!closest || !owner || !cd || !cum || !cand || !gap || t > 64) { s = FM_STATUS_NOMEM; goto done; }

    fm_rng r;
    fm_rng_init(&r, seed, stream);
    int64_t first = (int64_t)fm_rng_below(&r, (uint64_t)n);
    memcpy(centers, x + first * d, sizeof(float) * (size_t)d);
    if (chosen) chosen[0] = first;
    ccand[0] = xx[first];
    s = pp_step(closest, pot, x, xx, NULL, owner, gap, centers, ccand, n, d, k, 1, 1);
    if (s != FM_STATUS_OK) goto done;

    for (int64_t c = 1; c < k; c++) {
        /* sample t candidates with probability ∝ D², from a running sum in double */
        double acc = 0;
        for (int64_t i = 0; i < n; i++) { acc += closest[i]; cum[i] = acc; }
        for (int64_t j = 0; j < t; j++) {
            double u = fm_rng_uniform(&r) * acc;
            int64_t lo = 0, hi = n;   /* first i with cum[i] > u: a zero-distance point is never drawn */
            while (lo < hi) {
                int64_t mid = lo + (hi - lo) / 2;
                if (cum[mid] > u) hi = mid; else lo = mid + 1;
            }
            cand_id[j] = lo < n ? lo : n - 1;   /* all distances zero: any point will do */
            memcpy(cand + j * d, x + cand_id[j] * d, sizeof(float) * (size_t)d);
            ccand[j] = xx[cand_id[j]];
            for (int64_t q = 0; q < c; q++) gap[j * k + q] = (float)sqdist_d(cand + j * d, centers + q * d, d);
        }
        s = pp_step(cd, pot, x, xx, closest, owner, gap, cand, ccand, n, d, k, t, 0);
        if (s != FM_STATUS_OK) goto done;
        int64_t best = 0;
        for (int64_t j = 1; j < t; j++)
            if (pot[j] < pot[best]) best = j;
        #pragma omp parallel for schedule(static) if (n > 65536)
        for (int64_t i = 0; i < n; i++) {
            float v = cd[i * t + best];
            if (v < closest[i]) { closest[i] = v; owner[i] = (int32_t)c; }
        }
        memcpy(centers + c * d, x + cand_id[best] * d, sizeof(float) * (size_t)d);
        if (chosen) chosen[c] = cand_id[best];
    }
done:
    fm_free(closest);
    fm_free(owner);
    fm_free(cd);
    fm_free(cum);
    fm_free(cand);
    fm_free(gap);
    return s;
}

fm_status fm_kmeans_init_random(float *centers, const float *x, int64_t n, int64_t d, int64_t k,
                                uint64_t seed, uint64_t stream)
{
    if (n < 1 || d < 1 || k < 1 || k > n) return FM_STATUS_ARG;
    int64_t *idx = fm_alloc((size_t)n, sizeof(int64_t));
    if (!idx) return FM_STATUS_NOMEM;
    for (int64_t i = 0; i < n; i++) idx[i] = i;
    fm_rng r;
    fm_rng_init(&r, seed, stream);
    for (int64_t j = 0; j < k; j++) {   /* the first k steps of a Fisher–Yates shuffle */
        int64_t p = j + (int64_t)fm_rng_below(&r, (uint64_t)(n - j));
        int64_t tmp = idx[j]; idx[j] = idx[p]; idx[p] = tmp;
        memcpy(centers + j * d, x + idx[j] * d, sizeof(float) * (size_t)d);
    }
    fm_free(idx);
    return FM_STATUS_OK;
}

/* ------------------------------------------------------------------ one Lloyd run */


typedef struct {
    int64_t n, d, k, nchunk;
    const float *x, *xx;
    float *c, *cnew;      /* k×d current and next centers */
    float *cc;            /* k: ‖c_j‖² */
    float *half;          /* k: half the distance from c_j to its nearest other center */
    float *shift;         /* k: how far each center moved in the last M-step (bounds owe it) */
    float smax1, smax2;   /* largest and second largest shift */
    int32_t jmax;         /* the center that moved most */
    double *sums;         /* k×d: Σ of the points of each cluster */
    int64_t *counts;      /* k */
    int32_t *labels;      /* n */
    float *ub, *lb;       /* n: upper bound to own center, lower bound to any other */
    int32_t *mv, *mvold;  /* n: moved points, recorded in their chunk's slot range */
    int64_t *mcount;      /* nchunk: moves per chunk */
    float *scratch;       /* per thread: k distances, KM_CH thresholds, KM_CH row numbers */
    float *gram;          /* per thread: a block of rows of the centers' Gram matrix */
    int nthr;
} km_run;

/* sums and counts from scratch; threads split the columns */
static void km_sums(km_run *R)
{
    int64_t n = R->n, d = R->d, k = R->k;
    memset(R->sums, 0, sizeof(double) * (size_t)(k * d));
    memset(R->counts, 0, sizeof(int64_t) * (size_t)k);
    for (int64_t i = 0; i < n; i++) R->counts[R->labels[i]]++;
    #pragma omp parallel
    {
        int64_t t0, t1;
        col_range(&t0, &t1, d, omp_get_thread_num(), omp_get_num_threads());
        for (int64_t i = 0; i < n && t0 < t1; i++) {
            double *s = R->sums + (int64_t)R->labels[i] * d;
            const float *xi = R->x + i * d;
            for (int64_t t = t0; t < t1; t++) s[t] += xi[t];
        }
    }
}

/* the recorded moves into sums and counts, in chunk order */
static void km_apply_moves(km_run *R)
{
    int64_t d = R->d;
    #pragma omp parallel
    {
        int64_t t0, t1;
        col_range(&t0, &t1, d, omp_get_thread_num(), omp_get_num_threads());
        for (int64_t ch = 0; ch < R->nchunk && t0 < t1; ch++) {
            for (int64_t m = 0; m < R->mcount[ch]; m++) {
                int64_t i = R->mv[ch * KM_CH + m];
                double *to = R->sums + (int64_t)R->labels[i] * d;
                double *from = R->sums + (int64_t)R->mvold[ch * KM_CH + m] * d;
                const float *xi = R->x + i * d;
                for (int64_t t = t0; t < t1; t++) { to[t] += xi[t]; from[t] -= xi[t]; }
            }
        }
    }
    for (int64_t ch = 0; ch < R->nchunk; ch++)
        for (int64_t m = 0; m < R->mcount[ch]; m++) {
            R->counts[R->labels[R->mv[ch * KM_CH + m]]]++;
            R->counts[R->mvold[ch * KM_CH + m]]--;
        }
}

/* E-step with Hamerly's test: bounds first owe the last shifts; a point is read only when its
 * upper bound exceeds max(lower bound, half the gap to the nearest other center). Each chunk first
 * lists the points to read (bounds only), then reads them with the next rows prefetched: the
 * rows are scattered, so the hardware prefetcher cannot guess them. Returns the number of points
 * that changed cluster. */
static int64_t km_estep(km_run *R)
{
    int64_t n = R->n, d = R->d, k = R->k;
    int64_t total = 0;
    #pragma omp parallel for schedule(dynamic, 1) reduction(+ : total)
    for (int64_t ch = 0; ch < R->nchunk; ch++) {
        /* per thread: k distances, then the points to read and their thresholds */
        float *dist = R->scratch + (size_t)omp_get_thread_num() * (size_t)(k + 2 * KM_CH);
        float *mt = dist + k;
        int32_t *todo = (int32_t *)(mt + KM_CH);
        int64_t nt = 0, nm = 0;
        for (int64_t i = ch * KM_CH; i < min64(n, (ch + 1) * KM_CH); i++) {
            int32_t a = R->labels[i];
            float u = R->ub[i] + R->shift[a];
            float l = R->lb[i] - (a == R->jmax ? R->smax2 : R->smax1);
            float m = R->half[a] > l ? R->half[a] : l;
            R->ub[i] = u;
            R->lb[i] = l;
            if (u > m) { mt[nt] = m; todo[nt++] = (int32_t)i; }
        }
        for (int64_t p = 0; p < nt; p++) {
            int64_t i = todo[p];
            if (p + 2 < nt) {
                const char *next = (const char *)(R->x + (int64_t)todo[p + 2] * d);
                for (int64_t off = 0; off < d * (int64_t)sizeof(float); off += 64) __builtin_prefetch(next + off);
            }
            int32_t a = R->labels[i];
            float m = mt[p];
            const float *xi = R->x + i * d;
            float u = point_dist1(xi, R->xx[i], R->c + (int64_t)a * d, R->cc[a], d);
            R->ub[i] = u;
            if (u <= m) continue;
            point_dists(dist, xi, R->c, R->cc, d, k);
            float best = INFINITY, second = INFINITY;
            int32_t arg = 0;
            for (int64_t j = 0; j < k; j++) {
                float v = dist[j];
                if (v < best) { second = best; best = v; arg = (int32_t)j; }
                else if (v < second) second = v;
            }
            best += R->xx[i];
            second += R->xx[i];
            R->ub[i] = best > 0 ? sqrtf(best) : 0;
            R->lb[i] = second > 0 ? sqrtf(second) : 0;
            if (arg != a) {
                R->labels[i] = arg;
                R->mv[ch * KM_CH + nm] = (int32_t)i;
                R->mvold[ch * KM_CH + nm] = a;
                nm++;
            }
        }
        R->mcount[ch] = nm;
        total += nm;   /* an integer sum: the order does not matter */
    }
    return total;
}

typedef struct { float dist; int32_t i; } km_far;


static int far_cmp(const void *pa, const void *pb)
{
    const km_far *a = pa, *b = pb;
    if (a->dist != b->dist) return a->dist > b->dist ? -1 : 1;
    return (a->i > b->i) - (a->i < b->i);
}

/* Empty clusters take the points farthest from their own centers (like scikit-learn), taken
 * only from clusters that keep at least one point, so no cluster is ever left to divide by 0. */
static fm_status km_relocate_empty(km_run *R)
{
    int64_t n = R->n, d = R->d, k = R->k, empty = 0;
    for (int64_t j = 0; j < k; j++) empty += R->counts[j] == 0;
    if (empty == 0) return FM_STATUS_OK;
    km_far *far = fm_alloc((size_t)n, sizeof(km_far));
    if (!far) return FM_STATUS_NOMEM;
    #pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        far[i].dist = (float)sqdist_d(R->x + i * d, R->c + (int64_t)R->labels[i] * d, d);
        far[i].i = (int32_t)i;
    }
    qsort(far, (size_t)n, sizeof *far, far_cmp);
    int64_t p = 0;
    for (int64_t j = 0; j < k; j++) {
        if (R->counts[j] != 0) continue;
        while (p < n && R->counts[R->labels[far[p].i]] < 2) p++;
        if (p == n) break;   /* cannot happen when k ≤ n */
        int64_t i = far[p++].i;
        int32_t a = R->labels[i];
        const float *xi = R->x + i * d;
        double *from = R->sums + (int64_t)a * d, *to = R->sums + j * d;
        for (int64_t t = 0; t < d; t++) { from[t] -= xi[t]; to[t] = xi[t]; }
        R->counts[a]--;
        R->counts[j] = 1;
        R->labels[i] = (int32_t)j;
        R->ub[i] = INFINITY;   /* forces a fresh look at this point in the next E-step */
        R->lb[i] = 0;
    }
    fm_free(far);
    return FM_STATUS_OK;
}

/* ‖c‖², and half the distance from each center to its nearest other center: the Gram matrix by
 * SGEMM on fixed row blocks, each block inside our parallel loop (so OpenBLAS never splits one
 * product between threads), reduced to row minima at once (k×k is never stored whole) */
static void km_center_geometry(km_run *R)
{
    int64_t k = R->k, d = R->d, br = block_rows(k);
    center_norms(R->cc, R->c, k, d);
    int64_t nb = (k + br - 1) / br;
    #pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < nb; b++) {
        float *g = R->gram + (size_t)omp_get_thread_num() * (size_t)br * (size_t)k;
        int64_t j0 = b * br, m = min64(br, k - j0);
        fm_gemm(g, R->c + j0 * d, R->c, m, k, d, 0, 1, 1.0f, 0.0f);
        for (int64_t r = 0; r < m; r++) {
            int64_t j = j0 + r;
            float best = INFINITY;
            for (int64_t q = 0; q < k; q++) {
                float v = R->cc[j] + R->cc[q] - 2 * g[r * k + q];
                if (q != j && v < best) best = v;
            }
            R->half[j] = best == INFINITY ? INFINITY : 0.5f * sqrtf(best > 0 ? best : 0);
        }
    }
}

/* centers = sums / counts; returns Σ_j ‖c_new − c_old‖² and records each shift for the bounds */
static double km_mstep(km_run *R)
{
    int64_t k = R->k, d = R->d;
    double tot = 0;
    R->smax1 = R->smax2 = 0;
    R->jmax = 0;
    for (int64_t j = 0; j < k; j++) {
        float *cn = R->cnew + j * d;
        const float *co = R->c + j * d;
        const double *s = R->sums + j * d;
        double inv = R->counts[j] > 0 ? 1.0 / (double)R->counts[j] : 0;
        double sh = 0;
        for (int64_t t = 0; t < d; t++) {
            cn[t] = R->counts[j] > 0 ? (float)(s[t] * inv) : co[t];
            double e = (double)cn[t] - co[t];
            sh += e * e;
        }
        tot += sh;
        float f = (float)sqrt(sh);
        f = nextafterf(f, INFINITY);   /* round the bound's slack up, never down */
        R->shift[j] = f;
        if (f > R->smax1) { R->smax2 = R->smax1; R->smax1 = f; R->jmax = (int32_t)j; }
        else if (f > R->smax2) R->smax2 = f;
    }
    float *t = R->c; R->c = R->cnew; R->cnew = t;
    km_center_geometry(R);
    return tot;
}

static void km_run_free(km_run *R)
{
    fm_free(R->cnew); fm_free(R->cc); fm_free(R->half); fm_free(R->shift); fm_free(R->sums);
    fm_free(R->counts); fm_free(R->ub); fm_free(R->lb); fm_free(R->mv); fm_free(R->mvold);
    fm_free(R->mcount); fm_free(R->scratch); fm_free(R->gram);
}

fm_status fm_kmeans_lloyd(float *centers, int32_t *labels, double *inertia, int64_t *n_iter,
                          const float *x, const float *xx, int64_t n, int64_t d, int64_t k,
                          int64_t max_iter, double tol_abs)
{
    if (n < 1 || d < 1 || k < 1 || k > n || max_iter < 1 || !(tol_abs >= 0)) return FM_STATUS_ARG;
    km_run R = {0};
    R.n = n; R.d = d; R.k = k;
    R.nchunk = (n + KM_CH - 1) / KM_CH;
    R.x = x; R.xx = xx;
    R.c = centers;   /* swapped with cnew each M-step; copied back at the end */
    R.labels = labels;
    R.nthr = omp_get_max_threads();
    R.cnew = fm_alloc((size_t)(k * d), sizeof(float));
    R.cc = fm_alloc((size_t)k, sizeof(float));
    R.half = fm_alloc((size_t)k, sizeof(float));
    R.shift = fm_alloc((size_t)k, sizeof(float));
    R.sums = fm_alloc((size_t)(k * d), sizeof(double));
    R.counts = fm_alloc((size_t)k, sizeof(int64_t));
    R.ub = fm_alloc((size_t)n, sizeof(float));
    R.lb = fm_alloc((size_t)n, sizeof(float));
    R.mv = fm_alloc((size_t)n, sizeof(int32_t));
    R.mvold = fm_alloc((size_t)n, sizeof(int32_t));
    R.mcount = fm_alloc((size_t)R.nchunk, sizeof(int64_t));
    R.scratch = fm_alloc((size_t)R.nthr * (size_t)(k + 2 * KM_CH), sizeof(float));
    R.gram = fm_alloc((size_t)R.nthr * (size_t)min64(block_rows(k), k) * (size_t)k, sizeof(float));
    fm_status s = FM_STATUS_OK;
    if (!R.cnew || !R.cc || !R.half || !R.shift || !R.sums || !R.counts || !R.ub || !R.lb || !R.mv ||
        !R.mvold || !R.mcount || !R.scratch || !R.gram) { s = FM_STATUS_NOMEM; goto done; }

    /* iteration 0's E-step: every distance, by SGEMM; the bounds start exact */
    s = fm_kmeans_assign(labels, R.ub, R.lb, x, xx, centers, n, d, k);
    if (s != FM_STATUS_OK) goto done;
    #pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) { R.ub[i] = sqrtf(R.ub[i]); R.lb[i] = sqrtf(R.lb[i]); }
    km_sums(&R);

    int strict = 0;
    int64_t it;
    *n_iter = max_iter;
    for (it = 0; it < max_iter; it++) {
        if (it > 0) {
            int64_t moved = km_estep(&R);
            if (moved == 0) { strict = 1; *n_iter = it + 1; break; }
            km_apply_moves(&R);
        }
        s = km_relocate_empty(&R);
        if (s != FM_STATUS_OK) goto done;
        double shift2 = km_mstep(&R);
        if (shift2 <= tol_abs) { *n_iter = it + 1; break; }
    }
    /* stopped on the shift (or max_iter): one more E-step so the labels match the centers */
    if (!strict) km_estep(&R);
    if (R.c != centers) memcpy(centers, R.c, sizeof(float) * (size_t)(k * d));
    s = fm_kmeans_inertia(inertia, x, centers, labels, n, d);
done:
    if (R.c != centers) { R.cnew = R.c; }   /* free the buffer we own, whichever name it has */
    km_run_free(&R);
    return s;
}

/* ------------------------------------------------------------------ the fit */

/* run r: its start from stream (seed, r), then Lloyd */
static fm_status km_one_run(float *rc, int32_t *rl, double *inertia, int64_t *n_iter, const float *x,
                            const float *xx, int64_t n, int64_t d, const fm_kmeans_opts *o, double tol_abs,
                            int64_t r)
{
    int64_t k = o->n_clusters;
    fm_status s;
    if (o->init_centers) {
        memcpy(rc, o->init_centers, sizeof(float) * (size_t)(k * d));
        s = FM_STATUS_OK;
    } else if (o->init == FM_KMEANS_RANDOM) {
        s = fm_kmeans_init_random(rc, x, n, d, k, o->seed, (uint64_t)r);
    } else {
        s = fm_kmeans_init_plusplus(rc, NULL, x, xx, n, d, k, o->seed, (uint64_t)r);
    }
    if (s == FM_STATUS_OK) s = fm_kmeans_lloyd(rc, rl, inertia, n_iter, x, xx, n, d, k, o->max_iter, tol_abs);
    if (s == FM_STATUS_OK && !isfinite(*inertia)) s = FM_STATUS_NUMERIC;
    return s;
}

#define KM_MAXSLOT 64

fm_status fm_kmeans_fit(float *centers, int32_t *labels, double *inertia, int64_t *n_iter,
                        const float *x, int64_t n, int64_t d, const fm_kmeans_opts *o)
{
    int64_t k = o->n_clusters;
    if (n < 1 || d < 1 || k < 1 || k > n || o->n_init < 1 || o->max_iter < 1 || !(o->tol >= 0))
        return FM_STATUS_ARG;
    int64_t runs = o->init_centers ? 1 : o->n_init;
    /* Several runs: each thread takes whole runs (each run then works on one thread, and no
     * barrier is crossed per iteration). One run: the threads share it. Either way a run's result
     * is the same, since every stage is thread-count independent. */
    int nthr = omp_get_max_threads();
    int slots = (runs >= 2 && nthr >= 2 && !omp_in_parallel()) ? (int)min64(min64(nthr, runs), KM_MAXSLOT) : 1;
    double tol_abs = 0;
    float *xx = fm_alloc((size_t)n, sizeof(float));
    float *rc[KM_MAXSLOT] = {0}, *bc[KM_MAXSLOT] = {0};
    int32_t *rl[KM_MAXSLOT] = {0}, *bl[KM_MAXSLOT] = {0};
    double bin[KM_MAXSLOT];
    int64_t brun[KM_MAXSLOT], bit[KM_MAXSLOT];
    fm_status st[KM_MAXSLOT];
    fm_status s = FM_STATUS_NOMEM;
    if (!xx) goto done;
    for (int t = 0; t < slots; t++) {
        rc[t] = fm_alloc((size_t)(k * d), sizeof(float));
        bc[t] = fm_alloc((size_t)(k * d), sizeof(float));
        rl[t] = fm_alloc((size_t)n, sizeof(int32_t));
        bl[t] = fm_alloc((size_t)n, sizeof(int32_t));
        if (!rc[t] || !bc[t] || !rl[t] || !bl[t]) goto done;
        bin[t] = INFINITY;
        brun[t] = -1;
        bit[t] = 0;
        st[t] = FM_STATUS_OK;
    }
    if ((s = fm_kmeans_row_norms(xx, x, n, d)) != FM_STATUS_OK) goto done;
    if ((s = fm_kmeans_tolerance(&tol_abs, x, n, d, o->tol)) != FM_STATUS_OK) goto done;
    #pragma omp parallel for schedule(dynamic, 1) num_threads(slots) if (slots > 1)
    for (int64_t r = 0; r < runs; r++) {
        int t = slots > 1 ? omp_get_thread_num() : 0;
        if (st[t] != FM_STATUS_OK) continue;
        double in = 0;
        int64_t it = 0;
        st[t] = km_one_run(rc[t], rl[t], &in, &it, x, xx, n, d, o, tol_abs, r);
        /* a thread meets its runs in increasing order: on equal inertia the earlier run stays */
        if (st[t] == FM_STATUS_OK && (brun[t] < 0 || in < bin[t])) {
            float *tc = bc[t]; bc[t] = rc[t]; rc[t] = tc;
            int32_t *tl = bl[t]; bl[t] = rl[t]; rl[t] = tl;
            bin[t] = in;
            brun[t] = r;
            bit[t] = it;
        }
    }
    /* the lowest inertia, then the lowest run index: what a serial loop over the runs keeps */
    int best = -1;
    for (int t = 0; t < slots; t++) {
        if (st[t] != FM_STATUS_OK) { s = st[t]; goto done; }
        if (brun[t] < 0) continue;
        if (best < 0 || bin[t] < bin[best] || (bin[t] == bin[best] && brun[t] < brun[best])) best = t;
    }
    *inertia = bin[best];
    *n_iter = bit[best];
    memcpy(centers, bc[best], sizeof(float) * (size_t)(k * d));
    memcpy(labels, bl[best], sizeof(int32_t) * (size_t)n);
    s = FM_STATUS_OK;
done:
    fm_free(xx);
    for (int t = 0; t < slots; t++) { fm_free(rc[t]); fm_free(bc[t]); fm_free(rl[t]); fm_free(bl[t]); }
    return s;
}

fm_status fm_kmeans_predict(int32_t *labels, float *d1, const float *x, const float *centers,
                            int64_t n, int64_t d, int64_t k)
{
    if (n < 0 || d < 1 || k < 1) return FM_STATUS_ARG;
    float *xx = fm_alloc((size_t)(n > 0 ? n : 1), sizeof(float));
    if (!xx) return FM_STATUS_NOMEM;
    fm_status s = fm_kmeans_row_norms(xx, x, n, d);
    if (s == FM_STATUS_OK) s = fm_kmeans_assign(labels, d1, NULL, x, xx, centers, n, d, k);
    fm_free(xx);
    return s;
}
