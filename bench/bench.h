/* Helpers shared by the C benchmarks: a monotonic clock, medians, dying on a
 * library error. Header-only so that each benchmark stays one file; define
 * BENCH_PROG (the program's name, for messages) before including it. */
#ifndef TG_BENCH_H
#define TG_BENCH_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tg/tensor.h"

static inline double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* A fit's steps timed from inside: bench_span_step as tg_fit_spec.on_step
 * (ctx a bench_span) notes the time of step 1 and of the last step. */
typedef struct {
    double first, last;
    int64_t steps;
} bench_span;

static inline bool bench_span_step(int64_t step, double loss, void *ctx)
{
    (void)loss;
    bench_span *s = ctx;
    double t = now_ms();
    if (step == 1) s->first = t;
    s->last = t, s->steps = step;
    return true;
}

/* The median of v[0..n), sorting v. */
static inline double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, bench_cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static inline void die(const char *what)
{
    fprintf(stderr, "%s: %s: %s\n", BENCH_PROG, what, tt_last_error());
    exit(1);
}

/* t, or death naming `what` when t is NULL (a failed library call). */
static inline tt_tensor *must(tt_tensor *t, const char *what)
{
    if (!t) die(what);
    return t;
}
#define NN(x) must((x), #x)

/* The options `-n N` and `--runs R` (both positive), else usage and exit 2. */
static inline void size_and_runs(int argc, char **argv, int64_t *n, int *runs)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-n") && i + 1 < argc) *n = strtoll(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc) *runs = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [-n N] [--runs R]\n", argv[0]);
            exit(2);
        }
    }
    if (*n < 1 || *runs < 1) {
        fprintf(stderr, "%s: -n and --runs must be positive\n", BENCH_PROG);
        exit(2);
    }
}

#endif
