/* Large-tensor throughput of the CPU backend: 10^7-element f32 add, mul,
 * sum and exp, and one full-batch gradient step of a line on 10^7 points
 * (pred = x*w + b; loss = mean((pred - y)^2); backward; w -= lr*w.grad, ...),
 * each the best of R runs, with the memory traffic it implies in GB/s.
 *
 *   elementwise [--n N] [--runs R]
 *
 * OMP_NUM_THREADS sets the thread count (default: all CPUs). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "tg/grad.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static tt_tensor *nn(tt_tensor *t)
{
    if (!t) {
        fprintf(stderr, "elementwise: %s\n", tt_last_error());
        exit(1);
    }
    return t;
}

static void report(const char *what, double s, double bytes)
{
    printf("%-34s %9.3f ms %8.2f GB/s\n", what, s * 1e3, bytes / s / 1e9);
}

int main(int argc, char **argv)
{
    int64_t n = 10000000;
    int runs = 10;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--n")) n = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "--runs")) runs = atoi(argv[i + 1]);
    }
    int64_t shape[1] = {n};
    tt_generator gen = {1, 0}, *g = &gen;
    tt_tensor *a = nn(tt_randn(1, shape, TT_F32, TT_CPU, g)), *b = nn(tt_randn(1, shape, TT_F32, TT_CPU, g));
    double best[5] = {1e9, 1e9, 1e9, 1e9, 1e9};
    for (int r = 0; r < runs; r++) {
        double t0 = now_s();
        tt_tensor *c = nn(tt_add(a, b));
        double t1 = now_s();
        tt_tensor *d = nn(tt_mul(a, b));
        double t2 = now_s();
        tt_tensor *s = nn(tt_sum(a));
        double t3 = now_s();
        tt_tensor *e = nn(tt_exp(a));
        double t4 = now_s();
        double dt[4] = {t1 - t0, t2 - t1, t3 - t2, t4 - t3};
        for (int k = 0; k < 4; k++)
            if (dt[k] < best[k]) best[k] = dt[k];
        tt_release(c);
        tt_release(d);
        tt_release(s);
        tt_release(e);
    }
    double fb = 4.0 * (double)n;
    report("add (a + b)", best[0], 3 * fb);
    report("mul (a * b)", best[1], 3 * fb);
    report("sum (a)", best[2], fb);
    report("exp (a)", best[3], 2 * fb);

    /* the line fit: x, y of n points; w, b scalars requiring grad */
    tt_tensor *x = a, *y = b;
    int64_t one[1] = {1};
    tt_tensor *w = nn(tt_full(1, one, 0.5, TT_F32, TT_CPU)), *bias = nn(tt_full(1, one, 0.0, TT_F32, TT_CPU));
    tg_set_requires_grad(w, true);
    tg_set_requires_grad(bias, true);
    for (int r = 0; r < runs; r++) {
        double t0 = now_s();
        tt_tensor *xw = nn(tg_mul(x, w)), *pred = nn(tg_add(xw, bias)), *diff = nn(tg_sub(pred, y));
        tt_tensor *sq = nn(tg_mul(diff, diff)), *loss = nn(tg_mean(sq));
        if (tg_backward(loss, NULL, false, false) != TT_OK) nn(NULL);
        TG_NO_GRAD
        {
            tt_tensor *gw = tg_get_grad(w), *gb = tg_get_grad(bias);
            tt_tensor *uw = nn(tt_mul_scalar(gw, 0.01)), *ub = nn(tt_mul_scalar(gb, 0.01));
            if (tt_sub_(w, uw) != TT_OK || tt_sub_(bias, ub) != TT_OK) nn(NULL);
            tt_release(uw);
            tt_release(ub);
            tg_zero_grad(w);
            tg_zero_grad(bias);
        }
        double dt = now_s() - t0;
        if (dt < best[4]) best[4] = dt;
        tt_tensor *all[] = {xw, pred, diff, sq, loss};
        for (size_t i = 0; i < sizeof all / sizeof *all; i++) tt_release(all[i]);
    }
    /* least traffic of a fused step: read x and y twice (forward, backward) */
    report("line fit step (10^7 points)", best[4], 4 * fb);
    tt_tensor *all[] = {a, b, w, bias};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) tt_release(all[i]);
    return 0;
}
