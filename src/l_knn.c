/* l_knn.c — Lua binding of knn.c: raw functions knn_* in the core table. The public checks live
 * in lua/fmclust/knn.lua; these re-check sizes (cheaply) before any parallel work.
 * Indices cross into Lua as a matrix of 1-based integers stored in float32 (exact below 2^24). */
#include "lfm.h"
#include "knn.h"

#include <string.h>

static int check_metric(lua_State *L, int arg)
{
    static const char *const names[] = {"euclidean", "cosine", NULL};
    return luaL_checkoption(L, arg, "euclidean", names);
}

/* push idx (0-based int32, n×k) as a 1-based float matrix and dist as a matrix; frees nothing */
static void push_graph(lua_State *L, const int32_t *idx, const float *dist, int64_t n, int64_t k)
{
    lfm_matrix *I = lfm_newmatrix(L, n, k);
    for (int64_t e = 0; e < n * k; e++) I->m.data[e] = (float)(idx[e] + 1);
    lfm_matrix *D = lfm_newmatrix(L, n, k);
    memcpy(D->m.data, dist, sizeof(float) * (size_t)(n * k));
}

static int32_t *tmp_i32(lua_State *L, int64_t count)
{
    /* a userdata keeps it collectable if a later allocation raises */
    return lua_newuserdatauv(L, sizeof(int32_t) * (size_t)(count > 0 ? count : 1), 0);
}

/* knn_exact(X, k, metric [, Q]) → indices (1-based), distances. Without Q: X against itself,
 * each point left out of its own list. */
static int l_knn_exact(lua_State *L)
{
    lfm_matrix *X = lfm_checkmatrix(L, 1);
    lua_Integer k = luaL_checkinteger(L, 2);
    int metric = check_metric(L, 3);
    lfm_matrix *Q = lua_isnoneornil(L, 4) ? NULL : lfm_checkmatrix(L, 4);
    int64_t n = X->m.n, d = X->m.d, m = Q ? Q->m.n : n;
    int64_t avail = n - (Q ? 0 : 1);
    if (k < 1 || k > avail) {
        const char *msg = lua_pushfstring(L, "k must be in 1..%I, got %I", (lua_Integer)avail, k);
        return luaL_argerror(L, 2, msg);
    }
    if (Q && Q->m.d != d) {
        const char *msg = lua_pushfstring(L, "queries have %I columns, data has %I", (lua_Integer)Q->m.d, (lua_Integer)d);
        return luaL_argerror(L, 4, msg);
    }
    int32_t *idx = tmp_i32(L, m * k);
    lfm_matrix *D = lfm_newmatrix(L, m, k);
    fm_status s = fm_knn_exact(idx, D->m.data, X->m.data, n, Q ? Q->m.data : X->m.data, m, d, k, metric, Q == NULL);
    if (s != FM_STATUS_OK) return lfm_status_error(L, s, "knn", NULL);
    lfm_matrix *I = lfm_newmatrix(L, m, k);
    for (int64_t e = 0; e < m * k; e++) I->m.data[e] = (float)(idx[e] + 1);
    lua_pushvalue(L, -2);
    return 2;
}

/* knn_nndescent(X, k, metric, seed, n_trees, leaf_size, n_iters, max_candidates, delta, verbose)
 * → indices (1-based), distances, rounds run */
static int l_knn_nndescent(lua_State *L)
{
    lfm_matrix *X = lfm_checkmatrix(L, 1);
    lua_Integer k = luaL_checkinteger(L, 2);
    int metric = check_metric(L, 3);
    fm_knn_nnd_options o;
    fm_knn_nnd_defaults(&o);
    o.seed = (uint64_t)luaL_optinteger(L, 4, 0);
    o.n_trees = (int)luaL_optinteger(L, 5, 0);
    o.leaf_size = (int)luaL_optinteger(L, 6, 0);
    o.n_iters = (int)luaL_optinteger(L, 7, 0);
    o.max_candidates = (int)luaL_optinteger(L, 8, 0);
    o.delta = luaL_optnumber(L, 9, -1.0);
    o.verbose = lua_toboolean(L, 10);
    int64_t n = X->m.n;
    if (k < 1 || k > n - 1) {
        const char *msg = lua_pushfstring(L, "k must be in 1..%I, got %I", (lua_Integer)(n - 1), k);
        return luaL_argerror(L, 2, msg);
    }
    int32_t *idx = tmp_i32(L, n * k);
    float *dist = lua_newuserdatauv(L, sizeof(float) * (size_t)(n * k), 0);
    int iters = 0;
    fm_status s = fm_knn_nndescent(idx, dist, X->m.data, n, X->m.d, k, metric, &o, &iters);
    if (s != FM_STATUS_OK) return lfm_status_error(L, s, "knn", NULL);
    push_graph(L, idx, dist, n, k);
    lua_pushinteger(L, iters);
    return 3;
}

/* knn_recall(A, B): share of the entries of each row of A found in the same row of B */
static int l_knn_recall(lua_State *L)
{
    lfm_matrix *A = lfm_checkmatrix(L, 1);
    lfm_matrix *B = lfm_checkmatrix(L, 2);
    if (A->m.n != B->m.n) return luaL_argerror(L, 2, "row counts differ");
    int64_t n = A->m.n, ka = A->m.d, kb = B->m.d, hit = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t a = 0; a < ka; a++)
            for (int64_t b = 0; b < kb; b++)
                if (A->m.data[i * ka + a] == B->m.data[i * kb + b]) { hit++; break; }
    lua_pushnumber(L, n * ka > 0 ? (double)hit / (double)(n * ka) : 0.0);
    return 1;
}

/* knn_forest(X, n_trees, leaf_size, seed, metric) → table of per-tree leaf sizes (for tests) */
static int l_knn_forest(lua_State *L)
{
    lfm_matrix *X = lfm_checkmatrix(L, 1);
    int T = (int)luaL_checkinteger(L, 2);
    int leaf_size = (int)luaL_checkinteger(L, 3);
    uint64_t seed = (uint64_t)luaL_optinteger(L, 4, 0);
    int metric = check_metric(L, 5);
    int64_t n = X->m.n, d = X->m.d;
    if (T < 1) return luaL_argerror(L, 2, "n_trees must be ≥ 1");
    if (leaf_size < 1) return luaL_argerror(L, 3, "leaf_size must be ≥ 1");
    int32_t *leaf = tmp_i32(L, T * n), *ls = tmp_i32(L, T * (n + 1)), *ord = tmp_i32(L, T * n);
    int32_t *nl = tmp_i32(L, T);
    float *xn = lua_newuserdatauv(L, sizeof(float) * (size_t)(n * d), 0);
    float *sq = lua_newuserdatauv(L, sizeof(float) * (size_t)n, 0);
    fm_knn_prepare(xn, sq, X->m.data, n, d, metric);
    if (metric != FM_KNN_COSINE) memcpy(xn, X->m.data, sizeof(float) * (size_t)(n * d));
    fm_status s = fm_knn_rp_forest(leaf, ls, ord, nl, xn, n, d, T, leaf_size, seed);
    if (s != FM_STATUS_OK) return lfm_status_error(L, s, "knn", NULL);
    lua_createtable(L, T, 0);
    for (int t = 0; t < T; t++) {
        lua_createtable(L, nl[t], 0);
        for (int32_t l = 0; l < nl[t]; l++) {
            lua_pushinteger(L, ls[(int64_t)t * (n + 1) + l + 1] - ls[(int64_t)t * (n + 1) + l]);
            lua_rawseti(L, -2, l + 1);
        }
        lua_rawseti(L, -2, t + 1);
    }
    return 1;
}

static const luaL_Reg knn_funcs[] = {
    {"knn_exact", l_knn_exact},
    {"knn_nndescent", l_knn_nndescent},
    {"knn_recall", l_knn_recall},
    {"knn_forest", l_knn_forest},
    {NULL, NULL}};

void lfm_open_knn(lua_State *L) { lfm_setfuncs(L, knn_funcs); }
