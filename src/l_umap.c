/* l_umap.c — Lua binding of the UMAP core: raw functions umap_* in the core table.
 * lua/fmclust/umap.lua validates the user's options; these functions re-check sizes before any
 * parallel work and raise only after the core returns. kNN indices cross as 1-based float
 * matrices (knn.lua's convention). */
#include "lfm.h"
#include "umap.h"
#include "knn.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------------ option table → struct */

static double opt_num(lua_State *L, int t, const char *k, double def)
{
    lua_getfield(L, t, k);
    double v = lua_isnumber(L, -1) ? lua_tonumber(L, -1) : def;
    lua_pop(L, 1);
    return v;
}

static int opt_bool(lua_State *L, int t, const char *k)
{
    lua_getfield(L, t, k);
    int v = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return v;
}

static int opt_enum(lua_State *L, int t, const char *k, const char *const *names, int def)
{
    lua_getfield(L, t, k);
    int v = def;
    if (lua_type(L, -1) == LUA_TSTRING) {
        const char *s = lua_tostring(L, -1);
        for (int i = 0; names[i]; i++) if (strcmp(s, names[i]) == 0) v = i;
    }
    lua_pop(L, 1);
    return v;
}

static const char *const METRICS[] = {"euclidean", "cosine", NULL};
static const char *const INITS[] = {"spectral", "pca", "random", NULL};
static const char *const KNN_METHODS[] = {"auto", "exact", "nndescent", NULL};
static const char *const GRAPHS[] = {"fuzzy", "mutual", NULL};
static const char *const CONNECT[] = {"nearest", "min_tree", NULL};

static void read_options(lua_State *L, int t, fm_umap_options *o)
{
    luaL_checktype(L, t, LUA_TTABLE);
    fm_umap_defaults(o);
    o->n_neighbors = (int64_t)opt_num(L, t, "n_neighbors", 15);
    o->n_components = (int64_t)opt_num(L, t, "n_components", 2);
    o->metric = opt_enum(L, t, "metric", METRICS, 0);
    o->min_dist = opt_num(L, t, "min_dist", 0.1);
    o->spread = opt_num(L, t, "spread", 1.0);
    o->n_epochs = (int)opt_num(L, t, "n_epochs", 0);
    o->learning_rate = opt_num(L, t, "learning_rate", 1.0);
    o->init = opt_enum(L, t, "init", INITS, 0);
    o->negative_sample_rate = opt_num(L, t, "negative_sample_rate", 5);
    o->repulsion_strength = opt_num(L, t, "repulsion_strength", 1.0);
    o->local_connectivity = opt_num(L, t, "local_connectivity", 1.0);
    o->set_op_mix_ratio = opt_num(L, t, "set_op_mix_ratio", 1.0);
    lua_getfield(L, t, "seed");
    o->seed = (uint64_t)luaL_optinteger(L, -1, 0);
    lua_pop(L, 1);
    o->mutual = opt_enum(L, t, "graph", GRAPHS, 0) == 1;
    o->connectivity = opt_enum(L, t, "connectivity", CONNECT, FM_UMAP_CONNECT_MIN_TREE);
    o->knn_method = opt_enum(L, t, "knn_method", KNN_METHODS, 0);
    o->densmap = opt_bool(L, t, "densmap");
    o->dens_lambda = opt_num(L, t, "dens_lambda", 2.0);
    o->dens_frac = opt_num(L, t, "dens_frac", 0.3);
    o->dens_var_shift = opt_num(L, t, "dens_var_shift", 0.1);
    o->output_dens = opt_bool(L, t, "output_dens");
    o->a = opt_num(L, t, "a", NAN);
    o->b = opt_num(L, t, "b", NAN);
    o->verbose = opt_bool(L, t, "verbose");
}

/* a float matrix of 1-based integers → 0-based int32 (a temporary userdata on the stack);
 * entries < 1 (padding) become −1 */
static int32_t *to_idx(lua_State *L, int arg, const lfm_matrix *I, int64_t n_rows_ref)
{
    int64_t cnt = I->m.n * I->m.d;
    int32_t *out = lua_newuserdatauv(L, sizeof(int32_t) * (size_t)(cnt > 0 ? cnt : 1), 0);
    for (int64_t e = 0; e < cnt; e++) {
        float v = I->m.data[e];
        if (v < 1.0f) { out[e] = -1; continue; }
        if (v != floorf(v) || v > (float)n_rows_ref) {
            const char *msg = lua_pushfstring(L, "index %f at entry %I is not a row number in 1..%I",
                                              (double)v, (lua_Integer)(e + 1), (lua_Integer)n_rows_ref);
            luaL_argerror(L, arg, msg);
        }
        out[e] = (int32_t)v - 1;
    }
    return out;
}

static void push_vec(lua_State *L, const float *v, int64_t n)
{
    if (!v) { lua_pushnil(L); return; }
    lfm_matrix *m = lfm_newmatrix(L, n, 1);
    memcpy(m->m.data, v, sizeof(float) * (size_t)n);
}

/* ------------------------------------------------------------------ fit / transform */

/* umap_fit(X, opts) → embedding, info table, rad_orig (n×1 or nil), rad_emb */
static int l_umap_fit(lua_State *L)
{
    lfm_matrix *X = lfm_checkmatrix(L, 1);
    fm_umap_options o;
    read_options(L, 2, &o);
    int64_t n = X->m.n;
    if (o.n_neighbors < 2 || o.n_neighbors > n) return luaL_argerror(L, 2, "n_neighbors out of range");
    if (o.n_components < 1 || o.n_components > n - 1) return luaL_argerror(L, 2, "n_components out of range");
    fm_umap_result r;
    char err[FM_ERRLEN] = "";
    fm_status s = fm_umap_fit(&r, X->m.data, n, X->m.d, &o, err);
    if (s != FM_STATUS_OK) return lfm_status_error(L, s, "umap", err);
    float *ro = r.rad_orig, *re = r.rad_emb;
    r.rad_orig = r.rad_emb = NULL;
    lfm_pushmat(L, r.embedding);   /* owns the embedding from here */
    lua_createtable(L, 0, 10);
    lua_pushnumber(L, r.a); lua_setfield(L, -2, "a");
    lua_pushnumber(L, r.b); lua_setfield(L, -2, "b");
    lua_pushinteger(L, r.n_epochs); lua_setfield(L, -2, "n_epochs");
    lua_pushstring(L, INITS[r.init_used]); lua_setfield(L, -2, "init_used");
    lua_pushboolean(L, r.spectral_converged); lua_setfield(L, -2, "spectral_converged");
    lua_pushinteger(L, r.n_graph_components); lua_setfield(L, -2, "n_graph_components");
    lua_pushinteger(L, r.n_isolated); lua_setfield(L, -2, "n_isolated");
    lua_pushinteger(L, r.n_edges); lua_setfield(L, -2, "n_edges");
    lua_pushstring(L, KNN_METHODS[r.knn_method_used]); lua_setfield(L, -2, "knn_method");
    /* the radii: copied into matrices, then the core's buffers freed (a raise in between would
     * leak only on allocation failure) */
    push_vec(L, ro, n);
    push_vec(L, re, n);
    fm_free(ro);
    fm_free(re);
    return 4;
}

/* umap_transform(X, E, Q, opts) → embedding of Q (opts must hold a and b) */
static int l_umap_transform(lua_State *L)
{
    lfm_matrix *X = lfm_checkmatrix(L, 1);
    lfm_matrix *E = lfm_checkmatrix(L, 2);
    lfm_matrix *Q = lfm_checkmatrix(L, 3);
    fm_umap_options o;
    read_options(L, 4, &o);
    if (E->m.n != X->m.n) return luaL_argerror(L, 2, "embedding and data row counts differ");
    if (Q->m.d != X->m.d) return luaL_argerror(L, 3, "new points have a different number of columns");
    if (isnan(o.a) || isnan(o.b)) return luaL_argerror(L, 4, "a and b are needed");
    if (o.n_neighbors < 1) return luaL_argerror(L, 4, "n_neighbors out of range");
    lfm_matrix *out = lfm_newmatrix(L, Q->m.n, E->m.d);
    fm_status s = fm_umap_transform(out->m.data, X->m.data, E->m.data, Q->m.data, X->m.n, Q->m.n, X->m.d,
                                    E->m.d, &o);
    if (s != FM_STATUS_OK) return lfm_status_error(L, s, "transform", NULL);
    return 1;
}

/* ------------------------------------------------------------------ stages (for tests) */

/* umap_smooth_knn_dist(D, k_target, local_connectivity, bandwidth) → sigma (n×1), rho (n×1) */
static int l_umap_smooth(lua_State *L)
{
    lfm_matrix *D = lfm_checkmatrix(L, 1);
    double kt = luaL_checknumber(L, 2), lc = luaL_optnumber(L, 3, 1.0), bw = luaL_optnumber(L, 4, 1.0);
    int64_t n = D->m.n, k = D->m.d;
    lfm_matrix *S = lfm_newmatrix(L, n, 1);
    lfm_matrix *R = lfm_newmatrix(L, n, 1);
    fm_status s = fm_umap_smooth_knn_dist(S->m.data, R->m.data, D->m.data, n, k, kt, lc, bw);
    if (s != FM_STATUS_OK) return lfm_status_error(L, s, "smooth_knn_dist", NULL);
    return 2;
}

/* umap_membership(I, D, sigma, rho) → V (n×k); I 1-based, column entries equal to the row are
 * the point itself */
static int l_umap_membership(lua_State *L)
{
    lfm_matrix *I = lfm_checkmatrix(L, 1), *D = lfm_checkmatrix(L, 2);
    lfm_matrix *S = lfm_checkmatrix(L, 3), *R = lfm_checkmatrix(L, 4);
    int64_t n = I->m.n, k = I->m.d;
    if (D->m.n != n || D->m.d != k) return luaL_argerror(L, 2, "shape differs from the indices");
    if (S->m.n * S->m.d != n || R->m.n * R->m.d != n) return luaL_argerror(L, 3, "one sigma and rho per row expected");
    int32_t *idx = to_idx(L, 1, I, INT32_MAX);
    lfm_matrix *V = lfm_newmatrix(L, n, k);
    fm_umap_membership(V->m.data, idx, D->m.data, S->m.data, R->m.data, n, k, 1);
    return 1;
}

static fm_status graph_from(lua_State *L, fm_umap_graph *g, int ai, int av, double mix)
{
    lfm_matrix *I = lfm_checkmatrix(L, ai), *V = lfm_checkmatrix(L, av);
    if (V->m.n != I->m.n || V->m.d != I->m.d) luaL_argerror(L, av, "shape differs from the indices");
    int32_t *idx = to_idx(L, ai, I, I->m.n);
    return fm_umap_fuzzy_union(g, idx, V->m.data, I->m.n, I->m.d, mix);
}

/* umap_fuzzy_union(I, V, mix) → the dense n×n union (tests; n ≤ 4000) */
static int l_umap_union(lua_State *L)
{
    lfm_matrix *I = lfm_checkmatrix(L, 1);
    double mix = luaL_optnumber(L, 3, 1.0);
    int64_t n = I->m.n;
    if (n > 4000) return luaL_argerror(L, 1, "dense output limited to 4000 rows");
    lfm_matrix *W = lfm_newmatrix(L, n, n);
    int wi = lua_gettop(L);
    fm_umap_graph g;
    fm_status s = graph_from(L, &g, 1, 2, mix);
    if (s != FM_STATUS_OK) return lfm_status_error(L, s, "fuzzy_union", NULL);
    for (int64_t i = 0; i < n; i++)
        for (int64_t e = g.rowptr[i]; e < g.rowptr[i + 1]; e++) W->m.data[i * n + g.col[e]] = g.val[e];
    fm_umap_graph_free(&g);
    lua_pushvalue(L, wi);
    return 1;
}

/* umap_spectral(I, V, dim, seed, solver) → emb (n×dim), converged, n_components */
static int l_umap_spectral(lua_State *L)
{
    lua_Integer dim = luaL_checkinteger(L, 3);
    uint64_t seed = (uint64_t)luaL_optinteger(L, 4, 0);
    static const char *const solvers[] = {"auto", "dense", "lanczos", NULL};
    int solver = luaL_checkoption(L, 5, "auto", solvers);
    lfm_matrix *I = lfm_checkmatrix(L, 1);
    if (dim < 1 || dim > I->m.n - 2) return luaL_argerror(L, 3, "dim out of range");
    fm_umap_graph g;
    fm_status s = graph_from(L, &g, 1, 2, 1.0);
    if (s != FM_STATUS_OK) return lfm_status_error(L, s, "spectral", NULL);
    int32_t *comp = fm_alloc((size_t)g.n, sizeof(int32_t));
    int64_t nc = 0;
    if (!comp) { fm_umap_graph_free(&g); return luaL_error(L, "spectral: out of memory"); }
    fm_umap_components(comp, &nc, &g);
    fm_free(comp);
    fm_mat e = {0, 0, NULL};
    if (fm_mat_init(&e, g.n, dim) != FM_STATUS_OK) { fm_umap_graph_free(&g); return luaL_error(L, "spectral: out of memory"); }
    int conv = 0;
    s = nc == 1 ? fm_umap_spectral_init(e.data, &conv, &g, dim, seed, solver, 0) : FM_STATUS_OK;
    fm_umap_graph_free(&g);
    if (s != FM_STATUS_OK) { fm_mat_free(&e); return lfm_status_error(L, s, "spectral", NULL); }
    lfm_pushmat(L, e);
    lua_pushboolean(L, conv);
    lua_pushinteger(L, nc);
    return 3;
}

/* umap_find_ab(spread, min_dist) → a, b */
static int l_umap_find_ab(lua_State *L)
{
    double a, b;
    fm_status s = fm_umap_find_ab(&a, &b, luaL_checknumber(L, 1), luaL_checknumber(L, 2));
    if (s != FM_STATUS_OK) return lfm_status_error(L, s, "find_ab", NULL);
    lua_pushnumber(L, a);
    lua_pushnumber(L, b);
    return 2;
}

/* umap_mutual_knn(I, D [, connectivity]) → I2, D2 (column 1 the point itself), n_isolated */
static int l_umap_mutual(lua_State *L)
{
    lfm_matrix *I = lfm_checkmatrix(L, 1), *D = lfm_checkmatrix(L, 2);
    int conn = luaL_checkoption(L, 3, "min_tree", CONNECT);
    lua_settop(L, 2);   /* the temporaries below go above the arguments */
    int64_t n = I->m.n, k = I->m.d;
    if (D->m.n != n || D->m.d != k) return luaL_argerror(L, 2, "shape differs from the indices");
    int32_t *idx = to_idx(L, 1, I, n);
    int32_t *oi = lua_newuserdatauv(L, sizeof(int32_t) * (size_t)(n * k > 0 ? n * k : 1), 0);
    lfm_matrix *OD = lfm_newmatrix(L, n, k);
    int64_t iso = 0;
    fm_status s = fm_umap_mutual_knn(oi, OD->m.data, idx, D->m.data, n, k, conn, &iso);
    if (s != FM_STATUS_OK) return lfm_status_error(L, s, "mutual_knn", NULL);
    lfm_matrix *OI = lfm_newmatrix(L, n, k);
    for (int64_t e = 0; e < n * k; e++) OI->m.data[e] = (float)(oi[e] + 1);
    lua_pushvalue(L, -2);
    lua_pushinteger(L, iso);
    return 3;
}

/* ------------------------------------------------------------------ save / load */

#define UMAP_MAGIC "FMCLUST-UMAP-1\n"

static int write_mat(FILE *f, const fm_mat *m)
{
    int64_t hd[2] = {m->n, m->d};
    if (fwrite(hd, sizeof hd, 1, f) != 1) return -1;
    size_t cnt = (size_t)(m->n * m->d);
    return cnt == 0 || fwrite(m->data, sizeof(float), cnt, f) == cnt ? 0 : -1;
}

/* umap_save(path, header, X, E) */
static int l_umap_save(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    size_t hl;
    const char *hdr = luaL_checklstring(L, 2, &hl);
    lfm_matrix *X = lfm_checkmatrix(L, 3), *E = lfm_checkmatrix(L, 4);
    FILE *f = fopen(path, "wb");
    if (!f) return luaL_error(L, "save: cannot open '%s' for writing", path);
    uint64_t len = hl;
    int bad = fwrite(UMAP_MAGIC, 1, sizeof UMAP_MAGIC - 1, f) != sizeof UMAP_MAGIC - 1 ||
              fwrite(&len, sizeof len, 1, f) != 1 || (hl && fwrite(hdr, 1, hl, f) != hl) ||
              write_mat(f, &X->m) || write_mat(f, &E->m);
    bad |= fclose(f) != 0;
    if (bad) return luaL_error(L, "save: writing '%s' failed", path);
    return 0;
}

static int read_mat(lua_State *L, FILE *f, const char *path)
{
    int64_t hd[2];
    if (fread(hd, sizeof hd, 1, f) != 1 || hd[0] < 0 || hd[1] < 0 || hd[0] > ((int64_t)1 << 40) ||
        hd[1] > ((int64_t)1 << 24))
        return -1;
    lfm_matrix *m = lfm_newmatrix(L, hd[0], hd[1]);
    size_t cnt = (size_t)(hd[0] * hd[1]);
    if (cnt && fread(m->m.data, sizeof(float), cnt, f) != cnt) return -1;
    (void)path;
    return 0;
}

/* umap_load(path) → header, X, E; or nil, message when the file cannot be read */
static int l_umap_load(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    FILE *f = fopen(path, "rb");
    if (!f) {
        lua_pushnil(L);
        lua_pushfstring(L, "cannot open '%s'", path);
        return 2;
    }
    char magic[sizeof UMAP_MAGIC - 1];
    uint64_t len = 0;
    if (fread(magic, 1, sizeof magic, f) != sizeof magic || memcmp(magic, UMAP_MAGIC, sizeof magic) != 0 ||
        fread(&len, sizeof len, 1, f) != 1 || len > (1u << 24)) {
        fclose(f);
        lua_pushnil(L);
        lua_pushfstring(L, "'%s' is not an fmclust UMAP model", path);
        return 2;
    }
    luaL_Buffer b;
    char *p = luaL_buffinitsize(L, &b, (size_t)len);
    if (len && fread(p, 1, (size_t)len, f) != len) { fclose(f); return luaL_error(L, "load: '%s' is truncated", path); }
    luaL_pushresultsize(&b, (size_t)len);
    if (read_mat(L, f, path) || read_mat(L, f, path)) {
        fclose(f);
        return luaL_error(L, "load: '%s' is truncated or corrupt", path);
    }
    fclose(f);
    return 3;
}

static const luaL_Reg umap_funcs[] = {
    {"umap_fit", l_umap_fit},
    {"umap_transform", l_umap_transform},
    {"umap_smooth_knn_dist", l_umap_smooth},
    {"umap_membership", l_umap_membership},
    {"umap_fuzzy_union", l_umap_union},
    {"umap_spectral", l_umap_spectral},
    {"umap_find_ab", l_umap_find_ab},
    {"umap_mutual_knn", l_umap_mutual},
    {"umap_save", l_umap_save},
    {"umap_load", l_umap_load},
    {NULL, NULL}};

void lfm_open_umap(lua_State *L) { lfm_setfuncs(L, umap_funcs); }
