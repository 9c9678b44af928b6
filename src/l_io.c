/* l_io.c — bindings for the file readers of io.c, and vstack (used to build the "all" split).
 * Each reader runs to completion in C and returns a status; the Lua error is raised after. */
#include "lfm.h"

#include <string.h>

/* idx_images(path [, scale = 1]) → matrix n × rows·cols */
static int l_idx_images(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    float scale = (float)luaL_optnumber(L, 2, 1.0);
    char err[FM_ERRLEN] = "";
    fm_mat m;
    fm_status s = fm_idx_read_images(&m, path, scale, err);
    if (s != FM_STATUS_OK) return lfm_status_error(L, s, "idx_images", err);
    lfm_pushmat(L, m);
    return 1;
}

/* idx_labels(path) → labels */
static int l_idx_labels(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    char err[FM_ERRLEN] = "";
    int32_t *y;
    int64_t n;
    fm_status s = fm_idx_read_labels(&y, &n, path, err);
    if (s != FM_STATUS_OK) return lfm_status_error(L, s, "idx_labels", err);
    lfm_pushlabels(L, y, n);
    return 1;
}

/* npy_load(path) → matrix (1-D arrays become one column) */
static int l_npy_load(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    char err[FM_ERRLEN] = "";
    fm_mat m;
    fm_status s = fm_npy_read_mat(&m, path, err);
    if (s != FM_STATUS_OK) return lfm_status_error(L, s, "npy_load", err);
    lfm_pushmat(L, m);
    return 1;
}

/* npy_load_labels(path) → labels (integer, or integral float, 1-D array) */
static int l_npy_load_labels(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    char err[FM_ERRLEN] = "";
    int32_t *y;
    int64_t n;
    fm_status s = fm_npy_read_i32(&y, &n, path, err);
    if (s != FM_STATUS_OK) return lfm_status_error(L, s, "npy_load_labels", err);
    lfm_pushlabels(L, y, n);
    return 1;
}

/* csv_load(path [, header]) with header nil = detect, true = present, false = absent */
static int l_csv_load(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    int header = -1;
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TBOOLEAN);
        header = lua_toboolean(L, 2);
    }
    char err[FM_ERRLEN] = "";
    fm_mat m;
    fm_status s = fm_csv_read(&m, path, header, err);
    if (s != FM_STATUS_OK) return lfm_status_error(L, s, "csv_load", err);
    lfm_pushmat(L, m);
    return 1;
}

/* vstack(A, B, …): the rows of all matrices (same column count), or all label vectors, in order */
static int l_vstack(lua_State *L)
{
    int k = lua_gettop(L);
    luaL_argcheck(L, k >= 1, 1, "matrix or labels expected, got no value");
    if (luaL_testudata(L, 1, LFM_LABELS)) {
        int64_t n = 0;
        for (int i = 1; i <= k; i++) n += lfm_checklabels(L, i)->n;
        lfm_labels *out = lfm_newlabels(L, n);
        int64_t at = 0;
        for (int i = 1; i <= k; i++) {
            lfm_labels *y = lfm_checklabels(L, i);
            if (y->n) memcpy(out->data + at, y->data, sizeof(int32_t) * (size_t)y->n);
            at += y->n;
        }
        return 1;
    }
    int64_t n = 0, d = lfm_checkmatrix(L, 1)->m.d;
    for (int i = 1; i <= k; i++) {
        lfm_matrix *m = lfm_checkmatrix(L, i);
        if (m->m.d != d) {
            const char *msg = lua_pushfstring(L, "matrix has %I columns, matrix #1 has %I",
                                              (lua_Integer)m->m.d, (lua_Integer)d);
            return luaL_argerror(L, i, msg);
        }
        n += m->m.n;
    }
    lfm_matrix *out = lfm_newmatrix(L, n, d);
    int64_t at = 0;
    for (int i = 1; i <= k; i++) {
        const fm_mat *m = &lfm_checkmatrix(L, i)->m;
        if (m->n) memcpy(out->m.data + at * d, m->data, sizeof(float) * (size_t)(m->n * d));
        at += m->n;
    }
    return 1;
}

static const luaL_Reg io_funcs[] = {
    {"idx_images", l_idx_images}, {"idx_labels", l_idx_labels},
    {"npy_load", l_npy_load},     {"npy_load_labels", l_npy_load_labels},
    {"csv_load", l_csv_load},     {"vstack", l_vstack},
    {NULL, NULL}};

void lfm_open_io(lua_State *L) { lfm_setfuncs(L, io_funcs); }
