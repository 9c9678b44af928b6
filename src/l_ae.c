/* l_ae.c — Lua binding of the autoencoder (ae.c). The model is a userdata "fmclust.ae" owning an
 * fm_ae_model. Every argument is checked here before the core runs; the core returns a status and
 * we raise only after it has returned. Friendly option checking lives in lua/fmclust/ae.lua. */
#include "lfm.h"
#include "ae.h"
#include "gemm_bf16.h"

#include <math.h>
#include <string.h>

#define LFM_AE "fmclust.ae"

typedef struct { fm_ae_model *m; } lae;

static fm_ae_model *checkmodel(lua_State *L, int idx)
{
    lae *u = luaL_checkudata(L, idx, LFM_AE);
    if (!u->m) luaL_argerror(L, idx, "autoencoder has been closed");
    return u->m;
}

static int ae_gc(lua_State *L)
{
    lae *u = luaL_checkudata(L, 1, LFM_AE);
    fm_ae_model_free(u->m);   /* idempotent: __close then __gc */
    u->m = NULL;
    return 0;
}

/* safe order: an empty userdata with its metatable first, then the model goes in */
static lae *newmodel(lua_State *L)
{
    lae *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->m = NULL;
    luaL_setmetatable(L, LFM_AE);
    return u;
}

static int check_outact(lua_State *L, int idx)
{
    static const char *const names[] = {"linear", "sigmoid", NULL};
    return luaL_checkoption(L, idx, "linear", names) == 0 ? FM_AE_LINEAR : FM_AE_SIGMOID;
}

/* a Lua sequence of positive integers (at most max) → vals; returns the count */
static int check_sizes(lua_State *L, int idx, int64_t *vals, int max, const char *what)
{
    luaL_checktype(L, idx, LUA_TTABLE);
    lua_Integer n = luaL_len(L, idx);
    if (n < 1 || n > max) return luaL_argerror(L, idx, lua_pushfstring(L, "%s must hold 1..%d sizes", what, max));
    for (lua_Integer i = 1; i <= n; i++) {
        int isint;
        lua_geti(L, idx, i);
        lua_Integer v = lua_tointegerx(L, -1, &isint);
        lua_pop(L, 1);
        if (!isint || v < 1 || v > ((lua_Integer)1 << 24))
            return luaL_argerror(L, idx, lua_pushfstring(L, "%s[%I] must be an integer in 1..16777216", what, i));
        vals[i - 1] = v;
    }
    return (int)n;
}

/* core.ae_new_dense(sizes, out_act, seed) */
static int l_ae_new_dense(lua_State *L)
{
    int64_t sizes[FM_AE_MAX_LAYERS / 2 + 1];
    int n = check_sizes(L, 1, sizes, FM_AE_MAX_LAYERS / 2 + 1, "layers");
    luaL_argcheck(L, n >= 2, 1, "layers must hold at least 2 sizes (input and latent)");
    int act = check_outact(L, 2);
    lua_Integer seed = luaL_optinteger(L, 3, 0);
    fm_ae_arch a;
    if (fm_ae_arch_dense(&a, sizes, n, act) != FM_STATUS_OK) return luaL_argerror(L, 1, "invalid layer sizes");
    lae *u = newmodel(L);
    fm_status s = fm_ae_model_new(&u->m, &a, (uint64_t)seed);
    if (s != FM_STATUS_OK) return lfm_status_error(L, s, "autoencoder", NULL);
    return 1;
}

/* core.ae_new_conv(h, w, channels, latent, out_act, seed, hidden = {}) */
static int l_ae_new_conv(lua_State *L)
{
    lua_Integer h = luaL_checkinteger(L, 1), w = luaL_checkinteger(L, 2);
    int64_t ch[FM_AE_MAX_LAYERS / 2 - 1], hid[FM_AE_MAX_LAYERS / 2 - 1];
    int n = check_sizes(L, 3, ch, FM_AE_MAX_LAYERS / 2 - 1, "channels");
    lua_Integer latent = luaL_checkinteger(L, 4);
    int act = check_outact(L, 5);
    lua_Integer seed = luaL_optinteger(L, 6, 0);
    int nh = lua_isnoneornil(L, 7) || luaL_len(L, 7) == 0 ? 0 : check_sizes(L, 7, hid, FM_AE_MAX_LAYERS / 2 - 1, "hidden");
    luaL_argcheck(L, latent >= 1 && latent <= ((lua_Integer)1 << 24), 4, "latent must be ≥ 1");
    luaL_argcheck(L, 2 * (n + nh) + 2 <= FM_AE_MAX_LAYERS, 7, "channels and hidden hold too many layers together");
    if (n > 20 || h < 1 || w < 1 || h % ((lua_Integer)1 << n) || w % ((lua_Integer)1 << n))
        return luaL_argerror(L, 1, lua_pushfstring(L, "image %I×%I: both sides must be divisible by 2^%d (one halving per conv layer)",
                                                   h, w, n));
    fm_ae_arch a;
    if (fm_ae_arch_conv(&a, h, w, ch, n, hid, nh, latent, act) != FM_STATUS_OK) return luaL_argerror(L, 3, "invalid architecture");
    lae *u = newmodel(L);
    fm_status s = fm_ae_model_new(&u->m, &a, (uint64_t)seed);
    if (s != FM_STATUS_OK) return lfm_status_error(L, s, "autoencoder", NULL);
    return 1;
}

static const char *const KIND_NAMES[] = {"dense", "conv", "deconv"};
static const char *const PRECISION_NAMES[] = {"float32", "bfloat16", NULL};
static const char *const ACT_NAMES[] = {"linear", "relu", "sigmoid"};

static void setint(lua_State *L, const char *k, int64_t v) { lua_pushinteger(L, (lua_Integer)v); lua_setfield(L, -2, k); }

/* core.ae_info(model) → {kind, n_layers, n_enc, d_in, latent, n_params, epochs, precision, output,
 *                        layers = {...}} */
static int l_ae_info(lua_State *L)
{
    fm_ae_model *m = checkmodel(L, 1);
    const fm_ae_arch *a = &m->arch;
    lua_createtable(L, 0, 9);
    lua_pushstring(L, a->conv ? "conv" : "dense");
    lua_setfield(L, -2, "kind");
    setint(L, "n_layers", a->n_layers);
    setint(L, "n_enc", a->n_enc);
    setint(L, "d_in", a->d_in);
    setint(L, "latent", a->d_latent);
    setint(L, "n_params", a->n_params);
    setint(L, "epochs", m->epochs);
    lua_pushstring(L, PRECISION_NAMES[m->precision]);
    lua_setfield(L, -2, "precision");
    lua_pushstring(L, ACT_NAMES[a->layer[a->n_layers - 1].act]);
    lua_setfield(L, -2, "output");
    lua_createtable(L, a->n_layers, 0);
    for (int l = 0; l < a->n_layers; l++) {
        const fm_ae_layer *Ly = &a->layer[l];
        lua_createtable(L, 0, 10);
        lua_pushstring(L, KIND_NAMES[Ly->kind]);
        lua_setfield(L, -2, "kind");
        lua_pushstring(L, ACT_NAMES[Ly->act]);
        lua_setfield(L, -2, "activation");
        setint(L, "in_h", Ly->in_h), setint(L, "in_w", Ly->in_w), setint(L, "in_c", Ly->in_c);
        setint(L, "out_h", Ly->out_h), setint(L, "out_w", Ly->out_w), setint(L, "out_c", Ly->out_c);
        setint(L, "n_weights", Ly->n_w), setint(L, "n_biases", Ly->n_b);
        lua_seti(L, -2, l + 1);
    }
    lua_setfield(L, -2, "layers");
    return 1;
}

static int check_loss(lua_State *L, int idx, const fm_ae_model *m)
{
    static const char *const names[] = {"mse", "bce", NULL};
    int loss = luaL_checkoption(L, idx, "mse", names) == 0 ? FM_AE_MSE : FM_AE_BCE;
    if (loss == FM_AE_BCE && m->arch.layer[m->arch.n_layers - 1].act != FM_AE_SIGMOID)
        luaL_argerror(L, idx, "loss \"bce\" needs a sigmoid output (output = \"sigmoid\")");
    return loss;
}

static void check_data(lua_State *L, int idx, const lfm_matrix *X, int64_t d, const char *what)
{
    if (X->m.n < 1) luaL_argerror(L, idx, "matrix is empty");
    if (X->m.d != d)
        luaL_argerror(L, idx, lua_pushfstring(L, "matrix has %I columns, the %s expects %I", (lua_Integer)X->m.d, what,
                                              (lua_Integer)d));
    if (fm_has_nonfinite(X->m.data, X->m.n * X->m.d)) luaL_argerror(L, idx, "matrix contains NaN or Inf");
}

/* core.ae_epoch(model, X, batch_size, learning_rate, optimizer, loss, weight_decay, momentum, shuffle, seed,
 *               precision = "float32" | "bfloat16", noise = 0, noise_type = "mask" | "gaussian")
 *   → mean loss per element over the epoch */
static int l_ae_epoch(lua_State *L)
{
    fm_ae_model *m = checkmodel(L, 1);
    lfm_matrix *X = lfm_checkmatrix(L, 2);
    check_data(L, 2, X, m->arch.d_in, "autoencoder");
    lua_Integer batch = luaL_checkinteger(L, 3);
    lua_Number lr = luaL_checknumber(L, 4);
    static const char *const opts[] = {"adam", "sgd", NULL};
    int opt = luaL_checkoption(L, 5, "adam", opts) == 0 ? FM_AE_ADAM : FM_AE_SGD;
    int loss = check_loss(L, 6, m);
    lua_Number wd = luaL_optnumber(L, 7, 0), mom = luaL_optnumber(L, 8, 0);
    int shuffle = lua_isnoneornil(L, 9) ? 1 : lua_toboolean(L, 9);
    lua_Integer seed = luaL_optinteger(L, 10, 0);
    int prec = luaL_checkoption(L, 11, "float32", PRECISION_NAMES) == 0 ? FM_AE_FLOAT32 : FM_AE_BFLOAT16;
    lua_Number noise = luaL_optnumber(L, 12, 0);
    static const char *const noises[] = {"mask", "gaussian", NULL};
    int noise_type = luaL_checkoption(L, 13, "mask", noises) == 0 ? FM_AE_NOISE_MASK : FM_AE_NOISE_GAUSSIAN;
    luaL_argcheck(L, batch >= 1, 3, "batch_size must be ≥ 1");
    luaL_argcheck(L, noise >= 0 && isfinite(noise) && (noise_type != FM_AE_NOISE_MASK || noise < 1), 12,
                  "noise must be a finite number ≥ 0 (below 1 for noise_type \"mask\")");
    luaL_argcheck(L, lr > 0 && isfinite(lr), 4, "learning_rate must be a finite number > 0");
    luaL_argcheck(L, wd >= 0 && isfinite(wd), 7, "weight_decay must be a finite number ≥ 0");
    luaL_argcheck(L, mom >= 0 && mom < 1, 8, "momentum must be in [0, 1)");
    luaL_argcheck(L, prec == FM_AE_FLOAT32 || fm_bf16_available(), 11,
                  "precision \"bfloat16\" needs a CPU with AVX512-BF16 (use \"auto\" or \"float32\")");
    fm_ae_train_opts o = {.batch_size = batch, .learning_rate = (float)lr, .weight_decay = (float)wd,
                          .momentum = (float)mom, .optimizer = opt, .loss = loss, .shuffle = shuffle,
                          .precision = prec, .noise = (float)noise, .noise_type = noise_type,
                          .seed = (uint64_t)seed};
    double v = 0;
    fm_status s = fm_ae_train_epoch(&v, m, X->m.data, X->m.n, &o);
    if (s != FM_STATUS_OK) return lfm_status_error(L, s, "fit", NULL);
    lua_pushnumber(L, v);
    return 1;
}

/* core.ae_eval_loss(model, X, loss) → mean loss per element */
static int l_ae_eval_loss(lua_State *L)
{
    fm_ae_model *m = checkmodel(L, 1);
    lfm_matrix *X = lfm_checkmatrix(L, 2);
    check_data(L, 2, X, m->arch.d_in, "autoencoder");
    int loss = check_loss(L, 3, m);
    double v = 0;
    fm_status s = fm_ae_eval_loss(&v, m, X->m.data, X->m.n, loss);
    if (s != FM_STATUS_OK) return lfm_status_error(L, s, "loss", NULL);
    lua_pushnumber(L, v);
    return 1;
}

static int apply(lua_State *L, int which)
{
    fm_ae_model *m = checkmodel(L, 1);
    const fm_ae_arch *a = &m->arch;
    lfm_matrix *X = lfm_checkmatrix(L, 2);
    int l0 = which == 1 ? a->n_enc : 0, l1 = which == 0 ? a->n_enc : a->n_layers;
    int64_t din = a->layer[l0].n_in, dout = a->layer[l1 - 1].n_out;
    if (X->m.d != din)
        luaL_argerror(L, 2, lua_pushfstring(L, "matrix has %I columns, the %s expects %I", (lua_Integer)X->m.d,
                                            which == 1 ? "decoder" : "encoder", (lua_Integer)din));
    if (fm_has_nonfinite(X->m.data, X->m.n * X->m.d)) luaL_argerror(L, 2, "matrix contains NaN or Inf");
    lfm_matrix *out = lfm_newmatrix(L, X->m.n, dout);
    fm_status s = fm_ae_apply(out->m.data, m, X->m.data, X->m.n, l0, l1);
    if (s != FM_STATUS_OK) return lfm_status_error(L, s, which == 0 ? "encode" : which == 1 ? "decode" : "reconstruct", NULL);
    return 1;
}

/* core.ae_encode(model, X) / ae_decode(model, Z) / ae_reconstruct(model, X) → matrix */
static int l_ae_encode(lua_State *L) { return apply(L, 0); }
static int l_ae_decode(lua_State *L) { return apply(L, 1); }
static int l_ae_reconstruct(lua_State *L) { return apply(L, 2); }

/* core.ae_params(model) → 1×n_params matrix (a copy) */
static int l_ae_params(lua_State *L)
{
    fm_ae_model *m = checkmodel(L, 1);
    lfm_matrix *out = lfm_newmatrix(L, 1, m->arch.n_params);
    memcpy(out->m.data, m->params, (size_t)m->arch.n_params * sizeof(float));
    return 1;
}

/* core.ae_save(model, path) */
static int l_ae_save(lua_State *L)
{
    fm_ae_model *m = checkmodel(L, 1);
    const char *path = luaL_checkstring(L, 2);
    char err[FM_ERRLEN] = "";
    fm_status s = fm_ae_save(m, path, err);
    if (s != FM_STATUS_OK) return lfm_status_error(L, s, "save", err);
    lua_pushboolean(L, 1);
    return 1;
}

/* core.ae_load(path) → model */
static int l_ae_load(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    lae *u = newmodel(L);
    char err[FM_ERRLEN] = "";
    fm_status s = fm_ae_load(&u->m, path, err);
    if (s != FM_STATUS_OK) return lfm_status_error(L, s, "load", err);
    return 1;
}

/* core.ae_gradcheck(model, loss, seed, batch) → {w = {per layer}, b = {per layer}, x = err}
 * The check runs in float64 on the model's architecture (not its parameters): keep it tiny. */
static int l_ae_gradcheck(lua_State *L)
{
    fm_ae_model *m = checkmodel(L, 1);
    int loss = check_loss(L, 2, m);
    lua_Integer seed = luaL_optinteger(L, 3, 0), B = luaL_optinteger(L, 4, 3);
    luaL_argcheck(L, B >= 1 && B <= 64, 4, "batch must be in 1..64");
    luaL_argcheck(L, m->arch.n_params * (m->arch.d_in * B + m->arch.n_params) <= ((int64_t)1 << 31), 1,
                  "network too large for a finite-difference check");
    double ew[FM_AE_MAX_LAYERS], eb[FM_AE_MAX_LAYERS], ex = 0;
    fm_status s = fm_ae_gradcheck(ew, eb, &ex, &m->arch, loss, (uint64_t)seed, B);
    if (s != FM_STATUS_OK) return lfm_status_error(L, s, "gradcheck", NULL);
    lua_createtable(L, 0, 3);
    lua_createtable(L, m->arch.n_layers, 0);
    for (int l = 0; l < m->arch.n_layers; l++) lua_pushnumber(L, ew[l]), lua_seti(L, -2, l + 1);
    lua_setfield(L, -2, "w");
    lua_createtable(L, m->arch.n_layers, 0);
    for (int l = 0; l < m->arch.n_layers; l++) lua_pushnumber(L, eb[l]), lua_seti(L, -2, l + 1);
    lua_setfield(L, -2, "b");
    lua_pushnumber(L, ex);
    lua_setfield(L, -2, "x");
    return 1;
}

/* core.bf16_available() → true when products can run in bfloat16 (AVX512-BF16 and FMCLUST_NO_BF16
 * unset); without it, gemm_bf16 computes in float32 */
static int l_bf16_available(lua_State *L)
{
    lua_pushboolean(L, fm_bf16_available());
    return 1;
}

/* core.gemm_bf16(A, B [, transpose_a, transpose_b, alpha = 1, beta = 0, C, bias, relu]) → C
 * C = alpha·op(A)·op(B) + beta·C with bfloat16 products and float32 sums (gemm_bf16.c). Without C
 * a new zero matrix is the C; with C, it must be m×n and is updated in place. bias (a 1×n matrix)
 * is then added to every row and relu clamps at 0, in the GEMM's own epilogue. */
static int l_gemm_bf16(lua_State *L)
{
    lfm_matrix *a = lfm_checkmatrix(L, 1);
    lfm_matrix *b = lfm_checkmatrix(L, 2);
    int ta = lua_toboolean(L, 3), tb = lua_toboolean(L, 4);
    lua_Number alpha = luaL_optnumber(L, 5, 1), beta = luaL_optnumber(L, 6, 0);
    int64_t m = ta ? a->m.d : a->m.n, k = ta ? a->m.n : a->m.d;
    int64_t kb = tb ? b->m.d : b->m.n, n = tb ? b->m.n : b->m.d;
    if (k != kb)
        return luaL_argerror(L, 2, lua_pushfstring(L, "inner sizes differ (%I and %I)", (lua_Integer)k, (lua_Integer)kb));
    luaL_argcheck(L, isfinite(alpha), 5, "alpha must be finite");
    luaL_argcheck(L, isfinite(beta), 6, "beta must be finite");
    lfm_matrix *c = NULL;
    if (!lua_isnoneornil(L, 7)) {
        c = lfm_checkmatrix(L, 7);
        if (c->m.n != m || c->m.d != n)
            return luaL_argerror(L, 7, lua_pushfstring(L, "C is %I×%I, the product is %I×%I", (lua_Integer)c->m.n,
                                                       (lua_Integer)c->m.d, (lua_Integer)m, (lua_Integer)n));
        if (c->m.data == a->m.data || c->m.data == b->m.data) return luaL_argerror(L, 7, "C must not be A or B");
    }
    const float *bias = NULL;
    if (!lua_isnoneornil(L, 8)) {
        lfm_matrix *bm = lfm_checkmatrix(L, 8);
        if (bm->m.n != 1 || bm->m.d != n)
            return luaL_argerror(L, 8, lua_pushfstring(L, "bias must be 1×%I, got %I×%I", (lua_Integer)n,
                                                       (lua_Integer)bm->m.n, (lua_Integer)bm->m.d));
        bias = bm->m.data;
    }
    int relu = lua_toboolean(L, 9);
    lua_settop(L, 9);
    if (c) lua_pushvalue(L, 7);   /* the result is C itself */
    else c = lfm_newmatrix(L, m, n);
    fm_status s = fm_gemm_bf16_ex(c->m.data, n, a->m.data, ta ? m : k, b->m.data, tb ? k : n, m, n, k, ta, tb,
                                  (float)alpha, (float)beta, bias, relu);
    if (s != FM_STATUS_OK) return lfm_status_error(L, s, "gemm_bf16", NULL);
    return 1;
}

static const luaL_Reg ae_meta[] = {{"__gc", ae_gc}, {"__close", ae_gc}, {NULL, NULL}};

static const luaL_Reg ae_funcs[] = {
    {"ae_new_dense", l_ae_new_dense},
    {"ae_new_conv", l_ae_new_conv},
    {"ae_info", l_ae_info},
    {"ae_epoch", l_ae_epoch},
    {"ae_eval_loss", l_ae_eval_loss},
    {"ae_encode", l_ae_encode},
    {"ae_decode", l_ae_decode},
    {"ae_reconstruct", l_ae_reconstruct},
    {"ae_params", l_ae_params},
    {"ae_save", l_ae_save},
    {"ae_load", l_ae_load},
    {"ae_gradcheck", l_ae_gradcheck},
    {"bf16_available", l_bf16_available},
    {"gemm_bf16", l_gemm_bf16},
    {NULL, NULL}};

void lfm_open_ae(lua_State *L)
{
    if (luaL_newmetatable(L, LFM_AE)) luaL_setfuncs(L, ae_meta, 0);
    lua_pop(L, 1);
    lfm_setfuncs(L, ae_funcs);
}
