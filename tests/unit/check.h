/* A small TAP harness for the C unit tests: one file = one TAP stream.
 *   TEST(name) { CHECK(cond); CHECK_NEAR(a, b, tol); ... }
 *   int main(void) { RUN(name); ...; return DONE(); }
 * The plan line is printed last ("1..N" at the end is valid TAP), so a crash
 * leaves no plan and tests/run reports the file as broken. */
#ifndef TG_CHECK_H
#define TG_CHECK_H
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "tg/tensor.h"

/* Long-running cases shrink under valgrind (valgrind.h comes with Debian's valgrind). */
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

static int check_count, check_failed_total, check_failed_here;

/* A file of the repository (tests/...) from the root, where make test runs,
 * or from build/tests; a static buffer. */
static inline const char *repo_path(const char *rel)
{
    static char path[512];
    const char *roots[] = {"", "../../", "../"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s%s", roots[i], rel);
        FILE *f = fopen(path, "rb");
        if (f) {
            fclose(f);
            break;
        }
    }
    return path;
}

#define TEST(name) static void test_##name(void)
#define RUN(name)                                           \
    do {                                                    \
        check_failed_here = 0;                              \
        test_##name();                                      \
        check_count++;                                      \
        if (check_failed_here) {                            \
            check_failed_total++;                           \
            printf("not ok %d - %s\n", check_count, #name); \
        } else {                                            \
            printf("ok %d - %s\n", check_count, #name);     \
        }                                                   \
        fflush(stdout);                                     \
    } while (0)
#define DONE() (printf("1..%d\n", check_count), check_failed_total ? 1 : 0)
/* One TAP line for a table-driven case: "ok N - PREFIXNAME", "# SKIP why" when skip is set. */
#define REPORT_CASE(prefix, name, skip)                                                              \
    do {                                                                                             \
        check_count++;                                                                               \
        if (check_failed_here) {                                                                     \
            check_failed_total++;                                                                    \
            printf("not ok %d - %s%s\n", check_count, (prefix), (name));                             \
        } else if ((skip) && *(const char *)(skip)) {                                                \
            printf("ok %d - %s%s # SKIP %s\n", check_count, (prefix), (name), (const char *)(skip)); \
        } else {                                                                                     \
            printf("ok %d - %s%s\n", check_count, (prefix), (name));                                 \
        }                                                                                            \
        fflush(stdout);                                                                              \
    } while (0)

#define FAILF(...)                                 \
    do {                                           \
        printf("#   %s:%d: ", __FILE__, __LINE__); \
        printf(__VA_ARGS__);                       \
        printf("\n");                              \
        check_failed_here = 1;                     \
    } while (0)
#define CHECK(cond)                                                                        \
    do {                                                                                   \
        if (!(cond))                                                                       \
            FAILF("CHECK(%s) failed%s%s", #cond, tt_last_status() ? "; last error: " : "", \
                  tt_last_status() ? tt_last_error() : "");                                \
    } while (0)
#define CHECK_NEAR(a, b, tol)                                                                            \
    do {                                                                                                 \
        double a_ = (a), b_ = (b);                                                                       \
        if (!(fabs(a_ - b_) <= (tol) * (1 + fabs(b_)))) FAILF("%s = %.17g, expected %.17g", #a, a_, b_); \
    } while (0)
/* |a - b| <= tol |b| */
#define CHECK_REL(a, b, tol)                                                                           \
    do {                                                                                               \
        double ra_ = (a), rb_ = (b);                                                                   \
        if (!(fabs(ra_ - rb_) <= (tol)*fabs(rb_)))                                                     \
            FAILF("%s = %.17g, expected %.17g (rel %.3g)", #a, ra_, rb_, fabs(ra_ - rb_) / fabs(rb_)); \
    } while (0)
#define CHECK_STR(a, b)                                                                                      \
    do {                                                                                                     \
        const char *a_ = (a), *b_ = (b);                                                                     \
        if (!a_ || !b_ || strcmp(a_, b_)) FAILF("%s = \"%s\", expected \"%s\"", #a, a_ ? a_ : "(null)", b_); \
    } while (0)
#define CHECK_ERR(expr, status, substring)                                                                          \
    do {                                                                                                            \
        void *r_ = (void *)(expr);                                                                                  \
        (void)r_;                                                                                                   \
        if (tt_last_status() != (status) || !strstr(tt_last_error(), (substring)))                                  \
            FAILF("%s: status %d \"%s\", expected status %d with \"%s\"", #expr, tt_last_status(), tt_last_error(), \
                  (status), (substring));                                                                           \
    } while (0)

/* Compares every element of t (read as double) with want[] to a relative tolerance. */
static inline int check_values(const tt_tensor *t, const double *want, int64_t n, double tol, const char *what,
                               const char *file, int line)
{
    if (!t) {
        printf("#   %s:%d: %s is NULL: %s\n", file, line, what, tt_last_error());
        return 0;
    }
    if (tt_numel(t) != n) {
        printf("#   %s:%d: %s has %lld elements, expected %lld\n", file, line, what, (long long)tt_numel(t),
               (long long)n);
        return 0;
    }
    double got[n > 0 ? n : 1];
    if (tt_to_host(t, TT_F64, got) != TT_OK) {
        printf("#   %s:%d: %s: %s\n", file, line, what, tt_last_error());
        return 0;
    }
    for (int64_t i = 0; i < n; i++) {
        int same_nan = isnan(got[i]) && isnan(want[i]);
        if (!same_nan && !(fabs(got[i] - want[i]) <= tol * (1 + fabs(want[i])))) {
            printf("#   %s:%d: %s[%lld] = %.17g, expected %.17g\n", file, line, what, (long long)i, got[i], want[i]);
            return 0;
        }
    }
    return 1;
}
#define CHECK_VALUES(t, want, n, tol)                                                              \
    do {                                                                                           \
        if (!check_values((t), (want), (n), (tol), #t, __FILE__, __LINE__)) check_failed_here = 1; \
    } while (0)
#endif
