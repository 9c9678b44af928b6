/* l_hdbscan.c — Lua binding of hdbscan.c (and kdtree.c).
 *
 * core.hdbscan_fit(X, min_cluster_size, min_samples, method, allow_single_cluster, epsilon,
 *                  max_cluster_size, algorithm) → a model userdata ("fmclust.hdbscan_model") that
 * keeps the fitted state in C (data copy, kd-tree, core distances, condensed tree, selection) so
 * results, re-selection and prediction need no recomputation. Its methods return fresh Lua values.
 *
 * The stage functions (hdbscan_core_distances, hdbscan_mst, hdbscan_linkage, hdbscan_condense,
 * hdbscan_stability, hdbscan_select, hdbscan_label) work on plain Lua tables with hdbscan's 0-based
 * ids, so each stage can be tested, or reused, on its own.
 *
 * Every argument is checked before the core runs; the core returns a status and we raise after.
 */
#include "lfm.h"
#include "hdbscan.h"
#include "ward.h"
#include "knn.h"

#include <math.h>
#include <omp.h>
#include <string.h>

#define MODEL_MT "fmclust.hdbscan_model"

typedef struct {
    int64_t n, d, min_samples, mcs;
    int live;
    float *x;
    fm_kdtree kt;
    int has_kt;
    double *core;
    fm_hdbscan_tree tree;
    double *stab_raw, *stab;
    uint8_t *selected;
    int32_t *labels;
    double *prob;
    int64_t *cluster_of_label;
    int64_t k;
    int allow_single;
    double eps;
    double t_core, t_mst;   /* wall seconds of the core distances and of the spanning tree */
} hdb_model;

static void model_release(hdb_model *m)
{
    fm_free(m->x);
    if (m->has_kt) fm_kdtree_free(&m->kt);
    fm_free(m->core);
    fm_hdbscan_tree_free(&m->tree);
    fm_free(m->stab_raw);
    fm_free(m->stab);
    fm_free(m->selected);
    fm_free(m->labels);
    fm_free(m->prob);
    fm_free(m->cluster_of_label);
    memset(m, 0, sizeof *m);
}

static int model_gc(lua_State *L)
{
    hdb_model *m = luaL_checkudata(L, 1, MODEL_MT);
    model_release(m);
    return 0;
}

static hdb_model *check_model(lua_State *L, int idx)
{
    hdb_model *m = luaL_checkudata(L, idx, MODEL_MT);
    if (!m->live) luaL_argerror(L, idx, "the HDBSCAN model is closed");
    return m;
}

static const char *const methods[] = {"eom", "leaf", NULL};
static const char *const algos[] = {"best", "boruvka_kdtree", "boruvka_exact", "prims", NULL};

/* Bounds for Prim and the exact core distances in high dimensions (hdbscan.h): q coordinates
 * for the per-point bound (principal axes + the residual norm), q2 for the finer one tried before
 * a full distance (0 = none), leaves of BOUND_LEAF points. Chosen by measurement on Fashion-MNIST
 * (70,000 × 784 and PCA-80): more axes spare exact distances but cost in every bound. 0 = no bounds
 * (few dimensions: the bound would cost as much as the distance). */
#define BOUND_LEAF 128
static void bound_sizes(int64_t d, int64_t *q, int64_t *q2)
{
    *q = d >= 64 ? 25 : d >= 16 ? d / 2 + 1 : 0;
    *q2 = d >= 512 ? 257 : 0;
}

/* b for x (n×d), or nothing (*has = 0) when bounds do not pay or the scale is out of float range */
static fm_status bounds_for(fm_hdbscan_bounds *b, int *has, const float *x, int64_t n, int64_t d)
{
    int64_t q, q2;
    bound_sizes(d, &q, &q2);
    *has = 0;
    if (q == 0 || n < 2) return FM_STATUS_OK;
    fm_status s = fm_hdbscan_bounds_build(b, x, n, d, q, q2, BOUND_LEAF);
    if (s == FM_STATUS_NUMERIC) return FM_STATUS_OK;   /* ‖x − μ‖ ≥ 1e15: plain Prim */
    *has = s == FM_STATUS_OK;
    return s;
}

/* selection + labels + probabilities on a fitted model (fit and reselect) */
static fm_status model_select(hdb_model *m, int method, int allow_single, double eps, int64_t max_cs)
{
    int64_t nc = m->tree.n_clusters;
    memcpy(m->stab, m->stab_raw, (size_t)nc * sizeof(double));
    m->allow_single = allow_single;
    m->eps = eps;
    fm_status s = fm_hdbscan_select(m->selected, m->stab, &m->tree, method, allow_single, eps, max_cs);
    if (s != FM_STATUS_OK) return s;
    return fm_hdbscan_label(m->labels, m->prob, m->cluster_of_label, &m->k, &m->tree, m->selected, allow_single,
                            eps);
}

/* core.hdbscan_fit(X, mcs, ms, method, allow_single, eps, max_cluster_size, algorithm) → model */
/* X as a Lua table of rows of numbers, kept in double (for reference data given in decimal) */
static double *table_rows(lua_State *L, int idx, int64_t *pn, int64_t *pd)
{
    int64_t n = (int64_t)luaL_len(L, idx), d = 0;
    if (n < 1) luaL_argerror(L, idx, "matrix is empty");
    lua_geti(L, idx, 1);
    if (lua_istable(L, -1)) d = (int64_t)luaL_len(L, -1);
    lua_pop(L, 1);
    if (d < 1) luaL_argerror(L, idx, "rows must be tables of numbers");
    double *x = lua_newuserdatauv(L, (size_t)(n * d) * sizeof(double), 0);   /* freed by the GC */
    for (int64_t i = 0; i < n; i++) {
        lua_geti(L, idx, i + 1);
        if (!lua_istable(L, -1) || (int64_t)luaL_len(L, -1) != d) luaL_argerror(L, idx, "rows must have equal length");
        for (int64_t j = 0; j < d; j++) {
            lua_geti(L, -1, j + 1);
            int ok;
            x[i * d + j] = lua_tonumberx(L, -1, &ok);
            if (!ok || !isfinite(x[i * d + j])) luaL_argerror(L, idx, "entries must be finite numbers");
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
    lua_replace(L, idx);   /* the userdata stands in for the table (keeps it alive) */
    *pn = n;
    *pd = d;
    return x;
}

static int l_fit(lua_State *L)
{
    lfm_matrix *X = NULL;
    double *x64 = NULL;
    int64_t n, d;
    if (lua_istable(L, 1)) x64 = table_rows(L, 1, &n, &d);
    else {
        X = lfm_checkmatrix(L, 1);
        n = X->m.n;
        d = X->m.d;
    }
    lua_Integer mcs = luaL_checkinteger(L, 2);
    lua_Integer ms = luaL_checkinteger(L, 3);
    int method = luaL_checkoption(L, 4, "eom", methods);
    int allow_single = lua_toboolean(L, 5);
    lua_Number eps = luaL_optnumber(L, 6, 0);
    lua_Integer max_cs = luaL_optinteger(L, 7, 0);
    int algo = luaL_checkoption(L, 8, "best", algos);
    if (n < 1 || d < 1) return luaL_argerror(L, 1, "matrix is empty");
    if (n > INT32_MAX) return luaL_argerror(L, 1, "too many rows");
    if (X && fm_has_nonfinite(X->m.data, n * d)) return luaL_argerror(L, 1, "matrix contains NaN or Inf");
    luaL_argcheck(L, mcs >= 2, 2, "min_cluster_size must be ≥ 2");
    luaL_argcheck(L, ms >= 1, 3, "min_samples must be ≥ 1");
    luaL_argcheck(L, eps >= 0 && isfinite(eps), 6, "cluster_selection_epsilon must be a finite number ≥ 0");
    /* hdbscan: min_samples = min(n − 1, min_samples), at least 1 */
    if (ms > n - 1) ms = n - 1;
    if (ms < 1) ms = 1;
    if (algo == 0) algo = d <= FM_HDBSCAN_KDTREE_MAX_D ? 1 : 3;

    hdb_model *m = lua_newuserdatauv(L, sizeof(hdb_model), 0);
    memset(m, 0, sizeof *m);
    luaL_setmetatable(L, MODEL_MT);
    m->n = n;
    m->d = d;
    m->min_samples = ms;
    m->mcs = mcs;
    m->live = 1;
    fm_status s = FM_STATUS_NOMEM;
    int64_t *ea = NULL, *eb = NULL;
    double *w = NULL, *z = NULL;
    fm_hdbscan_bounds bnd;
    int has_b = 0;
    memset(&bnd, 0, sizeof bnd);
    m->x = fm_alloc((size_t)(n * d), sizeof(float));
    m->core = fm_alloc((size_t)n, sizeof(double));
    m->labels = fm_alloc((size_t)n, sizeof(int32_t));
    m->prob = fm_alloc((size_t)n, sizeof(double));
    ea = fm_alloc((size_t)n, sizeof(int64_t));
    eb = fm_alloc((size_t)n, sizeof(int64_t));
    w = fm_alloc((size_t)n, sizeof(double));
    z = fm_alloc((size_t)(4 * n), sizeof(double));
    if (!m->x || !m->core || !m->labels || !m->prob || !ea || !eb || !w || !z) goto fail;
    if (X) memcpy(m->x, X->m.data, (size_t)(n * d) * sizeof(float));
    else for (int64_t i = 0; i < n * d; i++) m->x[i] = (float)x64[i];
    if (n > 1) {
        double t0 = omp_get_wtime();
        if (d <= FM_HDBSCAN_KDTREE_MAX_D) {
            s = x64 ? fm_kdtree_build_f64(&m->kt, x64, n, d, FM_HDBSCAN_LEAF) : fm_kdtree_build(&m->kt, m->x, n, d, FM_HDBSCAN_LEAF);
            if (s != FM_STATUS_OK) goto fail;
            m->has_kt = 1;
            s = fm_hdbscan_core_kdtree(m->core, &m->kt, ms);
        } else {
            /* exact core distances through the bounds (the same bits as the GEMM kNN) */
            s = bounds_for(&bnd, &has_b, m->x, n, d);
            if (s == FM_STATUS_OK)
                s = has_b ? fm_hdbscan_core_bounded(m->core, &bnd, m->x, d, ms) : fm_hdbscan_core_brute(m->core, m->x, n, d, ms);
        }
        if (s != FM_STATUS_OK) goto fail;
        double t1 = omp_get_wtime();
        m->t_core = t1 - t0;
        if (algo == 1 || algo == 2) {
            if (!m->has_kt) {   /* Borůvka asked for in high dimensions: build the tree anyway */
                s = x64 ? fm_kdtree_build_f64(&m->kt, x64, n, d, FM_HDBSCAN_LEAF) : fm_kdtree_build(&m->kt, m->x, n, d, FM_HDBSCAN_LEAF);
                if (s != FM_STATUS_OK) goto fail;
                m->has_kt = 1;
                s = fm_hdbscan_core_kdtree(m->core, &m->kt, ms);
                if (s != FM_STATUS_OK) goto fail;
            }
            s = fm_hdbscan_mst_boruvka(ea, eb, w, &m->kt, m->core, algo == 1);
        } else {
            if (!has_b && (s = bounds_for(&bnd, &has_b, m->x, n, d)) != FM_STATUS_OK) goto fail;
            s = fm_hdbscan_mst_prim(ea, eb, w, m->x, m->core, has_b ? &bnd : NULL, n, d, 0);
        }
        fm_hdbscan_bounds_free(&bnd);
        has_b = 0;
        m->t_mst = omp_get_wtime() - t1;
        if (s != FM_STATUS_OK) goto fail;
        s = fm_hdbscan_sort_edges(ea, eb, w, n - 1);
        if (s == FM_STATUS_OK) s = fm_linkage_from_mst(z, ea, eb, w, n);
        if (s != FM_STATUS_OK) goto fail;
    }
    s = fm_hdbscan_condense(&m->tree, z, n, mcs);
    if (s != FM_STATUS_OK) goto fail;
    int64_t nc = m->tree.n_clusters;
    s = FM_STATUS_NOMEM;
    m->stab_raw = fm_alloc((size_t)nc, sizeof(double));
    m->stab = fm_alloc((size_t)nc, sizeof(double));
    m->selected = fm_alloc((size_t)nc, 1);
    m->cluster_of_label = fm_alloc((size_t)nc, sizeof(int64_t));
    if (!m->stab_raw || !m->stab || !m->selected || !m->cluster_of_label) goto fail;
    s = fm_hdbscan_stability(m->stab_raw, &m->tree);
    if (s != FM_STATUS_OK) goto fail;
    s = model_select(m, method, allow_single, eps, max_cs);
    if (s != FM_STATUS_OK) goto fail;
    fm_free(ea);
    fm_free(eb);
    fm_free(w);
    fm_free(z);
    return 1;
fail:
    fm_hdbscan_bounds_free(&bnd);
    fm_free(ea);
    fm_free(eb);
    fm_free(w);
    fm_free(z);
    model_release(m);
    return lfm_status_error(L, s, "hdbscan", NULL);
}

/* m:reselect(method, allow_single, eps, max_cluster_size): a new flat clustering from the same tree */
static int m_reselect(lua_State *L)
{
    hdb_model *m = check_model(L, 1);
    int method = luaL_checkoption(L, 2, "eom", methods);
    int allow_single = lua_toboolean(L, 3);
    lua_Number eps = luaL_optnumber(L, 4, 0);
    lua_Integer max_cs = luaL_optinteger(L, 5, 0);
    luaL_argcheck(L, eps >= 0 && isfinite(eps), 4, "cluster_selection_epsilon must be a finite number ≥ 0");
    fm_status s = model_select(m, method, allow_single, eps, max_cs);
    if (s != FM_STATUS_OK) return lfm_status_error(L, s, "hdbscan", NULL);
    return 0;
}

static void push_vec(lua_State *L, const double *v, int64_t n)
{
    lfm_matrix *out = lfm_newmatrix(L, n, 1);
    for (int64_t i = 0; i < n; i++) out->m.data[i] = (float)v[i];
}

static int m_labels(lua_State *L)
{
    hdb_model *m = check_model(L, 1);
    lfm_labels *y = lfm_newlabels(L, m->n);
    memcpy(y->data, m->labels, (size_t)m->n * sizeof(int32_t));
    return 1;
}

static int m_probabilities(lua_State *L)
{
    hdb_model *m = check_model(L, 1);
    push_vec(L, m->prob, m->n);
    return 1;
}

static int m_core_distances(lua_State *L)
{
    hdb_model *m = check_model(L, 1);
    push_vec(L, m->core, m->n);
    return 1;
}

static int m_n_clusters(lua_State *L)
{
    hdb_model *m = check_model(L, 1);
    lua_pushinteger(L, m->k);
    return 1;
}

static int m_outlier_scores(lua_State *L)
{
    hdb_model *m = check_model(L, 1);
    lfm_matrix *out = lfm_newmatrix(L, m->n, 1);   /* first: it may raise */
    double *sc = fm_alloc((size_t)m->n, sizeof(double));
    fm_status s = sc ? fm_hdbscan_glosh(sc, &m->tree) : FM_STATUS_NOMEM;
    if (s == FM_STATUS_OK)
        for (int64_t i = 0; i < m->n; i++) out->m.data[i] = (float)sc[i];
    fm_free(sc);
    if (s != FM_STATUS_OK) return lfm_status_error(L, s, "outlier_scores", NULL);
    return 1;
}

static int m_persistence(lua_State *L)
{
    hdb_model *m = check_model(L, 1);
    lua_createtable(L, (int)m->k, 0);
    if (m->k == 0) return 1;
    double *p = fm_alloc((size_t)m->k, sizeof(double));
    if (!p) return lfm_status_error(L, FM_STATUS_NOMEM, "persistence", NULL);
    fm_status s = fm_hdbscan_persistence(p, m->labels, m->cluster_of_label, m->k, m->stab, &m->tree);
    for (int64_t l = 0; l < m->k && s == FM_STATUS_OK; l++) {
        lua_pushnumber(L, p[l]);
        lua_rawseti(L, -2, l + 1);
    }
    fm_free(p);
    if (s != FM_STATUS_OK) return lfm_status_error(L, s, "persistence", NULL);
    return 1;
}

/* m:condensed_tree() → rows×4 matrix (parent, child, lambda_val, child_size), hdbscan's 0-based ids */
static int m_condensed_matrix(lua_State *L)
{
    hdb_model *m = check_model(L, 1);
    const fm_hdbscan_tree *t = &m->tree;
    lfm_matrix *out = lfm_newmatrix(L, t->rows, 4);
    for (int64_t r = 0; r < t->rows; r++) {
        float *o = out->m.data + r * 4;
        o[0] = (float)t->parent[r];
        o[1] = (float)t->child[r];
        o[2] = (float)t->lambda[r];
        o[3] = (float)t->size[r];
    }
    return 1;
}

static void push_tree_table(lua_State *L, const fm_hdbscan_tree *t)
{
    lua_createtable(L, 0, 4);
    const char *names[] = {"parent", "child", "lambda_val", "child_size"};
    for (int f = 0; f < 4; f++) {
        lua_createtable(L, (int)t->rows, 0);
        for (int64_t r = 0; r < t->rows; r++) {
            if (f == 0) lua_pushinteger(L, t->parent[r]);
            else if (f == 1) lua_pushinteger(L, t->child[r]);
            else if (f == 2) lua_pushnumber(L, t->lambda[r]);
            else lua_pushinteger(L, t->size[r]);
            lua_rawseti(L, -2, r + 1);
        }
        lua_setfield(L, -2, names[f]);
    }
}

/* m:condensed_tree_table() → {parent, child, lambda_val, child_size} (Lua arrays, doubles) */
static int m_condensed_table(lua_State *L)
{
    hdb_model *m = check_model(L, 1);
    push_tree_table(L, &m->tree);
    return 1;
}

/* m:selected_clusters() → sorted tree ids of the flat clustering's clusters */
static int m_selected(lua_State *L)
{
    hdb_model *m = check_model(L, 1);
    lua_createtable(L, (int)m->k, 0);
    for (int64_t l = 0; l < m->k; l++) {
        lua_pushinteger(L, m->cluster_of_label[l]);
        lua_rawseti(L, -2, l + 1);
    }
    return 1;
}

/* m:predict(Xnew) → labels, probabilities (m×1 matrix) — hdbscan's approximate_predict */
static int m_predict(lua_State *L)
{
    hdb_model *m = check_model(L, 1);
    lfm_matrix *Q = lfm_checkmatrix(L, 2);
    int64_t q = Q->m.n;
    if (Q->m.d != m->d) {
        const char *msg = lua_pushfstring(L, "matrix has %I columns, the model was fitted on %I",
                                          (lua_Integer)Q->m.d, (lua_Integer)m->d);
        return luaL_argerror(L, 2, msg);
    }
    if (fm_has_nonfinite(Q->m.data, q * Q->m.d)) return luaL_argerror(L, 2, "matrix contains NaN or Inf");
    lfm_labels *y = lfm_newlabels(L, q);
    lfm_matrix *pm = lfm_newmatrix(L, q, 1);
    if (q == 0) return 2;
    int64_t kq = 2 * m->min_samples;
    if (kq > m->n) kq = m->n;
    int32_t *idx = fm_alloc((size_t)(q * kq), sizeof(int32_t));
    double *dist = fm_alloc((size_t)(q * kq), sizeof(double));
    double *prob = fm_alloc((size_t)q, sizeof(double));
    fm_status s = FM_STATUS_NOMEM;
    if (!idx || !dist || !prob) goto done;
    if (m->has_kt) {
        double *qd = fm_alloc((size_t)(q * m->d), sizeof(double));
        if (!qd) goto done;
        for (int64_t i = 0; i < q * m->d; i++) qd[i] = Q->m.data[i];
        s = fm_kdtree_knn(idx, dist, &m->kt, qd, q, kq);
        fm_free(qd);
        if (s == FM_STATUS_OK)
            for (int64_t i = 0; i < q * kq; i++) dist[i] = sqrt(dist[i]);
    } else {
        float *df = fm_alloc((size_t)(q * kq), sizeof(float));
        if (!df) goto done;
        s = fm_knn_exact(idx, df, m->x, m->n, Q->m.data, q, m->d, kq, FM_KNN_EUCLIDEAN, 0);
        if (s == FM_STATUS_OK)   /* exact distances in double, as the fit used */
            for (int64_t i = 0; i < q; i++)
                for (int64_t t = 0; t < kq; t++) {
                    const float *a = Q->m.data + i * m->d, *b = m->x + (int64_t)idx[i * kq + t] * m->d;
                    double r = 0;
                    for (int64_t j = 0; j < m->d; j++) {
                        double u = (double)a[j] - (double)b[j];
                        r += u * u;
                    }
                    dist[i * kq + t] = sqrt(r);
                }
        fm_free(df);
    }
    if (s != FM_STATUS_OK) goto done;
    s = fm_hdbscan_predict(y->data, prob, idx, dist, q, kq, m->core, m->min_samples, &m->tree, m->selected,
                           m->labels, m->k);
    for (int64_t i = 0; i < q; i++) pm->m.data[i] = (float)prob[i];
done:
    fm_free(idx);
    fm_free(dist);
    fm_free(prob);
    if (s != FM_STATUS_OK) return lfm_status_error(L, s, "approximate_predict", NULL);
    return 2;
}

/* m:assign_noise(labels) → labels where every −1 takes the label of the nearest labelled training
 * point (labels of the training rows, e.g. m:labels()) */
static int m_assign_noise(lua_State *L)
{
    hdb_model *m = check_model(L, 1);
    int64_t ny = 0;
    const int32_t *in = lfm_checklabelarg(L, 2, &ny);
    if (ny != m->n) {
        const char *msg = lua_pushfstring(L, "labels have %I entries, the model has %I rows", (lua_Integer)ny,
                                          (lua_Integer)m->n);
        return luaL_argerror(L, 2, msg);
    }
    lfm_labels *y = lfm_newlabels(L, m->n);
    memcpy(y->data, in, (size_t)m->n * sizeof(int32_t));
    fm_status s = fm_hdbscan_assign_noise(y->data, m->x, m->n, m->d);
    if (s != FM_STATUS_OK) return lfm_status_error(L, s, "assign_noise", NULL);
    return 1;
}

/* m:nearest_labelled(Xnew, labels) → for each new row, the label of the nearest training row whose
 * label is not −1 (used by approximate_predict with assign_noise) */
static int m_nearest_labelled(lua_State *L)
{
    hdb_model *m = check_model(L, 1);
    lfm_matrix *Q = lfm_checkmatrix(L, 2);
    int64_t q = Q->m.n, ny = 0;
    const int32_t *lab = lfm_checklabelarg(L, 3, &ny);
    luaL_argcheck(L, Q->m.d == m->d, 2, "column count differs from the fitted data");
    luaL_argcheck(L, ny == m->n, 3, "labels must have one entry per training row");
    lfm_labels *out = lfm_newlabels(L, q);   /* before our allocations: it may raise */
    /* stack the training rows and the queries (unlabelled), and reuse assign_noise */
    int64_t tot = m->n + q;
    float *x = fm_alloc((size_t)(tot * m->d), sizeof(float));
    int32_t *y = fm_alloc((size_t)tot, sizeof(int32_t));
    if (!x || !y) { fm_free(x); fm_free(y); return lfm_status_error(L, FM_STATUS_NOMEM, "assign_noise", NULL); }
    memcpy(x, m->x, (size_t)(m->n * m->d) * sizeof(float));
    memcpy(x + m->n * m->d, Q->m.data, (size_t)(q * m->d) * sizeof(float));
    /* training noise stays −1: not a source; it is assigned too, but only the queries are read */
    for (int64_t i = 0; i < m->n; i++) y[i] = lab[i] >= 0 ? lab[i] : -1;
    for (int64_t i = 0; i < q; i++) y[m->n + i] = -1;
    int64_t nl = 0;
    for (int64_t i = 0; i < m->n; i++) if (y[i] >= 0) nl++;
    fm_status s = FM_STATUS_OK;
    if (nl > 0) s = fm_hdbscan_assign_noise(y, x, tot, m->d);
    if (s == FM_STATUS_OK)
        for (int64_t i = 0; i < q; i++) out->data[i] = nl > 0 ? y[m->n + i] : -1;
    fm_free(x);
    fm_free(y);
    if (s != FM_STATUS_OK) return lfm_status_error(L, s, "assign_noise", NULL);
    return 1;
}

/* model:timings() → seconds of the core distances, seconds of the spanning tree */
static int m_timings(lua_State *L)
{
    hdb_model *m = check_model(L, 1);
    lua_pushnumber(L, m->t_core);
    lua_pushnumber(L, m->t_mst);
    return 2;
}

static int m_info(lua_State *L)
{
    hdb_model *m = check_model(L, 1);
    lua_pushinteger(L, m->n);
    lua_pushinteger(L, m->d);
    lua_pushinteger(L, m->min_samples);
    lua_pushinteger(L, m->tree.n_clusters);
    return 4;
}

/* ================================================================ stage functions on Lua tables */

static double *check_numbers(lua_State *L, int idx, const char *field, int64_t *len)
{
    if (field) {
        lua_getfield(L, idx, field);
        idx = -1;
    }
    if (!lua_istable(L, idx)) luaL_error(L, "table of numbers expected%s%s", field ? " in field " : "",
                                         field ? field : "");
    int64_t n = (int64_t)luaL_len(L, idx);
    double *v = fm_alloc((size_t)(n > 0 ? n : 1), sizeof(double));
    if (!v) luaL_error(L, "out of memory");
    for (int64_t i = 0; i < n; i++) {
        lua_geti(L, idx, i + 1);
        int ok;
        v[i] = lua_tonumberx(L, -1, &ok);
        lua_pop(L, 1);
        if (!ok) { fm_free(v); luaL_error(L, "entry %d of %s is not a number", (int)(i + 1), field ? field : "table"); }
    }
    if (field) lua_pop(L, 1);
    *len = n;
    return v;
}

/* a condensed tree from {parent, child, lambda_val, child_size} (0-based ids, root = n) */
static void check_tree(lua_State *L, int idx, fm_hdbscan_tree *t)
{
    luaL_checktype(L, idx, LUA_TTABLE);
    int64_t r0, r1, r2, r3;
    double *p = check_numbers(L, idx, "parent", &r0);
    double *c = check_numbers(L, idx, "child", &r1);
    double *l = check_numbers(L, idx, "lambda_val", &r2);
    double *s = check_numbers(L, idx, "child_size", &r3);
    memset(t, 0, sizeof *t);
    int bad = r0 < 1 || r0 != r1 || r0 != r2 || r0 != r3;
    int64_t root = INT64_MAX, maxid = 0;
    for (int64_t r = 0; r < r0 && !bad; r++) {
        if (p[r] < root) root = (int64_t)p[r];
        if (p[r] > maxid) maxid = (int64_t)p[r];
        if (c[r] > maxid) maxid = (int64_t)c[r];
    }
    if (!bad) {
        t->n = root;
        t->rows = r0;
        t->n_clusters = maxid - root + 1;
        t->parent = fm_alloc((size_t)r0, sizeof(int64_t));
        t->child = fm_alloc((size_t)r0, sizeof(int64_t));
        t->size = fm_alloc((size_t)r0, sizeof(int64_t));
        t->lambda = fm_alloc((size_t)r0, sizeof(double));
        if (t->parent && t->child && t->size && t->lambda)
            for (int64_t r = 0; r < r0; r++) {
                t->parent[r] = (int64_t)p[r];
                t->child[r] = (int64_t)c[r];
                t->size[r] = (int64_t)s[r];
                t->lambda[r] = l[r];
                if (t->parent[r] < root || t->child[r] < 0 || t->child[r] == root) bad = 1;
            }
        else bad = 2;
    }
    fm_free(p);
    fm_free(c);
    fm_free(l);
    fm_free(s);
    if (bad) {
        fm_hdbscan_tree_free(t);
        luaL_argerror(L, idx, bad == 2 ? "out of memory" : "not a condensed tree");
    }
}

/* core.hdbscan_core_distances(X, min_samples, method) → table (n); method "kdtree" (hdbscan's
 * Borůvka), "brute" (exact GEMM kNN) or "bounded" (exact, through the bounds) */
static const char *const core_methods[] = {"kdtree", "brute", "bounded", NULL};

static int l_core_distances(lua_State *L)
{
    lfm_matrix *X = lfm_checkmatrix(L, 1);
    int64_t n = X->m.n, d = X->m.d;
    lua_Integer ms = luaL_checkinteger(L, 2);
    int method = luaL_checkoption(L, 3, "kdtree", core_methods);
    luaL_argcheck(L, n >= 2 && d >= 1, 1, "matrix needs at least 2 rows");
    luaL_argcheck(L, ms >= 1 && ms <= n - 1, 2, "min_samples must be in 1..n−1");
    if (fm_has_nonfinite(X->m.data, n * d)) return luaL_argerror(L, 1, "matrix contains NaN or Inf");
    double *core = fm_alloc((size_t)n, sizeof(double));
    if (!core) return lfm_status_error(L, FM_STATUS_NOMEM, "core_distances", NULL);
    fm_status s;
    if (method == 1) {
        s = fm_hdbscan_core_brute(core, X->m.data, n, d, ms);
    } else if (method == 2) {
        fm_hdbscan_bounds b;
        int has = 0;
        s = bounds_for(&b, &has, X->m.data, n, d);
        if (s == FM_STATUS_OK) s = has ? fm_hdbscan_core_bounded(core, &b, X->m.data, d, ms) : fm_hdbscan_core_brute(core, X->m.data, n, d, ms);
        if (has) fm_hdbscan_bounds_free(&b);
    } else {
        fm_kdtree t;
        s = fm_kdtree_build(&t, X->m.data, n, d, 40);
        if (s == FM_STATUS_OK) {
            s = fm_hdbscan_core_kdtree(core, &t, ms);
            fm_kdtree_free(&t);
        }
    }
    if (s != FM_STATUS_OK) { fm_free(core); return lfm_status_error(L, s, "core_distances", NULL); }
    lua_createtable(L, (int)n, 0);
    for (int64_t i = 0; i < n; i++) {
        lua_pushnumber(L, core[i]);
        lua_rawseti(L, -2, i + 1);
    }
    fm_free(core);
    return 1;
}

/* core.hdbscan_bound_coords(X, q) → z (n rows of q numbers), tol (n): the bounding coordinates */
static int l_bound_coords(lua_State *L)
{
    lfm_matrix *X = lfm_checkmatrix(L, 1);
    int64_t n = X->m.n, d = X->m.d;
    lua_Integer q = luaL_checkinteger(L, 2);
    luaL_argcheck(L, n >= 2, 1, "matrix needs at least 2 rows");
    luaL_argcheck(L, q >= 2 && q <= d + 1, 2, "q must be in 2..columns + 1");
    if (fm_has_nonfinite(X->m.data, n * d)) return luaL_argerror(L, 1, "matrix contains NaN or Inf");
    float *z = fm_alloc((size_t)(n * q), sizeof(float)), *tol = fm_alloc((size_t)n, sizeof(float));
    fm_status s = z && tol ? fm_hdbscan_bound_coords(z, NULL, tol, X->m.data, n, d, q, 0) : FM_STATUS_NOMEM;
    if (s != FM_STATUS_OK) { fm_free(z); fm_free(tol); return lfm_status_error(L, s, "bound_coords", NULL); }
    lua_createtable(L, (int)n, 0);
    for (int64_t i = 0; i < n; i++) {
        lua_createtable(L, (int)q, 0);
        for (int64_t k = 0; k < q; k++) {
            lua_pushnumber(L, z[i * q + k]);
            lua_rawseti(L, -2, k + 1);
        }
        lua_rawseti(L, -2, i + 1);
    }
    lua_createtable(L, (int)n, 0);
    for (int64_t i = 0; i < n; i++) {
        lua_pushnumber(L, tol[i]);
        lua_rawseti(L, -2, i + 1);
    }
    fm_free(z);
    fm_free(tol);
    return 2;
}

/* core.hdbscan_mst(X, min_samples, algorithm, bounds, parallel_min) → {a = {}, b = {}, w = {}}
 * (0-based points); bounds (default true): Prim with the bounds (the same edges, only faster);
 * parallel_min: Prim steps scanning fewer points run on one thread (0 = the default) */
static int l_mst(lua_State *L)
{
    lfm_matrix *X = lfm_checkmatrix(L, 1);
    int64_t n = X->m.n, d = X->m.d;
    lua_Integer ms = luaL_checkinteger(L, 2);
    int algo = luaL_checkoption(L, 3, "best", algos);
    int use_bounds = lua_isnoneornil(L, 4) ? 1 : lua_toboolean(L, 4);
    lua_Integer par_min = luaL_optinteger(L, 5, 0);
    luaL_argcheck(L, n >= 2 && d >= 1, 1, "matrix needs at least 2 rows");
    luaL_argcheck(L, ms >= 1 && ms <= n - 1, 2, "min_samples must be in 1..n−1");
    if (algo == 0) algo = d <= FM_HDBSCAN_KDTREE_MAX_D ? 1 : 3;
    double *core = fm_alloc((size_t)n, sizeof(double)), *w = fm_alloc((size_t)n, sizeof(double));
    int64_t *ea = fm_alloc((size_t)n, sizeof(int64_t)), *eb = fm_alloc((size_t)n, sizeof(int64_t));
    fm_kdtree t;
    memset(&t, 0, sizeof t);
    fm_status s = FM_STATUS_NOMEM;
    if (!core || !w || !ea || !eb) goto done;
    s = fm_kdtree_build(&t, X->m.data, n, d, FM_HDBSCAN_LEAF);
    if (s == FM_STATUS_OK) s = fm_hdbscan_core_kdtree(core, &t, ms);
    if (s == FM_STATUS_OK) {
        if (algo == 3) {
            fm_hdbscan_bounds b;
            int has = 0;
            if (use_bounds) s = bounds_for(&b, &has, X->m.data, n, d);
            if (s == FM_STATUS_OK) s = fm_hdbscan_mst_prim(ea, eb, w, X->m.data, core, has ? &b : NULL, n, d, par_min);
            if (has) fm_hdbscan_bounds_free(&b);
        } else {
            s = fm_hdbscan_mst_boruvka(ea, eb, w, &t, core, algo == 1);
        }
    }
done:
    fm_kdtree_free(&t);
    fm_free(core);
    if (s != FM_STATUS_OK) {
        fm_free(w); fm_free(ea); fm_free(eb);
        return lfm_status_error(L, s, "hdbscan_mst", NULL);
    }
    lua_createtable(L, 0, 3);
    const char *f[] = {"a", "b", "w"};
    for (int k = 0; k < 3; k++) {
        lua_createtable(L, (int)(n - 1), 0);
        for (int64_t i = 0; i < n - 1; i++) {
            if (k == 0) lua_pushinteger(L, ea[i]);
            else if (k == 1) lua_pushinteger(L, eb[i]);
            else lua_pushnumber(L, w[i]);
            lua_rawseti(L, -2, i + 1);
        }
        lua_setfield(L, -2, f[k]);
    }
    fm_free(w); fm_free(ea); fm_free(eb);
    return 1;
}

/* core.hdbscan_linkage(edges {a, b, w}, n) → table of n−1 rows {left, right, distance, size} */
static int l_linkage(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_Integer n = luaL_checkinteger(L, 2);
    luaL_argcheck(L, n >= 2, 2, "n must be ≥ 2");
    int64_t la, lb, lw;
    double *a = check_numbers(L, 1, "a", &la), *b = check_numbers(L, 1, "b", &lb), *w = check_numbers(L, 1, "w", &lw);
    int64_t *ea = fm_alloc((size_t)n, sizeof(int64_t)), *eb = fm_alloc((size_t)n, sizeof(int64_t));
    double *z = fm_alloc((size_t)(4 * n), sizeof(double));
    fm_status s = FM_STATUS_NOMEM;
    if (ea && eb && z) {
        s = FM_STATUS_ARG;
        if (la == n - 1 && lb == n - 1 && lw == n - 1) {
            for (int64_t i = 0; i < n - 1; i++) { ea[i] = (int64_t)a[i]; eb[i] = (int64_t)b[i]; }
            s = fm_linkage_from_mst(z, ea, eb, w, n);
        }
    }
    fm_free(a); fm_free(b); fm_free(w); fm_free(ea); fm_free(eb);
    if (s != FM_STATUS_OK) { fm_free(z); return luaL_argerror(L, 1, "not a spanning tree of n points"); }
    lua_createtable(L, (int)(n - 1), 0);
    for (int64_t i = 0; i < n - 1; i++) {
        lua_createtable(L, 4, 0);
        for (int k = 0; k < 4; k++) {
            if (k == 2) lua_pushnumber(L, z[i * 4 + k]);
            else lua_pushinteger(L, (lua_Integer)z[i * 4 + k]);
            lua_rawseti(L, -2, k + 1);
        }
        lua_rawseti(L, -2, i + 1);
    }
    fm_free(z);
    return 1;
}

/* core.hdbscan_condense(Z rows, n, min_cluster_size) → condensed tree table */
static int l_condense(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_Integer n = luaL_checkinteger(L, 2);
    lua_Integer mcs = luaL_checkinteger(L, 3);
    luaL_argcheck(L, n >= 2 && luaL_len(L, 1) == n - 1, 1, "linkage must have n−1 rows");
    luaL_argcheck(L, mcs >= 2, 3, "min_cluster_size must be ≥ 2");
    double *z = fm_alloc((size_t)(4 * n), sizeof(double));
    if (!z) return lfm_status_error(L, FM_STATUS_NOMEM, "condense", NULL);
    for (int64_t i = 0; i < n - 1; i++) {
        lua_geti(L, 1, i + 1);
        for (int k = 0; k < 4; k++) {
            lua_geti(L, -1, k + 1);
            z[i * 4 + k] = lua_tonumber(L, -1);
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
    if (fm_ward_check_linkage(z, n) != FM_STATUS_OK) { fm_free(z); return luaL_argerror(L, 1, "not a linkage"); }
    fm_hdbscan_tree t;
    fm_status s = fm_hdbscan_condense(&t, z, n, mcs);
    fm_free(z);
    if (s != FM_STATUS_OK) return lfm_status_error(L, s, "condense", NULL);
    push_tree_table(L, &t);
    fm_hdbscan_tree_free(&t);
    return 1;
}

/* core.hdbscan_stability(tree) → {[cluster id] = stability} */
static int l_stability(lua_State *L)
{
    fm_hdbscan_tree t;
    check_tree(L, 1, &t);
    double *st = fm_alloc((size_t)t.n_clusters, sizeof(double));
    fm_status s = st ? fm_hdbscan_stability(st, &t) : FM_STATUS_NOMEM;
    if (s == FM_STATUS_OK) {
        lua_createtable(L, 0, (int)t.n_clusters);
        for (int64_t c = 0; c < t.n_clusters; c++) {
            lua_pushnumber(L, st[c]);
            lua_rawseti(L, -2, t.n + c);
        }
    }
    fm_free(st);
    fm_hdbscan_tree_free(&t);
    if (s != FM_STATUS_OK) return lfm_status_error(L, s, "stability", NULL);
    return 1;
}

/* core.hdbscan_select(tree, method, allow_single, eps, max_cluster_size) → sorted selected ids */
static int l_select(lua_State *L)
{
    int method = luaL_checkoption(L, 2, "eom", methods);
    int allow_single = lua_toboolean(L, 3);
    lua_Number eps = luaL_optnumber(L, 4, 0);
    lua_Integer max_cs = luaL_optinteger(L, 5, 0);
    fm_hdbscan_tree t;
    check_tree(L, 1, &t);
    double *st = fm_alloc((size_t)t.n_clusters, sizeof(double));
    uint8_t *sel = fm_alloc((size_t)t.n_clusters, 1);
    fm_status s = st && sel ? fm_hdbscan_stability(st, &t) : FM_STATUS_NOMEM;
    if (s == FM_STATUS_OK) s = fm_hdbscan_select(sel, st, &t, method, allow_single, eps, max_cs);
    if (s == FM_STATUS_OK) {
        lua_newtable(L);
        int k = 0;
        for (int64_t c = 0; c < t.n_clusters; c++)
            if (sel[c]) {
                lua_pushinteger(L, t.n + c);
                lua_rawseti(L, -2, ++k);
            }
    }
    fm_free(st);
    fm_free(sel);
    fm_hdbscan_tree_free(&t);
    if (s != FM_STATUS_OK) return lfm_status_error(L, s, "select", NULL);
    return 1;
}

/* core.hdbscan_label(tree, selected ids, allow_single, eps) → labels table, probabilities table */
static int l_label(lua_State *L)
{
    luaL_checktype(L, 2, LUA_TTABLE);
    int allow_single = lua_toboolean(L, 3);
    lua_Number eps = luaL_optnumber(L, 4, 0);
    fm_hdbscan_tree t;
    check_tree(L, 1, &t);
    uint8_t *sel = fm_alloc((size_t)t.n_clusters, 1);
    int32_t *lab = fm_alloc((size_t)t.n, sizeof(int32_t));
    double *prob = fm_alloc((size_t)t.n, sizeof(double));
    fm_status s = sel && lab && prob ? FM_STATUS_OK : FM_STATUS_NOMEM;
    if (s == FM_STATUS_OK) {
        int64_t ns = (int64_t)luaL_len(L, 2);
        for (int64_t i = 1; i <= ns; i++) {
            lua_geti(L, 2, i);
            lua_Integer c = lua_tointeger(L, -1) - t.n;
            lua_pop(L, 1);
            if (c < 0 || c >= t.n_clusters) { s = FM_STATUS_ARG; break; }
            sel[c] = 1;
        }
    }
    int64_t k = 0;
    if (s == FM_STATUS_OK) s = fm_hdbscan_label(lab, prob, NULL, &k, &t, sel, allow_single, eps);
    if (s == FM_STATUS_OK) {
        lua_createtable(L, (int)t.n, 0);
        for (int64_t i = 0; i < t.n; i++) { lua_pushinteger(L, lab[i]); lua_rawseti(L, -2, i + 1); }
        lua_createtable(L, (int)t.n, 0);
        for (int64_t i = 0; i < t.n; i++) { lua_pushnumber(L, prob[i]); lua_rawseti(L, -2, i + 1); }
    }
    fm_free(sel);
    fm_free(lab);
    fm_free(prob);
    fm_hdbscan_tree_free(&t);
    if (s == FM_STATUS_ARG) return luaL_argerror(L, 2, "selected ids must be clusters of the tree");
    if (s != FM_STATUS_OK) return lfm_status_error(L, s, "label", NULL);
    return 2;
}

/* core.kdtree_arrays(X, leaf_size) → {idx, start, end, is_leaf, radius} (0-based, as scikit-learn's
 * KDTree.get_arrays()), for checking the tree against scikit-learn's */
static int l_kdtree_arrays(lua_State *L)
{
    lfm_matrix *X = lfm_checkmatrix(L, 1);
    lua_Integer leaf = luaL_optinteger(L, 2, 40);
    luaL_argcheck(L, X->m.n >= 1 && X->m.d >= 1, 1, "matrix is empty");
    luaL_argcheck(L, leaf >= 1, 2, "leaf_size must be ≥ 1");
    fm_kdtree t;
    fm_status s = fm_kdtree_build(&t, X->m.data, X->m.n, X->m.d, leaf);
    if (s != FM_STATUS_OK) return lfm_status_error(L, s, "kdtree", NULL);
    lua_createtable(L, 0, 5);
    lua_createtable(L, (int)t.n, 0);
    for (int64_t i = 0; i < t.n; i++) { lua_pushinteger(L, t.idx[i]); lua_rawseti(L, -2, i + 1); }
    lua_setfield(L, -2, "idx");
    const char *f[] = {"start", "end", "is_leaf", "radius"};
    for (int k = 0; k < 4; k++) {
        lua_createtable(L, (int)t.n_nodes, 0);
        for (int64_t i = 0; i < t.n_nodes; i++) {
            if (k == 0) lua_pushinteger(L, t.start[i]);
            else if (k == 1) lua_pushinteger(L, t.end[i]);
            else if (k == 2) lua_pushboolean(L, t.is_leaf[i]);
            else lua_pushnumber(L, t.radius[i]);
            lua_rawseti(L, -2, i + 1);
        }
        lua_setfield(L, -2, f[k]);
    }
    fm_kdtree_free(&t);
    return 1;
}

static const luaL_Reg model_methods[] = {
    {"labels", m_labels},
    {"probabilities", m_probabilities},
    {"core_distances", m_core_distances},
    {"n_clusters", m_n_clusters},
    {"outlier_scores", m_outlier_scores},
    {"persistence", m_persistence},
    {"condensed_tree", m_condensed_matrix},
    {"condensed_tree_table", m_condensed_table},
    {"selected_clusters", m_selected},
    {"reselect", m_reselect},
    {"predict", m_predict},
    {"assign_noise", m_assign_noise},
    {"nearest_labelled", m_nearest_labelled},
    {"info", m_info},
    {"timings", m_timings},
    {NULL, NULL}};

static const luaL_Reg hdbscan_funcs[] = {
    {"hdbscan_fit", l_fit},
    {"kdtree_arrays", l_kdtree_arrays},
    {"hdbscan_core_distances", l_core_distances},
    {"hdbscan_bound_coords", l_bound_coords},
    {"hdbscan_mst", l_mst},
    {"hdbscan_linkage", l_linkage},
    {"hdbscan_condense", l_condense},
    {"hdbscan_stability", l_stability},
    {"hdbscan_select", l_select},
    {"hdbscan_label", l_label},
    {NULL, NULL}};

void lfm_open_hdbscan(lua_State *L)
{
    if (luaL_newmetatable(L, MODEL_MT)) {
        lua_pushcfunction(L, model_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, model_gc);
        lua_setfield(L, -2, "__close");
        lua_newtable(L);
        luaL_setfuncs(L, model_methods, 0);
        lua_setfield(L, -2, "__index");
    }
    lua_pop(L, 1);
    lfm_setfuncs(L, hdbscan_funcs);
}
