/* ae.h — dense and convolutional autoencoders trained on the CPU (ae_layers.c, ae_optim.c, ae.c).
 *
 * A network is a chain of layers; all parameters live in one float vector (so the optimiser,
 * save and load see one array). Images are stored channels-last (h×w×c per sample), so a
 * one-channel 28×28 image is just its 784 pixels, and every convolution is one GEMM over the
 * whole batch (im2col: rows = batch·output pixels, columns = 3·3·channels).
 *
 * Layer kinds (weights row-major in the parameter vector, then the biases):
 *   DENSE   y (B×out) = x (B×in) · Wᵀ + b          W is out×in
 *   CONV    3×3, stride 2, padding 1: h×w×ci → h/2×w/2×co      W is co×(3·3·ci), taps (ky,kx,ci)
 *   DECONV  the transpose of CONV: h×w×ci → 2h×2w×co           W is ci×(3·3·co), taps (ky,kx,co)
 * each followed by an activation (linear, ReLU or sigmoid).
 *
 * Training runs its matrix products in float32 (OpenBLAS) or in mixed precision: inputs rounded
 * to bfloat16, sums in float32 (gemm_bf16.c, CPUs with AVX512-BF16); parameters, optimiser
 * moments, biases, activations, reductions and the loss stay float32 either way. Inference
 * (fm_ae_apply, fm_ae_eval_loss) is float32.
 */
#ifndef FM_AE_H
#define FM_AE_H

#include "fm.h"

enum { FM_AE_DENSE = 0, FM_AE_CONV = 1, FM_AE_DECONV = 2 };
enum { FM_AE_LINEAR = 0, FM_AE_RELU = 1, FM_AE_SIGMOID = 2 };
enum { FM_AE_MSE = 0, FM_AE_BCE = 1 };
enum { FM_AE_ADAM = 0, FM_AE_SGD = 1 };
/* denoising: the network sees a corrupted input and learns to reconstruct the clean one */
enum { FM_AE_NOISE_MASK = 0, FM_AE_NOISE_GAUSSIAN = 1 };
/* training precision: float32 products, or bfloat16 products with float32 accumulation (mixed
 * precision: parameters, optimiser state, bias/activation math and the loss stay float32) */
enum { FM_AE_FLOAT32 = 0, FM_AE_BFLOAT16 = 1 };

#define FM_AE_MAX_LAYERS 64
#define FM_AE_ROWCHUNK 64   /* bias-gradient partial sums: fixed row chunks, so any thread count agrees */

typedef struct {
    int kind, act;
    int64_t in_h, in_w, in_c;      /* one sample in: h×w×c (dense: 1×1×features) */
    int64_t out_h, out_w, out_c;   /* one sample out */
    int64_t n_in, n_out;           /* features per sample (h·w·c) */
    int64_t w_off, n_w, b_off, n_b;/* the weights and biases in the parameter vector */
} fm_ae_layer;

typedef struct {
    int n_layers, n_enc;           /* layers 0..n_enc-1 are the encoder; its output is the embedding */
    int conv;                      /* built by fm_ae_arch_conv */
    int n_conv;                    /* conv: the number of conv layers (the dense ones follow) */
    fm_ae_layer layer[FM_AE_MAX_LAYERS];
    int64_t n_params, d_in, d_latent;
} fm_ae_arch;

/* ---- architecture (ae.c) ---- */
/* sizes (n_sizes ≥ 2): d_in, hidden..., latent; the decoder mirrors it. ReLU on hidden layers,
 * linear bottleneck, out_act on the reconstruction. */
fm_status fm_ae_arch_dense(fm_ae_arch *a, const int64_t *sizes, int n_sizes, int out_act);
/* h×w one-channel images (h, w divisible by 2^n_ch), channels (n_ch ≥ 1): stride-2 ReLU convs,
 * then the dense bottleneck — ReLU layers of the sizes hidden (n_hidden ≥ 0), a linear layer to
 * `latent` — mirrored on the way back (dense ReLU layers up to the conv features), then mirrored
 * transposed convs. */
fm_status fm_ae_arch_conv(fm_ae_arch *a, int64_t h, int64_t w, const int64_t *channels, int n_ch,
                          const int64_t *hidden, int n_hidden, int64_t latent, int out_act);
/* params (n_params): He-normal weights before ReLU, Glorot-uniform otherwise, zero biases;
 * layer l draws from the random stream (seed, l) */
void fm_ae_init_params(float *params, const fm_ae_arch *a, uint64_t seed);

/* ---- kernels and network passes (ae_layers.c), for T = float (_f32) and double (_f64) ----
 * A workspace holds the activations of a batch of up to B rows. */
#define FM_AE_WS_DECL(T, SFX)                                                                       \
    typedef struct {                                                                                \
        int64_t B;                                                                                  \
        T *act[FM_AE_MAX_LAYERS];  /* act[l]: output of layer l after its activation (B×n_out) */   \
        T *d0, *d1;                /* gradient ping-pong (B×max width) */                           \
        T *col;                    /* im2col scratch */                                             \
        T *fcol[FM_AE_MAX_LAYERS]; /* a conv layer's im2col of its input, from forward to backward */  \
        double *part;              /* bias-gradient partial sums */                                 \
        double *rowloss;           /* (B) */                                                        \
        int bf16;                  /* float only: GEMM products in bfloat16 (set after init) */     \
        fm_status err;             /* the first failure inside a pass (checked by the caller) */    \
    } fm_ae_ws##SFX;                                                                                \
    fm_status fm_ae_ws_init##SFX(fm_ae_ws##SFX *ws, const fm_ae_arch *a, int64_t B);                \
    void fm_ae_ws_free##SFX(fm_ae_ws##SFX *ws);                                                     \
    /* layers l0..l1-1 on x (B × layer[l0].n_in); outputs in ws->act[l] */                          \
    void fm_ae_forward##SFX(fm_ae_ws##SFX *ws, const fm_ae_arch *a, const T *params, const T *x,    \
                            int64_t B, int l0, int l1);                                             \
    /* after fm_ae_forward over all layers: grad (n_params) ← ∂L/∂params, dx (B×d_in, may be NULL) ← \
     * ∂L/∂x, with L the mean loss of the reconstruction against target (B×d_in) over all B·d_in  \
     * elements. Returns the summed (not mean) loss. done(ctx, off, count), when not NULL, is told \
     * as soon as the gradient of params[off, off+count) (one layer) is final. */                   \
    double fm_ae_backward##SFX(T *grad, T *dx, fm_ae_ws##SFX *ws, const fm_ae_arch *a,             \
                               const T *params, const T *x, const T *target, int64_t B, int loss,   \
                               void (*done)(void *, int64_t, int64_t), void *ctx);                  \
    /* summed loss of the last forward against target, no gradient */                              \
    double fm_ae_loss##SFX(fm_ae_ws##SFX *ws, const fm_ae_arch *a, const T *target, int64_t B, int loss);

FM_AE_WS_DECL(float, _f32)
FM_AE_WS_DECL(double, _f64)

/* ---- optimisers (ae_optim.c): elementwise, in fixed chunks ---- */
/* Adam (Kingma & Ba; PyTorch's form: weight_decay adds wd·p to the gradient); t is the step, from 1 */
void fm_ae_adam_step(float *restrict p, float *restrict m, float *restrict v, const float *restrict g, int64_t n, float lr, float beta1,
                     float beta2, float eps, float weight_decay, int64_t t);
/* SGD with (heavy-ball) momentum as PyTorch: vel ← μ·vel + g (+ wd·p); p ← p − lr·vel */
void fm_ae_sgd_step(float *restrict p, float *restrict vel, const float *restrict g, int64_t n, float lr, float momentum,
                    float weight_decay);

/* ---- the model (ae.c) ---- */
typedef struct {
    fm_ae_arch arch;
    float *params;        /* n_params */
    float *m, *v;         /* optimiser state (allocated at first training step; not saved) */
    int64_t step;         /* optimiser steps taken */
    int64_t epochs;       /* epochs trained (the shuffle stream of the next epoch) */
    int opt_kind;         /* which optimiser the state belongs to (-1: none) */
    int precision;        /* FM_AE_FLOAT32 / FM_AE_BFLOAT16: of the last training epoch (saved) */
} fm_ae_model;

typedef struct {
    int64_t batch_size;
    float learning_rate, weight_decay, momentum;
    int optimizer, loss, shuffle;
    int precision;        /* FM_AE_BFLOAT16 needs fm_bf16_available() (else FM_STATUS_ARG) */
    int noise_type;       /* FM_AE_NOISE_*: how inputs are corrupted (the target stays clean) */
    float noise;          /* mask: the probability a value is zeroed; gaussian: the std of the added noise */
    uint64_t seed;
} fm_ae_train_opts;

/* a model with freshly initialised parameters; fm_ae_model_free releases it */
fm_status fm_ae_model_new(fm_ae_model **out, const fm_ae_arch *a, uint64_t seed);
void fm_ae_model_free(fm_ae_model *m);

/* one epoch over x (n×d_in): mean loss per element → *loss */
fm_status fm_ae_train_epoch(double *loss, fm_ae_model *m, const float *x, int64_t n,
                            const fm_ae_train_opts *o);
/* mean loss of the reconstruction of x (n×d_in) */
fm_status fm_ae_eval_loss(double *loss, const fm_ae_model *m, const float *x, int64_t n, int kind);
/* layers l0..l1-1 on x (n × layer[l0].n_in) → out (n × layer[l1-1].n_out), in batches:
 * encode = (0, n_enc), decode = (n_enc, n_layers), reconstruct = (0, n_layers) */
fm_status fm_ae_apply(float *out, const fm_ae_model *m, const float *x, int64_t n, int l0, int l1);

/* save / load: the format is documented at the top of ae.c. err gets a sentence naming the file. */
fm_status fm_ae_save(const fm_ae_model *m, const char *path, char *err);
fm_status fm_ae_load(fm_ae_model **out, const char *path, char *err);

/* central finite differences in float64 on the architecture of a (parameters from seed, random
 * biases, random x and target in (0,1), B rows): err_w[l], err_b[l] ← max relative error of the
 * weight / bias gradient of layer l, *err_x ← of the input gradient. Relative error:
 * |analytic − numeric| / max(|analytic| + |numeric|, 1e-6). */
fm_status fm_ae_gradcheck(double *err_w, double *err_b, double *err_x, const fm_ae_arch *a, int loss,
                          uint64_t seed, int64_t B);

#endif
