/* lfmclust.c — luaopen_fmclust_core: the matrix and labels userdata, shared binding helpers,
 * threads/BLAS information, random fills. Heavy loops live in the core; this file checks
 * arguments first, calls the core, and raises only after it returns. */
#include "lfm.h"

#include <math.h>
#include <string.h>

/* ------------------------------------------------------------------ shared helpers */

int lfm_status_error(lua_State *L, fm_status s, const char *what, const char *err)
{
    if (err && *err) return luaL_error(L, "%s: %s", what, err);
    return luaL_error(L, "%s: %s", what, fm_status_str(s));
}

void lfm_setfuncs(lua_State *L, const luaL_Reg *fns) { luaL_setfuncs(L, fns, 0); }

lfm_matrix *lfm_tomatrix(lua_State *L, int idx)
{
    lfm_matrix *m = luaL_testudata(L, idx, LFM_MATRIX);
    return (m && m->m.data) ? m : NULL;
}

lfm_matrix *lfm_checkmatrix(lua_State *L, int idx)
{
    lfm_matrix *m = luaL_testudata(L, idx, LFM_MATRIX);
    if (!m) {
        const char *msg = lua_pushfstring(L, "fmclust.matrix expected, got %s", luaL_typename(L, idx));
        luaL_argerror(L, idx, msg);
    }
    if (!m->m.data) luaL_argerror(L, idx, "matrix is closed");
    return m;
}

lfm_labels *lfm_checklabels(lua_State *L, int idx)
{
    lfm_labels *y = luaL_testudata(L, idx, LFM_LABELS);
    if (!y) {
        const char *msg = lua_pushfstring(L, "fmclust.labels expected, got %s", luaL_typename(L, idx));
        luaL_argerror(L, idx, msg);
    }
    if (!y->data) luaL_argerror(L, idx, "labels are closed");
    return y;
}

lfm_matrix *lfm_newmatrix(lua_State *L, int64_t n, int64_t d)
{
    /* liolib's order: userdata with no memory, metatable, then allocate — __gc is safe either way */
    lfm_matrix *m = lua_newuserdatauv(L, sizeof *m, 0);
    m->m.n = m->m.d = 0;
    m->m.data = NULL;
    luaL_setmetatable(L, LFM_MATRIX);
    if (n < 0 || d < 0) luaL_error(L, "matrix: negative size %I×%I", (lua_Integer)n, (lua_Integer)d);
    if (fm_mat_init(&m->m, n, d) != FM_STATUS_OK)
        luaL_error(L, "matrix: cannot allocate %I×%I floats", (lua_Integer)n, (lua_Integer)d);
    return m;
}

lfm_matrix *lfm_pushmat(lua_State *L, fm_mat src)
{
    lfm_matrix *m = lua_newuserdatauv(L, sizeof *m, 0);
    m->m = src;   /* owned from here: the metatable's __gc frees it even if setmetatable raised */
    luaL_setmetatable(L, LFM_MATRIX);
    return m;
}

lfm_labels *lfm_newlabels(lua_State *L, int64_t n)
{
    lfm_labels *y = lua_newuserdatauv(L, sizeof *y, 0);
    y->n = 0;
    y->data = NULL;
    luaL_setmetatable(L, LFM_LABELS);
    if (n < 0) luaL_error(L, "labels: negative size");
    y->data = fm_alloc((size_t)(n > 0 ? n : 1), sizeof(int32_t));
    if (!y->data) luaL_error(L, "labels: cannot allocate %I entries", (lua_Integer)n);
    y->n = n;
    return y;
}

lfm_labels *lfm_pushlabels(lua_State *L, int32_t *data, int64_t n)
{
    lfm_labels *y = lua_newuserdatauv(L, sizeof *y, 0);
    y->data = data;
    y->n = n;
    luaL_setmetatable(L, LFM_LABELS);
    return y;
}

/* an integer that fits int32, or raise naming the argument and position */
static int32_t check_i32_entry(lua_State *L, int arg, lua_Integer pos)
{
    int isnum = 0;
    lua_Integer v = lua_tointegerx(L, -1, &isnum);
    if (!isnum || v < INT32_MIN || v > INT32_MAX) {
        const char *msg = lua_pushfstring(L, "entry %I is not an int32 integer (%s)", pos,
                                          luaL_typename(L, -1));
        luaL_argerror(L, arg, msg);
    }
    return (int32_t)v;
}

const int32_t *lfm_checklabelarg(lua_State *L, int idx, int64_t *n)
{
    idx = lua_absindex(L, idx);
    lfm_labels *y = luaL_testudata(L, idx, LFM_LABELS);
    if (y) {
        if (!y->data) luaL_argerror(L, idx, "labels are closed");
        *n = y->n;
        return y->data;
    }
    if (!lua_istable(L, idx)) {
        const char *msg = lua_pushfstring(L, "labels or table of integers expected, got %s",
                                          luaL_typename(L, idx));
        luaL_argerror(L, idx, msg);
    }
    lua_Integer len = luaL_len(L, idx);
    lfm_labels *t = lfm_newlabels(L, len);
    for (lua_Integer i = 1; i <= len; i++) {
        lua_geti(L, idx, i);
        t->data[i - 1] = check_i32_entry(L, idx, i);
        lua_pop(L, 1);
    }
    *n = len;
    return t->data;
}

/* a row index (1-based at the Lua surface) checked against n */
static int64_t check_index(lua_State *L, int arg, lua_Integer i, int64_t n, const char *what)
{
    if (i < 1 || i > n) {
        const char *msg = lua_pushfstring(L, "%s index %I out of range 1..%I", what, i, (lua_Integer)n);
        luaL_argerror(L, arg, msg);
    }
    return (int64_t)(i - 1);
}

/* ------------------------------------------------------------------ matrix */

static int mat_gc(lua_State *L)
{
    lfm_matrix *m = luaL_checkudata(L, 1, LFM_MATRIX);
    fm_mat_free(&m->m);   /* idempotent: __close then __gc is fine */
    return 0;
}

static int mat_len(lua_State *L)
{
    lua_pushinteger(L, lfm_checkmatrix(L, 1)->m.n);
    return 1;
}

static int mat_shape(lua_State *L)
{
    lfm_matrix *m = lfm_checkmatrix(L, 1);
    lua_pushinteger(L, m->m.n);
    lua_pushinteger(L, m->m.d);
    return 2;
}

static int mat_tostring(lua_State *L)
{
    lfm_matrix *m = luaL_checkudata(L, 1, LFM_MATRIX);
    if (!m->m.data) { lua_pushliteral(L, "fmclust.matrix (closed)"); return 1; }
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    lua_pushfstring(L, "fmclust.matrix %I×%I", (lua_Integer)m->m.n, (lua_Integer)m->m.d);
    luaL_addvalue(&b);
    /* a short preview, like numpy: up to 3 rows of up to 6 values */
    for (int64_t i = 0; i < m->m.n && i < 3; i++) {
        luaL_addstring(&b, "\n  [");
        for (int64_t j = 0; j < m->m.d && j < 6; j++) {
            char num[32];
            snprintf(num, sizeof num, "%s%.4g", j ? ", " : "", (double)m->m.data[i * m->m.d + j]);
            luaL_addstring(&b, num);
        }
        luaL_addstring(&b, m->m.d > 6 ? ", …]" : "]");
    }
    if (m->m.n > 3) luaL_addstring(&b, "\n  …");
    luaL_pushresult(&b);
    return 1;
}

static int mat_get(lua_State *L)
{
    lfm_matrix *m = lfm_checkmatrix(L, 1);
    int64_t i = check_index(L, 2, luaL_checkinteger(L, 2), m->m.n, "row");
    int64_t j = check_index(L, 3, luaL_checkinteger(L, 3), m->m.d, "column");
    lua_pushnumber(L, m->m.data[i * m->m.d + j]);
    return 1;
}

static int mat_set(lua_State *L)
{
    lfm_matrix *m = lfm_checkmatrix(L, 1);
    int64_t i = check_index(L, 2, luaL_checkinteger(L, 2), m->m.n, "row");
    int64_t j = check_index(L, 3, luaL_checkinteger(L, 3), m->m.d, "column");
    m->m.data[i * m->m.d + j] = (float)luaL_checknumber(L, 4);
    return 0;
}

static void copy_rows(lfm_matrix *dst, const lfm_matrix *src, const int64_t *rows, int64_t k)
{
    int64_t d = src->m.d;
    #pragma omp parallel for schedule(static) if (k * d > 65536)
    for (int64_t r = 0; r < k; r++)
        memcpy(dst->m.data + r * d, src->m.data + rows[r] * d, (size_t)d * sizeof(float));
}

/* X:rows(indices) with a table or labels of 1-based row numbers; X:rows(labels, value) keeps the
 * rows whose label equals value. */
static int mat_rows(lua_State *L)
{
    lfm_matrix *m = lfm_checkmatrix(L, 1);
    int64_t k = 0;
    int64_t *rows;
    if (!lua_isnoneornil(L, 3)) {
        lfm_labels *y = lfm_checklabels(L, 2);
        lua_Integer v = luaL_checkinteger(L, 3);
        if (y->n != m->m.n) {
            const char *msg = lua_pushfstring(L, "labels have %I entries, matrix has %I rows",
                                              (lua_Integer)y->n, (lua_Integer)m->m.n);
            return luaL_argerror(L, 2, msg);
        }
        rows = lua_newuserdatauv(L, sizeof(int64_t) * (size_t)(y->n ? y->n : 1), 0);
        for (int64_t i = 0; i < y->n; i++)
            if (y->data[i] == v) rows[k++] = i;
    } else {
        int64_t n = 0;
        const int32_t *idx = lfm_checklabelarg(L, 2, &n);
        rows = lua_newuserdatauv(L, sizeof(int64_t) * (size_t)(n ? n : 1), 0);
        for (int64_t r = 0; r < n; r++) {
            if (idx[r] < 1 || idx[r] > m->m.n) {
                const char *msg = lua_pushfstring(L, "index %d at position %I out of range 1..%I",
                                                  (int)idx[r], (lua_Integer)(r + 1), (lua_Integer)m->m.n);
                return luaL_argerror(L, 2, msg);
            }
            rows[r] = idx[r] - 1;
        }
        k = n;
    }
    lfm_matrix *out = lfm_newmatrix(L, k, m->m.d);
    copy_rows(out, m, rows, k);
    return 1;
}

/* X:slice(i0, i1): rows i0..i1 inclusive (1-based, like string.sub; negative counts from the end) */
static int mat_slice(lua_State *L)
{
    lfm_matrix *m = lfm_checkmatrix(L, 1);
    lua_Integer n = m->m.n;
    lua_Integer i0 = luaL_checkinteger(L, 2);
    lua_Integer i1 = luaL_optinteger(L, 3, n);
    if (i0 < 0) i0 = n + i0 + 1;
    if (i1 < 0) i1 = n + i1 + 1;
    if (i0 < 1 || i0 > n + 1) {
        const char *msg = lua_pushfstring(L, "start %I out of range 1..%I", i0, n);
        return luaL_argerror(L, 2, msg);
    }
    if (i1 < i0 - 1 || i1 > n) {
        const char *msg = lua_pushfstring(L, "end %I out of range %I..%I", i1, i0 - 1, n);
        return luaL_argerror(L, 3, msg);
    }
    int64_t k = i1 - i0 + 1;
    lfm_matrix *out = lfm_newmatrix(L, k, m->m.d);
    if (k > 0) memcpy(out->m.data, m->m.data + (i0 - 1) * m->m.d, sizeof(float) * (size_t)(k * m->m.d));
    return 1;
}

/* X:cols(j0, j1): columns j0..j1 inclusive */
static int mat_cols(lua_State *L)
{
    lfm_matrix *m = lfm_checkmatrix(L, 1);
    lua_Integer d = m->m.d;
    lua_Integer j0 = luaL_checkinteger(L, 2);
    lua_Integer j1 = luaL_optinteger(L, 3, j0);
    if (j0 < 1 || j0 > d) {
        const char *msg = lua_pushfstring(L, "start column %I out of range 1..%I", j0, d);
        return luaL_argerror(L, 2, msg);
    }
    if (j1 < j0 || j1 > d) {
        const char *msg = lua_pushfstring(L, "end column %I out of range %I..%I", j1, j0, d);
        return luaL_argerror(L, 3, msg);
    }
    int64_t w = j1 - j0 + 1, n = m->m.n;
    lfm_matrix *out = lfm_newmatrix(L, n, w);
    #pragma omp parallel for schedule(static) if (n * w > 65536)
    for (int64_t i = 0; i < n; i++)
        memcpy(out->m.data + i * w, m->m.data + i * d + (j0 - 1), sizeof(float) * (size_t)w);
    return 1;
}

static int mat_copy(lua_State *L)
{
    lfm_matrix *m = lfm_checkmatrix(L, 1);
    lfm_matrix *out = lfm_newmatrix(L, m->m.n, m->m.d);
    memcpy(out->m.data, m->m.data, sizeof(float) * (size_t)(m->m.n * m->m.d));
    return 1;
}

static int mat_to_table(lua_State *L)
{
    lfm_matrix *m = lfm_checkmatrix(L, 1);
    lua_createtable(L, (int)(m->m.n < INT32_MAX ? m->m.n : 0), 0);
    for (int64_t i = 0; i < m->m.n; i++) {
        lua_createtable(L, (int)m->m.d, 0);
        for (int64_t j = 0; j < m->m.d; j++) {
            lua_pushnumber(L, m->m.data[i * m->m.d + j]);
            lua_rawseti(L, -2, j + 1);
        }
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static int mat_save_npy(lua_State *L)
{
    lfm_matrix *m = lfm_checkmatrix(L, 1);
    const char *path = luaL_checkstring(L, 2);
    char err[FM_ERRLEN] = "";
    fm_status s = fm_npy_write_f32(path, m->m.data, m->m.n, m->m.d, 2, err);
    if (s != FM_STATUS_OK) return lfm_status_error(L, s, "save_npy", err);
    lua_settop(L, 1);
    return 1;
}

static int mat_save_csv(lua_State *L)
{
    lfm_matrix *m = lfm_checkmatrix(L, 1);
    const char *path = luaL_checkstring(L, 2);
    char err[FM_ERRLEN] = "";
    fm_status s = fm_csv_write(path, m->m.data, m->m.n, m->m.d, err);
    if (s != FM_STATUS_OK) return lfm_status_error(L, s, "save_csv", err);
    lua_settop(L, 1);
    return 1;
}

static int col_stat(lua_State *L, int want_std)
{
    lfm_matrix *m = lfm_checkmatrix(L, 1);
    if (m->m.n == 0) return luaL_argerror(L, 1, "matrix has no rows");
    lfm_matrix *out = lfm_newmatrix(L, 1, m->m.d);
    fm_status s = want_std ? fm_col_stats(NULL, out->m.data, m->m.data, m->m.n, m->m.d)
                           : fm_col_stats(out->m.data, NULL, m->m.data, m->m.n, m->m.d);
    if (s != FM_STATUS_OK) return lfm_status_error(L, s, want_std ? "col_stds" : "col_means", NULL);
    return 1;
}
static int mat_col_means(lua_State *L) { return col_stat(L, 0); }
static int mat_col_stds(lua_State *L) { return col_stat(L, 1); }

/* A:matmul(B [, transpose_a, transpose_b]) = op(A) · op(B) through cblas_sgemm */
static int mat_matmul(lua_State *L)
{
    lfm_matrix *a = lfm_checkmatrix(L, 1);
    lfm_matrix *b = lfm_checkmatrix(L, 2);
    int ta = lua_toboolean(L, 3), tb = lua_toboolean(L, 4);
    int64_t m = ta ? a->m.d : a->m.n, k = ta ? a->m.n : a->m.d;
    int64_t kb = tb ? b->m.d : b->m.n, n = tb ? b->m.n : b->m.d;
    if (k != kb) {
        const char *msg = lua_pushfstring(L, "inner sizes differ (%I and %I)", (lua_Integer)k, (lua_Integer)kb);
        return luaL_argerror(L, 2, msg);
    }
    lfm_matrix *c = lfm_newmatrix(L, m, n);
    fm_gemm(c->m.data, a->m.data, b->m.data, m, n, k, ta, tb, 1.0f, 0.0f);
    return 1;
}

/* X:reshape(n, d): a copy with the same values in a new shape (n·d must not change) */
static int mat_reshape(lua_State *L)
{
    lfm_matrix *m = lfm_checkmatrix(L, 1);
    lua_Integer n = luaL_checkinteger(L, 2), d = luaL_checkinteger(L, 3);
    if (n < 0 || d < 0 || (d != 0 && n > INT64_MAX / d) || n * d != m->m.n * m->m.d) {
        const char *msg = lua_pushfstring(L, "cannot reshape %I×%I into %I×%I", (lua_Integer)m->m.n,
                                          (lua_Integer)m->m.d, n, d);
        return luaL_argerror(L, 2, msg);
    }
    lfm_matrix *out = lfm_newmatrix(L, n, d);
    memcpy(out->m.data, m->m.data, sizeof(float) * (size_t)(n * d));
    return 1;
}

static int mat_has_nonfinite(lua_State *L)
{
    lfm_matrix *m = lfm_checkmatrix(L, 1);
    lua_pushboolean(L, fm_has_nonfinite(m->m.data, m->m.n * m->m.d));
    return 1;
}

static int mat_close(lua_State *L) { return mat_gc(L); }

static const luaL_Reg mat_methods[] = {
    {"shape", mat_shape},       {"get", mat_get},           {"set", mat_set},
    {"rows", mat_rows},         {"slice", mat_slice},       {"cols", mat_cols},
    {"copy", mat_copy},         {"to_table", mat_to_table}, {"save_npy", mat_save_npy},
    {"save_csv", mat_save_csv}, {"col_means", mat_col_means}, {"col_stds", mat_col_stds},
    {"matmul", mat_matmul},     {"reshape", mat_reshape},   {"has_nonfinite", mat_has_nonfinite}, {"close", mat_close},
    {NULL, NULL}};

static const luaL_Reg mat_meta[] = {
    {"__gc", mat_gc}, {"__close", mat_gc}, {"__len", mat_len}, {"__tostring", mat_tostring},
    {NULL, NULL}};

/* core.matrix_from_table({{...}, {...}}) */
static int l_matrix_from_table(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_Integer n = luaL_len(L, 1);
    lua_Integer d = 0;
    if (n > 0) {
        lua_geti(L, 1, 1);
        if (!lua_istable(L, -1)) return luaL_argerror(L, 1, "row 1 is not a table");
        d = luaL_len(L, -1);
        lua_pop(L, 1);
    }
    lfm_matrix *m = lfm_newmatrix(L, n, d);
    for (lua_Integer i = 1; i <= n; i++) {
        if (lua_geti(L, 1, i) != LUA_TTABLE) {
            const char *msg = lua_pushfstring(L, "row %I is not a table", i);
            return luaL_argerror(L, 1, msg);
        }
        if (luaL_len(L, -1) != d) {
            const char *msg = lua_pushfstring(L, "row %I has %I values, row 1 has %I", i, luaL_len(L, -1), d);
            return luaL_argerror(L, 1, msg);
        }
        for (lua_Integer j = 1; j <= d; j++) {
            lua_geti(L, -1, j);
            int isnum = 0;
            lua_Number v = lua_tonumberx(L, -1, &isnum);
            if (!isnum) {
                const char *msg = lua_pushfstring(L, "value [%I][%I] is not a number (%s)", i, j,
                                                  luaL_typename(L, -2));
                return luaL_argerror(L, 1, msg);
            }
            m->m.data[(i - 1) * d + (j - 1)] = (float)v;
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
    return 1;
}

static int l_matrix_zeros(lua_State *L)
{
    lua_Integer n = luaL_checkinteger(L, 1), d = luaL_checkinteger(L, 2);
    luaL_argcheck(L, n >= 0, 1, "number of rows must be ≥ 0");
    luaL_argcheck(L, d >= 0, 2, "number of columns must be ≥ 0");
    lfm_newmatrix(L, n, d);
    return 1;
}

/* core.random_fill(n, d, seed, dist) with dist 0 uniform [0,1), 1 standard normal */
static int l_random_fill(lua_State *L)
{
    lua_Integer n = luaL_checkinteger(L, 1), d = luaL_checkinteger(L, 2);
    lua_Integer seed = luaL_checkinteger(L, 3);
    int dist = (int)luaL_checkinteger(L, 4);
    luaL_argcheck(L, n >= 0, 1, "number of rows must be ≥ 0");
    luaL_argcheck(L, d >= 0, 2, "number of columns must be ≥ 0");
    lfm_matrix *m = lfm_newmatrix(L, n, d);
    fm_rng_fill(m->m.data, n * d, (uint64_t)seed, 0, dist);
    return 1;
}

/* core.permutation(n, seed) → labels holding 1..n shuffled */
static int l_permutation(lua_State *L)
{
    lua_Integer n = luaL_checkinteger(L, 1);
    lua_Integer seed = luaL_checkinteger(L, 2);
    luaL_argcheck(L, n >= 0 && n <= INT32_MAX, 1, "n must be in 0..2^31-1");
    int64_t *perm = lua_newuserdatauv(L, sizeof(int64_t) * (size_t)(n ? n : 1), 0);
    fm_rng_permutation(perm, n, (uint64_t)seed, 0);
    lfm_labels *y = lfm_newlabels(L, n);
    for (lua_Integer i = 0; i < n; i++) y->data[i] = (int32_t)(perm[i] + 1);
    return 1;
}

/* ------------------------------------------------------------------ labels */

static int lab_gc(lua_State *L)
{
    lfm_labels *y = luaL_checkudata(L, 1, LFM_LABELS);
    fm_free(y->data);
    y->data = NULL;
    y->n = 0;
    return 0;
}

static int lab_len(lua_State *L)
{
    lua_pushinteger(L, lfm_checklabels(L, 1)->n);
    return 1;
}

static int lab_index(lua_State *L)
{
    if (lua_type(L, 2) == LUA_TNUMBER) {
        lfm_labels *y = lfm_checklabels(L, 1);
        int isint = 0;
        lua_Integer i = lua_tointegerx(L, 2, &isint);
        if (!isint || i < 1 || i > y->n) { lua_pushnil(L); return 1; }   /* like a table */
        lua_pushinteger(L, y->data[i - 1]);
        return 1;
    }
    lua_getmetatable(L, 1);
    lua_getfield(L, -1, "methods");
    lua_pushvalue(L, 2);
    lua_rawget(L, -2);
    return 1;
}

static int lab_newindex(lua_State *L)
{
    lfm_labels *y = lfm_checklabels(L, 1);
    int64_t i = check_index(L, 2, luaL_checkinteger(L, 2), y->n, "label");
    lua_Integer v = luaL_checkinteger(L, 3);
    luaL_argcheck(L, v >= INT32_MIN && v <= INT32_MAX, 3, "label does not fit int32");
    y->data[i] = (int32_t)v;
    return 0;
}

static int lab_tostring(lua_State *L)
{
    lfm_labels *y = luaL_checkudata(L, 1, LFM_LABELS);
    if (!y->data) { lua_pushliteral(L, "fmclust.labels (closed)"); return 1; }
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    lua_pushfstring(L, "fmclust.labels %I [", (lua_Integer)y->n);
    luaL_addvalue(&b);
    for (int64_t i = 0; i < y->n && i < 10; i++) {
        lua_pushfstring(L, "%s%d", i ? ", " : "", (int)y->data[i]);
        luaL_addvalue(&b);
    }
    luaL_addstring(&b, y->n > 10 ? ", …]" : "]");
    luaL_pushresult(&b);
    return 1;
}

static int lab_to_table(lua_State *L)
{
    lfm_labels *y = lfm_checklabels(L, 1);
    lua_createtable(L, (int)(y->n < INT32_MAX ? y->n : 0), 0);
    for (int64_t i = 0; i < y->n; i++) {
        lua_pushinteger(L, y->data[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

/* y:counts() → {[label] = count} */
static int lab_counts(lua_State *L)
{
    lfm_labels *y = lfm_checklabels(L, 1);
    lua_newtable(L);
    for (int64_t i = 0; i < y->n; i++) {
        lua_Integer key = y->data[i];
        lua_rawgeti(L, -1, key);
        lua_Integer c = lua_tointeger(L, -1);
        lua_pop(L, 1);
        lua_pushinteger(L, c + 1);
        lua_rawseti(L, -2, key);
    }
    return 1;
}

static int lab_save_npy(lua_State *L)
{
    lfm_labels *y = lfm_checklabels(L, 1);
    const char *path = luaL_checkstring(L, 2);
    char err[FM_ERRLEN] = "";
    fm_status s = fm_npy_write_i32(path, y->data, y->n, err);
    if (s != FM_STATUS_OK) return lfm_status_error(L, s, "save_npy", err);
    lua_settop(L, 1);
    return 1;
}

static int lab_copy(lua_State *L)
{
    lfm_labels *y = lfm_checklabels(L, 1);
    lfm_labels *out = lfm_newlabels(L, y->n);
    memcpy(out->data, y->data, sizeof(int32_t) * (size_t)y->n);
    return 1;
}

static const luaL_Reg lab_methods[] = {
    {"to_table", lab_to_table}, {"counts", lab_counts}, {"save_npy", lab_save_npy},
    {"copy", lab_copy}, {"close", lab_gc}, {NULL, NULL}};

static const luaL_Reg lab_meta[] = {
    {"__gc", lab_gc}, {"__close", lab_gc}, {"__len", lab_len}, {"__index", lab_index},
    {"__newindex", lab_newindex}, {"__tostring", lab_tostring}, {NULL, NULL}};

/* core.labels_from_table({...}) */
static int l_labels_from_table(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    int64_t n = 0;
    lfm_checklabelarg(L, 1, &n);   /* leaves the new labels on the stack */
    return 1;
}

/* ------------------------------------------------------------------ threads, BLAS */

static int l_info(lua_State *L)
{
    lua_createtable(L, 0, 6);
    lua_pushliteral(L, FM_VERSION);
    lua_setfield(L, -2, "version");
    lua_pushstring(L, fm_blas_core());
    lua_setfield(L, -2, "blas_core");
    lua_pushstring(L, fm_blas_config());
    lua_setfield(L, -2, "blas_config");
    lua_pushinteger(L, fm_blas_threads());
    lua_setfield(L, -2, "blas_threads");
    lua_pushinteger(L, fm_omp_threads());
    lua_setfield(L, -2, "omp_threads");
    return 1;
}

static int l_set_threads(lua_State *L)
{
    lua_Integer n = luaL_checkinteger(L, 1);
    luaL_argcheck(L, n >= 1 && n <= 4096, 1, "thread count must be in 1..4096");
    fm_set_threads((int)n);
    return 0;
}

/* core.pixel_stats(X) → mean, std, active as 1×d matrices */
static int l_pixel_stats(lua_State *L)
{
    lfm_matrix *x = lfm_checkmatrix(L, 1);
    if (x->m.n == 0) return luaL_argerror(L, 1, "matrix has no rows");
    lfm_matrix *mean = lfm_newmatrix(L, 1, x->m.d);
    lfm_matrix *sd = lfm_newmatrix(L, 1, x->m.d);
    lfm_matrix *act = lfm_newmatrix(L, 1, x->m.d);
    fm_status s = fm_pixel_stats(mean->m.data, sd->m.data, act->m.data, x->m.data, x->m.n, x->m.d);
    if (s != FM_STATUS_OK) return lfm_status_error(L, s, "pixel_stats", NULL);
    return 3;
}

static const luaL_Reg core_funcs[] = {
    {"matrix_from_table", l_matrix_from_table}, {"matrix_zeros", l_matrix_zeros},
    {"random_fill", l_random_fill},             {"permutation", l_permutation},
    {"labels_from_table", l_labels_from_table}, {"info", l_info},
    {"set_threads", l_set_threads},             {"pixel_stats", l_pixel_stats},
    {NULL, NULL}};

void lfm_open_matrix(lua_State *L)
{
    luaL_newmetatable(L, LFM_MATRIX);
    luaL_setfuncs(L, mat_meta, 0);
    luaL_newlibtable(L, mat_methods);
    luaL_setfuncs(L, mat_methods, 0);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
}

void lfm_open_labels(lua_State *L)
{
    luaL_newmetatable(L, LFM_LABELS);
    luaL_setfuncs(L, lab_meta, 0);
    luaL_newlibtable(L, lab_methods);
    luaL_setfuncs(L, lab_methods, 0);
    lua_setfield(L, -2, "methods");
    lua_pop(L, 1);
}

int luaopen_fmclust_core(lua_State *L)
{
    luaL_checkversion(L);
    lfm_open_matrix(L);
    lfm_open_labels(L);
    luaL_newlib(L, core_funcs);
    lfm_open_io(L);
    lfm_open_metrics(L);
    lfm_open_pca(L);
    lfm_open_nmf(L);
    lfm_open_kmeans(L);
    lfm_open_gmm(L);
    lfm_open_ward(L);
    lfm_open_knn(L);
    lfm_open_umap(L);
    lfm_open_hdbscan(L);
    lfm_open_optics(L);
    lfm_open_ae(L);
    lfm_open_plot(L);
    lua_pushliteral(L, FM_VERSION);
    lua_setfield(L, -2, "version");
    /* the metatables, so Lua code can add methods written in Lua */
    luaL_getmetatable(L, LFM_MATRIX);
    lua_setfield(L, -2, "matrix_mt");
    luaL_getmetatable(L, LFM_LABELS);
    lua_setfield(L, -2, "labels_mt");
    return 1;
}
