/* tg-fit's own work on a file, timed inside one process (start-up
 * excluded): open the file, read x and y through tg_fit_source slice by slice
 * (HDF5 in place, from the page cache after a warm-up) and fit, for the exact
 * method and the default one; the median of R runs of each. Prints
 * "exact_ms=X" and "default_ms=X" last.
 *
 *   fitfile FILE [--runs R] */
#define BENCH_PROG "fitfile"
#include "bench.h"
#include "tg/fit.h"

static double fit_once(const char *path, tg_fit_method method)
{
    double t0 = now_ms();
    tt_source *src = tt_source_open(path);
    if (!src) die("tt_source_open");
    tg_fit_source_spec fss = {.drop_nan = false};
    tg_fit_source *fs = NULL;
    if (tg_fit_source_open(src, &fss, &fs) != TT_OK) die("tg_fit_source_open");
    tg_fit_spec sp;
    tg_fit_spec_defaults(&sp);
    sp.method = method;
    sp.dtype = tg_fit_source_data(fs)->dtype;
    tg_fit_result *res = NULL;
    if (tg_fit_stream(tg_fit_source_data(fs), &sp, &res) != TT_OK) die("tg_fit_stream");
    double t = now_ms() - t0;
    tg_fit_result_free(res);
    tg_fit_source_free(fs);
    tt_source_close(src);
    return t;
}

int main(int argc, char **argv)
{
    if (argc < 2) die("usage: fitfile FILE [--runs R]");
    int runs = argc > 3 && !strcmp(argv[2], "--runs") ? atoi(argv[3]) : 5;
    if (runs < 1) runs = 1;
    double *ms = malloc(sizeof *ms * (size_t)runs);
    if (!ms) die("out of memory");
    const char *name[2] = {"exact", "default"};
    double med[2];
    for (int k = 0; k < 2; k++) {
        fit_once(argv[1], k ? TG_METHOD_DESCENT : TG_METHOD_EXACT); /* warm-up: the page cache */
        for (int r = 0; r < runs; r++) ms[r] = fit_once(argv[1], k ? TG_METHOD_DESCENT : TG_METHOD_EXACT);
        med[k] = median(ms, runs);
        printf("%s: open, read and fit %.2f ms (median of %d)\n", name[k], med[k], runs);
    }
    printf("exact_ms=%.3f\ndefault_ms=%.3f\n", med[0], med[1]);
    free(ms);
    return 0;
}
