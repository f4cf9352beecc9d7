/* P4: one full-batch gradient-descent step of a line (mse, lr 0.5) on N
 * points (default 10^7, f32), x ~ U(0,1), y = 3x + 0.8 + 0.5 N(0,1) made once,
 * untimed; timed two ways:
 *  1. the library's fit (tg_fit, optimizer gd): the time between consecutive
 *     steps, read by its per-step callback: "median_ms=X";
 *  2. the same step written with libgrad ops, as a PyTorch user writes it:
 *       pred = x * w + b; loss = ((pred - y) ** 2).mean(); loss.backward()
 *       w.data -= lr * w.grad; b.data -= lr * b.grad; zero the grads
 *     "graph_ms=X".
 * Each is the median of R steps after two warm-up steps.
 *
 *   step [-n N] [--runs R] */
#include <math.h>
#include <string.h>

#define BENCH_PROG "step"
#include "bench.h"
#include "tg/fit.h"
#include "tg/grad.h"

typedef struct {
    double *at;
    int n, cap;
} clock_log;

static bool on_step(int64_t step, double loss, void *ctx)
{
    (void)step, (void)loss;
    clock_log *c = ctx;
    if (c->n < c->cap) c->at[c->n++] = now_ms();
    return true;
}

/* The median time of one tg_fit gd step over x, y (runs + 2 steps). */
static double fit_step_ms(const tt_tensor *x, const tt_tensor *y, int runs, double *w, double *b)
{
    clock_log c = {malloc(sizeof(double) * (size_t)(runs + 3)), 0, runs + 3};
    if (!c.at) die("out of memory");
    tg_fit_spec sp;
    tg_fit_spec_defaults(&sp);
    sp.optimizer = TG_OPT_GD;
    sp.lr = 0.5;
    sp.steps = runs + 3;
    const char *names[] = {"w", "b"};
    const double init[] = {0.5, 0};
    sp.ninit = 2, sp.init_names = names, sp.init_values = init;
    sp.on_step = on_step, sp.ctx = &c;
    tg_fit_result *r = NULL;
    if (tg_fit(x, y, NULL, &sp, &r)) die("tg_fit");
    *w = r->values[0], *b = r->values[1];
    tg_fit_result_free(r);
    double *ms = malloc(sizeof *ms * (size_t)runs);
    if (!ms) die("out of memory");
    for (int i = 0; i < runs; i++) ms[i] = c.at[i + 3] - c.at[i + 2]; /* steps 4.. (two warm-up steps) */
    double m = median(ms, runs);
    free(ms);
    free(c.at);
    return m;
}

int main(int argc, char **argv)
{
    int64_t n = 10000000;
    int runs = 7;
    size_and_runs(argc, argv, &n, &runs);
    tt_manual_seed(7);
    int64_t shape[1] = {n};
    tt_tensor *x = NN(tt_rand(1, shape, TT_F32, TT_CPU, NULL)), *e = NN(tt_randn(1, shape, TT_F32, TT_CPU, NULL));
    tt_tensor *x3 = NN(tt_mul_scalar(x, 3)), *e5 = NN(tt_mul_scalar(e, 0.5)), *x38 = NN(tt_add_scalar(x3, 0.8));
    tt_tensor *y = NN(tt_add(x38, e5));
    tt_release(e);
    tt_release(x3);
    tt_release(e5);
    tt_release(x38);
    tt_tensor *w = NN(tt_scalar(0.5, TT_F32, TT_CPU)), *b = NN(tt_scalar(0, TT_F32, TT_CPU));
    if (tg_set_requires_grad(w, true) || tg_set_requires_grad(b, true)) die("requires_grad");
    tt_tensor *wd = NN(tg_data(w)), *bd = NN(tg_data(b));
    const double lr = 0.5;
    double *ms = malloc(sizeof *ms * (size_t)(runs + 2)), loss_v = 0;
    if (!ms) return 1;
    for (int r = 0; r < runs + 2; r++) {
        double t0 = now_ms();
        tt_tensor *xw = NN(tg_mul(x, w)), *pred = NN(tg_add(xw, b)), *d = NN(tg_sub(pred, y));
        tt_tensor *d2 = NN(tg_pow_scalar(d, 2)), *loss = NN(tg_mean(d2));
        if (tg_backward(loss, NULL, false, false)) die("backward");
        tt_tensor *gw = NN(tt_mul_scalar(tg_get_grad(w), lr)), *gb = NN(tt_mul_scalar(tg_get_grad(b), lr));
        if (tt_sub_(wd, gw) || tt_sub_(bd, gb) || tg_zero_grad(w) || tg_zero_grad(b)) die("update");
        if (r >= 2) ms[r - 2] = now_ms() - t0;
        if (tt_item(loss, &loss_v)) die("item");
        tt_tensor *all[] = {xw, pred, d, d2, loss, gw, gb};
        for (size_t i = 0; i < sizeof all / sizeof *all; i++) tt_release(all[i]);
    }
    double wv, bv;
    if (tt_item(w, &wv) || tt_item(b, &bv)) die("item");
    double med = median(ms, runs), fw, fb, fit_ms = fit_step_ms(x, y, runs, &fw, &fb);
    printf(
        "tg: gd step on %lld points, median of %d steps: tg_fit %.2f ms (w = %.4f, b = %.4f after %d steps); "
        "with libgrad ops %.2f ms (w = %.4f, b = %.4f after %d steps, loss %.4f)\n",
        (long long)n, runs, fit_ms, fw, fb, runs + 3, med, wv, bv, runs + 2, loss_v);
    printf("median_ms=%.3f\ngraph_ms=%.3f\n", fit_ms, med);
    free(ms);
    tt_tensor *all[] = {x, y, w, b, wd, bd};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) tt_release(all[i]);
    return 0;
}
