/* The loop of tg_fit's raw descent (optimizer gd, loss mse, from w0, b0) on
 * the points x, y of an HDF5 file, timed from inside: the time from the end
 * of step 1 to the end of step N (read by the per-step callback), scaled by
 * N/(N-1), so that reading the file, the set-up and the standard errors are
 * left out. For bench/fit.sh (P2 and the 10^7-point row). Prints the median of
 * R runs and the final parameters; last lines "loop_ms=X", "w=X", "b=X".
 * With --model EXPR (two parameters, named by --names, default a,k: P11,
 * bench/fitexpr.sh) the model is that expression, from w0 and b0.
 *
 *   fitloop FILE [--steps N] [--lr LR] [--w0 W] [--b0 B] [--runs R] [--model EXPR [--names P,Q]] */
#include <string.h>

#define BENCH_PROG "fitloop"
#include "bench.h"
#include "tg/fit.h"
#include "tg/io.h"

int main(int argc, char **argv)
{
    const char *file = NULL;
    int64_t steps = 2000;
    int runs = 5;
    double lr = 0.01, w0 = 0.5, b0 = 0;
    const char *model = NULL;
    char pnames[64] = "a,k";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--steps") && i + 1 < argc) steps = strtoll(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc) runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--lr") && i + 1 < argc) lr = atof(argv[++i]);
        else if (!strcmp(argv[i], "--w0") && i + 1 < argc) w0 = atof(argv[++i]);
        else if (!strcmp(argv[i], "--b0") && i + 1 < argc) b0 = atof(argv[++i]);
        else if (!strcmp(argv[i], "--model") && i + 1 < argc) model = argv[++i];
        else if (!strcmp(argv[i], "--names") && i + 1 < argc) snprintf(pnames, sizeof pnames, "%s", argv[++i]);
        else if (argv[i][0] != '-' && !file) file = argv[i];
        else {
            fprintf(stderr,
                    "usage: %s FILE [--steps N] [--lr LR] [--w0 W] [--b0 B] [--runs R] [--model EXPR [--names P,Q]]\n",
                    argv[0]);
            return 2;
        }
    }
    if (!file || steps < 2 || runs < 1) {
        fprintf(stderr, "fitloop: a FILE, --steps >= 2 and --runs >= 1\n");
        return 2;
    }
    tt_tensor_set *set = tt_read_path(file);
    if (!set) die("read");
    tt_tensor *x = must(tt_set_select(set, "x", file), "x"), *y = must(tt_set_select(set, "y", file), "y");
    const char *names[] = {"w", "b"};
    char *comma = strchr(pnames, ',');
    if (model && comma) *comma = 0, names[0] = pnames, names[1] = comma + 1;
    double init[] = {w0, b0}, *ms = malloc(sizeof *ms * (size_t)runs), w = 0, b = 0;
    if (!ms) die("out of memory");
    tg_fit_spec sp;
    tg_fit_spec_defaults(&sp);
    sp.loss = "mse";
    sp.model = model;
    sp.optimizer = TG_OPT_GD;
    sp.lr = lr;
    sp.steps = steps;
    sp.ninit = 2, sp.init_names = names, sp.init_values = init;
    sp.dtype = x->dtype == TT_F64 ? TT_F64 : TT_F32;
    sp.on_step = bench_span_step;
    for (int r = -1; r < runs; r++) { /* r = -1: warm-up */
        bench_span s = {0, 0, 0};
        sp.ctx = &s;
        tg_fit_result *res = NULL;
        if (tg_fit(x, y, NULL, &sp, &res)) die("tg_fit");
        w = res->values[0], b = res->values[1];
        tg_fit_result_free(res);
        if (r >= 0) ms[r] = (s.last - s.first) * (double)steps / (double)(steps - 1);
    }
    double m = median(ms, runs);
    printf("tg_fit gd: %lld points, %lld steps, median of %d: loop %.3f ms (%.3f us/step); w = %.6f, b = %.6f\n",
           (long long)tt_numel(x), (long long)steps, runs, m, m * 1e3 / (double)steps, w, b);
    printf("loop_ms=%.4f\nw=%.17g\nb=%.17g\n", m, w, b);
    free(ms);
    tt_release(x);
    tt_release(y);
    tt_set_free(set);
    return 0;
}
