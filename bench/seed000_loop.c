/* Seed 000's linear regression by gradient descent, timed, with libgrad:
 *   x = rand(8,1)*20; y = x*2 + (1 + randn(8,1))*3        (fresh batch each step)
 *   w = rand(1,1), b = zeros(1,1) requiring grad; lr = 0.001
 *   y_pred = x.mm(w) + b.expand_as(y); loss = (0.5 * (y_pred - y)**2).sum()
 *   loss.backward(); w.data.sub_(lr * w.grad.data); b likewise; zero the grads
 *
 *   seed000_loop [--steps N] [--runs R] [--seed S]   median of R timed runs after a warm-up
 *   seed000_loop --steps 1000000 --rss               VmRSS at step 10^4 and at the end
 *
 * The last line is "median_ms=X" (timing mode) for bench/autograd.sh. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tg/grad.h"
#define BENCH_PROG "seed000_loop"
#include "bench.h"

/* VmRSS from /proc/self/status, in KiB (-1 if unreadable). */
static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6)) {
            kib = strtol(line + 6, NULL, 10);
            break;
        }
    if (f) fclose(f);
    return kib;
}

/* One training run; returns the final w and b. rss_at[0] gets VmRSS after step
 * 10^4 and rss_at[1] at the end when rss_at is not NULL. */
static void train(long steps, uint64_t seed, double *w_out, double *b_out, long *rss_at)
{
    const double lr = 0.001;
    int64_t s11[2] = {1, 1}, s81[2] = {8, 1};
    tt_manual_seed(seed);
    tt_tensor *w = NN(tt_rand(2, s11, TT_F32, TT_CPU, NULL)), *b = NN(tt_zeros(2, s11, TT_F32, TT_CPU));
    if (tg_set_requires_grad(w, true) || tg_set_requires_grad(b, true)) die("requires_grad");
    tt_tensor *wd = NN(tg_data(w)), *bd = NN(tg_data(b)); /* w.data, b.data */
    for (long ii = 0; ii < steps; ii++) {
        /* get_fake_data(8): plain tensors, no autograd */
        tt_tensor *u = NN(tt_rand(2, s81, TT_F32, TT_CPU, NULL)), *x = NN(tt_mul_scalar(u, 20));
        tt_tensor *n = NN(tt_randn(2, s81, TT_F32, TT_CPU, NULL)), *n1 = NN(tt_add_scalar(n, 1));
        tt_tensor *n3 = NN(tt_mul_scalar(n1, 3)), *x2 = NN(tt_mul_scalar(x, 2)), *y = NN(tt_add(x2, n3));
        /* forward */
        tt_tensor *xw = NN(tg_mm(x, w)), *be = NN(tg_expand(b, y->ndim, y->shape)), *yp = NN(tg_add(xw, be));
        tt_tensor *d = NN(tg_sub(yp, y)), *d2 = NN(tg_pow_scalar(d, 2)), *h = NN(tg_mul_scalar(d2, 0.5));
        tt_tensor *loss = NN(tg_sum(h));
        if (tg_backward(loss, NULL, false, false) != TT_OK) die("backward");
        /* w.data.sub_(lr * w.grad.data); b.data.sub_(lr * b.grad.data) */
        tt_tensor *gw = NN(tt_mul_scalar(tg_get_grad(w), lr)), *gb = NN(tt_mul_scalar(tg_get_grad(b), lr));
        if (tt_sub_(wd, gw) || tt_sub_(bd, gb)) die("update");
        if (tg_zero_grad(w) || tg_zero_grad(b)) die("zero_grad");
        tt_tensor *all[] = {u, x, n, n1, n3, x2, y, xw, be, yp, d, d2, h, loss, gw, gb};
        for (size_t i = 0; i < sizeof all / sizeof *all; i++) tt_release(all[i]);
        if (rss_at && ii + 1 == 10000) rss_at[0] = rss_kib();
    }
    if (rss_at) rss_at[1] = rss_kib();
    if (tt_item(w, w_out) || tt_item(b, b_out)) die("item");
    tt_release(wd);
    tt_release(bd);
    tt_release(w);
    tt_release(b);
}

int main(int argc, char **argv)
{
    long steps = 8000;
    int runs = 5, rss = 0;
    uint64_t seed = 1000; /* t.manual_seed(1000) in the seed */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--steps") && i + 1 < argc) steps = strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc) runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc) seed = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--rss")) rss = 1;
        else {
            fprintf(stderr, "usage: %s [--steps N] [--runs R] [--seed S] [--rss]\n", argv[0]);
            return 2;
        }
    }
    if (steps < 1 || runs < 1) {
        fprintf(stderr, "seed000_loop: --steps and --runs must be positive\n");
        return 2;
    }
    double w, b;
    if (rss) {
        long at[2] = {-1, -1};
        double t0 = now_ms();
        train(steps, seed, &w, &b, at);
        double ms = now_ms() - t0;
        printf("tg seed000 loop %ld steps: %.0f ms (%.2f us/step), w = %.4f, b = %.4f\n", steps, ms,
               ms * 1e3 / (double)steps, w, b);
        printf("VmRSS after step 10000: %ld KiB; after step %ld: %ld KiB (%+ld KiB)\n", at[0], steps, at[1],
               at[1] - at[0]);
        return at[0] > 0 && at[1] - at[0] < 1024 ? 0 : 1; /* flat: under 1 MiB of growth */
    }
    train(steps, seed, &w, &b, NULL); /* warm-up */
    double *ms = malloc(sizeof *ms * (size_t)runs);
    if (!ms) return 1;
    for (int r = 0; r < runs; r++) {
        double t0 = now_ms();
        train(steps, seed, &w, &b, NULL);
        ms[r] = now_ms() - t0;
    }
    double med = median(ms, runs);
    free(ms);
    int ok = fabs(w - 2) < 0.2 && fabs(b - 3) < 0.6;
    printf("tg: %ld steps, median of %d runs %.1f ms (%.2f us/step); w = %.4f, b = %.4f (%s 2 and 3)\n", steps, runs,
           med, med * 1e3 / (double)steps, w, b, ok ? "near" : "NOT near");
    printf("median_ms=%.3f\n", med);
    return ok ? 0 : 1;
}
