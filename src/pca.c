/* pca.c — principal component analysis (see pca.h for the two solvers and the sign rule).
 *
 * Determinism: the same bits for any thread count. Every BLAS call runs on one thread over a
 * row chunk whose shape depends on n only (gemm_rows, crossprod below); chunk results are added
 * in chunk order, in double; LAPACK runs on one thread; the random test matrix comes from
 * fm_rng_fill (fixed chunks, one stream each).
 */
#include "pca.h"

#include <cblas.h>
#include <lapacke.h>
#include <omp.h>
#include <math.h>
#include <string.h>

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

fm_pca_solver fm_pca_pick_solver(int64_t n, int64_t d, int64_t k, int64_t l, int q, int fraction)
{
    if (fraction) return FM_PCA_COVARIANCE;   /* needs every eigenvalue */
    double dn = (double)n, dd = (double)d, dk = (double)k, dl = (double)l;
    if (dd * dd * sizeof(double) > 1024.0 * 1024.0 * 1024.0) return FM_PCA_RANDOMIZED;
    if (l >= min64(n, d)) q = 0;              /* a full-width sketch is exact without iterations */
    /* Seconds on one core of this machine (AVX-512 SGEMM), fitted to CPU times of both solvers on
     * n×d×k = 70000×784×80, 10000×784×{20,200}, 3000×784×20, 2000×3000×50, 20000×2000×50:
     *   covariance  SYRK n·d²/2 multiply-adds, dsyevr ~d³ (BLAS-2 bound), eigenvectors k·d²
     *   randomized  (2q+2) products of n·d·l, (2q+1) Cholesky QRs of n·l² */
    double cov = 1.7e-11 * dn * dd * dd + 7e-11 * dd * dd * dd + 3e-10 * dk * dd * dd;
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
    if (solver == FM_PCA_AUTO) solver = fm_pca_pick_solver(n, d, k, l, q, fraction);
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
        if ((s = fm_pca_mean(model->mean, NULL, x, n, d)) != FM_STATUS_OK) goto fail;
        if (!(cov = fm_alloc((size_t)(d * d), sizeof(double)))) { s = FM_STATUS_NOMEM; goto fail; }
        if ((s = fm_pca_covariance(cov, x, model->mean, n, d)) != FM_STATUS_OK) goto fail;
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
