/* umap_sgd.c — UMAP's layout optimisation (umap-learn's optimize_layout_euclidean), made
 * deterministic under threads: see umap.h. Per epoch:
 *   1. densMAP (last dens_frac of the epochs): log local radii of the embedding, their moments;
 *   2. fit: the head vertices in fixed slices of 2,048, slice after slice; inside a slice every
 *      head j runs in parallel (any schedule): for each of its edges due this epoch, the
 *      attraction to the tail and umap-learn's count of repulsions from vertices drawn from
 *      stream (seed, epoch·n + j), all taken at the head's position before the edge and
 *      applied together; gradients clipped at ±4. Only row j, j's own edge counters and j's
 *      edges' tail moves are written; other slices are read live (no one writes them
 *      meanwhile), the head's own slice from a copy taken when the slice started;
 *   3. after each slice, the tails' moves (−α·g of each sampled edge, umap-learn's move_other)
 *      are summed per tail in edge order, and added to the layout when the epoch ends.
 *   transform: the tails are the fixed training embedding, one slice of all new points.
 * With AVX-512 and up to 16 components (outside densMAP's epochs) a head's row stays in one
 * register and an edge's attraction and repulsions go as one batch of 16 squared distances
 * (hsum16), one vectorised x^b (pow16) and one division. umap-learn moves the head after each
 * sample, which makes every edge one long chain of dependent loads, powers and divisions; taking
 * the edge's samples at one position cut the SGD from 14.4 to 11.5 s on one thread, with
 * K-Means and Ward on the 10-d layout unchanged (seeds 0–5). The scalar loop serves the other
 * cases with the same rule.
 * The learning rate decays as umap-learn's: α₀ for epochs 0 and 1, then α₀·(1 − (n − 1)/N).
 */
#include "umap.h"

#include <float.h>
#include <omp.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#if defined(__AVX512F__)
#include <immintrin.h>
/* x^b on 16 lanes for x > 0, as 2^(b·log2 x): log2 from the exponent and a degree-8 fit of the
 * mantissa in [¾, 1½) (error ≤ 2e-8), 2^f for f in [−½, ½] by a degree-5 fit (relative error
 * ≤ 1.1e-7) — both below float rounding. libm's calls per sample were a quarter of the SGD time;
 * this is a few vector instructions for a batch. Each lane depends on its own x only. */
static inline __m512 pow16(__m512 x, float b)
{
    x = _mm512_max_ps(x, _mm512_set1_ps(FLT_MIN));
    __m512 e = _mm512_getexp_ps(x);
    __m512 m = _mm512_getmant_ps(x, _MM_MANT_NORM_p75_1p5, _MM_MANT_SIGN_src);
    e = _mm512_mask_add_ps(e, _mm512_cmp_ps_mask(m, _mm512_set1_ps(1.0f), _CMP_LT_OQ), e, _mm512_set1_ps(1.0f));
    __m512 u = _mm512_sub_ps(m, _mm512_set1_ps(1.0f));
    static const float L[9] = {7.827980425e-02f, -1.744437758e-01f, 2.163585581e-01f, -2.427019033e-01f,
                               2.881863257e-01f, -3.605765738e-01f, 4.809022307e-01f, -7.213484724e-01f,
                               1.442695032e+00f};
    /* Estrin's scheme: 4 levels deep where Horner's is 8 (this sits on the SGD's critical path) */
#define C(i) _mm512_set1_ps(L[8 - (i)])
    __m512 u2 = _mm512_mul_ps(u, u), u4 = _mm512_mul_ps(u2, u2), u8 = _mm512_mul_ps(u4, u4);
    __m512 p01 = _mm512_fmadd_ps(C(1), u, C(0)), p23 = _mm512_fmadd_ps(C(3), u, C(2));
    __m512 p45 = _mm512_fmadd_ps(C(5), u, C(4)), p67 = _mm512_fmadd_ps(C(7), u, C(6));
    __m512 p03 = _mm512_fmadd_ps(p23, u2, p01), p47 = _mm512_fmadd_ps(p67, u2, p45);
    __m512 p = _mm512_fmadd_ps(C(8), u8, _mm512_fmadd_ps(p47, u4, p03));
#undef C
    __m512 y = _mm512_mul_ps(_mm512_set1_ps(b), _mm512_fmadd_ps(u, p, e));
    y = _mm512_min_ps(_mm512_max_ps(y, _mm512_set1_ps(-126.0f)), _mm512_set1_ps(126.0f));
    __m512 fi = _mm512_roundscale_ps(y, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 f = _mm512_sub_ps(y, fi);
    static const float E[6] = {0.00134004322f, 0.0096760371f, 0.0555032721f, 0.240221074f, 0.693147207f,
                               1.00000008f};
#define D(i) _mm512_set1_ps(E[5 - (i)])
    __m512 f2 = _mm512_mul_ps(f, f), f4 = _mm512_mul_ps(f2, f2);
    __m512 q = _mm512_fmadd_ps(_mm512_fmadd_ps(D(5), f, D(4)), f4,
                               _mm512_fmadd_ps(_mm512_fmadd_ps(D(3), f, D(2)), f2, _mm512_fmadd_ps(D(1), f, D(0))));
#undef D
    return _mm512_scalef_ps(q, fi);
}
/* the 16 lane sums of v[0..15] as one vector (lane q = the sum of v[q]): a transposing tree of
 * unpacks and 128-bit shuffles, 45 instructions 4 levels deep, instead of 16 reductions whose
 * results went through memory to be gathered (a store-forwarding stall on the critical path) */
static inline __m512 hsum16(const __m512 v[16])
{
    __m512 a[8], c[4], d[2];
    for (int i = 0; i < 8; i++)
        a[i] = _mm512_add_ps(_mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]), _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1]));
    for (int i = 0; i < 4; i++) {
        __m512d x = _mm512_castps_pd(a[2 * i]), y = _mm512_castps_pd(a[2 * i + 1]);
        c[i] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(x, y)), _mm512_castpd_ps(_mm512_unpackhi_pd(x, y)));
    }
    for (int i = 0; i < 2; i++)
        d[i] = _mm512_add_ps(_mm512_shuffle_f32x4(c[2 * i], c[2 * i + 1], _MM_SHUFFLE(2, 0, 2, 0)),
                             _mm512_shuffle_f32x4(c[2 * i], c[2 * i + 1], _MM_SHUFFLE(3, 1, 3, 1)));
    return _mm512_add_ps(_mm512_shuffle_f32x4(d[0], d[1], _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_f32x4(d[0], d[1], _MM_SHUFFLE(3, 1, 3, 1)));
}
#endif

#define FM_UMAP_MAX_SGD_DIM 64

static inline float clip4(float v) { return v > 4.0f ? 4.0f : (v < -4.0f ? -4.0f : v); }

/* x^b as exp2f(b·log2f(x)) — a few percent faster than powf here, error ~3e-7; 0 at x = 0 */
#define POWB(x) exp2f(b * log2f(x))

static double wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* umap-learn's schedule in 12 bytes per edge instead of its four float64 arrays (51 MB at 70,000
 * points, all read every epoch): an edge of rate r = w/w_max is
 * sampled at the epochs n ≥ 1 where floor(n·r) steps — where umap-learn's epoch_of_next_sample
 * ≤ n — kept as the next such epoch; it then draws floor(n·r·rate) − 1 − (negatives so far)
 * negatives, its epoch_of_next_negative_sample bookkeeping in closed form. n·r is exact in
 * double for a float r. */
static inline int32_t next_due(double r, int n)
{
    if (!(r > 0)) return INT32_MAX;
    double k = floor(n * r) + 1.0, m = ceil(k / r);
    while (floor(m * r) < k) m += 1.0;                      /* rounding of k/r, either way */
    while (m - 1.0 > n && floor((m - 1.0) * r) >= k) m -= 1.0;
    return m < (double)INT32_MAX ? (int32_t)m : INT32_MAX;
}
static inline int edge_negatives(double r, int n, double rate, int32_t done)
{
    double k = floor(n * r * rate) - 1.0 - (double)done;
    return k > 0 ? (int)k : 0;
}

/* the negative samples of one head come from one stream, drawn POOL at a time ahead of their
 * use with their rows prefetched (a head takes ~35 per epoch). Measured on one thread: without
 * the prefetches the SGD takes 1.3–2× as long; prefetching a sliding window of 8 or 16 instead
 * of the whole pool, or the next head's pool while this head works, were both slower. */
#define POOL 128
typedef struct {
    fm_rng r;
    int32_t idx[POOL];
    int have, used;
    int64_t left;   /* still to draw for this head */
} neg_pool;

static inline void pool_fill(neg_pool *p, uint64_t nv, const float *base, int64_t stride)
{
    int cnt = p->left < POOL ? (int)p->left : POOL;
    for (int q = 0; q < cnt; q++) {
        p->idx[q] = (int32_t)fm_rng_below(&p->r, nv);
        __builtin_prefetch(base + (int64_t)p->idx[q] * stride);
    }
    p->left -= cnt;
    p->have = cnt;
    p->used = 0;
}

/* the first position in key[lo, hi) (ascending) holding a value ≥ v */
static int64_t first_at_least(const int32_t *key, int64_t lo, int64_t hi, int64_t v)
{
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (key[mid] < v) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* tord/tkey: each slice's edges [rowptr[s0], rowptr[s1]) reordered by (tail, edge): a stable
 * counting sort of all edges by tail, dealt out to the slices of their heads in that order */
static fm_status order_by_tail(int32_t *tord, int32_t *tkey, const int64_t *rowptr, const int32_t *col,
                               int64_t nh, int64_t nv, int64_t slice)
{
    int64_t nnz = rowptr[nh], ns = (nh + slice - 1) / slice;
    int64_t *start = fm_alloc((size_t)(nv + 1), sizeof(int64_t)), *fill = fm_alloc((size_t)ns, sizeof(int64_t));
    int32_t *byc = fm_alloc((size_t)nnz, sizeof(int32_t)), *sl = fm_alloc((size_t)nnz, sizeof(int32_t));
    fm_status st = FM_STATUS_NOMEM;
    if (!start || !fill || !byc || !sl) goto done;
    for (int64_t e = 0; e < nnz; e++) start[col[e] + 1]++;
    for (int64_t i = 0; i < nv; i++) start[i + 1] += start[i];
    for (int64_t e = 0; e < nnz; e++) byc[start[col[e]]++] = (int32_t)e;
    for (int64_t s = 0; s < ns; s++) {
        int64_t s1 = (s + 1) * slice < nh ? (s + 1) * slice : nh;
        fill[s] = rowptr[s * slice];
        for (int64_t e = rowptr[s * slice]; e < rowptr[s1]; e++) sl[e] = (int32_t)s;
    }
    for (int64_t p = 0; p < nnz; p++) {
        int32_t e = byc[p], s = sl[e];
        tord[fill[s]] = (int32_t)(e - rowptr[(int64_t)s * slice]);
        tkey[fill[s]] = col[e];
        fill[s]++;
    }
    st = FM_STATUS_OK;
done:
    fm_free(start); fm_free(fill); fm_free(byc); fm_free(sl);
    return st;
}

fm_status fm_umap_optimize(float *emb, const float *tail, int64_t nh, int64_t nt, int64_t dim,
                           const int64_t *rowptr, const int32_t *col, const float *w,
                           const fm_umap_sgd_options *o)
{
    int fit = tail == NULL;
    int64_t nv = fit ? nh : nt, nnz = rowptr[nh];
    int N = o->n_epochs;
    if (nh < 1 || nv < 1 || dim < 1 || N < 0) return FM_STATUS_ARG;
    if (N == 0 || nnz == 0) return FM_STATUS_OK;
    fm_status st = FM_STATUS_NOMEM;
#if defined(__AVX512F__)
    /* up to 16 components: rows of 16 floats, 64-byte aligned, so a row is one cache line and
     * one aligned vector; the padding lanes stay 0 */
    const int64_t es = dim <= 16 ? 16 : dim;
#else
    const int64_t es = dim;
#endif
    float *E = fm_alloc((size_t)(nh * es), sizeof(float));
    float *TW = fit ? NULL : fm_alloc((size_t)(nt * es), sizeof(float));
    float *rr = fm_alloc((size_t)nnz, sizeof(float));
    int32_t *ndone = fm_alloc((size_t)nnz, sizeof(int32_t)), *nxt = fm_alloc((size_t)nnz, sizeof(int32_t));
    /* fit: the heads go in fixed slices of SLICE vertices, one after the other; a slice's heads run
     * in parallel, reading the other slices live (nobody writes them meanwhile) and their own
     * slice from a copy taken when the slice starts */
    const int64_t SLICE = 2048;
    float *snap = fit ? fm_alloc((size_t)(SLICE * es), sizeof(float)) : NULL;
    /* fit: umap-learn moves both ends of a sampled edge (move_other). The head moves at once; the
     * tail's move (−α·g) is written per edge here and added to the tail's row when the slice ends,
     * in edge order (the rows of the tails are not the thread's to write during the slice) */
    int64_t slice_nnz = 0;
    if (fit)
        for (int64_t s0 = 0; s0 < nh; s0 += SLICE) {
            int64_t s1 = s0 + SLICE < nh ? s0 + SLICE : nh;
            if (rowptr[s1] - rowptr[s0] > slice_nnz) slice_nnz = rowptr[s1] - rowptr[s0];
        }
    float *tpull = fit ? fm_alloc((size_t)((slice_nnz > 0 ? slice_nnz : 1) * es), sizeof(float)) : NULL;
    unsigned char *tdue = fit ? fm_alloc((size_t)(slice_nnz + 4), 1) : NULL;   /* + 4: read as int32 by a gather */
    /* fit: each slice's edges ordered by tail, then by edge (tkey the tail, tord the edge's offset
     * in the slice), so that a thread's band of tails is one run of them: the tails' pass reads only
     * its own band's edges instead of every thread scanning the whole slice */
    int32_t *tord = fit ? fm_alloc((size_t)nnz, sizeof(int32_t)) : NULL;
    int32_t *tkey = fit ? fm_alloc((size_t)nnz, sizeof(int32_t)) : NULL;
    float *tacc = fit ? fm_alloc((size_t)(nv * es), sizeof(float)) : NULL;
    int dm = fit && o->densmap && o->dens_lambda > 0 && o->dens_R && o->dens_mu_sum;
    float *re = dm ? fm_alloc((size_t)nh, sizeof(float)) : NULL;
    float *phis = dm ? fm_alloc((size_t)nh, sizeof(float)) : NULL;
    if (!E || !rr || !ndone || !nxt || (!fit && !TW) || (fit && (!snap || !tpull || !tdue || !tacc || !tord || !tkey)) || (dm && (!re || !phis)))
        goto done;

    if (fit && (st = order_by_tail(tord, tkey, rowptr, col, nh, nv, SLICE)) != FM_STATUS_OK) goto done;
    st = FM_STATUS_NOMEM;
    for (int64_t i = 0; i < nh; i++) memcpy(E + i * es, emb + i * dim, sizeof(float) * (size_t)dim);
    if (!fit)
        for (int64_t i = 0; i < nt; i++) memcpy(TW + i * es, tail + i * dim, sizeof(float) * (size_t)dim);
    float wmax = 0.0f;
    for (int64_t e = 0; e < nnz; e++) wmax = fmaxf(wmax, w[e]);
    /* make_epochs_per_sample's rate; never sampled when w = 0 */
    for (int64_t e = 0; e < nnz; e++) {
        rr[e] = (float)((double)w[e] / wmax);
        nxt[e] = next_due(rr[e], 0);
    }
    const double nsr = o->negative_sample_rate;
    double mu_tot = 0.0;
    if (dm) {
        for (int64_t i = 0; i < nh; i++) mu_tot += o->dens_mu_sum[i];
        mu_tot /= 2.0;
    }
    const float a = (float)o->a, b = (float)o->b, gamma = (float)o->gamma;
    double t0 = wall(), c0 = cpu();
    const float *T = fit ? E : TW;

    for (int n = 0; n < N; n++) {
        float alpha = (float)(o->initial_alpha * (n == 0 ? 1.0 : 1.0 - (double)(n - 1) / N));
        int dflag = dm && ((double)(n + 1) / N > 1.0 - o->dens_frac);
        float re_std = 0.0f, re_mean = 0.0f, re_cov = 0.0f;
        if (dflag) {
            #pragma omp parallel for schedule(static)
            for (int64_t j = 0; j < nh; j++) {
                double rs = 0.0, ps = 0.0;
                const float *p = T + j * es;
                for (int64_t e = rowptr[j]; e < rowptr[j + 1]; e++) {
                    const float *q = T + (int64_t)col[e] * es;
                    float d2 = 0.0f;
                    for (int64_t c = 0; c < dim; c++) { float t = p[c] - q[c]; d2 += t * t; }
                    float phi = 1.0f / (1.0f + a * POWB(d2));
                    rs += phi * d2;
                    ps += phi;
                }
                /* umap-learn adds each directed edge to both ends; the graph is symmetric */
                phis[j] = (float)(2.0 * ps);
                re[j] = (float)log(1e-8 + (ps > 0 ? rs / ps : 0.0));
            }
            double s = 0.0, s2 = 0.0, sc = 0.0;   /* serial: a fixed order */
            for (int64_t j = 0; j < nh; j++) { s += re[j]; sc += (double)re[j] * o->dens_R[j]; }
            double mean = s / nh;
            for (int64_t j = 0; j < nh; j++) s2 += ((double)re[j] - mean) * ((double)re[j] - mean);
            re_mean = (float)mean;
            re_std = (float)sqrt(s2 / nh + o->dens_var_shift);
            re_cov = (float)(sc / (double)(nh > 1 ? nh - 1 : 1));
        }

        for (int64_t s0 = 0; s0 < nh; s0 += fit ? SLICE : nh) {
        int64_t s1 = fit ? (s0 + SLICE < nh ? s0 + SLICE : nh) : nh;
        if (fit) {
            memcpy(snap, E + s0 * es, sizeof(float) * (size_t)((s1 - s0) * es));
            memset(tdue, 0, (size_t)(rowptr[s1] - rowptr[s0]));
        }
        const int64_t ebase = rowptr[s0];
/* the row of tail k as this slice sees it */
#define TROW(k) (fit && (k) >= s0 && (k) < s1 ? snap + ((k) - s0) * es : T + (int64_t)(k) * es)
        #pragma omp parallel for schedule(dynamic, 64)
        for (int64_t j = s0; j < s1; j++) {
            /* the due tails first, and the count of this head's negatives this epoch */
            neg_pool pl, *pool = &pl;
            pool->left = 0;
            pool->have = pool->used = 0;
            for (int64_t e = rowptr[j]; e < rowptr[j + 1]; e++) {
                if (nxt[e] != n) continue;
                __builtin_prefetch(TROW(col[e]));
                pool->left += edge_negatives(rr[e], n, nsr, ndone[e]);
            }
            if (pool->left > 0) {
                fm_rng_init(&pool->r, o->seed, (uint64_t)n * (uint64_t)nh + (uint64_t)j);
                pool_fill(pool, (uint64_t)nv, T, es);
            }
            float *cur = E + j * es;
#if defined(__AVX512F__)
            /* up to 16 components, outside densMAP's epochs: the head's row lives in one register
             * for all its edges, each tail or sample is one aligned load. The same arithmetic as
             * the loop below, in another order of summation (every thread takes this path) */
            if (dim <= 16 && !dflag) {
                const __mmask16 mk = (__mmask16)((1u << dim) - 1u);
                const __m512 lo4 = _mm512_set1_ps(-4.0f), hi4 = _mm512_set1_ps(4.0f);
                const __m512 hi4m = _mm512_maskz_mov_ps(mk, hi4);
                const __m512 zero = _mm512_setzero_ps();
                const __m512 rnum = _mm512_set1_ps(2.0f * gamma * b);
                __m512 vc = _mm512_load_ps(cur);
                for (int64_t e = rowptr[j]; e < rowptr[j + 1]; e++) {
                    if (nxt[e] != n) continue;
                    double r = rr[e];
                    nxt[e] = next_due(r, n);
                    int nneg = edge_negatives(r, n, nsr, ndone[e]);
                    ndone[e] += nneg;
                    /* lane 0 the tail, then up to 15 samples (16 a batch after that): the squared
                     * distances as one vector, one pow16 and one division for the batch */
                    __m512 g_att = zero, acc0 = zero, acc1 = zero;
                    for (int taken = 0, first = 1; first || taken < nneg; first = 0) {
                        __m512 dq[16];
                        int32_t kid[16];
                        int l = 0;
                        if (first) {
                            dq[0] = _mm512_sub_ps(vc, _mm512_load_ps(TROW(col[e])));
                            l = 1;
                        }
                        int lanes = l + (nneg - taken < 16 - l ? nneg - taken : 16 - l);
                        for (; l < lanes; l++) {
                            if (pool->used == pool->have) pool_fill(pool, (uint64_t)nv, T, es);
                            kid[l] = pool->idx[pool->used++];
                            dq[l] = _mm512_sub_ps(vc, _mm512_load_ps(TROW(kid[l])));
                        }
                        taken += lanes - (first ? 1 : 0);
                        __m512 sq[16];
                        for (int q = 0; q < 16; q++) sq[q] = q < lanes ? _mm512_mul_ps(dq[q], dq[q]) : zero;
                        __m512 d2 = hsum16(sq);
                        __m512 pw = pow16(d2, b);
                        __m512 den = _mm512_fmadd_ps(_mm512_set1_ps(a), pw, _mm512_set1_ps(1.0f));
                        /* repulsion 2γb / ((0.001 + d²)(a·d^2b + 1)); attraction (lane 0 of the
                         * first batch) −2ab·d^2b / (d²(a·d^2b + 1)) */
                        __m512 num = rnum, dd = _mm512_mul_ps(_mm512_add_ps(_mm512_set1_ps(0.001f), d2), den);
                        if (first) {
                            num = _mm512_mask_mul_ps(num, 1, _mm512_set1_ps(-2.0f * a * b), pw);
                            dd = _mm512_mask_mul_ps(dd, 1, d2, den);
                        }
                        float rc[16], dn[16];
                        _mm512_storeu_ps(rc, _mm512_div_ps(num, dd));
                        _mm512_storeu_ps(dn, d2);
                        int q = 0;
                        if (first) {
                            if (dn[0] > 0.0f)
                                g_att = _mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(_mm512_set1_ps(rc[0]), dq[0]), lo4), hi4);
                            q = 1;
                        }
                        for (; q < lanes; q++) {
                            int64_t kk = kid[q];
                            __m512 gq;
                            if (fit && kk == j) continue;   /* umap-learn: the vertex itself */
                            if (dn[q] > 0.0f && rc[q] > 0.0f)
                                gq = _mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(_mm512_set1_ps(rc[q]), dq[q]), lo4), hi4);
                            else if (dn[q] > 0.0f || kk != j)
                                gq = hi4m;   /* padding lanes stay 0 */
                            else
                                continue;
                            if (q & 1) acc1 = _mm512_add_ps(acc1, gq);
                            else acc0 = _mm512_add_ps(acc0, gq);
                        }
                    }
                    if (fit) {
                        _mm512_store_ps(tpull + (e - ebase) * 16, _mm512_mul_ps(g_att, _mm512_set1_ps(-alpha)));
                        tdue[e - ebase] = 1;
                    }
                    vc = _mm512_fmadd_ps(_mm512_add_ps(g_att, _mm512_add_ps(acc0, acc1)), _mm512_set1_ps(alpha), vc);
                }
                _mm512_store_ps(cur, vc);
                continue;
            }
#endif
            for (int64_t e = rowptr[j]; e < rowptr[j + 1]; e++) {
                if (nxt[e] != n) continue;
                double r = rr[e];
                nxt[e] = next_due(r, n);
                int32_t k = col[e];
                const float *oth = TROW(k);
                float d2 = 0.0f;
                for (int64_t c = 0; c < dim; c++) { float t = cur[c] - oth[c]; d2 += t * t; }
                float gcor = 0.0f;
                if (dflag) {
                    float pd = POWB(d2);
                    float phi = 1.0f / (1.0f + a * pd);
                    float dphi = d2 > 0.0f ? a * b * (pd / d2) / (1.0f + a * pd) : 0.0f;
                    float q_jk = phi / phis[k], q_kj = phi / phis[j];
                    float drk = q_jk * ((1.0f - b * (1.0f - phi)) / expf(re[k]) + dphi);
                    float drj = q_kj * ((1.0f - b * (1.0f - phi)) / expf(re[j]) + dphi);
                    float vs = re_std * re_std;
                    float wk = o->dens_R[k] - re_cov * (re[k] - re_mean) / vs;
                    float wj = o->dens_R[j] - re_cov * (re[j] - re_mean) / vs;
                    gcor = (float)(o->dens_lambda * mu_tot * (wk * drk + wj * drj) / (w[e] * re_std) / nv);
                }
                float coeff = 0.0f;
                if (d2 > 0.0f) {
                    float pd = POWB(d2);
                    coeff = -2.0f * a * b * (pd / d2) / (a * pd + 1.0f);
                }
                float *tp = fit ? tpull + (e - ebase) * es : NULL;
                /* the edge's attraction and its repulsions are all taken at the head's position
                 * before the edge and applied together, as in the vector path: independent samples
                 * overlap in the core instead of one long chain of dependent loads, powers and
                 * divisions (umap-learn moves the head after each; each move is at most 4·alpha).
                 * Beyond FM_UMAP_MAX_SGD_DIM components the moves are applied one by one. */
                float acc[FM_UMAP_MAX_SGD_DIM];
                int use_acc = dim <= FM_UMAP_MAX_SGD_DIM;
                for (int64_t c = 0; c < dim; c++) {
                    float diff = cur[c] - oth[c];
                    float g = clip4(coeff * diff);
                    if (dflag) g += clip4(2.0f * gcor * diff);
                    if (use_acc) acc[c] = g;
                    else cur[c] += g * alpha;
                    if (fit) tp[c] = g * -alpha;
                }
                if (fit) tdue[e - ebase] = 1;

                int nneg = edge_negatives(r, n, nsr, ndone[e]);
                ndone[e] += nneg;
                for (int p = 0; p < nneg; p++) {
                    if (pool->used == pool->have) pool_fill(pool, (uint64_t)nv, T, es);
                    int64_t kk = pool->idx[pool->used++];
                    if (fit && kk == j) continue;   /* umap-learn: the vertex itself, at distance 0 */
                    const float *q = TROW(kk);
                    float dn = 0.0f;
                    for (int64_t c = 0; c < dim; c++) { float t = cur[c] - q[c]; dn += t * t; }
                    float rc;
                    if (dn > 0.0f) rc = 2.0f * gamma * b / ((0.001f + dn) * (a * POWB(dn) + 1.0f));
                    else if (kk == j) continue;
                    else rc = 0.0f;
                    if (use_acc)
                        for (int64_t c = 0; c < dim; c++)
                            acc[c] += rc > 0.0f ? clip4(rc * (cur[c] - q[c])) : 4.0f;
                    else
                        for (int64_t c = 0; c < dim; c++)
                            cur[c] += (rc > 0.0f ? clip4(rc * (cur[c] - q[c])) : 4.0f) * alpha;
                }
                if (use_acc) for (int64_t c = 0; c < dim; c++) cur[c] += acc[c] * alpha;
            }
        }
#undef TROW
        /* the tails' moves of this slice: each thread owns a band of rows and adds the moves
         * into them in edge order, so a row sums its moves in the same order for any thread count */
        if (fit) {
            const int64_t lo = ebase, hi = rowptr[s1];
            #pragma omp parallel
            {
                int nt_ = omp_get_num_threads(), t = omp_get_thread_num();
                int64_t p0 = first_at_least(tkey, lo, hi, nv * t / nt_);
                int64_t p1 = first_at_least(tkey, lo, hi, nv * (t + 1) / nt_);
#if defined(__AVX512F__)
                if (dim <= 16) {
                    /* 16 edges at a time: one gather of their due flags, then the due ones' adds
                     * (a branch per edge mispredicted a third of the time) */
                    for (int64_t p = p0; p < p1; p += 16) {
                        int cnt = p1 - p < 16 ? (int)(p1 - p) : 16;
                        __mmask16 lm = (__mmask16)(cnt == 16 ? 0xFFFFu : (1u << cnt) - 1u);
                        __m512i q = _mm512_maskz_loadu_epi32(lm, tord + p);
                        __m512i du = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), lm, q, tdue, 1);
                        __mmask16 m = _mm512_mask_test_epi32_mask(lm, du, _mm512_set1_epi32(0xFF));
                        while (m) {
                            int bi = __builtin_ctz(m);
                            m &= (__mmask16)(m - 1);
                            float *row = tacc + (int64_t)tkey[p + bi] * 16;
                            _mm512_store_ps(row, _mm512_add_ps(_mm512_load_ps(row), _mm512_load_ps(tpull + (int64_t)tord[p + bi] * 16)));
                        }
                    }
                } else
#endif
                for (int64_t p = p0; p < p1; p++) {
                    int64_t q = tord[p];
                    if (!tdue[q]) continue;
                    float *row = tacc + (int64_t)tkey[p] * es;
                    const float *tp = tpull + q * es;
                    for (int64_t c = 0; c < dim; c++) row[c] += tp[c];
                }
            }
        }
        }
        if (fit) {
            #pragma omp parallel
            {
                int nt_ = omp_get_num_threads(), t = omp_get_thread_num();
                int64_t r0 = nv * t / nt_, r1 = nv * (t + 1) / nt_;
                for (int64_t i = r0; i < r1; i++) {
                    float *ti = tacc + i * es;
                    for (int64_t c = 0; c < dim; c++) E[i * es + c] += ti[c];
                    memset(ti, 0, sizeof(float) * (size_t)es);
                }
            }
        }
        if (o->verbose && (n % (N / 10 > 0 ? N / 10 : 1) == 0 || n == N - 1))
            fprintf(stderr, "[umap] %7.2fs  epoch %d/%d%s (cpu %.2fs)\n", wall() - t0, n + 1, N,
                    dflag ? " (densMAP)" : "", cpu() - c0);
    }
    for (int64_t i = 0; i < nh; i++) memcpy(emb + i * dim, E + i * es, sizeof(float) * (size_t)dim);
    st = FM_STATUS_OK;
done:
    fm_free(E); fm_free(TW); fm_free(rr); fm_free(ndone); fm_free(nxt); fm_free(snap); fm_free(re); fm_free(phis);
    fm_free(tpull); fm_free(tdue); fm_free(tacc); fm_free(tord); fm_free(tkey);
    return st;
}
