/* fm.h — shared types of the fmclust C core.
 *
 * The core knows nothing of Lua: functions take outputs first, then inputs, then sizes,
 * return an fm_status and never exit or longjmp. Matrices are float32, row-major, n×d.
 * Only the binding files (l_*.c, lfmclust.c) include lua.h.
 */
#ifndef FM_H
#define FM_H

#include <stddef.h>
#include <stdint.h>

#define FM_VERSION "0.1.0"

typedef enum {
    FM_STATUS_OK = 0,
    FM_STATUS_NOMEM,     /* an allocation failed */
    FM_STATUS_IO,        /* a file could not be opened, read or written */
    FM_STATUS_FORMAT,    /* a file's content is not what it claims to be */
    FM_STATUS_ARG,       /* an argument is out of range (bindings check first; this is the backstop) */
    FM_STATUS_NUMERIC,   /* NaN/Inf met, or a factorisation failed */
    FM_STATUS_NOCONV,    /* an iteration did not converge */
    FM_STATUS_COUNT
} fm_status;

const char *fm_status_str(fm_status s);

/* ---- matrices: float32, row-major; element (i, j) is data[i*d + j] (0-based in C) ---- */
typedef struct {
    int64_t n, d;
    float *data;
} fm_mat;

/* 64-byte aligned, zero-filled; NULL on failure or overflow */
void *fm_alloc(size_t count, size_t size);
void fm_free(void *p);
fm_status fm_mat_init(fm_mat *m, int64_t n, int64_t d);   /* zeros */
void fm_mat_free(fm_mat *m);
/* 1 if any element is NaN or ±Inf */
int fm_has_nonfinite(const float *x, int64_t count);

/* col_mean, col_std are (d); std is the population standard deviation (ddof = 0) */
fm_status fm_col_stats(float *col_mean, float *col_std, const float *x, int64_t n, int64_t d);

/* ---- random numbers: counter-based streams ----
 * A stream is fully determined by (seed, stream id), so work item i can draw from stream i on any
 * thread and the result does not depend on the thread count. Generator: xoshiro256++ seeded
 * through splitmix64 of (seed, stream). */
typedef struct { uint64_t s[4]; } fm_rng;

void fm_rng_init(fm_rng *r, uint64_t seed, uint64_t stream);
/* the next 64 bits (inline: the UMAP SGD draws ~10^9 of them) */
static inline uint64_t fm_rng_u64(fm_rng *r)
{
    uint64_t *s = r->s;
    uint64_t x = s[0] + s[3];
    uint64_t res = ((x << 23) | (x >> 41)) + s[0];
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = (s[3] << 45) | (s[3] >> 19);
    return res;
}
double fm_rng_uniform(fm_rng *r);           /* [0, 1) with 53 random bits */
/* uniform on [0, n), unbiased; n > 0: Lemire's multiply-shift with rejection */
static inline uint64_t fm_rng_below(fm_rng *r, uint64_t n)
{
    unsigned __int128 m = (unsigned __int128)fm_rng_u64(r) * n;
    uint64_t lo = (uint64_t)m;
    if (lo < n) {
        uint64_t thresh = -n % n;
        while (lo < thresh) {
            m = (unsigned __int128)fm_rng_u64(r) * n;
            lo = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}
double fm_rng_normal(fm_rng *r);            /* standard normal (polar method, no caching) */
/* fill out[count] in fixed chunks of FM_RNG_CHUNK, chunk c drawing from stream (stream0 + c):
 * identical for any thread count. dist: 0 uniform [0,1), 1 standard normal */
#define FM_RNG_CHUNK 4096
void fm_rng_fill(float *out, int64_t count, uint64_t seed, uint64_t stream0, int dist);
/* a random permutation of 0..n-1 (Fisher–Yates from one stream) */
void fm_rng_permutation(int64_t *perm, int64_t n, uint64_t seed, uint64_t stream);

/* ---- threads and BLAS ---- */
void fm_set_threads(int n);
int fm_omp_threads(void);
int fm_blas_threads(void);
const char *fm_blas_core(void);
const char *fm_blas_config(void);

/* C (m×n) = alpha · op(A) · op(B) + beta · C, row-major; op = transpose when ta/tb is nonzero.
 * A is m×k (or k×m if ta), B is k×n (or n×k if tb). */
void fm_gemm(float *c, const float *a, const float *b, int64_t m, int64_t n, int64_t k,
             int ta, int tb, float alpha, float beta);

/* ---- file formats (io.c). Errors fill err (a sentence naming the file) when err is not NULL. ---- */
#define FM_ERRLEN 512
/* IDX files (raw or gzip): ubyte images n×rows×cols → out (n × rows·cols) scaled by `scale`;
 * ubyte labels n → labels. */
fm_status fm_idx_read_images(fm_mat *out, const char *path, float scale, char *err);
fm_status fm_idx_read_labels(int32_t **labels, int64_t *n, const char *path, char *err);
/* .npy: float32/float64/uint8/int32/int64 (little-endian, C order, v1/v2/v3 headers), 1-D or 2-D.
 * Read as float32 matrix (1-D → n×1) or as int32 vector. */
fm_status fm_npy_read_mat(fm_mat *out, const char *path, char *err);
fm_status fm_npy_read_i32(int32_t **out, int64_t *n, const char *path, char *err);
fm_status fm_npy_write_f32(const char *path, const float *x, int64_t n, int64_t d, int ndim, char *err);
fm_status fm_npy_write_i32(const char *path, const int32_t *x, int64_t n, char *err);
/* CSV of numbers; header: -1 detect (first line not numeric), 0 none, 1 present */
fm_status fm_csv_read(fm_mat *out, const char *path, int header, char *err);
fm_status fm_csv_write(const char *path, const float *x, int64_t n, int64_t d, char *err);

/* ---- clustering metrics (metrics.c); labels are arbitrary int32 values ---- */
typedef struct {
    int64_t n;          /* points scored */
    int64_t r, c;       /* distinct truth classes, distinct predicted clusters */
    int64_t *table;     /* r×c counts, row-major (fm_alloc'ed; fm_contingency_free) */
    int32_t *row_vals;  /* the truth value of each row, ascending */
    int32_t *col_vals;  /* the predicted value of each column, ascending */
} fm_contingency;

fm_status fm_contingency_build(fm_contingency *ct, const int32_t *truth, const int32_t *pred, int64_t n);
void fm_contingency_free(fm_contingency *ct);

typedef struct {
    double ari, ami, nmi, homogeneity, completeness, v_measure, accuracy;
    double mi, h_truth, h_pred, emi;
} fm_scores;

fm_status fm_metrics_all(fm_scores *out, const fm_contingency *ct);
double fm_metrics_ari(const fm_contingency *ct);
/* expected mutual information under the hypergeometric model (exact, as scikit-learn) */
double fm_metrics_emi(const fm_contingency *ct);
/* MI, entropies, NMI, homogeneity, completeness, V-measure (and EMI, AMI when with_emi);
 * leaves ari and accuracy untouched */
fm_status fm_metrics_info(fm_scores *out, const fm_contingency *ct, int with_emi);
/* Hungarian matching on the contingency table: the number of points on matched pairs; match_of_col
 * (c) gets the matched row index (0-based into row_vals), or -1 for an unmatched column */
fm_status fm_metrics_matched(int64_t *matched, int32_t *match_of_col, const fm_contingency *ct);

/* ---- image statistics (stats.c) ---- */
/* mean, std (population) and share of nonzero values of each column; each out is (d) */
fm_status fm_pixel_stats(float *mean, float *std, float *active, const float *x, int64_t n, int64_t d);

#endif
