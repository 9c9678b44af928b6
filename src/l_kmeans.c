/* l_kmeans.c — Lua binding of kmeans.c. Every argument is checked here, before any parallel
 * work; the core returns a status and we raise only after it has returned. The friendly option
 * checking (defaults, unknown keys) lives in lua/fmclust/kmeans.lua; these checks are the backstop. */
#include "lfm.h"
#include "kmeans.h"

#include <math.h>
#include <string.h>

/* core.kmeans_fit(X, n_clusters, n_init, max_iter, tol, init, seed)
 *   init: "k-means++" | "random" | a k×d matrix of starting centers
 *   → labels, centers, inertia, n_iter */
static int l_kmeans_fit(lua_State *L)
{
    lfm_matrix *X = lfm_checkmatrix(L, 1);
    int64_t n = X->m.n, d = X->m.d;
    lua_Integer k = luaL_checkinteger(L, 2);
    lua_Integer n_init = luaL_checkinteger(L, 3);
    lua_Integer max_iter = luaL_checkinteger(L, 4);
    lua_Number tol = luaL_checknumber(L, 5);
    lua_Integer seed = luaL_optinteger(L, 7, 0);
    if (n < 1 || d < 1) return luaL_argerror(L, 1, "matrix is empty");
    if (k < 1 || k > n) {
        const char *msg = lua_pushfstring(L, "n_clusters must be in 1..%I (the number of rows), got %I",
                                          (lua_Integer)n, k);
        return luaL_argerror(L, 2, msg);
    }
    if (k > INT32_MAX || n > INT32_MAX) return luaL_argerror(L, 2, "too many rows or clusters for int32 labels");
    luaL_argcheck(L, n_init >= 1, 3, "n_init must be ≥ 1");
    luaL_argcheck(L, max_iter >= 1, 4, "max_iter must be ≥ 1");
    luaL_argcheck(L, tol >= 0 && tol < HUGE_VAL, 5, "tol must be a finite number ≥ 0");
    fm_kmeans_opts o = {.n_clusters = k, .n_init = n_init, .max_iter = max_iter, .tol = tol,
                        .init = FM_KMEANS_PLUSPLUS, .init_centers = NULL, .seed = (uint64_t)seed};
    if (lua_type(L, 6) == LUA_TSTRING) {
        static const char *const kinds[] = {"k-means++", "random", NULL};
        o.init = luaL_checkoption(L, 6, NULL, kinds) == 0 ? FM_KMEANS_PLUSPLUS : FM_KMEANS_RANDOM;
    } else {
        lfm_matrix *C = lfm_checkmatrix(L, 6);
        if (C->m.n != k || C->m.d != d) {
            const char *msg = lua_pushfstring(L, "init centers must be %I×%I, got %I×%I", k, (lua_Integer)d,
                                              (lua_Integer)C->m.n, (lua_Integer)C->m.d);
            return luaL_argerror(L, 6, msg);
        }
        if (fm_has_nonfinite(C->m.data, C->m.n * C->m.d)) return luaL_argerror(L, 6, "init centers contain NaN or Inf");
        o.init_centers = C->m.data;
    }
    lfm_labels *labels = lfm_newlabels(L, n);
    lfm_matrix *centers = lfm_newmatrix(L, k, d);
    double inertia = 0;
    int64_t n_iter = 0;
    fm_status s = fm_kmeans_fit(centers->m.data, labels->data, &inertia, &n_iter, X->m.data, n, d, &o);
    if (s != FM_STATUS_OK) return lfm_status_error(L, s, "kmeans", NULL);
    lua_pushnumber(L, inertia);
    lua_pushinteger(L, n_iter);
    return 4;
}

/* core.kmeans_predict(X, centers) → labels, squared distances (n×1 matrix) */
static int l_kmeans_predict(lua_State *L)
{
    lfm_matrix *X = lfm_checkmatrix(L, 1);
    lfm_matrix *C = lfm_checkmatrix(L, 2);
    if (C->m.n < 1) return luaL_argerror(L, 2, "no centers");
    if (X->m.d != C->m.d) {
        const char *msg = lua_pushfstring(L, "matrix has %I columns, the centers have %I", (lua_Integer)X->m.d,
                                          (lua_Integer)C->m.d);
        return luaL_argerror(L, 1, msg);
    }
    lfm_labels *labels = lfm_newlabels(L, X->m.n);
    lfm_matrix *dist = lfm_newmatrix(L, X->m.n, 1);
    fm_status s = fm_kmeans_predict(labels->data, dist->m.data, X->m.data, C->m.data, X->m.n, X->m.d, C->m.n);
    if (s != FM_STATUS_OK) return lfm_status_error(L, s, "predict", NULL);
    return 2;
}

/* core.kmeans_inertia(X, centers, labels) → Σ ‖x − c_label‖² in double (for checks) */
static int l_kmeans_inertia(lua_State *L)
{
    lfm_matrix *X = lfm_checkmatrix(L, 1);
    lfm_matrix *C = lfm_checkmatrix(L, 2);
    int64_t n = 0;
    const int32_t *y = lfm_checklabelarg(L, 3, &n);
    luaL_argcheck(L, X->m.d == C->m.d, 2, "centers and matrix differ in columns");
    luaL_argcheck(L, n == X->m.n, 3, "labels and matrix differ in length");
    for (int64_t i = 0; i < n; i++)
        if (y[i] < 0 || y[i] >= C->m.n) return luaL_argerror(L, 3, "label out of range of the centers");
    double v = 0;
    fm_status s = fm_kmeans_inertia(&v, X->m.data, C->m.data, y, n, X->m.d);
    if (s != FM_STATUS_OK) return lfm_status_error(L, s, "inertia", NULL);
    lua_pushnumber(L, v);
    return 1;
}

static const luaL_Reg kmeans_funcs[] = {
    {"kmeans_fit", l_kmeans_fit},
    {"kmeans_predict", l_kmeans_predict},
    {"kmeans_inertia", l_kmeans_inertia},
    {NULL, NULL}};

void lfm_open_kmeans(lua_State *L) { lfm_setfuncs(L, kmeans_funcs); }
