/* l_gmm.c — Lua binding of the Gaussian mixture core (raw functions; lua/fmclust/gmm.lua is the
 * public face and validates options first). Arguments are all checked before the core runs; the
 * core returns a status and errors are raised only after it returns. */
#include "lfm.h"
#include "gmm.h"

#include <string.h>

#define LFM_GMM_RESULT "fmclust.gmm_result"

static const char *const COV_NAMES[] = {"full", "tied", "diag", "spherical", NULL};
static const char *const INIT_NAMES[] = {"kmeans", "random", "k-means++", "random_from_data", NULL};

/* the fit result lives in a userdata so a raising push (out of memory) cannot leak it */
typedef struct { fm_gmm_result r; } lgmm_result;

static int result_gc(lua_State *L)
{
    lgmm_result *u = luaL_checkudata(L, 1, LFM_GMM_RESULT);
    fm_gmm_result_free(&u->r);   /* idempotent */
    return 0;
}

/* push a rows×cols matrix of doubles as float32 */
static void push_dmat(lua_State *L, const double *v, int64_t rows, int64_t cols)
{
    lfm_matrix *m = lfm_newmatrix(L, rows, cols);
    for (int64_t t = 0; t < rows * cols; t++) m->m.data[t] = (float)v[t];
}

/* element t of a packed array of doubles (isd) or floats */
static inline double packed_at(const void *v, int isd, int64_t t)
{
    return isd ? ((const double *)v)[t] : (double)((const float *)v)[t];
}

static void push_part(lua_State *L, const void *v, int isd, int64_t off, int64_t rows, int64_t cols)
{
    lfm_matrix *m = lfm_newmatrix(L, rows, cols);
    for (int64_t t = 0; t < rows * cols; t++) m->m.data[t] = (float)packed_at(v, isd, off + t);
}

/* a packed parameter array (doubles when isd, else floats) in scikit-learn's shapes:
 * full → table of k d×d matrices, tied → d×d matrix, diag → k×d matrix,
 * spherical → array of k numbers */
static void push_shaped(lua_State *L, int cov, const void *v, int isd, int64_t k, int64_t d)
{
    switch (cov) {
    case FM_GMM_FULL:
        lua_createtable(L, (int)k, 0);
        for (int64_t c = 0; c < k; c++) {
            push_part(L, v, isd, c * d * d, d, d);
            lua_rawseti(L, -2, c + 1);
        }
        break;
    case FM_GMM_TIED: push_part(L, v, isd, 0, d, d); break;
    case FM_GMM_DIAG: push_part(L, v, isd, 0, k, d); break;
    default:
        lua_createtable(L, (int)k, 0);
        for (int64_t c = 0; c < k; c++) {
            lua_pushnumber(L, packed_at(v, isd, c));
            lua_rawseti(L, -2, c + 1);
        }
    }
}

static void set_number(lua_State *L, const char *name, double v)
{
    lua_pushnumber(L, v);
    lua_setfield(L, -2, name);
}

static void set_integer(lua_State *L, const char *name, lua_Integer v)
{
    lua_pushinteger(L, v);
    lua_setfield(L, -2, name);
}

/* rows of the packed precision matrix the predict functions take back */
static int64_t packed_rows(int cov, int64_t k, int64_t d)
{
    switch (cov) {
    case FM_GMM_FULL: return k * d;
    case FM_GMM_TIED: return d;
    default: return k;
    }
}

static int64_t packed_cols(int cov, int64_t d) { return cov == FM_GMM_SPHERICAL ? 1 : d; }

/* gmm_fit(X, n_components, covariance_type, init, max_iter, n_init, tol, reg_covar, seed) → table */
static int l_gmm_fit(lua_State *L)
{
    lfm_matrix *X = lfm_checkmatrix(L, 1);
    lua_Integer k = luaL_checkinteger(L, 2);
    int cov = luaL_checkoption(L, 3, NULL, COV_NAMES);
    int init = luaL_checkoption(L, 4, NULL, INIT_NAMES);
    lua_Integer max_iter = luaL_checkinteger(L, 5);
    lua_Integer n_init = luaL_checkinteger(L, 6);
    double tol = luaL_checknumber(L, 7);
    double reg = luaL_checknumber(L, 8);
    lua_Integer seed = luaL_checkinteger(L, 9);
    int64_t n = X->m.n, d = X->m.d;
    if (n < 1 || d < 1) luaL_argerror(L, 1, "matrix is empty");
    if (k < 1 || k > n) {
        const char *msg = lua_pushfstring(L, "n_components must be in 1..%I (the number of rows), got %I",
                                          (lua_Integer)n, k);
        luaL_argerror(L, 2, msg);
    }
    if (max_iter < 0 || max_iter > INT32_MAX) luaL_argerror(L, 5, "max_iter must be ≥ 0");
    if (n_init < 1 || n_init > INT32_MAX) luaL_argerror(L, 6, "n_init must be ≥ 1");
    if (!(tol >= 0.0)) luaL_argerror(L, 7, "tol must be ≥ 0");
    if (!(reg >= 0.0)) luaL_argerror(L, 8, "reg_covar must be ≥ 0");
    if (fm_has_nonfinite(X->m.data, n * d)) luaL_argerror(L, 1, "matrix contains NaN or Inf");

    lgmm_result *u = lua_newuserdatauv(L, sizeof *u, 0);
    memset(u, 0, sizeof *u);
    luaL_setmetatable(L, LFM_GMM_RESULT);
    fm_gmm_opts o = {.k = k, .cov_type = cov, .init = init, .max_iter = (int)max_iter,
                     .n_init = (int)n_init, .tol = tol, .reg_covar = reg, .seed = (uint64_t)seed};
    char err[FM_ERRLEN] = "";
    fm_status s = fm_gmm_fit(&u->r, X->m.data, n, d, &o, err);
    if (s != FM_STATUS_OK) return lfm_status_error(L, s, "gmm", err);
    fm_gmm_result *r = &u->r;

    lua_createtable(L, 0, 20);
    lfm_labels *lab = lfm_newlabels(L, n);
    memcpy(lab->data, r->labels, sizeof(int32_t) * (size_t)n);
    lua_setfield(L, -2, "labels");
    push_dmat(L, r->resp, n, k);
    lua_setfield(L, -2, "probabilities");
    push_part(L, r->model.means, 0, 0, k, d);
    lua_setfield(L, -2, "means");
    lua_createtable(L, (int)k, 0);
    for (int64_t c = 0; c < k; c++) {
        lua_pushnumber(L, r->model.weights[c]);
        lua_rawseti(L, -2, c + 1);
    }
    lua_setfield(L, -2, "weights");
    push_shaped(L, cov, r->cov, 1, k, d);
    lua_setfield(L, -2, "covariances");
    push_shaped(L, cov, r->model.prec, 0, k, d);
    lua_setfield(L, -2, "precisions_cholesky");
    push_part(L, r->model.prec, 0, 0, packed_rows(cov, k, d), packed_cols(cov, d));
    lua_setfield(L, -2, "precisions_packed");
    lua_pushboolean(L, r->converged);
    lua_setfield(L, -2, "converged");
    set_integer(L, "n_iter", r->n_iter);
    set_integer(L, "best_init", r->best_init + 1);
    set_number(L, "lower_bound", r->lower_bound);
    set_number(L, "log_likelihood", r->log_likelihood);
    set_integer(L, "n_parameters", fm_gmm_n_parameters(cov, k, d));
    lua_createtable(L, r->n_iter, 0);
    for (int i = 0; i < r->n_iter; i++) {
        lua_pushnumber(L, r->history[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "lower_bounds");
    fm_gmm_result_free(r);
    return 1;
}

/* gmm_predict(X, covariance_type, weights, means, precisions_packed, what) with what one of
 * "labels" | "proba" | "score" | "score_samples" */
static int l_gmm_predict(lua_State *L)
{
    static const char *const WHAT[] = {"labels", "proba", "score", "score_samples", NULL};
    lfm_matrix *X = lfm_checkmatrix(L, 1);
    int cov = luaL_checkoption(L, 2, NULL, COV_NAMES);
    luaL_checktype(L, 3, LUA_TTABLE);
    lfm_matrix *means = lfm_checkmatrix(L, 4);
    lfm_matrix *prec = lfm_checkmatrix(L, 5);
    int what = luaL_checkoption(L, 6, NULL, WHAT);
    int64_t n = X->m.n, d = X->m.d, k = means->m.n;
    if (n < 1) luaL_argerror(L, 1, "matrix has no rows");
    if (means->m.d != d) {
        const char *msg = lua_pushfstring(L, "matrix has %I columns, the model %I", (lua_Integer)d,
                                          (lua_Integer)means->m.d);
        luaL_argerror(L, 1, msg);
    }
    if (k < 1) luaL_argerror(L, 4, "model has no components");
    if (prec->m.n != packed_rows(cov, k, d) || prec->m.d != packed_cols(cov, d))
        luaL_argerror(L, 5, "precisions do not match the means and covariance type");
    if (luaL_len(L, 3) != k) luaL_argerror(L, 3, "weights do not match the means");
    double *w = lua_newuserdatauv(L, sizeof(double) * (size_t)k, 0);
    for (int64_t c = 0; c < k; c++) {
        lua_geti(L, 3, c + 1);
        int isnum = 0;
        w[c] = lua_tonumberx(L, -1, &isnum);
        lua_pop(L, 1);
        if (!isnum || !(w[c] > 0.0)) luaL_argerror(L, 3, "weights must be positive numbers");
    }
    if (fm_has_nonfinite(X->m.data, n * d)) luaL_argerror(L, 1, "matrix contains NaN or Inf");

    fm_gmm_model m = {.cov = cov, .k = k, .d = d, .weights = w, .means = means->m.data,
                      .prec = prec->m.data};
    double *resp = NULL, *lognorm = NULL, mean_ll = 0.0;
    if (what == 0 || what == 1) resp = lua_newuserdatauv(L, sizeof(double) * (size_t)(n * k), 0);
    if (what == 3) lognorm = lua_newuserdatauv(L, sizeof(double) * (size_t)n, 0);
    fm_status s = fm_gmm_estep(resp, lognorm, &mean_ll, X->m.data, &m, n);
    if (s != FM_STATUS_OK) return lfm_status_error(L, s, "gmm", NULL);
    if (what == 0) {
        lfm_labels *lab = lfm_newlabels(L, n);
        for (int64_t i = 0; i < n; i++) {
            const double *r = resp + i * k;
            int32_t best = 0;
            for (int64_t c = 1; c < k; c++)
                if (r[c] > r[best]) best = (int32_t)c;
            lab->data[i] = best;
        }
    } else if (what == 1) {
        push_dmat(L, resp, n, k);
    } else if (what == 2) {
        lua_pushnumber(L, mean_ll);
    } else {
        push_dmat(L, lognorm, n, 1);
    }
    return 1;
}

static const luaL_Reg gmm_funcs[] = {
    {"gmm_fit", l_gmm_fit},
    {"gmm_predict", l_gmm_predict},
    {NULL, NULL}};

void lfm_open_gmm(lua_State *L)
{
    if (luaL_newmetatable(L, LFM_GMM_RESULT)) {
        lua_pushcfunction(L, result_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    lfm_setfuncs(L, gmm_funcs);
}
