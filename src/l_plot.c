/* l_plot.c — the canvas userdata for Lua (lua/fmclust/plot.lua composes figures from it).
 *
 *   local cv = core.canvas(width, height)            -- white ARGB32 image
 *   cv:rect(x, y, w, h, color [, stroke])            -- filled, or outlined when stroke > 0
 *   cv:path(xs, ys, color [, width, fill, dash])     -- polyline (NaN = gap) or filled polygon
 *   cv:circle(x, y, radius, color [, stroke])
 *   cv:text(x, y, s, size, color [, halign, valign, angle, bold]);  cv:text_size(s, size [, bold]) → w, h
 *   cv:cells(M, x, y, w, h, cmap, vmin, vmax [, nan_color])  -- a matrix as coloured cells
 *   cv:points(E, cx, cy, labels|nil, style, frame) → skipped  -- scatter; style = {vals, colors,
 *        layers, size, alpha, seed}, frame = {x0, y0, w, h, xmin, xmax, ymin, ymax}
 *   cv:write_png(path);  cv:png() → bytes;  cv:pixel(x, y) → r, g, b, a (0..255, 0-based pixels)
 *   cv:size() → w, h;  cv:close()
 *   core.canvas_load_png(path) → canvas | nil, message;  core.base64(s) → text
 *   core.plot_range(E, col) → min, max, finite count of a column
 *   core.plot_columns(E, cols) → the columns as a matrix, rows with a NaN/Inf all NaN; their count
 * Colours: "#rrggbb", "#rrggbbaa" or {r, g, b [, a]} in [0, 1].
 */
#include "lfm.h"
#include "plot.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LFM_CANVAS "fmclust.canvas"

typedef struct { fm_canvas c; } lfm_canvas;

static lfm_canvas *check_canvas(lua_State *L, int idx)
{
    lfm_canvas *u = luaL_checkudata(L, idx, LFM_CANVAS);
    if (!u->c.surface) luaL_argerror(L, idx, "canvas is closed");
    return u;
}

static int canvas_gc(lua_State *L)
{
    lfm_canvas *u = luaL_checkudata(L, 1, LFM_CANVAS);
    fm_canvas_free(&u->c);
    return 0;
}

static lfm_canvas *new_canvas(lua_State *L)
{
    lfm_canvas *u = lua_newuserdatauv(L, sizeof *u, 0);
    memset(u, 0, sizeof *u);
    luaL_setmetatable(L, LFM_CANVAS);
    return u;
}

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

static double check_unit(lua_State *L, int arg, int tbl, int i, double dflt)
{
    lua_geti(L, tbl, i);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        if (dflt >= 0) return dflt;
        return luaL_argerror(L, arg, "colour table needs {r, g, b [, a]}");
    }
    int isnum = 0;
    double v = lua_tonumberx(L, -1, &isnum);
    lua_pop(L, 1);
    if (!isnum || !(v >= 0 && v <= 1)) luaL_argerror(L, arg, "colour components must be numbers in [0, 1]");
    return v;
}

/* the colour at stack index idx (argument number arg for messages) */
static fm_rgba check_color_at(lua_State *L, int idx, int arg)
{
    idx = lua_absindex(L, idx);
    if (lua_type(L, idx) == LUA_TSTRING) {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        if ((len == 7 || len == 9) && s[0] == '#') {
            int v[8] = {15, 15, 15, 15, 15, 15, 15, 15};
            int ok = 1;
            for (size_t i = 1; i < len; i++) ok &= (v[i - 1] = hexval((unsigned char)s[i])) >= 0;
            if (ok)
                return (fm_rgba){(v[0] * 16 + v[1]) / 255.0, (v[2] * 16 + v[3]) / 255.0,
                                 (v[4] * 16 + v[5]) / 255.0, (v[6] * 16 + v[7]) / 255.0};
        }
        const char *msg = lua_pushfstring(L, "colour must be \"#rrggbb\" or \"#rrggbbaa\", got \"%s\"", s);
        luaL_argerror(L, arg, msg);
    }
    if (lua_istable(L, idx)) {
        fm_rgba c;
        c.r = check_unit(L, arg, idx, 1, -1);
        c.g = check_unit(L, arg, idx, 2, -1);
        c.b = check_unit(L, arg, idx, 3, -1);
        c.a = check_unit(L, arg, idx, 4, 1);
        return c;
    }
    const char *msg = lua_pushfstring(L, "colour expected (\"#rrggbb\" or {r, g, b [, a]}), got %s",
                                      luaL_typename(L, idx));
    luaL_argerror(L, arg, msg);
    return (fm_rgba){0, 0, 0, 1};
}

static fm_rgba check_color(lua_State *L, int arg) { return check_color_at(L, arg, arg); }

static double check_finite(lua_State *L, int arg)
{
    double v = luaL_checknumber(L, arg);
    if (!isfinite(v)) luaL_argerror(L, arg, "must be finite");
    return v;
}

static double opt_finite(lua_State *L, int arg, double d)
{
    return lua_isnoneornil(L, arg) ? d : check_finite(L, arg);
}

/* core.canvas(width, height) */
static int l_canvas(lua_State *L)
{
    lua_Integer w = luaL_checkinteger(L, 1), h = luaL_checkinteger(L, 2);
    luaL_argcheck(L, w >= 1 && w <= FM_CANVAS_MAX, 1, "width must be in 1..16384");
    luaL_argcheck(L, h >= 1 && h <= FM_CANVAS_MAX, 2, "height must be in 1..16384");
    lfm_canvas *u = new_canvas(L);
    fm_status s = fm_canvas_init(&u->c, (int)w, (int)h);
    if (s != FM_STATUS_OK) return lfm_status_error(L, s, "canvas", "cannot create the image surface");
    return 1;
}

/* core.canvas_load_png(path) → canvas, or nil and a message (a missing or broken file) */
static int l_canvas_load_png(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    lfm_canvas *u = new_canvas(L);
    char err[FM_ERRLEN] = "";
    fm_status s = fm_canvas_load_png(&u->c, path, err);
    if (s != FM_STATUS_OK) {
        luaL_pushfail(L);
        lua_pushstring(L, *err ? err : fm_status_str(s));
        return 2;
    }
    return 1;
}

static int canvas_size(lua_State *L)
{
    lfm_canvas *u = check_canvas(L, 1);
    lua_pushinteger(L, u->c.width);
    lua_pushinteger(L, u->c.height);
    return 2;
}

static int canvas_rect(lua_State *L)
{
    lfm_canvas *u = check_canvas(L, 1);
    double x = check_finite(L, 2), y = check_finite(L, 3), w = check_finite(L, 4), h = check_finite(L, 5);
    fm_rgba col = check_color(L, 6);
    double stroke = opt_finite(L, 7, 0);
    fm_plot_rect(&u->c, x, y, w, h, col, stroke);
    return 0;
}

/* a Lua sequence of numbers into a userdata array pushed on the stack (NaN allowed: gaps) */
static double *check_numbers(lua_State *L, int arg, lua_Integer *n)
{
    luaL_checktype(L, arg, LUA_TTABLE);
    lua_Integer len = luaL_len(L, arg);
    double *v = lua_newuserdatauv(L, sizeof(double) * (size_t)(len > 0 ? len : 1), 0);
    for (lua_Integer i = 1; i <= len; i++) {
        lua_geti(L, arg, i);
        int isnum = 0;
        v[i - 1] = lua_tonumberx(L, -1, &isnum);
        if (!isnum) {
            const char *msg = lua_pushfstring(L, "entry %I is not a number (%s)", i, luaL_typename(L, -1));
            luaL_argerror(L, arg, msg);
        }
        lua_pop(L, 1);
    }
    *n = len;
    return v;
}

static int canvas_path(lua_State *L)
{
    lua_settop(L, 7);   /* fixed argument slots: the arrays below are pushed above them */
    lfm_canvas *u = check_canvas(L, 1);
    lua_Integer nx = 0, ny = 0;
    double *xs = check_numbers(L, 2, &nx);
    double *ys = check_numbers(L, 3, &ny);
    if (nx != ny) {
        const char *msg = lua_pushfstring(L, "ys has %I values, xs has %I", ny, nx);
        return luaL_argerror(L, 3, msg);
    }
    fm_rgba col = check_color(L, 4);
    double width = opt_finite(L, 5, 1);
    int fill = lua_toboolean(L, 6);
    double dash = opt_finite(L, 7, 0);
    fm_plot_path(&u->c, xs, ys, nx, col, width, fill, dash);
    return 0;
}

static int canvas_circle(lua_State *L)
{
    lfm_canvas *u = check_canvas(L, 1);
    double x = check_finite(L, 2), y = check_finite(L, 3), r = check_finite(L, 4);
    fm_rgba col = check_color(L, 5);
    double stroke = opt_finite(L, 6, 0);
    luaL_argcheck(L, r >= 0, 4, "radius must be ≥ 0");
    fm_plot_circle(&u->c, x, y, r, col, stroke);
    return 0;
}

static int canvas_text(lua_State *L)
{
    lfm_canvas *u = check_canvas(L, 1);
    double x = check_finite(L, 2), y = check_finite(L, 3);
    const char *s = luaL_checkstring(L, 4);
    double size = check_finite(L, 5);
    luaL_argcheck(L, size > 0, 5, "font size must be > 0");
    fm_rgba col = check_color(L, 6);
    double ha = opt_finite(L, 7, 0), va = opt_finite(L, 8, 0), angle = opt_finite(L, 9, 0);
    int bold = lua_toboolean(L, 10);
    fm_plot_text(&u->c, x, y, s, size, col, ha, va, angle, bold);
    return 0;
}

static int canvas_text_size(lua_State *L)
{
    lfm_canvas *u = check_canvas(L, 1);
    const char *s = luaL_checkstring(L, 2);
    double size = check_finite(L, 3);
    luaL_argcheck(L, size > 0, 3, "font size must be > 0");
    double w = 0, h = 0;
    fm_plot_text_size(&w, &h, &u->c, s, size, lua_toboolean(L, 4));
    lua_pushnumber(L, w);
    lua_pushnumber(L, h);
    return 2;
}

static const char *const cmap_names[] = {"viridis", "gray", "gray_r", "blues", "magma", NULL};

/* cv:cells(M, x, y, w, h, cmap, vmin, vmax [, nan_color]) */
static int canvas_cells(lua_State *L)
{
    lfm_canvas *u = check_canvas(L, 1);
    lfm_matrix *m = lfm_checkmatrix(L, 2);
    double x = check_finite(L, 3), y = check_finite(L, 4), w = check_finite(L, 5), h = check_finite(L, 6);
    int map = luaL_checkoption(L, 7, "viridis", cmap_names);
    double vmin = check_finite(L, 8), vmax = check_finite(L, 9);
    fm_rgba nanc = lua_isnoneornil(L, 10) ? (fm_rgba){0.85, 0.85, 0.85, 1} : check_color(L, 10);
    luaL_argcheck(L, m->m.n >= 1 && m->m.d >= 1, 2, "matrix is empty");
    luaL_argcheck(L, m->m.n <= FM_CANVAS_MAX && m->m.d <= FM_CANVAS_MAX, 2, "matrix is larger than 16384 on a side");
    fm_status s = fm_plot_cells(&u->c, m->m.data, m->m.n, m->m.d, x, y, w, h, (fm_cmap)map, vmin, vmax, nanc);
    if (s != FM_STATUS_OK) return lfm_status_error(L, s, "cells", NULL);
    return 0;
}

static double field_number(lua_State *L, int tbl, int arg, const char *k, double dflt, int required)
{
    lua_getfield(L, tbl, k);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        if (required) {
            const char *msg = lua_pushfstring(L, "field '%s' missing", k);
            luaL_argerror(L, arg, msg);
        }
        return dflt;
    }
    int isnum = 0;
    double v = lua_tonumberx(L, -1, &isnum);
    lua_pop(L, 1);
    if (!isnum || !isfinite(v)) {
        const char *msg = lua_pushfstring(L, "field '%s' must be a finite number", k);
        luaL_argerror(L, arg, msg);
    }
    return v;
}

/* cv:points(E, cx, cy, labels|nil, style, frame) → number of points skipped (NaN/Inf) */
static int canvas_points(lua_State *L)
{
    lua_settop(L, 7);   /* fixed argument slots: temporaries are pushed above them */
    lfm_canvas *u = check_canvas(L, 1);
    lfm_matrix *e = lfm_checkmatrix(L, 2);
    lua_Integer cx = luaL_checkinteger(L, 3), cy = luaL_checkinteger(L, 4);
    luaL_argcheck(L, cx >= 1 && cx <= e->m.d, 3, "column out of range");
    luaL_argcheck(L, cy >= 1 && cy <= e->m.d, 4, "column out of range");
    const int32_t *labels = NULL;
    if (!lua_isnoneornil(L, 5)) {
        int64_t nl = 0;
        labels = lfm_checklabelarg(L, 5, &nl);
        if (nl != e->m.n) {
            const char *msg = lua_pushfstring(L, "labels have %I entries, the matrix has %I rows",
                                              (lua_Integer)nl, (lua_Integer)e->m.n);
            return luaL_argerror(L, 5, msg);
        }
    }
    luaL_checktype(L, 6, LUA_TTABLE);
    luaL_checktype(L, 7, LUA_TTABLE);
    /* style: vals (k ascending ints), colors (k + 1), layers (k + 1 of 0/1, optional) */
    lua_getfield(L, 6, "vals");
    int vi = lua_gettop(L);
    lua_Integer k = lua_istable(L, vi) ? luaL_len(L, vi) : 0;
    int32_t *vals = lua_newuserdatauv(L, sizeof(int32_t) * (size_t)(k + 1), 0);
    for (lua_Integer i = 1; i <= k; i++) {
        lua_geti(L, vi, i);
        int isint = 0;
        lua_Integer v = lua_tointegerx(L, -1, &isint);
        if (!isint || v < INT32_MIN || v > INT32_MAX || (i > 1 && v <= vals[i - 2]))
            return luaL_argerror(L, 6, "style.vals must be ascending distinct int32 integers");
        vals[i - 1] = (int32_t)v;
        lua_pop(L, 1);
    }
    lua_getfield(L, 6, "colors");
    int ci = lua_gettop(L);
    if (!lua_istable(L, ci) || luaL_len(L, ci) != k + 1)
        return luaL_argerror(L, 6, "style.colors must hold one colour per value plus one for the rest");
    fm_rgba *colors = lua_newuserdatauv(L, sizeof(fm_rgba) * (size_t)(k + 1), 0);
    unsigned char *layers = lua_newuserdatauv(L, (size_t)(k + 1), 0);
    for (lua_Integer i = 1; i <= k + 1; i++) {
        lua_geti(L, ci, i);
        colors[i - 1] = check_color_at(L, -1, 6);
        lua_pop(L, 1);
        layers[i - 1] = 1;
    }
    lua_getfield(L, 6, "layers");
    if (lua_istable(L, -1)) {
        for (lua_Integer i = 1; i <= k + 1; i++) {
            lua_geti(L, -1, i);
            layers[i - 1] = (unsigned char)(lua_tointeger(L, -1) != 0);
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
    double size = field_number(L, 6, 6, "size", 2, 0);
    double alpha = field_number(L, 6, 6, "alpha", 1, 0);
    double seed = field_number(L, 6, 6, "seed", 0, 0);
    luaL_argcheck(L, size > 0 && size <= 100, 6, "style.size must be in (0, 100]");
    luaL_argcheck(L, alpha >= 0 && alpha <= 1, 6, "style.alpha must be in [0, 1]");
    luaL_argcheck(L, seed >= 0 && seed <= 9007199254740992.0 && seed == floor(seed), 6,
                  "style.seed must be an integer in 0..2^53");
    fm_plot_frame f;
    f.x0 = field_number(L, 7, 7, "x0", 0, 1);
    f.y0 = field_number(L, 7, 7, "y0", 0, 1);
    f.w = field_number(L, 7, 7, "w", 0, 1);
    f.h = field_number(L, 7, 7, "h", 0, 1);
    f.xmin = field_number(L, 7, 7, "xmin", 0, 1);
    f.xmax = field_number(L, 7, 7, "xmax", 0, 1);
    f.ymin = field_number(L, 7, 7, "ymin", 0, 1);
    f.ymax = field_number(L, 7, 7, "ymax", 0, 1);
    luaL_argcheck(L, f.w > 0 && f.h > 0, 7, "frame width and height must be > 0");
    luaL_argcheck(L, f.xmax > f.xmin && f.ymax > f.ymin, 7, "frame data ranges must be increasing");
    int64_t skipped = 0;
    fm_status s = fm_plot_points(&skipped, &u->c, &f, e->m.data + (cx - 1), e->m.data + (cy - 1), e->m.d,
                                 labels, e->m.n, vals, colors, layers, k, size, alpha, (uint64_t)seed);
    if (s != FM_STATUS_OK) return lfm_status_error(L, s, "points", NULL);
    lua_pushinteger(L, (lua_Integer)skipped);
    return 1;
}

static int canvas_write_png(lua_State *L)
{
    lfm_canvas *u = check_canvas(L, 1);
    const char *path = luaL_checkstring(L, 2);
    char err[FM_ERRLEN] = "";
    fm_status s = fm_canvas_write_png(&u->c, path, err);
    if (s != FM_STATUS_OK) return lfm_status_error(L, s, "write_png", err);
    lua_pushboolean(L, 1);
    return 1;
}

static int canvas_png(lua_State *L)
{
    lfm_canvas *u = check_canvas(L, 1);
    unsigned char *buf = NULL;
    size_t len = 0;
    fm_status s = fm_canvas_png_bytes(&buf, &len, &u->c);
    if (s != FM_STATUS_OK) return lfm_status_error(L, s, "png", NULL);
    /* copy into a Lua-owned buffer first, so a raising pushlstring cannot leak buf */
    char *tmp = lua_newuserdatauv(L, len ? len : 1, 0);
    memcpy(tmp, buf, len);
    free(buf);
    lua_pushlstring(L, tmp, len);
    return 1;
}

static int canvas_pixel(lua_State *L)
{
    lfm_canvas *u = check_canvas(L, 1);
    lua_Integer x = luaL_checkinteger(L, 2), y = luaL_checkinteger(L, 3);
    luaL_argcheck(L, x >= 0 && x < u->c.width, 2, "x outside the canvas (0-based pixels)");
    luaL_argcheck(L, y >= 0 && y < u->c.height, 3, "y outside the canvas (0-based pixels)");
    unsigned char px[4];
    fm_canvas_pixel(px, &u->c, (int)x, (int)y);
    for (int i = 0; i < 4; i++) lua_pushinteger(L, px[i]);
    return 4;
}

static int canvas_tostring(lua_State *L)
{
    lfm_canvas *u = luaL_checkudata(L, 1, LFM_CANVAS);
    if (!u->c.surface) lua_pushliteral(L, "fmclust.canvas (closed)");
    else lua_pushfstring(L, "fmclust.canvas %d×%d", u->c.width, u->c.height);
    return 1;
}

/* core.plot_range(E, col) → min, max, number of finite values of column col (NaN, NaN, 0 if none) */
static int l_plot_range(lua_State *L)
{
    lfm_matrix *e = lfm_checkmatrix(L, 1);
    lua_Integer col = luaL_checkinteger(L, 2);
    luaL_argcheck(L, col >= 1 && col <= e->m.d, 2, "column out of range");
    double lo, hi;
    int64_t k;
    fm_plot_range(&lo, &hi, &k, e->m.data, e->m.n, e->m.d, col - 1);
    lua_pushnumber(L, lo);
    lua_pushnumber(L, hi);
    lua_pushinteger(L, (lua_Integer)k);
    return 3;
}

/* core.plot_columns(E, {c1, c2, ...}) → n×k matrix of those columns with every row that holds a
 * NaN/Inf among them set entirely to NaN (skipped the same way in every panel), and that count */
static int l_plot_columns(lua_State *L)
{
    lfm_matrix *e = lfm_checkmatrix(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_Integer k = luaL_len(L, 2);
    luaL_argcheck(L, k >= 1 && k <= 16, 2, "1 to 16 columns expected");
    int64_t cols[16];
    for (lua_Integer j = 1; j <= k; j++) {
        lua_geti(L, 2, j);
        int isint = 0;
        lua_Integer c = lua_tointegerx(L, -1, &isint);
        if (!isint || c < 1 || c > e->m.d) {
            const char *msg = lua_pushfstring(L, "column %I out of range 1..%I", c, (lua_Integer)e->m.d);
            return luaL_argerror(L, 2, msg);
        }
        cols[j - 1] = c - 1;
        lua_pop(L, 1);
    }
    int64_t n = e->m.n, d = e->m.d, bad = 0;
    lfm_matrix *out = lfm_newmatrix(L, n, k);
    for (int64_t i = 0; i < n; i++) {
        float *o = out->m.data + i * k;
        int ok = 1;
        for (lua_Integer j = 0; j < k; j++) {
            o[j] = e->m.data[i * d + cols[j]];
            ok &= isfinite(o[j]) != 0;
        }
        if (!ok) {
            for (lua_Integer j = 0; j < k; j++) o[j] = NAN;
            bad++;
        }
    }
    lua_pushinteger(L, (lua_Integer)bad);
    return 2;
}

/* core.base64(s) → the standard base64 text of s (for data: URIs) */
static int l_base64(lua_State *L)
{
    size_t len;
    const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &len);
    size_t olen = 4 * ((len + 2) / 3) + 1;
    luaL_Buffer b;
    char *out = luaL_buffinitsize(L, &b, olen);
    size_t n = fm_base64_encode(out, s, len);
    luaL_pushresultsize(&b, n);
    return 1;
}

static const luaL_Reg canvas_methods[] = {
    {"size", canvas_size},   {"rect", canvas_rect},       {"path", canvas_path},
    {"circle", canvas_circle}, {"text", canvas_text},     {"text_size", canvas_text_size},
    {"cells", canvas_cells}, {"points", canvas_points},   {"write_png", canvas_write_png},
    {"png", canvas_png},     {"pixel", canvas_pixel},     {"close", canvas_gc},
    {NULL, NULL}};

static const luaL_Reg canvas_meta[] = {
    {"__gc", canvas_gc}, {"__close", canvas_gc}, {"__tostring", canvas_tostring}, {NULL, NULL}};

static const luaL_Reg plot_funcs[] = {
    {"canvas", l_canvas}, {"canvas_load_png", l_canvas_load_png}, {"base64", l_base64},
    {"plot_range", l_plot_range}, {"plot_columns", l_plot_columns}, {NULL, NULL}};

void lfm_open_plot(lua_State *L)
{
    luaL_newmetatable(L, LFM_CANVAS);
    luaL_setfuncs(L, canvas_meta, 0);
    luaL_newlibtable(L, canvas_methods);
    luaL_setfuncs(L, canvas_methods, 0);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    lfm_setfuncs(L, plot_funcs);
}
