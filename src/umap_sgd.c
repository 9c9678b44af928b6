/* umap_sgd.c — UMAP's layout optimisation (umap-learn's optimize_layout_euclidean), made
 * deterministic under threads: see umap.h. Per epoch:
 *   1. densMAP (last dens_frac of the epochs): log local radii of the embedding, their moments;
 *   2. fit: the head vertices in fixed slices of 2,048, slice after slice; inside a slice every
 *      head j runs in parallel (any schedule): for each of its edges due this epoch, the
 *      attraction to the tail, then int((epoch − next_neg)/epochs_per_negative) repulsions from
 *      vertices drawn from stream (seed, epoch·n + j), all at the head's position after the
 *      attraction and applied together; gradients clipped at ±4. Only row j, j's own edge
 *      counters and j's edges' tail moves are written; other slices are read live (no one
 *      writes them meanwhile), the head's own slice from a copy taken when the slice started;
 *   3. after each slice, the tails' moves (−α·g of each sampled edge, umap-learn's move_other)
 *      are summed per tail in edge order, and added to the layout when the epoch ends.
 *   transform: the tails are the fixed training embedding, one slice of all new points.
 * With AVX-512 and up to 16 components (outside densMAP's epochs) a head's row stays in one
 * register and an edge's repulsions go in batches of 16 with a vectorised x^b (pow16): 30 % less
 * SGD time than the scalar loop, which serves the other cases.
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
    __m512 p = _mm512_set1_ps(L[0]);
    for (int i = 1; i < 9; i++) p = _mm512_fmadd_ps(p, u, _mm512_set1_ps(L[i]));
    __m512 y = _mm512_mul_ps(_mm512_set1_ps(b), _mm512_fmadd_ps(u, p, e));
    y = _mm512_min_ps(_mm512_max_ps(y, _mm512_set1_ps(-126.0f)), _mm512_set1_ps(126.0f));
    __m512 fi = _mm512_roundscale_ps(y, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 f = _mm512_sub_ps(y, fi);
    static const float E[6] = {0.00134004322f, 0.0096760371f, 0.0555032721f, 0.240221074f, 0.693147207f,
                               1.00000008f};
    __m512 q = _mm512_set1_ps(E[0]);
    for (int i = 1; i < 6; i++) q = _mm512_fmadd_ps(q, f, _mm512_set1_ps(E[i]));
    return _mm512_scalef_ps(q, fi);
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
    double *eps = fm_alloc((size_t)nnz, sizeof(double)), *eons = fm_alloc((size_t)nnz, sizeof(double));
    double *epns = fm_alloc((size_t)nnz, sizeof(double)), *eonns = fm_alloc((size_t)nnz, sizeof(double));
    /* fit: the heads go in fixed slices of SLICE vertices, one after the other; a slice's heads run
     * in parallel, reading the other slices live (nobody writes them meanwhile) and their own
     * slice from a copy taken when the slice starts */
    const int64_t SLICE = 2048;
    float *snap = fit ? fm_alloc((size_t)(SLICE * dim), sizeof(float)) : NULL;
    /* fit: umap-learn moves both ends of a sampled edge (move_other). The head moves at once; the
     * tail's move (−α·g) is written per edge here and added to the tail's row when the slice ends,
     * in edge order (the rows of the tails are not the thread's to write during the slice) */
    int64_t slice_nnz = 0;
    if (fit)
        for (int64_t s0 = 0; s0 < nh; s0 += SLICE) {
            int64_t s1 = s0 + SLICE < nh ? s0 + SLICE : nh;
            if (rowptr[s1] - rowptr[s0] > slice_nnz) slice_nnz = rowptr[s1] - rowptr[s0];
        }
#if defined(__AVX512F__)
    const int64_t ts = dim <= 16 ? 16 : dim;   /* rows of 16 floats: whole-vector stores (masked ones are slow on some CPUs) */
#else
    const int64_t ts = dim;
#endif
    float *tpull = fit ? fm_alloc((size_t)((slice_nnz > 0 ? slice_nnz : 1) * ts), sizeof(float)) : NULL;
    unsigned char *tdue = fit ? fm_alloc((size_t)(slice_nnz > 0 ? slice_nnz : 1), 1) : NULL;
    float *tacc = fit ? fm_alloc((size_t)(nv * ts), sizeof(float)) : NULL;
    int dm = fit && o->densmap && o->dens_lambda > 0 && o->dens_R && o->dens_mu_sum;
    float *re = dm ? fm_alloc((size_t)nh, sizeof(float)) : NULL;
    float *phis = dm ? fm_alloc((size_t)nh, sizeof(float)) : NULL;
    if (!eps || !eons || !epns || !eonns || (fit && (!snap || !tpull || !tdue || !tacc)) || (dm && (!re || !phis))) goto done;

    if (fit) memset(tacc, 0, sizeof(float) * (size_t)(nv * ts));
    float wmax = 0.0f;
    for (int64_t e = 0; e < nnz; e++) wmax = fmaxf(wmax, w[e]);
    for (int64_t e = 0; e < nnz; e++) {
        /* make_epochs_per_sample: N / (N·w/wmax); never sampled when w = 0 */
        double ns = (double)N * ((double)w[e] / wmax);
        eps[e] = ns > 0 ? (double)N / ns : INFINITY;
        eons[e] = eps[e];
        epns[e] = eps[e] / o->negative_sample_rate;
        eonns[e] = epns[e];
    }
    double mu_tot = 0.0;
    if (dm) {
        for (int64_t i = 0; i < nh; i++) mu_tot += o->dens_mu_sum[i];
        mu_tot /= 2.0;
    }
    const float a = (float)o->a, b = (float)o->b, gamma = (float)o->gamma;
    double t0 = wall(), c0 = cpu();

    for (int n = 0; n < N; n++) {
        float alpha = (float)(o->initial_alpha * (n == 0 ? 1.0 : 1.0 - (double)(n - 1) / N));
        const float *T = fit ? emb : tail;
        int dflag = dm && ((double)(n + 1) / N > 1.0 - o->dens_frac);
        float re_std = 0.0f, re_mean = 0.0f, re_cov = 0.0f;
        if (dflag) {
            #pragma omp parallel for schedule(static)
            for (int64_t j = 0; j < nh; j++) {
                double rs = 0.0, ps = 0.0;
                const float *p = T + j * dim;
                for (int64_t e = rowptr[j]; e < rowptr[j + 1]; e++) {
                    const float *q = T + (int64_t)col[e] * dim;
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
            memcpy(snap, emb + s0 * dim, sizeof(float) * (size_t)((s1 - s0) * dim));
            memset(tdue, 0, (size_t)(rowptr[s1] - rowptr[s0]));
        }
        const int64_t ebase = rowptr[s0];
/* the row of tail k as this slice sees it */
#define TROW(k) (fit && (k) >= s0 && (k) < s1 ? snap + ((k) - s0) * dim : T + (int64_t)(k) * dim)
        #pragma omp parallel for schedule(dynamic, 64)
        for (int64_t j = s0; j < s1; j++) {
            float *cur = emb + j * dim;
            fm_rng r;
            int rng_ready = 0;
            int64_t negs[32];
            /* the rows read this epoch live in L3 at best: ask for the due tails up front */
            for (int64_t e = rowptr[j]; e < rowptr[j + 1]; e++)
                if (eons[e] <= n) __builtin_prefetch(TROW(col[e]));
#if defined(__AVX512F__)
            /* up to 16 components, outside densMAP's epochs: the head's row lives in one register
             * for all its edges, each tail or sample is one masked load. The same arithmetic as
             * the loop below, in another order of summation (every thread takes this path) */
            if (dim <= 16 && !dflag) {
                const __mmask16 mk = (__mmask16)((1u << dim) - 1u);
                const __m512 lo4 = _mm512_set1_ps(-4.0f), hi4 = _mm512_set1_ps(4.0f);
                const __m512 va = _mm512_set1_ps(alpha);
                __m512 vc = _mm512_maskz_loadu_ps(mk, cur);
                for (int64_t e = rowptr[j]; e < rowptr[j + 1]; e++) {
                    if (eons[e] > n) continue;
                    __m512 df = _mm512_sub_ps(vc, _mm512_maskz_loadu_ps(mk, TROW(col[e])));
                    float d2 = _mm512_reduce_add_ps(_mm512_mul_ps(df, df));
                    float coeff = 0.0f;
                    if (d2 > 0.0f) {
                        float pd = POWB(d2);
                        coeff = -2.0f * a * b * (pd / d2) / (a * pd + 1.0f);
                    }
                    __m512 g = _mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(_mm512_set1_ps(coeff), df), lo4), hi4);
                    vc = _mm512_fmadd_ps(g, va, vc);
                    if (fit) {
                        _mm512_store_ps(tpull + (e - ebase) * 16, _mm512_mul_ps(g, _mm512_set1_ps(-alpha)));
                        tdue[e - ebase] = 1;
                    }
                    eons[e] += eps[e];

                    int nneg = (int)(((double)n - eonns[e]) / epns[e]);
                    if (nneg > 0 && !rng_ready) {
                        fm_rng_init(&r, o->seed, (uint64_t)n * (uint64_t)nh + (uint64_t)j);
                        rng_ready = 1;
                    }
                    /* the repulsions in batches of 16: distances first, then the 16 powers and
                     * quotients as one vector, then the clipped pushes */
                    __m512 acc = _mm512_setzero_ps();
                    for (int p0 = 0; p0 < nneg; p0 += 16) {
                        int cnt = nneg - p0 < 16 ? nneg - p0 : 16;
                        for (int q = 0; q < cnt; q++) {
                            negs[q] = (int64_t)fm_rng_below(&r, (uint64_t)nv);
                            __builtin_prefetch(TROW(negs[q]));
                        }
                        __m512 dq[16];
                        float dn[16];
                        for (int q = 0; q < 16; q++) dn[q] = 1.0f;
                        for (int q = 0; q < cnt; q++) {
                            dq[q] = _mm512_sub_ps(vc, _mm512_maskz_loadu_ps(mk, TROW(negs[q])));
                            dn[q] = _mm512_reduce_add_ps(_mm512_mul_ps(dq[q], dq[q]));
                        }
                        __m512 vd = _mm512_loadu_ps(dn);
                        __m512 pw = pow16(vd, b);
                        __m512 den = _mm512_mul_ps(_mm512_add_ps(_mm512_set1_ps(0.001f), vd),
                                                   _mm512_fmadd_ps(_mm512_set1_ps(a), pw, _mm512_set1_ps(1.0f)));
                        float rc[16];
                        _mm512_storeu_ps(rc, _mm512_div_ps(_mm512_set1_ps(2.0f * gamma * b), den));
                        for (int q = 0; q < cnt; q++) {
                            int64_t kk = negs[q];
                            if (fit && kk == j) continue;   /* umap-learn: the vertex itself */
                            if (dn[q] > 0.0f && rc[q] > 0.0f)
                                acc = _mm512_add_ps(acc, _mm512_min_ps(_mm512_max_ps(
                                          _mm512_mul_ps(_mm512_set1_ps(rc[q]), dq[q]), lo4), hi4));
                            else if (dn[q] > 0.0f || kk != j)
                                acc = _mm512_add_ps(acc, hi4);
                        }
                    }
                    vc = _mm512_fmadd_ps(acc, va, vc);
                    eonns[e] += nneg * epns[e];
                }
                _mm512_mask_storeu_ps(cur, mk, vc);
                continue;
            }
#endif
            for (int64_t e = rowptr[j]; e < rowptr[j + 1]; e++) {
                if (eons[e] > n) continue;
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
                float *tp = fit ? tpull + (e - ebase) * ts : NULL;
                for (int64_t c = 0; c < dim; c++) {
                    float diff = cur[c] - oth[c];
                    float g = clip4(coeff * diff);
                    if (dflag) g += clip4(2.0f * gcor * diff);
                    cur[c] += g * alpha;
                    if (fit) tp[c] = g * -alpha;
                }
                if (fit) tdue[e - ebase] = 1;
                eons[e] += eps[e];

                int nneg = (int)(((double)n - eonns[e]) / epns[e]);
                if (nneg > 0 && !rng_ready) {
                    fm_rng_init(&r, o->seed, (uint64_t)n * (uint64_t)nh + (uint64_t)j);
                    rng_ready = 1;
                }
                /* the repulsions of this edge are all taken at the head's position before them
                 * and applied together: independent samples overlap in the core instead of one
                 * long chain of dependent loads, powers and divisions (umap-learn applies each
                 * before drawing the next; each moves the head by at most 4·alpha) */
                float acc[FM_UMAP_MAX_SGD_DIM];
                int use_acc = dim <= FM_UMAP_MAX_SGD_DIM;
                if (use_acc) for (int64_t c = 0; c < dim; c++) acc[c] = 0.0f;
                for (int p = 0; p < nneg; p++) {
                    /* draw the next batch of samples first and prefetch their rows: the draws
                     * are the same stream in the same order, only the loads overlap */
                    if (p % 32 == 0) {
                        int cnt = nneg - p < 32 ? nneg - p : 32;
                        for (int q = 0; q < cnt; q++) {
                            negs[q] = (int64_t)fm_rng_below(&r, (uint64_t)nv);
                            __builtin_prefetch(TROW(negs[q]));
                        }
                    }
                    int64_t kk = negs[p % 32];
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
                eonns[e] += nneg * epns[e];
            }
        }
#undef TROW
        /* the tails' moves of this slice: each thread owns a band of rows and adds the moves
         * into them in edge order, so a row sums its moves in the same order for any thread count */
        if (fit) {
            int64_t ne = rowptr[s1] - ebase;
            #pragma omp parallel
            {
                int nt_ = omp_get_num_threads(), t = omp_get_thread_num();
                int64_t r0 = nv * t / nt_, r1 = nv * (t + 1) / nt_;
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
                if (dim <= 16) {
                    /* 16 edges at a time: one mask of the due edges whose tail is in this band
                     * (a branch per edge mispredicted half the time and cost more than the adds) */
                    const __m512i lo = _mm512_set1_epi32((int)r0), hi = _mm512_set1_epi32((int)r1);
                    for (int64_t q0 = 0; q0 < ne; q0 += 16) {
                        int cnt = ne - q0 < 16 ? (int)(ne - q0) : 16;
                        __mmask16 lm = (__mmask16)(cnt == 16 ? 0xFFFFu : (1u << cnt) - 1u);
                        __m512i c = _mm512_maskz_loadu_epi32(lm, col + ebase + q0);
                        __m128i du = _mm_maskz_loadu_epi8(lm, tdue + q0);
                        __mmask16 m = _mm_test_epi8_mask(du, du) & lm;
                        m = _mm512_mask_cmpge_epi32_mask(m, c, lo);
                        m = _mm512_mask_cmplt_epi32_mask(m, c, hi);
                        while (m) {
                            int b = __builtin_ctz(m);
                            m &= (__mmask16)(m - 1);
                            float *row = tacc + (int64_t)col[ebase + q0 + b] * 16;
                            _mm512_store_ps(row, _mm512_add_ps(_mm512_load_ps(row), _mm512_load_ps(tpull + (q0 + b) * 16)));
                        }
                    }
                } else
#endif
                for (int64_t q = 0; q < ne; q++) {
                    if (!tdue[q]) continue;
                    int64_t k = col[ebase + q];
                    if (k < r0 || k >= r1) continue;
                    float *row = tacc + k * ts;
                    const float *tp = tpull + q * ts;
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
                    float *ti = tacc + i * ts;
                    for (int64_t c = 0; c < dim; c++) emb[i * dim + c] += ti[c];
                    memset(ti, 0, sizeof(float) * (size_t)ts);
                }
            }
        }
        if (o->verbose && (n % (N / 10 > 0 ? N / 10 : 1) == 0 || n == N - 1))
            fprintf(stderr, "[umap] %7.2fs  epoch %d/%d%s (cpu %.2fs)\n", wall() - t0, n + 1, N,
                    dflag ? " (densMAP)" : "", cpu() - c0);
    }
    st = FM_STATUS_OK;
done:
    fm_free(eps); fm_free(eons); fm_free(epns); fm_free(eonns); fm_free(snap); fm_free(re); fm_free(phis);
    fm_free(tpull); fm_free(tdue); fm_free(tacc);
    return st;
}
