/* umap.c — UMAP's fuzzy simplicial set, the curve fit, scaling of the initial layout and the
 * transform helpers (see umap.h). The spectral solver is in umap_spectral.c, the SGD in
 * umap_sgd.c. */
#include "umap.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void fm_umap_graph_free(fm_umap_graph *g)
{
    fm_free(g->rowptr);
    fm_free(g->col);
    fm_free(g->val);
    g->rowptr = NULL;
    g->col = NULL;
    g->val = NULL;
    g->n = g->nnz = 0;
}

static fm_status graph_alloc(fm_umap_graph *g, int64_t n, int64_t nnz)
{
    g->n = n;
    g->nnz = nnz;
    g->rowptr = fm_alloc((size_t)n + 1, sizeof(int64_t));
    g->col = fm_alloc((size_t)(nnz > 0 ? nnz : 1), sizeof(int32_t));
    g->val = fm_alloc((size_t)(nnz > 0 ? nnz : 1), sizeof(float));
    if (!g->rowptr || !g->col || !g->val) { fm_umap_graph_free(g); return FM_STATUS_NOMEM; }
    return FM_STATUS_OK;
}

/* ------------------------------------------------------------------ smooth_knn_dist */

#define SMOOTH_K_TOLERANCE 1e-5
#define MIN_K_DIST_SCALE 1e-3

fm_status fm_umap_smooth_knn_dist(float *sigma, float *rho, const float *dist, int64_t n, int64_t k,
                                  double k_target, double local_connectivity, double bandwidth)
{
    if (n < 1 || k < 1 || k_target <= 0 || local_connectivity < 0) return FM_STATUS_ARG;
    double target = log2(k_target) * bandwidth;
    double mean_all = 0.0;   /* serial: a fixed order */
    for (int64_t e = 0; e < n * k; e++) mean_all += dist[e];
    mean_all /= (double)(n * k);
    int64_t index = (int64_t)floor(local_connectivity);
    double interp = local_connectivity - (double)index;

    #pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        const float *di = dist + i * k;
        /* the row's nonzero distances, in order */
        int64_t nz = 0, first_nz = -1;
        double row_mean = 0.0, max_nz = 0.0;
        for (int64_t j = 0; j < k; j++) {
            row_mean += di[j];
            if (di[j] > 0.0f) {
                if (first_nz < 0) first_nz = j;
                nz++;
                if (di[j] > max_nz) max_nz = di[j];
            }
        }
        row_mean /= (double)k;
        double r = 0.0;
        if ((double)nz >= local_connectivity) {
            /* nonzero distances are a suffix of the ascending row */
            if (index > 0) {
                r = di[first_nz + index - 1];
                if (interp > SMOOTH_K_TOLERANCE)
                    r += interp * ((double)di[first_nz + index] - di[first_nz + index - 1]);
            } else if (nz > 0) {
                r = interp * di[first_nz];
            }
        } else if (nz > 0) {
            r = max_nz;
        }
        double lo = 0.0, hi = INFINITY, mid = 1.0;
        for (int it = 0; it < 64; it++) {
            double psum = 0.0;
            for (int64_t j = 1; j < k; j++) {   /* from 1, as umap-learn: column 0 is the point */
                double dd = (double)di[j] - r;
                psum += dd > 0.0 ? exp(-(dd / mid)) : 1.0;
            }
            if (fabs(psum - target) < SMOOTH_K_TOLERANCE) break;
            if (psum > target) {
                hi = mid;
                mid = (lo + hi) / 2.0;
            } else {
                lo = mid;
                mid = isinf(hi) ? mid * 2.0 : (lo + hi) / 2.0;
            }
        }
        if (r > 0.0) {
            if (mid < MIN_K_DIST_SCALE * row_mean) mid = MIN_K_DIST_SCALE * row_mean;
        } else {
            if (mid < MIN_K_DIST_SCALE * mean_all) mid = MIN_K_DIST_SCALE * mean_all;
        }
        sigma[i] = (float)mid;
        rho[i] = (float)r;
    }
    return FM_STATUS_OK;
}

/* ------------------------------------------------------------------ memberships and union */

fm_status fm_umap_membership(float *val, const int32_t *idx, const float *dist, const float *sigma,
                             const float *rho, int64_t n, int64_t k, int self_in_rows)
{
    #pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        for (int64_t j = 0; j < k; j++) {
            int64_t e = i * k + j;
            float v;
            if (idx[e] < 0 || (self_in_rows && idx[e] == i)) v = 0.0f;
            else if (dist[e] - rho[i] <= 0.0f || sigma[i] == 0.0f) v = 1.0f;
            else v = (float)exp(-(((double)dist[e] - rho[i]) / sigma[i]));
            val[e] = v;
        }
    }
    return FM_STATUS_OK;
}

fm_status fm_umap_fuzzy_union(fm_umap_graph *g, const int32_t *idx, const float *val, int64_t n,
                              int64_t k, double mix)
{
    fm_status st = FM_STATUS_NOMEM;
    memset(g, 0, sizeof *g);
    fm_umap_graph P = {0}, Pt = {0};
    int64_t *cnt = fm_alloc((size_t)n + 1, sizeof(int64_t));
    if (!cnt) return st;
    /* P: each row's nonzero entries sorted by column (a kNN list holds no repeats) */
    int64_t nnz = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < k; j++) if (idx[i * k + j] >= 0 && val[i * k + j] != 0.0f) nnz++;
    if (graph_alloc(&P, n, nnz) != FM_STATUS_OK || graph_alloc(&Pt, n, nnz) != FM_STATUS_OK) goto done;
    P.rowptr[0] = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t p = P.rowptr[i];
        for (int64_t j = 0; j < k; j++)
            if (idx[i * k + j] >= 0 && val[i * k + j] != 0.0f) { P.col[p] = idx[i * k + j]; P.val[p] = val[i * k + j]; p++; }
        P.rowptr[i + 1] = p;
    }
    #pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {   /* insertion sort: rows are short */
        int32_t *c = P.col + P.rowptr[i];
        float *v = P.val + P.rowptr[i];
        int64_t len = P.rowptr[i + 1] - P.rowptr[i];
        for (int64_t e = 1; e < len; e++) {
            int32_t cc = c[e];
            float vv = v[e];
            int64_t p = e;
            while (p > 0 && c[p - 1] > cc) { c[p] = c[p - 1]; v[p] = v[p - 1]; p--; }
            c[p] = cc;
            v[p] = vv;
        }
    }
    /* Pᵀ by counting sort: rows filled in increasing source order, so columns come out sorted */
    memset(cnt, 0, sizeof(int64_t) * (size_t)(n + 1));
    for (int64_t e = 0; e < nnz; e++) cnt[P.col[e] + 1]++;
    for (int64_t i = 0; i < n; i++) cnt[i + 1] += cnt[i];
    memcpy(Pt.rowptr, cnt, sizeof(int64_t) * (size_t)(n + 1));
    for (int64_t i = 0; i < n; i++)
        for (int64_t e = P.rowptr[i]; e < P.rowptr[i + 1]; e++) {
            int64_t p = cnt[P.col[e]]++;
            Pt.col[p] = (int32_t)i;
            Pt.val[p] = P.val[e];
        }
    /* merge row i of P and Pᵀ: count, then fill */
    int64_t *rc = fm_alloc((size_t)n + 1, sizeof(int64_t));
    if (!rc) goto done;
    float fm = (float)mix, fo = (float)(1.0 - mix);
    for (int pass = 0; pass < 2; pass++) {
        #pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < n; i++) {
            int64_t a = P.rowptr[i], ae = P.rowptr[i + 1], b = Pt.rowptr[i], be = Pt.rowptr[i + 1];
            int64_t out = pass ? g->rowptr[i] : 0, c = 0;
            while (a < ae || b < be) {
                int32_t col;
                float p = 0.0f, t = 0.0f;
                if (b >= be || (a < ae && P.col[a] < Pt.col[b])) { col = P.col[a]; p = P.val[a++]; }
                else if (a >= ae || Pt.col[b] < P.col[a]) { col = Pt.col[b]; t = Pt.val[b++]; }
                else { col = P.col[a]; p = P.val[a++]; t = Pt.val[b++]; }
                float prod = p * t;
                float v = fm * (p + t - prod) + fo * prod;
                if (v == 0.0f) continue;
                if (pass) { g->col[out + c] = col; g->val[out + c] = v; }
                c++;
            }
            if (!pass) rc[i] = c;
        }
        if (!pass) {
            int64_t tot = 0;
            for (int64_t i = 0; i < n; i++) tot += rc[i];
            if (graph_alloc(g, n, tot) != FM_STATUS_OK) { fm_free(rc); goto done; }
            g->rowptr[0] = 0;
            for (int64_t i = 0; i < n; i++) g->rowptr[i + 1] = g->rowptr[i] + rc[i];
        }
    }
    fm_free(rc);
    st = FM_STATUS_OK;
done:
    fm_free(cnt);
    fm_umap_graph_free(&P);
    fm_umap_graph_free(&Pt);
    return st;
}

fm_status fm_umap_prune(fm_umap_graph *out, const fm_umap_graph *g, float threshold)
{
    int64_t n = g->n, nnz = 0;
    for (int64_t e = 0; e < g->nnz; e++) nnz += g->val[e] >= threshold;
    if (graph_alloc(out, n, nnz) != FM_STATUS_OK) return FM_STATUS_NOMEM;
    int64_t p = 0;
    out->rowptr[0] = 0;
    for (int64_t i = 0; i < n; i++) {
        for (int64_t e = g->rowptr[i]; e < g->rowptr[i + 1]; e++)
            if (g->val[e] >= threshold) { out->col[p] = g->col[e]; out->val[p] = g->val[e]; p++; }
        out->rowptr[i + 1] = p;
    }
    return FM_STATUS_OK;
}

/* ------------------------------------------------------------------ mutual kNN (Dalmia & Sia) */

typedef struct { double d; int32_t v; } dj_item;

static void dj_push(dj_item *h, int *len, double d, int32_t v)
{
    int c = (*len)++;
    while (c > 0) {
        int p = (c - 1) / 2;
        if (h[p].d < d || (h[p].d == d && h[p].v <= v)) break;
        h[c] = h[p];
        c = p;
    }
    h[c] = (dj_item){d, v};
}

static dj_item dj_pop(dj_item *h, int *len)
{
    dj_item top = h[0], last = h[--(*len)];
    int c = 0;
    for (;;) {
        int l = 2 * c + 1, r = l + 1, s = c;
        dj_item sv = last;
        if (l < *len && (h[l].d < sv.d || (h[l].d == sv.d && h[l].v < sv.v))) { s = l; sv = h[l]; }
        if (r < *len && (h[r].d < sv.d || (h[r].d == sv.d && h[r].v < sv.v))) { s = r; }
        if (s == c) break;
        h[c] = h[s];
        c = s;
    }
    if (*len > 0) h[c] = last;
    return top;
}

typedef struct { float d; int32_t i, c; } kn_edge;

static int kn_edge_cmp(const void *a, const void *b)
{
    const kn_edge *x = a, *y = b;
    if (x->d != y->d) return x->d < y->d ? -1 : 1;
    if (x->i != y->i) return x->i < y->i ? -1 : 1;
    return (x->c > y->c) - (x->c < y->c);
}

static int32_t mst_find(int32_t *p, int32_t i)
{
    while (p[i] != i) { p[i] = p[p[i]]; i = p[i]; }
    return i;
}

fm_status fm_umap_mutual_knn(int32_t *out_idx, float *out_dist, const int32_t *idx, const float *dist,
                             int64_t n, int64_t k, int connectivity, int64_t *n_isolated)
{
    fm_status st = FM_STATUS_NOMEM;
    /* adjacency of the mutual graph (+ nearest-neighbour ties for isolated points), CSR */
    int64_t *deg = fm_alloc((size_t)n + 1, sizeof(int64_t));
    uint8_t *mut = fm_alloc((size_t)(n * k), sizeof(uint8_t));
    int32_t *adj = NULL;
    float *adw = NULL;
    int64_t *fill = NULL;
    if (!deg || !mut) goto done;
    #pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++)
        for (int64_t c = 1; c < k; c++) {
            int32_t j = idx[i * k + c];
            mut[i * k + c] = 0;
            if (j < 0 || j == i) continue;
            for (int64_t c2 = 1; c2 < k; c2++) if (idx[(int64_t)j * k + c2] == i) { mut[i * k + c] = 1; break; }
        }
    /* isolated points: counted; with connectivity "nearest" tied to their nearest neighbour in
     * both directions (marked 2) */
    int64_t iso = 0;
    for (int64_t i = 0; i < n; i++) {
        int any = 0;
        for (int64_t c = 1; c < k; c++) any |= mut[i * k + c] != 0;
        if (!any && k > 1 && idx[i * k + 1] >= 0) {
            iso++;
            if (connectivity == FM_UMAP_CONNECT_NEAREST) mut[i * k + 1] = 2;
        }
    }
    if (n_isolated) *n_isolated = iso;
    if (connectivity == FM_UMAP_CONNECT_MIN_TREE) {
        /* Kruskal over the kNN edges by distance, starting from the mutual graph's components:
         * an edge joining two components is added (marked 2) — the fewest minimum-spanning-tree
         * edges that connect what the kNN graph connects */
        int32_t *par = fm_alloc((size_t)n, sizeof(int32_t));
        int64_t ne = 0;
        for (int64_t i = 0; i < n; i++) for (int64_t c = 1; c < k; c++) ne += idx[i * k + c] >= 0 && idx[i * k + c] != i;
        kn_edge *ed = fm_alloc((size_t)(ne > 0 ? ne : 1), sizeof(kn_edge));
        if (!par || !ed) { fm_free(par); fm_free(ed); goto done; }
        for (int64_t i = 0; i < n; i++) par[i] = (int32_t)i;
        ne = 0;
        for (int64_t i = 0; i < n; i++)
            for (int64_t c = 1; c < k; c++) {
                int32_t j = idx[i * k + c];
                if (j < 0 || j == i) continue;
                if (mut[i * k + c] == 1) {
                    int32_t a = mst_find(par, (int32_t)i), b = mst_find(par, j);
                    if (a != b) par[a < b ? b : a] = a < b ? a : b;
                }
                ed[ne++] = (kn_edge){dist[i * k + c], (int32_t)i, (int32_t)c};
            }
        qsort(ed, (size_t)ne, sizeof *ed, kn_edge_cmp);
        for (int64_t e = 0; e < ne; e++) {
            int32_t i = ed[e].i, j = idx[(int64_t)i * k + ed[e].c];
            int32_t a = mst_find(par, i), b = mst_find(par, j);
            if (a == b) continue;
            par[a < b ? b : a] = a < b ? a : b;
            mut[(int64_t)i * k + ed[e].c] = 2;
        }
        fm_free(par);
        fm_free(ed);
    }
    /* edges: (i, j) for mut[i,c] == 1 (the mutual pair appears from both sides), and both
     * directions of each tie */
    memset(deg, 0, sizeof(int64_t) * (size_t)(n + 1));
    for (int64_t i = 0; i < n; i++)
        for (int64_t c = 1; c < k; c++) {
            if (mut[i * k + c] == 1) deg[i + 1]++;
            else if (mut[i * k + c] == 2) { deg[i + 1]++; deg[idx[i * k + c] + 1]++; }
        }
    for (int64_t i = 0; i < n; i++) deg[i + 1] += deg[i];
    adj = fm_alloc((size_t)(deg[n] > 0 ? deg[n] : 1), sizeof(int32_t));
    adw = fm_alloc((size_t)(deg[n] > 0 ? deg[n] : 1), sizeof(float));
    fill = fm_alloc((size_t)n, sizeof(int64_t));
    if (!adj || !adw || !fill) goto done;
    for (int64_t i = 0; i < n; i++) fill[i] = deg[i];
    for (int64_t i = 0; i < n; i++)
        for (int64_t c = 1; c < k; c++) {
            int32_t j = idx[i * k + c];
            if (mut[i * k + c] == 1) { adj[fill[i]] = j; adw[fill[i]++] = dist[i * k + c]; }
            else if (mut[i * k + c] == 2) {
                adj[fill[i]] = j; adw[fill[i]++] = dist[i * k + c];
                adj[fill[j]] = (int32_t)i; adw[fill[j]++] = dist[i * k + c];
            }
        }
    /* k − 1 nearest along shortest paths, per point (a tie edge may duplicate a mutual one:
     * Dijkstra settles each vertex once, so that is harmless) */
    int fail = 0;
    #pragma omp parallel
    {
        int cap = 1024;
        dj_item *hp = malloc(sizeof(dj_item) * (size_t)cap);
        int32_t *seen = malloc(sizeof(int32_t) * (size_t)(4 * k + 16));
        int seen_cap = (int)(4 * k + 16);
        if (!hp || !seen) {
            #pragma omp atomic write
            fail = 1;
        }
        #pragma omp for schedule(dynamic, 256)
        for (int64_t i = 0; i < n; i++) {
            if (!hp || !seen) continue;
            int len = 0, settled = 0, nseen = 0;
            dj_push(hp, &len, 0.0, (int32_t)i);
            int32_t *oi = out_idx + i * k;
            float *od = out_dist + i * k;
            while (len > 0 && settled < k) {
                dj_item it = dj_pop(hp, &len);
                int dup = 0;
                for (int s = 0; s < nseen; s++) if (seen[s] == it.v) { dup = 1; break; }
                if (dup) continue;
                if (nseen < seen_cap) seen[nseen++] = it.v;
                oi[settled] = it.v;
                od[settled] = (float)it.d;
                settled++;
                for (int64_t e = deg[it.v]; e < deg[it.v + 1]; e++) {
                    if (len + 1 >= cap) {
                        dj_item *nh = realloc(hp, sizeof(dj_item) * (size_t)cap * 2);
                        if (!nh) break;
                        hp = nh;
                        cap *= 2;
                    }
                    dj_push(hp, &len, it.d + adw[e], adj[e]);
                }
            }
            for (int s = settled; s < k; s++) { oi[s] = -1; od[s] = settled > 0 ? od[settled - 1] : 0.0f; }
        }
        free(hp);
        free(seen);
    }
    st = fail ? FM_STATUS_NOMEM : FM_STATUS_OK;
done:
    fm_free(deg); fm_free(mut); fm_free(adj); fm_free(adw); fm_free(fill);
    return st;
}

/* ------------------------------------------------------------------ find_ab */

fm_status fm_umap_find_ab(double *a_out, double *b_out, double spread, double min_dist)
{
    if (!(spread > 0) || !(min_dist >= 0)) return FM_STATUS_ARG;
    enum { NP = 300 };
    double xv[NP], yv[NP];
    for (int i = 0; i < NP; i++) {
        xv[i] = 3.0 * spread * i / (NP - 1);
        yv[i] = xv[i] < min_dist ? 1.0 : exp(-(xv[i] - min_dist) / spread);
    }
    /* Levenberg–Marquardt from (1, 1), as scipy's curve_fit */
    double a = 1.0, b = 1.0, lambda = 1e-3;
    double cost = 0.0;
    for (int i = 0; i < NP; i++) {
        double f = xv[i] > 0 ? 1.0 / (1.0 + a * pow(xv[i], 2 * b)) : 1.0;
        cost += (f - yv[i]) * (f - yv[i]);
    }
    for (int it = 0; it < 500; it++) {
        double JtJ[3] = {0, 0, 0}, Jtr[2] = {0, 0};
        for (int i = 0; i < NP; i++) {
            if (xv[i] <= 0) continue;   /* f ≡ 1 at x = 0: no gradient */
            double p = pow(xv[i], 2 * b), den = 1.0 + a * p, f = 1.0 / den, r = f - yv[i];
            double ja = -p / (den * den), jb = -a * p * 2.0 * log(xv[i]) / (den * den);
            JtJ[0] += ja * ja; JtJ[1] += ja * jb; JtJ[2] += jb * jb;
            Jtr[0] += ja * r; Jtr[1] += jb * r;
        }
        int improved = 0;
        for (int tries = 0; tries < 30; tries++) {
            double m00 = JtJ[0] * (1 + lambda), m11 = JtJ[2] * (1 + lambda), m01 = JtJ[1];
            double det = m00 * m11 - m01 * m01;
            if (det == 0) { lambda *= 10; continue; }
            double da = -(m11 * Jtr[0] - m01 * Jtr[1]) / det, db = -(m00 * Jtr[1] - m01 * Jtr[0]) / det;
            double na = a + da, nb = b + db, nc = 0.0;
            for (int i = 0; i < NP; i++) {
                double f = xv[i] > 0 ? 1.0 / (1.0 + na * pow(xv[i], 2 * nb)) : 1.0;
                nc += (f - yv[i]) * (f - yv[i]);
            }
            if (nc < cost && isfinite(nc)) {
                double rel = (cost - nc) / (cost > 0 ? cost : 1);
                a = na; b = nb; cost = nc; lambda = fmax(lambda / 10, 1e-12);
                improved = rel > 1e-15 ? 1 : 2;
                break;
            }
            lambda *= 10;
        }
        if (improved != 1) break;
    }
    if (!isfinite(a) || !isfinite(b)) return FM_STATUS_NOCONV;
    *a_out = a;
    *b_out = b;
    return FM_STATUS_OK;
}

/* ------------------------------------------------------------------ initial layout scaling */

fm_status fm_umap_scale_init(float *emb, int64_t n, int64_t dim, uint64_t seed)
{
    float mx = 0.0f;
    for (int64_t e = 0; e < n * dim; e++) mx = fmaxf(mx, fabsf(emb[e]));
    float expansion = mx > 0.0f ? 10.0f / mx : 1.0f;
    float *noise = fm_alloc((size_t)(n * dim), sizeof(float));
    if (!noise) return FM_STATUS_NOMEM;
    fm_rng_fill(noise, n * dim, seed, 0x1a17000000ull, 1);
    for (int64_t e = 0; e < n * dim; e++) emb[e] = emb[e] * expansion + 1e-4f * noise[e];
    fm_free(noise);
    for (int64_t c = 0; c < dim; c++) {
        float lo = INFINITY, hi = -INFINITY;
        for (int64_t i = 0; i < n; i++) { lo = fminf(lo, emb[i * dim + c]); hi = fmaxf(hi, emb[i * dim + c]); }
        float span = hi - lo;
        for (int64_t i = 0; i < n; i++)
            emb[i * dim + c] = span > 0.0f ? 10.0f * (emb[i * dim + c] - lo) / span : 5.0f;
    }
    return FM_STATUS_OK;
}

/* ------------------------------------------------------------------ densMAP radii, transform init */

fm_status fm_umap_local_radii(float *rad, const fm_umap_graph *g, const float *edist, const float *emb,
                              int64_t dim, double a, double b)
{
    #pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < g->n; i++) {
        double num = 0.0, den = 0.0;
        for (int64_t e = g->rowptr[i]; e < g->rowptr[i + 1]; e++) {
            double d2, w;
            if (edist) {
                d2 = (double)edist[e] * edist[e];
                w = g->val[e];
            } else {
                const float *p = emb + i * dim, *q = emb + (int64_t)g->col[e] * dim;
                d2 = 0.0;
                for (int64_t c = 0; c < dim; c++) d2 += ((double)p[c] - q[c]) * ((double)p[c] - q[c]);
                w = 1.0 / (1.0 + a * pow(d2, b));
            }
            num += w * d2;
            den += w;
        }
        rad[i] = (float)log(1e-8 + (den > 0 ? num / den : 0.0));
    }
    return FM_STATUS_OK;
}

fm_status fm_umap_init_transform(float *emb, const int32_t *idx, const float *w, const float *train,
                                 int64_t m, int64_t k, int64_t dim)
{
    #pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < m; i++) {
        double tot = 0.0;
        for (int64_t j = 0; j < k; j++) tot += w[i * k + j];
        for (int64_t c = 0; c < dim; c++) {
            double s = 0.0;
            for (int64_t j = 0; j < k; j++)
                if (idx[i * k + j] >= 0) s += (double)w[i * k + j] * train[(int64_t)idx[i * k + j] * dim + c];
            emb[i * dim + c] = (float)(tot > 0 ? s / tot : 0.0);
        }
    }
    return FM_STATUS_OK;
}
