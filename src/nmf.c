/* nmf.c — non-negative matrix factorisation with the Frobenius loss, after scikit-learn 1.2's NMF
 * (coordinate descent of Hsieh & Dhillon 2011 / Cichocki & Phan 2009, multiplicative updates of
 * Lee & Seung 2001, NNDSVD initialisation of Boutsidis & Gallopoulos 2008).
 *
 * Where the time goes on 70,000×784 with k = 20: each iteration needs X·Hᵀ (for W) and Xᵀ·W (for H),
 * 2·n·d·k flops each, and X (220 MB) does not fit in cache. The two products are fused into one
 * pass over X in row blocks: X_b·Hᵀ, then W_b's update (rows of W are independent), then X_bᵀ·W_b
 * with the new W_b while X_b is still in cache — the same arithmetic as scikit-learn's two
 * separate products, X read once instead of twice, the W sweep on both cores. The products run in
 * AVX-512 kernels that read X in place (no GEMM packing copy), from a byte copy of X when X is
 * 8-bit data such as images scaled to [0, 1] (a quarter of the memory traffic).
 *
 * Determinism: sums over rows are accumulated per fixed row group (a function of n, d, k only) and
 * the group partials added in group order; every kernel sums in an order fixed by the code (the
 * SGEMM fallback is called on one block at a time inside our parallel loop, so single-threaded).
 * LAPACK runs on one thread. The result is the same for any thread count.
 */
#include "nmf.h"

#include <cblas.h>
#include <lapacke.h>
#include <float.h>
#include <math.h>
#include <omp.h>
#include <string.h>

#define NMF_BLOCK 256                 /* rows per block: X_b is 256×784 floats = 800 KB, reused from L2 */
#define NMF_MAX_GROUPS 32             /* fixed row groups, each with its own partial sums */
#define NMF_PARTIAL_BYTES (64 << 20)  /* cap on the memory of all group partials of one pass */
#define NMF_EPS_MU 1.1920929e-07f     /* float32 eps: scikit-learn's floor for a zero MU denominator */
#define NMF_EPS_INIT 1e-6f            /* NNDSVD entries below this become exact zeros */

/* fm_rng stream ranges, one per random use, so no two uses share draws */
#define STREAM_RANDOM_H   (1ULL << 40)
#define STREAM_RANDOM_W   (2ULL << 40)
#define STREAM_OMEGA      (3ULL << 40)
#define STREAM_NNDSVDAR_W (4ULL << 40)
#define STREAM_NNDSVDAR_H (5ULL << 40)
#define STREAM_SHUFFLE    (6ULL << 40)

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* go parallel only when a loop has this much work: a team's start-up and barrier cost more than
 * small problems (the grouping, hence the result, is the same either way) */
#define PAR(work) ((work) > 2000000)

/* ------------------------------------------------------------------ fixed row groups */

typedef struct {
    int64_t n, nblocks, ngroups;
} rowgroups;

/* partial_floats: size of one group's partial result; the group count is capped so that all
 * partials together stay under NMF_PARTIAL_BYTES. Depends on (n, partial_floats) only. */
static rowgroups make_groups(int64_t n, int64_t partial_floats)
{
    rowgroups g;
    g.n = n;
    g.nblocks = (n + NMF_BLOCK - 1) / NMF_BLOCK;
    int64_t cap = NMF_MAX_GROUPS;
    if (partial_floats > 0) {
        int64_t m = NMF_PARTIAL_BYTES / (partial_floats * (int64_t)sizeof(float));
        if (m < cap) cap = m;
    }
    if (cap < 1) cap = 1;
    g.ngroups = g.nblocks < cap ? g.nblocks : cap;
    if (g.ngroups < 1) g.ngroups = 1;
    return g;
}

static void group_blocks(const rowgroups *g, int64_t i, int64_t *b0, int64_t *b1)
{
    *b0 = i * g->nblocks / g->ngroups;
    *b1 = (i + 1) * g->nblocks / g->ngroups;
}

static void block_rows(const rowgroups *g, int64_t b, int64_t *r0, int64_t *nb)
{
    *r0 = b * NMF_BLOCK;
    *nb = min64(NMF_BLOCK, g->n - *r0);
}

/* out[j] = Σ_g part[g·count + j], in group order, in double */
static void reduce_groups(float *out, const float *part, int64_t ngroups, int64_t count)
{
    #pragma omp parallel for schedule(static) if (PAR(count * ngroups))
    for (int64_t j = 0; j < count; j++) {
        double s = 0.0;
        for (int64_t g = 0; g < ngroups; g++) s += part[g * count + j];
        out[j] = (float)s;
    }
}

/* ------------------------------------------------------------------ skinny-product kernels
 *
 * NMF's products pair the big X (n×d) with a small factor (k ≪ d columns). A general GEMM packs
 * both operands, so every pass copies X once more; these kernels read X in place and keep the small
 * operand in L1/L2. Two shapes cover every product here:
 *   kern_abt: T (rows×m) = A (rows×da) · Bᵀ, B m×da   — X·Hᵀ: dot products along X's rows
 *   kern_atb: P (m×db) (+)= Aᵀ (m×rows) · B (rows×db) — Wᵀ·X: row-scaled sums of X's rows
 * The X operand (A of abt, B of atb) is either float or, when X holds at most 256 multiples q·s of
 * one step s (8-bit images scaled to [0, 1]), the bytes q: a quarter of the memory traffic, and on
 * this 2-core machine the passes over X are bound by memory bandwidth. The products are then
 * s·(Q·Hᵀ) and s·(Wᵀ·Q). Each output element is summed in an order fixed by the code, never by the
 * thread count. Without AVX-512 they fall back to SGEMM on float X (called single-threaded from
 * inside our parallel loops). */

typedef struct {
    const float *f;      /* n×d floats, always there (the residual reads them) */
    const uint8_t *q;    /* n×d bytes with f = q·scale (up to float rounding), or NULL */
    float scale;
    int64_t n, d;
} xview;

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
#include <immintrin.h>
#define NMF_KERNELS 1

/* 16 values of row data at element offset off: floats, or bytes widened to float */
static inline __attribute__((always_inline)) __m512 load16(const void *base, int64_t off, __mmask16 mk,
                                                           const int u8, const int masked)
{
    if (u8) {
        const uint8_t *p = (const uint8_t *)base + off;
        __m128i v = masked ? _mm_maskz_loadu_epi8(mk, p) : _mm_loadu_si128((const __m128i *)p);
        return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(v));
    }
    const float *p = (const float *)base + off;
    return masked ? _mm512_maskz_loadu_ps(mk, p) : _mm512_loadu_ps(p);
}

#define ABT_R 4   /* rows of A per tile */
#define ABT_C 6   /* rows of B per tile: 4×6 accumulators + 4 A vectors + 1 B vector ≤ 32 zmm */

static inline __attribute__((always_inline)) void abt_tile(float *t, int64_t ldt, const void *a, float sa,
                                                           const float *b, int64_t da, const int R,
                                                           const int C, const int u8)
{
    __m512 acc[ABT_R][ABT_C];
    #pragma GCC unroll 16
    for (int r = 0; r < R; r++)
        #pragma GCC unroll 16
        for (int c = 0; c < C; c++) acc[r][c] = _mm512_setzero_ps();
    int64_t j = 0;
    for (; j + 16 <= da; j += 16) {
        __m512 av[ABT_R];
        #pragma GCC unroll 16
        for (int r = 0; r < R; r++) av[r] = load16(a, r * da + j, 0, u8, 0);
        #pragma GCC unroll 16
        for (int c = 0; c < C; c++) {
            __m512 bv = _mm512_loadu_ps(b + c * da + j);
            #pragma GCC unroll 16
            for (int r = 0; r < R; r++) acc[r][c] = _mm512_fmadd_ps(av[r], bv, acc[r][c]);
        }
    }
    if (j < da) {
        __mmask16 mk = (__mmask16)((1u << (da - j)) - 1u);
        __m512 av[ABT_R];
        #pragma GCC unroll 16
        for (int r = 0; r < R; r++) av[r] = load16(a, r * da + j, mk, u8, 1);
        #pragma GCC unroll 16
        for (int c = 0; c < C; c++) {
            __m512 bv = _mm512_maskz_loadu_ps(mk, b + c * da + j);
            #pragma GCC unroll 16
            for (int r = 0; r < R; r++) acc[r][c] = _mm512_fmadd_ps(av[r], bv, acc[r][c]);
        }
    }
    #pragma GCC unroll 16
    for (int r = 0; r < R; r++)
        #pragma GCC unroll 16
        for (int c = 0; c < C; c++) t[r * ldt + c] = sa * _mm512_reduce_add_ps(acc[r][c]);
}

#define ABT_CASE(RR, CC)                                                         \
    case (RR) * 8 + (CC):                                                        \
        if (u8) abt_tile(t, ldt, a, sa, b, da, RR, CC, 1);                       \
        else abt_tile(t, ldt, a, sa, b, da, RR, CC, 0);                          \
        break;
static void abt_dispatch(float *t, int64_t ldt, const void *a, float sa, int u8, const float *b, int64_t da,
                         int R, int C)
{
    switch (R * 8 + C) {
        ABT_CASE(4, 1) ABT_CASE(4, 2) ABT_CASE(4, 3) ABT_CASE(4, 4) ABT_CASE(4, 5) ABT_CASE(4, 6)
        ABT_CASE(3, 1) ABT_CASE(3, 2) ABT_CASE(3, 3) ABT_CASE(3, 4) ABT_CASE(3, 5) ABT_CASE(3, 6)
        ABT_CASE(2, 1) ABT_CASE(2, 2) ABT_CASE(2, 3) ABT_CASE(2, 4) ABT_CASE(2, 5) ABT_CASE(2, 6)
        ABT_CASE(1, 1) ABT_CASE(1, 2) ABT_CASE(1, 3) ABT_CASE(1, 4) ABT_CASE(1, 5) ABT_CASE(1, 6)
        default: break;
    }
}

/* t (rows×m, ld m) = A · bᵀ with b m×da; A is rows×da floats (a_u8 = 0) or bytes times sa */
static void kern_abt(float *t, const void *a, int a_u8, float sa, const float *b, int64_t rows, int64_t da,
                     int64_t m)
{
    int64_t ntile = (m + ABT_C - 1) / ABT_C;   /* balanced column tiles: k = 20 → 4 tiles of 5 */
    size_t esz = a_u8 ? 1 : sizeof(float);
    for (int64_t i = 0; i < rows; i += ABT_R) {
        int R = (int)min64(ABT_R, rows - i);
        const void *ai = (const char *)a + (size_t)(i * da) * esz;
        for (int64_t tc = 0; tc < ntile; tc++) {
            int64_t c0 = tc * m / ntile, c1 = (tc + 1) * m / ntile;
            abt_dispatch(t + i * m + c0, m, ai, sa, a_u8, b + c0 * da, da, R, (int)(c1 - c0));
        }
    }
}

#define ATB_C 12  /* output rows per tile: 12×2 accumulators + 2 B vectors + 1 broadcast ≤ 32 zmm */

/* p[c][j..j+32) = (accumulate ? p : 0) + sb·Σ_i a[i][c]·b[i][j..j+32) for the C columns of a
 * starting at a; m0/m1 mask the two 16-wide halves at the right edge */
static inline __attribute__((always_inline)) void atb_tile(float *p, int64_t ldp, const float *a, int64_t lda,
                                                           const void *b, float sb, int64_t ldb, int64_t rows,
                                                           __mmask16 m0, __mmask16 m1, int accumulate,
                                                           const int C, const int u8)
{
    __m512 acc[ATB_C][2];
    #pragma GCC unroll 16
    for (int c = 0; c < C; c++) acc[c][0] = acc[c][1] = _mm512_setzero_ps();
    for (int64_t i = 0; i < rows; i++) {
        __m512 b0 = load16(b, i * ldb, m0, u8, 1), b1 = load16(b, i * ldb + 16, m1, u8, 1);
        const float *ai = a + i * lda;
        #pragma GCC unroll 16
        for (int c = 0; c < C; c++) {
            __m512 av = _mm512_set1_ps(ai[c]);
            acc[c][0] = _mm512_fmadd_ps(av, b0, acc[c][0]);
            acc[c][1] = _mm512_fmadd_ps(av, b1, acc[c][1]);
        }
    }
    __m512 s = _mm512_set1_ps(sb);
    #pragma GCC unroll 16
    for (int c = 0; c < C; c++) {
        __m512 r0 = _mm512_mul_ps(s, acc[c][0]), r1 = _mm512_mul_ps(s, acc[c][1]);
        if (accumulate) {
            r0 = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, p + c * ldp), r0);
            r1 = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, p + c * ldp + 16), r1);
        }
        _mm512_mask_storeu_ps(p + c * ldp, m0, r0);
        _mm512_mask_storeu_ps(p + c * ldp + 16, m1, r1);
    }
}

#define ATB_CASE(CC)                                                                      \
    case CC:                                                                              \
        if (u8) atb_tile(p, ldp, a, lda, b, sb, ldb, rows, m0, m1, accumulate, CC, 1);    \
        else atb_tile(p, ldp, a, lda, b, sb, ldb, rows, m0, m1, accumulate, CC, 0);       \
        break;
static void atb_dispatch(float *p, int64_t ldp, const float *a, int64_t lda, const void *b, float sb, int u8,
                         int64_t ldb, int64_t rows, __mmask16 m0, __mmask16 m1, int accumulate, int C)
{
    switch (C) {
        ATB_CASE(1) ATB_CASE(2) ATB_CASE(3) ATB_CASE(4) ATB_CASE(5) ATB_CASE(6)
        ATB_CASE(7) ATB_CASE(8) ATB_CASE(9) ATB_CASE(10) ATB_CASE(11) ATB_CASE(12)
        default: break;
    }
}

/* p (m×db, ld db) (+)= aᵀ · B with a rows×m floats, B rows×db floats (b_u8 = 0) or bytes times sb */
static void kern_atb(float *p, const float *a, const void *b, int b_u8, float sb, int64_t rows, int64_t db,
                     int64_t m, int accumulate)
{
    int64_t ntile = (m + ATB_C - 1) / ATB_C;   /* k = 20 → 2 tiles of 10 */
    size_t esz = b_u8 ? 1 : sizeof(float);
    for (int64_t tc = 0; tc < ntile; tc++) {
        int64_t c0 = tc * m / ntile, c1 = (tc + 1) * m / ntile;
        for (int64_t j = 0; j < db; j += 32) {
            int64_t w = db - j;
            __mmask16 m0 = w >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << w) - 1u);
            __mmask16 m1 = w >= 32 ? (__mmask16)0xFFFF : w > 16 ? (__mmask16)((1u << (w - 16)) - 1u) : 0;
            atb_dispatch(p + c0 * db + j, db, a + c0, m, (const char *)b + (size_t)j * esz, sb, b_u8, db, rows,
                         m0, m1, accumulate, (int)(c1 - c0));
        }
    }
}

#else   /* no AVX-512: SGEMM on float X, single-threaded inside our parallel loops */
#define NMF_KERNELS 0

static void kern_abt(float *t, const void *a, int a_u8, float sa, const float *b, int64_t rows, int64_t da,
                     int64_t m)
{
    (void)a_u8;
    (void)sa;
    fm_gemm(t, (const float *)a, b, rows, m, da, 0, 1, 1.0f, 0.0f);
}

static void kern_atb(float *p, const float *a, const void *b, int b_u8, float sb, int64_t rows, int64_t db,
                     int64_t m, int accumulate)
{
    (void)b_u8;
    (void)sb;
    fm_gemm(p, a, (const float *)b, m, db, rows, 1, 0, 1.0f, accumulate ? 1.0f : 0.0f);
}

#endif

/* X block rows r0.. as the kernels' operand: bytes when quantised, else floats */
static const void *xrows(const xview *x, int64_t r0)
{
    return x->q ? (const void *)(x->q + r0 * x->d) : (const void *)(x->f + r0 * x->d);
}

/* X = q·s with s its smallest positive entry, if every entry is within 2 ulps of such a multiple
 * (8-bit images scaled to [0, 1] are, bit for bit or nearly) */
int fm_nmf_quantize(uint8_t *q, float *scale, const float *x, int64_t count)
{
#if NMF_KERNELS
    float smin = INFINITY, xmax = 0.0f;
    #pragma omp parallel for schedule(static) reduction(min : smin) reduction(max : xmax) if (PAR(count))
    for (int64_t e = 0; e < count; e++) {
        float v = x[e];
        if (v > 0.0f && v < smin) smin = v;
        if (v > xmax) xmax = v;
    }
    if (!(smin < INFINITY) || !(xmax / smin < 255.5f)) return 0;
    int bad = 0;
    #pragma omp parallel for schedule(static) reduction(| : bad) if (PAR(count))
    for (int64_t e = 0; e < count; e++) {
        float v = x[e];
        float r = rintf(v / smin);
        float back = r * smin;
        bad |= fabsf(back - v) > 2.0f * FLT_EPSILON * v;
        q[e] = (uint8_t)r;
    }
    if (bad) return 0;
    *scale = smin;
    return 1;
#else
    (void)q; (void)scale; (void)x; (void)count;
    return 0;
#endif
}

/* an xview of x with its byte copy when X quantises (qbuf is freed by the caller) */
static fm_status make_xview(xview *xv, uint8_t **qbuf, const float *x, int64_t n, int64_t d)
{
    xv->f = x;
    xv->q = NULL;
    xv->scale = 1.0f;
    xv->n = n;
    xv->d = d;
    *qbuf = NULL;
    if (!NMF_KERNELS || n * d < 4096) return FM_STATUS_OK;
    uint8_t *q = fm_alloc((size_t)(n * d), 1);
    if (!q) return FM_STATUS_OK;   /* no room: the float path works as well */
    if (fm_nmf_quantize(q, &xv->scale, x, n * d)) {
        xv->q = q;
        *qbuf = q;
    } else {
        fm_free(q);
    }
    return FM_STATUS_OK;
}

/* p (da×db) = Aᵀ·B for a (n×da) floats and B (n×db) floats or bytes·sb: per-group partials,
 * reduced in group order */
static fm_status atb_rows(float *p, const float *a, const void *b, int b_u8, float sb, int64_t n, int64_t da,
                          int64_t db)
{
    rowgroups g = make_groups(n, da * db);
    size_t esz = b_u8 ? 1 : sizeof(float);
    float *part = fm_alloc((size_t)(g.ngroups * da * db), sizeof(float));
    if (!part) return FM_STATUS_NOMEM;
    #pragma omp parallel for schedule(dynamic, 1) if (PAR(n * da * db))
    for (int64_t gi = 0; gi < g.ngroups; gi++) {
        int64_t b0, b1;
        group_blocks(&g, gi, &b0, &b1);
        float *pg = part + gi * da * db;
        for (int64_t blk = b0; blk < b1; blk++) {
            int64_t r0, nb;
            block_rows(&g, blk, &r0, &nb);
            kern_atb(pg, a + r0 * da, (const char *)b + (size_t)(r0 * db) * esz, b_u8, sb, nb, db, da, blk != b0);
        }
    }
    reduce_groups(p, part, g.ngroups, da * db);
    fm_free(part);
    return FM_STATUS_OK;
}

static fm_status at_b(float *p, const float *a, const float *b, int64_t n, int64_t da, int64_t db)
{
    return atb_rows(p, a, b, 0, 1.0f, n, da, db);
}

/* p (m×d) = Aᵀ·X for a (n×m) */
static fm_status at_x(float *p, const float *a, const xview *x, int64_t m)
{
    return x->q ? atb_rows(p, a, x->q, 1, x->scale, x->n, m, x->d) : atb_rows(p, a, x->f, 0, 1.0f, x->n, m, x->d);
}

/* make a square m×m matrix exactly symmetric (a Gram matrix from two SGEMM triangles may differ
 * in the last bit; the CD update reads rows of it as columns) */
static void symmetrize(float *g, int64_t m)
{
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = i + 1; j < m; j++) {
            float v = 0.5f * (g[i * m + j] + g[j * m + i]);
            g[i * m + j] = g[j * m + i] = v;
        }
}

/* t (n×m) = A·Bᵀ for A (n×da) floats or bytes·sa, b (m×da), one block of rows at a time */
static void abt_rows(float *t, const void *a, int a_u8, float sa, const float *b, int64_t n, int64_t da, int64_t m)
{
    rowgroups g = make_groups(n, 0);
    size_t esz = a_u8 ? 1 : sizeof(float);
    #pragma omp parallel for schedule(dynamic, 1) if (PAR(n * da * m))
    for (int64_t blk = 0; blk < g.nblocks; blk++) {
        int64_t r0, nb;
        block_rows(&g, blk, &r0, &nb);
        kern_abt(t + r0 * m, (const char *)a + (size_t)(r0 * da) * esz, a_u8, sa, b, nb, da, m);
    }
}

static void a_bt(float *t, const float *a, const float *b, int64_t n, int64_t da, int64_t m)
{
    abt_rows(t, a, 0, 1.0f, b, n, da, m);
}

/* t (n×m) = X·Bᵀ for b (m×d) */
static void x_bt(float *t, const xview *x, const float *b, int64_t m)
{
    if (x->q) abt_rows(t, x->q, 1, x->scale, b, x->n, x->d, m);
    else abt_rows(t, x->f, 0, 1.0f, b, x->n, x->d, m);
}

static void transpose(float *dst, const float *src, int64_t rows, int64_t cols)
{
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++) dst[j * rows + i] = src[i * cols + j];
}

/* sum and sum of squares of all entries, in double, per group in order */
static fm_status x_sums(double *sum, double *sumsq, const float *x, int64_t n, int64_t d)
{
    rowgroups g = make_groups(n, 0);
    double *part = fm_alloc((size_t)(2 * g.ngroups), sizeof(double));
    if (!part) return FM_STATUS_NOMEM;
    #pragma omp parallel for schedule(dynamic, 1) if (PAR(n * d))
    for (int64_t gi = 0; gi < g.ngroups; gi++) {
        int64_t b0, b1;
        group_blocks(&g, gi, &b0, &b1);
        double s = 0.0, q = 0.0;
        for (int64_t blk = b0; blk < b1; blk++) {
            int64_t r0, nb;
            block_rows(&g, blk, &r0, &nb);
            const float *xb = x + r0 * d;
            #pragma omp simd reduction(+ : s, q)
            for (int64_t e = 0; e < nb * d; e++) {
                double v = xb[e];
                s += v;
                q += v * v;
            }
        }
        part[2 * gi] = s;
        part[2 * gi + 1] = q;
    }
    double s = 0.0, q = 0.0;
    for (int64_t gi = 0; gi < g.ngroups; gi++) {
        s += part[2 * gi];
        q += part[2 * gi + 1];
    }
    fm_free(part);
    if (sum) *sum = s;
    if (sumsq) *sumsq = q;
    return FM_STATUS_OK;
}

int64_t fm_nmf_first_negative(const float *x, int64_t count)
{
    int64_t first = INT64_MAX;
    #pragma omp parallel for schedule(static) reduction(min : first) if (PAR(count))
    for (int64_t i = 0; i < count; i++)
        if (x[i] < 0.0f && i < first) first = i;
    return first == INT64_MAX ? -1 : first;
}

fm_status fm_nmf_mean(double *mean, const float *x, int64_t n, int64_t d)
{
    if (n < 1 || d < 1) return FM_STATUS_ARG;
    double s = 0.0;
    fm_status st = x_sums(&s, NULL, x, n, d);
    if (st != FM_STATUS_OK) return st;
    *mean = s / ((double)n * (double)d);
    return FM_STATUS_OK;
}

/* ------------------------------------------------------------------ randomized SVD */

/* LAPACK calls BLAS with all of OpenBLAS's threads, and a threaded BLAS call may round differently
 * from a single-threaded one. The LAPACK problems here are tiny (l×l, d×l): run them on one thread
 * so that the result does not depend on the thread count. */
typedef struct { int omp, blas; } thread_state;

static thread_state blas_serial_begin(void)
{
    thread_state t = {omp_get_max_threads(), openblas_get_num_threads()};
    openblas_set_num_threads(1);
    return t;
}

static void blas_serial_end(thread_state t)
{
    openblas_set_num_threads(t.blas);   /* the OpenMP build also resets OpenMP's count: restore it after */
    omp_set_num_threads(t.omp);
}

/* Orthonormalise the m columns of a (n×m) in place by SVQB (Stathopoulos & Wu 2002):
 * G = AᵀA = V Λ Vᵀ, A ← A·V·(Λ + τI)^(-1/2). The shift τ = 1e-10·λmax keeps columns that carry no
 * new direction (rank-deficient X) small instead of blowing up rounding noise. tmp is n×m. */
static fm_status orth_svqb(float *a, float *tmp, int64_t n, int64_t m)
{
    fm_status st = FM_STATUS_NOMEM;
    float *gf = fm_alloc((size_t)(m * m), sizeof(float));
    double *gd = fm_alloc((size_t)(m * m), sizeof(double));
    double *lam = fm_alloc((size_t)m, sizeof(double));
    float *mt = fm_alloc((size_t)(m * m), sizeof(float));
    if (!gf || !gd || !lam || !mt) goto done;
    if ((st = at_b(gf, a, a, n, m, m)) != FM_STATUS_OK) goto done;
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < m; j++) gd[i * m + j] = 0.5 * ((double)gf[i * m + j] + gf[j * m + i]);
    thread_state ts = blas_serial_begin();
    lapack_int info = LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'V', 'U', (lapack_int)m, gd, (lapack_int)m, lam);
    blas_serial_end(ts);
    if (info != 0) {
        st = FM_STATUS_NUMERIC;
        goto done;
    }
    double lmax = lam[m - 1];
    if (!(lmax > 0.0)) {   /* A = 0: nothing to orthonormalise */
        memset(a, 0, sizeof(float) * (size_t)(n * m));
        st = FM_STATUS_OK;
        goto done;
    }
    double tau = 1e-10 * lmax;
    /* Mᵀ (row j = column j of M); eigenvalues ascend: put the strongest direction in column 0 */
    for (int64_t j = 0; j < m; j++) {
        int64_t src = m - 1 - j;
        double l = lam[src] > 0.0 ? lam[src] : 0.0;
        double sc = 1.0 / sqrt(l + tau);
        for (int64_t i = 0; i < m; i++) mt[j * m + i] = (float)(gd[i * m + src] * sc);
    }
    a_bt(tmp, a, mt, n, m, m);
    memcpy(a, tmp, sizeof(float) * (size_t)(n * m));
    st = FM_STATUS_OK;
done:
    fm_free(gf);
    fm_free(gd);
    fm_free(lam);
    fm_free(mt);
    return st;
}

fm_status fm_nmf_rsvd(float *u, float *s, float *vt, const float *x, int64_t n, int64_t d, int64_t k,
                      int64_t n_oversamples, int n_iter, uint64_t seed)
{
    int64_t mn = min64(n, d);
    if (k < 1 || k > mn || n_oversamples < 0 || n_iter < 0) return FM_STATUS_ARG;
    int64_t l = min64(k + n_oversamples, mn);
    fm_status st = FM_STATUS_NOMEM;
    float *zt = fm_alloc((size_t)(l * d), sizeof(float));    /* l×d: right-side basis, transposed */
    float *z = fm_alloc((size_t)(d * l), sizeof(float));     /* d×l: the same, for orthonormalising */
    float *y = fm_alloc((size_t)(n * l), sizeof(float));     /* n×l: left-side basis, finally Q */
    float *tmp = fm_alloc((size_t)((n > d ? n : d) * l), sizeof(float));
    double *bd = fm_alloc((size_t)(l * d), sizeof(double));  /* B = QᵀX (l×d) in double */
    double *sv = fm_alloc((size_t)l, sizeof(double));
    double *ub = fm_alloc((size_t)(l * l), sizeof(double));
    double *vb = fm_alloc((size_t)(l * d), sizeof(double));
    float *ubt = fm_alloc((size_t)(k * l), sizeof(float));
    xview xv;
    uint8_t *qbuf = NULL;
    if (!zt || !z || !y || !tmp || !bd || !sv || !ub || !vb || !ubt) goto done;
    if ((st = make_xview(&xv, &qbuf, x, n, d)) != FM_STATUS_OK) goto done;

    /* Gaussian test matrix Ω (d×l), then power iterations Y = X·Z, Z = Xᵀ·Y with each half-step
     * orthonormalised (scikit-learn uses LU there; any well-conditioned basis of the span works) */
    fm_rng_fill(zt, l * d, seed, STREAM_OMEGA, 1);
    for (int it = 0; it < n_iter; it++) {
        x_bt(y, &xv, zt, l);
        if ((st = orth_svqb(y, tmp, n, l)) != FM_STATUS_OK) goto done;
        if ((st = at_x(zt, y, &xv, l)) != FM_STATUS_OK) goto done;   /* Zᵀ = YᵀX */
        transpose(z, zt, l, d);
        if ((st = orth_svqb(z, tmp, d, l)) != FM_STATUS_OK) goto done;
        transpose(zt, z, d, l);
    }
    x_bt(y, &xv, zt, l);
    /* twice: the second pass restores orthogonality lost to rounding (Q must be orthonormal for
     * X ≈ Q·QᵀX to hold) */
    if ((st = orth_svqb(y, tmp, n, l)) != FM_STATUS_OK) goto done;
    if ((st = orth_svqb(y, tmp, n, l)) != FM_STATUS_OK) goto done;

    /* B = QᵀX (l×d) = Ub·Σ·Vbᵀ (LAPACK, double), so X ≈ (Q·Ub)·Σ·Vbᵀ: U = Q·Ub, Vt = Vbᵀ */
    if ((st = at_x(tmp, y, &xv, l)) != FM_STATUS_OK) goto done;
    for (int64_t i = 0; i < l * d; i++) bd[i] = tmp[i];
    thread_state ts = blas_serial_begin();
    lapack_int info = LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'S', (lapack_int)l, (lapack_int)d, bd, (lapack_int)d,
                                     sv, ub, (lapack_int)l, vb, (lapack_int)d);
    blas_serial_end(ts);
    if (info != 0) {
        st = FM_STATUS_NUMERIC;
        goto done;
    }
    for (int64_t j = 0; j < k; j++)
        for (int64_t c = 0; c < l; c++) ubt[j * l + c] = (float)ub[c * l + j];   /* Ubᵀ, first k rows */
    a_bt(u, y, ubt, n, l, k);
    for (int64_t j = 0; j < k; j++) {
        s[j] = (float)sv[j];
        for (int64_t i = 0; i < d; i++) vt[j * d + i] = (float)vb[j * d + i];
    }
    st = FM_STATUS_OK;
done:
    fm_free(zt);
    fm_free(z);
    fm_free(y);
    fm_free(tmp);
    fm_free(bd);
    fm_free(sv);
    fm_free(ub);
    fm_free(vb);
    fm_free(ubt);
    fm_free(qbuf);
    return st;
}

/* ------------------------------------------------------------------ initialisation */

fm_status fm_nmf_nndsvd(float *w, float *h, const float *u, const float *s, const float *vt,
                        int64_t n, int64_t d, int64_t k)
{
    if (k < 1 || n < 1 || d < 1) return FM_STATUS_ARG;
    /* the leading singular pair of a non-negative matrix can be chosen non-negative (Perron–
     * Frobenius): use |u₀|, |v₀| whatever sign the SVD returned */
    double s0 = sqrt(s[0] > 0.0f ? (double)s[0] : 0.0);
    for (int64_t i = 0; i < n; i++) w[i * k] = (float)(s0 * fabsf(u[i * k]));
    for (int64_t j = 0; j < d; j++) h[j] = (float)(s0 * fabsf(vt[j]));

    for (int64_t c = 1; c < k; c++) {
        /* split u_c, v_c into positive and negative parts; keep the pair (u₊v₊ᵀ or u₋v₋ᵀ) with
         * the larger product of norms — the larger non-negative rank-one piece of u_c·v_cᵀ */
        double xp = 0, xn = 0, yp = 0, yn = 0;
        for (int64_t i = 0; i < n; i++) {
            double v = u[i * k + c];
            if (v > 0) xp += v * v; else xn += v * v;
        }
        for (int64_t j = 0; j < d; j++) {
            double v = vt[c * d + j];
            if (v > 0) yp += v * v; else yn += v * v;
        }
        xp = sqrt(xp); xn = sqrt(xn); yp = sqrt(yp); yn = sqrt(yn);
        double mp = xp * yp, mneg = xn * yn;
        int pos = mp > mneg;
        double sigma = pos ? mp : mneg;
        double sc = s[c] > 0.0f ? (double)s[c] : 0.0;
        if (!(sigma > 0.0) || sc == 0.0) {   /* nothing non-negative here (scikit-learn would divide 0/0) */
            for (int64_t i = 0; i < n; i++) w[i * k + c] = 0.0f;
            for (int64_t j = 0; j < d; j++) h[c * d + j] = 0.0f;
            continue;
        }
        double lbd = sqrt(sc * sigma);
        double fu = lbd / (pos ? xp : xn), fv = lbd / (pos ? yp : yn);
        for (int64_t i = 0; i < n; i++) {
            double v = u[i * k + c];
            double part = pos ? (v > 0 ? v : 0) : (v < 0 ? -v : 0);
            w[i * k + c] = (float)(fu * part);
        }
        for (int64_t j = 0; j < d; j++) {
            double v = vt[c * d + j];
            double part = pos ? (v > 0 ? v : 0) : (v < 0 ? -v : 0);
            h[c * d + j] = (float)(fv * part);
        }
    }
    for (int64_t e = 0; e < n * k; e++) if (w[e] < NMF_EPS_INIT) w[e] = 0.0f;
    for (int64_t e = 0; e < k * d; e++) if (h[e] < NMF_EPS_INIT) h[e] = 0.0f;
    return FM_STATUS_OK;
}

/* zeros of a (count) ← |avg·N(0,1)/100| with the normal draw of entry e (stream range stream0) */
static fm_status fill_zeros_random(float *a, int64_t count, double avg, uint64_t seed, uint64_t stream0)
{
    float *r = fm_alloc((size_t)count, sizeof(float));
    if (!r) return FM_STATUS_NOMEM;
    fm_rng_fill(r, count, seed, stream0, 1);
    for (int64_t e = 0; e < count; e++)
        if (a[e] == 0.0f) a[e] = (float)fabs(avg * r[e] / 100.0);
    fm_free(r);
    return FM_STATUS_OK;
}

fm_status fm_nmf_init(float *w, float *h, const float *x, int64_t n, int64_t d, int64_t k, int init,
                      uint64_t seed)
{
    if (n < 1 || d < 1 || k < 1) return FM_STATUS_ARG;
    double mean = 0.0;
    fm_status st = fm_nmf_mean(&mean, x, n, d);
    if (st != FM_STATUS_OK) return st;

    if (init == FM_NMF_INIT_RANDOM) {
        /* scale so that W·H has entries of the size of X's mean */
        double avg = sqrt(mean / (double)k);
        fm_rng_fill(h, k * d, seed, STREAM_RANDOM_H, 1);
        fm_rng_fill(w, n * k, seed, STREAM_RANDOM_W, 1);
        for (int64_t e = 0; e < k * d; e++) h[e] = (float)(avg * fabsf(h[e]));
        for (int64_t e = 0; e < n * k; e++) w[e] = (float)(avg * fabsf(w[e]));
        return FM_STATUS_OK;
    }
    if (init < FM_NMF_INIT_NNDSVD || init > FM_NMF_INIT_NNDSVDAR) return FM_STATUS_ARG;
    int64_t mn = min64(n, d);
    if (k > mn) return FM_STATUS_ARG;

    float *u = fm_alloc((size_t)(n * k), sizeof(float));
    float *s = fm_alloc((size_t)k, sizeof(float));
    float *vt = fm_alloc((size_t)(k * d), sizeof(float));
    st = FM_STATUS_NOMEM;
    if (!u || !s || !vt) goto done;
    /* scikit-learn's randomized_svd defaults: 10 oversamples, n_iter 'auto' */
    int n_iter = (double)k < 0.1 * (double)mn ? 7 : 4;
    if ((st = fm_nmf_rsvd(u, s, vt, x, n, d, k, 10, n_iter, seed)) != FM_STATUS_OK) goto done;
    if ((st = fm_nmf_nndsvd(w, h, u, s, vt, n, d, k)) != FM_STATUS_OK) goto done;
    if (init == FM_NMF_INIT_NNDSVDA) {
        /* zeros would stay zeros under multiplicative updates and slow CD: start them at mean(X) */
        for (int64_t e = 0; e < n * k; e++) if (w[e] == 0.0f) w[e] = (float)mean;
        for (int64_t e = 0; e < k * d; e++) if (h[e] == 0.0f) h[e] = (float)mean;
    } else if (init == FM_NMF_INIT_NNDSVDAR) {
        if ((st = fill_zeros_random(w, n * k, mean, seed, STREAM_NNDSVDAR_W)) != FM_STATUS_OK) goto done;
        if ((st = fill_zeros_random(h, k * d, mean, seed, STREAM_NNDSVDAR_H)) != FM_STATUS_OK) goto done;
    }
    st = FM_STATUS_OK;
done:
    fm_free(u);
    fm_free(s);
    fm_free(vt);
    return st;
}

/* ------------------------------------------------------------------ row updates */

/* One coordinate-descent sweep over the k coordinates of each of `rows` rows of w (rows×k),
 * minimising ½‖x_i − w_i·H‖² with hht = H·Hᵀ (k×k, symmetric) and xht = X·Hᵀ (rows×k):
 * w_it ← max(0, w_it − g_t / hht_tt) with g = w_i·hht − xht_i. scikit-learn recomputes g_t as a dot
 * product per coordinate; here g is kept up to date with one axpy per changed coordinate (same
 * values, vectorisable). Returns Σ|projected gradient| (scikit-learn's "violation"). g is k scratch. */
static double cd_rows(float *w, const float *hht, const float *xht, const int64_t *perm, int64_t rows,
                      int64_t k, float *restrict g)
{
    double viol = 0.0;
    for (int64_t i = 0; i < rows; i++) {
        float *restrict wi = w + i * k;
        const float *xi = xht + i * k;
        for (int64_t t = 0; t < k; t++) g[t] = -xi[t];
        for (int64_t r = 0; r < k; r++) {
            float wr = wi[r];
            if (wr == 0.0f) continue;
            const float *hr = hht + r * k;
            #pragma omp simd
            for (int64_t t = 0; t < k; t++) g[t] += wr * hr[t];
        }
        for (int64_t sidx = 0; sidx < k; sidx++) {
            int64_t t = perm ? perm[sidx] : sidx;
            float grad = g[t];
            /* at the bound w = 0 only a negative gradient is a violation */
            float pg = wi[t] == 0.0f ? fminf(grad, 0.0f) : grad;
            viol += fabsf(pg);
            float hess = hht[t * k + t];
            if (hess != 0.0f) {
                float nw = fmaxf(wi[t] - grad / hess, 0.0f);
                float delta = nw - wi[t];
                if (delta != 0.0f) {
                    wi[t] = nw;
                    const float *ht = hht + t * k;
                    #pragma omp simd
                    for (int64_t r = 0; r < k; r++) g[r] += delta * ht[r];
                }
            }
        }
    }
    return viol;
}

/* One multiplicative update of each row: w_i ← w_i ∘ xht_i / (w_i·hht), a zero denominator
 * replaced by float32 eps (scikit-learn). All k denominators use the old w_i. den is k scratch. */
static void mu_rows(float *w, const float *hht, const float *xht, int64_t rows, int64_t k, float *restrict den)
{
    for (int64_t i = 0; i < rows; i++) {
        float *restrict wi = w + i * k;
        const float *xi = xht + i * k;
        for (int64_t t = 0; t < k; t++) den[t] = 0.0f;
        for (int64_t r = 0; r < k; r++) {
            float wr = wi[r];
            if (wr == 0.0f) continue;
            const float *hr = hht + r * k;
            #pragma omp simd
            for (int64_t t = 0; t < k; t++) den[t] += wr * hr[t];
        }
        for (int64_t t = 0; t < k; t++) {
            float dn = den[t] == 0.0f ? NMF_EPS_MU : den[t];
            wi[t] *= xi[t] / dn;
        }
    }
}

/* cd_rows / mu_rows over all rows of w (rows×k) in fixed groups; returns the violation (cd) */
static fm_status update_all_rows(double *viol, float *w, const float *hht, const float *xht,
                                 const int64_t *perm, int64_t rows, int64_t k, int solver)
{
    rowgroups g = make_groups(rows, 0);
    double *part = fm_alloc((size_t)g.ngroups, sizeof(double));
    float *scratch = fm_alloc((size_t)(g.ngroups * k), sizeof(float));
    if (!part || !scratch) {
        fm_free(part);
        fm_free(scratch);
        return FM_STATUS_NOMEM;
    }
    #pragma omp parallel for schedule(dynamic, 1) if (PAR(rows * k * k))
    for (int64_t gi = 0; gi < g.ngroups; gi++) {
        int64_t b0, b1, r0, nb, r1;
        group_blocks(&g, gi, &b0, &b1);
        block_rows(&g, b0, &r0, &nb);
        block_rows(&g, b1 - 1, &r1, &nb);
        r1 += nb;
        if (solver == FM_NMF_SOLVER_CD)
            part[gi] = cd_rows(w + r0 * k, hht, xht + r0 * k, perm, r1 - r0, k, scratch + gi * k);
        else
            mu_rows(w + r0 * k, hht, xht + r0 * k, r1 - r0, k, scratch + gi * k);
    }
    double v = 0.0;
    for (int64_t gi = 0; gi < g.ngroups; gi++) v += part[gi];
    if (viol) *viol = v;
    fm_free(part);
    fm_free(scratch);
    return FM_STATUS_OK;
}

/* ------------------------------------------------------------------ the fused pass over X */

typedef struct {
    rowgroups g;
    float *part_p;    /* ngroups × k×d: Wᵀ·X per group */
    float *part_g;    /* ngroups × k×k: Wᵀ·W per group */
    double *part_v;   /* ngroups: CD violation per group */
    float *scratch;   /* ngroups × k */
    float *xht;       /* n×k: X·Hᵀ of this pass */
} fused_ws;

static void fused_free(fused_ws *ws)
{
    fm_free(ws->part_p);
    fm_free(ws->part_g);
    fm_free(ws->part_v);
    fm_free(ws->scratch);
    fm_free(ws->xht);
    memset(ws, 0, sizeof *ws);
}

static fm_status fused_init(fused_ws *ws, int64_t n, int64_t d, int64_t k)
{
    memset(ws, 0, sizeof *ws);
    ws->g = make_groups(n, d * k + k * k);
    int64_t ng = ws->g.ngroups;
    ws->part_p = fm_alloc((size_t)(ng * k * d), sizeof(float));
    ws->part_g = fm_alloc((size_t)(ng * k * k), sizeof(float));
    ws->part_v = fm_alloc((size_t)ng, sizeof(double));
    ws->scratch = fm_alloc((size_t)(ng * k), sizeof(float));
    ws->xht = fm_alloc((size_t)(n * k), sizeof(float));
    if (!ws->part_p || !ws->part_g || !ws->part_v || !ws->scratch || !ws->xht) {
        fused_free(ws);
        return FM_STATUS_NOMEM;
    }
    return FM_STATUS_OK;
}

/* For each row block b of X (in fixed groups): XHᵀ_b = X_b·Hᵀ; update W_b (a CD sweep or an MU
 * step) with hht = H·Hᵀ; then accumulate Wᵀ·X and Wᵀ·W with the *new* W_b while X_b is in cache.
 * Gives wtx (k×d), wtw (k×k) and the W violation: what the H update that follows needs. */
static void fused_pass(fused_ws *ws, double *viol, float *wtx, float *wtw, float *w, const xview *x,
                       const float *h, const float *hht, const int64_t *perm, int64_t d, int64_t k,
                       int solver)
{
    const rowgroups *g = &ws->g;
    #pragma omp parallel for schedule(dynamic, 1) if (PAR(g->n * d * k))
    for (int64_t gi = 0; gi < g->ngroups; gi++) {
        int64_t b0, b1;
        group_blocks(g, gi, &b0, &b1);
        float *pp = ws->part_p + gi * d * k, *pg = ws->part_g + gi * k * k;
        double v = 0.0;
        for (int64_t blk = b0; blk < b1; blk++) {
            int64_t r0, nb;
            block_rows(g, blk, &r0, &nb);
            const void *xb = xrows(x, r0);
            int u8 = x->q != NULL;
            float *wb = w + r0 * k, *tb = ws->xht + r0 * k;
            kern_abt(tb, xb, u8, x->scale, h, nb, d, k);
            if (solver == FM_NMF_SOLVER_CD)
                v += cd_rows(wb, hht, tb, perm, nb, k, ws->scratch + gi * k);
            else
                mu_rows(wb, hht, tb, nb, k, ws->scratch + gi * k);
            kern_atb(pp, wb, xb, u8, x->scale, nb, d, k, blk != b0);
            kern_atb(pg, wb, wb, 0, 1.0f, nb, k, k, blk != b0);
        }
        ws->part_v[gi] = v;
    }
    reduce_groups(wtx, ws->part_p, g->ngroups, d * k);
    reduce_groups(wtw, ws->part_g, g->ngroups, k * k);
    symmetrize(wtw, k);
    double v = 0.0;
    for (int64_t gi = 0; gi < g->ngroups; gi++) v += ws->part_v[gi];
    *viol = v;
}

/* ------------------------------------------------------------------ residual */

fm_status fm_nmf_residual(double *err, const float *x, const float *w, const float *h, int64_t n,
                          int64_t d, int64_t k)
{
    rowgroups g = make_groups(n, 0);
    int nt = omp_get_max_threads();
    double *part = fm_alloc((size_t)g.ngroups, sizeof(double));
    float *scr = fm_alloc((size_t)nt * NMF_BLOCK * (size_t)d, sizeof(float));
    if (!part || !scr) {
        fm_free(part);
        fm_free(scr);
        return FM_STATUS_NOMEM;
    }
    #pragma omp parallel for schedule(dynamic, 1) if (PAR(n * d * k))
    for (int64_t gi = 0; gi < g.ngroups; gi++) {
        /* scratch belongs to the thread; the sum belongs to the group */
        float *r = scr + (size_t)omp_get_thread_num() * NMF_BLOCK * (size_t)d;
        int64_t b0, b1;
        group_blocks(&g, gi, &b0, &b1);
        double s = 0.0;
        for (int64_t blk = b0; blk < b1; blk++) {
            int64_t r0, nb;
            block_rows(&g, blk, &r0, &nb);
            memcpy(r, x + r0 * d, sizeof(float) * (size_t)(nb * d));
            fm_gemm(r, w + r0 * k, h, nb, d, k, 0, 0, -1.0f, 1.0f);   /* R_b = X_b − W_b·H */
            #pragma omp simd reduction(+ : s)
            for (int64_t e = 0; e < nb * d; e++) s += (double)r[e] * (double)r[e];
        }
        part[gi] = s;
    }
    double s = 0.0;
    for (int64_t gi = 0; gi < g.ngroups; gi++) s += part[gi];
    *err = sqrt(s);
    fm_free(part);
    fm_free(scr);
    return FM_STATUS_OK;
}

/* ------------------------------------------------------------------ fit and transform */

static void draw_perm(int64_t *perm, int64_t k, uint64_t seed, int it, int which)
{
    fm_rng_permutation(perm, k, seed, STREAM_SHUFFLE + 2 * (uint64_t)it + (uint64_t)which);
}

/* ⟨a, b⟩ over count entries in double */
static double dotd(const float *a, const float *b, int64_t count)
{
    double s = 0.0;
    for (int64_t e = 0; e < count; e++) s += (double)a[e] * (double)b[e];
    return s;
}

fm_status fm_nmf_fit(float *w, float *h, fm_nmf_result *res, double *history, const float *x,
                     int64_t n, int64_t d, const fm_nmf_options *opt)
{
    int64_t k = opt->k;
    if (n < 1 || d < 1 || k < 1 || opt->max_iter < 1 || !(opt->tol >= 0.0)) return FM_STATUS_ARG;
    int mu = opt->solver == FM_NMF_SOLVER_MU;
    fm_status st = FM_STATUS_NOMEM;
    fused_ws ws;
    memset(&ws, 0, sizeof ws);
    float *ht = fm_alloc((size_t)(d * k), sizeof(float));   /* Hᵀ, d×k: H's update works on its rows */
    float *hht = fm_alloc((size_t)(k * k), sizeof(float));
    float *wtx = fm_alloc((size_t)(k * d), sizeof(float));
    float *xtw = fm_alloc((size_t)(d * k), sizeof(float));
    float *wtw = fm_alloc((size_t)(k * k), sizeof(float));
    int64_t *perm = fm_alloc((size_t)k, sizeof(int64_t));
    xview xv;
    uint8_t *qbuf = NULL;
    if (!ht || !hht || !wtx || !xtw || !wtw || !perm) goto done;
    if ((st = fused_init(&ws, n, d, k)) != FM_STATUS_OK) goto done;
    if ((st = make_xview(&xv, &qbuf, x, n, d)) != FM_STATUS_OK) goto done;

    double xx = 0.0;
    if ((st = x_sums(NULL, &xx, x, n, d)) != FM_STATUS_OK) goto done;
    transpose(ht, h, k, d);
    if ((st = at_b(hht, ht, ht, d, k, k)) != FM_STATUS_OK) goto done;
    symmetrize(hht, k);

    double viol_init = 0.0, err_init = 0.0, err_prev = 0.0;
    if (mu) {   /* scikit-learn's MU measures progress against the error at the start */
        if ((st = fm_nmf_residual(&err_init, x, w, h, n, d, k)) != FM_STATUS_OK) goto done;
        err_prev = err_init;
    }
    int it, converged = 0;
    for (it = 1; it <= opt->max_iter; it++) {
        int use_perm = opt->shuffle && !mu;
        if (use_perm) draw_perm(perm, k, opt->seed, it, 0);
        double viol = 0.0, viol_h = 0.0;
        fused_pass(&ws, &viol, wtx, wtw, w, &xv, h, hht, use_perm ? perm : NULL, d, k, opt->solver);
        /* H's update is W's with the roles swapped: rows of Hᵀ against Wᵀ·W and Xᵀ·W */
        transpose(xtw, wtx, k, d);
        if (use_perm) draw_perm(perm, k, opt->seed, it, 1);
        if ((st = update_all_rows(&viol_h, ht, wtw, xtw, use_perm ? perm : NULL, d, k, opt->solver))
            != FM_STATUS_OK)
            goto done;
        viol += viol_h;
        transpose(h, ht, d, k);
        if ((st = at_b(hht, ht, ht, d, k, k)) != FM_STATUS_OK) goto done;
        symmetrize(hht, k);
        if (history) {
            double e2 = xx - 2.0 * dotd(xtw, ht, d * k) + dotd(wtw, hht, k * k);
            history[it - 1] = sqrt(e2 > 0.0 ? e2 : 0.0);
        }
        if (!mu) {
            /* scikit-learn's rule: stop when Σ|projected gradient| fell to tol × its first value */
            if (it == 1) viol_init = viol;
            if (viol_init == 0.0 || viol / viol_init <= opt->tol) {
                converged = 1;
                break;
            }
        } else if (opt->tol > 0.0 && it % 10 == 0) {
            double err = 0.0;
            if ((st = fm_nmf_residual(&err, x, w, h, n, d, k)) != FM_STATUS_OK) goto done;
            if (err_init == 0.0 || (err_prev - err) / err_init < opt->tol) {
                converged = 1;
                break;
            }
            err_prev = err;
        }
    }
    res->n_iter = it > opt->max_iter ? opt->max_iter : it;
    res->converged = converged;
    st = fm_nmf_residual(&res->reconstruction_err, x, w, h, n, d, k);
done:
    fused_free(&ws);
    fm_free(ht);
    fm_free(hht);
    fm_free(wtx);
    fm_free(xtw);
    fm_free(wtw);
    fm_free(perm);
    fm_free(qbuf);
    return st;
}

fm_status fm_nmf_transform(float *w, int *n_iter, const float *x, const float *h, int64_t n, int64_t d,
                           const fm_nmf_options *opt)
{
    int64_t k = opt->k;
    if (n < 1 || d < 1 || k < 1 || opt->max_iter < 1 || !(opt->tol >= 0.0)) return FM_STATUS_ARG;
    int mu = opt->solver == FM_NMF_SOLVER_MU;
    fm_status st = FM_STATUS_NOMEM;
    float *ht = fm_alloc((size_t)(d * k), sizeof(float));
    float *hht = fm_alloc((size_t)(k * k), sizeof(float));
    float *xht = fm_alloc((size_t)(n * k), sizeof(float));
    int64_t *perm = fm_alloc((size_t)k, sizeof(int64_t));
    xview xv;
    uint8_t *qbuf = NULL;
    if (!ht || !hht || !xht || !perm) goto done;
    if ((st = make_xview(&xv, &qbuf, x, n, d)) != FM_STATUS_OK) goto done;
    transpose(ht, h, k, d);
    /* H is fixed: X·Hᵀ and H·Hᵀ are computed once (scikit-learn recomputes them every sweep) */
    x_bt(xht, &xv, h, k);
    if ((st = at_b(hht, ht, ht, d, k, k)) != FM_STATUS_OK) goto done;
    symmetrize(hht, k);

    double viol_init = 0.0, err_init = 0.0, err_prev = 0.0;
    if (mu) {
        double mean = 0.0;
        if ((st = fm_nmf_mean(&mean, x, n, d)) != FM_STATUS_OK) goto done;
        float avg = (float)sqrt(mean / (double)k);   /* MU cannot start from zeros */
        for (int64_t e = 0; e < n * k; e++) w[e] = avg;
        if ((st = fm_nmf_residual(&err_init, x, w, h, n, d, k)) != FM_STATUS_OK) goto done;
        err_prev = err_init;
    } else {
        memset(w, 0, sizeof(float) * (size_t)(n * k));
    }
    int it;
    for (it = 1; it <= opt->max_iter; it++) {
        int use_perm = opt->shuffle && !mu;
        if (use_perm) draw_perm(perm, k, opt->seed, it, 0);
        double viol = 0.0;
        if ((st = update_all_rows(&viol, w, hht, xht, use_perm ? perm : NULL, n, k, opt->solver))
            != FM_STATUS_OK)
            goto done;
        if (!mu) {
            if (it == 1) viol_init = viol;
            if (viol_init == 0.0 || viol / viol_init <= opt->tol) break;
        } else if (opt->tol > 0.0 && it % 10 == 0) {
            double err = 0.0;
            if ((st = fm_nmf_residual(&err, x, w, h, n, d, k)) != FM_STATUS_OK) goto done;
            if (err_init == 0.0 || (err_prev - err) / err_init < opt->tol) break;
            err_prev = err;
        }
    }
    *n_iter = it > opt->max_iter ? opt->max_iter : it;
    st = FM_STATUS_OK;
done:
    fm_free(ht);
    fm_free(hht);
    fm_free(xht);
    fm_free(perm);
    fm_free(qbuf);
    return st;
}
