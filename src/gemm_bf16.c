/* gemm_bf16.c — row-major GEMM with bfloat16 products and float32 accumulation (AVX-512 BF16).
 *
 * VDPBF16PS multiplies pairs of bfloat16 values and adds both products to one float32 lane, so
 * one instruction does twice the multiply-adds of a float32 FMA. The operands are packed (and
 * rounded to bfloat16, VCVTNE2PS2BF16: round to nearest even) into the layouts it wants:
 *   B: strips of NR = 32 columns; per pair of k values, 32 words (b[k][j], b[k+1][j]) — two zmm
 *   A: strips of MR = 12 rows;    per pair of k values, 12 words (a[i][k], a[i][k+1]) — broadcasts
 * and a 12×32 register tile (24 accumulators) sums over the pairs. Rows of a transposed operand
 * are turned into pair columns with 16×16 dword transposes.
 *
 * Blocking: K splits into blocks of at most KC_MAX values (sizes depend on K only; every product
 * of the autoencoders but the conv weight gradients is one block). For each block the threads
 * pack B together (a 32-column strip of it, ≤ 128 KB, stays in L2 while it is used), then share
 * out (A strip, run of B strips) items; a thread packs its A strip (≤ 48 KB) and runs the kernel
 * over the B strips. Block kb adds into C what blocks 0..kb-1 left there. Every element is the
 * same sequence of instructions on the same packed data whichever thread computes it, so the
 * result does not depend on the thread count or the schedule. (Packing the smaller operand whole
 * in every thread instead, with no shared buffer and no barrier, won 35% in a loop of one
 * repeated product but lost 5% in autoencoder training, where the operands come from memory.)
 */
#include "gemm_bf16.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#define FM_HAVE_BF16_CODE 1
#include <immintrin.h>
#define BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
#endif

#define MR 12
#define NR 32
#define KC_MAX 2048
/* below this many multiply-adds the product runs on one thread: a parallel region costs more */
#define PAR_MIN_MACS (1 << 21)

static int bf16_state = -1;   /* -1 not yet probed; 0 no; 1 yes */

int fm_bf16_available(void)
{
    int s = __atomic_load_n(&bf16_state, __ATOMIC_RELAXED);
    if (s < 0) {
        s = 0;
#ifdef FM_HAVE_BF16_CODE
        const char *off = getenv("FMCLUST_NO_BF16");
        __builtin_cpu_init();
        if (!(off && *off && strcmp(off, "0") != 0) && __builtin_cpu_supports("avx512f") &&
            __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
            __builtin_cpu_supports("avx512bf16"))
            s = 1;
#endif
        __atomic_store_n(&bf16_state, s, __ATOMIC_RELAXED);
    }
    return s;
}

/* C ← beta·C without reading C when beta = 0 */
static void scale_c(float *c, int64_t ldc, int64_t m, int64_t n, float beta)
{
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) c[i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
}

static void sgemm_fp32(float *c, int64_t ldc, const float *a, int64_t lda, const float *b, int64_t ldb, int64_t m,
                       int64_t n, int64_t k, int ta, int tb, float alpha, float beta)
{
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (blasint)m,
                (blasint)n, (blasint)k, alpha, a, (blasint)lda, b, (blasint)ldb, beta, c, (blasint)ldc);
}

#ifdef FM_HAVE_BF16_CODE

/* packing buffers of the calling thread, kept between calls (thousands of GEMMs per epoch) unless
 * they grew beyond SCRATCH_KEEP (a one-off huge product should not pin its memory) */
#define SCRATCH_KEEP ((size_t)32 << 20)
static _Thread_local struct { void *p; size_t cap; } scratch;

static void *scratch_get(size_t bytes)
{
    if (bytes > scratch.cap) {
        free(scratch.p);
        scratch.p = NULL;
        scratch.cap = 0;
        size_t cap = (bytes + 4095) & ~(size_t)4095;
        if (!(scratch.p = aligned_alloc(64, cap))) return NULL;
        scratch.cap = cap;
    }
    return scratch.p;
}

typedef struct {
    float *c;
    const float *a, *b;
    int64_t ldc, lda, ldb, m, n, k;
    int ta, tb;
    float alpha, beta;
    const float *bias;    /* (n) added to every row after the last block, or NULL */
    int relu;             /* then max(·, 0) */
    int64_t kc, nkb;      /* K block size (even) and count */
    int64_t ni, nj;       /* A strips (MR rows), B strips (NR columns) */
    int64_t njc, jper;    /* B strips per work item: nj split into njc runs of jper */
    int64_t chunk;        /* work items per dynamic-schedule grab */
    int64_t np_max;       /* k pairs in the largest block */
    uint16_t *bp;         /* nj strips × np × 64 bfloat16 */
    uint32_t *ap;         /* per thread: np_max × MR words */
} job;

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* cnt (clamped to 0..32) floats from src → 32 bfloat16 in order (word w = elements 2w, 2w+1) */
BF16_TARGET static inline __m512i cvt32(const float *src, int64_t cnt)
{
    if (cnt >= 32) return (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(src + 16), _mm512_loadu_ps(src));
    if (cnt <= 0) return _mm512_setzero_si512();
    __mmask16 m0 = cnt >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << cnt) - 1);
    __mmask16 m1 = cnt <= 16 ? (__mmask16)0 : (__mmask16)((1u << (cnt - 16)) - 1);
    __m512 lo = _mm512_maskz_loadu_ps(m0, src), hi = m1 ? _mm512_maskz_loadu_ps(m1, src + 16) : _mm512_setzero_ps();
    return (__m512i)_mm512_cvtne2ps_pbh(hi, lo);
}

/* o[q] = column q of the 16×16 dword matrix whose rows are r[0..15] */
BF16_TARGET static inline void tr16(__m512i *o, const __m512i *r)
{
    __m512i t[16], u[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
    }
    /* u[4b + c], 128-bit lane L: column 4L + c of rows 4b..4b+3 */
    for (int i = 0; i < 16; i += 4) {
        u[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]);
        u[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
        u[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);
        u[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
    }
    for (int c = 0; c < 4; c++) {
        __m512i v0 = _mm512_shuffle_i32x4(u[c], u[4 + c], 0x44), v1 = _mm512_shuffle_i32x4(u[c], u[4 + c], 0xEE);
        __m512i v2 = _mm512_shuffle_i32x4(u[8 + c], u[12 + c], 0x44), v3 = _mm512_shuffle_i32x4(u[8 + c], u[12 + c], 0xEE);
        o[c] = _mm512_shuffle_i32x4(v0, v2, 0x88);
        o[4 + c] = _mm512_shuffle_i32x4(v0, v2, 0xDD);
        o[8 + c] = _mm512_shuffle_i32x4(v1, v3, 0x88);
        o[12 + c] = _mm512_shuffle_i32x4(v1, v3, 0xDD);
    }
}

/* interleave two rows of 32 bfloat16 into pair words: lo = columns 0..15, hi = 16..31 */
static const uint16_t ILV_LO[32] = {0, 32, 1, 33, 2, 34, 3, 35, 4, 36, 5, 37, 6, 38, 7, 39,
                                    8, 40, 9, 41, 10, 42, 11, 43, 12, 44, 13, 45, 14, 46, 15, 47};
static const uint16_t ILV_HI[32] = {16, 48, 17, 49, 18, 50, 19, 51, 20, 52, 21, 53, 22, 54, 23, 55,
                                    24, 56, 25, 57, 26, 58, 27, 59, 28, 60, 29, 61, 30, 62, 31, 63};
/* 16 + 16 bfloat16 (row 0 low, row 1 high) → 16 pair words */
static const uint16_t ILV_16[32] = {0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23,
                                    8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31};

/* B packed: strip s (columns 32s..32s+31) at bp + s·np·64, pair p of it 64 bfloat16 further on.
 * B k×n: pair p of every strip from rows k0+2p and k0+2p+1 (read whole, front to back) */
BF16_TARGET static void pack_b_pair(uint16_t *bp, const job *J, int64_t k0, int64_t kc, int64_t np, int64_t p)
{
    const __m512i ilo = _mm512_loadu_si512(ILV_LO), ihi = _mm512_loadu_si512(ILV_HI);
    const float *r0 = J->b + (k0 + 2 * p) * J->ldb;
    int second = 2 * p + 1 < kc;
    for (int64_t s = 0; s < J->nj; s++) {
        int64_t j0 = s * NR, nc = min64(NR, J->n - j0);
        __m512i v0 = cvt32(r0 + j0, nc), v1 = second ? cvt32(r0 + J->ldb + j0, nc) : _mm512_setzero_si512();
        uint16_t *dst = bp + (s * np + p) * 64;
        _mm512_store_si512(dst, _mm512_permutex2var_epi16(v0, ilo, v1));
        _mm512_store_si512(dst + 32, _mm512_permutex2var_epi16(v0, ihi, v1));
    }
}

/* B n×k: strip s from rows 32s..32s+31, each of which holds its column's pairs already:
 * transpose 16 columns × 16 pairs at a time */
BF16_TARGET static void pack_b_strip(uint16_t *dst, const job *J, int64_t k0, int64_t kc, int64_t np, int64_t s)
{
    int64_t j0 = s * NR;
    for (int h = 0; h < 2; h++) {
        for (int64_t p0 = 0; p0 < np; p0 += 16) {
            __m512i r[16], o[16];
            for (int jj = 0; jj < 16; jj++) {
                int64_t j = j0 + 16 * h + jj;
                r[jj] = j < J->n ? cvt32(J->b + j * J->ldb + k0 + 2 * p0, kc - 2 * p0) : _mm512_setzero_si512();
            }
            tr16(o, r);
            int64_t nq = min64(16, np - p0);
            for (int64_t q = 0; q < nq; q++) _mm512_store_si512(dst + (p0 + q) * 64 + 32 * h, o[q]);
        }
    }
}

/* A strip starting at row i0 of the block k0..k0+kc (np pairs) → dst (np × MR words) */
BF16_TARGET static void pack_a(uint32_t *dst, const job *J, int64_t k0, int64_t kc, int64_t np, int64_t i0)
{
    int64_t mr = min64(MR, J->m - i0);
    const __mmask16 st = (__mmask16)((1u << MR) - 1);
    if (!J->ta) {   /* row i holds its pairs: transpose MR rows × 16 pairs at a time */
        for (int64_t p0 = 0; p0 < np; p0 += 16) {
            __m512i r[16], o[16];
            for (int rr = 0; rr < 16; rr++)
                r[rr] = rr < mr ? cvt32(J->a + (i0 + rr) * J->lda + k0 + 2 * p0, kc - 2 * p0) : _mm512_setzero_si512();
            tr16(o, r);
            int64_t nq = min64(16, np - p0);
            for (int64_t q = 0; q < nq; q++) _mm512_mask_storeu_epi32(dst + (p0 + q) * MR, st, o[q]);
        }
        return;
    }
    /* A is k×m: rows k and k+1 hold the MR values of a pair: interleave */
    const __m512i idx = _mm512_loadu_si512(ILV_16);
    const __mmask16 mm = (__mmask16)((1u << mr) - 1);
    for (int64_t p = 0; p < np; p++) {
        const float *r0 = J->a + (k0 + 2 * p) * J->lda + i0;
        __m512 lo = _mm512_maskz_loadu_ps(mm, r0);
        __m512 hi = 2 * p + 1 < kc ? _mm512_maskz_loadu_ps(mm, r0 + J->lda) : _mm512_setzero_ps();
        __m512i v = (__m512i)_mm512_cvtne2ps_pbh(hi, lo);
        _mm512_mask_storeu_epi32(dst + p * MR, st, _mm512_permutexvar_epi16(idx, v));
    }
}

/* the MR×NR tile at c (mr×nr of it is real) ← the sum over np pairs; mode 0: alpha·acc,
 * 1: alpha·acc + beta·C, 2: C + alpha·acc; then + bias (NR values, when not NULL), then ReLU */
BF16_TARGET static void kernel(const uint32_t *ap, const uint16_t *bp, int64_t np, float *c, int64_t ldc, int mr,
                               int nr, float alpha, float beta, int mode, const float *bias, int relu)
{
    __m512 acc[MR][2];
#pragma GCC unroll 12
    for (int r = 0; r < MR; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    for (int64_t p = 0; p < np; p++) {
        __m512bh b0 = (__m512bh)_mm512_load_si512(bp), b1 = (__m512bh)_mm512_load_si512(bp + 32);
#pragma GCC unroll 12
        for (int r = 0; r < MR; r++) {
            __m512bh av = (__m512bh)_mm512_set1_epi32((int)ap[r]);
            acc[r][0] = _mm512_dpbf16_ps(acc[r][0], av, b0);
            acc[r][1] = _mm512_dpbf16_ps(acc[r][1], av, b1);
        }
        ap += MR;
        bp += 64;
    }
    __mmask16 m0 = nr >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nr) - 1);
    __mmask16 m1 = nr >= 32 ? (__mmask16)0xFFFF : nr <= 16 ? (__mmask16)0 : (__mmask16)((1u << (nr - 16)) - 1);
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta), zero = _mm512_setzero_ps();
    __m512 bias0 = bias ? _mm512_maskz_loadu_ps(m0, bias) : zero;
    __m512 bias1 = bias && m1 ? _mm512_maskz_loadu_ps(m1, bias + 16) : zero;
#pragma GCC unroll 12
    for (int r = 0; r < MR; r++) {
        if (r >= mr) break;
        float *cr = c + r * ldc;
        __m512 x0 = _mm512_mul_ps(va, acc[r][0]), x1 = _mm512_mul_ps(va, acc[r][1]);
        if (mode == 1) {
            x0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, cr), x0);
            if (m1) x1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, cr + 16), x1);
        } else if (mode == 2) {
            x0 = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, cr), x0);
            if (m1) x1 = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, cr + 16), x1);
        }
        if (bias) x0 = _mm512_add_ps(x0, bias0), x1 = _mm512_add_ps(x1, bias1);
        /* max(x, 0) returns 0 for NaN, as x > 0 ? x : 0 does */
        if (relu) x0 = _mm512_max_ps(x0, zero), x1 = _mm512_max_ps(x1, zero);
        _mm512_mask_storeu_ps(cr, m0, x0);
        if (m1) _mm512_mask_storeu_ps(cr + 16, m1, x1);
    }
}

/* one thread's share of the product (called inside the parallel region, or alone) */
BF16_TARGET static void run(job *J)
{
    uint32_t *ap = J->ap + (size_t)omp_get_thread_num() * MR * (size_t)J->np_max;
    for (int64_t kb = 0; kb < J->nkb; kb++) {
        int64_t k0 = kb * J->kc, kc = min64(J->kc, J->k - k0), np = (kc + 1) / 2;
        /* dynamic grabs everywhere: on a busy machine the thread that runs does the work */
        if (J->tb) {
            #pragma omp for schedule(dynamic, 1)
            for (int64_t s = 0; s < J->nj; s++) pack_b_strip(J->bp + s * np * 64, J, k0, kc, np, s);
        } else {
            #pragma omp for schedule(dynamic, 16)
            for (int64_t p = 0; p < np; p++) pack_b_pair(J->bp, J, k0, kc, np, p);
        }
        /* (implicit barrier: B is packed) */
        int mode = kb > 0 ? 2 : J->beta == 0.0f ? 0 : 1, last = kb == J->nkb - 1;
        int64_t packed = -1;
        #pragma omp for schedule(dynamic, J->chunk)
        for (int64_t it = 0; it < J->ni * J->njc; it++) {
            int64_t i = it / J->njc, jc = it % J->njc;
            if (i != packed) {
                pack_a(ap, J, k0, kc, np, i * MR);
                packed = i;
            }
            int64_t s1 = min64((jc + 1) * J->jper, J->nj);
            int mr = (int)min64(MR, J->m - i * MR);
            for (int64_t s = jc * J->jper; s < s1; s++)
                kernel(ap, J->bp + s * np * 64, np, J->c + i * MR * J->ldc + s * NR, J->ldc, mr,
                       (int)min64(NR, J->n - s * NR), J->alpha, J->beta, mode,
                       last && J->bias ? J->bias + s * NR : NULL, last && J->relu);
        }
        /* (implicit barrier: the next block may repack B) */
    }
}

static fm_status gemm_tiles(float *c, int64_t ldc, const float *a, int64_t lda, const float *b, int64_t ldb, int64_t m,
                            int64_t n, int64_t k, int ta, int tb, float alpha, float beta, const float *bias, int relu)
{
    job J = {.c = c, .a = a, .b = b, .ldc = ldc, .lda = lda, .ldb = ldb, .m = m, .n = n, .k = k, .ta = ta, .tb = tb,
             .alpha = alpha, .beta = beta, .bias = bias, .relu = relu};
    int64_t nkb = (k + KC_MAX - 1) / KC_MAX, kc = (k + nkb - 1) / nkb;
    kc += kc & 1;
    J.kc = kc;
    J.nkb = (k + kc - 1) / kc;
    J.np_max = kc / 2;
    J.ni = (m + MR - 1) / MR;
    J.nj = (n + NR - 1) / NR;
    /* few A strips: split the B strips too, so that both threads get work */
    J.njc = J.ni >= 8 ? 1 : min64(J.nj, (8 + J.ni - 1) / J.ni);
    J.jper = (J.nj + J.njc - 1) / J.njc;
    J.njc = (J.nj + J.jper - 1) / J.jper;
    int nth = omp_in_parallel() ? 1 : omp_get_max_threads();
    if ((double)m * (double)n * (double)k < PAR_MIN_MACS) nth = 1;
    /* grabs of ~1/8 of a thread's share: balance on a busy machine, few neighbouring C tiles on
     * different cores */
    J.chunk = J.ni * J.njc / (8 * (int64_t)nth);
    if (J.chunk < 1) J.chunk = 1;
    size_t bbytes = (size_t)J.nj * (size_t)J.np_max * 64 * sizeof(uint16_t);
    size_t abytes = (size_t)nth * (size_t)J.np_max * MR * sizeof(uint32_t);
    unsigned char *buf = scratch_get(bbytes + abytes + 64);
    if (!buf) return FM_STATUS_NOMEM;
    J.bp = (uint16_t *)buf;
    J.ap = (uint32_t *)(buf + bbytes);
    #pragma omp parallel num_threads(nth) if (nth > 1)
    run(&J);
    if (scratch.cap > SCRATCH_KEEP) {
        free(scratch.p);
        scratch.p = NULL;
        scratch.cap = 0;
    }
    return FM_STATUS_OK;
}

/* A product with a few columns (an autoencoder's 10-wide bottleneck) would fill a third of each
 * 32-wide tile: compute its transpose, Cᵀ = op(B)ᵀ·op(A)ᵀ (n rows of the 12-row tiles), into t,
 * then write C from it. Only for small C (the write-back is a strided transpose) and a long K. */
#define NARROW_N 16
#define NARROW_MAX_MN 65536
static _Thread_local float *narrow_t;   /* NARROW_MAX_MN floats, kept */

static fm_status gemm_bf16(float *c, int64_t ldc, const float *a, int64_t lda, const float *b, int64_t ldb, int64_t m,
                           int64_t n, int64_t k, int ta, int tb, float alpha, float beta, const float *bias, int relu)
{
    if (!(n <= NARROW_N && m > n && m * n <= NARROW_MAX_MN && k >= 64))
        return gemm_tiles(c, ldc, a, lda, b, ldb, m, n, k, ta, tb, alpha, beta, bias, relu);
    if (!narrow_t && !(narrow_t = aligned_alloc(64, NARROW_MAX_MN * sizeof(float)))) return FM_STATUS_NOMEM;
    float *t = narrow_t;
    fm_status s = gemm_tiles(t, m, b, ldb, a, lda, n, m, k, !tb, !ta, alpha, 0.0f, NULL, 0);
    if (s != FM_STATUS_OK) return s;
    for (int64_t i = 0; i < m; i++) {
        float *r = c + i * ldc;
        for (int64_t j = 0; j < n; j++) {
            float x = t[j * m + i];
            if (beta != 0.0f) x = fmaf(beta, r[j], x);
            if (bias) x += bias[j];
            r[j] = relu ? (x > 0 ? x : 0) : x;
        }
    }
    return FM_STATUS_OK;
}
#endif

/* C ← act(C + bias) row by row (the epilogue of the paths that have no fused one) */
static void bias_relu(float *c, int64_t ldc, int64_t m, int64_t n, const float *bias, int relu)
{
    if (!bias && !relu) return;
    for (int64_t i = 0; i < m; i++) {
        float *r = c + i * ldc;
        if (bias) for (int64_t j = 0; j < n; j++) r[j] += bias[j];
        if (relu) for (int64_t j = 0; j < n; j++) r[j] = r[j] > 0 ? r[j] : 0;
    }
}

fm_status fm_gemm_bf16_ex(float *c, int64_t ldc, const float *a, int64_t lda, const float *b, int64_t ldb,
                          int64_t m, int64_t n, int64_t k, int ta, int tb, float alpha, float beta,
                          const float *bias, int relu)
{
    if (m <= 0 || n <= 0) return FM_STATUS_OK;
    if (k <= 0 || alpha == 0.0f) {
        scale_c(c, ldc, m, n, beta);
        bias_relu(c, ldc, m, n, bias, relu);
        return FM_STATUS_OK;
    }
#ifdef FM_HAVE_BF16_CODE
    if (fm_bf16_available()) return gemm_bf16(c, ldc, a, lda, b, ldb, m, n, k, ta, tb, alpha, beta, bias, relu);
#endif
    sgemm_fp32(c, ldc, a, lda, b, ldb, m, n, k, ta, tb, alpha, beta);
    bias_relu(c, ldc, m, n, bias, relu);
    return FM_STATUS_OK;
}

fm_status fm_gemm_bf16_ld(float *c, int64_t ldc, const float *a, int64_t lda, const float *b, int64_t ldb,
                          int64_t m, int64_t n, int64_t k, int ta, int tb, float alpha, float beta)
{
    return fm_gemm_bf16_ex(c, ldc, a, lda, b, ldb, m, n, k, ta, tb, alpha, beta, NULL, 0);
}

fm_status fm_gemm_bf16(float *c, const float *a, const float *b, int64_t m, int64_t n, int64_t k, int ta, int tb,
                       float alpha, float beta)
{
    return fm_gemm_bf16_ld(c, n, a, ta ? m : k, b, tb ? k : n, m, n, k, ta, tb, alpha, beta);
}
