/* Fits on a stream of slices (tg_fit_stream): the same bits for any slice
 * size, bounded memory on 10^7 points that are never held, errors found as
 * the data is read, convergence on data a model fits exactly, NIST's Filip
 * to the digits of a QR, and the pieces: tg_model, the loss vocabulary,
 * compiled expression programs.
 *
 * The Filip reference (tests/fixtures/filip.h, made by
 * tests/fixtures/make_filip_fixture.py) is the exact least-squares solution
 * of the data as doubles, in rational arithmetic; NIST's certified values
 * agree with it to 1e-14. */
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "tg/fit.h"
#include "fit/fit_internal.h"
#include "../fixtures/filip.h"

#define LEN(a) ((int64_t)(sizeof(a) / sizeof((a)[0])))

/* ---- generated data ------------------------------------------------------------ */

typedef struct {
    int64_t n;
    double lo, hi, a, b, sigma, xoff;
    uint64_t seed;
    int model;             /* 0: a x + b; 1: a exp(b x); 2: a + b x^2 (zero residual when sigma = 0) */
    bool weighted, spread; /* spread: x = lo + (hi - lo) i / n instead of uniform */
    int64_t bad_at;        /* a NaN in y (or the value below) at this point; -1: none */
    double bad_value;
    int bad_col;
    int64_t fail_at; /* the read covering this point fails; -1: never */
    int64_t reads, points;
    bool sigma_col; /* weighted: the column holds sigma = 1/sqrt(w) instead of w */
} gen;

static uint64_t mix(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static double unif(uint64_t seed, uint64_t i) { return (double)(mix(seed * 0x100000001b3ull + i) >> 11) * 0x1p-53; }

static void gen_point(const gen *g, int64_t i, double *x, double *y, double *w)
{
    double u = g->spread ? (double)i / (double)g->n : unif(g->seed, (uint64_t)i);
    double xv = g->lo + (g->hi - g->lo) * u, noise = g->sigma * (unif(g->seed + 1, (uint64_t)i) - 0.5) * 3.4641;
    double f = g->model == 0 ? g->a * xv + g->b : g->model == 1 ? g->a * exp(g->b * xv) : g->a + g->b * xv * xv;
    *x = xv + g->xoff;
    *y = f + noise;
    *w = 0.5 + unif(g->seed + 2, (uint64_t)i);
}

static tt_status gen_read(void *ctx, int64_t start, int64_t count, double *const *cols)
{
    gen *g = ctx;
    g->reads++, g->points += count;
    if (g->fail_at >= start && g->fail_at < start + count)
        return tt_set_error(TT_EIO, "gen.h5: cannot read points %lld to %lld", (long long)start,
                            (long long)(start + count - 1));
    for (int64_t k = 0; k < count; k++) {
        double w;
        gen_point(g, start + k, &cols[0][k], &cols[1][k], &w);
        if (g->weighted) cols[2][k] = g->sigma_col ? 1 / sqrt(w) : w;
        if (start + k == g->bad_at) cols[g->bad_col][k] = g->bad_value;
    }
    return TT_OK;
}

static gen line_data(int64_t n)
{
    gen g = {n, 0, 20, 2, 3, 3, 0, 7, 0, false, false, -1, NAN, 1, -1, 0, 0, false};
    return g;
}

static tg_fit_data data_of(gen *g)
{
    tg_fit_data d = {g->n, 1, g->weighted, TT_F64, gen_read, g, NULL, g->sigma_col};
    return d;
}

static tg_fit_result *fit_stream(gen *g, const tg_fit_spec *sp)
{
    tg_fit_data d = data_of(g);
    tg_fit_result *r = NULL;
    if (tg_fit_stream(&d, sp, &r)) FAILF("tg_fit_stream: %s", tt_last_error());
    return r;
}

static bool same_bits(const tg_fit_result *a, const tg_fit_result *b)
{
    int p = a->nparams;
    return p == b->nparams && !memcmp(a->values, b->values, sizeof(double) * (size_t)p) &&
           !memcmp(a->stderrs, b->stderrs, sizeof(double) * (size_t)p) &&
           !memcmp(a->cov, b->cov, sizeof(double) * (size_t)(p * p)) && !memcmp(&a->loss, &b->loss, sizeof a->loss) &&
           !memcmp(&a->sse, &b->sse, sizeof a->sse) && a->steps == b->steps && a->stop == b->stop &&
           a->nhistory == b->nhistory &&
           (!a->nhistory || !memcmp(a->history, b->history, sizeof(double) * (size_t)a->nhistory));
}

/* ---- the same bits for any slice -------------------------------------------------- */

typedef struct {
    const char *what, *model, *loss;
    tg_fit_method method;
    tg_optimizer opt;
    tt_dtype dtype;
    bool weighted;
    double lr;
} case_t;

static void slices_case(const case_t *c, gen g)
{
    g.weighted = c->weighted;
    const int64_t all[] = {0, 1, 7, 4096, TG_FIT_BLOCK, 10000, g.n}, whole[] = {0, g.n, 2 * g.n};
    bool sgd = c->opt == TG_OPT_SGD; /* its batches depend on the slices: data in one slice */
    const int64_t *slices = sgd ? whole : all;
    int nslices = sgd ? LEN(whole) : LEN(all);
    tg_fit_result *first = NULL;
    for (int k = 0; k < nslices; k++) {
        if (RUNNING_ON_VALGRIND && slices[k] == 1) continue;
        tg_fit_spec sp;
        tg_fit_spec_defaults(&sp);
        sp.model = c->model, sp.loss = c->loss, sp.method = c->method, sp.optimizer = c->opt;
        sp.dtype = c->dtype, sp.slice = slices[k], sp.batch = sgd ? 16 : 0;
        if (c->opt != TG_OPT_AUTO) sp.steps = RUNNING_ON_VALGRIND ? 5 : 40, sp.lr = c->lr;
        const char *names[] = {"a", "b"};
        double init[] = {1, 0.1};
        if (c->model && !strcmp(c->model, "a*exp(b*x)")) sp.ninit = 2, sp.init_names = names, sp.init_values = init;
        tg_fit_result *r = fit_stream(&g, &sp);
        if (!r) break;
        if (!first) {
            first = r;
            continue;
        }
        if (!same_bits(first, r))
            FAILF(
                "%s: slice %lld gives %.17g, %.17g (loss %.17g, %lld steps), slice %lld %.17g, %.17g (loss %.17g, %lld "
                "steps)",
                c->what, (long long)slices[k], r->values[0], r->values[1], r->loss, (long long)r->steps,
                (long long)slices[0], first->values[0], first->values[1], first->loss, (long long)first->steps);
        tg_fit_result_free(r);
    }
    tg_fit_result_free(first);
}

TEST(same_bits_for_any_slice)
{
    gen g = line_data(3 * TG_FIT_BLOCK + 123);
    const case_t cases[] = {
        {"exact line", NULL, NULL, TG_METHOD_EXACT, TG_OPT_AUTO, TT_F64, false, 0},
        {"exact weighted line", NULL, "sse", TG_METHOD_EXACT, TG_OPT_AUTO, TT_F64, true, 0},
        {"exact orthogonal", NULL, "orthogonal", TG_METHOD_EXACT, TG_OPT_AUTO, TT_F64, false, 0},
        {"exact poly:3", "poly:3", NULL, TG_METHOD_EXACT, TG_OPT_AUTO, TT_F64, false, 0},
        {"default line", NULL, NULL, TG_METHOD_DESCENT, TG_OPT_AUTO, TT_F64, false, 0},
        {"default weighted poly:2", "poly:2", "half-mse", TG_METHOD_DESCENT, TG_OPT_AUTO, TT_F64, true, 0},
        {"default huber", NULL, "huber:2", TG_METHOD_DESCENT, TG_OPT_AUTO, TT_F64, false, 0},
        {"default orthogonal", NULL, "orthogonal", TG_METHOD_DESCENT, TG_OPT_AUTO, TT_F64, false, 0},
        {"default expression loss", NULL, "mean((pred-y)^2)", TG_METHOD_DESCENT, TG_OPT_AUTO, TT_F64, false, 0},
        {"gd f64", NULL, NULL, TG_METHOD_DESCENT, TG_OPT_GD, TT_F64, false, 1e-3},
        {"gd f32", NULL, NULL, TG_METHOD_DESCENT, TG_OPT_GD, TT_F32, true, 1e-3},
        {"momentum", NULL, "half-mse", TG_METHOD_DESCENT, TG_OPT_MOMENTUM, TT_F64, false, 1e-3},
        {"adam", NULL, NULL, TG_METHOD_DESCENT, TG_OPT_ADAM, TT_F64, false, 0.05},
        {"gd l1 (libgrad per block)", NULL, "l1", TG_METHOD_DESCENT, TG_OPT_GD, TT_F64, false, 1e-2},
        {"gd poly:2 f32 (libgrad per block)", "poly:2", NULL, TG_METHOD_DESCENT, TG_OPT_GD, TT_F32, false, 1e-6},
        {"sgd, data in one slice", NULL, NULL, TG_METHOD_DESCENT, TG_OPT_SGD, TT_F64, false, 1e-3},
    };
    for (int i = 0; i < LEN(cases); i++) slices_case(&cases[i], g);
    /* an expression model, by libgrad block by block */
    gen e = {2 * TG_FIT_BLOCK + 5, 0, 2, 1.5, 0.8, 0.05, 0, 3, 1, false, false, -1, NAN, 1, -1, 0, 0, false};
    const case_t expr[] = {
        {"default expression model", "a*exp(b*x)", NULL, TG_METHOD_DESCENT, TG_OPT_AUTO, TT_F64, false, 0},
        {"default weighted expression model (Levenberg-Marquardt)", "a*exp(b*x)", "sse", TG_METHOD_DESCENT, TG_OPT_AUTO,
         TT_F64, true, 0},
        {"gd expression model", "a*exp(b*x)", NULL, TG_METHOD_DESCENT, TG_OPT_GD, TT_F64, false, 1e-4},
    };
    for (int i = 0; i < LEN(expr); i++) slices_case(&expr[i], e);
}

TEST(streamed_equals_in_memory)
{
    /* tg_fit on tensors and tg_fit_stream on the same points: the same fit */
    gen g = line_data(20000);
    double *x = malloc(sizeof *x * (size_t)g.n), *y = malloc(sizeof *y * (size_t)g.n), w;
    for (int64_t i = 0; i < g.n; i++) gen_point(&g, i, &x[i], &y[i], &w);
    tt_tensor *xt = tt_from_data(1, &g.n, TT_F64, x, TT_CPU), *yt = tt_from_data(1, &g.n, TT_F64, y, TT_CPU);
    tg_fit_spec sp;
    tg_fit_spec_defaults(&sp);
    sp.slice = 7;
    tg_fit_result *a = NULL, *b = fit_stream(&g, &sp);
    CHECK(tg_fit(xt, yt, NULL, &sp, &a) == TT_OK);
    if (a && b) CHECK(same_bits(a, b));
    /* and the exact line agrees with the default to 1e-9 */
    sp.method = TG_METHOD_EXACT;
    tg_fit_result *c = fit_stream(&g, &sp);
    if (a && c) {
        CHECK_NEAR(c->values[0], a->values[0], 1e-9);
        CHECK_NEAR(c->values[1], a->values[1], 1e-9);
        CHECK_NEAR(c->stderrs[0], a->stderrs[0], 1e-7);
        CHECK_NEAR(c->loss, a->loss, 1e-9);
        CHECK(fabs(c->values[0] - 2) < 0.01 && fabs(c->values[1] - 3) < 0.1);
    }
    tg_fit_result_free(a), tg_fit_result_free(b), tg_fit_result_free(c);
    tt_release(xt), tt_release(yt);
    free(x), free(y);
}

TEST(sgd_batches_within_slices)
{
    gen g = line_data(5000);
    tg_fit_spec sp;
    tg_fit_spec_defaults(&sp);
    sp.optimizer = TG_OPT_SGD, sp.batch = 8, sp.lr = 1e-3, sp.steps = 3000, sp.seed = 4, sp.dtype = TT_F64;
    /* data that fits in one slice: the in-memory batches, whatever the slice */
    tg_fit_result *a = fit_stream(&g, &sp);
    sp.slice = 5000;
    tg_fit_result *b = fit_stream(&g, &sp);
    sp.slice = TG_FIT_BLOCK;
    tg_fit_result *c = fit_stream(&g, &sp);
    if (a && b && c) CHECK(same_bits(a, b) && same_bits(a, c));
    /* smaller slices: batches drawn slice by slice, reproducibly, near the answer */
    sp.slice = 700, sp.steps = 20000;
    tg_fit_result *d = fit_stream(&g, &sp), *e = fit_stream(&g, &sp);
    if (d && e) {
        CHECK(same_bits(d, e));
        CHECK(fabs(d->values[0] - 2) < 0.2 && fabs(d->values[1] - 3) < 1);
    }
    /* epochs count the batches of each slice: 8 slices of 700 (the last 100) */
    sp.steps = 0, sp.epochs = 2;
    tg_fit_result *f = fit_stream(&g, &sp);
    if (f) CHECK(f->steps == 2 * (7 * 88 + 13));
    tg_fit_result_free(a), tg_fit_result_free(b), tg_fit_result_free(c);
    tg_fit_result_free(d), tg_fit_result_free(e), tg_fit_result_free(f);
}

/* ---- errors found as the data is read ----------------------------------------------- */

static void stream_err(gen *g, const tg_fit_spec *sp, tt_status want, const char *msg, int line)
{
    tg_fit_data d = data_of(g);
    const char *names[] = {"time", "signal", "w"};
    if (!strncmp(msg, "time", 4) || !strncmp(msg, "signal", 6)) d.names = names;
    tg_fit_result *r = NULL;
    tt_status st = tg_fit_stream(&d, sp, &r);
    if (st != want || !strstr(tt_last_error(), msg))
        FAILF("line %d: status %d \"%s\", expected %d with \"%s\"", line, st, tt_last_error(), want, msg);
    if (r) FAILF("line %d: a result came back with the error", line);
    tg_fit_result_free(r);
}
#define STREAM_ERR(g, sp, st, msg) stream_err(g, sp, st, msg, __LINE__)

TEST(bad_data_deep_in_the_stream)
{
    tg_fit_spec sp;
    tg_fit_spec_defaults(&sp);
    gen g = line_data(100000);
    g.bad_at = 54321;
    STREAM_ERR(&g, &sp, TT_EINVAL, "y[54321] is NaN (row 54322)");
    CHECK(g.points <= 65536); /* found in the first pass, at its slice */
    sp.slice = 7;
    g.bad_col = 0, g.bad_value = -INFINITY, g.points = 0;
    STREAM_ERR(&g, &sp, TT_EINVAL, "time[54321] is -Inf (row 54322)"); /* the columns' own names */
    g.bad_col = 1;
    STREAM_ERR(&g, &sp, TT_EINVAL, "signal[54321] is -Inf (row 54322)");
    g.weighted = true, g.bad_col = 2, g.bad_value = -1;
    STREAM_ERR(&g, &sp, TT_EINVAL, "weights[54321] is negative (-1, row 54322)");
    /* every method checks first: the exact method too */
    sp.method = TG_METHOD_EXACT, g.bad_value = NAN;
    STREAM_ERR(&g, &sp, TT_EINVAL, "weights[54321] is NaN (row 54322)");
    /* a failing read comes back as it is */
    gen f = line_data(100000);
    f.fail_at = 70000;
    STREAM_ERR(&f, &sp, TT_EIO, "gen.h5: cannot read points");
    /* known before reading: too few points, several x columns */
    gen s = line_data(3);
    sp.model = "poly:3";
    STREAM_ERR(&s, &sp, TT_EINVAL, "3 points cannot determine the 4 parameters");
    CHECK(s.reads == 0);
    /* expression models and losses longer than a block must stream */
    tg_fit_spec_defaults(&sp);
    gen big = line_data(TG_FIT_BLOCK + 1);
    sp.loss = "max(abs(pred-y))";
    STREAM_ERR(&big, &sp, TT_EUSAGE, "the loss 'max(abs(pred-y))' is not a sum or mean over the points");
    sp.loss = "mean((pred-y)^2) + 0.1*w^2"; /* a term free of the data would count once per block */
    STREAM_ERR(&big, &sp, TT_EUSAGE, "is not a sum or mean over the points");
    sp.loss = NULL;
    sp.model = "a*x + mean(x)";
    const char *na[] = {"a"};
    double v1[] = {1};
    sp.ninit = 1, sp.init_names = na, sp.init_values = v1;
    STREAM_ERR(&big, &sp, TT_EUSAGE, "the model 'a*x + mean(x)' is not elementwise in x");
    CHECK(big.reads == 0);
    gen small = line_data(100); /* one block: evaluated whole, as before */
    tg_fit_result *r = fit_stream(&small, &sp);
    CHECK(r != NULL);
    tg_fit_result_free(r);
}

TEST(additive_expression_losses_stream)
{
    gen g = line_data(3 * TG_FIT_BLOCK);
    tg_fit_spec sp;
    tg_fit_spec_defaults(&sp);
    sp.method = TG_METHOD_EXACT;
    tg_fit_result *ref = fit_stream(&g, &sp);
    sp.method = TG_METHOD_DESCENT;
    const char *losses[] = {"mean((pred-y)^2)", "sum((pred-y)^2)/2", "r = pred - y; 3*mean(r*r) - sum(r^2)/100000"};
    for (int i = 0; i < LEN(losses) && ref; i++) {
        sp.loss = losses[i];
        tg_fit_result *r = fit_stream(&g, &sp);
        if (!r) break;
        CHECK_NEAR(r->values[0], ref->values[0], 1e-9);
        CHECK_NEAR(r->values[1], ref->values[1], 1e-9);
        if (i == 0) CHECK_NEAR(r->loss, ref->loss, 1e-12);
        tg_fit_result_free(r);
    }
    tg_fit_result_free(ref);
}

/* ---- convergence on data a model fits exactly ---------------------------------------- */

TEST(zero_residual_converges_in_few_passes)
{
    const char *models[] = {"line", "poly:2", "a + b*x^2"};
    for (int m = 0; m < 3; m++) {
        gen g = line_data(200000);
        g.sigma = 0, g.model = m == 0 ? 0 : 2, g.spread = true, g.lo = -5, g.hi = 15;
        tg_fit_spec sp;
        tg_fit_spec_defaults(&sp);
        sp.model = models[m];
        const char *names[] = {"a", "b"};
        double init[] = {1, 1};
        if (m == 2) sp.ninit = 2, sp.init_names = names, sp.init_values = init;
        tg_fit_result *r = fit_stream(&g, &sp);
        if (!r) return;
        int64_t passes = g.points / g.n;
        if (r->stop != TG_STOP_TOL || r->steps > 3 || passes > 4)
            FAILF("%s: stop=%s after %lld steps, %lld passes", models[m], tg_stop_reason_name(r->stop),
                  (long long)r->steps, (long long)passes);
        double want[3] = {2, 3, 0};
        if (m == 1) want[0] = 2, want[1] = 0, want[2] = 3;
        if (m == 2) want[0] = 2, want[1] = 3;
        for (int i = 0; i < r->nparams; i++) CHECK_NEAR(r->values[i], want[i], 1e-10);
        CHECK(r->sse < 1e-16 * (double)g.n);
        tg_fit_result_free(r);
    }
}

/* ---- accuracy ----------------------------------------------------------------------- */

typedef struct {
    const double *x, *y;
} arrays;

static tt_status arrays_read(void *ctx, int64_t start, int64_t count, double *const *cols)
{
    const arrays *a = ctx;
    memcpy(cols[0], a->x + start, sizeof(double) * (size_t)count);
    memcpy(cols[1], a->y + start, sizeof(double) * (size_t)count);
    return TT_OK;
}

TEST(filip_by_streamed_qr)
{
    arrays a = {filip_x, filip_y};
    tg_fit_data d = {82, 1, false, TT_F64, arrays_read, &a, NULL, false};
    const int64_t slices[] = {0, 1, 5};
    double worst = 0;
    for (int k = 0; k < LEN(slices); k++) {
        tg_fit_spec sp;
        tg_fit_spec_defaults(&sp);
        sp.model = "poly:10", sp.method = TG_METHOD_EXACT, sp.slice = slices[k];
        tg_fit_result *r = NULL;
        if (tg_fit_stream(&d, &sp, &r)) {
            FAILF("Filip: %s", tt_last_error());
            return;
        }
        for (int i = 0; i < 11; i++) {
            double rel = fabs(r->values[i] / filip_exact[i] - 1);
            worst = fmax(worst, rel);
            /* the standard errors: NIST's to 6 digits */
            if (fabs(r->stderrs[i] / filip_certified_sd[i] - 1) > 1e-6)
                FAILF("Filip sd[%d] = %.15g, certified %.15g", i, r->stderrs[i], filip_certified_sd[i]);
        }
        tg_fit_result_free(r);
    }
    printf("# Filip by streamed QR: %.1f digits (worst relative error %.2g)\n", -log10(worst), worst);
    if (!(worst < 1e-11)) FAILF("Filip: worst relative error %.3g, expected below 1e-11", worst);
}

/* The exact line keeps its digits with x offset by 1e8, whatever the slices. */
TEST(offset_line_streamed)
{
    gen g = line_data(50000);
    tg_fit_spec sp;
    tg_fit_spec_defaults(&sp);
    sp.method = TG_METHOD_EXACT;
    tg_fit_result *ref = fit_stream(&g, &sp);
    g.xoff = 1e8;
    sp.slice = 7;
    tg_fit_result *r = fit_stream(&g, &sp);
    sp.method = TG_METHOD_DESCENT;
    tg_fit_result *d = fit_stream(&g, &sp);
    if (ref && r && d) {
        CHECK_NEAR(r->values[0], ref->values[0], 1e-7);
        CHECK_NEAR(r->values[1] + 1e8 * r->values[0], ref->values[1], 1e-6 * 1e8 * 2);
        CHECK_NEAR(d->values[0], ref->values[0], 1e-7);
        CHECK_NEAR(r->stderrs[0], ref->stderrs[0], 1e-6);
        CHECK_NEAR(r->sse, ref->sse, 1e-6 * ref->sse);
    }
    tg_fit_result_free(ref), tg_fit_result_free(r), tg_fit_result_free(d);
}

/* ---- 10^7 points, never held ----------------------------------------------------------- */

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}

static long peak_rss_kb(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_maxrss;
}

/* Runs first: the peak RSS is the process's. */
TEST(ten_million_points_bounded_memory)
{
    int64_t n = RUNNING_ON_VALGRIND ? 100000 : 10000000;
    gen g = line_data(n);
    long before = peak_rss_kb();
    tg_fit_spec sp;
    tg_fit_spec_defaults(&sp);
    sp.method = TG_METHOD_EXACT;
    double t0 = now_ms();
    tg_fit_result *r = fit_stream(&g, &sp);
    double t_exact = now_ms() - t0;
    if (!r) return;
    CHECK(fabs(r->values[0] - 2) < 5 * r->stderrs[0] && fabs(r->values[1] - 3) < 5 * r->stderrs[1] && r->n == n);
    CHECK(g.points == n); /* one pass */
    double w_exact = r->values[0];
    tg_fit_result_free(r);
    /* the default method: a few passes */
    sp.method = TG_METHOD_DESCENT;
    g.points = 0;
    t0 = now_ms();
    r = fit_stream(&g, &sp);
    double t_default = now_ms() - t0;
    if (!r) return;
    CHECK_NEAR(r->values[0], w_exact, 1e-9);
    int64_t passes = g.points / n;
    tg_fit_result_free(r);
    /* gd, float32: one pass per step */
    sp.optimizer = TG_OPT_GD, sp.lr = 1e-3, sp.steps = 3, sp.dtype = TT_F32;
    g.points = 0;
    t0 = now_ms();
    r = fit_stream(&g, &sp);
    double t_gd = now_ms() - t0;
    if (!r) return;
    CHECK(r->steps == 3 && r->stop == TG_STOP_STEPS);
    int64_t gd_passes = g.points / n;
    tg_fit_result_free(r);
    /* the generator alone, for comparison: one pass of reads */
    double *cols = malloc(sizeof(double) * 2 * TG_FIT_SLICE), *pc[2] = {cols, cols + TG_FIT_SLICE};
    t0 = now_ms();
    for (int64_t at = 0; at < n; at += TG_FIT_SLICE)
        gen_read(&g, at, n - at < TG_FIT_SLICE ? n - at : TG_FIT_SLICE, pc);
    double t_read = now_ms() - t0;
    free(cols);
    long grown = peak_rss_kb() - before;
    printf(
        "# %lld points: generating them once %.0f ms; exact %.0f ms (1 pass); default %.0f ms (%lld passes); gd "
        "f32 %.0f ms (%lld passes: the first pass, 3 steps, the report); peak RSS grew %ld kB\n",
        (long long)n, t_read, t_exact, t_default, (long long)passes, t_gd, (long long)gd_passes, grown);
    CHECK(passes <= 4 && gd_passes == 5);
    /* held as doubles the points alone would take 160 MB */
    if (!RUNNING_ON_VALGRIND && grown > 32 * 1024) FAILF("peak RSS grew by %ld kB", grown);
}

/* ---- ranges of blocks, combined: the same bits as one pass ------------------------ */

/* A block's count, mean and sum of squared deviations of x; merged by Chan's
 * formula, which is not associative: the tree's shape shows in the bits. */
static tt_status welford_blocks(void *ctx, int64_t start, int64_t count, double *const *cols, double *partials)
{
    (void)ctx, (void)start;
    for (int64_t b = 0; b * BLOCK < count; b++) {
        int64_t off = b * BLOCK, m = count - off < BLOCK ? count - off : BLOCK;
        double mean = 0, m2 = 0;
        for (int64_t i = 0; i < m; i++) mean += cols[0][off + i];
        mean /= (double)m;
        for (int64_t i = 0; i < m; i++) m2 += (cols[0][off + i] - mean) * (cols[0][off + i] - mean);
        partials[3 * b] = (double)m, partials[3 * b + 1] = mean, partials[3 * b + 2] = m2;
    }
    return TT_OK;
}

static void welford_merge(void *ctx, double *a, const double *b)
{
    (void)ctx;
    double n = a[0] + b[0], d = b[1] - a[1];
    a[2] += b[2] + d * d * a[0] * b[0] / n;
    a[1] += d * b[0] / n;
    a[0] = n;
}

TEST(ranges_of_blocks_combine_to_one_pass)
{
    gen g = line_data(37 * TG_FIT_BLOCK + 11);
    g.xoff = 1e6;
    tg_fit_data d = data_of(&g);
    tgf_stream s;
    if (tgf_stream_open(&s, &d, 4096)) {
        FAILF("%s", tt_last_error());
        return;
    }
    double whole[3];
    CHECK(tgf_pass(&s, 3, welford_blocks, welford_merge, NULL, whole) == TT_OK);
    /* "ranks" owning blocks [0,3), [3,11), [11,12), [12,30), [30,38) */
    const int64_t cuts[] = {0, 3, 11, 12, 30, 38};
    tgf_tree all, part;
    tgf_tree_init(&all, 3, welford_merge, NULL);
    for (int k = 0; k + 1 < LEN(cuts); k++) {
        tgf_tree_init(&part, 3, welford_merge, NULL);
        int64_t end = cuts[k + 1] * BLOCK < g.n ? cuts[k + 1] * BLOCK : g.n;
        CHECK(tgf_pass_range(&s, cuts[k] * BLOCK, end, &part, welford_blocks, NULL) == TT_OK);
        tgf_tree_push_tree(&all, &part);
        tgf_tree_free(&part);
    }
    const double *r = tgf_tree_result(&all);
    CHECK(r && !memcmp(r, whole, sizeof whole));
    if (r) CHECK(r[0] == (double)g.n);
    tgf_tree_free(&all);
    tgf_stream_close(&s);
}

/* The ranks' ranges (MPI): whole blocks from a multiple of BLOCK, in rank
 * order, covering every point once, block counts within one of each other. */
TEST(rank_ranges_cover_the_points_in_whole_blocks)
{
    const int64_t ns[] = {1, 5, BLOCK, BLOCK + 1, 100000, 37 * BLOCK + 11, 3 * BLOCK};
    for (int i = 0; i < LEN(ns); i++)
        for (int size = 1; size <= 7; size++) {
            int64_t at = 0, least = INT64_MAX, most = 0;
            for (int r = 0; r < size; r++) {
                int64_t a, b;
                tgf_dist_range(ns[i], r, size, &a, &b);
                if (a != at || a % BLOCK || b < a)
                    FAILF("n %lld, rank %d of %d: [%lld, %lld) after %lld", (long long)ns[i], r, size, (long long)a,
                          (long long)b, (long long)at);
                int64_t blocks = (b - a + BLOCK - 1) / BLOCK;
                least = blocks < least ? blocks : least, most = blocks > most ? blocks : most;
                at = b;
            }
            CHECK(at == ns[i] && most - least <= 1);
        }
}

/* ---- the pieces ---------------------------------------------------------------------- */

TEST(model_object)
{
    tg_model *m = NULL;
    char buf[128];
    CHECK(tg_model_new(NULL, &m) == TT_OK);
    if (m) {
        CHECK(tg_model_get_kind(m) == TG_MODEL_LINE && tg_model_nparams(m) == 2);
        CHECK_STR(tg_model_param(m, 0), "w");
        CHECK_STR(tg_model_formula(m, buf, sizeof buf), "y = w*x + b");
        double th[2] = {2, 3}, x[3] = {0, 1, 2}, p[3];
        CHECK(tg_model_predict(m, th, x, 3, p) == TT_OK && p[2] == 7);
    }
    tg_model_free(m);
    CHECK(tg_model_new("poly:3", &m) == TT_OK);
    if (m) {
        CHECK(tg_model_degree(m) == 3 && tg_model_param_index(m, "c2") == 2 && tg_model_param_index(m, "w") < 0);
        CHECK_STR(tg_model_formula(m, buf, sizeof buf), "y = c0 + c1*x + c2*x^2 + c3*x^3");
        double th[4] = {1, 0, 0, 1}, x[2] = {2, -1}, p[2];
        CHECK(tg_model_predict(m, th, x, 2, p) == TT_OK && p[0] == 9 && p[1] == 0);
    }
    tg_model_free(m);
    /* an expression: parameters are the parser's free names, assigned names are not */
    CHECK(tg_model_new("k2 = 2*k; a*exp(k2*x) + c", &m) == TT_OK);
    if (m) {
        CHECK(tg_model_get_kind(m) == TG_MODEL_EXPR && tg_model_nparams(m) == 3);
        CHECK_STR(tg_model_param(m, 0), "k");
        CHECK_STR(tg_model_param(m, 1), "a");
        CHECK_STR(tg_model_param(m, 2), "c");
        double th[3] = {0.5, 2, 1}, x[2] = {0, 1}, p[2];
        CHECK(tg_model_predict(m, th, x, 2, p) == TT_OK);
        CHECK_NEAR(p[0], 3, 1e-15);
        CHECK_NEAR(p[1], 2 * exp(1) + 1, 1e-15);
    }
    tg_model_free(m);
    CHECK(tg_model_new("quadratic", &m) == TT_EUSAGE && !m);
    CHECK(strstr(tt_last_error(), "unknown model 'quadratic'") != NULL);
    CHECK(tg_model_new("a*exp(", &m) == TT_ESYNTAX && !m);
    CHECK(strstr(tt_last_error(), "model: syntax error at column") != NULL);
    CHECK(tg_model_new("a*y", &m) == TT_EUSAGE);
    CHECK_STR(tg_model_names()[0], "line");
}

/* The statistics come from per-pass sums: a sigma column is the weights
 * 1/sigma^2, chi2 is the weighted sse, and the covariance with
 * absolute_sigma is the scaled one divided by chi2_red, at any n and slice. */
TEST(sigma_column_and_statistics_streamed)
{
    gen g = line_data(3 * TG_FIT_BLOCK + 77);
    g.weighted = true;
    const tg_fit_method methods[] = {TG_METHOD_EXACT, TG_METHOD_DESCENT};
    for (int k = 0; k < 2; k++) {
        tg_fit_spec sp;
        tg_fit_spec_defaults(&sp);
        sp.method = methods[k], sp.slice = 5000;
        g.sigma_col = false;
        tg_fit_result *w = fit_stream(&g, &sp);
        g.sigma_col = true;
        tg_fit_result *s = fit_stream(&g, &sp);
        sp.absolute_sigma = true;
        tg_fit_result *a = fit_stream(&g, &sp);
        if (!w || !s || !a) return;
        CHECK_REL(s->values[0], w->values[0], 1e-12);
        CHECK_REL(s->stderrs[1], w->stderrs[1], 1e-10);
        CHECK_REL(s->chi2, w->sse, 1e-12);
        CHECK(s->dof == g.n - 2);
        CHECK_REL(s->chi2_red, s->chi2 / (double)s->dof, 1e-14);
        /* uniform noise of sd 3 (sigma): chi2_red near 9 times the mean weight, p tiny */
        CHECK(s->chi2_red > 5 && s->p_value < 1e-100 && s->r2 > 0.5 && s->r2 < 1);
        for (int i = 0; i < 2; i++) CHECK_REL(a->stderrs[i] * sqrt(s->chi2_red), s->stderrs[i], 1e-9);
        CHECK(a->absolute_sigma && !s->absolute_sigma);
        CHECK(w->converged && s->converged);
        tg_fit_result_free(w), tg_fit_result_free(s), tg_fit_result_free(a);
    }
    /* a sigma of zero is an error naming its row */
    g.sigma_col = true, g.bad_at = 20000, g.bad_col = 2, g.bad_value = 0;
    tg_fit_data d = data_of(&g);
    tg_fit_result *r = NULL;
    CHECK(tg_fit_stream(&d, NULL, &r) == TT_EINVAL && !r);
    CHECK_STR(tt_last_error(), "sigma[20000] is 0 (row 20001): an uncertainty must be positive");
}

TEST(loss_vocabulary)
{
    tg_loss_kind k;
    double delta;
    const char *const *names = tg_loss_names();
    int n = 0;
    while (names[n]) {
        CHECK(tg_loss_parse(names[n], &k, &delta) == TT_OK && k != TG_LOSS_EXPR);
        n++;
    }
    CHECK(n == 6);
    CHECK(tg_loss_parse("huber:0.5", &k, &delta) == TT_OK && k == TG_LOSS_HUBER && delta == 0.5);
    CHECK(tg_loss_parse("mean(abs(pred-y))", &k, &delta) == TT_OK && k == TG_LOSS_EXPR);
    CHECK(tg_loss_parse("msee", &k, &delta) == TT_EUSAGE);
    CHECK(tg_loss_parse("huber:0", &k, &delta) == TT_EUSAGE);
    tg_model *line = NULL, *poly = NULL;
    tg_model_new("line", &line), tg_model_new("poly:2", &poly);
    if (line && poly) {
        CHECK(tg_loss_check_model(TG_LOSS_ORTHOGONAL, line) == TT_OK);
        CHECK(tg_loss_check_model(TG_LOSS_ORTHOGONAL, poly) == TT_EUSAGE);
        CHECK(tg_fit_exact_covers(poly, TG_LOSS_SSE) && !tg_fit_exact_covers(poly, TG_LOSS_ORTHOGONAL));
        CHECK(tg_fit_exact_covers(line, TG_LOSS_ORTHOGONAL) && !tg_fit_exact_covers(line, TG_LOSS_L1));
    }
    tg_model_free(line), tg_model_free(poly);
}

TEST(compiled_programs)
{
    tg_program *p = tg_program_parse("r = pred - y; s = sum(r^2, dim=0); mean(r*r) + k*0");
    CHECK(p != NULL);
    if (p) {
        CHECK(tg_program_nnames(p) == 3);
        CHECK_STR(tg_program_name(p, 0), "pred");
        CHECK_STR(tg_program_name(p, 1), "y");
        CHECK_STR(tg_program_name(p, 2), "k");
    }
    tg_program_free(p);
    static const char *const data[] = {"pred", "y", "x"};
    const struct {
        const char *src;
        bool elementwise, additive;
    } cases[] = {
        {"mean((pred-y)^2)", false, true},
        {"sum(abs(pred-y))/2", false, true},
        {"-0.5*sum(log(sigmoid(pred*y)))", false, true},
        {"r = pred - y; mean(r^2) + 2*sum(where(r > 0, r, -r))", false, true},
        {"sqrt(mean((pred-y)^2))", false, false},
        {"mean((pred - mean(y))^2)", false, false},
        {"mean((pred-y)^2) + w^2", false, false},
        {"sum(pred)/sum(y)", false, false},
        {"max(abs(pred-y))", false, false},
        {"sum(max(pred-y, 0))", false, false}, /* max(x, 0): a max along dim 0 */
        {"sum(max(pred-y, 0.0))", false, true},
        {"a*exp(k*x) + clamp(x, min=0)", true, false},
        {"a*x + mean(x)", false, false},
        {"x @ w", false, false},
        {"c", true, false},
    };
    for (int i = 0; i < LEN(cases); i++) {
        p = tg_program_parse(cases[i].src);
        if (!p) {
            FAILF("%s: %s", cases[i].src, tt_last_error());
            continue;
        }
        if (tg_program_is_elementwise(p, 3, data) != cases[i].elementwise)
            FAILF("%s: elementwise should be %d", cases[i].src, cases[i].elementwise);
        if (tg_program_is_additive(p, 3, data) != cases[i].additive)
            FAILF("%s: additive should be %d", cases[i].src, cases[i].additive);
        tg_program_free(p);
    }
    /* evaluated many times, and mean() as a block's share */
    p = tg_program_parse("mean(x*k)");
    tg_env *env = tg_env_new();
    if (p && env) {
        tg_env_set_dtype(env, TT_F64);
        double v[4] = {1, 2, 3, 4};
        int64_t n = 4;
        tt_tensor *x = tt_from_data(1, &n, TT_F64, v, TT_CPU), *k = tt_scalar(2, TT_F64, TT_CPU);
        tg_env_set(env, "x", x), tg_env_set(env, "k", k);
        double a = 0, b = 0;
        for (int rep = 0; rep < 3; rep++) {
            tt_tensor *r = tg_program_eval(env, p);
            CHECK(r && tt_item(r, &a) == TT_OK && a == 5);
            tt_release(r);
        }
        tg_env_set_mean_divisor(env, 10);
        tt_tensor *r = tg_program_eval(env, p);
        CHECK(r && tt_item(r, &b) == TT_OK && b == 2);
        tt_release(r);
        tt_release(x), tt_release(k);
    }
    tg_env_free(env);
    tg_program_free(p);
}

/* tg_fit_source over an HDF5 file: lengths checked before reading, NaN named
 * by index, and with drop_nan the kept points read from anywhere (sgd visits
 * slices out of order) as the filtered data, and the same fit as on it. */
TEST(fit_source_from_a_file)
{
    enum { N = 30000 };
    double *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y), *kx = malloc(N * sizeof *kx),
           *ky = malloc(N * sizeof *ky);
    int64_t kept = 0;
    for (int i = 0; i < N; i++) {
        x[i] = i * 1e-3;
        y[i] = 2 * x[i] + 1 + 0.1 * sin(i);
        if (i % 997 == 5) y[i] = NAN;
        if (i % 1499 == 7) x[i] = INFINITY;
        if (isfinite(x[i]) && isfinite(y[i])) kx[kept] = x[i], ky[kept++] = y[i];
    }
    int64_t n = N, four = 4;
    tt_tensor_set *set = tt_set_new();
    tt_tensor *xt = tt_from_data(1, &n, TT_F64, x, TT_CPU), *yt = tt_from_data(1, &n, TT_F64, y, TT_CPU),
              *st = tt_from_data(1, &four, TT_F64, x, TT_CPU);
    tt_set_put(set, "x", xt);
    tt_set_put(set, "y", yt);
    tt_set_put(set, "short", st);
    char path[64];
    snprintf(path, sizeof path, "/tmp/tg-fit-source-%d.h5", (int)getpid());
    CHECK(tt_write_path(set, TT_FMT_H5, path) == TT_OK);
    tt_source *src = tt_source_open(path);
    CHECK(src != NULL);
    if (!src) return;
    tg_fit_source *fs = NULL;
    tg_fit_source_spec bad = {.x = "x", .y = "short"};
    CHECK_ERR(tg_fit_source_open(src, &bad, &fs), TT_ESHAPE,
              "x and y differ in length: dataset 'x' has 30000 points, dataset 'short' has 4");
    tg_fit_source_spec plain = {.nan_hint = " (hint)"};
    CHECK(tg_fit_source_open(src, &plain, &fs) == TT_OK && tg_fit_source_data(fs)->n == N);
    tg_fit_result *r = NULL;
    tg_fit_spec sp;
    tg_fit_spec_defaults(&sp);
    sp.method = TG_METHOD_EXACT;
    sp.dtype = TT_F64;
    CHECK_ERR(tg_fit_stream(tg_fit_source_data(fs), &sp, &r), TT_EINVAL, "y[5] is NaN (hint)");
    tg_fit_result_free(r);
    r = NULL;
    tg_fit_source_free(fs);
    tg_fit_source_spec drop = {.drop_nan = true};
    CHECK(tg_fit_source_open(src, &drop, &fs) == TT_OK);
    int64_t first = -1;
    CHECK(tg_fit_source_dropped(fs, &first) == N - kept && first == 5 && tg_fit_source_data(fs)->n == kept);
    /* reads from anywhere, in any order */
    const tg_fit_data *d = tg_fit_source_data(fs);
    double bx[100], by[100];
    double *cols[2] = {bx, by};
    int64_t starts[] = {kept - 100, 0, 8191, 8192, 20000, 100, 16383, kept - 37};
    int wrong = 0;
    for (size_t k = 0; k < sizeof starts / sizeof *starts; k++) {
        int64_t m = kept - starts[k] < 100 ? kept - starts[k] : 100;
        if (d->read(d->ctx, starts[k], m, cols) != TT_OK) wrong++;
        for (int64_t i = 0; i < m; i++)
            if (bx[i] != kx[starts[k] + i] || by[i] != ky[starts[k] + i]) wrong++;
    }
    CHECK(wrong == 0);
    /* the fit equals the fit of the filtered data in memory */
    int64_t nk = kept;
    tt_tensor *fx = tt_from_data(1, &nk, TT_F64, kx, TT_CPU), *fy = tt_from_data(1, &nk, TT_F64, ky, TT_CPU);
    tg_fit_result *want = NULL;
    for (int method = 0; method < 2; method++) {
        sp.method = method ? TG_METHOD_DESCENT : TG_METHOD_EXACT;
        sp.slice = 777;
        CHECK(tg_fit_stream(d, &sp, &r) == TT_OK);
        sp.slice = 0;
        CHECK(tg_fit(fx, fy, NULL, &sp, &want) == TT_OK);
        CHECK(r && want && r->values[0] == want->values[0] && r->values[1] == want->values[1]);
        tg_fit_result_free(r);
        tg_fit_result_free(want);
        r = want = NULL;
    }
    /* a bounded sample, and x's range over all the points */
    double sx[1000], sy[1000], lo, hi;
    int64_t got = 0;
    CHECK(tg_fit_source_sample(fs, 1000, sx, sy, &got, &lo, &hi) == TT_OK);
    CHECK(got <= 1000 && got > 900 && sx[0] == kx[0] && lo == kx[0] && hi == kx[kept - 1]);
    tg_fit_source_free(fs);
    tt_source_close(src);
    unlink(path);
    tt_release(fx);
    tt_release(fy);
    tt_release(xt);
    tt_release(yt);
    tt_release(st);
    tt_set_free(set);
    free(x);
    free(y);
    free(kx);
    free(ky);
}

int main(void)
{
    tg_set_warning_handler(NULL, NULL);
    RUN(ten_million_points_bounded_memory);
    RUN(same_bits_for_any_slice);
    RUN(streamed_equals_in_memory);
    RUN(sgd_batches_within_slices);
    RUN(bad_data_deep_in_the_stream);
    RUN(additive_expression_losses_stream);
    RUN(zero_residual_converges_in_few_passes);
    RUN(filip_by_streamed_qr);
    RUN(offset_line_streamed);
    RUN(ranges_of_blocks_combine_to_one_pass);
    RUN(rank_ranges_cover_the_points_in_whole_blocks);
    RUN(model_object);
    RUN(sigma_column_and_statistics_streamed);
    RUN(loss_vocabulary);
    RUN(compiled_programs);
    RUN(fit_source_from_a_file);
    return DONE();
}
