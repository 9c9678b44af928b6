/* ae_layers_t.h — layer kernels and network passes, written once for a real type T.
 * Included by ae_layers.c twice: T = float (training) and T = double (the finite-difference
 * gradient check). Needs T, SFX (function suffix), GEMM_T(ws, c, a, b, m, n, k, ta, tb, beta) (a
 * row-major c = op(a)·op(b) + beta·c for T, in bfloat16 products when ws->bf16) and EXP_T; for
 * T = float also GEMM_BIAS_RELU_T (the bfloat16 product with its bias and ReLU fused).
 *
 * Determinism: every parallel loop writes disjoint outputs; the only reductions (bias gradients,
 * loss) go through fixed row chunks summed in chunk order, so 1 and 2 threads agree bit for bit.
 */
/* below this many elements a loop runs on one thread: a parallel region costs a few µs on an idle
 * machine and a scheduler time slice on a busy one */
#define AE_PAR_MIN 32768
#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define F(name) CAT(name, SFX)
#define WS CAT(fm_ae_ws, SFX)

/* y (rows×cols) ← act(y + b), b (cols); b = NULL: the bias is already in y */
static void F(bias_act)(T *y, const T *b, int64_t rows, int64_t cols, int act)
{
    if (!b && act == FM_AE_LINEAR) return;
    #pragma omp parallel for schedule(static) if (rows * cols > AE_PAR_MIN)
    for (int64_t i = 0; i < rows; i++) {
        T *r = y + i * cols;
        if (!b) {
            if (act == FM_AE_RELU) for (int64_t j = 0; j < cols; j++) r[j] = r[j] > 0 ? r[j] : 0;
            else for (int64_t j = 0; j < cols; j++) r[j] = (T)1 / ((T)1 + EXP_T(-r[j]));
        } else if (act == FM_AE_RELU) {
            for (int64_t j = 0; j < cols; j++) { T z = r[j] + b[j]; r[j] = z > 0 ? z : 0; }
        } else if (act == FM_AE_SIGMOID) {
            for (int64_t j = 0; j < cols; j++) r[j] = (T)1 / ((T)1 + EXP_T(-(r[j] + b[j])));
        } else {
            for (int64_t j = 0; j < cols; j++) r[j] += b[j];
        }
    }
}

/* y (rows×cols) ← each row = b: the bias goes in first and the product adds to it (beta = 1),
 * which saves BLAS its zeroing pass (beta = 0) and us a bias pass */
static void F(fill_rows)(T *y, const T *b, int64_t rows, int64_t cols)
{
    #pragma omp parallel for schedule(static) if (rows * cols > AE_PAR_MIN)
    for (int64_t i = 0; i < rows; i++) memcpy(y + i * cols, b, (size_t)cols * sizeof(T));
}

/* dz (rows×cols) ← dz ⊙ act'(a) where a = act(z) is the layer output (skipped when apply_act = 0);
 * db (cols) ← Σ_rows dz, summed per chunk of FM_AE_ROWCHUNK rows (part: chunks×cols), then over
 * the chunks in order. */
static void F(act_back_bias)(T *dz, T *db, const T *a, int64_t rows, int64_t cols, int act, int apply_act,
                              double *part)
{
    int64_t nch = (rows + FM_AE_ROWCHUNK - 1) / FM_AE_ROWCHUNK;
    #pragma omp parallel if (rows * cols > AE_PAR_MIN)
    {
    #pragma omp for schedule(static)
    for (int64_t c = 0; c < nch; c++) {
        double *p = part + c * cols;
        for (int64_t j = 0; j < cols; j++) p[j] = 0;
        int64_t i1 = (c + 1) * FM_AE_ROWCHUNK < rows ? (c + 1) * FM_AE_ROWCHUNK : rows;
        for (int64_t i = c * FM_AE_ROWCHUNK; i < i1; i++) {
            T *g = dz + i * cols;
            const T *o = a + i * cols;
            if (apply_act && act == FM_AE_RELU) {
                for (int64_t j = 0; j < cols; j++) g[j] = o[j] > 0 ? g[j] : 0;
            } else if (apply_act && act == FM_AE_SIGMOID) {
                for (int64_t j = 0; j < cols; j++) g[j] *= o[j] * ((T)1 - o[j]);
            }
            for (int64_t j = 0; j < cols; j++) p[j] += g[j];
        }
    }
    /* (barrier) the chunk sums, in chunk order */
    #pragma omp for schedule(static)
    for (int64_t j = 0; j < cols; j++) {
        double s = 0;
        for (int64_t c = 0; c < nch; c++) s += part[c * cols + j];
        db[j] = (T)s;
    }
    }
}

/* 3×3 stride-2 padding-1 geometry between a big image (hb×wb×c) and a small one (hs×ws).
 * col (B·hs·ws × 9c): row (b, oy, ox), column (ky, kx, ch) = big[b, 2oy−1+ky, 2ox−1+kx, ch] or 0.
 * The three taps kx = 0..2 of a row ky are 3c consecutive values on both sides: one copy. */
static inline void F(im2col_row)(T *dst, const T *src, int64_t wb, int64_t ws, int64_t c)
{
    /* dst: the (b, oy) row block of col, at column ky·3c; src: big row iy, or NULL (padding) */
    for (int64_t ox = 0; ox < ws; ox++, dst += 9 * c) {
        int64_t ix = 2 * ox - 1;
        if (!src) {
            for (int64_t t = 0; t < 3 * c; t++) dst[t] = 0;
        } else if (ix >= 0 && ix + 2 < wb) {
            memcpy(dst, src + ix * c, (size_t)(3 * c) * sizeof(T));
        } else {
            for (int kx = 0; kx < 3; kx++, ix++)
                for (int64_t ch = 0; ch < c; ch++) dst[kx * c + ch] = ix >= 0 && ix < wb ? src[ix * c + ch] : 0;
        }
    }
}

static void F(im2col)(T *col, const T *big, int64_t B, int64_t hb, int64_t wb, int64_t c, int64_t hs,
                      int64_t ws)
{
    #pragma omp parallel for schedule(static) if (B * hs * ws * 9 * c > AE_PAR_MIN)
    for (int64_t r = 0; r < B * hs; r++) {
        int64_t b = r / hs, oy = r % hs;
        for (int ky = 0; ky < 3; ky++) {
            int64_t iy = 2 * oy - 1 + ky;
            const T *src = iy < 0 || iy >= hb ? NULL : big + (b * hb + iy) * wb * c;
            T *dst = col + r * ws * 9 * c + ky * 3 * c;
            if (c == 1) F(im2col_row)(dst, src, wb, ws, 1);   /* the input layer: scalar copies */
            else F(im2col_row)(dst, src, wb, ws, c);
        }
    }
}

/* the adjoint of im2col: big[b, iy, ix, ch] = Σ col[(b,oy,ox), (ky,kx,ch)] over the taps with
 * 2oy−1+ky = iy and 2ox−1+kx = ix. Written as a gather: each big pixel sums its 1, 2 or 4 taps
 * in a fixed order and is written once (no zeroing pass, no scattered read-modify-write). */
static int F(taps)(int64_t i, int64_t ns, int64_t *o, int *k)
{
    int n = 0;
    if (i % 2 == 0) { o[n] = i / 2; k[n++] = 1; return n; }     /* even: the centre tap */
    if ((i + 1) / 2 < ns) { o[n] = (i + 1) / 2; k[n++] = 0; }   /* odd: left/top tap of the next */
    o[n] = (i - 1) / 2; k[n++] = 2;                             /* ... and right/bottom of the previous */
    return n;
}

/* one big row (wb pixels of c) from one tap row: src = the col row block (b, oy) at column ky·3c.
 * add = 0: the first tap row sets the pixels. Per pixel the x taps in taps() order. */
static inline void F(col2im_row)(T *dst, const T *src, int64_t wb, int64_t ws, int64_t c, int add)
{
    for (int64_t ix = 0; ix < wb; ix++, dst += c) {
        int64_t j = ix / 2;
        if (ix % 2 == 0) {                                          /* kx = 1 of ox = j */
            const T *s1 = src + j * 9 * c + c;
            if (add) for (int64_t ch = 0; ch < c; ch++) dst[ch] += s1[ch];
            else for (int64_t ch = 0; ch < c; ch++) dst[ch] = s1[ch];
        } else {                                                    /* kx = 0 of j + 1, kx = 2 of j */
            const T *s2 = src + j * 9 * c + 2 * c;
            if (j + 1 < ws) {
                const T *s0 = src + (j + 1) * 9 * c;
                if (add) for (int64_t ch = 0; ch < c; ch++) { dst[ch] += s0[ch]; dst[ch] += s2[ch]; }
                else for (int64_t ch = 0; ch < c; ch++) dst[ch] = s0[ch] + s2[ch];
            } else {
                if (add) for (int64_t ch = 0; ch < c; ch++) dst[ch] += s2[ch];
                else for (int64_t ch = 0; ch < c; ch++) dst[ch] = s2[ch];
            }
        }
    }
}

/* with bias (c) not NULL, each big pixel then gets act(· + bias) (the transposed conv's own bias
 * and activation, while the row is in cache) */
static void F(col2im)(T *big, const T *col, int64_t B, int64_t hb, int64_t wb, int64_t c, int64_t hs,
                      int64_t ws, const T *bias, int act)
{
    #pragma omp parallel for schedule(static) if (B * hs * ws * 9 * c > AE_PAR_MIN)
    for (int64_t r = 0; r < B * hb; r++) {
        int64_t b = r / hb, iy = r % hb, oy[2];
        int ky[2];
        int ny = F(taps)(iy, hs, oy, ky);
        T *dst = big + r * wb * c;
        for (int a = 0; a < ny; a++) {
            const T *src = col + (b * hs + oy[a]) * ws * 9 * c + ky[a] * 3 * c;
            if (c == 1) F(col2im_row)(dst, src, wb, ws, 1, a > 0);   /* the output layer */
            else F(col2im_row)(dst, src, wb, ws, c, a > 0);
        }
        if (!bias) continue;
        for (int64_t ix = 0; ix < wb; ix++) {
            T *d = dst + ix * c;
            if (act == FM_AE_RELU) {
                for (int64_t ch = 0; ch < c; ch++) { T z = d[ch] + bias[ch]; d[ch] = z > 0 ? z : 0; }
            } else if (act == FM_AE_SIGMOID) {
                for (int64_t ch = 0; ch < c; ch++) d[ch] = (T)1 / ((T)1 + EXP_T(-(d[ch] + bias[ch])));
            } else {
                for (int64_t ch = 0; ch < c; ch++) d[ch] += bias[ch];
            }
        }
    }
}

/* c (m×n) ← a (m×k) · op(b) for a tall a (m = batch · pixels, n and k small): the rows split into
 * one block per thread, each a single-threaded GEMM (OpenBLAS runs serially inside a parallel
 * region); this avoids OpenBLAS's per-call thread start-up on products this skinny (conv AE:
 * ~20 % less CPU with 2 threads). A split must not change any element's arithmetic: block edges
 * sit on multiples of 64 rows (each row meets the same micro-kernel, full or tail, as in one
 * call), and each block must stay on OpenBLAS's standard path — its small-matrix and "direct"
 * SkylakeX kernels are chosen from m·n·k (below ~1e6 and ~7.3e6) — so a product is split only
 * when every block's m·n·(last K chunk) is at least 2^23. */
#define AE_SPLIT_MIN ((int64_t)1 << 23)
static void F(gemm_rows)(WS *wsp, T *c, const T *a, const T *b, int64_t m, int64_t n, int64_t k, int tb, T beta)
{
    if (wsp->bf16) {   /* the bfloat16 GEMM threads itself, bit-identically */
        GEMM_T(wsp, c, a, b, m, n, k, 0, tb, beta);
        return;
    }
    int nt = omp_in_parallel() ? 1 : omp_get_max_threads();
    int64_t kc = k - (k - 1) / kchunk(k) * kchunk(k), smallest = m;
    for (int t = 0; t < nt; t++) {
        int64_t r0 = (m * t / nt) / 64 * 64, r1 = t == nt - 1 ? m : (m * (t + 1) / nt) / 64 * 64;
        if (r1 - r0 < smallest) smallest = r1 - r0;
    }
    if (nt == 1 || smallest * n * kc < AE_SPLIT_MIN) {
        GEMM_T(wsp, c, a, b, m, n, k, 0, tb, beta);
        return;
    }
    #pragma omp parallel num_threads(nt)
    {
        int t = omp_get_thread_num();
        int64_t r0 = (m * t / nt) / 64 * 64, r1 = t == nt - 1 ? m : (m * (t + 1) / nt) / 64 * 64;
        GEMM_T(wsp, c + r0 * n, a + r0 * k, b, r1 - r0, n, k, 0, tb, beta);
    }
}
#undef AE_SPLIT_MIN

/* out (B×n_out) ← act(layer(in (B×n_in))). col: scratch, and for CONV the layer's own im2col
 * buffer, kept for the backward pass. The float32 path puts the bias in first and lets BLAS add
 * the product (beta = 1); the bfloat16 GEMM adds bias and ReLU to its tiles before storing them
 * (a sigmoid output goes through bias_act after). */
static void F(layer_forward)(WS *ws, T *out, const T *in, const T *params, const fm_ae_layer *L, int64_t B, T *col)
{
    const T *w = params + L->w_off, *b = params + L->b_off;
    if (L->kind == FM_AE_DENSE || L->kind == FM_AE_CONV) {
        int64_t rows = B * L->out_h * L->out_w, k = L->kind == FM_AE_DENSE ? L->n_in : 9 * L->in_c;
        const T *src = in;
        if (L->kind == FM_AE_CONV) {
            F(im2col)(col, in, B, L->in_h, L->in_w, L->in_c, L->out_h, L->out_w);
            src = col;
        }
#ifdef GEMM_BIAS_RELU_T
        if (ws->bf16 && L->act != FM_AE_SIGMOID) {
            GEMM_BIAS_RELU_T(ws, out, src, w, rows, L->out_c, k, 1, b, L->act == FM_AE_RELU);   /* act(x·Wᵀ + b) */
            return;
        }
#endif
        if (!ws->bf16) F(fill_rows)(out, b, rows, L->out_c);
        if (L->kind == FM_AE_DENSE) GEMM_T(ws, out, src, w, rows, L->out_c, k, 0, 1, ws->bf16 ? 0 : 1);  /* x·Wᵀ */
        else F(gemm_rows)(ws, out, src, w, rows, L->out_c, k, 1, ws->bf16 ? 0 : 1);                       /* col·Wᵀ */
        F(bias_act)(out, ws->bf16 ? b : NULL, rows, L->out_c, L->act);
    } else {
        int64_t rows = B * L->in_h * L->in_w;
        F(gemm_rows)(ws, col, in, w, rows, 9 * L->out_c, L->in_c, 0, 0);       /* x·W, one tap row per pixel */
        F(col2im)(out, col, B, L->out_h, L->out_w, L->out_c, L->in_h, L->in_w, b, L->act);
    }
}

/* dz (B×n_out): ∂L/∂(pre-activation) of the layer (already through its activation).
 * dw, db ← the parameter gradients; din (B×n_in) ← ∂L/∂in unless NULL. col: scratch;
 * fcol: for CONV, the im2col of `in` left by the forward pass. */
static void F(layer_backward)(WS *ws, T *din, T *dw, const T *dz, const T *in, const T *params,
                              const fm_ae_layer *L, int64_t B, T *col, const T *fcol)
{
    const T *w = params + L->w_off;
    if (L->kind == FM_AE_DENSE) {
        GEMM_T(ws, dw, dz, in, L->n_out, L->n_in, B, 1, 0, 0);                /* dzᵀ·x */
        if (din) GEMM_T(ws, din, dz, w, B, L->n_in, L->n_out, 0, 0, 0);       /* dz·W */
    } else if (L->kind == FM_AE_CONV) {
        int64_t rows = B * L->out_h * L->out_w, k = 9 * L->in_c;
        GEMM_T(ws, dw, dz, fcol, L->out_c, k, rows, 1, 0, 0);                 /* dzᵀ·col */
        if (din) {
            F(gemm_rows)(ws, col, dz, w, rows, k, L->out_c, 0, 0);             /* dz·W → tap gradients */
            F(col2im)(din, col, B, L->in_h, L->in_w, L->in_c, L->out_h, L->out_w, NULL, 0);
        }
    } else {
        int64_t rows = B * L->in_h * L->in_w, k = 9 * L->out_c;
        F(im2col)(col, dz, B, L->out_h, L->out_w, L->out_c, L->in_h, L->in_w);
        GEMM_T(ws, dw, in, col, L->in_c, k, rows, 1, 0, 0);                   /* xᵀ·col(dz) */
        if (din) F(gemm_rows)(ws, din, col, w, rows, L->in_c, k, 1, 0);        /* col(dz)·Wᵀ */
    }
}

static int64_t F(col_size)(const fm_ae_layer *L, int64_t B)
{
    if (L->kind == FM_AE_CONV) return B * L->out_h * L->out_w * 9 * L->in_c;
    if (L->kind == FM_AE_DECONV) return B * L->in_h * L->in_w * 9 * L->out_c;
    return 0;
}

fm_status F(fm_ae_ws_init)(WS *ws, const fm_ae_arch *a, int64_t B)
{
    memset(ws, 0, sizeof *ws);
    ws->B = B;
    int64_t wmax = a->d_in, colmax = 1, partmax = 1;
    for (int l = 0; l < a->n_layers; l++) {
        const fm_ae_layer *L = &a->layer[l];
        if (L->n_out > wmax) wmax = L->n_out;
        if (F(col_size)(L, B) > colmax) colmax = F(col_size)(L, B);
        int64_t rows = B * (L->kind == FM_AE_DENSE ? 1 : L->out_h * L->out_w);
        int64_t p = (rows + FM_AE_ROWCHUNK - 1) / FM_AE_ROWCHUNK * L->n_b;
        if (p > partmax) partmax = p;
        if (!(ws->act[l] = fm_alloc((size_t)(B * L->n_out), sizeof(T)))) goto fail;
        if (L->kind == FM_AE_CONV && !(ws->fcol[l] = fm_alloc((size_t)F(col_size)(L, B), sizeof(T)))) goto fail;
    }
    if (!(ws->d0 = fm_alloc((size_t)(B * wmax), sizeof(T))) || !(ws->d1 = fm_alloc((size_t)(B * wmax), sizeof(T))) ||
        !(ws->col = fm_alloc((size_t)colmax, sizeof(T))) || !(ws->part = fm_alloc((size_t)partmax, sizeof(double))) ||
        !(ws->rowloss = fm_alloc((size_t)B, sizeof(double))))
        goto fail;
    return FM_STATUS_OK;
fail:
    F(fm_ae_ws_free)(ws);
    return FM_STATUS_NOMEM;
}

void F(fm_ae_ws_free)(WS *ws)
{
    for (int l = 0; l < FM_AE_MAX_LAYERS; l++) fm_free(ws->act[l]), fm_free(ws->fcol[l]);
    fm_free(ws->d0);
    fm_free(ws->d1);
    fm_free(ws->col);
    fm_free(ws->part);
    fm_free(ws->rowloss);
    memset(ws, 0, sizeof *ws);
}

void F(fm_ae_forward)(WS *ws, const fm_ae_arch *a, const T *params, const T *x, int64_t B, int l0, int l1)
{
    const T *in = x;
    for (int l = l0; l < l1; l++) {
        F(layer_forward)(ws, ws->act[l], in, params, &a->layer[l], B, ws->fcol[l] ? ws->fcol[l] : ws->col);
        in = ws->act[l];
    }
}

/* the loss of out (B×d, after the output activation) against target, summed; when dz is not NULL,
 * dz ← ∂(mean loss)/∂(pre-activation of the output): MSE goes through the output activation here,
 * BCE (sigmoid output) uses the fused form p − t. */
static double F(loss_rows)(T *dz, double *rowloss, const T *out, const T *target, int64_t B, int64_t d, int act,
                           int loss)
{
    double scale = 1.0 / ((double)B * (double)d);
    #pragma omp parallel for schedule(static) if (B * d > AE_PAR_MIN)
    for (int64_t i = 0; i < B; i++) {
        const T *o = out + i * d, *t = target + i * d;
        T *g = dz ? dz + i * d : NULL;
        double s = 0;
        if (loss == FM_AE_BCE) {
            for (int64_t j = 0; j < d; j++) {
                /* clamp p away from 0 and 1 so the loss stays finite (as PyTorch's log clamp) */
                double p = o[j] < 1e-12 ? 1e-12 : (o[j] > 1 - 1e-12 ? 1 - 1e-12 : (double)o[j]);
                s -= t[j] * log(p) + (1 - t[j]) * log1p(-p);
                if (g) g[j] = (T)((o[j] - t[j]) * scale);
            }
        } else {
            for (int64_t j = 0; j < d; j++) {
                double e = (double)o[j] - (double)t[j];
                s += e * e;
                if (g) {
                    T ge = (T)(2 * e * scale);
                    if (act == FM_AE_RELU) ge = o[j] > 0 ? ge : 0;
                    else if (act == FM_AE_SIGMOID) ge *= o[j] * ((T)1 - o[j]);
                    g[j] = ge;
                }
            }
        }
        rowloss[i] = s;
    }
    double tot = 0;
    for (int64_t i = 0; i < B; i++) tot += rowloss[i];
    return tot;
}

double F(fm_ae_loss)(WS *ws, const fm_ae_arch *a, const T *target, int64_t B, int loss)
{
    const fm_ae_layer *L = &a->layer[a->n_layers - 1];
    return F(loss_rows)(NULL, ws->rowloss, ws->act[a->n_layers - 1], target, B, L->n_out, L->act, loss);
}

double F(fm_ae_backward)(T *grad, T *dx, WS *ws, const fm_ae_arch *a, const T *params, const T *x,
                         const T *target, int64_t B, int loss, void (*done)(void *, int64_t, int64_t), void *ctx)
{
    int last = a->n_layers - 1;
    const fm_ae_layer *Ll = &a->layer[last];
    T *dz = ws->d0, *dnext = ws->d1;
    double tot = F(loss_rows)(dz, ws->rowloss, ws->act[last], target, B, Ll->n_out, Ll->act, loss);
    for (int l = last; l >= 0; l--) {
        const fm_ae_layer *L = &a->layer[l];
        int64_t rows = B * (L->kind == FM_AE_DENSE ? 1 : L->out_h * L->out_w);
        /* the output layer's dz already went through its activation in loss_rows */
        F(act_back_bias)(dz, grad + L->b_off, ws->act[l], rows, L->n_b, L->act, l != last, ws->part);
        const T *in = l > 0 ? ws->act[l - 1] : x;
        T *din = l > 0 ? dnext : dx;   /* the data gradient only when asked for */
        F(layer_backward)(ws, din, grad + L->w_off, dz, in, params, L, B, ws->col, ws->fcol[l]);
        /* layer l's parameters are no longer needed by this pass: the optimiser can update them
         * now, while their gradient is still in cache */
        if (done) done(ctx, L->w_off, L->n_w + L->n_b);
        T *t = dz; dz = dnext; dnext = t;
    }
    return tot;
}

#undef CAT_
#undef AE_PAR_MIN
#undef CAT
#undef F
#undef WS
