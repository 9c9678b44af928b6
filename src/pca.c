/* pca.c — principal component analysis (see pca.h for the two solvers and the sign rule).
 *
 * Determinism: the same bits for any thread count. Every BLAS call runs on one thread over a
 * row chunk whose shape depends on n only (gemm_rows, crossprod below); chunk results are added
 * in chunk order, in double; the 8-bit kernel sums integers, exact in any order; LAPACK runs on
 * one thread; the random test matrix comes from fm_rng_fill (fixed chunks, one stream each).
 */
#include "pca.h"

#include <cblas.h>
#include <lapacke.h>
#include <omp.h>
#include <math.h>
#include <string.h>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define FM_PCA_X86 1
#endif

#define PCA_BLOCK 4096          /* rows per chunk of the row-wise products and reductions */
#define CROSS_GROUP 64          /* at most this many chunk partials are held and summed together … */
#define CROSS_MEM (32u << 20)   /* … and fewer when they would exceed 32 MiB */

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

/* Rows per chunk: a function of n only (never of the thread count), ≥ 16 chunks when n allows so
 * both cores get work, ≤ PCA_BLOCK so a chunk's scratch stays in cache-friendly sizes. */
static int64_t chunk_rows(int64_t n)
{
    int64_t c = ((n + 15) / 16 + 63) / 64 * 64;
    return max64(256, min64(PCA_BLOCK, c));
}

/* ---- deterministic BLAS ----
 * OpenBLAS's threaded GEMM/SYRK driver cuts the inner dimension into different blocks than its
 * serial one (measured: X·Vᵀ for 70,000×784×80 differs in the last bits between 1 and 2
 * threads), and its threaded level-2 kernels add partial sums. So every BLAS call here runs on
 * one thread — inside an OpenMP parallel region the OpenMP build of OpenBLAS does that by
 * itself — on a chunk of fixed shape, and chunk results meet in a fixed order. */

/* c (n×m) = a (n×k) · op(b), op(b) k×m (b is m×k when tb); one serial GEMM per row chunk, then
 * in the same pass c[i][j] = (c[i][j] − sub[j]) · mul[j] where sub / mul (m, double) are given */
static void gemm_rows(float *c, const float *a, const float *b, int64_t n, int64_t m, int64_t k, int tb,
                      const double *sub, const double *mul)
{
    int64_t cs = chunk_rows(n), nc = (n + cs - 1) / cs;
    #pragma omp parallel for schedule(dynamic, 1)
    for (int64_t t = 0; t < nc; t++) {
        int64_t i0 = t * cs, rows = min64(cs, n - i0);
        float *ct = c + i0 * m;
        fm_gemm(ct, a + i0 * k, b, rows, m, k, 0, tb, 1.0f, 0.0f);
        if (sub || mul)
            for (int64_t i = 0; i < rows * m; i += m)
                for (int64_t j = 0; j < m; j++) {
                    double v = (double)ct[i + j] - (sub ? sub[j] : 0.0);
                    ct[i + j] = (float)(mul ? v * mul[j] : v);
                }
    }
}

/* c (p×q, double) = Σ over row chunks of (A − 1·shiftᵀ)ᵀ·B for A (n×p), B (n×q); shift (p) may
 * be NULL. sym: B is A (q = p) and only the upper triangle of c is written (SYRK). Each chunk's
 * float partial comes from one serial BLAS call; partials are added to c in chunk order. */
static fm_status crossprod(double *c, const float *a, const float *shift, const float *b, int64_t n,
                           int64_t p, int64_t q, int sym)
{
    int64_t cs = chunk_rows(n), nc = (n + cs - 1) / cs;
    int64_t g = (int64_t)(CROSS_MEM / ((size_t)p * (size_t)q * sizeof(float)));
    g = max64(1, min64(CROSS_GROUP, min64(g, nc)));
    int nt = omp_get_max_threads();
    float *part = fm_alloc((size_t)(g * p * q), sizeof(float));
    float *buf = shift ? fm_alloc((size_t)nt * (size_t)(cs * p), sizeof(float)) : NULL;
    if (!part || (shift && !buf)) { fm_free(part); fm_free(buf); return FM_STATUS_NOMEM; }
    memset(c, 0, sizeof(double) * (size_t)(p * q));
    for (int64_t g0 = 0; g0 < nc; g0 += g) {
        int64_t gn = min64(g, nc - g0);
        #pragma omp parallel for schedule(dynamic, 1)
        for (int64_t t = 0; t < gn; t++) {
            int64_t i0 = (g0 + t) * cs, rows = min64(cs, n - i0);
            const float *ac = a + i0 * p;
            if (shift) {   /* centre the chunk in this thread's scratch (scratch only: no effect on bits) */
                float *bb = buf + (size_t)omp_get_thread_num() * (size_t)(cs * p);
                for (int64_t i = 0; i < rows; i++)
                    for (int64_t j = 0; j < p; j++) bb[i * p + j] = ac[i * p + j] - shift[j];
                ac = bb;
            }
            float *pt = part + t * p * q;
            if (sym)
                cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, (blasint)p, (blasint)rows, 1.0f, ac,
                            (blasint)p, 0.0f, pt, (blasint)p);
            else
                fm_gemm(pt, ac, b + i0 * q, p, q, rows, 1, 0, 1.0f, 0.0f);
        }
        #pragma omp parallel for schedule(static)
        for (int64_t r = 0; r < p; r++)
            for (int64_t t = 0; t < gn; t++) {
                const float *pr = part + t * p * q + r * q;
                for (int64_t j = sym ? r : 0; j < q; j++) c[r * q + j] += pr[j];
            }
    }
    fm_free(part);
    fm_free(buf);
    return FM_STATUS_OK;
}

void fm_pca_model_free(fm_pca_model *m)
{
    fm_free(m->components);
    fm_free(m->mean);
    fm_free(m->explained_variance);
    memset(m, 0, sizeof *m);
}

int fm_pca_auto_iter(int64_t n, int64_t d, int64_t k)
{
    /* scikit-learn's randomized_svd: "7 was found a good compromise for PCA" (#5299) */
    return (double)k < 0.1 * (double)min64(n, d) ? 7 : 4;
}

int64_t fm_pca_sketch_width(int64_t n, int64_t d, int64_t k, int64_t n_oversamples)
{
    int64_t l = k + (n_oversamples > 0 ? n_oversamples : 0);
    return min64(l, min64(n, d));
}

fm_pca_solver fm_pca_pick_solver(int64_t n, int64_t d, int64_t k, int64_t l, int q, int fraction, int u8)
{
    if (fraction) return FM_PCA_COVARIANCE;   /* needs every eigenvalue */
    double dn = (double)n, dd = (double)d, dk = (double)k, dl = (double)l;
    if (dd * dd * sizeof(double) > 1024.0 * 1024.0 * 1024.0) return FM_PCA_RANDOMIZED;
    if (l >= min64(n, d)) q = 0;              /* a full-width sketch is exact without iterations */
    /* Seconds on one core of this machine (AVX-512 SGEMM), fitted to CPU times of both solvers on
     * n×d×k = 70000×784×80, 10000×784×{20,200}, 3000×784×20, 2000×3000×50, 20000×2000×50:
     *   covariance  SYRK n·d²/2 multiply-adds (the 8-bit kernel: 4.2× faster, plus packing n·d),
     *               dsyevr ~d³ (BLAS-2 bound), eigenvectors k·d²
     *   randomized  (2q+2) products of n·d·l, (2q+1) Cholesky QRs of n·l² */
    double cov = (u8 ? 4e-12 * dn * dd * dd + 4.4e-10 * dn * dd : 1.7e-11 * dn * dd * dd)
                 + 7e-11 * dd * dd * dd + 3e-10 * dk * dd * dd;
    double rnd = 4e-11 * (2.0 * q + 2.0) * dn * dd * dl + 1e-10 * (2.0 * q + 1.0) * dn * dl * dl;
    /* covariance is exact where randomized approximates: it wins near-ties */
    return cov <= 1.25 * rnd ? FM_PCA_COVARIANCE : FM_PCA_RANDOMIZED;
}

/* ------------------------------------------------------------------ stages */

fm_status fm_pca_mean(float *mean, double *total_var, const float *x, int64_t n, int64_t d)
{
    if (n < 2 || d < 1) return FM_STATUS_ARG;
    int64_t nb = (n + PCA_BLOCK - 1) / PCA_BLOCK;
    double *part = fm_alloc((size_t)(nb * d), sizeof(double));
    double *acc = fm_alloc((size_t)d, sizeof(double));
    if (!part || !acc) { fm_free(part); fm_free(acc); return FM_STATUS_NOMEM; }

    #pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < nb; b++) {
        double *s = part + b * d;
        for (int64_t i = b * PCA_BLOCK; i < min64((b + 1) * PCA_BLOCK, n); i++)
            for (int64_t j = 0; j < d; j++) s[j] += x[i * d + j];
    }
    for (int64_t b = 0; b < nb; b++)
        for (int64_t j = 0; j < d; j++) acc[j] += part[b * d + j];
    for (int64_t j = 0; j < d; j++) mean[j] = (float)(acc[j] / (double)n);

    if (total_var) {
        /* second pass about the float mean the model keeps: the variance the solvers see */
        memset(part, 0, sizeof(double) * (size_t)(nb * d));
        #pragma omp parallel for schedule(static)
        for (int64_t b = 0; b < nb; b++) {
            double *s = part + b * d;
            for (int64_t i = b * PCA_BLOCK; i < min64((b + 1) * PCA_BLOCK, n); i++)
                for (int64_t j = 0; j < d; j++) {
                    double c = (double)x[i * d + j] - mean[j];
                    s[j] += c * c;
                }
        }
        double t = 0.0;
        for (int64_t j = 0; j < d; j++) {
            double v = 0.0;
            for (int64_t b = 0; b < nb; b++) v += part[b * d + j];
            t += v;
        }
        *total_var = t / (double)(n - 1);
    }
    fm_free(part);
    fm_free(acc);
    return FM_STATUS_OK;
}

fm_status fm_pca_covariance(double *cov, const float *x, const float *mean, int64_t n, int64_t d)
{
    if (n < 1 || d < 1) return FM_STATUS_ARG;
    /* Float SYRK runs twice as fast as double here; adding its per-chunk results in double keeps
     * the error at that of one ≤ 4,096-term float sum (eigenvalues within ~1e-6 relative of a
     * double-precision covariance on Fashion-MNIST). */
    return crossprod(cov, x, mean, x, n, d, d, 1);
}

/* ------------------------------------------------------------------ exact 8-bit covariance */

#define U8_TR 8        /* rows of a C tile: broadcast operands */
#define U8_TC 48       /* columns of a C tile: three vectors of 16 int32 */
#define U8_BLOCK 1024  /* row groups (of 4) per pass: int32 sums stay < 4096·255·128 < 2³¹ */

int fm_pca_u8_supported(void)
{
#ifdef FM_PCA_X86
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vnni");
#else
    return 0;
#endif
}

#ifdef FM_PCA_X86
/* One group of four rows (rows[t] NULL past the end): 16 columns at a time, k = round(x/scale)
 * checked, clamped, and the four rows' bytes interleaved into one 32-bit word per column.
 * Returns 1 if a value is not k·scale: |x/scale − k| > 5e-7·k + 1e-6, i.e. a few float ulps
 * (NaN fails too). cs (d int32) accumulates the column sums of k. */
__attribute__((target("avx512f,avx512bw")))
static int pack_group(uint8_t *dst, const float *const rows[4], int64_t d, float inv, int32_t *cs)
{
    __mmask16 bad = 0;
    const __m512 zero = _mm512_setzero_ps(), top = _mm512_set1_ps(255.0f);
    const __m512 rel = _mm512_set1_ps(5e-7f), abs_tol = _mm512_set1_ps(1e-6f);
    const __m512i bytes = _mm512_set1_epi32(0xff);
    for (int64_t j = 0; j < d; j += 16) {
        __mmask16 m = d - j >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (d - j)) - 1u);
        __m512i word = _mm512_setzero_si512(), sum = _mm512_maskz_loadu_epi32(m, cs + j);
        for (int t = 0; t < 4; t++) {
            if (!rows[t]) break;
            __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, rows[t] + j), _mm512_set1_ps(inv));
            __m512 k = _mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            k = _mm512_min_ps(_mm512_max_ps(k, zero), top);
            __m512 err = _mm512_abs_ps(_mm512_sub_ps(v, k));
            bad |= _mm512_mask_cmp_ps_mask(m, err, _mm512_fmadd_ps(k, rel, abs_tol), _CMP_NLE_UQ);
            __m512i ki = _mm512_and_si512(_mm512_cvtps_epi32(k), bytes);
            sum = _mm512_add_epi32(sum, ki);
            word = _mm512_or_si512(word, _mm512_slli_epi32(ki, 8 * t));
        }
        _mm512_mask_storeu_epi32(dst + j * 4, m, word);
        _mm512_mask_storeu_epi32(cs + j, m, sum);
    }
    return bad != 0;
}
#endif

#ifdef FM_PCA_X86
/* out (U8_TR×U8_TC int32) = Σ over row groups g0..g1 of K[rows, p0..p0+8)ᵀ · (K − 128)[rows, q0..q0+48).
 * 24 accumulators: per group, 3 loads, 8 broadcasts, 24 vpdpbusd. The second operand of vpdpbusd
 * is signed, so its bytes are flipped (k ^ 0x80 = k − 128 as int8); the caller adds 128·colsum. */
__attribute__((target("avx512f,avx512bw,avx512vnni")))
static void u8_tile(int32_t *out, const uint8_t *pk, int64_t dp, int64_t g0, int64_t g1, int64_t p0,
                    int64_t q0)
{
    __m512i acc[U8_TR][3];
    for (int r = 0; r < U8_TR; r++)
        for (int c = 0; c < 3; c++) acc[r][c] = _mm512_setzero_si512();
    const __m512i flip = _mm512_set1_epi32((int)0x80808080u);
    for (int64_t g = g0; g < g1; g++) {
        const uint8_t *row = pk + g * dp * 4;
        __m512i b[3];
        for (int c = 0; c < 3; c++)
            b[c] = _mm512_xor_si512(_mm512_loadu_si512((const void *)(row + (q0 + 16 * c) * 4)), flip);
        for (int r = 0; r < U8_TR; r++) {
            int32_t w;
            memcpy(&w, row + (p0 + r) * 4, sizeof w);
            __m512i a = _mm512_set1_epi32(w);
            for (int c = 0; c < 3; c++) acc[r][c] = _mm512_dpbusd_epi32(acc[r][c], a, b[c]);
        }
    }
    for (int r = 0; r < U8_TR; r++)
        for (int c = 0; c < 3; c++) _mm512_storeu_si512((void *)(out + r * U8_TC + 16 * c), acc[r][c]);
}
#endif

fm_status fm_pca_covariance_u8(double *cov, int64_t *colsum, int *is_u8, const float *x, double scale,
                               int64_t n, int64_t d)
{
    *is_u8 = 0;
#ifdef FM_PCA_X86
    if (n < 1 || d < 1 || !(scale > 0.0)) return FM_STATUS_ARG;
    if (!fm_pca_u8_supported()) return FM_STATUS_ARG;
    int64_t dp = (d + U8_TC - 1) / U8_TC * U8_TC;   /* padded columns stay zero */
    int64_t ng = (n + 3) / 4, npb = dp / U8_TR, nqb = dp / U8_TC;
    uint8_t *pk = fm_alloc((size_t)(U8_BLOCK * dp * 4), 1);          /* one block of packed rows */
    int64_t *acc = fm_alloc((size_t)(dp * dp), sizeof(int64_t));    /* Σ k_p·(k_q − 128), tile-wise upper */
    int32_t *cs = fm_alloc((size_t)d, sizeof(int32_t));              /* this block's column sums */
    if (!pk || !acc || !cs) { fm_free(pk); fm_free(acc); fm_free(cs); return FM_STATUS_NOMEM; }
    float inv = (float)(1.0 / scale);
    for (int64_t j = 0; j < d; j++) colsum[j] = 0;
    int bad = 0;
    /* Block by block (≤ 4,096 rows, 3.3 MB packed for d = 784): pack into the buffer, then both
     * cores take column strips of acc, reading the block from the shared cache. A task owns its
     * strip, so no two write the same entry; integer sums make the order irrelevant. */
    for (int64_t g0 = 0; g0 < ng && !bad; g0 += U8_BLOCK) {
        int64_t g1 = min64(ng, g0 + U8_BLOCK);
        #pragma omp parallel
        {
            int32_t tile[U8_TR * U8_TC];
            int32_t *mycs = fm_alloc((size_t)d, sizeof(int32_t));   /* NULL: counted as bad below */
            int mybad = !mycs;
            #pragma omp for schedule(static)
            for (int64_t g = g0; g < g1; g++) {
                const float *rows[4];
                for (int64_t t = 0; t < 4; t++) rows[t] = 4 * g + t < n ? x + (4 * g + t) * d : NULL;
                if (mycs) mybad |= pack_group(pk + (g - g0) * dp * 4, rows, d, inv, mycs);
            }
            #pragma omp critical
            {   /* integer sums: exact in any order */
                bad |= mybad;
                if (mycs)
                    for (int64_t j = 0; j < d; j++) cs[j] += mycs[j];
            }
            fm_free(mycs);
            #pragma omp barrier
            if (!bad) {
                #pragma omp for schedule(dynamic, 1)
                for (int64_t t = 0; t < nqb; t++) {
                    int64_t q0 = (nqb - 1 - t) * U8_TC;   /* the strips with the most tiles first */
                    int64_t np = min64(npb, (q0 + U8_TC + U8_TR - 1) / U8_TR);
                    for (int64_t ib = 0; ib < np; ib++) {
                        u8_tile(tile, pk, dp, 0, g1 - g0, ib * U8_TR, q0);
                        for (int64_t r = 0; r < U8_TR; r++) {
                            int64_t *dst = acc + (ib * U8_TR + r) * dp + q0;
                            for (int64_t j = 0; j < U8_TC; j++) dst[j] += tile[r * U8_TC + j];
                        }
                    }
                }
            }
        }
        for (int64_t j = 0; j < d; j++) { colsum[j] += cs[j]; cs[j] = 0; }
    }
    if (!bad) {
        /* KᵀK = acc + 128·colsum_p (exact); centred: − colsum_p·colsum_q / n, in double */
        double s2 = scale * scale, dn = (double)n;
        memset(cov, 0, sizeof(double) * (size_t)(d * d));
        #pragma omp parallel for schedule(static)
        for (int64_t p = 0; p < d; p++)
            for (int64_t q = p; q < d; q++) {
                int64_t kk = acc[p * dp + q] + 128 * colsum[p];
                cov[p * d + q] = s2 * ((double)kk - (double)colsum[p] * (double)colsum[q] / dn);
            }
    }
    fm_free(pk);
    fm_free(acc);
    fm_free(cs);
    *is_u8 = !bad;
    return FM_STATUS_OK;
#else
    (void)cov; (void)colsum; (void)x; (void)scale; (void)n; (void)d;
    return FM_STATUS_ARG;
#endif
}

/* The scale the 8-bit kernel would try (1 for raw pixels when a value exceeds 1, else 1/255),
 * or 0 when the CPU lacks VNNI, d is too large, or one of the first 65,536 values is off the grid.
 * A cheap guess: fm_pca_pack_u8 checks every value. */
static double u8_scale(const float *x, int64_t n, int64_t d)
{
    if (!fm_pca_u8_supported() || d > 4096) return 0.0;
    int64_t m = min64(n * d, 65536);
    double scale = 1.0 / 255.0;
    for (int64_t i = 0; i < m; i++)
        if (x[i] > 1.0f) { scale = 1.0; break; }
    for (int64_t i = 0; i < m; i++) {
        double v = x[i] / scale, k = nearbyint(v);
        if (!(fabs(v - k) <= 5e-7 * k + 1e-6) || k < 0.0 || k > 255.0) return 0.0;
    }
    return scale;
}

/* The 8-bit path when the CPU and the data allow it: *done = 1 with cov and mean filled. */
static fm_status try_covariance_u8(double *cov, float *mean, int *done, const float *x, int64_t n,
                                   int64_t d)
{
    *done = 0;
    double scale = u8_scale(x, n, d);
    if (scale == 0.0) return FM_STATUS_OK;
    int64_t *colsum = fm_alloc((size_t)d, sizeof(int64_t));
    if (!colsum) return FM_STATUS_NOMEM;
    fm_status s = fm_pca_covariance_u8(cov, colsum, done, x, scale, n, d);
    if (s == FM_STATUS_OK && *done)
        for (int64_t j = 0; j < d; j++) mean[j] = (float)(scale * (double)colsum[j] / (double)n);
    fm_free(colsum);
    if (s == FM_STATUS_NOMEM) { *done = 0; s = FM_STATUS_OK; }   /* no room: take the float path */
    return s;
}

fm_status fm_pca_eigh(double *evals, float *components, double *cov, int64_t d, int64_t k)
{
    if (k < 1 || k > d) return FM_STATUS_ARG;
    double *w = fm_alloc((size_t)d, sizeof(double));
    double *v = fm_alloc((size_t)(d * k), sizeof(double));
    lapack_int *isuppz = fm_alloc((size_t)(2 * d), sizeof(lapack_int));
    if (!w || !v || !isuppz) { fm_free(w); fm_free(v); fm_free(isuppz); return FM_STATUS_NOMEM; }
    /* The row-major upper triangle is the column-major lower one: no transpose copy. dsyevr
     * (MRRR) computes only the eigenpairs asked for, in ascending order. */
    lapack_int found = 0, info = 0;
    /* one thread runs LAPACK (and so a serial BLAS) while the others wait: reproducible bits */
    #pragma omp parallel
    #pragma omp single
    info = LAPACKE_dsyevr(LAPACK_COL_MAJOR, 'V', k == d ? 'A' : 'I', 'L', (lapack_int)d, cov, (lapack_int)d,
                          0.0, 0.0, (lapack_int)(d - k + 1), (lapack_int)d, LAPACKE_dlamch('S'), &found, w,
                          v, (lapack_int)d, isuppz);
    fm_status s = FM_STATUS_OK;
    if (info == LAPACK_WORK_MEMORY_ERROR) s = FM_STATUS_NOMEM;
    else if (info != 0 || found != k) s = FM_STATUS_NUMERIC;
    else {
        for (int64_t i = 0; i < k; i++) {
            int64_t src = k - 1 - i;   /* descending */
            evals[i] = w[src] > 0.0 ? w[src] : 0.0;   /* rounding can leave tiny negatives */
            for (int64_t j = 0; j < d; j++) components[i * d + j] = (float)v[src * d + j];
        }
    }
    fm_free(w);
    fm_free(v);
    fm_free(isuppz);
    return s;
}

/* column sums (l) of y (n×l) in double, fixed blocks added in order */
static fm_status col_sums(double *s, const float *y, int64_t n, int64_t l)
{
    int64_t nb = (n + PCA_BLOCK - 1) / PCA_BLOCK;
    double *part = fm_alloc((size_t)(nb * l), sizeof(double));
    if (!part) return FM_STATUS_NOMEM;
    #pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < nb; b++)
        for (int64_t i = b * PCA_BLOCK; i < min64((b + 1) * PCA_BLOCK, n); i++)
            for (int64_t j = 0; j < l; j++) part[b * l + j] += y[i * l + j];
    for (int64_t j = 0; j < l; j++) s[j] = 0.0;
    for (int64_t b = 0; b < nb; b++)
        for (int64_t j = 0; j < l; j++) s[j] += part[b * l + j];
    fm_free(part);
    return FM_STATUS_OK;
}

/* y (n×l) = X̃·w = X·w − 1·(meanᵀw); x is n×d, w is d×l. Centring is implicit: X is never copied. */
static void times_right(float *y, const float *x, const float *mean, const float *w, double *off,
                        int64_t n, int64_t d, int64_t l)
{
    for (int64_t j = 0; j < l; j++) off[j] = 0.0;
    for (int64_t a = 0; a < d; a++)
        for (int64_t j = 0; j < l; j++) off[j] += (double)mean[a] * w[a * l + j];
    gemm_rows(y, x, w, n, l, d, 0, off, NULL);
}

/* wd (d×l, double) = X̃ᵀ·y = Xᵀ·y − mean·(1ᵀy); x is n×d, y is n×l */
static fm_status times_left(double *wd, const float *x, const float *mean, const float *y, double *sum,
                            int64_t n, int64_t d, int64_t l)
{
    fm_status s = col_sums(sum, y, n, l);
    if (s == FM_STATUS_OK) s = crossprod(wd, x, NULL, y, n, d, l, 0);
    if (s != FM_STATUS_OK) return s;
    for (int64_t a = 0; a < d; a++)
        for (int64_t j = 0; j < l; j++) wd[a * l + j] -= (double)mean[a] * sum[j];
    return FM_STATUS_OK;
}

/* Householder QR: y (m×l, l ≤ m) ← Q, for sketches too ill-conditioned for Cholesky QR */
static fm_status householder(float *y, int64_t m, int64_t l)
{
    float *tau = fm_alloc((size_t)l, sizeof(float));
    if (!tau) return FM_STATUS_NOMEM;
    lapack_int info = 0;
    #pragma omp parallel
    #pragma omp single
    {
        info = LAPACKE_sgeqrf(LAPACK_ROW_MAJOR, (lapack_int)m, (lapack_int)l, y, (lapack_int)l, tau);
        if (info == 0)
            info = LAPACKE_sorgqr(LAPACK_ROW_MAJOR, (lapack_int)m, (lapack_int)l, (lapack_int)l, y,
                                  (lapack_int)l, tau);
    }
    fm_free(tau);
    if (info == LAPACK_WORK_MEMORY_ERROR) return FM_STATUS_NOMEM;
    return info == 0 ? FM_STATUS_OK : FM_STATUS_NUMERIC;
}

/* Replace the columns of y (m×l, l ≤ m) by an orthonormal basis of their span. Cholesky QR twice
 * (CholQR2: Y ← Y·R⁻¹ with RᵀR = YᵀY; the second pass restores orthogonality to working
 * precision): two SYRKs and two TRSMs, all level 3 and chunked like the rest. LAPACK's
 * Householder QR of a 70,000×90 panel is BLAS-2 bound and took longer than the power iteration's
 * GEMMs. When R is too ill-conditioned for a float Gram matrix (rank-deficient data, fast-decaying
 * spectra) the step falls back to Householder. g is l×l doubles, r l×l floats of scratch. */
static fm_status orthonormalize(float *y, int64_t m, int64_t l, double *g, float *r)
{
    for (int pass = 0; pass < 2; pass++) {
        fm_status s = crossprod(g, y, NULL, y, m, l, l, 1);
        if (s != FM_STATUS_OK) return s;
        lapack_int info = 0;
        #pragma omp parallel
        #pragma omp single
        info = LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'U', (lapack_int)l, g, (lapack_int)l);
        double dmin = INFINITY, dmax = 0.0;
        for (int64_t i = 0; i < l && info == 0; i++) {
            dmin = fmin(dmin, g[i * l + i]);
            dmax = fmax(dmax, g[i * l + i]);
        }
        if (info != 0 || !(dmin > 1e-2 * dmax)) return householder(y, m, l);
        for (int64_t i = 0; i < l; i++)
            for (int64_t j = 0; j < l; j++) r[i * l + j] = j >= i ? (float)g[i * l + j] : 0.0f;
        int64_t cs = chunk_rows(m), nc = (m + cs - 1) / cs;
        #pragma omp parallel for schedule(dynamic, 1)
        for (int64_t t = 0; t < nc; t++)
            cblas_strsm(CblasRowMajor, CblasRight, CblasUpper, CblasNoTrans, CblasNonUnit,
                        (blasint)min64(cs, m - t * cs), (blasint)l, 1.0f, r, (blasint)l, y + t * cs * l,
                        (blasint)l);
    }
    return FM_STATUS_OK;
}

/* orthonormalize() for small panels (the d×l side): all of it on one thread in one parallel
 * region — the same bits as the chunked parallel run (BLAS is serial either way), without the
 * dozen barriers that cost more than the work when the cores are shared. */
static fm_status orthonormalize_small(float *y, int64_t m, int64_t l, double *g, float *r)
{
    fm_status s = FM_STATUS_OK;
    #pragma omp parallel
    #pragma omp single
    s = orthonormalize(y, m, l, g, r);
    return s;
}

fm_status fm_pca_randomized(float *components, double *sq_svals, const float *x, const float *mean,
                            int64_t n, int64_t d, int64_t k, int64_t l, int q, uint64_t seed)
{
    if (k < 1 || l < k || l > min64(n, d) || q < 0) return FM_STATUS_ARG;
    fm_status s = FM_STATUS_OK;
    float *w = fm_alloc((size_t)(d * l), sizeof(float));       /* d×l: Ω, then the d-side basis */
    float *y = fm_alloc((size_t)(n * l), sizeof(float));       /* n×l: the sketch */
    double *wd = fm_alloc((size_t)(d * l), sizeof(double));    /* d×l: X̃ᵀY */
    double *vec = fm_alloc((size_t)l, sizeof(double));
    double *g = fm_alloc((size_t)(l * l), sizeof(double));
    float *r = fm_alloc((size_t)(l * l), sizeof(float));
    double *sv = fm_alloc((size_t)l, sizeof(double));
    double *u = fm_alloc((size_t)(l * l), sizeof(double));
    double *vt = fm_alloc((size_t)(l * d), sizeof(double));
    if (!w || !y || !wd || !vec || !g || !r || !sv || !u || !vt) { s = FM_STATUS_NOMEM; goto done; }

    fm_rng_fill(w, d * l, seed, 0, 1);
    times_right(y, x, mean, w, vec, n, d, l);
    for (int it = 0; it < q; it++) {   /* (X̃X̃ᵀ)^q X̃Ω, re-orthonormalised at each half step */
        if ((s = orthonormalize(y, n, l, g, r)) != FM_STATUS_OK) goto done;
        if ((s = times_left(wd, x, mean, y, vec, n, d, l)) != FM_STATUS_OK) goto done;
        for (int64_t i = 0; i < d * l; i++) w[i] = (float)wd[i];
        s = d * l * l < (1 << 24) ? orthonormalize_small(w, d, l, g, r) : orthonormalize(w, d, l, g, r);
        if (s != FM_STATUS_OK) goto done;
        times_right(y, x, mean, w, vec, n, d, l);
    }
    if ((s = orthonormalize(y, n, l, g, r)) != FM_STATUS_OK) goto done;
    /* Bᵀ = X̃ᵀQ (d×l, row-major) is B = QᵀX̃ (l×d) in column-major order */
    if ((s = times_left(wd, x, mean, y, vec, n, d, l)) != FM_STATUS_OK) goto done;
    lapack_int info = 0;
    #pragma omp parallel
    #pragma omp single
    info = LAPACKE_dgesdd(LAPACK_COL_MAJOR, 'S', (lapack_int)l, (lapack_int)d, wd, (lapack_int)l, sv, u,
                          (lapack_int)l, vt, (lapack_int)l);
    if (info == LAPACK_WORK_MEMORY_ERROR) { s = FM_STATUS_NOMEM; goto done; }
    if (info != 0) { s = FM_STATUS_NUMERIC; goto done; }
    /* the right singular vectors of B are the rows of Vᵀ (l×d, column-major, ld = l) */
    for (int64_t i = 0; i < k; i++) {
        sq_svals[i] = sv[i] * sv[i];
        for (int64_t a = 0; a < d; a++) components[i * d + a] = (float)vt[i + a * l];
    }
done:
    fm_free(w); fm_free(y); fm_free(wd); fm_free(vec); fm_free(g);
    fm_free(r); fm_free(sv); fm_free(u); fm_free(vt);
    return s;
}

fm_status fm_pca_project(float *z, const float *x, const float *mean, const float *components,
                         const double *scale, int64_t n, int64_t d, int64_t k)
{
    if (n < 0 || d < 1 || k < 1) return FM_STATUS_ARG;
    double *off = fm_alloc((size_t)k, sizeof(double));
    if (!off) return FM_STATUS_NOMEM;
    /* (x − mean)·Vᵀ = x·Vᵀ − mean·Vᵀ: no centred copy of x */
    for (int64_t j = 0; j < k; j++) {
        double t = 0.0;
        for (int64_t a = 0; a < d; a++) t += (double)mean[a] * components[j * d + a];
        off[j] = t;
    }
    gemm_rows(z, x, components, n, k, d, 1, off, scale);
    fm_free(off);
    return FM_STATUS_OK;
}

fm_status fm_pca_signs(float *sign, const float *z, int64_t n, int64_t k)
{
    if (n < 1 || k < 1) return FM_STATUS_ARG;
    int64_t nb = (n + PCA_BLOCK - 1) / PCA_BLOCK;
    float *best = fm_alloc((size_t)(nb * k), sizeof(float));   /* signed value of each block's max */
    if (!best) return FM_STATUS_NOMEM;
    #pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < nb; b++) {
        float *bb = best + b * k;
        for (int64_t i = b * PCA_BLOCK; i < min64((b + 1) * PCA_BLOCK, n); i++)
            for (int64_t j = 0; j < k; j++)
                if (fabsf(z[i * k + j]) > fabsf(bb[j])) bb[j] = z[i * k + j];   /* strict: first wins */
    }
    for (int64_t j = 0; j < k; j++) {
        float v = 0.0f;
        for (int64_t b = 0; b < nb; b++)
            if (fabsf(best[b * k + j]) > fabsf(v)) v = best[b * k + j];
        sign[j] = v < 0.0f ? -1.0f : 1.0f;
    }
    fm_free(best);
    return FM_STATUS_OK;
}

fm_status fm_pca_apply_signs(float *components, float *z, const float *sign, int64_t n, int64_t d,
                             int64_t k)
{
    for (int64_t j = 0; j < k; j++)
        if (sign[j] < 0.0f)
            for (int64_t a = 0; a < d; a++) components[j * d + a] = -components[j * d + a];
    if (z) {
        #pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < k; j++) z[i * k + j] *= sign[j];
    }
    return FM_STATUS_OK;
}

fm_status fm_pca_reconstruct(float *x, const float *z, const float *components, const float *mean,
                             const double *scale, int64_t n, int64_t k, int64_t d)
{
    if (n < 0 || d < 1 || k < 1) return FM_STATUS_ARG;
    float *scaled = scale ? fm_alloc((size_t)(k * d), sizeof(float)) : NULL;
    double *neg = fm_alloc((size_t)d, sizeof(double));
    if ((scale && !scaled) || !neg) { fm_free(scaled); fm_free(neg); return FM_STATUS_NOMEM; }
    if (scale)   /* undo whitening: rows of V times sqrt(explained variance) */
        for (int64_t j = 0; j < k; j++)
            for (int64_t a = 0; a < d; a++) scaled[j * d + a] = (float)(components[j * d + a] * scale[j]);
    for (int64_t a = 0; a < d; a++) neg[a] = -(double)mean[a];
    gemm_rows(x, z, scale ? scaled : components, n, d, k, 0, neg, NULL);   /* z·V + mean */
    fm_free(scaled);
    fm_free(neg);
    return FM_STATUS_OK;
}

/* ------------------------------------------------------------------ the whole fit */

/* sklearn's n_components in (0, 1): np.searchsorted(cumsum(ratio), fraction, side="right") + 1 */
static int64_t components_for_fraction(const double *ev, int64_t kmax, double total, double fraction)
{
    double cum = 0.0;
    int64_t k = 0;
    for (; k < kmax; k++) {
        cum += total > 0.0 ? ev[k] / total : 0.0;
        if (cum > fraction) break;
    }
    return k + 1 < kmax ? k + 1 : kmax;
}

static fm_status fit(fm_pca_model *model, fm_mat *z, const float *x, int64_t n, int64_t d,
                     const fm_pca_options *opt)
{
    memset(model, 0, sizeof *model);
    if (z) { z->n = z->d = 0; z->data = NULL; }
    int64_t kmax = min64(n, d);
    int fraction = opt->fraction > 0.0;
    if (n < 2 || d < 1 || (fraction && opt->fraction >= 1.0)) return FM_STATUS_ARG;
    int64_t k = fraction ? kmax : opt->n_components;
    if (k < 1 || k > kmax) return FM_STATUS_ARG;
    int64_t l = fm_pca_sketch_width(n, d, k, opt->n_oversamples);
    int q = opt->n_iter >= 0 ? opt->n_iter : fm_pca_auto_iter(n, d, k);
    fm_pca_solver solver = opt->solver;
    if (solver == FM_PCA_AUTO) solver = fm_pca_pick_solver(n, d, k, l, q, fraction, u8_scale(x, n, d) > 0.0);
    if (fraction && solver != FM_PCA_COVARIANCE) return FM_STATUS_ARG;
    if (solver == FM_PCA_RANDOMIZED && l >= kmax) q = 0;   /* the sketch spans range(X̃) already */

    fm_status s = FM_STATUS_OK;
    float *zz = NULL, *col = NULL;   /* col (k): the signs */
    double *cov = NULL;
    model->n = n;
    model->d = d;
    model->solver = solver;
    model->mean = fm_alloc((size_t)d, sizeof(float));
    model->components = fm_alloc((size_t)(k * d), sizeof(float));
    model->explained_variance = fm_alloc((size_t)k, sizeof(double));
    if (!model->mean || !model->components || !model->explained_variance) { s = FM_STATUS_NOMEM; goto fail; }

    if (solver == FM_PCA_COVARIANCE) {
        if (!(cov = fm_alloc((size_t)(d * d), sizeof(double)))) { s = FM_STATUS_NOMEM; goto fail; }
        if ((s = try_covariance_u8(cov, model->mean, &model->exact_u8, x, n, d)) != FM_STATUS_OK) goto fail;
        if (!model->exact_u8) {
            if ((s = fm_pca_mean(model->mean, NULL, x, n, d)) != FM_STATUS_OK) goto fail;
            if ((s = fm_pca_covariance(cov, x, model->mean, n, d)) != FM_STATUS_OK) goto fail;
        }
        double trace = 0.0;
        for (int64_t a = 0; a < d; a++) trace += cov[a * d + a];
        model->total_variance = trace / (double)(n - 1);
        if ((s = fm_pca_eigh(model->explained_variance, model->components, cov, d, k)) != FM_STATUS_OK)
            goto fail;
        fm_free(cov);
        cov = NULL;
        if (fraction)
            k = components_for_fraction(model->explained_variance, k, trace, opt->fraction);
    } else {
        if ((s = fm_pca_mean(model->mean, &model->total_variance, x, n, d)) != FM_STATUS_OK) goto fail;
        if ((s = fm_pca_randomized(model->components, model->explained_variance, x, model->mean, n, d,
                                   k, l, q, opt->seed)) != FM_STATUS_OK)
            goto fail;
        model->n_iter = q;
    }
    model->k = k;
    for (int64_t j = 0; j < k; j++) model->explained_variance[j] /= (double)(n - 1);

    /* scikit-learn's svd_flip(u_based_decision=True): the scores decide the signs */
    zz = fm_alloc((size_t)(n * k), sizeof(float));
    col = fm_alloc((size_t)k, sizeof(float));
    if (!zz || !col) { s = FM_STATUS_NOMEM; goto fail; }
    if ((s = fm_pca_project(zz, x, model->mean, model->components, NULL, n, d, k)) != FM_STATUS_OK) goto fail;
    if ((s = fm_pca_signs(col, zz, n, k)) != FM_STATUS_OK) goto fail;
    fm_pca_apply_signs(model->components, z ? zz : NULL, col, n, d, k);
    if (z) {
        if (opt->whiten) {
            /* project again with the scales, exactly as a later transform does, so that
             * fit_transform(X) and transform(X) give the same bits; a zero-variance direction has
             * no scale to undo and gets scores 0 */
            double *scale = fm_alloc((size_t)k, sizeof(double));
            if (!scale) { s = FM_STATUS_NOMEM; goto fail; }
            for (int64_t j = 0; j < k; j++) {
                double w = model->explained_variance[j];
                scale[j] = w > 0.0 ? 1.0 / sqrt(w) : 0.0;
            }
            s = fm_pca_project(zz, x, model->mean, model->components, scale, n, d, k);
            fm_free(scale);
            if (s != FM_STATUS_OK) goto fail;
        }
        z->n = n;
        z->d = k;
        z->data = zz;
    } else {
        fm_free(zz);
    }
    fm_free(col);
    return FM_STATUS_OK;

fail:
    fm_free(zz);
    fm_free(col);
    fm_free(cov);
    fm_pca_model_free(model);
    return s;
}

fm_status fm_pca_fit(fm_pca_model *model, fm_mat *z, const float *x, int64_t n, int64_t d,
                     const fm_pca_options *opt)
{
    if ((double)n * (double)d > 65536.0) return fit(model, z, x, n, d, opt);
    /* A small fit runs whole on one thread: its parallel regions would cost more in wake-ups and
     * barriers than the work (badly so on shared cores). Same bits: BLAS is serial either way. */
    fm_status s = FM_STATUS_OK;
    #pragma omp parallel
    #pragma omp single
    s = fit(model, z, x, n, d, opt);
    return s;
}
