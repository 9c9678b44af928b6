/* stats.c — per-pixel statistics of an image set: the study's first look at the data. */
#include "fm.h"

#define STAT_BLOCK 2048

/* mean, std (population) and share of nonzero values per column; each out is (d).
 * Row blocks are counted separately and added in block order: thread-count independent. */
fm_status fm_pixel_stats(float *mean, float *std, float *active, const float *x, int64_t n, int64_t d)
{
    if (n <= 0 || d <= 0) return FM_STATUS_ARG;
    fm_status s = fm_col_stats(mean, std, x, n, d);
    if (s != FM_STATUS_OK) return s;
    int64_t nb = (n + STAT_BLOCK - 1) / STAT_BLOCK;
    int64_t *cnt = fm_alloc((size_t)(nb * d), sizeof(int64_t));
    if (!cnt) return FM_STATUS_NOMEM;
    #pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < nb; b++) {
        int64_t *c = cnt + b * d;
        int64_t i1 = (b + 1) * STAT_BLOCK < n ? (b + 1) * STAT_BLOCK : n;
        for (int64_t i = b * STAT_BLOCK; i < i1; i++)
            for (int64_t j = 0; j < d; j++) c[j] += x[i * d + j] != 0.0f;
    }
    for (int64_t j = 0; j < d; j++) {
        int64_t c = 0;
        for (int64_t b = 0; b < nb; b++) c += cnt[b * d + j];
        active[j] = (float)((double)c / (double)n);
    }
    fm_free(cnt);
    return FM_STATUS_OK;
}
