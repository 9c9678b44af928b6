/* l_metrics.c — the clustering metrics for Lua (raw functions; lua/fmclust/metrics.lua is the
 * public face). Every function takes (truth, pred, ...) as labels userdata or integer sequences,
 * checks all of its arguments, builds the contingency table, and only then computes. */
#include "lfm.h"

#include <math.h>

#define LFM_CONTINGENCY "fmclust.contingency"

/* the contingency table lives in a userdata so its memory is freed by __gc even when pushing
 * the results raises (out of memory) */
typedef struct { fm_contingency ct; } lfm_ct;

static int ct_gc(lua_State *L)
{
    lfm_ct *u = luaL_checkudata(L, 1, LFM_CONTINGENCY);
    fm_contingency_free(&u->ct);   /* idempotent */
    return 0;
}

/* Check truth (arg 1), pred (arg 2) and the optional ignore_noise flag (arg `flag`), then push
 * the contingency table of the points to score. Returns NULL when ignore_noise leaves no point.
 * *total receives the number of points given, *noise the number with pred == -1. */
static fm_contingency *check_build(lua_State *L, int flag, int64_t *total, int64_t *noise)
{
    int64_t nt = 0, np = 0;
    const int32_t *truth = lfm_checklabelarg(L, 1, &nt);
    const int32_t *pred = lfm_checklabelarg(L, 2, &np);
    if (np != nt) {
        const char *msg = lua_pushfstring(L, "pred has %I labels, truth has %I", (lua_Integer)np,
                                          (lua_Integer)nt);
        luaL_argerror(L, 2, msg);
    }
    if (nt == 0) luaL_argerror(L, 1, "truth has no labels");
    if (!lua_isnoneornil(L, flag) && !lua_isboolean(L, flag))
        luaL_typeerror(L, flag, "boolean");
    int ignore_noise = lua_toboolean(L, flag);

    int64_t n = nt, kept = 0;
    for (int64_t i = 0; i < n; i++) kept += pred[i] != -1;
    *total = n;
    *noise = n - kept;

    lfm_ct *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->ct = (fm_contingency){0};
    luaL_setmetatable(L, LFM_CONTINGENCY);

    if (ignore_noise && kept < n) {
        if (kept == 0) return NULL;
        /* the scored subset in Lua-managed memory: collected whatever happens next */
        int32_t *t = lua_newuserdatauv(L, (size_t)kept * sizeof *t, 0);
        int32_t *p = lua_newuserdatauv(L, (size_t)kept * sizeof *p, 0);
        for (int64_t i = 0, k = 0; i < n; i++)
            if (pred[i] != -1) { t[k] = truth[i]; p[k] = pred[i]; k++; }
        truth = t;
        pred = p;
        n = kept;
    }
    fm_status s = fm_contingency_build(&u->ct, truth, pred, n);
    if (s == FM_STATUS_NOMEM)
        lfm_status_error(L, s, "metrics", "cannot allocate the contingency table (too many classes × clusters)");
    else if (s != FM_STATUS_OK)
        lfm_status_error(L, s, "metrics", NULL);
    return &u->ct;
}

static void setnum(lua_State *L, const char *k, double v)
{
    lua_pushnumber(L, v);
    lua_setfield(L, -2, k);
}

static void setint(lua_State *L, const char *k, int64_t v)
{
    lua_pushinteger(L, (lua_Integer)v);
    lua_setfield(L, -2, k);
}

/* metrics_scores(truth, pred [, ignore_noise]) → {ari, ami, nmi, homogeneity, completeness,
 * v_measure, accuracy, mutual_info, n, n_classes, n_clusters [, noise_share]}.
 * With ignore_noise, points whose pred is -1 are left out and noise_share is their share; when
 * every point is noise the scores are NaN and n is 0. */
static int l_metrics_scores(lua_State *L)
{
    int64_t total = 0, noise = 0;
    fm_contingency *ct = check_build(L, 3, &total, &noise);
    fm_scores sc;
    if (ct) {
        fm_status s = fm_metrics_all(&sc, ct);
        if (s != FM_STATUS_OK) return lfm_status_error(L, s, "metrics", NULL);
    } else {
        sc.ari = sc.ami = sc.nmi = sc.homogeneity = sc.completeness = sc.v_measure = NAN;
        sc.accuracy = sc.mi = NAN;
    }
    lua_createtable(L, 0, 12);
    setnum(L, "ari", sc.ari);
    setnum(L, "ami", sc.ami);
    setnum(L, "nmi", sc.nmi);
    setnum(L, "homogeneity", sc.homogeneity);
    setnum(L, "completeness", sc.completeness);
    setnum(L, "v_measure", sc.v_measure);
    setnum(L, "accuracy", sc.accuracy);
    setnum(L, "mutual_info", sc.mi);
    setint(L, "n", ct ? ct->n : 0);
    setint(L, "n_classes", ct ? ct->r : 0);
    setint(L, "n_clusters", ct ? ct->c : 0);
    if (lua_toboolean(L, 3)) setnum(L, "noise_share", (double)noise / (double)total);
    return 1;
}

static const char *const score_names[] = {"ari", "ami", "nmi", "homogeneity", "completeness",
                                          "v_measure", "accuracy", "mutual_info", NULL};

/* metrics_score(truth, pred, name [, ignore_noise]) → one score, computing only what it needs
 * (ARI needs neither the expected mutual information nor the matching) */
static int l_metrics_score(lua_State *L)
{
    int which = luaL_checkoption(L, 3, NULL, score_names);
    int64_t total = 0, noise = 0;
    fm_contingency *ct = check_build(L, 4, &total, &noise);
    if (!ct) { lua_pushnumber(L, NAN); return 1; }
    fm_scores sc;
    fm_status s = FM_STATUS_OK;
    double v = NAN;
    switch (which) {
    case 0: v = fm_metrics_ari(ct); break;
    case 6: {
        int64_t matched = 0;
        s = fm_metrics_matched(&matched, NULL, ct);
        v = (double)matched / (double)ct->n;
        break;
    }
    default:
        s = fm_metrics_info(&sc, ct, which == 1);
        v = which == 1 ? sc.ami : which == 2 ? sc.nmi : which == 3 ? sc.homogeneity
          : which == 4 ? sc.completeness : which == 5 ? sc.v_measure : sc.mi;
    }
    if (s != FM_STATUS_OK) return lfm_status_error(L, s, score_names[which], NULL);
    lua_pushnumber(L, v);
    return 1;
}

/* metrics_contingency(truth, pred [, ignore_noise]) → {table = {{counts of row 1}, …},
 * rows = {truth values}, cols = {pred values}}, values ascending */
static int l_metrics_contingency(lua_State *L)
{
    int64_t total = 0, noise = 0;
    fm_contingency *ct = check_build(L, 3, &total, &noise);
    int64_t r = ct ? ct->r : 0, c = ct ? ct->c : 0;
    lua_createtable(L, 0, 3);
    lua_createtable(L, (int)r, 0);
    for (int64_t i = 0; i < r; i++) {
        lua_createtable(L, (int)c, 0);
        for (int64_t j = 0; j < c; j++) {
            lua_pushinteger(L, (lua_Integer)ct->table[i * c + j]);
            lua_rawseti(L, -2, j + 1);
        }
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "table");
    lua_createtable(L, (int)r, 0);
    for (int64_t i = 0; i < r; i++) {
        lua_pushinteger(L, ct->row_vals[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "rows");
    lua_createtable(L, (int)c, 0);
    for (int64_t j = 0; j < c; j++) {
        lua_pushinteger(L, ct->col_vals[j]);
        lua_rawseti(L, -2, j + 1);
    }
    lua_setfield(L, -2, "cols");
    return 1;
}

/* metrics_matching(truth, pred [, ignore_noise]) → {[pred value] = matched truth value}, matched
 * count. Clusters left over when there are more clusters than classes have no entry. */
static int l_metrics_matching(lua_State *L)
{
    int64_t total = 0, noise = 0;
    fm_contingency *ct = check_build(L, 3, &total, &noise);
    if (!ct) {
        lua_newtable(L);
        lua_pushinteger(L, 0);
        return 2;
    }
    int32_t *match = lua_newuserdatauv(L, (size_t)ct->c * sizeof *match, 0);
    int64_t matched = 0;
    fm_status s = fm_metrics_matched(&matched, match, ct);
    if (s != FM_STATUS_OK) return lfm_status_error(L, s, "matching", NULL);
    lua_createtable(L, 0, (int)ct->c);
    for (int64_t j = 0; j < ct->c; j++) {
        if (match[j] < 0) continue;
        lua_pushinteger(L, ct->row_vals[match[j]]);
        lua_rawseti(L, -2, ct->col_vals[j]);
    }
    lua_pushinteger(L, (lua_Integer)matched);
    return 2;
}

static const luaL_Reg metrics_funcs[] = {
    {"metrics_scores", l_metrics_scores},
    {"metrics_score", l_metrics_score},
    {"metrics_contingency", l_metrics_contingency},
    {"metrics_matching", l_metrics_matching},
    {NULL, NULL}};

void lfm_open_metrics(lua_State *L)
{
    luaL_newmetatable(L, LFM_CONTINGENCY);
    lua_pushcfunction(L, ct_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, ct_gc);
    lua_setfield(L, -2, "__close");
    lua_pop(L, 1);
    lfm_setfuncs(L, metrics_funcs);
}
