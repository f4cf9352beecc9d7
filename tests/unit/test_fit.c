/* The fitting library (include/tg/fit.h).
 *
 * References in tests/fixtures/fit_cases.h (tests/fixtures/make_fit_fixtures.py:
 * numpy lstsq/polyfit, scipy linregress, an SVD for total least squares, and
 * the seeds' loops run in PyTorch 1.13 on the same numbers, drawn from tg's
 * Philox stream as x_i = lo + (hi-lo) U(seed, i), y_i = a x_i + b + sigma N(seed, n+i)).
 */
#include <stdlib.h>

#include "check.h"
#include "tg/fit.h"
#include "../fixtures/fit_cases.h"
#include "../fixtures/stats_cases.h"

#define LEN(a) ((int64_t)(sizeof(a) / sizeof((a)[0])))
#define REL(a, b, tol) CHECK_REL(a, b, tol)

static tt_tensor *vec(const double *v, int64_t n) { return tt_from_data(1, &n, TT_F64, v, TT_CPU); }

static tg_fit_result *fit(const double *x, const double *y, int64_t n, const double *w, const tg_fit_spec *sp)
{
    tt_tensor *xt = vec(x, n), *yt = vec(y, n), *wt = w ? vec(w, n) : NULL;
    tg_fit_result *r = NULL;
    tt_status st = tg_fit(xt, yt, wt, sp, &r);
    if (st) FAILF("tg_fit: %s", tt_last_error());
    tt_release(xt), tt_release(yt), tt_release(wt);
    return r;
}

/* The expected error: status and substring; no result. */
static void fit_err(const double *x, int64_t nx, const double *y, int64_t ny, const double *w, const tg_fit_spec *sp,
                    tt_status want, const char *msg, int line)
{
    tt_tensor *xt = vec(x, nx), *yt = vec(y, ny), *wt = w ? vec(w, ny) : NULL;
    tg_fit_result *r = NULL;
    tt_status st = tg_fit(xt, yt, wt, sp, &r);
    if (st != want || !strstr(tt_last_error(), msg))
        FAILF("line %d: status %d \"%s\", expected %d with \"%s\"", line, st, tt_last_error(), want, msg);
    if (r) FAILF("line %d: a result came back with the error", line);
    tg_fit_result_free(r);
    tt_release(xt), tt_release(yt), tt_release(wt);
}
#define FIT_ERR(x, nx, y, ny, w, sp, st, msg) fit_err(x, nx, y, ny, w, sp, st, msg, __LINE__)

/* Seed data from tg's own stream, as the fixture script draws it. */
static void gen(uint64_t seed, int64_t n, double lo, double hi, double a, double b, double sigma, double *x, double *y)
{
    for (int64_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * tt_philox_uniform(seed, (uint64_t)i);
    for (int64_t i = 0; i < n; i++) y[i] = a * x[i] + b + sigma * tt_philox_normal(seed, (uint64_t)(n + i));
}
static double sum(const double *v, int64_t n)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += v[i];
    return s;
}

TEST(ols_line_exact_and_descent)
{
    tg_fit_spec sp;
    tg_fit_spec_defaults(&sp);
    for (int m = 0; m < 2; m++) {
        sp.method = m ? TG_METHOD_EXACT : TG_METHOD_DESCENT;
        tg_fit_result *r = fit(fc_x, fc_y, LEN(fc_x), NULL, &sp);
        if (!r) return;
        CHECK(r->nparams == 2);
        CHECK_STR(r->names[0], "w");
        CHECK_STR(r->names[1], "b");
        REL(r->values[0], FC_OLS_W, 1e-6);
        REL(r->values[1], FC_OLS_B, 1e-6);
        REL(r->stderrs[0], FC_OLS_W_SE, 1e-4);
        REL(r->stderrs[1], FC_OLS_B_SE, 1e-4);
        REL(r->stderrs[0], FC_LINREGRESS_W_SE, 1e-4);
        REL(r->stderrs[1], FC_LINREGRESS_B_SE, 1e-4);
        REL(r->cov[1], FC_OLS_COV_WB, 1e-4);
        REL(r->cov[2], FC_OLS_COV_WB, 1e-4);
        REL(r->sse, FC_OLS_SSE, 1e-9);
        REL(r->loss, FC_OLS_SSE / 50, 1e-9);
        REL(r->rms, sqrt(FC_OLS_SSE / 48), 1e-9); /* gnuplot's rms of residuals: sqrt(WSSR/ndf) */
        CHECK(r->n == 50 && r->dof == 48);
        if (m) {
            CHECK(r->stop == TG_STOP_EXACT && r->steps == 0);
        } else {
            CHECK(r->stop == TG_STOP_TOL);
            CHECK(r->steps >= 1 && r->steps <= 10);
            CHECK(r->nhistory == r->steps);
        }
        tg_fit_result_free(r);
    }
}

TEST(ols_line_offset_1e8)
{
    tg_fit_spec sp;
    tg_fit_spec_defaults(&sp);
    for (int m = 0; m < 2; m++) {
        sp.method = m ? TG_METHOD_EXACT : TG_METHOD_DESCENT;
        tg_fit_result *r = fit(fc_xo, fc_y, LEN(fc_xo), NULL, &sp);
        if (!r) return;
        REL(r->values[0], FC_OFF_W, 1e-6);
        REL(r->values[1], FC_OFF_B, 1e-6);
        REL(r->stderrs[0], FC_OFF_W_SE, 1e-4);
        REL(r->stderrs[1], FC_OFF_B_SE, 1e-4);
        REL(r->sse, FC_OLS_SSE, 1e-4);
        tg_fit_result_free(r);
    }
}

TEST(tls_line)
{
    tg_fit_spec sp;
    tg_fit_spec_defaults(&sp);
    sp.loss = "orthogonal";
    for (int m = 0; m < 4; m++) {
        sp.method = m & 1 ? TG_METHOD_EXACT : TG_METHOD_DESCENT;
        const double *x = m & 2 ? fc_xo : fc_x;
        tg_fit_result *r = fit(x, fc_y, LEN(fc_x), NULL, &sp);
        if (!r) return;
        REL(r->values[0], m & 2 ? FC_OFF_TLS_W : FC_TLS_W, 1e-6);
        REL(r->values[1], m & 2 ? FC_OFF_TLS_B : FC_TLS_B, 1e-6);
        CHECK(fabs(r->values[0] - FC_OLS_W) > 1e-3); /* not OLS */
        CHECK(r->stderrs[0] > 0 && isfinite(r->stderrs[1]));
        tg_fit_result_free(r);
    }
}

TEST(poly2_against_polyfit)
{
    tg_fit_spec sp;
    tg_fit_spec_defaults(&sp);
    sp.model = "poly:2";
    for (int m = 0; m < 2; m++) {
        sp.method = m ? TG_METHOD_EXACT : TG_METHOD_DESCENT;
        tg_fit_result *r = fit(fc_px, fc_py, LEN(fc_px), NULL, &sp);
        if (!r) return;
        CHECK(r->nparams == 3);
        CHECK_STR(r->names[2], "c2");
        for (int i = 0; i < 3; i++) {
            REL(r->values[i], fc_poly_c[i], 1e-6);
            REL(r->stderrs[i], fc_poly_se[i], 1e-4);
        }
        CHECK(r->dof == 37);
        tg_fit_result_free(r);
    }
}

TEST(weighted_line)
{
    tg_fit_spec sp;
    tg_fit_spec_defaults(&sp);
    for (int m = 0; m < 2; m++) {
        sp.method = m ? TG_METHOD_EXACT : TG_METHOD_DESCENT;
        tg_fit_result *r = fit(fc_x, fc_wy, LEN(fc_x), fc_ws, &sp);
        if (!r) return;
        REL(r->values[0], FC_W_W, 1e-6);
        REL(r->values[1], FC_W_B, 1e-6);
        REL(r->stderrs[0], FC_W_W_SE, 1e-4);
        REL(r->stderrs[1], FC_W_B_SE, 1e-4);
        tg_fit_result_free(r);
    }
}

TEST(seed000_sgd_batch8)
{
    enum { n = 200 };
    double x[n], y[n];
    gen(1000, n, 0, 20, 2, 3, 3, x, y);
    CHECK_NEAR(sum(x, n), FC_S0_XSUM, 1e-12);
    tg_fit_spec sp;
    tg_fit_spec_defaults(&sp);
    sp.loss = "0.5*sum((pred-y)^2)"; /* the seed's loss: summed over the batch */
    sp.optimizer = TG_OPT_SGD;
    sp.batch = 8;
    sp.lr = 0.001;
    sp.steps = RUNNING_ON_VALGRIND ? 200 : 8000;
    sp.seed = 1000;
    const char *names[] = {"w", "b"};
    double init[] = {FC_S0_W0, 0};
    sp.ninit = 2, sp.init_names = names, sp.init_values = init;
    tg_fit_result *r = fit(x, y, n, NULL, &sp);
    if (!r) return;
    CHECK(r->stop == TG_STOP_STEPS && r->steps == sp.steps);
    if (!RUNNING_ON_VALGRIND) {
        REL(r->values[0], FC_S0_W, 1e-4);
        REL(r->values[1], FC_S0_B, 1e-4);
        CHECK(fabs(r->values[0] - FC_S0_OLS_W) < 3 * FC_S0_OLS_W_SE);
        CHECK(fabs(r->values[1] - FC_S0_OLS_B) < 3 * FC_S0_OLS_B_SE);
        CHECK(fabs(r->values[0] - 2) < 0.2 && fabs(r->values[1] - 3) < 1.5);
    }
    tg_fit_result_free(r);
}

TEST(seed001_gd_mse)
{
    enum { n = 500 };
    double x[n], y[n];
    gen(1, n, 0, 1, 3, 0.8, 0, x, y);
    CHECK_NEAR(sum(x, n), FC_S1_XSUM, 1e-12);
    tg_fit_spec sp;
    tg_fit_spec_defaults(&sp);
    sp.optimizer = TG_OPT_GD;
    sp.lr = 0.01;
    sp.steps = 2000;
    const char *names[] = {"w"};
    double init[] = {FC_S1_W0};
    sp.ninit = 1, sp.init_names = names, sp.init_values = init;
    tg_fit_result *r = fit(x, y, n, NULL, &sp);
    if (!r) return;
    REL(r->values[0], FC_S1_W, 1e-4);
    REL(r->values[1], FC_S1_B, 1e-4);
    CHECK(r->nhistory == 2000 && r->steps == 2000 && r->stop == TG_STOP_STEPS);
    REL(r->history[1999], FC_S1_LOSS, 1e-3);
    CHECK(r->history[0] > r->history[1999]);
    tg_fit_result_free(r);

    /* divergence: lr 10 */
    sp.lr = 10;
    sp.steps = 100000;
    tt_tensor *xt = vec(x, n), *yt = vec(y, n);
    r = NULL;
    tt_status st = tg_fit(xt, yt, NULL, &sp, &r);
    CHECK(st == TT_ERUNTIME);
    /* PyTorch's float32 mean sums in float32 and overflows to Inf one step
     * before libtensor's (which accumulates in double): K or K + 1. */
    char want[64], want1[64];
    snprintf(want, sizeof want, "loss became Inf at step %d", (int)FC_S1_DIVERGE_STEP);
    snprintf(want1, sizeof want1, "loss became Inf at step %d", (int)FC_S1_DIVERGE_STEP + 1);
    if (strcmp(tt_last_error(), want) && strcmp(tt_last_error(), want1))
        FAILF("\"%s\", expected \"%s\" (or step + 1)", tt_last_error(), want);
    CHECK(r != NULL);
    if (r) {
        CHECK(r->stop == TG_STOP_DIVERGED);
        CHECK(r->steps >= FC_S1_DIVERGE_STEP && r->steps <= FC_S1_DIVERGE_STEP + 1 && r->nhistory == r->steps);
        CHECK(!isfinite(r->loss) && isnan(r->stderrs[0]));
        CHECK_STR(tg_stop_reason_name(r->stop), "diverged");
    }
    tg_fit_result_free(r);
    tt_release(xt), tt_release(yt);
}

TEST(seed002_orthogonal)
{
    enum { n = 100 };
    double x[n], y[n];
    for (int i = 0; i < n; i++) {
        double lin = 100.0 * i / (n - 1);
        x[i] = lin + 2 * tt_philox_normal(2, (uint64_t)i);
        y[i] = 2.5 * lin + 1 + 2 * tt_philox_normal(2, (uint64_t)(n + i));
    }
    CHECK_NEAR(sum(x, n), FC_S2_XSUM, 1e-12);
    tg_fit_spec sp;
    tg_fit_spec_defaults(&sp);
    sp.loss = "orthogonal";
    tg_fit_result *r = fit(x, y, n, NULL, &sp);
    if (!r) return;
    REL(r->values[0], FC_S2_TLS_W, 1e-6);
    REL(r->values[1], FC_S2_TLS_B, 1e-6);
    CHECK(fabs(r->values[1] - FC_S2_OLS_B) > 0.1);
    tg_fit_result_free(r);
    /* the seed's raw loop: gd, lr 1e-5, 1000 steps, keeping the best */
    sp.optimizer = TG_OPT_GD;
    sp.lr = 1e-5;
    sp.steps = 1000;
    sp.keep_best = true;
    r = fit(x, y, n, NULL, &sp);
    if (!r) return;
    REL(r->values[0], FC_S2_BEST_W, 1e-4);
    CHECK_NEAR(r->values[1], FC_S2_BEST_B, 1e-3);
    double best = INFINITY;
    for (int64_t i = 0; i < r->nhistory; i++) best = fmin(best, r->history[i]);
    REL(best, FC_S2_BEST_LOSS, 1e-4);
    REL(r->loss, FC_S2_BEST_LOSS, 1e-4);
    tg_fit_result_free(r);
}

TEST(seed003_loss_below)
{
    enum { n = 20 };
    double x[n], y[n];
    gen(3, n, 0, 5, 2, 5, 0.3, x, y);
    CHECK_NEAR(sum(x, n), FC_S3_XSUM, 1e-12);
    tg_fit_spec sp;
    tg_fit_spec_defaults(&sp);
    sp.loss = "half-mse";
    sp.optimizer = TG_OPT_GD;
    sp.lr = 0.01;
    sp.steps = 100000;
    sp.has_loss_below = true;
    sp.loss_below = 0.1;
    const char *names[] = {"w", "b"};
    double init[] = {1, 1};
    sp.ninit = 2, sp.init_names = names, sp.init_values = init;
    tg_fit_result *r = fit(x, y, n, NULL, &sp);
    if (!r) return;
    CHECK(r->stop == TG_STOP_LOSS_BELOW);
    CHECK_STR(tg_stop_reason_name(r->stop), "loss-below");
    if (r->steps != FC_S3_STEPS) FAILF("steps = %lld, expected %d", (long long)r->steps, FC_S3_STEPS);
    REL(r->values[0], FC_S3_W, 1e-4);
    REL(r->values[1], FC_S3_B, 1e-4);
    tg_fit_result_free(r);
}

TEST(adam_and_momentum_reach_ols)
{
    tg_fit_spec sp;
    tg_fit_spec_defaults(&sp);
    sp.dtype = TT_F64;
    sp.optimizer = TG_OPT_MOMENTUM;
    sp.lr = 0.005;
    sp.steps = 5000;
    tg_fit_result *r = fit(fc_x, fc_y, LEN(fc_x), NULL, &sp);
    if (!r) return;
    REL(r->values[0], FC_OLS_W, 1e-6);
    REL(r->values[1], FC_OLS_B, 1e-6);
    tg_fit_result_free(r);
    sp.optimizer = TG_OPT_ADAM;
    sp.lr = 0.05;
    sp.steps = 20000;
    sp.tol = 1e-15;
    r = fit(fc_x, fc_y, LEN(fc_x), NULL, &sp);
    if (!r) return;
    REL(r->values[0], FC_OLS_W, 1e-4);
    REL(r->values[1], FC_OLS_B, 1e-4);
    tg_fit_result_free(r);
}

static bool stop_at_10(int64_t step, double loss, void *ctx)
{
    (void)loss;
    (*(int *)ctx)++;
    return step < 10;
}

TEST(callback_tol_epochs_decay)
{
    tg_fit_spec sp;
    tg_fit_spec_defaults(&sp);
    int calls = 0;
    sp.optimizer = TG_OPT_GD;
    sp.on_step = stop_at_10, sp.ctx = &calls;
    tg_fit_result *r = fit(fc_x, fc_y, LEN(fc_x), NULL, &sp);
    if (!r) return;
    CHECK(calls == 10 && r->steps == 10 && r->stop == TG_STOP_CALLBACK);
    CHECK_STR(tg_stop_reason_name(r->stop), "callback");
    tg_fit_result_free(r);
    /* epochs: ceil(50 / 8) = 7 batches each */
    tg_fit_spec_defaults(&sp);
    sp.optimizer = TG_OPT_SGD, sp.batch = 8, sp.epochs = 3, sp.lr = 1e-3;
    r = fit(fc_x, fc_y, LEN(fc_x), NULL, &sp);
    if (!r) return;
    CHECK(r->steps == 21 && r->stop == TG_STOP_STEPS);
    CHECK_STR(tg_stop_reason_name(TG_STOP_STEPS), "steps");
    tg_fit_result_free(r);
    /* tol on plain gd */
    tg_fit_spec_defaults(&sp);
    sp.dtype = TT_F64, sp.optimizer = TG_OPT_GD, sp.lr = 0.01, sp.steps = 100000, sp.tol = 1e-10;
    r = fit(fc_x, fc_y, LEN(fc_x), NULL, &sp);
    if (!r) return;
    CHECK(r->stop == TG_STOP_TOL && r->steps < 100000);
    CHECK_STR(tg_stop_reason_name(r->stop), "tol");
    REL(r->values[0], FC_OLS_W, 1e-4);
    tg_fit_result_free(r);
    /* a decaying lr moves less */
    tg_fit_spec_defaults(&sp);
    sp.optimizer = TG_OPT_GD, sp.lr = 0.001, sp.steps = 50;
    tg_fit_result *a = fit(fc_x, fc_y, LEN(fc_x), NULL, &sp);
    sp.lr_decay = 1;
    tg_fit_result *b = fit(fc_x, fc_y, LEN(fc_x), NULL, &sp);
    if (a && b) CHECK(b->loss > a->loss);
    tg_fit_result_free(a);
    tg_fit_result_free(b);
    CHECK_STR(tg_stop_reason_name(TG_STOP_EXACT), "exact");
}

TEST(robust_losses)
{
    tg_fit_spec sp;
    tg_fit_spec_defaults(&sp);
    double y[50];
    memcpy(y, fc_y, sizeof y);
    y[7] += 80; /* an outlier */
    const char *losses[] = {"l1", "huber", "huber:0.5"};
    for (int i = 0; i < 3; i++) {
        sp.loss = losses[i];
        tg_fit_result *r = fit(fc_x, y, 50, NULL, &sp);
        if (!r) return;
        CHECK(fabs(r->values[0] - FC_OLS_W) < 0.15);
        CHECK(isfinite(r->stderrs[0]) && r->stderrs[0] > 0);
        tg_fit_result_free(r);
    }
    /* an expression loss equal to mse gives OLS */
    sp.loss = "mean((pred-y)^2)";
    tg_fit_result *r = fit(fc_x, fc_y, 50, NULL, &sp);
    if (!r) return;
    REL(r->values[0], FC_OLS_W, 1e-6);
    REL(r->stderrs[0], FC_OLS_W_SE, 1e-4);
    tg_fit_result_free(r);
}

TEST(expression_model)
{
    double x[30], y[30];
    for (int i = 0; i < 30; i++) x[i] = i / 10.0, y[i] = 2.0 * exp(0.7 * x[i]) * (1 + 0.01 * tt_philox_normal(9, i));
    tg_fit_spec sp;
    tg_fit_spec_defaults(&sp);
    sp.model = "a*exp(k*x)";
    const char *names[] = {"a", "k"};
    double init[] = {1, 0.1};
    sp.ninit = 2, sp.init_names = names, sp.init_values = init;
    tg_fit_result *r = fit(x, y, 30, NULL, &sp);
    if (!r) return;
    CHECK_STR(r->names[0], "a");
    CHECK_STR(r->names[1], "k");
    CHECK(fabs(r->values[0] - 2) < 0.05 && fabs(r->values[1] - 0.7) < 0.01);
    CHECK(r->stderrs[1] > 0 && r->stderrs[1] < 0.01);
    tg_fit_result_free(r);
    /* the same line as an expression: OLS and its stderrs */
    sp.model = "m*x + c";
    const char *n2[] = {"m", "c"};
    double i2[] = {0, 0};
    sp.init_names = n2, sp.init_values = i2;
    r = fit(fc_x, fc_y, 50, NULL, &sp);
    if (!r) return;
    REL(r->values[0], FC_OLS_W, 1e-6);
    REL(r->stderrs[1], FC_OLS_B_SE, 1e-4);
    tg_fit_result_free(r);
}

/* Levenberg-Marquardt (the default for expression models with least
 * squares): the per-point Jacobian of a model that reduces a parameter, the
 * budget, --stderr hessian, and constants that are no parameters. */
TEST(levenberg_marquardt)
{
    tg_fit_spec sp;
    tg_fit_spec_defaults(&sp);
    const char *models[] = {"m*x + c", "sum(m)*x + c"}; /* the second: one backward per point */
    for (int k = 0; k < 2; k++) {
        sp.model = models[k];
        tg_fit_result *r = fit(fc_x, fc_y, 50, NULL, &sp);
        if (!r) return;
        REL(r->values[0], FC_OLS_W, 1e-9);
        REL(r->stderrs[0], FC_OLS_W_SE, 1e-9);
        REL(r->stderrs[1], FC_OLS_B_SE, 1e-9);
        CHECK(r->converged && r->stop == TG_STOP_TOL && !r->stderr_hessian);
        tg_fit_result_free(r);
    }
    /* the full Hessian of a model linear in its parameters is 2 J^T J: the same errors */
    sp.model = "m*x + c", sp.stderr_hessian = true;
    tg_fit_result *r = fit(fc_x, fc_y, 50, NULL, &sp);
    if (!r) return;
    REL(r->stderrs[0], FC_OLS_W_SE, 1e-9);
    CHECK(r->stderr_hessian);
    tg_fit_result_free(r);
    /* a budget of 2 steps far from the answer: stop=steps, not converged */
    double x[30], y[30];
    for (int i = 0; i < 30; i++) x[i] = i / 10.0, y[i] = 200.0 * exp(-1.5 * x[i]) * (1 + 0.01 * tt_philox_normal(4, i));
    tg_fit_spec_defaults(&sp);
    sp.model = "a*exp(-k*x)", sp.steps = 2;
    r = fit(x, y, 30, NULL, &sp);
    if (!r) return;
    CHECK(r->stop == TG_STOP_STEPS && !r->converged && r->steps == 2);
    tg_fit_result_free(r);
    sp.steps = 0;
    r = fit(x, y, 30, NULL, &sp);
    if (!r) return;
    CHECK(r->stop == TG_STOP_TOL && r->converged && fabs(r->values[0] - 200) < 5 && fabs(r->values[1] - 1.5) < 0.05);
    tg_fit_result_free(r);
    /* pi is a constant, not a parameter */
    tg_model *m = NULL;
    CHECK(tg_model_new("a*sin(pi*x) + e", &m) == TT_OK);
    if (m) CHECK(tg_model_nparams(m) == 1);
    tg_model_free(m);
}

TEST(singular_hessian_nan_stderrs)
{
    double x[5] = {1, 2, 3, 4, 5}, y[5] = {1, 2, 3, 4, 6};
    tg_fit_spec sp;
    tg_fit_spec_defaults(&sp);
    sp.model = "a*b*x"; /* only the product is determined */
    const char *names[] = {"a", "b"};
    double init[] = {1, 1};
    sp.ninit = 2, sp.init_names = names, sp.init_values = init;
    tt_tensor *tx = tt_from_data(1, (int64_t[]){5}, TT_F64, x, TT_CPU),
              *ty = tt_from_data(1, (int64_t[]){5}, TT_F64, y, TT_CPU);
    tg_fit_result *r = NULL;
    CHECK(tg_fit(tx, ty, NULL, &sp, &r) == TT_EINVAL && !r);
    CHECK(strstr(tt_last_error(), "do not determine a, b") != NULL);
    tt_release(tx);
    tt_release(ty);
    sp.allow_undetermined = true;
    r = fit(x, y, 5, NULL, &sp);
    if (!r) return;
    CHECK(r->rank == 1 && !r->determined[0] && !r->determined[1]);
    CHECK(isnan(r->stderrs[0]) && isnan(r->stderrs[1]));
    CHECK(fabs(r->values[0] * r->values[1] - sum(y, 5) * 0 - (1 + 4 + 9 + 16 + 30) / 55.0) < 1e-6);
    tg_fit_result_free(r);
    /* dof = 0: NaN stderrs, exact fit */
    double x2[2] = {0, 1}, y2[2] = {1, 3};
    tg_fit_spec_defaults(&sp);
    r = fit(x2, y2, 2, NULL, &sp);
    if (!r) return;
    CHECK(r->dof == 0 && isnan(r->stderrs[0]));
    CHECK_NEAR(r->values[0], 2, 1e-9);
    CHECK_NEAR(r->values[1], 1, 1e-9);
    tg_fit_result_free(r);
}

TEST(validation_errors)
{
    double x[5] = {1, 2, 3, 4, 5}, y[5] = {2, 4, 6, 8, 10};
    tg_fit_spec sp;
    tg_fit_spec_defaults(&sp);
    FIT_ERR(x, 5, y, 4, NULL, &sp, TT_ESHAPE, "x has 5 values and y has 4");
    FIT_ERR(x, 0, y, 0, NULL, &sp, TT_EINVAL, "the dataset is empty");
    double yn[5] = {1, 2, NAN, 4, 5}, xi[5] = {1, INFINITY, 3, 4, 5};
    FIT_ERR(x, 5, yn, 5, NULL, &sp, TT_EINVAL, "y[2] is NaN (row 3)");
    FIT_ERR(xi, 5, y, 5, NULL, &sp, TT_EINVAL, "x[1] is Inf (row 2)");
    double wneg[5] = {1, 1, 1, -1, 1}, wnan[5] = {1, NAN, 1, 1, 1};
    FIT_ERR(x, 5, y, 5, wneg, &sp, TT_EINVAL, "weights[3] is negative (-1, row 4)");
    FIT_ERR(x, 5, y, 5, wnan, &sp, TT_EINVAL, "weights[1] is NaN (row 2)");
    sp.model = "poly:5";
    FIT_ERR(x, 5, y, 5, NULL, &sp, TT_EINVAL, "5 points cannot determine the 6 parameters of the model 'poly:5'");
    sp.model = "poly:x";
    FIT_ERR(x, 5, y, 5, NULL, &sp, TT_EUSAGE, "the model 'poly:K' needs a whole degree K");
    sp.model = "quadratic";
    FIT_ERR(x, 5, y, 5, NULL, &sp, TT_EUSAGE, "unknown model 'quadratic' (known: line, poly:K");
    sp.model = NULL;
    sp.loss = "mae";
    FIT_ERR(x, 5, y, 5, NULL, &sp, TT_EUSAGE,
            "unknown loss 'mae' (known: mse, half-mse, sse, l1, huber[:DELTA], orthogonal");
    sp.loss = "huber:-1";
    FIT_ERR(x, 5, y, 5, NULL, &sp, TT_EUSAGE, "huber:DELTA needs a positive number DELTA, got 'huber:-1'");
    sp.loss = "mean((pred-y)^";
    FIT_ERR(x, 5, y, 5, NULL, &sp, TT_ESYNTAX, "loss: syntax error at column");
    sp.loss = "orthogonal";
    sp.model = "poly:2";
    FIT_ERR(x, 5, y, 5, NULL, &sp, TT_EUSAGE, "the orthogonal loss needs the model 'line'");
    tg_fit_spec_defaults(&sp);
    sp.model = "a*exp(k*x";
    const char *nak[] = {"a", "k"};
    double v[] = {1, 1};
    sp.ninit = 2, sp.init_names = nak, sp.init_values = v;
    FIT_ERR(x, 5, y, 5, NULL, &sp, TT_ESYNTAX, "model: syntax error at column");
    sp.model = "a*exp(k*x)";
    const char *naq[] = {"a", "q"};
    sp.init_names = naq;
    FIT_ERR(x, 5, y, 5, NULL, &sp, TT_EUSAGE, "parameter 'q' is not in the model 'a*exp(k*x)' (its parameters: a, k)");
    sp.model = NULL;
    sp.init_names = naq;
    FIT_ERR(x, 5, y, 5, NULL, &sp, TT_EUSAGE, "parameter 'a' is not in the model 'line' (its parameters: w, b)");
    sp.ninit = 0;
    sp.model = "x^2";
    FIT_ERR(x, 5, y, 5, NULL, &sp, TT_EUSAGE, "the model 'x^2' has no parameters to fit");
    tg_fit_spec_defaults(&sp);
    sp.optimizer = TG_OPT_GD;
    sp.lr = -1;
    FIT_ERR(x, 5, y, 5, NULL, &sp, TT_EUSAGE, "the learning rate must be a positive number, got -1");
    tg_fit_spec_defaults(&sp);
    sp.method = TG_METHOD_EXACT;
    sp.loss = "l1";
    FIT_ERR(x, 5, y, 5, NULL, &sp, TT_EUSAGE,
            "the exact method covers least squares (mse, half-mse, sse) for line and poly:K, and orthogonal for line");
    /* shapes: (N, 1) is accepted, (N, 2) is not */
    tg_fit_spec_defaults(&sp);
    int64_t s51[2] = {5, 1}, s22[2] = {2, 2};
    tt_tensor *xc = tt_from_data(2, s51, TT_F64, x, TT_CPU), *yt = vec(y, 5),
              *x22 = tt_from_data(2, s22, TT_F64, x, TT_CPU);
    tg_fit_result *r = NULL;
    CHECK(tg_fit(xc, yt, NULL, &sp, &r) == TT_OK);
    if (r) CHECK_NEAR(r->values[0], 2, 1e-9);
    tg_fit_result_free(r);
    r = NULL;
    CHECK(tg_fit(x22, yt, NULL, &sp, &r) == TT_ESHAPE);
    CHECK(strstr(tt_last_error(), "x must be 1-D (N values) or a column (N, 1), got shape [2, 2]") != NULL);
    tt_release(xc), tt_release(yt), tt_release(x22);
}

TEST(exact_poly_and_sse_default_line)
{
    /* an exact cubic through 6 points with x offset by 1000: QR keeps it */
    double x[6], y[6];
    for (int i = 0; i < 6; i++) {
        double t = i - 2.5;
        x[i] = 1000 + t, y[i] = 1 - 2 * t + 0.5 * t * t * t;
    }
    tg_fit_spec sp;
    tg_fit_spec_defaults(&sp);
    sp.model = "poly:3";
    sp.method = TG_METHOD_EXACT;
    sp.loss = "sse";
    tg_fit_result *r = fit(x, y, 6, NULL, &sp);
    if (!r) return;
    for (int i = 0; i < 6; i++) {
        double p = 0, pw = 1;
        for (int k = 0; k <= 3; k++, pw *= x[i]) p += r->values[k] * pw;
        CHECK_NEAR(p, y[i], 1e-5);
    }
    CHECK(r->sse < 1e-6);
    tg_fit_result_free(r);
    /* poly:0 is the mean */
    sp.model = "poly:0";
    r = fit(fc_x, fc_y, 50, NULL, &sp);
    if (!r) return;
    REL(r->values[0], sum(fc_y, 50) / 50, 1e-12);
    tg_fit_result_free(r);
    /* spec NULL: line, mse, auto */
    tt_tensor *xt = vec(fc_x, 50), *yt = vec(fc_y, 50);
    r = NULL;
    CHECK(tg_fit(xt, yt, NULL, NULL, &r) == TT_OK);
    if (r) REL(r->values[0], FC_OLS_W, 1e-6);
    tg_fit_result_free(r);
    tt_release(xt), tt_release(yt);
}

/* The fused line descent (one pass per step) against the same descent through
 * libgrad, for every optimizer, squared loss, dtype, with and without
 * weights: the same parameters, losses, step counts and stop reasons. */
static void test_fused_line_matches_autograd(void)
{
    enum { N = 300 };
    double x[N], y[N], w[N];
    gen(11, N, 0, 4, 1.5, -0.7, 0.4, x, y);
    for (int i = 0; i < N; i++) w[i] = 0.5 + tt_philox_uniform(12, (uint64_t)i);
    const tg_optimizer opts[] = {TG_OPT_GD, TG_OPT_SGD, TG_OPT_MOMENTUM, TG_OPT_ADAM};
    const char *losses[] = {"mse", "half-mse", "sse"};
    const tt_dtype dts[] = {TT_F32, TT_F64};
    for (int o = 0; o < 4; o++)
        for (int l = 0; l < 3; l++)
            for (int d = 0; d < 2; d++)
                for (int weighted = 0; weighted < 2; weighted++) {
                    tg_fit_spec sp;
                    tg_fit_spec_defaults(&sp);
                    sp.optimizer = opts[o];
                    sp.loss = losses[l];
                    sp.dtype = dts[d];
                    sp.lr = l == 2 ? 1e-4 : opts[o] == TG_OPT_ADAM ? 0.05 : 0.02;
                    sp.lr_decay = 0.01;
                    sp.batch = opts[o] == TG_OPT_SGD ? 16 : 0;
                    sp.steps = 150;
                    sp.seed = 5;
                    const char *names[] = {"w", "b"};
                    const double init[] = {0.2, 0.1};
                    sp.ninit = 2, sp.init_names = names, sp.init_values = init;
                    tg_fit_result *fused = fit(x, y, N, weighted ? w : NULL, &sp);
                    sp.autograd_only = true;
                    tg_fit_result *graph = fit(x, y, N, weighted ? w : NULL, &sp);
                    if (!fused || !graph) {
                        tg_fit_result_free(fused);
                        tg_fit_result_free(graph);
                        return;
                    }
                    double tol = dts[d] == TT_F32 ? 2e-5 : 1e-11;
                    CHECK(fused->steps == graph->steps && fused->stop == graph->stop);
                    CHECK(fused->nhistory == graph->nhistory);
                    for (int k = 0; k < 2; k++) REL(fused->values[k], graph->values[k], tol);
                    for (int64_t k = 0; k < fused->nhistory && k < graph->nhistory; k++)
                        REL(fused->history[k], graph->history[k], tol);
                    tg_fit_result_free(fused);
                    tg_fit_result_free(graph);
                }
}

/* tg_fit_check: the request alone, as tg_fit would refuse it, syntax first. */
/* chi-square's upper tail (gnuplot's FIT_P) and Student's t quantile
 * against scipy.stats. */
/* Parameters not in the init list start at 1, as gnuplot's and scipy's do:
 * one Newton iteration from 1 reaches a linear model's answer. */
TEST(expression_parameters_start_at_one)
{
    double x[4] = {0, 1, 2, 3}, y[4] = {1, 3, 5, 7.5};
    tg_fit_spec sp;
    tg_fit_spec_defaults(&sp);
    sp.model = "a*x + c";
    sp.optimizer = TG_OPT_GD, sp.lr = 1e-300, sp.steps = 1; /* a step that moves nothing */
    tg_fit_result *r = fit(x, y, 4, NULL, &sp);
    if (!r) return;
    CHECK(r->values[0] == 1 && r->values[1] == 1);
    tg_fit_result_free(r);
    const char *names[] = {"c"};
    double init[] = {-2};
    sp.ninit = 1, sp.init_names = names, sp.init_values = init;
    r = fit(x, y, 4, NULL, &sp);
    if (!r) return;
    CHECK(r->values[0] == 1 && r->values[1] == -2);
    tg_fit_result_free(r);
}

/* Several regressors: the line's coefficients are w_ and the column's name
 * as a shell name; an expression reads its data names as columns. */
TEST(several_regressors)
{
    const char *cols[] = {"time (s)", "z"};
    tg_model *m = NULL;
    CHECK(tg_model_new_with_data("line", 2, cols, &m) == TT_OK);
    if (!m) return;
    CHECK(tg_model_nparams(m) == 3 && tg_model_nx(m) == 2);
    CHECK_STR(tg_model_param(m, 0), "w_time__s_");
    CHECK_STR(tg_model_param(m, 1), "w_z");
    CHECK_STR(tg_model_param(m, 2), "b");
    double theta[3] = {2, -3, 1}, t[2] = {1, 2}, z[2] = {10, 20}, pred[2];
    const double *xs[2] = {t, z};
    CHECK(tg_model_predict_cols(m, theta, xs, 2, pred) == TT_OK && pred[0] == -27 && pred[1] == -55);
    tg_model_free(m);
    const char *xz[] = {"x", "z"};
    CHECK(tg_model_new_with_data("a*x + c*z + d", 2, xz, &m) == TT_OK);
    if (!m) return;
    CHECK(tg_model_nparams(m) == 3 && tg_model_param_index(m, "z") < 0 && tg_model_param_index(m, "d") == 2);
    tg_model_free(m);
    CHECK(tg_model_new_with_data("poly:2", 2, xz, &m) == TT_EUSAGE && !m);
    /* y = 2x - 3z + 1 exactly, x in a (N, 2) tensor with z */
    enum { n = 6 };
    double xv[n * 2], yv[n];
    for (int i = 0; i < n; i++) xv[2 * i] = i, xv[2 * i + 1] = (i * i) % 5, yv[i] = 2.0 * i - 3 * xv[2 * i + 1] + 1;
    tt_tensor *X = tt_from_data(2, (int64_t[]){n, 2}, TT_F64, xv, TT_CPU), *Y = vec(yv, n);
    tg_fit_spec sp;
    tg_fit_spec_defaults(&sp);
    sp.nx = 2, sp.x_names = xz;
    const tg_fit_method methods[] = {TG_METHOD_EXACT, TG_METHOD_DESCENT};
    for (int k = 0; k < 2; k++) {
        sp.method = methods[k];
        tg_fit_result *r = NULL;
        CHECK(tg_fit(X, Y, NULL, &sp, &r) == TT_OK);
        if (!r) continue;
        CHECK_NEAR(r->values[0], 2, 1e-12);
        CHECK_NEAR(r->values[1], -3, 1e-12);
        CHECK_NEAR(r->values[2], 1, 1e-12);
        CHECK(r->rank == 3 && r->dof == n - 3);
        tg_fit_result_free(r);
    }
    tg_fit_result *r = NULL;
    sp.nx = 3;
    CHECK(tg_fit(X, Y, NULL, &sp, &r) == TT_ESHAPE && strstr(tt_last_error(), "x must have shape (N, 3)"));
    tt_release(X);
    tt_release(Y);
}

TEST(distributions_against_scipy)
{
    for (size_t i = 0; i < sizeof chi2_cases / sizeof *chi2_cases; i++)
        REL(tg_chi2_sf(chi2_cases[i][0], chi2_cases[i][1]), chi2_cases[i][2], 1e-12);
    for (size_t i = 0; i < sizeof t_cases / sizeof *t_cases; i++)
        /* p = 0.999999 holds its tail 1 - p to 1e-10 only: the quantile cannot be closer */
        REL(tg_student_t_quantile(t_cases[i][0], t_cases[i][1]), t_cases[i][2], t_cases[i][0] > 0.9999 ? 1e-10 : 1e-12);
    CHECK(tg_chi2_sf(0, 3) == 1 && isnan(tg_chi2_sf(1, 0)));
    CHECK(isnan(tg_student_t_quantile(1, 3)) && fabs(tg_student_t_quantile(0.5, 3)) < 1e-15);
    REL(tg_student_t_quantile(0.025, 48), -t_cases[2][2], 1e-12);
}

TEST(check_before_data)
{
    tg_fit_spec sp;
    tg_fit_spec_defaults(&sp);
    CHECK(tg_fit_check(&sp) == TT_OK);
    CHECK(tg_fit_check(NULL) == TT_OK);
    sp.model = "a*x +";
    CHECK(tg_fit_check(&sp) == TT_ESYNTAX);
    CHECK(strstr(tt_last_error(), "model: syntax error at column 6") && strstr(tt_last_error(), "\n  a*x +\n"));
    sp.model = "a*x"; /* a starts at 1 */
    CHECK(tg_fit_check(&sp) == TT_OK);
    const char *names[] = {"a"};
    const double values[] = {2};
    sp.ninit = 1, sp.init_names = names, sp.init_values = values;
    CHECK(tg_fit_check(&sp) == TT_OK);
    sp.loss = "mean(abs(pred - y)";
    CHECK(tg_fit_check(&sp) == TT_ESYNTAX && strstr(tt_last_error(), "loss: syntax error"));
    sp.loss = "mean(hub(pred - y))";
    CHECK(tg_fit_check(&sp) == TT_ESYNTAX && strstr(tt_last_error(), "loss: unknown function 'hub' at column 6"));
    sp.loss = "msee";
    CHECK(tg_fit_check(&sp) == TT_EUSAGE && strstr(tt_last_error(), "unknown loss 'msee'"));
}

int main(void)
{
    tg_set_warning_handler(NULL, NULL);
    RUN(ols_line_exact_and_descent);
    RUN(ols_line_offset_1e8);
    RUN(tls_line);
    RUN(poly2_against_polyfit);
    RUN(weighted_line);
    RUN(seed000_sgd_batch8);
    RUN(seed001_gd_mse);
    RUN(seed002_orthogonal);
    RUN(seed003_loss_below);
    RUN(adam_and_momentum_reach_ols);
    RUN(callback_tol_epochs_decay);
    RUN(robust_losses);
    RUN(expression_model);
    RUN(levenberg_marquardt);
    RUN(singular_hessian_nan_stderrs);
    RUN(validation_errors);
    RUN(exact_poly_and_sse_default_line);
    RUN(fused_line_matches_autograd);
    RUN(expression_parameters_start_at_one);
    RUN(several_regressors);
    RUN(distributions_against_scipy);
    RUN(check_before_data);
    return DONE();
}
