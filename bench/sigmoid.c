/* Seed 000's sigmoid comparison, timed, with libgrad: x = randn(100,100) f32
 * requiring grad, and 100 calls of each of
 *   f_sigmoid(x): y = Sigmoid.apply(x);       y.backward(ones(x.size()))
 *   f_naive(x):   y = 1 / (1 + exp(-x));      y.backward(ones(x.size()))
 *   f_th(x):      y = sigmoid(x);             y.backward(ones(x.size()))
 * where Sigmoid is a custom Function (forward 1/(1+exp(-x)) with tt_ ops,
 * saving its output; backward output * (1 - output) * grad with tg_ ops).
 * As in the seed, the gradient is passed as a fresh ones tensor each call (no
 * .sum()) and x.grad is never zeroed: it accumulates.
 *
 *   sigmoid [--iters N] [--runs R] [--seed S] [--only custom|composed|builtin]
 *
 * First checks that the three variants give the same x.grad (to 1e-6), then
 * times each: the median of R runs of N calls after a warm-up run. The last
 * lines are "median_ms.VARIANT=X" for bench/sigmoid.sh. Each variant's loop is
 * its own function (loop_custom, loop_composed, loop_builtin) so that
 * `valgrind --tool=callgrind --toggle-collect=loop_custom` profiles just it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tg/function.h"
#include "tg/grad.h"
#define BENCH_PROG "sigmoid"
#include "bench.h"

/* ---- the custom Function ------------------------------------------------- */
/* forward: output = 1 / (1 + exp(-x)); ctx.save_for_backward(output) */
static tt_tensor *sig_forward(tg_ctx *ctx, int n, tt_tensor *const *in)
{
    (void)n;
    tt_tensor *nx = tt_neg(in[0]), *e = nx ? tt_exp(nx) : NULL, *d = e ? tt_add_scalar(e, 1) : NULL;
    tt_tensor *out = d ? tt_scalar_binary(TT_DIV, 1, d) : NULL;
    tt_release(nx);
    tt_release(e);
    tt_release(d);
    if (out && tg_ctx_save_for_backward(ctx, 1, &out) != TT_OK) {
        tt_release(out);
        return NULL;
    }
    return out;
}

/* backward: grad_x = output * (1 - output) * grad_output */
static int sig_backward(tg_ctx *ctx, const tt_tensor *g, tt_tensor **gi, int max_grads)
{
    (void)max_grads;
    tt_tensor *out = tg_ctx_saved(ctx, 0);
    if (!out) return -1;
    tt_tensor *om = tg_scalar_binary(TT_SUB, 1, out), *p = om ? tg_mul(out, om) : NULL;
    gi[0] = p ? tg_mul(p, g) : NULL;
    tt_release(om);
    tt_release(p);
    return gi[0] ? 1 : -1;
}

static const tg_function Sigmoid = {"Sigmoid", sig_forward, sig_backward, false};

/* ---- the three variants, one call each ------------------------------------ */
static void backward_ones(tt_tensor *x, tt_tensor *y)
{
    tt_tensor *ones = NN(tt_ones(x->ndim, x->shape, x->dtype, TT_CPU)); /* t.ones(x.size()) */
    if (tg_backward(y, ones, false, false) != TT_OK) die("backward");
    tt_release(ones);
}

static void f_sigmoid(tt_tensor *x)
{
    tt_tensor *y = NN(tg_function_apply(&Sigmoid, 1, &x, NULL));
    backward_ones(x, y);
    tt_release(y);
}

static void f_naive(tt_tensor *x)
{
    tt_tensor *nx = NN(tg_neg(x)), *e = NN(tg_exp(nx)), *d = NN(tg_add_scalar(e, 1));
    tt_tensor *y = NN(tg_scalar_binary(TT_DIV, 1, d));
    backward_ones(x, y);
    tt_tensor *all[] = {nx, e, d, y};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) tt_release(all[i]);
}

static void f_th(tt_tensor *x)
{
    tt_tensor *y = NN(tg_sigmoid(x));
    backward_ones(x, y);
    tt_release(y);
}

/* noinline: callgrind's --toggle-collect needs them as real functions */
__attribute__((noinline)) static void loop_custom(tt_tensor *x, long n)
{
    for (long i = 0; i < n; i++) f_sigmoid(x);
}
__attribute__((noinline)) static void loop_composed(tt_tensor *x, long n)
{
    for (long i = 0; i < n; i++) f_naive(x);
}
__attribute__((noinline)) static void loop_builtin(tt_tensor *x, long n)
{
    for (long i = 0; i < n; i++) f_th(x);
}

static const struct variant {
    const char *name, *what;
    void (*one)(tt_tensor *);
    void (*loop)(tt_tensor *, long);
} variants[] = {
    {"custom", "Sigmoid.apply(x) (custom Function)", f_sigmoid, loop_custom},
    {"composed", "1/(1+exp(-x)) (composed ops)", f_naive, loop_composed},
    {"builtin", "sigmoid(x) (built-in)", f_th, loop_builtin},
};
#define NVARIANTS ((int)(sizeof variants / sizeof *variants))

/* x.grad after one call on a fresh x.grad, as a new host array. */
static float *grad_of(const struct variant *v, tt_tensor *x)
{
    if (tg_set_grad(x, NULL) != TT_OK) die("clear grad");
    v->one(x);
    tt_tensor *g = tg_get_grad(x);
    if (!g) die("no x.grad");
    size_t n = 1;
    for (int d = 0; d < g->ndim; d++) n *= (size_t)g->shape[d];
    float *h = malloc(n * sizeof *h);
    if (!h || tt_to_host(g, TT_F32, h) != TT_OK) die("grad to host");
    return h;
}

int main(int argc, char **argv)
{
    long iters = 100;
    int runs = 5;
    uint64_t seed = 0;
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--iters") && i + 1 < argc) iters = strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc) runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc) seed = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
        else {
            fprintf(stderr, "usage: %s [--iters N] [--runs R] [--seed S] [--only custom|composed|builtin]\n", argv[0]);
            return 2;
        }
    }
    if (iters < 1 || runs < 1) {
        fprintf(stderr, "sigmoid: --iters and --runs must be positive\n");
        return 2;
    }
    int found = !only;
    for (int k = 0; k < NVARIANTS; k++) found |= only && !strcmp(only, variants[k].name);
    if (!found) {
        fprintf(stderr, "sigmoid: unknown variant '%s'\n", only);
        return 2;
    }

    int64_t shape[2] = {100, 100};
    tt_manual_seed(seed);
    tt_tensor *x = NN(tt_randn(2, shape, TT_F32, TT_CPU, NULL));
    if (tg_set_requires_grad(x, true)) die("requires_grad");
    const size_t n = 100 * 100;

    /* The three gradients must agree, and match sigmoid'(x) computed in double. */
    float *xs = malloc(n * sizeof *xs);
    if (!xs || tt_to_host(x, TT_F32, xs) != TT_OK) die("x to host");
    float *g[NVARIANTS];
    double worst = 0, worst_ref = 0;
    for (int k = 0; k < NVARIANTS; k++) g[k] = grad_of(&variants[k], x);
    for (size_t i = 0; i < n; i++) {
        double s = 1 / (1 + exp(-(double)xs[i])), ref = s * (1 - s);
        for (int k = 0; k < NVARIANTS; k++) {
            double d0 = fabs((double)g[k][i] - g[0][i]), dr = fabs((double)g[k][i] - ref);
            if (d0 > worst) worst = d0;
            if (dr > worst_ref) worst_ref = dr;
        }
    }
    int ok = worst <= 1e-6;
    printf("gradients: max |difference| between variants %.3g (%s 1e-6), max |grad - s(1-s) in double| %.3g\n", worst,
           ok ? "within" : "NOT within", worst_ref);
    for (int k = 0; k < NVARIANTS; k++) free(g[k]);
    free(xs);
    if (tg_set_grad(x, NULL) != TT_OK) die("clear grad");

    double *ms = malloc(sizeof *ms * (size_t)runs), med[NVARIANTS];
    if (!ms) return 1;
    for (int k = 0; k < NVARIANTS; k++) {
        const struct variant *v = &variants[k];
        if (only && strcmp(only, v->name)) continue;
        v->loop(x, iters); /* warm-up */
        for (int r = 0; r < runs; r++) {
            double t0 = now_ms();
            v->loop(x, iters);
            ms[r] = now_ms() - t0;
        }
        med[k] = median(ms, runs); /* sorts ms */
        printf("tg %-36s %ld calls: median of %d runs %8.3f ms (%.2f us/call; min %.3f, max %.3f)\n", v->what, iters,
               runs, med[k], med[k] * 1e3 / (double)iters, ms[0], ms[runs - 1]);
    }
    for (int k = 0; k < NVARIANTS; k++)
        if (!only || !strcmp(only, variants[k].name)) printf("median_ms.%s=%.4f\n", variants[k].name, med[k]);
    free(ms);
    tt_release(x);
    return ok ? 0 : 1;
}
