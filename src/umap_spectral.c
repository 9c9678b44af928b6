/* umap_spectral.c — UMAP's spectral initialisation: connected components, and the leading
 * eigenvectors of the normalised adjacency N = D^-½·W·D^-½ (the smallest of the normalised
 * Laplacian I − N, as umap-learn's eigsh(L, which="SM")) by thick-restart Lanczos
 * (Wu & Simon 2000) with full re-orthogonalisation, in double.
 *
 * Every reduction over the n vertices is done in fixed chunks summed in chunk order, and the small
 * dense eigenproblems run with one BLAS thread, so the vectors are the same for any thread count.
 */
#include "umap.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------------ components */

static int32_t uf_find(int32_t *p, int32_t i)
{
    while (p[i] != i) { p[i] = p[p[i]]; i = p[i]; }
    return i;
}

fm_status fm_umap_components(int32_t *comp, int64_t *ncomp, const fm_umap_graph *g)
{
    int64_t n = g->n;
    int32_t *par = fm_alloc((size_t)(n > 0 ? n : 1), sizeof(int32_t));
    if (!par) return FM_STATUS_NOMEM;
    for (int64_t i = 0; i < n; i++) par[i] = (int32_t)i;
    for (int64_t i = 0; i < n; i++)
        for (int64_t e = g->rowptr[i]; e < g->rowptr[i + 1]; e++) {
            int32_t a = uf_find(par, (int32_t)i), b = uf_find(par, g->col[e]);
            if (a != b) { if (a < b) par[b] = a; else par[a] = b; }
        }
    /* number the roots in order of their first vertex */
    int64_t c = 0;
    for (int64_t i = 0; i < n; i++) comp[i] = -1;
    for (int64_t i = 0; i < n; i++) {
        int32_t r = uf_find(par, (int32_t)i);
        if (comp[r] < 0) comp[r] = (int32_t)c++;
        comp[i] = comp[r];
    }
    *ncomp = c;
    fm_free(par);
    return FM_STATUS_OK;
}

/* ------------------------------------------------------------------ deterministic kernels */

#define SP_CHUNK 4096

/* y = D^-½ W D^-½ x, row by row */
static void nmv(double *y, const float *x, const fm_umap_graph *g, const double *dis)
{
    #pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < g->n; i++) {
        double s = 0.0;
        for (int64_t e = g->rowptr[i]; e < g->rowptr[i + 1]; e++) s += (double)g->val[e] * dis[g->col[e]] * x[g->col[e]];
        y[i] = dis[i] * s;
    }
}

/* h (cnt) = V[0..cnt-1]ᵀ w: partial sums per fixed chunk (part: nch×cnt), added in chunk order.
 * The basis is stored in float (it is streamed a few times per step: memory is the cost), every
 * sum is in double. Inside a chunk eight running sums (element i goes to sum i mod 8) let the
 * loop vectorise — one sum was a chain of dependent adds, most of the spectral time. */
static void proj(double *h, const float *V, int64_t n, int cnt, const double *w, double *part)
{
    int64_t nch = (n + SP_CHUNK - 1) / SP_CHUNK;
    #pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < nch; c++) {
        int64_t i0 = c * SP_CHUNK, i1 = i0 + SP_CHUNK < n ? i0 + SP_CHUNK : n;
        for (int r = 0; r < cnt; r++) {
            const float *v = V + (int64_t)r * n;
            double acc[8] = {0};
            int64_t i = i0;
            for (; i + 8 <= i1; i += 8)
                for (int l = 0; l < 8; l++) acc[l] += (double)v[i + l] * w[i + l];
            for (int l = 0; i < i1; i++, l++) acc[l] += (double)v[i] * w[i];
            part[c * cnt + r] = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
        }
    }
    for (int r = 0; r < cnt; r++) {
        double s = 0.0;
        for (int64_t c = 0; c < nch; c++) s += part[c * cnt + r];
        h[r] = s;
    }
}

/* w·v for double w and float v, chunked like proj */
static double dotdf(const double *w, const float *v, int64_t n, double *part)
{
    double h;
    proj(&h, v, n, 1, w, part);
    return h;
}

/* ‖w‖² in fixed chunks */
static double sqnorm(const double *w, int64_t n, double *part)
{
    int64_t nch = (n + SP_CHUNK - 1) / SP_CHUNK;
    #pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < nch; c++) {
        int64_t i0 = c * SP_CHUNK, i1 = i0 + SP_CHUNK < n ? i0 + SP_CHUNK : n;
        double acc[8] = {0};   /* eight running sums, as in proj */
        int64_t i = i0;
        for (; i + 8 <= i1; i += 8)
            for (int l = 0; l < 8; l++) acc[l] += w[i + l] * w[i + l];
        for (int l = 0; i < i1; i++, l++) acc[l] += w[i] * w[i];
        part[c] = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    }
    double s = 0.0;
    for (int64_t c = 0; c < nch; c++) s += part[c];
    return s;
}

/* The next two go through the rows in blocks of SP_BLOCK with one running sum per row, so the
 * inner loop runs along the rows (vectorised) while each row sums in the same order as before. */
#define SP_BLOCK 256

/* w -= V[0..cnt-1]·h */
static void sub(double *w, const float *V, int64_t n, int cnt, const double *h)
{
    int64_t nb = (n + SP_BLOCK - 1) / SP_BLOCK;
    #pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < nb; b++) {
        int64_t i0 = b * SP_BLOCK, len = i0 + SP_BLOCK < n ? SP_BLOCK : n - i0;
        double s[SP_BLOCK] = {0};
        for (int r = 0; r < cnt; r++) {
            const float *v = V + (int64_t)r * n + i0;
            double hr = h[r];
            for (int64_t i = 0; i < len; i++) s[i] += hr * v[i];
        }
        for (int64_t i = 0; i < len; i++) w[i0 + i] -= s[i];
    }
}

/* out[r] (cnt×n) = Σ_j Z[j, col_r] · V[j] for j < m; Z row-major m×m */
static void combine(float *out, const float *V, int64_t n, int m, const double *Z, const int *cols, int cnt)
{
    int64_t nb = (n + SP_BLOCK - 1) / SP_BLOCK;
    #pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < nb; b++) {
        int64_t i0 = b * SP_BLOCK, len = i0 + SP_BLOCK < n ? SP_BLOCK : n - i0;
        for (int r = 0; r < cnt; r++) {
            double s[SP_BLOCK] = {0};
            for (int j = 0; j < m; j++) {
                const float *v = V + (int64_t)j * n + i0;
                double z = Z[(int64_t)j * m + cols[r]];
                for (int64_t i = 0; i < len; i++) s[i] += z * v[i];
            }
            for (int64_t i = 0; i < len; i++) out[(int64_t)r * n + i0 + i] = (float)s[i];
        }
    }
}

/* symmetric eigen-decomposition (ascending) with one BLAS thread, for thread-count independence */
static int small_eigh(double *a, double *w, int64_t m)
{
    int nt = openblas_get_num_threads();
    openblas_set_num_threads(1);
    int info = (int)LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'V', 'U', (lapack_int)m, a, (lapack_int)m, w);
    openblas_set_num_threads(nt);
    return info;
}

/* ------------------------------------------------------------------ the eigensolver */

static fm_status spectral_dense(float *emb, const fm_umap_graph *g, const double *dis, int64_t dim)
{
    int64_t n = g->n;
    double *A = fm_alloc((size_t)(n * n), sizeof(double)), *w = fm_alloc((size_t)n, sizeof(double));
    if (!A || !w) { fm_free(A); fm_free(w); return FM_STATUS_NOMEM; }
    for (int64_t i = 0; i < n; i++)
        for (int64_t e = g->rowptr[i]; e < g->rowptr[i + 1]; e++)
            A[i * n + g->col[e]] = dis[i] * (double)g->val[e] * dis[g->col[e]];
    int info = small_eigh(A, w, n);
    if (info == 0)
        for (int64_t i = 0; i < n; i++)
            for (int64_t c = 0; c < dim; c++) emb[i * dim + c] = (float)A[i * n + (n - 2 - c)];
    fm_free(A); fm_free(w);
    return info == 0 ? FM_STATUS_OK : FM_STATUS_NUMERIC;
}

fm_status fm_umap_spectral_init(float *emb, int *converged, const fm_umap_graph *g, int64_t dim,
                                uint64_t seed, int solver, int verbose)
{
    int64_t n = g->n;
    *converged = 0;
    if (dim < 1 || n < dim + 2) return FM_STATUS_ARG;
    fm_status st = FM_STATUS_NOMEM;
    double *dis = fm_alloc((size_t)n, sizeof(double));
    if (!dis) return st;
    for (int64_t i = 0; i < n; i++) {
        double s = 0.0;
        for (int64_t e = g->rowptr[i]; e < g->rowptr[i + 1]; e++) s += g->val[e];
        dis[i] = s > 0.0 ? 1.0 / sqrt(s) : 0.0;
    }
    if (solver == 1 || (solver == 0 && n <= 1500)) {
        st = spectral_dense(emb, g, dis, dim);
        *converged = st == FM_STATUS_OK;
        fm_free(dis);
        return st;
    }

    int nev = (int)dim + 1;
    int m = (int)sqrt((double)n);
    if (m > 64) m = 64;   /* the basis is streamed twice per step: keep it small */
    if (m < 2 * nev + 8) m = 2 * nev + 8;
    if (m > n - 1) m = (int)n - 1;
    const double tol = 1e-4;   /* umap-learn's eigsh tolerance */
    const int max_restarts = 150;   /* then the caller falls back to PCA */
    int64_t nch = (n + SP_CHUNK - 1) / SP_CHUNK;
    float *V = fm_alloc((size_t)(m + 1) * n, sizeof(float));
    float *tmpv = fm_alloc((size_t)m * n, sizeof(float));
    double *w = fm_alloc((size_t)n, sizeof(double));
    double *H = fm_alloc((size_t)m * m, sizeof(double)), *Z = fm_alloc((size_t)m * m, sizeof(double));
    double *theta = fm_alloc((size_t)m, sizeof(double));
    double *h = fm_alloc((size_t)m + 1, sizeof(double)), *h2 = fm_alloc((size_t)m + 1, sizeof(double));
    double *part = fm_alloc((size_t)nch * (m + 1), sizeof(double));
    int *cols = fm_alloc((size_t)m, sizeof(int));
    if (!V || !tmpv || !w || !H || !Z || !theta || !h || !h2 || !part || !cols) goto done;

    /* start vector: Gaussian from the seed, unit length */
    fm_rng_fill(V, n, seed, 0x5bec000000ull, 1);
    for (int64_t i = 0; i < n; i++) w[i] = V[i];
    {
        double nr = sqrt(sqnorm(w, n, part));
        for (int64_t i = 0; i < n; i++) V[i] = (float)(w[i] / nr);
    }
    int keep = 0, restart;
    double beta = 0.0;
    for (restart = 0; restart < max_restarts; restart++) {
        for (int j = keep; j < m; j++) {
            nmv(w, V + (int64_t)j * n, g, dis);
            for (int r = 0; r <= j; r++) h[r] = 0.0;
            /* the three-term part first (v_j, v_j-1), then one full classical Gram–Schmidt pass
             * removes what rounding left along the rest; right after a restart w couples to every
             * kept Ritz vector, so that step gets two full passes */
            int full = 1;
            if (j > keep) {
                for (int r = j; r >= j - 1 && r >= keep; r--) {
                    double c = dotdf(w, V + (int64_t)r * n, n, part);
                    const float *v = V + (int64_t)r * n;
                    #pragma omp parallel for schedule(static)
                    for (int64_t i = 0; i < n; i++) w[i] -= c * v[i];
                    h[r] += c;
                }
            } else {
                full = 2;
            }
            for (int pass = 0; pass < full; pass++) {
                proj(h2, V, n, j + 1, w, part);
                sub(w, V, n, j + 1, h2);
                for (int r = 0; r <= j; r++) h[r] += h2[r];
            }
            for (int r = 0; r <= j; r++) H[(int64_t)r * m + j] = H[(int64_t)j * m + r] = h[r];
            beta = sqrt(sqnorm(w, n, part));
            float *vn = V + (int64_t)(j + 1) * n;
            if (beta < 1e-10) {
                /* invariant subspace: continue from a fresh random direction, coupling 0 */
                fm_rng_fill(vn, n, seed, 0x5bed000000ull + (uint64_t)(restart * m + j), 1);
                for (int64_t i = 0; i < n; i++) w[i] = vn[i];
                for (int pass = 0; pass < 2; pass++) {
                    proj(h2, V, n, j + 1, w, part);
                    sub(w, V, n, j + 1, h2);
                }
                double nr = sqrt(sqnorm(w, n, part));
                for (int64_t i = 0; i < n; i++) vn[i] = (float)(w[i] / nr);
                beta = 0.0;
            } else {
                for (int64_t i = 0; i < n; i++) vn[i] = (float)(w[i] / beta);
            }
        }
        /* Rayleigh–Ritz on the m×m projection */
        memcpy(Z, H, sizeof(double) * (size_t)m * m);
        if (small_eigh(Z, theta, m) != 0) { st = FM_STATUS_NUMERIC; goto done; }
        int conv = 1;
        for (int r = 0; r < nev; r++) {
            int c = m - 1 - r;
            double res = fabs(beta * Z[(int64_t)(m - 1) * m + c]);
            if (res > tol * fmax(fabs(theta[c]), 1e-12)) conv = 0;
        }
        if (verbose && (conv || restart % 10 == 9))
            fprintf(stderr, "[umap]        Lanczos restart %d: θ₂ = %.6f, θ%d = %.6f%s\n", restart + 1,
                    theta[m - 2], nev, theta[m - nev], conv ? " (converged)" : "");
        if (conv || restart == max_restarts - 1) {
            *converged = conv;
            for (int r = 0; r < nev; r++) cols[r] = m - 1 - r;
            combine(tmpv, V, n, m, Z, cols, nev);
            /* skip the trivial top vector (∝ D^½·1) */
            for (int64_t i = 0; i < n; i++)
                for (int64_t c = 0; c < dim; c++) emb[i * dim + c] = tmpv[(c + 1) * n + i];
            st = FM_STATUS_OK;
            break;
        }
        /* thick restart: keep the leading Ritz vectors and the residual direction */
        keep = nev + (m - nev) / 2;
        if (keep > m - 2) keep = m - 2;
        for (int r = 0; r < keep; r++) cols[r] = m - 1 - r;
        combine(tmpv, V, n, m, Z, cols, keep);
        memcpy(V, tmpv, sizeof(float) * (size_t)keep * n);
        memmove(V + (int64_t)keep * n, V + (int64_t)m * n, sizeof(float) * (size_t)n);
        memset(H, 0, sizeof(double) * (size_t)m * m);
        for (int r = 0; r < keep; r++) H[(int64_t)r * m + r] = theta[m - 1 - r];
    }
done:
    fm_free(w);
    fm_free(dis); fm_free(V); fm_free(tmpv); fm_free(H); fm_free(Z); fm_free(theta); fm_free(h);
    fm_free(h2); fm_free(part); fm_free(cols);
    return st;
}
