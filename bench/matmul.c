/* P6: matmul of two 1024x1024 f32 matrices through the library (tt_matmul)
 * beside a direct cblas_sgemm on the same data, one OpenBLAS thread (set by
 * the caller: OPENBLAS_NUM_THREADS=1). Prints both medians of R runs after a
 * warm-up, GFLOP/s, the largest difference, and the last lines
 * "median_ms=X" (tg) and "sgemm_ms=X".
 *
 *   matmul [-n N] [--runs R] */
#include <cblas.h>
#include <math.h>
#include <string.h>

#define BENCH_PROG "matmul"
#include "bench.h"

int main(int argc, char **argv)
{
    int64_t n = 1024;
    int runs = 9;
    size_and_runs(argc, argv, &n, &runs);
    tt_manual_seed(3);
    int64_t shape[2] = {n, n};
    tt_tensor *a = NN(tt_randn(2, shape, TT_F32, TT_CPU, NULL)), *b = NN(tt_randn(2, shape, TT_F32, TT_CPU, NULL));
    size_t count = (size_t)(n * n), bytes = count * sizeof(float);
    float *ha = malloc(bytes), *hb = malloc(bytes), *hc = malloc(bytes), *ht = malloc(bytes);
    if (!ha || !hb || !hc || !ht) {
        fprintf(stderr, "matmul: out of memory\n");
        return 1;
    }
    if (tt_to_host(a, TT_F32, ha) || tt_to_host(b, TT_F32, hb)) die("to_host");
    double *tg_ms = malloc(sizeof *tg_ms * (size_t)runs), *blas_ms = malloc(sizeof *blas_ms * (size_t)runs);
    if (!tg_ms || !blas_ms) return 1;
    tt_tensor *c = NULL;
    /* Each side in its own block of runs (after its own warm-up), so that
     * neither runs on caches the other left. */
    for (int r = -1; r < runs; r++) {
        double t0 = now_ms();
        tt_release(c);
        c = NN(tt_matmul(a, b));
        if (r >= 0) tg_ms[r] = now_ms() - t0;
    }
    for (int r = -1; r < runs; r++) {
        double t0 = now_ms();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)n, (int)n, 1.0f, ha, (int)n, hb, (int)n,
                    0.0f, hc, (int)n);
        if (r >= 0) blas_ms[r] = now_ms() - t0;
    }
    if (tt_to_host(c, TT_F32, ht)) die("to_host");
    double maxdiff = 0;
    for (size_t i = 0; i < count; i++) maxdiff = fmax(maxdiff, fabs((double)ht[i] - (double)hc[i]));
    double tm = median(tg_ms, runs), bm = median(blas_ms, runs), flop = 2.0 * (double)n * (double)n * (double)n;
    printf(
        "matmul %lldx%lld f32, median of %d: tg_matmul %.2f ms (%.1f GFLOP/s), cblas_sgemm %.2f ms (%.1f GFLOP/s); "
        "tg reaches %.0f%% of sgemm; max |difference| %g\n",
        (long long)n, (long long)n, runs, tm, flop / tm / 1e6, bm, flop / bm / 1e6, 100 * bm / tm, maxdiff);
    printf("median_ms=%.3f\nsgemm_ms=%.3f\n", tm, bm);
    tt_release(a);
    tt_release(b);
    tt_release(c);
    free(ha);
    free(hb);
    free(hc);
    free(ht);
    free(tg_ms);
    free(blas_ms);
    return maxdiff == 0 ? 0 : 1;
}
