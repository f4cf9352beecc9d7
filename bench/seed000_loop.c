/* Seed 000's linear regression by gradient descent, timed, with libgrad:
 *   x = rand(8,1)*20; y = x*2 + (1 + randn(8,1))*3        (fresh batch each step)
 *   w = rand(1,1), b = zeros(1,1) requiring grad; lr = 0.001
 *   y_pred = x.mm(w) + b.expand_as(y); loss = (0.5 * (y_pred - y)**2).sum()
 *   loss.backward(); w.data.sub_(lr * w.grad.data); b likewise; zero the grads
 *
 *   seed000_loop [--steps N] [--runs R] [--seed S]   median of R timed runs after a warm-up
 *   seed000_loop --replay ...    the same loop replayed (tg/plan.h): step 1 eager, step 2
 *                                captured, the rest replayed; checks w, b bit for bit
 *                                against the eager loop's
 *   seed000_loop --steps 1000000 --rss [--replay]   VmRSS at step 10^4 and at the end
 *
 * The last line is "median_ms=X" (timing mode) for bench/autograd.sh. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tg/plan.h"
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

/* The loop's state: parameters, their .data aliases, and the step's last loss. */
typedef struct {
    tt_tensor *w, *b, *wd, *bd, *loss;
} loop_state;

/* One step of the loop: fresh data, forward, backward, the update through
 * .data, zeroed grads. The loss is kept (a replayed loop reads it there). */
static tt_status step(void *ctx)
{
    loop_state *S = ctx;
    const double lr = 0.001;
    int64_t s81[2] = {8, 1};
    /* get_fake_data(8): plain tensors, no autograd */
    tt_tensor *u = NN(tt_rand(2, s81, TT_F32, TT_CPU, NULL)), *x = NN(tt_mul_scalar(u, 20));
    tt_tensor *n = NN(tt_randn(2, s81, TT_F32, TT_CPU, NULL)), *n1 = NN(tt_add_scalar(n, 1));
    tt_tensor *n3 = NN(tt_mul_scalar(n1, 3)), *x2 = NN(tt_mul_scalar(x, 2)), *y = NN(tt_add(x2, n3));
    /* forward */
    tt_tensor *xw = NN(tg_mm(x, S->w)), *be = NN(tg_expand(S->b, y->ndim, y->shape)), *yp = NN(tg_add(xw, be));
    tt_tensor *d = NN(tg_sub(yp, y)), *d2 = NN(tg_pow_scalar(d, 2)), *h = NN(tg_mul_scalar(d2, 0.5));
    tt_tensor *loss = NN(tg_sum(h));
    if (tg_backward(loss, NULL, false, false) != TT_OK) die("backward");
    /* w.data.sub_(lr * w.grad.data); b.data.sub_(lr * b.grad.data) */
    tt_tensor *gw = NN(tt_mul_scalar(tg_get_grad(S->w), lr)), *gb = NN(tt_mul_scalar(tg_get_grad(S->b), lr));
    if (tt_sub_(S->wd, gw) || tt_sub_(S->bd, gb)) die("update");
    if (tg_zero_grad(S->w) || tg_zero_grad(S->b)) die("zero_grad");
    tt_release(S->loss);
    S->loss = loss;
    tt_tensor *all[] = {u, x, n, n1, n3, x2, y, xw, be, yp, d, d2, h, gw, gb};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) tt_release(all[i]);
    return TT_OK;
}

/* One training run; returns the final w and b. rss_at[0] gets VmRSS after step
 * 10^4 and rss_at[1] at the end when rss_at is not NULL. replay: the first step
 * runs eagerly, the second is captured (a steady-state step: the grads exist),
 * the rest replay it. */
static void train(long steps, uint64_t seed, bool replay, double *w_out, double *b_out, long *rss_at, int *kernels,
                  int *dispatches)
{
    int64_t s11[2] = {1, 1};
    tt_manual_seed(seed);
    loop_state S = {0};
    S.w = NN(tt_rand(2, s11, TT_F32, TT_CPU, NULL)), S.b = NN(tt_zeros(2, s11, TT_F32, TT_CPU));
    if (tg_set_requires_grad(S.w, true) || tg_set_requires_grad(S.b, true)) die("requires_grad");
    S.wd = NN(tg_data(S.w)), S.bd = NN(tg_data(S.b)); /* w.data, b.data */
    tg_plan *plan = NULL;
    for (long ii = 0; ii < steps; ii++) {
        if (!replay || ii == 0) step(&S);
        else if (!plan) {
            if (!(plan = tg_plan_capture(step, &S))) die("capture");
            if (kernels) *kernels = tg_plan_num_kernels(plan), *dispatches = tg_plan_num_dispatches(plan);
        } else if (tg_plan_run(plan) != TT_OK) die("replay");
        if (rss_at && ii + 1 == 10000) rss_at[0] = rss_kib();
    }
    if (rss_at) rss_at[1] = rss_kib();
    if (tt_item(S.w, w_out) || tt_item(S.b, b_out)) die("item");
    tg_plan_free(plan);
    tt_tensor *all[] = {S.wd, S.bd, S.w, S.b, S.loss};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) tt_release(all[i]);
}

int main(int argc, char **argv)
{
    long steps = 8000;
    int runs = 5, rss = 0, kernels = 0, dispatches = 0;
    bool replay = false;
    uint64_t seed = 1000; /* t.manual_seed(1000) in the seed */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--steps") && i + 1 < argc) steps = strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc) runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc) seed = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--rss")) rss = 1;
        else if (!strcmp(argv[i], "--replay")) replay = true;
        else {
            fprintf(stderr, "usage: %s [--steps N] [--runs R] [--seed S] [--replay] [--rss]\n", argv[0]);
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
        train(steps, seed, replay, &w, &b, at, NULL, NULL);
        double ms = now_ms() - t0;
        printf("tg seed000 loop%s %ld steps: %.0f ms (%.2f us/step), w = %.4f, b = %.4f\n", replay ? " (replayed)" : "",
               steps, ms, ms * 1e3 / (double)steps, w, b);
        printf("VmRSS after step 10000: %ld KiB; after step %ld: %ld KiB (%+ld KiB)\n", at[0], steps, at[1],
               at[1] - at[0]);
        return at[0] > 0 && at[1] - at[0] < 1024 ? 0 : 1; /* flat: under 1 MiB of growth */
    }
    train(steps, seed, replay, &w, &b, NULL, &kernels, &dispatches); /* warm-up */
    double *ms = malloc(sizeof *ms * (size_t)runs);
    if (!ms) return 1;
    for (int r = 0; r < runs; r++) {
        double t0 = now_ms();
        train(steps, seed, replay, &w, &b, NULL, NULL, NULL);
        ms[r] = now_ms() - t0;
    }
    double med = median(ms, runs);
    free(ms);
    int ok = fabs(w - 2) < 0.2 && fabs(b - 3) < 0.6;
    if (replay) {
        double we, bew;
        train(steps, seed, false, &we, &bew, NULL, NULL, NULL);
        bool same = !memcmp(&we, &w, sizeof w) && !memcmp(&bew, &b, sizeof b);
        printf("replayed: %d kernel calls a step in %d dispatches; w, b %s the eager loop's bit for bit\n", kernels,
               dispatches, same ? "equal" : "DIFFER FROM");
        ok &= same;
    }
    printf("tg%s: %ld steps, median of %d runs %.1f ms (%.2f us/step); w = %.4f, b = %.4f (%s 2 and 3)\n",
           replay ? " replayed" : "", steps, runs, med, med * 1e3 / (double)steps, w, b, ok ? "near" : "NOT near");
    printf("median_ms=%.3f\n", med);
    return ok ? 0 : 1;
}
