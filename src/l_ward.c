/* l_ward.c — Ward and single linkage for Lua (raw functions; lua/fmclust/ward.lua is the public
 * face and validates options first). Every argument is checked before the core runs; the core
 * returns a status and errors are raised only after it has returned. Scratch memory lives in
 * Lua userdata, so it is collected whatever happens. */
#include "lfm.h"
#include "ward.h"

#include <math.h>
#include <string.h>

static void *scratch(lua_State *L, int64_t count, size_t size)
{
    return lua_newuserdatauv(L, (size_t)(count > 0 ? count : 1) * size, 0);
}

/* push the linkage z ((n−1)×4 doubles) as a float32 matrix (ids < 2^24 are exact in float32) */
static void push_linkage(lua_State *L, const double *z, int64_t n)
{
    int64_t m = n - 1;
    lfm_matrix *out = lfm_newmatrix(L, m, 4);
    for (int64_t i = 0; i < 4 * m; i++) out->m.data[i] = (float)z[i];
}

/* k from (arg ka: n_clusters or nil, arg ta: distance_threshold or nil); exactly one is given */
static int64_t check_k_or_threshold(lua_State *L, int ka, int ta, int64_t n, double *thr)
{
    int hask = !lua_isnoneornil(L, ka), hast = !lua_isnoneornil(L, ta);
    if (hask == hast) luaL_argerror(L, ka, "exactly one of n_clusters and distance_threshold must be set");
    if (hask) {
        lua_Integer k = luaL_checkinteger(L, ka);
        if (k < 1 || k > n) {
            const char *msg = lua_pushfstring(L, "n_clusters must be between 1 and %I (the number of rows), got %I",
                                              (lua_Integer)n, k);
            luaL_argerror(L, ka, msg);
        }
        return (int64_t)k;
    }
    *thr = luaL_checknumber(L, ta);
    if (!(*thr >= 0)) luaL_argerror(L, ta, "distance_threshold must be ≥ 0");
    return 0;
}

/* ward_fit(X, method, n_clusters|nil, distance_threshold|nil) → labels, linkage, k, heights
 * method: "ward" | "single". heights is a Lua sequence of the n−1 merge heights in double,
 * ascending (the linkage matrix holds them in float32). */
static int l_ward_fit(lua_State *L)
{
    static const char *const methods[] = {"ward", "single", NULL};
    lfm_matrix *X = lfm_checkmatrix(L, 1);
    int method = luaL_checkoption(L, 2, "ward", methods);
    int64_t n = X->m.n, d = X->m.d;
    if (n < 1) luaL_argerror(L, 1, "matrix has no rows");
    if (d < 1) luaL_argerror(L, 1, "matrix has no columns");
    double thr = 0;
    int64_t k = check_k_or_threshold(L, 3, 4, n, &thr);
    if (fm_has_nonfinite(X->m.data, n * d)) luaL_argerror(L, 1, "matrix contains NaN or Inf");

    int64_t m = n - 1;
    int64_t *ea = scratch(L, m, sizeof(int64_t));
    int64_t *eb = scratch(L, m, sizeof(int64_t));
    double *h = scratch(L, m, sizeof(double));
    double *z = scratch(L, 4 * m, sizeof(double));
    fm_status s = method == 0 ? fm_ward_rnn(ea, eb, h, X->m.data, n, d)
                              : fm_ward_prim_mst(ea, eb, h, X->m.data, n, d);
    if (s != FM_STATUS_OK) return lfm_status_error(L, s, methods[method], NULL);
    s = fm_linkage_from_mst(z, ea, eb, h, n);
    if (s != FM_STATUS_OK) return lfm_status_error(L, s, "linkage", NULL);
    if (k == 0) k = fm_ward_threshold_k(z, n, thr);

    lfm_labels *lab = lfm_newlabels(L, n);
    s = fm_ward_cut(lab->data, z, n, k);
    if (s != FM_STATUS_OK) return lfm_status_error(L, s, "cut", NULL);
    push_linkage(L, z, n);
    lua_pushinteger(L, (lua_Integer)k);
    lua_createtable(L, (int)(m < INT32_MAX ? m : 0), 0);
    for (int64_t i = 0; i < m; i++) {
        lua_pushnumber(L, z[i * 4 + 2]);
        lua_rawseti(L, -2, i + 1);
    }
    return 4;
}

/* ward_cut(linkage, n_clusters|nil, distance_threshold|nil) → labels, k */
static int l_ward_cut(lua_State *L)
{
    lfm_matrix *Z = lfm_checkmatrix(L, 1);
    if (Z->m.d != 4) {
        const char *msg = lua_pushfstring(L, "linkage must have 4 columns, got %I", (lua_Integer)Z->m.d);
        return luaL_argerror(L, 1, msg);
    }
    int64_t n = Z->m.n + 1;
    double thr = 0;
    int64_t k = check_k_or_threshold(L, 2, 3, n, &thr);
    double *z = scratch(L, 4 * (n - 1), sizeof(double));
    for (int64_t i = 0; i < 4 * (n - 1); i++) z[i] = Z->m.data[i];
    fm_status s = fm_ward_check_linkage(z, n);
    if (s == FM_STATUS_ARG)
        return luaL_argerror(L, 1, "not a valid linkage matrix (scipy format: a, b, height, size per row)");
    if (s != FM_STATUS_OK) return lfm_status_error(L, s, "cut", NULL);
    /* the heights are float32 values: compare them with the threshold at that precision */
    if (k == 0) k = fm_ward_threshold_k(z, n, (double)(float)thr);
    lfm_labels *lab = lfm_newlabels(L, n);
    s = fm_ward_cut(lab->data, z, n, k);
    if (s != FM_STATUS_OK) return lfm_status_error(L, s, "cut", NULL);
    lua_pushinteger(L, (lua_Integer)k);
    return 2;
}

/* linkage_from_mst(a, b, w) → linkage: edges as Lua sequences (0-based point ids, weights) over
 * n = #a + 1 points; for tests and for building a dendrogram from any spanning tree */
static int l_linkage_from_mst(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checktype(L, 2, LUA_TTABLE);
    luaL_checktype(L, 3, LUA_TTABLE);
    lua_Integer m = luaL_len(L, 1);
    if (luaL_len(L, 2) != m || luaL_len(L, 3) != m) return luaL_argerror(L, 2, "a, b and w must have equal lengths");
    int64_t n = m + 1;
    int64_t *ea = scratch(L, m, sizeof(int64_t));
    int64_t *eb = scratch(L, m, sizeof(int64_t));
    double *w = scratch(L, m, sizeof(double));
    double *z = scratch(L, 4 * m, sizeof(double));
    for (lua_Integer i = 0; i < m; i++) {
        lua_geti(L, 1, i + 1); ea[i] = (int64_t)luaL_checkinteger(L, -1); lua_pop(L, 1);
        lua_geti(L, 2, i + 1); eb[i] = (int64_t)luaL_checkinteger(L, -1); lua_pop(L, 1);
        lua_geti(L, 3, i + 1); w[i] = luaL_checknumber(L, -1); lua_pop(L, 1);
    }
    fm_status s = fm_linkage_from_mst(z, ea, eb, w, n);
    if (s == FM_STATUS_ARG) return luaL_argerror(L, 1, "edges are not a spanning tree of 0..#a");
    if (s != FM_STATUS_OK) return lfm_status_error(L, s, "linkage_from_mst", NULL);
    push_linkage(L, z, n);
    return 1;
}

static const luaL_Reg ward_funcs[] = {
    {"ward_fit", l_ward_fit},
    {"ward_cut", l_ward_cut},
    {"ward_linkage_from_mst", l_linkage_from_mst},
    {NULL, NULL}};

void lfm_open_ward(lua_State *L) { lfm_setfuncs(L, ward_funcs); }
