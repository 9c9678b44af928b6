/* gmm.c — Gaussian mixtures by EM, following scikit-learn 1.2's GaussianMixture:
 * responsibilities by log-sum-exp, M-step statistics with reg_covar on the covariance diagonal,
 * Cholesky factors of the precisions, convergence when the mean log-likelihood (the "lower
 * bound") changes by less than tol, best of n_init by that bound, and a final E-step so the
 * labels agree with predict.
 *
 * Threads never change a result: rows are cut into fixed blocks (E-step) and chunks (M-step,
 * k-means) whose partial sums, in double, are added in block order after the parallel loop. */
#include "gmm.h"
#include "kmeans.h"

#include <cblas.h>
#include <lapacke.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define EB 256              /* rows per E-step / assignment block */
#define MCH 4096            /* rows per M-step chunk (partial sums) */
#define MSUB 256            /* rows per GEMM / dsyrk call inside an M-step chunk */
#define PART_CAP (1 << 22)  /* doubles of M-step partial sums at most (32 MB) */
#define LOG_2PI 1.83787706640934548356

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static inline int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

int64_t fm_gmm_param_count(int cov, int64_t k, int64_t d)
{
    switch (cov) {
    case FM_GMM_FULL: return k * d * d;
    case FM_GMM_TIED: return d * d;
    case FM_GMM_DIAG: return k * d;
    default: return k;
    }
}

int64_t fm_gmm_n_parameters(int cov, int64_t k, int64_t d)
{
    int64_t cp;
    switch (cov) {
    case FM_GMM_FULL: cp = k * d * (d + 1) / 2; break;
    case FM_GMM_TIED: cp = d * (d + 1) / 2; break;
    case FM_GMM_DIAG: cp = k * d; break;
    default: cp = k;
    }
    return cp + k * d + k - 1;
}

fm_status fm_gmm_model_init(fm_gmm_model *m, int cov, int64_t k, int64_t d)
{
    m->cov = cov;
    m->k = k;
    m->d = d;
    m->weights = fm_alloc((size_t)k, sizeof(double));
    m->means = fm_alloc((size_t)(k * d), sizeof(float));
    m->prec = fm_alloc((size_t)fm_gmm_param_count(cov, k, d), sizeof(float));
    if (!m->weights || !m->means || !m->prec) {
        fm_gmm_model_free(m);
        return FM_STATUS_NOMEM;
    }
    return FM_STATUS_OK;
}

void fm_gmm_model_free(fm_gmm_model *m)
{
    fm_free(m->weights);
    fm_free(m->means);
    fm_free(m->prec);
    m->weights = NULL;
    m->means = NULL;
    m->prec = NULL;
}

static void model_copy(fm_gmm_model *dst, const fm_gmm_model *src)
{
    memcpy(dst->weights, src->weights, sizeof(double) * (size_t)src->k);
    memcpy(dst->means, src->means, sizeof(float) * (size_t)(src->k * src->d));
    memcpy(dst->prec, src->prec, sizeof(float) * (size_t)fm_gmm_param_count(src->cov, src->k, src->d));
}

/* ------------------------------------------------------------------ E-step */

/* bias (k) = log w_c + log det L_c − d/2·log 2π, from the float factors the E-step multiplies by,
 * so fit and predict agree exactly */
static void model_bias(double *bias, const fm_gmm_model *m)
{
    int64_t k = m->k, d = m->d;
    for (int64_t c = 0; c < k; c++) {
        double ld = 0.0;
        if (m->cov == FM_GMM_FULL || m->cov == FM_GMM_TIED) {
            const float *L = m->prec + (m->cov == FM_GMM_FULL ? c * d * d : 0);
            for (int64_t j = 0; j < d; j++) ld += log((double)L[j * d + j]);
        } else if (m->cov == FM_GMM_DIAG) {
            for (int64_t j = 0; j < d; j++) ld += log((double)m->prec[c * d + j]);
        } else {
            ld = (double)d * log((double)m->prec[c]);
        }
        bias[c] = log(m->weights[c]) + ld - 0.5 * (double)d * LOG_2PI;
    }
}

/* full/tied with d above this use GEMM on row-major blocks; at or below it a kernel on
 * transposed blocks (rows in SIMD lanes) that uses the triangle of L and avoids the call
 * overhead of tiny GEMMs */
#define SMALL_D 32

/* does the E-step of this model take the GEMM path? */
static int estep_gemm(const fm_gmm_model *m)
{
    return (m->cov == FM_GMM_FULL || m->cov == FM_GMM_TIED) && m->d > SMALL_D;
}

/* logp (rows×k) = bias_c − ½‖(x_i − μ_c)·L_c‖² for the rows of x (rows×d), rows ≤ EB.
 * The rows are centred on μ_c before the product (rather than X·L − μ·L) so float32 suffers no
 * cancellation when the data sit far from 0. Scratch: A, B are d×EB floats, sq is EB doubles. */
static void block_logprob(double *logp, const float *x, int64_t rows, const fm_gmm_model *m,
                          const double *bias, float *A, float *B, double *sq)
{
    int64_t k = m->k, d = m->d;
    int square = m->cov == FM_GMM_FULL || m->cov == FM_GMM_TIED;
    if (estep_gemm(m)) {
        /* A = x − μ_c (rows×d), B = A·L_c by GEMM, then the squared row norms */
        for (int64_t c = 0; c < k; c++) {
            const float *mu = m->means + c * d;
            const float *L = m->prec + (m->cov == FM_GMM_FULL ? c * d * d : 0);
            for (int64_t i = 0; i < rows; i++)
                for (int64_t j = 0; j < d; j++) A[i * d + j] = x[i * d + j] - mu[j];
            fm_gemm(B, A, L, rows, d, d, 0, 0, 1.0f, 0.0f);
            for (int64_t i = 0; i < rows; i++) {
                const float *y = B + i * d;
                double s = 0.0;
                for (int64_t j = 0; j < d; j++) s += (double)y[j] * (double)y[j];
                logp[i * k + c] = bias[c] - 0.5 * s;
            }
        }
        return;
    }
    /* A = xᵀ (d×rows, row stride EB) */
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < d; j++) A[j * EB + i] = x[i * d + j];
    float y[EB];
    for (int64_t c = 0; c < k; c++) {
        const float *mu = m->means + c * d;
        for (int64_t b = 0; b < rows; b++) sq[b] = 0.0;
        if (square) {
            /* y_j = Σ_{i ≤ j} (x_i − μ_i)·L[i][j]: L is upper triangular */
            const float *L = m->prec + (m->cov == FM_GMM_FULL ? c * d * d : 0);
            for (int64_t j = 0; j < d; j++) {
                const float *a = A + j * EB;
                float *bj = B + j * EB, mj = mu[j];
                for (int64_t b = 0; b < rows; b++) bj[b] = a[b] - mj;
            }
            for (int64_t j = 0; j < d; j++) {
                float l0 = L[j];
                for (int64_t b = 0; b < rows; b++) y[b] = B[b] * l0;
                for (int64_t i = 1; i <= j; i++) {
                    const float *bi = B + i * EB;
                    float li = L[i * d + j];
                    for (int64_t b = 0; b < rows; b++) y[b] = fmaf(bi[b], li, y[b]);
                }
                for (int64_t b = 0; b < rows; b++) sq[b] = fma((double)y[b], (double)y[b], sq[b]);
            }
        } else {
            int diag = m->cov == FM_GMM_DIAG;
            for (int64_t j = 0; j < d; j++) {
                const float *a = A + j * EB;
                float mj = mu[j], sj = diag ? m->prec[c * d + j] : m->prec[c];
                for (int64_t b = 0; b < rows; b++) {
                    float t = (a[b] - mj) * sj;
                    sq[b] += (double)t * (double)t;
                }
            }
        }
        for (int64_t b = 0; b < rows; b++) logp[b * k + c] = bias[c] - 0.5 * sq[b];
    }
}

fm_status fm_gmm_estep(double *resp, double *log_norm, double *mean_ll, const float *x,
                       const fm_gmm_model *m, int64_t n)
{
    int64_t k = m->k, d = m->d;
    if (n <= 0 || k <= 0 || d <= 0) return FM_STATUS_ARG;
    int64_t nb = (n + EB - 1) / EB;
    double *part = fm_alloc((size_t)nb, sizeof(double));
    double *bias = fm_alloc((size_t)k, sizeof(double));
    if (!part || !bias) { fm_free(part); fm_free(bias); return FM_STATUS_NOMEM; }
    model_bias(bias, m);
    int fail = 0;
    #pragma omp parallel
    {
        float *A = fm_alloc((size_t)(EB * d), sizeof(float));
        float *B = fm_alloc((size_t)(EB * d), sizeof(float));
        double *sq = fm_alloc(EB, sizeof(double));
        double *lp = resp ? NULL : fm_alloc((size_t)(EB * k), sizeof(double));
        int ok = A && B && sq && (resp || lp);
        if (!ok) {
            #pragma omp atomic write
            fail = 1;
        }
        #pragma omp for schedule(dynamic, 1)
        for (int64_t b = 0; b < nb; b++) {
            if (!ok) continue;
            int64_t i0 = b * EB, rows = min64(EB, n - i0);
            double *P = resp ? resp + i0 * k : lp;
            block_logprob(P, x + i0 * d, rows, m, bias, A, B, sq);
            /* log-sum-exp over the components, shifted by the row maximum */
            double s = 0.0;
            for (int64_t i = 0; i < rows; i++) {
                double *row = P + i * k;
                double mx = row[0];
                for (int64_t c = 1; c < k; c++) mx = row[c] > mx ? row[c] : mx;
                double t = 0.0;
                for (int64_t c = 0; c < k; c++) {
                    /* below e^-700 (1e-304 of the largest term) the term cannot matter; skipping
                     * exp there avoids libm's slow underflow path, hit often by distant points */
                    double v = row[c] - mx;
                    row[c] = v < -700.0 ? 0.0 : exp(v);
                    t += row[c];
                }
                double lse = mx + log(t);
                if (resp) {
                    double inv = 1.0 / t;
                    for (int64_t c = 0; c < k; c++) row[c] *= inv;
                }
                if (log_norm) log_norm[i0 + i] = lse;
                s += lse;
            }
            part[b] = s;
        }
        fm_free(A);
        fm_free(B);
        fm_free(sq);
        fm_free(lp);
    }
    fm_status st = FM_STATUS_OK;
    if (fail) {
        st = FM_STATUS_NOMEM;
    } else if (mean_ll) {
        double tot = 0.0;
        for (int64_t b = 0; b < nb; b++) tot += part[b];
        *mean_ll = tot / (double)n;
    }
    fm_free(part);
    fm_free(bias);
    return st;
}

/* ------------------------------------------------------------------ M-step */

/* Σ_b a[b] with 8 running sums in a fixed order: vectorisable without -ffast-math */
static inline double sum8(const double *a, int64_t len)
{
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t t = 0;
    for (; t + 8 <= len; t += 8)
        for (int l = 0; l < 8; l++) acc[l] += a[t + l];
    for (int l = 0; t < len; t++, l++) acc[l] += a[t];
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

/* Σ_b a[b]·b[b], the same way */
static inline double dot8(const double *a, const double *b, int64_t len)
{
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t t = 0;
    for (; t + 8 <= len; t += 8)
        for (int l = 0; l < 8; l++) acc[l] = fma(a[t + l], b[t + l], acc[l]);
    for (int l = 0; t < len; t++, l++) acc[l] = fma(a[t], b[t], acc[l]);
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

/* the chunking of the M-step sums: depends on n, k, d only, never on the thread count.
 * *len receives the rows per chunk. */
static int64_t mstep_chunks(int64_t *len, int64_t n, int64_t per)
{
    int64_t nch = (n + MCH - 1) / MCH;
    int64_t cap = max64(1, PART_CAP / max64(per, 1));
    if (nch > cap) nch = cap;
    *len = (n + nch - 1) / nch;
    return (n + *len - 1) / *len;
}

/* Moments path (diag and spherical for any d; full and tied for d ≤ SMALL_D).
 * With x̃ = x − shift, one GEMM per sub-block gives every weighted moment at once:
 *   mom (k×w) = Σ_i r_i · [1, x̃_i, q(x̃_i)],  q = the products x̃_a·x̃_b (b ≤ a) or the squares,
 * then Σ_c = M2_c/nk_c − μ̃_c·μ̃_cᵀ. In double and around the data mean, the subtraction loses
 * nothing that matters (scikit-learn uses the same expansion for its diag and tied cases). */
static fm_status mstep_moments(double *nk, double *means, double *cov, const float *x,
                               const double *resp, const double *shift, int64_t n, int64_t d,
                               int64_t k, int cov_type, double reg_covar)
{
    int square = cov_type == FM_GMM_FULL || cov_type == FM_GMM_TIED;
    int64_t P = square ? d * (d + 1) / 2 : d, w = 1 + d + P, stride = k * w, len;
    int64_t nch = mstep_chunks(&len, n, stride);
    double *part = fm_alloc((size_t)(nch * stride), sizeof(double));
    if (!part) return FM_STATUS_NOMEM;
    int fail = 0;
    #pragma omp parallel
    {
        double *Q = fm_alloc((size_t)(MSUB * w), sizeof(double));
        if (!Q) {
            #pragma omp atomic write
            fail = 1;
        }
        #pragma omp for schedule(dynamic, 1)
        for (int64_t ch = 0; ch < nch; ch++) {
            if (!Q) continue;
            for (int64_t s0 = ch * len; s0 < min64(n, (ch + 1) * len); s0 += MSUB) {
                int64_t rows = min64(MSUB, min64(n, (ch + 1) * len) - s0);
                for (int64_t b = 0; b < rows; b++) {
                    const float *xi = x + (s0 + b) * d;
                    double *q = Q + b * w, *t = q + 1, *pr = q + 1 + d;
                    q[0] = 1.0;
                    for (int64_t j = 0; j < d; j++) t[j] = (double)xi[j] - (shift ? shift[j] : 0.0);
                    if (square) {
                        for (int64_t a = 0; a < d; a++)
                            for (int64_t bb = 0; bb <= a; bb++) *pr++ = t[a] * t[bb];
                    } else {
                        for (int64_t j = 0; j < d; j++) pr[j] = t[j] * t[j];
                    }
                }
                /* part_ch (k×w) += R_rowsᵀ · Q */
                cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (blasint)k, (blasint)w,
                            (blasint)rows, 1.0, resp + s0 * k, (blasint)k, Q, (blasint)w, 1.0,
                            part + ch * stride, (blasint)w);
            }
        }
        fm_free(Q);
    }
    double *mom = fm_alloc((size_t)stride, sizeof(double));
    if (fail || !mom) { fm_free(part); fm_free(mom); return FM_STATUS_NOMEM; }
    for (int64_t ch = 0; ch < nch; ch++)
        for (int64_t t = 0; t < stride; t++) mom[t] += part[ch * stride + t];
    fm_free(part);

    double tot = 0.0;
    for (int64_t c = 0; c < k; c++) {
        const double *mc = mom + c * w;
        /* scikit-learn adds 10·ε so an empty component divides by a tiny number, not by zero */
        nk[c] = mc[0] + 10.0 * DBL_EPSILON;
        tot += nk[c];
    }
    if (cov_type == FM_GMM_TIED) memset(cov, 0, sizeof(double) * (size_t)(d * d));
    for (int64_t c = 0; c < k; c++) {
        const double *mc = mom + c * w, *m2 = mc + 1 + d;
        double *mt = means + c * d;   /* first the mean of x̃ */
        for (int64_t j = 0; j < d; j++) mt[j] = mc[1 + j] / nk[c];
        if (cov_type == FM_GMM_FULL) {
            double *S = cov + c * d * d;
            for (int64_t a = 0, p = 0; a < d; a++)
                for (int64_t bb = 0; bb <= a; bb++, p++) {
                    double v = m2[p] / nk[c] - mt[a] * mt[bb];
                    S[a * d + bb] = v;
                    S[bb * d + a] = v;
                }
            for (int64_t a = 0; a < d; a++) S[a * d + a] += reg_covar;
        } else if (cov_type == FM_GMM_TIED) {
            for (int64_t a = 0, p = 0; a < d; a++)
                for (int64_t bb = 0; bb <= a; bb++, p++) cov[a * d + bb] += m2[p] - nk[c] * mt[a] * mt[bb];
        } else {
            double mv = 0.0;
            for (int64_t j = 0; j < d; j++) {
                double v = m2[j] / nk[c] - mt[j] * mt[j] + reg_covar;
                if (cov_type == FM_GMM_DIAG) cov[c * d + j] = v;
                mv += v;
            }
            if (cov_type == FM_GMM_SPHERICAL) cov[c] = mv / (double)d;
        }
        for (int64_t j = 0; j < d; j++) mt[j] += shift ? shift[j] : 0.0;
    }
    if (cov_type == FM_GMM_TIED)
        for (int64_t a = 0; a < d; a++) {
            for (int64_t bb = 0; bb <= a; bb++) {
                double v = cov[a * d + bb] / tot;
                cov[a * d + bb] = v;
                cov[bb * d + a] = v;
            }
            cov[a * d + a] += reg_covar;
        }
    fm_free(mom);
    return FM_STATUS_OK;
}

/* Two-pass path for full and tied with d > SMALL_D, where the d(d+1)/2 products per row would
 * not pay: pass 1 sums r and r·x, pass 2 adds Eᵀ·E by dsyrk over rows e = √r·(x − μ_c). */

/* pass 1 of one chunk, rows i0..i1: snk (k) += Σ r_ic, sx (k×d) += Σ r_ic·x_i, on transposed
 * sub-blocks XT (d×MSUB), RT (k×MSUB) */
static void mstep_sums(double *snk, double *sx, const float *x, const double *resp, int64_t i0,
                       int64_t i1, int64_t d, int64_t k, double *XT, double *RT)
{
    for (int64_t s0 = i0; s0 < i1; s0 += MSUB) {
        int64_t rows = min64(MSUB, i1 - s0);
        for (int64_t b = 0; b < rows; b++) {
            const float *xi = x + (s0 + b) * d;
            const double *ri = resp + (s0 + b) * k;
            for (int64_t j = 0; j < d; j++) XT[j * MSUB + b] = xi[j];
            for (int64_t c = 0; c < k; c++) RT[c * MSUB + b] = ri[c];
        }
        for (int64_t c = 0; c < k; c++) {
            const double *rc = RT + c * MSUB;
            snk[c] += sum8(rc, rows);
            for (int64_t j = 0; j < d; j++) sx[c * d + j] += dot8(rc, XT + j * MSUB, rows);
        }
    }
}

/* pass 2 of one (chunk, component), rows i0..i1 with r > 0 only: S (d×d, lower triangle) +=
 * Σ r·(x − μ)(x − μ)ᵀ, through E (MSUB×d) */
static void mstep_scatter(double *S, const float *x, const double *resp, const double *mu,
                          int64_t i0, int64_t i1, int64_t d, int64_t k, int64_t c, double *E)
{
    int64_t rows = 0;
    for (int64_t i = i0; i <= i1; i++) {
        if (rows == MSUB || (i == i1 && rows > 0)) {
            cblas_dsyrk(CblasRowMajor, CblasLower, CblasTrans, (blasint)d, (blasint)rows, 1.0, E,
                        (blasint)d, 1.0, S, (blasint)d);
            rows = 0;
        }
        if (i == i1) break;
        double rc = resp[i * k + c];
        if (rc == 0.0) continue;   /* one-hot initial responsibilities, underflows */
        const float *xi = x + i * d;
        double sw = sqrt(rc), *e = E + rows * d;
        for (int64_t j = 0; j < d; j++) e[j] = sw * ((double)xi[j] - mu[j]);
        rows++;
    }
}

static fm_status mstep_twopass(double *nk, double *means, double *cov, const float *x,
                               const double *resp, int64_t n, int64_t d, int64_t k, int cov_type,
                               double reg_covar)
{
    int64_t per2 = k * d * d, per1 = k + k * d, stride = max64(per1, per2), len;
    int64_t nch = mstep_chunks(&len, n, stride);
    double *part = fm_alloc((size_t)(nch * stride), sizeof(double));
    if (!part) return FM_STATUS_NOMEM;
    int fail = 0;
    #pragma omp parallel
    {
        double *XT = fm_alloc((size_t)(d * MSUB), sizeof(double));
        double *RT = fm_alloc((size_t)(k * MSUB), sizeof(double));
        if (!XT || !RT) {
            #pragma omp atomic write
            fail = 1;
        }
        #pragma omp for schedule(dynamic, 1)
        for (int64_t ch = 0; ch < nch; ch++) {
            if (!XT || !RT) continue;
            double *snk = part + ch * stride;
            mstep_sums(snk, snk + k, x, resp, ch * len, min64(n, (ch + 1) * len), d, k, XT, RT);
        }
        fm_free(XT);
        fm_free(RT);
    }
    if (fail) { fm_free(part); return FM_STATUS_NOMEM; }
    for (int64_t c = 0; c < k; c++) nk[c] = 0.0;
    memset(means, 0, sizeof(double) * (size_t)(k * d));
    for (int64_t ch = 0; ch < nch; ch++) {
        const double *snk = part + ch * stride, *sx = snk + k;
        for (int64_t c = 0; c < k; c++) nk[c] += snk[c];
        for (int64_t t = 0; t < k * d; t++) means[t] += sx[t];
    }
    for (int64_t c = 0; c < k; c++) {
        nk[c] += 10.0 * DBL_EPSILON;
        for (int64_t j = 0; j < d; j++) means[c * d + j] /= nk[c];
    }

    memset(part, 0, sizeof(double) * (size_t)(nch * stride));
    #pragma omp parallel
    {
        double *E = fm_alloc((size_t)(MSUB * d), sizeof(double));
        if (!E) {
            #pragma omp atomic write
            fail = 1;
        }
        #pragma omp for schedule(dynamic, 1)
        for (int64_t it = 0; it < nch * k; it++) {
            if (!E) continue;
            int64_t ch = it / k, c = it % k;
            mstep_scatter(part + ch * stride + c * d * d, x, resp, means + c * d, ch * len,
                          min64(n, (ch + 1) * len), d, k, c, E);
        }
        fm_free(E);
    }
    if (fail) { fm_free(part); return FM_STATUS_NOMEM; }

    int64_t blocks = cov_type == FM_GMM_FULL ? k : 1;
    memset(cov, 0, sizeof(double) * (size_t)(blocks * d * d));
    double tot = 0.0;
    for (int64_t c = 0; c < k; c++) tot += nk[c];
    for (int64_t ch = 0; ch < nch; ch++)
        for (int64_t c = 0; c < k; c++) {
            const double *S = part + ch * stride + c * d * d;
            double *C = cov + (cov_type == FM_GMM_FULL ? c * d * d : 0);
            for (int64_t t = 0; t < d * d; t++) C[t] += S[t];
        }
    for (int64_t b = 0; b < blocks; b++) {
        double *C = cov + b * d * d;
        double div = cov_type == FM_GMM_FULL ? nk[b] : tot;
        for (int64_t r = 0; r < d; r++) {
            for (int64_t s = 0; s <= r; s++) {
                double v = C[r * d + s] / div;   /* dsyrk filled the lower triangle */
                C[r * d + s] = v;
                C[s * d + r] = v;
            }
            C[r * d + r] += reg_covar;
        }
    }
    fm_free(part);
    return FM_STATUS_OK;
}

fm_status fm_gmm_mstep(double *nk, double *means, double *cov, const float *x, const double *resp,
                       const double *shift, int64_t n, int64_t d, int64_t k, int cov_type,
                       double reg_covar)
{
    if (n <= 0 || k <= 0 || d <= 0) return FM_STATUS_ARG;
    if ((cov_type == FM_GMM_FULL || cov_type == FM_GMM_TIED) && d > SMALL_D)
        return mstep_twopass(nk, means, cov, x, resp, n, d, k, cov_type, reg_covar);
    return mstep_moments(nk, means, cov, x, resp, shift, n, d, k, cov_type, reg_covar);
}

/* ------------------------------------------------------------------ precisions */

fm_status fm_gmm_precision(fm_gmm_model *m, int64_t *bad, const double *means, const double *cov)
{
    int64_t k = m->k, d = m->d;
    for (int64_t t = 0; t < k * d; t++) m->means[t] = (float)means[t];
    if (m->cov == FM_GMM_FULL || m->cov == FM_GMM_TIED) {
        int64_t blocks = m->cov == FM_GMM_FULL ? k : 1;
        double *A = fm_alloc((size_t)(d * d), sizeof(double));
        if (!A) return FM_STATUS_NOMEM;
        for (int64_t b = 0; b < blocks; b++) {
            /* Σ = C·Cᵀ (C lower); Σ⁻¹ = C⁻ᵀ·C⁻¹, so L = C⁻ᵀ (upper) gives L·Lᵀ = Σ⁻¹ */
            memcpy(A, cov + b * d * d, sizeof(double) * (size_t)(d * d));
            lapack_int info = LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'L', (lapack_int)d, A, (lapack_int)d);
            if (info == 0)
                info = LAPACKE_dtrtri(LAPACK_ROW_MAJOR, 'L', 'N', (lapack_int)d, A, (lapack_int)d);
            float *P = m->prec + b * d * d;
            int finite = info == 0;
            for (int64_t r = 0; r < d && finite; r++)
                for (int64_t s = 0; s < d; s++) {
                    float v = s >= r ? (float)A[s * d + r] : 0.0f;
                    if (!isfinite(v)) finite = 0;
                    P[r * d + s] = v;
                }
            if (!finite) {
                if (bad) *bad = b;
                fm_free(A);
                return FM_STATUS_NUMERIC;
            }
        }
        fm_free(A);
    } else {
        int64_t cnt = fm_gmm_param_count(m->cov, k, d);
        for (int64_t t = 0; t < cnt; t++) {
            float v = cov[t] > 0.0 ? (float)(1.0 / sqrt(cov[t])) : NAN;
            if (!isfinite(v)) {
                if (bad) *bad = m->cov == FM_GMM_DIAG ? t / d : t;
                return FM_STATUS_NUMERIC;
            }
            m->prec[t] = v;
        }
    }
    return FM_STATUS_OK;
}

/* ------------------------------------------------------------------ initial responsibilities */

/* random streams: initialisation `init` uses (seed, STREAM(init, purpose)); the uniform fill uses
 * streams from (init + 1) << 40 upwards, one per 4096 draws */
#define STREAM(init, purpose) (((uint64_t)(init) << 4) | (uint64_t)(purpose))

fm_status fm_gmm_init_resp(double *resp, const float *x, int64_t n, int64_t d, int64_t k,
                           int method, uint64_t seed, int init)
{
    if (n <= 0 || k <= 0 || k > n) return FM_STATUS_ARG;
    memset(resp, 0, sizeof(double) * (size_t)(n * k));
    fm_status st = FM_STATUS_OK;
    if (method == FM_GMM_INIT_RANDOM) {
        float *u = fm_alloc((size_t)(n * k), sizeof(float));
        if (!u) return FM_STATUS_NOMEM;
        fm_rng_fill(u, n * k, seed, ((uint64_t)init + 1) << 40, 0);
        #pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < n; i++) {
            double s = 0.0;
            for (int64_t c = 0; c < k; c++) s += u[i * k + c];
            if (s <= 0.0) {   /* every draw 0 (probability ~2⁻²⁴ᵏ): take uniform weights */
                for (int64_t c = 0; c < k; c++) resp[i * k + c] = 1.0 / (double)k;
            } else {
                for (int64_t c = 0; c < k; c++) resp[i * k + c] = u[i * k + c] / s;
            }
        }
        fm_free(u);
    } else if (method == FM_GMM_INIT_RANDOM_FROM_DATA) {
        int64_t *perm = fm_alloc((size_t)n, sizeof(int64_t));
        if (!perm) return FM_STATUS_NOMEM;
        fm_rng_permutation(perm, n, seed, STREAM(init, 2));
        for (int64_t c = 0; c < k; c++) resp[perm[c] * k + c] = 1.0;
        fm_free(perm);
    } else {
        /* scikit-learn seeds with KMeans(n_init=1): k-means++ centers (their rows for
         * "k-means++"), then Lloyd with KMeans' defaults (max_iter 300, tol 1e-4) for "kmeans" */
        int64_t *idx = fm_alloc((size_t)k, sizeof(int64_t));
        float *xx = fm_alloc((size_t)n, sizeof(float));
        float *centers = fm_alloc((size_t)(k * d), sizeof(float));
        int32_t *lab = fm_alloc((size_t)n, sizeof(int32_t));
        if (!idx || !xx || !centers || !lab) st = FM_STATUS_NOMEM;
        if (st == FM_STATUS_OK) st = fm_kmeans_row_norms(xx, x, n, d);
        if (st == FM_STATUS_OK)
            st = fm_kmeans_init_plusplus(centers, idx, x, xx, n, d, k, seed, STREAM(init, 1));
        if (st == FM_STATUS_OK && method == FM_GMM_INIT_KMEANSPP) {
            for (int64_t c = 0; c < k; c++) resp[idx[c] * k + c] = 1.0;
        } else if (st == FM_STATUS_OK) {
            double tol_abs = 0.0, inertia = 0.0;
            int64_t n_iter = 0;
            st = fm_kmeans_tolerance(&tol_abs, x, n, d, 1e-4);
            if (st == FM_STATUS_OK)
                st = fm_kmeans_lloyd(centers, lab, &inertia, &n_iter, x, xx, n, d, k, 300, tol_abs);
            if (st == FM_STATUS_OK)
                for (int64_t i = 0; i < n; i++) resp[i * k + lab[i]] = 1.0;
        }
        fm_free(xx);
        fm_free(centers);
        fm_free(lab);
        fm_free(idx);
    }
    return st;
}

/* ------------------------------------------------------------------ the fit */

void fm_gmm_result_free(fm_gmm_result *res)
{
    fm_gmm_model_free(&res->model);
    fm_free(res->cov);
    fm_free(res->resp);
    fm_free(res->labels);
    fm_free(res->history);
    res->cov = res->resp = res->history = NULL;
    res->labels = NULL;
}

static void ill_defined(char *err, int64_t comp)
{
    if (err)
        snprintf(err, FM_ERRLEN,
                 "fitting the mixture model failed because component %lld has an ill-defined "
                 "empirical covariance (for instance caused by singleton or collapsed samples); "
                 "try to decrease the number of components, or increase reg_covar",
                 (long long)comp + 1);
}

/* M-step then factorisation: the current model from resp */
static fm_status mstep_model(fm_gmm_model *m, double *cov, double *means_d, const float *x,
                             const double *resp, const double *shift, int64_t n,
                             const fm_gmm_opts *o, int first, char *err)
{
    int64_t k = m->k, d = m->d;
    fm_status st = fm_gmm_mstep(m->weights, means_d, cov, x, resp, shift, n, d, k, o->cov_type,
                                o->reg_covar);
    if (st != FM_STATUS_OK) return st;
    /* weights: nk / n after the initialisation, nk / Σnk after an E-step (as scikit-learn) */
    double tot = 0.0;
    for (int64_t c = 0; c < k; c++) tot += m->weights[c];
    for (int64_t c = 0; c < k; c++) m->weights[c] /= first ? (double)n : tot;
    int64_t bad = 0;
    st = fm_gmm_precision(m, &bad, means_d, cov);
    if (st == FM_STATUS_NUMERIC) ill_defined(err, bad);
    return st;
}

fm_status fm_gmm_fit(fm_gmm_result *res, const float *x, int64_t n, int64_t d,
                     const fm_gmm_opts *o, char *err)
{
    memset(res, 0, sizeof *res);
    int64_t k = o->k;
    if (n <= 0 || d <= 0 || k <= 0 || k > n || o->n_init < 1 || o->max_iter < 0 ||
        o->reg_covar < 0.0 || o->tol < 0.0)
        return FM_STATUS_ARG;
    int64_t pc = fm_gmm_param_count(o->cov_type, k, d);
    fm_gmm_model cur = {0};
    double *cov = fm_alloc((size_t)pc, sizeof(double));
    double *means_d = fm_alloc((size_t)(k * d), sizeof(double));
    double *hist = fm_alloc((size_t)(o->max_iter > 0 ? o->max_iter : 1), sizeof(double));
    double *shift = fm_alloc((size_t)d, sizeof(double));
    float *colmean = fm_alloc((size_t)d, sizeof(float));
    res->cov = fm_alloc((size_t)pc, sizeof(double));
    res->resp = fm_alloc((size_t)(n * k), sizeof(double));
    res->labels = fm_alloc((size_t)n, sizeof(int32_t));
    res->history = fm_alloc((size_t)(o->max_iter > 0 ? o->max_iter : 1), sizeof(double));
    fm_status st = FM_STATUS_NOMEM;
    if (!cov || !means_d || !hist || !shift || !colmean || !res->cov || !res->resp || !res->labels ||
        !res->history)
        goto fail;
    /* the M-step sums moments around the data mean */
    if ((st = fm_col_stats(colmean, NULL, x, n, d)) != FM_STATUS_OK) goto fail;
    for (int64_t j = 0; j < d; j++) shift[j] = colmean[j];
    if ((st = fm_gmm_model_init(&cur, o->cov_type, k, d)) != FM_STATUS_OK) goto fail;
    if ((st = fm_gmm_model_init(&res->model, o->cov_type, k, d)) != FM_STATUS_OK) goto fail;

    int have_best = 0;
    for (int init = 0; init < o->n_init; init++) {
        st = fm_gmm_init_resp(res->resp, x, n, d, k, o->init, o->seed, init);
        if (st != FM_STATUS_OK) goto fail;
        st = mstep_model(&cur, cov, means_d, x, res->resp, shift, n, o, 1, err);
        if (st != FM_STATUS_OK) goto fail;
        double lb = -INFINITY;
        int conv = 0, it = 0;
        while (it < o->max_iter) {
            it++;
            double prev = lb;
            st = fm_gmm_estep(res->resp, NULL, &lb, x, &cur, n);
            if (st != FM_STATUS_OK) goto fail;
            hist[it - 1] = lb;
            st = mstep_model(&cur, cov, means_d, x, res->resp, shift, n, o, 0, err);
            if (st != FM_STATUS_OK) goto fail;
            if (fabs(lb - prev) < o->tol) { conv = 1; break; }
        }
        if (!have_best || lb > res->lower_bound) {
            have_best = 1;
            model_copy(&res->model, &cur);
            memcpy(res->cov, cov, sizeof(double) * (size_t)pc);
            memcpy(res->history, hist, sizeof(double) * (size_t)it);
            res->lower_bound = lb;
            res->n_iter = it;
            res->converged = conv;
            res->best_init = init;
        }
    }
    /* a final E-step with the best parameters, so labels agree with predict(x) */
    st = fm_gmm_estep(res->resp, NULL, &res->log_likelihood, x, &res->model, n);
    if (st != FM_STATUS_OK) goto fail;
    #pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        const double *r = res->resp + i * k;
        int32_t best = 0;
        for (int64_t c = 1; c < k; c++)
            if (r[c] > r[best]) best = (int32_t)c;
        res->labels[i] = best;
    }
    fm_gmm_model_free(&cur);
    fm_free(cov);
    fm_free(means_d);
    fm_free(hist);
    fm_free(shift);
    fm_free(colmean);
    return FM_STATUS_OK;
fail:
    fm_gmm_model_free(&cur);
    fm_free(cov);
    fm_free(means_d);
    fm_free(hist);
    fm_free(shift);
    fm_free(colmean);
    fm_gmm_result_free(res);
    return st;
}
