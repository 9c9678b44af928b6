/* umap_fit.c — the UMAP pipeline over the stages of umap.c, umap_spectral.c and umap_sgd.c,
 * and transform of new points (see umap.h). */
#include "umap.h"
#include "knn.h"
#include "pca.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

void fm_umap_defaults(fm_umap_options *o)
{
    memset(o, 0, sizeof *o);
    o->n_neighbors = 15;
    o->n_components = 2;
    o->metric = FM_KNN_EUCLIDEAN;
    o->min_dist = 0.1;
    o->spread = 1.0;
    o->learning_rate = 1.0;
    o->negative_sample_rate = 5.0;
    o->repulsion_strength = 1.0;
    o->local_connectivity = 1.0;
    o->set_op_mix_ratio = 1.0;
    o->dens_lambda = 2.0;
    o->dens_frac = 0.3;
    o->dens_var_shift = 0.1;
    o->connectivity = FM_UMAP_CONNECT_MIN_TREE;
    o->a = o->b = NAN;
}

void fm_umap_result_free(fm_umap_result *r)
{
    fm_mat_free(&r->embedding);
    fm_free(r->rad_orig);
    fm_free(r->rad_emb);
    r->rad_orig = r->rad_emb = NULL;
}

static double wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void say(const fm_umap_options *o, double t0, const char *fmt, ...)
{
    if (!o->verbose) return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "[umap] %7.2fs  ", wall() - t0);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static void set_err(char *err, const char *msg)
{
    if (err) snprintf(err, FM_ERRLEN, "%s", msg);
}

/* the kNN lists in umap-learn's layout: column 0 the point itself at distance 0 */
static fm_status knn_with_self(int32_t *idx, float *dist, const float *x, int64_t n, int64_t d,
                               int64_t k, int metric, int method, uint64_t seed, int verbose)
{
    int32_t *bi = fm_alloc((size_t)(n * (k - 1)), sizeof(int32_t));
    float *bd = fm_alloc((size_t)(n * (k - 1)), sizeof(float));
    fm_status st = FM_STATUS_NOMEM;
    if (!bi || !bd) goto done;
    if (method == FM_UMAP_KNN_EXACT) {
        st = fm_knn_exact(bi, bd, x, n, x, n, d, k - 1, metric, 1);
    } else {
        fm_knn_nnd_options no;
        fm_knn_nnd_defaults(&no);
        no.seed = seed;
        no.verbose = verbose;
        st = fm_knn_nndescent(bi, bd, x, n, d, k - 1, metric, &no, NULL);
    }
    if (st != FM_STATUS_OK) goto done;
    for (int64_t i = 0; i < n; i++) {
        idx[i * k] = (int32_t)i;
        dist[i * k] = 0.0f;
        memcpy(idx + i * k + 1, bi + i * (k - 1), sizeof(int32_t) * (size_t)(k - 1));
        memcpy(dist + i * k + 1, bd + i * (k - 1), sizeof(float) * (size_t)(k - 1));
    }
done:
    fm_free(bi);
    fm_free(bd);
    return st;
}

static fm_status pca_init(float *emb, const float *x, int64_t n, int64_t d, int64_t dim, uint64_t seed)
{
    fm_pca_options po;
    memset(&po, 0, sizeof po);
    po.n_components = dim;
    po.solver = FM_PCA_AUTO;
    po.seed = seed;
    po.n_oversamples = 10;
    po.n_iter = -1;
    fm_pca_model m;
    fm_mat z = {0, 0, NULL};
    memset(&m, 0, sizeof m);
    fm_status st = fm_pca_fit(&m, &z, x, n, d, &po);
    if (st != FM_STATUS_OK) return st;
    memcpy(emb, z.data, sizeof(float) * (size_t)(n * dim));
    fm_mat_free(&z);
    fm_pca_model_free(&m);
    return FM_STATUS_OK;
}

/* data-space distance of every graph entry: max of d(i→j) and d(j→i) where present (umap-learn's
 * dmat.maximum(dmat.T)) */
static void edge_dists(float *ed, const fm_umap_graph *g, const int32_t *idx, const float *dist, int64_t k)
{
    #pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < g->n; i++)
        for (int64_t e = g->rowptr[i]; e < g->rowptr[i + 1]; e++) {
            int32_t j = g->col[e];
            float v = 0.0f;
            for (int64_t c = 0; c < k; c++) if (idx[i * k + c] == j) { v = dist[i * k + c]; break; }
            for (int64_t c = 0; c < k; c++) if (idx[(int64_t)j * k + c] == i) { v = fmaxf(v, dist[(int64_t)j * k + c]); break; }
            ed[e] = v;
        }
}

fm_status fm_umap_fit(fm_umap_result *res, const float *x, int64_t n, int64_t d, const fm_umap_options *o,
                      char *err)
{
    memset(res, 0, sizeof *res);
    int64_t k = o->n_neighbors, dim = o->n_components;
    if (n < 2 || k < 2 || k > n - 1 + 1 || dim < 1 || dim > n - 1) {
        set_err(err, "sizes out of range");
        return FM_STATUS_ARG;
    }
    if (k > n) k = n;
    double t0 = wall();
    fm_status st = FM_STATUS_NOMEM;
    int32_t *idx = fm_alloc((size_t)(n * k), sizeof(int32_t)), *comp = NULL;
    float *dist = fm_alloc((size_t)(n * k), sizeof(float));
    float *sigma = fm_alloc((size_t)n, sizeof(float)), *rho = fm_alloc((size_t)n, sizeof(float));
    float *val = fm_alloc((size_t)(n * k), sizeof(float));
    float *R = NULL, *musum = NULL, *ed = NULL;
    fm_umap_graph G = {0}, Gp = {0};
    if (!idx || !dist || !sigma || !rho || !val) goto fail;

    /* 1. neighbours */
    int method = o->knn_method;
    if (method == FM_UMAP_KNN_AUTO) method = n < 20000 ? FM_UMAP_KNN_EXACT : FM_UMAP_KNN_NNDESCENT;
    res->knn_method_used = method;
    if ((st = knn_with_self(idx, dist, x, n, d, k, o->metric, method, o->seed, o->verbose)) != FM_STATUS_OK) {
        set_err(err, "the nearest-neighbour search failed");
        goto fail;
    }
    say(o, t0, "%s %lld-NN graph of %lld points", method == FM_UMAP_KNN_EXACT ? "exact" : "NN-descent",
        (long long)k, (long long)n);
    if (o->mutual) {
        int32_t *mi = fm_alloc((size_t)(n * k), sizeof(int32_t));
        float *md = fm_alloc((size_t)(n * k), sizeof(float));
        if (!mi || !md) { fm_free(mi); fm_free(md); st = FM_STATUS_NOMEM; goto fail; }
        st = fm_umap_mutual_knn(mi, md, idx, dist, n, k, o->connectivity, &res->n_isolated);
        if (st == FM_STATUS_OK) {
            memcpy(idx, mi, sizeof(int32_t) * (size_t)(n * k));
            memcpy(dist, md, sizeof(float) * (size_t)(n * k));
        }
        fm_free(mi);
        fm_free(md);
        if (st != FM_STATUS_OK) goto fail;
        say(o, t0, "mutual-kNN graph: %lld isolated points, reconnected by %s", (long long)res->n_isolated,
            o->connectivity == FM_UMAP_CONNECT_NEAREST ? "their nearest neighbour" : "minimum-spanning-tree edges");
    }

    /* 2. fuzzy simplicial set */
    if ((st = fm_umap_smooth_knn_dist(sigma, rho, dist, n, k, (double)o->n_neighbors, o->local_connectivity, 1.0)) != FM_STATUS_OK)
        goto fail;
    fm_umap_membership(val, idx, dist, sigma, rho, n, k, 1);
    if ((st = fm_umap_fuzzy_union(&G, idx, val, n, k, o->set_op_mix_ratio)) != FM_STATUS_OK) goto fail;
    say(o, t0, "fuzzy simplicial set: %lld edges", (long long)G.nnz);

    /* 3. epochs and pruning */
    int default_epochs = (n <= 10000 ? 500 : 200) + (o->densmap ? 200 : 0);
    int N = o->n_epochs > 0 ? o->n_epochs : default_epochs;
    float gmax = 0.0f;
    for (int64_t e = 0; e < G.nnz; e++) gmax = fmaxf(gmax, G.val[e]);
    float thr = gmax / (float)(N > 10 ? N : default_epochs);
    if ((st = fm_umap_prune(&Gp, &G, thr)) != FM_STATUS_OK) goto fail;
    fm_umap_graph_free(&G);
    res->n_epochs = N;
    res->n_edges = Gp.nnz;

    /* 4. a, b */
    if (isnan(o->a) || isnan(o->b)) {
        if ((st = fm_umap_find_ab(&res->a, &res->b, o->spread, o->min_dist)) != FM_STATUS_OK) {
            set_err(err, "fitting a and b to min_dist and spread failed");
            goto fail;
        }
    } else {
        res->a = o->a;
        res->b = o->b;
    }

    /* 5. densMAP's radii in the data */
    if (o->densmap || o->output_dens) {
        ed = fm_alloc((size_t)(Gp.nnz > 0 ? Gp.nnz : 1), sizeof(float));
        R = fm_alloc((size_t)n, sizeof(float));
        musum = fm_alloc((size_t)n, sizeof(float));
        if (!ed || !R || !musum) { st = FM_STATUS_NOMEM; goto fail; }
        edge_dists(ed, &Gp, idx, dist, k);
        fm_umap_local_radii(R, &Gp, ed, NULL, dim, 0, 0);
        if (o->output_dens) {
            if (!(res->rad_orig = fm_alloc((size_t)n, sizeof(float)))) { st = FM_STATUS_NOMEM; goto fail; }
            memcpy(res->rad_orig, R, sizeof(float) * (size_t)n);
        }
        double s = 0.0, s2 = 0.0;
        for (int64_t i = 0; i < n; i++) s += R[i];
        double mean = s / n;
        for (int64_t i = 0; i < n; i++) s2 += ((double)R[i] - mean) * ((double)R[i] - mean);
        double sd = sqrt(s2 / n);
        for (int64_t i = 0; i < n; i++) {
            R[i] = (float)(sd > 0 ? ((double)R[i] - mean) / sd : 0.0);
            double ms = 0.0;
            for (int64_t e = Gp.rowptr[i]; e < Gp.rowptr[i + 1]; e++) ms += Gp.val[e];
            musum[i] = (float)(2.0 * ms);
        }
    }
    fm_free(idx); idx = NULL;
    fm_free(dist); dist = NULL;

    /* 6. initial layout */
    if ((st = fm_mat_init(&res->embedding, n, dim)) != FM_STATUS_OK) goto fail;
    float *emb = res->embedding.data;
    int init = o->init;
    comp = fm_alloc((size_t)n, sizeof(int32_t));
    if (!comp) { st = FM_STATUS_NOMEM; goto fail; }
    fm_umap_components(comp, &res->n_graph_components, &Gp);
    if (init == FM_UMAP_INIT_SPECTRAL) {
        if (res->n_graph_components > 1 || n < dim + 2) {
            say(o, t0, "graph has %lld connected components: PCA initialisation instead of spectral",
                (long long)res->n_graph_components);
            init = FM_UMAP_INIT_PCA;
        } else {
            st = fm_umap_spectral_init(emb, &res->spectral_converged, &Gp, dim, o->seed, 0, o->verbose);
            if (st == FM_STATUS_NOMEM) goto fail;
            if (st != FM_STATUS_OK || !res->spectral_converged) {
                say(o, t0, "spectral initialisation did not converge: PCA initialisation instead");
                init = FM_UMAP_INIT_PCA;
            } else {
                say(o, t0, "spectral initialisation");
            }
        }
    }
    if (init == FM_UMAP_INIT_PCA) {
        if ((st = pca_init(emb, x, n, d, dim, o->seed)) != FM_STATUS_OK) {
            say(o, t0, "PCA initialisation failed: random initialisation instead");
            init = FM_UMAP_INIT_RANDOM;
        } else {
            say(o, t0, "PCA initialisation");
        }
    }
    if (init == FM_UMAP_INIT_RANDOM) {
        fm_rng_fill(emb, n * dim, o->seed, 0x4a4d000000ull, 0);
        for (int64_t e = 0; e < n * dim; e++) emb[e] = 20.0f * emb[e] - 10.0f;
    }
    res->init_used = init;
    if ((st = fm_umap_scale_init(emb, n, dim, o->seed)) != FM_STATUS_OK) goto fail;

    /* 7. SGD */
    fm_umap_sgd_options so;
    memset(&so, 0, sizeof so);
    so.n_epochs = N;
    so.a = res->a;
    so.b = res->b;
    so.gamma = o->repulsion_strength;
    so.initial_alpha = o->learning_rate;
    so.negative_sample_rate = o->negative_sample_rate;
    so.seed = o->seed;
    so.verbose = o->verbose;
    so.densmap = o->densmap;
    so.dens_lambda = o->dens_lambda;
    so.dens_frac = o->dens_frac;
    so.dens_var_shift = o->dens_var_shift;
    so.dens_R = R;
    so.dens_mu_sum = musum;
    say(o, t0, "SGD: %d epochs over %lld edges, a = %.4f, b = %.4f", N, (long long)Gp.nnz, res->a, res->b);
    if ((st = fm_umap_optimize(emb, NULL, n, n, dim, Gp.rowptr, Gp.col, Gp.val, &so)) != FM_STATUS_OK) goto fail;
    if (fm_has_nonfinite(emb, n * dim)) {
        set_err(err, "the layout diverged (NaN or Inf)");
        st = FM_STATUS_NUMERIC;
        goto fail;
    }
    if (o->output_dens) {
        if (!(res->rad_emb = fm_alloc((size_t)n, sizeof(float)))) { st = FM_STATUS_NOMEM; goto fail; }
        fm_umap_local_radii(res->rad_emb, &Gp, NULL, emb, dim, res->a, res->b);
    }
    say(o, t0, "done");
    fm_umap_graph_free(&Gp);
    fm_free(comp); fm_free(sigma); fm_free(rho); fm_free(val); fm_free(R); fm_free(musum); fm_free(ed);
    return FM_STATUS_OK;
fail:
    fm_umap_graph_free(&G);
    fm_umap_graph_free(&Gp);
    fm_free(idx); fm_free(dist); fm_free(comp); fm_free(sigma); fm_free(rho); fm_free(val);
    fm_free(R); fm_free(musum); fm_free(ed);
    fm_umap_result_free(res);
    return st;
}

fm_status fm_umap_transform(float *out, const float *x, const float *emb, const float *q, int64_t n,
                            int64_t m, int64_t d, int64_t dim, const fm_umap_options *o)
{
    int64_t k = o->n_neighbors < n ? o->n_neighbors : n;
    if (m == 0) return FM_STATUS_OK;
    fm_status st = FM_STATUS_NOMEM;
    int32_t *idx = fm_alloc((size_t)(m * k), sizeof(int32_t));
    float *dist = fm_alloc((size_t)(m * k), sizeof(float)), *val = fm_alloc((size_t)(m * k), sizeof(float));
    float *sigma = fm_alloc((size_t)m, sizeof(float)), *rho = fm_alloc((size_t)m, sizeof(float));
    int64_t *rowptr = fm_alloc((size_t)m + 1, sizeof(int64_t));
    double t0 = wall();
    if (!idx || !dist || !val || !sigma || !rho || !rowptr) goto done;
    if ((st = fm_knn_exact(idx, dist, x, n, q, m, d, k, o->metric, 0)) != FM_STATUS_OK) goto done;
    say(o, t0, "transform: %lld-NN of %lld new points", (long long)k, (long long)m);
    double lc = o->local_connectivity - 1.0;
    if (lc < 0) lc = 0;
    fm_umap_smooth_knn_dist(sigma, rho, dist, m, k, (double)o->n_neighbors, lc, 1.0);
    fm_umap_membership(val, idx, dist, sigma, rho, m, k, 0);
    fm_umap_init_transform(out, idx, val, emb, m, k, dim);
    int N = o->n_epochs > 0 ? o->n_epochs / 3 : (m <= 10000 ? 100 : 30);
    float vmax = 0.0f;
    for (int64_t e = 0; e < m * k; e++) vmax = fmaxf(vmax, val[e]);
    if (N > 0) {
        float thr = vmax / (float)N;
        for (int64_t e = 0; e < m * k; e++) if (val[e] < thr) val[e] = 0.0f;
    }
    for (int64_t i = 0; i <= m; i++) rowptr[i] = i * k;
    fm_umap_sgd_options so;
    memset(&so, 0, sizeof so);
    so.n_epochs = N;
    so.a = o->a;
    so.b = o->b;
    so.gamma = o->repulsion_strength;
    so.initial_alpha = o->learning_rate / 4.0;
    so.negative_sample_rate = o->negative_sample_rate;
    so.seed = o->seed;
    so.verbose = o->verbose;
    st = fm_umap_optimize(out, emb, m, n, dim, rowptr, idx, val, &so);
    if (st == FM_STATUS_OK && fm_has_nonfinite(out, m * dim)) st = FM_STATUS_NUMERIC;
    say(o, t0, "transform done");
done:
    fm_free(idx); fm_free(dist); fm_free(val); fm_free(sigma); fm_free(rho); fm_free(rowptr);
    return st;
}
