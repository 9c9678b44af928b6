/* ae.c — autoencoder models: architectures, initialisation, the training epoch, inference in
 * batches, the finite-difference gradient check, save and load.
 *
 * Model file format (version 3; all integers and floats little-endian):
 *   offset 0   4 bytes   magic "FMAE"
 *          4   u32       format version (3; versions 1 and 2 still load)
 *          8   u32       kind: 0 dense, 1 conv
 *         12   u32       output activation: 0 linear, 2 sigmoid
 *         16   u32       count: number of layer sizes (dense) or of conv channels (conv), 1..62
 *         20   u32       precision of the last training epoch: 0 float32, 1 bfloat16 products
 *                        (version 1: reserved, 0)
 *         24   i64 × count   dense: d_in, hidden sizes..., latent — conv: the channels
 *              i64 × 3   conv only: image height, width, latent size
 *              i64       conv only, version ≥ 3: nh, the number of dense hidden layers (0 before v3)
 *              i64 × nh  conv only, version ≥ 3: their sizes, from the conv features to the latent
 *              i64       epochs trained
 *              i64       n_params (must equal what the architecture implies)
 *              f32 × n_params   the parameter vector (per layer: weights row-major, then biases)
 *              u64       FNV-1a 64-bit hash of every byte before it
 * The file must end right after the hash. Optimiser moments are not saved: training a loaded
 * model starts the optimiser afresh.
 */
#include "ae.h"
#include "gemm_bf16.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------------ architectures */

static void set_params(fm_ae_arch *a)
{
    int64_t off = 0;
    for (int l = 0; l < a->n_layers; l++) {
        fm_ae_layer *L = &a->layer[l];
        L->n_in = L->in_h * L->in_w * L->in_c;
        L->n_out = L->out_h * L->out_w * L->out_c;
        if (L->kind == FM_AE_DENSE) L->n_w = L->n_in * L->n_out;
        else L->n_w = 9 * L->in_c * L->out_c;
        L->n_b = L->out_c;
        L->w_off = off;
        off += L->n_w;
        L->b_off = off;
        off += L->n_b;
    }
    a->n_params = off;
    a->d_in = a->layer[0].n_in;
    a->d_latent = a->layer[a->n_enc - 1].n_out;
}

static void dense_layer(fm_ae_layer *L, int64_t in, int64_t out, int act)
{
    memset(L, 0, sizeof *L);
    L->kind = FM_AE_DENSE;
    L->act = act;
    L->in_h = L->in_w = L->out_h = L->out_w = 1;
    L->in_c = in;
    L->out_c = out;
}

fm_status fm_ae_arch_dense(fm_ae_arch *a, const int64_t *sizes, int n_sizes, int out_act)
{
    if (n_sizes < 2 || 2 * (n_sizes - 1) > FM_AE_MAX_LAYERS) return FM_STATUS_ARG;
    for (int i = 0; i < n_sizes; i++)
        if (sizes[i] < 1) return FM_STATUS_ARG;
    memset(a, 0, sizeof *a);
    int k = n_sizes - 1;
    a->n_layers = 2 * k;
    a->n_enc = k;
    for (int i = 0; i < k; i++)   /* encoder: ReLU, linear bottleneck */
        dense_layer(&a->layer[i], sizes[i], sizes[i + 1], i == k - 1 ? FM_AE_LINEAR : FM_AE_RELU);
    for (int i = 0; i < k; i++)   /* decoder: the mirror, ReLU, out_act at the end */
        dense_layer(&a->layer[k + i], sizes[k - i], sizes[k - i - 1], i == k - 1 ? out_act : FM_AE_RELU);
    set_params(a);
    return FM_STATUS_OK;
}

fm_status fm_ae_arch_conv(fm_ae_arch *a, int64_t h, int64_t w, const int64_t *channels, int n_ch,
                          const int64_t *hidden, int n_hidden, int64_t latent, int out_act)
{
    if (n_ch < 1 || n_hidden < 0 || 2 * (n_ch + n_hidden) + 2 > FM_AE_MAX_LAYERS || latent < 1 || h < 1 || w < 1)
        return FM_STATUS_ARG;
    int64_t f = (int64_t)1 << n_ch;
    if (h % f || w % f) return FM_STATUS_ARG;
    for (int i = 0; i < n_ch; i++)
        if (channels[i] < 1) return FM_STATUS_ARG;
    for (int i = 0; i < n_hidden; i++)
        if (hidden[i] < 1) return FM_STATUS_ARG;
    memset(a, 0, sizeof *a);
    a->conv = 1;
    a->n_conv = n_ch;
    int l = 0;
    int64_t ch = h, cw = w, cc = 1;
    for (int i = 0; i < n_ch; i++, l++) {
        fm_ae_layer *L = &a->layer[l];
        L->kind = FM_AE_CONV;
        L->act = FM_AE_RELU;
        L->in_h = ch, L->in_w = cw, L->in_c = cc;
        ch /= 2, cw /= 2, cc = channels[i];
        L->out_h = ch, L->out_w = cw, L->out_c = cc;
    }
    int64_t flat = ch * cw * cc, prev = flat;
    for (int i = 0; i < n_hidden; i++, l++) dense_layer(&a->layer[l], prev, hidden[i], FM_AE_RELU), prev = hidden[i];
    dense_layer(&a->layer[l++], prev, latent, FM_AE_LINEAR);
    a->n_enc = l;
    prev = latent;
    for (int i = n_hidden - 1; i >= 0; i--, l++) dense_layer(&a->layer[l], prev, hidden[i], FM_AE_RELU), prev = hidden[i];
    dense_layer(&a->layer[l++], prev, flat, FM_AE_RELU);
    for (int i = n_ch - 1; i >= 0; i--, l++) {
        fm_ae_layer *L = &a->layer[l];
        L->kind = FM_AE_DECONV;
        L->act = i == 0 ? out_act : FM_AE_RELU;
        L->in_h = ch, L->in_w = cw, L->in_c = cc;
        ch *= 2, cw *= 2, cc = i > 0 ? channels[i - 1] : 1;
        L->out_h = ch, L->out_w = cw, L->out_c = cc;
    }
    a->n_layers = l;
    set_params(a);
    return FM_STATUS_OK;
}

void fm_ae_init_params(float *params, const fm_ae_arch *a, uint64_t seed)
{
    for (int l = 0; l < a->n_layers; l++) {
        const fm_ae_layer *L = &a->layer[l];
        double fan_in, fan_out;
        if (L->kind == FM_AE_DENSE) fan_in = (double)L->n_in, fan_out = (double)L->n_out;
        else if (L->kind == FM_AE_CONV) fan_in = 9.0 * L->in_c, fan_out = 9.0 * L->out_c;
        else fan_in = 9.0 * L->in_c / 4, fan_out = 9.0 * L->out_c;   /* stride 2: ~9/4 taps reach a pixel */
        fm_rng r;
        fm_rng_init(&r, seed, (uint64_t)l);
        float *w = params + L->w_off;
        if (L->act == FM_AE_RELU) {   /* He: keeps the activations' scale through ReLU */
            double sd = sqrt(2.0 / fan_in);
            for (int64_t i = 0; i < L->n_w; i++) w[i] = (float)(sd * fm_rng_normal(&r));
        } else {                       /* Glorot uniform */
            double lim = sqrt(6.0 / (fan_in + fan_out));
            for (int64_t i = 0; i < L->n_w; i++) w[i] = (float)(lim * (2 * fm_rng_uniform(&r) - 1));
        }
        memset(params + L->b_off, 0, (size_t)L->n_b * sizeof(float));
    }
}

/* ------------------------------------------------------------------ the model */

fm_status fm_ae_model_new(fm_ae_model **out, const fm_ae_arch *a, uint64_t seed)
{
    *out = NULL;
    fm_ae_model *m = fm_alloc(1, sizeof *m);
    if (!m) return FM_STATUS_NOMEM;
    m->arch = *a;
    m->opt_kind = -1;
    if (!(m->params = fm_alloc((size_t)a->n_params, sizeof(float)))) {
        fm_free(m);
        return FM_STATUS_NOMEM;
    }
    fm_ae_init_params(m->params, a, seed);
    *out = m;
    return FM_STATUS_OK;
}

void fm_ae_model_free(fm_ae_model *m)
{
    if (!m) return;
    fm_free(m->params);
    fm_free(m->m);
    fm_free(m->v);
    fm_free(m);
}

/* the optimiser step on one layer's parameters, called by the backward pass as soon as that
 * layer's gradient is final (elementwise, so per layer = all at once) */
struct step_ctx { fm_ae_model *m; const float *grad; const fm_ae_train_opts *o; const fm_ae_ws_f32 *ws; };
static void opt_layer(void *ctx, int64_t off, int64_t count)
{
    struct step_ctx *c = ctx;
    if (c->ws->err != FM_STATUS_OK) return;   /* a product failed (no memory): no step on its garbage */
    fm_ae_model *m = c->m;
    const fm_ae_train_opts *o = c->o;
    if (o->optimizer == FM_AE_ADAM)
        fm_ae_adam_step(m->params + off, m->m + off, m->v + off, c->grad + off, count, o->learning_rate, 0.9f,
                        0.999f, 1e-8f, o->weight_decay, m->step);
    else
        fm_ae_sgd_step(m->params + off, m->m + off, c->grad + off, count, o->learning_rate, o->momentum,
                       o->weight_decay);
}

/* the permutation stream of epoch e: far from the init streams (0..n_layers-1) */
#define AE_SHUFFLE_STREAM(e) ((uint64_t)1 << 32 | (uint64_t)(e))
/* one stream per (epoch, position in the epoch): the corruption does not depend on threads */
#define AE_NOISE_STREAM(e, i) ((uint64_t)2 << 60 | (uint64_t)(e) << 32 | (uint64_t)(i))

/* xn (nb×d) ← x corrupted: masked values set to zero, or Gaussian noise added */
static void corrupt_batch(float *xn, const float *x, int64_t nb, int64_t d, const fm_ae_train_opts *o,
                          int64_t epoch, int64_t start)
{
    #pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < nb; i++) {
        fm_rng r;
        fm_rng_init(&r, o->seed, AE_NOISE_STREAM(epoch, start + i));
        const float *xi = x + i * d;
        float *yi = xn + i * d;
        if (o->noise_type == FM_AE_NOISE_MASK)
            for (int64_t j = 0; j < d; j++) yi[j] = fm_rng_uniform(&r) < o->noise ? 0.0f : xi[j];
        else
            for (int64_t j = 0; j < d; j++) yi[j] = xi[j] + o->noise * (float)fm_rng_normal(&r);
    }
}

fm_status fm_ae_train_epoch(double *loss, fm_ae_model *m, const float *x, int64_t n, const fm_ae_train_opts *o)
{
    const fm_ae_arch *a = &m->arch;
    int64_t d = a->d_in, B = o->batch_size < n ? o->batch_size : n, np = a->n_params;
    if (n < 1 || B < 1) return FM_STATUS_ARG;
    if (o->precision != FM_AE_FLOAT32 && (o->precision != FM_AE_BFLOAT16 || !fm_bf16_available()))
        return FM_STATUS_ARG;
    if (m->opt_kind != o->optimizer) {   /* a new optimiser starts from zero moments */
        fm_free(m->m), fm_free(m->v);
        m->m = m->v = NULL;
        m->step = 0;
        if (!(m->m = fm_alloc((size_t)np, sizeof(float)))) return FM_STATUS_NOMEM;
        if (o->optimizer == FM_AE_ADAM && !(m->v = fm_alloc((size_t)np, sizeof(float)))) return FM_STATUS_NOMEM;
        m->opt_kind = o->optimizer;
    }
    fm_ae_ws_f32 ws;
    fm_status s = fm_ae_ws_init_f32(&ws, a, B);
    if (s != FM_STATUS_OK) return s;
    ws.bf16 = o->precision == FM_AE_BFLOAT16;
    float *grad = fm_alloc((size_t)np, sizeof(float));
    int64_t *perm = o->shuffle ? fm_alloc((size_t)n, sizeof(int64_t)) : NULL;
    float *xb = o->shuffle ? fm_alloc((size_t)(B * d), sizeof(float)) : NULL;
    float *xn = o->noise > 0 ? fm_alloc((size_t)(B * d), sizeof(float)) : NULL;
    if (!grad || (o->shuffle && (!perm || !xb)) || (o->noise > 0 && !xn)) {
        s = FM_STATUS_NOMEM;
        goto done;
    }
    if (o->shuffle) fm_rng_permutation(perm, n, o->seed, AE_SHUFFLE_STREAM(m->epochs));
    double tot = 0;
    for (int64_t start = 0; start < n; start += B) {
        int64_t nb = n - start < B ? n - start : B;
        const float *xin = x + start * d;
        if (o->shuffle) {
            #pragma omp parallel for schedule(static) if (nb * d > 32768)
            for (int64_t i = 0; i < nb; i++) memcpy(xb + i * d, x + perm[start + i] * d, (size_t)d * sizeof(float));
            xin = xb;
        }
        const float *xnet = xin;   /* what the network sees; the target is always the clean batch */
        if (o->noise > 0) corrupt_batch(xn, xin, nb, d, o, m->epochs, start), xnet = xn;
        fm_ae_forward_f32(&ws, a, m->params, xnet, nb, 0, a->n_layers);
        m->step++;
        struct step_ctx sc = {m, grad, o, &ws};
        tot += fm_ae_backward_f32(grad, NULL, &ws, a, m->params, xnet, xin, nb, o->loss, opt_layer, &sc);
        if ((s = ws.err) != FM_STATUS_OK) goto done;
    }
    *loss = tot / ((double)n * (double)d);
    m->epochs++;
    m->precision = o->precision;
done:
    fm_free(grad);
    fm_free(perm);
    fm_free(xb);
    fm_free(xn);
    fm_ae_ws_free_f32(&ws);
    return s;
}

#define AE_INFER_BATCH 256

fm_status fm_ae_eval_loss(double *loss, const fm_ae_model *m, const float *x, int64_t n, int kind)
{
    const fm_ae_arch *a = &m->arch;
    int64_t B = n < AE_INFER_BATCH ? n : AE_INFER_BATCH, d = a->d_in;
    if (n < 1) return FM_STATUS_ARG;
    fm_ae_ws_f32 ws;
    fm_status s = fm_ae_ws_init_f32(&ws, a, B);
    if (s != FM_STATUS_OK) return s;
    double tot = 0;
    for (int64_t start = 0; start < n; start += B) {
        int64_t nb = n - start < B ? n - start : B;
        fm_ae_forward_f32(&ws, a, m->params, x + start * d, nb, 0, a->n_layers);
        tot += fm_ae_loss_f32(&ws, a, x + start * d, nb, kind);
    }
    *loss = tot / ((double)n * (double)d);
    fm_ae_ws_free_f32(&ws);
    return FM_STATUS_OK;
}

fm_status fm_ae_apply(float *out, const fm_ae_model *m, const float *x, int64_t n, int l0, int l1)
{
    const fm_ae_arch *a = &m->arch;
    if (l0 < 0 || l1 > a->n_layers || l0 >= l1) return FM_STATUS_ARG;
    if (n == 0) return FM_STATUS_OK;
    int64_t B = n < AE_INFER_BATCH ? n : AE_INFER_BATCH;
    int64_t din = a->layer[l0].n_in, dout = a->layer[l1 - 1].n_out;
    fm_ae_ws_f32 ws;
    fm_status s = fm_ae_ws_init_f32(&ws, a, B);
    if (s != FM_STATUS_OK) return s;
    for (int64_t start = 0; start < n; start += B) {
        int64_t nb = n - start < B ? n - start : B;
        fm_ae_forward_f32(&ws, a, m->params, x + start * din, nb, l0, l1);
        memcpy(out + start * dout, ws.act[l1 - 1], (size_t)(nb * dout) * sizeof(float));
    }
    fm_ae_ws_free_f32(&ws);
    return FM_STATUS_OK;
}

/* ------------------------------------------------------------------ gradient check (float64) */

fm_status fm_ae_gradcheck(double *err_w, double *err_b, double *err_x, const fm_ae_arch *a, int loss,
                          uint64_t seed, int64_t B)
{
    int64_t np = a->n_params, d = a->d_in;
    fm_status s = FM_STATUS_NOMEM;
    fm_ae_ws_f64 ws;
    float *pf = fm_alloc((size_t)np, sizeof(float));
    double *p = fm_alloc((size_t)np, sizeof(double)), *g = fm_alloc((size_t)np, sizeof(double));
    double *x = fm_alloc((size_t)(B * d), sizeof(double)), *t = fm_alloc((size_t)(B * d), sizeof(double));
    double *dx = fm_alloc((size_t)(B * d), sizeof(double));
    if (fm_ae_ws_init_f64(&ws, a, B) != FM_STATUS_OK) {
        memset(&ws, 0, sizeof ws);
        goto done;
    }
    if (!pf || !p || !g || !x || !t || !dx) goto done;
    fm_ae_init_params(pf, a, seed);
    for (int64_t i = 0; i < np; i++) p[i] = pf[i];
    fm_rng r;
    fm_rng_init(&r, seed, 999);
    for (int l = 0; l < a->n_layers; l++)   /* nonzero biases, so their gradients are exercised */
        for (int64_t j = 0; j < a->layer[l].n_b; j++) p[a->layer[l].b_off + j] = 0.2 * fm_rng_uniform(&r) - 0.1;
    for (int64_t i = 0; i < B * d; i++) x[i] = 0.05 + 0.9 * fm_rng_uniform(&r);
    for (int64_t i = 0; i < B * d; i++) t[i] = 0.05 + 0.9 * fm_rng_uniform(&r);
    fm_ae_forward_f64(&ws, a, p, x, B, 0, a->n_layers);
    fm_ae_backward_f64(g, dx, &ws, a, p, x, t, B, loss, NULL, NULL);
    const double h = 1e-5, scale = 1.0 / ((double)B * (double)d);
#define AE_LOSS_AT() (fm_ae_forward_f64(&ws, a, p, x, B, 0, a->n_layers), fm_ae_loss_f64(&ws, a, t, B, loss) * scale)
#define AE_REL(an, nu) (fabs((an) - (nu)) / fmax(fabs(an) + fabs(nu), 1e-6))
    for (int l = 0; l < a->n_layers; l++) {
        const fm_ae_layer *L = &a->layer[l];
        err_w[l] = err_b[l] = 0;
        for (int64_t i = L->w_off; i < L->b_off + L->n_b; i++) {
            double keep = p[i];
            p[i] = keep + h;
            double lp = AE_LOSS_AT();
            p[i] = keep - h;
            double lm = AE_LOSS_AT();
            p[i] = keep;
            double e = AE_REL(g[i], (lp - lm) / (2 * h));
            double *slot = i < L->b_off ? &err_w[l] : &err_b[l];
            if (e > *slot) *slot = e;
        }
    }
    *err_x = 0;
    for (int64_t i = 0; i < B * d; i++) {
        double keep = x[i];
        x[i] = keep + h;
        double lp = AE_LOSS_AT();
        x[i] = keep - h;
        double lm = AE_LOSS_AT();
        x[i] = keep;
        double e = AE_REL(dx[i], (lp - lm) / (2 * h));
        if (e > *err_x) *err_x = e;
    }
#undef AE_LOSS_AT
#undef AE_REL
    s = FM_STATUS_OK;
done:
    fm_ae_ws_free_f64(&ws);
    fm_free(pf), fm_free(p), fm_free(g), fm_free(x), fm_free(t), fm_free(dx);
    return s;
}

/* ------------------------------------------------------------------ save / load */

#define AE_MAGIC "FMAE"
#define AE_VERSION 3u

static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++) h = (h ^ c[i]) * 1099511628211ull;
    return h;
}
#define FNV_INIT 14695981039346656037ull

/* the recipe of an architecture: dense sizes, or conv channels + h, w, latent */
static int recipe(const fm_ae_arch *a, int64_t *vals, uint32_t *count)
{
    if (a->conv) {
        int nc = a->n_conv, nh = a->n_enc - 1 - nc;
        for (int i = 0; i < nc; i++) vals[i] = a->layer[i].out_c;
        vals[nc] = a->layer[0].in_h, vals[nc + 1] = a->layer[0].in_w, vals[nc + 2] = a->d_latent;
        vals[nc + 3] = nh;
        for (int i = 0; i < nh; i++) vals[nc + 4 + i] = a->layer[nc + i].n_out;
        *count = (uint32_t)nc;
        return nc + 4 + nh;
    }
    vals[0] = a->layer[0].n_in;
    for (int i = 0; i < a->n_enc; i++) vals[i + 1] = a->layer[i].n_out;
    *count = (uint32_t)(a->n_enc + 1);
    return a->n_enc + 1;
}

fm_status fm_ae_save(const fm_ae_model *m, const char *path, char *err)
{
    const fm_ae_arch *a = &m->arch;
    int64_t vals[FM_AE_MAX_LAYERS + 8];
    uint32_t count;
    int nv = recipe(a, vals, &count);
    uint32_t hdr[5] = {AE_VERSION, (uint32_t)a->conv, (uint32_t)a->layer[a->n_layers - 1].act, count,
                       (uint32_t)m->precision};
    int64_t tail[2] = {m->epochs, a->n_params};
    FILE *f = fopen(path, "wb");
    if (!f) {
        if (err) snprintf(err, FM_ERRLEN, "cannot open '%s' for writing", path);
        return FM_STATUS_IO;
    }
    uint64_t h = FNV_INIT;
    int ok = 1;
#define PUT(ptr, size) (ok = ok && fwrite(ptr, 1, size, f) == (size), h = fnv1a(h, ptr, size))
    PUT(AE_MAGIC, 4);
    PUT(hdr, sizeof hdr);
    PUT(vals, (size_t)nv * sizeof(int64_t));
    PUT(tail, sizeof tail);
    PUT(m->params, (size_t)a->n_params * sizeof(float));
#undef PUT
    ok = ok && fwrite(&h, 1, sizeof h, f) == sizeof h;
    if (fclose(f) != 0) ok = 0;
    if (!ok) {
        if (err) snprintf(err, FM_ERRLEN, "cannot write '%s' (disk full?)", path);
        return FM_STATUS_IO;
    }
    return FM_STATUS_OK;
}

#define LOAD_FAIL(st, ...)                                           \
    do {                                                             \
        if (err) snprintf(err, FM_ERRLEN, __VA_ARGS__);              \
        s = st;                                                      \
        goto done;                                                   \
    } while (0)

fm_status fm_ae_load(fm_ae_model **out, const char *path, char *err)
{
    *out = NULL;
    fm_status s = FM_STATUS_OK;
    unsigned char *buf = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (err) snprintf(err, FM_ERRLEN, "cannot open '%s'", path);
        return FM_STATUS_IO;
    }
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0) size = ftell(f);
    if (size < 0 || fseek(f, 0, SEEK_SET) != 0) LOAD_FAIL(FM_STATUS_IO, "cannot read '%s'", path);
    if (!(buf = fm_alloc((size_t)size + 1, 1))) LOAD_FAIL(FM_STATUS_NOMEM, "out of memory reading '%s'", path);
    if (fread(buf, 1, (size_t)size, f) != (size_t)size) LOAD_FAIL(FM_STATUS_IO, "cannot read '%s'", path);
    size_t pos = 0, n = (size_t)size;
#define NEED(k, what) \
    if (n - pos < (size_t)(k)) LOAD_FAIL(FM_STATUS_FORMAT, "'%s' is truncated (ends in the %s)", path, what)
    NEED(4, "magic");
    if (memcmp(buf, AE_MAGIC, 4) != 0) LOAD_FAIL(FM_STATUS_FORMAT, "'%s' is not an fmclust autoencoder file (bad magic)", path);
    pos = 4;
    uint32_t hdr[5];
    NEED(sizeof hdr, "header");
    memcpy(hdr, buf + pos, sizeof hdr);
    pos += sizeof hdr;
    if (hdr[0] < 1 || hdr[0] > AE_VERSION)
        LOAD_FAIL(FM_STATUS_FORMAT, "'%s' has format version %u, this fmclust reads versions 1 to %u", path, hdr[0],
                  AE_VERSION);
    if (hdr[1] > 1 || (hdr[2] != FM_AE_LINEAR && hdr[2] != FM_AE_SIGMOID) || hdr[3] < 1 ||
        hdr[3] > FM_AE_MAX_LAYERS / 2 - 1 || hdr[4] > (hdr[0] == 1 ? 0u : (uint32_t)FM_AE_BFLOAT16))
        LOAD_FAIL(FM_STATUS_FORMAT, "'%s' has a corrupt header", path);
    int conv = (int)hdr[1];
    size_t nv = hdr[3] + (conv ? 3 : 0);
    int64_t vals[FM_AE_MAX_LAYERS + 8], tail[2], nh = 0;
    NEED(nv * sizeof(int64_t), "layer sizes");
    memcpy(vals, buf + pos, nv * sizeof(int64_t));
    pos += nv * sizeof(int64_t);
    if (conv && hdr[0] >= 3) {   /* the dense hidden sizes between the convs and the latent */
        NEED(sizeof nh, "layer sizes");
        memcpy(&nh, buf + pos, sizeof nh);
        pos += sizeof nh;
        if (nh < 0 || 2 * ((int64_t)hdr[3] + nh) + 2 > FM_AE_MAX_LAYERS)
            LOAD_FAIL(FM_STATUS_FORMAT, "'%s' has corrupt layer sizes", path);
        NEED((size_t)nh * sizeof(int64_t), "layer sizes");
        memcpy(vals + nv, buf + pos, (size_t)nh * sizeof(int64_t));
        pos += (size_t)nh * sizeof(int64_t);
        for (int64_t i = 0; i < nh; i++)
            if (vals[nv + i] < 1 || vals[nv + i] > ((int64_t)1 << 24))
                LOAD_FAIL(FM_STATUS_FORMAT, "'%s' has corrupt layer sizes", path);
    }
    NEED(sizeof tail, "header");
    memcpy(tail, buf + pos, sizeof tail);
    pos += sizeof tail;
    for (size_t i = 0; i < nv; i++)
        if (vals[i] < 1 || vals[i] > ((int64_t)1 << 24)) LOAD_FAIL(FM_STATUS_FORMAT, "'%s' has corrupt layer sizes", path);
    fm_ae_arch a;
    fm_status sa = conv ? fm_ae_arch_conv(&a, vals[hdr[3]], vals[hdr[3] + 1], vals, (int)hdr[3], vals + nv, (int)nh,
                                          vals[hdr[3] + 2], (int)hdr[2])
                        : fm_ae_arch_dense(&a, vals, (int)hdr[3], (int)hdr[2]);
    if (sa != FM_STATUS_OK) LOAD_FAIL(FM_STATUS_FORMAT, "'%s' describes an impossible architecture", path);
    if (tail[1] != a.n_params || tail[0] < 0)
        LOAD_FAIL(FM_STATUS_FORMAT, "'%s' is corrupt: %lld parameters stored, the architecture has %lld", path,
                  (long long)tail[1], (long long)a.n_params);
    NEED((size_t)a.n_params * sizeof(float), "parameters");
    size_t pbytes = (size_t)a.n_params * sizeof(float);
    const unsigned char *pdata = buf + pos;
    pos += pbytes;
    NEED(sizeof(uint64_t), "checksum");
    if (n - pos != sizeof(uint64_t)) LOAD_FAIL(FM_STATUS_FORMAT, "'%s' has %zu unexpected bytes at the end", path, n - pos - 8);
    uint64_t want, got = fnv1a(FNV_INIT, buf, pos);
    memcpy(&want, buf + pos, sizeof want);
    if (want != got) LOAD_FAIL(FM_STATUS_FORMAT, "'%s' is corrupt (checksum mismatch)", path);
#undef NEED
    fm_ae_model *m;
    if ((s = fm_ae_model_new(&m, &a, 0)) != FM_STATUS_OK) LOAD_FAIL(s, "out of memory loading '%s'", path);
    memcpy(m->params, pdata, pbytes);
    m->epochs = tail[0];
    m->precision = (int)hdr[4];
    if (fm_has_nonfinite(m->params, a.n_params)) {
        fm_ae_model_free(m);
        LOAD_FAIL(FM_STATUS_FORMAT, "'%s' holds NaN or Inf parameters", path);
    }
    *out = m;
done:
    fclose(f);
    fm_free(buf);
    return s;
}
