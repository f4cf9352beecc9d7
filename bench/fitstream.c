/* tg_fit_stream on N float32 points held in memory (a stand-in for a file in
 * the page cache), read through the callback in slices as doubles: the time
 * of one pass of reads alone (the callback's conversion, the floor of every
 * pass), then of the exact line (one pass), the default method, and a gd
 * step (timed from inside by the per-step callback), each the median of R
 * runs, with the passes each made. Not part of `make test`.
 *
 *   fitstream [-n N] [--runs R]      (default 10^7 points, 3 runs; $TG_FIT_SLICE: the slice) */
#define BENCH_PROG "fitstream"
#include "bench.h"
#include "tg/fit.h"

typedef struct {
    const float *x, *y;
    int64_t points;
} source;

static tt_status source_read(void *ctx, int64_t start, int64_t count, double *const *cols)
{
    source *s = ctx;
    for (int64_t i = 0; i < count; i++) cols[0][i] = s->x[start + i], cols[1][i] = s->y[start + i];
    s->points += count;
    return TT_OK;
}

int main(int argc, char **argv)
{
    int64_t n = 10000000;
    int runs = 3;
    size_and_runs(argc, argv, &n, &runs);
    float *x = malloc(sizeof *x * (size_t)n), *y = malloc(sizeof *y * (size_t)n);
    if (!x || !y) die("out of memory");
    for (int64_t i = 0; i < n; i++) {
        x[i] = (float)(20 * tt_philox_uniform(1, (uint64_t)i));
        y[i] = (float)(2 * x[i] + 3 + 3 * tt_philox_normal(1, (uint64_t)(n + i)));
    }
    source src = {x, y, 0};
    tg_fit_data data = {n, 1, false, TT_F32, source_read, &src, NULL, false};
    double *ms = malloc(sizeof *ms * (size_t)runs), *cols = malloc(sizeof *cols * 2 * TG_FIT_SLICE);
    if (!ms || !cols) die("out of memory");
    double *pc[2] = {cols, cols + TG_FIT_SLICE}, sink = 0;
    for (int r = 0; r < runs; r++) {
        double t0 = now_ms();
        for (int64_t at = 0; at < n; at += TG_FIT_SLICE) {
            source_read(&src, at, n - at < TG_FIT_SLICE ? n - at : TG_FIT_SLICE, pc);
            sink += cols[0];
        }
        ms[r] = now_ms() - t0;
    }
    double read_ms = median(ms, runs);
    printf("%lld float32 points: one pass of reads %.2f ms (%.1f GB/s of x and y)%s\n", (long long)n, read_ms,
           8.0 * (double)n / read_ms / 1e6, sink == 0.5 ? " " : "");
    const char *what[] = {"exact line", "default method", "gd (float32), per step"};
    for (int k = 0; k < 3; k++) {
        int64_t passes = 0;
        for (int r = -1; r < runs; r++) { /* r = -1: warm-up */
            tg_fit_spec sp;
            tg_fit_spec_defaults(&sp);
            if (getenv("TG_FIT_SLICE")) sp.slice = strtoll(getenv("TG_FIT_SLICE"), NULL, 10);
            bench_span s = {0, 0, 0};
            if (k == 0) sp.method = TG_METHOD_EXACT;
            if (k == 2)
                sp.optimizer = TG_OPT_GD, sp.lr = 1e-3, sp.steps = 11, sp.on_step = bench_span_step, sp.ctx = &s;
            tg_fit_result *res = NULL;
            src.points = 0;
            double t0 = now_ms();
            if (tg_fit_stream(&data, &sp, &res)) die("tg_fit_stream");
            double t = now_ms() - t0;
            passes = src.points / n;
            tg_fit_result_free(res);
            if (r >= 0) ms[r] = k == 2 ? (s.last - s.first) / (double)(s.steps - 1) : t;
        }
        double m = median(ms, runs);
        printf("%-24s %9.2f ms  %5.2f x one pass of reads  (%lld passes)\n", what[k], m, m / read_ms,
               (long long)passes);
    }
    free(ms);
    free(cols);
    free(x);
    free(y);
    return 0;
}
