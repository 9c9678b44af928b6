/* l_optics.c — Lua binding of optics.c. Arguments are checked here before any parallel work;
 * the core returns a status and we raise after. Results are Lua arrays of doubles (the
 * reachability plot must keep double precision for exact extraction). */
#include "lfm.h"
#include "optics.h"
#include "kdtree.h"

#include <math.h>
#include <string.h>

/* core.optics_fit(X, min_samples, max_eps) → ordering (1-based rows), reachability, core
 * distances, predecessor (1-based rows, 0 = none); math.huge for infinite values */
static int l_optics_fit(lua_State *L)
{
    int64_t n = 0, d = 0;
    double *x = NULL;
    if (lua_istable(L, 1)) {   /* rows of numbers, kept in double (reference data in decimal) */
        n = (int64_t)luaL_len(L, 1);
        if (n > 0) {
            lua_geti(L, 1, 1);
            if (lua_istable(L, -1)) d = (int64_t)luaL_len(L, -1);
            lua_pop(L, 1);
        }
        if (n < 1 || d < 1) return luaL_argerror(L, 1, "matrix is empty");
        x = lua_newuserdatauv(L, (size_t)(n * d) * sizeof(double), 0);   /* GC-owned */
        for (int64_t i = 0; i < n; i++) {
            lua_geti(L, 1, i + 1);
            if (!lua_istable(L, -1) || (int64_t)luaL_len(L, -1) != d) return luaL_argerror(L, 1, "rows must have equal length");
            for (int64_t j = 0; j < d; j++) {
                lua_geti(L, -1, j + 1);
                int ok;
                x[i * d + j] = lua_tonumberx(L, -1, &ok);
                if (!ok || !isfinite(x[i * d + j])) return luaL_argerror(L, 1, "matrix contains NaN or Inf");
                lua_pop(L, 1);
            }
            lua_pop(L, 1);
        }
    } else {
        lfm_matrix *X = lfm_checkmatrix(L, 1);
        n = X->m.n;
        d = X->m.d;
        if (n < 1 || d < 1) return luaL_argerror(L, 1, "matrix is empty");
        if (fm_has_nonfinite(X->m.data, n * d)) return luaL_argerror(L, 1, "matrix contains NaN or Inf");
        x = lua_newuserdatauv(L, (size_t)(n * d) * sizeof(double), 0);
        for (int64_t i = 0; i < n * d; i++) x[i] = X->m.data[i];
    }
    lua_Integer ms = luaL_checkinteger(L, 2);
    lua_Number max_eps = luaL_optnumber(L, 3, HUGE_VAL);
    luaL_argcheck(L, ms >= 1 && ms <= n, 2, "min_samples must be in 1..n");
    luaL_argcheck(L, max_eps > 0 && !isnan(max_eps), 3, "max_eps must be > 0");
    double *core = fm_alloc((size_t)n, sizeof(double)), *reach = fm_alloc((size_t)n, sizeof(double));
    int64_t *ord = fm_alloc((size_t)n, sizeof(int64_t)), *pred = fm_alloc((size_t)n, sizeof(int64_t));
    fm_status s = FM_STATUS_NOMEM;
    if (core && reach && ord && pred) {
        s = fm_optics_core_distances(core, x, n, d, ms, max_eps);
        if (s == FM_STATUS_OK) s = fm_optics_order(ord, reach, pred, x, core, n, d, max_eps);
    }
    if (s != FM_STATUS_OK) {
        fm_free(core); fm_free(reach); fm_free(ord); fm_free(pred);
        return lfm_status_error(L, s, "optics", NULL);
    }
    /* the tables may raise on memory: copy into them, then free (a raise would leak only then) */
    lua_createtable(L, (int)n, 0);
    for (int64_t i = 0; i < n; i++) { lua_pushinteger(L, ord[i] + 1); lua_rawseti(L, -2, i + 1); }
    lua_createtable(L, (int)n, 0);
    for (int64_t i = 0; i < n; i++) { lua_pushnumber(L, reach[i]); lua_rawseti(L, -2, i + 1); }
    lua_createtable(L, (int)n, 0);
    for (int64_t i = 0; i < n; i++) { lua_pushnumber(L, core[i]); lua_rawseti(L, -2, i + 1); }
    lua_createtable(L, (int)n, 0);
    for (int64_t i = 0; i < n; i++) { lua_pushinteger(L, pred[i] + 1); lua_rawseti(L, -2, i + 1); }
    fm_free(core); fm_free(reach); fm_free(ord); fm_free(pred);
    return 4;
}

static double *num_array(lua_State *L, int idx, int64_t n, const char *what)
{
    luaL_checktype(L, idx, LUA_TTABLE);
    if ((int64_t)luaL_len(L, idx) != n) luaL_argerror(L, idx, lua_pushfstring(L, "%s must have %I entries", what, (lua_Integer)n));
    double *v = lua_newuserdatauv(L, (size_t)(n > 0 ? n : 1) * sizeof(double), 0);   /* GC-owned */
    for (int64_t i = 0; i < n; i++) {
        lua_geti(L, idx, i + 1);
        int ok;
        v[i] = lua_tonumberx(L, -1, &ok);
        lua_pop(L, 1);
        if (!ok || isnan(v[i])) luaL_argerror(L, idx, lua_pushfstring(L, "%s must hold numbers", what));
    }
    return v;
}

/* core.optics_cut(reachability, core_distances, ordering (1-based), eps) → labels */
static int l_optics_cut(lua_State *L)
{
    luaL_checktype(L, 3, LUA_TTABLE);
    int64_t n = (int64_t)luaL_len(L, 3);
    lua_Number eps = luaL_checknumber(L, 4);
    luaL_argcheck(L, !isnan(eps), 4, "eps must be a number");
    double *reach = num_array(L, 1, n, "reachability");
    double *core = num_array(L, 2, n, "core_distances");
    int64_t *ord = lua_newuserdatauv(L, (size_t)(n > 0 ? n : 1) * sizeof(int64_t), 0);
    for (int64_t i = 0; i < n; i++) {
        lua_geti(L, 3, i + 1);
        lua_Integer r = lua_tointeger(L, -1);
        lua_pop(L, 1);
        if (r < 1 || r > n) return luaL_argerror(L, 3, "ordering must hold row numbers 1..n");
        ord[i] = r - 1;
    }
    lfm_labels *y = lfm_newlabels(L, n);
    fm_optics_cut(y->data, reach, core, ord, n, eps);
    return 1;
}

static const luaL_Reg optics_funcs[] = {
    {"optics_fit", l_optics_fit},
    {"optics_cut", l_optics_cut},
    {NULL, NULL}};

void lfm_open_optics(lua_State *L) { lfm_setfuncs(L, optics_funcs); }
