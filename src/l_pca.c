/* l_pca.c — PCA for Lua: the raw functions pca_fit, pca_transform and pca_inverse_transform.
 * lua/fmclust/pca.lua is the public face and validates first with friendly messages; the checks
 * here are the backstop. Every argument is checked before the core runs; the core returns a
 * status and errors are raised only after it has returned. */
#include "lfm.h"
#include "pca.h"

#include <string.h>

#define LFM_PCA_FIT "fmclust.pca_fit"

/* what fm_pca_fit allocated, held by a userdata until each buffer is handed to a Lua matrix,
 * so that an error while building the result table frees the rest */
typedef struct { fm_pca_model m; fm_mat z; } lfm_pca_fit;

static int fit_gc(lua_State *L)
{
    lfm_pca_fit *u = luaL_checkudata(L, 1, LFM_PCA_FIT);
    fm_pca_model_free(&u->m);   /* idempotent */
    fm_mat_free(&u->z);
    return 0;
}

static void setnum(lua_State *L, const char *k, double v)
{
    lua_pushnumber(L, v);
    lua_setfield(L, -2, k);
}

static void check_finite(lua_State *L, int arg, const lfm_matrix *x)
{
    if (fm_has_nonfinite(x->m.data, x->m.n * x->m.d)) luaL_argerror(L, arg, "matrix contains NaN or Inf");
}

/* pca_fit(X, n_components, svd_solver, whiten, seed, n_oversamples, n_iter, want_z)
 *   n_components  integer in 1..min(n, d), or a number in (0, 1) (covariance solver only)
 *   svd_solver    "auto" | "covariance" | "randomized"
 *   n_iter        power iterations ≥ 0, or -1 for scikit-learn's rule
 * → {components = k×d matrix, mean = 1×d matrix, explained_variance = {k numbers},
 *    total_variance, svd_solver = the solver used, n_iter, exact_8bit}, and the n×k scores when want_z
 *    (nil otherwise). */
static int l_pca_fit(lua_State *L)
{
    static const char *const solvers[] = {"auto", "covariance", "randomized", NULL};
    lfm_matrix *x = lfm_checkmatrix(L, 1);
    int64_t n = x->m.n, d = x->m.d, kmax = n < d ? n : d;
    fm_pca_options o = {0};
    if (lua_isinteger(L, 2)) {
        o.n_components = lua_tointeger(L, 2);
    } else {
        o.fraction = luaL_checknumber(L, 2);
        luaL_argcheck(L, o.fraction > 0.0 && o.fraction < 1.0, 2, "n_components must be an integer or in (0, 1)");
    }
    o.solver = (fm_pca_solver)luaL_checkoption(L, 3, "auto", solvers);
    luaL_checktype(L, 4, LUA_TBOOLEAN);
    o.whiten = lua_toboolean(L, 4);
    o.seed = (uint64_t)luaL_checkinteger(L, 5);
    lua_Integer over = luaL_checkinteger(L, 6), iter = luaL_checkinteger(L, 7);
    luaL_argcheck(L, over >= 0, 6, "n_oversamples must be ≥ 0");
    luaL_argcheck(L, iter >= -1 && iter <= 1000, 7, "n_iter must be in -1..1000");
    o.n_oversamples = over;
    o.n_iter = (int)iter;
    int want_z = lua_toboolean(L, 8);
    if (n < 2) luaL_argerror(L, 1, "PCA needs at least 2 rows");
    if (d < 1) luaL_argerror(L, 1, "matrix has no columns");
    if (o.fraction == 0.0 && (o.n_components < 1 || o.n_components > kmax)) {
        const char *msg = lua_pushfstring(L, "n_components must be in 1..%I, got %I", (lua_Integer)kmax,
                                          (lua_Integer)o.n_components);
        luaL_argerror(L, 2, msg);
    }
    if (o.fraction > 0.0 && o.solver == FM_PCA_RANDOMIZED)
        luaL_argerror(L, 2, "a fraction of the variance needs svd_solver \"covariance\" or \"auto\"");
    check_finite(L, 1, x);

    lfm_pca_fit *u = lua_newuserdatauv(L, sizeof *u, 0);
    memset(u, 0, sizeof *u);
    if (luaL_newmetatable(L, LFM_PCA_FIT)) {
        lua_pushcfunction(L, fit_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    int holder = lua_gettop(L);

    fm_status s = fm_pca_fit(&u->m, want_z ? &u->z : NULL, x->m.data, n, d, &o);
    if (s != FM_STATUS_OK) return lfm_status_error(L, s, "pca", NULL);

    const fm_pca_model *m = &u->m;
    lua_createtable(L, 0, 6);
    lfm_pushmat(L, (fm_mat){m->k, d, m->components});
    u->m.components = NULL;   /* owned by the matrix now */
    lua_setfield(L, -2, "components");
    lfm_pushmat(L, (fm_mat){1, d, m->mean});
    u->m.mean = NULL;
    lua_setfield(L, -2, "mean");
    lua_createtable(L, (int)m->k, 0);
    for (int64_t j = 0; j < m->k; j++) {
        lua_pushnumber(L, m->explained_variance[j]);
        lua_rawseti(L, -2, j + 1);
    }
    lua_setfield(L, -2, "explained_variance");
    setnum(L, "total_variance", m->total_variance);
    lua_pushstring(L, m->solver == FM_PCA_COVARIANCE ? "covariance" : "randomized");
    lua_setfield(L, -2, "svd_solver");
    lua_pushinteger(L, m->n_iter);
    lua_setfield(L, -2, "n_iter");
    lua_pushboolean(L, m->exact_u8);
    lua_setfield(L, -2, "exact_8bit");
    if (want_z) {
        lfm_pushmat(L, u->z);
        u->z = (fm_mat){0, 0, NULL};
    } else {
        lua_pushnil(L);
    }
    lua_remove(L, holder);
    return 2;
}

/* the model arguments shared by transform and inverse_transform: components (k×d) at arg,
 * mean (1×d) at arg+1, scale (nil or a sequence of k numbers) at arg+2 → double[k] or NULL */
static const double *check_model(lua_State *L, int arg, lfm_matrix **comp, lfm_matrix **mean)
{
    *comp = lfm_checkmatrix(L, arg);
    *mean = lfm_checkmatrix(L, arg + 1);
    int64_t k = (*comp)->m.n, d = (*comp)->m.d;
    if (k < 1 || d < 1) luaL_argerror(L, arg, "components must not be empty");
    if ((*mean)->m.n * (*mean)->m.d != d) {
        const char *msg = lua_pushfstring(L, "mean has %I values, components have %I columns",
                                          (lua_Integer)((*mean)->m.n * (*mean)->m.d), (lua_Integer)d);
        luaL_argerror(L, arg + 1, msg);
    }
    if (lua_isnoneornil(L, arg + 2)) return NULL;
    luaL_checktype(L, arg + 2, LUA_TTABLE);
    if (luaL_len(L, arg + 2) != k) {
        const char *msg = lua_pushfstring(L, "scale has %I values, expected %I", luaL_len(L, arg + 2),
                                          (lua_Integer)k);
        luaL_argerror(L, arg + 2, msg);
    }
    double *scale = lua_newuserdatauv(L, sizeof(double) * (size_t)k, 0);   /* collected with the call */
    for (int64_t j = 0; j < k; j++) {
        lua_geti(L, arg + 2, j + 1);
        int isnum = 0;
        scale[j] = lua_tonumberx(L, -1, &isnum);
        if (!isnum) luaL_argerror(L, arg + 2, "scale must hold numbers");
        lua_pop(L, 1);
    }
    return scale;
}

/* pca_transform(X, components, mean [, scale]) → (X − mean)·componentsᵀ, column j times scale[j] */
static int l_pca_transform(lua_State *L)
{
    lfm_matrix *x = lfm_checkmatrix(L, 1), *comp, *mean;
    const double *scale = check_model(L, 2, &comp, &mean);
    if (x->m.d != comp->m.d) {
        const char *msg = lua_pushfstring(L, "matrix has %I columns, the model was fitted on %I",
                                          (lua_Integer)x->m.d, (lua_Integer)comp->m.d);
        luaL_argerror(L, 1, msg);
    }
    check_finite(L, 1, x);
    lfm_matrix *z = lfm_newmatrix(L, x->m.n, comp->m.n);
    fm_status s = fm_pca_project(z->m.data, x->m.data, mean->m.data, comp->m.data, scale, x->m.n,
                                 x->m.d, comp->m.n);
    if (s != FM_STATUS_OK) return lfm_status_error(L, s, "transform", NULL);
    return 1;
}

/* pca_inverse_transform(Z, components, mean [, scale]) → Z·(diag(scale)·components) + mean */
static int l_pca_inverse_transform(lua_State *L)
{
    lfm_matrix *z = lfm_checkmatrix(L, 1), *comp, *mean;
    const double *scale = check_model(L, 2, &comp, &mean);
    if (z->m.d != comp->m.n) {
        const char *msg = lua_pushfstring(L, "matrix has %I columns, the model has %I components",
                                          (lua_Integer)z->m.d, (lua_Integer)comp->m.n);
        luaL_argerror(L, 1, msg);
    }
    check_finite(L, 1, z);
    lfm_matrix *x = lfm_newmatrix(L, z->m.n, comp->m.d);
    fm_status s = fm_pca_reconstruct(x->m.data, z->m.data, comp->m.data, mean->m.data, scale, z->m.n,
                                     comp->m.n, comp->m.d);
    if (s != FM_STATUS_OK) return lfm_status_error(L, s, "inverse_transform", NULL);
    return 1;
}

/* pca_u8_supported() → whether this CPU runs the exact 8-bit covariance kernel (AVX-512 VNNI) */
static int l_pca_u8_supported(lua_State *L)
{
    lua_pushboolean(L, fm_pca_u8_supported());
    return 1;
}

static const luaL_Reg pca_funcs[] = {
    {"pca_u8_supported", l_pca_u8_supported},
    {"pca_fit", l_pca_fit},
    {"pca_transform", l_pca_transform},
    {"pca_inverse_transform", l_pca_inverse_transform},
    {NULL, NULL}};

void lfm_open_pca(lua_State *L) { lfm_setfuncs(L, pca_funcs); }
