/* l_nmf.c — Lua binding of the NMF core (nmf.c). Every argument is checked here, before any
 * parallel work; the core returns a status and errors are raised after it returns.
 *
 *   core.nmf_fit(X, k, init, solver, max_iter, tol, seed, shuffle) → W, H, err, n_iter, converged, history
 *   core.nmf_transform(X, H, solver, max_iter, tol, seed, shuffle) → W, n_iter
 *   core.nmf_init(X, k, init, seed) → W, H
 *   core.nmf_svd(X, k, n_oversamples, n_iter, seed) → U, S (1×k), Vt
 *   core.nmf_nndsvd(U, S, Vt) → W, H
 *   core.nmf_residual(X, W, H) → ‖X − W·H‖_F
 *   core.nmf_first_negative(X) → 1-based (row, column) of the first negative entry, or nil
 *   core.nmf_byte_scale(X) → s when X = q·s with bytes q (read as bytes by the passes), or nil
 */
#include "lfm.h"
#include "nmf.h"

#include <math.h>

static const char *const init_names[] = {"random", "nndsvd", "nndsvda", "nndsvdar", NULL};
static const char *const solver_names[] = {"cd", "mu", NULL};

/* X: a live, non-empty, finite, non-negative matrix */
static lfm_matrix *check_data(lua_State *L, int idx)
{
    lfm_matrix *X = lfm_checkmatrix(L, idx);
    if (X->m.n < 1 || X->m.d < 1) luaL_argerror(L, idx, "matrix is empty");
    if (fm_has_nonfinite(X->m.data, X->m.n * X->m.d)) luaL_argerror(L, idx, "matrix contains NaN or Inf");
    if (fm_nmf_first_negative(X->m.data, X->m.n * X->m.d) >= 0)
        luaL_argerror(L, idx, "X has negative values: NMF needs X ≥ 0");
    return X;
}

static int64_t check_k(lua_State *L, int idx, const lfm_matrix *X, int init)
{
    lua_Integer k = luaL_checkinteger(L, idx);
    if (k < 1) return luaL_argerror(L, idx, lua_pushfstring(L, "n_components must be ≥ 1, got %I", k));
    if (k > X->m.d) {
        const char *msg = lua_pushfstring(L, "n_components must be ≤ %I (the number of columns), got %I",
                                          (lua_Integer)X->m.d, k);
        return luaL_argerror(L, idx, msg);
    }
    if (init != FM_NMF_INIT_RANDOM && k > X->m.n) {
        const char *msg = lua_pushfstring(L, "n_components must be ≤ %I (the number of rows) for init '%s', got %I",
                                          (lua_Integer)X->m.n, init_names[init], k);
        return luaL_argerror(L, idx, msg);
    }
    return (int64_t)k;
}

static void check_iter(lua_State *L, int idx_iter, int idx_tol, int *max_iter, double *tol)
{
    lua_Integer m = luaL_checkinteger(L, idx_iter);
    luaL_argcheck(L, m >= 1 && m <= INT32_MAX, idx_iter, "max_iter must be ≥ 1");
    lua_Number t = luaL_checknumber(L, idx_tol);
    luaL_argcheck(L, t >= 0 && t < HUGE_VAL, idx_tol, "tol must be a finite number ≥ 0");
    *max_iter = (int)m;
    *tol = t;
}

static int l_nmf_fit(lua_State *L)
{
    lfm_matrix *X = check_data(L, 1);
    int init = luaL_checkoption(L, 3, "nndsvda", init_names);
    int64_t k = check_k(L, 2, X, init);
    fm_nmf_options opt = {.k = k};
    opt.solver = luaL_checkoption(L, 4, "cd", solver_names);
    check_iter(L, 5, 6, &opt.max_iter, &opt.tol);
    opt.seed = (uint64_t)luaL_optinteger(L, 7, 0);
    opt.shuffle = lua_toboolean(L, 8);
    int64_t n = X->m.n, d = X->m.d;

    lfm_matrix *W = lfm_newmatrix(L, n, k);
    lfm_matrix *H = lfm_newmatrix(L, k, d);
    double *history = lua_newuserdatauv(L, sizeof(double) * (size_t)opt.max_iter, 0);
    fm_status s = fm_nmf_init(W->m.data, H->m.data, X->m.data, n, d, k, init, opt.seed);
    if (s != FM_STATUS_OK) return lfm_status_error(L, s, "nmf (init)", NULL);
    fm_nmf_result res = {0};
    s = fm_nmf_fit(W->m.data, H->m.data, &res, history, X->m.data, n, d, &opt);
    if (s != FM_STATUS_OK) return lfm_status_error(L, s, "nmf", NULL);

    lua_pushnumber(L, res.reconstruction_err);
    lua_pushinteger(L, res.n_iter);
    lua_pushboolean(L, res.converged);
    lua_createtable(L, res.n_iter, 0);
    for (int i = 0; i < res.n_iter; i++) {
        lua_pushnumber(L, history[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_remove(L, -5);   /* the history buffer: W, H, err, n_iter, converged, history */
    return 6;
}

static int l_nmf_transform(lua_State *L)
{
    lfm_matrix *X = check_data(L, 1);
    lfm_matrix *H = lfm_checkmatrix(L, 2);
    if (H->m.d != X->m.d) {
        const char *msg = lua_pushfstring(L, "X has %I columns, the model was fitted on %I",
                                          (lua_Integer)X->m.d, (lua_Integer)H->m.d);
        return luaL_argerror(L, 1, msg);
    }
    if (H->m.n < 1) return luaL_argerror(L, 2, "H has no rows");
    if (fm_has_nonfinite(H->m.data, H->m.n * H->m.d)) return luaL_argerror(L, 2, "H contains NaN or Inf");
    fm_nmf_options opt = {.k = H->m.n};
    opt.solver = luaL_checkoption(L, 3, "cd", solver_names);
    check_iter(L, 4, 5, &opt.max_iter, &opt.tol);
    opt.seed = (uint64_t)luaL_optinteger(L, 6, 0);
    opt.shuffle = lua_toboolean(L, 7);
    lfm_matrix *W = lfm_newmatrix(L, X->m.n, opt.k);
    int n_iter = 0;
    fm_status s = fm_nmf_transform(W->m.data, &n_iter, X->m.data, H->m.data, X->m.n, X->m.d, &opt);
    if (s != FM_STATUS_OK) return lfm_status_error(L, s, "nmf transform", NULL);
    lua_pushinteger(L, n_iter);
    return 2;
}

static int l_nmf_init(lua_State *L)
{
    lfm_matrix *X = check_data(L, 1);
    int init = luaL_checkoption(L, 3, "nndsvda", init_names);
    int64_t k = check_k(L, 2, X, init);
    uint64_t seed = (uint64_t)luaL_optinteger(L, 4, 0);
    lfm_matrix *W = lfm_newmatrix(L, X->m.n, k);
    lfm_matrix *H = lfm_newmatrix(L, k, X->m.d);
    fm_status s = fm_nmf_init(W->m.data, H->m.data, X->m.data, X->m.n, X->m.d, k, init, seed);
    if (s != FM_STATUS_OK) return lfm_status_error(L, s, "nmf init", NULL);
    return 2;
}

static int l_nmf_svd(lua_State *L)
{
    lfm_matrix *X = lfm_checkmatrix(L, 1);
    if (X->m.n < 1 || X->m.d < 1) return luaL_argerror(L, 1, "matrix is empty");
    if (fm_has_nonfinite(X->m.data, X->m.n * X->m.d)) return luaL_argerror(L, 1, "matrix contains NaN or Inf");
    int64_t n = X->m.n, d = X->m.d, mn = n < d ? n : d;
    lua_Integer k = luaL_checkinteger(L, 2);
    luaL_argcheck(L, k >= 1 && k <= mn, 2, "k must be in 1..min(n, d)");
    lua_Integer over = luaL_optinteger(L, 3, 10);
    luaL_argcheck(L, over >= 0 && over <= 100000, 3, "n_oversamples must be ≥ 0");
    lua_Integer iters = luaL_optinteger(L, 4, 4);
    luaL_argcheck(L, iters >= 0 && iters <= 1000, 4, "n_iter must be in 0..1000");
    uint64_t seed = (uint64_t)luaL_optinteger(L, 5, 0);
    lfm_matrix *U = lfm_newmatrix(L, n, k);
    lfm_matrix *S = lfm_newmatrix(L, 1, k);
    lfm_matrix *Vt = lfm_newmatrix(L, k, d);
    fm_status s = fm_nmf_rsvd(U->m.data, S->m.data, Vt->m.data, X->m.data, n, d, k, over, (int)iters, seed);
    if (s != FM_STATUS_OK) return lfm_status_error(L, s, "nmf svd", NULL);
    return 3;
}

static int l_nmf_nndsvd(lua_State *L)
{
    lfm_matrix *U = lfm_checkmatrix(L, 1);
    lfm_matrix *S = lfm_checkmatrix(L, 2);
    lfm_matrix *Vt = lfm_checkmatrix(L, 3);
    int64_t n = U->m.n, k = U->m.d, d = Vt->m.d;
    luaL_argcheck(L, n >= 1 && k >= 1, 1, "U must be n×k with n, k ≥ 1");
    luaL_argcheck(L, S->m.n * S->m.d == k, 2, "S must hold k values");
    luaL_argcheck(L, Vt->m.n == k && d >= 1, 3, "Vt must be k×d");
    lfm_matrix *W = lfm_newmatrix(L, n, k);
    lfm_matrix *H = lfm_newmatrix(L, k, d);
    fm_status s = fm_nmf_nndsvd(W->m.data, H->m.data, U->m.data, S->m.data, Vt->m.data, n, d, k);
    if (s != FM_STATUS_OK) return lfm_status_error(L, s, "nmf nndsvd", NULL);
    return 2;
}

static int l_nmf_residual(lua_State *L)
{
    lfm_matrix *X = lfm_checkmatrix(L, 1);
    lfm_matrix *W = lfm_checkmatrix(L, 2);
    lfm_matrix *H = lfm_checkmatrix(L, 3);
    luaL_argcheck(L, X->m.n >= 1 && X->m.d >= 1, 1, "matrix is empty");
    luaL_argcheck(L, W->m.n == X->m.n && W->m.d >= 1, 2, "W must have one row per row of X");
    luaL_argcheck(L, H->m.n == W->m.d && H->m.d == X->m.d, 3, "H must be k×d");
    double err = 0.0;
    fm_status s = fm_nmf_residual(&err, X->m.data, W->m.data, H->m.data, X->m.n, X->m.d, W->m.d);
    if (s != FM_STATUS_OK) return lfm_status_error(L, s, "nmf residual", NULL);
    lua_pushnumber(L, err);
    return 1;
}

static int l_nmf_first_negative(lua_State *L)
{
    lfm_matrix *X = lfm_checkmatrix(L, 1);
    int64_t e = fm_nmf_first_negative(X->m.data, X->m.n * X->m.d);
    if (e < 0) {
        lua_pushnil(L);
        return 1;
    }
    lua_pushinteger(L, e / X->m.d + 1);
    lua_pushinteger(L, e % X->m.d + 1);
    return 2;
}

/* core.nmf_byte_scale(X) → s when X = q·s with bytes q (the fast path), else nil */
static int l_nmf_byte_scale(lua_State *L)
{
    lfm_matrix *X = lfm_checkmatrix(L, 1);
    int64_t count = X->m.n * X->m.d;
    uint8_t *q = lua_newuserdatauv(L, (size_t)(count > 0 ? count : 1), 0);
    float s = 0.0f;
    if (count > 0 && fm_nmf_quantize(q, &s, X->m.data, count)) lua_pushnumber(L, s);
    else lua_pushnil(L);
    return 1;
}

static const luaL_Reg nmf_funcs[] = {
    {"nmf_byte_scale", l_nmf_byte_scale},
    {"nmf_fit", l_nmf_fit},
    {"nmf_transform", l_nmf_transform},
    {"nmf_init", l_nmf_init},
    {"nmf_svd", l_nmf_svd},
    {"nmf_nndsvd", l_nmf_nndsvd},
    {"nmf_residual", l_nmf_residual},
    {"nmf_first_negative", l_nmf_first_negative},
    {NULL, NULL}};

void lfm_open_nmf(lua_State *L) { lfm_setfuncs(L, nmf_funcs); }
