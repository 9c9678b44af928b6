/* mat.c — allocation, status strings and small whole-matrix helpers. */
#include "fm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const status_names[FM_STATUS_COUNT] = {
    "ok", "out of memory", "input/output error", "bad file format",
    "argument out of range", "numerical failure (NaN/Inf or singular)", "did not converge",
};

const char *fm_status_str(fm_status s)
{
    return (s >= 0 && s < FM_STATUS_COUNT) ? status_names[s] : "unknown status";
}

void *fm_alloc(size_t count, size_t size)
{
    if (size != 0 && count > (SIZE_MAX - 64) / size) return NULL;
    size_t bytes = count * size;
    bytes = (bytes + 63) & ~(size_t)63;   /* aligned_alloc wants a multiple of the alignment */
    if (bytes == 0) bytes = 64;
    void *p = aligned_alloc(64, bytes);
    if (p) memset(p, 0, bytes);
    return p;
}

void fm_free(void *p) { free(p); }

fm_status fm_mat_init(fm_mat *m, int64_t n, int64_t d)
{
    m->n = m->d = 0;
    m->data = NULL;
    if (n < 0 || d < 0) return FM_STATUS_ARG;
    if (d != 0 && n > INT64_MAX / d) return FM_STATUS_NOMEM;
    m->data = fm_alloc((size_t)(n * d), sizeof(float));
    if (!m->data) return FM_STATUS_NOMEM;
    m->n = n;
    m->d = d;
    return FM_STATUS_OK;
}

void fm_mat_free(fm_mat *m)
{
    fm_free(m->data);
    m->data = NULL;
    m->n = m->d = 0;
}

int fm_has_nonfinite(const float *x, int64_t count)
{
    int bad = 0;
    #pragma omp parallel for reduction(|:bad) schedule(static)
    for (int64_t i = 0; i < count; i++)
        bad |= !isfinite(x[i]);
    return bad;
}

/* Column statistics in double with a fixed row-block order, so the sums (and so the results)
 * do not depend on the thread count. */
#define COL_BLOCK 1024
fm_status fm_col_stats(float *col_mean, float *col_std, const float *x, int64_t n, int64_t d)
{
    if (n <= 0 || d <= 0) return FM_STATUS_ARG;
    int64_t nb = (n + COL_BLOCK - 1) / COL_BLOCK;
    double *part = fm_alloc((size_t)(nb * 2 * d), sizeof(double));
    if (!part) return FM_STATUS_NOMEM;
    #pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < nb; b++) {
        double *s = part + b * 2 * d;
        int64_t i1 = (b + 1) * COL_BLOCK < n ? (b + 1) * COL_BLOCK : n;
        for (int64_t i = b * COL_BLOCK; i < i1; i++) {
            const float *row = x + i * d;
            for (int64_t j = 0; j < d; j++) s[j] += row[j];
        }
    }
    double *mean = fm_alloc((size_t)d, sizeof(double));
    if (!mean) { fm_free(part); return FM_STATUS_NOMEM; }
    for (int64_t b = 0; b < nb; b++)
        for (int64_t j = 0; j < d; j++) mean[j] += part[b * 2 * d + j];
    for (int64_t j = 0; j < d; j++) mean[j] /= (double)n;
    /* second pass on centred values: no cancellation for large means */
    #pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < nb; b++) {
        double *s2 = part + b * 2 * d + d;
        int64_t i1 = (b + 1) * COL_BLOCK < n ? (b + 1) * COL_BLOCK : n;
        for (int64_t i = b * COL_BLOCK; i < i1; i++) {
            const float *row = x + i * d;
            for (int64_t j = 0; j < d; j++) { double c = row[j] - mean[j]; s2[j] += c * c; }
        }
    }
    for (int64_t j = 0; j < d; j++) {
        double v = 0;
        for (int64_t b = 0; b < nb; b++) v += part[b * 2 * d + d + j];
        if (col_mean) col_mean[j] = (float)mean[j];
        if (col_std) col_std[j] = (float)sqrt(v / (double)n);
    }
    fm_free(mean);
    fm_free(part);
    return FM_STATUS_OK;
}
