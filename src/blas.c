/* blas.c — threads, the OpenBLAS kernel in use, and a row-major GEMM wrapper. */
#include "fm.h"

#include <cblas.h>
#include <omp.h>

/* not declared by every cblas.h */
extern char *openblas_get_corename(void);
extern char *openblas_get_config(void);
extern void openblas_set_num_threads(int);
extern int openblas_get_num_threads(void);

void fm_set_threads(int n)
{
    if (n < 1) n = 1;
    omp_set_num_threads(n);
    openblas_set_num_threads(n);   /* the OpenMP build follows omp, but say it to both */
}

int fm_omp_threads(void) { return omp_get_max_threads(); }
int fm_blas_threads(void) { return openblas_get_num_threads(); }
const char *fm_blas_core(void) { return openblas_get_corename(); }
const char *fm_blas_config(void) { return openblas_get_config(); }

void fm_gemm(float *c, const float *a, const float *b, int64_t m, int64_t n, int64_t k,
             int ta, int tb, float alpha, float beta)
{
    if (m <= 0 || n <= 0) return;
    if (k <= 0) {   /* BLAS leaves C alone for k = 0 only when beta = 1: make it explicit */
        for (int64_t i = 0; i < m * n; i++) c[i] = beta == 0.0f ? 0.0f : beta * c[i];
        return;
    }
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                (blasint)m, (blasint)n, (blasint)k, alpha, a, ta ? (blasint)m : (blasint)k,
                b, tb ? (blasint)k : (blasint)n, beta, c, (blasint)n);
}
